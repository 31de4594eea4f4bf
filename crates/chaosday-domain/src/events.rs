//! The game's events: every state change of a Day of Chaos, appended to the log in order.
//! Scores, the timeline and reports are projections rebuilt by replaying them
//! ([`crate::incident::GameState`]).
//!
//! An event carries everything its projection needs (an opened incident carries its
//! scenario's difficulty, ground truth, hints and deadline), so replaying the log needs no
//! game file.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::alerting::AlertMatch;
pub use crate::game::{Diagnosis, Hint, Resolution};

/// An incident's number in its game: drawn at random when it opens (never a counter), so
/// that a number says nothing of the incidents a viewer may not know of.
/// In JSON, the number alone (`482913`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct IncidentId(pub u64);

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One event as stored: its place in the log, its time, who did it, and what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Its sequence number in the log (strictly increasing).
    pub seq: u64,
    /// When it happened, unix milliseconds.
    pub at_ms: i64,
    /// Who did it.
    pub actor: Actor,
    /// What happened.
    pub kind: EventKind,
}

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// chaosday itself: the scheduler, the referee's probes, timers.
    System,
    /// The game master.
    GameMaster {
        /// The player's name, as given with the action.
        player: String,
    },
    /// A player of a team.
    Team {
        /// The team.
        team: String,
        /// The player's name, as given with the action.
        player: String,
    },
    /// A team's alerting (Alertmanager).
    Alert {
        /// The team whose alert it is.
        team: String,
    },
}

/// A fault of an incident, as the game master sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FaultSummary {
    /// The logical target.
    pub target: String,
    /// The fault kind.
    pub kind: String,
    /// One line for people: `latency (800ms) on link 127.0.0.1:15432 → 127.0.0.1:5432`.
    pub description: String,
    /// The target's matchers that a firing alert must satisfy to detect the incident.
    #[serde(default, skip_serializing_if = "AlertMatch::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub alert_match: AlertMatch,
}

