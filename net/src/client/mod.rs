//! The Rust client for etcq/1, on tokio (quinn's tokio runtime).
//!
//! One [`Client`] holds one QUIC connection; clones share it. Every unary
//! call runs on a bidirectional stream of its own while it is in flight, so
//! any number of calls run concurrently without head-of-line blocking; a
//! stream whose call completed is kept and reused by a later call (up to
//! [`IDLE_CALL_STREAMS_MAX`]), which saves opening and closing a QUIC stream
//! per request (docs/protocol.md, "Stream reuse"). Watches and lease
//! keep-alives get one long-lived stream per session. If the connection
//! drops, the next call dials again (trying the endpoints in order); the
//! call that saw the failure reports it and is not retried, because a put or
//! txn may or may not have been applied.
//!
//! Requests and responses are etcd's own messages ([`crate::pb`]), so
//! anything etcd's API can express, this client can send; the helpers below
//! cover the common cases.
//!
//! # Key-value
//!
//! ```no_run
//! # async fn demo() -> Result<(), etcq_net::client::ClientError> {
//! use etcq_net::{client::Client, tls::ClientTls};
//!
//! let client = Client::connect(&["127.0.0.1:2379"], ClientTls::default_trust(None)?).await?;
//! client.put("greeting", "hello").await?;
//! if let Some(kv) = client.get("greeting").await? {
//!     println!("{:?} at revision {}", kv.value, kv.mod_revision);
//! }
//! let all = client.get_prefix("greet").await?;
//! println!("{} keys", all.count);
//! # Ok(()) }
//! ```
//!
//! # Transactions
//!
//! ```no_run
//! # async fn demo(client: etcq_net::client::Client) -> Result<(), etcq_net::client::ClientError> {
//! use etcq_net::client::{Compare, CompareOp, Op, Txn};
//!
//! // Create "lock" only if it does not exist yet.
//! let resp = client
//!     .txn(
//!         Txn::new()
//!             .when([Compare::version("lock", CompareOp::Equal, 0)])
//!             .and_then([Op::put("lock", "me")])
//!             .or_else([Op::get("lock")]),
//!     )
//!     .await?;
//! println!("acquired: {}", resp.succeeded);
//! # Ok(()) }
//! ```
//!
//! # Watch
//!
//! ```no_run
//! # async fn demo(client: etcq_net::client::Client) -> Result<(), etcq_net::client::ClientError> {
//! use etcq_net::client::prefix_end;
//! use etcq_net::pb::etcdserverpb::WatchCreateRequest;
//!
//! let (mut watcher, mut events) = client
//!     .watch(WatchCreateRequest {
//!         key: "config/".into(),
//!         range_end: prefix_end(b"config/"),
//!         ..Default::default()
//!     })
//!     .await?;
//! while let Some(resp) = events.message().await? {
//!     for event in resp.events {
//!         println!("{:?}", event.kv);
//!     }
//!     if resp.canceled {
//!         break;
//!     }
//! }
//! watcher.cancel(0).await?;
//! # Ok(()) }
//! ```
//!
//! # Lease keep-alive
//!
//! ```no_run
//! # async fn demo(client: etcq_net::client::Client) -> Result<(), etcq_net::client::ClientError> {
//! let lease = client.lease_grant(10, 0).await?;
//! let (mut sender, mut replies) = client.lease_keep_alive(lease.id).await?;
//! loop {
//!     tokio::time::sleep(std::time::Duration::from_secs(3)).await;
//!     sender.keep_alive().await?;
//!     match replies.message().await? {
//!         Some(reply) if reply.ttl > 0 => continue,
//!         _ => break, // expired or revoked
//!     }
//! }
//! # Ok(()) }
//! ```

mod concurrency;
mod error;
mod maintenance;
mod stream;
mod txn;

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use prost::Message;
use quinn::{IdleTimeout, TransportConfig, VarInt};

pub use error::ClientError;
pub use maintenance::SnapshotStream;
pub use stream::{KeepAliveSender, KeepAliveStream, ResponseStream, WatchStream, Watcher};
pub use txn::{prefix_end, Compare, CompareOp, Op, Txn};

