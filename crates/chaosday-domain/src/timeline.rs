//! One timeline for every front end: the live timeline of the game server (SSE, API, web
//! pages) and the postmortem's merged timeline come from the same fold and the same step.
//!
//! Folding an event in ([`Timeline::apply`]) says what it changed as typed [`Change`]s, for
//! every viewer alike (a detection with its points, a closing with its scenario...). Telling
//! a change to one viewer ([`tell`]) decides whether that viewer may see it and in which
//! words, and gives a [`TimelineEntry`] whose [`TimelineKind`] says what it is about: a front
//! end never reads the text to find it.
//!
//! Two tellings share the step: [`Telling::Live`], what a viewer may know at the moment of
//! the event (the game server's timeline), and [`Telling::Postmortem`], what the viewer may
//! know when the report is made (a closed incident tells its whole story then). The secrecy
//! rules are those of [`crate::secrecy`]: an undetected incident leaves no trace for a
//! spectator or another team, its ground truth stays the game master's until it closes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::{Diagnosis, Event, EventKind, IncidentId, Resolution, RevertCause};
use crate::incident::{Breakdown, GameState, Incident, IncidentState, Outcome};
use crate::scoring::ScoringRules;
use crate::secrecy::{Access, Viewer};

/// What a timeline entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// The game started.
    GameStarted,
    /// The game paused.
    Paused,
    /// The game resumed.
    Resumed,
    /// The game ended.
    GameEnded,
    /// A scenario's faults became active against a team.
    Injection,
    /// A team's declaration detected an incident.
    Declaration,
    /// A declaration that matched no open incident.
    FalseAlarm,
    /// A firing alert (which detected an incident, or matched none).
    Alert,
    /// A diagnosis, right or wrong.
    Diagnosis,
    /// A hint bought.
    Hint,
    /// A claim that an incident is fixed.
    Claim,
    /// A claim's verification failed.
    VerificationFailed,
    /// A fault went away.
    Revert,
    /// An incident was resolved by its team (a verified fix, a correct diagnosis).
    Resolved,
    /// A timed incident that its team detected ran out.
    RanOut,
    /// An incident's deadline passed after its team detected it.
    Expired,
    /// An incident was cancelled.
    Cancelled,
    /// An incident ran out or expired without its team ever detecting it.
    NeverDetected,
    /// The kill switch.
    KillSwitch,
    /// Faults allowed again after the kill switch.
    Rearmed,
    /// A guard probe failed.
    GuardFailed,
    /// The game master adjusted a team's points.
    Adjustment,
}

impl TimelineKind {
    /// Its name in the JSON (`injection`, `kill_switch`...).
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::GameStarted => "game_started",
            TimelineKind::Paused => "paused",
            TimelineKind::Resumed => "resumed",
            TimelineKind::GameEnded => "game_ended",
            TimelineKind::Injection => "injection",
            TimelineKind::Declaration => "declaration",
            TimelineKind::FalseAlarm => "false_alarm",
            TimelineKind::Alert => "alert",
            TimelineKind::Diagnosis => "diagnosis",
            TimelineKind::Hint => "hint",
            TimelineKind::Claim => "claim",
            TimelineKind::VerificationFailed => "verification_failed",
            TimelineKind::Revert => "revert",
            TimelineKind::Resolved => "resolved",
            TimelineKind::RanOut => "ran_out",
            TimelineKind::Expired => "expired",
            TimelineKind::Cancelled => "cancelled",
            TimelineKind::NeverDetected => "never_detected",
            TimelineKind::KillSwitch => "kill_switch",
            TimelineKind::Rearmed => "rearmed",
            TimelineKind::GuardFailed => "guard_failed",
            TimelineKind::Adjustment => "adjustment",
        }
    }
}

/// One line of the timeline, as one viewer may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimelineEntry {
    /// Its number in what this viewer sees: the viewer's own count of the events that told
    /// it something (entries of one event share it), never the log's sequence number.
    pub seq: u64,
    /// When, unix ms.
    pub at_ms: i64,
    /// What it is about.
    pub kind: TimelineKind,
    /// The team concerned, if one.
    pub team: Option<String>,
    /// The incident concerned, if one.
    pub incident: Option<IncidentId>,
    /// What happened, for people.
    pub text: String,
    /// The change in the team's points.
    pub points: i64,
}

