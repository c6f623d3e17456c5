//! The watch workloads: `watch` (fan-out throughput) and `watch-latency`
//! (put->event latency at a steady rate) are one procedure with different
//! parameters.
//!
//! 1. Open `streams` watch streams over the connections and create
//!    `watchers_per_stream` watchers on each; watcher `g` (numbered over all
//!    streams) watches key `g % key_space_size`. Each creation is timed from
//!    sending the create request to its `created` response.
//! 2. Put `put_total` values with `putters` concurrent clients, put `i` to
//!    key `i % key_space_size`, its value carrying `i`; the time each put is
//!    sent is kept in a table indexed by `i`.
//! 3. Every stream counts the events it receives until it has all it should
//!    (puts to its watchers' keys, once per watcher) or the drain timeout
//!    after the last put passes. An event's latency is its arrival time minus
//!    the send time of the put named in its value.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use etcq_net::pb::etcdserverpb::{PutRequest, WatchCreateRequest, WatchResponse};
use rand::{rngs::StdRng, SeedableRng};
use tokio::sync::{oneshot, watch};

use crate::{
    engine::{self, duration_ns, LoadPlan, RequestSource},
    history::{Clock, HistorySink},
    keys::{value_index, KeySpace, ValueMaker, VALUE_INDEX_DIGITS},
    report::Measured,
    target::{Conn, OpError, Request, WatchSession},
};

/// Parameters of one watch run.
#[derive(Debug, Clone)]
pub(crate) struct WatchPlan {
    pub(crate) streams: usize,
    pub(crate) watchers_per_stream: usize,
    pub(crate) key_size: usize,
    pub(crate) key_space_size: u64,
    pub(crate) val_size: usize,
    pub(crate) put_total: u64,
    pub(crate) put_rate_per_sec: u64,
    pub(crate) putters: usize,
    pub(crate) prev_kv: bool,
    pub(crate) drain_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) seed: u64,
}

/// The three measured phases of a watch run.
#[derive(Debug)]
pub(crate) struct WatchOutcome {
    pub(crate) creation: Measured,
    pub(crate) puts: Measured,
    /// Latency is put->event; `errors` counts missing events.
    pub(crate) events: Measured,
    pub(crate) events_expected: u64,
}

/// Send times of the puts, indexed by put index: nanoseconds on the run's
/// clock plus one (0 means "not sent yet").
struct PutStarts(Vec<AtomicU64>);

impl PutStarts {
    fn new(puts: u64) -> Result<PutStarts> {
        let len = usize::try_from(puts).context("--put-total too large")?;
        Ok(PutStarts((0..len).map(|_| AtomicU64::new(0)).collect()))
    }

    fn set(&self, index: u64, ns: u64) {
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| self.0.get(i)) {
            slot.store(ns.saturating_add(1), Ordering::Release);
        }
    }

    fn get(&self, index: u64) -> Option<u64> {
        let slot = self.0.get(usize::try_from(index).ok()?)?;
        match slot.load(Ordering::Acquire) {
            0 => None,
            ns_plus_one => Some(ns_plus_one - 1),
        }
    }
}

/// How many of `put_total` puts go to key `key` when put `i` goes to key
/// `i % key_space_size`.
pub(crate) fn puts_on_key(key: u64, put_total: u64, key_space_size: u64) -> u64 {
    put_total / key_space_size + u64::from(key < put_total % key_space_size)
}

/// The key index watcher `watcher` of stream `stream` watches.
fn watched_key_index(plan: &WatchPlan, stream: usize, watcher: usize) -> u64 {
    (stream * plan.watchers_per_stream + watcher) as u64 % plan.key_space_size
}

