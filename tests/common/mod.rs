//! Process-level test harness: real `etcq` processes on 127.0.0.1 ports, in
//! temporary data directories, driven through the real client over QUIC+TLS.
//! Every wait is bounded by a deadline; every process is killed on drop.

#![allow(dead_code, unreachable_pub)]

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcq_net::client::Client;
use etcq_net::tls::ClientTls;

/// Longest any test waits for a condition before failing.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct Node {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    child: Option<Child>,
    extra_args: Vec<String>,
    /// Run without --data-dir, from `dir` as the working directory.
    default_dir: bool,
}

/// A port free for both UDP (etcq/1) and TCP (gRPC), picked below Linux's
/// ephemeral range (32768..61000): a port there can be taken at any moment
/// as the local end of some test's outgoing connection.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    // Spread concurrent test binaries apart; each probes upwards from there.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 500) as u16 * 24;
    for _ in 0..2_000 {
        let port = 20_000 + (base - 20_000 + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        let udp = UdpSocket::bind(("127.0.0.1", port));
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        if udp.is_ok() && tcp.is_ok() {
            return port;
        }
    }
    panic!("no 127.0.0.1 port free for both UDP and TCP below the ephemeral range");
}

impl Node {
    /// Starts a node with no --data-dir, as the README's first command does:
    /// its working directory is a fresh temp dir, data in ./default.etcq.
    pub fn start_default_dir(extra_args: &[&str]) -> Node {
        let mut node = Node::start_stopped(extra_args);
        node.default_dir = true;
        node.spawn();
        node
    }

    /// Starts a node with a fresh data directory.
    pub fn start(extra_args: &[&str]) -> Node {
        let mut node = Node::start_stopped(extra_args);
        node.spawn();
        node
    }

    /// Starts a node after `prepare` has filled its (not yet existing) data
    /// directory, e.g. by restoring a snapshot.
    pub fn start_prepared(extra_args: &[&str], prepare: impl FnOnce(&Path)) -> Node {
        let mut node = Node::start_stopped(extra_args);
        prepare(&node.data_dir());
        node.spawn();
        node
    }

    fn start_stopped(extra_args: &[&str]) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        Node {
            dir,
            addr,
            child: None,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            default_dir: false,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        if self.default_dir {
            self.dir.path().join("default.etcq")
        } else {
            self.dir.path().join("data")
        }
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "node already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcq.log"))
            .expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_etcq"));
        if self.default_dir {
            cmd.current_dir(self.dir.path());
        } else {
            cmd.arg("--data-dir").arg(self.data_dir());
        }
        let child = cmd
            .arg("--listen-client-addr")
            .arg(self.addr.to_string())
            .args(&self.extra_args)
            .env("ETCQ_TRUST_DIR", self.dir.path().join("trust"))
            .env("ETCQ_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn etcq");
        self.child = Some(child);
    }

    /// kill -9, as a power cut would from the process's point of view.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Waits for the process to exit on its own; returns its exit status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = c.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < until, "etcq did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcq.log")).unwrap_or_default()
    }

    pub fn ca(&self) -> PathBuf {
        self.data_dir().join("tls").join("ca.crt")
    }

    /// Connects once the node answers a status request.
    pub async fn client(&self) -> Client {
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(c) = self.try_client().await {
                return c;
            }
            if Instant::now() > until {
                panic!(
                    "etcq at {} did not become ready; log:\n{}",
                    self.addr,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A client with non-default options, once the node is ready.
    pub async fn client_with(&self, options: etcq_net::client::ClientOptions) -> Client {
        self.client().await; // waits for readiness
        let tls = ClientTls::from_ca_certs(Vec::new())
            .with_ca_file(&self.ca())
            .expect("node CA");
        Client::connect_with(&[self.addr.to_string()], tls, options)
            .await
            .expect("connect")
    }

    async fn try_client(&self) -> Option<Client> {
        if !self.ca().exists() {
            return None;
        }
        let tls = ClientTls::from_ca_certs(Vec::new())
            .with_ca_file(&self.ca())
            .ok()?;
        let attempt = async {
            let c = Client::connect(&[self.addr.to_string()], tls).await.ok()?;
            c.status().await.ok()?;
            Some(c)
        };
        tokio::time::timeout(Duration::from_secs(5), attempt)
            .await
            .ok()
            .flatten()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Polls `f` until it returns `Some`, failing after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A key or value from a string.
pub fn b(s: &str) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(s.as_bytes())
}

/// The server's code and text of a refusal (panics on any other failure).
pub fn refusal(e: etcq_net::client::ClientError) -> (etcq_net::method::Code, String) {
    match e {
        etcq_net::client::ClientError::Status { code, message } => (code, message),
        other => panic!("expected a server refusal, got {other}"),
    }
}

pub fn path_exists(p: &Path) -> bool {
    p.exists()
}
