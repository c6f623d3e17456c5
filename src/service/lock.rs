//! etcd's `v3lockpb.Lock` service, built on KV, leases and watches the way
//! etcd's server builds it on clientv3's `concurrency.Mutex` (etcd 3.4).
//!
//! A lock named `N` is the set of keys under `N/`; each locker owns the key
//! `N/<lease in hex>`, attached to its lease, and holds the lock once every
//! key under `N/` created before its own is gone. The helpers here (session
//! lease, owner lookup, waiting for deletions through the core's watch hub)
//! are shared with the election service.
//!
//! etcd answers every failure of these RPCs with gRPC code Unknown and the
//! text of the underlying error (its server calls itself through clientv3,
//! whose errors carry no gRPC status), so these handlers do the same.

use std::rc::Rc;

use bytes::{BufMut, Bytes, BytesMut};

use etcq_net::client::{prefix_end, Compare, CompareOp, Op, Txn};
use etcq_net::pb::etcdserverpb as pb;
use etcq_net::pb::{mvccpb, v3lockpb};

use crate::errors::{self, Code, EtcdError};
use crate::front::link::CoreLink;
use crate::front::watch::{SessionOut, WatchSpec};
use crate::mesh::{Request, Response};

/// TTL of the lease granted for a Lock or Campaign that names lease 0
/// (clientv3 concurrency's default session TTL; etcd grants it and never
/// keeps it alive).
pub(super) const SESSION_TTL_SECS: i64 = 60;

/// etcd's failure for a lock/election RPC: code Unknown, the same text.
pub(super) fn unknown(e: EtcdError) -> EtcdError {
    EtcdError::new(Code::Unknown, e.message)
}

pub(super) fn unknown_text(text: &str) -> EtcdError {
    EtcdError::new(Code::Unknown, text)
}

fn unexpected(other: Response) -> EtcdError {
    errors::internal(format!("unexpected answer {other:?}"))
}

pub(super) async fn txn(link: &CoreLink, t: Txn) -> Result<pb::TxnResponse, EtcdError> {
    match link.call(Request::Txn(t.into())).await.map_err(unknown)? {
        Response::Txn(r) => Ok(r),
        other => Err(unexpected(other)),
    }
}

pub(super) async fn range(
    link: &CoreLink,
    r: pb::RangeRequest,
) -> Result<pb::RangeResponse, EtcdError> {
    match link.call(Request::Range(r)).await.map_err(unknown)? {
        Response::Range(r) => Ok(r),
        other => Err(unexpected(other)),
    }
}

async fn delete(link: &CoreLink, key: Bytes) -> Result<pb::DeleteRangeResponse, EtcdError> {
    let req = pb::DeleteRangeRequest {
        key,
        ..Default::default()
    };
    match link
        .call(Request::DeleteRange(req))
        .await
        .map_err(unknown)?
    {
        Response::DeleteRange(r) => Ok(r),
        other => Err(unexpected(other)),
    }
}

/// The lease a session runs on: the caller's, or (lease 0) a fresh one of
/// [`SESSION_TTL_SECS`], as clientv3's `NewSession` does.
pub(super) async fn session_lease(link: &CoreLink, lease: i64) -> Result<i64, EtcdError> {
    if lease != 0 {
        return Ok(lease);
    }
    let req = pb::LeaseGrantRequest {
        ttl: SESSION_TTL_SECS,
        id: 0,
    };
    match link.call(Request::LeaseGrant(req)).await.map_err(unknown)? {
        Response::LeaseGrant(r) => Ok(r.id),
        other => Err(unexpected(other)),
    }
}

/// `name + "/"`.
pub(super) fn prefix_of(name: &[u8]) -> Bytes {
    let mut p = BytesMut::with_capacity(name.len() + 1);
    p.put_slice(name);
    p.put_u8(b'/');
    p.freeze()
}

/// `prefix + lease` in lowercase hex, as Go's `%x` prints an int64.
pub(super) fn session_key(prefix: &[u8], lease: i64) -> Bytes {
    let hex = if lease < 0 {
        format!("-{:x}", lease.unsigned_abs())
    } else {
        format!("{lease:x}")
    };
    let mut k = BytesMut::with_capacity(prefix.len() + hex.len());
    k.put_slice(prefix);
    k.put_slice(hex.as_bytes());
    k.freeze()
}

