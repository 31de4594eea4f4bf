//! The monkey's report on a small history of four days: its figures in every format, the
//! kill switch, escaping of what the log says, well-formed charts.

use chaosday_domain::FaultSpec;
use chaosday_domain::monkey::Mode;
use chaosday_domain::monkey::events::{MonkeyEvent, MonkeyRecord, RevertCause, SkipReason};
use chaosday_domain::monkey::plan::{PlannedFault, PlannedTarget};

use super::csv::COLUMNS;
use super::{MonkeyReport, render};
use crate::report::Format;
use crate::report::tests::svgs_well_formed;

/// 2027-03-08T00:00:00Z, a Monday.
const MONDAY: i64 = 1_804_464_000_000;
const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

/// `day` days after Monday, at `hour`:`minute` UTC.
fn at(day: i64, hour: i64, minute: i64) -> i64 {
    MONDAY + day * 24 * HOUR + hour * HOUR + minute * MINUTE
}

fn fault(json: serde_json::Value) -> FaultSpec {
    serde_json::from_value(json).expect("a fault")
}

fn target(name: &str) -> PlannedTarget {
    PlannedTarget {
        target: name.into(),
        instance: None,
    }
}

fn planned(id: &str, at_ms: i64, target: PlannedTarget, spec: FaultSpec) -> PlannedFault {
    PlannedFault {
        id: id.into(),
        group: id.split('-').nth(1).expect("a group").into(),
        at_ms,
        targets: vec![target],
        fault: spec,
        lasts_ms: 5 * MINUTE as u64,
    }
}

fn pause() -> FaultSpec {
    fault(serde_json::json!({"kind": "pause"}))
}

fn latency() -> FaultSpec {
    fault(serde_json::json!({"kind": "latency", "latency": "800ms", "jitter": "200ms"}))
}

fn injected(id: &str, targets: Vec<PlannedTarget>, leashed: bool) -> MonkeyEvent {
    MonkeyEvent::Injected {
        id: id.into(),
        targets,
        leashed,
        faults: if leashed { Vec::new() } else { vec![1] },
    }
}

fn reverted(id: &str, cause: RevertCause) -> MonkeyEvent {
    MonkeyEvent::Reverted {
        id: id.into(),
        cause,
    }
}

fn skipped(id: &str, reason: SkipReason) -> MonkeyEvent {
    MonkeyEvent::Skipped {
        id: id.into(),
        reason,
    }
}

