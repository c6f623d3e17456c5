//! The payload of a raft log entry: a batch of client writes (and internal
//! ones such as lease revokes or checkpoints) gathered in one loop turn,
//! prost-encoded. One entry per turn keeps raft's and the WAL's per-entry
//! costs off the per-request path.
//!
//! Everything needed to apply an entry deterministically is inside it: lease
//! IDs are chosen by the proposer, never at apply time; passwords are
//! hashed by the proposer and token prefixes drawn by it.

use etcq_net::pb::etcdserverpb as pb;

/// The requests of one raft entry, applied in order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProposalBatch {
    #[prost(message, repeated, tag = "1")]
    pub requests: Vec<InternalRequest>,
}

/// One replicated request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InternalRequest {
    /// Proposer-local ID used to route the result back to the waiting client; 0 = nobody waits.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(
        oneof = "Op",
        tags = "2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20"
    )]
    pub op: Option<Op>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Op {
    #[prost(message, tag = "2")]
    Put(pb::PutRequest),
    #[prost(message, tag = "3")]
    DeleteRange(pb::DeleteRangeRequest),
    #[prost(message, tag = "4")]
    Txn(pb::TxnRequest),
    #[prost(message, tag = "5")]
    Compaction(pb::CompactionRequest),
    #[prost(message, tag = "6")]
    LeaseGrant(pb::LeaseGrantRequest),
    #[prost(message, tag = "7")]
    LeaseRevoke(pb::LeaseRevokeRequest),
    #[prost(message, tag = "8")]
    LeaseCheckpoint(pb::LeaseCheckpointRequest),
    #[prost(message, tag = "9")]
    AuthEnable(pb::AuthEnableRequest),
    #[prost(message, tag = "10")]
    AuthDisable(pb::AuthDisableRequest),
    /// `password` is empty: the proposer put the bcrypt hash in `hashed_password`.
    #[prost(message, tag = "11")]
    UserAdd(pb::AuthUserAddRequest),
    #[prost(message, tag = "12")]
    UserDelete(pb::AuthUserDeleteRequest),
    /// `password` is empty: the proposer put the bcrypt hash in `hashed_password`.
    #[prost(message, tag = "13")]
    UserChangePassword(pb::AuthUserChangePasswordRequest),
    #[prost(message, tag = "14")]
    UserGrantRole(pb::AuthUserGrantRoleRequest),
    #[prost(message, tag = "15")]
    UserRevokeRole(pb::AuthUserRevokeRoleRequest),
    #[prost(message, tag = "16")]
    RoleAdd(pb::AuthRoleAddRequest),
    #[prost(message, tag = "17")]
    RoleDelete(pb::AuthRoleDeleteRequest),
    #[prost(message, tag = "18")]
    RoleGrantPermission(pb::AuthRoleGrantPermissionRequest),
    #[prost(message, tag = "19")]
    RoleRevokePermission(pb::AuthRoleRevokePermissionRequest),
    /// A verified password: assign a simple token.
    #[prost(message, tag = "20")]
    AssignToken(AssignToken),
}

/// Authenticate, after the password was checked against the hash read at
/// `checked_revision`. The token is `<prefix>.<raft index>`, chosen at apply.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AssignToken {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint64, tag = "2")]
    pub checked_revision: u64,
    /// Random, chosen by the proposer.
    #[prost(string, tag = "3")]
    pub prefix: String,
}
