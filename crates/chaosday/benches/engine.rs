//! Engine benchmark: what chaosday adds on top of doing the same thing by hand.
//!
//! Run with `cargo bench -p chaosday --bench engine`. It prints figures next to a baseline
//! measured in the same run and never asserts on timing:
//!
//! 1. process kill, inject → effect: `kill(2)` by hand versus [`Engine::inject`] of a
//!    `kill` fault, each on a fresh `sleep 1000` child, until the child is a zombie;
//! 2. the kill switch: [`Engine::abort`] with 20 `pause` faults and one `cpu` fault live,
//!    versus sending SIGCONT by hand to 20 stopped processes.
//!
//! Every child is killed and reaped at the end, also when a step fails. The journal lives in
//! a fresh temporary directory (`TMPDIR` chooses where, which matters: every journal write
//! is an fsync).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chaosday_domain::{
    FaultSpec, HostTarget, Percent, ProcessSelector, ProcessTarget, Signal, TargetSpec,
};
use chaosday_engine::{
    Engine, EngineConfig, RevertOutcome, StressorCommand, Supervisor, standard_drivers,
};
use chaosday_store::SqliteJournal;
use chaosday_testkit::owned_port;
use nix::sys::signal::{Signal as NixSignal, kill};
use nix::unistd::Pid;

/// Measured kills of each kind.
const KILL_ITERATIONS: usize = 30;
/// Unmeasured kills first (SQLite and page caches, lazy initialisation).
const KILL_WARMUP: usize = 3;
/// Paused processes per kill-switch run.
const PAUSED: usize = 20;
/// Kill-switch runs.
const ABORT_RUNS: usize = 5;
/// How long an observer waits for an effect before giving up.
const OBSERVE_LIMIT: Duration = Duration::from_secs(10);

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot build the tokio runtime")?;
    runtime.block_on(run())
}

async fn run() -> Result<()> {
    let dir = tempfile::TempDir::new().context("cannot create a temporary directory")?;
    let journal_path = dir.path().join("journal.sqlite");
    let journal = SqliteJournal::open(&journal_path).await?;
    let stressor = StressorCommand {
        program: env!("CARGO_BIN_EXE_chaosday").into(),
        args: vec!["__stress".into()],
    };
    let links = chaosday_engine::LinkDriver::new(chaosday_proxy::Registry::new(None))?;
    let drivers = standard_drivers(Supervisor::new(None), stressor, links.clone());
    let config = EngineConfig {
        origin: "bench".into(),
        ..EngineConfig::default()
    };
    let (engine, _) = Engine::open(Arc::new(journal), drivers, config).await?;

    println!("chaosday engine benchmark");
    println!(
        "  {} CPU(s), journal {} (SQLite WAL, synchronous=FULL)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        journal_path.display()
    );
    println!("  all times in milliseconds; percentiles are nearest-rank");

    let result = async {
        bench_kill(&engine).await?;
        bench_kill_switch(&engine).await?;
        bench_link_toxic(&engine, &links).await
    }
    .await;

    // Whatever happened, leave nothing injected: resume paused children, stop stressors.
    let _ = engine.rearm("bench cleanup").await;
    let leftovers = engine.shutdown("bench cleanup").await;
    if !leftovers.is_empty() {
        eprintln!("cleanup reverted {} fault(s) left live", leftovers.len());
    }
    result
}

// ---------------------------------------------------------------------------------------
// 1. process kill: inject → effect

