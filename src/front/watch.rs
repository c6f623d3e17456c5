//! The watch hub of one front core: the watchers of this core's client
//! sessions, fed by the raft core's event batches.
//!
//! A watcher is either *synced* (it receives live batches) or *unsynced* (it
//! catches up from MVCC history). History answers and live batches arrive on
//! the same ordered downlink, so a watcher that is caught up to revision R
//! when the answer is read switches to the live feed exactly at R+1: no gap,
//! no duplicate. A session whose client reads slowly never blocks the raft
//! core or grows without bound: when its queue is full its watchers drop back
//! to unsynced and fetch from history later.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use etcq_net::pb::{etcdserverpb as pb, mvccpb};

use crate::config::{
    WATCHER_BUFFER_EVENTS_MAX, WATCH_CATCHUP_EVENTS_MAX, WATCH_RESPONSE_EVENTS_MAX,
};
use crate::front::link::CoreLink;
use crate::mesh::{EventBatch, HistoryError, HistoryReply, HistoryRequest, Request};

/// How often unsynced watchers are retried when their session was full.
const CATCHUP_RETRY_MS: u64 = 20;

/// The outbound queue of one watch session (one client stream).
#[derive(Default)]
pub struct SessionOut {
    queue: RefCell<VecDeque<pb::WatchResponse>>,
    queued_events: Cell<usize>,
    reader: RefCell<Option<Waker>>,
    writers: RefCell<Vec<Waker>>,
    closed: Cell<bool>,
}

impl SessionOut {
    fn has_room(&self, events: usize) -> bool {
        self.queued_events.get() + events <= WATCHER_BUFFER_EVENTS_MAX
    }

    /// Queues event responses if there is room for `events` more events.
    fn try_push(&self, resp: pb::WatchResponse) -> Result<(), pb::WatchResponse> {
        if !self.has_room(resp.events.len()) {
            return Err(resp);
        }
        self.queued_events
            .set(self.queued_events.get() + resp.events.len());
        self.push_unchecked(resp);
        Ok(())
    }

    fn push_unchecked(&self, resp: pb::WatchResponse) {
        self.queue.borrow_mut().push_back(resp);
        if let Some(w) = self.reader.borrow_mut().take() {
            w.wake();
        }
    }

