//! `chaosday run` with chaosday's own actions: a fault injected by an experiment is in the
//! host's revert journal and is reverted by a `revert` activity, at the end of the run, or on
//! Ctrl-C. (The comparison with Chaos Toolkit itself is tests/chaostoolkit, in Python.)

use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::support::*;

const GENEROUS: Duration = Duration::from_secs(15);

/// A process probe that says whether `pid` is stopped (`T`) or running.
fn state_probe(name: &str, pid: u32) -> Value {
    json!({
        "type": "probe",
        "name": name,
        "tolerance": {"type": "regex", "target": "stdout", "pattern": "^running"},
        "provider": {
            "type": "process",
            "path": "sh",
            "arguments": ["-c", format!("grep -q '^State:.*T' /proc/{pid}/status && echo stopped || echo running")],
        },
    })
}

fn pause(name: &str, pid: u32) -> Value {
    json!({
        "type": "action",
        "name": name,
        "provider": {"type": "chaosday", "target": {"process": {"pid": pid}}, "fault": {"kind": "pause"}},
    })
}

fn write_experiment(sandbox: &Sandbox, name: &str, experiment: &Value) -> String {
    let path = sandbox.state_dir().join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(experiment).expect("json")).expect("write");
    path.to_str().expect("utf-8").to_owned()
}

/// Where the tests' runs write their journal (`--journal-path`), read back by [`journal`].
fn journal_path(sandbox: &Sandbox) -> String {
    let path = sandbox.state_dir().join("journal.json");
    path.to_str().expect("utf-8").to_owned()
}

fn journal(sandbox: &Sandbox) -> Value {
    let text = std::fs::read(journal_path(sandbox)).expect("the journal");
    serde_json::from_slice(&text).expect("journal JSON")
}

#[test]
fn a_revert_activity_reverts_the_fault_and_the_steady_state_holds() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let pid = victim.pid();
    let experiment = json!({
        "title": "the victim comes back",
        "description": "paused, seen paused, resumed by a revert activity",
        "steady-state-hypothesis": {"title": "it runs", "probes": [state_probe("runs", pid)]},
        "method": [
            pause("pause-victim", pid),
            {"type": "probe", "name": "seen-paused", "provider": {"type": "process", "path": "sh",
                "arguments": ["-c", format!("grep -q '^State:.*T' /proc/{pid}/status && echo stopped || echo running")]}},
            {"type": "action", "name": "resume", "provider": {"type": "chaosday", "revert": "pause-victim"}},
        ],
        "rollbacks": [],
    });
    let path = write_experiment(&sandbox, "revert.json", &experiment);
    let out = sandbox.run(&["run", &path, "--journal-path", &journal_path(&sandbox)]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let journal = journal(&sandbox);
    assert_eq!(journal["status"], "completed");
    assert_eq!(journal["deviated"], false);
    assert_eq!(journal["run"][0]["status"], "succeeded", "{journal:#}");
    assert!(journal["run"][0]["output"]["id"].is_i64(), "{journal:#}");
    assert_eq!(
        journal["run"][1]["output"]["stdout"], "stopped\n",
        "the fault took effect"
    );
    assert_eq!(journal["run"][2]["status"], "succeeded", "{journal:#}");
    assert_eq!(journal["steady_states"]["after"]["steady_state_met"], true);
    assert!(!victim.is_stopped());
    let (list, _) = live_faults(&sandbox);
    assert!(list.is_empty(), "{list:?}");
}

#[test]
fn a_fault_left_by_the_method_is_reverted_at_the_end_and_the_run_deviates() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let pid = victim.pid();
    let experiment = json!({
        "title": "the victim stays paused until the end",
        "description": "no revert activity: the steady state after the method deviates",
        "steady-state-hypothesis": {"title": "it runs", "probes": [state_probe("runs", pid)]},
        "method": [pause("pause-victim", pid)],
    });
    let path = write_experiment(&sandbox, "deviate.json", &experiment);
    let out = sandbox.run(&[
        "run",
        &path,
        "--journal-path",
        &journal_path(&sandbox),
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["deviated"], true);
    assert_eq!(journal(&sandbox)["deviated"], true);
    assert!(
        !victim.is_stopped(),
        "the end of the run reverts every fault"
    );
    let (list, _) = live_faults(&sandbox);
    assert!(list.is_empty(), "{list:?}");
}

