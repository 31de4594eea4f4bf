//! `chaosday rehearse`: real supervised services behind real proxied links, each scenario
//! broken and healed once; the verdicts, the JSON, the exit codes, and nothing left behind.

use std::time::Duration;

use serde_json::Value;

use crate::game_support::{kill_all, service_argv};
use crate::support::{Sandbox, live_faults, owned_port, processes_with, text, wait_until};

/// A scenario that kills the service: its probe `web-up` goes red, then green as the
/// supervisor starts it again.
const WEB_CRASH: &str = "  - name: web-crash
    faults: [ { target: web, fault: { kind: kill } } ]
    diagnosis: { target: web, kind: kill }
    resolution: fix
    probes: [web-up]
";

/// A scenario that slows the service's link past its probe's timeout.
const WEB_SLOW: &str = "  - name: web-slow
    faults: [ { target: web-link, fault: { kind: latency, latency: 2s } } ]
    diagnosis: { target: web-link, kind: latency }
    resolution: diagnose
    probes: [web-up]
";

/// A scenario whose fault is too small for its probe to see: it never breaks.
const BARELY_SLOW: &str = "  - name: barely-slow
    faults: [ { target: web-link, fault: { kind: latency, latency: 10ms } } ]
    diagnosis: { target: web-link, kind: latency }
    resolution: diagnose
    probes: [web-up]
";

/// A supervised HTTP service behind a link, and a game file over them.
struct Service {
    argv: Vec<String>,
    link: u16,
}

impl Service {
    fn new() -> Self {
        Service {
            argv: service_argv(owned_port()),
            link: owned_port(),
        }
    }

    fn port(&self) -> &str {
        &self.argv[3]
    }

    /// A game over the service with these scenarios (YAML list items, indented by 2).
    fn game(&self, name: &str, scenarios: &str) -> String {
        self.game_with(name, "", scenarios)
    }

    /// A game whose guard checks the service's own port (a kill or a pause reaches it).
    fn guarded_game(&self, name: &str, scenarios: &str) -> String {
        let guards = format!(
            "guards:\n  web-process: {{ tcp: {{ address: \"127.0.0.1:{}\", timeout: 1s }}, fail_for: 1m }}\n",
            self.port()
        );
        self.game_with(name, &guards, scenarios)
    }

    fn game_with(&self, name: &str, guards: &str, scenarios: &str) -> String {
        format!(
            r#"game: {name}
game_master: {{ token_env: GM_TOKEN }}
teams:
  - {{ name: web, token_env: WEB_TOKEN, owns: [web, web-link] }}
targets:
  web: {{ process: {{ command: {argv:?}, supervised: true }} }}
  web-link: {{ link: {{ listen: "127.0.0.1:{link}", upstream: "127.0.0.1:{port}" }} }}
probes:
  web-up: {{ http: {{ url: "http://127.0.0.1:{link}/", expect_status: 200, timeout: 1s }} }}
  nobody-home: {{ tcp: {{ address: "127.0.0.1:{nobody}", timeout: 500ms }} }}
{guards}scenarios:
{scenarios}"#,
            argv = self.argv,
            link = self.link,
            port = self.port(),
            nobody = owned_port(),
        )
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        kill_all(&self.argv);
    }
}

