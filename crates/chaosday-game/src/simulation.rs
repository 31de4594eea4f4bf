//! A day on a virtual clock, to measure how fair the schedule is: the scheduler's own rules
//! (its interval and jitter, the per-team cap, the deck, the choice of team) played against
//! teams that each take a fixed time to heal their incidents, or never do (their incidents
//! expire at their deadline). Nothing is injected and nothing written: the referee's ledger
//! (`GameState`) folds the events a real game would log, one tick of running time at a
//! time. The `schedule` benchmark and the scheduler's tests read what each team faced.
//!
//! A team heals by declaring the incident's target and diagnosing it rightly (a `diagnose`
//! scenario closes there), then, for any other resolution, by a claim its probes verify.

use std::collections::BTreeMap;
use std::time::Duration;

use chaosday_domain::events::{Actor, Event, EventKind, FaultSummary, IncidentId};
use chaosday_domain::game::Game;
use chaosday_domain::incident::GameState;

use crate::clock::ms;
pub use crate::scheduler::Policy;
use crate::scheduler::Scheduler;

/// A day to play.
#[derive(Debug, Clone)]
pub struct Day {
    /// The game: its teams, scenarios and schedule.
    pub game: Game,
    /// How long the day runs (running time).
    pub length: Duration,
    /// How often the scheduler looks (the server's `tick`).
    pub tick: Duration,
    /// Seeds the draws.
    pub seed: u64,
    /// How scheduled openings choose their team.
    pub policy: Policy,
    /// How long each team takes to heal an incident after it opened; `None`: never (it
    /// expires). A team not listed never heals.
    pub heals_after: BTreeMap<String, Option<Duration>>,
}

/// How a day went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Incidents opened against each team (every team of the game).
    pub faced: BTreeMap<String, u32>,
    /// The largest difference between two teams' incidents faced at any moment.
    pub max_spread: u32,
    /// Incidents opened in all.
    pub opened: u32,
}

impl Outcome {
    /// The difference between the teams that faced the most and the fewest incidents.
    pub fn spread(&self) -> u32 {
        spread(&self.faced)
    }
}

fn spread(faced: &BTreeMap<String, u32>) -> u32 {
    let most = faced.values().max().copied().unwrap_or(0);
    let fewest = faced.values().min().copied().unwrap_or(0);
    most - fewest
}

/// Plays `day`; `each` sees the running time (ms) and the incidents faced per team after
/// every tick.
pub fn play(day: &Day, mut each: impl FnMut(i64, &BTreeMap<String, u32>)) -> Outcome {
    const T0: i64 = 1_800_000_000_000;
    let game = &day.game;
    let mut state = GameState::new(game.scoring.clone());
    let mut seq = 0u64;
    let mut apply = |state: &mut GameState, at_ms: i64, actor: Actor, kind: EventKind| {
        seq += 1;
        state.apply(&Event {
            seq,
            at_ms,
            actor,
            kind,
        });
    };
    apply(
        &mut state,
        T0,
        Actor::System,
        EventKind::GameStarted {
            teams: game.teams.iter().map(|t| t.name.clone()).collect(),
            rules: Some(game.scoring.clone()),
        },
    );
    let scheduler = Scheduler::new(game, &[], Some(day.seed)).with_policy(day.policy);
    scheduler.draw_next(game);
    let mut faced: BTreeMap<String, u32> = game.teams.iter().map(|t| (t.name.clone(), 0)).collect();
    let (mut max_spread, mut opened, mut next_id) = (0u32, 0u32, 100_000u64);
    let tick = ms(day.tick).max(1);
    let mut t = 0i64;
    while t < ms(day.length) {
        t += tick;
        let now = T0 + t;
        // The teams heal what they are fast enough to heal.
        let due: Vec<(IncidentId, String, chaosday_domain::events::Diagnosis)> = state
            .incidents
            .values()
            .filter(|i| !i.state.is_closed())
            .filter(|i| {
                day.heals_after
                    .get(&i.team)
                    .copied()
                    .flatten()
                    .is_some_and(|after| now - i.opened_ms >= ms(after))
            })
            .map(|i| (i.id, i.team.clone(), i.diagnosis.clone()))
            .collect();
        for (incident, team, diagnosis) in due {
            let actor = Actor::Team {
                team: team.clone(),
                player: "sim".into(),
            };
            let steps = [
                EventKind::Declared {
                    team: team.clone(),
                    target: diagnosis.target.clone(),
                },
                EventKind::Diagnosed {
                    team: team.clone(),
                    incident,
                    diagnosis,
                },
                EventKind::ResolutionClaimed {
                    team: team.clone(),
                    incident,
                },
            ];
            for kind in steps {
                if state.incidents[&incident].state.is_closed() {
                    break;
                }
                apply(&mut state, now, actor.clone(), kind);
            }
            if !state.incidents[&incident].state.is_closed() {
                apply(
                    &mut state,
                    now,
                    Actor::System,
                    EventKind::Verified { incident },
                );
            }
        }
        for incident in state.overdue(now) {
            apply(
                &mut state,
                now,
                Actor::System,
                EventKind::Expired { incident },
            );
        }
        // The schedule, as the server's clock task runs it.
        if scheduler.count(tick)
            && let Ok((scenario, teams)) = scheduler.plan(game, &state, None, None, true)
        {
            let ids: Vec<IncidentId> = teams
                .iter()
                .map(|_| {
                    next_id += 1;
                    IncidentId(next_id)
                })
                .collect();
            for (team, id) in teams.iter().zip(&ids) {
                apply(
                    &mut state,
                    now,
                    Actor::System,
                    EventKind::IncidentOpened {
                        incident: *id,
                        team: team.clone(),
                        scenario: scenario.name.clone(),
                        difficulty: scenario.difficulty,
                        resolution: scenario.resolution,
                        diagnosis: scenario.diagnosis.clone(),
                        faults: scenario
                            .faults
                            .iter()
                            .map(|f| FaultSummary {
                                target: f.target.clone(),
                                kind: f.fault.kind().to_owned(),
                                description: f.fault.kind().to_owned(),
                                alert_match: Default::default(),
                            })
                            .collect(),
                        hints: Vec::new(),
                        deadline_ms: u64::try_from(ms(scenario.deadline)).unwrap_or(u64::MAX),
                        mirrors: if scenario.mirrored {
                            ids.iter().copied().filter(|m| m != id).collect()
                        } else {
                            Vec::new()
                        },
                    },
                );
                *faced.entry(team.clone()).or_default() += 1;
                opened += 1;
            }
            scheduler.mark(game, &scenario.name);
            scheduler.draw_next(game);
        }
        max_spread = max_spread.max(spread(&faced));
        each(t, &faced);
    }
    Outcome {
        faced,
        max_spread,
        opened,
    }
}
