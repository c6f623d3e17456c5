#!/bin/sh
# etcdctl lock (with a command, and contended) and elect (a campaign in the
# background, observed with `elect -l`, leadership passing on when the
# leader exits). Lock and election keys end in the session's lease ID in
# hex; the script declares those IDs, in creation order, to the harness.
. "$(dirname "$0")/lib.sh"

declare_keys() {
    for k in $(ctl get "$1" --prefix --keys-only --sort-by=CREATE); do
        declare_id lease "${k##*/}"
    done
}

# Lock with a command: the command runs while the lock is held.
run lock-cmd ctl lock lk1 -- sh -c 'echo "holding lk1"; exit 0'
run lock-cmd-exit-code ctl lock lk1 -- sh -c 'exit 3'
run lock-released ctl get lk1/ --prefix --keys-only -w json

# Contention: A holds the lock until told to stop; B queues behind it.
flag="$(mktemp -d)"
outa="$flag/a"
outb="$flag/b"
ctl_bg "$outa" lock lk2 -- sh -c "echo A-holds; while [ ! -e '$flag/release' ]; do sleep 0.02; done; echo A-done"
pa=$BG
note a-acquired "$(wait_lines "$outa" 1)"
ctl_bg "$outb" lock lk2 -- sh -c 'echo B-holds'
pb=$BG
end=$(($(date +%s) + 10))
while [ "$(ctl get lk2/ --prefix --keys-only | grep -c .)" -lt 2 ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.02; done
declare_keys lk2/
run lock-waiters ctl get lk2/ --prefix --sort-by=CREATE -w json
note b-waits-while-a-holds "$(cat "$outb")"
touch "$flag/release"
note a-finished "$(wait_lines "$outa" 2)"
note b-acquired "$(wait_lines "$outb" 1)"
wait "$pa"
note a-exit "rc=$?"
wait "$pb"
note b-exit "rc=$?"
note lock-output-a "$(cat "$outa")"
note lock-output-b "$(cat "$outb")"
run lock-keys-after ctl get lk2/ --prefix --keys-only -w json

# Lock held without a command prints the lock key and holds it until
# interrupted (SIGINT: etcdctl then closes its session, revoking the lease;
# on SIGTERM it exits without revoking).
ctl_bg "$flag/c" lock lk3
pc=$BG
note c-acquired "$(wait_lines "$flag/c" 1)"
declare_keys lk3/
note lock-key-printed "$(cat "$flag/c")"
stop_bg "$pc"
end=$(($(date +%s) + 10))
while [ -n "$(ctl get lk3/ --prefix --keys-only)" ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.02; done
run lock-key-gone-after-kill ctl get lk3/ --prefix -w json

# Election: p1 campaigns and wins, p2 queues; an observer follows.
ctl_bg "$flag/p1" elect el p1
p1=$BG
note p1-elected "$(wait_lines "$flag/p1" 2)"
ctl_bg "$flag/p2" elect el p2
p2=$BG
end=$(($(date +%s) + 10))
while [ "$(ctl get el/ --prefix --keys-only | grep -c .)" -lt 2 ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.02; done
declare_keys el/
run election-keys ctl get el/ --prefix --sort-by=CREATE -w json
ctl_bg "$flag/obs" elect -l el
obs=$BG
note observer-saw-p1 "$(wait_lines "$flag/obs" 2)"
note p2-waiting "$(cat "$flag/p2")"
stop_bg "$p1"
note p2-elected "$(wait_lines "$flag/p2" 2)"
note observer-saw-p2 "$(wait_lines "$flag/obs" 4)"
stop_bg "$obs"
stop_bg "$p2"
note elect-output-p1 "$(cat "$flag/p1")"
note elect-output-p2 "$(cat "$flag/p2")"
note observer-output "$(cat "$flag/obs")"
end=$(($(date +%s) + 10))
while [ -n "$(ctl get el/ --prefix --keys-only)" ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.02; done
run election-empty-at-end ctl get el/ --prefix -w json
run elect-no-proposal ctl elect el
rm -rf "$flag"