async fn bench_kill(engine: &Engine) -> Result<()> {
    let mut direct = Vec::with_capacity(KILL_ITERATIONS);
    let mut effect = Vec::with_capacity(KILL_ITERATIONS);
    let mut returned = Vec::with_capacity(KILL_ITERATIONS);
    for i in 0..KILL_WARMUP + KILL_ITERATIONS {
        // Alternate the two so that drift (cache, frequency, other load) hits both alike.
        let d = kill_direct()?;
        let (e, r) = kill_chaosday(engine).await?;
        if i >= KILL_WARMUP {
            direct.push(d);
            effect.push(e);
            returned.push(r);
        }
    }
    let live = engine.list(None).await?.len();

    println!();
    println!(
        "1. process kill, inject -> effect  (SIGKILL on a `sleep 1000` child; {KILL_ITERATIONS} iterations after {KILL_WARMUP} warm-up)"
    );
    println!("   {:<44} {:>9} {:>9} {:>9}", "", "p50", "p99", "max");
    let rows = [
        ("direct: kill(2) -> gone (baseline)", &direct),
        ("chaosday: inject() called -> gone", &effect),
        ("chaosday: inject() called -> it returned", &returned),
    ];
    for (name, samples) in rows {
        let s = Stats::of(samples);
        println!("   {name:<44} {:>9.3} {:>9.3} {:>9.3}", s.p50, s.p99, s.max);
    }
    // Each chaosday kill ran right after a direct one: the added cost is taken pair by pair.
    let paired = |chaosday: &[f64]| -> Vec<f64> {
        chaosday.iter().zip(&direct).map(|(c, d)| c - d).collect()
    };
    let extra = [
        ("added cost to the effect (pairwise)", paired(&effect)),
        ("added cost to the return (pairwise)", paired(&returned)),
    ];
    for (name, samples) in &extra {
        let s = Stats::of(samples);
        println!("   {name:<44} {:>9.3} {:>9.3} {:>9.3}", s.p50, s.p99, s.max);
    }
    let (e, r) = (Stats::of(&effect), Stats::of(&returned));
    println!(
        "   SPEC target: process kill <= 20 ms    measured p99: effect {:.3} ms, return {:.3} ms ({})",
        e.p99,
        r.p99,
        if r.p99 <= 20.0 { "within" } else { "over" }
    );
    println!("   journal after reverting each kill: {live} live fault(s)");
    Ok(())
}

/// Kills a fresh child by hand; milliseconds from `kill(2)` until it is gone.
fn kill_direct() -> Result<f64> {
    let mut children = Children::default();
    let pid = children.spawn_sleep()?;
    let observer = Observer::start(pid);
    let start = Instant::now();
    kill(nix_pid(pid), NixSignal::SIGKILL).context("kill(2)")?;
    let seen = observer.wait()?;
    Ok(ms(seen - start))
}

/// Kills a fresh child through the engine; milliseconds from calling `inject` until the child
/// is gone, and until `inject` returned. Reverts the fault so that the journal stays clean.
async fn kill_chaosday(engine: &Engine) -> Result<(f64, f64)> {
    let mut children = Children::default();
    let pid = children.spawn_sleep()?;
    let target = TargetSpec::Process(ProcessTarget::new(ProcessSelector::Pid(pid)));
    let fault = FaultSpec::Kill {
        signal: Signal::Kill,
    };
    let observer = Observer::start(pid);
    let start = Instant::now();
    let injected = engine.inject(&target, &fault, None).await;
    let returned = start.elapsed();
    let handle = injected.with_context(|| format!("injecting a kill into pid {pid}"))?;
    let seen = observer.wait()?;
    // An unsupervised kill cannot be undone; its entry stays `active` until reverted.
    match engine.revert(handle.id, "bench").await? {
        RevertOutcome::Reverted { .. } => {}
        other => bail!("reverting kill fault #{}: {other:?}", handle.id),
    }
    Ok((ms(seen - start), ms(returned)))
}

// ---------------------------------------------------------------------------------------
// 2. kill switch

struct AbortRun {
    baseline: f64,
    abort: f64,
    reported: u128,
    /// Outcomes `Reverted`: this `abort()` call reverted them.
    reverted: usize,
    /// Outcomes `AlreadyEnded`, with the state `abort()` found: something else claimed them.
    already_ended: Vec<String>,
    /// Outcomes `Failed`.
    failed: Vec<String>,
    /// Children not stopped once `abort()` returned.
    resumed: usize,
    stressor_gone: bool,
    live_after: usize,
    pause_injects: Vec<f64>,
    cpu_inject: f64,
}

impl AbortRun {
    /// Every effect undone when `abort()` returned: no child stopped, no stressor, no live
    /// entry in the journal, no failed revert.
    fn all_reverted(&self) -> bool {
        self.resumed == PAUSED
            && self.stressor_gone
            && self.live_after == 0
            && self.failed.is_empty()
    }
}

