#!/bin/sh
# etcdctl member list in every output format, endpoint status --cluster, and
# membership changes (a learner added, updated, refused promotion, removed).
. "$(dirname "$0")/lib.sh"

run member-list ctl member list
run member-list-json ctl member list -w json
run member-list-table ctl member list -w table
run member-list-fields ctl member list -w fields
run endpoint-status-cluster ctl endpoint status --cluster -w table
run endpoint-health-cluster-json ctl endpoint health --cluster -w json
run member-add-learner ctl member add n2 --peer-urls=http://127.0.0.1:1 --learner
run member-list-with-learner ctl member list
NEW=$(ctl member list | grep unstarted | cut -d, -f1)
run member-promote-unsynced ctl member promote "$NEW"
run member-update ctl member update "$NEW" --peer-urls=http://127.0.0.1:2
run member-remove ctl member remove "$NEW"
run member-remove-again ctl member remove "$NEW"
run member-list-after ctl member list
run put-after ctl put c/a 1
run get-after ctl get c/a --print-value-only
