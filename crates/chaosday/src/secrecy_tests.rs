//! The differential secrecy test (SPEC §2 "Secrecy"): the same game played twice through the
//! one router, once with hidden incidents (unleashed against each team, never detected, one
//! of them with its fault reverted by its timer) and once without. Everything a team or a
//! spectator receives — every read route's status, headers and body, every answer to its
//! own actions, its event stream frame by frame (names, ids, data), every web page, and the
//! answers to actions on the hidden incidents' numbers — must be byte for byte the same.
//!
//! A follower (a replica that tails the same log, `GameServer::follow`) is read the same
//! way at the end of each run, its own event streams included: what it hands a team or a
//! spectator must not differ either.
//!
//! Both runs read a manual wall clock moved by the script, and number incidents with the
//! same key, so that what a viewer may see is the same in both; only what it may not see
//! differs. The session cookies and CSRF tokens of the web pages are random per run, and are
//! the only values put in placeholders before comparing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::api::tests::{CHECKOUT, GM, SEARCH, cookie, csrf_of, owned_port};
use crate::api::{ApiOptions, router};
use chaosday_game::auth::Auth;
use chaosday_game::{GameServer, ManualClock, ServeOptions};

/// Two teams, each with a target a visible scenario acts on and one a hidden scenario acts
/// on; `cache-blip`'s fault reverts itself after a moment, with no one having detected it.
const GAME: &str = r#"
game: secrecy-test
game_master: { token_env: SECRECY_TEST_GM_TOKEN }
teams:
  - { name: checkout, token_env: SECRECY_TEST_CHECKOUT_TOKEN, owns: [cart-db-link, cart-cache-link] }
  - { name: search, token_env: SECRECY_TEST_SEARCH_TOKEN, owns: [search-link, search-index-link] }
targets:
  cart-db-link: { link: { listen: "127.0.0.1:P1", upstream: "127.0.0.1:9" }, alert_match: { service: cart-db } }
  cart-cache-link: { link: { listen: "127.0.0.1:P2", upstream: "127.0.0.1:9" } }
  search-link: { link: { listen: "127.0.0.1:P3", upstream: "127.0.0.1:9" } }
  search-index-link: { link: { listen: "127.0.0.1:P4", upstream: "127.0.0.1:9" } }
schedule: { every: 6h, max_open_per_team: 5 }
scenarios:
  - name: slow-database
    difficulty: 2
    faults: [ { target: cart-db-link, fault: { kind: latency, latency: 800ms } } ]
    diagnosis: { target: cart-db-link, kind: latency }
    resolution: diagnose
    hints: [ { text: "Look at the database", cost: 30 } ]
  - name: slow-search
    faults: [ { target: search-link, fault: { kind: latency, latency: 800ms } } ]
    diagnosis: { target: search-link, kind: latency }
    resolution: diagnose
  - name: cache-blip
    difficulty: 5
    faults: [ { target: cart-cache-link, fault: { kind: latency, latency: 300ms }, for: 200ms } ]
    diagnosis: { target: cart-cache-link, kind: latency }
    resolution: diagnose
    hints: [ { text: "A secret hint", cost: 50 } ]
  - name: index-lag
    difficulty: 4
    faults: [ { target: search-index-link, fault: { kind: latency, latency: 900ms } } ]
    diagnosis: { target: search-index-link, kind: latency }
    resolution: diagnose
"#;

/// The game's wall clock at its start in both runs.
const T0: i64 = 1_800_000_000_000;

/// What one viewer may be: a token for the API, a session for the web.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Spectator,
    Checkout,
    Search,
}

impl Who {
    const ALL: [Who; 3] = [Who::Spectator, Who::Checkout, Who::Search];

    fn token(self) -> Option<&'static str> {
        match self {
            Who::Spectator => None,
            Who::Checkout => Some(CHECKOUT),
            Who::Search => Some(SEARCH),
        }
    }
}