async fn bench_kill_switch(engine: &Engine) -> Result<()> {
    let mut runs = Vec::with_capacity(ABORT_RUNS);
    for _ in 0..ABORT_RUNS {
        runs.push(abort_run(engine).await?);
        engine.rearm("bench").await?;
    }

    println!();
    println!(
        "2. kill switch  ({PAUSED} `pause` faults on `sleep 1000` children + 1 `cpu` fault (1 core, 10%); {ABORT_RUNS} runs)"
    );
    println!(
        "   {:>3} {:>12} {:>9} {:>9} {:>14} {:>8} {:>9} {:>5} {:>13}",
        "run",
        "SIGCONT x20",
        "abort()",
        "reported",
        "outcomes R/A/F",
        "resumed",
        "stressor",
        "live",
        "all reverted"
    );
    for (i, run) in runs.iter().enumerate() {
        println!(
            "   {:>3} {:>12.3} {:>9.3} {:>9} {:>14} {:>8} {:>9} {:>5} {:>13}",
            i + 1,
            run.baseline,
            run.abort,
            run.reported,
            format!(
                "{}/{}/{}",
                run.reverted,
                run.already_ended.len(),
                run.failed.len()
            ),
            format!("{}/{PAUSED}", run.resumed),
            if run.stressor_gone { "gone" } else { "RUNNING" },
            run.live_after,
            yes_no(run.all_reverted())
        );
        let not_done: Vec<&String> = run
            .already_ended
            .iter()
            .filter(|state| state.as_str() != "Reverted")
            .collect();
        if !not_done.is_empty() {
            println!(
                "       abort() returned while these were still being reverted elsewhere: {not_done:?}"
            );
        }
        for error in &run.failed {
            println!("       failed: {error}");
        }
    }
    println!(
        "   outcomes R/A/F: Reverted by this abort() / AlreadyEnded (claimed first by the engine's own journal watcher) / Failed"
    );
    let baseline: Vec<f64> = runs.iter().map(|r| r.baseline).collect();
    let abort: Vec<f64> = runs.iter().map(|r| r.abort).collect();
    let (b, a) = (Stats::of(&baseline), Stats::of(&abort));
    println!("   {:<44} {:>9} {:>9}", "", "p50", "max");
    println!(
        "   {:<44} {:>9.3} {:>9.3}",
        "direct: SIGCONT x20 -> all running (baseline)", b.p50, b.max
    );
    println!(
        "   {:<44} {:>9.3} {:>9.3}",
        "chaosday: abort() called -> it returned", a.p50, a.max
    );
    println!(
        "   {:<44} {:>9.3} {:>9.3}",
        "added cost (chaosday - direct)",
        a.p50 - b.p50,
        a.max - b.max
    );
    println!(
        "   SPEC target: every active fault reverted <= 1 s    measured max {:.3} ms ({}); all reverted: {}",
        a.max,
        if a.max <= 1000.0 { "within" } else { "over" },
        yes_no(runs.iter().all(AbortRun::all_reverted))
    );
    let pauses: Vec<f64> = runs
        .iter()
        .flat_map(|r| r.pause_injects.iter().copied())
        .collect();
    let cpus: Vec<f64> = runs.iter().map(|r| r.cpu_inject).collect();
    let (p, c) = (Stats::of(&pauses), Stats::of(&cpus));
    println!(
        "   for reference, set-up injections: pause p50 {:.3} / p99 {:.3} ms ({} samples); cpu p50 {:.3} / max {:.3} ms",
        p.p50,
        p.p99,
        pauses.len(),
        c.p50,
        c.max
    );
    Ok(())
}

