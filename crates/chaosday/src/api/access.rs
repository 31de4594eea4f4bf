//! Who is asking, and how often: the bearer token of each request (SPEC §5) and its rate
//! limit.
//!
//! [`authenticate`] runs before every handler: it reads `Authorization: Bearer TOKEN`,
//! hashes the token once, refuses it unchecked while its address is over its budget of
//! failed credentials ([`super::guesses`]: token guessing is limited on every route), checks
//! the rate limit (keyed by the token's hash, a web session's, or the peer's address without
//! either), then answers 401 for a token of no one, or leaves a [`Who`] for the handlers. No
//! token is a spectator: read-only, and only if the server lets spectators in.
//!
//! One exception to "a bearer token or nothing": `GET /api/v1/events` without an
//! `Authorization` header takes the web UI's session cookie, since a browser's
//! `EventSource` cannot send a header. It is a read with no effect, and the cookie is
//! `SameSite=Strict`; no other endpoint takes the cookie, so no action can be forged with it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::AppState;
use super::error::ApiError;
use crate::web::sessions;
use chaosday_domain::secrecy::Viewer;
use chaosday_game::Caller;
use chaosday_game::auth::{AgentNames, Identity, TokenHash};

/// Who sent a request, once its token is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// No token.
    Anonymous,
    /// A token of this game.
    Known(Identity),
}

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Without the middleware (a route it does not cover), the least: anonymous.
        Ok(parts
            .extensions
            .get::<Who>()
            .cloned()
            .unwrap_or(Who::Anonymous))
    }
}

const SEND_TOKEN: &str = "send it as the header `Authorization: Bearer TOKEN`";

impl Who {
    /// What this caller may read, if anything: spectators only when the server lets them.
    pub fn viewer(&self, spectators: bool) -> Result<Viewer, ApiError> {
        match self {
            Who::Anonymous if spectators => Ok(Viewer::Spectator),
            Who::Anonymous => Err(ApiError::Unauthorized(format!(
                "this server asks a token for every read (it runs with --spectators false); {SEND_TOKEN}"
            ))),
            Who::Known(Identity::GameMaster) => Ok(Viewer::GameMaster),
            Who::Known(Identity::Team(team)) => Ok(Viewer::Team(team.clone())),
            Who::Known(Identity::Agent(agent)) => Err(agent_only(agent)),
        }
    }

    /// The caller of a player's action (a team's, or the game master's, who may do
    /// everything): a token is needed.
    pub fn player(&self, player: String) -> Result<Caller, ApiError> {
        match self {
            Who::Anonymous => Err(ApiError::Unauthorized(format!(
                "this action needs your team's token; {SEND_TOKEN}"
            ))),
            Who::Known(Identity::GameMaster) => Ok(Caller::GameMaster { player }),
            Who::Known(Identity::Team(team)) => Ok(Caller::Team {
                team: team.clone(),
                player,
            }),
            Who::Known(Identity::Agent(agent)) => Err(agent_only(agent)),
        }
    }

    /// The caller of the game master's work: the game master's token, else 401 (none) or
    /// 403 (a team's).
    pub fn game_master(&self, player: String) -> Result<Caller, ApiError> {
        self.require_game_master()?;
        Ok(Caller::GameMaster { player })
    }

    /// Fails unless this is the game master.
    pub fn require_game_master(&self) -> Result<(), ApiError> {
        match self {
            Who::Known(Identity::GameMaster) => Ok(()),
            Who::Anonymous => Err(ApiError::Unauthorized(format!(
                "only the game master may do this; {SEND_TOKEN} with the game master's token"
            ))),
            Who::Known(Identity::Team(team)) => Err(ApiError::Forbidden(format!(
                "only the game master may do this, and this is team {team}'s token"
            ))),
            Who::Known(Identity::Agent(agent)) => Err(agent_only(agent)),
        }
    }

    /// The agents this token stands for, else 401 (no token) or 403 (another's).
    pub fn agent(&self) -> Result<&AgentNames, ApiError> {
        match self {
            Who::Known(Identity::Agent(agent)) => Ok(agent),
            Who::Anonymous => Err(ApiError::Unauthorized(format!(
                "only an agent exchanges orders; {SEND_TOKEN} with the agent's token"
            ))),
            Who::Known(_) => Err(ApiError::Forbidden(
                "only an agent exchanges orders, with its own token".into(),
            )),
        }
    }
}

/// An agent's token used for anything but its orders.
fn agent_only(agent: &AgentNames) -> ApiError {
    ApiError::Forbidden(format!(
        "this is agent {agent}'s token: it only exchanges the agent's orders"
    ))
}

/// A token from `Authorization: Bearer TOKEN`: `None` without the header.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        ApiError::Unauthorized(format!(
            "the Authorization header is not ASCII; {SEND_TOKEN}"
        ))
    })?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthorized(format!(
            "the Authorization header is not a bearer token; {SEND_TOKEN}"
        )));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::Unauthorized(format!(
            "the Authorization header has no token; {SEND_TOKEN}"
        )));
    }
    Ok(Some(token))
}

