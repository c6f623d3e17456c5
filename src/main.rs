//! etcq: a distributed, strongly consistent key-value store speaking etcd's v3
//! API, built thread-per-core on io_uring.

use clap::Parser;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ETCQ_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = etcq::config::Config::parse();
    let outcome = match &config.command {
        Some(command) => etcq::offline::run(command),
        None => etcq::runtime::run(config),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("etcq stopped: {e:#}");
            eprintln!("etcq: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
