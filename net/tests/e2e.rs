//! End to end: a glommio core serves etcq/1 with a toy handler; a tokio
//! client connects with the CA the server generated and published, and sees
//! responses, etcd's error text, a watch session, and TLS refusing a server
//! it does not trust.
//!
//! Everything lives in a temporary directory (`ETCQ_TRUST_DIR` points into
//! it): the real `$HOME` is never touched. One test function only, because
//! it sets an environment variable.

use std::{net::SocketAddr, path::Path, sync::mpsc, time::Duration};

use etcq_net::{
    client::{Client, ClientError},
    frame::{self, FRAME_BYTES_MAX_DEFAULT},
    method::{etcd_errors, Code, Method, Status},
    pb::{
        etcdserverpb::{
            watch_request::RequestUnion, LeaseKeepAliveRequest, LeaseKeepAliveResponse, PutRequest,
            PutResponse, ResponseHeader, WatchCreateRequest, WatchRequest, WatchResponse,
        },
        mvccpb::KeyValue,
    },
    server::server_endpoint,
    tls::{ClientTls, TlsServerMaterial, TRUST_DIR_ENV},
};

/// The whole test must finish well within this.
const TEST_DEADLINE: Duration = Duration::from_secs(30);

/// Toy handler for one request stream: Put echoes the value back as prev_kv
/// (key "compacted" fails with etcd's text); Watch answers every create with
/// `created`; anything else is Unimplemented.
async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) -> Result<(), frame::FrameError> {
    let method = match frame::read_method(&mut recv).await {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(()),
        Err(e) => {
            if let Some(status) = e.to_status() {
                frame::write_status(&mut send, &status).await?;
            }
            return Ok(send.finish()?);
        }
    };
    match method {
        Method::Put => {
            let req: PutRequest = frame::read_request(&mut recv, FRAME_BYTES_MAX_DEFAULT).await?;
            if req.key.as_ref() == b"compacted" {
                frame::write_status(&mut send, &etcd_errors::compacted()).await?;
            } else {
                let resp = PutResponse {
                    header: Some(ResponseHeader {
                        revision: 7,
                        ..Default::default()
                    }),
                    prev_kv: Some(KeyValue {
                        key: req.key,
                        value: req.value,
                        ..Default::default()
                    }),
                };
                frame::write_ok(&mut send, &resp).await?;
            }
        }
        Method::Watch => {
            while let Some(req) =
                frame::read_message::<WatchRequest>(&mut recv, FRAME_BYTES_MAX_DEFAULT).await?
            {
                if let Some(RequestUnion::CreateRequest(create)) = req.request_union {
                    let resp = WatchResponse {
                        watch_id: create.watch_id,
                        created: true,
                        ..Default::default()
                    };
                    frame::write_ok(&mut send, &resp).await?;
                }
            }
        }
        Method::LeaseKeepAlive => {
            while let Some(req) =
                frame::read_message::<LeaseKeepAliveRequest>(&mut recv, FRAME_BYTES_MAX_DEFAULT)
                    .await?
            {
                let resp = LeaseKeepAliveResponse {
                    id: req.id,
                    ttl: 10,
                    ..Default::default()
                };
                frame::write_result(&mut send, &Ok::<_, Status>(resp)).await?;
            }
        }
        other => {
            let status = Status::new(Code::Unimplemented, format!("{other} is not served here"));
            frame::write_status(&mut send, &status).await?;
        }
    }
    Ok(send.finish()?)
}

/// Runs a server core until `stop` receives, or the deadline passes.
fn spawn_server(
    data_dir: &Path,
    addr_tx: mpsc::Sender<SocketAddr>,
    stop: async_stop::Receiver,
) -> glommio::ExecutorJoinHandle<()> {
    let material =
        TlsServerMaterial::load_or_create(data_dir, None, None, None).expect("tls material");
    assert!(
        material.published_ca().is_some(),
        "CA published for local clients"
    );
    glommio::LocalExecutorBuilder::default()
        .name("etcq-net-e2e")
        .spawn(move || async move {
            let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
            let endpoint = server_endpoint(addr, material, true).expect("endpoint");
            addr_tx
                .send(endpoint.local_addr().expect("local addr"))
                .expect("send addr");
            let accept_loop = {
                let endpoint = endpoint.clone();
                async move {
                    while let Some(incoming) = endpoint.accept().await {
                        glommio::spawn_local(async move {
                            let Ok(conn) = incoming.await else { return };
                            while let Ok((send, recv)) = conn.accept_bi().await {
                                glommio::spawn_local(async move {
                                    let _ = serve_stream(send, recv).await;
                                })
                                .detach();
                            }
                        })
                        .detach();
                    }
                }
            };
            let deadline = glommio::timer::sleep(TEST_DEADLINE);
            futures::future::select(
                Box::pin(accept_loop),
                Box::pin(futures::future::select(
                    Box::pin(stop.wait()),
                    Box::pin(deadline),
                )),
            )
            .await;
            endpoint.close(0u32.into(), b"test over");
            endpoint.wait_idle().await;
        })
        .expect("executor")
}

