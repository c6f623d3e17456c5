//! `-w json`: the bytes etcdctl prints, which are Go's `encoding/json` of
//! the gogo-protobuf response structs (and, for lease and watch
//! responses, of clientv3's wrapper structs). So:
//!
//! * field names are the `.proto` names (`cluster_id`, `create_revision`,
//!   `dbSize`), except where clientv3 wraps the message: lease responses
//!   flatten the header and use `ID`/`TTL` (grant, keep-alive), `id`/`ttl`/
//!   `granted-ttl` (time-to-live); watch responses use Go's field names
//!   (`Header`, `Events`, `CompactRevision`, `Canceled`, `Created`);
//! * protobuf fields are `omitempty`: zero numbers, `false`, empty bytes,
//!   strings and lists and absent messages are left out; the clientv3
//!   wrapper fields are not;
//! * bytes are standard base64, 64-bit integers plain JSON numbers, enums
//!   their numbers; a oneof appears under Go's field names, `{"Response":{"ResponsePut":...}}`
//!   (the oneof wrapper structs carry no json tags);
//! * fields come in declaration order and strings are escaped as Go does
//!   (`<`, `>`, `&` as `\u003c`...). That is why this module writes its own
//!   small ordered JSON value instead of `serde_json::Value`, whose maps
//!   are sorted.

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use etcq_net::pb::{
    authpb::Permission,
    etcdserverpb::{
        response_op::Response, AuthRoleGetResponse, AuthRoleListResponse, AuthUserGetResponse,
        AuthUserListResponse, DeleteRangeResponse, LeaseGrantResponse, LeaseKeepAliveResponse,
        LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, PutResponse,
        RangeResponse, ResponseHeader, ResponseOp, StatusResponse, TxnResponse, WatchResponse,
    },
    mvccpb::{Event, KeyValue},
};

use super::{EpHealth, EpStatus};

