//! Offline restore (`etcq_storage::restore`): a snapshot becomes a new
//! member directory whose store and WAL open as the snapshot's state; an
//! existing member is never replaced; a snapshot whose file names would
//! leave the store directory is refused.

use std::path::Path;

use etcq_storage::disk::Disk;
use etcq_storage::disk_mem::MemDisk;
use etcq_storage::mvcc::snapshot::SnapshotReader;
use etcq_storage::mvcc::{MvccOptions, MvccStore, RangeRequest};
use etcq_storage::restore::{self, RestoreError, RESTORED_TERM};
use etcq_storage::wal::{HardState, Wal, WalOptions};
use futures_lite::future::block_on;
use sha2::{Digest, Sha256};

fn snapshot_bytes(disk: &MemDisk, store: &mut MvccStore<MemDisk>, index: u64) -> Vec<u8> {
    block_on(store.checkpoint(index, b"lessor state")).expect("checkpoint");
    let pinned = block_on(store.pin_checkpoint(Path::new("/src/snap/1"))).expect("pin");
    let mut reader = SnapshotReader::new(disk.clone(), pinned);
    let mut out = Vec::new();
    while let Some(chunk) = block_on(reader.next_chunk(32 * 1024)).expect("chunk") {
        out.extend_from_slice(&chunk);
    }
    out
}

/// A fresh store to take snapshots of, on its own in-memory disk.
fn source_store() -> (MemDisk, MvccStore<MemDisk>) {
    let disk = MemDisk::new();
    let store = block_on(MvccStore::open(
        disk.clone(),
        Path::new("/src/mvcc"),
        MvccOptions::default(),
    ))
    .expect("open");
    (disk, store)
}

fn wal_options() -> WalOptions {
    WalOptions {
        segment_bytes: WalOptions::SEGMENT_BYTES_MIN,
    }
}

#[test]
fn a_restored_member_opens_at_the_snapshots_revision_with_its_keys() {
    let (disk, mut src) = source_store();
    for i in 0..50 {
        let mut t = src.write();
        t.put(
            format!("k{:02}", i % 20).as_bytes(),
            format!("v{i}").as_bytes(),
            0,
        )
        .expect("put");
        t.commit();
    }
    let revision = src.current_revision();
    let bytes = snapshot_bytes(&disk, &mut src, 77);
    let contents = restore::decode(&bytes, Path::new("snap.db")).expect("valid");

    let target = MemDisk::new();
    let restored = block_on(restore::restore(
        target.clone(),
        &contents,
        Path::new("/new"),
        wal_options(),
    ))
    .expect("restore");
    assert_eq!(restored.member_dir, Path::new("/new/member"));
    assert_eq!((restored.applied_index, restored.revision), (77, revision));
    assert!(!block_on(restore::unfinished(&target, Path::new("/new/member"))).expect("marker"));

    // The WAL says: everything up to the checkpoint is in the store.
    let (_wal, recovered) = block_on(Wal::open(
        target.clone(),
        Path::new("/new/member/wal"),
        wal_options(),
    ))
    .expect("wal");
    let marker = recovered.snapshot.expect("snapshot marker");
    assert_eq!((marker.index, marker.term), (77, RESTORED_TERM));
    assert_eq!(
        recovered.hard_state,
        Some(HardState {
            term: RESTORED_TERM,
            vote: 0,
            commit: 77
        })
    );
    assert!(recovered.entries.is_empty());

    let store = block_on(MvccStore::open(
        target.clone(),
        Path::new("/new/member/mvcc"),
        MvccOptions::default(),
    ))
    .expect("restored store");
    assert_eq!(store.current_revision(), revision);
    assert_eq!(store.checkpoint_index(), 77);
    assert_eq!(store.checkpoint_meta(), b"lessor state");
    let all = store
        .range(&RangeRequest {
            key: b"k",
            range_end: b"l",
            revision: 0,
            limit: 0,
            keys_only: false,
            count_only: false,
        })
        .expect("range");
    assert_eq!(all.kvs.len(), 20);
    assert_eq!(all.kvs[9].value, b"v49".to_vec());

    // A second restore into the same data dir refuses and changes nothing.
    match block_on(restore::restore(
        target.clone(),
        &contents,
        Path::new("/new"),
        wal_options(),
    )) {
        Err(RestoreError::Exists { path }) => assert_eq!(path, Path::new("/new/member")),
        other => panic!("expected Exists, got {other:?}"),
    }
}