/// Four days of a monkey with two groups, `checkout` and `search`:
/// - Monday, leashed: checkout's fault decided (nothing touched), search's skipped because
///   its outage checker was red;
/// - Tuesday, unleashed: checkout's first skipped by its owner (a reason with markup), its
///   second injected on a label target, reverted by its timer and recovered from in 42 s;
///   search's first reverted early by a guard and recovered from in 95 s, its second failed;
/// - Wednesday: the kill switch, pulled at 09:33, reverts checkout's first fault (recovered
///   from in 3 min) and skips search's; released at 10:30; checkout's second is never
///   recovered from;
/// - Thursday: search's fault in effect, checkout's still to come.
fn records() -> Vec<MonkeyRecord> {
    let owner = SkipReason::Owner {
        by: "alice (checkout)".into(),
        why: "<script>alert('release')</script> release day".into(),
    };
    let outage = SkipReason::Outage {
        probe: "search-health".into(),
        detail: "HTTP 503 from /healthz".into(),
    };
    let guard = RevertCause::Guard {
        guard: "orders-p99".into(),
        detail: "p99 2.4s > 1s".into(),
    };
    let db = PlannedTarget {
        target: "db".into(),
        instance: Some("db-1".into()),
    };
    let operator = "the monkey's operator".to_owned();
    let plan = |day: &str, faults: Vec<PlannedFault>| MonkeyEvent::Planned {
        day: day.into(),
        faults,
    };
    let recovered = |id: &str, after_ms: u64| MonkeyEvent::Recovered {
        id: id.into(),
        after_ms,
    };
    use MonkeyEvent::{Aborted, Failed, NotRecovered, Rearmed, Started, Stopped};
    let events: Vec<(i64, MonkeyEvent)> = vec![
        (
            at(0, 8, 55),
            Started {
                mode: Mode::Leashed,
            },
        ),
        (
            at(0, 8, 55),
            plan(
                "2027-03-08",
                vec![
                    planned(
                        "20270308-checkout-1",
                        at(0, 10, 12),
                        target("cart"),
                        pause(),
                    ),
                    planned(
                        "20270308-search-1",
                        at(0, 11, 30),
                        target("search-api"),
                        latency(),
                    ),
                ],
            ),
        ),
        (
            at(0, 10, 12),
            injected("20270308-checkout-1", vec![target("cart")], true),
        ),
        (
            at(0, 10, 17),
            reverted("20270308-checkout-1", RevertCause::Timer),
        ),
        (at(0, 11, 30), skipped("20270308-search-1", outage)),
        (
            at(0, 17, 0),
            Stopped {
                reason: "SIGTERM".into(),
            },
        ),
        (
            at(1, 8, 55),
            Started {
                mode: Mode::Unleashed,
            },
        ),
        (
            at(1, 8, 55),
            plan(
                "2027-03-09",
                vec![
                    planned("20270309-checkout-1", at(1, 9, 40), target("cart"), pause()),
                    planned(
                        "20270309-search-1",
                        at(1, 10, 20),
                        target("search-api"),
                        latency(),
                    ),
                    planned("20270309-checkout-2", at(1, 13, 5), db.clone(), latency()),
                    planned(
                        "20270309-search-2",
                        at(1, 15, 0),
                        target("indexer"),
                        pause(),
                    ),
                ],
            ),
        ),
        (at(1, 9, 40), skipped("20270309-checkout-1", owner)),
        (
            at(1, 10, 20),
            injected("20270309-search-1", vec![target("search-api")], false),
        ),
        (at(1, 10, 24), reverted("20270309-search-1", guard)),
        (at(1, 10, 26), recovered("20270309-search-1", 95_000)),
        (
            at(1, 13, 5),
            injected("20270309-checkout-2", vec![db], false),
        ),
        (
            at(1, 13, 10),
            reverted("20270309-checkout-2", RevertCause::Timer),
        ),
        (at(1, 13, 11), recovered("20270309-checkout-2", 42_000)),
        (
            at(1, 15, 0),
            Failed {
                id: "20270309-search-2".into(),
                error: "container search-indexer is not running".into(),
            },
        ),
        (
            at(2, 8, 55),
            plan(
                "2027-03-10",
                vec![
                    planned("20270310-checkout-1", at(2, 9, 30), target("cart"), pause()),
                    planned(
                        "20270310-search-1",
                        at(2, 10, 0),
                        target("search-api"),
                        latency(),
                    ),
                    planned("20270310-checkout-2", at(2, 11, 0), target("cart"), pause()),
                ],
            ),
        ),
        (
            at(2, 9, 30),
            injected("20270310-checkout-1", vec![target("cart")], false),
        ),
        (
            at(2, 9, 33),
            Aborted {
                by: operator.clone(),
            },
        ),
        (
            at(2, 9, 33),
            reverted("20270310-checkout-1", RevertCause::KillSwitch),
        ),
        (at(2, 9, 36), recovered("20270310-checkout-1", 180_000)),
        (
            at(2, 10, 0),
            skipped("20270310-search-1", SkipReason::KillSwitch),
        ),
        (at(2, 10, 30), Rearmed { by: operator }),
        (
            at(2, 11, 0),
            injected("20270310-checkout-2", vec![target("cart")], false),
        ),
        (
            at(2, 11, 5),
            reverted("20270310-checkout-2", RevertCause::Timer),
        ),
        (
            at(2, 11, 15),
            NotRecovered {
                id: "20270310-checkout-2".into(),
                waited_ms: 600_000,
            },
        ),
        (
            at(3, 8, 55),
            plan(
                "2027-03-11",
                vec![
                    planned(
                        "20270311-search-1",
                        at(3, 9, 10),
                        target("search-api"),
                        latency(),
                    ),
                    planned("20270311-checkout-1", at(3, 14, 0), target("cart"), pause()),
                ],
            ),
        ),
        (
            at(3, 9, 10),
            injected("20270311-search-1", vec![target("search-api")], false),
        ),
    ];
    events
        .into_iter()
        .enumerate()
        .map(|(i, (at_ms, event))| MonkeyRecord {
            seq: i as u64 + 1,
            at_ms,
            event,
        })
        .collect()
}

fn report() -> MonkeyReport {
    MonkeyReport::build("shop-monkey", &records())
}

