//! The MVCC store: etcd v3's multi-version key space (revisions, generations,
//! tombstones, compaction) as a deterministic state machine over a
//! log-structured store. Byte formats and the crash argument: docs/mvcc.md.
//!
//! Why this shape: the raft WAL is the source of durability, so this store
//! only has to be able to return to a *checkpoint* and be replayed from there.
//! Every change is appended to data segments (buffered, fsynced only at
//! checkpoints); an in-memory index maps key -> changes -> record location,
//! never values, so RSS stays near "index + page cache". Sealed segments are
//! read through `Disk::map`, so values leave as zero-copy `Bytes` slices.
//!
//! The store never picks a revision or reads a clock: the caller applies
//! committed entries in order through [`MvccStore::write`], and identical
//! input gives identical revisions, events and [`MvccStore::hash_kv`] on every
//! replica and on every replay.
//!
//! What is not here: leases (only their ids, per key version), watches (only
//! [`MvccStore::events_since`] for catch-up), raft snapshots.
//!
//! Files: `types.rs` public values and errors; `record.rs`/`manifest.rs` byte
//! formats; `index.rs` the in-memory index; `segments.rs` data segments;
//! `store.rs` open/recovery/checkpoint; `read.rs` reads; `txn.rs` write
//! transactions; `compact.rs` compaction and log cleaning.

mod compact;
mod index;
mod manifest;
mod read;
mod record;
mod segments;
pub mod snapshot;
mod store;
mod txn;
mod types;

pub use read::HashKvJob;
pub use store::MvccStore;
pub use txn::{PutDone, WriteTxn};
pub use types::{
    Event, EventKind, KeyValue, MvccError, MvccOptions, RangeRequest, RangeResult,
    SEGMENT_BYTES_MAX,
};
