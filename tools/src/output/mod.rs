//! Printing responses the way etcdctl does, per `-w/--write-out` format:
//! `simple` (default), `json`, `fields`, and `table` (which, as in
//! etcdctl, only the `endpoint` commands support; the others fail with
//! exit 4 after their request was made). `protobuf` is not offered.
//!
//! Every function writes to a `&mut dyn Write` handed in by the caller, so
//! tests capture output in a `Vec<u8>`; nothing here touches the process's
//! stdout or the network.

pub mod fields;
pub mod json;
pub mod simple;
pub mod table;

use std::io::Write;

use etcq_net::pb::etcdserverpb::{
    AuthRoleGetResponse, AuthRoleListResponse, AuthUserGetResponse, AuthUserListResponse,
    DeleteRangeResponse, LeaseGrantResponse, LeaseKeepAliveResponse, LeaseLeasesResponse,
    LeaseRevokeResponse, LeaseTimeToLiveResponse, PutResponse, RangeResponse, ResponseHeader,
    StatusResponse, TxnResponse, WatchResponse,
};

use crate::error::CtlError;

/// The `-w/--write-out` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable lines (etcdctl's default).
    Simple,
    /// The response as JSON, one line.
    Json,
    /// `"Field" : value` lines.
    Fields,
    /// ASCII tables, for the endpoint commands only.
    Table,
}

impl Format {
    /// Parses a `--write-out` value; unknown ones are etcdctl's
    /// `unsupported output format` (exit 4).
    pub fn parse(name: &str) -> Result<Format, CtlError> {
        match name {
            "simple" => Ok(Format::Simple),
            "json" => Ok(Format::Json),
            "fields" => Ok(Format::Fields),
            "table" => Ok(Format::Table),
            _ => Err(CtlError::bad_feature("unsupported output format")),
        }
    }
}

/// How key-values are printed in `simple` output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvStyle {
    /// `--hex`: bytes as `\xNN`.
    pub hex: bool,
    /// `get --print-value-only`: values without their keys.
    pub value_only: bool,
}

/// One endpoint's `endpoint status` answer.
#[derive(Debug, Clone)]
pub struct EpStatus {
    /// The endpoint as given on the command line.
    pub endpoint: String,
    /// What it answered.
    pub status: StatusResponse,
}

/// One endpoint's `endpoint health` verdict.
#[derive(Debug, Clone)]
pub struct EpHealth {
    /// The endpoint as given on the command line.
    pub endpoint: String,
    /// Whether the health read succeeded (and no alarm is raised).
    pub health: bool,
    /// How long the read took, as Go prints a duration.
    pub took: String,
    /// Why it is unhealthy; empty if healthy.
    pub error: String,
}

