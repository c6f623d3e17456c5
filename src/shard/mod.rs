//! The raft core: one shard's raft node, WAL, MVCC store and lessor, driven by
//! one loop on one core.
//!
//! Each loop turn: note the WAL syncs that completed (raft's
//! `on_persist_ready`), gather the requests that arrived (up to
//! `PROPOSALS_PER_TURN_MAX`), propose the writes as raft entries, start one
//! ReadIndex round for all linearizable reads of the turn, then process
//! `Ready`: apply the committed (and persisted) entries to the store, answer
//! the waiting clients, write the new entries and hard state to the WAL and
//! start one `fdatasync` for them (group commit) without waiting for it, and
//! publish the turn's watch events to every core that has watchers.
//!
//! Persistence is pipelined: up to `WAL_SYNCS_IN_FLIGHT_MAX` syncs run as
//! separate tasks while the loop goes on serving reads and writing the next
//! batch. Raft (`advance_append_async`) commits an entry only after
//! `on_persist_ready` says a completed sync covered it, so a write is still
//! answered only once its entry is durable and applied.
//!
//! Written as "one shard" so that several shards per node (each owning a key
//! range, each on its own core) is a generalisation, not a rewrite.

pub mod alarm;
pub mod apply;
mod authorize;
mod maintenance;
mod raft_log;
pub mod read;
pub mod snapshot;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::VecDeque;

use futures::channel::mpsc;
use std::task::Poll;

use futures::future::{Either, LocalBoxFuture};
use futures::{FutureExt as _, StreamExt};
use prost::Message as _;
use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, EntryType};
use raft::storage::MemStorage;
use raft::{RawNode, StateRole};

use etcq_net::pb::etcdserverpb as pb;
use etcq_storage::disk::Disk;
use etcq_storage::mvcc::{MvccError, MvccOptions, MvccStore};
use etcq_storage::wal::{Wal, WalError, WalOptions, WalPosition};

use crate::auth::AuthStore;
use crate::config::{
    self, COMPACTION_STEP_KEYS, LEASE_CHECKPOINT_INTERVAL_MS, LEASE_REVOKES_PER_TICK_MAX,
};
use crate::errors::{self, EtcdError};
use crate::lease::Lessor;
use crate::mesh::{
    Downlink, DownlinkTx, Envelope, EventBatch, History, HistoryError, HistoryReply,
    HistoryRequest, Reply, Request, Response,
};
use crate::proposal::{InternalRequest, Op, ProposalBatch};
use apply::AppliedResponse;

/// Buffered MVCC data written to its segment files (no fsync) once it reaches
/// this size, and at every tick in any case.
const MVCC_FLUSH_BYTES: usize = 4 * 1024 * 1024;

/// Bytes raft's entry encoding adds around our payload (index, term, type, tags).
const RAFT_ENTRY_OVERHEAD_BYTES: usize = 64;
/// Most bytes of requests batched into one raft entry.
const BATCH_BYTES_MAX: usize = 1024 * 1024;
/// Bytes a request adds to a batch beyond its own encoding (tag + length).
const BATCH_ITEM_OVERHEAD_BYTES: usize = 8;

/// Loop turns (1 ms apart) replay may make no progress, with no WAL sync in
/// flight to wait for, before startup fails.
const REPLAY_IDLE_TURNS_MAX: u32 = 10_000;

/// The version string reported by Status: the etcd API level we implement.
pub const ETCD_API_VERSION: &str = "3.4.23";

/// Static facts about this member and shard.
#[derive(Debug, Clone)]
pub struct ShardOptions {
    pub data_dir: PathBuf,
    pub member_id: u64,
    pub cluster_id: u64,
    pub name: String,
    pub client_urls: Vec<String>,
    pub wal_segment_bytes: u64,
    pub snapshot_count: u64,
    pub max_txn_ops: usize,
    pub quota_backend_bytes: u64,
    pub disk_free_reserve_bytes: u64,
}

/// Who waits for the result of a proposal.
#[derive(Debug, Clone, Copy)]
struct Waiter {
    from_core: usize,
    req_id: u64,
}

/// A linearizable read waiting for its ReadIndex.
struct ReadJob {
    waiter: Waiter,
    req: pb::RangeRequest,
}

/// A WAL sync in flight, and the raft readies it covers.
struct SyncInFlight {
    /// The last `Ready::number` whose records were written before it started.
    ready_number: u64,
    sync: LocalBoxFuture<'static, Result<WalPosition, WalError>>,
}

