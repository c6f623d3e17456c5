//! KV semantics of a single node, end to end over etcq/1: what an etcd user
//! expects from put, range, delete, txn and compaction, and etcd's refusals.

mod common;

use bytes::Bytes;
use common::{b, Node};
use etcq_net::client::{ClientError, Compare, CompareOp, Op, Txn};
use etcq_net::pb::etcdserverpb as pb;

fn message(e: ClientError) -> String {
    match e {
        ClientError::Status { message, .. } => message,
        other => panic!("expected a server refusal, got {other}"),
    }
}

#[tokio::test]
async fn puts_are_read_back_with_etcds_revision_and_version_rules() {
    let node = Node::start(&[]);
    let c = node.client().await;
    let r1 = c.put(b("a"), b("1")).await.expect("put");
    let rev1 = r1.header.expect("header").revision;
    assert_eq!(
        rev1, 2,
        "an empty store is at revision 1; the first put makes 2"
    );
    c.put(b("a"), b("2")).await.expect("put");
    let kv = c.get(b("a")).await.expect("get").expect("present");
    assert_eq!(kv.value, b("2"));
    assert_eq!(kv.version, 2);
    assert_eq!(kv.create_revision, 2);
    assert_eq!(kv.mod_revision, 3);

    // A read at the old revision sees the old value.
    let old = c
        .range(pb::RangeRequest {
            key: b("a"),
            revision: 2,
            ..Default::default()
        })
        .await
        .expect("range at rev");
    assert_eq!(old.kvs[0].value, b("1"));

    // Delete, then recreate: a new generation.
    let del = c.delete(b("a")).await.expect("delete");
    assert_eq!(del.deleted, 1);
    assert!(c.get(b("a")).await.expect("get").is_none());
    c.put(b("a"), b("3")).await.expect("put");
    let kv = c.get(b("a")).await.expect("get").expect("present");
    assert_eq!(kv.version, 1);
    assert_eq!(kv.create_revision, 5);
}

#[tokio::test]
async fn ranges_honour_prefix_limit_sort_and_count() {
    let node = Node::start(&[]);
    let c = node.client().await;
    for (k, v) in [("k/3", "c"), ("k/1", "z"), ("k/2", "a"), ("l", "x")] {
        c.put(b(k), b(v)).await.expect("put");
    }
    let all = c.get_prefix(b("k/")).await.expect("prefix");
    let keys: Vec<_> = all.kvs.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(keys, vec![b("k/1"), b("k/2"), b("k/3")]);
    assert_eq!(all.count, 3);

    let limited = c
        .range(pb::RangeRequest {
            key: b("k/"),
            range_end: b("k0"),
            limit: 2,
            ..Default::default()
        })
        .await
        .expect("limit");
    assert_eq!(limited.kvs.len(), 2);
    assert!(limited.more);
    assert_eq!(limited.count, 3);

    let by_value_desc = c
        .range(pb::RangeRequest {
            key: b("k/"),
            range_end: b("k0"),
            sort_order: pb::range_request::SortOrder::Descend as i32,
            sort_target: pb::range_request::SortTarget::Value as i32,
            ..Default::default()
        })
        .await
        .expect("sorted");
    let values: Vec<_> = by_value_desc
        .kvs
        .iter()
        .map(|kv| kv.value.clone())
        .collect();
    assert_eq!(values, vec![b("z"), b("c"), b("a")]);

    let from_key = c
        .range(pb::RangeRequest {
            key: b("k/2"),
            range_end: b("\0"),
            keys_only: true,
            ..Default::default()
        })
        .await
        .expect("from key");
    assert_eq!(from_key.kvs.len(), 3);
    assert!(from_key.kvs.iter().all(|kv| kv.value.is_empty()));

    let counted = c
        .range(pb::RangeRequest {
            key: b("k/"),
            range_end: b("k0"),
            count_only: true,
            ..Default::default()
        })
        .await
        .expect("count");
    assert_eq!(counted.count, 3);
    assert!(counted.kvs.is_empty());

    let serializable = c
        .range(pb::RangeRequest {
            key: b("l"),
            serializable: true,
            ..Default::default()
        })
        .await
        .expect("serializable");
    assert_eq!(serializable.kvs[0].value, b("x"));
}

