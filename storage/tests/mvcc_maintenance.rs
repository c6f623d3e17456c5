//! Maintenance operations of `MvccStore`: the hash definition (docs/mvcc.md
//! §1), hashing in steps, defragmentation, and snapshots (§7).

use std::path::Path;

use bytes::Bytes;
use etcq_storage::disk::{Disk, DiskFile, OpenOptions};
use etcq_storage::disk_mem::MemDisk;
use etcq_storage::mvcc::snapshot::{decode_snapshot, SnapshotReader};
use etcq_storage::mvcc::{MvccError, MvccOptions, MvccStore, RangeRequest};
use futures_lite::future::block_on;

type Store = MvccStore<MemDisk>;

const DIR: &str = "/db/mvcc";

fn small_segments() -> MvccOptions {
    MvccOptions {
        segment_bytes: 512,
        ..Default::default()
    }
}

fn open_on(disk: &MemDisk, opts: MvccOptions) -> Store {
    block_on(MvccStore::open(disk.clone(), Path::new(DIR), opts)).expect("open")
}

fn put(s: &mut Store, k: &str, v: &str, lease: i64) -> i64 {
    let mut t = s.write();
    t.put(k.as_bytes(), v.as_bytes(), lease).expect("put");
    t.commit().0
}

fn del(s: &mut Store, k: &str) -> i64 {
    let mut t = s.write();
    t.delete_range(k.as_bytes(), b"").expect("delete");
    t.commit().0
}

fn compact_fully(s: &mut Store) {
    while !block_on(s.compact_step(3)).expect("compact_step") {
        block_on(s.flush()).expect("flush");
    }
}

fn all(s: &Store) -> Vec<(Bytes, Bytes, i64, i64, i64)> {
    s.range(&RangeRequest {
        key: b"\0",
        range_end: b"\0",
        ..Default::default()
    })
    .expect("range")
    .kvs
    .into_iter()
    .map(|kv| {
        (
            kv.key,
            kv.value,
            kv.create_revision,
            kv.mod_revision,
            kv.version,
        )
    })
    .collect()
}

/// One change as docs/mvcc.md §1 feeds it to the CRC.
struct Change<'a> {
    key: &'a str,
    value: &'a str,
    create: i64,
    main: i64,
    sub: u32,
    version: i64,
    lease: i64,
    tombstone: bool,
}

fn crc_of(changes: &[Change<'_>]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for c in changes {
        h.update(&(c.key.len() as u32).to_le_bytes());
        h.update(c.key.as_bytes());
        h.update(&(c.value.len() as u32).to_le_bytes());
        h.update(c.value.as_bytes());
        h.update(&c.create.to_le_bytes());
        h.update(&c.main.to_le_bytes());
        h.update(&c.sub.to_le_bytes());
        h.update(&c.version.to_le_bytes());
        h.update(&c.lease.to_le_bytes());
        h.update(&[u8::from(c.tombstone)]);
    }
    h.finalize()
}

#[test]
fn hash_kv_is_the_documented_crc_over_key_then_revision_order() {
    let disk = MemDisk::new();
    let mut s = open_on(&disk, MvccOptions::default());
    put(&mut s, "b", "1", 0); // 2
    put(&mut s, "a", "x", 7); // 3
    del(&mut s, "b"); // 4
    put(&mut s, "b", "22", 0); // 5
    {
        // One revision, two changes: sub 0 and 1.
        let mut t = s.write();
        t.put(b"c", b"p", 0).expect("put");
        t.put(b"a", b"y", 0).expect("put");
        t.commit(); // 6
    }
    let c = |key, value, create, main, sub, version, lease, tombstone| Change {
        key,
        value,
        create,
        main,
        sub,
        version,
        lease,
        tombstone,
    };
    let a3 = c("a", "x", 3, 3, 0, 1, 7, false);
    let a6 = c("a", "y", 3, 6, 1, 2, 0, false);
    let b2 = c("b", "1", 2, 2, 0, 1, 0, false);
    let b4 = c("b", "", 0, 4, 0, 0, 0, true);
    let b5 = c("b", "22", 5, 5, 0, 1, 0, false);
    let c6 = c("c", "p", 6, 6, 0, 1, 0, false);
    assert_eq!(
        s.hash_kv(0).expect("hash"),
        (crc_of(&[a3, a6, b2, b4, b5, c6]), 0)
    );
    let a3 = c("a", "x", 3, 3, 0, 1, 7, false);
    let b2 = c("b", "1", 2, 2, 0, 1, 0, false);
    let b4 = c("b", "", 0, 4, 0, 0, 0, true);
    assert_eq!(s.hash_kv(4).expect("hash"), (crc_of(&[a3, b2, b4]), 0));

    // After compaction at 4 only (4, R] counts, whatever physical compaction did.
    s.compact(4).expect("compact");
    let a6 = c("a", "y", 3, 6, 1, 2, 0, false);
    let b5 = c("b", "22", 5, 5, 0, 1, 0, false);
    let c6 = c("c", "p", 6, 6, 0, 1, 0, false);
    let want = crc_of(&[a6, b5, c6]);
    assert_eq!(s.hash_kv(0).expect("hash"), (want, 4));
    compact_fully(&mut s);
    assert_eq!(s.hash_kv(0).expect("hash"), (want, 4));
    assert!(matches!(s.hash_kv(3), Err(MvccError::Compacted { .. })));
    assert!(matches!(s.hash_kv(7), Err(MvccError::FutureRev { .. })));
}

