//! The engine's errors. Each says what went wrong and what to do about it.

use std::time::Duration;

use crate::journal::{FaultId, JournalError};

/// Why an injection or a revert did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No process matched the selector.
    #[error("{}", no_match(.selector, .similar))]
    NoMatch {
        /// The selector as written (`cgroup:TEXT` for a cgroup).
        selector: String,
        /// Command lines of processes that look close, for the hint.
        similar: Vec<String>,
    },
    /// More than one process matched; a fault needs exactly one.
    #[error("{selector:?} matches {} processes, and a fault needs exactly one: {}; make the command line or the regex more precise, or use `pid:N`", .candidates.len(), .candidates.join("; "))]
    Ambiguous {
        /// The selector as written.
        selector: String,
        /// `pid: command line` of each match.
        candidates: Vec<String>,
    },
    /// The target may not be touched.
    #[error("not opted in: {0}")]
    NotOptedIn(String),
    /// The fault kind does not apply to the target's kind.
    #[error("a `{fault}` fault cannot act on a {target} target")]
    Unsupported {
        /// The fault kind.
        fault: &'static str,
        /// The target kind.
        target: String,
    },
    /// The fault's parameters are wrong.
    #[error("{0}")]
    BadFault(String),
    /// The kill switch is on.
    #[error(
        "the kill switch is on (since {since}, by {by}): no fault is injected until `chaosday fault rearm`"
    )]
    Disarmed {
        /// When it was hit, RFC 3339.
        since: String,
        /// Who hit it.
        by: String,
    },
    /// The target already has an active fault.
    #[error(
        "{target} already has an active fault (#{id}); revert it first (`chaosday fault revert {id}`)"
    )]
    TargetBusy {
        /// The target.
        target: String,
        /// The fault on it.
        id: FaultId,
    },
    /// No fault with this id.
    #[error("no fault #{0} in the journal (see `chaosday fault list --all`)")]
    NotFound(FaultId),
    /// A step did not finish in time.
    #[error("{step} did not finish within {}", humanize(*.after))]
    Timeout {
        /// What was being done.
        step: String,
        /// The limit.
        after: Duration,
    },
    /// The fault was reverted (kill switch, or an explicit revert) while it was being injected.
    #[error("fault #{0} was reverted while it was being injected (kill switch or `fault revert`)")]
    Preempted(FaultId),
    /// This engine is shutting down: it injects nothing more.
    #[error("this chaosday is shutting down: no new fault is injected")]
    ShuttingDown,
    /// `fault forget` of a fault whose revert did not fail.
    #[error(
        "fault #{id} is {state}: only a fault whose revert failed (`revert_failed`) can be forgotten; revert it instead (`chaosday fault revert {id}`)"
    )]
    NotForgettable {
        /// The fault.
        id: FaultId,
        /// Its state.
        state: crate::journal::FaultState,
    },
    /// The agent a fault must go through is out of contact.
    #[error(
        "agent {agent} {state}: start `chaosday agent --name {agent}` on its host, or check that it reaches this server"
    )]
    AgentAway {
        /// The agent.
        agent: String,
        /// Where it stands.
        state: &'static str,
    },
    /// A link's listen address is taken by another socket (another process proxies it).
    #[error("link {listen}: the address is already in use; pick another port, or 0 for a free one")]
    AddressInUse {
        /// The address.
        listen: String,
    },
    /// The operating system refused.
    #[error("{0}")]
    System(String),
    /// The journal failed.
    #[error("revert journal: {0}")]
    Journal(String),
}

/// What was searched, what looks close, and how to match instead.
fn no_match(selector: &str, similar: &[String]) -> String {
    match selector.strip_prefix("cgroup:") {
        Some(text) => format!(
            "no process has a cgroup path containing {text:?}{}: `cat /proc/PID/cgroup` shows a process's cgroup paths (a Docker container's full id is `docker inspect -f '{{{{.Id}}}}' NAME`; a systemd unit's path is in `systemctl status UNIT`)",
            similar_hint(similar)
        ),
        None => format!(
            "no process matches {selector:?}{}; the command line must match in full (use `regex:PATTERN` for a pattern, `pid:N`, or `cgroup:TEXT`)",
            similar_hint(similar)
        ),
    }
}

fn similar_hint(similar: &[String]) -> String {
    if similar.is_empty() {
        String::new()
    } else {
        format!(" (close: {})", similar.join("; "))
    }
}

fn humanize(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl From<JournalError> for Error {
    fn from(e: JournalError) -> Self {
        match e {
            JournalError::Disarmed(arming) => Error::Disarmed {
                since: crate::clock::rfc3339(arming.since_ms),
                by: arming.by,
            },
            JournalError::TargetBusy { target_key, id } => Error::TargetBusy {
                target: target_key,
                id,
            },
            JournalError::Storage(e) => Error::Journal(e),
        }
    }
}

/// Shorthand for the engine's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
