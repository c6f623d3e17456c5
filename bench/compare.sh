#!/usr/bin/env bash
# Side-by-side benchmark of etcq and etcd 3.4 on this machine (docs/benchmarks.md).
#
# Starts a single-node etcd (Debian's etcd-server, installed if missing; fsync
# on; data in a temp dir; client URL http://127.0.0.1:23790), runs the standard
# rows against it with etcq-bench --target etcd-grpc, stops it; then starts etcq
# (release build, data in a temp dir, etcq/1 on UDP 127.0.0.1:2379), runs the
# same rows with --target etcq, stops it; then the same rows once more through
# etcq's etcd gRPC front (--target etcd-grpc at etcq's port, a fresh etcq);
# prints a markdown table with ratios.
# The servers run one after the other so neither steals CPU from the other.
#
# Usage: bench/compare.sh [--etcd-only | --etcq-only]
# Environment: PUT1_TOTAL (default 2000), PUT_TOTAL (100000), RANGE_TOTAL
# (100000), ETCD_PORT (23790), ETCD_PEER_PORT (23800), ETCQ_ENDPOINT
# (127.0.0.1:2379), ETCQ_FLAGS (default "--cores 1", see below),
# CARGO_TARGET_DIR, KEEP_WORK=1 (keep logs and data).
#
# etcq runs on one core here: the load generator runs on the same machine
# and needs CPU too. On the 2-core VM a second executor only moved requests
# between cores (the cross-core hop cost ~4-5 us of server CPU per put and a
# vCPU wake-up per request at low load) while taking CPU from the load
# generator (docs/benchmarks.md, "2026-12-02"). etcd keeps its default
# (GOMAXPROCS = all cores), so etcq gets fewer cores, never more.
# ETCQ_FLAGS="" runs etcq with its own default (all cores).
# Busy ports are refused (never measure someone else's server): pick others
# with ETCD_PORT/ETCD_PEER_PORT/ETCQ_ENDPOINT.

set -euo pipefail

MODE=both
case "${1:-}" in
  --etcd-only) MODE=etcd ;;
  --etcq-only) MODE=etcq ;;
  "") ;;
  *) echo "usage: $0 [--etcd-only | --etcq-only]" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PUT1_TOTAL=${PUT1_TOTAL:-2000}
PUT_TOTAL=${PUT_TOTAL:-100000}
RANGE_TOTAL=${RANGE_TOTAL:-100000}
ETCD_PORT=${ETCD_PORT:-23790}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-23800}
ETCQ_ENDPOINT=${ETCQ_ENDPOINT:-127.0.0.1:2379}
READY_TIMEOUT_SECS=60
ETCQ_FLAGS=${ETCQ_FLAGS---cores 1}

WORK=$(mktemp -d /tmp/etcq-compare.XXXXXX)
# The etcq server publishes its CA here and the bench trusts it from here,
# leaving the user's own trust directory alone.
export ETCQ_TRUST_DIR="$WORK/trust"
SERVER_PID=""

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

