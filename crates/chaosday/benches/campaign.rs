//! Faults never leak (issue 13): a `kill -9` campaign against the real binary.
//!
//! Run with `cargo bench -p chaosday --bench campaign -- --trials N --kinds a,b --seed S`
//! (defaults: 10 trials per kind, every kind, a fresh seed; the seed is printed, and giving it
//! back draws the same moments). Each trial starts a chaosday process that injects a fault,
//! `kill -9`s it at a random moment of its life, then measures:
//!
//! - `left_before`: the fault's effect still there right after the kill, before any other
//!   chaosday command ran. Stressors get their grace (they must exit by themselves through
//!   their parent-death signal): polled up to 2 s. A link fault lives in its proxy, which
//!   dies with its process: its effect counts as gone once nothing accepts on the link's
//!   listen address (polled up to 2 s), so a link's `left_before` is a listener that
//!   outlived its process;
//! - `left_after`: the effect still there after the next chaosday command
//!   (`chaosday fault list`, whose recovery reverts what a dead chaosday left; for
//!   `serve-opening`, `chaosday serve` started again). Must be 0;
//! - `live_entries_after`: journal entries that command still prints as live, faults of a
//!   live owner excepted (`serve-opening`: live faults and open incidents once the game is
//!   ended). Must be 0.
//!
//! The moments are spread over a process's whole life, in four phases drawn in turn: `start`
//! (before the fault is asked for), `inject` (while it is injected), `active` (its effect
//! in place), `revert` (its timer, or the API call, reverting it). Each phase's window comes
//! from one calibration run per kind, not killed, whose event times are printed; the moment
//! is drawn uniformly inside the window with the seeded RNG. `serve-opening` is killed at a
//! moment drawn from 0 to 1.5× a calibrated opening's duration after the `unleash` call.
//!
//! Kinds and how they are driven (the CLI injects process and host faults only):
//! - `pause`, `cpu`, `memory` (64MiB), `disk_fill` (64MiB in a directory under /dev/shm when
//!   it is a tmpfs, else under TMPDIR; the filler must be gone and the free space back,
//!   within half the fill, as `df` says): `chaosday fault inject KIND ... --for 400ms`;
//!   `pause` freezes a `sleep` this bench starts (left: its state letter is `T`);
//! - `kill`: a supervised target (`sleep N`, `supervised: true` in a game file) killed by a
//!   scenario of `chaosday serve` (opened with `POST /api/v1/unleash`) whose fault lasts
//!   300ms; left: the target is not running, once it had been seen running;
//! - `link-toxic`, `link-down`: `chaosday proxy --port 0` (the Toxiproxy API, whose toxics
//!   and `enabled: false` are journaled faults), a proxy listening on port 0 in front of an
//!   echo server of this bench, a latency toxic or a disable, held 300ms, then removed;
//! - `serve-opening`: `chaosday serve` with a started game whose scenario pauses a `sleep`
//!   and loads a core (a `cpu` fault), killed while it opens the scenario; the next command
//!   is `chaosday serve` again, after which the game is ended through the API: no fault may
//!   be live, no incident open, the `sleep` stopped or a stressor running.
//!
//! The binary driven is `env!("CARGO_BIN_EXE_chaosday")`: Cargo builds the package's binary
//! for its benches, in the bench profile (release, with the dev-dependencies' features:
//! failpoints compiled in, inert without `CHAOSDAY_FAILPOINT`, which this bench never sets).
//! No port is chosen by binding and releasing it: `serve` and `proxy` bind port 0 and say
//! which, proxies listen on port 0, the echo upstream stays bound. Each trial has a fresh
//! `--state-dir`. Exits non-zero if any `left_after` or live entry is non-zero (or a trial
//! could not run).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use common::*;

const KINDS: [&str; 8] = [
    "pause",
    "kill",
    "cpu",
    "memory",
    "disk_fill",
    "link-toxic",
    "link-down",
    "serve-opening",
];
const PHASES: [&str; 4] = ["start", "inject", "active", "revert"];
/// How long a CLI fault lasts (`--for`): long enough for the `active` phase, short enough to
/// reach the timer's revert in every trial.
const CLI_FOR: &str = "400ms";
/// How long the link faults are held before the API removes them.
const LINK_HOLD: Duration = Duration::from_millis(300);
/// A stressor's grace to exit by itself once its chaosday died.
const GRACE: Duration = Duration::from_secs(2);
const FILL: u64 = 64 << 20;

