//! `chaosday run EXPERIMENT`: one Chaos Toolkit experiment, its journal, and Chaos Toolkit's
//! exit code. The work is in `crate::experiment`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::app::{self, UsageError};
use crate::cli::{Global, Output, RollbackStrategyArg, RunArgs};
use crate::commands::validate::{format_of, location};
use crate::experiment::providers::{self, Chaosday, ChaosdayCall};
use crate::experiment::runner::{self, Executor, RollbackStrategy, Runner};
use crate::experiment::{self, Vars};

/// The providers of a real run.
struct Providers {
    chaosday: Option<Arc<Chaosday>>,
}

impl Executor for Providers {
    async fn execute(
        &self,
        activity: &Value,
        provider: Map<String, Value>,
    ) -> Result<Value, String> {
        match provider.get("type").and_then(Value::as_str) {
            Some("http") => providers::http(&provider).await,
            Some("process") => providers::process(&provider).await,
            Some("chaosday") => {
                let call = ChaosdayCall::parse(&provider, "provider").map_err(|p| p.to_string())?;
                let name = activity
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match &self.chaosday {
                    Some(chaosday) => chaosday.call(name, call).await,
                    None => Err("no engine is open for chaosday providers".into()),
                }
            }
            other => Err(format!("the provider type {other:?} is not supported")),
        }
    }
}

/// Reads and checks an experiment file: the experiment, or a usage error listing every
/// problem with its path. Warnings (ignored `controls`) go to stderr.
pub fn load(path: &std::path::Path) -> anyhow::Result<Value> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {name}: {e}")))?;
    let experiment = experiment::parse(&text, format_of(path))
        .map_err(|e| UsageError(format!("{}: {}", location(&name, &e), e.message)))?;
    if !experiment::is_experiment(&experiment) {
        return Err(UsageError(format!(
            "{name} is not an experiment: a Chaos Toolkit experiment has a top-level `method` (and usually a `steady-state-hypothesis`)"
        ))
        .into());
    }
    let checked = experiment::check(&experiment, &experiment::system_env, &|p| {
        providers::which(p).is_some()
    });
    for warning in &checked.warnings {
        eprintln!("warning: {name}: {warning}");
    }
    if !checked.problems.is_empty() {
        let list: Vec<String> = checked
            .problems
            .iter()
            .map(|p| format!("  {name}: {p}"))
            .collect();
        return Err(UsageError(format!(
            "{name} is not a valid experiment:\n{}",
            list.join("\n")
        ))
        .into());
    }
    Ok(experiment)
}

/// Runs `chaosday run`.
pub async fn run(global: &Global, args: RunArgs) -> anyhow::Result<ExitCode> {
    let experiment = load(&args.experiment)?;
    let vars = Vars::load(&experiment, &experiment::system_env).map_err(|problems| {
        UsageError(
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let strategy = match args.rollback_strategy {
        Some(RollbackStrategyArg::Default) => RollbackStrategy::Default,
        Some(RollbackStrategyArg::Always) => RollbackStrategy::Always,
        Some(RollbackStrategyArg::Never) => RollbackStrategy::Never,
        Some(RollbackStrategyArg::Deviated) => RollbackStrategy::Deviated,
        None => experiment
            .pointer("/runtime/rollbacks/strategy")
            .and_then(Value::as_str)
            .and_then(RollbackStrategy::parse)
            .unwrap_or(RollbackStrategy::Default),
    };
    // Signals first: no Ctrl-C may kill chaosday between a fault and its revert.
    let mut interrupts = app::Interrupts::install()?;
    let uses_engine = experiment::all_activities(&experiment)
        .any(|a| a.pointer("/provider/type").and_then(Value::as_str) == Some("chaosday"));
    let chaosday = if uses_engine {
        let state_dir = app::state_dir(args.state.or(global))?;
        let (engine, _supervisor) = app::open_engine(&state_dir, "run").await?;
        Some(Arc::new(Chaosday::new(engine)))
    } else {
        None
    };
    let cancel = CancellationToken::new();
    let second = CancellationToken::new();
    let watcher = {
        let (cancel, second) = (cancel.clone(), second.clone());
        tokio::spawn(async move {
            let reason = interrupts.recv().await;
            eprintln!("{reason}: stopping the experiment (once more stops the rollbacks)");
            cancel.cancel();
            let reason = interrupts.recv().await;
            eprintln!("{reason}: stopping the rollbacks");
            second.cancel();
        })
    };
    let output = global.output;
    let progress: runner::Progress = Arc::new(move |phase: &str, run: &Value| {
        if output == Output::Text {
            let activity = &run["activity"];
            let what = activity["type"].as_str().unwrap_or("activity");
            let name = activity["name"].as_str().unwrap_or("?");
            let status = run["status"].as_str().unwrap_or("?");
            match run["exception"][0].as_str() {
                Some(error) => println!("[{phase}] {what} {name}: {status}: {}", error.trim_end()),
                None => println!("[{phase}] {what} {name}: {status}"),
            }
        }
    });
    let executor = Arc::new(Providers {
        chaosday: chaosday.clone(),
    });
    let runner =
        Runner::new(executor, vars, strategy, cancel, progress).with_second_interrupt(second);
    let journal = runner.run(&experiment).await;
    watcher.abort();
    let mut revert_failed = false;
    if let Some(chaosday) = &chaosday {
        for outcome in chaosday.engine().shutdown("the experiment ended").await {
            match outcome {
                chaosday_engine::RevertOutcome::Reverted { id } => {
                    if output == Output::Text {
                        println!("reverted fault #{id} at the end of the experiment");
                    }
                }
                chaosday_engine::RevertOutcome::Failed { id, error } => {
                    revert_failed = true;
                    eprintln!("REVERT FAILED for fault #{id}: {error}");
                }
                chaosday_engine::RevertOutcome::AlreadyEnded { .. } => {}
            }
        }
    }
    let text = serde_json::to_string_pretty(&journal).context("cannot write the journal")?;
    if let Some(dir) = args
        .journal_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&args.journal_path, text).with_context(|| {
        format!(
            "cannot write the journal to {}",
            args.journal_path.display()
        )
    })?;
    let code = runner::exit_code(&journal).max(u8::from(revert_failed));
    match output {
        Output::Json => crate::output::json(&json!({
            "status": journal["status"],
            "deviated": journal["deviated"],
            "journal": args.journal_path,
            "revert_failed": revert_failed,
        }))?,
        Output::Text => {
            let status = journal["status"].as_str().unwrap_or("?");
            let deviated = journal["deviated"] == true;
            println!(
                "experiment {}: {status}{}; journal in {}",
                journal["experiment"]["title"].as_str().unwrap_or("?"),
                if deviated {
                    ", the steady state DEVIATED"
                } else {
                    ""
                },
                args.journal_path.display()
            );
        }
    }
    Ok(ExitCode::from(code))
}
