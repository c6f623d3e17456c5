//! The arguments of the `user`, `role` and `auth` commands, as etcdctl 3.4
//! reads them: argument counts (with etcdctl's refusal texts, exit 128),
//! `name:password`, permission types, and the key range a permission
//! covers (`<key> [endkey]`, `--prefix`, `--from-key`). Pure: the one input
//! from outside, a password piped on stdin, is handed in by the caller.
//!
//! etcdctl prompts on the terminal for a password it was not given;
//! etcqctl never prompts. `user add` takes `name:password`, `user passwd`
//! takes the password as a second argument (an etcqctl extension), and
//! both read the first word of stdin with `--interactive=false`, as
//! etcdctl does.

use std::{ffi::OsString, os::unix::ffi::OsStrExt};

use bytes::Bytes;
use etcq_net::pb::{
    authpb::{Permission, UserAddOptions},
    etcdserverpb::{
        AuthRoleGrantPermissionRequest, AuthRoleRevokePermissionRequest, AuthUserAddRequest,
        AuthUserChangePasswordRequest,
    },
};

use crate::{cli::RolePermArgs, error::CtlError, request::prefix_range_end};

/// `"\0"`: as a key, the first key; as a range end, "to the end".
const NUL: &[u8] = b"\0";

/// `Permission.Type` values.
pub const PERM_READ: i32 = 0;
/// `Permission.Type` WRITE.
pub const PERM_WRITE: i32 = 1;
/// `Permission.Type` READWRITE.
pub const PERM_READWRITE: i32 = 2;

/// Where a missing password may come from instead of a prompt.
const NO_PROMPT: &str = "etcqctl does not prompt for passwords";

/// `args` must be empty; `message` is etcdctl's refusal otherwise.
pub fn no_args(args: &[String], message: &str) -> Result<(), CtlError> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(CtlError::bad_args(message))
    }
}

/// Exactly `n` arguments, or etcdctl's refusal `message`.
pub fn exactly<'a>(args: &'a [String], n: usize, message: &str) -> Result<&'a [String], CtlError> {
    if args.len() == n {
        Ok(args)
    } else {
        Err(CtlError::bad_args(message))
    }
}

/// The first whitespace-separated word of `input`, as Go's
/// `fmt.Scanf("%s", &password)` reads it.
pub fn first_word(input: &str) -> String {
    input.split_whitespace().next().unwrap_or("").to_string()
}

/// The password sources of `user add`, besides `name:password`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPassword {
    /// `--no-password`.
    pub none: bool,
    /// `--new-user-password` (empty: not given).
    pub flag: String,
    /// `--interactive` (false: read stdin).
    pub interactive: bool,
}

/// `user add <name or name:password> [--no-password]
/// [--new-user-password=pw] [--interactive=false]`, in etcdctl's order of
/// precedence. `stdin` is called only for `--interactive=false` without a
/// password elsewhere.
pub fn user_add(
    args: &[String],
    source: &NewPassword,
    stdin: impl FnOnce() -> Result<String, CtlError>,
) -> Result<AuthUserAddRequest, CtlError> {
    let arg = &exactly(
        args,
        1,
        "user add command requires user name as its argument",
    )?[0];
    let no_password = source.none;
    let interactive = source.interactive;
    let (name, password) = if no_password {
        (arg.clone(), String::new())
    } else if !source.flag.is_empty() {
        (arg.clone(), source.flag.clone())
    } else {
        match arg.split_once(':') {
            Some((name, password)) => {
                if name.is_empty() {
                    return Err(CtlError::bad_args("empty user name is not allowed"));
                }
                (name.to_string(), password.to_string())
            }
            None if !interactive => (arg.clone(), first_word(&stdin()?)),
            None => {
                return Err(CtlError::bad_args(format!(
                    "{NO_PROMPT}: give `user add {arg}:<password>` or --new-user-password, \
                     pipe the password with --interactive=false, or pass --no-password"
                )))
            }
        }
    };
    Ok(AuthUserAddRequest {
        name,
        password,
        options: Some(UserAddOptions { no_password }),
        hashed_password: String::new(),
    })
}

