//! Running probe checks: `http`, `tcp`, `command` and `prometheus` (SPEC §2, Probes).
//!
//! One [`Prober`] runs every check of a game. A check never panics and never outlives its
//! timeout: whatever goes wrong (a refused connection, a slow answer, a missing program, a bad
//! query) becomes a failed [`ProbeResult`] whose `detail` says what was seen, in one line.
//!
//! - `http`: `http://` or `https://` (rustls: the system's roots and the check's `ca_file`,
//!   see [`crate::outgoing`]), with the check's `headers`. The timeout covers the
//!   connection, the answer and its whole body; at most [`MAX_BODY`] of it is read.
//!   Redirects are not followed (the status is the server's own), proxies from the
//!   environment are not used, and every check opens a connection of its own, so that what
//!   is measured is what a new client of the system sees.
//! - `tcp`: a connection that opens within the timeout (then closed at once).
//! - `command`: the program runs without a shell, with no input, in a process group of its
//!   own; at the timeout the whole group is killed. At most [`MAX_OUTPUT`] of each of
//!   stdout and stderr is kept.
//! - `prometheus`: an instant query (`GET {url}/api/v1/query`, `http://` or `https://`, with
//!   the check's `headers`); every series of the answer (or its scalar) must satisfy the
//!   comparison; no data, NaN, a range vector or a string fails.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::process::ExitStatusExt as _;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chaosday_domain::game::{
    CommandProbe, Comparison, HttpMethod, HttpProbe, ProbeCheck, PrometheusProbe, TcpProbe,
};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;

use crate::outgoing::{Outgoing, io_words, request_failed};

/// The most of an HTTP probe's answer body that is read (and searched for `body_contains`).
pub const MAX_BODY: usize = 1 << 20;

/// The most of each of a command's stdout and stderr that is kept.
pub const MAX_OUTPUT: usize = 64 << 10;

/// The largest Prometheus answer read; a larger one fails the check.
const MAX_PROMETHEUS_ANSWER: usize = 8 << 20;

/// How long a command's output is still read once it has exited (a child it left behind
/// may hold its pipes open).
const OUTPUT_GRACE: Duration = Duration::from_millis(100);

/// The longest line of a program's output, a query or a series name quoted in a detail.
const MAX_QUOTE: usize = 160;

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProbeResult {
    /// Whether the check passed.
    pub ok: bool,
    /// What it saw, for people, in one line: `HTTP 200 in 3 ms`, `connection refused`,
    /// `exit 1 (expected 0): no response`, `up = 0, expected > 0.5`.
    pub detail: String,
    /// How long it took, in milliseconds.
    pub took_ms: u64,
}

/// Runs checks; cheap to clone (clones share their HTTP clients).
#[derive(Debug, Clone)]
pub struct Prober {
    /// What the game's `http` and `prometheus` checks need: their headers' secrets and CA
    /// files.
    outgoing: Outgoing,
    /// The HTTP client of `http` and `prometheus` checks, by CA file (`None`: the system's
    /// roots only), or why there is none.
    clients: Arc<BTreeMap<Option<String>, Result<reqwest::Client, String>>>,
}

impl Default for Prober {
    fn default() -> Self {
        Prober::new()
    }
}

/// What a check saw: whether it passed, and the detail.
type Outcome = (bool, String);

/// The HTTP client settings of every check.
fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .tcp_nodelay(true)
        .user_agent(concat!("chaosday/", env!("CARGO_PKG_VERSION"), " (probe)"))
}

impl Prober {
    /// A prober for checks with no `{env: …}` header and no CA file read at start.
    pub fn new() -> Self {
        Prober::for_game(Outgoing::default())
    }

    /// A prober for the game's checks, with what [`Outgoing::load`] read at start.
    pub fn for_game(outgoing: Outgoing) -> Self {
        let clients = std::iter::once(None)
            .chain(outgoing.ca_files().map(|file| Some(file.to_owned())))
            .map(|file| {
                let client = outgoing.client(client_builder(), file.as_deref());
                (file, client)
            })
            .collect();
        Prober {
            outgoing,
            clients: Arc::new(clients),
        }
    }

    /// Runs `check` once, within its timeout.
    pub async fn check(&self, check: &ProbeCheck) -> ProbeResult {
        let started = Instant::now();
        let (ok, detail) = match check {
            // A command kills its program at the timeout itself.
            ProbeCheck::Command(probe) => command(probe, started).await,
            ProbeCheck::Http(probe) => within(check, self.http(probe, started)).await,
            ProbeCheck::Tcp(probe) => within(check, tcp(probe, started)).await,
            ProbeCheck::Prometheus(probe) => within(check, self.prometheus(probe)).await,
        };
        ProbeResult {
            ok,
            detail,
            took_ms: millis(started.elapsed()),
        }
    }

    /// The client of a check with `ca_file`, and its request headers.
    fn client(
        &self,
        ca_file: &Option<String>,
        headers: &chaosday_domain::game::Headers,
    ) -> Result<(reqwest::Client, reqwest::header::HeaderMap), String> {
        let client = match self.clients.get(ca_file) {
            Some(client) => client.clone()?,
            // Not a check of the game: its CA file is read now.
            None => self.outgoing.client(client_builder(), ca_file.as_deref())?,
        };
        Ok((client, self.outgoing.headers(headers)?))
    }