async fn abort_run(engine: &Engine) -> Result<AbortRun> {
    let mut children = Children::default();
    let mut pids = Vec::with_capacity(PAUSED);
    for _ in 0..PAUSED {
        pids.push(children.spawn_sleep()?);
    }

    // Baseline: stop them by hand, then time SIGCONT to all until none is stopped.
    for &pid in &pids {
        kill(nix_pid(pid), NixSignal::SIGSTOP).context("SIGSTOP")?;
    }
    wait_all(
        &pids,
        |state| matches!(state, Some('T' | 't')),
        "stopped by hand",
    )?;
    let start = Instant::now();
    for &pid in &pids {
        kill(nix_pid(pid), NixSignal::SIGCONT).context("SIGCONT")?;
    }
    wait_all(
        &pids,
        |state| !matches!(state, Some('T' | 't')),
        "resumed by hand",
    )?;
    let baseline = ms(start.elapsed());

    // chaosday: the same processes paused through the engine, plus a cpu stressor.
    let mut pause_injects = Vec::with_capacity(PAUSED);
    for &pid in &pids {
        let target = TargetSpec::Process(ProcessTarget::new(ProcessSelector::Pid(pid)));
        let start = Instant::now();
        engine
            .inject(&target, &FaultSpec::Pause {}, None)
            .await
            .with_context(|| format!("pausing pid {pid}"))?;
        pause_injects.push(ms(start.elapsed()));
    }
    let load = Percent::new(10).context("10% is a valid load")?;
    let start = Instant::now();
    engine
        .inject(
            &TargetSpec::Host(HostTarget::default()),
            &FaultSpec::Cpu { cores: 1, load },
            None,
        )
        .await
        .context("injecting the cpu fault")?;
    let cpu_inject = ms(start.elapsed());
    if stressors().is_empty() {
        bail!("the cpu fault is active but no stressor runs");
    }
    if pids
        .iter()
        .any(|&pid| !matches!(proc_state(pid), Some('T' | 't')))
    {
        bail!("a paused child is not stopped before the kill switch");
    }

    let start = Instant::now();
    let report = engine.abort("bench").await?;
    let abort = ms(start.elapsed());
    // Observed at once: the kill switch has returned, so every fault must be reverted now.
    let resumed = pids
        .iter()
        .filter(|&&pid| !matches!(proc_state(pid), Some('T' | 't')))
        .count();
    let stressor_gone = stressors().is_empty();
    let live_after = engine.list(None).await?.len();

    let mut reverted = 0;
    let mut already_ended = Vec::new();
    let mut failed = Vec::new();
    for outcome in &report.outcomes {
        match outcome {
            RevertOutcome::Reverted { .. } => reverted += 1,
            RevertOutcome::AlreadyEnded { state, .. } => already_ended.push(format!("{state:?}")),
            RevertOutcome::Failed { id, error } => failed.push(format!("#{id}: {error}")),
        }
    }
    Ok(AbortRun {
        baseline,
        abort,
        reported: report.elapsed_ms,
        reverted,
        already_ended,
        failed,
        resumed,
        stressor_gone,
        live_after,
        pause_injects,
        cpu_inject,
    })
}

/// Spins until `done` holds for the state of every pid.
fn wait_all(pids: &[u32], done: impl Fn(Option<char>) -> bool, what: &str) -> Result<()> {
    let start = Instant::now();
    while !pids.iter().all(|&pid| done(proc_state(pid))) {
        if start.elapsed() > OBSERVE_LIMIT {
            bail!("the children were not all {what} after {OBSERVE_LIMIT:?}");
        }
        std::hint::spin_loop();
    }
    Ok(())
}

