//! The data segments (docs/mvcc.md §2.1): the active one buffered in memory,
//! sealed ones mapped read-only. Appends never do I/O; `flush` and `sync`
//! (called by the store's async paths) move bytes to files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::index::Loc;
use super::record::{self, RecordMeta, RecordRef, SEGMENT_HEADER_BYTES};
use super::types::MvccError;
use crate::disk::{Disk, DiskFile, OpenOptions};

/// File name of segment `id`.
pub(crate) fn segment_file_name(id: u32) -> String {
    format!("{id:016x}.seg")
}

/// Parses a segment file name.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".seg")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

pub(crate) fn storage_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> MvccError + 'a {
    move |source| MvccError::Storage {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The bytes of a segment.
pub(crate) enum SegData {
    /// Held in memory: the active segment, or a sealed one not yet flushed.
    Memory(Vec<u8>),
    /// A sealed, flushed segment, mapped.
    Mapped(Bytes),
}

pub(crate) struct Segment<F> {
    pub(crate) data: SegData,
    /// Bytes written to the file (a prefix of `data`).
    written: usize,
    /// Bytes written but not yet fsynced.
    unsynced: bool,
    /// Open while the segment is active or has unsynced bytes.
    file: Option<F>,
    /// Never appended to again.
    pub(crate) sealed: bool,
    /// Created (file-wise) since the last checkpoint: its directory entry needs an fsync.
    new_file: bool,
    /// Bytes of records the index points to.
    pub(crate) live_bytes: u64,
}

impl<F> Segment<F> {
    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.data {
            SegData::Memory(v) => v,
            SegData::Mapped(b) => b,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Record bytes (not counting the header).
    pub(crate) fn data_bytes(&self) -> u64 {
        (self.len() - SEGMENT_HEADER_BYTES) as u64
    }

    /// Holds bytes of records that cleaning would drop or skip.
    pub(crate) fn has_garbage(&self) -> bool {
        self.live_bytes < self.data_bytes()
    }

    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self.data, SegData::Mapped(_))
    }
}

/// All segments of the store.
pub(crate) struct Segments<D: Disk> {
    disk: D,
    dir: PathBuf,
    segment_bytes: u64,
    pub(crate) segs: BTreeMap<u32, Segment<D::File>>,
    /// Id of the active segment (the highest id).
    pub(crate) active: u32,
    /// Segments emptied by cleaning: their files go after the next checkpoint.
    pub(crate) retired: Vec<u32>,
    /// File bytes of `retired`.
    retired_bytes: u64,
}

impl<D: Disk> Segments<D> {
    pub(crate) fn new(disk: D, dir: PathBuf, segment_bytes: u64) -> Self {
        Segments {
            disk,
            dir,
            segment_bytes,
            segs: BTreeMap::new(),
            active: 0,
            retired: Vec::new(),
            retired_bytes: 0,
        }
    }

    pub(crate) fn path(&self, id: u32) -> PathBuf {
        self.dir.join(segment_file_name(id))
    }

    /// Adds a segment loaded at open. The last one added is the active one.
    pub(crate) fn add_loaded(&mut self, id: u32, data: SegData, file: Option<D::File>) {
        assert!(
            id > self.active,
            "segments are loaded in ascending id order"
        );
        if let Some(prev) = self.segs.get_mut(&self.active) {
            prev.sealed = true;
        }
        let written = match &data {
            SegData::Memory(v) => v.len(),
            SegData::Mapped(b) => b.len(),
        };
        let sealed = matches!(data, SegData::Mapped(_));
        self.segs.insert(
            id,
            Segment {
                data,
                written,
                unsynced: false,
                file,
                sealed,
                new_file: false,
                live_bytes: 0,
            },
        );
        self.active = id;
    }

