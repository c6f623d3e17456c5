//! etcd compatibility scenarios: every test runs one scenario script
//! (tests/compat/*.sh, *.py) against Debian's etcd 3.4.23 and against etcq,
//! each freshly started on 127.0.0.1, checks what each side answered, and
//! compares etcq's normalized output with etcd's section by section. See
//! tests/compat/harness.rs for the harness and the known-difference table,
//! docs/compatibility.md for the differences and what is not covered.
//!
//! `ETCQ_COMPAT=etcd cargo test --test compat` runs only the etcd side.

#[path = "compat/harness.rs"]
mod harness;

use harness::{Checks, Scenario};
use serde_json::{json, Value};

/// Number of elements of an array (0 when absent).
fn len(v: &Value) -> usize {
    v.as_array().map(Vec::len).unwrap_or(0)
}

#[test]
fn etcdctl_kv() {
    Scenario::sh("etcdctl_kv").run(|c: &mut Checks<'_>| {
        c.eq("put-a", "OK\nrc=0");
        c.eq("get-one", "k/a\nva\nrc=0");
        c.json_at("get-one-json", "/kvs/0/value", json!("dmE="));
        c.json_at("get-one-json", "/header/revision", json!(7));
        c.has("get-one-fields", "\"Value\" : \"va\"");
        c.eq("get-one-hex", "\\x6b\\x2f\\x61\n\\x76\\x61\nrc=0");
        c.eq("get-missing", "rc=0");
        c.eq("get-serializable", "k/a\nva\nrc=0");
        // The endpoint written as a URL, as etcd's docs write it.
        c.eq("get-url-endpoint", "k/a\nva\nrc=0");
        c.eq("get-range", "k/a\nva\nk/b\nvb\nrc=0");
        c.eq(
            "get-prefix",
            "k/a\nva\nk/b\nvb\nk/c\nvc\nk/d\nvd\nk/e\nve\nrc=0",
        );
        c.eq("get-limit", "k/a\nva\nk/b\nvb\nrc=0");
        c.json_at("get-limit-json", "/more", json!(true));
        c.json_at("get-limit-json", "/count", json!(5));
        c.eq("get-from-key", "k/c\nvc\nk/d\nvd\nk/e\nve\nother\nx\nrc=0");
        c.eq("get-from-key-keys", "k/c\n\nk/d\n\nk/e\n\nother\n\nrc=0");
        let keys_only = c.json("get-keys-only-json");
        if keys_only["kvs"][0].get("value").is_some() {
            c.fail(format!("get-keys-only-json: values returned: {keys_only}"));
        }
        c.eq("get-print-value-only", "va\nvb\nvc\nvd\nve\nrc=0");
        c.eq(
            "get-sort-key-desc",
            "k/e\nve\nk/d\nvd\nk/c\nvc\nk/b\nvb\nk/a\nva\nrc=0",
        );
        c.eq("get-sort-create-desc", "k/e\nve\nk/d\nvd\nk/c\nvc\nrc=0");
        c.eq(
            "get-order-only",
            "k/e\nve\nk/d\nvd\nk/c\nvc\nk/b\nvb\nk/a\nva\nrc=0",
        );
        c.eq("put-a-again", "OK\nk/a\nva\nrc=0");
        c.json_at("put-a-again-json", "/prev_kv/value", json!("dmEy"));
        c.json_at("get-a-version", "/kvs/0/version", json!(3));
        c.json_at("get-a-version", "/kvs/0/mod_revision", json!(9));
        c.eq(
            "get-sort-modify-desc",
            "k/a\n\nk/e\n\nk/d\n\nk/c\n\nk/b\n\nrc=0",
        );
        c.eq("get-rev-2", "k/a\nva\nrc=0");
        c.json_at("get-rev-8", "/kvs/0/value", json!("dmEy"));
        c.eq("get-rev-prefix", "k/a\n\nk/b\n\nk/c\n\nrc=0");
        c.has("get-rev-future", "required revision is a future revision");
        c.eq("get-stdin", "from stdin\nrc=0");
        c.json_at("get-ignore-value", "/kvs/0/value", json!("dmI="));
        c.json_at("get-ignore-value", "/kvs/0/version", json!(2));
        c.has("put-ignore-value-missing", "key not found");
        c.eq("lease-id-is-hex", "yes");
        c.has("get-leased-after-ignore", "\"Value\" : \"lv2\"");
        c.lacks("get-leased-after-ignore", "\"Lease\" : 0");
        c.has("put-bad-lease", "requested lease not found");
        c.has("put-empty-key", "key is not provided");
        c.eq("get-binary-hex", "\\x61\\x09\\x62\\x20\\x63\nrc=0");
        c.eq("del-one", "1\nrc=0");
        c.eq("del-one-missing", "0\nrc=0");
        c.eq("del-prev-kv", "1\nk/b\nvb\nrc=0");
        c.json_at("del-prev-kv-json", "/prev_kvs/0/value", json!("dmM="));
        c.eq("del-range", "1\nrc=0");
        c.json_at("del-prefix-json", "/deleted", json!(4));
        c.eq("get-after-del", "rc=0");
        c.eq("get-deleted-at-rev", "va\nrc=0");
        let left = c.json("get-nothing-left");
        if len(&left["kvs"]) != 0 {
            c.fail(format!("get-nothing-left: keys left: {left}"));
        }
    });
}

