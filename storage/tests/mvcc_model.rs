//! Property test: `MvccStore` against a plain model of etcd's MVCC — a map of
//! full snapshots per revision plus the change log — under random txns,
//! compactions, compaction steps, flushes, checkpoints and reopens.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use etcq_storage::disk_mem::MemDisk;
use etcq_storage::mvcc::{
    Event, EventKind, KeyValue, MvccError, MvccOptions, MvccStore, RangeRequest,
};
use futures_lite::future::block_on;
use proptest::prelude::*;

const KEYS: &[&[u8]] = &[b"a", b"ab", b"b", b"ba", b"c", b"d", b"e\xff", b"f"];

#[derive(Debug, Clone, PartialEq)]
struct ModelKv {
    value: Vec<u8>,
    create: i64,
    modr: i64,
    version: i64,
    lease: i64,
    /// Identifies the change within its revision (not part of a key-value).
    sub: u32,
}

#[derive(Debug, Clone)]
struct Change {
    main: i64,
    sub: u32,
    key: Vec<u8>,
    put: Option<ModelKv>,
}

type State = BTreeMap<Vec<u8>, ModelKv>;

struct Model {
    snapshots: BTreeMap<i64, State>,
    log: Vec<Change>,
    current: i64,
    compact: i64,
}

#[derive(Debug, Clone)]
enum TxnOp {
    Put { key: usize, value: u8, lease: i64 },
    Delete { key: usize, end: RangeEnd },
    Range { key: usize, end: RangeEnd },
}

#[derive(Debug, Clone, Copy)]
enum RangeEnd {
    Single,
    Key(usize),
    All,
}

#[derive(Debug, Clone)]
enum Op {
    Txn(Vec<TxnOp>),
    Compact(u8),
    CompactStep(usize),
    Flush,
    Checkpoint,
    Reopen,
    Range {
        key: usize,
        end: RangeEnd,
        rev_back: i64,
        limit: usize,
        keys_only: bool,
        count_only: bool,
    },
    Events {
        key: usize,
        end: RangeEnd,
        start_back: i64,
        max: usize,
    },
    Hash {
        rev_back: i64,
    },
}

fn end_bytes(end: RangeEnd) -> &'static [u8] {
    match end {
        RangeEnd::Single => b"",
        RangeEnd::Key(i) => KEYS[i],
        RangeEnd::All => b"\0",
    }
}

fn in_range(k: &[u8], key: &[u8], end: &[u8]) -> bool {
    if end.is_empty() {
        k == key
    } else if end == b"\0" {
        k >= key
    } else {
        k >= key && k < end
    }
}

fn to_kv(k: &[u8], m: &ModelKv) -> KeyValue {
    KeyValue {
        key: Bytes::copy_from_slice(k),
        value: Bytes::copy_from_slice(&m.value),
        create_revision: m.create,
        mod_revision: m.modr,
        version: m.version,
        lease: m.lease,
    }
}

impl Model {
    fn new() -> Model {
        Model {
            snapshots: BTreeMap::from([(1, State::new())]),
            log: Vec::new(),
            current: 1,
            compact: 0,
        }
    }

