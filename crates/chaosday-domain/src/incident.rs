//! The referee's ledger: incidents, detection, diagnosis, resolution and scores, as a pure
//! projection of the event log.
//!
//! [`GameState::apply`] folds one event in; [`GameState::replay`] folds a whole log. Time
//! comes only from the events and from the `now` a caller passes in; paused intervals are
//! taken out of every clock (decay and deadlines). Actions that the rules do not allow (a
//! team acting on another team's incident, a fourth diagnosis, a claim on a closed incident)
//! change nothing: the log keeps them, the score ignores them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::{
    Actor, Diagnosis, Event, EventKind, FaultSummary, Hint, IncidentId, Resolution, RevertCause,
};
use crate::scoring::ScoringRules;

/// Where the game is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not started yet.
    NotStarted,
    /// Running.
    Running,
    /// Paused: every clock is frozen.
    Paused,
    /// Over.
    Ended,
}

/// Where an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Its faults are active; the team has not detected it.
    Open,
    /// The team detected it.
    Detected,
    /// The team diagnosed it correctly.
    Diagnosed,
    /// Closed: resolved by the team (its fix verified, or healed by its correct diagnosis).
    Resolved,
    /// Closed: a timed scenario's faults reverted at the end of their duration.
    RanOut,
    /// Closed: its deadline passed.
    Expired,
    /// Closed: the game master, the kill switch or the end of the game.
    Cancelled,
}

impl Status {
    /// Its name in the JSON (`not_started`, `running`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotStarted => "not_started",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Ended => "ended",
        }
    }
}

impl IncidentState {
    /// Its name in the JSON (`open`, `detected`...).
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Detected => "detected",
            IncidentState::Diagnosed => "diagnosed",
            IncidentState::Resolved => "resolved",
            IncidentState::RanOut => "ran_out",
            IncidentState::Expired => "expired",
            IncidentState::Cancelled => "cancelled",
        }
    }

    /// Whether the incident is closed.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            IncidentState::Resolved
                | IncidentState::RanOut
                | IncidentState::Expired
                | IncidentState::Cancelled
        )
    }
}

/// How a closed incident ended: the one vocabulary of every screen, the API, the CLI and the
/// report. Each closed incident has exactly one, so the counts of the outcomes add up to
/// the closed incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Resolved by the team: its fix verified by the referee (or confirmed by the game
    /// master), or healed by its correct diagnosis. The scoreboard's "resolved".
    Resolved,
    /// A timed scenario that the team detected, whose faults reverted at the end of their
    /// duration.
    RanOut,
    /// The team detected it; its deadline passed first.
    Expired,
    /// Ended by the game master, the kill switch, a guard or the end of the game.
    Cancelled,
    /// It ran out or expired and its team never detected it.
    NeverDetected,
}

impl Outcome {
    /// Every outcome, in the order screens list them.
    pub const ALL: [Outcome; 5] = [
        Outcome::Resolved,
        Outcome::RanOut,
        Outcome::Expired,
        Outcome::Cancelled,
        Outcome::NeverDetected,
    ];

    /// How an incident in `state`, detected or not, ended; `None` while it is open.
    pub fn of(state: IncidentState, detected: bool) -> Option<Outcome> {
        match state {
            IncidentState::Open | IncidentState::Detected | IncidentState::Diagnosed => None,
            IncidentState::Resolved => Some(Outcome::Resolved),
            IncidentState::Cancelled => Some(Outcome::Cancelled),
            IncidentState::RanOut | IncidentState::Expired if !detected => {
                Some(Outcome::NeverDetected)
            }
            IncidentState::RanOut => Some(Outcome::RanOut),
            IncidentState::Expired => Some(Outcome::Expired),
        }
    }

    /// Its name in the JSON (`resolved`, `ran_out`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Resolved => "resolved",
            Outcome::RanOut => "ran_out",
            Outcome::Expired => "expired",
            Outcome::Cancelled => "cancelled",
            Outcome::NeverDetected => "never_detected",
        }
    }

    /// Its words for people, the same on every screen.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Resolved => "resolved by the team",
            Outcome::RanOut => "ran out",
            Outcome::Expired => "expired",
            Outcome::Cancelled => "cancelled",
            Outcome::NeverDetected => "never detected",
        }
    }
}

/// Where an incident is, in the words every screen uses: its outcome once closed
/// ([`Outcome::label`]), else `undetected`, `detected` or `diagnosed`.
pub fn describe(state: IncidentState, detected: bool) -> &'static str {
    match Outcome::of(state, detected) {
        Some(outcome) => outcome.label(),
        None => match state {
            IncidentState::Diagnosed => "diagnosed",
            IncidentState::Detected => "detected",
            _ => "undetected",
        },
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Points by what earned or cost them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Breakdown {
    /// Detection.
    pub detect: i64,
    /// Diagnosis (correct, less wrong tries).
    pub diagnose: i64,
    /// Resolution.
    pub resolve: i64,
    /// Hints bought (zero or negative).
    pub hints: i64,
    /// False alarms (zero or negative).
    pub penalties: i64,
    /// The game master's adjustments.
    pub adjustments: i64,
}

impl Breakdown {
    /// The sum.
    pub fn total(&self) -> i64 {
        self.detect + self.diagnose + self.resolve + self.hints + self.penalties + self.adjustments
    }

    fn add(&mut self, other: &Breakdown) {
        self.detect += other.detect;
        self.diagnose += other.diagnose;
        self.resolve += other.resolve;
        self.hints += other.hints;
        self.penalties += other.penalties;
        self.adjustments += other.adjustments;
    }
}

/// One incident: one scenario against one team.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// Its number.
    pub id: IncidentId,
    /// The team it is against.
    pub team: String,
    /// The scenario.
    pub scenario: String,
    /// 1 to 5.
    pub difficulty: u32,
    /// How it ends.
    pub resolution: Resolution,
    /// The ground truth.
    pub diagnosis: Diagnosis,
    /// Its faults.
    pub faults: Vec<FaultSummary>,
    /// Its hints.
    pub hints: Vec<Hint>,
    /// Running game time the team has, in ms.
    pub deadline_ms: u64,
    /// Where it is.
    pub state: IncidentState,
    /// When its faults became active.
    pub opened_ms: i64,
    /// The game clock (running time since the start) when its faults became active, ms.
    pub opened_clock_ms: u64,
    /// Once closed: how long it was open, running time from its opening to its closing, ms.
    pub open_for_ms: Option<u64>,
    /// When the team detected it.
    pub detected_ms: Option<i64>,
    /// Who detected it (a player or an alert).
    pub detected_by: Option<Actor>,
    /// The target the team named when it declared it (none when an alert detected it).
    pub declared_target: Option<String>,
    /// When the team diagnosed it correctly.
    pub diagnosed_ms: Option<i64>,
    /// How many diagnoses the team submitted.
    pub tries: u32,
    /// Which hints the team bought (indexes).
    pub hints_bought: Vec<usize>,
    /// When the team last claimed it fixed (withdrawn if verification failed).
    pub claimed_ms: Option<i64>,
    /// When it closed.
    pub closed_ms: Option<i64>,
    /// Why it closed, for people.
    pub closed_reason: Option<String>,
    /// Whether a fault went away by its timer or by itself: no resolution points then.
    pub healed_without_team: bool,
    /// Running game time from opening to resolution, in ms, once resolved by the team.
    pub time_to_resolve_ms: Option<u64>,
    /// Running game time from opening to detection, in ms.
    pub time_to_detect_ms: Option<u64>,
    /// What it earned or cost the team.
    pub points: Breakdown,
    /// The other teams' copies of a mirrored scenario.
    pub mirrors: Vec<IncidentId>,
    /// Closed, and every mirrored copy too: its details and ground truth are everyone's.
    pub public: bool,
}

