#!/bin/sh
# etcdctl user/role/auth. etcq has no authentication yet: this scenario
# records what each command answers (see docs/compatibility.md). Auth is
# never enabled on etcd here (it would need root and credentials for the
# rest of the run); `auth enable` without a root user is refused by etcd.
. "$(dirname "$0")/lib.sh"

run user-list-empty ctl user list
run role-list-empty ctl role list
run auth-enable-no-root ctl auth enable
run user-add ctl user add alice:secret
run user-list ctl user list -w json
run role-add ctl role add reader
run role-grant ctl role grant-permission reader read a/ --prefix
run role-get ctl role get reader
run user-grant ctl user grant-role alice reader
run user-get ctl user get alice
run user-revoke ctl user revoke-role alice reader
run role-delete ctl role delete reader
run user-delete ctl user delete alice
run auth-disable ctl auth disable
run put-still-works ctl put au/a 1
run get-still-works ctl get au/a --print-value-only
