//! The authorisation matrix: every route of the one router, by each kind of caller, with
//! the exact status each must get. The table below is the rule; a route the OpenAPI
//! document lists and the table does not is a failure, so a new route cannot go unchecked.
//!
//! The game behind every row: running, `slow-database` open against checkout and detected,
//! `slow-search` open against search and not detected (hidden from everyone but the game
//! master). Each row runs on a game of its own, the callers refused first and the one
//! allowed last, so that no row sees what another did.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::tests::{CHECKOUT, GM, SEARCH, cookie, csrf_of, owned_port};
use super::{ApiOptions, router};
use chaosday_game::auth::Auth;
use chaosday_game::{GameServer, ServeOptions};

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Caller {
    /// No token, on a server that lets spectators read.
    Anonymous,
    /// No token, on a server run with `--spectators false`.
    Closed,
    /// A token of no one.
    Bad,
    /// Checkout's web session (its cookie, and its CSRF token in forms).
    CheckoutSession,
    /// The game master's web session.
    GmSession,
    /// Search's token.
    Search,
    /// Checkout's token.
    Checkout,
    /// The game master's token.
    GameMaster,
}

use Caller::*;

const CALLERS: [Caller; 8] = [
    Anonymous,
    Closed,
    Bad,
    CheckoutSession,
    GmSession,
    Search,
    Checkout,
    GameMaster,
];

const GAME: &str = r#"
game: matrix
game_master: { token_env: MATRIX_GM_TOKEN }
teams:
  - { name: checkout, token_env: MATRIX_CHECKOUT_TOKEN, owns: [cart-db-link, spare-link] }
  - { name: search, token_env: MATRIX_SEARCH_TOKEN, owns: [search-link] }
targets:
  cart-db-link: { link: { listen: "127.0.0.1:P1", upstream: "127.0.0.1:9" }, alert_match: { service: cart-db } }
  search-link: { link: { listen: "127.0.0.1:P2", upstream: "127.0.0.1:9" } }
  spare-link: { link: { listen: "127.0.0.1:P3", upstream: "127.0.0.1:9" } }
schedule: { every: 6h, max_open_per_team: 5 }
scenarios:
  - name: slow-database
    faults: [ { target: cart-db-link, fault: { kind: latency, latency: 800ms } } ]
    diagnosis: { target: cart-db-link, kind: latency }
    resolution: diagnose
    hints: [ { text: "Look at the database", cost: 30 } ]
  - name: slow-search
    faults: [ { target: search-link, fault: { kind: latency, latency: 800ms } } ]
    diagnosis: { target: search-link, kind: latency }
    resolution: diagnose
  - name: spare-slow
    faults: [ { target: spare-link, fault: { kind: latency, latency: 800ms } } ]
    diagnosis: { target: spare-link, kind: latency }
    resolution: diagnose
  - name: by-hand
    faults: []
    diagnosis: { target: spare-link, kind: down }
    resolution: manual
"#;

/// One game, played to the state every row starts from.
struct Game {
    router: Router,
    /// Checkout's detected incident.
    seen: u64,
    /// Search's undetected incident.
    hidden: u64,
    /// A number no incident has.
    absent: u64,
    sessions: BTreeMap<Caller, (String, String)>,
    _dir: tempfile::TempDir,
}