    fn resolve(&self, rev: i64, current: i64) -> Result<i64, &'static str> {
        let rev = if rev <= 0 { current } else { rev };
        if rev > current {
            Err("future")
        } else if rev < self.compact {
            Err("compacted")
        } else {
            Ok(rev)
        }
    }

    /// Whether the change survives compaction at the model's compact revision.
    fn survives(&self, c: &Change) -> bool {
        if c.main > self.compact {
            return true;
        }
        match (
            &c.put,
            self.snapshots
                .get(&self.compact)
                .and_then(|s| s.get(&c.key)),
        ) {
            (Some(_), Some(live)) => live.modr == c.main && live.sub == c.sub,
            _ => false,
        }
    }

    fn do_compact(&mut self, rev: i64) {
        self.compact = rev;
        self.snapshots = self.snapshots.split_off(&rev);
        let log = std::mem::take(&mut self.log);
        self.log = log.into_iter().filter(|c| self.survives(c)).collect();
    }

    fn range(
        &self,
        req: &RangeRequest,
        state: &State,
        current: i64,
    ) -> (Vec<KeyValue>, usize, bool) {
        let mut kvs = Vec::new();
        let mut count = 0;
        for (k, m) in state
            .iter()
            .filter(|(k, _)| in_range(k, req.key, req.range_end))
        {
            count += 1;
            if !req.count_only && (req.limit == 0 || kvs.len() < req.limit) {
                let mut kv = to_kv(k, m);
                if req.keys_only {
                    kv.value = Bytes::new();
                }
                kvs.push(kv);
            }
        }
        let _ = current;
        (
            kvs,
            count,
            !req.count_only && req.limit > 0 && count > req.limit,
        )
    }

    fn events(&self, key: &[u8], end: &[u8], start: i64, max: usize) -> (Vec<Event>, i64) {
        let start = if start <= 0 { self.current + 1 } else { start };
        let found: Vec<&Change> = self
            .log
            .iter()
            .filter(|c| c.main >= start && in_range(&c.key, key, end))
            .collect();
        let mut end_i = found.len();
        if max > 0 && found.len() > max {
            let cut = found[max].main;
            end_i = found.iter().take_while(|c| c.main < cut).count();
            if end_i == 0 {
                end_i = found.iter().take_while(|c| c.main <= cut).count();
            }
        }
        let next = if end_i < found.len() {
            found[end_i].main
        } else {
            (self.current + 1).max(start)
        };
        let events = found[..end_i]
            .iter()
            .map(|c| {
                let prev = if c.main - 1 < self.compact {
                    None
                } else {
                    self.snapshots[&(c.main - 1)]
                        .get(&c.key)
                        .map(|m| to_kv(&c.key, m))
                };
                match &c.put {
                    Some(p) => Event {
                        kind: EventKind::Put,
                        kv: to_kv(&c.key, p),
                        prev_kv: if p.create == p.modr { None } else { prev },
                    },
                    None => Event {
                        kind: EventKind::Delete,
                        kv: KeyValue {
                            key: Bytes::copy_from_slice(&c.key),
                            mod_revision: c.main,
                            ..Default::default()
                        },
                        prev_kv: prev,
                    },
                }
            })
            .collect();
        (events, next)
    }

    fn hash(&self, rev: i64) -> u32 {
        let mut changes: Vec<&Change> = self
            .log
            .iter()
            .filter(|c| c.main > self.compact && c.main <= rev)
            .collect();
        changes.sort_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then((a.main, a.sub).cmp(&(b.main, b.sub)))
        });
        let mut h = crc32fast::Hasher::new();
        for c in changes {
            let (value, create, version, lease, tomb) = match &c.put {
                Some(p) => (&p.value[..], p.create, p.version, p.lease, 0u8),
                None => (&[][..], 0, 0, 0, 1u8),
            };
            h.update(&(c.key.len() as u32).to_le_bytes());
            h.update(&c.key);
            h.update(&(value.len() as u32).to_le_bytes());
            h.update(value);
            h.update(&create.to_le_bytes());
            h.update(&c.main.to_le_bytes());
            h.update(&c.sub.to_le_bytes());
            h.update(&version.to_le_bytes());
            h.update(&lease.to_le_bytes());
            h.update(&[tomb]);
        }
        h.finalize()
    }
}

fn err_kind(e: &MvccError) -> &'static str {
    match e {
        MvccError::Compacted { .. } => "compacted",
        MvccError::FutureRev { .. } => "future",
        other => panic!("unexpected error {other}"),
    }
}

fn range_end_strategy() -> impl Strategy<Value = RangeEnd> {
    prop_oneof![
        3 => Just(RangeEnd::Single),
        2 => (0..KEYS.len()).prop_map(RangeEnd::Key),
        1 => Just(RangeEnd::All),
    ]
}

fn txn_op_strategy() -> impl Strategy<Value = TxnOp> {
    prop_oneof![
        6 => (0..KEYS.len(), any::<u8>(), prop_oneof![3 => Just(0i64), 1 => 1..3i64])
            .prop_map(|(key, value, lease)| TxnOp::Put { key, value, lease }),
        2 => (0..KEYS.len(), range_end_strategy()).prop_map(|(key, end)| TxnOp::Delete { key, end }),
        1 => (0..KEYS.len(), range_end_strategy()).prop_map(|(key, end)| TxnOp::Range { key, end }),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => prop::collection::vec(txn_op_strategy(), 0..5).prop_map(Op::Txn),
        2 => any::<u8>().prop_map(Op::Compact),
        3 => (1usize..6).prop_map(Op::CompactStep),
        2 => Just(Op::Flush),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
        4 => (0..KEYS.len(), range_end_strategy(), -2i64..12, 0usize..4, any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(key, end, rev_back, limit, keys_only, count_only)| Op::Range {
                key, end, rev_back, limit, keys_only, count_only
            }),
        3 => (0..KEYS.len(), range_end_strategy(), -2i64..12, 0usize..4)
            .prop_map(|(key, end, start_back, max)| Op::Events { key, end, start_back, max }),
        1 => (-2i64..8).prop_map(|rev_back| Op::Hash { rev_back }),
    ]
}

