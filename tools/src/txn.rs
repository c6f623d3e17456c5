//! The `txn` grammar, as etcdctl reads it from stdin: three sections, each
//! ended by an empty line.
//!
//! ```text
//! mod("key1") > "0"          <- compares: target("key") op "value"
//! value("key2") = "v"
//!                            <- end of compares
//! put key1 "overwrote-key1"  <- success requests: put/get/del lines with
//! get key2 --prefix             the standalone commands' flags
//!                            <- end of success requests
//! put key1 "created-key1"    <- failure requests
//!                            <- end of failure requests
//! ```
//!
//! Targets: `ver`/`version`, `c`/`create`, `m`/`mod` (decimal),
//! `val`/`value` (bytes), `lease` (hex ID). Operators: `=`, `!=`, `>`, `<`.
//! Quoted strings are Go strings (`"a\x00b"`, `` `raw` ``); request lines
//! are split like etcdctl's `argify` (double quotes with escapes, single
//! quotes verbatim, else whitespace).
//!
//! Pure: reads from any `BufRead`, writes prompts to any `Write`. Input
//! that ends before the third empty line is an error (`EOF`), as in
//! etcdctl, so a truncated script never commits half a transaction.

use std::{
    ffi::OsString,
    io::{BufRead, Write},
    os::unix::ffi::OsStringExt,
};

use bytes::Bytes;
use clap::Parser;
use etcq_net::pb::etcdserverpb::{
    compare::{CompareResult, CompareTarget, TargetUnion},
    request_op::Request,
    Compare, RequestOp, TxnRequest,
};

use crate::{
    cli::{TxnOp, TxnOpLine},
    error::CtlError,
    golang, request,
};

/// The interactive prompts, etcdctl's words.
pub const PROMPT_COMPARES: &str = "compares:";
/// See [`PROMPT_COMPARES`].
pub const PROMPT_SUCCESS: &str = "success requests (get, put, del):";
/// See [`PROMPT_COMPARES`].
pub const PROMPT_FAILURE: &str = "failure requests (get, put, del):";

/// Reads a whole transaction from `input`; with `prompts`, writes etcdctl's
/// interactive prompt before each section.
pub fn read_txn(
    input: &mut dyn BufRead,
    mut prompts: Option<&mut dyn Write>,
) -> Result<TxnRequest, CtlError> {
    let mut prompt = |text: &str| -> Result<(), CtlError> {
        if let Some(out) = prompts.as_mut() {
            writeln!(out, "{text}")?;
            out.flush()?;
        }
        Ok(())
    };
    prompt(PROMPT_COMPARES)?;
    let compare = read_section(input, parse_compare)?;
    prompt(PROMPT_SUCCESS)?;
    let success = read_section(input, parse_request_op)?;
    prompt(PROMPT_FAILURE)?;
    let failure = read_section(input, parse_request_op)?;
    Ok(TxnRequest {
        compare,
        success,
        failure,
    })
}

/// Lines up to the next empty one, each parsed with `parse`.
fn read_section<T>(
    input: &mut dyn BufRead,
    parse: impl Fn(&str) -> Result<T, CtlError>,
) -> Result<Vec<T>, CtlError> {
    let mut items = Vec::new();
    loop {
        let mut raw = Vec::new();
        input
            .read_until(b'\n', &mut raw)
            .map_err(|e| CtlError::invalid_input(e.to_string()))?;
        // Go's ReadString: a last line without its newline is an error too.
        if raw.last() != Some(&b'\n') {
            return Err(CtlError::invalid_input("EOF"));
        }
        let line = String::from_utf8(raw).map_err(|_| {
            CtlError::invalid_input(
                "txn input is not valid UTF-8 (use \\x escapes in quoted strings)",
            )
        })?;
        let line = line.trim();
        if line.is_empty() {
            return Ok(items);
        }
        items.push(parse(line)?);
    }
}

