//! The Maintenance and Cluster services on the raft core: alarms,
//! defragmentation, hashes, snapshots, leader transfer and member changes,
//! with etcd 3.4's answers for a single member.
//!
//! Cluster-shaped on purpose: members are looked up in [`Shard::members`]
//! (one today), leader transfer validates its target against that list and
//! only the transfer itself is missing, and member changes check what etcd
//! checks before refusing the part that needs raft membership changes.

use etcq_net::pb::etcdserverpb as pb;
use etcq_storage::disk::Disk;
use etcq_storage::mvcc::{HashKvJob, MvccError};
use raft::StateRole;

use super::alarm::Alarms;
use super::snapshot::{SnapshotPlan, SNAPSHOT_TMP_DIR};
use super::{apply, Shard, ShardError, Waiter};
use crate::errors::{self, Code, EtcdError};
use crate::mesh::{Reply, Response};

/// Keys hashed per loop turn by a running Hash/HashKV.
pub(super) const HASH_STEP_KEYS: usize = 2000;

/// Which RPC a hash job answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HashKind {
    Hash,
    HashKv,
}

pub(super) struct HashJob {
    pub(super) waiter: Waiter,
    pub(super) kind: HashKind,
    pub(super) job: HashKvJob,
}

fn not_yet(what: &str) -> EtcdError {
    EtcdError::new(
        Code::Unimplemented,
        format!("etcq: {what} needs clustering (raft membership changes and a peer transport), which this server does not have yet"),
    )
}

