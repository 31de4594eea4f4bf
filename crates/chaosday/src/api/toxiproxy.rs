//! The Toxiproxy 2.12 HTTP API over a proxy [`Registry`], so that existing Toxiproxy clients
//! drive chaosday unchanged.
//!
//! Paths, status codes, JSON shapes, field order and defaults are Toxiproxy's, pinned request
//! by request against a transcript of a real server (`toxiproxy-api.md` in the shared docs).
//! Where Toxiproxy is wrong, this API answers better: every error body is
//! `application/json`; a `listen` that does not parse and a toxicity outside 0–1 are 400s,
//! never 500s or accepted; bodies are parsed here from bytes, whatever their content type,
//! so a malformed one is a 400 that says what is wrong. Failures become HTTP answers in one
//! place: [`Error`]'s `IntoResponse`.
//!
//! The wire format itself (parsing proxy and toxic bodies with Toxiproxy's defaults and
//! words, rendering them, and the answer for each `RegistryError`) is
//! [`chaosday_proxy::toxiproxy`]; this module routes, reads bodies and calls the typed
//! [`Registry`].
//!
//! Every fault made through this API is a fault of the engine like any other ([`Toxiproxy`]):
//! a toxic, or a proxy disabled, is recorded in the revert journal before it takes effect
//! (refused while the kill switch is on), so the kill switch, a shutdown and the next
//! chaosday after a crash undo it. Deleting the toxic, enabling the proxy, deleting the proxy
//! or `/reset` end its journal entry.

use std::future::{Future, IntoFuture};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chaosday_engine::{Action, Engine, Prepared, RevertPlan};
use chaosday_proxy::toxiproxy::{self, ApiError};
use chaosday_proxy::{ProxyConfig, ProxyUpdate, ProxyView, Registry, RegistryError, Stream, Toxic};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tracing::Instrument;

/// What `GET /version` answers: the Toxiproxy version this API emulates, marked as chaosday.
pub const VERSION: &str = "2.12.0+chaosday";

/// The largest request body read (a `/populate` of thousands of proxies fits).
const MAX_BODY: usize = 1024 * 1024;

/// How long requests in flight may take to finish once the server is asked to stop.
const GRACE: Duration = Duration::from_secs(5);

/// What the API acts on: the proxies, and the engine that journals every fault made
/// through it (its link driver acts on the same registry).
#[derive(Clone)]
pub struct Toxiproxy {
    /// The proxies.
    pub registry: Registry,
    /// The engine the toxics and disabled proxies are faults of.
    pub engine: Engine,
}

/// The journal's key for a toxic made through the API: one live entry per toxic.
fn toxic_key(proxy: &str, toxic: &str) -> String {
    format!("toxiproxy:{proxy}/{toxic}")
}

/// The journal's key for a proxy disabled through the API.
fn down_key(proxy: &str) -> String {
    format!("toxiproxy:{proxy}")
}

impl Toxiproxy {
    /// Ends the journal entries of faults made through the API whose key `matches`: their
    /// effect is gone or is being undone by the caller (a deleted toxic or proxy, a reset).
    async fn end_entries(&self, matches: impl Fn(&str) -> bool) -> Result<(), Error> {
        let live = self.engine.live().await.map_err(engine_error)?;
        for entry in live.into_iter().filter(|e| matches(&e.target_key)) {
            self.engine
                .revert(entry.id, "undone through the Toxiproxy API")
                .await
                .map_err(engine_error)?;
        }
        Ok(())
    }

    /// Puts `toxic` on `proxy` as a fault of the journal (a 409 if the proxy has a toxic of
    /// that name, as Toxiproxy).
    pub async fn add_toxic(&self, proxy: &str, toxic: Toxic) -> Result<Toxic, Error> {
        let name = toxic.name.clone();
        if self.registry.toxic(proxy, &name).is_ok() {
            return Err(RegistryError::ToxicExists {
                proxy: proxy.to_owned(),
                toxic: name,
            }
            .into());
        }
        let prepared = Prepared {
            target_key: toxic_key(proxy, &name),
            description: format!(
                "toxic {name} ({}) on proxy {proxy}, through the Toxiproxy API",
                toxic.kind.type_name()
            ),
            revert: RevertPlan::RemoveToxic {
                owner: self.engine.owner(),
                proxy: proxy.to_owned(),
                toxic: name.clone(),
            },
            action: Action::AddToxic {
                proxy: proxy.to_owned(),
                toxic: toxic.clone(),
            },
        };
        self.inject(prepared, toxiproxy::toxic_json(&toxic)).await?;
        Ok(self.registry.toxic(proxy, &name)?)
    }

