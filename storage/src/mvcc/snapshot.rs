//! Store snapshots (docs/mvcc.md §7.3): the files of the last checkpoint,
//! pinned by hard links so that later appends, cleaning and checkpoints do
//! not disturb them, then read out in bounded chunks in one self-checking
//! byte format. Nothing here holds more than one chunk in memory.

use std::path::{Path, PathBuf};

use super::segments::{segment_file_name, storage_err};
use super::store::{MvccStore, MANIFEST_FILE};
use super::types::MvccError;
use crate::disk::{Disk, DiskFile, OpenOptions};
use sha2::{Digest as _, Sha256};

/// First bytes of a snapshot.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"ETCQSNP1";
/// Bytes of the digest that ends a snapshot (SHA-256).
pub const SNAPSHOT_DIGEST_BYTES: usize = 32;
/// Bytes of the fixed header: magic, applied index, revision, compact
/// revision, file count.
pub const SNAPSHOT_HEADER_BYTES: usize = 8 + 8 + 8 + 8 + 4;

/// The body (everything before the digest) is zero-padded to a multiple of
/// this, as etcd's bolt snapshots are whole pages: etcdctl 3.4's `snapshot
/// save` checks that a snapshot's size is `k * 512 + 32` before it keeps it.
pub const SNAPSHOT_BODY_ALIGN_BYTES: u64 = 512;

/// Smallest chunk [`SnapshotReader::next_chunk`] returns pieces of: a
/// file's name/length prefix (at most 2 + 255 + 8 bytes) is never split.
pub const SNAPSHOT_CHUNK_BYTES_MIN: usize = 512;

/// One pinned file: its name in the store directory and the length that
/// belongs to the checkpoint (later appends to the same file are not part
/// of the snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedFile {
    pub name: String,
    pub len: u64,
}

/// The files of one checkpoint, hard-linked into `dir`.
#[derive(Debug, Clone)]
pub struct PinnedCheckpoint {
    /// Directory holding the links (created by [`MvccStore::pin_checkpoint`]).
    pub dir: PathBuf,
    pub applied_index: u64,
    pub revision: i64,
    pub compact_revision: i64,
    /// `MANIFEST` first, then the data segments in id order.
    pub files: Vec<PinnedFile>,
}

impl PinnedCheckpoint {
    /// Bytes of the header and the file entries, before padding.
    fn entries_bytes(&self) -> u64 {
        SNAPSHOT_HEADER_BYTES as u64
            + self
                .files
                .iter()
                .map(|f| 2 + f.name.len() as u64 + 8 + f.len)
                .sum::<u64>()
    }

    /// Zero bytes between the last file and the digest.
    fn padding_bytes(&self) -> u64 {
        let rem = self.entries_bytes() % SNAPSHOT_BODY_ALIGN_BYTES;
        (SNAPSHOT_BODY_ALIGN_BYTES - rem) % SNAPSHOT_BODY_ALIGN_BYTES
    }

    /// Length of the snapshot byte stream of these files.
    pub fn snapshot_bytes(&self) -> u64 {
        self.entries_bytes() + self.padding_bytes() + SNAPSHOT_DIGEST_BYTES as u64
    }

