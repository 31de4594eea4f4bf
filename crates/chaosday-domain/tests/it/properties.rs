//! Properties that hold for every log: determinism, time only lowers points, no points for
//! a fault that went away without the team, no points from another team's incident, and
//! nothing undetected leaks to spectators or other teams.

use chaosday_domain::events::{EventKind, IncidentId, Resolution, RevertCause};
use chaosday_domain::incident::{GameState, Status};
use chaosday_domain::scoring::ScoringRules;
use chaosday_domain::secrecy::{self, Viewer};
use proptest::prelude::*;

use crate::log::*;

const TEAMS: [&str; 3] = ["a", "b", "c"];
const TARGETS: [&str; 3] = ["t0", "t1", "t2"];
const KINDS: [&str; 3] = ["pause", "kill", "latency"];

/// One random step of a game.
#[derive(Debug, Clone)]
enum Step {
    Open {
        team: usize,
        target: usize,
        kind: usize,
        resolution: usize,
        difficulty: u32,
    },
    Declare {
        team: usize,
        target: usize,
    },
    Diagnose {
        team: usize,
        incident: u64,
        target: usize,
        kind: usize,
    },
    Hint {
        team: usize,
        incident: u64,
    },
    Claim {
        team: usize,
        incident: u64,
    },
    Verify {
        incident: u64,
    },
    Revert {
        incident: u64,
        timer: bool,
    },
    Expire {
        incident: u64,
    },
    Pause,
    Resume,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..3usize, 0..3usize, 0..3usize, 0..4usize, 1..=5u32).prop_map(
            |(team, target, kind, resolution, difficulty)| Step::Open {
                team,
                target,
                kind,
                resolution,
                difficulty
            }
        ),
        (0..3usize, 0..3usize).prop_map(|(team, target)| Step::Declare { team, target }),
        (0..3usize, 1..6u64, 0..3usize, 0..3usize).prop_map(|(team, incident, target, kind)| {
            Step::Diagnose {
                team,
                incident,
                target,
                kind,
            }
        }),
        (0..3usize, 1..6u64).prop_map(|(team, incident)| Step::Hint { team, incident }),
        (0..3usize, 1..6u64).prop_map(|(team, incident)| Step::Claim { team, incident }),
        (1..6u64).prop_map(|incident| Step::Verify { incident }),
        (1..6u64, any::<bool>()).prop_map(|(incident, timer)| Step::Revert { incident, timer }),
        (1..6u64).prop_map(|incident| Step::Expire { incident }),
        Just(Step::Pause),
        Just(Step::Resume),
    ]
}

