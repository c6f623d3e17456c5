//! Leases (grant, keep-alive, expiry, revoke) and watches (history replay then
//! live with no gap or duplicate, prev_kv, filters, compaction, cancel).

mod common;

use bytes::Bytes;
use common::{b, eventually, Node};
use etcq_net::pb::{etcdserverpb as pb, mvccpb};

#[tokio::test]
async fn revoking_a_lease_deletes_its_keys_and_expiry_does_too() {
    let node = Node::start(&[]);
    let c = node.client().await;
    let l = c.lease_grant(60, 0).await.expect("grant");
    for k in ["a", "b"] {
        c.put_request(pb::PutRequest {
            key: b(k),
            value: b("v"),
            lease: l.id,
            ..Default::default()
        })
        .await
        .expect("put");
    }
    let ttl = c.lease_time_to_live(l.id, true).await.expect("ttl");
    assert_eq!(ttl.keys, vec![b("a"), b("b")]);
    assert!(c
        .lease_leases()
        .await
        .expect("leases")
        .leases
        .iter()
        .any(|s| s.id == l.id));
    c.lease_revoke(l.id).await.expect("revoke");
    assert!(c.get(b("a")).await.expect("get").is_none());
    assert_eq!(
        c.lease_time_to_live(l.id, false).await.expect("ttl").ttl,
        -1
    );
    let e = c.lease_revoke(l.id).await.expect_err("revoke twice");
    assert_eq!(e.to_string(), "etcdserver: requested lease not found");

    // A short lease with no keep-alive expires through the log (min TTL is 2 s).
    let short = c.lease_grant(1, 0).await.expect("grant");
    assert_eq!(short.ttl, 2, "TTLs below the minimum are raised to it");
    c.put_request(pb::PutRequest {
        key: b("e"),
        value: b("v"),
        lease: short.id,
        ..Default::default()
    })
    .await
    .expect("put");
    let c2 = c.clone();
    eventually("the lease to expire", || {
        let c = c2.clone();
        async move { c.get(b("e")).await.ok()?.is_none().then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn keep_alive_holds_a_lease_past_its_ttl() {
    let node = Node::start(&[]);
    let c = node.client().await;
    let l = c.lease_grant(2, 0).await.expect("grant");
    c.put_request(pb::PutRequest {
        key: b("k"),
        value: b("v"),
        lease: l.id,
        ..Default::default()
    })
    .await
    .expect("put");
    let (mut tx, mut rx) = c.lease_keep_alive(l.id).await.expect("keepalive");
    let first = rx.message().await.expect("resp").expect("some");
    assert_eq!(first.ttl, 2);
    for _ in 0..8 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        tx.keep_alive().await.expect("send");
        let r = rx.message().await.expect("resp").expect("some");
        assert_eq!(r.id, l.id);
        assert_eq!(r.ttl, 2);
    }
    assert!(
        c.get(b("k")).await.expect("get").is_some(),
        "kept-alive lease must not expire"
    );
}

fn event_summary(resp: &pb::WatchResponse) -> Vec<(i32, Bytes, Bytes, i64)> {
    resp.events
        .iter()
        .map(|e| {
            let kv = e.kv.as_ref().expect("kv");
            (e.r#type, kv.key.clone(), kv.value.clone(), kv.mod_revision)
        })
        .collect()
}

#[tokio::test]
async fn a_watch_from_the_past_replays_history_then_continues_live_without_gap() {
    let node = Node::start(&[]);
    let c = node.client().await;
    for i in 0..20 {
        c.put(b("w/a"), Bytes::from(format!("{i}")))
            .await
            .expect("put");
    }
    c.delete(b("w/a")).await.expect("delete");
    let (_w, mut stream) = c
        .watch(pb::WatchCreateRequest {
            key: b("w/"),
            range_end: b("w0"),
            start_revision: 2,
            prev_kv: true,
            ..Default::default()
        })
        .await
        .expect("watch");
    let created = stream.message().await.expect("msg").expect("created");
    assert!(created.created);
    // Writers keep going while the watcher catches up.
    let writer = {
        let c = c.clone();
        tokio::spawn(async move {
            for i in 20..60 {
                c.put(b("w/b"), Bytes::from(format!("{i}")))
                    .await
                    .expect("put");
            }
        })
    };
    let mut seen = Vec::new();
    while seen.len() < 61 {
        let resp = stream.message().await.expect("msg").expect("events");
        seen.extend(event_summary(&resp));
    }
    writer.await.expect("writer");
    let revs: Vec<i64> = seen.iter().map(|e| e.3).collect();
    let expected: Vec<i64> = (2..63).collect();
    assert_eq!(revs, expected, "every revision exactly once, in order");
    assert_eq!(seen[20].0, mvccpb::event::EventType::Delete as i32);
}

#[tokio::test]
async fn watch_filters_prev_kv_cancel_and_compaction() {
    let node = Node::start(&[]);
    let c = node.client().await;
    let (mut w, mut stream) = c
        .watch(pb::WatchCreateRequest {
            key: b("f"),
            prev_kv: true,
            filters: vec![pb::watch_create_request::FilterType::Nodelete as i32],
            ..Default::default()
        })
        .await
        .expect("watch");
    let created = stream.message().await.expect("msg").expect("created");
    let id = created.watch_id;
    c.put(b("f"), b("1")).await.expect("put");
    c.put(b("f"), b("2")).await.expect("put");
    c.delete(b("f")).await.expect("delete");
    c.put(b("f"), b("3")).await.expect("put");
    let mut events = Vec::new();
    while events.len() < 3 {
        let r = stream.message().await.expect("msg").expect("events");
        events.extend(r.events);
    }
    assert!(events
        .iter()
        .all(|e| e.r#type == mvccpb::event::EventType::Put as i32));
    assert_eq!(events[1].prev_kv.as_ref().expect("prev").value, b("1"));
    assert!(
        events[2].prev_kv.is_none(),
        "a recreated key has no prev_kv"
    );
    w.cancel(id).await.expect("cancel");
    let r = stream.message().await.expect("msg").expect("cancel");
    assert!(r.canceled);

    // A watch from a compacted revision is told the compact revision.
    let rev = c
        .put(b("g"), b("1"))
        .await
        .expect("put")
        .header
        .expect("h")
        .revision;
    c.put(b("g"), b("2")).await.expect("put");
    c.compact(rev + 1).await.expect("compact");
    let (_w2, mut s2) = c
        .watch(pb::WatchCreateRequest {
            key: b("g"),
            start_revision: rev,
            ..Default::default()
        })
        .await
        .expect("watch");
    let mut compacted = None;
    while compacted.is_none() {
        let r = s2.message().await.expect("msg").expect("resp");
        if r.canceled {
            compacted = Some(r.compact_revision);
        }
    }
    assert_eq!(compacted, Some(rev + 1));
}

#[tokio::test]
async fn a_watcher_that_does_not_read_never_blocks_writes_and_misses_nothing() {
    let node = Node::start(&[]);
    let c = node.client().await;
    let (_w, mut stream) = c
        .watch(pb::WatchCreateRequest {
            key: b("s/"),
            range_end: b("s0"),
            ..Default::default()
        })
        .await
        .expect("watch");
    let created = stream.message().await.expect("msg").expect("created");
    assert!(created.created);
    // The watcher reads nothing while 3,000 puts of 1 KiB go through: far more
    // than its session buffer and the QUIC stream window hold.
    let value = Bytes::from(vec![b'x'; 1024]);
    let mut last_rev = 0;
    for i in 0..3000 {
        let r = c
            .put(Bytes::from(format!("s/{}", i % 50)), value.clone())
            .await
            .expect("put");
        last_rev = r.header.expect("header").revision;
    }
    // Now it reads: every revision, once, in order (caught up from history).
    let mut next = created.header.map(|h| h.revision + 1).unwrap_or(2).max(2);
    while next <= last_rev {
        let resp = stream.message().await.expect("msg").expect("events");
        for e in &resp.events {
            let rev = e.kv.as_ref().expect("kv").mod_revision;
            assert_eq!(
                rev, next,
                "events must arrive in revision order with no gap or duplicate"
            );
            next += 1;
        }
    }
}

#[tokio::test]
async fn watches_with_progress_notify_get_periodic_progress() {
    let node = Node::start(&["--watch-progress-notify-interval-ms", "200"]);
    let c = node.client().await;
    let rev = c
        .put(b("p"), b("1"))
        .await
        .expect("put")
        .header
        .expect("h")
        .revision;
    let (_w, mut stream) = c
        .watch(pb::WatchCreateRequest {
            key: b("p"),
            progress_notify: true,
            ..Default::default()
        })
        .await
        .expect("watch");
    let created = stream.message().await.expect("msg").expect("created");
    assert!(created.created);
    let progress = stream.message().await.expect("msg").expect("progress");
    assert_eq!(progress.watch_id, created.watch_id);
    assert!(progress.events.is_empty());
    assert_eq!(progress.header.expect("header").revision, rev);
}
