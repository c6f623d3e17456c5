//! etcd's `v3electionpb.Election` service, built the way etcd's server builds
//! it on clientv3's `concurrency.Election` (etcd 3.4).
//!
//! An election named `N` is the set of keys under `N/`; each candidate owns
//! `N/<lease in hex>` (attached to its lease, holding its proposed value) and
//! the leader is the oldest key by create revision. Failures answer gRPC code
//! Unknown with etcd's texts (see `lock.rs`).

use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};

use etcq_net::client::{prefix_end, Compare, CompareOp, Op, Txn};
use etcq_net::pb::etcdserverpb as pb;
use etcq_net::pb::mvccpb;
use etcq_net::pb::v3electionpb as epb;

use super::lock::{
    first_created, is_delete, prefix_of, range, resign_txn, session_key, session_lease, txn,
    txn_range_first, unknown_text, wait_deletes, HubWatch, Withdraw,
};
use super::{decode, encode, RequestStream, ResponseStream};
use crate::errors::{self, EtcdError};
use crate::front::link::CoreLink;

/// Observe responses queued ahead of a slow client; beyond this the observer
/// waits (and its hub watcher falls back to catching up from history).
const OBSERVE_QUEUE_RESPONSES: usize = 16;

const NOT_LEADER: &str = "election: not leader";
const NO_LEADER: &str = "election: no leader";
const MISSING_LEADER_KEY: &str = "\"leader\" field must be provided";

/// Campaign: queue this lease's key (with `value`) under `name/`, answer once
/// it is the oldest, i.e. the leader.
pub(super) async fn campaign(
    link: &Rc<CoreLink>,
    req: epb::CampaignRequest,
) -> Result<epb::CampaignResponse, EtcdError> {
    let lease = session_lease(link, req.lease).await?;
    let prefix = prefix_of(&req.name);
    let key = session_key(&prefix, lease);
    let put = pb::PutRequest {
        key: key.clone(),
        value: req.value.clone(),
        lease,
        ..Default::default()
    };
    let t = Txn::new()
        .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
        .and_then([Op::put_request(put)])
        .or_else([Op::get(key.clone())]);
    let resp = txn(link, t).await?;
    let header = resp.header.unwrap_or_default();
    let mut rev = header.revision;
    if !resp.succeeded {
        let kv = txn_range_first(&resp, 0)
            .ok_or_else(|| errors::internal("campaign key vanished inside a txn"))?;
        rev = kv.create_revision;
        if kv.value != req.value {
            // Already a candidate with this lease: take the new value.
            if let Err(e) = proclaim_txn(link, &key, rev, lease, req.value.clone()).await {
                let _ = resign_txn(link, key.clone(), rev).await;
                return Err(e);
            }
        }
    }
    // A caller that goes away while waiting resigns, as etcd does; a failed
    // wait leaves the key (etcd's Campaign only drops its session then).
    let withdraw = Withdraw::new(link, key.clone(), Some(rev));
    let waited = wait_deletes(link, &prefix, rev - 1).await;
    withdraw.disarm();
    waited?;
    Ok(epb::CampaignResponse {
        header: Some(header),
        leader: Some(epb::LeaderKey {
            name: req.name,
            key,
            rev,
            lease,
        }),
    })
}

async fn proclaim_txn(
    link: &CoreLink,
    key: &Bytes,
    rev: i64,
    lease: i64,
    value: Bytes,
) -> Result<pb::TxnResponse, EtcdError> {
    let put = pb::PutRequest {
        key: key.clone(),
        value,
        lease,
        ..Default::default()
    };
    let t = Txn::new()
        .when([Compare::create_revision(key.clone(), CompareOp::Equal, rev)])
        .and_then([Op::put_request(put)]);
    let resp = txn(link, t).await?;
    if !resp.succeeded {
        return Err(unknown_text(NOT_LEADER));
    }
    Ok(resp)
}

/// Proclaim: a new value from the leader, if `leader` still is the leader key.
pub(super) async fn proclaim(
    link: &Rc<CoreLink>,
    req: epb::ProclaimRequest,
) -> Result<epb::ProclaimResponse, EtcdError> {
    let leader = req.leader.ok_or_else(|| unknown_text(MISSING_LEADER_KEY))?;
    // etcd opens a session on the leader's lease (granting one for lease 0)
    // and proclaims with that session's lease.
    let lease = session_lease(link, leader.lease).await?;
    let resp = proclaim_txn(link, &leader.key, leader.rev, lease, req.value).await?;
    Ok(epb::ProclaimResponse {
        header: resp.header,
    })
}

