//! The etcq/1 front: accepts QUIC connections, reads each stream's method
//! byte and frames, and hands the messages to the core's [`Service`]. One
//! stream per unary request; watch and keep-alive sessions are long-lived
//! streams. Framing is `etcq_net::frame` (docs/protocol.md).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use prost::Message as _;
use quinn::{RecvStream, SendStream};

use etcq_net::frame::{self, FrameError, FRAME_HEADER_BYTES, STATUS_OK};
use etcq_net::method::{Method, MethodKind};
use etcq_net::pb::etcdserverpb as pb;

use crate::errors::EtcdError;
use crate::service::{Caller, Service, HEADROOM_BYTES};

/// Accepts connections until the endpoint closes.
pub async fn serve(core: usize, service: Rc<Service>, endpoint: quinn::Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        let service = service.clone();
        glommio::spawn_local(async move {
            match incoming.await {
                Ok(conn) => serve_connection(service, conn).await,
                Err(e) => tracing::debug!(core, "handshake failed: {e}"),
            }
        })
        .detach();
    }
}

/// The token of a connection's last successful Authenticate: etcq/1 carries
/// the caller's identity per connection, not per request (docs/protocol.md).
type ConnectionToken = Rc<RefCell<Option<Arc<str>>>>;

async fn serve_connection(service: Rc<Service>, conn: quinn::Connection) {
    let token = ConnectionToken::default();
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                glommio::spawn_local(serve_stream(service.clone(), send, recv, token.clone()))
                    .detach();
            }
            Err(e) => {
                tracing::debug!(remote = %conn.remote_address(), "connection closed: {e}");
                return;
            }
        }
    }
}

/// Writes etcq/1's OK frame header into an encoded response's headroom.
fn ok_frame(mut buf: BytesMut) -> Bytes {
    const _: () = assert!(HEADROOM_BYTES == FRAME_HEADER_BYTES + 1);
    let len = (buf.len() - FRAME_HEADER_BYTES) as u32;
    buf[..FRAME_HEADER_BYTES].copy_from_slice(&len.to_be_bytes());
    buf[FRAME_HEADER_BYTES] = STATUS_OK;
    buf.freeze()
}

async fn serve_stream(
    service: Rc<Service>,
    mut send: SendStream,
    mut recv: RecvStream,
    token: ConnectionToken,
) {
    let caller = Caller {
        token: token.borrow().clone(),
    };
    let max = service.limits().max_request_bytes;
    let method = match frame::read_method(&mut recv).await {
        Ok(Some(m)) => m,
        Ok(None) => return,
        Err(e) => return refuse(&mut send, e).await,
    };
    if method.kind() == MethodKind::Unary {
        serve_unary(&service, method, send, recv, &token).await;
        return;
    }
    // Streaming: requests are the stream's frames until the client finishes
    // its side (which ends a watch or keep-alive session) or sends garbage.
    let requests = futures::stream::unfold(recv, move |mut recv| async move {
        match frame::read_frame(&mut recv, max).await {
            Ok(Some(p)) => Some((p, recv)),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!("etcq/1 stream ended by a bad frame: {e}");
                None
            }
        }
    })
    .boxed_local();
    let mut responses = service.stream(method, requests, &caller);
    while let Some(item) = responses.next().await {
        match item {
            Ok(buf) => {
                if send.write_chunk(ok_frame(buf)).await.is_err() {
                    return; // client gone: dropping `responses` ends the session
                }
            }
            Err(status) => return send_status(&mut send, &status).await,
        }
    }
    let _ = send.finish();
}

/// Serves unary calls on one stream until the client finishes it: the
/// first, then any number more, each a method byte and a request frame
/// answered by one response frame (stream reuse, docs/protocol.md). Each
/// call acts as the connection's user at the time it arrives.
async fn serve_unary(
    service: &Rc<Service>,
    first: Method,
    mut send: SendStream,
    mut recv: RecvStream,
    token: &ConnectionToken,
) {
    let max = service.limits().max_request_bytes;
    let mut method = first;
    loop {
        let payload = match frame::read_frame(&mut recv, max).await {
            Ok(Some(p)) => p,
            Ok(None) => return refuse(&mut send, FrameError::Missing("request frame")).await,
            Err(e) => return refuse(&mut send, e).await,
        };
        let caller = Caller {
            token: token.borrow().clone(),
        };
        // A client that gives up (stops the stream or drops the connection)
        // cancels the call: a waiting Lock or Campaign withdraws its key.
        let call = std::pin::pin!(service.unary(method, payload, &caller));
        let gone = std::pin::pin!(send.stopped());
        let answer = match futures::future::select(call, gone).await {
            futures::future::Either::Left((Ok(buf), _)) => {
                if method == Method::Authenticate {
                    // From now on this connection acts as that user.
                    if let Ok(r) = pb::AuthenticateResponse::decode(&buf[HEADROOM_BYTES..]) {
                        *token.borrow_mut() = Caller::with_token(&r.token).token;
                    }
                }
                ok_frame(buf)
            }
            futures::future::Either::Left((Err(status), _)) => {
                if method == Method::Authenticate && status == crate::errors::auth_not_enabled() {
                    // Auth was disabled (which drops every token): the
                    // connection goes back to nobody instead of sending a
                    // dead token with every request.
                    *token.borrow_mut() = None;
                }
                return send_status(&mut send, &status).await;
            }
            futures::future::Either::Right(_) => return,
        };
        if send.write_chunk(answer).await.is_err() {
            return;
        }
        method = match frame::read_method(&mut recv).await {
            Ok(Some(m)) if m.kind() == MethodKind::Unary => m,
            Ok(Some(m)) => {
                let e = EtcdError::new(
                    crate::errors::Code::InvalidArgument,
                    format!("etcq/1: {m} cannot follow a unary call on its stream"),
                );
                return send_status(&mut send, &e).await;
            }
            Ok(None) => {
                let _ = send.finish();
                return;
            }
            Err(e) => return refuse(&mut send, e).await,
        };
    }
}

async fn send_status(send: &mut SendStream, status: &EtcdError) {
    if frame::write_status(send, status).await.is_ok() {
        let _ = send.finish();
    }
}

/// Answers a request that could not be read with the matching status, if anyone is listening.
async fn refuse(send: &mut SendStream, e: FrameError) {
    if let Some(status) = e.to_status() {
        send_status(send, &status).await;
    }
}
