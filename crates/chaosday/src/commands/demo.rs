//! `chaosday demo`, for now a preview: a small service that chaosday supervises, and the
//! faults of the engine acting on it one after the other, each reverted. The full Day of
//! Chaos demo (a shop, two teams, the scoreboard) replaces it once the game server exists.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use chaosday_domain::{
    FaultSpec, HostTarget, Percent, ProcessTarget, Signal, Supervision, TargetSpec,
};
use chaosday_engine::Supervisor;

use crate::app;
use crate::cli::{DemoArgs, Global, TickerArgs};

/// Runs the preview demo.
pub async fn run(global: &Global, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let state_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| app::state_dir(global.state_dir.as_deref()).join("demo"));
    let mut interrupts = app::Interrupts::install()?;
    println!("chaosday demo (preview) — state in {}", state_dir.display());
    let (engine, supervisor) = app::open_engine(&state_dir, "demo").await?;
    let count_file = state_dir.join("ticker.count");
    let exe = std::env::current_exe().context("cannot find the chaosday executable")?;
    let supervision = Supervision {
        argv: vec![
            exe.display().to_string(),
            "__ticker".into(),
            "--file".into(),
            count_file.display().to_string(),
        ],
        cwd: None,
        env: Default::default(),
    };
    let service = TargetSpec::Process(ProcessTarget::supervised(supervision.clone())?);
    let started = supervisor.ensure_running(&supervision).await?;
    println!(
        "started a supervised service, pid {}: it counts ticks into {}",
        started.pid,
        count_file.display()
    );

    let script = async {
        watch(
            &supervisor,
            &supervision,
            &count_file,
            Duration::from_secs(2),
        )
        .await;
        let host = TargetSpec::Host(HostTarget::default());
        let load = Percent::new(50).unwrap_or_default();
        for (target, fault, note) in [
            (
                &service,
                FaultSpec::Pause {},
                "the service freezes: its count stops; SIGCONT resumes it",
            ),
            (
                &service,
                FaultSpec::Kill {
                    signal: Signal::Kill,
                },
                "the service dies; chaosday supervises it, so the revert starts it again",
            ),
            (
                &host,
                FaultSpec::Cpu { cores: 1, load },
                "a stressor child keeps one core 50% busy; the revert stops it",
            ),
        ] {
            println!(
                "\n>>> injecting {fault} for {}: {note}",
                humantime::format_duration(args.fault_for)
            );
            let mut handle = engine.inject(target, &fault, Some(args.fault_for)).await?;
            println!("    fault #{} active: {}", handle.id, handle.description);
            let ended = tokio::select! {
                ending = handle.ended() => ending,
                () = watch(&supervisor, &supervision, &count_file, args.fault_for + Duration::from_secs(5)) => handle.ended().await,
            };
            println!("<<< fault #{} reverted ({})", handle.id, ended.reason);
            watch(
                &supervisor,
                &supervision,
                &count_file,
                Duration::from_secs(2),
            )
            .await;
        }
        anyhow::Ok(())
    };
    let result = tokio::select! {
        result = script => result,
        reason = interrupts.recv() => {
            println!("\n{reason}: reverting every fault and stopping the service");
            Ok(())
        }
    };
    let reverted = engine.shutdown("demo stopped").await;
    supervisor.stop_all(Duration::from_secs(2)).await;
    result?;
    println!(
        "\ndone: {} fault(s) left to revert at the end; see them all with `chaosday fault list --all --state-dir {}`",
        reverted.len(),
        state_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints the service's state twice a second for `span`.
async fn watch(
    supervisor: &Supervisor,
    supervision: &Supervision,
    count_file: &Path,
    span: Duration,
) {
    let start = Instant::now();
    while start.elapsed() < span {
        let count = std::fs::read_to_string(count_file).unwrap_or_default();
        let state = match supervisor.running(supervision).and_then(|id| id.read()) {
            Some(info) if info.is_stopped() => format!("pid {} PAUSED", info.pid),
            Some(info) => format!("pid {} running", info.pid),
            None => "NOT RUNNING".into(),
        };
        println!("    service {state:<18} ticks {}", count.trim());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The demo's service: counts quarter seconds into a file until killed.
pub async fn ticker(args: &TickerArgs) -> anyhow::Result<ExitCode> {
    let mut count: u64 = std::fs::read_to_string(&args.file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    loop {
        count += 1;
        std::fs::write(&args.file, format!("{count}\n"))
            .with_context(|| format!("writing {}", args.file.display()))?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
