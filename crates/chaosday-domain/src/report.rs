//! The postmortem's figures: a pure projection of the event log for one viewer.
//!
//! [`build`] replays the log and gathers what a report shows: the points of each team by
//! source, times to detect and to resolve (per team, per scenario, per incident, with their
//! medians), the score of each team over time, the merged timeline (injections,
//! declarations, alerts, diagnoses, hints, claims and verifications, reverts, closings and
//! the game master's actions), and a blameless postmortem draft per incident.
//!
//! Every figure obeys the secrecy rules of [`crate::secrecy`] as they stand when the report
//! is made: a spectator or another team learns of an incident only once it was detected or
//! has closed, and of its scenario, faults and ground truth only once it has closed; the
//! game master sees everything. An undetected incident earns and costs nothing, so hiding
//! it never changes a score.
//!
//! Times are unix milliseconds; durations are milliseconds of *running* game time (pauses
//! taken out), as the scores count them.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::events::{Actor, Diagnosis, Event, EventKind, FaultSummary, IncidentId, RevertCause};
use crate::incident::{Breakdown, Incident, IncidentState, Outcome, Status};
use crate::scoring::ScoringRules;
use crate::secrecy::{self, Access, HintView, Viewer};
use crate::timeline::{Change, Telling, Timeline, cause_text, tell};

/// Who a report was made for (the viewer, as data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Audience {
    /// Anyone: only what is public.
    Spectator,
    /// A player of this team: its own incidents in detail once detected.
    Team {
        /// The team.
        team: String,
    },
    /// The game master: everything.
    GameMaster,
}

impl From<&Viewer> for Audience {
    fn from(viewer: &Viewer) -> Self {
        match viewer {
            Viewer::Spectator => Audience::Spectator,
            Viewer::Team(team) => Audience::Team { team: team.clone() },
            Viewer::GameMaster => Audience::GameMaster,
        }
    }
}

/// A span of wall time, such as a pause. `to_ms` is `None` while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    /// Its start, unix ms.
    pub from_ms: i64,
    /// Its end, unix ms; `None` if it has not ended.
    pub to_ms: Option<i64>,
}

/// A set of durations, summed up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Durations {
    /// How many there are.
    pub count: u32,
    /// The median, ms (the mean of the two middle ones for an even count, rounded down).
    pub median_ms: Option<u64>,
    /// The shortest, ms.
    pub min_ms: Option<u64>,
    /// The longest, ms.
    pub max_ms: Option<u64>,
}

impl Durations {
    /// Sums up `values` (in any order).
    pub fn of(values: impl IntoIterator<Item = u64>) -> Self {
        let mut values: Vec<u64> = values.into_iter().collect();
        values.sort_unstable();
        Durations {
            count: u32::try_from(values.len()).unwrap_or(u32::MAX),
            median_ms: median(&values),
            min_ms: values.first().copied(),
            max_ms: values.last().copied(),
        }
    }
}

/// The median of sorted `values`: the middle one, or the mean of the two middle ones
/// (rounded down) for an even count; `None` when there is none.
pub fn median(sorted: &[u64]) -> Option<u64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    if n % 2 == 1 {
        return Some(sorted[n / 2]);
    }
    let (a, b) = (sorted[n / 2 - 1], sorted[n / 2]);
    Some(a / 2 + b / 2 + (a % 2 + b % 2) / 2)
}

/// The whole game at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Teams playing.
    pub teams: u32,
    /// Incidents the viewer may know of.
    pub incidents: u32,
    /// Of those, detected.
    pub detected: u32,
    /// How they ended: one outcome per closed incident, so these and `open` add up to
    /// `incidents`.
    pub outcomes: Outcomes,
    /// Still open.
    pub open: u32,
    /// Declarations that matched no incident.
    pub false_alarms: u32,
    /// Wrong diagnoses (among those the viewer may see).
    pub wrong_diagnoses: u32,
    /// Hints bought.
    pub hints_bought: u32,
    /// Time to detect, over every incident with one.
    pub time_to_detect: Durations,
    /// Time to resolve, over every incident resolved by its team.
    pub time_to_resolve: Durations,
}

/// How many incidents ended each way ([`Outcome`]): each closed incident counts once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Outcomes {
    /// Resolved by the team (its fix verified, or healed by its correct diagnosis).
    pub resolved: u32,
    /// Timed incidents the team detected, over at the end of their duration.
    pub ran_out: u32,
    /// Detected, and the deadline passed first.
    pub expired: u32,
    /// Cancelled (the game master, the kill switch, a guard, the end of the game).
    pub cancelled: u32,
    /// Ran out or expired without the team ever detecting them.
    pub never_detected: u32,
}

impl Outcomes {
    /// The outcomes of `incidents`.
    pub fn of<'a>(incidents: impl IntoIterator<Item = &'a IncidentFigures>) -> Self {
        let mut out = Outcomes::default();
        for i in incidents {
            match i.outcome {
                Some(Outcome::Resolved) => out.resolved += 1,
                Some(Outcome::RanOut) => out.ran_out += 1,
                Some(Outcome::Expired) => out.expired += 1,
                Some(Outcome::Cancelled) => out.cancelled += 1,
                Some(Outcome::NeverDetected) => out.never_detected += 1,
                None => {}
            }
        }
        out
    }

    /// How many ended as `outcome`.
    pub fn count(&self, outcome: Outcome) -> u32 {
        match outcome {
            Outcome::Resolved => self.resolved,
            Outcome::RanOut => self.ran_out,
            Outcome::Expired => self.expired,
            Outcome::Cancelled => self.cancelled,
            Outcome::NeverDetected => self.never_detected,
        }
    }
}

/// One team's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamFigures {
    /// Its place on the scoreboard (1 is first).
    pub rank: u32,
    /// The team.
    pub team: String,
    /// Total points (the sum of `breakdown`).
    pub points: i64,
    /// Points by what earned or cost them.
    pub breakdown: Breakdown,
    /// Incidents against it that the viewer may know of (its "faced").
    pub incidents: u32,
    /// Of those, detected.
    pub detected: u32,
    /// How they ended (`outcomes.resolved` is the scoreboard's "resolved").
    pub outcomes: Outcomes,
    /// Its false alarms.
    pub false_alarms: u32,
    /// Its times to detect.
    pub time_to_detect: Durations,
    /// Its times to resolve.
    pub time_to_resolve: Durations,
    /// The sum of its times to resolve, ms: less is better when points tie.
    pub time_to_resolve_total_ms: u64,
}

/// One scenario's figures, over its incidents whose scenario the viewer may know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioFigures {
    /// The scenario.
    pub scenario: String,
    /// Its difficulty.
    pub difficulty: u32,
    /// How it ends.
    pub resolution: crate::events::Resolution,
    /// Its incidents.
    pub incidents: u32,
    /// Of those, detected.
    pub detected: u32,
    /// How they ended.
    pub outcomes: Outcomes,
    /// Times to detect.
    pub time_to_detect: Durations,
    /// Times to resolve.
    pub time_to_resolve: Durations,
}

