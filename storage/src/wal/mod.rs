//! The write-ahead log: a raft log store on a directory of preallocated,
//! direct-I/O segment files, with group commit.
//!
//! Appends (`append_entry`, `set_hard_state`, `set_snapshot`) only encode records
//! into memory; [`Wal::write`] writes them (in order, no flush), and
//! [`Wal::start_sync`] returns a future for one `fdatasync` covering everything
//! written so far. That future does not borrow the `Wal`, so the server keeps
//! appending and writing the next batch while a flush is in flight (pipelined
//! group commit); [`Wal::complete_sync`] records what became durable.
//! [`Wal::sync`] is all three in a row. Recovery ([`Wal::open`]) keeps every
//! record a completed sync covered, truncates a torn tail and refuses to start
//! on corruption. The byte format and the crash argument are in docs/wal.md; read
//! it before changing anything here.
//!
//! The WAL knows nothing about raft: an entry is an index, a term and opaque
//! bytes. It does no I/O except through the [`Disk`] seam.
//!
//! - `format`: names, record framing, payload codecs (pure).
//! - `recovery`: torn tail vs corruption, replay (pure).
//! - this file: the [`Wal`] state machine and its I/O.

mod format;
mod recovery;

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;

use crate::disk::{Disk, DiskFile, OpenOptions, DIRECT_IO_ALIGN_BYTES};
use format::{Kind, SegmentHeader};

/// Tuning of a [`Wal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// Size every segment file is preallocated to: a multiple of 4 KiB within
    /// [`SEGMENT_BYTES_MIN`](Self::SEGMENT_BYTES_MIN)..=[`SEGMENT_BYTES_MAX`](Self::SEGMENT_BYTES_MAX).
    pub segment_bytes: u64,
}

impl WalOptions {
    /// The default segment size, 64 MiB.
    pub const SEGMENT_BYTES_DEFAULT: u64 = 64 << 20;
    /// The smallest segment size accepted, 8 KiB.
    pub const SEGMENT_BYTES_MIN: u64 = 8 << 10;
    /// The largest segment size accepted, 1 GiB (offsets inside a segment are u32).
    pub const SEGMENT_BYTES_MAX: u64 = 1 << 30;

    /// The largest `data` [`Wal::append_entry`] accepts with these options.
    pub fn max_entry_data_bytes(&self) -> usize {
        let empty_segment = self.segment_bytes as usize - format::SEGMENT_PREAMBLE_MAX_BYTES;
        empty_segment - format::entry_record_bytes(0)
    }

    fn validate(&self) {
        assert!(
            (Self::SEGMENT_BYTES_MIN..=Self::SEGMENT_BYTES_MAX).contains(&self.segment_bytes)
                && self.segment_bytes % DIRECT_IO_ALIGN_BYTES as u64 == 0,
            "WalOptions::segment_bytes must be a multiple of 4 KiB in 8 KiB..=1 GiB, not {}",
            self.segment_bytes
        );
    }
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: Self::SEGMENT_BYTES_DEFAULT,
        }
    }
}

/// Raft's hard state: what must be durable before voting or acknowledging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HardState {
    pub term: u64,
    pub vote: u64,
    pub commit: u64,
}

/// "The state machine's checkpoint holds every entry up to `index`."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnapshotMarker {
    pub index: u64,
    pub term: u64,
}

/// A log entry as the WAL stores it; `data` is opaque (the encoded raft entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRecord {
    pub index: u64,
    pub term: u64,
    pub data: Bytes,
}

/// What [`Wal::open`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovered {
    pub hard_state: Option<HardState>,
    pub snapshot: Option<SnapshotMarker>,
    /// The entries above the snapshot index, contiguous and in index order,
    /// raft conflicts resolved (a later entry at index i replaced earlier ones >= i).
    pub entries: Vec<EntryRecord>,
}

/// A place in the log: a segment and a byte offset in it. Later places compare
/// greater. [`Wal::write`] and [`Wal::complete_sync`] report positions; a
/// position is durable once a completed sync reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct WalPosition {
    /// Segment sequence number.
    pub seq: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}

