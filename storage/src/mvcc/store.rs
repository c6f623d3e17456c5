//! [`MvccStore`]: opening (recovery), flush, checkpoint and accessors. Reads
//! live in `read.rs`, writes in `txn.rs`, compaction in `compact.rs`.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tracing::{info, warn};

use super::index::{Entry, EntryList, Index, Loc};
use super::manifest::Manifest;
use super::record::{self, SEGMENT_HEADER_BYTES};
use super::segments::{parse_segment_file_name, segment_file_name, storage_err, SegData, Segments};
use super::types::{KeyValue, MvccError, MvccOptions, SEGMENT_BYTES_MAX};
use crate::disk::{Disk, DiskFile, OpenOptions};

pub(crate) const MANIFEST_FILE: &str = "MANIFEST";
pub(crate) const MANIFEST_TMP_FILE: &str = "MANIFEST.tmp";

/// Physical compaction in progress (docs/mvcc.md §4).
#[derive(Debug, Default)]
pub(crate) struct CompactState {
    /// Index compaction pending, resuming at this bound.
    pub(crate) index_cursor: Option<Bound<Box<[u8]>>>,
    /// Segment being evacuated and offset of its next record.
    pub(crate) cleaning: Option<(u32, usize)>,
    /// A defragmentation was asked for and has not started cleaning yet.
    pub(crate) defrag_requested: bool,
    /// Segments a running defragmentation still has to clean (whatever
    /// their live ratio), in ascending id order.
    pub(crate) defrag: Vec<u32>,
}

/// The MVCC key-value store. See the module docs and docs/mvcc.md.
pub struct MvccStore<D: Disk> {
    pub(crate) disk: D,
    pub(crate) dir: PathBuf,
    pub(crate) opts: MvccOptions,
    pub(crate) index: Index,
    pub(crate) segs: Segments<D>,
    pub(crate) current_revision: i64,
    pub(crate) compact_revision: i64,
    pub(crate) compaction: CompactState,
    /// Keys alive at the current revision.
    pub(crate) live_keys: usize,
    pub(crate) checkpoint_index: u64,
    pub(crate) checkpoint_meta: Vec<u8>,
    /// The last checkpoint's manifest and its encoded length: what a
    /// snapshot pins (docs/mvcc.md §7.3).
    pub(crate) last_manifest: Manifest,
    pub(crate) last_manifest_len: u64,
    /// An I/O operation failed: refuse further I/O.
    pub(crate) poisoned: bool,
}

impl<D: Disk> std::fmt::Debug for MvccStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MvccStore")
            .field("dir", &self.dir)
            .field("current_revision", &self.current_revision)
            .field("compact_revision", &self.compact_revision)
            .field("keys", &self.index.len())
            .field("segments", &self.segs.segs.len())
            .finish_non_exhaustive()
    }
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> MvccError {
    MvccError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}