/// How an incident was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectedBy {
    /// A player declared it.
    Declaration,
    /// A firing alert of the team's alerting.
    Alert,
}

impl DetectedBy {
    /// `declaration` or `alert`.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectedBy::Declaration => "declaration",
            DetectedBy::Alert => "alert",
        }
    }
}

/// The detection of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    /// A declaration or an alert.
    pub how: DetectedBy,
    /// Who: the player's name (to the game master and the team), else the team's.
    pub by: String,
    /// The target the declaration named, or the alert's labels and fingerprint
    /// (`alertname=CartSlow, service=cart; fingerprint 3f2a…`), when the viewer may know them.
    pub detail: Option<String>,
}

/// One diagnosis a team submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiagnosisTry {
    /// When, unix ms.
    pub at_ms: i64,
    /// Whether it was right.
    pub correct: bool,
    /// What it said (to the game master and the team, and to everyone once closed).
    pub diagnosis: Option<Diagnosis>,
    /// Points it earned or cost.
    pub points: i64,
}

/// What became of a claim that the incident is fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimOutcome {
    /// The referee's probes stayed green: resolved.
    Verified,
    /// The probes went red: the claim was withdrawn.
    Failed,
    /// Still being verified (or the incident closed otherwise first).
    Pending,
}

/// A claim that an incident is fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Claim {
    /// When, unix ms.
    pub at_ms: i64,
    /// What became of it.
    pub outcome: ClaimOutcome,
    /// When the referee decided, unix ms.
    pub decided_ms: Option<i64>,
}

/// One fault of an incident going away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revert {
    /// When, unix ms.
    pub at_ms: i64,
    /// The logical target.
    pub target: String,
    /// How.
    pub cause: RevertCause,
}

/// One incident as the viewer may see it. `None` means hidden from this viewer (or not
/// happened yet).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentFigures {
    /// Its number.
    pub id: IncidentId,
    /// The team it is against.
    pub team: String,
    /// Where it is.
    pub state: IncidentState,
    /// How it ended, once closed.
    pub outcome: Option<Outcome>,
    /// The scenario (to the game master, and once closed).
    pub scenario: Option<String>,
    /// 1 to 5 (to its team, and once closed).
    pub difficulty: Option<u32>,
    /// How it ends (to its team, and once closed).
    pub resolution: Option<crate::events::Resolution>,
    /// When its faults became active (to its team, and once closed).
    pub opened_ms: Option<i64>,
    /// When it was detected.
    pub detected_ms: Option<i64>,
    /// How, and by whom.
    pub detection: Option<Detection>,
    /// When it was diagnosed correctly.
    pub diagnosed_ms: Option<i64>,
    /// When it closed.
    pub closed_ms: Option<i64>,
    /// Why it closed.
    pub closed_reason: Option<String>,
    /// Running time from opening to detection, ms.
    pub time_to_detect_ms: Option<u64>,
    /// Running time from opening to the team's fix, ms.
    pub time_to_resolve_ms: Option<u64>,
    /// The diagnoses submitted, in order (to its team, and once closed).
    pub diagnoses: Option<Vec<DiagnosisTry>>,
    /// How many hints the team bought.
    pub hints_bought: u32,
    /// Its hints (to its team: the text of those bought).
    pub hints: Option<Vec<HintView>>,
    /// Claims that it was fixed (to its team, and once closed).
    pub claims: Option<Vec<Claim>>,
    /// Its faults (to the game master, and once closed).
    pub faults: Option<Vec<FaultSummary>>,
    /// The ground truth (to the game master, and once closed).
    pub ground_truth: Option<Diagnosis>,
    /// How its faults went away (to the game master, and once closed).
    pub reverts: Option<Vec<Revert>>,
    /// Whether a fault went away by its timer or by itself before a claim (no resolution
    /// points then), when the viewer may know.
    pub healed_without_team: Option<bool>,
    /// What it earned or cost the team, when the viewer may know its details.
    pub points: Option<Breakdown>,
    /// The sum of `points`.
    pub points_total: Option<i64>,
}

/// The score of a team after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScorePoint {
    /// When, unix ms.
    pub at_ms: i64,
    /// The team's total from then on.
    pub points: i64,
}

/// A team's score over time: a step function, 0 until its first point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScoreSeries {
    /// The team.
    pub team: String,
    /// Each change, in time order.
    pub points: Vec<ScorePoint>,
}

pub use crate::timeline::TimelineKind;

/// One line of the merged timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineItem {
    /// Its number among the lines the viewer may see (lines of one event share it).
    pub seq: u64,
    /// When, unix ms.
    pub at_ms: i64,
    /// What it is about.
    pub kind: TimelineKind,
    /// Who did it, for people: `checkout (alice)`, `game master (gm)`, `alert (search)`,
    /// `chaosday`.
    pub actor: String,
    /// The team concerned, if one.
    pub team: Option<String>,
    /// The incident concerned, if one.
    pub incident: Option<IncidentId>,
    /// What happened, for people.
    pub text: String,
    /// The change in the team's points.
    pub points: i64,
}

impl TimelineItem {
    /// `entry`, done by `actor`.
    fn new(entry: crate::timeline::TimelineEntry, actor: String) -> Self {
        TimelineItem {
            seq: entry.seq,
            at_ms: entry.at_ms,
            kind: entry.kind,
            actor,
            team: entry.team,
            incident: entry.incident,
            text: entry.text,
            points: entry.points,
        }
    }
}

/// A blameless postmortem draft for one incident, as sentences to edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Postmortem {
    /// The incident.
    pub incident: IncidentId,
    /// The team.
    pub team: String,
    /// `#1 slow-database (checkout)`.
    pub title: String,
    /// Whether the incident is still open (the draft is partial).
    pub in_progress: bool,
    /// What happened: scenario, faults, targets (once the viewer may know).
    pub what_happened: Vec<String>,
    /// When it was seen: detection time and how.
    pub when_seen: Vec<String>,
    /// How it was found: the diagnoses and hints.
    pub how_found: Vec<String>,
    /// How it was fixed: claims, verification, resolution.
    pub how_fixed: Vec<String>,
    /// What to improve: prompts derived from the figures.
    pub to_improve: Vec<String>,
}

/// Everything a report shows, for one viewer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Who it was made for.
    pub audience: Audience,
    /// Where the game is.
    pub status: Status,
    /// When the game started, unix ms.
    pub started_ms: Option<i64>,
    /// When it ended, unix ms.
    pub ended_ms: Option<i64>,
    /// The moment the report describes, unix ms: the end of the game, else the `now` given,
    /// else the last event.
    pub as_of_ms: i64,
    /// Running time of the game so far (pauses taken out), ms.
    pub running_ms: u64,
    /// The pauses.
    pub pauses: Vec<Span>,
    /// The scoring rules the points were counted with.
    pub rules: ScoringRules,
    /// The game at a glance.
    pub summary: Summary,
    /// The teams, best first.
    pub teams: Vec<TeamFigures>,
    /// The scenarios, by name.
    pub scenarios: Vec<ScenarioFigures>,
    /// The incidents, by number.
    pub incidents: Vec<IncidentFigures>,
    /// Each team's score over time, in scoreboard order.
    pub score_over_time: Vec<ScoreSeries>,
    /// The merged timeline, in log order.
    pub timeline: Vec<TimelineItem>,
    /// A postmortem draft per incident, by number.
    pub postmortems: Vec<Postmortem>,
}

