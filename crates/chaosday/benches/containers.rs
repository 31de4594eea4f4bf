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
//!    reads stopped, versus [`Engine::inject`] of a `kill`; the revert starts it again;
//! 3. network faults inside the container's namespace (partition, loss, rate, a latency
//!    redirected into a proxy), inject → in place, and revert: `nft -f` of the same kind of
//!    table (or `tc qdisc add` of the same token bucket) run in the namespace by hand, versus
//!    [`Engine::inject`] and [`Engine::revert`] (which resolve the container, find its
//!    namespace, journal the plan, and for the latency start a proxy inside it).
//!
//! The container runs an image imported from chaosday's own binary and is removed at the end.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bollard::Docker;
use bollard::query_parameters::KillContainerOptions;
use chaosday_domain::target::ContainerTarget;
use chaosday_domain::{FaultSpec, LinkToxic, NetScope, Signal, TargetSpec};
use chaosday_engine::netns::Netns;
use chaosday_engine::proc::ProcessIdentity;
use chaosday_engine::{ContainerDriver, Engine, EngineConfig, NetworkDriver, ProcessDriver};
use chaosday_store::SqliteJournal;

/// Measured runs of each kind.
const RUNS: usize = 20;
/// Unmeasured runs first.
const WARMUP: usize = 2;
const IMAGE: &str = "chaosday-bench:containers";

fn main() -> Result<()> {
    // Before the runtime: the import runs one of its own.
    chaosday_testkit::import_image(std::path::Path::new(env!("CARGO_BIN_EXE_chaosday")), IMAGE);
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
    let network = NetworkDriver::new(
        ProcessDriver::new(chaosday_engine::Supervisor::new(None)),
        ContainerDriver::new(),
    )
    .with_proxies(
        chaosday_proxy::Registry::new(Some(1)),
        ProcessIdentity::current()?,
    );
    let (engine, _) = Engine::open(
        std::sync::Arc::new(journal),
        vec![
            std::sync::Arc::new(ContainerDriver::new()),
            std::sync::Arc::new(network),
        ],
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
    network_faults(&engine, &target, &name).await?;
    drop(_cleanup);
    docker_cli(&["image", "rm", IMAGE])?;
    Ok(())
}

/// Runs `args` in the namespace by hand.
async fn by_hand(
    ns: &std::sync::Arc<Netns>,
    tool: &'static str,
    args: Vec<String>,
    input: Option<String>,
) -> Result<()> {
    let ns = ns.clone();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ns.check(tool, &args, input.as_deref()).map(drop)
    })
    .await?
    .map_err(anyhow::Error::msg)
}

async fn network_faults(engine: &Engine, target: &TargetSpec, name: &str) -> Result<()> {
    let pid: u32 = docker_cli(&["inspect", "-f", "{{.State.Pid}}", name])?.parse()?;
    let ns = std::sync::Arc::new(Netns::of_pid(pid)?);
    let peer = "10.99.0.1".to_owned();
    let peers = NetScope {
        peers: vec![peer.clone()],
        ..NetScope::default()
    };
    let drop_table = "table inet bench_by_hand {\n  chain egress {\n    type filter hook output priority -150; policy accept;\n    ip daddr 10.99.0.1 drop\n  }\n}\n";
    let redirect_table = "table inet bench_by_hand {\n  chain output {\n    type nat hook output priority -100; policy accept;\n    ip daddr 10.99.0.1 tcp dport 8080 redirect to :9\n  }\n}\n";
    let nft_add = |script: &str| {
        (
            "nft",
            vec!["-f".to_owned(), "-".to_owned()],
            Some(script.to_owned()),
        )
    };
    let nft_del = || {
        (
            "nft",
            ["delete", "table", "inet", "bench_by_hand"]
                .map(str::to_owned)
                .to_vec(),
            None,
        )
    };
    let tc = |verb: &str| {
        let mut args: Vec<String> = ["qdisc", verb, "dev", "eth0", "root", "handle", "cdcd:"]
            .map(str::to_owned)
            .to_vec();
        if verb == "add" {
            args.extend(
                [
                    "tbf", "rate", "800kbit", "burst", "3200", "latency", "500ms",
                ]
                .map(str::to_owned),
            );
        }
        ("tc", args, None)
    };
    type Step = (&'static str, Vec<String>, Option<String>);
    let kinds: Vec<(&str, FaultSpec, Step, Step)> = vec![
        (
            "partition",
            FaultSpec::Partition { net: peers.clone() },
            nft_add(drop_table),
            nft_del(),
        ),
        (
            "loss",
            FaultSpec::Loss {
                probability: 0.3,
                net: peers.clone(),
            },
            nft_add(drop_table),
            nft_del(),
        ),
        (
            "rate",
            FaultSpec::Rate {
                rate: 100,
                host_network: false,
            },
            tc("add"),
            tc("del"),
        ),
        (
            "latency (redirected)",
            FaultSpec::Latency {
                latency: Duration::from_millis(100),
                jitter: Duration::ZERO,
                link: LinkToxic {
                    peers: vec![peer.clone()],
                    ports: vec![8080],
                    ..LinkToxic::default()
                },
            },
            nft_add(redirect_table),
            nft_del(),
        ),
    ];
    println!(
        "network faults inside the container's namespace, median of {RUNS} runs (nft/tc by hand in the namespace is the baseline):"
    );
    for (what, fault, add, del) in kinds {
        let (mut in_hand, mut in_cd, mut out_hand, mut out_cd) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..WARMUP + RUNS {
            let t = Instant::now();
            by_hand(&ns, add.0, add.1.clone(), add.2.clone()).await?;
            let hand = t.elapsed();
            let t = Instant::now();
            by_hand(&ns, del.0, del.1.clone(), del.2.clone()).await?;
            let unhand = t.elapsed();
            let t = Instant::now();
            let handle = engine.inject(target, &fault, None).await?;
            let cd = t.elapsed();
            let t = Instant::now();
            engine.revert(handle.id, "bench").await?;
            let uncd = t.elapsed();
            if i >= WARMUP {
                in_hand.push(hand);
                out_hand.push(unhand);
                in_cd.push(cd);
                out_cd.push(uncd);
            }
        }
        line(&format!("{what}, inject"), in_hand, in_cd);
        line(&format!("{what}, revert"), out_hand, out_cd);
    }
    Ok(())
}