    /// Queues a control response (created, canceled, progress), waiting while
    /// the session is over its bound so a client cannot grow it by asking.
    pub async fn push_control(&self, resp: pb::WatchResponse) {
        futures::future::poll_fn(|cx| {
            if self.closed.get() || self.queue.borrow().len() < WATCHER_BUFFER_EVENTS_MAX {
                Poll::Ready(())
            } else {
                self.writers.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        self.push_unchecked(resp);
    }

    /// Next response to write to the client; `None` once closed and drained.
    pub async fn pop(&self) -> Option<pb::WatchResponse> {
        futures::future::poll_fn(|cx| {
            if let Some(resp) = self.queue.borrow_mut().pop_front() {
                self.queued_events
                    .set(self.queued_events.get().saturating_sub(resp.events.len()));
                for w in self.writers.borrow_mut().drain(..) {
                    w.wake();
                }
                return Poll::Ready(Some(resp));
            }
            if self.closed.get() {
                return Poll::Ready(None);
            }
            *self.reader.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    pub fn close(&self) {
        self.closed.set(true);
        if let Some(w) = self.reader.borrow_mut().take() {
            w.wake();
        }
        for w in self.writers.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncState {
    Synced,
    /// Needs history from `next_revision`; `requested` while an answer is awaited.
    Unsynced {
        requested: bool,
    },
}

struct Watcher {
    session: Rc<SessionOut>,
    watch_id: i64,
    key: Bytes,
    range_end: Bytes,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
    /// Next revision to deliver: every event below it has been queued.
    next_revision: i64,
    state: SyncState,
}

impl Watcher {
    fn wants(&self, ev: &mvccpb::Event) -> bool {
        let Some(kv) = &ev.kv else { return false };
        if kv.mod_revision < self.next_revision {
            return false;
        }
        let is_put = ev.r#type == mvccpb::event::EventType::Put as i32;
        if (is_put && self.no_put) || (!is_put && self.no_delete) {
            return false;
        }
        key_in_range(&kv.key, &self.key, &self.range_end)
    }

    fn shape(&self, ev: &mvccpb::Event) -> mvccpb::Event {
        let mut ev = ev.clone();
        if !self.prev_kv {
            ev.prev_kv = None;
        }
        ev
    }
}

/// Whether `key` is in etcd's range `[start, end)` (`end` empty: just `start`;
/// `end` = "\0": every key >= `start`).
pub fn key_in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    if end.is_empty() {
        key == start
    } else if end == b"\0" {
        key >= start
    } else {
        key >= start && key < end
    }
}

/// What a client asked for when creating a watch.
pub struct WatchSpec {
    pub watch_id: i64,
    pub key: Bytes,
    pub range_end: Bytes,
    pub start_revision: i64,
    pub prev_kv: bool,
    pub no_put: bool,
    pub no_delete: bool,
}

#[derive(Default)]
pub struct WatchHub {
    watchers: RefCell<HashMap<u64, Watcher>>,
    next_handle: Cell<u64>,
    /// Watchers that need a history request.
    catchup: RefCell<VecDeque<u64>>,
    catchup_waker: RefCell<Option<Waker>>,
    /// Newest raft term seen in event batches and history answers.
    raft_term: Cell<u64>,
}

impl WatchHub {
    /// The newest raft term this core has heard of (for response headers).
    pub fn raft_term(&self) -> u64 {
        self.raft_term.get()
    }

    /// Records a raft term learned elsewhere (a header from the raft core).
    pub fn note_raft_term(&self, term: u64) {
        self.raft_term.set(self.raft_term.get().max(term));
    }

    /// Registers a watcher; returns its core-local handle. The caller has
    /// already queued the "created" response.
    pub async fn add(&self, link: &CoreLink, session: Rc<SessionOut>, spec: WatchSpec) -> u64 {
        let handle = self.next_handle.get() + 1;
        self.next_handle.set(handle);
        let first = self.watchers.borrow().is_empty();
        self.watchers.borrow_mut().insert(
            handle,
            Watcher {
                session,
                watch_id: spec.watch_id,
                key: spec.key.clone(),
                range_end: spec.range_end.clone(),
                prev_kv: spec.prev_kv,
                no_put: spec.no_put,
                no_delete: spec.no_delete,
                next_revision: spec.start_revision,
                state: SyncState::Unsynced { requested: true },
            },
        );
        if first {
            link.notify(Request::WatchInterest(true)).await;
        }
        // Every new watcher asks once, even from "now" (start 0): the answer
        // tells it the revision at which the live feed takes over.
        link.notify(Request::WatchHistory(HistoryRequest {
            watcher: handle,
            key: spec.key,
            range_end: spec.range_end,
            start_revision: spec.start_revision,
            max_events: WATCH_CATCHUP_EVENTS_MAX,
        }))
        .await;
        handle
    }

    pub async fn remove(&self, link: &CoreLink, handle: u64) {
        let now_empty = {
            let mut w = self.watchers.borrow_mut();
            w.remove(&handle);
            w.is_empty()
        };
        if now_empty {
            link.notify(Request::WatchInterest(false)).await;
        }
    }

    /// Watchers of a session that are synced, with their delivered revision
    /// (for progress notifications).
    pub fn progress_of(&self, handles: &[u64]) -> Vec<(i64, Option<i64>)> {
        let w = self.watchers.borrow();
        handles
            .iter()
            .filter_map(|h| w.get(h))
            .map(|w| {
                (
                    w.watch_id,
                    (w.state == SyncState::Synced).then_some(w.next_revision - 1),
                )
            })
            .collect()
    }

    pub fn on_events(&self, _link: &CoreLink, batch: &EventBatch) {
        self.raft_term
            .set(self.raft_term.get().max(batch.raft_term));
        let mut watchers = self.watchers.borrow_mut();
        for (handle, w) in watchers.iter_mut() {
            if w.state != SyncState::Synced {
                continue;
            }
            let events: Vec<_> = batch
                .events
                .iter()
                .filter(|e| w.wants(e))
                .map(|e| w.shape(e))
                .collect();
            if events.is_empty() {
                w.next_revision = w.next_revision.max(batch.revision + 1);
                continue;
            }
            let first_rev = events[0]
                .kv
                .as_ref()
                .map(|kv| kv.mod_revision)
                .unwrap_or(w.next_revision);
            if deliver(w, events, batch.revision) {
                w.next_revision = batch.revision + 1;
            } else {
                w.next_revision = first_rev;
                w.state = SyncState::Unsynced { requested: false };
                self.catchup.borrow_mut().push_back(*handle);
            }
        }
        drop(watchers);
        self.wake_catchup();
    }

    pub fn on_gap(&self, _link: &CoreLink, from_revision: i64) {
        let mut watchers = self.watchers.borrow_mut();
        for (handle, w) in watchers.iter_mut() {
            if w.state == SyncState::Synced {
                w.next_revision = w.next_revision.min(from_revision).max(1);
                w.state = SyncState::Unsynced { requested: false };
                self.catchup.borrow_mut().push_back(*handle);
            }
        }
        drop(watchers);
        self.wake_catchup();
    }

    pub fn on_history(&self, _link: &CoreLink, h: HistoryReply) {
        let mut watchers = self.watchers.borrow_mut();
        let Some(w) = watchers.get_mut(&h.watcher) else {
            return;
        };
        match h.result {
            Err(HistoryError::Compacted { compact_revision }) => {
                // As etcd: the compact revision and `canceled`, no reason
                // text (clients derive the error from compact_revision).
                w.session.push_unchecked(pb::WatchResponse {
                    watch_id: w.watch_id,
                    canceled: true,
                    compact_revision,
                    ..Default::default()
                });
                watchers.remove(&h.watcher);
            }
            Err(HistoryError::Other(e)) => {
                w.session.push_unchecked(pb::WatchResponse {
                    watch_id: w.watch_id,
                    canceled: true,
                    cancel_reason: e.message,
                    ..Default::default()
                });
                watchers.remove(&h.watcher);
            }
            Ok(hist) => {
                self.raft_term.set(self.raft_term.get().max(hist.raft_term));
                let events: Vec<_> = hist
                    .events
                    .iter()
                    .filter(|e| w.wants(e))
                    .map(|e| w.shape(e))
                    .collect();
                let mut delivered_all = true;
                let mut rest = events.as_slice();
                while !rest.is_empty() {
                    // Whole revisions per response, at most WATCH_RESPONSE_EVENTS_MAX events.
                    let n = chunk_len(rest);
                    let rev = rest[n - 1]
                        .kv
                        .as_ref()
                        .map(|kv| kv.mod_revision)
                        .unwrap_or(0);
                    // The header names the store's revision, as etcd's
                    // catch-up responses do.
                    if deliver(w, rest[..n].to_vec(), hist.current_revision) {
                        w.next_revision = rev + 1;
                        rest = &rest[n..];
                    } else {
                        w.next_revision = rest[0]
                            .kv
                            .as_ref()
                            .map(|kv| kv.mod_revision)
                            .unwrap_or(w.next_revision);
                        delivered_all = false;
                        break;
                    }
                }
                if delivered_all {
                    w.next_revision = w.next_revision.max(hist.next_revision);
                    if hist.next_revision > hist.current_revision {
                        w.state = SyncState::Synced;
                        return;
                    }
                }
                w.state = SyncState::Unsynced { requested: false };
                self.catchup.borrow_mut().push_back(h.watcher);
                drop(watchers);
                self.wake_catchup();
            }
        }
    }

    fn wake_catchup(&self) {
        if !self.catchup.borrow().is_empty() {
            if let Some(w) = self.catchup_waker.borrow_mut().take() {
                w.wake();
            }
        }
    }

    /// The core's catch-up task: sends history requests for unsynced watchers
    /// whose session has room again.
    pub async fn run_catchup(link: Rc<CoreLink>) {
        loop {
            let woken = futures::future::poll_fn(|cx| {
                if link.hub.catchup.borrow().is_empty() {
                    *link.hub.catchup_waker.borrow_mut() = Some(cx.waker().clone());
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            });
            woken.await;
            let handles: Vec<u64> = link.hub.catchup.borrow_mut().drain(..).collect();
            let mut retry = Vec::new();
            for handle in handles {
                let req = {
                    let mut watchers = link.hub.watchers.borrow_mut();
                    let Some(w) = watchers.get_mut(&handle) else {
                        continue;
                    };
                    if w.state != (SyncState::Unsynced { requested: false }) {
                        continue;
                    }
                    if !w.session.has_room(WATCHER_BUFFER_EVENTS_MAX / 2) && !w.session.closed.get()
                    {
                        retry.push(handle);
                        continue;
                    }
                    w.state = SyncState::Unsynced { requested: true };
                    HistoryRequest {
                        watcher: handle,
                        key: w.key.clone(),
                        range_end: w.range_end.clone(),
                        start_revision: w.next_revision.max(1),
                        max_events: WATCH_CATCHUP_EVENTS_MAX,
                    }
                };
                link.notify(Request::WatchHistory(req)).await;
            }
            if !retry.is_empty() {
                glommio::timer::sleep(Duration::from_millis(CATCHUP_RETRY_MS)).await;
                link.hub.catchup.borrow_mut().extend(retry);
            }
        }
    }
}

/// Queues one response of events; false when the session is full.
fn deliver(w: &Watcher, events: Vec<mvccpb::Event>, revision: i64) -> bool {
    let resp = pb::WatchResponse {
        header: Some(pb::ResponseHeader {
            revision,
            ..Default::default()
        }),
        watch_id: w.watch_id,
        events,
        ..Default::default()
    };
    w.session.try_push(resp).is_ok()
}

/// How many leading events to send in one response: at most
/// WATCH_RESPONSE_EVENTS_MAX, never splitting one revision across responses
/// unless a single revision alone exceeds the limit.
fn chunk_len(events: &[mvccpb::Event]) -> usize {
    if events.len() <= WATCH_RESPONSE_EVENTS_MAX {
        return events.len();
    }
    let rev = |i: usize| events[i].kv.as_ref().map(|kv| kv.mod_revision).unwrap_or(0);
    let mut n = WATCH_RESPONSE_EVENTS_MAX;
    while n > 1 && rev(n) == rev(n - 1) {
        n -= 1;
    }
    if n == 1 {
        WATCH_RESPONSE_EVENTS_MAX
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ranges_follow_etcd() {
        assert!(key_in_range(b"a", b"a", b""));
        assert!(!key_in_range(b"ab", b"a", b""));
        assert!(key_in_range(b"ab", b"a", b"b"));
        assert!(!key_in_range(b"b", b"a", b"b"));
        assert!(key_in_range(b"zzz", b"a", b"\0"));
        assert!(!key_in_range(b"0", b"a", b"\0"));
    }
}
