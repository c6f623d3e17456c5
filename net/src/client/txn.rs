//! A small builder for etcd transactions: `if all compares hold, run these
//! ops, else run those`.
//!
//! ```
//! use etcq_net::client::{Compare, CompareOp, Op, Txn};
//!
//! let txn = Txn::new()
//!     .when([Compare::value("config/leader", CompareOp::Equal, "node-1")])
//!     .and_then([Op::put("config/epoch", "7"), Op::get("config/leader")])
//!     .or_else([Op::get("config/leader")]);
//! let request: etcq_net::pb::etcdserverpb::TxnRequest = txn.into();
//! assert_eq!(request.compare.len(), 1);
//! ```

use bytes::Bytes;

use crate::pb::etcdserverpb::{
    compare::{CompareResult, CompareTarget, TargetUnion},
    request_op::Request,
    Compare as PbCompare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

/// How a compare relates the stored value to the given one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// stored == given
    Equal,
    /// stored != given
    NotEqual,
    /// stored > given
    Greater,
    /// stored < given
    Less,
}

impl From<CompareOp> for CompareResult {
    fn from(op: CompareOp) -> CompareResult {
        match op {
            CompareOp::Equal => CompareResult::Equal,
            CompareOp::NotEqual => CompareResult::NotEqual,
            CompareOp::Greater => CompareResult::Greater,
            CompareOp::Less => CompareResult::Less,
        }
    }
}

/// One condition of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Compare(PbCompare);

impl Compare {
    fn new(
        key: impl Into<Bytes>,
        op: CompareOp,
        target: CompareTarget,
        value: TargetUnion,
    ) -> Self {
        Compare(PbCompare {
            result: CompareResult::from(op) as i32,
            target: target as i32,
            key: key.into(),
            target_union: Some(value),
            range_end: Bytes::new(),
        })
    }

    /// Compares the key's value.
    pub fn value(key: impl Into<Bytes>, op: CompareOp, value: impl Into<Bytes>) -> Self {
        Self::new(
            key,
            op,
            CompareTarget::Value,
            TargetUnion::Value(value.into()),
        )
    }

    /// Compares the key's version (0 = the key does not exist).
    pub fn version(key: impl Into<Bytes>, op: CompareOp, version: i64) -> Self {
        Self::new(
            key,
            op,
            CompareTarget::Version,
            TargetUnion::Version(version),
        )
    }

    /// Compares the key's creation revision.
    pub fn create_revision(key: impl Into<Bytes>, op: CompareOp, revision: i64) -> Self {
        Self::new(
            key,
            op,
            CompareTarget::Create,
            TargetUnion::CreateRevision(revision),
        )
    }

    /// Compares the key's last modification revision.
    pub fn mod_revision(key: impl Into<Bytes>, op: CompareOp, revision: i64) -> Self {
        Self::new(
            key,
            op,
            CompareTarget::Mod,
            TargetUnion::ModRevision(revision),
        )
    }

    /// Compares the key's lease ID.
    pub fn lease(key: impl Into<Bytes>, op: CompareOp, lease: i64) -> Self {
        Self::new(key, op, CompareTarget::Lease, TargetUnion::Lease(lease))
    }

    /// Applies the compare to every key in `[key, range_end)`.
    pub fn with_range(mut self, range_end: impl Into<Bytes>) -> Self {
        self.0.range_end = range_end.into();
        self
    }

    /// Applies the compare to every key with the compare's key as prefix.
    pub fn with_prefix(mut self) -> Self {
        self.0.range_end = prefix_end(&self.0.key);
        self
    }
}

impl From<Compare> for PbCompare {
    fn from(c: Compare) -> PbCompare {
        c.0
    }
}

/// One operation of a transaction branch.
#[derive(Debug, Clone, PartialEq)]
pub struct Op(RequestOp);

impl Op {
    fn of(request: Request) -> Self {
        Op(RequestOp {
            request: Some(request),
        })
    }

    /// Puts `value` at `key`.
    pub fn put(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self::of(Request::RequestPut(PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        }))
    }

    /// Any put request.
    pub fn put_request(request: PutRequest) -> Self {
        Self::of(Request::RequestPut(request))
    }

    /// Reads `key`.
    pub fn get(key: impl Into<Bytes>) -> Self {
        Self::of(Request::RequestRange(RangeRequest {
            key: key.into(),
            ..Default::default()
        }))
    }

    /// Any range request.
    pub fn range(request: RangeRequest) -> Self {
        Self::of(Request::RequestRange(request))
    }

    /// Deletes `key`.
    pub fn delete(key: impl Into<Bytes>) -> Self {
        Self::of(Request::RequestDeleteRange(DeleteRangeRequest {
            key: key.into(),
            ..Default::default()
        }))
    }

    /// Any delete-range request.
    pub fn delete_range(request: DeleteRangeRequest) -> Self {
        Self::of(Request::RequestDeleteRange(request))
    }

    /// A nested transaction.
    pub fn txn(txn: Txn) -> Self {
        Self::of(Request::RequestTxn(txn.into()))
    }
}

impl From<Op> for RequestOp {
    fn from(op: Op) -> RequestOp {
        op.0
    }
}

/// A transaction under construction; converts into a [`TxnRequest`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Txn(TxnRequest);

impl Txn {
    /// An empty transaction (no compares: the success branch runs).
    pub fn new() -> Txn {
        Txn::default()
    }

    /// Adds conditions; all must hold for the success branch to run.
    pub fn when(mut self, compares: impl IntoIterator<Item = Compare>) -> Txn {
        self.0.compare.extend(compares.into_iter().map(|c| c.0));
        self
    }

    /// Adds operations run if every condition holds.
    pub fn and_then(mut self, ops: impl IntoIterator<Item = Op>) -> Txn {
        self.0.success.extend(ops.into_iter().map(|o| o.0));
        self
    }

    /// Adds operations run if some condition fails.
    pub fn or_else(mut self, ops: impl IntoIterator<Item = Op>) -> Txn {
        self.0.failure.extend(ops.into_iter().map(|o| o.0));
        self
    }
}

impl From<Txn> for TxnRequest {
    fn from(txn: Txn) -> TxnRequest {
        txn.0
    }
}

/// The `range_end` that selects every key starting with `prefix` (etcd's
/// `GetPrefixRangeEnd`): the prefix with its last non-0xff byte incremented
/// and what follows dropped; `"\0"` (every key) if there is no such byte.
pub fn prefix_end(prefix: &[u8]) -> Bytes {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Bytes::from(end);
        }
    }
    Bytes::from_static(&[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_matches_etcd() {
        assert_eq!(prefix_end(b"abc"), Bytes::from_static(b"abd"));
        assert_eq!(prefix_end(b"a\xff"), Bytes::from_static(b"b"));
        assert_eq!(prefix_end(b"\xff\xff"), Bytes::from_static(b"\0"));
        assert_eq!(prefix_end(b""), Bytes::from_static(b"\0"));
    }

    #[test]
    fn builder_fills_the_request() {
        let req: TxnRequest = Txn::new()
            .when([Compare::version("k", CompareOp::Greater, 0).with_prefix()])
            .and_then([Op::delete("k")])
            .or_else([Op::put("k", "v"), Op::get("k")])
            .into();
        assert_eq!(req.compare[0].target, CompareTarget::Version as i32);
        assert_eq!(req.compare[0].result, CompareResult::Greater as i32);
        assert_eq!(req.compare[0].range_end, Bytes::from_static(b"l"));
        assert_eq!(req.success.len(), 1);
        assert_eq!(req.failure.len(), 2);
    }
}
