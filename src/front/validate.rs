//! Checks on client requests that need no store state: empty keys, txn size,
//! duplicate keys in a txn, contradictory put flags. etcd's texts.

use std::collections::HashSet;

use bytes::Bytes;
use etcq_net::pb::etcdserverpb as pb;

use crate::errors::{self, EtcdError};

pub(crate) fn range(r: &pb::RangeRequest) -> Result<(), EtcdError> {
    if r.key.is_empty() {
        return Err(errors::empty_key());
    }
    Ok(())
}

pub(crate) fn put(r: &pb::PutRequest) -> Result<(), EtcdError> {
    if r.key.is_empty() {
        return Err(errors::empty_key());
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(errors::value_provided());
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(errors::lease_provided());
    }
    Ok(())
}

pub(crate) fn delete_range(r: &pb::DeleteRangeRequest) -> Result<(), EtcdError> {
    if r.key.is_empty() {
        return Err(errors::empty_key());
    }
    Ok(())
}

pub(crate) fn txn(r: &pb::TxnRequest, max_ops: usize) -> Result<(), EtcdError> {
    if r.compare.len() > max_ops || r.success.len() > max_ops || r.failure.len() > max_ops {
        return Err(errors::too_many_ops());
    }
    for c in &r.compare {
        if c.key.is_empty() {
            return Err(errors::empty_key());
        }
    }
    for op in r.success.iter().chain(&r.failure) {
        use pb::request_op::Request as Q;
        match &op.request {
            Some(Q::RequestRange(x)) => range(x)?,
            Some(Q::RequestPut(x)) => put(x)?,
            Some(Q::RequestDeleteRange(x)) => delete_range(x)?,
            Some(Q::RequestTxn(x)) => txn(x, max_ops)?,
            None => {}
        }
    }
    intervals(&r.success)?;
    intervals(&r.failure)?;
    Ok(())
}

/// Keys written by one branch: puts, and deleted ranges `[start, end)`.
/// A key put twice, or put and deleted, in one branch is a duplicate.
/// What one txn branch writes: deleted ranges and put keys.
type Writes = (Vec<(Bytes, Bytes)>, HashSet<Bytes>);

fn intervals(ops: &[pb::RequestOp]) -> Result<Writes, EtcdError> {
    use pb::request_op::Request as Q;
    let mut dels = Vec::new();
    let mut puts: HashSet<Bytes> = HashSet::new();
    for op in ops {
        if let Some(Q::RequestTxn(t)) = &op.request {
            let (sd, sp) = intervals(&t.success)?;
            let (fd, fp) = intervals(&t.failure)?;
            // Only one nested branch runs: its puts may repeat each other, not ours.
            for k in sp.union(&fp) {
                if !puts.insert(k.clone()) {
                    return Err(errors::duplicate_key());
                }
            }
            dels.extend(sd);
            dels.extend(fd);
        }
    }
    for op in ops {
        if let Some(Q::RequestDeleteRange(d)) = &op.request {
            dels.push((d.key.clone(), d.range_end.clone()));
        }
    }
    for op in ops {
        if let Some(Q::RequestPut(p)) = &op.request {
            if !puts.insert(p.key.clone()) {
                return Err(errors::duplicate_key());
            }
        }
    }
    for k in &puts {
        if dels
            .iter()
            .any(|(s, e)| crate::front::watch::key_in_range(k, s, e))
        {
            return Err(errors::duplicate_key());
        }
    }
    Ok((dels, puts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_op(k: &'static str) -> pb::RequestOp {
        pb::RequestOp {
            request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
                key: Bytes::from_static(k.as_bytes()),
                ..Default::default()
            })),
        }
    }

    fn del_op(k: &'static str, end: &'static str) -> pb::RequestOp {
        pb::RequestOp {
            request: Some(pb::request_op::Request::RequestDeleteRange(
                pb::DeleteRangeRequest {
                    key: Bytes::from_static(k.as_bytes()),
                    range_end: Bytes::from_static(end.as_bytes()),
                    ..Default::default()
                },
            )),
        }
    }

    #[test]
    fn a_key_put_twice_in_one_branch_is_refused() {
        let t = pb::TxnRequest {
            success: vec![put_op("a"), put_op("a")],
            ..Default::default()
        };
        assert_eq!(txn(&t, 128), Err(errors::duplicate_key()));
    }

    #[test]
    fn the_same_key_in_both_branches_is_fine() {
        let t = pb::TxnRequest {
            success: vec![put_op("a")],
            failure: vec![put_op("a")],
            ..Default::default()
        };
        assert_eq!(txn(&t, 128), Ok(()));
    }

    #[test]
    fn a_put_inside_a_deleted_range_is_refused() {
        let t = pb::TxnRequest {
            success: vec![del_op("a", "c"), put_op("b")],
            ..Default::default()
        };
        assert_eq!(txn(&t, 128), Err(errors::duplicate_key()));
    }

    #[test]
    fn too_many_ops_uses_etcds_text() {
        let t = pb::TxnRequest {
            success: vec![put_op("a"), put_op("b"), put_op("c")],
            ..Default::default()
        };
        assert_eq!(txn(&t, 2), Err(errors::too_many_ops()));
    }

    #[test]
    fn empty_keys_are_refused() {
        assert_eq!(put(&pb::PutRequest::default()), Err(errors::empty_key()));
        assert_eq!(
            range(&pb::RangeRequest::default()),
            Err(errors::empty_key())
        );
    }
}
