//! etcd v3 MVCC semantics of `MvccStore`, one claim per test.

use std::path::Path;

use bytes::Bytes;
use etcq_storage::disk_mem::MemDisk;
use etcq_storage::mvcc::{
    Event, EventKind, KeyValue, MvccError, MvccOptions, MvccStore, RangeRequest,
};
use futures_lite::future::block_on;

type Store = MvccStore<MemDisk>;

fn open_with(opts: MvccOptions) -> (MemDisk, Store) {
    let disk = MemDisk::new();
    let store = block_on(MvccStore::open(disk.clone(), Path::new("/db/mvcc"), opts)).expect("open");
    (disk, store)
}

fn open() -> Store {
    open_with(MvccOptions::default()).1
}

fn put(s: &mut Store, k: &str, v: &str) -> i64 {
    let mut t = s.write();
    t.put(k.as_bytes(), v.as_bytes(), 0).expect("put");
    t.commit().0
}

fn del(s: &mut Store, k: &str, end: &str) -> i64 {
    let mut t = s.write();
    t.delete_range(k.as_bytes(), end.as_bytes())
        .expect("delete");
    t.commit().0
}

fn get_at(s: &Store, k: &str, rev: i64) -> Option<KeyValue> {
    let r = s
        .range(&RangeRequest {
            key: k.as_bytes(),
            revision: rev,
            ..Default::default()
        })
        .expect("range");
    assert!(r.kvs.len() <= 1);
    r.kvs.into_iter().next()
}

fn get(s: &Store, k: &str) -> Option<KeyValue> {
    get_at(s, k, 0)
}

fn keys(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

fn kv(k: &str, v: &str, create: i64, modr: i64, version: i64) -> KeyValue {
    KeyValue {
        key: Bytes::copy_from_slice(k.as_bytes()),
        value: Bytes::copy_from_slice(v.as_bytes()),
        create_revision: create,
        mod_revision: modr,
        version,
        lease: 0,
    }
}

fn compact_fully(s: &mut Store) {
    while !block_on(s.compact_step(3)).expect("compact_step") {}
}

#[test]
fn empty_store_is_at_revision_one() {
    let s = open();
    assert_eq!(s.current_revision(), 1);
    assert_eq!(s.compact_revision(), 0);
    let r = s
        .range(&RangeRequest {
            key: b"\0",
            range_end: b"\0",
            ..Default::default()
        })
        .expect("range");
    assert_eq!((r.kvs.len(), r.count, r.more, r.revision), (0, 0, false, 1));
    assert_eq!(s.key_count(), 0);
}

#[test]
fn puts_create_a_generation_and_bump_version() {
    let mut s = open();
    assert_eq!(put(&mut s, "a", "1"), 2);
    assert_eq!(get(&s, "a"), Some(kv("a", "1", 2, 2, 1)));
    assert_eq!(put(&mut s, "a", "2"), 3);
    assert_eq!(get(&s, "a"), Some(kv("a", "2", 2, 3, 2)));
    assert_eq!(get_at(&s, "a", 2), Some(kv("a", "1", 2, 2, 1)));
    assert_eq!(get_at(&s, "a", 1), None);
    assert_eq!(s.key_count(), 1);
}

#[test]
fn delete_writes_a_tombstone_and_recreate_starts_a_new_generation() {
    let mut s = open();
    put(&mut s, "a", "1");
    put(&mut s, "a", "2");
    assert_eq!(del(&mut s, "a", ""), 4);
    assert_eq!(get(&s, "a"), None);
    assert_eq!(get_at(&s, "a", 3), Some(kv("a", "2", 2, 3, 2)));
    assert_eq!(s.key_count(), 0);
    assert_eq!(put(&mut s, "a", "3"), 5);
    assert_eq!(get(&s, "a"), Some(kv("a", "3", 5, 5, 1)));
    assert_eq!(get_at(&s, "a", 4), None);
}

#[test]
fn a_txn_that_changes_nothing_keeps_the_revision() {
    let mut s = open();
    put(&mut s, "a", "1");
    assert_eq!(del(&mut s, "zz", ""), 2);
    assert_eq!(del(&mut s, "b", "c"), 2);
    let t = s.write();
    assert_eq!(t.commit(), (2, vec![]));
    assert_eq!(s.current_revision(), 2);
}

#[test]
fn a_txn_reads_its_own_writes_and_gets_one_revision() {
    let mut s = open();
    put(&mut s, "a", "0");
    let mut t = s.write();
    let r = t
        .range(&RangeRequest {
            key: b"a",
            ..Default::default()
        })
        .expect("range");
    assert_eq!(r.revision, 2);
    let e1 = t.put(b"a", b"1", 0).expect("put");
    assert_eq!(e1.prev_kv, Some(kv("a", "0", 2, 2, 1)));
    let e2 = t.put(b"a", b"2", 0).expect("put");
    assert_eq!(
        e2.prev_kv,
        Some(kv("a", "1", 2, 3, 2)),
        "put's prev_kv sees the txn's own write"
    );
    t.put(b"b", b"x", 0).expect("put");
    let r = t
        .range(&RangeRequest {
            key: b"a",
            range_end: b"c",
            ..Default::default()
        })
        .expect("range");
    assert_eq!(r.kvs, vec![kv("a", "2", 2, 3, 3), kv("b", "x", 3, 3, 1)]);
    assert_eq!(r.revision, 3);
    let deleted = t.delete_range(b"b", b"").expect("delete");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].prev_kv, Some(kv("b", "x", 3, 3, 1)));
    let (rev, events) = t.commit();
    assert_eq!(rev, 3);
    // Watch events: prev_kv is the key at rev - 1, none for creations.
    assert_eq!(
        events,
        vec![
            Event {
                kind: EventKind::Put,
                kv: kv("a", "1", 2, 3, 2),
                prev_kv: Some(kv("a", "0", 2, 2, 1))
            },
            Event {
                kind: EventKind::Put,
                kv: kv("a", "2", 2, 3, 3),
                prev_kv: Some(kv("a", "0", 2, 2, 1))
            },
            Event {
                kind: EventKind::Put,
                kv: kv("b", "x", 3, 3, 1),
                prev_kv: None
            },
            Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: Bytes::from_static(b"b"),
                    mod_revision: 3,
                    ..Default::default()
                },
                prev_kv: None
            },
        ]
    );
    assert_eq!(get(&s, "a"), Some(kv("a", "2", 2, 3, 3)));
    assert_eq!(get(&s, "b"), None);
    let (history, next) = s.events_since(b"a", b"c", 3, 0).expect("events");
    assert_eq!(history, events, "catch-up history equals the live feed");
    assert_eq!(next, 4);
}