#[test]
fn etcdctl_txn() {
    Scenario::sh("etcdctl_txn").run(|c: &mut Checks<'_>| {
        c.eq("txn-value-eq-success", "SUCCESS\n\nOK\n\nt/a\n1\nrc=0");
        c.eq("get-b-after-success", "ok\nrc=0");
        c.eq(
            "txn-value-eq-failure",
            "FAILURE\n\nt/a\n1\n\nt/a\n1\nt/b\nok\n\nOK\nrc=0",
        );
        c.eq("get-b-after-failure", "failed\nrc=0");
        c.json_at("txn-multi-compare-json", "/succeeded", json!(true));
        c.json_at(
            "txn-multi-compare-json",
            "/responses/1/Response/ResponseDeleteRange/deleted",
            json!(1),
        );
        c.has("txn-fields", "\"Succeeded\" : true");
        c.eq("txn-mod-lt", "SUCCESS\n\nOK\nrc=0");
        c.eq("get-e", "no\nrc=0");
        c.eq("txn-create-eq", "SUCCESS\n\nOK\nrc=0");
        c.eq(
            "txn-create-eq-again",
            "FAILURE\n\nt/created-if-absent\n1\nrc=0",
        );
        c.json_at("txn-no-compare", "/succeeded", json!(true));
        c.has("txn-range-ops", "SUCCESS");
        c.json_at(
            "txn-put-prev-kv",
            "/responses/0/Response/ResponsePut/prev_kv/value",
            json!("MQ=="),
        );
        c.has("txn-duplicate-put", "duplicate key given in txn request");
        c.has("txn-malformed-compare", "malformed comparison");
        let all = c.json("get-all");
        if len(&all["kvs"]) != 5 || all["kvs"][0]["value"] != json!("MTA=") {
            c.fail(format!("get-all: expected 5 keys, t/a = 10: {all}"));
        }
    });
}

