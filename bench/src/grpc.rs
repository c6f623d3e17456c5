//! The `etcd-grpc` target: etcd's v3 gRPC API over plaintext HTTP/2.
//!
//! Unary calls (put, range, txn) are gRPC requests written here on hyper's
//! HTTP/2 client: the five-byte message prefix, `content-type:
//! application/grpc`, `te: trailers`, and the status from the trailers (or
//! from the headers of a trailers-only answer). tonic's channel put a tower
//! buffer (a channel hop and a task) and its codec layers on every request,
//! which on a 2-core machine shared with the server cost the etcd column
//! (and etcq's gRPC front) CPU the server then lacked. Watch streams use
//! tonic's generated client (`build.rs` from `net/proto`), on a connection
//! of their own, opened when the first watch starts. Message types are
//! etcq-net's, shared with the native target.
//!
//! One [`GrpcConn`] is one HTTP/2 connection for its unary calls; requests
//! from every client mapped to it are multiplexed as concurrent streams, as
//! etcd's Go client does with one `grpc.ClientConn`.

use std::time::Duration;

use anyhow::{Context, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use etcq_net::pb::etcdserverpb::{
    watch_request::RequestUnion, PutRequest, PutResponse, RangeRequest, RangeResponse, TxnRequest,
    TxnResponse, WatchCreateRequest, WatchRequest, WatchResponse,
};
use futures::{channel::mpsc, SinkExt};
use http_body_util::{BodyExt, Full};
use prost::Message;
use tonic::transport::{Channel, Endpoint};

use crate::target::OpError;

#[allow(
    clippy::all,
    clippy::pedantic,
    unreachable_pub,
    missing_docs,
    dead_code
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.rs"));
}

use generated::watch_client::WatchClient;

/// Largest response accepted (etcd's Go client allows up to 2 GiB; a
/// benchmark that reads more than this per request is measuring the wrong
/// thing).
const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// Watch requests queued on one stream before `create` waits.
const WATCH_REQUEST_BUFFER: usize = 64;

/// How long establishing the HTTP/2 connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The gRPC paths of the unary calls.
const PUT_PATH: &str = "/etcdserverpb.KV/Put";
const RANGE_PATH: &str = "/etcdserverpb.KV/Range";
const TXN_PATH: &str = "/etcdserverpb.KV/Txn";

/// One HTTP/2 connection to an etcd server (plus one for watches, opened
/// with it).
#[derive(Debug, Clone)]
pub(crate) struct GrpcConn {
    unary: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    uris: Uris,
    watch: WatchClient<Channel>,
}

#[derive(Debug, Clone)]
struct Uris {
    put: http::Uri,
    range: http::Uri,
    txn: http::Uri,
}