#[tokio::test]
async fn txn_compares_choose_the_branch_and_reads_see_earlier_writes() {
    let node = Node::start(&[]);
    let c = node.client().await;
    c.put(b("x"), b("1")).await.expect("put");
    let t = Txn::new()
        .when([Compare::value(b("x"), CompareOp::Equal, b("1"))])
        .and_then([Op::put(b("x"), b("2")), Op::get(b("x"))])
        .or_else([Op::put(b("y"), b("no"))]);
    let r = c.txn(t).await.expect("txn");
    assert!(r.succeeded);
    match &r.responses[1].response {
        Some(pb::response_op::Response::ResponseRange(rr)) => assert_eq!(rr.kvs[0].value, b("2")),
        other => panic!("expected a range response, got {other:?}"),
    }
    let t = Txn::new()
        .when([Compare::version(b("x"), CompareOp::Greater, 5)])
        .and_then([Op::put(b("y"), b("yes"))])
        .or_else([Op::put(b("y"), b("no"))]);
    let r = c.txn(t).await.expect("txn");
    assert!(!r.succeeded);
    assert_eq!(c.get(b("y")).await.expect("get").expect("y").value, b("no"));
    // A missing key compares as version 0 and fails any value compare.
    let t = Txn::new()
        .when([Compare::version(b("nope"), CompareOp::Equal, 0)])
        .and_then([]);
    assert!(c.txn(t).await.expect("txn").succeeded);
    let t = Txn::new()
        .when([Compare::value(b("nope"), CompareOp::Equal, b(""))])
        .and_then([]);
    assert!(!c.txn(t).await.expect("txn").succeeded);
}

#[tokio::test]
async fn bad_requests_get_etcds_errors_and_the_server_keeps_serving() {
    let node = Node::start(&[]);
    let c = node.client().await;
    assert_eq!(
        message(c.put(b(""), b("v")).await.expect_err("empty key")),
        "etcdserver: key is not provided"
    );

    let ops: Vec<_> = (0..129)
        .map(|i| Op::put(b(&format!("k{i}")), b("v")))
        .collect();
    let e = c
        .txn(Txn::new().and_then(ops))
        .await
        .expect_err("too many ops");
    assert_eq!(message(e), "etcdserver: too many operations in txn request");

    let e = c
        .txn(Txn::new().and_then([Op::put(b("d"), b("1")), Op::put(b("d"), b("2"))]))
        .await
        .expect_err("dup");
    assert_eq!(message(e), "etcdserver: duplicate key given in txn request");

    let e = c
        .put_request(pb::PutRequest {
            key: b("l"),
            value: b("v"),
            lease: 12345,
            ..Default::default()
        })
        .await
        .expect_err("unknown lease");
    assert_eq!(message(e), "etcdserver: requested lease not found");

    let e = c
        .range(pb::RangeRequest {
            key: b("a"),
            revision: 1000,
            ..Default::default()
        })
        .await
        .expect_err("future");
    assert_eq!(
        message(e),
        "etcdserver: mvcc: required revision is a future revision"
    );

    for i in 0..5 {
        c.put(b("c"), b(&i.to_string())).await.expect("put");
    }
    let rev = c.get(b("c")).await.expect("get").expect("c").mod_revision;
    // --physical: answered once the cleanup has run.
    c.call::<_, pb::CompactionResponse>(
        etcq_net::method::Method::Compact,
        &pb::CompactionRequest {
            revision: rev - 1,
            physical: true,
        },
    )
    .await
    .expect("physical compaction");
    let e = c
        .range(pb::RangeRequest {
            key: b("c"),
            revision: rev - 2,
            ..Default::default()
        })
        .await
        .expect_err("compacted");
    assert_eq!(
        message(e),
        "etcdserver: mvcc: required revision has been compacted"
    );
    let e = c.compact(rev - 2).await.expect_err("compact again");
    assert_eq!(
        message(e),
        "etcdserver: mvcc: required revision has been compacted"
    );

    let big = Bytes::from(vec![b'x'; 2 * 1024 * 1024]);
    let e = c.put(b("big"), big).await.expect_err("too large");
    assert!(
        e.to_string().contains("request is too large") || e.to_string().contains("exceeds"),
        "unexpected error for an oversized request: {e}"
    );

    // Still serving, nothing lost.
    assert_eq!(c.get(b("c")).await.expect("get").expect("c").value, b("4"));
    assert!(c.get(b("d")).await.expect("get").is_none());
}

