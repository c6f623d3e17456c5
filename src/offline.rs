//! The `etcq` binary's offline commands: `etcq snapshot status FILE` and
//! `etcq snapshot restore FILE --data-dir DIR` (etcdctl's `snapshot status`
//! and `snapshot restore` for etcq's snapshot format, docs/mvcc.md §7.3).
//! They run on one glommio executor, through the same disk seam as the
//! server; no server is started.

use std::path::Path;

use anyhow::Context;

use etcq_storage::disk_glommio::GlommioDisk;
use etcq_storage::restore;
use etcq_storage::wal::WalOptions;

use crate::config::{Command, SnapshotCommand};

/// Runs one offline command to its end.
pub fn run(command: &Command) -> anyhow::Result<()> {
    let command = command.clone();
    glommio::LocalExecutorBuilder::default()
        .name("etcq-offline")
        .spawn(move || async move {
            match command {
                Command::Snapshot(SnapshotCommand::Status { file, write_out }) => {
                    status(&file, &write_out)
                }
                Command::Snapshot(SnapshotCommand::Restore { file, data_dir }) => {
                    restore_into(&file, &data_dir).await
                }
            }
        })
        .map_err(|e| anyhow::anyhow!("starting the executor: {e}"))?
        .join()
        .map_err(|e| anyhow::anyhow!("offline executor failed: {e}"))?
}

fn read_snapshot(file: &Path) -> anyhow::Result<etcq_storage::mvcc::snapshot::SnapshotContents> {
    // The whole file is read and checked (its SHA-256) before anything else.
    let bytes =
        std::fs::read(file).with_context(|| format!("reading snapshot {}", file.display()))?;
    Ok(restore::decode(&bytes, file)?)
}

fn status(file: &Path, write_out: &str) -> anyhow::Result<()> {
    let contents = read_snapshot(file)?;
    let bytes = std::fs::metadata(file)
        .with_context(|| format!("reading snapshot {}", file.display()))?
        .len();
    match write_out {
        "json" => println!(
            "{{\"revision\":{},\"compactRevision\":{},\"raftIndex\":{},\"files\":{},\"totalSize\":{}}}",
            contents.revision,
            contents.compact_revision,
            contents.applied_index,
            contents.files.len(),
            bytes
        ),
        "simple" => println!(
            "revision {}, compacted at {}, raft index {}, {} files, {} bytes, SHA-256 ok",
            contents.revision,
            contents.compact_revision,
            contents.applied_index,
            contents.files.len(),
            bytes
        ),
        other => anyhow::bail!("unknown output format {other:?} (simple or json)"),
    }
    Ok(())
}

async fn restore_into(file: &Path, data_dir: &Path) -> anyhow::Result<()> {
    let contents = read_snapshot(file)?;
    let restored = restore::restore(
        GlommioDisk::new(),
        &contents,
        data_dir,
        WalOptions::default(),
    )
    .await?;
    println!(
        "restored {} at revision {} (raft index {}, {} files, {} bytes) into {}",
        file.display(),
        restored.revision,
        restored.applied_index,
        restored.files,
        restored.bytes,
        restored.member_dir.display()
    );
    Ok(())
}