/// What the log says of an incident beyond [`Incident`].
#[derive(Debug, Default)]
struct Extra {
    detection_detail: Option<String>,
    diagnoses: Vec<DiagnosisTry>,
    claims: Vec<Claim>,
    reverts: Vec<Revert>,
}

fn actor_name(actor: &Actor, own: bool) -> String {
    match actor {
        Actor::System => "chaosday".into(),
        Actor::GameMaster { player } => format!("game master ({player})"),
        Actor::Team { team, player } if own => format!("{team} ({player})"),
        Actor::Team { team, .. } => team.clone(),
        Actor::Alert { team } => format!("alert ({team})"),
    }
}

/// What the log says of an incident beyond [`Incident`], from one change.
fn note(
    extras: &mut BTreeMap<IncidentId, Extra>,
    change: &Change,
    event: &Event,
    see: impl Fn(IncidentId) -> Access,
) {
    match change {
        Change::Detected { incident, by, .. } => {
            extras.entry(*incident).or_default().detection_detail = Some(by.described());
        }
        Change::Diagnosed {
            incident,
            diagnosis,
            correct,
            points,
            ..
        } => extras
            .entry(*incident)
            .or_default()
            .diagnoses
            .push(DiagnosisTry {
                at_ms: event.at_ms,
                correct: *correct,
                diagnosis: see(*incident).detail.then(|| diagnosis.clone()),
                points: *points,
            }),
        Change::Claimed { incident, .. } => {
            extras.entry(*incident).or_default().claims.push(Claim {
                at_ms: event.at_ms,
                outcome: ClaimOutcome::Pending,
                decided_ms: None,
            })
        }
        Change::Verified { incident } => {
            decide(extras, *incident, ClaimOutcome::Verified, event.at_ms)
        }
        Change::ClaimWithdrawn { incident, .. } => {
            decide(extras, *incident, ClaimOutcome::Failed, event.at_ms)
        }
        Change::Reverted {
            incident,
            target,
            cause,
            ..
        } => extras.entry(*incident).or_default().reverts.push(Revert {
            at_ms: event.at_ms,
            target: target.clone(),
            cause: *cause,
        }),
        _ => {}
    }
}

/// The report of the game in `events` (in log order) as `viewer` may see it, scored with
/// `rules`. `now_ms` is the moment a running game is described at (bars of open incidents
/// reach it); without it, the last event's time.
pub fn build(
    rules: &ScoringRules,
    events: &[Event],
    viewer: &Viewer,
    now_ms: Option<i64>,
) -> Report {
    // One fold: what each event changed, and the game as it ends.
    let mut fold = Timeline::new(rules.clone());
    let steps: Vec<Vec<Change>> = events.iter().map(|event| fold.apply(event)).collect();
    let last = fold.into_state();
    let last_event_ms = events.iter().map(|e| e.at_ms).max();
    let ended_ms = match last.status {
        Status::Ended => events
            .iter()
            .rev()
            .find(|e| matches!(e.kind, EventKind::GameEnded))
            .map(|e| e.at_ms),
        _ => None,
    };
    let as_of_ms = ended_ms
        .or_else(|| match (now_ms, last_event_ms) {
            (Some(now), Some(last)) => Some(now.max(last)),
            (now, last) => now.or(last),
        })
        .unwrap_or(0);
    // What the viewer may know of each incident now, when the report is made.
    let seen: BTreeMap<IncidentId, Access> = last
        .incidents
        .values()
        .map(|i| (i.id, secrecy::access(i, viewer)))
        .collect();
    let see = |id: IncidentId| seen.get(&id).copied().unwrap_or(Access::NONE);
    let gm = *viewer == Viewer::GameMaster;
    let own_team = |team: &str| gm || *viewer == Viewer::Team(team.to_owned());

    // The changes told in hindsight: the timeline, the score over time, what the log says
    // of each incident.
    let mut timeline = Vec::new();
    let mut extras: BTreeMap<IncidentId, Extra> = BTreeMap::new();
    let mut series: BTreeMap<String, Vec<ScorePoint>> = BTreeMap::new();
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    // Entries are numbered by the events that told the viewer something, never by the
    // log's sequence numbers (whose gaps would count hidden events).
    let mut told_events = 0;
    for (event, changes) in events.iter().zip(&steps) {
        let mut moved: BTreeMap<&str, i64> = BTreeMap::new();
        let mut told = false;
        for change in changes {
            // Points say an incident's difficulty and time to detect: they count once the
            // viewer may know its details.
            if let Some((team, points)) = change.points()
                && change.incident().is_none_or(|id| see(id).detail)
            {
                *moved.entry(team).or_default() += points;
            }
            note(&mut extras, change, event, see);
            let Some(mut entry) = tell(change, event, viewer, Telling::Postmortem, see) else {
                continue;
            };
            if !told {
                told = true;
                told_events += 1;
            }
            entry.seq = told_events;
            let own = match change {
                Change::FalseAlarm { team, .. }
                | Change::AlertUnmatched { team, .. }
                | Change::AlertResolved { team, .. } => own_team(team),
                _ => change.incident().map_or(gm, |id| see(id).own),
            };
            timeline.push(TimelineItem::new(entry, actor_name(&event.actor, own)));
        }
        for (team, points) in moved {
            if points != 0 {
                let total = totals.entry(team.to_owned()).or_default();
                *total += points;
                series.entry(team.to_owned()).or_default().push(ScorePoint {
                    at_ms: event.at_ms,
                    points: *total,
                });
            }
        }
    }

    let board = secrecy::scoreboard(&last, viewer);
    let incidents: Vec<IncidentFigures> = last
        .incidents
        .values()
        .filter(|i| see(i.id).visible)
        .map(|i| {
            figures(
                i,
                see(i.id),
                extras.remove(&i.id).unwrap_or_default(),
                viewer,
            )
        })
        .collect();

    let teams: Vec<TeamFigures> = board
        .iter()
        .map(|score| {
            let mine: Vec<&IncidentFigures> =
                incidents.iter().filter(|i| i.team == score.team).collect();
            TeamFigures {
                rank: score.rank,
                team: score.team.clone(),
                points: score.points,
                breakdown: score.breakdown,
                incidents: count(&mine, |_| true),
                detected: count(&mine, |i| i.detected_ms.is_some()),
                outcomes: Outcomes::of(mine.iter().copied()),
                false_alarms: score.false_alarms,
                time_to_detect: Durations::of(mine.iter().filter_map(|i| i.time_to_detect_ms)),
                time_to_resolve: Durations::of(mine.iter().filter_map(|i| i.time_to_resolve_ms)),
                time_to_resolve_total_ms: score.time_to_resolve_ms,
            }
        })
        .collect();

    let mut by_scenario: BTreeMap<&str, Vec<&IncidentFigures>> = BTreeMap::new();
    for i in &incidents {
        if let Some(s) = &i.scenario {
            by_scenario.entry(s).or_default().push(i);
        }
    }
    let scenarios = by_scenario
        .into_iter()
        .map(|(name, list)| {
            let first = last
                .incidents
                .values()
                .find(|i| i.scenario == name)
                .expect("a scenario named by an incident");
            ScenarioFigures {
                scenario: name.to_owned(),
                difficulty: first.difficulty,
                resolution: first.resolution,
                incidents: count(&list, |_| true),
                detected: count(&list, |i| i.detected_ms.is_some()),
                outcomes: Outcomes::of(list.iter().copied()),
                time_to_detect: Durations::of(list.iter().filter_map(|i| i.time_to_detect_ms)),
                time_to_resolve: Durations::of(list.iter().filter_map(|i| i.time_to_resolve_ms)),
            }
        })
        .collect();

    let all: Vec<&IncidentFigures> = incidents.iter().collect();
    let summary = Summary {
        teams: u32::try_from(board.len()).unwrap_or(u32::MAX),
        incidents: count(&all, |_| true),
        detected: count(&all, |i| i.detected_ms.is_some()),
        outcomes: Outcomes::of(all.iter().copied()),
        open: count(&all, |i| !i.state.is_closed()),
        false_alarms: board.iter().map(|s| s.false_alarms).sum(),
        wrong_diagnoses: incidents
            .iter()
            .flat_map(|i| i.diagnoses.iter().flatten())
            .filter(|d| !d.correct)
            .count()
            .try_into()
            .unwrap_or(u32::MAX),
        hints_bought: incidents.iter().map(|i| i.hints_bought).sum(),
        time_to_detect: Durations::of(incidents.iter().filter_map(|i| i.time_to_detect_ms)),
        time_to_resolve: Durations::of(incidents.iter().filter_map(|i| i.time_to_resolve_ms)),
    };

    let postmortems = incidents
        .iter()
        .map(|i| postmortem(i, &summary, rules))
        .collect();

    let order: Vec<&str> = board.iter().map(|s| s.team.as_str()).collect();
    let score_over_time = order
        .iter()
        .map(|team| ScoreSeries {
            team: (*team).to_owned(),
            points: series.remove(*team).unwrap_or_default(),
        })
        .collect();

    let mut pauses: Vec<Span> = last
        .pauses
        .iter()
        .map(|&(from_ms, to_ms)| Span {
            from_ms,
            to_ms: Some(to_ms),
        })
        .collect();
    if let Some(since) = last.paused_since {
        pauses.push(Span {
            from_ms: since,
            to_ms: None,
        });
    }

    Report {
        audience: viewer.into(),
        status: last.status,
        started_ms: last.started_ms,
        ended_ms,
        as_of_ms,
        running_ms: last
            .started_ms
            .map_or(0, |start| last.running_ms(start, as_of_ms)),
        pauses,
        rules: rules.clone(),
        summary,
        teams,
        scenarios,
        incidents,
        score_over_time,
        timeline,
        postmortems,
    }
}

