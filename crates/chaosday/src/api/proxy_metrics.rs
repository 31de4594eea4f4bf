//! `GET /metrics` of `chaosday proxy`: each proxy's traffic and toxics in the OpenMetrics
//! text format, read from the registry's counters at each scrape (Toxiproxy has none).
//!
//! | metric | labels | what |
//! | --- | --- | --- |
//! | `chaosday_proxy_bytes_total` | `proxy`, `direction` (`upstream`, `downstream`) | bytes relayed |
//! | `chaosday_proxy_connections_total` | `proxy` | client connections accepted |
//! | `chaosday_proxy_connections_open` | `proxy` | client connections open now |
//! | `chaosday_proxy_upstream_failures_total` | `proxy` | connections closed because the upstream refused or did not answer |
//! | `chaosday_proxy_enabled` | `proxy` | 1 when it accepts connections |
//! | `chaosday_proxy_toxics` | `proxy`, `type`, `stream` | toxics on it now |

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::response::Response;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::toxiproxy::Toxiproxy;
use crate::telemetry::Ordered;

/// `GET /metrics`.
pub async fn metrics(State(api): State<Toxiproxy>) -> Response {
    let mut registry = Registry::default();
    register(&mut registry, &api.registry);
    crate::telemetry::openmetrics(&registry)
}

/// Registers the figures of `proxies` into `into`, under `chaosday_proxy_`: the answer of
/// `chaosday proxy`, and part of the game master's `/metrics` of `chaosday serve`.
pub fn register(into: &mut Registry, proxies: &chaosday_proxy::Registry) {
    let mut bytes = Ordered::<Counter>::default();
    let mut connections = Ordered::<Counter>::default();
    let mut open = Ordered::<Gauge>::default();
    let mut failures = Ordered::<Counter>::default();
    let mut enabled = Ordered::<Gauge>::default();
    let mut toxics = Ordered::<Gauge>::default();
    for view in proxies.list() {
        // Deleted since the list: not reported.
        let Ok(stats) = proxies.stats(&view.name) else {
            continue;
        };
        let proxy = || vec![("proxy", view.name.clone())];
        let with = |key: &'static str, value: &str| {
            let mut labels = proxy();
            labels.push((key, value.to_owned()));
            labels
        };
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        bytes
            .get_or_create(with("direction", "upstream"))
            .inc_by(read(&stats.bytes_upstream));
        bytes
            .get_or_create(with("direction", "downstream"))
            .inc_by(read(&stats.bytes_downstream));
        connections
            .get_or_create(proxy())
            .inc_by(read(&stats.connections_total));
        open.get_or_create(proxy())
            .set(i64::try_from(read(&stats.connections_open)).unwrap_or(i64::MAX));
        failures
            .get_or_create(proxy())
            .inc_by(read(&stats.upstream_failures));
        enabled.get_or_create(proxy()).set(i64::from(view.enabled));
        let mut by_kind: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for toxic in &view.toxics {
            *by_kind
                .entry((toxic.kind.type_name(), toxic.stream.as_str()))
                .or_default() += 1;
        }
        for ((type_name, stream), n) in by_kind {
            let mut labels = with("type", type_name);
            labels.push(("stream", stream.to_owned()));
            toxics.get_or_create(labels).set(n);
        }
    }
    let registry = into.sub_registry_with_prefix("chaosday_proxy");
    registry.register("bytes", "Bytes relayed, by direction", bytes);
    registry.register("connections", "Client connections accepted", connections);
    registry.register("connections_open", "Client connections open now", open);
    registry.register(
        "upstream_failures",
        "Connections closed because the upstream refused them or did not answer in time",
        failures,
    );
    registry.register(
        "enabled",
        "1 when the proxy accepts connections, 0 when it is disabled",
        enabled,
    );
    registry.register(
        "toxics",
        "Toxics on the proxy now, by type and stream",
        toxics,
    );
}
