//! `chaosday monkey` against real processes, links and containers, on short working days
//! (seconds, not hours): the time zone is chosen so that it is about noon there, and the
//! working hours are a window a few seconds ahead, so a day never crosses midnight.
//!
//! Each test reads the monkey's own answers (its API, the log's fates) and checks them
//! against the world: a paused process's state, a link that refuses connections, a
//! container's state, the host's revert journal.

use std::io::BufRead;
use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Running, Sandbox, Victim, text, unique};

const OPERATOR: &str = "operator-token-0123456789";
const OWNER: &str = "checkout-owner-token-0123456789";
const OTHER_OWNER: &str = "search-owner-token-0123456789";

/// Working hours from `start_in` from now, lasting `length`, in a zone where it is about
/// noon; the plan is drawn at once (its run hour has passed).
pub(crate) fn when(start_in: Duration, length: Duration) -> String {
    let now = jiff::Timestamp::now();
    let utc_hour = now.to_zoned(jiff::tz::TimeZone::UTC).hour();
    let offset = 12 - i32::from(utc_hour);
    // POSIX-style names: Etc/GMT-3 is three hours ahead of UTC.
    let zone = match offset {
        0 => "Etc/GMT".to_owned(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    };
    let tz = jiff::tz::TimeZone::get(&zone).expect("an Etc zone");
    let at = |d: jiff::SignedDuration| {
        now.checked_add(d)
            .expect("a time")
            .to_zoned(tz.clone())
            .strftime("%H:%M:%S")
            .to_string()
    };
    let start = jiff::SignedDuration::try_from(start_in).unwrap();
    let end = start + jiff::SignedDuration::try_from(length).unwrap();
    format!(
        "when: {{ timezone: \"{zone}\", days: [mon, tue, wed, thu, fri, sat, sun], hours: \"{}-{}\", run_hour: \"{}\" }}",
        at(start),
        at(end),
        at(jiff::SignedDuration::from_secs(-120)),
    )
}

/// A monkey file.
pub(crate) fn monkey_file(mode: &str, when: &str, rest: &str) -> String {
    format!(
        "monkey: it-monkey\noperator: {{ token_env: MONKEY_TOKEN }}\nmode: {mode}\n{when}\n{rest}\n"
    )
}

/// A running monkey, and an HTTP client for its API.
pub(crate) struct MonkeyRun {
    running: Running,
    pub(crate) url: String,
    http: reqwest::Client,
}

impl MonkeyRun {
    /// Starts `chaosday monkey` on `yaml` in `sandbox`, its page on a port the kernel picks.
    pub(crate) fn start(sandbox: &Sandbox, yaml: &str) -> Self {
        Self::start_with(sandbox, yaml, &[])
    }

    /// The same, with these environment variables too.
    fn start_with(sandbox: &Sandbox, yaml: &str, env: &[(&str, &Path)]) -> Self {
        let path = sandbox
            .state_dir()
            .join(format!("monkey-{}.yaml", unique()));
        std::fs::write(&path, yaml).unwrap();
        let mut command = sandbox.command(&[
            "--output",
            "json",
            "monkey",
            path.to_str().unwrap(),
            "--bind",
            "127.0.0.1:0",
            "--probe-every",
            "100ms",
            "--recovery-watch",
            "20s",
            "--seed",
            "7",
        ]);
        command.envs(env.iter().copied());
        let child = command
            .env("MONKEY_TOKEN", OPERATOR)
            .env("CHECKOUT_OWNER", OWNER)
            .env("SEARCH_OWNER", OTHER_OWNER)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chaosday monkey");
        let mut running = Running::from_child(child);
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(running.take_stdout());
        stdout
            .read_line(&mut line)
            .expect("the monkey's first line");
        // The rest is drained, so that the monkey's later lines find a reader.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let listening: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            let out = running.finish(Duration::from_secs(5));
            panic!("the monkey did not start: {line}{}", text(&out.stderr))
        });
        MonkeyRun {
            running,
            url: format!("http://{}", listening["address"].as_str().unwrap()),
            http: reqwest::Client::new(),
        }
    }

    async fn status(&self) -> Value {
        self.http
            .get(format!("{}/api/v1/monkey", self.url))
            .send()
            .await
            .expect("the monkey answers")
            .json()
            .await
            .expect("JSON")
    }

    /// Polls the status until `done` holds (at most `limit`), calling `meanwhile` on every
    /// poll; returns the last status.
    async fn wait(
        &self,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
        mut meanwhile: impl FnMut(),
    ) -> Value {
        let start = std::time::Instant::now();
        loop {
            let status = self.status().await;
            meanwhile();
            if done(&status) {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "not reached in {limit:?}: {status:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (20 s at most) for the day's plan; the targets of its first fault, sorted.
    async fn first_planned_targets(&self) -> Vec<String> {
        let status = self
            .wait(Duration::from_secs(20), |s| !plan(s).is_empty(), || {})
            .await;
        let mut planned: Vec<String> = plan(&status)[0]["targets"]
            .as_array()
            .expect("a fault's targets")
            .iter()
            .map(|t| t.as_str().expect("a target").to_owned())
            .collect();
        planned.sort();
        planned
    }

    /// Polls until one of its planned faults is in effect (at most `limit`).
    async fn wait_active(&self, limit: Duration) -> Value {
        self.wait(
            limit,
            |s| plan(s).iter().any(|p| p["status"] == "active"),
            || {},
        )
        .await
    }

    /// Ctrl-C, and its exit.
    fn stop(&mut self) -> std::process::Output {
        self.running.signal(nix::sys::signal::Signal::SIGINT);
        self.running.finish(Duration::from_secs(20))
    }
}

/// The planned faults of the status, in plan order.
fn plan(status: &Value) -> Vec<Value> {
    status["plan"].as_array().cloned().unwrap_or_default()
}

/// Whether every planned fault is decided and over (`ended`, `skipped`, `failed`).
fn all_over(status: &Value) -> bool {
    let plan = plan(status);
    !plan.is_empty()
        && plan
            .iter()
            .all(|p| matches!(p["status"].as_str(), Some("ended" | "skipped" | "failed")))
}

/// The monkey's faults in the host's revert journal, live or not.
fn journal_faults(sandbox: &Sandbox) -> Vec<Value> {
    let out = sandbox.run(&["fault", "list", "--all", "--output", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    list.into_iter()
        .filter(|f| {
            f["origin"]
                .as_str()
                .is_some_and(|o| o.starts_with("monkey:"))
        })
        .collect()
}

#[tokio::test]
async fn a_leashed_day_decides_and_announces_but_touches_nothing() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let yaml = monkey_file(
        "leashed",
        &when(Duration::from_secs(2), Duration::from_secs(10)),
        &format!(
            "targets:\n  victim: {{ process: {{ command: \"{}\" }} }}\ngroups:\n  - {{ name: victims, targets: [victim], faults: [{{fault: {{kind: pause}}, for: 2s}}], mtbf: 0.01, max_per_day: 2, min_gap: 3s }}",
            victim.command_line
        ),
    );
    let mut monkey = MonkeyRun::start(&sandbox, &yaml);
    let mut states = Vec::new();
    let status = monkey
        .wait(Duration::from_secs(30), all_over, || {
            states.push(victim.state())
        })
        .await;
    let plan = plan(&status);
    assert_eq!(plan.len(), 2, "{status:#}");
    for fault in &plan {
        assert_eq!(fault["status"], "ended", "{fault:#}");
        assert_eq!(fault["fate"], "leashed: nothing was touched", "{fault:#}");
    }
    assert!(
        states.iter().all(|s| *s == Some('S')),
        "the victim was touched: {states:?}"
    );
    assert_eq!(status["groups"]["victims"]["leashed"], 2);
    assert_eq!(status["groups"]["victims"]["injected"], 0);
    assert_eq!(
        journal_faults(&sandbox),
        Vec::<Value>::new(),
        "nothing in the journal"
    );
    let out = monkey.stop();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// A TCP server that accepts and holds connections, in a thread.
fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

#[tokio::test]
async fn an_unleashed_short_day_injects_and_reverts_on_schedule() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let listen = chaosday_testkit::owned_port();
    let yaml = monkey_file(
        "unleashed",
        &when(Duration::from_secs(2), Duration::from_secs(14)),
        &format!(
            "targets:
  victim: {{ process: {{ command: \"{command}\" }} }}
  db: {{ link: {{ listen: \"127.0.0.1:{listen}\", upstream: \"127.0.0.1:{upstream}\" }} }}
probes:
  db-up: {{ tcp: {{ address: \"127.0.0.1:{listen}\", timeout: 500ms }} }}
groups:
  - {{ name: victims, targets: [victim], faults: [{{fault: {{kind: pause}}, for: 2s}}], mtbf: 0.01, max_per_day: 2, min_gap: 4s }}
  - {{ name: links, targets: [db], faults: [{{fault: {{kind: down}}, for: 2s}}], mtbf: 0.01, max_per_day: 1, probes: [db-up] }}",
            command = victim.command_line,
            upstream = upstream(),
        ),
    );
    let mut monkey = MonkeyRun::start(&sandbox, &yaml);
    let mut paused_seen = false;
    let mut refused_seen = false;
    let status = monkey
        .wait(
            Duration::from_secs(40),
            |s| {
                all_over(s)
                    && s["groups"]["links"]["recoveries_ms"]
                        .as_array()
                        .is_some_and(|r| !r.is_empty())
            },
            || {
                paused_seen |= victim.is_stopped();
                refused_seen |= std::net::TcpStream::connect(("127.0.0.1", listen)).is_err();
            },
        )
        .await;
    assert!(paused_seen, "the victim was never paused");
    assert!(refused_seen, "the link never refused a connection");
    assert_eq!(victim.state(), Some('S'), "the victim runs again");
    std::net::TcpStream::connect(("127.0.0.1", listen)).expect("the link is up again");
    for entry in plan(&status).iter().filter(|e| e["status"] != "skipped") {
        let at = entry["at_ms"].as_i64().unwrap();
        let injected = entry["injected_ms"].as_i64().expect("injected");
        let ended = entry["ended_ms"].as_i64().expect("ended");
        let lasts = entry["lasts_ms"].as_i64().unwrap();
        assert!(
            (0..1_000).contains(&(injected - at)),
            "injected {} ms after its time: {entry:#}",
            injected - at
        );
        assert!(
            (lasts - 200..lasts + 1_500).contains(&(ended - injected)),
            "lasted {} ms for {lasts}: {entry:#}",
            ended - injected
        );
        assert_eq!(entry["end"], "timer", "{entry:#}");
    }
    assert_eq!(status["groups"]["victims"]["injected"], 2, "{status:#}");
    assert_eq!(status["groups"]["links"]["injected"], 1, "{status:#}");
    // The same figures for Prometheus.
    let metrics = monkey
        .http
        .get(format!("{}/metrics", monkey.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "chaosday_monkey_faults_injected_total{group=\"victims\",mode=\"unleashed\"} 2",
        "chaosday_monkey_faults_injected_total{group=\"links\",mode=\"unleashed\"} 1",
        "chaosday_monkey_faults_reverted_total{group=\"victims\",cause=\"timer\"} 2",
        "chaosday_monkey_recovery_seconds_count{group=\"links\"} 1",
        "chaosday_monkey_armed 1",
        "chaosday_monkey_unleashed 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
    let faults = journal_faults(&sandbox);
    assert_eq!(faults.len(), 3, "{faults:#?}");
    assert!(
        faults.iter().all(|f| f["state"] == "reverted"),
        "{faults:#?}"
    );
    let out = monkey.stop();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Its history, from its log.
    let report = sandbox.run(&["report", "--monkey", "--format", "json"]);
    assert!(report.status.success(), "{}", text(&report.stderr));
    let report: Value = serde_json::from_slice(&report.stdout).expect("JSON");
    assert_eq!(report["monkey"], "it-monkey");
    assert_eq!(report["groups"]["victims"]["injected"], 2);
    assert_eq!(
        report["groups"]["links"]["recoveries_ms"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let csv = sandbox.run(&["report", "--monkey", "it-monkey", "--format", "csv"]);
    assert!(csv.status.success(), "{}", text(&csv.stderr));
    assert_eq!(
        text(&csv.stdout).trim_end().split("\r\n").count(),
        1 + plan(&status).len()
    );
    let html = sandbox.run(&["report", "--monkey"]);
    assert_eq!(text(&html.stdout).matches("<svg").count(), 2);
    // The game report does not take a monkey for a game.
    let game = sandbox.run(&[
        "report",
        "--store",
        sandbox.state_dir().join("monkey.sqlite").to_str().unwrap(),
    ]);
    assert_eq!(game.status.code(), Some(1));
    assert!(
        text(&game.stderr).contains("holds no game yet"),
        "{}",
        text(&game.stderr)
    );
}

/// The yaml of one group of one victim, paused for `lasts` twice, `gap` apart.
fn victim_group(victim: &Victim, extra: &str, lasts: &str, gap: &str, group_extra: &str) -> String {
    format!(
        "targets:\n  victim: {{ process: {{ command: \"{}\" }} }}\n{extra}\ngroups:\n  - {{ name: checkout, targets: [victim], faults: [{{fault: {{kind: pause}}, for: {lasts}}}], mtbf: 0.01, max_per_day: 2, min_gap: {gap}, owner: {{ name: checkout team, token_env: CHECKOUT_OWNER }}{group_extra} }}\n  - {{ name: search, targets: [victim], faults: [{{fault: {{kind: pause}}, for: 1s}}], mtbf: 1000, owner: {{ name: search team, token_env: SEARCH_OWNER }} }}",
        victim.command_line
    )
}

#[tokio::test]
async fn an_owner_skips_one_planned_fault_and_the_skip_holds() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let yaml = monkey_file(
        "unleashed",
        &when(Duration::from_secs(8), Duration::from_secs(10)),
        &victim_group(&victim, "", "2s", "4s", ""),
    );
    let mut monkey = MonkeyRun::start(&sandbox, &yaml);
    let status = monkey
        .wait(Duration::from_secs(10), |s| !plan(s).is_empty(), || {})
        .await;
    let first = plan(&status)
        .into_iter()
        .find(|p| p["group"] == "checkout")
        .expect("a checkout fault");
    let id = first["id"].as_str().unwrap().to_owned();
    let skip = |token: Option<&str>| {
        let mut command = sandbox.command(&[
            "monkey",
            "skip",
            &id,
            "--reason",
            "release <freeze>",
            "--url",
            &monkey.url,
        ]);
        command.env_remove("CHAOSDAY_TOKEN");
        if let Some(token) = token {
            command.env("CHAOSDAY_TOKEN", token);
        }
        command.output().expect("chaosday monkey skip")
    };
    // No token: a usage error; another group's owner: refused; a token of no one: refused.
    assert_eq!(skip(None).status.code(), Some(2));
    let other = skip(Some(OTHER_OWNER));
    assert_eq!(other.status.code(), Some(1));
    assert!(
        text(&other.stderr).contains("does not own group `checkout`"),
        "{}",
        text(&other.stderr)
    );
    assert_eq!(
        skip(Some("not-a-token-of-this-monkey")).status.code(),
        Some(1)
    );
    // The group's owner.
    let out = skip(Some(OWNER));
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Twice is a conflict: it is no longer planned.
    let again = skip(Some(OPERATOR));
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("is no longer planned"),
        "{}",
        text(&again.stderr)
    );
    let mut paused_during_skipped = false;
    let first_end = first["at_ms"].as_i64().unwrap() + 2_000;
    let status = monkey
        .wait(Duration::from_secs(30), all_over, || {
            let now = jiff::Timestamp::now().as_millisecond();
            if now < first_end {
                paused_during_skipped |= victim.is_stopped();
            }
        })
        .await;
    assert!(
        !paused_during_skipped,
        "the skipped fault paused the victim"
    );
    let skipped = plan(&status)
        .into_iter()
        .find(|p| p["id"] == id.as_str())
        .unwrap();
    assert_eq!(skipped["status"], "skipped");
    assert_eq!(
        skipped["fate"],
        "skipped by checkout team: release <freeze>"
    );
    // The page shows it, escaped.
    let page = monkey
        .http
        .get(&monkey.url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("skipped by checkout team: release &lt;freeze&gt;")
            || page.contains("release &#60;freeze&#62;"),
        "{page}"
    );
    assert!(!page.contains("<freeze>"), "{page}");
    let injected: Vec<Value> = plan(&status)
        .into_iter()
        .filter(|p| p["status"] == "ended")
        .collect();
    assert_eq!(injected.len(), 1, "the other fault went ahead: {status:#}");
    assert_eq!(journal_faults(&sandbox).len(), 1);
    monkey.stop();
}

#[tokio::test]
async fn a_group_whose_probe_is_red_is_left_alone() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    // Nothing listens there.
    let closed = chaosday_testkit::owned_port();
    let yaml = monkey_file(
        "unleashed",
        &when(Duration::from_secs(2), Duration::from_secs(8)),
        &victim_group(
            &victim,
            &format!(
                "probes:\n  cart-up: {{ tcp: {{ address: \"127.0.0.1:{closed}\", timeout: 300ms }} }}"
            ),
            "1s",
            "2s",
            ", probes: [cart-up]",
        ),
    );
    let mut monkey = MonkeyRun::start(&sandbox, &yaml);
    let mut states = Vec::new();
    let status = monkey
        .wait(Duration::from_secs(30), all_over, || {
            states.push(victim.state())
        })
        .await;
    let checkout: Vec<Value> = plan(&status)
        .into_iter()
        .filter(|p| p["group"] == "checkout")
        .collect();
    assert_eq!(checkout.len(), 2, "{status:#}");
    for fault in &checkout {
        assert_eq!(fault["skipped"], "outage", "{fault:#}");
        assert!(
            fault["fate"]
                .as_str()
                .unwrap()
                .contains("the group is already broken (cart-up"),
            "{fault:#}"
        );
    }
    assert!(
        states.iter().all(|s| *s == Some('S')),
        "the victim was touched: {states:?}"
    );
    assert_eq!(journal_faults(&sandbox), Vec::<Value>::new());
    monkey.stop();
}

#[tokio::test]
async fn a_guard_that_goes_red_reverts_the_fault_early() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let guarded = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = guarded.local_addr().unwrap().port();
    let yaml = monkey_file(
        "unleashed",
        &when(Duration::from_secs(2), Duration::from_secs(30)),
        &victim_group(
            &victim,
            &format!(
                "guards:\n  orders: {{ tcp: {{ address: \"127.0.0.1:{port}\", timeout: 300ms }}, fail_for: 300ms }}"
            ),
            "20s",
            "1h",
            ", guards: [orders]",
        ),
    );
    let mut monkey = MonkeyRun::start(&sandbox, &yaml);
    let status = monkey.wait_active(Duration::from_secs(20)).await;
    assert!(victim.is_stopped(), "{status:#}");
    // The guard goes red: the fault is reverted long before its 20 s.
    drop(guarded);
    let status = monkey
        .wait(
            Duration::from_secs(10),
            |s| plan(s).iter().any(|p| p["status"] == "ended"),
            || {},
        )
        .await;
    let ended = plan(&status)
        .into_iter()
        .find(|p| p["status"] == "ended")
        .unwrap();
    assert_eq!(ended["end"], "guard", "{ended:#}");
    assert!(
        ended["fate"]
            .as_str()
            .unwrap()
            .contains("guard orders stayed red"),
        "{ended:#}"
    );
    let lasted = ended["ended_ms"].as_i64().unwrap() - ended["injected_ms"].as_i64().unwrap();
    assert!(lasted < 10_000, "reverted after {lasted} ms");
    assert_eq!(victim.state(), Some('S'));
    monkey.stop();
}

#[tokio::test]
async fn the_kill_switch_anywhere_reverts_the_monkeys_fault_and_pauses_it_until_rearmed() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let yaml = monkey_file(
        "unleashed",
        &when(Duration::from_secs(2), Duration::from_secs(14)),
        &victim_group(&victim, "", "3s", "5s", ""),
    );
    let mut monkey = MonkeyRun::start(&sandbox, &yaml);
    monkey.wait_active(Duration::from_secs(20)).await;
    assert!(victim.is_stopped());
    // Another chaosday process pulls the kill switch.
    let out = sandbox.run(&["fault", "abort"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = monkey
        .wait(
            Duration::from_secs(10),
            |s| s["armed"] == false && !plan(s).iter().any(|p| p["status"] == "active"),
            || {},
        )
        .await;
    assert_eq!(victim.state(), Some('S'));
    let ended = plan(&status)
        .into_iter()
        .find(|p| p["status"] == "ended")
        .unwrap();
    assert_eq!(ended["end"], "kill_switch", "{ended:#}");
    // The next planned fault is skipped while the switch is on.
    let status = monkey.wait(Duration::from_secs(30), all_over, || {}).await;
    assert!(
        plan(&status).iter().any(|p| p["skipped"] == "kill_switch"),
        "{status:#}"
    );
    // The operator re-arms through the monkey.
    let mut command = sandbox.command(&["monkey", "rearm", "--url", &monkey.url]);
    command.env("CHAOSDAY_TOKEN", OPERATOR);
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = monkey.status().await;
    assert_eq!(status["armed"], true);
    monkey.stop();
}

#[tokio::test]
async fn a_monkey_killed_mid_fault_leaves_nothing_after_the_next_chaosday_command() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let yaml = monkey_file(
        "unleashed",
        &when(Duration::from_secs(2), Duration::from_secs(60)),
        &victim_group(&victim, "", "50s", "1h", ""),
    );
    let mut monkey = MonkeyRun::start(&sandbox, &yaml);
    let status = monkey.wait_active(Duration::from_secs(20)).await;
    let id = plan(&status)
        .into_iter()
        .find(|p| p["status"] == "active")
        .unwrap()["id"]
        .clone();
    assert!(victim.is_stopped());
    monkey.running.kill_9();
    assert!(
        victim.is_stopped(),
        "nothing reverts it before a chaosday opens the journal"
    );
    // Any chaosday command opens the journal and reverts what the dead monkey held.
    let out = sandbox.run(&["fault", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(victim.state(), Some('S'), "{}", text(&out.stderr));
    // The monkey, started again, tells how that fault ended.
    let mut again = MonkeyRun::start(&sandbox, &yaml);
    let status = again.status().await;
    let entry = plan(&status).into_iter().find(|p| p["id"] == id).unwrap();
    assert_eq!(entry["status"], "ended", "{entry:#}");
    assert_eq!(entry["end"], "restarted", "{entry:#}");
    again.stop();
}

/// An HTTP server that answers 200 to every POST and keeps each body.
fn hook_receiver() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let kept = kept.clone();
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(value) = lower.strip_prefix("content-length:") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    if let Ok(value) = serde_json::from_slice(&body) {
                        kept.lock().unwrap().push(value);
                    }
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                }
            });
        }
    });
    (port, bodies)
}

#[tokio::test]
async fn the_plan_is_published_ahead_to_webhooks_and_each_decision_follows() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let (port, bodies) = hook_receiver();
    let yaml = monkey_file(
        "unleashed",
        &when(Duration::from_secs(3), Duration::from_secs(8)),
        &format!(
            "{}\nwebhooks:\n  - {{ url: \"http://127.0.0.1:{port}/hook\" }}",
            victim_group(&victim, "", "1s", "2s", "")
        ),
    );
    let mut monkey = MonkeyRun::start(&sandbox, &yaml);
    let status = monkey.wait(Duration::from_secs(30), all_over, || {}).await;
    let ids: Vec<String> = plan(&status)
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let got = |bodies: &std::sync::Mutex<Vec<Value>>| bodies.lock().unwrap().clone();
    assert!(
        crate::support::wait_until(Duration::from_secs(10), || {
            got(&bodies)
                .iter()
                .filter(|b| b["event"] == "reverted")
                .count()
                == ids.len()
        }),
        "{:#?}",
        got(&bodies)
    );
    let received = got(&bodies);
    let planned = received
        .iter()
        .find(|b| b["event"] == "planned")
        .expect("the plan");
    assert_eq!(planned["monkey"], "it-monkey");
    let text = planned["text"].as_str().unwrap();
    for id in &ids {
        assert!(
            text.contains(id.as_str()),
            "the plan's text names {id}: {text}"
        );
    }
    assert!(text.contains("chaosday monkey skip"), "{text}");
    // The plan was published before its first fault was due.
    let first_due = plan(&status)
        .iter()
        .map(|p| p["at_ms"].as_i64().unwrap())
        .min()
        .unwrap();
    let published =
        jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%.fZ", planned["at"].as_str().unwrap())
            .map(|t| t.as_millisecond())
            .unwrap_or_else(|_| {
                planned["at"]
                    .as_str()
                    .unwrap()
                    .parse::<jiff::Timestamp>()
                    .unwrap()
                    .as_millisecond()
            });
    assert!(
        published < first_due,
        "published at {published}, first due at {first_due}"
    );
    for event in ["injected", "reverted"] {
        assert_eq!(
            received.iter().filter(|b| b["event"] == event).count(),
            ids.len(),
            "{event}: {received:#?}"
        );
    }
    monkey.stop();
}

#[tokio::test]
async fn the_monkey_pauses_only_containers_that_opt_in() {
    if !crate::containers::docker_or_skip("the_monkey_pauses_only_containers_that_opt_in") {
        return;
    }
    let sandbox = Sandbox::new();
    let app = format!("app=mk-{}", std::process::id());
    let names: Vec<String> = ["in-a", "out", "in-b"]
        .iter()
        .map(|n| format!("chaosday-mk-{n}-{}", std::process::id()))
        .collect();
    // Building the image blocks on a runtime of its own: off this one.
    let setup = names.clone();
    let _containers = tokio::task::spawn_blocking(move || {
        let containers = crate::containers::Containers::new("monkey-opt-in");
        containers.run(&setup[0], &[&app, "chaosday.enable=true"]);
        containers.run(&setup[1], &[&app]);
        containers.run(&setup[2], &[&app, "chaosday.enable=true"]);
        containers
    })
    .await
    .expect("the containers run");
    let yaml = monkey_file(
        "unleashed",
        &when(Duration::from_secs(3), Duration::from_secs(20)),
        &format!(
            "targets:\n  workers: {{ container: {{ label: {{ app: mk-{} }} }} }}\ngroups:\n  - {{ name: workers, targets: [workers], faults: [{{fault: {{kind: pause}}, for: 3s}}], mtbf: 0.01, max_per_day: 1, kill: all, allow_all: true }}",
            std::process::id()
        ),
    );
    let mut monkey = MonkeyRun::start(&sandbox, &yaml);
    let planned = monkey.first_planned_targets().await;
    assert_eq!(
        planned,
        [
            format!("workers/{}", names[0]),
            format!("workers/{}", names[2])
        ]
    );
    let state =
        |name: &str| crate::containers::docker(&["inspect", "-f", "{{.State.Status}}", name]);
    let mut seen: Vec<(String, String, String)> = Vec::new();
    let status = monkey
        .wait(Duration::from_secs(40), all_over, || {
            seen.push((state(&names[0]), state(&names[1]), state(&names[2])));
        })
        .await;
    assert_eq!(plan(&status)[0]["end"], "timer", "{status:#}");
    assert!(
        seen.iter().any(|(a, _, b)| a == "paused" && b == "paused"),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|(_, out, _)| out == "running"),
        "a container that does not opt in was touched: {seen:?}"
    );
    for name in &names {
        assert_eq!(state(name), "running");
    }
    monkey.stop();
}

#[tokio::test]
async fn a_target_another_chaosday_holds_is_skipped_as_busy() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    // Another chaosday process holds a fault on the victim.
    let mut held = sandbox.spawn(&[
        "fault",
        "inject",
        "pause",
        "--target",
        &victim.command_line,
        "--for",
        "60s",
    ]);
    assert!(
        crate::support::wait_until(Duration::from_secs(10), || victim.is_stopped()),
        "the CLI's pause"
    );
    let yaml = monkey_file(
        "unleashed",
        &when(Duration::from_secs(2), Duration::from_secs(6)),
        &victim_group(&victim, "", "1s", "2s", ""),
    );
    let mut monkey = MonkeyRun::start(&sandbox, &yaml);
    let status = monkey.wait(Duration::from_secs(30), all_over, || {}).await;
    let checkout: Vec<Value> = plan(&status)
        .into_iter()
        .filter(|p| p["group"] == "checkout")
        .collect();
    assert!(!checkout.is_empty(), "{status:#}");
    for fault in &checkout {
        assert_eq!(fault["skipped"], "busy", "{fault:#}");
    }
    monkey.stop();
    held.signal(nix::sys::signal::Signal::SIGINT);
    let out = held.finish(Duration::from_secs(20));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(victim.state(), Some('S'));
}

#[tokio::test]
async fn the_monkey_evicts_only_pods_that_opt_in_through_the_kubernetes_api() {
    use crate::kube_api::{Cluster, FakeKube, pod, replica_set};
    let sandbox = Sandbox::new();
    // cart-1 opts in by its label, cart-2 by its ReplicaSet's template; cart-3 neither;
    // kube-1 would, but in kube-system.
    let mut system = pod(
        "kube-1",
        json!({"app": "cart", "chaosday.enable": "true"}),
        "rs-a",
    );
    system["metadata"]["namespace"] = json!("kube-system");
    let kube = FakeKube::start(
        sandbox.state_dir(),
        Cluster {
            pods: vec![
                pod(
                    "cart-1",
                    json!({"app": "cart", "chaosday.enable": "true"}),
                    "rs-a",
                ),
                pod("cart-2", json!({"app": "cart"}), "rs-b"),
                pod("cart-3", json!({"app": "cart"}), "rs-c"),
                system,
            ],
            replica_sets: vec![
                replica_set("rs-a", json!({"app": "cart"})),
                replica_set("rs-b", json!({"app": "cart", "chaosday.enable": "true"})),
                replica_set("rs-c", json!({"app": "cart"})),
            ],
            evictions: Vec::new(),
        },
    )
    .await;
    let yaml = monkey_file(
        "unleashed",
        &when(Duration::from_secs(3), Duration::from_secs(20)),
        "kubernetes: { namespaces: { allow: [shop] } }\ntargets:\n  carts: { pod: { namespace: shop, selector: { app: cart } } }\n  system: { pod: { namespace: kube-system, selector: { app: cart } } }\ngroups:\n  - { name: carts, targets: [carts], faults: [{fault: {kind: delete, grace_period: 1s}, for: 2s}], mtbf: 0.01, max_per_day: 1, kill: all, allow_all: true }",
    );
    // A pod in a namespace the file does not allow is refused before anything runs.
    let refused = sandbox.state_dir().join("refused.yaml");
    std::fs::write(&refused, &yaml).unwrap();
    let output = sandbox.run(&["validate", refused.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout).contains("targets.system.pod.namespace"),
        "{}",
        text(&output.stdout)
    );
    let yaml = yaml.replace(
        "\n  system: { pod: { namespace: kube-system, selector: { app: cart } } }",
        "",
    );
    let mut monkey = MonkeyRun::start_with(
        &sandbox,
        &yaml,
        &[("KUBECONFIG", kube.kubeconfig.as_path())],
    );
    // The plan, published ahead, names the pods found when the day was drawn.
    let planned = monkey.first_planned_targets().await;
    assert_eq!(planned, ["carts/cart-1", "carts/cart-2"]);
    let status = monkey.wait(Duration::from_secs(40), all_over, || {}).await;
    assert_eq!(plan(&status)[0]["end"], "timer", "{status:#}");
    let mut evictions = kube.cluster.lock().evictions.clone();
    evictions.sort();
    assert_eq!(
        evictions,
        [
            ("cart-1".to_owned(), "uid-cart-1".to_owned()),
            ("cart-2".to_owned(), "uid-cart-2".to_owned())
        ],
        "each opted-in pod evicted once, by uid; cart-3 and kube-system's never"
    );
    monkey.stop();
    // Nothing stays live in the journal: the controller brought the pods back.
    assert!(
        journal_faults(&sandbox)
            .iter()
            .all(|f| f["state"] != "active")
    );
}
