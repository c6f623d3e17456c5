//! Compaction: logical at `compact`, physical in bounded `compact_step`s
//! (docs/mvcc.md §4): first the index walk, then log cleaning of sealed
//! segments with a low live ratio.

use std::ops::Bound;

use super::record;
use super::segments::SegData;
use super::store::MvccStore;
use super::types::MvccError;
use crate::disk::Disk;

impl<D: Disk> MvccStore<D> {
    /// Compacts at `revision`: reads below it fail from now on. Physical work
    /// is queued for [`compact_step`](Self::compact_step).
    pub fn compact(&mut self, revision: i64) -> Result<(), MvccError> {
        if revision <= self.compact_revision {
            return Err(MvccError::Compacted {
                compact_revision: self.compact_revision,
            });
        }
        if revision > self.current_revision {
            return Err(MvccError::FutureRev {
                current_revision: self.current_revision,
            });
        }
        self.compact_revision = revision;
        self.compaction.index_cursor = Some(Bound::Unbounded);
        Ok(())
    }

    /// Asks for a defragmentation: once the pending index compaction is done,
    /// every data segment that holds garbage (bytes of records the index no
    /// longer needs) is cleaned by later [`compact_step`](Self::compact_step)s,
    /// whatever its live ratio; the active segment too (it is sealed first).
    /// `compact_step` returns `true` once they all are. Their files go at the
    /// next checkpoint, so `db_size_bytes` shrinks then.
    pub fn defragment(&mut self) {
        self.compaction.defrag_requested = true;
    }

    /// Whether a defragmentation is asked for or running.
    pub fn defragmenting(&self) -> bool {
        self.compaction.defrag_requested || !self.compaction.defrag.is_empty()
    }

    /// Does at most about `max_keys` units of physical compaction (keys of the
    /// index walk, then records of log cleaning). Returns whether nothing is
    /// left to do. Does no I/O, except one `flush` when a defragmentation
    /// starts (it seals the active segment, and only flushed segments are
    /// cleaned): cleaned segments' files are deleted at the next checkpoint.
    pub async fn compact_step(&mut self, max_keys: usize) -> Result<bool, MvccError> {
        if self.poisoned {
            return Err(MvccError::PreviousIo);
        }
        let mut budget = max_keys.max(1);
        if let Some(cursor) = self.compaction.index_cursor.take() {
            let bound = match &cursor {
                Bound::Unbounded => Bound::Unbounded,
                Bound::Excluded(k) => Bound::Excluded(&k[..]),
                Bound::Included(k) => Bound::Included(&k[..]),
            };
            let keys: Vec<Box<[u8]>> = self
                .index
                .range::<[u8], _>((bound, Bound::Unbounded))
                .take(budget)
                .map(|(k, _)| k.clone())
                .collect();
            for k in &keys {
                self.compact_key(k);
            }
            if keys.len() < budget {
                budget -= keys.len();
            } else {
                let last = keys.into_iter().last().expect("budget is at least one");
                self.compaction.index_cursor = Some(Bound::Excluded(last));
                return Ok(false);
            }
        }
        if std::mem::take(&mut self.compaction.defrag_requested) {
            self.start_defrag().await?;
        }
        while budget > 0 {
            if self.compaction.cleaning.is_none() {
                match self
                    .cleaning_candidate()
                    .or_else(|| self.next_defrag_segment())
                {
                    Some(id) => self.compaction.cleaning = Some((id, record::SEGMENT_HEADER_BYTES)),
                    None => return Ok(true),
                }
            }
            self.clean_one_record()?;
            budget -= 1;
        }
        Ok(false)
    }

    /// Seals the active segment if it holds garbage, flushes (so every sealed
    /// segment is mapped and can be cleaned) and lists the segments to clean.
    async fn start_defrag(&mut self) -> Result<(), MvccError> {
        let active = &self.segs.segs[&self.segs.active];
        if active.live_bytes < active.data_bytes() {
            let next = self
                .segs
                .active
                .checked_add(1)
                .expect("segment ids below 2^32");
            self.segs.start_segment(next);
        }
        let r = self.segs.flush().await;
        self.poisoned |= r.is_err();
        r?;
        self.compaction.defrag = self
            .segs
            .segs
            .iter()
            .filter(|(&id, s)| id != self.segs.active && s.has_garbage())
            .map(|(&id, _)| id)
            .collect();
        // Popped from the end: lowest id first.
        self.compaction.defrag.reverse();
        Ok(())
    }

