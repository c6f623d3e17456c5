//! Long-lived sessions on one bidirectional stream each: watch and lease
//! keep-alive. The sending half and the receiving half are separate values,
//! so one task can issue requests while another consumes responses.

use std::{
    marker::PhantomData,
    pin::Pin,
    task::{Context, Poll},
};

use futures::{stream::BoxStream, Stream, StreamExt};
use prost::Message;
use quinn::{RecvStream, SendStream};

use super::ClientError;
use crate::{
    frame,
    pb::etcdserverpb::{
        watch_request::RequestUnion, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
        WatchCancelRequest, WatchCreateRequest, WatchProgressRequest, WatchRequest, WatchResponse,
    },
};

/// Responses of a streaming session, in order. Ends (`None`) when the server
/// ends the stream; after an error it ends too.
pub struct ResponseStream<T> {
    inner: BoxStream<'static, Result<T, ClientError>>,
    _marker: PhantomData<fn() -> T>,
}

impl<T: Message + Default + 'static> ResponseStream<T> {
    pub(crate) fn new(recv: RecvStream, frame_bytes_max: usize) -> Self {
        let inner = futures::stream::unfold(Some(recv), move |state| async move {
            let mut recv = state?;
            match frame::read_response::<T>(&mut recv, frame_bytes_max).await {
                Ok(Some(Ok(msg))) => Some((Ok(msg), Some(recv))),
                // The server ends the stream after an error frame; stop here.
                Ok(Some(Err(status))) => Some((Err(status.into()), None)),
                Ok(None) => None,
                Err(e) => Some((Err(e.into()), None)),
            }
        });
        ResponseStream {
            inner: inner.boxed(),
            _marker: PhantomData,
        }
    }

    /// The next response; `Ok(None)` once the session has ended.
    pub async fn message(&mut self) -> Result<Option<T>, ClientError> {
        self.inner.next().await.transpose()
    }
}

impl<T> Stream for ResponseStream<T> {
    type Item = Result<T, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl<T> std::fmt::Debug for ResponseStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStream").finish_non_exhaustive()
    }
}

/// `WatchResponse`s of a watch session.
pub type WatchStream = ResponseStream<WatchResponse>;

/// `LeaseKeepAliveResponse`s of a keep-alive session.
pub type KeepAliveStream = ResponseStream<LeaseKeepAliveResponse>;

/// The sending half of a watch session: create more watchers, cancel them,
/// ask for progress. Dropping it (or [`Watcher::close`]) ends the session.
#[derive(Debug)]
pub struct Watcher {
    send: SendStream,
}

impl Watcher {
    pub(crate) fn new(send: SendStream) -> Watcher {
        Watcher { send }
    }

    async fn send(&mut self, request: RequestUnion) -> Result<(), ClientError> {
        let msg = WatchRequest {
            request_union: Some(request),
        };
        frame::write_message(&mut self.send, &msg).await?;
        Ok(())
    }

    /// Starts another watcher on this session.
    pub async fn create(&mut self, request: WatchCreateRequest) -> Result<(), ClientError> {
        self.send(RequestUnion::CreateRequest(request)).await
    }

    /// Cancels the watcher with this ID.
    pub async fn cancel(&mut self, watch_id: i64) -> Result<(), ClientError> {
        self.send(RequestUnion::CancelRequest(WatchCancelRequest { watch_id }))
            .await
    }

    /// Asks the server for a progress notification (current revision).
    pub async fn request_progress(&mut self) -> Result<(), ClientError> {
        self.send(RequestUnion::ProgressRequest(WatchProgressRequest {}))
            .await
    }

    /// Ends the session: the server cancels every watcher on it and ends
    /// the response stream.
    pub fn close(mut self) -> Result<(), ClientError> {
        self.send.finish().map_err(frame::FrameError::from)?;
        Ok(())
    }
}

/// The sending half of a lease keep-alive session.
#[derive(Debug)]
pub struct KeepAliveSender {
    id: i64,
    send: SendStream,
}

impl KeepAliveSender {
    pub(crate) fn new(id: i64, send: SendStream) -> KeepAliveSender {
        KeepAliveSender { id, send }
    }

    /// The lease this session keeps alive.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Sends one keep-alive; the refreshed TTL arrives on the
    /// [`KeepAliveStream`].
    pub async fn keep_alive(&mut self) -> Result<(), ClientError> {
        let msg = LeaseKeepAliveRequest { id: self.id };
        frame::write_message(&mut self.send, &msg).await?;
        Ok(())
    }

    /// Ends the session (the lease itself is untouched).
    pub fn close(mut self) -> Result<(), ClientError> {
        self.send.finish().map_err(frame::FrameError::from)?;
        Ok(())
    }
}
