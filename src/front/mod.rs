//! The network front of one core: accepts etcq/1 (QUIC) connections, decodes
//! requests, checks them against the limits, forwards them to the raft core
//! and encodes the answers. Watch sessions and lease keep-alive sessions are
//! long-lived streams served here too.
//!
//! Every client-reachable check that needs no store state happens here, so
//! malformed or oversized input is refused before it costs the raft core
//! anything.

pub mod link;
mod validate;
pub mod watch;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use quinn::{RecvStream, SendStream};

use etcq_net::frame::{self, FrameError};
use etcq_net::method::Method;
use etcq_net::pb::etcdserverpb as pb;

use crate::errors::{self, EtcdError};
use crate::mesh::{Request, Response};
use link::CoreLink;
use watch::{SessionOut, WatchSpec};

/// Client-facing limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_request_bytes: usize,
    pub max_txn_ops: usize,
    /// How often watches created with `progress_notify` get a progress
    /// notification (etcd's --experimental-watch-progress-notify-interval).
    pub watch_progress_notify_interval_ms: u64,
}

/// Accepts connections until the endpoint closes.
pub async fn serve(core: usize, link: Rc<CoreLink>, endpoint: quinn::Endpoint, limits: Limits) {
    let limits = Rc::new(limits);
    while let Some(incoming) = endpoint.accept().await {
        let link = link.clone();
        let limits = limits.clone();
        glommio::spawn_local(async move {
            match incoming.await {
                Ok(conn) => serve_connection(link, conn, limits).await,
                Err(e) => tracing::debug!(core, "handshake failed: {e}"),
            }
        })
        .detach();
    }
}

async fn serve_connection(link: Rc<CoreLink>, conn: quinn::Connection, limits: Rc<Limits>) {
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                glommio::spawn_local(serve_stream(link.clone(), send, recv, limits.clone()))
                    .detach();
            }
            Err(e) => {
                tracing::debug!(remote = %conn.remote_address(), "connection closed: {e}");
                return;
            }
        }
    }
}

async fn serve_stream(
    link: Rc<CoreLink>,
    mut send: SendStream,
    mut recv: RecvStream,
    limits: Rc<Limits>,
) {
    let method = match frame::read_method(&mut recv).await {
        Ok(Some(m)) => m,
        Ok(None) => return,
        Err(e) => return refuse(&mut send, e).await,
    };
    match method {
        Method::Watch => watch_session(link, send, recv, limits).await,
        Method::LeaseKeepAlive => keepalive_session(link, send, recv, limits).await,
        m => {
            let payload = match frame::read_frame(&mut recv, limits.max_request_bytes).await {
                Ok(Some(p)) => p,
                Ok(None) => return refuse(&mut send, FrameError::Missing("request frame")).await,
                Err(e) => return refuse(&mut send, e).await,
            };
            let answer = match unary(&link, &limits, m, payload).await {
                Ok(bytes) => bytes,
                Err(status) => match frame::encode_status(&status) {
                    Ok(b) => b,
                    Err(e) => return tracing::warn!("cannot encode status: {e}"),
                },
            };
            if send.write_chunk(answer).await.is_ok() {
                let _ = send.finish();
            }
        }
    }
}

/// Answers a request that could not be read with the matching status, if anyone is listening.
async fn refuse(send: &mut SendStream, e: FrameError) {
    if let Some(status) = e.to_status() {
        if frame::write_status(send, &status).await.is_ok() {
            let _ = send.finish();
        }
    }
}

fn decode<M: Message + Default>(payload: Bytes) -> Result<M, EtcdError> {
    M::decode(payload).map_err(|e| {
        EtcdError::new(
            errors::Code::InvalidArgument,
            format!("etcq: malformed request: {e}"),
        )
    })
}

fn ok<M: Message>(m: &M) -> Result<Bytes, EtcdError> {
    frame::encode_ok(m).map_err(errors::internal)
}

/// Serves one unary request; returns the encoded OK frame.
async fn unary(
    link: &CoreLink,
    limits: &Limits,
    method: Method,
    payload: Bytes,
) -> Result<Bytes, EtcdError> {
    macro_rules! call {
        ($req:expr, $variant:ident) => {
            match link.call(Request::$variant($req)).await? {
                Response::$variant(r) => ok(&r),
                other => Err(errors::internal(format!("unexpected answer {other:?}"))),
            }
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
            validate::txn(&r, limits.max_txn_ops)?;
            call!(r, Txn)
        }
        Method::Compact => call!(decode(payload)?, Compact),
        Method::LeaseGrant => call!(decode(payload)?, LeaseGrant),
        Method::LeaseRevoke => call!(decode(payload)?, LeaseRevoke),
        Method::LeaseTimeToLive => call!(decode(payload)?, LeaseTimeToLive),
        Method::LeaseLeases => call!(decode(payload)?, LeaseLeases),
        Method::Status => call!(decode(payload)?, Status),
        Method::MemberList => call!(decode(payload)?, MemberList),
        other => Err(EtcdError::new(
            errors::Code::Unimplemented,
            format!("etcq: method {other} is not served yet"),
        )),
    }
}

async fn keepalive_session(
    link: Rc<CoreLink>,
    mut send: SendStream,
    mut recv: RecvStream,
    limits: Rc<Limits>,
) {
    loop {
        let req: pb::LeaseKeepAliveRequest =
            match frame::read_message(&mut recv, limits.max_request_bytes).await {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => return refuse(&mut send, e).await,
            };
        let answer = match link.call(Request::LeaseKeepAlive(req)).await {
            Ok(Response::LeaseKeepAlive(r)) => frame::encode_ok(&r),
            Ok(other) => {
                frame::encode_status(&errors::internal(format!("unexpected answer {other:?}")))
            }
            Err(status) => frame::encode_status(&status),
        };
        match answer {
            Ok(bytes) => {
                if send.write_chunk(bytes).await.is_err() {
                    return;
                }
            }
            Err(e) => return tracing::warn!("cannot encode keepalive answer: {e}"),
        }
    }
    let _ = send.finish();
}

