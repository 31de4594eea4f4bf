//! A game's domain events through the log: stored durably, read back the same, and the
//! scoreboard rebuilt by replay equal to the one computed live — on SQLite and PostgreSQL.

use std::collections::BTreeMap;

use chaosday_domain::events::{
    Actor, Diagnosis, EventKind, FaultSummary, Hint, IncidentId, Resolution,
};
use chaosday_domain::incident::GameState;
use chaosday_domain::scoring::ScoringRules;
use chaosday_store::GameLog;

use crate::support::{Db, on_both_backends};

on_both_backends!(a_replayed_game_has_the_same_events_and_the_same_scoreboard,);

fn player(team: &str) -> Actor {
    Actor::Team {
        team: team.into(),
        player: "ada".into(),
    }
}

fn script() -> Vec<(i64, Actor, EventKind)> {
    let opened = |id: u64, team: &str, target: &str, resolution| EventKind::IncidentOpened {
        incident: IncidentId(id),
        team: team.into(),
        scenario: format!("scenario-{id}"),
        difficulty: 2,
        resolution,
        diagnosis: Diagnosis {
            target: target.into(),
            kind: "latency".into(),
        },
        faults: vec![FaultSummary {
            target: target.into(),
            kind: "latency".into(),
            description: format!("latency on {target}"),
            alert_match: chaosday_domain::alerting::AlertMatch::labels([("service", target)]),
        }],
        hints: vec![Hint {
            text: "look at the database".into(),
            cost: 30,
        }],
        deadline_ms: 1_800_000,
        mirrors: Vec::new(),
    };
    vec![
        (
            0,
            Actor::System,
            EventKind::GameStarted {
                teams: vec!["red".into(), "blue".into()],
                rules: None,
            },
        ),
        (
            1_000,
            Actor::System,
            opened(1, "red", "db", Resolution::Diagnose),
        ),
        (
            2_000,
            Actor::System,
            opened(2, "blue", "cache", Resolution::Fix),
        ),
        (
            30_000,
            player("red"),
            EventKind::Declared {
                team: "red".into(),
                target: "db".into(),
            },
        ),
        (
            40_000,
            player("blue"),
            EventKind::Declared {
                team: "blue".into(),
                target: "db".into(),
            },
        ),
        (
            50_000,
            Actor::Alert {
                team: "blue".into(),
            },
            EventKind::AlertFired {
                team: "blue".into(),
                labels: BTreeMap::from([("service".into(), "cache".into())]),
                starts_at_ms: 45_000,
                fingerprint: String::new(),
            },
        ),
        (
            60_000,
            player("red"),
            EventKind::HintBought {
                team: "red".into(),
                incident: IncidentId(1),
                hint: 0,
            },
        ),
        (
            70_000,
            player("red"),
            EventKind::Diagnosed {
                team: "red".into(),
                incident: IncidentId(1),
                diagnosis: Diagnosis {
                    target: "db".into(),
                    kind: "latency".into(),
                },
            },
        ),
        (
            80_000,
            player("blue"),
            EventKind::ResolutionClaimed {
                team: "blue".into(),
                incident: IncidentId(2),
            },
        ),
        (
            110_000,
            Actor::System,
            EventKind::Verified {
                incident: IncidentId(2),
            },
        ),
        (
            120_000,
            Actor::GameMaster {
                player: "gm".into(),
            },
            EventKind::Adjusted {
                team: "blue".into(),
                points: -5,
                reason: "late".into(),
            },
        ),
        (130_000, Actor::System, EventKind::GameEnded),
    ]
}

async fn a_replayed_game_has_the_same_events_and_the_same_scoreboard(db: Db) {
    let log = GameLog::new(db.open().await, "spring-day");
    let mut live = GameState::new(ScoringRules::default());
    let mut appended = Vec::new();
    for (at_ms, actor, kind) in script() {
        let event = log.append(at_ms, actor, kind).await.expect("append");
        live.apply(&event);
        appended.push(event);
    }
    assert!(
        appended.windows(2).all(|w| w[0].seq < w[1].seq),
        "seqs are not increasing"
    );

    // Another process reading the same store (beside its writer) reads the same events and
    // scores the same.
    let reopened = GameLog::new(db.open_read_only().await, "spring-day");
    let events = reopened.events_since(0).await.expect("read");
    assert_eq!(events, appended);
    let replayed = reopened
        .replay(ScoringRules::default())
        .await
        .expect("replay");
    assert_eq!(replayed.scoreboard(), live.scoreboard());
    let board = replayed.scoreboard();
    assert_eq!(board.len(), 2);
    assert!(board.iter().all(|s| s.points != 0), "{board:?}");
    let tail = reopened.events_since(appended[5].seq).await.expect("tail");
    assert_eq!(tail, appended[6..].to_vec());
    db.finish().await;
}
