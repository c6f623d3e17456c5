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

    /// Does at most about `max_keys` units of physical compaction (keys of the
    /// index walk, then records of log cleaning). Returns whether nothing is
    /// left to do. Never does I/O: cleaned segments' files are deleted at the
    /// next checkpoint.
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
        while budget > 0 {
            if self.compaction.cleaning.is_none() {
                match self.cleaning_candidate() {
                    Some(id) => self.compaction.cleaning = Some((id, record::SEGMENT_HEADER_BYTES)),
                    None => return Ok(true),
                }
            }
            self.clean_one_record()?;
            budget -= 1;
        }
        Ok(false)
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