/// One run of the game.
struct Run {
    router: Router,
    server: GameServer,
    /// A follower of the same log, and its router.
    follower: (GameServer, Router),
    /// Each viewer's event stream from the follower, as it came.
    follower_streams: BTreeMap<Who, Arc<Mutex<String>>>,
    clock: ManualClock,
    /// Web session cookies and CSRF tokens, per team.
    sessions: BTreeMap<Who, (String, String)>,
    /// What each viewer received, in order, as text.
    seen: BTreeMap<Who, Vec<String>>,
    /// Each viewer's event stream, as it came.
    streams: BTreeMap<Who, Arc<Mutex<String>>>,
    _dir: tempfile::TempDir,
}

impl Run {
    async fn open() -> Run {
        let dir = tempfile::tempdir().unwrap();
        let mut yaml = GAME.to_owned();
        for p in ["P1", "P2", "P3", "P4"] {
            yaml = yaml.replace(p, &owned_port().to_string());
        }
        let game = chaosday_domain::game::Game::parse_yaml(&yaml).unwrap();
        assert_eq!(game.check(), vec![], "the test game is valid");
        let clock = ManualClock::at(T0);
        let mut options = ServeOptions::new(
            game,
            dir.path().join("games.sqlite").display().to_string(),
            dir.path().to_owned(),
            crate::app::stressor().unwrap(),
        );
        options.clock = Some(clock.clone());
        options.incident_key = Some([7; 32]);
        let server = GameServer::open(options.clone()).await.unwrap();
        let follower = GameServer::follow(&options).await.unwrap();
        let auth = Arc::new(
            Auth::from_tokens(Some(GM), &[("checkout", CHECKOUT), ("search", SEARCH)]).unwrap(),
        );
        let api = || ApiOptions {
            rate_limit: 0,
            ..ApiOptions::default()
        };
        let follower_router = router(follower.clone(), auth.clone(), api());
        let router = router(server.clone(), auth, api());
        let mut run = Run {
            router,
            server,
            follower: (follower, follower_router),
            follower_streams: BTreeMap::new(),
            clock,
            sessions: BTreeMap::new(),
            seen: BTreeMap::new(),
            streams: BTreeMap::new(),
            _dir: dir,
        };
        for who in [Who::Checkout, Who::Search] {
            let session = run.sign_in(who).await;
            run.sessions.insert(who, session);
        }
        for who in Who::ALL {
            let stream = run.stream(who).await;
            run.streams.insert(who, stream);
        }
        std::mem::swap(&mut run.router, &mut run.follower.1);
        for who in Who::ALL {
            let stream = run.stream(who).await;
            run.follower_streams.insert(who, stream);
        }
        std::mem::swap(&mut run.router, &mut run.follower.1);
        run
    }

