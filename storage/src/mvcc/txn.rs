//! Write transactions: every change of one applied request gets the same
//! `main` revision and the next `sub`. Changes reach the index and the active
//! segment buffer at once (no I/O); `commit` (or drop) publishes the revision.

use ahash::AHashMap;
use bytes::Bytes;

use super::index::{key_range, Entry, EntryList};
use super::read::delete_kv;
use super::record::RecordMeta;
use super::store::MvccStore;
use super::types::{Event, EventKind, KeyValue, MvccError, RangeRequest, RangeResult};
use crate::disk::Disk;

/// A write transaction on an [`MvccStore`]. Dropping it commits it, as
/// etcd's `txn.End()`: changes are applied as they are made.
pub struct WriteTxn<'s, D: Disk> {
    store: &'s mut MvccStore<D>,
    /// The revision this txn's changes get.
    main: i64,
    /// Changes so far (the next `sub`).
    sub: u32,
    /// Watch events of the changes so far.
    events: Vec<Event>,
    /// Per changed key: the key before this txn (the watch `prev_kv` of all its changes).
    before: AHashMap<Box<[u8]>, Option<KeyValue>>,
    /// Whether `events` (and `before`) are kept: not when nobody watches.
    keep_events: bool,
    finished: bool,
}

impl<D: Disk> std::fmt::Debug for WriteTxn<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTxn")
            .field("main", &self.main)
            .field("changes", &self.sub)
            .finish_non_exhaustive()
    }
}

/// What [`WriteTxn::put_lean`] reports about the key it replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutDone {
    /// The lease of the live key it replaced (0: none); `None` if the key
    /// did not exist (or was deleted).
    pub prev_lease: Option<i64>,
    /// The replaced key-value, when asked for.
    pub prev_kv: Option<KeyValue>,
    kv: Option<KeyValue>,
}

impl<D: Disk> MvccStore<D> {
    /// Starts a write transaction; its `commit` returns the watch events of
    /// its changes.
    pub fn write(&mut self) -> WriteTxn<'_, D> {
        self.write_txn(true)
    }

    /// Starts a write transaction that keeps no watch events (nobody
    /// watches): the same changes, and `commit` returns an empty list.
    pub fn write_without_events(&mut self) -> WriteTxn<'_, D> {
        self.write_txn(false)
    }

    fn write_txn(&mut self, keep_events: bool) -> WriteTxn<'_, D> {
        let main = self.current_revision + 1;
        WriteTxn {
            store: self,
            main,
            sub: 0,
            events: Vec::new(),
            before: AHashMap::new(),
            keep_events,
            finished: false,
        }
    }
}

