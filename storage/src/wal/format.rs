//! The WAL's bytes: segment names, record framing, payload codecs. Pure
//! functions over byte slices, no I/O. The format is drawn in docs/wal.md §1-2.

use std::ops::Range;

use bytes::Bytes;

use super::{HardState, SnapshotMarker};

/// Every record starts at a multiple of this; a header never straddles a sector.
pub(crate) const RECORD_ALIGN_BYTES: usize = 16;
/// Bytes of a record header: len u32, crc u32, batch_start u32, kind u8, 3 zero.
pub(crate) const HEADER_BYTES: usize = 16;
/// The unit a torn write is made of (docs/wal.md §4).
pub(crate) const SECTOR_BYTES: usize = 512;

const MAGIC: &[u8; 8] = b"ETCQWAL1";
const VERSION: u32 = 1;
const SEGMENT_HEADER_PAYLOAD_BYTES: usize = 8 + 4 + 4 + 8 + 8 + 8 + 8;
const ENTRY_FIXED_PAYLOAD_BYTES: usize = 16;
const HARD_STATE_PAYLOAD_BYTES: usize = 24;
const SNAPSHOT_PAYLOAD_BYTES: usize = 16;

/// Bytes the records every segment starts with can take at most: segment
/// header, HardState, snapshot marker.
pub(crate) const SEGMENT_PREAMBLE_MAX_BYTES: usize = record_bytes(SEGMENT_HEADER_PAYLOAD_BYTES)
    + record_bytes(HARD_STATE_PAYLOAD_BYTES)
    + record_bytes(SNAPSHOT_PAYLOAD_BYTES);

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    SegmentHeader = 1,
    Entry = 2,
    HardState = 3,
    Snapshot = 4,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::SegmentHeader),
            2 => Some(Kind::Entry),
            3 => Some(Kind::HardState),
            4 => Some(Kind::Snapshot),
            _ => None,
        }
    }
}

/// Rounds `n` up to a multiple of `align` (a power of two).
pub(crate) const fn align_up(n: usize, align: usize) -> usize {
    (n + align - 1) & !(align - 1)
}

/// Bytes a record with a payload of `payload_bytes` takes, padding included.
pub(crate) const fn record_bytes(payload_bytes: usize) -> usize {
    align_up(HEADER_BYTES + payload_bytes, RECORD_ALIGN_BYTES)
}

/// Bytes an entry record with `data_bytes` of entry data takes.
pub(crate) const fn entry_record_bytes(data_bytes: usize) -> usize {
    record_bytes(ENTRY_FIXED_PAYLOAD_BYTES + data_bytes)
}

/// `<seq>-<first_index>.wal`, 16 lowercase hex digits each.
pub(crate) fn segment_file_name(seq: u64, first_index: u64) -> String {
    format!("{seq:016x}-{first_index:016x}.wal")
}

/// The inverse of [`segment_file_name`]. `None` when `name` is not a `.wal` file
/// at all; `Some(Err(()))` when it is one whose name does not parse.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<Result<(u64, u64), ()>> {
    let stem = name.strip_suffix(".wal")?;
    let parse = || {
        let (seq, first) = stem.split_once('-').ok_or(())?;
        if seq.len() != 16 || first.len() != 16 {
            return Err(());
        }
        let seq = u64::from_str_radix(seq, 16).map_err(|_| ())?;
        let first = u64::from_str_radix(first, 16).map_err(|_| ())?;
        Ok((seq, first))
    };
    Some(parse())
}

fn record_crc(seq: u64, offset: u64, len: u32, header_tail: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&offset.to_le_bytes());
    h.update(&len.to_le_bytes());
    h.update(header_tail);
    h.update(payload);
    h.finalize()
}

