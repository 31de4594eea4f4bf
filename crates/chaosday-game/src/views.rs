//! What the front ends show: the game as one viewer may see it now, with what that viewer
//! may do. The web UI, the CLI and the report read these typed models; none of them reads
//! the referee's ledger (`GameState`) or applies a secrecy or scoring rule of its own.

use chaosday_domain::events::Resolution;
use chaosday_domain::incident::{GameState, IncidentState, Status, TeamScore, standings};
use chaosday_domain::secrecy::{self, IncidentView, Viewer};
use serde::{Deserialize, Serialize};

/// The game as one viewer may see it at one moment, and what it may do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Console {
    /// The viewer's own count of the events that told it something, up to this console
    /// (never the log's sequence number: it says nothing of hidden events).
    pub seq: u64,
    /// The game's wall clock when the console was made, unix ms (ages count from it).
    pub now_ms: i64,
    /// Where the game is.
    pub status: Status,
    /// Whether the host takes faults (false after the kill switch until a re-arm).
    pub armed: bool,
    /// The game clock: running time since the start, pauses taken out, ms.
    pub clock_ms: u64,
    /// Every team of the game, in the scoreboard's order, with its place.
    pub scoreboard: Vec<TeamScore>,
    /// The incidents this viewer may see, oldest first.
    pub incidents: Vec<IncidentCard>,
    /// How many diagnoses a team may submit for one incident.
    pub max_tries: u32,
    /// What the game master may do now (all false for anyone else).
    pub game: GameActions,
}

/// One incident as the viewer may see it, with what the viewer may do about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentCard {
    /// The incident.
    #[serde(flatten)]
    pub incident: IncidentView,
    /// Whether it is still open.
    pub open: bool,
    /// Whether the viewer may submit a diagnosis now (its team, detected, tries left).
    pub can_diagnose: bool,
    /// Whether the viewer may claim a repair now (its team, open, a `fix` or `manual`
    /// scenario, no claim pending).
    pub can_claim: bool,
    /// Whether the viewer may buy this incident's hints that are not bought yet.
    pub can_buy_hints: bool,
    /// Diagnoses the team may still submit (its team and the game master only).
    pub tries_left: Option<u32>,
    /// How long it has been open: running time (pauses left out) from the moment its
    /// faults became active to its closing, or to now while open, ms. The one "open for"
    /// of every screen (to whoever may know its opening: its team, and once public).
    pub open_for_ms: Option<u64>,
    /// Running time left before its deadline, ms (while open, to its team and the game
    /// master).
    pub time_left_ms: Option<u64>,
}

/// What the game master may do to the game now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GameActions {
    /// Start a game not started yet.
    pub can_start: bool,
    /// Pause a running game.
    pub can_pause: bool,
    /// Resume a paused game.
    pub can_resume: bool,
    /// End a game that has not ended.
    pub can_end: bool,
    /// Open a scenario now (running game, faults armed).
    pub can_unleash: bool,
    /// Arm the host again after the kill switch.
    pub can_rearm: bool,
}

/// The console of `viewer` over `state` at `now_ms`, the viewer's count being `seq`;
/// `teams` are every team of the game.
pub(crate) fn console(
    state: &GameState,
    seq: u64,
    armed: bool,
    teams: &[String],
    viewer: &Viewer,
    now_ms: i64,
) -> Console {
    let view = secrecy::view(state, viewer);
    let max_tries = state.rules.diagnose.max_tries;
    let own = |team: &str| match viewer {
        Viewer::Team(mine) => mine == team,
        Viewer::GameMaster | Viewer::Spectator => false,
    };
    let incidents = view
        .incidents
        .into_iter()
        .map(|incident| {
            let open = !incident.state.is_closed();
            let acting = own(&incident.team) && open;
            let tries = incident.tries.unwrap_or(0);
            let open_for_ms = incident
                .opened_ms
                .map(|opened| state.running_ms(opened, incident.closed_ms.unwrap_or(now_ms)));
            let insider = *viewer == Viewer::GameMaster || own(&incident.team);
            let time_left_ms = insider
                .then(|| state.time_left_ms(incident.id, now_ms))
                .flatten();
            let claimable = matches!(
                incident.resolution,
                Some(Resolution::Fix | Resolution::Manual)
            );
            IncidentCard {
                can_diagnose: acting
                    && incident.state == IncidentState::Detected
                    && tries < max_tries,
                can_claim: acting && claimable && !incident.claimed.unwrap_or(false),
                can_buy_hints: acting,
                tries_left: incident.tries.map(|t| max_tries.saturating_sub(t)),
                open_for_ms,
                time_left_ms,
                open,
                incident,
            }
        })
        .collect();
    let game = match viewer {
        Viewer::GameMaster => GameActions {
            can_start: state.status == Status::NotStarted,
            can_pause: state.status == Status::Running,
            can_resume: state.status == Status::Paused,
            can_end: state.status != Status::Ended,
            can_unleash: state.status == Status::Running && armed,
            can_rearm: !armed,
        },
        Viewer::Team(_) | Viewer::Spectator => GameActions::default(),
    };
    Console {
        seq,
        now_ms,
        status: view.status,
        armed,
        clock_ms: state
            .started_ms
            .map_or(0, |started| state.running_ms(started, now_ms)),
        scoreboard: standings(view.scoreboard, teams),
        incidents,
        max_tries,
        game,
    }
}

