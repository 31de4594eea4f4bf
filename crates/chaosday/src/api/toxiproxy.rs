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
use chaosday_proxy::toxiproxy::{self, ApiError};
use chaosday_proxy::{ProxyConfig, ProxyView, Registry, RegistryError, Stream, Toxic};
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

/// The API's routes, over `registry`.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/version", get(version))
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
        .with_state(registry)
}

/// Serves the API on `listener` until `shutdown` completes, then stops every proxy of
/// `registry` (their listeners and connections). Requests in flight get a few seconds to
/// finish.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopping_tx, mut stopping) = tokio::sync::watch::channel(false);
    let signal = {
        let registry = registry.clone();
        async move {
            shutdown.await;
            // Proxies stop at once; the API only drains what it is answering.
            registry.stop_all().await;
            let _ = stopping_tx.send(true);
        }
    };
    let server = axum::serve(listener, router(registry.clone()))
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

async fn list_proxies(State(registry): State<Registry>) -> Response {
    let proxies: Map<String, Value> = registry
        .list()
        .into_iter()
        .map(|view| (view.name.clone(), proxy_json(view)))
        .collect();
    ok(&Value::Object(proxies))
}

async fn create_proxy(
    State(registry): State<Registry>,
    RawBody(body): RawBody,
) -> Result<Response, Error> {
    let config = api_proxy_config(parse(&body, PROXY_EXAMPLE)?)?;
    let view = registry.create(config).await?;
    Ok(json_response(StatusCode::CREATED, &proxy_json(view)))
}

async fn populate(
    State(registry): State<Registry>,
    RawBody(body): RawBody,
) -> Result<Response, Error> {
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
        if let Ok(existing) = registry.get(&config.name)
            && !config.keeps(&existing)
            && let Err(error) = registry.delete(&config.name).await
        {
            return Err(Error::Populate {
                error: error.into(),
                created,
            });
        }
        match registry.populate(vec![config]).await {
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

async fn reset(State(registry): State<Registry>) -> Result<StatusCode, Error> {
    registry.reset().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_proxy(
    State(registry): State<Registry>,
    Names(proxy): Names<String>,
) -> Result<Response, Error> {
    Ok(ok(&proxy_json(registry.get(&proxy)?)))
}

async fn update_proxy(
    State(registry): State<Registry>,
    Names(proxy): Names<String>,
    RawBody(body): RawBody,
) -> Result<Response, Error> {
    // An unknown proxy is a 404 whatever the body, as Toxiproxy.
    registry.get(&proxy)?;
    let update = toxiproxy::parse_proxy_update(&parse(&body, UPDATE_EXAMPLE)?)?;
    let after = registry.update(&proxy, update).await?;
    Ok(ok(&proxy_json(after)))
}

async fn delete_proxy(
    State(registry): State<Registry>,
    Names(proxy): Names<String>,
) -> Result<StatusCode, Error> {
    registry.delete(&proxy).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_toxics(
    State(registry): State<Registry>,
    Names(proxy): Names<String>,
) -> Result<Response, Error> {
    let toxics = toxiproxy_order(registry.toxics(&proxy)?);
    Ok(ok(&Value::Array(
        toxics.iter().map(toxiproxy::toxic_json).collect(),
    )))
}

async fn create_toxic(
    State(registry): State<Registry>,
    Names(proxy): Names<String>,
    RawBody(body): RawBody,
) -> Result<Response, Error> {
    registry.get(&proxy)?;
    let toxic = toxiproxy::parse_toxic(&parse(&body, TOXIC_EXAMPLE)?)?;
    Ok(ok(&toxiproxy::toxic_json(
        &registry.add_toxic(&proxy, toxic)?,
    )))
}

async fn get_toxic(
    State(registry): State<Registry>,
    Names((proxy, toxic)): Names<(String, String)>,
) -> Result<Response, Error> {
    Ok(ok(&toxiproxy::toxic_json(&registry.toxic(&proxy, &toxic)?)))
}

async fn update_toxic(
    State(registry): State<Registry>,
    Names((proxy, toxic)): Names<(String, String)>,
    RawBody(body): RawBody,
) -> Result<Response, Error> {
    registry.toxic(&proxy, &toxic)?;
    let body = parse(&body, TOXIC_UPDATE_EXAMPLE)?;
    // Parsed against the toxic as it is when the registry applies it: attributes merge.
    let after = registry.edit_toxic(&proxy, &toxic, |current| {
        toxiproxy::parse_toxic_update(current, &body).map_err(Error::from)
    })?;
    Ok(ok(&toxiproxy::toxic_json(&after)))
}

async fn delete_toxic(
    State(registry): State<Registry>,
    Names((proxy, toxic)): Names<(String, String)>,
) -> Result<StatusCode, Error> {
    registry.remove_toxic(&proxy, &toxic)?;
    Ok(StatusCode::NO_CONTENT)
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

    /// Sends one request to a router over `registry`: status, content type and body.
    async fn send(
        registry: &Registry,
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
            router(registry.clone()).oneshot(request.body(body.into()).expect("request")),
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
        let registry = Registry::new(Some(1));
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
        let registry = Registry::new(Some(1));
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
        let registry = Registry::new(Some(1));
        let body = r#"{"name": "db", "upstream": "127.0.0.1:1", "enabled": false,
                       "toxics": [{"type": "no_such"}, {"type": "latency"}]}"#;
        let (status, _, answer) = send(&registry, "POST", "/proxies", None, body).await;
        assert_eq!(status, 201, "{answer}");
        assert!(answer.ends_with(r#""toxics":[]}"#), "{answer}");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_a_413_and_nothing_is_created() {
        let registry = Registry::new(Some(1));
        let huge = format!("[{}]", " ".repeat(MAX_BODY));
        let (status, kind, body) = send(&registry, "POST", "/populate", None, huge).await;
        assert_eq!((status, kind.as_str()), (413, "application/json"));
        assert!(error_of(&body).0.contains("larger than 1024 KiB"), "{body}");
        assert!(registry.list().is_empty());
    }

    #[tokio::test]
    async fn unknown_paths_are_json_404s_and_unknown_methods_json_405s() {
        let registry = Registry::new(Some(1));
        for path in ["/nope", "/metrics", "/proxies/", "/proxies/db/toxics/t/x"] {
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
        let registry = Registry::new(Some(1));
        let (status, kind, body) = send(&registry, "GET", "/proxies/%FF", None, "").await;
        assert_eq!((status, kind.as_str()), (400, "application/json"), "{body}");
        assert!(error_of(&body).0.contains("UTF-8"), "{body}");
    }

    #[tokio::test]
    async fn a_percent_encoded_name_reaches_its_proxy() {
        let registry = Registry::new(Some(1));
        let body = r#"{"name": "a b/c", "upstream": "127.0.0.1:1", "enabled": false}"#;
        assert_eq!(send(&registry, "POST", "/proxies", None, body).await.0, 201);
        let (status, _, answer) = send(&registry, "GET", "/proxies/a%20b%2Fc", None, "").await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer.starts_with(r#"{"name":"a b/c""#), "{answer}");
    }

    #[tokio::test]
    async fn toxics_are_listed_upstream_first_as_toxiproxy_lists_them() {
        let registry = Registry::new(Some(1));
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
        let registry = Registry::new(Some(1));
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
        let registry = Registry::new(Some(1));
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
        let registry = Registry::new(Some(1));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let proxy = registry
            .create(ProxyConfig::new("p", "127.0.0.1:0", "127.0.0.1:1"))
            .await
            .expect("create");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, registry.clone(), async move {
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
}
