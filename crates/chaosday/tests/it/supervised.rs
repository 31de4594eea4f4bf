//! The engine as a library: supervised processes, recovery of a dead owner's faults, and a
//! reused pid never signalled.

use std::time::Duration;

use chaosday_domain::{FaultSpec, ProcessTarget, Signal, Supervision, TargetSpec};
use chaosday_engine::proc::ProcessIdentity;
use chaosday_engine::{Journal, NewEntry, RevertPlan};
use chaosday_store::SqliteJournal;

use crate::support::*;

fn sleep_supervision(seconds: u32) -> Supervision {
    Supervision {
        argv: vec!["sleep".into(), seconds.to_string()],
        cwd: None,
        env: Default::default(),
    }
}

/// A pid and start time of a chaosday that is dead: a process that has exited.
pub fn dead_owner() -> ProcessIdentity {
    let mut child = std::process::Command::new("true").spawn().expect("true");
    let pid = child.id();
    child.wait().expect("reap");
    ProcessIdentity::on_this_boot(pid, 1)
}

pub async fn record_orphan(sandbox: &Sandbox, key: &str, plan: &RevertPlan) {
    let journal = SqliteJournal::open(&sandbox.state_dir().join("journal.sqlite"))
        .await
        .expect("journal");
    journal
        .record(NewEntry {
            target_key: key.into(),
            target: "{}".into(),
            fault: "{}".into(),
            revert: serde_json::to_string(plan).expect("plan"),
            description: "an orphan".into(),
            origin: "test".into(),
            owner: dead_owner(),
            created_ms: 0,
            expires_ms: None,
        })
        .await
        .expect("record");
}

#[tokio::test]
async fn a_killed_supervised_process_is_started_again_by_its_timer() {
    let sandbox = Sandbox::new();
    let (engine, supervisor, _, _) = engine(&sandbox).await;
    let supervision = sleep_supervision(unique());
    let first = supervisor
        .ensure_running(&supervision)
        .await
        .expect("start");
    let target =
        TargetSpec::Process(ProcessTarget::supervised(supervision.clone()).expect("target"));
    let mut handle = engine
        .inject(
            &target,
            &FaultSpec::Kill {
                signal: Signal::Kill,
            },
            Some(Duration::from_millis(300)),
        )
        .await
        .expect("inject");
    assert!(
        !first.is_alive(),
        "the kill did not take effect before inject returned"
    );
    let ending = tokio::time::timeout(Duration::from_secs(10), handle.ended())
        .await
        .expect("ended");
    assert_eq!(ending.reason, "timer");
    let second = supervisor.running(&supervision).expect("started again");
    assert_ne!(second, first);
    supervisor.stop_all(Duration::from_secs(2)).await;
    assert!(!second.is_alive());
}

#[tokio::test]
async fn a_dead_chaosday_s_supervised_kill_is_restarted_by_the_next_one() {
    let sandbox = Sandbox::new();
    let supervision = sleep_supervision(unique());
    let needle = supervision.argv.join(" ");
    assert!(processes_with(&needle).is_empty());
    record_orphan(
        &sandbox,
        "process:x",
        &RevertPlan::Restart {
            supervision: supervision.clone(),
        },
    )
    .await;
    let (_engine, supervisor, _, recovered) = engine(&sandbox).await;
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(
        processes_with(&needle).len(),
        1,
        "the supervised process was not started again"
    );
    // Idempotent: recovering again (another chaosday) does not start a second one.
    record_orphan(
        &sandbox,
        "process:y",
        &RevertPlan::Restart {
            supervision: supervision.clone(),
        },
    )
    .await;
    let (_again, _, _, recovered) = engine(&sandbox).await;
    assert_eq!(recovered.len(), 1);
    assert_eq!(
        processes_with(&needle).len(),
        1,
        "a second copy was started"
    );
    supervisor.stop_all(Duration::from_secs(2)).await;
    for pid in processes_with(&needle) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[tokio::test]
async fn a_pid_reused_by_another_process_is_never_signalled() {
    let sandbox = Sandbox::new();
    let victim = Victim::sleep(unique().into());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim.pid() as i32),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .expect("stop");
    assert!(wait_until(Duration::from_secs(5), || victim.is_stopped()));
    let real = ProcessIdentity::current().map(|_| ()).ok();
    assert!(real.is_some());
    // The journal remembers the pid with another start time: the process it paused is gone,
    // and this one merely reuses its pid.
    let start_time = chaosday_engine::proc::read(victim.pid())
        .expect("read")
        .expect("exists")
        .start_time;
    let reused = ProcessIdentity::on_this_boot(victim.pid(), start_time.saturating_sub(1));
    record_orphan(
        &sandbox,
        "process:reused",
        &RevertPlan::Resume { process: reused },
    )
    .await;
    let (_engine, _, _, recovered) = engine(&sandbox).await;
    assert_eq!(recovered.len(), 1);
    // An honest wait: what is tested is that no SIGCONT arrives, so there is no condition to
    // poll for; this gives a wrong one time to land.
    std::thread::sleep(Duration::from_millis(200));
    assert!(victim.is_stopped(), "SIGCONT was sent to a reused pid");
}