cleanup() {
  stop_server
  if [[ "${KEEP_WORK:-0}" == 1 ]]; then
    echo "kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

# tcp_port_busy PORT: something listens on 127.0.0.1:PORT (TCP).
tcp_port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# udp_port_busy PORT: a socket is bound to UDP PORT (needs ss; else "free").
udp_port_busy() {
  command -v ss >/dev/null && ss -lunH "sport = :$1" | grep -q .
}

# Another etcd on our ports would silently be measured instead of ours:
# refuse busy ports rather than trust whoever answers.
check_ports_free() {
  local port
  for port in "$@"; do
    if tcp_port_busy "$port"; then
      echo "127.0.0.1:$port is already in use (another etcd?); set ETCD_PORT/ETCD_PEER_PORT" >&2
      exit 1
    fi
  done
}

# Peak resident set size of the running server, in MiB.
server_peak_rss_mib() {
  awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo "?"
}

# ---------------------------------------------------------------- build

echo "building (release)..." >&2
packages=(-p etcq-bench)
[[ "$MODE" != etcd ]] && packages+=(-p etcq)
cargo build --release --manifest-path "$ROOT/Cargo.toml" "${packages[@]}" >&2
BENCH="$TARGET_DIR/release/etcq-bench"

# ---------------------------------------------------------------- rows

# The range rows read a key written once with a 256-byte value, as in etcd's
# performance doc (not the put rows' key, whose long history would make the
# read rows measure history depth too). 9-byte key: 9 zeros.
RANGE_KEY=000000000
RANGE_KEY_SETUP="--clients 1 --conns 1 put --key-size 9 --val-size 256 --total 1"

# name|etcq-bench arguments after the target flags
ROWS=(
  "put, 1 client|--clients 1 --conns 1 put --key-size 8 --sequential-keys --val-size 256 --total $PUT1_TOTAL"
  "put, 256 clients / 16 conns|--clients 256 --conns 16 put --key-size 8 --sequential-keys --val-size 256 --total $PUT_TOTAL"
  "range serializable, 256 clients / 16 conns|--clients 256 --conns 16 range $RANGE_KEY --consistency s --total $RANGE_TOTAL"
  "range linearizable, 256 clients / 16 conns|--clients 256 --conns 16 range $RANGE_KEY --consistency l --total $RANGE_TOTAL"
)


# server_alive TARGET: our server process still runs (else show its log).
server_alive() {
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "$1 server exited; its log:" >&2
    tail -n 30 "$WORK/$1.log" >&2 || true
    return 1
  fi
}

# wait_ready TARGET ENDPOINT: until one range request succeeds, from the
# server we started (checked alive before and after).
wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT_SECS))
  sleep 0.5
  server_alive "$1"
  until "$BENCH" --target "$1" --endpoints "$2" --json --request-timeout-secs 2 \
      range probe --total 1 >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      echo "$1 at $2 not ready after ${READY_TIMEOUT_SECS}s" >&2
      return 1
    fi
    server_alive "$1"
    sleep 0.5
  done
  server_alive "$1"
}

# run_rows TARGET ENDPOINT [LABEL]: one JSON line per row into $WORK/LABEL.jsonl
# (LABEL defaults to TARGET).
run_rows() {
  local target=$1 endpoint=$2 label=${3:-$1} row name args
  : >"$WORK/$label.jsonl"
  # shellcheck disable=SC2086 # words on purpose
  "$BENCH" --target "$target" --endpoints "$endpoint" --json $RANGE_KEY_SETUP >/dev/null 2>&1 || {
    echo "writing the range key failed" >&2
    return 1
  }
  for row in "${ROWS[@]}"; do
    name=${row%%|*}
    args=${row#*|}
    echo "== $label: $name" >&2
    # shellcheck disable=SC2086 # args are words on purpose
    "$BENCH" --target "$target" --endpoints "$endpoint" --json $args \
      >>"$WORK/$label.jsonl" 2>"$WORK/$label.last-run.txt" || {
      echo "row failed; its output:" >&2
      cat "$WORK/$label.last-run.txt" >&2
      echo '{}' >>"$WORK/$label.jsonl"
    }
    tail -n 1 "$WORK/$label.jsonl" >&2
  done
}

ETCD_RSS="-"
ETCQ_RSS="-"

if [[ "$MODE" != etcq ]]; then
  if ! command -v etcd >/dev/null; then
    echo "installing etcd-server..." >&2
    apt-get install -y etcd-server >&2 || { apt-get update >&2 && apt-get install -y etcd-server >&2; }
  fi
  etcd --version | sed -n 1p >&2
  check_ports_free "$ETCD_PORT" "$ETCD_PEER_PORT"
  etcd --name bench --data-dir "$WORK/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "bench=http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster-state new --logger zap --log-level warn \
    >"$WORK/etcd-grpc.log" 2>&1 &
  SERVER_PID=$!
  wait_ready etcd-grpc "127.0.0.1:$ETCD_PORT"
  run_rows etcd-grpc "127.0.0.1:$ETCD_PORT"
  ETCD_RSS=$(server_peak_rss_mib)
  stop_server
fi

if [[ "$MODE" != etcd ]]; then
  if udp_port_busy "${ETCQ_ENDPOINT##*:}"; then
    echo "UDP $ETCQ_ENDPOINT is already in use (another etcq?); set ETCQ_ENDPOINT" >&2
    exit 1
  fi
  # shellcheck disable=SC2086 # ETCQ_FLAGS are words on purpose
  "$TARGET_DIR/release/etcq" $ETCQ_FLAGS --data-dir "$WORK/etcq-data" \
    --listen-client-addr "$ETCQ_ENDPOINT" >"$WORK/etcq.log" 2>&1 &
  SERVER_PID=$!
  wait_ready etcq "$ETCQ_ENDPOINT"
  run_rows etcq "$ETCQ_ENDPOINT"
  ETCQ_RSS=$(server_peak_rss_mib)
  stop_server
  # The same rows through etcq's etcd-compatible gRPC front (TCP, same port
  # number), on a fresh store, driven by the very client that drives etcd.
  # shellcheck disable=SC2086 # ETCQ_FLAGS are words on purpose
  "$TARGET_DIR/release/etcq" $ETCQ_FLAGS --data-dir "$WORK/etcq-grpc-data" \
    --listen-client-addr "$ETCQ_ENDPOINT" >"$WORK/etcq-grpc.log" 2>&1 &
  SERVER_PID=$!
  wait_ready etcd-grpc "$ETCQ_ENDPOINT"
  run_rows etcd-grpc "$ETCQ_ENDPOINT" etcq-grpc
  stop_server
fi

# ---------------------------------------------------------------- table

# field FILE LINE_NO KEY: a number from the flat JSON line, or "-".
field() {
  sed -n "${2}p" "$1" 2>/dev/null | grep -o "\"$3\":[0-9.eE+-]*" | cut -d: -f2 | grep . || echo "-"
}

ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "-" || b == "-" || b + 0 == 0) { print "-" } else { printf "%.2f", a / b } }'
}

