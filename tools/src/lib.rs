//! etcqctl: etcdctl v3's command-line interface, over etcq/1 (QUIC).
//!
//! The binary (`main.rs`) only parses, runs and exits; everything lives in
//! this library so tests (and tools) can drive the pieces directly.
//!
//! Same commands, flags, output formats and exit codes as etcdctl 3.4, so
//! scripts and habits carry over: key-value, txn, watch, lease, endpoint,
//! and the authentication commands `user`, `role` and `auth` (which never
//! prompt for a password; see `auth`). The code keeps the logic pure and
//! the I/O at the edge:
//!
//! * `cli` — the command line (clap);
//! * `request` — flags to etcd requests, with etcdctl's refusals;
//! * `txn` — the `txn` stdin grammar;
//! * `auth` — the arguments of `user`, `role` and `auth` (names,
//!   passwords, permission types and key ranges);
//! * `output` — responses to bytes, per `--write-out` format;
//! * `golang` — the bits of Go's formatting etcdctl's output depends on;
//! * `commands` — connect, call, read stdin, write stdout;
//! * `error` — exit codes; `main` is the only place that prints `Error:`
//!   and exits.
//!
//! Nothing assumes a terminal: prompts appear only with `-i`, output is
//! flushed per response, and every failure has an exit code.

pub mod auth;
pub mod cli;
pub mod commands;
pub mod error;
pub mod golang;
pub mod output;
pub mod request;
pub mod txn;
