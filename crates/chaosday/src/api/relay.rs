//! A follower's forwarding: what a replica that follows the log cannot answer from it goes
//! to the leader, whose answer comes back as it is (status, headers, body; an event stream
//! streamed). So an action sent to any replica is acknowledged only once the leader has
//! committed it durably.
//!
//! Forwarded ([`must_forward`]): every request under `/api/v1` but `GET`/`HEAD` (actions,
//! the Alertmanager receiver, the agents' exchanges), the game master's reads of the
//! leader's engine and agents (`faults`, `probes`, `schedule`, `agents`), the game's Toxiproxy API (`/toxiproxy/…`), and the web UI's
//! forms and every request that carries a session cookie (sessions live in the leader's
//! memory: signing in is forwarded, so is everything a signed-in browser asks).
//!
//! The leader is where it published itself in the store (`chaosday_store::Leader`), read
//! at most every [`LEADER_TTL`] and again after a failed connection. A forwarded request
//! carries the leader's relay key ([`RELAY_HEADER`]) and the client's address
//! (`X-Forwarded-For`); the leader believes that address only with its key
//! ([`client_address`]), so rate limits and budgets count the client, not the follower,
//! and nobody else can pick the address they are counted under. With no leader known or
//! reachable, the answer is a 503 with `Retry-After` within [`CONNECT_TIMEOUT`]; an answer
//! (but an event stream's body) comes within [`FORWARD_TIMEOUT`].

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chaosday_game::{GameServer, Leader};
use parking_lot::Mutex;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;

/// The header that carries the leader's relay key on a forwarded request.
pub const RELAY_HEADER: &str = "x-chaosday-relay";

/// The client's address on a forwarded request (believed only with the relay key).
const FORWARDED_FOR: &str = "x-forwarded-for";

/// How long the leader's published address is used before it is read again.
pub const LEADER_TTL: Duration = Duration::from_secs(1);

/// How long a connection to the leader may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a forwarded request may take, answer and body (an event stream: its headers).
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// The most a forwarded body may hold (the largest the API reads: an Alertmanager payload).
const MAX_BODY: usize = super::alerts::MAX_PAYLOAD;

/// What a client retries after when no leader answers.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A follower's way to the leader.
pub struct Relay {
    client: reqwest::Client,
    /// The leader as last read, and when.
    leader: Mutex<Option<(Instant, Leader)>>,
    /// This replica's own advertised URL: never forwarded to.
    own: Option<String>,
}

impl Relay {
    /// A relay for a replica advertised at `own` (if it is).
    pub fn new(own: Option<String>) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .no_proxy()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Relay {
            client,
            leader: Mutex::new(None),
            own,
        }
    }

    /// The leader as published, read again if older than [`LEADER_TTL`] or if `fresh`.
    async fn leader(&self, server: &GameServer, fresh: bool) -> Result<Leader, ApiError> {
        if !fresh
            && let Some((at, leader)) = &*self.leader.lock()
            && at.elapsed() < LEADER_TTL
        {
            return Ok(leader.clone());
        }
        let leader = server.leader().await.map_err(|e| {
            unavailable(format!(
                "this replica follows the game but cannot read where its leader is ({e:#})"
            ))
        })?;
        let Some(leader) = leader else {
            return Err(unavailable(
                "no server leads this game yet: this replica serves reads only".into(),
            ));
        };
        *self.leader.lock() = Some((Instant::now(), leader.clone()));
        Ok(leader)
    }

    /// Sends `request` (from `peer`) to the leader and gives back its answer.
    async fn forward(&self, server: &GameServer, request: Request, peer: IpAddr) -> Response {
        match self.try_forward(server, request, peer).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    }

    async fn try_forward(
        &self,
        server: &GameServer,
        request: Request,
        peer: IpAddr,
    ) -> Result<Response, ApiError> {
        if request.headers().contains_key(RELAY_HEADER) {
            // Forwarded by another replica that took this one for the leader: never again.
            return Err(unavailable(
                "the replica this request was forwarded to does not lead (yet): the lead is changing hands".into(),
            ));
        }
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|_| ApiError::PayloadTooLarge(super::body::too_large_detail(MAX_BODY)))?;
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
        let stream = parts.uri.path() == "/api/v1/events";
        let mut headers = end_to_end(&parts.headers);
        headers.insert(
            HeaderName::from_static(FORWARDED_FOR),
            HeaderValue::from_str(&peer.to_string()).unwrap_or(HeaderValue::from_static("0.0.0.0")),
        );
        let mut fresh = false;
        loop {
            let leader = self.leader(server, fresh).await?;
            if self.own.as_deref() == Some(leader.url.as_str()) {
                return Err(unavailable(
                    "this replica is taking the lead and does not serve actions yet".into(),
                ));
            }
            let mut headers = headers.clone();
            if let Ok(key) = HeaderValue::from_str(&leader.relay_key) {
                headers.insert(HeaderName::from_static(RELAY_HEADER), key);
            }
            let url = format!("{}{path}", leader.url.trim_end_matches('/'));
            let mut outgoing = self
                .client
                .request(parts.method.clone(), &url)
                .headers(headers)
                .body(body.clone());
            if !stream {
                outgoing = outgoing.timeout(FORWARD_TIMEOUT);
            }
            let sent = tokio::time::timeout(FORWARD_TIMEOUT, outgoing.send()).await;
            match sent {
                Ok(Ok(answer)) => return Ok(answer_of(answer)),
                // Nothing was sent: a newer leader may have published itself since.
                Ok(Err(e)) if e.is_connect() && !fresh => {
                    fresh = true;
                    tracing::debug!(error = %e, leader = %leader.url, "the leader is not reachable: reading where it is again");
                }
                Ok(Err(e)) => {
                    *self.leader.lock() = None;
                    return Err(unavailable(format!(
                        "the leader at {} did not answer ({e}): if it died, another replica takes over within seconds",
                        leader.url
                    )));
                }
                Err(_) => {
                    *self.leader.lock() = None;
                    return Err(unavailable(format!(
                        "the leader at {} did not answer within {} s",
                        leader.url,
                        FORWARD_TIMEOUT.as_secs()
                    )));
                }
            }
        }
    }
}

