//! The etcd-compatible TCP front, at the byte level: gRPC framing, status
//! trailers with etcd's codes and texts, the health service, the JSON
//! gateway and plain HTTP endpoints, TLS and plaintext on the one port.
//! Requests are written by hand through a bare hyper client so that
//! malformed input can be sent too; etcdctl and friends are covered by
//! tests/compat.rs.

mod common;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;

use common::Node;
use etcq_net::pb::etcdserverpb as pb;

type Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

async fn h2(node: &Node) -> Sender {
    let tcp = tokio::net::TcpStream::connect(node.addr)
        .await
        .expect("connect tcp");
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    send
}

fn grpc_frame(msg: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u8(0);
    b.put_u32(msg.len() as u32);
    b.put_slice(msg);
    b.freeze()
}

struct GrpcAnswer {
    status: u32,
    message: String,
    messages: Vec<Bytes>,
}

/// Sends one gRPC request body to `path` and reads the whole answer.
async fn call_raw(send: &mut Sender, path: &str, body: Bytes) -> GrpcAnswer {
    let req = http::Request::post(format!("http://etcq{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(body))
        .expect("request");
    let resp = tokio::time::timeout(common::DEADLINE, send.send_request(req))
        .await
        .expect("answer in time")
        .expect("answer");
    assert_eq!(resp.status(), 200);
    let header_status = resp.headers().get("grpc-status").cloned();
    let header_message = resp.headers().get("grpc-message").cloned();
    let collected = resp.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let status = trailers
        .get("grpc-status")
        .or(header_status.as_ref())
        .expect("a grpc-status")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("a number");
    let message = trailers
        .get("grpc-message")
        .or(header_message.as_ref())
        .map(|v| {
            percent_encoding::percent_decode(v.as_bytes())
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let mut data = collected.to_bytes();
    let mut messages = Vec::new();
    while data.remaining() >= 5 {
        assert_eq!(data.get_u8(), 0, "uncompressed");
        let len = data.get_u32() as usize;
        messages.push(data.split_to(len));
    }
    GrpcAnswer {
        status,
        message,
        messages,
    }
}

async fn call<Req: Message, Resp: Message + Default>(
    send: &mut Sender,
    path: &str,
    req: &Req,
) -> Result<Resp, (u32, String)> {
    let a = call_raw(send, path, grpc_frame(&req.encode_to_vec())).await;
    if a.status != 0 {
        return Err((a.status, a.message));
    }
    assert_eq!(a.messages.len(), 1, "one answer message");
    Ok(Resp::decode(a.messages[0].clone()).expect("decodes"))
}

#[tokio::test]
async fn kv_over_grpc_answers_as_etcd_does() {
    let node = Node::start(&[]);
    node.client().await;
    let mut send = h2(&node).await;
    let put: pb::PutResponse = call(
        &mut send,
        "/etcdserverpb.KV/Put",
        &pb::PutRequest {
            key: "k".into(),
            value: "v".into(),
            ..Default::default()
        },
    )
    .await
    .expect("put");
    let header = put.header.expect("header");
    assert!(header.revision >= 2 && header.cluster_id != 0 && header.member_id != 0);
    let range: pb::RangeResponse = call(
        &mut send,
        "/etcdserverpb.KV/Range",
        &pb::RangeRequest {
            key: "k".into(),
            ..Default::default()
        },
    )
    .await
    .expect("range");
    assert_eq!(range.kvs.len(), 1);
    assert_eq!(&range.kvs[0].value[..], b"v");

    // etcd's codes and texts travel in the trailers.
    let err = call::<_, pb::RangeResponse>(
        &mut send,
        "/etcdserverpb.KV/Range",
        &pb::RangeRequest {
            key: "k".into(),
            revision: 1_000_000,
            ..Default::default()
        },
    )
    .await
    .expect_err("future revision");
    assert_eq!(
        err,
        (
            11,
            "etcdserver: mvcc: required revision is a future revision".into()
        )
    );
    let err = call::<_, pb::PutResponse>(
        &mut send,
        "/etcdserverpb.KV/Put",
        &pb::PutRequest::default(),
    )
    .await
    .expect_err("empty key");
    assert_eq!(err, (3, "etcdserver: key is not provided".into()));
    let err = call::<_, pb::LeaseRevokeResponse>(
        &mut send,
        "/etcdserverpb.Lease/LeaseRevoke",
        &pb::LeaseRevokeRequest { id: 42 },
    )
    .await
    .expect_err("unknown lease");
    assert_eq!(err, (5, "etcdserver: requested lease not found".into()));
}

#[tokio::test]
async fn malformed_grpc_input_is_refused_and_the_server_goes_on() {
    let node = Node::start(&[]);
    node.client().await;
    let mut send = h2(&node).await;
    let unknown = call_raw(&mut send, "/etcdserverpb.KV/Nope", grpc_frame(b"")).await;
    assert_eq!(unknown.status, 12, "Unimplemented");

    let mut compressed = BytesMut::from(&grpc_frame(b"")[..]);
    compressed[0] = 1;
    let a = call_raw(&mut send, "/etcdserverpb.KV/Range", compressed.freeze()).await;
    assert_eq!(a.status, 12, "compressed messages are refused");

    // A length prefix far over the limit: refused before anything is read.
    let mut huge = BytesMut::new();
    huge.put_u8(0);
    huge.put_u32(u32::MAX);
    let a = call_raw(&mut send, "/etcdserverpb.KV/Put", huge.freeze()).await;
    assert_eq!(a.status, 8, "ResourceExhausted: {}", a.message);

    // A body that ends inside a message, and bytes that are not protobuf.
    let a = call_raw(
        &mut send,
        "/etcdserverpb.KV/Put",
        Bytes::from_static(&[0, 0, 0, 0, 9, 1]),
    )
    .await;
    assert_ne!(a.status, 0);
    let a = call_raw(
        &mut send,
        "/etcdserverpb.KV/Put",
        grpc_frame(&[0xff, 0xff, 0xff]),
    )
    .await;
    assert_eq!(a.status, 3, "InvalidArgument: {}", a.message);

    // A value over --max-request-bytes: etcd's text.
    let big = pb::PutRequest {
        key: "big".into(),
        value: vec![b'x'; 1536 * 1024 + 1].into(),
        ..Default::default()
    };
    let err = call::<_, pb::PutResponse>(&mut send, "/etcdserverpb.KV/Put", &big)
        .await
        .expect_err("too large");
    assert_eq!(err, (3, "etcdserver: request is too large".into()));

    // Still serving.
    let status: pb::StatusResponse = call(
        &mut send,
        "/etcdserverpb.Maintenance/Status",
        &pb::StatusRequest {},
    )
    .await
    .expect("status");
    assert!(status.header.is_some());
}

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

#[tokio::test]
async fn grpc_health_service_reports_serving() {
    let node = Node::start(&[]);
    node.client().await;
    let mut send = h2(&node).await;
    let ok: HealthCheckResponse = call(
        &mut send,
        "/grpc.health.v1.Health/Check",
        &HealthCheckRequest::default(),
    )
    .await
    .expect("health");
    assert_eq!(ok.status, 1, "SERVING");
    let err = call::<_, HealthCheckResponse>(
        &mut send,
        "/grpc.health.v1.Health/Check",
        &HealthCheckRequest {
            service: "nope".into(),
        },
    )
    .await
    .expect_err("unknown service");
    assert_eq!(err.0, 5, "NOT_FOUND");
}

#[tokio::test]
async fn watch_over_grpc_streams_events_with_full_headers() {
    let node = Node::start(&[]);
    node.client().await;
    let mut send = h2(&node).await;
    let (mut tx, body) = futures_channel_body();
    let req = http::Request::post("http://etcq/etcdserverpb.Watch/Watch")
        .header("content-type", "application/grpc")
        .body(body)
        .expect("request");
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        TokioExecutor::new(),
        TokioIo::new(
            tokio::net::TcpStream::connect(node.addr)
                .await
                .expect("tcp"),
        ),
    )
    .await
    .expect("h2");
    tokio::spawn(conn);
    let resp_fut = sender.send_request(req);
    let create = pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest {
                key: "w".into(),
                ..Default::default()
            },
        )),
    };
    tx.send(grpc_frame(&create.encode_to_vec())).await;
    let resp = tokio::time::timeout(common::DEADLINE, resp_fut)
        .await
        .expect("in time")
        .expect("answer");
    let mut body = resp.into_body();
    let mut reader = FrameReader::default();
    let created: pb::WatchResponse = reader.next(&mut body).await;
    assert!(created.created);
    let h = created.header.expect("created carries a header");
    assert!(h.cluster_id != 0 && h.member_id != 0 && h.revision >= 1);
    let _: pb::PutResponse = call(
        &mut send,
        "/etcdserverpb.KV/Put",
        &pb::PutRequest {
            key: "w".into(),
            value: "1".into(),
            ..Default::default()
        },
    )
    .await
    .expect("put");
    let ev: pb::WatchResponse = reader.next(&mut body).await;
    assert_eq!(ev.events.len(), 1);
    assert_eq!(&ev.events[0].kv.as_ref().expect("kv").value[..], b"1");
    let h = ev.header.expect("events carry a header");
    assert!(h.cluster_id != 0 && h.member_id != 0);
    assert_eq!(
        h.revision,
        ev.events[0].kv.as_ref().expect("kv").mod_revision
    );
}

