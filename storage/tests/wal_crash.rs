//! Crash tests: random work on a MemDisk, a simulated power loss at a random
//! point (possibly in the middle of a `sync`), recovery. The claims:
//! - recovery never fails after a mere crash (a torn tail is not corruption);
//! - every record covered by a completed `sync()` comes back, identical;
//! - what comes back is the acknowledged state plus a *prefix* of what was
//!   appended after it: nothing never appended, no record with a hole before it.
//!
//! Each case runs two rounds (work, crash, recover) so that writing after a
//! recovered torn tail is exercised too.

mod wal_common;

use std::time::Instant;

use etcq_storage::disk_mem::MemDisk;
use etcq_storage::wal::WalOptions;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wal_common::*;

const CASES: u64 = 1200;
const ROUNDS: usize = 2;

/// wal_crash's mix of operations.
const MIX: OpMix = OpMix {
    append_pct: 75,
    hard_state_pct: 15,
};

/// What the cases exercised, to check that the test means something.
#[derive(Default)]
struct Coverage {
    recovered_entries: usize,
    /// Rounds where some unacknowledged appends survived the crash.
    unacked_kept: usize,
    /// Rounds where unacknowledged appends existed and all were lost.
    unacked_lost: usize,
    /// Rounds where some but not all unacknowledged appends survived.
    unacked_partly_kept: usize,
}

/// Runs one seeded case.
fn run_case(seed: u64, cov: &mut Coverage) {
    let mut rng = StdRng::seed_from_u64(seed);
    let disk = MemDisk::new();
    let segment_bytes = if rng.gen_bool(0.5) { 8 << 10 } else { 64 << 10 };
    let opts = WalOptions { segment_bytes };
    let mut term = 1;
    block_on(async {
        let (mut wal, rec) = open(&disk, opts).await.expect("open an empty wal");
        let mut acked = Model::from_recovered(&rec);
        for round in 0..ROUNDS {
            let mut current = acked.clone();
            let mut unacked: Vec<Op> = Vec::new();
            for _ in 0..rng.gen_range(0..80) {
                match rng.gen_range(0..100) {
                    0..=79 => {
                        let op = random_op(&mut rng, &current, &mut term, &MIX);
                        apply_to_wal(&mut wal, &op);
                        current.apply(&op);
                        unacked.push(op);
                    }
                    80..=96 => {
                        wal.sync().await.expect("sync without faults");
                        acked = current.clone();
                        unacked.clear();
                    }
                    _ => {
                        let upto = rng.gen_range(0..=current.last_index());
                        wal.purge(upto).await.expect("purge without faults");
                    }
                }
            }
            // The crash: maybe in the middle of a sync or a purge, after some
            // of its I/O.
            match rng.gen_range(0..10) {
                0..=6 => {
                    disk.set_fail_after(Some(rng.gen_range(0..8)));
                    if wal.sync().await.is_ok() {
                        acked = current.clone();
                        unacked.clear();
                    }
                }
                7 => {
                    if wal.sync().await.is_ok() {
                        acked = current.clone();
                        unacked.clear();
                    }
                    disk.set_fail_after(Some(rng.gen_range(0..4)));
                    let _ = wal.purge(current.last_index()).await;
                }
                _ => {}
            }
            drop(wal);
            disk.crash(rng.gen());

            // Maybe crash again while recovery starts its new segment.
            if rng.gen_bool(0.25) {
                disk.set_fail_after(Some(rng.gen_range(0..6)));
                if let Ok((w, _)) = open(&disk, opts).await {
                    drop(w);
                }
                disk.crash(rng.gen());
            }

            let (reopened, rec) = open(&disk, opts).await.unwrap_or_else(|e| {
                panic!("seed {seed} round {round}: recovery failed after a crash: {e}")
            });
            let got = Model::from_recovered(&rec);
            let mut candidate = acked.clone();
            let mut matched = candidate == got;
            let mut kept = 0;
            for op in &unacked {
                if matched {
                    break;
                }
                candidate.apply(op);
                kept += 1;
                matched = candidate == got;
            }
            assert!(
                matched,
                "seed {seed} round {round}: recovered state is not the acknowledged state plus a \
                 prefix of later appends\nacked: {acked:?}\nunacked: {unacked:?}\ngot: {got:?}"
            );
            cov.recovered_entries += got.entries.len();
            if !unacked.is_empty() {
                match kept {
                    0 => cov.unacked_lost += 1,
                    k if k == unacked.len() => cov.unacked_kept += 1,
                    _ => cov.unacked_partly_kept += 1,
                }
            }
            acked = got;
            wal = reopened;
        }
    })
}

#[test]
fn after_any_crash_every_synced_record_survives_and_nothing_is_invented() {
    let started = Instant::now();
    let mut cov = Coverage::default();
    for seed in 0..CASES {
        run_case(seed, &mut cov);
    }
    eprintln!(
        "{CASES} crash cases in {:?}: {} entries recovered; unacknowledged appends kept in {} \
         rounds, partly kept in {}, lost in {}",
        started.elapsed(),
        cov.recovered_entries,
        cov.unacked_kept,
        cov.unacked_partly_kept,
        cov.unacked_lost
    );
    let min_rounds = CASES as usize / 40;
    assert!(
        cov.recovered_entries > CASES as usize * 5,
        "too little recovered to mean much"
    );
    assert!(cov.unacked_kept > min_rounds && cov.unacked_lost > min_rounds);
    assert!(
        cov.unacked_partly_kept > min_rounds,
        "torn batches should keep a strict prefix"
    );
}
