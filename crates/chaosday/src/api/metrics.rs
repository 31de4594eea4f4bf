//! `GET /metrics` of `chaosday serve`: the game's figures in the OpenMetrics text format,
//! built from the game's views at each scrape on a registry of its own.
//!
//! Secrecy (SPEC §5) decides what each caller gets. Without the game master's token (no
//! token, or a team's) the answer is built from the **spectator's** views only (the
//! domain's `secrecy`), so that it is byte for byte the same whether or not hidden
//! incidents exist:
//!
//! | metric | labels | what |
//! | --- | --- | --- |
//! | `chaosday_game_incidents` | `state` | incidents by state, those a spectator may see (detected or closed) |
//! | `chaosday_game_points` | `team` | each team's points, as the public scoreboard has them |
//! | `chaosday_game_time_to_detect_seconds` (histogram) | — | over closed public incidents |
//! | `chaosday_game_time_to_resolve_seconds` (histogram) | — | over closed public incidents |
//! | `chaosday_game_sse_clients` | — | live event streams open now |
//!
//! With the game master's token the same names count every incident (the histograms over
//! every incident that has the figure), and these come in addition:
//!
//! | metric | labels | what |
//! | --- | --- | --- |
//! | `chaosday_game_team_incidents` | `team`, `state` | incidents by team and state |
//! | `chaosday_game_armed` | — | 1 while faults may be injected, 0 after the kill switch |
//! | `chaosday_game_faults_active` | `kind` | faults of open incidents in effect now |
//! | `chaosday_game_fault_injections_total` | `kind` | faults injected for incidents |
//! | `chaosday_game_fault_reverts_total` | `cause` | faults of incidents gone, by cause |
//! | `chaosday_game_faults_revert_failed` | — | faults whose revert failed, retried now |
//! | `chaosday_game_event_commit_seconds` (histogram) | — | how long each append to the event log took |
//! | `chaosday_proxy_*` | `proxy`, ... | the game's link proxies (see [`super::proxy_metrics`]) |
//!
//! Every one of those would tell of a hidden incident: a fault in effect, an injection, an
//! append to the log (each event of a hidden incident is one more), the kill switch's
//! cancellations, the bytes a slowed link no longer carries.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chaosday_domain::incident::IncidentState;
use chaosday_domain::secrecy::Viewer;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::AppState;
use super::access::Who;
use crate::telemetry::Ordered;

/// Upper bounds of the time-to-detect and time-to-resolve buckets, in seconds.
const TIME_BUCKETS: [f64; 11] = [
    10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
];

/// Every state, in the order the answer lists them.
const STATES: [IncidentState; 7] = [
    IncidentState::Open,
    IncidentState::Detected,
    IncidentState::Diagnosed,
    IncidentState::Resolved,
    IncidentState::RanOut,
    IncidentState::Expired,
    IncidentState::Cancelled,
];

/// `GET /metrics`: the public figures, and the game master's with the game master's token.
pub async fn metrics(State(state): State<AppState>, who: Who) -> Response {
    let viewer = match who.viewer(state.spectators) {
        Ok(viewer) => viewer,
        Err(e) => return e.into_response(),
    };
    let game_master = viewer == Viewer::GameMaster;
    // A team's token gets what a spectator gets: the per-team figures are the game master's.
    let seen_as = if game_master {
        Viewer::GameMaster
    } else {
        Viewer::Spectator
    };
    let mut registry = Registry::default();
    let game = registry.sub_registry_with_prefix("chaosday_game");
    register_public(game, &state, &seen_as);
    if game_master {
        register_game_masters(game, &state).await;
        if let Some(proxies) = state.server.registry() {
            super::proxy_metrics::register(&mut registry, &proxies);
        }
    }
    crate::telemetry::openmetrics(&registry)
}

