//! Process wiring: one pinned glommio executor per core, the channel mesh
//! between them, and the raft core on core 0.
//!
//! Only this module spawns executor threads; only it and the raft core read
//! the wall clock.

use std::rc::Rc;
use std::sync::Arc;

use anyhow::Context as _;
use futures::StreamExt;
use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use glommio::{LocalExecutorBuilder, Placement};

use etcq_net::tls::TlsServerMaterial;
use etcq_storage::disk_glommio::GlommioDisk;

use crate::config::{Config, CORE_CHANNEL_CAPACITY, TCP_LISTEN_BACKLOG};
use crate::front::link::CoreLink;
use crate::mesh::{Downlink, DownlinkRx, DownlinkTx, Envelope, UplinkTx};
use crate::service::{Identity, Limits, Service};
use crate::shard::{Shard, ShardOptions};

/// 64-bit FNV-1a: stable across builds and platforms (member IDs must be).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in *p {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub fn run(config: Config) -> anyhow::Result<()> {
    let available = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cores = if config.cores == 0 {
        available
    } else {
        config.cores
    };
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    // Absolute from here on: log lines name real places, and no I/O layer
    // depends on the working directory.
    let mut config = config;
    config.data_dir = std::fs::canonicalize(&config.data_dir)
        .with_context(|| format!("resolving data dir {}", config.data_dir.display()))?;
    let tls = TlsServerMaterial::load_or_create(
        &config.data_dir,
        config.cert_file.as_deref(),
        config.key_file.as_deref(),
        config.trusted_ca_file.as_deref(),
    )
    .context("setting up TLS")?;
    // The member ID hashes the name and address (with the scheme it has
    // always had, so IDs stay stable across versions).
    let id_url = format!("https://{}", config.listen_client_addr);
    let member_id = fnv1a(&[config.name.as_bytes(), id_url.as_bytes()]).max(1);
    // The TCP port answers plaintext and TLS alike; advertise what etcd
    // would for the same flags: https once certificates are configured.
    let scheme = if config.cert_file.is_some() {
        "https"
    } else {
        "http"
    };
    let client_url = format!("{scheme}://{}", config.listen_client_addr);
    let cluster_id = fnv1a(&[&member_id.to_be_bytes()]);
    let opts = ShardOptions {
        data_dir: config.data_dir.clone(),
        member_id,
        cluster_id,
        name: config.name.clone(),
        client_urls: vec![client_url],
        wal_segment_bytes: config.wal_segment_bytes,
        snapshot_count: config.snapshot_count,
        max_txn_ops: config.max_txn_ops,
        quota_backend_bytes: config.quota_backend_bytes,
        disk_free_reserve_bytes: config.disk_free_reserve_bytes,
    };
    let identity = Identity {
        cluster_id,
        member_id,
    };
    let limits = Limits {
        max_request_bytes: config.max_request_bytes,
        max_txn_ops: config.max_txn_ops,
        watch_progress_notify_interval_ms: config.watch_progress_notify_interval_ms,
    };
    tracing::info!(
        name = %config.name,
        data_dir = %config.data_dir.display(),
        client_addr = %config.listen_client_addr,
        cores,
        member_id = format_args!("{member_id:x}"),
        "starting etcq"
    );

    // Mesh: for every core but 0, an uplink (core i -> core 0) and a downlink (core 0 -> core i).
    let mut uplink_rx: Vec<SharedReceiver<Envelope>> = Vec::new();
    let mut downlink_tx: Vec<SharedSender<Downlink>> = Vec::new();
    let mut per_core: Vec<(SharedSender<Envelope>, SharedReceiver<Downlink>)> = Vec::new();
    for _ in 1..cores {
        let (utx, urx) = shared_channel::new_bounded(CORE_CHANNEL_CAPACITY);
        let (dtx, drx) = shared_channel::new_bounded(CORE_CHANNEL_CAPACITY);
        uplink_rx.push(urx);
        downlink_tx.push(dtx);
        per_core.push((utx, drx));
    }

    // Every core's socket is bound before any core serves: SO_REUSEPORT steers
    // a client by hashing over the sockets bound at that moment.
    let spin_before_park = std::time::Duration::from_micros(config.spin_before_park_us);
    let front_spin_before_park = std::time::Duration::from_micros(config.front_spin_before_park_us);
    let addr = config.listen_client_addr;
    let quic_config =
        etcq_net::server::server_config(&tls).context("building the QUIC server config")?;
    // The raft core serves clients too unless asked to stay dedicated.
    let raft_core_serves = cores == 1 || !config.dedicated_raft_core;
    let front_cores = if raft_core_serves { cores } else { cores - 1 };
    let mut sockets = Vec::with_capacity(cores);
    for _ in 0..front_cores {
        let udp = etcq_net::server::bind_udp(addr, front_cores > 1)
            .with_context(|| format!("binding QUIC on udp {addr}"))?;
        let tcp = bind_tcp(addr).with_context(|| format!("binding gRPC on tcp {addr}"))?;
        sockets.push(FrontSockets { udp, tcp });
    }
    let tcp_tls = Arc::new(tcp_tls_config(&tls).context("building the TCP TLS config")?);
    let mut sockets = sockets.into_iter();
    let socket0 = if raft_core_serves {
        sockets.next()
    } else {
        None
    };
    let mut threads = Vec::new();
    let quic0 = quic_config.clone();
    let limits0 = limits.clone();
    let tcp_tls0 = tcp_tls.clone();
    threads.push(
        LocalExecutorBuilder::new(Placement::Fixed(0))
            .name("etcq-core-0")
            .spin_before_park(spin_before_park)
            .spawn(move || async move {
                let (inbox_tx, inbox_rx) =
                    futures::channel::mpsc::channel::<Envelope>(CORE_CHANNEL_CAPACITY);
                let (dl0_tx, dl0_rx) =
                    futures::channel::mpsc::channel::<Downlink>(CORE_CHANNEL_CAPACITY);
                let mut downlinks = vec![DownlinkTx::Local(dl0_tx)];
                for tx in downlink_tx {
                    downlinks.push(DownlinkTx::Shared(tx.connect().await));
                }
                for rx in uplink_rx {
                    let rx = rx.connect().await;
                    let mut inbox = inbox_tx.clone();
                    glommio::spawn_local(async move {
                        use futures::SinkExt;
                        let mut rx = rx;
                        while let Some(env) = rx.next().await {
                            if inbox.send(env).await.is_err() {
                                break;
                            }
                        }
                    })
                    .detach();
                }
                let shard = Shard::open(GlommioDisk::new(), opts, downlinks).await?;
                let ticker = inbox_tx.clone();
                let link = CoreLink::new(0, UplinkTx::Local(inbox_tx));
                start_front(
                    0,
                    link,
                    DownlinkRx::Local(dl0_rx),
                    socket0,
                    quic0,
                    tcp_tls0,
                    limits0,
                    identity,
                )?;
                shard.run(inbox_rx, ticker).await?;
                Ok::<(), anyhow::Error>(())
            })
            .map_err(|e| anyhow::anyhow!("starting core 0: {e}"))?,
    );
    for (i, ((utx, drx), socket)) in per_core.into_iter().zip(sockets).enumerate() {
        let core = i + 1;
        let quic = quic_config.clone();
        let limits = limits.clone();
        let tcp_tls = tcp_tls.clone();
        threads.push(
            LocalExecutorBuilder::new(Placement::Fixed(core % available))
                .spin_before_park(front_spin_before_park)
                .name(&format!("etcq-core-{core}"))
                .spawn(move || async move {
                    // connect() waits for the peer end: same order as core 0 (downlinks, then uplinks).
                    let downlink = DownlinkRx::Shared(drx.connect().await);
                    let uplink = UplinkTx::Shared(utx.connect().await);
                    let link = CoreLink::new(core, uplink);
                    start_front(
                        core,
                        link,
                        downlink,
                        Some(socket),
                        quic,
                        tcp_tls,
                        limits,
                        identity,
                    )?;
                    // Front tasks run until the process stops.
                    futures::future::pending::<()>().await;
                    Ok::<(), anyhow::Error>(())
                })
                .map_err(|e| anyhow::anyhow!("starting core {core}: {e}"))?,
        );
    }
    // The raft core's end is the process's end: a failure there stops everything.
    let first = threads.remove(0);
    match first.join() {
        Ok(result) => result,
        Err(e) => Err(anyhow::anyhow!("raft core executor failed: {e}")),
    }
}

