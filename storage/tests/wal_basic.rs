//! The WAL's contract, one claim per test: round trip, rolling, purge, reopen,
//! corruption is refused, a full disk is reported and then fatal.

mod wal_common;

use etcq_storage::disk::{Disk, DiskFile, OpenOptions};
use etcq_storage::disk_glommio::GlommioDisk;
use etcq_storage::disk_mem::MemDisk;
use etcq_storage::wal::{HardState, SnapshotMarker, Wal, WalError, WalOptions};
use wal_common::*;

#[test]
fn synced_entries_hard_state_and_snapshot_come_back_after_reopen() {
    block_on(async {
        let disk = MemDisk::new();
        let (mut wal, rec) = open(&disk, small()).await.expect("open empty");
        assert_eq!(rec, Default::default());
        for i in 1..=10 {
            wal.append_entry(i, 1, &data_for(i, 100));
        }
        wal.set_hard_state(HardState {
            term: 1,
            vote: 2,
            commit: 7,
        });
        assert!(wal.pending_bytes() > 1000);
        wal.sync().await.expect("sync");
        assert_eq!(wal.pending_bytes(), 0);
        assert_eq!(wal.last_index(), 10);
        drop(wal);

        let (wal, rec) = open(&disk, small()).await.expect("reopen");
        assert_eq!(
            rec.hard_state,
            Some(HardState {
                term: 1,
                vote: 2,
                commit: 7
            })
        );
        assert_eq!(rec.snapshot, None);
        let indexes: Vec<u64> = rec.entries.iter().map(|e| e.index).collect();
        assert_eq!(indexes, (1..=10).collect::<Vec<_>>());
        for e in &rec.entries {
            assert_eq!(e.data, data_for(e.index, 100));
        }
        assert_eq!(wal.last_index(), 10);
    });
}

#[test]
fn unsynced_appends_are_not_recovered_after_a_clean_drop() {
    block_on(async {
        let disk = MemDisk::new();
        let (mut wal, _) = open(&disk, small()).await.expect("open");
        wal.append_entry(1, 1, b"one");
        wal.sync().await.expect("sync");
        wal.append_entry(2, 1, b"two");
        drop(wal);
        let (_, rec) = open(&disk, small()).await.expect("reopen");
        assert_eq!(rec.entries.len(), 1);
    });
}

#[test]
fn a_later_entry_at_an_index_replaces_that_entry_and_all_after_it() {
    block_on(async {
        let disk = MemDisk::new();
        let (mut wal, _) = open(&disk, small()).await.expect("open");
        for i in 1..=5 {
            wal.append_entry(i, 1, b"old");
        }
        wal.sync().await.expect("sync");
        wal.append_entry(3, 2, b"new");
        wal.sync().await.expect("sync");
        assert_eq!(wal.last_index(), 3);
        drop(wal);
        let (_, rec) = open(&disk, small()).await.expect("reopen");
        let got: Vec<(u64, u64, &[u8])> = rec
            .entries
            .iter()
            .map(|e| (e.index, e.term, &e.data[..]))
            .collect();
        assert_eq!(
            got,
            vec![(1, 1, &b"old"[..]), (2, 1, b"old"), (3, 2, b"new")]
        );
    });
}

#[test]
fn one_sync_is_one_write_and_one_fdatasync() {
    block_on(async {
        let disk = MemDisk::new();
        let (mut wal, _) = open(&disk, small()).await.expect("open");
        for i in 1..=50 {
            wal.append_entry(i, 1, &data_for(i, 40));
        }
        // Exactly two operations may run: the write and the fdatasync.
        disk.set_fail_after(Some(2));
        wal.sync()
            .await
            .expect("a batch within a segment costs one write + one sync");
    });
}

