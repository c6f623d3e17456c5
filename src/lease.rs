//! The lessor: leases, their attached keys and their expiry.
//!
//! A deterministic state machine in two halves:
//! - replicated state (`id`, granted `ttl`, checkpointed `remaining_ttl`, keys),
//!   changed only by applying log entries, identical on every member;
//! - leader-local deadlines, kept only while this member is the primary
//!   (the raft leader). "Now" always arrives as an argument (milliseconds on a
//!   monotonic clock), so tests drive time by hand.
//!
//! Expiry never deletes anything here: the leader *proposes* a revoke, and the
//! revoke is applied through the log like any other write.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use bytes::Bytes;

use crate::config::LEASE_TTL_MAX_SECS;
use crate::errors::{self, EtcdError};

/// A lease ID (etcd's int64 lease ID; 0 means "no lease").
pub type LeaseId = i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub id: LeaseId,
    /// Granted TTL in seconds.
    pub ttl_secs: i64,
    /// Remaining TTL as of the last checkpoint through the log; 0 = none.
    pub remaining_ttl_secs: i64,
    pub keys: BTreeSet<Bytes>,
    /// Leader-local deadline (ms on the monotonic clock); `None` when not primary.
    deadline_ms: Option<u64>,
}

impl Lease {
    /// Remaining seconds as seen by the primary at `now_ms` (rounded up);
    /// on a non-primary the last known value.
    pub fn remaining_secs(&self, now_ms: u64) -> i64 {
        match self.deadline_ms {
            Some(d) => (d.saturating_sub(now_ms)).div_ceil(1000) as i64,
            None if self.remaining_ttl_secs > 0 => self.remaining_ttl_secs,
            None => self.ttl_secs,
        }
    }
}

/// Leases of one shard.
#[derive(Debug, Default)]
pub struct Lessor {
    leases: BTreeMap<LeaseId, Lease>,
    /// Min-heap of (deadline, id); stale entries are skipped lazily.
    expiry: BinaryHeap<Reverse<(u64, LeaseId)>>,
    primary: bool,
    min_ttl_secs: i64,
}

impl Lessor {
    pub fn new(min_ttl_secs: i64) -> Self {
        Lessor {
            min_ttl_secs,
            ..Default::default()
        }
    }

    pub fn get(&self, id: LeaseId) -> Option<&Lease> {
        self.leases.get(&id)
    }

    pub fn contains(&self, id: LeaseId) -> bool {
        self.leases.contains_key(&id)
    }

    pub fn ids(&self) -> impl Iterator<Item = LeaseId> + '_ {
        self.leases.keys().copied()
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// Validates a grant before it is proposed; returns the effective TTL.
    pub fn check_grant(&self, id: LeaseId, ttl_secs: i64) -> Result<i64, EtcdError> {
        if ttl_secs > LEASE_TTL_MAX_SECS {
            return Err(errors::lease_ttl_too_large());
        }
        if id != 0 && self.leases.contains_key(&id) {
            return Err(errors::lease_exist());
        }
        Ok(ttl_secs.max(self.min_ttl_secs))
    }

    /// Applies a grant (from the log). `id` is never 0 here: the proposer chose it.
    pub fn grant(&mut self, id: LeaseId, ttl_secs: i64, now_ms: u64) -> Result<&Lease, EtcdError> {
        assert_ne!(id, 0, "lease IDs are chosen before proposing");
        let ttl_secs = self.check_grant(id, ttl_secs)?;
        let mut lease = Lease {
            id,
            ttl_secs,
            remaining_ttl_secs: 0,
            keys: BTreeSet::new(),
            deadline_ms: None,
        };
        if self.primary {
            let deadline = now_ms + ttl_secs as u64 * 1000;
            lease.deadline_ms = Some(deadline);
            self.expiry.push(Reverse((deadline, id)));
        }
        Ok(self.leases.entry(id).or_insert(lease))
    }

    /// Applies a revoke (from the log): returns the keys to delete.
    pub fn revoke(&mut self, id: LeaseId) -> Result<BTreeSet<Bytes>, EtcdError> {
        self.leases
            .remove(&id)
            .map(|l| l.keys)
            .ok_or_else(errors::lease_not_found)
    }

