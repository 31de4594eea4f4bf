//! Request figures over a sliding window: what the shop's services and the load generator
//! record, and the summaries the monitoring page shows.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// How far back a summary looks.
pub const WINDOW: Duration = Duration::from_secs(5);

/// Why a request failed, as the caller saw it. The monitoring page shows these names.
pub mod errors {
    /// The connection was refused.
    pub const REFUSED: &str = "refused";
    /// The connection was reset, or closed before any byte came back.
    pub const RESET: &str = "reset";
    /// Nothing came back before the caller gave up.
    pub const NO_RESPONSE: &str = "no_response";
    /// Part of the answer came back before the caller gave up.
    pub const PARTIAL_RESPONSE: &str = "partial_response";
    /// The whole answer came back, but the connection did not close before the caller gave
    /// up (a caller that reads to the end of the connection).
    pub const CLOSE_WAIT: &str = "close_wait";
    /// The connection closed before the whole answer came back.
    pub const TRUNCATED: &str = "truncated";
    /// An answer with a 5xx status.
    pub const HTTP_5XX: &str = "http_5xx";
    /// An answer with a 4xx status.
    pub const HTTP_4XX: &str = "http_4xx";
    /// An answer that could not be read.
    pub const BAD_RESPONSE: &str = "bad_response";
    /// A service failed by itself (not because of what it calls).
    pub const INTERNAL: &str = "internal";
    /// A service failed because what it calls failed.
    pub const UPSTREAM: &str = "upstream";
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    latency_ms: f64,
    first_byte_ms: Option<f64>,
    error: Option<&'static str>,
}

/// The requests of the last [`WINDOW`], for one thing measured.
#[derive(Debug)]
pub struct Recorder {
    created: Instant,
    samples: Mutex<VecDeque<Sample>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            created: Instant::now(),
            samples: Mutex::default(),
        }
    }
}

impl Recorder {
    /// Records one request: how long it took, when its first byte came (if known), and why
    /// it failed (`None`: it succeeded).
    pub fn record(
        &self,
        latency: Duration,
        first_byte: Option<Duration>,
        error: Option<&'static str>,
    ) {
        let now = Instant::now();
        let mut samples = self.samples.lock();
        prune(&mut samples, now);
        samples.push_back(Sample {
            at: now,
            latency_ms: ms(latency),
            first_byte_ms: first_byte.map(ms),
            error,
        });
    }

    /// The figures of the last [`WINDOW`].
    pub fn summary(&self) -> Summary {
        let now = Instant::now();
        let mut samples = self.samples.lock();
        prune(&mut samples, now);
        let span = now
            .duration_since(self.created)
            .clamp(Duration::from_secs(1), WINDOW);
        summarize(samples.iter().copied(), span)
    }
}

fn prune(samples: &mut VecDeque<Sample>, now: Instant) {
    while samples
        .front()
        .is_some_and(|s| now.duration_since(s.at) > WINDOW)
    {
        samples.pop_front();
    }
}

fn summarize(samples: impl Iterator<Item = Sample>, span: Duration) -> Summary {
    let samples: Vec<Sample> = samples.collect();
    let requests = u32::try_from(samples.len()).unwrap_or(u32::MAX);
    let mut errors_by_kind: BTreeMap<String, u32> = BTreeMap::new();
    for error in samples.iter().filter_map(|s| s.error) {
        *errors_by_kind.entry(error.to_owned()).or_default() += 1;
    }
    let errors = errors_by_kind.values().sum::<u32>();
    let mut latencies: Vec<f64> = samples.iter().map(|s| s.latency_ms).collect();
    let mut first_bytes: Vec<f64> = samples.iter().filter_map(|s| s.first_byte_ms).collect();
    Summary {
        requests,
        rps: round(f64::from(requests) / span.as_secs_f64()),
        errors,
        error_rate: if requests == 0 {
            0.0
        } else {
            round(f64::from(errors) / f64::from(requests))
        },
        p50_ms: percentile(&mut latencies, 0.50),
        p95_ms: percentile(&mut latencies, 0.95),
        first_byte_p95_ms: percentile(&mut first_bytes, 0.95),
        errors_by_kind,
    }
}

/// What a caller or a service saw over the last few seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Requests in the window.
    pub requests: u32,
    /// Requests per second.
    pub rps: f64,
    /// Failed requests in the window.
    pub errors: u32,
    /// The share of requests that failed, 0 to 1.
    pub error_rate: f64,
    /// The median latency, ms.
    pub p50_ms: Option<f64>,
    /// The 95th percentile latency, ms.
    pub p95_ms: Option<f64>,
    /// The 95th percentile time to the first byte of the answer, ms (where measured).
    pub first_byte_p95_ms: Option<f64>,
    /// Failures by why (see [`errors`]).
    pub errors_by_kind: BTreeMap<String, u32>,
}

impl Summary {
    /// The most frequent reason of failure, if any request failed.
    pub fn main_error(&self) -> Option<&str> {
        self.errors_by_kind
            .iter()
            .max_by_key(|(_, count)| **count)
            .map(|(kind, _)| kind.as_str())
    }
}

fn percentile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64 - 1.0) * q).round() as usize;
    values.get(rank.min(values.len() - 1)).copied().map(round)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(latency_ms: f64, error: Option<&'static str>) -> Sample {
        Sample {
            at: Instant::now(),
            latency_ms,
            first_byte_ms: Some(latency_ms / 2.0),
            error,
        }
    }

    #[test]
    fn a_summary_counts_rates_errors_and_percentiles() {
        let samples = (1..=100).map(|i| {
            let error = (i % 10 == 0).then_some(errors::RESET);
            sample(f64::from(i), error)
        });
        let summary = summarize(samples, Duration::from_secs(5));
        assert_eq!(summary.requests, 100);
        assert_eq!(summary.rps, 20.0);
        assert_eq!(summary.errors, 10);
        assert_eq!(summary.error_rate, 0.1);
        assert_eq!(summary.p50_ms, Some(51.0));
        assert_eq!(summary.p95_ms, Some(95.0));
        assert_eq!(summary.main_error(), Some(errors::RESET));
    }

    #[test]
    fn an_empty_window_has_no_latency() {
        let summary = Recorder::default().summary();
        assert_eq!(summary.requests, 0);
        assert_eq!(summary.p95_ms, None);
        assert_eq!(summary.error_rate, 0.0);
        assert_eq!(summary.main_error(), None);
    }

    #[test]
    fn a_recorder_keeps_what_it_is_told() {
        let recorder = Recorder::default();
        recorder.record(Duration::from_millis(10), None, None);
        recorder.record(Duration::from_millis(30), None, Some(errors::REFUSED));
        let summary = recorder.summary();
        assert_eq!(summary.requests, 2);
        assert_eq!(summary.errors_by_kind[errors::REFUSED], 1);
        assert_eq!(summary.first_byte_p95_ms, None);
    }
}