/// Why the WAL refused, shaped by what the caller does about it.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An I/O operation failed; the WAL is now unusable (see `PreviousIo`).
    #[error("wal: {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The disk is full: refuse writes with a clear error. The WAL is now
    /// unusable; reopen it once space was freed.
    #[error("wal: no space left on device ({op} {})", path.display())]
    NoSpace {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An earlier write or flush failed: the disk is in an unknown state and the
    /// WAL refuses all further work. Restart and recover.
    #[error("wal: refusing work after an earlier I/O failure")]
    PreviousIo,
    /// A record that was acknowledged is damaged. Never skipped: an operator
    /// must look (restore the member from its peers).
    #[error("wal: corrupt record in {} at byte offset {offset}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// The directory does not hold a consistent log (a segment is missing, a
    /// file name is malformed).
    #[error("wal: inconsistent log in {}: {reason}", path.display())]
    Inconsistent { path: PathBuf, reason: String },
}

fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> WalError + 'a {
    move |source| {
        let path = path.to_path_buf();
        if source.kind() == io::ErrorKind::StorageFull
            || source.raw_os_error() == Some(libc::ENOSPC)
        {
            WalError::NoSpace { op, path, source }
        } else {
            WalError::Io { op, path, source }
        }
    }
}

const BLOCK_BYTES: u64 = DIRECT_IO_ALIGN_BYTES as u64;

fn align_down(n: u64) -> u64 {
    n - n % BLOCK_BYTES
}

/// A segment that is no longer written (or the active one's identity).
#[derive(Debug)]
struct SegmentMeta {
    seq: u64,
    path: PathBuf,
    max_entry_index: Option<u64>,
}

/// The segment records are appended to.
struct Active<F> {
    /// Shared with the sync futures in flight.
    file: Rc<F>,
    meta: SegmentMeta,
    /// Offset after the last written record (durable or not).
    end: u64,
    /// Bytes `[align_down(end), end)`: rewritten in front of the next write.
    tail: Vec<u8>,
}

/// Records of the current batch bound for one segment.
struct Chunk {
    seq: u64,
    first_index: u64,
    /// The batch creates this segment (its records start with the preamble).
    creates: bool,
    /// Segment offset of `bytes[0]`.
    start: u64,
    /// The segment's durable length when the chunk was encoded (docs/wal.md §2).
    batch_start: u32,
    bytes: Vec<u8>,
    max_entry_index: Option<u64>,
}

impl Chunk {
    fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a.max(b)
}

/// The write-ahead log. Single-owner: one task of the raft core drives it.
pub struct Wal<D: Disk> {
    disk: D,
    dir: PathBuf,
    opts: WalOptions,
    /// Segments before the active one, oldest first.
    sealed: VecDeque<SegmentMeta>,
    /// `None` only while `open` has not finished creating the first segment.
    active: Option<Active<D::File>>,
    /// The records `write` will write, in order.
    pending: Vec<Chunk>,
    /// Everything before this position is durable (a completed sync covered it).
    durable: WalPosition,
    /// Snapshot markers encoded but not yet durable: (position after the
    /// record, index), oldest first.
    unsynced_snapshots: VecDeque<(WalPosition, u64)>,
    last_index: u64,
    hard_state: Option<HardState>,
    snapshot: Option<SnapshotMarker>,
    /// Snapshot index durable on disk: purge never goes beyond it.
    synced_snapshot_index: u64,
    /// An I/O operation failed: refuse everything.
    poisoned: bool,
    /// The next segment's file, made ahead of need (see [`Wal::prepare_spare`]).
    spare: Rc<Cell<Spare>>,
}

/// Where the spare segment file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spare {
    /// None made: [`Wal::prepare_spare`] starts one.
    Missing,
    /// Being created and written.
    Preparing,
    /// Complete and synced: the next new segment takes it.
    Ready,
    /// Its making failed: not tried again until a segment was made in place.
    Failed,
}

/// The spare segment while it is being made: not a segment name, so recovery
/// never reads it; `open` removes one left behind (it may be half made).
const SPARE_TMP_FILE_NAME: &str = "next-segment.tmp";
/// The spare segment once made and synced (renamed from the tmp name): `open`
/// keeps one of the right size, so a restart need not make its first segment
/// in place.
const SPARE_FILE_NAME: &str = "next-segment.ready";