echo
echo "| workload | etcd req/s | etcq req/s (etcq/1) | etcq/etcd | etcq req/s (gRPC) | etcq gRPC/etcd | etcd p50 ms | etcq p50 ms | etcq/etcd p50 | etcq gRPC p50 ms | etcd p99 ms | etcq p99 ms | etcq gRPC p99 ms | errors etcd/etcq/gRPC |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
line=0
for row in "${ROWS[@]}"; do
  line=$((line + 1))
  name=${row%%|*}
  e_rps=$(field "$WORK/etcd-grpc.jsonl" $line rps)
  q_rps=$(field "$WORK/etcq.jsonl" $line rps)
  g_rps=$(field "$WORK/etcq-grpc.jsonl" $line rps)
  e_p50=$(field "$WORK/etcd-grpc.jsonl" $line p50_ms)
  q_p50=$(field "$WORK/etcq.jsonl" $line p50_ms)
  g_p50=$(field "$WORK/etcq-grpc.jsonl" $line p50_ms)
  e_p99=$(field "$WORK/etcd-grpc.jsonl" $line p99_ms)
  q_p99=$(field "$WORK/etcq.jsonl" $line p99_ms)
  g_p99=$(field "$WORK/etcq-grpc.jsonl" $line p99_ms)
  e_err=$(field "$WORK/etcd-grpc.jsonl" $line errors)
  q_err=$(field "$WORK/etcq.jsonl" $line errors)
  g_err=$(field "$WORK/etcq-grpc.jsonl" $line errors)
  echo "| $name | $e_rps | $q_rps | $(ratio "$q_rps" "$e_rps") | $g_rps | $(ratio "$g_rps" "$e_rps") | $e_p50 | $q_p50 | $(ratio "$q_p50" "$e_p50") | $g_p50 | $e_p99 | $q_p99 | $g_p99 | $e_err/$q_err/$g_err |"
done
echo
echo "Peak server RSS: etcd ${ETCD_RSS} MiB, etcq ${ETCQ_RSS} MiB. etcq flags: ${ETCQ_FLAGS:-(none)}."
echo "Rows: put totals ${PUT1_TOTAL} (1 client) and ${PUT_TOTAL}; range total ${RANGE_TOTAL}; key 8 B, value 256 B."