    /// Applies a checkpoint of the remaining TTL (from the log). On the
    /// primary the deadline restarts from it, so a leader that took over (or
    /// restarted) before replaying the checkpoint honours it too.
    pub fn checkpoint(&mut self, id: LeaseId, remaining_ttl_secs: i64, now_ms: u64) {
        let primary = self.primary;
        if let Some(l) = self.leases.get_mut(&id) {
            l.remaining_ttl_secs = remaining_ttl_secs;
            if primary {
                let secs = if remaining_ttl_secs > 0 {
                    remaining_ttl_secs
                } else {
                    l.ttl_secs
                };
                let deadline = now_ms + secs as u64 * 1000;
                l.deadline_ms = Some(deadline);
                self.expiry.push(Reverse((deadline, id)));
            }
        }
    }

    pub fn attach(&mut self, id: LeaseId, key: Bytes) {
        if let Some(l) = self.leases.get_mut(&id) {
            l.keys.insert(key);
        }
    }

    pub fn detach(&mut self, id: LeaseId, key: &[u8]) {
        if let Some(l) = self.leases.get_mut(&id) {
            l.keys.remove(key);
        }
    }

    /// Renews a lease on the primary (keep-alive): returns the TTL in seconds
    /// and whether a checkpoint resetting `remaining_ttl` must be proposed.
    pub fn renew(&mut self, id: LeaseId, now_ms: u64) -> Result<(i64, bool), EtcdError> {
        if !self.primary {
            return Err(errors::not_leader());
        }
        let lease = self
            .leases
            .get_mut(&id)
            .ok_or_else(errors::lease_not_found)?;
        if lease.deadline_ms.is_some_and(|d| d <= now_ms) {
            // Expired but its revoke has not been applied yet: etcd answers not found.
            return Err(errors::lease_not_found());
        }
        let deadline = now_ms + lease.ttl_secs as u64 * 1000;
        lease.deadline_ms = Some(deadline);
        self.expiry.push(Reverse((deadline, id)));
        Ok((lease.ttl_secs, lease.remaining_ttl_secs > 0))
    }

    /// Starts tracking deadlines (this member became the leader): every lease
    /// gets its checkpointed remaining TTL, or its full TTL, from `now_ms`.
    pub fn promote(&mut self, now_ms: u64) {
        self.primary = true;
        self.expiry.clear();
        for l in self.leases.values_mut() {
            let secs = if l.remaining_ttl_secs > 0 {
                l.remaining_ttl_secs
            } else {
                l.ttl_secs
            };
            let deadline = now_ms + secs as u64 * 1000;
            l.deadline_ms = Some(deadline);
            self.expiry.push(Reverse((deadline, l.id)));
        }
    }

    /// Stops tracking deadlines (leadership lost).
    pub fn demote(&mut self) {
        self.primary = false;
        self.expiry.clear();
        for l in self.leases.values_mut() {
            l.deadline_ms = None;
        }
    }

    pub fn is_primary(&self) -> bool {
        self.primary
    }

    /// Leases whose deadline has passed at `now_ms` (at most `max`). The caller
    /// proposes their revocation; they are reported again until it is applied.
    pub fn expired(&mut self, now_ms: u64, max: usize) -> Vec<LeaseId> {
        let mut out = Vec::new();
        let mut keep = Vec::new();
        while let Some(Reverse((deadline, id))) = self.expiry.peek().copied() {
            if deadline > now_ms || out.len() >= max {
                break;
            }
            self.expiry.pop();
            match self.leases.get(&id) {
                Some(l) if l.deadline_ms == Some(deadline) => {
                    out.push(id);
                    keep.push(Reverse((deadline, id)));
                }
                _ => {} // stale heap entry: renewed or revoked since
            }
        }
        // Re-arm a little later so a lost proposal is retried, not forgotten.
        for Reverse((_, id)) in keep {
            let retry = now_ms + 1000;
            if let Some(l) = self.leases.get_mut(&id) {
                l.deadline_ms = Some(retry);
                self.expiry.push(Reverse((retry, id)));
            }
        }
        out
    }

    /// Remaining TTLs worth checkpointing through the log (primary only).
    pub fn checkpoints(&self, now_ms: u64) -> Vec<(LeaseId, i64)> {
        if !self.primary {
            return Vec::new();
        }
        self.leases
            .values()
            .filter_map(|l| {
                let rem = l.remaining_secs(now_ms).max(1);
                (rem != l.remaining_ttl_secs && rem < l.ttl_secs).then_some((l.id, rem))
            })
            .collect()
    }

