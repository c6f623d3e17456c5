//! etcq-storage: the storage engine of etcq, and nothing about networking.
//!
//! - [`disk`]: the I/O seam every byte goes through, with a real implementation
//!   ([`disk_glommio`], io_uring) and an in-memory one with faults ([`disk_mem`]).
//! - [`wal`]: the segmented, group-committed write-ahead log (format in
//!   `docs/wal.md`).

pub mod disk;
pub mod disk_glommio;
pub mod disk_mem;
pub mod mvcc;
pub mod restore;
pub mod small_file;
pub mod wal;