#[tokio::test]
async fn status_reports_the_node_as_its_own_leader() {
    let node = Node::start(&[]);
    let c = node.client().await;
    c.put(b("s"), b("1")).await.expect("put");
    let st = c.status().await.expect("status");
    let header = st.header.expect("header");
    assert_eq!(st.leader, header.member_id);
    assert!(st.raft_index >= 2);
    assert!(st.raft_applied_index >= 2);
    assert!(st.raft_term >= 1);
    assert_eq!(header.revision, 2);
    let members = c.member_list().await.expect("members");
    assert_eq!(members.members.len(), 1);
    assert_eq!(members.members[0].id, header.member_id);
}

#[tokio::test]
async fn over_quota_writes_are_refused_while_reads_and_deletes_go_on() {
    // A quota below the first data segment's size: the alarm rises at the first tick.
    let node = Node::start(&["--quota-backend-bytes", "1024"]);
    let c = node.client().await;
    let refused = common::eventually("the NOSPACE alarm", || {
        let c = c.clone();
        async move {
            match c.put(b("q"), b("v")).await {
                Err(e) => Some(message(e)),
                Ok(_) => None,
            }
        }
    })
    .await;
    assert_eq!(refused, "etcdserver: mvcc: database space exceeded");
    let st = c.status().await.expect("status");
    assert!(
        st.errors.iter().any(|e| e.contains("NOSPACE")),
        "status: {st:?}"
    );
    // Reads and deletes still work; earlier writes are intact.
    let kv = c.get(b("q")).await.expect("read under alarm");
    if let Some(kv) = kv {
        assert_eq!(kv.value, b("v"));
    }
    c.delete(b("q")).await.expect("delete under alarm");
}

#[tokio::test]
async fn a_dedicated_raft_core_serves_through_the_other_cores() {
    let node = Node::start(&["--cores", "2", "--dedicated-raft-core"]);
    let c = node.client().await;
    c.put(b("d"), b("1")).await.expect("put");
    assert_eq!(c.get(b("d")).await.expect("get").expect("d").value, b("1"));
}

/// Unary calls reuse their QUIC streams (docs/protocol.md, "Unary RPC"):
/// answers and refusals interleaved on one client, sequential and
/// concurrent, each get their own answer; a client that opens one stream
/// per call (the pre-reuse behaviour) is served the same.
#[tokio::test]
async fn calls_on_reused_streams_get_their_own_answers() {
    let node = Node::start(&[]);
    for idle_call_streams in [etcq_net::client::IDLE_CALL_STREAMS_MAX, 0] {
        let c = node
            .client_with(etcq_net::client::ClientOptions {
                idle_call_streams,
                ..Default::default()
            })
            .await;
        for i in 0..100 {
            let key = format!("reuse/{idle_call_streams}/{i}");
            let rev = c
                .put(key.clone(), format!("v{i}"))
                .await
                .expect("put")
                .header
                .expect("header")
                .revision;
            // A refusal in between (a future revision) ends its stream; the
            // next call still gets its own answer.
            let future = c
                .range(pb::RangeRequest {
                    key: key.clone().into(),
                    revision: rev + 1000,
                    ..Default::default()
                })
                .await
                .expect_err("future revision");
            assert_eq!(
                message(future),
                "etcdserver: mvcc: required revision is a future revision"
            );
            let kv = c.get(key).await.expect("get").expect("present");
            assert_eq!(kv.value, format!("v{i}").into_bytes());
            assert_eq!(kv.mod_revision, rev);
        }
        let calls = (0..32).map(|t| {
            let c = c.clone();
            async move {
                for i in 0..20 {
                    let key = format!("reuse-c/{idle_call_streams}/{t}/{i}");
                    c.put(key.clone(), format!("{t}-{i}")).await.expect("put");
                    let kv = c.get(key).await.expect("get").expect("present");
                    assert_eq!(kv.value, format!("{t}-{i}").into_bytes());
                }
            }
        });
        futures::future::join_all(calls).await;
    }
}