impl<D: Disk> std::fmt::Debug for Wal<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("active", &self.active.as_ref().map(|a| (a.meta.seq, a.end)))
            .field("durable", &self.durable)
            .field("sealed_segments", &self.sealed.len())
            .field("pending_bytes", &self.pending_bytes())
            .field("last_index", &self.last_index)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl<D: Disk> Wal<D> {
    /// Opens (creating if needed) the WAL in `dir`, recovers it and starts a new
    /// segment (docs/wal.md §5).
    ///
    /// # Panics
    /// If `opts` is invalid (see [`WalOptions::segment_bytes`]).
    pub async fn open(
        disk: D,
        dir: &Path,
        opts: WalOptions,
    ) -> Result<(Self, Recovered), WalError> {
        opts.validate();
        disk.create_dir_all(dir)
            .await
            .map_err(io_error("create directory", dir))?;
        let names = disk
            .read_dir(dir)
            .await
            .map_err(io_error("list directory", dir))?;
        let mut found = Vec::new();
        for name in &names {
            match format::parse_segment_file_name(name) {
                None => {}
                Some(Err(())) => {
                    return Err(WalError::Inconsistent {
                        path: dir.join(name),
                        reason: "a .wal file whose name is not <seq>-<first index>.wal".into(),
                    })
                }
                Some(Ok((seq, first_index))) => found.push((seq, first_index, dir.join(name))),
            }
        }
        found.sort();
        if let Some(w) = found.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(WalError::Inconsistent {
                path: w[1].2.clone(),
                reason: format!("two segments with seq {}", w[0].0),
            });
        }
        // Purge deletes oldest first, so segments before a gap in the seqs are
        // leftovers of an interrupted purge.
        let keep_from = (1..found.len())
            .rev()
            .find(|&i| found[i].0 != found[i - 1].0 + 1)
            .unwrap_or(0);
        let leftovers: Vec<_> = found.drain(..keep_from).collect();

        let segment_count = found.len();
        let mut files = Vec::with_capacity(segment_count);
        for (i, (seq, first_index, path)) in found.into_iter().enumerate() {
            let data = if i + 1 < segment_count {
                disk.map(&path)
                    .await
                    .map_err(io_error("map segment", &path))?
            } else {
                read_whole(&disk, &path).await?
            };
            files.push(recovery::SegmentFile {
                seq,
                first_index,
                path,
                data,
            });
        }
        let replayed = recovery::recover(&files, opts.segment_bytes, dir)?;
        drop(files);

        if names.iter().any(|n| n == SPARE_TMP_FILE_NAME) {
            // Possibly half made when the process stopped: made again.
            let tmp = dir.join(SPARE_TMP_FILE_NAME);
            disk.remove(&tmp)
                .await
                .map_err(io_error("remove spare segment", &tmp))?;
        }
        let spare_ready = if names.iter().any(|n| n == SPARE_FILE_NAME) {
            let spare = dir.join(SPARE_FILE_NAME);
            let len = disk
                .open(&spare, OpenOptions::READ)
                .await
                .map_err(io_error("open spare segment", &spare))?
                .len()
                .await
                .map_err(io_error("size spare segment", &spare))?;
            if len != opts.segment_bytes {
                // Made for another segment size: made again.
                disk.remove(&spare)
                    .await
                    .map_err(io_error("remove spare segment", &spare))?;
            }
            len == opts.segment_bytes
        } else {
            false
        };
        for (_, _, path) in &leftovers {
            tracing::warn!(path = %path.display(), "wal: removing a segment left by an interrupted purge");
            disk.remove(path)
                .await
                .map_err(io_error("remove segment", path))?;
        }

        let snapshot_index = replayed.snapshot.map_or(0, |s| s.index);
        let last_entry_index = replayed.entries.last().map_or(0, |e| e.index);
        let (next_seq, prev_end) = replayed
            .segments
            .last()
            .map_or((1, 0), |s| (s.seq + 1, s.end));
        let mut wal = Wal {
            disk,
            dir: dir.to_path_buf(),
            opts,
            sealed: replayed
                .segments
                .into_iter()
                .map(|s| SegmentMeta {
                    seq: s.seq,
                    path: s.path,
                    max_entry_index: s.max_entry_index,
                })
                .collect(),
            active: None,
            pending: Vec::new(),
            durable: WalPosition::default(),
            unsynced_snapshots: VecDeque::new(),
            last_index: last_entry_index.max(snapshot_index),
            hard_state: replayed.hard_state,
            snapshot: replayed.snapshot,
            synced_snapshot_index: snapshot_index,
            poisoned: false,
            spare: Rc::new(Cell::new(if spare_ready {
                Spare::Ready
            } else {
                Spare::Missing
            })),
        };
        wal.start_segment(next_seq, prev_end, wal.last_index + 1);
        wal.sync().await?;
        let recovered = Recovered {
            hard_state: replayed.hard_state,
            snapshot: replayed.snapshot,
            entries: replayed.entries,
        };
        Ok((wal, recovered))
    }

    /// Buffers entry `index`. It replaces every entry `>= index` logged or
    /// buffered before (a raft conflict).
    ///
    /// # Panics
    /// If `index` would leave a gap (`index > last_index() + 1`), is covered by
    /// the snapshot marker, or `data` is longer than
    /// [`WalOptions::max_entry_data_bytes`].
    pub fn append_entry(&mut self, index: u64, term: u64, data: &[u8]) {
        let snapshot_index = self.snapshot.map_or(0, |s| s.index);
        assert!(
            index > snapshot_index && index <= self.last_index + 1,
            "append_entry({index}) with last index {} and snapshot index {snapshot_index}",
            self.last_index
        );
        assert!(
            data.len() <= self.opts.max_entry_data_bytes(),
            "entry of {} bytes does not fit a segment of {} bytes",
            data.len(),
            self.opts.segment_bytes
        );
        if self.poisoned {
            return;
        }
        let prefix = format::encode_entry_prefix(index, term);
        self.push_record(Kind::Entry, &[&prefix, data], Some(index));
        self.last_index = index;
    }

    /// Buffers a new hard state.
    pub fn set_hard_state(&mut self, hs: HardState) {
        if self.poisoned {
            return;
        }
        self.push_record(Kind::HardState, &[&format::encode_hard_state(&hs)], None);
        self.hard_state = Some(hs);
    }

    /// Buffers a snapshot marker: the state machine's checkpoint holds every entry
    /// up to `index`. Entries above `index` stay.
    ///
    /// # Panics
    /// If `index` is below the current snapshot marker's.
    pub fn set_snapshot(&mut self, index: u64, term: u64) {
        let current = self.snapshot.map_or(0, |s| s.index);
        assert!(
            index >= current,
            "snapshot marker moves back from {current} to {index}"
        );
        if self.poisoned {
            return;
        }
        let marker = SnapshotMarker { index, term };
        self.push_record(Kind::Snapshot, &[&format::encode_snapshot(&marker)], None);
        let (seq, offset) = self.next_position();
        self.unsynced_snapshots
            .push_back((WalPosition { seq, offset }, index));
        self.snapshot = Some(marker);
        self.last_index = self.last_index.max(index);
    }

    /// The group commit point, not pipelined: [`write`](Self::write), then one
    /// sync of what was written. When it returns `Ok`, everything appended
    /// before the call is durable.
    pub async fn sync(&mut self) -> Result<(), WalError> {
        self.write().await?;
        let synced = self.start_sync().await;
        self.complete_sync(synced).map(drop)
    }

    /// Writes every buffered record, in order, without flushing; returns the
    /// position after the last one. Records are durable only once a sync
    /// started after this returned completes. Exception: rolling to a new
    /// segment flushes the old one and creates, writes and flushes the new one
    /// (and the directory) right here, as in docs/wal.md §3, so a sealed
    /// segment is always complete on disk.
    pub async fn write(&mut self) -> Result<WalPosition, WalError> {
        self.check_usable()?;
        for chunk in std::mem::take(&mut self.pending) {
            let written = if chunk.creates {
                self.create_segment(chunk).await
            } else {
                self.extend_active(chunk).await
            };
            if let Err(e) = written {
                self.poisoned = true;
                return Err(e);
            }
        }
        Ok(self.written())
    }

    /// Makes the next segment's file ahead of need, when none is made or
    /// being made: the returned future creates it, preallocates it to the
    /// segment size (on the io_uring disk that writes its blocks, see
    /// `GlommioFile::allocate`) and syncs it. Run it beside the WAL's other
    /// work (it owns what it needs); the next new segment then only renames
    /// it instead of stalling the write path on a 64 MiB preallocation. If
    /// it fails, or is not finished when a segment is needed, the segment
    /// is made in place as before (the failure is only logged: nothing
    /// durable depends on the spare).
    pub fn prepare_spare(&mut self) -> Option<impl Future<Output = ()> + 'static> {
        if self.poisoned || self.spare.get() != Spare::Missing {
            return None;
        }
        self.spare.set(Spare::Preparing);
        let (disk, state, len) = (
            self.disk.clone(),
            self.spare.clone(),
            self.opts.segment_bytes,
        );
        let tmp = self.dir.join(SPARE_TMP_FILE_NAME);
        let path = self.dir.join(SPARE_FILE_NAME);
        Some(async move {
            let made = async {
                let file = disk.open(&tmp, OpenOptions::CREATE_DIRECT).await?;
                file.allocate(len).await?;
                file.sync_data().await?;
                disk.rename(&tmp, &path).await
            };
            match made.await {
                Ok(()) => state.set(Spare::Ready),
                Err(e) => {
                    // No retry loop on a failing disk: tried again after
                    // the next segment made in place.
                    tracing::warn!(path = %path.display(), "wal: could not make the spare segment: {e}");
                    state.set(Spare::Failed);
                }
            }
        })
    }

    /// One `fdatasync` of the active segment, covering every record
    /// [`write`](Self::write) wrote before this call; resolves to the position
    /// it made durable. The future owns what it needs (it does not borrow the
    /// WAL), so appends and writes may go on while it is in flight; hand its
    /// result to [`complete_sync`](Self::complete_sync). Resolves at once when
    /// nothing written is unsynced.
    pub fn start_sync(&self) -> impl Future<Output = Result<WalPosition, WalError>> + 'static {
        let job = match (&self.active, self.poisoned) {
            (_, true) => Err(WalError::PreviousIo),
            (Some(a), false) if self.written() > self.durable => {
                Ok(Some((a.file.clone(), a.meta.path.clone(), self.written())))
            }
            _ => Ok(None),
        };
        let durable = self.durable;
        async move {
            match job? {
                None => Ok(durable),
                Some((file, path, target)) => {
                    file.sync_data()
                        .await
                        .map_err(io_error("sync segment", &path))?;
                    Ok(target)
                }
            }
        }
    }

    /// Records the outcome of a [`start_sync`](Self::start_sync) future (in
    /// any order: a position below the durable one changes nothing) and
    /// returns the durable position. A failed sync makes the WAL refuse all
    /// further work (docs/wal.md §3).
    pub fn complete_sync(
        &mut self,
        synced: Result<WalPosition, WalError>,
    ) -> Result<WalPosition, WalError> {
        match synced {
            Err(e) => {
                self.poisoned = true;
                Err(e)
            }
            Ok(_) if self.poisoned => Err(WalError::PreviousIo),
            Ok(position) => {
                self.note_durable(position);
                Ok(self.durable)
            }
        }
    }

    /// The position after the last written record.
    pub fn written(&self) -> WalPosition {
        self.active
            .as_ref()
            .map_or(WalPosition::default(), |a| WalPosition {
                seq: a.meta.seq,
                offset: a.end,
            })
    }

    /// Everything before this position is durable.
    pub fn durable(&self) -> WalPosition {
        self.durable
    }

    /// Moves the durable position forward to `position` (never back).
    fn note_durable(&mut self, position: WalPosition) {
        self.durable = self.durable.max(position);
        while let Some(&(at, index)) = self.unsynced_snapshots.front() {
            if at > self.durable {
                break;
            }
            self.synced_snapshot_index = self.synced_snapshot_index.max(index);
            self.unsynced_snapshots.pop_front();
        }
    }

    /// Deletes, oldest first, the sealed segments whose entries all have index
    /// `<= upto_index` and `<=` the durable snapshot marker's index; returns how
    /// many. The active segment is never deleted.
    pub async fn purge(&mut self, upto_index: u64) -> Result<usize, WalError> {
        self.check_usable()?;
        let limit = upto_index.min(self.synced_snapshot_index);
        let mut removed = 0;
        while let Some(front) = self.sealed.front() {
            if front.max_entry_index.is_some_and(|m| m > limit) {
                break;
            }
            if let Err(e) = self.disk.remove(&front.path).await {
                self.poisoned = true;
                return Err(io_error("remove segment", &front.path)(e));
            }
            tracing::debug!(path = %front.path.display(), "wal: purged segment");
            self.sealed.pop_front();
            removed += 1;
        }
        if removed > 0 {
            if let Err(e) = self.disk.sync_dir(&self.dir).await {
                self.poisoned = true;
                return Err(io_error("sync directory", &self.dir)(e));
            }
        }
        Ok(removed)
    }

    /// Bytes of records buffered for the next [`write`](Self::write).
    pub fn pending_bytes(&self) -> usize {
        self.pending.iter().map(|c| c.bytes.len()).sum()
    }

    /// Index of the last entry (buffered or durable), or the snapshot index if
    /// that is higher; 0 for an empty log.
    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    /// The latest hard state (buffered or durable).
    pub fn hard_state(&self) -> Option<HardState> {
        self.hard_state
    }

    /// The latest snapshot marker (buffered or durable).
    pub fn snapshot(&self) -> Option<SnapshotMarker> {
        self.snapshot
    }

    /// Number of segment files, the active one included.
    pub fn segment_count(&self) -> usize {
        self.sealed.len() + usize::from(self.active.is_some())
    }

    fn check_usable(&self) -> Result<(), WalError> {
        if self.poisoned {
            Err(WalError::PreviousIo)
        } else {
            Ok(())
        }
    }

    /// Where the next record would go: (segment seq, offset).
    fn next_position(&self) -> (u64, u64) {
        match (self.pending.last(), &self.active) {
            (Some(c), _) => (c.seq, c.end()),
            (None, Some(a)) => (a.meta.seq, a.end),
            (None, None) => unreachable!("open() plans the first segment before anything else"),
        }
    }

    /// Plans a new segment `seq` in the pending batch, starting with its preamble
    /// (header, hard state, snapshot marker).
    fn start_segment(&mut self, seq: u64, prev_end: u64, first_index: u64) {
        let header = SegmentHeader {
            seq,
            first_index,
            segment_bytes: self.opts.segment_bytes,
            prev_end,
        };
        let mut chunk = Chunk {
            seq,
            first_index,
            creates: true,
            start: 0,
            batch_start: 0,
            bytes: Vec::new(),
            max_entry_index: None,
        };
        format::encode_record(
            &mut chunk.bytes,
            0,
            seq,
            0,
            Kind::SegmentHeader,
            &[&header.encode()],
        );
        if let Some(hs) = &self.hard_state {
            let p = format::encode_hard_state(hs);
            format::encode_record(&mut chunk.bytes, 0, seq, 0, Kind::HardState, &[&p]);
        }
        if let Some(s) = &self.snapshot {
            let p = format::encode_snapshot(s);
            format::encode_record(&mut chunk.bytes, 0, seq, 0, Kind::Snapshot, &[&p]);
        }
        debug_assert!(chunk.bytes.len() <= format::SEGMENT_PREAMBLE_MAX_BYTES);
        self.pending.push(chunk);
    }

    /// Encodes a record at the end of the pending batch, rolling to a new
    /// segment if it does not fit.
    fn push_record(&mut self, kind: Kind, payload: &[&[u8]], entry_index: Option<u64>) {
        let payload_bytes = payload.iter().map(|p| p.len()).sum();
        let need = format::record_bytes(payload_bytes) as u64;
        let (seq, end) = self.next_position();
        if end + need > self.opts.segment_bytes {
            let first_index = entry_index.unwrap_or(self.last_index + 1);
            self.start_segment(seq + 1, end, first_index);
        } else if self.pending.is_empty() {
            let active = self
                .active
                .as_ref()
                .expect("a segment is active after open");
            // What the segment holds durably now: at most what it will hold
            // when this chunk is written, and at most the first invalid
            // position after any crash (docs/wal.md §4, rule 2).
            let durable = if self.durable.seq == active.meta.seq {
                self.durable.offset
            } else {
                0
            };
            self.pending.push(Chunk {
                seq: active.meta.seq,
                first_index: 0, // unused: the segment exists
                creates: false,
                start: active.end,
                batch_start: u32::try_from(durable).expect("segments are at most 1 GiB"),
                bytes: Vec::new(),
                max_entry_index: None,
            });
        }
        let chunk = self.pending.last_mut().expect("a chunk was just ensured");
        assert!(
            chunk.end() + need <= self.opts.segment_bytes,
            "a record fits an empty segment"
        );
        format::encode_record(
            &mut chunk.bytes,
            chunk.start,
            chunk.seq,
            chunk.batch_start,
            kind,
            payload,
        );
        chunk.max_entry_index = max_opt(chunk.max_entry_index, entry_index);
    }

    /// Flushes the active segment (it is being sealed), then creates,
    /// preallocates, writes and syncs a new segment (and the directory); it
    /// becomes the active one.
    async fn create_segment(&mut self, chunk: Chunk) -> Result<(), WalError> {
        debug_assert!(chunk.creates && chunk.start == 0);
        let written = self.written();
        if let Some(active) = self.active.as_ref().filter(|_| written > self.durable) {
            active
                .file
                .sync_data()
                .await
                .map_err(io_error("sync segment", &active.meta.path))?;
            self.note_durable(written);
        }
        let path = self
            .dir
            .join(format::segment_file_name(chunk.seq, chunk.first_index));
        let disk = &self.disk;
        let from_spare = self.spare.get() == Spare::Ready;
        if from_spare {
            self.spare.set(Spare::Missing);
            let spare = self.dir.join(SPARE_FILE_NAME);
            disk.rename(&spare, &path)
                .await
                .map_err(io_error("rename spare segment", &path))?;
        } else if self.spare.get() == Spare::Failed {
            // No spare (one still being made serves the next segment); a
            // failed one is tried again from now on.
            self.spare.set(Spare::Missing);
        }
        let file = disk
            .open(&path, OpenOptions::CREATE_DIRECT)
            .await
            .map_err(io_error("create segment", &path))?;
        if !from_spare {
            file.allocate(self.opts.segment_bytes)
                .await
                .map_err(io_error("preallocate segment", &path))?;
        }
        let (buf, tail) = blocks(&[], &chunk.bytes);
        file.write_at(0, &buf)
            .await
            .map_err(io_error("write segment", &path))?;
        file.sync_data()
            .await
            .map_err(io_error("sync segment", &path))?;
        disk.sync_dir(&self.dir)
            .await
            .map_err(io_error("sync directory", &self.dir))?;
        tracing::debug!(path = %path.display(), "wal: started segment");
        let meta = SegmentMeta {
            seq: chunk.seq,
            path,
            max_entry_index: chunk.max_entry_index,
        };
        let end = chunk.end();
        if let Some(old) = self.active.replace(Active {
            file: Rc::new(file),
            meta,
            end,
            tail,
        }) {
            self.sealed.push_back(old.meta);
        }
        self.note_durable(WalPosition {
            seq: chunk.seq,
            offset: end,
        });
        Ok(())
    }

    /// Appends a chunk to the active segment: one write from the start of the
    /// partially filled block (no flush: see [`Wal::start_sync`]).
    async fn extend_active(&mut self, chunk: Chunk) -> Result<(), WalError> {
        let active = self
            .active
            .as_mut()
            .expect("a chunk that creates nothing extends the active segment");
        assert_eq!(
            (active.meta.seq, active.end),
            (chunk.seq, chunk.start),
            "chunk continues the segment"
        );
        let block_start = align_down(active.end);
        let (buf, tail) = blocks(&active.tail, &chunk.bytes);
        let path = &active.meta.path;
        active
            .file
            .write_at(block_start, &buf)
            .await
            .map_err(io_error("write segment", path))?;
        active.end = chunk.end();
        active.tail = tail;
        active.meta.max_entry_index = max_opt(active.meta.max_entry_index, chunk.max_entry_index);
        Ok(())
    }
}

