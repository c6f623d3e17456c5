//! etcq-storage: the storage engine of etcq — a segmented write-ahead log and a
//! log-structured MVCC store, both behind one I/O seam ([`disk::Disk`]).
//!
//! This crate knows nothing about networking or about raft's types: the WAL
//! stores raft entries as opaque bytes with their index and term.

pub mod disk;
// pub mod mvcc;
