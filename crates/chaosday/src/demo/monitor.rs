//! The shop's own monitoring: every second it asks each service for its figures (directly,
//! not through the links), adds what the customers saw at the front doors, and keeps a few
//! minutes of history. Its page (`/`, plain HTML and JavaScript, nothing to download) and
//! its JSON (`/api/stats`) are what the teams watch to detect trouble; the ops tools are
//! served beside them (`/api/ops`). It knows nothing of the game: no fault, no probe.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chaosday_engine::clock::now_ms;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::load::Load;
use super::ops::{Ops, OpsError, parse_action};
use super::service::ServiceStats;
use super::shop::{self, LinkSpec, ServiceSpec, Shop};
use super::stats::Summary;

/// How often the services are asked.
pub const EVERY: Duration = Duration::from_secs(1);

/// How long a service has to give its figures before it counts as hung.
const SCRAPE_TIMEOUT: Duration = Duration::from_millis(800);

/// How many points of history each row keeps (3 minutes).
const HISTORY: usize = 180;

/// The page.
const PAGE: &str = include_str!("monitor.html");

/// Whether a service answers its monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// It answers.
    Up,
    /// It accepts connections and answers nothing.
    Hung,
    /// Nothing listens on its port.
    Down,
}

/// A service as the monitoring sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    /// Its name.
    pub name: &'static str,
    /// Its system (`storefront` or `cart`).
    pub system: &'static str,
    /// What it does.
    pub about: &'static str,
    /// Its port.
    pub port: u16,
    /// Whether it answers.
    pub health: Health,
    /// Since when it is in that health, unix ms.
    pub health_since_ms: i64,
    /// Its pid, as it says.
    pub pid: Option<u32>,
    /// Seconds since it started, as it says.
    pub uptime_s: Option<f64>,
    /// What it served, as it says.
    pub served: Option<Summary>,
    /// Where its calls go (the storefront).
    pub route: Option<String>,
    /// Its config (the catalogs).
    pub config: Option<String>,
}

/// A link (or the direct path to the spare) as its callers see it.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    /// Its name.
    pub name: &'static str,
    /// Its system.
    pub system: &'static str,
    /// Who calls through it: `clients` or a service.
    pub from: &'static str,
    /// The service it leads to.
    pub to: &'static str,
    /// `http`, `tcp`, or `direct` (no link in between).
    pub protocol: &'static str,
    /// The port it listens on.
    pub port: Option<u16>,
    /// Whether its caller's traffic goes through it now.
    pub in_use: bool,
    /// What its callers saw; `None` while the caller does not answer its monitoring.
    pub calls: Option<Summary>,
}

/// The shop at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// When, unix ms.
    pub at_ms: i64,
    /// Every service.
    pub services: Vec<ServiceView>,
    /// Every link.
    pub links: Vec<LinkView>,
}

