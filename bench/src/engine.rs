//! The closed-loop load engine shared by every unary workload.
//!
//! `clients` tasks each keep one request in flight: take the next operation
//! index from a shared counter, build the request for it, send it on the
//! client's connection (client `i` uses connection `i % conns`, as etcd's
//! benchmark does), wait for the answer, repeat until `total` indexes are
//! taken. With a rate, index `i` may not start before `i / rate` seconds
//! after the start, over all clients together.
//!
//! Each client keeps its own latency samples (8 bytes per operation, bounded
//! by `total`) and error counts; they are merged once at the end, so the
//! measured path takes no locks.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use rand::{rngs::StdRng, SeedableRng};

use crate::{
    history::{Clock, HistorySink},
    report::Measured,
    target::{Conn, OpError, Request},
};

/// Builds the request of operation `index`; called on the client's task
/// just before the request is sent.
pub(crate) type RequestSource = Arc<dyn Fn(u64, &mut StdRng) -> Request + Send + Sync>;

/// How much load to offer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadPlan {
    pub(crate) clients: usize,
    pub(crate) total: u64,
    /// Operations per second over all clients; 0 for as fast as possible.
    pub(crate) rate_per_sec: u64,
    pub(crate) request_timeout: Duration,
    pub(crate) seed: u64,
    /// Added to client indexes in the history, so several engines in one
    /// run (watch streams, putters) keep distinct client ids.
    pub(crate) client_id_base: u64,
}

/// What one client task brings back.
#[derive(Debug, Default)]
struct ClientOutcome {
    latency_ns: Vec<u64>,
    errors: BTreeMap<String, u64>,
}

/// Runs `plan` against `conns` and measures it.
pub(crate) async fn run(
    conns: &[Arc<Conn>],
    plan: LoadPlan,
    source: RequestSource,
    clock: Clock,
    history: Option<HistorySink>,
) -> Result<Measured> {
    if conns.is_empty() {
        bail!("no connections to send load on");
    }
    if plan.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let next_index = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(plan.clients);
    for client in 0..plan.clients {
        let conn = Arc::clone(&conns[client % conns.len()]);
        let task = ClientTask {
            client_id: plan.client_id_base + client as u64,
            conn,
            plan,
            source: Arc::clone(&source),
            next_index: Arc::clone(&next_index),
            started,
            clock,
            history: history.clone(),
            rng: StdRng::seed_from_u64(plan.seed.wrapping_add(client as u64)),
        };
        tasks.push(tokio::spawn(task.run()));
    }
    drop(history);
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.context("client task failed")?);
    }
    let mut measured = Measured::new(started.elapsed());
    for outcome in outcomes {
        measured.record_samples(&outcome.latency_ns);
        measured.record_errors(outcome.errors);
    }
    Ok(measured)
}

struct ClientTask {
    client_id: u64,
    conn: Arc<Conn>,
    plan: LoadPlan,
    source: RequestSource,
    next_index: Arc<AtomicU64>,
    started: Instant,
    clock: Clock,
    history: Option<HistorySink>,
    rng: StdRng,
}

impl ClientTask {
    async fn run(mut self) -> ClientOutcome {
        let expected_share = self.plan.total / self.plan.clients as u64 + 1;
        let mut outcome = ClientOutcome {
            latency_ns: Vec::with_capacity(usize::try_from(expected_share).unwrap_or(0)),
            errors: BTreeMap::new(),
        };
        loop {
            let index = self.next_index.fetch_add(1, Ordering::Relaxed);
            if index >= self.plan.total {
                break;
            }
            if let Some(due) = due_time(self.started, index, self.plan.rate_per_sec) {
                tokio::time::sleep_until(due.into()).await;
            }
            let request = (self.source)(index, &mut self.rng);
            let recorded = self.history.as_ref().map(|_| request.clone());
            let start = Instant::now();
            let result =
                match tokio::time::timeout(self.plan.request_timeout, self.conn.execute(request))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(OpError::new(format!(
                        "request timed out after {:?}",
                        self.plan.request_timeout
                    ))),
                };
            let end = Instant::now();
            match &result {
                Ok(_) => outcome.latency_ns.push(duration_ns(end - start)),
                Err(e) => *outcome.errors.entry(e.message().to_string()).or_default() += 1,
            }
            if let (Some(history), Some(request)) = (&self.history, &recorded) {
                history
                    .record_op(
                        self.client_id,
                        request,
                        &result,
                        self.clock.ns(start),
                        self.clock.ns(end),
                    )
                    .await;
            }
        }
        outcome
    }
}

