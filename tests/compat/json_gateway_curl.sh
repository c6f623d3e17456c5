#!/bin/sh
# curl against the JSON gateway (grpc-gateway style: POST JSON, bytes in
# base64, int64 as strings): /v3/kv/*, /v3/watch (streamed), /v3/lease/*,
# /v3/cluster/member/list, /v3/maintenance/status, /health, /version, and
# which path prefixes are served (etcd 3.4.23: /v3/ and /v3beta/; /v3alpha/
# is gone).
. "$(dirname "$0")/lib.sh"

URL="http://$EP"
b64() { printf '%s' "$1" | base64 -w0; }

# post <label> <path> <json body>: one section, the body then the HTTP code.
post() {
    echo "### $1"
    curl -sS --max-time 10 -X POST "$URL$2" -d "$3" -w '\nhttp=%{http_code}\n' 2>&1
}

# get <label> <path>
get() {
    echo "### $1"
    curl -sS --max-time 10 "$URL$2" -w '\nhttp=%{http_code}\n' 2>&1
}

# stream <label> <lines> <path> <json body>: a streamed call (watch), read
# until it printed <lines> lines or 10 s pass (curl --max-time bounds it too).
stream() {
    label="$1"
    want="$2"
    out="$(mktemp)"
    : >"$out"
    curl -sS -N --max-time 10 -X POST "$URL$3" -d "$4" >"$out" 2>&1 &
    pid=$!
    status=$(wait_lines "$out" "$want")
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "### $label"
    cat "$out"
    echo
    echo "$status"
    rm -f "$out"
}

A=$(b64 g/a); B=$(b64 g/b); C=$(b64 g/c); P=$(b64 g/); PEND=$(b64 g0)
post put-a /v3/kv/put "{\"key\":\"$A\",\"value\":\"$(b64 1)\"}"
post put-b /v3/kv/put "{\"key\":\"$B\",\"value\":\"$(b64 2)\"}"
post put-a-prev-kv /v3/kv/put "{\"key\":\"$A\",\"value\":\"$(b64 11)\",\"prev_kv\":true}"
post put-c-v3beta /v3beta/kv/put "{\"key\":\"$C\",\"value\":\"$(b64 3)\"}"
post put-v3alpha /v3alpha/kv/put "{\"key\":\"$C\",\"value\":\"$(b64 4)\"}"
post range-one /v3/kv/range "{\"key\":\"$A\"}"
post range-v3beta /v3beta/kv/range "{\"key\":\"$C\"}"
post range-missing /v3/kv/range "{\"key\":\"$(b64 nosuch)\"}"
post range-prefix /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$PEND\"}"
post range-limit /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$PEND\",\"limit\":2}"
post range-limit-string /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$PEND\",\"limit\":\"1\"}"
post range-count-only /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$PEND\",\"count_only\":true}"
post range-keys-only /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$PEND\",\"keys_only\":true}"
post range-sort-desc /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$PEND\",\"sort_order\":\"DESCEND\",\"sort_target\":\"VALUE\"}"
post range-sort-enum-number /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$PEND\",\"sort_order\":2,\"sort_target\":1}"
post range-rev-2 /v3/kv/range "{\"key\":\"$A\",\"revision\":\"2\"}"
post range-future-rev /v3/kv/range "{\"key\":\"$A\",\"revision\":\"1000\"}"
post range-from-key /v3/kv/range "{\"key\":\"$B\",\"range_end\":\"AA==\",\"keys_only\":true}"
post range-bad-json /v3/kv/range 'not json'
post range-unknown-field /v3/kv/range "{\"key\":\"$A\",\"no_such_field\":1}"
post range-empty-body /v3/kv/range ''
post put-no-key /v3/kv/put "{\"value\":\"$(b64 x)\"}"
echo "### range-get-method"
curl -sS --max-time 10 "$URL/v3/kv/range" -w '\nhttp=%{http_code}\n' 2>&1
post unknown-path /v3/kv/nosuch '{}'
post txn-success /v3/kv/txn "{\"compare\":[{\"target\":\"VALUE\",\"key\":\"$A\",\"value\":\"$(b64 11)\",\"result\":\"EQUAL\"}],\"success\":[{\"request_put\":{\"key\":\"$(b64 g/t)\",\"value\":\"$(b64 yes)\"}},{\"request_range\":{\"key\":\"$A\"}}],\"failure\":[{\"request_put\":{\"key\":\"$(b64 g/t)\",\"value\":\"$(b64 no)\"}}]}"
post txn-failure /v3/kv/txn "{\"compare\":[{\"target\":\"VERSION\",\"key\":\"$A\",\"version\":\"9\",\"result\":\"GREATER\"}],\"success\":[],\"failure\":[{\"request_delete_range\":{\"key\":\"$(b64 g/t)\",\"prev_kv\":true}},{\"request_range\":{\"key\":\"$P\",\"range_end\":\"$PEND\",\"count_only\":true}}]}"
post txn-create-revision /v3/kv/txn "{\"compare\":[{\"target\":\"CREATE\",\"key\":\"$(b64 g/none)\",\"create_revision\":\"0\",\"result\":\"EQUAL\"}],\"success\":[{\"request_put\":{\"key\":\"$(b64 g/none)\",\"value\":\"$(b64 created)\"}}]}"
post txn-mod-lt /v3/kv/txn "{\"compare\":[{\"target\":\"MOD\",\"key\":\"$B\",\"mod_revision\":\"100\",\"result\":\"LESS\"}],\"success\":[{\"request_range\":{\"key\":\"$B\"}}]}"
post txn-duplicate /v3/kv/txn "{\"success\":[{\"request_put\":{\"key\":\"$A\"}},{\"request_put\":{\"key\":\"$A\"}}]}"
post deleterange-one /v3/kv/deleterange "{\"key\":\"$(b64 g/none)\",\"prev_kv\":true}"
post deleterange-missing /v3/kv/deleterange "{\"key\":\"$(b64 g/none)\"}"

