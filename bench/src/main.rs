//! `etcq-bench`: a load generator in the spirit of etcd's
//! `tools/benchmark`, driving etcq (native etcq/1 over QUIC) or any etcd v3
//! server (plaintext gRPC) with the same workloads, so one script can put
//! the two side by side (`bench/compare.sh`, docs/benchmarks.md).
//!
//! Code map: `cli` (flags), `target` (the one seam over both protocols;
//! `grpc` and `etcq` are its two ends), `keys` (what is written), `workload`
//! (unary workloads as request generators), `engine` (the closed-loop load
//! and its measurements), `watch` (the watch workloads), `report` (text and
//! JSON output), `history` (`--record-history`).
//!
//! Benchmarks are programs, never timed tests: the unit tests here check the
//! bookkeeping, not the speed.

mod cli;
mod engine;
mod etcq;
#[cfg(test)]
mod fake;
mod grpc;
mod history;
mod keys;
mod report;
mod target;
mod watch;
mod workload;

use std::{process::ExitCode, time::Duration};

use anyhow::{Context, Result};
use clap::Parser;

use crate::{
    cli::{Cli, Workload},
    engine::LoadPlan,
    history::Clock,
    report::{Labels, Measured},
    watch::WatchPlan,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = cli
        .global
        .threads
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("etcq-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("etcq-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The main result of a run and how to label it.
struct RunResult {
    main: Measured,
    /// Requests asked for, or events expected.
    total: u64,
    title: &'static str,
    unit: &'static str,
    /// Reports of earlier phases, printed before the main one.
    preamble: String,
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let global = &cli.global;
    let clock = Clock::start();
    let seed = global.seed.unwrap_or_else(rand::random);
    let request_timeout = Duration::from_secs(global.request_timeout_secs.max(1));
    let conns = target::connect_all(
        global.target,
        &global.endpoints,
        global.conns,
        global.cacert.as_deref(),
        global.etcq_stream_reuse,
    )
    .await?;
    let (sink, history_file) = match &global.record_history {
        Some(path) => {
            let (sink, file) = history::create(path)?;
            (Some(sink), Some(file))
        }
        None => (None, None),
    };
    eprintln!(
        "etcq-bench: {} against {} ({}), {} clients over {} conns",
        cli.workload.name(),
        global.target.name(),
        global.endpoints.join(","),
        global.clients,
        global.conns,
    );

    let unary = |w: workload::UnaryWorkload| {
        let plan = LoadPlan {
            clients: global.clients,
            total: w.total,
            rate_per_sec: w.rate_per_sec,
            request_timeout,
            seed,
            client_id_base: 0,
        };
        (plan, w.source)
    };
    let result = match &cli.workload {
        Workload::Put(args) => {
            let (plan, source) = unary(workload::put(args, seed)?);
            unary_result(
                engine::run(&conns, plan, source, clock, sink).await?,
                plan.total,
            )
        }
        Workload::Range(args) => {
            let (plan, source) = unary(workload::range(args)?);
            unary_result(
                engine::run(&conns, plan, source, clock, sink).await?,
                plan.total,
            )
        }
        Workload::TxnPut(args) => {
            let (plan, source) = unary(workload::txn_put(args, seed)?);
            unary_result(
                engine::run(&conns, plan, source, clock, sink).await?,
                plan.total,
            )
        }
        Workload::Watch(args) => {
            let plan = WatchPlan {
                streams: args.streams,
                watchers_per_stream: args.watch_per_stream,
                key_size: args.key_size,
                key_space_size: args.key_space_size,
                val_size: args.val_size,
                put_total: args.put_total,
                put_rate_per_sec: args.put_rate,
                putters: global.clients,
                prev_kv: args.prevkv,
                drain_timeout: Duration::from_secs(args.drain_timeout_secs),
                request_timeout,
                seed,
            };
            watch_result(&conns, plan, clock, sink, global.clients as u64).await?
        }
        Workload::WatchLatency(args) => {
            let plan = WatchPlan {
                streams: args.streams,
                watchers_per_stream: args.watchers_per_stream,
                key_size: args.key_size,
                key_space_size: 1,
                val_size: args.val_size,
                put_total: args.put_total,
                put_rate_per_sec: args.put_rate,
                putters: 1,
                prev_kv: args.prevkv,
                drain_timeout: Duration::from_secs(args.drain_timeout_secs),
                request_timeout,
                seed,
            };
            watch_result(&conns, plan, clock, sink, 1).await?
        }
    };

    let text = format!(
        "{}{}",
        result.preamble,
        result.main.render_text(result.title, result.unit)
    );
    let labels = Labels {
        target: global.target.name(),
        workload: cli.workload.name(),
        clients: global.clients,
        conns: global.conns,
    };
    if global.json {
        eprint!("{text}");
        let line = result.main.json_line(&labels, result.total);
        println!(
            "{}",
            serde_json::to_string(&line).context("serialize the JSON line")?
        );
    } else {
        print!("{text}");
    }
    if let (Some(file), Some(path)) = (history_file, &global.record_history) {
        let records = file.finish()?;
        eprintln!("history: {records} records in {}", path.display());
    }
    let all_failed = result.total > 0 && result.main.ok() == 0;
    Ok(if all_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn unary_result(main: Measured, total: u64) -> RunResult {
    RunResult {
        main,
        total,
        title: "Summary",
        unit: "Requests",
        preamble: String::new(),
    }
}

async fn watch_result(
    conns: &[std::sync::Arc<target::Conn>],
    plan: WatchPlan,
    clock: Clock,
    sink: Option<history::HistorySink>,
    stream_client_base: u64,
) -> Result<RunResult> {
    let outcome = watch::run(conns, plan, clock, sink, stream_client_base).await?;
    let preamble = format!(
        "{}{}",
        outcome
            .creation
            .render_text("Watch creation summary", "Watchers"),
        outcome.puts.render_text("Put summary", "Requests"),
    );
    Ok(RunResult {
        main: outcome.events,
        total: outcome.events_expected,
        title: "Watch events received summary (put->event latency)",
        unit: "Events",
        preamble,
    })
}
