//! Reads: ranges at a revision, history for watch catch-up, the consistency
//! hash, lease attachments. All synchronous: sealed segments are mapped and
//! the active one is in memory.

use std::ops::Bound;

use bytes::Bytes;

use super::index::{key_range, Entry, EntryList};
use super::store::MvccStore;
use super::types::{Event, EventKind, KeyValue, MvccError, RangeRequest, RangeResult};
use crate::disk::Disk;

impl<D: Disk> MvccStore<D> {
    /// A range read (etcd's `Range` without sorting).
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResult, MvccError> {
        self.range_at(req, self.current_revision)
    }

    /// A range read where `current` is the newest readable revision (a write
    /// txn that changed something reads at its own revision).
    pub(crate) fn range_at(
        &self,
        req: &RangeRequest,
        current: i64,
    ) -> Result<RangeResult, MvccError> {
        let rev = self.check_read_revision(req.revision, current)?;
        let mut kvs = Vec::new();
        let mut count = 0;
        for (key, list) in key_range(&self.index, req.key, req.range_end) {
            let Some(e) = list.visible_at(rev) else {
                continue;
            };
            count += 1;
            if !req.count_only && (req.limit == 0 || kvs.len() < req.limit) {
                kvs.push(self.kv_of(key, e, req.keys_only)?);
            }
        }
        let more = !req.count_only && req.limit > 0 && count > req.limit;
        Ok(RangeResult {
            kvs,
            count,
            more,
            revision: current,
        })
    }

    /// Resolves a requested revision (`<= 0`: `current`) and checks its bounds.
    fn check_read_revision(&self, requested: i64, current: i64) -> Result<i64, MvccError> {
        let rev = if requested <= 0 { current } else { requested };
        if rev > current {
            return Err(MvccError::FutureRev {
                current_revision: current,
            });
        }
        if rev < self.compact_revision {
            return Err(MvccError::Compacted {
                compact_revision: self.compact_revision,
            });
        }
        Ok(rev)
    }

    /// History for watch catch-up: the events on keys in `(key, range_end)`
    /// with revision `>= start_revision` (`<= 0`: from the next revision), in
    /// revision order, with watch `prev_kv`s (docs/mvcc.md §1). At most
    /// `max_events` (0: no limit), but a revision is never split: one revision
    /// with more events is returned whole. Also returns the next revision to
    /// read from.
    pub fn events_since(
        &self,
        key: &[u8],
        range_end: &[u8],
        start_revision: i64,
        max_events: usize,
    ) -> Result<(Vec<Event>, i64), MvccError> {
        let current = self.current_revision;
        let start = if start_revision <= 0 {
            current + 1
        } else {
            start_revision
        };
        if start < self.compact_revision {
            return Err(MvccError::Compacted {
                compact_revision: self.compact_revision,
            });
        }
        if start > current {
            return Ok((Vec::new(), start));
        }
        let compact = self.compact_revision;
        let mut found: Vec<(&[u8], &EntryList, usize)> = Vec::new();
        for (k, list) in key_range(&self.index, key, range_end) {
            let es = list.as_slice();
            if list.last().main < start {
                continue;
            }
            let first = es.partition_point(|e| e.main < start);
            for i in first.max(list.kept_from(compact))..es.len() {
                found.push((k, list, i));
            }
        }
        found.sort_unstable_by_key(|&(_, list, i)| list.as_slice()[i].rev());
        // Cut at a revision boundary.
        let mut end = found.len();
        if max_events > 0 && found.len() > max_events {
            let (_, list, i) = found[max_events];
            let cut_main = list.as_slice()[i].main;
            end = found.partition_point(|&(_, list, i)| list.as_slice()[i].main < cut_main);
            if end == 0 {
                // One revision holds more than max_events: return it whole.
                end = found.partition_point(|&(_, list, i)| list.as_slice()[i].main <= cut_main);
            }
        }
        let next = if end < found.len() {
            found[end].1.as_slice()[found[end].2].main
        } else {
            current + 1
        };
        let mut events = Vec::with_capacity(end);
        for &(k, list, i) in &found[..end] {
            events.push(self.watch_event(k, list, i)?);
        }
        Ok((events, next))
    }

    /// The event of change `i` of `key`, with etcd watch's `prev_kv`: the key at
    /// `main - 1`, unless compacted or a creation.
    fn watch_event(&self, key: &[u8], list: &EntryList, i: usize) -> Result<Event, MvccError> {
        let e = &list.as_slice()[i];
        let prev = |this: &Self| -> Result<Option<KeyValue>, MvccError> {
            if e.main - 1 < this.compact_revision {
                return Ok(None);
            }
            match list.visible_at(e.main - 1) {
                Some(p) => this.kv_of(key, p, false).map(Some),
                None => Ok(None),
            }
        };
        if e.tombstone {
            Ok(Event {
                kind: EventKind::Delete,
                kv: delete_kv(key, e.main),
                prev_kv: prev(self)?,
            })
        } else {
            let kv = self.kv_of(key, e, false)?;
            let prev_kv = if kv.create_revision == kv.mod_revision {
                None
            } else {
                prev(self)?
            };
            Ok(Event {
                kind: EventKind::Put,
                kv,
                prev_kv,
            })
        }
    }