/// The sockets of one front core, bound before any core serves.
struct FrontSockets {
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
}

/// A TCP listener on `addr` with SO_REUSEPORT, so every core can accept on
/// the same address and the kernel spreads connections across them.
fn bind_tcp(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(TCP_LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// TLS for the TCP front: the node's certificate, ALPN h2 (gRPC) and
/// http/1.1 (the JSON gateway).
fn tcp_tls_config(tls: &TlsServerMaterial) -> anyhow::Result<rustls::ServerConfig> {
    let mut config = tls.rustls_server_config()?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[allow(clippy::too_many_arguments)] // one call site per kind of core
fn start_front(
    core: usize,
    link: Rc<CoreLink>,
    downlink: DownlinkRx,
    sockets: Option<FrontSockets>,
    quic: quinn::ServerConfig,
    tcp_tls: Arc<rustls::ServerConfig>,
    limits: Limits,
    identity: Identity,
) -> anyhow::Result<()> {
    glommio::spawn_local(link.clone().dispatch(downlink)).detach();
    glommio::spawn_local(crate::front::watch::WatchHub::run_catchup(link.clone())).detach();
    let Some(FrontSockets { udp, tcp }) = sockets else {
        return Ok(()); // the raft core of a multi-core node serves no clients
    };
    let addr = udp.local_addr().context("socket address")?;
    let endpoint = etcq_net::server::server_endpoint_on_socket(udp, quic)
        .with_context(|| format!("starting QUIC on udp {addr}"))?;
    // SAFETY: the descriptor comes from a listening std TcpListener that we
    // own and hand over whole.
    let listener = unsafe {
        use std::os::fd::{FromRawFd, IntoRawFd};
        glommio::net::TcpListener::from_raw_fd(tcp.into_raw_fd())
    };
    if core <= 1 {
        tracing::info!(addr = %addr, core, "serving etcq/1 (QUIC) clients on udp, etcd gRPC and JSON on tcp");
    }
    let service = Service::new(link, limits, identity);
    glommio::spawn_local(crate::front::quic::serve(core, service.clone(), endpoint)).detach();
    glommio::spawn_local(crate::front::grpc::serve(core, service, listener, tcp_tls)).detach();
    Ok(())
}
