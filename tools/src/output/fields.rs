//! `-w fields`: etcdctl's `fieldsPrinter`, one `"Name" : value` line per
//! field, strings Go-quoted. The only format `get --count-only` prints in.

use std::io::{self, Write};

use etcq_net::pb::{
    etcdserverpb::{
        response_op::Response, AuthRoleGetResponse, AuthRoleListResponse, DeleteRangeResponse,
        LeaseGrantResponse, LeaseKeepAliveResponse, LeaseLeasesResponse, LeaseRevokeResponse,
        LeaseTimeToLiveResponse, PutResponse, RangeResponse, ResponseHeader, TxnResponse,
        WatchResponse,
    },
    mvccpb::KeyValue,
};

use super::{event_type_name, EpHealth, EpStatus};
use crate::golang::{self, quote};

fn header(out: &mut dyn Write, h: Option<&ResponseHeader>) -> io::Result<()> {
    let h = h.cloned().unwrap_or_default();
    writeln!(out, "\"ClusterID\" : {}", h.cluster_id)?;
    writeln!(out, "\"MemberID\" : {}", h.member_id)?;
    writeln!(out, "\"Revision\" : {}", h.revision)?;
    writeln!(out, "\"RaftTerm\" : {}", h.raft_term)
}

fn kv(out: &mut dyn Write, prefix: &str, kv: &KeyValue) -> io::Result<()> {
    writeln!(out, "\"{prefix}Key\" : {}", quote(&kv.key))?;
    writeln!(out, "\"{prefix}CreateRevision\" : {}", kv.create_revision)?;
    writeln!(out, "\"{prefix}ModRevision\" : {}", kv.mod_revision)?;
    writeln!(out, "\"{prefix}Version\" : {}", kv.version)?;
    writeln!(out, "\"{prefix}Value\" : {}", quote(&kv.value))?;
    writeln!(out, "\"{prefix}Lease\" : {}", kv.lease)
}

/// `put`.
pub fn put(out: &mut dyn Write, r: &PutResponse) -> io::Result<()> {
    header(out, r.header.as_ref())?;
    if let Some(prev) = &r.prev_kv {
        kv(out, "Prev", prev)?;
    }
    Ok(())
}

/// `get`.
pub fn get(out: &mut dyn Write, r: &RangeResponse) -> io::Result<()> {
    header(out, r.header.as_ref())?;
    for item in &r.kvs {
        kv(out, "", item)?;
    }
    writeln!(out, "\"More\" : {}", r.more)?;
    writeln!(out, "\"Count\" : {}", r.count)
}

/// `del`.
pub fn del(out: &mut dyn Write, r: &DeleteRangeResponse) -> io::Result<()> {
    header(out, r.header.as_ref())?;
    writeln!(out, "\"Deleted\" : {}", r.deleted)?;
    for item in &r.prev_kvs {
        kv(out, "Prev", item)?;
    }
    Ok(())
}

/// `txn`.
pub fn txn(out: &mut dyn Write, r: &TxnResponse) -> io::Result<()> {
    header(out, r.header.as_ref())?;
    writeln!(out, "\"Succeeded\" : {}", r.succeeded)?;
    for op in &r.responses {
        match &op.response {
            Some(Response::ResponseDeleteRange(d)) => del(out, d)?,
            Some(Response::ResponsePut(p)) => put(out, p)?,
            Some(Response::ResponseRange(g)) => get(out, g)?,
            other => writeln!(
                out,
                "\"Unknown\" : {}",
                quote(format!("{other:?}").as_bytes())
            )?,
        }
    }
    Ok(())
}

