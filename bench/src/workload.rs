//! The unary workloads (`put`, `range`, `txn-put`): each one is only a
//! function from operation index to request; the engine does the rest.

use std::sync::Arc;

use anyhow::{bail, Result};
use bytes::Bytes;
use etcq_net::pb::etcdserverpb::{request_op, PutRequest, RangeRequest, RequestOp, TxnRequest};
use rand::{rngs::StdRng, SeedableRng};

use crate::{
    cli::{Consistency, PutArgs, RangeArgs, TxnPutArgs},
    engine::RequestSource,
    keys::{KeySpace, ValueMaker},
    target::Request,
};

/// A workload ready to run: how many operations, at what rate, built how.
pub(crate) struct UnaryWorkload {
    pub(crate) total: u64,
    pub(crate) rate_per_sec: u64,
    pub(crate) source: RequestSource,
}

/// `put`: operation `i` writes a value carrying `i` to a key chosen by the
/// key space (sequential: `i % key-space-size`; else uniformly random).
pub(crate) fn put(args: &PutArgs, seed: u64) -> Result<UnaryWorkload> {
    let keys = KeySpace::new(
        args.keys.key_size,
        args.keys.key_space_size,
        args.keys.sequential_keys,
    )?;
    let values = ValueMaker::new(args.val_size, &mut StdRng::seed_from_u64(seed));
    let source: RequestSource = Arc::new(move |index, rng| {
        Request::Put(PutRequest {
            key: keys.key_for_op(index, rng),
            value: values.value(index),
            ..Default::default()
        })
    });
    Ok(UnaryWorkload {
        total: args.total,
        rate_per_sec: args.rate,
        source,
    })
}

/// `range KEY [END]`: the same read `--total` times.
pub(crate) fn range(args: &RangeArgs) -> Result<UnaryWorkload> {
    if args.key.is_empty() {
        bail!("range needs a non-empty KEY");
    }
    let request = RangeRequest {
        key: Bytes::from(args.key.clone()),
        range_end: args
            .end
            .as_ref()
            .map(|end| Bytes::from(end.clone()))
            .unwrap_or_default(),
        limit: args.limit,
        serializable: args.consistency == Consistency::S,
        ..Default::default()
    };
    let source: RequestSource = Arc::new(move |_, _| Request::Range(request.clone()));
    Ok(UnaryWorkload {
        total: args.total,
        rate_per_sec: args.rate,
        source,
    })
}

/// `txn-put`: transaction `i` has no compares and `txn-ops` puts in its
/// success branch, to keys `(i * txn-ops + j) % key-space-size` (distinct
/// within a transaction, as etcd refuses duplicate keys in one txn).
pub(crate) fn txn_put(args: &TxnPutArgs, seed: u64) -> Result<UnaryWorkload> {
    if args.txn_ops == 0 {
        bail!("--txn-ops must be at least 1");
    }
    if (args.txn_ops as u64) > args.keys.key_space_size {
        bail!(
            "--txn-ops {} needs --key-space-size of at least {} (a txn may not put one key twice)",
            args.txn_ops,
            args.txn_ops
        );
    }
    let keys = KeySpace::new(args.keys.key_size, args.keys.key_space_size, true)?;
    let values = ValueMaker::new(args.val_size, &mut StdRng::seed_from_u64(seed));
    let ops = args.txn_ops as u64;
    let source: RequestSource = Arc::new(move |index, _| {
        let value = values.value(index);
        let success = (0..ops)
            .map(|j| RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key: keys.key(index.wrapping_mul(ops).wrapping_add(j)),
                    value: value.clone(),
                    ..Default::default()
                })),
            })
            .collect();
        Request::Txn(TxnRequest {
            compare: Vec::new(),
            success,
            failure: Vec::new(),
        })
    });
    Ok(UnaryWorkload {
        total: args.total,
        rate_per_sec: args.rate,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::KeyArgs;
    use crate::keys::value_index;

    fn key_args(key_space_size: u64, sequential_keys: bool) -> KeyArgs {
        KeyArgs {
            key_size: 8,
            key_space_size,
            sequential_keys,
        }
    }

    #[test]
    fn sequential_puts_walk_the_key_space_with_distinct_values() {
        let args = PutArgs {
            keys: key_args(3, true),
            val_size: 256,
            total: 10,
            rate: 0,
        };
        let w = put(&args, 1).expect("valid put workload");
        let mut rng = StdRng::seed_from_u64(0);
        let reqs: Vec<PutRequest> = (0..4)
            .map(|i| match (w.source)(i, &mut rng) {
                Request::Put(p) => p,
                other => panic!("not a put: {other:?}"),
            })
            .collect();
        let keys: Vec<&[u8]> = reqs.iter().map(|r| r.key.as_ref()).collect();
        assert_eq!(
            keys,
            [&b"00000000"[..], b"00000001", b"00000002", b"00000000"]
        );
        assert_eq!(reqs[3].value.len(), 256);
        assert_eq!(value_index(&reqs[3].value), Some(3));
    }

    #[test]
    fn range_reads_the_named_key_with_the_asked_consistency() {
        let args = RangeArgs {
            key: "foo".into(),
            end: Some("fop".into()),
            consistency: Consistency::S,
            total: 1,
            limit: 0,
            rate: 0,
        };
        let w = range(&args).expect("valid range workload");
        match (w.source)(0, &mut StdRng::seed_from_u64(0)) {
            Request::Range(r) => {
                assert_eq!(r.key, Bytes::from_static(b"foo"));
                assert_eq!(r.range_end, Bytes::from_static(b"fop"));
                assert!(r.serializable);
            }
            other => panic!("not a range: {other:?}"),
        }
    }

    #[test]
    fn txn_put_uses_distinct_keys_within_a_txn() {
        let args = TxnPutArgs {
            keys: key_args(5, false),
            val_size: 32,
            total: 10,
            txn_ops: 3,
            rate: 0,
        };
        let w = txn_put(&args, 1).expect("valid txn-put workload");
        match (w.source)(1, &mut StdRng::seed_from_u64(0)) {
            Request::Txn(t) => {
                let keys: Vec<Bytes> = t
                    .success
                    .iter()
                    .map(|op| match &op.request {
                        Some(request_op::Request::RequestPut(p)) => p.key.clone(),
                        other => panic!("not a put: {other:?}"),
                    })
                    .collect();
                assert_eq!(
                    keys,
                    [
                        Bytes::from_static(b"00000003"),
                        Bytes::from_static(b"00000004"),
                        Bytes::from_static(b"00000000"),
                    ]
                );
                assert!(t.compare.is_empty());
            }
            other => panic!("not a txn: {other:?}"),
        }
    }

    #[test]
    fn txn_put_refuses_more_ops_than_keys() {
        let args = TxnPutArgs {
            keys: key_args(2, false),
            val_size: 32,
            total: 10,
            txn_ops: 3,
            rate: 0,
        };
        assert!(txn_put(&args, 1).is_err());
    }
}
