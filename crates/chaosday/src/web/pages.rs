//! The pages (GET): the scoreboard, sign-in and sign-out, the consoles and their live
//! parts, the kill switch's confirmation, the report, and the error pages.
//!
//! Who may see what: the scoreboard is public when the server lets spectators in (else any
//! signed-in player's); `/team` needs a team's session (the game master is sent to `/gm`);
//! `/gm` needs the game master's (a team's session gets a 403 page). Without a session,
//! both redirect to `/login`.

use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::WebState;
use super::assets;
use super::sessions::{self, Current, Secret};
use super::views::{
    AbortPage, BoardLive, BoardView, GmLive, GmPage, GmView, Layout, LoginPage, LogoutPage,
    MessagePage, ReportPage, ScoreboardPage, TeamLive, TeamPage, TeamView, UserView,
};
use chaosday_domain::secrecy::Viewer;
use chaosday_game::Caller;

/// Where a sign-in may lead: only pages of this UI.
const NEXT_PAGES: &[&str] = &["/", "/team", "/gm", "/report"];

impl WebState {
    /// The request's session, if its cookie names a live one.
    pub(super) fn current(&self, headers: &HeaderMap) -> Option<Current> {
        self.sessions.of_request(headers, Instant::now())
    }

    /// The frame of a page for `current`, taking the flash its last action left.
    pub(super) fn layout(
        &self,
        current: Option<&Current>,
        page: &'static str,
        title: &str,
        body_class: &'static str,
    ) -> Layout {
        let user = current.map(|c| match &c.caller {
            Caller::Team { team, player } => UserView {
                player: player.clone(),
                role: format!("team {team}"),
                game_master: false,
            },
            Caller::GameMaster { player } => UserView {
                player: player.clone(),
                role: "game master".into(),
                game_master: true,
            },
        });
        Layout {
            title: title.to_owned(),
            game: self.server.info().game,
            page,
            user,
            csrf: current.map(|c| c.csrf.hex()).unwrap_or_default(),
            flash: current.and_then(|c| self.sessions.take_flash(c)),
            body_class,
            live_fragment: String::new(),
            live_stream: String::new(),
            live_poll_ms: 0,
            asset_version: assets::version(),
            kiosk: false,
            seq: self
                .server
                .seq(&current.map_or(Viewer::Spectator, |c| c.caller.viewer())),
        }
    }

    /// A page with one message and `status`.
    pub(super) fn message(
        &self,
        current: Option<&Current>,
        status: StatusCode,
        heading: &str,
        message: &str,
        links: &[(&str, &str)],
    ) -> Response {
        let page = MessagePage {
            layout: self.layout(current, "", heading, "console"),
            code: status.as_u16(),
            heading: heading.to_owned(),
            message: message.to_owned(),
            links: links
                .iter()
                .map(|(href, label)| ((*href).to_owned(), (*label).to_owned()))
                .collect(),
        };
        (status, page).into_response()
    }

    /// The 404 page for `path`.
    pub fn not_found(&self, headers: &HeaderMap, path: &str) -> Response {
        let current = self.current(headers);
        self.message(
            current.as_ref(),
            StatusCode::NOT_FOUND,
            "Nothing here",
            &format!("There is no page at {path}."),
            &[("/", "Scoreboard"), ("/login", "Sign in")],
        )
    }
}