impl<D: Disk> MvccStore<D> {
    /// Opens the store in `dir` (creating it if absent): loads the last
    /// checkpoint and drops everything written after it (docs/mvcc.md §5).
    pub async fn open(disk: D, dir: &Path, opts: MvccOptions) -> Result<Self, MvccError> {
        assert!(
            opts.segment_bytes > SEGMENT_HEADER_BYTES as u64
                && opts.segment_bytes <= SEGMENT_BYTES_MAX,
            "segment_bytes out of range"
        );
        assert!(
            opts.clean_live_ratio >= 0.0 && opts.clean_live_ratio <= 1.0,
            "clean_live_ratio in [0, 1]"
        );
        disk.create_dir_all(dir)
            .await
            .map_err(storage_err("create dir", dir))?;
        let names = disk
            .read_dir(dir)
            .await
            .map_err(storage_err("read dir", dir))?;
        let manifest_path = dir.join(MANIFEST_FILE);
        let mut seg_files = Vec::new();
        let mut has_manifest = false;
        for name in &names {
            if name == MANIFEST_FILE {
                has_manifest = true;
            } else if name == MANIFEST_TMP_FILE {
                let p = dir.join(name);
                disk.remove(&p).await.map_err(storage_err("remove", &p))?;
            } else if let Some(id) = parse_segment_file_name(name) {
                seg_files.push(id);
            } else {
                warn!(dir = %dir.display(), file = %name, "ignoring unknown file in mvcc dir");
            }
        }
        if !has_manifest {
            return Self::create_fresh(disk, dir, opts, &seg_files, &manifest_path).await;
        }
        let (manifest, manifest_len) = read_manifest(&disk, &manifest_path).await?;
        for &id in &seg_files {
            if !manifest.segments.iter().any(|s| s.id == id) {
                let p = dir.join(format!("{id:016x}.seg"));
                info!(path = %p.display(), "removing data segment written after the last checkpoint");
                disk.remove(&p).await.map_err(storage_err("remove", &p))?;
            }
        }
        // Load every named segment: the last one into memory (it stays active), the others mapped.
        let mut loaded: Vec<(u32, SegData, Option<D::File>)> = Vec::new();
        let last_id = manifest
            .segments
            .last()
            .expect("manifests name at least one segment")
            .id;
        for ms in &manifest.segments {
            let id = u32::try_from(ms.id)
                .map_err(|_| corrupt(&manifest_path, 0, "segment id above 2^32"))?;
            let path = dir.join(segment_file_name(id));
            if !disk
                .exists(&path)
                .await
                .map_err(storage_err("stat", &path))?
            {
                return Err(corrupt(
                    &path,
                    0,
                    "segment named by the manifest is missing",
                ));
            }
            let rw = OpenOptions {
                create: false,
                write: true,
                direct: false,
            };
            let file = disk
                .open(&path, rw)
                .await
                .map_err(storage_err("open segment", &path))?;
            let len = file
                .len()
                .await
                .map_err(storage_err("stat segment", &path))?;
            if len < ms.durable_len {
                return Err(corrupt(
                    &path,
                    len,
                    format!("segment shorter than its durable length {}", ms.durable_len),
                ));
            }
            if len > ms.durable_len {
                file.truncate(ms.durable_len)
                    .await
                    .map_err(storage_err("truncate segment", &path))?;
            }
            let durable =
                usize::try_from(ms.durable_len).map_err(|_| corrupt(&path, 0, "durable length"))?;
            let (data, file) = if ms.id == last_id {
                let buf = file
                    .read_at(0, durable)
                    .await
                    .map_err(storage_err("read segment", &path))?;
                if buf.len() != durable {
                    return Err(corrupt(
                        &path,
                        buf.len() as u64,
                        "short read of a durable segment",
                    ));
                }
                (SegData::Memory(buf), Some(file))
            } else {
                drop(file);
                let map = disk
                    .map(&path)
                    .await
                    .map_err(storage_err("map segment", &path))?;
                if map.len() < durable {
                    return Err(corrupt(
                        &path,
                        map.len() as u64,
                        "mapped segment shorter than its durable length",
                    ));
                }
                (SegData::Mapped(map.slice(..durable)), None)
            };
            let bytes: &[u8] = match &data {
                SegData::Memory(v) => v,
                SegData::Mapped(b) => b,
            };
            record::check_segment_header(bytes, ms.id).map_err(|why| corrupt(&path, 0, why))?;
            loaded.push((id, data, file));
        }
        let (index, live_keys) = build_index(
            dir,
            &loaded,
            manifest.current_revision,
            manifest.compact_revision,
        )?;
        // The index scan touched every mapped page; let them go until a read needs them.
        for (id, data, _) in &loaded {
            if let SegData::Mapped(b) = data {
                disk.release(&dir.join(format!("{id:016x}.seg")), b);
            }
        }
        let mut segs = Segments::new(disk.clone(), dir.to_path_buf(), opts.segment_bytes);
        for (id, data, file) in loaded {
            segs.add_loaded(id, data, file);
        }
        for list in index.values() {
            for e in list.as_slice().iter().filter(|e| e.counted()) {
                segs.segs
                    .get_mut(&e.loc.seg)
                    .expect("entries point at loaded segments")
                    .live_bytes += u64::from(e.loc.len);
            }
        }
        info!(
            dir = %dir.display(),
            revision = manifest.current_revision,
            compact_revision = manifest.compact_revision,
            applied_index = manifest.applied_index,
            keys = index.len(),
            segments = segs.segs.len(),
            "mvcc store opened"
        );
        Ok(MvccStore {
            disk,
            dir: dir.to_path_buf(),
            opts,
            index,
            segs,
            current_revision: manifest.current_revision,
            compact_revision: manifest.compact_revision,
            compaction: CompactState::default(),
            live_keys,
            checkpoint_index: manifest.applied_index,
            checkpoint_meta: manifest.meta.clone(),
            last_manifest: manifest,
            last_manifest_len: manifest_len,
            poisoned: false,
        })
    }

