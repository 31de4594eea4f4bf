//! `chaosday report`: the postmortem of a game. (Being written.)

use std::process::ExitCode;

use crate::cli::{Global, ReportArgs};

/// Writes the report.
pub async fn run(global: &Global, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let _ = (global, args);
    anyhow::bail!("not yet")
}
