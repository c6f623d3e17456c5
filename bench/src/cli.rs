//! Command line: global flags and one subcommand per workload.
//!
//! Flag names and meanings follow etcd's `tools/benchmark` (v3.4) wherever
//! that tool has the flag, so a command line from etcd's performance docs
//! runs here unchanged apart from `--target`. Defaults differ from etcd's in
//! one place: `put`/`txn-put` use 256-byte values (etcd's docs always pass
//! `--val-size=256`; the tool's own default is 8).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load generator for etcq and etcd: the same workload against either, with
/// a latency histogram and an optional history of every operation.
#[derive(Debug, Parser)]
#[command(name = "etcq-bench", version, args_override_self = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) workload: Workload,
}

/// Which server and protocol to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TargetKind {
    /// etcq over its native QUIC protocol (etcq/1), TLS verified.
    Etcq,
    /// Any etcd v3 server over plaintext gRPC (HTTP/2, no TLS).
    EtcdGrpc,
}

impl TargetKind {
    /// The name used in reports and JSON lines.
    pub(crate) fn name(self) -> &'static str {
        match self {
            TargetKind::Etcq => "etcq",
            TargetKind::EtcdGrpc => "etcd-grpc",
        }
    }
}

/// Read consistency of `range`, as etcd's `--consistency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Consistency {
    /// Linearizable: goes through the leader's read index.
    L,
    /// Serializable: served from the local store.
    S,
}

#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Server kind and protocol.
    #[arg(long, value_enum, default_value = "etcq", global = true)]
    pub(crate) target: TargetKind,
    /// Comma-separated `host:port` list (an `http://` or `https://` prefix
    /// is accepted and ignored); connections go round-robin over them. A
    /// later `--endpoints` replaces an earlier one.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "127.0.0.1:2379",
        action = clap::ArgAction::Set,
        global = true
    )]
    pub(crate) endpoints: Vec<String>,
    /// Concurrent in-flight requests (one task each).
    #[arg(long, default_value_t = 1, global = true)]
    pub(crate) clients: usize,
    /// Connections; client `i` uses connection `i % conns`.
    #[arg(long, default_value_t = 1, global = true)]
    pub(crate) conns: usize,
    /// Extra CA certificate to trust (etcq target), besides the per-user
    /// trust directory the etcq server publishes its CA into.
    #[arg(long, global = true)]
    pub(crate) cacert: Option<PathBuf>,
    /// Reuse a unary call's QUIC stream for the connection's next call
    /// (etcq target; docs/protocol.md "Stream reuse"). `false` opens one
    /// stream per request, as etcq/1 clients did before, for comparison.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub(crate) etcq_stream_reuse: bool,
    /// Print one machine-readable JSON line on stdout (the human summary
    /// goes to stderr).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Write every operation as a JSON line to FILE (format:
    /// docs/benchmarks.md).
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) record_history: Option<PathBuf>,
    /// Worker threads of the load generator (default: CPUs).
    #[arg(long, global = true)]
    pub(crate) threads: Option<usize>,
    /// Give up on one request after this many seconds (counted as an error).
    #[arg(long, default_value_t = 30, global = true)]
    pub(crate) request_timeout_secs: u64,
    /// Seed of the random key choice (default: from the OS).
    #[arg(long, global = true)]
    pub(crate) seed: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Workload {
    /// Put keys: `--total` puts of `--val-size` bytes over a key space.
    Put(PutArgs),
    /// Read one key or a range: `--total` range requests.
    Range(RangeArgs),
    /// Transactions whose success branch holds `--txn-ops` puts.
    TxnPut(TxnPutArgs),
    /// Watch fan-out: watchers on a key set, then puts to those keys;
    /// measures event delivery throughput and put->event latency.
    Watch(WatchArgs),
    /// Put->event latency at a steady put rate, all watchers on one key.
    WatchLatency(WatchLatencyArgs),
}

impl Workload {
    /// The subcommand's name, as used in reports and JSON lines.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Workload::Put(_) => "put",
            Workload::Range(_) => "range",
            Workload::TxnPut(_) => "txn-put",
            Workload::Watch(_) => "watch",
            Workload::WatchLatency(_) => "watch-latency",
        }
    }
}

/// How keys are chosen from the key space.
#[derive(Debug, Clone, Args)]
pub(crate) struct KeyArgs {
    /// Key size in bytes (keys are zero-padded decimal indexes).
    #[arg(long, default_value_t = 8)]
    pub(crate) key_size: usize,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 1)]
    pub(crate) key_space_size: u64,
    /// Key of request `i` is `i % key-space-size` instead of random.
    #[arg(long)]
    pub(crate) sequential_keys: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PutArgs {
    #[command(flatten)]
    pub(crate) keys: KeyArgs,
    /// Value size in bytes.
    #[arg(long, default_value_t = 256)]
    pub(crate) val_size: usize,
    /// Total number of puts.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) total: u64,
    /// Maximum puts per second over all clients (0: unlimited).
    #[arg(long, default_value_t = 0)]
    pub(crate) rate: u64,
}

