#!/bin/sh
# etcdctl txn, non-interactive: compares, success ops and failure ops are read
# from stdin, each block ended by an empty line (as `etcdctl txn` without -i
# accepts them).
. "$(dirname "$0")/lib.sh"

run put-a ctl put t/a 1
run put-b ctl put t/b 0
runin txn-value-eq-success 'value("t/a") = "1"

put t/b ok
get t/a

put t/b fail

' ctl txn
run get-b-after-success ctl get t/b --print-value-only
runin txn-value-eq-failure 'value("t/a") = "2"

put t/b ok

get t/a
get t/ --prefix
put t/b failed

' ctl txn
run get-b-after-failure ctl get t/b --print-value-only
runin txn-multi-compare-json 'mod("t/a") > "0"
version("t/a") = "1"
create("t/a") != "0"

put t/c 3
del t/b

get t/a

' ctl txn -w json
runin txn-fields 'value("t/a") > "0"

get t/a

get t/b

' ctl txn -w fields
runin txn-mod-lt 'mod("t/a") < "3"

put t/d ok-mod

put t/d bad-mod

' ctl txn
runin txn-version-gt-json 'version("t/c") > "5"

put t/e yes

get t/c
put t/e no

' ctl txn -w json
run get-e ctl get t/e --print-value-only
runin txn-create-eq 'create("t/nosuch") = "0"

put t/created-if-absent 1


' ctl txn
runin txn-create-eq-again 'create("t/created-if-absent") = "0"

put t/created-if-absent 2

get t/created-if-absent

' ctl txn
runin txn-no-compare '
put t/f 1
put t/g 2


' ctl txn -w json
runin txn-range-ops 'value("t/a") = "1"

get t/ --prefix --keys-only
get t/a t/d
del t/f t/h


' ctl txn
runin txn-del-prefix-prevkv 'value("t/a") = "1"

del t/g --prev-kv


' ctl txn -w json
runin txn-put-prev-kv 'value("t/a") = "1"

put t/a 10 --prev-kv


' ctl txn -w json
runin txn-duplicate-put '
put t/z 1
put t/z 2


' ctl txn
runin txn-malformed-compare 'xxx

' ctl txn
runin txn-table 'value("t/a") > "0"

get t/a


' ctl txn -w table
run get-all ctl get t/ --prefix -w json
