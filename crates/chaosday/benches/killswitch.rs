//! Kill-switch benchmark: 50 live faults of mixed kinds in 31 chaosday processes, reverted by
//! `chaosday fault abort`, against reverting the same 50 one by one with `fault revert ID`.
//!
//! Run with `cargo bench -p chaosday --bench killswitch [-- --runs N]` (default 3 runs of
//! each, alternated so that drift hits both alike). It prints figures next to the baseline
//! measured in the same run and never asserts on timing (SPEC §8: kill switch, every active
//! fault reverted ≤ 1 s).
//!
//! The faults, all `--for 10m`, in one state directory (one journal):
//! - 20 `pause` of `sleep` children, each by its own `chaosday fault inject pause`;
//! - 1 `cpu` (1 core, 5%), 1 `memory` (16MiB) and 1 `disk_fill` (16MiB, in a directory
//!   under TMPDIR) stressor, each by its own injector: the engine holds at most one active
//!   fault per target, and the host is one target per kind (`host:cpu` refuses a second
//!   `cpu`), one per file system for `disk_fill`;
//! - 14 latency toxics and 13 disabled proxies (link `down`) in one `chaosday proxy`
//!   (Toxiproxy API on port 0, 27 proxies listening on port 0 in front of an echo server).
//!
//! Measured from the call until every effect is gone, as seen from outside: no `sleep` in
//! state `T`, no stressor of the injectors, and the proxy API showing every proxy enabled
//! without toxics (the down ones accepting again). The journal is then checked empty. The
//! binary is `env!("CARGO_BIN_EXE_chaosday")` (the bench profile's; see campaign.rs).

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use common::*;

const PAUSES: usize = 20;
const HOST: usize = 3;
const TOXICS: usize = 14;
const DOWNS: usize = 13;
const FAULTS: usize = PAUSES + HOST + TOXICS + DOWNS;
/// How long to wait for the set-up or for the reverts before giving up.
const LIMIT: Duration = Duration::from_secs(60);
/// How long to wait for every effect to be gone once the reverts were asked for.
const GONE_LIMIT: Duration = Duration::from_secs(10);

