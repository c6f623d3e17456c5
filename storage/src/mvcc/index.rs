//! The in-memory index (docs/mvcc.md §3): key -> the changes of that key in
//! `(main, sub)` order, each pointing at its record. Values never live here.
//!
//! Generations are implied: a tombstone entry ends one, the next put starts
//! the next. Everything in this file is pure (no I/O, no segments).

use std::collections::BTreeMap;
use std::ops::Bound;

/// Where a record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) seg: u32,
    pub(crate) off: u32,
    pub(crate) len: u32,
}

/// One change of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) main: i64,
    pub(crate) create_revision: i64,
    pub(crate) version: i64,
    pub(crate) lease: i64,
    pub(crate) sub: u32,
    pub(crate) loc: Loc,
    pub(crate) tombstone: bool,
    /// Removed by compaction but its record may still be on disk (see [`EntryList`]).
    pub(crate) dead: bool,
}

impl Entry {
    pub(crate) fn rev(&self) -> (i64, u32) {
        (self.main, self.sub)
    }

    /// Whether the record counts in its segment's `live_bytes` (cleaning copies it).
    pub(crate) fn counted(&self) -> bool {
        !self.dead || self.tombstone
    }
}

/// The changes of one key, oldest first; never empty. One entry (the common
/// case: a key written once) is held inline, saving an allocation per key.
///
/// Compaction does not forget a put whose record is still on disk: it marks
/// it *dead*. Dead entries are a prefix of the list: dead puts, then possibly
/// one dead tombstone `T` (only after at least one dead put), the newest
/// change at or below the compact revision. `T` must outlive (on disk) every
/// older record of the key, or reopening would resurrect an older put; so log
/// cleaning copies `T` forward while a dead put remains, removes a dead put
/// only when it drops its record, and `T` goes when it is the oldest entry
/// left. Other compacted tombstones are forgotten at once: a newer change
/// (`T` or a live put) hides everything they hid.
#[derive(Debug, Clone)]
pub(crate) enum EntryList {
    One(Entry),
    Many(Vec<Entry>),
}

impl EntryList {
    /// Builds a list from entries sorted by revision; `None` if empty.
    pub(crate) fn from_vec(mut v: Vec<Entry>) -> Option<EntryList> {
        debug_assert!(
            v.windows(2).all(|w| w[0].rev() < w[1].rev()),
            "entries ascend"
        );
        match v.len() {
            0 => None,
            1 => Some(EntryList::One(v.pop().expect("one entry"))),
            _ => Some(EntryList::Many(v)),
        }
    }