/// Live stressors started by this process (the cpu fault's), zombies excluded.
fn stressors() -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some((state, ppid)) = parse_stat(&stat) else {
                return false;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid == me
                && !matches!(state, 'Z' | 'X')
                && cmdline.split(|b| *b == 0).any(|arg| arg == b"__stress")
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Children, observation, statistics

/// Children of this process, killed and reaped when dropped, on every path.
#[derive(Default)]
struct Children(Vec<Child>);

impl Children {
    fn spawn_sleep(&mut self) -> Result<u32> {
        let child = Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start `sleep 1000`")?;
        let pid = child.id();
        self.0.push(child);
        // `spawn` returns as soon as the child has entered `execve`, before the kernel has
        // set up the new command line: for a moment `/proc/PID/cmdline` is empty, and the
        // engine refuses such a process as a kernel thread. Wait until `sleep` shows.
        let start = Instant::now();
        loop {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmdline.starts_with(b"sleep\0") {
                return Ok(pid);
            }
            if start.elapsed() > OBSERVE_LIMIT {
                bail!("pid {pid} does not show `sleep 1000` after {OBSERVE_LIMIT:?}");
            }
            std::thread::yield_now();
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A thread that spins on `/proc/PID/stat` and notes when the process is gone: a zombie, or
/// no longer in `/proc`.
struct Observer {
    pid: u32,
    thread: JoinHandle<Option<Instant>>,
}

impl Observer {
    /// Starts observing; returns once the thread is spinning, so the start is not measured.
    fn start(pid: u32) -> Observer {
        let ready = Arc::new(Barrier::new(2));
        let thread = std::thread::spawn({
            let ready = ready.clone();
            move || {
                ready.wait();
                let start = Instant::now();
                loop {
                    if matches!(proc_state(pid), None | Some('Z' | 'X')) {
                        return Some(Instant::now());
                    }
                    if start.elapsed() > OBSERVE_LIMIT {
                        return None;
                    }
                    // Stay on the CPU, but let another thread of this core run first.
                    std::thread::yield_now();
                }
            }
        });
        ready.wait();
        Observer { pid, thread }
    }

    fn wait(self) -> Result<Instant> {
        match self.thread.join() {
            Ok(Some(seen)) => Ok(seen),
            Ok(None) => bail!("pid {} showed no effect within {OBSERVE_LIMIT:?}", self.pid),
            Err(_) => bail!("the observer of pid {} panicked", self.pid),
        }
    }
}

/// The state letter of a process (`R`, `S`, `T`, `Z`, ...), `None` if it is not in `/proc`.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(PathBuf::from(format!("/proc/{pid}/stat"))).ok()?;
    parse_stat(&stat).map(|(state, _)| state)
}

/// (state, ppid) from `/proc/PID/stat`, counting fields after the command name's last `)`.
fn parse_stat(stat: &str) -> Option<(char, u32)> {
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

fn nix_pid(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX))
}

/// Part 3, a latency toxic on a link with an open connection: from the call until the toxic
/// is in place for the connection's next chunk (checked: the next ping is delayed), against
/// the proxy registry's own `add_toxic` with no journal.
async fn bench_link_toxic(engine: &Engine, links: &chaosday_engine::LinkDriver) -> Result<()> {
    use chaosday_domain::{FaultSpec, LinkTarget, LinkToxic, TargetSpec};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const ITERATIONS: usize = 30;
    const LATENCY: Duration = Duration::from_millis(20);
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let upstream_addr = upstream.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = upstream.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let listen = format!("127.0.0.1:{}", owned_port());
    let target = LinkTarget::local(listen.clone(), upstream_addr.to_string());
    let proxy = links.ensure(&target).await?;
    let mut conn = tokio::net::TcpStream::connect(&listen).await?;
    conn.set_nodelay(true)?;
    let mut ping = async || -> Result<Duration> {
        let start = Instant::now();
        conn.write_all(b"p").await?;
        let mut b = [0u8; 1];
        conn.read_exact(&mut b).await?;
        Ok(start.elapsed())
    };
    ping().await?;
    let fault = FaultSpec::Latency {
        latency: LATENCY,
        jitter: Duration::ZERO,
        link: LinkToxic::default(),
    };
    let toxic = chaosday_proxy::Toxic::new(
        chaosday_proxy::ToxicKind::Latency {
            latency: LATENCY.as_millis() as i64,
            jitter: 0,
        },
        chaosday_proxy::Stream::Downstream,
    )
    .named("bench");
    let (mut direct, mut chaosday, mut delayed) = (Vec::new(), Vec::new(), 0);
    for _ in 0..ITERATIONS {
        let start = Instant::now();
        links.registry().add_toxic(&proxy, toxic.clone())?;
        direct.push(ms(start.elapsed()));
        delayed += usize::from(ping().await? >= LATENCY);
        links.registry().remove_toxic(&proxy, "bench")?;
        ping().await?;

        let start = Instant::now();
        let handle = engine
            .inject(&TargetSpec::Link(target.clone()), &fault, None)
            .await?;
        chaosday.push(ms(start.elapsed()));
        delayed += usize::from(ping().await? >= LATENCY);
        engine.revert(handle.id, "bench").await?;
        ping().await?;
    }
    let (d, c) = (Stats::of(&direct), Stats::of(&chaosday));
    println!();
    println!(
        "3. toxic on open traffic, inject -> effect  (a {} ms latency toxic on a link with an open connection; {ITERATIONS} iterations)",
        LATENCY.as_millis()
    );
    println!("                                                      p50       p99       max");
    println!(
        "   direct: Registry::add_toxic (baseline)        {:>9.3} {:>9.3} {:>9.3}",
        d.p50, d.p99, d.max
    );
    println!(
        "   chaosday: inject() called -> it returned      {:>9.3} {:>9.3} {:>9.3}",
        c.p50, c.p99, c.max
    );
    println!(
        "   the next ping on the open connection was delayed: {delayed}/{} times",
        ITERATIONS * 2
    );
    println!(
        "   SPEC target: toxic on open traffic <= 5 ms    measured p99 {:.3} ms ({})",
        c.p99,
        if c.p99 <= 5.0 { "within" } else { "NOT within" }
    );
    links.registry().delete(&proxy).await?;
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

struct Stats {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Stats {
    fn of(samples: &[f64]) -> Stats {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| -> f64 {
            if sorted.is_empty() {
                return f64::NAN;
            }
            // Nearest rank: the smallest sample with at least p of them at or below it.
            let index = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
            sorted[index]
        };
        Stats {
            p50: rank(0.50),
            p99: rank(0.99),
            max: rank(1.0),
        }
    }
}
