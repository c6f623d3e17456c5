//! The real [`Disk`]: io_uring through glommio, `mmap` through memmap2.
//!
//! - Direct files (`OpenOptions::direct`) are glommio `DmaFile`s: O_DIRECT, no
//!   page cache, every write 4 KiB-aligned. The caller's bytes are copied into a
//!   DMA buffer from `alloc_dma_buffer` (the WAL writes a few blocks per sync, so
//!   the copy is cheap next to the flush).
//! - Writable direct files (the WAL's) are opened **O_DSYNC**: a write completes
//!   only once it is durable, the kernel adding the cache flush, so a WAL batch
//!   costs one io_uring operation and one completion instead of a write and
//!   then an `fdatasync` (a second loop turn on the raft core). `sync_data` on
//!   them has nothing left to do and returns at once. Their new blocks are
//!   written with zeros when allocated (`allocate`): see docs/wal.md §1.
//! - Buffered files are glommio `BufferedFile`s: the page cache, any alignment.
//!   `BufferedFile` has every operation the seam needs (`write_at`, `read_at`,
//!   `fdatasync`, `pre_allocate`, `truncate`, `file_size`).
//! - Reads of direct files go through a second, buffered handle opened on first
//!   read. Reason: glommio 0.9 decides at open whether a file's device supports
//!   io_uring polling by reading from the file; on an empty (just created) file
//!   that read "succeeds" and the device is then wrongly treated as pollable for
//!   the whole process, after which polled *reads* fail with EOPNOTSUPP on
//!   devices without poll queues (virtio disks) while polled writes still work.
//!   The kernel keeps the page cache coherent with O_DIRECT writes, and reads of
//!   direct files are rare (recovery), so the buffered path costs little. The
//!   read handle is opened by path: do not rename a direct file and then read
//!   it through a handle opened before the rename.
//! - `map` is a read-only `mmap` owned by the returned `Bytes`.
//! - Directory operations use `std::fs` (blocking, but rare: segment creation and
//!   removal); `sync_dir` opens the directory and fsyncs it through glommio.
//!
//! Must be used inside a glommio `LocalExecutor`: glommio's file types need the
//! executor's reactor and panic without one.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;
use glommio::io::{BufferedFile, Directory, DmaFile};

use crate::disk::{Disk, DiskFile, OpenOptions, DIRECT_IO_ALIGN_BYTES};

/// The real disk. A unit handle: cloning is free.
#[derive(Debug, Clone, Copy, Default)]
pub struct GlommioDisk;

impl GlommioDisk {
    /// The disk, for use inside a glommio executor.
    pub fn new() -> GlommioDisk {
        GlommioDisk
    }
}

/// An open file on a [`GlommioDisk`].
pub struct GlommioFile {
    kind: FileKind,
    path: PathBuf,
    /// For direct files: the buffered handle reads go through (module docs).
    reader: RefCell<Option<Rc<BufferedFile>>>,
}

enum FileKind {
    Direct(DmaFile),
    Buffered(BufferedFile),
}

fn glommio_err(err: glommio::GlommioError<()>) -> io::Error {
    io::Error::from(err)
}

impl GlommioFile {
    /// The path the file was opened at (for error messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn direct_reader(&self) -> io::Result<Rc<BufferedFile>> {
        if let Some(reader) = self.reader.borrow().as_ref() {
            return Ok(reader.clone());
        }
        let reader = glommio::io::OpenOptions::new()
            .read(true)
            .buffered_open(&self.path)
            .await
            .map_err(glommio_err)?;
        let reader = Rc::new(reader);
        *self.reader.borrow_mut() = Some(reader.clone());
        Ok(reader)
    }

    async fn write_direct(file: &DmaFile, pos: u64, buf: &[u8]) -> io::Result<()> {
        let align = DIRECT_IO_ALIGN_BYTES as u64;
        if pos % align != 0 || buf.len() as u64 % align != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "unaligned direct I/O write: {} bytes at offset {pos}",
                    buf.len()
                ),
            ));
        }
        let mut done = 0;
        while done < buf.len() {
            let rest = &buf[done..];
            let mut dma = file.alloc_dma_buffer(rest.len());
            dma.as_bytes_mut().copy_from_slice(rest);
            let written = file
                .write_at(dma, pos + done as u64)
                .await
                .map_err(glommio_err)?;
            if written == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "direct write wrote nothing",
                ));
            }
            done += written;
        }
        Ok(())
    }

    async fn write_buffered(file: &BufferedFile, pos: u64, buf: &[u8]) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let written = file
                .write_at(buf[done..].to_vec(), pos + done as u64)
                .await
                .map_err(glommio_err)?;
            if written == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "write wrote nothing",
                ));
            }
            done += written;
        }
        Ok(())
    }
}

/// Bytes per zero-filling write (a multiple of the 4 KiB direct I/O unit).
const ZERO_FILL_CHUNK_BYTES: u64 = 1 << 20;

