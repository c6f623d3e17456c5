//! Acknowledged writes survive kill -9; revisions continue after restart;
//! leases keep their remaining TTL.

mod common;

use bytes::Bytes;
use common::{b, eventually, Node};

#[tokio::test]
async fn every_acknowledged_write_survives_kill_9_and_revisions_continue() {
    let mut node = Node::start(&[]);
    let c = node.client().await;
    // Concurrent writers: acknowledged means applied and fsynced.
    let mut tasks = Vec::new();
    for w in 0..8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..50 {
                let key = format!("w{w}/{i:03}");
                c.put(Bytes::from(key.clone()), Bytes::from(format!("v{i}")))
                    .await
                    .expect("put");
                acked.push(key);
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.expect("writer"));
    }
    let rev_before = c
        .status()
        .await
        .expect("status")
        .header
        .expect("header")
        .revision;
    drop(c);

    node.restart();
    let c = node.client().await;
    for key in &acked {
        assert!(
            c.get(Bytes::from(key.clone()))
                .await
                .expect("get")
                .is_some(),
            "lost acknowledged {key}"
        );
    }
    let rev_after = c
        .status()
        .await
        .expect("status")
        .header
        .expect("header")
        .revision;
    assert_eq!(
        rev_after, rev_before,
        "recovery must rebuild exactly the acknowledged revisions"
    );
    let r = c.put(b("after"), b("1")).await.expect("put");
    assert_eq!(r.header.expect("header").revision, rev_before + 1);
}

#[tokio::test]
async fn restart_after_a_checkpoint_replays_only_the_tail() {
    // A tiny snapshot count forces MVCC checkpoints and WAL purges.
    let mut node = Node::start(&["--snapshot-count", "10", "--wal-segment-bytes", "65536"]);
    let c = node.client().await;
    for i in 0..200 {
        c.put(
            Bytes::from(format!("k{:03}", i % 37)),
            Bytes::from(format!("v{i}")),
        )
        .await
        .expect("put");
    }
    let before = c.get_prefix(b("k")).await.expect("range");
    drop(c);
    node.restart();
    let c = node.client().await;
    let after = c.get_prefix(b("k")).await.expect("range");
    assert_eq!(before.kvs, after.kvs);
    assert_eq!(
        before.header.expect("h").revision,
        after.header.expect("h").revision
    );
}

#[tokio::test]
async fn a_lease_keeps_its_remaining_ttl_and_its_keys_across_restart() {
    let mut node = Node::start(&[]);
    let c = node.client().await;
    let lease = c.lease_grant(300, 0).await.expect("grant");
    assert_eq!(lease.ttl, 300);
    c.put_request(etcq_net::pb::etcdserverpb::PutRequest {
        key: b("leased"),
        value: b("v"),
        lease: lease.id,
        ..Default::default()
    })
    .await
    .expect("put with lease");
    // The leader checkpoints remaining TTLs through the log: an entry that
    // moves the raft index without a new revision. Wait for it.
    let index_before = c.status().await.expect("status").raft_index;
    let c2 = c.clone();
    eventually("a lease checkpoint entry", || {
        let c = c2.clone();
        async move { (c.status().await.ok()?.raft_index > index_before).then_some(()) }
    })
    .await;
    drop(c);
    node.restart();
    let c = node.client().await;
    let t = c.lease_time_to_live(lease.id, true).await.expect("ttl");
    assert_eq!(t.granted_ttl, 300);
    assert!(
        t.ttl > 0 && t.ttl < 300,
        "remaining TTL after restart: {}",
        t.ttl
    );
    assert_eq!(t.keys, vec![b("leased")]);
}

