//! A Day of Chaos end to end: `chaosday serve` over real supervised services and proxied
//! links, played by scripted teams through the REST API, scored to the point.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::game_support::{
    CHECKOUT, GM, GameServer, SEARCH, Started, assert_all_in_timeline, journal_entries, kill_all,
    service_argv,
};
use crate::support::owned_port;

/// The services of a game: two HTTP services, each behind a proxied link.
pub(crate) struct Shop {
    web: Vec<String>,
    search: Vec<String>,
    web_link: u16,
    search_link: u16,
}

impl Shop {
    pub(crate) fn new() -> Self {
        Shop {
            web: service_argv(owned_port()),
            search: service_argv(owned_port()),
            web_link: owned_port(),
            search_link: owned_port(),
        }
    }

    fn targets(&self) -> String {
        let argv = |a: &[String]| format!("{a:?}");
        format!(
            r#"targets:
  web: {{ process: {{ command: {web}, supervised: true }}, alert_match: {{ service: web }} }}
  web-link: {{ link: {{ listen: "127.0.0.1:{web_link}", upstream: "127.0.0.1:{web_port}" }} }}
  search: {{ process: {{ command: {search}, supervised: true }} }}
  search-link: {{ link: {{ listen: "127.0.0.1:{search_link}", upstream: "127.0.0.1:{search_port}" }} }}
probes:
  web-up: {{ http: {{ url: "http://127.0.0.1:{web_link}/", timeout: 500ms }} }}
  search-up: {{ http: {{ url: "http://127.0.0.1:{search_link}/", timeout: 500ms }} }}
"#,
            web = argv(&self.web),
            search = argv(&self.search),
            web_link = self.web_link,
            web_port = self.web[3],
            search_link = self.search_link,
            search_port = self.search[3],
        )
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        kill_all(&self.web);
        kill_all(&self.search);
    }
}

const TEAMS: &str = r#"game_master: { token_env: GM_TOKEN }
teams:
  - { name: checkout, token_env: CHECKOUT_TOKEN, owns: [web, web-link] }
  - { name: search, token_env: SEARCH_TOKEN, owns: [search, search-link] }
"#;

/// A game named `name` over `shop` with two scenarios, each healed by its diagnosis: the
/// search service paused, the web link slowed by 2 s.
pub(crate) fn paused_and_slow_game(name: &str, shop: &Shop) -> String {
    format!(
        r#"game: {name}
{TEAMS}{targets}
scenarios:
  - name: frozen-search
    faults: [ {{ target: search, fault: {{ kind: pause }} }} ]
    diagnosis: {{ target: search, kind: pause }}
    resolution: diagnose
  - name: slow-web
    faults: [ {{ target: web-link, fault: {{ kind: latency, latency: 2s }} }} ]
    diagnosis: {{ target: web-link, kind: latency }}
    resolution: diagnose
"#,
        targets = shop.targets()
    )
}

/// The search team's right diagnosis of the `frozen-search` incident; the answer.
pub(crate) async fn diagnose_frozen_search(server: &GameServer) -> Value {
    let frozen = server
        .incidents()
        .await
        .iter()
        .find(|i| i["scenario"] == "frozen-search")
        .expect("a frozen-search incident")["id"]
        .as_u64()
        .unwrap();
    server
        .ok(
            &format!("/incidents/{frozen}/diagnose"),
            SEARCH,
            json!({"player": "carol", "target": "search", "kind": "pause"}),
        )
        .await
}

/// Points of a linear decay, as SPEC §2 states them: from `max` down to `min` over `over`,
/// rounded down.
fn decay(max: i64, min: i64, over_ms: i64, elapsed_ms: i64) -> i64 {
    if elapsed_ms >= over_ms {
        return min;
    }
    let lost = ((max - min) * elapsed_ms + over_ms - 1) / over_ms;
    max - lost
}

pub(crate) fn n(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("a number, not {value}"))
}

