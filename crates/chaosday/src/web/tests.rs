//! The web UI through the one router (`oneshot`, no socket), over a real game server on a
//! fresh state directory: signing in, who may open which page, CSRF on every form, bad input,
//! and the session cookie on the event stream.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::api::tests::{CHECKOUT, GM, open_server};
use crate::api::{ApiOptions, router};
use crate::web::WebOptions;

/// An answer: status, headers, body as text.
struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value a `Set-Cookie` header gives cookie `name`.
    fn set_cookie(&self, name: &str) -> Option<(String, String)> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| {
                let value = v[name.len() + 1..].split(';').next().unwrap_or_default();
                (value.to_owned(), v.to_owned())
            })
    }

    /// The first CSRF token in the page's forms.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        self.body[start..start + 64].to_owned()
    }
}

struct Ui {
    router: Router,
    _dir: tempfile::TempDir,
}

async fn ui_with(spectators: bool) -> Ui {
    ui_limited(spectators, 0).await
}

async fn ui_limited(spectators: bool, rate_limit: u32) -> Ui {
    let (server, auth, dir) = open_server().await;
    let scenarios = vec![crate::web::ScenarioChoice {
        name: "slow-database".into(),
        difficulty: 1,
        manual: false,
    }];
    let options = ApiOptions {
        rate_limit,
        spectators,
        web: WebOptions {
            scenarios,
            ..WebOptions::default()
        },
        ..ApiOptions::default()
    };
    Ui {
        router: router(server, auth, options),
        _dir: dir,
    }
}

async fn ui() -> Ui {
    ui_with(true).await
}

