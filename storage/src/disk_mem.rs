//! An in-memory [`Disk`] for tests, with the faults the real one can have.
//!
//! What it models, so that crash tests mean something:
//! - **Power loss** ([`MemDisk::crash`]): every file keeps its durable content (as
//!   of its last `sync_data`) plus a random *prefix* of the writes made since, in
//!   order; the last write kept may be torn at 512-byte sector boundaries (some of
//!   its sectors kept, others not). Directory changes (create, rename, remove)
//!   not yet covered by a `sync_dir` of their parent may each be reverted. A
//!   rename is reverted or kept as a whole (rename is atomic on the file systems
//!   we run on). Directories themselves are durable as soon as they are created.
//!   With [`MemDisk::set_reordering_crash`] the crash follows the documented
//!   disk model instead: every sector of every unsynced write survives or not
//!   on its own, in any combination (a later write may survive an earlier
//!   one's loss).
//! - **Syncs that take time** ([`MemDisk::set_slow_sync`]): a `sync_data`
//!   covers the writes made before it started; writes made while it is in
//!   flight stay unsynced.
//! - **Failing operations** ([`MemDisk::set_fail_after`]).
//! - **A full disk** ([`MemDisk::set_space_limit`]).
//! - **Bit rot** ([`MemDisk::flip_bit`]).
//! - The kernel's O_DIRECT rule: direct files reject unaligned writes.
//!
//! What it does not model: reads of unsynced data failing, reordering of writes
//! across files (a crash treats each file independently), space held by files
//! that are removed but still open.
//!
//! Everything is deterministic: a crash draws from a generator seeded by the
//! caller, and maps are ordered.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;

use crate::disk::{Disk, DiskFile, OpenOptions, DIRECT_IO_ALIGN_BYTES};

/// Size of the unit a torn write is made of.
const SECTOR_BYTES: u64 = 512;

/// A cheap handle to one in-memory disk. Clones share the disk.
#[derive(Clone, Default)]
pub struct MemDisk {
    state: Rc<RefCell<State>>,
}

type InodeId = u64;

#[derive(Default)]
struct State {
    /// File entries as the running program sees them.
    namespace: BTreeMap<PathBuf, InodeId>,
    /// File entries as they would be after a crash if no pending change survived.
    durable_namespace: BTreeMap<PathBuf, InodeId>,
    /// Directory changes not yet made durable by `sync_dir`, oldest first.
    pending_dir_ops: Vec<PendingDirOp>,
    dirs: BTreeSet<PathBuf>,
    inodes: BTreeMap<InodeId, Inode>,
    next_inode: InodeId,
    /// Bumped by every crash: handles opened before it are dead.
    generation: u64,
    /// Operations that may still succeed; `None` is unlimited.
    ops_left: Option<u64>,
    space_limit_bytes: Option<u64>,
    /// `sync_data` yields once between noting the writes it covers and
    /// making them durable.
    slow_sync: bool,
    /// A crash keeps any subset of unsynced sectors, not a prefix of writes.
    reordering_crash: bool,
}

#[derive(Default)]
struct Inode {
    current: Vec<u8>,
    durable: Vec<u8>,
    unsynced: Vec<PendingWrite>,
}

enum PendingWrite {
    Write { pos: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Clone)]
enum DirOp {
    Create {
        path: PathBuf,
        inode: InodeId,
    },
    Remove {
        path: PathBuf,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        inode: InodeId,
    },
}

struct PendingDirOp {
    op: DirOp,
    /// Directories whose `sync_dir` is still needed to make `op` durable.
    unsynced_dirs: BTreeSet<PathBuf>,
}

impl DirOp {
    fn apply(&self, namespace: &mut BTreeMap<PathBuf, InodeId>) {
        match self {
            DirOp::Create { path, inode } => {
                namespace.insert(path.clone(), *inode);
            }
            DirOp::Remove { path } => {
                namespace.remove(path);
            }
            DirOp::Rename { from, to, inode } => {
                if namespace.get(from) == Some(inode) {
                    namespace.remove(from);
                    namespace.insert(to.clone(), *inode);
                }
            }
        }
    }
}

/// A small deterministic generator (splitmix64); enough for crash choices.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`.
    fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(n) => self.next_u64() % n,
            None => self.next_u64(),
        }
    }

    fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}

fn parent_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn not_found(what: &str, path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{what} not found: {}", path.display()),
    )
}