    /// Removes the links and their directory.
    pub async fn remove<D: Disk>(&self, disk: &D) -> std::io::Result<()> {
        for f in &self.files {
            match disk.remove(&self.dir.join(&f.name)).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        disk.remove_dir(&self.dir).await
    }
}

impl<D: Disk> MvccStore<D> {
    /// Pins the files of the last checkpoint: hard-links `MANIFEST` and every
    /// segment it names into `dest` (created; must be on the same file system
    /// and outside the store's directory), with the lengths the checkpoint
    /// covers. Call right after [`checkpoint`](Self::checkpoint) for a
    /// snapshot of the current state. No data is copied or read.
    ///
    /// Safe at any time: the files a durable manifest names are only ever
    /// appended to (the active one) and are deleted only after a newer
    /// manifest is durable, which the links outlive.
    pub async fn pin_checkpoint(&self, dest: &Path) -> Result<PinnedCheckpoint, MvccError> {
        if self.poisoned {
            return Err(MvccError::PreviousIo);
        }
        let m = &self.last_manifest;
        self.disk
            .create_dir_all(dest)
            .await
            .map_err(storage_err("create dir", dest))?;
        let mut files = vec![PinnedFile {
            name: MANIFEST_FILE.to_string(),
            len: self.last_manifest_len,
        }];
        for s in &m.segments {
            let id = u32::try_from(s.id).expect("manifest segment ids fit u32");
            files.push(PinnedFile {
                name: segment_file_name(id),
                len: s.durable_len,
            });
        }
        let pinned = PinnedCheckpoint {
            dir: dest.to_path_buf(),
            applied_index: m.applied_index,
            revision: m.current_revision,
            compact_revision: m.compact_revision,
            files,
        };
        for f in &pinned.files {
            let from = self.dir.join(&f.name);
            let to = dest.join(&f.name);
            if let Err(e) = self.disk.hard_link(&from, &to).await {
                let _ = pinned.remove(&self.disk).await;
                return Err(storage_err("hard link", &from)(e));
            }
        }
        Ok(pinned)
    }
}

/// Reads the snapshot byte stream of a [`PinnedCheckpoint`] in chunks
/// (docs/mvcc.md §7.3).
pub struct SnapshotReader<D: Disk> {
    disk: D,
    pinned: PinnedCheckpoint,
    /// Index of the file being read; `files.len()` once all are done.
    file: usize,
    /// Offset in the current file's entry: bytes of its name/length prefix
    /// and data already emitted.
    pos: u64,
    open: Option<D::File>,
    header_done: bool,
    digest: Option<Sha256>,
    /// Zero bytes still to emit after the last file.
    padding_left: u64,
    sent: u64,
    total: u64,
}

impl<D: Disk> std::fmt::Debug for SnapshotReader<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotReader")
            .field("dir", &self.pinned.dir)
            .field("sent", &self.sent)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl<D: Disk> SnapshotReader<D> {
    pub fn new(disk: D, pinned: PinnedCheckpoint) -> Self {
        let total = pinned.snapshot_bytes();
        let padding_left = pinned.padding_bytes();
        SnapshotReader {
            padding_left,
            disk,
            pinned,
            file: 0,
            pos: 0,
            open: None,
            header_done: false,
            digest: Some(Sha256::new()),
            sent: 0,
            total,
        }
    }

    /// Bytes of the whole snapshot.
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Bytes not yet returned by [`next_chunk`](Self::next_chunk).
    pub fn remaining_bytes(&self) -> u64 {
        self.total - self.sent
    }

    pub fn pinned(&self) -> &PinnedCheckpoint {
        &self.pinned
    }

    /// The next at most `max` bytes (`max` is raised to
    /// [`SNAPSHOT_CHUNK_BYTES_MIN`]), `None` at the end.
    pub async fn next_chunk(&mut self, max: usize) -> std::io::Result<Option<Vec<u8>>> {
        let max = max.max(SNAPSHOT_CHUNK_BYTES_MIN);
        let mut out = Vec::with_capacity(max.min(self.remaining_bytes() as usize));
        if !self.header_done {
            out.extend_from_slice(SNAPSHOT_MAGIC);
            out.extend_from_slice(&self.pinned.applied_index.to_le_bytes());
            out.extend_from_slice(&self.pinned.revision.to_le_bytes());
            out.extend_from_slice(&self.pinned.compact_revision.to_le_bytes());
            let count = u32::try_from(self.pinned.files.len()).expect("file count fits u32");
            out.extend_from_slice(&count.to_le_bytes());
            self.header_done = true;
        }
        while out.len() < max && self.file < self.pinned.files.len() {
            let f = self.pinned.files[self.file].clone();
            let prefix_len = 2 + f.name.len() as u64 + 8;
            if self.pos < prefix_len {
                // The prefix is emitted whole, in one chunk.
                if out.len() as u64 + prefix_len > max as u64 {
                    break;
                }
                let name_len = u16::try_from(f.name.len()).expect("short file names");
                out.extend_from_slice(&name_len.to_le_bytes());
                out.extend_from_slice(f.name.as_bytes());
                out.extend_from_slice(&f.len.to_le_bytes());
                self.pos = prefix_len;
                continue;
            }
            let done = self.pos - prefix_len;
            if done == f.len {
                self.file += 1;
                self.pos = 0;
                self.open = None;
                continue;
            }
            if self.open.is_none() {
                let path = self.pinned.dir.join(&f.name);
                self.open = Some(self.disk.open(&path, OpenOptions::READ).await?);
            }
            let want = ((max - out.len()) as u64).min(f.len - done) as usize;
            let file = self.open.as_ref().expect("opened above");
            let bytes = file.read_at(done, want).await?;
            if bytes.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} is shorter than its pinned length {}",
                        self.pinned.dir.join(&f.name).display(),
                        f.len
                    ),
                ));
            }
            self.pos += bytes.len() as u64;
            out.extend_from_slice(&bytes);
        }
        if self.file == self.pinned.files.len() && self.padding_left > 0 {
            let n = self.padding_left.min((max - out.len()) as u64) as usize;
            out.resize(out.len() + n, 0);
            self.padding_left -= n as u64;
        }
        if self.file == self.pinned.files.len()
            && self.padding_left == 0
            && out.len() + SNAPSHOT_DIGEST_BYTES <= max
        {
            if let Some(mut d) = self.digest.take() {
                d.update(&out);
                out.extend_from_slice(&d.finalize());
                self.sent += out.len() as u64;
                return Ok(Some(out));
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        if let Some(d) = self.digest.as_mut() {
            d.update(&out);
        }
        self.sent += out.len() as u64;
        Ok(Some(out))
    }
}