/// The oldest key under `prefix` (by create revision): the lock owner or
/// election leader (clientv3's `WithFirstCreate`).
pub(super) fn first_created(prefix: &Bytes) -> pb::RangeRequest {
    use pb::range_request::{SortOrder, SortTarget};
    pb::RangeRequest {
        key: prefix.clone(),
        range_end: prefix_end(prefix),
        limit: 1,
        sort_order: SortOrder::Ascend as i32,
        sort_target: SortTarget::Create as i32,
        ..Default::default()
    }
}

/// One watcher of this core's hub, fed into its own queue; it leaves the
/// hub when dropped, however the waiting ends.
pub(super) struct HubWatch {
    link: Rc<CoreLink>,
    out: Rc<SessionOut>,
    handle: u64,
}

impl HubWatch {
    /// Watches `[key, range_end)` from `start_revision` on.
    pub(super) async fn start(
        link: &Rc<CoreLink>,
        key: Bytes,
        range_end: Bytes,
        start_revision: i64,
    ) -> HubWatch {
        let out = Rc::new(SessionOut::default());
        let spec = WatchSpec {
            watch_id: 0,
            key,
            range_end,
            start_revision,
            prev_kv: false,
            no_put: false,
            no_delete: false,
        };
        let handle = link.hub.add(link, out.clone(), spec).await;
        HubWatch {
            link: link.clone(),
            out,
            handle,
        }
    }

    /// The next batch of events; a watch the hub cancelled (its start was
    /// compacted away) is an error with the hub's reason.
    pub(super) async fn next(&self) -> Result<pb::WatchResponse, EtcdError> {
        match self.out.pop().await {
            Some(r) if r.canceled => Err(unknown_text(&r.cancel_reason)),
            Some(r) => Ok(r),
            None => Err(unknown_text("lost watcher waiting for delete")),
        }
    }
}

impl Drop for HubWatch {
    fn drop(&mut self) {
        let link = self.link.clone();
        let handle = self.handle;
        glommio::spawn_local(async move { link.hub.remove(&link, handle).await }).detach();
    }
}

pub(super) fn is_delete(ev: &mvccpb::Event) -> bool {
    ev.r#type == mvccpb::event::EventType::Delete as i32
}

/// Waits until `key` is deleted at or after `revision` (clientv3's waitDelete).
async fn wait_delete(link: &Rc<CoreLink>, key: Bytes, revision: i64) -> Result<(), EtcdError> {
    let watch = HubWatch::start(link, key, Bytes::new(), revision).await;
    loop {
        let resp = watch.next().await?;
        if resp.events.iter().any(is_delete) {
            return Ok(());
        }
    }
}

/// Waits until no key under `prefix` has a create revision at or below
/// `max_create_revision` (clientv3's waitDeletes): repeatedly the newest such
/// key, until it is deleted. Answers the header of the read that found none.
pub(super) async fn wait_deletes(
    link: &Rc<CoreLink>,
    prefix: &Bytes,
    max_create_revision: i64,
) -> Result<pb::ResponseHeader, EtcdError> {
    use pb::range_request::{SortOrder, SortTarget};
    loop {
        let resp = range(
            link,
            pb::RangeRequest {
                key: prefix.clone(),
                range_end: prefix_end(prefix),
                limit: 1,
                sort_order: SortOrder::Descend as i32,
                sort_target: SortTarget::Create as i32,
                max_create_revision,
                ..Default::default()
            },
        )
        .await?;
        let header = resp.header.unwrap_or_default();
        let Some(last) = resp.kvs.into_iter().next() else {
            return Ok(header);
        };
        wait_delete(link, last.key, header.revision).await?;
    }
}

/// Takes a waiter's key back out if the waiting does not finish: the caller
/// went away (the future was dropped) or the wait failed. This is what etcd
/// does (`Mutex.Lock` unlocks, `Election.Campaign` resigns). `guard_rev`:
/// delete only while the key still has that create revision.
pub(super) struct Withdraw {
    link: Rc<CoreLink>,
    key: Bytes,
    guard_rev: Option<i64>,
    armed: bool,
}

impl Withdraw {
    pub(super) fn new(link: &Rc<CoreLink>, key: Bytes, guard_rev: Option<i64>) -> Withdraw {
        Withdraw {
            link: link.clone(),
            key,
            guard_rev,
            armed: true,
        }
    }

