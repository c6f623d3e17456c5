#!/usr/bin/python3
"""python3-etcd3gw (Debian's 2.0, the JSON gateway client) against one endpoint.

Usage: /usr/bin/python3 python_etcd3gw.py <host:port>

etcd3gw 2.0 defaults to the /v3alpha/ gateway path, which etcd 3.4 no
longer serves (404): the first section records that, the rest use /v3/.
Prints "### <label>" sections of JSON for the Rust harness.
"""

import json
import queue
import sys
import threading

from etcd3gw.client import Etcd3Client
import etcd3gw.exceptions  # noqa: E402

host, port = sys.argv[1].rsplit(":", 1)
WAIT = 10  # seconds, for every watch


def plain(v):
    if isinstance(v, bytes):
        return v.decode()
    raise TypeError(type(v).__name__)


def out(label, value):
    print("### " + label)
    print(json.dumps(value, sort_keys=True, default=plain))
    sys.stdout.flush()


def attempt(label, f):
    try:
        out(label, {"ok": f()})
    except etcd3gw.exceptions.Etcd3Exception as e:
        out(label, {"error": type(e).__name__, "detail": str(e.detail_text) if hasattr(e, "detail_text") else str(e)})


alpha = Etcd3Client(host=host, port=int(port), timeout=10)
attempt("default-v3alpha-path-put", lambda: alpha.put("gw/alpha", "x"))

c = Etcd3Client(host=host, port=int(port), timeout=10, api_path="/v3/")
beta = Etcd3Client(host=host, port=int(port), timeout=10, api_path="/v3beta/")
attempt("v3beta-path-put", lambda: beta.put("gw/beta", "b"))
out("put-a", c.put("gw/a", "1"))
out("put-b", c.put("gw/b", "2"))
out("put-a-again", c.put("gw/a", "11"))
out("get-a", c.get("gw/a"))
out("get-a-metadata", [[v, m] for v, m in c.get("gw/a", metadata=True)])
out("get-missing", c.get("gw/nosuch"))
out("get-prefix", [[v, m["key"]] for v, m in c.get_prefix("gw/")])
out("get-prefix-desc", [[v, m["key"]] for v, m in c.get_prefix("gw/", sort_order="descend", sort_target="key")])
out("get-all", [[v, m["key"]] for v, m in c.get_all()])
out("create-new", c.create("gw/new", "n"))
out("create-existing", c.create("gw/new", "n2"))
out("replace-match", c.replace("gw/new", "n", "n3"))
out("replace-mismatch", c.replace("gw/new", "n", "n4"))
out("get-new", c.get("gw/new"))
out("delete-one", c.delete("gw/new"))
out("delete-missing", c.delete("gw/new"))
out("txn-raw", c.transaction({
    "compare": [{"key": "Z3cvYQ==", "result": "EQUAL", "target": "VALUE", "value": "MTE="}],
    "success": [{"request_put": {"key": "Z3cvdA==", "value": "eWVz"}}],
    "failure": [],
}))

# Leases.
lease = c.lease(ttl=100)
print("@@id lease %x" % lease.id)
out("put-with-lease", c.put("gw/leased", "v", lease=lease))
out("lease-keys", sorted(k.decode() for k in lease.keys()))
out("lease-ttl-in-range", 90 <= lease.ttl() <= 100)
out("lease-refresh", lease.refresh())
out("lease-revoke", lease.revoke())
out("lease-ttl-revoked", lease.ttl())
out("lease-refresh-revoked", lease.refresh())
out("get-leased-gone", c.get("gw/leased"))

# Locks (etcd3gw's own lock: a key under /locks/ created in a txn).
lock = c.lock(id="gwlock", ttl=30)
out("lock-acquire", lock.acquire())
print("@@id lease %x" % lock.lease.id)
out("lock-is-acquired", lock.is_acquired())
out("lock-release", lock.release())
out("lock-is-acquired-after-release", lock.is_acquired())


# Watch (streamed over the gateway): history from a known revision, then a
# live event.
def revision():
    return int(c.post(c.get_url("/kv/range"), json={"key": "cmV2"})["header"]["revision"])


def collect(watch, n):
    events_iterator, cancel = watch
    got = queue.Queue()

    def reader():
        for e in events_iterator:
            got.put(e)

    threading.Thread(target=reader, daemon=True).start()
    events = []
    try:
        while len(events) < n:
            events.append(got.get(timeout=WAIT))
    except queue.Empty:
        events.append("watch-deadline")
    cancel()
    return events


start = revision() + 1
c.put("gww/a", "1")
c.put("gww/b", "2")
c.delete("gww/a")
out("watch-key-history", collect(c.watch("gww/a", start_revision=start), 2))
out("watch-prefix-history", collect(c.watch_prefix("gww/", start_revision=start), 3))
out("watch-prefix-prev-kv", collect(c.watch_prefix("gww/", start_revision=start, prev_kv=True), 3))
nxt = revision() + 1
c.put("gww/once", "o")
out("watch-once", c.watch_once("gww/once", timeout=WAIT, start_revision=nxt))
try:
    c.watch_once("gww/never", timeout=0.5)
    out("watch-once-timeout", "no timeout")
except etcd3gw.exceptions.WatchTimedOut:
    out("watch-once-timeout", "WatchTimedOut")

# Cluster and maintenance.
members = []


def members_list():
    members.extend(c.members())
    return [{"name": m.get("name"), "peers": len(m.get("peerURLs", [])),
             "clients": len(m.get("clientURLs", []))} for m in members]


def status():
    st = c.status()
    return {"version": st["version"], "keys": sorted(st.keys()),
            "leader_is_member": bool(members) and st["leader"] == members[0]["ID"]}


attempt("members", members_list)
attempt("status", status)
out("delete-prefix", c.delete_prefix("gw"))
out("get-all-at-end", [[v, m["key"]] for v, m in c.get_all()])