/// How an incident was detected, with what the detection said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detector {
    /// A declaration naming this target.
    Declaration {
        /// The target named.
        target: String,
    },
    /// A firing alert with these labels (`k=v, k=v`).
    Alert {
        /// The labels, for people.
        labels: String,
        /// Its fingerprint (Alertmanager's, or the labels' hash when it sent none).
        fingerprint: String,
    },
}

impl Detector {
    /// What the detection said, for people: the target declared, or the alert's labels and
    /// fingerprint (`alertname=CartSlow, service=cart; fingerprint 3f2a…`).
    pub fn described(&self) -> String {
        match self {
            Detector::Declaration { target } => target.clone(),
            Detector::Alert {
                labels,
                fingerprint,
            } => format!("{labels}; fingerprint {fingerprint}"),
        }
    }
}

/// What one event changed, the same for every viewer: the facts a timeline entry tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The game started with these teams.
    GameStarted {
        /// The teams.
        teams: Vec<String>,
    },
    /// The game paused.
    Paused {
        /// Why.
        reason: String,
    },
    /// The game resumed.
    Resumed,
    /// The game ended.
    GameEnded,
    /// An incident opened.
    Opened {
        /// The incident.
        incident: IncidentId,
        /// Its team.
        team: String,
        /// Its scenario.
        scenario: String,
        /// Its difficulty.
        difficulty: u32,
        /// How it ends.
        resolution: Resolution,
    },
    /// An incident was detected.
    Detected {
        /// The incident.
        incident: IncidentId,
        /// Its team.
        team: String,
        /// How.
        by: Detector,
        /// The detection points.
        points: i64,
    },
    /// A false alarm.
    FalseAlarm {
        /// The team.
        team: String,
        /// The declaration, or the alert, that matched no open incident.
        by: Detector,
        /// The penalty (negative).
        points: i64,
    },
    /// A firing alert that detected nothing and cost nothing (a repeat, or one matching an
    /// incident already detected).
    AlertUnmatched {
        /// The team.
        team: String,
        /// Its labels and fingerprint, for people.
        alert: String,
    },
    /// A resolved alert (it changes nothing).
    AlertResolved {
        /// The team.
        team: String,
        /// Its labels and fingerprint, for people.
        alert: String,
    },
    /// A diagnosis that counted.
    Diagnosed {
        /// The incident.
        incident: IncidentId,
        /// The team.
        team: String,
        /// What it said.
        diagnosis: Diagnosis,
        /// Whether it was right.
        correct: bool,
        /// Its points.
        points: i64,
    },
    /// A hint bought.
    HintBought {
        /// The incident.
        incident: IncidentId,
        /// The team.
        team: String,
        /// Which hint (0-based).
        hint: usize,
        /// Its text.
        text: Option<String>,
        /// Its price (negative).
        points: i64,
    },
    /// A claim that the incident is fixed.
    Claimed {
        /// The incident.
        incident: IncidentId,
        /// The team.
        team: String,
    },
    /// The referee verified a claim: the incident is resolved.
    Verified {
        /// The incident.
        incident: IncidentId,
    },
    /// The referee's probes went red after a claim: the claim is withdrawn.
    ClaimWithdrawn {
        /// The incident.
        incident: IncidentId,
        /// Its team.
        team: String,
    },
    /// One of an incident's faults went away.
    Reverted {
        /// The incident.
        incident: IncidentId,
        /// Its team, if the incident is known.
        team: Option<String>,
        /// The logical target.
        target: String,
        /// How.
        cause: RevertCause,
    },
    /// The kill switch.
    KillSwitch {
        /// How many faults it reverted.
        reverted: u32,
    },
    /// Faults allowed again.
    Rearmed,
    /// A guard probe failed.
    GuardFailed {
        /// The guard.
        guard: String,
        /// What it saw.
        detail: String,
    },
    /// The game master's adjustment.
    Adjusted {
        /// The team.
        team: String,
        /// Points.
        points: i64,
        /// Why.
        reason: String,
    },
    /// An incident closed, whatever closed it.
    Closed {
        /// The incident.
        incident: IncidentId,
        /// Its team.
        team: String,
        /// How it ended.
        outcome: Outcome,
        /// Its scenario.
        scenario: String,
        /// Why it closed.
        reason: String,
        /// The resolution points.
        points: i64,
    },
}