    /// The wait finished: the key stays.
    pub(super) fn disarm(mut self) {
        self.armed = false;
    }

    /// Withdraws now, waiting for the delete.
    pub(super) async fn now(mut self) {
        self.armed = false;
        withdraw(&self.link, self.key.clone(), self.guard_rev).await;
    }
}

impl Drop for Withdraw {
    fn drop(&mut self) {
        if self.armed {
            let (link, key, rev) = (self.link.clone(), self.key.clone(), self.guard_rev);
            glommio::spawn_local(async move { withdraw(&link, key, rev).await }).detach();
        }
    }
}

async fn withdraw(link: &CoreLink, key: Bytes, guard_rev: Option<i64>) {
    let result = match guard_rev {
        None => delete(link, key).await.map(drop),
        Some(rev) => resign_txn(link, key, rev).await.map(drop),
    };
    if let Err(e) = result {
        tracing::debug!("withdrawing a lock/election key: {e}");
    }
}

/// Deletes `key` if its create revision is still `rev` (Election.Resign).
pub(super) async fn resign_txn(
    link: &CoreLink,
    key: Bytes,
    rev: i64,
) -> Result<pb::TxnResponse, EtcdError> {
    let t = Txn::new()
        .when([Compare::create_revision(key.clone(), CompareOp::Equal, rev)])
        .and_then([Op::delete(key)]);
    txn(link, t).await
}

fn range_of(r: &pb::ResponseOp) -> Option<&pb::RangeResponse> {
    match &r.response {
        Some(pb::response_op::Response::ResponseRange(rr)) => Some(rr),
        _ => None,
    }
}

/// The first key of the `i`th range answer of a txn.
pub(super) fn txn_range_first(t: &pb::TxnResponse, i: usize) -> Option<&mvccpb::KeyValue> {
    t.responses.get(i).and_then(range_of)?.kvs.first()
}

/// Lock: queue this lease's key under `name/`, answer once it is the oldest.
pub(super) async fn lock(
    link: &Rc<CoreLink>,
    req: v3lockpb::LockRequest,
) -> Result<v3lockpb::LockResponse, EtcdError> {
    let lease = session_lease(link, req.lease).await?;
    let prefix = prefix_of(&req.name);
    let key = session_key(&prefix, lease);
    let put = pb::PutRequest {
        key: key.clone(),
        lease,
        ..Default::default()
    };
    let t = Txn::new()
        .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
        .and_then([Op::put_request(put), Op::range(first_created(&prefix))])
        .or_else([Op::get(key.clone()), Op::range(first_created(&prefix))]);
    let resp = txn(link, t).await?;
    let header = resp.header.unwrap_or_default();
    let my_rev = if resp.succeeded {
        header.revision
    } else {
        txn_range_first(&resp, 0)
            .ok_or_else(|| errors::internal("lock key vanished inside a txn"))?
            .create_revision
    };
    let owned = match txn_range_first(&resp, 1) {
        None => true,
        Some(owner) => owner.create_revision == my_rev,
    };
    if owned {
        return Ok(v3lockpb::LockResponse {
            header: Some(header),
            key,
        });
    }
    let withdraw = Withdraw::new(link, key.clone(), None);
    match wait_deletes(link, &prefix, my_rev - 1).await {
        Ok(header) => {
            withdraw.disarm();
            Ok(v3lockpb::LockResponse {
                header: Some(header),
                key,
            })
        }
        Err(e) => {
            withdraw.now().await;
            Err(e)
        }
    }
}

/// Unlock: delete the lock key (a missing key is no error).
pub(super) async fn unlock(
    link: &Rc<CoreLink>,
    req: v3lockpb::UnlockRequest,
) -> Result<v3lockpb::UnlockResponse, EtcdError> {
    if req.key.is_empty() {
        return Err(unknown(errors::empty_key()));
    }
    let resp = delete(link, req.key).await?;
    Ok(v3lockpb::UnlockResponse {
        header: resp.header,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_name_slash_lease_hex_as_go_prints_it() {
        let p = prefix_of(b"lk");
        assert_eq!(&p[..], b"lk/");
        assert_eq!(
            &session_key(&p, 0x390d_a232_cba1_c157)[..],
            b"lk/390da232cba1c157"
        );
        assert_eq!(&session_key(&p, -26)[..], b"lk/-1a");
        assert_eq!(&session_key(&prefix_of(b""), 255)[..], b"/ff");
    }
}
