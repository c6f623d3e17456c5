//! Property test: the WAL behaves like a simple model (a Vec of entries plus the
//! last HardState and snapshot marker) over random appends, conflicts, syncs and
//! reopens. A reopen without a crash returns exactly what was synced.

mod wal_common;

use etcq_storage::disk_mem::MemDisk;
use etcq_storage::wal::{HardState, WalOptions};
use proptest::prelude::*;
use wal_common::*;

#[derive(Debug, Clone)]
enum Step {
    /// Append at `last + 1`, or `back` entries earlier (a conflict) if `back > 0`.
    Append {
        back: u8,
        term_bump: bool,
        len: u16,
    },
    HardState {
        vote: u8,
        commit_back: u8,
    },
    Snapshot {
        back: u8,
    },
    Sync,
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0u8..4, any::<bool>(), 0u16..3000)
            .prop_map(|(back, term_bump, len)| Step::Append { back: if back == 3 { 2 } else { 0 }, term_bump, len }),
        2 => (0u8..3, 0u8..5).prop_map(|(vote, commit_back)| Step::HardState { vote, commit_back }),
        1 => (0u8..10).prop_map(|back| Step::Snapshot { back }),
        3 => Just(Step::Sync),
        1 => Just(Step::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn wal_matches_the_model(steps in prop::collection::vec(step(), 1..120), small_segments in any::<bool>()) {
        let opts = WalOptions { segment_bytes: if small_segments { 8 << 10 } else { 64 << 10 } };
        block_on(async {
            let disk = MemDisk::new();
            let (mut wal, _) = open(&disk, opts).await.expect("open");
            let mut current = Model::default();
            let mut synced = Model::default();
            let mut term = 1;
            for (n, step) in steps.iter().enumerate() {
                let op = match *step {
                    Step::Append { back, term_bump, len } => {
                        let last = current.last_index();
                        let floor = current.snapshot_index() + 1;
                        let index = (last + 1).saturating_sub(u64::from(back)).max(floor);
                        term += u64::from(term_bump);
                        Some(Op::Append { index, term, data: data_for(n as u64, usize::from(len)) })
                    }
                    Step::HardState { vote, commit_back } => Some(Op::HardState(HardState {
                        term,
                        vote: u64::from(vote),
                        commit: current.last_index().saturating_sub(u64::from(commit_back)),
                    })),
                    Step::Snapshot { back } => {
                        let index = current.last_index().saturating_sub(u64::from(back)).max(current.snapshot_index());
                        Some(Op::Snapshot { index, term })
                    }
                    Step::Sync => {
                        wal.sync().await.expect("sync");
                        synced = current.clone();
                        None
                    }
                    Step::Reopen => {
                        drop(wal);
                        let (w, rec) = open(&disk, opts).await.expect("reopen");
                        prop_assert_eq!(&Model::from_recovered(&rec), &synced, "after step {}", n);
                        prop_assert_eq!(w.last_index(), synced.last_index());
                        wal = w;
                        current = synced.clone();
                        None
                    }
                };
                if let Some(op) = op {
                    apply_to_wal(&mut wal, &op);
                    current.apply(&op);
                    prop_assert_eq!(wal.last_index(), current.last_index());
                }
            }
            wal.sync().await.expect("sync");
            drop(wal);
            let (_, rec) = open(&disk, opts).await.expect("final reopen");
            prop_assert_eq!(&Model::from_recovered(&rec), &current);
            Ok(())
        })?;
    }
}