    async fn http(&self, probe: &HttpProbe, started: Instant) -> Outcome {
        let (client, headers) = match self.client(&probe.ca_file, &probe.headers) {
            Ok(client) => client,
            Err(e) => return (false, e),
        };
        let url = match http_url(&probe.url) {
            Ok(url) => url,
            Err(e) => return (false, e),
        };
        let method = match probe.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Head => reqwest::Method::HEAD,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
            HttpMethod::Delete => reqwest::Method::DELETE,
            HttpMethod::Options => reqwest::Method::OPTIONS,
        };
        let response = match client.request(method, url).headers(headers).send().await {
            Ok(response) => response,
            Err(e) => return (false, request_failed(&e)),
        };
        let status = response.status().as_u16();
        let body = match read_capped(response, MAX_BODY).await {
            Ok(body) => body,
            Err(e) => {
                return (
                    false,
                    format!(
                        "HTTP {status}, then the body broke off: {}",
                        request_failed(&e)
                    ),
                );
            }
        };
        let took = millis(started.elapsed());
        if status != probe.expect_status {
            return (
                false,
                format!(
                    "HTTP {status} in {took} ms, expected {}",
                    probe.expect_status
                ),
            );
        }
        if let Some(wanted) = &probe.body_contains
            && !contains(&body.bytes, wanted.as_bytes())
        {
            let within = if body.truncated {
                " in its first 1 MiB"
            } else {
                ""
            };
            return (
                false,
                format!(
                    "HTTP {status} in {took} ms, but the body does not contain {}{within}",
                    quote(wanted)
                ),
            );
        }
        (true, format!("HTTP {status} in {took} ms"))
    }

    async fn prometheus(&self, probe: &PrometheusProbe) -> Outcome {
        let (client, headers) = match self.client(&probe.ca_file, &probe.headers) {
            Ok(client) => client,
            Err(e) => return (false, e),
        };
        let base = probe.url.trim_end_matches('/');
        let url = match http_url(&format!("{base}/api/v1/query")) {
            Ok(url) => url,
            Err(e) => return (false, e),
        };
        // Prometheus gives up on the query at the same time as the probe.
        let server_timeout = format!("{}ms", millis(probe.timeout).max(1));
        let request = client.get(url).headers(headers).query(&[
            ("query", probe.query.as_str()),
            ("timeout", &server_timeout),
        ]);
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return (false, request_failed(&e)),
        };
        let status = response.status().as_u16();
        let body = match read_capped(response, MAX_PROMETHEUS_ANSWER).await {
            Ok(body) => body,
            Err(e) => {
                return (
                    false,
                    format!(
                        "HTTP {status}, then the answer broke off: {}",
                        request_failed(&e)
                    ),
                );
            }
        };
        if status == 401 || status == 403 {
            let fix = if probe.headers.is_empty() {
                "it wants credentials: send them with `headers`, such as Authorization: {env: PROMETHEUS_AUTH}"
            } else {
                "the credentials in `headers` are refused: check the variables they are read from"
            };
            return (false, format!("HTTP {status} from {}: {fix}", quote(base)));
        }
        if body.truncated {
            return (
                false,
                format!(
                    "the answer to {} is larger than {} MiB: ask for fewer series",
                    quote(&probe.query),
                    MAX_PROMETHEUS_ANSWER >> 20
                ),
            );
        }
        evaluate(status, &body.bytes, probe)
    }
}

/// `run`'s outcome, or a failure at `check`'s timeout.
async fn within(check: &ProbeCheck, run: impl Future<Output = Outcome>) -> Outcome {
    let limit = check.timeout();
    match tokio::time::timeout(limit, run).await {
        Ok(outcome) => outcome,
        Err(_) => (false, timed_out(check, limit)),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn timed_out(check: &ProbeCheck, limit: Duration) -> String {
    let limit = chaosday_domain::duration::human(limit);
    match check {
        ProbeCheck::Tcp(_) => format!("no connection within {limit}"),
        ProbeCheck::Command(_) => format!("still running after {limit}: killed"),
        ProbeCheck::Http(_) | ProbeCheck::Prometheus(_) => format!("no answer within {limit}"),
    }
}

/// `url` parsed, if its scheme is `http` or `https`.
fn http_url(url: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad URL {}: {e}", quote(url)))?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(format!(
            "bad URL {}: the scheme is {other}, expected http or https",
            quote(url)
        )),
    }
}

/// The first bytes of an answer's body.
struct Body {
    bytes: Vec<u8>,
    /// Whether there was more than was read.
    truncated: bool,
}

async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Body, reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(Body {
                bytes,
                truncated: true,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Body {
        bytes,
        truncated: false,
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

async fn tcp(probe: &TcpProbe, started: Instant) -> Outcome {
    match tokio::net::TcpStream::connect(probe.address.as_str()).await {
        Ok(stream) => {
            let took = millis(started.elapsed());
            let peer = stream
                .peer_addr()
                .map_or_else(|_| probe.address.clone(), |peer| peer.to_string());
            (true, format!("connected to {peer} in {took} ms"))
        }
        Err(e) => match io_words(&e) {
            Some(words) => (false, words.into()),
            None => (
                false,
                format!(
                    "cannot connect to {}: {}",
                    quote(&probe.address),
                    one_line(&e.to_string())
                ),
            ),
        },
    }
}

async fn command(probe: &CommandProbe, started: Instant) -> Outcome {
    let Some((program, args)) = probe.argv.split_first() else {
        return (false, "no program to run: argv is empty".into());
    };
    let deadline = tokio::time::Instant::from_std(started) + probe.timeout;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let why = match e.kind() {
                io::ErrorKind::NotFound => "no such program".to_owned(),
                io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
                _ => one_line(&e.to_string()),
            };
            return (false, format!("cannot run {}: {why}", quote(program)));
        }
    };
    let mut child = Running::new(child);
    let mut stdout = Capture::start(child.child.stdout.take());
    let mut stderr = Capture::start(child.child.stderr.take());
    let status = match tokio::time::timeout_at(deadline, child.child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            child.kill();
            return (false, format!("cannot wait for {}: {e}", quote(program)));
        }
        Err(_) => {
            child.kill();
            return (
                false,
                format!(
                    "still running after {} (expected exit {}): killed",
                    chaosday_domain::duration::human(probe.timeout),
                    probe.expect_exit
                ),
            );
        }
    };
    child.reaped = true;
    let took = millis(started.elapsed());
    // What the program wrote is read to its end, unless something it left behind holds the
    // pipes open.
    let output_until = deadline.min(tokio::time::Instant::now() + OUTPUT_GRACE);
    let _ = tokio::time::timeout_at(output_until, async {
        tokio::join!(stdout.finished(), stderr.finished())
    })
    .await;
    exit_outcome(
        status,
        probe.expect_exit,
        took,
        &stderr.take(),
        &stdout.take(),
    )
}