#[test]
fn a_txn_without_events_makes_the_same_changes_and_returns_none() {
    let (mut with, mut without) = (open(), open());
    for s in [&mut with, &mut without] {
        put(s, "a", "0");
        put(s, "b", "0");
    }
    let mut t = with.write();
    let put_with = t.put(b"a", b"1", 0).expect("put");
    let del_with = t.delete_range(b"b", b"").expect("delete");
    let (rev_with, events) = t.commit();
    assert_eq!(events.len(), 2);
    let mut t = without.write_without_events();
    let put_without = t.put(b"a", b"1", 0).expect("put");
    let del_without = t.delete_range(b"b", b"").expect("delete");
    assert_eq!(t.commit(), (rev_with, vec![]));
    // The ops still answer with what they changed (responses need it).
    assert_eq!(put_with, put_without);
    assert_eq!(del_with, del_without);
    for k in ["a", "b"] {
        assert_eq!(get(&with, k), get(&without, k));
    }
    let (history, _) = without
        .events_since(b"a", b"c", rev_with, 0)
        .expect("events");
    assert_eq!(
        history, events,
        "history is kept alike: only the live list is skipped"
    );
}

#[test]
fn a_lean_put_writes_what_put_writes_and_reports_the_replaced_lease() {
    let (mut a, mut b) = (open(), open());
    for s in [&mut a, &mut b] {
        let mut t = s.write();
        t.put(b"k", b"old", 7).expect("put");
        t.commit();
    }
    let mut t = a.write();
    let ev = t.put(b"k", b"new", 9).expect("put");
    t.put(b"fresh", b"v", 0).expect("put");
    t.commit();
    let mut t = b.write_without_events();
    let done = t.put_lean(b"k", b"new", 9, false).expect("put");
    assert_eq!(done.prev_lease, Some(7));
    assert_eq!(done.prev_kv, None, "not asked for");
    let fresh = t.put_lean(b"fresh", b"v", 0, true).expect("put");
    assert_eq!((fresh.prev_lease, fresh.prev_kv), (None, None));
    t.commit();
    assert_eq!(get(&a, "k"), get(&b, "k"));
    assert_eq!(get(&a, "fresh"), get(&b, "fresh"));
    let mut t = b.write_without_events();
    let asked = t.put_lean(b"k", b"newer", 0, true).expect("put");
    assert_eq!(asked.prev_kv, get(&a, "k"), "the key before, when asked");
    assert_eq!(ev.prev_kv.map(|kv| kv.lease), Some(7));
}

