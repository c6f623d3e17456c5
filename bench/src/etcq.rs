//! The `etcq` target: etcq/1 over QUIC through [`etcq_net::client`].
//!
//! One [`EtcqConn`] is one `Client`, that is one QUIC connection (its own
//! UDP socket); every request is a QUIC stream on it, so the clients mapped
//! to one connection run concurrently on it, as on an HTTP/2 connection.
//! TLS is always verified: the per-user trust directory the server
//! publishes its CA into, plus `--cacert`.

use std::path::Path;

use anyhow::{Context, Result};
use etcq_net::{
    client::{Client, ClientError, ClientOptions, WatchStream, Watcher},
    pb::etcdserverpb::{
        PutRequest, PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
        WatchCreateRequest, WatchResponse,
    },
    tls::ClientTls,
};

use crate::target::OpError;

/// One QUIC connection to an etcq server.
#[derive(Debug)]
pub(crate) struct EtcqConn {
    client: Client,
}

/// Formats a client error; server refusals the way etcd's Go client prints
/// a gRPC status, so error distributions of both targets read alike.
fn client_error(err: ClientError) -> OpError {
    match &err {
        ClientError::Status { code, message } => {
            OpError::new(format!("rpc error: code = {code:?} desc = {message}"))
        }
        _ => OpError::new(err.to_string()),
    }
}

impl EtcqConn {
    /// Connects to `endpoint` (`host:port`), verifying its certificate.
    pub(crate) async fn connect(
        endpoint: &str,
        cacert: Option<&Path>,
        stream_reuse: bool,
    ) -> Result<EtcqConn> {
        let tls = ClientTls::default_trust(cacert).context("etcq TLS trust")?;
        let mut options = ClientOptions::default();
        if !stream_reuse {
            options.idle_call_streams = 0;
        }
        let client = Client::connect_with(&[endpoint], tls, options)
            .await
            .with_context(|| format!("connecting to etcq at {endpoint}"))?;
        Ok(EtcqConn { client })
    }

    pub(crate) async fn put(&self, req: PutRequest) -> Result<PutResponse, OpError> {
        self.client.put_request(req).await.map_err(client_error)
    }

    pub(crate) async fn range(&self, req: RangeRequest) -> Result<RangeResponse, OpError> {
        self.client.range(req).await.map_err(client_error)
    }

    pub(crate) async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, OpError> {
        self.client.txn(req).await.map_err(client_error)
    }

    /// Opens a watch session whose first watcher is `first`.
    pub(crate) async fn open_watch(&self, first: WatchCreateRequest) -> Result<EtcqWatch, OpError> {
        let (watcher, responses) = self.client.watch(first).await.map_err(client_error)?;
        Ok(EtcqWatch { watcher, responses })
    }
}

/// One etcq/1 watch session (one QUIC stream, any number of watchers).
#[derive(Debug)]
pub(crate) struct EtcqWatch {
    watcher: Watcher,
    responses: WatchStream,
}

impl EtcqWatch {
    pub(crate) async fn create(&mut self, req: WatchCreateRequest) -> Result<(), OpError> {
        self.watcher.create(req).await.map_err(client_error)
    }

    /// The next response; `None` once the server ended the session.
    pub(crate) async fn recv(&mut self) -> Result<Option<WatchResponse>, OpError> {
        self.responses.message().await.map_err(client_error)
    }
}
