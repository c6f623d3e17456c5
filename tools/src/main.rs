//! The `etcqctl` binary: parse the command line, run the command, turn
//! the outcome into etcdctl's output and exit status. See the library
//! (`lib.rs`) for the code map.

use std::process::ExitCode;

use clap::Parser;

use etcqctl::{
    cli, commands,
    error::{CtlError, EXIT_ERROR, EXIT_SUCCESS},
};

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout with status 0; usage errors to
            // stderr with status 1, as cobra makes etcdctl do.
            let _ = err.print();
            return exit_code(if err.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_SUCCESS
            });
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&CtlError::new(EXIT_ERROR, e.to_string())),
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => exit_code(EXIT_SUCCESS),
        Err(err) => fail(&err),
    }
}

/// Reports `err` as etcdctl does (`Error: ...` on stderr; nothing when the
/// command already explained itself) and turns it into the exit status.
fn fail(err: &CtlError) -> ExitCode {
    if !err.message.is_empty() {
        eprintln!("Error: {}", err.message);
    }
    exit_code(err.code)
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
