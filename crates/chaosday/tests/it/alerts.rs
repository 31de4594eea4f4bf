//! Detection by alerts through a real Alertmanager (Debian's `prometheus-alertmanager`),
//! tried as a team that wants points without detecting: alerts are posted to Alertmanager's
//! own API, which groups them and sends its webhooks to `chaosday serve`.
//!
//! - an alert that says it started in 2000 (or any time before the opening) detects
//!   nothing: it is a standing alert, and costs its one false alarm;
//! - a standing alert repeated by Alertmanager costs nothing more, and never detects;
//! - an alert that started after the opening detects, credited when it arrived;
//! - an alert matching no open incident costs a false alarm once per fingerprint (once per
//!   firing: a script resending one alert as new pays for each try), and the receiver's
//!   answer is the same as for one that detects, one that repeats, one that
//!   resolved, and one sent before the start;
//! - the game master's timeline names each alert (labels and fingerprint);
//! - a burst of 300 alert groups all arrive (the receiver has its own budget), each in the
//!   log.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::game_support::{CHECKOUT, GM, GameServer};
use crate::support::{owned_port, program};

/// Alertmanager on a loopback port, with a throwaway storage directory, sending every
/// group (one per alert: `group_by: ['...']`) to `receiver` with `token`.
struct RealAlertmanager {
    child: Child,
    url: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Drop for RealAlertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn alertmanager_binary() -> PathBuf {
    // Never a silent pass: the alert-cheat tests need a real Alertmanager.
    program(
        "CHAOSDAY_TEST_ALERTMANAGER",
        &["prometheus-alertmanager", "alertmanager"],
    )
    .unwrap_or_else(|| {
        panic!(
            "Alertmanager is missing: run apt-get install -y prometheus-alertmanager as root \
             (./scripts/test does), or set CHAOSDAY_TEST_ALERTMANAGER to an alertmanager binary"
        )
    })
}

impl RealAlertmanager {
    async fn start(receiver: &str, token: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = owned_port();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                r#"route:
  receiver: team
  group_by: ['...']
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: team
    webhook_configs:
      - url: {receiver}
        send_resolved: false
        max_alerts: 0
        http_config:
          authorization:
            credentials: {token}
"#
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).unwrap();
        let binary = alertmanager_binary();
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut am = RealAlertmanager {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = am.child.try_wait() {
                panic!("Alertmanager exited ({status}):\n{}", am.log());
            }
            if let Ok(answer) = am.http.get(format!("{}/-/ready", am.url)).send().await
                && answer.status().is_success()
            {
                return am;
            }
            assert!(
                Instant::now() < deadline,
                "Alertmanager not ready after 30 s:\n{}",
                am.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    /// Posts alerts to Alertmanager's own API, as Prometheus would.
    async fn fire(&self, alerts: Value) {
        let answer = self
            .http
            .post(format!("{}/api/v2/alerts", self.url))
            .json(&alerts)
            .send()
            .await
            .expect("Alertmanager answers");
        assert!(
            answer.status().is_success(),
            "Alertmanager refused {alerts}: {}",
            answer.text().await.unwrap_or_default()
        );
    }
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

const GAME: &str = r#"game: alerts
schedule: { every: 6h, max_open_per_team: 5 }
game_master: { token_env: GM_TOKEN }
teams:
  - { name: checkout, token_env: CHECKOUT_TOKEN, owns: [cart-link, pay-link] }
  - { name: search, token_env: SEARCH_TOKEN, owns: [search-link] }
targets:
  cart-link: { link: { listen: "127.0.0.1:P_CART", upstream: "127.0.0.1:9" }, alert_match: ['service="cart"', 'severity=~"page|critical"'] }
  pay-link: { link: { listen: "127.0.0.1:P_PAY", upstream: "127.0.0.1:9" }, alert_match: { service: pay } }
  search-link: { link: { listen: "127.0.0.1:P_SEARCH", upstream: "127.0.0.1:9" } }
scenarios:
  - name: cart-slow
    faults: [ { target: cart-link, fault: { kind: latency, latency: 300ms } } ]
    diagnosis: { target: cart-link, kind: latency }
    resolution: diagnose
  - name: pay-slow
    faults: [ { target: pay-link, fault: { kind: latency, latency: 300ms } } ]
    diagnosis: { target: pay-link, kind: latency }
    resolution: diagnose
"#;

/// Checkout's false alarms, as the game master's scoreboard says.
async fn false_alarms(server: &GameServer) -> i64 {
    let (_, board) = server.get("/scoreboard", Some(GM)).await;
    board
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["team"] == "checkout")
        .map_or(0, |s| s["false_alarms"].as_i64().unwrap())
}

async fn wait_false_alarms(server: &GameServer, am: &RealAlertmanager, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while false_alarms(server).await != n {
        assert!(
            Instant::now() < deadline,
            "checkout has {} false alarms, not {n}\nchaosday:\n{}\nAlertmanager:\n{}",
            false_alarms(server).await,
            server.logs(),
            am.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many `alert` entries the game master's timeline has (alert traffic it sees).
async fn alert_entries(server: &GameServer) -> usize {
    let (_, timeline) = server.get("/timeline", Some(GM)).await;
    timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "alert")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_through_a_real_alertmanager_score_only_what_they_detect() {
    let yaml = GAME
        .replace("P_CART", &owned_port().to_string())
        .replace("P_PAY", &owned_port().to_string())
        .replace("P_SEARCH", &owned_port().to_string());
    let server = GameServer::start(&yaml).await;
    let receiver = format!("{}/api/v1/alerts/alertmanager", server.url);
    let am = RealAlertmanager::start(&receiver, CHECKOUT).await;

    // Before the start: received, nothing recorded, and 200 (a 409 is retried forever).
    let early = json!({"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"service": "cart"}, "fingerprint": "early"}]});
    let (status, early_answer) = server
        .post("/alerts/alertmanager", Some(CHECKOUT), early)
        .await;
    assert_eq!(status, StatusCode::OK);
    server.gm("/game/start", json!({})).await;
    assert_eq!(false_alarms(&server).await, 0, "nothing was recorded");

    // A standing alert (a stuck warning), firing since before anything opened.
    let hour_ago = now_ms() - 3_600_000;
    am.fire(
        json!([{"labels": {"alertname": "Standing", "service": "cart", "severity": "page"},
        "startsAt": rfc3339(hour_ago)}]),
    )
    .await;
    wait_false_alarms(&server, &am, 1).await;

    let opened = server
        .gm(
            "/unleash",
            json!({"scenario": "cart-slow", "team": "checkout"}),
        )
        .await;
    assert!(opened["message"].as_str().unwrap().contains("cart-slow"));
    let cart = server
        .incidents()
        .await
        .into_iter()
        .find(|i| i["scenario"] == "cart-slow")
        .unwrap();
    let cart_id = cart["id"].as_u64().unwrap();
    let opened_ms = cart["opened_ms"].as_i64().unwrap();

    // Alertmanager repeats the standing alert: no detection, no second false alarm.
    let seen = alert_entries(&server).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while alert_entries(&server).await <= seen {
        assert!(
            Instant::now() < deadline,
            "Alertmanager repeats the standing alert"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(false_alarms(&server).await, 1);
    assert!(server.incident(cart_id).await["detected_ms"].is_null());

    // The cheat: an alert that says it started in 2000, posted after the opening. It is a
    // standing alert by its own account: no detection at time 0, one false alarm.
    am.fire(
        json!([{"labels": {"alertname": "Cheat", "service": "cart", "severity": "page"},
        "startsAt": "2000-01-01T00:00:00Z"}]),
    )
    .await;
    wait_false_alarms(&server, &am, 2).await;
    assert!(server.incident(cart_id).await["detected_ms"].is_null());

    // An alert that does not satisfy every matcher (severity=~"page|critical") is no
    // evidence either.
    am.fire(
        json!([{"labels": {"alertname": "CartWarn", "service": "cart", "severity": "warning"}}]),
    )
    .await;
    wait_false_alarms(&server, &am, 3).await;
    assert!(server.incident(cart_id).await["detected_ms"].is_null());

    // The real thing: started after the opening; credited when it arrives.
    let fired_ms = now_ms();
    am.fire(
        json!([{"labels": {"alertname": "CartSlow", "service": "cart", "severity": "critical"}}]),
    )
    .await;
    let detected = server
        .wait_incident(cart_id, "detected by the alert", |i| {
            !i["detected_ms"].is_null()
        })
        .await;
    let detected_ms = detected["detected_ms"].as_i64().unwrap();
    assert!(
        detected_ms >= fired_ms && detected_ms > opened_ms,
        "credited on receipt: fired at {fired_ms}, detected at {detected_ms}"
    );
    assert!(detected["points"]["detect"].as_i64().unwrap() > 0);
    assert_eq!(false_alarms(&server).await, 3, "a detection costs nothing");
    let (_, timeline) = server.get("/timeline", Some(GM)).await;
    // The game master sees which alert detected it, with Alertmanager's fingerprint.
    let firing = am_alerts(&am).await;
    let fingerprint = firing
        .iter()
        .find(|a| a["labels"]["alertname"] == "CartSlow")
        .map(|a| a["fingerprint"].as_str().unwrap().to_owned())
        .unwrap();
    let detection = format!(
        "an alert of checkout (alertname=CartSlow, service=cart, severity=critical; fingerprint {fingerprint}) detected incident #{cart_id}"
    );
    assert!(
        timeline
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "alert" && e["text"] == detection.as_str()),
        "{detection}\n{timeline:#}"
    );

    // The receiver's answer never says whether anything matched: the same status and
    // bytes for a payload that detects, one that costs a false alarm, its repeat, one that
    // resolved, and one sent before the start.
    server
        .gm(
            "/unleash",
            json!({"scenario": "pay-slow", "team": "checkout"}),
        )
        .await;
    let started = rfc3339(now_ms());
    let payload = |service: &str, fingerprint: &str| {
        json!({"version": "4", "status": "firing", "alerts": [{"status": "firing",
            "labels": {"alertname": "Direct", "service": service}, "fingerprint": fingerprint,
            "startsAt": started}]})
    };
    let (hit_status, hit) = server
        .post(
            "/alerts/alertmanager",
            Some(CHECKOUT),
            payload("pay", "direct-1"),
        )
        .await;
    let (miss_status, miss) = server
        .post(
            "/alerts/alertmanager",
            Some(CHECKOUT),
            payload("nothing", "direct-2"),
        )
        .await;
    assert_eq!((hit_status, miss_status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(hit, miss);
    assert_eq!(hit, early_answer);
    assert_eq!(false_alarms(&server).await, 4);
    // The same alert again costs nothing more, and is answered alike.
    let (_, repeat) = server
        .post(
            "/alerts/alertmanager",
            Some(CHECKOUT),
            payload("nothing", "direct-2"),
        )
        .await;
    assert_eq!(repeat, hit);
    assert_eq!(false_alarms(&server).await, 4);
    let (_, resolved) = server
        .post(
            "/alerts/alertmanager",
            Some(CHECKOUT),
            json!({"version": "4", "status": "resolved", "alerts": [{"status": "resolved",
                "labels": {"alertname": "Direct", "service": "nothing"},
                "fingerprint": "direct-2", "startsAt": started, "endsAt": rfc3339(now_ms())}]}),
        )
        .await;
    assert_eq!(resolved, hit);
    assert_eq!(false_alarms(&server).await, 4);
    // A script that resends one alert as new (a new start each time) to fish for the next
    // incident pays a false alarm for each try.
    for n in 0..3 {
        let start = rfc3339(now_ms() + n);
        server
            .post(
                "/alerts/alertmanager",
                Some(CHECKOUT),
                json!({"version": "4", "alerts": [{"status": "firing",
                    "labels": {"alertname": "Fish", "service": "nothing"},
                    "fingerprint": "fish", "startsAt": start}]}),
            )
            .await;
    }
    assert_eq!(false_alarms(&server).await, 7);

    // A burst of 300 alert groups: every one arrives (each costs its false alarm).
    let burst: Vec<Value> = (0..300)
        .map(|i| json!({"labels": {"alertname": format!("Burst{i}"), "service": "elsewhere"}}))
        .collect();
    am.fire(Value::Array(burst)).await;
    wait_false_alarms(&server, &am, 307).await;
    // Each is in the log: the game master's timeline names every one.
    let (_, timeline) = server.get("/timeline", Some(GM)).await;
    let burst_told = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["text"]
                .as_str()
                .is_some_and(|t| t.contains("(alertname=Burst"))
        })
        .count();
    assert_eq!(burst_told, 300);
}

/// The alerts Alertmanager holds (its own API), with their fingerprints.
async fn am_alerts(am: &RealAlertmanager) -> Vec<Value> {
    let answer = am
        .http
        .get(format!("{}/api/v2/alerts", am.url))
        .send()
        .await
        .expect("Alertmanager answers");
    assert!(answer.status().is_success(), "{}", am.log());
    answer.json().await.expect("Alertmanager's alerts")
}
