//! The network fronts of one core. Each front decodes its transport's
//! framing and hands encoded messages to the core's service layer
//! (`crate::service`), which holds the RPCs' logic once for all of them:
//! - `quic` — etcq/1 over QUIC (UDP);
//! - `grpc` — etcd's v3 gRPC over HTTP/2 and the JSON gateway over HTTP/1.1
//!   (TCP, plaintext or TLS on the same port).
//!
//! Also here: the core's link to the raft core (`link`), the checks that need
//! no store state (`validate`), and the per-core watch hub (`watch`).

pub mod grpc;
pub mod link;
pub mod quic;
pub(crate) mod validate;
pub mod watch;