impl Incident {
    /// How it ended, once closed.
    pub fn outcome(&self) -> Option<Outcome> {
        Outcome::of(self.state, self.detected_ms.is_some())
    }

    fn matches_target(&self, target: &str) -> bool {
        self.faults
            .iter()
            .any(|f| f.target.eq_ignore_ascii_case(target))
            || self.diagnosis.target.eq_ignore_ascii_case(target)
    }
}

/// A team's standing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamScore {
    /// Its place (1 is first). Teams level on points and on time to resolve share a place
    /// (1, 2, 2, 4), the same on every screen (the web, the CLI, the report).
    pub rank: u32,
    /// The team.
    pub team: String,
    /// Total points.
    pub points: i64,
    /// By source.
    pub breakdown: Breakdown,
    /// Incidents it resolved.
    pub resolved: u32,
    /// Incidents opened against it (as the viewer may count them: see
    /// [`GameState::scoreboard_counting`]).
    #[serde(default)]
    pub faced: u32,
    /// Its false alarms.
    pub false_alarms: u32,
    /// Total running time to resolve its resolved incidents, ms (breaks ties: less is better).
    pub time_to_resolve_ms: u64,
}

/// The scoreboard's one rule for order and ties: `board` with every team of `teams` (those
/// not on it at 0), ordered by points (more first), then total time to resolve (less
/// first), then name; teams level on points and time share a place (1, 2, 2, 4). The web,
/// the CLI and the report all show these places.
pub fn standings(mut board: Vec<TeamScore>, teams: &[String]) -> Vec<TeamScore> {
    for team in teams {
        if !board.iter().any(|s| s.team == *team) {
            board.push(TeamScore {
                team: team.clone(),
                ..TeamScore::default()
            });
        }
    }
    board.sort_by(|a, b| {
        b.points
            .cmp(&a.points)
            .then(a.time_to_resolve_ms.cmp(&b.time_to_resolve_ms))
            .then(a.team.cmp(&b.team))
    });
    let mut rank = 0;
    for i in 0..board.len() {
        let level = i > 0
            && board[i - 1].points == board[i].points
            && board[i - 1].time_to_resolve_ms == board[i].time_to_resolve_ms;
        if !level {
            rank = u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
        board[i].rank = rank;
    }
    board
}

/// Something the log says that the rules did not accept, for the game master's eyes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ignored {
    /// The event's sequence number.
    pub seq: u64,
    /// Why it changed nothing.
    pub why: String,
}

/// How long after an incident is cancelled (kill switch, guard, end of the game) a
/// declaration of its target is neither a detection nor a false alarm: the target may still
/// look broken while its faults are reverted and it recovers.
pub const CANCEL_GRACE_MS: i64 = 60_000;