impl<D: Disk> WriteTxn<'_, D> {
    /// The revision this txn's changes get (they are published only if there are any).
    pub fn revision(&self) -> i64 {
        self.main
    }

    /// Newest revision this txn reads at: its own once it changed something.
    pub fn read_revision(&self) -> i64 {
        if self.sub > 0 {
            self.main
        } else {
            self.main - 1
        }
    }

    /// A range that sees this txn's earlier changes (etcd's `storeTxnWrite.Range`).
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResult, MvccError> {
        self.store.range_at(req, self.read_revision())
    }

    /// Puts `key` = `value` with `lease`. Returns the put's event: `kv` is the
    /// new key-value, `prev_kv` the key as this txn saw it just before
    /// (PutResponse.prev_kv).
    pub fn put(&mut self, key: &[u8], value: &[u8], lease: i64) -> Result<Event, MvccError> {
        let done = self.put_with(key, value, lease, true)?;
        Ok(Event {
            kind: EventKind::Put,
            kv: done.kv.expect("put_with builds the key-value when asked"),
            prev_kv: done.prev_kv,
        })
    }

    /// [`put`](Self::put) for callers that need neither the new key-value nor,
    /// unless `want_prev_kv`, the previous one: with no watch events kept
    /// (`write_without_events`) and no `prev_kv` asked for, it reads no old
    /// value and copies nothing beyond what it writes.
    pub fn put_lean(
        &mut self,
        key: &[u8],
        value: &[u8],
        lease: i64,
        want_prev_kv: bool,
    ) -> Result<PutDone, MvccError> {
        let mut done = self.put_with(key, value, lease, want_prev_kv)?;
        done.kv = None;
        Ok(done)
    }

    fn put_with(
        &mut self,
        key: &[u8],
        value: &[u8],
        lease: i64,
        want_prev_kv: bool,
    ) -> Result<PutDone, MvccError> {
        assert!(
            !key.is_empty(),
            "etcd refuses empty keys before they reach the store"
        );
        let keep_events = self.keep_events;
        let store = &mut *self.store;
        let prev: Option<Entry> = store
            .index
            .get(key)
            .and_then(|l| l.last_live().copied())
            .filter(|e| !e.tombstone);
        let prev_kv = match &prev {
            Some(e) if want_prev_kv || keep_events => Some(store.kv_of(key, e, false)?),
            _ => None,
        };
        let (create_revision, version) = match &prev {
            Some(e) => (e.create_revision, e.version + 1),
            None => (self.main, 1),
        };
        let meta = RecordMeta {
            main: self.main,
            sub: self.sub,
            tombstone: false,
            create_revision,
            version,
            lease,
        };
        let loc = store.segs.append(&meta, key, value);
        let entry = Entry {
            main: self.main,
            create_revision,
            version,
            lease,
            sub: self.sub,
            loc,
            tombstone: false,
            dead: false,
        };
        match store.index.get_mut(key) {
            Some(list) => list.push(entry),
            None => {
                store.index.insert(key.into(), EntryList::One(entry));
            }
        }
        store.live_keys += usize::from(prev.is_none());
        self.sub += 1;
        let kv = (want_prev_kv || keep_events).then(|| KeyValue {
            key: Bytes::copy_from_slice(key),
            value: Bytes::copy_from_slice(value),
            create_revision,
            mod_revision: self.main,
            version,
            lease,
        });
        if keep_events {
            let before = self
                .before
                .entry(key.into())
                .or_insert_with(|| prev_kv.clone());
            let watch_prev = if create_revision == self.main {
                None
            } else {
                before.clone()
            };
            self.events.push(Event {
                kind: EventKind::Put,
                kv: kv.clone().expect("built when events are kept"),
                prev_kv: watch_prev,
            });
        }
        Ok(PutDone {
            prev_lease: prev.map(|e| e.lease),
            prev_kv: if want_prev_kv { prev_kv } else { None },
            kv,
        })
    }

    /// Deletes the keys in `(key, range_end)` (forms as in [`RangeRequest`])
    /// alive in this txn's view. Returns one event per deleted key, in key
    /// order, with the deleted key-value as `prev_kv` (DeleteRangeResponse.prev_kvs).
    pub fn delete_range(&mut self, key: &[u8], range_end: &[u8]) -> Result<Vec<Event>, MvccError> {
        let store = &mut *self.store;
        let mut victims: Vec<(Box<[u8]>, KeyValue)> = Vec::new();
        for (k, list) in key_range(&store.index, key, range_end) {
            if let Some(e) = list.last_live().filter(|e| !e.tombstone) {
                victims.push((k.clone(), store.kv_of(k, e, false)?));
            }
        }
        let mut out = Vec::with_capacity(victims.len());
        for (k, prev_kv) in victims {
            let meta = RecordMeta {
                main: self.main,
                sub: self.sub,
                tombstone: true,
                create_revision: 0,
                version: 0,
                lease: 0,
            };
            let loc = store.segs.append(&meta, &k, &[]);
            let entry = Entry {
                main: self.main,
                create_revision: 0,
                version: 0,
                lease: 0,
                sub: self.sub,
                loc,
                tombstone: true,
                dead: false,
            };
            store
                .index
                .get_mut(&k)
                .expect("victims are indexed")
                .push(entry);
            store.live_keys -= 1;
            self.sub += 1;
            if self.keep_events {
                let before = self
                    .before
                    .entry(k.clone())
                    .or_insert_with(|| Some(prev_kv.clone()))
                    .clone();
                self.events.push(Event {
                    kind: EventKind::Delete,
                    kv: delete_kv(&k, self.main),
                    prev_kv: before,
                });
            }
            out.push(Event {
                kind: EventKind::Delete,
                kv: delete_kv(&k, self.main),
                prev_kv: Some(prev_kv),
            });
        }
        Ok(out)
    }

    /// Ends the txn: publishes its revision if it changed something. Returns
    /// the current revision after it and the watch events of its changes
    /// (`prev_kv` = the key at `revision - 1`, None for creations, as etcd's watch).
    pub fn commit(mut self) -> (i64, Vec<Event>) {
        self.finish();
        (
            self.store.current_revision,
            std::mem::take(&mut self.events),
        )
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        if self.sub > 0 {
            assert_eq!(
                self.store.current_revision + 1,
                self.main,
                "one write txn at a time"
            );
            self.store.current_revision = self.main;
        }
    }
}

impl<D: Disk> Drop for WriteTxn<'_, D> {
    fn drop(&mut self) {
        self.finish();
    }
}
