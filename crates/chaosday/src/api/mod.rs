//! The HTTP APIs the binary serves: the game API under `/api/v1` ([`router`]), and the
//! Toxiproxy-compatible one ([`toxiproxy`], `chaosday proxy`; also under `/toxiproxy` of a
//! game server, for the game master only).
//!
//! The game API is a thin layer over [`GameServer`]: it knows who is asking (a bearer
//! token, [`access`]), reads bodies through serde naming the failing field ([`body`]), bounds
//! them and traces requests with tower-http layers, and turns every failure
//! into `{"error", "detail"}` in one place ([`error`]). Live updates are Server-Sent Events
//! ([`sse`]); the OpenAPI document is generated from the handlers ([`openapi`]).
//!
//! The same router serves the web UI ([`crate::web`]) beside the API: its pages, and the
//! session cookie that lets a signed-in browser read its own event stream (an
//! `EventSource` cannot send a bearer token).

pub mod access;
pub mod agents;
pub mod alerts;
pub mod body;
pub mod budget;
pub mod error;
pub mod guesses;
pub mod handlers;
pub mod listen;
#[cfg(test)]
mod matrix_tests;
pub mod metrics;
pub mod openapi;
pub mod proxy_metrics;
pub mod relay;
pub mod sse;
pub mod toxiproxy;
pub mod types;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::web::sessions::Sessions;
use crate::web::{self, WebOptions, WebState};
use chaosday_game::GameServer;
use chaosday_game::auth::Auth;
use error::ApiError;

/// How the game API behaves.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Whether requests without a token may read what is public (the scoreboard, the public
    /// timeline, live events). `false` asks a token for every read.
    pub spectators: bool,
    /// Requests per second per token (per address for requests without a known token);
    /// bursts of as many are allowed. 0 turns rate limits off.
    pub rate_limit: u32,
    /// How often an idle event stream gets a comment, so that proxies keep it open.
    pub keep_alive: Duration,
    /// The live event streams each token's holder, each address without a token, and all
    /// together may hold (over one's own: 429; over all: 503; with Retry-After).
    pub streams: budget::StreamLimits,
    /// Each address's budget of failed credentials (bad tokens, sessions that ended, wrong
    /// sign-ins): a burst of so many, then one per so long; over it, 429 with Retry-After.
    pub guesses: (u32, Duration),
    /// A team's Alertmanager's own budget: notifications per second, and the burst it
    /// may send at once; over it, 503 with Retry-After (which Alertmanager retries). 0: none.
    pub alert_rate: (u32, u32),
    /// Becomes `true` when the server stops: every event stream then ends, so that the
    /// server can drain. A sender dropped without sending leaves streams open.
    pub stopping: watch::Receiver<bool>,
    /// What the web UI needs beyond the game server (the game's scenarios).
    pub web: WebOptions,
    /// This replica's advertised URL, which a follower never forwards to.
    pub advertised: Option<String>,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            spectators: true,
            rate_limit: 50,
            alert_rate: (access::ALERT_RATE, access::ALERT_BURST),
            keep_alive: Duration::from_secs(15),
            streams: budget::StreamLimits::default(),
            guesses: (guesses::BURST, guesses::EVERY),
            stopping: watch::channel(false).1,
            web: WebOptions::default(),
            advertised: None,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    server: GameServer,
    auth: Arc<Auth>,
    spectators: bool,
    limiter: Option<Arc<access::Limiter>>,
    /// The Alertmanager receiver's own budget, per team.
    alert_limiter: Option<Arc<access::Limiter>>,
    /// Each address's budget of failed credentials, and the credentials proven from it.
    guesses: Arc<guesses::Guesses>,
    streams: Arc<sse::Streams>,
    openapi: Bytes,
    sessions: Arc<Sessions>,
    web: WebState,
    /// A follower's way to the leader.
    relay: Arc<relay::Relay>,
}

