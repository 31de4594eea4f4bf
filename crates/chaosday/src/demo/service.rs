//! One service of the demo's shop: `chaosday __shop NAME --port P --dir DIR [--bind ADDR]
//! [--upstream NAME=URL] [--spare NAME=URL]`, run by the demo as a supervised child (or, with
//! `demo --docker`, as a container's command).
//!
//! Every service answers `GET /health` and `GET /_stats` (what it served and what it called
//! over the last seconds: the monitoring page's source). Then, by role:
//! - `storefront`: `GET /products` asks a catalog for `/items`, through catalog-link, or
//!   directly to catalog-spare once failed over (its route file says `spare`);
//! - `catalog`, `catalog-spare`: `GET /items`; a config file saying `bad` makes it fail;
//! - `cart`: `GET /checkout` asks the stock over plain TCP: one HTTP/1.0 request per
//!   connection, read to the connection's end, so that every byte-level fault of the link
//!   shows (a late first byte, a crawl, a close that does not come, a cut answer);
//! - `stock`: `GET /stock`, an 8 KB answer streamed in 1 KB pieces.
//!
//! A service installs no signal handler: SIGTERM ends it at once, and it never knows of
//! the game.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::shop::{self, Role};
use super::stats::{Recorder, Summary, errors};
use crate::app::UsageError;
use crate::cli::TickerArgs;

/// How long a service waits for what it calls.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(1500);

/// How often the route and config files are read again.
const FILE_POLL: Duration = Duration::from_millis(200);

/// What a service tells the monitoring at `GET /_stats`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceStats {
    /// The service's name.
    pub service: String,
    /// Its pid.
    pub pid: u32,
    /// Seconds since it started.
    pub uptime_s: f64,
    /// The requests it served.
    pub served: Summary,
    /// The calls it made, by the link (or direct path) they went through.
    pub calls: BTreeMap<String, Summary>,
    /// Where it sends its calls now (the storefront: `catalog-link` or `catalog-spare`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Its config (the catalogs: `good` or `bad`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

struct Service {
    name: String,
    role: Role,
    started: Instant,
    served: Recorder,
    calls: BTreeMap<String, Recorder>,
    upstream: Option<(String, String)>,
    spare: Option<(String, String)>,
    on_spare: AtomicBool,
    config_bad: AtomicBool,
    http: reqwest::Client,
    stock: Value,
}

/// Runs the service until it is killed.
pub async fn run(args: &TickerArgs) -> anyhow::Result<ExitCode> {
    let spec = shop::service(&args.service).ok_or_else(|| {
        let names: Vec<&str> = shop::SERVICES.iter().map(|s| s.name).collect();
        UsageError(format!(
            "no shop service `{}`: the services are {}",
            args.service,
            names.join(", ")
        ))
    })?;
    let named = |flag: &str, value: &Option<String>| -> anyhow::Result<Option<(String, String)>> {
        value
            .as_deref()
            .map(|text| {
                text.split_once('=')
                    .map(|(name, url)| (name.to_owned(), url.to_owned()))
                    .ok_or_else(|| UsageError(format!("{flag} {text}: write NAME=URL")).into())
            })
            .transpose()
    };
    let upstream = named("--upstream", &args.upstream)?;
    let spare = named("--spare", &args.spare)?;
    if matches!(spec.role, Role::Storefront | Role::Cart) && upstream.is_none() {
        return Err(UsageError(format!("{} needs --upstream NAME=URL", spec.name)).into());
    }
    let calls = upstream
        .iter()
        .chain(spare.iter())
        .map(|(name, _)| (name.clone(), Recorder::default()))
        .collect();
    let service = Arc::new(Service {
        name: spec.name.to_owned(),
        role: spec.role,
        started: Instant::now(),
        served: Recorder::default(),
        calls,
        upstream,
        spare,
        on_spare: AtomicBool::new(false),
        config_bad: AtomicBool::new(false),
        http: reqwest::Client::builder()
            .no_proxy()
            .timeout(CALL_TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .context("building the service's HTTP client")?,
        stock: stock_levels(),
    });
    tokio::spawn(watch_files(service.clone(), args.dir.clone()));
    let mut app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/_stats", get(stats));
    app = match spec.role {
        Role::Storefront => app.route("/products", get(products)),
        Role::Catalog => app.route("/items", get(items)),
        Role::Cart => app.route("/checkout", get(checkout)),
        Role::Stock => app.route("/stock", get(stock)),
    };
    let listener = TcpListener::bind((args.bind, args.port))
        .await
        .with_context(|| format!("{} cannot listen on {}:{}", spec.name, args.bind, args.port))?;
    axum::serve(listener, app.with_state(service))
        .await
        .context("serving")?;
    Ok(ExitCode::SUCCESS)
}

/// Follows the route and config files (the ops tools write them).
async fn watch_files(service: Arc<Service>, dir: PathBuf) {
    let route = shop::route_file(&dir);
    let config = shop::config_file(&dir, &service.name);
    loop {
        if service.role == Role::Storefront {
            service.on_spare.store(
                read_word(&route).as_deref() == Some("spare"),
                Ordering::Relaxed,
            );
        }
        if service.role == Role::Catalog {
            service.config_bad.store(
                read_word(&config).as_deref() == Some("bad"),
                Ordering::Relaxed,
            );
        }
        tokio::time::sleep(FILE_POLL).await;
    }
}

fn read_word(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_owned())
}

