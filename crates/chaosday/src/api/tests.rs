//! The game API through its router (`oneshot`, no socket), over a real game server on a
//! fresh state directory: who may do what, and the error shape of every bad request.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
pub(crate) use chaosday_testkit::owned_port;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{ApiOptions, router};
use chaosday_game::auth::Auth;
use chaosday_game::{GameServer, ServeOptions};

pub(crate) const GM: &str = "gm-token-0123456789abcdef";
pub(crate) const CHECKOUT: &str = "checkout-token-0123456789";
pub(crate) const SEARCH: &str = "search-token-0123456789ab";

/// A small game: two teams, one link each (listening on `cart` and `search`), no probes.
pub(crate) fn game_yaml(cart: u16, search: u16) -> String {
    GAME.replace("CART_PORT", &cart.to_string())
        .replace("SEARCH_PORT", &search.to_string())
}

const GAME: &str = r#"
game: api-test
game_master: { token_env: API_TEST_GM_TOKEN }
teams:
  - { name: checkout, token_env: API_TEST_CHECKOUT_TOKEN, owns: [cart-db-link] }
  - { name: search, token_env: API_TEST_SEARCH_TOKEN, owns: [search-link] }
targets:
  cart-db-link: { link: { listen: "127.0.0.1:CART_PORT", upstream: "127.0.0.1:9" }, alert_match: { service: cart-db } }
  search-link: { link: { listen: "127.0.0.1:SEARCH_PORT", upstream: "127.0.0.1:9" } }
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
"#;

/// A game server on a fresh state directory, and the API over it.
pub(crate) struct TestApp {
    pub router: Router,
    _dir: tempfile::TempDir,
}

pub(crate) async fn open_server() -> (GameServer, Arc<Auth>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let game =
        chaosday_domain::game::Game::parse_yaml(&game_yaml(owned_port(), owned_port())).unwrap();
    assert_eq!(game.check(), vec![], "the test game is valid");
    let store = dir.path().join("games.sqlite").display().to_string();
    let options = ServeOptions::new(
        game,
        store,
        dir.path().to_owned(),
        crate::app::stressor().unwrap(),
    );
    let server = GameServer::open(options).await.unwrap();
    let auth = Auth::from_tokens(Some(GM), &[("checkout", CHECKOUT), ("search", SEARCH)]).unwrap();
    (server, Arc::new(auth), dir)
}

pub(crate) async fn app_with(options: ApiOptions) -> TestApp {
    let (server, auth, dir) = open_server().await;
    TestApp {
        router: router(server, auth, options),
        _dir: dir,
    }
}

pub(crate) async fn app() -> TestApp {
    app_with(ApiOptions {
        rate_limit: 0,
        ..ApiOptions::default()
    })
    .await
}

/// One answer: status, headers, body as JSON (`Value::Null` if it is not JSON).
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// Asserts the error shape with `status`; the `field` of a 400.
    #[track_caller]
    fn error(&self, status: u16) -> Option<&str> {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/json",
            "{}",
            self.body
        );
        assert!(self.body["error"].is_string(), "{}", self.body);
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            self.body
        );
        self.body["field"].as_str()
    }
}

/// The value a `Set-Cookie` header of `headers` gives cookie `name`.
pub(crate) fn cookie(headers: &axum::http::HeaderMap, name: &str) -> String {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("a {name} cookie"))
        .to_owned()
}

/// The first CSRF token in a page's forms.
pub(crate) fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a form with a CSRF token") + marker.len();
    page[start..start + 64].to_owned()
}

pub(crate) async fn send(
    router: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: impl Into<Body>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(body.into()).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), router.clone().oneshot(request))
        .await
        .expect("the API answers within 10 s")
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// Every POST endpoint, with the token that may use it and a valid body.
fn posts() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "/api/v1/declare",
            CHECKOUT,
            json!({"player": "ada", "target": "cart-db-link"}),
        ),
        (
            "/api/v1/incidents/1/diagnose",
            CHECKOUT,
            json!({"player": "ada", "target": "cart-db-link", "kind": "latency"}),
        ),
        (
            "/api/v1/incidents/1/hints",
            CHECKOUT,
            json!({"player": "ada", "hint": 0}),
        ),
        (
            "/api/v1/incidents/1/resolve",
            CHECKOUT,
            json!({"player": "ada"}),
        ),
        ("/api/v1/game/start", GM, json!({"player": "grace"})),
        (
            "/api/v1/game/pause",
            GM,
            json!({"player": "grace", "reason": "lunch"}),
        ),
        ("/api/v1/game/resume", GM, json!({"player": "grace"})),
        ("/api/v1/game/end", GM, json!({"player": "grace"})),
        (
            "/api/v1/unleash",
            GM,
            json!({"player": "grace", "scenario": "slow-database", "team": "checkout"}),
        ),
        (
            "/api/v1/inject-manual",
            GM,
            json!({"player": "grace", "scenario": "slow-database", "team": "checkout"}),
        ),
        ("/api/v1/abort", GM, json!({"player": "grace"})),
        ("/api/v1/rearm", GM, json!({"player": "grace"})),
        (
            "/api/v1/adjust",
            GM,
            json!({"player": "grace", "team": "checkout", "points": 5, "reason": "style"}),
        ),
    ]
}

