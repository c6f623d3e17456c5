//! `--record-history`: every operation as one JSON line, for a later
//! linearizability check. The format is specified in docs/benchmarks.md
//! ("History format"); keep the two in step.
//!
//! Client tasks serialize their own records (spreading the work over the
//! worker threads) and hand the lines to one writer thread through a bounded
//! queue: a slow disk slows the load down rather than growing memory.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
    thread::JoinHandle,
    time::Instant,
};

use anyhow::{anyhow, Context, Result};
use base64::Engine as _;
use etcq_net::pb::{
    etcdserverpb::{
        compare, request_op, response_op, Compare, DeleteRangeRequest, PutRequest, RangeRequest,
        RangeResponse, RequestOp, ResponseHeader, ResponseOp, TxnRequest, WatchResponse,
    },
    mvccpb::{event::EventType, KeyValue},
};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use crate::target::{OpError, Request, Response};

/// Lines queued for the writer thread before recording clients wait.
const HISTORY_QUEUE_LINES: usize = 64 * 1024;

/// Monotonic nanoseconds since one origin shared by every task of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: Instant,
}

impl Clock {
    pub(crate) fn start() -> Clock {
        Clock {
            origin: Instant::now(),
        }
    }

    /// Nanoseconds from the origin to `at` (0 for instants before it).
    pub(crate) fn ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn now_ns(&self) -> u64 {
        self.ns(Instant::now())
    }
}

/// Where client tasks send their records; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct HistorySink {
    lines: mpsc::Sender<String>,
}

/// Owns the writer thread; [`HistoryFile::finish`] flushes and closes.
#[derive(Debug)]
pub(crate) struct HistoryFile {
    path: PathBuf,
    writer: JoinHandle<io::Result<u64>>,
}

/// Creates `path` and starts its writer thread.
pub(crate) fn create(path: &Path) -> Result<(HistorySink, HistoryFile)> {
    let file = File::create(path).with_context(|| format!("create {}", path.display()))?;
    let (tx, mut rx) = mpsc::channel::<String>(HISTORY_QUEUE_LINES);
    let writer = std::thread::Builder::new()
        .name("history-writer".into())
        .spawn(move || -> io::Result<u64> {
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let mut lines = 0u64;
            while let Some(line) = rx.blocking_recv() {
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
                lines += 1;
            }
            out.flush()?;
            out.get_ref().sync_all()?;
            Ok(lines)
        })
        .context("spawn history writer thread")?;
    Ok((
        HistorySink { lines: tx },
        HistoryFile {
            path: path.to_path_buf(),
            writer,
        },
    ))
}

impl HistoryFile {
    /// Waits until every sink is dropped and all lines are on disk; returns
    /// the number of records written.
    pub(crate) fn finish(self) -> Result<u64> {
        let lines = self
            .writer
            .join()
            .map_err(|_| anyhow!("history writer thread panicked"))?
            .with_context(|| format!("write {}", self.path.display()))?;
        Ok(lines)
    }
}

impl HistorySink {
    async fn send(&self, record: Value) {
        // The writer only goes away after a write error, which `finish`
        // reports; records sent after that are dropped on purpose.
        let _ = self.lines.send(record.to_string()).await;
    }

    /// Records one unary operation and its outcome.
    pub(crate) async fn record_op(
        &self,
        client: u64,
        request: &Request,
        outcome: &Result<Response, OpError>,
        start_ns: u64,
        end_ns: u64,
    ) {
        self.send(op_record(client, request, outcome, start_ns, end_ns))
            .await;
    }

    /// Records every event of one watch response as received at `at_ns`.
    pub(crate) async fn record_watch_events(
        &self,
        client: u64,
        watched_key: &[u8],
        response: &WatchResponse,
        at_ns: u64,
    ) {
        for record in watch_event_records(client, watched_key, response, at_ns) {
            self.send(record).await;
        }
    }
}

// ------------------------------------------------------------ JSON shapes

fn b64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Inserts `key: base64(bytes)` unless `bytes` is empty.
fn put_bytes(map: &mut Map<String, Value>, key: &str, bytes: &[u8]) {
    if !bytes.is_empty() {
        map.insert(key.to_string(), b64(bytes));
    }
}

fn header_revision(header: Option<&ResponseHeader>) -> i64 {
    header.map_or(0, |h| h.revision)
}

