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
    match etcq::runtime::run(config) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("etcq stopped: {e:#}");
            eprintln!("etcq: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
