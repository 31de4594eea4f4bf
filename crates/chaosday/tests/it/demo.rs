//! `chaosday demo` for real: its shop (supervised children behind proxied links), its
//! monitoring page and ops tools, the game it generates, the bot that plays a team, and how
//! it ends: Ctrl-C reverts every fault and stops every child; `kill -9` leaves no child
//! behind, and the next run reverts and cleans up what is left. (`Demo` also drives
//! `demo --docker` in `demo_docker`.)

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Running, Sandbox, owned_port, owned_ports, processes_with, text, wait_until};

/// A running demo, its JSON lines collected as they come.
pub(crate) struct Demo {
    pub(crate) running: Running,
    pub(crate) lines: Arc<Mutex<Vec<Value>>>,
    pub(crate) stderr: PathBuf,
    pub(crate) ready: Value,
    pub(crate) http: reqwest::Client,
}

impl Demo {
    /// Starts `chaosday demo ARGS --output json` in `sandbox` and waits for its `ready` line.
    pub(crate) fn start(sandbox: &Sandbox, args: &[&str]) -> Demo {
        let mut all = vec!["demo", "--output", "json"];
        all.extend_from_slice(args);
        let stderr = sandbox.state_dir().join(format!(
            "demo-{}.stderr",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let log = std::fs::File::create(&stderr).unwrap();
        let child: Child = sandbox
            .command(&all)
            .env("RUST_LOG", "chaosday=info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start chaosday demo");
        let mut running = Running::from_child(child);
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = running.take_stdout();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sink.lock().unwrap().push(value);
            }
        });
        let mut demo = Demo {
            running,
            lines,
            stderr,
            ready: Value::Null,
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        };
        let ready = wait_until(Duration::from_secs(60), || {
            demo.event("ready").is_some() || demo.running.has_exited()
        });
        let line = demo.event("ready");
        assert!(
            ready && line.is_some(),
            "the demo did not get ready:\n{:?}\n{}",
            demo.lines.lock().unwrap(),
            demo.stderr()
        );
        demo.ready = line.unwrap();
        demo
    }

    pub(crate) fn event(&self, event: &str) -> Option<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .find(|l| l["event"] == event)
            .cloned()
    }

    pub(crate) fn events(&self, event: &str) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["event"] == event)
            .cloned()
            .collect()
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub(crate) fn url(&self, key: &str) -> String {
        self.ready["urls"][key].as_str().expect(key).to_owned()
    }

    pub(crate) fn gm_token(&self) -> String {
        self.ready["tokens"]["game_master"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub(crate) fn shop_dir(&self) -> PathBuf {
        Path::new(self.ready["state_dir"].as_str().unwrap()).join("shop")
    }

    pub(crate) async fn get(&self, url: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.http.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    pub(crate) async fn post(
        &self,
        url: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut request = self.http.post(url).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    pub(crate) async fn stats(&self) -> Value {
        let (status, stats) = self
            .get(&format!("{}api/stats", self.url("monitoring")), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        stats
    }

    pub(crate) async fn service(&self, name: &str) -> Value {
        let stats = self.stats().await;
        stats["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap()
    }

    /// Waits (at most `limit`) until `check` holds on the monitoring's view of `name`.
    pub(crate) async fn wait_service(
        &self,
        name: &str,
        limit: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let service = self.service(name).await;
            if check(&service) {
                return service;
            }
            assert!(
                start.elapsed() < limit,
                "{name}: not as expected after {limit:?}: {service}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Opens `scenario` against `team` now, as the game master, and waits for its fault.
    pub(crate) async fn unleash(&self, scenario: &str, team: &str) {
        let api = self.url("api");
        let (status, answer) = self
            .post(
                &format!("{api}/unleash"),
                Some(&self.gm_token()),
                json!({"scenario": scenario, "team": team, "player": "test"}),
            )
            .await;
        assert!(status.is_success(), "unleash {scenario}: {status} {answer}");
    }

    /// Waits until the referee's probe `name` is green (`ok`) or red.
    pub(crate) async fn wait_probe(&self, name: &str, ok: bool) {
        let start = Instant::now();
        loop {
            let (status, probes) = self
                .get(
                    &format!("{}/probes", self.url("api")),
                    Some(&self.gm_token()),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{probes}");
            let last = probes
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .map(|p| p["last"]["ok"].clone());
            if last == Some(Value::Bool(ok)) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "probe {name} is not {}: {probes}",
                if ok { "green" } else { "red" }
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub(crate) async fn faults(&self) -> Vec<Value> {
        let (status, faults) = self
            .get(
                &format!("{}/faults", self.url("api")),
                Some(&self.gm_token()),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{faults}");
        faults.as_array().cloned().unwrap_or_default()
    }
}

/// The shop processes of a demo's shop directory.
fn shop_processes(shop_dir: &Path) -> Vec<u32> {
    processes_with(&format!("--dir {}", shop_dir.display()))
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|raw| String::from_utf8_lossy(&raw).contains("__shop"))
        })
        .collect()
}

/// `chaosday ARGS` in `sandbox`, to completion.
fn chaosday(sandbox: &Sandbox, args: &[&str]) -> std::process::Output {
    sandbox.run(args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_a_game_that_its_bot_scores_its_ops_repair_and_ctrl_c_reverts() {
    let sandbox = Sandbox::new();
    // The API binds port 0 and the ready line says where; the shop's children bind their
    // ports themselves: a block this test owns, below the ephemeral range.
    let shop = owned_ports(16).to_string();
    let mut demo = Demo::start(
        &sandbox,
        &[
            "--bots",
            "--every",
            "5s",
            "--port",
            "0",
            "--shop-port",
            &shop,
            "--seed",
            "7",
        ],
    );
    let state_dir = sandbox.state_dir().join("demo");
    assert_eq!(
        demo.ready["state_dir"].as_str().map(PathBuf::from),
        Some(state_dir.canonicalize().unwrap()),
        "the demo's state directory is fixed: STATE_DIR/demo"
    );
    assert_eq!(demo.ready["bot_team"], "cart");
    assert_eq!(shop_processes(&demo.shop_dir()).len(), 5, "five services");

    // Every printed URL answers.
    for key in [
        "scoreboard",
        "team_console",
        "game_master_console",
        "monitoring",
        "ops",
        "openapi",
    ] {
        let url = demo.url(key);
        let answer = demo
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key} {url}: {e}"));
        let status = answer.status();
        assert!(
            status.is_success() || status.is_redirection(),
            "{key} {url} answered {status}"
        );
    }
    let (status, game) = demo.get(&format!("{}/game", demo.url("api")), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(game["game"], "chaosday-demo");
    assert_eq!(game["status"], "running");
    let page = demo
        .http
        .get(demo.url("monitoring"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Demo shop — monitoring"), "{page}");
    assert!(
        !page.contains("<script src"),
        "the page loads nothing from elsewhere"
    );

    // The monitoring sees every service answer and traffic on every link in use.
    let stats = demo.stats().await;
    assert_eq!(stats["services"].as_array().unwrap().len(), 5, "{stats}");
    let start = Instant::now();
    loop {
        let stats = demo.stats().await;
        let busy = stats["links"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["in_use"] == true)
            .all(|l| l["calls"]["requests"].as_u64().unwrap_or(0) > 0);
        if busy {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no traffic: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The bot plays the cart team: its score moves within the first minute or so.
    let start = Instant::now();
    let board = loop {
        let (status, board) = demo
            .get(&format!("{}/scoreboard", demo.url("api")), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{board}");
        let cart = board
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["team"] == "cart")
            .cloned()
            .unwrap_or_default();
        if cart["points"].as_i64().unwrap_or(0) != 0 {
            break board;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the scoreboard did not move in 2 minutes: {board}\n{:?}\n{}",
            demo.lines.lock().unwrap(),
            demo.stderr()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(!demo.events("bot").is_empty(), "the bot says what it does");
    assert!(
        demo.events("incident_opened")
            .iter()
            .all(|e| !e["text"].as_str().unwrap().contains("stock-")),
        "the console keeps scenarios secret"
    );
    println!("scoreboard after {:?}: {board}", start.elapsed());

    // The ops tools repair for real: a killed service runs again, from the command line the
    // game supervises.
    let spare = demo.service("catalog-spare").await;
    let old = spare["pid"].as_u64().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(old), Signal::SIGKILL).unwrap();
    demo.wait_service("catalog-spare", Duration::from_secs(10), |s| {
        s["health"] == "down"
    })
    .await;
    let shop_url = demo.url("monitoring");
    let shop_url = shop_url.trim_end_matches('/');
    let out = chaosday(
        &sandbox,
        &[
            "demo",
            "ops",
            "restart",
            "catalog-spare",
            "--shop",
            shop_url,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("started again"),
        "{}",
        text(&out.stdout)
    );
    let healed = demo
        .wait_service("catalog-spare", Duration::from_secs(10), |s| {
            s["health"] == "up"
        })
        .await;
    assert_ne!(healed["pid"].as_u64().unwrap() as i32, old);
    let argv = std::fs::read(format!("/proc/{}/cmdline", healed["pid"])).unwrap();
    assert!(String::from_utf8_lossy(&argv).contains("__shop\0catalog-spare\0--port"));
    // Failing over shows on the monitoring page, and back.
    let (status, answer) = demo
        .post(
            &format!("{shop_url}/api/ops/failover/storefront"),
            None,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    demo.wait_service("storefront", Duration::from_secs(10), |s| {
        s["route"] == "catalog-spare" || s["health"] != "up"
    })
    .await;
    let (status, _) = demo
        .post(
            &format!("{shop_url}/api/ops/failback/storefront"),
            None,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = demo
        .post(
            &format!("{shop_url}/api/ops/failover/stock"),
            None,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let out = chaosday(
        &sandbox,
        &[
            "demo", "ops", "status", "--shop", shop_url, "--output", "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.len(), 5);

    // A paused service at Ctrl-C: every fault is reverted, every child stopped.
    demo.unleash("catalog-hang", "storefront").await;
    let faults = demo.faults().await;
    assert!(!faults.is_empty(), "a fault is active");
    let shop_dir = demo.shop_dir();
    demo.running.signal(Signal::SIGINT);
    let out = demo.running.finish(Duration::from_secs(40));
    assert!(out.status.success(), "{:?}: {}", out.status, demo.stderr());
    assert!(demo.event("stopping").is_some() && demo.event("stopped").is_some());
    assert!(
        shop_processes(&shop_dir).is_empty(),
        "shop processes left: {:?}",
        shop_processes(&shop_dir)
    );
    let out = chaosday(
        &sandbox,
        &[
            "fault",
            "list",
            "--output",
            "json",
            "--state-dir",
            state_dir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let live: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(live.is_empty(), "faults left: {live:?}");
    assert!(
        !text(&out.stderr).contains("reverted fault"),
        "nothing was left for recovery: {}",
        text(&out.stderr)
    );

    // The game it wrote passes `chaosday validate`.
    let game_file = state_dir.join("game.yaml");
    let out = chaosday(&sandbox, &["validate", game_file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_demo_leaves_no_shop_behind_and_the_next_run_reverts_and_cleans_up() {
    let sandbox = Sandbox::new();
    // The API binds port 0 and the ready line says where; the shop's children bind their
    // ports themselves: a block this test owns, below the ephemeral range.
    let shop = owned_ports(16).to_string();
    let args = ["--every", "10m", "--port", "0", "--shop-port", &shop];
    let mut demo = Demo::start(&sandbox, &args);
    let shop_dir = demo.shop_dir();
    assert_eq!(shop_processes(&shop_dir).len(), 5);
    // A fault in effect (the stock paused), then the demo dies without a word.
    demo.unleash("stock-hang", "cart").await;
    assert_eq!(demo.faults().await.len(), 1);

    // A team's repair is real: the catalog killed, the referee's probe goes red; restarted
    // with the ops tool, it goes green, and the game tracks the new process (its next fault
    // finds it).
    let old = demo.service("catalog").await["pid"].as_u64().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(old as i32), Signal::SIGKILL).unwrap();
    demo.wait_probe("storefront-products", false).await;
    let shop_url = demo.url("monitoring");
    let out = chaosday(
        &sandbox,
        &[
            "demo",
            "ops",
            "restart",
            "catalog",
            "--shop",
            shop_url.trim_end_matches('/'),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    demo.wait_probe("storefront-products", true).await;
    let new = demo
        .wait_service("catalog", Duration::from_secs(10), |s| s["health"] == "up")
        .await["pid"]
        .as_u64()
        .unwrap();
    assert_ne!(new, old);
    demo.unleash("catalog-hang", "storefront").await;
    let faults = demo.faults().await;
    assert!(
        faults.iter().any(|f| f["description"]
            .as_str()
            .unwrap()
            .contains(&format!("pid {new}"))),
        "the pause found the restarted catalog: {faults:?}"
    );
    demo.running.kill_9();
    assert!(
        wait_until(Duration::from_secs(10), || shop_processes(&shop_dir)
            .is_empty()),
        "the shop outlived the demo: {:?}",
        shop_processes(&shop_dir)
    );

    // Something the last run left (started outside any demo, so nothing killed it).
    let stock_port = demo.ready["services"]["stock"]
        .as_u64()
        .unwrap()
        .to_string();
    let mut stale = Command::new(env!("CARGO_BIN_EXE_chaosday"))
        .args(["__shop", "stock", "--port", &stock_port, "--dir"])
        .arg(&shop_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || shop_processes(
        &shop_dir
    )
    .len()
        == 1));

    let mut next = Demo::start(&sandbox, &args);
    let cleaned = next
        .event("cleaned_up")
        .expect("the next run says what it stopped");
    assert_eq!(cleaned["pids"], json!([stale.id()]), "{cleaned}");
    assert!(
        stale.try_wait().unwrap().is_some(),
        "the stale shop process was stopped"
    );
    assert!(
        next.stderr()
            .contains("left active by a chaosday process that died"),
        "the journal's recovery reverted the two pauses: {}",
        next.stderr()
    );
    assert_eq!(shop_processes(&shop_dir).len(), 5, "a fresh shop");
    assert!(next.faults().await.is_empty(), "a fresh game");
    let (_, game) = next.get(&format!("{}/game", next.url("api")), None).await;
    assert_eq!(game["status"], "running");
    assert_eq!(
        next.ready["tokens"], demo.ready["tokens"],
        "the tokens are kept from one run to the next"
    );

    // The printed terminal hints run as printed, pasted into a shell, one after the other.
    let hints: Vec<&str> = next.ready["terminal"]
        .as_array()
        .expect("the ready line carries the terminal hints")
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(hints[0].starts_with("export CHAOSDAY_URL="), "{hints:?}");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_chaosday")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let ran = Command::new("sh")
        .arg("-c")
        .arg(format!("set -eu\n{}", hints.join("\n")))
        .env("PATH", path)
        .env_remove("CHAOSDAY_URL")
        .env_remove("CHAOSDAY_TOKEN")
        .env_remove("CHAOSDAY_DEMO_SHOP")
        .env_remove("CHAOSDAY_OUTPUT")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{hints:#?}\n{}\n{}",
        text(&ran.stdout),
        text(&ran.stderr)
    );
    assert!(
        text(&ran.stdout).contains("false alarm"),
        "{}",
        text(&ran.stdout)
    );

    // One shared ops log: what the terminal did (as CHAOSDAY_PLAYER), what a page's button
    // does (`?by=`), every client reads it, newest first.
    let shop = next.url("monitoring");
    let shop = shop.trim_end_matches('/');
    let (status, _) = next
        .post(
            &format!("{shop}/api/ops/rollback/catalog?by=ada%20%3Cb%3E"),
            None,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, log) = next.get(&format!("{shop}/api/ops/log"), None).await;
    let log = log.as_array().expect("the log is a list");
    let seen: Vec<(String, String, String)> = log
        .iter()
        .map(|e| {
            (
                e["by"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["service"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen.first(),
        Some(&("ada <b>".into(), "rollback".into(), "catalog".into())),
        "newest first, the name as given (the page escapes it): {seen:?}"
    );
    for (action, service) in [
        ("restart", "catalog"),
        ("failover", "storefront"),
        ("failback", "storefront"),
    ] {
        assert!(
            seen.contains(&("you".into(), action.into(), service.into())),
            "{action} {service} by the terminal's player: {seen:?}"
        );
    }
    assert!(
        log.iter()
            .all(|e| e["at_ms"].as_i64().unwrap() > 0 && e["ok"] == true)
    );
    let (_, stats) = next.get(&format!("{shop}/api/stats"), None).await;
    assert_eq!(
        stats["ops_log"].as_array(),
        Some(log),
        "the page reads the same log"
    );

    // Each run keeps its own event log: the first run's is still there, and its report
    // can still be written.
    let first = PathBuf::from(demo.ready["store"].as_str().unwrap());
    let second = PathBuf::from(next.ready["store"].as_str().unwrap());
    assert_ne!(first, second);
    assert_eq!(first.parent(), second.parent(), "one folder of games");
    assert!(
        first.exists(),
        "the first run's log is kept: {}",
        first.display()
    );
    let report = chaosday(
        &sandbox,
        &[
            "report",
            "--store",
            first.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(report.status.success(), "{}", text(&report.stderr));
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["game"], "chaosday-demo");
    assert!(
        report["summary"]["incidents"].as_u64().unwrap() >= 1,
        "the first run's incidents: {report}"
    );

    next.running.signal(Signal::SIGTERM);
    let out = next.running.finish(Duration::from_secs(40));
    assert!(out.status.success(), "{:?}: {}", out.status, next.stderr());
    assert!(shop_processes(&shop_dir).is_empty());
    assert!(wait_until(Duration::from_secs(5), || next
        .event("stopped")
        .is_some()));
    let stopped = next.event("stopped").expect("a stopped line");
    assert_eq!(stopped["store"], next.ready["store"]);
}

#[test]
fn a_second_demo_on_the_same_state_directory_is_refused_and_bad_flags_are_usage_errors() {
    let sandbox = Sandbox::new();
    let out = chaosday(&sandbox, &["demo", "--every", "1s"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--every"),
        "{}",
        text(&out.stderr)
    );
    let out = chaosday(&sandbox, &["demo", "--bots", "--bot-team", "search"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = chaosday(&sandbox, &["demo", "--shop-port", "65530"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // The ops tools without a demo to talk to.
    let nowhere = format!("http://127.0.0.1:{}", owned_port());
    let out = chaosday(
        &sandbox,
        &["demo", "ops", "restart", "stock", "--shop", &nowhere],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is `chaosday demo` running?"),
        "{}",
        text(&out.stderr)
    );
    let out = chaosday(&sandbox, &["demo", "ops", "reboot", "stock"]);
    assert_eq!(out.status.code(), Some(2));

    // One demo per state directory: the lock says who holds it.
    let dir = sandbox.state_dir().join("demo");
    std::fs::create_dir_all(&dir).unwrap();
    let holder = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("demo.lock"))
        .unwrap();
    let _held = nix::fcntl::Flock::lock(holder, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .unwrap();
    let out = chaosday(
        &sandbox,
        &["demo", "--shop-port", &owned_ports(16).to_string()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("another chaosday demo"),
        "{}",
        text(&out.stderr)
    );
}

/// What a scenario must show on the shop's monitoring page.
enum Shows {
    /// The service's health (`down`, `hung`).
    Service(&'static str, &'static str),
    /// Calls through the link fail, mostly for this reason.
    Failing(&'static str, &'static str),
    /// Calls through the link are slow (p95 ≥ 400 ms) and do not fail.
    Slow(&'static str),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_storefront_scenario_shows_on_the_monitoring_page_and_turns_its_probe_red() {
    use Shows::*;
    let cases = [
        (
            "storefront-crash",
            "storefront",
            Service("storefront", "down"),
            "storefront-products",
        ),
        (
            "catalog-hang",
            "storefront",
            Service("catalog", "hung"),
            "storefront-products",
        ),
        (
            "catalog-errors",
            "storefront",
            Failing("catalog-link", "http_5xx"),
            "storefront-products",
        ),
        (
            "catalog-unreachable",
            "storefront",
            Failing("catalog-link", "refused"),
            "storefront-products",
        ),
        (
            "catalog-slow",
            "storefront",
            Slow("catalog-link"),
            "storefront-products",
        ),
        (
            "front-door-flaky",
            "storefront",
            Failing("storefront-link", "http_5xx"),
            "storefront-products",
        ),
    ];
    let (demo, _sandbox, missed) = play_each(&cases).await;

    // The manual one: the game master breaks the catalog's config with the ops tool and says
    // so; the catalog fails by itself; rolling it back repairs it.
    let api = demo.url("api");
    let gm = demo.gm_token();
    let shop_url = demo.url("monitoring");
    let (status, _) = demo
        .post(
            &format!("{shop_url}api/ops/break/catalog"),
            None,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = demo
        .post(
            &format!("{api}/inject-manual"),
            Some(&gm),
            json!({"scenario": "catalog-bad-config", "team": "storefront", "player": "test"}),
        )
        .await;
    assert!(status.is_success(), "{answer}");
    // The game master is told the incident's number, as for an unleash.
    let said = answer["message"].as_str().unwrap_or_default();
    assert!(
        said.contains("is open: #") && said.contains("against storefront"),
        "{answer}"
    );
    let broken = demo
        .wait_service("catalog", Duration::from_secs(10), |s| {
            s["served"]["errors_by_kind"]["internal"]
                .as_u64()
                .unwrap_or(0)
                > 0
        })
        .await;
    assert_eq!(broken["config"], "bad");
    let (status, _) = demo
        .post(
            &format!("{shop_url}api/ops/rollback/catalog"),
            None,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    demo.wait_service("catalog", Duration::from_secs(10), |s| {
        s["config"] == "good"
    })
    .await;
    assert!(missed.is_empty(), "{missed:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cart_scenario_shows_on_the_monitoring_page_and_turns_its_probe_red() {
    use Shows::*;
    let cases = [
        (
            "cart-crash",
            "cart",
            Service("cart", "down"),
            "cart-checkout",
        ),
        (
            "stock-hang",
            "cart",
            Service("stock", "hung"),
            "cart-checkout",
        ),
        ("stock-latency", "cart", Slow("stock-link"), "cart-checkout"),
        (
            "stock-trickle",
            "cart",
            Failing("stock-link", "partial_response"),
            "cart-checkout",
        ),
        (
            "stock-blackhole",
            "cart",
            Failing("stock-link", "no_response"),
            "cart-checkout",
        ),
        (
            "stock-resets",
            "cart",
            Failing("stock-link", "reset"),
            "cart-checkout",
        ),
        (
            "stock-sliced",
            "cart",
            Failing("stock-link", "partial_response"),
            "cart-checkout",
        ),
        (
            "stock-slow-close",
            "cart",
            Failing("stock-link", "close_wait"),
            "cart-checkout",
        ),
        (
            "stock-truncated",
            "cart",
            Failing("stock-link", "truncated"),
            "cart-checkout",
        ),
        (
            "checkout-door-slow",
            "cart",
            Slow("cart-link"),
            "cart-checkout",
        ),
    ];
    let (_demo, _sandbox, missed) = play_each(&cases).await;
    assert!(missed.is_empty(), "{missed:#?}");
}

/// Opens each scenario in turn on a demo of its own (nothing else opens any), checks that it
/// shows on the page and turns its probe red, then puts everything back with the kill
/// switch. Returns the demo, its sandbox and what did not show.
async fn play_each(cases: &[(&str, &str, Shows, &str)]) -> (Demo, Sandbox, Vec<String>) {
    let sandbox = Sandbox::new();
    // The API binds port 0 and the ready line says where; the shop's children bind their
    // ports themselves: a block this test owns, below the ephemeral range.
    let shop = owned_ports(16).to_string();
    let demo = Demo::start(
        &sandbox,
        &["--every", "10m", "--port", "0", "--shop-port", &shop],
    );
    let api = demo.url("api");
    let gm = demo.gm_token();
    let probe_ok = |probes: &Value, name: &str| {
        probes
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["last"]["ok"] == true)
    };
    let mut missed = Vec::new();
    for (scenario, team, shows, probe) in cases {
        let (scenario, team, probe) = (*scenario, *team, *probe);
        demo.unleash(scenario, team).await;
        let start = Instant::now();
        let (mut seen, mut red) = (false, false);
        while !(seen && red) && start.elapsed() < Duration::from_secs(15) {
            tokio::time::sleep(Duration::from_millis(300)).await;
            seen = seen || shows_on(&demo.stats().await, shows);
            let (_, probes) = demo.get(&format!("{api}/probes"), Some(&gm)).await;
            red = red || probe_ok(&probes, probe) == Some(false);
        }
        if !(seen && red) {
            missed.push(format!(
                "{scenario}: seen on the page {seen}, probe {probe} red {red}: {}",
                demo.stats().await
            ));
        }
        // The kill switch puts everything back; then the game goes on.
        for (path, body) in [
            ("/abort", json!({})),
            ("/rearm", json!({})),
            ("/game/resume", json!({})),
        ] {
            let mut body = body;
            body["player"] = json!("test");
            let (status, answer) = demo.post(&format!("{api}{path}"), Some(&gm), body).await;
            assert!(status.is_success(), "{path}: {status} {answer}");
        }
        let start = Instant::now();
        loop {
            let (_, probes) = demo.get(&format!("{api}/probes"), Some(&gm)).await;
            if probe_ok(&probes, probe) == Some(true) && demo.faults().await.is_empty() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "{scenario}: the probe stays red after the kill switch: {probes}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // The page's window (5 s) forgets this scenario before the next one opens: its
        // service is up, or its link has no failed or slow call left.
        let start = Instant::now();
        loop {
            let stats = demo.stats().await;
            if forgotten(&stats, shows) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{scenario}: the page still shows it 30 s after the kill switch: {stats}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    (demo, sandbox, missed)
}

/// The entry named `name` in the list `list` (`services`, `links`) of the page's `stats`.
fn entry(stats: &Value, list: &str, name: &str) -> Value {
    stats[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("the monitoring page lists no {list} entry {name}"))
}

/// Whether the monitoring page's `stats` show nothing left of a scenario that `shows` this.
fn forgotten(stats: &Value, shows: &Shows) -> bool {
    let find = |list: &str, name: &str| entry(stats, list, name);
    match shows {
        Shows::Service(name, _) => find("services", name)["health"] == "up",
        Shows::Failing(name, _) | Shows::Slow(name) => {
            let calls = &find("links", name)["calls"];
            calls["error_rate"].as_f64().unwrap_or(0.0) == 0.0
                && calls["p95_ms"].as_f64().unwrap_or(0.0) < 400.0
        }
    }
}

/// Whether the monitoring page's `stats` show what `shows` says.
fn shows_on(stats: &Value, shows: &Shows) -> bool {
    use Shows::*;
    let find = |list: &str, name: &str| entry(stats, list, name);
    match shows {
        Service(name, health) => find("services", name)["health"] == *health,
        Failing(name, why) => {
            let calls = &find("links", name)["calls"];
            let kinds = calls["errors_by_kind"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let main = kinds
                .iter()
                .max_by_key(|(_, n)| n.as_u64())
                .map(|(k, _)| k.clone());
            calls["error_rate"].as_f64().unwrap_or(0.0) >= 0.2 && main.as_deref() == Some(why)
        }
        Slow(name) => {
            let calls = &find("links", name)["calls"];
            calls["error_rate"].as_f64() == Some(0.0)
                && calls["p95_ms"].as_f64().unwrap_or(0.0) >= 400.0
        }
    }
}
