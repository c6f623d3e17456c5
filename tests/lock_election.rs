//! etcd's lock and election services end to end over etcq/1: mutual
//! exclusion and order of lockers, leadership passing on, observers, and
//! etcd 3.4's answers (every refusal is gRPC Unknown with etcd's text, as
//! etcd's server relays its internal client's errors).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{b, eventually, refusal, Node, DEADLINE};
use etcq_net::client::Client;
use etcq_net::method::{Code, Method};
use etcq_net::pb::v3electionpb::{
    LeaderResponse, ProclaimRequest, ProclaimResponse, ResignRequest, ResignResponse,
};

/// How long a waiter is checked to still be waiting. Not a synchronisation:
/// the check can only miss a bug, never fail a correct server.
const STILL_WAITING: Duration = Duration::from_millis(300);

async fn lease(c: &Client) -> i64 {
    c.lease_grant(60, 0).await.expect("lease grant").id
}

/// Waits until `n` keys exist under `prefix`.
async fn keys_under(c: &Client, prefix: &str, n: usize) {
    eventually(&format!("{n} keys under {prefix}"), || async {
        let r = c.get_prefix(b(prefix)).await.ok()?;
        (r.kvs.len() == n).then_some(())
    })
    .await
}

/// Asserts the task has not finished after [`STILL_WAITING`].
async fn still_waiting<T>(task: &mut tokio::task::JoinHandle<T>, what: &str) {
    let early = tokio::time::timeout(STILL_WAITING, &mut *task).await;
    assert!(early.is_err(), "{what} was answered while it should wait");
}

async fn finished<T>(task: tokio::task::JoinHandle<T>, what: &str) -> T {
    tokio::time::timeout(DEADLINE, task)
        .await
        .unwrap_or_else(|_| panic!("{what} not answered in time"))
        .expect("task")
}

async fn next_leader(
    obs: &mut etcq_net::client::ResponseStream<LeaderResponse>,
) -> etcq_net::pb::mvccpb::KeyValue {
    let resp = tokio::time::timeout(DEADLINE, obs.message())
        .await
        .expect("observe answered in time")
        .expect("observe stream")
        .expect("observe stream still open");
    let kv = resp.kv.expect("kv");
    assert!(
        resp.header.expect("header").revision >= kv.mod_revision,
        "the header is at or after the leader key's change"
    );
    kv
}

#[tokio::test]
async fn lockers_hold_the_lock_one_at_a_time_in_arrival_order() {
    let node = Node::start(&[]);
    let c = node.client().await;
    let (la, lb, lc) = (lease(&c).await, lease(&c).await, lease(&c).await);

    let a = c.lock(b("m"), la).await.expect("uncontended lock");
    assert_eq!(a.key, Bytes::from(format!("m/{la:x}")));
    let held = c.get(a.key.clone()).await.expect("get").expect("lock key");
    assert_eq!(held.lease, la);
    assert!(held.value.is_empty());
    assert_eq!(a.header.expect("header").revision, held.create_revision);

    // Locking again with the same lease answers at once with the same key.
    let again = c.lock(b("m"), la).await.expect("relock");
    assert_eq!(again.key, a.key);

    let cb = c.clone();
    let mut tb = tokio::spawn(async move { cb.lock(b("m"), lb).await });
    keys_under(&c, "m/", 2).await;
    let cc = c.clone();
    let mut tc = tokio::spawn(async move { cc.lock(b("m"), lc).await });
    keys_under(&c, "m/", 3).await;
    still_waiting(&mut tb, "B's lock while A holds it").await;
    still_waiting(&mut tc, "C's lock while A holds it").await;

    // A unlocks: B (next by create revision) gets it, C keeps waiting.
    let del = c.unlock(a.key.clone()).await.expect("unlock");
    let unlock_rev = del.header.expect("header").revision;
    let rb = finished(tb, "B's lock").await.expect("B locked");
    assert_eq!(rb.key, Bytes::from(format!("m/{lb:x}")));
    assert!(rb.header.expect("header").revision >= unlock_rev);
    still_waiting(&mut tc, "C's lock while B holds it").await;

    // B's lease goes away: the lock passes to C.
    c.lease_revoke(lb).await.expect("revoke B");
    let rc = finished(tc, "C's lock").await.expect("C locked");
    assert_eq!(rc.key, Bytes::from(format!("m/{lc:x}")));
    let keys = c.get_prefix(b("m/")).await.expect("range");
    assert_eq!(keys.kvs.len(), 1);
    assert_eq!(keys.kvs[0].key, rc.key);

    // Unlocking a key that is gone is no error.
    c.unlock(rb.key).await.expect("unlock a missing key");
    c.unlock(rc.key).await.expect("unlock C");
    assert_eq!(c.get_prefix(b("m/")).await.expect("range").count, 0);
}

