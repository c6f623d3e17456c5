//! etcdctl's `--cluster` commands against etcq: etcd 3.4's client dials
//! each member's advertised client URL as `passthrough:///http://host:port`
//! and so sends the whole URL as HTTP/2 `:authority`, which hyper's h2
//! refuses unless the front cuts it down (src/front/grpc/authority.rs).
//! etcdctl is Debian's 3.4, installed by scripts/test.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Node, DEADLINE};

const ETCDCTL: &str = "/usr/bin/etcdctl";

/// Longest one etcdctl command may take.
const COMMAND_DEADLINE: Duration = Duration::from_secs(20);

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs etcdctl against `endpoint`, killed past [`COMMAND_DEADLINE`].
fn etcdctl(endpoint: &str, args: &[&str]) -> Run {
    assert!(
        std::path::Path::new(ETCDCTL).exists(),
        "{ETCDCTL} is missing: scripts/test installs it"
    );
    let mut child = Command::new(ETCDCTL)
        .env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(endpoint)
        .arg("--command-timeout=10s")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn etcdctl");
    // Read both pipes on threads so that a chatty etcdctl cannot block.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let until = Instant::now() + COMMAND_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    assert!(
        status.is_some(),
        "etcdctl {args:?} ran past {COMMAND_DEADLINE:?}; stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    Run {
        ok: status.is_some_and(|s| s.success()),
        stdout,
        stderr,
    }
}

/// A node whose TCP front answers etcdctl.
fn start() -> Node {
    let node = Node::start(&[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(node.client());
    let until = Instant::now() + DEADLINE;
    loop {
        let run = etcdctl(&node.addr.to_string(), &["endpoint", "health"]);
        if run.ok {
            return node;
        }
        assert!(
            Instant::now() < until,
            "etcq's TCP front never answered `endpoint health`: {}\nlog:\n{}",
            run.stderr,
            node.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_ok(run: &Run, what: &str, node: &Node) {
    assert!(
        run.ok && !run.stderr.contains("PROTOCOL_ERROR"),
        "{what} failed; stdout:\n{}\nstderr:\n{}\nlog:\n{}",
        run.stdout,
        run.stderr,
        node.log()
    );
}

#[test]
fn endpoint_status_cluster_table() {
    let node = start();
    let url = format!("http://{}", node.addr);
    let run = etcdctl(
        &node.addr.to_string(),
        &["endpoint", "status", "--cluster", "-w", "table"],
    );
    assert_ok(&run, "endpoint status --cluster -w table", &node);
    // One row, for the member's advertised URL: the leader, no error.
    let rows: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("| http"))
        .collect();
    assert_eq!(rows.len(), 1, "{}", run.stdout);
    let cells: Vec<&str> = rows[0].split('|').map(str::trim).collect();
    assert_eq!(cells[1], url, "{}", run.stdout);
    assert_eq!(cells[3], "3.4.23", "{}", run.stdout);
    assert_eq!(cells[5], "true", "is leader: {}", run.stdout);
    assert_eq!(cells[10], "", "errors: {}", run.stdout);
}

#[test]
fn endpoint_hashkv_cluster() {
    let node = start();
    let endpoint = node.addr.to_string();
    let put = etcdctl(&endpoint, &["put", "k", "v"]);
    assert_ok(&put, "put", &node);
    let run = etcdctl(&endpoint, &["endpoint", "hashkv", "--cluster"]);
    assert_ok(&run, "endpoint hashkv --cluster", &node);
    let line = run.stdout.trim();
    let (url, hash) = line.split_once(", ").unwrap_or_else(|| panic!("{line}"));
    assert_eq!(url, format!("http://{}", node.addr));
    assert!(hash.parse::<u32>().is_ok_and(|h| h != 0), "{line}");

    // The same answer through the URL endpoint the --cluster form dials,
    // and for endpoint status without --cluster.
    let direct = etcdctl(&format!("http://{endpoint}"), &["endpoint", "hashkv"]);
    assert_ok(&direct, "endpoint hashkv on http://", &node);
    assert_eq!(direct.stdout.trim(), line);
    let status = etcdctl(&format!("http://{endpoint}"), &["endpoint", "status"]);
    assert_ok(&status, "endpoint status on http://", &node);
}