#[test]
fn hashing_in_steps_gives_the_same_hash_while_writes_go_on() {
    let disk = MemDisk::new();
    let mut s = open_on(&disk, small_segments());
    for i in 0..200 {
        put(&mut s, &format!("k{:03}", i % 37), &format!("v{i}"), 0);
        if i % 9 == 0 {
            del(&mut s, &format!("k{:03}", (i + 5) % 37));
        }
    }
    let rev = s.current_revision();
    let whole = s.hash_kv(rev).expect("hash");
    let mut job = s.hash_kv_begin(0).expect("begin");
    assert_eq!(job.revision(), rev);
    let mut i = 0;
    let stepped = loop {
        if let Some(done) = s.hash_kv_step(&mut job, 4).expect("step") {
            break done;
        }
        // Writes between steps: new keys before and after the cursor, overwrites.
        put(&mut s, &format!("a{i}"), "new", 0);
        put(&mut s, &format!("z{i}"), "new", 0);
        put(&mut s, "k001", "over", 0);
        i += 1;
    };
    assert!(i > 5, "the hash took several steps");
    assert_eq!(stepped, whole);
    assert_ne!(s.hash_kv(0).expect("hash"), whole);

    // A compaction between steps: the job starts over on the new range.
    let mut job = s.hash_kv_begin(rev).expect("begin");
    assert!(s.hash_kv_step(&mut job, 3).expect("step").is_none());
    s.compact(rev - 50).expect("compact");
    let after = loop {
        if let Some(done) = s.hash_kv_step(&mut job, 3).expect("step") {
            break done;
        }
    };
    assert_eq!(after, s.hash_kv(rev).expect("hash"));
    assert_eq!(after.1, rev - 50);
    // ... or fails if the compaction passed its revision.
    let mut job = s.hash_kv_begin(rev).expect("begin");
    s.compact(rev + 1).expect("compact");
    assert!(matches!(
        s.hash_kv_step(&mut job, 3),
        Err(MvccError::Compacted { .. })
    ));
}

fn segment_files(disk: &MemDisk) -> Vec<String> {
    block_on(disk.read_dir(Path::new(DIR)))
        .expect("read dir")
        .into_iter()
        .filter(|n| n.ends_with(".seg"))
        .collect()
}

#[test]
fn defragment_cleans_every_segment_with_garbage_and_shrinks_the_files() {
    let disk = MemDisk::new();
    let opts = MvccOptions {
        segment_bytes: 1024,
        // Ratio-based cleaning alone would leave these segments alone.
        clean_live_ratio: 0.0,
    };
    let mut s = open_on(&disk, opts);
    for round in 0..20 {
        for k in 0..10 {
            put(&mut s, &format!("key{k}"), &format!("value-{round}-{k}"), 0);
        }
    }
    del(&mut s, "key3");
    s.compact(s.current_revision()).expect("compact");
    compact_fully(&mut s);
    block_on(s.checkpoint(1, b"meta")).expect("checkpoint");
    let before = s.db_size_bytes();
    let hash = s.hash_kv(0).expect("hash");
    let data = all(&s);
    assert_eq!(data.len(), 9);

    s.defragment();
    assert!(s.defragmenting());
    let mut steps = 0;
    while !block_on(s.compact_step(5)).expect("compact_step") {
        block_on(s.flush()).expect("flush");
        steps += 1;
        // Writes between steps are fine.
        if steps == 3 {
            put(&mut s, "during", "defrag", 0);
        }
    }
    assert!(steps > 3, "defragmentation ran in steps ({steps})");
    assert!(!s.defragmenting());
    block_on(s.checkpoint(2, b"meta")).expect("checkpoint");
    let after = s.db_size_bytes();
    assert!(
        after * 3 < before,
        "db size {before} -> {after} after defragmentation"
    );
    assert_eq!(
        segment_files(&disk).len() as u64,
        after.div_ceil(1024).max(1)
    );
    let mut data_now = data.clone();
    data_now.push((
        Bytes::from_static(b"during"),
        Bytes::from_static(b"defrag"),
        s.current_revision(),
        s.current_revision(),
        1,
    ));
    data_now.sort();
    assert_eq!(all(&s), data_now);
    assert_ne!(s.hash_kv(0).expect("hash"), hash);

    // Reopening gives the same state.
    let want_hash = s.hash_kv(0).expect("hash");
    drop(s);
    let s = open_on(&disk, opts);
    assert_eq!(all(&s), data_now);
    assert_eq!(s.hash_kv(0).expect("hash"), want_hash);
}