/// One client watch stream: many watches multiplexed, created and cancelled
/// by the client's requests; answers and events written by a writer task.
async fn watch_session(
    link: Rc<CoreLink>,
    send: SendStream,
    mut recv: RecvStream,
    limits: Rc<Limits>,
) {
    let out = Rc::new(SessionOut::default());
    let writer = glommio::spawn_local(write_watch_responses(out.clone(), send));
    // watch_id -> hub handle
    let mut watches: std::collections::BTreeMap<i64, u64> = Default::default();
    // Watches that asked for periodic progress notifications: watch_id -> hub handle.
    let progress_watches: Rc<RefCell<BTreeMap<i64, u64>>> = Default::default();
    let notifier = glommio::spawn_local(notify_progress(
        link.clone(),
        out.clone(),
        progress_watches.clone(),
        Duration::from_millis(limits.watch_progress_notify_interval_ms.max(1)),
    ));
    let mut next_watch_id: i64 = 0;
    loop {
        let req: pb::WatchRequest =
            match frame::read_message(&mut recv, limits.max_request_bytes).await {
                Ok(Some(r)) => r,
                Ok(None) | Err(_) => break,
            };
        use pb::watch_request::RequestUnion as U;
        match req.request_union {
            Some(U::CreateRequest(c)) => {
                let mut watch_id = c.watch_id;
                if watch_id == 0 {
                    while watches.contains_key(&next_watch_id) {
                        next_watch_id += 1;
                    }
                    watch_id = next_watch_id;
                    next_watch_id += 1;
                } else if watches.contains_key(&watch_id) {
                    out.push_control(pb::WatchResponse {
                        watch_id: -1,
                        created: true,
                        canceled: true,
                        cancel_reason: "mvcc: duplicate watch ID provided on the WatchStream"
                            .into(),
                        ..Default::default()
                    })
                    .await;
                    continue;
                }
                use pb::watch_create_request::FilterType;
                let no_put = c.filters.contains(&(FilterType::Noput as i32));
                let no_delete = c.filters.contains(&(FilterType::Nodelete as i32));
                out.push_control(pb::WatchResponse {
                    watch_id,
                    created: true,
                    ..Default::default()
                })
                .await;
                let spec = WatchSpec {
                    watch_id,
                    key: c.key,
                    range_end: c.range_end,
                    start_revision: c.start_revision,
                    prev_kv: c.prev_kv,
                    no_put,
                    no_delete,
                };
                let handle = link.hub.add(&link, out.clone(), spec).await;
                watches.insert(watch_id, handle);
                if c.progress_notify {
                    progress_watches.borrow_mut().insert(watch_id, handle);
                }
            }
            Some(U::CancelRequest(c)) => {
                progress_watches.borrow_mut().remove(&c.watch_id);
                if let Some(handle) = watches.remove(&c.watch_id) {
                    link.hub.remove(&link, handle).await;
                    out.push_control(pb::WatchResponse {
                        watch_id: c.watch_id,
                        canceled: true,
                        ..Default::default()
                    })
                    .await;
                }
            }
            Some(U::ProgressRequest(_)) => {
                let handles: Vec<u64> = watches.values().copied().collect();
                let progress = link.hub.progress_of(&handles);
                // Only when every watcher of the session is synced, at the
                // lowest revision all of them have delivered (etcd answers
                // with watch_id -1 for the whole stream).
                if !progress.is_empty() && progress.iter().all(|(_, rev)| rev.is_some()) {
                    let revision = progress.iter().filter_map(|(_, r)| *r).min().unwrap_or(0);
                    out.push_control(pb::WatchResponse {
                        header: Some(pb::ResponseHeader {
                            revision,
                            ..Default::default()
                        }),
                        watch_id: -1,
                        ..Default::default()
                    })
                    .await;
                }
            }
            None => {}
        }
    }
    for (_, handle) in watches {
        link.hub.remove(&link, handle).await;
    }
    out.close();
    drop(notifier); // dropping a glommio task cancels it
    writer.await;
}

/// Sends each synced watch that asked for it a progress notification (its
/// watch_id, no events, the revision it has delivered up to) every `interval`.
async fn notify_progress(
    link: Rc<CoreLink>,
    out: Rc<SessionOut>,
    watches: Rc<RefCell<BTreeMap<i64, u64>>>,
    interval: Duration,
) {
    loop {
        glommio::timer::sleep(interval).await;
        let handles: Vec<u64> = watches.borrow().values().copied().collect();
        for (watch_id, revision) in link.hub.progress_of(&handles) {
            if let Some(revision) = revision {
                out.push_control(pb::WatchResponse {
                    header: Some(pb::ResponseHeader {
                        revision,
                        ..Default::default()
                    }),
                    watch_id,
                    ..Default::default()
                })
                .await;
            }
        }
    }
}

async fn write_watch_responses(out: Rc<SessionOut>, mut send: SendStream) {
    while let Some(resp) = out.pop().await {
        let bytes = match frame::encode_ok(&resp) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("cannot encode watch response: {e}");
                continue;
            }
        };
        if send.write_chunk(bytes).await.is_err() {
            out.close();
            return;
        }
    }
    let _ = send.finish();
}
