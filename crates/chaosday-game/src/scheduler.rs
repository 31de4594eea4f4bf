//! The scheduler: the deck (weighted by difficulty, no repeat until exhausted), the draws
//! (seeded), when the next scenario is due (counted in running time: a pause freezes it),
//! which scenario opens against which team, and the game's clock task (automatic start and
//! end, deadlines, the schedule).
//!
//! Fair chances (rule 4): every team faces the same number of incidents over the day,
//! within one, whatever its speed. A team's count is every incident opened against it,
//! however it ended (cancelled ones too) and whoever opened it (the schedule, `gm unleash`,
//! `gm inject-manual`): the "faced" figure of the scoreboard. A scheduled opening goes only
//! to teams that faced no more incidents than any team it leaves out (among the teams some
//! scheduled scenario can be played against): a scenario that is not mirrored opens against
//! a team that faced the fewest; a mirrored one opens against every team at once and keeps
//! the difference as it is. When none of the teams that are behind has room (the per-team
//! cap) or free targets, the scheduler waits: the next scenario stays due and opens as soon
//! as one of them has; the interval restarts after each opening. A team a fast team would
//! have outpaced thus waits for nobody: the fast team waits for it. The game master is not
//! held to the rule (`gm unleash --team` opens against any team that owns the targets); a
//! hand-opened incident counts, so the schedule then catches the other teams up.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chaosday_domain::events::{Actor, Event, EventKind};
use chaosday_domain::game::{Deck, Game, Scenario, scheduled};
use chaosday_domain::incident::{GameState, Status};
use chaosday_domain::report::plural;
use chaosday_proxy::rng::Rng;
use parking_lot::Mutex;

use crate::ActionError;
use crate::clock::ms;
use crate::server::Inner;
use crate::views::{Draw, NextScenario, Schedule};

/// How a scheduled opening chooses its team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Rule 4: only teams that faced no more incidents than any team left out; else wait.
    Fair,
    /// Before rule 4, kept as the baseline of the simulation: among the teams with room and
    /// free targets, the one that faced the fewest. A fast team frees its cap sooner and so
    /// faces more.
    FewestWithRoom,
}

/// The deck, the draws, and when the next scenario is due.
pub(crate) struct Scheduler {
    deck: Mutex<Deck>,
    rng: Mutex<Rng>,
    /// Milliseconds of running time before the scheduler opens the next scenario.
    due_in_ms: Mutex<i64>,
    policy: Policy,
}

/// What the scheduler reads of the game at one moment: per team, the incidents it faced
/// and those still open; the concrete targets open incidents act on.
struct Ledger<'g> {
    game: &'g Game,
    faced: BTreeMap<&'g str, usize>,
    open: BTreeMap<&'g str, usize>,
    busy: BTreeSet<String>,
    /// The teams some scheduled scenario can be played against: those the rule compares.
    in_play: BTreeSet<&'g str>,
}

impl<'g> Ledger<'g> {
    fn new(game: &'g Game, state: &GameState) -> Self {
        let mut faced: BTreeMap<&str, usize> =
            game.teams.iter().map(|t| (t.name.as_str(), 0)).collect();
        let mut open: BTreeMap<&str, usize> = faced.clone();
        let mut busy = BTreeSet::new();
        for incident in state.incidents.values() {
            if let Some(n) = faced.get_mut(incident.team.as_str()) {
                *n += 1;
            }
            if !incident.state.is_closed() {
                if let Some(n) = open.get_mut(incident.team.as_str()) {
                    *n += 1;
                }
                busy.extend(
                    incident
                        .faults
                        .iter()
                        .map(|f| game.concrete_key(&f.target, &incident.team)),
                );
            }
        }
        let in_play = scheduled(game).flat_map(|s| game.teams_for(s)).collect();
        Ledger {
            game,
            faced,
            open,
            busy,
            in_play,
        }
    }

    fn faced(&self, team: &str) -> usize {
        self.faced.get(team).copied().unwrap_or(0)
    }

    /// Whether `team` is under the per-team cap.
    fn room(&self, team: &str) -> bool {
        self.open.get(team).copied().unwrap_or(0) < self.game.schedule.max_open_per_team as usize
    }

    /// Whether every target of `scenario` is free for `team`.
    fn free(&self, scenario: &Scenario, team: &str) -> bool {
        scenario
            .faults
            .iter()
            .all(|f| !self.busy.contains(&self.game.concrete_key(&f.target, team)))
    }

