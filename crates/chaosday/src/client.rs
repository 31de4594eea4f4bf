//! A client of the game server's REST API (`/api/v1`), for `chaosday team` and `chaosday gm`.
//!
//! Each answer comes back typed for text output, as the server's own types (those it
//! serialises), with the server's JSON kept as it came for `--output json`. An answer that
//! does not read as its type is an error naming the endpoint and the field; fields this
//! chaosday does not know (from a newer server) are ignored. Each failure becomes an error that says what to do: no server at the URL,
//! no or an unknown token, a refusal with the server's own `error: detail`. What the user got
//! wrong before any request (no token, no player, a bad incident number) is a
//! [`UsageError`] (exit code 2); what the server refuses exits 1.

use std::time::Duration;

use chaosday_domain::events::IncidentId;
use chaosday_domain::secrecy::View;
use chaosday_game::{Ack, ActiveFault, GameInfo, ProbeHealth, TargetMatchers};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::app::UsageError;
use crate::cli::ClientArgs;

/// How long a request may take, answer included.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Whose commands these are, for messages that name the right token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A player of a team.
    Team,
    /// The game master.
    GameMaster,
    /// A monkey's operator or a group owner.
    Operator,
}

impl Role {
    fn token(self) -> &'static str {
        match self {
            Role::Team => "your team's token",
            Role::GameMaster => "the game master's token",
            Role::Operator => "the monkey's operator's token (or a group owner's)",
        }
    }
}

/// An answer: typed for people, and the JSON exactly as the server sent it for scripts.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    /// The server's JSON document.
    pub raw: Value,
    /// What the commands read of it.
    pub data: T,
}

/// A connection to one game server, as one caller.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The server's URL as the user wrote it, for messages.
    url: String,
    /// `…/api/v1/`, to join paths on.
    api: Url,
    token: Option<String>,
    player: Option<String>,
    role: Role,
    timeout: Duration,
}

impl Client {
    /// A client for `args` (URL, token and player from flags or the environment). Fails with a
    /// usage error if the URL is not an `http://` URL; needs no server.
    pub fn new(args: &ClientArgs, role: Role) -> anyhow::Result<Self> {
        Self::with_timeout(args, role, TIMEOUT)
    }