/// When the next scenario comes and what it may be: the game master's only (a team must
/// not learn when its next incident comes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    /// Where the countdown is.
    pub next: NextScenario,
    /// Running time left before the next scenario is due, ms (a pause or the kill switch
    /// freezes it; 0 once due).
    pub next_in_ms: u64,
    /// The schedule's interval, ms.
    pub every_ms: u64,
    /// Its jitter (each interval is drawn within ± this), ms.
    pub jitter_ms: u64,
    /// Open incidents a team may have before the scheduler waits for it.
    pub max_open_per_team: u32,
    /// The scenarios that could open now, each with its chance and the teams it could open
    /// against (fair chances: only the teams that are behind).
    pub draws: Vec<Draw>,
    /// Why nothing can open now, when `draws` is empty.
    pub waiting: Option<String>,
}

impl Schedule {
    /// What a follower says of the schedule: it runs no scheduler (its front end forwards
    /// the question to the leader).
    pub fn following() -> Self {
        Schedule {
            next: NextScenario::NotStarted,
            next_in_ms: 0,
            every_ms: 0,
            jitter_ms: 0,
            max_open_per_team: 0,
            draws: Vec::new(),
            waiting: Some("this replica follows the game: its leader runs the schedule".into()),
        }
    }
}

/// Where the countdown to the next scenario is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NextScenario {
    /// The game has not started: the countdown starts with it.
    NotStarted,
    /// It counts down.
    Counting,
    /// The next scenario is due and opens as soon as one can.
    Due,
    /// The game is paused: the countdown is frozen.
    Paused,
    /// The kill switch is on: the countdown is frozen until a re-arm.
    Disarmed,
    /// The game has ended.
    Ended,
}

impl NextScenario {
    /// How the CLI and the web say it.
    pub fn as_str(self) -> &'static str {
        match self {
            NextScenario::NotStarted => "not started",
            NextScenario::Counting => "counting",
            NextScenario::Due => "due",
            NextScenario::Paused => "paused",
            NextScenario::Disarmed => "disarmed",
            NextScenario::Ended => "ended",
        }
    }
}

/// A scenario that could open now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Draw {
    /// Its name.
    pub scenario: String,
    /// Its difficulty (its weight in the draw).
    pub difficulty: u32,
    /// The chance the next draw is this scenario, 0 to 1.
    pub chance: f64,
    /// Whether it opens against every team at once.
    pub mirrored: bool,
    /// The teams it would open against: all of them if mirrored, else one of them by a draw.
    pub teams: Vec<String>,
}

#[cfg(test)]
mod tests {
    use chaosday_domain::events::{Actor, Diagnosis, Event, EventKind, FaultSummary, IncidentId};
    use chaosday_domain::scoring::ScoringRules;

    use super::*;