/// The redirect to the sign-in page, coming back to `next` afterwards.
fn to_login(next: &str) -> Response {
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// The query of `/`.
#[derive(Debug, Deserialize)]
pub struct BoardQuery {
    /// `1` (or `true`, or nothing): the kiosk mode, for a booth's screen.
    kiosk: Option<String>,
}

/// `GET /`: the big screen; `/?kiosk=1` shows it with no top bar (no navigation, no
/// sign-in), scaled to the screen, for a booth.
pub async fn scoreboard(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(query): Query<BoardQuery>,
) -> Response {
    let current = state.current(&headers);
    if !state.spectators && current.is_none() {
        return to_login("/");
    }
    let kiosk = matches!(query.kiosk.as_deref(), Some("" | "1" | "true" | "yes"));
    let mut layout = state.layout(
        current.as_ref(),
        "board",
        "Scoreboard",
        if kiosk { "wall kiosk" } else { "wall" },
    );
    layout.kiosk = kiosk;
    layout.live_fragment = "/board".into();
    layout.live_stream = "/api/v1/events?view=spectator".into();
    // The page is the spectators' view, and so is its stream's count.
    layout.seq = state.server.seq(&Viewer::Spectator);
    layout.live_poll_ms = 60_000;
    ScoreboardPage {
        layout,
        v: BoardView::build(&state.server),
    }
    .into_response()
}

/// `GET /board`: the big screen's live parts.
pub async fn board(State(state): State<WebState>, headers: HeaderMap) -> Response {
    if !state.spectators && state.current(&headers).is_none() {
        return to_login("/");
    }
    BoardLive {
        v: BoardView::build(&state.server),
    }
    .into_response()
}

/// The query of `/login`.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// Where to go once signed in.
    next: Option<String>,
}

/// `next` if it is a page of this UI.
pub(super) fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| NEXT_PAGES.contains(n))
        .unwrap_or_default()
        .to_owned()
}

