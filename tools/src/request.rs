//! Flags to requests: what etcdctl's `getPutOp`, `getGetOp`, `getDelOp`,
//! `getWatchChan` and clientv3's `OpOption`s make of the command line,
//! including their refusals (text and exit code). Pure: stdin and the
//! environment come in as arguments, so the txn parser reuses these and the
//! tests need no process.

use std::{
    ffi::{OsStr, OsString},
    os::unix::ffi::OsStrExt,
};

use bytes::Bytes;
use etcq_net::pb::etcdserverpb::{
    range_request::{SortOrder, SortTarget},
    DeleteRangeRequest, PutRequest, RangeRequest, WatchCreateRequest,
};

use crate::{
    cli::{DelArgs, GetArgs, PutArgs, WatchArgs},
    error::{CtlError, EXIT_ERROR},
    golang,
};

/// The range end covering every key that starts with `prefix`, as clientv3's
/// `WithPrefix` computes it: the prefix with its last byte below 0xff
/// incremented and everything after dropped; `"\0"` (to the end of the
/// keyspace) when there is no such byte.
pub fn prefix_range_end(prefix: &[u8]) -> Bytes {
    etcq_net::client::prefix_end(prefix)
}

/// `"\0"`: as a key, the first key; as a range end, "to the end".
const NUL: &[u8] = b"\0";

fn bytes_of(arg: &OsStr) -> Bytes {
    Bytes::copy_from_slice(arg.as_bytes())
}