#[test]
fn etcdctl_watch() {
    Scenario::sh("etcdctl_watch").run(|c: &mut Checks<'_>| {
        c.eq("revision-after-writes", "6");
        c.eq(
            "watch-prefix-history",
            "PUT\nw/a\n1\nPUT\nw/b\n2\nPUT\nw/a\n3\nDELETE\nw/b\n\nok",
        );
        c.eq("watch-key-history", "PUT\nw/a\n1\nPUT\nw/a\n3\nok");
        c.eq(
            "watch-range-history",
            "PUT\nw/a\n1\nPUT\nw/b\n2\nPUT\nw/a\n3\nDELETE\nw/b\n\nok",
        );
        c.eq(
            "watch-prev-kv",
            "PUT\nw/a\n1\nPUT\nw/b\n2\nPUT\nw/a\n1\nw/a\n3\nDELETE\nw/b\n2\nw/b\n\nok",
        );
        c.has("watch-json", "\"Events\"");
        c.has("watch-fields", "\"Type\" : DELETE");
        c.has("watch-exec", "event \"DELETE\" key=\"w/b\" value=\"\" rev=");
        c.eq(
            "watch-live",
            "PUT\nlive/1\none\nPUT\nlive/2\ntwo\nDELETE\nlive/1",
        );
        c.eq("live-saw-3", "ok");
        c.has(
            "watch-live-cmd",
            "PUT\nlive/cmd\nhello\ncmd saw \"PUT\" \"live/cmd\"=\"hello\" rev=10\n",
        );
        c.has(
            "watch-live-cmd",
            "cmd saw \"PUT\" \"live/cmd\"=\"world\" rev=11",
        );
        c.eq("compact-4", "compacted revision 4\nrc=0");
        c.has("compact-4-again", "required revision has been compacted");
        c.has("compact-future", "required revision is a future revision");
        c.eq("compact-physical-5", "compacted revision 5\nrc=0");
        c.has("get-compacted-rev", "required revision has been compacted");
        c.json_at("get-at-compact-rev", "/kvs/0/value", json!("Mw=="));
        c.has("watch-compacted", "required revision has been compacted");
        c.has("watch-compacted-json", "\"CompactRevision\":5");
        c.eq("watch-from-compact-rev", "PUT\nw/a\n5\nok");
    });
}

#[test]
fn etcdctl_lease() {
    Scenario::sh("etcdctl_lease").run(|c: &mut Checks<'_>| {
        c.has("grant-100", "granted with TTL(100s)");
        c.json_at("grant-200-json", "/TTL", json!(200));
        c.has("ttl", "granted with TTL(300s), remaining(");
        // etcd prints the attached keys in a Go map's order.
        let k = c.side_raw("ttl-keys");
        if !k.contains("attached keys([lk1 lk2])") && !k.contains("attached keys([lk2 lk1])") {
            c.fail(format!("ttl-keys: expected lk1 and lk2 attached:\n{k}"));
        }
        let t = c.json("ttl-keys-json");
        let ttl = t["ttl"].as_i64().unwrap_or(-100);
        if !(290..=300).contains(&ttl) || t["granted-ttl"] != json!(300) {
            c.fail(format!("ttl-keys-json: remaining TTL out of range: {t}"));
        }
        c.has("ttl-fields", "\"GrantedTTL\" : 100");
        c.has("list", "found 3 leases");
        let l = c.json("list-json");
        if len(&l["leases"]) != 3 {
            c.fail(format!("list-json: expected 3 leases: {l}"));
        }
        c.has("keepalive-once", "keepalived with TTL(300)");
        c.json_at("keepalive-once-json", "/TTL", json!(200));
        c.has("revoke", "revoked");
        let g = c.json("get-after-revoke");
        if len(&g["kvs"]) != 0 {
            c.fail(format!("get-after-revoke: keys survived the revoke: {g}"));
        }
        c.has("revoke-again", "requested lease not found");
        c.has("ttl-revoked", "already expired");
        c.json_at("ttl-revoked-json", "/ttl", json!(-1));
        c.has("keepalive-revoked", "requested lease not found");
        c.has("put-revoked-lease", "requested lease not found");
        c.has("list-after-revoke", "found 2 leases");
        c.has("ttl-unknown", "already expired");
        let g = c.json("get-short-after-expiry");
        if len(&g["kvs"]) != 0 {
            c.fail(format!(
                "get-short-after-expiry: key outlived its lease: {g}"
            ));
        }
        c.has("ttl-expired", "already expired");
    });
}

