//! What each viewer may see of the same game: the game master everything; a team its own
//! incidents once detected (the ground truth only once closed) and what is public of the
//! others; spectators only incidents that were detected or have closed. A pure projection of
//! [`GameState`] and of the log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::{Diagnosis, Event, FaultSummary, IncidentId, Resolution};
use crate::incident::{Breakdown, GameState, Incident, IncidentState, Outcome, Status, TeamScore};
use crate::scoring::ScoringRules;
use crate::timeline::{Change, Telling, Timeline, tell};

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
    /// The target its team named when it declared it (to its team; none if an alert
    /// detected it).
    pub declared_target: Option<String>,
    /// Running time its team has from the opening to the deadline, ms (to its team, and
    /// once closed).
    pub deadline_ms: Option<u64>,
    /// The game clock (running time since the start, pauses left out) when its faults
    /// became active, ms (to its team, and once public). While it is open, its "open for"
    /// is the game clock now (`GameInfo.clock_ms`) less this.
    pub opened_clock_ms: Option<u64>,
    /// Once closed, how long it was open: running time from its opening to its closing, ms
    /// (to its team, and once public). The one "open for" of every screen.
    pub open_for_ms: Option<u64>,
    /// When it closed.
    pub closed_ms: Option<i64>,
    /// Why it closed, for people.
    pub closed_reason: Option<String>,
    /// How it ended, once closed (the one vocabulary of every screen).
    pub outcome: Option<Outcome>,
    /// Running time from its opening to its detection, ms (to its team, and once public).
    pub time_to_detect_ms: Option<u64>,
    /// Running time from its opening to its resolution by the team (the fix claimed and
    /// verified, or the healing diagnosis), ms (to its team, and once public).
    pub time_to_resolve_ms: Option<u64>,
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
    /// The points it earned or cost (to its team, and once public: points say its
    /// difficulty and time to detect).
    pub points: Option<Breakdown>,
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

/// What `viewer` may know of `incident` as it stands. An incident's details and ground
/// truth become everyone's once it is [`Incident::public`]: closed, and for a mirrored
/// scenario every team's copy closed too (until then its own team knows its details only).
pub fn access(incident: &Incident, viewer: &Viewer) -> Access {
    let visible = can_see(incident, viewer);
    let gm = *viewer == Viewer::GameMaster;
    let own = gm || matches!(viewer, Viewer::Team(team) if *team == incident.team);
    Access {
        visible,
        own: visible && own,
        detail: visible && (own || incident.public),
        truth: visible && (gm || incident.public),
    }
}

/// `incident` as `viewer` sees it, or `None` if it may not know of it.
pub fn incident_view(incident: &Incident, viewer: &Viewer) -> Option<IncidentView> {
    let Access {
        visible,
        own,
        detail,
        truth,
    } = access(incident, viewer);
    if !visible {
        return None;
    }
    Some(IncidentView {
        id: incident.id,
        team: incident.team.clone(),
        state: incident.state,
        scenario: truth.then(|| incident.scenario.clone()),
        difficulty: detail.then_some(incident.difficulty),
        resolution: detail.then_some(incident.resolution),
        opened_ms: detail.then_some(incident.opened_ms),
        detected_ms: incident.detected_ms,
        declared_target: own.then(|| incident.declared_target.clone()).flatten(),
        deadline_ms: detail.then_some(incident.deadline_ms),
        opened_clock_ms: detail.then_some(incident.opened_clock_ms),
        open_for_ms: detail.then_some(incident.open_for_ms).flatten(),
        closed_ms: incident.closed_ms,
        closed_reason: incident.closed_reason.clone(),
        outcome: incident.outcome(),
        time_to_detect_ms: detail.then_some(incident.time_to_detect_ms).flatten(),
        time_to_resolve_ms: detail.then_some(incident.time_to_resolve_ms).flatten(),
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
        points: detail.then_some(incident.points),
    })
}

/// The standings as `viewer` may know them: an incident's points count once the viewer
/// may know its details (its own team's at once, another team's once it is public), since
/// points encode difficulty and time to detect.
pub fn scoreboard(state: &GameState, viewer: &Viewer) -> Vec<TeamScore> {
    match viewer {
        Viewer::GameMaster => state.scoreboard(),
        _ => state.scoreboard_counting(|i| access(i, viewer).detail),
    }
}

/// The incidents `viewer` may see, in the order it came to know them: the game master by
/// opening, everyone else by detection (or closing, for one never detected), so that the
/// order says nothing of when another team's incident opened.
pub fn visible_incidents<'a>(state: &'a GameState, viewer: &Viewer) -> Vec<&'a Incident> {
    let mut seen: Vec<&Incident> = state
        .incidents
        .values()
        .filter(|i| can_see(i, viewer))
        .collect();
    match viewer {
        Viewer::GameMaster => seen.sort_by_key(|i| (i.opened_ms, i.id)),
        _ => seen.sort_by_key(|i| (i.detected_ms.or(i.closed_ms).unwrap_or(i.opened_ms), i.id)),
    }
    seen
}