/// Runs the watch procedure; watch streams are history clients
/// `client_id_base + stream`, putters `0..putters`.
pub(crate) async fn run(
    conns: &[Arc<Conn>],
    plan: WatchPlan,
    clock: Clock,
    history: Option<HistorySink>,
    client_id_base: u64,
) -> Result<WatchOutcome> {
    if plan.val_size < VALUE_INDEX_DIGITS {
        bail!("--val-size must be at least {VALUE_INDEX_DIGITS} (values carry the put index)");
    }
    if plan.streams == 0 || plan.watchers_per_stream == 0 {
        bail!("need at least one stream and one watcher per stream");
    }
    if conns.is_empty() {
        bail!("no connections");
    }
    let keys = KeySpace::new(plan.key_size, plan.key_space_size, true)?;
    let starts = Arc::new(PutStarts::new(plan.put_total)?);
    let (deadline_tx, deadline_rx) = watch::channel::<Option<Instant>>(None);

    // Phase 1: streams and watchers.
    let creation_started = Instant::now();
    let mut created_rxs = Vec::with_capacity(plan.streams);
    let mut stream_tasks = Vec::with_capacity(plan.streams);
    for stream in 0..plan.streams {
        let watched: Vec<Bytes> = (0..plan.watchers_per_stream)
            .map(|w| keys.key(watched_key_index(&plan, stream, w)))
            .collect();
        let expected_events: u64 = (0..plan.watchers_per_stream)
            .map(|w| {
                puts_on_key(
                    watched_key_index(&plan, stream, w),
                    plan.put_total,
                    plan.key_space_size,
                )
            })
            .sum();
        let (created_tx, created_rx) = oneshot::channel();
        created_rxs.push(created_rx);
        let task = StreamTask {
            client_id: client_id_base + stream as u64,
            conn: Arc::clone(&conns[stream % conns.len()]),
            watched,
            prev_kv: plan.prev_kv,
            request_timeout: plan.request_timeout,
            expected_events,
            starts: Arc::clone(&starts),
            deadline: deadline_rx.clone(),
            clock,
            history: history.clone(),
            watch_keys: BTreeMap::new(),
        };
        stream_tasks.push(tokio::spawn(task.run(created_tx)));
    }
    let mut creation_samples = Vec::new();
    let mut creation_errors = BTreeMap::new();
    for created in created_rxs {
        match created.await {
            Ok(Ok(samples)) => creation_samples.extend(samples),
            Ok(Err(e)) => *creation_errors.entry(e.to_string()).or_default() += 1,
            Err(_) => {
                *creation_errors
                    .entry("watch stream task ended".into())
                    .or_default() += 1
            }
        }
    }
    let mut creation = Measured::new(creation_started.elapsed());
    creation.record_samples(&creation_samples);
    creation.record_errors(creation_errors);

    // Phase 2: puts.
    let values = ValueMaker::new(plan.val_size, &mut StdRng::seed_from_u64(plan.seed));
    let put_starts = Arc::clone(&starts);
    let source: RequestSource = Arc::new(move |index, _| {
        put_starts.set(index, clock.now_ns());
        Request::Put(PutRequest {
            key: keys.key(index),
            value: values.value(index),
            ..Default::default()
        })
    });
    let puts_started_ns = clock.now_ns();
    let puts = engine::run(
        conns,
        LoadPlan {
            clients: plan.putters,
            total: plan.put_total,
            rate_per_sec: plan.put_rate_per_sec,
            request_timeout: plan.request_timeout,
            seed: plan.seed,
            client_id_base: 0,
        },
        source,
        clock,
        history,
    )
    .await?;

    // Phase 3: drain events.
    let _ = deadline_tx.send(Some(Instant::now() + plan.drain_timeout));
    let mut events = Measured::new(Duration::ZERO);
    let mut events_expected = 0;
    let mut last_event_ns = puts_started_ns;
    for task in stream_tasks {
        let outcome = task.await.context("watch stream task failed")?;
        events_expected += outcome.expected;
        events.record_samples(&outcome.latency_ns);
        let missing = outcome.expected.saturating_sub(outcome.received);
        if missing > 0 {
            *events
                .errors
                .entry("event not received before the drain timeout".into())
                .or_default() += missing;
        }
        if let Some(e) = outcome.error {
            *events.errors.entry(e).or_default() += 1;
        }
        last_event_ns = last_event_ns.max(outcome.last_event_ns);
    }
    events.elapsed = Duration::from_nanos(last_event_ns - puts_started_ns);
    Ok(WatchOutcome {
        creation,
        puts,
        events,
        events_expected,
    })
}

/// What one stream saw.
#[derive(Debug, Default)]
struct StreamOutcome {
    expected: u64,
    received: u64,
    latency_ns: Vec<u64>,
    last_event_ns: u64,
    error: Option<String>,
}

struct StreamTask {
    client_id: u64,
    conn: Arc<Conn>,
    watched: Vec<Bytes>,
    prev_kv: bool,
    request_timeout: Duration,
    expected_events: u64,
    starts: Arc<PutStarts>,
    deadline: watch::Receiver<Option<Instant>>,
    clock: Clock,
    history: Option<HistorySink>,
    /// Which key each created watcher watches (for the history).
    watch_keys: BTreeMap<i64, Bytes>,
}

impl StreamTask {
    fn create_request(&self, key: &Bytes) -> WatchCreateRequest {
        WatchCreateRequest {
            key: key.clone(),
            prev_kv: self.prev_kv,
            ..Default::default()
        }
    }

