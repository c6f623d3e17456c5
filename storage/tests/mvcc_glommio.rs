//! Smoke tests of `MvccStore` on the real disk (`GlommioDisk`, io_uring +
//! mmap) in a temporary directory.

use etcq_storage::disk_glommio::GlommioDisk;
use etcq_storage::mvcc::{MvccOptions, MvccStore, RangeRequest};

fn all() -> RangeRequest<'static> {
    RangeRequest {
        key: b"\0",
        range_end: b"\0",
        ..Default::default()
    }
}

#[test]
fn the_store_survives_a_restart_on_the_real_disk() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("mvcc");
    let ex = glommio::LocalExecutorBuilder::default()
        .make()
        .expect("executor");
    ex.run(async move {
        let opts = MvccOptions {
            segment_bytes: 16 << 10,
            ..Default::default()
        };
        let mut s = MvccStore::open(GlommioDisk::new(), &dir, opts)
            .await
            .expect("open");
        for i in 0..2000u32 {
            let mut t = s.write();
            t.put(format!("key{:03}", i % 300).as_bytes(), &[i as u8; 100], 0)
                .expect("put");
            t.commit();
            if i % 100 == 0 {
                s.flush().await.expect("flush");
            }
        }
        s.compact(1500).expect("compact");
        while !s.compact_step(64).await.expect("compact_step") {
            s.flush().await.expect("flush");
        }
        s.checkpoint(2000, b"meta").await.expect("checkpoint");
        let before = s.range(&all()).expect("range");
        let hash = s.hash_kv(0).expect("hash");
        assert!(
            s.db_size_bytes() < 2000 * 160,
            "cleaning reclaimed space: {}",
            s.db_size_bytes()
        );
        // Written after the checkpoint: gone after reopen.
        let mut t = s.write();
        t.put(b"late", b"x", 0).expect("put");
        t.commit();
        s.flush().await.expect("flush");
        drop(s);
        let s = MvccStore::open(GlommioDisk::new(), &dir, opts)
            .await
            .expect("reopen");
        assert_eq!(
            (s.checkpoint_index(), s.checkpoint_meta()),
            (2000, &b"meta"[..])
        );
        assert_eq!(s.range(&all()).expect("range"), before);
        assert_eq!(s.hash_kv(0).expect("hash"), hash);
        assert_eq!(s.key_count(), 300);
    });
}