/// How a fault of an incident went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevertCause {
    /// Its duration ran out (a `timed` scenario, or a fault with `for`).
    Timer,
    /// It healed by itself (the target recovered without the team).
    Healed,
    /// A correct diagnosis healed it (`diagnose` scenarios).
    Diagnosis,
    /// The incident closed and chaosday reverted what was left.
    Closing,
    /// The kill switch or a guard.
    Safety,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The game began; these teams play.
    GameStarted {
        /// The teams, by name.
        teams: Vec<String>,
        /// The game file's scoring rules, so that a report counts points as the server did
        /// without the game file (absent in logs written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rules: Option<crate::scoring::ScoringRules>,
    },
    /// Every clock stopped.
    GamePaused {
        /// Why (a guard failed, the game master's break...).
        reason: String,
    },
    /// The clocks run again.
    GameResumed,
    /// The game is over; open incidents are cancelled.
    GameEnded,
    /// A scenario's faults are active against a team: its clocks start now.
    IncidentOpened {
        /// The incident.
        incident: IncidentId,
        /// The team it is against.
        team: String,
        /// The scenario's name.
        scenario: String,
        /// 1 to 5; multiplies its points.
        difficulty: u32,
        /// How it ends.
        resolution: Resolution,
        /// The ground truth.
        diagnosis: Diagnosis,
        /// Its faults.
        faults: Vec<FaultSummary>,
        /// Hints the team may buy.
        hints: Vec<Hint>,
        /// How long the team has, in milliseconds of running game time.
        deadline_ms: u64,
        /// The other teams' copies of a mirrored scenario, opened with this one: its ground
        /// truth stays the game master's until every copy has closed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mirrors: Vec<IncidentId>,
    },
    /// A team declared an incident on a target it sees suffering.
    Declared {
        /// The team.
        team: String,
        /// The logical target (or service) it names.
        target: String,
    },
    /// A firing alert from a team's alerting: it detects the team's open incidents its
    /// labels match if it started after they opened, credited at the event's time (when
    /// chaosday received it); one matching none costs a false alarm, once per firing.
    AlertFired {
        /// The team.
        team: String,
        /// The alert's labels.
        labels: BTreeMap<String, String>,
        /// When the alert started firing, unix ms (as its sender says).
        starts_at_ms: i64,
        /// Alertmanager's fingerprint of the alert (empty in older logs: the labels' hash
        /// stands in).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        fingerprint: String,
    },
    /// A resolved alert from a team's alerting. In the log because every alert received is
    /// (the game master sees the alert traffic); it changes no score.
    AlertResolved {
        /// The team.
        team: String,
        /// The alert's labels.
        labels: BTreeMap<String, String>,
        /// When the alert started firing, unix ms (as its sender says).
        starts_at_ms: i64,
        /// When it resolved, unix ms (as its sender says).
        ends_at_ms: i64,
        /// Alertmanager's fingerprint of the alert (the labels' hash when it sent none).
        fingerprint: String,
    },
    /// A team's diagnosis of one of its incidents.
    Diagnosed {
        /// The team.
        team: String,
        /// The incident.
        incident: IncidentId,
        /// What it says.
        diagnosis: Diagnosis,
    },
    /// A team bought a hint.
    HintBought {
        /// The team.
        team: String,
        /// The incident.
        incident: IncidentId,
        /// Which of the incident's hints (0-based).
        hint: usize,
    },
    /// A team says it fixed an incident.
    ResolutionClaimed {
        /// The team.
        team: String,
        /// The incident.
        incident: IncidentId,
    },
    /// The referee's probes stayed green through the verification window after a claim.
    Verified {
        /// The incident.
        incident: IncidentId,
    },
    /// The referee's probes went red after a claim: the claim is withdrawn.
    VerificationFailed {
        /// The incident.
        incident: IncidentId,
    },
    /// One of an incident's faults went away.
    FaultReverted {
        /// The incident.
        incident: IncidentId,
        /// The logical target.
        target: String,
        /// How.
        cause: RevertCause,
    },
    /// The deadline passed.
    Expired {
        /// The incident.
        incident: IncidentId,
    },
    /// Cancelled by the game master, the kill switch or the end of the game.
    Cancelled {
        /// The incident.
        incident: IncidentId,
        /// Why.
        reason: String,
    },
    /// The kill switch: every fault on the host was reverted, and none may be injected until
    /// a re-arm. The server cancels the open incidents and pauses the game with it.
    Aborted {
        /// How many faults it reverted.
        reverted: u32,
    },
    /// The host may take faults again after the kill switch.
    Rearmed,
    /// A guard probe failed beyond its limit: the server pauses the game, reverts every fault
    /// and cancels the open incidents.
    GuardFailed {
        /// The guard's name.
        guard: String,
        /// What it saw.
        detail: String,
    },
    /// The game master added or took points, with a reason.
    Adjusted {
        /// The team.
        team: String,
        /// Points (negative takes).
        points: i64,
        /// Why.
        reason: String,
    },
}

impl EventKind {
    /// The event's name as stored (`incident_opened`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::GameStarted { .. } => "game_started",
            EventKind::GamePaused { .. } => "game_paused",
            EventKind::GameResumed => "game_resumed",
            EventKind::GameEnded => "game_ended",
            EventKind::IncidentOpened { .. } => "incident_opened",
            EventKind::Declared { .. } => "declared",
            EventKind::AlertFired { .. } => "alert_fired",
            EventKind::AlertResolved { .. } => "alert_resolved",
            EventKind::Diagnosed { .. } => "diagnosed",
            EventKind::HintBought { .. } => "hint_bought",
            EventKind::ResolutionClaimed { .. } => "resolution_claimed",
            EventKind::Verified { .. } => "verified",
            EventKind::VerificationFailed { .. } => "verification_failed",
            EventKind::FaultReverted { .. } => "fault_reverted",
            EventKind::Expired { .. } => "expired",
            EventKind::Cancelled { .. } => "cancelled",
            EventKind::Aborted { .. } => "aborted",
            EventKind::Rearmed => "rearmed",
            EventKind::GuardFailed { .. } => "guard_failed",
            EventKind::Adjusted { .. } => "adjusted",
        }
    }

    /// The incident it is about, if any.
    pub fn incident(&self) -> Option<IncidentId> {
        match self {
            EventKind::IncidentOpened { incident, .. }
            | EventKind::Diagnosed { incident, .. }
            | EventKind::HintBought { incident, .. }
            | EventKind::ResolutionClaimed { incident, .. }
            | EventKind::Verified { incident }
            | EventKind::VerificationFailed { incident }
            | EventKind::FaultReverted { incident, .. }
            | EventKind::Expired { incident }
            | EventKind::Cancelled { incident, .. } => Some(*incident),
            _ => None,
        }
    }
}
