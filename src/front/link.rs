//! A front core's link to the raft core: sends requests up, and runs the one
//! dispatcher task that reads the core's downlink in order — replies complete
//! waiting callers, watch events and history answers go to the watch hub.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use futures::channel::oneshot;

use crate::errors::{self, EtcdError};
use crate::front::watch::WatchHub;
use crate::mesh::{Downlink, DownlinkRx, Envelope, Reply, Request, Response, UplinkTx};

/// A core's link, as seen by one caller: [`CoreLink::call`] sends the
/// caller's auth token with every request (none for the link the core
/// starts with; [`CoreLink::as_caller`] makes one for a client's requests,
/// e.g. the txns of a Lock call).
pub struct CoreLink {
    shared: Rc<Shared>,
    token: Option<Arc<str>>,
}

/// What every caller's view of the link shares.
pub struct Shared {
    core: usize,
    uplink: UplinkTx,
    pending: RefCell<HashMap<u64, oneshot::Sender<Reply>>>,
    next_id: Cell<u64>,
    pub hub: WatchHub,
}

impl std::ops::Deref for CoreLink {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl CoreLink {
    pub fn new(core: usize, uplink: UplinkTx) -> Rc<Self> {
        Rc::new(CoreLink {
            shared: Rc::new(Shared {
                core,
                uplink,
                pending: RefCell::new(HashMap::new()),
                next_id: Cell::new(1),
                hub: WatchHub::default(),
            }),
            token: None,
        })
    }

    /// The same link, calling on behalf of the holder of `token`.
    pub fn as_caller(&self, token: Option<Arc<str>>) -> Rc<CoreLink> {
        Rc::new(CoreLink {
            shared: self.shared.clone(),
            token,
        })
    }

    fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// Sends a request to the raft core and waits for its reply.
    pub async fn call(&self, req: Request) -> Result<Response, EtcdError> {
        self.call_as(req, self.token.clone()).await
    }

    /// [`CoreLink::call`] on behalf of the caller holding `token`.
    pub async fn call_as(
        &self,
        req: Request,
        token: Option<Arc<str>>,
    ) -> Result<Response, EtcdError> {
        let req_id = self.next_id();
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().insert(req_id, tx);
        if self
            .uplink
            .send(Envelope {
                from_core: self.core,
                req_id,
                req,
                token,
            })
            .await
            .is_err()
        {
            self.pending.borrow_mut().remove(&req_id);
            return Err(errors::stopped());
        }
        rx.await.unwrap_or_else(|_| Err(errors::stopped()))
    }

    /// Sends a message that gets no reply (watch history and interest);
    /// never on anyone's behalf (the hub's own traffic).
    pub async fn notify(&self, req: Request) {
        let env = Envelope {
            from_core: self.core,
            req_id: 0,
            req,
            token: None,
        };
        if self.uplink.send(env).await.is_err() {
            tracing::debug!("raft core stopped; notification dropped");
        }
    }

    /// Reads the downlink until the raft core goes away.
    pub async fn dispatch(self: Rc<Self>, mut rx: DownlinkRx) {
        while let Some(msg) = rx.recv().await {
            match msg {
                Downlink::Reply { req_id, reply } => {
                    if let Some(tx) = self.pending.borrow_mut().remove(&req_id) {
                        let _ = tx.send(reply); // the caller may have gone away
                    }
                }
                Downlink::Events(batch) => self.hub.on_events(&self, &batch),
                Downlink::History(h) => self.hub.on_history(&self, h),
                Downlink::Gap { from_revision } => self.hub.on_gap(&self, from_revision),
            }
        }
        for (_, tx) in self.pending.borrow_mut().drain() {
            let _ = tx.send(Err(errors::stopped()));
        }
    }
}
