//! A URL as HTTP/2 `:authority`, cut down to `host[:port]` before hyper's
//! HTTP/2 layer sees it.
//!
//! etcd's own client (grpc-go under `etcdctl endpoint status --cluster`,
//! `endpoint hashkv --cluster`, or any `--endpoints http://...`) dials
//! `passthrough:///http://127.0.0.1:2379` and sends that whole URL as the
//! request's `:authority`. grpc-go's server takes it; the h2 crate answers
//! RST_STREAM(PROTOCOL_ERROR) for a malformed authority, with no hook to
//! relax it. So [`AuthorityFix`] sits between the TCP/TLS stream and
//! hyper and rewrites the client's header blocks on the way in:
//!
//! - only connections that open with the HTTP/2 client preface are
//!   touched; anything else (HTTP/1.1, garbage) passes byte for byte;
//! - frames are parsed from their 9-byte headers; everything but HEADERS
//!   (and the CONTINUATIONs of a block) streams through unbuffered;
//! - in a header block, only literal representations whose name is the
//!   static table's `:authority` (index 1) or the literal name
//!   `:authority` are rewritten, keeping the representation type and
//!   re-emitting the value as a plain string: the server's decoder then
//!   inserts the rewritten entry wherever the client's encoder inserted the
//!   original, so dynamic-table indices stay aligned (later references count
//!   entries, and the server's entry, never larger than the client's, is
//!   never evicted before it);
//! - a rewritten block goes out as one HEADERS frame (END_HEADERS set,
//!   padding stripped, priority kept), split into CONTINUATIONs only past
//!   the server's frame size;
//! - anything malformed, oversized ([`HEADER_BLOCK_BYTES_MAX`]) or
//!   unchanged passes as received, and h2 judges it.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const FRAME_HEADER_BYTES: usize = 9;

/// The server's SETTINGS_MAX_FRAME_SIZE: hyper's default, HTTP/2's initial
/// value. Frames are re-emitted no larger; a received header frame larger
/// than this is h2's to refuse, so it passes untouched.
const MAX_FRAME_BYTES: usize = 16_384;

/// Largest header block (all its fragments) that is rewritten; larger ones
/// pass untouched.
pub(super) const HEADER_BLOCK_BYTES_MAX: usize = 64 * 1024;

const TYPE_HEADERS: u8 = 0x1;
const TYPE_CONTINUATION: u8 = 0x9;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;

/// Bytes of the PRIORITY fields in a HEADERS frame.
const PRIORITY_BYTES: usize = 5;

/// A futures-io stream whose read side has its HTTP/2 `:authority` URLs
/// cut down to `host[:port]`; the write side passes straight through.
pub(super) struct AuthorityFix<T> {
    inner: T,
    rewriter: Rewriter,
    eof: bool,
}

impl<T> AuthorityFix<T> {
    pub(super) fn new(inner: T) -> Self {
        AuthorityFix {
            inner,
            rewriter: Rewriter::default(),
            eof: false,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for AuthorityFix<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            let n = this.rewriter.take_output(buf);
            if n > 0 {
                return Poll::Ready(Ok(n));
            }
            if this.eof {
                return Poll::Ready(Ok(0));
            }
            if let Some(budget) = this.rewriter.direct_budget() {
                // Bytes to pass as they are: straight into the caller's buffer.
                let len = buf.len().min(budget);
                let n = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut buf[..len]))?;
                if n == 0 {
                    this.eof = true;
                    this.rewriter.finish();
                    continue;
                }
                this.rewriter.consumed_direct(n);
                return Poll::Ready(Ok(n));
            }
            // The caller's buffer as scratch space; the output overwrites it.
            let n = ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            if n == 0 {
                this.eof = true;
                this.rewriter.finish();
            } else {
                this.rewriter.push(&buf[..n]);
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for AuthorityFix<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Matching the first bytes against the HTTP/2 preface.
    #[default]
    Preface,
    /// Not HTTP/2 (or the stream ended): every byte as it comes.
    Passthrough,
    /// Parsing HTTP/2 frames.
    Frames,
}

/// A header block waiting for its CONTINUATION frames.
#[derive(Debug)]
struct Block {
    /// The stream id field as received (reserved bit included).
    stream: u32,
    /// The HEADERS frame's flags.
    flags: u8,
    priority: Option<[u8; PRIORITY_BYTES]>,
    fragment: Vec<u8>,
    /// The frames as received, for passing the block on untouched.
    original: Vec<u8>,
}

/// The sans-IO part: bytes in, bytes out.
#[derive(Debug, Default)]
struct Rewriter {
    mode: Mode,
    input: Vec<u8>,
    input_pos: usize,
    output: Vec<u8>,
    output_pos: usize,
    /// Payload bytes of the current frame still to pass through.
    forward: usize,
    block: Option<Block>,
    /// Passing CONTINUATIONs of a block that is not rewritten.
    skip_continuations: bool,
}

struct FrameHeader {
    len: usize,
    kind: u8,
    flags: u8,
    stream: u32,
}

impl FrameHeader {
    fn parse(b: &[u8]) -> FrameHeader {
        FrameHeader {
            len: (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]),
        }
    }
}

