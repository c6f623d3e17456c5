#!/bin/sh
# etcdctl user/role/auth, then auth enabled: root and a limited user,
# unauthenticated and unpermitted requests refused with etcd's errors,
# permitted ones served (get/put/txn/watch in the user's range, denied
# outside), a password change, the gateway's /v3/auth/authenticate and
# Authorization header (curl), and auth disabled again by root at the end
# (each scenario gets its own server, but the scenario leaves it as found).
. "$(dirname "$0")/lib.sh"

run user-list-empty ctl user list
run role-list-empty ctl role list
run auth-enable-no-root ctl auth enable
run user-add ctl user add alice:secret
run user-add-again ctl user add alice:secret
run user-list ctl user list -w json
run role-add ctl role add reader
run role-add-again ctl role add reader
run role-grant ctl role grant-permission reader read a/ --prefix
run role-get ctl role get reader
run user-grant ctl user grant-role alice reader
run user-grant-no-role ctl user grant-role alice nosuch
run user-grant-no-user ctl user grant-role nosuch reader
run user-get ctl user get alice
run user-revoke ctl user revoke-role alice reader
run user-revoke-again ctl user revoke-role alice reader
run role-delete ctl role delete reader
run role-delete-again ctl role delete reader
run user-delete ctl user delete alice
run user-delete-again ctl user delete alice
run auth-disable ctl auth disable
run put-still-works ctl put au/a 1
run get-still-works ctl get au/a --print-value-only

# --- a limited user, then auth enabled ---
run root-add ctl user add root:rootpw
run bob-add ctl user add bob:bobpw
run rw-add ctl role add rw
run rw-grant-prefix ctl role grant-permission rw readwrite a/ --prefix
run rw-grant-key ctl role grant-permission rw read b
run rw-grant-from-key ctl role grant-permission rw write w --from-key
run rw-get ctl role get rw
run bob-grant ctl user grant-role bob rw
ctl put a/x 1 >/dev/null 2>&1
ctl put b 2 >/dev/null 2>&1
# etcdctl creates the root role and grants it to root when etcd says
# "root user does not have root role", then enables.
run auth-enable ctl auth enable
run root-role-get ctl --user root:rootpw role get root
run root-user-get ctl --user root:rootpw user get root

# Unauthenticated and bad credentials.
run get-no-user ctl get a/x
run put-no-user ctl put a/x 2
run get-wrong-password ctl --user bob:wrong get a/x
run get-unknown-user ctl --user nobody:x get a/x

# Permitted and denied, by range.
run bob-get-in-prefix ctl --user bob:bobpw get a/x --print-value-only
run bob-get-prefix ctl --user bob:bobpw get a/ --prefix --keys-only
run bob-get-key ctl --user bob:bobpw get b --print-value-only
run bob-get-outside ctl --user bob:bobpw get a
run bob-get-from-key-denied ctl --user bob:bobpw get "" --from-key
run bob-put-in-prefix ctl --user bob:bobpw put a/y 3
run bob-put-read-only-key ctl --user bob:bobpw put b 3
run bob-put-from-key ctl --user bob:bobpw put wz 3
run bob-put-outside ctl --user bob:bobpw put c 3
run bob-del-in-prefix ctl --user bob:bobpw del a/y
run bob-del-prefix-wider ctl --user bob:bobpw del a --prefix
runin bob-txn-ok 'value("a/x") = "1"

put a/t 1

get b

' ctl --user bob:bobpw txn
runin bob-txn-denied-compare 'value("c") = "1"

put a/t 1

put a/t 2

' ctl --user bob:bobpw txn
runin bob-txn-denied-op 'value("a/x") = "1"

put a/t 1

put c 2

' ctl --user bob:bobpw txn
watch_lines bob-watch-in-prefix 3 --user bob:bobpw watch a/x --rev 1
watch_lines bob-watch-denied 2 --user bob:bobpw watch c
watch_lines watch-no-user 2 watch a/x

# Admin-only requests.
run bob-user-list ctl --user bob:bobpw user list
run bob-user-get-self ctl --user bob:bobpw user get bob
run bob-user-get-root ctl --user bob:bobpw user get root
run bob-role-get-own ctl --user bob:bobpw role get rw
run bob-role-get-root ctl --user bob:bobpw role get root
run bob-user-add ctl --user bob:bobpw user add eve:x
run bob-auth-disable ctl --user bob:bobpw auth disable
run bob-hashkv ctl --user bob:bobpw endpoint hashkv
run root-user-list ctl --user root:rootpw user list
run root-revoke-root-role ctl --user root:rootpw user revoke-role root root
run root-delete-root ctl --user root:rootpw user delete root
run root-get-anything ctl --user root:rootpw get "" --from-key --keys-only

# The gateway: Authenticate, then the token in the Authorization header.
echo "### curl-authenticate"
T=$(curl -s -X POST "http://$EP/v3/auth/authenticate" -d '{"name":"bob","password":"bobpw"}' |
    sed -E 's/.*"token":"([^"]*)".*/\1/')
echo "$T" | sed -E 's/^[A-Za-z]{16}\.[0-9]+$/<simple token>/'
echo "### curl-authenticate-wrong"
curl -s -X POST "http://$EP/v3/auth/authenticate" -d '{"name":"bob","password":"x"}'
echo
# Keys in base64: "a/x" is YS94, "c" is Yw==.
echo "### curl-range-with-token"
curl -s -X POST "http://$EP/v3/kv/range" -H "Authorization: $T" -d '{"key":"YS94"}'
echo
echo "### curl-range-denied"
curl -s -X POST "http://$EP/v3/kv/range" -H "Authorization: $T" -d '{"key":"Yw=="}'
echo
echo "### curl-range-no-token"
curl -s -X POST "http://$EP/v3/kv/range" -d '{"key":"YS94"}'
echo
echo "### curl-range-bad-token"
curl -s -X POST "http://$EP/v3/kv/range" -H "Authorization: abcdefghijklmnop.1" -d '{"key":"YS94"}'
echo

# A password change: the old password and the old token stop working.
runin root-passwd 'newpw
' ctl --user root:rootpw user passwd bob --interactive=false
run bob-old-password ctl --user bob:bobpw get a/x
run bob-new-password ctl --user bob:newpw get a/x --print-value-only
echo "### curl-old-token"
curl -s -X POST "http://$EP/v3/kv/range" -H "Authorization: $T" -d '{"key":"YS94"}'
echo

# A user without a password cannot authenticate with one.
run root-add-no-password ctl --user root:rootpw user add carol --no-password
run carol-get ctl --user carol:x get a/x

# Root disables auth; everything is open again.
run root-auth-disable ctl --user root:rootpw auth disable
run get-after-disable ctl get a/x --print-value-only
run users-after-disable ctl user list
