//! What chaosday tells operators besides its answers: logs, and metrics.
//!
//! The one place that installs a tracing subscriber ([`init`]: logs go to stderr; `RUST_LOG`
//! overrides the level chosen with `-v`), and the one answer of every `GET /metrics`
//! ([`openmetrics`]): a registry built at each scrape, in the OpenMetrics text format.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing_subscriber::EnvFilter;

/// Installs the subscriber: warnings by default, `-v` info, `-vv` debug.
pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// A `/metrics` answer: `registry` in the OpenMetrics text format, which Prometheus reads.
pub fn openmetrics(registry: &prometheus_client::registry::Registry) -> Response {
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, registry) {
        tracing::warn!(error = %e, "the metrics did not encode");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics did not encode",
        )
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// A metric's labels: names and values.
pub type Labels = Vec<(&'static str, String)>;

/// A family of one metric under several label sets, encoded in the order of its labels.
/// prometheus-client's `Family` encodes its members in a hash map's order, which changes
/// from one process to the next, and leaves an empty family out of the answer: every
/// `/metrics` of chaosday uses this instead, so that an answer is the same bytes whenever
/// its figures are (the public `/metrics` of a game, SPEC §5) and names every metric it
/// has, members or not yet (what the Grafana dashboard's test reads).
#[derive(Debug)]
pub struct Ordered<M> {
    members: std::collections::BTreeMap<Labels, M>,
}

impl<M> Default for Ordered<M> {
    fn default() -> Self {
        Ordered {
            members: std::collections::BTreeMap::new(),
        }
    }
}

impl<M> Ordered<M> {
    /// Sets the member with `labels`.
    pub fn insert(&mut self, labels: Labels, metric: M) {
        self.members.insert(labels, metric);
    }
}

impl<M: Default> Ordered<M> {
    /// The member with `labels`, made on first use.
    pub fn get_or_create(&mut self, labels: Labels) -> &M {
        self.members.entry(labels).or_default()
    }
}

impl<M> prometheus_client::encoding::EncodeMetric for Ordered<M>
where
    M: prometheus_client::encoding::EncodeMetric + prometheus_client::metrics::TypedMetric,
{
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        for (labels, metric) in &self.members {
            metric.encode(encoder.encode_family(labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        M::TYPE
    }
}
