//! What the scheduler may play next: which teams a scenario can be played against, and the
//! deck it draws from (weighted by difficulty, no repeat until every scenario came out).
//!
//! Pure: the caller passes the random draw in, so the same seed gives the same game.

use std::collections::BTreeSet;

use super::{Game, Placement, Scenario};
use crate::target::TargetSpec;

impl Game {
    /// The teams `scenario` can be played against: every team for a mirrored scenario;
    /// otherwise the teams that own every target of its faults (or its diagnosis target, for
    /// a scenario without faults).
    pub fn teams_for(&self, scenario: &Scenario) -> Vec<&str> {
        if scenario.mirrored {
            return self.teams.iter().map(|t| t.name.as_str()).collect();
        }
        let mut names: Vec<&str> = scenario.faults.iter().map(|f| f.target.as_str()).collect();
        if names.is_empty() {
            names.push(scenario.diagnosis.target.as_str());
        }
        self.teams
            .iter()
            .filter(|team| names.iter().all(|name| team.owns.iter().any(|o| o == name)))
            .map(|team| team.name.as_str())
            .collect()
    }

    /// The concrete target behind the logical target `name` for `team`: its own replica, or
    /// the shared one.
    pub fn target_for(&self, name: &str, team: &str) -> Option<&TargetSpec> {
        self.targets.get(name)?.placement.for_team(team)
    }

    /// A key naming the concrete target behind `name` for `team`, equal for two teams that
    /// share it: at most one incident acts on a concrete target at a time.
    pub fn concrete_key(&self, name: &str, team: &str) -> String {
        match self.targets.get(name).map(|t| &t.placement) {
            Some(Placement::PerTeam(_)) => format!("{name}@{team}"),
            _ => name.to_owned(),
        }
    }
}

/// The scenarios drawn since the deck was last full.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deck {
    drawn: BTreeSet<String>,
}

impl Deck {
    /// A deck rebuilt from the scenarios opened so far, in order (a mirrored scenario's
    /// incidents open together and count once).
    pub fn replay<'a>(game: &Game, opened: impl IntoIterator<Item = &'a str>) -> Self {
        let mut deck = Deck::default();
        for name in opened {
            deck.mark(game, name);
        }
        deck
    }

    /// Records that `name` came out; refills the deck once every scheduled scenario has.
    pub fn mark(&mut self, game: &Game, name: &str) {
        self.drawn.insert(name.to_owned());
        let all = scheduled(game).count();
        if scheduled(game).all(|s| self.drawn.contains(&s.name)) && all > 0 {
            self.drawn.clear();
        }
    }

    /// Whether `name` already came out in this round.
    pub fn is_drawn(&self, name: &str) -> bool {
        self.drawn.contains(name)
    }

    /// Draws among `playable` (scenarios the caller can open now), favouring those not yet
    /// drawn this round, weighted by difficulty; `draw` is a number in [0, 1).
    pub fn pick<'g>(&self, playable: &[&'g Scenario], draw: f64) -> Option<&'g Scenario> {
        let fresh: Vec<&Scenario> = playable
            .iter()
            .copied()
            .filter(|s| !self.drawn.contains(&s.name))
            .collect();
        let pool = if fresh.is_empty() {
            playable.to_vec()
        } else {
            fresh
        };
        let total: u64 = pool.iter().map(|s| u64::from(s.difficulty.max(1))).sum();
        if total == 0 {
            return None;
        }
        let mut at = (draw.clamp(0.0, 0.999_999_999) * total as f64) as u64;
        for scenario in pool {
            let weight = u64::from(scenario.difficulty.max(1));
            if at < weight {
                return Some(scenario);
            }
            at -= weight;
        }
        None
    }
}

/// The scenarios the scheduler plays by itself: all but `manual` ones, which the game master
/// opens by hand.
pub fn scheduled(game: &Game) -> impl Iterator<Item = &Scenario> {
    game.scenarios
        .iter()
        .filter(|s| s.resolution != super::Resolution::Manual)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn game() -> Game {
        Game::parse_yaml(include_str!("../../../../examples/small.yaml")).unwrap()
    }

    #[test]
    fn teams_for_a_scenario_are_the_owners_of_all_its_targets() {
        let game = game();
        let teams = |name: &str| game.teams_for(game.scenario(name).unwrap());
        assert_eq!(teams("slow-database"), ["checkout"]);
        assert_eq!(teams("flaky-search"), ["search"]);
        assert_eq!(teams("wrong-config"), ["checkout"]);
    }

    #[test]
    fn the_deck_draws_every_scenario_before_repeating_one() {
        let game = game();
        let playable: Vec<&Scenario> = scheduled(&game).collect();
        let mut deck = Deck::default();
        let mut seen = Vec::new();
        for i in 0..playable.len() {
            let draw = (i as f64 * 0.37) % 1.0;
            let s = deck.pick(&playable, draw).unwrap();
            assert!(!seen.contains(&s.name), "{} came out twice", s.name);
            seen.push(s.name.clone());
            deck.mark(&game, &s.name);
        }
        assert_eq!(seen.len(), playable.len());
        assert!(!deck.is_drawn(&seen[0]), "a full round refills the deck");
    }

    #[test]
    fn harder_scenarios_come_out_more_often() {
        let game = game();
        let playable: Vec<&Scenario> = scheduled(&game).collect();
        let deck = Deck::default();
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..1000 {
            let s = deck.pick(&playable, f64::from(i) / 1000.0).unwrap();
            *counts.entry(s.difficulty).or_insert(0) += 1;
        }
        assert!(counts[&3] > counts[&1] * 2, "{counts:?}");
    }
}