#[test]
fn records_roll_across_many_small_segments_and_all_come_back() {
    block_on(async {
        let disk = MemDisk::new();
        let opts = WalOptions {
            segment_bytes: 8 << 10,
        };
        let (mut wal, _) = open(&disk, opts).await.expect("open");
        let mut index = 0;
        for batch in 0..40u64 {
            for _ in 0..(batch % 7 + 1) {
                index += 1;
                wal.append_entry(
                    index,
                    1 + batch / 10,
                    &data_for(index, 300 + (index as usize % 5) * 200),
                );
            }
            wal.set_hard_state(HardState {
                term: 1 + batch / 10,
                vote: 1,
                commit: index,
            });
            wal.sync().await.expect("sync");
        }
        let wal_segments = wal.segment_count();
        assert!(wal.segment_count() > 10, "{} segments", wal.segment_count());
        drop(wal);
        let paths = segment_paths(&disk, &dir()).await;
        assert_eq!(paths.len(), wal_segments);
        let (wal, rec) = open(&disk, opts).await.expect("reopen");
        assert_eq!(rec.entries.len() as u64, index);
        for (k, e) in rec.entries.iter().enumerate() {
            assert_eq!(e.index, k as u64 + 1);
            assert_eq!(
                e.data,
                data_for(e.index, 300 + (e.index as usize % 5) * 200)
            );
        }
        assert_eq!(rec.hard_state.map(|h| h.commit), Some(index));
        assert_eq!(
            wal.segment_count(),
            paths.len() + 1,
            "open starts a fresh segment"
        );
    });
}

#[test]
fn a_batch_larger_than_a_segment_spans_several_new_segments() {
    block_on(async {
        let disk = MemDisk::new();
        let opts = WalOptions {
            segment_bytes: 8 << 10,
        };
        let (mut wal, _) = open(&disk, opts).await.expect("open");
        for i in 1..=30 {
            wal.append_entry(i, 1, &data_for(i, 2000));
        }
        wal.sync().await.expect("sync");
        drop(wal);
        let (_, rec) = open(&disk, opts).await.expect("reopen");
        assert_eq!(rec.entries.len(), 30);
    });
}

#[test]
fn purge_deletes_whole_segments_covered_by_the_durable_snapshot_only() {
    block_on(async {
        let disk = MemDisk::new();
        let opts = WalOptions {
            segment_bytes: 8 << 10,
        };
        let (mut wal, _) = open(&disk, opts).await.expect("open");
        for i in 1..=100 {
            wal.append_entry(i, 1, &data_for(i, 500));
            wal.sync().await.expect("sync");
        }
        wal.set_hard_state(HardState {
            term: 3,
            vote: 1,
            commit: 100,
        });
        wal.sync().await.expect("sync");
        let before = wal.segment_count();
        assert_eq!(
            wal.purge(60).await.expect("purge"),
            0,
            "no snapshot marker: nothing to purge"
        );

        wal.set_snapshot(60, 1);
        assert_eq!(
            wal.purge(60).await.expect("purge"),
            0,
            "the marker is not durable yet"
        );
        wal.sync().await.expect("sync");
        let removed = wal.purge(1000).await.expect("purge");
        assert!(
            removed > 0 && removed < before,
            "removed {removed} of {before}"
        );
        assert_eq!(wal.segment_count(), before - removed);
        drop(wal);

        let (mut wal, rec) = open(&disk, opts).await.expect("reopen after purge");
        assert_eq!(rec.snapshot, Some(SnapshotMarker { index: 60, term: 1 }));
        assert_eq!(
            rec.hard_state,
            Some(HardState {
                term: 3,
                vote: 1,
                commit: 100
            })
        );
        let indexes: Vec<u64> = rec.entries.iter().map(|e| e.index).collect();
        assert_eq!(indexes, (61..=100).collect::<Vec<_>>());

        // Everything sealed is purgeable once the snapshot covers it; the
        // active segment (with the HardState and marker copies) stays.
        wal.set_snapshot(100, 1);
        wal.sync().await.expect("sync");
        wal.purge(100).await.expect("purge");
        assert_eq!(wal.segment_count(), 1);
        drop(wal);
        let (_, rec) = open(&disk, opts).await.expect("reopen after full purge");
        assert_eq!(
            rec.snapshot,
            Some(SnapshotMarker {
                index: 100,
                term: 1
            })
        );
        assert_eq!(
            rec.hard_state,
            Some(HardState {
                term: 3,
                vote: 1,
                commit: 100
            })
        );
        assert!(rec.entries.is_empty());
    });
}

