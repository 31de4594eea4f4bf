//! Printing results for people (tables) and for scripts (JSON).

use std::io::Write;

use chaosday_engine::clock::{now_ms, rfc3339};
use chaosday_engine::{AbortReport, FaultState, FaultView, RevertOutcome, Status};
use serde::Serialize;

use crate::cli::Output;

/// Prints `value` as pretty JSON on stdout.
///
/// A reader that stops early (`| head`) is not an error: the rest is simply not wanted.
pub fn json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out));
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Prints faults as a table or JSON.
pub fn faults(output: Output, views: &[FaultView]) -> anyhow::Result<()> {
    if output == Output::Json {
        return json(&views);
    }
    if views.is_empty() {
        println!("no live faults on this host");
        return Ok(());
    }
    let now = now_ms();
    let rows: Vec<[String; 5]> = views
        .iter()
        .map(|v| {
            let when = match (v.state.is_live(), v.expires_ms, v.ended_ms) {
                _ if v.state == FaultState::RevertFailed => "retrying its revert".into(),
                (true, Some(expires), _) => format!("{}s left", (expires - now).max(0) / 1000),
                (true, None, _) => "until reverted".into(),
                (false, _, Some(ended)) => format!("ended {}", rfc3339(ended)),
                (false, _, None) => String::new(),
            };
            let state = match v.status {
                Some(Status::Gone) => format!("{} (effect gone)", v.state),
                _ => v.state.to_string(),
            };
            let owner = if v.owner_alive {
                format!("pid {}", v.owner_pid)
            } else {
                format!("pid {} (dead)", v.owner_pid)
            };
            let what = match (&v.end_reason, &v.error) {
                // A revert that failed before it succeeded: its reason, not the old error.
                (_, Some(error)) if v.state != FaultState::Reverted => {
                    format!("{}: {error}", v.description)
                }
                (Some(reason), _) if !v.state.is_live() => {
                    format!("{} [{reason}]", v.description)
                }
                _ => v.description.clone(),
            };
            [v.id.to_string(), state, owner, when, what]
        })
        .collect();
    let header = ["ID", "STATE", "OWNER", "TIME", "FAULT"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        s
    };
    println!("{}", line(header));
    for row in &rows {
        println!("{}", line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    if let Some(stuck) = views.iter().find(|v| v.state == FaultState::RevertFailed) {
        eprintln!(
            "warning: a fault whose revert failed may still be in effect; chaosday retries it. Once you have undone it by hand: chaosday fault forget {} --reason \"...\"",
            stuck.id
        );
    }
    Ok(())
}

/// The kill switch's report, for people.
pub fn abort_report(report: &AbortReport) {
    for outcome in &report.outcomes {
        if let RevertOutcome::Reverted { id } = outcome {
            println!("reverted fault #{id}");
        }
    }
    for left in &report.left {
        println!(
            "NOT REVERTED: fault #{} ({}): {}",
            left.id,
            left.state,
            left.error
                .as_deref()
                .unwrap_or("still being injected or reverted")
        );
    }
    if report.complete() {
        println!(
            "kill switch on: {} reverted in {} ms, nothing left; no fault will be injected on this host until `chaosday fault rearm`",
            chaosday_domain::report::plural(report.reverted, "fault", "faults"),
            report.elapsed_ms
        );
    } else {
        println!(
            "kill switch on, but {} could NOT be reverted ({} reverted in {} ms): chaosday keeps retrying them; undo them by hand if you can, then `chaosday fault forget ID --reason ...`. No fault will be injected on this host until `chaosday fault rearm`",
            chaosday_domain::report::plural(report.left.len(), "fault", "faults"),
            report.reverted,
            report.elapsed_ms
        );
    }
}

/// Prints what reverts did.
pub fn outcomes(output: Output, outcomes: &[RevertOutcome]) -> anyhow::Result<()> {
    if output == Output::Json {
        return json(&outcomes);
    }
    if outcomes.is_empty() {
        println!("no live faults to revert");
    }
    for outcome in outcomes {
        match outcome {
            RevertOutcome::Reverted { id } => println!("reverted fault #{id}"),
            RevertOutcome::AlreadyEnded { id, state } => println!("fault #{id} is already {state}"),
            RevertOutcome::Failed { id, error } => {
                println!("REVERT FAILED for fault #{id}: {error}")
            }
        }
    }
    Ok(())
}