impl Change {
    /// The incident it is about, if one.
    pub fn incident(&self) -> Option<IncidentId> {
        match self {
            Change::Opened { incident, .. }
            | Change::Detected { incident, .. }
            | Change::Diagnosed { incident, .. }
            | Change::HintBought { incident, .. }
            | Change::Claimed { incident, .. }
            | Change::Verified { incident }
            | Change::ClaimWithdrawn { incident, .. }
            | Change::Reverted { incident, .. }
            | Change::Closed { incident, .. } => Some(*incident),
            _ => None,
        }
    }

    /// The team whose points it changes, and by how much.
    pub fn points(&self) -> Option<(&str, i64)> {
        match self {
            Change::Detected { team, points, .. }
            | Change::FalseAlarm { team, points, .. }
            | Change::Diagnosed { team, points, .. }
            | Change::HintBought { team, points, .. }
            | Change::Adjusted { team, points, .. }
            | Change::Closed { team, points, .. } => Some((team, *points)),
            _ => None,
        }
    }
}

/// What an open incident was before an event, for the step to see what the event changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    state: IncidentState,
    detected: bool,
    diagnosed: bool,
    tries: u32,
    hints: usize,
    claimed_ms: Option<i64>,
    points: Breakdown,
}

impl Mark {
    fn of(i: &Incident) -> Self {
        Mark {
            state: i.state,
            detected: i.detected_ms.is_some(),
            diagnosed: i.diagnosed_ms.is_some(),
            tries: i.tries,
            hints: i.hints_bought.len(),
            claimed_ms: i.claimed_ms,
            points: i.points,
        }
    }
}

/// The little an event may change, taken before it is folded in: the open incidents (a
/// closed incident never changes again) and the acting team's false alarms. Much less than
/// a copy of the state.
#[derive(Debug, Clone, Default)]
pub struct Marks {
    open: BTreeMap<IncidentId, Mark>,
    alarms: Option<(i64, u32)>,
}

impl Marks {
    /// What `event` may change of `state`, before it is folded in.
    pub fn before(state: &GameState, event: &Event) -> Self {
        let team = match &event.kind {
            EventKind::Declared { team, .. } | EventKind::AlertFired { team, .. } => Some(team),
            _ => None,
        };
        Marks {
            open: state
                .incidents
                .values()
                .filter(|i| !i.state.is_closed())
                .map(|i| (i.id, Mark::of(i)))
                .collect(),
            alarms: team.map(|t| {
                state
                    .team_extra
                    .get(t)
                    .map_or((0, 0), |(b, n)| (b.penalties, *n))
            }),
        }
    }