fn no_space() -> io::Error {
    io::Error::new(io::ErrorKind::StorageFull, "no space left on device")
}

fn write_into(content: &mut Vec<u8>, pos: u64, data: &[u8]) {
    let start = usize::try_from(pos).expect("in-memory file offsets fit in usize");
    let end = start + data.len();
    if content.len() < end {
        content.resize(end, 0);
    }
    content[start..end].copy_from_slice(data);
}

fn set_len(content: &mut Vec<u8>, len: u64) {
    content.resize(
        usize::try_from(len).expect("in-memory file lengths fit in usize"),
        0,
    );
}

impl State {
    /// Spends one operation of the failure budget.
    fn charge(&mut self) -> io::Result<()> {
        match self.ops_left {
            Some(0) => Err(io::Error::other("injected I/O failure")),
            Some(n) => {
                self.ops_left = Some(n - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn dir_exists(&self, dir: &Path) -> bool {
        dir.as_os_str().is_empty() || dir == Path::new("/") || self.dirs.contains(dir)
    }

    fn stored_bytes(&self) -> u64 {
        let live: BTreeSet<InodeId> = self.namespace.values().copied().collect();
        live.iter()
            .filter_map(|id| self.inodes.get(id))
            .map(|i| i.current.len() as u64)
            .sum()
    }

    /// Fails if growing a file from `old_len` to `new_len` exceeds the space limit.
    fn check_space(&self, old_len: u64, new_len: u64) -> io::Result<()> {
        let Some(limit) = self.space_limit_bytes else {
            return Ok(());
        };
        if new_len <= old_len {
            return Ok(());
        }
        if self.stored_bytes() + (new_len - old_len) > limit {
            return Err(no_space());
        }
        Ok(())
    }

    fn push_dir_op(&mut self, op: DirOp, dirs: BTreeSet<PathBuf>) {
        self.pending_dir_ops.push(PendingDirOp {
            op,
            unsynced_dirs: dirs,
        });
    }

    fn inode(&mut self, id: InodeId) -> io::Result<&mut Inode> {
        self.inodes
            .get_mut(&id)
            .ok_or_else(|| io::Error::other("in-memory inode vanished"))
    }
}

impl MemDisk {
    /// An empty disk.
    pub fn new() -> MemDisk {
        MemDisk::default()
    }

    /// Lets the next `ops` operations (of the disk and of its files) succeed and
    /// fails every one after them with "injected I/O failure". `None` removes the
    /// budget. A [`crash`](MemDisk::crash) also removes it (a reboot).
    pub fn set_fail_after(&self, ops: Option<u64>) {
        self.state.borrow_mut().ops_left = ops;
    }

    /// Makes writes and allocations that would bring the total bytes stored above
    /// `bytes` fail with [`io::ErrorKind::StorageFull`] ("no space left on
    /// device"). `None` removes the limit. Survives crashes.
    pub fn set_space_limit(&self, bytes: Option<u64>) {
        self.state.borrow_mut().space_limit_bytes = bytes;
    }

    /// Makes every later `sync_data` take two polls: the first notes the
    /// writes made so far, then it yields; the second makes exactly those
    /// durable. Writes made in between stay unsynced (an `fdatasync` covers
    /// what was written before it was issued). Survives crashes.
    pub fn set_slow_sync(&self, on: bool) {
        self.state.borrow_mut().slow_sync = on;
    }

    /// Makes crashes keep an arbitrary subset of the sectors of unsynced
    /// writes (each sector on its own, later writes independent of earlier
    /// ones) instead of a prefix of the writes. Survives crashes.
    pub fn set_reordering_crash(&self, on: bool) {
        self.state.borrow_mut().reordering_crash = on;
    }

    /// Flips bit `bit` (0..8) of the byte at `byte_offset` of the file at `path`,
    /// in both its current and its durable content: media corruption.
    pub fn flip_bit(&self, path: &Path, byte_offset: u64, bit: u8) -> io::Result<()> {
        assert!(bit < 8, "a byte has 8 bits, not {bit}");
        let mut state = self.state.borrow_mut();
        let id = *state
            .namespace
            .get(path)
            .ok_or_else(|| not_found("file", path))?;
        let inode = state.inode(id)?;
        let at = usize::try_from(byte_offset).expect("in-memory file offsets fit in usize");
        for content in [&mut inode.current, &mut inode.durable] {
            if let Some(byte) = content.get_mut(at) {
                *byte ^= 1 << bit;
            }
        }
        if at >= inode.current.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("offset {byte_offset} is past the end of {}", path.display()),
            ));
        }
        Ok(())
    }

    /// The current content of the file at `path`, if there is one.
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.state.borrow();
        let id = state.namespace.get(path)?;
        state.inodes.get(id).map(|inode| inode.current.clone())
    }