#[test]
fn ctrl_c_interrupts_the_run_and_reverts_its_faults() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let pid = victim.pid();
    let experiment = json!({
        "title": "interrupted",
        "description": "a long probe after the fault; Ctrl-C comes during it",
        "method": [
            pause("pause-victim", pid),
            {"type": "probe", "name": "long", "provider": {"type": "process", "path": "sleep", "arguments": ["600"]}},
        ],
        "rollbacks": [{"type": "action", "name": "not-by-default", "provider": {"type": "process", "path": "true"}}],
    });
    let path = write_experiment(&sandbox, "interrupt.json", &experiment);
    let mut running = sandbox.spawn(&["run", &path, "--journal-path", &journal_path(&sandbox)]);
    assert!(
        wait_until(GENEROUS, || victim.is_stopped()),
        "the victim was never paused"
    );
    running.signal(Signal::SIGINT);
    let out = running.finish(GENEROUS);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let journal = journal(&sandbox);
    assert_eq!(journal["status"], "interrupted");
    assert_eq!(
        journal["rollbacks"],
        json!([]),
        "default: no rollbacks once interrupted"
    );
    assert!(!victim.is_stopped(), "Ctrl-C reverts the fault");
    let (list, _) = live_faults(&sandbox);
    assert!(list.is_empty(), "{list:?}");
}

#[test]
fn a_bad_chaosday_action_is_refused_naming_the_field() {
    let sandbox = Sandbox::new();
    let experiment = json!({
        "title": "bad", "description": "a fault kind that does not exist",
        "method": [{"type": "action", "name": "x", "provider": {"type": "chaosday",
            "target": {"process": {"pid": 1}}, "fault": {"kind": "explode"}, "for": "soon"}}],
    });
    let path = write_experiment(&sandbox, "bad.yaml", &experiment);
    let out = sandbox.run(&["run", &path]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("method[0].provider.fault"), "{stderr}");
    let out = sandbox.run(&["validate", &path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("method[0].provider.fault"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_link_without_a_proxy_or_a_target_on_an_agent_is_refused_saying_what_to_write() {
    let sandbox = Sandbox::new();
    for (target, field, words) in [
        (
            json!({"link": {"listen": "127.0.0.1:15432", "upstream": "127.0.0.1:5432"}}),
            "method[0].provider.target.link",
            "run `chaosday proxy`",
        ),
        (
            json!({"process": {"pid": 1}, "on": "db-1"}),
            "method[0].provider.target.on",
            "only a game server drives agents",
        ),
    ] {
        let experiment = json!({
            "title": "unreachable", "description": "a target this command cannot act on",
            "method": [{"type": "action", "name": "x", "provider": {"type": "chaosday",
                "target": target, "fault": {"kind": "latency", "latency": "100ms"}}}],
        });
        let path = write_experiment(&sandbox, "unreachable.yaml", &experiment);
        let out = sandbox.run(&["validate", &path]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains(field) && stdout.contains(words), "{stdout}");
    }
}

#[test]
fn run_help_has_examples_and_the_chaosday_provider() {
    let output = Sandbox::new().run(&["run", "--help"]);
    let help = text(&output.stdout);
    assert!(output.status.success(), "{help}");
    for needle in [
        "Examples:",
        "chaosday run experiment.json",
        "type: chaosday",
        "revert: pause-cart",
        "--rollback-strategy",
        "--journal-path",
        "Exit status",
    ] {
        assert!(help.contains(needle), "{needle:?} in {help}");
    }
}

#[test]
fn a_fault_with_for_is_reverted_by_its_timer_during_the_run() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    let pid = victim.pid();
    let mut paused = pause("pause-victim", pid);
    paused["provider"]["for"] = json!("300ms");
    let experiment = json!({
        "title": "a short pause",
        "description": "the fault's own timer resumes the victim before the hypothesis runs again",
        "steady-state-hypothesis": {"title": "it runs", "probes": [state_probe("runs", pid)]},
        "method": [
            paused,
            // Waits (polling, at most 10 s) until the victim runs again.
            {"type": "probe", "name": "wait-for-the-timer", "provider": {"type": "process", "path": "sh", "timeout": 10,
                "arguments": ["-c", format!("while grep -q '^State:.*T' /proc/{pid}/status; do sleep 0.05; done; echo running")]}},
        ],
    });
    let path = write_experiment(&sandbox, "timer.yaml", &experiment);
    let out = sandbox.run(&["run", &path, "--journal-path", &journal_path(&sandbox)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let journal = journal(&sandbox);
    assert!(
        journal["run"][0]["output"]["expires_ms"].is_i64(),
        "{journal:#}"
    );
    assert_eq!(journal["run"][1]["status"], "succeeded", "{journal:#}");
    assert_eq!(journal["status"], "completed");
    assert_eq!(journal["deviated"], false);
    assert!(!victim.is_stopped());
}

#[test]
fn validate_reports_an_experiment_s_problems_as_json() {
    let sandbox = Sandbox::new();
    let experiment = json!({
        "title": "t", "description": "d",
        "steady-state-hypothesis": {"title": "h", "probes": [
            {"type": "probe", "name": "p", "provider": {"type": "http", "url": "http://127.0.0.1:1/"}}]},
        "method": [],
    });
    let path = write_experiment(&sandbox, "no-tolerance.json", &experiment);
    let out = sandbox.run(&["validate", &path, "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["valid"], false);
    assert_eq!(
        report["problems"][0]["path"],
        "steady-state-hypothesis.probes[0].tolerance"
    );
}
