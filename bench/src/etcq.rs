//! The `etcq` target: etcq/1 over QUIC through `etcq_net::client`.
//!
//! The client library is not in etcq-net yet, so this target cannot be
//! constructed: [`EtcqConn::connect`] fails with a clear message and the
//! types are uninhabited, which keeps every workload compiling against the
//! final shape (put/range/txn with etcd's messages, watch sessions).

use std::path::Path;

use anyhow::{bail, Result};
use etcq_net::pb::etcdserverpb::{
    PutRequest, PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
    WatchCreateRequest, WatchResponse,
};

use crate::target::OpError;

/// One QUIC connection to an etcq server.
#[derive(Debug)]
pub(crate) enum EtcqConn {}

impl EtcqConn {
    pub(crate) async fn connect(endpoint: &str, _cacert: Option<&Path>) -> Result<EtcqConn> {
        bail!(
            "cannot connect to {endpoint}: the etcq/1 client (etcq_net::client) is not \
             available in this build yet; use --target etcd-grpc"
        )
    }

    pub(crate) async fn put(&self, _req: PutRequest) -> Result<PutResponse, OpError> {
        match *self {}
    }

    pub(crate) async fn range(&self, _req: RangeRequest) -> Result<RangeResponse, OpError> {
        match *self {}
    }

    pub(crate) async fn txn(&self, _req: TxnRequest) -> Result<TxnResponse, OpError> {
        match *self {}
    }

    pub(crate) async fn open_watch(&self, _first: WatchCreateRequest) -> Result<EtcqWatch, OpError> {
        match *self {}
    }
}

/// One etcq/1 watch session.
#[derive(Debug)]
pub(crate) enum EtcqWatch {}

impl EtcqWatch {
    pub(crate) async fn create(&mut self, _req: WatchCreateRequest) -> Result<(), OpError> {
        match *self {}
    }

    pub(crate) async fn recv(&mut self) -> Result<Option<WatchResponse>, OpError> {
        match *self {}
    }
}
