//! A scripted game, scored to the point, and its views.

use std::collections::BTreeMap;

use chaosday_domain::events::{EventKind, IncidentId, Resolution, RevertCause};
use chaosday_domain::incident::{GameState, IncidentState, Outcome};
use chaosday_domain::scoring::ScoringRules;
use chaosday_domain::secrecy::{self, Viewer};

use crate::log::*;

fn scripted() -> Log {
    let mut log = Log::default();
    log.system(
        0,
        EventKind::GameStarted {
            teams: vec!["checkout".into(), "search".into()],
            rules: None,
        },
    )
    .system(
        60,
        opened(
            1,
            "checkout",
            "slow-database",
            2,
            Resolution::Diagnose,
            "cart-db-link",
            "latency",
            Some(("service", "cart-db")),
            &[30, 50],
            1200,
        ),
    )
    .system(
        120,
        opened(
            2,
            "search",
            "search-down",
            1,
            Resolution::Fix,
            "search",
            "kill",
            Some(("service", "search")),
            &[20],
            1800,
        ),
    )
    .at(
        150,
        player("search"),
        EventKind::Declared {
            team: "search".into(),
            target: "cart".into(),
        },
    )
    .at(
        180,
        player("checkout"),
        EventKind::Declared {
            team: "checkout".into(),
            target: "cart-db-link".into(),
        },
    )
    .at(
        200,
        player("checkout"),
        EventKind::HintBought {
            team: "checkout".into(),
            incident: IncidentId(1),
            hint: 0,
        },
    )
    .at(
        240,
        player("checkout"),
        EventKind::Diagnosed {
            team: "checkout".into(),
            incident: IncidentId(1),
            diagnosis: diagnosis("cart-db-link", "kill"),
        },
    )
    .at(
        300,
        player("checkout"),
        EventKind::Diagnosed {
            team: "checkout".into(),
            incident: IncidentId(1),
            diagnosis: diagnosis("cart-db-link", "latency"),
        },
    )
    .at(
        400,
        chaosday_domain::events::Actor::Alert {
            team: "search".into(),
        },
        EventKind::AlertFired {
            team: "search".into(),
            labels: BTreeMap::from([
                ("service".into(), "search".into()),
                ("severity".into(), "page".into()),
            ]),
            starts_at_ms: 390_000,
            fingerprint: String::new(),
        },
    )
    .system(
        450,
        EventKind::GamePaused {
            reason: "lunch".into(),
        },
    )
    .system(750, EventKind::GameResumed)
    .at(
        800,
        player("search"),
        EventKind::ResolutionClaimed {
            team: "search".into(),
            incident: IncidentId(2),
        },
    )
    .system(
        830,
        EventKind::Verified {
            incident: IncidentId(2),
        },
    )
    .system(
        900,
        opened(
            3,
            "checkout",
            "cpu-hog",
            3,
            Resolution::Timed,
            "host",
            "cpu",
            None,
            &[],
            1800,
        ),
    )
    .system(
        1000,
        EventKind::FaultReverted {
            incident: IncidentId(3),
            target: "host".into(),
            cause: RevertCause::Timer,
        },
    )
    .at(
        1010,
        chaosday_domain::events::Actor::GameMaster {
            player: "gm".into(),
        },
        EventKind::Adjusted {
            team: "search".into(),
            points: 15,
            reason: "great postmortem".into(),
        },
    )
    .system(1100, EventKind::GameEnded);
    log
}

fn table(state: &GameState) -> String {
    let mut out = String::from(
        "team      points  detect  diagnose  resolve  hints  penalties  adjust  resolved  ttr_s  false_alarms\n",
    );
    for s in state.scoreboard() {
        let b = s.breakdown;
        out.push_str(&format!(
            "{:<9} {:>6}  {:>6}  {:>8}  {:>7}  {:>5}  {:>9}  {:>6}  {:>8}  {:>5}  {:>12}\n",
            s.team,
            s.points,
            b.detect,
            b.diagnose,
            b.resolve,
            b.hints,
            b.penalties,
            b.adjustments,
            s.resolved,
            s.time_to_resolve_ms / 1000,
            s.false_alarms
        ));
    }
    out
}

