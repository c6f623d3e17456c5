//! The edge: connecting, calling, reading stdin, writing stdout. Each
//! command builds its request with `request`/`txn` (pure), makes the call
//! under `--command-timeout`, and hands the response to `output` (pure).
//! Exit codes and messages follow etcdctl's for the same failure.

mod auth;
mod endpoint;
mod kv;
mod lease;
mod watch;

use std::{future::Future, io::Write, time::Duration};

use etcq_net::{
    client::{Client, ClientError, ClientOptions},
    method::Method,
    pb::etcdserverpb::{AuthenticateRequest, AuthenticateResponse},
    tls::ClientTls,
};

use crate::{
    cli::{Cli, Command, GlobalArgs},
    error::{CtlError, DEADLINE_EXCEEDED, EXIT_BAD_ARGS, EXIT_BAD_CONNECTION},
    output::{Format, Printer},
};

/// What every command needs: the global flags and the printer they select.
pub(crate) struct Ctx {
    global: GlobalArgs,
    printer: Printer,
}

impl Ctx {
    /// Trust and identity from `--cacert`/`--cert`/`--key`; without
    /// `--cacert`, the per-user trust directory where a local etcq node
    /// publishes its CA.
    fn tls(&self) -> Result<ClientTls, CtlError> {
        let g = &self.global;
        let tls = match &g.cacert {
            Some(ca) => ClientTls::from_files(ca, g.cert.as_deref(), g.key.as_deref()),
            None => ClientTls::default_trust(None).and_then(|tls| match (&g.cert, &g.key) {
                (Some(cert), Some(key)) => tls.with_client_identity(cert, key),
                (None, None) => Ok(tls),
                _ => Err(etcq_net::tls::TlsError::Config(
                    "a client certificate needs both --cert and --key".into(),
                )),
            }),
        };
        // etcdctl reports a bad TLS configuration as bad arguments.
        tls.map_err(|e| CtlError::new(EXIT_BAD_ARGS, e.to_string()))
    }

    /// Connects to the first reachable of the `--endpoints`; failing is exit
    /// `code`. etcdctl 3.4 dials lazily, so an unreachable cluster surfaces
    /// as the failure of the command's first call: `code` is the exit code
    /// that call's failure would have (1 for most commands).
    async fn connect(&self, code: i32) -> Result<Client, CtlError> {
        self.connect_to(&self.global.endpoints, code).await
    }

    /// Connects to the first reachable of `endpoints` within
    /// `--dial-timeout`; failing is exit `code` (see [`Ctx::connect`]). A
    /// bad TLS configuration is exit 128, as in etcdctl.
    async fn connect_to(&self, endpoints: &[String], code: i32) -> Result<Client, CtlError> {
        let tls = self.tls()?;
        let dial = self.global.dial_timeout;
        let mut options = ClientOptions::default();
        if !dial.is_zero() {
            // Endpoints are tried in order: share the dial budget so one
            // black-holed endpoint cannot use it all.
            let tries = u32::try_from(endpoints.len().max(1)).unwrap_or(u32::MAX);
            options.connect_timeout = dial / tries;
        }
        let connecting = Client::connect_with(endpoints, tls, options);
        let result = if dial.is_zero() {
            connecting.await
        } else {
            match tokio::time::timeout(dial, connecting).await {
                Ok(result) => result,
                Err(_) => return Err(CtlError::new(code, DEADLINE_EXCEEDED)),
            }
        };
        // Our text says which endpoint failed and why, where etcdctl only
        // says `context deadline exceeded`.
        let client = result.map_err(|e| CtlError::client(code, &e))?;
        self.authenticate(&client).await?;
        Ok(client)
    }