#[test]
fn each_groups_figures_count_every_fate() {
    let report = report();
    let checkout = &report.groups["checkout"];
    assert_eq!(checkout.planned, 6);
    assert_eq!(checkout.injected, 3);
    assert_eq!(checkout.leashed, 1);
    assert_eq!(checkout.skipped.get("owner"), Some(&1));
    assert_eq!(checkout.reverted.get("timer"), Some(&2));
    assert_eq!(checkout.reverted.get("kill_switch"), Some(&1));
    assert_eq!(checkout.recoveries_ms, [42_000, 180_000]);
    assert_eq!(checkout.median_recovery_ms(), Some(111_000));
    assert_eq!(checkout.not_recovered, 1);
    let search = &report.groups["search"];
    assert_eq!(search.planned, 5);
    assert_eq!(search.injected, 2);
    assert_eq!(search.active, 1);
    assert_eq!(search.failed, 1);
    assert_eq!(search.skipped.get("outage"), Some(&1));
    assert_eq!(search.skipped.get("kill_switch"), Some(&1));
    assert_eq!(search.reverted.get("guard"), Some(&1));
    // The modes, the kill switch and what it did.
    assert_eq!(
        report
            .starts
            .iter()
            .map(|s| s.mode.to_string())
            .collect::<Vec<_>>(),
        ["leashed", "unleashed"]
    );
    let [switch] = report.kill_switches.as_slice() else {
        panic!("one kill switch: {:?}", report.kill_switches);
    };
    assert_eq!(switch.pulled_ms, at(2, 9, 33));
    assert_eq!(switch.rearmed_ms, Some(at(2, 10, 30)));
    assert_eq!((switch.reverted, switch.skipped), (1, 1));
}

#[test]
fn markdown_shows_the_figures_and_every_planned_fault() {
    let md = render(Format::Markdown, &report());
    for line in [
        "**unleashed**, armed. 2027-03-08 → 2027-03-11 (4 days planned). Modes: leashed from 2027-03-08 08:55:00, then unleashed from 2027-03-09 08:55:00.",
        "| checkout | 6 | 3 | 1 | 1 | 1 owner | 3 | 2 timer, 1 kill switch | 0 | 0 | 1m 51s | 3m 00s | 1 |",
        "| search | 5 | 2 | 0 | 2 | 1 kill switch, 1 outage | 1 | 1 guard | 1 | 1 | 1m 35s | 1m 35s | 0 |",
        "| **all groups** | 11 | 5 | 1 | 3 |",
        "| 2027-03-09 | search | 1 | 0 | 1 | 0 | 0 |",
        "| 2027-03-10 09:33:00 | the monkey's operator | 2027-03-10 10:30:00 | the monkey's operator | 1 | 1 |",
        "| 2027-03-09 | 2027-03-09 13:05:00 | 20270309-checkout-2 | checkout | db/db-1 | latency (800ms ± 200ms) | 5m 00s | ended | reverted: its time ran out | 5m 00s | 42s |",
        "| 2027-03-10 | 2027-03-10 11:00:00 | 20270310-checkout-2 | checkout | cart | pause (SIGSTOP) | 5m 00s | ended | reverted: its time ran out | 5m 00s | not recovered |",
        "| 2027-03-11 | 2027-03-11 14:00:00 | 20270311-checkout-1 | checkout | cart | pause (SIGSTOP) | 5m 00s | planned | planned | — | — |",
    ] {
        assert!(md.contains(line), "no {line:?} in\n{md}");
    }
    assert!(
        md.contains(
            r"skipped by alice (checkout): \<script\>alert('release')\</script\> release day"
        ),
        "{md}"
    );
}

#[test]
fn json_holds_the_history_and_each_groups_figures() {
    let json: serde_json::Value =
        serde_json::from_str(&render(Format::Json, &report())).expect("JSON");
    assert_eq!(json["format"], "chaosday-monkey-report");
    assert_eq!(json["monkey"], "shop-monkey");
    assert_eq!(
        json["history"]["entries"].as_array().map(Vec::len),
        Some(11)
    );
    assert_eq!(json["history"]["days"][0], "2027-03-08");
    assert_eq!(json["history"]["mode"], "unleashed");
    let checkout = &json["groups"]["checkout"];
    assert_eq!(checkout["planned"], 6);
    assert_eq!(checkout["skipped"]["owner"], 1);
    assert_eq!(checkout["reverted"]["kill_switch"], 1);
    assert_eq!(checkout["median_recovery_ms"], 111_000);
    assert_eq!(checkout["max_recovery_ms"], 180_000);
    assert_eq!(
        json["kill_switches"][0]["rearmed_by"],
        "the monkey's operator"
    );
    assert_eq!(json["starts"][1]["mode"], "unleashed");
}

#[test]
fn csv_has_a_row_per_planned_fault_with_the_documented_columns() {
    let csv = render(Format::Csv, &report());
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert_eq!(lines[0], COLUMNS.join(","));
    assert_eq!(lines.len(), 1 + 11);
    let row = |id: &str| {
        lines
            .iter()
            .find(|line| line.starts_with(id))
            .unwrap_or_else(|| panic!("no row {id}"))
    };
    assert_eq!(
        *row("20270309-checkout-2"),
        "20270309-checkout-2,2027-03-09,2027-03-09T13:05:00Z,checkout,db/db-1,latency,300000,ended,false,,timer,2027-03-09T13:05:00Z,2027-03-09T13:10:00Z,42000,false,reverted: its time ran out"
    );
    assert_eq!(
        *row("20270308-checkout-1"),
        "20270308-checkout-1,2027-03-08,2027-03-08T10:12:00Z,checkout,cart,pause,300000,ended,true,,timer,2027-03-08T10:12:00Z,2027-03-08T10:17:00Z,,false,leashed: nothing was touched"
    );
    assert!(row("20270308-search-1").contains(",skipped,false,outage,,"));
    assert!(
        row("20270310-checkout-2")
            .contains(",timer,2027-03-10T11:00:00Z,2027-03-10T11:05:00Z,,true,")
    );
    assert!(row("20270309-search-2").ends_with(",failed: container search-indexer is not running"));
    // The owner's reason, quoted because it holds a comma? It has none: as it is.
    assert!(
        row("20270309-checkout-1").ends_with(
            ",skipped by alice (checkout): <script>alert('release')</script> release day"
        )
    );
}