/// One compare line: `target("key") op "value"`.
pub fn parse_compare(line: &str) -> Result<Compare, CtlError> {
    let Some((target, rest)) = line.split_once('(') else {
        return Err(CtlError::invalid_input(format!(
            "malformed comparison: {line}"
        )));
    };
    let (key, op, value) = match scan_compare(rest) {
        Ok(parts) => parts,
        Err((key, op, value)) => {
            return Err(CtlError::invalid_input(format!(
                "malformed comparison: {line}; got {target}({}) {op} {}",
                golang::quote(&key),
                golang::quote(&value)
            )))
        }
    };
    let result = match op.as_str() {
        "=" => CompareResult::Equal,
        "!=" => CompareResult::NotEqual,
        ">" => CompareResult::Greater,
        "<" => CompareResult::Less,
        // clientv3.Compare panics here; refusing the input is kinder.
        other => {
            return Err(CtlError::invalid_input(format!(
                "malformed comparison: {line} (unknown operator {other})"
            )))
        }
    };
    let value_str = String::from_utf8_lossy(&value);
    let number = |base: u32| {
        golang::parse_int(&value_str, base).map_err(|e| {
            CtlError::invalid_input(format!("invalid txn compare request: {line} ({e})"))
        })
    };
    let (target, union) = match target {
        "ver" | "version" => (CompareTarget::Version, TargetUnion::Version(number(10)?)),
        "c" | "create" => (
            CompareTarget::Create,
            TargetUnion::CreateRevision(number(10)?),
        ),
        "m" | "mod" => (CompareTarget::Mod, TargetUnion::ModRevision(number(10)?)),
        "val" | "value" => (CompareTarget::Value, TargetUnion::Value(Bytes::from(value))),
        "lease" => (CompareTarget::Lease, TargetUnion::Lease(number(16)?)),
        other => {
            return Err(CtlError::invalid_input(format!(
                "malformed comparison: {line} (unknown target {other})"
            )))
        }
    };
    Ok(Compare {
        result: result as i32,
        target: target as i32,
        key: Bytes::from(key),
        range_end: Bytes::new(),
        target_union: Some(union),
    })
}

type ComparePieces = (Vec<u8>, String, Vec<u8>);

/// `fmt.Sscanf(rest, "%q) %s %q", &key, &op, &val)`: all three pieces, or
/// what was scanned before the failure.
fn scan_compare(rest: &str) -> Result<ComparePieces, ComparePieces> {
    let (mut key, mut op, mut value) = (Vec::new(), String::new(), Vec::new());
    let Ok((k, rest)) = golang::scan_quoted(rest) else {
        return Err((key, op, value));
    };
    key = k;
    let Some(rest) = rest.strip_prefix(')') else {
        return Err((key, op, value));
    };
    let rest = rest.trim_start();
    let op_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if op_len == 0 {
        return Err((key, op, value));
    }
    op = rest[..op_len].to_string();
    match golang::scan_quoted(&rest[op_len..]) {
        // Like Sscanf, anything after the value is ignored.
        Ok((v, _)) => {
            value = v;
            Ok((key, op, value))
        }
        Err(_) => Err((key, op, value)),
    }
}

/// One request line: `put k v`, `get k --prefix`, `del k`, ...
pub fn parse_request_op(line: &str) -> Result<RequestOp, CtlError> {
    let args = argify(line)?;
    if args.len() < 2 {
        // (sic: etcdctl says "compare" here)
        return Err(CtlError::invalid_input(format!(
            "invalid txn compare request: {line}"
        )));
    }
    let parsed = TxnOpLine::try_parse_from(args)
        .map_err(|_| CtlError::invalid_input(format!("invalid txn request: {line}")))?;
    let request = match parsed.op {
        // Inside a txn stdin is the txn itself: a put needs its value inline.
        TxnOp::Put(put) => Request::RequestPut(request::put_request(&put, || None)?),
        TxnOp::Get(get) => Request::RequestRange(request::range_request(&get)?),
        TxnOp::Del(del) => Request::RequestDeleteRange(request::delete_request(&del)?),
    };
    Ok(RequestOp {
        request: Some(request),
    })
}

