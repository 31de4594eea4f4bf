//! What each viewer may see of the same game: the game master everything; a team its own
//! incidents once detected (the ground truth only once closed) and what is public of the
//! others; spectators only incidents that were detected or have closed. A pure projection of
//! [`GameState`] and of the log.

use serde::Serialize;

use crate::events::{Diagnosis, Event, EventKind, FaultSummary, IncidentId, Resolution};
use crate::incident::{Breakdown, GameState, Incident, IncidentState, Status, TeamScore};
use crate::scoring::ScoringRules;

/// Who is looking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// Anyone, read-only: the big screen.
    Spectator,
    /// A player of this team.
    Team(String),
    /// The game master.
    GameMaster,
}

/// A hint as a viewer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HintView {
    /// Its index, to buy it.
    pub index: usize,
    /// Its price.
    pub cost: u32,
    /// Its text, once bought (or for the game master, or once the incident closed).
    pub text: Option<String>,
    /// Whether the team bought it.
    pub bought: bool,
}

/// An incident as a viewer sees it. `None` means hidden from this viewer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentView {
    /// Its number.
    pub id: IncidentId,
    /// The team it is against.
    pub team: String,
    /// Where it is.
    pub state: IncidentState,
    /// The scenario (once closed).
    pub scenario: Option<String>,
    /// Its difficulty (to its team, and once closed).
    pub difficulty: Option<u32>,
    /// How it ends (to its team, and once closed).
    pub resolution: Option<Resolution>,
    /// When its faults became active (to its team once detected, and once closed).
    pub opened_ms: Option<i64>,
    /// When it was detected.
    pub detected_ms: Option<i64>,
    /// When it closed.
    pub closed_ms: Option<i64>,
    /// Why it closed.
    pub closed_reason: Option<String>,
    /// The ground truth (once closed).
    pub diagnosis: Option<Diagnosis>,
    /// Its faults (once closed).
    pub faults: Option<Vec<FaultSummary>>,
    /// Its hints (to its team).
    pub hints: Option<Vec<HintView>>,
    /// Diagnoses submitted (to its team).
    pub tries: Option<u32>,
    /// Whether a fix is claimed and being verified (to its team).
    pub claimed: Option<bool>,
    /// The points it earned or cost.
    pub points: Breakdown,
}

/// A game as a viewer sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct View {
    /// Where the game is.
    pub status: Status,
    /// The standings.
    pub scoreboard: Vec<TeamScore>,
    /// The incidents this viewer may see, oldest first.
    pub incidents: Vec<IncidentView>,
}

/// Whether `viewer` may know that `incident` exists.
pub fn can_see(incident: &Incident, viewer: &Viewer) -> bool {
    match viewer {
        Viewer::GameMaster => true,
        _ => incident.detected_ms.is_some() || incident.state.is_closed(),
    }
}

/// `incident` as `viewer` sees it, or `None` if it may not know of it.
pub fn incident_view(incident: &Incident, viewer: &Viewer) -> Option<IncidentView> {
    if !can_see(incident, viewer) {
        return None;
    }
    let gm = *viewer == Viewer::GameMaster;
    let own = gm || matches!(viewer, Viewer::Team(team) if *team == incident.team);
    let closed = incident.state.is_closed();
    let truth = gm || closed;
    Some(IncidentView {
        id: incident.id,
        team: incident.team.clone(),
        state: incident.state,
        scenario: truth.then(|| incident.scenario.clone()),
        difficulty: (own || closed).then_some(incident.difficulty),
        resolution: (own || closed).then_some(incident.resolution),
        opened_ms: (own || closed).then_some(incident.opened_ms),
        detected_ms: incident.detected_ms,
        closed_ms: incident.closed_ms,
        closed_reason: incident.closed_reason.clone(),
        diagnosis: truth.then(|| incident.diagnosis.clone()),
        faults: truth.then(|| incident.faults.clone()),
        hints: own.then(|| {
            incident
                .hints
                .iter()
                .enumerate()
                .map(|(index, hint)| {
                    let bought = incident.hints_bought.contains(&index);
                    HintView {
                        index,
                        cost: hint.cost,
                        text: (bought || truth).then(|| hint.text.clone()),
                        bought,
                    }
                })
                .collect()
        }),
        tries: own.then_some(incident.tries),
        claimed: own.then_some(incident.claimed_ms.is_some()),
        points: incident.points,
    })
}

