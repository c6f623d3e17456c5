#!/bin/sh
# etcdctl put/get/del and their flags on a fresh store (revision 1).
. "$(dirname "$0")/lib.sh"

run put-a ctl put k/a va
run put-b ctl put k/b vb
run put-c ctl put k/c vc
run put-d ctl put k/d vd
run put-e ctl put k/e ve
run put-other ctl put other x
run get-one ctl get k/a
run get-one-json ctl get k/a -w json
run get-one-fields ctl get k/a -w fields
run get-one-hex ctl get k/a --hex
run get-one-table ctl get k/a -w table
run get-missing ctl get nosuch
run get-missing-json ctl get nosuch -w json
run get-serializable ctl get k/a --consistency=s
run get-url-endpoint ctl_url get k/a
run get-range ctl get k/a k/c
run get-prefix ctl get k/ --prefix
run get-prefix-json ctl get k/ --prefix -w json
run get-limit ctl get k/ --prefix --limit 2
run get-limit-json ctl get k/ --prefix --limit 2 -w json
run get-from-key ctl get k/c --from-key
run get-from-key-keys ctl get k/c --from-key --keys-only
run get-all-keys ctl get "" --from-key --keys-only
run get-keys-only-json ctl get k/ --prefix --keys-only -w json
run get-print-value-only ctl get k/ --prefix --print-value-only
run get-sort-key-desc ctl get k/ --prefix --sort-by=KEY --order=DESCEND
run get-sort-value-asc ctl get k/ --prefix --sort-by=VALUE --order=ASCEND
run get-sort-create-desc ctl get k/ --prefix --sort-by=CREATE --order=DESCEND --limit 3
run get-sort-version ctl get k/ --prefix --sort-by=VERSION
run get-order-only ctl get k/ --prefix --order=DESCEND
run put-a-again ctl put k/a va2 --prev-kv
run put-a-again-json ctl put k/a va3 --prev-kv -w json
run get-a-version ctl get k/a -w json
run get-sort-modify-desc ctl get k/ --prefix --sort-by=MODIFY --order=DESCEND --keys-only
run get-rev-2 ctl get k/a --rev 2
run get-rev-8 ctl get k/a --rev 8 -w json
run get-rev-prefix ctl get k/ --prefix --rev 4 --keys-only
run get-rev-future ctl get k/a --rev 1000
runin put-stdin "from stdin" ctl put k/stdin
run get-stdin ctl get k/stdin --print-value-only
run put-ignore-value ctl put k/b --ignore-value
run get-ignore-value ctl get k/b -w json
run put-ignore-value-missing ctl put k/nosuch --ignore-value
run put-ignore-value-extra ctl put k/b x --ignore-value
LEASE=$(ctl lease grant 600 | awk '{print $2}')
declare_id lease "$LEASE"
note lease-id-is-hex "$(echo "$LEASE" | grep -Eqx '[0-9a-f]+' && echo yes || echo no)"
run put-with-lease ctl put k/leased lv --lease="$LEASE"
run get-leased-fields ctl get k/leased -w fields
run put-ignore-lease ctl put k/leased lv2 --ignore-lease
run get-leased-after-ignore ctl get k/leased -w fields
run put-bad-lease ctl put k/bad v --lease=1234abcd
run put-empty-key ctl put "" v
run put-binary ctl put k/bin "$(printf 'a\tb c')"
run get-binary-hex ctl get k/bin --hex --print-value-only
run del-one ctl del k/a
run del-one-missing ctl del k/a
run del-prev-kv ctl del k/b --prev-kv
run del-prev-kv-json ctl del k/c --prev-kv -w json
run del-range ctl del k/d k/e
run del-prefix-json ctl del k/ --prefix -w json
run get-after-del ctl get k/ --prefix
run del-from-key ctl del "" --from-key
run get-nothing-left ctl get "" --from-key -w json
run get-deleted-at-rev ctl get k/a --rev 3 --print-value-only