    /// With `--user`, authenticates the connection (etcq/1 carries the user
    /// per connection). As etcdctl: a refusal is exit 2, and "authentication
    /// is not enabled" is no failure. etcdctl prompts for a missing
    /// password; etcqctl asks for it on the command line instead.
    async fn authenticate(&self, client: &Client) -> Result<(), CtlError> {
        let g = &self.global;
        let Some(user) = &g.user else {
            return Ok(());
        };
        let (name, password) = match (user.split_once(':'), &g.password) {
            (Some(_), Some(_)) => {
                return Err(CtlError::bad_args(
                    "Password should be specified as a separate flag or part of user flag",
                ))
            }
            (Some((name, password)), None) => (name, password),
            (None, Some(password)) => (user.as_str(), password.as_str()),
            (None, None) => return Err(CtlError::bad_args(
                "etcqctl does not prompt for passwords: give --user name:password or --password",
            )),
        };
        let req = AuthenticateRequest {
            name: name.to_string(),
            password: password.to_string(),
        };
        let call = client.call::<_, AuthenticateResponse>(Method::Authenticate, &req);
        match timed(self.global.command_timeout, call).await {
            Some(Ok(_)) => Ok(()),
            Some(Err(ClientError::Status { message, .. }))
                if message == "etcdserver: authentication is not enabled" =>
            {
                Ok(())
            }
            Some(Err(e)) => Err(CtlError::client(EXIT_BAD_CONNECTION, &e)),
            None => Err(CtlError::new(EXIT_BAD_CONNECTION, DEADLINE_EXCEEDED)),
        }
    }

    /// Runs one call under `--command-timeout`; a failure becomes exit
    /// `code` with the server's text (or `context deadline exceeded`).
    async fn call<T>(
        &self,
        code: i32,
        call: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, CtlError> {
        self.call_with(call, |e| CtlError::client(code, &e), code)
            .await
    }

    /// Like [`Ctx::call`], with the error text shaped by `wrap`.
    async fn call_with<T>(
        &self,
        call: impl Future<Output = Result<T, ClientError>>,
        wrap: impl FnOnce(ClientError) -> CtlError,
        timeout_code: i32,
    ) -> Result<T, CtlError> {
        match timed(self.global.command_timeout, call).await {
            Some(result) => result.map_err(wrap),
            None => Err(CtlError::new(timeout_code, DEADLINE_EXCEEDED)),
        }
    }

    /// Prints through `print` into a buffer, then writes it to stdout in
    /// one piece and flushes (watch and keep-alive output must not linger).
    fn emit(
        &self,
        print: impl FnOnce(&Printer, &mut Vec<u8>) -> Result<(), CtlError>,
    ) -> Result<(), CtlError> {
        let mut buf = Vec::new();
        print(&self.printer, &mut buf)?;
        write_stdout(&buf)
    }
}

/// `future` bounded by `limit`; `None` if it ran out.
async fn timed<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    tokio::time::timeout(limit, future).await.ok()
}

/// Writes `bytes` to stdout and flushes.
fn write_stdout(bytes: &[u8]) -> Result<(), CtlError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CtlError> {
    let format = Format::parse(&cli.global.write_out)?;
    let ctx = Ctx {
        printer: Printer::new(format, cli.global.hex),
        global: cli.global,
    };
    match cli.command {
        Command::Put(args) => kv::put(&ctx, &args).await,
        Command::Get(args) => kv::get(&ctx, &args).await,
        Command::Del(args) => kv::del(&ctx, &args).await,
        Command::Txn(args) => kv::txn(&ctx, &args).await,
        Command::Compaction(args) => kv::compaction(&ctx, &args).await,
        Command::Watch(args) => watch::watch(&ctx, &args).await,
        Command::Lease(command) => lease::run(&ctx, command).await,
        Command::Endpoint(args) => endpoint::run(&ctx, &args).await,
        Command::Auth(command) => auth::run_auth(&ctx, command).await,
        Command::User(command) => auth::run_user(&ctx, command).await,
        Command::Role(command) => auth::run_role(&ctx, command).await,
        Command::Version => write_stdout(
            format!(
                "etcqctl version: {}\nAPI version: 3.4\n",
                env!("CARGO_PKG_VERSION")
            )
            .as_bytes(),
        ),
    }
}