async fn stats(State(service): State<Arc<Service>>) -> axum::Json<ServiceStats> {
    axum::Json(ServiceStats {
        service: service.name.clone(),
        pid: std::process::id(),
        uptime_s: (service.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        served: service.served.summary(),
        calls: service
            .calls
            .iter()
            .map(|(name, recorder)| (name.clone(), recorder.summary()))
            .collect(),
        route: (service.role == Role::Storefront).then(|| service.route().0.to_owned()),
        config: (service.role == Role::Catalog).then(|| {
            if service.config_bad.load(Ordering::Relaxed) {
                "bad".to_owned()
            } else {
                "good".to_owned()
            }
        }),
    })
}

impl Service {
    /// Where calls go now: (link name, base URL or address).
    fn route(&self) -> (&str, &str) {
        let pick = match (&self.spare, self.on_spare.load(Ordering::Relaxed)) {
            (Some(spare), true) => Some(spare),
            _ => self.upstream.as_ref(),
        };
        pick.map_or(("", ""), |(name, url)| (name.as_str(), url.as_str()))
    }

    fn called(
        &self,
        link: &str,
        started: Instant,
        first: Option<Duration>,
        error: Option<&'static str>,
    ) {
        if let Some(recorder) = self.calls.get(link) {
            recorder.record(started.elapsed(), first, error);
        }
    }

    fn answer(&self, started: Instant, status: StatusCode, body: Value) -> Response {
        let error = if status.is_success() {
            None
        } else if status == StatusCode::INTERNAL_SERVER_ERROR {
            Some(errors::INTERNAL)
        } else {
            Some(errors::UPSTREAM)
        };
        self.served.record(started.elapsed(), None, error);
        (status, axum::Json(body)).into_response()
    }
}

async fn products(State(service): State<Arc<Service>>) -> Response {
    let started = Instant::now();
    let (link, base) = service.route();
    let (link, base) = (link.to_owned(), base.to_owned());
    let answer = service.http.get(format!("{base}/items")).send().await;
    let fail = |why: &'static str, status: StatusCode, detail: String| {
        service.called(&link, started, None, Some(why));
        service.answer(started, status, json!({"error": detail, "via": link}))
    };
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            let (why, status) = classify(&e);
            return fail(why, status, format!("the catalog did not answer: {e}"));
        }
    };
    let status = answer.status();
    if !status.is_success() {
        let why = if status.is_server_error() {
            errors::HTTP_5XX
        } else {
            errors::HTTP_4XX
        };
        return fail(
            why,
            StatusCode::BAD_GATEWAY,
            format!("the catalog answered {status}"),
        );
    }
    let first = started.elapsed();
    match answer.json::<Value>().await {
        Ok(body) => {
            service.called(&link, started, Some(first), None);
            let items = body.get("items").cloned().unwrap_or_default();
            service.answer(
                started,
                StatusCode::OK,
                json!({"items": items, "via": link}),
            )
        }
        Err(e) => {
            let (why, status) = classify(&e);
            let why = if why == errors::RESET {
                errors::TRUNCATED
            } else {
                why
            };
            fail(
                why,
                status,
                format!("the catalog's answer could not be read: {e}"),
            )
        }
    }
}

