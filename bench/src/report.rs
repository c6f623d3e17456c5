//! Turning latency samples into what etcd's benchmark prints (summary,
//! response time histogram, latency distribution) and into the one JSON line
//! that scripts build comparison tables from.

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency the histogram tells apart (longer ones count as this).
const LATENCY_NS_MAX: u64 = 3_600 * 1_000_000_000;

/// Significant decimal digits kept by the histogram (0.1% resolution).
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// Bars in the text response-time histogram, as etcd's benchmark.
const TEXT_HISTOGRAM_BUCKETS: u64 = 10;

/// Width of the longest bar in the text histogram.
const TEXT_HISTOGRAM_BAR_WIDTH: u64 = 40;

/// Quantiles printed under "Latency distribution".
const PRINTED_QUANTILES: &[(f64, &str)] = &[
    (0.10, "10%"),
    (0.25, "25%"),
    (0.50, "50%"),
    (0.75, "75%"),
    (0.90, "90%"),
    (0.95, "95%"),
    (0.99, "99%"),
    (0.999, "99.9%"),
];

/// Outcome of one measured phase: how long it took, which operations
/// succeeded (their latencies) and which failed (by error text).
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    pub(crate) elapsed: Duration,
    pub(crate) latency_ns: Histogram<u64>,
    pub(crate) errors: BTreeMap<String, u64>,
}

/// An empty latency histogram with the bounds every phase uses.
pub(crate) fn new_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, LATENCY_NS_MAX, LATENCY_SIGNIFICANT_DIGITS) {
        Ok(h) => h,
        // The bounds are constants that hdrhistogram accepts.
        Err(e) => unreachable!("latency histogram bounds rejected: {e}"),
    }
}

impl Measured {
    pub(crate) fn new(elapsed: Duration) -> Measured {
        Measured {
            elapsed,
            latency_ns: new_histogram(),
            errors: BTreeMap::new(),
        }
    }

    /// Adds latency samples in nanoseconds (0 counts as 1 ns).
    pub(crate) fn record_samples(&mut self, samples_ns: &[u64]) {
        for &ns in samples_ns {
            self.latency_ns.saturating_record(ns.max(1));
        }
    }

    pub(crate) fn record_errors(&mut self, errors: BTreeMap<String, u64>) {
        for (message, count) in errors {
            *self.errors.entry(message).or_default() += count;
        }
    }

    pub(crate) fn ok(&self) -> u64 {
        self.latency_ns.len()
    }

    pub(crate) fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Successful operations per second of wall time.
    pub(crate) fn per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok() as f64 / secs
        } else {
            0.0
        }
    }

    /// The latency at quantile `q` in milliseconds (0 with no samples).
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        if self.latency_ns.is_empty() {
            return 0.0;
        }
        ns_to_ms(self.latency_ns.value_at_quantile(q))
    }

    fn max_ms(&self) -> f64 {
        if self.latency_ns.is_empty() {
            0.0
        } else {
            ns_to_ms(self.latency_ns.max())
        }
    }

    /// The human-readable report, etcd benchmark style; `title` heads it
    /// ("Summary", "Watch creation summary", ...), `unit` names what was
    /// counted ("Requests", "Events").
    pub(crate) fn render_text(&self, title: &str, unit: &str) -> String {
        let h = &self.latency_ns;
        let mut out = String::new();
        let _ = writeln!(out, "\n{title}:");
        let _ = writeln!(out, "  Total:\t{:.4} secs.", self.elapsed.as_secs_f64());
        let _ = writeln!(
            out,
            "  {unit}:\t{} ok, {} errors.",
            self.ok(),
            self.error_count()
        );
        if !h.is_empty() {
            let _ = writeln!(out, "  Slowest:\t{:.4} ms.", ns_to_ms(h.max()));
            let _ = writeln!(out, "  Fastest:\t{:.4} ms.", ns_to_ms(h.min()));
            let _ = writeln!(out, "  Average:\t{:.4} ms.", h.mean() / 1e6);
            let _ = writeln!(out, "  Stddev:\t{:.4} ms.", h.stdev() / 1e6);
        }
        let _ = writeln!(out, "  {unit}/sec:\t{:.1}", self.per_sec());
        if !h.is_empty() {
            let _ = writeln!(out, "\nResponse time histogram (ms):");
            for (upper_ns, count, bar) in text_histogram(h) {
                let _ = writeln!(out, "  {:.4} [{count}]\t|{bar}", ns_to_ms(upper_ns));
            }
            let _ = writeln!(out, "\nLatency distribution:");
            for &(q, label) in PRINTED_QUANTILES {
                let _ = writeln!(out, "  {label} in {:.4} ms.", self.quantile_ms(q));
            }
            let _ = writeln!(out, "  max in {:.4} ms.", self.max_ms());
        }
        if !self.errors.is_empty() {
            let _ = writeln!(out, "\nError distribution:");
            for (message, count) in &self.errors {
                let _ = writeln!(out, "  [{count}]\t{message}");
            }
        }
        out
    }

    /// The `--json` line for this phase.
    pub(crate) fn json_line(&self, labels: &Labels<'_>, total: u64) -> JsonLine {
        JsonLine {
            target: labels.target.to_string(),
            workload: labels.workload.to_string(),
            clients: labels.clients,
            conns: labels.conns,
            total,
            ok: self.ok(),
            errors: self.error_count(),
            secs: round(self.elapsed.as_secs_f64(), 4),
            rps: round(self.per_sec(), 1),
            p50_ms: round(self.quantile_ms(0.50), 4),
            p90_ms: round(self.quantile_ms(0.90), 4),
            p99_ms: round(self.quantile_ms(0.99), 4),
            p999_ms: round(self.quantile_ms(0.999), 4),
            max_ms: round(self.max_ms(), 4),
        }
    }
}