#[test]
fn dropping_a_txn_commits_it() {
    let mut s = open();
    {
        let mut t = s.write();
        t.put(b"a", b"1", 0).expect("put");
    }
    assert_eq!(s.current_revision(), 2);
    assert_eq!(get(&s, "a"), Some(kv("a", "1", 2, 2, 1)));
}

#[test]
fn range_limit_count_more_keys_only_count_only() {
    let mut s = open();
    for k in ["a", "b", "c", "d"] {
        put(&mut s, k, &format!("v{k}"));
    }
    let all = |limit, keys_only, count_only| RangeRequest {
        key: b"a",
        range_end: b"\0",
        limit,
        keys_only,
        count_only,
        ..Default::default()
    };
    let r = s.range(&all(2, false, false)).expect("range");
    assert_eq!(
        (keys(&r.kvs), r.count, r.more, r.revision),
        (vec!["a".into(), "b".into()], 4, true, 5)
    );
    let r = s.range(&all(4, false, false)).expect("range");
    assert_eq!((r.kvs.len(), r.count, r.more), (4, 4, false));
    let r = s.range(&all(0, true, false)).expect("range");
    assert_eq!(
        r.kvs[1],
        KeyValue {
            value: Bytes::new(),
            ..kv("b", "", 3, 3, 1)
        }
    );
    let r = s.range(&all(1, false, true)).expect("range");
    assert_eq!((r.kvs.len(), r.count, r.more), (0, 4, false));
}

#[test]
fn range_end_forms() {
    let mut s = open();
    for k in ["a", "ab", "abc", "b", "c"] {
        put(&mut s, k, "v");
    }
    let q = |key: &'static str, end: &'static str| {
        keys(
            &s.range(&RangeRequest {
                key: key.as_bytes(),
                range_end: end.as_bytes(),
                ..Default::default()
            })
            .expect("range")
            .kvs,
        )
    };
    assert_eq!(q("ab", ""), vec!["ab"]);
    assert_eq!(q("ab", "ac"), vec!["ab", "abc"]); // prefix "ab"
    assert_eq!(q("ab", "\0"), vec!["ab", "abc", "b", "c"]);
    assert_eq!(q("\0", "\0"), vec!["a", "ab", "abc", "b", "c"]);
    assert_eq!(q("b", "a"), Vec::<String>::new());
    assert_eq!(q("b", "b"), Vec::<String>::new());
    assert_eq!(q("zz", ""), Vec::<String>::new());
}

#[test]
fn reads_outside_history_fail_with_compacted_or_future() {
    let mut s = open();
    for i in 0..5 {
        put(&mut s, "a", &i.to_string());
    }
    assert_eq!(s.current_revision(), 6);
    let at = |s: &Store, rev| {
        s.range(&RangeRequest {
            key: b"a",
            revision: rev,
            ..Default::default()
        })
    };
    assert!(matches!(
        at(&s, 7),
        Err(MvccError::FutureRev {
            current_revision: 6
        })
    ));
    assert!(matches!(
        s.compact(7),
        Err(MvccError::FutureRev {
            current_revision: 6
        })
    ));
    s.compact(4).expect("compact");
    assert!(matches!(
        at(&s, 3),
        Err(MvccError::Compacted {
            compact_revision: 4
        })
    ));
    assert!(matches!(
        s.compact(4),
        Err(MvccError::Compacted {
            compact_revision: 4
        })
    ));
    assert!(matches!(
        s.compact(3),
        Err(MvccError::Compacted {
            compact_revision: 4
        })
    ));
    assert!(matches!(
        s.events_since(b"a", b"", 3, 0),
        Err(MvccError::Compacted { .. })
    ));
    assert!(matches!(s.hash_kv(3), Err(MvccError::Compacted { .. })));
    assert!(matches!(s.hash_kv(7), Err(MvccError::FutureRev { .. })));
    assert_eq!(
        at(&s, 4).expect("range at compact rev").kvs,
        vec![kv("a", "2", 2, 4, 3)]
    );
    assert_eq!(s.compact_revision(), 4);
}

