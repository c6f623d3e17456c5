//! A watch session: one client stream carrying many watches, created and
//! cancelled by the client's requests, with events and control answers
//! queued in one bounded [`SessionOut`] that the front drains.
//!
//! The session runs as a task of its own (reading requests) while the front
//! pulls responses; dropping the response stream cancels the task, and the
//! session's watchers leave the hub either way (`Watches`' drop).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use futures::stream::StreamExt;

use etcq_net::pb::etcdserverpb as pb;

use super::{decode, encode, Caller, RequestStream, ResponseStream, Service};
use crate::front::link::CoreLink;
use crate::front::watch::{SessionOut, WatchSpec};
use crate::mesh::{AuthRequest, AuthResponse, Request, Response};

/// The session's watches (watch_id -> hub handle); they leave the hub when
/// the session ends, however it ends.
struct Watches {
    link: Rc<CoreLink>,
    by_id: BTreeMap<i64, u64>,
}

impl Drop for Watches {
    fn drop(&mut self) {
        let handles: Vec<u64> = std::mem::take(&mut self.by_id).into_values().collect();
        if handles.is_empty() {
            return;
        }
        let link = self.link.clone();
        glommio::spawn_local(async move {
            for handle in handles {
                link.hub.remove(&link, handle).await;
            }
        })
        .detach();
    }
}

/// Starts a session over `requests`; the returned stream yields its responses.
pub(super) fn session(
    service: Rc<Service>,
    requests: RequestStream,
    caller: Caller,
) -> ResponseStream {
    let out = Rc::new(SessionOut::default());
    let identity = service.identity;
    let link = service.link.clone();
    let task = glommio::spawn_local(run(service, requests, out.clone(), caller));
    // The task lives as long as the response stream: dropping the stream
    // (the client went away) cancels it.
    futures::stream::unfold((out, task), move |(out, task)| {
        let link = link.clone();
        async move {
            let mut resp = out.pop().await?;
            // Every response carries a full header (etcd's clients dereference it).
            let header = resp.header.get_or_insert_with(Default::default);
            header.cluster_id = identity.cluster_id;
            header.member_id = identity.member_id;
            if header.raft_term == 0 {
                header.raft_term = link.hub.raft_term();
            }
            Some((Ok(encode(&resp)), (out, task)))
        }
    })
    .boxed_local()
}

async fn run(
    service: Rc<Service>,
    mut requests: RequestStream,
    out: Rc<SessionOut>,
    caller: Caller,
) {
    let link = service.link.clone();
    let mut watches = Watches {
        link: link.clone(),
        by_id: BTreeMap::new(),
    };
    // Watches that asked for periodic progress notifications: watch_id -> hub handle.
    let progress_watches: Rc<RefCell<BTreeMap<i64, u64>>> = Default::default();
    let interval = service.limits.watch_progress_notify_interval_ms.max(1);
    let _notifier = glommio::spawn_local(notify_progress(
        link.clone(),
        out.clone(),
        progress_watches.clone(),
        Duration::from_millis(interval),
    ));
    let mut next_watch_id: i64 = 0;
    while let Some(payload) = requests.next().await {
        let Ok(req) = decode::<pb::WatchRequest>(payload) else {
            break; // a malformed request ends the session, as etcd's stream error does
        };
        use pb::watch_request::RequestUnion as U;
        match req.request_union {
            Some(U::CreateRequest(c)) => {
                let mut watch_id = c.watch_id;
                if watch_id == 0 {
                    while watches.by_id.contains_key(&next_watch_id) {
                        next_watch_id += 1;
                    }
                    watch_id = next_watch_id;
                    next_watch_id += 1;
                } else if watches.by_id.contains_key(&watch_id) {
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
                // READ on the range (etcd refuses with a created+canceled
                // answer whose reason is the gRPC error's text). The answer
                // carries the store's header: etcd's created answer holds
                // the revision at creation.
                let check = Request::Auth(AuthRequest::CheckRead {
                    key: c.key.clone(),
                    range_end: c.range_end.clone(),
                });
                let header = match link.call_as(check, caller.token.clone()).await {
                    Ok(Response::Auth(AuthResponse::Permitted { header })) => header,
                    Ok(_) => None,
                    Err(e) => {
                        out.push_control(pb::WatchResponse {
                            header: service.current_header().await.ok(),
                            watch_id,
                            created: true,
                            canceled: true,
                            cancel_reason: format!(
                                "rpc error: code = {} desc = {}",
                                e.code, e.message
                            ),
                            ..Default::default()
                        })
                        .await;
                        continue;
                    }
                };
                use pb::watch_create_request::FilterType;
                let no_put = c.filters.contains(&(FilterType::Noput as i32));
                let no_delete = c.filters.contains(&(FilterType::Nodelete as i32));
                if let Some(h) = &header {
                    link.hub.note_raft_term(h.raft_term);
                }
                out.push_control(pb::WatchResponse {
                    header,
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
                watches.by_id.insert(watch_id, handle);
                if c.progress_notify {
                    progress_watches.borrow_mut().insert(watch_id, handle);
                }
            }
            Some(U::CancelRequest(c)) => {
                progress_watches.borrow_mut().remove(&c.watch_id);
                if let Some(handle) = watches.by_id.remove(&c.watch_id) {
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
                let handles: Vec<u64> = watches.by_id.values().copied().collect();
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
    drop(watches);
    out.close();
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