    /// Simulates a power loss followed by a reboot; see the module docs for what
    /// survives. Every open file handle becomes unusable. Deterministic in
    /// `rng_seed`.
    pub fn crash(&self, rng_seed: u64) {
        let mut rng = SplitMix64(rng_seed);
        let mut state = self.state.borrow_mut();
        let state = &mut *state;

        let mut namespace = state.durable_namespace.clone();
        for pending in std::mem::take(&mut state.pending_dir_ops) {
            if rng.coin() {
                pending.op.apply(&mut namespace);
            }
        }

        let live: BTreeSet<InodeId> = namespace.values().copied().collect();
        state.inodes.retain(|id, _| live.contains(id));
        for inode in state.inodes.values_mut() {
            let mut content = std::mem::take(&mut inode.durable);
            let writes = std::mem::take(&mut inode.unsynced);
            if state.reordering_crash {
                for write in writes {
                    match write {
                        PendingWrite::SetLen(len) => {
                            if rng.coin() {
                                set_len(&mut content, len);
                            }
                        }
                        PendingWrite::Write { pos, data } => {
                            keep_some_sectors(&mut rng, &mut content, pos, &data)
                        }
                    }
                }
                inode.current = content.clone();
                inode.durable = content;
                continue;
            }
            let kept = rng.up_to(writes.len() as u64) as usize;
            for (i, write) in writes.into_iter().take(kept).enumerate() {
                let last = i + 1 == kept;
                match write {
                    PendingWrite::SetLen(len) => set_len(&mut content, len),
                    PendingWrite::Write { pos, data } if last && rng.coin() => {
                        // Torn: keep an arbitrary subset of its sectors.
                        keep_some_sectors(&mut rng, &mut content, pos, &data);
                    }
                    PendingWrite::Write { pos, data } => write_into(&mut content, pos, &data),
                }
            }
            inode.current = content.clone();
            inode.durable = content;
        }

        state.namespace = namespace.clone();
        state.durable_namespace = namespace;
        state.generation += 1;
        state.ops_left = None;
    }
}

/// A torn write: an arbitrary subset of the 512-byte sectors of `data` (at
/// `pos`) lands in `content`.
fn keep_some_sectors(rng: &mut SplitMix64, content: &mut Vec<u8>, pos: u64, data: &[u8]) {
    let end = pos + data.len() as u64;
    let mut from = pos;
    while from < end {
        let to = ((from / SECTOR_BYTES + 1) * SECTOR_BYTES).min(end);
        if rng.coin() {
            let a = (from - pos) as usize;
            let b = (to - pos) as usize;
            write_into(content, from, &data[a..b]);
        }
        from = to;
    }
}

/// A future that is pending on its first poll (waking itself) and ready on
/// the second: the "in flight" window of a slow sync.
#[derive(Default)]
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// An open file of a [`MemDisk`].
pub struct MemFile {
    state: Rc<RefCell<State>>,
    inode: InodeId,
    generation: u64,
    write: bool,
    direct: bool,
}

impl MemFile {
    /// Runs `f` on this file's inode after the usual checks (budget, liveness).
    fn with_inode<T>(&self, f: impl FnOnce(&mut State) -> io::Result<T>) -> io::Result<T> {
        let mut state = self.state.borrow_mut();
        state.charge()?;
        if state.generation != self.generation {
            return Err(io::Error::other(
                "file handle from before a simulated crash",
            ));
        }
        f(&mut state)
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.write {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "file not opened for writing",
            ))
        }
    }
}

