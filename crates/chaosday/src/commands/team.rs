//! `chaosday team`: the player's commands. (Being written.)

use std::process::ExitCode;

use crate::cli::{Global, TeamCommand};

/// Runs a team command against the server.
pub async fn run(global: &Global, command: TeamCommand) -> anyhow::Result<ExitCode> {
    let _ = (global, command);
    anyhow::bail!("not yet")
}
