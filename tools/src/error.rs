//! How `etcqctl` fails: a message for stderr and an exit code, with
//! etcdctl's codes (`pkg/cobrautl`), so scripts written for etcdctl can tell
//! a bad argument from an unreachable server from a refused request.
//!
//! Every failure reaches `main` as a [`CtlError`]; nothing else prints
//! `Error:` or calls `exit`.

use std::fmt;

use etcq_net::client::ClientError;

/// The command did what was asked.
pub const EXIT_SUCCESS: i32 = 0;
/// The server refused the request, or a generic failure.
pub const EXIT_ERROR: i32 = 1;
/// No endpoint could be reached (or a lease call failed, as etcdctl reports it).
pub const EXIT_BAD_CONNECTION: i32 = 2;
/// Malformed input on stdin (txn grammar).
pub const EXIT_INVALID_INPUT: i32 = 3;
/// Unknown output format, sort order, consistency, ...
pub const EXIT_BAD_FEATURE: i32 = 4;
/// A watch ended (interrupted or cancelled by the server).
pub const EXIT_INTERRUPTED: i32 = 5;
/// Local I/O failed (writing stdout, reading stdin).
pub const EXIT_IO: i32 = 6;
/// Wrong arguments to a command.
pub const EXIT_BAD_ARGS: i32 = 128;

/// etcdctl's text when a call outlives `--command-timeout`.
pub const DEADLINE_EXCEEDED: &str = "context deadline exceeded";

/// A failure to report as `Error: <message>` and exit with `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlError {
    /// The process exit code.
    pub code: i32,
    /// What to print after `Error: `.
    pub message: String,
}

impl CtlError {
    /// A failure with an explicit exit code.
    pub fn new(code: i32, message: impl Into<String>) -> CtlError {
        CtlError {
            code,
            message: message.into(),
        }
    }

    /// Wrong command-line arguments (exit 128).
    pub fn bad_args(message: impl Into<String>) -> CtlError {
        CtlError::new(EXIT_BAD_ARGS, message)
    }

    /// An unsupported flag value (exit 4).
    pub fn bad_feature(message: impl Into<String>) -> CtlError {
        CtlError::new(EXIT_BAD_FEATURE, message)
    }

    /// Malformed stdin input (exit 3).
    pub fn invalid_input(message: impl Into<String>) -> CtlError {
        CtlError::new(EXIT_INVALID_INPUT, message)
    }

    /// A failed client call reported with `code`; the server's own text
    /// (etcd's `etcdserver: ...`) is kept verbatim.
    pub fn client(code: i32, err: &ClientError) -> CtlError {
        CtlError::new(code, client_message(err))
    }
}

/// The text etcdctl would print for a client error: the server's message
/// for refusals, our description for transport failures.
pub fn client_message(err: &ClientError) -> String {
    match err {
        ClientError::Status { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CtlError {}

impl From<std::io::Error> for CtlError {
    fn from(err: std::io::Error) -> CtlError {
        CtlError::new(EXIT_IO, err.to_string())
    }
}