    /// Disables `proxy` (the link is down) as a fault of the journal; a proxy already
    /// disabled (by a `--config` file) gets its journal entry, so the kill switch enables it.
    pub async fn disable(&self, proxy: &str) -> Result<(), Error> {
        let prepared = Prepared {
            target_key: down_key(proxy),
            description: format!("proxy {proxy} disabled through the Toxiproxy API"),
            action: Action::DisableProxy {
                proxy: proxy.to_owned(),
            },
            revert: RevertPlan::EnableProxy {
                owner: self.engine.owner(),
                proxy: proxy.to_owned(),
            },
        };
        self.inject(prepared, json!({ "proxy": proxy, "enabled": false }))
            .await
    }

    /// Records a fault made through the API, then makes it take effect.
    async fn inject(&self, prepared: Prepared, what: Value) -> Result<(), Error> {
        self.engine
            .inject_prepared(prepared, json!({ "toxiproxy": what.clone() }), what)
            .await
            .map(drop)
            .map_err(engine_error)
    }
}

/// An engine refusal as Toxiproxy-style answer: 409 while the kill switch is on or the
/// fault is already there, 500 when the journal or the proxy failed.
fn engine_error(error: chaosday_engine::Error) -> Error {
    use chaosday_engine::Error as E;
    let status = match &error {
        E::Disarmed { .. } | E::TargetBusy { .. } | E::ShuttingDown | E::Preempted(_) => {
            StatusCode::CONFLICT
        }
        E::BadFault(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Error::Api(ApiError {
        status: status.as_u16(),
        message: error.to_string(),
    })
}

/// The API's routes, over `api`.
pub fn router(api: Toxiproxy) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/metrics", get(super::proxy_metrics::metrics))
        .route("/proxies", get(list_proxies).post(create_proxy))
        .route("/populate", post(populate))
        .route("/reset", post(reset))
        .route(
            "/proxies/{proxy}",
            get(get_proxy)
                .post(update_proxy)
                .patch(update_proxy)
                .delete(delete_proxy),
        )
        .route(
            "/proxies/{proxy}/toxics",
            get(list_toxics).post(create_toxic),
        )
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(get_toxic)
                .post(update_toxic)
                .patch(update_toxic)
                .delete(delete_toxic),
        )
        // After the routes: it applies to those already added.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(middleware::from_fn(trace))
        .with_state(api)
}

/// Serves the API on `listener` until `shutdown` completes, then reverts the faults made
/// through it and stops every proxy of the registry (their listeners and connections).
/// Requests in flight get a few seconds to finish.
pub async fn serve(
    listener: TcpListener,
    api: Toxiproxy,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let registry = api.registry.clone();
    let engine = api.engine.clone();
    let (stopping_tx, mut stopping) = tokio::sync::watch::channel(false);
    let signal = {
        let registry = registry.clone();
        let engine = engine.clone();
        async move {
            shutdown.await;
            // Faults end, and proxies stop, at once; the API only drains what it is answering.
            engine.shutdown("the Toxiproxy API stopped").await;
            registry.stop_all().await;
            let _ = stopping_tx.send(true);
        }
    };
    let server = axum::serve(listener, router(api))
        .with_graceful_shutdown(signal)
        .into_future();
    let grace_over = async {
        if stopping.wait_for(|stopping| *stopping).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(GRACE).await;
    };
    let result = tokio::select! {
        result = server => result,
        () = grace_over => {
            tracing::warn!("API requests still open {GRACE:?} after the stop: dropping them");
            Ok(())
        }
    };
    // Again: a request in flight during the stop may have created one.
    engine.shutdown("the Toxiproxy API stopped").await;
    registry.stop_all().await;
    result
}

