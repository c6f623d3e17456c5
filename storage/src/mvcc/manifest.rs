//! Byte format of the manifest (docs/mvcc.md §2.3): the last checkpoint.
//! Pure encoding and checked decoding; the store does the I/O.

const MAGIC: &[u8; 8] = b"ETCQMAN1";
const PREFIX_BYTES: usize = 16;

/// One segment named by a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ManifestSegment {
    pub(crate) id: u64,
    /// File length (header included) covered by the checkpoint's fsync.
    pub(crate) durable_len: u64,
}

/// The content of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) applied_index: u64,
    pub(crate) current_revision: i64,
    pub(crate) compact_revision: i64,
    pub(crate) meta: Vec<u8>,
    /// Ascending ids; the last one is the active segment.
    pub(crate) segments: Vec<ManifestSegment>,
}

impl Manifest {
    pub(crate) fn encode(&self) -> Vec<u8> {
        assert!(
            !self.segments.is_empty(),
            "a manifest names at least the active segment"
        );
        assert!(
            self.segments.windows(2).all(|w| w[0].id < w[1].id),
            "segment ids ascend"
        );
        let mut body = Vec::with_capacity(40 + self.meta.len() + 16 * self.segments.len());
        body.extend_from_slice(&self.applied_index.to_le_bytes());
        body.extend_from_slice(&self.current_revision.to_le_bytes());
        body.extend_from_slice(&self.compact_revision.to_le_bytes());
        let meta_len = u32::try_from(self.meta.len()).expect("checkpoint meta below 4 GiB");
        body.extend_from_slice(&meta_len.to_le_bytes());
        body.extend_from_slice(&self.meta);
        let count = u32::try_from(self.segments.len()).expect("segment count fits u32");
        body.extend_from_slice(&count.to_le_bytes());
        for s in &self.segments {
            body.extend_from_slice(&s.id.to_le_bytes());
            body.extend_from_slice(&s.durable_len.to_le_bytes());
        }
        let mut out = Vec::with_capacity(PREFIX_BYTES + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(
            &(u32::try_from(body.len()).expect("manifest below 4 GiB")).to_le_bytes(),
        );
        out.extend_from_slice(&body);
        out
    }

    /// Decodes a manifest; on failure returns (offset, reason).
    pub(crate) fn decode(buf: &[u8]) -> Result<Manifest, (u64, String)> {
        if buf.len() < PREFIX_BYTES {
            return Err((0, "manifest shorter than its header".into()));
        }
        if &buf[..8] != MAGIC {
            return Err((0, "bad manifest magic".into()));
        }
        let crc = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
        let body_len = u32::from_le_bytes(buf[12..16].try_into().expect("4 bytes")) as usize;
        if buf.len() != PREFIX_BYTES + body_len {
            return Err((
                12,
                format!(
                    "manifest body length {body_len} disagrees with file length {}",
                    buf.len()
                ),
            ));
        }
        let body = &buf[PREFIX_BYTES..];
        let computed = crc32fast::hash(body);
        if computed != crc {
            return Err((
                8,
                format!(
                    "manifest checksum mismatch (stored {crc:#010x}, computed {computed:#010x})"
                ),
            ));
        }
        let mut r = Reader { buf: body, pos: 0 };
        let err = |r: &Reader<'_>, why: &str| ((PREFIX_BYTES + r.pos) as u64, why.to_string());
        let applied_index = r.u64().ok_or_else(|| err(&r, "truncated"))?;
        let current_revision = r.u64().ok_or_else(|| err(&r, "truncated"))? as i64;
        let compact_revision = r.u64().ok_or_else(|| err(&r, "truncated"))? as i64;
        let meta_len = r.u32().ok_or_else(|| err(&r, "truncated"))? as usize;
        let meta = r
            .bytes(meta_len)
            .ok_or_else(|| err(&r, "truncated meta"))?
            .to_vec();
        let count = r.u32().ok_or_else(|| err(&r, "truncated"))? as usize;
        let mut segments = Vec::new();
        for _ in 0..count {
            let id = r.u64().ok_or_else(|| err(&r, "truncated segment list"))?;
            let durable_len = r.u64().ok_or_else(|| err(&r, "truncated segment list"))?;
            segments.push(ManifestSegment { id, durable_len });
        }
        if r.pos != body.len() {
            return Err(err(&r, "trailing bytes"));
        }
        if segments.is_empty() || !segments.windows(2).all(|w| w[0].id < w[1].id) {
            return Err((
                PREFIX_BYTES as u64,
                "segment list empty or not ascending".into(),
            ));
        }
        if current_revision < 1 || compact_revision < 0 || compact_revision > current_revision {
            return Err((PREFIX_BYTES as u64, "revisions out of range".into()));
        }
        Ok(Manifest {
            applied_index,
            current_revision,
            compact_revision,
            meta,
            segments,
        })
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            applied_index: 42,
            current_revision: 17,
            compact_revision: 3,
            meta: b"opaque".to_vec(),
            segments: vec![
                ManifestSegment {
                    id: 2,
                    durable_len: 100,
                },
                ManifestSegment {
                    id: 5,
                    durable_len: 16,
                },
            ],
        }
    }

    #[test]
    fn manifest_round_trips() {
        let m = sample();
        assert_eq!(Manifest::decode(&m.encode()), Ok(m));
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let buf = sample().encode();
        for bit in 0..buf.len() * 8 {
            let mut b = buf.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(Manifest::decode(&b).is_err(), "bit {bit} flip undetected");
        }
    }
}