/// Leader: the oldest key under `name/`.
pub(super) async fn leader(
    link: &Rc<CoreLink>,
    req: epb::LeaderRequest,
) -> Result<epb::LeaderResponse, EtcdError> {
    let resp = range(link, first_created(&prefix_of(&req.name))).await?;
    let kv = resp.kvs.into_iter().next();
    if kv.is_none() {
        return Err(unknown_text(NO_LEADER));
    }
    Ok(epb::LeaderResponse {
        header: resp.header,
        kv,
    })
}

/// Resign: delete the leader key if it still has the leader's create
/// revision. Like etcd, answers success either way.
pub(super) async fn resign(
    link: &Rc<CoreLink>,
    req: epb::ResignRequest,
) -> Result<epb::ResignResponse, EtcdError> {
    let leader = req.leader.ok_or_else(|| unknown_text(MISSING_LEADER_KEY))?;
    let resp = resign_txn(link, leader.key, leader.rev).await?;
    Ok(epb::ResignResponse {
        header: resp.header,
    })
}

type Answers = mpsc::Sender<Result<BytesMut, EtcdError>>;

/// Observe: the leader now (if any) and every change of the leader key
/// (new value, new leader), until the client goes away. The observer runs
/// as a task owned by the returned stream: dropping the stream cancels it,
/// and its hub watcher leaves with it.
pub(super) fn observe(link: Rc<CoreLink>, mut requests: RequestStream) -> ResponseStream {
    let (mut tx, rx) = mpsc::channel(OBSERVE_QUEUE_RESPONSES);
    let task = glommio::spawn_local(async move {
        let Some(payload) = requests.next().await else {
            return;
        };
        drop(requests);
        match decode::<epb::LeaderRequest>(payload) {
            Ok(req) => {
                if let Err(e) = observe_leader(&link, &req.name, &mut tx).await {
                    // etcd ends the stream quietly when its observer stops.
                    tracing::debug!("election observer ended: {e}");
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
            }
        }
    });
    futures::stream::unfold((rx, task), |(mut rx, task)| async move {
        let item = rx.next().await?;
        Some((item, (rx, task)))
    })
    .boxed_local()
}

/// Sends one answer; false once the client is gone.
async fn answer(
    tx: &mut Answers,
    header: pb::ResponseHeader,
    kv: mvccpb::KeyValue,
) -> Result<(), EtcdError> {
    let resp = epb::LeaderResponse {
        header: Some(header),
        kv: Some(kv),
    };
    tx.send(Ok(encode(&resp)))
        .await
        .map_err(|_| unknown_text("observer went away"))
}

/// clientv3's `Election.observe`.
async fn observe_leader(
    link: &Rc<CoreLink>,
    name: &[u8],
    tx: &mut Answers,
) -> Result<(), EtcdError> {
    let prefix = prefix_of(name);
    loop {
        let resp = range(link, first_created(&prefix)).await?;
        let base = resp.header.unwrap_or_default();
        let (header, kv) = match resp.kvs.into_iter().next() {
            Some(kv) => (base, kv),
            None => {
                // No leader: the first key put under the prefix is.
                let watch =
                    HubWatch::start(link, prefix.clone(), prefix_end(&prefix), base.revision).await;
                loop {
                    let w = watch.next().await?;
                    if let Some(kv) = w
                        .events
                        .into_iter()
                        .find(|e| !is_delete(e))
                        .and_then(|e| e.kv)
                    {
                        let header = pb::ResponseHeader {
                            revision: kv.mod_revision,
                            ..base
                        };
                        break (header, kv);
                    }
                }
            }
        };
        let leader_key = kv.key.clone();
        let next = header.revision + 1;
        answer(tx, header, kv).await?;
        // Follow the leader key until it is deleted.
        let watch = HubWatch::start(link, leader_key, Bytes::new(), next).await;
        'leader: loop {
            let w = watch.next().await?;
            let revision = w.header.map(|h| h.revision).unwrap_or_default();
            for ev in w.events {
                if is_delete(&ev) {
                    break 'leader;
                }
                if let Some(kv) = ev.kv {
                    let header = pb::ResponseHeader { revision, ..base };
                    answer(tx, header, kv).await?;
                }
            }
        }
    }
}
