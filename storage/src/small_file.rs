//! Small files replaced atomically and checked when read (the server's
//! alarm list, for one). Layout, integers little-endian:
//!
//! ```text
//! 8  magic (the caller's)
//! 4  crc32 (IEEE) of the body
//! 4  body length
//! .. body
//! ```
//!
//! [`save`] writes `<name>.tmp`, fsyncs it, renames it over `<name>` and
//! fsyncs the directory, so a crash leaves the old file or the new one.

use std::io;
use std::path::Path;

use crate::disk::{Disk, DiskFile, OpenOptions};

/// Replaces `dir/name` with `magic` + checksum + `body`, atomically and durably.
pub async fn save<D: Disk>(
    disk: &D,
    dir: &Path,
    name: &str,
    magic: &[u8; 8],
    body: &[u8],
) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut bytes = Vec::with_capacity(16 + body.len());
    bytes.extend_from_slice(magic);
    bytes.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    let len = u32::try_from(body.len()).map_err(|_| io::Error::other("small file over 4 GiB"))?;
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(body);
    {
        let f = disk.open(&tmp, OpenOptions::CREATE_BUFFERED).await?;
        f.truncate(0).await?;
        f.write_at(0, &bytes).await?;
        f.sync_data().await?;
    }
    disk.rename(&tmp, &dir.join(name)).await?;
    disk.sync_dir(dir).await
}

/// Why [`load`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {reason}")]
    Corrupt { path: String, reason: String },
}

/// The body of `path` written by [`save`] with `magic`; `None` if the file
/// does not exist.
pub async fn load<D: Disk>(
    disk: &D,
    path: &Path,
    magic: &[u8; 8],
) -> Result<Option<Vec<u8>>, LoadError> {
    let io_err = |source| LoadError::Io {
        path: path.display().to_string(),
        source,
    };
    let corrupt = |reason: &str| LoadError::Corrupt {
        path: path.display().to_string(),
        reason: reason.to_string(),
    };
    if !disk.exists(path).await.map_err(io_err)? {
        return Ok(None);
    }
    let f = disk.open(path, OpenOptions::READ).await.map_err(io_err)?;
    let len = f.len().await.map_err(io_err)?;
    let buf = f.read_at(0, len as usize).await.map_err(io_err)?;
    if buf.len() < 16 || &buf[..8] != magic {
        return Err(corrupt("bad header"));
    }
    let crc = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    let body_len = u32::from_le_bytes(buf[12..16].try_into().expect("4 bytes")) as usize;
    let body = &buf[16..];
    if body.len() != body_len {
        return Err(corrupt("length mismatch"));
    }
    if crc32fast::hash(body) != crc {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(Some(body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk_mem::MemDisk;
    use futures_lite::future::block_on;

    #[test]
    fn saved_bodies_load_back_and_flips_are_caught() {
        let disk = MemDisk::new();
        let dir = Path::new("/d");
        let path = dir.join("f");
        block_on(async {
            disk.create_dir_all(dir).await.expect("dir");
            assert!(load(&disk, &path, b"TESTMAG1")
                .await
                .expect("load")
                .is_none());
            save(&disk, dir, "f", b"TESTMAG1", b"hello")
                .await
                .expect("save");
            save(&disk, dir, "f", b"TESTMAG1", b"hello!")
                .await
                .expect("save");
            let got = load(&disk, &path, b"TESTMAG1").await.expect("load");
            assert_eq!(got.as_deref(), Some(&b"hello!"[..]));
            assert!(!disk.exists(&dir.join("f.tmp")).await.expect("exists"));
            let good = disk.file_bytes(&path).expect("bytes");
            for i in 0..good.len() {
                let mut bad = good.clone();
                bad[i] ^= 1;
                save_raw(&disk, &path, &bad).await;
                assert!(
                    load(&disk, &path, b"TESTMAG1").await.is_err(),
                    "flip at {i}"
                );
            }
        });
    }

    async fn save_raw(disk: &MemDisk, path: &Path, bytes: &[u8]) {
        let f = disk
            .open(path, OpenOptions::CREATE_BUFFERED)
            .await
            .expect("open");
        f.truncate(0).await.expect("truncate");
        f.write_at(0, bytes).await.expect("write");
    }
}