/// A request body fed through a channel, so a stream can stay open.
fn futures_channel_body() -> (BodyTx, http_body_util::StreamBody<BodyRx>) {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    (BodyTx(tx), http_body_util::StreamBody::new(BodyRx(rx)))
}

struct BodyTx(tokio::sync::mpsc::Sender<Bytes>);
impl BodyTx {
    async fn send(&mut self, b: Bytes) {
        self.0.send(b).await.expect("body open");
    }
}

struct BodyRx(tokio::sync::mpsc::Receiver<Bytes>);
impl futures::Stream for BodyRx {
    type Item = Result<http_body::Frame<Bytes>, std::convert::Infallible>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(http_body::Frame::data(b))))
    }
}

#[derive(Default)]
struct FrameReader {
    buf: BytesMut,
}

impl FrameReader {
    async fn next<M: Message + Default>(&mut self, body: &mut hyper::body::Incoming) -> M {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                    as usize;
                if self.buf.len() >= 5 + len {
                    self.buf.advance(5);
                    let m = self.buf.split_to(len);
                    return M::decode(m.freeze()).expect("decodes");
                }
            }
            let frame = tokio::time::timeout(common::DEADLINE, body.frame())
                .await
                .expect("a frame in time")
                .expect("stream open")
                .expect("no error");
            if let Ok(d) = frame.into_data() {
                self.buf.extend_from_slice(&d);
            }
        }
    }
}

