//! gRPC's message framing over HTTP/2 bodies, and its status trailers.
//!
//! ```text
//! message = compressed:u8 (0) | length:u32 big-endian | protobuf[length]
//! ```
//!
//! Status travels in `grpc-status` (decimal code) and `grpc-message`
//! (percent-encoded text) trailers, or in the headers of a "trailers-only"
//! answer when there is no message at all.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::errors::{Code, EtcdError};
use crate::service::HEADROOM_BYTES;

/// Bytes of gRPC's message prefix (flag + length).
pub(super) const GRPC_PREFIX_BYTES: usize = 5;

/// Bytes gRPC's framing and etcd's request envelope may add to a request
/// beyond `--max-request-bytes` (etcd gives its gRPC server the same room).
pub(super) const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// What gRPC percent-encodes in `grpc-message`: controls, non-ASCII, `%`.
const GRPC_MESSAGE_ESCAPES: &AsciiSet = &CONTROLS.add(b'%');

/// Writes gRPC's prefix into an encoded response's headroom.
pub(super) fn frame(mut buf: BytesMut) -> Bytes {
    const _: () = assert!(HEADROOM_BYTES == GRPC_PREFIX_BYTES);
    let len = (buf.len() - GRPC_PREFIX_BYTES) as u32;
    buf[0] = 0;
    buf[1..GRPC_PREFIX_BYTES].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

/// `grpc-status` / `grpc-message` for `status` (code 0 = OK).
pub(super) fn status_headers(headers: &mut HeaderMap, status: Option<&EtcdError>) {
    let code = status.map(|s| s.code.as_u32()).unwrap_or(0);
    headers.insert("grpc-status", HeaderValue::from(code));
    if let Some(s) = status {
        let text = utf8_percent_encode(&s.message, GRPC_MESSAGE_ESCAPES).to_string();
        if let Ok(v) = HeaderValue::from_str(&text) {
            headers.insert("grpc-message", v);
        }
    }
}

pub(super) fn trailers(status: Option<&EtcdError>) -> HeaderMap {
    let mut t = HeaderMap::new();
    status_headers(&mut t, status);
    t
}

/// Reads gRPC messages from a request body, each at most `message_bytes_max`.
pub(super) struct MessageReader {
    body: Incoming,
    pending: BytesMut,
    message_bytes_max: usize,
    done: bool,
}

impl MessageReader {
    pub(super) fn new(body: Incoming, message_bytes_max: usize) -> MessageReader {
        MessageReader {
            body,
            pending: BytesMut::new(),
            message_bytes_max,
            done: false,
        }
    }

    /// The message a complete prefix + payload at the front of `pending` holds.
    fn take_message(&mut self) -> Result<Option<Bytes>, EtcdError> {
        if self.pending.len() < GRPC_PREFIX_BYTES {
            return Ok(None);
        }
        let compressed = self.pending[0];
        let len = u32::from_be_bytes([
            self.pending[1],
            self.pending[2],
            self.pending[3],
            self.pending[4],
        ]) as usize;
        if compressed != 0 {
            return Err(EtcdError::new(
                Code::Unimplemented,
                "grpc: compressed messages are not supported by etcq",
            ));
        }
        if len > self.message_bytes_max {
            return Err(EtcdError::new(
                Code::ResourceExhausted,
                format!(
                    "grpc: received message larger than max ({len} vs. {})",
                    self.message_bytes_max
                ),
            ));
        }
        if self.pending.len() < GRPC_PREFIX_BYTES + len {
            return Ok(None);
        }
        self.pending.advance(GRPC_PREFIX_BYTES);
        Ok(Some(self.pending.split_to(len).freeze()))
    }

    /// The next message; `None` at the body's clean end.
    pub(super) async fn next(&mut self) -> Result<Option<Bytes>, EtcdError> {
        loop {
            if let Some(m) = self.take_message()? {
                return Ok(Some(m));
            }
            if self.done {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                return Err(EtcdError::new(
                    Code::Internal,
                    "grpc: the request body ended inside a message",
                ));
            }
            match self.body.frame().await {
                None => self.done = true,
                Some(Err(e)) => {
                    return Err(EtcdError::new(
                        Code::Cancelled,
                        format!("grpc: reading the request: {e}"),
                    ))
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}
