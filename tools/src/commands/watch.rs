//! `watch [options] [key] [range_end] [-- command args...]`: prints events
//! as they arrive until the server ends the watch, then exits 5 with
//! `watch is canceled by the server`, as etcdctl does. Interrupting
//! (SIGINT) ends the process the default way.
//!
//! With a command after `--`, it runs once per event with
//! `ETCD_WATCH_REVISION`, `ETCD_WATCH_EVENT_TYPE`, `ETCD_WATCH_KEY` and
//! `ETCD_WATCH_VALUE` set (the last three Go-quoted, as etcdctl sets them).

use std::{ffi::OsString, process::Command};

use etcq_net::pb::etcdserverpb::WatchResponse;

use super::{write_stdout, Ctx};
use crate::{
    cli::WatchArgs,
    error::{client_message, CtlError, EXIT_ERROR, EXIT_INTERRUPTED},
    golang,
    output::event_type_name,
    request::{self, WatchEnv},
};

/// clientv3's `ErrCompacted` and `ErrFutureRev` texts, for cancellations
/// that come without a reason.
const ERR_COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
const ERR_FUTURE_REV: &str = "etcdserver: mvcc: required revision is a future revision";

pub(super) async fn watch(ctx: &Ctx, args: &WatchArgs) -> Result<(), CtlError> {
    let env = WatchEnv {
        key: std::env::var_os("ETCDCTL_WATCH_KEY").unwrap_or_default(),
        range_end: std::env::var_os("ETCDCTL_WATCH_RANGE_END").unwrap_or_default(),
    };
    if args.interactive {
        return Err(CtlError::bad_args(
            "interactive watch (-i) is not supported by etcqctl",
        ));
    }
    let req = request::watch_request(args, &env)?;
    let client = ctx.connect().await?;
    let (watcher, mut responses) = ctx.call(EXIT_ERROR, client.watch(req)).await?;
    loop {
        let resp = match responses.message().await {
            Ok(Some(resp)) => resp,
            Ok(None) => break,
            Err(e) => {
                eprintln!("watch was canceled ({})", client_message(&e));
                break;
            }
        };
        // clientv3 consumes the "created" confirmation itself.
        if resp.created && resp.events.is_empty() && !resp.canceled {
            continue;
        }
        if resp.canceled {
            eprintln!("watch was canceled ({})", cancel_reason(&resp));
        }
        if is_progress_notify(&resp) {
            let revision = resp.header.as_ref().map_or(0, |h| h.revision);
            write_stdout(format!("progress notify: {revision}\n").as_bytes())?;
        }
        ctx.emit(|p, out| p.watch(out, &resp))?;
        if !args.exec.is_empty() {
            run_per_event(&args.exec, &resp)?;
        }
        if resp.canceled {
            break;
        }
    }
    drop(watcher);
    Err(CtlError::new(
        EXIT_INTERRUPTED,
        "watch is canceled by the server",
    ))
}

/// clientv3's `WatchResponse.Err()` text for a cancelled watch.
fn cancel_reason(resp: &WatchResponse) -> String {
    if resp.compact_revision != 0 {
        ERR_COMPACTED.to_string()
    } else if !resp.cancel_reason.is_empty() {
        resp.cancel_reason.clone()
    } else {
        ERR_FUTURE_REV.to_string()
    }
}

/// clientv3's `IsProgressNotify`.
fn is_progress_notify(resp: &WatchResponse) -> bool {
    resp.events.is_empty()
        && !resp.canceled
        && !resp.created
        && resp.compact_revision == 0
        && resp.header.as_ref().is_some_and(|h| h.revision != 0)
}

/// Runs `exec` once per event, waiting for each; a failing command ends
/// etcqctl with exit 1, as in etcdctl.
fn run_per_event(exec: &[OsString], resp: &WatchResponse) -> Result<(), CtlError> {
    let Some((program, program_args)) = exec.split_first() else {
        return Ok(());
    };
    let revision = resp.header.as_ref().map_or(0, |h| h.revision);
    for event in &resp.events {
        let (key, value) = event
            .kv
            .as_ref()
            .map(|kv| (kv.key.as_ref(), kv.value.as_ref()))
            .unwrap_or_default();
        let status = Command::new(program)
            .args(program_args)
            .env("ETCD_WATCH_REVISION", revision.to_string())
            .env(
                "ETCD_WATCH_EVENT_TYPE",
                golang::quote(event_type_name(event.r#type).as_bytes()),
            )
            .env("ETCD_WATCH_KEY", golang::quote(key))
            .env("ETCD_WATCH_VALUE", golang::quote(value))
            .status();
        let failure = match status {
            Ok(status) if status.success() => continue,
            Ok(status) => match status.code() {
                Some(code) => format!("exit status {code}"),
                None => status.to_string(),
            },
            Err(e) => e.to_string(),
        };
        let quoted: Vec<String> = exec
            .iter()
            .map(|a| golang::quote(a.as_encoded_bytes()))
            .collect();
        eprintln!("command [{}] error ({failure})", quoted.join(" "));
        return Err(CtlError::new(EXIT_ERROR, ""));
    }
    Ok(())
}
