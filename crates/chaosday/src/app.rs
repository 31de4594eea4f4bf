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

/// The state directory: the flag or `CHAOSDAY_STATE_DIR`, else a per-host (root:
/// `/var/lib/chaosday`) or per-user default (`$XDG_STATE_HOME/chaosday`, else
/// `$HOME/.local/state/chaosday`). Never a shared temporary directory: it holds revert plans
/// that chaosday runs, so without a home it asks for one.
pub fn state_dir(flag: Option<&Path>) -> Result<PathBuf, UsageError> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let xdg = std::env::var_os("XDG_STATE_HOME").map(PathBuf::from);
    default_state_dir(flag, nix::unistd::Uid::effective().is_root(), xdg, home)
}

fn default_state_dir(
    flag: Option<&Path>,
    root: bool,
    xdg_state_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Result<PathBuf, UsageError> {
    if let Some(dir) = flag {
        return Ok(dir.to_owned());
    }
    if root {
        return Ok(PathBuf::from("/var/lib/chaosday"));
    }
    let base = xdg_state_home
        .filter(|p| p.is_absolute())
        .or_else(|| {
            home.filter(|p| p.is_absolute())
                .map(|home| home.join(".local/state"))
        })
        .ok_or_else(|| {
            UsageError(
                "no state directory: HOME is not set to an absolute path (nor XDG_STATE_HOME), and chaosday keeps its revert journal only in a directory of this user's, never a shared temporary one: give one with --state-dir DIR or CHAOSDAY_STATE_DIR"
                    .into(),
            )
        })?;
    Ok(base.join("chaosday"))
}

/// Creates the state directory with mode 0700, or checks the one there: this user's, and
/// writable by no one else (it holds the revert plans recovery runs).
pub fn private_state_dir(dir: &Path) -> anyhow::Result<()> {
    chaosday_game::host::private_state_dir(dir)
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
        agents: None,
        pod_namespaces: Default::default(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_directory_is_never_a_shared_temporary_one() {
        let dir = |flag: Option<&str>, root, xdg: Option<&str>, home: Option<&str>| {
            default_state_dir(
                flag.map(Path::new),
                root,
                xdg.map(PathBuf::from),
                home.map(PathBuf::from),
            )
            .map_err(|e| e.0)
        };
        assert_eq!(
            dir(Some("/srv/cd"), false, None, None),
            Ok("/srv/cd".into())
        );
        assert_eq!(dir(None, true, None, None), Ok("/var/lib/chaosday".into()));
        assert_eq!(
            dir(None, false, Some("/x/state"), Some("/home/a")),
            Ok("/x/state/chaosday".into())
        );
        assert_eq!(
            dir(None, false, Some("relative"), Some("/home/a")),
            Ok("/home/a/.local/state/chaosday".into())
        );
        for home in [None, Some(""), Some("relative/home")] {
            let e = dir(None, false, None, home).expect_err("no home, no default");
            assert!(
                e.contains("give one with --state-dir DIR or CHAOSDAY_STATE_DIR"),
                "{e}"
            );
        }
    }
}
