//! The server side of etcq/1: a QUIC endpoint on a glommio core.
//!
//! Every core calls [`server_endpoint`] with the same address; with
//! `reuse_port` the kernel spreads client 4-tuples across the cores'
//! sockets (SO_REUSEPORT), so a connection stays on one core for life.
//! Accepting connections and dispatching methods is the server's business
//! (crate `etcq`): it uses quinn's API on the returned endpoint and the
//! helpers in [`crate::frame`]. The shape of a unary handler:
//!
//! ```no_run
//! # async fn handle(conn: quinn::Connection) -> Result<(), etcq_net::frame::FrameError> {
//! use etcq_net::frame::{self, FRAME_BYTES_MAX_DEFAULT};
//! use etcq_net::method::Method;
//! use etcq_net::pb::etcdserverpb::{PutRequest, PutResponse};
//!
//! while let Ok((mut send, mut recv)) = conn.accept_bi().await {
//!     let method = match frame::read_method(&mut recv).await {
//!         Ok(Some(m)) => m,
//!         Ok(None) => continue,
//!         Err(e) => {
//!             if let Some(status) = e.to_status() {
//!                 frame::write_status(&mut send, &status).await?;
//!             }
//!             continue;
//!         }
//!     };
//!     match method {
//!         Method::Put => {
//!             let _req: PutRequest = frame::read_request(&mut recv, FRAME_BYTES_MAX_DEFAULT).await?;
//!             frame::write_ok(&mut send, &PutResponse::default()).await?;
//!         }
//!         _ => {}
//!     }
//!     send.finish()?;
//! }
//! # Ok(()) }
//! ```
//!
//! The endpoint runs on [`GlommioRuntime`] and is bound to the executor that
//! created it (see [`crate::glommio_rt`]).

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use quinn::{EndpointConfig, IdleTimeout, TransportConfig, VarInt};
use socket2::{Domain, Protocol, Socket, Type};

use crate::{
    glommio_rt::GlommioRuntime,
    tls::{TlsError, TlsServerMaterial},
};

/// Concurrent bidirectional streams a client may have open on one
/// connection: unary requests in flight plus watch and keep-alive sessions.
pub const CONCURRENT_STREAMS_MAX: u32 = 4096;

/// A connection with no traffic (not even keep-alives) for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// UDP socket buffer size requested (best effort; the kernel may cap it).
pub const UDP_SOCKET_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// The QUIC transport parameters etcq/1 servers use.
pub fn transport_config() -> TransportConfig {
    let mut transport = TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(CONCURRENT_STREAMS_MAX))
        .max_concurrent_uni_streams(VarInt::from_u32(0));
    if let Ok(idle) = IdleTimeout::try_from(IDLE_TIMEOUT) {
        transport.max_idle_timeout(Some(idle));
    }
    transport
}

/// A quinn server configuration from TLS material: TLS 1.3, ALPN `etcq/1`,
/// etcq's transport parameters. Build it once and share it across cores
/// with [`server_endpoint_with_config`].
pub fn server_config(tls: &TlsServerMaterial) -> Result<quinn::ServerConfig, TlsError> {
    let mut config = quinn::ServerConfig::with_crypto(tls.quic_crypto_config()?);
    config.transport_config(Arc::new(transport_config()));
    Ok(config)
}

/// Binds a non-blocking UDP socket on `addr`, with SO_REUSEPORT if asked
/// (every core may then bind the same address).
pub fn bind_udp(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // `[::]` serves IPv4 too, whatever the system default.
        socket.set_only_v6(false)?;
    }
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    // Best effort: a small buffer drops datagrams under bursts, which QUIC
    // recovers from, so failure here is not fatal.
    let _ = socket.set_recv_buffer_size(UDP_SOCKET_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(UDP_SOCKET_BUFFER_BYTES);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A QUIC server endpoint on `addr`, driven by the current glommio executor.
///
/// Must be called on a glommio executor (panics otherwise); the endpoint, its
/// connections and streams must stay on it. With `reuse_port`, every core can
/// bind the same address. Port 0 picks a free port (see
/// [`quinn::Endpoint::local_addr`]); with several cores, bind port 0 on one
/// and pass the chosen port to the others.
pub fn server_endpoint(
    addr: SocketAddr,
    tls: TlsServerMaterial,
    reuse_port: bool,
) -> io::Result<quinn::Endpoint> {
    let config = server_config(&tls)?;
    server_endpoint_with_config(addr, config, reuse_port)
}

/// Like [`server_endpoint`], with a prepared [`quinn::ServerConfig`].
pub fn server_endpoint_with_config(
    addr: SocketAddr,
    config: quinn::ServerConfig,
    reuse_port: bool,
) -> io::Result<quinn::Endpoint> {
    let socket = bind_udp(addr, reuse_port)?;
    server_endpoint_on_socket(socket, config)
}

/// A QUIC server endpoint on an already bound socket (from [`bind_udp`]),
/// driven by the current glommio executor.
///
/// With SO_REUSEPORT the kernel picks a socket for each client 4-tuple by
/// hashing over the sockets bound *at the time*: bind every core's socket
/// before any of them serves, or connections made meanwhile are steered to
/// another core's endpoint half-way through.
pub fn server_endpoint_on_socket(
    socket: std::net::UdpSocket,
    config: quinn::ServerConfig,
) -> io::Result<quinn::Endpoint> {
    quinn::Endpoint::new(
        EndpointConfig::default(),
        Some(config),
        socket,
        Arc::new(GlommioRuntime::new()),
    )
}
