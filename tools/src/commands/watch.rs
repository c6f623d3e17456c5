//! `watch [options] [key] [range_end] [-- command args...]`: prints events
//! as they arrive until the server ends the watch, then exits 5 with
//! `watch is canceled by the server`, as etcdctl does. Interrupting
//! (SIGINT) ends the process the default way.
//!
//! With a command after `--`, it runs once per event with
//! `ETCD_WATCH_REVISION`, `ETCD_WATCH_EVENT_TYPE`, `ETCD_WATCH_KEY` and
//! `ETCD_WATCH_VALUE` set (the last three Go-quoted, as etcdctl sets them).
//!
//! `-i` reads `watch ...` and `progress` lines from stdin instead.

use std::{
    collections::{HashMap, VecDeque},
    ffi::OsString,
    io::BufRead,
    process::Command,
};

use clap::Parser;
use etcq_net::{
    client::{ClientError, WatchStream, Watcher},
    pb::etcdserverpb::WatchResponse,
};
use tokio::sync::mpsc;

use super::{write_stdout, Ctx};
use crate::{
    cli::{WatchArgs, WatchLine, WatchLineCommand},
    error::{client_message, CtlError, EXIT_ERROR, EXIT_INTERRUPTED},
    golang,
    output::event_type_name,
    request::{self, WatchEnv},
    txn,
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
    if env.key.is_empty() && !env.range_end.is_empty() {
        // Checked before anything else, interactive or not.
        request::watch_request(&WatchArgs::default(), &env)?;
    }
    if args.interactive {
        return interactive(ctx, &env).await;
    }
    let req = request::watch_request(args, &env)?;
    let client = ctx.connect(EXIT_ERROR).await?;
    let (watcher, mut responses) = ctx.call(EXIT_ERROR, client.watch(req)).await?;
    loop {
        match responses.message().await {
            Ok(Some(resp)) => {
                if handle_response(ctx, &resp, &args.exec)? == Watching::Ended {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("watch was canceled ({})", client_message(&e));
                break;
            }
        }
    }
    drop(watcher);
    Err(CtlError::new(
        EXIT_INTERRUPTED,
        "watch is canceled by the server",
    ))
}

/// Whether a watcher goes on after a response.
#[derive(Debug, PartialEq, Eq)]
enum Watching {
    On,
    Ended,
}

/// Prints one response as etcdctl's `printWatchCh` does and runs `exec`
/// per event.
fn handle_response(
    ctx: &Ctx,
    resp: &WatchResponse,
    exec: &[OsString],
) -> Result<Watching, CtlError> {
    // clientv3 consumes the "created" confirmation itself.
    if resp.created && resp.events.is_empty() && !resp.canceled {
        return Ok(Watching::On);
    }
    if resp.canceled {
        eprintln!("watch was canceled ({})", cancel_reason(resp));
    }
    if is_progress_notify(resp) {
        let revision = resp.header.as_ref().map_or(0, |h| h.revision);
        write_stdout(format!("progress notify: {revision}\n").as_bytes())?;
    }
    ctx.emit(|p, out| p.watch(out, resp))?;
    run_per_event(exec, resp)?;
    Ok(if resp.canceled {
        Watching::Ended
    } else {
        Watching::On
    })
}

/// Lines of stdin, read on a thread of their own (stdin has no async
/// reader here); `Err` once it ends or fails.
fn stdin_lines() -> mpsc::Receiver<Result<String, String>> {
    let (tx, rx) = mpsc::channel(STDIN_LINES_BUFFERED);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        loop {
            let mut line = String::new();
            let item = match stdin.lock().read_line(&mut line) {
                Ok(0) => Err("EOF".to_string()),
                Ok(_) => Ok(line),
                Err(e) => Err(e.to_string()),
            };
            let last = item.is_err();
            if tx.blocking_send(item).is_err() || last {
                return;
            }
        }
    });
    rx
}

/// How many stdin lines may wait for the watch loop.
const STDIN_LINES_BUFFERED: usize = 16;

