//! The etcd-compatible TCP front: etcd's v3 gRPC API over HTTP/2 and the
//! JSON gateway over HTTP/1.1, plaintext or TLS, all on one port (the first
//! byte of a connection tells TLS from plaintext; hyper's auto builder tells
//! HTTP/2 from HTTP/1.1).
//!
//! hyper runs on the core's glommio executor ([`io::LocalExec`]), so request
//! handlers are ordinary `!Send` futures that call the core's [`Service`]
//! directly: no channel hop, no lock. gRPC framing is ours ([`codec`]): it
//! is five bytes and a trailer, and tonic's server traits would demand
//! `Send` handlers.

mod authority;
mod body;
mod codec;
mod health;
mod http1;
mod io;

use std::collections::HashMap;
use std::convert::Infallible;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures::stream::StreamExt;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::Frame;
use hyper::body::Incoming;

use etcq_net::method::{Method, MethodKind, ALL_METHODS};

use crate::errors::{Code, EtcdError};
use crate::service::{Caller, Service};
use body::Body;
use codec::MessageReader;

/// Concurrent HTTP/2 streams a client may open on one connection.
pub const GRPC_STREAMS_PER_CONNECTION_MAX: u32 = 4096;

/// First byte of a TLS handshake record.
const TLS_HANDSHAKE_BYTE: u8 = 0x16;

/// Accepts TCP connections on `listener` until it fails.
pub async fn serve(
    core: usize,
    service: Rc<Service>,
    listener: glommio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
) {
    let acceptor = futures_rustls::TlsAcceptor::from(tls);
    loop {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(core, "TCP accept failed: {e}");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let acceptor = acceptor.clone();
        glommio::spawn_local(async move {
            let mut first = [0u8; 1];
            match stream.peek(&mut first).await {
                Ok(1) => {}
                _ => return,
            }
            if first[0] == TLS_HANDSHAKE_BYTE {
                match acceptor.accept(stream).await {
                    Ok(tls) => {
                        let io = io::HyperIo(authority::AuthorityFix::new(tls));
                        serve_connection(service, io).await
                    }
                    Err(e) => tracing::debug!(core, "TLS handshake failed: {e}"),
                }
            } else {
                serve_connection(service, io::HyperIo(authority::AuthorityFix::new(stream))).await;
            }
        })
        .detach();
    }
}

async fn serve_connection<T>(service: Rc<Service>, io: T)
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
{
    let mut builder = hyper_util::server::conn::auto::Builder::new(io::LocalExec);
    builder
        .http2()
        .max_concurrent_streams(GRPC_STREAMS_PER_CONNECTION_MAX);
    let svc = hyper::service::service_fn(move |req| {
        let service = service.clone();
        async move { Ok::<_, Infallible>(route(service, req).await) }
    });
    if let Err(e) = builder.serve_connection(io, svc).await {
        tracing::debug!("connection ended: {e}");
    }
}

async fn route(service: Rc<Service>, req: Request<Incoming>) -> Response<Body> {
    let is_grpc = req
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if is_grpc {
        grpc(service, req).await
    } else {
        http1::handle(service, req).await
    }
}

/// The method a gRPC path names.
fn method_of(path: &str) -> Option<Method> {
    static TABLE: OnceLock<HashMap<&'static str, Method>> = OnceLock::new();
    TABLE
        .get_or_init(|| ALL_METHODS.iter().map(|m| (m.grpc_path(), *m)).collect())
        .get(path)
        .copied()
}

fn grpc_response(body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    resp
}

/// A "trailers-only" answer: the status in the headers, no body.
fn grpc_error(status: &EtcdError) -> Response<Body> {
    let mut resp = grpc_response(Body::empty());
    codec::status_headers(resp.headers_mut(), Some(status));
    resp
}

fn grpc_ok(message: Bytes) -> Response<Body> {
    grpc_response(Body::Whole {
        data: Some(message),
        trailers: Some(codec::trailers(None)),
    })
}

async fn grpc(service: Rc<Service>, req: Request<Incoming>) -> Response<Body> {
    if req.method() != http::Method::POST {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return resp;
    }
    let path = req.uri().path().to_owned();
    // etcd's clients send the token as `token` metadata; `authorization`
    // is accepted too (etcd 3.5 does).
    let caller = ["token", "authorization"]
        .iter()
        .find_map(|h| req.headers().get(*h).and_then(|v| v.to_str().ok()))
        .map(Caller::with_token)
        .unwrap_or_default();
    let max = service.limits().max_request_bytes + codec::GRPC_OVERHEAD_BYTES;
    let mut reader = MessageReader::new(req.into_body(), max);
    if let Some(answer) = health::serve(&path, &mut reader).await {
        return answer;
    }
    let Some(method) = method_of(&path) else {
        return grpc_error(&EtcdError::new(
            Code::Unimplemented,
            format!("unknown method {path}"),
        ));
    };
    match method.kind() {
        MethodKind::Unary => {
            let payload = match reader.next().await {
                Ok(Some(p)) => p,
                Ok(None) => Bytes::new(), // an empty body is the default message
                Err(status) => return grpc_error(&status),
            };
            match service.unary(method, payload, &caller).await {
                Ok(buf) => grpc_ok(codec::frame(buf)),
                Err(status) => grpc_error(&status),
            }
        }
        kind => {
            let requests = futures::stream::unfold(reader, |mut reader| async move {
                match reader.next().await {
                    Ok(Some(p)) => Some((p, reader)),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::debug!("gRPC request stream ended: {e}");
                        None
                    }
                }
            });
            let requests = match (kind, method) {
                (MethodKind::ServerStreaming, _) => requests.take(1).boxed_local(),
                // etcd keeps a watch stream serving after the client closes
                // its sending side; it ends when the client goes away.
                (_, Method::Watch) => requests.chain(futures::stream::pending()).boxed_local(),
                _ => requests.boxed_local(),
            };
            grpc_response(Body::Stream(stream_frames(
                service.stream(method, requests, &caller),
            )))
        }
    }
}

/// A response stream as body frames: messages, then the status trailers.
fn stream_frames(
    responses: crate::service::ResponseStream,
) -> futures::stream::LocalBoxStream<'static, Frame<Bytes>> {
    futures::stream::unfold(Some(responses), |state| async move {
        let mut responses = state?;
        match responses.next().await {
            Some(Ok(buf)) => Some((Frame::data(codec::frame(buf)), Some(responses))),
            Some(Err(status)) => Some((Frame::trailers(codec::trailers(Some(&status))), None)),
            None => Some((Frame::trailers(codec::trailers(None)), None)),
        }
    })
    .boxed_local()
}
