//! Recovery: which bytes of each segment are valid records (torn tail or
//! corruption, docs/wal.md §4), and what the valid records say (replay, §2).
//! Pure functions over segment bytes already read; `Wal::open` does the I/O.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::format::{
    self, Kind, Probe, RawRecord, SegmentHeader, HEADER_BYTES, RECORD_ALIGN_BYTES,
};
use super::{EntryRecord, HardState, SnapshotMarker, WalError};

/// One segment file's name and bytes.
pub(crate) struct SegmentFile {
    pub(crate) seq: u64,
    pub(crate) first_index: u64,
    pub(crate) path: PathBuf,
    pub(crate) data: Bytes,
}

/// What recovery learnt about one segment.
pub(crate) struct RecoveredSegment {
    pub(crate) seq: u64,
    pub(crate) path: PathBuf,
    /// Valid bytes: where the next record would go.
    pub(crate) end: u64,
    pub(crate) max_entry_index: Option<u64>,
}

/// The state the valid records of all segments add up to.
pub(crate) struct Replayed {
    pub(crate) hard_state: Option<HardState>,
    pub(crate) snapshot: Option<SnapshotMarker>,
    /// Index order, contiguous, all above the snapshot index.
    pub(crate) entries: Vec<EntryRecord>,
    pub(crate) segments: Vec<RecoveredSegment>,
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> WalError {
    WalError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}

fn capacity_of(file: &SegmentFile, header: Option<&SegmentHeader>, default_bytes: u64) -> usize {
    let declared = header.map_or(default_bytes, |h| h.segment_bytes);
    usize::try_from(declared)
        .unwrap_or(usize::MAX)
        .max(file.data.len())
}

/// The segment header at offset 0, if a valid one is there.
fn read_header(file: &SegmentFile, default_bytes: u64) -> Result<Option<SegmentHeader>, WalError> {
    let capacity = capacity_of(file, None, default_bytes);
    match format::probe(&file.data, file.seq, 0, 0, capacity) {
        Probe::Valid(r) if r.kind == Kind::SegmentHeader => {
            let header = SegmentHeader::decode(&file.data[r.payload])
                .map_err(|why| corrupt(&file.path, 0, why))?;
            if (header.seq, header.first_index) != (file.seq, file.first_index) {
                return Err(corrupt(
                    &file.path,
                    0,
                    format!(
                        "segment header says seq {} first index {}, the file name differs",
                        header.seq, header.first_index
                    ),
                ));
            }
            if header.segment_bytes > super::WalOptions::SEGMENT_BYTES_MAX {
                return Err(corrupt(
                    &file.path,
                    0,
                    "segment header declares an oversized segment",
                ));
            }
            Ok(Some(header))
        }
        Probe::Valid(_) => Err(corrupt(
            &file.path,
            0,
            "segment does not start with a header",
        )),
        _ => Ok(None),
    }
}

/// The valid records of one segment. `known_end` is its length as recorded by
/// the next segment's header, if that header is valid; without it the end is
/// found by the torn-tail rules.
fn scan(
    file: &SegmentFile,
    capacity: usize,
    known_end: Option<u64>,
) -> Result<(Vec<RawRecord>, u64), WalError> {
    let mut records = Vec::new();
    let mut off = 0usize;
    loop {
        if known_end == Some(off as u64) {
            return Ok((records, off as u64));
        }
        match format::probe(&file.data, file.seq, off, 0, capacity) {
            Probe::Valid(r) => {
                if known_end.is_some_and(|end| r.next > end) {
                    return Err(corrupt(
                        &file.path,
                        r.offset,
                        "record runs past the segment length recorded in the next segment",
                    ));
                }
                off = r.next as usize;
                records.push(r);
            }
            Probe::Full if known_end.is_none() => return Ok((records, off as u64)),
            other if known_end.is_some() => {
                let why = match other {
                    Probe::Full => "segment is shorter than recorded in the next segment".into(),
                    other => describe(&other),
                };
                return Err(corrupt(&file.path, off as u64, why));
            }
            other => {
                check_torn_tail(file, off, other, capacity)?;
                return Ok((records, off as u64));
            }
        }
    }
}

fn describe(probe: &Probe) -> String {
    match probe {
        Probe::Zero => "record missing (zeros) before the recorded end of the segment".into(),
        Probe::Implausible(why) => (*why).into(),
        Probe::BadCrc { .. } => "CRC mismatch".into(),
        Probe::Valid(_) | Probe::Full => "unexpected record".into(),
    }
}

/// Decides whether the first invalid position `at` of a segment whose end is
/// not otherwise known is a torn tail (`Ok`) or corruption (`Err`); rules 2-5 of
/// docs/wal.md §4.
fn check_torn_tail(
    file: &SegmentFile,
    at: usize,
    probe: Probe,
    capacity: usize,
) -> Result<(), WalError> {
    let claimed_end = match probe {
        Probe::Zero => None,
        Probe::BadCrc {
            sector_missing: true,
            extent_end,
        } => Some(extent_end),
        Probe::BadCrc {
            sector_missing: false,
            ..
        } => {
            return Err(corrupt(
                &file.path,
                at as u64,
                "CRC mismatch in a record whose sectors are all present",
            ));
        }
        other => return Err(corrupt(&file.path, at as u64, describe(&other))),
    };
    let mut found_later = false;
    let mut p = at + RECORD_ALIGN_BYTES;
    while p + HEADER_BYTES <= capacity.min(file.data.len()) {
        match format::probe(&file.data, file.seq, p, 0, capacity) {
            Probe::Valid(r) => {
                if r.batch_start > at as u64 {
                    return Err(corrupt(
                        &file.path,
                        at as u64,
                        format!(
                            "invalid record followed by a valid one at offset {} written later",
                            r.offset
                        ),
                    ));
                }
                if claimed_end.is_some_and(|end| r.offset < end) {
                    return Err(corrupt(
                        &file.path,
                        at as u64,
                        format!(
                            "record length damaged: a valid record starts inside it at offset {}",
                            r.offset
                        ),
                    ));
                }
                found_later = true;
                p = r.next as usize;
            }
            _ => p += RECORD_ALIGN_BYTES,
        }
    }
    if claimed_end.is_some() || found_later {
        tracing::warn!(
            path = %file.path.display(),
            offset = at,
            "wal: torn tail (a write interrupted by a crash), ignoring the rest of the segment"
        );
    }
    Ok(())
}

/// Replays records with the semantics of docs/wal.md §2.
#[derive(Default)]
struct Replay {
    hard_state: Option<HardState>,
    snapshot: Option<SnapshotMarker>,
    entries: Vec<EntryRecord>,
}

impl Replay {
    fn snapshot_index(&self) -> u64 {
        self.snapshot.map_or(0, |s| s.index)
    }