#[test]
fn the_page_shows_the_figures_charts_kill_switch_and_every_fault() {
    let html = render(Format::Html, &report());
    assert_eq!(
        svgs_well_formed(&html),
        2,
        "faults per day, time to recover"
    );
    for text in [
        "<title>Chaos Monkey history: shop-monkey</title>",
        "leashed from 2027-03-08 08:55:00, then unleashed from 2027-03-09 08:55:00",
        "Times are UTC",
        "2027-03-08 → 2027-03-11 (4 days planned)",
        "<div class=\"card\"><b>11</b><span>faults planned</span></div>",
        "<div class=\"card\"><b>1m 35s</b><span>median time to recover</span></div>",
        "reverted early: guard orders-p99 stayed red (p99 2.4s &gt; 1s)",
        "skipped: the group is already broken (search-health: HTTP 503 from /healthz)",
        "failed: container search-indexer is not running",
        "latency (800ms ± 200ms)",
        "<td class=\"t\">2027-03-10 09:33:00</td><td class=\"name\">the monkey&#39;s operator</td><td class=\"t\">2027-03-10 10:30:00</td>",
        "checkout · 2027-03-10: 2 injected",
        "search · 2027-03-10: 1 skipped (1 kill switch)",
        "checkout: recovered after 3m 00s",
        "1 not recovered",
    ] {
        assert!(html.contains(text), "no {text:?} in the page");
    }
    // No script, nothing fetched.
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=\"http") && !html.contains("url(http"));
}

#[test]
fn what_the_log_says_is_escaped_in_the_page_and_its_charts() {
    let group = "<img src=x onerror=alert(1)>";
    let records = vec![
        MonkeyRecord {
            seq: 1,
            at_ms: at(0, 9, 0),
            event: MonkeyEvent::Planned {
                day: "2027-03-08".into(),
                faults: vec![PlannedFault {
                    id: "20270308-x-1".into(),
                    group: group.into(),
                    at_ms: at(0, 10, 0),
                    targets: vec![PlannedTarget {
                        target: "cart".into(),
                        instance: Some("</svg><b>".into()),
                    }],
                    fault: pause(),
                    lasts_ms: 60_000,
                }],
            },
        },
        MonkeyRecord {
            seq: 2,
            at_ms: at(0, 10, 0),
            event: skipped(
                "20270308-x-1",
                SkipReason::Owner {
                    by: "\"mallory\"".into(),
                    why: "<script>alert(2)</script>".into(),
                },
            ),
        },
    ];
    let report = MonkeyReport::build("</title><script>alert(3)</script>", &records);
    let html = render(Format::Html, &report);
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("cart/&lt;/svg&gt;&lt;b&gt;"), "{html}");
    assert_eq!(svgs_well_formed(&html), 2);
    assert!(html.contains("&lt;script&gt;alert(2)&lt;/script&gt;"));
    assert!(html.contains("skipped by &quot;mallory&quot;"));
    // In the charts too: the group's name in both.
    let charts: String = html
        .split("<svg ")
        .skip(1)
        .map(|svg| &svg[..svg.find("</svg>").unwrap_or(svg.len())])
        .collect();
    assert!(
        charts.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{charts}"
    );
    let md = render(Format::Markdown, &report);
    assert!(md.contains(r"\<img src=x onerror=alert(1)\>"), "{md}");
    assert!(md.contains(r"\<script\>alert(2)\</script\>"), "{md}");
}

#[test]
fn an_empty_history_renders_in_every_format() {
    let report = MonkeyReport::build("idle", &[]);
    for format in [Format::Html, Format::Markdown, Format::Json, Format::Csv] {
        let text = render(format, &report);
        assert!(!text.is_empty());
    }
    let html = render(Format::Html, &report);
    assert_eq!(svgs_well_formed(&html), 2);
    assert!(html.contains("no day planned yet"));
    assert!(html.contains("never started"));
    assert_eq!(
        render(Format::Csv, &report),
        format!("{}\r\n", COLUMNS.join(","))
    );
}