impl GrpcConn {
    /// Connects to `endpoint` (`host:port`) without TLS.
    pub(crate) async fn connect(endpoint: &str) -> Result<GrpcConn> {
        let uri = format!("http://{endpoint}");
        // The watch connection is opened on first use: put and range loads
        // never make one, so the server sees one connection per `--conns`.
        let channel = Endpoint::from_shared(uri.clone())
            .with_context(|| format!("bad gRPC endpoint {uri}"))?
            .tcp_nodelay(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .connect_lazy();
        let stream =
            tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(endpoint))
                .await
                .map_err(|_| anyhow::anyhow!("connecting to etcd at {uri}: timed out"))?
                .with_context(|| format!("connecting to etcd at {uri}"))?;
        stream.set_nodelay(true).context("TCP_NODELAY")?;
        let (unary, connection) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .with_context(|| format!("HTTP/2 handshake with {uri}"))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("etcq-bench: gRPC connection ended: {e}");
            }
        });
        let path_uri = |path: &str| -> Result<http::Uri> {
            format!("{uri}{path}")
                .parse()
                .with_context(|| format!("bad gRPC endpoint {uri}"))
        };
        Ok(GrpcConn {
            unary,
            uris: Uris {
                put: path_uri(PUT_PATH)?,
                range: path_uri(RANGE_PATH)?,
                txn: path_uri(TXN_PATH)?,
            },
            watch: WatchClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES),
        })
    }

    pub(crate) async fn put(&self, req: PutRequest) -> Result<PutResponse, OpError> {
        self.call(&self.uris.put, &req).await
    }

    pub(crate) async fn range(&self, req: RangeRequest) -> Result<RangeResponse, OpError> {
        self.call(&self.uris.range, &req).await
    }

    pub(crate) async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, OpError> {
        self.call(&self.uris.txn, &req).await
    }

    /// One unary gRPC call: the request as one length-prefixed message, the
    /// answer's message and status.
    async fn call<Req: Message, Resp: Message + Default>(
        &self,
        uri: &http::Uri,
        req: &Req,
    ) -> Result<Resp, OpError> {
        let len = req.encoded_len();
        let mut body = BytesMut::with_capacity(5 + len);
        body.put_u8(0);
        body.put_u32(u32::try_from(len).map_err(|_| OpError::new("request too large"))?);
        req.encode(&mut body)
            .map_err(|e| OpError::new(format!("encoding: {e}")))?;
        let request = http::Request::post(uri.clone())
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers")
            .body(Full::new(body.freeze()))
            .map_err(|e| OpError::new(format!("building the request: {e}")))?;
        let mut sender = self.unary.clone();
        sender
            .ready()
            .await
            .map_err(|e| OpError::new(format!("connection: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| OpError::new(format!("connection: {e}")))?;
        let (parts, body) = response.into_parts();
        // A trailers-only answer carries the status in its headers.
        status_of(&parts.headers)?;
        let collected = body
            .collect()
            .await
            .map_err(|e| OpError::new(format!("reading the answer: {e}")))?;
        if let Some(trailers) = collected.trailers() {
            status_of(trailers)?;
        }
        let mut data = collected.to_bytes();
        if data.len() < 5 || data[0] != 0 {
            return Err(OpError::new(format!(
                "malformed gRPC answer of {} bytes",
                data.len()
            )));
        }
        data.advance(1);
        let len = data.get_u32() as usize;
        if data.len() != len || len > MAX_RESPONSE_BYTES {
            return Err(OpError::new(format!(
                "gRPC message length {len} with {} bytes",
                data.len()
            )));
        }
        Resp::decode(data).map_err(|e| OpError::new(format!("decoding the answer: {e}")))
    }

    /// Opens a watch stream whose first request creates `first`.
    ///
    /// The first create request is queued before the call starts: etcd sends
    /// the response headers only with its first message, so waiting for the
    /// call to open before sending anything would wait forever.
    pub(crate) async fn open_watch(&self, first: WatchCreateRequest) -> Result<GrpcWatch, OpError> {
        let (mut requests_tx, requests_rx) = mpsc::channel(WATCH_REQUEST_BUFFER);
        requests_tx
            .try_send(create_request(first))
            .map_err(|e| OpError::new(format!("queueing watch create: {e}")))?;
        let responses = self
            .watch
            .clone()
            .watch(requests_rx)
            .await
            .map_err(status_error)?
            .into_inner();
        Ok(GrpcWatch {
            requests_tx,
            responses,
        })
    }
}

fn create_request(req: WatchCreateRequest) -> WatchRequest {
    WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(req)),
    }
}

/// A non-OK `grpc-status` in `headers`, as etcd's Go client prints it.
fn status_of(headers: &http::HeaderMap) -> Result<(), OpError> {
    let Some(code) = headers.get("grpc-status") else {
        return Ok(());
    };
    let code: i32 = code
        .to_str()
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(tonic::Code::Unknown as i32);
    if code == 0 {
        return Ok(());
    }
    let message = headers
        .get("grpc-message")
        // gRPC percent-encodes the message.
        .map(|m| {
            percent_encoding::percent_decode(m.as_bytes())
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    Err(status_error(tonic::Status::new(
        tonic::Code::from(code),
        message,
    )))
}

/// Formats a gRPC status the way etcd's Go client prints it.
fn status_error(status: tonic::Status) -> OpError {
    OpError::new(format!(
        "rpc error: code = {:?} desc = {}",
        status.code(),
        status.message()
    ))
}

/// One gRPC watch stream (many watchers may share it).
#[derive(Debug)]
pub(crate) struct GrpcWatch {
    requests_tx: mpsc::Sender<WatchRequest>,
    responses: tonic::Streaming<WatchResponse>,
}

impl GrpcWatch {
    /// Sends another create request on this stream; its `created` response
    /// arrives through [`GrpcWatch::recv`].
    pub(crate) async fn create(&mut self, req: WatchCreateRequest) -> Result<(), OpError> {
        self.requests_tx
            .send(create_request(req))
            .await
            .map_err(|e| OpError::new(format!("watch stream closed: {e}")))
    }

    /// The next response; `None` once the server ended the stream.
    /// Cancel-safe: a partly read message stays buffered in the stream.
    pub(crate) async fn recv(&mut self) -> Result<Option<WatchResponse>, OpError> {
        self.responses.message().await.map_err(status_error)
    }
}
