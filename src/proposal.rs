//! The payload of a raft log entry: a batch of client writes (and internal
//! ones such as lease revokes or checkpoints) gathered in one loop turn,
//! prost-encoded. One entry per turn keeps raft's and the WAL's per-entry
//! costs off the per-request path.
//!
//! Everything needed to apply an entry deterministically is inside it: lease
//! IDs are chosen by the proposer, never at apply time.

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
    #[prost(oneof = "Op", tags = "2, 3, 4, 5, 6, 7, 8")]
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
}
