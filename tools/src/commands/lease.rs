//! `lease grant|revoke|timetolive|list|keep-alive`.
//!
//! Exit codes are etcdctl's, including its quirk that `timetolive`, `list`
//! and `keep-alive` report a failed call as a bad connection (2) while
//! `grant` and `revoke` use 1 and wrap the text (`failed to grant lease
//! (...)`).

use std::time::{Duration, Instant};

use etcq_net::client::Client;

use super::{write_stdout, Ctx};
use crate::{
    cli::{LeaseCommand, LeaseIdArgs, LeaseKeepAliveArgs, LeaseTimeToLiveArgs},
    error::{client_message, CtlError, EXIT_BAD_CONNECTION, EXIT_ERROR},
    output::Format,
    request::{self, format_lease_id},
};

/// clientv3's `ErrLeaseNotFound`, what `keep-alive --once` reports for a
/// lease that is gone.
const LEASE_NOT_FOUND: &str = "etcdserver: requested lease not found";

/// Pause before re-opening a broken keep-alive session.
const KEEP_ALIVE_RETRY: Duration = Duration::from_millis(500);

/// Shortest pause between two keep-alives (clientv3 checks every 500ms).
const KEEP_ALIVE_INTERVAL_MIN: Duration = Duration::from_millis(500);

pub(super) async fn run(ctx: &Ctx, command: LeaseCommand) -> Result<(), CtlError> {
    match command {
        LeaseCommand::Grant(args) => grant(ctx, &args).await,
        LeaseCommand::Revoke(args) => revoke(ctx, &args).await,
        LeaseCommand::Timetolive(args) => time_to_live(ctx, &args).await,
        LeaseCommand::List => list(ctx).await,
        LeaseCommand::KeepAlive(args) => keep_alive(ctx, &args).await,
    }
}

async fn grant(ctx: &Ctx, args: &LeaseIdArgs) -> Result<(), CtlError> {
    let ttl = request::lease_grant_ttl(&args.args)?;
    let client = ctx.connect(EXIT_ERROR).await?;
    let resp = ctx
        .call_with(
            client.lease_grant(ttl, 0),
            |e| {
                CtlError::new(
                    EXIT_ERROR,
                    format!("failed to grant lease ({})", client_message(&e)),
                )
            },
            EXIT_ERROR,
        )
        .await?;
    ctx.emit(|p, out| p.lease_grant(out, &resp))
}

async fn revoke(ctx: &Ctx, args: &LeaseIdArgs) -> Result<(), CtlError> {
    let id = request::single_lease_id(&args.args, "lease revoke command needs 1 argument")?;
    let client = ctx.connect(EXIT_ERROR).await?;
    let resp = ctx
        .call_with(
            client.lease_revoke(id),
            |e| {
                CtlError::new(
                    EXIT_ERROR,
                    format!("failed to revoke lease ({})", client_message(&e)),
                )
            },
            EXIT_ERROR,
        )
        .await?;
    ctx.emit(|p, out| p.lease_revoke(out, id, &resp))
}

async fn time_to_live(ctx: &Ctx, args: &LeaseTimeToLiveArgs) -> Result<(), CtlError> {
    let id = request::single_lease_id(
        &args.args,
        "lease timetolive command needs lease ID as argument",
    )?;
    let client = ctx.connect(EXIT_BAD_CONNECTION).await?;
    let resp = ctx
        .call(
            EXIT_BAD_CONNECTION,
            client.lease_time_to_live(id, args.keys),
        )
        .await?;
    ctx.emit(|p, out| p.lease_time_to_live(out, &resp, args.keys))
}

async fn list(ctx: &Ctx) -> Result<(), CtlError> {
    let client = ctx.connect(EXIT_BAD_CONNECTION).await?;
    let resp = ctx.call(EXIT_BAD_CONNECTION, client.lease_leases()).await?;
    ctx.emit(|p, out| p.lease_leases(out, &resp))
}

/// `keep-alive [--once] <id>`: renews every TTL/3 and prints each answer
/// until the lease is gone (TTL 0), then, in simple output, says so and
/// exits 0. A broken session is re-opened while the lease could still be
/// alive, as clientv3 does.
async fn keep_alive(ctx: &Ctx, args: &LeaseKeepAliveArgs) -> Result<(), CtlError> {
    let id = request::single_lease_id(
        &args.args,
        "lease keep-alive command needs lease ID as argument",
    )?;
    let client = ctx.connect(EXIT_BAD_CONNECTION).await?;
    if args.once {
        return keep_alive_once(ctx, &client, id).await;
    }
    // Until the first answer, the lease's remaining life is unknown; give
    // the server one command timeout to answer.
    let mut alive_until = Instant::now() + ctx.global.command_timeout;
    'session: while Instant::now() < alive_until {
        let (mut sender, mut replies) = match client.lease_keep_alive(id).await {
            Ok(session) => session,
            Err(_) => {
                tokio::time::sleep(KEEP_ALIVE_RETRY).await;
                continue;
            }
        };
        loop {
            match replies.message().await {
                Ok(Some(reply)) if reply.ttl > 0 => {
                    let ttl = Duration::from_secs(reply.ttl.unsigned_abs());
                    alive_until = Instant::now() + ttl;
                    ctx.emit(|p, out| p.lease_keep_alive(out, &reply))?;
                    tokio::time::sleep((ttl / 3).max(KEEP_ALIVE_INTERVAL_MIN)).await;
                    if sender.keep_alive().await.is_err() {
                        continue 'session;
                    }
                }
                // TTL <= 0: expired or revoked. The server ending the
                // session means the same.
                Ok(_) => break 'session,
                Err(_) => {
                    tokio::time::sleep(KEEP_ALIVE_RETRY).await;
                    continue 'session;
                }
            }
        }
    }
    if ctx.printer.format == Format::Simple {
        write_stdout(format!("lease {} expired or revoked.\n", format_lease_id(id)).as_bytes())?;
    }
    Ok(())
}

async fn keep_alive_once(ctx: &Ctx, client: &Client, id: i64) -> Result<(), CtlError> {
    let once = async {
        let (sender, mut replies) = client.lease_keep_alive(id).await?;
        let reply = replies.message().await;
        // Best effort: the session is over either way.
        let _ = sender.close();
        reply
    };
    let reply = ctx.call(EXIT_BAD_CONNECTION, once).await?;
    match reply {
        Some(reply) if reply.ttl > 0 => ctx.emit(|p, out| p.lease_keep_alive(out, &reply)),
        _ => Err(CtlError::new(EXIT_BAD_CONNECTION, LEASE_NOT_FOUND)),
    }
}
