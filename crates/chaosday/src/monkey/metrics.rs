//! `GET /metrics`: the monkey's figures in the Prometheus text format (OpenMetrics), built
//! from its history at each scrape on a registry of its own (no global state).
//!
//! | metric | labels |
//! | --- | --- |
//! | `chaosday_monkey_faults_planned_total` | `group` |
//! | `chaosday_monkey_faults_injected_total` | `group`, `mode` (`unleashed`, `leashed`) |
//! | `chaosday_monkey_faults_skipped_total` | `group`, `reason` |
//! | `chaosday_monkey_faults_active` | `group` |
//! | `chaosday_monkey_faults_reverted_total` | `group`, `cause` |
//! | `chaosday_monkey_faults_failed_total` | `group` |
//! | `chaosday_monkey_recovery_seconds` (histogram) | `group` |
//! | `chaosday_monkey_armed` | — |
//! | `chaosday_monkey_unleashed` | — |

use axum::extract::State;
use axum::response::Response;
use chaosday_domain::monkey::Mode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::MonkeyApp;
use crate::telemetry::{Labels, Ordered};

/// Upper bounds of the recovery histogram's buckets, in seconds.
const RECOVERY_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// `GET /metrics`.
pub async fn metrics(State(app): State<MonkeyApp>) -> Response {
    let status = app.monkey.status();
    let mut registry = Registry::with_prefix("chaosday_monkey");
    let mut planned = Ordered::<Counter>::default();
    let mut injected = Ordered::<Counter>::default();
    let mut skipped = Ordered::<Counter>::default();
    let mut active = Ordered::<Gauge>::default();
    let mut reverted = Ordered::<Counter>::default();
    let mut failed = Ordered::<Counter>::default();
    let mut recovery = Ordered::<Histogram>::default();
    for (group, figures) in &status.groups {
        let of = |extra: Option<(&'static str, &str)>| -> Labels {
            let mut labels = vec![("group", group.clone())];
            labels.extend(extra.map(|(k, v)| (k, v.to_owned())));
            labels
        };
        planned.get_or_create(of(None)).inc_by(figures.planned);
        injected
            .get_or_create(of(Some(("mode", "unleashed"))))
            .inc_by(figures.injected);
        injected
            .get_or_create(of(Some(("mode", "leashed"))))
            .inc_by(figures.leashed);
        for (reason, n) in &figures.skipped {
            skipped
                .get_or_create(of(Some(("reason", reason))))
                .inc_by(*n);
        }
        active
            .get_or_create(of(None))
            .set(i64::try_from(figures.active).unwrap_or(i64::MAX));
        for (cause, n) in &figures.reverted {
            reverted
                .get_or_create(of(Some(("cause", cause))))
                .inc_by(*n);
        }
        failed.get_or_create(of(None)).inc_by(figures.failed);
        let histogram = Histogram::new(RECOVERY_BUCKETS.iter().copied());
        for ms in &figures.recoveries_ms {
            histogram.observe(*ms as f64 / 1000.0);
        }
        recovery.insert(of(None), histogram);
    }
    registry.register("faults_planned", "Faults the monkey planned", planned);
    registry.register(
        "faults_injected",
        "Faults injected (mode=unleashed) or decided while leashed, touching nothing (mode=leashed)",
        injected,
    );
    registry.register(
        "faults_skipped",
        "Planned faults that did not happen, by reason",
        skipped,
    );
    registry.register("faults_active", "The monkey's faults in effect now", active);
    registry.register(
        "faults_reverted",
        "The monkey's faults reverted, by cause",
        reverted,
    );
    registry.register(
        "faults_failed",
        "Planned faults whose injection failed",
        failed,
    );
    registry.register(
        "recovery_seconds",
        "From a fault's end to its group's probes all green again",
        recovery,
    );
    let armed = Gauge::<i64>::default();
    armed.set(i64::from(status.armed));
    registry.register(
        "armed",
        "1 when the kill switch lets the monkey act, 0 when it is on",
        armed,
    );
    let unleashed = Gauge::<i64>::default();
    unleashed.set(i64::from(status.mode == Mode::Unleashed));
    registry.register(
        "unleashed",
        "1 when the monkey injects, 0 when it is leashed",
        unleashed,
    );
    crate::telemetry::openmetrics(&registry)
}
