//! `chaosday report`: the postmortem of a game, from its event log, during the game or
//! after it. Reads the log (never writes an event), replays it, and writes the report in
//! the format asked for, as the game master sees it: whoever can read the log can read
//! everything in it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chaosday_domain::report as figures;
use chaosday_domain::scoring::ScoringRules;
use chaosday_domain::secrecy::Viewer;
use chaosday_store::{EventLog, EventLogError, GameLog};

use crate::app::{self, UsageError};
use crate::cli::{Global, ReportArgs, ReportFormat};
use crate::report::{self, Clock, Format};

/// The event log's file in the state directory, as `chaosday serve` writes it.
const STORE_FILE: &str = "games.sqlite";

/// Writes the report.
pub async fn run(global: &Global, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let (store, default) = match &args.store {
        Some(store) => (store.clone(), false),
        None => {
            let dir = app::state_dir(args.state.or(global))?;
            (dir.join(STORE_FILE).display().to_string(), true)
        }
    };
    if let Some(file) = sqlite_file(&store)
        && !file.exists()
    {
        let whence = if default {
            format!(
                "no event log at {} (the default: STATE_DIR/{STORE_FILE})",
                file.display()
            )
        } else {
            format!("no event log at {}", file.display())
        };
        return Err(UsageError(format!(
            "{whence}: a game's log is written by `chaosday serve GAME.yaml`; give its location with --store FILE (or CHAOSDAY_STORE), or the server's --state-dir"
        ))
        .into());
    }
    // A reader: the game's server may be writing it right now.
    let log = EventLog::open_read_only(&store)
        .await
        .map_err(|e| match e {
            EventLogError::UnsupportedUrl { .. }
            | EventLogError::BadUrl { .. }
            | EventLogError::InMemory => anyhow::Error::new(UsageError(format!("--store: {e}"))),
            other => anyhow::Error::new(other),
        })?;
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
    let format = match args.format {
        ReportFormat::Html => Format::Html,
        ReportFormat::Md => Format::Markdown,
        ReportFormat::Json => Format::Json,
        ReportFormat::Csv => Format::Csv,
    };
    let text = report::render(format, &game, &built, &Clock::system());
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("writing the report to {}", path.display()))?;
            eprintln!(
                "wrote the report of `{game}` to {} ({} incident(s), {} event(s))",
                path.display(),
                built.incidents.len(),
                events.len()
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.context("writing the report to standard output")?,
            }
        }
    }
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
    let games = log
        .games()
        .await
        .with_context(|| format!("reading the games in the event log at {}", log.location()))?;
    let listed = || {
        games
            .iter()
            .map(|g| format!("`{g}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let game = match asked {
        _ if games.is_empty() => anyhow::bail!(
            "the event log at {} holds no game yet: start one with `chaosday serve GAME.yaml` and `chaosday gm start`, or give the log of another game with --store",
            log.location()
        ),
        Some(name) if games.iter().any(|g| g == name) => name.to_owned(),
        Some(name) => {
            return Err(UsageError(format!(
                "no game `{name}` in the event log at {}: it holds {}; name one with --game",
                log.location(),
                listed()
            ))
            .into());
        }
        None if games.len() == 1 => games[0].clone(),
        None => {
            return Err(UsageError(format!(
                "the event log at {} holds {} games: {}; name one with --game",
                log.location(),
                games.len(),
                listed()
            ))
            .into());
        }
    };
    let events = GameLog::new(log.clone(), game.clone())
        .events_since(0)
        .await
        .with_context(|| format!("reading the events of `{game}`"))?;
    Ok((game, events))
}
