//! What a client call can fail with, shaped by how callers react: a
//! [`ClientError::Status`] is the server's answer (retry or not depending on
//! the code); everything else is about reaching the server at all.

use std::io;

use crate::{
    frame::FrameError,
    method::{Code, Status},
    tls::TlsError,
};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused the request. `message` is the server's text, for
    /// etcd's refusals etcd's text verbatim (`etcdserver: ...`).
    #[error("{message}")]
    Status {
        /// The gRPC code.
        code: Code,
        /// The server's message.
        message: String,
    },
    /// `connect` was given no endpoint.
    #[error("no endpoints given")]
    NoEndpoints,
    /// An endpoint string could not be parsed.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No endpoint could be reached; `reason` is the last failure.
    #[error("cannot connect to {endpoints}: {reason}")]
    Connect {
        /// The endpoints tried.
        endpoints: String,
        /// The last endpoint's failure (resolution, timeout, TLS, ...).
        reason: String,
    },
    /// The connection was lost or could not open a stream.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// A stream broke or carried a malformed frame.
    #[error("stream: {0}")]
    Frame(#[from] FrameError),
    /// TLS configuration failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A local I/O error (binding the client socket, ...).
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
}

impl ClientError {
    /// The gRPC code if the server refused the request.
    pub fn code(&self) -> Option<Code> {
        match self {
            ClientError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<Status> for ClientError {
    fn from(status: Status) -> ClientError {
        ClientError::Status {
            code: status.code,
            message: status.message,
        }
    }
}