/// Appends one record to `buf`, whose first byte sits at segment offset
/// `buf_start`. The record lands at `buf_start + buf.len()`.
pub(crate) fn encode_record(
    buf: &mut Vec<u8>,
    buf_start: u64,
    seq: u64,
    batch_start: u32,
    kind: Kind,
    payload: &[&[u8]],
) {
    let offset = buf_start + buf.len() as u64;
    assert_eq!(
        offset % RECORD_ALIGN_BYTES as u64,
        0,
        "records start 16-aligned"
    );
    assert!(
        u64::from(batch_start) <= offset,
        "a batch starts before its records"
    );
    let len: usize = payload.iter().map(|p| p.len()).sum();
    let len32 = u32::try_from(len).expect("record payloads are bounded by the segment size");
    let at = buf.len();
    buf.extend_from_slice(&[0u8; HEADER_BYTES]);
    for part in payload {
        buf.extend_from_slice(part);
    }
    buf.resize(at + record_bytes(len), 0);

    let header_tail = {
        let mut t = [0u8; 8];
        t[..4].copy_from_slice(&batch_start.to_le_bytes());
        t[4] = kind as u8;
        t
    };
    let crc = record_crc(
        seq,
        offset,
        len32,
        &header_tail,
        &buf[at + HEADER_BYTES..at + HEADER_BYTES + len],
    );
    buf[at..at + 4].copy_from_slice(&len32.to_le_bytes());
    buf[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
    buf[at + 8..at + 16].copy_from_slice(&header_tail);
    debug_assert!(
        matches!(
            probe(
                &buf[at..],
                seq,
                offset as usize,
                offset as usize,
                offset as usize + record_bytes(len)
            ),
            Probe::Valid(_)
        ),
        "a record must decode right after it is encoded"
    );
}

/// A record found valid at some offset.
#[derive(Debug, Clone)]
pub(crate) struct RawRecord {
    pub(crate) offset: u64,
    pub(crate) batch_start: u64,
    pub(crate) kind: Kind,
    /// Payload range in the segment's bytes.
    pub(crate) payload: Range<usize>,
    /// Offset of the next record.
    pub(crate) next: u64,
}

/// What is at an offset of a segment.
#[derive(Debug)]
pub(crate) enum Probe {
    /// A record whose CRC matches.
    Valid(RawRecord),
    /// No room for a header before the segment's capacity.
    Full,
    /// The header is all zeros (or past the end of the data: it reads as zeros).
    Zero,
    /// A non-zero header that cannot be one (docs/wal.md §4 rule 3).
    Implausible(&'static str),
    /// A plausible header whose record fails its CRC. `sector_missing`: some
    /// sector of the record reads as all zeros or lies past the end of the data,
    /// as in a torn write (§4 rule 4). `extent_end`: where the header says the
    /// record ends.
    BadCrc {
        sector_missing: bool,
        extent_end: u64,
    },
}

/// Examines the bytes at segment offset `offset`. `data` is the segment's
/// content starting at offset `data_offset` (bytes past its end read as zeros);
/// `capacity` is the segment size.
pub(crate) fn probe(
    data: &[u8],
    seq: u64,
    offset: usize,
    data_offset: usize,
    capacity: usize,
) -> Probe {
    debug_assert_eq!(offset % RECORD_ALIGN_BYTES, 0);
    if offset + HEADER_BYTES > capacity {
        return Probe::Full;
    }
    let local = offset - data_offset;
    let Some(header) = data.get(local..local + HEADER_BYTES) else {
        return Probe::Zero;
    };
    if header.iter().all(|&b| b == 0) {
        return Probe::Zero;
    }
    let len32 = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let batch_start = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    let Some(kind) = Kind::from_u8(header[12]) else {
        return Probe::Implausible("unknown record kind");
    };
    if header[13..16] != [0, 0, 0] {
        return Probe::Implausible("reserved header bytes are not zero");
    }
    let len = len32 as usize;
    let end = offset + HEADER_BYTES + len;
    if end > capacity {
        return Probe::Implausible("record length runs past the end of the segment");
    }
    if batch_start as usize > offset {
        return Probe::Implausible("record claims a batch that starts after it");
    }
    let local_end = end - data_offset;
    let crc_ok = data
        .get(local + HEADER_BYTES..local_end)
        .is_some_and(|payload| {
            record_crc(seq, offset as u64, len32, &header[8..16], payload) == crc
        });
    if crc_ok {
        return Probe::Valid(RawRecord {
            offset: offset as u64,
            batch_start: u64::from(batch_start),
            kind,
            payload: local + HEADER_BYTES..local_end,
            next: record_bytes(len) as u64 + offset as u64,
        });
    }
    // Torn or corrupt? A torn record lacks a sector: its part of that sector
    // (from the record's start on) reads as zeros, or lies past the data.
    let mut sector_missing = local_end > data.len();
    let mut from = offset;
    while !sector_missing && from < end {
        let to = ((from / SECTOR_BYTES + 1) * SECTOR_BYTES).min(end);
        sector_missing = data[from - data_offset..to - data_offset]
            .iter()
            .all(|&b| b == 0);
        from = to;
    }
    Probe::BadCrc {
        sector_missing,
        extent_end: end as u64,
    }
}

fn u64_at(p: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(p[at..at + 8].try_into().expect("8 bytes"))
}

/// The payload of a segment header record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub(crate) seq: u64,
    pub(crate) first_index: u64,
    pub(crate) segment_bytes: u64,
    /// Valid bytes of the segment before this one (0 if none).
    pub(crate) prev_end: u64,
}

impl SegmentHeader {
    pub(crate) fn encode(&self) -> [u8; SEGMENT_HEADER_PAYLOAD_BYTES] {
        let mut p = [0u8; SEGMENT_HEADER_PAYLOAD_BYTES];
        p[0..8].copy_from_slice(MAGIC);
        p[8..12].copy_from_slice(&VERSION.to_le_bytes());
        p[16..24].copy_from_slice(&self.seq.to_le_bytes());
        p[24..32].copy_from_slice(&self.first_index.to_le_bytes());
        p[32..40].copy_from_slice(&self.segment_bytes.to_le_bytes());
        p[40..48].copy_from_slice(&self.prev_end.to_le_bytes());
        p
    }

    pub(crate) fn decode(p: &[u8]) -> Result<SegmentHeader, &'static str> {
        if p.len() != SEGMENT_HEADER_PAYLOAD_BYTES {
            return Err("segment header has the wrong length");
        }
        if &p[0..8] != MAGIC {
            return Err("segment header has the wrong magic");
        }
        if p[8..12] != VERSION.to_le_bytes() || p[12..16] != [0; 4] {
            return Err("unsupported segment format version");
        }
        Ok(SegmentHeader {
            seq: u64_at(p, 16),
            first_index: u64_at(p, 24),
            segment_bytes: u64_at(p, 32),
            prev_end: u64_at(p, 40),
        })
    }
}

