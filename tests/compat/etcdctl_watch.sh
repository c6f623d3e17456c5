#!/bin/sh
# etcdctl watch: history replay from --rev, --prefix, ranges, --prev-kv, the
# output formats, a command run per event, and watches on compacted
# revisions. Live watches start at the next revision (--rev), so they see
# the same events however fast they start.
. "$(dirname "$0")/lib.sh"

run put-a1 ctl put w/a 1
run put-b2 ctl put w/b 2
run put-a3 ctl put w/a 3
run del-b ctl del w/b
run put-other ctl put x/other o
note revision-after-writes "$(rev)"
watch_lines watch-prefix-history 12 watch w/ --prefix --rev 2
watch_lines watch-key-history 6 watch w/a --rev 2
watch_lines watch-range-history 12 watch w/a w/c --rev 2
watch_lines watch-prev-kv 16 watch w/ --prefix --rev 2 --prev-kv
watch_lines watch-json 1 watch w/a --rev 2 -w json
watch_lines watch-prefix-json 1 watch w/ --prefix --rev 2 --prev-kv -w json
watch_lines watch-fields 18 watch w/ --prefix --rev 4 -w fields
watch_lines watch-exec 16 watch w/ --prefix --rev 2 -- sh -c 'echo "event $ETCD_WATCH_EVENT_TYPE key=$ETCD_WATCH_KEY value=$ETCD_WATCH_VALUE rev=$ETCD_WATCH_REVISION"'

# A live watch: started at the next revision, then written to; each write
# waits for the previous event to be printed, so every event comes in a
# response of its own, as it would for a watcher that is keeping up.
next=$(($(rev) + 1))
out="$(mktemp)"
ctl_bg "$out" watch live/ --prefix --rev "$next"
live=$BG
run live-put-1 ctl put live/1 one
note live-saw-1 "$(wait_lines "$out" 3)"
run live-put-2 ctl put live/2 two
note live-saw-2 "$(wait_lines "$out" 6)"
run live-del-1 ctl del live/1
note live-saw-3 "$(wait_lines "$out" 9)"
stop_bg "$live"
note watch-live "$(cat "$out")"
rm -f "$out"

# A live watch of one key running a command for each event: etcdctl prints
# the event, then runs the command with ETCD_WATCH_* set.
next=$(($(rev) + 1))
out="$(mktemp)"
ctl_bg "$out" watch live/cmd --rev "$next" -- sh -c 'echo "cmd saw $ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY=$ETCD_WATCH_VALUE rev=$ETCD_WATCH_REVISION"'
live=$BG
run live-cmd-put ctl put live/cmd hello
note live-cmd-saw-1 "$(wait_lines "$out" 4)"
run live-cmd-put2 ctl put live/cmd world
note live-cmd-saw-2 "$(wait_lines "$out" 8)"
stop_bg "$live"
note watch-live-cmd "$(cat "$out")"
rm -f "$out"

# Compaction, then watches and reads below the compacted revision.
run compact-4 ctl compaction 4
run compact-4-again ctl compaction 4
run compact-future ctl compaction 1000
run compact-physical-5 ctl compaction --physical 5
run get-compacted-rev ctl get w/a --rev 3
run get-at-compact-rev ctl get w/a --rev 5 -w json
watch_lines watch-compacted 3 watch w/ --prefix --rev 2
watch_lines watch-compacted-json 3 watch w/ --prefix --rev 2 -w json
run put-after-compact ctl put w/a 5
watch_lines watch-from-compact-rev 3 watch w/ --prefix --rev 5