/// Why an event would change nothing: the rules do not take it now. Its message is for
/// people (the game master's list of ignored events, an action's 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// A declaration or an alert while the game is not on (not started, or ended): no
    /// detection and no false alarm.
    #[error("the game is {}: teams act while it runs", status.as_str())]
    NotPlaying {
        /// Where the game is.
        status: Status,
    },
    /// An `incident_opened` while the game does not run (not started, paused, ended): an
    /// opening in flight when the game ended or paused is refused, and its faults reverted.
    #[error("the game is {}: incidents open only while it runs", status.as_str())]
    NotRunning {
        /// Where the game is.
        status: Status,
    },
    /// An `incident_opened` for an id already in use.
    #[error("incident {incident} was already opened")]
    AlreadyOpened {
        /// The incident.
        incident: IncidentId,
    },
    /// A declaration of a target whose incident was cancelled (kill switch, guard, end of
    /// the game) less than [`CANCEL_GRACE_MS`] ago: the target may still look broken, so it
    /// is neither a detection nor a false alarm.
    #[error(
        "{target}'s incident was cancelled moments ago ({incident}): a declaration now is neither a detection nor a false alarm"
    )]
    JustCancelled {
        /// The team.
        team: String,
        /// The target declared.
        target: String,
        /// The cancelled incident.
        incident: IncidentId,
    },
    /// A declaration of a target whose incident the team already detected.
    #[error("{team} declared {target} again: already detected")]
    AlreadyDetected {
        /// The team.
        team: String,
        /// The target declared.
        target: String,
    },
    /// No such incident.
    #[error("no incident {incident}")]
    NoIncident {
        /// The incident.
        incident: IncidentId,
    },
    /// A team acting on another team's incident.
    #[error("{team} acted on {incident}, an incident of {owner}")]
    NotTheirs {
        /// The team that acted.
        team: String,
        /// The incident.
        incident: IncidentId,
        /// The team whose incident it is.
        owner: String,
    },
    /// The incident is closed.
    #[error("{incident} is closed")]
    Closed {
        /// The incident.
        incident: IncidentId,
    },
    /// A diagnosis of an incident that is not detected-and-undiagnosed.
    #[error("{incident} is {state:?}: only a detected, undiagnosed incident takes a diagnosis")]
    NotDiagnosable {
        /// The incident.
        incident: IncidentId,
        /// Its state.
        state: IncidentState,
    },
    /// A diagnosis beyond the allowed tries.
    #[error("{incident} had its {max_tries} tries already")]
    NoTriesLeft {
        /// The incident.
        incident: IncidentId,
        /// The rules' limit.
        max_tries: u32,
    },
    /// A hint or a claim on an incident the team has not detected.
    #[error("{incident} is not detected yet")]
    NotDetected {
        /// The incident.
        incident: IncidentId,
    },
    /// A hint the scenario does not have.
    #[error("{incident} has no hint {hint}")]
    NoHint {
        /// The incident.
        incident: IncidentId,
        /// The hint asked for (0-based).
        hint: usize,
    },
    /// A hint bought twice.
    #[error("hint {hint} of {incident} was already bought")]
    HintAlreadyBought {
        /// The incident.
        incident: IncidentId,
        /// The hint (0-based).
        hint: usize,
    },
    /// A claim on an incident that a fix does not resolve.
    #[error("{incident} is not resolved by a fix")]
    NotAFix {
        /// The incident.
        incident: IncidentId,
    },
    /// A verification with no open claim.
    #[error("{incident} has no open claim to verify")]
    NoClaim {
        /// The incident.
        incident: IncidentId,
    },
}

/// The whole game, as the log says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GameState {
    /// The rules.
    pub rules: ScoringRules,
    /// Where the game is.
    pub status: Status,
    /// When it started.
    pub started_ms: Option<i64>,
    /// When the current pause began.
    pub paused_since: Option<i64>,
    /// Finished pauses, as (from, to).
    pub pauses: Vec<(i64, i64)>,
    /// When it ended: its clock stops there.
    pub ended_ms: Option<i64>,
    /// Every incident.
    pub incidents: BTreeMap<IncidentId, Incident>,
    /// Points that belong to no incident (false alarms, adjustments), by team.
    pub team_extra: BTreeMap<String, (Breakdown, u32)>,
    /// The alerts each team's alerting sent so far: by team, then by fingerprint, the
    /// firing last seen (a false alarm is charged once per firing, never for a repeat).
    pub alerts: BTreeMap<String, BTreeMap<String, AlertFiring>>,
    /// The last event folded in.
    pub last_seq: u64,
    /// Events that changed nothing, and why.
    pub ignored: Vec<Ignored>,
}

/// One firing of one alert, as a team's alerting last sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AlertFiring {
    /// When the alert started firing, unix ms, as its sender says.
    pub starts_at_ms: i64,
    /// When it counts as started, unix ms: its `starts_at_ms`, but never later than the
    /// firing was first received.
    pub since_ms: i64,
}

impl GameState {
    /// A game before its first event.
    pub fn new(rules: ScoringRules) -> Self {
        GameState {
            rules,
            status: Status::NotStarted,
            started_ms: None,
            paused_since: None,
            pauses: Vec::new(),
            ended_ms: None,
            incidents: BTreeMap::new(),
            team_extra: BTreeMap::new(),
            alerts: BTreeMap::new(),
            last_seq: 0,
            ignored: Vec::new(),
        }
    }

    /// The state after every event of `events`, in order.
    pub fn replay<'a>(rules: ScoringRules, events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut state = GameState::new(rules);
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Running game time between two instants: wall time less the paused intervals, and
    /// none after the game ended (its clock stands still, live as after a replay).
    pub fn running_ms(&self, from: i64, to: i64) -> u64 {
        let to = self.ended_ms.map_or(to, |end| to.min(end));
        if to <= from {
            return 0;
        }
        let mut paused = 0i64;
        let current = self.paused_since.map(|since| (since, i64::MAX));
        for (start, end) in self.pauses.iter().copied().chain(current) {
            let overlap = end.min(to) - start.max(from);
            if overlap > 0 {
                paused += overlap;
            }
        }
        u64::try_from(to - from - paused).unwrap_or(0)
    }

    /// Running time left at `now_ms` before `incident`'s deadline, in ms (0 once passed);
    /// `None` for an unknown or closed incident.
    pub fn time_left_ms(&self, incident: IncidentId, now_ms: i64) -> Option<u64> {
        let i = self.incidents.get(&incident)?;
        (!i.state.is_closed()).then(|| {
            i.deadline_ms
                .saturating_sub(self.running_ms(i.opened_ms, now_ms))
        })
    }

    /// The open incidents whose deadline has passed at `now` (the server closes them with
    /// an `expired` event).
    pub fn overdue(&self, now_ms: i64) -> Vec<IncidentId> {
        self.incidents
            .values()
            .filter(|i| {
                !i.state.is_closed() && self.running_ms(i.opened_ms, now_ms) >= i.deadline_ms
            })
            .map(|i| i.id)
            .collect()
    }

    /// The team's incident on `target` cancelled less than [`CANCEL_GRACE_MS`] before `at`.
    fn just_cancelled(&self, team: &str, target: &str, at: i64) -> Option<IncidentId> {
        self.incidents
            .values()
            .filter(|i| i.team == team && i.state == IncidentState::Cancelled)
            .filter(|i| i.matches_target(target))
            .filter(|i| {
                i.closed_ms
                    .is_some_and(|closed| at - closed < CANCEL_GRACE_MS)
            })
            .map(|i| i.id)
            .max_by_key(|id| self.incidents[id].closed_ms)
    }

