//! Offline restore: a new member directory from a snapshot byte stream
//! (what `etcdctl snapshot restore` does for etcd; the format is
//! docs/mvcc.md §7.3).
//!
//! The snapshot's files are exactly a store directory at its checkpoint, so
//! restoring writes them into `member/mvcc/` and starts a WAL whose snapshot
//! marker says "everything up to the checkpoint's raft index is in the
//! store". The restored member opens as a fresh single-member cluster at the
//! snapshot's revision, with its leases.
//!
//! The first thing written is the marker `member/RESTORING` (made durable
//! with its directory), the last thing done is removing it: a crash
//! mid-restore leaves a member directory that still holds the marker, which
//! the server refuses to open ([`unfinished`]) and a new restore replaces.
//! An existing member without the marker is never touched.

use std::path::{Path, PathBuf};

use crate::disk::{Disk, DiskFile, OpenOptions};
use crate::mvcc::snapshot::{decode_snapshot, SnapshotContents};
use crate::mvcc::{MvccOptions, MvccStore};
use crate::wal::{HardState, Wal, WalOptions};

/// Where, under the data directory, the member lives (as the server opens it).
pub const MEMBER_DIR: &str = "member";
/// The store's directory under the member directory.
pub const MVCC_DIR: &str = "mvcc";
/// The WAL's directory under the member directory.
pub const WAL_DIR: &str = "wal";
/// The raft term the restored WAL starts at: a new cluster's first.
pub const RESTORED_TERM: u64 = 1;

/// Present in a member directory while a restore writes it.
pub const RESTORING_MARKER: &str = "RESTORING";

/// Whether `member_dir` is a restore that did not finish (never to be opened).
pub async fn unfinished<D: Disk>(disk: &D, member_dir: &Path) -> std::io::Result<bool> {
    disk.exists(&member_dir.join(RESTORING_MARKER)).await
}

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The member directory created.
    pub member_dir: PathBuf,
    /// Raft index of the snapshot's checkpoint.
    pub applied_index: u64,
    /// Store revision the restored member starts at.
    pub revision: i64,
    pub compact_revision: i64,
    /// Store files written (manifest and segments).
    pub files: usize,
    /// Bytes of those files.
    pub bytes: u64,
}