    /// Starts a fresh, empty active segment `id` (file created at the next flush).
    pub(crate) fn start_segment(&mut self, id: u32) {
        assert!(id > self.active, "segment ids ascend");
        if let Some(prev) = self.segs.get_mut(&self.active) {
            prev.sealed = true;
        }
        let mut buf = Vec::with_capacity(SEGMENT_HEADER_BYTES + 4096);
        buf.extend_from_slice(&record::encode_segment_header(u64::from(id)));
        self.segs.insert(
            id,
            Segment {
                data: SegData::Memory(buf),
                written: 0,
                unsynced: false,
                file: None,
                sealed: false,
                new_file: true,
                live_bytes: 0,
            },
        );
        self.active = id;
    }

    /// Makes room for a record of `len` bytes in the active segment.
    fn reserve(&mut self, len: usize) {
        let active = &self.segs[&self.active];
        let used = active.len() as u64;
        if used > SEGMENT_HEADER_BYTES as u64 && used + len as u64 > self.segment_bytes {
            let next = self.active.checked_add(1).expect("segment ids below 2^32");
            self.start_segment(next);
        }
    }

    fn active_buf(&mut self) -> (u32, &mut Segment<D::File>, usize) {
        let id = self.active;
        let seg = self.segs.get_mut(&id).expect("the active segment exists");
        let off = seg.len();
        (id, seg, off)
    }

    /// Appends a new record to the active segment.
    pub(crate) fn append(&mut self, meta: &RecordMeta, key: &[u8], value: &[u8]) -> Loc {
        self.reserve(record::record_len(key.len(), value.len()));
        let (seg_id, seg, off) = self.active_buf();
        let SegData::Memory(buf) = &mut seg.data else {
            unreachable!("the active segment is in memory")
        };
        let len = record::encode_record(buf, meta, key, value);
        seg.live_bytes += len as u64;
        Loc {
            seg: seg_id,
            off: u32::try_from(off).expect("segment offsets fit u32"),
            len: len as u32,
        }
    }

    /// Appends a verified record verbatim (log cleaning).
    pub(crate) fn append_raw(&mut self, rec: &[u8]) -> Loc {
        self.reserve(rec.len());
        let (seg_id, seg, off) = self.active_buf();
        let SegData::Memory(buf) = &mut seg.data else {
            unreachable!("the active segment is in memory")
        };
        buf.extend_from_slice(rec);
        seg.live_bytes += rec.len() as u64;
        Loc {
            seg: seg_id,
            off: u32::try_from(off).expect("segment offsets fit u32"),
            len: rec.len() as u32,
        }
    }

    /// The raw bytes of the record at `loc`.
    pub(crate) fn raw(&self, loc: Loc) -> &[u8] {
        let seg = self
            .segs
            .get(&loc.seg)
            .expect("index entries point at live segments");
        let start = loc.off as usize;
        &seg.bytes()[start..start + loc.len as usize]
    }

