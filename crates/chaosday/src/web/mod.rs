//! The web UI (SPEC §5): server-rendered pages over the same [`GameServer`] as the API, on
//! the same listener.
//!
//! - `/` — the scoreboard for the big screen: the public standings, the incidents teams have
//!   detected, the public timeline; live over `/api/v1/events?view=spectator`.
//! - `/login`, `/logout` — a token and a player's name open a session ([`sessions`]).
//! - `/team` — a team's console: declare, diagnose, buy hints, claim; live over the team's
//!   own event stream.
//! - `/gm` — the game master's console: the game's controls, the kill switch, every
//!   incident with its ground truth, the active faults, probe and guard health.
//! - `/report` — the game's report (see [`pages::report`]).
//!
//! Pages are askama templates (`crates/chaosday/templates`), filled from view models that
//! hold only what their viewer may see ([`views`]); the CSS and the little JavaScript are
//! compiled into the binary ([`assets`]). Every form posts a CSRF token of its session;
//! every action goes through [`GameServer::act`] and comes back as a flash message on the
//! next page (post, redirect, get). Live pages listen to the event stream and fetch the
//! parts of the page that changed as HTML (`/board`, `/team/live`, `/gm/live`).

pub mod actions;
pub mod assets;
pub mod forms;
pub mod pages;
pub mod sessions;
pub mod views;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use chaosday_domain::game::{Game, Resolution};

use crate::api::guesses::Guesses;
use chaosday_game::GameServer;
use chaosday_game::auth::Auth;
use sessions::Sessions;

/// A scenario the game master may open from the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioChoice {
    /// Its name in the game file.
    pub name: String,
    /// Its difficulty (1–5).
    pub difficulty: u32,
    /// Whether it is a `manual` scenario (opened by inject-manual, not unleash).
    pub manual: bool,
}

/// What the web UI knows beyond the [`GameServer`]'s public description.
#[derive(Debug, Clone, Default)]
pub struct WebOptions {
    /// The game's scenarios, for the game master's lists. Empty, the console asks for a
    /// scenario's name as text.
    pub scenarios: Vec<ScenarioChoice>,
    /// Where each team repairs (the game file's `repair_url`), by team.
    pub repair_urls: BTreeMap<String, String>,
}

impl WebOptions {
    /// The options for `game`: its scenarios.
    pub fn for_game(game: &Game) -> Self {
        WebOptions {
            scenarios: game
                .scenarios
                .iter()
                .map(|s| ScenarioChoice {
                    name: s.name.clone(),
                    difficulty: s.difficulty,
                    manual: s.resolution == Resolution::Manual,
                })
                .collect(),
            repair_urls: game
                .teams
                .iter()
                .filter_map(|t| Some((t.name.clone(), t.repair_url.clone()?)))
                .collect(),
        }
    }
}

/// What every page and action shares.
#[derive(Clone)]
pub struct WebState {
    server: GameServer,
    auth: Arc<Auth>,
    sessions: Arc<Sessions>,
    guesses: Arc<Guesses>,
    spectators: bool,
    options: Arc<WebOptions>,
}

impl WebState {
    /// The UI over `server`, signing in with `auth`'s tokens into `sessions` (shared with the
    /// API, whose event stream takes the session cookie), a wrong token at sign-in spending
    /// its address's budget in `guesses` (shared with the API). `spectators`: whether the
    /// scoreboard is open to people who have not signed in.
    pub fn new(
        server: GameServer,
        auth: Arc<Auth>,
        sessions: Arc<Sessions>,
        guesses: Arc<Guesses>,
        spectators: bool,
        options: WebOptions,
    ) -> Self {
        WebState {
            server,
            auth,
            sessions,
            guesses,
            spectators,
            options: Arc::new(options),
        }
    }
}

/// The web UI's routes. Mount them beside the API (`api::router` does).
pub fn router<S: Clone + Send + Sync + 'static>(state: WebState) -> Router<S> {
    Router::new()
        .route("/", get(pages::scoreboard))
        .route("/board", get(pages::board))
        .route("/login", get(pages::login).post(actions::login))
        .route("/logout", get(pages::logout).post(actions::logout))
        .route("/team", get(pages::team))
        .route("/team/live", get(pages::team_live))
        .route("/team/declare", post(actions::declare))
        .route("/team/diagnose", post(actions::diagnose))
        .route("/team/hint", post(actions::buy_hint))
        .route("/team/claim", post(actions::claim))
        .route("/gm", get(pages::game_master))
        .route("/gm/live", get(pages::game_master_live))
        .route("/gm/start", post(actions::start))
        .route("/gm/pause", post(actions::pause))
        .route("/gm/resume", post(actions::resume))
        .route("/gm/end", post(actions::end))
        .route("/gm/unleash", post(actions::unleash))
        .route("/gm/inject-manual", post(actions::inject_manual))
        .route("/gm/abort", get(pages::abort).post(actions::abort))
        .route("/gm/rearm", post(actions::rearm))
        .route("/gm/adjust", post(actions::adjust))
        .route("/report", get(pages::report))
        .route("/assets/{file}", get(assets::serve))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// The pages' content security policy: scripts and styles from this server only.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

/// The report's: the same, but styles may also be inline (a standalone document, its
/// charts inline SVG).
const REPORT_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

/// Headers on every page: no framing (the kill switch cannot be clickjacked), scripts and
/// styles from this server only, pages never cached (they carry CSRF tokens).
async fn security_headers(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let assets = path.starts_with("/assets/");
    let policy = if path == "/report" {
        REPORT_POLICY
    } else {
        POLICY
    };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !assets {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