struct Args {
    trials: usize,
    kinds: Vec<String>,
    seed: u64,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        trials: 10,
        kinds: KINDS.iter().map(|k| (*k).to_owned()).collect(),
        seed: Rng::entropy(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--trials" => {
                args.trials = it
                    .next()
                    .context("--trials needs a number")?
                    .parse()
                    .context("--trials needs a number")?;
            }
            "--kinds" => {
                let list = it
                    .next()
                    .context("--kinds needs a list such as pause,cpu")?;
                args.kinds = list
                    .split(',')
                    .map(|k| k.trim().replace('-', "_"))
                    .collect();
                args.kinds = args
                    .kinds
                    .iter()
                    .map(|k| {
                        KINDS
                            .iter()
                            .find(|known| known.replace('-', "_") == *k)
                            .map(|known| (*known).to_owned())
                            .with_context(|| format!("unknown kind `{k}`; the kinds: {KINDS:?}"))
                    })
                    .collect::<Result<_>>()?;
            }
            "--seed" => {
                args.seed = it
                    .next()
                    .context("--seed needs a number")?
                    .parse()
                    .context("--seed needs a number")?;
            }
            // `cargo bench` passes `--bench`; filters are not used here.
            "--bench" => {}
            other => eprintln!("campaign: ignoring the argument `{other}`"),
        }
    }
    Ok(args)
}

/// One trial's result.
struct Trial {
    phase: &'static str,
    /// When the kill was sent, from the start of the process (or, for `serve-opening`, of
    /// the `unleash` call).
    moment: Duration,
    /// The process had exited by itself before the kill.
    exited_first: bool,
    left_before: bool,
    left_after: bool,
    live_after: usize,
    /// What was seen, for the leak report.
    note: String,
}

#[derive(Default)]
struct Tally {
    trials: usize,
    left_before: usize,
    left_after: usize,
    live_after: usize,
    errors: usize,
    exited_first: usize,
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let mut rng = Rng::new(args.seed);
    println!("chaosday kill -9 campaign (issue 13: faults never leak)");
    println!(
        "  seed {}  ({} trial(s) per kind; rerun with `-- --seed {}` to draw the same moments)",
        args.seed, args.trials, args.seed
    );
    println!("  binary {CHAOSDAY}");
    let fill_root = fill_root();
    println!(
        "  disk_fill fills {FILL} bytes under {}",
        fill_root.display()
    );
    let echo = echo_server()?;

    let mut tallies = Vec::new();
    let mut leaks = Vec::new();
    for kind in &args.kinds {
        let kind = kind.as_str();
        let mut tally = Tally::default();
        println!();
        let windows = match calibrate(kind, &echo, &fill_root) {
            Ok(windows) => windows,
            Err(e) => {
                println!("{kind}: calibration failed, kind skipped: {e:#}");
                tally.errors = args.trials;
                tallies.push((kind, tally));
                continue;
            }
        };
        print!("{kind}: calibrated windows (ms from start)");
        for (phase, lo, hi) in &windows {
            print!("  {phase} {:.0}-{:.0}", ms(*lo), ms(*hi));
        }
        println!();
        for i in 0..args.trials {
            let (phase, lo, hi) = windows[i % windows.len()];
            let moment = between(&mut rng, lo, hi);
            match trial(kind, moment, &echo, &fill_root) {
                Ok(mut t) => {
                    t.phase = phase;
                    tally.trials += 1;
                    tally.left_before += usize::from(t.left_before);
                    tally.left_after += usize::from(t.left_after);
                    tally.live_after += t.live_after;
                    tally.exited_first += usize::from(t.exited_first);
                    let mark = if t.left_after || t.live_after > 0 {
                        "LEAK"
                    } else if t.left_before {
                        "left before"
                    } else {
                        "ok"
                    };
                    println!(
                        "  {kind} #{:<3} {:<6} kill at {:>7.1} ms{}  {mark}{}",
                        i + 1,
                        phase,
                        ms(moment),
                        if t.exited_first { " (had exited)" } else { "" },
                        if t.note.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", t.note)
                        }
                    );
                    if t.left_before || t.left_after || t.live_after > 0 {
                        leaks.push((kind, i + 1, t));
                    }
                }
                Err(e) => {
                    tally.errors += 1;
                    println!(
                        "  {kind} #{:<3} {phase:<6} kill at {:>7.1} ms  ERROR: {e:#}",
                        i + 1,
                        ms(moment)
                    );
                }
            }
        }
        tallies.push((kind, tally));
    }

    println!();
    println!("seed {}", args.seed);
    println!(
        "{:<14} {:>6} {:>11} {:>10} {:>18} {:>6}",
        "kind", "trials", "left_before", "left_after", "live_entries_after", "errors"
    );
    let mut failed = false;
    for (kind, t) in &tallies {
        println!(
            "{:<14} {:>6} {:>11} {:>10} {:>18} {:>6}",
            kind, t.trials, t.left_before, t.left_after, t.live_after, t.errors
        );
        failed |= t.left_after > 0 || t.live_after > 0 || t.errors > 0;
    }
    println!(
        "left_before of link-toxic and link-down: a listener that outlived its proxy's process (a link fault dies with its proxy)"
    );
    println!(
        "left_before of kill: the supervised target not running once it had run (the next command starts it again)"
    );
    if !leaks.is_empty() {
        println!();
        println!("effects left (kind, trial, phase, kill moment):");
        for (kind, i, t) in &leaks {
            println!(
                "  {kind} #{i} {} at {:.1} ms: before {}, after {}, live entries {}; {}",
                t.phase,
                ms(t.moment),
                yes_no(t.left_before),
                yes_no(t.left_after),
                t.live_after,
                t.note
            );
        }
    }
    if failed {
        bail!("faults leaked past the next chaosday command (or a trial could not run)");
    }
    println!("no fault outlived the next chaosday command");
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Where disk_fill fills: a tmpfs under /dev/shm if there is one (no other writer, so the
/// free space is exact), else TMPDIR.
fn fill_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let is_tmpfs = std::fs::read_to_string("/proc/mounts").is_ok_and(|mounts| {
        mounts
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some("/dev/shm") && l.contains("tmpfs"))
    });
    if is_tmpfs && free_bytes(shm).is_ok_and(|free| free > 16 * FILL) {
        shm.to_owned()
    } else {
        tmp_root()
    }
}