fn kv_json(kv: &KeyValue) -> Value {
    let mut map = Map::new();
    map.insert("key".into(), b64(&kv.key));
    map.insert("value".into(), b64(&kv.value));
    map.insert("create_revision".into(), kv.create_revision.into());
    map.insert("mod_revision".into(), kv.mod_revision.into());
    map.insert("version".into(), kv.version.into());
    if kv.lease != 0 {
        map.insert("lease".into(), kv.lease.into());
    }
    Value::Object(map)
}

fn put_req_json(req: &PutRequest) -> Value {
    let mut map = Map::new();
    map.insert("key".into(), b64(&req.key));
    map.insert("value".into(), b64(&req.value));
    if req.lease != 0 {
        map.insert("lease".into(), req.lease.into());
    }
    if req.prev_kv {
        map.insert("prev_kv".into(), true.into());
    }
    Value::Object(map)
}

fn range_req_json(req: &RangeRequest) -> Value {
    let mut map = Map::new();
    map.insert("key".into(), b64(&req.key));
    put_bytes(&mut map, "range_end", &req.range_end);
    map.insert("serializable".into(), req.serializable.into());
    if req.limit != 0 {
        map.insert("limit".into(), req.limit.into());
    }
    if req.revision != 0 {
        map.insert("revision".into(), req.revision.into());
    }
    if req.keys_only {
        map.insert("keys_only".into(), true.into());
    }
    if req.count_only {
        map.insert("count_only".into(), true.into());
    }
    Value::Object(map)
}

fn range_resp_json(resp: &RangeResponse) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("count".into(), resp.count.into());
    map.insert("more".into(), resp.more.into());
    map.insert(
        "kvs".into(),
        Value::Array(resp.kvs.iter().map(kv_json).collect()),
    );
    map
}

fn delete_req_json(req: &DeleteRangeRequest) -> Value {
    let mut map = Map::new();
    map.insert("key".into(), b64(&req.key));
    put_bytes(&mut map, "range_end", &req.range_end);
    Value::Object(map)
}

fn compare_json(cmp: &Compare) -> Value {
    let target = match compare::CompareTarget::try_from(cmp.target) {
        Ok(compare::CompareTarget::Version) => "version",
        Ok(compare::CompareTarget::Create) => "create",
        Ok(compare::CompareTarget::Mod) => "mod",
        Ok(compare::CompareTarget::Value) => "value",
        Ok(compare::CompareTarget::Lease) => "lease",
        Err(_) => "unknown",
    };
    let result = match compare::CompareResult::try_from(cmp.result) {
        Ok(compare::CompareResult::Equal) => "equal",
        Ok(compare::CompareResult::Greater) => "greater",
        Ok(compare::CompareResult::Less) => "less",
        Ok(compare::CompareResult::NotEqual) => "not_equal",
        Err(_) => "unknown",
    };
    let mut map = Map::new();
    map.insert("key".into(), b64(&cmp.key));
    put_bytes(&mut map, "range_end", &cmp.range_end);
    map.insert("target".into(), target.into());
    map.insert("result".into(), result.into());
    match &cmp.target_union {
        Some(compare::TargetUnion::Version(v)) => map.insert("version".into(), (*v).into()),
        Some(compare::TargetUnion::CreateRevision(v)) => {
            map.insert("create_revision".into(), (*v).into())
        }
        Some(compare::TargetUnion::ModRevision(v)) => {
            map.insert("mod_revision".into(), (*v).into())
        }
        Some(compare::TargetUnion::Value(v)) => map.insert("value".into(), b64(v)),
        Some(compare::TargetUnion::Lease(v)) => map.insert("lease".into(), (*v).into()),
        None => None,
    };
    Value::Object(map)
}

fn request_op_json(op: &RequestOp) -> Value {
    match &op.request {
        Some(request_op::Request::RequestPut(r)) => tagged("put", put_req_json(r)),
        Some(request_op::Request::RequestRange(r)) => tagged("range", range_req_json(r)),
        Some(request_op::Request::RequestDeleteRange(r)) => {
            tagged("delete_range", delete_req_json(r))
        }
        Some(request_op::Request::RequestTxn(r)) => tagged("txn", txn_req_json(r)),
        None => json!({ "op": "none" }),
    }
}