    /// The next segment a running defragmentation still has to clean.
    fn next_defrag_segment(&mut self) -> Option<u32> {
        while let Some(id) = self.compaction.defrag.pop() {
            // Retired since (by ratio-based cleaning), or no garbage left.
            if let Some(s) = self.segs.segs.get(&id) {
                if s.has_garbage() && s.is_mapped() && id != self.segs.active {
                    return Some(id);
                }
            }
        }
        None
    }

    /// Finishes evacuating the segment being cleaned, so that a manifest never
    /// names a segment whose live records were partly copied (docs/mvcc.md §5.1).
    pub(crate) fn finish_cleaning(&mut self) -> Result<(), MvccError> {
        while self.compaction.cleaning.is_some() {
            self.clean_one_record()?;
        }
        Ok(())
    }

    /// Processes the next record of the segment being cleaned, or retires the
    /// segment at its end.
    fn clean_one_record(&mut self) -> Result<(), MvccError> {
        let (seg_id, off) = self
            .compaction
            .cleaning
            .expect("a segment is being cleaned");
        let data = match &self
            .segs
            .segs
            .get(&seg_id)
            .expect("the segment being cleaned exists")
            .data
        {
            SegData::Mapped(b) => b.clone(),
            SegData::Memory(_) => unreachable!("only mapped segments are cleaned"),
        };
        if off >= data.len() {
            self.segs.retire(seg_id);
            self.compaction.cleaning = None;
            return Ok(());
        }
        let rec = record::decode_record(&data[off..]).map_err(|e| MvccError::Corrupt {
            path: self.segs.path(seg_id),
            offset: off as u64,
            reason: e.to_string(),
        })?;
        self.compaction.cleaning = Some((seg_id, off + rec.len));
        let compact = self.compact_revision;
        let Some(list) = self.index.get_mut(rec.key) else {
            return Ok(());
        };
        let Some(i) = list.find(rec.meta.main, rec.meta.sub) else {
            return Ok(());
        };
        let e = list.as_slice()[i];
        if e.loc.seg != seg_id || e.loc.off as usize != off {
            return Ok(()); // a stale copy
        }
        if e.counted() {
            // Live, or the tombstone that must outlive older dead puts: copy forward.
            let new_loc = self.segs.append_raw(&data[off..off + rec.len]);
            list.as_mut_slice()[i].loc = new_loc;
            let seg = self
                .segs
                .segs
                .get_mut(&seg_id)
                .expect("the segment being cleaned exists");
            seg.live_bytes -= u64::from(e.loc.len);
        } else {
            let segs = &mut self.segs.segs;
            let keep = list.remove_dead_put(i, compact, |t| {
                segs.get_mut(&t.loc.seg)
                    .expect("entries point at live segments")
                    .live_bytes -= u64::from(t.loc.len);
            });
            if !keep {
                self.index.remove(rec.key);
            }
        }
        Ok(())
    }

    /// Compacts the history of `key` at the compact revision.
    fn compact_key(&mut self, key: &[u8]) {
        let compact = self.compact_revision;
        let Some(list) = self.index.get_mut(key) else {
            return;
        };
        let segs = &mut self.segs.segs;
        let keep = list.compact(compact, |e| {
            let seg = segs
                .get_mut(&e.loc.seg)
                .expect("entries point at live segments");
            seg.live_bytes -= u64::from(e.loc.len);
        });
        if !keep {
            self.index.remove(key);
        }
    }

    /// The sealed, mapped segment with the lowest live ratio below the threshold.
    fn cleaning_candidate(&self) -> Option<u32> {
        self.segs
            .segs
            .iter()
            .filter(|(&id, s)| id != self.segs.active && s.sealed && s.is_mapped())
            .map(|(&id, s)| (id, s.live_bytes as f64 / s.data_bytes().max(1) as f64))
            .filter(|&(_, ratio)| ratio < self.opts.clean_live_ratio)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(id, _)| id)
    }
}
