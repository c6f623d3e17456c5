//! The refusals a client can meet. etcd's texts and codes live in
//! `etcq_net::method::etcd_errors` (the one list both fronts share); this
//! module re-exports them under the server's name for a refusal.

pub use etcq_net::method::etcd_errors::*;
pub use etcq_net::method::{Code, Status as EtcdError};

/// An internal failure surfaced to the client (an I/O error on the server).
pub fn internal(detail: impl std::fmt::Display) -> EtcdError {
    EtcdError::new(Code::Internal, format!("etcdserver: {detail}"))
}

// Refusals not yet in the shared list (to move into etcq_net's etcd_errors).

/// `Put` with `ignore_value`/`ignore_lease` on a key that does not exist.
pub fn key_not_found() -> EtcdError {
    EtcdError::new(Code::InvalidArgument, "etcdserver: key not found")
}

/// `Put` with `ignore_value` and a value.
pub fn value_provided() -> EtcdError {
    EtcdError::new(Code::InvalidArgument, "etcdserver: value is provided")
}

/// `Put` with `ignore_lease` and a lease.
pub fn lease_provided() -> EtcdError {
    EtcdError::new(Code::InvalidArgument, "etcdserver: lease is provided")
}

/// A write reached a member that is not the leader.
pub fn not_leader() -> EtcdError {
    EtcdError::new(Code::FailedPrecondition, "etcdserver: not leader")
}