/// The game API's routes over `server`, with `auth`'s tokens: `/api/v1/...`, for the game
/// master the game's proxies under `/toxiproxy/...`, and the web UI's pages.
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()`: requests without a
/// known token are rate-limited by their peer's address.
pub fn router(server: GameServer, auth: Arc<Auth>, options: ApiOptions) -> Router {
    let sessions = Arc::new(Sessions::default());
    let scenarios = |manual: bool| -> Vec<String> {
        options
            .web
            .scenarios
            .iter()
            .filter(|s| s.manual == manual)
            .map(|s| s.name.clone())
            .collect()
    };
    let names = openapi::GameNames {
        teams: server.info().teams,
        targets: server
            .targets(&chaosday_domain::secrecy::Viewer::GameMaster)
            .into_iter()
            .map(|t| t.target)
            .collect(),
        scenarios: scenarios(false),
        manual: scenarios(true),
        kinds: server
            .info_for(&chaosday_domain::secrecy::Viewer::GameMaster)
            .fault_kinds,
    };
    let guesses = Arc::new(guesses::Guesses::new(options.guesses.0, options.guesses.1));
    let web = WebState::new(
        server.clone(),
        auth.clone(),
        sessions.clone(),
        guesses.clone(),
        options.spectators,
        options.web,
    );
    let state = AppState {
        server: server.clone(),
        auth,
        spectators: options.spectators,
        limiter: access::Limiter::new(options.rate_limit).map(Arc::new),
        alert_limiter: access::Limiter::with_burst(options.alert_rate.0, options.alert_rate.1)
            .map(Arc::new),
        guesses,
        streams: Arc::new(sse::Streams::new(
            options.keep_alive,
            options.streams,
            options.stopping,
        )),
        openapi: Bytes::from(openapi::document_for(&names)),
        sessions,
        web: web.clone(),
        relay: Arc::new(relay::Relay::new(options.advertised.clone())),
    };
    // The leader's proxies, once this replica leads (a follower forwards `/toxiproxy`).
    let toxiproxy = LeadersToxiproxy::new(server.clone());
    // Bodies are bounded by tower-http's limit (a Content-Length over it is refused before
    // the handler runs; a longer stream fails its read), its bare 413 made the API's error.
    let action_limit = ServiceBuilder::new()
        .layer(middleware::map_response(|r| {
            too_large(r, body::MAX_ACTION_BODY)
        }))
        .layer(RequestBodyLimitLayer::new(body::MAX_ACTION_BODY));
    let alerts_limit = ServiceBuilder::new()
        .layer(middleware::map_response(|r| {
            too_large(r, alerts::MAX_PAYLOAD)
        }))
        .layer(RequestBodyLimitLayer::new(alerts::MAX_PAYLOAD));
    let actions = Router::new()
        .route("/api/v1/declare", post(handlers::declare))
        .route("/api/v1/incidents/{id}/diagnose", post(handlers::diagnose))
        .route("/api/v1/incidents/{id}/hints", post(handlers::buy_hint))
        .route("/api/v1/incidents/{id}/resolve", post(handlers::resolve))
        .route("/api/v1/game/start", post(handlers::start))
        .route("/api/v1/game/pause", post(handlers::pause))
        .route("/api/v1/game/resume", post(handlers::resume))
        .route("/api/v1/game/end", post(handlers::end))
        .route("/api/v1/unleash", post(handlers::unleash))
        .route("/api/v1/inject-manual", post(handlers::inject_manual))
        .route("/api/v1/abort", post(handlers::abort))
        .route("/api/v1/rearm", post(handlers::rearm))
        .route("/api/v1/adjust", post(handlers::adjust))
        .route_layer(action_limit)
        .route(
            "/api/v1/alerts/alertmanager",
            post(alerts::alertmanager).layer(alerts_limit),
        )
        .route(
            "/api/v1/agents/exchange",
            post(agents::exchange).layer(
                ServiceBuilder::new()
                    .layer(middleware::map_response(|r| {
                        too_large(r, agents::MAX_REPORT)
                    }))
                    .layer(RequestBodyLimitLayer::new(agents::MAX_REPORT)),
            ),
        );
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::serve))
        .route("/api/v1/game", get(handlers::game))
        .route("/api/v1/scoreboard", get(handlers::scoreboard))
        .route("/api/v1/view", get(handlers::view))
        .route("/api/v1/incidents", get(handlers::incidents))
        .route("/api/v1/incidents/{id}", get(handlers::incident))
        .route("/api/v1/timeline", get(handlers::timeline))
        .route("/api/v1/events", get(sse::events))
        .route("/api/v1/faults", get(handlers::faults))
        .route("/api/v1/probes", get(handlers::probes))
        .route("/api/v1/schedule", get(handlers::schedule))
        .route("/api/v1/targets", get(handlers::targets))
        .route("/api/v1/agents", get(agents::health))
        .route("/metrics", get(metrics::metrics))
        .merge(actions)
        .nest_service(
            "/toxiproxy",
            Router::new()
                .fallback_service(toxiproxy)
                .layer(middleware::from_fn(access::game_master_only)),
        )
        .merge(web::router(web))
        // After the routes: it applies to those already added.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            access::authenticate,
        ))
        // Before anything else: a follower forwards what only the leader answers.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            relay::forward,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(
                    |response: &Response, latency: Duration, _: &tracing::Span| {
                        tracing::debug!(status = response.status().as_u16(), ?latency, "answered");
                    },
                )
                .on_failure(()),
        )
        .with_state(state)
}

/// The game's Toxiproxy API on the proxies of the replica's current leader: built once per
/// leader (a replica that takes the lead gets its own proxies' API).
#[derive(Clone)]
struct LeadersToxiproxy {
    server: GameServer,
    built: Arc<parking_lot::Mutex<Option<Router>>>,
}

impl LeadersToxiproxy {
    fn new(server: GameServer) -> Self {
        LeadersToxiproxy {
            server,
            built: Arc::default(),
        }
    }

    fn router(&self) -> Option<Router> {
        let mut built = self.built.lock();
        if built.is_none() {
            let (registry, engine) = (self.server.registry()?, self.server.engine()?);
            *built = Some(toxiproxy::router(toxiproxy::Toxiproxy { registry, engine }));
        }
        built.clone()
    }
}

impl tower::Service<Request> for LeadersToxiproxy {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response, std::convert::Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let router = self.router();
        Box::pin(async move {
            let Some(router) = router else {
                return Ok(ApiError::Unavailable(
                    "this replica follows the game and proxies nothing: the leader serves /toxiproxy".into(),
                )
                .into_response());
            };
            use tower::ServiceExt;
            router.oneshot(request).await
        })
    }
}

/// Turns tower-http's bare 413 (`text/plain`) into the API's `{"error", "detail"}`.
async fn too_large<B>(response: Response<B>, limit: usize) -> Response
where
    B: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !json {
        return ApiError::PayloadTooLarge(body::too_large_detail(limit)).into_response();
    }
    response.into_response()
}

/// Whether the client asked for a page (a browser), rather than for JSON.
fn wants_html(uri: &Uri, headers: &HeaderMap) -> bool {
    !uri.path().starts_with("/api/")
        && !uri.path().starts_with("/toxiproxy")
        && headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

async fn not_found(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    if wants_html(&uri, &headers) {
        return state.web.not_found(&headers, uri.path());
    }
    ApiError::NotFound(format!(
        "no such path: {}; the game API is under /api/v1, described at /api/v1/openapi.json",
        uri.path()
    ))
    .into_response()
}

async fn method_not_allowed(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if wants_html(&uri, &headers) {
        return state.web.not_found(&headers, uri.path());
    }
    ApiError::MethodNotAllowed(format!(
        "{method} is not allowed on {}; the Allow header lists what is, and /api/v1/openapi.json describes every endpoint",
        uri.path()
    ))
    .into_response()
}

/// A span per request, with its method and matched route (the status is logged when it is
/// answered).
fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(no route)", |p| p.as_str());
    tracing::info_span!("request", method = %request.method(), %route)
}

#[cfg(test)]
pub(crate) mod tests;