impl Rewriter {
    fn available(&self) -> &[u8] {
        &self.input[self.input_pos..]
    }

    fn consume(&mut self, n: usize) {
        self.input_pos += n;
        if self.input_pos == self.input.len() {
            self.input.clear();
            self.input_pos = 0;
        }
    }

    /// Moves `n` input bytes to the output unchanged.
    fn pass(&mut self, n: usize) {
        let (input, pos) = (&self.input, self.input_pos);
        self.output.extend_from_slice(&input[pos..pos + n]);
        self.consume(n);
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.input_pos > 0 && self.input_pos * 2 >= self.input.len() {
            self.input.drain(..self.input_pos);
            self.input_pos = 0;
        }
        self.input.extend_from_slice(bytes);
        self.process();
    }

    /// Copies processed bytes into `buf`.
    fn take_output(&mut self, buf: &mut [u8]) -> usize {
        let ready = &self.output[self.output_pos..];
        let n = ready.len().min(buf.len());
        buf[..n].copy_from_slice(&ready[..n]);
        self.output_pos += n;
        if self.output_pos == self.output.len() {
            self.output.clear();
            self.output_pos = 0;
        }
        n
    }

    /// How many bytes the reader may take from the stream without passing
    /// them through here, if any.
    fn direct_budget(&self) -> Option<usize> {
        if self.input_pos < self.input.len() || self.output_pos < self.output.len() {
            return None;
        }
        match self.mode {
            Mode::Passthrough => Some(usize::MAX),
            Mode::Frames if self.forward > 0 => Some(self.forward),
            _ => None,
        }
    }

    fn consumed_direct(&mut self, n: usize) {
        if self.mode == Mode::Frames {
            self.forward -= n.min(self.forward);
        }
    }

    /// The stream ended: whatever is held goes out as received.
    fn finish(&mut self) {
        if let Some(block) = self.block.take() {
            self.output.extend_from_slice(&block.original);
        }
        let rest = self.input.len() - self.input_pos;
        self.pass(rest);
        self.mode = Mode::Passthrough;
    }

    fn process(&mut self) {
        loop {
            let progressed = match self.mode {
                Mode::Preface => self.step_preface(),
                Mode::Passthrough => {
                    let n = self.available().len();
                    self.pass(n);
                    false
                }
                Mode::Frames => self.step_frame(),
            };
            if !progressed {
                break;
            }
        }
    }

    fn step_preface(&mut self) -> bool {
        let avail = self.available();
        if avail.len() < PREFACE.len() {
            if PREFACE.starts_with(avail) {
                return false;
            }
            self.mode = Mode::Passthrough;
        } else if avail[..PREFACE.len()] == PREFACE[..] {
            self.pass(PREFACE.len());
            self.mode = Mode::Frames;
        } else {
            self.mode = Mode::Passthrough;
        }
        true
    }

    /// Passes the frame whose header starts the input: the header now, the
    /// payload as it comes.
    fn forward_frame(&mut self, h: &FrameHeader) {
        self.pass(FRAME_HEADER_BYTES);
        self.forward = h.len;
    }

    /// Gives up on the block being gathered: its frames go out as received.
    fn abandon_block(&mut self) {
        if let Some(block) = self.block.take() {
            self.output.extend_from_slice(&block.original);
        }
    }

    fn step_frame(&mut self) -> bool {
        if self.forward > 0 {
            let n = self.forward.min(self.available().len());
            if n == 0 {
                return false;
            }
            self.pass(n);
            self.forward -= n;
            return true;
        }
        if self.available().len() < FRAME_HEADER_BYTES {
            return false;
        }
        let h = FrameHeader::parse(self.available());
        let whole = FRAME_HEADER_BYTES + h.len;
        let end_headers = h.flags & FLAG_END_HEADERS != 0;

        if let Some(block) = &self.block {
            if h.kind != TYPE_CONTINUATION || h.stream != block.stream {
                // A protocol error for h2 to see, as sent.
                self.abandon_block();
                return true;
            }
            if h.len > MAX_FRAME_BYTES || block.fragment.len() + h.len > HEADER_BLOCK_BYTES_MAX {
                self.abandon_block();
                self.skip_continuations = true;
                return true;
            }
            if self.available().len() < whole {
                return false;
            }
            let pos = self.input_pos;
            if let Some(block) = &mut self.block {
                block
                    .original
                    .extend_from_slice(&self.input[pos..pos + whole]);
                block
                    .fragment
                    .extend_from_slice(&self.input[pos + FRAME_HEADER_BYTES..pos + whole]);
            }
            self.consume(whole);
            if end_headers {
                if let Some(block) = self.block.take() {
                    self.finish_block(block);
                }
            }
            return true;
        }

        if self.skip_continuations {
            if h.kind == TYPE_CONTINUATION {
                self.skip_continuations = !end_headers;
                self.forward_frame(&h);
                return true;
            }
            self.skip_continuations = false;
        }

        if h.kind != TYPE_HEADERS {
            self.forward_frame(&h);
            return true;
        }
        if h.len > MAX_FRAME_BYTES {
            self.skip_continuations = !end_headers;
            self.forward_frame(&h);
            return true;
        }
        if self.available().len() < whole {
            return false;
        }
        let frame = &self.available()[..whole];
        let Some((priority, fragment)) =
            split_headers_payload(&frame[FRAME_HEADER_BYTES..], h.flags)
        else {
            self.skip_continuations = !end_headers;
            self.pass(whole);
            return true;
        };
        let block = Block {
            stream: h.stream,
            flags: h.flags,
            priority,
            fragment: fragment.to_vec(),
            original: frame.to_vec(),
        };
        self.consume(whole);
        if end_headers {
            self.finish_block(block);
        } else {
            self.block = Some(block);
        }
        true
    }

