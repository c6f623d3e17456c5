//! The refusals a client can meet. etcd's texts and codes live in
//! `etcq_net::method::etcd_errors` (the one list both fronts share); this
//! module re-exports them under the server's name for a refusal.

pub use etcq_net::method::etcd_errors::*;
pub use etcq_net::method::{Code, Status as EtcdError};

/// An internal failure surfaced to the client (an I/O error on the server).
pub fn internal(detail: impl std::fmt::Display) -> EtcdError {
    EtcdError::new(Code::Internal, format!("etcdserver: {detail}"))
}