/// A user or role change whose response is only a header: what `simple`
/// says about it (the names are the ones on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDone<'a> {
    /// `user add <name>`.
    UserAdd(&'a str),
    /// `user delete <name>`.
    UserDelete(&'a str),
    /// `user passwd`.
    UserPasswd,
    /// `user grant-role <user> <role>`.
    UserGrantRole {
        /// The user.
        user: &'a str,
        /// The role.
        role: &'a str,
    },
    /// `user revoke-role <user> <role>`.
    UserRevokeRole {
        /// The user.
        user: &'a str,
        /// The role.
        role: &'a str,
    },
    /// `role add <name>`.
    RoleAdd(&'a str),
    /// `role delete <name>`.
    RoleDelete(&'a str),
    /// `role grant-permission <name> ...`.
    RoleGrantPermission(&'a str),
    /// `role revoke-permission <name> <key> ...`.
    RoleRevokePermission {
        /// The role.
        role: &'a str,
        /// The key as given on the command line.
        key: &'a [u8],
        /// The range end sent (empty for one key, `"\0"` for open ended).
        range_end: &'a [u8],
    },
}

/// `mvccpb.Event_EventType`'s `String()`.
pub fn event_type_name(event_type: i32) -> String {
    match event_type {
        0 => "PUT".to_string(),
        1 => "DELETE".to_string(),
        other => other.to_string(),
    }
}

/// Prints responses in one format.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// The `--write-out` format.
    pub format: Format,
    /// Key-value style for `simple` output.
    pub style: KvStyle,
}

/// etcdctl's table printer draws only endpoint (and member) tables; for
/// anything else it fails after the request was made.
fn table_unsupported() -> CtlError {
    CtlError::bad_feature("table not supported as output format")
}

/// etcdctl's fields printer has no `user get` or `user list`.
fn fields_unsupported() -> CtlError {
    CtlError::bad_feature("fields not supported as output format")
}

fn json_line(out: &mut dyn Write, value: &json::Json) -> Result<(), CtlError> {
    writeln!(out, "{}", value.encode())?;
    Ok(())
}

impl Printer {
    /// A printer for `format`; `hex` is the global `--hex`.
    pub fn new(format: Format, hex: bool) -> Printer {
        Printer {
            format,
            style: KvStyle {
                hex,
                value_only: false,
            },
        }
    }

    /// `put`.
    pub fn put(&self, out: &mut dyn Write, r: &PutResponse) -> Result<(), CtlError> {
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Simple => simple::put(out, self.style, r)?,
            Format::Json => json_line(out, &json::put_json(r))?,
            Format::Fields => fields::put(out, r)?,
        }
        Ok(())
    }

    /// `get`; `count_only` and `value_only` are the get flags, which
    /// etcdctl allows only with `fields` and `simple` respectively.
    pub fn get(
        &self,
        out: &mut dyn Write,
        r: &RangeResponse,
        count_only: bool,
        value_only: bool,
    ) -> Result<(), CtlError> {
        if count_only && self.format != Format::Fields {
            return Err(CtlError::bad_args(
                "--count-only is only for `--write-out=fields`",
            ));
        }
        if value_only && self.format != Format::Simple {
            return Err(CtlError::bad_args(
                "print-value-only is only for `--write-out=simple`",
            ));
        }
        let style = KvStyle {
            value_only,
            ..self.style
        };
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Simple => simple::get(out, style, r)?,
            Format::Json => json_line(out, &json::range_json(r))?,
            Format::Fields => fields::get(out, r)?,
        }
        Ok(())
    }

    /// `del`.
    pub fn del(&self, out: &mut dyn Write, r: &DeleteRangeResponse) -> Result<(), CtlError> {
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Simple => simple::del(out, self.style, r)?,
            Format::Json => json_line(out, &json::delete_json(r))?,
            Format::Fields => fields::del(out, r)?,
        }
        Ok(())
    }

    /// `txn`.
    pub fn txn(&self, out: &mut dyn Write, r: &TxnResponse) -> Result<(), CtlError> {
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Simple => simple::txn(out, self.style, r)?,
            Format::Json => json_line(out, &json::txn_json(r))?,
            Format::Fields => fields::txn(out, r)?,
        }
        Ok(())
    }

    /// `watch`, one response.
    pub fn watch(&self, out: &mut dyn Write, r: &WatchResponse) -> Result<(), CtlError> {
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Simple => simple::watch(out, self.style, r)?,
            Format::Json => json_line(out, &json::watch_json(r))?,
            Format::Fields => fields::watch(out, r)?,
        }
        Ok(())
    }

    /// `lease grant`.
    pub fn lease_grant(&self, out: &mut dyn Write, r: &LeaseGrantResponse) -> Result<(), CtlError> {
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Simple => simple::lease_grant(out, r)?,
            Format::Json => json_line(out, &json::lease_grant_json(r))?,
            Format::Fields => fields::lease_grant(out, r)?,
        }
        Ok(())
    }

    /// `lease revoke` of lease `id`.
    pub fn lease_revoke(
        &self,
        out: &mut dyn Write,
        id: i64,
        r: &LeaseRevokeResponse,
    ) -> Result<(), CtlError> {
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Simple => simple::lease_revoke(out, id)?,
            Format::Json => json_line(out, &json::lease_revoke_json(r))?,
            Format::Fields => fields::lease_revoke(out, r)?,
        }
        Ok(())
    }

    /// `lease keep-alive`, one response.
    pub fn lease_keep_alive(
        &self,
        out: &mut dyn Write,
        r: &LeaseKeepAliveResponse,
    ) -> Result<(), CtlError> {
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Simple => simple::lease_keep_alive(out, r)?,
            Format::Json => json_line(out, &json::lease_keep_alive_json(r))?,
            Format::Fields => fields::lease_keep_alive(out, r)?,
        }
        Ok(())
    }

    /// `lease timetolive [--keys]`.
    pub fn lease_time_to_live(
        &self,
        out: &mut dyn Write,
        r: &LeaseTimeToLiveResponse,
        keys: bool,
    ) -> Result<(), CtlError> {
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Simple => simple::lease_time_to_live(out, r, keys)?,
            Format::Json => json_line(out, &json::lease_time_to_live_json(r))?,
            Format::Fields => fields::lease_time_to_live(out, r)?,
        }
        Ok(())
    }

    /// `lease list`.
    pub fn lease_leases(
        &self,
        out: &mut dyn Write,
        r: &LeaseLeasesResponse,
    ) -> Result<(), CtlError> {
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Simple => simple::lease_leases(out, r)?,
            Format::Json => json_line(out, &json::lease_leases_json(r))?,
            Format::Fields => fields::lease_leases(out, r)?,
        }
        Ok(())
    }

    /// A user or role change (`user add`, `role grant-permission`, ...):
    /// simple says what was done, json and fields print the header.
    pub fn auth_done(
        &self,
        out: &mut dyn Write,
        done: &AuthDone<'_>,
        header: Option<&ResponseHeader>,
    ) -> Result<(), CtlError> {
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Simple => simple::auth_done(out, done)?,
            Format::Json => json_line(out, &json::header_only_json(header))?,
            Format::Fields => fields::header_only(out, header)?,
        }
        Ok(())
    }

    /// `user get <name>` (without `--detail`); fields, as in etcdctl, is
    /// not supported.
    pub fn user_get(
        &self,
        out: &mut dyn Write,
        name: &str,
        r: &AuthUserGetResponse,
    ) -> Result<(), CtlError> {
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Fields => return Err(fields_unsupported()),
            Format::Simple => simple::user_get(out, name, r)?,
            Format::Json => json_line(out, &json::user_get_json(r))?,
        }
        Ok(())
    }

    /// `user list`; fields, as in etcdctl, is not supported.
    pub fn user_list(&self, out: &mut dyn Write, r: &AuthUserListResponse) -> Result<(), CtlError> {
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Fields => return Err(fields_unsupported()),
            Format::Simple => simple::names(out, &r.users)?,
            Format::Json => json_line(out, &json::user_list_json(r))?,
        }
        Ok(())
    }

    /// `role get <name>` (and each role of `user get --detail`).
    pub fn role_get(
        &self,
        out: &mut dyn Write,
        name: &str,
        r: &AuthRoleGetResponse,
    ) -> Result<(), CtlError> {
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Simple => simple::role_get(out, name, r)?,
            Format::Json => json_line(out, &json::role_get_json(r))?,
            Format::Fields => fields::role_get(out, r)?,
        }
        Ok(())
    }

    /// `role list`.
    pub fn role_list(&self, out: &mut dyn Write, r: &AuthRoleListResponse) -> Result<(), CtlError> {
        match self.format {
            Format::Table => return Err(table_unsupported()),
            Format::Simple => simple::names(out, &r.roles)?,
            Format::Json => json_line(out, &json::role_list_json(r))?,
            Format::Fields => fields::role_list(out, r)?,
        }
        Ok(())
    }

    /// `endpoint status`.
    pub fn endpoint_status(&self, out: &mut dyn Write, list: &[EpStatus]) -> Result<(), CtlError> {
        match self.format {
            Format::Simple => simple::endpoint_status(out, list)?,
            Format::Json => json_line(out, &json::endpoint_status_json(list))?,
            Format::Fields => fields::endpoint_status(out, list)?,
            Format::Table => table::render(
                out,
                &simple::ENDPOINT_STATUS_HEADER,
                &simple::endpoint_status_rows(list),
            )?,
        }
        Ok(())
    }

    /// `endpoint health`; `err` receives simple output (etcdctl 3.4 prints
    /// it on stderr).
    pub fn endpoint_health(
        &self,
        out: &mut dyn Write,
        err: &mut dyn Write,
        list: &[EpHealth],
    ) -> Result<(), CtlError> {
        match self.format {
            Format::Simple => simple::endpoint_health(out, err, list)?,
            Format::Json => json_line(out, &json::endpoint_health_json(list))?,
            Format::Fields => fields::endpoint_health(out, list)?,
            Format::Table => {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|h| {
                        vec![
                            h.endpoint.clone(),
                            h.health.to_string(),
                            h.took.clone(),
                            h.error.clone(),
                        ]
                    })
                    .collect();
                table::render(out, &["endpoint", "health", "took", "error"], &rows)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use etcq_net::pb::{
        authpb::Permission,
        etcdserverpb::{response_op::Response, LeaseStatus, ResponseHeader, ResponseOp},
        mvccpb::{Event, KeyValue},
    };

    fn kv(key: &'static [u8], value: &'static [u8]) -> KeyValue {
        KeyValue {
            key: Bytes::from_static(key),
            create_revision: 2,
            mod_revision: 3,
            version: 1,
            value: Bytes::from_static(value),
            lease: 0,
        }
    }

    fn header() -> Option<ResponseHeader> {
        Some(ResponseHeader {
            cluster_id: 1,
            member_id: 2,
            revision: 3,
            raft_term: 4,
        })
    }

    fn simple() -> Printer {
        Printer::new(Format::Simple, false)
    }

    fn text(print: impl FnOnce(&mut Vec<u8>) -> Result<(), CtlError>) -> String {
        let mut out = Vec::new();
        print(&mut out).expect("prints");
        String::from_utf8(out).expect("utf8")
    }

    fn range(kvs: Vec<KeyValue>) -> RangeResponse {
        RangeResponse {
            header: header(),
            count: kvs.len() as i64,
            kvs,
            more: false,
        }
    }

    #[test]
    fn simple_get_prints_key_then_value_lines() {
        let r = range(vec![kv(b"foo", b"bar"), kv(b"zoo", b"")]);
        assert_eq!(
            text(|o| simple().get(o, &r, false, false)),
            "foo\nbar\nzoo\n\n"
        );
        assert_eq!(text(|o| simple().get(o, &r, false, true)), "bar\n\n");
        let hex = Printer::new(Format::Simple, true);
        assert_eq!(
            text(|o| hex.get(o, &range(vec![kv(b"k", b"\x00\xff")]), false, false)),
            "\\x6b\n\\x00\\xff\n"
        );
    }

    #[test]
    fn simple_writes_raw_bytes() {
        let mut out = Vec::new();
        simple()
            .get(&mut out, &range(vec![kv(b"\xff", b"\x00")]), false, false)
            .expect("prints");
        assert_eq!(out, b"\xff\n\x00\n");
    }

    #[test]
    fn count_only_is_fields_only_and_value_only_simple_only() {
        let r = range(vec![kv(b"a", b"1")]);
        let mut out = Vec::new();
        let err = simple()
            .get(&mut out, &r, true, false)
            .expect_err("count-only");
        assert_eq!(err.message, "--count-only is only for `--write-out=fields`");
        let json = Printer::new(Format::Json, false);
        assert!(json.get(&mut out, &r, true, false).is_err());
        assert!(json.get(&mut out, &r, false, true).is_err());
        let fields = Printer::new(Format::Fields, false);
        let printed = text(|o| fields.get(o, &r, true, false));
        assert!(
            printed.ends_with("\"More\" : false\n\"Count\" : 1\n"),
            "{printed}"
        );
    }

    #[test]
    fn simple_put_and_del_with_prev_kvs() {
        let put = PutResponse {
            header: header(),
            prev_kv: Some(kv(b"k", b"old")),
        };
        assert_eq!(text(|o| simple().put(o, &put)), "OK\nk\nold\n");
        let del = DeleteRangeResponse {
            header: header(),
            deleted: 2,
            prev_kvs: vec![kv(b"a", b"1"), kv(b"b", b"2")],
        };
        assert_eq!(text(|o| simple().del(o, &del)), "2\na\n1\nb\n2\n");
    }

    #[test]
    fn simple_txn_separates_responses_with_empty_lines() {
        let r = TxnResponse {
            header: header(),
            succeeded: true,
            responses: vec![
                ResponseOp {
                    response: Some(Response::ResponsePut(PutResponse::default())),
                },
                ResponseOp {
                    response: Some(Response::ResponseRange(range(vec![kv(b"k", b"v")]))),
                },
                ResponseOp {
                    response: Some(Response::ResponseDeleteRange(DeleteRangeResponse {
                        deleted: 1,
                        ..Default::default()
                    })),
                },
            ],
        };
        assert_eq!(
            text(|o| simple().txn(o, &r)),
            "SUCCESS\n\nOK\n\nk\nv\n\n1\n"
        );
        let failed = TxnResponse {
            succeeded: false,
            ..Default::default()
        };
        assert_eq!(text(|o| simple().txn(o, &failed)), "FAILURE\n");
    }

    #[test]
    fn simple_watch_prints_type_prev_kv_then_kv() {
        let r = WatchResponse {
            header: header(),
            events: vec![
                Event {
                    r#type: 0,
                    kv: Some(kv(b"foo", b"new")),
                    prev_kv: Some(kv(b"foo", b"old")),
                },
                Event {
                    r#type: 1,
                    kv: Some(kv(b"foo", b"")),
                    prev_kv: None,
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            text(|o| simple().watch(o, &r)),
            "PUT\nfoo\nold\nfoo\nnew\nDELETE\nfoo\n\n"
        );
    }

    #[test]
    fn simple_lease_lines() {
        let id = 0x694d71ddacfda227;
        let grant = LeaseGrantResponse {
            header: header(),
            id,
            ttl: 10,
            error: String::new(),
        };
        assert_eq!(
            text(|o| simple().lease_grant(o, &grant)),
            "lease 694d71ddacfda227 granted with TTL(10s)\n"
        );
        assert_eq!(
            text(|o| simple().lease_revoke(o, id, &LeaseRevokeResponse::default())),
            "lease 694d71ddacfda227 revoked\n"
        );
        let ttl = LeaseTimeToLiveResponse {
            header: header(),
            id,
            ttl: 7,
            granted_ttl: 10,
            keys: vec![Bytes::from_static(b"k1"), Bytes::from_static(b"k2")],
        };
        assert_eq!(
            text(|o| simple().lease_time_to_live(o, &ttl, false)),
            "lease 694d71ddacfda227 granted with TTL(10s), remaining(7s)\n"
        );
        assert_eq!(
            text(|o| simple().lease_time_to_live(o, &ttl, true)),
            "lease 694d71ddacfda227 granted with TTL(10s), remaining(7s), attached keys([k1 k2])\n"
        );
        let expired = LeaseTimeToLiveResponse {
            id,
            ttl: -1,
            ..Default::default()
        };
        assert_eq!(
            text(|o| simple().lease_time_to_live(o, &expired, true)),
            "lease 694d71ddacfda227 already expired\n"
        );
        let list = LeaseLeasesResponse {
            header: header(),
            leases: vec![LeaseStatus { id }, LeaseStatus { id: 42 }],
        };
        assert_eq!(
            text(|o| simple().lease_leases(o, &list)),
            "found 2 leases\n694d71ddacfda227\n000000000000002a\n"
        );
        let ka = LeaseKeepAliveResponse {
            header: header(),
            id,
            ttl: 10,
        };
        assert_eq!(
            text(|o| simple().lease_keep_alive(o, &ka)),
            "lease 694d71ddacfda227 keepalived with TTL(10)\n"
        );
    }

    fn perm(perm_type: i32, key: &'static [u8], range_end: &'static [u8]) -> Permission {
        Permission {
            perm_type,
            key: Bytes::from_static(key),
            range_end: Bytes::from_static(range_end),
        }
    }

    fn reader_role() -> AuthRoleGetResponse {
        AuthRoleGetResponse {
            header: header(),
            perm: vec![
                perm(0, b"\0", b"\0"),
                perm(2, b"a", b"b"),
                perm(0, b"a/", b"a0"),
                perm(1, b"k", b""),
                perm(0, b"m", b"p"),
                perm(0, b"z", b"\0"),
                perm(0, b"\xff", b"\0"),
            ],
        }
    }

    #[test]
    fn simple_auth_changes_use_etcdctl_texts() {
        let cases: [(AuthDone<'_>, &str); 9] = [
            (AuthDone::UserAdd("alice"), "User alice created\n"),
            (AuthDone::UserDelete("alice"), "User alice deleted\n"),
            (AuthDone::UserPasswd, "Password updated\n"),
            (
                AuthDone::UserGrantRole {
                    user: "alice",
                    role: "reader",
                },
                "Role reader is granted to user alice\n",
            ),
            (
                AuthDone::UserRevokeRole {
                    user: "alice",
                    role: "reader",
                },
                "Role reader is revoked from user alice\n",
            ),
            (AuthDone::RoleAdd("reader"), "Role reader created\n"),
            (AuthDone::RoleDelete("reader"), "Role reader deleted\n"),
            (
                AuthDone::RoleGrantPermission("reader"),
                "Role reader updated\n",
            ),
            (
                AuthDone::RoleRevokePermission {
                    role: "reader",
                    key: b"k",
                    range_end: b"",
                },
                "Permission of key k is revoked from role reader\n",
            ),
        ];
        for (done, expected) in cases {
            assert_eq!(
                text(|o| simple().auth_done(o, &done, header().as_ref())),
                expected
            );
        }
        let range = AuthDone::RoleRevokePermission {
            role: "reader",
            key: b"a",
            range_end: b"b",
        };
        assert_eq!(
            text(|o| simple().auth_done(o, &range, None)),
            "Permission of range [a, b) is revoked from role reader\n"
        );
        let open = AuthDone::RoleRevokePermission {
            role: "reader",
            key: b"z",
            range_end: b"\0",
        };
        assert_eq!(
            text(|o| simple().auth_done(o, &open, None)),
            "Permission of range [z, <open ended> is revoked from role reader\n"
        );
    }

    #[test]
    fn auth_changes_in_json_and_fields_are_the_header() {
        let json = Printer::new(Format::Json, false);
        let done = AuthDone::RoleAdd("reader");
        assert_eq!(
            text(|o| json.auth_done(o, &done, header().as_ref())),
            "{\"header\":{\"cluster_id\":1,\"member_id\":2,\"revision\":3,\"raft_term\":4}}\n"
        );
        assert_eq!(text(|o| json.auth_done(o, &done, None)), "{}\n");
        let fields = Printer::new(Format::Fields, false);
        assert_eq!(
            text(|o| fields.auth_done(o, &done, header().as_ref())),
            "\"ClusterID\" : 1\n\"MemberID\" : 2\n\"Revision\" : 3\n\"RaftTerm\" : 4\n"
        );
        let table = Printer::new(Format::Table, false);
        let err = table
            .auth_done(&mut Vec::new(), &done, None)
            .expect_err("table");
        assert_eq!(err.code, 4);
    }

    #[test]
    fn simple_role_get_prints_keys_ranges_prefixes_and_open_ends() {
        let mut out = Vec::new();
        simple()
            .role_get(&mut out, "reader", &reader_role())
            .expect("prints");
        assert_eq!(
            out,
            b"Role reader\nKV Read:\n\t[\0, <open ended>\n\t[a, b) (prefix a)\n\
              \t[a/, a0) (prefix a/)\n\t[m, p)\n\t[z, <open ended>\n\
              \t[\xff, <open ended> (prefix \xff)\nKV Write:\n\t[a, b) (prefix a)\n\tk\n"
                .to_vec()
        );
        let empty = AuthRoleGetResponse::default();
        assert_eq!(
            text(|o| simple().role_get(o, "root", &empty)),
            "Role root\nKV Read:\nKV Write:\n"
        );
    }

    #[test]
    fn role_get_in_json_and_fields() {
        let role = AuthRoleGetResponse {
            header: None,
            perm: vec![perm(0, b"a/", b"a0"), perm(2, b"k", b"")],
        };
        let json = Printer::new(Format::Json, false);
        assert_eq!(
            text(|o| json.role_get(o, "reader", &role)),
            "{\"perm\":[{\"key\":\"YS8=\",\"range_end\":\"YTA=\"},{\"permType\":2,\"key\":\"aw==\"}]}\n"
        );
        let fields = Printer::new(Format::Fields, false);
        let printed = text(|o| fields.role_get(o, "reader", &role));
        assert!(
            printed.ends_with(
                "\"PermType\" :  READ\n\"Key\" : \"a/\"\n\"RangeEnd\" : \"a0\"\n\
                 \"PermType\" :  READWRITE\n\"Key\" : \"k\"\n\"RangeEnd\" : \"\"\n"
            ),
            "{printed}"
        );
    }

    #[test]
    fn users_and_role_lists() {
        let alice = AuthUserGetResponse {
            header: header(),
            roles: vec!["reader".into(), "writer".into()],
        };
        assert_eq!(
            text(|o| simple().user_get(o, "alice", &alice)),
            "User: alice\nRoles: reader writer\n"
        );
        assert_eq!(
            text(|o| simple().user_get(o, "bob", &AuthUserGetResponse::default())),
            "User: bob\nRoles:\n"
        );
        let json = Printer::new(Format::Json, false);
        let alice_json = text(|o| json.user_get(o, "alice", &alice));
        assert!(
            alice_json.ends_with(",\"roles\":[\"reader\",\"writer\"]}\n"),
            "{alice_json}"
        );
        let users = AuthUserListResponse {
            header: None,
            users: vec!["alice".into(), "root".into()],
        };
        assert_eq!(text(|o| simple().user_list(o, &users)), "alice\nroot\n");
        assert_eq!(
            text(|o| json.user_list(o, &users)),
            "{\"users\":[\"alice\",\"root\"]}\n"
        );
        let roles = AuthRoleListResponse {
            header: None,
            roles: vec!["reader".into(), "root".into()],
        };
        assert_eq!(text(|o| simple().role_list(o, &roles)), "reader\nroot\n");
        assert_eq!(
            text(|o| json.role_list(o, &roles)),
            "{\"roles\":[\"reader\",\"root\"]}\n"
        );
        assert_eq!(
            text(|o| json.role_list(o, &AuthRoleListResponse::default())),
            "{}\n"
        );
        let fields = Printer::new(Format::Fields, false);
        assert!(text(|o| fields.role_list(o, &roles))
            .ends_with("\"RaftTerm\" : 0\n\"Roles\" : \"reader\" \"root\"\n"));
        // etcdctl's fields printer has no user get or user list
        for err in [
            fields.user_get(&mut Vec::new(), "alice", &alice),
            fields.user_list(&mut Vec::new(), &users),
        ] {
            let err = err.expect_err("fields");
            assert_eq!(
                (err.code, err.message.as_str()),
                (4, "fields not supported as output format")
            );
        }
    }

    fn status() -> EpStatus {
        EpStatus {
            endpoint: "127.0.0.1:2379".into(),
            status: StatusResponse {
                header: Some(ResponseHeader {
                    member_id: 0x8e9e05c52164694d,
                    ..Default::default()
                }),
                version: "3.4.0".into(),
                db_size: 20480,
                leader: 0x8e9e05c52164694d,
                raft_index: 4,
                raft_term: 2,
                raft_applied_index: 4,
                ..Default::default()
            },
        }
    }

    #[test]
    fn simple_endpoint_status_is_one_line_per_endpoint() {
        assert_eq!(
            text(|o| simple().endpoint_status(o, &[status()])),
            "127.0.0.1:2379, 8e9e05c52164694d, 3.4.0, 20 kB, true, false, 2, 4, 4, \n"
        );
    }

    #[test]
    fn table_endpoint_status_draws_a_table() {
        let table = Printer::new(Format::Table, false);
        let printed = text(|o| table.endpoint_status(o, &[status()]));
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines.len(), 5, "{printed}");
        assert!(
            lines[1].starts_with("|    ENDPOINT    |        ID        | VERSION | DB SIZE |"),
            "{printed}"
        );
        assert!(
            lines[3].starts_with("| 127.0.0.1:2379 | 8e9e05c52164694d |   3.4.0 |   20 kB |"),
            "{printed}"
        );
    }

    #[test]
    fn simple_endpoint_health_goes_to_stderr_like_etcdctl_3_4() {
        let list = [
            EpHealth {
                endpoint: "a:1".into(),
                health: true,
                took: "1.2ms".into(),
                error: String::new(),
            },
            EpHealth {
                endpoint: "b:1".into(),
                health: false,
                took: "5s".into(),
                error: "context deadline exceeded".into(),
            },
        ];
        let (mut out, mut err) = (Vec::new(), Vec::new());
        simple()
            .endpoint_health(&mut out, &mut err, &list)
            .expect("prints");
        assert!(out.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&err),
            "a:1 is healthy: successfully committed proposal: took = 1.2ms\n\
             b:1 is unhealthy: failed to commit proposal: context deadline exceeded\n"
        );
    }

    #[test]
    fn fields_output_quotes_strings_like_go() {
        let fields = Printer::new(Format::Fields, false);
        let put = PutResponse {
            header: header(),
            prev_kv: Some(kv(b"k\n", b"v\"")),
        };
        assert_eq!(
            text(|o| fields.put(o, &put)),
            "\"ClusterID\" : 1\n\"MemberID\" : 2\n\"Revision\" : 3\n\"RaftTerm\" : 4\n\
             \"PrevKey\" : \"k\\n\"\n\"PrevCreateRevision\" : 2\n\"PrevModRevision\" : 3\n\
             \"PrevVersion\" : 1\n\"PrevValue\" : \"v\\\"\"\n\"PrevLease\" : 0\n"
        );
    }

    #[test]
    fn json_output_is_one_line() {
        let json = Printer::new(Format::Json, false);
        let printed = text(|o| {
            json.put(
                o,
                &PutResponse {
                    header: header(),
                    prev_kv: None,
                },
            )
        });
        assert_eq!(
            printed,
            "{\"header\":{\"cluster_id\":1,\"member_id\":2,\"revision\":3,\"raft_term\":4}}\n"
        );
    }

    #[test]
    fn table_is_only_for_endpoint_commands() {
        let table = Printer::new(Format::Table, false);
        let mut out = Vec::new();
        let err = table
            .put(&mut out, &PutResponse::default())
            .expect_err("put");
        assert_eq!(
            (err.code, err.message.as_str()),
            (4, "table not supported as output format")
        );
        assert!(table
            .lease_leases(&mut out, &LeaseLeasesResponse::default())
            .is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn unknown_formats_are_refused() {
        assert_eq!(Format::parse("json"), Ok(Format::Json));
        let err = Format::parse("yaml").expect_err("unknown");
        assert_eq!(
            (err.code, err.message.as_str()),
            (4, "unsupported output format")
        );
    }
}