#[tokio::test]
async fn a_corrupt_wal_stops_startup_naming_the_file_and_offset() {
    let mut node = Node::start(&["--wal-segment-bytes", "65536"]);
    let c = node.client().await;
    for i in 0..400 {
        c.put(Bytes::from(format!("k{i}")), Bytes::from(vec![b'v'; 200]))
            .await
            .expect("put");
    }
    drop(c);
    node.kill9();
    // Flip one bit inside the first (sealed) segment, well inside a record.
    let wal_dir = node.data_dir().join("member").join("wal");
    let mut segments: Vec<_> = std::fs::read_dir(&wal_dir)
        .expect("wal dir")
        .map(|e| e.expect("entry").path())
        .collect();
    segments.sort();
    assert!(
        segments.len() >= 2,
        "expected the WAL to have rolled: {segments:?}"
    );
    let victim = &segments[0];
    let mut bytes = std::fs::read(victim).expect("read segment");
    bytes[20_000] ^= 0x10;
    std::fs::write(victim, &bytes).expect("write segment");

    node.restart();
    let status = node.wait_exit();
    assert!(
        !status.success(),
        "etcq must refuse to start on a corrupt WAL"
    );
    let log = node.log();
    let name = victim
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(
        log.contains(&name) && log.contains("offset"),
        "the error must name file and offset:\n{log}"
    );
}

#[tokio::test]
async fn the_readme_command_runs_with_no_data_dir_flag_and_survives_kill_9() {
    // No --data-dir: data goes to ./default.etcq under the working directory.
    let mut node = Node::start_default_dir(&[]);
    let c = node.client().await;
    c.put(b("greeting"), b("hello")).await.expect("put");
    drop(c);
    assert!(node.data_dir().join("member").join("wal").exists());
    node.restart();
    let c = node.client().await;
    assert_eq!(
        c.get(b("greeting"))
            .await
            .expect("get")
            .expect("kept")
            .value,
        b("hello")
    );
}

#[tokio::test]
async fn many_concurrent_writers_get_every_acknowledged_write_back_after_kill_9_under_load() {
    // Pipelined WAL syncs: the kill lands while syncs are in flight and later
    // batches are written but not yet durable. Only acknowledged writes must
    // survive; each must come back with its own value.
    const CONNECTIONS: usize = 4;
    const WRITERS_PER_CONNECTION: usize = 32;
    let mut node = Node::start(&["--wal-segment-bytes", "1048576"]);
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let mut tasks = Vec::new();
    for conn in 0..CONNECTIONS {
        let c = node.client().await;
        for w in 0..WRITERS_PER_CONNECTION {
            let c = c.clone();
            let acked = acked.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("c{conn}/w{w:02}/{i:05}");
                    let value = format!("{key}={}", "x".repeat(i % 300));
                    if c.put(Bytes::from(key.clone()), Bytes::from(value.clone()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    acked.lock().expect("acked list").push((key, value));
                }
            }));
        }
    }
    // Let the load build up (and the WAL roll a few times), then cut power.
    eventually("enough acknowledged writes under load", || {
        let n = acked.lock().expect("acked list").len();
        async move { (n >= 4000).then_some(()) }
    })
    .await;
    node.kill9();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    let acked = std::mem::take(&mut *acked.lock().expect("acked list"));

    node.restart();
    let c = node.client().await;
    let mut stored = std::collections::HashMap::<Bytes, Bytes>::new();
    for conn in 0..CONNECTIONS {
        for w in 0..WRITERS_PER_CONNECTION {
            let got = c
                .get_prefix(Bytes::from(format!("c{conn}/w{w:02}/")))
                .await
                .expect("range");
            stored.extend(got.kvs.into_iter().map(|kv| (kv.key, kv.value)));
        }
    }
    for (key, value) in &acked {
        assert_eq!(
            stored.get(key.as_bytes()).map(|v| &v[..]),
            Some(value.as_bytes()),
            "lost or changed acknowledged {key} (of {} acknowledged, {} stored)",
            acked.len(),
            stored.len()
        );
    }
    // Nothing stored that no writer sent: every key is a writer's, in order.
    for (key, value) in &stored {
        let key = std::str::from_utf8(key).expect("utf-8 key");
        assert!(
            value.starts_with(format!("{key}=").as_bytes()),
            "{key} holds a value never written for it"
        );
    }
}