/// The key and range end selected by `<key> [range_end]`, `--prefix` and
/// `--from-key`, as etcdctl's get and del compute them. `command` names the
/// command in the error texts.
fn key_range(
    args: &[OsString],
    prefix: bool,
    from_key: bool,
    command: &str,
) -> Result<(Bytes, Bytes), CtlError> {
    let Some(key_arg) = args.first() else {
        return Err(CtlError::bad_args(format!(
            "{command} command needs one argument as key and an optional argument as range_end"
        )));
    };
    if prefix && from_key {
        return Err(CtlError::bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    let mut key = bytes_of(key_arg);
    let mut range_end = Bytes::new();
    if let Some(end) = args.get(1) {
        if prefix || from_key {
            return Err(CtlError::bad_args(
                "too many arguments, only accept one argument when `--prefix` or `--from-key` is set",
            ));
        }
        range_end = bytes_of(end);
    }
    if prefix {
        if key.is_empty() {
            key = Bytes::from_static(NUL);
            range_end = Bytes::from_static(NUL);
        } else {
            range_end = prefix_range_end(&key);
        }
    }
    if from_key {
        if key.is_empty() {
            key = Bytes::from_static(NUL);
        }
        range_end = Bytes::from_static(NUL);
    }
    Ok((key, range_end))
}

/// A hex lease ID as etcdctl's `put --lease` takes it.
fn put_lease(arg: &str) -> Result<i64, CtlError> {
    golang::parse_int(arg, 16)
        .map_err(|e| CtlError::bad_args(format!("bad lease ID ({e}), expecting ID in Hex")))
}

/// A hex lease ID argument of the `lease` commands.
pub fn lease_id_arg(arg: &str) -> Result<i64, CtlError> {
    golang::parse_int(arg, 16)
        .map_err(|e| CtlError::bad_args(format!("bad lease ID arg ({e}), expecting ID in Hex")))
}

/// A lease ID as etcdctl prints it: Go's `%016x` of an int64.
pub fn format_lease_id(id: i64) -> String {
    if id < 0 {
        format!("-{:015x}", id.unsigned_abs())
    } else {
        format!("{id:016x}")
    }
}

/// `put`: key, value (the second argument, else all of `stdin()`, which
/// returns `None` if it cannot be read) and options.
pub fn put_request(
    args: &PutArgs,
    stdin: impl FnOnce() -> Option<Vec<u8>>,
) -> Result<PutRequest, CtlError> {
    const NEEDS_ARGS: &str = "put command needs 1 argument and input from stdin or 2 arguments";
    let Some(key) = args.args.first() else {
        return Err(CtlError::bad_args(NEEDS_ARGS));
    };
    if args.ignore_value && args.args.len() > 1 {
        return Err(CtlError::bad_args(
            "put command needs only 1 argument when 'ignore-value' flag is set",
        ));
    }
    // etcdctl ignores arguments past the value; so do we.
    let value = if args.ignore_value {
        Bytes::new()
    } else if let Some(value) = args.args.get(1) {
        bytes_of(value)
    } else {
        match stdin() {
            Some(bytes) if !bytes.is_empty() => Bytes::from(bytes),
            _ => return Err(CtlError::bad_args(NEEDS_ARGS)),
        }
    };
    Ok(PutRequest {
        key: bytes_of(key),
        value,
        lease: put_lease(&args.lease)?,
        prev_kv: args.prev_kv,
        ignore_value: args.ignore_value,
        ignore_lease: args.ignore_lease,
    })
}

/// `get`: the range request, with etcdctl's checks in etcdctl's order.
pub fn range_request(args: &GetArgs) -> Result<RangeRequest, CtlError> {
    if args.args.is_empty() {
        return Err(CtlError::bad_args(
            "get command needs one argument as key and an optional argument as range_end",
        ));
    }
    if args.prefix && args.from_key {
        return Err(CtlError::bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    if args.keys_only && args.count_only {
        return Err(CtlError::bad_args(
            "`--keys-only` and `--count-only` cannot be set at the same time, choose one",
        ));
    }
    let serializable = match args.consistency.as_str() {
        "s" => true,
        "l" => false,
        other => {
            return Err(CtlError::bad_feature(format!(
                "unknown consistency flag {}",
                golang::quote(other.as_bytes())
            )))
        }
    };
    let (key, range_end) = key_range(&args.args, args.prefix, args.from_key, "get")?;
    let mut sort_order = match args.order.to_uppercase().as_str() {
        "ASCEND" => SortOrder::Ascend,
        "DESCEND" => SortOrder::Descend,
        "" => SortOrder::None,
        _ => {
            return Err(CtlError::bad_feature(format!(
                "bad sort order {}",
                args.order
            )))
        }
    };
    let sort_target = match args.sort_by.to_uppercase().as_str() {
        "CREATE" => SortTarget::Create,
        "KEY" | "" => SortTarget::Key,
        "MODIFY" => SortTarget::Mod,
        "VALUE" => SortTarget::Value,
        "VERSION" => SortTarget::Version,
        _ => {
            return Err(CtlError::bad_feature(format!(
                "bad sort target {}",
                args.sort_by
            )))
        }
    };
    // clientv3's WithSort: keys already come back in ascending key order,
    // so asking for it would only make the server sort for nothing.
    if sort_target == SortTarget::Key && sort_order == SortOrder::Ascend {
        sort_order = SortOrder::None;
    }
    Ok(RangeRequest {
        key,
        range_end,
        limit: args.limit,
        revision: args.rev.max(0),
        sort_order: sort_order as i32,
        sort_target: sort_target as i32,
        serializable,
        keys_only: args.keys_only,
        count_only: args.count_only,
        min_mod_revision: args.min_mod_rev,
        max_mod_revision: args.max_mod_rev,
        min_create_revision: args.min_create_rev,
        max_create_revision: args.max_create_rev,
    })
}

/// `del`: the delete-range request.
pub fn delete_request(args: &DelArgs) -> Result<DeleteRangeRequest, CtlError> {
    if args.args.len() > 2 {
        return Err(CtlError::bad_args(
            "del command needs one argument as key and an optional argument as range_end",
        ));
    }
    let (key, range_end) = key_range(&args.args, args.prefix, args.from_key, "del")?;
    Ok(DeleteRangeRequest {
        key,
        range_end,
        prev_kv: args.prev_kv,
    })
}

/// `watch`'s environment: `ETCDCTL_WATCH_KEY` and `ETCDCTL_WATCH_RANGE_END`
/// (empty when unset).
#[derive(Debug, Clone, Default)]
pub struct WatchEnv {
    /// `ETCDCTL_WATCH_KEY`.
    pub key: OsString,
    /// `ETCDCTL_WATCH_RANGE_END`.
    pub range_end: OsString,
}

/// `watch`: the create request. The key and range end come from the
/// arguments or, if set, from the environment (not both).
pub fn watch_request(args: &WatchArgs, env: &WatchEnv) -> Result<WatchCreateRequest, CtlError> {
    if env.key.is_empty() && !env.range_end.is_empty() {
        return Err(CtlError::bad_args(format!(
            "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END={}",
            golang::quote(env.range_end.as_bytes())
        )));
    }
    let mut words: Vec<OsString> = Vec::new();
    if !env.key.is_empty() {
        if !args.args.is_empty() {
            return Err(CtlError::bad_args(
                "bad number of arguments (found conflicting environment key)",
            ));
        }
        words.push(env.key.clone());
        if !env.range_end.is_empty() {
            words.push(env.range_end.clone());
        }
    } else {
        words.extend(args.args.iter().cloned());
    }
    let Some(key_arg) = words.first() else {
        return Err(CtlError::bad_args("bad number of arguments"));
    };
    let mut key = bytes_of(key_arg);
    let mut range_end = Bytes::new();
    // etcdctl uses a range end only when exactly two words are given.
    if words.len() == 2 {
        if args.prefix {
            return Err(CtlError::bad_args(
                "`range_end` and `--prefix` are mutually exclusive",
            ));
        }
        range_end = bytes_of(&words[1]);
    }
    if args.prefix {
        if key.is_empty() {
            key = Bytes::from_static(NUL);
            range_end = Bytes::from_static(NUL);
        } else {
            range_end = prefix_range_end(&key);
        }
    }
    Ok(WatchCreateRequest {
        key,
        range_end,
        start_revision: args.rev,
        progress_notify: args.progress_notify,
        prev_kv: args.prev_kv,
        ..Default::default()
    })
}

/// `compaction <revision>`: the revision (a bad number is exit 1, as in
/// etcdctl, which reports `strconv`'s error as is).
pub fn compaction_revision(args: &[String]) -> Result<i64, CtlError> {
    let [rev] = args else {
        return Err(CtlError::bad_args("compaction command needs 1 argument"));
    };
    golang::parse_int(rev, 10).map_err(|e| CtlError::new(EXIT_ERROR, e))
}

/// `lease grant <ttl>`: the TTL in seconds.
pub fn lease_grant_ttl(args: &[String]) -> Result<i64, CtlError> {
    let [ttl] = args else {
        return Err(CtlError::bad_args("lease grant command needs TTL argument"));
    };
    golang::parse_int(ttl, 10).map_err(|e| CtlError::bad_args(format!("bad TTL ({e})")))
}

/// The single lease-ID argument of `lease revoke|timetolive|keep-alive`;
/// `usage` is etcdctl's complaint when it is missing.
pub fn single_lease_id(args: &[String], usage: &str) -> Result<i64, CtlError> {
    let [id] = args else {
        return Err(CtlError::bad_args(usage));
    };
    lease_id_arg(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{EXIT_BAD_ARGS, EXIT_BAD_FEATURE};

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    fn get(words: &[&str]) -> GetArgs {
        GetArgs {
            args: os(words),
            consistency: "l".into(),
            order: String::new(),
            sort_by: String::new(),
            limit: 0,
            prefix: false,
            from_key: false,
            rev: 0,
            keys_only: false,
            count_only: false,
            print_value_only: false,
            min_mod_rev: 0,
            max_mod_rev: 0,
            min_create_rev: 0,
            max_create_rev: 0,
        }
    }

    fn no_stdin() -> Option<Vec<u8>> {
        None
    }

    #[test]
    fn prefix_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_range_end(b"foo"), Bytes::from_static(b"fop"));
        assert_eq!(prefix_range_end(b"a\xff"), Bytes::from_static(b"b"));
        assert_eq!(
            prefix_range_end(b"a\xfe\xff\xff"),
            Bytes::from_static(b"a\xff")
        );
        assert_eq!(prefix_range_end(b"\xff\xff"), Bytes::from_static(b"\0"));
    }

    #[test]
    fn get_with_prefix_ranges_over_the_prefix() {
        let mut args = get(&["foo"]);
        args.prefix = true;
        let req = range_request(&args).expect("valid");
        assert_eq!(req.key, Bytes::from_static(b"foo"));
        assert_eq!(req.range_end, Bytes::from_static(b"fop"));
    }

    #[test]
    fn get_with_empty_prefix_reads_everything() {
        let mut args = get(&[""]);
        args.prefix = true;
        let req = range_request(&args).expect("valid");
        assert_eq!((req.key.as_ref(), req.range_end.as_ref()), (NUL, NUL));
    }

    #[test]
    fn get_from_key_ends_at_nul() {
        let mut args = get(&["b"]);
        args.from_key = true;
        let req = range_request(&args).expect("valid");
        assert_eq!((req.key.as_ref(), req.range_end.as_ref()), (&b"b"[..], NUL));
        let mut args = get(&[""]);
        args.from_key = true;
        let req = range_request(&args).expect("valid");
        assert_eq!((req.key.as_ref(), req.range_end.as_ref()), (NUL, NUL));
    }

    #[test]
    fn get_maps_flags_to_the_range_request() {
        let mut args = get(&["a", "z"]);
        args.limit = 3;
        args.rev = 7;
        args.consistency = "s".into();
        args.order = "descend".into();
        args.sort_by = "modify".into();
        args.keys_only = true;
        let req = range_request(&args).expect("valid");
        assert_eq!(req.range_end, Bytes::from_static(b"z"));
        assert_eq!(req.limit, 3);
        assert_eq!(req.revision, 7);
        assert!(req.serializable && req.keys_only && !req.count_only);
        assert_eq!(req.sort_order, SortOrder::Descend as i32);
        assert_eq!(req.sort_target, SortTarget::Mod as i32);
    }

    #[test]
    fn ascending_by_key_is_the_default_order_and_not_sent() {
        let mut args = get(&["a"]);
        args.order = "ASCEND".into();
        let req = range_request(&args).expect("valid");
        assert_eq!(req.sort_order, SortOrder::None as i32);
        args.sort_by = "VALUE".into();
        let req = range_request(&args).expect("valid");
        assert_eq!(req.sort_order, SortOrder::Ascend as i32);
        assert_eq!(req.sort_target, SortTarget::Value as i32);
    }

    #[test]
    fn get_refusals_match_etcdctl() {
        let err = range_request(&get(&[])).expect_err("no key");
        assert_eq!(err.code, EXIT_BAD_ARGS);
        let mut args = get(&["a", "b"]);
        args.prefix = true;
        let err = range_request(&args).expect_err("range end with prefix");
        assert_eq!(
            err.message,
            "too many arguments, only accept one argument when `--prefix` or `--from-key` is set"
        );
        let mut args = get(&["a"]);
        args.consistency = "x".into();
        let err = range_request(&args).expect_err("bad consistency");
        assert_eq!(
            (err.code, err.message.as_str()),
            (EXIT_BAD_FEATURE, r#"unknown consistency flag "x""#)
        );
        let mut args = get(&["a"]);
        args.order = "up".into();
        assert_eq!(
            range_request(&args).expect_err("bad order").message,
            "bad sort order up"
        );
        let mut args = get(&["a"]);
        args.keys_only = true;
        args.count_only = true;
        assert_eq!(range_request(&args).expect_err("both").code, EXIT_BAD_ARGS);
    }

    #[test]
    fn put_takes_value_from_args_or_stdin() {
        let args = PutArgs {
            args: os(&["k", "v"]),
            lease: "694d71ddacfda227".into(),
            prev_kv: true,
            ..Default::default()
        };
        let req = put_request(&args, no_stdin).expect("valid");
        assert_eq!(
            (req.key.as_ref(), req.value.as_ref()),
            (&b"k"[..], &b"v"[..])
        );
        assert_eq!(req.lease, 0x694d71ddacfda227);
        assert!(req.prev_kv);

        let args = PutArgs {
            args: os(&["k"]),
            lease: "0".into(),
            ..Default::default()
        };
        let req = put_request(&args, || Some(b"from stdin\n".to_vec())).expect("valid");
        assert_eq!(
            req.value.as_ref(),
            b"from stdin\n",
            "stdin is taken verbatim"
        );
        let err = put_request(&args, || Some(Vec::new())).expect_err("empty stdin");
        assert_eq!(err.code, EXIT_BAD_ARGS);
    }

    #[test]
    fn put_refusals_match_etcdctl() {
        let err = put_request(&PutArgs::default(), no_stdin).expect_err("no key");
        assert_eq!(
            err.message,
            "put command needs 1 argument and input from stdin or 2 arguments"
        );
        let args = PutArgs {
            args: os(&["k", "v"]),
            lease: "0".into(),
            ignore_value: true,
            ..Default::default()
        };
        assert_eq!(
            put_request(&args, no_stdin)
                .expect_err("value and ignore-value")
                .message,
            "put command needs only 1 argument when 'ignore-value' flag is set"
        );
        let args = PutArgs {
            args: os(&["k", "v"]),
            lease: "xyz".into(),
            ..Default::default()
        };
        assert_eq!(
            put_request(&args, no_stdin).expect_err("bad lease").message,
            r#"bad lease ID (strconv.ParseInt: parsing "xyz": invalid syntax), expecting ID in Hex"#
        );
    }

    #[test]
    fn put_ignore_value_needs_no_stdin() {
        let args = PutArgs {
            args: os(&["k"]),
            lease: "0".into(),
            ignore_value: true,
            ignore_lease: true,
            ..Default::default()
        };
        let req = put_request(&args, || panic!("stdin must not be read")).expect("valid");
        assert!(req.ignore_value && req.ignore_lease && req.value.is_empty());
    }

    #[test]
    fn del_maps_prefix_and_prev_kv() {
        let args = DelArgs {
            args: os(&["foo"]),
            prefix: true,
            prev_kv: true,
            from_key: false,
        };
        let req = delete_request(&args).expect("valid");
        assert_eq!(req.range_end, Bytes::from_static(b"fop"));
        assert!(req.prev_kv);
        let too_many = DelArgs {
            args: os(&["a", "b", "c"]),
            ..Default::default()
        };
        assert_eq!(
            delete_request(&too_many).expect_err("3 args").code,
            EXIT_BAD_ARGS
        );
    }

    #[test]
    fn watch_maps_key_prefix_and_revision() {
        let args = WatchArgs {
            args: os(&["foo"]),
            prefix: true,
            rev: 5,
            prev_kv: true,
            ..Default::default()
        };
        let req = watch_request(&args, &WatchEnv::default()).expect("valid");
        assert_eq!(req.range_end, Bytes::from_static(b"fop"));
        assert_eq!(req.start_revision, 5);
        assert!(req.prev_kv);

        let env = WatchEnv {
            key: "a".into(),
            range_end: "c".into(),
        };
        let req = watch_request(&WatchArgs::default(), &env).expect("valid");
        assert_eq!(
            (req.key.as_ref(), req.range_end.as_ref()),
            (&b"a"[..], &b"c"[..])
        );

        let args = WatchArgs {
            args: os(&["a", "c"]),
            prefix: true,
            ..Default::default()
        };
        assert_eq!(
            watch_request(&args, &WatchEnv::default())
                .expect_err("both")
                .message,
            "`range_end` and `--prefix` are mutually exclusive"
        );
        assert_eq!(
            watch_request(&WatchArgs::default(), &WatchEnv::default())
                .expect_err("no key")
                .message,
            "bad number of arguments"
        );
    }

    #[test]
    fn lease_ids_are_hex() {
        assert_eq!(lease_id_arg("694d71ddacfda227"), Ok(0x694d71ddacfda227));
        assert_eq!(format_lease_id(0x694d71ddacfda227), "694d71ddacfda227");
        assert_eq!(format_lease_id(0x2a), "000000000000002a");
        assert_eq!(format_lease_id(-1), "-000000000000001");
        let err = lease_id_arg("nothex").expect_err("not hex");
        assert_eq!(err.code, EXIT_BAD_ARGS);
        assert_eq!(
            err.message,
            r#"bad lease ID arg (strconv.ParseInt: parsing "nothex": invalid syntax), expecting ID in Hex"#
        );
    }

    #[test]
    fn numeric_arguments_are_checked_like_etcdctl() {
        assert_eq!(compaction_revision(&["42".into()]), Ok(42));
        assert_eq!(
            compaction_revision(&["x".into()]).expect_err("nan").code,
            EXIT_ERROR
        );
        assert_eq!(
            compaction_revision(&[]).expect_err("none").code,
            EXIT_BAD_ARGS
        );
        assert_eq!(lease_grant_ttl(&["10".into()]), Ok(10));
        assert_eq!(
            lease_grant_ttl(&["ten".into()]).expect_err("nan").message,
            r#"bad TTL (strconv.ParseInt: parsing "ten": invalid syntax)"#
        );
    }
}