    /// The open incidents of a team.
    pub fn open_incidents<'a>(&'a self, team: &'a str) -> impl Iterator<Item = &'a Incident> + 'a {
        self.incidents
            .values()
            .filter(move |i| i.team == team && !i.state.is_closed())
    }

    /// The teams' standings, best first: points, then less time to resolve, then name.
    pub fn scoreboard(&self) -> Vec<TeamScore> {
        self.scoreboard_counting(|_| true)
    }

    /// The standings counting only the incidents `counts` takes (the others' points are
    /// left out): the scoreboard as a viewer who may not know every incident's points sees it.
    pub fn scoreboard_counting(&self, counts: impl Fn(&Incident) -> bool) -> Vec<TeamScore> {
        let mut teams: BTreeMap<&str, TeamScore> = BTreeMap::new();
        for (team, (extra, false_alarms)) in &self.team_extra {
            let score = teams.entry(team).or_insert_with(|| TeamScore {
                team: team.clone(),
                ..TeamScore::default()
            });
            score.breakdown.add(extra);
            score.false_alarms += false_alarms;
        }
        for incident in self.incidents.values().filter(|i| counts(i)) {
            let score = teams.entry(&incident.team).or_insert_with(|| TeamScore {
                team: incident.team.clone(),
                ..TeamScore::default()
            });
            score.breakdown.add(&incident.points);
            score.faced += 1;
            if let Some(t) = incident.time_to_resolve_ms {
                score.resolved += 1;
                score.time_to_resolve_ms += t;
            }
        }
        let board: Vec<TeamScore> = teams
            .into_values()
            .map(|mut s| {
                s.points = s.breakdown.total();
                s
            })
            .collect();
        standings(board, &[])
    }

    fn extra(&mut self, team: &str) -> &mut (Breakdown, u32) {
        self.team_extra.entry(team.to_owned()).or_default()
    }

    /// Folds `event` in if it means something now; otherwise leaves the state as it was
    /// and says why. The game server checks an action with it before the action's event is
    /// written, so the log holds only events that count.
    pub fn try_apply(&mut self, event: &Event) -> Result<(), ApplyError> {
        self.fold(event)?;
        self.publish_closed();
        self.last_seq = event.seq;
        Ok(())
    }

    /// Folds one event in; one the rules do not take changes nothing and is listed in
    /// [`GameState::ignored`].
    pub fn apply(&mut self, event: &Event) {
        self.last_seq = event.seq;
        match self.fold(event) {
            Ok(()) => self.publish_closed(),
            Err(why) => self.ignored.push(Ignored {
                seq: event.seq,
                why: why.to_string(),
            }),
        }
    }

    /// Makes public every closed incident whose mirrored copies have all closed too, and
    /// says how long each newly closed incident was open.
    fn publish_closed(&mut self) {
        let measured: Vec<(IncidentId, u64)> = self
            .incidents
            .values()
            .filter(|i| i.open_for_ms.is_none())
            .filter_map(|i| Some((i.id, self.running_ms(i.opened_ms, i.closed_ms?))))
            .collect();
        for (id, ms) in measured {
            if let Some(i) = self.incidents.get_mut(&id) {
                i.open_for_ms = Some(ms);
            }
        }
        let ready: Vec<IncidentId> = self
            .incidents
            .values()
            .filter(|i| !i.public && i.state.is_closed())
            .filter(|i| {
                i.mirrors.iter().all(|m| {
                    self.incidents
                        .get(m)
                        .is_none_or(|copy| copy.state.is_closed())
                })
            })
            .map(|i| i.id)
            .collect();
        for id in ready {
            if let Some(i) = self.incidents.get_mut(&id) {
                i.public = true;
            }
        }
    }

    /// Folds one event in, or changes nothing and says why. (Every check comes before the
    /// first change.)
    fn fold(&mut self, event: &Event) -> Result<(), ApplyError> {
        let at = event.at_ms;
        match &event.kind {
            EventKind::GameStarted { teams, rules } => {
                if self.status == Status::NotStarted {
                    self.status = Status::Running;
                    self.started_ms = Some(at);
                    // The log says how its points count.
                    if let Some(rules) = rules {
                        self.rules = rules.clone();
                    }
                }
                for team in teams {
                    self.extra(team);
                }
            }
            EventKind::GamePaused { .. } => {
                if self.status == Status::Running {
                    self.status = Status::Paused;
                    self.paused_since = Some(at);
                }
            }
            EventKind::GameResumed => {
                if let (Status::Paused, Some(since)) = (self.status, self.paused_since.take()) {
                    self.pauses.push((since, at.max(since)));
                    self.status = Status::Running;
                }
            }
            EventKind::GameEnded => {
                if let Some(since) = self.paused_since.take() {
                    self.pauses.push((since, at.max(since)));
                }
                if self.status != Status::Ended {
                    self.ended_ms = Some(at);
                }
                self.status = Status::Ended;
                for incident in self.incidents.values_mut().filter(|i| !i.state.is_closed()) {
                    incident.state = IncidentState::Cancelled;
                    incident.closed_ms = Some(at);
                    incident.closed_reason = Some("the game ended".into());
                }
            }
            EventKind::IncidentOpened {
                incident,
                team,
                scenario,
                difficulty,
                resolution,
                diagnosis,
                faults,
                hints,
                deadline_ms,
                mirrors,
            } => {
                if self.status != Status::Running {
                    return Err(ApplyError::NotRunning {
                        status: self.status,
                    });
                }
                if self.incidents.contains_key(incident) {
                    return Err(ApplyError::AlreadyOpened {
                        incident: *incident,
                    });
                }
                self.extra(team);
                self.incidents.insert(
                    *incident,
                    Incident {
                        id: *incident,
                        team: team.clone(),
                        scenario: scenario.clone(),
                        difficulty: (*difficulty).clamp(1, 5),
                        resolution: *resolution,
                        diagnosis: diagnosis.clone(),
                        faults: faults.clone(),
                        hints: hints.clone(),
                        deadline_ms: *deadline_ms,
                        state: IncidentState::Open,
                        opened_ms: at,
                        detected_ms: None,
                        detected_by: None,
                        declared_target: None,
                        opened_clock_ms: self
                            .started_ms
                            .map_or(0, |started| self.running_ms(started, at)),
                        open_for_ms: None,
                        diagnosed_ms: None,
                        tries: 0,
                        hints_bought: Vec::new(),
                        claimed_ms: None,
                        closed_ms: None,
                        closed_reason: None,
                        healed_without_team: false,
                        time_to_resolve_ms: None,
                        time_to_detect_ms: None,
                        points: Breakdown::default(),
                        mirrors: mirrors.clone(),
                        public: false,
                    },
                );
            }
            EventKind::Declared { team, target } => {
                self.playing()?;
                let open = self
                    .open_incidents(team)
                    .filter(|i| i.state == IncidentState::Open && i.matches_target(target))
                    .min_by_key(|i| (i.opened_ms, i.id))
                    .map(|i| i.id);
                match open {
                    Some(id) => {
                        self.detect(id, at, event.actor.clone());
                        if let Some(i) = self.incidents.get_mut(&id) {
                            i.declared_target = Some(target.clone());
                        }
                    }
                    None if self.open_incidents(team).any(|i| i.matches_target(target)) => {
                        return Err(ApplyError::AlreadyDetected {
                            team: team.clone(),
                            target: target.clone(),
                        });
                    }
                    None if let Some(cancelled) = self.just_cancelled(team, target, at) => {
                        return Err(ApplyError::JustCancelled {
                            team: team.clone(),
                            target: target.clone(),
                            incident: cancelled,
                        });
                    }
                    None => {
                        let penalty = i64::from(self.rules.false_alarm);
                        let extra = self.extra(team);
                        extra.0.penalties -= penalty;
                        extra.1 += 1;
                    }
                }
            }
            EventKind::AlertFired {
                team,
                labels,
                starts_at_ms,
                fingerprint,
            } => {
                self.playing()?;
                let fingerprint = if fingerprint.is_empty() {
                    crate::alerting::fingerprint(labels)
                } else {
                    fingerprint.clone()
                };
                // One firing of an alert is its fingerprint with its start: Alertmanager
                // repeats a standing alert with the start it had, and an alert that fires
                // anew comes with a new start. A repeat keeps the time its firing was first
                // received; a new firing cannot have started later than it arrived (a start
                // in the future would make a standing alert look new at every opening).
                let seen = self.alerts.entry(team.clone()).or_default();
                let (since_ms, new) = match seen.get(&fingerprint) {
                    Some(firing) if firing.starts_at_ms == *starts_at_ms => {
                        (firing.since_ms, false)
                    }
                    _ => ((*starts_at_ms).min(at), true),
                };
                seen.insert(
                    fingerprint,
                    AlertFiring {
                        starts_at_ms: *starts_at_ms,
                        since_ms,
                    },
                );
                // Evidence only if it started after the incident opened (a standing alert
                // is none), credited when chaosday received it (the event's time), never
                // at the sender's `startsAt`.
                let matching: Vec<(IncidentId, IncidentState)> = self
                    .open_incidents(team)
                    .filter(|i| since_ms >= i.opened_ms)
                    .filter(|i| i.faults.iter().any(|f| f.alert_match.matches(labels)))
                    .map(|i| (i.id, i.state))
                    .collect();
                if matching.is_empty() && new {
                    // Matching no open incident costs a false alarm, once per firing: a
                    // repeat costs nothing more, a firing anew (a new start) costs again, so
                    // one false alarm never buys a script endless tries.
                    let penalty = i64::from(self.rules.false_alarm);
                    let extra = self.extra(team);
                    extra.0.penalties -= penalty;
                    extra.1 += 1;
                }
                for (id, state) in matching {
                    if state == IncidentState::Open {
                        self.detect(id, at, event.actor.clone());
                    }
                }
            }
            // In the log for the game master's eyes: it changes no score.
            EventKind::AlertResolved { .. } => self.playing()?,
            EventKind::Diagnosed {
                team,
                incident,
                diagnosis,
            } => {
                let rules = self.rules.diagnose;
                let i = self.own_open(team, *incident)?;
                if i.state != IncidentState::Detected {
                    return Err(ApplyError::NotDiagnosable {
                        incident: *incident,
                        state: i.state,
                    });
                }
                if i.tries >= rules.max_tries {
                    return Err(ApplyError::NoTriesLeft {
                        incident: *incident,
                        max_tries: rules.max_tries,
                    });
                }
                let difficulty = i64::from(i.difficulty);
                i.tries += 1;
                let correct = diagnosis.target.eq_ignore_ascii_case(&i.diagnosis.target)
                    && diagnosis.kind.eq_ignore_ascii_case(&i.diagnosis.kind);
                if !correct {
                    i.points.diagnose -= i64::from(rules.wrong) * difficulty;
                    return Ok(());
                }
                i.points.diagnose += i64::from(rules.correct) * difficulty;
                i.state = IncidentState::Diagnosed;
                i.diagnosed_ms = Some(at);
                if i.resolution == Resolution::Diagnose {
                    self.resolve(*incident, at, at, "healed by its correct diagnosis");
                }
            }
            EventKind::HintBought {
                team,
                incident,
                hint,
            } => {
                let i = self.own_open(team, *incident)?;
                let (incident, hint) = (*incident, *hint);
                if i.state == IncidentState::Open {
                    return Err(ApplyError::NotDetected { incident });
                }
                let Some(cost) = i.hints.get(hint).map(|h| h.cost) else {
                    return Err(ApplyError::NoHint { incident, hint });
                };
                if i.hints_bought.contains(&hint) {
                    return Err(ApplyError::HintAlreadyBought { incident, hint });
                }
                i.hints_bought.push(hint);
                i.points.hints -= i64::from(cost);
            }
            EventKind::ResolutionClaimed { team, incident } => {
                let i = self.own_open(team, *incident)?;
                let incident = *incident;
                if i.state == IncidentState::Open {
                    return Err(ApplyError::NotDetected { incident });
                }
                if !matches!(i.resolution, Resolution::Fix | Resolution::Manual) {
                    return Err(ApplyError::NotAFix { incident });
                }
                i.claimed_ms = Some(at);
            }
            EventKind::Verified { incident } => {
                let claimed = self
                    .incidents
                    .get(incident)
                    .filter(|i| !i.state.is_closed())
                    .and_then(|i| i.claimed_ms);
                match claimed {
                    Some(claimed) => {
                        self.resolve(*incident, claimed, at, "its fix verified by the referee")
                    }
                    None => {
                        return Err(ApplyError::NoClaim {
                            incident: *incident,
                        });
                    }
                }
            }
            EventKind::VerificationFailed { incident } => {
                if let Some(i) = self
                    .incidents
                    .get_mut(incident)
                    .filter(|i| !i.state.is_closed())
                {
                    i.claimed_ms = None;
                }
            }
            EventKind::FaultReverted {
                incident, cause, ..
            } => {
                let Some(i) = self
                    .incidents
                    .get_mut(incident)
                    .filter(|i| !i.state.is_closed())
                else {
                    return Ok(());
                };
                if matches!(cause, RevertCause::Timer | RevertCause::Healed)
                    && i.claimed_ms.is_none()
                {
                    i.healed_without_team = true;
                }
                if i.resolution == Resolution::Timed && *cause == RevertCause::Timer {
                    i.state = IncidentState::RanOut;
                    i.closed_ms = Some(at);
                    i.closed_reason =
                        Some("a timed scenario, over at the end of its duration".into());
                }
            }
            EventKind::Expired { incident } => {
                self.close(*incident, at, IncidentState::Expired, "its deadline passed")
            }
            EventKind::Cancelled { incident, reason } => {
                self.close(*incident, at, IncidentState::Cancelled, reason)
            }
            EventKind::Adjusted { team, points, .. } => self.extra(team).0.adjustments += points,
            EventKind::Aborted { .. } | EventKind::Rearmed | EventKind::GuardFailed { .. } => {}
        }
        Ok(())
    }

    /// The incident if it is open and the team's own; otherwise why the event changes nothing.
    fn own_open(&mut self, team: &str, id: IncidentId) -> Result<&mut Incident, ApplyError> {
        match self.incidents.get_mut(&id) {
            None => Err(ApplyError::NoIncident { incident: id }),
            Some(i) if i.team != team => Err(ApplyError::NotTheirs {
                team: team.to_owned(),
                incident: id,
                owner: i.team.clone(),
            }),
            Some(i) if i.state.is_closed() => Err(ApplyError::Closed { incident: id }),
            Some(i) => Ok(i),
        }
    }

    /// Teams' detections count while the game runs or is paused (every clock frozen).
    fn playing(&self) -> Result<(), ApplyError> {
        match self.status {
            Status::Running | Status::Paused => Ok(()),
            status @ (Status::NotStarted | Status::Ended) => Err(ApplyError::NotPlaying { status }),
        }
    }

    fn detect(&mut self, id: IncidentId, when: i64, by: Actor) {
        let rules = self.rules.detect;
        let Some(opened) = self.incidents.get(&id).map(|i| i.opened_ms) else {
            return;
        };
        let elapsed = self.running_ms(opened, when);
        let Some(i) = self.incidents.get_mut(&id) else {
            return;
        };
        i.state = IncidentState::Detected;
        i.detected_ms = Some(when);
        i.detected_by = Some(by);
        i.time_to_detect_ms = Some(elapsed);
        i.points.detect = i64::from(rules.at(std::time::Duration::from_millis(elapsed)))
            * i64::from(i.difficulty);
    }

    /// Resolves an incident the team fixed at `fixed_at`, closing it at `closed_at`.
    fn resolve(&mut self, id: IncidentId, fixed_at: i64, closed_at: i64, reason: &str) {
        let rules = self.rules.resolve;
        let Some(opened) = self.incidents.get(&id).map(|i| i.opened_ms) else {
            return;
        };
        let elapsed = self.running_ms(opened, fixed_at);
        let Some(i) = self.incidents.get_mut(&id) else {
            return;
        };
        i.state = IncidentState::Resolved;
        i.closed_ms = Some(closed_at);
        i.closed_reason = Some(reason.to_owned());
        i.time_to_resolve_ms = Some(elapsed);
        i.points.resolve = if i.healed_without_team {
            0
        } else {
            i64::from(rules.at(std::time::Duration::from_millis(elapsed))) * i64::from(i.difficulty)
        };
    }

    fn close(&mut self, id: IncidentId, at: i64, state: IncidentState, reason: &str) {
        if let Some(i) = self.incidents.get_mut(&id).filter(|i| !i.state.is_closed()) {
            i.state = state;
            i.closed_ms = Some(at);
            i.closed_reason = Some(reason.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_closed_incident_has_one_outcome_and_never_detected_wins_over_ran_out_and_expired() {
        use IncidentState as I;
        assert_eq!(Outcome::of(I::Open, false), None);
        assert_eq!(Outcome::of(I::Diagnosed, true), None);
        assert_eq!(Outcome::of(I::Resolved, true), Some(Outcome::Resolved));
        assert_eq!(Outcome::of(I::RanOut, true), Some(Outcome::RanOut));
        assert_eq!(Outcome::of(I::RanOut, false), Some(Outcome::NeverDetected));
        assert_eq!(Outcome::of(I::Expired, true), Some(Outcome::Expired));
        assert_eq!(Outcome::of(I::Expired, false), Some(Outcome::NeverDetected));
        assert_eq!(Outcome::of(I::Cancelled, false), Some(Outcome::Cancelled));
        for outcome in Outcome::ALL {
            assert!(!outcome.label().contains('('), "{outcome}: no parentheses");
        }
    }

    #[test]
    fn states_are_named_as_in_the_json_and_read_back() {
        use IncidentState as I;
        for state in [
            I::Open,
            I::Detected,
            I::Diagnosed,
            I::Resolved,
            I::RanOut,
            I::Expired,
            I::Cancelled,
        ] {
            let json = serde_json::to_value(state).unwrap();
            assert_eq!(json, state.as_str());
            assert_eq!(serde_json::from_value::<I>(json).unwrap(), state);
        }
        for outcome in Outcome::ALL {
            let json = serde_json::to_value(outcome).unwrap();
            assert_eq!(json, outcome.as_str());
            assert_eq!(serde_json::from_value::<Outcome>(json).unwrap(), outcome);
        }
        for status in [
            Status::NotStarted,
            Status::Running,
            Status::Paused,
            Status::Ended,
        ] {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str());
            assert_eq!(serde_json::from_value::<Status>(json).unwrap(), status);
        }
    }

    #[test]
    fn try_apply_says_why_in_a_type_and_changes_nothing() {
        let mut state = GameState::new(ScoringRules::default());
        let before = state.clone();
        let claim = Event {
            seq: 1,
            at_ms: 1_000,
            actor: Actor::System,
            kind: EventKind::ResolutionClaimed {
                team: "checkout".into(),
                incident: IncidentId(9),
            },
        };
        let why = state.try_apply(&claim).unwrap_err();
        assert_eq!(
            why,
            ApplyError::NoIncident {
                incident: IncidentId(9)
            }
        );
        assert_eq!(why.to_string(), "no incident #9");
        assert_eq!(state, before);
        state.apply(&claim);
        assert_eq!(state.ignored[0].why, "no incident #9");
        assert_eq!(state.last_seq, 1);
    }

    /// Checkout's game: started at 0 s; incident #1 (cart, `service="cart"`) opens at 100 s.
    fn alert_game() -> GameState {
        let mut state = GameState::new(ScoringRules::default());
        state.apply(&at(
            0,
            EventKind::GameStarted {
                teams: vec!["checkout".into()],
                rules: None,
            },
        ));
        open(&mut state, 1, 100);
        state
    }

    fn open(state: &mut GameState, id: u64, second: i64) {
        let alert_match = crate::alerting::AlertMatch(vec![
            crate::alerting::Matcher::parse("service=\"cart\"").unwrap(),
        ]);
        state.apply(&at(
            second,
            EventKind::IncidentOpened {
                incident: IncidentId(id),
                team: "checkout".into(),
                scenario: "cart-slow".into(),
                difficulty: 1,
                resolution: Resolution::Diagnose,
                diagnosis: crate::events::Diagnosis {
                    target: "cart".into(),
                    kind: "latency".into(),
                },
                faults: vec![crate::events::FaultSummary {
                    target: "cart".into(),
                    kind: "latency".into(),
                    description: "latency on cart".into(),
                    alert_match,
                }],
                hints: Vec::new(),
                deadline_ms: 3_600_000,
                mirrors: Vec::new(),
            },
        ));
    }

    fn at(second: i64, kind: EventKind) -> Event {
        Event {
            seq: 0,
            at_ms: second * 1000,
            actor: Actor::System,
            kind,
        }
    }

    /// Checkout's alert `fingerprint` on `service`, started at `starts_s`, received at
    /// `second`.
    fn alert(state: &mut GameState, second: i64, service: &str, starts_s: i64, fingerprint: &str) {
        state.apply(&Event {
            seq: 0,
            at_ms: second * 1000,
            actor: Actor::Alert {
                team: "checkout".into(),
            },
            kind: EventKind::AlertFired {
                team: "checkout".into(),
                labels: [("service".to_owned(), service.to_owned())].into(),
                starts_at_ms: starts_s * 1000,
                fingerprint: fingerprint.into(),
            },
        });
    }

    fn false_alarms(state: &GameState) -> u32 {
        state.team_extra.get("checkout").map_or(0, |(_, n)| *n)
    }

    fn detected_s(state: &GameState, id: u64) -> Option<i64> {
        state.incidents[&IncidentId(id)]
            .detected_ms
            .map(|ms| ms / 1000)
    }

    #[test]
    fn an_alert_detects_when_received_never_at_its_start() {
        let mut state = alert_game();
        alert(&mut state, 160, "cart", 110, "a");
        assert_eq!(detected_s(&state, 1), Some(160));
        let incident = &state.incidents[&IncidentId(1)];
        assert_eq!(incident.time_to_detect_ms, Some(60_000));
        assert_eq!(false_alarms(&state), 0);
    }

    #[test]
    fn an_alert_that_started_before_the_opening_is_no_evidence_and_costs_one_false_alarm() {
        let mut state = alert_game();
        // The cheat: "it started long ago" (a day before this game's epoch), sent 60 s after
        // the opening.
        alert(&mut state, 160, "cart", -86_400, "cheat");
        assert_eq!(detected_s(&state, 1), None);
        assert_eq!(false_alarms(&state), 1);
        // Repeated, it costs nothing more and still detects nothing.
        alert(&mut state, 170, "cart", -86_400, "cheat");
        assert_eq!((detected_s(&state, 1), false_alarms(&state)), (None, 1));
    }

    #[test]
    fn a_standing_alert_costs_one_false_alarm_and_never_detects_a_later_incident() {
        let mut state = GameState::new(ScoringRules::default());
        state.apply(&at(
            0,
            EventKind::GameStarted {
                teams: vec!["checkout".into()],
                rules: None,
            },
        ));
        alert(&mut state, 10, "cart", 5, "standing");
        assert_eq!(false_alarms(&state), 1);
        open(&mut state, 1, 100);
        for second in [110, 120, 130] {
            alert(&mut state, second, "cart", 5, "standing");
        }
        open(&mut state, 2, 200);
        alert(&mut state, 210, "cart", 5, "standing");
        assert_eq!((detected_s(&state, 1), detected_s(&state, 2)), (None, None));
        assert_eq!(false_alarms(&state), 1);
    }

    #[test]
    fn a_start_in_the_future_counts_from_when_the_alert_was_first_received() {
        let mut state = GameState::new(ScoringRules::default());
        state.apply(&at(
            0,
            EventKind::GameStarted {
                teams: vec!["checkout".into()],
                rules: None,
            },
        ));
        // "Started in 2099", first sent before anything opened: a standing alert.
        alert(&mut state, 10, "cart", 4_000_000_000, "liar");
        open(&mut state, 1, 100);
        alert(&mut state, 110, "cart", 4_000_000_000, "liar");
        assert_eq!((detected_s(&state, 1), false_alarms(&state)), (None, 1));
        // First sent after the opening, it detects, credited on receipt.
        alert(&mut state, 120, "cart", 4_000_000_000, "new");
        assert_eq!(
            (detected_s(&state, 1), false_alarms(&state)),
            (Some(120), 1)
        );
    }

    #[test]
    fn an_alert_firing_anew_is_a_new_alert_for_evidence_and_for_false_alarms() {
        let mut state = alert_game();
        // Unmatched: each firing of the fingerprint costs once, its repeats nothing; a
        // script resending one alert as new at each try pays for each try.
        alert(&mut state, 110, "search", 105, "s");
        alert(&mut state, 111, "search", 105, "s");
        alert(&mut state, 120, "search", 119, "s");
        alert(&mut state, 121, "search", 119, "s");
        alert(&mut state, 122, "search", 122, "s");
        assert_eq!(false_alarms(&state), 3);
        // A cart alert standing since before the opening costs its false alarm, and its
        // repeats detect nothing; resolved and firing again after the opening, the new
        // firing is evidence.
        alert(&mut state, 125, "cart", 40, "c");
        alert(&mut state, 130, "cart", 40, "c");
        assert_eq!((detected_s(&state, 1), false_alarms(&state)), (None, 4));
        alert(&mut state, 140, "cart", 135, "c");
        assert_eq!(
            (detected_s(&state, 1), false_alarms(&state)),
            (Some(140), 4)
        );
    }

    #[test]
    fn unmatched_alerts_cost_once_per_fingerprint_and_a_missing_one_is_the_labels_hash() {
        let mut state = alert_game();
        alert(&mut state, 110, "search", 105, "one");
        alert(&mut state, 111, "search", 105, "two");
        alert(&mut state, 112, "search", 105, "one");
        assert_eq!(false_alarms(&state), 2);
        alert(&mut state, 113, "index", 105, "");
        alert(&mut state, 114, "index", 105, "");
        assert_eq!(false_alarms(&state), 3);
        let extra = state.team_extra["checkout"].0;
        assert_eq!(extra.penalties, -30);
        // An alert matching an incident already detected detects nothing and costs nothing.
        alert(&mut state, 120, "cart", 115, "cart-1");
        alert(&mut state, 121, "cart", 116, "cart-2");
        assert_eq!(
            (detected_s(&state, 1), false_alarms(&state)),
            (Some(120), 3)
        );
    }

    #[test]
    fn the_game_clock_stands_still_once_the_game_ended() {
        let mut state = GameState::new(ScoringRules::default());
        state.apply(&at(
            100,
            EventKind::GameStarted {
                teams: vec![],
                rules: None,
            },
        ));
        state.apply(&at(160, EventKind::GameEnded));
        assert_eq!(state.running_ms(100_000, 160_000), 60_000);
        assert_eq!(state.running_ms(100_000, 999_000), 60_000, "read later");
        // A second end changes nothing.
        state.apply(&at(170, EventKind::GameEnded));
        assert_eq!(state.running_ms(100_000, 999_000), 60_000);
    }

    #[test]
    fn no_alert_or_declaration_counts_before_the_start_or_after_the_end() {
        let mut state = GameState::new(ScoringRules::default());
        alert(&mut state, 10, "cart", 5, "early");
        assert_eq!(
            state.ignored[0].why,
            "the game is not_started: teams act while it runs"
        );
        let mut state = alert_game();
        state.apply(&at(200, EventKind::GameEnded));
        alert(&mut state, 210, "search", 205, "late");
        assert_eq!(false_alarms(&state), 0);
        assert_eq!(state.ignored.len(), 1);
    }

    #[test]
    fn while_paused_an_alert_detects_on_the_frozen_clock() {
        let mut state = alert_game();
        state.apply(&at(
            130,
            EventKind::GamePaused {
                reason: "lunch".into(),
            },
        ));
        alert(&mut state, 400, "cart", 390, "a");
        assert_eq!(detected_s(&state, 1), Some(400));
        // 30 s of running time from the opening to the pause; the pause does not count.
        assert_eq!(
            state.incidents[&IncidentId(1)].time_to_detect_ms,
            Some(30_000)
        );
    }

    #[test]
    fn a_declaration_is_credited_when_received() {
        let mut state = alert_game();
        state.apply(&Event {
            seq: 0,
            at_ms: 130_000,
            actor: Actor::Team {
                team: "checkout".into(),
                player: "alice".into(),
            },
            kind: EventKind::Declared {
                team: "checkout".into(),
                target: "cart".into(),
            },
        });
        assert_eq!(detected_s(&state, 1), Some(130));
        assert_eq!(
            state.incidents[&IncidentId(1)].time_to_detect_ms,
            Some(30_000)
        );
    }

    #[test]
    fn declaring_a_target_just_cancelled_is_neither_a_detection_nor_a_false_alarm() {
        let mut state = alert_game();
        state.apply(&at(
            200,
            EventKind::Cancelled {
                incident: IncidentId(1),
                reason: "the kill switch".into(),
            },
        ));
        let declare = |second| {
            at(
                second,
                EventKind::Declared {
                    team: "checkout".into(),
                    target: "cart".into(),
                },
            )
        };
        // Within the grace window: refused, saying why, and it costs nothing.
        let refused = state
            .clone()
            .try_apply(&declare(200 + CANCEL_GRACE_MS / 1000 - 1));
        assert!(
            matches!(
                refused,
                Err(ApplyError::JustCancelled {
                    incident: IncidentId(1),
                    ..
                })
            ),
            "{refused:?}"
        );
        state.apply(&declare(201));
        assert_eq!(false_alarms(&state), 0);
        assert_eq!(state.incidents[&IncidentId(1)].detected_ms, None);
        // After it, a declaration of a healthy target is a false alarm again.
        state.apply(&declare(200 + CANCEL_GRACE_MS / 1000));
        assert_eq!(false_alarms(&state), 1);
    }
}