#[test]
fn etcdctl_maintenance() {
    Scenario::sh("etcdctl_maintenance").run(|c: &mut Checks<'_>| {
        c.has("health", "is healthy: successfully committed proposal");
        c.json_at("health-json", "/0/health", json!(true));
        c.json_at("status-json", "/0/Status/header/revision", json!(3));
        c.eq("hashkv-stable", "stable");
        c.eq("hashkv-changes-on-write", "changed");
        c.eq("alarm-list", "rc=0");
        c.eq("alarm-disarm", "rc=0");
        c.has("defrag", "Finished defragmenting etcd member");
        c.eq("get-after-defrag", "m/a\n1\nm/b\n2\nm/c\n3\nrc=0");
        c.has("snapshot-save", "Snapshot saved at snap.db");
        c.eq("snapshot-file-nonempty", "yes");
        c.json_at("snapshot-status-json", "/revision", json!(4));
        c.has("move-leader-self", "Leadership transferred");
        c.has("move-leader-unknown", "bad leader transferee");
        c.json_at("get-after-maintenance", "/kvs/3/value", json!("NA=="));
    });
}

#[test]
fn etcdctl_cluster() {
    Scenario::sh("etcdctl_cluster").run(|c: &mut Checks<'_>| {
        c.has("member-list", ", started, n1, ");
        let m = c.json("member-list-json");
        if len(&m["members"]) != 1 || m["members"][0]["name"] != json!("n1") {
            c.fail(format!("member-list-json: expected one member n1: {m}"));
        }
        c.has("member-list-fields", "\"Name\" : \"n1\"");
        c.has("member-add-learner", "added to cluster");
        c.has(
            "member-list-with-learner",
            ", unstarted, , http://127.0.0.1:1, , true",
        );
        c.has(
            "member-promote-unsynced",
            "can only promote a learner member",
        );
        c.has("member-update", "updated in cluster");
        c.has("member-remove", "removed from cluster");
        c.has("member-remove-again", "member not found");
        c.lacks("member-list-after", "unstarted");
        c.eq("get-after", "1\nrc=0");
    });
}

#[test]
fn etcdctl_auth() {
    Scenario::sh("etcdctl_auth").run(|c: &mut Checks<'_>| {
        c.eq("user-list-empty", "rc=0");
        c.has("auth-enable-no-root", "root user does not exist");
        c.has("user-add", "User alice created");
        c.has("user-add-again", "user name already exists");
        c.has("role-add-again", "role name already exists");
        c.has("role-get", "KV Read:\n\t[a/, a0) (prefix a/)");
        c.has("user-grant-no-role", "role name not found");
        c.has("user-grant-no-user", "user name not found");
        c.has("user-get", "Roles: reader");
        c.has("user-revoke-again", "role is not granted to the user");
        c.has("user-delete", "User alice deleted");
        c.has("auth-disable", "Authentication Disabled");
        c.eq("put-still-works", "OK\nrc=0");
        c.eq("get-still-works", "1\nrc=0");
        // Auth enabled: etcdctl added the root role after etcd's refusal.
        c.has("auth-enable", "Authentication Enabled");
        c.has("root-user-get", "Roles: root");
        c.has("get-no-user", "etcdserver: user name is empty");
        c.has("put-no-user", "etcdserver: user name is empty");
        c.has(
            "get-wrong-password",
            "authentication failed, invalid user ID or password",
        );
        c.eq("bob-get-in-prefix", "1\nrc=0");
        c.eq("bob-get-key", "2\nrc=0");
        c.has("bob-get-outside", "etcdserver: permission denied");
        c.has("bob-get-from-key-denied", "etcdserver: permission denied");
        c.eq("bob-put-in-prefix", "OK\nrc=0");
        c.has("bob-put-read-only-key", "etcdserver: permission denied");
        c.eq("bob-put-from-key", "OK\nrc=0");
        c.has("bob-put-outside", "etcdserver: permission denied");
        c.has("bob-del-prefix-wider", "etcdserver: permission denied");
        c.has("bob-txn-ok", "SUCCESS");
        c.has("bob-txn-denied-compare", "etcdserver: permission denied");
        c.has("bob-txn-denied-op", "etcdserver: permission denied");
        c.eq("bob-watch-in-prefix", "PUT\na/x\n1\nok");
        c.has("bob-watch-denied", "code = PermissionDenied");
        c.has("watch-no-user", "user name is empty");
        c.has("bob-user-list", "etcdserver: permission denied");
        c.has("bob-user-get-self", "Roles: rw");
        c.has("bob-role-get-root", "etcdserver: permission denied");
        c.has("bob-auth-disable", "etcdserver: permission denied");
        c.has("bob-hashkv", "auth: permission denied");
        c.has("root-delete-root", "invalid auth management");
        c.eq("curl-authenticate", "<simple token>");
        c.has("curl-range-with-token", "\"value\":\"MQ==\"");
        c.has("curl-range-denied", "\"code\":7");
        c.has("curl-range-bad-token", "\"code\":16");
        c.has("bob-old-password", "invalid user ID or password");
        c.eq("bob-new-password", "1\nrc=0");
        c.has("curl-old-token", "etcdserver: invalid auth token");
        c.has("root-add-no-password", "User carol created");
        c.has("carol-get", "password was given for no password user");
        c.has("root-auth-disable", "Authentication Disabled");
        c.eq("get-after-disable", "1\nrc=0");
    });
}