    pub(crate) fn as_slice(&self) -> &[Entry] {
        match self {
            EntryList::One(e) => std::slice::from_ref(e),
            EntryList::Many(v) => v,
        }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [Entry] {
        match self {
            EntryList::One(e) => std::slice::from_mut(e),
            EntryList::Many(v) => v,
        }
    }

    /// Number of dead entries (a prefix).
    pub(crate) fn dead_count(&self) -> usize {
        self.as_slice().partition_point(|e| e.dead)
    }

    /// The entries compaction has not removed.
    pub(crate) fn live(&self) -> &[Entry] {
        &self.as_slice()[self.dead_count()..]
    }

    pub(crate) fn last(&self) -> &Entry {
        self.as_slice().last().expect("entry lists are never empty")
    }

    /// The newest change not removed by compaction.
    pub(crate) fn last_live(&self) -> Option<&Entry> {
        Some(self.last()).filter(|e| !e.dead)
    }

    /// Appends a newer change.
    pub(crate) fn push(&mut self, e: Entry) {
        assert!(
            self.last().rev() < e.rev(),
            "changes of a key are appended in revision order"
        );
        assert!(!e.dead, "new changes are live");
        match self {
            EntryList::One(first) => *self = EntryList::Many(vec![*first, e]),
            EntryList::Many(v) => v.push(e),
        }
    }

    /// The newest live change with `main <= rev`, tombstone or not.
    pub(crate) fn at(&self, rev: i64) -> Option<&Entry> {
        let live = self.live();
        live.partition_point(|e| e.main <= rev)
            .checked_sub(1)
            .map(|i| &live[i])
    }

    /// The version visible at `rev`: the newest change `<= rev` unless a tombstone.
    pub(crate) fn visible_at(&self, rev: i64) -> Option<&Entry> {
        self.at(rev).filter(|e| !e.tombstone)
    }

    /// Index (in the whole list) of the change `(main, sub)`.
    pub(crate) fn find(&self, main: i64, sub: u32) -> Option<usize> {
        self.as_slice()
            .binary_search_by(|e| e.rev().cmp(&(main, sub)))
            .ok()
    }

    /// How many leading *live* entries compaction at `compact` removes
    /// (etcd's rule: keep the newest change `<= compact` unless it is a tombstone).
    pub(crate) fn compactable(&self, compact: i64) -> usize {
        let live = self.live();
        match live.partition_point(|e| e.main <= compact).checked_sub(1) {
            None => 0,
            Some(i) if live[i].tombstone => i + 1,
            Some(i) => i,
        }
    }

    /// Index of the first entry that survives compaction at `compact`.
    pub(crate) fn kept_from(&self, compact: i64) -> usize {
        self.dead_count() + self.compactable(compact)
    }

    /// Compaction at `compact`: marks removed entries dead, then normalizes.
    /// `uncount` is called for every entry whose bytes stop counting as live.
    /// Returns `false` if the list is left empty (the caller removes the key).
    pub(crate) fn compact(&mut self, compact: i64, mut uncount: impl FnMut(&Entry)) -> bool {
        let d = self.dead_count();
        let n = self.compactable(compact);
        if n == 0 {
            return true;
        }
        for e in &mut self.as_mut_slice()[d..d + n] {
            e.dead = true;
            if !e.tombstone {
                uncount(e);
            }
        }
        self.normalize(compact, uncount)
    }

    /// Removes the dead put at `i` (its record was dropped by cleaning), then
    /// normalizes. Returns `false` if the list is left empty.
    pub(crate) fn remove_dead_put(
        &mut self,
        i: usize,
        compact: i64,
        uncount: impl FnMut(&Entry),
    ) -> bool {
        let e = self.as_slice()[i];
        assert!(
            e.dead && !e.tombstone,
            "only dead puts are dropped by cleaning"
        );
        match self {
            EntryList::One(_) => unreachable!("a dead put is always followed by a newer change"),
            EntryList::Many(v) => {
                v.remove(i);
            }
        }
        self.normalize(compact, uncount)
    }

    /// Restores the dead-prefix shape: drops dead tombstones other than the
    /// one that is the newest change `<= compact`, and that one too once no
    /// older entry remains. Returns `false` if the list is left empty.
    fn normalize(&mut self, compact: i64, mut uncount: impl FnMut(&Entry)) -> bool {
        let s = self.as_slice();
        let d = self.dead_count();
        let needed = (d > 0 && s[d - 1].tombstone && s.get(d).is_none_or(|e| e.main > compact))
            .then(|| d - 1);
        let has_dead_put = s[..d].iter().any(|e| !e.tombstone);
        let keep =
            |i: usize, e: &Entry| !e.dead || !e.tombstone || (Some(i) == needed && has_dead_put);
        if s.iter().enumerate().all(|(i, e)| keep(i, e)) {
            return true;
        }
        let mut kept = Vec::with_capacity(s.len());
        for (i, e) in s.iter().enumerate() {
            if keep(i, e) {
                kept.push(*e);
            } else {
                uncount(e);
            }
        }
        match EntryList::from_vec(kept) {
            Some(l) => {
                *self = l;
                debug_assert!(self.shape_ok(), "dead prefix shape");
                true
            }
            None => false,
        }
    }

    /// The invariant of the dead prefix (see the type's docs).
    pub(crate) fn shape_ok(&self) -> bool {
        let s = self.as_slice();
        let d = self.dead_count();
        if s[d..].iter().any(|e| e.dead) || d == s.len() && !s[d - 1].tombstone {
            return false;
        }
        match d {
            0 => true,
            _ if s[d - 1].tombstone => d >= 2 && s[..d - 1].iter().all(|e| !e.tombstone),
            _ => s[..d].iter().all(|e| !e.tombstone),
        }
    }
}

/// The index.
pub(crate) type Index = BTreeMap<Box<[u8]>, EntryList>;

/// The key bounds of etcd's `(key, range_end)` forms: empty `range_end` is the
/// single key, `"\0"` is every key `>= key`, otherwise `[key, range_end)`
/// (empty when `range_end <= key`).
pub(crate) fn key_bounds<'a>(
    key: &'a [u8],
    range_end: &'a [u8],
) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    if range_end.is_empty() {
        (Bound::Included(key), Bound::Included(key))
    } else if range_end == b"\0" {
        (Bound::Included(key), Bound::Unbounded)
    } else if range_end <= key {
        (Bound::Included(key), Bound::Excluded(key))
    } else {
        (Bound::Included(key), Bound::Excluded(range_end))
    }
}