/// Why a request failed. The one place where failures become HTTP answers:
/// `{"error": "...", "status": N}` as `application/json`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A 4xx, from the registry or from reading the request.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A `/populate` that failed: Toxiproxy's answer also lists the proxies created before
    /// the failure (`"proxies": null` when there are none).
    #[error("{error}")]
    Populate {
        /// What failed.
        error: ApiError,
        /// The proxies created or kept before it.
        created: Vec<ProxyView>,
    },
}

impl From<RegistryError> for Error {
    fn from(error: RegistryError) -> Self {
        Error::Api(error.into())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (error, created) = match self {
            Error::Api(error) => (error, None),
            Error::Populate { error, created } => (error, Some(created)),
        };
        let status = StatusCode::from_u16(error.status).unwrap_or_else(|_| {
            tracing::error!(status = error.status, message = %error.message, "an API error with an invalid status");
            StatusCode::INTERNAL_SERVER_ERROR
        });
        let mut body = error.body();
        if let (Some(created), Some(fields)) = (created, body.as_object_mut()) {
            let proxies = if created.is_empty() {
                Value::Null
            } else {
                Value::Array(created.into_iter().map(proxy_json).collect())
            };
            fields.insert("proxies".into(), proxies);
        }
        json_response(status, &body)
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, body)
}

/// A request body read whole, whatever its content type: Toxiproxy clients send JSON as
/// `application/json`, `text/plain`, form-encoded (`curl -d`) or with no type at all.
struct RawBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = Error;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Error> {
        match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(e) if too_large(&e) => Err(ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE.as_u16(),
                message: format!(
                    "bad request body: larger than {} KiB; send fewer proxies at once",
                    MAX_BODY / 1024
                ),
            }
            .into()),
            Err(e) => Err(ApiError::bad_request(format!(
                "bad request body: it could not be read: {e}"
            ))
            .into()),
        }
    }
}

fn too_large(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Parses a body as JSON; `example` shows what the endpoint takes.
fn parse(body: &[u8], example: &str) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!(
            "bad request body: it is empty; send JSON such as {example}"
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "bad request body: not JSON: {e}; send JSON such as {example}"
        ))
    })
}

const PROXY_EXAMPLE: &str =
    r#"{"name": "db", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:5432"}"#;
const UPDATE_EXAMPLE: &str = r#"{"enabled": false}"#;
const TOXIC_EXAMPLE: &str = r#"{"type": "latency", "attributes": {"latency": 100}}"#;
const TOXIC_UPDATE_EXAMPLE: &str = r#"{"attributes": {"latency": 250}}"#;

/// Path segments (proxy and toxic names), percent-decoded, with this API's own rejection.
struct Names<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Names<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(names)) => Ok(Names(names)),
            Err(_) => Err(ApiError::bad_request(format!(
                "bad path {}: proxy and toxic names must be UTF-8 once percent-decoded",
                parts.uri.path()
            ))
            .into()),
        }
    }
}

/// A proxy as Toxiproxy shows it, its toxics in Toxiproxy's order.
fn proxy_json(mut view: ProxyView) -> Value {
    view.toxics = toxiproxy_order(view.toxics);
    toxiproxy::proxy_json(&view)
}

/// Toxiproxy lists a proxy's toxics upstream first, then downstream, each in the order they
/// were added.
fn toxiproxy_order(mut toxics: Vec<Toxic>) -> Vec<Toxic> {
    toxics.sort_by_key(|t| match t.stream {
        Stream::Upstream => 0,
        Stream::Downstream => 1,
    });
    toxics
}

/// A proxy created through the API. Like Toxiproxy, the API ignores `toxics` in the body
/// (only `--config` applies them), so a bad one there is no error either.
fn api_proxy_config(mut body: Value) -> Result<ProxyConfig, ApiError> {
    if let Some(fields) = body.as_object_mut() {
        fields.remove("toxics");
    }
    toxiproxy::parse_proxy(&body)
}

async fn version() -> Response {
    ok(&json!({ "version": VERSION }))
}

async fn list_proxies(State(api): State<Toxiproxy>) -> Response {
    let proxies: Map<String, Value> = api
        .registry
        .list()
        .into_iter()
        .map(|view| (view.name.clone(), proxy_json(view)))
        .collect();
    ok(&Value::Object(proxies))
}