/// Writes zeros over `[from, to)` of a direct file, rounded out to 4 KiB.
async fn zero_fill(file: &DmaFile, from: u64, to: u64) -> io::Result<()> {
    let mut at = from / 4096 * 4096;
    while at < to {
        let n = ZERO_FILL_CHUNK_BYTES.min(to.div_ceil(4096) * 4096 - at);
        let mut dma = file.alloc_dma_buffer(n as usize);
        dma.as_bytes_mut().fill(0);
        let written = file.write_at(dma, at).await.map_err(glommio_err)?;
        if written == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "zero-filling write wrote nothing",
            ));
        }
        at += written as u64;
    }
    Ok(())
}

impl DiskFile for GlommioFile {
    async fn write_at(&self, pos: u64, buf: &[u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        match &self.kind {
            FileKind::Direct(f) => GlommioFile::write_direct(f, pos, buf).await,
            FileKind::Buffered(f) => GlommioFile::write_buffered(f, pos, buf).await,
        }
    }

    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let at = pos + out.len() as u64;
            let want = len - out.len();
            let got = match &self.kind {
                FileKind::Direct(_) => self.direct_reader().await?.read_at(at, want).await,
                FileKind::Buffered(f) => f.read_at(at, want).await,
            }
            .map_err(glommio_err)?;
            if got.is_empty() {
                break; // end of file
            }
            out.extend_from_slice(&got);
        }
        Ok(out)
    }

    async fn sync_data(&self) -> io::Result<()> {
        match &self.kind {
            // Opened O_DSYNC (see `open`): every completed write is durable.
            FileKind::Direct(_) => Ok(()),
            FileKind::Buffered(f) => f.fdatasync().await,
        }
        .map_err(glommio_err)
    }

    async fn len(&self) -> io::Result<u64> {
        match &self.kind {
            FileKind::Direct(f) => f.file_size().await,
            FileKind::Buffered(f) => f.file_size().await,
        }
        .map_err(glommio_err)
    }

    async fn allocate(&self, len: u64) -> io::Result<()> {
        // fallocate(mode 0): reserves blocks and extends the size; never shrinks.
        match &self.kind {
            FileKind::Direct(f) => {
                let from = f.file_size().await.map_err(glommio_err)?;
                f.pre_allocate(len, false).await.map_err(glommio_err)?;
                // Through a second handle without O_DSYNC (see `open`), synced
                // once at the end: written through `f`, each chunk would wait
                // for its own cache flush, and a background spare would hold
                // the disk for 64 flushes while the WAL's writes queue.
                let f = glommio::io::OpenOptions::new()
                    .write(true)
                    .dma_open(&self.path)
                    .await
                    .map_err(glommio_err)?;
                // Direct files (the WAL) get their new blocks written with
                // zeros now: fallocate leaves them "unwritten", and a direct
                // write into unwritten blocks cannot finish without blocking
                // (io_uring hands it to a worker thread), and the fdatasync
                // after it must also write the inode. Over written blocks a
                // write completes inline and a sync is only a cache flush.
                zero_fill(&f, from, len).await?;
                f.fdatasync().await.map_err(glommio_err)?;
                f.close().await.map_err(glommio_err)
            }
            FileKind::Buffered(f) => f.pre_allocate(len, false).await.map_err(glommio_err),
        }
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        match &self.kind {
            FileKind::Direct(f) => f.truncate(len).await,
            FileKind::Buffered(f) => f.truncate(len).await,
        }
        .map_err(glommio_err)
    }
}

impl Disk for GlommioDisk {
    type File = GlommioFile;

    async fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<GlommioFile> {
        let mut o = glommio::io::OpenOptions::new();
        o.read(true).write(opts.write).create(opts.create);
        let kind = if opts.direct {
            if opts.write {
                // O_DSYNC: a direct write completes only once it is durable
                // (one io_uring operation: the kernel adds the flush), so
                // `sync_data` has nothing left to do for these files.
                o.custom_flags(libc::O_DSYNC);
            }
            FileKind::Direct(o.dma_open(path).await.map_err(glommio_err)?)
        } else {
            FileKind::Buffered(o.buffered_open(path).await.map_err(glommio_err)?)
        };
        Ok(GlommioFile {
            kind,
            path: path.to_path_buf(),
            reader: RefCell::new(None),
        })
    }

    async fn read_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    async fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    async fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    async fn hard_link(&self, target: &Path, link: &Path) -> io::Result<()> {
        std::fs::hard_link(target, link)
    }