fn calibrate(
    kind: &str,
    echo: &str,
    fill_root: &Path,
) -> Result<Vec<(&'static str, Duration, Duration)>> {
    match kind {
        "pause" | "cpu" | "memory" | "disk_fill" => cli_calibrate(kind, fill_root),
        "kill" => kill_calibrate(),
        "link-toxic" | "link-down" => link_calibrate(kind, echo),
        "serve-opening" => opening_calibrate(),
        _ => bail!("unknown kind {kind}"),
    }
}

fn trial(kind: &str, moment: Duration, echo: &str, fill_root: &Path) -> Result<Trial> {
    match kind {
        "pause" | "cpu" | "memory" | "disk_fill" => cli_trial(kind, moment, fill_root),
        "kill" => kill_trial(moment),
        "link-toxic" | "link-down" => link_trial(kind, moment, echo),
        "serve-opening" => opening_trial(moment),
        _ => bail!("unknown kind {kind}"),
    }
}

/// Builds the four phase windows from event times: the effect appears at `effect`, is
/// reverted at `reverted`, and the process exits at `exit`.
fn windows(
    ready: Duration,
    effect: Duration,
    reverted: Duration,
    exit: Duration,
) -> Vec<(&'static str, Duration, Duration)> {
    let d = Duration::from_millis;
    let active_end = reverted.saturating_sub(d(20)).max(effect + d(2));
    vec![
        (PHASES[0], Duration::ZERO, ready),
        (PHASES[1], ready, effect + d(2)),
        (PHASES[2], effect + d(2), active_end),
        (PHASES[3], active_end, exit + d(2)),
    ]
}

/// Live journal entries whose owner is not alive.
fn dead_owned(list: &[Value]) -> usize {
    list.iter().filter(|f| f["owner_alive"] != true).count()
}

