//! etcd's lock and election services (`v3lockpb.Lock`,
//! `v3electionpb.Election`): distributed locks and leader election run by
//! the server on keys attached to a lease.
//!
//! ```no_run
//! # async fn demo(client: etcq_net::client::Client) -> Result<(), etcq_net::client::ClientError> {
//! let lease = client.lease_grant(10, 0).await?.id;
//! // Waits until every earlier locker of "jobs" has unlocked (or lost its lease).
//! let held = client.lock("jobs", lease).await?;
//! // ... the critical section ...
//! client.unlock(held.key).await?;
//!
//! let elected = client.campaign("primary", lease, "node-1").await?;
//! let leader = elected.leader.expect("leader key");
//! client.proclaim(leader.clone(), "node-1 (ready)").await?;
//! client.resign(leader).await?;
//! # Ok(()) }
//! ```

use bytes::Bytes;

use super::{Client, ClientError, ResponseStream};
use crate::{
    frame::FrameError,
    method::Method,
    pb::{
        v3electionpb::{
            CampaignRequest, CampaignResponse, LeaderKey, LeaderRequest, LeaderResponse,
            ProclaimRequest, ProclaimResponse, ResignRequest, ResignResponse,
        },
        v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse},
    },
};

impl Client {
    /// Acquires the lock `name` for `lease` (0: the server grants a lease of
    /// 60 s that nothing keeps alive), waiting as long as it takes. The
    /// answer's `key` is the lock key: hand it to [`Client::unlock`]. The
    /// lock is also released when the lease expires or is revoked.
    pub async fn lock(
        &self,
        name: impl Into<Bytes>,
        lease: i64,
    ) -> Result<LockResponse, ClientError> {
        let request = LockRequest {
            name: name.into(),
            lease,
        };
        self.call(Method::Lock, &request).await
    }

    /// Releases a lock by its key (as answered by [`Client::lock`]).
    pub async fn unlock(&self, key: impl Into<Bytes>) -> Result<UnlockResponse, ClientError> {
        self.call(Method::Unlock, &UnlockRequest { key: key.into() })
            .await
    }

    /// Campaigns in election `name` with `value` on `lease`, waiting until
    /// elected. The answer's `leader` is the key to proclaim and resign with.
    pub async fn campaign(
        &self,
        name: impl Into<Bytes>,
        lease: i64,
        value: impl Into<Bytes>,
    ) -> Result<CampaignResponse, ClientError> {
        let request = CampaignRequest {
            name: name.into(),
            lease,
            value: value.into(),
        };
        self.call(Method::Campaign, &request).await
    }

    /// Publishes a new value as the leader; refused with
    /// `election: not leader` if `leader` no longer leads.
    pub async fn proclaim(
        &self,
        leader: LeaderKey,
        value: impl Into<Bytes>,
    ) -> Result<ProclaimResponse, ClientError> {
        let request = ProclaimRequest {
            leader: Some(leader),
            value: value.into(),
        };
        self.call(Method::Proclaim, &request).await
    }

    /// The current leader of election `name` (its key-value); refused with
    /// `election: no leader` if there is none.
    pub async fn leader(&self, name: impl Into<Bytes>) -> Result<LeaderResponse, ClientError> {
        let request = LeaderRequest { name: name.into() };
        self.call(Method::Leader, &request).await
    }

    /// Follows election `name`: the leader now (once there is one), then
    /// every change of the leader's value and every new leader. Dropping the
    /// stream ends the observation.
    pub async fn observe(
        &self,
        name: impl Into<Bytes>,
    ) -> Result<ResponseStream<LeaderResponse>, ClientError> {
        let request = LeaderRequest { name: name.into() };
        let (mut send, recv) = self.open_session(Method::Observe, &request).await?;
        // Server streaming: the one request is all the client sends.
        send.finish().map_err(FrameError::from)?;
        Ok(ResponseStream::new(
            recv,
            self.inner.options.response_frame_bytes_max,
        ))
    }

    /// Gives up leadership (deletes the leader key if it is still this
    /// leader's); answers success even when it was not the leader, as etcd.
    pub async fn resign(&self, leader: LeaderKey) -> Result<ResignResponse, ClientError> {
        let request = ResignRequest {
            leader: Some(leader),
        };
        self.call(Method::Resign, &request).await
    }
}