async fn create_proxy(
    State(api): State<Toxiproxy>,
    RawBody(body): RawBody,
) -> Result<Response, Error> {
    let config = api_proxy_config(parse(&body, PROXY_EXAMPLE)?)?;
    let view = api.registry.create(config).await?;
    Ok(json_response(StatusCode::CREATED, &proxy_json(view)))
}

async fn populate(State(api): State<Toxiproxy>, RawBody(body): RawBody) -> Result<Response, Error> {
    let fail = |error| Error::Populate {
        error,
        created: Vec::new(),
    };
    let Value::Array(items) = parse(&body, &format!("[{PROXY_EXAMPLE}]")).map_err(fail)? else {
        return Err(fail(ApiError::bad_request(format!(
            "bad request body: expected a JSON list of proxies such as [{PROXY_EXAMPLE}]"
        ))));
    };
    // Every proxy is checked before any is created, as Toxiproxy does.
    let configs = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            api_proxy_config(item).map_err(|e| ApiError {
                status: e.status,
                message: format!("proxy {} of the list: {}", i + 1, e.message),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    // One at a time, so that a failure can name the proxies already there, as Toxiproxy.
    let mut created = Vec::with_capacity(configs.len());
    for config in configs {
        // A proxy that changed is replaced: deleted here, so that its address is free again
        // before the registry binds it for the new one.
        if let Ok(existing) = api.registry.get(&config.name)
            && !config.keeps(&existing)
            && let Err(error) = api.registry.delete(&config.name).await
        {
            return Err(Error::Populate {
                error: error.into(),
                created,
            });
        }
        match api.registry.populate(vec![config]).await {
            Ok(views) => created.extend(views),
            Err(error) => {
                return Err(Error::Populate {
                    error: error.into(),
                    created,
                });
            }
        }
    }
    let proxies: Vec<Value> = created.into_iter().map(proxy_json).collect();
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "proxies": proxies }),
    ))
}

