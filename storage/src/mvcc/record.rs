//! Byte format of one data record (docs/mvcc.md §2.2): encoding and checked
//! decoding. Pure functions over byte slices; no I/O.

/// Length of the fixed part of a record.
pub(crate) const RECORD_HEADER_BYTES: usize = 56;
/// Length of a segment file's header (magic + id).
pub(crate) const SEGMENT_HEADER_BYTES: usize = 16;
/// Magic at the start of every data segment.
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"ETCQSEG1";

const FLAG_TOMBSTONE: u8 = 1;

/// The fixed fields of a record (everything but key and value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordMeta {
    pub(crate) main: i64,
    pub(crate) sub: u32,
    pub(crate) tombstone: bool,
    pub(crate) create_revision: i64,
    pub(crate) version: i64,
    pub(crate) lease: i64,
}

/// A decoded, verified record borrowing its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordRef<'a> {
    pub(crate) meta: RecordMeta,
    pub(crate) key: &'a [u8],
    pub(crate) value: &'a [u8],
    /// Total record length.
    pub(crate) len: usize,
}

impl RecordRef<'_> {
    /// Offset of the value inside the record.
    pub(crate) fn value_offset(&self) -> usize {
        RECORD_HEADER_BYTES + self.key.len()
    }
}

/// Encoded length of a record with this key and value.
pub(crate) fn record_len(key_len: usize, value_len: usize) -> usize {
    RECORD_HEADER_BYTES + key_len + value_len
}

/// Appends one record to `out`; returns its length.
pub(crate) fn encode_record(
    out: &mut Vec<u8>,
    meta: &RecordMeta,
    key: &[u8],
    value: &[u8],
) -> usize {
    assert!(!key.is_empty(), "records never have an empty key");
    assert!(
        !meta.tombstone || value.is_empty(),
        "a tombstone carries no value"
    );
    let len = record_len(key.len(), value.len());
    let len_u32 =
        u32::try_from(len).expect("record length fits u32 (request size limits are far below)");
    let start = out.len();
    out.reserve(len);
    out.extend_from_slice(&[0; 4]); // crc, filled below
    out.extend_from_slice(&len_u32.to_le_bytes());
    out.extend_from_slice(&meta.main.to_le_bytes());
    out.extend_from_slice(&meta.sub.to_le_bytes());
    out.push(if meta.tombstone { FLAG_TOMBSTONE } else { 0 });
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&meta.create_revision.to_le_bytes());
    out.extend_from_slice(&meta.version.to_le_bytes());
    out.extend_from_slice(&meta.lease.to_le_bytes());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(out.len() - start, len);
    len
}

/// Why a record failed to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Not enough bytes for the header or the declared length.
    Truncated,
    /// Fields are inconsistent (bad length, flags, zero key).
    Malformed(&'static str),
    /// CRC mismatch.
    Checksum { stored: u32, computed: u32 },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "record truncated"),
            DecodeError::Malformed(why) => write!(f, "malformed record: {why}"),
            DecodeError::Checksum { stored, computed } => {
                write!(
                    f,
                    "record checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )
            }
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Decodes and verifies the record at the start of `buf` (which may extend past it).
pub(crate) fn decode_record(buf: &[u8]) -> Result<RecordRef<'_>, DecodeError> {
    if buf.len() < RECORD_HEADER_BYTES {
        return Err(DecodeError::Truncated);
    }
    let len = u32_at(buf, 4) as usize;
    if len < RECORD_HEADER_BYTES {
        return Err(DecodeError::Malformed("length below header size"));
    }
    if len > buf.len() {
        return Err(DecodeError::Truncated);
    }
    let stored = u32_at(buf, 0);
    let computed = crc32fast::hash(&buf[4..len]);
    if stored != computed {
        return Err(DecodeError::Checksum { stored, computed });
    }
    let flags = buf[20];
    if flags & !FLAG_TOMBSTONE != 0 || buf[21..24] != [0, 0, 0] {
        return Err(DecodeError::Malformed("unknown flags"));
    }
    let key_len = u32_at(buf, 48) as usize;
    let value_len = u32_at(buf, 52) as usize;
    if key_len == 0 {
        return Err(DecodeError::Malformed("empty key"));
    }
    if RECORD_HEADER_BYTES
        .checked_add(key_len)
        .and_then(|n| n.checked_add(value_len))
        != Some(len)
    {
        return Err(DecodeError::Malformed(
            "key and value lengths disagree with record length",
        ));
    }
    let meta = RecordMeta {
        main: i64_at(buf, 8),
        sub: u32_at(buf, 16),
        tombstone: flags & FLAG_TOMBSTONE != 0,
        create_revision: i64_at(buf, 24),
        version: i64_at(buf, 32),
        lease: i64_at(buf, 40),
    };
    if meta.main < 2 {
        return Err(DecodeError::Malformed("revision below 2"));
    }
    if meta.tombstone && value_len != 0 {
        return Err(DecodeError::Malformed("tombstone with a value"));
    }
    let key_end = RECORD_HEADER_BYTES + key_len;
    Ok(RecordRef {
        meta,
        key: &buf[RECORD_HEADER_BYTES..key_end],
        value: &buf[key_end..len],
        len,
    })
}

/// Encodes a segment header.
pub(crate) fn encode_segment_header(id: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut h = [0u8; SEGMENT_HEADER_BYTES];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..].copy_from_slice(&id.to_le_bytes());
    h
}

/// Checks a segment header; returns a reason on mismatch.
pub(crate) fn check_segment_header(buf: &[u8], id: u64) -> Result<(), &'static str> {
    if buf.len() < SEGMENT_HEADER_BYTES {
        return Err("segment shorter than its header");
    }
    if &buf[..8] != SEGMENT_MAGIC {
        return Err("bad segment magic");
    }
    if buf[8..16] != id.to_le_bytes() {
        return Err("segment id in header differs from file name");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> RecordMeta {
        RecordMeta {
            main: 7,
            sub: 3,
            tombstone: false,
            create_revision: 5,
            version: 2,
            lease: 99,
        }
    }

    #[test]
    fn record_round_trips() {
        let mut buf = vec![1, 2, 3];
        let len = encode_record(&mut buf, &meta(), b"key", b"value");
        assert_eq!(len, 56 + 3 + 5);
        let r = decode_record(&buf[3..]).expect("decodes");
        assert_eq!(r.meta, meta());
        assert_eq!(r.key, b"key");
        assert_eq!(r.value, b"value");
        assert_eq!(r.len, len);
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let mut buf = Vec::new();
        encode_record(&mut buf, &meta(), b"k", b"v");
        for bit in 0..buf.len() * 8 {
            let mut b = buf.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_record(&b).is_err(), "bit {bit} flip undetected");
        }
    }

    #[test]
    fn truncated_record_is_detected() {
        let mut buf = Vec::new();
        encode_record(&mut buf, &meta(), b"k", b"value");
        for n in 0..buf.len() {
            assert!(decode_record(&buf[..n]).is_err());
        }
    }
}
