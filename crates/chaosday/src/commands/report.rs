//! `chaosday report`: the postmortem of a game, from its event log, during the game or
//! after it. Reads the log (never writes an event), replays it, and writes the report in
//! the format asked for, as the game master sees it: whoever can read the log can read
//! everything in it. With `--monkey`, the history of a Chaos Monkey from its log instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chaosday_domain::report as figures;
use chaosday_domain::scoring::ScoringRules;
use chaosday_domain::secrecy::Viewer;
use chaosday_store::{EventLog, EventLogError, GameLog, MonkeyLog};

use crate::app::{self, UsageError};
use crate::cli::{Global, ReportArgs, ReportFormat};
use crate::report::monkey::MonkeyReport;
use crate::report::{self, Clock, Format};

/// The event log's file in the state directory, as `chaosday serve` writes it.
const STORE_FILE: &str = "games.sqlite";

/// A monkey's, as `chaosday monkey` writes it.
const MONKEY_STORE_FILE: &str = chaosday_game::monkey::STORE_FILE;

/// Writes the report.
pub async fn run(global: &Global, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let (file_name, writer) = if args.monkey.is_some() {
        (
            MONKEY_STORE_FILE,
            "a monkey's log is written by `chaosday monkey MONKEY.yaml`",
        )
    } else {
        (
            STORE_FILE,
            "a game's log is written by `chaosday serve GAME.yaml`",
        )
    };
    let (store, default) = match &args.store {
        Some(store) => (store.clone(), false),
        None => {
            let dir = app::state_dir(args.state.or(global))?;
            (dir.join(file_name).display().to_string(), true)
        }
    };
    if let Some(file) = sqlite_file(&store)
        && !file.exists()
    {
        let whence = if default {
            format!(
                "no event log at {} (the default: STATE_DIR/{file_name})",
                file.display()
            )
        } else {
            format!("no event log at {}", file.display())
        };
        return Err(UsageError(format!(
            "{whence}: {writer}; give its location with --store FILE (or CHAOSDAY_STORE), or its --state-dir"
        ))
        .into());
    }
    // A reader: the game's server (or the monkey) may be writing it right now.
    let log = EventLog::open_read_only(&store)
        .await
        .map_err(|e| match e {
            EventLogError::UnsupportedUrl { .. }
            | EventLogError::BadUrl { .. }
            | EventLogError::InMemory => anyhow::Error::new(UsageError(format!("--store: {e}"))),
            other => anyhow::Error::new(other),
        })?;
    if args.monkey.is_some() {
        let done = monkey_report(&log, &args).await;
        log.close().await;
        return done;
    }
    let read = read_game(&log, args.game.as_deref()).await;
    log.close().await;
    let (game, events) = read?;

    // The game's scoring rules, as its server recorded them when the game started (the
    // defaults for a log written before they were recorded; the report says which).
    let rules = events
        .iter()
        .find_map(|e| match &e.kind {
            chaosday_domain::events::EventKind::GameStarted { rules, .. } => rules.clone(),
            _ => None,
        })
        .unwrap_or_else(ScoringRules::default);
    let now = jiff::Timestamp::now().as_millisecond();
    let built = figures::build(&rules, &events, &Viewer::GameMaster, Some(now));
    let text = report::render(format_of(args.format), &game, &built, &Clock::system());
    write_out(
        args.out.as_deref(),
        &text,
        &format!(
            "the report of `{game}` ({} incident(s), {} event(s))",
            built.incidents.len(),
            events.len()
        ),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The SQLite file an event log address names, if it names one (not PostgreSQL).
fn sqlite_file(store: &str) -> Option<PathBuf> {
    if store.starts_with("postgres://") || store.starts_with("postgresql://") {
        return None;
    }
    if let Some(rest) = store.strip_prefix("sqlite:") {
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let file = rest.split_once('?').map_or(rest, |(file, _)| file);
        return (!file.is_empty() && file != ":memory:").then(|| PathBuf::from(file));
    }
    if store.contains("://") || store.is_empty() || store == ":memory:" {
        return None;
    }
    Some(Path::new(store).to_owned())
}

/// The game's name and events: the one asked for, else the only one in the log.
async fn read_game(
    log: &EventLog,
    asked: Option<&str>,
) -> anyhow::Result<(String, Vec<chaosday_domain::events::Event>)> {
    let games: Vec<String> = log
        .games()
        .await
        .with_context(|| format!("reading the games in the event log at {}", log.location()))?
        .into_iter()
        .filter(|stream| !stream.starts_with(MonkeyLog::PREFIX))
        .collect();
    let game = pick(
        log,
        games,
        asked,
        Kind {
            what: "game",
            flag: "--game",
            start: "start one with `chaosday serve GAME.yaml` and `chaosday gm start`",
        },
    )?;
    let events = GameLog::new(log.clone(), game.clone())
        .events_since(0)
        .await
        .with_context(|| format!("reading the events of `{game}`"))?;
    Ok((game, events))
}

/// What the log holds: games or monkeys.
struct Kind {
    what: &'static str,
    flag: &'static str,
    start: &'static str,
}

/// The name asked for if the log holds it, else the only one there.
fn pick(
    log: &EventLog,
    names: Vec<String>,
    asked: Option<&str>,
    kind: Kind,
) -> anyhow::Result<String> {
    let Kind { what, flag, start } = kind;
    let listed = || {
        names
            .iter()
            .map(|g| format!("`{g}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match asked {
        _ if names.is_empty() => anyhow::bail!(
            "the event log at {} holds no {what} yet: {start}, or give another log with --store",
            log.location()
        ),
        Some(name) if names.iter().any(|g| g == name) => Ok(name.to_owned()),
        Some(name) => Err(UsageError(format!(
            "no {what} `{name}` in the event log at {}: it holds {}; name one with {flag}",
            log.location(),
            listed()
        ))
        .into()),
        None if names.len() == 1 => Ok(names[0].clone()),
        None => Err(UsageError(format!(
            "the event log at {} holds {} {what}s: {}; name one with {flag}",
            log.location(),
            names.len(),
            listed()
        ))
        .into()),
    }
}

/// `chaosday report --monkey [NAME]`: the monkey's history.
async fn monkey_report(log: &EventLog, args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let asked = args.monkey.as_deref().filter(|name| !name.is_empty());
    let monkeys = MonkeyLog::monkeys(log)
        .await
        .with_context(|| format!("reading the monkeys in the event log at {}", log.location()))?;
    let monkey = pick(
        log,
        monkeys,
        asked,
        Kind {
            what: "monkey",
            flag: "--monkey NAME",
            start: "start one with `chaosday monkey MONKEY.yaml`",
        },
    )?;
    let records = MonkeyLog::new(log.clone(), &monkey)
        .records()
        .await
        .with_context(|| format!("reading the events of the monkey `{monkey}`"))?;
    let built = MonkeyReport::build(&monkey, &records);
    let text = report::monkey::render(format_of(args.format), &built);
    write_out(
        args.out.as_deref(),
        &text,
        &format!(
            "the history of the monkey `{monkey}` ({} planned fault(s), {} event(s))",
            built.history.entries.len(),
            records.len()
        ),
    )?;
    Ok(ExitCode::SUCCESS)
}

fn format_of(format: ReportFormat) -> Format {
    match format {
        ReportFormat::Html => Format::Html,
        ReportFormat::Md => Format::Markdown,
        ReportFormat::Json => Format::Json,
        ReportFormat::Csv => Format::Csv,
    }
}

/// Writes `text` to `out`, or standard output (a closed pipe is not an error).
fn write_out(out: Option<&Path>, text: &str, what: &str) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, text)
                .with_context(|| format!("writing the report to {}", path.display()))?;
            eprintln!("wrote {what} to {}", path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.context("writing the report to standard output")?,
            }
        }
    }
    Ok(())
}