    async fn create_fresh(
        disk: D,
        dir: &Path,
        opts: MvccOptions,
        seg_files: &[u64],
        manifest_path: &Path,
    ) -> Result<Self, MvccError> {
        // Only leftovers of a crash during the very first open may exist: header-only segments.
        for &id in seg_files {
            let p = dir.join(format!("{id:016x}.seg"));
            let f = disk
                .open(&p, OpenOptions::READ)
                .await
                .map_err(storage_err("open segment", &p))?;
            let len = f.len().await.map_err(storage_err("stat segment", &p))?;
            if len > SEGMENT_HEADER_BYTES as u64 {
                return Err(corrupt(
                    manifest_path,
                    0,
                    format!("manifest missing while {} holds data", p.display()),
                ));
            }
        }
        for &id in seg_files {
            let p = dir.join(format!("{id:016x}.seg"));
            disk.remove(&p).await.map_err(storage_err("remove", &p))?;
        }
        let mut segs = Segments::new(disk.clone(), dir.to_path_buf(), opts.segment_bytes);
        segs.start_segment(1);
        let mut store = MvccStore {
            disk,
            dir: dir.to_path_buf(),
            opts,
            index: Index::new(),
            segs,
            current_revision: 1,
            compact_revision: 0,
            compaction: CompactState::default(),
            live_keys: 0,
            checkpoint_index: 0,
            checkpoint_meta: Vec::new(),
            last_manifest: Manifest {
                applied_index: 0,
                current_revision: 1,
                compact_revision: 0,
                meta: Vec::new(),
                segments: Vec::new(),
            },
            last_manifest_len: 0,
            poisoned: false,
        };
        store.checkpoint(0, &[]).await?;
        info!(dir = %dir.display(), "mvcc store created");
        Ok(store)
    }

    /// The revision of the last change (1 for an empty store).
    pub fn current_revision(&self) -> i64 {
        self.current_revision
    }

    /// Reads below this revision fail with `Compacted` (0: never compacted).
    pub fn compact_revision(&self) -> i64 {
        self.compact_revision
    }

    /// The applied index of the last checkpoint (loaded at open or written since).
    pub fn checkpoint_index(&self) -> u64 {
        self.checkpoint_index
    }

    /// The caller's meta bytes of the last checkpoint.
    pub fn checkpoint_meta(&self) -> &[u8] {
        &self.checkpoint_meta
    }

    /// Bytes of all data segment files (including ones awaiting deletion).
    pub fn db_size_bytes(&self) -> u64 {
        self.segs.total_bytes()
    }

    /// Keys alive at the current revision.
    pub fn key_count(&self) -> usize {
        self.live_keys
    }

    /// Bytes appended since the last `flush` (held in memory until then).
    pub fn unflushed_bytes(&self) -> usize {
        self.segs.unflushed_bytes()
    }

    /// Refuses I/O after an earlier I/O failure.
    fn check_io(&self) -> Result<(), MvccError> {
        if self.poisoned {
            Err(MvccError::PreviousIo)
        } else {
            Ok(())
        }
    }

    /// Writes buffered data to the segment files (no fsync) and maps sealed
    /// segments. Call once per loop turn: writes keep data in memory until then.
    pub async fn flush(&mut self) -> Result<(), MvccError> {
        self.check_io()?;
        let r = self.segs.flush().await;
        self.poisoned |= r.is_err();
        r
    }

    /// Makes the current state durable and records `(applied_index, current
    /// revision, compact revision, meta)` atomically (docs/mvcc.md §5).
    pub async fn checkpoint(&mut self, applied_index: u64, meta: &[u8]) -> Result<(), MvccError> {
        self.check_io()?;
        let r = self.checkpoint_inner(applied_index, meta).await;
        self.poisoned |= r.is_err();
        r
    }

    async fn checkpoint_inner(&mut self, applied_index: u64, meta: &[u8]) -> Result<(), MvccError> {
        self.finish_cleaning()?;
        self.segs.flush().await?;
        self.segs.sync().await?;
        let manifest = Manifest {
            applied_index,
            current_revision: self.current_revision,
            compact_revision: self.compact_revision,
            meta: meta.to_vec(),
            segments: self.segs.manifest_segments(),
        };
        let bytes = manifest.encode();
        let tmp = self.dir.join(MANIFEST_TMP_FILE);
        let dst = self.dir.join(MANIFEST_FILE);
        {
            let f = self
                .disk
                .open(&tmp, OpenOptions::CREATE_BUFFERED)
                .await
                .map_err(storage_err("create", &tmp))?;
            f.truncate(0).await.map_err(storage_err("truncate", &tmp))?;
            f.write_at(0, &bytes)
                .await
                .map_err(storage_err("write", &tmp))?;
            f.sync_data().await.map_err(storage_err("fsync", &tmp))?;
        }
        self.disk
            .rename(&tmp, &dst)
            .await
            .map_err(storage_err("rename", &tmp))?;
        self.disk
            .sync_dir(&self.dir)
            .await
            .map_err(storage_err("fsync dir", &self.dir))?;
        self.segs.delete_retired().await?;
        self.checkpoint_index = applied_index;
        self.checkpoint_meta = meta.to_vec();
        self.last_manifest_len = bytes.len() as u64;
        self.last_manifest = manifest;
        Ok(())
    }

