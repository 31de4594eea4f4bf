//! Container faults: what chaosday adds on top of the Docker Engine API called by hand.
//!
//! Run with `cargo bench -p chaosday --bench containers` (a Docker Engine must answer). It
//! prints figures next to a baseline measured in the same run and never asserts on timing
//! (SPEC §8: a container kill takes effect within 200 ms):
//!
//! 1. pause, inject → effect: the Engine API's pause by hand (until the container reads
//!    paused) versus [`Engine::inject`] of a `pause` fault (which returns once it is paused);
//!    and the revert: unpause by hand versus [`Engine::revert`];
//! 2. kill, inject → effect: the Engine API's kill (SIGKILL) by hand until the container
//!    reads stopped, versus [`Engine::inject`] of a `kill`; the revert starts it again.
//!
//! The container runs an image imported from chaosday's own binary and is removed at the end.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bollard::Docker;
use bollard::query_parameters::KillContainerOptions;
use chaosday_domain::target::ContainerTarget;
use chaosday_domain::{FaultSpec, Signal, TargetSpec};
use chaosday_engine::{ContainerDriver, Engine, EngineConfig};
use chaosday_store::SqliteJournal;

/// Measured runs of each kind.
const RUNS: usize = 20;
/// Unmeasured runs first.
const WARMUP: usize = 2;
const IMAGE: &str = "chaosday-bench:containers";

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot build the tokio runtime")?;
    runtime.block_on(run())
}

/// Docker's own CLI, for the setup and the cleanup.
fn docker_cli(args: &[&str]) -> Result<String> {
    let out = std::process::Command::new("docker").args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Removes the container when the bench ends, also on an error.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = docker_cli(&["rm", "-f", &self.0]);
    }
}

async fn state(docker: &Docker, name: &str) -> Result<(bool, bool)> {
    let s = docker
        .inspect_container(name, None)
        .await?
        .state
        .unwrap_or_default();
    Ok((s.running.unwrap_or(false), s.paused.unwrap_or(false)))
}

async fn until(docker: &Docker, name: &str, done: impl Fn(bool, bool) -> bool) -> Result<()> {
    let started = Instant::now();
    loop {
        let (running, paused) = state(docker, name).await?;
        if done(running, paused) {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(20),
            "{name} does not change"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn line(what: &str, by_hand: Vec<Duration>, chaosday: Vec<Duration>) {
    let (a, b) = (median(by_hand), median(chaosday));
    println!(
        "{what:<24} by hand {:>7.1} ms   chaosday {:>7.1} ms   ratio {:.2}",
        a.as_secs_f64() * 1e3,
        b.as_secs_f64() * 1e3,
        b.as_secs_f64() / a.as_secs_f64()
    );
}

async fn run() -> Result<()> {
    chaosday_testkit::import_image(std::path::Path::new(env!("CARGO_BIN_EXE_chaosday")), IMAGE);
    let name = format!("chaosday-bench-{}", std::process::id());
    docker_cli(&[
        "run", "-d", "--name", &name, IMAGE, "__shop", "stock", "--port", "8080", "--dir", "/tmp",
    ])?;
    let _cleanup = Cleanup(name.clone());
    let docker = Docker::connect_with_local_defaults()?;
    until(&docker, &name, |running, _| running).await?;

    let dir = tempfile::TempDir::new()?;
    let journal = SqliteJournal::open(&dir.path().join("journal.sqlite")).await?;
    let config = EngineConfig {
        origin: "bench".into(),
        ..EngineConfig::default()
    };
    let (engine, _) = Engine::open(
        std::sync::Arc::new(journal),
        vec![std::sync::Arc::new(ContainerDriver::new())],
        config,
    )
    .await?;
    let target = TargetSpec::Container(ContainerTarget::named(name.clone()));

    let (mut pause_hand, mut pause_cd, mut unpause_hand, mut unpause_cd) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..WARMUP + RUNS {
        let t = Instant::now();
        docker.pause_container(&name).await?;
        until(&docker, &name, |_, paused| paused).await?;
        let hand = t.elapsed();
        let t = Instant::now();
        docker.unpause_container(&name).await?;
        until(&docker, &name, |_, paused| !paused).await?;
        let unhand = t.elapsed();
        let t = Instant::now();
        let handle = engine.inject(&target, &FaultSpec::Pause {}, None).await?;
        let cd = t.elapsed();
        let t = Instant::now();
        engine.revert(handle.id, "bench").await?;
        until(&docker, &name, |_, paused| !paused).await?;
        let uncd = t.elapsed();
        if i >= WARMUP {
            pause_hand.push(hand);
            unpause_hand.push(unhand);
            pause_cd.push(cd);
            unpause_cd.push(uncd);
        }
    }
    let (mut kill_hand, mut kill_cd, mut start_cd) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..WARMUP + RUNS {
        let t = Instant::now();
        docker
            .kill_container(&name, Some(KillContainerOptions::default()))
            .await?;
        until(&docker, &name, |running, _| !running).await?;
        let hand = t.elapsed();
        docker.start_container(&name, None).await?;
        until(&docker, &name, |running, _| running).await?;
        let t = Instant::now();
        let handle = engine
            .inject(
                &target,
                &FaultSpec::Kill {
                    signal: Signal::default(),
                },
                None,
            )
            .await?;
        let cd = t.elapsed();
        let t = Instant::now();
        engine.revert(handle.id, "bench").await?;
        until(&docker, &name, |running, _| running).await?;
        let start = t.elapsed();
        if i >= WARMUP {
            kill_hand.push(hand);
            kill_cd.push(cd);
            start_cd.push(start);
        }
    }
    println!("container faults, median of {RUNS} runs (the Engine API by hand is the baseline):");
    line("pause, inject → effect", pause_hand, pause_cd);
    line("pause, revert", unpause_hand, unpause_cd);
    line("kill, inject → effect", kill_hand, kill_cd);
    println!(
        "{:<24} chaosday {:>7.1} ms (start it again, until it runs)",
        "kill, revert",
        median(start_cd).as_secs_f64() * 1e3
    );
    drop(_cleanup);
    docker_cli(&["image", "rm", IMAGE])?;
    Ok(())
}
