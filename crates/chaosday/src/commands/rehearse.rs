//! `chaosday rehearse GAME.yaml`: every scenario broken and healed once before the day
//! ([`chaosday_game::rehearsal`]), a table or JSON, and an exit code a CI job can use.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use chaosday_game::outgoing::Env;
use chaosday_game::rehearsal::{Rehearsal, RehearseOptions, ScenarioRehearsal, Verdict};
use serde::Serialize;

use crate::app::{self, UsageError};
use crate::cli::{Global, Output, RehearseArgs};
use crate::output;

/// What `--output json` prints.
#[derive(Debug, Serialize)]
struct Report {
    game: String,
    within_ms: u64,
    scenarios: Vec<ScenarioRehearsal>,
    summary: Summary,
}

/// The counts, and whether the rehearsal passed.
#[derive(Debug, Serialize)]
struct Summary {
    /// Scenarios looked at.
    scenarios: usize,
    /// Broke with the fault and healed with its revert.
    ok: usize,
    /// Verdicts that fail the rehearsal.
    failed: usize,
    /// Not rehearsed here (manual, agents, pods).
    skipped: usize,
    /// Why the rehearsal stopped early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    interrupted: Option<String>,
    /// Exit 0.
    passed: bool,
}

/// Runs `chaosday rehearse`: exit 0 when every rehearsed scenario broke and healed, 1 when
/// one did not (or an interruption), 2 for an invalid file or flag.
pub async fn run(global: &Global, args: RehearseArgs) -> anyhow::Result<ExitCode> {
    let mut interrupts = app::Interrupts::install()?;
    // The services it starts die with it, even on `kill -9` (its faults are reverted by the
    // next chaosday that opens the journal).
    chaosday_engine::supervisor::set_default_parent_death_signal(Some(
        chaosday_domain::Signal::Kill,
    ));
    let mut state_dir = app::state_dir(args.state.or(global))?;
    let mut _demo_lock = None;
    let game = match &args.game {
        Some(path) => crate::commands::serve::read_game_to(path, "rehearse")?,
        None => {
            let (game, dir, lock) = demo_game(&state_dir, args.shop_port).await?;
            state_dir = dir;
            _demo_lock = Some(lock);
            game
        }
    };
    if args.within.is_zero() || args.probe_every.is_zero() {
        return Err(UsageError("--within and --probe-every must be longer than 0".into()).into());
    }
    for name in &args.scenario {
        if !game.scenarios.iter().any(|s| &s.name == name) {
            return Err(UsageError(format!(
                "--scenario {name}: the game has no such scenario; its scenarios are {}",
                game.scenarios
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into());
        }
    }
    let scenarios: Vec<_> = game
        .scenarios
        .iter()
        .filter(|s| args.scenario.is_empty() || args.scenario.contains(&s.name))
        .cloned()
        .collect();
    let text = global.output == Output::Text;
    let name = game.game.clone();
    let options = RehearseOptions {
        game,
        state_dir,
        stressor: app::stressor()?,
        within: args.within,
        probe_every: args.probe_every,
        env: Env::system(),
    };
    if text {
        eprintln!("starting the targets of game `{name}` (links, supervised processes)");
    }
    let rehearsal = tokio::select! {
        opened = Rehearsal::open(options) => opened?,
        reason = interrupts.recv() => {
            eprintln!("{reason}: nothing was injected");
            return Ok(ExitCode::FAILURE);
        }
    };
    app::report_recovered(rehearsal.recovered());
    for (target, why) in rehearsal.not_started() {
        eprintln!("warning: target {target} could not start, its scenarios fail: {why}");
    }
    let mut lines = Vec::new();
    let mut interrupted = None;
    'scenarios: for (i, scenario) in scenarios.iter().enumerate() {
        for team in rehearsal.teams_for(scenario) {
            if text {
                eprintln!(
                    "rehearsing {}{} ({}/{}): probes green? inject, red within {}? revert, green within {}?",
                    scenario.name,
                    team.as_deref()
                        .map(|t| format!(" for {t}"))
                        .unwrap_or_default(),
                    i + 1,
                    scenarios.len(),
                    human(args.within),
                    human(args.within)
                );
            }
            tokio::select! {
                line = rehearsal.rehearse(scenario, team.as_deref()) => lines.push(line),
                reason = interrupts.recv() => {
                    interrupted = Some(reason.to_owned());
                    lines.push(ScenarioRehearsal {
                        scenario: scenario.name.clone(),
                        team,
                        verdict: Verdict::Interrupted,
                        time_to_red_ms: None,
                        time_to_green_ms: None,
                        probe: None,
                        seen: None,
                        detail: format!("{reason}: its faults were reverted"),
                    });
                    break 'scenarios;
                }
            }
        }
    }
    let reason = interrupted
        .clone()
        .unwrap_or_else(|| "the rehearsal ended".into());
    let left = rehearsal.shutdown(&reason).await;
    let revert_failed: Vec<_> = left
        .iter()
        .filter_map(|o| match o {
            chaosday_engine::RevertOutcome::Failed { id, error } => Some((id, error)),
            _ => None,
        })
        .collect();
    for (id, error) in &revert_failed {
        eprintln!("REVERT FAILED for fault #{id}: {error} (see `chaosday fault list`)");
    }
    let failed = lines.iter().filter(|l| l.verdict.fails()).count();
    let summary = Summary {
        scenarios: lines.len(),
        ok: lines.iter().filter(|l| l.verdict == Verdict::Ok).count(),
        failed,
        skipped: lines
            .iter()
            .filter(|l| l.verdict == Verdict::Skipped)
            .count(),
        passed: failed == 0 && interrupted.is_none() && revert_failed.is_empty(),
        interrupted,
    };
    let passed = summary.passed;
    match global.output {
        Output::Json => output::json(&Report {
            game: name,
            within_ms: u64::try_from(args.within.as_millis()).unwrap_or(u64::MAX),
            scenarios: lines,
            summary,
        })?,
        Output::Text => print_table(&name, &lines, &summary)?,
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The demo's game over its shop, prepared as `chaosday demo` prepares it (the last run's
/// leftovers stopped, the configs reset), in `STATE_DIR/demo` under the demo's lock.
async fn demo_game(
    state_dir: &std::path::Path,
    shop_port: u16,
) -> anyhow::Result<(
    chaosday_domain::game::Game,
    std::path::PathBuf,
    crate::demo::state::Lock,
)> {
    use crate::demo::{game, ops::Ops, shop::Shop, state};
    use anyhow::Context as _;
    let dir = state_dir.join("demo");
    chaosday_store::ensure_private_dir(&dir)
        .with_context(|| format!("the demo's state directory {}", dir.display()))?;
    let dir = dir.canonicalize().unwrap_or(dir);
    let lock = state::lock(&dir)?;
    let exe = std::env::current_exe().context("cannot find the chaosday executable")?;
    let shop = Shop::new(exe, dir.join("shop"), shop_port).map_err(UsageError)?;
    state::stop_shop_processes(shop.dir()).await;
    Ops::reset(&shop).with_context(|| format!("preparing {}", shop.dir().display()))?;
    let text = game::yaml(&shop, &game::Timings::new(Duration::from_secs(120)));
    let game = chaosday_domain::game::Game::parse_yaml(&text)
        .map_err(|e| anyhow::anyhow!("the demo's game: {e}"))?;
    let problems = game.check();
    anyhow::ensure!(
        problems.is_empty(),
        "the demo's game has problems (a bug): {problems:?}"
    );
    Ok((game, dir, lock))
}

fn print_table(game: &str, lines: &[ScenarioRehearsal], summary: &Summary) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let time = |ms: Option<u64>| ms.map_or_else(|| "—".to_owned(), human_ms);
    let rows: Vec<[String; 4]> = lines
        .iter()
        .map(|l| {
            let scenario = match &l.team {
                Some(team) => format!("{} ({team})", l.scenario),
                None => l.scenario.clone(),
            };
            [
                scenario,
                time(l.time_to_red_ms),
                time(l.time_to_green_ms),
                l.verdict.words().to_owned(),
            ]
        })
        .collect();
    let header = ["scenario", "time to red", "time to green", "verdict"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths = [width(0), width(1), width(2)];
    let row = |out: &mut std::io::StdoutLock, r: [&str; 4]| {
        writeln!(
            out,
            "{:<w0$}  {:>w1$}  {:>w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
    };
    row(&mut out, header)?;
    for r in &rows {
        row(&mut out, [&r[0], &r[1], &r[2], &r[3]])?;
    }
    writeln!(out)?;
    for l in lines.iter().filter(|l| l.verdict != Verdict::Ok) {
        let seen = match (&l.probe, &l.seen) {
            (Some(probe), Some(seen)) => format!(" [{probe}: {seen}]"),
            _ => String::new(),
        };
        writeln!(
            out,
            "{}: {}: {}{seen}",
            l.scenario,
            l.verdict.words(),
            l.detail
        )?;
    }
    let mut tail = format!(
        "{game}: {} of {} broke and healed",
        summary.ok,
        summary.scenarios - summary.skipped
    );
    if summary.skipped > 0 {
        tail.push_str(&format!(", {} skipped", summary.skipped));
    }
    if let Some(why) = &summary.interrupted {
        tail.push_str(&format!("; {why}, every fault reverted"));
    }
    tail.push_str(if summary.passed && summary.ok == 0 {
        ": nothing could be rehearsed on this host"
    } else if summary.passed {
        ": ready for the day"
    } else {
        ": NOT ready: fix the scenarios above, then rehearse again"
    });
    writeln!(out, "{tail}")?;
    Ok(())
}

fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 10_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        human(Duration::from_millis(ms))
    }
}

fn human(d: Duration) -> String {
    chaosday_domain::duration::human(d).to_string()
}