/// A well-formed snapshot (valid digest and padding) naming `name`.
fn crafted(name: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(b"ETCQSNP1");
    body.extend_from_slice(&1u64.to_le_bytes());
    body.extend_from_slice(&1i64.to_le_bytes());
    body.extend_from_slice(&0i64.to_le_bytes());
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&(name.len() as u16).to_le_bytes());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(&3u64.to_le_bytes());
    body.extend_from_slice(b"abc");
    while body.len() % 512 != 0 {
        body.push(0);
    }
    let digest = Sha256::digest(&body);
    body.extend_from_slice(&digest);
    body
}

#[test]
fn snapshots_are_checked_before_anything_is_written() {
    assert!(restore::decode(&crafted("MANIFEST"), Path::new("ok.db")).is_ok());
    for name in ["../escape", "a/b", "..", ""] {
        match restore::decode(&crafted(name), Path::new("evil.db")) {
            Err(RestoreError::BadSnapshot { path, reason }) => {
                assert_eq!(path, Path::new("evil.db"));
                assert!(reason.contains("plain file name"), "{reason}");
            }
            other => panic!("{name:?}: expected a refusal, got {other:?}"),
        }
    }
    let mut flipped = crafted("MANIFEST");
    flipped[40] ^= 1;
    match restore::decode(&flipped, Path::new("flip.db")) {
        Err(RestoreError::BadSnapshot { reason, .. }) => assert!(reason.contains("SHA-256")),
        other => panic!("expected a digest refusal, got {other:?}"),
    }
}

#[test]
fn a_restore_cut_short_is_marked_unfinished_and_redone() {
    let (disk, mut src) = source_store();
    let mut t = src.write();
    t.put(b"k", b"v", 0).expect("put");
    t.commit();
    let bytes = snapshot_bytes(&disk, &mut src, 5);
    let contents = restore::decode(&bytes, Path::new("snap.db")).expect("valid");

    // Fail the restore at every step in turn: what is left is either
    // marked unfinished or no member at all, and a new restore succeeds.
    let mut completed = false;
    for budget in 0..200 {
        let target = MemDisk::new();
        target.set_fail_after(Some(budget));
        let result = block_on(restore::restore(
            target.clone(),
            &contents,
            Path::new("/d"),
            wal_options(),
        ));
        target.set_fail_after(None);
        let member = Path::new("/d/member");
        if result.is_ok() {
            completed = true;
            break;
        }
        let exists = block_on(target.exists(member)).expect("exists");
        let empty = !exists || block_on(target.read_dir(member)).expect("list").is_empty();
        if !empty && !block_on(restore::unfinished(&target, member)).expect("marker") {
            // Failed after removing the marker (its directory sync): the
            // member is complete.
            let store = block_on(MvccStore::open(
                target.clone(),
                &member.join("mvcc"),
                MvccOptions::default(),
            ))
            .unwrap_or_else(|e| panic!("budget {budget}: unmarked member does not open: {e}"));
            assert_eq!(store.checkpoint_index(), 5, "budget {budget}");
            continue;
        }
        block_on(restore::restore(
            target.clone(),
            &contents,
            Path::new("/d"),
            wal_options(),
        ))
        .unwrap_or_else(|e| panic!("budget {budget}: redo failed: {e}"));
        assert!(!block_on(restore::unfinished(&target, member)).expect("marker"));
    }
    assert!(completed, "some budget lets the restore finish");
}