#[test]
fn etcdctl_lock_elect() {
    Scenario::sh("etcdctl_lock_elect").run(|c: &mut Checks<'_>| {
        c.eq("lock-cmd", "holding lk1\nrc=0");
        c.has("lock-cmd-exit-code", "exit status 3");
        let l = c.json("lock-released");
        if len(&l["kvs"]) != 0 {
            c.fail(format!("lock-released: lock key left behind: {l}"));
        }
        c.eq("a-acquired", "ok");
        let w = c.json("lock-waiters");
        if len(&w["kvs"]) != 2 {
            c.fail(format!("lock-waiters: expected holder and waiter: {w}"));
        }
        c.eq("b-waits-while-a-holds", "");
        c.eq("b-acquired", "ok");
        c.eq("lock-output-a", "A-holds\nA-done");
        c.eq("lock-output-b", "B-holds");
        c.eq("a-exit", "rc=0");
        c.eq("b-exit", "rc=0");
        c.has("lock-key-printed", "lk3/");
        let g = c.json("lock-key-gone-after-kill");
        if len(&g["kvs"]) != 0 {
            c.fail(format!("lock-key-gone-after-kill: key left: {g}"));
        }
        c.eq("p1-elected", "ok");
        c.eq("observer-saw-p1", "ok");
        c.eq("p2-waiting", "");
        c.eq("p2-elected", "ok");
        c.eq("observer-saw-p2", "ok");
        let obs = c.json("election-keys");
        if len(&obs["kvs"]) != 2 {
            c.fail(format!("election-keys: expected two candidates: {obs}"));
        }
        let observed = c.side_raw("observer-output");
        let lines: Vec<&str> = observed.lines().collect();
        if lines.len() != 4 || lines[1] != "p1" || lines[3] != "p2" {
            c.fail(format!("observer-output: expected p1 then p2:\n{observed}"));
        }
        let e = c.json("election-empty-at-end");
        if len(&e["kvs"]) != 0 {
            c.fail(format!("election-empty-at-end: keys left: {e}"));
        }
    });
}