fn main() -> Result<()> {
    let mut runs = 3;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            "--bench" => {}
            other => eprintln!("killswitch: ignoring the argument `{other}`"),
        }
    }
    let echo = echo_server()?;
    println!("chaosday kill-switch benchmark");
    println!(
        "  {} CPU(s); {FAULTS} live faults: {PAUSES} pause, 1 cpu (1 core, 5%), 1 memory (16MiB), 1 disk_fill (16MiB), {TOXICS} latency toxics, {DOWNS} links down",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  in {} chaosday processes ({} `fault inject`, 1 `proxy`); all times in milliseconds",
        PAUSES + HOST + 1,
        PAUSES + HOST
    );

    let mut rows = Vec::new();
    for _ in 0..runs {
        let baseline = measure(&echo, Way::OneByOne)?;
        let abort = measure(&echo, Way::Abort)?;
        rows.push((baseline, abort));
    }

    println!();
    println!(
        "   {:>3} {:>22} {:>16} {:>14} {:>16} {:>6} {:>13}",
        "run",
        "50 x revert -> gone",
        "abort returned",
        "abort -> gone",
        "ratio to 1-by-1",
        "live",
        "all reverted"
    );
    for (i, (b, a)) in rows.iter().enumerate() {
        println!(
            "   {:>3} {:>22.1} {:>16.1} {:>14.1} {:>15.3}x {:>6} {:>13}",
            i + 1,
            b.gone,
            a.returned,
            a.gone,
            a.gone / b.gone,
            a.live_after,
            if a.live_after == 0 && b.live_after == 0 {
                "yes"
            } else {
                "no"
            }
        );
    }
    let gone: Vec<f64> = rows.iter().map(|(_, a)| a.gone).collect();
    let base: Vec<f64> = rows.iter().map(|(b, _)| b.gone).collect();
    let worst = gone.iter().copied().fold(0.0, f64::max);
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[(v.len() - 1) / 2]
    };
    println!(
        "   median: one by one {:.1} ms, kill switch {:.1} ms ({:.3}x of one by one)",
        median(&base),
        median(&gone),
        median(&gone) / median(&base)
    );
    println!(
        "   SPEC target: every active fault reverted <= 1 s    measured max {worst:.1} ms ({})",
        if worst <= 1000.0 { "within" } else { "over" }
    );
    for (i, (b, a)) in rows.iter().enumerate() {
        for (name, m) in [("one by one", b), ("kill switch", a)] {
            if !m.notes.is_empty() {
                println!("   run {} {name}: {}", i + 1, m.notes.join("; "));
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Way {
    OneByOne,
    Abort,
}

struct Measured {
    /// From the first command until every effect is gone.
    gone: f64,
    /// `fault abort` returned (the kill switch only).
    returned: f64,
    live_after: usize,
    notes: Vec<String>,
}

/// The 50 faults and what holds them; everything is stopped when dropped.
struct Faults {
    sandbox: tempfile::TempDir,
    victims: Vec<Victim>,
    injectors: Vec<Child>,
    proxy: Option<Child>,
    api: String,
    downs: Vec<String>,
}

impl Drop for Faults {
    fn drop(&mut self) {
        for child in self.injectors.iter_mut().chain(self.proxy.as_mut()) {
            sigterm(child.id());
        }
        for child in self.injectors.iter_mut().chain(self.proxy.as_mut()) {
            reap(child, Duration::from_secs(5));
        }
        // Whatever is left in the journal (a failed run): the kill switch, then rearm.
        let _ = run(self.sandbox.path(), &["fault", "abort"], LIMIT);
        let _ = run(self.sandbox.path(), &["fault", "rearm"], LIMIT);
    }
}

fn inject(sandbox: &Path, args: &[&str]) -> Result<Child> {
    let mut all = vec!["fault", "inject"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--for", "10m"]);
    chaosday(sandbox, &all)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting fault inject")
}

fn set_up(echo: &str) -> Result<Faults> {
    let sandbox = temp_dir_in(&tmp_root())?;
    let mut faults = Faults {
        sandbox,
        victims: Vec::new(),
        injectors: Vec::new(),
        proxy: None,
        api: String::new(),
        downs: Vec::new(),
    };
    let dir = faults.sandbox.path().to_owned();
    let (proxy, listening) = spawn_json(
        chaosday(&dir, &["--output", "json", "proxy", "--port", "0"]),
        &dir.join("proxy.log"),
    )?;
    faults.proxy = Some(proxy);
    for _ in 0..PAUSES {
        let victim = Victim::sleep(unique())?;
        faults
            .injectors
            .push(inject(&dir, &["pause", "--target", &victim.command_line])?);
        faults.victims.push(victim);
    }
    faults
        .injectors
        .push(inject(&dir, &["cpu", "--cores", "1", "--load", "5"])?);
    faults
        .injectors
        .push(inject(&dir, &["memory", "--bytes", "16MiB"])?);
    let fill = dir.join("fill");
    std::fs::create_dir(&fill)?;
    faults.injectors.push(inject(
        &dir,
        &[
            "disk-fill",
            "--directory",
            path_str(&fill)?,
            "--bytes",
            "16MiB",
        ],
    )?);
    faults.api = listening
        .recv_timeout(LIMIT)
        .context("chaosday proxy did not listen")?;
    for i in 0..TOXICS + DOWNS {
        let name = format!("link{i}");
        let proxy = http_ok(
            &faults.api,
            "POST",
            "/proxies",
            None,
            Some(&json!({"name": name, "listen": "127.0.0.1:0", "upstream": echo})),
        )?;
        if i < TOXICS {
            http_ok(
                &faults.api,
                "POST",
                &format!("/proxies/{name}/toxics"),
                None,
                Some(
                    &json!({"name": "slow", "type": "latency", "stream": "downstream",
                    "toxicity": 1.0, "attributes": {"latency": 100}}),
                ),
            )?;
        } else {
            http_ok(
                &faults.api,
                "POST",
                &format!("/proxies/{name}"),
                None,
                Some(&json!({"enabled": false})),
            )?;
            faults
                .downs
                .push(proxy["listen"].as_str().context("listen")?.to_owned());
        }
    }
    // Every fault active in the journal, every effect in place.
    let start = Instant::now();
    loop {
        let (list, _) = fault_list(&dir)?;
        let active = list.iter().filter(|f| f["state"] == "active").count();
        // Paused, stressors, toxics, disabled: four kinds of effect in place.
        if active == FAULTS && effects_left(&faults)?.len() == 4 {
            break;
        }
        if start.elapsed() > LIMIT {
            bail!(
                "set-up: {active}/{FAULTS} faults active after {LIMIT:?}; effects: {:?}",
                effects_left(&faults)?
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(faults)
}

/// What is still in effect, one line per kind of effect (empty: everything reverted).
fn effects_left(faults: &Faults) -> Result<Vec<String>> {
    let mut left = Vec::new();
    let stopped = faults.victims.iter().filter(|v| v.is_stopped()).count();
    if stopped > 0 {
        left.push(format!("{stopped} paused"));
    }
    let stressors: usize = faults
        .injectors
        .iter()
        .map(|c| stressors_of(c.id()).len())
        .sum();
    if stressors > 0 {
        left.push(format!("{stressors} stressors"));
    }
    let proxies = http_ok(&faults.api, "GET", "/proxies", None, None)?;
    let map = proxies.as_object().context("GET /proxies: an object")?;
    let toxics: usize = map
        .values()
        .map(|p| p["toxics"].as_array().map_or(0, Vec::len))
        .sum();
    if toxics > 0 {
        left.push(format!("{toxics} toxics"));
    }
    let disabled: Vec<&String> = map
        .iter()
        .filter(|(_, p)| p["enabled"] == Value::Bool(false))
        .map(|(name, _)| name)
        .collect();
    let refusing = faults.downs.iter().filter(|d| !accepts(d)).count();
    if !disabled.is_empty() || refusing > 0 {
        left.push(format!(
            "{} disabled {disabled:?}, {refusing} refusing",
            disabled.len()
        ));
    }
    Ok(left)
}

fn measure(echo: &str, way: Way) -> Result<Measured> {
    let faults = set_up(echo)?;
    let dir = faults.sandbox.path().to_owned();
    let ids: Vec<String> = fault_list(&dir)?
        .0
        .iter()
        .filter_map(|f| f["id"].as_i64())
        .map(|id| id.to_string())
        .collect();
    let mut notes = Vec::new();
    let start = Instant::now();
    let mut returned = 0.0;
    match way {
        Way::Abort => {
            let out = run(&dir, &["fault", "abort"], LIMIT)?;
            returned = ms(start.elapsed());
            // The kill switch has returned: what is still in effect at that moment.
            let at_return = effects_left(&faults)?;
            if !at_return.is_empty() {
                notes.push(format!(
                    "in effect when `fault abort` returned: {at_return:?}"
                ));
            }
            if !out.status.success() {
                notes.push(format!(
                    "fault abort: {} {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Way::OneByOne => {
            for id in &ids {
                let out = run(&dir, &["fault", "revert", id], LIMIT)?;
                if !out.status.success() {
                    notes.push(format!(
                        "fault revert {id}: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
            }
        }
    }
    // Polled as fast as the checks go (each reads /proc and asks the proxy's API).
    let mut left = effects_left(&faults)?;
    while !left.is_empty() && start.elapsed() < GONE_LIMIT {
        left = effects_left(&faults)?;
    }
    let gone = ms(start.elapsed());
    if !left.is_empty() {
        notes.push(format!("still in effect after {GONE_LIMIT:?}: {left:?}"));
    }
    let (list, _) = fault_list(&dir)?;
    if way == Way::Abort {
        run(&dir, &["fault", "rearm"], LIMIT)?;
    }
    Ok(Measured {
        gone,
        returned,
        live_after: list.len(),
        notes,
    })
}
