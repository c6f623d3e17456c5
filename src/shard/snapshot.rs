//! etcd's Maintenance.Snapshot: the raft core checkpoints and pins the
//! checkpoint's files ([`SnapshotPlan`], answered to `Request::Snapshot`);
//! the front core that serves the client turns the plan into a stream of
//! `SnapshotResponse`s with [`snapshot_stream`], reading the pinned files in
//! `SNAPSHOT_CHUNK_BYTES` chunks, one chunk in memory at a time. The byte
//! format is `etcq_storage::mvcc::snapshot`'s (docs/mvcc.md §7.3).
//!
//! The pinned copy (hard links under `member/snap.tmp/`) is removed when the
//! stream ends, fails, or is dropped unfinished (client gone), and whatever a
//! crash left there is removed when the shard opens.

use std::path::{Path, PathBuf};

use futures::stream::{LocalBoxStream, StreamExt};

use etcq_net::pb::etcdserverpb as pb;
use etcq_storage::disk::Disk;
use etcq_storage::disk_glommio::GlommioDisk;
use etcq_storage::mvcc::snapshot::{PinnedCheckpoint, SnapshotReader};

use crate::errors::{self, EtcdError};
use crate::mesh::Response;

/// Bytes of snapshot data per `SnapshotResponse` (etcd sends 32 KiB too).
pub const SNAPSHOT_CHUNK_BYTES: usize = 32 * 1024;

/// Directory (under the data dir's `member/`) holding pinned snapshot copies.
pub const SNAPSHOT_TMP_DIR: &str = "snap.tmp";

/// What the raft core hands the front for one snapshot: the pinned files
/// and the response header. Dropping it unstreamed removes the pinned copy.
#[derive(Debug)]
pub struct SnapshotPlan {
    pinned: PinnedCheckpoint,
    pub header: pb::ResponseHeader,
    guard: PinGuard,
}

impl SnapshotPlan {
    pub fn new(pinned: PinnedCheckpoint, header: pb::ResponseHeader) -> Self {
        let guard = PinGuard(Some(pinned.dir.clone()));
        SnapshotPlan {
            pinned,
            header,
            guard,
        }
    }

    /// Bytes the stream will carry in all.
    pub fn total_bytes(&self) -> u64 {
        self.pinned.snapshot_bytes()
    }

    /// The store revision the snapshot holds.
    pub fn revision(&self) -> i64 {
        self.pinned.revision
    }

    pub fn pinned(&self) -> &PinnedCheckpoint {
        &self.pinned
    }
}

/// Removes a pinned copy that was not streamed to its end (blocking unlinks
/// of a handful of links; the normal end removes it through the disk).
#[derive(Debug)]
struct PinGuard(Option<PathBuf>);

impl Drop for PinGuard {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => tracing::debug!(dir = %dir.display(), "unfinished snapshot removed"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(dir = %dir.display(), "cannot remove snapshot pin: {e}"),
            }
        }
    }
}

/// The `SnapshotResponse` stream of `plan`, read with glommio (call it on a
/// glommio executor: any front core). Every message carries the header and
/// `remaining_bytes` after its blob; the last has `remaining_bytes == 0`
/// and ends with the SHA-256. On a read error the stream yields one `Err`
/// and ends. The pinned copy is removed at the end.
pub fn snapshot_stream(
    plan: SnapshotPlan,
) -> LocalBoxStream<'static, Result<pb::SnapshotResponse, EtcdError>> {
    snapshot_stream_on(GlommioDisk::new(), plan, SNAPSHOT_CHUNK_BYTES)
}

/// [`snapshot_stream`] on any disk, with a chosen chunk size.
pub fn snapshot_stream_on<D: Disk>(
    disk: D,
    plan: SnapshotPlan,
    chunk_bytes: usize,
) -> LocalBoxStream<'static, Result<pb::SnapshotResponse, EtcdError>> {
    struct State<D: Disk> {
        disk: D,
        reader: Option<SnapshotReader<D>>,
        header: pb::ResponseHeader,
        guard: PinGuard,
        chunk_bytes: usize,
    }
    async fn finish<D: Disk>(st: &mut State<D>) {
        if let Some(reader) = st.reader.take() {
            match reader.pinned().remove(&st.disk).await {
                Ok(()) => st.guard.0 = None,
                Err(e) => tracing::warn!("cannot remove snapshot pin: {e}"),
            }
        }
    }
    let SnapshotPlan {
        pinned,
        header,
        guard,
    } = plan;
    let state = State {
        reader: Some(SnapshotReader::new(disk.clone(), pinned)),
        disk,
        header,
        guard,
        chunk_bytes,
    };
    futures::stream::unfold(state, |mut st| async move {
        let reader = st.reader.as_mut()?;
        match reader.next_chunk(st.chunk_bytes).await {
            Ok(Some(blob)) => {
                let msg = pb::SnapshotResponse {
                    header: Some(st.header),
                    remaining_bytes: reader.remaining_bytes(),
                    blob: blob.into(),
                    version: String::new(),
                };
                if msg.remaining_bytes == 0 {
                    finish(&mut st).await;
                }
                Some((Ok(msg), st))
            }
            Ok(None) => {
                finish(&mut st).await;
                None
            }
            Err(e) => {
                finish(&mut st).await;
                Some((Err(errors::internal(format!("snapshot: {e}"))), st))
            }
        }
    })
    .boxed_local()
}

