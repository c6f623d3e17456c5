//! The public value types of the MVCC store: key-values, events, range
//! requests and results, options and errors.

use std::io;
use std::path::PathBuf;

use bytes::Bytes;

/// A key-value at some revision, as etcd's `mvccpb.KeyValue`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyValue {
    pub key: Bytes,
    /// Empty for `keys_only` ranges and for delete events.
    pub value: Bytes,
    /// Revision of the put that started this key's generation.
    pub create_revision: i64,
    /// Revision of the last change of the key (the deleting revision for a delete event).
    pub mod_revision: i64,
    /// 1 on creation, +1 per put in the generation.
    pub version: i64,
    /// Lease id, 0 for none.
    pub lease: i64,
}

/// Kind of an [`Event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change, as etcd's `mvccpb.Event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// For a delete: only `key` and `mod_revision` (the deleting revision) are set.
    pub kv: KeyValue,
    /// The key before this change; see docs/mvcc.md §1 for which "before".
    pub prev_kv: Option<KeyValue>,
}

/// A range read, etcd's `RangeRequest` without sorting.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeRequest<'a> {
    pub key: &'a [u8],
    /// Empty: the single key; `b"\0"`: all keys `>= key`; else `[key, range_end)`.
    pub range_end: &'a [u8],
    /// Revision to read at; `<= 0` means the current one.
    pub revision: i64,
    /// Most key-values to return; 0 means no limit.
    pub limit: usize,
    /// Return keys and metadata without values.
    pub keys_only: bool,
    /// Return only the count.
    pub count_only: bool,
}

/// The answer to a [`RangeRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeResult {
    /// In key order, at most `limit`.
    pub kvs: Vec<KeyValue>,
    /// All matching keys, ignoring `limit`.
    pub count: usize,
    /// Whether `limit` cut matching keys off.
    pub more: bool,
    /// The store's current revision (inside a write txn that changed something: the txn's revision).
    pub revision: i64,
}

/// Tunables of the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MvccOptions {
    /// Size at which the active data segment is sealed.
    pub segment_bytes: u64,
    /// A sealed segment whose live bytes fall below this fraction of its data is cleaned.
    pub clean_live_ratio: f64,
}

/// Largest allowed [`MvccOptions::segment_bytes`] (record offsets are u32).
pub const SEGMENT_BYTES_MAX: u64 = 1 << 30;

impl Default for MvccOptions {
    fn default() -> Self {
        MvccOptions {
            segment_bytes: 16 << 20,
            clean_live_ratio: 0.5,
        }
    }
}

/// Errors of the MVCC store, shaped by how the caller reacts.
#[derive(Debug, thiserror::Error)]
pub enum MvccError {
    /// The revision asked for is below the compact revision (etcd's ErrCompacted).
    #[error("mvcc: required revision has been compacted")]
    Compacted { compact_revision: i64 },
    /// The revision asked for is above the current revision (etcd's ErrFutureRev).
    #[error("mvcc: required revision is a future revision")]
    FutureRev { current_revision: i64 },
    /// An I/O operation failed.
    #[error("mvcc: {op} {}: {source}", path.display())]
    Storage {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Durable data failed its checks.
    #[error("mvcc: corrupt data in {} at offset {offset}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// An earlier I/O operation failed; the on-disk state is unknown, so the
    /// store refuses further I/O. Reopen (recover from the last checkpoint).
    #[error("mvcc: refusing I/O after an earlier I/O failure; reopen the store")]
    PreviousIo,
}
