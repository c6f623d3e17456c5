//! Messages between cores. A front core sends [`Envelope`]s up to the raft
//! core; the raft core sends [`Downlink`] messages back, in one ordered stream
//! per core (replies and watch events share it, which is what lets watch
//! catch-up switch to the live feed with no gap and no duplicate).
//!
//! Both directions go through bounded channels (`CORE_CHANNEL_CAPACITY`),
//! glommio's shared channels between executors and local channels on the raft
//! core itself. Payloads are owned (`bytes::Bytes` inside prost types).

use std::sync::Arc;

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use glommio::channels::shared_channel::{ConnectedReceiver, ConnectedSender};

use etcq_net::pb::{etcdserverpb as pb, mvccpb};

use crate::errors::EtcdError;
pub use crate::shard::snapshot::SnapshotPlan;

/// A request from a front core to the raft core.
#[derive(Debug)]
pub enum Request {
    Range(pb::RangeRequest),
    Put(pb::PutRequest),
    DeleteRange(pb::DeleteRangeRequest),
    Txn(pb::TxnRequest),
    Compact(pb::CompactionRequest),
    LeaseGrant(pb::LeaseGrantRequest),
    LeaseRevoke(pb::LeaseRevokeRequest),
    LeaseKeepAlive(pb::LeaseKeepAliveRequest),
    LeaseTimeToLive(pb::LeaseTimeToLiveRequest),
    LeaseLeases(pb::LeaseLeasesRequest),
    Status(pb::StatusRequest),
    MemberList(pb::MemberListRequest),
    MemberAdd(pb::MemberAddRequest),
    MemberRemove(pb::MemberRemoveRequest),
    MemberUpdate(pb::MemberUpdateRequest),
    MemberPromote(pb::MemberPromoteRequest),
    Alarm(pb::AlarmRequest),
    /// Answered once every data segment holding garbage has been cleaned.
    Defragment(pb::DefragmentRequest),
    /// Hash and HashKV are computed in bounded steps between loop turns.
    Hash(pb::HashRequest),
    HashKv(pb::HashKvRequest),
    /// Answered with a [`SnapshotPlan`] the front streams with
    /// [`crate::shard::snapshot::snapshot_stream`].
    Snapshot(pb::SnapshotRequest),
    MoveLeader(pb::MoveLeaderRequest),
    /// The Auth service, and the auth checks of streams.
    Auth(AuthRequest),
    /// History for a watcher that is catching up; answered with [`Downlink::History`].
    WatchHistory(HistoryRequest),
    /// The core now has (true) or no longer has (false) any watcher.
    WatchInterest(bool),
    /// Wakes the raft core's loop for its periodic work (raft tick, leases).
    Tick,
}

#[derive(Debug, Clone)]
pub struct HistoryRequest {
    /// Core-local watcher handle, echoed back.
    pub watcher: u64,
    pub key: bytes::Bytes,
    pub range_end: bytes::Bytes,
    /// First revision wanted; 0 = from now on (no history).
    pub start_revision: i64,
    pub max_events: usize,
}

/// The successful answer to a [`Request`].
#[derive(Debug)]
pub enum Response {
    Range(pb::RangeResponse),
    Put(pb::PutResponse),
    DeleteRange(pb::DeleteRangeResponse),
    Txn(pb::TxnResponse),
    Compact(pb::CompactionResponse),
    LeaseGrant(pb::LeaseGrantResponse),
    LeaseRevoke(pb::LeaseRevokeResponse),
    LeaseKeepAlive(pb::LeaseKeepAliveResponse),
    LeaseTimeToLive(pb::LeaseTimeToLiveResponse),
    LeaseLeases(pb::LeaseLeasesResponse),
    Status(pb::StatusResponse),
    MemberList(pb::MemberListResponse),
    MemberAdd(pb::MemberAddResponse),
    MemberRemove(pb::MemberRemoveResponse),
    MemberUpdate(pb::MemberUpdateResponse),
    MemberPromote(pb::MemberPromoteResponse),
    Alarm(pb::AlarmResponse),
    Defragment(pb::DefragmentResponse),
    Hash(pb::HashResponse),
    HashKv(pb::HashKvResponse),
    /// The pinned files of a consistent checkpoint, to be streamed.
    Snapshot(SnapshotPlan),
    MoveLeader(pb::MoveLeaderResponse),
    Auth(AuthResponse),
    /// Acknowledges messages that need no answer.
    Done,
}

