#!/bin/sh
# etcdctl lease grant/revoke/timetolive [--keys]/list/keep-alive --once, keys
# attached to leases, and a lease that expires.
. "$(dirname "$0")/lib.sh"

# Leases are numbered by the harness in the order they are declared.
run grant-100 ctl lease grant 100
L1=$(ctl lease list | sed -n 2p)
declare_id lease "$L1"
G=$(ctl lease grant 200 -w json)
note grant-200-json "$G"
L2=$(printf '%x' "$(echo "$G" | sed -E 's/.*"ID":([0-9]+).*/\1/')")
declare_id lease "$L2"
L3=$(ctl lease grant 300 | awk '{print $2}')
declare_id lease "$L3"
run put-lk1 ctl put lk1 v1 --lease="$L3"
run put-lk2 ctl put lk2 v2 --lease="$L3"
run get-lk1-json ctl get lk1 -w json
run ttl ctl lease timetolive "$L3"
run ttl-keys ctl lease timetolive "$L3" --keys
run ttl-keys-json ctl lease timetolive "$L3" --keys -w json
run ttl-fields ctl lease timetolive "$L1" -w fields
run ttl-no-keys-json ctl lease timetolive "$L1" -w json
run list ctl lease list
run list-json ctl lease list -w json
run keepalive-once ctl lease keep-alive --once "$L3"
run keepalive-once-json ctl lease keep-alive --once "$L2" -w json
run revoke ctl lease revoke "$L3"
run get-after-revoke ctl get lk --prefix -w json
run revoke-again ctl lease revoke "$L3"
run ttl-revoked ctl lease timetolive "$L3"
run ttl-revoked-json ctl lease timetolive "$L3" --keys -w json
run keepalive-revoked ctl lease keep-alive --once "$L3"
run put-revoked-lease ctl put lk3 v --lease="$L3"
run list-after-revoke ctl lease list
run revoke-unknown ctl lease revoke 1234abcd
run ttl-unknown ctl lease timetolive 1234abcd

# A short lease expires on its own and takes its key with it. etcd raises a
# TTL below its minimum (about 1.5 x election timeout) to that minimum.
L4=$(ctl lease grant 1 | awk '{print $2}')
declare_id lease "$L4"
run put-short ctl put short v --lease="$L4"
end=$(($(date +%s) + 20))
while [ -n "$(ctl get short --print-value-only)" ] && [ "$(date +%s)" -lt "$end" ]; do
    sleep 0.1
done
run get-short-after-expiry ctl get short -w json
run ttl-expired ctl lease timetolive "$L4"
run list-at-end ctl lease list -w json