#[tokio::test]
async fn lock_and_unlock_refusals_and_the_session_lease() {
    let node = Node::start(&[]);
    let c = node.client().await;

    let gone = lease(&c).await;
    c.lease_revoke(gone).await.expect("revoke");
    let e = c
        .lock(b("m"), gone)
        .await
        .expect_err("lock on a revoked lease");
    assert_eq!(
        refusal(e),
        (
            Code::Unknown,
            "etcdserver: requested lease not found".to_string()
        )
    );
    let e = c
        .campaign(b("e"), gone, b("v"))
        .await
        .expect_err("campaign on a revoked lease");
    assert_eq!(
        refusal(e),
        (
            Code::Unknown,
            "etcdserver: requested lease not found".to_string()
        )
    );
    assert_eq!(c.get_prefix(b("m/")).await.expect("range").count, 0);
    assert_eq!(c.get_prefix(b("e/")).await.expect("range").count, 0);

    let e = c.unlock(Bytes::new()).await.expect_err("unlock no key");
    assert_eq!(
        refusal(e),
        (Code::Unknown, "etcdserver: key is not provided".to_string())
    );

    // Lease 0: the server grants a 60 s lease for the lock, as etcd does.
    let r = c.lock(b("m"), 0).await.expect("lock without a lease");
    let kv = c.get(r.key.clone()).await.expect("get").expect("lock key");
    assert_ne!(kv.lease, 0);
    assert_eq!(r.key, Bytes::from(format!("m/{:x}", kv.lease)));
    let ttl = c.lease_time_to_live(kv.lease, false).await.expect("ttl");
    assert_eq!(ttl.granted_ttl, 60);
}

#[tokio::test]
async fn campaign_leader_proclaim_observe_and_resign() {
    let node = Node::start(&[]);
    let c = node.client().await;
    let (l1, l2) = (lease(&c).await, lease(&c).await);

    let e = c.leader(b("el")).await.expect_err("no leader yet");
    assert_eq!(
        refusal(e),
        (Code::Unknown, "election: no leader".to_string())
    );
    // An observer started before anyone campaigns sees the first leader.
    let mut obs = c.observe(b("el")).await.expect("observe");

    let won = c.campaign(b("el"), l1, b("one")).await.expect("campaign");
    let leader = won.leader.expect("leader key");
    assert_eq!(leader.name, b("el"));
    assert_eq!(leader.key, Bytes::from(format!("el/{l1:x}")));
    assert_eq!(leader.lease, l1);
    assert_eq!(leader.rev, won.header.expect("header").revision);
    let kv = next_leader(&mut obs).await;
    assert_eq!((kv.key.clone(), kv.value), (leader.key.clone(), b("one")));
    assert_eq!(kv.create_revision, leader.rev);

    c.proclaim(leader.clone(), b("two"))
        .await
        .expect("proclaim");
    assert_eq!(next_leader(&mut obs).await.value, b("two"));
    let now = c.leader(b("el")).await.expect("leader");
    let kv = now.kv.expect("kv");
    assert_eq!((kv.key, kv.value), (leader.key.clone(), b("two")));

    // A stale leader key (other create revision) may not proclaim; resigning
    // with it is no error and changes nothing.
    let mut stale = leader.clone();
    stale.rev -= 1;
    let e = c.proclaim(stale.clone(), b("x")).await.expect_err("stale");
    assert_eq!(
        refusal(e),
        (Code::Unknown, "election: not leader".to_string())
    );
    c.resign(stale).await.expect("resign with a stale key");
    assert!(c.get(leader.key.clone()).await.expect("get").is_some());
    let missing = (
        Code::Unknown,
        "\"leader\" field must be provided".to_string(),
    );
    let e = c
        .call::<_, ProclaimResponse>(Method::Proclaim, &ProclaimRequest::default())
        .await
        .expect_err("proclaim without a leader");
    assert_eq!(refusal(e), missing);
    let e = c
        .call::<_, ResignResponse>(Method::Resign, &ResignRequest::default())
        .await
        .expect_err("resign without a leader");
    assert_eq!(refusal(e), missing);

    // A second candidate waits while the first leads.
    let c2 = c.clone();
    let mut second = tokio::spawn(async move { c2.campaign(b("el"), l2, b("other")).await });
    keys_under(&c, "el/", 2).await;
    still_waiting(&mut second, "the second campaign").await;

    // Campaigning again on the leader's lease with a new value updates it.
    let again = c
        .campaign(b("el"), l1, b("three"))
        .await
        .expect("recampaign");
    assert_eq!(again.leader.expect("leader").rev, leader.rev);
    assert_eq!(next_leader(&mut obs).await.value, b("three"));

    // The leader resigns: the second candidate is elected, the observer follows.
    c.resign(leader.clone()).await.expect("resign");
    let won2 = finished(second, "the second campaign")
        .await
        .expect("elected");
    let leader2 = won2.leader.expect("leader key");
    assert_eq!(leader2.key, Bytes::from(format!("el/{l2:x}")));
    let kv = next_leader(&mut obs).await;
    assert_eq!((kv.key, kv.value), (leader2.key.clone(), b("other")));
    // The resigned key is gone.
    assert!(c.get(leader.key).await.expect("get").is_none());
}

