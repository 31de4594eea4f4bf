//! The demo's state directory: one demo at a time in it (a lock), its tokens, the shop a
//! crashed run left behind, and the last run's game log.
//!
//! The tokens are made once per state directory (256 random bits each, from the kernel) and
//! kept in `tokens.json` (mode 0600): a player's exported `CHAOSDAY_TOKEN`, a logged-in
//! browser and a bookmarked console keep working from one run of the demo to the next, and
//! the server only ever listens on loopback.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chaosday_engine::proc::{self, ProcessIdentity};
use chaosday_engine::signal::{send_if_same, wait_gone};
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use super::shop::{self, TEAMS};
use crate::app::UsageError;

/// Holds the state directory for this demo: dropped, it lets the next one in.
pub struct Lock {
    _file: Flock<File>,
}

/// Takes the state directory, or says which demo holds it.
pub fn lock(dir: &Path) -> anyhow::Result<Lock> {
    let path = dir.join("demo.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o644)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut locked) => {
            locked.set_len(0)?;
            write!(locked, "{}", std::process::id())?;
            Ok(Lock { _file: locked })
        }
        Err((mut file, _)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            Err(UsageError(format!(
                "another chaosday demo (pid {}) runs with the state directory {}: stop it first (Ctrl-C in its terminal), or give this one another --data-dir",
                pid.trim(),
                dir.display()
            ))
            .into())
        }
    }
}

/// The demo's tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tokens {
    /// The game master's.
    pub game_master: String,
    /// Each team's, by team name.
    pub teams: std::collections::BTreeMap<String, String>,
}

impl Tokens {
    /// The token of `team`.
    pub fn team(&self, team: &str) -> &str {
        self.teams.get(team).map_or("", String::as_str)
    }
}

/// The tokens kept in the state directory, made (and kept) on first use.
pub fn tokens(dir: &Path) -> anyhow::Result<Tokens> {
    let path = dir.join("tokens.json");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(tokens) = serde_json::from_str::<Tokens>(&text)
        && TEAMS
            .iter()
            .all(|(team, _)| tokens.teams.contains_key(*team))
    {
        return Ok(tokens);
    }
    let tokens = Tokens {
        game_master: random_token()?,
        teams: TEAMS
            .iter()
            .map(|(team, _)| Ok(((*team).to_owned(), random_token()?)))
            .collect::<anyhow::Result<_>>()?,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(serde_json::to_string_pretty(&tokens)?.as_bytes())?;
    Ok(tokens)
}

/// 256 random bits from the kernel, in hex.
fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("reading /dev/urandom for a token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Stops every process of the shop whose directory is `dir` (a crashed run's, whatever
/// binary ran it; or what is left at the end of this one): SIGTERM (and SIGCONT, for a
/// stopped one), then SIGKILL after two seconds. Returns their pids. A process in another
/// pid namespace (a service of `demo --docker`, in its container) is left to Docker.
pub async fn stop_shop_processes(dir: &Path) -> Vec<u32> {
    let Ok(all) = proc::all() else {
        return Vec::new();
    };
    let me = std::process::id();
    let ours = pid_namespace("self");
    let found: Vec<ProcessIdentity> = all
        .into_iter()
        .filter(|p| p.pid != me && !p.is_zombie() && shop::is_shop_process(&p.argv, dir))
        .filter(|p| pid_namespace(&p.pid.to_string()) == ours)
        .map(|p| p.identity())
        .collect();
    for process in &found {
        send_if_same(*process, Signal::SIGTERM);
        send_if_same(*process, Signal::SIGCONT);
    }
    for process in &found {
        if !wait_gone(*process, Duration::from_secs(2)).await {
            send_if_same(*process, Signal::SIGKILL);
            wait_gone(*process, Duration::from_secs(2)).await;
        }
    }
    found.iter().map(|p| p.pid).collect()
}

/// The pid namespace of `/proc/WHICH` (`pid:[4026531836]`), if it can be read.
fn pid_namespace(which: &str) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{which}/ns/pid")).ok()
}

/// Where the demo keeps its games' event logs: one file per run, never removed, so that
/// an earlier day's report can still be written.
pub fn games_dir(dir: &Path) -> PathBuf {
    dir.join("games")
}

/// A new event log for a run starting at `started` (UTC, to the second, in its name:
/// `games/2026-12-05T09-30-00Z.sqlite`; `-2`, `-3`… if that name is taken).
pub fn new_game_log(dir: &Path, started: jiff::Timestamp) -> anyhow::Result<PathBuf> {
    let games = games_dir(dir);
    chaosday_store::ensure_private_dir(&games)
        .with_context(|| format!("creating {}", games.display()))?;
    let stamp = started.strftime("%Y-%m-%dT%H-%M-%SZ").to_string();
    for n in 1u32.. {
        let name = match n {
            1 => format!("{stamp}.sqlite"),
            n => format!("{stamp}-{n}.sqlite"),
        };
        let path = games.join(name);
        if !path.exists() {
            return Ok(path);
        }
    }
    unreachable!("some name is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_made_once_random_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = tokens(dir.path()).unwrap();
        assert_eq!(first.game_master.len(), 64);
        assert!(first.game_master.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(first.team("cart"), first.team("storefront"));
        assert_eq!(tokens(dir.path()).unwrap(), first, "kept for the next run");
        let mode = std::fs::metadata(dir.path().join("tokens.json"))
            .unwrap()
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
    }

    #[test]
    fn one_demo_at_a_time_per_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        let refused = lock(dir.path()).err().expect("a second demo is refused");
        assert!(
            refused
                .to_string()
                .contains(&std::process::id().to_string()),
            "{refused}"
        );
        drop(held);
        lock(dir.path()).expect("free again");
    }
}