    fn entry(&mut self, e: EntryRecord) -> Result<(), String> {
        if e.index <= self.snapshot_index() {
            return Ok(()); // in the checkpoint already
        }
        if let (Some(first), Some(last)) = (self.entries.first(), self.entries.last()) {
            if e.index > last.index + 1 {
                return Err(format!(
                    "entry {} follows entry {}: a gap",
                    e.index, last.index
                ));
            }
            let keep = e.index.saturating_sub(first.index);
            self.entries
                .truncate(usize::try_from(keep).unwrap_or(usize::MAX));
        }
        self.entries.push(e);
        Ok(())
    }

    fn snapshot(&mut self, s: SnapshotMarker) {
        let covered = self.entries.partition_point(|e| e.index <= s.index);
        self.entries.drain(..covered);
        self.snapshot = Some(s);
    }
}

/// Finds the valid records of `files` (a run of consecutive seqs, oldest first)
/// and replays them.
pub(crate) fn recover(
    files: &[SegmentFile],
    default_segment_bytes: u64,
    dir: &Path,
) -> Result<Replayed, WalError> {
    let headers = files
        .iter()
        .map(|f| read_header(f, default_segment_bytes))
        .collect::<Result<Vec<_>, _>>()?;
    let mut replay = Replay::default();
    let mut segments = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        let known_end = headers
            .get(i + 1)
            .and_then(|h| h.as_ref())
            .map(|h| h.prev_end);
        let capacity = capacity_of(file, headers[i].as_ref(), default_segment_bytes);
        let (records, end) = scan(file, capacity, known_end)?;
        let mut max_entry_index = None;
        for r in records {
            let payload = file.data.slice(r.payload.clone());
            let bad = |why: String| corrupt(&file.path, r.offset, why);
            match r.kind {
                Kind::SegmentHeader if r.offset == 0 => {}
                Kind::SegmentHeader => return Err(bad("segment header in mid-segment".into())),
                Kind::Entry => {
                    let (index, term, data) =
                        format::decode_entry(&payload).map_err(|w| bad(w.into()))?;
                    max_entry_index = Some(max_entry_index.map_or(index, |m: u64| m.max(index)));
                    replay
                        .entry(EntryRecord { index, term, data })
                        .map_err(bad)?;
                }
                Kind::HardState => {
                    replay.hard_state =
                        Some(format::decode_hard_state(&payload).map_err(|w| bad(w.into()))?);
                }
                Kind::Snapshot => {
                    replay.snapshot(format::decode_snapshot(&payload).map_err(|w| bad(w.into()))?);
                }
            }
        }
        segments.push(RecoveredSegment {
            seq: file.seq,
            path: file.path.clone(),
            end,
            max_entry_index,
        });
    }
    if let Some(first) = replay.entries.first() {
        if first.index != replay.snapshot_index() + 1 {
            return Err(WalError::Inconsistent {
                path: dir.to_path_buf(),
                reason: format!(
                    "log starts at entry {} but the snapshot marker is at {}: segments are missing",
                    first.index,
                    replay.snapshot_index()
                ),
            });
        }
    }
    Ok(Replayed {
        hard_state: replay.hard_state,
        snapshot: replay.snapshot,
        entries: replay.entries,
        segments,
    })
}
