//! `endpoint status|health [--cluster]`: one connection per endpoint, so
//! each answers for itself.

use std::time::Instant;

use etcq_net::{
    pb::etcdserverpb::{AlarmRequest, AlarmType, RangeRequest},
    Code,
};
use futures::future::join_all;

use super::{timed, Ctx};
use crate::{
    cli::{EndpointArgs, EndpointCommand},
    error::{client_message, CtlError, DEADLINE_EXCEEDED, EXIT_ERROR},
    golang,
    output::{EpHealth, EpStatus},
};

/// The key `endpoint health` reads: any key will do, the point is a
/// linearizable read going through consensus.
const HEALTH_KEY: &[u8] = b"health";

pub(super) async fn run(ctx: &Ctx, args: &EndpointArgs) -> Result<(), CtlError> {
    let endpoints = endpoints(ctx, args.cluster).await?;
    match args.command {
        EndpointCommand::Status => status(ctx, &endpoints).await,
        EndpointCommand::Health => health(ctx, &endpoints).await,
    }
}

/// `--endpoints`, or with `--cluster` every member's client URLs.
async fn endpoints(ctx: &Ctx, cluster: bool) -> Result<Vec<String>, CtlError> {
    if !cluster {
        return Ok(ctx.global.endpoints.clone());
    }
    let client = ctx.connect(EXIT_ERROR).await?;
    let members = ctx
        .call_with(
            client.member_list(),
            |e| {
                CtlError::new(
                    EXIT_ERROR,
                    format!(
                        "failed to fetch endpoints from etcd cluster member list: {}",
                        client_message(&e)
                    ),
                )
            },
            EXIT_ERROR,
        )
        .await?;
    Ok(members
        .members
        .into_iter()
        .flat_map(|m| m.client_ur_ls)
        .collect())
}

/// Prints what every endpoint answers; endpoints that fail are reported on
/// stderr and make the exit code 1 (no `Error:` line, as etcdctl).
async fn status(ctx: &Ctx, endpoints: &[String]) -> Result<(), CtlError> {
    let answers = join_all(endpoints.iter().map(|ep| async move {
        let client = ctx.connect_to(std::slice::from_ref(ep), EXIT_ERROR).await?;
        ctx.call(EXIT_ERROR, client.status()).await
    }))
    .await;
    let mut list = Vec::new();
    let mut failed = false;
    for (ep, answer) in endpoints.iter().zip(answers) {
        match answer {
            Ok(status) => list.push(EpStatus {
                endpoint: ep.clone(),
                status,
            }),
            Err(e) => {
                failed = true;
                eprintln!("Failed to get the status of endpoint {ep} ({})", e.message);
            }
        }
    }
    ctx.emit(|p, out| p.endpoint_status(out, &list))?;
    if failed {
        return Err(CtlError::new(EXIT_ERROR, ""));
    }
    Ok(())
}

/// Checks every endpoint with a linearizable read and its alarm list;
/// prints the verdicts in the order given, then fails with `unhealthy
/// cluster` if any is unhealthy.
async fn health(ctx: &Ctx, endpoints: &[String]) -> Result<(), CtlError> {
    let list = join_all(endpoints.iter().map(|ep| check_health(ctx, ep))).await;
    let mut out = Vec::new();
    let mut err = Vec::new();
    ctx.printer.endpoint_health(&mut out, &mut err, &list)?;
    super::write_stdout(&out)?;
    if !err.is_empty() {
        use std::io::Write;
        std::io::stderr().write_all(&err)?;
    }
    if list.iter().any(|h| !h.error.is_empty()) {
        return Err(CtlError::new(EXIT_ERROR, "unhealthy cluster"));
    }
    Ok(())
}

async fn check_health(ctx: &Ctx, ep: &str) -> EpHealth {
    let mut verdict = EpHealth {
        endpoint: ep.to_string(),
        health: false,
        took: String::new(),
        error: String::new(),
    };
    let client = match ctx.connect_to(&[ep.to_string()], EXIT_ERROR).await {
        Ok(client) => client,
        Err(e) => {
            verdict.error = e.message;
            return verdict;
        }
    };
    let started = Instant::now();
    let read = timed(
        ctx.global.command_timeout,
        client.range(RangeRequest {
            key: HEALTH_KEY.into(),
            ..Default::default()
        }),
    )
    .await;
    verdict.took = golang::format_duration(started.elapsed());
    match read {
        // Permission denied still went through consensus: healthy.
        Some(Ok(_)) => verdict.health = true,
        Some(Err(e)) if e.code() == Some(Code::PermissionDenied) => verdict.health = true,
        Some(Err(e)) => verdict.error = client_message(&e),
        None => verdict.error = DEADLINE_EXCEEDED.to_string(),
    }
    if !verdict.health {
        return verdict;
    }
    let alarms = timed(
        ctx.global.command_timeout,
        client.alarm(AlarmRequest::default()),
    )
    .await;
    match alarms {
        Some(Ok(resp)) if !resp.alarms.is_empty() => {
            verdict.health = false;
            verdict.error =
                resp.alarms
                    .iter()
                    .fold(String::from("Active Alarm(s): "), |mut text, alarm| {
                        text.push_str(match AlarmType::try_from(alarm.alarm) {
                            Ok(AlarmType::Nospace) => "NOSPACE ",
                            Ok(AlarmType::Corrupt) => "CORRUPT ",
                            _ => "UNKNOWN ",
                        });
                        text
                    });
        }
        Some(Ok(_)) => {}
        // A server without the alarm API has no alarms to raise.
        Some(Err(e)) if e.code() == Some(Code::Unimplemented) => {}
        Some(Err(_)) | None => {
            verdict.health = false;
            verdict.error = "Unable to fetch the alarm list".to_string();
        }
    }
    verdict
}