    /// The incident `id` before the event, given the state `after` it: an incident open
    /// before is marked; one closed before is as it is now; one absent before is new.
    fn prior(&self, after: &GameState, id: IncidentId) -> Option<Mark> {
        self.open.get(&id).copied().or_else(|| {
            after
                .incidents
                .get(&id)
                .filter(|i| i.state.is_closed())
                .map(Mark::of)
        })
    }
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `event` changed, given the `marks` taken before it and the state `after` it.
pub fn changes(marks: &Marks, after: &GameState, event: &Event) -> Vec<Change> {
    let prior = |id: IncidentId| marks.prior(after, id);
    let now = |id: IncidentId| after.incidents.get(&id);
    let delta = |id: IncidentId, part: fn(&Breakdown) -> i64| {
        now(id).map_or(0, |i| part(&i.points)) - prior(id).map_or(0, |m| part(&m.points))
    };
    let team_of = |id: IncidentId| now(id).map(|i| i.team.clone());
    let mut out = Vec::new();
    match &event.kind {
        EventKind::GameStarted { teams, .. } => out.push(Change::GameStarted {
            teams: teams.clone(),
        }),
        EventKind::GamePaused { reason } => out.push(Change::Paused {
            reason: reason.clone(),
        }),
        EventKind::GameResumed => out.push(Change::Resumed),
        EventKind::GameEnded => out.push(Change::GameEnded),
        EventKind::IncidentOpened {
            incident,
            team,
            scenario,
            difficulty,
            resolution,
            ..
        } => {
            if prior(*incident).is_none() && now(*incident).is_some() {
                out.push(Change::Opened {
                    incident: *incident,
                    team: team.clone(),
                    scenario: scenario.clone(),
                    difficulty: *difficulty,
                    resolution: *resolution,
                });
            }
        }
        EventKind::Declared { team, .. } | EventKind::AlertFired { team, .. } => {
            let by = match &event.kind {
                EventKind::Declared { target, .. } => Detector::Declaration {
                    target: target.clone(),
                },
                EventKind::AlertFired {
                    labels,
                    fingerprint,
                    ..
                } => Detector::Alert {
                    labels: labels_text(labels),
                    fingerprint: if fingerprint.is_empty() {
                        crate::alerting::fingerprint(labels)
                    } else {
                        fingerprint.clone()
                    },
                },
                _ => unreachable!("a declaration or an alert"),
            };
            let detected: Vec<IncidentId> = marks
                .open
                .iter()
                .filter(|(id, m)| !m.detected && now(**id).is_some_and(|i| i.detected_ms.is_some()))
                .map(|(id, _)| *id)
                .collect();
            for id in &detected {
                out.push(Change::Detected {
                    incident: *id,
                    team: team.clone(),
                    by: by.clone(),
                    points: delta(*id, |p| p.detect),
                });
            }
            let alarms = after
                .team_extra
                .get(team)
                .map_or((0, 0), |(b, n)| (b.penalties, *n));
            let false_alarm = marks.alarms.is_some_and(|(_, n)| alarms.1 != n);
            if false_alarm {
                let before = marks.alarms.map_or(0, |(p, _)| p);
                out.push(Change::FalseAlarm {
                    team: team.clone(),
                    by: by.clone(),
                    points: alarms.0 - before,
                });
            }
            // An alert that detected nothing and cost nothing: a repeat, or one matching an
            // incident already detected.
            if let (true, false, Detector::Alert { .. }) = (detected.is_empty(), false_alarm, &by) {
                out.push(Change::AlertUnmatched {
                    team: team.clone(),
                    alert: by.described(),
                });
            }
        }
        EventKind::Diagnosed {
            team,
            incident,
            diagnosis,
        } => {
            if let (Some(b), Some(a)) = (prior(*incident), now(*incident))
                && a.tries > b.tries
            {
                out.push(Change::Diagnosed {
                    incident: *incident,
                    team: team.clone(),
                    diagnosis: diagnosis.clone(),
                    correct: a.diagnosed_ms.is_some() && !b.diagnosed,
                    points: delta(*incident, |p| p.diagnose),
                });
            }
        }
        EventKind::HintBought {
            team,
            incident,
            hint,
        } => {
            if let (Some(b), Some(a)) = (prior(*incident), now(*incident))
                && a.hints_bought.len() > b.hints
            {
                out.push(Change::HintBought {
                    incident: *incident,
                    team: team.clone(),
                    hint: *hint,
                    text: a.hints.get(*hint).map(|h| h.text.clone()),
                    points: delta(*incident, |p| p.hints),
                });
            }
        }
        EventKind::ResolutionClaimed { team, incident } => {
            let before = prior(*incident).and_then(|m| m.claimed_ms);
            let claimed = now(*incident).and_then(|i| i.claimed_ms);
            if claimed == Some(event.at_ms) && before != Some(event.at_ms) {
                out.push(Change::Claimed {
                    incident: *incident,
                    team: team.clone(),
                });
            }
        }
        EventKind::Verified { incident } => {
            let resolved = now(*incident).is_some_and(|i| i.state == IncidentState::Resolved)
                && prior(*incident).is_some_and(|m| !m.state.is_closed());
            if resolved {
                out.push(Change::Verified {
                    incident: *incident,
                });
            }
        }
        EventKind::VerificationFailed { incident } => {
            let withdrawn = prior(*incident).is_some_and(|m| m.claimed_ms.is_some())
                && now(*incident).is_some_and(|i| i.claimed_ms.is_none());
            if let (true, Some(team)) = (withdrawn, team_of(*incident)) {
                out.push(Change::ClaimWithdrawn {
                    incident: *incident,
                    team,
                });
            }
        }
        EventKind::FaultReverted {
            incident,
            target,
            cause,
        } => out.push(Change::Reverted {
            incident: *incident,
            team: team_of(*incident),
            target: target.clone(),
            cause: *cause,
        }),
        EventKind::Aborted { reverted } => out.push(Change::KillSwitch {
            reverted: *reverted,
        }),
        EventKind::Rearmed => out.push(Change::Rearmed),
        EventKind::GuardFailed { guard, detail } => out.push(Change::GuardFailed {
            guard: guard.clone(),
            detail: detail.clone(),
        }),
        EventKind::Adjusted {
            team,
            points,
            reason,
        } => out.push(Change::Adjusted {
            team: team.clone(),
            points: *points,
            reason: reason.clone(),
        }),
        EventKind::AlertResolved {
            team,
            labels,
            fingerprint,
            ..
        } => out.push(Change::AlertResolved {
            team: team.clone(),
            alert: Detector::Alert {
                labels: labels_text(labels),
                fingerprint: fingerprint.clone(),
            }
            .described(),
        }),
        EventKind::Expired { .. } | EventKind::Cancelled { .. } => {}
    }
    // Closings, whatever closed them.
    for id in marks.open.keys() {
        if let Some((a, outcome)) = now(*id).and_then(|a| Some((a, a.outcome()?))) {
            out.push(Change::Closed {
                incident: *id,
                team: a.team.clone(),
                outcome,
                scenario: a.scenario.clone(),
                reason: a.closed_reason.clone().unwrap_or_default(),
                points: delta(*id, |p| p.resolve),
            });
        }
    }
    out
}

/// The game folded event by event, saying what each event changed: the one fold behind
/// the live timeline and the report.
#[derive(Debug, Clone)]
pub struct Timeline {
    state: GameState,
}

impl Timeline {
    /// A game before its first event.
    pub fn new(rules: ScoringRules) -> Self {
        Timeline {
            state: GameState::new(rules),
        }
    }