/// What `viewer` (a spectator, or the game master) may know, counted.
fn register_public(registry: &mut Registry, state: &AppState, viewer: &Viewer) {
    let view = state.server.view(viewer);
    let mut incidents = Ordered::<Gauge>::default();
    for s in STATES {
        // A spectator never sees an open (undetected) incident: no such line for it.
        if s == IncidentState::Open && *viewer != Viewer::GameMaster {
            continue;
        }
        let n = view.incidents.iter().filter(|i| i.state == s).count();
        incidents
            .get_or_create(vec![("state", s.as_str().to_owned())])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    registry.register(
        "incidents",
        "Incidents by state (without the game master's token: those a spectator may see, detected or closed)",
        incidents,
    );
    let mut points = Ordered::<Gauge>::default();
    for team in &state.server.game().teams {
        let score = view
            .scoreboard
            .iter()
            .find(|s| s.team == team.name)
            .map_or(0, |s| s.points);
        points
            .get_or_create(vec![("team", team.name.clone())])
            .set(score);
    }
    registry.register(
        "points",
        "Each team's points, as the scoreboard shows them to the caller",
        points,
    );
    let detect = Histogram::new(TIME_BUCKETS.iter().copied());
    let resolve = Histogram::new(TIME_BUCKETS.iter().copied());
    for incident in &view.incidents {
        // Outside the game master's figures, only closed incidents: nothing of an open one.
        if *viewer != Viewer::GameMaster && !incident.state.is_closed() {
            continue;
        }
        if let Some(ms) = incident.time_to_detect_ms {
            detect.observe(ms as f64 / 1000.0);
        }
        if let Some(ms) = incident.time_to_resolve_ms {
            resolve.observe(ms as f64 / 1000.0);
        }
    }
    registry.register(
        "time_to_detect_seconds",
        "Running time from an incident's opening to its detection (without the game master's token: closed public incidents)",
        detect,
    );
    registry.register(
        "time_to_resolve_seconds",
        "Running time from an incident's opening to its resolution (without the game master's token: closed public incidents)",
        resolve,
    );
    let clients = Gauge::<i64>::default();
    clients.set(i64::try_from(state.streams.open()).unwrap_or(i64::MAX));
    registry.register(
        "sse_clients",
        "Live event streams (Server-Sent Events) open now",
        clients,
    );
}

/// What only the game master may know: faults, the kill switch, the log's appends.
async fn register_game_masters(registry: &mut Registry, state: &AppState) {
    let all = state.server.view(&Viewer::GameMaster);
    let mut by_team = Ordered::<Gauge>::default();
    for team in &state.server.game().teams {
        for s in STATES {
            let n = all
                .incidents
                .iter()
                .filter(|i| i.team == team.name && i.state == s)
                .count();
            by_team
                .get_or_create(vec![
                    ("team", team.name.clone()),
                    ("state", s.as_str().to_owned()),
                ])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
    registry.register(
        "team_incidents",
        "Incidents by team and state (the game master's only)",
        by_team,
    );
    let armed = Gauge::<i64>::default();
    armed.set(i64::from(state.server.info_for(&Viewer::GameMaster).armed));
    registry.register(
        "armed",
        "1 while faults may be injected, 0 after the kill switch until a re-arm",
        armed,
    );
    let figures = state.server.fault_figures().await;
    let mut active = Ordered::<Gauge>::default();
    for (kind, n) in &figures.active {
        active
            .get_or_create(vec![("kind", kind.clone())])
            .set(i64::try_from(*n).unwrap_or(i64::MAX));
    }
    registry.register(
        "faults_active",
        "Faults of open incidents in effect now, by kind",
        active,
    );
    let mut injected = Ordered::<Counter>::default();
    for (kind, n) in &figures.injected {
        injected
            .get_or_create(vec![("kind", kind.clone())])
            .inc_by(*n);
    }
    registry.register(
        "fault_injections",
        "Faults injected for incidents, by kind",
        injected,
    );
    let mut reverted = Ordered::<Counter>::default();
    for (cause, n) in &figures.reverted {
        reverted
            .get_or_create(vec![("cause", cause.clone())])
            .inc_by(*n);
    }
    registry.register(
        "fault_reverts",
        "Faults of incidents that went away, by cause (timer, healed, diagnosis, closing, safety)",
        reverted,
    );
    let failed = Gauge::<i64>::default();
    failed.set(i64::try_from(figures.revert_failed).unwrap_or(i64::MAX));
    registry.register(
        "faults_revert_failed",
        "Faults whose revert failed, which chaosday retries now (they may still be in effect)",
        failed,
    );
    registry.register(
        "event_commit_seconds",
        "How long each append of a batch of events to the event log took",
        state.server.commit_seconds(),
    );
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, header};
    use http_body_util::BodyExt;
    use serde_json::json;
    use tower::ServiceExt;

    use crate::api::ApiOptions;
    use crate::api::tests::{CHECKOUT, GM, SEARCH, app, app_with, send};

    /// `GET /metrics` with `token`: status and text.
    async fn scrape(router: &axum::Router, token: Option<&str>) -> (u16, String) {
        let mut request = Request::get("/metrics");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// The value of the sample `line` starts with (a metric and its labels), if any.
    fn value(text: &str, sample: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
            .map(|v| v.parse().unwrap())
    }

    #[tokio::test]
    async fn an_incident_counts_publicly_once_detected_and_faults_are_the_game_masters() {
        let app = app().await;
        let post = |path: &'static str, token: &'static str, body: serde_json::Value| {
            let router = app.router.clone();
            async move {
                let answer = send(&router, "POST", path, Some(token), body.to_string()).await;
                assert!(answer.status.is_success(), "{path}: {}", answer.body);
            }
        };
        post("/api/v1/game/start", GM, json!({"player": "gm"})).await;
        post(
            "/api/v1/unleash",
            GM,
            json!({"player": "gm", "scenario": "slow-database", "team": "checkout"}),
        )
        .await;

        let (status, public) = scrape(&app.router, None).await;
        assert_eq!(status, 200);
        assert!(public.ends_with("# EOF\n"), "OpenMetrics text: {public}");
        assert_eq!(
            value(&public, "chaosday_game_incidents{state=\"detected\"}"),
            Some(0.0)
        );
        assert_eq!(
            value(&public, "chaosday_game_incidents{state=\"open\"}"),
            None,
            "a spectator never counts open incidents"
        );
        assert_eq!(
            value(&public, "chaosday_game_points{team=\"checkout\"}"),
            Some(0.0)
        );
        for secret in [
            "chaosday_game_faults_active",
            "chaosday_game_fault_injections",
            "chaosday_game_armed",
            "chaosday_game_event_commit_seconds",
            "chaosday_game_team_incidents",
            "chaosday_proxy_",
        ] {
            assert!(!public.contains(secret), "{secret} is not public: {public}");
        }
        // A team's token gets the public figures, no more.
        for team in [CHECKOUT, SEARCH] {
            assert_eq!(scrape(&app.router, Some(team)).await, (200, public.clone()));
        }

        let (_, gm) = scrape(&app.router, Some(GM)).await;
        assert_eq!(
            value(&gm, "chaosday_game_incidents{state=\"open\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(
                &gm,
                "chaosday_game_team_incidents{team=\"checkout\",state=\"open\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&gm, "chaosday_game_faults_active{kind=\"latency\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(
                &gm,
                "chaosday_game_fault_injections_total{kind=\"latency\"}"
            ),
            Some(1.0)
        );
        assert_eq!(value(&gm, "chaosday_game_armed"), Some(1.0));
        assert!(
            value(&gm, "chaosday_game_event_commit_seconds_count").unwrap() >= 2.0,
            "the start and the opening were appended: {gm}"
        );
        assert_eq!(
            gm.lines()
                .filter(|l| l.starts_with("chaosday_proxy_bytes_total{proxy=\"link:127.0.0.1:"))
                .count(),
            4,
            "both directions of the game's two link proxies: {gm}"
        );

        post(
            "/api/v1/declare",
            CHECKOUT,
            json!({"player": "ada", "target": "cart-db-link"}),
        )
        .await;
        let (_, public) = scrape(&app.router, None).await;
        assert_eq!(
            value(&public, "chaosday_game_incidents{state=\"detected\"}"),
            Some(1.0),
            "detected: public now"
        );
        post("/api/v1/abort", GM, json!({"player": "gm"})).await;
        let (_, gm) = scrape(&app.router, Some(GM)).await;
        assert_eq!(value(&gm, "chaosday_game_armed"), Some(0.0));
        assert_eq!(
            value(&gm, "chaosday_game_faults_active{kind=\"latency\"}"),
            None,
            "the kill switch reverted it: {gm}"
        );
        assert_eq!(
            value(&gm, "chaosday_game_incidents{state=\"cancelled\"}"),
            Some(1.0)
        );
    }

    #[tokio::test]
    async fn without_spectators_a_scrape_needs_a_token_and_a_bad_one_is_refused() {
        let app = app_with(ApiOptions {
            rate_limit: 0,
            spectators: false,
            ..ApiOptions::default()
        })
        .await;
        let (status, body) = scrape(&app.router, None).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("token"), "{body}");
        assert_eq!(scrape(&app.router, Some(CHECKOUT)).await.0, 200);
        let (status, body) = scrape(&app.router, Some("not-a-token-of-anyone")).await;
        assert_eq!(status, 401, "{body}");
    }
}
