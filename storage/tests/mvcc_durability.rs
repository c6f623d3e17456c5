//! Durability of `MvccStore` on the crash-simulating `MemDisk`: after a crash
//! the store is exactly its last checkpoint, replaying the same log entries
//! reproduces the same revisions and state, and a flipped bit in durable data
//! is reported as `Corrupt` with file and offset.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use etcq_storage::disk::Disk;
use etcq_storage::disk_mem::MemDisk;
use etcq_storage::mvcc::{Event, KeyValue, MvccError, MvccOptions, MvccStore, RangeRequest};
use futures_lite::future::block_on;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DIR: &str = "/data/mvcc";

/// One replicated log entry, as the server would apply it.
#[derive(Debug, Clone)]
enum Entry {
    Txn(Vec<Op>),
    Compact(i64),
}

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>, i64),
    Delete(Vec<u8>, Vec<u8>),
}

/// Everything observable about a store.
#[derive(Debug, PartialEq)]
struct Dump {
    revision: i64,
    compact: i64,
    ranges: Vec<Vec<KeyValue>>,
    history: (Vec<Event>, i64),
    hash: (u32, i64),
    leases: Vec<(i64, Bytes)>,
    keys: usize,
}

fn dump(s: &MvccStore<MemDisk>) -> Dump {
    let low = s.compact_revision().max(1);
    let ranges = (low..=s.current_revision())
        .map(|rev| {
            let req = RangeRequest {
                key: b"\0",
                range_end: b"\0",
                revision: rev,
                ..Default::default()
            };
            s.range(&req).expect("range").kvs
        })
        .collect();
    Dump {
        revision: s.current_revision(),
        compact: s.compact_revision(),
        ranges,
        history: s.events_since(b"\0", b"\0", low, 0).expect("events"),
        hash: s.hash_kv(0).expect("hash"),
        leases: s.keys_with_lease(),
        keys: s.key_count(),
    }
}

fn random_entry(rng: &mut StdRng, current: i64, compact: i64) -> Entry {
    if rng.gen_ratio(1, 12) && current > compact + 1 {
        return Entry::Compact(rng.gen_range(compact + 1..=current));
    }
    let key = |rng: &mut StdRng| format!("key{:02}", rng.gen_range(0..14)).into_bytes();
    let ops = (0..rng.gen_range(1..4))
        .map(|_| {
            if rng.gen_ratio(3, 4) {
                let len = if rng.gen_ratio(1, 10) {
                    rng.gen_range(200..600)
                } else {
                    rng.gen_range(0..40)
                };
                let v: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                Op::Put(key(rng), v, rng.gen_range(0..3))
            } else if rng.gen_ratio(1, 3) {
                let (a, b) = (key(rng), key(rng));
                if a <= b {
                    Op::Delete(a, b)
                } else {
                    Op::Delete(b, a)
                }
            } else {
                Op::Delete(key(rng), Vec::new())
            }
        })
        .collect();
    Entry::Txn(ops)
}

/// Applies one entry; returns what the server would record (revision after, events).
fn apply(s: &mut MvccStore<MemDisk>, e: &Entry) -> (i64, usize, bool) {
    match e {
        Entry::Txn(ops) => {
            let mut t = s.write();
            for op in ops {
                match op {
                    Op::Put(k, v, lease) => {
                        t.put(k, v, *lease).expect("put");
                    }
                    Op::Delete(k, end) => {
                        t.delete_range(k, end).expect("delete");
                    }
                }
            }
            let (rev, events) = t.commit();
            (rev, events.len(), false)
        }
        Entry::Compact(rev) => (s.current_revision(), 0, s.compact(*rev).is_ok()),
    }
}

fn opts_for(seed: u64) -> MvccOptions {
    MvccOptions {
        segment_bytes: [300, 1200, 8192][(seed % 3) as usize],
        clean_live_ratio: 0.6,
    }
}

fn open(disk: &MemDisk, opts: MvccOptions) -> Result<MvccStore<MemDisk>, MvccError> {
    block_on(MvccStore::open(disk.clone(), Path::new(DIR), opts))
}