use crate::{
    frame::{self, FrameError, FRAME_BYTES_MAX_DEFAULT, RESPONSE_FRAME_BYTES_MAX_DEFAULT},
    method::Method,
    pb::{
        etcdserverpb::{
            watch_request::RequestUnion, AlarmRequest, AlarmResponse, CompactionRequest,
            CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, HashKvRequest,
            HashKvResponse, LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest,
            LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse,
            LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, MemberListRequest, MemberListResponse,
            PutRequest, PutResponse, RangeRequest, RangeResponse, StatusRequest, StatusResponse,
            TxnRequest, TxnResponse, WatchCreateRequest, WatchRequest,
        },
        mvccpb::KeyValue,
    },
    tls::ClientTls,
};

/// The port etcd clients use, assumed when an endpoint names none.
pub const DEFAULT_CLIENT_PORT: u16 = 2379;

/// Tunables of a [`Client`]; `Default` suits most uses.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// How long dialing one endpoint (QUIC + TLS handshake) may take.
    pub connect_timeout: Duration,
    /// Keep-alive interval, so idle watch sessions survive the server's
    /// idle timeout.
    pub keep_alive_interval: Duration,
    /// Largest request frame sent; larger requests fail locally, as the
    /// server would refuse them anyway.
    pub request_frame_bytes_max: usize,
    /// Largest response frame accepted.
    pub response_frame_bytes_max: usize,
    /// Idle unary-call streams kept for reuse (at most
    /// [`IDLE_CALL_STREAMS_MAX`]); 0 opens a fresh stream for every call and
    /// finishes it after the request, as etcq/1 clients before stream reuse
    /// did.
    pub idle_call_streams: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(5),
            keep_alive_interval: Duration::from_secs(10),
            request_frame_bytes_max: FRAME_BYTES_MAX_DEFAULT,
            response_frame_bytes_max: RESPONSE_FRAME_BYTES_MAX_DEFAULT,
            idle_call_streams: IDLE_CALL_STREAMS_MAX,
        }
    }
}

/// Something that names a server: `"host:port"`, `"[v6]:port"`, `"host"`
/// (port 2379), an `https://`/`http://` URL of those, or a [`SocketAddr`].
pub trait ToEndpoint {
    /// The host (DNS name or IP literal, no brackets) and port.
    fn to_endpoint(&self) -> Result<(String, u16), ClientError>;
}

impl ToEndpoint for str {
    fn to_endpoint(&self) -> Result<(String, u16), ClientError> {
        parse_endpoint(self)
    }
}

impl ToEndpoint for String {
    fn to_endpoint(&self) -> Result<(String, u16), ClientError> {
        parse_endpoint(self)
    }
}

impl ToEndpoint for SocketAddr {
    fn to_endpoint(&self) -> Result<(String, u16), ClientError> {
        Ok((self.ip().to_string(), self.port()))
    }
}

impl<T: ToEndpoint + ?Sized> ToEndpoint for &T {
    fn to_endpoint(&self) -> Result<(String, u16), ClientError> {
        (**self).to_endpoint()
    }
}

fn parse_endpoint(spec: &str) -> Result<(String, u16), ClientError> {
    let invalid = |reason: &str| ClientError::InvalidEndpoint {
        endpoint: spec.to_string(),
        reason: reason.to_string(),
    };
    let rest = spec.trim();
    let rest = rest
        .strip_prefix("https://")
        .or_else(|| rest.strip_prefix("http://"))
        .unwrap_or(rest);
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') {
        return Err(invalid("a path is not allowed"));
    }
    let parse_port = |p: &str| p.parse::<u16>().map_err(|_| invalid("bad port"));
    let (host, port) = if let Some(after) = rest.strip_prefix('[') {
        let (host, tail) = after
            .split_once(']')
            .ok_or_else(|| invalid("unclosed '['"))?;
        let port = match tail {
            "" => DEFAULT_CLIENT_PORT,
            _ => parse_port(
                tail.strip_prefix(':')
                    .ok_or_else(|| invalid("junk after ']'"))?,
            )?,
        };
        (host, port)
    } else if rest.parse::<Ipv6Addr>().is_ok() {
        (rest, DEFAULT_CLIENT_PORT)
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, parse_port(port)?),
            None => (rest, DEFAULT_CLIENT_PORT),
        }
    };
    if host.is_empty() {
        return Err(invalid("empty host"));
    }
    Ok((host.to_string(), port))
}