async fn call(router: &Router, request: Request<Body>) -> (u16, String) {
    let response = tokio::time::timeout(Duration::from_secs(10), router.clone().oneshot(request))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let status = response.status().as_u16();
    if response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"))
    {
        return (status, String::new());
    }
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

impl Game {
    async fn open(spectators: bool) -> Game {
        let dir = tempfile::tempdir().unwrap();
        let mut yaml = GAME.to_owned();
        for p in ["P1", "P2", "P3"] {
            yaml = yaml.replace(p, &owned_port().to_string());
        }
        let game = chaosday_domain::game::Game::parse_yaml(&yaml).unwrap();
        assert_eq!(game.check(), vec![], "the matrix's game is valid");
        let options = ServeOptions::new(
            game,
            dir.path().join("games.sqlite").display().to_string(),
            dir.path().to_owned(),
            crate::app::stressor().unwrap(),
        );
        let server = GameServer::open(options).await.unwrap();
        let auth =
            Auth::from_tokens(Some(GM), &[("checkout", CHECKOUT), ("search", SEARCH)]).unwrap();
        let router = router(
            server,
            Arc::new(auth),
            ApiOptions {
                rate_limit: 0,
                // Every bad token here must be checked: the guessing budget has tests of
                // its own (`a_token_over_its_rate_limit_gets_429_with_retry_after`).
                guesses: (u32::MAX, std::time::Duration::from_secs(1)),
                spectators,
                ..ApiOptions::default()
            },
        );
        let post = |token: &str, path: &str, body: Value| {
            Request::post(path)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap()
        };
        for (token, path, body) in [
            (GM, "/api/v1/game/start", json!({"player": "gm"})),
            (
                GM,
                "/api/v1/unleash",
                json!({"player": "gm", "scenario": "slow-database", "team": "checkout"}),
            ),
            (
                GM,
                "/api/v1/unleash",
                json!({"player": "gm", "scenario": "slow-search", "team": "search"}),
            ),
            (
                CHECKOUT,
                "/api/v1/declare",
                json!({"player": "ada", "target": "cart-db-link"}),
            ),
        ] {
            let (status, text) = call(&router, post(token, path, body)).await;
            assert_eq!(status, 200, "{path}: {text}");
        }
        let (_, all) = call(
            &router,
            Request::get("/api/v1/incidents")
                .header(header::AUTHORIZATION, format!("Bearer {GM}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let all: Value = serde_json::from_str(&all).unwrap();
        let id = |scenario: &str| {
            all.as_array()
                .unwrap()
                .iter()
                .find(|i| i["scenario"] == scenario)
                .unwrap()["id"]
                .as_u64()
                .unwrap()
        };
        let (seen, hidden) = (id("slow-database"), id("slow-search"));
        let absent = (100_000..).find(|n| *n != seen && *n != hidden).unwrap();
        let mut game = Game {
            router,
            seen,
            hidden,
            absent,
            sessions: BTreeMap::new(),
            _dir: dir,
        };
        for (caller, token) in [(CheckoutSession, CHECKOUT), (GmSession, GM)] {
            let session = game.sign_in(token).await;
            game.sessions.insert(caller, session);
        }
        game
    }

    async fn sign_in(&self, token: &str) -> (String, String) {
        let form = self
            .router
            .clone()
            .oneshot(Request::get("/login").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let login = cookie(form.headers(), "chaosday_login");
        let page = form.into_body().collect().await.unwrap().to_bytes();
        let csrf = csrf_of(&String::from_utf8_lossy(&page));
        let answer = self
            .router
            .clone()
            .oneshot(
                Request::post("/login")
                    .header(header::COOKIE, format!("chaosday_login={login}"))
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(format!("csrf={csrf}&token={token}&player=ada")))
                    .unwrap(),
            )
            .await
            .unwrap();
        let cookie = format!(
            "chaosday_session={}",
            cookie(answer.headers(), "chaosday_session")
        );
        let (_, page) = call(
            &self.router,
            Request::get("/report")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let csrf = if page.contains("name=\"csrf\"") {
            csrf_of(&page)
        } else {
            // The report page has no form: the CSRF token is the session's, on any form.
            let (_, page) = call(
                &self.router,
                Request::get("/")
                    .header(header::COOKIE, &cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            csrf_of(&page)
        };
        (cookie, csrf)
    }

    /// `method path` with `body` as `caller` sends it (a form's body gets the session's
    /// CSRF token, for a web session).
    fn request(&self, caller: Caller, method: &str, path: &str, body: &Body_) -> Request<Body> {
        let path = path
            .replace("{seen}", &self.seen.to_string())
            .replace("{hidden}", &self.hidden.to_string())
            .replace("{absent}", &self.absent.to_string());
        let mut request = Request::builder().method(method).uri(path);
        match caller {
            Anonymous | Closed => {}
            Bad => {
                request = request.header(header::AUTHORIZATION, "Bearer not-a-token-of-this-game")
            }
            Checkout => {
                request = request.header(header::AUTHORIZATION, format!("Bearer {CHECKOUT}"))
            }
            Search => request = request.header(header::AUTHORIZATION, format!("Bearer {SEARCH}")),
            GameMaster => request = request.header(header::AUTHORIZATION, format!("Bearer {GM}")),
            CheckoutSession | GmSession => {
                request = request.header(header::COOKIE, &self.sessions[&caller].0);
            }
        }
        let body = match body {
            Body_::None => Body::empty(),
            Body_::Json(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            Body_::Form(form) => {
                request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                let csrf = self.sessions.get(&caller).map_or("", |(_, c)| c.as_str());
                let form = form
                    .replace("{csrf}", csrf)
                    .replace("{seen}", &self.seen.to_string());
                Body::from(form)
            }
        };
        request.body(body).unwrap()
    }
}

/// A request's body.
#[derive(Debug, Clone)]
enum Body_ {
    None,
    Json(Value),
    Form(&'static str),
}

/// One row: a route, a method, a body, and each caller's status.
struct Row {
    method: &'static str,
    path: &'static str,
    body: Body_,
    expect: [u16; 8],
}

fn row(method: &'static str, path: &'static str, body: Body_, expect: [u16; 8]) -> Row {
    Row {
        method,
        path,
        body,
        expect,
    }
}

/// The table. Columns, in order: anonymous, anonymous with spectators off, a bad token,
/// checkout's web session, the game master's web session, search's token, checkout's token,
/// the game master's token.
fn table() -> Vec<Row> {
    use Body_::{Form, Json, None as Empty};
    let player = || Json(json!({"player": "ada"}));
    // A read spectators may make: everyone who may read, 401 otherwise. Web sessions'
    // cookies are not tokens for the API: they read as spectators.
    const READ: [u16; 8] = [200, 401, 401, 200, 200, 200, 200, 200];
    // The game master's reads.
    const GM_READ: [u16; 8] = [401, 401, 401, 401, 401, 403, 403, 200];
    // What a team or the game master owns: no spectator.
    const OWNERS_READ: [u16; 8] = [401, 401, 401, 401, 401, 200, 200, 200];
    // An incident no one but the game master may know of, and one that does not exist:
    // the same answer to everyone else.
    const HIDDEN: [u16; 8] = [404, 401, 401, 404, 404, 404, 404, 200];
    const ABSENT: [u16; 8] = [404, 401, 401, 404, 404, 404, 404, 404];
    // A team's action on checkout's incident: checkout may; search may not (it is not
    // its own: 403); the game master acts only as the game master (403).
    const CHECKOUT_ACTS: [u16; 8] = [401, 401, 401, 401, 401, 403, 200, 403];
    // A team's action on an incident it may not know of: the same as on none.
    const ON_HIDDEN: [u16; 8] = [401, 401, 401, 401, 401, 404, 404, 403];
    // A game master's action.
    const GM_ACTS: [u16; 8] = [401, 401, 401, 401, 401, 403, 403, 200];
    // A page everyone may open (bad tokens are refused before any page).
    const PAGE: [u16; 8] = [200, 303, 401, 200, 200, 200, 200, 200];
    vec![
        row(
            "GET",
            "/api/v1/openapi.json",
            Empty,
            [200, 200, 401, 200, 200, 200, 200, 200],
        ),
        row("GET", "/api/v1/game", Empty, READ),
        row("GET", "/api/v1/scoreboard", Empty, READ),
        row("GET", "/api/v1/view", Empty, READ),
        row("GET", "/api/v1/incidents", Empty, READ),
        row("GET", "/api/v1/incidents/{seen}", Empty, READ),
        row("GET", "/api/v1/incidents/{hidden}", Empty, HIDDEN),
        row("GET", "/api/v1/incidents/{absent}", Empty, ABSENT),
        row("GET", "/api/v1/timeline", Empty, READ),
        // The event stream takes the web session's cookie (a browser's EventSource sends
        // no header).
        row(
            "GET",
            "/api/v1/events",
            Empty,
            [200, 401, 401, 200, 200, 200, 200, 200],
        ),
        row(
            "GET",
            "/api/v1/events?view=spectator",
            Empty,
            [200, 401, 401, 200, 200, 200, 200, 200],
        ),
        row("GET", "/api/v1/faults", Empty, GM_READ),
        row("GET", "/api/v1/probes", Empty, GM_READ),
        row("GET", "/api/v1/schedule", Empty, GM_READ),
        row("GET", "/api/v1/agents", Empty, GM_READ),
        row("GET", "/api/v1/targets", Empty, OWNERS_READ),
        // Actions. Declaring is every team's; search's is a false alarm.
        row(
            "POST",
            "/api/v1/declare",
            Json(json!({"player": "ada", "target": "spare-link"})),
            [401, 401, 401, 401, 401, 200, 200, 403],
        ),
        row(
            "POST",
            "/api/v1/incidents/{seen}/diagnose",
            Json(json!({"player": "ada", "target": "cart-db-link", "kind": "kill"})),
            CHECKOUT_ACTS,
        ),
        row(
            "POST",
            "/api/v1/incidents/{seen}/hints",
            player(),
            CHECKOUT_ACTS,
        ),
        // `diagnose` incidents take no claim: checkout may ask, and is told why not.
        row(
            "POST",
            "/api/v1/incidents/{seen}/resolve",
            player(),
            [401, 401, 401, 401, 401, 403, 409, 403],
        ),
        row(
            "POST",
            "/api/v1/incidents/{hidden}/diagnose",
            Json(json!({"player": "ada", "target": "search-link", "kind": "latency"})),
            ON_HIDDEN,
        ),
        row(
            "POST",
            "/api/v1/incidents/{hidden}/hints",
            player(),
            ON_HIDDEN,
        ),
        row(
            "POST",
            "/api/v1/incidents/{hidden}/resolve",
            player(),
            ON_HIDDEN,
        ),
        row(
            "POST",
            "/api/v1/incidents/{absent}/hints",
            player(),
            ON_HIDDEN,
        ),
        // The game master's actions, on a running game.
        row(
            "POST",
            "/api/v1/game/start",
            player(),
            [401, 401, 401, 401, 401, 403, 403, 409],
        ),
        row(
            "POST",
            "/api/v1/game/pause",
            Json(json!({"player": "gm", "reason": "lunch"})),
            GM_ACTS,
        ),
        row(
            "POST",
            "/api/v1/game/resume",
            player(),
            [401, 401, 401, 401, 401, 403, 403, 409],
        ),
        row("POST", "/api/v1/game/end", player(), GM_ACTS),
        row(
            "POST",
            "/api/v1/unleash",
            Json(json!({"player": "gm", "scenario": "spare-slow", "team": "checkout"})),
            GM_ACTS,
        ),
        row(
            "POST",
            "/api/v1/inject-manual",
            Json(json!({"player": "gm", "scenario": "by-hand", "team": "checkout"})),
            GM_ACTS,
        ),
        row("POST", "/api/v1/abort", player(), GM_ACTS),
        // Re-arming an armed host changes nothing, and says so.
        row("POST", "/api/v1/rearm", player(), GM_ACTS),
        row(
            "POST",
            "/api/v1/adjust",
            Json(json!({"player": "gm", "team": "search", "points": 5, "reason": "fair play"})),
            GM_ACTS,
        ),
        // A team's alerting: a team's token only.
        row(
            "POST",
            "/api/v1/alerts/alertmanager",
            Json(json!({"version": "4", "status": "firing", "alerts": [
                {"status": "firing", "labels": {"service": "nothing"}}]})),
            [401, 401, 401, 401, 401, 200, 200, 403],
        ),
        // An agent's exchange: an agent's token only (this game has none).
        row(
            "POST",
            "/api/v1/agents/exchange",
            Json(json!({"agent": "db-host", "instance": "1-a"})),
            [401, 401, 401, 401, 401, 403, 403, 403],
        ),
        // A method a route does not take.
        row(
            "DELETE",
            "/api/v1/game",
            Empty,
            [405, 405, 401, 405, 405, 405, 405, 405],
        ),
        row(
            "PUT",
            "/api/v1/declare",
            Empty,
            [405, 405, 401, 405, 405, 405, 405, 405],
        ),
        // The game's proxies, through the Toxiproxy API: the game master's only.
        row("GET", "/toxiproxy/proxies", Empty, GM_READ),
        row("GET", "/toxiproxy/version", Empty, GM_READ),
        row(
            "POST",
            "/toxiproxy/reset",
            Empty,
            [401, 401, 401, 401, 401, 403, 403, 204],
        ),
        // The web UI. Pages sign in by cookie; a bearer token is no session.
        row("GET", "/", Empty, PAGE),
        row("GET", "/board", Empty, PAGE),
        row("GET", "/report", Empty, PAGE),
        row(
            "GET",
            "/login",
            Empty,
            [200, 200, 401, 200, 200, 200, 200, 200],
        ),
        row(
            "GET",
            "/assets/app.css",
            Empty,
            [200, 200, 401, 200, 200, 200, 200, 200],
        ),
        row(
            "GET",
            "/team",
            Empty,
            // The game master's session is sent to its own console.
            [303, 303, 401, 200, 303, 303, 303, 303],
        ),
        row(
            "GET",
            "/team/live",
            Empty,
            [303, 303, 401, 200, 303, 303, 303, 303],
        ),
        row(
            "GET",
            "/gm",
            Empty,
            [303, 303, 401, 403, 200, 303, 303, 303],
        ),
        row(
            "GET",
            "/gm/live",
            Empty,
            [303, 303, 401, 403, 200, 303, 303, 303],
        ),
        row(
            "GET",
            "/gm/abort",
            Empty,
            [303, 303, 401, 403, 200, 303, 303, 303],
        ),
        // Forms: a session of the right role with its CSRF token; anything else is refused
        // (no session means no CSRF token that matches).
        row(
            "POST",
            "/team/declare",
            Form("csrf={csrf}&target=spare-link"),
            [403, 403, 401, 303, 403, 403, 403, 403],
        ),
        row(
            "POST",
            "/team/hint",
            Form("csrf={csrf}&incident={seen}&hint=0"),
            [403, 403, 401, 303, 403, 403, 403, 403],
        ),
        row(
            "POST",
            "/gm/pause",
            Form("csrf={csrf}&reason=lunch"),
            [403, 403, 401, 403, 303, 403, 403, 403],
        ),
        row(
            "POST",
            "/gm/adjust",
            Form("csrf={csrf}&team=search&points=5&reason=fair"),
            [403, 403, 401, 403, 303, 403, 403, 403],
        ),
        row(
            "GET",
            "/no-such-page",
            Empty,
            [404, 404, 401, 404, 404, 404, 404, 404],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_caller_as_the_table_says() {
    let table = table();
    // Every API route of the OpenAPI document has its row.
    let doc: Value = serde_json::from_str(&super::openapi::document()).unwrap();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|p| p.replace("{id}", "{seen}"))
        .collect();
    let tabled: BTreeSet<String> = table
        .iter()
        .map(|r| r.path.split('?').next().unwrap().to_owned())
        .collect();
    let missing: Vec<&String> = documented.difference(&tabled).collect();
    assert!(
        missing.is_empty(),
        "routes with no row in the matrix: {missing:?}"
    );

    let mut wrong = Vec::new();
    for row in &table {
        let open = Game::open(true).await;
        let closed = Game::open(false).await;
        // The refused first, then the allowed: no row sees what another did.
        let mut order: Vec<(usize, Caller)> = CALLERS.iter().copied().enumerate().collect();
        order.sort_by_key(|(i, _)| row.expect[*i] < 300);
        for (i, caller) in order {
            let game = if caller == Closed { &closed } else { &open };
            let request = game.request(caller, row.method, row.path, &row.body);
            let (status, text) = call(&game.router, request).await;
            if status != row.expect[i] {
                wrong.push(format!(
                    "{:7} {:38} {:16} expected {} got {status}: {}",
                    row.method,
                    row.path,
                    format!("{caller:?}"),
                    row.expect[i],
                    text.chars().take(120).collect::<String>()
                ));
            }
            // A bad token is never told more than no token.
            if caller == Bad {
                assert!(
                    !text.contains("slow-") && !text.contains(&game.hidden.to_string()),
                    "{} {}: {text}",
                    row.method,
                    row.path
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells differ from the matrix:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