/// Result of a request.
pub type Reply = Result<Response, EtcdError>;

/// A request with its return address.
#[derive(Debug)]
pub struct Envelope {
    pub from_core: usize,
    pub req_id: u64,
    pub req: Request,
    /// The caller's auth token, if the request carried one.
    pub token: Option<Arc<str>>,
}

/// Requests of the Auth service (and the auth checks other services need).
/// `UserAdd` and `UserChangePassword` arrive with the password already
/// hashed (`hashed_password`, `password` empty).
#[derive(Debug)]
pub enum AuthRequest {
    Enable(pb::AuthEnableRequest),
    Disable(pb::AuthDisableRequest),
    Status(pb::AuthStatusRequest),
    UserAdd(pb::AuthUserAddRequest),
    UserGet(pb::AuthUserGetRequest),
    UserList(pb::AuthUserListRequest),
    UserDelete(pb::AuthUserDeleteRequest),
    UserChangePassword(pb::AuthUserChangePasswordRequest),
    UserGrantRole(pb::AuthUserGrantRoleRequest),
    UserRevokeRole(pb::AuthUserRevokeRoleRequest),
    RoleAdd(pb::AuthRoleAddRequest),
    RoleGet(pb::AuthRoleGetRequest),
    RoleList(pb::AuthRoleListRequest),
    RoleDelete(pb::AuthRoleDeleteRequest),
    RoleGrantPermission(pb::AuthRoleGrantPermissionRequest),
    RoleRevokePermission(pb::AuthRoleRevokePermissionRequest),
    /// Authenticate, step 1: the user's password hash (verified by the front
    /// core, off the raft core), answered with [`AuthResponse::PasswordOf`].
    PasswordOf(String),
    /// Authenticate, step 2: the password matched the hash read at
    /// `checked_revision`; assign a token through the log.
    Authenticate {
        name: String,
        checked_revision: u64,
    },
    /// May the caller read this key or range (watch create)? Answered with
    /// [`AuthResponse::Permitted`] (and the store's header, so a watch
    /// create costs no extra round trip) or the refusal.
    CheckRead {
        key: bytes::Bytes,
        range_end: bytes::Bytes,
    },
}

macro_rules! auth_responses {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// Answers of the Auth service.
        #[derive(Debug)]
        pub enum AuthResponse {
            $($variant($ty),)*
            /// A user's bcrypt hash and the auth revision it was read at.
            PasswordOf { hash: String, revision: u64 },
            /// The checked access is allowed; the header is the store's at
            /// the check (a watch's created answer carries it).
            Permitted { header: Option<pb::ResponseHeader> },
        }

        impl AuthResponse {
            /// Sets the response header (no-op for the internal answers).
            pub fn set_header(&mut self, header: Option<pb::ResponseHeader>) {
                match self {
                    $(AuthResponse::$variant(r) => r.header = header,)*
                    AuthResponse::Permitted { header: h } => *h = header,
                    AuthResponse::PasswordOf { .. } => {}
                }
            }

            /// The encoded RPC response (after the service's headroom);
            /// `None` for the internal answers.
            pub fn encode(&self) -> Option<bytes::BytesMut> {
                match self {
                    $(AuthResponse::$variant(r) => Some(crate::service::encode(r)),)*
                    AuthResponse::PasswordOf { .. } | AuthResponse::Permitted { .. } => None,
                }
            }
        }
    };
}

