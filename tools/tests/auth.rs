//! `etcqctl user|role|auth` against a real `etcq` process: a round trip
//! through authentication (root user, a role with a prefix permission,
//! enabling auth, acting as root and as a restricted user, disabling).
//!
//! The `etcq` binary is not built by `cargo test -p etcqctl`: the test uses
//! the one beside `etcqctl` in the target directory (`cargo build
//! --workspace` or `scripts/test` puts it there), or `$ETCQ_BIN`, and is
//! skipped, saying so, when there is none.

use std::{
    net::{TcpListener, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

/// Longest the test waits for the node to answer.
const DEADLINE: Duration = Duration::from_secs(30);

fn etcq_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("ETCQ_BIN") {
        return Some(PathBuf::from(bin));
    }
    let beside = Path::new(env!("CARGO_BIN_EXE_etcqctl")).with_file_name("etcq");
    beside.exists().then_some(beside)
}

/// A port free for both UDP (etcq/1) and TCP (gRPC), below Linux's
/// ephemeral range.
fn free_port() -> u16 {
    let start = 20_000 + (std::process::id() % 1_000) as u16 * 12 + 7;
    (0..4_000)
        .map(|i| 20_000 + (start - 20_000 + i) % 12_000)
        .find(|&port| {
            UdpSocket::bind(("127.0.0.1", port)).is_ok()
                && TcpListener::bind(("127.0.0.1", port)).is_ok()
        })
        .expect("a free port")
}

/// A running node in its own directory; killed and removed on drop.
struct Node {
    dir: PathBuf,
    addr: String,
    child: Child,
}

impl Node {
    fn start(bin: &Path) -> Node {
        let dir = std::env::temp_dir().join(format!("etcqctl-auth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test dir");
        let addr = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.join("etcq.log")).expect("log");
        let child = Command::new(bin)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--listen-client-addr")
            .arg(&addr)
            .env("ETCQ_TRUST_DIR", dir.join("trust"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn etcq");
        Node { dir, addr, child }
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("data").join("tls").join("ca.crt")
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_etcqctl"))
            .arg("--endpoints")
            .arg(&self.addr)
            .arg("--cacert")
            .arg(self.ca())
            .args(args)
            .env("ETCQ_TRUST_DIR", self.dir.join("client-trust"))
            .stdin(Stdio::null())
            .output()
            .expect("run etcqctl")
    }

    /// `etcqctl args` must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "etcqctl {args:?} failed ({:?}): {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    }

    /// `etcqctl args` must fail with `code`; its stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.ctl(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "etcqctl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).expect("utf8")
    }

    fn wait_ready(&self) {
        let until = Instant::now() + DEADLINE;
        while !(self.ca().exists() && self.ctl(&["role", "list"]).status.success()) {
            let log = std::fs::read_to_string(self.dir.join("etcq.log")).unwrap_or_default();
            assert!(Instant::now() < until, "etcq did not become ready:\n{log}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn auth_round_trip_against_a_live_node() {
    let Some(bin) = etcq_binary() else {
        eprintln!("skipped: no etcq binary beside etcqctl (build the workspace or set ETCQ_BIN)");
        return;
    };
    let node = Node::start(&bin);
    node.wait_ready();
    let root = ["--user", "root:rootpw"];
    let as_root = |args: &[&str]| node.ok(&[&root[..], args].concat());

    assert_eq!(
        node.ok(&["user", "add", "root:rootpw"]),
        "User root created\n"
    );
    assert_eq!(node.ok(&["role", "add", "reader"]), "Role reader created\n");
    assert_eq!(
        node.ok(&[
            "role",
            "grant-permission",
            "reader",
            "read",
            "app/",
            "--prefix"
        ]),
        "Role reader updated\n"
    );
    assert_eq!(
        node.ok(&["role", "grant-permission", "reader", "write", "app/log"]),
        "Role reader updated\n"
    );
    assert_eq!(
        node.ok(&["user", "add", "alice:alicepw"]),
        "User alice created\n"
    );
    assert_eq!(
        node.ok(&["user", "grant-role", "alice", "reader"]),
        "Role reader is granted to user alice\n"
    );
    assert_eq!(
        node.fails(&["role", "add", "reader"], 1),
        "Error: etcdserver: role name already exists\n"
    );

    // auth enable creates the root role and grants it to root.
    assert_eq!(node.ok(&["auth", "enable"]), "Authentication Enabled\n");
    assert_eq!(
        as_root(&["user", "get", "root"]),
        "User: root\nRoles: root\n"
    );
    assert_eq!(as_root(&["role", "list"]), "reader\nroot\n");
    assert_eq!(as_root(&["user", "list"]), "alice\nroot\n");
    assert_eq!(
        as_root(&["role", "get", "reader"]),
        "Role reader\nKV Read:\n\t[app/, app0) (prefix app/)\nKV Write:\n\tapp/log\n"
    );
    assert_eq!(
        as_root(&["user", "get", "alice", "--detail"]),
        "User: alice\n\nRole reader\nKV Read:\n\t[app/, app0) (prefix app/)\nKV Write:\n\tapp/log\n"
    );
    let json = as_root(&["role", "get", "reader", "-w", "json"]);
    assert!(
        json.ends_with(
            ",\"perm\":[{\"key\":\"YXBwLw==\",\"range_end\":\"YXBwMA==\"},{\"permType\":1,\"key\":\"YXBwL2xvZw==\"}]}\n"
        ),
        "{json}"
    );
    // Without a user, and as a user without the root role, admin calls fail.
    node.fails(&["user", "list"], 1);
    node.fails(&["user", "list", "--user", "alice:alicepw"], 1);
    node.fails(&["user", "list", "--user", "root:wrong"], 2);
    // alice may read under app/ and write app/log only.
    assert_eq!(
        node.ok(&["put", "app/log", "1", "--user", "alice:alicepw"]),
        "OK\n"
    );
    assert_eq!(
        node.ok(&["get", "app/log", "--user", "alice:alicepw"]),
        "app/log\n1\n"
    );
    assert_eq!(
        node.fails(&["put", "app/x", "1", "--user", "alice:alicepw"], 1),
        "Error: etcdserver: permission denied\n"
    );
    assert_eq!(
        as_root(&["user", "passwd", "alice", "newpw"]),
        "Password updated\n"
    );
    node.fails(&["get", "app/log", "--user", "alice:alicepw"], 2);
    node.ok(&["get", "app/log", "--user", "alice:newpw"]);

    assert_eq!(as_root(&["auth", "disable"]), "Authentication Disabled\n");
    assert_eq!(
        node.ok(&["role", "revoke-permission", "reader", "app/", "--prefix"]),
        "Permission of range [app/, app0) is revoked from role reader\n"
    );
    assert_eq!(
        node.ok(&["user", "revoke-role", "alice", "reader"]),
        "Role reader is revoked from user alice\n"
    );
    assert_eq!(
        node.ok(&["user", "delete", "alice"]),
        "User alice deleted\n"
    );
    assert_eq!(
        node.ok(&["role", "delete", "reader"]),
        "Role reader deleted\n"
    );
    assert_eq!(node.ok(&["user", "list"]), "root\n");
}