/// The fault kinds `viewer` may know a diagnosis can name: chaosday's own, and the custom
/// kinds of `scenario_kinds` (every scenario's) for the game master, or of incidents whose
/// ground truth the viewer may know.
pub fn fault_kinds<'a>(
    state: &GameState,
    viewer: &Viewer,
    scenario_kinds: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut kinds: std::collections::BTreeSet<String> = crate::FaultSpec::KINDS
        .iter()
        .map(|(kind, _)| (*kind).to_owned())
        .collect();
    match viewer {
        Viewer::GameMaster => kinds.extend(scenario_kinds.into_iter().map(str::to_owned)),
        _ => kinds.extend(
            state
                .incidents
                .values()
                .filter(|i| access(i, viewer).truth)
                .map(|i| i.diagnosis.kind.clone()),
        ),
    }
    kinds.into_iter().collect()
}

/// The game as `viewer` sees it.
pub fn view(state: &GameState, viewer: &Viewer) -> View {
    View {
        status: state.status,
        scoreboard: scoreboard(state, viewer),
        incidents: visible_incidents(state, viewer)
            .into_iter()
            .filter_map(|i| incident_view(i, viewer))
            .collect(),
    }
}

/// The timeline of the game as `viewer` may see it, replaying `events` under `rules`.
/// An event shows only if it says nothing the viewer may not know at that moment; entries
/// are numbered with the viewer's own count ([`Seqs`]), as the live stream numbers them.
pub fn timeline(rules: &ScoringRules, events: &[Event], viewer: &Viewer) -> Vec<TimelineEntry> {
    let mut feed = Feed::new(rules.clone(), vec![viewer.clone()]);
    let mut out = Vec::new();
    for event in events {
        let step = feed.apply(event);
        out.extend(
            step.told
                .into_iter()
                .flatten()
                .filter_map(|told| match told {
                    Told::Timeline(entry) => Some(entry),
                    _ => None,
                }),
        );
    }
    out
}

/// What one viewer is told of one event: a frame of the live stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Told {
    /// A line of its timeline.
    Timeline(TimelineEntry),
    /// An incident it may see, as it now sees it (only when that changed).
    Incident(Box<IncidentView>),
    /// The game's status, when it changed.
    Status(Status),
    /// The standings as it may know them, when they changed.
    Scoreboard(Vec<TeamScore>),
}

/// Each viewer's own count of the events that told it something: the sequence numbers it
/// sees (the live stream's ids, the game's `seq`, an acknowledgement's, its timeline's). A
/// count moves only on what its viewer may see, so it says nothing of anything hidden.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seqs {
    spectator: u64,
    game_master: u64,
    teams: BTreeMap<String, u64>,
}

impl Seqs {
    /// `viewer`'s count (0 for a team that is not playing).
    pub fn get(&self, viewer: &Viewer) -> u64 {
        match viewer {
            Viewer::Spectator => self.spectator,
            Viewer::GameMaster => self.game_master,
            Viewer::Team(team) => self.teams.get(team).copied().unwrap_or(0),
        }
    }

    /// Sets `viewer`'s count (a feed counts by itself; this is for tests and tools that
    /// build updates by hand).
    pub fn set(&mut self, viewer: &Viewer, seq: u64) {
        match viewer {
            Viewer::Spectator => self.spectator = seq,
            Viewer::GameMaster => self.game_master = seq,
            Viewer::Team(team) => {
                self.teams.insert(team.clone(), seq);
            }
        }
    }

    fn bump(&mut self, viewer: &Viewer) -> u64 {
        let seq = match viewer {
            Viewer::Spectator => &mut self.spectator,
            Viewer::GameMaster => &mut self.game_master,
            Viewer::Team(team) => self.teams.entry(team.clone()).or_default(),
        };
        *seq += 1;
        *seq
    }
}

/// What one event told each viewer of a [`Feed`].
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// For each viewer, in the feed's order, what it is told (empty: nothing, and its
    /// count did not move).
    pub told: Vec<Vec<Told>>,
    /// Incidents that closed with this event.
    pub closed: Vec<IncidentId>,
}

/// The game folded event by event, telling each of its viewers what it may see of each
/// event and counting, per viewer, the events that told it something: the one fold behind
/// the live stream, the live timeline and the sequence numbers every viewer sees.
#[derive(Debug, Clone)]
pub struct Feed {
    timeline: Timeline,
    viewers: Vec<Viewer>,
    /// The standings each viewer was last told.
    boards: Vec<Vec<TeamScore>>,
    seqs: Seqs,
}