/// A body with `field` set to `value` (or removed for `None`).
fn with(body: &Value, field: &str, value: Option<Value>) -> String {
    let mut body = body.clone();
    let fields = body.as_object_mut().unwrap();
    match value {
        Some(value) => {
            fields.insert(field.to_owned(), value);
        }
        None => {
            fields.remove(field);
        }
    }
    body.to_string()
}

#[tokio::test]
async fn every_post_endpoint_answers_a_bad_body_with_400_naming_the_field() {
    let app = app().await;
    for (path, token, valid) in posts() {
        let send = |body: Vec<u8>| send(&app.router, "POST", path, Some(token), body);
        // The body as a whole.
        for body in [
            &b""[..],
            b"   ",
            b"{",
            b"[]",
            b"\"x\"",
            b"{\"player\": \"\xff\"}",
            b"\xff\xfe\x00",
        ] {
            let answer = send(body.to_vec()).await;
            assert_eq!(answer.error(400), Some("body"), "{path} {body:?}");
        }
        // An unknown field is named.
        let answer = send(with(&valid, "playr", Some(json!("ada"))).into_bytes()).await;
        assert_eq!(answer.error(400), Some("playr"), "{path}");
        // The player: missing, empty, too long, not a string.
        for value in [
            None,
            Some(json!("")),
            Some(json!("x".repeat(65))),
            Some(json!(42)),
            Some(json!({"name": "ada"})),
        ] {
            let answer = send(with(&valid, "player", value.clone()).into_bytes()).await;
            assert_eq!(answer.error(400), Some("player"), "{path} {value:?}");
        }
        // Every other field: a wrong type; every required one: missing.
        for (field, _) in valid
            .as_object()
            .unwrap()
            .iter()
            .filter(|(f, _)| *f != "player")
        {
            let answer = send(with(&valid, field, Some(json!([1, 2]))).into_bytes()).await;
            assert_eq!(answer.error(400), Some(field.as_str()), "{path} {field}");
            let optional = matches!(
                (path, field.as_str()),
                (_, "hint" | "reason" | "team") | ("/api/v1/unleash", "scenario")
            ) && path != "/api/v1/adjust";
            if !optional {
                let answer = send(with(&valid, field, None).into_bytes()).await;
                assert_eq!(
                    answer.error(400),
                    Some(field.as_str()),
                    "{path} without {field}"
                );
            }
        }
    }
}

#[tokio::test]
async fn numbers_out_of_range_are_400s_naming_the_field() {
    let app = app().await;
    let cases = [
        (
            "/api/v1/incidents/1/hints",
            CHECKOUT,
            json!({"player": "ada", "hint": -1}),
            "hint",
        ),
        (
            "/api/v1/incidents/1/hints",
            CHECKOUT,
            json!({"player": "ada", "hint": 1.5}),
            "hint",
        ),
        (
            "/api/v1/incidents/1/hints",
            CHECKOUT,
            json!({"player": "ada", "hint": 18446744073709551615u64}),
            "hint",
        ),
        (
            "/api/v1/adjust",
            GM,
            json!({"player": "g", "team": "checkout", "points": 1e300, "reason": "r"}),
            "points",
        ),
        (
            "/api/v1/adjust",
            GM,
            json!({"player": "g", "team": "checkout", "points": i64::MIN, "reason": "r"}),
            "points",
        ),
        (
            "/api/v1/adjust",
            GM,
            json!({"player": "g", "team": "checkout", "points": 1_000_001, "reason": "r"}),
            "points",
        ),
    ];
    for (path, token, body, field) in cases {
        let answer = send(&app.router, "POST", path, Some(token), body.to_string()).await;
        assert_eq!(answer.error(400), Some(field), "{path} {body}");
    }
    // A number too big for any integer type, written out.
    let body = r#"{"player": "g", "team": "checkout", "points": 123456789012345678901234567890, "reason": "r"}"#;
    let answer = send(&app.router, "POST", "/api/v1/adjust", Some(GM), body).await;
    assert_eq!(answer.error(400), Some("points"));
}

