//! Pipelined group commit: `write`, `start_sync`, `complete_sync` with syncs
//! in flight while later batches are written. The disk is a MemDisk whose
//! syncs take two polls (so writes can land while one is in flight) and whose
//! crashes keep any subset of unsynced sectors (a later batch may survive an
//! earlier one's loss). The claims:
//! - a position reported durable by `complete_sync` survives any power loss;
//! - records written after a sync started are not covered by it: they may be
//!   lost until a later sync covers them, and then they survive;
//! - after any crash, recovery succeeds (no false corruption from a later
//!   batch that survived an earlier one's loss) and returns the durable state
//!   plus a prefix of what was appended after it.

mod wal_common;

use std::future::Future;
use std::pin::Pin;

use etcq_storage::disk_mem::MemDisk;
use etcq_storage::wal::{HardState, WalError, WalOptions, WalPosition};
use futures_lite::future::poll_once;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wal_common::*;

type SyncFuture = Pin<Box<dyn Future<Output = Result<WalPosition, WalError>>>>;

fn pipelined_disk() -> MemDisk {
    let disk = MemDisk::new();
    disk.set_slow_sync(true);
    disk.set_reordering_crash(true);
    disk
}

/// Starts a sync and polls it once: it has "issued" its fdatasync and now
/// covers exactly what was written before.
async fn issue(f: impl Future<Output = Result<WalPosition, WalError>> + 'static) -> SyncFuture {
    let mut f: SyncFuture = Box::pin(f);
    assert!(
        poll_once(&mut f).await.is_none(),
        "a slow sync is in flight after one poll"
    );
    f
}

fn indexes(rec: &etcq_storage::wal::Recovered) -> Vec<u64> {
    rec.entries.iter().map(|e| e.index).collect()
}

#[test]
fn an_acknowledged_sync_position_survives_any_power_loss_and_later_writes_may_not() {
    let (mut b_lost, mut b_kept) = (0, 0);
    for seed in 0..200u64 {
        block_on(async {
            let disk = pipelined_disk();
            let (mut wal, _) = open(&disk, small()).await.expect("open");
            for i in 1..=5 {
                wal.append_entry(i, 1, &data_for(i, 300));
            }
            let a = wal.write().await.expect("write A");
            let sync_a = issue(wal.start_sync()).await;
            // Batch B is written while A's sync is in flight.
            for i in 6..=10 {
                wal.append_entry(i, 1, &data_for(i, 300));
            }
            let b = wal.write().await.expect("write B");
            assert!(b > a);
            let synced = sync_a.await;
            let durable = wal.complete_sync(synced).expect("sync A");
            assert_eq!(
                durable, a,
                "a sync covers what was written before it started"
            );
            assert_eq!(wal.durable(), a);
            drop(wal);
            disk.crash(seed);
            let (_, rec) = open(&disk, small())
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: recovery failed: {e}"));
            let got = indexes(&rec);
            assert!(
                got.len() >= 5 && got == (1..=got.len() as u64).collect::<Vec<_>>(),
                "seed {seed}: A must survive, then a prefix of B: {got:?}"
            );
            if got.len() == 10 {
                b_kept += 1;
            } else {
                b_lost += 1;
            }
        });
    }
    assert!(
        b_lost > 0 && b_kept > 0,
        "unsynced B should sometimes survive and sometimes not ({b_kept} kept, {b_lost} lost)"
    );
}

#[test]
fn records_written_during_a_sync_are_durable_once_a_later_sync_covers_them() {
    for seed in 0..200u64 {
        block_on(async {
            let disk = pipelined_disk();
            let (mut wal, _) = open(&disk, small()).await.expect("open");
            wal.append_entry(1, 1, &data_for(1, 700));
            wal.write().await.expect("write A");
            let sync_a = issue(wal.start_sync()).await;
            wal.append_entry(2, 1, &data_for(2, 700));
            wal.set_hard_state(HardState {
                term: 1,
                vote: 1,
                commit: 1,
            });
            let b = wal.write().await.expect("write B");
            // B's sync is issued before A's completes: two in flight.
            let sync_b = issue(wal.start_sync()).await;
            let (ra, rb) = (sync_a.await, sync_b.await);
            // Completion order does not matter.
            assert_eq!(wal.complete_sync(rb).expect("sync B"), b);
            assert_eq!(wal.complete_sync(ra).expect("sync A"), b);
            drop(wal);
            disk.crash(seed);
            let (_, rec) = open(&disk, small())
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: recovery failed: {e}"));
            assert_eq!(indexes(&rec), vec![1, 2], "seed {seed}");
            assert_eq!(rec.entries[1].data, data_for(2, 700));
            assert_eq!(
                rec.hard_state,
                Some(HardState {
                    term: 1,
                    vote: 1,
                    commit: 1
                })
            );
        });
    }
}

#[test]
fn a_sync_with_nothing_written_resolves_at_once_to_the_durable_position() {
    block_on(async {
        let disk = pipelined_disk();
        let (mut wal, _) = open(&disk, small()).await.expect("open");
        let durable = wal.durable();
        assert_eq!(wal.written(), durable);
        let mut f = Box::pin(wal.start_sync());
        let got = poll_once(&mut f).await.expect("nothing to flush");
        assert_eq!(wal.complete_sync(got).expect("no-op sync"), durable);
        // Appended but not written: a sync does not cover it either.
        wal.append_entry(1, 1, b"one");
        let got = wal.start_sync().await;
        assert_eq!(wal.complete_sync(got).expect("no-op sync"), durable);
    });
}