impl Feed {
    /// A game before its first event, told to `viewers`.
    pub fn new(rules: ScoringRules, viewers: Vec<Viewer>) -> Self {
        let timeline = Timeline::new(rules);
        let boards = viewers
            .iter()
            .map(|viewer| scoreboard(timeline.state(), viewer))
            .collect();
        Feed {
            timeline,
            viewers,
            boards,
            seqs: Seqs::default(),
        }
    }

    /// The viewers, in the order of [`Step::told`].
    pub fn viewers(&self) -> &[Viewer] {
        &self.viewers
    }

    /// Each viewer's count so far.
    pub fn seqs(&self) -> &Seqs {
        &self.seqs
    }

    /// The game as the events folded so far leave it.
    pub fn state(&self) -> &GameState {
        self.timeline.state()
    }

    /// Folds `event` in; says what it tells each viewer.
    pub fn apply(&mut self, event: &Event) -> Step {
        let state = self.timeline.state();
        // What the event may change: the open incidents, the one it names, and their
        // mirrored copies (whose details become public when the last copy closes).
        let mut ids: std::collections::BTreeSet<IncidentId> = state
            .incidents
            .values()
            .filter(|i| !i.state.is_closed())
            .map(|i| i.id)
            .chain(event.kind.incident())
            .collect();
        let mirrors: Vec<IncidentId> = ids
            .iter()
            .filter_map(|id| state.incidents.get(id))
            .flat_map(|i| i.mirrors.iter().copied())
            .collect();
        ids.extend(mirrors);
        let before: Vec<(IncidentId, Option<Incident>)> = ids
            .into_iter()
            .map(|id| (id, state.incidents.get(&id).cloned()))
            .collect();
        let status = state.status;
        let changes = self.timeline.apply(event);
        let after = self.timeline.state();
        let closed = before
            .iter()
            .filter(|(id, was)| {
                was.as_ref().is_none_or(|w| !w.state.is_closed())
                    && after.incidents.get(id).is_some_and(|i| i.state.is_closed())
            })
            .map(|(id, _)| *id)
            .collect();
        let mut told = Vec::with_capacity(self.viewers.len());
        for (k, viewer) in self.viewers.iter().enumerate() {
            let mut frames: Vec<Told> = live_entries(&changes, after, event, viewer)
                .into_iter()
                .map(Told::Timeline)
                .collect();
            for (id, was) in &before {
                let Some(view) = after
                    .incidents
                    .get(id)
                    .and_then(|i| incident_view(i, viewer))
                else {
                    continue;
                };
                if was.as_ref().and_then(|w| incident_view(w, viewer)).as_ref() != Some(&view) {
                    frames.push(Told::Incident(Box::new(view)));
                }
            }
            if status != after.status {
                frames.push(Told::Status(after.status));
            }
            let board = scoreboard(after, viewer);
            if board != self.boards[k] {
                self.boards[k] = board.clone();
                frames.push(Told::Scoreboard(board));
            }
            if !frames.is_empty() {
                let seq = self.seqs.bump(viewer);
                for frame in &mut frames {
                    if let Told::Timeline(entry) = frame {
                        entry.seq = seq;
                    }
                }
            }
            told.push(frames);
        }
        Step { told, closed }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Actor, EventKind, FaultSummary};
    use crate::game::Resolution;

