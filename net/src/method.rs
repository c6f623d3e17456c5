//! What travels in an etcq/1 stream besides frames: the one-byte method code
//! that opens a request stream, and the gRPC-style [`Status`] a server sends
//! when it refuses a request.
//!
//! Method codes are part of the wire format: once assigned, a code never
//! changes meaning. They are grouped by etcd service, each group leaving room
//! for later RPCs (see docs/protocol.md for the table).

use std::fmt;

/// An RPC of the etcd v3 API, as named on an etcq/1 request stream.
///
/// The discriminant is the byte on the wire. The request and response types
/// are the `etcdserverpb` (or `v3lockpb`/`v3electionpb`) messages of the
/// etcd RPC with the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
#[non_exhaustive]
pub enum Method {
    // KV: 0x01..=0x0f
    /// `RangeRequest` -> `RangeResponse`.
    Range = 0x01,
    /// `PutRequest` -> `PutResponse`.
    Put = 0x02,
    /// `DeleteRangeRequest` -> `DeleteRangeResponse`.
    DeleteRange = 0x03,
    /// `TxnRequest` -> `TxnResponse`.
    Txn = 0x04,
    /// `CompactionRequest` -> `CompactionResponse`.
    Compact = 0x05,

    // Watch: 0x10..=0x1f
    /// Bidirectional: `WatchRequest`* -> `WatchResponse`*.
    Watch = 0x10,

    // Lease: 0x20..=0x2f
    /// `LeaseGrantRequest` -> `LeaseGrantResponse`.
    LeaseGrant = 0x20,
    /// `LeaseRevokeRequest` -> `LeaseRevokeResponse`.
    LeaseRevoke = 0x21,
    /// Bidirectional: `LeaseKeepAliveRequest`* -> `LeaseKeepAliveResponse`*.
    LeaseKeepAlive = 0x22,
    /// `LeaseTimeToLiveRequest` -> `LeaseTimeToLiveResponse`.
    LeaseTimeToLive = 0x23,
    /// `LeaseLeasesRequest` -> `LeaseLeasesResponse`.
    LeaseLeases = 0x24,

    // Cluster: 0x30..=0x3f
    /// `MemberAddRequest` -> `MemberAddResponse`.
    MemberAdd = 0x30,
    /// `MemberRemoveRequest` -> `MemberRemoveResponse`.
    MemberRemove = 0x31,
    /// `MemberUpdateRequest` -> `MemberUpdateResponse`.
    MemberUpdate = 0x32,
    /// `MemberListRequest` -> `MemberListResponse`.
    MemberList = 0x33,
    /// `MemberPromoteRequest` -> `MemberPromoteResponse`.
    MemberPromote = 0x34,

    // Maintenance: 0x40..=0x4f
    /// `AlarmRequest` -> `AlarmResponse`.
    Alarm = 0x40,
    /// `StatusRequest` -> `StatusResponse`.
    Status = 0x41,
    /// `DefragmentRequest` -> `DefragmentResponse`.
    Defragment = 0x42,
    /// `HashRequest` -> `HashResponse`.
    Hash = 0x43,
    /// `HashKVRequest` -> `HashKVResponse`.
    HashKv = 0x44,
    /// Server streaming: `SnapshotRequest` -> `SnapshotResponse`*.
    Snapshot = 0x45,
    /// `MoveLeaderRequest` -> `MoveLeaderResponse`.
    MoveLeader = 0x46,
    /// `DowngradeRequest` -> `DowngradeResponse`.
    Downgrade = 0x47,

