//! `chaosday validate FILE`: a game file's syntax, then its cross-references, then what
//! `serve` would read for it (the environment variables its headers name, its CA files);
//! and `chaosday schema game`, the JSON Schema of the format.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use chaosday_domain::game::{self, FileError, Format, Game, Problem};
use chaosday_domain::monkey::{self, MonkeyFile};
use chaosday_game::outgoing::{Env, Outgoing};
use serde::Serialize;

use crate::app::UsageError;
use crate::cli::{Global, Output, SchemaArgs, SchemaFormat, ValidateArgs};
use crate::output;

/// What `--output json` prints.
#[derive(Debug, Serialize)]
struct Report {
    file: String,
    valid: bool,
    problems: Vec<Entry>,
}

/// A parse error (line and column) or a cross-reference problem (path and fix).
#[derive(Debug, Serialize)]
struct Entry {
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

impl From<FileError> for Entry {
    fn from(error: FileError) -> Self {
        Entry {
            line: error.line,
            column: error.column,
            path: None,
            message: error.message,
            fix: None,
        }
    }
}

impl From<Problem> for Entry {
    fn from(problem: Problem) -> Self {
        Entry {
            line: None,
            column: None,
            path: Some(problem.path),
            message: problem.message,
            fix: Some(problem.fix),
        }
    }
}

/// The outcome of reading and checking one file.
enum Outcome {
    /// It does not parse: one error, located where the parser knows.
    Unreadable(FileError),
    /// It parses; these are its problems (none: valid). The first string says what the
    /// file is when valid (`game `spring`: 2 teams, ...`).
    Checked(String, Vec<Problem>),
}

/// Runs `chaosday validate`: exit 0 valid, 1 invalid, 2 unreadable or not a game file.
pub fn run(global: &Global, args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let path = &args.file;
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {name}: {e}")))?;
    let format = format_of(path);
    let outcome = match game::is_game_file(&text, format) {
        Err(error) => Outcome::Unreadable(error),
        Ok(false) => match monkey::is_monkey_file(&text, format) {
            Err(error) => Outcome::Unreadable(error),
            Ok(false) => match crate::experiment::parse(&text, format) {
                Err(error) => Outcome::Unreadable(error),
                Ok(value) if crate::experiment::is_experiment(&value) => {
                    let checked =
                        crate::experiment::check(&value, &crate::experiment::system_env, &|p| {
                            crate::experiment::providers::which(p).is_some()
                        });
                    for warning in &checked.warnings {
                        eprintln!("warning: {name}: {warning}");
                    }
                    let problems = checked
                        .problems
                        .into_iter()
                        .map(|p| Problem {
                            path: p.path,
                            message: p.message,
                            fix: "see `chaosday run --help` and the README's Experiments section"
                                .into(),
                        })
                        .collect();
                    let summary = format!(
                        "valid experiment `{}`: {} in the steady-state hypothesis, {} in the method, {}",
                        value["title"].as_str().unwrap_or_default(),
                        count(
                            value
                                .pointer("/steady-state-hypothesis/probes")
                                .and_then(|p| p.as_array())
                                .map_or(0, Vec::len),
                            "probe"
                        ),
                        match value["method"].as_array().map_or(0, Vec::len) {
                            1 => "1 activity".to_owned(),
                            n => format!("{n} activities"),
                        },
                        count(
                            value["rollbacks"].as_array().map_or(0, Vec::len),
                            "rollback"
                        ),
                    );
                    Outcome::Checked(summary, problems)
                }
                Ok(_) => {
                    return Err(UsageError(format!(
                        "{name} is neither a game file (a top-level `game:` key), a monkey file (a top-level `monkey:` key) nor an experiment (a top-level `method:` or `steady-state-hypothesis:` key)"
                    ))
                    .into());
                }
            },
            Ok(true) => match MonkeyFile::parse(&text, format) {
                Err(error) => Outcome::Unreadable(error),
                Ok(file) => {
                    let mut problems = file.check();
                    if problems.is_empty() {
                        problems = Outgoing::load_calls(file.http_calls(), &Env::system())
                            .err()
                            .unwrap_or_default();
                    }
                    let summary = format!(
                        "valid monkey `{}` ({}): {}, {}",
                        file.monkey,
                        file.mode,
                        count(file.groups.len(), "group"),
                        count(file.targets.len(), "target"),
                    );
                    Outcome::Checked(summary, problems)
                }
            },
        },
        Ok(true) => match Game::parse(&text, format) {
            Err(error) => Outcome::Unreadable(error),
            Ok(game) => {
                let mut problems = game.check();
                if problems.is_empty() {
                    // What `serve` reads for its webhooks and probes: the variables their
                    // headers name, their CA files.
                    problems = Outgoing::load(&game, &Env::system())
                        .err()
                        .unwrap_or_default();
                }
                let summary = format!(
                    "valid game `{}`: {}, {}, {}",
                    game.game,
                    count(game.teams.len(), "team"),
                    count(game.targets.len(), "target"),
                    count(game.scenarios.len(), "scenario"),
                );
                Outcome::Checked(summary, problems)
            }
        },
    };
    let valid = matches!(&outcome, Outcome::Checked(_, problems) if problems.is_empty());
    match global.output {
        Output::Json => output::json(&report(name, outcome))?,
        Output::Text => print_text(&name, outcome)?,
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `NAME:LINE:COLUMN` where the parser knows them.
pub(crate) fn location(name: &str, error: &FileError) -> String {
    match (error.line, error.column) {
        (Some(line), Some(column)) => format!("{name}:{line}:{column}"),
        (Some(line), None) => format!("{name}:{line}"),
        _ => name.to_owned(),
    }
}

/// JSON by the `.json` extension, YAML otherwise (YAML reads JSON too).
pub(crate) fn format_of(path: &Path) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
        _ => Format::Yaml,
    }
}

fn report(file: String, outcome: Outcome) -> Report {
    let problems: Vec<Entry> = match outcome {
        Outcome::Unreadable(error) => vec![error.into()],
        Outcome::Checked(_, problems) => problems.into_iter().map(Entry::from).collect(),
    };
    Report {
        file,
        valid: problems.is_empty(),
        problems,
    }
}

fn print_text(name: &str, outcome: Outcome) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match outcome {
        Outcome::Unreadable(error) => {
            match (error.line, error.column) {
                (Some(line), Some(column)) => {
                    writeln!(out, "{name}:{line}:{column}: {}", error.message)?;
                }
                (Some(line), None) => writeln!(out, "{name}:{line}: {}", error.message)?,
                _ => writeln!(out, "{name}: {}", error.message)?,
            }
            writeln!(
                out,
                "{name}: invalid: the file does not read as a game, monkey or experiment file; fix this first, then validate again"
            )?;
        }
        Outcome::Checked(summary, problems) if problems.is_empty() => {
            writeln!(out, "{name}: {summary}")?;
        }
        Outcome::Checked(_, problems) => {
            for problem in &problems {
                writeln!(out, "{name}: {problem}")?;
            }
            writeln!(out, "{name}: invalid: {}", count(problems.len(), "problem"))?;
        }
    }
    Ok(())
}

fn count(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

/// Runs `chaosday schema FORMAT`: prints the JSON Schema.
pub fn schema(args: &SchemaArgs) -> anyhow::Result<ExitCode> {
    let text = match args.format {
        SchemaFormat::Game => game::game_schema_text(),
        SchemaFormat::Monkey => monkey::monkey_schema_text(),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