/// Runs a random history with checkpoints, flushes and compaction steps,
/// crashes, reopens, and replays.
fn crash_case(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let opts = opts_for(seed);
    let disk = MemDisk::new();
    let mut s = open(&disk, opts).expect("open");
    let mut log: Vec<Entry> = Vec::new();
    let mut results = Vec::new();
    let mut checkpoints: Vec<(u64, Dump)> = vec![(0, dump(&s))];
    let entries = rng.gen_range(20..90);
    for index in 1..=entries {
        let e = random_entry(&mut rng, s.current_revision(), s.compact_revision());
        results.push(apply(&mut s, &e));
        log.push(e);
        if rng.gen_ratio(1, 3) {
            block_on(s.compact_step(rng.gen_range(1..6))).expect("compact_step");
        }
        if rng.gen_ratio(1, 4) {
            block_on(s.flush()).expect("flush");
        }
        if rng.gen_ratio(1, 10) {
            block_on(s.checkpoint(index, &index.to_be_bytes())).expect("checkpoint");
            checkpoints.push((index, dump(&s)));
        }
    }
    let final_dump = dump(&s);
    // Sometimes the crash hits in the middle of a checkpoint.
    let mut pending = None;
    if rng.gen_ratio(1, 3) {
        let candidate = dump(&s);
        disk.set_fail_after(Some(rng.gen_range(0..12)));
        if block_on(s.checkpoint(entries, &entries.to_be_bytes())).is_ok() {
            checkpoints.push((entries, candidate));
        } else {
            pending = Some((entries, candidate));
            assert!(
                matches!(block_on(s.flush()), Err(MvccError::PreviousIo)),
                "a failed checkpoint poisons"
            );
        }
    }
    drop(s);
    disk.crash(seed);
    let mut s = open(&disk, opts).expect("reopen after crash");
    let index = s.checkpoint_index();
    let expected = match pending {
        Some((i, d)) if i == index && checkpoints.last().is_none_or(|c| c.0 != i) => d,
        _ => {
            let (i, d) = checkpoints.pop().expect("the initial checkpoint");
            assert_eq!(i, index, "the newest checkpoint survives");
            d
        }
    };
    assert_eq!(
        s.checkpoint_meta(),
        if index == 0 {
            vec![]
        } else {
            index.to_be_bytes().to_vec()
        }
    );
    assert_eq!(
        dump(&s),
        expected,
        "state after crash equals the checkpoint (seed {seed})"
    );
    // Replay the log after the checkpoint: same revisions, same end state.
    for (i, e) in log.iter().enumerate().skip(index as usize) {
        assert_eq!(
            apply(&mut s, e),
            results[i],
            "replayed entry {} (seed {seed})",
            i + 1
        );
        if i % 7 == 0 {
            block_on(s.compact_step(3)).expect("compact_step");
        }
    }
    assert_eq!(
        dump(&s),
        final_dump,
        "replay reproduces the state (seed {seed})"
    );
    // And the replayed store is durable in turn.
    while !block_on(s.compact_step(16)).expect("compact_step") {}
    block_on(s.checkpoint(entries, b"end")).expect("checkpoint");
    drop(s);
    disk.crash(seed ^ 0xdead);
    let s = open(&disk, opts).expect("reopen");
    assert_eq!(
        dump(&s),
        final_dump,
        "clean state after a second crash (seed {seed})"
    );
}

#[test]
fn crash_recovers_the_last_checkpoint_and_replay_reproduces_revisions() {
    // MVCC_CRASH_SEEDS=n runs more seeds (a longer soak); 300 by default.
    let seeds = std::env::var("MVCC_CRASH_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300u64);
    for seed in 0..seeds {
        crash_case(seed);
    }
}

fn segment_files(disk: &MemDisk) -> Vec<PathBuf> {
    let names = block_on(disk.read_dir(Path::new(DIR))).expect("ls");
    names
        .iter()
        .filter(|n| n.ends_with(".seg"))
        .map(|n| Path::new(DIR).join(n))
        .collect()
}

#[test]
fn a_flipped_bit_in_durable_data_is_corrupt_with_file_and_offset() {
    for seed in 0..60u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let opts = opts_for(seed);
        let disk = MemDisk::new();
        let mut s = open(&disk, opts).expect("open");
        for _ in 0..40 {
            let e = random_entry(&mut rng, s.current_revision(), s.compact_revision());
            apply(&mut s, &e);
        }
        block_on(s.checkpoint(40, b"")).expect("checkpoint");
        drop(s);
        let (path, offset) = if seed % 10 == 0 {
            (Path::new(DIR).join("MANIFEST"), None)
        } else {
            let files = segment_files(&disk);
            let path = files[rng.gen_range(0..files.len())].clone();
            let len = disk.file_bytes(&path).expect("segment").len() as u64;
            (path, Some(rng.gen_range(0..len)))
        };
        let len = disk.file_bytes(&path).expect("file").len() as u64;
        let at = offset.unwrap_or_else(|| rng.gen_range(0..len));
        disk.flip_bit(&path, at, rng.gen_range(0..8)).expect("flip");
        match open(&disk, opts) {
            Err(MvccError::Corrupt {
                path: p,
                offset: o,
                reason,
            }) => {
                assert_eq!(p, path, "{reason}");
                assert!(
                    o <= at,
                    "reported offset {o} is at or before the flipped byte {at}: {reason}"
                );
            }
            other => panic!(
                "seed {seed}: flipped bit at {} +{at} gave {other:?}",
                path.display()
            ),
        }
    }
}

#[test]
fn a_missing_manifest_with_data_is_refused_not_wiped() {
    let disk = MemDisk::new();
    let mut s = open(&disk, MvccOptions::default()).expect("open");
    let mut t = s.write();
    t.put(b"k", b"v", 0).expect("put");
    t.commit();
    block_on(s.checkpoint(1, b"")).expect("checkpoint");
    drop(s);
    block_on(disk.remove(&Path::new(DIR).join("MANIFEST"))).expect("rm");
    assert!(matches!(
        open(&disk, MvccOptions::default()),
        Err(MvccError::Corrupt { .. })
    ));
}

#[test]
fn io_failures_poison_the_store() {
    let disk = MemDisk::new();
    let mut s = open(&disk, MvccOptions::default()).expect("open");
    let mut t = s.write();
    t.put(b"k", b"v", 0).expect("put");
    t.commit();
    disk.set_fail_after(Some(0));
    assert!(matches!(
        block_on(s.flush()),
        Err(MvccError::Storage { .. })
    ));
    disk.set_fail_after(None);
    assert!(matches!(
        block_on(s.checkpoint(1, b"")),
        Err(MvccError::PreviousIo)
    ));
    assert!(matches!(
        block_on(s.compact_step(1)),
        Err(MvccError::PreviousIo)
    ));
    // Reads from memory still work.
    assert_eq!(
        s.range(&RangeRequest {
            key: b"k",
            ..Default::default()
        })
        .expect("range")
        .count,
        1
    );
}
