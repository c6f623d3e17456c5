#!/bin/sh
# etcdctl endpoint health/status/hashkv (also --cluster), alarm list/disarm,
# defrag, snapshot save/status, move-leader. (`check perf` and `check
# datascale` are load generators, too slow for CI: not run.)
. "$(dirname "$0")/lib.sh"

run put-a ctl put m/a 1
run put-b ctl put m/b 2
run health ctl endpoint health
run health-json ctl endpoint health -w json
run health-table ctl endpoint health -w table
run health-cluster ctl endpoint health --cluster
run status ctl endpoint status
run status-json ctl endpoint status -w json
run status-table ctl endpoint status -w table
run status-fields ctl endpoint status -w fields
run status-cluster-json ctl endpoint status --cluster -w json
run status-url-endpoint ctl_url endpoint status -w json
run hashkv ctl endpoint hashkv
run hashkv-json ctl endpoint hashkv -w json
run hashkv-cluster-table ctl endpoint hashkv --cluster -w table
run hashkv-rev ctl endpoint hashkv --rev 2 -w json
# HashKV of the same store state twice: the hash must not change.
H1=$(ctl endpoint hashkv -w json | sed -E 's/.*"hash":([0-9]+).*/\1/')
H2=$(ctl endpoint hashkv -w json | sed -E 's/.*"hash":([0-9]+).*/\1/')
note hashkv-stable "$([ -n "$H1" ] && [ "$H1" = "$H2" ] && echo stable || echo "changed: $H1 $H2")"
run put-c ctl put m/c 3
H3=$(ctl endpoint hashkv -w json | sed -E 's/.*"hash":([0-9]+).*/\1/')
note hashkv-changes-on-write "$([ "$H1" != "$H3" ] && echo changed || echo "unchanged: $H1")"
run alarm-list ctl alarm list
run alarm-list-json ctl alarm list -w json
run alarm-disarm ctl alarm disarm
run alarm-disarm-json ctl alarm disarm -w json
run defrag ctl defrag
run defrag-cluster ctl defrag --cluster
run get-after-defrag ctl get m/ --prefix
# Saved in the working directory (a temp dir of the harness), so the logged
# path is the same on both sides.
snap=snap.db
run snapshot-save ctl snapshot save "$snap"
note snapshot-file-nonempty "$([ -s "$snap" ] && echo yes || echo no)"
run snapshot-status-json ctl snapshot status "$snap" -w json
run snapshot-status-table ctl snapshot status "$snap" -w table
rm -f "$snap"
ID=$(ctl member list | cut -d, -f1)
run move-leader-self ctl move-leader "$ID"
run move-leader-unknown ctl move-leader 1234
run status-after-move ctl endpoint status -w json
run put-after-maintenance ctl put m/d 4
run get-after-maintenance ctl get m/ --prefix -w json