async fn http1(node: &Node, method: &str, path: &str, body: &str) -> (u16, String) {
    let tcp = tokio::net::TcpStream::connect(node.addr)
        .await
        .expect("tcp");
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("h1 handshake");
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "etcq")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let resp = tokio::time::timeout(common::DEADLINE, send.send_request(req))
        .await
        .expect("in time")
        .expect("answer");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn json_gateway_and_plain_endpoints_share_the_port() {
    let node = Node::start(&[]);
    node.client().await;
    assert_eq!(
        http1(&node, "GET", "/health", "").await,
        (200, "{\"health\":\"true\"}".to_string())
    );
    let (code, version) = http1(&node, "GET", "/version", "").await;
    assert_eq!(code, 200);
    assert!(version.contains("\"etcdserver\":\"3.4.23\""), "{version}");
    let (code, _) = http1(
        &node,
        "POST",
        "/v3/kv/put",
        r#"{"key":"Zm9v","value":"YmFy"}"#,
    )
    .await;
    assert_eq!(code, 200);
    let (code, range) = http1(&node, "POST", "/v3/kv/range", r#"{"key":"Zm9v"}"#).await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&range).expect("json");
    assert_eq!(v["kvs"][0]["value"], "YmFy");
    assert_eq!(v["count"], "1", "int64 as a string, as etcd's gateway");
    let (code, err) = http1(&node, "POST", "/v3/kv/put", r#"{"value":"YmFy"}"#).await;
    assert_eq!(code, 400, "{err}");
    assert!(err.contains("etcdserver: key is not provided"), "{err}");
    let (code, _) = http1(&node, "GET", "/nope", "").await;
    assert_eq!(code, 404);
}

#[test]
fn tls_and_plaintext_share_the_port() {
    let node = Node::start(&[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(node.client());
    let etcdctl = |args: &[&str]| {
        let out = std::process::Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(args)
            .output()
            .expect("etcdctl runs (scripts/test installs Debian's etcd-client)");
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let plain = format!("http://{}", node.addr);
    let tls = format!("https://{}", node.addr);
    let ca = node.ca().to_string_lossy().into_owned();
    etcdctl(&["--endpoints", &plain, "put", "t", "plain"]);
    let got = etcdctl(&[
        "--endpoints",
        &tls,
        "--cacert",
        &ca,
        "get",
        "t",
        "--print-value-only",
    ]);
    assert_eq!(got.trim(), "plain");
    // Without the CA, TLS verification fails rather than being skipped.
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &tls,
            "--dial-timeout",
            "2s",
            "--command-timeout",
            "3s",
            "get",
            "t",
        ])
        .output()
        .expect("etcdctl runs");
    assert!(!out.status.success());
}
