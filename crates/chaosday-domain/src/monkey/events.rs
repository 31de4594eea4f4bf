//! What the monkey decides, as events of the durable log: a day's plan, each planned
//! fault's fate (skipped and why, injected, reverted and why, failed), the time its group
//! took to recover, the kill switch. Replaying them ([`super::history::History`]) gives the
//! monkey's page, its restart, and its report.

use serde::{Deserialize, Serialize};

use super::Mode;
use super::plan::{PlannedFault, PlannedTarget};

/// One decision of the monkey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MonkeyEvent {
    /// The monkey started.
    Started {
        /// Leashed or unleashed.
        mode: Mode,
    },
    /// A day's plan, drawn at its run hour (or when the monkey started during the day).
    Planned {
        /// The day, `YYYY-MM-DD` in the monkey's time zone.
        day: String,
        /// Its faults, in time order.
        faults: Vec<PlannedFault>,
    },
    /// A planned fault that will not happen.
    Skipped {
        /// The planned fault.
        id: String,
        /// Why.
        reason: SkipReason,
    },
    /// A planned fault injected, or (leashed) what would have been.
    Injected {
        /// The planned fault.
        id: String,
        /// What it hit.
        targets: Vec<PlannedTarget>,
        /// True when the monkey is leashed: nothing was touched.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        leashed: bool,
        /// The faults' ids in the revert journal.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        faults: Vec<i64>,
    },
    /// A planned fault that could not be injected (what was injected of it is reverted).
    Failed {
        /// The planned fault.
        id: String,
        /// Why.
        error: String,
    },
    /// A fault's effect undone.
    Reverted {
        /// The planned fault.
        id: String,
        /// Why.
        cause: RevertCause,
    },
    /// After a fault ended, the group's probes were all green again.
    Recovered {
        /// The planned fault.
        id: String,
        /// From its end to the first all-green check, in milliseconds.
        after_ms: u64,
    },
    /// After a fault ended, the group's probes were still red when the monkey stopped
    /// watching.
    NotRecovered {
        /// The planned fault.
        id: String,
        /// How long the monkey watched, in milliseconds.
        waited_ms: u64,
    },
    /// The kill switch: every fault reverted, the monkey paused.
    Aborted {
        /// Who pulled it.
        by: String,
    },
    /// The kill switch released: the monkey acts again.
    Rearmed {
        /// Who.
        by: String,
    },
    /// The monkey stopped.
    Stopped {
        /// Why.
        reason: String,
    },
}

/// Why a planned fault did not happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case", deny_unknown_fields)]
pub enum SkipReason {
    /// An owner (or the operator) opted out of it.
    Owner {
        /// Who.
        by: String,
        /// What they said.
        why: String,
    },
    /// A probe of the group's outage checker was red: the group is already broken.
    Outage {
        /// The probe.
        probe: String,
        /// What it saw.
        detail: String,
    },
    /// A guard of the group was red.
    Guard {
        /// The guard.
        guard: String,
        /// What it saw.
        detail: String,
    },
    /// The kill switch is on.
    KillSwitch,
    /// One of its targets still has a fault of the monkey's.
    Busy {
        /// The target.
        target: String,
    },
    /// The group had no target that day (no container carried its labels).
    NoTarget,
    /// A container found by label no longer carries them, or no longer opts in.
    OptedOut {
        /// The target.
        target: String,
    },
    /// Its time passed while the monkey was not running.
    Missed,
}

