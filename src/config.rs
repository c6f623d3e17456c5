//! Server configuration: command-line flags and every named limit.
//!
//! Limits live here, in one place, so that a reader can see every bound the
//! server keeps (queues, batches, buffers, request sizes) at a glance.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Largest client request accepted, as etcd's `--max-request-bytes` (1.5 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1536 * 1024;
/// Most operations in one txn, as etcd's `--max-txn-ops`.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;
/// Capacity of each bounded channel between a front core and the raft core.
pub const CORE_CHANNEL_CAPACITY: usize = 4096;
/// Most proposals gathered into one raft loop turn (one WAL group commit).
pub const PROPOSALS_PER_TURN_MAX: usize = 4096;
/// Events a single watcher may have queued for its client before it is moved
/// to the unsynced set and caught up from history instead.
pub const WATCHER_BUFFER_EVENTS_MAX: usize = 1024;
/// Most history events fetched per catch-up round for one watcher.
pub const WATCH_CATCHUP_EVENTS_MAX: usize = 1000;
/// Most events in one WatchResponse sent to a client.
pub const WATCH_RESPONSE_EVENTS_MAX: usize = 1000;
/// Most concurrent requests one QUIC connection may have in flight.
pub const CONNECTION_STREAMS_MAX: u32 = 1024;
/// Pending TCP connections the kernel queues per core's listener.
pub const TCP_LISTEN_BACKLOG: i32 = 1024;
/// Most WAL `fdatasync`s in flight at once (pipelined group commit): while
/// they run the raft core keeps gathering, proposing and writing the next
/// batches; records written while every slot is busy ride on the next sync
/// started. Bounded so a slow disk turns into larger batches, not a queue of
/// flushes.
pub const WAL_SYNCS_IN_FLIGHT_MAX: usize = 2;
/// Raft tick length.
pub const TICK_MS: u64 = 100;
/// Raft election timeout in ticks (1 s, as etcd's default).
pub const ELECTION_TICKS: usize = 10;
/// Raft heartbeat in ticks.
pub const HEARTBEAT_TICKS: usize = 1;
/// Largest lease TTL etcd accepts (seconds).
pub const LEASE_TTL_MAX_SECS: i64 = 9_000_000_000;
/// How often the leader checkpoints remaining lease TTLs through the log.
pub const LEASE_CHECKPOINT_INTERVAL_MS: u64 = 5_000;
/// Most lease revocations proposed per expiry check.
pub const LEASE_REVOKES_PER_TICK_MAX: usize = 1000;
/// etcd's default backend quota (2 GiB): above it the NOSPACE alarm refuses writes.
pub const DEFAULT_QUOTA_BACKEND_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Free bytes the data directory's file system must keep; below it the NOSPACE
/// alarm refuses writes before the disk actually fills (checked every tick).
pub const DISK_FREE_RESERVE_BYTES: u64 = 256 * 1024 * 1024;
/// Default spin of the idle raft core before it sleeps: none. Spinning was
/// the default until the WAL syncs were pipelined; since then, on this
/// project's 2-core VMs where the load generator shares the CPUs, a spinning
/// core takes CPU from the clients it waits for. Interleaved runs on
/// 2026-12-01 (put, 256 clients, 100k requests, a niced compile in the
/// background): 38-46k req/s with no spin against 25-31k spinning 1 ms on
/// every core; 1-client put p50 0.30-0.34 ms with no spin against
/// 0.23-1.33 ms spinning. On an otherwise idle machine the two measured
/// within noise (put 256: 58.0k vs 58.0k). `--spin-before-park-us` brings
/// spinning back, e.g. on dedicated cores.
pub const DEFAULT_SPIN_BEFORE_PARK_US: u64 = 0;
/// Default spin of an idle front core (every core but the raft core): none,
/// for the same reason.
pub const DEFAULT_FRONT_SPIN_BEFORE_PARK_US: u64 = 0;
/// Keys scanned per compaction step between loop turns.
pub const COMPACTION_STEP_KEYS: usize = 1000;

/// Offline commands of the `etcq` binary (no server is started).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Snapshots saved by `etcdctl snapshot save` (or any Maintenance.Snapshot client).
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum SnapshotCommand {
    /// Checks a snapshot file and prints what it holds.
    Status {
        /// The snapshot file.
        file: PathBuf,
        /// Output format: simple or json.
        #[arg(long = "write-out", short = 'w', default_value = "simple")]
        write_out: String,
    },
    /// Writes a new data directory from a snapshot: a single-member cluster
    /// at the snapshot's revision, with its keys and leases. Refuses to
    /// replace an existing member.
    Restore {
        /// The snapshot file.
        file: PathBuf,
        /// The data directory to create (as `etcq --data-dir` then uses it).
        #[arg(long, default_value = "default.etcq")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "etcq",
    args_conflicts_with_subcommands = true,
    version,
    about = "etcq: a strongly consistent key-value store, etcd-compatible"
)]
pub struct Config {
    /// Offline tools instead of the server (`etcq snapshot restore ...`).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Human-readable name of this member.
    #[arg(long, default_value = "default")]
    pub name: String,