pub(crate) fn encode_entry_prefix(index: u64, term: u64) -> [u8; ENTRY_FIXED_PAYLOAD_BYTES] {
    let mut p = [0u8; ENTRY_FIXED_PAYLOAD_BYTES];
    p[0..8].copy_from_slice(&index.to_le_bytes());
    p[8..16].copy_from_slice(&term.to_le_bytes());
    p
}

/// `(index, term, data)` of an entry payload; `payload` is the segment's bytes
/// sliced to the payload (so `data` shares them).
pub(crate) fn decode_entry(payload: &Bytes) -> Result<(u64, u64, Bytes), &'static str> {
    if payload.len() < ENTRY_FIXED_PAYLOAD_BYTES {
        return Err("entry record too short");
    }
    let index = u64_at(payload, 0);
    let term = u64_at(payload, 8);
    Ok((index, term, payload.slice(ENTRY_FIXED_PAYLOAD_BYTES..)))
}

pub(crate) fn encode_hard_state(hs: &HardState) -> [u8; HARD_STATE_PAYLOAD_BYTES] {
    let mut p = [0u8; HARD_STATE_PAYLOAD_BYTES];
    p[0..8].copy_from_slice(&hs.term.to_le_bytes());
    p[8..16].copy_from_slice(&hs.vote.to_le_bytes());
    p[16..24].copy_from_slice(&hs.commit.to_le_bytes());
    p
}