#[derive(Debug, Clone)]
struct Target {
    host: String,
    port: u16,
}

impl Target {
    fn display(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{}]:{}", self.host, self.port),
            _ => format!("{}:{}", self.host, self.port),
        }
    }
}

/// Idle unary-call streams a [`Client`] keeps for reuse. A call takes one
/// (or opens a new stream when none is idle) and gives it back after an OK
/// answer; beyond this many idle streams, a finished call's stream is closed.
pub const IDLE_CALL_STREAMS_MAX: usize = 256;

struct Inner {
    endpoint: quinn::Endpoint,
    config: quinn::ClientConfig,
    targets: Vec<Target>,
    options: ClientOptions,
    conn: Mutex<Option<quinn::Connection>>,
    redial: tokio::sync::Mutex<()>,
    idle_calls: Mutex<IdleCalls>,
}

/// Streams of completed unary calls, all on the connection `conn_id` names.
struct IdleCalls {
    conn_id: usize,
    streams: Vec<(quinn::SendStream, quinn::RecvStream)>,
    max: usize,
}

impl IdleCalls {
    /// An idle stream on `conn`, if there is one; streams of an older
    /// connection are dropped.
    fn take(&mut self, conn: &quinn::Connection) -> Option<(quinn::SendStream, quinn::RecvStream)> {
        if self.conn_id != conn.stable_id() {
            self.streams.clear();
            self.conn_id = conn.stable_id();
        }
        self.streams.pop()
    }

    fn give_back(
        &mut self,
        conn: &quinn::Connection,
        stream: (quinn::SendStream, quinn::RecvStream),
    ) {
        if self.conn_id == conn.stable_id() && self.streams.len() < self.max {
            self.streams.push(stream);
        }
        // else: dropped, which finishes our side; the server then ends the
        // stream.
    }
}

/// A connection to an etcq cluster; cheap to clone, clones share it.
///
/// Watch and keep-alive sessions keep the connection open on their own, so
/// they outlive the last `Client` clone; the connection closes when nothing
/// uses it any more.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("targets", &self.inner.targets)
            .finish_non_exhaustive()
    }
}

fn bind_client_socket() -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    // Dual-stack when the host has IPv6, so one socket reaches every
    // endpoint; plain IPv4 otherwise.
    let v6 = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).and_then(|s| {
        s.set_only_v6(false)?;
        s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into())?;
        Ok(s)
    });
    let socket = match v6 {
        Ok(s) => s,
        Err(_) => {
            let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
            s.bind(&SocketAddr::from(([0, 0, 0, 0], 0)).into())?;
            s
        }
    };
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

impl Client {
    /// Connects to the first reachable endpoint, verifying its certificate
    /// against `tls`. Must run inside a tokio runtime.
    pub async fn connect<E: ToEndpoint>(
        endpoints: &[E],
        tls: ClientTls,
    ) -> Result<Client, ClientError> {
        Self::connect_with(endpoints, tls, ClientOptions::default()).await
    }