    fn event(seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            at_ms: i64::try_from(seq).unwrap() * 1000,
            actor: Actor::System,
            kind,
        }
    }

    fn opened(id: u64, team: &str, mirrors: &[u64]) -> EventKind {
        EventKind::IncidentOpened {
            incident: IncidentId(id),
            team: team.into(),
            scenario: "slow-db".into(),
            difficulty: 3,
            resolution: Resolution::Diagnose,
            diagnosis: Diagnosis {
                target: "db".into(),
                kind: "latency".into(),
            },
            faults: vec![FaultSummary {
                target: "db".into(),
                kind: "latency".into(),
                description: "latency on db".into(),
                alert_match: Default::default(),
            }],
            hints: Vec::new(),
            deadline_ms: 600_000,
            mirrors: mirrors.iter().copied().map(IncidentId).collect(),
        }
    }

    fn declared(team: &str) -> EventKind {
        EventKind::Declared {
            team: team.into(),
            target: "db".into(),
        }
    }

    fn teams() -> [Viewer; 2] {
        [Viewer::Team("a".into()), Viewer::Team("b".into())]
    }

    #[test]
    fn a_mirrored_scenarios_truth_stays_hidden_until_every_copy_has_closed() {
        let started = EventKind::GameStarted {
            teams: vec!["a".into(), "b".into()],
            rules: None,
        };
        let mut state = GameState::new(ScoringRules::default());
        let mut log = Vec::new();
        for (seq, kind) in [
            (1, started),
            (2, opened(11, "a", &[22])),
            (3, opened(22, "b", &[11])),
            (4, declared("a")),
            (5, declared("b")),
            (
                6,
                EventKind::Expired {
                    incident: IncidentId(11),
                },
            ),
        ] {
            let event = event(seq, kind);
            state.apply(&event);
            log.push(event);
        }
        // Nor does any timeline line say it, live or in a report made now.
        for viewer in [Viewer::Spectator, teams()[0].clone(), teams()[1].clone()] {
            for line in timeline(&ScoringRules::default(), &log, &viewer) {
                assert!(!line.text.contains("slow-db"), "{viewer:?}: {}", line.text);
            }
            let report = crate::report::build(&ScoringRules::default(), &log, &viewer, None);
            for line in &report.timeline {
                assert!(!line.text.contains("slow-db"), "{viewer:?}: {}", line.text);
            }
        }
        // a's copy closed, b's is open: nobody but the game master learns the truth, and
        // nobody but a learns a's copy's difficulty or points.
        let closed = &state.incidents[&IncidentId(11)];
        for viewer in [Viewer::Spectator, teams()[0].clone(), teams()[1].clone()] {
            let view = incident_view(closed, &viewer).unwrap();
            assert_eq!(view.scenario, None, "{viewer:?}");
            assert_eq!(view.diagnosis, None, "{viewer:?}");
            assert_eq!(view.faults, None, "{viewer:?}");
        }
        let theirs = incident_view(closed, &teams()[1]).unwrap();
        assert_eq!((theirs.difficulty, theirs.points), (None, None));
        let gm = incident_view(closed, &Viewer::GameMaster).unwrap();
        assert_eq!(gm.scenario.as_deref(), Some("slow-db"));

        state.apply(&event(
            7,
            EventKind::Expired {
                incident: IncidentId(22),
            },
        ));
        for id in [11, 22] {
            let view =
                incident_view(&state.incidents[&IncidentId(id)], &Viewer::Spectator).unwrap();
            assert_eq!(view.scenario.as_deref(), Some("slow-db"), "#{id}");
            assert_eq!(view.difficulty, Some(3), "#{id}");
            assert!(view.points.is_some(), "#{id}");
        }
    }

    #[test]
    fn a_hidden_event_moves_no_count_and_tells_nothing_but_to_the_game_master() {
        let viewers = vec![
            Viewer::Spectator,
            Viewer::GameMaster,
            teams()[0].clone(),
            teams()[1].clone(),
        ];
        let mut feed = Feed::new(ScoringRules::default(), viewers.clone());
        let start = feed.apply(&event(
            1,
            EventKind::GameStarted {
                teams: vec!["a".into(), "b".into()],
                rules: None,
            },
        ));
        assert!(
            start.told.iter().all(|t| !t.is_empty()),
            "everyone hears the start"
        );
        let counts = |feed: &Feed| {
            viewers
                .iter()
                .map(|v| feed.seqs().get(v))
                .collect::<Vec<_>>()
        };
        assert_eq!(counts(&feed), [1, 1, 1, 1]);

        // Opened against a, undetected: only the game master hears of it.
        let hidden = feed.apply(&event(2, opened(11, "a", &[])));
        assert_eq!(
            hidden.told.iter().map(Vec::is_empty).collect::<Vec<_>>(),
            [true, false, true, true]
        );
        assert_eq!(counts(&feed), [1, 2, 1, 1]);

        // b's false alarm is public; then a detects: a sees its points, the others do not.
        feed.apply(&event(3, declared("b")));
        assert_eq!(counts(&feed), [2, 3, 2, 2]);
        let detected = feed.apply(&event(4, declared("a")));
        assert_eq!(counts(&feed), [3, 4, 3, 3]);
        let points_told = |k: usize| {
            detected.told[k].iter().any(|t| match t {
                Told::Timeline(e) => e.points != 0,
                Told::Incident(view) => view.points.is_some(),
                Told::Scoreboard(board) => board.iter().any(|s| s.team == "a" && s.points != 0),
                Told::Status(_) => false,
            })
        };
        assert_eq!(
            (0..4).map(points_told).collect::<Vec<_>>(),
            [false, true, true, false],
            "detection points say difficulty and time to detect: the team's and the game master's"
        );
        // Entries carry the viewer's count, never the log's.
        for (k, told) in detected.told.iter().enumerate() {
            for t in told {
                if let Told::Timeline(entry) = t {
                    assert_eq!(entry.seq, counts(&feed)[k]);
                }
            }
        }
    }
}