fn response_op_json(op: &ResponseOp) -> Value {
    match &op.response {
        Some(response_op::Response::ResponsePut(r)) => {
            let mut map = Map::new();
            map.insert("op".into(), "put".into());
            if let Some(prev) = &r.prev_kv {
                map.insert("prev_kv".into(), kv_json(prev));
            }
            Value::Object(map)
        }
        Some(response_op::Response::ResponseRange(r)) => {
            let mut map = range_resp_json(r);
            map.insert("op".into(), "range".into());
            Value::Object(map)
        }
        Some(response_op::Response::ResponseDeleteRange(r)) => {
            json!({ "op": "delete_range", "deleted": r.deleted })
        }
        Some(response_op::Response::ResponseTxn(r)) => json!({
            "op": "txn",
            "succeeded": r.succeeded,
            "responses": r.responses.iter().map(response_op_json).collect::<Vec<_>>(),
        }),
        None => json!({ "op": "none" }),
    }
}

/// `{"op": name, ...fields}`.
fn tagged(name: &str, fields: Value) -> Value {
    let mut map = Map::new();
    map.insert("op".into(), name.into());
    if let Value::Object(fields) = fields {
        map.extend(fields);
    }
    Value::Object(map)
}

fn txn_req_json(req: &TxnRequest) -> Value {
    json!({
        "compare": req.compare.iter().map(compare_json).collect::<Vec<_>>(),
        "success": req.success.iter().map(request_op_json).collect::<Vec<_>>(),
        "failure": req.failure.iter().map(request_op_json).collect::<Vec<_>>(),
    })
}

/// One line for one unary operation (see docs/benchmarks.md).
pub(crate) fn op_record(
    client: u64,
    request: &Request,
    outcome: &Result<Response, OpError>,
    start_ns: u64,
    end_ns: u64,
) -> Value {
    let (op, req) = match request {
        Request::Put(r) => ("put", put_req_json(r)),
        Request::Range(r) => ("range", range_req_json(r)),
        Request::Txn(r) => ("txn", txn_req_json(r)),
    };
    let mut map = Map::new();
    map.insert("client".into(), client.into());
    map.insert("op".into(), op.into());
    map.insert("start_ns".into(), start_ns.into());
    map.insert("end_ns".into(), end_ns.into());
    map.insert("req".into(), req);
    match outcome {
        Ok(response) => {
            map.insert("ok".into(), true.into());
            let resp = match response {
                Response::Put(r) => {
                    let mut resp = Map::new();
                    resp.insert("revision".into(), header_revision(r.header.as_ref()).into());
                    if let Some(prev) = &r.prev_kv {
                        resp.insert("prev_kv".into(), kv_json(prev));
                    }
                    resp
                }
                Response::Range(r) => {
                    let mut resp = range_resp_json(r);
                    resp.insert("revision".into(), header_revision(r.header.as_ref()).into());
                    resp
                }
                Response::Txn(r) => {
                    let mut resp = Map::new();
                    resp.insert("revision".into(), header_revision(r.header.as_ref()).into());
                    resp.insert("succeeded".into(), r.succeeded.into());
                    resp.insert(
                        "responses".into(),
                        Value::Array(r.responses.iter().map(response_op_json).collect()),
                    );
                    resp
                }
            };
            map.insert("resp".into(), Value::Object(resp));
        }
        Err(e) => {
            map.insert("ok".into(), false.into());
            map.insert("error".into(), e.message().into());
        }
    }
    Value::Object(map)
}