    fn event(seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            at_ms: i64::try_from(seq).unwrap() * 1000,
            actor: Actor::System,
            kind,
        }
    }

    fn teams() -> Vec<String> {
        vec!["checkout".into(), "search".into()]
    }

    /// A running game with one undetected incident against `checkout`.
    fn state() -> GameState {
        let events = [
            event(
                1,
                EventKind::GameStarted {
                    teams: teams(),
                    rules: None,
                },
            ),
            event(
                2,
                EventKind::IncidentOpened {
                    incident: IncidentId(1),
                    team: "checkout".into(),
                    scenario: "slow-db".into(),
                    difficulty: 2,
                    resolution: Resolution::Fix,
                    diagnosis: Diagnosis {
                        target: "db".into(),
                        kind: "latency".into(),
                    },
                    faults: vec![FaultSummary {
                        target: "db".into(),
                        kind: "latency".into(),
                        description: "latency 800ms".into(),
                        alert_match: Default::default(),
                    }],
                    hints: Vec::new(),
                    deadline_ms: 600_000,
                    mirrors: Vec::new(),
                },
            ),
        ];
        GameState::replay(ScoringRules::default(), &events)
    }

    #[test]
    fn every_team_is_ranked_even_before_it_scores_and_nobody_sees_the_undetected() {
        let state = state();
        for viewer in [
            Viewer::Spectator,
            Viewer::Team("checkout".into()),
            Viewer::Team("search".into()),
        ] {
            let console = console(&state, 0, true, &teams(), &viewer, 10_000);
            assert!(console.incidents.is_empty(), "{viewer:?} sees nothing");
            let places: Vec<(u32, &str)> = console
                .scoreboard
                .iter()
                .map(|s| (s.rank, s.team.as_str()))
                .collect();
            assert_eq!(
                places,
                [(1, "checkout"), (1, "search")],
                "level teams share"
            );
            assert_eq!(console.game, GameActions::default(), "{viewer:?} is no GM");
            assert_eq!(console.clock_ms, 9_000);
        }
    }

    #[test]
    fn the_game_master_sees_the_incident_but_only_its_team_may_act_on_it() {
        let state = state();
        let gm = console(&state, 0, true, &teams(), &Viewer::GameMaster, 10_000);
        let card = &gm.incidents[0];
        assert!(card.open);
        assert!(!card.can_diagnose && !card.can_claim && !card.can_buy_hints);
        assert!(gm.game.can_pause && gm.game.can_end && gm.game.can_unleash);
        assert!(!gm.game.can_start && !gm.game.can_resume && !gm.game.can_rearm);
        let disarmed = console(&state, 0, false, &teams(), &Viewer::GameMaster, 10_000);
        assert!(disarmed.game.can_rearm && !disarmed.game.can_unleash);
    }

    #[test]
    fn once_detected_its_team_may_diagnose_claim_and_buy_hints_and_no_other_team_may() {
        let mut state = state();
        state.apply(&Event {
            seq: 3,
            at_ms: 4_000,
            actor: Actor::Team {
                team: "checkout".into(),
                player: "ada".into(),
            },
            kind: EventKind::Declared {
                team: "checkout".into(),
                target: "db".into(),
            },
        });
        let mine = console(
            &state,
            0,
            true,
            &teams(),
            &Viewer::Team("checkout".into()),
            5_000,
        );
        let card = &mine.incidents[0];
        assert!(card.can_diagnose && card.can_claim && card.can_buy_hints);
        assert_eq!(card.tries_left, Some(mine.max_tries));
        assert_eq!(
            card.time_left_ms,
            Some(597_000),
            "opened at 2 s with 10 min to go, seen at 5 s"
        );
        let theirs = console(
            &state,
            0,
            true,
            &teams(),
            &Viewer::Team("search".into()),
            5_000,
        );
        for card in &theirs.incidents {
            assert!(!card.can_diagnose && !card.can_claim && !card.can_buy_hints);
            assert_eq!(
                card.tries_left, None,
                "another team's tries are not theirs to know"
            );
            assert_eq!(card.time_left_ms, None, "nor its deadline");
        }
    }

    #[test]
    fn open_for_is_one_running_time_from_the_opening_on_every_console_and_in_the_view() {
        // Opened at 2 s, detected at 4 s, paused from 10 s to 40 s, closed at 50 s.
        let mut state = state();
        let at = |state: &mut GameState, seq: u64, at_ms: i64, kind: EventKind| {
            state.apply(&Event {
                seq,
                at_ms,
                actor: Actor::System,
                kind,
            });
        };
        at(
            &mut state,
            3,
            4_000,
            EventKind::Declared {
                team: "checkout".into(),
                target: "db".into(),
            },
        );
        at(
            &mut state,
            4,
            10_000,
            EventKind::GamePaused {
                reason: "lunch".into(),
            },
        );
        at(&mut state, 5, 40_000, EventKind::GameResumed);
        let checkout = Viewer::Team("checkout".into());
        // Open at 45 s: 43 s since the opening, 30 s of them paused.
        for viewer in [checkout.clone(), Viewer::GameMaster] {
            let card = &console(&state, 0, true, &teams(), &viewer, 45_000).incidents[0];
            assert_eq!(card.open_for_ms, Some(13_000), "{viewer:?}");
            assert_eq!(card.incident.time_to_detect_ms, Some(2_000), "{viewer:?}");
            assert_eq!(card.incident.opened_clock_ms, Some(1_000), "{viewer:?}");
            assert_eq!(card.time_left_ms, Some(600_000 - 13_000), "{viewer:?}");
        }
        // What a client computes from the view and the game clock is the same figure.
        let clock = console(&state, 0, true, &teams(), &checkout, 45_000).clock_ms;
        assert_eq!(clock - 1_000, 13_000);
        at(
            &mut state,
            6,
            50_000,
            EventKind::Cancelled {
                incident: IncidentId(1),
                reason: "the game master".into(),
            },
        );
        for viewer in [checkout, Viewer::Spectator, Viewer::GameMaster] {
            let card = &console(&state, 0, true, &teams(), &viewer, 99_000).incidents[0];
            assert_eq!(
                card.open_for_ms,
                Some(18_000),
                "{viewer:?}: frozen at its closing"
            );
            assert_eq!(card.incident.open_for_ms, Some(18_000), "{viewer:?}");
            assert_eq!(card.time_left_ms, None, "{viewer:?}: closed");
        }
    }
}
