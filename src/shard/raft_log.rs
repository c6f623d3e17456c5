//! Glue between the WAL (which knows raft entries only as bytes) and raft-rs's
//! in-memory log: recovery at startup, and raft's logger routed to tracing.

use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, HardState, Snapshot};
use raft::storage::MemStorage;

use etcq_storage::wal::{self, Recovered};

/// Rebuilds raft's log from what the WAL recovered.
///
/// `applied_index` is the MVCC checkpoint's index; the WAL's snapshot marker
/// never runs ahead of it (the marker is written only after the checkpoint).
pub(super) fn recover(
    conf: ConfState,
    recovered: &Recovered,
    applied_index: u64,
) -> Result<MemStorage, String> {
    let storage = MemStorage::new_with_conf_state(conf.clone());
    let mut first_expected = 1;
    if let Some(snap) = &recovered.snapshot {
        if snap.index > applied_index {
            return Err(format!(
                "WAL snapshot marker at index {} is ahead of the store's checkpoint at {}",
                snap.index, applied_index
            ));
        }
        let mut s = Snapshot::default();
        s.mut_metadata().index = snap.index;
        s.mut_metadata().term = snap.term;
        s.mut_metadata().set_conf_state(conf);
        storage.wl().apply_snapshot(s).map_err(|e| e.to_string())?;
        first_expected = snap.index + 1;
    }
    let mut entries = Vec::with_capacity(recovered.entries.len());
    for rec in &recovered.entries {
        let e = Entry::parse_from_bytes(&rec.data)
            .map_err(|err| format!("WAL entry at index {} does not decode: {err}", rec.index))?;
        if e.index != rec.index || e.term != rec.term {
            return Err(format!(
                "WAL entry at index {} carries index {} term {}",
                rec.index, e.index, e.term
            ));
        }
        entries.push(e);
    }
    if let Some(first) = entries.first() {
        if first.index != first_expected {
            return Err(format!(
                "WAL entries start at index {}, expected {}",
                first.index, first_expected
            ));
        }
    }
    let last_index = entries
        .last()
        .map(|e| e.index)
        .unwrap_or(first_expected - 1);
    if applied_index > last_index {
        return Err(format!("store checkpoint at index {applied_index} is ahead of the WAL's last index {last_index}"));
    }
    storage.wl().append(&entries).map_err(|e| e.to_string())?;
    if let Some(hs) = &recovered.hard_state {
        let mut h = HardState {
            term: hs.term,
            vote: hs.vote,
            commit: hs.commit.max(applied_index).min(last_index),
            ..Default::default()
        };
        if h.term < storage.wl().hard_state().term {
            h.term = storage.wl().hard_state().term;
        }
        storage.wl().set_hardstate(h);
    } else if applied_index > 0 {
        storage.wl().mut_hard_state().commit = applied_index;
    }
    Ok(storage)
}

pub(super) fn to_wal_hard_state(hs: &HardState) -> wal::HardState {
    wal::HardState {
        term: hs.term,
        vote: hs.vote,
        commit: hs.commit,
    }
}

/// raft-rs logs through slog; send it to tracing.
pub(super) fn logger() -> slog::Logger {
    slog::Logger::root(TracingDrain, slog::o!())
}

struct TracingDrain;

impl slog::Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record<'_>, _: &slog::OwnedKVList) -> Result<(), slog::Never> {
        match record.level() {
            slog::Level::Critical | slog::Level::Error => {
                tracing::error!(target: "raft", "{}", record.msg())
            }
            slog::Level::Warning => tracing::warn!(target: "raft", "{}", record.msg()),
            slog::Level::Info => tracing::debug!(target: "raft", "{}", record.msg()),
            _ => tracing::trace!(target: "raft", "{}", record.msg()),
        }
        Ok(())
    }
}
