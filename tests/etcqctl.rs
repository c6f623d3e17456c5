//! etcqctl against a real etcq process: etcdctl's commands, outputs and exit
//! codes. `etcqctl` is built by the workspace build (`scripts/test` builds every
//! target first) and sits beside the `etcq` binary.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::Node;

fn etcqctl_path() -> PathBuf {
    let etcq = PathBuf::from(env!("CARGO_BIN_EXE_etcq"));
    let p = etcq.with_file_name("etcqctl");
    assert!(
        p.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        p.display()
    );
    p
}

fn ctl(node: &Node, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(etcqctl_path());
    cmd.arg("--endpoints")
        .arg(node.addr.to_string())
        .arg("--cacert")
        .arg(node.ca())
        .args(args)
        .env("ETCQ_TRUST_DIR", node.dir.path().join("client-trust"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn etcqctl");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("etcqctl output")
}

fn ok(node: &Node, args: &[&str]) -> String {
    let out = ctl(node, args, None);
    assert!(
        out.status.success(),
        "etcqctl {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

#[tokio::test]
async fn etcdctl_style_commands_work_against_a_live_node() {
    let node = Node::start(&[]);
    let _c = node.client().await;

    assert_eq!(ok(&node, &["put", "foo", "bar"]), "OK\n");
    assert_eq!(ok(&node, &["put", "foo2", "baz"]), "OK\n");
    assert_eq!(ok(&node, &["get", "foo"]), "foo\nbar\n");
    assert_eq!(
        ok(&node, &["get", "foo", "--prefix"]),
        "foo\nbar\nfoo2\nbaz\n"
    );
    assert_eq!(
        ok(&node, &["get", "foo", "--prefix", "--keys-only"]),
        "foo\n\nfoo2\n\n"
    );
    assert_eq!(
        ok(&node, &["get", "foo", "--prefix", "--limit", "1"]),
        "foo\nbar\n"
    );
    assert_eq!(
        ok(&node, &["get", "f", "--from-key", "--print-value-only"]),
        "bar\nbaz\n"
    );
    assert_eq!(
        ok(
            &node,
            &[
                "get",
                "foo",
                "--prefix",
                "--sort-by",
                "value",
                "--order",
                "DESCEND"
            ]
        ),
        "foo2\nbaz\nfoo\nbar\n"
    );

    let json = ok(&node, &["get", "foo", "-w", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["kvs"][0]["key"], "Zm9v", "keys are base64 in json output");
    assert_eq!(v["kvs"][0]["value"], "YmFy");
    assert_eq!(v["count"], 1);

    // A txn from stdin, in etcdctl's grammar.
    let txn = "value(\"foo\") = \"bar\"\n\nput foo updated\nget foo\n\nput foo failed\n\n";
    let out = ctl(&node, &["txn"], Some(txn));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "SUCCESS\n\nOK\n\nfoo\nupdated\n"
    );

    // Leases.
    let granted = ok(&node, &["lease", "grant", "100"]);
    let id = granted
        .split_whitespace()
        .nth(1)
        .expect("lease id")
        .to_string();
    assert_eq!(granted, format!("lease {id} granted with TTL(100s)\n"));
    assert_eq!(ok(&node, &["put", "leased", "v", "--lease", &id]), "OK\n");
    let ttl = ok(&node, &["lease", "timetolive", &id, "--keys"]);
    assert!(
        ttl.starts_with(&format!("lease {id} granted with TTL(100s), remaining(")),
        "{ttl}"
    );
    assert!(ttl.contains("attached keys([leased])"), "{ttl}");
    assert!(ok(&node, &["lease", "list"]).contains(&id));
    let ka = ok(&node, &["lease", "keep-alive", "--once", &id]);
    assert_eq!(ka, format!("lease {id} keepalived with TTL(100)\n"));
    assert_eq!(
        ok(&node, &["lease", "revoke", &id]),
        format!("lease {id} revoked\n")
    );
    assert_eq!(ok(&node, &["get", "leased"]), "");
    assert_eq!(
        ok(&node, &["lease", "timetolive", &id]),
        format!("lease {id} already expired\n")
    );

    // Delete with prev-kv, compaction, and the compacted error.
    assert_eq!(ok(&node, &["del", "foo", "--prefix"]), "2\n");
    let status = ok(&node, &["endpoint", "status", "-w", "json"]);
    let st: serde_json::Value = serde_json::from_str(&status).expect("status json");
    let rev = st[0]["Status"]["header"]["revision"]
        .as_i64()
        .expect("revision");
    assert_eq!(
        ok(&node, &["compaction", &(rev - 1).to_string()]),
        format!("compacted revision {}\n", rev - 1)
    );
    let out = ctl(&node, &["get", "foo", "--rev", "2"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error: etcdserver: mvcc: required revision has been compacted"
    );

    // Bad input: clear error, non-zero exit, server unharmed.
    let out = ctl(&node, &["put", "", "v"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("key is not provided"));
    assert_eq!(ok(&node, &["put", "after", "1"]), "OK\n");
    assert!(ok(&node, &["endpoint", "status"]).contains(&node.addr.to_string()));
}

#[tokio::test]
async fn watch_prints_events_as_they_come() {
    let node = Node::start(&[]);
    let c = node.client().await;
    c.put(
        bytes::Bytes::from_static(b"w1"),
        bytes::Bytes::from_static(b"a"),
    )
    .await
    .expect("put");
    let mut watch = Command::new(etcqctl_path())
        .arg("--endpoints")
        .arg(node.addr.to_string())
        .arg("--cacert")
        .arg(node.ca())
        .args(["watch", "w", "--prefix", "--rev", "1", "--prev-kv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watch");
    c.put(
        bytes::Bytes::from_static(b"w1"),
        bytes::Bytes::from_static(b"b"),
    )
    .await
    .expect("put");
    c.delete(bytes::Bytes::from_static(b"w1"))
        .await
        .expect("delete");
    // Read until the three events arrived (history then live), bounded by the harness deadline.
    let mut stdout = watch.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 256];
        while !String::from_utf8_lossy(&buf).contains("DELETE") {
            match stdout.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        String::from_utf8_lossy(&buf).to_string()
    });
    let deadline = std::time::Instant::now() + common::DEADLINE;
    while !reader.is_finished() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let out = reader.join().expect("reader");
    assert!(
        out.starts_with("PUT\nw1\na\nPUT\nw1\na\nw1\nb\nDELETE\n"),
        "watch output:\n{out}"
    );
}
