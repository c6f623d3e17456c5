//! The standard gRPC health service (`grpc.health.v1.Health`), which load
//! balancers and Kubernetes probes call. As etcd 3.4 does, the server
//! reports SERVING for the empty service name (the whole server); any other
//! name gets NOT_FOUND ("unknown service").

use futures::StreamExt as _;
use http::Response;
use prost::Message;

use super::body::Body;
use super::codec::MessageReader;
use crate::errors::{Code, EtcdError};

const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
const WATCH_PATH: &str = "/grpc.health.v1.Health/Watch";

/// `grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING`.
const SERVING: i32 = 1;

#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    service: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    status: i32,
}

/// Answers `path` if it is the health service's.
pub(super) async fn serve(path: &str, reader: &mut MessageReader) -> Option<Response<Body>> {
    if path != CHECK_PATH && path != WATCH_PATH {
        return None;
    }
    let req = match reader.next().await {
        Ok(p) => HealthCheckRequest::decode(p.unwrap_or_default()).unwrap_or_default(),
        Err(status) => return Some(super::grpc_error(&status)),
    };
    if !req.service.is_empty() {
        return Some(super::grpc_error(&EtcdError::new(
            Code::NotFound,
            "unknown service",
        )));
    }
    let mut buf = bytes::BytesMut::new();
    bytes::BufMut::put_bytes(&mut buf, 0, crate::service::HEADROOM_BYTES);
    HealthCheckResponse { status: SERVING }.encode_raw(&mut buf);
    let message = super::codec::frame(buf);
    if path == CHECK_PATH {
        return Some(super::grpc_ok(message));
    }
    // Watch: the status now, then the stream stays open (it never changes).
    let frames = futures::stream::once(async move { http_body::Frame::data(message) })
        .chain(futures::stream::pending());
    Some(super::grpc_response(Body::Stream(Box::pin(frames))))
}