/// A JSON value whose objects keep their field order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null` (a nil slice or pointer without `omitempty`).
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    Uint(u64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, fields in order.
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    /// Compact encoding, as `json.Marshal` produces it.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => out.push_str(&n.to_string()),
            Json::Uint(n) => out.push_str(&n.to_string()),
            Json::Str(s) => write_go_string(s, out),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_go_string(name, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string the way `encoding/json` escapes it (HTML-safe).
fn write_go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Builds an object field by field, applying `omitempty` where asked.
#[derive(Debug, Default)]
struct Obj(Vec<(&'static str, Json)>);

impl Obj {
    fn new() -> Obj {
        Obj::default()
    }
    /// A field without `omitempty`.
    fn always(mut self, name: &'static str, value: Json) -> Obj {
        self.0.push((name, value));
        self
    }
    fn int(self, name: &'static str, v: i64) -> Obj {
        if v == 0 {
            self
        } else {
            self.always(name, Json::Int(v))
        }
    }
    fn uint(self, name: &'static str, v: u64) -> Obj {
        if v == 0 {
            self
        } else {
            self.always(name, Json::Uint(v))
        }
    }
    fn bool(self, name: &'static str, v: bool) -> Obj {
        if v {
            self.always(name, Json::Bool(true))
        } else {
            self
        }
    }
    fn bytes(self, name: &'static str, v: &[u8]) -> Obj {
        if v.is_empty() {
            self
        } else {
            self.always(name, Json::Str(BASE64.encode(v)))
        }
    }
    fn str(self, name: &'static str, v: &str) -> Obj {
        if v.is_empty() {
            self
        } else {
            self.always(name, Json::Str(v.to_string()))
        }
    }
    fn opt(self, name: &'static str, v: Option<Json>) -> Obj {
        match v {
            Some(v) => self.always(name, v),
            None => self,
        }
    }
    fn list(self, name: &'static str, items: Vec<Json>) -> Obj {
        if items.is_empty() {
            self
        } else {
            self.always(name, Json::Arr(items))
        }
    }
    /// The fields of an embedded `*pb.ResponseHeader` (Go flattens them
    /// into the outer object; a nil pointer contributes nothing).
    fn flatten_header(mut self, header: Option<&ResponseHeader>) -> Obj {
        if let Some(Json::Obj(fields)) = header.map(header_json) {
            self.0.extend(fields);
        }
        self
    }
    fn build(self) -> Json {
        Json::Obj(self.0)
    }
}

/// `pb.ResponseHeader`.
pub fn header_json(h: &ResponseHeader) -> Json {
    Obj::new()
        .uint("cluster_id", h.cluster_id)
        .uint("member_id", h.member_id)
        .int("revision", h.revision)
        .uint("raft_term", h.raft_term)
        .build()
}

fn header_field(h: &Option<ResponseHeader>) -> Option<Json> {
    h.as_ref().map(header_json)
}

/// `mvccpb.KeyValue`.
pub fn key_value_json(kv: &KeyValue) -> Json {
    Obj::new()
        .bytes("key", &kv.key)
        .int("create_revision", kv.create_revision)
        .int("mod_revision", kv.mod_revision)
        .int("version", kv.version)
        .bytes("value", &kv.value)
        .int("lease", kv.lease)
        .build()
}

/// `pb.RangeResponse` (`get`).
pub fn range_json(r: &RangeResponse) -> Json {
    Obj::new()
        .opt("header", header_field(&r.header))
        .list("kvs", r.kvs.iter().map(key_value_json).collect())
        .bool("more", r.more)
        .int("count", r.count)
        .build()
}

/// `pb.PutResponse` (`put`).
pub fn put_json(r: &PutResponse) -> Json {
    Obj::new()
        .opt("header", header_field(&r.header))
        .opt("prev_kv", r.prev_kv.as_ref().map(key_value_json))
        .build()
}

/// `pb.DeleteRangeResponse` (`del`).
pub fn delete_json(r: &DeleteRangeResponse) -> Json {
    Obj::new()
        .opt("header", header_field(&r.header))
        .int("deleted", r.deleted)
        .list("prev_kvs", r.prev_kvs.iter().map(key_value_json).collect())
        .build()
}

fn response_op_json(op: &ResponseOp) -> Json {
    let inner = match &op.response {
        Some(Response::ResponseRange(r)) => Json::Obj(vec![("ResponseRange", range_json(r))]),
        Some(Response::ResponsePut(r)) => Json::Obj(vec![("ResponsePut", put_json(r))]),
        Some(Response::ResponseDeleteRange(r)) => {
            Json::Obj(vec![("ResponseDeleteRange", delete_json(r))])
        }
        Some(Response::ResponseTxn(r)) => Json::Obj(vec![("ResponseTxn", txn_json(r))]),
        None => Json::Null,
    };
    Json::Obj(vec![("Response", inner)])
}

/// `pb.TxnResponse` (`txn`).
pub fn txn_json(r: &TxnResponse) -> Json {
    Obj::new()
        .opt("header", header_field(&r.header))
        .bool("succeeded", r.succeeded)
        .list(
            "responses",
            r.responses.iter().map(response_op_json).collect(),
        )
        .build()
}

/// `mvccpb.Event`; `type` is the enum's number (PUT, 0, is omitted).
pub fn event_json(e: &Event) -> Json {
    Obj::new()
        .int("type", i64::from(e.r#type))
        .opt("kv", e.kv.as_ref().map(key_value_json))
        .opt("prev_kv", e.prev_kv.as_ref().map(key_value_json))
        .build()
}

/// clientv3's `WatchResponse` (`watch`): Go field names, no `omitempty`,
/// the header a value (always present).
pub fn watch_json(r: &WatchResponse) -> Json {
    let header = r
        .header
        .as_ref()
        .map(header_json)
        .unwrap_or(Json::Obj(Vec::new()));
    let events = if r.events.is_empty() {
        Json::Null
    } else {
        Json::Arr(r.events.iter().map(event_json).collect())
    };
    Obj::new()
        .always("Header", header)
        .always("Events", events)
        .always("CompactRevision", Json::Int(r.compact_revision))
        .always("Canceled", Json::Bool(r.canceled))
        .always("Created", Json::Bool(r.created))
        .build()
}

/// clientv3's `LeaseGrantResponse` (`lease grant`).
pub fn lease_grant_json(r: &LeaseGrantResponse) -> Json {
    Obj::new()
        .flatten_header(r.header.as_ref())
        .always("ID", Json::Int(r.id))
        .always("TTL", Json::Int(r.ttl))
        .always("Error", Json::Str(r.error.clone()))
        .build()
}

/// `pb.LeaseRevokeResponse` (`lease revoke`).
pub fn lease_revoke_json(r: &LeaseRevokeResponse) -> Json {
    Obj::new().opt("header", header_field(&r.header)).build()
}

/// clientv3's `LeaseKeepAliveResponse` (`lease keep-alive`).
pub fn lease_keep_alive_json(r: &LeaseKeepAliveResponse) -> Json {
    Obj::new()
        .flatten_header(r.header.as_ref())
        .always("ID", Json::Int(r.id))
        .always("TTL", Json::Int(r.ttl))
        .build()
}

/// clientv3's `LeaseTimeToLiveResponse` (`lease timetolive`): `keys` is
/// `null` when there are none.
pub fn lease_time_to_live_json(r: &LeaseTimeToLiveResponse) -> Json {
    let keys = if r.keys.is_empty() {
        Json::Null
    } else {
        Json::Arr(r.keys.iter().map(|k| Json::Str(BASE64.encode(k))).collect())
    };
    Obj::new()
        .flatten_header(r.header.as_ref())
        .always("id", Json::Int(r.id))
        .always("ttl", Json::Int(r.ttl))
        .always("granted-ttl", Json::Int(r.granted_ttl))
        .always("keys", keys)
        .build()
}

/// clientv3's `LeaseLeasesResponse` (`lease list`): `leases` is always a list.
pub fn lease_leases_json(r: &LeaseLeasesResponse) -> Json {
    let leases = r
        .leases
        .iter()
        .map(|l| Json::Obj(vec![("id", Json::Int(l.id))]))
        .collect();
    Obj::new()
        .flatten_header(r.header.as_ref())
        .always("leases", Json::Arr(leases))
        .build()
}

/// `pb.StatusResponse`, with the `.proto`'s mixed-case names.
pub fn status_json(r: &StatusResponse) -> Json {
    let downgrade = r.downgrade_info.as_ref().map(|d| {
        Obj::new()
            .bool("enabled", d.enabled)
            .str("targetVersion", &d.target_version)
            .build()
    });
    Obj::new()
        .opt("header", header_field(&r.header))
        .str("version", &r.version)
        .int("dbSize", r.db_size)
        .uint("leader", r.leader)
        .uint("raftIndex", r.raft_index)
        .uint("raftTerm", r.raft_term)
        .uint("raftAppliedIndex", r.raft_applied_index)
        .list(
            "errors",
            r.errors.iter().map(|e| Json::Str(e.clone())).collect(),
        )
        .int("dbSizeInUse", r.db_size_in_use)
        .bool("isLearner", r.is_learner)
        .str("storageVersion", &r.storage_version)
        .int("dbSizeQuota", r.db_size_quota)
        .opt("downgradeInfo", downgrade)
        .build()
}

/// `endpoint status`: `[{"Endpoint":...,"Status":{...}}]`.
pub fn endpoint_status_json(list: &[EpStatus]) -> Json {
    Json::Arr(
        list.iter()
            .map(|ep| {
                Obj::new()
                    .always("Endpoint", Json::Str(ep.endpoint.clone()))
                    .always("Status", status_json(&ep.status))
                    .build()
            })
            .collect(),
    )
}

/// `endpoint health`: `[{"endpoint":...,"health":...,"took":...,"error":...}]`.
pub fn endpoint_health_json(list: &[EpHealth]) -> Json {
    Json::Arr(
        list.iter()
            .map(|h| {
                Obj::new()
                    .always("endpoint", Json::Str(h.endpoint.clone()))
                    .always("health", Json::Bool(h.health))
                    .always("took", Json::Str(h.took.clone()))
                    .str("error", &h.error)
                    .build()
            })
            .collect(),
    )
}

/// A response that is only a header (user and role changes).
pub fn header_only_json(h: Option<&ResponseHeader>) -> Json {
    Obj::new().opt("header", h.map(header_json)).build()
}

fn strings(names: &[String]) -> Vec<Json> {
    names.iter().map(|n| Json::Str(n.clone())).collect()
}

/// `authpb.Permission` (`permType` is the enum's number; READ, 0, is left
/// out).
pub fn permission_json(p: &Permission) -> Json {
    Obj::new()
        .int("permType", i64::from(p.perm_type))
        .bytes("key", &p.key)
        .bytes("range_end", &p.range_end)
        .build()
}

/// `user get`.
pub fn user_get_json(r: &AuthUserGetResponse) -> Json {
    Obj::new()
        .opt("header", header_field(&r.header))
        .list("roles", strings(&r.roles))
        .build()
}

/// `user list`.
pub fn user_list_json(r: &AuthUserListResponse) -> Json {
    Obj::new()
        .opt("header", header_field(&r.header))
        .list("users", strings(&r.users))
        .build()
}

/// `role get`.
pub fn role_get_json(r: &AuthRoleGetResponse) -> Json {
    Obj::new()
        .opt("header", header_field(&r.header))
        .list("perm", r.perm.iter().map(permission_json).collect())
        .build()
}

/// `role list`.
pub fn role_list_json(r: &AuthRoleListResponse) -> Json {
    Obj::new()
        .opt("header", header_field(&r.header))
        .list("roles", strings(&r.roles))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use etcq_net::pb::etcdserverpb::LeaseStatus;

    fn header() -> Option<ResponseHeader> {
        Some(ResponseHeader {
            cluster_id: 14841639068965178418,
            member_id: 10276657743932975437,
            revision: 7,
            raft_term: 2,
        })
    }

    const HEADER: &str = r#"{"cluster_id":14841639068965178418,"member_id":10276657743932975437,"revision":7,"raft_term":2}"#;

    fn kv(key: &'static [u8], value: &'static [u8]) -> KeyValue {
        KeyValue {
            key: Bytes::from_static(key),
            create_revision: 2,
            mod_revision: 7,
            version: 3,
            value: Bytes::from_static(value),
            lease: 0,
        }
    }

    #[test]
    fn get_is_the_range_response_with_base64_bytes_and_omitempty() {
        let r = RangeResponse {
            header: header(),
            kvs: vec![kv(b"foo", b"bar")],
            more: false,
            count: 1,
        };
        assert_eq!(
            range_json(&r).encode(),
            format!(
                r#"{{"header":{HEADER},"kvs":[{{"key":"Zm9v","create_revision":2,"mod_revision":7,"version":3,"value":"YmFy"}}],"count":1}}"#
            )
        );
        let empty = RangeResponse {
            header: Some(ResponseHeader {
                revision: 1,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(range_json(&empty).encode(), r#"{"header":{"revision":1}}"#);
    }

    #[test]
    fn put_and_del_carry_prev_kvs_when_asked() {
        let put = PutResponse {
            header: header(),
            prev_kv: Some(kv(b"k", b"")),
        };
        assert_eq!(
            put_json(&put).encode(),
            format!(
                r#"{{"header":{HEADER},"prev_kv":{{"key":"aw==","create_revision":2,"mod_revision":7,"version":3}}}}"#
            )
        );
        let del = DeleteRangeResponse {
            header: header(),
            deleted: 0,
            prev_kvs: vec![],
        };
        assert_eq!(
            delete_json(&del).encode(),
            format!(r#"{{"header":{HEADER}}}"#)
        );
    }

    #[test]
    fn txn_responses_are_wrapped_in_their_oneof() {
        let r = TxnResponse {
            header: header(),
            succeeded: true,
            responses: vec![
                ResponseOp {
                    response: Some(Response::ResponsePut(PutResponse {
                        header: Some(ResponseHeader {
                            revision: 7,
                            ..Default::default()
                        }),
                        prev_kv: None,
                    })),
                },
                ResponseOp {
                    response: Some(Response::ResponseRange(RangeResponse {
                        header: None,
                        kvs: vec![],
                        more: false,
                        count: 0,
                    })),
                },
            ],
        };
        assert_eq!(
            txn_json(&r).encode(),
            format!(
                r#"{{"header":{HEADER},"succeeded":true,"responses":[{{"Response":{{"ResponsePut":{{"header":{{"revision":7}}}}}}}},{{"Response":{{"ResponseRange":{{}}}}}}]}}"#
            )
        );
    }

    #[test]
    fn watch_uses_clientv3_field_names() {
        let r = WatchResponse {
            header: header(),
            events: vec![
                Event {
                    r#type: 0,
                    kv: Some(kv(b"foo", b"bar")),
                    prev_kv: None,
                },
                Event {
                    r#type: 1,
                    kv: Some(KeyValue {
                        key: Bytes::from_static(b"foo"),
                        mod_revision: 8,
                        ..Default::default()
                    }),
                    prev_kv: None,
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            watch_json(&r).encode(),
            format!(
                r#"{{"Header":{HEADER},"Events":[{{"kv":{{"key":"Zm9v","create_revision":2,"mod_revision":7,"version":3,"value":"YmFy"}}}},{{"type":1,"kv":{{"key":"Zm9v","mod_revision":8}}}}],"CompactRevision":0,"Canceled":false,"Created":false}}"#
            )
        );
    }

    #[test]
    fn lease_responses_flatten_the_header() {
        let grant = LeaseGrantResponse {
            header: header(),
            id: 7587848505016745239,
            ttl: 60,
            error: String::new(),
        };
        assert_eq!(
            lease_grant_json(&grant).encode(),
            r#"{"cluster_id":14841639068965178418,"member_id":10276657743932975437,"revision":7,"raft_term":2,"ID":7587848505016745239,"TTL":60,"Error":""}"#
        );
        let ttl = LeaseTimeToLiveResponse {
            header: None,
            id: 5,
            ttl: 8,
            granted_ttl: 10,
            keys: vec![],
        };
        assert_eq!(
            lease_time_to_live_json(&ttl).encode(),
            r#"{"id":5,"ttl":8,"granted-ttl":10,"keys":null}"#
        );
        let leases = LeaseLeasesResponse {
            header: None,
            leases: vec![LeaseStatus { id: 1 }, LeaseStatus { id: 2 }],
        };
        assert_eq!(
            lease_leases_json(&leases).encode(),
            r#"{"leases":[{"id":1},{"id":2}]}"#
        );
        let none = LeaseLeasesResponse::default();
        assert_eq!(lease_leases_json(&none).encode(), r#"{"leases":[]}"#);
        assert_eq!(
            lease_revoke_json(&LeaseRevokeResponse { header: header() }).encode(),
            format!(r#"{{"header":{HEADER}}}"#)
        );
    }

    #[test]
    fn endpoint_status_and_health_have_etcdctl_shapes() {
        let status = EpStatus {
            endpoint: "127.0.0.1:2379".into(),
            status: StatusResponse {
                header: header(),
                version: "3.4.0".into(),
                db_size: 20480,
                leader: 10276657743932975437,
                raft_index: 9,
                raft_term: 2,
                raft_applied_index: 9,
                ..Default::default()
            },
        };
        assert_eq!(
            endpoint_status_json(&[status]).encode(),
            format!(
                r#"[{{"Endpoint":"127.0.0.1:2379","Status":{{"header":{HEADER},"version":"3.4.0","dbSize":20480,"leader":10276657743932975437,"raftIndex":9,"raftTerm":2,"raftAppliedIndex":9}}}}]"#
            )
        );
        let health = [
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
        assert_eq!(
            endpoint_health_json(&health).encode(),
            r#"[{"endpoint":"a:1","health":true,"took":"1.2ms"},{"endpoint":"b:1","health":false,"took":"5s","error":"context deadline exceeded"}]"#
        );
    }

    #[test]
    fn strings_are_escaped_like_encoding_json() {
        let s = Json::Str("a\"b\\c\n<&>\u{1}é".into());
        assert_eq!(s.encode(), r#""a\"b\\c\n\u003c\u0026\u003e\u0001é""#);
    }

    #[test]
    fn output_is_valid_json() {
        let r = RangeResponse {
            header: header(),
            kvs: vec![kv(b"\xff\x00", b"<v>")],
            more: true,
            count: 2,
        };
        let parsed: serde_json::Value =
            serde_json::from_str(&range_json(&r).encode()).expect("valid JSON");
        assert_eq!(parsed["kvs"][0]["key"], "/wA=");
        assert_eq!(parsed["more"], true);
        assert_eq!(parsed["header"]["cluster_id"], 14841639068965178418u64);
    }
}
