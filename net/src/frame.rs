//! etcq/1 framing: length-prefixed prost messages on QUIC streams.
//!
//! Byte layout (drawn in full in docs/protocol.md):
//!
//! ```text
//! frame          = length:u32 big-endian | payload[length]
//! request stream = method:u8 | frame(request) | frame(request)* ...   (client -> server)
//! response frame = frame(0x00 | response message)                       (server -> client, OK)
//!                | frame(0x01 | code:u32 big-endian | message UTF-8)    (server -> client, error)
//! ```
//!
//! Every frame length is checked against a limit *before* anything is
//! allocated for it, and a frame's buffer grows only with bytes actually
//! received, so a peer claiming a 4 GiB frame costs us nothing. Nothing here
//! panics on peer input: every malformed byte sequence is a [`FrameError`].
//!
//! The async helpers take quinn's [`RecvStream`]/[`SendStream`], whose
//! futures are runtime-agnostic: the same helpers serve the glommio server
//! and the tokio client.

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use quinn::{RecvStream, SendStream};

use crate::method::{Code, Method, Status};

/// Bytes in a frame's length prefix.
pub const FRAME_HEADER_BYTES: usize = 4;

/// etcd's default request size limit (`--max-request-bytes`, 1.5 MiB).
pub const REQUEST_BYTES_MAX_DEFAULT: usize = 1536 * 1024;

/// Room above [`REQUEST_BYTES_MAX_DEFAULT`] for protobuf framing of a
/// maximal request, as etcd allows its gRPC server (512 KiB).
pub const FRAME_OVERHEAD_BYTES: usize = 512 * 1024;

/// Default largest frame a server accepts from a client (2 MiB).
pub const FRAME_BYTES_MAX_DEFAULT: usize = REQUEST_BYTES_MAX_DEFAULT + FRAME_OVERHEAD_BYTES;

/// Default largest response frame a client accepts (large ranges; 256 MiB).
pub const RESPONSE_FRAME_BYTES_MAX_DEFAULT: usize = 256 * 1024 * 1024;

/// Largest payload the length prefix can describe.
pub const FRAME_BYTES_MAX_WIRE: usize = u32::MAX as usize;

/// First payload byte of a response frame that carries a response message.
pub const STATUS_OK: u8 = 0x00;

/// First payload byte of a response frame that carries a [`Status`] error.
pub const STATUS_ERROR: u8 = 0x01;