/// The content of a snapshot byte stream, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotContents {
    pub applied_index: u64,
    pub revision: i64,
    pub compact_revision: i64,
    /// `(name, bytes)` in stream order.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Decodes and verifies a whole snapshot held in memory (tests, tools).
pub fn decode_snapshot(buf: &[u8]) -> Result<SnapshotContents, String> {
    if buf.len() < SNAPSHOT_HEADER_BYTES + SNAPSHOT_DIGEST_BYTES {
        return Err("snapshot shorter than its header and digest".into());
    }
    let (body, digest) = buf.split_at(buf.len() - SNAPSHOT_DIGEST_BYTES);
    if Sha256::digest(body)[..] != *digest {
        return Err("snapshot SHA-256 mismatch".into());
    }
    if &body[..8] != SNAPSHOT_MAGIC {
        return Err("bad snapshot magic".into());
    }
    let u64_at = |b: &[u8], at: usize| -> Result<u64, String> {
        b.get(at..at + 8)
            .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
            .ok_or_else(|| format!("truncated at {at}"))
    };
    let applied_index = u64_at(body, 8)?;
    let revision = u64_at(body, 16)? as i64;
    let compact_revision = u64_at(body, 24)? as i64;
    let count = u32::from_le_bytes(body[32..36].try_into().expect("4 bytes")) as usize;
    let mut pos = SNAPSHOT_HEADER_BYTES;
    let mut files = Vec::with_capacity(count);
    for _ in 0..count {
        let name_len = body
            .get(pos..pos + 2)
            .map(|s| u16::from_le_bytes(s.try_into().expect("2 bytes")) as usize)
            .ok_or_else(|| format!("truncated at {pos}"))?;
        pos += 2;
        let name = body
            .get(pos..pos + name_len)
            .ok_or_else(|| format!("truncated at {pos}"))?;
        let name = String::from_utf8(name.to_vec()).map_err(|_| format!("bad name at {pos}"))?;
        pos += name_len;
        let len = u64_at(body, pos)? as usize;
        pos += 8;
        let data = body
            .get(pos..pos + len)
            .ok_or_else(|| format!("truncated file {name} at {pos}"))?;
        files.push((name, data.to_vec()));
        pos += len;
    }
    let padding = &body[pos.min(body.len())..];
    if body.len() as u64 % SNAPSHOT_BODY_ALIGN_BYTES != 0
        || padding.len() as u64 >= SNAPSHOT_BODY_ALIGN_BYTES
        || padding.iter().any(|b| *b != 0)
    {
        return Err(format!(
            "{} bytes after the last file are not the zero padding to {SNAPSHOT_BODY_ALIGN_BYTES} bytes",
            padding.len()
        ));
    }
    Ok(SnapshotContents {
        applied_index,
        revision,
        compact_revision,
        files,
    })
}