    fn with_timeout(args: &ClientArgs, role: Role, timeout: Duration) -> anyhow::Result<Self> {
        let api = api_base(&args.url)?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("chaosday/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let given = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Ok(Client {
            http,
            url: args.url.trim_end_matches('/').to_owned(),
            api,
            token: given(&args.token),
            player: given(&args.player),
            role,
            timeout,
        })
    }

    /// Whether a token was given (without one, reads get what spectators see).
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Refuses (as a usage error) to go on without a token.
    pub fn require_token(&self) -> Result<(), UsageError> {
        match self.token {
            Some(_) => Ok(()),
            None => Err(self.no_token()),
        }
    }

    fn no_token(&self) -> UsageError {
        UsageError(format!(
            "no token: set {} with --token or CHAOSDAY_TOKEN",
            self.role.token()
        ))
    }

    /// The game: its status, teams, their targets, the fault kinds, the kill switch.
    pub async fn game(&self) -> anyhow::Result<Reply<GameInfo>> {
        self.get("game").await
    }

    /// The game as this caller may see it: status, scoreboard, incidents.
    pub async fn view(&self) -> anyhow::Result<Reply<View>> {
        self.get("view").await
    }

    /// The caller's targets with their alert matchers (every team's for the game master).
    pub async fn targets(&self) -> anyhow::Result<Reply<Vec<TargetMatchers>>> {
        self.get("targets").await
    }

    /// The active faults (the game master's).
    pub async fn faults(&self) -> anyhow::Result<Reply<Vec<ActiveFault>>> {
        self.get("faults").await
    }

    /// When the next scenario comes and what could open now (the game master's).
    pub async fn schedule(&self) -> anyhow::Result<Reply<chaosday_game::views::Schedule>> {
        self.get("schedule").await
    }

    /// Every probe's and guard's last result (the game master's).
    pub async fn probes(&self) -> anyhow::Result<Reply<Vec<ProbeHealth>>> {
        self.get("probes").await
    }

    /// Declares an incident on `target`.
    pub async fn declare(&self, target: &str) -> anyhow::Result<Reply<Ack>> {
        self.act("declare", json!({"target": target})).await
    }

    /// Diagnoses incident `id`.
    pub async fn diagnose(
        &self,
        id: IncidentId,
        target: &str,
        kind: &str,
    ) -> anyhow::Result<Reply<Ack>> {
        let path = format!("incidents/{}/diagnose", id.0);
        self.act(&path, json!({"target": target, "kind": kind}))
            .await
    }

    /// Buys hint `index` (0-based) of incident `id`, or the next one not bought.
    pub async fn buy_hint(
        &self,
        id: IncidentId,
        index: Option<usize>,
    ) -> anyhow::Result<Reply<Ack>> {
        let body = match index {
            Some(index) => json!({"hint": index}),
            None => json!({}),
        };
        self.act(&format!("incidents/{}/hints", id.0), body).await
    }

    /// Claims incident `id` resolved.
    pub async fn resolve(&self, id: IncidentId) -> anyhow::Result<Reply<Ack>> {
        self.act(&format!("incidents/{}/resolve", id.0), json!({}))
            .await
    }

    /// One of the game master's actions without arguments: `game/start`, `game/resume`,
    /// `game/end`, `abort`, `rearm`.
    pub async fn command(&self, path: &str) -> anyhow::Result<Reply<Ack>> {
        self.act(path, json!({})).await
    }

    /// Pauses the game.
    pub async fn pause(&self, reason: &str) -> anyhow::Result<Reply<Ack>> {
        self.act("game/pause", json!({"reason": reason})).await
    }

    /// Opens a scenario now.
    pub async fn unleash(
        &self,
        scenario: Option<&str>,
        team: Option<&str>,
    ) -> anyhow::Result<Reply<Ack>> {
        self.act("unleash", json!({"scenario": scenario, "team": team}))
            .await
    }

    /// Marks a manual scenario injected.
    pub async fn inject_manual(
        &self,
        scenario: &str,
        team: Option<&str>,
    ) -> anyhow::Result<Reply<Ack>> {
        self.act("inject-manual", json!({"scenario": scenario, "team": team}))
            .await
    }

    /// Adds (or takes) points.
    pub async fn adjust(
        &self,
        team: &str,
        points: i64,
        reason: &str,
    ) -> anyhow::Result<Reply<Ack>> {
        self.act(
            "adjust",
            json!({"team": team, "points": points, "reason": reason}),
        )
        .await
    }

    /// Posts an action with the player's name; refuses (as a usage error, before any request)
    /// without a token or a player.
    async fn act(&self, path: &str, mut body: Value) -> anyhow::Result<Reply<Ack>> {
        let player = self.actor()?;
        if let Value::Object(fields) = &mut body {
            fields.insert("player".into(), Value::String(player.to_owned()));
            fields.retain(|_, value| !value.is_null());
        }
        self.send(Method::POST, path, Some(&body)).await
    }

    /// The player acting, once a token and a name are given.
    fn actor(&self) -> Result<&str, UsageError> {
        let player =
            "set your name with --player or CHAOSDAY_PLAYER (it is recorded with every action)";
        match (&self.token, &self.player) {
            (Some(_), Some(player)) => Ok(player),
            (Some(_), None) => Err(UsageError(format!("who is acting? {player}"))),
            (None, Some(_)) => Err(self.no_token()),
            (None, None) => Err(UsageError(format!(
                "no token and no player: set {} with --token or CHAOSDAY_TOKEN, and {player}",
                self.role.token()
            ))),
        }
    }

    /// `GET api/v1/PATH`, its JSON as sent.
    pub async fn get_raw(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self.get::<Value>(path).await?.raw)
    }

    /// `POST api/v1/PATH` with `body`, its JSON as sent.
    pub async fn post_raw(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        Ok(self
            .send::<Value>(Method::POST, path, Some(&body))
            .await?
            .raw)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<Reply<T>> {
        self.send(Method::GET, path, None).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Reply<T>> {
        let url = self.api.join(path)?;
        let what = format!("{method} {}", url.path());
        let mut request = self.http.request(method, url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        tracing::debug!(request = %what, "asking the game server");
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?;
        if !status.is_success() {
            return Err(refusal(&self.url, status, &bytes));
        }
        let raw: Value = serde_json::from_slice(&bytes).map_err(|_| {
            anyhow::anyhow!(
                "{} answered {what} with something other than JSON: is --url (or CHAOSDAY_URL) a chaosday game server?",
                self.url
            )
        })?;
        let data = serde_path_to_error::deserialize(&raw)
            .map_err(|e| not_understood(&self.url, &what, &e))?;
        Ok(Reply { raw, data })
    }

    /// The error for a request that got no answer.
    fn transport_error(&self, error: &reqwest::Error) -> anyhow::Error {
        let cause = root_cause(error);
        if error.is_timeout() {
            anyhow::anyhow!(
                "the chaosday server at {} did not answer within {} s: try again, and if it goes on, look at the server's log",
                self.url,
                self.timeout.as_secs_f64()
            )
        } else if error.is_connect() && self.role == Role::Operator {
            anyhow::anyhow!(
                "no chaosday monkey at {} ({cause}): start one with `chaosday monkey MONKEY.yaml`, or set --url / CHAOSDAY_MONKEY_URL",
                self.url
            )
        } else if error.is_connect() {
            anyhow::anyhow!(
                "no chaosday server at {} ({cause}): start one with `chaosday serve GAME`, or set --url / CHAOSDAY_URL",
                self.url
            )
        } else {
            anyhow::anyhow!("talking to the chaosday server at {}: {cause}", self.url)
        }
    }
}

/// The error for an answer whose JSON does not read as the type the server sends: which
/// endpoint, which field (its path in the answer) and what is wrong with it.
fn not_understood(
    url: &str,
    what: &str,
    error: &serde_path_to_error::Error<serde_json::Error>,
) -> anyhow::Error {
    let path = error.path().to_string();
    let at = if path == "." {
        String::new()
    } else {
        format!(" at `{path}`")
    };
    anyhow::anyhow!(
        "{url} answered {what} with JSON this chaosday does not understand{at}: {}; is the server the same version? `--output json` shows the answer as it is",
        error.inner()
    )
}

/// The innermost cause of an error, which says what happened (`Connection refused`).
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = error;
    while let Some(source) = inner.source() {
        inner = source;
    }
    let text = inner.to_string();
    // "Connection refused (os error 111)": the errno adds nothing for people.
    match text.find(" (os error ") {
        Some(at) => text[..at].to_lowercase(),
        None => text,
    }
}

/// `URL/api/v1/`, from the server's URL (a path prefix is kept; a trailing `/api/v1` is not
/// doubled).
fn api_base(given: &str) -> Result<Url, UsageError> {
    let bad = |why: &str| {
        UsageError(format!(
            "--url {given:?} (or CHAOSDAY_URL): {why}; write it as http://HOST:PORT, such as http://127.0.0.1:8080"
        ))
    };
    let url = Url::parse(given.trim()).map_err(|e| bad(&e.to_string()))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(bad(
                "this chaosday speaks plain HTTP only; behind a TLS proxy, use the address of its plain-HTTP side",
            ));
        }
        other => return Err(bad(&format!("{other}: is not an HTTP URL"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a server URL has no query or fragment"));
    }
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/api/v1").unwrap_or(path);
    let mut base = url.clone();
    base.set_path(&format!("{path}/api/v1/"));
    Ok(base)
}

/// The server's error body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorBody {
    error: String,
    detail: String,
}

/// The error for a 4xx or 5xx answer from the server at `url`: what the server said, and
/// what to do. Bad input (400) is a usage error (exit code 2); every other refusal exits 1.
pub fn refusal(url: &str, status: StatusCode, body: &[u8]) -> anyhow::Error {
    let said = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .filter(|b| !b.error.is_empty() || !b.detail.is_empty())
        .map(|b| match (b.error.is_empty(), b.detail.is_empty()) {
            (false, false) => format!("{}: {}", b.error, b.detail),
            (false, true) => b.error,
            _ => b.detail,
        });
    let Some(said) = said else {
        let text = String::from_utf8_lossy(body);
        let text: String = text.trim().chars().take(200).collect();
        let body = if text.is_empty() {
            String::new()
        } else {
            format!(" ({text})")
        };
        return anyhow::anyhow!(
            "{url} answered {status}{body}, not as a chaosday game server does: check --url or CHAOSDAY_URL"
        );
    };
    match status {
        StatusCode::BAD_REQUEST => UsageError(said).into(),
        StatusCode::UNAUTHORIZED => {
            anyhow::anyhow!("{said} (set your token with --token or CHAOSDAY_TOKEN)")
        }
        StatusCode::TOO_MANY_REQUESTS if !said.contains("retry") => {
            anyhow::anyhow!("{said} (wait a moment and try again)")
        }
        StatusCode::SERVICE_UNAVAILABLE if !said.contains("nothing was recorded") => {
            anyhow::anyhow!("{said} (nothing was recorded: try again in a moment)")
        }
        s if s.is_server_error() => anyhow::anyhow!(
            "the chaosday server at {url} failed ({status}): {said}; this is a bug, please report it with the server's log"
        ),
        _ => anyhow::anyhow!("{said}"),
    }
}

/// An incident's number as the user writes it: `3` or `#3`.
pub fn parse_incident(text: &str) -> Result<IncidentId, UsageError> {
    let digits = text.trim();
    let digits = digits.strip_prefix('#').unwrap_or(digits);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(number) = digits.parse()
    {
        return Ok(IncidentId(number));
    }
    Err(UsageError(format!(
        "incident {text:?}: write its number, such as 3 or #3 (`chaosday team status` lists them)"
    )))
}

/// The API's 0-based hint index for the user's 1-based hint number.
pub fn hint_index(number: Option<usize>) -> Result<Option<usize>, UsageError> {
    match number {
        Some(0) => Err(UsageError(
            "hint 0: hints are numbered from 1, as `chaosday team status` shows them".into(),
        )),
        Some(n) => Ok(Some(n - 1)),
        None => Ok(None),
    }
}

#[cfg(test)]
pub mod tests {
    //! The client against an axum stand-in for the server on 127.0.0.1:0.

    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::IntoResponse;

    use super::*;
    use crate::app::exit_code;
    use chaosday_domain::incident::IncidentState;

    /// A request the stand-in received.
    #[derive(Debug, Clone)]
    pub struct Seen {
        /// `POST /api/v1/declare`.
        pub request: String,
        /// The `Authorization` header.
        pub auth: Option<String>,
        /// The JSON body (`null` if none).
        pub body: Value,
    }

    /// A stand-in server: canned answers by `METHOD /path`, and what it was asked.
    pub struct StandIn {
        /// Its URL.
        pub url: String,
        /// Every request, in order.
        pub seen: Arc<Mutex<Vec<Seen>>>,
    }

    impl StandIn {
        /// The requests so far.
        pub fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }

        /// Client arguments for this server.
        pub fn args(&self, token: Option<&str>, player: Option<&str>) -> ClientArgs {
            ClientArgs {
                url: self.url.clone(),
                token: token.map(str::to_owned),
                player: player.map(str::to_owned),
            }
        }
    }

    type Routes = Arc<Vec<(String, u16, String)>>;

    /// Starts a stand-in answering `request` (`GET /api/v1/game`) with `status` and `body`;
    /// anything else gets a chaosday-shaped 404.
    pub async fn stand_in(routes: &[(&str, u16, &str)]) -> StandIn {
        let routes: Routes = Arc::new(
            routes
                .iter()
                .map(|(r, s, b)| ((*r).to_owned(), *s, (*b).to_owned()))
                .collect(),
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer = {
            let seen = seen.clone();
            move |State(routes): State<Routes>,
                  method: Method,
                  uri: Uri,
                  headers: HeaderMap,
                  body: Bytes| {
                let seen = seen.clone();
                async move {
                    let request = format!("{method} {}", uri.path());
                    seen.lock().unwrap().push(Seen {
                        request: request.clone(),
                        auth: headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                    let (status, body) = routes
                        .iter()
                        .find(|(r, _, _)| *r == request)
                        .map(|(_, s, b)| (*s, b.clone()))
                        .unwrap_or((
                            404,
                            r#"{"error": "not found", "detail": "no such route"}"#.into(),
                        ));
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        body,
                    )
                        .into_response()
                }
            }
        };
        let app = Router::new().fallback(answer).with_state(routes);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        StandIn { url, seen }
    }

    /// What the server answers a team's diagnosis of incident #3 (a right one): the `Ack`
    /// with the incident as the team now sees it.
    pub const DIAGNOSED: &str = r#"{"seq": 7, "at_ms": 1800000000000, "message": "incident #3 diagnosed (+100)", "points": 100,
        "incident": {"id": 3, "team": "checkout", "state": "diagnosed", "scenario": null, "difficulty": 2,
            "resolution": "fix", "opened_ms": 1799999900000, "detected_ms": 1799999950000, "closed_ms": null,
            "closed_reason": null, "diagnosis": null, "faults": null,
            "hints": [{"index": 0, "cost": 30, "text": null, "bought": false}], "tries": 1, "claimed": false,
            "points": {"detect": 90, "diagnose": 100, "resolve": 0, "hints": 0, "penalties": 0, "adjustments": 0}}}"#;

    /// The message and exit code of an error.
    fn said(error: &anyhow::Error) -> (String, u8) {
        (format!("{error:#}"), exit_code(error))
    }

    #[test]
    fn incident_numbers_are_written_with_or_without_a_hash() {
        for (text, want) in [("3", 3), ("#3", 3), (" #12 ", 12), ("0", 0), ("007", 7)] {
            assert_eq!(parse_incident(text).unwrap(), IncidentId(want), "{text:?}");
        }
        for text in [
            "x3",
            "#",
            "",
            "-1",
            "+3",
            "3.0",
            "##3",
            "# 3",
            "3a",
            "99999999999999999999",
        ] {
            let error = parse_incident(text).unwrap_err();
            assert!(error.0.contains("such as 3 or #3"), "{text:?}: {}", error.0);
        }
    }

    #[test]
    fn hints_are_numbered_from_one_and_the_api_counts_from_zero() {
        assert_eq!(hint_index(Some(1)).unwrap(), Some(0));
        assert_eq!(hint_index(Some(3)).unwrap(), Some(2));
        assert_eq!(hint_index(None).unwrap(), None);
        assert!(
            hint_index(Some(0))
                .unwrap_err()
                .0
                .contains("numbered from 1")
        );
    }

    #[test]
    fn the_api_is_found_under_the_server_url() {
        for (given, want) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v1/"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/api/v1/"),
            (
                "http://gameday:8080/chaos/",
                "http://gameday:8080/chaos/api/v1/",
            ),
            ("http://gameday/api/v1", "http://gameday/api/v1/"),
            ("http://gameday/api/v1/", "http://gameday/api/v1/"),
        ] {
            assert_eq!(api_base(given).unwrap().as_str(), want, "{given}");
        }
        for given in [
            "gameday:8080",
            "https://gameday",
            "ftp://gameday",
            "",
            "http://h/?x=1",
        ] {
            let error = api_base(given).unwrap_err();
            assert!(error.0.contains("CHAOSDAY_URL"), "{given}: {}", error.0);
        }
    }

    #[test]
    fn each_refusal_says_what_the_server_said_and_what_to_do() {
        let url = "http://127.0.0.1:8080";
        let check = |status: u16, body: &str, want: &str, code: u8| {
            let error = refusal(url, StatusCode::from_u16(status).unwrap(), body.as_bytes());
            let (message, got) = said(&error);
            assert_eq!(message, want, "{status} {body}");
            assert_eq!(got, code, "{status} {body}: {message}");
        };
        let body =
            |error: &str, detail: &str| json!({"error": error, "detail": detail}).to_string();
        check(
            401,
            &body("unauthorized", "unknown token"),
            "unauthorized: unknown token (set your token with --token or CHAOSDAY_TOKEN)",
            1,
        );
        check(
            403,
            &body("forbidden", "a team cannot act for another team"),
            "forbidden: a team cannot act for another team",
            1,
        );
        check(
            404,
            &body("not_found", "no incident #9"),
            "not_found: no incident #9",
            1,
        );
        check(
            409,
            &body("conflict", "the game is not running"),
            "conflict: the game is not running",
            1,
        );
        check(
            429,
            &body("too_many_requests", "50 requests per second"),
            "too_many_requests: 50 requests per second (wait a moment and try again)",
            1,
        );
        check(
            429,
            &body("too_many_requests", "too many requests; retry in 2 s"),
            "too_many_requests: too many requests; retry in 2 s",
            1,
        );
        check(
            503,
            &body("unavailable", "the event log is down"),
            "unavailable: the event log is down (nothing was recorded: try again in a moment)",
            1,
        );
        check(
            400,
            &body("bad_request", "kind: `latncy` is not a fault kind"),
            "bad_request: kind: `latncy` is not a fault kind",
            2,
        );
        check(409, r#"{"error": "conflict"}"#, "conflict", 1);
        check(
            500,
            &body("internal", "oops"),
            "the chaosday server at http://127.0.0.1:8080 failed (500 Internal Server Error): \
             internal: oops; this is a bug, please report it with the server's log",
            1,
        );
        check(
            404,
            "<html>nginx</html>",
            "http://127.0.0.1:8080 answered 404 Not Found (<html>nginx</html>), \
             not as a chaosday game server does: check --url or CHAOSDAY_URL",
            1,
        );
        check(
            502,
            "",
            "http://127.0.0.1:8080 answered 502 Bad Gateway, \
             not as a chaosday game server does: check --url or CHAOSDAY_URL",
            1,
        );
    }

    #[tokio::test]
    async fn no_server_at_the_url_says_how_to_start_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let args = ClientArgs {
            url: url.clone(),
            token: None,
            player: None,
        };
        let client = Client::new(&args, Role::Team).unwrap();
        let (message, code) = said(&client.view().await.unwrap_err());
        assert!(
            message.starts_with(&format!("no chaosday server at {url}")),
            "{message}"
        );
        assert!(message.contains("connection refused"), "{message}");
        assert!(
            message.contains("start one with `chaosday serve GAME`, or set --url / CHAOSDAY_URL"),
            "{message}"
        );
        assert_eq!(code, 1);
    }

    #[tokio::test]
    async fn a_server_that_does_not_answer_in_time_is_reported() {
        let app = Router::new().fallback(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "{}"
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let args = ClientArgs {
            url,
            token: None,
            player: None,
        };
        let client = Client::with_timeout(&args, Role::Team, Duration::from_millis(100)).unwrap();
        let (message, code) = said(&client.game().await.unwrap_err());
        assert!(message.contains("did not answer within 0.1 s"), "{message}");
        assert_eq!(code, 1);
    }

    #[tokio::test]
    async fn an_action_carries_the_token_and_the_player() {
        let server = stand_in(&[("POST /api/v1/incidents/3/diagnose", 200, DIAGNOSED)]).await;
        let client = Client::new(&server.args(Some("s3cret"), Some("alice")), Role::Team).unwrap();
        let reply = client
            .diagnose(IncidentId(3), "cart-db-link", "latency")
            .await
            .unwrap();
        assert_eq!(reply.data.points, 100);
        assert_eq!(reply.data.message, "incident #3 diagnosed (+100)");
        let incident = reply.data.incident.unwrap();
        assert_eq!(
            (incident.id, incident.state),
            (IncidentId(3), IncidentState::Diagnosed)
        );
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].request, "POST /api/v1/incidents/3/diagnose");
        assert_eq!(seen[0].auth.as_deref(), Some("Bearer s3cret"));
        assert_eq!(
            seen[0].body,
            json!({"target": "cart-db-link", "kind": "latency", "player": "alice"})
        );
    }

    #[tokio::test]
    async fn optional_fields_left_out_are_not_sent() {
        let server = stand_in(&[
            (
                "POST /api/v1/unleash",
                200,
                r#"{"seq": 4, "at_ms": 1800000000000, "message": "unleashed slow-database against search", "points": 0}"#,
            ),
            (
                "POST /api/v1/incidents/2/hints",
                200,
                r#"{"seq": 5, "at_ms": 1800000000000, "message": "hint 1 of #2: -30 points", "points": -30,
                    "hint": {"index": 0, "cost": 30, "text": "look at the pool", "bought": true}}"#,
            ),
        ])
        .await;
        let client = Client::new(&server.args(Some("gm"), Some("gm")), Role::GameMaster).unwrap();
        client.unleash(None, Some("search")).await.unwrap();
        client.buy_hint(IncidentId(2), None).await.unwrap();
        let seen = server.seen();
        assert_eq!(seen[0].body, json!({"team": "search", "player": "gm"}));
        assert_eq!(seen[1].body, json!({"player": "gm"}));
    }

    #[tokio::test]
    async fn no_token_or_no_player_is_a_usage_error_before_any_request() {
        let server = stand_in(&[]).await;
        for (token, player, want) in [
            (
                None,
                Some("alice"),
                "no token: set your team's token with --token or CHAOSDAY_TOKEN",
            ),
            (
                Some("t"),
                None,
                "set your name with --player or CHAOSDAY_PLAYER",
            ),
            (Some("t"), Some("  "), "CHAOSDAY_PLAYER"),
            (Some(""), Some("alice"), "CHAOSDAY_TOKEN"),
            (None, None, "no token and no player"),
        ] {
            let client = Client::new(&server.args(token, player), Role::Team).unwrap();
            let (message, code) = said(&client.declare("cart").await.unwrap_err());
            assert!(message.contains(want), "{token:?} {player:?}: {message}");
            assert_eq!(code, 2);
        }
        let client = Client::new(&server.args(None, Some("gm")), Role::GameMaster).unwrap();
        let (message, _) = said(&client.command("abort").await.unwrap_err());
        assert!(message.contains("the game master's token"), "{message}");
        assert!(server.seen().is_empty());
    }

    #[tokio::test]
    async fn a_refusal_comes_back_with_the_server_s_error_and_detail() {
        let server = stand_in(&[(
            "POST /api/v1/incidents/4/resolve",
            409,
            r#"{"error": "conflict", "detail": "incident #4 is closed"}"#,
        )])
        .await;
        let client = Client::new(&server.args(Some("t"), Some("bob")), Role::Team).unwrap();
        let (message, code) = said(&client.resolve(IncidentId(4)).await.unwrap_err());
        assert_eq!(message, "conflict: incident #4 is closed");
        assert_eq!(code, 1);
    }

    #[tokio::test]
    async fn reads_keep_the_server_s_json_as_it_came() {
        // What the server sends, with fields a newer server might add (`extra`, `later`):
        // read past, and kept in the JSON as they came.
        let body = r#"{"status": "running", "scoreboard": [{"rank": 1, "team": "b", "points": 5,
            "breakdown": {"detect": 5, "diagnose": 0, "resolve": 0, "hints": 0, "penalties": 0, "adjustments": 0},
            "resolved": 0, "false_alarms": 0, "time_to_resolve_ms": 0, "extra": 1}],
            "incidents": [], "later": {"z": 1, "a": 2}}"#;
        let server = stand_in(&[("GET /api/v1/view", 200, body)]).await;
        let client = Client::new(&server.args(None, None), Role::Team).unwrap();
        let reply = client.view().await.unwrap();
        assert_eq!(
            reply.raw.to_string(),
            serde_json::from_str::<Value>(body).unwrap().to_string()
        );
        assert!(
            reply.raw.to_string().contains(r#"{"z":1,"a":2}"#),
            "field order kept"
        );
        assert_eq!(reply.data.scoreboard[0].points, 5);
        assert_eq!(server.seen()[0].auth, None, "no token, no header");
    }

    #[tokio::test]
    async fn an_answer_without_a_field_the_server_sends_names_the_endpoint_and_the_field() {
        let server = stand_in(&[
            (
                "GET /api/v1/view",
                200,
                r#"{"status": "running", "scoreboard": [], "incidents": [{"id": 1, "team": "a"}]}"#,
            ),
            (
                "GET /api/v1/game",
                200,
                r#"{"game": "g", "status": "sleeping"}"#,
            ),
        ])
        .await;
        let client = Client::new(&server.args(None, None), Role::Team).unwrap();
        let (message, code) = said(&client.view().await.unwrap_err());
        assert!(
            message.starts_with(&format!(
                "{} answered GET /api/v1/view with JSON this chaosday does not understand at `incidents[0]`: missing field `state`;",
                server.url
            )),
            "{message}"
        );
        assert!(
            message.contains("`--output json` shows the answer"),
            "{message}"
        );
        assert_eq!(code, 1);
        let (message, _) = said(&client.game().await.unwrap_err());
        assert!(
            message.contains("GET /api/v1/game with JSON this chaosday does not understand at `status`: unknown variant `sleeping`"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn an_answer_that_is_not_json_is_reported() {
        let app = Router::new().fallback(|| async { "hello" });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let args = ClientArgs {
            url,
            token: None,
            player: None,
        };
        let client = Client::new(&args, Role::Team).unwrap();
        let (message, _) = said(&client.game().await.unwrap_err());
        assert!(
            message.contains("GET /api/v1/game with something other than JSON"),
            "{message}"
        );
    }
}