    /// Once the follower has read everything the leader committed: every read and page of
    /// [`Run::look`] again, through the follower's router.
    async fn look_at_follower(&mut self, probes: &[u64]) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while self
                .follower
                .0
                .seq(&chaosday_domain::secrecy::Viewer::GameMaster)
                != self
                    .server
                    .seq(&chaosday_domain::secrecy::Viewer::GameMaster)
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the follower catches up within 10 s");
        std::mem::swap(&mut self.router, &mut self.follower.1);
        self.look(probes).await;
        std::mem::swap(&mut self.router, &mut self.follower.1);
    }

    async fn send(&self, request: Request<Body>) -> (u16, String, String) {
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            self.router.clone().oneshot(request),
        )
        .await
        .expect("an answer within 10 s")
        .unwrap();
        let status = response.status().as_u16();
        let mut headers: Vec<String> = response
            .headers()
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?")))
            .collect();
        headers.sort();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            headers.join("\n"),
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    /// Signs `who`'s team in on the web: its session cookie and CSRF token.
    async fn sign_in(&self, who: Who) -> (String, String) {
        let form = self
            .router
            .clone()
            .oneshot(Request::get("/login").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let login = cookie(form.headers(), "chaosday_login");
        let body = form.into_body().collect().await.unwrap().to_bytes();
        let csrf = csrf_of(&String::from_utf8_lossy(&body));
        let answer = self
            .router
            .clone()
            .oneshot(
                Request::post("/login")
                    .header(header::COOKIE, format!("chaosday_login={login}"))
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(format!(
                        "csrf={csrf}&token={}&player=ada",
                        who.token().unwrap()
                    )))
                    .unwrap(),
            )
            .await
            .unwrap();
        let session = format!(
            "chaosday_session={}",
            cookie(answer.headers(), "chaosday_session")
        );
        let page = self
            .send(
                Request::get("/team")
                    .header(header::COOKIE, &session)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        (session, csrf_of(&page.2))
    }

    /// Opens `who`'s event stream and keeps what it sends.
    async fn stream(&self, who: Who) -> Arc<Mutex<String>> {
        let uri = match who {
            Who::Spectator => "/api/v1/events?view=spectator",
            _ => "/api/v1/events",
        };
        let mut request = Request::get(uri);
        if let Some(token) = who.token() {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{who:?}'s stream opens");
        let text = Arc::new(Mutex::new(String::new()));
        let sink = text.clone();
        let mut body = response.into_body().into_data_stream();
        tokio::spawn(async move {
            while let Some(Ok(chunk)) = body.next().await {
                sink.lock().push_str(&String::from_utf8_lossy(&chunk));
            }
        });
        text
    }

    /// Records what `who` gets for `request`.
    async fn see(&mut self, who: Who, label: &str, request: Request<Body>) -> Value {
        let (status, headers, body) = self.send(request).await;
        let line = format!("{label}\n{status}\n{headers}\n{body}");
        self.seen.entry(who).or_default().push(line);
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    /// `who` calls the API: `method path` with an optional JSON body.
    async fn api(&mut self, who: Who, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = who.token() {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        self.see(who, &format!("{method} {path}"), request).await
    }

    /// The game master acts (not compared: the game master sees everything).
    async fn gm(&self, path: &str, body: Value) -> Value {
        let (status, _, text) = self
            .send(
                Request::post(path)
                    .header(header::AUTHORIZATION, format!("Bearer {GM}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        assert!(status < 300, "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Every read route and page, as each viewer gets it now; and actions on `probes`,
    /// numbers of incidents a viewer may not know of.
    async fn look(&mut self, probes: &[u64]) {
        for who in Who::ALL {
            for path in [
                "/api/v1/game",
                "/api/v1/scoreboard",
                "/api/v1/view",
                "/api/v1/incidents",
                "/api/v1/timeline",
                // Prometheus's scrape: the public figures only, the same either way.
                "/metrics",
            ] {
                self.api(who, "GET", path, None).await;
            }
            let visible = self.api(who, "GET", "/api/v1/view", None).await;
            let ids: Vec<u64> = visible["incidents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_u64().unwrap())
                .collect();
            for id in ids.iter().chain(probes) {
                self.api(who, "GET", &format!("/api/v1/incidents/{id}"), None)
                    .await;
            }
            // The web: the big screen, and the team's pages through its session.
            let cookie = self.sessions.get(&who).map(|(c, _)| c.clone());
            let pages: &[&str] = match who {
                Who::Spectator => &["/", "/board", "/report"],
                _ => &["/", "/board", "/report", "/team", "/team/live"],
            };
            for page in pages {
                let mut request = Request::get(*page).header(header::ACCEPT, "text/html");
                if let Some(cookie) = &cookie {
                    request = request.header(header::COOKIE, cookie);
                }
                self.see(
                    who,
                    &format!("page {page}"),
                    request.body(Body::empty()).unwrap(),
                )
                .await;
            }
        }
        // A team's actions on numbers it may not know of: one answer, whatever is behind.
        for who in [Who::Checkout, Who::Search] {
            for id in probes {
                let diagnosis = json!({"player": "ada", "diagnosis": {"target": "cart-db-link", "kind": "latency"}});
                self.api(
                    who,
                    "POST",
                    &format!("/api/v1/incidents/{id}/diagnose"),
                    Some(diagnosis),
                )
                .await;
                self.api(
                    who,
                    "POST",
                    &format!("/api/v1/incidents/{id}/hints"),
                    Some(json!({"player": "ada"})),
                )
                .await;
                self.api(
                    who,
                    "POST",
                    &format!("/api/v1/incidents/{id}/resolve"),
                    Some(json!({"player": "ada"})),
                )
                .await;
            }
        }
    }

    /// The game master's view of every incident: number → (scenario, team).
    async fn incidents(&self) -> BTreeMap<u64, (String, String)> {
        let (_, _, text) = self
            .send(
                Request::get("/api/v1/incidents")
                    .header(header::AUTHORIZATION, format!("Bearer {GM}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        let all: Value = serde_json::from_str(&text).unwrap();
        all.as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["id"].as_u64().unwrap(),
                    (
                        i["scenario"].as_str().unwrap().to_owned(),
                        i["team"].as_str().unwrap().to_owned(),
                    ),
                )
            })
            .collect()
    }

    /// Each stream, once it has everything up to its viewer's count now.
    async fn transcripts(&self) -> BTreeMap<Who, String> {
        let mut out = BTreeMap::new();
        for who in Who::ALL {
            let seq = self.server.seq(&match who {
                Who::Spectator => chaosday_domain::secrecy::Viewer::Spectator,
                Who::Checkout => chaosday_domain::secrecy::Viewer::Team("checkout".into()),
                Who::Search => chaosday_domain::secrecy::Viewer::Team("search".into()),
            });
            let mut texts = Vec::new();
            for (from, stream) in [
                ("leader", self.streams[&who].clone()),
                ("follower", self.follower_streams[&who].clone()),
            ] {
                let last = format!("id: {seq}\n");
                tokio::time::timeout(Duration::from_secs(10), async {
                    while !stream.lock().contains(&last) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                })
                .await
                .unwrap_or_else(|_| panic!("{who:?}'s stream from the {from} reaches id {seq}"));
                // Keep-alive comments come with real time, not with the game.
                let text: String = stream
                    .lock()
                    .lines()
                    .filter(|l| !l.starts_with(':'))
                    .map(|l| format!("{l}\n"))
                    .collect();
                texts.push(text);
            }
            assert_eq!(
                texts[0], texts[1],
                "{who:?}'s stream from the follower is the leader's"
            );
            out.insert(who, texts.remove(0));
        }
        out
    }

    /// What every viewer received, with this run's random session values in placeholders.
    fn received(&self, streams: BTreeMap<Who, String>) -> BTreeMap<Who, Vec<String>> {
        let mut out = self.seen.clone();
        for (who, text) in streams {
            out.entry(who).or_default().push(format!("stream\n{text}"));
        }
        for lines in out.values_mut() {
            for line in lines.iter_mut() {
                for (k, (cookie, csrf)) in self.sessions.values().enumerate() {
                    *line = line
                        .replace(cookie, &format!("SESSION{k}"))
                        .replace(csrf, &format!("CSRF{k}"));
                }
            }
        }
        out
    }
}

/// Plays the game; with `hidden`, also unleashes one scenario against each team that no one
/// detects (the checkout one's fault reverts itself). `probes` are numbers to act on.
async fn play(hidden: bool, probes: &[u64]) -> (Run, BTreeMap<Who, Vec<String>>) {
    let mut run = Run::open().await;
    let tick = |run: &Run, s: u64| run.clock.advance(Duration::from_secs(s));
    run.gm("/api/v1/game/start", json!({"player": "gm"})).await;
    tick(&run, 30);
    if hidden {
        run.gm(
            "/api/v1/unleash",
            json!({"player": "gm", "scenario": "cache-blip", "team": "checkout"}),
        )
        .await;
        run.gm(
            "/api/v1/unleash",
            json!({"player": "gm", "scenario": "index-lag", "team": "search"}),
        )
        .await;
        // Wait for the cache fault's own timer: reverted, and still nobody knows.
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let (_, _, text) = run
                    .send(
                        Request::get("/api/v1/faults")
                            .header(header::AUTHORIZATION, format!("Bearer {GM}"))
                            .body(Body::empty())
                            .unwrap(),
                    )
                    .await;
                if !text.contains("cart-cache-link") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the hidden fault reverts itself");
    }
    run.look(probes).await;

    tick(&run, 60);
    run.gm(
        "/api/v1/unleash",
        json!({"player": "gm", "scenario": "slow-database", "team": "checkout"}),
    )
    .await;
    run.look(probes).await;
    tick(&run, 90);
    let detected = run
        .api(
            Who::Checkout,
            "POST",
            "/api/v1/declare",
            Some(json!({"player": "ada", "target": "cart-db-link"})),
        )
        .await;
    let db = detected["incident"]["id"].as_u64().expect("detected");
    run.look(probes).await;
    tick(&run, 30);
    run.api(
        Who::Checkout,
        "POST",
        &format!("/api/v1/incidents/{db}/hints"),
        Some(json!({"player": "ada"})),
    )
    .await;
    run.api(
        Who::Checkout,
        "POST",
        &format!("/api/v1/incidents/{db}/diagnose"),
        Some(json!({"player": "ada", "diagnosis": {"target": "cart-db-link", "kind": "kill"}})),
    )
    .await;
    // A false alarm of the other team, on a target with nothing of its own.
    run.api(
        Who::Search,
        "POST",
        "/api/v1/declare",
        Some(json!({"player": "bo", "target": "cart-db-link"})),
    )
    .await;
    run.gm(
        "/api/v1/unleash",
        json!({"player": "gm", "scenario": "slow-search", "team": "search"}),
    )
    .await;
    tick(&run, 45);
    let found = run
        .api(
            Who::Search,
            "POST",
            "/api/v1/declare",
            Some(json!({"player": "bo", "target": "search-link"})),
        )
        .await;
    let search = found["incident"]["id"].as_u64().expect("detected");
    run.look(probes).await;
    tick(&run, 30);
    run.api(
        Who::Checkout,
        "POST",
        &format!("/api/v1/incidents/{db}/diagnose"),
        Some(json!({"player": "ada", "diagnosis": {"target": "cart-db-link", "kind": "latency"}})),
    )
    .await;
    run.api(
        Who::Search,
        "POST",
        &format!("/api/v1/incidents/{search}/diagnose"),
        Some(json!({"player": "bo", "diagnosis": {"target": "search-link", "kind": "kill"}})),
    )
    .await;
    run.gm(
        "/api/v1/adjust",
        json!({"player": "gm", "team": "search", "points": 5, "reason": "fair play"}),
    )
    .await;
    run.gm(
        "/api/v1/game/pause",
        json!({"player": "gm", "reason": "lunch"}),
    )
    .await;
    tick(&run, 10);
    run.gm("/api/v1/game/resume", json!({"player": "gm"})).await;
    run.look(probes).await;
    run.look_at_follower(probes).await;
    let streams = run.transcripts().await;
    let received = run.received(streams);
    (run, received)
}

#[tokio::test]
async fn a_team_or_a_spectator_receives_the_same_bytes_with_or_without_hidden_incidents() {
    // The hidden run first: its hidden incidents' numbers are what the teams probe.
    let (hidden_run, first) = play(true, &[]).await;
    let all = hidden_run.incidents().await;
    let hidden: Vec<u64> = all
        .iter()
        .filter(|(_, (scenario, _))| scenario == "cache-blip" || scenario == "index-lag")
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(hidden.len(), 2, "two hidden incidents opened");
    // A number no incident has.
    let absent = (100_000..).find(|n| !all.contains_key(n)).unwrap();
    let probes: Vec<u64> = hidden.iter().copied().chain([absent]).collect();
    let (hidden_run, with) = {
        drop(hidden_run);
        play(true, &probes).await
    };
    let (clean_run, without) = play(false, &probes).await;
    assert!(
        clean_run
            .incidents()
            .await
            .keys()
            .all(|id| !probes.contains(id)),
        "the probed numbers are no incident of the clean run"
    );
    assert_eq!(
        hidden_run.incidents().await.len(),
        clean_run.incidents().await.len() + 2,
        "the hidden run has its two hidden incidents"
    );
    assert!(!first.is_empty());
    for who in Who::ALL {
        let (a, b) = (&with[&who], &without[&who]);
        assert_eq!(a.len(), b.len(), "{who:?} made as many requests");
        for (x, y) in a.iter().zip(b) {
            if x == y {
                continue;
            }
            let label = x.lines().next().unwrap_or_default();
            let (n, (l, r)) = x
                .lines()
                .zip(y.lines())
                .enumerate()
                .find(|(_, (l, r))| l != r)
                .unwrap_or((0, ("(length)", "(length)")));
            panic!(
                "{who:?} received something else for `{label}` with hidden incidents than without, \
                 line {n}:\n  with:    {l}\n  without: {r}"
            );
        }
    }
}
