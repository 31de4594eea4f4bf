//! Alert traffic in the timeline and the report: the game master sees every alert that
//! came (the one that detected, the one that cost a false alarm, a repeat), with its labels
//! and fingerprint; the team reads what it sent itself no more than its detections and false
//! alarms tell it; spectators and the other teams see no alert traffic of another team.

use std::collections::BTreeMap;

use chaosday_domain::events::{Actor, EventKind, IncidentId, Resolution};
use chaosday_domain::report;
use chaosday_domain::scoring::ScoringRules;
use chaosday_domain::secrecy::{self, TimelineKind, Viewer};

use crate::log::{Log, opened};

fn alert(name: &str, starts_s: i64, fingerprint: &str) -> EventKind {
    EventKind::AlertFired {
        team: "checkout".into(),
        labels: BTreeMap::from([
            ("alertname".into(), name.into()),
            ("service".into(), "cart".into()),
        ]),
        starts_at_ms: starts_s * 1000,
        fingerprint: fingerprint.into(),
    }
}

fn by_alert() -> Actor {
    Actor::Alert {
        team: "checkout".into(),
    }
}

/// Checkout's #1 on cart opens at 100 s; a standing alert (since 10 s) comes at 110 s and
/// again at 120 s; an alert started at 130 s comes at 140 s and detects #1; the standing
/// alert resolves at 150 s.
fn game() -> Log {
    let mut log = Log::default();
    log.system(
        0,
        EventKind::GameStarted {
            teams: vec!["checkout".into(), "search".into()],
            rules: None,
        },
    )
    .system(
        100,
        opened(
            1,
            "checkout",
            "cart-slow",
            1,
            Resolution::Diagnose,
            "cart",
            "latency",
            Some(("service", "cart")),
            &[],
            1800,
        ),
    )
    .at(110, by_alert(), alert("Standing", 10, "f-standing"))
    .at(120, by_alert(), alert("Standing", 10, "f-standing"))
    .at(140, by_alert(), alert("CartSlow", 130, "f-slow"))
    .at(
        150,
        by_alert(),
        EventKind::AlertResolved {
            team: "checkout".into(),
            labels: BTreeMap::from([
                ("alertname".into(), "Standing".into()),
                ("service".into(), "cart".into()),
            ]),
            starts_at_ms: 10_000,
            ends_at_ms: 149_000,
            fingerprint: "f-standing".into(),
        },
    );
    log
}

/// The alert-related lines `viewer` sees live, as `kind: text`.
fn alert_lines(log: &Log, viewer: &Viewer) -> Vec<String> {
    secrecy::timeline(&ScoringRules::default(), &log.events, viewer)
        .into_iter()
        .filter(|e| matches!(e.kind, TimelineKind::Alert | TimelineKind::FalseAlarm))
        .map(|e| format!("{}: {}", e.kind.as_str(), e.text))
        .collect()
}

#[test]
fn the_game_master_sees_every_alert_with_its_labels_and_fingerprint() {
    let id = IncidentId(1);
    assert_eq!(
        alert_lines(&game(), &Viewer::GameMaster),
        [
            "false_alarm: checkout: false alarm from an alert (alertname=Standing, service=cart; fingerprint f-standing)".to_owned(),
            "alert: an alert of checkout (alertname=Standing, service=cart; fingerprint f-standing) detected nothing new".to_owned(),
            format!("alert: an alert of checkout (alertname=CartSlow, service=cart; fingerprint f-slow) detected incident {id}"),
            "alert: an alert of checkout (alertname=Standing, service=cart; fingerprint f-standing) resolved".to_owned(),
        ]
    );
}

#[test]
fn a_team_reads_its_own_false_alarm_and_detection_and_nothing_of_its_repeats() {
    let id = IncidentId(1);
    assert_eq!(
        alert_lines(&game(), &Viewer::Team("checkout".into())),
        [
            "false_alarm: checkout: false alarm from an alert (alertname=Standing, service=cart; fingerprint f-standing)".to_owned(),
            format!("alert: an alert of checkout detected incident {id}"),
        ]
    );
}

#[test]
fn spectators_and_other_teams_see_no_alert_traffic_of_a_team() {
    let id = IncidentId(1);
    for viewer in [Viewer::Spectator, Viewer::Team("search".into())] {
        assert_eq!(
            alert_lines(&game(), &viewer),
            [
                "false_alarm: checkout: false alarm".to_owned(),
                format!("alert: an alert of checkout detected incident {id}"),
            ],
            "{viewer:?}"
        );
    }
}

#[test]
fn the_report_names_the_alert_that_detected_an_incident() {
    let log = game();
    // The team reads its whole alert traffic in the report, the repeat and the resolution too.
    let team = report::build(
        &ScoringRules::default(),
        &log.events,
        &Viewer::Team("checkout".into()),
        None,
    );
    let told: Vec<&str> = team
        .timeline
        .iter()
        .filter(|item| item.kind == TimelineKind::Alert)
        .map(|item| item.text.as_str())
        .collect();
    assert_eq!(told.len(), 3, "{told:?}");
    assert!(
        told[2].ends_with("fingerprint f-standing) resolved"),
        "{told:?}"
    );
    let report = report::build(
        &ScoringRules::default(),
        &log.events,
        &Viewer::GameMaster,
        None,
    );
    let detection = report.incidents[0].detection.as_ref().unwrap();
    assert_eq!(
        detection.detail.as_deref(),
        Some("alertname=CartSlow, service=cart; fingerprint f-slow")
    );
    // Detected when the alert came (140 s), 40 s after the opening, not at its start.
    assert_eq!(report.incidents[0].time_to_detect_ms, Some(40_000));
}
