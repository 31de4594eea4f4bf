//! `chaosday report --monkey` on a monkey's history written through `MonkeyLog` to a real
//! SQLite event log: every format, the monkey picked or named, and a game beside it in the
//! same store.

use std::path::{Path, PathBuf};

use chaosday_domain::events::{Actor, EventKind};
use chaosday_domain::monkey::events::MonkeyEvent;
use chaosday_store::{EventLog, GameLog, MonkeyLog};
use serde_json::{Value, json};

use crate::report::report;
use crate::support::{Sandbox, text};

/// 2027-03-08T00:00:00Z, a Monday.
const MONDAY: i64 = 1_804_464_000_000;
const MONKEY: &str = "shop-monkey";

/// `day` days after Monday, at `hour`:`minute` UTC.
fn at(day: i64, hour: i64, minute: i64) -> i64 {
    MONDAY + ((day * 24 + hour) * 60 + minute) * 60_000
}

/// A planned fault of two minutes, as the log holds it.
fn planned(id: &str, at_ms: i64, target: &str, kind: &str) -> Value {
    json!({
        "id": id,
        "group": id.split('-').nth(1),
        "at_ms": at_ms,
        "targets": [{"target": target}],
        "fault": {"kind": kind},
        "lasts_ms": 120_000,
    })
}

/// Two days, written as the log stores them: Monday leashed (checkout's fault decided,
/// nothing touched; search's skipped by its owner with a reason holding a comma, quotes and
/// markup), Tuesday unleashed (checkout's fault injected, reverted by its timer, recovered
/// from in 42 s; search's reverted by a guard and never recovered from; the kill switch
/// pulled and released, and checkout's second fault skipped while it was on).
fn history() -> Vec<(i64, MonkeyEvent)> {
    let cart = json!([{"target": "cart"}]);
    let operator = "the monkey's operator";
    [
        (at(0, 8, 55), json!({"kind": "started", "mode": "leashed"})),
        (
            at(0, 8, 55),
            json!({"kind": "planned", "day": "2027-03-08", "faults": [
                planned("20270308-checkout-1", at(0, 10, 0), "cart", "pause"),
                planned("20270308-search-1", at(0, 11, 0), "indexer", "kill"),
            ]}),
        ),
        (
            at(0, 10, 0),
            json!({"kind": "injected", "id": "20270308-checkout-1", "targets": cart, "leashed": true}),
        ),
        (
            at(0, 10, 2),
            json!({"kind": "reverted", "id": "20270308-checkout-1", "cause": {"cause": "timer"}}),
        ),
        (
            at(0, 10, 30),
            json!({"kind": "skipped", "id": "20270308-search-1", "reason": {
                "reason": "owner", "by": "bob", "why": "demo day, \"please\" <b>not today</b>",
            }}),
        ),
        (at(1, 8, 55), json!({"kind": "started", "mode": "unleashed"})),
        (
            at(1, 8, 55),
            json!({"kind": "planned", "day": "2027-03-09", "faults": [
                planned("20270309-checkout-1", at(1, 9, 30), "cart", "pause"),
                planned("20270309-search-1", at(1, 10, 0), "indexer", "kill"),
                planned("20270309-checkout-2", at(1, 14, 0), "cart", "pause"),
            ]}),
        ),
        (
            at(1, 9, 30),
            json!({"kind": "injected", "id": "20270309-checkout-1", "targets": cart, "faults": [11]}),
        ),
        (
            at(1, 9, 32),
            json!({"kind": "reverted", "id": "20270309-checkout-1", "cause": {"cause": "timer"}}),
        ),
        (
            at(1, 9, 33),
            json!({"kind": "recovered", "id": "20270309-checkout-1", "after_ms": 42_000}),
        ),
        (
            at(1, 10, 0),
            json!({"kind": "injected", "id": "20270309-search-1", "targets": [{"target": "indexer"}], "faults": [12]}),
        ),
        (
            at(1, 10, 1),
            json!({"kind": "reverted", "id": "20270309-search-1", "cause": {
                "cause": "guard", "guard": "orders", "detail": "connection refused",
            }}),
        ),
        (
            at(1, 10, 11),
            json!({"kind": "not_recovered", "id": "20270309-search-1", "waited_ms": 600_000}),
        ),
        (at(1, 13, 0), json!({"kind": "aborted", "by": operator})),
        (
            at(1, 14, 0),
            json!({"kind": "skipped", "id": "20270309-checkout-2", "reason": {"reason": "kill_switch"}}),
        ),
        (at(1, 15, 0), json!({"kind": "rearmed", "by": operator})),
    ]
    .into_iter()
    .map(|(at_ms, event)| {
        let event = serde_json::from_value(event.clone())
            .unwrap_or_else(|e| panic!("not a monkey event: {e}: {event}"));
        (at_ms, event)
    })
    .collect()
}

