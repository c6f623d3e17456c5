//! The I/O seam: every byte the storage crate reads or writes goes through [`Disk`].
//!
//! Two kinds of implementation live behind it:
//! - [`GlommioDisk`](crate::disk_glommio::GlommioDisk): the real thing. Direct
//!   (O_DIRECT, io_uring) files through glommio's `DmaFile` for the WAL, buffered
//!   files for data segments, and `mmap` for reads of whole files.
//! - [`MemDisk`](crate::disk_mem::MemDisk): an in-memory disk for tests that can
//!   simulate a crash (every byte not covered by a `sync_data` may be lost or torn),
//!   fail operations after a budget, run out of space, and flip bits.
//!
//! The trait uses `async fn` without `Send` bounds on purpose: glommio's futures
//! are `!Send` and all storage lives on one core.
#![allow(async_fn_in_trait)]

use std::io;
use std::path::Path;

use bytes::Bytes;

/// Alignment (and size granularity) of writes to files opened with
/// [`OpenOptions::direct`]: offsets and lengths must be multiples of this.
pub const DIRECT_IO_ALIGN_BYTES: usize = 4096;

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Create the file if it does not exist.
    pub create: bool,
    /// Open for writing as well as reading.
    pub write: bool,
    /// Direct I/O (O_DIRECT): page cache bypassed; writes must be aligned to
    /// [`DIRECT_IO_ALIGN_BYTES`] in offset and length.
    pub direct: bool,
}

impl OpenOptions {
    /// Read-only, buffered.
    pub const READ: OpenOptions = OpenOptions {
        create: false,
        write: false,
        direct: false,
    };
    /// Read-write, buffered, created if missing.
    pub const CREATE_BUFFERED: OpenOptions = OpenOptions {
        create: true,
        write: true,
        direct: false,
    };
    /// Read-write, direct, created if missing.
    pub const CREATE_DIRECT: OpenOptions = OpenOptions {
        create: true,
        write: true,
        direct: true,
    };
}

/// A directory tree of files. Cheap to clone (a handle).
pub trait Disk: Clone + 'static {
    /// An open file.
    type File: DiskFile;

    /// Opens (or creates) the file at `path`.
    async fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<Self::File>;
    /// Names (not paths) of the entries of `dir`, sorted. Missing dir is `NotFound`.
    async fn read_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Removes a file.
    async fn remove(&self, path: &Path) -> io::Result<()>;
    /// Atomically renames `from` to `to`, replacing `to` if it exists.
    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Creates `dir` and its parents.
    async fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Makes the entries of `dir` (creations, renames, removals) durable.
    async fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Gives the file at `target` a second name `link` (a hard link): both
    /// names reach the same bytes, and removing one leaves the other. Both
    /// must be on the same file system. Durable after `sync_dir` of `link`'s
    /// directory.
    async fn hard_link(&self, target: &Path, link: &Path) -> io::Result<()>;
    /// Removes an empty directory.
    async fn remove_dir(&self, dir: &Path) -> io::Result<()>;
    /// Whether a file or directory exists at `path`.
    async fn exists(&self, path: &Path) -> io::Result<bool>;
    /// A read-only view of the whole file as it is now (an `mmap` on the real
    /// disk; a copy on the in-memory one). Later writes to the file may or may
    /// not show through: map only files that are no longer written.
    async fn map(&self, path: &Path) -> io::Result<Bytes>;
    /// Hints that the pages of `view` (a slice of what [`Disk::map`] returned
    /// for `path`) will not be needed soon: they leave the process's resident
    /// set, and the contents stay readable (an access faults them back in from
    /// the page cache or the file). A no-op for anything that is not such a
    /// view, and on the in-memory disk.
    fn release(&self, path: &Path, view: &Bytes) {
        let _ = (path, view);
    }
}

/// An open file. Dropping it closes it.
// `len` is an I/O call returning a Result; an `is_empty` twin would add nothing.
#[allow(clippy::len_without_is_empty)]
pub trait DiskFile: 'static {
    /// Writes all of `buf` at `pos`.
    async fn write_at(&self, pos: u64, buf: &[u8]) -> io::Result<()>;
    /// Reads up to `len` bytes at `pos` (fewer only at end of file).
    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>>;
    /// `fdatasync`: makes every byte written so far durable.
    async fn sync_data(&self) -> io::Result<()>;
    /// Current length in bytes.
    async fn len(&self) -> io::Result<u64>;
    /// Reserves space so that the file is at least `len` bytes long
    /// (`fallocate`; the new bytes read as zeros).
    async fn allocate(&self, len: u64) -> io::Result<()>;
    /// Sets the length to `len`.
    async fn truncate(&self, len: u64) -> io::Result<()>;
}
