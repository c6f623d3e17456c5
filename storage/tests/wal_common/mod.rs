//! Helpers shared by the WAL integration tests: a reference model of the log
//! (what recovery must return) and small conveniences.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use etcq_storage::disk::Disk;
use etcq_storage::disk_mem::MemDisk;
use etcq_storage::wal::{HardState, Recovered, SnapshotMarker, Wal, WalError, WalOptions};
use rand::rngs::StdRng;
use rand::Rng;

pub const SMALL_SEGMENT_BYTES: u64 = 64 << 10;

pub fn dir() -> PathBuf {
    PathBuf::from("/data/wal")
}

pub fn small() -> WalOptions {
    WalOptions {
        segment_bytes: SMALL_SEGMENT_BYTES,
    }
}

pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    futures_lite::future::block_on(f)
}

pub async fn open(disk: &MemDisk, opts: WalOptions) -> Result<(Wal<MemDisk>, Recovered), WalError> {
    Wal::open(disk.clone(), &dir(), opts).await
}

/// Segment file paths, oldest first.
pub async fn segment_paths(disk: &MemDisk, dir: &Path) -> Vec<PathBuf> {
    let names = disk.read_dir(dir).await.expect("list wal dir");
    names
        .into_iter()
        .filter(|n| n.ends_with(".wal"))
        .map(|n| dir.join(n))
        .collect()
}

/// Entry data that never contains a 512-byte run of zeros.
pub fn data_for(index: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (index as usize * 31 + i) as u8 | 1)
        .collect()
}

/// The log as the WAL's semantics define it (docs/wal.md §2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    pub hard_state: Option<HardState>,
    pub snapshot: Option<SnapshotMarker>,
    pub entries: Vec<(u64, u64, Vec<u8>)>,
}

#[derive(Debug, Clone)]
pub enum Op {
    Append {
        index: u64,
        term: u64,
        data: Vec<u8>,
    },
    HardState(HardState),
    Snapshot {
        index: u64,
        term: u64,
    },
}

impl Model {
    pub fn snapshot_index(&self) -> u64 {
        self.snapshot.map_or(0, |s| s.index)
    }

    pub fn last_index(&self) -> u64 {
        self.entries
            .last()
            .map_or(0, |e| e.0)
            .max(self.snapshot_index())
    }

    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Append { index, term, data } => {
                self.entries.retain(|e| e.0 < *index);
                self.entries.push((*index, *term, data.clone()));
            }
            Op::HardState(hs) => self.hard_state = Some(*hs),
            Op::Snapshot { index, term } => {
                self.entries.retain(|e| e.0 > *index);
                self.snapshot = Some(SnapshotMarker {
                    index: *index,
                    term: *term,
                });
            }
        }
    }

    pub fn from_recovered(r: &Recovered) -> Model {
        Model {
            hard_state: r.hard_state,
            snapshot: r.snapshot,
            entries: r
                .entries
                .iter()
                .map(|e| (e.index, e.term, e.data.to_vec()))
                .collect(),
        }
    }
}

pub fn apply_to_wal(wal: &mut Wal<MemDisk>, op: &Op) {
    match op {
        Op::Append { index, term, data } => wal.append_entry(*index, *term, data),
        Op::HardState(hs) => wal.set_hard_state(*hs),
        Op::Snapshot { index, term } => wal.set_snapshot(*index, *term),
    }
}

/// How often [`random_op`] picks each kind of operation, in percent
/// (snapshots get the rest).
#[allow(dead_code)] // each test binary uses its own mix
pub struct OpMix {
    pub append_pct: u32,
    pub hard_state_pct: u32,
}

/// A random WAL operation valid for `current`: an append (usually the next
/// index, sometimes an overwrite of the unsnapshotted tail, sometimes a term
/// bump; mostly small, sometimes several KiB), a HardState, or a snapshot
/// marker (sometimes past the last index).
#[allow(dead_code)]
pub fn random_op(rng: &mut StdRng, current: &Model, term: &mut u64, mix: &OpMix) -> Op {
    let last = current.last_index();
    let snap = current.snapshot_index();
    let pick = rng.gen_range(0..100);
    if pick < mix.append_pct {
        let index = if rng.gen_bool(0.9) || last == snap {
            last + 1
        } else {
            rng.gen_range(snap + 1..=last)
        };
        if rng.gen_bool(0.1) {
            *term += 1;
        }
        let len = if rng.gen_bool(0.1) {
            rng.gen_range(1000..5000)
        } else {
            rng.gen_range(0..300)
        };
        let mut data = vec![0u8; len];
        rng.fill(&mut data[..]);
        Op::Append {
            index,
            term: *term,
            data,
        }
    } else if pick < mix.append_pct + mix.hard_state_pct {
        Op::HardState(HardState {
            term: *term,
            vote: rng.gen_range(0..4),
            commit: rng.gen_range(0..=last),
        })
    } else {
        let index = if rng.gen_bool(0.8) {
            rng.gen_range(snap..=last)
        } else {
            last + rng.gen_range(0..5)
        };
        Op::Snapshot { index, term: *term }
    }
}