#[tokio::test]
async fn a_bad_incident_number_is_400_and_an_unknown_one_404() {
    let app = app().await;
    for path in [
        "/api/v1/incidents/abc",
        "/api/v1/incidents/-1",
        "/api/v1/incidents/1.5",
        "/api/v1/incidents/99999999999999999999999",
        "/api/v1/incidents/%FF",
    ] {
        let answer = send(&app.router, "GET", path, None, Body::empty()).await;
        assert_eq!(answer.error(400), Some("id"), "{path}");
    }
    let answer = send(
        &app.router,
        "GET",
        "/api/v1/incidents/12",
        None,
        Body::empty(),
    )
    .await;
    answer.error(404);
    let answer = send(
        &app.router,
        "GET",
        "/api/v1/incidents/%2312",
        Some(GM),
        Body::empty(),
    )
    .await;
    answer.error(404);
    let body = json!({"player": "ada"}).to_string();
    let answer = send(
        &app.router,
        "POST",
        "/api/v1/incidents/x/resolve",
        Some(CHECKOUT),
        body,
    )
    .await;
    assert_eq!(answer.error(400), Some("id"));
    // The next hint of an incident no one can see.
    let answer = send(
        &app.router,
        "POST",
        "/api/v1/incidents/7/hints",
        Some(CHECKOUT),
        json!({"player": "ada"}).to_string(),
    )
    .await;
    answer.error(404);
}

#[tokio::test]
async fn actions_need_a_token_and_the_game_masters_work_his_token() {
    let app = app().await;
    for (path, owner, valid) in posts() {
        let body = valid.to_string();
        // No token: 401, whatever the body.
        let answer = send(&app.router, "POST", path, None, body.clone()).await;
        answer.error(401);
        assert!(answer.headers.contains_key(header::WWW_AUTHENTICATE));
        let answer = send(&app.router, "POST", path, None, "nonsense").await;
        answer.error(401);
        // A token of no one: 401.
        let answer = send(
            &app.router,
            "POST",
            path,
            Some("not-a-token-of-this-game"),
            body.clone(),
        )
        .await;
        answer.error(401);
        // A team's token on the game master's work: 403.
        if owner == GM {
            let answer = send(&app.router, "POST", path, Some(SEARCH), body).await;
            answer.error(403);
        }
    }
    for path in ["/api/v1/faults", "/api/v1/probes"] {
        send(&app.router, "GET", path, None, Body::empty())
            .await
            .error(401);
        send(&app.router, "GET", path, Some(CHECKOUT), Body::empty())
            .await
            .error(403);
        let answer = send(&app.router, "GET", path, Some(GM), Body::empty()).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        assert!(answer.body.is_array());
    }
}

#[tokio::test]
async fn an_authorization_header_that_is_not_a_bearer_token_is_401() {
    let app = app().await;
    for value in ["Basic YWRhOnNlY3JldA==", "Bearer", "Token abc"] {
        let request = Request::get("/api/v1/scoreboard")
            .header(header::AUTHORIZATION, value)
            .body(Body::empty())
            .unwrap();
        let response = app.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{value}");
    }
}

#[tokio::test]
async fn spectators_read_the_public_endpoints_without_a_token() {
    let app = app().await;
    for path in [
        "/api/v1/game",
        "/api/v1/scoreboard",
        "/api/v1/view",
        "/api/v1/incidents",
        "/api/v1/timeline",
        "/api/v1/openapi.json",
    ] {
        let answer = send(&app.router, "GET", path, None, Body::empty()).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        assert_eq!(
            answer.headers[header::CONTENT_TYPE],
            "application/json",
            "{path}"
        );
    }
    let game = send(&app.router, "GET", "/api/v1/game", None, Body::empty())
        .await
        .body;
    assert_eq!(game["game"], "api-test");
    assert_eq!(game["teams"], json!(["checkout", "search"]));
    let view = send(
        &app.router,
        "GET",
        "/api/v1/view",
        Some(CHECKOUT),
        Body::empty(),
    )
    .await
    .body;
    assert_eq!(view["status"], "not_started");
}