/// `user passwd <name> [password] [--interactive=false]`: the password is
/// the second argument, or the first word of stdin with
/// `--interactive=false`.
pub fn user_passwd(
    args: &[String],
    interactive: bool,
    stdin: impl FnOnce() -> Result<String, CtlError>,
) -> Result<AuthUserChangePasswordRequest, CtlError> {
    let (name, password) = match args {
        [name] if !interactive => (name.clone(), first_word(&stdin()?)),
        [name] => {
            return Err(CtlError::bad_args(format!(
                "{NO_PROMPT}: give `user passwd {name} <password>` or pipe the password with \
                 --interactive=false"
            )))
        }
        [name, password] => (name.clone(), password.clone()),
        _ => {
            return Err(CtlError::bad_args(
                "user passwd command requires user name as its argument",
            ))
        }
    };
    Ok(AuthUserChangePasswordRequest {
        name,
        password,
        hashed_password: String::new(),
    })
}

/// clientv3's `StrToPermissionType`: `read`, `write`, `readwrite`, any case.
pub fn perm_type(arg: &str) -> Result<i32, CtlError> {
    match arg.to_ascii_uppercase().as_str() {
        "READ" => Ok(PERM_READ),
        "WRITE" => Ok(PERM_WRITE),
        "READWRITE" => Ok(PERM_READWRITE),
        _ => Err(CtlError::bad_args(format!(
            "invalid permission type: {arg}"
        ))),
    }
}

/// etcdctl's `permRange`: the key and range end a permission covers.
/// `args` is `<key> [endkey]` (anything after is ignored, as etcdctl does).
/// An empty key means `"\0"`, and with `--prefix` or `--from-key` the whole
/// keyspace (`["\0", "\0")`); `--prefix` ends at the prefix's end,
/// `--from-key` at `"\0"` (open ended); a single key has no range end.
pub fn perm_range(
    args: &[OsString],
    prefix: bool,
    from_key: bool,
) -> Result<(Bytes, Bytes), CtlError> {
    let key = args.first().map_or(&[][..], |k| k.as_bytes());
    if key.is_empty() {
        if prefix && from_key {
            return Err(mutually_exclusive());
        }
        let end = if prefix || from_key { NUL } else { &[] };
        return Ok((Bytes::from_static(NUL), Bytes::from_static(end)));
    }
    let key_bytes = Bytes::copy_from_slice(key);
    let end = match args.get(1) {
        None if prefix && from_key => return Err(mutually_exclusive()),
        None if prefix => prefix_range_end(key),
        None if from_key => Bytes::from_static(NUL),
        None => Bytes::new(),
        Some(_) if prefix => {
            return Err(CtlError::bad_args(
                "unexpected endkey argument with --prefix flag",
            ))
        }
        Some(_) if from_key => {
            return Err(CtlError::bad_args(
                "unexpected endkey argument with --from-key flag",
            ))
        }
        Some(end) => Bytes::copy_from_slice(end.as_bytes()),
    };
    Ok((key_bytes, end))
}

fn mutually_exclusive() -> CtlError {
    CtlError::bad_args("--from-key and --prefix flags are mutually exclusive")
}

/// `role grant-permission [--prefix|--from-key] <role> <type> <key> [endkey]`.
pub fn grant_permission(args: &RolePermArgs) -> Result<AuthRoleGrantPermissionRequest, CtlError> {
    if args.args.len() < 3 {
        return Err(CtlError::bad_args(
            "role grant command requires role name, permission type, and key [endkey] as its argument",
        ));
    }
    let perm_type = perm_type(&args.args[1].to_string_lossy())?;
    let (key, range_end) = perm_range(&args.args[2..], args.prefix, args.from_key)?;
    Ok(AuthRoleGrantPermissionRequest {
        name: args.args[0].to_string_lossy().into_owned(),
        perm: Some(Permission {
            perm_type,
            key,
            range_end,
        }),
    })
}