#[test]
fn python_etcd3() {
    Scenario::python("python_etcd3").run(|c: &mut Checks<'_>| {
        c.json_at("get-a", "/value", json!("11"));
        c.json_at("get-a", "/meta/version", json!(2));
        c.json_at("get-missing", "/value", Value::Null);
        let p = c.json("get-prefix");
        if len(&p) != 3 || p[2]["value"] != json!("3") {
            c.fail(format!("get-prefix: {p}"));
        }
        c.json_at("get-prefix-desc-by-value", "/0/value", json!("3"));
        c.json_at("range-limit", "/more", json!(true));
        c.json_at("range-limit", "/count", json!(3));
        c.json_at("range-count-only", "/kvs", json!(0));
        c.json_at("range-at-revision-2", "/kvs/0/value", json!("1"));
        c.json_at("range-future-revision", "/code", json!("OUT_OF_RANGE"));
        c.eq("put-if-not-exists-new", "true");
        c.eq("put-if-not-exists-existing", "false");
        c.eq("replace-match", "true");
        c.eq("replace-mismatch", "false");
        c.json_at("get-new", "/value", json!("n3"));
        c.json_at("delete-prefix", "/deleted", json!(2));
        c.json_at("put-empty-key", "/code", json!("INVALID_ARGUMENT"));
        c.json_at("txn-success", "/succeeded", json!(true));
        c.json_at("txn-failure", "/succeeded", json!(false));
        c.json_at("get-nested", "/value", json!("n"));
        c.json_at("txn-duplicate-key", "/code", json!("INVALID_ARGUMENT"));
        let w = c.json("watch-prefix-history");
        if len(&w) != 4 || w[3]["type"] != json!("DeleteEvent") {
            c.fail(format!("watch-prefix-history: {w}"));
        }
        c.json_at("watch-prefix-prev-kv", "/2/prev_value", json!("1"));
        c.json_at("watch-once", "/value", json!("o"));
        c.eq("watch-once-timeout", "\"WatchTimedOut\"");
        let live = c.json("watch-callback-live");
        if len(&live) != 2 {
            c.fail(format!("watch-callback-live: {live}"));
        }
        c.eq("lease-keys", "[\"l/a\", \"l/b\"]"); // sorted by the script
        c.eq("lease-remaining-in-range", "true");
        c.eq("lease-refresh", "[120]");
        c.json_at("lease-info", "/ttl_in_range", json!(true));
        c.eq("lease-revoked-keys-gone", "[]");
        c.json_at("lease-info-revoked", "/TTL", json!(-1));
        c.json_at("put-with-revoked-lease", "/code", json!("NOT_FOUND"));
        c.eq("lock-acquire", "true");
        c.eq("lock-is-acquired", "true");
        c.eq("lock-other-not-acquired", "false");
        c.eq("lock-released", "false");
        c.eq("lock-other-acquires", "true");
        c.eq("lock-context", "true");
        c.eq("locks-left", "[]");
        c.json_at("members", "/0/name", json!("n1"));
        c.json_at("status", "/leader_is_member", json!(true));
        c.eq("hash-stable", "true");
        c.json_at("get-compacted", "/code", json!("OUT_OF_RANGE"));
        c.json_at("after-defragment", "/value", json!("1"));
    });
}