    /// CRC32 over the history in `(compact_revision, revision]` (`<= 0`:
    /// current), keys in order, changes of a key in revision order; the
    /// byte layout is in docs/mvcc.md §1. Returns the compact revision too.
    /// Walks the whole index at once; a server should use
    /// [`hash_kv_begin`](Self::hash_kv_begin) and bounded
    /// [`hash_kv_step`](Self::hash_kv_step)s instead.
    pub fn hash_kv(&self, revision: i64) -> Result<(u32, i64), MvccError> {
        let mut job = self.hash_kv_begin(revision)?;
        loop {
            if let Some(done) = self.hash_kv_step(&mut job, usize::MAX)? {
                return Ok(done);
            }
        }
    }

    /// Starts a [`hash_kv`](Self::hash_kv) that is computed in bounded steps
    /// (so a large store never stalls its caller): checks `revision` now and
    /// fixes it (`<= 0`: the current revision).
    pub fn hash_kv_begin(&self, revision: i64) -> Result<HashKvJob, MvccError> {
        let rev = self.check_read_revision(revision, self.current_revision)?;
        Ok(HashKvJob {
            revision: rev,
            compact_revision: self.compact_revision,
            resume_after: None,
            hasher: crc32fast::Hasher::new(),
        })
    }

    /// Hashes the changes of at most `max_keys` more keys of `job`; returns
    /// `(hash, compact_revision)` once every key is done.
    ///
    /// Writes between steps do not change the result: they only add changes
    /// above the job's revision (keys created behind the cursor have nothing
    /// at or below it). A compaction between steps changes the hashed range,
    /// so the job starts over with the new compact revision (or fails with
    /// `Compacted` if that passed the job's revision). Physical compaction
    /// and log cleaning never touch a change above the compact revision.
    pub fn hash_kv_step(
        &self,
        job: &mut HashKvJob,
        max_keys: usize,
    ) -> Result<Option<(u32, i64)>, MvccError> {
        if job.compact_revision != self.compact_revision {
            if job.revision < self.compact_revision {
                return Err(MvccError::Compacted {
                    compact_revision: self.compact_revision,
                });
            }
            job.compact_revision = self.compact_revision;
            job.resume_after = None;
            job.hasher = crc32fast::Hasher::new();
        }
        let (rev, compact) = (job.revision, job.compact_revision);
        let lower = match &job.resume_after {
            None => Bound::Unbounded,
            Some(k) => Bound::Excluded(&k[..]),
        };
        let mut walked = 0;
        let mut last: Option<&[u8]> = None;
        for (key, list) in self.index.range::<[u8], _>((lower, Bound::Unbounded)) {
            if walked == max_keys.max(1) {
                break;
            }
            walked += 1;
            last = Some(key);
            for e in list
                .live()
                .iter()
                .filter(|e| e.main > compact && e.main <= rev)
            {
                let value = if e.tombstone {
                    Bytes::new()
                } else {
                    self.kv_of(key, e, false)?.value
                };
                hash_change(&mut job.hasher, key, &value, e);
            }
        }
        match last {
            Some(k) if walked == max_keys.max(1) => {
                job.resume_after = Some(k.into());
                Ok(None)
            }
            _ => {
                let h = std::mem::take(&mut job.hasher);
                Ok(Some((h.finalize(), compact)))
            }
        }
    }

    /// `(lease, key)` of every live key attached to a lease, in key order.
    pub fn keys_with_lease(&self) -> Vec<(i64, Bytes)> {
        self.index
            .iter()
            .filter_map(|(k, list)| list.last_live().map(|e| (k, e)))
            .filter(|(_, e)| !e.tombstone && e.lease != 0)
            .map(|(k, e)| (e.lease, Bytes::copy_from_slice(k)))
            .collect()
    }
}

/// A [`MvccStore::hash_kv`] computed in steps: the revision fixed at
/// [`MvccStore::hash_kv_begin`], the key cursor and the CRC so far.
#[derive(Clone)]
pub struct HashKvJob {
    revision: i64,
    compact_revision: i64,
    /// The last key hashed (`None`: none yet).
    resume_after: Option<Box<[u8]>>,
    hasher: crc32fast::Hasher,
}

impl HashKvJob {
    /// The revision the hash covers up to (the requested one, or the
    /// current revision when the job began).
    pub fn revision(&self) -> i64 {
        self.revision
    }
}

impl std::fmt::Debug for HashKvJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashKvJob")
            .field("revision", &self.revision)
            .field("compact_revision", &self.compact_revision)
            .finish_non_exhaustive()
    }
}

/// The key-value of a delete event, as etcd's watch delivers it.
pub(crate) fn delete_kv(key: &[u8], main: i64) -> KeyValue {
    KeyValue {
        key: Bytes::copy_from_slice(key),
        mod_revision: main,
        ..KeyValue::default()
    }
}

fn hash_change(h: &mut crc32fast::Hasher, key: &[u8], value: &[u8], e: &Entry) {
    h.update(&(key.len() as u32).to_le_bytes());
    h.update(key);
    h.update(&(value.len() as u32).to_le_bytes());
    h.update(value);
    h.update(&e.create_revision.to_le_bytes());
    h.update(&e.main.to_le_bytes());
    h.update(&e.sub.to_le_bytes());
    h.update(&e.version.to_le_bytes());
    h.update(&e.lease.to_le_bytes());
    h.update(&[u8::from(e.tombstone)]);
}
