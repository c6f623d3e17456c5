//! etcd v3 protobuf messages, generated at build time from `net/proto/`.
//!
//! Package and message names, field numbers and types are etcd's (v3.4/v3.5,
//! plus the few v3.6 additions to `StatusResponse`/`SnapshotResponse`), so
//! the encoded bytes are exactly what etcd sends and expects. prost turns
//! etcd's mixed-case field names into snake case: `TTL` -> `ttl`, `ID` ->
//! `id`, `peerURLs` -> `peer_ur_ls`, `dbSize` -> `db_size`.
//!
//! Service definitions in the `.proto` files are not turned into code here;
//! the gRPC front generates its own stubs from the same files.

#![allow(missing_docs)]

/// `mvccpb`: `KeyValue` and `Event`.
#[allow(clippy::all, clippy::pedantic, unreachable_pub)]
pub mod mvccpb {
    include!(concat!(env!("OUT_DIR"), "/mvccpb.rs"));
}

/// `authpb`: `User`, `Permission`, `Role`.
#[allow(clippy::all, clippy::pedantic, unreachable_pub)]
pub mod authpb {
    include!(concat!(env!("OUT_DIR"), "/authpb.rs"));
}

/// `etcdserverpb`: requests and responses of the KV, Watch, Lease, Cluster,
/// Maintenance and Auth services.
#[allow(clippy::all, clippy::pedantic, unreachable_pub)]
pub mod etcdserverpb {
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.rs"));
}

/// `v3lockpb`: the Lock service's messages.
#[allow(clippy::all, clippy::pedantic, unreachable_pub)]
pub mod v3lockpb {
    include!(concat!(env!("OUT_DIR"), "/v3lockpb.rs"));
}

/// `v3electionpb`: the Election service's messages.
#[allow(clippy::all, clippy::pedantic, unreachable_pub)]
pub mod v3electionpb {
    include!(concat!(env!("OUT_DIR"), "/v3electionpb.rs"));
}

/// The encoded `google.protobuf.FileDescriptorSet` of every `.proto` file
/// above (written by `build.rs` from the same protox output prost compiles),
/// for runtime reflection: the HTTP/JSON gateway ([`crate::gateway`]) loads
/// it into a `prost_reflect::DescriptorPool` to transcode messages by name.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/etcd_descriptors.bin"));