    fn finish_block(&mut self, block: Block) {
        let mut indexed_authority = false;
        match rewrite_block_noting(&block.fragment, &mut indexed_authority) {
            Some(rewritten) => emit_block(&mut self.output, &block, &rewritten),
            None => self.output.extend_from_slice(&block.original),
        }
        if indexed_authority {
            // The client's later requests name this `:authority` by its
            // dynamic-table index (grpc-go does, from the second request
            // on): nothing more to rewrite, so the rest of the connection
            // passes through untouched, at no cost per request.
            self.mode = Mode::Passthrough;
        }
    }
}

/// A HEADERS payload's priority fields and header block fragment, padding
/// dropped; `None` if the lengths do not add up.
#[allow(clippy::type_complexity)]
fn split_headers_payload(
    payload: &[u8],
    flags: u8,
) -> Option<(Option<[u8; PRIORITY_BYTES]>, &[u8])> {
    let mut start = 0;
    let mut end = payload.len();
    if flags & FLAG_PADDED != 0 {
        let pad = usize::from(*payload.first()?);
        start = 1;
        end = end.checked_sub(pad)?;
    }
    let mut priority = None;
    if flags & FLAG_PRIORITY != 0 {
        let fields = payload.get(start..start + PRIORITY_BYTES)?;
        let mut p = [0u8; PRIORITY_BYTES];
        p.copy_from_slice(fields);
        priority = Some(p);
        start += PRIORITY_BYTES;
    }
    Some((priority, payload.get(start..end)?))
}

fn frame_header(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    let len = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    out.extend_from_slice(&len[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
}

/// A rewritten header block as one HEADERS frame, or HEADERS and
/// CONTINUATIONs past the frame size. Padding is dropped.
fn emit_block(out: &mut Vec<u8>, block: &Block, fragment: &[u8]) {
    let priority_len = if block.priority.is_some() {
        PRIORITY_BYTES
    } else {
        0
    };
    let first_len = fragment.len().min(MAX_FRAME_BYTES - priority_len);
    let (first, mut rest) = fragment.split_at(first_len);
    let mut flags = block.flags & !(FLAG_PADDED | FLAG_END_HEADERS);
    if rest.is_empty() {
        flags |= FLAG_END_HEADERS;
    }
    frame_header(
        out,
        priority_len + first.len(),
        TYPE_HEADERS,
        flags,
        block.stream,
    );
    if let Some(p) = &block.priority {
        out.extend_from_slice(p);
    }
    out.extend_from_slice(first);
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(MAX_FRAME_BYTES));
        rest = tail;
        let flags = if rest.is_empty() { FLAG_END_HEADERS } else { 0 };
        frame_header(out, chunk.len(), TYPE_CONTINUATION, flags, block.stream);
        out.extend_from_slice(chunk);
    }
}

/// Static table index of `:authority` (RFC 7541 Appendix A).
const STATIC_AUTHORITY: u64 = 1;

/// Continuation bytes an HPACK integer may have here (28 bits of value
/// past the prefix: far beyond any table index or string in a block).
const INT_SHIFT_MAX: u32 = 28;

/// Decodes an HPACK integer with an `prefix`-bit prefix at `p`: the value
/// and the position after it.
fn read_int(buf: &[u8], p: usize, prefix: u32) -> Option<(u64, usize)> {
    let mask = (1u8 << prefix) - 1;
    let mut value = u64::from(*buf.get(p)? & mask);
    let mut p = p + 1;
    if value < u64::from(mask) {
        return Some((value, p));
    }
    let mut shift = 0;
    loop {
        let b = *buf.get(p)?;
        p += 1;
        value += u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some((value, p));
        }
        shift += 7;
        if shift > INT_SHIFT_MAX {
            return None;
        }
    }
}

