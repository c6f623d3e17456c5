//! Reads: ranges at a revision, history for watch catch-up, the consistency
//! hash, lease attachments. All synchronous: sealed segments are mapped and
//! the active one is in memory.

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
    pub fn hash_kv(&self, revision: i64) -> Result<(u32, i64), MvccError> {
        let rev = self.check_read_revision(revision, self.current_revision)?;
        let compact = self.compact_revision;
        let mut h = crc32fast::Hasher::new();
        for (key, list) in self.index.iter() {
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
                hash_change(&mut h, key, &value, e);
            }
        }
        Ok((h.finalize(), compact))
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