async fn reset(State(api): State<Toxiproxy>) -> Result<StatusCode, Error> {
    api.registry.reset().await?;
    // Every toxic is gone and every proxy enabled: so are the faults made through the API.
    api.end_entries(|key| key.starts_with("toxiproxy:")).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_proxy(
    State(api): State<Toxiproxy>,
    Names(proxy): Names<String>,
) -> Result<Response, Error> {
    Ok(ok(&proxy_json(api.registry.get(&proxy)?)))
}

async fn update_proxy(
    State(api): State<Toxiproxy>,
    Names(proxy): Names<String>,
    RawBody(body): RawBody,
) -> Result<Response, Error> {
    // An unknown proxy is a 404 whatever the body, as Toxiproxy.
    let before = api.registry.get(&proxy)?;
    let update = toxiproxy::parse_proxy_update(&proxy, &parse(&body, UPDATE_EXAMPLE)?)?;
    // Disabling is a fault (the link is down): the rest of the update first, then the fault
    // through the journal. Enabling ends that fault.
    let enabled = update.enabled;
    let mut after = api
        .registry
        .update(
            &proxy,
            ProxyUpdate {
                enabled: None,
                ..update
            },
        )
        .await?;
    match enabled {
        Some(false) if before.enabled => {
            api.disable(&proxy).await?;
            after = api.registry.get(&proxy)?;
        }
        Some(true) if !before.enabled => {
            let key = down_key(&proxy);
            api.end_entries(|k| k == key).await?;
            // Disabled by no fault of the journal (a game's link fault keeps its own entry):
            // enabled as asked.
            after = api.registry.set_enabled(&proxy, true).await?;
        }
        _ => {}
    }
    Ok(ok(&proxy_json(after)))
}

async fn delete_proxy(
    State(api): State<Toxiproxy>,
    Names(proxy): Names<String>,
) -> Result<StatusCode, Error> {
    api.registry.delete(&proxy).await?;
    let (down, toxics) = (down_key(&proxy), format!("{}/", down_key(&proxy)));
    api.end_entries(|key| key == down || key.starts_with(&toxics))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_toxics(
    State(api): State<Toxiproxy>,
    Names(proxy): Names<String>,
) -> Result<Response, Error> {
    let toxics = toxiproxy_order(api.registry.toxics(&proxy)?);
    Ok(ok(&Value::Array(
        toxics.iter().map(toxiproxy::toxic_json).collect(),
    )))
}

async fn create_toxic(
    State(api): State<Toxiproxy>,
    Names(proxy): Names<String>,
    RawBody(body): RawBody,
) -> Result<Response, Error> {
    api.registry.get(&proxy)?;
    let toxic = toxiproxy::parse_toxic(&parse(&body, TOXIC_EXAMPLE)?)?;
    Ok(ok(&toxiproxy::toxic_json(
        &api.add_toxic(&proxy, toxic).await?,
    )))
}

async fn get_toxic(
    State(api): State<Toxiproxy>,
    Names((proxy, toxic)): Names<(String, String)>,
) -> Result<Response, Error> {
    Ok(ok(&toxiproxy::toxic_json(
        &api.registry.toxic(&proxy, &toxic)?,
    )))
}

async fn update_toxic(
    State(api): State<Toxiproxy>,
    Names((proxy, toxic)): Names<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Response, Error> {
    api.registry.toxic(&proxy, &toxic)?;
    let body = parse(&body, TOXIC_UPDATE_EXAMPLE)?;
    // Parsed against the toxic as it is when the registry applies it: attributes merge.
    let after = api.registry.edit_toxic(&proxy, &toxic, |current| {
        toxiproxy::parse_toxic_update(current, &body).map_err(Error::from)
    })?;
    Ok(ok(&toxiproxy::toxic_json(&after)))
}

async fn delete_toxic(
    State(api): State<Toxiproxy>,
    Names((proxy, toxic)): Names<(String, String)>,
) -> Result<StatusCode, Error> {
    // A 404 for a toxic that is not there, as Toxiproxy; the journal's entry, if any, ends
    // with it (its revert removes the toxic).
    api.registry.toxic(&proxy, &toxic)?;
    let key = toxic_key(&proxy, &toxic);
    api.end_entries(|k| k == key).await?;
    match api.registry.remove_toxic(&proxy, &toxic) {
        Ok(()) | Err(RegistryError::ToxicNotFound { .. }) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(e.into()),
    }
}

async fn not_found(uri: Uri) -> Error {
    ApiError {
        status: StatusCode::NOT_FOUND.as_u16(),
        message: format!(
            "no such path: {}; the Toxiproxy API serves /version, /proxies, /populate and /reset",
            uri.path()
        ),
    }
    .into()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Error {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED.as_u16(),
        message: format!(
            "{method} is not allowed on {}; the Allow header lists what is",
            uri.path()
        ),
    }
    .into()
}

/// A span per request, named by its matched route, and the answer's status.
async fn trace(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!("toxiproxy_api", method = %request.method(), %route);
    async move {
        let response = next.run(request).await;
        tracing::debug!(status = response.status().as_u16(), "answered");
        response
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    /// The API over a registry of its own, journaled in a state directory of its own.
    struct TestApi {
        api: Toxiproxy,
        _state: tempfile::TempDir,
    }

    impl TestApi {
        async fn new() -> Self {
            let state = tempfile::tempdir().expect("a state directory");
            let registry = Registry::new(Some(1));
            let (engine, _) = crate::app::open_engine_with(state.path(), "test", registry.clone())
                .await
                .expect("the engine opens");
            TestApi {
                api: Toxiproxy { registry, engine },
                _state: state,
            }
        }
    }

    impl std::ops::Deref for TestApi {
        type Target = Registry;

        fn deref(&self) -> &Registry {
            &self.api.registry
        }
    }

    /// Sends one request to a router over `registry`: status, content type and body.
    async fn send(
        registry: &TestApi,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> (u16, String, String) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            router(registry.api.clone()).oneshot(request.body(body.into()).expect("request")),
        )
        .await
        .expect("answered in time")
        .expect("infallible");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map_or(String::new(), |v| v.to_str().expect("ascii").to_owned());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).expect("UTF-8"),
        )
    }

    fn error_of(body: &str) -> (String, u64) {
        let value: Value = serde_json::from_str(body).expect("a JSON error body");
        (
            value["error"].as_str().expect("error").to_owned(),
            value["status"].as_u64().expect("status"),
        )
    }

    #[tokio::test]
    async fn a_malformed_body_is_a_json_400_that_names_the_problem_whatever_its_content_type() {
        let registry = TestApi::new().await;
        for content_type in [
            None,
            Some("application/json"),
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("image/png"),
        ] {
            let (status, kind, body) =
                send(&registry, "POST", "/proxies", content_type, "{not json").await;
            assert_eq!(status, 400, "{content_type:?}: {body}");
            assert_eq!(kind, "application/json");
            let (error, code) = error_of(&body);
            assert_eq!(code, 400);
            assert!(
                error.starts_with("bad request body: not JSON: key must be a string at line 1"),
                "{error}"
            );
        }
        let (status, _, body) = send(&registry, "POST", "/proxies", None, "").await;
        assert_eq!(status, 400);
        assert!(error_of(&body).0.contains("it is empty"), "{body}");
    }

    #[tokio::test]
    async fn a_body_in_any_content_type_creates_a_proxy() {
        let registry = TestApi::new().await;
        let body = r#"{"name": "db", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1", "enabled": false}"#;
        let (status, kind, answer) = send(
            &registry,
            "POST",
            "/proxies",
            Some("application/x-www-form-urlencoded"),
            body,
        )
        .await;
        assert_eq!(
            (status, kind.as_str()),
            (201, "application/json"),
            "{answer}"
        );
        assert_eq!(
            answer,
            r#"{"name":"db","listen":"127.0.0.1:0","upstream":"127.0.0.1:1","enabled":false,"toxics":[]}"#
        );
    }

    #[tokio::test]
    async fn toxics_in_a_created_proxy_s_body_are_ignored_as_toxiproxy_does() {
        let registry = TestApi::new().await;
        let body = r#"{"name": "db", "upstream": "127.0.0.1:1", "enabled": false,
                       "toxics": [{"type": "no_such"}, {"type": "latency"}]}"#;
        let (status, _, answer) = send(&registry, "POST", "/proxies", None, body).await;
        assert_eq!(status, 201, "{answer}");
        assert!(answer.ends_with(r#""toxics":[]}"#), "{answer}");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_a_413_and_nothing_is_created() {
        let registry = TestApi::new().await;
        let huge = format!("[{}]", " ".repeat(MAX_BODY));
        let (status, kind, body) = send(&registry, "POST", "/populate", None, huge).await;
        assert_eq!((status, kind.as_str()), (413, "application/json"));
        assert!(error_of(&body).0.contains("larger than 1024 KiB"), "{body}");
        assert!(registry.list().is_empty());
    }

    #[tokio::test]
    async fn unknown_paths_are_json_404s_and_unknown_methods_json_405s() {
        let registry = TestApi::new().await;
        for path in ["/nope", "/proxies/", "/proxies/db/toxics/t/x"] {
            let (status, kind, body) = send(&registry, "GET", path, None, "").await;
            assert_eq!((status, kind.as_str()), (404, "application/json"), "{path}");
            assert_eq!(error_of(&body).1, 404);
        }
        let (status, kind, body) = send(&registry, "PUT", "/proxies", None, "{}").await;
        assert_eq!((status, kind.as_str()), (405, "application/json"));
        assert!(
            error_of(&body)
                .0
                .starts_with("PUT is not allowed on /proxies"),
            "{body}"
        );
        let (status, _, _) = send(&registry, "DELETE", "/proxies/x/toxics", None, "").await;
        assert_eq!(status, 405);
    }

    #[tokio::test]
    async fn a_name_that_is_not_utf8_once_decoded_is_a_400() {
        let registry = TestApi::new().await;
        let (status, kind, body) = send(&registry, "GET", "/proxies/%FF", None, "").await;
        assert_eq!((status, kind.as_str()), (400, "application/json"), "{body}");
        assert!(error_of(&body).0.contains("UTF-8"), "{body}");
    }

    #[tokio::test]
    async fn a_percent_encoded_name_reaches_its_proxy() {
        let registry = TestApi::new().await;
        let body = r#"{"name": "a b", "upstream": "127.0.0.1:1", "enabled": false}"#;
        assert_eq!(send(&registry, "POST", "/proxies", None, body).await.0, 201);
        let (status, _, answer) = send(&registry, "GET", "/proxies/a%20b", None, "").await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer.starts_with(r#"{"name":"a b""#), "{answer}");
    }

    #[tokio::test]
    async fn names_with_a_slash_a_control_character_or_over_255_bytes_are_400s() {
        let registry = TestApi::new().await;
        let long = "x".repeat(5000);
        for (name, says) in [
            ("a/b", "holds '/'"),
            ("a\\u0000b", "holds '\\0'"),
            (long.as_str(), "5000 bytes long: use at most 255"),
        ] {
            let body =
                format!(r#"{{"name": "{name}", "upstream": "127.0.0.1:1", "enabled": false}}"#);
            let (status, _, answer) = send(&registry, "POST", "/proxies", None, body).await;
            assert_eq!(status, 400, "{answer}");
            assert!(error_of(&answer).0.contains(says), "{answer}");
        }
        assert!(registry.list().is_empty());
        let body = r#"{"name": "db", "upstream": "127.0.0.1:1", "enabled": false}"#;
        send(&registry, "POST", "/proxies", None, body).await;
        let toxic = r#"{"name": "a/b", "type": "latency"}"#;
        let (status, _, answer) = send(&registry, "POST", "/proxies/db/toxics", None, toxic).await;
        assert_eq!(status, 400, "{answer}");
        assert!(registry.toxics("db").unwrap().is_empty());
    }

    #[tokio::test]
    async fn toxics_are_listed_upstream_first_as_toxiproxy_lists_them() {
        let registry = TestApi::new().await;
        let body = r#"{"name": "db", "upstream": "127.0.0.1:1", "enabled": false}"#;
        send(&registry, "POST", "/proxies", None, body).await;
        for toxic in [
            r#"{"name": "d1", "type": "latency"}"#,
            r#"{"name": "u1", "type": "latency", "stream": "upstream"}"#,
            r#"{"name": "d2", "type": "bandwidth"}"#,
            r#"{"name": "u2", "type": "timeout", "stream": "upstream"}"#,
        ] {
            assert_eq!(
                send(&registry, "POST", "/proxies/db/toxics", None, toxic)
                    .await
                    .0,
                200
            );
        }
        let names = |body: &str| -> Vec<String> {
            let value: Value = serde_json::from_str(body).expect("JSON");
            let list = value
                .get("toxics")
                .unwrap_or(&value)
                .as_array()
                .expect("list");
            list.iter()
                .map(|t| t["name"].as_str().expect("name").to_owned())
                .collect()
        };
        let (_, _, list) = send(&registry, "GET", "/proxies/db/toxics", None, "").await;
        assert_eq!(names(&list), ["u1", "u2", "d1", "d2"]);
        let (_, _, proxy) = send(&registry, "GET", "/proxies/db", None, "").await;
        assert_eq!(names(&proxy), ["u1", "u2", "d1", "d2"]);
    }

    #[tokio::test]
    async fn a_populate_that_fails_midway_names_the_proxies_created_before_it() {
        let registry = TestApi::new().await;
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let taken = taken.local_addr().expect("addr");
        let body = format!(
            r#"[{{"name": "a", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"}},
                {{"name": "b", "listen": "{taken}", "upstream": "127.0.0.1:1"}}]"#
        );
        let (status, kind, answer) = send(&registry, "POST", "/populate", None, body).await;
        assert_eq!(
            (status, kind.as_str()),
            (409, "application/json"),
            "{answer}"
        );
        let value: Value = serde_json::from_str(&answer).expect("JSON");
        assert_eq!(value["proxies"][0]["name"], "a", "{answer}");
        assert_eq!(value["proxies"].as_array().map(Vec::len), Some(1));
        assert!(answer.starts_with(r#"{"error":"#), "{answer}");
        registry.stop_all().await;
    }

    #[tokio::test]
    async fn a_populate_with_a_bad_proxy_creates_none_and_says_which() {
        let registry = TestApi::new().await;
        let body = r#"[{"name": "a", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
                       {"name": "b", "listen": "127.0.0.1:0"}]"#;
        let (status, _, answer) = send(&registry, "POST", "/populate", None, body).await;
        assert_eq!(status, 400);
        assert_eq!(
            answer,
            r#"{"error":"proxy 2 of the list: missing required field: upstream","status":400,"proxies":null}"#
        );
        assert!(registry.list().is_empty());
    }

    #[tokio::test]
    async fn serve_stops_every_proxy_when_shutdown_completes() {
        let registry = TestApi::new().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let proxy = registry
            .create(ProxyConfig::new("p", "127.0.0.1:0", "127.0.0.1:1"))
            .await
            .expect("create");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, registry.api.clone(), async move {
            let _ = stopped.await;
        }));
        let connect = || {
            tokio::time::timeout(
                Duration::from_secs(10),
                tokio::net::TcpStream::connect(proxy.listen.clone()),
            )
        };
        assert!(connect().await.expect("in time").is_ok());
        stop.send(()).expect("send");
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("stopped in time")
            .expect("join")
            .expect("serve");
        assert!(registry.list().is_empty());
        assert!(
            connect().await.expect("in time").is_err(),
            "a proxy outlived the server"
        );
    }

    #[tokio::test]
    async fn toxics_and_disabled_proxies_made_through_the_api_are_journaled_and_the_kill_switch_undoes_them()
     {
        let registry = TestApi::new().await;
        let body = r#"{"name": "db", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"}"#;
        assert_eq!(send(&registry, "POST", "/proxies", None, body).await.0, 201);
        let toxic = r#"{"name": "slow", "type": "latency", "attributes": {"latency": 100}}"#;
        assert_eq!(
            send(&registry, "POST", "/proxies/db/toxics", None, toxic)
                .await
                .0,
            200
        );
        let (status, _, _) = send(
            &registry,
            "POST",
            "/proxies/db",
            None,
            r#"{"enabled": false}"#,
        )
        .await;
        assert_eq!(status, 200);
        let live = registry.api.engine.live().await.unwrap();
        let keys: Vec<&str> = live.iter().map(|e| e.target_key.as_str()).collect();
        assert_eq!(keys, ["toxiproxy:db/slow", "toxiproxy:db"], "{live:?}");

        let report = registry.api.engine.abort("test").await.unwrap();

        assert!(report.complete(), "{report:?}");
        assert_eq!(report.reverted, 2);
        assert!(
            registry.toxics("db").unwrap().is_empty(),
            "the kill switch removed the toxic"
        );
        assert!(
            registry.get("db").unwrap().enabled,
            "and enabled the proxy again"
        );
        // Disarmed: the API refuses new toxics, saying why, and adds none.
        let (status, _, answer) = send(&registry, "POST", "/proxies/db/toxics", None, toxic).await;
        assert_eq!(status, 409, "{answer}");
        assert!(error_of(&answer).0.contains("kill switch"), "{answer}");
        assert!(registry.toxics("db").unwrap().is_empty());
        registry.stop_all().await;
    }

    #[tokio::test]
    async fn deleting_a_toxic_or_its_proxy_ends_its_journal_entry() {
        let registry = TestApi::new().await;
        let body = r#"{"name": "db", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"}"#;
        send(&registry, "POST", "/proxies", None, body).await;
        let toxic = r#"{"name": "slow", "type": "latency", "attributes": {"latency": 100}}"#;
        send(&registry, "POST", "/proxies/db/toxics", None, toxic).await;
        assert_eq!(
            send(&registry, "DELETE", "/proxies/db/toxics/slow", None, "")
                .await
                .0,
            204
        );
        assert!(registry.api.engine.live().await.unwrap().is_empty());
        // The same name again is a new fault; deleting the proxy ends it.
        assert_eq!(
            send(&registry, "POST", "/proxies/db/toxics", None, toxic)
                .await
                .0,
            200
        );
        assert_eq!(registry.api.engine.live().await.unwrap().len(), 1);
        assert_eq!(
            send(&registry, "DELETE", "/proxies/db", None, "").await.0,
            204
        );
        assert!(registry.api.engine.live().await.unwrap().is_empty());
        registry.stop_all().await;
    }
}