auth_responses!(
    Enable(pb::AuthEnableResponse),
    Disable(pb::AuthDisableResponse),
    Status(pb::AuthStatusResponse),
    Authenticate(pb::AuthenticateResponse),
    UserAdd(pb::AuthUserAddResponse),
    UserGet(pb::AuthUserGetResponse),
    UserList(pb::AuthUserListResponse),
    UserDelete(pb::AuthUserDeleteResponse),
    UserChangePassword(pb::AuthUserChangePasswordResponse),
    UserGrantRole(pb::AuthUserGrantRoleResponse),
    UserRevokeRole(pb::AuthUserRevokeRoleResponse),
    RoleAdd(pb::AuthRoleAddResponse),
    RoleGet(pb::AuthRoleGetResponse),
    RoleList(pb::AuthRoleListResponse),
    RoleDelete(pb::AuthRoleDeleteResponse),
    RoleGrantPermission(pb::AuthRoleGrantPermissionResponse),
    RoleRevokePermission(pb::AuthRoleRevokePermissionResponse),
);

/// Events applied in one raft loop turn, published to every core with watchers.
#[derive(Debug)]
pub struct EventBatch {
    /// Store revision after the batch.
    pub revision: i64,
    /// Raft term when the batch was applied (for response headers).
    pub raft_term: u64,
    pub events: Vec<mvccpb::Event>,
}

/// History answer for a catching-up watcher.
#[derive(Debug)]
pub struct HistoryReply {
    pub watcher: u64,
    pub result: Result<History, HistoryError>,
}

#[derive(Debug)]
pub struct History {
    pub events: Vec<mvccpb::Event>,
    /// Next revision to read; every revision below it has been delivered.
    pub next_revision: i64,
    /// The store's current revision when read: caught up iff `next_revision > current`.
    pub current_revision: i64,
    /// Raft term when read (for response headers).
    pub raft_term: u64,
}

#[derive(Debug)]
pub enum HistoryError {
    Compacted { compact_revision: i64 },
    Other(EtcdError),
}

/// Raft core to front core.
#[derive(Debug)]
pub enum Downlink {
    Reply {
        req_id: u64,
        reply: Reply,
    },
    Events(Arc<EventBatch>),
    History(HistoryReply),
    /// Events from `from_revision` on were not delivered to this core (its
    /// channel was full): every watcher at or past it must catch up from history.
    Gap {
        from_revision: i64,
    },
}

/// Sending half towards the raft core.
pub enum UplinkTx {
    Local(mpsc::Sender<Envelope>),
    Shared(ConnectedSender<Envelope>),
}

impl UplinkTx {
    /// Sends; fails only when the raft core has stopped.
    pub async fn send(&self, env: Envelope) -> Result<(), ()> {
        match self {
            UplinkTx::Local(s) => s.clone().send(env).await.map_err(|_| ()),
            UplinkTx::Shared(s) => s.send(env).await.map_err(|_| ()),
        }
    }
}

/// Sending half from the raft core to one front core.
pub enum DownlinkTx {
    Local(mpsc::Sender<Downlink>),
    Shared(ConnectedSender<Downlink>),
}

impl DownlinkTx {
    pub async fn send(&self, msg: Downlink) {
        let ok = match self {
            DownlinkTx::Local(s) => s.clone().send(msg).await.is_ok(),
            DownlinkTx::Shared(s) => s.send(msg).await.is_ok(),
        };
        if !ok {
            tracing::debug!("front core gone; dropped a downlink message");
        }
    }

    /// Sends without waiting; false when the channel is full (or closed) and
    /// the message was dropped.
    pub fn try_send(&self, msg: Downlink) -> bool {
        match self {
            DownlinkTx::Local(s) => s.clone().try_send(msg).is_ok(),
            DownlinkTx::Shared(s) => s.try_send(msg).is_ok(),
        }
    }
}

/// Receiving half on a front core.
pub enum DownlinkRx {
    Local(mpsc::Receiver<Downlink>),
    Shared(ConnectedReceiver<Downlink>),
}

impl DownlinkRx {
    pub async fn recv(&mut self) -> Option<Downlink> {
        match self {
            DownlinkRx::Local(r) => r.next().await,
            DownlinkRx::Shared(r) => r.recv().await,
        }
    }
}