/// The sign-in form, with a fresh CSRF token in it and in its cookie.
pub(super) fn login_form(
    state: &WebState,
    current: Option<&Current>,
    status: StatusCode,
    next: String,
    player: String,
    error: String,
) -> Response {
    let Ok(token) = Secret::random() else {
        return state.message(
            current,
            StatusCode::SERVICE_UNAVAILABLE,
            "Cannot sign in now",
            "The server's random source failed; try again in a moment.",
            &[("/login", "Try again")],
        );
    };
    let page = LoginPage {
        layout: state.layout(current, "login", "Sign in", "console"),
        login_csrf: token.hex(),
        next,
        player,
        error,
        spectators: state.spectators,
    };
    let mut response = (status, page).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&sessions::login_cookie(&token)) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /login`: a token and a player's name.
pub async fn login(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let current = state.current(&headers);
    let player = match current.as_ref().map(|c| &c.caller) {
        Some(Caller::Team { player, .. } | Caller::GameMaster { player }) => player.clone(),
        None => String::new(),
    };
    login_form(
        &state,
        current.as_ref(),
        StatusCode::OK,
        safe_next(query.next.as_deref()),
        player,
        String::new(),
    )
}

/// `GET /logout`: the sign-out button (signing out is a form, with its CSRF token).
pub async fn logout(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let Some(current) = state.current(&headers) else {
        return Redirect::to("/login").into_response();
    };
    LogoutPage {
        layout: state.layout(Some(&current), "logout", "Sign out", "console"),
    }
    .into_response()
}

/// The team and player of a team's session, or the answer for another.
fn team_of(current: Option<&Current>, next: &str) -> Result<(String, String), Box<Response>> {
    match current.map(|c| &c.caller) {
        None => Err(Box::new(to_login(next))),
        Some(Caller::GameMaster { .. }) => Err(Box::new(Redirect::to("/gm").into_response())),
        Some(Caller::Team { team, player }) => Ok((team.clone(), player.clone())),
    }
}

/// `GET /team`: the team's console.
pub async fn team(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let current = state.current(&headers);
    let (team, player) = match team_of(current.as_ref(), "/team") {
        Ok(who) => who,
        Err(response) => return *response,
    };
    let mut layout = state.layout(current.as_ref(), "team", &format!("Team {team}"), "console");
    layout.live_fragment = "/team/live".into();
    layout.live_stream = "/api/v1/events".into();
    layout.live_poll_ms = 30_000;
    TeamPage {
        layout,
        v: TeamView::build(&state.server, &team, &player).with_session(
            state.options.repair_urls.get(&team).map(String::as_str),
            current
                .as_ref()
                .and_then(|c| state.sessions.choice(c))
                .as_ref(),
        ),
        csrf: current.map(|c| c.csrf.hex()).unwrap_or_default(),
    }
    .into_response()
}

/// `GET /team/live`: the team console's live parts.
pub async fn team_live(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let current = state.current(&headers);
    let (team, player) = match team_of(current.as_ref(), "/team") {
        Ok(who) => who,
        Err(response) => return *response,
    };
    TeamLive {
        v: TeamView::build(&state.server, &team, &player).with_session(
            state.options.repair_urls.get(&team).map(String::as_str),
            current
                .as_ref()
                .and_then(|c| state.sessions.choice(c))
                .as_ref(),
        ),
        csrf: current.map(|c| c.csrf.hex()).unwrap_or_default(),
    }
    .into_response()
}

/// The game master's session, or the answer for anyone else: the sign-in page without a
/// session, a 403 page for a team's.
pub(super) fn game_master_only(
    state: &WebState,
    current: Option<&Current>,
    next: &str,
) -> Result<(), Box<Response>> {
    match current.map(|c| &c.caller) {
        None => Err(Box::new(to_login(next))),
        Some(Caller::GameMaster { .. }) => Ok(()),
        Some(Caller::Team { team, player }) => Err(Box::new(state.message(
            current,
            StatusCode::FORBIDDEN,
            "Game master only",
            &format!(
                "This console is the game master's. You are signed in as {player} of team {team}."
            ),
            &[("/team", "Your team's console"), ("/", "Scoreboard")],
        ))),
    }
}

/// `GET /gm`: the game master's console.
pub async fn game_master(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let current = state.current(&headers);
    if let Err(response) = game_master_only(&state, current.as_ref(), "/gm") {
        return *response;
    }
    let mut layout = state.layout(current.as_ref(), "gm", "Game master", "console");
    layout.live_fragment = "/gm/live".into();
    layout.live_stream = "/api/v1/events".into();
    layout.live_poll_ms = 5_000;
    GmPage {
        layout,
        v: GmView::build(&state.server, &state.options.scenarios).await,
        csrf: current.map(|c| c.csrf.hex()).unwrap_or_default(),
    }
    .into_response()
}

/// `GET /gm/live`: the game master's console's live parts.
pub async fn game_master_live(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let current = state.current(&headers);
    if let Err(response) = game_master_only(&state, current.as_ref(), "/gm") {
        return *response;
    }
    GmLive {
        v: GmView::build(&state.server, &state.options.scenarios).await,
        csrf: current.map(|c| c.csrf.hex()).unwrap_or_default(),
    }
    .into_response()
}

/// `GET /gm/abort`: the kill switch's confirmation step (the console shows the same in a
/// dialog when scripts run).
pub async fn abort(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let current = state.current(&headers);
    if let Err(response) = game_master_only(&state, current.as_ref(), "/gm") {
        return *response;
    }
    AbortPage {
        layout: state.layout(current.as_ref(), "gm", "Kill switch", "console"),
        csrf: current.map(|c| c.csrf.hex()).unwrap_or_default(),
        faults: state.server.faults().await.len(),
    }
    .into_response()
}

/// `GET /report`: the game's report as the signed-in player (or a spectator) may see it,
/// during the game and after it.
pub async fn report(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let current = state.current(&headers);
    if !state.spectators && current.is_none() {
        return to_login("/report");
    }
    let viewer = current
        .as_ref()
        .map_or(chaosday_domain::secrecy::Viewer::Spectator, |c| {
            c.caller.viewer()
        });
    let report = state.server.report(&viewer);
    let layout = state.layout(current.as_ref(), "report", "Report", "console report-page");
    let content =
        crate::report::html::content(&layout.game, &report, &crate::report::Clock::system());
    ReportPage {
        layout,
        style: crate::report::html::STYLE,
        content,
    }
    .into_response()
}