/// The Snapshot RPC's responses from the raft core's answer to
/// `Request::Snapshot`: the plan streamed with [`snapshot_stream`], or the
/// refusal as the stream's one item. What a front (through the service
/// layer) calls:
///
/// ```ignore
/// let link = link.clone();
/// futures::stream::once(async move { link.call(Request::Snapshot(Default::default())).await })
///     .flat_map(crate::shard::snapshot::snapshot_responses)
/// ```
pub fn snapshot_responses(
    reply: Result<Response, EtcdError>,
) -> LocalBoxStream<'static, Result<pb::SnapshotResponse, EtcdError>> {
    match reply {
        Ok(Response::Snapshot(plan)) => snapshot_stream(plan),
        Ok(other) => futures::stream::once(futures::future::ready(Err(errors::internal(format!(
            "unexpected answer {other:?}"
        )))))
        .boxed_local(),
        Err(e) => futures::stream::once(futures::future::ready(Err(e))).boxed_local(),
    }
}

/// Removes every pinned copy under `dir` (left by a crash mid-stream).
pub async fn remove_stale_pins<D: Disk>(disk: &D, dir: &Path) -> std::io::Result<()> {
    if !disk.exists(dir).await? {
        return Ok(());
    }
    for sub in disk.read_dir(dir).await? {
        let sub = dir.join(sub);
        for name in disk.read_dir(&sub).await? {
            disk.remove(&sub.join(name)).await?;
        }
        disk.remove_dir(&sub).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcq_storage::disk_mem::MemDisk;
    use etcq_storage::mvcc::snapshot::decode_snapshot;
    use etcq_storage::mvcc::{MvccOptions, MvccStore};
    use futures_lite::future::block_on;

    fn store_with_data(disk: &MemDisk) -> MvccStore<MemDisk> {
        block_on(async {
            let mut s = MvccStore::open(
                disk.clone(),
                Path::new("/d/member/mvcc"),
                MvccOptions {
                    segment_bytes: 4096,
                    ..Default::default()
                },
            )
            .await
            .expect("open");
            for i in 0..300 {
                let mut t = s.write();
                t.put(format!("key{i}").as_bytes(), &[i as u8; 100], 0)
                    .expect("put");
                t.commit();
            }
            s.checkpoint(7, b"").await.expect("checkpoint");
            s
        })
    }

    #[test]
    fn the_stream_carries_the_snapshot_in_bounded_chunks_and_removes_the_pin() {
        let disk = MemDisk::new();
        let s = store_with_data(&disk);
        let dir = Path::new("/d/member/snap.tmp/1");
        let pinned = block_on(s.pin_checkpoint(dir)).expect("pin");
        let plan = SnapshotPlan::new(pinned, pb::ResponseHeader::default());
        let total = plan.total_bytes();
        let revision = plan.revision();
        let mut stream = snapshot_stream_on(disk.clone(), plan, 1024);
        let mut bytes = Vec::new();
        let mut messages = 0;
        block_on(async {
            while let Some(msg) = stream.next().await {
                let msg = msg.expect("chunk");
                assert!(msg.blob.len() <= 1024 && !msg.blob.is_empty());
                bytes.extend_from_slice(&msg.blob);
                assert_eq!(msg.remaining_bytes, total - bytes.len() as u64);
                assert!(msg.header.is_some());
                messages += 1;
            }
        });
        assert!(messages > 20, "{messages} messages");
        let contents = decode_snapshot(&bytes).expect("valid");
        assert_eq!((contents.applied_index, contents.revision), (7, revision));
        assert!(!block_on(disk.exists(dir)).expect("exists"), "pin removed");
    }

    #[test]
    fn a_read_failure_ends_the_stream_with_an_error_and_removes_the_pin() {
        let disk = MemDisk::new();
        let s = store_with_data(&disk);
        let dir = Path::new("/d/member/snap.tmp/2");
        let mut pinned = block_on(s.pin_checkpoint(dir)).expect("pin");
        // Claim more bytes than the last file has.
        pinned.files.last_mut().expect("files").len += 10;
        let plan = SnapshotPlan::new(pinned, pb::ResponseHeader::default());
        let items: Vec<_> = block_on(snapshot_stream_on(disk.clone(), plan, 4096).collect());
        assert!(items.last().expect("items").is_err());
        assert!(items[..items.len() - 1].iter().all(|i| i.is_ok()));
        assert!(!block_on(disk.exists(dir)).expect("exists"), "pin removed");
    }

    #[test]
    fn stale_pins_are_removed() {
        let disk = MemDisk::new();
        let s = store_with_data(&disk);
        let root = Path::new("/d/member/snap.tmp");
        block_on(s.pin_checkpoint(&root.join("a"))).expect("pin");
        block_on(s.pin_checkpoint(&root.join("b"))).expect("pin");
        block_on(remove_stale_pins(&disk, root)).expect("remove");
        assert!(block_on(disk.read_dir(root)).expect("dir").is_empty());
        // The store's own files are untouched.
        assert!(block_on(disk.exists(Path::new("/d/member/mvcc/MANIFEST"))).expect("exists"));
    }
}
