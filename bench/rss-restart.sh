#!/usr/bin/env bash
# Memory and restart rows of docs/benchmarks.md, etcq then etcd 3.4 (Debian's
# etcd-server), one after the other on this machine:
#   - RSS after 1,000,000 puts (8-byte sequential keys, 1,000,000 distinct
#     keys, 256-byte values, 512 clients / 16 conns) and a compaction at the
#     last revision;
#   - time from restarting the killed (-9) server to its first served read,
#     with those 1,000,000 keys.
# Usage: bench/rss-restart.sh   (ETCQ_ONLY=1 to skip etcd)
# Ports: etcq UDP 26379, etcd 26390/26391 (loopback only).
set -u
cd "$(dirname "$0")/.."
command -v etcd >/dev/null || { apt-get update && apt-get install -y etcd-server etcd-client; }
cargo build --release -p etcq -p etcq-bench -p etcqctl
B=${CARGO_TARGET_DIR:-target}/release
W=$(mktemp -d)
export ETCQ_TRUST_DIR=$W/trust
echo "== etcq"
$B/etcq --data-dir $W/etcq --listen-client-addr 127.0.0.1:26379 > $W/etcq.log 2>&1 &
P=$!; sleep 1
$B/etcq-bench --endpoints 127.0.0.1:26379 --clients 512 --conns 16 --json put --total 1000000 --key-space-size 1000000 --sequential-keys --val-size 256 2>/dev/null
REV=$($B/etcqctl --endpoints 127.0.0.1:26379 endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
$B/etcqctl --endpoints 127.0.0.1:26379 compaction $REV
sleep 5
echo "etcq rss after puts+compaction: $(grep VmRSS /proc/$P/status)  hwm: $(grep VmHWM /proc/$P/status)"
kill -9 $P; wait $P 2>/dev/null
T0=$(date +%s.%N)
$B/etcq --data-dir $W/etcq --listen-client-addr 127.0.0.1:26379 >> $W/etcq.log 2>&1 &
P=$!
until $B/etcqctl --endpoints 127.0.0.1:26379 --command-timeout 1s get 00000001 --consistency s >/dev/null 2>&1; do sleep 0.02; done
T1=$(date +%s.%N)
echo "etcq restart to first read: $(python3 -c "print(round($T1-$T0,3))") s; keys: $($B/etcqctl --endpoints 127.0.0.1:26379 get 0 --from-key --count-only -w fields | grep Count)"
echo "etcq rss after restart: $(grep VmRSS /proc/$P/status)"
kill -9 $P; wait $P 2>/dev/null
[ "${ETCQ_ONLY:-0}" = 1 ] && { rm -rf "$W"; exit 0; }
echo "== etcd"
etcd --name r --data-dir $W/etcd --listen-client-urls http://127.0.0.1:26390 --advertise-client-urls http://127.0.0.1:26390 --listen-peer-urls http://127.0.0.1:26391 --initial-advertise-peer-urls http://127.0.0.1:26391 --initial-cluster r=http://127.0.0.1:26391 > $W/etcd.log 2>&1 &
P=$!; sleep 2
$B/etcq-bench --target etcd-grpc --endpoints 127.0.0.1:26390 --clients 512 --conns 16 --json put --total 1000000 --key-space-size 1000000 --sequential-keys --val-size 256 2>/dev/null
REV=$(ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:26390 endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:26390 compaction $REV
sleep 5
echo "etcd rss after puts+compaction: $(grep VmRSS /proc/$P/status)  hwm: $(grep VmHWM /proc/$P/status)"
kill -9 $P; wait $P 2>/dev/null
T0=$(date +%s.%N)
etcd --name r --data-dir $W/etcd --listen-client-urls http://127.0.0.1:26390 --advertise-client-urls http://127.0.0.1:26390 --listen-peer-urls http://127.0.0.1:26391 --initial-advertise-peer-urls http://127.0.0.1:26391 --initial-cluster r=http://127.0.0.1:26391 >> $W/etcd.log 2>&1 &
P=$!
until ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:26390 --command-timeout 1s get 00000001 --consistency s >/dev/null 2>&1; do sleep 0.02; done
T1=$(date +%s.%N)
echo "etcd restart to first read: $(python3 -c "print(round($T1-$T0,3))") s"
echo "etcd rss after restart: $(grep VmRSS /proc/$P/status)"
kill -9 $P; wait $P 2>/dev/null
rm -rf $W