/// A one-shot stop signal the glommio side can await without a second
/// reactor: polled on a glommio timer.
mod async_stop {
    use std::sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    };

    pub(crate) struct Receiver(Arc<AtomicBool>);
    pub(crate) struct Sender(Arc<AtomicBool>);

    pub(crate) fn channel() -> (Sender, Receiver) {
        let flag = Arc::new(AtomicBool::new(false));
        (Sender(flag.clone()), Receiver(flag))
    }

    impl Sender {
        pub(crate) fn stop(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    impl Receiver {
        pub(crate) async fn wait(&self) {
            while !self.0.load(Ordering::SeqCst) {
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

#[test]
fn client_and_glommio_server_speak_etcq1() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let trust_dir = tmp.path().join("trusted-ca");
    // Only this test in this binary; set before any thread reads it.
    std::env::set_var(TRUST_DIR_ENV, &trust_dir);

    let (addr_tx, addr_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = async_stop::channel();
    let server = spawn_server(&tmp.path().join("data"), addr_tx, stop_rx);
    let addr = addr_rx.recv_timeout(TEST_DEADLINE).expect("server address");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let other_ca_dir = tmp.path().join("other");
    let finished = runtime.block_on(async {
        tokio::time::timeout(TEST_DEADLINE, async {
            // Trust comes from the published CA, with no flags at all.
            let tls = ClientTls::default_trust(None).expect("trust dir has the CA");
            let endpoint = format!("127.0.0.1:{}", addr.port());
            let client = Client::connect(&[endpoint.as_str()], tls)
                .await
                .expect("connect");

            // A put, answered. This toy server serves one call per stream
            // and then finishes it, so every later call here also shows the
            // client falling back from a finished idle stream to a fresh one.
            let resp = client.put("k", "v").await.expect("put");
            assert_eq!(resp.header.map(|h| h.revision), Some(7));
            assert_eq!(
                resp.prev_kv.map(|kv| kv.value),
                Some(bytes::Bytes::from_static(b"v"))
            );

            // A refusal carries etcd's code and text verbatim.
            match client.put("compacted", "x").await {
                Err(ClientError::Status { code, message }) => {
                    assert_eq!(code, Code::OutOfRange);
                    assert_eq!(
                        message,
                        "etcdserver: mvcc: required revision has been compacted"
                    );
                }
                other => panic!("expected a status, got {other:?}"),
            }

            // Methods the server does not serve.
            let err = client.status().await.expect_err("unimplemented");
            assert_eq!(err.code(), Some(Code::Unimplemented));

            // Many concurrent unary calls share the connection.
            let calls = (0..64).map(|i| {
                let client = client.clone();
                async move { client.put(format!("k{i}"), format!("v{i}")).await }
            });
            for (i, result) in futures::future::join_all(calls)
                .await
                .into_iter()
                .enumerate()
            {
                let kv = result.expect("concurrent put").prev_kv.expect("prev_kv");
                assert_eq!(kv.value, format!("v{i}").into_bytes());
            }

            // A watch session: two creates, two answers, then close.
            let (mut watcher, mut stream) = client
                .watch(WatchCreateRequest {
                    key: "a".into(),
                    watch_id: 1,
                    ..Default::default()
                })
                .await
                .expect("watch");
            watcher
                .create(WatchCreateRequest {
                    key: "b".into(),
                    watch_id: 2,
                    ..Default::default()
                })
                .await
                .expect("second create");
            for id in [1, 2] {
                let resp = stream.message().await.expect("response").expect("open");
                assert!(resp.created);
                assert_eq!(resp.watch_id, id);
            }
            watcher.close().expect("close");
            assert!(stream.message().await.expect("clean end").is_none());

            // A lease keep-alive session: the first keep-alive is sent on open.
            let (mut sender, mut replies) = client.lease_keep_alive(42).await.expect("keepalive");
            sender.keep_alive().await.expect("second keep-alive");
            for _ in 0..2 {
                let reply = replies.message().await.expect("reply").expect("open");
                assert_eq!((reply.id, reply.ttl), (42, 10));
            }
            sender.close().expect("close");
            assert!(replies.message().await.expect("clean end").is_none());

            // A server whose CA we do not trust is refused: no insecure path.
            TlsServerMaterial::load_or_create(&other_ca_dir, None, None, None)
                .expect("other material");
            let stranger = ClientTls::from_files(&other_ca_dir.join("tls/ca.crt"), None, None)
                .expect("other trust");
            match Client::connect(&[addr], stranger).await {
                Err(ClientError::Connect { reason, .. }) => {
                    assert!(
                        reason.contains("certificate") || reason.contains("Issuer"),
                        "unexpected reason: {reason}"
                    );
                }
                other => panic!("an untrusted server must be refused, got {other:?}"),
            }
        })
        .await
    });
    finished.expect("test finished in time");

    stop_tx.stop();
    server.join().expect("server thread");
}