impl DiskFile for MemFile {
    async fn write_at(&self, pos: u64, buf: &[u8]) -> io::Result<()> {
        self.check_writable()?;
        let align = DIRECT_IO_ALIGN_BYTES as u64;
        if self.direct && (pos % align != 0 || buf.len() as u64 % align != 0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "unaligned direct I/O write: {} bytes at offset {pos}",
                    buf.len()
                ),
            ));
        }
        self.with_inode(|state| {
            let old_len = state.inode(self.inode)?.current.len() as u64;
            state.check_space(old_len, old_len.max(pos + buf.len() as u64))?;
            let inode = state.inode(self.inode)?;
            write_into(&mut inode.current, pos, buf);
            inode.unsynced.push(PendingWrite::Write {
                pos,
                data: buf.to_vec(),
            });
            Ok(())
        })
    }

    async fn read_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        self.with_inode(|state| {
            let content = &state.inode(self.inode)?.current;
            let start = usize::try_from(pos)
                .unwrap_or(usize::MAX)
                .min(content.len());
            let end = start.saturating_add(len).min(content.len());
            Ok(content[start..end].to_vec())
        })
    }

    async fn sync_data(&self) -> io::Result<()> {
        let (slow, covered) = self.with_inode(|state| {
            let slow = state.slow_sync;
            Ok((slow, state.inode(self.inode)?.unsynced.len()))
        })?;
        if slow {
            YieldOnce::default().await;
        }
        // The completion: no second charge of the failure budget.
        let mut state = self.state.borrow_mut();
        if state.generation != self.generation {
            return Err(io::Error::other(
                "file handle from before a simulated crash",
            ));
        }
        let inode = state.inode(self.inode)?;
        if covered >= inode.unsynced.len() {
            inode.durable = inode.current.clone();
            inode.unsynced.clear();
        } else {
            for write in inode.unsynced.drain(..covered) {
                match write {
                    PendingWrite::SetLen(len) => set_len(&mut inode.durable, len),
                    PendingWrite::Write { pos, data } => write_into(&mut inode.durable, pos, &data),
                }
            }
        }
        Ok(())
    }

    async fn len(&self) -> io::Result<u64> {
        self.with_inode(|state| Ok(state.inode(self.inode)?.current.len() as u64))
    }

    async fn allocate(&self, len: u64) -> io::Result<()> {
        self.check_writable()?;
        self.with_inode(|state| {
            let old_len = state.inode(self.inode)?.current.len() as u64;
            if len <= old_len {
                return Ok(());
            }
            state.check_space(old_len, len)?;
            let inode = state.inode(self.inode)?;
            set_len(&mut inode.current, len);
            inode.unsynced.push(PendingWrite::SetLen(len));
            Ok(())
        })
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        self.check_writable()?;
        self.with_inode(|state| {
            let old_len = state.inode(self.inode)?.current.len() as u64;
            state.check_space(old_len, len)?;
            let inode = state.inode(self.inode)?;
            set_len(&mut inode.current, len);
            inode.unsynced.push(PendingWrite::SetLen(len));
            Ok(())
        })
    }
}

impl Disk for MemDisk {
    type File = MemFile;

