//! The service layer: etcd's v3 API as one set of handlers that every front
//! (etcq/1 over QUIC, etcd's gRPC, the JSON gateway) calls, so no RPC's logic
//! is written twice.
//!
//! The layer speaks encoded protobuf on both sides: a front hands it the
//! request message's bytes (already taken out of its own framing) and gets
//! the response message's bytes back, encoded after [`HEADROOM_BYTES`] of
//! reserved space into which the front writes its own frame header without a
//! copy (etcq/1 and gRPC both use five bytes). The JSON gateway transcodes
//! JSON to and from the same bytes.
//!
//! Unary RPCs: [`Service::unary`]. Streaming RPCs (watch, lease keep-alive,
//! snapshot, election observe): [`Service::stream`], which turns a stream of
//! request messages into a stream of response messages. What lives here:
//! checks that need no store state, the calls to the raft core, and the
//! session logic of streams, and the CPU-heavy half of authentication
//! (bcrypt, on the core's blocking thread). What does not: sockets,
//! framing, TLS. Each call comes with a [`Caller`] (the auth token the
//! front found); the raft core decides what that caller may do.

mod election;
mod lock;
mod watch;

use std::rc::Rc;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use futures::stream::{LocalBoxStream, StreamExt};
use prost::Message;

use etcq_net::method::{Method, MethodKind};
use etcq_net::pb::etcdserverpb as pb;

use crate::config::BCRYPT_COST;
use crate::errors::{self, EtcdError};
use crate::front::link::CoreLink;
use crate::front::validate;
use crate::mesh::{AuthRequest, AuthResponse, Request, Response};

/// Bytes reserved in front of every encoded response for the front's frame
/// header: etcq/1's `length:u32 | status:u8` and gRPC's `compressed:u8 |
/// length:u32` are both five bytes.
pub const HEADROOM_BYTES: usize = 5;

/// Client-facing limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_request_bytes: usize,
    pub max_txn_ops: usize,
    /// How often watches created with `progress_notify` get a progress
    /// notification (etcd's --experimental-watch-progress-notify-interval).
    pub watch_progress_notify_interval_ms: u64,
}

/// A stream of encoded request messages, as a front received them.
pub type RequestStream = LocalBoxStream<'static, Bytes>;

/// A stream of encoded responses (each after [`HEADROOM_BYTES`]); an error
/// item ends the stream with that status.
pub type ResponseStream = LocalBoxStream<'static, Result<BytesMut, EtcdError>>;

/// Who is asking: what a front learnt about the caller of one request.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The auth token (gRPC `token` or `authorization` metadata, the
    /// gateway's `Authorization` header, or an etcq/1 connection's token).
    pub token: Option<Arc<str>>,
}

impl Caller {
    /// A caller with the given token (none when empty).
    pub fn with_token(token: &str) -> Caller {
        Caller {
            token: (!token.is_empty()).then(|| Arc::from(token)),
        }
    }
}

/// How often Authenticate re-reads the hash when the auth store changed
/// between the password check and the token assignment.
const AUTHENTICATE_ATTEMPTS_MAX: usize = 3;

/// Hashes a password with bcrypt on the core's blocking thread: it costs
/// tens of milliseconds of CPU, which must not stall the core's executor.
async fn bcrypt_hash(password: String) -> Result<String, EtcdError> {
    glommio::executor()
        .spawn_blocking(move || bcrypt::hash(password, BCRYPT_COST))
        .await
        .map_err(|e| errors::internal(format!("bcrypt: {e}")))
}

/// Verifies a password on the core's blocking thread (see [`bcrypt_hash`]).
async fn bcrypt_verify(password: String, hash: String) -> bool {
    glommio::executor()
        .spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
        .await
}

/// Who answers: the IDs every response header carries.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    pub cluster_id: u64,
    pub member_id: u64,
}

/// One core's service layer; every front of the core shares it.
pub struct Service {
    pub(crate) link: Rc<CoreLink>,
    pub(crate) limits: Limits,
    pub(crate) identity: Identity,
}

/// Encodes `msg` after [`HEADROOM_BYTES`] zero bytes.
pub fn encode<M: Message>(msg: &M) -> BytesMut {
    let mut buf = BytesMut::with_capacity(HEADROOM_BYTES + msg.encoded_len());
    buf.put_bytes(0, HEADROOM_BYTES);
    msg.encode_raw(&mut buf);
    buf
}

fn decode<M: Message + Default>(payload: Bytes) -> Result<M, EtcdError> {
    M::decode(payload).map_err(|e| {
        EtcdError::new(
            errors::Code::InvalidArgument,
            format!("etcq: malformed request: {e}"),
        )
    })
}

impl Service {
    pub fn new(link: Rc<CoreLink>, limits: Limits, identity: Identity) -> Rc<Service> {
        Rc::new(Service {
            link,
            limits,
            identity,
        })
    }