    async fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::remove_dir(dir)
    }

    async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        // glommio opens directories relative to no directory fd: a relative
        // path fails with EBADF, so resolve it first.
        let dir = std::path::absolute(dir)?;
        let d = Directory::open(&dir).await.map_err(glommio_err)?;
        d.sync().await.map_err(glommio_err)?;
        d.close().await.map_err(glommio_err)
    }

    async fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    async fn map(&self, path: &Path) -> io::Result<Bytes> {
        let file = std::fs::File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(Bytes::new()); // mmap of an empty file is EINVAL
        }
        // SAFETY: the mapping is read-only and callers map only files that are no
        // longer written (sealed WAL segments, finished data segments); the
        // storage crate never truncates a file while a map of it is alive.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Bytes::from_owner(map))
    }

    fn release(&self, path: &Path, view: &Bytes) {
        let page = 4096usize;
        let start = view.as_ptr() as usize;
        let end = start + view.len();
        // Whole pages inside the view only.
        let (first, last) = (start.div_ceil(page) * page, end / page * page);
        if first >= last || !is_file_mapping_of(first, last, path) {
            return;
        }
        // SAFETY: [first, last) lies inside a read-only shared mapping of `path`
        // (checked against /proc/self/maps): MADV_DONTNEED only drops the page
        // table entries; later reads fault the file's pages back in.
        let rc = unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_DONTNEED,
            )
        };
        if rc != 0 {
            tracing::debug!(path = %path.display(), "madvise(DONTNEED) failed: {}", io::Error::last_os_error());
        }
    }
}

/// Whether `[first, last)` lies inside one mapping of the file at `path`, as
/// /proc/self/maps shows it. Guards `release` against ever being handed heap
/// memory, where MADV_DONTNEED would zero the bytes.
fn is_file_mapping_of(first: usize, last: usize, path: &Path) -> bool {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return false;
    };
    let Ok(canonical) = std::fs::canonicalize(path) else {
        return false;
    };
    maps.lines().any(|line| {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            return false;
        };
        let name = fields.nth(3).unwrap_or("");
        let Some((lo, hi)) = range.split_once('-') else {
            return false;
        };
        let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
        else {
            return false;
        };
        lo <= first && last <= hi && perms.starts_with("r-") && Path::new(name) == canonical
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_write_sync_read_back_and_map_on_a_real_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let ex = glommio::LocalExecutorBuilder::default()
            .make()
            .expect("glommio executor");
        ex.run(async move {
            let disk = GlommioDisk::new();
            let sub = root.join("a/b");
            disk.create_dir_all(&sub).await?;
            let path = sub.join("seg");
            let f = disk.open(&path, OpenOptions::CREATE_DIRECT).await?;
            f.allocate(16384).await?;
            assert_eq!(f.len().await?, 16384);
            let block: Vec<u8> = (0..8192).map(|i| (i % 251) as u8).collect();
            f.write_at(4096, &block).await?;
            let err = f.write_at(100, &block).await.expect_err("unaligned");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            f.sync_data().await?;
            disk.sync_dir(&sub).await?;
            assert_eq!(f.read_at(4096, 8192).await?, block);
            assert_eq!(f.read_at(4100, 10).await?, &block[4..14]);
            assert_eq!(
                f.read_at(16000, 1000).await?.len(),
                384,
                "short read at end of file"
            );
            if let FileKind::Direct(d) = &f.kind {
                use std::os::fd::AsRawFd;
                // SAFETY: F_GETFL on an open descriptor reads its flags only.
                let flags = unsafe { libc::fcntl(d.as_raw_fd(), libc::F_GETFL) };
                assert_ne!(
                    flags & libc::O_DSYNC,
                    0,
                    "writable direct files are O_DSYNC: sync_data relies on it"
                );
            }
            let map = disk.map(&path).await?;
            assert_eq!(map.len(), 16384);
            assert_eq!(&map[4096..12288], &block[..]);
            assert_eq!(disk.read_dir(&sub).await?, vec!["seg".to_string()]);

            let b = disk
                .open(&sub.join("buf"), OpenOptions::CREATE_BUFFERED)
                .await?;
            b.write_at(3, b"xyz").await?;
            b.sync_data().await?;
            assert_eq!(b.read_at(0, 100).await?, b"\0\0\0xyz");
            b.truncate(1).await?;
            assert_eq!(b.len().await?, 1);
            disk.rename(&sub.join("buf"), &sub.join("buf2")).await?;
            assert!(disk.exists(&sub.join("buf2")).await?);
            disk.remove(&sub.join("buf2")).await?;
            assert!(!disk.exists(&sub.join("buf2")).await?);
            io::Result::Ok(())
        })
        .expect("glommio disk smoke test");
    }

    #[test]
    fn released_views_stay_readable_and_heap_bytes_are_never_touched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seg");
        let content: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).expect("write");
        let ex = glommio::LocalExecutorBuilder::default()
            .make()
            .expect("glommio executor");
        ex.run(async move {
            let disk = GlommioDisk::new();
            let view = disk.map(&path).await.expect("map");
            assert_eq!(&view[..], &content[..]);
            disk.release(&path, &view);
            assert_eq!(
                &view[..],
                &content[..],
                "a released view reads the file again"
            );
            // Heap bytes handed in by mistake: never madvised (that would zero them).
            let heap = Bytes::from(content.clone());
            disk.release(&path, &heap);
            assert_eq!(&heap[..], &content[..]);
        });
    }
}
