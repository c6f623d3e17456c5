//! etcd's Maintenance and Cluster services beyond status and member list:
//! alarms, defragmentation, hashes, snapshots, leader transfer and member
//! changes.
//!
//! ```no_run
//! # async fn demo(client: etcq_net::client::Client) -> Result<(), etcq_net::client::ClientError> {
//! // Out of space: compact, defragment, then disarm the alarm.
//! let rev = client.status().await?.header.map(|h| h.revision).unwrap_or(0);
//! client.compact(rev).await?;
//! client.defragment().await?;
//! client.alarm_disarm_all().await?;
//!
//! // A backup: the snapshot's bytes, in order, end with their SHA-256.
//! let mut snapshot = client.snapshot().await?;
//! let mut bytes = Vec::new();
//! while let Some(chunk) = snapshot.message().await? {
//!     bytes.extend_from_slice(&chunk.blob);
//! }
//! # Ok(()) }
//! ```

use super::{Client, ClientError, ResponseStream};
use crate::{
    frame::FrameError,
    method::Method,
    pb::etcdserverpb::{
        alarm_request::AlarmAction, AlarmRequest, AlarmResponse, AlarmType, DefragmentRequest,
        DefragmentResponse, HashRequest, HashResponse, MemberAddRequest, MemberAddResponse,
        MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
        MemberUpdateRequest, MemberUpdateResponse, MoveLeaderRequest, MoveLeaderResponse,
        SnapshotRequest, SnapshotResponse,
    },
};

/// `SnapshotResponse`s of a snapshot download.
pub type SnapshotStream = ResponseStream<SnapshotResponse>;

impl Client {
    /// Every raised alarm (`etcdctl alarm list`).
    pub async fn alarm_list(&self) -> Result<AlarmResponse, ClientError> {
        self.alarm(AlarmRequest {
            action: AlarmAction::Get as i32,
            member_id: 0,
            alarm: AlarmType::None as i32,
        })
        .await
    }

    /// Clears every raised alarm (`etcdctl alarm disarm`): lists them, then
    /// deactivates each; answers the alarms cleared.
    pub async fn alarm_disarm_all(&self) -> Result<AlarmResponse, ClientError> {
        let listed = self.alarm_list().await?;
        let mut out = AlarmResponse {
            header: listed.header,
            alarms: Vec::new(),
        };
        for a in listed.alarms {
            let r = self
                .alarm(AlarmRequest {
                    action: AlarmAction::Deactivate as i32,
                    member_id: a.member_id,
                    alarm: a.alarm,
                })
                .await?;
            out.header = r.header;
            out.alarms.extend(r.alarms);
        }
        Ok(out)
    }

    /// Rewrites the store's data without its garbage; answers when done.
    pub async fn defragment(&self) -> Result<DefragmentResponse, ClientError> {
        self.call(Method::Defragment, &DefragmentRequest {}).await
    }

    /// Hash of the whole store.
    pub async fn hash(&self) -> Result<HashResponse, ClientError> {
        self.call(Method::Hash, &HashRequest {}).await
    }

    /// Downloads a consistent snapshot of the store: read the stream to its
    /// end; the concatenated blobs are the snapshot, `remaining_bytes` counts
    /// what is still to come.
    pub async fn snapshot(&self) -> Result<SnapshotStream, ClientError> {
        let (mut send, recv) = self
            .open_session(Method::Snapshot, &SnapshotRequest {})
            .await?;
        // Server streaming: the one request is all the client sends.
        send.finish().map_err(FrameError::from)?;
        Ok(ResponseStream::new(
            recv,
            self.inner.options.response_frame_bytes_max,
        ))
    }

    /// Transfers raft leadership to member `target_id`.
    pub async fn move_leader(&self, target_id: u64) -> Result<MoveLeaderResponse, ClientError> {
        self.call(Method::MoveLeader, &MoveLeaderRequest { target_id })
            .await
    }

    /// Adds a member with `peer_urls` (a learner if `is_learner`).
    pub async fn member_add(
        &self,
        peer_urls: Vec<String>,
        is_learner: bool,
    ) -> Result<MemberAddResponse, ClientError> {
        let request = MemberAddRequest {
            peer_ur_ls: peer_urls,
            is_learner,
        };
        self.call(Method::MemberAdd, &request).await
    }

    /// Removes member `id`.
    pub async fn member_remove(&self, id: u64) -> Result<MemberRemoveResponse, ClientError> {
        self.call(Method::MemberRemove, &MemberRemoveRequest { id })
            .await
    }

    /// Sets member `id`'s peer URLs.
    pub async fn member_update(
        &self,
        id: u64,
        peer_urls: Vec<String>,
    ) -> Result<MemberUpdateResponse, ClientError> {
        let request = MemberUpdateRequest {
            id,
            peer_ur_ls: peer_urls,
        };
        self.call(Method::MemberUpdate, &request).await
    }

    /// Promotes learner `id` to a voting member.
    pub async fn member_promote(&self, id: u64) -> Result<MemberPromoteResponse, ClientError> {
        self.call(Method::MemberPromote, &MemberPromoteRequest { id })
            .await
    }
}