fn count(list: &[&IncidentFigures], keep: impl Fn(&IncidentFigures) -> bool) -> u32 {
    u32::try_from(list.iter().filter(|i| keep(i)).count()).unwrap_or(u32::MAX)
}

/// Sets the outcome of the last pending claim of `incident`.
fn decide(
    extras: &mut BTreeMap<IncidentId, Extra>,
    incident: IncidentId,
    outcome: ClaimOutcome,
    at_ms: i64,
) {
    if let Some(claim) = extras
        .entry(incident)
        .or_default()
        .claims
        .iter_mut()
        .rev()
        .find(|c| c.outcome == ClaimOutcome::Pending)
    {
        claim.outcome = outcome;
        claim.decided_ms = Some(at_ms);
    }
}

fn figures(i: &Incident, a: Access, extra: Extra, viewer: &Viewer) -> IncidentFigures {
    let view = secrecy::incident_view(i, viewer);
    let detection = match (&i.detected_by, i.detected_ms) {
        (Some(actor), Some(_)) => Some(Detection {
            how: if matches!(actor, Actor::Alert { .. }) {
                DetectedBy::Alert
            } else {
                DetectedBy::Declaration
            },
            by: match actor {
                Actor::Team { player, .. } if a.own => player.clone(),
                Actor::Team { team, .. } | Actor::Alert { team } => team.clone(),
                Actor::GameMaster { .. } => "the game master".into(),
                Actor::System => "chaosday".into(),
            },
            detail: extra.detection_detail.filter(|_| a.detail),
        }),
        _ => None,
    };
    IncidentFigures {
        id: i.id,
        team: i.team.clone(),
        state: i.state,
        outcome: i.outcome(),
        scenario: a.truth.then(|| i.scenario.clone()),
        difficulty: a.detail.then_some(i.difficulty),
        resolution: a.detail.then_some(i.resolution),
        opened_ms: a.detail.then_some(i.opened_ms),
        detected_ms: i.detected_ms,
        detection,
        diagnosed_ms: i.diagnosed_ms,
        closed_ms: i.closed_ms,
        closed_reason: i.closed_reason.clone(),
        time_to_detect_ms: i.time_to_detect_ms.filter(|_| a.detail),
        time_to_resolve_ms: i.time_to_resolve_ms.filter(|_| a.detail),
        diagnoses: a.detail.then_some(extra.diagnoses),
        hints_bought: u32::try_from(i.hints_bought.len()).unwrap_or(u32::MAX),
        hints: view.and_then(|v| v.hints),
        claims: a.detail.then_some(extra.claims),
        faults: a.truth.then(|| i.faults.clone()),
        ground_truth: a.truth.then(|| i.diagnosis.clone()),
        reverts: a.truth.then_some(extra.reverts),
        healed_without_team: a.truth.then_some(i.healed_without_team),
        points: a.detail.then_some(i.points),
        points_total: a.detail.then(|| i.points.total()),
    }
}

/// A duration for people: `45s`, `2m 05s`, `1h 02m`.
pub fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