#[test]
fn compaction_keeps_the_newest_live_version_and_drops_dead_keys() {
    let mut s = open();
    put(&mut s, "a", "1"); // 2
    put(&mut s, "a", "2"); // 3
    put(&mut s, "b", "1"); // 4
    del(&mut s, "b", ""); // 5
    put(&mut s, "c", "1"); // 6
    del(&mut s, "c", ""); // 7
    s.compact(5).expect("compact");
    for physical in [false, true] {
        if physical {
            compact_fully(&mut s);
        }
        assert_eq!(get_at(&s, "a", 5), Some(kv("a", "2", 2, 3, 2)));
        assert_eq!(get_at(&s, "b", 5), None);
        assert_eq!(get_at(&s, "c", 6), Some(kv("c", "1", 6, 6, 1)));
        // The tombstone of b at the compact revision is gone (as in etcd); c's at 7 is not.
        let (ev, next) = s.events_since(b"\0", b"\0", 5, 0).expect("events");
        assert_eq!(
            ev.iter()
                .map(|e| (e.kind, e.kv.mod_revision))
                .collect::<Vec<_>>(),
            vec![(EventKind::Put, 6), (EventKind::Delete, 7)]
        );
        assert_eq!(next, 8);
    }
    s.compact(7).expect("compact");
    compact_fully(&mut s);
    let r = s
        .range(&RangeRequest {
            key: b"\0",
            range_end: b"\0",
            revision: 7,
            ..Default::default()
        })
        .expect("r");
    assert_eq!(keys(&r.kvs), vec!["a"]);
}

#[test]
fn events_since_never_splits_a_revision() {
    let mut s = open();
    put(&mut s, "a", "1"); // 2
    {
        let mut t = s.write(); // 3: three changes
        for k in ["b", "c", "d"] {
            t.put(k.as_bytes(), b"x", 0).expect("put");
        }
    }
    put(&mut s, "e", "1"); // 4
    let (ev, next) = s.events_since(b"\0", b"\0", 2, 2).expect("events");
    assert_eq!((ev.len(), next), (1, 3));
    let (ev, next) = s.events_since(b"\0", b"\0", 3, 2).expect("events");
    assert_eq!(
        (ev.len(), next),
        (3, 4),
        "one revision larger than the limit comes whole"
    );
    let (ev, next) = s.events_since(b"\0", b"\0", 4, 2).expect("events");
    assert_eq!((ev.len(), next), (1, 5));
    assert_eq!(
        s.events_since(b"\0", b"\0", 5, 2).expect("events"),
        (vec![], 5)
    );
    assert_eq!(
        s.events_since(b"\0", b"\0", 0, 2).expect("events"),
        (vec![], 5)
    );
}

#[test]
fn keys_with_lease_lists_live_leased_keys() {
    let mut s = open();
    let mut t = s.write();
    t.put(b"a", b"", 7).expect("put");
    t.put(b"b", b"", 0).expect("put");
    t.put(b"c", b"", 9).expect("put");
    t.put(b"d", b"", 9).expect("put");
    t.commit();
    del(&mut s, "d", "");
    put(&mut s, "a", "x"); // re-put without a lease detaches it
    assert_eq!(s.keys_with_lease(), vec![(9, Bytes::from_static(b"c"))]);
}