    /// Folds `event` in; says what it changed.
    pub fn apply(&mut self, event: &Event) -> Vec<Change> {
        let marks = Marks::before(&self.state, event);
        self.state.apply(event);
        changes(&marks, &self.state, event)
    }

    /// The game as the events folded so far leave it.
    pub fn state(&self) -> &GameState {
        &self.state
    }

    /// The game, once every event is folded in.
    pub fn into_state(self) -> GameState {
        self.state
    }
}

/// Whose knowledge a change is told with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Telling {
    /// As the game goes: what the viewer may know at the moment of the event (the game
    /// server's timeline). `access` is the viewer's access to the incident just after it.
    Live,
    /// In hindsight: what the viewer may know when the report is made. `access` is the
    /// viewer's access to the incident then.
    Postmortem,
}

/// How a fault went away, for people (`its duration ran out`).
pub fn cause_text(cause: RevertCause) -> &'static str {
    match cause {
        RevertCause::Timer => "its duration ran out",
        RevertCause::Healed => "it healed by itself",
        RevertCause::Diagnosis => "reverted by chaosday after the correct diagnosis",
        RevertCause::Closing => "reverted by chaosday as the incident closed",
        RevertCause::Safety => "reverted by the kill switch or a guard",
    }
}

/// The step: `change`, which `event` made, told to `viewer` with `telling`, or `None` if the
/// viewer may not see it. `access` says what the viewer may know of an incident (an
/// incident it may not know of has no access at all).
pub fn tell(
    change: &Change,
    event: &Event,
    viewer: &Viewer,
    telling: Telling,
    access: impl Fn(IncidentId) -> Access,
) -> Option<TimelineEntry> {
    let gm = *viewer == Viewer::GameMaster;
    let own_team = |team: &str| gm || matches!(viewer, Viewer::Team(t) if t == team);
    let live = telling == Telling::Live;
    let entry = |kind, team: Option<&str>, incident, text: String, points| TimelineEntry {
        seq: event.seq,
        at_ms: event.at_ms,
        kind,
        team: team.map(str::to_owned),
        incident,
        text,
        points,
    };
    use TimelineKind as K;
    let told = match change {
        Change::GameStarted { teams } => entry(
            K::GameStarted,
            None,
            None,
            format!("the game started: {}", teams.join(", ")),
            0,
        ),
        Change::Paused { reason } => {
            let text = if live {
                format!("the game is paused: {reason}")
            } else {
                format!("the game paused: {reason}")
            };
            entry(K::Paused, None, None, text, 0)
        }
        Change::Resumed => entry(K::Resumed, None, None, "the game resumed".into(), 0),
        Change::GameEnded => entry(K::GameEnded, None, None, "the game ended".into(), 0),
        Change::Opened {
            incident,
            team,
            scenario,
            difficulty,
            resolution,
        } => {
            // Live, only the game master knows of an incident as it opens.
            let a = access(*incident);
            let text = match (live, a.truth, a.detail) {
                (true, true, _) => format!("{incident} opened: {scenario} against {team}"),
                (true, false, _) | (false, false, false) => return None,
                (false, true, _) => format!(
                    "{incident} opened against {team}: {scenario} (difficulty {difficulty}, {resolution})"
                ),
                (false, false, true) => format!("{incident} opened against {team}"),
            };
            entry(K::Injection, Some(team), Some(*incident), text, 0)
        }
        Change::Detected {
            incident,
            team,
            by,
            points,
        } => {
            // A detected incident is public from then on.
            let a = access(*incident);
            if !live && !a.visible {
                return None;
            }
            let (kind, text) = match (by, live, a.detail) {
                (Detector::Declaration { .. }, true, _) => (
                    K::Declaration,
                    format!("{team} detected incident {incident}"),
                ),
                (Detector::Declaration { target }, false, true) => (
                    K::Declaration,
                    format!("{team} declared {target}: detected {incident}"),
                ),
                (Detector::Declaration { .. }, false, false) => {
                    (K::Declaration, format!("{team} detected {incident}"))
                }
                // The game master sees which alert it was as it comes.
                (Detector::Alert { .. }, true, _) if gm => (
                    K::Alert,
                    format!(
                        "an alert of {team} ({}) detected incident {incident}",
                        by.described()
                    ),
                ),
                (Detector::Alert { .. }, true, _) => (
                    K::Alert,
                    format!("an alert of {team} detected incident {incident}"),
                ),
                (Detector::Alert { .. }, false, true) => (
                    K::Alert,
                    format!(
                        "an alert of {team} ({}) detected {incident}",
                        by.described()
                    ),
                ),
                (Detector::Alert { .. }, false, false) => {
                    (K::Alert, format!("an alert of {team} detected {incident}"))
                }
            };
            entry(kind, Some(team), Some(*incident), text, *points)
        }
        Change::FalseAlarm { team, by, points } => {
            // The team (and the game master) may read what it sent itself: the target it
            // declared, the alert that matched nothing. Nobody else.
            let text = match by {
                Detector::Declaration { target } if own_team(team) => {
                    format!("{team}: false alarm on {target}")
                }
                Detector::Alert { .. } if own_team(team) => {
                    format!("{team}: false alarm from an alert ({})", by.described())
                }
                _ => format!("{team}: false alarm"),
            };
            entry(K::FalseAlarm, Some(team), None, text, *points)
        }
        Change::AlertUnmatched { team, alert } => {
            // The game master sees alert traffic as it comes; the team reads it in the
            // report (live, the reply never says whether an alert counted, and neither does
            // this).
            if (live && !gm) || !own_team(team) {
                return None;
            }
            entry(
                K::Alert,
                Some(team),
                None,
                format!("an alert of {team} ({alert}) detected nothing new"),
                0,
            )
        }
        Change::AlertResolved { team, alert } => {
            // As an alert that detected nothing: the game master's live, the team's later.
            if (live && !gm) || !own_team(team) {
                return None;
            }
            entry(
                K::Alert,
                Some(team),
                None,
                format!("an alert of {team} ({alert}) resolved"),
                0,
            )
        }
        Change::Diagnosed {
            incident,
            team,
            diagnosis,
            correct,
            points,
        } => {
            let a = access(*incident);
            if !a.visible {
                return None;
            }
            let verdict = if *correct { "right" } else { "wrong" };
            // Live, what it said is the team's (a correct one may close the incident at
            // once: its spectators still do not hear it); later, whoever may see the details.
            let what = match (live, a.own, a.detail) {
                (true, true, _) => format!(" ({} {})", diagnosis.kind, diagnosis.target),
                (false, _, true) => format!(": {} on {}", diagnosis.kind, diagnosis.target),
                _ => String::new(),
            };
            entry(
                K::Diagnosis,
                Some(team),
                Some(*incident),
                format!("{team}: {verdict} diagnosis of {incident}{what}"),
                *points,
            )
        }
        Change::HintBought {
            incident,
            team,
            hint,
            text,
            points,
        } => {
            let a = access(*incident);
            if !a.visible {
                return None;
            }
            let said = match text {
                Some(text) if !live && a.own => {
                    format!("{team} bought hint {} of {incident}: “{text}”", hint + 1)
                }
                _ => format!("{team} bought a hint for {incident}"),
            };
            entry(K::Hint, Some(team), Some(*incident), said, *points)
        }
        Change::Claimed { incident, team } => {
            if !access(*incident).visible {
                return None;
            }
            entry(
                K::Claim,
                Some(team),
                Some(*incident),
                format!("{team} claims {incident} fixed"),
                0,
            )
        }
        Change::Verified { .. } => return None,
        Change::ClaimWithdrawn { incident, team } => {
            if live || !access(*incident).detail {
                return None;
            }
            entry(
                K::VerificationFailed,
                Some(team),
                Some(*incident),
                format!(
                    "the referee's probes went red after the claim on {incident}: the claim is withdrawn"
                ),
                0,
            )
        }
        Change::Reverted {
            incident,
            team,
            target,
            cause,
        } => {
            if live {
                // Live, how faults go is the game master's.
                if !gm {
                    return None;
                }
                entry(
                    K::Revert,
                    None,
                    Some(*incident),
                    format!(
                        "fault on {target} of {incident} reverted: {}",
                        cause_text(*cause)
                    ),
                    0,
                )
            } else {
                if !access(*incident).truth {
                    return None;
                }
                entry(
                    K::Revert,
                    team.as_deref(),
                    Some(*incident),
                    format!(
                        "the fault on {target} of {incident} went away: {}",
                        cause_text(*cause)
                    ),
                    0,
                )
            }
        }
        Change::KillSwitch { reverted } => entry(
            K::KillSwitch,
            None,
            None,
            format!(
                "the kill switch: {} reverted, no new fault until re-armed",
                crate::report::plural(*reverted as usize, "fault", "faults")
            ),
            0,
        ),
        Change::Rearmed => entry(
            K::Rearmed,
            None,
            None,
            "re-armed: faults may be injected again".into(),
            0,
        ),
        Change::GuardFailed { guard, detail } => {
            if !gm {
                return None;
            }
            entry(
                K::GuardFailed,
                None,
                None,
                format!("guard {guard} failed: {detail}"),
                0,
            )
        }
        Change::Adjusted {
            team,
            points,
            reason,
        } => {
            let text = if live {
                format!("the game master adjusted {team} by {points}: {reason}")
            } else {
                format!("the game master adjusted {team} by {points:+}: {reason}")
            };
            entry(K::Adjustment, Some(team), None, text, *points)
        }
        Change::Closed {
            incident,
            team,
            outcome,
            scenario,
            reason,
            points,
        } => {
            // A closed incident is visible; its scenario is its truth, public only once
            // every mirrored copy has closed too.
            let a = access(*incident);
            if !a.visible {
                return None;
            }
            let kind = match outcome {
                Outcome::Resolved => K::Resolved,
                Outcome::RanOut => K::RanOut,
                Outcome::Expired => K::Expired,
                Outcome::Cancelled => K::Cancelled,
                Outcome::NeverDetected => K::NeverDetected,
            };
            let text = if a.truth {
                format!("{incident} of {team}, {scenario}: {outcome} — {reason}")
            } else {
                format!("{incident} of {team}: {outcome} — {reason}")
            };
            entry(kind, Some(team), Some(*incident), text, *points)
        }
    };
    // An incident's points say its difficulty and time to detect: they are told to whoever
    // may know its details, and to no one else.
    let mut told = told;
    if let Some(id) = change.incident()
        && !access(id).detail
    {
        told.points = 0;
    }
    Some(told)
}