#[tokio::test]
async fn observers_follow_leaders_across_lease_loss_and_late_starts() {
    let node = Node::start(&[]);
    let c = node.client().await;
    let (l1, l2, l3) = (lease(&c).await, lease(&c).await, lease(&c).await);
    let first = c.campaign(b("ob"), l1, b("a")).await.expect("campaign");
    let c2 = c.clone();
    let second = tokio::spawn(async move { c2.campaign(b("ob"), l2, b("b")).await });
    keys_under(&c, "ob/", 2).await;

    // An observer started while there is a leader sees it first.
    let mut obs = c.observe(b("ob")).await.expect("observe");
    let kv = next_leader(&mut obs).await;
    assert_eq!(kv.key, first.leader.expect("leader").key);
    assert_eq!(kv.value, b("a"));

    // The leader's lease is revoked: the next candidate leads.
    c.lease_revoke(l1).await.expect("revoke");
    finished(second, "the second campaign")
        .await
        .expect("elected");
    let kv = next_leader(&mut obs).await;
    assert_eq!(
        (kv.key, kv.value),
        (Bytes::from(format!("ob/{l2:x}")), b("b"))
    );

    // No candidate left: the observer waits, then sees the next one.
    c.lease_revoke(l2).await.expect("revoke");
    eventually("no leader", || async {
        c.leader(b("ob")).await.err().map(drop)
    })
    .await;
    c.campaign(b("ob"), l3, b("c")).await.expect("campaign");
    let kv = next_leader(&mut obs).await;
    assert_eq!(
        (kv.key, kv.value),
        (Bytes::from(format!("ob/{l3:x}")), b("c"))
    );

    // Dropping observers leaves the server serving.
    drop(obs);
    assert_eq!(
        c.leader(b("ob"))
            .await
            .expect("leader")
            .kv
            .expect("kv")
            .value,
        b("c")
    );
}

/// A client that goes away while waiting cancels its call; the waiter's key
/// is withdrawn (etcd's Mutex.Lock unlocks when the caller's context ends).
#[tokio::test]
async fn a_waiter_that_goes_away_withdraws_its_key() {
    let node = Node::start(&[]);
    let c = node.client().await;
    let (la, lb) = (lease(&c).await, lease(&c).await);
    let a = c.lock(b("g"), la).await.expect("lock");
    // B waits on a connection of its own, then goes away (etcd then deletes
    // B's key: its Mutex.Lock unlocks when the caller's context ends).
    let other = node.client().await;
    let waiter = tokio::spawn(async move { other.lock(b("g"), lb).await });
    keys_under(&c, "g/", 2).await;
    waiter.abort();
    keys_under(&c, "g/", 1).await;
    c.unlock(a.key).await.expect("unlock");
    keys_under(&c, "g/", 0).await;
}
