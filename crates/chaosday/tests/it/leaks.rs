//! Faults never leak: the binary SIGKILLs itself at each step of a fault's life (the
//! engine's failpoints, compiled into test builds only), and the next chaosday command must
//! find nothing left: no paused process, no stressor, no live journal entry, no incident
//! of a fault that was never recorded.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use serde_json::json;

use crate::game_support::{GM, GameServer};
use crate::support::*;

const GENEROUS: Duration = Duration::from_secs(20);

/// Waits for a chaosday process told to die at `failpoint` to do so, and checks it did.
fn died_at(mut running: Running, failpoint: &str) {
    let out = running.finish(GENEROUS);
    assert_eq!(
        out.status.signal(),
        Some(9),
        "chaosday did not die at {failpoint}: {:?}; stderr: {}",
        out.status,
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains(&format!("failpoint {failpoint}")),
        "{}",
        text(&out.stderr)
    );
}

/// `fault inject ...ARGS` told to die at `failpoint`; for `during-shutdown`, it is stopped
/// with SIGTERM once its fault is active. Returns the injector's pid.
fn inject_and_die(
    sandbox: &Sandbox,
    failpoint: &str,
    args: &[&str],
    active: impl Fn(u32) -> bool,
) -> u32 {
    let mut command = sandbox.command(args);
    command
        .env(chaosday_engine::failpoint::VARIABLE, failpoint)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let running = Running::from_child(command.spawn().expect("spawn chaosday"));
    let pid = running.pid();
    if failpoint == "during-shutdown" {
        assert!(
            wait_until(GENEROUS, || active(pid)),
            "the fault never took effect"
        );
        running.signal(nix::sys::signal::Signal::SIGTERM);
    }
    died_at(running, failpoint);
    pid
}

const ENGINE_STEPS: [&str; 5] = [
    "after-record",
    "mid-inject",
    "before-active",
    "mid-revert",
    "during-shutdown",
];

#[test]
fn a_pause_killed_at_any_step_is_undone_by_the_next_command() {
    for failpoint in ENGINE_STEPS {
        let sandbox = Sandbox::new();
        let victim = Victim::sleep(unique().into());
        // The timer runs out at once for `mid-revert`; never for the others.
        let lasts = if failpoint == "mid-revert" {
            "1s"
        } else {
            "10m"
        };
        inject_and_die(
            &sandbox,
            failpoint,
            &[
                "fault",
                "inject",
                "pause",
                "--target",
                &victim.command_line,
                "--for",
                lasts,
            ],
            |_| victim.is_stopped(),
        );

        let (list, stderr) = live_faults(&sandbox);

        assert!(
            list.is_empty(),
            "{failpoint}: still live: {list:?}; {stderr}"
        );
        assert!(
            !victim.is_stopped(),
            "{failpoint}: the victim is still paused after the next command"
        );
        let (all, _) = history(&sandbox);
        assert!(
            all.iter()
                .all(|f| f["state"] == "reverted" || f["state"] == "failed"),
            "{failpoint}: {all:?}"
        );
    }
}

#[test]
fn a_cpu_stressor_killed_with_its_injector_at_any_step_is_gone_after_the_next_command() {
    for failpoint in [
        "after-record",
        "before-active",
        "mid-revert",
        "during-shutdown",
    ] {
        let sandbox = Sandbox::new();
        let lasts = if failpoint == "mid-revert" {
            "1s"
        } else {
            "10m"
        };
        let pid = inject_and_die(
            &sandbox,
            failpoint,
            &[
                "fault", "inject", "cpu", "--cores", "1", "--load", "10", "--for", lasts,
            ],
            |pid| !stressors_of(pid).is_empty(),
        );

        let (list, stderr) = live_faults(&sandbox);

        assert!(
            list.is_empty(),
            "{failpoint}: still live: {list:?}; {stderr}"
        );
        assert!(
            stressors_of(pid).is_empty(),
            "{failpoint}: a stressor of the dead injector runs after the next command"
        );
        let (all, _) = history(&sandbox);
        assert!(
            all.iter()
                .all(|f| f["state"] == "reverted" || f["state"] == "failed"),
            "{failpoint}: {all:?}"
        );
    }
}

/// `fault list --all --output json`.
fn history(sandbox: &Sandbox) -> (Vec<serde_json::Value>, String) {
    let out = sandbox.run(&["fault", "list", "--all", "--output", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    (
        serde_json::from_slice(&out.stdout).expect("fault list JSON"),
        text(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_while_it_opens_an_incident_leaves_no_fault_and_no_incident() {
    let victim = Victim::sleep(unique().into());
    let yaml = format!(
        r#"game: leaks
game_master: {{ token_env: GM_TOKEN }}
teams:
  - {{ name: checkout, token_env: CHECKOUT_TOKEN, owns: [victim] }}
targets:
  victim: {{ process: {{ command: "{command}" }} }}
scenarios:
  - name: freeze
    faults: [ {{ target: victim, fault: {{ kind: pause }} }} ]
    diagnosis: {{ target: victim, kind: pause }}
    resolution: diagnose
"#,
        command = victim.command_line
    );
    let mut server = GameServer::start(&yaml).await;
    server.gm("/game/start", json!({})).await;
    server.running.as_mut().unwrap().kill_9();
    server
        .restart_with(&[(chaosday_engine::failpoint::VARIABLE, "opening-injected")])
        .await;

    // The opening injects the pause, then the server dies before the incident is recorded.
    let unleash = server
        .http
        .post(format!("{}/api/v1/unleash", server.url))
        .bearer_auth(GM)
        .json(&json!({"scenario": "freeze", "player": "gm"}))
        .send()
        .await;
    assert!(unleash.is_err(), "the server answered: {unleash:?}");
    assert!(
        wait_until(GENEROUS, || server.running.as_mut().unwrap().has_exited()),
        "the server did not die at the failpoint"
    );
    assert!(
        server.logs().contains("failpoint opening-injected"),
        "{}",
        server.logs()
    );

    // The next chaosday command reverts the fault; the restarted game has no incident.
    let (list, stderr) = live_faults(&server.sandbox);
    assert!(list.is_empty(), "{list:?} {stderr}");
    assert!(!victim.is_stopped(), "the victim is still paused");
    server.restart().await;
    assert!(
        server.incidents().await.is_empty(),
        "{:?}",
        server.incidents().await
    );
    let (_, faults) = server.get("/faults", Some(GM)).await;
    assert_eq!(faults, json!([]));
}