    /// The key-value of `entry` (a put) under `key`; without value if `keys_only`.
    pub(crate) fn kv_of(
        &self,
        key: &[u8],
        e: &Entry,
        keys_only: bool,
    ) -> Result<KeyValue, MvccError> {
        debug_assert!(!e.tombstone, "tombstones have no key-value");
        if keys_only {
            return Ok(KeyValue {
                key: Bytes::copy_from_slice(key),
                value: Bytes::new(),
                create_revision: e.create_revision,
                mod_revision: e.main,
                version: e.version,
                lease: e.lease,
            });
        }
        let rec = self.segs.read(e.loc)?;
        if rec.key != key || rec.meta.main != e.main || rec.meta.sub != e.sub || rec.meta.tombstone
        {
            return Err(self
                .segs
                .corrupt(e.loc, "record does not match the index".into()));
        }
        let off = e.loc.off as usize;
        Ok(KeyValue {
            key: self
                .segs
                .slice(e.loc.seg, off + record::RECORD_HEADER_BYTES, rec.key.len()),
            value: self
                .segs
                .slice(e.loc.seg, off + rec.value_offset(), rec.value.len()),
            create_revision: rec.meta.create_revision,
            mod_revision: rec.meta.main,
            version: rec.meta.version,
            lease: rec.meta.lease,
        })
    }
}

async fn read_manifest<D: Disk>(disk: &D, path: &Path) -> Result<(Manifest, u64), MvccError> {
    let f = disk
        .open(path, OpenOptions::READ)
        .await
        .map_err(storage_err("open", path))?;
    let len = f.len().await.map_err(storage_err("stat", path))?;
    let len = usize::try_from(len).map_err(|_| corrupt(path, 0, "manifest too large"))?;
    let buf = f.read_at(0, len).await.map_err(storage_err("read", path))?;
    let m = Manifest::decode(&buf).map_err(|(offset, reason)| corrupt(path, offset, reason))?;
    Ok((m, buf.len() as u64))
}

/// Scans the loaded segments and builds the index compacted at `compact`;
/// returns it with the number of keys alive at the newest revision.
fn build_index<F>(
    dir: &Path,
    loaded: &[(u32, SegData, Option<F>)],
    current: i64,
    compact: i64,
) -> Result<(Index, usize), MvccError> {
    let mut recs: Vec<(&[u8], Entry)> = Vec::new();
    for (id, data, _) in loaded {
        let bytes: &[u8] = match data {
            SegData::Memory(v) => v,
            SegData::Mapped(b) => b,
        };
        let path = dir.join(segment_file_name(*id));
        let mut pos = SEGMENT_HEADER_BYTES;
        while pos < bytes.len() {
            let rec = record::decode_record(&bytes[pos..])
                .map_err(|e| corrupt(&path, pos as u64, e.to_string()))?;
            if rec.meta.main > current {
                return Err(corrupt(
                    &path,
                    pos as u64,
                    format!("record revision {} above checkpoint's", rec.meta.main),
                ));
            }
            let m = rec.meta;
            recs.push((
                rec.key,
                Entry {
                    main: m.main,
                    create_revision: m.create_revision,
                    version: m.version,
                    lease: m.lease,
                    sub: m.sub,
                    tombstone: m.tombstone,
                    dead: false,
                    loc: Loc {
                        seg: *id,
                        off: pos as u32,
                        len: rec.len as u32,
                    },
                },
            ));
            pos += rec.len;
        }
    }
    recs.sort_unstable_by(|a, b| a.0.cmp(b.0).then(a.1.rev().cmp(&b.1.rev())));
    let mut out: Vec<(Box<[u8]>, EntryList)> = Vec::new();
    let mut live_keys = 0;
    let mut i = 0;
    while i < recs.len() {
        let key = recs[i].0;
        let mut entries: Vec<Entry> = Vec::new();
        while i < recs.len() && recs[i].0 == key {
            let e = recs[i].1;
            if entries.last().is_some_and(|prev| prev.rev() == e.rev()) {
                // A checkpoint never names a segment mid-cleaning, so no change has two copies.
                let path = dir.join(segment_file_name(e.loc.seg));
                return Err(corrupt(
                    &path,
                    u64::from(e.loc.off),
                    "a second record for one revision of a key",
                ));
            }
            entries.push(e);
            i += 1;
        }
        let Some(mut list) = EntryList::from_vec(entries) else {
            continue;
        };
        if list.compact(compact, |_| {}) {
            live_keys += usize::from(list.last_live().is_some_and(|e| !e.tombstone));
            out.push((key.into(), list));
        }
    }
    Ok((out.into_iter().collect(), live_keys))
}