fn open(disk: &MemDisk, opts: MvccOptions) -> MvccStore<MemDisk> {
    block_on(MvccStore::open(disk.clone(), Path::new("/mvcc"), opts)).expect("open")
}

/// Applies one txn to store and model, checking what the txn returns.
fn run_txn(store: &mut MvccStore<MemDisk>, model: &mut Model, ops: &[TxnOp]) {
    let main = model.current + 1;
    let mut state = model.snapshots[&model.current].clone();
    let mut changes: Vec<Change> = Vec::new();
    let mut txn = store.write();
    for op in ops {
        match *op {
            TxnOp::Put { key, value, lease } => {
                let k = KEYS[key];
                let prev = state.get(k).cloned();
                let next = ModelKv {
                    value: vec![value; usize::from(value % 7)],
                    create: prev.as_ref().map_or(main, |p| p.create),
                    modr: main,
                    version: prev.as_ref().map_or(1, |p| p.version + 1),
                    lease,
                    sub: changes.len() as u32,
                };
                let ev = txn.put(k, &next.value, lease).expect("put");
                assert_eq!(ev.kv, to_kv(k, &next));
                assert_eq!(ev.prev_kv, prev.map(|p| to_kv(k, &p)));
                state.insert(k.to_vec(), next.clone());
                changes.push(Change {
                    main,
                    sub: changes.len() as u32,
                    key: k.to_vec(),
                    put: Some(next),
                });
            }
            TxnOp::Delete { key, end } => {
                let (k, e) = (KEYS[key], end_bytes(end));
                let victims: Vec<(Vec<u8>, ModelKv)> = state
                    .iter()
                    .filter(|(x, _)| in_range(x, k, e))
                    .map(|(x, m)| (x.clone(), m.clone()))
                    .collect();
                let evs = txn.delete_range(k, e).expect("delete");
                assert_eq!(evs.len(), victims.len());
                for (ev, (vk, vm)) in evs.iter().zip(&victims) {
                    assert_eq!(ev.kind, EventKind::Delete);
                    assert_eq!((&ev.kv.key[..], ev.kv.mod_revision), (&vk[..], main));
                    assert_eq!(ev.prev_kv, Some(to_kv(vk, vm)));
                    state.remove(vk);
                    changes.push(Change {
                        main,
                        sub: changes.len() as u32,
                        key: vk.clone(),
                        put: None,
                    });
                }
            }
            TxnOp::Range { key, end } => {
                let req = RangeRequest {
                    key: KEYS[key],
                    range_end: end_bytes(end),
                    ..Default::default()
                };
                let got = txn.range(&req).expect("txn range");
                let read_rev = if changes.is_empty() { main - 1 } else { main };
                let (kvs, count, more) = model.range(&req, &state, read_rev);
                assert_eq!(
                    (got.kvs, got.count, got.more, got.revision),
                    (kvs, count, more, read_rev)
                );
            }
        }
    }
    let (rev, events) = txn.commit();
    if !changes.is_empty() {
        model.current = main;
        model.snapshots.insert(main, state);
        model.log.extend(changes);
    }
    assert_eq!(rev, model.current);
    let (expected, _) = if events.is_empty() {
        (vec![], 0)
    } else {
        model.events(b"\0", b"\0", main, 0)
    };
    assert_eq!(events, expected, "commit's watch events");
}

fn check_all(store: &MvccStore<MemDisk>, model: &Model) {
    assert_eq!(store.current_revision(), model.current);
    assert_eq!(store.compact_revision(), model.compact);
    for rev in model.compact.max(1)..=model.current {
        let req = RangeRequest {
            key: b"\0",
            range_end: b"\0",
            revision: rev,
            ..Default::default()
        };
        let got = store.range(&req).expect("range");
        let (kvs, ..) = model.range(&req, &model.snapshots[&rev], model.current);
        assert_eq!(got.kvs, kvs, "full range at {rev}");
    }
    let (ev, next) = store
        .events_since(b"\0", b"\0", model.compact.max(1), 0)
        .expect("events");
    assert_eq!(
        (ev, next),
        model.events(b"\0", b"\0", model.compact.max(1), 0)
    );
    assert_eq!(store.key_count(), model.snapshots[&model.current].len());
    let leased: Vec<(i64, Bytes)> = model.snapshots[&model.current]
        .iter()
        .filter(|(_, m)| m.lease != 0)
        .map(|(k, m)| (m.lease, Bytes::copy_from_slice(k)))
        .collect();
    assert_eq!(store.keys_with_lease(), leased);
}