/// `1 hint`, `2 hints`: a count and its noun, for people (never `hint(s)`).
pub fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn postmortem(i: &IncidentFigures, summary: &Summary, rules: &ScoringRules) -> Postmortem {
    let scenario = i.scenario.as_deref();
    let title = match scenario {
        Some(s) => format!("{} {s} ({})", i.id, i.team),
        None => format!("{} ({})", i.id, i.team),
    };
    let after_open = |ms: u64| format!("{} after its faults became active", human_duration(ms));

    let mut what = Vec::new();
    match (scenario, &i.faults, &i.ground_truth) {
        (Some(s), Some(faults), Some(truth)) => {
            let difficulty = i
                .difficulty
                .map_or(String::new(), |d| format!(", difficulty {d}"));
            let resolution = i
                .resolution
                .map_or(String::new(), |r| format!(", resolution: {r}"));
            what.push(format!(
                "Scenario {s} against {}{difficulty}{resolution}.",
                i.team
            ));
            for f in faults {
                what.push(format!("Fault: {} (target {}).", f.description, f.target));
            }
            what.push(format!("Ground truth: {} on {}.", truth.kind, truth.target));
            if let Some(reverts) = &i.reverts {
                for r in reverts {
                    what.push(format!(
                        "The fault on {} went away: {}.",
                        r.target,
                        cause_text(r.cause)
                    ));
                }
            }
        }
        _ => what.push(
            "The scenario, its faults and the ground truth are shown once the incident closes."
                .into(),
        ),
    }

    let mut seen = Vec::new();
    match (&i.detection, i.time_to_detect_ms) {
        (Some(d), ttd) => {
            let when = ttd.map_or("Detected".to_owned(), |ms| {
                format!("Detected {}", after_open(ms))
            });
            let how = match (d.how, &d.detail) {
                (DetectedBy::Declaration, Some(target)) => {
                    format!("by a declaration of {} naming {target}", d.by)
                }
                (DetectedBy::Declaration, None) => format!("by a declaration of {}", d.by),
                (DetectedBy::Alert, Some(labels)) => {
                    format!("by an alert of {} ({labels})", d.by)
                }
                (DetectedBy::Alert, None) => format!("by an alert of {}", d.by),
            };
            seen.push(format!("{when}, {how}."));
            if let (Some(_), Some(points)) = (ttd, i.points) {
                seen.push(format!(
                    "Detection earned {} points (at most {} × difficulty, less as time passes).",
                    points.detect, rules.detect.max
                ));
            }
        }
        (None, _) if i.state.is_closed() => {
            seen.push("It was never detected before it closed.".into())
        }
        (None, _) => seen.push("Not detected yet.".into()),
    }

    let mut found = Vec::new();
    match &i.diagnoses {
        Some(tries) if tries.is_empty() => found.push("No diagnosis was submitted.".into()),
        Some(tries) => {
            for (n, t) in tries.iter().enumerate() {
                let what = t
                    .diagnosis
                    .as_ref()
                    .map_or(String::new(), |d| format!(": {} on {}", d.kind, d.target));
                let verdict = if t.correct { "right" } else { "wrong" };
                found.push(format!(
                    "Try {} was {verdict}{what} ({:+} points).",
                    n + 1,
                    t.points
                ));
            }
        }
        None => found.push("The diagnoses are the team's until the incident closes.".into()),
    }
    if i.hints_bought > 0 {
        let texts: Vec<String> = i
            .hints
            .iter()
            .flatten()
            .filter(|h| h.bought)
            .filter_map(|h| h.text.as_ref().map(|t| format!("“{t}”")))
            .collect();
        let listed = if texts.is_empty() {
            String::new()
        } else {
            format!(": {}", texts.join(", "))
        };
        let cost = i
            .points
            .map_or(String::new(), |p| format!(" ({} points)", p.hints));
        found.push(format!(
            "{} bought{cost}{listed}.",
            plural(i.hints_bought as usize, "hint", "hints"),
        ));
    }

    let mut fixed = Vec::new();
    for c in i.claims.iter().flatten() {
        fixed.push(match c.outcome {
            ClaimOutcome::Verified => "A fix was claimed, and the referee's probes stayed green through the verification window.".to_owned(),
            ClaimOutcome::Failed => "A fix was claimed, but the referee's probes went red: the claim was withdrawn.".to_owned(),
            ClaimOutcome::Pending => "A fix was claimed; its verification had not finished.".to_owned(),
        });
    }
    let reason = i.closed_reason.as_deref().unwrap_or("no reason given");
    match i.outcome {
        Some(Outcome::Resolved) => match (i.time_to_resolve_ms, i.points) {
            (Some(ms), Some(points)) => fixed.push(format!(
                "Resolved by the team {}: {reason}, for {} points.",
                after_open(ms),
                points.resolve
            )),
            _ => fixed.push(format!("Resolved by the team: {reason}.")),
        },
        Some(Outcome::RanOut) => fixed.push(
            "It ran out: a timed scenario ends by itself, with points for detecting and diagnosing it only."
                .into(),
        ),
        Some(Outcome::Expired) => fixed.push("Its deadline passed before it was resolved.".into()),
        Some(Outcome::Cancelled) => fixed.push(format!("Cancelled: {reason}.")),
        Some(Outcome::NeverDetected) => {
            fixed.push(format!("Never detected: {reason} before the team saw it."))
        }
        None => fixed.push("Not resolved yet.".into()),
    }
    let timed = i.resolution == Some(crate::events::Resolution::Timed);
    if i.healed_without_team == Some(true) && i.state == IncidentState::Resolved && !timed {
        fixed.push(
            "A fault went away by its timer or by itself before a claim: no resolution points."
                .into(),
        );
    }

    let target = i
        .ground_truth
        .as_ref()
        .map_or("this target".to_owned(), |d| d.target.clone());
    let kind = i
        .ground_truth
        .as_ref()
        .map_or("this kind of fault".to_owned(), |d| d.kind.clone());
    let mut improve = Vec::new();
    match (i.detected_ms, i.state) {
        (None, IncidentState::Cancelled) => improve.push(
            "It was cancelled before anyone saw it: replay it another day to learn how it shows."
                .into(),
        ),
        (None, state) if state.is_closed() => improve.push(format!(
            "Nobody saw it: which signal would have shown the {kind} fault on {target}? Add an alert or a dashboard panel for it."
        )),
        _ => {}
    }
    if let (Some(ttd), Some(median)) = (i.time_to_detect_ms, summary.time_to_detect.median_ms)
        && summary.time_to_detect.count > 1
        && ttd > median
    {
        improve.push(format!(
            "Detection took {}, slower than the game's median of {}: review the alerting thresholds and dashboards for {target}.",
            human_duration(ttd),
            human_duration(median)
        ));
    } else if let Some(ttd) = i.time_to_detect_ms
        && u128::from(ttd) * 2 > rules.detect.over.as_millis()
    {
        improve.push(format!(
            "Detection took {}: could an alert have fired sooner?",
            human_duration(ttd)
        ));
    }
    if matches!(&i.detection, Some(d) if d.how == DetectedBy::Declaration) {
        improve.push(format!(
            "A person noticed it before any alert fired: could an alert on {target} page the team first?"
        ));
    }
    let wrong = i.diagnoses.iter().flatten().filter(|d| !d.correct).count();
    if wrong > 0 {
        let right = if i.diagnosed_ms.is_some() {
            "before the right one"
        } else {
            "and none right"
        };
        improve.push(format!(
            "{} {right}: a runbook for {kind} faults on {target} would shorten the search.",
            plural(wrong, "wrong diagnosis", "wrong diagnoses")
        ));
    }
    if i.diagnoses.as_ref().is_some_and(|d| !d.is_empty())
        && i.diagnosed_ms.is_none()
        && i.state.is_closed()
    {
        improve
            .push("It was never diagnosed correctly: what would have pointed at the cause?".into());
    }
    if i.hints_bought > 0 {
        improve.push(
            "Hints were bought: what did they say that your dashboards and runbooks did not? Write it down where the next on-call will find it."
                .into(),
        );
    }
    if i.claims
        .iter()
        .flatten()
        .any(|c| c.outcome == ClaimOutcome::Failed)
    {
        improve.push(
            "A fix was claimed too early: how do you check that a repair worked before calling it done?"
                .into(),
        );
    }
    if let (Some(ttr), Some(median)) = (i.time_to_resolve_ms, summary.time_to_resolve.median_ms)
        && summary.time_to_resolve.count > 1
        && ttr > median
    {
        improve.push(format!(
            "The repair took {}, slower than the game's median of {}: which step took longest, and can it be automated?",
            human_duration(ttr),
            human_duration(median)
        ));
    }
    if i.outcome == Some(Outcome::Expired) {
        improve.push(
            "The deadline passed: what blocked the repair? Rehearse it, or automate the fix."
                .into(),
        );
    }
    if i.healed_without_team == Some(true) && !timed {
        improve.push(
            "The system recovered without the team: was that by design (a timeout, a restart policy), and would you have known?"
                .into(),
        );
    }
    if i.state == IncidentState::Resolved && improve.is_empty() {
        improve.push(
            "It went well: write down what made it quick, so that other teams can do the same."
                .into(),
        );
    }

    Postmortem {
        incident: i.id,
        team: i.team.clone(),
        title,
        in_progress: !i.state.is_closed(),
        what_happened: what,
        when_seen: seen,
        how_found: found,
        how_fixed: fixed,
        to_improve: improve,
    }
}

