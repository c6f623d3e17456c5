# Shared helpers for the etcdctl scenario scripts. Each script is run as
#   sh <script> <host:port>
# and prints sections: a "### <label>" line, the command's stdout+stderr, and
# "rc=<exit code>". The Rust harness (tests/compat/harness.rs) splits the
# output on the labels, normalizes each section and compares etcd's with
# etcq's. Every command is bounded by `timeout`.

EP="$1"
if [ -z "$EP" ]; then
    echo "usage: $0 <host:port>" >&2
    exit 2
fi
export ETCDCTL_API=3
# etcdctl is normally /usr/bin/etcdctl (Debian's etcd-client 3.4.23).
ETCDCTL="${ETCDCTL:-etcdctl}"

ctl() {
    timeout 15 "$ETCDCTL" --endpoints "$EP" --dial-timeout 3s --command-timeout 5s "$@"
}

# ctl_url: etcdctl with the endpoint written as a URL (http://host:port), as
# etcd's docs and most deployments write it; `--cluster` commands use the
# members' client URLs the same way.
ctl_url() {
    timeout 15 "$ETCDCTL" --endpoints "http://$EP" --dial-timeout 3s --command-timeout 5s "$@"
}

# run <label> <command...>: one section.
run() {
    label="$1"
    shift
    echo "### $label"
    "$@" 2>&1
    echo "rc=$?"
}

# runin <label> <stdin text> <command...>: one section, text on stdin.
runin() {
    label="$1"
    text="$2"
    shift 2
    echo "### $label"
    printf '%s' "$text" | "$@" 2>&1
    echo "rc=$?"
}

# note <label> <text>: a section holding text computed by the script itself.
note() {
    echo "### $1"
    echo "$2"
}

# wait_for <seconds> <command...>: polls until the command succeeds.
wait_for() {
    limit="$1"
    shift
    end=$(($(date +%s) + limit))
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$end" ]; then
            return 1
        fi
        sleep 0.05
    done
}

# declare_id <kind> <hex id>: tells the harness's normalizer that this ID
# (printed in hex or decimal anywhere in the output) is a server-chosen ID
# of that kind, replaced by a numbered placeholder before comparing.
declare_id() {
    echo "@@id $1 $2"
}

# ctl_bg <outfile> <etcdctl args...>: starts etcdctl in the background with
# its output in <outfile>; its pid is in $BG. (Not through `ctl`: a function
# in the background is a subshell, and signals to it would not reach
# etcdctl.) `timeout` passes the signal of stop_bg on to etcdctl.
ctl_bg() {
    bg_out="$1"
    shift
    : >"$bg_out"
    timeout 30 "$ETCDCTL" --endpoints "$EP" --dial-timeout 3s --command-timeout 5s "$@" >"$bg_out" 2>&1 &
    BG=$!
}

# stop_bg <pid>: SIGINT (etcdctl then closes its session and revokes its
# lease, as on Ctrl-C) and waits for it.
stop_bg() {
    kill -INT "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# watch_lines <label> <lines> <etcdctl args...>: runs a long-lived etcdctl
# (a watch) in the background, polls its output until it has <lines> lines
# or 10 s pass, then stops it and prints what it wrote. A deadline hit shows
# as "watch-deadline" in the section, an early exit as "exited".
watch_lines() {
    label="$1"
    want="$2"
    shift 2
    out="$(mktemp)"
    ctl_bg "$out" "$@"
    pid=$BG
    end=$(($(date +%s) + 10))
    status=ok
    while [ "$(lines_in "$out")" -lt "$want" ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            # It may have written its last lines just before exiting.
            if [ "$(lines_in "$out")" -lt "$want" ]; then
                status=exited
            fi
            break
        fi
        if [ "$(date +%s)" -ge "$end" ]; then
            status=watch-deadline
            break
        fi
        sleep 0.02
    done
    stop_bg "$pid"
    echo "### $label"
    cat "$out"
    echo "$status"
    rm -f "$out"
}

# rev: the store's current revision, read through etcdctl's JSON output.
rev() {
    ctl get rev-probe -w json | sed -E 's/.*"revision":([0-9]+).*/\1/'
}

# wait_lines <file> <lines>: polls until the file has that many lines (10 s
# deadline); prints "ok" or "watch-deadline".
lines_in() {
    n=$(wc -l <"$1" 2>/dev/null) || n=0
    echo "${n:-0}"
}

wait_lines() {
    end=$(($(date +%s) + 10))
    while [ "$(lines_in "$1")" -lt "$2" ]; do
        if [ "$(date +%s)" -ge "$end" ]; then
            echo watch-deadline
            return 1
        fi
        sleep 0.02
    done
    echo ok
}