impl Snapshot {
    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceView> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// One point of a row's history: `[unix ms, requests/s, error rate, p95 ms]`.
type Point = (i64, f64, f64, Option<f64>);

/// The monitoring of one shop.
pub struct Monitor {
    shop: Shop,
    load: Arc<Load>,
    http: reqwest::Client,
    current: RwLock<Arc<Snapshot>>,
    history: Mutex<BTreeMap<String, VecDeque<Point>>>,
}

impl Monitor {
    /// Starts watching `shop` (and what `load`'s customers see) until `stop`.
    pub fn start(
        shop: Shop,
        load: Arc<Load>,
        stop: CancellationToken,
    ) -> anyhow::Result<Arc<Self>> {
        let monitor = Arc::new(Monitor {
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(SCRAPE_TIMEOUT)
                .pool_max_idle_per_host(0)
                .build()?,
            current: RwLock::new(Arc::new(Snapshot {
                at_ms: now_ms(),
                services: Vec::new(),
                links: Vec::new(),
            })),
            history: Mutex::default(),
            shop,
            load,
        });
        let watching = monitor.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => watching.poll().await,
                }
            }
        });
        Ok(monitor)
    }

    /// The shop as last seen.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().clone()
    }

    async fn poll(&self) {
        let scrapes =
            futures_util::future::join_all(shop::SERVICES.iter().map(|s| self.scrape(s))).await;
        let before = self.snapshot();
        let now = now_ms();
        let services: Vec<ServiceView> = shop::SERVICES
            .iter()
            .zip(&scrapes)
            .map(|(spec, (health, stats))| {
                let since = before
                    .service(spec.name)
                    .filter(|b| b.health == *health)
                    .map_or(now, |b| b.health_since_ms);
                ServiceView {
                    name: spec.name,
                    system: spec.system,
                    about: spec.about,
                    port: self.shop.service_port(spec),
                    health: *health,
                    health_since_ms: since,
                    pid: stats.as_ref().map(|s| s.pid),
                    uptime_s: stats.as_ref().map(|s| s.uptime_s),
                    served: stats.as_ref().map(|s| s.served.clone()),
                    route: stats.as_ref().and_then(|s| s.route.clone()),
                    config: stats.as_ref().and_then(|s| s.config.clone()),
                }
            })
            .collect();
        let stats_of = |name: &str| {
            shop::SERVICES
                .iter()
                .zip(&scrapes)
                .find(|(spec, _)| spec.name == name)
                .and_then(|(_, (_, stats))| stats.as_ref())
        };
        let links = shop::LINKS
            .iter()
            .map(|spec| self.link_view(spec, stats_of(spec.from)))
            .collect();
        let snapshot = Snapshot {
            at_ms: now,
            services,
            links,
        };
        {
            let mut history = self.history.lock();
            let rows = snapshot
                .services
                .iter()
                .map(|s| (format!("service:{}", s.name), s.served.as_ref()))
                .chain(
                    snapshot
                        .links
                        .iter()
                        .map(|l| (format!("link:{}", l.name), l.calls.as_ref())),
                );
            for (key, summary) in rows {
                let row = history.entry(key).or_default();
                row.push_back(match summary {
                    Some(s) => (now, s.rps, s.error_rate, s.p95_ms),
                    None => (now, 0.0, 0.0, None),
                });
                while row.len() > HISTORY {
                    row.pop_front();
                }
            }
        }
        *self.current.write() = Arc::new(snapshot);
    }

    fn link_view(&self, spec: &LinkSpec, caller: Option<&ServiceStats>) -> LinkView {
        let calls = if spec.from == "clients" {
            self.load.door(spec.name).map(|r| r.summary())
        } else {
            caller.and_then(|s| s.calls.get(spec.name).cloned())
        };
        let in_use = match (spec.from, caller.and_then(|s| s.route.as_deref())) {
            ("clients", _) => true,
            (_, Some(route)) => route == spec.name,
            (_, None) => spec.offset.is_some(),
        };
        LinkView {
            name: spec.name,
            system: spec.system,
            from: spec.from,
            to: spec.to,
            protocol: match (spec.offset, spec.http) {
                (None, _) => "direct",
                (Some(_), true) => "http",
                (Some(_), false) => "tcp",
            },
            port: self.shop.link_port(spec),
            in_use,
            calls,
        }
    }

    async fn scrape(&self, spec: &ServiceSpec) -> (Health, Option<ServiceStats>) {
        let url = format!("http://127.0.0.1:{}/_stats", self.shop.service_port(spec));
        match self.http.get(&url).send().await {
            Ok(answer) => match answer.json::<ServiceStats>().await {
                Ok(stats) => (Health::Up, Some(stats)),
                Err(e) if e.is_timeout() => (Health::Hung, None),
                Err(_) => (Health::Down, None),
            },
            Err(e) if e.is_timeout() => (Health::Hung, None),
            Err(_) => (Health::Down, None),
        }
    }

    fn history(&self) -> BTreeMap<String, Vec<Point>> {
        self.history
            .lock()
            .iter()
            .map(|(key, row)| (key.clone(), row.iter().copied().collect()))
            .collect()
    }
}

#[derive(Clone)]
struct PageState {
    monitor: Arc<Monitor>,
    ops: Arc<Ops>,
}

/// Serves the monitoring page, its figures and the ops API on `listener` until `stop`.
pub async fn serve(
    listener: TcpListener,
    monitor: Arc<Monitor>,
    ops: Arc<Ops>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/", get(page))
        .route("/api/stats", get(stats))
        .route("/api/ops", get(ops_status))
        .route("/api/ops/log", get(ops_log))
        .route("/api/ops/{action}/{service}", post(ops_act))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"error": "not found", "detail": "the shop serves /, /api/stats and /api/ops"})),
            )
        })
        .with_state(PageState { monitor, ops });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

async fn page() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Html(PAGE)).into_response()
}

async fn stats(State(state): State<PageState>) -> Response {
    let snapshot = state.monitor.snapshot();
    axum::Json(json!({
        "at_ms": snapshot.at_ms,
        "services": snapshot.services,
        "links": snapshot.links,
        "history": state.monitor.history(),
        "ops_log": state.ops.log(),
    }))
    .into_response()
}

/// The shared ops log: every action by anyone, newest first.
async fn ops_log(State(state): State<PageState>) -> Response {
    axum::Json(state.ops.log()).into_response()
}

/// Who asks for an ops action (`?by=NAME`).
#[derive(Debug, Default, serde::Deserialize)]
struct By {
    #[serde(default)]
    by: String,
}

async fn ops_status(State(state): State<PageState>) -> Response {
    axum::Json(state.ops.status().await).into_response()
}

async fn ops_act(
    State(state): State<PageState>,
    Path((action, service)): Path<(String, String)>,
    Query(By { by }): Query<By>,
) -> Response {
    let Some(action) = parse_action(&action) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({
                "error": "bad action",
                "detail": format!("no ops action `{action}`: use restart, failover, failback, rollback or break"),
            })),
        )
            .into_response();
    };
    match state.ops.act(action, &service, &by).await {
        Ok(message) => axum::Json(json!({"message": message})).into_response(),
        Err(e) => {
            let status = match e {
                OpsError::BadInput(_) => StatusCode::BAD_REQUEST,
                OpsError::NotFound(_) => StatusCode::NOT_FOUND,
                OpsError::Failed(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            (
                status,
                axum::Json(json!({"error": "ops action failed", "detail": e.to_string()})),
            )
                .into_response()
        }
    }
}
