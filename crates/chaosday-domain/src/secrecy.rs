//! What each viewer may see of the same game: the game master everything; a team its own
//! incidents once detected (the ground truth only once closed) and what is public of the
//! others; spectators only incidents that were detected or have closed. A pure projection of
//! [`GameState`] and of the log.

use serde::{Deserialize, Serialize};

use crate::events::{Diagnosis, Event, FaultSummary, IncidentId, Resolution};
use crate::incident::{Breakdown, GameState, Incident, IncidentState, Status, TeamScore};
use crate::scoring::ScoringRules;
use crate::timeline::{Change, Marks, Telling, Timeline, tell};

pub use crate::timeline::{TimelineEntry, TimelineKind};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// An incident as a viewer sees it. `None` (`null` in JSON) means hidden from this viewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// What a viewer may know of one incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access {
    /// It may know the incident exists.
    pub visible: bool,
    /// The game master, or the incident's own team: who did what.
    pub own: bool,
    /// Its details (difficulty, opening, diagnoses, claims): its own, or once closed.
    pub detail: bool,
    /// Its scenario, faults and ground truth: the game master, or once closed.
    pub truth: bool,
}

impl Access {
    /// Nothing: an incident the viewer may not know of.
    pub const NONE: Access = Access {
        visible: false,
        own: false,
        detail: false,
        truth: false,
    };
}

/// What `viewer` may know of `incident` as it stands.
pub fn access(incident: &Incident, viewer: &Viewer) -> Access {
    let visible = can_see(incident, viewer);
    let gm = *viewer == Viewer::GameMaster;
    let own = gm || matches!(viewer, Viewer::Team(team) if *team == incident.team);
    let closed = incident.state.is_closed();
    Access {
        visible,
        own: visible && own,
        detail: visible && (own || closed),
        truth: visible && (gm || closed),
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

/// The timeline of the game as `viewer` may see it, replaying `events` under `rules`.
/// An event shows only if it says nothing the viewer may not know at that moment.
pub fn timeline(rules: &ScoringRules, events: &[Event], viewer: &Viewer) -> Vec<TimelineEntry> {
    let mut fold = Timeline::new(rules.clone());
    let mut out = Vec::new();
    for event in events {
        let changes = fold.apply(event);
        out.extend(live_entries(&changes, fold.state(), event, viewer));
    }
    out
}

/// The timeline entries `viewer` may see for `event`, given the state `before` and `after`
/// it was applied: the step of [`timeline`], for servers that fold events in as they come.
pub fn timeline_step(
    before: &GameState,
    after: &GameState,
    event: &Event,
    viewer: &Viewer,
) -> Vec<TimelineEntry> {
    let changes = crate::timeline::changes(&Marks::before(before, event), after, event);
    live_entries(&changes, after, event, viewer)
}

/// `changes` told to `viewer` as the game goes: what it may know just `after` the event.
fn live_entries(
    changes: &[Change],
    after: &GameState,
    event: &Event,
    viewer: &Viewer,
) -> Vec<TimelineEntry> {
    let access = |id: IncidentId| {
        after
            .incidents
            .get(&id)
            .map_or(Access::NONE, |i| access(i, viewer))
    };
    changes
        .iter()
        .filter_map(|change| tell(change, event, viewer, Telling::Live, access))
        .collect()
}