    /// Creates the watchers (reporting their creation latencies on
    /// `created`), then counts events.
    async fn run(mut self, created: oneshot::Sender<Result<Vec<u64>, OpError>>) -> StreamOutcome {
        let mut outcome = StreamOutcome {
            expected: self.expected_events,
            ..Default::default()
        };
        let mut session = match self.create_watchers().await {
            Ok((session, samples)) => {
                let _ = created.send(Ok(samples));
                session
            }
            Err(e) => {
                outcome.error = Some(format!("watch creation: {e}"));
                let _ = created.send(Err(e));
                return outcome;
            }
        };
        while outcome.received < outcome.expected {
            let deadline = *self.deadline.borrow_and_update();
            let next = match deadline {
                Some(at) => match tokio::time::timeout_at(at.into(), session.recv()).await {
                    Ok(next) => next,
                    Err(_) => break,
                },
                None => tokio::select! {
                    next = session.recv() => next,
                    changed = self.deadline.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        continue;
                    }
                },
            };
            match next {
                Ok(Some(response)) => self.on_response(&response, &mut outcome).await,
                Ok(None) => {
                    outcome.error = Some("watch stream closed by the server".into());
                    break;
                }
                Err(e) => {
                    outcome.error = Some(e.to_string());
                    break;
                }
            }
        }
        outcome
    }

    async fn on_response(&self, response: &WatchResponse, outcome: &mut StreamOutcome) {
        let at_ns = self.clock.now_ns();
        if response.created {
            // A create answered after the creation phase (not expected).
            return;
        }
        for event in &response.events {
            outcome.received += 1;
            outcome.last_event_ns = outcome.last_event_ns.max(at_ns);
            let sent_ns = event
                .kv
                .as_ref()
                .and_then(|kv| value_index(&kv.value))
                .and_then(|index| self.starts.get(index));
            if let Some(sent_ns) = sent_ns {
                outcome.latency_ns.push(at_ns.saturating_sub(sent_ns));
            }
        }
        if let Some(history) = &self.history {
            let key = self
                .watch_keys
                .get(&response.watch_id)
                .cloned()
                .unwrap_or_default();
            history
                .record_watch_events(self.client_id, &key, response, at_ns)
                .await;
        }
    }

    /// Opens the stream and creates every watcher, one at a time, each
    /// timed from request to `created` response.
    async fn create_watchers(&mut self) -> Result<(WatchSession, Vec<u64>), OpError> {
        let mut samples = Vec::with_capacity(self.watched.len());
        let mut session: Option<WatchSession> = None;
        for key in self.watched.clone() {
            let request = self.create_request(&key);
            let start = Instant::now();
            let created = tokio::time::timeout(self.request_timeout, async {
                let s = match session.as_mut() {
                    Some(s) => {
                        s.create(request).await?;
                        s
                    }
                    None => session.insert(self.conn.open_watch(request).await?),
                };
                wait_created(s).await
            })
            .await
            .map_err(|_| {
                OpError::new(format!(
                    "watch create timed out after {:?}",
                    self.request_timeout
                ))
            })??;
            samples.push(duration_ns(start.elapsed()));
            self.watch_keys.insert(created, key);
        }
        match session {
            Some(session) => Ok((session, samples)),
            None => Err(OpError::new("no watchers to create")),
        }
    }
}

/// Reads responses until the `created` one; returns its watch id.
async fn wait_created(session: &mut WatchSession) -> Result<i64, OpError> {
    loop {
        match session.recv().await? {
            Some(r) if r.created && r.canceled => {
                return Err(OpError::new(format!(
                    "watch create refused: {}",
                    r.cancel_reason
                )))
            }
            Some(r) if r.created => return Ok(r.watch_id),
            Some(r) if r.canceled => {
                return Err(OpError::new(format!("watch canceled: {}", r.cancel_reason)))
            }
            // Events for earlier watchers cannot come before the puts start.
            Some(_) => continue,
            None => return Err(OpError::new("watch stream closed during creation")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn puts_are_spread_over_keys_round_robin() {
        assert_eq!(puts_on_key(0, 10, 3), 4);
        assert_eq!(puts_on_key(1, 10, 3), 3);
        assert_eq!(puts_on_key(2, 10, 3), 3);
        assert_eq!(puts_on_key(0, 10, 1), 10);
        assert_eq!(puts_on_key(5, 3, 10), 0);
        let total: u64 = (0..7).map(|k| puts_on_key(k, 1000, 7)).sum();
        assert_eq!(total, 1000);
    }

    #[test]
    fn put_starts_distinguish_unsent_from_time_zero() {
        let starts = PutStarts::new(3).expect("small table");
        assert_eq!(starts.get(0), None);
        starts.set(0, 0);
        starts.set(2, 42);
        starts.set(99, 1);
        assert_eq!(starts.get(0), Some(0));
        assert_eq!(starts.get(2), Some(42));
        assert_eq!(starts.get(99), None);
    }
}