#[test]
fn reopen_then_append_continues_the_log() {
    block_on(async {
        let disk = MemDisk::new();
        for round in 0..5u64 {
            let (mut wal, rec) = open(&disk, small()).await.expect("open");
            assert_eq!(rec.entries.len() as u64, round * 10);
            assert_eq!(wal.last_index(), round * 10);
            for i in round * 10 + 1..=round * 10 + 10 {
                wal.append_entry(i, round + 1, &data_for(i, 64));
            }
            wal.sync().await.expect("sync");
        }
        let (_, rec) = open(&disk, small()).await.expect("open");
        assert_eq!(rec.entries.len(), 50);
        assert_eq!(rec.entries[49].term, 5);
    });
}

#[test]
fn entries_after_a_snapshot_jump_start_above_the_marker() {
    block_on(async {
        let disk = MemDisk::new();
        let (mut wal, _) = open(&disk, small()).await.expect("open");
        for i in 1..=5 {
            wal.append_entry(i, 1, b"x");
        }
        wal.set_snapshot(100, 4); // a follower installs a snapshot from the leader
        assert_eq!(wal.last_index(), 100);
        wal.append_entry(101, 4, b"y");
        wal.sync().await.expect("sync");
        drop(wal);
        let (_, rec) = open(&disk, small()).await.expect("reopen");
        assert_eq!(
            rec.snapshot,
            Some(SnapshotMarker {
                index: 100,
                term: 4
            })
        );
        assert_eq!(rec.entries.len(), 1);
        assert_eq!(rec.entries[0].index, 101);
    });
}

/// Fixed-size entries so record offsets are known: the first segment starts
/// with a 64-byte header record, then 144-byte entry records (100 data bytes).
const FIRST_ENTRY_OFFSET: u64 = 64;
const ENTRY_RECORD_BYTES: u64 = 144;