    /// Like [`Client::connect`], with options.
    pub async fn connect_with<E: ToEndpoint>(
        endpoints: &[E],
        tls: ClientTls,
        options: ClientOptions,
    ) -> Result<Client, ClientError> {
        if endpoints.is_empty() {
            return Err(ClientError::NoEndpoints);
        }
        let targets = endpoints
            .iter()
            .map(|e| e.to_endpoint().map(|(host, port)| Target { host, port }))
            .collect::<Result<Vec<_>, _>>()?;

        let mut transport = TransportConfig::default();
        transport
            .keep_alive_interval(Some(options.keep_alive_interval))
            // The server never opens streams towards a client.
            .max_concurrent_bidi_streams(VarInt::from_u32(0))
            .max_concurrent_uni_streams(VarInt::from_u32(0));
        if let Ok(idle) = IdleTimeout::try_from(crate::server::IDLE_TIMEOUT) {
            transport.max_idle_timeout(Some(idle));
        }
        let mut config = quinn::ClientConfig::new(tls.quic_crypto_config()?);
        config.transport_config(Arc::new(transport));

        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            None,
            bind_client_socket()?,
            Arc::new(quinn::TokioRuntime),
        )?;
        let idle_max = options.idle_call_streams.min(IDLE_CALL_STREAMS_MAX);
        let client = Client {
            inner: Arc::new(Inner {
                endpoint,
                config,
                targets,
                options,
                conn: Mutex::new(None),
                redial: tokio::sync::Mutex::new(()),
                idle_calls: Mutex::new(IdleCalls {
                    conn_id: 0,
                    streams: Vec::new(),
                    max: idle_max,
                }),
            }),
        };
        let conn = client.dial().await?;
        client.store(conn);
        Ok(client)
    }

    fn current(&self) -> Option<quinn::Connection> {
        let guard = self.inner.conn.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .filter(|c| c.close_reason().is_none())
            .cloned()
    }

    fn store(&self, conn: quinn::Connection) {
        let mut guard = self.inner.conn.lock().unwrap_or_else(|p| p.into_inner());
        *guard = Some(conn);
    }

    async fn dial(&self) -> Result<quinn::Connection, ClientError> {
        let inner = &self.inner;
        let mut last_error = String::from("no endpoint tried");
        for target in &inner.targets {
            match self.dial_one(target).await {
                Ok(conn) => return Ok(conn),
                Err(reason) => {
                    tracing::debug!("dialing {}: {reason}", target.display());
                    last_error = format!("{}: {reason}", target.display());
                }
            }
        }
        Err(ClientError::Connect {
            endpoints: inner
                .targets
                .iter()
                .map(Target::display)
                .collect::<Vec<_>>()
                .join(","),
            reason: last_error,
        })
    }

    async fn dial_one(&self, target: &Target) -> Result<quinn::Connection, String> {
        let inner = &self.inner;
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| format!("cannot resolve: {e}"))?
            .collect();
        let mut last = String::from("name resolved to no address");
        for addr in addrs {
            let connecting =
                match inner
                    .endpoint
                    .connect_with(inner.config.clone(), addr, &target.host)
                {
                    Ok(c) => c,
                    Err(e) => {
                        last = e.to_string();
                        continue;
                    }
                };
            match tokio::time::timeout(inner.options.connect_timeout, connecting).await {
                Ok(Ok(conn)) => return Ok(conn),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = format!("timed out after {:?}", inner.options.connect_timeout),
            }
        }
        Err(last)
    }

    /// The live connection, dialing again if it was lost.
    pub async fn connection(&self) -> Result<quinn::Connection, ClientError> {
        if let Some(conn) = self.current() {
            return Ok(conn);
        }
        let _one_dialer = self.inner.redial.lock().await;
        if let Some(conn) = self.current() {
            return Ok(conn);
        }
        let conn = self.dial().await?;
        self.store(conn.clone());
        Ok(conn)
    }

    /// Any unary RPC: sends `request` as `method`, returns the response or
    /// the server's status as [`ClientError::Status`].
    pub async fn call<Req: Message, Resp: Message + Default>(
        &self,
        method: Method,
        request: &Req,
    ) -> Result<Resp, ClientError> {
        let opening = frame::encode_request(method, request)?;
        let len = opening.len() - 1 - frame::FRAME_HEADER_BYTES;
        let max = self.inner.options.request_frame_bytes_max;
        if len > max {
            return Err(FrameError::TooLarge { len, max }.into());
        }
        let conn = self.connection().await?;
        let max_response = self.inner.options.response_frame_bytes_max;
        let idle = self.idle_calls().take(&conn); // the lock is released here
        if let Some(mut stream) = idle {
            // A server that finished the idle stream (one that serves one
            // call per stream, or one that refused a frame) never read this
            // request: the write fails or the stream ends with no answer,
            // and the call goes on a fresh stream instead.
            if stream.0.write_chunk(opening.clone()).await.is_ok() {
                if let Some(answer) = frame::read_response(&mut stream.1, max_response).await? {
                    return self.answered(&conn, stream, answer);
                }
            }
        }
        let mut stream = self.open_call(&conn, opening).await?;
        match frame::read_response(&mut stream.1, max_response).await? {
            Some(answer) => self.answered(&conn, stream, answer),
            None => Err(FrameError::Missing("response frame").into()),
        }
    }

    /// The outcome of a call; its stream is kept for reuse after an OK
    /// answer (after an error frame the server may have ended it).
    fn answered<Resp>(
        &self,
        conn: &quinn::Connection,
        stream: (quinn::SendStream, quinn::RecvStream),
        answer: Result<Resp, crate::method::Status>,
    ) -> Result<Resp, ClientError> {
        match answer {
            Ok(response) => {
                if self.inner.options.idle_call_streams > 0 {
                    self.idle_calls().give_back(conn, stream);
                }
                Ok(response)
            }
            Err(status) => Err(status.into()),
        }
    }

    fn idle_calls(&self) -> std::sync::MutexGuard<'_, IdleCalls> {
        self.inner
            .idle_calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a stream for a unary call and writes its opening (method byte
    /// and request frame). The stream stays open for reuse.
    async fn open_call(
        &self,
        conn: &quinn::Connection,
        opening: Bytes,
    ) -> Result<(quinn::SendStream, quinn::RecvStream), ClientError> {
        let (mut send, recv) = conn.open_bi().await?;
        send.write_chunk(opening).await.map_err(FrameError::from)?;
        if self.inner.options.idle_call_streams == 0 {
            send.finish().map_err(FrameError::from)?;
        }
        Ok((send, recv))
    }

    /// Opens a bidirectional session: `method` plus the first request.
    async fn open_session<Req: Message>(
        &self,
        method: Method,
        first: &Req,
    ) -> Result<(quinn::SendStream, quinn::RecvStream), ClientError> {
        let conn = self.connection().await?;
        let (mut send, recv) = conn.open_bi().await?;
        frame::write_request(&mut send, method, first).await?;
        Ok((send, recv))
    }

    // ------------------------------------------------------------------ KV

    /// Reads with a full [`RangeRequest`].
    pub async fn range(&self, request: RangeRequest) -> Result<RangeResponse, ClientError> {
        self.call(Method::Range, &request).await
    }

    /// Reads one key (linearizable); `None` if it does not exist.
    pub async fn get(&self, key: impl Into<Bytes>) -> Result<Option<KeyValue>, ClientError> {
        let response = self
            .range(RangeRequest {
                key: key.into(),
                ..Default::default()
            })
            .await?;
        Ok(response.kvs.into_iter().next())
    }

    /// Reads every key starting with `prefix`.
    pub async fn get_prefix(&self, prefix: impl Into<Bytes>) -> Result<RangeResponse, ClientError> {
        let key = prefix.into();
        let range_end = prefix_end(&key);
        self.range(RangeRequest {
            key,
            range_end,
            ..Default::default()
        })
        .await
    }

    /// Writes `value` at `key`.
    pub async fn put(
        &self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<PutResponse, ClientError> {
        self.put_request(PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        })
        .await
    }

    /// Writes with a full [`PutRequest`] (lease, prev_kv, ...).
    pub async fn put_request(&self, request: PutRequest) -> Result<PutResponse, ClientError> {
        self.call(Method::Put, &request).await
    }

    /// Deletes one key.
    pub async fn delete(&self, key: impl Into<Bytes>) -> Result<DeleteRangeResponse, ClientError> {
        self.delete_range(DeleteRangeRequest {
            key: key.into(),
            ..Default::default()
        })
        .await
    }

    /// Deletes with a full [`DeleteRangeRequest`].
    pub async fn delete_range(
        &self,
        request: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, ClientError> {
        self.call(Method::DeleteRange, &request).await
    }

    /// Runs a transaction ([`Txn`] or a raw [`TxnRequest`]).
    pub async fn txn(&self, txn: impl Into<TxnRequest>) -> Result<TxnResponse, ClientError> {
        self.call(Method::Txn, &txn.into()).await
    }

    /// Compacts history up to `revision`.
    pub async fn compact(&self, revision: i64) -> Result<CompactionResponse, ClientError> {
        self.call(
            Method::Compact,
            &CompactionRequest {
                revision,
                physical: false,
            },
        )
        .await
    }

    // ------------------------------------------------------------------ watch

    /// Opens a watch session with its first watcher. More watchers can be
    /// added (and cancelled) through the returned [`Watcher`]; responses for
    /// all of them arrive on the [`WatchStream`], told apart by `watch_id`.
    pub async fn watch(
        &self,
        request: WatchCreateRequest,
    ) -> Result<(Watcher, WatchStream), ClientError> {
        let first = WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(request)),
        };
        let (send, recv) = self.open_session(Method::Watch, &first).await?;
        Ok((
            Watcher::new(send),
            WatchStream::new(recv, self.inner.options.response_frame_bytes_max),
        ))
    }

    // ------------------------------------------------------------------ lease

    /// Grants a lease of `ttl` seconds; `id` 0 lets the server choose the ID.
    pub async fn lease_grant(&self, ttl: i64, id: i64) -> Result<LeaseGrantResponse, ClientError> {
        self.call(Method::LeaseGrant, &LeaseGrantRequest { ttl, id })
            .await
    }

    /// Revokes a lease, deleting its keys.
    pub async fn lease_revoke(&self, id: i64) -> Result<LeaseRevokeResponse, ClientError> {
        self.call(Method::LeaseRevoke, &LeaseRevokeRequest { id })
            .await
    }

    /// A lease's remaining TTL, and its keys if `keys`.
    pub async fn lease_time_to_live(
        &self,
        id: i64,
        keys: bool,
    ) -> Result<LeaseTimeToLiveResponse, ClientError> {
        self.call(
            Method::LeaseTimeToLive,
            &LeaseTimeToLiveRequest { id, keys },
        )
        .await
    }

    /// Every live lease.
    pub async fn lease_leases(&self) -> Result<LeaseLeasesResponse, ClientError> {
        self.call(Method::LeaseLeases, &LeaseLeasesRequest {}).await
    }

    /// Opens a keep-alive session for lease `id` and sends the first
    /// keep-alive. Send more with [`KeepAliveSender::keep_alive`] (every
    /// TTL/3 is customary); each is answered on the [`KeepAliveStream`], a
    /// TTL of 0 meaning the lease is gone.
    pub async fn lease_keep_alive(
        &self,
        id: i64,
    ) -> Result<(KeepAliveSender, KeepAliveStream), ClientError> {
        let (send, recv) = self
            .open_session(Method::LeaseKeepAlive, &LeaseKeepAliveRequest { id })
            .await?;
        Ok((
            KeepAliveSender::new(id, send),
            KeepAliveStream::new(recv, self.inner.options.response_frame_bytes_max),
        ))
    }

    // ------------------------------------------------------------------ cluster, maintenance

    /// The server's status (version, leader, raft index, db size, ...).
    pub async fn status(&self) -> Result<StatusResponse, ClientError> {
        self.call(Method::Status, &StatusRequest {}).await
    }

    /// The cluster's members.
    pub async fn member_list(&self) -> Result<MemberListResponse, ClientError> {
        self.call(
            Method::MemberList,
            &MemberListRequest { linearizable: true },
        )
        .await
    }

    /// Gets, activates or deactivates alarms.
    pub async fn alarm(&self, request: AlarmRequest) -> Result<AlarmResponse, ClientError> {
        self.call(Method::Alarm, &request).await
    }

    /// Hash of the key-value store up to `revision` (0 = current).
    pub async fn hash_kv(&self, revision: i64) -> Result<HashKvResponse, ClientError> {
        self.call(Method::HashKv, &HashKvRequest { revision }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(spec: &str) -> (String, u16) {
        parse_endpoint(spec).expect(spec)
    }

    #[test]
    fn endpoints_parse_like_etcdctl_flags() {
        assert_eq!(parsed("127.0.0.1:2379"), ("127.0.0.1".into(), 2379));
        assert_eq!(parsed("https://node1:12379/"), ("node1".into(), 12379));
        assert_eq!(
            parsed("localhost"),
            ("localhost".into(), DEFAULT_CLIENT_PORT)
        );
        assert_eq!(parsed("[::1]:2379"), ("::1".into(), 2379));
        assert_eq!(parsed("[::1]"), ("::1".into(), DEFAULT_CLIENT_PORT));
        assert_eq!(parsed("::1"), ("::1".into(), DEFAULT_CLIENT_PORT));
        for bad in [
            "",
            "host:notaport",
            "[::1",
            "[::1]x",
            "http://h:1/path",
            ":2379",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad:?}");
        }
        let addr: SocketAddr = "[::1]:7".parse().expect("addr");
        assert_eq!(addr.to_endpoint().expect("ok"), ("::1".into(), 7));
    }
}