/// One line per event of a watch response (see docs/benchmarks.md).
pub(crate) fn watch_event_records(
    client: u64,
    watched_key: &[u8],
    response: &WatchResponse,
    at_ns: u64,
) -> Vec<Value> {
    let revision = header_revision(response.header.as_ref());
    response
        .events
        .iter()
        .map(|event| {
            let kind = match EventType::try_from(event.r#type) {
                Ok(EventType::Put) => "put",
                Ok(EventType::Delete) => "delete",
                Err(_) => "unknown",
            };
            let mut resp = Map::new();
            resp.insert("revision".into(), revision.into());
            resp.insert("type".into(), kind.into());
            if let Some(kv) = &event.kv {
                resp.insert("kv".into(), kv_json(kv));
            }
            if let Some(prev) = &event.prev_kv {
                resp.insert("prev_kv".into(), kv_json(prev));
            }
            json!({
                "client": client,
                "op": "watch_event",
                "start_ns": at_ns,
                "end_ns": at_ns,
                "req": { "watch_id": response.watch_id, "key": b64(watched_key) },
                "ok": true,
                "resp": Value::Object(resp),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use etcq_net::pb::{etcdserverpb::PutResponse, mvccpb::Event};

    fn header(revision: i64) -> Option<ResponseHeader> {
        Some(ResponseHeader {
            revision,
            ..Default::default()
        })
    }

    #[test]
    fn a_put_line_has_request_timestamps_and_revision() {
        let req = Request::Put(PutRequest {
            key: Bytes::from_static(b"k"),
            value: Bytes::from_static(b"v"),
            ..Default::default()
        });
        let resp = Ok(Response::Put(PutResponse {
            header: header(7),
            ..Default::default()
        }));
        let line = op_record(3, &req, &resp, 10, 20);
        assert_eq!(
            line,
            json!({
                "client": 3, "op": "put", "start_ns": 10, "end_ns": 20,
                "req": { "key": "aw==", "value": "dg==" },
                "ok": true, "resp": { "revision": 7 },
            })
        );
    }

    #[test]
    fn a_failed_operation_has_its_error_and_no_response() {
        let req = Request::Range(RangeRequest {
            key: Bytes::from_static(b"a"),
            range_end: Bytes::from_static(b"b"),
            ..Default::default()
        });
        let line = op_record(0, &req, &Err(OpError::new("timed out")), 1, 2);
        assert_eq!(line["ok"], json!(false));
        assert_eq!(line["error"], json!("timed out"));
        assert_eq!(line["req"]["range_end"], json!("Yg=="));
        assert!(line.get("resp").is_none());
    }

    #[test]
    fn a_txn_line_lists_its_branches_and_responses() {
        let put = RequestOp {
            request: Some(request_op::Request::RequestPut(PutRequest {
                key: Bytes::from_static(b"k"),
                value: Bytes::from_static(b"v"),
                ..Default::default()
            })),
        };
        let req = Request::Txn(TxnRequest {
            compare: vec![Compare {
                key: Bytes::from_static(b"k"),
                target: compare::CompareTarget::Version as i32,
                result: compare::CompareResult::Equal as i32,
                target_union: Some(compare::TargetUnion::Version(0)),
                ..Default::default()
            }],
            success: vec![put],
            failure: vec![],
        });
        let resp = Ok(Response::Txn(etcq_net::pb::etcdserverpb::TxnResponse {
            header: header(9),
            succeeded: true,
            responses: vec![ResponseOp {
                response: Some(response_op::Response::ResponsePut(PutResponse::default())),
            }],
        }));
        let line = op_record(1, &req, &resp, 5, 6);
        assert_eq!(
            line["req"]["compare"][0],
            json!({"key": "aw==", "target": "version", "result": "equal", "version": 0})
        );
        assert_eq!(line["req"]["success"][0]["op"], json!("put"));
        assert_eq!(line["resp"]["succeeded"], json!(true));
        assert_eq!(line["resp"]["revision"], json!(9));
        assert_eq!(line["resp"]["responses"][0], json!({"op": "put"}));
    }

    #[test]
    fn every_watch_event_gets_its_own_line() {
        let kv = |rev| KeyValue {
            key: Bytes::from_static(b"k"),
            value: Bytes::from_static(b"v"),
            mod_revision: rev,
            create_revision: 2,
            version: rev - 1,
            ..Default::default()
        };
        let resp = WatchResponse {
            header: header(4),
            watch_id: 5,
            events: vec![
                Event {
                    r#type: EventType::Put as i32,
                    kv: Some(kv(3)),
                    prev_kv: None,
                },
                Event {
                    r#type: EventType::Put as i32,
                    kv: Some(kv(4)),
                    prev_kv: None,
                },
            ],
            ..Default::default()
        };
        let lines = watch_event_records(12, b"k", &resp, 99);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["op"], json!("watch_event"));
        assert_eq!(lines[1]["req"], json!({"watch_id": 5, "key": "aw=="}));
        assert_eq!(lines[1]["resp"]["kv"]["mod_revision"], json!(4));
        assert_eq!(lines[0]["start_ns"], json!(99));
    }

    #[tokio::test]
    async fn the_file_gets_one_line_per_record() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("h.jsonl");
        let (sink, file) = create(&path).expect("create history");
        let req = Request::Put(PutRequest::default());
        for i in 0..3 {
            sink.record_op(i, &req, &Err(OpError::new("x")), i, i + 1)
                .await;
        }
        drop(sink);
        assert_eq!(file.finish().expect("finish"), 3);
        let text = std::fs::read_to_string(&path).expect("read history");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["client"], json!(2));
    }
}