pub(crate) fn decode_hard_state(p: &[u8]) -> Result<HardState, &'static str> {
    if p.len() != HARD_STATE_PAYLOAD_BYTES {
        return Err("hard state record has the wrong length");
    }
    Ok(HardState {
        term: u64_at(p, 0),
        vote: u64_at(p, 8),
        commit: u64_at(p, 16),
    })
}

pub(crate) fn encode_snapshot(s: &SnapshotMarker) -> [u8; SNAPSHOT_PAYLOAD_BYTES] {
    let mut p = [0u8; SNAPSHOT_PAYLOAD_BYTES];
    p[0..8].copy_from_slice(&s.index.to_le_bytes());
    p[8..16].copy_from_slice(&s.term.to_le_bytes());
    p
}

pub(crate) fn decode_snapshot(p: &[u8]) -> Result<SnapshotMarker, &'static str> {
    if p.len() != SNAPSHOT_PAYLOAD_BYTES {
        return Err("snapshot marker record has the wrong length");
    }
    Ok(SnapshotMarker {
        index: u64_at(p, 0),
        term: u64_at(p, 8),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_sort_by_seq() {
        let name = segment_file_name(1, 0x4d3);
        assert_eq!(name, "0000000000000001-00000000000004d3.wal");
        assert_eq!(parse_segment_file_name(&name), Some(Ok((1, 0x4d3))));
        assert_eq!(parse_segment_file_name("x.tmp"), None);
        assert_eq!(parse_segment_file_name("1-2.wal"), Some(Err(())));
        assert!(segment_file_name(2, 1) < segment_file_name(10, 0));
    }

    #[test]
    fn a_record_is_valid_only_at_its_own_offset_and_segment() {
        let mut buf = vec![0u8; 32];
        encode_record(
            &mut buf,
            0,
            7,
            32,
            Kind::Entry,
            &[&encode_entry_prefix(1, 1), b"abc"],
        );
        assert!(matches!(probe(&buf, 7, 32, 0, 4096), Probe::Valid(_)));
        assert!(matches!(probe(&buf, 8, 32, 0, 4096), Probe::BadCrc { .. }));
        let mut moved = vec![0u8; 48];
        moved.extend_from_slice(&buf[32..]);
        assert!(matches!(
            probe(&moved, 7, 48, 0, 4096),
            Probe::BadCrc { .. }
        ));
    }

    #[test]
    fn zero_headers_implausible_headers_and_torn_records_are_told_apart() {
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            0,
            1,
            0,
            Kind::Entry,
            &[&encode_entry_prefix(1, 1), &[9u8; 1000]],
        );
        assert!(matches!(probe(&buf, 1, buf.len(), 0, 4096), Probe::Zero));
        assert!(matches!(probe(&buf, 1, 4096, 0, 4096), Probe::Full));
        let mut flipped = buf.clone();
        flipped[12] = 9; // kind
        assert!(matches!(
            probe(&flipped, 1, 0, 0, 4096),
            Probe::Implausible(_)
        ));
        let mut flipped = buf.clone();
        flipped[700] ^= 1; // payload bit rot: every sector present
        assert!(matches!(
            probe(&flipped, 1, 0, 0, 4096),
            Probe::BadCrc {
                sector_missing: false,
                ..
            }
        ));
        let mut torn = buf.clone();
        torn[512..1024].fill(0); // second sector never made it
        assert!(matches!(
            probe(&torn, 1, 0, 0, 4096),
            Probe::BadCrc {
                sector_missing: true,
                ..
            }
        ));
        let short = &buf[..600]; // past the end of the data
        assert!(matches!(
            probe(short, 1, 0, 0, 4096),
            Probe::BadCrc {
                sector_missing: true,
                ..
            }
        ));
    }
}