/// When operation `index` may start under `rate_per_sec` (None: now).
fn due_time(started: Instant, index: u64, rate_per_sec: u64) -> Option<Instant> {
    if rate_per_sec == 0 {
        return None;
    }
    let offset_ns = u128::from(index) * 1_000_000_000 / u128::from(rate_per_sec);
    let offset = Duration::from_nanos(u64::try_from(offset_ns).unwrap_or(u64::MAX));
    Some(started + offset)
}

pub(crate) fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{fake::FakeConn, target::Response};
    use bytes::Bytes;
    use etcq_net::pb::etcdserverpb::PutRequest;

    fn plan(clients: usize, total: u64) -> LoadPlan {
        LoadPlan {
            clients,
            total,
            rate_per_sec: 0,
            request_timeout: Duration::from_secs(5),
            seed: 1,
            client_id_base: 0,
        }
    }

    fn put_source(fail_every: u64) -> RequestSource {
        Arc::new(move |index, _| {
            let key = if fail_every > 0 && index % fail_every == 0 {
                format!("fail{index}")
            } else {
                format!("k{index}")
            };
            Request::Put(PutRequest {
                key: Bytes::from(key),
                value: Bytes::from(index.to_string()),
                ..Default::default()
            })
        })
    }

    fn fake_conns(n: usize) -> Vec<Arc<Conn>> {
        (0..n)
            .map(|_| Arc::new(Conn::Fake(FakeConn::default())))
            .collect()
    }

    #[tokio::test]
    async fn every_index_is_sent_exactly_once_over_all_clients() {
        let conns = fake_conns(1);
        let m = run(&conns, plan(7, 1000), put_source(0), Clock::start(), None)
            .await
            .expect("run");
        assert_eq!(m.ok(), 1000);
        assert_eq!(m.error_count(), 0);
        let read = conns[0]
            .execute(Request::Range(etcq_net::pb::etcdserverpb::RangeRequest {
                key: Bytes::from_static(b"k"),
                range_end: Bytes::from_static(b"l"),
                ..Default::default()
            }))
            .await
            .expect("range");
        match read {
            Response::Range(r) => {
                assert_eq!(r.count, 1000);
                assert_eq!(r.header.map(|h| h.revision), Some(1000));
            }
            other => panic!("not a range response: {other:?}"),
        }
    }

    #[tokio::test]
    async fn failures_are_counted_by_message_not_timed() {
        let m = run(
            &fake_conns(3),
            plan(4, 100),
            put_source(10),
            Clock::start(),
            None,
        )
        .await
        .expect("run");
        assert_eq!(m.ok(), 90);
        assert_eq!(m.errors.get("injected failure"), Some(&10));
    }

    #[tokio::test]
    async fn the_history_has_one_line_per_operation_with_ordered_times() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("h.jsonl");
        let (sink, file) = crate::history::create(&path).expect("history");
        let m = run(
            &fake_conns(2),
            plan(5, 200),
            put_source(50),
            Clock::start(),
            Some(sink),
        )
        .await
        .expect("run");
        assert_eq!(m.ok(), 196);
        assert_eq!(file.finish().expect("finish"), 200);
        let text = std::fs::read_to_string(&path).expect("read");

        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("json");
            let (start, end) = (v["start_ns"].as_u64(), v["end_ns"].as_u64());
            assert!(start <= end, "{line}");
            assert!(v["client"].as_u64().is_some_and(|c| c < 5), "{line}");
            assert_eq!(v["op"], "put");
        }
    }

    #[tokio::test]
    async fn zero_clients_is_refused() {
        assert!(run(
            &fake_conns(1),
            plan(0, 1),
            put_source(0),
            Clock::start(),
            None
        )
        .await
        .is_err());
    }

    #[test]
    fn unlimited_rate_never_waits() {
        assert_eq!(due_time(Instant::now(), 1_000, 0), None);
    }

    #[test]
    fn rate_spaces_operations_evenly_from_the_start() {
        let start = Instant::now();
        let due = |i| due_time(start, i, 100).map(|t| t - start);
        assert_eq!(due(0), Some(Duration::ZERO));
        assert_eq!(due(1), Some(Duration::from_millis(10)));
        assert_eq!(due(250), Some(Duration::from_millis(2_500)));
    }
}