    // Auth: 0x50..=0x6f
    /// `AuthEnableRequest` -> `AuthEnableResponse`.
    AuthEnable = 0x50,
    /// `AuthDisableRequest` -> `AuthDisableResponse`.
    AuthDisable = 0x51,
    /// `AuthStatusRequest` -> `AuthStatusResponse`.
    AuthStatus = 0x52,
    /// `AuthenticateRequest` -> `AuthenticateResponse`.
    Authenticate = 0x53,
    /// `AuthUserAddRequest` -> `AuthUserAddResponse`.
    UserAdd = 0x54,
    /// `AuthUserGetRequest` -> `AuthUserGetResponse`.
    UserGet = 0x55,
    /// `AuthUserListRequest` -> `AuthUserListResponse`.
    UserList = 0x56,
    /// `AuthUserDeleteRequest` -> `AuthUserDeleteResponse`.
    UserDelete = 0x57,
    /// `AuthUserChangePasswordRequest` -> `AuthUserChangePasswordResponse`.
    UserChangePassword = 0x58,
    /// `AuthUserGrantRoleRequest` -> `AuthUserGrantRoleResponse`.
    UserGrantRole = 0x59,
    /// `AuthUserRevokeRoleRequest` -> `AuthUserRevokeRoleResponse`.
    UserRevokeRole = 0x5a,
    /// `AuthRoleAddRequest` -> `AuthRoleAddResponse`.
    RoleAdd = 0x5b,
    /// `AuthRoleGetRequest` -> `AuthRoleGetResponse`.
    RoleGet = 0x5c,
    /// `AuthRoleListRequest` -> `AuthRoleListResponse`.
    RoleList = 0x5d,
    /// `AuthRoleDeleteRequest` -> `AuthRoleDeleteResponse`.
    RoleDelete = 0x5e,
    /// `AuthRoleGrantPermissionRequest` -> `AuthRoleGrantPermissionResponse`.
    RoleGrantPermission = 0x5f,
    /// `AuthRoleRevokePermissionRequest` -> `AuthRoleRevokePermissionResponse`.
    RoleRevokePermission = 0x60,

    // Lock (v3lockpb): 0x70..=0x77
    /// `v3lockpb.LockRequest` -> `v3lockpb.LockResponse`.
    Lock = 0x70,
    /// `v3lockpb.UnlockRequest` -> `v3lockpb.UnlockResponse`.
    Unlock = 0x71,

    // Election (v3electionpb): 0x78..=0x7f
    /// `CampaignRequest` -> `CampaignResponse`.
    Campaign = 0x78,
    /// `ProclaimRequest` -> `ProclaimResponse`.
    Proclaim = 0x79,
    /// `LeaderRequest` -> `LeaderResponse`.
    Leader = 0x7a,
    /// Server streaming: `LeaderRequest` -> `LeaderResponse`*.
    Observe = 0x7b,
    /// `ResignRequest` -> `ResignResponse`.
    Resign = 0x7c,
    // 0x00 is never a method; 0x80..=0xff are reserved for etcq extensions.
}

/// How many messages flow each way on a method's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKind {
    /// One request frame, one response frame.
    Unary,
    /// One request frame, any number of response frames, then end of stream.
    ServerStreaming,
    /// Request and response frames flow independently until either side ends.
    Bidirectional,
}

/// Every method, in code order. Handy for tables and exhaustive tests.
pub const ALL_METHODS: &[Method] = &[
    Method::Range,
    Method::Put,
    Method::DeleteRange,
    Method::Txn,
    Method::Compact,
    Method::Watch,
    Method::LeaseGrant,
    Method::LeaseRevoke,
    Method::LeaseKeepAlive,
    Method::LeaseTimeToLive,
    Method::LeaseLeases,
    Method::MemberAdd,
    Method::MemberRemove,
    Method::MemberUpdate,
    Method::MemberList,
    Method::MemberPromote,
    Method::Alarm,
    Method::Status,
    Method::Defragment,
    Method::Hash,
    Method::HashKv,
    Method::Snapshot,
    Method::MoveLeader,
    Method::Downgrade,
    Method::AuthEnable,
    Method::AuthDisable,
    Method::AuthStatus,
    Method::Authenticate,
    Method::UserAdd,
    Method::UserGet,
    Method::UserList,
    Method::UserDelete,
    Method::UserChangePassword,
    Method::UserGrantRole,
    Method::UserRevokeRole,
    Method::RoleAdd,
    Method::RoleGet,
    Method::RoleList,
    Method::RoleDelete,
    Method::RoleGrantPermission,
    Method::RoleRevokePermission,
    Method::Lock,
    Method::Unlock,
    Method::Campaign,
    Method::Proclaim,
    Method::Leader,
    Method::Observe,
    Method::Resign,
];