fn build(steps: &[(Step, i64)]) -> Log {
    let mut log = Log::default();
    log.system(
        0,
        EventKind::GameStarted {
            teams: TEAMS.iter().map(|t| t.to_string()).collect(),
            rules: None,
        },
    );
    let mut now = 0;
    let mut next_incident = 1;
    for (step, gap) in steps {
        now += gap;
        match step {
            Step::Open {
                team,
                target,
                kind,
                resolution,
                difficulty,
            } => {
                let resolution = [
                    Resolution::Fix,
                    Resolution::Diagnose,
                    Resolution::Timed,
                    Resolution::Manual,
                ][*resolution];
                log.system(
                    now,
                    opened(
                        next_incident,
                        TEAMS[*team],
                        "s",
                        *difficulty,
                        resolution,
                        TARGETS[*target],
                        KINDS[*kind],
                        None,
                        &[10, 20],
                        1800,
                    ),
                );
                next_incident += 1;
            }
            Step::Declare { team, target } => {
                log.at(
                    now,
                    player(TEAMS[*team]),
                    EventKind::Declared {
                        team: TEAMS[*team].into(),
                        target: TARGETS[*target].into(),
                    },
                );
            }
            Step::Diagnose {
                team,
                incident,
                target,
                kind,
            } => {
                log.at(
                    now,
                    player(TEAMS[*team]),
                    EventKind::Diagnosed {
                        team: TEAMS[*team].into(),
                        incident: IncidentId(*incident),
                        diagnosis: diagnosis(TARGETS[*target], KINDS[*kind]),
                    },
                );
            }
            Step::Hint { team, incident } => {
                log.at(
                    now,
                    player(TEAMS[*team]),
                    EventKind::HintBought {
                        team: TEAMS[*team].into(),
                        incident: IncidentId(*incident),
                        hint: 0,
                    },
                );
            }
            Step::Claim { team, incident } => {
                log.at(
                    now,
                    player(TEAMS[*team]),
                    EventKind::ResolutionClaimed {
                        team: TEAMS[*team].into(),
                        incident: IncidentId(*incident),
                    },
                );
            }
            Step::Verify { incident } => {
                log.system(
                    now,
                    EventKind::Verified {
                        incident: IncidentId(*incident),
                    },
                );
            }
            Step::Revert { incident, timer } => {
                let cause = if *timer {
                    RevertCause::Timer
                } else {
                    RevertCause::Healed
                };
                log.system(
                    now,
                    EventKind::FaultReverted {
                        incident: IncidentId(*incident),
                        target: "t".into(),
                        cause,
                    },
                );
            }
            Step::Expire { incident } => {
                log.system(
                    now,
                    EventKind::Expired {
                        incident: IncidentId(*incident),
                    },
                );
            }
            Step::Pause => {
                log.system(now, EventKind::GamePaused { reason: "p".into() });
            }
            Step::Resume => {
                log.system(now, EventKind::GameResumed);
            }
        }
    }
    log
}

