//! etcq-net: everything about etcq on the wire, and nothing about storage.
//!
//! * [`pb`] — etcd v3's protobuf messages (`etcdserverpb`, `mvccpb`,
//!   `authpb`, `v3lockpb`, `v3electionpb`), generated from our own `.proto`
//!   files with etcd's package names and field numbers.
//! * [`method`] and [`frame`] — the etcq/1 protocol: one QUIC stream per
//!   request, a method byte, length-prefixed frames, gRPC-style statuses
//!   (docs/protocol.md draws the bytes).
//! * [`tls`] — certificates that work on first run and verification that is
//!   never skipped.
//! * [`glommio_rt`] and [`server`] — quinn driven by a glommio executor, and
//!   the per-core server endpoint.
//! * [`client`] — the Rust client, on tokio.
//!
//! This crate never looks inside requests beyond decoding them: what a put
//! means is the server's business (crate `etcq`).

pub mod client;
pub mod frame;
pub mod gateway;
pub mod glommio_rt;
pub mod method;
pub mod pb;
pub mod server;
pub mod tls;

pub use method::{Code, Method, Status};