#[test]
fn the_scripted_game_scores_to_the_point() {
    let log = scripted();
    let state = GameState::replay(ScoringRules::default(), &log.events);
    let board = state.scoreboard();
    // checkout, #1 (difficulty 2, detected 120 s after opening): detect (100 - 80*120/600) * 2 = 168;
    // a 30-point hint; one wrong diagnosis -25*2; the right one +100*2; healed by it at
    // 240 s: resolve (200 - 150*240/1800) * 2 = 360. Total 648.
    assert_eq!(board[0].team, "checkout");
    assert_eq!(board[0].points, 168 - 30 - 50 + 200 + 360);
    // search: a false alarm -10; #2 detected by an alert that started at 390 s and came at
    // 400 s, 280 s after opening (detection counts when the alert comes, never at the
    // sender's startsAt): 100 - 80*280/600 = 62; claimed at 800 s, 380 s of running time
    // after opening (the 300 s pause does not count): 200 - 150*380/1800 = 168; +15 from the
    // game master.
    assert_eq!(board[1].team, "search");
    assert_eq!(board[1].points, -10 + 62 + 168 + 15);
    assert_eq!(board[1].time_to_resolve_ms, 380_000);
    // #3 was timed and never detected: it closed by its timer, worth nothing.
    let timed = &state.incidents[&IncidentId(3)];
    assert_eq!(timed.state, IncidentState::RanOut);
    assert_eq!(timed.outcome(), Some(Outcome::NeverDetected));
    // The scoreboard's "resolved" is the report's: incidents resolved by the team, never a
    // timed incident that ran out.
    assert_eq!(board.iter().map(|s| s.resolved).sum::<u32>(), 2);
    assert_eq!(board.iter().map(|s| s.faced).sum::<u32>(), 3);
    assert_eq!(state.incidents[&IncidentId(3)].points.total(), 0);
    insta::assert_snapshot!("scripted_scoreboard", table(&state));
}

#[test]
fn ties_are_broken_by_total_time_to_resolve() {
    let mut log = Log::default();
    log.system(
        0,
        EventKind::GameStarted {
            teams: vec!["a".into(), "b".into()],
            rules: None,
        },
    )
    .system(
        0,
        opened(
            1,
            "a",
            "x",
            1,
            Resolution::Fix,
            "t1",
            "pause",
            None,
            &[],
            1800,
        ),
    )
    .system(
        0,
        opened(
            2,
            "b",
            "x",
            1,
            Resolution::Fix,
            "t2",
            "pause",
            None,
            &[],
            1800,
        ),
    )
    .at(
        60,
        player("a"),
        EventKind::Declared {
            team: "a".into(),
            target: "t1".into(),
        },
    )
    .at(
        60,
        player("b"),
        EventKind::Declared {
            team: "b".into(),
            target: "t2".into(),
        },
    )
    .at(
        120,
        player("a"),
        EventKind::ResolutionClaimed {
            team: "a".into(),
            incident: IncidentId(1),
        },
    )
    .at(
        120,
        player("b"),
        EventKind::ResolutionClaimed {
            team: "b".into(),
            incident: IncidentId(2),
        },
    )
    .system(
        130,
        EventKind::Verified {
            incident: IncidentId(1),
        },
    )
    .system(
        200,
        EventKind::Verified {
            incident: IncidentId(2),
        },
    )
    // b loses 1 point so that a and b tie when a takes the same.
    .at(
        300,
        player("a"),
        EventKind::Adjusted {
            team: "a".into(),
            points: -1,
            reason: "tie".into(),
        },
    )
    .at(
        300,
        player("b"),
        EventKind::Adjusted {
            team: "b".into(),
            points: -1,
            reason: "tie".into(),
        },
    );
    let state = GameState::replay(ScoringRules::default(), &log.events);
    let board = state.scoreboard();
    assert_eq!(board[0].points, board[1].points);
    assert_eq!(
        board[0].time_to_resolve_ms, board[1].time_to_resolve_ms,
        "same claim times"
    );
    assert_eq!((board[0].team.as_str(), board[1].team.as_str()), ("a", "b"));
}

#[test]
fn a_pause_freezes_deadlines_and_decay() {
    let mut log = Log::default();
    log.system(
        0,
        EventKind::GameStarted {
            teams: vec!["a".into()],
            rules: None,
        },
    )
    .system(
        0,
        opened(
            1,
            "a",
            "x",
            1,
            Resolution::Fix,
            "t",
            "pause",
            None,
            &[],
            600,
        ),
    )
    .system(
        100,
        EventKind::GamePaused {
            reason: "guard".into(),
        },
    );
    let state = GameState::replay(ScoringRules::default(), &log.events);
    // 100 s ran before the pause; an hour of pause does not reach the 600 s deadline.
    assert!(state.overdue(3_700_000).is_empty());
    log.system(3_700, EventKind::GameResumed);
    let state = GameState::replay(ScoringRules::default(), &log.events);
    assert!(state.overdue(3_700_000 + 499_000).is_empty());
    assert_eq!(state.overdue(3_700_000 + 500_000), vec![IncidentId(1)]);
    log.at(
        3_700 + 200,
        player("a"),
        EventKind::Declared {
            team: "a".into(),
            target: "t".into(),
        },
    );
    let state = GameState::replay(ScoringRules::default(), &log.events);
    // Detected after 300 s of running time: 100 - 80*300/600 = 60.
    assert_eq!(state.incidents[&IncidentId(1)].points.detect, 60);
}