#[tokio::test]
async fn without_spectators_every_read_needs_a_token() {
    let app = app_with(ApiOptions {
        spectators: false,
        rate_limit: 0,
        ..ApiOptions::default()
    })
    .await;
    for path in [
        "/api/v1/game",
        "/api/v1/scoreboard",
        "/api/v1/view",
        "/api/v1/incidents",
        "/api/v1/timeline",
        "/api/v1/events",
        "/api/v1/incidents/1",
    ] {
        send(&app.router, "GET", path, None, Body::empty())
            .await
            .error(401);
    }
    let answer = send(
        &app.router,
        "GET",
        "/api/v1/scoreboard",
        Some(SEARCH),
        Body::empty(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    // The document says how to authenticate: it stays public.
    let answer = send(
        &app.router,
        "GET",
        "/api/v1/openapi.json",
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn the_game_master_drives_the_game_and_every_reader_sees_it() {
    let app = app().await;
    let start = json!({"player": "grace"}).to_string();
    let answer = send(&app.router, "POST", "/api/v1/game/start", Some(GM), start).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(
        answer.body["seq"].as_u64().is_some_and(|s| s > 0),
        "{}",
        answer.body
    );
    assert!(answer.body["message"].is_string());
    let game = send(&app.router, "GET", "/api/v1/game", None, Body::empty())
        .await
        .body;
    assert_eq!(game["status"], "running");
    // Starting twice is a conflict, not a failure.
    let again = send(
        &app.router,
        "POST",
        "/api/v1/game/start",
        Some(GM),
        json!({"player": "grace"}).to_string(),
    )
    .await;
    assert!(
        again.status.is_client_error(),
        "{} {}",
        again.status,
        again.body
    );
    let pause = send(
        &app.router,
        "POST",
        "/api/v1/game/pause",
        Some(GM),
        json!({"player": "grace"}).to_string(),
    )
    .await;
    assert_eq!(pause.status, StatusCode::OK, "{}", pause.body);
    let timeline = send(&app.router, "GET", "/api/v1/timeline", None, Body::empty())
        .await
        .body;
    let texts: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("paused by grace")),
        "{texts:?}"
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_the_error_shape() {
    let app = app().await;
    send(&app.router, "GET", "/api/v1/nope", None, Body::empty())
        .await
        .error(404);
    // `/` is the web UI's scoreboard; a path of neither answers in the API's shape.
    send(&app.router, "GET", "/no-such-page", None, Body::empty())
        .await
        .error(404);
    let answer = send(
        &app.router,
        "DELETE",
        "/api/v1/scoreboard",
        None,
        Body::empty(),
    )
    .await;
    answer.error(405);
    let answer = send(
        &app.router,
        "GET",
        "/api/v1/declare",
        Some(CHECKOUT),
        Body::empty(),
    )
    .await;
    answer.error(405);
}

#[tokio::test]
async fn a_body_larger_than_an_action_takes_is_413() {
    let app = app().await;
    let body = format!(
        r#"{{"player": "ada", "target": "{}"}}"#,
        "x".repeat(100 * 1024)
    );
    let answer = send(&app.router, "POST", "/api/v1/declare", Some(CHECKOUT), body).await;
    answer.error(413);
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_refused_with_the_error_shape() {
    let app = app().await;
    for (path, limit) in [
        ("/api/v1/declare", super::body::MAX_ACTION_BODY),
        ("/api/v1/alerts/alertmanager", super::alerts::MAX_PAYLOAD),
    ] {
        let body = vec![b' '; limit + 1];
        let request = Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {CHECKOUT}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .unwrap();
        let response = app.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let answer = Answer {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        };
        answer.error(413);
        assert_eq!(answer.body["error"], "payload_too_large", "{path}");
        let kib = format!("{} KiB", limit / 1024);
        assert!(
            answer.body["detail"].as_str().unwrap().contains(&kib),
            "{path}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn the_embedded_toxiproxy_api_is_the_game_masters_only() {
    let app = app().await;
    send(
        &app.router,
        "GET",
        "/toxiproxy/version",
        None,
        Body::empty(),
    )
    .await
    .error(401);
    send(
        &app.router,
        "GET",
        "/toxiproxy/proxies",
        Some(CHECKOUT),
        Body::empty(),
    )
    .await
    .error(403);
    send(
        &app.router,
        "POST",
        "/toxiproxy/reset",
        Some(SEARCH),
        Body::empty(),
    )
    .await
    .error(403);
    send(&app.router, "GET", "/toxiproxy/nope", None, Body::empty())
        .await
        .error(401);
    let answer = send(
        &app.router,
        "GET",
        "/toxiproxy/version",
        Some(GM),
        Body::empty(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["version"], super::toxiproxy::VERSION);
    let answer = send(
        &app.router,
        "GET",
        "/toxiproxy/proxies",
        Some(GM),
        Body::empty(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.is_object());
}

#[tokio::test]
async fn a_token_over_its_rate_limit_gets_429_with_retry_after() {
    let app = app_with(ApiOptions {
        rate_limit: 3,
        guesses: (3, Duration::from_secs(60)),
        ..ApiOptions::default()
    })
    .await;
    for _ in 0..3 {
        let answer = send(
            &app.router,
            "GET",
            "/api/v1/scoreboard",
            Some(CHECKOUT),
            Body::empty(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let answer = send(
        &app.router,
        "GET",
        "/api/v1/scoreboard",
        Some(CHECKOUT),
        Body::empty(),
    )
    .await;
    answer.error(429);
    assert_eq!(answer.headers[header::RETRY_AFTER], "1");
    // Another token has its own budget; so do spectators (by address).
    let answer = send(
        &app.router,
        "GET",
        "/api/v1/scoreboard",
        Some(SEARCH),
        Body::empty(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = send(
        &app.router,
        "GET",
        "/api/v1/scoreboard",
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    // Guessing tokens spends a budget of the address's own: the spectators there keep
    // theirs.
    for _ in 0..3 {
        send(
            &app.router,
            "GET",
            "/api/v1/scoreboard",
            Some("guess-guess-guess-guess"),
            Body::empty(),
        )
        .await
        .error(401);
    }
    send(
        &app.router,
        "GET",
        "/api/v1/scoreboard",
        Some("guess-guess-guess-guess"),
        Body::empty(),
    )
    .await
    .error(429);
    // On every route, the event stream, the Toxiproxy API and the alert receiver included.
    for (method, path) in [
        ("GET", "/api/v1/events"),
        ("GET", "/toxiproxy/proxies"),
        ("POST", "/api/v1/alerts/alertmanager"),
        ("POST", "/api/v1/declare"),
        ("GET", "/"),
    ] {
        let answer = send(
            &app.router,
            method,
            path,
            Some("guess-guess-guess-guess"),
            Body::empty(),
        )
        .await;
        answer.error(429);
        assert!(
            answer.headers.contains_key(header::RETRY_AFTER),
            "{method} {path}"
        );
    }
    let answer = send(&app.router, "GET", "/api/v1/game", None, Body::empty()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // A token already proven from this address keeps working; one that never came from it
    // waits like a guess (right or wrong, the same answer).
    let answer = send(
        &app.router,
        "GET",
        "/api/v1/view",
        Some(SEARCH),
        Body::empty(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    send(&app.router, "GET", "/api/v1/view", Some(GM), Body::empty())
        .await
        .error(429);
}

#[tokio::test]
async fn the_alertmanager_receiver_takes_a_teams_token_only() {
    let app = app().await;
    let payload = json!({"version": "4", "status": "resolved", "alerts": [{"status": "resolved", "labels": {"service": "cart-db"}, "startsAt": "2027-03-12T09:00:00Z"}]}).to_string();
    let path = "/api/v1/alerts/alertmanager";
    send(&app.router, "POST", path, None, payload.clone())
        .await
        .error(401);
    send(&app.router, "POST", path, Some(GM), payload.clone())
        .await
        .error(403);
    let answer = send(&app.router, "POST", path, Some(CHECKOUT), payload).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"received": 1, "message": "received 1 alert(s)"})
    );
    let answer = send(
        &app.router,
        "POST",
        path,
        Some(CHECKOUT),
        "{\"alerts\": [{\"startsAt\": 1}]}",
    )
    .await;
    assert_eq!(answer.error(400), Some("alerts[0].startsAt"));
}

/// A tiny generator of bodies: valid ones, cut, with bytes flipped, or with a field's value
/// replaced by an odd one.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    fn body(&mut self, valid: &Value) -> Vec<u8> {
        let odd = [
            json!(null),
            json!(true),
            json!(-1),
            json!(0),
            json!(1e308),
            json!(-9_223_372_036_854_775_808i64),
            json!(18_446_744_073_709_551_615u64),
            json!(""),
            json!(" "),
            json!("\u{0}"),
            json!("é".repeat(70)),
            json!([]),
            json!({}),
            json!({"a": [1, {"b": null}]}),
            json!("ada"),
            json!(3),
        ];
        let mut bytes = match self.next() % 4 {
            0 => valid.to_string().into_bytes(),
            1 => {
                let mut body = valid.clone();
                let fields = body.as_object_mut().unwrap();
                let keys: Vec<String> = fields.keys().cloned().collect();
                let key = self.pick(&keys).clone();
                fields.insert(key, self.pick(&odd).clone());
                body.to_string().into_bytes()
            }
            2 => {
                let text = valid.to_string().into_bytes();
                let cut = (self.next() as usize) % (text.len() + 1);
                text[..cut].to_vec()
            }
            _ => self.pick(&odd).to_string().into_bytes(),
        };
        if self.next().is_multiple_of(3) && !bytes.is_empty() {
            let at = (self.next() as usize) % bytes.len();
            bytes[at] = self.next() as u8;
        }
        bytes
    }
}

#[tokio::test]
async fn no_body_whatever_its_bytes_gets_a_5xx() {
    let app = app().await;
    let mut noise = Noise(7);
    let tokens = [
        None,
        Some(GM),
        Some(CHECKOUT),
        Some("not-a-token-of-this-game"),
    ];
    for round in 0..600 {
        let posts = posts();
        let (path, _, valid) = noise.pick(&posts);
        let token = *noise.pick(&tokens);
        let body = noise.body(valid);
        let answer = send(&app.router, "POST", path, token, body.clone()).await;
        assert!(
            !answer.status.is_server_error(),
            "round {round}: POST {path} {:?} → {} {}",
            String::from_utf8_lossy(&body),
            answer.status,
            answer.body
        );
        if !answer.status.is_success() {
            answer.error(answer.status.as_u16());
        }
    }
}

#[tokio::test]
async fn the_event_stream_opens_with_a_snapshot_of_the_callers_view() {
    let app = app().await;
    let request = Request::get("/api/v1/events").body(Body::empty()).unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    let mut body = response.into_body();
    let mut text = String::new();
    while !text.contains("event: snapshot") || !text.ends_with("\n\n") {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("the snapshot comes at once")
            .unwrap()
            .unwrap();
        text.push_str(std::str::from_utf8(&frame.into_data().unwrap()).unwrap());
    }
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    let view: Value = serde_json::from_str(data).unwrap();
    assert_eq!(view["status"], "not_started");
    assert!(view["scoreboard"].is_array());
    // Then each update's frames, with the update's sequence number.
    let ack = send(
        &app.router,
        "POST",
        "/api/v1/game/start",
        Some(GM),
        json!({"player": "grace"}).to_string(),
    )
    .await;
    let seq = ack.body["seq"].as_u64().unwrap();
    let mut text = String::new();
    while !text.contains(&format!("id: {seq}\n")) {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("the update's frames come within 5 s")
            .unwrap()
            .unwrap();
        text.push_str(std::str::from_utf8(&frame.into_data().unwrap()).unwrap());
    }
    assert!(text.contains("event: "), "{text}");
}

#[tokio::test]
async fn the_openapi_document_is_served_as_json() {
    let app = app().await;
    let answer = send(
        &app.router,
        "GET",
        "/api/v1/openapi.json",
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["openapi"], "3.1.0");
    assert!(answer.body["paths"]["/api/v1/events"]["get"].is_object());
}

#[tokio::test]
async fn a_team_plays_an_incident_through_the_api_from_alert_to_diagnosis() {
    let app = app().await;
    let gm = |path: &'static str, body: Value| {
        let router = app.router.clone();
        async move {
            let answer = send(&router, "POST", path, Some(GM), body.to_string()).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
            answer.body
        }
    };
    gm("/api/v1/game/start", json!({"player": "grace"})).await;
    gm(
        "/api/v1/unleash",
        json!({"player": "grace", "scenario": "slow-database", "team": "checkout"}),
    )
    .await;
    let all = send(
        &app.router,
        "GET",
        "/api/v1/incidents",
        Some(GM),
        Body::empty(),
    )
    .await;
    let id = all.body[0]["id"]
        .as_u64()
        .expect("the game master sees the incident");
    // Undetected: no one else knows of it.
    for token in [None, Some(CHECKOUT), Some(SEARCH)] {
        let list = send(
            &app.router,
            "GET",
            "/api/v1/incidents",
            token,
            Body::empty(),
        )
        .await;
        assert_eq!(list.body, json!([]), "{token:?}");
        let one = send(
            &app.router,
            "GET",
            &format!("/api/v1/incidents/{id}"),
            token,
            Body::empty(),
        )
        .await;
        one.error(404);
    }
    // The team's Alertmanager detects it by the target's alert_match labels.
    let payload = json!({
        "version": "4", "status": "firing", "receiver": "chaosday",
        "alerts": [{"status": "firing", "labels": {"alertname": "DbSlow", "service": "cart-db"},
                    "startsAt": jiff::Timestamp::now().to_string(), "fingerprint": "x"}],
    });
    let answer = send(
        &app.router,
        "POST",
        "/api/v1/alerts/alertmanager",
        Some(CHECKOUT),
        payload.to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let mine = send(
        &app.router,
        "GET",
        "/api/v1/incidents",
        Some(CHECKOUT),
        Body::empty(),
    )
    .await;
    assert_eq!(mine.body[0]["state"], "detected", "{}", mine.body);
    // Another team's list holds only its own incidents; it may read the public side of this one.
    let theirs = send(
        &app.router,
        "GET",
        "/api/v1/incidents",
        Some(SEARCH),
        Body::empty(),
    )
    .await;
    assert_eq!(theirs.body, json!([]));
    let public = send(
        &app.router,
        "GET",
        &format!("/api/v1/incidents/{id}"),
        Some(SEARCH),
        Body::empty(),
    )
    .await;
    assert_eq!(public.status, StatusCode::OK);
    assert_eq!(
        public.body["hints"],
        Value::Null,
        "another team's hints are hidden"
    );
    // Another team may not buy its hints.
    let stolen = send(
        &app.router,
        "POST",
        &format!("/api/v1/incidents/{id}/hints"),
        Some(SEARCH),
        json!({"player": "carol"}).to_string(),
    )
    .await;
    stolen.error(403);
    // The next hint not bought, then none left.
    let hint = send(
        &app.router,
        "POST",
        &format!("/api/v1/incidents/{id}/hints"),
        Some(CHECKOUT),
        json!({"player": "ada"}).to_string(),
    )
    .await;
    assert_eq!(hint.status, StatusCode::OK, "{}", hint.body);
    assert_eq!(
        hint.body["hint"]["text"], "Look at the database",
        "{}",
        hint.body
    );
    let none = send(
        &app.router,
        "POST",
        &format!("/api/v1/incidents/{id}/hints"),
        Some(CHECKOUT),
        json!({"player": "ada"}).to_string(),
    )
    .await;
    none.error(409);
    // A right diagnosis heals it.
    let diagnosis = json!({"player": "ada", "target": "cart-db-link", "kind": "latency"});
    let answer = send(
        &app.router,
        "POST",
        &format!("/api/v1/incidents/{id}/diagnose"),
        Some(CHECKOUT),
        diagnosis.to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let closed = send(
        &app.router,
        "GET",
        &format!("/api/v1/incidents/{id}"),
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(closed.body["state"], "resolved", "{}", closed.body);
    let board = send(
        &app.router,
        "GET",
        "/api/v1/scoreboard",
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(board.body[0]["team"], "checkout", "{}", board.body);
}

#[tokio::test]
async fn event_streams_beyond_a_budget_are_429_or_503_with_retry_after_until_one_closes() {
    let app = app_with(ApiOptions {
        streams: crate::api::budget::StreamLimits {
            total: 2,
            per_holder: 1,
            per_address: 1,
        },
        rate_limit: 0,
        ..ApiOptions::default()
    })
    .await;
    let open = |token: Option<&str>| {
        let mut request = Request::get("/api/v1/events");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        app.router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
    };
    let first = open(None).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    // The address's budget: 429.
    let second = open(None).await.unwrap();
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(second.headers().contains_key(header::RETRY_AFTER));
    // A team has its own.
    let team = open(Some(CHECKOUT)).await.unwrap();
    assert_eq!(team.status(), StatusCode::OK);
    // The server's cap: 503.
    let full = open(Some(SEARCH)).await.unwrap();
    assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(full.headers().contains_key(header::RETRY_AFTER));
    drop(first);
    let third = open(None).await.unwrap();
    assert_eq!(third.status(), StatusCode::OK);
    drop(team);
}

#[tokio::test]
async fn the_alert_receiver_has_its_own_budget_and_asks_alertmanager_to_retry() {
    // Players at one request per second; the team's Alertmanager at 1/s with bursts of 3.
    let app = app_with(ApiOptions {
        rate_limit: 1,
        alert_rate: (1, 3),
        ..ApiOptions::default()
    })
    .await;
    let payload = json!({"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"service": "cart-db"}, "fingerprint": "f"}]})
    .to_string();
    let post = || {
        send(
            &app.router,
            "POST",
            "/api/v1/alerts/alertmanager",
            Some(CHECKOUT),
            payload.clone(),
        )
    };
    // A burst over the players' budget, within the receiver's: all taken.
    for _ in 0..3 {
        let answer = post().await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    // Over it: 503 with Retry-After (Alertmanager retries a 5xx, drops a 429).
    let refused = post().await;
    refused.error(503);
    assert_eq!(refused.body["error"], "busy");
    assert!(
        refused.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // The players' budget is untouched by it.
    let read = send(
        &app.router,
        "GET",
        "/api/v1/game",
        Some(CHECKOUT),
        Body::empty(),
    )
    .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
}

#[tokio::test]
async fn the_alert_receivers_answer_is_the_same_whatever_the_alerts_did() {
    let app = app().await;
    let gm = |path: &'static str, body: Value| {
        let router = app.router.clone();
        async move {
            let answer = send(&router, "POST", path, Some(GM), body.to_string()).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        }
    };
    let now = || jiff::Timestamp::now().to_string();
    let alert = |status: &str, service: &str, fingerprint: &str, starts_at: String| {
        json!({"version": "4", "status": status, "alerts": [{"status": status,
            "labels": {"alertname": "A", "service": service}, "fingerprint": fingerprint,
            "startsAt": starts_at}]})
        .to_string()
    };
    let post = |payload: String| {
        send(
            &app.router,
            "POST",
            "/api/v1/alerts/alertmanager",
            Some(CHECKOUT),
            payload,
        )
    };
    let mut answers = vec![(
        "before the start",
        post(alert("firing", "cart-db", "early", now())).await,
    )];
    gm("/api/v1/game/start", json!({"player": "grace"})).await;
    gm(
        "/api/v1/unleash",
        json!({"player": "grace", "scenario": "slow-database", "team": "checkout"}),
    )
    .await;
    let standing = alert(
        "firing",
        "cart-db",
        "standing",
        "2000-01-01T00:00:00Z".into(),
    );
    answers.push(("a standing alert", post(standing.clone()).await));
    answers.push(("its repeat", post(standing).await));
    answers.push((
        "a miss",
        post(alert("firing", "nothing", "miss", now())).await,
    ));
    answers.push((
        "a hit",
        post(alert("firing", "cart-db", "hit", now())).await,
    ));
    answers.push((
        "a resolved alert",
        post(alert("resolved", "nothing", "miss", now())).await,
    ));
    gm(
        "/api/v1/game/pause",
        json!({"player": "grace", "reason": "lunch"}),
    )
    .await;
    answers.push((
        "a miss while paused",
        post(alert("firing", "other", "paused", now())).await,
    ));
    gm("/api/v1/game/resume", json!({"player": "grace"})).await;
    gm("/api/v1/game/end", json!({"player": "grace"})).await;
    answers.push((
        "after the end",
        post(alert("firing", "late", "late", now())).await,
    ));
    let (_, first) = &answers[0];
    for (what, answer) in &answers {
        assert_eq!(answer.status, StatusCode::OK, "{what}: {}", answer.body);
        assert_eq!(answer.body, first.body, "{what}");
        for name in [header::CONTENT_TYPE, header::CONTENT_LENGTH] {
            assert_eq!(
                answer.headers.get(&name),
                first.headers.get(&name),
                "{what}: {name}"
            );
        }
    }
    assert_eq!(
        first.body,
        json!({"received": 1, "message": "received 1 alert(s)"})
    );
    // What they did: the hit detected; the standing alert, the miss and the paused miss
    // cost one false alarm each; nothing before the start or after the end.
    let board = send(
        &app.router,
        "GET",
        "/api/v1/scoreboard",
        Some(GM),
        Body::empty(),
    )
    .await;
    let checkout = board
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["team"] == "checkout")
        .unwrap();
    assert_eq!(checkout["false_alarms"], 3, "{}", board.body);
    assert!(
        checkout["breakdown"]["detect"].as_i64().unwrap() > 0,
        "{}",
        board.body
    );
    // Every alert received while the game was on is in the game master's timeline.
    let timeline = send(
        &app.router,
        "GET",
        "/api/v1/timeline",
        Some(GM),
        Body::empty(),
    )
    .await;
    let told: Vec<&str> = timeline
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "alert" || e["kind"] == "false_alarm")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(told.len(), 6, "{told:#?}");
    for fingerprint in ["standing", "miss", "hit", "paused"] {
        assert!(
            told.iter()
                .any(|t| t.contains(&format!("fingerprint {fingerprint})"))),
            "{fingerprint}: {told:#?}"
        );
    }
    assert!(
        !told
            .iter()
            .any(|t| t.contains("early") || t.contains("late")),
        "{told:#?}"
    );
}