fn unavailable(detail: String) -> ApiError {
    ApiError::NoLeader {
        detail: format!("{detail}; retry shortly"),
        retry_after: RETRY_AFTER,
    }
}

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1), and those
/// the relay sets itself.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
            | FORWARDED_FOR
            | RELAY_HEADER
    )
}

fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    headers
        .iter()
        .filter(|(name, _)| !hop_by_hop(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// The leader's answer, as this replica's.
fn answer_of(answer: reqwest::Response) -> Response {
    let status = answer.status();
    let headers = end_to_end(answer.headers());
    // Chunk by chunk as they come (an event stream's frames at once).
    let chunks = futures_util::stream::unfold(Some(answer), |answer| async move {
        let mut answer = answer?;
        match answer.chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(answer))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Whether a follower must forward `request` to the leader (see the module's comment).
pub fn must_forward(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    let read = method == Method::GET || method == Method::HEAD;
    if path.starts_with("/toxiproxy") {
        return true;
    }
    if let Some(api) = path.strip_prefix("/api/v1/") {
        return !read
            || matches!(api, "faults" | "probes" | "schedule" | "agents")
            || (api == "events" && has_session(headers));
    }
    !read || has_session(headers)
}

/// Whether the request carries the web UI's session cookie.
fn has_session(headers: &HeaderMap) -> bool {
    let prefix = format!("{}=", crate::web::sessions::COOKIE);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim().starts_with(&prefix))
}

/// The middleware in front of every route: while this replica follows, what it must
/// forward goes to the leader; the rest is served here.
pub async fn forward(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.server.is_leader()
        || !must_forward(request.method(), request.uri().path(), request.headers())
    {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    state.relay.forward(&state.server, request, peer).await
}

/// The address a request comes from: its peer's, or, on a request forwarded by a follower
/// that carries this leader's relay key, the client address the follower names.
pub fn client_address(server: &GameServer, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
    let Some(given) = headers.get(RELAY_HEADER) else {
        return peer;
    };
    let Some(key) = server.relay_key() else {
        return peer;
    };
    if !bool::from(given.as_bytes().ct_eq(key.as_bytes())) {
        return peer;
    }
    headers
        .get(FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_follower_forwards_writes_engine_reads_and_signed_in_browsers_only() {
        let none = HeaderMap::new();
        let signed_in = cookie("theme=dark; chaosday_session=abc");
        let get = Method::GET;
        let post = Method::POST;
        for (method, path, headers, forwarded) in [
            (&get, "/api/v1/game", &none, false),
            (&get, "/api/v1/scoreboard", &none, false),
            (&get, "/api/v1/timeline", &none, false),
            (&get, "/api/v1/incidents/123456", &none, false),
            (&get, "/api/v1/events", &none, false),
            (&get, "/api/v1/events", &signed_in, true),
            (&get, "/api/v1/openapi.json", &none, false),
            (&get, "/api/v1/faults", &none, true),
            (&get, "/api/v1/agents", &none, true),
            (&get, "/api/v1/probes", &none, true),
            (&get, "/api/v1/schedule", &none, true),
            (&post, "/api/v1/declare", &none, true),
            (&post, "/api/v1/alerts/alertmanager", &none, true),
            (&Method::DELETE, "/toxiproxy/proxies/x", &none, true),
            (&get, "/toxiproxy/proxies", &none, true),
            (&get, "/", &none, false),
            (&get, "/board", &none, false),
            (&get, "/report", &none, false),
            (&get, "/login", &none, false),
            (&post, "/login", &none, true),
            (&get, "/team", &signed_in, true),
            (&get, "/", &cookie("chaosday_sessionx=1"), false),
        ] {
            assert_eq!(
                must_forward(method, path, headers),
                forwarded,
                "{method} {path} {headers:?}"
            );
        }
    }

    #[test]
    fn hop_by_hop_headers_and_the_relays_own_are_not_passed_on() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("a/b"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        headers.insert(header::HOST, HeaderValue::from_static("h"));
        headers.insert(FORWARDED_FOR, HeaderValue::from_static("1.2.3.4"));
        headers.insert(RELAY_HEADER, HeaderValue::from_static("forged"));
        let kept = end_to_end(&headers);
        let mut names: Vec<&str> = kept.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["authorization", "content-type"]);
    }
}