#[test]
fn a_failed_sync_in_flight_poisons_the_wal() {
    block_on(async {
        let disk = pipelined_disk();
        let (mut wal, _) = open(&disk, small()).await.expect("open");
        wal.append_entry(1, 1, b"one");
        wal.write().await.expect("write");
        // The sync's first step is its only charged operation.
        disk.set_fail_after(Some(0));
        let failed = wal.start_sync().await;
        assert!(wal.complete_sync(failed).is_err());
        disk.set_fail_after(None);
        wal.append_entry(2, 1, b"two");
        assert!(matches!(wal.write().await, Err(WalError::PreviousIo)));
        assert!(matches!(wal.start_sync().await, Err(WalError::PreviousIo)));
    });
}

/// This suite's mix of operations.
const MIX: OpMix = OpMix {
    append_pct: 80,
    hard_state_pct: 13,
};

const CASES: u64 = 1200;
const ROUNDS: usize = 2;
const IN_FLIGHT_MAX: usize = 3;

/// What the cases exercised, to check that the test means something.
#[derive(Default)]
struct Coverage {
    /// Crashes with a sync in flight.
    crashed_in_flight: usize,
    /// Rounds where some ops after the durable point survived / none did.
    unacked_kept: usize,
    unacked_lost: usize,
    /// Syncs that completed while a later batch had been written.
    overlapped: usize,
}

fn run_case(seed: u64, cov: &mut Coverage) {
    let mut rng = StdRng::seed_from_u64(seed);
    let disk = pipelined_disk();
    let segment_bytes = if rng.gen_bool(0.5) { 8 << 10 } else { 64 << 10 };
    let opts = WalOptions { segment_bytes };
    let mut term = 1;
    block_on(async {
        let (mut wal, rec) = open(&disk, opts).await.expect("open an empty wal");
        let mut base = Model::from_recovered(&rec);
        for round in 0..ROUNDS {
            let mut current = base.clone();
            // Ops appended this round, and (position, ops written) per write.
            let mut ops: Vec<Op> = Vec::new();
            let mut writes: Vec<(WalPosition, usize)> = vec![(wal.durable(), 0)];
            let mut in_flight: Vec<SyncFuture> = Vec::new();
            for _ in 0..rng.gen_range(0..120) {
                match rng.gen_range(0..100) {
                    0..=54 => {
                        let op = random_op(&mut rng, &current, &mut term, &MIX);
                        apply_to_wal(&mut wal, &op);
                        current.apply(&op);
                        ops.push(op);
                    }
                    55..=72 => {
                        let at = wal.write().await.expect("write without faults");
                        writes.push((at, ops.len()));
                    }
                    73..=84 if in_flight.len() < IN_FLIGHT_MAX => {
                        let mut f: SyncFuture = Box::pin(wal.start_sync());
                        match poll_once(&mut f).await {
                            // Nothing written since the last sync.
                            Some(synced) => {
                                wal.complete_sync(synced).expect("no-op sync");
                            }
                            None => in_flight.push(f),
                        }
                    }
                    73..=96 if !in_flight.is_empty() => {
                        let i = rng.gen_range(0..in_flight.len());
                        let synced = in_flight.remove(i).await;
                        if synced.as_ref().is_ok_and(|p| *p < wal.written()) {
                            cov.overlapped += 1;
                        }
                        wal.complete_sync(synced).expect("sync without faults");
                    }
                    97..=99 => {
                        let upto = rng.gen_range(0..=current.last_index());
                        wal.purge(upto).await.expect("purge without faults");
                    }
                    _ => {}
                }
            }
            // Maybe a failing write at the very end.
            if rng.gen_bool(0.3) {
                disk.set_fail_after(Some(rng.gen_range(0..4)));
                if let Ok(at) = wal.write().await {
                    writes.push((at, ops.len()));
                }
            }
            let durable = wal.durable();
            let acked = writes
                .iter()
                .filter(|(at, _)| *at <= durable)
                .map(|(_, n)| *n)
                .max()
                .unwrap_or(0);
            if !in_flight.is_empty() {
                cov.crashed_in_flight += 1;
            }
            drop(in_flight);
            drop(wal);
            disk.crash(rng.gen());

            let (reopened, rec) = open(&disk, opts).await.unwrap_or_else(|e| {
                panic!("seed {seed} round {round}: recovery failed after a crash: {e}")
            });
            let got = Model::from_recovered(&rec);
            let mut candidate = base.clone();
            for op in &ops[..acked] {
                candidate.apply(op);
            }
            let mut matched = candidate == got;
            let mut kept = 0;
            for op in &ops[acked..] {
                if matched {
                    break;
                }
                candidate.apply(op);
                kept += 1;
                matched = candidate == got;
            }
            assert!(
                matched,
                "seed {seed} round {round}: recovered state is not the durable state plus a \
                 prefix of later appends\nacked ops: {acked} of {}\ngot: {got:?}",
                ops.len()
            );
            if acked < ops.len() {
                if kept > 0 {
                    cov.unacked_kept += 1;
                } else {
                    cov.unacked_lost += 1;
                }
            }
            base = got;
            wal = reopened;
        }
    })
}

#[test]
fn after_any_crash_with_syncs_in_flight_durable_records_survive_and_nothing_is_invented() {
    let mut cov = Coverage::default();
    for seed in 0..CASES {
        run_case(seed, &mut cov);
    }
    eprintln!(
        "{CASES} pipelined crash cases: {} crashed with syncs in flight, {} overlapped syncs; \
         unacknowledged ops kept in {} rounds, lost in {}",
        cov.crashed_in_flight, cov.overlapped, cov.unacked_kept, cov.unacked_lost
    );
    let min = CASES as usize / 40;
    assert!(cov.crashed_in_flight > min && cov.overlapped > min);
    assert!(cov.unacked_kept > min && cov.unacked_lost > min);
}