/// `head ++ body` zero-padded to whole blocks, and the bytes of its last
/// partially filled block (`head` starts at a block boundary).
fn blocks(head: &[u8], body: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let len = head.len() + body.len();
    let mut buf = Vec::with_capacity(format::align_up(len, DIRECT_IO_ALIGN_BYTES));
    buf.extend_from_slice(head);
    buf.extend_from_slice(body);
    let tail = buf[align_down(len as u64) as usize..].to_vec();
    buf.resize(format::align_up(len, DIRECT_IO_ALIGN_BYTES), 0);
    (buf, tail)
}

/// The whole content of the file at `path`, read through `read_at` (for the
/// last segment, which may still have been written when the process stopped).
async fn read_whole<D: Disk>(disk: &D, path: &Path) -> Result<Bytes, WalError> {
    let file = disk
        .open(path, OpenOptions::READ)
        .await
        .map_err(io_error("open segment", path))?;
    let len = file.len().await.map_err(io_error("stat segment", path))?;
    let len = usize::try_from(len).map_err(|_| WalError::Inconsistent {
        path: path.to_path_buf(),
        reason: "segment larger than memory".into(),
    })?;
    let data = file
        .read_at(0, len)
        .await
        .map_err(io_error("read segment", path))?;
    Ok(Bytes::from(data))
}