    /// Decodes and verifies the record at `loc`.
    pub(crate) fn read(&self, loc: Loc) -> Result<RecordRef<'_>, MvccError> {
        let raw = self.raw(loc);
        match record::decode_record(raw) {
            Ok(r) if r.len == raw.len() => Ok(r),
            Ok(_) => Err(self.corrupt(loc, "record length differs from index".into())),
            Err(e) => Err(self.corrupt(loc, e.to_string())),
        }
    }

    pub(crate) fn corrupt(&self, loc: Loc, reason: String) -> MvccError {
        MvccError::Corrupt {
            path: self.path(loc.seg),
            offset: u64::from(loc.off),
            reason,
        }
    }

    /// `len` bytes at `off` inside segment `seg` as `Bytes`: a zero-copy slice
    /// of a mapped segment, a copy from a buffered one.
    pub(crate) fn slice(&self, seg: u32, off: usize, len: usize) -> Bytes {
        let s = self
            .segs
            .get(&seg)
            .expect("index entries point at live segments");
        match &s.data {
            SegData::Mapped(b) => b.slice(off..off + len),
            SegData::Memory(v) => Bytes::copy_from_slice(&v[off..off + len]),
        }
    }

    /// Bytes appended but not yet written to files.
    pub(crate) fn unflushed_bytes(&self) -> usize {
        self.segs.values().map(|s| s.len() - s.written).sum()
    }

    /// Total bytes of all segment files, including retired ones not yet deleted.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.segs.values().map(|s| s.len() as u64).sum::<u64>() + self.retired_bytes
    }

    /// Writes every buffered byte to its file, and maps sealed segments.
    pub(crate) async fn flush(&mut self) -> Result<(), MvccError> {
        let ids: Vec<u32> = self
            .segs
            .iter()
            .filter(|(_, s)| !s.is_mapped())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let path = self.path(id);
            let seg = self.segs.get_mut(&id).expect("listed above");
            if seg.file.is_none() {
                let f = self
                    .disk
                    .open(&path, OpenOptions::CREATE_BUFFERED)
                    .await
                    .map_err(storage_err("create segment", &path))?;
                // A new segment: nothing of an older file by this name may survive.
                debug_assert_eq!(seg.written, 0, "only new segments lack a file");
                f.truncate(0)
                    .await
                    .map_err(storage_err("truncate segment", &path))?;
                seg.file = Some(f);
            }
            let file = seg.file.as_ref().expect("opened above");
            if seg.written < seg.len() {
                file.write_at(seg.written as u64, &seg.bytes()[seg.written..])
                    .await
                    .map_err(storage_err("write segment", &path))?;
                seg.written = seg.len();
                seg.unsynced = true;
            }
            if seg.sealed {
                let mapped = self
                    .disk
                    .map(&path)
                    .await
                    .map_err(storage_err("map segment", &path))?;
                if mapped.len() < seg.len() || mapped[..seg.len()] != *seg.bytes() {
                    return Err(MvccError::Corrupt {
                        path,
                        offset: 0,
                        reason: "mapped segment differs from the bytes written".into(),
                    });
                }
                // The check above touched every page; reads fault back in what they need.
                self.disk.release(&path, &mapped);
                seg.data = SegData::Mapped(mapped.slice(..seg.len()));
            }
        }
        Ok(())
    }

    /// Fsyncs every segment written since the last sync; then the directory
    /// if segment files were created. Call after `flush`.
    pub(crate) async fn sync(&mut self) -> Result<(), MvccError> {
        let mut new_files = false;
        for (&id, seg) in self.segs.iter_mut() {
            debug_assert_eq!(seg.written, seg.len(), "sync follows flush");
            if seg.unsynced {
                let file = seg
                    .file
                    .as_ref()
                    .expect("a segment with unsynced bytes has its file open");
                let path = self.dir.join(segment_file_name(id));
                file.sync_data()
                    .await
                    .map_err(storage_err("fsync segment", &path))?;
                seg.unsynced = false;
            }
            if seg.sealed {
                seg.file = None;
            }
            new_files |= std::mem::take(&mut seg.new_file);
        }
        if new_files {
            self.disk
                .sync_dir(&self.dir)
                .await
                .map_err(storage_err("fsync dir", &self.dir))?;
        }
        Ok(())
    }

    /// The segment list for a manifest: every segment not retired.
    pub(crate) fn manifest_segments(&self) -> Vec<super::manifest::ManifestSegment> {
        self.segs
            .iter()
            .map(|(&id, s)| super::manifest::ManifestSegment {
                id: u64::from(id),
                durable_len: s.len() as u64,
            })
            .collect()
    }

    /// Deletes the files of retired segments (after a manifest without them is durable).
    pub(crate) async fn delete_retired(&mut self) -> Result<(), MvccError> {
        while let Some(&id) = self.retired.last() {
            let path = self.path(id);
            self.disk
                .remove(&path)
                .await
                .map_err(storage_err("remove segment", &path))?;
            self.retired.pop();
        }
        self.retired_bytes = 0;
        Ok(())
    }

    /// Removes an evacuated segment from the table; its file is deleted after the next checkpoint.
    pub(crate) fn retire(&mut self, id: u32) {
        assert_ne!(id, self.active, "the active segment is never retired");
        let seg = self.segs.remove(&id).expect("retiring a known segment");
        assert_eq!(seg.live_bytes, 0, "a retired segment holds no live record");
        self.retired.push(id);
        self.retired_bytes += seg.len() as u64;
    }
}