/// `role revoke-permission [--prefix|--from-key] <role> <key> [endkey]`,
/// and the key as given (etcdctl's message names it, not `"\0"`).
pub fn revoke_permission(
    args: &RolePermArgs,
) -> Result<(AuthRoleRevokePermissionRequest, Bytes), CtlError> {
    if args.args.len() < 2 {
        return Err(CtlError::bad_args(
            "role revoke-permission command requires role name and key [endkey] as its argument",
        ));
    }
    let (key, range_end) = perm_range(&args.args[1..], args.prefix, args.from_key)?;
    let request = AuthRoleRevokePermissionRequest {
        role: args.args[0].to_string_lossy().into_owned(),
        key,
        range_end,
    };
    Ok((request, Bytes::copy_from_slice(args.args[1].as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    fn range(args: &[&str], prefix: bool, from_key: bool) -> (Vec<u8>, Vec<u8>) {
        let (k, e) = perm_range(&os(args), prefix, from_key).expect("range");
        (k.to_vec(), e.to_vec())
    }

    fn no_stdin() -> Result<String, CtlError> {
        panic!("stdin must not be read")
    }

    #[test]
    fn permission_types_parse_in_any_case() {
        assert_eq!(perm_type("read"), Ok(PERM_READ));
        assert_eq!(perm_type("Write"), Ok(PERM_WRITE));
        assert_eq!(perm_type("READWRITE"), Ok(PERM_READWRITE));
        let err = perm_type("bogus").expect_err("bogus");
        assert_eq!(
            (err.code, err.message.as_str()),
            (128, "invalid permission type: bogus")
        );
        assert!(perm_type("rw").is_err());
    }

    #[test]
    fn permission_ranges_follow_etcdctl() {
        // single key, explicit range, prefix, from-key
        assert_eq!(range(&["k"], false, false), (b"k".to_vec(), vec![]));
        assert_eq!(
            range(&["a", "b"], false, false),
            (b"a".to_vec(), b"b".to_vec())
        );
        assert_eq!(
            range(&["a/"], true, false),
            (b"a/".to_vec(), b"a0".to_vec())
        );
        assert_eq!(range(&["z"], false, true), (b"z".to_vec(), b"\0".to_vec()));
        // extra arguments are ignored, as etcdctl does
        assert_eq!(
            range(&["a", "b", "c"], false, false),
            (b"a".to_vec(), b"b".to_vec())
        );
        // the empty key: "\0", and the whole keyspace with --prefix/--from-key
        assert_eq!(range(&[""], false, false), (b"\0".to_vec(), vec![]));
        assert_eq!(range(&[""], true, false), (b"\0".to_vec(), b"\0".to_vec()));
        assert_eq!(range(&[""], false, true), (b"\0".to_vec(), b"\0".to_vec()));
        // a prefix of 0xff bytes runs to the end
        let (k, e) = perm_range(
            &[OsString::from(std::ffi::OsStr::from_bytes(b"\xff"))],
            true,
            false,
        )
        .expect("range");
        assert_eq!((k.as_ref(), e.as_ref()), (&b"\xff"[..], &b"\0"[..]));
    }

    #[test]
    fn permission_range_refusals() {
        let cases: [(&[&str], bool, bool, &str); 4] = [
            (
                &["a", "b"],
                true,
                false,
                "unexpected endkey argument with --prefix flag",
            ),
            (
                &["a", "b"],
                false,
                true,
                "unexpected endkey argument with --from-key flag",
            ),
            (
                &["a"],
                true,
                true,
                "--from-key and --prefix flags are mutually exclusive",
            ),
            (
                &[""],
                true,
                true,
                "--from-key and --prefix flags are mutually exclusive",
            ),
        ];
        for (args, prefix, from_key, message) in cases {
            let err = perm_range(&os(args), prefix, from_key).expect_err(message);
            assert_eq!((err.code, err.message.as_str()), (128, message));
        }
    }

    #[test]
    fn grant_and_revoke_permission_requests() {
        let grant = grant_permission(&RolePermArgs {
            args: os(&["reader", "readwrite", "a/"]),
            prefix: true,
            from_key: false,
        })
        .expect("grant");
        assert_eq!(grant.name, "reader");
        let perm = grant.perm.expect("perm");
        assert_eq!(perm.perm_type, PERM_READWRITE);
        assert_eq!(
            (perm.key.as_ref(), perm.range_end.as_ref()),
            (&b"a/"[..], &b"a0"[..])
        );
        let err = grant_permission(&RolePermArgs {
            args: os(&["reader", "read"]),
            ..Default::default()
        })
        .expect_err("too few");
        assert_eq!(
            err.message,
            "role grant command requires role name, permission type, and key [endkey] as its argument"
        );
        let (revoke, key) = revoke_permission(&RolePermArgs {
            args: os(&["reader", ""]),
            from_key: true,
            ..Default::default()
        })
        .expect("revoke");
        assert_eq!(revoke.role, "reader");
        assert_eq!(
            (revoke.key.as_ref(), revoke.range_end.as_ref()),
            (&b"\0"[..], &b"\0"[..])
        );
        assert!(key.is_empty());
        assert!(revoke_permission(&RolePermArgs {
            args: os(&["reader"]),
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn user_add_takes_name_password_or_no_password() {
        let prompt = NewPassword {
            interactive: true,
            ..Default::default()
        };
        let no_password = NewPassword {
            none: true,
            ..prompt.clone()
        };
        let piped = NewPassword::default();
        let flag = NewPassword {
            flag: "flagpw".into(),
            ..prompt.clone()
        };
        let req = user_add(&strings(&["alice:pw:x"]), &prompt, no_stdin).expect("add");
        assert_eq!(
            (req.name.as_str(), req.password.as_str()),
            ("alice", "pw:x")
        );
        assert_eq!(req.options, Some(UserAddOptions { no_password: false }));
        let req = user_add(&strings(&["carl"]), &no_password, no_stdin).expect("no password");
        assert_eq!((req.name.as_str(), req.password.as_str()), ("carl", ""));
        assert_eq!(req.options, Some(UserAddOptions { no_password: true }));
        let req =
            user_add(&strings(&["bob"]), &piped, || Ok("s3cret\nrest".into())).expect("stdin");
        assert_eq!(
            (req.name.as_str(), req.password.as_str()),
            ("bob", "s3cret")
        );
        let err = user_add(&strings(&["bob"]), &prompt, no_stdin).expect_err("prompt");
        assert_eq!(err.code, 128);
        assert!(err.message.contains("bob:<password>"), "{}", err.message);
        // the flag wins over `name:password` (all of it is the name), as in etcdctl
        let req = user_add(&strings(&["dave:x"]), &flag, no_stdin).expect("flag");
        assert_eq!(
            (req.name.as_str(), req.password.as_str()),
            ("dave:x", "flagpw")
        );
        let err = user_add(&strings(&[":pw"]), &prompt, no_stdin).expect_err("empty");
        assert_eq!(err.message, "empty user name is not allowed");
        let err = user_add(&[], &prompt, no_stdin).expect_err("none");
        assert_eq!(
            err.message,
            "user add command requires user name as its argument"
        );
    }

    #[test]
    fn user_passwd_takes_the_password_as_argument_or_stdin() {
        let req = user_passwd(&strings(&["alice", "new"]), true, no_stdin).expect("arg");
        assert_eq!((req.name.as_str(), req.password.as_str()), ("alice", "new"));
        let req =
            user_passwd(&strings(&["alice"]), false, || Ok(" piped \n".into())).expect("stdin");
        assert_eq!(req.password, "piped");
        let err = user_passwd(&strings(&["alice"]), true, no_stdin).expect_err("prompt");
        assert!(
            err.message.contains("user passwd alice <password>"),
            "{}",
            err.message
        );
        let err = user_passwd(&[], true, no_stdin).expect_err("none");
        assert_eq!(
            err.message,
            "user passwd command requires user name as its argument"
        );
    }

    #[test]
    fn argument_counts() {
        assert!(no_args(&[], "x").is_ok());
        let err = no_args(&strings(&["a"]), "user list command requires no arguments")
            .expect_err("extra");
        assert_eq!(
            (err.code, err.message.as_str()),
            (128, "user list command requires no arguments")
        );
        assert!(exactly(&strings(&["a", "b"]), 2, "x").is_ok());
        assert!(exactly(&strings(&["a"]), 2, "x").is_err());
    }
}