fn read_snapshot(disk: &MemDisk, reader: &mut SnapshotReader<MemDisk>, chunk: usize) -> Vec<u8> {
    let _ = disk;
    let total = reader.total_bytes();
    let mut out = Vec::new();
    while let Some(c) = block_on(reader.next_chunk(chunk)).expect("chunk") {
        assert!(!c.is_empty() && c.len() <= chunk, "chunk of {}", c.len());
        out.extend_from_slice(&c);
        assert_eq!(reader.remaining_bytes(), total - out.len() as u64);
    }
    assert_eq!(out.len() as u64, total);
    // etcdctl 3.4 keeps a snapshot only if its size is k * 512 + 32 (bolt
    // pages plus a SHA-256).
    assert_eq!(out.len() % 512, 32, "size {}", out.len());
    out
}

#[test]
fn a_snapshot_is_the_pinned_checkpoint_and_restores_to_the_same_hash() {
    let disk = MemDisk::new();
    let mut s = open_on(&disk, small_segments());
    for i in 0..60 {
        put(&mut s, &format!("k{}", i % 13), &format!("value {i}"), 0);
    }
    block_on(s.checkpoint(42, b"lessor")).expect("checkpoint");
    let hash = s.hash_kv(0).expect("hash");
    let data = all(&s);
    let rev = s.current_revision();
    let pinned = block_on(s.pin_checkpoint(Path::new("/db/snap/1"))).expect("pin");
    assert_eq!(pinned.applied_index, 42);
    assert_eq!(pinned.revision, rev);
    assert_eq!(pinned.files[0].name, "MANIFEST");
    assert!(
        pinned.files.len() > 3,
        "several segments: {:?}",
        pinned.files
    );

    // Later writes, compaction, cleaning and checkpoints (which delete the
    // cleaned segments' files) do not disturb the pinned copy.
    for i in 0..60 {
        put(&mut s, &format!("k{}", i % 13), &format!("later {i}"), 0);
    }
    s.compact(s.current_revision()).expect("compact");
    compact_fully(&mut s);
    block_on(s.checkpoint(43, b"lessor")).expect("checkpoint");
    let gone = pinned
        .files
        .iter()
        .filter(|f| f.name.ends_with(".seg") && !segment_files(&disk).contains(&f.name))
        .count();
    assert!(gone > 0, "cleaning retired some pinned segments");

    let mut reader = SnapshotReader::new(disk.clone(), pinned.clone());
    let bytes = read_snapshot(&disk, &mut reader, 600);
    let contents = decode_snapshot(&bytes).expect("valid snapshot");
    assert_eq!(
        (
            contents.applied_index,
            contents.revision,
            contents.compact_revision
        ),
        (42, rev, 0)
    );
    assert_eq!(contents.files.len(), pinned.files.len());
    for ((name, data), f) in contents.files.iter().zip(&pinned.files) {
        assert_eq!((name, data.len() as u64), (&f.name, f.len));
    }
    // Another chunk size gives the same bytes.
    let mut reader = SnapshotReader::new(disk.clone(), pinned.clone());
    assert_eq!(read_snapshot(&disk, &mut reader, 32 * 1024), bytes);

    // Any flipped byte is caught by the digest.
    for at in [0, 9, bytes.len() / 2, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x40;
        assert!(decode_snapshot(&bad).is_err(), "flip at {at}");
    }

    // Restore: the files in an empty directory open as the snapshot's state.
    let fresh = MemDisk::new();
    block_on(async {
        fresh.create_dir_all(Path::new(DIR)).await?;
        for (name, data) in &contents.files {
            let f = fresh
                .open(&Path::new(DIR).join(name), OpenOptions::CREATE_BUFFERED)
                .await?;
            f.write_at(0, data).await?;
            f.sync_data().await?;
        }
        fresh.sync_dir(Path::new(DIR)).await
    })
    .expect("restore files");
    let restored = open_on(&fresh, small_segments());
    assert_eq!(restored.checkpoint_index(), 42);
    assert_eq!(restored.checkpoint_meta(), b"lessor");
    assert_eq!(restored.hash_kv(0).expect("hash"), hash);
    assert_eq!(all(&restored), data);

    // Removing the pin leaves the store alone.
    block_on(pinned.remove(&disk)).expect("remove");
    assert!(!block_on(disk.exists(Path::new("/db/snap/1"))).expect("exists"));
    drop(s);
    let s = open_on(&disk, small_segments());
    assert_eq!(s.checkpoint_index(), 43);
}
