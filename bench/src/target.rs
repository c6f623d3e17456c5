//! The one seam between workloads and servers: a [`Conn`] does put, range,
//! txn and watch with etcd's v3 messages, whichever protocol carries them.
//! Workloads are written once against it; `grpc` and `etcq` hold the two
//! protocol ends.

use std::{fmt, path::Path, sync::Arc};

use anyhow::{bail, Result};
use etcq_net::pb::etcdserverpb::{
    PutRequest, PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
    WatchCreateRequest, WatchResponse,
};

use crate::{cli::TargetKind, etcq::EtcqConn, etcq::EtcqWatch, grpc::GrpcConn, grpc::GrpcWatch};

/// Why one operation failed. Only the text matters to a benchmark: it is
/// counted in the error distribution and written to the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpError(String);

impl OpError {
    pub(crate) fn new(message: impl Into<String>) -> OpError {
        OpError(message.into())
    }

    pub(crate) fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One unary request of a workload.
#[derive(Debug, Clone)]
pub(crate) enum Request {
    Put(PutRequest),
    Range(RangeRequest),
    Txn(TxnRequest),
}

/// The response to a [`Request`] of the same variant.
#[derive(Debug, Clone)]
pub(crate) enum Response {
    Put(PutResponse),
    Range(RangeResponse),
    Txn(TxnResponse),
}

/// One connection to the server under test.
#[derive(Debug)]
pub(crate) enum Conn {
    Grpc(Box<GrpcConn>),
    Etcq(EtcqConn),
    /// In-memory server for tests.
    #[cfg(test)]
    Fake(crate::fake::FakeConn),
}

impl Conn {
    pub(crate) async fn execute(&self, req: Request) -> Result<Response, OpError> {
        match (self, req) {
            (Conn::Grpc(c), Request::Put(r)) => c.put(r).await.map(Response::Put),
            (Conn::Grpc(c), Request::Range(r)) => c.range(r).await.map(Response::Range),
            (Conn::Grpc(c), Request::Txn(r)) => c.txn(r).await.map(Response::Txn),
            (Conn::Etcq(c), Request::Put(r)) => c.put(r).await.map(Response::Put),
            (Conn::Etcq(c), Request::Range(r)) => c.range(r).await.map(Response::Range),
            (Conn::Etcq(c), Request::Txn(r)) => c.txn(r).await.map(Response::Txn),
            #[cfg(test)]
            (Conn::Fake(c), Request::Put(r)) => c.put(r).await.map(Response::Put),
            #[cfg(test)]
            (Conn::Fake(c), Request::Range(r)) => c.range(r).await.map(Response::Range),
            #[cfg(test)]
            (Conn::Fake(c), Request::Txn(r)) => c.txn(r).await.map(Response::Txn),
        }
    }

    /// Opens a watch stream whose first watcher is `first`; its `created`
    /// response is the first thing [`WatchSession::recv`] returns.
    pub(crate) async fn open_watch(
        &self,
        first: WatchCreateRequest,
    ) -> Result<WatchSession, OpError> {
        match self {
            Conn::Grpc(c) => c
                .open_watch(first)
                .await
                .map(|w| WatchSession::Grpc(Box::new(w))),
            Conn::Etcq(c) => c
                .open_watch(first)
                .await
                .map(|w| WatchSession::Etcq(Box::new(w))),
            #[cfg(test)]
            Conn::Fake(_) => {
                let _ = first;
                Err(OpError::new("the fake server has no watch"))
            }
        }
    }
}

/// One watch stream carrying any number of watchers.
#[derive(Debug)]
pub(crate) enum WatchSession {
    Grpc(Box<GrpcWatch>),
    Etcq(Box<EtcqWatch>),
}

impl WatchSession {
    /// Adds a watcher; its `created` response comes through `recv`.
    pub(crate) async fn create(&mut self, req: WatchCreateRequest) -> Result<(), OpError> {
        match self {
            WatchSession::Grpc(w) => w.create(req).await,
            WatchSession::Etcq(w) => w.create(req).await,
        }
    }

    /// The next response; `None` when the server closed the stream.
    pub(crate) async fn recv(&mut self) -> Result<Option<WatchResponse>, OpError> {
        match self {
            WatchSession::Grpc(w) => w.recv().await,
            WatchSession::Etcq(w) => w.recv().await,
        }
    }
}

/// `http://host:port` or `host:port` -> `host:port`.
pub(crate) fn normalize_endpoint(endpoint: &str) -> Result<String> {
    let trimmed = endpoint.trim();
    let bare = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .unwrap_or(trimmed)
        .trim_end_matches('/');
    if bare.is_empty() || !bare.contains(':') {
        bail!("endpoint {endpoint:?} is not host:port");
    }
    Ok(bare.to_string())
}

/// Opens `conns` connections, round-robin over `endpoints`, concurrently.
pub(crate) async fn connect_all(
    kind: TargetKind,
    endpoints: &[String],
    conns: usize,
    cacert: Option<&Path>,
    etcq_stream_reuse: bool,
) -> Result<Vec<Arc<Conn>>> {
    if endpoints.is_empty() {
        bail!("no --endpoints given");
    }
    if conns == 0 {
        bail!("--conns must be at least 1");
    }
    let endpoints: Vec<String> = endpoints
        .iter()
        .map(|e| normalize_endpoint(e))
        .collect::<Result<_>>()?;
    let attempts = (0..conns).map(|i| {
        let endpoint = &endpoints[i % endpoints.len()];
        async move {
            match kind {
                TargetKind::EtcdGrpc => GrpcConn::connect(endpoint)
                    .await
                    .map(|c| Conn::Grpc(Box::new(c))),
                TargetKind::Etcq => EtcqConn::connect(endpoint, cacert, etcq_stream_reuse)
                    .await
                    .map(Conn::Etcq),
            }
        }
    });
    let opened = futures::future::try_join_all(attempts).await?;
    Ok(opened.into_iter().map(Arc::new).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_lose_their_scheme() {
        let check = |given: &str, want: &str| {
            assert_eq!(normalize_endpoint(given).expect("valid endpoint"), want);
        };
        check("127.0.0.1:2379", "127.0.0.1:2379");
        check("http://127.0.0.1:23790", "127.0.0.1:23790");
        check("https://localhost:2379/", "localhost:2379");
        check(" 10.0.0.1:1 ", "10.0.0.1:1");
    }

    #[test]
    fn endpoints_without_port_are_refused() {
        assert!(normalize_endpoint("localhost").is_err());
        assert!(normalize_endpoint("http://").is_err());
    }
}
