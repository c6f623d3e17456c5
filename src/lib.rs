//! etcq: a distributed, strongly consistent key-value store speaking etcd's v3
//! API, built thread-per-core on io_uring.
//!
//! The server is a library so that tests can drive its parts (the shard loop,
//! apply, the lessor, the watch hub) directly; `main.rs` only parses flags.

pub mod auth;
pub mod config;
pub mod errors;
pub mod front;
pub mod lease;
pub mod mesh;
pub mod offline;
pub mod proposal;
pub mod runtime;
pub mod service;
pub mod shard;
