//! `put`, `get`, `del`, `txn`, `compaction`.

use std::io::{BufReader, Read, Write};

use etcq_net::{
    pb::etcdserverpb::{CompactionRequest, CompactionResponse},
    Method,
};

use super::{write_stdout, Ctx};
use crate::{
    cli::{CompactionArgs, DelArgs, GetArgs, PutArgs, TxnArgs},
    error::{CtlError, EXIT_ERROR},
    request, txn,
};

/// `put key [value]`: the value is read from stdin (all of it, verbatim)
/// when not given.
pub(super) async fn put(ctx: &Ctx, args: &PutArgs) -> Result<(), CtlError> {
    let req = request::put_request(args, || {
        let mut value = Vec::new();
        std::io::stdin().read_to_end(&mut value).ok().map(|_| value)
    })?;
    let client = ctx.connect(EXIT_ERROR).await?;
    let resp = ctx.call(EXIT_ERROR, client.put_request(req)).await?;
    ctx.emit(|p, out| p.put(out, &resp))
}

/// `get key [range_end]`.
pub(super) async fn get(ctx: &Ctx, args: &GetArgs) -> Result<(), CtlError> {
    let req = request::range_request(args)?;
    let client = ctx.connect(EXIT_ERROR).await?;
    let resp = ctx.call(EXIT_ERROR, client.range(req)).await?;
    ctx.emit(|p, out| p.get(out, &resp, args.count_only, args.print_value_only))
}

/// `del key [range_end]`.
pub(super) async fn del(ctx: &Ctx, args: &DelArgs) -> Result<(), CtlError> {
    let req = request::delete_request(args)?;
    let client = ctx.connect(EXIT_ERROR).await?;
    let resp = ctx.call(EXIT_ERROR, client.delete_range(req)).await?;
    ctx.emit(|p, out| p.del(out, &resp))
}

/// `txn [-i]`: connects first (as etcdctl does, so an interactive user
/// learns of an unreachable server before typing), then reads the
/// transaction from stdin.
pub(super) async fn txn(ctx: &Ctx, args: &TxnArgs) -> Result<(), CtlError> {
    if !args.args.is_empty() {
        return Err(CtlError::bad_args("txn command does not accept argument"));
    }
    let client = ctx.connect(EXIT_ERROR).await?;
    let req = {
        let mut input = BufReader::new(std::io::stdin().lock());
        let mut stdout = std::io::stdout();
        let prompts: Option<&mut dyn Write> = if args.interactive {
            Some(&mut stdout)
        } else {
            None
        };
        txn::read_txn(&mut input, prompts)?
    };
    let resp = ctx.call(EXIT_ERROR, client.txn(req)).await?;
    ctx.emit(|p, out| p.txn(out, &resp))
}

/// `compaction [--physical] <revision>`: prints the same line whatever the
/// output format, as etcdctl does.
pub(super) async fn compaction(ctx: &Ctx, args: &CompactionArgs) -> Result<(), CtlError> {
    let revision = request::compaction_revision(&args.args)?;
    let client = ctx.connect(EXIT_ERROR).await?;
    let req = CompactionRequest {
        revision,
        physical: args.physical,
    };
    let _: CompactionResponse = ctx
        .call(EXIT_ERROR, client.call(Method::Compact, &req))
        .await?;
    write_stdout(format!("compacted revision {revision}\n").as_bytes())
}
