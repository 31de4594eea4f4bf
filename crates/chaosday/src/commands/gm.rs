//! `chaosday gm`: the game master's commands. (Being written.)

use std::process::ExitCode;

use crate::cli::{GmCommand, Global};

/// Runs a game master command against the server.
pub async fn run(global: &Global, command: GmCommand) -> anyhow::Result<ExitCode> {
    let _ = (global, command);
    anyhow::bail!("not yet")
}