/// The teams of a report's incidents and scoreboard, in scoreboard order (for charts that
/// give each team a color).
pub fn team_order(report: &Report) -> Vec<String> {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    for name in report
        .teams
        .iter()
        .map(|t| t.team.as_str())
        .chain(report.incidents.iter().map(|i| i.team.as_str()))
    {
        if seen.insert(name) {
            out.push(name.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Hint, Resolution};
    use crate::incident::GameState;

    fn ev(seq: u64, second: i64, actor: Actor, kind: EventKind) -> Event {
        Event {
            seq,
            at_ms: second * 1000,
            actor,
            kind,
        }
    }

    fn player(team: &str) -> Actor {
        Actor::Team {
            team: team.into(),
            player: format!("{team}-player"),
        }
    }

    fn opened(
        id: u64,
        team: &str,
        scenario: &str,
        resolution: Resolution,
        target: &str,
        kind: &str,
    ) -> EventKind {
        EventKind::IncidentOpened {
            incident: IncidentId(id),
            team: team.into(),
            scenario: scenario.into(),
            difficulty: 2,
            resolution,
            diagnosis: Diagnosis {
                target: target.into(),
                kind: kind.into(),
            },
            faults: vec![FaultSummary {
                target: target.into(),
                kind: kind.into(),
                description: format!("{kind} on {target}"),
                alert_match: crate::alerting::AlertMatch::labels([("service", target)]),
            }],
            hints: vec![Hint {
                text: format!("look at {target}"),
                cost: 30,
            }],
            deadline_ms: 1_800_000,
            mirrors: Vec::new(),
        }
    }

    fn diagnosed(team: &str, id: u64, target: &str, kind: &str) -> EventKind {
        EventKind::Diagnosed {
            team: team.into(),
            incident: IncidentId(id),
            diagnosis: Diagnosis {
                target: target.into(),
                kind: kind.into(),
            },
        }
    }

    /// Two teams; #1 diagnosed after a wrong try and a hint, #2 fixed after a failed claim
    /// and a pause, #3 never detected and still open; a false alarm, an adjustment, the kill
    /// switch.
    fn game(ended: bool) -> Vec<Event> {
        let gm = Actor::GameMaster {
            player: "gm".into(),
        };
        let mut events = vec![
            ev(
                1,
                0,
                gm.clone(),
                EventKind::GameStarted {
                    teams: vec!["checkout".into(), "search".into()],
                    rules: None,
                },
            ),
            ev(
                2,
                60,
                Actor::System,
                opened(
                    1,
                    "checkout",
                    "slow-database",
                    Resolution::Diagnose,
                    "cart-db-link",
                    "latency",
                ),
            ),
            ev(
                3,
                120,
                Actor::System,
                opened(
                    2,
                    "search",
                    "search-down",
                    Resolution::Fix,
                    "search",
                    "kill",
                ),
            ),
            ev(
                4,
                150,
                player("search"),
                EventKind::Declared {
                    team: "search".into(),
                    target: "cart".into(),
                },
            ),
            ev(
                5,
                180,
                player("checkout"),
                EventKind::Declared {
                    team: "checkout".into(),
                    target: "cart-db-link".into(),
                },
            ),
            ev(
                6,
                200,
                player("checkout"),
                EventKind::HintBought {
                    team: "checkout".into(),
                    incident: IncidentId(1),
                    hint: 0,
                },
            ),
            ev(
                7,
                240,
                player("checkout"),
                diagnosed("checkout", 1, "cart-db-link", "kill"),
            ),
            ev(
                8,
                300,
                player("checkout"),
                diagnosed("checkout", 1, "cart-db-link", "latency"),
            ),
            ev(
                9,
                310,
                Actor::System,
                EventKind::FaultReverted {
                    incident: IncidentId(1),
                    target: "cart-db-link".into(),
                    cause: RevertCause::Diagnosis,
                },
            ),
            ev(
                10,
                400,
                Actor::Alert {
                    team: "search".into(),
                },
                EventKind::AlertFired {
                    team: "search".into(),
                    labels: BTreeMap::from([("service".into(), "search".into())]),
                    starts_at_ms: 390_000,
                    fingerprint: String::new(),
                },
            ),
            ev(
                11,
                420,
                player("search"),
                EventKind::ResolutionClaimed {
                    team: "search".into(),
                    incident: IncidentId(2),
                },
            ),
            ev(
                12,
                440,
                Actor::System,
                EventKind::VerificationFailed {
                    incident: IncidentId(2),
                },
            ),
            ev(
                13,
                450,
                gm.clone(),
                EventKind::GamePaused {
                    reason: "lunch".into(),
                },
            ),
            ev(14, 750, gm.clone(), EventKind::GameResumed),
            ev(
                15,
                800,
                player("search"),
                EventKind::ResolutionClaimed {
                    team: "search".into(),
                    incident: IncidentId(2),
                },
            ),
            ev(
                16,
                830,
                Actor::System,
                EventKind::Verified {
                    incident: IncidentId(2),
                },
            ),
            ev(
                17,
                900,
                Actor::System,
                opened(
                    3,
                    "checkout",
                    "secret-cpu-hog",
                    Resolution::Timed,
                    "cart-host",
                    "cpu",
                ),
            ),
            ev(
                18,
                1010,
                gm.clone(),
                EventKind::Adjusted {
                    team: "search".into(),
                    points: 15,
                    reason: "great postmortem".into(),
                },
            ),
            ev(19, 1020, gm.clone(), EventKind::Aborted { reverted: 1 }),
            ev(20, 1030, gm.clone(), EventKind::Rearmed),
        ];
        if ended {
            events.push(ev(21, 1100, gm, EventKind::GameEnded));
        }
        events
    }

    fn build_for(viewer: &Viewer, ended: bool) -> Report {
        build(&ScoringRules::default(), &game(ended), viewer, None)
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[7]), Some(7));
        assert_eq!(median(&[1, 4]), Some(2), "the mean, rounded down");
        assert_eq!(median(&[1, 2, 9]), Some(2));
        assert_eq!(median(&[1, 3, 5, 100]), Some(4));
        assert_eq!(median(&[u64::MAX, u64::MAX]), Some(u64::MAX), "no overflow");
        assert_eq!(median(&[u64::MAX - 2, u64::MAX]), Some(u64::MAX - 1));
        let d = Durations::of([30, 10, 20, 40]);
        assert_eq!(
            d,
            Durations {
                count: 4,
                median_ms: Some(25),
                min_ms: Some(10),
                max_ms: Some(40)
            }
        );
        assert_eq!(Durations::of([]), Durations::default());
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(999), "0s");
        assert_eq!(human_duration(45_000), "45s");
        assert_eq!(human_duration(125_000), "2m 05s");
        assert_eq!(human_duration(3_720_000), "1h 02m");
    }

    #[test]
    fn breakdowns_add_up_to_the_scoreboard_for_every_viewer() {
        let state = GameState::replay(ScoringRules::default(), &game(true));
        let board = state.scoreboard();
        for viewer in [
            Viewer::GameMaster,
            Viewer::Spectator,
            Viewer::Team("checkout".into()),
        ] {
            for ended in [false, true] {
                let report = build_for(&viewer, ended);
                let board = if ended {
                    board.clone()
                } else {
                    GameState::replay(ScoringRules::default(), &game(false)).scoreboard()
                };
                assert_eq!(report.teams.len(), board.len());
                for (figures, score) in report.teams.iter().zip(&board) {
                    assert_eq!(figures.team, score.team);
                    assert_eq!(figures.points, score.points);
                    assert_eq!(figures.breakdown.total(), score.points);
                    // The incidents shown plus what belongs to no incident: the whole score.
                    let incidents: i64 = report
                        .incidents
                        .iter()
                        .filter(|i| i.team == figures.team)
                        .filter_map(|i| i.points_total)
                        .sum();
                    let extra = state.team_extra[&figures.team].0.total();
                    assert_eq!(
                        incidents + extra,
                        figures.points,
                        "{viewer:?} {}",
                        figures.team
                    );
                    let last = report
                        .score_over_time
                        .iter()
                        .find(|s| s.team == figures.team)
                        .and_then(|s| s.points.last())
                        .map_or(0, |p| p.points);
                    assert_eq!(last, figures.points, "the series ends at the score");
                }
            }
        }
        // checkout: detect (100 - 80*120/600) * 2 = 168, a 30-point hint, a wrong try -50,
        // the right one +200, healed at 240 s: (200 - 150*240/1800) * 2 = 360.
        let checkout = &build_for(&Viewer::GameMaster, true).teams[0];
        assert_eq!(checkout.team, "checkout");
        assert_eq!(
            checkout.breakdown,
            Breakdown {
                detect: 168,
                diagnose: 150,
                resolve: 360,
                hints: -30,
                penalties: 0,
                adjustments: 0
            }
        );
    }

    #[test]
    fn times_to_detect_and_resolve_per_team_and_scenario() {
        let report = build_for(&Viewer::GameMaster, true);
        let search = report.teams.iter().find(|t| t.team == "search").unwrap();
        // #2: opened at 120 s, the alert started at 390 s and came at 400 s (detection counts
        // when it comes); claimed at 800 s with 300 s of pause.
        assert_eq!(search.time_to_detect.median_ms, Some(280_000));
        assert_eq!(search.time_to_resolve.median_ms, Some(380_000));
        assert_eq!(search.false_alarms, 1);
        assert_eq!(search.breakdown.penalties, -10);
        assert_eq!(search.breakdown.adjustments, 15);
        let all = report.summary;
        assert_eq!(all.time_to_detect.count, 2);
        assert_eq!(all.time_to_detect.median_ms, Some((120_000 + 280_000) / 2));
        assert_eq!(all.time_to_resolve.median_ms, Some((240_000 + 380_000) / 2));
        let o = all.outcomes;
        assert_eq!((all.incidents, o.cancelled, o.resolved), (3, 1, 2));
        assert_eq!(
            Outcome::ALL.iter().map(|k| o.count(*k)).sum::<u32>() + all.open,
            all.incidents,
            "each incident has one outcome or is open"
        );
        let scenario = report
            .scenarios
            .iter()
            .find(|s| s.scenario == "slow-database")
            .unwrap();
        assert_eq!(scenario.time_to_detect.median_ms, Some(120_000));
        assert_eq!(scenario.time_to_resolve.median_ms, Some(240_000));
        assert_eq!(report.running_ms, 1_100_000 - 300_000);
        let claims = report.incidents[1].claims.as_ref().unwrap();
        assert_eq!(
            claims.iter().map(|c| c.outcome).collect::<Vec<_>>(),
            [ClaimOutcome::Failed, ClaimOutcome::Verified]
        );
    }

    #[test]
    fn the_timeline_merges_every_kind_of_step() {
        let report = build_for(&Viewer::GameMaster, true);
        let kinds: BTreeSet<TimelineKind> = report.timeline.iter().map(|t| t.kind).collect();
        for kind in [
            TimelineKind::GameStarted,
            TimelineKind::Injection,
            TimelineKind::FalseAlarm,
            TimelineKind::Declaration,
            TimelineKind::Hint,
            TimelineKind::Diagnosis,
            TimelineKind::Revert,
            TimelineKind::Alert,
            TimelineKind::Claim,
            TimelineKind::VerificationFailed,
            TimelineKind::Paused,
            TimelineKind::Resumed,
            TimelineKind::Resolved,
            TimelineKind::Adjustment,
            TimelineKind::KillSwitch,
            TimelineKind::Rearmed,
            TimelineKind::Cancelled,
            TimelineKind::GameEnded,
        ] {
            assert!(kinds.contains(&kind), "{kind:?} is missing");
        }
        assert!(report.timeline.windows(2).all(|w| w[0].seq <= w[1].seq));
        let adjustment = report
            .timeline
            .iter()
            .find(|t| t.kind == TimelineKind::Adjustment)
            .unwrap();
        assert_eq!(
            (adjustment.points, adjustment.actor.as_str()),
            (15, "game master (gm)")
        );
    }

    #[test]
    fn the_live_timeline_is_the_same_folded_for_one_viewer_or_for_all() {
        let events = game(true);
        let viewers = vec![
            Viewer::GameMaster,
            Viewer::Spectator,
            Viewer::Team("checkout".into()),
            Viewer::Team("search".into()),
        ];
        // The referee's way: one feed for every viewer.
        let mut feed = secrecy::Feed::new(ScoringRules::default(), viewers.clone());
        let mut stepped = vec![Vec::new(); viewers.len()];
        for event in &events {
            for (k, told) in feed.apply(event).told.into_iter().enumerate() {
                stepped[k].extend(told.into_iter().filter_map(|t| match t {
                    secrecy::Told::Timeline(entry) => Some(entry),
                    _ => None,
                }));
            }
        }
        for (viewer, stepped) in viewers.iter().zip(stepped) {
            let folded = secrecy::timeline(&ScoringRules::default(), &events, viewer);
            assert_eq!(folded, stepped, "{viewer:?}");
            assert!(!folded.is_empty());
        }
        // Every entry says what it is about, in the JSON too.
        let live = secrecy::timeline(&ScoringRules::default(), &events, &Viewer::GameMaster);
        let kinds: BTreeSet<TimelineKind> = live.iter().map(|e| e.kind).collect();
        for kind in [
            TimelineKind::GameStarted,
            TimelineKind::Injection,
            TimelineKind::FalseAlarm,
            TimelineKind::Declaration,
            TimelineKind::Alert,
            TimelineKind::Hint,
            TimelineKind::Diagnosis,
            TimelineKind::Revert,
            TimelineKind::Claim,
            TimelineKind::Paused,
            TimelineKind::Resumed,
            TimelineKind::Resolved,
            TimelineKind::Adjustment,
            TimelineKind::KillSwitch,
            TimelineKind::Rearmed,
            TimelineKind::Cancelled,
            TimelineKind::GameEnded,
        ] {
            assert!(kinds.contains(&kind), "{kind:?} is missing");
        }
        let json = serde_json::to_value(&live[0]).unwrap();
        assert_eq!(json["kind"], "game_started");
        let json = serde_json::to_string(&live).unwrap();
        assert!(json.contains(r#""kind":"kill_switch""#), "{json}");
    }

    #[test]
    fn a_spectator_never_learns_of_an_undetected_incident_while_it_is_open() {
        let report = build_for(&Viewer::Spectator, false);
        let json = serde_json::to_string(&report).unwrap();
        assert!(!json.contains("secret-cpu-hog"), "{json}");
        assert!(!json.contains("cart-host"), "{json}");
        assert!(report.incidents.iter().all(|i| i.id != IncidentId(3)));
        assert!(
            report
                .timeline
                .iter()
                .all(|t| t.incident != Some(IncidentId(3)))
        );
        assert!(
            report
                .postmortems
                .iter()
                .all(|p| p.incident != IncidentId(3))
        );
        // Nor does the other team; the game master does.
        let other =
            serde_json::to_string(&build_for(&Viewer::Team("search".into()), false)).unwrap();
        assert!(!other.contains("secret-cpu-hog"));
        let gm = serde_json::to_string(&build_for(&Viewer::GameMaster, false)).unwrap();
        assert!(gm.contains("secret-cpu-hog"));
        // Once the game ended it closed (cancelled): the postmortem may tell it.
        let after = serde_json::to_string(&build_for(&Viewer::Spectator, true)).unwrap();
        assert!(after.contains("secret-cpu-hog"));
    }

    #[test]
    fn a_team_sees_its_own_detected_incident_without_the_ground_truth_until_it_closes() {
        let mut events = game(false);
        events.truncate(12); // #2 detected, claimed, verification failed: still open.
        let report = build(
            &ScoringRules::default(),
            &events,
            &Viewer::Team("search".into()),
            None,
        );
        let two = report
            .incidents
            .iter()
            .find(|i| i.id == IncidentId(2))
            .unwrap();
        assert_eq!(two.state, IncidentState::Detected);
        assert_eq!(
            (
                two.scenario.as_ref(),
                two.ground_truth.as_ref(),
                two.faults.as_ref()
            ),
            (None, None, None)
        );
        assert_eq!(two.opened_ms, Some(120_000), "its own: when it opened");
        assert_eq!(two.claims.as_ref().map(Vec::len), Some(1));
        let json = serde_json::to_string(&report).unwrap();
        assert!(!json.contains("search-down"), "{json}");
        // checkout's closed #1 is public now, its hint's text stays checkout's.
        let one = report
            .incidents
            .iter()
            .find(|i| i.id == IncidentId(1))
            .unwrap();
        assert_eq!(one.scenario.as_deref(), Some("slow-database"));
        assert!(one.hints.is_none());
        assert!(!json.contains("look at cart-db-link"));
        let spectator = build(&ScoringRules::default(), &events, &Viewer::Spectator, None);
        let two = spectator
            .incidents
            .iter()
            .find(|i| i.id == IncidentId(2))
            .unwrap();
        assert_eq!(
            (two.opened_ms, two.time_to_detect_ms, two.claims.as_ref()),
            (None, None, None)
        );
    }

    #[test]
    fn postmortems_ask_what_the_figures_suggest() {
        let report = build_for(&Viewer::GameMaster, true);
        let one = &report.postmortems[0];
        let improve = one.to_improve.join("\n");
        assert!(improve.contains("runbook"), "{improve}");
        assert!(improve.contains("Hints were bought"), "{improve}");
        assert!(improve.contains("before any alert"), "{improve}");
        assert!(
            one.what_happened
                .iter()
                .any(|l| l.contains("latency on cart-db-link"))
        );
        let two = report.postmortems[1].to_improve.join("\n");
        assert!(two.contains("claimed too early"), "{two}");
        assert!(two.contains("slower than the game's median"), "{two}");
        let three = report.postmortems[2].to_improve.join("\n");
        assert!(three.contains("cancelled before anyone saw it"), "{three}");
        assert!(!report.postmortems[2].in_progress);
        // Had its timer ended it, nobody would have seen it.
        let mut events = game(false);
        events.push(ev(
            21,
            1050,
            Actor::System,
            EventKind::FaultReverted {
                incident: IncidentId(3),
                target: "cart-host".into(),
                cause: RevertCause::Timer,
            },
        ));
        let report = build(&ScoringRules::default(), &events, &Viewer::GameMaster, None);
        let three = report.postmortems[2].to_improve.join("\n");
        assert!(
            three.contains("which signal would have shown the cpu fault on cart-host"),
            "{three}"
        );
        assert!(
            !three.contains("recovered without the team"),
            "a timed scenario ends by design"
        );
    }
}