#[test]
fn hash_kv_does_not_depend_on_physical_compaction() {
    let opts = MvccOptions {
        segment_bytes: 512,
        ..Default::default()
    };
    let (_, mut s1) = open_with(opts);
    let (_, mut s2) = open_with(opts);
    for s in [&mut s1, &mut s2] {
        for i in 0..40 {
            put(s, &format!("k{}", i % 7), &format!("v{i}"));
            if i % 5 == 0 {
                del(s, &format!("k{}", (i + 3) % 7), "");
            }
        }
        s.compact(20).expect("compact");
    }
    compact_fully(&mut s2);
    block_on(s2.flush()).expect("flush");
    compact_fully(&mut s2);
    for rev in [20, 30, 0] {
        assert_eq!(
            s1.hash_kv(rev).expect("hash"),
            s2.hash_kv(rev).expect("hash")
        );
    }
    put(&mut s1, "x", "y");
    assert_ne!(
        s1.hash_kv(0).expect("hash").0,
        s2.hash_kv(0).expect("hash").0
    );
}

#[test]
fn cleaning_reclaims_space_and_keeps_data() {
    let opts = MvccOptions {
        segment_bytes: 1024,
        ..Default::default()
    };
    let (disk, mut s) = open_with(opts);
    for i in 0..400 {
        put(&mut s, &format!("k{}", i % 10), &format!("value-{i:04}"));
        if i % 50 == 0 {
            block_on(s.flush()).expect("flush");
        }
    }
    block_on(s.checkpoint(1, b"m")).expect("checkpoint");
    let before = s.db_size_bytes();
    let snapshot = s
        .range(&RangeRequest {
            key: b"\0",
            range_end: b"\0",
            ..Default::default()
        })
        .expect("r")
        .kvs;
    s.compact(s.current_revision()).expect("compact");
    compact_fully(&mut s);
    block_on(s.checkpoint(2, b"m")).expect("checkpoint");
    assert!(
        s.db_size_bytes() * 4 < before,
        "{} vs {before}",
        s.db_size_bytes()
    );
    let files = block_on(etcq_storage::disk::Disk::read_dir(
        &disk,
        Path::new("/db/mvcc"),
    ))
    .expect("ls");
    assert!(files.len() <= 4, "retired segments were deleted: {files:?}");
    let after = s
        .range(&RangeRequest {
            key: b"\0",
            range_end: b"\0",
            ..Default::default()
        })
        .expect("r")
        .kvs;
    assert_eq!(after, snapshot);
    drop(s);
    let s = block_on(MvccStore::open(disk, Path::new("/db/mvcc"), opts)).expect("reopen");
    let reopened = s
        .range(&RangeRequest {
            key: b"\0",
            range_end: b"\0",
            ..Default::default()
        })
        .expect("r")
        .kvs;
    assert_eq!(reopened, snapshot);
    assert_eq!(s.checkpoint_index(), 2);
}

/// Regression: log cleaning once dropped a compacted tombstone while an older
/// put of its key still sat in an uncleaned segment, and reopening resurrected it.
#[test]
fn cleaning_never_resurrects_a_deleted_key_after_reopen() {
    let opts = MvccOptions {
        segment_bytes: 200,
        clean_live_ratio: 0.5,
    };
    let (disk, mut s) = open_with(opts);
    put(&mut s, "c", "old"); // 2: its segment stays mostly live below
    for i in 0..6 {
        put(&mut s, &format!("live{i}"), "v");
    }
    put(&mut s, "c", "new");
    del(&mut s, "c", "");
    for i in 0..20 {
        put(&mut s, "churn", &i.to_string());
    }
    let rev = s.current_revision();
    s.compact(rev).expect("compact");
    block_on(s.flush()).expect("flush");
    compact_fully(&mut s);
    block_on(s.checkpoint(1, b"")).expect("checkpoint");
    let expected = s
        .range(&RangeRequest {
            key: b"\0",
            range_end: b"\0",
            ..Default::default()
        })
        .expect("r");
    drop(s);
    let s = block_on(MvccStore::open(disk, Path::new("/db/mvcc"), opts)).expect("reopen");
    assert_eq!(get(&s, "c"), None);
    assert_eq!(
        s.range(&RangeRequest {
            key: b"\0",
            range_end: b"\0",
            ..Default::default()
        })
        .expect("r"),
        expected
    );
}
