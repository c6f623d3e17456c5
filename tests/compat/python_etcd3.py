#!/usr/bin/python3
"""python3-etcd3 (Debian's 0.12, over etcd's v3 gRPC) against one endpoint.

Usage: /usr/bin/python3 python_etcd3.py <host:port>

Prints "### <label>" sections, each holding one JSON document (or an error
line), for the Rust harness to normalize and compare. Lease IDs are
declared to the harness with "@@id lease <hex>" lines. Every wait is bounded.
"""

import json
import queue
import sys
import threading

import etcd3
import grpc
import etcd3.events
from etcd3 import etcdrpc

host, port = sys.argv[1].rsplit(":", 1)
c = etcd3.client(host=host, port=int(port), timeout=10)
WAIT = 10  # seconds, for every watch


def out(label, value):
    print("### " + label)
    print(json.dumps(value, sort_keys=True))
    sys.stdout.flush()


def header(h):
    return {
        "cluster_id": h.cluster_id,
        "member_id": h.member_id,
        "revision": h.revision,
        "raft_term": h.raft_term,
    }


def meta(m):
    if m is None:
        return None
    return {
        "key": m.key.decode(),
        "create_revision": m.create_revision,
        "mod_revision": m.mod_revision,
        "version": m.version,
        "lease": m.lease_id,
    }


def kv(pair):
    value, m = pair
    return {"value": None if value is None else value.decode(), "meta": meta(m)}


def event(e):
    return {
        "type": type(e).__name__,
        "key": e.key.decode(),
        "value": e.value.decode(),
        "mod_revision": e.mod_revision,
        "version": e.version,
        "prev_value": e.prev_value.decode() if getattr(e, "prev_value", None) else None,
    }


def error(label, f):
    try:
        r = f()
        out(label, {"ok": repr(r) if not isinstance(r, (dict, list, str, int, bool, type(None))) else r})
    except grpc.RpcError as e:  # the gRPC status code and text are compared
        out(label, {"error": type(e).__name__, "code": e.code().name, "details": e.details()})
    except Exception as e:  # etcd3's own exception classes
        out(label, {"error": type(e).__name__, "detail": str(e).splitlines()[0] if str(e) else ""})


def declare_lease(lease_id):
    print("@@id lease %x" % lease_id)


# --- kv --------------------------------------------------------------------
r = c.put("p/a", "1")
out("put-a", header(r.header))
r = c.put("p/b", "2", prev_kv=True)
out("put-b-prev-kv-none", {"header": header(r.header), "has_prev_kv": r.HasField("prev_kv")})
r = c.put("p/a", "11", prev_kv=True)
out("put-a-prev-kv", {"header": header(r.header), "prev_value": r.prev_kv.value.decode(),
                      "prev_mod_revision": r.prev_kv.mod_revision})
c.put("p/c", "3")
c.put("q/other", "x")
out("get-a", kv(c.get("p/a")))
out("get-missing", kv(c.get("p/nosuch")))
out("get-serializable", kv(c.get("p/b", serializable=True)))
out("get-prefix", [kv(p) for p in c.get_prefix("p/")])
out("get-prefix-desc-by-value", [kv(p) for p in c.get_prefix("p/", sort_order="descend", sort_target="value")])
out("get-range", [kv(p) for p in c.get_range("p/a", "p/c")])
out("get-all", [kv(p) for p in c.get_all()])
r = c.get_prefix_response("p/", keys_only=True)
out("get-prefix-keys-only", {"header": header(r.header), "count": r.count, "more": r.more,
                             "keys": [x.key.decode() for x in r.kvs], "values": [x.value.decode() for x in r.kvs]})


# The library's get helpers drop limit/revision/count_only (python3-etcd3
# 0.12): those go through its generated gRPC stub directly.
def raw_range(**fields):
    return c.kvstub.Range(etcdrpc.RangeRequest(**fields), c.timeout)


r = raw_range(key=b"p/", range_end=b"p0", limit=2)
out("range-limit", {"header": header(r.header), "count": r.count, "more": r.more,
                    "keys": [x.key.decode() for x in r.kvs]})
r = raw_range(key=b"p/", range_end=b"p0", count_only=True)
out("range-count-only", {"header": header(r.header), "count": r.count, "kvs": len(r.kvs)})
r = raw_range(key=b"p/a", revision=2)
out("range-at-revision-2", {"header": header(r.header),
                            "kvs": [{"value": x.value.decode(), "mod_revision": x.mod_revision} for x in r.kvs]})