/// Bytes of an error frame before the message: status byte + `u32` code.
const ERROR_PREFIX_BYTES: usize = 1 + 4;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix claims more than the configured limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Length claimed by the peer (or of the message we tried to send).
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The stream ended in the middle of a frame or method byte.
    #[error("stream ended inside a frame: got {got} of {expected} bytes")]
    Truncated {
        /// Bytes the frame (or header) needed.
        expected: usize,
        /// Bytes that arrived before the end of the stream.
        got: usize,
    },
    /// The stream ended where a frame was required (e.g. no response at all).
    #[error("stream ended before a {0}")]
    Missing(&'static str),
    /// A request stream opened with a method code nobody assigned.
    #[error("unknown method code 0x{0:02x}")]
    UnknownMethod(u8),
    /// The frame's content does not follow the etcq/1 layout.
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
    /// The payload is not a valid protobuf encoding of the expected message.
    #[error("cannot decode message: {0}")]
    Decode(#[from] prost::DecodeError),
    /// Reading from the QUIC stream failed (reset, connection lost, ...).
    #[error("read: {0}")]
    Read(#[from] quinn::ReadError),
    /// Writing to the QUIC stream failed (stopped, connection lost, ...).
    #[error("write: {0}")]
    Write(#[from] quinn::WriteError),
    /// The stream was already finished or reset when we tried to finish it.
    #[error("stream already closed")]
    Closed(#[from] quinn::ClosedStream),
}

impl FrameError {
    /// The status a server answers with when a request stream fails to
    /// parse, or `None` when the stream itself is gone (nobody to answer).
    pub fn to_status(&self) -> Option<Status> {
        match self {
            FrameError::TooLarge { .. } => Some(crate::method::etcd_errors::request_too_large()),
            FrameError::UnknownMethod(code) => Some(Status::unknown_method(*code)),
            FrameError::Truncated { .. } | FrameError::Missing(_) => Some(Status::new(
                Code::InvalidArgument,
                format!("etcq: incomplete request: {self}"),
            )),
            FrameError::Malformed(_) | FrameError::Decode(_) => Some(Status::new(
                Code::InvalidArgument,
                format!("etcq: malformed request: {self}"),
            )),
            FrameError::Read(_) | FrameError::Write(_) | FrameError::Closed(_) => None,
        }
    }
}

// ------------------------------------------------------------------ encoding

fn length_prefix(len: usize) -> Result<[u8; FRAME_HEADER_BYTES], FrameError> {
    let len32 = u32::try_from(len).map_err(|_| FrameError::TooLarge {
        len,
        max: FRAME_BYTES_MAX_WIRE,
    })?;
    Ok(len32.to_be_bytes())
}

/// Appends `length | payload` to `dst`.
pub fn encode_frame(payload: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
    dst.reserve(FRAME_HEADER_BYTES + payload.len());
    dst.put_slice(&length_prefix(payload.len())?);
    dst.put_slice(payload);
    Ok(())
}

/// Appends one frame holding `msg` to `dst` (client -> server messages).
pub fn encode_message<M: Message>(msg: &M, dst: &mut BytesMut) -> Result<(), FrameError> {
    let len = msg.encoded_len();
    dst.reserve(FRAME_HEADER_BYTES + len);
    dst.put_slice(&length_prefix(len)?);
    msg.encode_raw(dst);
    Ok(())
}

/// The opening bytes of a request stream: `method | frame(msg)`.
pub fn encode_request<M: Message>(method: Method, msg: &M) -> Result<Bytes, FrameError> {
    let mut dst = BytesMut::with_capacity(1 + FRAME_HEADER_BYTES + msg.encoded_len());
    dst.put_u8(method.code());
    encode_message(msg, &mut dst)?;
    Ok(dst.freeze())
}

/// A response frame carrying `msg`: `frame(0x00 | msg)`.
pub fn encode_ok<M: Message>(msg: &M) -> Result<Bytes, FrameError> {
    let len = 1 + msg.encoded_len();
    let mut dst = BytesMut::with_capacity(FRAME_HEADER_BYTES + len);
    dst.put_slice(&length_prefix(len)?);
    dst.put_u8(STATUS_OK);
    msg.encode_raw(&mut dst);
    Ok(dst.freeze())
}

/// A response frame carrying an error: `frame(0x01 | code | message)`.
pub fn encode_status(status: &Status) -> Result<Bytes, FrameError> {
    let len = ERROR_PREFIX_BYTES + status.message.len();
    let mut dst = BytesMut::with_capacity(FRAME_HEADER_BYTES + len);
    dst.put_slice(&length_prefix(len)?);
    dst.put_u8(STATUS_ERROR);
    dst.put_u32(status.code.as_u32());
    dst.put_slice(status.message.as_bytes());
    Ok(dst.freeze())
}

// ------------------------------------------------------------------ decoding

/// Splits a response frame's payload into the encoded message (OK) or the
/// server's [`Status`] (error).
///
/// An error message that is not valid UTF-8 is decoded lossily: the code is
/// what callers act on, and a replaced byte is better than losing the text.
pub fn decode_response(payload: Bytes) -> Result<Result<Bytes, Status>, FrameError> {
    match payload.first() {
        None => Err(FrameError::Malformed("empty response frame")),
        Some(&STATUS_OK) => Ok(Ok(payload.slice(1..))),
        Some(&STATUS_ERROR) => {
            let Some(code_bytes) = payload.get(1..ERROR_PREFIX_BYTES) else {
                return Err(FrameError::Malformed("error frame shorter than its code"));
            };
            let mut code = [0u8; 4];
            code.copy_from_slice(code_bytes);
            let code = Code::from_u32(u32::from_be_bytes(code));
            if code == Code::Ok {
                return Err(FrameError::Malformed("error frame with code OK"));
            }
            let message = String::from_utf8_lossy(&payload[ERROR_PREFIX_BYTES..]).into_owned();
            Ok(Err(Status { code, message }))
        }
        Some(_) => Err(FrameError::Malformed("unknown status byte")),
    }
}

/// Decodes an OK response payload into `M`, or passes the server's status on.
pub fn decode_response_message<M: Message + Default>(
    payload: Bytes,
) -> Result<Result<M, Status>, FrameError> {
    Ok(match decode_response(payload)? {
        Ok(body) => Ok(M::decode(body)?),
        Err(status) => Err(status),
    })
}

/// Incremental frame decoder over a byte buffer, for byte sources that are not
/// QUIC streams (fuzzing, tests, datagram-free transports).
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    frame_bytes_max: usize,
}

impl FrameDecoder {
    /// A decoder refusing frames longer than `frame_bytes_max`.
    pub fn new(frame_bytes_max: usize) -> FrameDecoder {
        FrameDecoder { frame_bytes_max }
    }

    /// Takes one whole frame's payload off the front of `buf`; `Ok(None)` if
    /// `buf` does not hold a whole frame yet. An oversized length is an error
    /// as soon as the 4-byte header is visible.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(header) = buf.get(..FRAME_HEADER_BYTES) else {
            return Ok(None);
        };
        let mut len = [0u8; FRAME_HEADER_BYTES];
        len.copy_from_slice(header);
        let len = u32::from_be_bytes(len) as usize;
        if len > self.frame_bytes_max {
            return Err(FrameError::TooLarge {
                len,
                max: self.frame_bytes_max,
            });
        }
        if buf.len() < FRAME_HEADER_BYTES + len {
            return Ok(None);
        }
        let mut frame = buf.split_to(FRAME_HEADER_BYTES + len);
        let _header = frame.split_to(FRAME_HEADER_BYTES);
        Ok(Some(frame.freeze()))
    }

    /// Like [`FrameDecoder::decode`] when no more bytes will come: leftover
    /// bytes that do not form a whole frame are [`FrameError::Truncated`].
    pub fn decode_eof(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let expected = match buf.get(..FRAME_HEADER_BYTES) {
            None => FRAME_HEADER_BYTES,
            Some(header) => {
                let mut len = [0u8; FRAME_HEADER_BYTES];
                len.copy_from_slice(header);
                FRAME_HEADER_BYTES + u32::from_be_bytes(len) as usize
            }
        };
        Err(FrameError::Truncated {
            expected,
            got: buf.len(),
        })
    }
}

// ------------------------------------------------------------------ stream I/O

/// Where the async reader gets bytes: a QUIC receive stream, or an in-memory
/// source in tests. `Ok(None)` is the end of the stream.
pub(crate) trait ChunkSource {
    async fn next_chunk(&mut self, max_bytes: usize) -> Result<Option<Bytes>, FrameError>;
}

impl ChunkSource for RecvStream {
    async fn next_chunk(&mut self, max_bytes: usize) -> Result<Option<Bytes>, FrameError> {
        Ok(self.read_chunk(max_bytes, true).await?.map(|c| c.bytes))
    }
}

/// Reads exactly `want` bytes into `out`; returns how many arrived before the
/// end of stream if fewer.
async fn read_into<S: ChunkSource>(
    src: &mut S,
    out: &mut [u8],
) -> Result<Result<(), usize>, FrameError> {
    let mut got = 0;
    while got < out.len() {
        match src.next_chunk(out.len() - got).await? {
            None => return Ok(Err(got)),
            Some(chunk) => {
                let end = got + chunk.len();
                let Some(dst) = out.get_mut(got..end) else {
                    return Err(FrameError::Malformed("source returned more than asked"));
                };
                dst.copy_from_slice(&chunk);
                got = end;
            }
        }
    }
    Ok(Ok(()))
}

pub(crate) async fn read_frame_from<S: ChunkSource>(
    src: &mut S,
    frame_bytes_max: usize,
) -> Result<Option<Bytes>, FrameError> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    match read_into(src, &mut header).await? {
        Ok(()) => {}
        Err(0) => return Ok(None),
        Err(got) => {
            return Err(FrameError::Truncated {
                expected: FRAME_HEADER_BYTES,
                got,
            })
        }
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > frame_bytes_max {
        return Err(FrameError::TooLarge {
            len,
            max: frame_bytes_max,
        });
    }
    if len == 0 {
        return Ok(Some(Bytes::new()));
    }
    let truncated = |got| FrameError::Truncated { expected: len, got };
    let first = src.next_chunk(len).await?.ok_or(truncated(0))?;
    if first.len() == len {
        // Common case: the whole frame arrived in one chunk; no copy.
        return Ok(Some(first));
    }
    if first.len() > len {
        return Err(FrameError::Malformed("source returned more than asked"));
    }
    // Grow with what arrives, never to the claimed length up front.
    let mut buf = BytesMut::with_capacity(first.len().saturating_mul(2).min(len));
    buf.extend_from_slice(&first);
    while buf.len() < len {
        let chunk = src
            .next_chunk(len - buf.len())
            .await?
            .ok_or(truncated(buf.len()))?;
        if buf.len() + chunk.len() > len {
            return Err(FrameError::Malformed("source returned more than asked"));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}

pub(crate) async fn read_method_from<S: ChunkSource>(
    src: &mut S,
) -> Result<Option<Method>, FrameError> {
    let mut code = [0u8; 1];
    match read_into(src, &mut code).await? {
        Ok(()) => Method::from_code(code[0])
            .map(Some)
            .ok_or(FrameError::UnknownMethod(code[0])),
        Err(_) => Ok(None),
    }
}

/// Reads one frame's payload; `Ok(None)` when the stream ends cleanly
/// between frames.
pub async fn read_frame(
    recv: &mut RecvStream,
    frame_bytes_max: usize,
) -> Result<Option<Bytes>, FrameError> {
    read_frame_from(recv, frame_bytes_max).await
}

/// Reads the method byte that opens a request stream; `Ok(None)` if the
/// stream ends before it.
pub async fn read_method(recv: &mut RecvStream) -> Result<Option<Method>, FrameError> {
    read_method_from(recv).await
}

/// Reads one frame and decodes it as `M` (client -> server messages);
/// `Ok(None)` when the stream ends cleanly between frames.
pub async fn read_message<M: Message + Default>(
    recv: &mut RecvStream,
    frame_bytes_max: usize,
) -> Result<Option<M>, FrameError> {
    match read_frame(recv, frame_bytes_max).await? {
        None => Ok(None),
        Some(payload) => Ok(Some(M::decode(payload)?)),
    }
}

/// Reads the single request of a unary or server-streaming call, after
/// [`read_method`]. A missing request is an error.
pub async fn read_request<M: Message + Default>(
    recv: &mut RecvStream,
    frame_bytes_max: usize,
) -> Result<M, FrameError> {
    read_message(recv, frame_bytes_max)
        .await?
        .ok_or(FrameError::Missing("request frame"))
}

/// Reads one response frame: the decoded message or the server's status;
/// `Ok(None)` when the stream ends cleanly between frames.
pub async fn read_response<M: Message + Default>(
    recv: &mut RecvStream,
    frame_bytes_max: usize,
) -> Result<Option<Result<M, Status>>, FrameError> {
    match read_frame(recv, frame_bytes_max).await? {
        None => Ok(None),
        Some(payload) => Ok(Some(decode_response_message(payload)?)),
    }
}

/// Opens a request: writes `method | frame(msg)`.
pub async fn write_request<M: Message>(
    send: &mut SendStream,
    method: Method,
    msg: &M,
) -> Result<(), FrameError> {
    send.write_chunk(encode_request(method, msg)?).await?;
    Ok(())
}

/// Writes a further client message on a streaming request (watch, keepalive).
pub async fn write_message<M: Message>(send: &mut SendStream, msg: &M) -> Result<(), FrameError> {
    let mut dst = BytesMut::new();
    encode_message(msg, &mut dst)?;
    send.write_chunk(dst.freeze()).await?;
    Ok(())
}

/// Writes an OK response frame carrying `msg`.
pub async fn write_ok<M: Message>(send: &mut SendStream, msg: &M) -> Result<(), FrameError> {
    send.write_chunk(encode_ok(msg)?).await?;
    Ok(())
}

/// Writes a handler's outcome: an OK frame with the response, or an error
/// frame with the status.
pub async fn write_result<M: Message>(
    send: &mut SendStream,
    result: &Result<M, Status>,
) -> Result<(), FrameError> {
    match result {
        Ok(msg) => write_ok(send, msg).await,
        Err(status) => write_status(send, status).await,
    }
}

/// Writes an error response frame.
pub async fn write_status(send: &mut SendStream, status: &Status) -> Result<(), FrameError> {
    send.write_chunk(encode_status(status)?).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::pb::etcdserverpb::{PutRequest, PutResponse, ResponseHeader};

    /// An in-memory stream delivering the given chunks, then end of stream.
    struct Chunks(VecDeque<Bytes>);

    impl Chunks {
        fn new(bytes: &[u8], chunk_len: usize) -> Chunks {
            let bytes = Bytes::copy_from_slice(bytes);
            let mut chunks = VecDeque::new();
            let mut at = 0;
            while at < bytes.len() {
                let end = (at + chunk_len).min(bytes.len());
                chunks.push_back(bytes.slice(at..end));
                at = end;
            }
            Chunks(chunks)
        }
    }

    impl ChunkSource for Chunks {
        async fn next_chunk(&mut self, max_bytes: usize) -> Result<Option<Bytes>, FrameError> {
            let Some(mut chunk) = self.0.pop_front() else {
                return Ok(None);
            };
            if chunk.len() > max_bytes {
                let rest = chunk.split_off(max_bytes);
                self.0.push_front(rest);
            }
            Ok(Some(chunk))
        }
    }

    fn read_all(bytes: &[u8], chunk_len: usize, max: usize) -> Result<Vec<Bytes>, FrameError> {
        let mut src = Chunks::new(bytes, chunk_len);
        futures::executor::block_on(async {
            let mut frames = Vec::new();
            while let Some(f) = read_frame_from(&mut src, max).await? {
                frames.push(f);
            }
            Ok(frames)
        })
    }

    fn put(key: &'static [u8], value: &'static [u8]) -> PutRequest {
        PutRequest {
            key: Bytes::from_static(key),
            value: Bytes::from_static(value),
            ..Default::default()
        }
    }

    #[test]
    fn frames_round_trip_whatever_the_chunking() {
        let msgs = [put(b"a", b"1"), put(b"", b""), put(b"key", &[7u8; 300])];
        let mut wire = BytesMut::new();
        for m in &msgs {
            encode_message(m, &mut wire).expect("encode");
        }
        for chunk_len in [1, 2, 3, 5, 64, 10_000] {
            let frames = read_all(&wire, chunk_len, FRAME_BYTES_MAX_DEFAULT).expect("read");
            let decoded: Vec<PutRequest> = frames
                .into_iter()
                .map(|f| PutRequest::decode(f).expect("decode"))
                .collect();
            assert_eq!(decoded, msgs, "chunk_len {chunk_len}");
        }
    }

    #[test]
    fn length_prefix_is_big_endian() {
        let mut wire = BytesMut::new();
        encode_frame(&[0xaa; 0x0102], &mut wire).expect("encode");
        assert_eq!(&wire[..4], &[0, 0, 0x01, 0x02]);
    }

    #[test]
    fn oversized_frame_is_refused_before_its_body_arrives() {
        // Only the header is sent: the reader must refuse on the header alone.
        let header = (1024u32 * 1024 * 1024).to_be_bytes();
        match read_all(&header, 4, FRAME_BYTES_MAX_DEFAULT) {
            Err(FrameError::TooLarge { len, max }) => {
                assert_eq!(len, 1 << 30);
                assert_eq!(max, FRAME_BYTES_MAX_DEFAULT);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let mut buf = BytesMut::from(&header[..]);
        assert!(matches!(
            FrameDecoder::new(FRAME_BYTES_MAX_DEFAULT).decode(&mut buf),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn frame_at_the_limit_is_accepted() {
        let mut wire = BytesMut::new();
        encode_frame(&[1u8; 100], &mut wire).expect("encode");
        assert_eq!(read_all(&wire, 7, 100).expect("read")[0].len(), 100);
        assert!(matches!(
            read_all(&wire, 7, 99),
            Err(FrameError::TooLarge { len: 100, max: 99 })
        ));
    }

    #[test]
    fn truncated_frames_are_errors_not_short_reads() {
        let mut wire = BytesMut::new();
        encode_frame(b"hello world", &mut wire).expect("encode");
        for cut in 1..wire.len() {
            match read_all(&wire[..cut], 3, 1024) {
                Err(FrameError::Truncated { expected, got }) => {
                    if cut < FRAME_HEADER_BYTES {
                        assert_eq!((expected, got), (FRAME_HEADER_BYTES, cut));
                    } else {
                        assert_eq!((expected, got), (11, cut - FRAME_HEADER_BYTES));
                    }
                }
                other => panic!("cut {cut}: expected Truncated, got {other:?}"),
            }
            let mut buf = BytesMut::from(&wire[..cut]);
            assert!(matches!(
                FrameDecoder::new(1024).decode_eof(&mut buf),
                Err(FrameError::Truncated { .. })
            ));
        }
        assert!(read_all(&[], 1, 1024).expect("empty stream").is_empty());
    }

    #[test]
    fn ok_and_error_responses_round_trip() {
        let resp = PutResponse {
            header: Some(ResponseHeader {
                revision: 42,
                ..Default::default()
            }),
            prev_kv: None,
        };
        let wire = encode_ok(&resp).expect("encode");
        let mut buf = BytesMut::from(&wire[..]);
        let payload = FrameDecoder::new(1024)
            .decode(&mut buf)
            .expect("frame")
            .expect("whole");
        assert_eq!(
            decode_response_message::<PutResponse>(payload).expect("decode"),
            Ok(resp)
        );

        let status = crate::method::etcd_errors::compacted();
        let wire = encode_status(&status).expect("encode");
        assert_eq!(wire[4], STATUS_ERROR);
        assert_eq!(&wire[5..9], &11u32.to_be_bytes());
        let payload = Bytes::copy_from_slice(&wire[4..]);
        assert_eq!(
            decode_response_message::<PutResponse>(payload).expect("decode"),
            Err(status)
        );
    }

    #[test]
    fn malformed_response_payloads_are_errors() {
        for payload in [&b""[..], &[0x01, 0, 0], &[0x01, 0, 0, 0, 0], &[0x07]] {
            assert!(
                matches!(
                    decode_response(Bytes::copy_from_slice(payload)),
                    Err(FrameError::Malformed(_))
                ),
                "{payload:?}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        /// The stream reader agrees with the buffer decoder on any bytes and
        /// any chunking, and never panics.
        #[test]
        fn stream_reader_never_panics(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            chunk_len in 1usize..17,
            max in 0usize..64,
        ) {
            let streamed = read_all(&bytes, chunk_len, max);
            let mut buf = BytesMut::from(&bytes[..]);
            let decoder = FrameDecoder::new(max);
            let mut buffered = Vec::new();
            let buffered_result = loop {
                match decoder.decode_eof(&mut buf) {
                    Ok(Some(f)) => buffered.push(f),
                    Ok(None) => break Ok(buffered),
                    Err(e) => break Err(e),
                }
            };
            match (streamed, buffered_result) {
                (Ok(a), Ok(b)) => proptest::prop_assert_eq!(a, b),
                (Err(FrameError::TooLarge { .. }), Err(FrameError::TooLarge { .. })) => {}
                (Err(FrameError::Truncated { .. }), Err(FrameError::Truncated { .. })) => {}
                (a, b) => proptest::prop_assert!(false, "stream {a:?} vs buffer {b:?}"),
            }
        }
    }

    /// The worked example in docs/protocol.md, byte for byte.
    #[test]
    fn protocol_doc_example_bytes() {
        let request = encode_request(Method::Put, &put(b"foo", b"bar")).expect("encode");
        assert_eq!(
            &request[..],
            &[0x02, 0, 0, 0, 0x0a, 0x0a, 0x03, b'f', b'o', b'o', 0x12, 0x03, b'b', b'a', b'r']
        );
        let response = encode_ok(&PutResponse {
            header: Some(ResponseHeader {
                revision: 7,
                ..Default::default()
            }),
            prev_kv: None,
        })
        .expect("encode");
        assert_eq!(&response[..], &[0, 0, 0, 5, 0x00, 0x0a, 0x02, 0x18, 0x07]);
    }

    #[test]
    fn request_opens_with_the_method_byte() {
        let wire = encode_request(Method::Put, &put(b"k", b"v")).expect("encode");
        assert_eq!(wire[0], Method::Put.code());
        let mut src = Chunks::new(&wire, 2);
        let (method, frame) = futures::executor::block_on(async {
            let m = read_method_from(&mut src).await;
            let f = read_frame_from(&mut src, 1024).await;
            (m, f)
        });
        assert_eq!(method.expect("method"), Some(Method::Put));
        let req = PutRequest::decode(frame.expect("frame").expect("some")).expect("decode");
        assert_eq!(req, put(b"k", b"v"));

        let mut src = Chunks::new(&[0xee], 1);
        let err = futures::executor::block_on(read_method_from(&mut src));
        assert!(matches!(err, Err(FrameError::UnknownMethod(0xee))));
        let status = err.err().and_then(|e| e.to_status()).expect("status");
        assert_eq!(status.code, Code::Unimplemented);
    }
}