impl Method {
    /// The byte that names this method on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The method a wire byte names, or `None` for an unassigned code.
    pub fn from_code(code: u8) -> Option<Method> {
        // A linear scan over 48 entries is cheaper than it looks and keeps the
        // table in one place; the server calls this once per stream.
        ALL_METHODS.iter().copied().find(|m| m.code() == code)
    }

    /// Unary, server-streaming or bidirectional.
    pub fn kind(self) -> MethodKind {
        match self {
            Method::Watch | Method::LeaseKeepAlive => MethodKind::Bidirectional,
            Method::Snapshot | Method::Observe => MethodKind::ServerStreaming,
            _ => MethodKind::Unary,
        }
    }

    /// The gRPC path of the same RPC in etcd, e.g. `/etcdserverpb.KV/Range`.
    pub fn grpc_path(self) -> &'static str {
        match self {
            Method::Range => "/etcdserverpb.KV/Range",
            Method::Put => "/etcdserverpb.KV/Put",
            Method::DeleteRange => "/etcdserverpb.KV/DeleteRange",
            Method::Txn => "/etcdserverpb.KV/Txn",
            Method::Compact => "/etcdserverpb.KV/Compact",
            Method::Watch => "/etcdserverpb.Watch/Watch",
            Method::LeaseGrant => "/etcdserverpb.Lease/LeaseGrant",
            Method::LeaseRevoke => "/etcdserverpb.Lease/LeaseRevoke",
            Method::LeaseKeepAlive => "/etcdserverpb.Lease/LeaseKeepAlive",
            Method::LeaseTimeToLive => "/etcdserverpb.Lease/LeaseTimeToLive",
            Method::LeaseLeases => "/etcdserverpb.Lease/LeaseLeases",
            Method::MemberAdd => "/etcdserverpb.Cluster/MemberAdd",
            Method::MemberRemove => "/etcdserverpb.Cluster/MemberRemove",
            Method::MemberUpdate => "/etcdserverpb.Cluster/MemberUpdate",
            Method::MemberList => "/etcdserverpb.Cluster/MemberList",
            Method::MemberPromote => "/etcdserverpb.Cluster/MemberPromote",
            Method::Alarm => "/etcdserverpb.Maintenance/Alarm",
            Method::Status => "/etcdserverpb.Maintenance/Status",
            Method::Defragment => "/etcdserverpb.Maintenance/Defragment",
            Method::Hash => "/etcdserverpb.Maintenance/Hash",
            Method::HashKv => "/etcdserverpb.Maintenance/HashKV",
            Method::Snapshot => "/etcdserverpb.Maintenance/Snapshot",
            Method::MoveLeader => "/etcdserverpb.Maintenance/MoveLeader",
            Method::Downgrade => "/etcdserverpb.Maintenance/Downgrade",
            Method::AuthEnable => "/etcdserverpb.Auth/AuthEnable",
            Method::AuthDisable => "/etcdserverpb.Auth/AuthDisable",
            Method::AuthStatus => "/etcdserverpb.Auth/AuthStatus",
            Method::Authenticate => "/etcdserverpb.Auth/Authenticate",
            Method::UserAdd => "/etcdserverpb.Auth/UserAdd",
            Method::UserGet => "/etcdserverpb.Auth/UserGet",
            Method::UserList => "/etcdserverpb.Auth/UserList",
            Method::UserDelete => "/etcdserverpb.Auth/UserDelete",
            Method::UserChangePassword => "/etcdserverpb.Auth/UserChangePassword",
            Method::UserGrantRole => "/etcdserverpb.Auth/UserGrantRole",
            Method::UserRevokeRole => "/etcdserverpb.Auth/UserRevokeRole",
            Method::RoleAdd => "/etcdserverpb.Auth/RoleAdd",
            Method::RoleGet => "/etcdserverpb.Auth/RoleGet",
            Method::RoleList => "/etcdserverpb.Auth/RoleList",
            Method::RoleDelete => "/etcdserverpb.Auth/RoleDelete",
            Method::RoleGrantPermission => "/etcdserverpb.Auth/RoleGrantPermission",
            Method::RoleRevokePermission => "/etcdserverpb.Auth/RoleRevokePermission",
            Method::Lock => "/v3lockpb.Lock/Lock",
            Method::Unlock => "/v3lockpb.Lock/Unlock",
            Method::Campaign => "/v3electionpb.Election/Campaign",
            Method::Proclaim => "/v3electionpb.Election/Proclaim",
            Method::Leader => "/v3electionpb.Election/Leader",
            Method::Observe => "/v3electionpb.Election/Observe",
            Method::Resign => "/v3electionpb.Election/Resign",
        }
    }

    /// The RPC's name, e.g. `Range`.
    pub fn name(self) -> &'static str {
        let path = self.grpc_path();
        path.rsplit('/').next().unwrap_or(path)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// gRPC status codes, with gRPC's numbering (they travel as `u32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Code {
    /// Not an error; never sent in an error frame.
    Ok = 0,
    /// The operation was cancelled, typically by the caller.
    Cancelled = 1,
    /// Unknown error; also what an unassigned code on the wire decodes to.
    Unknown = 2,
    /// The client specified an invalid argument.
    InvalidArgument = 3,
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// Some requested entity was not found.
    NotFound = 5,
    /// The entity a client tried to create already exists.
    AlreadyExists = 6,
    /// The caller lacks permission for the operation.
    PermissionDenied = 7,
    /// Some resource (quota, request size, ...) has been exhausted.
    ResourceExhausted = 8,
    /// The system is not in a state required for the operation.
    FailedPrecondition = 9,
    /// The operation was aborted (e.g. a concurrency conflict).
    Aborted = 10,
    /// The operation was attempted past the valid range (e.g. a compacted revision).
    OutOfRange = 11,
    /// The operation is not implemented or supported.
    Unimplemented = 12,
    /// An internal invariant was broken.
    Internal = 13,
    /// The service is currently unavailable (no leader, shutting down, ...).
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The request lacks valid authentication credentials.
    Unauthenticated = 16,
}