/// etcd's `types.NewURLs` check: scheme http/https/unix/unixs, a host with
/// a port, no path.
fn valid_url(u: &str) -> bool {
    let Some((scheme, rest)) = u.split_once("://") else {
        return false;
    };
    if !matches!(scheme, "http" | "https" | "unix" | "unixs") {
        return false;
    }
    if rest.is_empty() || rest.contains('/') {
        return false;
    }
    match rest.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

fn check_urls(urls: &[String]) -> Result<(), EtcdError> {
    if urls.iter().all(|u| valid_url(u)) {
        Ok(())
    } else {
        Err(errors::member_bad_urls())
    }
}

impl<D: Disk> Shard<D> {
    /// Every member of the cluster (this one, until clustering).
    pub(super) fn members(&self) -> Vec<pb::Member> {
        vec![self.member()]
    }

    fn find_member(&self, id: u64) -> Option<pb::Member> {
        self.members().into_iter().find(|m| m.id == id)
    }

    // ------------------------------------------------------------------ alarms

    /// etcd's Alarm: GET lists, ACTIVATE raises, DEACTIVATE clears; the
    /// response lists the alarms affected (all matching for GET).
    pub(super) async fn alarm(&mut self, r: pb::AlarmRequest) -> Reply {
        use pb::alarm_request::AlarmAction;
        let mut alarms = Vec::new();
        match AlarmAction::try_from(r.action) {
            Ok(AlarmAction::Get) => alarms = self.alarms.get(r.alarm),
            Ok(AlarmAction::Activate) => {
                if let Some((m, new)) = self.alarms.activate(r.member_id, r.alarm) {
                    alarms.push(m);
                    if new {
                        tracing::warn!(member = r.member_id, alarm = r.alarm, "alarm activated");
                        self.persist_alarms().await;
                    }
                }
            }
            Ok(AlarmAction::Deactivate) => {
                if let Some(m) = self.alarms.deactivate(r.member_id, r.alarm) {
                    alarms.push(m);
                    tracing::warn!(member = r.member_id, alarm = r.alarm, "alarm deactivated");
                    self.persist_alarms().await;
                }
            }
            // etcd answers an unknown action with an empty response.
            Err(_) => {}
        }
        // etcd's Alarm answer carries no header.
        Ok(Response::Alarm(pb::AlarmResponse {
            header: None,
            alarms,
        }))
    }

    /// Raises this member's NOSPACE alarm (a no-op if it is raised).
    pub(super) fn raise_no_space(&mut self) {
        let me = self.opts.member_id;
        if let Some((_, true)) = self.alarms.activate(me, pb::AlarmType::Nospace as i32) {
            self.alarms_dirty = true;
        }
    }

    /// Writes the alarm list; on failure (the disk may be full) it is
    /// retried at the next tick, and the in-memory list stays in force.
    pub(super) async fn persist_alarms(&mut self) {
        let dir = self.opts.data_dir.join("member");
        match self.alarms.save(&self.disk, &dir).await {
            Ok(()) => self.alarms_dirty = false,
            Err(e) => {
                self.alarms_dirty = true;
                tracing::warn!("cannot persist the alarm list (retried at the next tick): {e}");
            }
        }
    }

    pub(super) async fn load_alarms(
        disk: &D,
        data_dir: &std::path::Path,
    ) -> Result<Alarms, ShardError> {
        Alarms::load(disk, &data_dir.join("member"))
            .await
            .map_err(ShardError::Recovery)
    }

    // ------------------------------------------------------------------ defragment

    /// Starts a defragmentation; the caller is answered once it is done and
    /// the cleaned segments' files are deleted.
    pub(super) fn defragment(&mut self, w: Waiter) -> Option<Reply> {
        if self.no_space {
            // The WAL is full: nothing can be made durable, so nothing is freed either.
            return Some(Err(errors::no_space()));
        }
        self.store.defragment();
        self.compaction_running = true;
        self.defrag_waiters.push(w);
        None
    }

    /// Answers the defragment callers once the store's cleaning is done.
    pub(super) async fn finish_defragment(&mut self) -> Result<(), ShardError> {
        if self.compaction_running || self.defrag_waiters.is_empty() {
            return Ok(());
        }
        // Deletes the retired segments' files (a checkpoint even if nothing
        // was applied since the last one).
        if !self.no_space {
            if self.applied_index != self.checkpoint_index {
                self.checkpoint().await?;
            } else {
                self.store
                    .checkpoint(self.checkpoint_index, &self.lessor.encode())
                    .await?;
            }
        }
        tracing::info!(db_size = self.store.db_size_bytes(), "defragmented");
        for w in std::mem::take(&mut self.defrag_waiters) {
            // etcd's Defragment answer carries no header.
            let reply = Ok(Response::Defragment(pb::DefragmentResponse {
                header: None,
            }));
            self.reply(w, reply).await;
        }
        Ok(())
    }

    // ------------------------------------------------------------------ hash

    /// Starts a Hash (HashKV at the current revision, docs/mvcc.md §7.1) or
    /// a HashKV with etcd's revision checks.
    pub(super) fn start_hash(&mut self, w: Waiter, kind: HashKind, revision: i64) -> Option<Reply> {
        let compact = self.store.compact_revision();
        if revision > 0 && revision <= compact {
            // etcd's HashByRev refuses the compact revision itself too.
            return Some(Err(errors::compacted()));
        }
        match self.store.hash_kv_begin(revision) {
            Ok(job) => {
                self.hash_jobs.push(HashJob {
                    waiter: w,
                    kind,
                    job,
                });
                None
            }
            Err(e) => Some(Err(apply::mvcc_error(e))),
        }
    }

    /// Advances every running hash by one step, answering the finished ones.
    pub(super) async fn step_hashes(&mut self) {
        if self.hash_jobs.is_empty() {
            return;
        }
        let mut jobs = std::mem::take(&mut self.hash_jobs);
        let mut i = 0;
        while i < jobs.len() {
            let step = self.store.hash_kv_step(&mut jobs[i].job, HASH_STEP_KEYS);
            let done = match step {
                Ok(None) => {
                    i += 1;
                    continue;
                }
                Ok(Some((hash, compact_revision))) => {
                    let j = &jobs[i];
                    Ok(match j.kind {
                        HashKind::Hash => Response::Hash(pb::HashResponse {
                            header: Some(self.header()),
                            hash,
                        }),
                        HashKind::HashKv => Response::HashKv(pb::HashKvResponse {
                            header: Some(self.header()),
                            hash,
                            // etcd's store starts at compact revision -1.
                            compact_revision: if compact_revision > 0 {
                                compact_revision
                            } else {
                                -1
                            },
                            hash_revision: j.job.revision(),
                        }),
                    })
                }
                Err(MvccError::Compacted { .. }) => Err(errors::compacted()),
                Err(e) => Err(apply::mvcc_error(e)),
            };
            let j = jobs.swap_remove(i);
            self.reply(j.waiter, done).await;
        }
        self.hash_jobs.append(&mut jobs);
    }

    // ------------------------------------------------------------------ snapshot

    /// Checkpoints (so the files describe the applied state) and pins the
    /// checkpoint's files for the front to stream.
    pub(super) async fn snapshot(&mut self) -> Result<Reply, ShardError> {
        // Under a full WAL nothing can be checkpointed: the snapshot is the
        // last checkpoint (its revision is in the snapshot's header).
        self.checkpoint().await?;
        let dir = self
            .opts
            .data_dir
            .join("member")
            .join(SNAPSHOT_TMP_DIR)
            .join(format!("{:016x}", self.next_snapshot_id));
        self.next_snapshot_id += 1;
        Ok(match self.store.pin_checkpoint(&dir).await {
            Ok(pinned) => {
                tracing::info!(
                    revision = pinned.revision,
                    bytes = pinned.snapshot_bytes(),
                    "snapshot pinned"
                );
                Ok(Response::Snapshot(SnapshotPlan::new(pinned, self.header())))
            }
            Err(e) => Err(errors::internal(format!("snapshot: {e}"))),
        })
    }

    // ------------------------------------------------------------------ leader, members

    /// etcd's MoveLeader: only the leader may transfer; the target must be a
    /// voting member; the leader itself is already there.
    pub(super) fn move_leader(&mut self, r: &pb::MoveLeaderRequest) -> Reply {
        if self.raw.raft.state != StateRole::Leader {
            return Err(errors::not_leader());
        }
        match self.find_member(r.target_id) {
            Some(m) if !m.is_learner => {}
            _ => return Err(errors::bad_leader_transferee()),
        }
        if r.target_id == self.opts.member_id {
            return Ok(Response::MoveLeader(pb::MoveLeaderResponse {
                header: Some(self.header()),
            }));
        }
        // With peers: self.raw.transfer_leader(target), answer once the
        // leader is the target (etcd's ErrTimeoutLeaderTransfer otherwise).
        Err(not_yet("transferring leadership"))
    }

    pub(super) fn member_add(&mut self, r: &pb::MemberAddRequest) -> Reply {
        check_urls(&r.peer_ur_ls)?;
        let taken = self
            .members()
            .iter()
            .any(|m| m.peer_ur_ls.iter().any(|u| r.peer_ur_ls.contains(u)));
        if taken {
            return Err(errors::peer_url_exist());
        }
        Err(not_yet("adding a member"))
    }

    pub(super) fn member_remove(&mut self, r: &pb::MemberRemoveRequest) -> Reply {
        match self.find_member(r.id) {
            None => Err(errors::member_not_found()),
            // Removing the only voting member leaves no quorum: etcd's strict
            // reconfiguration check refuses it.
            Some(m) if m.id == self.opts.member_id && self.members().len() == 1 => {
                Err(errors::member_not_enough_started())
            }
            Some(_) => Err(not_yet("removing a member")),
        }
    }

    pub(super) fn member_update(&mut self, r: &pb::MemberUpdateRequest) -> Reply {
        check_urls(&r.peer_ur_ls)?;
        if self.find_member(r.id).is_none() {
            return Err(errors::member_not_found());
        }
        let taken = self
            .members()
            .iter()
            .filter(|m| m.id != r.id)
            .any(|m| m.peer_ur_ls.iter().any(|u| r.peer_ur_ls.contains(u)));
        if taken {
            return Err(errors::peer_url_exist());
        }
        if r.id != self.opts.member_id {
            return Err(not_yet("updating another member"));
        }
        // Our own peer URLs: nothing listens on them until clustering, so
        // they are only remembered (in memory) and listed.
        self.peer_urls = r.peer_ur_ls.clone();
        Ok(Response::MemberUpdate(pb::MemberUpdateResponse {
            header: Some(self.header()),
            members: self.members(),
        }))
    }

    pub(super) fn member_promote(&mut self, r: &pb::MemberPromoteRequest) -> Reply {
        match self.find_member(r.id) {
            None => Err(errors::member_not_found()),
            Some(m) if !m.is_learner => Err(errors::member_not_learner()),
            Some(_) => Err(not_yet("promoting a learner")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_like_etcd() {
        for good in [
            "http://127.0.0.1:2380",
            "https://node1:2380",
            "unix://sock:1",
        ] {
            assert!(valid_url(good), "{good}");
        }
        for bad in [
            "127.0.0.1:2380",
            "ftp://h:1",
            "http://h",
            "http://h:1/path",
            "http://:1",
            "http://h:port",
        ] {
            assert!(!valid_url(bad), "{bad}");
        }
    }
}
