//! An in-memory server behind the [`Conn`](crate::target::Conn) seam, for
//! tests of the engine and the history: a single-revision-counter key-value
//! map answering put, range and put-only txns. No watch.

use std::{collections::BTreeMap, sync::Mutex};

use bytes::Bytes;
use etcq_net::pb::{
    etcdserverpb::{
        request_op, response_op, PutRequest, PutResponse, RangeRequest, RangeResponse,
        ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
    },
    mvccpb::KeyValue,
};

use crate::target::OpError;

#[derive(Debug, Default)]
struct Store {
    revision: i64,
    kvs: BTreeMap<Bytes, KeyValue>,
}

/// The fake server; fails every request whose key starts with `fail`.
#[derive(Debug, Default)]
pub(crate) struct FakeConn {
    store: Mutex<Store>,
}

fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

impl Store {
    fn apply_put(&mut self, req: &PutRequest, revision: i64) {
        let kv = self.kvs.entry(req.key.clone()).or_insert_with(|| KeyValue {
            key: req.key.clone(),
            create_revision: revision,
            ..Default::default()
        });
        kv.value = req.value.clone();
        kv.mod_revision = revision;
        kv.version += 1;
    }
}

impl FakeConn {
    fn store(&self) -> Result<std::sync::MutexGuard<'_, Store>, OpError> {
        self.store
            .lock()
            .map_err(|_| OpError::new("fake store poisoned"))
    }

    pub(crate) async fn put(&self, req: PutRequest) -> Result<PutResponse, OpError> {
        if req.key.starts_with(b"fail") {
            return Err(OpError::new("injected failure"));
        }
        let mut store = self.store()?;
        store.revision += 1;
        let revision = store.revision;
        store.apply_put(&req, revision);
        Ok(PutResponse {
            header: header(revision),
            prev_kv: None,
        })
    }

    pub(crate) async fn range(&self, req: RangeRequest) -> Result<RangeResponse, OpError> {
        let store = self.store()?;
        let kvs: Vec<KeyValue> = if req.range_end.is_empty() {
            store.kvs.get(&req.key).cloned().into_iter().collect()
        } else {
            store
                .kvs
                .range(req.key.clone()..req.range_end.clone())
                .map(|(_, kv)| kv.clone())
                .collect()
        };
        Ok(RangeResponse {
            header: header(store.revision),
            count: kvs.len() as i64,
            kvs,
            more: false,
        })
    }

    pub(crate) async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, OpError> {
        let mut store = self.store()?;
        store.revision += 1;
        let revision = store.revision;
        let mut responses = Vec::new();
        for op in &req.success {
            match &op.request {
                Some(request_op::Request::RequestPut(put)) => {
                    store.apply_put(put, revision);
                    responses.push(ResponseOp {
                        response: Some(response_op::Response::ResponsePut(PutResponse::default())),
                    });
                }
                _ => return Err(OpError::new("fake txn supports puts only")),
            }
        }
        Ok(TxnResponse {
            header: header(revision),
            succeeded: true,
            responses,
        })
    }
}
