//! How fair the schedule is over a long day (issue 14, rule 4): an 8-hour game on a
//! virtual clock, a scenario every 2 minutes (± 30 s), four teams of different speeds — one
//! heals every incident at once, one after a minute, one after four, one never (its
//! incidents expire at their 10-minute deadline). It prints the incidents each team faced
//! and the spread (the largest difference between two teams, at the end and at any moment
//! of the day) under the fair rule and under the rule it replaced (the team with room that
//! faced the fewest), with one and two open incidents allowed per team, and how long the
//! simulation took.
//!
//! Run with `cargo bench -p chaosday-game --bench schedule`. It prints figures and never
//! asserts on them (the scheduler's tests do).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chaosday_domain::game::Game;
use chaosday_game::simulation::{Day, Policy, play};

const TEAMS: [(&str, Option<u64>); 4] = [
    ("instant", Some(0)),
    ("quick", Some(60)),
    ("steady", Some(240)),
    ("asleep", None),
];

fn game(cap: u32) -> Game {
    let mut yaml = format!(
        "game: bench\ngame_master: {{ token_env: GM_TOKEN }}\nschedule: {{ every: 2m, jitter: 30s, max_open_per_team: {cap} }}\nteams:\n"
    );
    for (team, _) in TEAMS {
        let _ = writeln!(
            yaml,
            "  - {{ name: {team}, token_env: T_{team}, owns: [{team}-a, {team}-b] }}"
        );
    }
    yaml.push_str("targets:\n");
    for (team, _) in TEAMS {
        for box_ in ["a", "b"] {
            let _ = writeln!(yaml, "  {team}-{box_}: {{ host: {{}} }}");
        }
    }
    yaml.push_str("scenarios:\n");
    for (team, _) in TEAMS {
        for (box_, difficulty) in [("a", 1), ("b", 3)] {
            let _ = writeln!(
                yaml,
                "  - {{ name: {team}-{box_}-hog, difficulty: {difficulty}, deadline: 10m, resolution: diagnose, faults: [ {{ target: {team}-{box_}, fault: {{ kind: cpu }} }} ], diagnosis: {{ target: {team}-{box_}, kind: cpu }} }}"
            );
        }
    }
    Game::parse_yaml(&yaml).expect("the bench's game parses")
}

fn main() {
    let heals_after: BTreeMap<String, Option<Duration>> = TEAMS
        .iter()
        .map(|(t, s)| ((*t).to_owned(), s.map(Duration::from_secs)))
        .collect();
    println!(
        "8-hour day, a scenario every 2m ± 30s, deadline 10m; teams heal after: instant 0s, quick 1m, steady 4m, asleep never"
    );
    for cap in [1, 2] {
        for (name, policy) in [
            ("fair (rule 4)", Policy::Fair),
            ("old: fewest with room", Policy::FewestWithRoom),
        ] {
            let day = Day {
                game: game(cap),
                length: Duration::from_secs(8 * 3600),
                tick: Duration::from_millis(250),
                seed: 14,
                policy,
                heals_after: heals_after.clone(),
            };
            let start = Instant::now();
            let outcome = play(&day, |_, _| {});
            let took = start.elapsed();
            let faced: Vec<String> = TEAMS
                .iter()
                .map(|(t, _)| format!("{t} {}", outcome.faced[*t]))
                .collect();
            println!(
                "cap {cap}, {name:<22} faced: {:<44} total {:>4}  spread {:>3} (at most {:>3} during the day)  simulated in {:.0?}",
                faced.join(", "),
                outcome.opened,
                outcome.spread(),
                outcome.max_spread,
                took
            );
        }
    }
}