#[test]
fn a_flipped_bit_in_a_sealed_segment_fails_recovery_naming_file_and_offset() {
    block_on(async {
        let disk = MemDisk::new();
        let opts = WalOptions {
            segment_bytes: 8 << 10,
        };
        let (mut wal, _) = open(&disk, opts).await.expect("open");
        for i in 1..=200 {
            wal.append_entry(i, 1, &data_for(i, 100));
        }
        wal.sync().await.expect("sync");
        drop(wal);
        let first = segment_paths(&disk, &dir()).await.remove(0);
        let record = FIRST_ENTRY_OFFSET + 5 * ENTRY_RECORD_BYTES;
        disk.flip_bit(&first, record + 60, 2).expect("flip");
        match open(&disk, opts).await {
            Err(WalError::Corrupt {
                path,
                offset,
                reason,
            }) => {
                assert_eq!(path, first);
                assert_eq!(offset, record, "{reason}");
                let msg = WalError::Corrupt {
                    path,
                    offset,
                    reason,
                }
                .to_string();
                assert!(
                    msg.contains("0000000000000001-0000000000000001.wal")
                        && msg.contains("offset 784")
                );
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    });
}

#[test]
fn a_flipped_bit_in_the_last_segment_with_valid_records_after_it_is_corruption() {
    for one_batch in [false, true] {
        block_on(async {
            let disk = MemDisk::new();
            let (mut wal, _) = open(&disk, small()).await.expect("open");
            for i in 1..=20 {
                wal.append_entry(i, 1, &data_for(i, 100));
                if !one_batch {
                    wal.sync().await.expect("sync");
                }
            }
            wal.sync().await.expect("sync");
            drop(wal);
            // The log was opened once on an empty directory: one segment, the last.
            let paths = segment_paths(&disk, &dir()).await;
            assert_eq!(paths.len(), 1);
            let record = FIRST_ENTRY_OFFSET + 10 * ENTRY_RECORD_BYTES;
            disk.flip_bit(&paths[0], record + 40, 0).expect("flip");
            match open(&disk, small()).await {
                Err(WalError::Corrupt { path, offset, .. }) => {
                    assert_eq!(
                        (path, offset),
                        (paths[0].clone(), record),
                        "one batch: {one_batch}"
                    );
                }
                other => panic!("expected Corrupt (one batch: {one_batch}), got {other:?}"),
            }
        });
    }
}

#[test]
fn a_damaged_length_in_the_last_segment_is_corruption_when_records_follow() {
    block_on(async {
        let disk = MemDisk::new();
        let (mut wal, _) = open(&disk, small()).await.expect("open");
        for i in 1..=20 {
            wal.append_entry(i, 1, &data_for(i, 100));
        }
        wal.sync().await.expect("sync");
        drop(wal);
        let path = segment_paths(&disk, &dir()).await.remove(0);
        let record = FIRST_ENTRY_OFFSET + 3 * ENTRY_RECORD_BYTES;
        disk.flip_bit(&path, record + 1, 4)
            .expect("flip a bit of the length"); // +4096
        match open(&disk, small()).await {
            Err(WalError::Corrupt { offset, .. }) => assert_eq!(offset, record),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    });
}

#[test]
fn a_full_disk_is_no_space_and_then_every_call_is_previous_io() {
    block_on(async {
        let disk = MemDisk::new();
        let opts = WalOptions {
            segment_bytes: 16 << 10,
        };
        let (mut wal, _) = open(&disk, opts).await.expect("open");
        disk.set_space_limit(Some(24 << 10)); // room for the first segment only
        let mut i = 0;
        let err = loop {
            i += 1;
            wal.append_entry(i, 1, &data_for(i, 1000));
            if let Err(e) = wal.sync().await {
                break e;
            }
            assert!(i < 100, "the disk never filled up");
        };
        assert!(matches!(err, WalError::NoSpace { .. }), "{err:?}");
        assert!(err.to_string().contains("no space left on device"));
        wal.append_entry(i + 1, 1, b"more");
        assert!(matches!(wal.sync().await, Err(WalError::PreviousIo)));
        assert!(matches!(wal.purge(0).await, Err(WalError::PreviousIo)));
        drop(wal);

        // Once space is back, recovery keeps what was acknowledged.
        disk.set_space_limit(None);
        let (_, rec) = open(&disk, opts).await.expect("reopen");
        assert_eq!(rec.entries.len() as u64, i - 1);
    });
}

#[test]
fn an_injected_write_failure_poisons_the_wal() {
    block_on(async {
        let disk = MemDisk::new();
        let (mut wal, _) = open(&disk, small()).await.expect("open");
        wal.append_entry(1, 1, b"a");
        disk.set_fail_after(Some(1)); // the write passes, the fdatasync fails
        assert!(matches!(
            wal.sync().await,
            Err(WalError::Io {
                op: "sync segment",
                ..
            })
        ));
        disk.set_fail_after(None);
        assert!(matches!(wal.sync().await, Err(WalError::PreviousIo)));
    });
}

#[test]
fn malformed_wal_names_and_missing_segments_are_refused() {
    block_on(async {
        let disk = MemDisk::new();
        disk.create_dir_all(&dir()).await.expect("mkdir");
        let f = disk
            .open(&dir().join("junk.wal"), OpenOptions::CREATE_BUFFERED)
            .await
            .expect("create");
        f.write_at(0, b"x").await.expect("write");
        assert!(matches!(
            open(&disk, small()).await,
            Err(WalError::Inconsistent { .. })
        ));
        disk.remove(&dir().join("junk.wal")).await.expect("rm");

        // A lost middle segment shows up as entries missing below the rest.
        let opts = WalOptions {
            segment_bytes: 8 << 10,
        };
        let (mut wal, _) = open(&disk, opts).await.expect("open");
        for i in 1..=60 {
            wal.append_entry(i, 1, &data_for(i, 500));
        }
        wal.sync().await.expect("sync");
        drop(wal);
        let paths = segment_paths(&disk, &dir()).await;
        disk.remove(&paths[1]).await.expect("rm");
        assert!(matches!(
            open(&disk, opts).await,
            Err(WalError::Inconsistent { .. })
        ));
    });
}

#[test]
fn the_wal_runs_on_the_real_disk() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let wal_dir = tmp.path().join("wal");
    let ex = glommio::LocalExecutorBuilder::default()
        .make()
        .expect("executor");
    ex.run(async move {
        let opts = WalOptions {
            segment_bytes: 64 << 10,
        };
        let (mut wal, _) = Wal::open(GlommioDisk::new(), &wal_dir, opts)
            .await
            .expect("open");
        for i in 1..=300 {
            wal.append_entry(i, 1, &data_for(i, 700));
            if i % 7 == 0 {
                wal.set_hard_state(HardState {
                    term: 1,
                    vote: 1,
                    commit: i,
                });
                wal.sync().await.expect("sync");
            }
        }
        wal.sync().await.expect("sync");
        assert!(wal.segment_count() > 3);
        drop(wal);
        let (_, rec) = Wal::open(GlommioDisk::new(), &wal_dir, opts)
            .await
            .expect("reopen");
        assert_eq!(rec.entries.len(), 300);
        assert_eq!(rec.entries[299].data, data_for(300, 700));
        assert_eq!(rec.hard_state.map(|h| h.commit), Some(294));
    });
}

#[test]
fn a_damaged_record_with_an_all_zero_sector_is_corruption_when_a_later_batch_follows() {
    block_on(async {
        let disk = MemDisk::new();
        let (mut wal, _) = open(&disk, small()).await.expect("open");
        for i in 1..=5 {
            // Entry 3 holds a whole sector of zeros: alone, it would look torn.
            let data = if i == 3 {
                vec![0u8; 1100]
            } else {
                data_for(i, 100)
            };
            wal.append_entry(i, 1, &data);
            wal.sync().await.expect("sync"); // one batch per entry
        }
        drop(wal);
        let path = segment_paths(&disk, &dir()).await.remove(0);
        let record = FIRST_ENTRY_OFFSET + 2 * ENTRY_RECORD_BYTES;
        disk.flip_bit(&path, record + 16, 0)
            .expect("flip a bit of the entry index");
        match open(&disk, small()).await {
            Err(WalError::Corrupt { offset, reason, .. }) => {
                assert_eq!(offset, record);
                assert!(reason.contains("written later"), "{reason}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    });
}

#[test]
fn a_header_that_cannot_be_one_is_corruption_even_at_the_tail() {
    block_on(async {
        let disk = MemDisk::new();
        let (mut wal, _) = open(&disk, small()).await.expect("open");
        wal.append_entry(1, 1, &data_for(1, 100));
        wal.sync().await.expect("sync");
        drop(wal);
        let path = segment_paths(&disk, &dir()).await.remove(0);
        disk.flip_bit(&path, FIRST_ENTRY_OFFSET + 12, 5)
            .expect("flip a bit of the kind");
        match open(&disk, small()).await {
            Err(WalError::Corrupt { offset, .. }) => assert_eq!(offset, FIRST_ENTRY_OFFSET),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    });
}

#[test]
fn a_spare_made_ahead_becomes_the_next_segment_and_one_left_behind_is_removed() {
    block_on(async {
        let disk = MemDisk::new();
        let spare = dir().join("next-segment.ready");
        let (mut wal, _) = open(&disk, small()).await.expect("open");
        let make = wal.prepare_spare().expect("no spare yet");
        assert!(wal.prepare_spare().is_none(), "one spare at a time");
        make.await;
        assert!(disk.exists(&spare).await.expect("exists"));
        let before = segment_paths(&disk, &dir()).await.len();
        let mut i = 0;
        while segment_paths(&disk, &dir()).await.len() == before {
            i += 1;
            wal.append_entry(i, 1, &data_for(i, 700));
            wal.sync().await.expect("sync");
        }
        assert!(
            !disk.exists(&spare).await.expect("exists"),
            "the new segment is the spare, renamed"
        );
        let make = wal.prepare_spare().expect("the next spare");
        make.await;
        drop(wal);
        let (_, rec) = open(&disk, small()).await.expect("reopen");
        assert_eq!(rec.entries.len() as u64, i);
        assert_eq!(
            rec.entries.last().map(|e| e.data.to_vec()),
            Some(data_for(i, 700))
        );
        assert!(
            !disk.exists(&spare).await.expect("exists"),
            "a complete spare left by the last run became the reopened WAL's new segment"
        );
        // One half made (still under its tmp name) is removed at open.
        let tmp = dir().join("next-segment.tmp");
        disk.open(&tmp, OpenOptions::CREATE_DIRECT)
            .await
            .expect("create");
        let (mut wal, _) = open(&disk, small()).await.expect("reopen");
        assert!(!disk.exists(&tmp).await.expect("exists"));
        assert!(wal.prepare_spare().is_some(), "none ready: one is made");
    });
}

#[test]
fn on_the_real_disk_segments_have_their_blocks_written_not_only_reserved() {
    // fallocate alone leaves "unwritten" extents: a direct write into them
    // blocks (io_uring hands it to a worker) and its fdatasync also writes
    // the inode. The WAL's segments (in place or spare) are written with
    // zeros when made; filefrag would say "unwritten" otherwise, so check
    // the extent flags with FIEMAP.
    let tmp = tempfile::tempdir().expect("tempdir");
    let wal_dir = tmp.path().join("wal");
    let ex = glommio::LocalExecutorBuilder::default()
        .make()
        .expect("executor");
    ex.run(async move {
        let opts = WalOptions {
            segment_bytes: 256 << 10,
        };
        let (mut wal, _) = Wal::open(GlommioDisk::new(), &wal_dir, opts)
            .await
            .expect("open");
        let make = wal.prepare_spare().expect("spare");
        make.await;
        let spare = wal_dir.join("next-segment.ready");
        let segments: Vec<_> = std::fs::read_dir(&wal_dir)
            .expect("list")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(segments.len(), 2, "{segments:?}");
        for path in segments.iter().chain([&spare]) {
            assert!(
                !has_unwritten_extents(path),
                "{} has unwritten extents",
                path.display()
            );
        }
    });
}

/// Whether FIEMAP reports an extent flagged unwritten (or cannot tell:
/// then `false`, as on file systems without extents).
fn has_unwritten_extents(path: &std::path::Path) -> bool {
    use std::os::fd::AsRawFd;
    const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
    const FIEMAP_EXTENT_UNWRITTEN: u32 = 0x800;
    const EXTENTS: usize = 64;
    #[repr(C)]
    struct Extent {
        logical: u64,
        physical: u64,
        length: u64,
        reserved64: [u64; 2],
        flags: u32,
        reserved: [u32; 3],
    }
    #[repr(C)]
    struct Fiemap {
        start: u64,
        length: u64,
        flags: u32,
        mapped_extents: u32,
        extent_count: u32,
        reserved: u32,
        extents: [Extent; EXTENTS],
    }
    let file = std::fs::File::open(path).expect("open");
    // SAFETY: Fiemap is plain old data; all-zero is a valid value.
    let mut map: Fiemap = unsafe { std::mem::zeroed() };
    map.length = u64::MAX;
    map.extent_count = EXTENTS as u32;
    // SAFETY: FS_IOC_FIEMAP reads and fills a `struct fiemap` with room for
    // `extent_count` extents, which `map` has.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), FS_IOC_FIEMAP, &mut map) };
    if rc != 0 {
        return false;
    }
    map.extents[..map.mapped_extents as usize]
        .iter()
        .any(|e| e.flags & FIEMAP_EXTENT_UNWRITTEN != 0)
}