impl Ui {
    async fn send(&self, request: Request<Body>) -> Page {
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            self.router.clone().oneshot(request),
        )
        .await
        .expect("an answer within 10 s")
        .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = if headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"))
        {
            String::new()
        } else {
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        Page {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Page {
        let mut request = Request::get(path).header(header::ACCEPT, "text/html");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &str) -> Page {
        let mut request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "text/html");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::from(form.to_owned())).unwrap())
            .await
    }

    /// Signs in: the session's cookie header and the CSRF token of `page`.
    async fn sign_in(&self, token: &str, player: &str, page: &str) -> (String, String) {
        let form = self.get("/login", None).await;
        assert_eq!(form.status, StatusCode::OK);
        let (login, _) = form
            .set_cookie("chaosday_login")
            .expect("the form's cookie");
        let csrf = form.csrf();
        let answer = self
            .post(
                "/login",
                Some(&format!("chaosday_login={login}")),
                &format!("csrf={csrf}&token={token}&player={player}"),
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let (session, _) = answer.set_cookie("chaosday_session").expect("a session");
        let cookie = format!("chaosday_session={session}");
        let page = self.get(page, Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        (cookie, page.csrf())
    }

    async fn status(&self) -> String {
        let request = Request::get("/api/v1/game").body(Body::empty()).unwrap();
        let page = self.send(request).await;
        let value: serde_json::Value = serde_json::from_str(&page.body).unwrap();
        value["status"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn the_scoreboard_is_a_public_live_page_that_cannot_be_framed() {
    let ui = ui().await;
    let page = ui.get("/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("High scores"), "{}", page.body);
    assert!(page.body.contains("checkout") && page.body.contains("search"));
    assert!(
        page.body
            .contains("data-stream=\"/api/v1/events?view=spectator\""),
        "the big screen listens to the public stream whoever is signed in"
    );
    assert!(
        page.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    let fragment = ui.get("/board", None).await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(fragment.body.contains("id=\"rows\""));
}

#[tokio::test]
async fn without_spectators_the_scoreboard_needs_a_session() {
    let ui = ui_with(false).await;
    let page = ui.get("/", None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=/");
    let (cookie, _) = ui.sign_in(CHECKOUT, "ada", "/team").await;
    assert_eq!(ui.get("/", Some(&cookie)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn signing_in_opens_an_http_only_strict_session_for_the_tokens_holder() {
    let ui = ui().await;
    let form = ui.get("/login", None).await;
    let (login, set) = form.set_cookie("chaosday_login").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let answer = ui
        .post(
            "/login",
            Some(&format!("chaosday_login={login}")),
            &format!("csrf={}&token={CHECKOUT}&player=ada", form.csrf()),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/team");
    let (session, set) = answer.set_cookie("chaosday_session").unwrap();
    assert_eq!(session.len(), 64, "256 random bits as hex");
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(set.contains("Path=/"), "{set}");
    assert!(!set.contains(CHECKOUT), "the token is never in the cookie");
    // The game master goes to the game master's console, or where `next` says.
    let form = ui.get("/login?next=/", None).await;
    let (login, _) = form.set_cookie("chaosday_login").unwrap();
    let answer = ui
        .post(
            "/login",
            Some(&format!("chaosday_login={login}")),
            &format!("csrf={}&token={GM}&player=grace&next=/gm", form.csrf()),
        )
        .await;
    assert_eq!(answer.location(), "/gm");
    // A `next` that is not one of the UI's pages is ignored.
    let form = ui.get("/login", None).await;
    let (login, _) = form.set_cookie("chaosday_login").unwrap();
    let answer = ui
        .post(
            "/login",
            Some(&format!("chaosday_login={login}")),
            &format!(
                "csrf={}&token={GM}&player=grace&next=https://evil.example/",
                form.csrf()
            ),
        )
        .await;
    assert_eq!(answer.location(), "/gm");
}

#[tokio::test]
async fn a_sign_in_with_a_wrong_token_or_without_a_name_shows_the_form_again() {
    let ui = ui().await;
    for (form_fields, status, says) in [
        (
            "token=not-a-token-of-this-game&player=ada",
            StatusCode::UNAUTHORIZED,
            "not a token of this game",
        ),
        (
            "token=&player=ada",
            StatusCode::BAD_REQUEST,
            "paste the token",
        ),
        (
            &*format!("token={CHECKOUT}&player=+"),
            StatusCode::BAD_REQUEST,
            "Your name: this field is required",
        ),
        (
            &*format!("token={CHECKOUT}&player={}", "a".repeat(65)),
            StatusCode::BAD_REQUEST,
            "at most 64",
        ),
    ] {
        let form = ui.get("/login", None).await;
        let (login, _) = form.set_cookie("chaosday_login").unwrap();
        let answer = ui
            .post(
                "/login",
                Some(&format!("chaosday_login={login}")),
                &format!("csrf={}&{form_fields}", form.csrf()),
            )
            .await;
        assert_eq!(answer.status, status, "{form_fields}");
        assert!(answer.body.contains(says), "{form_fields}: {}", answer.body);
        assert!(answer.set_cookie("chaosday_session").is_none());
        assert!(
            answer.body.contains("name=\"token\""),
            "the form again: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn a_sign_in_without_its_forms_token_is_refused() {
    let ui = ui().await;
    let form = ui.get("/login", None).await;
    let (login, _) = form.set_cookie("chaosday_login").unwrap();
    for (cookie, fields) in [
        (None, format!("csrf={login}&token={GM}&player=eve")),
        (
            Some(format!("chaosday_login={login}")),
            format!("token={GM}&player=eve"),
        ),
        (
            Some(format!("chaosday_login={login}")),
            format!("csrf={}&token={GM}&player=eve", "0".repeat(64)),
        ),
    ] {
        let answer = ui.post("/login", cookie.as_deref(), &fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{fields}");
        assert!(answer.set_cookie("chaosday_session").is_none());
    }
}

#[tokio::test]
async fn the_team_console_is_for_a_teams_session() {
    let ui = ui().await;
    let page = ui.get("/team", None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=/team");
    let (team, _) = ui.sign_in(CHECKOUT, "ada", "/team").await;
    let page = ui.get("/team", Some(&team)).await;
    assert!(page.body.contains("Team checkout"), "{}", page.body);
    assert!(page.body.contains("cart-db-link"), "its targets to declare");
    let live = ui.get("/team/live", Some(&team)).await;
    assert_eq!(live.status, StatusCode::OK);
    assert!(live.body.contains("id=\"incidents\""));
    let (gm, _) = ui.sign_in(GM, "grace", "/gm").await;
    let page = ui.get("/team", Some(&gm)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/gm");
}

#[tokio::test]
async fn a_team_cannot_open_the_game_masters_console() {
    let ui = ui().await;
    let page = ui.get("/gm", None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=/gm");
    let (team, csrf) = ui.sign_in(CHECKOUT, "ada", "/team").await;
    for path in ["/gm", "/gm/live", "/gm/abort"] {
        let page = ui.get(path, Some(&team)).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.body.contains("Game master only"), "{}", page.body);
        assert!(!page.body.contains("Kill switch"));
    }
    // Nor do its work, even with its own session's CSRF token.
    let answer = ui
        .post(
            "/gm/abort",
            Some(&team),
            &format!("csrf={csrf}&confirm=yes"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let (gm, _) = ui.sign_in(GM, "grace", "/gm").await;
    let page = ui.get("/gm", Some(&gm)).await;
    assert!(page.body.contains("Kill switch"));
    assert!(
        page.body.contains("slow-database"),
        "the scenarios to unleash"
    );
}

#[tokio::test]
async fn a_post_without_the_sessions_csrf_token_is_403_and_does_nothing() {
    let ui = ui().await;
    let (gm, csrf) = ui.sign_in(GM, "grace", "/gm").await;
    let (_, other) = ui.sign_in(GM, "linus", "/gm").await;
    for fields in [
        String::new(),
        "csrf=".to_owned(),
        format!("csrf={}", "a".repeat(64)),
        format!("csrf={}", &csrf[..63]),
        format!("csrf={other}"),
    ] {
        let answer = ui.post("/gm/start", Some(&gm), &fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{fields}");
        assert_eq!(ui.status().await, "not_started", "{fields}");
    }
    // No session at all: 403 as well.
    let answer = ui.post("/gm/start", None, &format!("csrf={csrf}")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // The right token: done, and the next page says so.
    let answer = ui
        .post("/gm/start", Some(&gm), &format!("csrf={csrf}"))
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/gm");
    assert_eq!(ui.status().await, "running");
    let page = ui.get("/gm", Some(&gm)).await;
    assert!(page.body.contains("flash-ok"), "{}", page.body);
    assert!(page.body.contains("the game started"));
    // A flash is shown once.
    assert!(!ui.get("/gm", Some(&gm)).await.body.contains("flash-ok"));
}

#[tokio::test]
async fn a_penalty_is_shown_red_as_a_loss_and_a_gain_green() {
    let ui = ui().await;
    let (gm, gm_csrf) = ui.sign_in(GM, "grace", "/gm").await;
    ui.post("/gm/start", Some(&gm), &format!("csrf={gm_csrf}"))
        .await;
    let (team, csrf) = ui.sign_in(CHECKOUT, "ada", "/team").await;
    // Nothing is open: a declaration is a false alarm.
    ui.post(
        "/team/declare",
        Some(&team),
        &format!("csrf={csrf}&target=cart-db-link"),
    )
    .await;
    let page = ui.get("/team", Some(&team)).await;
    assert!(
        page.body.contains("flash-error") && page.body.contains("false alarm"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("flash-ok"), "{}", page.body);
}

#[tokio::test]
async fn an_action_the_game_refuses_shows_its_reason() {
    let ui = ui().await;
    let (team, csrf) = ui.sign_in(CHECKOUT, "ada", "/team").await;
    let answer = ui
        .post(
            "/team/declare",
            Some(&team),
            &format!("csrf={csrf}&target=cart-db-link"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let page = ui.get("/team", Some(&team)).await;
    assert!(page.body.contains("flash-error"), "{}", page.body);
    assert!(
        page.body.contains("teams act while it runs"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn bad_input_is_a_message_never_a_server_error() {
    let ui = ui().await;
    let (gm, gm_csrf) = ui.sign_in(GM, "grace", "/gm").await;
    ui.post("/gm/start", Some(&gm), &format!("csrf={gm_csrf}"))
        .await;
    let (team, csrf) = ui.sign_in(CHECKOUT, "ada", "/team").await;
    let long = "x".repeat(5000);
    for (path, cookie, token, fields, says) in [
        (
            "/team/declare",
            &team,
            &csrf,
            "target=",
            "target: this field is required",
        ),
        (
            "/team/declare",
            &team,
            &csrf,
            &*format!("target={long}"),
            "at most 200",
        ),
        (
            "/team/declare",
            &team,
            &csrf,
            "target=a%0Ab",
            "control characters",
        ),
        ("/team/declare", &team, &csrf, "target=nowhere", "nowhere"),
        (
            "/team/diagnose",
            &team,
            &csrf,
            "incident=abc&target=x&kind=y",
            "incident: expected a whole number",
        ),
        (
            "/team/diagnose",
            &team,
            &csrf,
            "incident=99&target=cart-db-link&kind=latency",
            "#99",
        ),
        (
            "/team/hint",
            &team,
            &csrf,
            "incident=1&hint=-1",
            "hint: expected a whole number",
        ),
        (
            "/team/hint",
            &team,
            &csrf,
            "incident=1&hint=99999999999999999999",
            "hint: expected",
        ),
        (
            "/team/claim",
            &team,
            &csrf,
            "",
            "incident: this field is required",
        ),
        (
            "/gm/adjust",
            &gm,
            &gm_csrf,
            "team=checkout&points=1e9&reason=x",
            "points: expected",
        ),
        (
            "/gm/adjust",
            &gm,
            &gm_csrf,
            "team=checkout&points=5&reason=",
            "reason: this field is required",
        ),
        (
            "/gm/adjust",
            &gm,
            &gm_csrf,
            "team=nobody&points=5&reason=x",
            "nobody",
        ),
        (
            "/gm/unleash",
            &gm,
            &gm_csrf,
            "scenario=no-such-scenario",
            "no-such-scenario",
        ),
        (
            "/gm/inject-manual",
            &gm,
            &gm_csrf,
            "scenario=",
            "choose the manual scenario",
        ),
        (
            "/gm/pause",
            &gm,
            &gm_csrf,
            &*format!("reason={long}"),
            "at most 500",
        ),
        ("/gm/abort", &gm, &gm_csrf, "", "needs its confirmation"),
    ] {
        let answer = ui
            .post(path, Some(cookie), &format!("csrf={token}&{fields}"))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "{path} {fields}: {}",
            answer.body
        );
        let back = ui.get(answer.location(), Some(cookie)).await;
        assert_eq!(back.status, StatusCode::OK);
        assert!(
            back.body.contains("flash-error") && back.body.contains(says),
            "{path} {fields} should say `{says}`: {}",
            back.body
        );
    }
    // Bytes that are not a form at all.
    let answer = ui
        .send(
            Request::post("/team/declare")
                .header(header::COOKIE, &team)
                .body(Body::from(vec![0xff, 0x00, 0x26, 0x3d]))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "no CSRF token in it");
}

#[tokio::test]
async fn the_kill_switch_and_re_arm_go_through_the_game() {
    let ui = ui().await;
    let (gm, csrf) = ui.sign_in(GM, "grace", "/gm").await;
    ui.post("/gm/start", Some(&gm), &format!("csrf={csrf}"))
        .await;
    let confirm = ui.get("/gm/abort", Some(&gm)).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Yes, revert every fault"));
    ui.post("/gm/abort", Some(&gm), &format!("csrf={csrf}&confirm=yes"))
        .await;
    let page = ui.get("/gm", Some(&gm)).await;
    assert!(page.body.contains("flash-ok"), "{}", page.body);
    assert!(page.body.contains("Re-arm"), "{}", page.body);
    assert_eq!(ui.status().await, "paused");
    ui.post("/gm/rearm", Some(&gm), &format!("csrf={csrf}"))
        .await;
    let page = ui.get("/gm", Some(&gm)).await;
    assert!(page.body.contains("re-armed"), "{}", page.body);
    assert!(page.body.contains("Faults armed"));
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let ui = ui().await;
    let (team, csrf) = ui.sign_in(CHECKOUT, "ada", "/team").await;
    assert_eq!(
        ui.post("/logout", Some(&team), "csrf=wrong").await.status,
        StatusCode::FORBIDDEN
    );
    let answer = ui
        .post("/logout", Some(&team), &format!("csrf={csrf}"))
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let (_, set) = answer.set_cookie("chaosday_session").unwrap();
    assert!(set.contains("Max-Age=0"), "{set}");
    assert_eq!(
        ui.get("/team", Some(&team)).await.status,
        StatusCode::SEE_OTHER,
        "the old cookie opens nothing"
    );
}

#[tokio::test]
async fn the_session_cookie_opens_the_event_stream_and_nothing_else_of_the_api() {
    let ui = ui_with(false).await;
    let events = |cookie: Option<&str>, path: &str| {
        let mut request = Request::get(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.body(Body::empty()).unwrap()
    };
    assert_eq!(
        ui.send(events(None, "/api/v1/events")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ui.send(events(None, "/api/v1/events?view=spectator"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let (gm, _) = ui.sign_in(GM, "grace", "/gm").await;
    for path in ["/api/v1/events", "/api/v1/events?view=spectator"] {
        let answer = ui.send(events(Some(&gm), path)).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.headers[header::CONTENT_TYPE], "text/event-stream");
    }
    // Every other endpoint still asks for a bearer token.
    for path in ["/api/v1/faults", "/api/v1/view"] {
        let answer = ui.send(events(Some(&gm), path)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let answer = ui
        .send(
            Request::post("/api/v1/abort")
                .header(header::COOKIE, &gm)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"player":"mallory"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_pages_are_html_for_browsers_and_assets_are_served() {
    let ui = ui().await;
    let page = ui.get("/no-such-page", None).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("Nothing here"), "{}", page.body);
    let api = ui
        .send(Request::get("/api/v1/nope").body(Body::empty()).unwrap())
        .await;
    assert!(api.body.contains("\"error\""), "{}", api.body);
    for (path, kind) in [
        ("/assets/app.css", "text/css"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let asset = ui.get(path, None).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
        assert!(
            asset.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert!(!asset.body.is_empty());
    }
    assert_eq!(
        ui.get("/assets/../Cargo.toml", None).await.status,
        StatusCode::NOT_FOUND
    );
    let report = ui.get("/report", None).await;
    assert_eq!(report.status, StatusCode::OK);
}

#[tokio::test]
async fn a_signed_in_browser_has_a_rate_limit_of_its_own() {
    let ui = ui_limited(true, 5).await;
    // Signing in takes two requests of the address's budget (the form, the post).
    let (team, _) = ui.sign_in(CHECKOUT, "ada", "/team").await;
    let mut anonymous = Vec::new();
    for _ in 0..4 {
        anonymous.push(ui.get("/", None).await.status);
    }
    assert_eq!(
        anonymous.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{anonymous:?}"
    );
    assert_eq!(ui.get("/team", Some(&team)).await.status, StatusCode::OK);
    // A made-up cookie buys no budget of its own.
    let made_up = format!("chaosday_session={}", "ab".repeat(32));
    assert_eq!(
        ui.get("/", Some(&made_up)).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// The `data-countdown` of `page`'s next scenario, in ms, if it counts down.
fn countdown(page: &str) -> Option<u64> {
    let at = page.find("data-countdown=\"")? + "data-countdown=\"".len();
    page[at..].split('"').next()?.parse().ok()
}

#[tokio::test]
async fn the_game_masters_console_counts_down_to_the_next_scenario_and_no_one_else_sees_it() {
    let ui = ui().await;
    let (gm, csrf) = ui.sign_in(GM, "grace", "/gm").await;
    let page = ui.get("/gm", Some(&gm)).await;
    assert!(page.body.contains("id=\"gm-next\""), "{}", page.body);
    assert!(page.body.contains("30:00 after the start"), "{}", page.body);
    assert!(
        page.body
            .contains("Nothing can open now: the game has not started.")
    );
    assert_eq!(countdown(&page.body), None);
    ui.post("/gm/start", Some(&gm), &format!("csrf={csrf}"))
        .await;
    let live = ui.get("/gm/live", Some(&gm)).await;
    let left = countdown(&live.body).expect("a running game counts down");
    assert!((1_700_000..=1_800_000).contains(&left), "{left}");
    assert!(
        live.body.contains(">in <span data-countdown="),
        "{}",
        live.body
    );
    assert!(
        live.body
            .contains("a scenario every 30m, at most 1 open per team"),
        "{}",
        live.body
    );
    // The scenarios that could open now, and against whom; the incidents faced per team.
    assert!(live.body.contains("Could open now"), "{}", live.body);
    assert!(
        live.body
            .contains("<th class=\"num\" title=\"Incidents opened against the team")
    );
    // Paused: frozen, no countdown ticks.
    ui.post("/gm/pause", Some(&gm), &format!("csrf={csrf}&reason=lunch"))
        .await;
    let paused = ui.get("/gm/live", Some(&gm)).await;
    assert_eq!(countdown(&paused.body), None);
    assert!(
        paused.body.contains("next-paused\">paused, "),
        "{}",
        paused.body
    );
    assert!(
        paused
            .body
            .contains("Nothing can open now: the game is paused")
    );
    // A team and a spectator see nothing of it.
    let (team, _) = ui.sign_in(CHECKOUT, "ada", "/team").await;
    for (path, cookie) in [
        ("/team", Some(team.as_str())),
        ("/team/live", Some(team.as_str())),
        ("/", None),
        ("/board", None),
    ] {
        let page = ui.get(path, cookie).await;
        assert!(
            !page.body.contains("gm-next") && !page.body.contains("Next scenario"),
            "{path}: {}",
            page.body
        );
    }
}

#[tokio::test]
async fn the_kiosk_board_has_no_top_bar_and_the_report_keeps_it() {
    let ui = ui().await;
    let board = ui.get("/", None).await;
    assert!(board.body.contains(r#"class="topbar""#));
    assert!(
        board.body.contains(r#"href="/?kiosk=1""#),
        "a link to the kiosk mode"
    );
    let kiosk = ui.get("/?kiosk=1", None).await;
    assert_eq!(kiosk.status, StatusCode::OK);
    assert!(kiosk.body.contains(r#"<body class="wall kiosk""#));
    for absent in [r#"class="topbar""#, r#"href="/login""#, "<nav", "?kiosk=1"] {
        assert!(!kiosk.body.contains(absent), "the kiosk shows {absent}");
    }
    assert!(kiosk.body.contains(r#"id="board-stats""#));
    assert!(
        ui.get("/board", None)
            .await
            .body
            .contains(r#"id="board-stats""#),
        "the stats are a live part"
    );
    let report = ui.get("/report", None).await;
    assert!(report.body.contains(r#"class="topbar""#), "{}", report.body);
    assert!(
        report
            .body
            .contains(r#"<a href="/report" aria-current="page">Report</a>"#)
    );
    assert!(report.body.contains(r#"<div class="report">"#));
    assert_eq!(report.body.matches("<html").count(), 1, "one document");
}