/// Writes the history of the monkey `name` to the store at `path`.
async fn write_monkey(path: &Path, name: &str, events: Vec<(i64, MonkeyEvent)>) {
    let log = EventLog::open(path.to_str().unwrap())
        .await
        .expect("open the event log");
    MonkeyLog::new(log.clone(), name)
        .append(events)
        .await
        .expect("append");
    log.close().await;
}

/// A sandbox with the monkey's history in `STATE_DIR/monkey.sqlite`; returns its path.
async fn monkey_store(sandbox: &Sandbox) -> PathBuf {
    let path = sandbox.state_dir().join("monkey.sqlite");
    write_monkey(&path, MONKEY, history()).await;
    path
}

#[tokio::test]
async fn the_history_of_a_monkey_in_every_format() {
    let sandbox = Sandbox::new();
    let store = monkey_store(&sandbox).await;
    let store = store.to_str().unwrap();
    let args = |format: &'static str| ["--monkey", "--store", store, "--format", format];

    let json: serde_json::Value =
        serde_json::from_str(&report(&sandbox, &args("json"))).expect("JSON");
    assert_eq!(json["format"], "chaosday-monkey-report");
    assert_eq!(json["monkey"], MONKEY);
    assert_eq!(
        json["history"]["days"],
        serde_json::json!(["2027-03-08", "2027-03-09"])
    );
    assert_eq!(json["history"]["entries"].as_array().map(Vec::len), Some(5));
    assert_eq!(json["history"]["armed"], true);
    let checkout = &json["groups"]["checkout"];
    assert_eq!(checkout["planned"], 3);
    assert_eq!(checkout["injected"], 1);
    assert_eq!(checkout["leashed"], 1);
    assert_eq!(checkout["skipped"]["kill_switch"], 1);
    assert_eq!(checkout["reverted"]["timer"], 1);
    assert_eq!(checkout["median_recovery_ms"], 42_000);
    let search = &json["groups"]["search"];
    assert_eq!(search["skipped"]["owner"], 1);
    assert_eq!(search["reverted"]["guard"], 1);
    assert_eq!(search["not_recovered"], 1);
    assert_eq!(json["kill_switches"][0]["skipped"], 1);
    assert_eq!(json["kill_switches"][0]["rearmed_ms"], at(1, 15, 0));

    let csv = report(&sandbox, &args("csv"));
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert_eq!(
        lines[0],
        "id,day,at,group,targets,kind,lasts_ms,status,leashed,skipped_reason,end_cause,injected_at,ended_at,recovered_after_ms,not_recovered,fate"
    );
    assert_eq!(lines.len(), 6, "a header and a row per planned fault");
    assert_eq!(
        lines[1],
        "20270308-checkout-1,2027-03-08,2027-03-08T10:00:00Z,checkout,cart,pause,120000,ended,true,,timer,2027-03-08T10:00:00Z,2027-03-08T10:02:00Z,,false,leashed: nothing was touched"
    );
    // A reason with a comma and quotes is one quoted field.
    assert_eq!(
        lines[2],
        r#"20270308-search-1,2027-03-08,2027-03-08T11:00:00Z,search,indexer,kill,120000,skipped,false,owner,,,,,false,"skipped by bob: demo day, ""please"" <b>not today</b>""#
    );
    assert_eq!(
        lines[3],
        "20270309-checkout-1,2027-03-09,2027-03-09T09:30:00Z,checkout,cart,pause,120000,ended,false,,timer,2027-03-09T09:30:00Z,2027-03-09T09:32:00Z,42000,false,reverted: its time ran out"
    );
    assert!(lines[4].contains(",guard,2027-03-09T10:00:00Z,2027-03-09T10:01:00Z,,true,"));
    assert!(lines[5].contains(",skipped,false,kill_switch,"));

    insta::assert_snapshot!("monkey_md", report(&sandbox, &args("md")));

    let html = report(&sandbox, &args("html"));
    assert!(html.starts_with("<!doctype html>"));
    assert_eq!(html.matches("<svg ").count(), 2);
    assert!(!html.contains("<script"));
    assert!(
        !html.contains("<b>not today"),
        "the owner's reason is escaped"
    );
    assert!(html.contains("demo day, &quot;please&quot; &lt;b&gt;not today&lt;/b&gt;"));
    for text in [
        "leashed from 2027-03-08 08:55:00, then unleashed from 2027-03-09 08:55:00",
        "Times are UTC",
        "reverted early: guard orders stayed red (connection refused)",
        "not recovered",
        "2027-03-09 13:00:00",
        "the monkey&#39;s operator",
    ] {
        assert!(html.contains(text), "no {text:?} in the page");
    }
    // The default store is STATE_DIR/monkey.sqlite, the default monkey the only one, the
    // default format HTML; a name picks the same monkey.
    assert_eq!(report(&sandbox, &["--monkey"]), html);
    assert_eq!(report(&sandbox, &["--monkey", MONKEY]), html);
    // --out writes the file and says what it holds.
    let file = sandbox.state_dir().join("monkey.csv");
    let out = sandbox.run(&[
        "report",
        "--monkey",
        "--format",
        "csv",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("5 planned fault(s)"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), csv);
}

#[tokio::test]
async fn the_monkey_asked_for_must_be_in_the_log() {
    let sandbox = Sandbox::new();
    // No log: say where it was looked for and how one is written.
    let out = sandbox.run(&["report", "--monkey"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("STATE_DIR/monkey.sqlite"), "{err}");
    assert!(err.contains("chaosday monkey MONKEY.yaml"), "{err}");

    // A log with a game and no monkey.
    let store = sandbox.state_dir().join("games.sqlite");
    write_game(&store).await;
    let out = sandbox.run(&["report", "--monkey", "--store", store.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("holds no monkey yet"), "{err}");
    assert!(err.contains("chaosday monkey MONKEY.yaml"), "{err}");

    // Two monkeys: name one; an unknown one is named back with the list.
    let store = monkey_store(&sandbox).await;
    write_monkey(&store, "night-monkey", history()[..2].to_vec()).await;
    let store = store.to_str().unwrap();
    let out = sandbox.run(&["report", "--monkey", "--store", store]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("2 monkeys: `night-monkey`, `shop-monkey`"),
        "{err}"
    );
    assert!(err.contains("--monkey NAME"), "{err}");
    let out = sandbox.run(&["report", "--monkey", "gorilla", "--store", store]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("no monkey `gorilla`"), "{err}");
    assert!(err.contains("`night-monkey`, `shop-monkey`"), "{err}");
    let night = report(
        &sandbox,
        &[
            "--monkey",
            "night-monkey",
            "--store",
            store,
            "--format",
            "csv",
        ],
    );
    assert_eq!(night.lines().count(), 3, "a header and two planned faults");
}

/// A game of one team, started and ended, in the store at `path`.
async fn write_game(path: &Path) {
    let log = EventLog::open(path.to_str().unwrap())
        .await
        .expect("open the event log");
    let games = GameLog::new(log.clone(), "spring");
    let gm = Actor::GameMaster {
        player: "grace".into(),
    };
    games
        .append(
            at(0, 9, 0),
            gm.clone(),
            EventKind::GameStarted {
                teams: vec!["checkout".into()],
                rules: None,
            },
        )
        .await
        .expect("append");
    games
        .append(at(0, 10, 0), gm, EventKind::GameEnded)
        .await
        .expect("append");
    log.close().await;
}

#[tokio::test]
async fn a_game_report_does_not_take_a_monkey_for_a_game() {
    let sandbox = Sandbox::new();
    let store = monkey_store(&sandbox).await;
    let store = store.to_str().unwrap();
    let out = sandbox.run(&["report", "--store", store]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("holds no game yet"), "{err}");
    assert!(!err.contains("monkey:"), "{err}");

    // A game beside the monkey: each report finds its own.
    write_game(Path::new(store)).await;
    let json: serde_json::Value =
        serde_json::from_str(&report(&sandbox, &["--store", store, "--format", "json"]))
            .expect("JSON");
    assert_eq!(json["format"], "chaosday-report");
    assert_eq!(json["game"], "spring");
    assert_eq!(json["teams"][0]["team"], "checkout");
    let out = sandbox.run(&["report", "--store", store, "--game", "monkey:shop-monkey"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no game `monkey:shop-monkey`"));
    let monkey = report(&sandbox, &["--monkey", "--store", store, "--format", "csv"]);
    assert_eq!(monkey.lines().count(), 6);
}