/// Splits a request line into words like etcdctl's `argify`: a
/// double-quoted Go string (escapes decoded), a single-quoted string
/// (verbatim), or a run of non-space characters not starting with a quote.
/// An unterminated quote is skipped, as the regular expression does.
pub fn argify(line: &str) -> Result<Vec<OsString>, CtlError> {
    let bytes = line.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &line[i..];
        let c = bytes[i];
        if c.is_ascii_whitespace() || !line.is_char_boundary(i) {
            i += 1;
            continue;
        }
        match c {
            b'"' => match quoted_len(rest) {
                Some(len) => {
                    let word =
                        golang::unquote(&rest[1..len - 1]).map_err(CtlError::invalid_input)?;
                    words.push(OsString::from_vec(word));
                    i += len;
                }
                None => i += 1,
            },
            b'\'' => match rest[1..].find('\'') {
                Some(end) => {
                    words.push(OsString::from(&rest[1..1 + end]));
                    i += end + 2;
                }
                None => i += 1,
            },
            _ => {
                // RE2's `\S`: anything but ASCII whitespace.
                let len = rest
                    .find(|c: char| c.is_ascii_whitespace())
                    .unwrap_or(rest.len());
                words.push(OsString::from(&rest[..len]));
                i += len;
            }
        }
    }
    Ok(words)
}