impl SkipReason {
    /// A short name, for counters and charts.
    pub fn name(&self) -> &'static str {
        match self {
            SkipReason::Owner { .. } => "owner",
            SkipReason::Outage { .. } => "outage",
            SkipReason::Guard { .. } => "guard",
            SkipReason::KillSwitch => "kill_switch",
            SkipReason::Busy { .. } => "busy",
            SkipReason::NoTarget => "no_target",
            SkipReason::OptedOut { .. } => "opted_out",
            SkipReason::Missed => "missed",
        }
    }

    /// In words.
    pub fn describe(&self) -> String {
        match self {
            SkipReason::Owner { by, why } => format!("skipped by {by}: {why}"),
            SkipReason::Outage { probe, detail } => {
                format!("skipped: the group is already broken ({probe}: {detail})")
            }
            SkipReason::Guard { guard, detail } => {
                format!("skipped: guard {guard} is red ({detail})")
            }
            SkipReason::KillSwitch => "skipped: the kill switch is on".into(),
            SkipReason::Busy { target } => {
                format!("skipped: {target} still has a fault")
            }
            SkipReason::NoTarget => "skipped: the group had no target".into(),
            SkipReason::OptedOut { target } => {
                format!("skipped: {target} no longer opts in")
            }
            SkipReason::Missed => "missed: the monkey was not running".into(),
        }
    }
}

/// Why a fault of the monkey ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case", deny_unknown_fields)]
pub enum RevertCause {
    /// Its duration ran out.
    Timer,
    /// A guard of its group stayed red beyond its `fail_for`.
    Guard {
        /// The guard.
        guard: String,
        /// What it saw.
        detail: String,
    },
    /// The kill switch.
    KillSwitch,
    /// The monkey stopped (Ctrl-C, SIGTERM).
    Shutdown,
    /// The monkey died with the fault in effect; its revert ran when chaosday next opened
    /// the journal.
    Restarted,
    /// Reverted by someone else (`chaosday fault revert`, another process).
    Elsewhere {
        /// What the engine said.
        detail: String,
    },
}

impl RevertCause {
    /// A short name, for counters and charts.
    pub fn name(&self) -> &'static str {
        match self {
            RevertCause::Timer => "timer",
            RevertCause::Guard { .. } => "guard",
            RevertCause::KillSwitch => "kill_switch",
            RevertCause::Shutdown => "shutdown",
            RevertCause::Restarted => "restarted",
            RevertCause::Elsewhere { .. } => "elsewhere",
        }
    }

    /// In words.
    pub fn describe(&self) -> String {
        match self {
            RevertCause::Timer => "reverted: its time ran out".into(),
            RevertCause::Guard { guard, detail } => {
                format!("reverted early: guard {guard} stayed red ({detail})")
            }
            RevertCause::KillSwitch => "reverted by the kill switch".into(),
            RevertCause::Shutdown => "reverted: the monkey stopped".into(),
            RevertCause::Restarted => {
                "reverted after the monkey died, when chaosday started again".into()
            }
            RevertCause::Elsewhere { detail } => format!("ended elsewhere: {detail}"),
        }
    }
}

impl MonkeyEvent {
    /// Its kind, as stored.
    pub fn name(&self) -> &'static str {
        match self {
            MonkeyEvent::Started { .. } => "started",
            MonkeyEvent::Planned { .. } => "planned",
            MonkeyEvent::Skipped { .. } => "skipped",
            MonkeyEvent::Injected { .. } => "injected",
            MonkeyEvent::Failed { .. } => "failed",
            MonkeyEvent::Reverted { .. } => "reverted",
            MonkeyEvent::Recovered { .. } => "recovered",
            MonkeyEvent::NotRecovered { .. } => "not_recovered",
            MonkeyEvent::Aborted { .. } => "aborted",
            MonkeyEvent::Rearmed { .. } => "rearmed",
            MonkeyEvent::Stopped { .. } => "stopped",
        }
    }

    /// The planned fault it is about, if any.
    pub fn planned_id(&self) -> Option<&str> {
        match self {
            MonkeyEvent::Skipped { id, .. }
            | MonkeyEvent::Injected { id, .. }
            | MonkeyEvent::Failed { id, .. }
            | MonkeyEvent::Reverted { id, .. }
            | MonkeyEvent::Recovered { id, .. }
            | MonkeyEvent::NotRecovered { id, .. } => Some(id),
            _ => None,
        }
    }
}

/// A stored event of the monkey: its place in the log, its time, and what it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonkeyRecord {
    /// Its sequence number in the log.
    pub seq: u64,
    /// When, unix milliseconds.
    pub at_ms: i64,
    /// What.
    pub event: MonkeyEvent,
}