# Watch: history from revision 2, with prev_kv, a filter, and a live event.
stream watch-history 2 /v3/watch "{\"create_request\":{\"key\":\"$P\",\"range_end\":\"$PEND\",\"start_revision\":\"2\"}}"
stream watch-prev-kv 2 /v3/watch "{\"create_request\":{\"key\":\"$A\",\"start_revision\":\"3\",\"prev_kv\":true}}"
stream watch-filter-noput 2 /v3/watch "{\"create_request\":{\"key\":\"$P\",\"range_end\":\"$PEND\",\"start_revision\":\"2\",\"filters\":[\"NOPUT\"]}}"
NEXT=$(curl -sS --max-time 10 -X POST "$URL/v3/kv/range" -d "{\"key\":\"$A\"}" | sed -E 's/.*"revision":"([0-9]+)".*/\1/')
NEXT=$((NEXT + 1))
out="$(mktemp)"
curl -sS -N --max-time 10 -X POST "$URL/v3/watch" -d "{\"create_request\":{\"key\":\"$(b64 g/live)\",\"start_revision\":\"$NEXT\"}}" >"$out" 2>&1 &
pid=$!
note live-created "$(wait_lines "$out" 1)"
post live-put /v3/kv/put "{\"key\":\"$(b64 g/live)\",\"value\":\"$(b64 L)\"}"
note live-seen "$(wait_lines "$out" 2)"
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
note watch-live "$(cat "$out")"
rm -f "$out"

# Compaction.
post compaction /v3/kv/compaction '{"revision":"3"}'
post compaction-again /v3/kv/compaction '{"revision":"3"}'
post compaction-physical /v3/kv/compaction '{"revision":"4","physical":true}'
post range-compacted /v3/kv/range "{\"key\":\"$A\",\"revision\":\"2\"}"
stream watch-compacted 2 /v3/watch "{\"create_request\":{\"key\":\"$A\",\"start_revision\":\"2\"}}"

# Leases.
G=$(curl -sS --max-time 10 -X POST "$URL/v3/lease/grant" -d '{"TTL":"100"}')
note lease-grant "$G"
LID=$(echo "$G" | sed -E 's/.*"ID":"([0-9]+)".*/\1/')
declare_id lease "$(printf '%x' "$LID")"
G2=$(curl -sS --max-time 10 -X POST "$URL/v3/lease/grant" -d '{"TTL":200}')
LID2=$(echo "$G2" | sed -E 's/.*"ID":"([0-9]+)".*/\1/')
declare_id lease "$(printf '%x' "$LID2")"
post put-with-lease /v3/kv/put "{\"key\":\"$(b64 g/leased)\",\"value\":\"$(b64 v)\",\"lease\":\"$LID\"}"
post lease-timetolive /v3/lease/timetolive "{\"ID\":\"$LID\",\"keys\":true}"
post lease-timetolive-kv-path /v3/kv/lease/timetolive "{\"ID\":\"$LID\"}"
post lease-leases /v3/lease/leases '{}'
post lease-leases-kv-path /v3/kv/lease/leases '{}'
post lease-keepalive /v3/lease/keepalive "{\"ID\":\"$LID2\"}"
post lease-revoke /v3/lease/revoke "{\"ID\":\"$LID\"}"
post lease-revoke-kv-path /v3/kv/lease/revoke "{\"ID\":\"$LID2\"}"
post lease-revoke-again /v3/lease/revoke "{\"ID\":\"$LID\"}"
post lease-timetolive-revoked /v3/lease/timetolive "{\"ID\":\"$LID\"}"
post range-leased-gone /v3/kv/range "{\"key\":\"$(b64 g/leased)\"}"
post lease-leases-empty /v3/lease/leases '{}'

# Cluster, maintenance, health, version.
post member-list /v3/cluster/member/list '{}'
post status /v3/maintenance/status '{}'
post alarm /v3/maintenance/alarm '{"action":"GET"}'
post hash-kv /v3/maintenance/hashkv '{"revision":"0"}'
post defragment /v3/maintenance/defragment '{}'
get health /health
get version /version
post auth-status /v3/auth/status '{}'
