//! What the front ends show: the game as one viewer may see it now, with what that viewer
//! may do. The web UI, the CLI and the report read these typed models; none of them reads
//! the referee's ledger (`GameState`) or applies a secrecy or scoring rule of its own.

use chaosday_domain::events::Resolution;
use chaosday_domain::incident::{GameState, IncidentState, Status, TeamScore, standings};
use chaosday_domain::secrecy::{self, IncidentView, Viewer};
use serde::Serialize;

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
    /// Running time left before its deadline, ms (its team and the game master, while
    /// it is open; it does not run during a pause).
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
                time_left_ms: incident
                    .deadline_ms
                    .and_then(|_| state.time_left_ms(incident.id, now_ms)),
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
}