#[test]
fn diagnoses_stop_after_three_tries_and_actions_on_closed_incidents_change_nothing() {
    let mut log = Log::default();
    log.system(
        0,
        EventKind::GameStarted {
            teams: vec!["a".into()],
            rules: None,
        },
    )
    .system(
        0,
        opened(
            1,
            "a",
            "x",
            1,
            Resolution::Fix,
            "t",
            "pause",
            None,
            &[10],
            1800,
        ),
    )
    .at(
        0,
        player("a"),
        EventKind::Declared {
            team: "a".into(),
            target: "t".into(),
        },
    );
    for (i, kind) in ["kill", "latency", "down", "pause"].iter().enumerate() {
        log.at(
            10 + i as i64,
            player("a"),
            EventKind::Diagnosed {
                team: "a".into(),
                incident: IncidentId(1),
                diagnosis: diagnosis("t", kind),
            },
        );
    }
    let state = GameState::replay(ScoringRules::default(), &log.events);
    let incident = &state.incidents[&IncidentId(1)];
    assert_eq!(incident.tries, 3);
    assert_eq!(
        incident.points.diagnose, -75,
        "the fourth (right) diagnosis came too late"
    );
    assert_eq!(incident.state, IncidentState::Detected);
    assert_eq!(state.ignored.len(), 1, "{:?}", state.ignored);

    log.system(
        100,
        EventKind::Expired {
            incident: IncidentId(1),
        },
    )
    .at(
        110,
        player("a"),
        EventKind::HintBought {
            team: "a".into(),
            incident: IncidentId(1),
            hint: 0,
        },
    )
    .at(
        120,
        player("a"),
        EventKind::ResolutionClaimed {
            team: "a".into(),
            incident: IncidentId(1),
        },
    )
    .system(
        130,
        EventKind::Verified {
            incident: IncidentId(1),
        },
    );
    let after = GameState::replay(ScoringRules::default(), &log.events);
    assert_eq!(
        after.incidents[&IncidentId(1)].state,
        IncidentState::Expired
    );
    assert_eq!(after.scoreboard()[0].points, state.scoreboard()[0].points);
}

#[test]
fn spectators_and_other_teams_see_only_detected_or_closed_incidents_and_no_ground_truth_before_closing()
 {
    let log = scripted();
    let rules = ScoringRules::default();
    // Just after #2 opened, before anyone detected anything.
    let early = GameState::replay(rules.clone(), &log.events[..3]);
    for viewer in [
        Viewer::Spectator,
        Viewer::Team("checkout".into()),
        Viewer::Team("search".into()),
    ] {
        assert!(
            secrecy::view(&early, &viewer).incidents.is_empty(),
            "{viewer:?} sees an undetected incident"
        );
        let lines = secrecy::timeline(&rules, &log.events[..3], &viewer);
        assert!(
            lines.iter().all(|l| l.incident.is_none()),
            "{viewer:?}: {lines:?}"
        );
    }
    assert_eq!(
        secrecy::view(&early, &Viewer::GameMaster).incidents.len(),
        2
    );

    // After checkout detected #1 and bought a hint: checkout sees it, without ground truth;
    // search sees that it exists, without hints.
    let mid = GameState::replay(rules.clone(), &log.events[..6]);
    let own = secrecy::view(&mid, &Viewer::Team("checkout".into()));
    let seen = &own.incidents[0];
    assert_eq!(
        (
            seen.id,
            seen.diagnosis.as_ref(),
            seen.faults.as_ref(),
            seen.scenario.as_ref()
        ),
        (IncidentId(1), None, None, None)
    );
    let hints = seen.hints.as_ref().expect("own hints");
    assert_eq!(hints[0].text.as_deref(), Some("hint 0 of slow-database"));
    assert_eq!(hints[1].text, None, "an unbought hint's text is hidden");
    let other = secrecy::view(&mid, &Viewer::Team("search".into()));
    assert_eq!(other.incidents.len(), 1);
    assert_eq!(
        (other.incidents[0].hints.as_ref(), other.incidents[0].tries),
        (None, None)
    );

    // Once closed, the ground truth is public.
    let end = GameState::replay(rules.clone(), &log.events);
    let public = secrecy::view(&end, &Viewer::Spectator);
    let closed = public
        .incidents
        .iter()
        .find(|i| i.id == IncidentId(1))
        .expect("closed #1");
    assert_eq!(
        closed.diagnosis.as_ref().map(|d| d.kind.as_str()),
        Some("latency")
    );
    // #3 was never detected but is closed: visible now, with its truth.
    assert!(public.incidents.iter().any(|i| i.id == IncidentId(3)));
    let timeline = secrecy::timeline(&rules, &log.events, &Viewer::Spectator);
    insta::assert_snapshot!(
        "scripted_spectator_timeline",
        timeline
            .iter()
            .map(|l| format!("{:>5}s {:+5} {}", l.at_ms / 1000, l.points, l.text))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