/// Waits up to 10 s for `url` to answer 2xx.
async fn wait_healthy(url: &str) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if healthy(url).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn healthy(url: &str) -> bool {
    reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .is_ok_and(|a| a.status().is_success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_game_is_played_by_scripted_teams_and_scored_to_the_point() {
    let shop = Shop::new();
    let yaml = format!(
        r#"game: e2e
schedule: {{ every: 1s, max_open_per_team: 1 }}
{TEAMS}{targets}
scenarios:
  - name: web-killed
    difficulty: 2
    faults: [ {{ target: web, fault: {{ kind: kill }} }} ]
    diagnosis: {{ target: web, kind: kill }}
    resolution: fix
    verification: 1s
    probes: [web-up]
    hints: [ {{ text: "Is it still running?", cost: 20 }} ]
  - name: web-slow
    faults: [ {{ target: web-link, fault: {{ kind: latency, latency: 300ms }} }} ]
    diagnosis: {{ target: web-link, kind: latency }}
    resolution: diagnose
  - name: search-cut
    faults: [ {{ target: search-link, fault: {{ kind: down }} }} ]
    diagnosis: {{ target: search-link, kind: down }}
    resolution: timed
    duration: 15s
  - name: search-stuck
    faults: [ {{ target: search, fault: {{ kind: pause }} }} ]
    diagnosis: {{ target: search, kind: pause }}
    resolution: fix
    deadline: 3s
    probes: [search-up]
"#,
        targets = shop.targets()
    );
    let server = GameServer::start(&yaml).await;
    let web_url = format!("http://127.0.0.1:{}/", shop.web_link);
    let mut repaired: Option<Started> = None;

    // Spectators see the game; the game has not started, nothing opens.
    let (status, info) = server.get("/game", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["status"], "not_started", "{info}");
    server.gm("/game/start", json!({})).await;

    // The scripted teams play the first incident of each scenario as a team would.
    let mut handled: BTreeMap<String, u64> = BTreeMap::new();
    let mut expected: BTreeMap<&str, i64> = BTreeMap::from([("checkout", 0), ("search", 0)]);
    let mut false_alarm_done = false;
    let start = Instant::now();
    while handled.len() < 4 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the scheduler did not open every scenario in 2 minutes: {handled:?}\n{}",
            server.logs()
        );
        // A timed incident first: it closes by itself while the others are played.
        let mut incidents = server.incidents().await;
        incidents.sort_by_key(|i| i["scenario"] != "search-cut");
        for incident in incidents {
            let scenario = incident["scenario"].as_str().unwrap().to_owned();
            let id = incident["id"].as_u64().unwrap();
            if handled.contains_key(&scenario) {
                continue;
            }
            handled.insert(scenario.clone(), id);
            let opened = n(&incident["opened_ms"]);
            let detect =
                |at: i64, difficulty: i64| decay(100, 20, 600_000, at - opened) * difficulty;
            let resolve =
                |at: i64, difficulty: i64| decay(200, 50, 1_800_000, at - opened) * difficulty;
            match scenario.as_str() {
                "web-killed" => {
                    let checkout = |path: &str, body: Value| {
                        let mut body = body;
                        body["player"] = json!("alice");
                        let path = path.to_owned();
                        let server = &server;
                        async move { server.ok(&path, CHECKOUT, body).await }
                    };
                    if !false_alarm_done {
                        let alarm = checkout("/declare", json!({"target": "search"})).await;
                        assert_eq!(n(&alarm["points"]), -10, "{alarm}");
                        *expected.get_mut("checkout").unwrap() -= 10;
                        false_alarm_done = true;
                    }
                    let found = checkout("/declare", json!({"target": "web"})).await;
                    assert_eq!(found["incident"]["id"], id, "{found}");
                    *expected.get_mut("checkout").unwrap() += detect(n(&found["at_ms"]), 2);
                    let hint = checkout(&format!("/incidents/{id}/hints"), json!({})).await;
                    assert_eq!(hint["hint"]["text"], "Is it still running?", "{hint}");
                    *expected.get_mut("checkout").unwrap() -= 20;
                    let wrong = checkout(
                        &format!("/incidents/{id}/diagnose"),
                        json!({"target": "web", "kind": "pause"}),
                    )
                    .await;
                    assert_eq!(n(&wrong["points"]), -50, "{wrong}");
                    let right = checkout(
                        &format!("/incidents/{id}/diagnose"),
                        json!({"target": "web", "kind": "kill"}),
                    )
                    .await;
                    assert_eq!(n(&right["points"]), 200, "{right}");
                    *expected.get_mut("checkout").unwrap() += 150;
                    // The repair: the team starts its service again, as it would by hand.
                    assert!(
                        !healthy(&web_url).await,
                        "the kill took the web service down"
                    );
                    repaired = Some(Started::run(&shop.web));
                    let until = Instant::now() + Duration::from_secs(10);
                    while !healthy(&web_url).await {
                        assert!(
                            Instant::now() < until,
                            "the restarted service never answered"
                        );
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    let claim = checkout(&format!("/incidents/{id}/resolve"), json!({})).await;
                    let closed = server
                        .wait_incident(id, "its verification", |i| i["state"] == "resolved")
                        .await;
                    *expected.get_mut("checkout").unwrap() += resolve(n(&claim["at_ms"]), 2);
                    assert!(n(&closed["points"]["resolve"]) > 0, "{closed}");
                }
                "web-slow" => {
                    let found = server
                        .ok(
                            "/declare",
                            CHECKOUT,
                            json!({"player": "bob", "target": "web-link"}),
                        )
                        .await;
                    *expected.get_mut("checkout").unwrap() += detect(n(&found["at_ms"]), 1);
                    let right = server
                        .ok(
                            &format!("/incidents/{id}/diagnose"),
                            CHECKOUT,
                            json!({"player": "bob", "target": "web-link", "kind": "latency"}),
                        )
                        .await;
                    *expected.get_mut("checkout").unwrap() += 100 + resolve(n(&right["at_ms"]), 1);
                    let closed = server.incident(id).await;
                    assert_eq!(
                        closed["state"], "resolved",
                        "a right diagnosis heals it: {closed}"
                    );
                }
                "search-cut" => {
                    let found = server
                        .ok(
                            "/declare",
                            SEARCH,
                            json!({"player": "carol", "target": "search-link"}),
                        )
                        .await;
                    *expected.get_mut("search").unwrap() += detect(n(&found["at_ms"]), 1);
                    server
                        .ok(
                            &format!("/incidents/{id}/diagnose"),
                            SEARCH,
                            json!({"player": "carol", "target": "search-link", "kind": "down"}),
                        )
                        .await;
                    *expected.get_mut("search").unwrap() += 100;
                    let closed = server
                        .wait_incident(id, "its timer", |i| i["state"] == "ran_out")
                        .await;
                    assert_eq!(closed["outcome"], "ran_out", "detected, then ran out");
                    assert_eq!(
                        n(&closed["points"]["resolve"]),
                        0,
                        "timed: no resolution points"
                    );
                }
                "search-stuck" => {
                    // Nobody notices: it expires at its deadline, and its fault goes.
                    server
                        .wait_incident(id, "its deadline", |i| i["state"] == "expired")
                        .await;
                    // (The scheduler may break the service again at once: look at the
                    // fault of this incident, not at the service.)
                    let until = Instant::now() + Duration::from_secs(10);
                    loop {
                        let (_, faults) = server.get("/faults", Some(GM)).await;
                        let left = faults
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|f| f["incident"] == id);
                        if !left {
                            break;
                        }
                        assert!(
                            Instant::now() < until,
                            "the expired pause was not reverted: {faults}"
                        );
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                other => panic!("unknown scenario {other}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.gm("/game/pause", json!({"reason": "lunch"})).await;

    // The scoreboard is the scoring rules applied to what happened, to the point.
    let (_, board) = server.get("/scoreboard", None).await;
    let got: BTreeMap<String, i64> = board
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["team"].as_str().unwrap().to_owned(), n(&t["points"])))
        .collect();
    let want: BTreeMap<String, i64> = expected
        .iter()
        .map(|(t, p)| ((*t).to_owned(), *p))
        .collect();
    assert_eq!(got, want, "scoreboard {board}");
    server.gm("/game/end", json!({})).await;
    drop(repaired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undetected_incident_is_invisible_to_spectators_and_other_teams_in_views_and_events() {
    let shop = Shop::new();
    let yaml = format!(
        r#"game: secrecy
{TEAMS}{targets}
scenarios:
  - name: secret-slowness
    faults: [ {{ target: web-link, fault: {{ kind: latency, latency: 50ms }} }} ]
    diagnosis: {{ target: web-link, kind: latency }}
    resolution: diagnose
    hints: [ {{ text: "the database link", cost: 10 }} ]
"#,
        targets = shop.targets()
    );
    let server = GameServer::start(&yaml).await;
    // Live streams opened before anything happens.
    let spectator = sse(&server, None).await;
    let search = sse(&server, Some(SEARCH)).await;
    let checkout = sse(&server, Some(CHECKOUT)).await;
    server.gm("/game/start", json!({})).await;
    let opened = server
        .gm("/unleash", json!({"scenario": "secret-slowness"}))
        .await;
    assert!(
        opened["message"]
            .as_str()
            .unwrap()
            .contains("secret-slowness"),
        "{opened}"
    );
    let id = server.incidents().await[0]["id"].as_u64().unwrap();
    // An honest wait: what is tested is that nothing reaches these streams (no leak of the
    // opening), so there is no condition to poll for; this gives a leak time to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;

    for (who, token) in [
        ("a spectator", None),
        ("another team", Some(SEARCH)),
        ("its own team", Some(CHECKOUT)),
    ] {
        for path in ["/view", "/incidents", "/timeline", "/scoreboard"] {
            let (status, body) = server.get(path, token).await;
            assert_eq!(status, StatusCode::OK, "{who} GET {path}: {body}");
            let text = body.to_string();
            for secret in [
                "secret-slowness",
                "latency",
                "web-link",
                "the database link",
            ] {
                assert!(
                    !text.contains(secret),
                    "{who} sees `{secret}` in {path} before detection: {text}"
                );
            }
        }
        let (status, body) = server.get(&format!("/incidents/{id}"), token).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{who} reads incident {id}: {body}"
        );
    }
    for (who, stream) in [
        ("a spectator", &spectator),
        ("another team", &search),
        ("its own team", &checkout),
    ] {
        let seen = stream.text();
        assert!(
            seen.contains("event: snapshot"),
            "{who} got no snapshot: {seen}"
        );
        for secret in ["secret-slowness", "latency", "web-link", "incident_opened"] {
            assert!(
                !seen.contains(secret),
                "{who}'s live events reveal `{secret}`: {seen}"
            );
        }
    }

    // Once detected, the incident shows, without its ground truth until it closes.
    server
        .ok(
            "/declare",
            CHECKOUT,
            json!({"player": "alice", "target": "web-link"}),
        )
        .await;
    let (_, body) = server.get(&format!("/incidents/{id}"), None).await;
    assert_eq!(body["state"], "detected", "{body}");
    assert!(
        body.get("diagnosis").is_none_or(Value::is_null),
        "no ground truth: {body}"
    );
    assert!(
        body.get("scenario").is_none_or(Value::is_null),
        "no scenario name: {body}"
    );
    let (_, hint) = server
        .post(
            &format!("/incidents/{id}/hints"),
            Some(SEARCH),
            json!({"player": "eve"}),
        )
        .await;
    assert!(
        !hint.to_string().contains("the database link"),
        "another team bought a hint: {hint}"
    );
    assert!(
        spectator
            .wait_for("event: scoreboard", Duration::from_secs(10))
            .await,
        "the scoreboard moves live: {}",
        spectator.text()
    );
    assert!(!search.text().contains("the database link"));
}

/// An SSE stream read in the background into a buffer.
struct Stream {
    seen: std::sync::Arc<std::sync::Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Stream {
    fn text(&self) -> String {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (at most `limit`) until the stream has shown `needle`; whether it did.
    async fn wait_for(&self, needle: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while !self.text().contains(needle) {
            if start.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn sse(server: &GameServer, token: Option<&str>) -> Stream {
    let mut request = server.http.get(format!("{}/api/v1/events", server.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut answer = request.send().await.expect("the event stream opens");
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"),
        "{:?}",
        answer.headers()
    );
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let buffer = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok(Some(chunk)) = answer.chunk().await {
            buffer
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk));
        }
    });
    let start = Instant::now();
    while !seen.lock().unwrap().contains("event: snapshot")
        && start.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Stream { seen, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_may_do_exactly_what_it_should() {
    let shop = Shop::new();
    let yaml = format!(
        r#"game: auth
{TEAMS}{targets}
scenarios:
  - name: slow-web
    faults: [ {{ target: web-link, fault: {{ kind: latency, latency: 20ms }} }} ]
    diagnosis: {{ target: web-link, kind: latency }}
    resolution: diagnose
    hints: [ {{ text: "h", cost: 5 }} ]
"#,
        targets = shop.targets()
    );
    let server = GameServer::start(&yaml).await;
    server.gm("/game/start", json!({})).await;
    server.gm("/unleash", json!({"scenario": "slow-web"})).await;
    server
        .ok(
            "/declare",
            CHECKOUT,
            json!({"player": "alice", "target": "web-link"}),
        )
        .await;
    let id = server.incidents().await[0]["id"].as_u64().unwrap();
    let player = |body: Value| {
        let mut body = body;
        body["player"] = json!("mallory");
        body
    };
    let bad = "not-a-token-at-all-0000";
    let cases: Vec<(&str, String, Option<&str>, Value, StatusCode)> = vec![
        // A team acting on another team's incident.
        (
            "search diagnoses checkout's incident",
            format!("/incidents/{id}/diagnose"),
            Some(SEARCH),
            player(json!({"target": "web-link", "kind": "latency"})),
            StatusCode::FORBIDDEN,
        ),
        (
            "search buys checkout's hint",
            format!("/incidents/{id}/hints"),
            Some(SEARCH),
            player(json!({})),
            StatusCode::FORBIDDEN,
        ),
        (
            "search claims checkout's incident",
            format!("/incidents/{id}/resolve"),
            Some(SEARCH),
            player(json!({})),
            StatusCode::FORBIDDEN,
        ),
        // A team doing the game master's work.
        (
            "a team pauses the game",
            "/game/pause".into(),
            Some(CHECKOUT),
            player(json!({})),
            StatusCode::FORBIDDEN,
        ),
        (
            "a team hits the kill switch",
            "/abort".into(),
            Some(CHECKOUT),
            player(json!({})),
            StatusCode::FORBIDDEN,
        ),
        (
            "a team adjusts its score",
            "/adjust".into(),
            Some(CHECKOUT),
            player(json!({"team": "checkout", "points": 500, "reason": "me"})),
            StatusCode::FORBIDDEN,
        ),
        // Spectators write nothing.
        (
            "a spectator declares",
            "/declare".into(),
            None,
            player(json!({"target": "web"})),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a spectator diagnoses",
            format!("/incidents/{id}/diagnose"),
            None,
            player(json!({"target": "web-link", "kind": "latency"})),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a spectator starts the game",
            "/game/start".into(),
            None,
            player(json!({})),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a spectator hits the kill switch",
            "/abort".into(),
            None,
            player(json!({})),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "an unknown token declares",
            "/declare".into(),
            Some(bad),
            player(json!({"target": "web"})),
            StatusCode::UNAUTHORIZED,
        ),
        // The game master may.
        (
            "the game master adjusts",
            "/adjust".into(),
            Some(GM),
            player(json!({"team": "search", "points": 25, "reason": "great postmortem"})),
            StatusCode::OK,
        ),
        (
            "the game master pauses",
            "/game/pause".into(),
            Some(GM),
            player(json!({"reason": "break"})),
            StatusCode::OK,
        ),
        (
            "the game master resumes",
            "/game/resume".into(),
            Some(GM),
            player(json!({})),
            StatusCode::OK,
        ),
        // Its own team may.
        (
            "checkout diagnoses its incident",
            format!("/incidents/{id}/diagnose"),
            Some(CHECKOUT),
            player(json!({"target": "web-link", "kind": "latency"})),
            StatusCode::OK,
        ),
    ];
    for (what, path, token, body, want) in cases {
        let (status, answer) = server.post(&path, token, body).await;
        assert_eq!(status, want, "{what}: POST {path} answered {answer}");
        if !status.is_success() {
            assert!(
                answer["error"].is_string() && answer["detail"].is_string(),
                "{what}: error shape {answer}"
            );
        }
    }
    // Reads: the game master's views are closed to others.
    for path in ["/faults", "/probes"] {
        assert_eq!(
            server.get(path, None).await.0,
            StatusCode::UNAUTHORIZED,
            "spectator GET {path}"
        );
        assert_eq!(
            server.get(path, Some(CHECKOUT)).await.0,
            StatusCode::FORBIDDEN,
            "team GET {path}"
        );
        assert_eq!(
            server.get(path, Some(GM)).await.0,
            StatusCode::OK,
            "game master GET {path}"
        );
    }
    // The embedded proxy's API is the game master's only.
    let toxiproxy = |token: Option<&str>| {
        let mut request = server.http.get(format!("{}/toxiproxy/proxies", server.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(
        toxiproxy(None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        toxiproxy(Some(CHECKOUT)).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let proxies = toxiproxy(Some(GM)).await.unwrap();
    assert_eq!(proxies.status(), StatusCode::OK);
    assert!(
        proxies
            .text()
            .await
            .unwrap()
            .contains(&shop.web_link.to_string())
    );
    // The adjustment is in the score and the timeline, with its reason.
    let (_, timeline) = server.get("/timeline", None).await;
    assert!(
        timeline.to_string().contains("great postmortem"),
        "{timeline}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_game_loses_nothing_acknowledged_and_the_game_goes_on() {
    let shop = Shop::new();
    let yaml = paused_and_slow_game("crash", &shop);
    let mut server = GameServer::start(&yaml).await;
    let search_url = format!("http://127.0.0.1:{}/", shop.search_link);
    assert!(
        wait_healthy(&search_url).await,
        "the search service runs, supervised"
    );
    server.gm("/game/start", json!({})).await;
    server
        .gm("/unleash", json!({"scenario": "frozen-search"}))
        .await;
    server.gm("/unleash", json!({"scenario": "slow-web"})).await;
    let mut acked = Vec::new();
    let a = server
        .ok(
            "/declare",
            SEARCH,
            json!({"player": "carol", "target": "search"}),
        )
        .await;
    acked.push(n(&a["seq"]));
    let b = server
        .ok(
            "/declare",
            CHECKOUT,
            json!({"player": "alice", "target": "web-link"}),
        )
        .await;
    acked.push(n(&b["seq"]));
    let c = server
        .gm(
            "/adjust",
            json!({"team": "checkout", "points": 7, "reason": "before the crash"}),
        )
        .await;
    acked.push(n(&c["seq"]));
    assert!(!healthy(&search_url).await, "the pause holds");
    let (_, board_before) = server.get("/scoreboard", None).await;
    let faults_before = server.get("/faults", Some(GM)).await.1;
    assert_eq!(
        faults_before.as_array().unwrap().len(),
        2,
        "{faults_before}"
    );

    server.running.as_mut().unwrap().kill_9();

    // The journal reverts the dead server's faults at the next start (and the link died
    // with its process); the restarted server puts the open incidents' faults back.
    let list = server
        .sandbox
        .run(&["fault", "list", "--all", "--output", "json"]);
    let listed: Value = serde_json::from_slice(&list.stdout).expect("fault list --output json");
    let recovered = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["end_reason"]
                .as_str()
                .is_some_and(|r| r.contains("had died"))
        })
        .count();
    assert!(
        recovered >= 1,
        "the paused process was resumed by recovery: {listed}"
    );
    // The link died with its server; the service itself answers again.
    let direct = format!("http://127.0.0.1:{}/", shop.search[3]);
    assert!(wait_healthy(&direct).await, "no fault outlives its server");

    server.restart().await;
    let (_, board_after) = server.get("/scoreboard", None).await;
    assert_eq!(board_after, board_before, "the scoreboard is the same");
    let (_, timeline) = server.get("/timeline", Some(GM)).await;
    assert_all_in_timeline(&timeline, &acked);
    let faults_after = server.get("/faults", Some(GM)).await.1;
    assert_eq!(
        faults_after.as_array().unwrap().len(),
        2,
        "the open incidents' faults are back: {faults_after}"
    );
    assert!(!healthy(&search_url).await, "the pause is back");

    // And the game goes on.
    let healed = diagnose_frozen_search(&server).await;
    assert!(
        n(&healed["points"]) > 100,
        "the diagnosis and the resolution it brings: {healed}"
    );
    let until = Instant::now() + Duration::from_secs(10);
    while !healthy(&search_url).await {
        assert!(
            Instant::now() < until,
            "the diagnosis did not heal the pause"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `chaosday ARGS` as a player or the game master, against `server`.
fn cli(server: &GameServer, token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut command = server.sandbox.command(args);
    command
        .env("CHAOSDAY_URL", &server.url)
        .env("CHAOSDAY_PLAYER", "dana")
        .env_remove("CHAOSDAY_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(token) = token {
        command.env("CHAOSDAY_TOKEN", token);
    }
    command.output().expect("chaosday runs")
}

fn out(output: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_team_and_game_master_commands_play_a_game_with_clear_errors() {
    let shop = Shop::new();
    let yaml = format!(
        r#"game: cli
{TEAMS}{targets}
scenarios:
  - name: slow-web
    faults: [ {{ target: web-link, fault: {{ kind: latency, latency: 20ms }} }} ]
    diagnosis: {{ target: web-link, kind: latency }}
    resolution: diagnose
    hints: [ {{ text: "look at the link", cost: 5 }} ]
"#,
        targets = shop.targets()
    );
    let server = GameServer::start(&yaml).await;
    let ok = |o: std::process::Output| {
        assert_eq!(o.status.code(), Some(0), "{}", out(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    ok(cli(&server, Some(GM), &["gm", "start"]));
    let opened = ok(cli(&server, Some(GM), &["gm", "unleash", "slow-web"]));
    assert!(opened.contains("slow-web"), "{opened}");
    let declared = ok(cli(
        &server,
        Some(CHECKOUT),
        &["team", "declare", "web-link"],
    ));
    // Incident numbers are drawn at random: read it from the answer.
    let number: String = declared
        .split("detected incident #")
        .nth(1)
        .unwrap_or_else(|| panic!("{declared}"))
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(number.len(), 6, "{declared}");
    let hash_number = format!("#{number}");
    let hint = ok(cli(
        &server,
        Some(CHECKOUT),
        &["team", "hint", &hash_number],
    ));
    assert!(hint.contains("look at the link"), "{hint}");
    let status = ok(cli(
        &server,
        Some(CHECKOUT),
        &["team", "status", "--output", "json"],
    ));
    let status: Value = serde_json::from_str(&status).expect("team status --output json");
    assert_eq!(status["incidents"][0]["state"], "detected", "{status}");
    let diagnosed = ok(cli(
        &server,
        Some(CHECKOUT),
        &[
            "team", "diagnose", &number, "--target", "web-link", "--kind", "latency",
        ],
    ));
    assert!(diagnosed.contains("right diagnosis"), "{diagnosed}");
    let gm_status = ok(cli(&server, Some(GM), &["gm", "status"]));
    assert!(gm_status.contains("slow-web"), "{gm_status}");
    // When the next scenario comes and what could open: the interval restarted at the
    // unleash; search owns none of the targets, and checkout has room again.
    assert!(
        gm_status.contains("next scenario: in ")
            && gm_status.contains("    slow-web (100%) against checkout\n"),
        "{gm_status}"
    );
    ok(cli(
        &server,
        Some(GM),
        &[
            "gm",
            "adjust",
            "search",
            "-15",
            "--reason",
            "late to the briefing",
        ],
    ));
    let (_, board) = server.get("/scoreboard", None).await;
    let search = board
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["team"] == "search")
        .unwrap();
    assert_eq!(search["points"], -15, "{board}");

    // Errors say what to do, with the exit codes of SPEC §3.
    let no_token = cli(&server, None, &["team", "declare", "web"]);
    assert_eq!(no_token.status.code(), Some(2), "{}", out(&no_token));
    assert!(
        out(&no_token).contains("CHAOSDAY_TOKEN"),
        "{}",
        out(&no_token)
    );
    let bad_number = cli(&server, Some(CHECKOUT), &["team", "resolve", "x3"]);
    assert_eq!(bad_number.status.code(), Some(2), "{}", out(&bad_number));
    let not_yours = cli(&server, Some(SEARCH), &["team", "resolve", &number]);
    assert_eq!(not_yours.status.code(), Some(1), "{}", out(&not_yours));
    let team_abort = cli(&server, Some(CHECKOUT), &["gm", "abort"]);
    assert_eq!(team_abort.status.code(), Some(1), "{}", out(&team_abort));
    assert!(
        out(&team_abort).contains("game master"),
        "{}",
        out(&team_abort)
    );
    let mut nowhere = server.sandbox.command(&["team", "status"]);
    nowhere
        .env("CHAOSDAY_URL", format!("http://127.0.0.1:{}", owned_port()))
        .env("CHAOSDAY_TOKEN", CHECKOUT);
    let nowhere = nowhere.output().unwrap();
    assert_eq!(nowhere.status.code(), Some(1), "{}", out(&nowhere));
    assert!(
        out(&nowhere).contains("chaosday serve"),
        "{}",
        out(&nowhere)
    );
}

/// Everything each kind of viewer reads of the game, by viewer and path.
pub(crate) async fn every_view(server: &GameServer) -> BTreeMap<String, Value> {
    every_view_at(&server.http, &server.url).await
}

/// Every view of every viewer, read from the server at `base`.
pub(crate) async fn every_view_at(http: &reqwest::Client, base: &str) -> BTreeMap<String, Value> {
    let mut views = BTreeMap::new();
    for (who, token) in [
        ("spectator", None),
        ("gm", Some(GM)),
        ("checkout", Some(CHECKOUT)),
        ("search", Some(SEARCH)),
    ] {
        for path in ["/game", "/scoreboard", "/timeline", "/incidents"] {
            let (status, body) = crate::game_support::get_at(http, base, path, token).await;
            views.insert(format!("{who} GET {path} ({status})"), body);
        }
    }
    views
}

/// The teams' plays of `paused_and_slow_game` once both scenarios are open: declarations
/// (one a false alarm), a wrong and a right diagnosis, and the frozen search's diagnosis.
pub(crate) async fn plays_of_the_paused_and_slow_game(
    server: &GameServer,
) -> Vec<(String, &'static str, Value)> {
    let ids: BTreeMap<String, u64> = server
        .incidents()
        .await
        .iter()
        .map(|i| {
            (
                i["scenario"].as_str().unwrap().to_owned(),
                i["id"].as_u64().unwrap(),
            )
        })
        .collect();
    let (slow, frozen) = (ids["slow-web"], ids["frozen-search"]);
    vec![
        (
            "/declare".to_owned(),
            CHECKOUT,
            json!({"player": "alice", "target": "web"}),
        ),
        (
            "/declare".to_owned(),
            SEARCH,
            json!({"player": "carol", "target": "search"}),
        ),
        (
            "/declare".to_owned(),
            CHECKOUT,
            json!({"player": "alice", "target": "web-link"}),
        ),
        (
            format!("/incidents/{slow}/diagnose"),
            CHECKOUT,
            json!({"player": "bob", "target": "web-link", "kind": "pause"}),
        ),
        (
            format!("/incidents/{slow}/diagnose"),
            CHECKOUT,
            json!({"player": "bob", "target": "web-link", "kind": "latency"}),
        ),
        (
            format!("/incidents/{frozen}/diagnose"),
            SEARCH,
            json!({"player": "carol", "target": "search", "kind": "pause"}),
        ),
    ]
}

/// Replay equivalence: a game played through the API, every view of every viewer read
/// live after each acknowledged action, then the server killed with `kill -9` and started
/// again on the same store, which replays its log. Every view must come back the same, and
/// each timeline a viewer read live must be, entry for entry, the start of the one it reads
/// after the replay.
async fn replay_gives_back_every_live_view(store: Option<String>) {
    let shop = Shop::new();
    let yaml = paused_and_slow_game("replay", &shop);
    let mut server = GameServer::start_on(&yaml, store).await;
    let mut live = Vec::new();
    server.gm("/game/start", json!({})).await;
    live.push(every_view(&server).await);
    server
        .gm("/unleash", json!({"scenario": "frozen-search"}))
        .await;
    server.gm("/unleash", json!({"scenario": "slow-web"})).await;
    live.push(every_view(&server).await);
    for (path, token, body) in plays_of_the_paused_and_slow_game(&server).await {
        server.ok(&path, token, body).await;
        live.push(every_view(&server).await);
    }
    server
        .gm(
            "/adjust",
            json!({"team": "search", "points": 7, "reason": "a clear postmortem"}),
        )
        .await;
    server.gm("/game/pause", json!({})).await;
    server.gm("/game/resume", json!({})).await;
    server.gm("/game/end", json!({})).await;
    let last = every_view(&server).await;
    live.push(last.clone());

    server.running.as_mut().unwrap().kill_9();
    server.restart().await;
    let replayed = every_view(&server).await;
    for (view, value) in &last {
        assert_eq!(
            replayed.get(view),
            Some(value),
            "{view} differs after the replay"
        );
    }
    assert_eq!(replayed.len(), last.len());
    for (step, views) in live.iter().enumerate() {
        for (view, value) in views.iter().filter(|(v, _)| v.contains("/timeline")) {
            let seen = value.as_array().expect("a timeline");
            let now = replayed[view].as_array().expect("a timeline");
            assert!(
                seen.len() <= now.len() && seen[..] == now[..seen.len()],
                "step {step}: {view} read live is not the start of the replayed one:\nlive {value}\nreplayed {}",
                replayed[view]
            );
        }
    }
    let timeline = replayed["gm GET /timeline (200 OK)"]
        .as_array()
        .unwrap()
        .len();
    assert!(
        timeline >= 12,
        "the game master's timeline: {timeline} entries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_of_the_sqlite_log_gives_back_every_live_view_event_for_event() {
    replay_gives_back_every_live_view(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_of_the_postgresql_log_gives_back_every_live_view_event_for_event() {
    let (url, name) = chaosday_testkit::postgres::create_database().await;
    replay_gives_back_every_live_view(Some(url)).await;
    chaosday_testkit::postgres::drop_database(&name).await;
}

/// A leader on a new PostgreSQL database and a `--standby` replica of it (same host, same
/// state directory, another port), once the standby says it stands by.
struct Replicas {
    server: GameServer,
    standby: Option<crate::replicas::Follower>,
    standby_port: u16,
    database: String,
    /// Whether the standby said it leads.
    led: bool,
}

impl Replicas {
    async fn start(yaml: &str) -> Replicas {
        let (store, database) = chaosday_testkit::postgres::create_database().await;
        let server = GameServer::start_on(yaml, Some(store)).await;
        let standby = crate::replicas::Follower::start(&server, &[]).await;
        let said = standby
            .said("standby", Duration::from_secs(30))
            .expect("the standby says it stands by");
        assert!(
            said["leader"].as_str().is_some_and(|l| l.contains("pid")),
            "it names the leader: {said}"
        );
        Replicas {
            server,
            standby_port: standby.port,
            standby: Some(standby),
            database,
            led: false,
        }
    }

    /// Whether the standby says it leads within `limit`.
    fn leads_within(&mut self, limit: Duration) -> bool {
        if !self.led {
            self.led = self
                .standby
                .as_ref()
                .is_some_and(|s| s.said("leading", limit).is_some());
        }
        self.led
    }

    /// Once the standby said it leads and answers: the clients talk to it from then on,
    /// and the old leader's process is returned. How long it took from `since`.
    async fn switch_over(&mut self, since: Instant) -> (crate::support::Running, Duration) {
        assert!(
            self.leads_within(Duration::from_secs(30)),
            "the standby says it leads"
        );
        let url = format!("http://127.0.0.1:{}/api/v1/faults", self.standby_port);
        while !self
            .server
            .http
            .get(&url)
            .bearer_auth(GM)
            .send()
            .await
            .is_ok_and(|a| a.status().is_success())
        {
            assert!(
                since.elapsed() < Duration::from_secs(30),
                "the standby did not serve within 30 s:\n{}",
                self.server.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = since.elapsed();
        let standby = self.standby.take().expect("the standby").running;
        let old = self
            .server
            .running
            .replace(standby)
            .expect("the old leader");
        self.server.port = self.standby_port;
        self.server.url = format!("http://127.0.0.1:{}", self.standby_port);
        (old, took)
    }
}

/// Two replicas on one PostgreSQL store, on one host: the leader serves, the standby
/// follows (it serves reads) until the leader is killed with `kill -9` mid-game with live
/// faults, then takes over: every acknowledged event is in its log, the scoreboard is the same, each
/// target's fault was reverted by the journal and put back once, and the game goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_replica_takes_over_a_game_after_the_leader_s_kill_9_losing_nothing() {
    let shop = Shop::new();
    let mut replicas = Replicas::start(&paused_and_slow_game("replicas", &shop)).await;
    let server = &mut replicas.server;
    let standby_url = format!("http://127.0.0.1:{}/api/v1/game", replicas.standby_port);
    let answer = server
        .http
        .get(&standby_url)
        .send()
        .await
        .expect("a standby serves reads");
    assert_eq!(answer.status(), StatusCode::OK);

    server.gm("/game/start", json!({})).await;
    server
        .gm("/unleash", json!({"scenario": "frozen-search"}))
        .await;
    server.gm("/unleash", json!({"scenario": "slow-web"})).await;
    let mut acked = Vec::new();
    for (path, token, body) in [
        (
            "/declare",
            SEARCH,
            json!({"player": "carol", "target": "search"}),
        ),
        (
            "/declare",
            CHECKOUT,
            json!({"player": "alice", "target": "web-link"}),
        ),
    ] {
        acked.push(n(&server.ok(path, token, body).await["seq"]));
    }
    acked.push(n(&server
        .gm(
            "/adjust",
            json!({"team": "checkout", "points": 7, "reason": "before the failover"}),
        )
        .await["seq"]));
    let (_, board_before) = server.get("/scoreboard", None).await;
    assert_eq!(
        server
            .get("/faults", Some(GM))
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );

    server.running.as_mut().unwrap().kill_9();
    let (_, took) = replicas.switch_over(Instant::now()).await;
    eprintln!(
        "failover: the standby served {} ms after the leader's kill -9",
        took.as_millis()
    );
    let server = &mut replicas.server;
    let (_, board_after) = server.get("/scoreboard", None).await;
    assert_eq!(board_after, board_before, "the scoreboard is the same");
    let (_, timeline) = server.get("/timeline", Some(GM)).await;
    assert_all_in_timeline(&timeline, &acked);
    // Each target's fault: the dead leader's reverted by the journal, put back once.
    let faults = server.get("/faults", Some(GM)).await.1;
    assert_eq!(faults.as_array().unwrap().len(), 2, "{faults}");
    let list = server
        .sandbox
        .run(&["fault", "list", "--all", "--output", "json"]);
    let listed: Value = serde_json::from_slice(&list.stdout).expect("fault list --output json");
    for fault in ["pause", "latency"] {
        let entries = journal_entries(&listed, fault);
        let states: Vec<&str> = entries
            .iter()
            .map(|f| f["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["reverted", "active"], "{fault}: {listed}");
        assert!(
            entries[0]["end_reason"]
                .as_str()
                .is_some_and(|r| r.contains("had died")),
            "{listed}"
        );
    }
    // And the game goes on, on the new leader.
    let healed = diagnose_frozen_search(server).await;
    assert!(n(&healed["points"]) > 100, "{healed}");
    let database = replicas.database.clone();
    drop(replicas);
    chaosday_testkit::postgres::drop_database(&database).await;
}

/// The leader loses its database connection (its lock session ended, as a network cut
/// would): the standby takes the store, and the old leader, finding another writer, steps
/// down: it reverts its faults and exits with an error, so that two servers never act for
/// one game; the new leader puts the open incidents' faults back, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_loses_its_database_steps_down_for_the_standby() {
    let shop = Shop::new();
    let mut replicas = Replicas::start(&paused_and_slow_game("replicas", &shop)).await;
    let server = &replicas.server;
    server.gm("/game/start", json!({})).await;
    server
        .gm("/unleash", json!({"scenario": "frozen-search"}))
        .await;
    server.gm("/unleash", json!({"scenario": "slow-web"})).await;
    let acked = n(&server
        .ok(
            "/declare",
            SEARCH,
            json!({"player": "carol", "target": "search"}),
        )
        .await["seq"]);
    // The leader may take its lock again on a new connection before the standby polls:
    // cut it again until the standby has taken it.
    let cut = Instant::now();
    loop {
        chaosday_testkit::postgres::end_lock_sessions(&replicas.database).await;
        if replicas.leads_within(Duration::from_millis(1500)) {
            break;
        }
        assert!(
            cut.elapsed() < Duration::from_secs(60),
            "the standby never took over:\n{}",
            replicas.server.logs()
        );
    }
    let (mut old, _) = replicas.switch_over(cut).await;
    let out = old.finish(Duration::from_secs(30));
    assert!(
        !out.status.success(),
        "the deposed leader exits with an error"
    );
    let server = &replicas.server;
    assert!(
        server.logs().contains("no longer writes the game's store"),
        "{}",
        server.logs()
    );
    let (_, timeline) = server.get("/timeline", Some(GM)).await;
    assert!(
        timeline.to_string().contains(&format!("\"seq\":{acked}")),
        "{timeline}"
    );
    let faults = server.get("/faults", Some(GM)).await.1;
    assert_eq!(faults.as_array().unwrap().len(), 2, "both back: {faults}");
    let list = server
        .sandbox
        .run(&["fault", "list", "--all", "--output", "json"]);
    let listed: Value = serde_json::from_slice(&list.stdout).expect("fault list --output json");
    let active = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["state"] == "active")
        .count();
    assert_eq!(active, 2, "one live fault per target: {listed}");
    let database = replicas.database.clone();
    drop(replicas);
    chaosday_testkit::postgres::drop_database(&database).await;
}