fn exit_outcome(
    status: ExitStatus,
    expect: i32,
    took: u64,
    stderr: &[u8],
    stdout: &[u8],
) -> Outcome {
    let said = first_line(stderr)
        .or_else(|| first_line(stdout))
        .map(|line| format!(": {line}"))
        .unwrap_or_default();
    match status.code() {
        Some(code) if code == expect => (true, format!("exit {code} in {took} ms")),
        Some(code) => (false, format!("exit {code} (expected {expect}){said}")),
        None => {
            let signal = status.signal().map_or_else(
                || "a signal".to_owned(),
                |number| match nix::sys::signal::Signal::try_from(number) {
                    Ok(signal) => signal.as_str().to_owned(),
                    Err(_) => format!("signal {number}"),
                },
            );
            (
                false,
                format!("killed by {signal} (expected exit {expect}){said}"),
            )
        }
    }
}

/// The first line with text in `output`, trimmed and shortened.
fn first_line(output: &[u8]) -> Option<String> {
    String::from_utf8_lossy(output)
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(shorten)
}

/// A child that runs in a process group of its own; the group is killed when this is
/// dropped before the child was reaped (a cancelled check kills what it started).
struct Running {
    child: tokio::process::Child,
    reaped: bool,
}

impl Running {
    fn new(child: tokio::process::Child) -> Self {
        Running {
            child,
            reaped: false,
        }
    }