/// The game as `viewer` sees it.
pub fn view(state: &GameState, viewer: &Viewer) -> View {
    View {
        status: state.status,
        scoreboard: state.scoreboard(),
        incidents: state
            .incidents
            .values()
            .filter_map(|i| incident_view(i, viewer))
            .collect(),
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// The event it comes from.
    pub seq: u64,
    /// When.
    pub at_ms: i64,
    /// The team concerned, if one.
    pub team: Option<String>,
    /// The incident concerned, if one.
    pub incident: Option<IncidentId>,
    /// What happened, for people.
    pub text: String,
    /// The change in the team's points.
    pub points: i64,
}

/// The timeline of the game as `viewer` may see it, replaying `events` under `rules`.
/// An event shows only if it says nothing the viewer may not know at that moment.
pub fn timeline(rules: &ScoringRules, events: &[Event], viewer: &Viewer) -> Vec<TimelineEntry> {
    let mut state = GameState::new(rules.clone());
    let mut out = Vec::new();
    for event in events {
        let before = state.clone();
        state.apply(event);
        out.extend(timeline_step(&before, &state, event, viewer));
    }
    out
}

/// How one part of an incident's points changed with an event.
fn delta(
    before: &GameState,
    after: &GameState,
    id: IncidentId,
    part: fn(&Breakdown) -> i64,
) -> i64 {
    let of = |state: &GameState| state.incidents.get(&id).map_or(0, |i| part(&i.points));
    of(after) - of(before)
}

/// The timeline entries `viewer` may see for `event`, given the state `before` and `after`
/// it was applied: the step of [`timeline`], for servers that fold events in as they come.
pub fn timeline_step(
    before: &GameState,
    after: &GameState,
    event: &Event,
    viewer: &Viewer,
) -> Vec<TimelineEntry> {
    let gm = *viewer == Viewer::GameMaster;
    let entry = |team: Option<&str>, incident: Option<IncidentId>, text: String, points: i64| {
        TimelineEntry {
            seq: event.seq,
            at_ms: event.at_ms,
            team: team.map(str::to_owned),
            incident,
            text,
            points,
        }
    };
    let visible = |id: IncidentId| after.incidents.get(&id).is_some_and(|i| can_see(i, viewer));
    let mut out = Vec::new();
    match &event.kind {
        EventKind::GameStarted { teams, .. } => out.push(entry(
            None,
            None,
            format!("the game started: {}", teams.join(", ")),
            0,
        )),
        EventKind::GamePaused { reason } => out.push(entry(
            None,
            None,
            format!("the game is paused: {reason}"),
            0,
        )),
        EventKind::GameResumed => out.push(entry(None, None, "the game resumed".into(), 0)),
        EventKind::GameEnded => out.push(entry(None, None, "the game ended".into(), 0)),
        EventKind::IncidentOpened {
            incident,
            team,
            scenario,
            ..
        } if gm => {
            out.push(entry(
                Some(team),
                Some(*incident),
                format!("{incident} opened: {scenario} against {team}"),
                0,
            ));
        }
        EventKind::Declared { team, .. } | EventKind::AlertFired { team, .. } => {
            let detected: Vec<IncidentId> = after
                .incidents
                .values()
                .filter(|i| {
                    i.detected_ms.is_some()
                        && before
                            .incidents
                            .get(&i.id)
                            .is_some_and(|b| b.detected_ms.is_none())
                })
                .map(|i| i.id)
                .collect();
            let how = if matches!(event.kind, EventKind::AlertFired { .. }) {
                "an alert of"
            } else {
                ""
            };
            for id in &detected {
                let text = format!("{how} {team} detected incident {id}")
                    .trim()
                    .to_owned();
                out.push(entry(
                    Some(team),
                    Some(*id),
                    text,
                    delta(before, after, *id, |p| p.detect),
                ));
            }
            let false_alarm =
                after.team_extra.get(team).map(|e| e.1) != before.team_extra.get(team).map(|e| e.1);
            if false_alarm {
                let text = match (gm || *viewer == Viewer::Team(team.clone()), &event.kind) {
                    (true, EventKind::Declared { target, .. }) => {
                        format!("{team}: false alarm on {target}")
                    }
                    _ => format!("{team}: false alarm"),
                };
                out.push(entry(
                    Some(team),
                    None,
                    text,
                    -i64::from(after.rules.false_alarm),
                ));
            }
        }
        EventKind::Diagnosed {
            team,
            incident,
            diagnosis,
        } if visible(*incident) => {
            let b = before.incidents.get(incident);
            let a = after.incidents.get(incident);
            if let (Some(b), Some(a)) = (b, a)
                && a.tries > b.tries
            {
                let correct = a.diagnosed_ms.is_some() && b.diagnosed_ms.is_none();
                let own = gm || *viewer == Viewer::Team(team.clone());
                let what = if own {
                    format!(" ({} {})", diagnosis.kind, diagnosis.target)
                } else {
                    String::new()
                };
                let verdict = if correct { "right" } else { "wrong" };
                let text = format!("{team}: {verdict} diagnosis of {incident}{what}");
                out.push(entry(
                    Some(team),
                    Some(*incident),
                    text,
                    delta(before, after, *incident, |p| p.diagnose),
                ));
            }
        }
        EventKind::HintBought { team, incident, .. } if visible(*incident) && before != after => {
            let text = format!("{team} bought a hint for {incident}");
            out.push(entry(
                Some(team),
                Some(*incident),
                text,
                delta(before, after, *incident, |p| p.hints),
            ));
        }
        EventKind::ResolutionClaimed { team, incident }
            if visible(*incident) && before != after =>
        {
            out.push(entry(
                Some(team),
                Some(*incident),
                format!("{team} claims {incident} fixed"),
                0,
            ));
        }
        EventKind::Adjusted {
            team,
            points,
            reason,
        } => {
            let text = format!("the game master adjusted {team} by {points}: {reason}");
            out.push(entry(Some(team), None, text, *points));
        }
        EventKind::Aborted { reverted } => out.push(entry(
            None,
            None,
            format!("the kill switch: {reverted} fault(s) reverted, no new fault until re-armed"),
            0,
        )),
        EventKind::Rearmed => out.push(entry(
            None,
            None,
            "re-armed: faults may be injected again".into(),
            0,
        )),
        EventKind::GuardFailed { guard, detail } if gm => out.push(entry(
            None,
            None,
            format!("guard {guard} failed: {detail}"),
            0,
        )),
        EventKind::FaultReverted {
            incident,
            target,
            cause,
        } if gm => {
            out.push(entry(
                None,
                Some(*incident),
                format!("fault on {target} of {incident} reverted ({cause:?})"),
                0,
            ));
        }
        _ => {}
    }
    // Closings, whatever closed them.
    for (id, a) in &after.incidents {
        let was_open = before
            .incidents
            .get(id)
            .is_some_and(|b| !b.state.is_closed());
        if was_open && a.state.is_closed() && can_see(a, viewer) {
            let how = match a.state {
                IncidentState::Resolved => "resolved",
                IncidentState::Expired => "expired",
                _ => "cancelled",
            };
            let reason = a.closed_reason.as_deref().unwrap_or_default();
            let text = format!("{id} of {} {how}: {} ({reason})", a.team, a.scenario);
            out.push(entry(
                Some(&a.team),
                Some(*id),
                text,
                delta(before, after, *id, |p| p.resolve),
            ));
        }
    }
    out
}