fn run(ops: Vec<Op>, segment_bytes: u64, clean_live_ratio: f64) {
    let opts = MvccOptions {
        segment_bytes,
        clean_live_ratio,
    };
    let disk = MemDisk::new();
    let mut store = open(&disk, opts);
    let mut model = Model::new();
    let mut applied = 0u64;
    for op in ops {
        match op {
            Op::Txn(ops) => {
                applied += 1;
                run_txn(&mut store, &mut model, &ops);
            }
            Op::Compact(x) => {
                let rev = i64::from(x) % (model.current + 2);
                let got = store.compact(rev);
                if rev <= model.compact {
                    assert!(matches!(got, Err(MvccError::Compacted { .. })), "{got:?}");
                } else if rev > model.current {
                    assert!(matches!(got, Err(MvccError::FutureRev { .. })), "{got:?}");
                } else {
                    got.expect("compact");
                    model.do_compact(rev);
                }
            }
            Op::CompactStep(n) => {
                block_on(store.compact_step(n)).expect("compact_step");
            }
            Op::Flush => block_on(store.flush()).expect("flush"),
            Op::Checkpoint => {
                block_on(store.checkpoint(applied, &applied.to_le_bytes())).expect("checkpoint");
            }
            Op::Reopen => {
                block_on(store.checkpoint(applied, &applied.to_le_bytes())).expect("checkpoint");
                drop(store);
                store = open(&disk, opts);
                assert_eq!(store.checkpoint_index(), applied);
                assert_eq!(store.checkpoint_meta(), applied.to_le_bytes());
                check_all(&store, &model);
            }
            Op::Range {
                key,
                end,
                rev_back,
                limit,
                keys_only,
                count_only,
            } => {
                // -2: "current" (0); -1: one in the future; else rev_back below current.
                let rev = if rev_back == -2 {
                    0
                } else {
                    model.current - rev_back
                };
                let req = RangeRequest {
                    key: KEYS[key],
                    range_end: end_bytes(end),
                    revision: rev,
                    limit,
                    keys_only,
                    count_only,
                };
                let got = store.range(&req);
                match model.resolve(rev, model.current) {
                    Ok(r) => {
                        let got = got.expect("range");
                        let (kvs, count, more) =
                            model.range(&req, &model.snapshots[&r.max(1)], model.current);
                        assert_eq!(
                            (got.kvs, got.count, got.more, got.revision),
                            (kvs, count, more, model.current)
                        );
                    }
                    Err(kind) => assert_eq!(err_kind(&got.expect_err("range must fail")), kind),
                }
            }
            Op::Events {
                key,
                end,
                start_back,
                max,
            } => {
                let start = model.current + 1 - start_back;
                let got = store.events_since(KEYS[key], end_bytes(end), start, max);
                if start > 0 && start < model.compact {
                    assert_eq!(err_kind(&got.expect_err("events must fail")), "compacted");
                } else {
                    assert_eq!(
                        got.expect("events"),
                        model.events(KEYS[key], end_bytes(end), start, max)
                    );
                }
            }
            Op::Hash { rev_back } => {
                let rev = model.current - rev_back;
                match model.resolve(rev, model.current) {
                    Ok(r) => assert_eq!(
                        store.hash_kv(rev).expect("hash"),
                        (model.hash(r), model.compact)
                    ),
                    Err(kind) => assert_eq!(
                        err_kind(&store.hash_kv(rev).expect_err("hash must fail")),
                        kind
                    ),
                }
            }
        }
    }
    check_all(&store, &model);
    // Physical compaction to the end changes nothing observable.
    while !block_on(store.compact_step(7)).expect("compact_step") {
        block_on(store.flush()).expect("flush");
    }
    check_all(&store, &model);
    block_on(store.checkpoint(applied, b"end")).expect("checkpoint");
    drop(store);
    let store = open(&disk, opts);
    check_all(&store, &model);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(
        ops in prop::collection::vec(op_strategy(), 1..80),
        segment_bytes in prop_oneof![Just(200u64), Just(600), Just(4096)],
        clean_live_ratio in prop_oneof![Just(0.5f64), Just(0.95)],
    ) {
        run(ops, segment_bytes, clean_live_ratio);
    }
}
