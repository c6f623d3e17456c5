//! Everything on the TCP port that is not gRPC: etcd's JSON gateway
//! (`POST /v3/kv/put`, ... transcoded by `etcq_net::gateway` to and from the
//! same protobuf the gRPC front carries, then served by the same service),
//! and the plain endpoints `/health`, `/livez`, `/readyz`, `/version`.

use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use futures::stream::StreamExt;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use prost::Message;

use etcq_net::gateway;
use etcq_net::method::{Method, MethodKind};
use etcq_net::pb::etcdserverpb as pb;

use super::body::Body;
use super::codec::GRPC_OVERHEAD_BYTES;
use crate::errors::{Code, EtcdError};
use crate::service::{Caller, Service, HEADROOM_BYTES};
use crate::shard::ETCD_API_VERSION;

/// The cluster version /version reports (etcd reports major.minor.0).
const ETCD_CLUSTER_VERSION: &str = "3.4.0";

/// JSON carries bytes as base64 (4/3 of their size) and field names: the
/// gateway accepts request bodies up to this multiple of the protobuf limit.
const JSON_BODY_EXPANSION: usize = 2;

pub(super) async fn handle(service: Rc<Service>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&http::Method::GET, "/health") => health(&service).await,
        (&http::Method::GET, "/livez") | (&http::Method::GET, "/readyz") => {
            text(StatusCode::OK, "ok")
        }
        (&http::Method::GET, "/version") => json(
            StatusCode::OK,
            format!(
                "{{\"etcdserver\":\"{ETCD_API_VERSION}\",\"etcdcluster\":\"{ETCD_CLUSTER_VERSION}\"}}"
            ),
        ),
        (_, p) => match gateway::route(p) {
            Some(method) if req.method() == http::Method::POST => {
                // etcd's gateway passes `Authorization` on as the token.
                let caller = req
                    .headers()
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(Caller::with_token)
                    .unwrap_or_default();
                gateway_call(service, method, req.into_body(), &caller).await
            }
            Some(_) => text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n"),
            // etcd's gateway answers its own prefixes, Go's mux the rest.
            None if gateway::PATH_PREFIXES.iter().any(|pre| p.starts_with(pre)) => {
                text(StatusCode::NOT_FOUND, "Not Found\n")
            }
            None => text(StatusCode::NOT_FOUND, "404 page not found\n"),
        },
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Body::data(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(Body::data(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn error(status: &EtcdError) -> Response<Body> {
    let (code, body) = gateway::error_json(status);
    json(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
}

/// etcd's /health: true when a linearizable read goes through and no alarm
/// is raised.
async fn health(service: &Service) -> Response<Body> {
    let read = pb::RangeRequest {
        key: Bytes::from_static(b"health"),
        ..Default::default()
    };
    let read_ok = service
        .unary(
            Method::Range,
            read.encode_to_vec().into(),
            &Caller::default(),
        )
        .await
        .is_ok();
    let no_alarm = match service
        .unary(
            Method::Status,
            pb::StatusRequest {}.encode_to_vec().into(),
            &Caller::default(),
        )
        .await
    {
        Ok(buf) => pb::StatusResponse::decode(&buf[HEADROOM_BYTES..])
            .map(|s| s.errors.is_empty() && s.leader != 0)
            .unwrap_or(false),
        Err(_) => false,
    };
    if read_ok && no_alarm {
        json(StatusCode::OK, "{\"health\":\"true\"}")
    } else {
        json(StatusCode::SERVICE_UNAVAILABLE, "{\"health\":\"false\"}")
    }
}

/// Reads a whole request body of at most `max` bytes.
async fn read_body(mut body: Incoming, max: usize) -> Result<BytesMut, EtcdError> {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            EtcdError::new(Code::Cancelled, format!("reading the request body: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max {
                return Err(crate::errors::request_too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

async fn gateway_call(
    service: Rc<Service>,
    method: Method,
    body: Incoming,
    caller: &Caller,
) -> Response<Body> {
    let max = (service.limits().max_request_bytes + GRPC_OVERHEAD_BYTES) * JSON_BODY_EXPANSION;
    if method.kind() == MethodKind::Unary {
        let body = match read_body(body, max).await {
            Ok(b) => b,
            Err(status) => return error(&status),
        };
        let request = match gateway::request_from_json(method, &body) {
            Ok(r) => r,
            Err(status) => return error(&status),
        };
        return match service.unary(method, request, caller).await {
            Ok(buf) => match gateway::response_to_json(method, &buf[HEADROOM_BYTES..]) {
                Ok(j) => json(StatusCode::OK, j),
                Err(status) => error(&status),
            },
            Err(status) => error(&status),
        };
    }
    // Streams: JSON request values from the body as they arrive; one
    // `{"result": ...}` line per response.
    let requests = json_requests(method, body, max);
    let requests = match method {
        // As over gRPC: the watch goes on after the request body ends.
        Method::Watch => requests.chain(futures::stream::pending()).boxed_local(),
        Method::Snapshot | Method::Observe => requests.take(1).boxed_local(),
        _ => requests,
    };
    let responses = service.stream(method, requests, caller);
    let frames = futures::stream::unfold(Some(responses), move |state| async move {
        let mut responses = state?;
        match responses.next().await {
            Some(Ok(buf)) => {
                let item = gateway::stream_item_json(method, &buf[HEADROOM_BYTES..]);
                Some((Frame::data(Bytes::from(item)), Some(responses)))
            }
            Some(Err(status)) => Some((
                Frame::data(Bytes::from(gateway::stream_error_json(&status))),
                None,
            )),
            None => None,
        }
    });
    let mut resp = Response::new(Body::Stream(frames.boxed_local()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Request messages of a streaming gateway call, decoded from the body as it
/// arrives; a malformed value or a body over `max` buffered bytes ends them.
fn json_requests(
    method: Method,
    body: Incoming,
    max: usize,
) -> futures::stream::LocalBoxStream<'static, Bytes> {
    let decoder = gateway::JsonStreamDecoder::new(method);
    futures::stream::unfold(
        (body, decoder, false),
        move |(mut body, mut decoder, mut ended)| async move {
            loop {
                match decoder.next_request() {
                    Some(Ok(r)) => return Some((r, (body, decoder, ended))),
                    Some(Err(e)) => {
                        tracing::debug!("gateway stream request refused: {e}");
                        return None;
                    }
                    None if ended => return None,
                    None => {}
                }
                if decoder.buffered() > max {
                    return None;
                }
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            decoder.push(&data);
                        }
                    }
                    Some(Err(_)) | None => {
                        decoder.finish();
                        ended = true;
                    }
                }
            }
        },
    )
    .boxed_local()
}