fn write(sandbox: &Sandbox, text: &str) -> String {
    let path = sandbox.state_dir().join("game.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Nothing the rehearsal started or injected is left once it has exited.
fn assert_nothing_left(sandbox: &Sandbox, service: &Service) {
    let (faults, _) = live_faults(sandbox);
    assert!(faults.is_empty(), "faults left live: {faults:?}");
    assert!(
        wait_until(Duration::from_secs(5), || processes_with(
            &service.argv.join(" ")
        )
        .is_empty()),
        "the supervised service outlived the rehearsal"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", service.link)).is_err(),
        "the link's proxy outlived the rehearsal"
    );
}

#[test]
fn a_scenario_that_breaks_and_heals_is_ok_with_its_times_and_the_json_has_a_summary() {
    let sandbox = Sandbox::new();
    let service = Service::new();
    let game = service.game(
        "rehearse-ok",
        &format!(
            "{WEB_CRASH}{WEB_SLOW}  - name: by-hand\n    diagnosis: {{ target: web, kind: pause }}\n    resolution: manual\n"
        ),
    );
    let file = write(&sandbox, &game);
    let out = sandbox.run(&["rehearse", &file, "--within", "20s", "--output", "json"]);
    assert!(
        out.status.success(),
        "exit {:?}; stdout: {}; stderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(report["game"], "rehearse-ok");
    assert_eq!(report["within_ms"], 20_000);
    let lines = report["scenarios"].as_array().expect("a list of scenarios");
    let names: Vec<&str> = lines
        .iter()
        .map(|l| l["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-crash", "web-slow", "by-hand"]);
    for line in &lines[..2] {
        assert_eq!(line["verdict"], "ok", "{line}");
        assert!(line["time_to_red_ms"].as_u64().is_some(), "{line}");
        assert!(line["time_to_green_ms"].as_u64().is_some(), "{line}");
        assert_eq!(line["probe"], "web-up", "{line}");
    }
    // The latency of 2 s is seen when the probe's 1 s timeout runs out.
    let slow_red = lines[1]["time_to_red_ms"].as_u64().unwrap();
    assert!((900..10_000).contains(&slow_red), "{slow_red}");
    assert_eq!(lines[2]["verdict"], "skipped");
    assert!(
        lines[2]["detail"].as_str().unwrap().contains("manual"),
        "{}",
        lines[2]
    );
    let summary = &report["summary"];
    assert_eq!(summary["scenarios"], 3);
    assert_eq!(summary["ok"], 2);
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["skipped"], 1);
    assert_eq!(summary["passed"], true);
    assert_nothing_left(&sandbox, &service);
}

#[test]
fn a_scenario_whose_probes_never_go_red_fails_the_rehearsal_in_words() {
    let sandbox = Sandbox::new();
    let service = Service::new();
    let game = service.game(
        "rehearse-never",
        &[
            BARELY_SLOW,
            r#"  - name: probe-elsewhere
    faults: [ { target: web, fault: { kind: kill } } ]
    diagnosis: { target: web, kind: kill }
    resolution: fix
    probes: [nobody-home]
  - name: unprobed
    faults: [ { target: web, fault: { kind: pause } } ]
    diagnosis: { target: web, kind: pause }
    resolution: diagnose
"#,
            WEB_CRASH,
            r#"  - name: ghost-crash
    faults: [ { target: ghost, fault: { kind: kill } } ]
    diagnosis: { target: ghost, kind: kill }
    resolution: fix
    probes: [web-up]
"#,
        ]
        .concat(),
    );
    // A target that cannot start here fails its scenarios only: the others are rehearsed.
    let game = game
        .replace(
            "targets:\n",
            "targets:\n  ghost: { process: { command: [\"/nonexistent/ghost\"], supervised: true } }\n",
        )
        .replace("owns: [web, web-link]", "owns: [web, web-link, ghost]");
    let file = write(&sandbox, &game);
    let out = sandbox.run(&["rehearse", &file, "--within", "2s"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}; stderr: {}",
        text(&out.stderr)
    );
    let header = stdout.lines().next().unwrap();
    for column in ["scenario", "time to red", "time to green", "verdict"] {
        assert!(header.contains(column), "{header}");
    }
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}: {stdout}"))
            .to_owned()
    };
    assert!(row("barely-slow").ends_with("—  never broke"), "{stdout}");
    assert!(
        row("probe-elsewhere").ends_with("already red before the fault"),
        "{stdout}"
    );
    assert!(row("unprobed").ends_with("no probes"), "{stdout}");
    assert!(row("web-crash").ends_with("ok"), "{stdout}");
    assert!(row("ghost-crash").ends_with("could not inject"), "{stdout}");
    assert!(
        stdout.contains("ghost-crash: could not inject: target ghost could not start here"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "barely-slow: never broke: its probes stayed green for 2s: the fault does not reach what they check — probe something the fault breaks, or check the target"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 of 5 broke and healed") && stdout.contains("NOT ready"),
        "{stdout}"
    );
    assert_nothing_left(&sandbox, &service);
}

#[test]
fn a_guard_that_goes_red_is_named_and_an_unknown_scenario_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let service = Service::new();
    // Killing the service reaches the guard on its own port too.
    let game = service.guarded_game("rehearse-guard", &format!("{WEB_CRASH}{WEB_SLOW}"));
    let file = write(&sandbox, &game);
    let out = sandbox.run(&["rehearse", &file, "--scenario", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("web-crash, web-slow"),
        "{}",
        text(&out.stderr)
    );

    let out = sandbox.run(&[
        "rehearse",
        &file,
        "--scenario",
        "web-crash",
        "--within",
        "5s",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines = report["scenarios"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "only the scenario asked for: {report}");
    assert_eq!(lines[0]["verdict"], "guard_red", "{report}");
    assert_eq!(lines[0]["probe"], "web-process", "{report}");
    assert_eq!(report["summary"]["passed"], false);
    assert_nothing_left(&sandbox, &service);
}

#[test]
fn sigterm_mid_rehearsal_reverts_the_fault_and_stops_the_services() {
    let sandbox = Sandbox::new();
    let service = Service::new();
    let game = service.game("rehearse-interrupted", BARELY_SLOW);
    let file = write(&sandbox, &game);
    let mut running = sandbox.spawn(&["rehearse", &file, "--within", "60s"]);
    assert!(
        wait_until(Duration::from_secs(30), || live_faults(&sandbox)
            .0
            .iter()
            .any(|f| f["state"] == "active")),
        "the fault never became active"
    );
    running.signal(nix::sys::signal::Signal::SIGTERM);
    let out = running.finish(Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert_nothing_left(&sandbox, &service);
}

#[test]
fn kill_9_mid_rehearsal_leaves_a_fault_the_next_chaosday_reverts_and_no_service() {
    let sandbox = Sandbox::new();
    let service = Service::new();
    let game = service.game(
        "rehearse-killed",
        r#"  - name: web-frozen
    faults: [ { target: web, fault: { kind: pause } } ]
    diagnosis: { target: web, kind: pause }
    resolution: fix
    probes: [nobody-home-either]
"#,
    );
    // A probe that stays green whatever the fault: the rehearsal waits its whole --within.
    let game = game.replace(
        "probes:\n",
        "probes:\n  nobody-home-either: { command: { argv: [\"true\"] } }\n",
    );
    let file = write(&sandbox, &game);
    let mut running = sandbox.spawn(&["rehearse", &file, "--within", "60s"]);
    assert!(
        wait_until(Duration::from_secs(30), || live_faults(&sandbox)
            .0
            .iter()
            .any(|f| f["state"] == "active")),
        "the fault never became active"
    );
    running.kill_9();
    // The service (paused) died with the rehearsal; the next chaosday reverts the fault.
    assert!(
        wait_until(Duration::from_secs(5), || processes_with(
            &service.argv.join(" ")
        )
        .is_empty()),
        "the supervised service outlived the rehearsal's kill -9"
    );
    let (faults, stderr) = live_faults(&sandbox);
    assert!(faults.is_empty(), "{faults:?}");
    assert!(
        stderr.contains("left active by a chaosday process that died"),
        "{stderr}"
    );
}

#[test]
fn the_example_game_can_be_rehearsed_on_this_machine() {
    let sandbox = Sandbox::new();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/rehearsal.yaml");
    let out = sandbox.run(&["rehearse", example, "--output", "json"]);
    assert!(
        out.status.success(),
        "stdout: {}; stderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["ok"], 4, "{report}");
    assert_eq!(report["summary"]["passed"], true, "{report}");
    let (faults, _) = live_faults(&sandbox);
    assert!(faults.is_empty(), "{faults:?}");
    assert!(wait_until(Duration::from_secs(5), || processes_with(
        "http.server 17081"
    )
    .is_empty()));
}

#[test]
fn the_demos_embedded_game_breaks_and_heals_scenario_by_scenario() {
    let sandbox = Sandbox::new();
    let shop = crate::support::owned_ports(16).to_string();
    let out = sandbox.run(&[
        "rehearse",
        "--demo",
        "--shop-port",
        &shop,
        "--within",
        "20s",
        "--output",
        "json",
    ]);
    assert!(
        out.status.success(),
        "stdout: {}; stderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["game"], "chaosday-demo");
    let lines = report["scenarios"].as_array().unwrap();
    for line in lines {
        let expected = if line["scenario"] == "catalog-bad-config" {
            "skipped"
        } else {
            "ok"
        };
        assert_eq!(line["verdict"], expected, "{line}");
    }
    assert_eq!(report["summary"]["skipped"], 1, "{report}");
    assert_eq!(report["summary"]["ok"], lines.len() - 1, "{report}");
    let (faults, _) = live_faults(&sandbox);
    assert!(faults.is_empty(), "{faults:?}");
    // The shop's services went with the rehearsal.
    let shop_dir = sandbox.state_dir().join("demo").join("shop");
    let shop_dir = shop_dir.canonicalize().unwrap_or(shop_dir);
    assert!(
        wait_until(Duration::from_secs(5), || processes_with(&format!(
            "--dir {}",
            shop_dir.display()
        ))
        .is_empty()),
        "shop processes outlived the rehearsal"
    );
}

#[test]
fn the_help_has_examples_and_an_invalid_file_is_refused_as_validate_refuses_it() {
    let sandbox = Sandbox::new();
    let help = sandbox.run(&["rehearse", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = text(&help.stdout);
    for needle in [
        "Examples:",
        "chaosday rehearse game.yaml",
        "--output json",
        "never broke",
        "Exit status: 0",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }

    let service = Service::new();
    let game = service.game(
        "rehearse-invalid",
        r#"  - name: nowhere
    faults: [ { target: no-such-target, fault: { kind: kill } } ]
    diagnosis: { target: no-such-target, kind: kill }
    resolution: fix
    probes: [web-up]
"#,
    );
    let file = write(&sandbox, &game);
    let validated = sandbox.run(&["validate", &file]);
    assert_eq!(validated.status.code(), Some(1));
    let problem = text(&validated.stdout)
        .lines()
        .find(|l| l.contains("scenarios[0].faults[0].target"))
        .expect("validate names the field")
        .to_owned();
    let out = sandbox.run(&["rehearse", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&problem),
        "{problem} not in: {}",
        text(&out.stderr)
    );
    // Nothing was started for an invalid file.
    assert!(processes_with(&service.argv.join(" ")).is_empty());
}

#[test]
fn a_per_team_scenario_is_rehearsed_on_every_teams_replica() {
    let sandbox = Sandbox::new();
    let (red, blue) = (Service::new(), Service::new());
    // Blue's probe checks a port nothing listens on: its replica is wrong, red's is right.
    let game = format!(
        r#"game: rehearse-teams
game_master: {{ token_env: GM_TOKEN }}
teams:
  - {{ name: red, token_env: RED_TOKEN, owns: [web] }}
  - {{ name: blue, token_env: BLUE_TOKEN, owns: [web] }}
targets:
  web:
    per_team:
      red: {{ process: {{ command: {red_argv:?}, supervised: true }} }}
      blue: {{ process: {{ command: {blue_argv:?}, supervised: true }} }}
probes:
  web-up:
    per_team:
      red: {{ http: {{ url: "http://127.0.0.1:{red_port}/", expect_status: 200, timeout: 1s }} }}
      blue: {{ tcp: {{ address: "127.0.0.1:{nobody}", timeout: 500ms }} }}
scenarios:
{WEB_CRASH}"#,
        red_argv = red.argv,
        blue_argv = blue.argv,
        red_port = red.port(),
        nobody = owned_port(),
    );
    let file = write(&sandbox, &game);
    let out = sandbox.run(&["rehearse", &file, "--within", "20s", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let lines: Vec<(String, String, String)> = report["scenarios"]
        .as_array()
        .expect("the scenarios")
        .iter()
        .map(|l| {
            (
                l["scenario"].as_str().unwrap_or_default().to_owned(),
                l["team"].as_str().unwrap_or_default().to_owned(),
                l["verdict"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(lines.len(), 2, "one rehearsal per team: {report:#}");
    assert_eq!(lines[0].0, "web-crash");
    assert_eq!(
        (lines[0].1.as_str(), lines[0].2.as_str()),
        ("red", "ok"),
        "{report:#}"
    );
    assert_eq!(lines[1].1, "blue", "{report:#}");
    assert_ne!(
        lines[1].2, "ok",
        "blue's probe never sees its replica: {report:#}"
    );
}