r = raw_range(key=b"p/", range_end=b"p0", min_mod_revision=4, keys_only=True)
out("range-min-mod-revision", [x.key.decode() for x in r.kvs])
error("range-future-revision", lambda: raw_range(key=b"p/a", revision=10000))
out("put-if-not-exists-new", c.put_if_not_exists("p/new", "n"))
out("put-if-not-exists-existing", c.put_if_not_exists("p/new", "n2"))
out("replace-match", c.replace("p/new", "n", "n3"))
out("replace-mismatch", c.replace("p/new", "n", "n4"))
out("get-new", kv(c.get("p/new")))
out("delete-one", c.delete("p/new"))
out("delete-missing", c.delete("p/new"))
r = c.delete("p/c", prev_kv=True, return_response=True)
out("delete-prev-kv", {"header": header(r.header), "deleted": r.deleted,
                       "prev": [x.value.decode() for x in r.prev_kvs]})
r = c.delete_prefix("p/")
out("delete-prefix", {"header": header(r.header), "deleted": r.deleted})
out("get-prefix-after-delete", [kv(p) for p in c.get_prefix("p/")])
error("put-empty-key", lambda: c.put("", "v"))

# --- transactions ----------------------------------------------------------
c.put("t/a", "1")
ok, resp = c.transaction(
    compare=[c.transactions.value("t/a") == "1", c.transactions.version("t/a") > 0],
    success=[c.transactions.put("t/b", "yes"), c.transactions.get("t/a")],
    failure=[c.transactions.put("t/b", "no")],
)
out("txn-success", {"succeeded": ok, "responses": [
    [kv(p) for p in r] if isinstance(r, list) else type(r).__name__ for r in resp]})
ok, resp = c.transaction(
    compare=[c.transactions.value("t/a") != "1"],
    success=[c.transactions.put("t/b", "yes")],
    failure=[c.transactions.delete("t/b"), c.transactions.get("t/b")],
)
out("txn-failure", {"succeeded": ok, "responses": [
    [kv(p) for p in r] if isinstance(r, list) else type(r).__name__ for r in resp]})
ok, resp = c.transaction(
    compare=[c.transactions.create("t/a") > 0, c.transactions.mod("t/a") < 1000],
    success=[c.transactions.txn(compare=[c.transactions.value("t/a") == "1"],
                                success=[c.transactions.put("t/nested", "n")],
                                failure=[])],
    failure=[],
)
out("txn-nested", {"succeeded": ok, "nested": [str(type(r).__name__) for r in resp]})
out("get-nested", kv(c.get("t/nested")))
error("txn-duplicate-key", lambda: c.transaction(compare=[], success=[
    c.transactions.put("t/z", "1"), c.transactions.put("t/z", "2")], failure=[]))

# --- watch -----------------------------------------------------------------
start = c.get_response("rev-probe").header.revision + 1
c.put("w/a", "1")
c.put("w/b", "2")
c.put("w/a", "3")
c.delete("w/b")
c.put("x/unrelated", "u")

def collect(watch, n):
    """Takes n events from a (events_iterator, cancel) pair within WAIT s."""
    events_iterator, cancel = watch
    got = queue.Queue()

    def reader():
        try:
            for e in events_iterator:
                got.put(e)
        except Exception as ex:  # reported below
            got.put(ex)

    threading.Thread(target=reader, daemon=True).start()
    events = []
    try:
        while len(events) < n:
            e = got.get(timeout=WAIT)
            if isinstance(e, Exception):
                events.append({"error": type(e).__name__})
                break
            events.append(event(e))
    except queue.Empty:
        events.append("watch-deadline")
    cancel()
    return events

out("watch-key-history", collect(c.watch("w/a", start_revision=start), 2))
out("watch-prefix-history", collect(c.watch_prefix("w/", start_revision=start), 4))
out("watch-prefix-prev-kv", collect(c.watch_prefix("w/", start_revision=start, prev_kv=True), 4))
out("watch-range", collect(c.watch("w/a", range_end="w/c", start_revision=start + 1), 3))

# watch_once: bounded wait for the next event (start_revision makes it
# independent of when the watch is registered).
nxt = c.get_response("rev-probe").header.revision + 1
c.put("w/once", "o")
out("watch-once", event(c.watch_once("w/once", timeout=WAIT, start_revision=nxt)))
try:
    c.watch_once("w/never", timeout=0.5)
    out("watch-once-timeout", "no timeout")
except etcd3.exceptions.WatchTimedOut:
    out("watch-once-timeout", "WatchTimedOut")

