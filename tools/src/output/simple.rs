//! `-w simple` (the default): etcdctl's `simplePrinter`. Keys and values
//! are written as raw bytes, one per line (`--hex`: `\x66\x6f\x6f`).

use std::io::{self, Write};

use etcq_net::pb::{
    authpb::Permission,
    etcdserverpb::{
        response_op::Response, AuthRoleGetResponse, AuthUserGetResponse, DeleteRangeResponse,
        LeaseGrantResponse, LeaseKeepAliveResponse, LeaseLeasesResponse, LeaseTimeToLiveResponse,
        PutResponse, RangeResponse, TxnResponse, WatchResponse,
    },
    mvccpb::KeyValue,
};

use super::{event_type_name, AuthDone, EpHealth, EpStatus, KvStyle};
use crate::{
    auth::{PERM_READ, PERM_READWRITE, PERM_WRITE},
    golang,
    request::{format_lease_id, prefix_range_end},
};

/// etcdctl's `printKV`: the key line (unless value-only), the value line.
pub fn kv(out: &mut dyn Write, style: KvStyle, kv: &KeyValue) -> io::Result<()> {
    let line = |out: &mut dyn Write, bytes: &[u8]| -> io::Result<()> {
        if style.hex {
            for b in bytes {
                write!(out, "\\x{b:02x}")?;
            }
        } else {
            out.write_all(bytes)?;
        }
        out.write_all(b"\n")
    };
    if !style.value_only {
        line(out, &kv.key)?;
    }
    line(out, &kv.value)
}

/// `put`: `OK`, then the previous key-value with `--prev-kv`.
pub fn put(out: &mut dyn Write, style: KvStyle, r: &PutResponse) -> io::Result<()> {
    writeln!(out, "OK")?;
    if let Some(prev) = &r.prev_kv {
        kv(out, style, prev)?;
    }
    Ok(())
}

/// `get`: every key-value (nothing for `--count-only`).
pub fn get(out: &mut dyn Write, style: KvStyle, r: &RangeResponse) -> io::Result<()> {
    for item in &r.kvs {
        kv(out, style, item)?;
    }
    Ok(())
}

/// `del`: the number deleted, then the deleted key-values with `--prev-kv`.
pub fn del(out: &mut dyn Write, style: KvStyle, r: &DeleteRangeResponse) -> io::Result<()> {
    writeln!(out, "{}", r.deleted)?;
    for item in &r.prev_kvs {
        kv(out, style, item)?;
    }
    Ok(())
}

/// `txn`: `SUCCESS`/`FAILURE`, then each response after an empty line.
pub fn txn(out: &mut dyn Write, style: KvStyle, r: &TxnResponse) -> io::Result<()> {
    writeln!(out, "{}", if r.succeeded { "SUCCESS" } else { "FAILURE" })?;
    for op in &r.responses {
        writeln!(out)?;
        match &op.response {
            Some(Response::ResponseDeleteRange(d)) => del(out, style, d)?,
            Some(Response::ResponsePut(p)) => put(out, style, p)?,
            Some(Response::ResponseRange(g)) => get(out, style, g)?,
            other => writeln!(out, "unexpected response {other:?}")?,
        }
    }
    Ok(())
}