/// Why a call failed, and what the service answers its own caller.
fn classify(error: &reqwest::Error) -> (&'static str, StatusCode) {
    if error.is_timeout() {
        (errors::NO_RESPONSE, StatusCode::GATEWAY_TIMEOUT)
    } else if error.is_connect() {
        (errors::REFUSED, StatusCode::BAD_GATEWAY)
    } else if error.is_decode() {
        (errors::BAD_RESPONSE, StatusCode::BAD_GATEWAY)
    } else {
        (errors::RESET, StatusCode::BAD_GATEWAY)
    }
}

async fn items(State(service): State<Arc<Service>>) -> Response {
    let started = Instant::now();
    if service.config_bad.load(Ordering::Relaxed) {
        return service.answer(
            started,
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "config: the price list `prices_v2` does not exist"}),
        );
    }
    let items: Vec<Value> = ["teapot", "kettle", "mug", "cup", "saucer", "spoon", "tray", "cosy"]
        .iter()
        .enumerate()
        .map(|(i, name)| json!({"sku": format!("SKU-{:04}", i + 1), "name": name, "price_cents": 350 + 125 * i}))
        .collect();
    service.answer(
        started,
        StatusCode::OK,
        json!({"items": items, "catalog": service.name}),
    )
}

/// The stock streams its answer in pieces a millisecond or two apart, as a service that
/// reads its levels from storage would: a link that slows each piece (bandwidth, the
/// slicer) then slows the whole answer, however small.
async fn stock(State(service): State<Arc<Service>>) -> Response {
    let started = Instant::now();
    let body = axum::body::Bytes::from(serde_json::to_vec(&service.stock).unwrap_or_default());
    let length = body.len();
    let pieces: Vec<axum::body::Bytes> = (0..length)
        .step_by(STOCK_PIECE)
        .map(|at| body.slice(at..(at + STOCK_PIECE).min(length)))
        .collect();
    let stream =
        futures_util::stream::iter(pieces.into_iter().enumerate()).then(|(i, piece)| async move {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok::<_, std::io::Error>(piece)
        });
    service.served.record(started.elapsed(), None, None);
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_LENGTH, length.to_string()),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// The size of the pieces the stock sends its answer in.
const STOCK_PIECE: usize = 1024;

/// The stock's answer: about 8 KB, sent in 1 KB pieces.
fn stock_levels() -> Value {
    let levels: Vec<Value> = (1..=150)
        .map(|i| {
            let warehouse = ["north", "south", "east"][i % 3];
            json!({
                "sku": format!("SKU-{i:04}"),
                "on_hand": (i * 37) % 250,
                "warehouse": warehouse,
            })
        })
        .collect();
    json!({"levels": levels})
}