/// Why the shard stopped.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("wal: {0}")]
    Wal(#[from] WalError),
    #[error("mvcc store: {0}")]
    Mvcc(#[from] MvccError),
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    #[error("recovery: {0}")]
    Recovery(String),
}

pub struct Shard<D: Disk> {
    opts: ShardOptions,
    disk: D,
    raw: RawNode<MemStorage>,
    wal: Wal<D>,
    store: MvccStore<D>,
    lessor: Lessor,
    /// Users, roles, permissions, the enabled flag and live tokens.
    auth: AuthStore,
    downlinks: Vec<DownlinkTx>,
    /// Cores that have at least one watcher.
    watch_interest: Vec<bool>,
    /// Per core: first revision a full channel made it miss.
    lagging: Vec<Option<i64>>,
    waiting: HashMap<u64, Waiter>,
    next_proposal_id: u64,
    read_batches: HashMap<Vec<u8>, Vec<ReadJob>>,
    ready_reads: Vec<(u64, Vec<ReadJob>)>,
    /// Linearizable reads not yet asked of raft (see `turn`).
    unissued_reads: Vec<ReadJob>,
    next_read_ctx: u64,
    applied_index: u64,
    checkpoint_index: u64,
    compaction_running: bool,
    /// `compaction --physical` callers, answered when the cleanup is done.
    physical_compaction_waiters: Vec<(Waiter, Reply)>,
    /// The WAL hit ENOSPC: nothing can be persisted any more; writes refused,
    /// reads served from the frozen applied state.
    no_space: bool,
    /// Raised alarms (persisted in `member/alarms`). NOSPACE is raised ahead
    /// of time (quota exceeded, or the disk under its free-space reserve) and
    /// stays until `alarm disarm`: writes that add data are refused; reads,
    /// deletes, compaction and lease revokes still go through. CORRUPT
    /// refuses KV requests, as etcd does.
    alarms: alarm::Alarms,
    /// The alarm list changed but could not be written yet.
    alarms_dirty: bool,
    /// Running Hash/HashKV computations.
    hash_jobs: Vec<maintenance::HashJob>,
    /// Defragment callers, answered when the cleaning is done.
    defrag_waiters: Vec<Waiter>,
    /// This member's peer URLs (MemberUpdate; not listened on before clustering).
    peer_urls: Vec<String>,
    /// Names the pinned copy of each snapshot.
    next_snapshot_id: u64,
    epoch: Instant,
    last_tick: Instant,
    last_lease_checkpoint_ms: u64,
    turn_events: Vec<etcq_net::pb::mvccpb::Event>,
    /// Requests applied since the last checkpoint (an entry carries a batch).
    applied_requests_since_checkpoint: u64,
    /// Requests gathered this turn, proposed as one entry.
    batch: Vec<InternalRequest>,
    batch_bytes: usize,
    /// Largest raft entry the WAL accepts.
    entry_bytes_max: usize,
    /// WAL syncs running, oldest first (at most `WAL_SYNCS_IN_FLIGHT_MAX`).
    syncs: VecDeque<SyncInFlight>,
    /// The last raft ready whose records were handed to the WAL.
    written_ready: u64,
    /// A ready that must be made durable (entries, term or vote) was written
    /// and no sync started since covers it.
    unsynced_must_sync: bool,
}

impl<D: Disk> Shard<D> {
    /// Opens (or creates) the shard's storage and recovers its state.
    pub async fn open(
        disk: D,
        opts: ShardOptions,
        downlinks: Vec<DownlinkTx>,
    ) -> Result<Self, ShardError> {
        let wal_segment_bytes = opts.wal_segment_bytes;
        let member_dir = opts.data_dir.join("member");
        let unfinished = etcq_storage::restore::unfinished(&disk, &member_dir)
            .await
            .map_err(|e| ShardError::Recovery(format!("checking {}: {e}", member_dir.display())))?;
        if unfinished {
            let dir = member_dir.display();
            return Err(ShardError::Recovery(format!(
                "{dir} is a snapshot restore that did not finish: restore it again"
            )));
        }
        let wal_dir = opts.data_dir.join("member").join("wal");
        let data_dir = opts.data_dir.join("member").join("mvcc");
        let (wal, recovered) = Wal::open(
            disk.clone(),
            &wal_dir,
            WalOptions {
                segment_bytes: opts.wal_segment_bytes,
            },
        )
        .await?;
        let store = MvccStore::open(disk.clone(), &data_dir, MvccOptions::default()).await?;
        let alarms = Self::load_alarms(&disk, &opts.data_dir).await?;
        let pins = opts
            .data_dir
            .join("member")
            .join(snapshot::SNAPSHOT_TMP_DIR);
        if let Err(e) = snapshot::remove_stale_pins(&disk, &pins).await {
            tracing::warn!(dir = %pins.display(), "cannot remove stale snapshot pins: {e}");
        }
        let checkpoint_index = store.checkpoint_index();
        let mut lessor = Lessor::new(min_lease_ttl_secs());
        let (lease_meta, auth_meta) =
            split_checkpoint_meta(store.checkpoint_meta()).map_err(ShardError::Recovery)?;
        lessor.decode(lease_meta).map_err(ShardError::Recovery)?;
        let mut auth = AuthStore::default();
        auth.decode(auth_meta).map_err(ShardError::Recovery)?;
        for (lease, key) in store.keys_with_lease() {
            lessor.attach(lease, key);
        }
        let conf = ConfState::from((vec![opts.member_id], vec![]));
        let storage =
            raft_log::recover(conf, &recovered, checkpoint_index).map_err(ShardError::Recovery)?;
        let cfg = raft::Config {
            id: opts.member_id,
            election_tick: config::ELECTION_TICKS,
            heartbeat_tick: config::HEARTBEAT_TICKS,
            applied: checkpoint_index,
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 256,
            check_quorum: true,
            pre_vote: true,
            ..Default::default()
        };
        cfg.validate()?;
        let mut raw = RawNode::new(&cfg, storage, &raft_log::logger())?;
        // A single voter need not wait for an election timeout.
        if raw.raft.prs().conf().voters().ids().len() == 1 {
            raw.campaign()?;
        }
        tracing::info!(
            wal = %wal_dir.display(),
            mvcc = %data_dir.display(),
            checkpoint_index,
            last_index = recovered.entries.last().map(|e| e.index).unwrap_or(0),
            revision = store.current_revision(),
            leases = lessor.len(),
            auth_enabled = auth.is_enabled(),
            "shard recovered"
        );
        let cores = downlinks.len();
        let now = Instant::now();
        let boot = now.elapsed().as_nanos() as u64 ^ (std::process::id() as u64) << 32;
        if !alarms.get(0).is_empty() {
            tracing::warn!(alarms = ?alarms.status_errors(), "alarms raised before the restart");
        }
        Ok(Shard {
            opts,
            disk,
            raw,
            wal,
            store,
            lessor,
            auth,
            downlinks,
            watch_interest: vec![false; cores],
            lagging: vec![None; cores],
            waiting: HashMap::new(),
            next_proposal_id: (boot | 1) << 20,
            read_batches: HashMap::new(),
            ready_reads: Vec::new(),
            unissued_reads: Vec::new(),
            next_read_ctx: 1,
            applied_index: checkpoint_index,
            checkpoint_index,
            compaction_running: false,
            physical_compaction_waiters: Vec::new(),
            no_space: false,
            alarms,
            alarms_dirty: false,
            hash_jobs: Vec::new(),
            defrag_waiters: Vec::new(),
            peer_urls: Vec::new(),
            next_snapshot_id: boot,
            epoch: now,
            last_tick: now,
            last_lease_checkpoint_ms: 0,
            turn_events: Vec::new(),
            applied_requests_since_checkpoint: 0,
            batch: Vec::new(),
            batch_bytes: 0,
            entry_bytes_max: WalOptions {
                segment_bytes: wal_segment_bytes,
            }
            .max_entry_data_bytes()
                - RAFT_ENTRY_OVERHEAD_BYTES,
            syncs: VecDeque::new(),
            written_ready: 0,
            unsynced_must_sync: false,
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Runs the loop until the inbox closes (every front core stopped).
    /// `ticker` is a sender into `inbox`: a small task uses it to wake the
    /// loop every tick, so an idle loop waits on one channel only (a timer
    /// armed and cancelled per wait costs two io_uring operations a turn).
    pub async fn run(
        mut self,
        mut inbox: mpsc::Receiver<Envelope>,
        ticker: mpsc::Sender<Envelope>,
    ) -> Result<(), ShardError> {
        glommio::spawn_local(async move {
            let mut ticker = ticker;
            loop {
                glommio::timer::sleep(Duration::from_millis(config::TICK_MS)).await;
                let tick = Envelope {
                    from_core: usize::MAX,
                    req_id: 0,
                    req: Request::Tick,
                    token: None,
                };
                if let Err(e) = ticker.try_send(tick) {
                    if e.is_disconnected() {
                        return;
                    }
                    // Full: the loop is busy and sees the elapsed tick itself.
                }
            }
        })
        .detach();
        self.replay_committed().await?;
        loop {
            // Wait for a request (or a tick) or the oldest sync in flight,
            // unless background work is pending.
            let mut batch = Vec::new();
            let busy =
                self.compaction_running || self.raw.has_ready() || !self.hash_jobs.is_empty();
            let first = if busy {
                inbox.try_recv().ok().map(Some)
            } else if let Some(sync) = self.syncs.front_mut() {
                let woke = match futures::future::select(inbox.next(), &mut sync.sync).await {
                    Either::Left((env, _)) => Ok(env),
                    Either::Right((synced, _)) => Err(synced),
                };
                match woke {
                    Ok(env) => Some(env),
                    Err(synced) => {
                        let sync = self
                            .syncs
                            .pop_front()
                            .expect("the sync just awaited is the oldest");
                        self.sync_finished(sync.ready_number, synced)?;
                        None
                    }
                }
            } else {
                Some(inbox.next().await)
            };
            match first {
                Some(None) => break, // inbox closed
                Some(Some(env)) => batch.push(env),
                None => {}
            }
            while batch.len() < config::PROPOSALS_PER_TURN_MAX {
                match inbox.try_recv() {
                    Ok(env) => batch.push(env),
                    _ => break,
                }
            }
            self.turn(batch).await?;
            glommio::yield_if_needed().await;
        }
        self.checkpoint().await?;
        Ok(())
    }

    /// Applies every entry of the recovered log before the first request is
    /// looked at: requests are checked against the applied auth state (and
    /// alarms), which must not be older than what this member acknowledged
    /// before it stopped — else an `auth enable` would not be enforced until
    /// its entry was applied again. The durable commit index can lag (it
    /// rides on the next sync), so the target is the last durable entry:
    /// with a single voter every one of them commits once the leader's
    /// first entry of its term does. (With peers this becomes "the leader's
    /// commit index".)
    async fn replay_committed(&mut self) -> Result<(), ShardError> {
        let committed = self.raw.raft.raft_log.last_index();
        let mut idle_turns = 0;
        while self.applied_index < committed {
            let before = self.applied_index;
            self.turn(Vec::new()).await?;
            if self.applied_index == before {
                if let Some(sync) = self.syncs.front_mut() {
                    // Entries commit once their sync completes: wait for it.
                    let synced = (&mut sync.sync).await;
                    let sync = self
                        .syncs
                        .pop_front()
                        .expect("the sync just awaited is the oldest");
                    self.sync_finished(sync.ready_number, synced)?;
                    continue;
                }
                idle_turns += 1;
                if idle_turns > REPLAY_IDLE_TURNS_MAX {
                    return Err(ShardError::Recovery(format!(
                        "replay stalled at index {} of {committed}",
                        self.applied_index
                    )));
                }
                // Nothing in flight and no progress (not seen so far):
                // give raft time, within the bound.
                glommio::timer::sleep(Duration::from_millis(1)).await;
            }
        }
        tracing::info!(applied = self.applied_index, "replayed the committed log");
        Ok(())
    }

    /// One loop turn.
    async fn turn(&mut self, batch: Vec<Envelope>) -> Result<(), ShardError> {
        self.reap_syncs().await?;
        let mut reads = Vec::new();
        for env in batch {
            let waiter = Waiter {
                from_core: env.from_core,
                req_id: env.req_id,
            };
            self.handle(waiter, env.req, env.token.as_deref(), &mut reads)
                .await?;
        }
        self.unissued_reads.extend(reads);
        if !self.unissued_reads.is_empty() {
            let reads = std::mem::take(&mut self.unissued_reads);
            if self.no_space {
                // Frozen: nothing can commit any more, so applied state is final.
                self.ready_reads.push((0, reads));
            } else if self.raw.raft.state == StateRole::Leader
                && !self.raw.raft.commit_to_current_term()
            {
                // raft drops a ReadIndex until the leader committed an entry
                // of its term; with syncs in flight the loop serves requests
                // in that window (right after startup). Asked again once the
                // sync of the leader's first entry completed.
                self.unissued_reads = reads;
            } else {
                let ctx = self.next_read_ctx.to_be_bytes().to_vec();
                self.next_read_ctx += 1;
                self.raw.read_index(ctx.clone());
                self.read_batches.insert(ctx, reads);
            }
        }
        let ticked = self.last_tick.elapsed() >= Duration::from_millis(config::TICK_MS);
        if ticked {
            self.last_tick = Instant::now();
            self.raw.tick();
            self.check_space();
            if self.alarms_dirty {
                self.persist_alarms().await;
            }
            self.lease_housekeeping();
        }
        self.propose_batch();
        if !self.no_space {
            self.process_ready().await?;
            self.persist().await?;
        }
        self.serve_ready_reads().await;
        self.publish_events();
        if let Some(make_spare) = self.wal.prepare_spare() {
            // The next WAL segment is made in the background, so the write
            // path only renames it when the active one fills up.
            glommio::spawn_local(make_spare).detach();
        }
        if self.store.unflushed_bytes() >= MVCC_FLUSH_BYTES
            || (ticked && self.store.unflushed_bytes() > 0)
        {
            self.store.flush().await?;
        }
        if self.compaction_running {
            self.compaction_running = !self.store.compact_step(COMPACTION_STEP_KEYS).await?;
        }
        if !self.compaction_running && !self.physical_compaction_waiters.is_empty() {
            for (w, reply) in std::mem::take(&mut self.physical_compaction_waiters) {
                self.reply(w, reply).await;
            }
        }
        self.finish_defragment().await?;
        self.step_hashes().await;
        if self.applied_requests_since_checkpoint >= self.opts.snapshot_count {
            self.checkpoint().await?;
        }
        Ok(())
    }

    /// The header of cluster answers (membership): no store revision, as etcd's.
    fn cluster_header(&self) -> pb::ResponseHeader {
        pb::ResponseHeader {
            revision: 0,
            ..self.header()
        }
    }

    fn header(&self) -> pb::ResponseHeader {
        pb::ResponseHeader {
            cluster_id: self.opts.cluster_id,
            member_id: self.opts.member_id,
            revision: self.store.current_revision(),
            raft_term: self.raw.raft.term,
        }
    }

    async fn reply(&self, w: Waiter, reply: Reply) {
        if let Some(tx) = self.downlinks.get(w.from_core) {
            tx.send(Downlink::Reply {
                req_id: w.req_id,
                reply,
            })
            .await;
        }
    }

    async fn handle(
        &mut self,
        w: Waiter,
        req: Request,
        token: Option<&str>,
        reads: &mut Vec<ReadJob>,
    ) -> Result<(), ShardError> {
        let now = self.now_ms();
        // Auth disabled and no token: one flag check, nothing else.
        let mut user = None;
        if self.auth.is_enabled() || token.is_some() {
            match self.authorize(&req, token, now) {
                Ok(u) => user = u,
                Err(e) => {
                    self.reply(w, Err(e)).await;
                    return Ok(());
                }
            }
        }
        let corrupt = matches!(
            req,
            Request::Range(_)
                | Request::Put(_)
                | Request::DeleteRange(_)
                | Request::Txn(_)
                | Request::Compact(_)
                | Request::LeaseGrant(_)
                | Request::LeaseRevoke(_)
        ) && self
            .alarms
            .any(etcq_net::pb::etcdserverpb::AlarmType::Corrupt);
        if corrupt {
            // etcd's applierV3Corrupt: the data cannot be trusted.
            self.reply(w, Err(errors::corrupt())).await;
            return Ok(());
        }
        let reply: Reply = match req {
            Request::Range(r) if !r.serializable => {
                reads.push(ReadJob { waiter: w, req: r });
                return Ok(());
            }
            Request::Range(r) => self.range(&r).map(Response::Range),
            Request::Put(r) => {
                self.propose(w, Op::Put(r)).await;
                return Ok(());
            }
            Request::DeleteRange(r) => {
                self.propose(w, Op::DeleteRange(r)).await;
                return Ok(());
            }
            Request::Txn(r) => {
                self.propose(w, Op::Txn(r)).await;
                return Ok(());
            }
            Request::Compact(r) => {
                self.propose(w, Op::Compaction(r)).await;
                return Ok(());
            }
            Request::LeaseGrant(mut r) => match self.lessor.check_grant(r.id, r.ttl) {
                Err(e) => Err(e),
                Ok(_) => {
                    if r.id == 0 {
                        r.id = self.new_lease_id();
                    }
                    self.propose(w, Op::LeaseGrant(r)).await;
                    return Ok(());
                }
            },
            Request::LeaseRevoke(r) => {
                if !self.lessor.contains(r.id) {
                    Err(errors::lease_not_found())
                } else {
                    self.propose(w, Op::LeaseRevoke(r)).await;
                    return Ok(());
                }
            }
            Request::LeaseKeepAlive(r) => {
                let ttl = match self.lessor.renew(r.id, now) {
                    Ok((ttl, reset_checkpoint)) => {
                        if reset_checkpoint {
                            let cp = pb::LeaseCheckpoint {
                                id: r.id,
                                remaining_ttl: 0,
                            };
                            self.propose_internal(Op::LeaseCheckpoint(
                                pb::LeaseCheckpointRequest {
                                    checkpoints: vec![cp],
                                },
                            ));
                        }
                        ttl
                    }
                    Err(_) => 0,
                };
                Ok(Response::LeaseKeepAlive(pb::LeaseKeepAliveResponse {
                    header: Some(self.header()),
                    id: r.id,
                    ttl,
                }))
            }
            Request::LeaseTimeToLive(r) => {
                Ok(Response::LeaseTimeToLive(match self.lessor.get(r.id) {
                    None => pb::LeaseTimeToLiveResponse {
                        header: Some(self.header()),
                        id: r.id,
                        ttl: -1,
                        ..Default::default()
                    },
                    Some(l) => pb::LeaseTimeToLiveResponse {
                        header: Some(self.header()),
                        id: r.id,
                        ttl: l.remaining_secs(now),
                        granted_ttl: l.ttl_secs,
                        keys: if r.keys {
                            l.keys.iter().cloned().collect()
                        } else {
                            Vec::new()
                        },
                    },
                }))
            }
            Request::LeaseLeases(_) => Ok(Response::LeaseLeases(pb::LeaseLeasesResponse {
                header: Some(self.header()),
                leases: self.lessor.ids().map(|id| pb::LeaseStatus { id }).collect(),
            })),
            Request::Status(_) => Ok(Response::Status(self.status())),
            Request::MemberList(_) => Ok(Response::MemberList(pb::MemberListResponse {
                header: Some(self.cluster_header()),
                members: self.members(),
            })),
            Request::MemberAdd(r) => self.member_add(&r),
            Request::MemberRemove(r) => self.member_remove(&r),
            Request::MemberUpdate(r) => self.member_update(&r),
            Request::MemberPromote(r) => self.member_promote(&r),
            Request::Alarm(r) => self.alarm(r).await,
            Request::Defragment(_) => match self.defragment(w) {
                Some(reply) => reply,
                None => return Ok(()),
            },
            Request::Hash(_) => match self.start_hash(w, maintenance::HashKind::Hash, 0) {
                Some(reply) => reply,
                None => return Ok(()),
            },
            Request::HashKv(r) => {
                match self.start_hash(w, maintenance::HashKind::HashKv, r.revision) {
                    Some(reply) => reply,
                    None => return Ok(()),
                }
            }
            Request::Snapshot(_) => self.snapshot().await?,
            Request::MoveLeader(r) => self.move_leader(&r),
            Request::Auth(a) => match self.auth_request(w, a, user.as_deref()).await {
                Some(reply) => reply,
                None => return Ok(()),
            },
            Request::WatchHistory(h) => {
                let reply = self.history(h);
                if let Some(tx) = self.downlinks.get(w.from_core) {
                    tx.send(Downlink::History(reply)).await;
                }
                return Ok(());
            }
            Request::Tick => return Ok(()), // the turn checks the elapsed time itself
            Request::WatchInterest(on) => {
                if let Some(slot) = self.watch_interest.get_mut(w.from_core) {
                    *slot = on;
                }
                return Ok(());
            }
        };
        self.reply(w, reply).await;
        Ok(())
    }

    fn member(&self) -> pb::Member {
        pb::Member {
            id: self.opts.member_id,
            name: self.opts.name.clone(),
            peer_ur_ls: self.peer_urls.clone(),
            client_ur_ls: self.opts.client_urls.clone(),
            is_learner: false,
        }
    }

    fn status(&self) -> pb::StatusResponse {
        let errors = self.alarms.status_errors();
        pb::StatusResponse {
            header: Some(self.header()),
            version: ETCD_API_VERSION.to_string(),
            db_size: self.store.db_size_bytes() as i64,
            leader: if self.raw.raft.state == StateRole::Leader {
                self.opts.member_id
            } else {
                self.raw.raft.leader_id
            },
            // etcd reports the committed index: with syncs in flight the
            // last index may name entries that are not durable yet.
            raft_index: self.raw.raft.raft_log.committed,
            raft_term: self.raw.raft.term,
            raft_applied_index: self.applied_index,
            errors,
            db_size_in_use: self.store.db_size_bytes() as i64,
            is_learner: false,
            ..Default::default()
        }
    }

    fn range(&self, r: &pb::RangeRequest) -> Result<pb::RangeResponse, EtcdError> {
        let mut resp = read::range_with(r, |q| self.store.range(q))?;
        resp.header = Some(self.header());
        Ok(resp)
    }

    fn history(&self, h: HistoryRequest) -> HistoryReply {
        let current = self.store.current_revision();
        let result = if h.start_revision <= 0 {
            Ok(History {
                events: Vec::new(),
                next_revision: current + 1,
                current_revision: current,
                raft_term: self.raw.raft.term,
            })
        } else {
            match self
                .store
                .events_since(&h.key, &h.range_end, h.start_revision, h.max_events)
            {
                Ok((events, next)) => Ok(History {
                    events: events.into_iter().map(apply::into_pb_event).collect(),
                    next_revision: next,
                    current_revision: current,
                    raft_term: self.raw.raft.term,
                }),
                Err(MvccError::Compacted { compact_revision }) => {
                    Err(HistoryError::Compacted { compact_revision })
                }
                Err(e) => Err(HistoryError::Other(apply::mvcc_error(e))),
            }
        };
        HistoryReply {
            watcher: h.watcher,
            result,
        }
    }

    fn new_lease_id(&mut self) -> i64 {
        // Unique, positive, unpredictable enough; chosen before proposing so apply is deterministic.
        loop {
            let t = self.epoch.elapsed().as_nanos() as u64;
            let id =
                ((self.opts.member_id.rotate_left(17) ^ t ^ self.next_proposal_id.rotate_left(40))
                    >> 1) as i64;
            self.next_proposal_id += 1;
            if id != 0 && !self.lessor.contains(id) {
                return id;
            }
        }
    }

    /// Raises the NOSPACE alarm when the store is over its quota or the disk
    /// under its free-space reserve. As in etcd it stays raised until
    /// `alarm disarm`; a disarmed alarm is raised again here if space is
    /// still short.
    fn check_space(&mut self) {
        let me = self.opts.member_id;
        if self
            .alarms
            .has(me, etcq_net::pb::etcdserverpb::AlarmType::Nospace)
        {
            return;
        }
        let over_quota = self.store.db_size_bytes() > self.opts.quota_backend_bytes;
        let free = free_bytes(&self.opts.data_dir);
        let low_disk = free.is_some_and(|f| f < self.opts.disk_free_reserve_bytes);
        if over_quota || low_disk {
            tracing::error!(
                db_size = self.store.db_size_bytes(),
                quota = self.opts.quota_backend_bytes,
                disk_free = free,
                "NOSPACE alarm raised: writes refused, reads and deletes still served; \
                 free space (compact, defrag) and disarm it"
            );
            self.raise_no_space();
        }
    }

    /// Whether writes that add data are refused (etcd's NOSPACE alarm).
    fn space_alarm(&self) -> bool {
        self.alarms
            .any(etcq_net::pb::etcdserverpb::AlarmType::Nospace)
    }

    /// Proposes a client write; the client is answered once it is applied.
    async fn propose(&mut self, w: Waiter, op: Op) {
        if self.no_space || (self.space_alarm() && adds_data(&op)) {
            return self.reply(w, Err(errors::no_space())).await;
        }
        if self.raw.raft.state != StateRole::Leader {
            return self.reply(w, Err(errors::not_leader())).await;
        }
        let id = self.next_proposal_id;
        self.next_proposal_id += 1;
        if let Err(e) = self.enqueue(InternalRequest { id, op: Some(op) }) {
            return self.reply(w, Err(e)).await;
        }
        self.waiting.insert(id, w);
    }

    /// Adds a request to the turn's batch, proposing the batch first if the
    /// request would not fit in it.
    fn enqueue(&mut self, req: InternalRequest) -> Result<(), EtcdError> {
        let len = req.encoded_len() + BATCH_ITEM_OVERHEAD_BYTES;
        let cap = self.entry_bytes_max.min(BATCH_BYTES_MAX);
        if len > self.entry_bytes_max {
            return Err(errors::request_too_large());
        }
        if self.batch_bytes + len > cap {
            self.propose_batch();
        }
        self.batch_bytes += len;
        self.batch.push(req);
        Ok(())
    }

    /// Proposes the gathered requests as one raft entry.
    fn propose_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = ProposalBatch {
            requests: std::mem::take(&mut self.batch),
        };
        self.batch_bytes = 0;
        let data = batch.encode_to_vec();
        if let Err(e) = self.raw.propose(vec![], data) {
            tracing::warn!("proposal of a batch failed: {e}");
            for req in &batch.requests {
                if let Some(w) = self.waiting.remove(&req.id) {
                    if let Some(tx) = self.downlinks.get(w.from_core) {
                        let _ = tx.try_send(Downlink::Reply {
                            req_id: w.req_id,
                            reply: Err(errors::internal(&e)),
                        });
                    }
                }
            }
        }
    }

    /// Proposes an internal write nobody waits for (lease expiry, checkpoints).
    fn propose_internal(&mut self, op: Op) {
        if self.no_space || self.raw.raft.state != StateRole::Leader {
            return;
        }
        if let Err(e) = self.enqueue(InternalRequest {
            id: 0,
            op: Some(op),
        }) {
            tracing::warn!("internal proposal dropped: {e}");
        }
    }

    fn lease_housekeeping(&mut self) {
        if !self.lessor.is_primary() {
            return;
        }
        let now = self.now_ms();
        for id in self.lessor.expired(now, LEASE_REVOKES_PER_TICK_MAX) {
            self.propose_internal(Op::LeaseRevoke(pb::LeaseRevokeRequest { id }));
        }
        if now >= self.last_lease_checkpoint_ms + LEASE_CHECKPOINT_INTERVAL_MS {
            self.last_lease_checkpoint_ms = now;
            let checkpoints: Vec<_> = self
                .lessor
                .checkpoints(now)
                .into_iter()
                .map(|(id, remaining_ttl)| pb::LeaseCheckpoint { id, remaining_ttl })
                .collect();
            if !checkpoints.is_empty() {
                self.propose_internal(Op::LeaseCheckpoint(pb::LeaseCheckpointRequest {
                    checkpoints,
                }));
            }
        }
    }

    /// Handles every `Ready`: hands new entries and hard state to the WAL
    /// (written, a sync started), then applies what raft says is committed
    /// (and persisted). Persisting is asynchronous (`advance_append_async`):
    /// raft learns about it in `sync_finished`.
    async fn process_ready(&mut self) -> Result<(), ShardError> {
        while self.raw.has_ready() {
            let mut rd = self.raw.ready();
            if let Some(ss) = rd.ss() {
                if ss.raft_state == StateRole::Leader {
                    self.lessor.promote(self.now_ms());
                } else {
                    self.lessor.demote();
                }
            }
            // Single member: there are no peers to send messages to.
            debug_assert!(rd.messages().is_empty() && rd.persisted_messages().is_empty());
            if !rd.snapshot().is_empty() {
                return Err(ShardError::Recovery(
                    "raft snapshots arrive with clustering".into(),
                ));
            }
            let committed = rd.take_committed_entries();
            let entries = rd.entries();
            if !entries.is_empty() {
                for e in entries {
                    let bytes = e
                        .write_to_bytes()
                        .expect("encoding a raft entry cannot fail");
                    self.wal.append_entry(e.index, e.term, &bytes);
                }
                self.raw.mut_store().wl().append(entries)?;
            }
            if let Some(hs) = rd.hs() {
                // Buffered after this ready's entries and before any later
                // ready's: the WAL keeps the order, so a durable hard state
                // never points past durable entries.
                self.wal.set_hard_state(raft_log::to_wal_hard_state(hs));
                self.raw.mut_store().wl().set_hardstate(hs.clone());
            }
            // A commit-index-only change need not be flushed on its own: it
            // rides on the next sync.
            self.unsynced_must_sync |= rd.must_sync();
            self.written_ready = rd.number();
            for rs in rd.take_read_states() {
                if let Some(jobs) = self.read_batches.remove(&rs.request_ctx) {
                    self.ready_reads.push((rs.index, jobs));
                }
            }
            self.raw.advance_append_async(rd);
            // Start this ready's sync before applying the previous ones'
            // entries, so the flush runs while we apply.
            self.persist().await?;
            if self.syncs.is_empty() && !self.unsynced_must_sync {
                // Nothing this or an earlier ready wrote still waits for a
                // sync (at most a commit index, which needs none): raft may
                // forget these readies (else a read-only load would grow
                // raft's list of unpersisted readies without bound).
                self.raw.on_persist_ready(self.written_ready);
            }
            self.apply_entries(committed).await?;
            self.raw.advance_apply();
            if self.no_space {
                break;
            }
        }
        Ok(())
    }

    /// Writes what `process_ready` buffered and starts a sync for it when a
    /// slot is free; otherwise a later turn's sync covers it.
    async fn persist(&mut self) -> Result<(), ShardError> {
        if !self.unsynced_must_sync {
            // At most a commit-index change: it waits in the buffer for the
            // next write rather than costing a write of its own.
            return Ok(());
        }
        if self.wal.pending_bytes() > 0 {
            if let Err(e) = self.wal.write().await {
                return self.storage_failed(e);
            }
        }
        if self.syncs.len() < config::WAL_SYNCS_IN_FLIGHT_MAX {
            let ready_number = self.written_ready;
            self.unsynced_must_sync = false;
            let mut sync = self.wal.start_sync().boxed_local();
            // Polled once right away so the flush is queued to the ring now,
            // behind the write that just completed; the loop's task is woken
            // when it completes.
            match futures::poll!(&mut sync) {
                Poll::Ready(synced) => self.sync_finished(ready_number, synced)?,
                Poll::Pending => self.syncs.push_back(SyncInFlight { ready_number, sync }),
            }
        }
        Ok(())
    }

    /// Notes every sync that completed, oldest first, without waiting.
    async fn reap_syncs(&mut self) -> Result<(), ShardError> {
        while let Some(sync) = self.syncs.front_mut() {
            match futures::poll!(&mut sync.sync) {
                Poll::Ready(synced) => {
                    let sync = self
                        .syncs
                        .pop_front()
                        .expect("the sync just polled is the oldest");
                    self.sync_finished(sync.ready_number, synced)?;
                }
                Poll::Pending => break,
            }
        }
        Ok(())
    }

    /// A sync covering the readies up to `ready_number` completed with
    /// `synced`: they are persisted, so raft may commit (and we apply) their
    /// entries.
    fn sync_finished(
        &mut self,
        ready_number: u64,
        synced: Result<WalPosition, WalError>,
    ) -> Result<(), ShardError> {
        match self.wal.complete_sync(synced) {
            Ok(_) => {
                self.raw.on_persist_ready(ready_number);
                Ok(())
            }
            Err(e) => self.storage_failed(e),
        }
    }

    /// A WAL write failed. Out of space: raise the NOSPACE alarm, refuse writes
    /// from now on, fail every waiting write, keep serving reads. Anything else:
    /// stop (the disk is in an unknown state).
    fn storage_failed(&mut self, e: WalError) -> Result<(), ShardError> {
        if matches!(e, WalError::NoSpace { .. }) {
            tracing::error!(
                "WAL out of space: NOSPACE alarm raised; writes refused, reads still served"
            );
            self.no_space = true;
            self.raise_no_space();
            // Nothing more can become durable: what the syncs in flight
            // cover is refused below with everything else still waiting.
            self.syncs.clear();
            let waiting: Vec<_> = self.waiting.drain().map(|(_, w)| w).collect();
            for w in waiting {
                if let Some(tx) = self.downlinks.get(w.from_core) {
                    let _ = tx.try_send(Downlink::Reply {
                        req_id: w.req_id,
                        reply: Err(errors::no_space()),
                    });
                }
            }
            // Pending linearizable reads can be served from the frozen state.
            for (_, jobs) in self.read_batches.drain() {
                self.ready_reads.push((0, jobs));
            }
            return Ok(());
        }
        Err(ShardError::Wal(e))
    }

    async fn apply_entries(&mut self, entries: Vec<Entry>) -> Result<(), ShardError> {
        for entry in entries {
            if entry.index <= self.applied_index {
                continue;
            }
            self.applied_index = entry.index;
            if entry.get_entry_type() != EntryType::EntryNormal || entry.data.is_empty() {
                continue; // leader's empty entry; conf changes arrive with clustering
            }
            let batch = match ProposalBatch::decode(&entry.data[..]) {
                Ok(b) => b,
                Err(e) => {
                    return Err(ShardError::Recovery(format!(
                        "undecodable entry at index {}: {e}",
                        entry.index
                    )));
                }
            };
            for req in batch.requests {
                self.apply_request(req, entry.index).await?;
            }
        }
        Ok(())
    }

    /// Applies one request of a committed entry and answers whoever waits for it.
    async fn apply_request(&mut self, req: InternalRequest, index: u64) -> Result<(), ShardError> {
        self.applied_requests_since_checkpoint += 1;
        let Some(op) = req.op else { return Ok(()) };
        let now = self.now_ms();
        let physical = matches!(&op, Op::Compaction(c) if c.physical);
        if matches!(op, Op::Compaction(_)) {
            self.compaction_running = true;
        }
        let applied = apply::apply(
            &mut self.store,
            &mut self.lessor,
            &mut self.auth,
            op,
            index,
            now,
            self.watch_interest.iter().any(|&on| on),
        )?;
        self.turn_events.extend(applied.events);
        if let Some(w) = self.waiting.remove(&req.id) {
            let header = Some(self.header());
            let reply = applied.result.map(|r| match r {
                AppliedResponse::Put(mut r) => {
                    r.header = header;
                    Response::Put(r)
                }
                AppliedResponse::DeleteRange(mut r) => {
                    r.header = header;
                    Response::DeleteRange(r)
                }
                AppliedResponse::Txn(mut r) => {
                    set_txn_headers(&mut r, &header);
                    Response::Txn(r)
                }
                AppliedResponse::Compaction(mut r) => {
                    r.header = header;
                    Response::Compact(r)
                }
                AppliedResponse::LeaseGrant(mut r) => {
                    r.header = header;
                    Response::LeaseGrant(r)
                }
                AppliedResponse::LeaseRevoke(mut r) => {
                    r.header = header;
                    Response::LeaseRevoke(r)
                }
                AppliedResponse::LeaseCheckpoint => Response::Done,
                AppliedResponse::Auth(mut r) => {
                    r.set_header(header);
                    Response::Auth(r)
                }
            });
            if physical && reply.is_ok() {
                // Answered once the compaction's cleanup has run (etcd's --physical).
                self.physical_compaction_waiters.push((w, reply));
            } else {
                self.reply(w, reply).await;
            }
        }
        Ok(())
    }

    async fn serve_ready_reads(&mut self) {
        let applied = self.applied_index;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.ready_reads)
            .into_iter()
            .partition(|(index, _)| *index <= applied);
        self.ready_reads = waiting;
        for (_, jobs) in ready {
            for job in jobs {
                let reply = self.range(&job.req).map(Response::Range);
                self.reply(job.waiter, reply).await;
            }
        }
    }

    /// Sends the turn's events to every core with watchers without ever
    /// waiting: a core whose channel is full is told later to catch up.
    fn publish_events(&mut self) {
        if self.turn_events.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.turn_events);
        let first_rev = events
            .first()
            .and_then(|e| e.kv.as_ref())
            .map(|kv| kv.mod_revision)
            .unwrap_or(0);
        let batch = Arc::new(EventBatch {
            revision: self.store.current_revision(),
            raft_term: self.raw.raft.term,
            events,
        });
        for (core, tx) in self.downlinks.iter().enumerate() {
            if !self.watch_interest[core] {
                continue;
            }
            if let Some(from_revision) = self.lagging[core] {
                if !tx.try_send(Downlink::Gap { from_revision }) {
                    continue;
                }
                self.lagging[core] = None;
            }
            if !tx.try_send(Downlink::Events(batch.clone())) {
                self.lagging[core] = Some(first_rev);
            }
        }
    }

    /// Makes the store durable at the applied index and lets the WAL forget
    /// what came before it.
    async fn checkpoint(&mut self) -> Result<(), ShardError> {
        if self.applied_index == self.checkpoint_index || self.no_space {
            return Ok(());
        }
        let index = self.applied_index;
        let term = self.raw.raft.raft_log.term(index)?;
        let meta = checkpoint_meta(&self.lessor, &self.auth);
        self.store.checkpoint(index, &meta).await?;
        self.wal.set_snapshot(index, term);
        self.wal.sync().await?;
        // That sync covered every ready written so far.
        self.raw.on_persist_ready(self.written_ready);
        self.unsynced_must_sync = false;
        self.raw.mut_store().wl().compact(index)?;
        let purged = self.wal.purge(index).await?;
        tracing::debug!(index, purged, "checkpoint");
        self.checkpoint_index = index;
        self.applied_requests_since_checkpoint = 0;
        Ok(())
    }
}

/// Whether an op can grow the store (refused under the NOSPACE alarm, as etcd's quota does).
fn adds_data(op: &Op) -> bool {
    fn txn_puts(t: &pb::TxnRequest) -> bool {
        t.success
            .iter()
            .chain(&t.failure)
            .any(|op| match &op.request {
                Some(pb::request_op::Request::RequestPut(_)) => true,
                Some(pb::request_op::Request::RequestTxn(t)) => txn_puts(t),
                _ => false,
            })
    }
    match op {
        Op::Put(_) | Op::LeaseGrant(_) => true,
        Op::Txn(t) => txn_puts(t),
        // Auth ops change the checkpoint's meta blob, not the key space.
        _ => false,
    }
}

/// Marks the auth state's part of the checkpoint meta blob.
const AUTH_META_MAGIC: &[u8; 4] = b"AUTH";

/// The checkpoint's meta blob: the lessor's state, then (when there is any)
/// the auth state after [`AUTH_META_MAGIC`]. A blob written before auth
/// existed is the lessor's state alone.
fn checkpoint_meta(lessor: &Lessor, auth: &AuthStore) -> Vec<u8> {
    let mut meta = lessor.encode();
    let auth = auth.encode();
    if !auth.is_empty() {
        meta.extend_from_slice(AUTH_META_MAGIC);
        meta.extend_from_slice(&auth);
    }
    meta
}

/// Splits a meta blob written by [`checkpoint_meta`] into (lessor, auth).
fn split_checkpoint_meta(meta: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let Some(count) = meta.get(..4) else {
        return Ok((meta, &[]));
    };
    let count = u32::from_le_bytes(count.try_into().expect("4 bytes")) as usize;
    let lease_len = count
        .checked_mul(24)
        .and_then(|n| n.checked_add(4))
        .filter(|&n| n <= meta.len())
        .ok_or_else(|| format!("checkpoint meta: {} bytes for {count} leases", meta.len()))?;
    let (lease, rest) = meta.split_at(lease_len);
    if rest.is_empty() {
        return Ok((lease, &[]));
    }
    match rest.strip_prefix(&AUTH_META_MAGIC[..]) {
        Some(auth) => Ok((lease, auth)),
        None => Err("checkpoint meta: unknown bytes after the lease state".into()),
    }
}

/// Free bytes for unprivileged users on the file system holding `path`.
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// A txn's own header is the full one; its ops keep the revision they ran
/// at (set by apply), as etcd's do.
fn set_txn_headers(r: &mut pb::TxnResponse, header: &Option<pb::ResponseHeader>) {
    r.header = *header;
}

/// etcd's minimum lease TTL: 1.5 election timeouts, rounded up to seconds.
fn min_lease_ttl_secs() -> i64 {
    let ms = (3 * config::ELECTION_TICKS as u64 * config::TICK_MS) / 2;
    ms.div_ceil(1000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_meta_holds_leases_then_auth_and_reads_blobs_from_before_auth() {
        let mut lessor = Lessor::new(2);
        lessor.grant(7, 10, 0).expect("grant");
        let mut auth = AuthStore::default();
        // No auth state: the blob is the lessor's alone, as before auth existed.
        let meta = checkpoint_meta(&lessor, &auth);
        assert_eq!(meta, lessor.encode());
        assert_eq!(
            split_checkpoint_meta(&meta),
            Ok((&lessor.encode()[..], &[][..]))
        );
        assert_eq!(split_checkpoint_meta(&[]), Ok((&[][..], &[][..])));
        auth.user_add("root", None).expect("user");
        let meta = checkpoint_meta(&lessor, &auth);
        let (l, a) = split_checkpoint_meta(&meta).expect("split");
        assert_eq!(l, &lessor.encode()[..]);
        assert_eq!(a, &auth.encode()[..]);
        // Garbage after the leases, or a short lease part, is refused.
        let mut bad = lessor.encode();
        bad.extend_from_slice(b"XXXX");
        assert!(split_checkpoint_meta(&bad).is_err());
        assert!(split_checkpoint_meta(&meta[..10]).is_err());
    }
}