/// The address a request came from (unspecified when the server was not told: served
/// without `into_make_service_with_connect_info::<SocketAddr>()`, as in `oneshot` tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Peer>()
            .copied()
            .unwrap_or(Peer(IpAddr::V4(Ipv4Addr::UNSPECIFIED))))
    }
}

/// The address of `request`'s peer.
fn peer_of(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// The middleware in front of every route: credentials (and their guessing budget), rate
/// limit, then [`Who`] and [`Peer`] for the handlers. A session cookie of no live session
/// is forgotten by the answer (so a browser stops sending it after a restart of the server).
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let mut forget_cookie = false;
    let peer = super::relay::client_address(&state.server, request.headers(), peer_of(&request));
    let mut response = match check(&state, &request, peer, &mut forget_cookie) {
        Ok(who) => {
            request.extensions_mut().insert(Peer(peer));
            request.extensions_mut().insert(who);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    };
    if forget_cookie
        && let Ok(value) = HeaderValue::from_str(&sessions::expired_cookie(sessions::COOKIE, "/"))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The answer to a credential refused unchecked: its address sent too many bad ones.
fn guessing(retry_after: std::time::Duration) -> ApiError {
    ApiError::OverBudget {
        detail: "too many tokens of no one (or sessions that ended) came from this address; a token that has worked from here before still works".into(),
        retry_after,
    }
}

fn check(
    state: &AppState,
    request: &Request,
    peer: IpAddr,
    forget_cookie: &mut bool,
) -> Result<Who, ApiError> {
    let guesses = &state.guesses;
    // Guessing is limited on every route, event streams included: a credential is refused
    // unchecked while its address is over its budget of failures (see `guesses`), and
    // every failure spends that budget, never the request rate of anyone else.
    let hash = match bearer(request.headers()) {
        Ok(token) => token.map(TokenHash::of),
        Err(error) => {
            if let Some(wait) = guesses.refused(peer, &TokenHash::of("")) {
                return Err(guessing(wait));
            }
            guesses.failed(peer);
            return Err(error);
        }
    };
    if let Some(hash) = &hash
        && let Some(wait) = guesses.refused(peer, hash)
    {
        return Err(guessing(wait));
    }
    let identity = hash.as_ref().and_then(|h| state.auth.identify_hash(h));
    match (&hash, &identity) {
        (Some(hash), Some(_)) => guesses.succeeded(peer, *hash),
        (Some(_), None) => {
            guesses.failed(peer);
            return Err(ApiError::Unauthorized(
                "this token is not one of this game's; check it with the game master, or send no Authorization header to read as a spectator"
                    .into(),
            ));
        }
        (None, _) => {}
    }
    // Without a token, the web UI's session cookie, if any: a live one is a credential
    // proven from this address, one of no live session a failure.
    let mut session: Option<(TokenHash, Identity)> = None;
    if hash.is_none()
        && let Some(id) = sessions::cookie(request.headers(), sessions::COOKIE)
    {
        let credential = TokenHash::of(&id);
        if let Some(wait) = guesses.refused(peer, &credential) {
            *forget_cookie = true;
            return Err(guessing(wait));
        }
        match state.sessions.get(&id, Instant::now()) {
            Some(current) => {
                guesses.succeeded(peer, credential);
                session = Some((credential, current.identity()));
            }
            None => {
                guesses.failed(peer);
                *forget_cookie = true;
            }
        }
    }
    let events = request.uri().path() == "/api/v1/events";
    if events
        && request.method() == Method::GET
        && let Some((_, identity)) = &session
    {
        // A signed-in browser's own live events (the session cookie).
        return Ok(Who::Known(identity.clone()));
    }
    // A team's Alertmanager has a budget of its own, apart from its players': a burst of
    // alert groups must not cost them their actions, nor be dropped (Alertmanager retries a
    // 503, never a 429).
    if request.uri().path() == ALERT_RECEIVER
        && let (Some(limiter), Some(known), Some(hash)) = (&state.alert_limiter, &identity, &hash)
    {
        limiter.check(&Key::Token(*hash)).map_err(|e| match e {
            ApiError::TooManyRequests { retry_after } => ApiError::Busy {
                detail: "this team's alert receiver is taking no more notifications now".into(),
                retry_after,
            },
            other => other,
        })?;
        return Ok(Who::Known(known.clone()));
    }
    // A live event stream is one long request: it counts against the streams' budgets, not
    // the request rate (5,000 spectators would be refused otherwise).
    if let (Some(limiter), false) = (&state.limiter, events) {
        let key = match (hash, &session) {
            (Some(hash), _) => Key::Token(hash),
            // A browser signed in to the web UI has a budget of its own, so that players
            // behind one address (an office's NAT) do not share one.
            (None, Some((credential, _))) => Key::Token(*credential),
            (None, None) => Key::Peer(peer),
        };
        limiter.check(&key)?;
    }
    Ok(match identity {
        Some(identity) => Who::Known(identity),
        None => Who::Anonymous,
    })
}

/// The middleware in front of the game's Toxiproxy API: the game master's only.
pub async fn game_master_only(request: Request, next: Next) -> Response {
    let who = request
        .extensions()
        .get::<Who>()
        .cloned()
        .unwrap_or(Who::Anonymous);
    match who.require_game_master() {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// The Alertmanager receiver's path: its budget is its own.
pub const ALERT_RECEIVER: &str = "/api/v1/alerts/alertmanager";

/// Notifications per second a team's Alertmanager may send, and the burst it may send at
/// once (a restart flushes every group).
pub const ALERT_RATE: u32 = 50;
/// See [`ALERT_RATE`].
pub const ALERT_BURST: u32 = 1_000;

/// What a rate limit is kept by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A known token, by its hash (or a live web session, by the hash of its id).
    Token(TokenHash),
    /// The peer's address (no token).
    Peer(IpAddr),
}

/// Requests per second per [`Key`].
pub struct Limiter {
    limiter: DefaultKeyedRateLimiter<Key>,
    checks: AtomicU64,
}

/// How many checks between two sweeps of keys that are full again.
const SWEEP_EVERY: u64 = 4096;

impl Limiter {
    /// A limit of `per_second` (bursts of as many), or none for 0.
    pub fn new(per_second: u32) -> Option<Self> {
        Limiter::with_burst(per_second, per_second)
    }

    /// A limit of `per_second`, with bursts of `burst`, or none for 0.
    pub fn with_burst(per_second: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst.max(per_second))?;
        Some(Limiter {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            checks: AtomicU64::new(0),
        })
    }

    /// One request for `key`: a 429 with the time to wait when it is over its limit.
    pub fn check(&self, key: &Key) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // Keys whose bucket is full again hold nothing worth keeping.
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| ApiError::TooManyRequests {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(value).unwrap(),
        );
        headers
    }

    #[test]
    fn reads_a_bearer_token_whatever_the_scheme_case() {
        assert_eq!(bearer(&HeaderMap::new()).unwrap(), None);
        assert_eq!(bearer(&headers(b"Bearer abc")).unwrap(), Some("abc"));
        assert_eq!(bearer(&headers(b"bearer  abc ")).unwrap(), Some("abc"));
        assert_eq!(bearer(&headers(b"BEARER abc")).unwrap(), Some("abc"));
    }

    #[test]
    fn a_header_that_is_not_a_bearer_token_is_unauthorized() {
        for value in [
            &b"Basic YWxhZGRpbjpvcGVu"[..],
            b"Bearer",
            b"Bearer   ",
            b"abc",
            b"Bearer \xff\xfe",
        ] {
            assert!(
                matches!(bearer(&headers(value)), Err(ApiError::Unauthorized(_))),
                "{value:?}"
            );
        }
    }

    #[test]
    fn spectators_read_only_when_the_server_lets_them() {
        assert_eq!(Who::Anonymous.viewer(true).unwrap(), Viewer::Spectator);
        assert!(matches!(
            Who::Anonymous.viewer(false),
            Err(ApiError::Unauthorized(_))
        ));
        let team = Who::Known(Identity::Team("checkout".into()));
        assert_eq!(team.viewer(false).unwrap(), Viewer::Team("checkout".into()));
    }

    #[test]
    fn the_game_masters_work_is_401_without_a_token_and_403_with_a_teams() {
        assert!(matches!(
            Who::Anonymous.game_master("ada".into()),
            Err(ApiError::Unauthorized(_))
        ));
        assert!(matches!(
            Who::Known(Identity::Team("checkout".into())).game_master("ada".into()),
            Err(ApiError::Forbidden(_))
        ));
        assert_eq!(
            Who::Known(Identity::GameMaster)
                .game_master("ada".into())
                .unwrap(),
            Caller::GameMaster {
                player: "ada".into()
            }
        );
    }

    #[test]
    fn a_players_action_takes_the_team_from_the_token() {
        assert!(matches!(
            Who::Anonymous.player("ada".into()),
            Err(ApiError::Unauthorized(_))
        ));
        assert_eq!(
            Who::Known(Identity::Team("checkout".into()))
                .player("ada".into())
                .unwrap(),
            Caller::Team {
                team: "checkout".into(),
                player: "ada".into()
            }
        );
    }

    #[test]
    fn the_limiter_allows_a_burst_then_says_when_to_retry() {
        let limiter = Limiter::new(3).unwrap();
        let key = Key::Token(TokenHash::of("some-token-of-a-team"));
        for _ in 0..3 {
            limiter.check(&key).unwrap();
        }
        let Err(ApiError::TooManyRequests { retry_after }) = limiter.check(&key) else {
            panic!("the fourth request should be limited");
        };
        assert!(retry_after <= std::time::Duration::from_secs(1));
        // Another key has its own budget.
        limiter
            .check(&Key::Peer(IpAddr::V4(Ipv4Addr::LOCALHOST)))
            .unwrap();
        assert!(Limiter::new(0).is_none());
    }
}