#[derive(Debug, Args)]
pub(crate) struct RangeArgs {
    /// Key to read (or start of the range).
    pub(crate) key: String,
    /// End of the range (exclusive); without it, only KEY is read.
    pub(crate) end: Option<String>,
    /// Linearizable (`l`) or serializable (`s`).
    #[arg(long, value_enum, default_value = "l")]
    pub(crate) consistency: Consistency,
    /// Total number of range requests.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) total: u64,
    /// Maximum number of keys returned per request (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub(crate) limit: i64,
    /// Maximum requests per second over all clients (0: unlimited).
    #[arg(long, default_value_t = 0)]
    pub(crate) rate: u64,
}

#[derive(Debug, Args)]
pub(crate) struct TxnPutArgs {
    #[command(flatten)]
    pub(crate) keys: KeyArgs,
    /// Value size in bytes.
    #[arg(long, default_value_t = 256)]
    pub(crate) val_size: usize,
    /// Total number of transactions.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) total: u64,
    /// Puts per transaction (distinct keys; needs key-space-size >= txn-ops).
    #[arg(long, default_value_t = 1)]
    pub(crate) txn_ops: usize,
    /// Maximum transactions per second over all clients (0: unlimited).
    #[arg(long, default_value_t = 0)]
    pub(crate) rate: u64,
}

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Watch streams, spread over the connections.
    #[arg(long, default_value_t = 10)]
    pub(crate) streams: usize,
    /// Watchers per stream; watcher `j` watches key `j % key-space-size`.
    #[arg(long, default_value_t = 100)]
    pub(crate) watch_per_stream: usize,
    /// Key size in bytes.
    #[arg(long, default_value_t = 32)]
    pub(crate) key_size: usize,
    /// Number of distinct watched keys; put `i` goes to key
    /// `i % key-space-size`.
    #[arg(long, default_value_t = 1)]
    pub(crate) key_space_size: u64,
    /// Value size in bytes (at least 20: values carry the put's index).
    #[arg(long, default_value_t = 32)]
    pub(crate) val_size: usize,
    /// Total number of puts (issued by `--clients` concurrent putters).
    #[arg(long, default_value_t = 1000)]
    pub(crate) put_total: u64,
    /// Maximum puts per second (0: unlimited).
    #[arg(long, default_value_t = 0)]
    pub(crate) put_rate: u64,
    /// Ask for the previous key-value in every event.
    #[arg(long)]
    pub(crate) prevkv: bool,
    /// Stop waiting for events this many seconds after the last put.
    #[arg(long, default_value_t = 30)]
    pub(crate) drain_timeout_secs: u64,
}

#[derive(Debug, Args)]
pub(crate) struct WatchLatencyArgs {
    /// Watch streams, spread over the connections.
    #[arg(long, default_value_t = 10)]
    pub(crate) streams: usize,
    /// Watchers per stream, all on the one key.
    #[arg(long, default_value_t = 10)]
    pub(crate) watchers_per_stream: usize,
    /// Key size in bytes.
    #[arg(long, default_value_t = 32)]
    pub(crate) key_size: usize,
    /// Value size in bytes (at least 20: values carry the put's index).
    #[arg(long, default_value_t = 32)]
    pub(crate) val_size: usize,
    /// Total number of puts.
    #[arg(long, default_value_t = 1000)]
    pub(crate) put_total: u64,
    /// Puts per second (0: unlimited).
    #[arg(long, default_value_t = 100)]
    pub(crate) put_rate: u64,
    /// Ask for the previous key-value in every event.
    #[arg(long)]
    pub(crate) prevkv: bool,
    /// Stop waiting for events this many seconds after the last put.
    #[arg(long, default_value_t = 30)]
    pub(crate) drain_timeout_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).expect("valid command line")
    }

    #[test]
    fn etcd_benchmark_command_lines_parse() {
        let cli = parse(&[
            "etcq-bench",
            "--target",
            "etcd-grpc",
            "--endpoints",
            "http://127.0.0.1:23790",
            "--conns",
            "16",
            "--clients",
            "256",
            "put",
            "--key-size",
            "8",
            "--sequential-keys",
            "--total",
            "100000",
            "--val-size",
            "256",
        ]);
        assert_eq!(cli.global.target, TargetKind::EtcdGrpc);
        assert_eq!(cli.global.clients, 256);
        match cli.workload {
            Workload::Put(p) => {
                assert!(p.keys.sequential_keys);
                assert_eq!(p.total, 100_000);
                assert_eq!(p.keys.key_space_size, 1);
            }
            other => panic!("not put: {other:?}"),
        }
    }

    #[test]
    fn global_flags_may_follow_the_subcommand() {
        let cli = parse(&["etcq-bench", "range", "foo", "--consistency", "s", "--json"]);
        assert!(cli.global.json);
        assert_eq!(cli.global.target, TargetKind::Etcq);
        match cli.workload {
            Workload::Range(r) => {
                assert_eq!(r.key, "foo");
                assert_eq!(r.end, None);
                assert_eq!(r.consistency, Consistency::S);
            }
            other => panic!("not range: {other:?}"),
        }
    }

    #[test]
    fn a_later_endpoints_flag_replaces_the_earlier_one() {
        let cli = parse(&[
            "etcq-bench",
            "--endpoints",
            "a:1,b:2",
            "--endpoints",
            "c:3",
            "range",
            "k",
        ]);
        assert_eq!(cli.global.endpoints, ["c:3"]);
        let cli = parse(&["etcq-bench", "--endpoints", "a:1,b:2", "range", "k"]);
        assert_eq!(cli.global.endpoints, ["a:1", "b:2"]);
    }
}
