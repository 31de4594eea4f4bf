//! The scheduler: the deck (weighted by difficulty, no repeat until exhausted), the draws
//! (seeded), when the next scenario is due (counted in running time: a pause freezes it),
//! which scenario opens against which team, and the game's clock task (automatic start and
//! end, deadlines, the schedule).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chaosday_domain::events::{Actor, Event, EventKind};
use chaosday_domain::game::{Deck, Game, Scenario, scheduled};
use chaosday_domain::incident::{GameState, Status};
use chaosday_proxy::rng::Rng;
use parking_lot::Mutex;

use crate::ActionError;
use crate::clock::ms;
use crate::server::Inner;

/// The deck, the draws, and when the next scenario is due.
pub(crate) struct Scheduler {
    deck: Mutex<Deck>,
    rng: Mutex<Rng>,
    /// Milliseconds of running time before the scheduler opens the next scenario.
    due_in_ms: Mutex<i64>,
}

impl Scheduler {
    /// The scheduler of `game` after `events` (the scenarios already opened are out of the
    /// deck), its draws seeded by `seed` (or at random).
    pub fn new(game: &Game, events: &[Event], seed: Option<u64>) -> Self {
        let mut deck = Deck::default();
        let mut previous: Option<(&str, i64)> = None;
        for (name, at) in events.iter().filter_map(|e| match &e.kind {
            EventKind::IncidentOpened { scenario, .. } => Some((scenario.as_str(), e.at_ms)),
            _ => None,
        }) {
            // A mirrored scenario's incidents open together and count once.
            if previous != Some((name, at)) {
                deck.mark(game, name);
            }
            previous = Some((name, at));
        }
        Scheduler {
            deck: Mutex::new(deck),
            rng: Mutex::new(Rng::new(seed.unwrap_or_else(Rng::entropy))),
            due_in_ms: Mutex::new(ms(game.schedule.every)),
        }
    }

    /// Draws when the next scenario is due: the schedule's interval ± its jitter.
    pub fn draw_next(&self, game: &Game) {
        let schedule = &game.schedule;
        let spread = self.rng.lock().spread(ms(schedule.jitter));
        *self.due_in_ms.lock() = (ms(schedule.every) + spread).max(1_000);
    }

    /// Counts `elapsed` of running time; whether the next scenario is due.
    fn count(&self, elapsed: i64) -> bool {
        let mut due = self.due_in_ms.lock();
        *due -= elapsed;
        *due <= 0
    }

    /// Takes `scenario` out of the deck until it is exhausted.
    pub fn mark(&self, game: &Game, scenario: &str) {
        self.deck.lock().mark(game, scenario);
    }

    /// Which scenario opens against which teams now: `scenario` (or one drawn from the
    /// deck among those that can open), against `team` (or, for a scenario that is not
    /// mirrored, the eligible team that faced the fewest incidents, then a draw).
    /// Openings `by_schedule` respect the per-team cap.
    pub fn plan<'g>(
        &self,
        game: &'g Game,
        state: &GameState,
        scenario: Option<&'g Scenario>,
        team: Option<&str>,
        by_schedule: bool,
    ) -> Result<(&'g Scenario, Vec<String>), ActionError> {
        let busy: BTreeSet<String> = state
            .incidents
            .values()
            .filter(|i| !i.state.is_closed())
            .flat_map(|i| {
                i.faults
                    .iter()
                    .map(|f| game.concrete_key(&f.target, &i.team))
            })
            .collect();
        let room = |team: &str| {
            !by_schedule
                || state.open_incidents(team).count() < game.schedule.max_open_per_team as usize
        };
        let free = |scenario: &Scenario, team: &str| {
            scenario
                .faults
                .iter()
                .all(|f| !busy.contains(&game.concrete_key(&f.target, team)))
        };
        // The teams a scenario can open against now, or why not.
        let plan = |scenario: &Scenario| -> Result<Vec<String>, String> {
            let eligible: Vec<&str> = game.teams_for(scenario);
            let teams: Vec<&str> = match (scenario.mirrored, team) {
                (true, _) => eligible,
                (false, Some(team)) if eligible.contains(&team) => vec![team],
                (false, Some(team)) => {
                    return Err(format!(
                        "`{}` cannot be played against {team}: it acts on targets {team} does not own",
                        scenario.name
                    ));
                }
                (false, None) => {
                    let mut open: Vec<&str> = eligible
                        .into_iter()
                        .filter(|t| room(t) && free(scenario, t))
                        .collect();
                    if open.is_empty() {
                        return Err(format!(
                            "`{}`: no team has room and free targets",
                            scenario.name
                        ));
                    }
                    // The team that faced the fewest incidents, then a draw.
                    let faced = |t: &str| state.incidents.values().filter(|i| i.team == t).count();
                    open.sort_by_key(|t| faced(t));
                    let fewest = faced(open[0]);
                    open.retain(|t| faced(t) == fewest);
                    let pick = (self.rng.lock().unit() * open.len() as f64) as usize;
                    vec![open[pick.min(open.len() - 1)]]
                }
            };
            for t in &teams {
                if !room(t) {
                    return Err(format!(
                        "{t} already has {} open incident(s)",
                        game.schedule.max_open_per_team
                    ));
                }
                if !free(scenario, t) {
                    return Err(format!(
                        "a target of `{}` for {t} is busy with another incident",
                        scenario.name
                    ));
                }
            }
            Ok(teams.into_iter().map(str::to_owned).collect())
        };
        match scenario {
            Some(scenario) => Ok((scenario, plan(scenario).map_err(ActionError::Conflict)?)),
            None => {
                let playable: Vec<(&Scenario, Vec<String>)> = scheduled(game)
                    .filter_map(|s| plan(s).ok().map(|t| (s, t)))
                    .collect();
                let candidates: Vec<&Scenario> = playable.iter().map(|(s, _)| *s).collect();
                let draw = self.rng.lock().unit();
                let picked = self.deck.lock().pick(&candidates, draw).ok_or_else(|| {
                    ActionError::Conflict(
                        "no scenario can open now: every team is at its cap or its targets are busy"
                            .into(),
                    )
                })?;
                let teams = playable
                    .into_iter()
                    .find(|(s, _)| s.name == picked.name)
                    .map(|(_, t)| t)
                    .unwrap_or_default();
                Ok((picked, teams))
            }
        }
    }
}