    /// Whether an opening against `teams` is fair: none of them faced more incidents than
    /// a team in play it leaves out.
    fn fair(&self, teams: &[&str]) -> bool {
        let ahead = teams.iter().map(|t| self.faced(t)).max().unwrap_or(0);
        self.in_play
            .iter()
            .filter(|t| !teams.contains(t))
            .all(|t| self.faced(t) >= ahead)
    }

    /// The teams in play that faced the fewest incidents, and how many.
    fn behind(&self) -> (Vec<&'g str>, usize) {
        let fewest = self
            .in_play
            .iter()
            .map(|t| self.faced(t))
            .min()
            .unwrap_or(0);
        let teams = self
            .in_play
            .iter()
            .copied()
            .filter(|t| self.faced(t) == fewest)
            .collect();
        (teams, fewest)
    }
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
            policy: Policy::Fair,
        }
    }

    /// The same scheduler choosing teams by `policy`.
    pub fn with_policy(self, policy: Policy) -> Self {
        Scheduler { policy, ..self }
    }

    /// Draws when the next scenario is due: the schedule's interval ± its jitter.
    pub fn draw_next(&self, game: &Game) {
        let schedule = &game.schedule;
        let spread = self.rng.lock().spread(ms(schedule.jitter));
        *self.due_in_ms.lock() = (ms(schedule.every) + spread).max(1_000);
    }

    /// Counts `elapsed` of running time; whether the next scenario is due.
    pub fn count(&self, elapsed: i64) -> bool {
        let mut due = self.due_in_ms.lock();
        *due = due.saturating_sub(elapsed);
        *due <= 0
    }

    /// Takes `scenario` out of the deck until it is exhausted.
    pub fn mark(&self, game: &Game, scenario: &str) {
        self.deck.lock().mark(game, scenario);
    }

    /// The teams `scenario` can open against now: `team` when given; every team for a
    /// mirrored scenario; otherwise, among the teams with free targets (and room, for an
    /// opening `by_schedule`), those that faced the fewest. Openings `by_schedule` respect
    /// the per-team cap and the policy; or why it cannot open now.
    fn teams<'g>(
        &self,
        ledger: &Ledger<'g>,
        scenario: &Scenario,
        team: Option<&str>,
        by_schedule: bool,
    ) -> Result<Vec<&'g str>, String> {
        let eligible: Vec<&'g str> = ledger.game.teams_for(scenario);
        let room = |t: &str| !by_schedule || ledger.room(t);
        let fair = by_schedule && self.policy == Policy::Fair;
        let check = |teams: &[&str]| -> Result<(), String> {
            for t in teams {
                if !room(t) {
                    return Err(format!(
                        "{t} already has {} open",
                        plural(
                            ledger.game.schedule.max_open_per_team as usize,
                            "incident",
                            "incidents"
                        )
                    ));
                }
                if !ledger.free(scenario, t) {
                    return Err(format!(
                        "a target of `{}` for {t} is busy with another incident",
                        scenario.name
                    ));
                }
            }
            Ok(())
        };
        let (behind, fewest) = ledger.behind();
        match (scenario.mirrored, team) {
            (true, _) => {
                check(&eligible)?;
                if fair && !ledger.fair(&eligible) {
                    return Err(format!(
                        "`{}` would put its teams further ahead of {}, which faced {}",
                        scenario.name,
                        behind.join(", "),
                        plural(fewest, "incident", "incidents")
                    ));
                }
                Ok(eligible)
            }
            (false, Some(team)) => {
                let Some(found) = eligible.iter().copied().find(|t| *t == team) else {
                    return Err(format!(
                        "`{}` cannot be played against {team}: it acts on targets {team} does not own",
                        scenario.name
                    ));
                };
                check(&[found])?;
                Ok(vec![found])
            }
            (false, None) => {
                let mut open: Vec<&'g str> = eligible
                    .into_iter()
                    .filter(|t| room(t) && ledger.free(scenario, t))
                    .collect();
                if open.is_empty() {
                    return Err(format!(
                        "`{}`: no team has room and free targets",
                        scenario.name
                    ));
                }
                if fair {
                    open.retain(|t| ledger.fair(&[t]));
                    if open.is_empty() {
                        return Err(format!(
                            "`{}`: the teams it could open against faced more incidents than {} ({fewest}): it waits for them",
                            scenario.name,
                            behind.join(", ")
                        ));
                    }
                }
                let least = open.iter().map(|t| ledger.faced(t)).min().unwrap_or(0);
                open.retain(|t| ledger.faced(t) == least);
                Ok(open)
            }
        }
    }

    /// The scenarios the deck would draw from now, with the teams each could open against:
    /// those not drawn yet this round if any can open, else every one that can.
    fn pool<'g>(
        &self,
        game: &'g Game,
        ledger: &Ledger<'g>,
        by_schedule: bool,
    ) -> Vec<(&'g Scenario, Vec<&'g str>)> {
        let playable: Vec<(&'g Scenario, Vec<&'g str>)> = scheduled(game)
            .filter_map(|s| {
                self.teams(ledger, s, None, by_schedule)
                    .ok()
                    .map(|t| (s, t))
            })
            .collect();
        let deck = self.deck.lock();
        if playable.iter().any(|(s, _)| !deck.is_drawn(&s.name)) {
            playable
                .into_iter()
                .filter(|(s, _)| !deck.is_drawn(&s.name))
                .collect()
        } else {
            playable
        }
    }

    /// Which scenario opens against which teams now: `scenario` (or one drawn from the
    /// deck among those that can open), against `team` (or, for a scenario that is not
    /// mirrored, one of the teams [`Scheduler::teams`] allows, by a draw). Openings
    /// `by_schedule` respect the per-team cap and the fair rule.
    pub fn plan<'g>(
        &self,
        game: &'g Game,
        state: &GameState,
        scenario: Option<&'g Scenario>,
        team: Option<&str>,
        by_schedule: bool,
    ) -> Result<(&'g Scenario, Vec<String>), ActionError> {
        let ledger = Ledger::new(game, state);
        let (scenario, teams) = match scenario {
            Some(scenario) => (
                scenario,
                self.teams(&ledger, scenario, team, by_schedule)
                    .map_err(ActionError::Conflict)?,
            ),
            None => {
                let pool = self.pool(game, &ledger, by_schedule);
                let candidates: Vec<&Scenario> = pool.iter().map(|(s, _)| *s).collect();
                let draw = self.rng.lock().unit();
                let picked = self.deck.lock().pick(&candidates, draw).ok_or_else(|| {
                    ActionError::Conflict(match (by_schedule, self.waiting(&ledger)) {
                        (true, Some(why)) => format!("no scenario can open now: {why}"),
                        _ => "no scenario can open now: every team is at its cap or its targets are busy"
                            .into(),
                    })
                })?;
                let teams = pool
                    .into_iter()
                    .find(|(s, _)| s.name == picked.name)
                    .map(|(_, t)| t)
                    .unwrap_or_default();
                (picked, teams)
            }
        };
        let teams = if scenario.mirrored || teams.len() <= 1 {
            teams
        } else {
            let pick = (self.rng.lock().unit() * teams.len() as f64) as usize;
            vec![teams[pick.min(teams.len() - 1)]]
        };
        Ok((scenario, teams.into_iter().map(str::to_owned).collect()))
    }

    /// Why no scheduled scenario can open, for a running, armed game whose pool is empty.
    fn waiting(&self, ledger: &Ledger<'_>) -> Option<String> {
        if ledger.in_play.is_empty() {
            return Some(
                "no scenario is scheduled: the game master opens the manual ones by hand".into(),
            );
        }
        let cap = ledger.game.schedule.max_open_per_team;
        if ledger.in_play.iter().all(|t| !ledger.room(t)) {
            return Some(format!(
                "every team is at its cap of {} open",
                plural(cap as usize, "incident", "incidents")
            ));
        }
        let (behind, fewest) = ledger.behind();
        let who = behind.join(", ");
        if self.policy == Policy::Fair && behind.iter().all(|t| !ledger.room(t)) {
            return Some(format!(
                "waiting for {who} (fewest incidents faced: {fewest}) to close an incident: at the cap of {cap} open"
            ));
        }
        Some(format!(
            "the targets of the scenarios {who} can play are busy with other incidents"
        ))
    }

    /// When the next scenario comes and what it may be, for the game master: the countdown
    /// in running time, and the draws available now (or why none).
    pub fn schedule(&self, game: &Game, state: &GameState, armed: bool) -> Schedule {
        let left = *self.due_in_ms.lock();
        let next = match state.status {
            Status::NotStarted => NextScenario::NotStarted,
            Status::Ended => NextScenario::Ended,
            Status::Paused => NextScenario::Paused,
            Status::Running if !armed => NextScenario::Disarmed,
            Status::Running if left <= 0 => NextScenario::Due,
            Status::Running => NextScenario::Counting,
        };
        let ledger = Ledger::new(game, state);
        let (draws, waiting) = match next {
            NextScenario::NotStarted => (Vec::new(), Some("the game has not started".into())),
            NextScenario::Ended => (Vec::new(), Some("the game has ended".into())),
            NextScenario::Paused => (
                Vec::new(),
                Some("the game is paused: nothing opens until it resumes".into()),
            ),
            NextScenario::Disarmed => (
                Vec::new(),
                Some("the kill switch is on: nothing opens until `gm rearm`".into()),
            ),
            NextScenario::Due | NextScenario::Counting => {
                let pool = self.pool(game, &ledger, true);
                let total: u32 = pool.iter().map(|(s, _)| s.difficulty.max(1)).sum();
                let draws: Vec<Draw> = pool
                    .into_iter()
                    .map(|(s, teams)| Draw {
                        scenario: s.name.clone(),
                        difficulty: s.difficulty,
                        chance: f64::from(s.difficulty.max(1)) / f64::from(total.max(1)),
                        mirrored: s.mirrored,
                        teams: teams.into_iter().map(str::to_owned).collect(),
                    })
                    .collect();
                let waiting = if draws.is_empty() {
                    self.waiting(&ledger)
                } else {
                    None
                };
                (draws, waiting)
            }
        };
        Schedule {
            next,
            next_in_ms: u64::try_from(left).unwrap_or(0),
            every_ms: u64::try_from(ms(game.schedule.every)).unwrap_or(0),
            jitter_ms: u64::try_from(ms(game.schedule.jitter)).unwrap_or(0),
            max_open_per_team: game.schedule.max_open_per_team,
            draws,
            waiting,
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

    /// Two teams, each with its own box (a scenario for each) and its replica of `shop`
    /// (`extra` scenarios act on it).
    fn two_teams(schedule: &str, extra: &str) -> Game {
        let yaml = format!(
            r#"
game: fair
game_master: {{ token_env: GM_TOKEN }}
schedule: {schedule}
teams:
  - {{ name: a, token_env: A_TOKEN, owns: [box-a, shop] }}
  - {{ name: b, token_env: B_TOKEN, owns: [box-b, shop] }}
targets:
  box-a: {{ host: {{}} }}
  box-b: {{ host: {{}} }}
  shop:
    per_team:
      a: {{ host: {{}} }}
      b: {{ host: {{}} }}
scenarios:
  - name: hog-a
    faults: [ {{ target: box-a, fault: {{ kind: cpu }} }} ]
    diagnosis: {{ target: box-a, kind: cpu }}
    resolution: diagnose
    deadline: 5m
  - name: hog-b
    faults: [ {{ target: box-b, fault: {{ kind: cpu }} }} ]
    diagnosis: {{ target: box-b, kind: cpu }}
    resolution: diagnose
    deadline: 5m
{extra}"#
        );
        Game::parse_yaml(&yaml).expect("the test game parses")
    }

    const SHOP_FOR_ALL: &str = r#"  - name: shop-down
    mirrored: true
    difficulty: 3
    faults: [ { target: shop, fault: { kind: cpu } } ]
    diagnosis: { target: shop, kind: cpu }
    resolution: diagnose
"#;

    /// The ledger after `kinds`, one event a second from a started game.
    fn ledger(game: &Game, kinds: Vec<EventKind>) -> GameState {
        let mut events = vec![EventKind::GameStarted {
            teams: vec!["a".into(), "b".into()],
            rules: None,
        }];
        events.extend(kinds);
        let events: Vec<Event> = events
            .into_iter()
            .enumerate()
            .map(|(n, kind)| Event {
                seq: n as u64 + 1,
                at_ms: n as i64 * 1_000,
                actor: Actor::System,
                kind,
            })
            .collect();
        GameState::replay(game.scoring.clone(), &events)
    }

    fn opened(game: &Game, id: u64, team: &str, scenario: &str) -> EventKind {
        let s = game.scenarios.iter().find(|s| s.name == scenario).unwrap();
        EventKind::IncidentOpened {
            incident: chaosday_domain::events::IncidentId(id),
            team: team.into(),
            scenario: scenario.into(),
            difficulty: s.difficulty,
            resolution: s.resolution,
            diagnosis: s.diagnosis.clone(),
            faults: s
                .faults
                .iter()
                .map(|f| chaosday_domain::events::FaultSummary {
                    target: f.target.clone(),
                    kind: "cpu".into(),
                    description: "cpu".into(),
                    alert_match: Default::default(),
                })
                .collect(),
            hints: Vec::new(),
            deadline_ms: 300_000,
            mirrors: Vec::new(),
        }
    }

    fn expired(id: u64) -> EventKind {
        EventKind::Expired {
            incident: chaosday_domain::events::IncidentId(id),
        }
    }

    fn teams_of(
        scheduler: &Scheduler,
        game: &Game,
        state: &GameState,
    ) -> Result<Vec<String>, String> {
        scheduler
            .plan(game, state, None, None, true)
            .map(|(_, teams)| teams)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_scheduled_opening_goes_to_the_team_behind_and_waits_for_it_when_it_has_no_room() {
        let game = two_teams("{ every: 30s, max_open_per_team: 1 }", "");
        let fair = Scheduler::new(&game, &[], Some(5));
        let baseline = Scheduler::new(&game, &[], Some(5)).with_policy(Policy::FewestWithRoom);
        // a's incident is still open; b healed one (it expired here): level at 1 each.
        let mut kinds = vec![
            opened(&game, 1, "a", "hog-a"),
            opened(&game, 2, "b", "hog-b"),
            expired(2),
        ];
        let state = ledger(&game, kinds.clone());
        assert_eq!(teams_of(&fair, &game, &state), Ok(vec!["b".to_owned()]));
        // b, the faster, is now ahead (2 to 1), and a has no room: the schedule waits.
        kinds.extend([opened(&game, 3, "b", "hog-b"), expired(3)]);
        let state = ledger(&game, kinds.clone());
        let refused = teams_of(&fair, &game, &state).unwrap_err();
        assert!(
            refused.contains("waiting for a (fewest incidents faced: 1)"),
            "{refused}"
        );
        let outlook = fair.schedule(&game, &state, true);
        assert!(outlook.draws.is_empty(), "{outlook:?}");
        assert_eq!(
            outlook.waiting.as_deref(),
            Some(refused.trim_start_matches("no scenario can open now: "))
        );
        // Before rule 4, b would have got a third incident.
        assert_eq!(teams_of(&baseline, &game, &state), Ok(vec!["b".to_owned()]));
        // a's incident closes: the next opening is a's.
        kinds.push(expired(1));
        let state = ledger(&game, kinds);
        assert_eq!(teams_of(&fair, &game, &state), Ok(vec!["a".to_owned()]));
    }

    #[test]
    fn a_mirrored_scenario_opens_for_every_team_and_the_game_master_is_not_held_to_the_rule() {
        let game = two_teams("{ every: 30s, max_open_per_team: 2 }", SHOP_FOR_ALL);
        let scheduler = Scheduler::new(&game, &[], Some(9));
        // b is ahead by one; a mirrored scenario keeps the difference.
        let state = ledger(&game, vec![opened(&game, 1, "b", "hog-b"), expired(1)]);
        let shop = game.scenarios.iter().find(|s| s.mirrored).unwrap();
        let (_, teams) = scheduler
            .plan(&game, &state, Some(shop), None, true)
            .unwrap();
        assert_eq!(teams, ["a", "b"]);
        // The deck draws for a only, or the mirrored scenario.
        let outlook = scheduler.schedule(&game, &state, true);
        let draws: Vec<(&str, Vec<&str>)> = outlook
            .draws
            .iter()
            .map(|d| {
                (
                    d.scenario.as_str(),
                    d.teams.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(draws, [("hog-a", vec!["a"]), ("shop-down", vec!["a", "b"])]);
        let chances: f64 = outlook.draws.iter().map(|d| d.chance).sum();
        assert!((chances - 1.0).abs() < 1e-9, "{chances}");
        assert_eq!(outlook.draws[1].chance, 0.75, "weighted by difficulty");
        // The game master opens against b anyway; it counts, and the schedule catches a up.
        let hog_b = game.scenarios.iter().find(|s| s.name == "hog-b").unwrap();
        let (_, teams) = scheduler
            .plan(&game, &state, Some(hog_b), Some("b"), false)
            .unwrap();
        assert_eq!(teams, ["b"]);
        let state = ledger(
            &game,
            vec![
                opened(&game, 1, "b", "hog-b"),
                expired(1),
                opened(&game, 2, "b", "hog-b"),
            ],
        );
        let outlook = scheduler.schedule(&game, &state, true);
        assert!(
            outlook.draws.iter().all(|d| d.mirrored || d.teams == ["a"]),
            "{outlook:?}"
        );
        assert!(outlook.draws.iter().any(|d| d.scenario == "hog-a"));
    }

    #[test]
    fn the_countdown_counts_running_time_and_says_why_nothing_opens() {
        let game = two_teams("{ every: 30s }", "");
        let scheduler = Scheduler::new(&game, &[], Some(1));
        scheduler.draw_next(&game);
        let not_started = GameState::new(game.scoring.clone());
        let outlook = scheduler.schedule(&game, &not_started, true);
        assert_eq!(outlook.next, NextScenario::NotStarted);
        assert_eq!(outlook.next_in_ms, 30_000);
        assert_eq!(outlook.waiting.as_deref(), Some("the game has not started"));
        let running = ledger(&game, Vec::new());
        scheduler.count(12_000);
        let outlook = scheduler.schedule(&game, &running, true);
        assert_eq!(
            (outlook.next, outlook.next_in_ms, outlook.every_ms),
            (NextScenario::Counting, 18_000, 30_000)
        );
        assert_eq!(outlook.draws.len(), 2, "{outlook:?}");
        assert_eq!(outlook.waiting, None);
        let disarmed = scheduler.schedule(&game, &running, false);
        assert_eq!(disarmed.next, NextScenario::Disarmed);
        assert!(disarmed.draws.is_empty());
        assert!(disarmed.waiting.unwrap().contains("kill switch"));
        let paused = ledger(
            &game,
            vec![EventKind::GamePaused {
                reason: "lunch".into(),
            }],
        );
        let outlook = scheduler.schedule(&game, &paused, true);
        assert_eq!(
            (outlook.next, outlook.next_in_ms),
            (NextScenario::Paused, 18_000)
        );
        assert!(outlook.waiting.unwrap().contains("paused"));
        scheduler.count(20_000);
        let outlook = scheduler.schedule(&game, &running, true);
        assert_eq!((outlook.next, outlook.next_in_ms), (NextScenario::Due, 0));
        // Both teams at their cap.
        let full = ledger(
            &game,
            vec![
                opened(&game, 1, "a", "hog-a"),
                opened(&game, 2, "b", "hog-b"),
            ],
        );
        let outlook = scheduler.schedule(&game, &full, true);
        assert_eq!(
            outlook.waiting.as_deref(),
            Some("every team is at its cap of 1 incident open")
        );
    }

    /// One team heals every incident at once, the other never acts (its incidents expire
    /// at their 5-minute deadline); a scenario every 30 s for two hours.
    fn fast_and_slow(policy: Policy) -> (crate::simulation::Outcome, u32) {
        let game = two_teams("{ every: 30s, jitter: 10s, max_open_per_team: 1 }", "");
        let day = crate::simulation::Day {
            game,
            length: Duration::from_secs(2 * 3600),
            tick: Duration::from_millis(250),
            seed: 14,
            policy,
            heals_after: [
                ("a".to_owned(), Some(Duration::ZERO)),
                ("b".to_owned(), None),
            ]
            .into(),
        };
        let mut worst = 0;
        let outcome = crate::simulation::play(&day, |_, faced| {
            worst = worst.max(faced["a"].abs_diff(faced["b"]));
        });
        (outcome, worst)
    }

    #[test]
    fn over_a_long_game_a_fast_and_a_slow_team_face_as_many_incidents_within_one() {
        let (fair, worst) = fast_and_slow(Policy::Fair);
        assert!(worst <= 1, "the spread reached {worst}: {fair:?}");
        assert_eq!(fair.max_spread, worst);
        // No starvation: the slow team's incidents expire every 5 minutes and the next
        // opens within a tick or an interval: about one every 5.5 minutes each.
        let b = fair.faced["b"];
        assert!(b >= 20, "the slow team faced only {b}: {fair:?}");
        assert!(fair.opened >= 2 * b - 1);
        // The old rule: the fast team gets a scenario every interval.
        let (old, old_worst) = fast_and_slow(Policy::FewestWithRoom);
        assert!(
            old.faced["a"] > 5 * old.faced["b"] && old_worst > 150,
            "{old:?}"
        );
    }
}