#[test]
fn json_gateway_curl() {
    Scenario::sh("json_gateway_curl").run(|c: &mut Checks<'_>| {
        c.has("put-a", "http=200");
        c.json_at("put-a", "/header/revision", json!("2"));
        c.json_at("put-a-prev-kv", "/prev_kv/value", json!("MQ=="));
        c.has("put-c-v3beta", "http=200");
        c.json_at("range-one", "/kvs/0/value", json!("MTE="));
        c.json_at("range-one", "/count", json!("1"));
        c.json_at("range-v3beta", "/kvs/0/value", json!("Mw=="));
        c.json_at("range-limit", "/more", json!(true));
        c.json_at("range-count-only", "/count", json!("3"));
        c.lacks("range-count-only", "\"kvs\"");
        c.lacks("range-keys-only", "\"value\"");
        c.json_at("range-sort-desc", "/kvs/0/value", json!("Mw=="));
        c.json_at("range-rev-2", "/kvs/0/value", json!("MQ=="));
        c.has("range-future-rev", "http=400");
        c.json_at("range-future-rev", "/code", json!(11));
        c.has("range-bad-json", "http=400");
        c.has("put-no-key", "key is not provided");
        c.json_at("txn-success", "/succeeded", json!(true));
        c.json_at(
            "txn-failure",
            "/responses/0/response_delete_range/deleted",
            json!("1"),
        );
        c.json_at("txn-create-revision", "/succeeded", json!(true));
        c.has("txn-duplicate", "duplicate key given in txn request");
        c.json_at("deleterange-one", "/deleted", json!("1"));
        c.has("watch-history", "\"created\":true");
        c.has("watch-history", "\"events\"");
        c.has("watch-prev-kv", "\"prev_kv\"");
        c.has("watch-filter-noput", "\"type\":\"DELETE\"");
        c.lacks("watch-filter-noput", "\"value\"");
        c.eq("live-seen", "ok");
        c.has("watch-live", "\"key\":\"Zy9saXZl\"");
        c.has("compaction", "http=200");
        c.has("compaction-again", "required revision has been compacted");
        c.has("range-compacted", "required revision has been compacted");
        c.has("watch-compacted", "\"canceled\":true");
        c.json_at("lease-grant", "/TTL", json!("100"));
        c.json_at("lease-timetolive", "/grantedTTL", json!("100"));
        c.json_at("lease-timetolive", "/keys/0", json!("Zy9sZWFzZWQ="));
        c.has("lease-keepalive", "\"TTL\":\"200\"");
        c.has("lease-revoke", "http=200");
        c.has("lease-revoke-again", "requested lease not found");
        c.json_at("lease-timetolive-revoked", "/TTL", json!("-1"));
        c.lacks("range-leased-gone", "\"kvs\"");
        c.json_at("member-list", "/members/0/name", json!("n1"));
        c.has("status", "\"version\"");
        c.eq("health", "{\"health\":\"true\"}\nhttp=200");
        c.has("version", "\"etcdserver\"");
    });
}

#[test]
fn python_etcd3gw() {
    Scenario::python("python_etcd3gw").run(|c: &mut Checks<'_>| {
        c.json_at("v3beta-path-put", "/ok", json!(true));
        c.eq("get-a", "[\"11\"]");
        c.eq("get-missing", "[]");
        c.eq(
            "get-prefix",
            "[[\"11\", \"gw/a\"], [\"2\", \"gw/b\"], [\"b\", \"gw/beta\"]]",
        );
        c.eq("create-new", "true");
        c.eq("create-existing", "false");
        c.eq("replace-match", "true");
        c.eq("replace-mismatch", "false");
        c.eq("get-new", "[\"n3\"]");
        c.eq("delete-one", "true");
        c.eq("delete-missing", "false");
        c.json_at("txn-raw", "/succeeded", json!(true));
        c.eq("lease-keys", "[\"gw/leased\"]");
        c.eq("lease-ttl-in-range", "true");
        c.eq("lease-refresh", "100");
        c.eq("lease-ttl-revoked", "-1");
        c.eq("get-leased-gone", "[]");
        c.eq("lock-acquire", "true");
        c.eq("lock-is-acquired", "true");
        c.eq("lock-is-acquired-after-release", "false");
        let w = c.json("watch-prefix-history");
        if len(&w) != 3 || w[2]["type"] != json!("DELETE") {
            c.fail(format!("watch-prefix-history: {w}"));
        }
        c.json_at("watch-once", "/kv/value", json!("o"));
        c.eq("watch-once-timeout", "\"WatchTimedOut\"");
        c.json_at("members", "/ok/0/name", json!("n1"));
        c.json_at("status", "/ok/leader_is_member", json!(true));
        c.eq("get-all-at-end", "[]");
    });
}