# A live watch callback.
nxt = c.get_response("rev-probe").header.revision + 1
q = queue.Queue()
wid = c.add_watch_prefix_callback("live/", q.put, start_revision=nxt)
live = []
# Each write waits for the previous event: one response per revision, as
# for a watcher that keeps up.
for write in (lambda: c.put("live/1", "one"), lambda: c.delete("live/1")):
    write()
    try:
        resp = q.get(timeout=WAIT)
    except queue.Empty:
        live.append("watch-deadline")
        break
    if isinstance(resp, Exception):
        live.append({"error": type(resp).__name__})
        break
    live.append({"header_revision": resp.header.revision,
                 "events": [event(e) for e in resp.events]})
c.cancel_watch(wid)
out("watch-callback-live", live)

# --- leases ----------------------------------------------------------------
lease = c.lease(120)
declare_lease(lease.id)
out("lease-granted", {"ttl": lease.ttl, "granted_ttl": lease.granted_ttl})
c.put("l/a", "1", lease=lease)
c.put("l/b", "2", lease=lease.id)
out("lease-keys", sorted(k.decode() for k in lease.keys))
out("get-leased", kv(c.get("l/a")))
rem = lease.remaining_ttl
out("lease-remaining-in-range", 110 <= rem <= 120)
refreshed = [r.TTL for r in lease.refresh()]
out("lease-refresh", refreshed)
info = c.get_lease_info(lease.id)
out("lease-info", {"grantedTTL": info.grantedTTL, "keys": sorted(k.decode() for k in info.keys),
                   "ttl_in_range": 110 <= info.TTL <= 120})
lease2 = c.lease(60)
declare_lease(lease2.id)
lease.revoke()
out("lease-revoked-keys-gone", [kv(p) for p in c.get_prefix("l/")])
out("lease-info-revoked", {"TTL": c.get_lease_info(lease.id).TTL})
out("lease-refresh-revoked", [r.TTL for r in c.refresh_lease(lease.id)])
error("put-with-revoked-lease", lambda: c.put("l/c", "3", lease=lease.id))
c.revoke_lease(lease2.id)

# --- locks -----------------------------------------------------------------
lock = c.lock("res", ttl=30)
out("lock-acquire", lock.acquire(timeout=WAIT))
declare_lease(lock.lease.id)
out("lock-is-acquired", lock.is_acquired())
other = c.lock("res", ttl=30)
# A contended acquire() is not run: python3-etcd3 0.12's retry callback does
# not match Debian's tenacity (TypeError in Lock.acquire.<locals>.wait).
out("lock-other-not-acquired", other.is_acquired())
out("lock-key", sorted(k.decode() for k, _ in [(m.key, None) for _, m in c.get_prefix("/locks/")]))
lock.release()
out("lock-released", lock.is_acquired())
out("lock-other-acquires", other.acquire(timeout=WAIT))
declare_lease(other.lease.id)
other.release()
with c.lock("ctx", ttl=30) as held:
    declare_lease(held.lease.id)
    out("lock-context", held.is_acquired())
out("locks-left", [kv(p) for p in c.get_prefix("/locks/")])

# --- cluster and maintenance -----------------------------------------------
# Each call on its own: one refusal must not hide the others.
members = []


def members_list():
    members.extend(c.members)
    return [{"id": m.id, "name": m.name, "peer_urls": list(m.peer_urls),
             "client_urls": list(m.client_urls)} for m in members]


def status():
    s = c.status()
    return {"version": s.version, "db_size_positive": s.db_size > 0,
            "leader_is_member": bool(members) and s.leader.id == members[0].id,
            "raft_index": s.raft_index, "raft_term": s.raft_term}


def value(label, f):
    """Like error(), but prints the value itself when there is no error."""
    try:
        out(label, f())
    except grpc.RpcError as e:
        out(label, {"error": type(e).__name__, "code": e.code().name, "details": e.details()})


value("members", members_list)
value("status", status)
value("alarms", lambda: [repr(a) for a in c.list_alarms()])
value("disarm", lambda: [repr(a) for a in c.disarm_alarm()])
value("hash-stable", lambda: c.hash() == c.hash())
rev = c.get_response("rev-probe").header.revision
value("compact", lambda: c.compact(rev - 3) or "compacted")
error("get-compacted", lambda: raw_range(key=b"w/a", revision=rev - 5))
error("compact-again", lambda: c.compact(rev - 3))
value("defragment", lambda: c.defragment() and "defragmented")
out("after-defragment", kv(c.get("t/a")))
c.close()