fn steps() -> impl Strategy<Value = Vec<(Step, i64)>> {
    prop::collection::vec((step(), 0..400i64), 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_same_events_always_give_the_same_scores(steps in steps(), split in 0usize..40) {
        let log = build(&steps);
        let rules = ScoringRules::default();
        let once = GameState::replay(rules.clone(), &log.events);
        let again = GameState::replay(rules.clone(), &log.events);
        prop_assert_eq!(&once, &again);
        // Folding the log in two parts (a restart mid-game) gives the same state.
        let split = split.min(log.events.len());
        let mut parts = GameState::replay(rules, &log.events[..split]);
        for event in &log.events[split..] {
            parts.apply(event);
        }
        prop_assert_eq!(once.scoreboard(), parts.scoreboard());
    }

    #[test]
    fn points_never_grow_when_the_team_acts_later(
        difficulty in 1..=5u32,
        first in 0..3_000i64,
        delay in 0..3_000i64,
        pause in proptest::option::of((0..3_000i64, 1..3_000i64)),
        fix in any::<bool>(),
    ) {
        let score = |detect_at: i64| {
            let mut log = Log::default();
            log.system(0, EventKind::GameStarted { teams: vec!["a".into()], rules: None })
                .system(10, opened(1, "a", "s", difficulty, if fix { Resolution::Fix } else { Resolution::Diagnose }, "t", "pause", None, &[], 100_000));
            let mut events = vec![
                (detect_at, EventKind::Declared { team: "a".into(), target: "t".into() }),
                (detect_at + 1, EventKind::Diagnosed { team: "a".into(), incident: IncidentId(1), diagnosis: diagnosis("t", "pause") }),
                (detect_at + 2, EventKind::ResolutionClaimed { team: "a".into(), incident: IncidentId(1) }),
                (detect_at + 3, EventKind::Verified { incident: IncidentId(1) }),
            ];
            if let Some((at, length)) = pause {
                events.push((at, EventKind::GamePaused { reason: "p".into() }));
                events.push((at + length, EventKind::GameResumed));
            }
            events.sort_by_key(|(at, _)| *at);
            for (at, kind) in events {
                log.at(10 + at, player("a"), kind);
            }
            GameState::replay(ScoringRules::default(), &log.events).scoreboard()[0].points
        };
        prop_assert!(score(first) >= score(first + delay), "acting {delay} s later earned more");
    }

    #[test]
    fn a_fault_gone_by_its_timer_or_by_itself_earns_no_resolution_points(steps in steps(), timer in any::<bool>()) {
        let mut log = build(&steps);
        let mut t = log.events.last().map_or(0, |e| e.at_ms / 1000) + 1;
        // Incidents open only while the game runs.
        match GameState::replay(ScoringRules::default(), &log.events).status {
            Status::Ended | Status::NotStarted => return Ok(()),
            Status::Paused => {
                log.system(t, EventKind::GameResumed);
                t += 1;
            }
            Status::Running => {}
        }
        log.system(t, opened(99, "a", "s", 3, Resolution::Fix, "t9", "pause", None, &[], 100_000))
            .at(t + 1, player("a"), EventKind::Declared { team: "a".into(), target: "t9".into() })
            .system(t + 2, EventKind::FaultReverted { incident: IncidentId(99), target: "t9".into(), cause: if timer { RevertCause::Timer } else { RevertCause::Healed } })
            .at(t + 3, player("a"), EventKind::ResolutionClaimed { team: "a".into(), incident: IncidentId(99) })
            .system(t + 4, EventKind::Verified { incident: IncidentId(99) });
        let state = GameState::replay(ScoringRules::default(), &log.events);
        prop_assert_eq!(state.incidents[&IncidentId(99)].points.resolve, 0);
    }

    #[test]
    fn no_team_scores_on_another_team_s_incident(steps in steps()) {
        let log = build(&steps);
        let rules = ScoringRules::default();
        // The same log without any action by a team on an incident that is not its own.
        let mut owners = std::collections::BTreeMap::new();
        let mut own_only = Log::default();
        for event in &log.events {
            if let EventKind::IncidentOpened { incident, team, .. } = &event.kind {
                owners.insert(*incident, team.clone());
            }
            let foreign = match &event.kind {
                EventKind::Diagnosed { team, incident, .. }
                | EventKind::HintBought { team, incident, .. }
                | EventKind::ResolutionClaimed { team, incident } => owners.get(incident).is_some_and(|owner| owner != team),
                _ => false,
            };
            if !foreign {
                own_only.events.push(event.clone());
            }
        }
        let full = GameState::replay(rules.clone(), &log.events);
        let clean = GameState::replay(rules, &own_only.events);
        prop_assert_eq!(full.scoreboard(), clean.scoreboard());
    }

    #[test]
    fn nothing_undetected_is_visible_to_a_spectator_or_another_team(steps in steps()) {
        let log = build(&steps);
        let rules = ScoringRules::default();
        for end in 0..=log.events.len() {
            let state = GameState::replay(rules.clone(), &log.events[..end]);
            let hidden: Vec<IncidentId> = state.incidents.values().filter(|i| i.detected_ms.is_none() && !i.state.is_closed()).map(|i| i.id).collect();
            for viewer in [Viewer::Spectator, Viewer::Team("a".into()), Viewer::Team("b".into())] {
                let view = secrecy::view(&state, &viewer);
                prop_assert!(view.incidents.iter().all(|i| !hidden.contains(&i.id)), "{:?} sees an undetected incident", viewer);
                for incident in view.incidents.iter().filter(|i| !i.state.is_closed()) {
                    prop_assert!(incident.diagnosis.is_none() && incident.faults.is_none() && incident.scenario.is_none());
                }
                // Each line as it is told, against the game at that moment.
                let mut feed = secrecy::Feed::new(rules.clone(), vec![viewer.clone()]);
                for event in &log.events[..end] {
                    let told = feed.apply(event).told.remove(0);
                    for told in told {
                        let secrecy::Told::Timeline(line) = told else { continue };
                        if let Some(id) = line.incident {
                            let known = feed.state().incidents.get(&id).is_some_and(|i| i.detected_ms.is_some() || i.state.is_closed());
                            prop_assert!(known, "{:?} read about {} before it was detected: {}", viewer, id, line.text);
                        }
                    }
                }
            }
        }
    }
}