fn write_int(out: &mut Vec<u8>, high_bits: u8, prefix: u32, value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(high_bits | value as u8);
        return;
    }
    out.push(high_bits | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        out.push((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// An HPACK string literal as it appears in the block.
struct Literal<'a> {
    huffman: bool,
    bytes: &'a [u8],
}

impl Literal<'_> {
    /// The string's octets; `None` for an invalid Huffman code.
    fn decode(&self) -> Option<Vec<u8>> {
        if !self.huffman {
            return Some(self.bytes.to_vec());
        }
        let mut plain = Vec::with_capacity(self.bytes.len() * 8 / 5 + 1);
        httlib_huffman::decode(
            self.bytes,
            &mut plain,
            httlib_huffman::DecoderSpeed::FourBits,
        )
        .ok()?;
        // The code is canonical: a valid sequence (padding under 8 bits, all
        // ones) is exactly what encoding the text gives back. The decoder
        // is lenient about padding; this is not.
        let mut again = Vec::with_capacity(self.bytes.len());
        httlib_huffman::encode(&plain, &mut again).ok()?;
        (again == self.bytes).then_some(plain)
    }
}

/// Reads a string literal at `p`: the literal and the position after it.
fn read_string(buf: &[u8], p: usize) -> Option<(Literal<'_>, usize)> {
    let huffman = *buf.get(p)? & 0x80 != 0;
    let (len, start) = read_int(buf, p, 7)?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    let bytes = buf.get(start..end)?;
    Some((Literal { huffman, bytes }, end))
}

/// `host[:port]` of a `scheme://host[:port][/...]` value; `None` for
/// anything else.
fn authority_of_url(value: &[u8]) -> Option<&[u8]> {
    let sep = value.windows(3).position(|w| w == b"://")?;
    let scheme = &value[..sep];
    if !scheme.first()?.is_ascii_alphabetic()
        || !scheme
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let rest = &value[sep + 3..];
    let end = rest
        .iter()
        .position(|c| matches!(c, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let host = &rest[..end];
    (!host.is_empty()).then_some(host)
}

/// The header block with its URL `:authority` values cut down; `None` if
/// nothing changed or the block does not parse.
#[cfg(test)]
fn rewrite_block(block: &[u8]) -> Option<Vec<u8>> {
    rewrite_block_noting(block, &mut false)
}

/// [`rewrite_block`], also telling whether the block entered an `:authority`
/// into the dynamic table (a literal with incremental indexing): a client
/// then names it by index on every later request of the connection.
fn rewrite_block_noting(block: &[u8], indexed_authority: &mut bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(block.len() + 8);
    let mut changed = false;
    let mut p = 0;
    while p < block.len() {
        let start = p;
        let first = block[p];
        if first & 0x80 != 0 {
            // Indexed field.
            p = read_int(block, p, 7)?.1;
        } else if first & 0xe0 == 0x20 {
            // Dynamic table size update.
            p = read_int(block, p, 5)?.1;
        } else {
            // A literal: with incremental indexing (01), without indexing
            // (0000) or never indexed (0001).
            let prefix = if first & 0x40 != 0 { 6 } else { 4 };
            let (name_index, q) = read_int(block, p, prefix)?;
            p = q;
            let mut is_authority = name_index == STATIC_AUTHORITY;
            if name_index == 0 {
                let (name, q) = read_string(block, p)?;
                p = q;
                is_authority = name.decode().is_some_and(|n| n == b":authority");
            }
            let value_start = p;
            let (value, q) = read_string(block, p)?;
            p = q;
            if is_authority && first & 0x40 != 0 {
                *indexed_authority = true;
            }
            if is_authority {
                let decoded = value.decode();
                if let Some(host) = decoded.as_deref().and_then(authority_of_url) {
                    out.extend_from_slice(&block[start..value_start]);
                    write_int(&mut out, 0, 7, host.len());
                    out.extend_from_slice(host);
                    changed = true;
                    continue;
                }
            }
        }
        out.extend_from_slice(&block[start..p]);
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What etcdctl 3.4 (grpc-go) sent for `etcdctl --endpoints
    /// http://127.0.0.1:23791 endpoint status`, captured with a TCP relay:
    /// preface, SETTINGS, SETTINGS ack, HEADERS (stream 1, `:authority`
    /// Huffman-coded `http://127.0.0.1:23791`), DATA.
    const GRPC_GO: &str = "505249202a20485454502f322e300d0a0d0a534d0d0a0d0a\
        000000040000000000\
        000000040100000000\
        0000770104000000018386459760a924882d9dcb6571afa066a925a87510ac6e48\
        d36a3f41909d29aee30c044eae05c0b86e09975f0f5f8b1d75d0620d263d4c4d65\
        647a8b9acac8b4c7602bb2caecff40027465864d833505b11f40899acac8b24d49\
        4f6a7f8669f7db65b76d408d25062d495875996ee5b1063d5f03332e34\
        0000050001000000010000000000";

    fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).expect("utf8"), 16).expect("hex"))
            .collect()
    }

    fn huffman(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        httlib_huffman::encode(s, &mut out).expect("encode");
        out
    }

    fn plain_string(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_int(&mut out, 0, 7, s.len());
        out.extend_from_slice(s);
        out
    }

    fn huffman_string(s: &[u8]) -> Vec<u8> {
        let h = huffman(s);
        let mut out = Vec::new();
        write_int(&mut out, 0x80, 7, h.len());
        out.extend_from_slice(&h);
        out
    }

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        frame_header(&mut out, payload.len(), kind, flags, stream);
        out.extend_from_slice(payload);
        out
    }

    fn settings() -> Vec<u8> {
        let mut out = PREFACE.to_vec();
        out.extend(frame(0x4, 0, 0, &[]));
        out
    }

    /// `:method POST`, `:scheme http`, `:path /x` (indexed name), and the
    /// given `:authority` representation bytes.
    fn request_block(authority: &[u8]) -> Vec<u8> {
        let mut b = vec![0x83, 0x86, 0x44];
        b.extend(plain_string(b"/etcdserverpb.KV/Range"));
        b.extend_from_slice(authority);
        b.push(0x5f); // content-type, name index 31, incremental indexing
        b.extend(plain_string(b"application/grpc"));
        b
    }

    fn run(input: &[u8]) -> Vec<u8> {
        let mut r = Rewriter::default();
        r.push(input);
        r.finish();
        let mut out = vec![0; r.output.len()];
        let n = r.take_output(&mut out);
        assert_eq!(n, out.len());
        out
    }

    /// Runs `input` through in pieces split at `cuts`, with direct reads
    /// where the rewriter allows them.
    fn run_split(input: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut r = Rewriter::default();
        let mut out = Vec::new();
        let mut prev = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            let mut piece = &input[prev..c];
            prev = c;
            while !piece.is_empty() {
                let mut buf = [0u8; 4096];
                loop {
                    let n = r.take_output(&mut buf);
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
                if let Some(budget) = r.direct_budget() {
                    let n = budget.min(piece.len());
                    out.extend_from_slice(&piece[..n]);
                    r.consumed_direct(n);
                    piece = &piece[n..];
                } else {
                    r.push(piece);
                    piece = &[];
                }
            }
        }
        r.finish();
        let mut buf = vec![0u8; r.output.len() - r.output_pos];
        r.take_output(&mut buf);
        out.extend(buf);
        out
    }

    /// The frames after the preface: (type, flags, stream, payload).
    fn frames(bytes: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
        assert!(bytes.starts_with(PREFACE));
        let mut p = PREFACE.len();
        let mut out = Vec::new();
        while p < bytes.len() {
            let h = FrameHeader::parse(&bytes[p..]);
            out.push((
                h.kind,
                h.flags,
                h.stream,
                bytes[p + 9..p + 9 + h.len].to_vec(),
            ));
            p += 9 + h.len;
        }
        out
    }

    /// Feeds `bytes` to h2's server and returns each accepted request's
    /// authority (the wire as hyper would see it).
    fn h2_authorities(bytes: Vec<u8>, requests: usize) -> Vec<String> {
        use tokio::io::AsyncWriteExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let (mut client, server) = tokio::io::duplex(1 << 20);
            client.write_all(&bytes).await.expect("write");
            let mut conn = h2::server::handshake(server).await.expect("handshake");
            let mut seen = Vec::new();
            for _ in 0..requests {
                let accepted =
                    tokio::time::timeout(std::time::Duration::from_secs(5), conn.accept())
                        .await
                        .expect("h2 accepted no request in time");
                let (req, _respond) = accepted.expect("a request").expect("a valid request");
                seen.push(
                    req.uri()
                        .authority()
                        .map(|a| a.to_string())
                        .unwrap_or_default(),
                );
            }
            drop(client);
            seen
        })
    }

    #[test]
    fn grpc_go_headers_are_rewritten() {
        let input = hex(GRPC_GO);
        let out = run(&input);
        // The `:authority` representation: 0x41 (incremental indexing, name
        // index 1), then 16 Huffman-coded bytes; it becomes 0x41, then the
        // 15 plain bytes of the host and port.
        let old = hex("41909d29aee30c044eae05c0b86e09975f0f");
        let mut new = vec![0x41, 15];
        new.extend_from_slice(b"127.0.0.1:23791");
        let at = input
            .windows(old.len())
            .position(|w| w == old)
            .expect("authority in capture");
        let mut expected = input[..at].to_vec();
        expected.extend_from_slice(&new);
        expected.extend_from_slice(&input[at + old.len()..]);
        // The HEADERS frame's length: 119 becomes 118.
        let headers_at = PREFACE.len() + 18;
        assert_eq!(expected[headers_at + 2], 0x77);
        expected[headers_at + 2] = 0x76;
        assert_eq!(out, expected);

        assert_eq!(h2_authorities(out, 1), ["127.0.0.1:23791"]);
    }

    #[test]
    fn h2_refuses_the_capture_as_sent() {
        // The bug itself: without the rewrite, h2 resets the stream.
        use tokio::io::AsyncWriteExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (mut client, server) = tokio::io::duplex(1 << 20);
            client.write_all(&hex(GRPC_GO)).await.expect("write");
            let mut conn = h2::server::handshake(server).await.expect("handshake");
            let accepted =
                tokio::time::timeout(std::time::Duration::from_millis(300), conn.accept()).await;
            assert!(accepted.is_err(), "h2 accepted the URL authority");
        });
    }

    #[test]
    fn huffman_and_plain_values_and_names() {
        let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
            // Incremental indexing, name index 1, plain value.
            (
                [vec![0x41], plain_string(b"http://127.0.0.1:2379")].concat(),
                [vec![0x41], plain_string(b"127.0.0.1:2379")].concat(),
            ),
            // Huffman value.
            (
                [vec![0x41], huffman_string(b"https://etcd.example:2379/")].concat(),
                [vec![0x41], plain_string(b"etcd.example:2379")].concat(),
            ),
            // Without indexing; never indexed.
            (
                [vec![0x01], huffman_string(b"http://h:1")].concat(),
                [vec![0x01], plain_string(b"h:1")].concat(),
            ),
            (
                [vec![0x11], plain_string(b"unix+x://h?q")].concat(),
                [vec![0x11], plain_string(b"h")].concat(),
            ),
            // Literal names, plain and Huffman.
            (
                [
                    vec![0x40],
                    plain_string(b":authority"),
                    huffman_string(b"http://h:1"),
                ]
                .concat(),
                [
                    vec![0x40],
                    plain_string(b":authority"),
                    plain_string(b"h:1"),
                ]
                .concat(),
            ),
            (
                [
                    vec![0x00],
                    huffman_string(b":authority"),
                    plain_string(b"http://h:1/a/b"),
                ]
                .concat(),
                [
                    vec![0x00],
                    huffman_string(b":authority"),
                    plain_string(b"h:1"),
                ]
                .concat(),
            ),
        ];
        for (rep, expected) in cases {
            let out = rewrite_block(&request_block(&rep)).expect("rewritten");
            assert_eq!(out, request_block(&expected));
        }

        // Left alone: values that are no URL, other names, bad Huffman.
        let unchanged: Vec<Vec<u8>> = vec![
            [vec![0x41], plain_string(b"127.0.0.1:2379")].concat(),
            [vec![0x41], huffman_string(b"127.0.0.1:2379")].concat(),
            [vec![0x41], plain_string(b"://h")].concat(),
            [vec![0x41], plain_string(b"1http://h")].concat(),
            [vec![0x41], plain_string(b"http:///x")].concat(),
            [
                vec![0x40],
                plain_string(b"x-authority"),
                plain_string(b"http://h"),
            ]
            .concat(),
            [
                vec![0x40],
                plain_string(b":Authority"),
                plain_string(b"http://h"),
            ]
            .concat(),
            [vec![0x42], plain_string(b"http://h")].concat(), // :method
            [vec![0x41, 0x81, 0x00]].concat(),                // Huffman: an invalid code
            [vec![0x41, 0x82], huffman(b"h:1"), vec![0xff]].concat(), // 8+ bits of padding
        ];
        for rep in unchanged {
            assert_eq!(rewrite_block(&request_block(&rep)), None, "{rep:02x?}");
        }
    }

    #[test]
    fn indexed_repeat_on_second_stream() {
        // Stream 1 inserts `:path`, `:authority` and `content-type` into
        // the dynamic table; stream 3 refers to all three by index.
        let mut input = settings();
        let first =
            request_block(&[vec![0x41], huffman_string(b"http://127.0.0.1:23791")].concat());
        input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS | 0x1, 1, &first));
        // Newest first: content-type 62, :authority 63, :path 64.
        let second = [0x83, 0x86, 0xc0, 0xbf, 0xbe];
        input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS | 0x1, 3, &second));
        let out = run(&input);
        let f = frames(&out);
        assert_eq!(f.len(), 3);
        assert_eq!(
            f[1].3,
            request_block(&[vec![0x41], plain_string(b"127.0.0.1:23791")].concat())
        );
        assert_eq!(
            f[2],
            (TYPE_HEADERS, FLAG_END_HEADERS | 0x1, 3, second.to_vec())
        );
        assert_eq!(
            h2_authorities(out, 2),
            ["127.0.0.1:23791", "127.0.0.1:23791"]
        );
    }

    #[test]
    fn continuation_reassembled_into_one_headers_frame() {
        let block =
            request_block(&[vec![0x41], huffman_string(b"http://127.0.0.1:23791")].concat());
        // Split inside the authority representation, over three frames.
        let at = block.iter().position(|&b| b == 0x41).expect("authority") + 3;
        let mut input = settings();
        input.extend(frame(TYPE_HEADERS, 0, 1, &block[..at - 2]));
        input.extend(frame(TYPE_CONTINUATION, 0, 1, &block[at - 2..at]));
        input.extend(frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 1, &block[at..]));
        input.extend(frame(0x0, 0x1, 1, &[0, 0, 0, 0, 0]));
        let out = run(&input);
        let f = frames(&out);
        assert_eq!(f.len(), 3);
        let expected = request_block(&[vec![0x41], plain_string(b"127.0.0.1:23791")].concat());
        assert_eq!(f[1], (TYPE_HEADERS, FLAG_END_HEADERS, 1, expected));
        assert_eq!(f[2], (0x0, 0x1, 1, vec![0, 0, 0, 0, 0]));
        assert_eq!(h2_authorities(out, 1), ["127.0.0.1:23791"]);

        // Unchanged blocks keep their frames.
        let plain = request_block(&[vec![0x41], plain_string(b"h:1")].concat());
        let mut input = settings();
        input.extend(frame(TYPE_HEADERS, 0x1, 1, &plain[..4]));
        input.extend(frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 1, &plain[4..]));
        assert_eq!(run(&input), input);

        // A CONTINUATION interrupted by another frame: all as received.
        let mut input = settings();
        input.extend(frame(TYPE_HEADERS, 0x1, 1, &block[..at]));
        input.extend(frame(0x8, 0, 0, &[0, 0, 1, 0]));
        input.extend(frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 1, &block[at..]));
        assert_eq!(run(&input), input);
    }

    #[test]
    fn large_blocks_split_again_or_pass_untouched() {
        // Huffman digits take 5 bits, plain ones 8: a rewritten authority
        // grows past one frame.
        let mut url = b"http://".to_vec();
        url.extend(std::iter::repeat_n(b'1', 20_000));
        let block = request_block(&[vec![0x41], huffman_string(&url)].concat());
        assert!(block.len() < MAX_FRAME_BYTES);
        let mut input = settings();
        input.extend(frame(
            TYPE_HEADERS,
            FLAG_END_HEADERS | FLAG_PRIORITY,
            1,
            &[[0, 0, 0, 0, 7].as_slice(), &block].concat(),
        ));
        let f = frames(&run(&input));
        assert_eq!(f.len(), 3);
        assert_eq!(
            (f[1].0, f[1].1, f[1].3.len()),
            (TYPE_HEADERS, FLAG_PRIORITY, MAX_FRAME_BYTES)
        );
        assert_eq!((f[2].0, f[2].1), (TYPE_CONTINUATION, FLAG_END_HEADERS));
        let expected = request_block(&[vec![0x41], plain_string(&url[7..])].concat());
        assert_eq!(&f[1].3[..5], &[0, 0, 0, 0, 7]);
        assert_eq!([&f[1].3[5..], &f[2].3[..]].concat(), expected);

        // Past the block limit: untouched, however many frames.
        let mut url = b"http://".to_vec();
        url.extend(std::iter::repeat_n(b'1', HEADER_BLOCK_BYTES_MAX * 2));
        let block = request_block(&[vec![0x41], plain_string(&url)].concat());
        let mut input = settings();
        let mut chunks = block.chunks(MAX_FRAME_BYTES).peekable();
        let mut kind = TYPE_HEADERS;
        while let Some(c) = chunks.next() {
            let flags = if chunks.peek().is_none() {
                FLAG_END_HEADERS
            } else {
                0
            };
            input.extend(frame(kind, flags, 1, c));
            kind = TYPE_CONTINUATION;
        }
        assert_eq!(run(&input), input);

        // A HEADERS frame over the frame size: untouched.
        let block = request_block(&[vec![0x41], plain_string(&url[..MAX_FRAME_BYTES])].concat());
        let mut input = settings();
        input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &block));
        assert_eq!(run(&input), input);
    }

    #[test]
    fn padding_stripped_priority_kept() {
        let block =
            request_block(&[vec![0x41], huffman_string(b"http://127.0.0.1:23791")].concat());
        let expected = request_block(&[vec![0x41], plain_string(b"127.0.0.1:23791")].concat());
        let mut payload = vec![6];
        payload.extend_from_slice(&block);
        payload.extend_from_slice(&[0; 6]);
        let mut input = settings();
        input.extend(frame(
            TYPE_HEADERS,
            FLAG_END_HEADERS | FLAG_PADDED | 0x1,
            1,
            &payload,
        ));
        let out = run(&input);
        assert_eq!(
            frames(&out)[1],
            (TYPE_HEADERS, FLAG_END_HEADERS | 0x1, 1, expected.clone())
        );
        assert_eq!(h2_authorities(out, 1), ["127.0.0.1:23791"]);

        let mut payload = vec![3, 0x80, 0, 0, 0, 15];
        payload.extend_from_slice(&block);
        payload.extend_from_slice(&[0; 3]);
        let mut input = settings();
        let flags = FLAG_END_HEADERS | FLAG_PADDED | FLAG_PRIORITY | 0x1;
        input.extend(frame(TYPE_HEADERS, flags, 1, &payload));
        let out = run(&input);
        let mut with_priority = vec![0x80, 0, 0, 0, 15];
        with_priority.extend_from_slice(&expected);
        assert_eq!(
            frames(&out)[1],
            (
                TYPE_HEADERS,
                FLAG_END_HEADERS | FLAG_PRIORITY | 0x1,
                1,
                with_priority
            )
        );

        // Padding longer than the payload: as received, for h2 to refuse.
        let mut input = settings();
        input.extend(frame(
            TYPE_HEADERS,
            FLAG_END_HEADERS | FLAG_PADDED,
            1,
            &[200, 0x83],
        ));
        assert_eq!(run(&input), input);
        let mut input = settings();
        input.extend(frame(
            TYPE_HEADERS,
            FLAG_END_HEADERS | FLAG_PRIORITY,
            1,
            &[0, 0, 0],
        ));
        assert_eq!(run(&input), input);
    }

    #[test]
    fn not_http2_passes_byte_for_byte() {
        let inputs: [&[u8]; 5] = [
            b"POST /v3/kv/range HTTP/1.1\r\nHost: http://127.0.0.1:2379\r\n\r\n{}",
            b"PRI * HTTP/2.0\r\n\r\nSX\r\n\r\n\x00\x00\x05\x01\x04\x00\x00\x00\x01\x41\x03h:1",
            b"PRI",
            b"",
            b"\x16\x03\x01\x02\x00",
        ];
        for input in inputs {
            assert_eq!(run(input), input);
            for cut in 0..input.len() {
                assert_eq!(run_split(input, &[cut]), input);
            }
        }
    }

    #[test]
    fn split_at_every_byte_boundary() {
        let mut input = hex(GRPC_GO);
        // A second request whose block spans HEADERS + CONTINUATION.
        let block =
            request_block(&[vec![0x41], huffman_string(b"http://127.0.0.1:23791")].concat());
        input.extend(frame(TYPE_HEADERS, 0x1, 3, &block[..10]));
        input.extend(frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 3, &block[10..]));
        let whole = run(&input);
        assert_ne!(whole, input);
        for cut in 0..=input.len() {
            assert_eq!(run_split(&input, &[cut]), whole, "cut at {cut}");
        }
        // One byte at a time, through the AsyncRead adapter.
        let cuts: Vec<usize> = (1..input.len()).collect();
        assert_eq!(run_split(&input, &cuts), whole);
        assert_eq!(read_through(&input, 1, 7), whole);
        assert_eq!(read_through(&input, 5, 3), whole);
        assert_eq!(read_through(&input, 4096, 4096), whole);
    }

    /// A reader that hands out at most `chunk` bytes per read.
    struct Chunked<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl AsyncRead for Chunked<'_> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let n = self.chunk.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Poll::Ready(Ok(n))
        }
    }

    fn read_through(input: &[u8], chunk: usize, buf_len: usize) -> Vec<u8> {
        use futures::io::AsyncReadExt;
        let mut fix = AuthorityFix::new(Chunked { data: input, chunk });
        let mut out = Vec::new();
        let mut buf = vec![0u8; buf_len];
        futures::executor::block_on(async {
            loop {
                let n = fix.read(&mut buf).await.expect("read");
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
        });
        out
    }

    #[test]
    fn after_an_indexed_authority_the_connection_passes_through() {
        // Stream 1 enters a URL :authority into the dynamic table (0x41:
        // incremental indexing, static name 1): rewritten. Then the filter
        // steps aside: stream 3's bytes come out exactly as sent, even a
        // (pathological) second URL literal.
        let first = [vec![0x41], plain_string(b"http://h:1")].concat();
        let second = [vec![0x01], plain_string(b"http://h:2")].concat();
        let mut input = settings();
        input.extend(frame(0x1, 0x4, 1, &request_block(&first)));
        let tail = frame(0x1, 0x4, 3, &request_block(&second));
        input.extend(&tail);
        let out = read_through(&input, 7, 64);
        let mut expected = settings();
        let rewritten = [vec![0x41], plain_string(b"h:1")].concat();
        expected.extend(frame(0x1, 0x4, 1, &request_block(&rewritten)));
        expected.extend(&tail);
        assert_eq!(out, expected);
    }

    #[test]
    fn garbage_passes_without_panic() {
        // Deterministic pseudo-random bytes after the preface, with frame
        // headers that claim HEADERS and CONTINUATION often.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let mut input = PREFACE.to_vec();
            for _ in 0..(next() % 6) {
                let len = (next() % 40) as usize;
                let kind = [TYPE_HEADERS, TYPE_CONTINUATION, 0, 4][(next() % 4) as usize];
                let mut payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if next() % 2 == 0 && len > 2 {
                    payload[0] = 0x41; // an authority literal, then noise
                }
                input.extend(frame(kind, next() as u8, (next() % 3) as u32, &payload));
            }
            let tail = (next() % 30) as usize;
            input.extend((0..tail).map(|_| next() as u8));
            let out = run(&input);
            let cut = (next() as usize) % (input.len() + 1);
            assert_eq!(run_split(&input, &[cut]), out);
        }

        // Malformed HPACK: blocks pass untouched.
        let bad: [&[u8]; 6] = [
            &[0x41, 0x85, 0x01],                         // string past the end
            &[0x41, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff], // endless integer
            &[0x7f],                                     // truncated name index
            &[0x40, 0x0a, b':', b'a'],                   // truncated name
            &[0x41],                                     // no value
            &[
                0x41, 0x03, b'h', b':', b'1', 0x41, 0x08, b'h', b't', b't', b'p',
            ], // authority in a cut block
        ];
        for block in bad {
            assert_eq!(rewrite_block(block), None);
            let mut input = settings();
            input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, block));
            assert_eq!(run(&input), input);
        }
    }
}