    async fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<MemFile> {
        let mut state = self.state.borrow_mut();
        state.charge()?;
        if state.dirs.contains(path) {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                path.display().to_string(),
            ));
        }
        let inode = match state.namespace.get(path) {
            Some(&inode) => inode,
            None if opts.create => {
                let parent = parent_of(path);
                if !state.dir_exists(&parent) {
                    return Err(not_found("directory", &parent));
                }
                let inode = state.next_inode;
                state.next_inode += 1;
                state.inodes.insert(inode, Inode::default());
                state.namespace.insert(path.to_path_buf(), inode);
                let op = DirOp::Create {
                    path: path.to_path_buf(),
                    inode,
                };
                state.push_dir_op(op, BTreeSet::from([parent]));
                inode
            }
            None => return Err(not_found("file", path)),
        };
        Ok(MemFile {
            state: self.state.clone(),
            inode,
            generation: state.generation,
            write: opts.write,
            direct: opts.direct,
        })
    }

    async fn read_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut state = self.state.borrow_mut();
        state.charge()?;
        if !state.dir_exists(dir) {
            return Err(not_found("directory", dir));
        }
        let files = state.namespace.keys();
        let names: BTreeSet<String> = files
            .chain(state.dirs.iter())
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        Ok(names.into_iter().collect())
    }

    async fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        state.charge()?;
        if state.namespace.remove(path).is_none() {
            return Err(not_found("file", path));
        }
        let op = DirOp::Remove {
            path: path.to_path_buf(),
        };
        state.push_dir_op(op, BTreeSet::from([parent_of(path)]));
        Ok(())
    }

    async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        state.charge()?;
        let inode = *state
            .namespace
            .get(from)
            .ok_or_else(|| not_found("file", from))?;
        if !state.dir_exists(&parent_of(to)) {
            return Err(not_found("directory", &parent_of(to)));
        }
        state.namespace.remove(from);
        state.namespace.insert(to.to_path_buf(), inode);
        let op = DirOp::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            inode,
        };
        state.push_dir_op(op, BTreeSet::from([parent_of(from), parent_of(to)]));
        Ok(())
    }

    async fn hard_link(&self, target: &Path, link: &Path) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        state.charge()?;
        let inode = *state
            .namespace
            .get(target)
            .ok_or_else(|| not_found("file", target))?;
        let parent = parent_of(link);
        if !state.dir_exists(&parent) {
            return Err(not_found("directory", &parent));
        }
        if state.namespace.contains_key(link) || state.dirs.contains(link) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                link.display().to_string(),
            ));
        }
        state.namespace.insert(link.to_path_buf(), inode);
        let op = DirOp::Create {
            path: link.to_path_buf(),
            inode,
        };
        state.push_dir_op(op, BTreeSet::from([parent]));
        Ok(())
    }

    async fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        state.charge()?;
        if !state.dirs.contains(dir) {
            return Err(not_found("directory", dir));
        }
        let busy = state
            .namespace
            .keys()
            .chain(state.dirs.iter())
            .any(|p| p.parent() == Some(dir));
        if busy {
            return Err(io::Error::new(
                io::ErrorKind::DirectoryNotEmpty,
                dir.display().to_string(),
            ));
        }
        state.dirs.remove(dir);
        Ok(())
    }

    async fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        state.charge()?;
        for ancestor in dir.ancestors() {
            if state.namespace.contains_key(ancestor) {
                return Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    ancestor.display().to_string(),
                ));
            }
            if !state.dir_exists(ancestor) {
                state.dirs.insert(ancestor.to_path_buf());
            }
        }
        Ok(())
    }

    async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        state.charge()?;
        if !state.dir_exists(dir) {
            return Err(not_found("directory", dir));
        }
        let state = &mut *state;
        let mut still_pending = Vec::with_capacity(state.pending_dir_ops.len());
        for mut pending in std::mem::take(&mut state.pending_dir_ops) {
            pending.unsynced_dirs.remove(dir);
            if pending.unsynced_dirs.is_empty() {
                pending.op.apply(&mut state.durable_namespace);
            } else {
                still_pending.push(pending);
            }
        }
        state.pending_dir_ops = still_pending;
        Ok(())
    }

    async fn exists(&self, path: &Path) -> io::Result<bool> {
        let mut state = self.state.borrow_mut();
        state.charge()?;
        Ok(state.namespace.contains_key(path) || state.dir_exists(path))
    }

    async fn map(&self, path: &Path) -> io::Result<Bytes> {
        let mut state = self.state.borrow_mut();
        state.charge()?;
        let id = *state
            .namespace
            .get(path)
            .ok_or_else(|| not_found("file", path))?;
        Ok(Bytes::from(state.inode(id)?.current.clone()))
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future::block_on;

    use super::*;

    fn path(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn synced_bytes_survive_every_crash_and_unsynced_bytes_may_vanish() {
        let mut lost_some = false;
        let mut kept_some = false;
        for seed in 0..200 {
            block_on(async {
                let disk = MemDisk::new();
                disk.create_dir_all(&path("/d")).await?;
                let f = disk.open(&path("/d/f"), OpenOptions::CREATE_DIRECT).await?;
                disk.sync_dir(&path("/d")).await?;
                f.write_at(0, &[1u8; 4096]).await?;
                f.sync_data().await?;
                f.write_at(4096, &[2u8; 8192]).await?;
                disk.crash(seed);
                let bytes = disk
                    .file_bytes(&path("/d/f"))
                    .expect("synced entry survives");
                assert_eq!(&bytes[..4096], &[1u8; 4096][..], "seed {seed}");
                assert!(bytes.len() <= 12288);
                // Sectors of the torn write are either all new or absent (zero).
                for sector in bytes[4096..].chunks(512) {
                    assert!(sector.iter().all(|&b| b == 2) || sector.iter().all(|&b| b == 0));
                }
                lost_some |= bytes.len() < 12288 || bytes[4096..].contains(&0);
                kept_some |= bytes[4096..].contains(&2);
                io::Result::Ok(())
            })
            .expect("in-memory I/O");
        }
        assert!(
            lost_some && kept_some,
            "crashes should both keep and lose unsynced writes"
        );
    }

    #[test]
    fn unsynced_directory_entries_may_be_reverted_synced_ones_stay() {
        let mut reverted = false;
        for seed in 0..64 {
            block_on(async {
                let disk = MemDisk::new();
                disk.create_dir_all(&path("/d")).await?;
                let a = disk
                    .open(&path("/d/a"), OpenOptions::CREATE_BUFFERED)
                    .await?;
                a.write_at(0, b"a").await?;
                a.sync_data().await?;
                disk.sync_dir(&path("/d")).await?;
                disk.open(&path("/d/b"), OpenOptions::CREATE_BUFFERED)
                    .await?;
                disk.rename(&path("/d/a"), &path("/d/c")).await?;
                disk.crash(seed);
                let names = disk.read_dir(&path("/d")).await?;
                let a_or_c: Vec<_> = names.iter().filter(|n| *n == "a" || *n == "c").collect();
                assert_eq!(a_or_c.len(), 1, "a rename is atomic: {names:?}");
                reverted |= !names.contains(&"b".to_string());
                io::Result::Ok(())
            })
            .expect("in-memory I/O");
        }
        assert!(reverted);
    }

    #[test]
    fn direct_files_reject_unaligned_writes() {
        block_on(async {
            let disk = MemDisk::new();
            let f = disk.open(&path("f"), OpenOptions::CREATE_DIRECT).await?;
            for (pos, len) in [(0, 100), (512, 4096), (4096, 4095)] {
                let err = f.write_at(pos, &vec![0; len]).await.expect_err("unaligned");
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            }
            f.write_at(8192, &[7; 4096]).await?;
            assert_eq!(f.len().await?, 12288);
            let b = disk.open(&path("b"), OpenOptions::CREATE_BUFFERED).await?;
            b.write_at(3, b"xyz").await?;
            assert_eq!(b.read_at(0, 100).await?, b"\0\0\0xyz");
            io::Result::Ok(())
        })
        .expect("in-memory I/O");
    }

    #[test]
    fn space_limit_refuses_growth_with_storage_full() {
        block_on(async {
            let disk = MemDisk::new();
            disk.set_space_limit(Some(10_000));
            let f = disk.open(&path("f"), OpenOptions::CREATE_DIRECT).await?;
            f.allocate(8192).await?;
            f.write_at(0, &[1; 8192]).await?; // overwrite: no growth
            let err = f
                .write_at(8192, &[1; 4096])
                .await
                .expect_err("over the limit");
            assert_eq!(err.kind(), io::ErrorKind::StorageFull);
            assert_eq!(err.to_string(), "no space left on device");
            let err = f.allocate(20_000).await.expect_err("over the limit");
            assert_eq!(err.kind(), io::ErrorKind::StorageFull);
            disk.set_space_limit(None);
            f.allocate(20_000).await?;
            io::Result::Ok(())
        })
        .expect("in-memory I/O");
    }

    #[test]
    fn fail_after_budget_and_crash_resets_it() {
        block_on(async {
            let disk = MemDisk::new();
            let f = disk.open(&path("f"), OpenOptions::CREATE_BUFFERED).await?;
            disk.set_fail_after(Some(1));
            f.write_at(0, b"x").await?;
            let err = f.sync_data().await.expect_err("budget spent");
            assert_eq!(err.to_string(), "injected I/O failure");
            disk.crash(1);
            assert!(f.len().await.is_err(), "handles die at a crash");
            disk.open(&path("g"), OpenOptions::CREATE_BUFFERED).await?;
            io::Result::Ok(())
        })
        .expect("in-memory I/O");
    }

    #[test]
    fn flip_bit_corrupts_one_bit() {
        block_on(async {
            let disk = MemDisk::new();
            let f = disk.open(&path("f"), OpenOptions::CREATE_BUFFERED).await?;
            f.write_at(0, &[0u8; 4]).await?;
            disk.flip_bit(&path("f"), 2, 3)?;
            assert_eq!(disk.file_bytes(&path("f")), Some(vec![0, 0, 8, 0]));
            assert_eq!(&disk.map(&path("f")).await?[..], &[0, 0, 8, 0]);
            assert!(disk.flip_bit(&path("f"), 4, 0).is_err());
            io::Result::Ok(())
        })
        .expect("in-memory I/O");
    }
}