async fn next_response(
    stream: &mut Option<WatchStream>,
) -> Result<Option<WatchResponse>, ClientError> {
    match stream {
        Some(stream) => stream.message().await,
        None => std::future::pending().await,
    }
}

/// `watch -i`: reads `watch [options] <key> [range_end] [-- cmd...]` and
/// `progress` lines from stdin; every watcher shares one session and prints
/// as its events come. Ends when stdin does (exit 3, as etcdctl).
async fn interactive(ctx: &Ctx, env: &WatchEnv) -> Result<(), CtlError> {
    let client = ctx.connect(EXIT_ERROR).await?;
    let mut lines = stdin_lines();
    let mut watcher: Option<Watcher> = None;
    let mut stream: Option<WatchStream> = None;
    // Exec commands of watchers created but not yet confirmed, in order,
    // and of confirmed ones by watch ID.
    let mut pending_exec: VecDeque<Vec<OsString>> = VecDeque::new();
    let mut exec_by_id: HashMap<i64, Vec<OsString>> = HashMap::new();
    loop {
        tokio::select! {
            line = lines.recv() => {
                let line = match line {
                    Some(Ok(line)) => line,
                    Some(Err(e)) => return Err(CtlError::invalid_input(format!(
                        "Error reading watch request line: {e}"
                    ))),
                    None => return Err(CtlError::invalid_input(
                        "Error reading watch request line: EOF",
                    )),
                };
                let line = line.strip_suffix('\n').unwrap_or(&line);
                let words = txn::argify(line)?;
                if words.is_empty() {
                    eprintln!("Invalid command: {line} (watch and progress supported)");
                    continue;
                }
                let parsed = match WatchLine::try_parse_from(words) {
                    Ok(parsed) => parsed,
                    Err(_) => {
                        eprintln!("Invalid command {line} (only support watch)");
                        continue;
                    }
                };
                match parsed.command {
                    WatchLineCommand::Progress => {
                        if let Some(w) = watcher.as_mut() {
                            ctx.call(EXIT_ERROR, w.request_progress()).await?;
                        }
                    }
                    WatchLineCommand::Watch(args) => {
                        let req = match request::watch_request(&args, env) {
                            Ok(req) => req,
                            Err(e) => {
                                eprintln!("Invalid command {line} ({e})");
                                continue;
                            }
                        };
                        match watcher.as_mut() {
                            Some(w) => ctx.call(EXIT_ERROR, w.create(req)).await?,
                            None => {
                                let (w, s) = ctx.call(EXIT_ERROR, client.watch(req)).await?;
                                watcher = Some(w);
                                stream = Some(s);
                            }
                        }
                        pending_exec.push_back(args.exec);
                    }
                }
            }
            resp = next_response(&mut stream) => {
                let resp = match resp {
                    Ok(Some(resp)) => resp,
                    ended => {
                        if let Err(e) = ended {
                            eprintln!("watch was canceled ({})", client_message(&e));
                        }
                        // The session is gone; new `watch` lines open another.
                        watcher = None;
                        stream = None;
                        pending_exec.clear();
                        exec_by_id.clear();
                        continue;
                    }
                };
                if resp.created {
                    let exec = pending_exec.pop_front().unwrap_or_default();
                    exec_by_id.insert(resp.watch_id, exec);
                }
                // A session-wide progress notification (watch ID -1)
                // reaches every watcher in clientv3, so each prints it.
                if is_progress_notify(&resp) && !exec_by_id.contains_key(&resp.watch_id) {
                    for _ in 0..exec_by_id.len().max(1) {
                        handle_response(ctx, &resp, &[])?;
                    }
                    continue;
                }
                let exec = exec_by_id.get(&resp.watch_id).cloned().unwrap_or_default();
                if handle_response(ctx, &resp, &exec)? == Watching::Ended {
                    exec_by_id.remove(&resp.watch_id);
                }
            }
        }
    }
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