/// Why a restore refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("snapshot {}: {reason}", path.display())]
    BadSnapshot { path: PathBuf, reason: String },
    #[error("{} already exists: restore writes a new member directory and never replaces one", path.display())]
    Exists { path: PathBuf },
    #[error("restore: {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("restore: {0}")]
    Wal(#[from] crate::wal::WalError),
    #[error("restore: the restored store does not open: {0}")]
    Store(#[from] crate::mvcc::MvccError),
    #[error("restore: the restored store opened at {found}, expected {expected}")]
    Mismatch { expected: String, found: String },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> RestoreError + 'a {
    move |source| RestoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Checks and splits a whole snapshot; `source` names it in errors.
pub fn decode(bytes: &[u8], source: &Path) -> Result<SnapshotContents, RestoreError> {
    let contents = decode_snapshot(bytes).map_err(|reason| RestoreError::BadSnapshot {
        path: source.to_path_buf(),
        reason,
    })?;
    for (name, _) in &contents.files {
        // Names come from the file: never let one leave the store directory.
        let plain = !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains('/')
            && !name.contains('\0');
        if !plain {
            return Err(RestoreError::BadSnapshot {
                path: source.to_path_buf(),
                reason: format!("file name {name:?} is not a plain file name"),
            });
        }
    }
    Ok(contents)
}

/// Writes `contents` as a new member under `data_dir` (see the module docs).
pub async fn restore<D: Disk>(
    disk: D,
    contents: &SnapshotContents,
    data_dir: &Path,
    wal_options: WalOptions,
) -> Result<Restored, RestoreError> {
    let member_dir = data_dir.join(MEMBER_DIR);
    let marker = member_dir.join(RESTORING_MARKER);
    if disk
        .exists(&member_dir)
        .await
        .map_err(io("check", &member_dir))?
    {
        let empty = disk
            .read_dir(&member_dir)
            .await
            .map_err(io("list", &member_dir))?
            .is_empty();
        if !empty
            && !unfinished(&disk, &member_dir)
                .await
                .map_err(io("check", &marker))?
        {
            return Err(RestoreError::Exists { path: member_dir });
        }
        // Nothing there yet, or a restore that crashed: start over.
        remove_tree(&disk, &member_dir).await?;
    }
    disk.create_dir_all(&member_dir)
        .await
        .map_err(io("create directory", &member_dir))?;
    let file = disk
        .open(&marker, OpenOptions::CREATE_BUFFERED)
        .await
        .map_err(io("create", &marker))?;
    file.sync_data().await.map_err(io("sync", &marker))?;
    drop(file);
    disk.sync_dir(&member_dir)
        .await
        .map_err(io("sync directory", &member_dir))?;
    disk.sync_dir(data_dir)
        .await
        .map_err(io("sync directory", data_dir))?;
    let tmp = member_dir.clone();
    let mvcc_dir = tmp.join(MVCC_DIR);
    disk.create_dir_all(&mvcc_dir)
        .await
        .map_err(io("create directory", &mvcc_dir))?;
    let mut bytes = 0u64;
    for (name, data) in &contents.files {
        let path = mvcc_dir.join(name);
        let file = disk
            .open(&path, OpenOptions::CREATE_BUFFERED)
            .await
            .map_err(io("create", &path))?;
        file.write_at(0, data).await.map_err(io("write", &path))?;
        file.sync_data().await.map_err(io("sync", &path))?;
        bytes += data.len() as u64;
    }
    disk.sync_dir(&mvcc_dir)
        .await
        .map_err(io("sync directory", &mvcc_dir))?;

    let (mut wal, _) = Wal::open(disk.clone(), &tmp.join(WAL_DIR), wal_options).await?;
    if contents.applied_index > 0 {
        wal.set_snapshot(contents.applied_index, RESTORED_TERM);
    }
    wal.set_hard_state(HardState {
        term: RESTORED_TERM,
        vote: 0,
        commit: contents.applied_index,
    });
    wal.sync().await?;
    drop(wal);
    disk.sync_dir(&tmp)
        .await
        .map_err(io("sync directory", &tmp))?;

    // The store must open as the snapshot says before the member exists.
    let store = MvccStore::open(disk.clone(), &mvcc_dir, MvccOptions::default()).await?;
    let expected = (
        contents.applied_index,
        contents.revision,
        contents.compact_revision,
    );
    let found = (
        store.checkpoint_index(),
        store.current_revision(),
        store.compact_revision(),
    );
    drop(store);
    if found != expected {
        return Err(RestoreError::Mismatch {
            expected: format!(
                "index {} revision {} compacted {}",
                expected.0, expected.1, expected.2
            ),
            found: format!(
                "index {} revision {} compacted {}",
                found.0, found.1, found.2
            ),
        });
    }

    disk.remove(&marker).await.map_err(io("remove", &marker))?;
    disk.sync_dir(&member_dir)
        .await
        .map_err(io("sync directory", &member_dir))?;
    Ok(Restored {
        member_dir,
        applied_index: contents.applied_index,
        revision: contents.revision,
        compact_revision: contents.compact_revision,
        files: contents.files.len(),
        bytes,
    })
}

/// Removes a member directory a crashed restore left (files, and
/// directories of files).
async fn remove_tree<D: Disk>(disk: &D, dir: &Path) -> Result<(), RestoreError> {
    for name in disk.read_dir(dir).await.map_err(io("list", dir))? {
        let path = dir.join(&name);
        if disk.remove(&path).await.is_err() {
            for inner in disk.read_dir(&path).await.map_err(io("list", &path))? {
                let p = path.join(inner);
                disk.remove(&p).await.map_err(io("remove", &p))?;
            }
            disk.remove_dir(&path)
                .await
                .map_err(io("remove directory", &path))?;
        }
    }
    disk.remove_dir(dir)
        .await
        .map_err(io("remove directory", dir))
}