    /// Path to the data directory.
    #[arg(long, default_value = "default.etcq")]
    pub data_dir: PathBuf,

    /// Address for clients: etcq/1 (QUIC) on UDP.
    #[arg(long, default_value = "127.0.0.1:2379")]
    pub listen_client_addr: SocketAddr,

    /// Executor cores to run (0 = all available).
    #[arg(long, default_value_t = 0)]
    pub cores: usize,

    /// Largest request accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_REQUEST_BYTES)]
    pub max_request_bytes: usize,

    /// Most operations in one txn.
    #[arg(long, default_value_t = DEFAULT_MAX_TXN_OPS)]
    pub max_txn_ops: usize,

    /// Applied write requests between MVCC checkpoints (bounds restart replay and
    /// the raft log kept in memory; like etcd's --snapshot-count).
    #[arg(long, default_value_t = 100_000)]
    pub snapshot_count: u64,

    /// Raise the NOSPACE alarm (refuse writes, keep serving reads and deletes)
    /// when the MVCC data exceeds this many bytes, as etcd's --quota-backend-bytes.
    #[arg(long, default_value_t = DEFAULT_QUOTA_BACKEND_BYTES)]
    pub quota_backend_bytes: u64,

    /// Raise the NOSPACE alarm when the data directory's file system has less
    /// free space than this.
    #[arg(long, default_value_t = DISK_FREE_RESERVE_BYTES)]
    pub disk_free_reserve_bytes: u64,

    /// Interval of the progress notifications sent to watches created with
    /// progress_notify (etcd: --experimental-watch-progress-notify-interval, 10m).
    #[arg(long, default_value_t = 600_000)]
    pub watch_progress_notify_interval_ms: u64,

    /// How long the idle raft core (core 0) spins before it sleeps, in
    /// microseconds. Spinning keeps the core on its CPU, so a completed fsync
    /// or an arriving packet is seen at once instead of after the kernel
    /// schedules the thread back in; but a spinning core takes CPU from
    /// anything sharing it (a load generator on the same machine).
    #[arg(long, default_value_t = DEFAULT_SPIN_BEFORE_PARK_US)]
    pub spin_before_park_us: u64,

    /// The same for the other cores, which only serve clients.
    #[arg(long, default_value_t = DEFAULT_FRONT_SPIN_BEFORE_PARK_US)]
    pub front_spin_before_park_us: u64,

    /// Keep the raft core (core 0) free of client connections when there are
    /// other cores. Off by default: on 2 cores it measured slower (put at 256
    /// clients 48k vs 66k req/s), as one front core then carries all QUIC work.
    #[arg(long)]
    pub dedicated_raft_core: bool,

    /// WAL segment size in bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub wal_segment_bytes: u64,

    /// Server TLS certificate (PEM). Without it, a self-signed one is made in the data dir.
    #[arg(long)]
    pub cert_file: Option<PathBuf>,

    /// Server TLS key (PEM).
    #[arg(long)]
    pub key_file: Option<PathBuf>,

    /// CA bundle for verifying client certificates (enables client-cert auth).
    #[arg(long)]
    pub trusted_ca_file: Option<PathBuf>,
}

/// Most users the auth store holds (UserAdd beyond it is refused).
pub const AUTH_USERS_MAX: usize = 10_000;
/// Most roles the auth store holds.
pub const AUTH_ROLES_MAX: usize = 10_000;
/// Most key permissions one role holds.
pub const AUTH_PERMISSIONS_PER_ROLE_MAX: usize = 1_000;
/// Most roles granted to one user.
pub const AUTH_ROLES_PER_USER_MAX: usize = 1_000;
/// Most live simple tokens; at the limit the one closest to expiry is dropped.
pub const AUTH_TOKENS_MAX: usize = 100_000;
/// Idle lifetime of a simple token (etcd's default, 5 minutes); each use
/// refreshes it.
pub const AUTH_TOKEN_TTL_MS: u64 = 300_000;
/// bcrypt cost of stored password hashes (etcd's default).
pub const BCRYPT_COST: u32 = 10;