/// `watch`.
pub fn watch(out: &mut dyn Write, r: &WatchResponse) -> io::Result<()> {
    header(out, r.header.as_ref())?;
    for event in &r.events {
        writeln!(out, "\"Type\" : {}", event_type_name(event.r#type))?;
        if let Some(prev) = &event.prev_kv {
            kv(out, "Prev", prev)?;
        }
        if let Some(item) = &event.kv {
            kv(out, "", item)?;
        }
    }
    Ok(())
}

/// `lease grant`.
pub fn lease_grant(out: &mut dyn Write, r: &LeaseGrantResponse) -> io::Result<()> {
    header(out, r.header.as_ref())?;
    writeln!(out, "\"ID\" : {}", r.id)?;
    writeln!(out, "\"TTL\" : {}", r.ttl)
}

/// `lease revoke`.
pub fn lease_revoke(out: &mut dyn Write, r: &LeaseRevokeResponse) -> io::Result<()> {
    header(out, r.header.as_ref())
}

/// `lease keep-alive`.
pub fn lease_keep_alive(out: &mut dyn Write, r: &LeaseKeepAliveResponse) -> io::Result<()> {
    header(out, r.header.as_ref())?;
    writeln!(out, "\"ID\" : {}", r.id)?;
    writeln!(out, "\"TTL\" : {}", r.ttl)
}

/// `lease timetolive`.
pub fn lease_time_to_live(out: &mut dyn Write, r: &LeaseTimeToLiveResponse) -> io::Result<()> {
    header(out, r.header.as_ref())?;
    writeln!(out, "\"ID\" : {}", r.id)?;
    writeln!(out, "\"TTL\" : {}", r.ttl)?;
    writeln!(out, "\"GrantedTTL\" : {}", r.granted_ttl)?;
    for key in &r.keys {
        writeln!(out, "\"Key\" : {}", quote(key))?;
    }
    Ok(())
}

/// `lease list`.
pub fn lease_leases(out: &mut dyn Write, r: &LeaseLeasesResponse) -> io::Result<()> {
    header(out, r.header.as_ref())?;
    for lease in &r.leases {
        writeln!(out, "\"ID\" : {}", lease.id)?;
    }
    Ok(())
}

/// `endpoint status`.
pub fn endpoint_status(out: &mut dyn Write, list: &[EpStatus]) -> io::Result<()> {
    for ep in list {
        let s = &ep.status;
        header(out, s.header.as_ref())?;
        writeln!(out, "\"Version\" : {}", quote(s.version.as_bytes()))?;
        writeln!(out, "\"DBSize\" : {}", s.db_size)?;
        writeln!(out, "\"Leader\" : {}", s.leader)?;
        writeln!(out, "\"IsLearner\" : {}", s.is_learner)?;
        writeln!(out, "\"RaftIndex\" : {}", s.raft_index)?;
        writeln!(out, "\"RaftTerm\" : {}", s.raft_term)?;
        writeln!(out, "\"RaftAppliedIndex\" : {}", s.raft_applied_index)?;
        writeln!(
            out,
            "\"Errors\" : {}",
            golang::format_string_slice(&s.errors)
        )?;
        writeln!(out, "\"Endpoint\" : {}", quote(ep.endpoint.as_bytes()))?;
        writeln!(out)?;
    }
    Ok(())
}

/// `endpoint health`.
pub fn endpoint_health(out: &mut dyn Write, list: &[EpHealth]) -> io::Result<()> {
    for h in list {
        writeln!(out, "\"Endpoint\" : {}", quote(h.endpoint.as_bytes()))?;
        writeln!(out, "\"Health\" : {}", h.health)?;
        writeln!(out, "\"Took\" : {}", h.took)?;
        writeln!(out, "\"Error\" : {}", h.error)?;
        writeln!(out)?;
    }
    Ok(())
}

/// A response that is only a header (user and role changes).
pub fn header_only(out: &mut dyn Write, h: Option<&ResponseHeader>) -> io::Result<()> {
    header(out, h)
}

/// `Permission.Type`'s `String()`.
fn perm_type_name(perm_type: i32) -> String {
    match perm_type {
        0 => "READ".to_string(),
        1 => "WRITE".to_string(),
        2 => "READWRITE".to_string(),
        other => other.to_string(),
    }
}

/// `role get`: the header, then each permission (etcdctl prints the type
/// with `Println`, hence the two spaces).
pub fn role_get(out: &mut dyn Write, r: &AuthRoleGetResponse) -> io::Result<()> {
    header(out, r.header.as_ref())?;
    for perm in &r.perm {
        writeln!(out, "\"PermType\" :  {}", perm_type_name(perm.perm_type))?;
        writeln!(out, "\"Key\" : {}", quote(&perm.key))?;
        writeln!(out, "\"RangeEnd\" : {}", quote(&perm.range_end))?;
    }
    Ok(())
}

/// `role list`: the header, then the names on one line.
pub fn role_list(out: &mut dyn Write, r: &AuthRoleListResponse) -> io::Result<()> {
    header(out, r.header.as_ref())?;
    write!(out, "\"Roles\" :")?;
    for role in &r.roles {
        write!(out, " {}", quote(role.as_bytes()))?;
    }
    writeln!(out)
}