fn describe(list: &[Value]) -> String {
    list.iter()
        .map(|f| {
            format!(
                "#{} {} {} (owner {} alive {})",
                f["id"], f["state"], f["description"], f["owner_pid"], f["owner_alive"]
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------
// pause, cpu, memory, disk_fill: `chaosday fault inject`

struct CliSetup {
    sandbox: tempfile::TempDir,
    victim: Option<Victim>,
    fill: Option<(tempfile::TempDir, u64)>,
}

impl CliSetup {
    fn new(kind: &str, fill_root: &Path) -> Result<CliSetup> {
        let sandbox = temp_dir_in(&tmp_root())?;
        let victim = (kind == "pause")
            .then(|| Victim::sleep(unique()))
            .transpose()?;
        let fill = if kind == "disk_fill" {
            let dir = temp_dir_in(fill_root)?;
            let free = free_bytes(dir.path())?;
            Some((dir, free))
        } else {
            None
        };
        Ok(CliSetup {
            sandbox,
            victim,
            fill,
        })
    }

    fn args(&self, kind: &str) -> Result<Vec<String>> {
        let mut args: Vec<String> = vec!["fault".into(), "inject".into()];
        match kind {
            "pause" => {
                let victim = self.victim.as_ref().context("victim")?;
                args.extend([
                    "pause".into(),
                    "--target".into(),
                    victim.command_line.clone(),
                ]);
            }
            "cpu" => args.extend(["cpu", "--cores", "1", "--load", "10"].map(String::from)),
            "memory" => args.extend(["memory", "--bytes", "64MiB"].map(String::from)),
            "disk_fill" => {
                let (dir, _) = self.fill.as_ref().context("fill dir")?;
                args.extend([
                    "disk-fill".into(),
                    "--directory".into(),
                    path_str(dir.path())?.to_owned(),
                    "--bytes".into(),
                    "64MiB".into(),
                ]);
            }
            _ => bail!("not a CLI kind: {kind}"),
        }
        args.extend(["--for".into(), CLI_FOR.into()]);
        Ok(args)
    }

    fn spawn(&self, kind: &str) -> Result<Child> {
        let args = self.args(kind)?;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let log = std::fs::File::create(self.sandbox.path().join("injector.log"))?;
        chaosday(self.sandbox.path(), &args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting fault inject")
    }

    /// The effect is there now: the victim stopped, a stressor of `injector` running, a
    /// filler in the directory or its space taken.
    fn effect(&self, injector: u32) -> Vec<String> {
        let mut seen = Vec::new();
        if let Some(victim) = &self.victim
            && victim.is_stopped()
        {
            seen.push(format!("pid {} stopped", victim.pid()));
        }
        let stressors = stressors_of(injector);
        if !stressors.is_empty() {
            seen.push(format!("stressor(s) {stressors:?} running"));
        }
        if let Some((dir, free)) = &self.fill {
            let files: Vec<String> = std::fs::read_dir(dir.path())
                .map(|e| {
                    e.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            if !files.is_empty() {
                seen.push(format!("file(s) left in the fill dir: {files:?}"));
            }
            if let Ok(now) = free_bytes(dir.path())
                && now + FILL / 2 < *free
            {
                seen.push(format!("{} MiB not freed", (free - now) >> 20));
            }
        }
        seen
    }
}

fn cli_calibrate(kind: &str, fill_root: &Path) -> Result<Vec<(&'static str, Duration, Duration)>> {
    let setup = CliSetup::new(kind, fill_root)?;
    let start = Instant::now();
    let mut child = setup.spawn(kind)?;
    let pid = child.id();
    let limit = Duration::from_secs(20);
    // The first sign of the fault being asked for: an entry in the journal is not visible
    // without another command, so `ready` is the effect minus the injection's own time,
    // taken as half the time to the effect (a process start dominates it).
    if !wait_until(limit, || !setup.effect(pid).is_empty()) {
        reap(&mut child, Duration::ZERO);
        bail!("the fault never took effect");
    }
    let effect = start.elapsed();
    if !wait_until(limit, || setup.effect(pid).is_empty()) {
        reap(&mut child, Duration::ZERO);
        bail!("the fault was never reverted by its timer");
    }
    let reverted = start.elapsed();
    if !reap(&mut child, limit) {
        bail!("the injector did not exit after its fault ended");
    }
    let exit = start.elapsed();
    println!(
        "{kind}: calibration run: effect at {:.1} ms, reverted at {:.1} ms, exited at {:.1} ms",
        ms(effect),
        ms(reverted),
        ms(exit)
    );
    Ok(windows(effect.mul_f64(0.6), effect, reverted, exit))
}

fn cli_trial(kind: &str, moment: Duration, fill_root: &Path) -> Result<Trial> {
    let setup = CliSetup::new(kind, fill_root)?;
    let start = Instant::now();
    let mut child = setup.spawn(kind)?;
    let pid = child.id();
    sleep_until(start + moment);
    let exited_first = child.try_wait()?.is_some();
    let _ = child.kill();
    child.wait()?;

    let mut note = Vec::new();
    // A pause has no grace: nothing but chaosday resumes it. Stressors get theirs.
    let before = if kind == "pause" {
        setup.effect(pid)
    } else {
        wait_until(GRACE, || setup.effect(pid).is_empty());
        setup.effect(pid)
    };
    if !before.is_empty() {
        note.push(format!("after the kill: {}", before.join(", ")));
    }
    let (list, stderr) = fault_list(setup.sandbox.path())?;
    let after = setup.effect(pid);
    if !after.is_empty() {
        note.push(format!("after fault list: {}", after.join(", ")));
    }
    let live = dead_owned(&list);
    if live > 0 {
        note.push(format!("live entries: {}", describe(&list)));
    }
    if (!after.is_empty() || live > 0) && !stderr.trim().is_empty() {
        note.push(format!(
            "fault list said: {}",
            stderr.trim().replace('\n', " | ")
        ));
    }
    // Leave nothing to the next trial.
    for stressor in stressors_of(pid) {
        sigkill(stressor);
    }
    Ok(Trial {
        phase: "",
        moment,
        exited_first,
        left_before: !before.is_empty(),
        left_after: !after.is_empty(),
        live_after: live,
        note: note.join("; "),
    })
}

// ---------------------------------------------------------------------------------------
// kill of a supervised target: `chaosday serve` and a scenario

fn gm(address: &str, path: &str, body: Value) -> Result<Value> {
    let mut body = body;
    body["player"] = json!("gm");
    http_ok(
        address,
        "POST",
        &format!("/api/v1{path}"),
        Some(GM),
        Some(&body),
    )
}

fn gm_get(address: &str, path: &str) -> Result<Value> {
    http_ok(address, "GET", &format!("/api/v1{path}"), Some(GM), None)
}

/// What a `kill` run saw, in times from the server's start.
#[derive(Default, Clone, Debug)]
struct KillTimes {
    listening: Option<Duration>,
    unleash_sent: Option<Duration>,
    first_pid: Option<u32>,
    dead: Option<Duration>,
    back: Option<Duration>,
}

/// Starts serve with a game whose supervised `sleep` a scenario kills for 300ms, starts the
/// game and unleashes the scenario as soon as it listens; a thread watches the target.
struct KillRun {
    sandbox: tempfile::TempDir,
    line: String,
    child: Child,
    times: Arc<Mutex<KillTimes>>,
    stop: Arc<AtomicBool>,
    start: Instant,
}

impl KillRun {
    fn start() -> Result<KillRun> {
        let sandbox = temp_dir_in(&tmp_root())?;
        let n = unique();
        let line = format!("sleep {n}");
        let yaml = format!(
            r#"game: campaign-kill
game_master: {{ token_env: GM_TOKEN }}
teams:
  - {{ name: checkout, token_env: CHECKOUT_TOKEN, owns: [victim] }}
targets:
  victim: {{ process: {{ command: ["sleep", "{n}"], supervised: true }} }}
scenarios:
  - name: killed
    faults: [ {{ target: victim, fault: {{ kind: kill }}, for: 300ms }} ]
    diagnosis: {{ target: victim, kind: kill }}
    resolution: diagnose
"#
        );
        std::fs::write(sandbox.path().join("game.yaml"), yaml)?;
        let start = Instant::now();
        let (child, listening) = spawn_json(
            serve_command(sandbox.path(), &[])?,
            &sandbox.path().join("serve.log"),
        )?;
        let times = Arc::new(Mutex::new(KillTimes::default()));
        let stop = Arc::new(AtomicBool::new(false));
        // The game master: start the game, unleash the scenario.
        std::thread::spawn({
            let times = times.clone();
            move || -> Result<()> {
                let address = listening.recv()?;
                times.lock().unwrap().listening = Some(start.elapsed());
                gm(&address, "/game/start", json!({}))?;
                times.lock().unwrap().unleash_sent = Some(start.elapsed());
                gm(&address, "/unleash", json!({"scenario": "killed"}))?;
                Ok(())
            }
        });
        // The watcher: when the target first runs, dies, and runs again.
        std::thread::spawn({
            let (times, stop, line) = (times.clone(), stop.clone(), line.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let running = exactly(&line);
                    let mut t = times.lock().unwrap();
                    match (t.first_pid, running.first()) {
                        (None, Some(&pid)) => t.first_pid = Some(pid),
                        (Some(_), None) if t.dead.is_none() => t.dead = Some(start.elapsed()),
                        (Some(first), Some(&pid))
                            if t.dead.is_some() && t.back.is_none() && pid != first =>
                        {
                            t.back = Some(start.elapsed());
                        }
                        _ => {}
                    }
                    drop(t);
                    std::thread::sleep(Duration::from_micros(500));
                }
            }
        });
        Ok(KillRun {
            sandbox,
            line,
            child,
            times,
            stop,
            start,
        })
    }

    fn times(&self) -> KillTimes {
        self.times.lock().unwrap().clone()
    }
}

impl Drop for KillRun {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in exactly(&self.line) {
            sigkill(pid);
        }
    }
}

fn kill_calibrate() -> Result<Vec<(&'static str, Duration, Duration)>> {
    let mut run = KillRun::start()?;
    if !wait_until(Duration::from_secs(30), || run.times().back.is_some()) {
        bail!(
            "the target was not killed and started again in 30 s: {:?}; log: {}",
            run.times(),
            std::fs::read_to_string(run.sandbox.path().join("serve.log")).unwrap_or_default()
        );
    }
    let t = run.times();
    sigterm(run.child.id());
    reap(&mut run.child, Duration::from_secs(10));
    let (listening, sent, dead, back) = (
        t.listening.context("listening")?,
        t.unleash_sent.context("unleash")?,
        t.dead.context("dead")?,
        t.back.context("back")?,
    );
    println!(
        "kill: calibration run: listening at {:.1} ms, unleash sent at {:.1} ms, target dead at {:.1} ms, running again at {:.1} ms",
        ms(listening),
        ms(sent),
        ms(dead),
        ms(back)
    );
    let d = Duration::from_millis;
    Ok(vec![
        (PHASES[0], Duration::ZERO, sent),
        (PHASES[1], sent, dead + d(2)),
        (
            PHASES[2],
            dead + d(2),
            back.saturating_sub(d(30)).max(dead + d(3)),
        ),
        (
            PHASES[3],
            back.saturating_sub(d(30)).max(dead + d(3)),
            back + d(5),
        ),
    ])
}

fn kill_trial(moment: Duration) -> Result<Trial> {
    let mut run = KillRun::start()?;
    sleep_until(run.start + moment);
    let exited_first = run.child.try_wait()?.is_some();
    let _ = run.child.kill();
    run.child.wait()?;
    let times = run.times();
    let ran = times.first_pid.is_some();
    run.stop.store(true, Ordering::Relaxed);
    // What had happened when the kill landed (this run's own times, not the calibration's).
    let seen = match (times.unleash_sent, times.dead, times.back) {
        (None, _, _) => "before unleash".to_owned(),
        (Some(u), None, _) => format!("unleash sent at {:.1} ms, target not killed yet", ms(u)),
        (Some(u), Some(d), None) => format!(
            "unleash sent at {:.1} ms, target dead at {:.1} ms, not restarted yet",
            ms(u),
            ms(d)
        ),
        (Some(_), Some(d), Some(b)) => {
            format!(
                "target dead at {:.1} ms, restarted at {:.1} ms",
                ms(d),
                ms(b)
            )
        }
    };
    let mut note = vec![seen];
    // A restart in flight (forked, not yet exec'd) gets half a second to show.
    let before = ran
        && !wait_until(Duration::from_millis(500), || {
            !exactly(&run.line).is_empty()
        });
    if before {
        note.push("after the kill: the supervised target is not running".to_owned());
    }
    let (list, stderr) = fault_list(run.sandbox.path())?;
    let after = ran && !wait_until(GRACE, || !exactly(&run.line).is_empty());
    if after {
        note.push("after fault list: the supervised target is still not running".to_owned());
    }
    let copies = exactly(&run.line).len();
    if copies > 1 {
        note.push(format!("{copies} copies of the target run"));
    }
    let live = dead_owned(&list);
    if live > 0 {
        note.push(format!("live entries: {}", describe(&list)));
    }
    if (after || live > 0) && !stderr.trim().is_empty() {
        note.push(format!(
            "fault list said: {}",
            stderr.trim().replace('\n', " | ")
        ));
    }
    if !ran {
        note.push("the target had not started yet".to_owned());
    }
    Ok(Trial {
        phase: "",
        moment,
        exited_first,
        left_before: before,
        left_after: after,
        live_after: live,
        note: note.join("; "),
    })
}

// ---------------------------------------------------------------------------------------
// link-toxic, link-down: `chaosday proxy` and its Toxiproxy API

#[derive(Default, Clone, Debug)]
struct LinkTimes {
    listening: Option<Duration>,
    link: Option<String>,
    inject_sent: Option<Duration>,
    inject_done: Option<Duration>,
    revert_sent: Option<Duration>,
    revert_done: Option<Duration>,
}

struct LinkRun {
    sandbox: tempfile::TempDir,
    child: Child,
    times: Arc<Mutex<LinkTimes>>,
    start: Instant,
}

impl LinkRun {
    fn start(kind: &str, echo: &str) -> Result<LinkRun> {
        let sandbox = temp_dir_in(&tmp_root())?;
        let start = Instant::now();
        let command = chaosday(
            sandbox.path(),
            &["--output", "json", "proxy", "--port", "0"],
        );
        let (child, listening) = spawn_json(command, &sandbox.path().join("proxy.log"))?;
        let times = Arc::new(Mutex::new(LinkTimes::default()));
        let down = kind == "link-down";
        let echo = echo.to_owned();
        std::thread::spawn({
            let times = times.clone();
            move || -> Result<()> {
                let api = listening.recv()?;
                times.lock().unwrap().listening = Some(start.elapsed());
                let proxy = http_ok(
                    &api,
                    "POST",
                    "/proxies",
                    None,
                    Some(&json!({"name": "link", "listen": "127.0.0.1:0", "upstream": echo})),
                )?;
                let listen = proxy["listen"].as_str().context("listen")?.to_owned();
                times.lock().unwrap().link = Some(listen);
                times.lock().unwrap().inject_sent = Some(start.elapsed());
                if down {
                    http_ok(
                        &api,
                        "POST",
                        "/proxies/link",
                        None,
                        Some(&json!({"enabled": false})),
                    )?;
                } else {
                    http_ok(
                        &api,
                        "POST",
                        "/proxies/link/toxics",
                        None,
                        Some(
                            &json!({"name": "slow", "type": "latency", "stream": "downstream",
                            "toxicity": 1.0, "attributes": {"latency": 200}}),
                        ),
                    )?;
                }
                times.lock().unwrap().inject_done = Some(start.elapsed());
                std::thread::sleep(LINK_HOLD);
                times.lock().unwrap().revert_sent = Some(start.elapsed());
                if down {
                    http_ok(
                        &api,
                        "POST",
                        "/proxies/link",
                        None,
                        Some(&json!({"enabled": true})),
                    )?;
                } else {
                    http_ok(&api, "DELETE", "/proxies/link/toxics/slow", None, None)?;
                }
                times.lock().unwrap().revert_done = Some(start.elapsed());
                Ok(())
            }
        });
        Ok(LinkRun {
            sandbox,
            child,
            times,
            start,
        })
    }

    fn times(&self) -> LinkTimes {
        self.times.lock().unwrap().clone()
    }
}

impl Drop for LinkRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn link_calibrate(kind: &str, echo: &str) -> Result<Vec<(&'static str, Duration, Duration)>> {
    let run = LinkRun::start(kind, echo)?;
    if !wait_until(Duration::from_secs(30), || {
        run.times().revert_done.is_some()
    }) {
        bail!(
            "the link fault was not injected and removed in 30 s: {:?}; log: {}",
            run.times(),
            std::fs::read_to_string(run.sandbox.path().join("proxy.log")).unwrap_or_default()
        );
    }
    let t = run.times();
    let get = |d: Option<Duration>| d.context("a step's time");
    let (listening, sent, done, rsent, rdone) = (
        get(t.listening)?,
        get(t.inject_sent)?,
        get(t.inject_done)?,
        get(t.revert_sent)?,
        get(t.revert_done)?,
    );
    println!(
        "{kind}: calibration run: API listening at {:.1} ms, fault asked at {:.1}, in place at {:.1}, removal asked at {:.1}, removed at {:.1} ms",
        ms(listening),
        ms(sent),
        ms(done),
        ms(rsent),
        ms(rdone)
    );
    let d = Duration::from_micros;
    Ok(vec![
        (PHASES[0], Duration::ZERO, sent),
        (PHASES[1], sent, done + d(500)),
        (PHASES[2], done + d(500), rsent),
        (PHASES[3], rsent, rdone + d(1000)),
    ])
}

fn link_trial(kind: &str, moment: Duration, echo: &str) -> Result<Trial> {
    let mut run = LinkRun::start(kind, echo)?;
    sleep_until(run.start + moment);
    let exited_first = run.child.try_wait()?.is_some();
    let _ = run.child.kill();
    run.child.wait()?;
    let times = run.times();
    let link = times.link.clone();
    // What the API had done when the kill landed (this run's own times).
    let seen = match (
        times.inject_sent,
        times.inject_done,
        times.revert_sent,
        times.revert_done,
    ) {
        (None, ..) => "no fault asked yet",
        (Some(_), None, ..) => "fault asked, not answered",
        (Some(_), Some(_), None, _) => "fault in place",
        (.., Some(_), None) => "removal asked, not answered",
        (.., Some(_)) => "fault removed",
    };
    let mut note = vec![seen.to_owned()];
    let before = link
        .as_deref()
        .is_some_and(|link| !wait_until(GRACE, || !accepts(link)));
    if before {
        note.push(format!("after the kill: {link:?} still accepts"));
    }
    let (list, stderr) = fault_list(run.sandbox.path())?;
    let after = link.as_deref().is_some_and(accepts);
    if after {
        note.push(format!("after fault list: {link:?} still accepts"));
    }
    let live = dead_owned(&list);
    if live > 0 {
        note.push(format!("live entries: {}", describe(&list)));
        if !stderr.trim().is_empty() {
            note.push(format!(
                "fault list said: {}",
                stderr.trim().replace('\n', " | ")
            ));
        }
    }
    Ok(Trial {
        phase: "",
        moment,
        exited_first,
        left_before: before,
        left_after: after,
        live_after: live,
        note: note.join("; "),
    })
}

// ---------------------------------------------------------------------------------------
// serve-opening: `chaosday serve` killed while it opens a scenario

struct OpeningGame {
    sandbox: tempfile::TempDir,
    victim: Victim,
}

impl OpeningGame {
    fn new() -> Result<OpeningGame> {
        let sandbox = temp_dir_in(&tmp_root())?;
        let victim = Victim::sleep(unique())?;
        let yaml = format!(
            r#"game: campaign-opening
game_master: {{ token_env: GM_TOKEN }}
teams:
  - {{ name: checkout, token_env: CHECKOUT_TOKEN, owns: [victim, box] }}
targets:
  victim: {{ process: {{ command: "{command}" }} }}
  box: {{ host: {{}} }}
scenarios:
  - name: opening
    faults:
      - {{ target: victim, fault: {{ kind: pause }} }}
      - {{ target: box, fault: {{ kind: cpu, cores: 1, load: 10 }} }}
    diagnosis: {{ target: victim, kind: pause }}
    resolution: diagnose
"#,
            command = victim.command_line
        );
        std::fs::write(sandbox.path().join("game.yaml"), yaml)?;
        Ok(OpeningGame { sandbox, victim })
    }

    /// Starts serve and waits until it listens; its address.
    fn serve(&self) -> Result<(Child, String)> {
        let (mut child, listening) = spawn_json(
            serve_command(self.sandbox.path(), &[])?,
            &self.sandbox.path().join("serve.log"),
        )?;
        match listening.recv_timeout(Duration::from_secs(30)) {
            Ok(address) => Ok((child, address)),
            Err(_) => {
                reap(&mut child, Duration::ZERO);
                bail!(
                    "serve did not listen within 30 s: {}",
                    std::fs::read_to_string(self.sandbox.path().join("serve.log"))
                        .unwrap_or_default()
                )
            }
        }
    }

    fn effect(&self, servers: &[u32]) -> Vec<String> {
        let mut seen = Vec::new();
        if self.victim.is_stopped() {
            seen.push(format!("pid {} stopped", self.victim.pid()));
        }
        for &server in servers {
            let stressors = stressors_of(server);
            if !stressors.is_empty() {
                seen.push(format!(
                    "stressor(s) {stressors:?} of serve {server} running"
                ));
            }
        }
        seen
    }
}

/// Incidents not closed.
fn open_incidents(incidents: &Value) -> Vec<String> {
    incidents
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|i| {
                    !matches!(
                        i["state"].as_str(),
                        Some("resolved" | "expired" | "cancelled")
                    )
                })
                .map(|i| format!("incident {} {}", i["id"], i["state"]))
                .collect()
        })
        .unwrap_or_default()
}

fn opening_calibrate() -> Result<Vec<(&'static str, Duration, Duration)>> {
    let game = OpeningGame::new()?;
    let (mut child, address) = game.serve()?;
    gm(&address, "/game/start", json!({}))?;
    let start = Instant::now();
    gm(&address, "/unleash", json!({"scenario": "opening"}))?;
    let took = start.elapsed();
    let effect = wait_until(Duration::from_secs(10), || {
        game.effect(&[child.id()]).len() == 2
    });
    let faults = gm_get(&address, "/faults")?;
    println!(
        "serve-opening: calibration run: unleash answered in {:.1} ms; both effects seen: {}; GET /faults: {faults}",
        ms(took),
        yes_no(effect)
    );
    sigterm(child.id());
    reap(&mut child, Duration::from_secs(10));
    Ok(vec![("open", Duration::ZERO, took.mul_f64(1.5))])
}

fn opening_trial(moment: Duration) -> Result<Trial> {
    let game = OpeningGame::new()?;
    let (mut child, address) = game.serve()?;
    gm(&address, "/game/start", json!({}))?;
    let first = child.id();
    // The unleash call on a thread; the kill `moment` after it was sent.
    let unleash = std::thread::spawn({
        let address = address.clone();
        move || gm(&address, "/unleash", json!({"scenario": "opening"}))
    });
    let start = Instant::now();
    sleep_until(start + moment);
    let exited_first = child.try_wait()?.is_some();
    let _ = child.kill();
    child.wait()?;
    let answered = unleash.join().map(|r| r.is_ok()).unwrap_or(false);

    let mut note = vec![format!(
        "unleash {}",
        if answered { "answered" } else { "cut" }
    )];
    wait_until(GRACE, || {
        game.effect(&[first])
            .iter()
            .all(|e| !e.contains("stressor"))
    });
    let before = game.effect(&[first]);
    if !before.is_empty() {
        note.push(format!("after the kill: {}", before.join(", ")));
    }

    // The next command: serve again. What it shows, then the game ended.
    let (mut again, address) = game.serve()?;
    let second = again.id();
    let faults = gm_get(&address, "/faults")?;
    let incidents = gm_get(&address, "/incidents")?;
    let live_now = faults.as_array().map_or(0, Vec::len);
    note.push(format!(
        "after restart: {live_now} live fault(s), open: {:?}, effects: {:?}",
        open_incidents(&incidents),
        game.effect(&[first, second])
    ));
    gm(&address, "/game/end", json!({}))?;
    let settled = wait_until(Duration::from_secs(5), || {
        game.effect(&[first, second]).is_empty()
            && gm_get(&address, "/faults").is_ok_and(|f| f.as_array().is_some_and(Vec::is_empty))
            && gm_get(&address, "/incidents").is_ok_and(|i| open_incidents(&i).is_empty())
    });
    let after = game.effect(&[first, second]);
    let faults = gm_get(&address, "/faults")?;
    let open = open_incidents(&gm_get(&address, "/incidents")?);
    let live = faults.as_array().map_or(0, Vec::len) + open.len();
    if !settled {
        note.push(format!(
            "after the game ended: effects {after:?}, faults {faults}, open {open:?}"
        ));
    }
    sigterm(second);
    reap(&mut again, Duration::from_secs(10));
    for stressor in stressors_of(first).into_iter().chain(stressors_of(second)) {
        sigkill(stressor);
    }
    Ok(Trial {
        phase: "",
        moment,
        exited_first,
        left_before: !before.is_empty(),
        left_after: !after.is_empty(),
        live_after: live,
        note: note.join("; "),
    })
}
