//! etcd's Maintenance and Cluster services on a single node, end to end over
//! etcq/1: alarms (raised, listed, disarmed, persisted), defragmentation,
//! Hash/HashKV, snapshots, MoveLeader and member changes.

mod common;

use bytes::Bytes;
use common::{b, refusal, Node};
use etcq_net::client::Client;
use etcq_net::method::Code;
use etcq_net::pb::etcdserverpb::{self as pb, alarm_request::AlarmAction, AlarmType};
use etcq_storage::mvcc::snapshot::decode_snapshot;

async fn member_id(c: &Client) -> u64 {
    c.status()
        .await
        .expect("status")
        .header
        .expect("header")
        .member_id
}

async fn alarm(
    c: &Client,
    action: AlarmAction,
    member_id: u64,
    alarm: AlarmType,
) -> pb::AlarmResponse {
    c.alarm(pb::AlarmRequest {
        action: action as i32,
        member_id,
        alarm: alarm as i32,
    })
    .await
    .expect("alarm")
}

fn nospace(member_id: u64) -> pb::AlarmMember {
    pb::AlarmMember {
        member_id,
        alarm: AlarmType::Nospace as i32,
    }
}

#[tokio::test]
async fn the_nospace_alarm_stays_until_disarmed_and_comes_back_while_space_is_short() {
    let node = Node::start(&["--quota-backend-bytes", "1024"]);
    let c = node.client().await;
    let me = member_id(&c).await;
    // Over the quota at once (the alarm is checked every tick).
    c.put(b("big"), Bytes::from(vec![0u8; 2048]))
        .await
        .expect("put");
    common::eventually("the NOSPACE alarm", || {
        let c = c.clone();
        async move { (c.alarm_list().await.ok()?.alarms == vec![nospace(me)]).then_some(()) }
    })
    .await;
    let st = c.status().await.expect("status");
    assert_eq!(st.errors, vec![format!("memberID:{me} alarm:NOSPACE ")]);
    let (code, msg) = refusal(c.put(b("k"), b("v")).await.expect_err("refused"));
    assert_eq!(
        (code, msg.as_str()),
        (
            Code::ResourceExhausted,
            "etcdserver: mvcc: database space exceeded"
        )
    );

    // Disarm: the answer names the cleared alarm; the store is still over
    // its quota, so the next check raises it again.
    let cleared = c.alarm_disarm_all().await.expect("disarm");
    assert_eq!(cleared.alarms, vec![nospace(me)]);
    common::eventually("the alarm raised again", || {
        let c = c.clone();
        async move { (!c.alarm_list().await.ok()?.alarms.is_empty()).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn alarms_are_activated_by_hand_survive_restarts_and_refuse_as_etcd() {
    let mut node = Node::start(&[]);
    let c = node.client().await;
    let me = member_id(&c).await;
    c.put(b("k"), b("v")).await.expect("put");
    assert!(c.alarm_list().await.expect("list").alarms.is_empty());

    let r = alarm(&c, AlarmAction::Activate, me, AlarmType::Nospace).await;
    assert_eq!(r.alarms, vec![nospace(me)]);
    // Type NONE is ignored; an absent alarm deactivates to nothing.
    assert!(alarm(&c, AlarmAction::Activate, me, AlarmType::None)
        .await
        .alarms
        .is_empty());
    assert!(alarm(&c, AlarmAction::Deactivate, me, AlarmType::Corrupt)
        .await
        .alarms
        .is_empty());
    let (_, msg) = refusal(c.put(b("k"), b("w")).await.expect_err("refused"));
    assert_eq!(msg, "etcdserver: mvcc: database space exceeded");
    // Reads and deletes still go through.
    assert_eq!(c.get(b("k")).await.expect("get").expect("k").value, b("v"));

    node.restart();
    let c = node.client().await;
    assert_eq!(
        c.alarm_list().await.expect("list").alarms,
        vec![nospace(me)]
    );
    assert!(
        c.put(b("k"), b("w")).await.is_err(),
        "still refused after a restart"
    );
    let r = alarm(&c, AlarmAction::Deactivate, me, AlarmType::Nospace).await;
    assert_eq!(r.alarms, vec![nospace(me)]);
    c.put(b("k"), b("w")).await.expect("put after disarm");

    // CORRUPT refuses KV requests with etcd's text, filtered GETs list by type.
    alarm(&c, AlarmAction::Activate, me, AlarmType::Corrupt).await;
    let (code, msg) = refusal(c.get(b("k")).await.expect_err("refused"));
    assert_eq!(
        (code, msg.as_str()),
        (Code::DataLoss, "etcdserver: corrupt cluster")
    );
    assert_eq!(
        alarm(&c, AlarmAction::Get, 0, AlarmType::Nospace)
            .await
            .alarms,
        vec![]
    );
    assert_eq!(
        alarm(&c, AlarmAction::Get, 0, AlarmType::Corrupt)
            .await
            .alarms
            .len(),
        1
    );
    assert_eq!(
        c.status().await.expect("status").errors,
        vec![format!("memberID:{me} alarm:CORRUPT ")]
    );
    alarm(&c, AlarmAction::Deactivate, me, AlarmType::Corrupt).await;
    node.restart();
    let c = node.client().await;
    assert!(c.alarm_list().await.expect("list").alarms.is_empty());
    assert_eq!(c.get(b("k")).await.expect("get").expect("k").value, b("w"));
}

#[tokio::test]
async fn defragment_shrinks_the_store_and_keeps_its_hash() {
    let node = Node::start(&[]);
    let c = node.client().await;
    let value = Bytes::from(vec![b'x'; 100 * 1024]);
    for round in 0..40 {
        for k in 0..10 {
            let mut v = value.to_vec();
            v[0] = round as u8;
            c.put(b(&format!("big/{k}")), Bytes::from(v))
                .await
                .expect("put");
        }
    }
    let rev = c
        .status()
        .await
        .expect("status")
        .header
        .expect("header")
        .revision;
    c.compact(rev).await.expect("compact");
    let before = c.status().await.expect("status").db_size;
    assert!(before > 30 << 20, "db size {before}");
    let hash = c.hash_kv(0).await.expect("hash");
    let r = c.defragment().await.expect("defragment");
    assert!(r.header.is_none(), "etcd's Defragment answer has no header");
    let after = c.status().await.expect("status").db_size;
    assert!(after < 4 << 20, "db size {before} -> {after}");
    assert_eq!(c.hash_kv(0).await.expect("hash").hash, hash.hash);
    assert_eq!(
        c.get(b("big/3")).await.expect("get").expect("key").value[0],
        39
    );
    c.put(b("after"), b("defrag")).await.expect("writes go on");
}

#[tokio::test]
async fn hash_kv_is_the_same_for_the_same_history_and_checks_revisions() {
    let n1 = Node::start(&[]);
    let n2 = Node::start(&[]);
    let (c1, c2) = (n1.client().await, n2.client().await);
    for c in [&c1, &c2] {
        for i in 0..50 {
            c.put(b(&format!("k{}", i % 7)), b(&format!("v{i}")))
                .await
                .expect("put");
            if i % 10 == 3 {
                c.delete(b(&format!("k{}", i % 5))).await.expect("delete");
            }
        }
    }
    let h1 = c1.hash_kv(0).await.expect("hash");
    let h2 = c2.hash_kv(0).await.expect("hash");
    assert_eq!(h1.hash, h2.hash);
    let rev = h1.header.expect("header").revision;
    assert_eq!(h1.hash_revision, rev);
    assert_eq!(h1.compact_revision, -1, "never compacted: etcd answers -1");
    assert_eq!(c1.hash().await.expect("hash").hash, h1.hash);
    let old = c1
        .hash_kv(rev - 10)
        .await
        .expect("hash at an older revision");
    assert_eq!(old.hash_revision, rev - 10);
    assert_ne!(old.hash, h1.hash);
    assert_eq!(c2.hash_kv(rev - 10).await.expect("hash").hash, old.hash);

    let (code, msg) = refusal(c1.hash_kv(rev + 1).await.expect_err("future"));
    assert_eq!(
        (code, msg.as_str()),
        (
            Code::OutOfRange,
            "etcdserver: mvcc: required revision is a future revision"
        )
    );
    c1.compact(rev - 20).await.expect("compact");
    for r in [rev - 30, rev - 20] {
        let (_, msg) = refusal(c1.hash_kv(r).await.expect_err("compacted"));
        assert_eq!(
            msg,
            "etcdserver: mvcc: required revision has been compacted"
        );
    }
    let after = c1.hash_kv(0).await.expect("hash");
    assert_eq!(after.compact_revision, rev - 20);
    c2.compact(rev - 20).await.expect("compact");
    assert_eq!(c2.hash_kv(0).await.expect("hash").hash, after.hash);
}

#[tokio::test]
async fn a_snapshot_streams_the_store_in_chunks_and_verifies() {
    let node = Node::start(&[]);
    let c = node.client().await;
    for i in 0..200 {
        c.put(b(&format!("s/{i}")), Bytes::from(vec![i as u8; 1000]))
            .await
            .expect("put");
    }
    let rev = c
        .status()
        .await
        .expect("status")
        .header
        .expect("header")
        .revision;
    let mut stream = c.snapshot().await.expect("snapshot");
    let mut bytes = Vec::new();
    let mut last_remaining = u64::MAX;
    let mut messages = 0;
    while let Some(msg) = stream.message().await.expect("chunk") {
        assert!(msg.blob.len() <= 32 * 1024, "chunk of {}", msg.blob.len());
        assert!(msg.remaining_bytes < last_remaining);
        last_remaining = msg.remaining_bytes;
        bytes.extend_from_slice(&msg.blob);
        messages += 1;
        // Writes go on while the snapshot streams.
        if messages == 2 {
            c.put(b("during"), b("snapshot")).await.expect("put");
        }
    }
    assert_eq!(last_remaining, 0);
    assert!(messages > 4, "{messages} messages");
    let snap = decode_snapshot(&bytes).expect("a valid snapshot");
    assert_eq!(snap.revision, rev);
    assert_eq!(snap.files[0].0, "MANIFEST");
    // The pinned copy is gone once the stream ended.
    let pins = node.data_dir().join("member").join("snap.tmp");
    common::eventually("the pinned copy removed", || {
        let pins = pins.clone();
        async move {
            let left = std::fs::read_dir(&pins).map(|d| d.count()).unwrap_or(0);
            (left == 0).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn leader_transfer_and_member_changes_answer_as_single_node_etcd() {
    let node = Node::start(&[]);
    let c = node.client().await;
    let me = member_id(&c).await;
    let other = me ^ 0x5555;

    c.move_leader(me).await.expect("already the leader");
    let (code, msg) = refusal(c.move_leader(other).await.expect_err("unknown"));
    assert_eq!(
        (code, msg.as_str()),
        (
            Code::FailedPrecondition,
            "etcdserver: bad leader transferee"
        )
    );

    let (code, msg) = refusal(c.member_remove(other).await.expect_err("unknown"));
    assert_eq!(
        (code, msg.as_str()),
        (Code::NotFound, "etcdserver: member not found")
    );
    let (_, msg) = refusal(c.member_remove(me).await.expect_err("the only member"));
    assert_eq!(
        msg,
        "etcdserver: re-configuration failed due to not enough started members"
    );
    let (_, msg) = refusal(c.member_promote(me).await.expect_err("not a learner"));
    assert_eq!(msg, "etcdserver: can only promote a learner member");
    let (_, msg) = refusal(c.member_promote(other).await.expect_err("unknown"));
    assert_eq!(msg, "etcdserver: member not found");

    let (code, msg) = refusal(
        c.member_add(vec!["not a url".into()], false)
            .await
            .expect_err("bad"),
    );
    assert_eq!(
        (code, msg.as_str()),
        (
            Code::InvalidArgument,
            "etcdserver: given member URLs are invalid"
        )
    );
    let (code, msg) = refusal(
        c.member_add(vec!["http://10.0.0.2:2380".into()], false)
            .await
            .expect_err("needs clustering"),
    );
    assert_eq!(code, Code::Unimplemented);
    assert!(msg.contains("clustering"), "{msg}");

    let urls = vec!["http://127.0.0.1:12380".to_string()];
    let r = c
        .member_update(me, urls.clone())
        .await
        .expect("update self");
    assert_eq!(r.members.len(), 1);
    assert_eq!(r.members[0].peer_ur_ls, urls);
    let listed = c.member_list().await.expect("list");
    assert_eq!(listed.members[0].peer_ur_ls, urls);
    let (_, msg) = refusal(
        c.member_update(other, urls.clone())
            .await
            .expect_err("unknown"),
    );
    assert_eq!(msg, "etcdserver: member not found");
    let (_, msg) = refusal(c.member_add(urls, true).await.expect_err("taken"));
    assert_eq!(msg, "etcdserver: Peer URLs already exists");
}

/// `etcq snapshot status` and `etcq snapshot restore`: a saved snapshot
/// becomes a new data directory that serves the same keys at the same
/// revisions, with its leases; an existing member is never replaced, and a
/// damaged file is refused by name.
#[tokio::test]
async fn a_saved_snapshot_restores_into_a_new_member() {
    let node = Node::start(&[]);
    let c = node.client().await;
    let lease = c.lease_grant(600, 0).await.expect("grant").id;
    for i in 0..50 {
        c.put(b(&format!("r/{i:02}")), b(&format!("v{i}")))
            .await
            .expect("put");
    }
    c.put_request(pb::PutRequest {
        key: b("r/leased"),
        value: b("x"),
        lease,
        ..Default::default()
    })
    .await
    .expect("leased put");
    let before = c.get_prefix(b("r/")).await.expect("range");
    let rev = before.header.as_ref().expect("header").revision;
    let mut stream = c.snapshot().await.expect("snapshot");
    let mut bytes = Vec::new();
    while let Some(msg) = stream.message().await.expect("chunk") {
        bytes.extend_from_slice(&msg.blob);
    }
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("snap.db");
    std::fs::write(&file, &bytes).expect("write snapshot");

    let etcq = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_etcq"))
            .args(args)
            .output()
            .expect("run etcq")
    };
    let status = etcq(&["snapshot".as_ref(), "status".as_ref(), file.as_os_str()]);
    assert!(status.status.success(), "{status:?}");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.starts_with(&format!("revision {rev},")), "{text}");

    let restored = Node::start_prepared(&[], |data_dir| {
        let out = etcq(&[
            "snapshot".as_ref(),
            "restore".as_ref(),
            file.as_os_str(),
            "--data-dir".as_ref(),
            data_dir.as_os_str(),
        ]);
        assert!(out.status.success(), "{out:?}");
    });
    let r = restored.client().await;
    let after = r.get_prefix(b("r/")).await.expect("range");
    assert_eq!(after.kvs, before.kvs, "same keys, values and revisions");
    assert_eq!(after.header.expect("header").revision, rev);
    let leases = r.lease_leases().await.expect("leases");
    assert_eq!(
        leases.leases.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![lease]
    );
    let ttl = r.lease_time_to_live(lease, true).await.expect("ttl");
    assert_eq!(ttl.keys, vec![b("r/leased")]);
    let next = r.put(b("r/new"), b("1")).await.expect("put after restore");
    assert_eq!(next.header.expect("header").revision, rev + 1);

    // An existing member is never replaced.
    let again = etcq(&[
        "snapshot".as_ref(),
        "restore".as_ref(),
        file.as_os_str(),
        "--data-dir".as_ref(),
        restored.data_dir().as_os_str(),
    ]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{again:?}"
    );
    // A damaged file is refused, naming it.
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x10;
    let bad_file = work.path().join("bad.db");
    std::fs::write(&bad_file, &bad).expect("write");
    let out = etcq(&[
        "snapshot".as_ref(),
        "restore".as_ref(),
        bad_file.as_os_str(),
        "--data-dir".as_ref(),
        work.path().join("never").as_os_str(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.db") && err.contains("SHA-256"), "{err}");
    assert!(!work.path().join("never").join("member").exists());

    // A restore cut short (its marker left behind) is never served.
    let mut cut = Node::start_prepared(&[], |data_dir| {
        std::fs::create_dir_all(data_dir.join("member")).expect("mkdir");
        std::fs::write(data_dir.join("member").join("RESTORING"), b"").expect("marker");
    });
    assert!(!cut.wait_exit().success());
    assert!(
        cut.log().contains("snapshot restore that did not finish"),
        "{}",
        cut.log()
    );
}