    /// The store's current header (revision, raft term), from the raft core.
    pub(crate) async fn current_header(&self) -> Result<pb::ResponseHeader, EtcdError> {
        match self
            .link
            .call(Request::Status(pb::StatusRequest {}))
            .await?
        {
            Response::Status(s) => Ok(s.header.unwrap_or_default()),
            other => Err(errors::internal(format!("unexpected answer {other:?}"))),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Serves one unary request: the request message's bytes in, the
    /// response message's bytes (after the headroom) out.
    pub async fn unary(
        &self,
        method: Method,
        payload: Bytes,
        caller: &Caller,
    ) -> Result<BytesMut, EtcdError> {
        if payload.len() > self.limits.max_request_bytes {
            return Err(errors::request_too_large());
        }
        let link = &self.link;
        let token = || caller.token.clone();
        macro_rules! call {
            ($req:expr, $variant:ident) => {
                match link.call_as(Request::$variant($req), token()).await? {
                    Response::$variant(r) => Ok(encode(&r)),
                    other => Err(errors::internal(format!("unexpected answer {other:?}"))),
                }
            };
        }
        macro_rules! auth {
            ($variant:ident) => {
                self.auth_call(AuthRequest::$variant(decode(payload)?), caller)
                    .await
            };
        }
        match method {
            Method::Range => {
                let r: pb::RangeRequest = decode(payload)?;
                validate::range(&r)?;
                call!(r, Range)
            }
            Method::Put => {
                let r: pb::PutRequest = decode(payload)?;
                validate::put(&r)?;
                call!(r, Put)
            }
            Method::DeleteRange => {
                let r: pb::DeleteRangeRequest = decode(payload)?;
                validate::delete_range(&r)?;
                call!(r, DeleteRange)
            }
            Method::Txn => {
                let r: pb::TxnRequest = decode(payload)?;
                validate::txn(&r, self.limits.max_txn_ops)?;
                call!(r, Txn)
            }
            Method::Compact => call!(decode(payload)?, Compact),
            Method::LeaseGrant => call!(decode(payload)?, LeaseGrant),
            Method::LeaseRevoke => call!(decode(payload)?, LeaseRevoke),
            Method::LeaseTimeToLive => call!(decode(payload)?, LeaseTimeToLive),
            Method::LeaseLeases => call!(decode(payload)?, LeaseLeases),
            Method::Status => call!(decode(payload)?, Status),
            Method::MemberList => call!(decode(payload)?, MemberList),
            Method::MemberAdd => call!(decode(payload)?, MemberAdd),
            Method::MemberRemove => call!(decode(payload)?, MemberRemove),
            Method::MemberUpdate => call!(decode(payload)?, MemberUpdate),
            Method::MemberPromote => call!(decode(payload)?, MemberPromote),
            Method::Alarm => call!(decode(payload)?, Alarm),
            Method::Defragment => call!(decode(payload)?, Defragment),
            Method::Hash => call!(decode(payload)?, Hash),
            Method::HashKv => call!(decode(payload)?, HashKv),
            Method::MoveLeader => call!(decode(payload)?, MoveLeader),
            // The recipes' txns, reads and leases run as the caller.
            Method::Lock => Ok(encode(
                &lock::lock(&link.as_caller(token()), decode(payload)?).await?,
            )),
            Method::Unlock => Ok(encode(
                &lock::unlock(&link.as_caller(token()), decode(payload)?).await?,
            )),
            Method::Campaign => Ok(encode(
                &election::campaign(&link.as_caller(token()), decode(payload)?).await?,
            )),
            Method::Proclaim => Ok(encode(
                &election::proclaim(&link.as_caller(token()), decode(payload)?).await?,
            )),
            Method::Leader => Ok(encode(
                &election::leader(&link.as_caller(token()), decode(payload)?).await?,
            )),
            Method::Resign => Ok(encode(
                &election::resign(&link.as_caller(token()), decode(payload)?).await?,
            )),
            m if m.kind() != MethodKind::Unary => Err(EtcdError::new(
                errors::Code::Unimplemented,
                format!("etcq: {m} is a streaming method"),
            )),
            Method::AuthEnable => auth!(Enable),
            Method::AuthDisable => auth!(Disable),
            Method::AuthStatus => auth!(Status),
            Method::Authenticate => self.authenticate(decode(payload)?).await,
            Method::UserAdd => {
                let mut r: pb::AuthUserAddRequest = decode(payload)?;
                let no_password = r.options.as_ref().is_some_and(|o| o.no_password);
                let password = std::mem::take(&mut r.password);
                if no_password {
                    r.hashed_password.clear();
                } else if r.hashed_password.is_empty() || !password.is_empty() {
                    r.hashed_password = bcrypt_hash(password).await?;
                }
                self.auth_call(AuthRequest::UserAdd(r), caller).await
            }
            Method::UserGet => auth!(UserGet),
            Method::UserList => auth!(UserList),
            Method::UserDelete => auth!(UserDelete),
            Method::UserChangePassword => {
                let mut r: pb::AuthUserChangePasswordRequest = decode(payload)?;
                let password = std::mem::take(&mut r.password);
                if r.hashed_password.is_empty() || !password.is_empty() {
                    r.hashed_password = bcrypt_hash(password).await?;
                }
                self.auth_call(AuthRequest::UserChangePassword(r), caller)
                    .await
            }
            Method::UserGrantRole => auth!(UserGrantRole),
            Method::UserRevokeRole => auth!(UserRevokeRole),
            Method::RoleAdd => auth!(RoleAdd),
            Method::RoleGet => auth!(RoleGet),
            Method::RoleList => auth!(RoleList),
            Method::RoleDelete => auth!(RoleDelete),
            Method::RoleGrantPermission => auth!(RoleGrantPermission),
            Method::RoleRevokePermission => auth!(RoleRevokePermission),
            other => Err(EtcdError::new(
                errors::Code::Unimplemented,
                format!("etcq: method {other} is not served yet"),
            )),
        }
    }

    /// One request to the raft core's auth store.
    async fn auth_call(&self, req: AuthRequest, caller: &Caller) -> Result<BytesMut, EtcdError> {
        match self
            .link
            .call_as(Request::Auth(req), caller.token.clone())
            .await?
        {
            Response::Auth(r) => r
                .encode()
                .ok_or_else(|| errors::internal("an internal auth answer to an RPC")),
            other => Err(errors::internal(format!("unexpected answer {other:?}"))),
        }
    }

    /// Authenticate: read the user's hash from the raft core, verify the
    /// password here (off the raft core), then have the token assigned
    /// through the log. Retried when the auth store changed in between.
    async fn authenticate(&self, r: pb::AuthenticateRequest) -> Result<BytesMut, EtcdError> {
        for _ in 0..AUTHENTICATE_ATTEMPTS_MAX {
            let (hash, revision) = match self
                .link
                .call(Request::Auth(AuthRequest::PasswordOf(r.name.clone())))
                .await?
            {
                Response::Auth(AuthResponse::PasswordOf { hash, revision }) => (hash, revision),
                other => return Err(errors::internal(format!("unexpected answer {other:?}"))),
            };
            if !bcrypt_verify(r.password.clone(), hash).await {
                return Err(errors::auth_failed());
            }
            let assign = AuthRequest::Authenticate {
                name: r.name.clone(),
                checked_revision: revision,
            };
            match self.link.call(Request::Auth(assign)).await {
                Ok(Response::Auth(a)) => {
                    return a
                        .encode()
                        .ok_or_else(|| errors::internal("no Authenticate answer"))
                }
                Ok(other) => return Err(errors::internal(format!("unexpected answer {other:?}"))),
                // The store changed since the hash was read: check again.
                Err(e) if e == errors::auth_failed() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(errors::auth_failed())
    }

    /// Serves one streaming RPC. The session runs while the returned stream
    /// is polled; dropping it (the client went away) ends the session.
    pub fn stream(
        self: &Rc<Self>,
        method: Method,
        requests: RequestStream,
        caller: &Caller,
    ) -> ResponseStream {
        match method {
            Method::Watch => watch::session(self.clone(), requests, caller.clone()),
            Method::LeaseKeepAlive => self.keepalive(requests),
            Method::Observe => {
                election::observe(self.link.as_caller(caller.token.clone()), requests)
            }
            Method::Snapshot => {
                let link = self.link.clone();
                let token = caller.token.clone();
                futures::stream::once(async move {
                    link.call_as(Request::Snapshot(pb::SnapshotRequest {}), token)
                        .await
                })
                .flat_map(crate::shard::snapshot::snapshot_responses)
                .map(|r| r.map(|m| encode(&m)))
                .boxed_local()
            }
            other => futures::stream::once(async move {
                Err(EtcdError::new(
                    errors::Code::Unimplemented,
                    format!("etcq: streaming method {other} is not served yet"),
                ))
            })
            .boxed_local(),
        }
    }

    /// Lease keep-alive: one answer per request, until the client stops sending.
    fn keepalive(self: &Rc<Self>, requests: RequestStream) -> ResponseStream {
        let service = self.clone();
        requests
            .then(move |payload| {
                let service = service.clone();
                async move {
                    let req: pb::LeaseKeepAliveRequest = decode(payload)?;
                    match service.link.call(Request::LeaseKeepAlive(req)).await? {
                        Response::LeaseKeepAlive(r) => Ok(encode(&r)),
                        other => Err(errors::internal(format!("unexpected answer {other:?}"))),
                    }
                }
            })
            .boxed_local()
    }
}
