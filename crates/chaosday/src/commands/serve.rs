//! `chaosday serve`: the game server. (Being written.)

use std::process::ExitCode;

use crate::cli::{Global, ServeArgs};

/// Runs the game server until Ctrl-C or SIGTERM.
pub async fn run(global: &Global, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let _ = (global, args);
    anyhow::bail!("not yet")
}