    /// Serializes the replicated state (for the MVCC checkpoint's meta blob).
    /// Keys are not included: they are rebuilt from the store.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.leases.len() * 24);
        out.extend_from_slice(&(self.leases.len() as u32).to_le_bytes());
        for l in self.leases.values() {
            out.extend_from_slice(&l.id.to_le_bytes());
            out.extend_from_slice(&l.ttl_secs.to_le_bytes());
            out.extend_from_slice(&l.remaining_ttl_secs.to_le_bytes());
        }
        out
    }

    /// Restores replicated state written by [`Lessor::encode`].
    pub fn decode(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.leases.clear();
        self.expiry.clear();
        if bytes.is_empty() {
            return Ok(());
        }
        let n = bytes.get(..4).ok_or("lease state: short header")?;
        let n = u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize;
        let body = &bytes[4..];
        if body.len() != n * 24 {
            return Err(format!("lease state: {} bytes for {n} leases", body.len()));
        }
        for rec in body.chunks_exact(24) {
            let f =
                |i: usize| i64::from_le_bytes(rec[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
            let (id, ttl, rem) = (f(0), f(1), f(2));
            self.leases.insert(
                id,
                Lease {
                    id,
                    ttl_secs: ttl,
                    remaining_ttl_secs: rem,
                    keys: BTreeSet::new(),
                    deadline_ms: None,
                },
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primary() -> Lessor {
        let mut l = Lessor::new(2);
        l.promote(0);
        l
    }

    #[test]
    fn a_lease_expires_after_its_ttl_and_not_before() {
        let mut l = primary();
        l.grant(7, 5, 1_000).expect("grant");
        assert!(l.expired(5_999, 10).is_empty());
        assert_eq!(l.expired(6_000, 10), vec![7]);
    }

    #[test]
    fn keepalive_pushes_the_deadline() {
        let mut l = primary();
        l.grant(7, 5, 0).expect("grant");
        assert_eq!(l.renew(7, 4_000).expect("renew").0, 5);
        assert!(l.expired(8_999, 10).is_empty());
        assert_eq!(l.expired(9_000, 10), vec![7]);
    }

    #[test]
    fn ttl_below_minimum_is_raised_and_too_large_refused() {
        let mut l = primary();
        assert_eq!(l.grant(1, 1, 0).expect("grant").ttl_secs, 2);
        assert_eq!(
            l.check_grant(2, LEASE_TTL_MAX_SECS + 1),
            Err(errors::lease_ttl_too_large())
        );
        assert_eq!(l.check_grant(1, 10), Err(errors::lease_exist()));
    }

    #[test]
    fn a_checkpoint_applied_on_the_primary_restarts_the_deadline_from_it() {
        let mut l = primary();
        l.grant(4, 100, 0).expect("grant");
        l.checkpoint(4, 10, 50_000);
        assert!(l.expired(59_999, 10).is_empty());
        assert_eq!(l.expired(60_000, 10), vec![4]);
    }

    #[test]
    fn revoke_returns_attached_keys_and_unknown_is_not_found() {
        let mut l = primary();
        l.grant(3, 10, 0).expect("grant");
        l.attach(3, Bytes::from_static(b"a"));
        l.attach(3, Bytes::from_static(b"b"));
        l.detach(3, b"a");
        assert_eq!(
            l.revoke(3).expect("revoke").into_iter().collect::<Vec<_>>(),
            vec![Bytes::from_static(b"b")]
        );
        assert_eq!(l.revoke(3), Err(errors::lease_not_found()));
    }

    #[test]
    fn remaining_ttl_survives_encode_decode_and_promotion() {
        let mut l = primary();
        l.grant(9, 100, 0).expect("grant");
        for (id, rem) in l.checkpoints(60_000) {
            l.checkpoint(id, rem, 60_000);
        }
        let mut restored = Lessor::new(2);
        restored.decode(&l.encode()).expect("decode");
        restored.promote(1_000_000);
        assert_eq!(
            restored.get(9).expect("lease").remaining_secs(1_000_000),
            40
        );
        assert!(restored.expired(1_039_999, 10).is_empty());
        assert_eq!(restored.expired(1_040_000, 10), vec![9]);
    }
}