/// The game's clock: automatic start and end, deadlines, and the schedule, looked at
/// every `tick` of the game's clock.
pub(crate) async fn run(inner: Arc<Inner>, tick: Duration) {
    let clock = inner.clock.clone();
    let mut last = clock.instant();
    loop {
        tokio::select! {
            _ = inner.stopping.cancelled() => return,
            _ = clock.sleep(tick) => {}
        }
        let now_instant = clock.instant();
        let elapsed = ms(now_instant.duration_since(last));
        last = now_instant;
        let snapshot = inner.snapshot();
        let state = &snapshot.state;
        let now = clock.now_ms();
        let schedule = &inner.game.schedule;
        let at = |t: Option<jiff::Timestamp>| t.is_some_and(|t| t.as_millisecond() <= now);
        if state.status == Status::NotStarted && at(schedule.start) {
            let teams = inner.game.teams.iter().map(|t| t.name.clone()).collect();
            let _ = inner
                .commit_one(
                    Actor::System,
                    EventKind::GameStarted {
                        teams,
                        rules: Some(inner.game.scoring.clone()),
                    },
                )
                .await;
            inner.scheduler.draw_next(&inner.game);
            continue;
        }
        if matches!(state.status, Status::Running | Status::Paused) && at(schedule.end) {
            let _ = inner.commit_one(Actor::System, EventKind::GameEnded).await;
            continue;
        }
        for incident in state.overdue(now) {
            let _ = inner
                .commit_one(Actor::System, EventKind::Expired { incident })
                .await;
        }
        if state.status != Status::Running || !snapshot.armed {
            continue;
        }
        let due = inner.scheduler.count(elapsed);
        if due && !before_start(schedule.start, now) {
            match crate::faults::open(&inner, Actor::System, None, None, true).await {
                Ok(_) => inner.scheduler.draw_next(&inner.game),
                Err(e) => tracing::debug!(error = %e, "the scheduler waits"),
            }
        }
    }
}

/// Whether `now` is before the schedule's start (no scenario before it).
fn before_start(start: Option<jiff::Timestamp>, now: i64) -> bool {
    start.is_some_and(|s| now < s.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn game(yaml_schedule: &str) -> Game {
        let yaml = format!(
            r#"
game: schedule
game_master: {{ token_env: GM_TOKEN }}
schedule: {yaml_schedule}
teams:
  - {{ name: a, token_env: A_TOKEN, owns: [box] }}
  - {{ name: b, token_env: B_TOKEN, owns: [box] }}
targets:
  box: {{ host: {{}} }}
scenarios:
  - name: hog
    faults: [ {{ target: box, fault: {{ kind: cpu }} }} ]
    diagnosis: {{ target: box, kind: cpu }}
    resolution: diagnose
"#
        );
        Game::parse_yaml(&yaml).expect("the test game parses")
    }

    #[test]
    fn the_next_scenario_is_due_after_the_interval_of_running_time() {
        let game = game("{ every: 10s }");
        let scheduler = Scheduler::new(&game, &[], Some(1));
        scheduler.draw_next(&game);
        assert!(!scheduler.count(9_999));
        assert!(scheduler.count(1));
        scheduler.draw_next(&game);
        assert!(!scheduler.count(5_000), "a new draw starts a new interval");
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_never_below_a_second() {
        let game = game("{ every: 2s, jitter: 1500ms }");
        let scheduler = Scheduler::new(&game, &[], Some(3));
        for _ in 0..100 {
            scheduler.draw_next(&game);
            let due = *scheduler.due_in_ms.lock();
            assert!((1_000..=3_500).contains(&due), "{due}");
        }
    }

    #[test]
    fn a_plan_picks_a_team_with_room_and_refuses_a_team_that_does_not_own_the_target() {
        let game = game("{ every: 10s, max_open_per_team: 1 }");
        let scheduler = Scheduler::new(&game, &[], Some(5));
        let state = GameState::new(game.scoring.clone());
        let (scenario, teams) = scheduler.plan(&game, &state, None, None, true).unwrap();
        assert_eq!(scenario.name, "hog");
        assert_eq!(teams.len(), 1);
        assert!(matches!(
            scheduler.plan(&game, &state, Some(scenario), Some("nobody"), false),
            Err(ActionError::Conflict(_))
        ));
    }
}