impl Code {
    /// The code for a wire value; unassigned values become [`Code::Unknown`],
    /// as gRPC specifies.
    pub fn from_u32(value: u32) -> Code {
        match value {
            0 => Code::Ok,
            1 => Code::Cancelled,
            3 => Code::InvalidArgument,
            4 => Code::DeadlineExceeded,
            5 => Code::NotFound,
            6 => Code::AlreadyExists,
            7 => Code::PermissionDenied,
            8 => Code::ResourceExhausted,
            9 => Code::FailedPrecondition,
            10 => Code::Aborted,
            11 => Code::OutOfRange,
            12 => Code::Unimplemented,
            13 => Code::Internal,
            14 => Code::Unavailable,
            15 => Code::DataLoss,
            16 => Code::Unauthenticated,
            _ => Code::Unknown,
        }
    }

    /// The wire value.
    pub fn as_u32(self) -> u32 {
        self as u32
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A refusal from the server: a gRPC code and a human-readable message.
///
/// For every refusal etcd has a text for, the message is etcd's text verbatim
/// (for example `etcdserver: mvcc: required revision has been compacted`), so
/// tools that match on etcd's messages keep working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// What kind of failure; decides how a caller reacts (retry, give up, ...).
    pub code: Code,
    /// Human-readable detail, etcd's text where etcd has one.
    pub message: String,
}

impl Status {
    /// A status with the given code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
        }
    }

    /// `Unimplemented` for a method code this server does not serve.
    pub fn unknown_method(code: u8) -> Status {
        Status::new(
            Code::Unimplemented,
            format!("etcq: unknown method code 0x{code:02x}"),
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Status {}

/// etcd's refusals, with etcd's own codes and texts (from etcd's
/// `api/v3rpc/rpctypes`), so the server can answer exactly as etcd does.
pub mod etcd_errors {
    use super::{Code, Status};

    macro_rules! etcd_error {
        ($(#[$doc:meta])* $name:ident, $code:ident, $text:literal) => {
            $(#[$doc])*
            pub fn $name() -> Status {
                Status::new(Code::$code, $text)
            }
        };
    }

    etcd_error!(
        /// Empty key in a request.
        empty_key, InvalidArgument, "etcdserver: key is not provided");
    etcd_error!(
        /// A key given twice in one txn's writes.
        duplicate_key, InvalidArgument, "etcdserver: duplicate key given in txn request");
    etcd_error!(
        /// More than the txn op limit.
        too_many_ops, InvalidArgument, "etcdserver: too many operations in txn request");
    etcd_error!(
        /// A request larger than the request size limit.
        request_too_large, InvalidArgument, "etcdserver: request is too large");
    etcd_error!(
        /// A read or watch at a revision that compaction removed.
        compacted, OutOfRange, "etcdserver: mvcc: required revision has been compacted");
    etcd_error!(
        /// A read at a revision newer than the store's.
        future_rev, OutOfRange, "etcdserver: mvcc: required revision is a future revision");
    etcd_error!(
        /// A lease ID that does not exist.
        lease_not_found, NotFound, "etcdserver: requested lease not found");
    etcd_error!(
        /// A lease grant with an ID that already exists.
        lease_exist, FailedPrecondition, "etcdserver: lease already exists");
    etcd_error!(
        /// A lease TTL above the maximum.
        lease_ttl_too_large, OutOfRange, "etcdserver: too large lease TTL");
    etcd_error!(
        /// No raft leader is known.
        no_leader, Unavailable, "etcdserver: no leader");
    etcd_error!(
        /// The request was not committed in time.
        timeout, Unavailable, "etcdserver: request timed out");
    etcd_error!(
        /// The server is shutting down or stopped.
        stopped, Unavailable, "etcdserver: server stopped");
    etcd_error!(
        /// The storage quota is exhausted (NOSPACE alarm).
        no_space, ResourceExhausted, "etcdserver: mvcc: database space exceeded");
    etcd_error!(
        /// A member ID that is not in the cluster.
        member_not_found, NotFound, "etcdserver: member not found");
    etcd_error!(
        /// A member add whose ID is taken.
        member_exist, FailedPrecondition, "etcdserver: member ID already exist");
    etcd_error!(
        /// A member add or update with a peer URL another member has.
        peer_url_exist, FailedPrecondition, "etcdserver: Peer URLs already exists");
    etcd_error!(
        /// A reconfiguration that would leave too few started members.
        member_not_enough_started, FailedPrecondition,
        "etcdserver: re-configuration failed due to not enough started members");
    etcd_error!(
        /// Member peer URLs that do not parse.
        member_bad_urls, InvalidArgument, "etcdserver: given member URLs are invalid");
    etcd_error!(
        /// A promotion of a member that is not a learner.
        member_not_learner, FailedPrecondition, "etcdserver: can only promote a learner member");
    etcd_error!(
        /// A leader transfer to an unknown member or a learner.
        bad_leader_transferee, FailedPrecondition, "etcdserver: bad leader transferee");
    etcd_error!(
        /// The CORRUPT alarm is active.
        corrupt, DataLoss, "etcdserver: corrupt cluster");
    etcd_error!(
        /// Too many requests queued.
        too_many_requests, ResourceExhausted, "etcdserver: too many requests");
    etcd_error!(
        /// `Put` with `ignore_value`/`ignore_lease` on a key that does not exist.
        key_not_found, InvalidArgument, "etcdserver: key not found");
    etcd_error!(
        /// `Put` with `ignore_value` and a value.
        value_provided, InvalidArgument, "etcdserver: value is provided");
    etcd_error!(
        /// `Put` with `ignore_lease` and a lease.
        lease_provided, InvalidArgument, "etcdserver: lease is provided");
    etcd_error!(
        /// A request that must reach the leader reached a follower.
        not_leader, FailedPrecondition, "etcdserver: not leader");
    etcd_error!(
        /// Authentication failed.
        auth_failed, InvalidArgument, "etcdserver: authentication failed, invalid user ID or password");
    etcd_error!(
        /// The caller lacks the permission.
        permission_denied, PermissionDenied, "etcdserver: permission denied");
    etcd_error!(
        /// Auth is enabled and the request carries no token (no user).
        user_empty, InvalidArgument, "etcdserver: user name is empty");
    etcd_error!(
        /// A role request with an empty role name.
        role_empty, InvalidArgument, "etcdserver: role name is empty");
    etcd_error!(
        /// UserAdd of a name that exists.
        user_already_exist, FailedPrecondition, "etcdserver: user name already exists");
    etcd_error!(
        /// A user name that does not exist.
        user_not_found, FailedPrecondition, "etcdserver: user name not found");
    etcd_error!(
        /// RoleAdd of a name that exists.
        role_already_exist, FailedPrecondition, "etcdserver: role name already exists");
    etcd_error!(
        /// A role name that does not exist.
        role_not_found, FailedPrecondition, "etcdserver: role name not found");
    etcd_error!(
        /// AuthEnable without a `root` user.
        root_user_not_exist, FailedPrecondition, "etcdserver: root user does not exist");
    etcd_error!(
        /// AuthEnable while `root` lacks the `root` role (etcdctl then creates
        /// and grants it, matching on this text).
        root_role_not_exist, FailedPrecondition, "etcdserver: root user does not have root role");
    etcd_error!(
        /// UserRevokeRole of a role the user does not have.
        role_not_granted, FailedPrecondition, "etcdserver: role is not granted to the user");
    etcd_error!(
        /// RoleRevokePermission of a permission the role does not have.
        permission_not_granted, FailedPrecondition, "etcdserver: permission is not granted to the role");
    etcd_error!(
        /// Authenticate while auth is disabled.
        auth_not_enabled, FailedPrecondition, "etcdserver: authentication is not enabled");
    etcd_error!(
        /// A token that is unknown or expired (clients then authenticate again).
        invalid_auth_token, Unauthenticated, "etcdserver: invalid auth token");
    etcd_error!(
        /// Deleting root or its root role while auth is enabled.
        invalid_auth_mgmt, InvalidArgument, "etcdserver: invalid auth management");
    etcd_error!(
        /// Maintenance RPCs (Hash, HashKV, Defragment, Snapshot) refused to a
        /// non-root user: etcd 3.4 returns its auth package's plain error, so
        /// the code is Unknown.
        maintenance_permission_denied, Unknown, "auth: permission denied");
    etcd_error!(
        /// Maintenance RPCs without a user (etcd 3.4's plain auth error).
        maintenance_user_empty, Unknown, "auth: user name is empty");
    etcd_error!(
        /// Maintenance RPCs with an unknown token (etcd 3.4's plain auth error).
        maintenance_invalid_auth_token, Unknown, "auth: invalid auth token");
    etcd_error!(
        /// Authenticate of a user created with `no_password` (etcd 3.4's plain error).
        no_password_user, Unknown, "auth: authentication failed, password was given for no password user");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_code_round_trips_and_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for &m in ALL_METHODS {
            assert!(seen.insert(m.code()), "duplicate code for {m}");
            assert_eq!(Method::from_code(m.code()), Some(m));
            assert_ne!(m.code(), 0, "0x00 is reserved");
            assert!(m.code() < 0x80, "0x80.. is reserved for extensions");
        }
    }

    #[test]
    fn unassigned_codes_are_not_methods() {
        for code in [0x00u8, 0x06, 0x11, 0x7f, 0x80, 0xff] {
            assert_eq!(Method::from_code(code), None);
        }
    }

    #[test]
    fn names_follow_etcd_rpc_names() {
        assert_eq!(Method::HashKv.name(), "HashKV");
        assert_eq!(Method::Range.to_string(), "Range");
        assert_eq!(Method::Watch.kind(), MethodKind::Bidirectional);
        assert_eq!(Method::Snapshot.kind(), MethodKind::ServerStreaming);
        assert_eq!(Method::Put.kind(), MethodKind::Unary);
    }

    #[test]
    fn code_values_are_grpc_values() {
        for v in 0..=16u32 {
            assert_eq!(Code::from_u32(v).as_u32(), v);
        }
        assert_eq!(Code::from_u32(17), Code::Unknown);
        assert_eq!(Code::from_u32(u32::MAX), Code::Unknown);
    }
}