/// Length of the double-quoted string at the start of `s`, quotes included.
fn quoted_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{EXIT_BAD_ARGS, EXIT_INVALID_INPUT};
    use etcq_net::pb::etcdserverpb::{DeleteRangeRequest, PutRequest, RangeRequest};

    fn words(line: &str) -> Vec<String> {
        argify(line)
            .expect("argify")
            .into_iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect()
    }

    fn compare(line: &str) -> Compare {
        parse_compare(line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn op(line: &str) -> Request {
        parse_request_op(line)
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .request
            .expect("a request")
    }

    #[test]
    fn argify_splits_like_etcdctl() {
        assert_eq!(words("put key1 value1"), ["put", "key1", "value1"]);
        assert_eq!(
            words(r#"put key1 "overwrote key1""#),
            ["put", "key1", "overwrote key1"]
        );
        assert_eq!(words(r#"put k "a\"b\n""#), ["put", "k", "a\"b\n"]);
        assert_eq!(
            words("put k 'single \\n quoted'"),
            ["put", "k", "single \\n quoted"]
        );
        assert_eq!(words("  get   k  --prefix "), ["get", "k", "--prefix"]);
        assert_eq!(words("put k v\"x\""), ["put", "k", "v\"x\""]);
    }

    #[test]
    fn compares_of_every_target() {
        let c = compare(r#"mod("key1") > "0""#);
        assert_eq!(c.key, Bytes::from_static(b"key1"));
        assert_eq!(c.result, CompareResult::Greater as i32);
        assert_eq!(c.target, CompareTarget::Mod as i32);
        assert_eq!(c.target_union, Some(TargetUnion::ModRevision(0)));

        let c = compare(r#"value("key1") = "v 1""#);
        assert_eq!(c.target, CompareTarget::Value as i32);
        assert_eq!(
            c.target_union,
            Some(TargetUnion::Value(Bytes::from_static(b"v 1")))
        );

        let c = compare(r#"ver("k") != "3""#);
        assert_eq!(
            (c.target, c.result),
            (
                CompareTarget::Version as i32,
                CompareResult::NotEqual as i32
            )
        );
        assert_eq!(c.target_union, Some(TargetUnion::Version(3)));

        let c = compare(r#"c("k") < "10""#);
        assert_eq!(c.target_union, Some(TargetUnion::CreateRevision(10)));
        let c = compare(r#"create("k") = "0""#);
        assert_eq!(c.target, CompareTarget::Create as i32);

        let c = compare(r#"lease("k") = "694d71ddacfda227""#);
        assert_eq!(c.target, CompareTarget::Lease as i32);
        assert_eq!(c.target_union, Some(TargetUnion::Lease(0x694d71ddacfda227)));

        let c = compare(r#"val("a\x00b") = "\xff""#);
        assert_eq!(c.key, Bytes::from_static(b"a\x00b"));
        assert_eq!(
            c.target_union,
            Some(TargetUnion::Value(Bytes::from_static(b"\xff")))
        );
    }

    #[test]
    fn malformed_compares_are_invalid_input() {
        let err = parse_compare("mod key1 > 0").expect_err("no paren");
        assert_eq!(
            (err.code, err.message.as_str()),
            (EXIT_INVALID_INPUT, "malformed comparison: mod key1 > 0")
        );
        let err = parse_compare(r#"mod("key1") > 0"#).expect_err("unquoted value");
        assert_eq!(
            err.message,
            r#"malformed comparison: mod("key1") > 0; got mod("key1") > """#
        );
        let err = parse_compare(r#"size("k") = "1""#).expect_err("unknown target");
        assert_eq!(
            err.message,
            r#"malformed comparison: size("k") = "1" (unknown target size)"#
        );
        let err = parse_compare(r#"mod("k") > "x""#).expect_err("not a number");
        assert_eq!(
            err.message,
            r#"invalid txn compare request: mod("k") > "x" (strconv.ParseInt: parsing "x": invalid syntax)"#
        );
        assert_eq!(
            parse_compare(r#"mod("k") >= "1""#).expect_err("op").code,
            EXIT_INVALID_INPUT
        );
    }

    #[test]
    fn request_lines_take_the_commands_flags() {
        match op(r#"put key1 "overwrote-key1" --prev-kv"#) {
            Request::RequestPut(PutRequest {
                key,
                value,
                prev_kv,
                ..
            }) => {
                assert_eq!(
                    (key.as_ref(), value.as_ref(), prev_kv),
                    (&b"key1"[..], &b"overwrote-key1"[..], true)
                );
            }
            other => panic!("{other:?}"),
        }
        match op("get foo --prefix --limit=2") {
            Request::RequestRange(RangeRequest {
                key,
                range_end,
                limit,
                ..
            }) => {
                assert_eq!(
                    (key.as_ref(), range_end.as_ref(), limit),
                    (&b"foo"[..], &b"fop"[..], 2)
                );
            }
            other => panic!("{other:?}"),
        }
        match op("del a c") {
            Request::RequestDeleteRange(DeleteRangeRequest { key, range_end, .. }) => {
                assert_eq!((key.as_ref(), range_end.as_ref()), (&b"a"[..], &b"c"[..]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_request_lines_are_refused() {
        let err = parse_request_op("get").expect_err("one word");
        assert_eq!(err.message, "invalid txn compare request: get");
        let err = parse_request_op("incr k").expect_err("unknown op");
        assert_eq!(
            (err.code, err.message.as_str()),
            (EXIT_INVALID_INPUT, "invalid txn request: incr k")
        );
        let err = parse_request_op("get k --bogus").expect_err("unknown flag");
        assert_eq!(err.message, "invalid txn request: get k --bogus");
        let err = parse_request_op("put k").expect_err("no value");
        assert_eq!(err.code, EXIT_BAD_ARGS);
    }

    #[test]
    fn a_whole_transaction_reads_three_sections() {
        let input = "mod(\"key1\") > \"0\"\n\nput key1 \"overwrote-key1\"\n\nput key1 \"created-key1\"\nput key2 \"some extra key\"\n\n";
        let txn = read_txn(&mut input.as_bytes(), None).expect("valid");
        assert_eq!(
            (txn.compare.len(), txn.success.len(), txn.failure.len()),
            (1, 1, 2)
        );
    }

    #[test]
    fn sections_may_be_empty_and_lines_may_carry_crlf() {
        let txn = read_txn(&mut "\r\nget k\r\n\r\n\n".as_bytes(), None).expect("valid");
        assert_eq!(
            (txn.compare.len(), txn.success.len(), txn.failure.len()),
            (0, 1, 0)
        );
    }

    #[test]
    fn interactive_mode_prompts_before_each_section() {
        let mut prompts = Vec::new();
        read_txn(&mut "\n\n\n".as_bytes(), Some(&mut prompts)).expect("valid");
        assert_eq!(
            String::from_utf8(prompts).expect("utf8"),
            "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n"
        );
    }

    #[test]
    fn truncated_input_is_an_error_not_a_commit() {
        for input in [
            "",
            "mod(\"k\") > \"0\"\n\nput k v\n",
            "\n\n\nextra",
            "\n\nput k v",
        ] {
            let result = read_txn(&mut input.as_bytes(), None);
            if input == "\n\n\nextra" {
                assert!(result.is_ok(), "input after the third section is not read");
                continue;
            }
            let err = result.expect_err(input);
            assert_eq!(
                (err.code, err.message.as_str()),
                (EXIT_INVALID_INPUT, "EOF"),
                "{input:?}"
            );
        }
    }
}
