//! What every command shares: where state lives, opening the engine over this host's
//! journal (which first reverts what a dead chaosday left), and exit codes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chaosday_engine::{Engine, RevertOutcome, StressorCommand, Supervisor};
use chaosday_game::host::HostConfig;
use chaosday_proxy::Registry;
use tokio::signal::unix::{SignalKind, signal};

/// An error in what the user asked for: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit code 2 for usage errors (bad input, a target that cannot be used), 1 for failures.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    use chaosday_engine::Error as E;
    if error.downcast_ref::<UsageError>().is_some() {
        return 2;
    }
    match error.downcast_ref::<E>() {
        Some(
            E::BadFault(_)
            | E::NoMatch { .. }
            | E::Ambiguous { .. }
            | E::NotOptedIn(_)
            | E::Unsupported { .. },
        ) => 2,
        _ => 1,
    }
}

/// The state directory: the flag or `CHAOSDAY_STATE_DIR`, else a per-host or per-user default.
pub fn state_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_owned();
    }
    if nix::unistd::Uid::effective().is_root() {
        return PathBuf::from("/var/lib/chaosday");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("chaosday")
}

/// The engine of this process, over the journal in `state_dir`, with faults left by dead
/// chaosday processes already reverted (and reported on stderr).
pub async fn open_engine(
    state_dir: &Path,
    origin: &str,
) -> anyhow::Result<(Engine, Arc<Supervisor>)> {
    open_engine_with(state_dir, origin, Registry::new(None)).await
}

/// [`open_engine`], its link driver acting on the proxies of `registry`.
pub async fn open_engine_with(
    state_dir: &Path,
    origin: &str,
    registry: Registry,
) -> anyhow::Result<(Engine, Arc<Supervisor>)> {
    let config = HostConfig {
        state_dir: state_dir.to_owned(),
        origin: origin.to_owned(),
        stressor: stressor()?,
    };
    let host = chaosday_game::host::open_engine(&config, registry).await?;
    report_recovered(&host.recovered);
    Ok((host.engine, host.supervisor))
}

/// How host faults start a stressor: this very binary's hidden `__stress` command.
pub fn stressor() -> anyhow::Result<StressorCommand> {
    Ok(StressorCommand {
        program: std::env::current_exe()
            .context("cannot find the chaosday executable to start stressors")?,
        args: vec!["__stress".into()],
    })
}

/// Tells on stderr (never mixed with data on stdout) what recovery did.
pub fn report_recovered(recovered: &[RevertOutcome]) {
    for outcome in recovered {
        match outcome {
            RevertOutcome::Reverted { id } => {
                eprintln!("reverted fault #{id}, left active by a chaosday process that died");
            }
            RevertOutcome::Failed { id, error } => {
                eprintln!(
                    "warning: fault #{id} was left by a chaosday process that died, and reverting it failed: {error}"
                );
            }
            RevertOutcome::AlreadyEnded { .. } => {}
        }
    }
}

/// The signals that make chaosday revert and exit. Install them before any fault takes
/// effect, so that none of them can kill chaosday with the default action in between.
pub struct Interrupts {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Interrupts {
    /// Starts watching SIGINT, SIGTERM and SIGHUP.
    pub fn install() -> anyhow::Result<Self> {
        let watch = |kind, name| signal(kind).with_context(|| format!("cannot watch {name}"));
        Ok(Interrupts {
            int: watch(SignalKind::interrupt(), "SIGINT")?,
            term: watch(SignalKind::terminate(), "SIGTERM")?,
            hup: watch(SignalKind::hangup(), "SIGHUP")?,
        })
    }

    /// Waits for one of them; says which.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "interrupted (Ctrl-C)",
            _ = self.term.recv() => "interrupted (SIGTERM)",
            _ = self.hup.recv() => "interrupted (SIGHUP)",
        }
    }
}