async fn checkout(State(service): State<Arc<Service>>) -> Response {
    let started = Instant::now();
    let (link, address) = service.route();
    let (link, address) = (link.to_owned(), address.to_owned());
    match fetch_stock(&address, started).await {
        Ok((first, levels)) => {
            service.called(&link, started, Some(first), None);
            service.answer(
                started,
                StatusCode::OK,
                json!({"reserved": true, "skus": levels}),
            )
        }
        Err((why, first)) => {
            service.called(&link, started, first, Some(why));
            let status = if matches!(
                why,
                errors::NO_RESPONSE | errors::PARTIAL_RESPONSE | errors::CLOSE_WAIT
            ) {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            service.answer(
                started,
                status,
                json!({"error": format!("the stock call failed: {why}"), "via": link}),
            )
        }
    }
}

/// Asks the stock for its levels: one HTTP/1.0 request on a new connection, read until the
/// connection closes. Returns the time to the first byte and how many SKUs it lists, or why
/// it failed (with the time to the first byte, if one came).
async fn fetch_stock(
    address: &str,
    started: Instant,
) -> Result<(Duration, usize), (&'static str, Option<Duration>)> {
    let deadline = tokio::time::Instant::from_std(started) + CALL_TIMEOUT;
    let mut stream = match tokio::time::timeout_at(deadline, TcpStream::connect(address)).await {
        Err(_) => return Err((errors::NO_RESPONSE, None)),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err((errors::REFUSED, None));
        }
        Ok(Err(_)) => return Err((errors::RESET, None)),
        Ok(Ok(stream)) => stream,
    };
    let _ = stream.set_nodelay(true);
    let request = b"GET /stock HTTP/1.0\r\nHost: stock\r\nAccept: application/json\r\n\r\n";
    match tokio::time::timeout_at(deadline, stream.write_all(request)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Err((errors::RESET, None)),
        Err(_) => return Err((errors::NO_RESPONSE, None)),
    }
    let mut buffer = Vec::with_capacity(16 * 1024);
    let mut first = None;
    loop {
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buffer)).await {
            Err(_) => {
                let why = match (buffer.is_empty(), complete(&buffer)) {
                    (true, _) => errors::NO_RESPONSE,
                    (false, true) => errors::CLOSE_WAIT,
                    (false, false) => errors::PARTIAL_RESPONSE,
                };
                return Err((why, first));
            }
            Ok(Err(_)) => return Err((errors::RESET, first)),
            Ok(Ok(0)) => break,
            Ok(Ok(_)) => {
                first.get_or_insert_with(|| started.elapsed());
            }
        }
    }
    let Some(first) = first else {
        return Err((errors::RESET, None));
    };
    let Some((status, body)) = parse_response(&buffer) else {
        return Err((errors::TRUNCATED, Some(first)));
    };
    if status >= 500 {
        return Err((errors::HTTP_5XX, Some(first)));
    }
    if status >= 400 {
        return Err((errors::HTTP_4XX, Some(first)));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => Ok((first, value["levels"].as_array().map_or(0, Vec::len))),
        Err(_) => Err((errors::BAD_RESPONSE, Some(first))),
    }
}

/// The head's status and the whole body, if the answer is complete (its body as long as its
/// Content-Length says).
fn parse_response(bytes: &[u8]) -> Option<(u16, &[u8])> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let body = &bytes[end + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let length = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    });
    match length {
        Some(length) if body.len() >= length => Some((status, &body[..length])),
        Some(_) => None,
        None => Some((status, body)),
    }
}

/// Whether the bytes hold a whole answer (head, and a body as long as it says).
fn complete(bytes: &[u8]) -> bool {
    parse_response(bytes).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_complete_only_with_its_whole_body() {
        let whole = b"HTTP/1.0 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(parse_response(whole), Some((200, &b"hello"[..])));
        assert!(complete(whole));
        assert!(!complete(
            b"HTTP/1.0 200 OK\r\ncontent-length: 5\r\n\r\nhel"
        ));
        assert!(!complete(b"HTTP/1.0 200 OK\r\ncontent-len"));
        assert_eq!(
            parse_response(b"HTTP/1.1 503 Service Unavailable\r\n\r\n"),
            Some((503, &b""[..]))
        );
    }

    #[test]
    fn the_stock_answer_is_large_enough_for_a_slow_link_to_show() {
        let bytes = serde_json::to_vec(&stock_levels()).unwrap();
        assert!((6_000..12_000).contains(&bytes.len()), "{}", bytes.len());
        assert!(bytes.len() / STOCK_PIECE >= 5, "several pieces");
    }
}