    /// Kills the child's process group. Only while the child is not reaped: until then its
    /// pid, which is the group's id, cannot be reused, so the signal reaches no stranger.
    fn kill(&mut self) {
        if self.reaped {
            return;
        }
        match self.child.try_wait() {
            Ok(None) => {
                if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                // The child itself, should it have left the group; kill_on_drop and
                // tokio's reaper do the rest.
                let _ = self.child.start_kill();
            }
            Ok(Some(_)) | Err(_) => self.reaped = true,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads a pipe in the background, keeping its first [`MAX_OUTPUT`] bytes and draining the
/// rest so that the program never blocks on a full pipe. Stops reading when dropped.
struct Capture {
    kept: Arc<Mutex<Vec<u8>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Capture {
    fn start<R: tokio::io::AsyncRead + Unpin + Send + 'static>(pipe: Option<R>) -> Self {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let task = pipe.map(|mut pipe| {
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                let mut buffer = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut kept) = kept.lock() {
                        let room = MAX_OUTPUT.saturating_sub(kept.len());
                        kept.extend_from_slice(&buffer[..n.min(room)]);
                    }
                }
            })
        });
        Capture { kept, task }
    }

    /// Waits until the pipe is closed.
    async fn finished(&mut self) {
        if let Some(task) = &mut self.task {
            let _ = task.await;
            self.task = None;
        }
    }

    /// What was read so far.
    fn take(&self) -> Vec<u8> {
        self.kept
            .lock()
            .map(|mut kept| std::mem::take(&mut *kept))
            .unwrap_or_default()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// An answer of Prometheus's HTTP API.
#[derive(Debug, Deserialize)]
struct QueryAnswer {
    status: String,
    #[serde(default)]
    data: Option<QueryData>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The result of an instant query.
#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum QueryData {
    Vector(Vec<Series>),
    Scalar(SampleValue),
    Matrix(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

/// One series of an instant vector.
#[derive(Debug, Deserialize)]
struct Series {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    /// Absent for native histograms.
    #[serde(default)]
    value: Option<SampleValue>,
}

/// `[unix time, "value"]`: Prometheus writes values as strings.
type SampleValue = (serde::de::IgnoredAny, String);

/// Whether the answer of Prometheus (HTTP `status`, `body`) satisfies `probe`.
fn evaluate(status: u16, body: &[u8], probe: &PrometheusProbe) -> Outcome {
    let answer: QueryAnswer = match serde_json::from_slice(body) {
        Ok(answer) => answer,
        Err(_) => {
            return (
                false,
                format!(
                    "HTTP {status} from {}: not an answer of Prometheus's query API",
                    quote(probe.url.trim_end_matches('/'))
                ),
            );
        }
    };
    if answer.status != "success" {
        let kind = answer.error_type.unwrap_or_else(|| answer.status.clone());
        let error = answer.error.unwrap_or_default();
        return (
            false,
            format!("the query failed ({kind}): {}", shorten(&one_line(&error))),
        );
    }
    let want = format!("{} {}", probe.op, probe.threshold);
    match answer.data {
        None => (false, format!("no data for {}", quote(&probe.query))),
        Some(QueryData::Scalar((_, raw))) => {
            let name = shorten(&one_line(&probe.query));
            match compare(&raw, probe.op, probe.threshold) {
                Ok(()) => (true, format!("{name} = {raw}")),
                Err(()) => (false, format!("{name} = {raw}, expected {want}")),
            }
        }
        Some(QueryData::Vector(series)) => {
            if series.is_empty() {
                return (false, format!("no data for {}", quote(&probe.query)));
            }
            let count = series.len();
            for one in &series {
                let name = series_name(&one.metric, &probe.query);
                let Some((_, raw)) = &one.value else {
                    return (
                        false,
                        format!("{name} has no plain value (a histogram?), expected {want}"),
                    );
                };
                if compare(raw, probe.op, probe.threshold).is_err() {
                    let among = if count > 1 {
                        format!(" (among {count} series)")
                    } else {
                        String::new()
                    };
                    return (false, format!("{name} = {raw}, expected {want}{among}"));
                }
            }
            match &series[..] {
                [one] => {
                    let raw = one.value.as_ref().map_or("", |value| value.1.as_str());
                    (
                        true,
                        format!("{} = {raw}", series_name(&one.metric, &probe.query)),
                    )
                }
                _ => (true, format!("{count} series, all {want}")),
            }
        }
        Some(QueryData::Matrix(_)) => (
            false,
            format!(
                "{} is a range vector: write an instant query (without [range])",
                quote(&probe.query)
            ),
        ),
        Some(QueryData::String(_)) => (
            false,
            format!("{} gives a string, not a number", quote(&probe.query)),
        ),
    }
}

/// Whether the sample value `raw` (Prometheus's text: `1`, `0.5`, `NaN`, `+Inf`) compares
/// so to `threshold`; NaN and text that is not a number never do.
fn compare(raw: &str, op: Comparison, threshold: f64) -> Result<(), ()> {
    let value = match raw.trim() {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        other => other.parse::<f64>().map_err(|_| ())?,
    };
    if op.holds(value, threshold) {
        Ok(())
    } else {
        Err(())
    }
}

/// A series as PromQL writes it: `up{instance="a:9090",job="node"}`; the query when it has
/// no labels (`vector(1)`).
fn series_name(metric: &BTreeMap<String, String>, query: &str) -> String {
    let name = metric.get("__name__").map_or("", String::as_str);
    let labels: Vec<String> = metric
        .iter()
        .filter(|(key, _)| key.as_str() != "__name__")
        .map(|(key, value)| format!("{key}={value:?}"))
        .collect();
    let written = match (name, labels.is_empty()) {
        ("", true) => one_line(query),
        (name, true) => name.to_owned(),
        (name, false) => format!("{name}{{{}}}", labels.join(",")),
    };
    shorten(&written)
}

/// `text` in backquotes, on one line and shortened.
fn quote(text: &str) -> String {
    format!("`{}`", shorten(&one_line(text)))
}

pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to [`MAX_QUOTE`] characters, with an ellipsis when cut.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTE) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command};

    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::{get, post};

    use super::*;

    async fn serve(app: Router) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    /// A loopback port nothing listens on, below the kernel's ephemeral range, where no
    /// outgoing connection takes it before Prometheus binds it.
    fn closed_port() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], chaosday_testkit::owned_port()))
    }

    fn http(url: String) -> HttpProbe {
        HttpProbe {
            method: HttpMethod::Get,
            url,
            expect_status: 200,
            body_contains: None,
            timeout: Duration::from_secs(5),
            headers: Default::default(),
            ca_file: None,
        }
    }

    async fn check(check: ProbeCheck) -> ProbeResult {
        let result = Prober::new().check(&check).await;
        assert!(!result.detail.contains('\n'), "{result:?}");
        result
    }

    async fn app() -> SocketAddr {
        serve(
            Router::new()
                .route("/ok", get(|| async { "all good: ready" }))
                .route(
                    "/down",
                    get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
                )
                .route("/post", post(|| async { "posted" }))
                .route(
                    "/slow",
                    get(|| async {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        "late"
                    }),
                )
                .route(
                    "/slow-body",
                    get(|| async {
                        let stream = futures_util::stream::unfold(0, |n| async move {
                            if n > 0 {
                                tokio::time::sleep(Duration::from_secs(10)).await;
                            }
                            Some((Ok::<_, io::Error>(format!("part {n}\n")), n + 1))
                        });
                        axum::body::Body::from_stream(stream)
                    }),
                )
                .route(
                    "/big",
                    get(|| async {
                        let mut body = "head ".repeat(1000);
                        body.push_str(&"x".repeat(3 << 20));
                        body.push_str("tail");
                        body
                    }),
                )
                .route(
                    "/redirect",
                    get(|| async { axum::response::Redirect::temporary("/ok") }),
                ),
        )
        .await
    }

    #[tokio::test]
    async fn an_http_probe_passes_when_the_status_is_the_expected_one() {
        let addr = app().await;
        let result = check(ProbeCheck::Http(http(format!("http://{addr}/ok")))).await;
        assert!(result.ok, "{result:?}");
        assert!(result.detail.starts_with("HTTP 200 in "), "{result:?}");
        assert!(result.detail.ends_with(" ms"), "{result:?}");
    }

    #[tokio::test]
    async fn an_http_probe_fails_on_another_status_and_says_which() {
        let addr = app().await;
        let result = check(ProbeCheck::Http(http(format!("http://{addr}/down")))).await;
        assert!(!result.ok);
        assert!(result.detail.starts_with("HTTP 503 in "), "{result:?}");
        assert!(result.detail.ends_with(" ms, expected 200"), "{result:?}");

        let mut expect_503 = http(format!("http://{addr}/down"));
        expect_503.expect_status = 503;
        assert!(check(ProbeCheck::Http(expect_503)).await.ok);
    }

    #[tokio::test]
    async fn an_http_probe_checks_that_the_body_contains_the_expected_text() {
        let addr = app().await;
        let mut probe = http(format!("http://{addr}/ok"));
        probe.body_contains = Some("ready".into());
        let result = check(ProbeCheck::Http(probe.clone())).await;
        assert!(result.ok, "{result:?}");

        probe.body_contains = Some("on fire".into());
        let result = check(ProbeCheck::Http(probe)).await;
        assert!(!result.ok);
        assert!(
            result
                .detail
                .ends_with("but the body does not contain `on fire`"),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn an_http_probe_reads_at_most_one_mebibyte_of_the_body() {
        let addr = app().await;
        let mut probe = http(format!("http://{addr}/big"));
        probe.body_contains = Some("head head".into());
        let result = check(ProbeCheck::Http(probe.clone())).await;
        assert!(result.ok, "{result:?}");

        probe.body_contains = Some("tail".into());
        let result = check(ProbeCheck::Http(probe)).await;
        assert!(!result.ok);
        assert!(
            result
                .detail
                .ends_with("does not contain `tail` in its first 1 MiB"),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn an_http_probe_sends_its_method() {
        let addr = app().await;
        let mut probe = http(format!("http://{addr}/post"));
        let result = check(ProbeCheck::Http(probe.clone())).await;
        assert!(result.detail.starts_with("HTTP 405 "), "{result:?}");
        probe.method = HttpMethod::Post;
        let result = check(ProbeCheck::Http(probe)).await;
        assert!(result.ok, "{result:?}");
    }

    #[tokio::test]
    async fn an_http_probe_does_not_follow_redirects() {
        let addr = app().await;
        let mut probe = http(format!("http://{addr}/redirect"));
        let result = check(ProbeCheck::Http(probe.clone())).await;
        assert!(result.detail.starts_with("HTTP 307 "), "{result:?}");
        probe.expect_status = 307;
        assert!(check(ProbeCheck::Http(probe)).await.ok);
    }

    #[tokio::test]
    async fn an_http_probe_fails_at_its_timeout_when_the_answer_is_slow() {
        let addr = app().await;
        for path in ["slow", "slow-body"] {
            let mut probe = http(format!("http://{addr}/{path}"));
            probe.timeout = Duration::from_millis(200);
            let started = Instant::now();
            let result = check(ProbeCheck::Http(probe)).await;
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{path}: {result:?}"
            );
            assert!(!result.ok);
            assert_eq!(result.detail, "no answer within 200ms", "{path}");
            assert!((200..2000).contains(&result.took_ms), "{result:?}");
        }
    }

    #[tokio::test]
    async fn an_http_probe_says_connection_refused_when_nothing_listens() {
        let addr = closed_port();
        let result = check(ProbeCheck::Http(http(format!("http://{addr}/")))).await;
        assert!(!result.ok);
        assert_eq!(result.detail, "connection refused");
    }

    #[tokio::test]
    async fn an_http_probe_of_a_bad_url_says_so() {
        let result = check(ProbeCheck::Http(http("not a url".into()))).await;
        assert!(!result.ok);
        assert!(
            result.detail.starts_with("bad URL `not a url`"),
            "{result:?}"
        );
        let result = check(ProbeCheck::Http(http("ftp://127.0.0.1/x".into()))).await;
        assert_eq!(
            result.detail,
            "bad URL `ftp://127.0.0.1/x`: the scheme is ftp, expected http or https"
        );
    }

    #[tokio::test]
    async fn an_http_probe_names_a_host_that_cannot_be_resolved() {
        let probe = http("http://no-such-host.invalid/".into());
        let result = check(ProbeCheck::Http(probe)).await;
        assert!(!result.ok);
        assert!(
            result
                .detail
                .starts_with("cannot connect to no-such-host.invalid: "),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_tcp_probe_passes_when_something_listens() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let result = check(ProbeCheck::Tcp(TcpProbe {
            address: addr.to_string(),
            timeout: Duration::from_secs(5),
        }))
        .await;
        assert!(result.ok, "{result:?}");
        assert!(
            result
                .detail
                .starts_with(&format!("connected to {addr} in ")),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_tcp_probe_fails_when_the_port_is_closed() {
        let result = check(ProbeCheck::Tcp(TcpProbe {
            address: closed_port().to_string(),
            timeout: Duration::from_secs(5),
        }))
        .await;
        assert!(!result.ok);
        assert_eq!(result.detail, "connection refused");

        let result = check(ProbeCheck::Tcp(TcpProbe {
            address: "no port here".into(),
            timeout: Duration::from_secs(5),
        }))
        .await;
        assert!(!result.ok);
        assert!(
            result
                .detail
                .starts_with("cannot connect to `no port here`: "),
            "{result:?}"
        );
    }

    fn command_probe(argv: &[&str], timeout: Duration) -> ProbeCheck {
        ProbeCheck::Command(CommandProbe {
            argv: argv.iter().map(|arg| (*arg).to_owned()).collect(),
            expect_exit: 0,
            timeout,
        })
    }

    #[tokio::test]
    async fn a_command_probe_passes_when_the_program_exits_as_expected() {
        let result = check(command_probe(&["true"], Duration::from_secs(5))).await;
        assert!(result.ok, "{result:?}");
        assert!(result.detail.starts_with("exit 0 in "), "{result:?}");

        let mut probe = CommandProbe {
            argv: vec!["false".into()],
            expect_exit: 1,
            timeout: Duration::from_secs(5),
        };
        assert!(check(ProbeCheck::Command(probe.clone())).await.ok);
        probe.argv = vec!["true".into()];
        let result = check(ProbeCheck::Command(probe)).await;
        assert_eq!(result.detail, "exit 0 (expected 1)");
    }

    #[tokio::test]
    async fn a_command_probe_fails_with_the_exit_code_and_the_first_line_it_wrote() {
        let result = check(command_probe(&["false"], Duration::from_secs(5))).await;
        assert!(!result.ok);
        assert_eq!(result.detail, "exit 1 (expected 0)");

        let script =
            "echo to stdout; printf '\\n  database is down  \\nsecond line\\n' >&2; exit 3";
        let result = check(command_probe(&["sh", "-c", script], Duration::from_secs(5))).await;
        assert!(!result.ok);
        assert_eq!(result.detail, "exit 3 (expected 0): database is down");

        let result = check(command_probe(
            &["sh", "-c", "echo no response; exit 2"],
            Duration::from_secs(5),
        ))
        .await;
        assert_eq!(result.detail, "exit 2 (expected 0): no response");
    }

    #[tokio::test]
    async fn a_command_probe_drains_a_large_output_without_blocking_the_program() {
        // 10 MiB on stdout: the program is never blocked on a full pipe.
        let result = check(command_probe(
            &[
                "sh",
                "-c",
                "head -c 10485760 /dev/zero; echo fine >&2; exit 4",
            ],
            Duration::from_secs(20),
        ))
        .await;
        assert_eq!(result.detail, "exit 4 (expected 0): fine");
    }

    /// Whether a process runs with exactly this command line.
    fn running(argv: &[&str]) -> bool {
        let wanted: Vec<u8> = argv
            .iter()
            .flat_map(|arg| [arg.as_bytes(), b"\0"].concat())
            .collect();
        std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
            std::fs::read(entry.path().join("cmdline")).is_ok_and(|cmdline| cmdline == wanted)
        })
    }

    async fn gone(argv: &[&str]) -> bool {
        for _ in 0..200 {
            if !running(argv) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_command_probe_kills_a_program_still_running_at_its_timeout() {
        let sleep = ["sleep", "10.0317"];
        let started = Instant::now();
        let result = check(command_probe(&sleep, Duration::from_millis(200))).await;
        assert!(started.elapsed() < Duration::from_secs(2), "{result:?}");
        assert!(!result.ok);
        assert_eq!(
            result.detail,
            "still running after 200ms (expected exit 0): killed"
        );
        assert!((200..2000).contains(&result.took_ms), "{result:?}");
        assert!(gone(&sleep).await, "the sleep was not killed");
    }

    #[tokio::test]
    async fn a_command_probe_kills_the_programs_children_at_its_timeout() {
        let sleep = ["sleep", "10.0318"];
        let script = format!("{} {} & wait", sleep[0], sleep[1]);
        let result = check(command_probe(
            &["sh", "-c", &script],
            Duration::from_millis(300),
        ))
        .await;
        assert!(!result.ok);
        assert!(result.detail.ends_with("killed"), "{result:?}");
        assert!(gone(&sleep).await, "the shell's child was not killed");
    }

    #[tokio::test]
    async fn a_command_probe_does_not_wait_for_what_the_program_left_behind() {
        let sleep = ["sleep", "3.0319"];
        let script = format!("{} {} & echo started", sleep[0], sleep[1]);
        let started = Instant::now();
        let result = check(command_probe(
            &["sh", "-c", &script],
            Duration::from_secs(2),
        ))
        .await;
        assert!(result.ok, "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(1), "{result:?}");
    }

    #[tokio::test]
    async fn a_command_probe_says_when_the_program_does_not_exist() {
        let result = check(command_probe(
            &["chaosday-no-such-program"],
            Duration::from_secs(5),
        ))
        .await;
        assert!(!result.ok);
        assert_eq!(
            result.detail,
            "cannot run `chaosday-no-such-program`: no such program"
        );

        let result = check(command_probe(&[], Duration::from_secs(5))).await;
        assert!(!result.ok);
        assert_eq!(result.detail, "no program to run: argv is empty");
    }

    #[tokio::test]
    async fn a_command_probe_says_which_signal_killed_the_program() {
        let result = check(command_probe(
            &["sh", "-c", "kill -TERM $$"],
            Duration::from_secs(5),
        ))
        .await;
        assert!(!result.ok);
        assert_eq!(result.detail, "killed by SIGTERM (expected exit 0)");
    }

    fn prometheus(url: &str, query: &str, op: Comparison, threshold: f64) -> ProbeCheck {
        ProbeCheck::Prometheus(PrometheusProbe {
            url: url.into(),
            query: query.into(),
            op,
            threshold,
            timeout: Duration::from_secs(5),
            headers: Default::default(),
            ca_file: None,
        })
    }

    fn evaluated(body: &str, query: &str, op: Comparison, threshold: f64) -> Outcome {
        let ProbeCheck::Prometheus(probe) = prometheus("http://p:9090", query, op, threshold)
        else {
            unreachable!()
        };
        evaluate(200, body.as_bytes(), &probe)
    }

    #[test]
    fn prometheus_answers_are_read_with_their_values_as_strings() {
        let vector = |values: &[&str]| {
            let result: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(i, value)| {
                    format!(
                        r#"{{"metric":{{"__name__":"up","job":"j{i}"}},"value":[1700000000.5,"{value}"]}}"#
                    )
                })
                .collect();
            format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
                result.join(",")
            )
        };
        use Comparison::*;
        assert_eq!(
            evaluated(&vector(&["1"]), "up", Greater, 0.5),
            (true, r#"up{job="j0"} = 1"#.into())
        );
        assert_eq!(
            evaluated(&vector(&["1", "0"]), "up", Greater, 0.5),
            (
                false,
                r#"up{job="j1"} = 0, expected > 0.5 (among 2 series)"#.into()
            )
        );
        assert_eq!(
            evaluated(&vector(&["1", "+Inf"]), "up", GreaterOrEqual, 1.0),
            (true, "2 series, all >= 1".into())
        );
        assert_eq!(
            evaluated(&vector(&["NaN"]), "up", LessOrEqual, 1.0),
            (false, r#"up{job="j0"} = NaN, expected <= 1"#.into())
        );
        assert_eq!(
            evaluated(&vector(&["-Inf"]), "up", Less, 0.0),
            (true, r#"up{job="j0"} = -Inf"#.into())
        );
        assert_eq!(
            evaluated(&vector(&[]), "up", Less, 0.0),
            (false, "no data for `up`".into())
        );
        assert_eq!(
            evaluated(
                r#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"2.5e+00"]}}"#,
                "scalar(x)",
                Equal,
                2.5
            ),
            (true, "scalar(x) = 2.5e+00".into())
        );
        assert_eq!(
            evaluated(
                r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
                "up[5m]",
                Equal,
                1.0
            ),
            (
                false,
                "`up[5m]` is a range vector: write an instant query (without [range])".into()
            )
        );
        assert_eq!(
            evaluated(
                r#"{"status":"error","errorType":"bad_data","error":"parse error:\n unexpected"}"#,
                "up{",
                Equal,
                1.0
            ),
            (
                false,
                "the query failed (bad_data): parse error: unexpected".into()
            )
        );
        assert_eq!(
            evaluated("<html>", "up", Equal, 1.0),
            (
                false,
                "HTTP 200 from `http://p:9090`: not an answer of Prometheus's query API".into()
            )
        );
    }

    #[tokio::test]
    async fn a_prometheus_probe_of_something_else_says_it_is_not_prometheus() {
        let addr = app().await;
        let result = check(prometheus(
            &format!("http://{addr}"),
            "up",
            Comparison::Greater,
            0.5,
        ))
        .await;
        assert!(!result.ok);
        assert_eq!(
            result.detail,
            format!("HTTP 404 from `http://{addr}`: not an answer of Prometheus's query API")
        );
        // https:// to a server that answers in plain HTTP.
        let result = check(prometheus(
            &format!("https://{addr}"),
            "up",
            Comparison::Greater,
            0.5,
        ))
        .await;
        assert!(!result.ok);
        assert_eq!(
            result.detail,
            format!(
                "TLS: https://{addr}/ does not answer in TLS: is it an http:// server? (write http:// in the URL then)"
            )
        );
    }

    /// A Prometheus server of Debian's `prometheus` package, scraping itself, killed (and its
    /// data removed) when dropped.
    struct RealPrometheus {
        child: Child,
        url: String,
        _dir: tempfile::TempDir,
    }

    impl Drop for RealPrometheus {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn prometheus_binary() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("CHAOSDAY_TEST_PROMETHEUS") {
            return Some(PathBuf::from(path));
        }
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("prometheus"))
                .find(|path| path.is_file())
        })
    }

    /// How a Prometheus serves its API over HTTPS with basic auth (its `--web.config.file`),
    /// and how the probes that wait for it reach it.
    struct PrometheusTls {
        web_config: PathBuf,
        prober: Prober,
        headers: chaosday_domain::game::Headers,
        ca_file: String,
    }

    impl RealPrometheus {
        /// Starts Prometheus on a free loopback port; `None` when it is not installed and
        /// this is not CI.
        async fn start() -> Option<RealPrometheus> {
            Self::start_with(None).await
        }

        /// As [`RealPrometheus::start`], over HTTPS with basic auth when `tls` says so.
        async fn start_with(tls: Option<&PrometheusTls>) -> Option<RealPrometheus> {
            let Some(binary) = prometheus_binary() else {
                let how = "install Debian's prometheus package (apt-get install -y \
                           prometheus; ./scripts/test does it when run as root), or set \
                           CHAOSDAY_TEST_PROMETHEUS to a prometheus binary";
                if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                    panic!("prometheus is missing and CI runs the prometheus probe tests: {how}");
                }
                eprintln!(
                    "NOTICE: SKIPPED the prometheus probe test: prometheus is missing; {how}"
                );
                return None;
            };
            let mut last_log = String::new();
            // Another process may take the free port before Prometheus binds it: try again.
            for _ in 0..3 {
                match Self::try_start(&binary, tls).await {
                    Ok(prometheus) => return Some(prometheus),
                    Err(log) => last_log = log,
                }
            }
            panic!(
                "Prometheus ({}) did not become ready; its log:\n{last_log}",
                binary.display()
            );
        }

        async fn try_start(
            binary: &Path,
            tls: Option<&PrometheusTls>,
        ) -> Result<RealPrometheus, String> {
            let dir = tempfile::tempdir().unwrap();
            let addr = closed_port();
            let config = dir.path().join("prometheus.yml");
            std::fs::write(
                &config,
                format!(
                    "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                     scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      \
                     - targets: ['{addr}']\n"
                ),
            )
            .unwrap();
            let log_path = dir.path().join("prometheus.log");
            let log = std::fs::File::create(&log_path).unwrap();
            let mut command = Command::new(binary);
            if let Some(tls) = tls {
                command.arg(format!("--web.config.file={}", tls.web_config.display()));
            }
            let child = command
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let scheme = if tls.is_some() { "https" } else { "http" };
            let mut server = RealPrometheus {
                child,
                url: format!("{scheme}://{addr}"),
                _dir: dir,
            };
            let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
            // Ready (its API answers, over TLS with credentials if asked): `vector(1)`. With
            // TLS its scrape of itself fails (its scrape config speaks plain HTTP), so `up`
            // is read only without.
            let mut up = prometheus(&server.url, "up", Comparison::Greater, 0.5);
            let mut prober = Prober::new();
            if let Some(tls) = tls {
                up = prometheus(&server.url, "vector(1)", Comparison::Greater, 0.5);
                if let ProbeCheck::Prometheus(probe) = &mut up {
                    probe.headers = tls.headers.clone();
                    probe.ca_file = Some(tls.ca_file.clone());
                }
                prober = tls.prober.clone();
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(Some(status)) = server.child.try_wait() {
                    return Err(format!("it exited ({status}):\n{}", read_log()));
                }
                if prober.check(&up).await.ok {
                    return Ok(server);
                }
                if Instant::now() > deadline {
                    // Dropping it kills it.
                    return Err(format!("not ready after 60 s:\n{}", read_log()));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    #[tokio::test]
    async fn prometheus_probes_query_a_real_prometheus() {
        let Some(server) = RealPrometheus::start().await else {
            return;
        };
        let url = server.url.as_str();
        let instance = url.trim_start_matches("http://");
        let up = format!(r#"up{{instance="{instance}",job="prometheus"}}"#);
        use Comparison::*;

        let result = check(prometheus(url, "vector(1)", Greater, 0.5)).await;
        assert!(result.ok, "{result:?}");
        assert_eq!(result.detail, "vector(1) = 1");

        let result = check(prometheus(url, "up", Greater, 0.5)).await;
        assert!(result.ok, "{result:?}");
        assert_eq!(result.detail, format!("{up} = 1"));

        let result = check(prometheus(url, "up", Less, 0.5)).await;
        assert!(!result.ok);
        assert_eq!(result.detail, format!("{up} = 1, expected < 0.5"));

        let result = check(prometheus(url, "scalar(vector(2))", GreaterOrEqual, 2.0)).await;
        assert!(result.ok, "{result:?}");
        assert_eq!(result.detail, "scalar(vector(2)) = 2");

        // Several series: every one must hold.
        let result = check(prometheus(url, "up or vector(0)", Greater, 0.5)).await;
        assert!(!result.ok);
        assert_eq!(
            result.detail,
            "up or vector(0) = 0, expected > 0.5 (among 2 series)"
        );
        let result = check(prometheus(url, "up or vector(3)", Greater, 0.5)).await;
        assert!(result.ok, "{result:?}");
        assert_eq!(result.detail, "2 series, all > 0.5");

        let result = check(prometheus(url, "vector(0/0)", Less, 1.0)).await;
        assert!(!result.ok);
        assert_eq!(result.detail, "vector(0/0) = NaN, expected < 1");

        let result = check(prometheus(url, "chaosday_no_such_metric", Less, 1.0)).await;
        assert!(!result.ok);
        assert_eq!(result.detail, "no data for `chaosday_no_such_metric`");

        let result = check(prometheus(url, "up{", Less, 1.0)).await;
        assert!(!result.ok);
        assert!(
            result.detail.starts_with("the query failed (bad_data): "),
            "{result:?}"
        );

        let result = check(prometheus(url, "up[1m]", Less, 1.0)).await;
        assert!(!result.ok);
        assert!(result.detail.contains("range vector"), "{result:?}");

        let result = check(prometheus(&format!("{url}/"), "vector(1)", Equal, 1.0)).await;
        assert!(result.ok, "a trailing slash is fine: {result:?}");
    }

    /// The password of the Prometheus over HTTPS below, and its bcrypt hash (cost 4) for
    /// its `basic_auth_users`.
    const PROMETHEUS_PASSWORD: &str = "chaosday-probe-password";
    const PROMETHEUS_PASSWORD_BCRYPT: &str =
        "$2a$04$mP5eYDXqZXfE.KXN9DeLx.3C37Pz73emYb5YU4yjg3xd3SsTPNPOC";
    /// `Basic` + base64 of `chaosday:chaosday-probe-password`, and of a wrong password.
    const PROMETHEUS_AUTH: &str = "Basic Y2hhb3NkYXk6Y2hhb3NkYXktcHJvYmUtcGFzc3dvcmQ=";
    const PROMETHEUS_WRONG_AUTH: &str = "Basic Y2hhb3NkYXk6d3JvbmctcGFzc3dvcmQ=";

    #[tokio::test]
    async fn prometheus_probes_query_a_real_prometheus_over_https_with_basic_auth() {
        let dir = tempfile::tempdir().unwrap();
        let ca = crate::test_tls::TestCa::new("chaosday test CA");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let ca_file = ca_file.display().to_string();
        let (cert, key) = ca.server(&["127.0.0.1"]).write(dir.path(), "prometheus");
        let web_config = dir.path().join("web.yml");
        std::fs::write(
            &web_config,
            format!(
                "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\nbasic_auth_users:\n  chaosday: '{PROMETHEUS_PASSWORD_BCRYPT}'\n"
            ),
        )
        .unwrap();
        // The probes as a game file writes them: the credentials in the environment.
        let game = chaosday_domain::game::Game::parse_yaml(&format!(
            r#"
game: https
game_master: {{ token_env: GM }}
teams: []
targets: {{}}
scenarios: []
probes:
  good: {{ prometheus: {{ url: "https://placeholder", query: "vector(1)", op: ">", threshold: 0.5, headers: {{ Authorization: {{ env: PROMETHEUS_AUTH }} }}, ca_file: "{ca_file}" }} }}
  untrusted: {{ prometheus: {{ url: "https://placeholder", query: "vector(1)", op: ">", threshold: 0.5, headers: {{ Authorization: {{ env: PROMETHEUS_AUTH }} }} }} }}
  anonymous: {{ prometheus: {{ url: "https://placeholder", query: "vector(1)", op: ">", threshold: 0.5, ca_file: "{ca_file}" }} }}
  refused: {{ prometheus: {{ url: "https://placeholder", query: "vector(1)", op: ">", threshold: 0.5, headers: {{ Authorization: {{ env: PROMETHEUS_WRONG_AUTH }} }}, ca_file: "{ca_file}" }} }}
"#
        ))
        .unwrap();
        let problems = game.check();
        assert!(
            problems.iter().all(|p| !p.path.starts_with("probes")),
            "{problems:?}"
        );
        let env = crate::outgoing::Env::from_map(
            [
                ("PROMETHEUS_AUTH", PROMETHEUS_AUTH),
                ("PROMETHEUS_WRONG_AUTH", PROMETHEUS_WRONG_AUTH),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        );
        let outgoing = Outgoing::load(&game, &env).unwrap();
        let prober = Prober::for_game(outgoing);
        let probe = |name: &str, url: &str| {
            let chaosday_domain::game::Placement::Shared(ProbeCheck::Prometheus(probe)) =
                &game.probes[name].placement
            else {
                unreachable!()
            };
            let mut probe = probe.clone();
            probe.url = url.to_owned();
            ProbeCheck::Prometheus(probe)
        };
        let ProbeCheck::Prometheus(good) = probe("good", "https://placeholder") else {
            unreachable!()
        };
        let tls = PrometheusTls {
            web_config,
            prober: prober.clone(),
            headers: good.headers.clone(),
            ca_file: ca_file.clone(),
        };
        let Some(server) = RealPrometheus::start_with(Some(&tls)).await else {
            return;
        };
        let url = server.url.as_str();
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");

        let result = prober.check(&probe("good", url)).await;
        assert!(result.ok, "{result:?}");
        assert_eq!(result.detail, "vector(1) = 1");

        let result = prober.check(&probe("untrusted", url)).await;
        assert!(!result.ok);
        assert_eq!(
            result.detail,
            format!(
                "TLS: the certificate of {url}/ is not trusted (not signed by a known CA): set `ca_file` to the PEM of the CA that signed it (for a self-signed certificate, the certificate itself)"
            )
        );

        let result = prober.check(&probe("anonymous", url)).await;
        assert!(!result.ok);
        assert_eq!(
            result.detail,
            format!(
                "HTTP 401 from `{url}`: it wants credentials: send them with `headers`, such as Authorization: {{env: PROMETHEUS_AUTH}}"
            )
        );

        let result = prober.check(&probe("refused", url)).await;
        assert!(!result.ok);
        assert_eq!(
            result.detail,
            format!(
                "HTTP 401 from `{url}`: the credentials in `headers` are refused: check the variables they are read from"
            )
        );

        // Plain HTTP to the TLS port: Prometheus answers 400 in plain text.
        let plain = url.replacen("https://", "http://", 1);
        let result = prober.check(&probe("good", &plain)).await;
        assert!(!result.ok, "{result:?}");
        for secret in [PROMETHEUS_PASSWORD, PROMETHEUS_AUTH, "Y2hhb3NkYXk6"] {
            assert!(!format!("{prober:?}").contains(secret));
        }
    }
}