/// `watch`: per event its type, the previous key-value (`--prev-kv`), the
/// key-value.
pub fn watch(out: &mut dyn Write, style: KvStyle, r: &WatchResponse) -> io::Result<()> {
    for event in &r.events {
        writeln!(out, "{}", event_type_name(event.r#type))?;
        if let Some(prev) = &event.prev_kv {
            kv(out, style, prev)?;
        }
        if let Some(item) = &event.kv {
            kv(out, style, item)?;
        }
    }
    Ok(())
}

/// `lease grant`.
pub fn lease_grant(out: &mut dyn Write, r: &LeaseGrantResponse) -> io::Result<()> {
    writeln!(
        out,
        "lease {} granted with TTL({}s)",
        format_lease_id(r.id),
        r.ttl
    )
}

/// `lease revoke` (the ID is the one asked for; the response has none).
pub fn lease_revoke(out: &mut dyn Write, id: i64) -> io::Result<()> {
    writeln!(out, "lease {} revoked", format_lease_id(id))
}

/// `lease keep-alive`, once per response.
pub fn lease_keep_alive(out: &mut dyn Write, r: &LeaseKeepAliveResponse) -> io::Result<()> {
    writeln!(
        out,
        "lease {} keepalived with TTL({})",
        format_lease_id(r.id),
        r.ttl
    )
}

/// `lease timetolive [--keys]`.
pub fn lease_time_to_live(
    out: &mut dyn Write,
    r: &LeaseTimeToLiveResponse,
    keys: bool,
) -> io::Result<()> {
    let id = format_lease_id(r.id);
    if r.granted_ttl == 0 && r.ttl == -1 {
        return writeln!(out, "lease {id} already expired");
    }
    write!(
        out,
        "lease {id} granted with TTL({}s), remaining({}s)",
        r.granted_ttl, r.ttl
    )?;
    if keys {
        let names: Vec<String> = r
            .keys
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        write!(
            out,
            ", attached keys({})",
            golang::format_string_slice(&names)
        )?;
    }
    writeln!(out)
}

/// `lease list`.
pub fn lease_leases(out: &mut dyn Write, r: &LeaseLeasesResponse) -> io::Result<()> {
    writeln!(out, "found {} leases", r.leases.len())?;
    for lease in &r.leases {
        writeln!(out, "{}", format_lease_id(lease.id))?;
    }
    Ok(())
}

/// The rows of `endpoint status` (simple joins them with `, `; table
/// draws them).
pub fn endpoint_status_rows(list: &[EpStatus]) -> Vec<Vec<String>> {
    list.iter()
        .map(|ep| {
            let s = &ep.status;
            let member_id = s.header.as_ref().map_or(0, |h| h.member_id);
            vec![
                ep.endpoint.clone(),
                format!("{member_id:x}"),
                s.version.clone(),
                golang::humanize_bytes(u64::try_from(s.db_size).unwrap_or(0)),
                (s.leader == member_id).to_string(),
                s.is_learner.to_string(),
                s.raft_term.to_string(),
                s.raft_index.to_string(),
                s.raft_applied_index.to_string(),
                s.errors.join(", "),
            ]
        })
        .collect()
}

/// Column titles of [`endpoint_status_rows`].
pub const ENDPOINT_STATUS_HEADER: [&str; 10] = [
    "endpoint",
    "ID",
    "version",
    "db size",
    "is leader",
    "is learner",
    "raft term",
    "raft index",
    "raft applied index",
    "errors",
];

/// `endpoint status`: one comma-separated line per endpoint.
pub fn endpoint_status(out: &mut dyn Write, list: &[EpStatus]) -> io::Result<()> {
    for row in endpoint_status_rows(list) {
        writeln!(out, "{}", row.join(", "))?;
    }
    Ok(())
}

/// `endpoint health`: every verdict on stderr (`err`), as etcdctl 3.4 does
/// (checked against 3.4.23). etcdctl 3.5 moved the healthy lines to stdout
/// (etcd PR #11322); `out` is there for that, should we follow 3.5.
pub fn endpoint_health(
    _out: &mut dyn Write,
    err: &mut dyn Write,
    list: &[EpHealth],
) -> io::Result<()> {
    for h in list {
        if h.error.is_empty() {
            writeln!(
                err,
                "{} is healthy: successfully committed proposal: took = {}",
                h.endpoint, h.took
            )?;
        } else {
            writeln!(
                err,
                "{} is unhealthy: failed to commit proposal: {}",
                h.endpoint, h.error
            )?;
        }
    }
    Ok(())
}

/// A user or role change, in etcdctl's words.
pub fn auth_done(out: &mut dyn Write, done: &AuthDone<'_>) -> io::Result<()> {
    match *done {
        AuthDone::UserAdd(name) => writeln!(out, "User {name} created"),
        AuthDone::UserDelete(name) => writeln!(out, "User {name} deleted"),
        AuthDone::UserPasswd => writeln!(out, "Password updated"),
        AuthDone::UserGrantRole { user, role } => {
            writeln!(out, "Role {role} is granted to user {user}")
        }
        AuthDone::UserRevokeRole { user, role } => {
            writeln!(out, "Role {role} is revoked from user {user}")
        }
        AuthDone::RoleAdd(name) => writeln!(out, "Role {name} created"),
        AuthDone::RoleDelete(name) => writeln!(out, "Role {name} deleted"),
        AuthDone::RoleGrantPermission(name) => writeln!(out, "Role {name} updated"),
        AuthDone::RoleRevokePermission {
            role,
            key,
            range_end,
        } => {
            if range_end.is_empty() {
                out.write_all(b"Permission of key ")?;
                out.write_all(key)?;
            } else {
                out.write_all(b"Permission of range [")?;
                out.write_all(key)?;
                if range_end == b"\0" {
                    out.write_all(b", <open ended>")?;
                } else {
                    out.write_all(b", ")?;
                    out.write_all(range_end)?;
                    out.write_all(b")")?;
                }
            }
            writeln!(out, " is revoked from role {role}")
        }
    }
}

/// `user get`: the name, then the roles on one line.
pub fn user_get(out: &mut dyn Write, name: &str, r: &AuthUserGetResponse) -> io::Result<()> {
    writeln!(out, "User: {name}")?;
    write!(out, "Roles:")?;
    for role in &r.roles {
        write!(out, " {role}")?;
    }
    writeln!(out)
}

/// `user list`, `role list`: one name per line.
pub fn names(out: &mut dyn Write, names: &[String]) -> io::Result<()> {
    for name in names {
        writeln!(out, "{name}")?;
    }
    Ok(())
}

/// One permission line of `role get`: `\tkey` for one key, `\t[key, end)`
/// for a range, `\t[key, <open ended>` to the end of the keyspace, with
/// ` (prefix key)` when the range is exactly the key's prefix range.
pub fn permission(out: &mut dyn Write, perm: &Permission) -> io::Result<()> {
    out.write_all(b"\t")?;
    if perm.range_end.is_empty() {
        out.write_all(&perm.key)?;
        return out.write_all(b"\n");
    }
    out.write_all(b"[")?;
    out.write_all(&perm.key)?;
    if perm.range_end.as_ref() == b"\0" {
        out.write_all(b", <open ended>")?;
    } else {
        out.write_all(b", ")?;
        out.write_all(&perm.range_end)?;
        out.write_all(b")")?;
    }
    if prefix_range_end(&perm.key) == perm.range_end {
        out.write_all(b" (prefix ")?;
        out.write_all(&perm.key)?;
        out.write_all(b")")?;
    }
    out.write_all(b"\n")
}

/// `role get`: the role, its read permissions, its write permissions
/// (readwrite ones in both lists).
pub fn role_get(out: &mut dyn Write, name: &str, r: &AuthRoleGetResponse) -> io::Result<()> {
    writeln!(out, "Role {name}")?;
    writeln!(out, "KV Read:")?;
    for perm in &r.perm {
        if perm.perm_type == PERM_READ || perm.perm_type == PERM_READWRITE {
            permission(out, perm)?;
        }
    }
    writeln!(out, "KV Write:")?;
    for perm in &r.perm {
        if perm.perm_type == PERM_WRITE || perm.perm_type == PERM_READWRITE {
            permission(out, perm)?;
        }
    }
    Ok(())
}