/// Iterates the keys selected by `(key, range_end)`.
pub(crate) fn key_range<'i>(
    index: &'i Index,
    key: &[u8],
    range_end: &[u8],
) -> std::collections::btree_map::Range<'i, Box<[u8]>, EntryList> {
    index.range::<[u8], _>(key_bounds(key, range_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(main: i64, tombstone: bool) -> Entry {
        Entry {
            main,
            sub: 0,
            tombstone,
            dead: false,
            create_revision: 0,
            version: 0,
            lease: 0,
            loc: Loc {
                seg: 1,
                off: 0,
                len: 60,
            },
        }
    }

    fn list(v: &[(i64, bool)]) -> EntryList {
        EntryList::from_vec(v.iter().map(|&(m, t)| e(m, t)).collect()).expect("non-empty")
    }

    fn shape(l: &EntryList) -> Vec<(i64, bool)> {
        l.as_slice().iter().map(|e| (e.main, e.dead)).collect()
    }

    #[test]
    fn visibility_follows_the_newest_change_at_or_below() {
        let l = list(&[(2, false), (4, true), (6, false)]);
        assert_eq!(l.visible_at(1), None);
        assert_eq!(l.visible_at(2).map(|e| e.main), Some(2));
        assert_eq!(l.visible_at(3).map(|e| e.main), Some(2));
        assert_eq!(l.visible_at(4), None);
        assert_eq!(l.visible_at(5), None);
        assert_eq!(l.visible_at(9).map(|e| e.main), Some(6));
    }

    #[test]
    fn compaction_rule_keeps_newest_live_change_and_drops_dead_generations() {
        let l = list(&[(2, false), (3, false), (4, true), (6, false)]);
        assert_eq!(
            [1, 2, 3, 4, 5, 6].map(|c| l.compactable(c)),
            [0, 0, 1, 3, 3, 3]
        );
    }

    #[test]
    fn a_compacted_tombstone_stays_while_older_records_remain() {
        let mut l = list(&[(2, false), (3, false), (4, true), (6, false)]);
        let mut uncounted = vec![];
        assert!(l.compact(5, |e| uncounted.push(e.main)));
        assert_eq!(shape(&l), vec![(2, true), (3, true), (4, true), (6, false)]);
        assert_eq!(uncounted, vec![2, 3]);
        assert!(l.shape_ok());
        assert_eq!(l.visible_at(5), None);
        // Cleaning drops the dead puts; the tombstone goes with the last one.
        assert!(l.remove_dead_put(1, 5, |_| {}));
        assert_eq!(shape(&l), vec![(2, true), (4, true), (6, false)]);
        let mut uncounted = vec![];
        assert!(l.remove_dead_put(0, 5, |e| uncounted.push(e.main)));
        assert_eq!(shape(&l), vec![(6, false)]);
        assert_eq!(uncounted, vec![4]);
    }

    #[test]
    fn range_end_forms() {
        assert_eq!(
            key_bounds(b"a", b""),
            (Bound::Included(&b"a"[..]), Bound::Included(&b"a"[..]))
        );
        assert_eq!(
            key_bounds(b"a", b"\0"),
            (Bound::Included(&b"a"[..]), Bound::Unbounded)
        );
        assert_eq!(
            key_bounds(b"b", b"a"),
            (Bound::Included(&b"b"[..]), Bound::Excluded(&b"b"[..]))
        );
    }

    #[test]
    fn a_superseded_tombstone_is_dropped_at_once() {
        let mut l = list(&[(2, false), (3, true), (4, false)]);
        assert!(l.compact(4, |_| {}));
        assert_eq!(shape(&l), vec![(2, true), (4, false)]);
        let mut alone = list(&[(3, true)]);
        assert!(!alone.compact(3, |_| {}), "a lone tombstone leaves nothing");
    }
}