/// What a run is, for reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Labels<'a> {
    pub(crate) target: &'a str,
    pub(crate) workload: &'a str,
    pub(crate) clients: usize,
    pub(crate) conns: usize,
}

/// The machine-readable result of a run (one line of `--json` output).
/// `total` is what was asked for (requests, or events expected), `ok` what
/// succeeded; `rps` is `ok` per second.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct JsonLine {
    pub(crate) target: String,
    pub(crate) workload: String,
    pub(crate) clients: usize,
    pub(crate) conns: usize,
    pub(crate) total: u64,
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) secs: f64,
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p90_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) max_ms: f64,
}

fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// Ten equal-width buckets from fastest to slowest: (upper bound, count,
/// bar), as etcd's benchmark draws them.
fn text_histogram(h: &Histogram<u64>) -> Vec<(u64, u64, String)> {
    let (min, max) = (h.min(), h.max());
    let buckets = if h.iter_recorded().nth(1).is_none() {
        1
    } else {
        TEXT_HISTOGRAM_BUCKETS
    };
    let width = ((max - min) / buckets).max(1);
    let mut counts = vec![0u64; buckets as usize];
    for v in h.iter_recorded() {
        let index = (v.value_iterated_to().saturating_sub(min) / width).min(buckets - 1);
        counts[index as usize] += v.count_at_value();
    }
    let tallest = counts.iter().copied().max().unwrap_or(0).max(1);
    counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| {
            let upper = if i as u64 + 1 == buckets {
                max
            } else {
                min + width * (i as u64 + 1)
            };
            let bar_len = count * TEXT_HISTOGRAM_BAR_WIDTH / tallest;
            (upper, count, "∎".repeat(bar_len as usize))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(samples_ms: &[u64], elapsed: Duration) -> Measured {
        let mut m = Measured::new(elapsed);
        let ns: Vec<u64> = samples_ms.iter().map(|ms| ms * 1_000_000).collect();
        m.record_samples(&ns);
        m
    }

    #[test]
    fn quantiles_and_rate_come_from_successful_samples() {
        let samples: Vec<u64> = (1..=100).collect();
        let mut m = measured(&samples, Duration::from_secs(2));
        m.record_errors(BTreeMap::from([("boom".to_string(), 5)]));
        assert_eq!(m.ok(), 100);
        assert_eq!(m.error_count(), 5);
        assert!((m.per_sec() - 50.0).abs() < 1e-9);
        // hdrhistogram keeps 3 significant digits.
        assert!((m.quantile_ms(0.5) - 50.0).abs() < 0.1);
        assert!((m.quantile_ms(0.99) - 99.0).abs() < 0.1);
        assert!((m.max_ms() - 100.0).abs() < 0.1);
    }

    #[test]
    fn the_json_line_has_the_fields_scripts_read() {
        let m = measured(&[1, 2, 3, 4], Duration::from_secs(1));
        let labels = Labels {
            target: "etcd-grpc",
            workload: "put",
            clients: 4,
            conns: 2,
        };
        let line = serde_json::to_value(m.json_line(&labels, 4)).expect("serializable");
        for field in [
            "target", "workload", "clients", "conns", "total", "rps", "p50_ms", "p90_ms", "p99_ms",
            "p999_ms",
        ] {
            assert!(line.get(field).is_some(), "missing {field}");
        }
        assert_eq!(line["target"], "etcd-grpc");
        assert_eq!(line["rps"], 4.0);
    }

    #[test]
    fn an_empty_run_reports_zeros_instead_of_panicking() {
        let m = Measured::new(Duration::ZERO);
        assert_eq!(m.per_sec(), 0.0);
        assert_eq!(m.quantile_ms(0.99), 0.0);
        let text = m.render_text("Summary", "Requests");
        assert!(text.contains("0 ok, 0 errors"));
    }

    #[test]
    fn the_text_histogram_counts_every_sample_once() {
        let samples: Vec<u64> = (1..=1000).collect();
        let m = measured(&samples, Duration::from_secs(1));
        let buckets = text_histogram(&m.latency_ns);
        assert!(buckets.len() <= TEXT_HISTOGRAM_BUCKETS as usize);
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 1000);
        let text = m.render_text("Summary", "Requests");
        assert!(text.contains("99.9% in"));
    }

    #[test]
    fn a_single_sample_makes_one_bucket() {
        let m = measured(&[5], Duration::from_secs(1));
        let buckets = text_histogram(&m.latency_ns);
        assert_eq!(buckets.len(), 1);
        assert_eq!(buckets[0].1, 1);
    }
}
