//! The history of a monkey, rendered as the game report is: one HTML page with SVG charts
//! (faults per day and group, time to recover per group), Markdown, JSON and CSV. Built from
//! the monkey's `History` (a fold of its log); every text from the log is escaped for its
//! format.
//!
//! The CSV has one row per planned fault:
//!
//! | column | what |
//! | --- | --- |
//! | `id` | the planned fault (`YYYYMMDD-GROUP-N`) |
//! | `day` | the day of its plan |
//! | `at` | when it was due (RFC 3339, UTC) |
//! | `group`, `targets` | its group, and what it hit (`target` or `target/container`, `;`-separated) |
//! | `kind`, `lasts_ms` | the fault kind and its duration |
//! | `status` | `planned`, `skipped`, `active`, `ended` or `failed` |
//! | `leashed` | `true` when nothing was touched |
//! | `skipped_reason` | `owner`, `outage`, `guard`, `kill_switch`, `busy`, `no_target`, `opted_out`, `missed` |
//! | `end_cause` | `timer`, `guard`, `kill_switch`, `shutdown`, `restarted`, `elsewhere` |
//! | `injected_at`, `ended_at` | RFC 3339, UTC |
//! | `recovered_after_ms` | from its end to its group's probes all green |
//! | `fate` | in words (an owner's reason included) |

use std::fmt::Write as _;

use chaosday_domain::monkey::events::{RevertCause, SkipReason};
use chaosday_domain::monkey::history::{Entry, GroupFigures, History, Status};
use chaosday_domain::report::Durations;
use serde::Serialize;

use super::Format;
use super::html::STYLE;
use super::svg::{self, MonkeyDay};
use super::text::{self, Clock, duration};

/// The CSV's columns, in order.
pub const COLUMNS: &[&str] = &[
    "id",
    "day",
    "at",
    "group",
    "targets",
    "kind",
    "lasts_ms",
    "status",
    "leashed",
    "skipped_reason",
    "end_cause",
    "injected_at",
    "ended_at",
    "recovered_after_ms",
    "fate",
];

/// The history of the monkey `monkey` as text in `format`, with times shown on `clock`.
pub fn render(format: Format, monkey: &str, history: &History, clock: &Clock) -> String {
    match format {
        Format::Html => html(monkey, history, clock),
        Format::Markdown => markdown(monkey, history, clock),
        Format::Json => json(monkey, history),
        Format::Csv => csv(history),
    }
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Planned => "planned",
        Status::Skipped => "skipped",
        Status::Active => "active",
        Status::Ended => "ended",
        Status::Failed => "failed",
    }
}

/// What a planned fault hits, joined by `separator`.
fn targets(entry: &Entry, separator: &str) -> String {
    entry
        .planned
        .targets
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

/// `3 owner, 1 outage`, or `0`.
fn by_reason(counts: &std::collections::BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return "0".into();
    }
    counts
        .iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A group's row of the groups table, its texts escaped by `escape`: group, planned,
/// injected, leashed, skipped, reverted, failed, median and longest recovery, not recovered.
fn group_cells(group: &str, f: &GroupFigures, escape: fn(&str) -> String) -> [String; 10] {
    let r = recovery(f);
    [
        escape(group),
        f.planned.to_string(),
        f.injected.to_string(),
        f.leashed.to_string(),
        escape(&by_reason(&f.skipped)),
        escape(&by_reason(&f.reverted)),
        f.failed.to_string(),
        duration(r.median_ms),
        duration(r.max_ms),
        f.not_recovered.to_string(),
    ]
}

/// The recoveries of a group as the charts' durations.
fn recovery(figures: &GroupFigures) -> Durations {
    Durations::of(figures.recoveries_ms.iter().copied())
}

/// What the header says: days, totals.
struct Totals {
    planned: u64,
    injected: u64,
    leashed: u64,
    skipped: u64,
    failed: u64,
}

fn totals(history: &History) -> Totals {
    let figures = history.figures();
    Totals {
        planned: figures.values().map(|f| f.planned).sum(),
        injected: figures.values().map(|f| f.injected).sum(),
        leashed: figures.values().map(|f| f.leashed).sum(),
        skipped: figures
            .values()
            .map(|f| f.skipped.values().sum::<u64>())
            .sum(),
        failed: figures.values().map(|f| f.failed).sum(),
    }
}

fn days_span(history: &History) -> String {
    match (history.days.first(), history.days.last()) {
        (Some(first), Some(last)) if first == last => format!("{first} (1 day)"),
        (Some(first), Some(last)) => format!("{first} to {last} ({} days)", history.days.len()),
        _ => "no day planned yet".into(),
    }
}

fn html(monkey: &str, history: &History, clock: &Clock) -> String {
    let figures = history.figures();
    let groups: Vec<String> = figures.keys().cloned().collect();
    let days: Vec<MonkeyDay> = history
        .days
        .iter()
        .map(|day| MonkeyDay {
            day: day.clone(),
            counts: groups
                .iter()
                .map(|group| {
                    let of_day = history
                        .entries
                        .iter()
                        .filter(|e| &e.day == day && &e.planned.group == group);
                    let (mut happened, mut skipped) = (0, 0);
                    for entry in of_day {
                        match entry.status {
                            Status::Active | Status::Ended => happened += 1,
                            Status::Skipped => skipped += 1,
                            Status::Planned | Status::Failed => {}
                        }
                    }
                    (happened, skipped)
                })
                .collect(),
        })
        .collect();
    let per_day = svg::monkey_days("Faults per day and group", &groups, &days);
    let recoveries = svg::recoveries(
        "Time to recover per group",
        &figures
            .iter()
            .map(|(g, f)| (g.clone(), recovery(f)))
            .collect::<Vec<_>>(),
    );
    let t = totals(history);
    let mode = match history.mode {
        Some(chaosday_domain::monkey::Mode::Leashed) => "leashed",
        Some(chaosday_domain::monkey::Mode::Unleashed) => "unleashed",
        None => "never started",
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{name} · the monkey's history · chaosday</title><style>{STYLE}</style></head><body class="report-doc"><div class="report"><header class="top"><h1>{name} <small>the Chaos Monkey's history</small></h1><p>{span} · mode at its last start: <span class="badge">{mode}</span>{armed} · times in {zone}</p><div class="cards">"#,
        name = text::html(monkey),
        span = text::html(&days_span(history)),
        armed = if history.armed {
            ""
        } else {
            r#" · <span class="badge expired">kill switch on</span>"#
        },
        zone = text::html(&clock.zone(history.days.first().map_or(0, |_| first_ms(history)))),
    );
    for (value, label) in [
        (t.planned.to_string(), "faults planned"),
        (t.injected.to_string(), "injected"),
        (t.leashed.to_string(), "decided while leashed"),
        (t.skipped.to_string(), "skipped"),
        (t.failed.to_string(), "failed"),
        (history.aborts.len().to_string(), "kill switches"),
    ] {
        let _ = write!(
            out,
            r#"<p class="card"><b>{value}</b><span>{label}</span></p>"#
        );
    }
    out.push_str("</div></header>");
    out.push_str(r#"<section><h2>Groups</h2><div class="scroll"><table><thead><tr><th>group</th><th class="n">planned</th><th class="n">injected</th><th class="n">leashed</th><th>skipped</th><th>reverted</th><th class="n">failed</th><th class="n">median recovery</th><th class="n">longest</th><th class="n">not recovered</th></tr></thead><tbody>"#);
    for (group, f) in &figures {
        out.push_str("<tr>");
        for (i, cell) in group_cells(group, f, text::html).iter().enumerate() {
            let class = if matches!(i, 0 | 4 | 5) {
                ""
            } else {
                r#" class="n""#
            };
            let _ = write!(out, "<td{class}>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div></section>");
    let _ = write!(
        out,
        r#"<section><h2>Faults per day</h2><div class="chart">{per_day}</div><p class="caption">Each column is a working day: the faults that happened, by group, and above them those skipped (by an owner, the outage checker, a guard, the kill switch…).</p></section><section><h2>Time to recover</h2><div class="chart">{recoveries}</div><p class="caption">From a fault's end to its group's probes all green again, as the monkey measured it.</p></section>"#
    );
    if !history.aborts.is_empty() {
        out.push_str("<section><h2>Kill switches</h2><ul>");
        for (at, by) in &history.aborts {
            let _ = write!(
                out,
                "<li>{} by {}</li>",
                text::html(&clock.date_time(*at)),
                text::html(by)
            );
        }
        out.push_str("</ul></section>");
    }
    out.push_str(r#"<section><h2>Every planned fault</h2><div class="scroll"><table><thead><tr><th>day</th><th>time</th><th>id</th><th>group</th><th>targets</th><th>fault</th><th class="n">for</th><th>status</th><th>fate</th><th class="n">recovered after</th></tr></thead><tbody>"#);
    for entry in &history.entries {
        let fault = serde_json::to_string(&entry.planned.fault).unwrap_or_default();
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td><td class="n">{}</td><td><span class="badge {}">{}</span></td><td>{}</td><td class="n">{}</td></tr>"#,
            text::html(&entry.day),
            text::html(&clock.time(entry.planned.at_ms)),
            text::html(&entry.planned.id),
            text::html(&entry.planned.group),
            text::html(&targets(entry, ", ")),
            text::html(&fault),
            duration(Some(entry.planned.lasts_ms)),
            status_word(entry.status),
            status_word(entry.status),
            text::html(&entry.describe()),
            duration(entry.recovered_after_ms),
        );
    }
    out.push_str("</tbody></table></div></section></div></body></html>\n");
    out
}

/// When the first planned fault was due (for the time zone's name).
fn first_ms(history: &History) -> i64 {
    history.entries.first().map_or(0, |e| e.planned.at_ms)
}

fn markdown(monkey: &str, history: &History, clock: &Clock) -> String {
    let figures = history.figures();
    let t = totals(history);
    let mut out = String::new();
    let _ = writeln!(out, "# {} — the Chaos Monkey's history\n", text::md(monkey));
    let _ = writeln!(
        out,
        "{} · {} planned, {} injected, {} decided while leashed, {} skipped, {} failed, {} kill switch(es) · times in {}\n",
        text::md(&days_span(history)),
        t.planned,
        t.injected,
        t.leashed,
        t.skipped,
        t.failed,
        history.aborts.len(),
        text::md(&clock.zone(first_ms(history)))
    );
    out.push_str("## Groups\n\n| group | planned | injected | leashed | skipped | reverted | failed | median recovery | longest | not recovered |\n| --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |\n");
    for (group, f) in &figures {
        let _ = writeln!(out, "| {} |", group_cells(group, f, text::md).join(" | "));
    }
    out.push_str("\n## Faults per day\n\n| day | group | happened | skipped |\n| --- | --- | ---: | ---: |\n");
    for day in &history.days {
        for group in figures.keys() {
            let of_day: Vec<&Entry> = history
                .entries
                .iter()
                .filter(|e| &e.day == day && &e.planned.group == group)
                .collect();
            if of_day.is_empty() {
                continue;
            }
            let happened = of_day
                .iter()
                .filter(|e| matches!(e.status, Status::Active | Status::Ended))
                .count();
            let skipped = of_day
                .iter()
                .filter(|e| e.status == Status::Skipped)
                .count();
            let _ = writeln!(
                out,
                "| {day} | {} | {happened} | {skipped} |",
                text::md(group)
            );
        }
    }
    if !history.aborts.is_empty() {
        out.push_str("\n## Kill switches\n\n");
        for (at, by) in &history.aborts {
            let _ = writeln!(out, "- {} by {}", clock.date_time(*at), text::md(by));
        }
    }
    out.push_str("\n## Every planned fault\n\n| day | time | id | group | targets | fault | for | fate | recovered after |\n| --- | --- | --- | --- | --- | --- | ---: | --- | ---: |\n");
    for entry in &history.entries {
        let _ = writeln!(
            out,
            "| {} | {} | `{}` | {} | {} | {} | {} | {} | {} |",
            entry.day,
            clock.time(entry.planned.at_ms),
            entry.planned.id.replace('`', ""),
            text::md(&entry.planned.group),
            text::md(&targets(entry, ", ")),
            text::md(entry.planned.fault.kind()),
            duration(Some(entry.planned.lasts_ms)),
            text::md(&entry.describe()),
            duration(entry.recovered_after_ms)
        );
    }
    out
}

#[derive(Serialize)]
struct JsonMonkey<'a> {
    format: &'static str,
    version: u32,
    monkey: &'a str,
    generated_by: String,
    history: &'a History,
    groups: std::collections::BTreeMap<String, GroupFigures>,
}

fn json(monkey: &str, history: &History) -> String {
    let document = JsonMonkey {
        format: "chaosday-monkey-report",
        version: super::JSON_VERSION,
        monkey,
        generated_by: concat!("chaosday ", env!("CARGO_PKG_VERSION")).to_owned(),
        history,
        groups: history.figures(),
    };
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

fn csv(history: &History) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    let time = |ms: Option<i64>| ms.map(text::rfc3339).unwrap_or_default();
    for entry in &history.entries {
        let row = [
            entry.planned.id.clone(),
            entry.day.clone(),
            text::rfc3339(entry.planned.at_ms),
            entry.planned.group.clone(),
            targets(entry, ";"),
            entry.planned.fault.kind().to_owned(),
            entry.planned.lasts_ms.to_string(),
            status_word(entry.status).to_owned(),
            entry.leashed.to_string(),
            entry
                .skipped
                .as_ref()
                .map(SkipReason::name)
                .unwrap_or_default()
                .to_owned(),
            entry
                .end
                .as_ref()
                .map(RevertCause::name)
                .unwrap_or_default()
                .to_owned(),
            time(entry.injected_ms),
            time(entry.ended_ms),
            entry
                .recovered_after_ms
                .map(|ms| ms.to_string())
                .unwrap_or_default(),
            entry.describe(),
        ];
        out.push_str(
            &row.iter()
                .map(|v| super::csv::field(v))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use chaosday_domain::FaultSpec;
    use chaosday_domain::monkey::Mode;
    use chaosday_domain::monkey::events::{MonkeyEvent, MonkeyRecord, RevertCause, SkipReason};
    use chaosday_domain::monkey::history::History;
    use chaosday_domain::monkey::plan::{PlannedFault, PlannedTarget};

    use super::*;

    const DAY_MS: i64 = 1_796_464_800_000; // 2026-12-05T10:00:00Z

    fn planned(id: &str, group: &str, at_ms: i64) -> PlannedFault {
        PlannedFault {
            id: id.into(),
            group: group.into(),
            at_ms,
            targets: vec![PlannedTarget {
                target: "cart".into(),
                instance: Some("cart-<1>".into()),
            }],
            fault: serde_json::from_value::<FaultSpec>(serde_json::json!({"kind": "pause"}))
                .unwrap(),
            lasts_ms: 60_000,
        }
    }

    /// A day: one fault reverted by its timer and timed to recover, one skipped by an owner
    /// whose reason holds markup, one reverted early by a guard, one leashed; a kill switch.
    fn history() -> History {
        let events = vec![
            MonkeyEvent::Started {
                mode: Mode::Unleashed,
            },
            MonkeyEvent::Planned {
                day: "2026-12-05".into(),
                faults: vec![
                    planned("20261205-checkout-1", "checkout", DAY_MS),
                    planned("20261205-checkout-2", "checkout", DAY_MS + 3_600_000),
                    planned("20261205-search-1", "search", DAY_MS + 7_200_000),
                ],
            },
            MonkeyEvent::Injected {
                id: "20261205-checkout-1".into(),
                targets: vec![],
                leashed: false,
                faults: vec![1],
            },
            MonkeyEvent::Reverted {
                id: "20261205-checkout-1".into(),
                cause: RevertCause::Timer,
            },
            MonkeyEvent::Recovered {
                id: "20261205-checkout-1".into(),
                after_ms: 12_000,
            },
            MonkeyEvent::Skipped {
                id: "20261205-checkout-2".into(),
                reason: SkipReason::Owner {
                    by: "checkout team".into(),
                    why: "<script>alert('x')</script> freeze".into(),
                },
            },
            MonkeyEvent::Injected {
                id: "20261205-search-1".into(),
                targets: vec![],
                leashed: false,
                faults: vec![2],
            },
            MonkeyEvent::Reverted {
                id: "20261205-search-1".into(),
                cause: RevertCause::Guard {
                    guard: "orders".into(),
                    detail: "connection refused".into(),
                },
            },
            MonkeyEvent::Aborted {
                by: "the monkey's operator".into(),
            },
        ];
        let records: Vec<MonkeyRecord> = events
            .into_iter()
            .enumerate()
            .map(|(i, event)| MonkeyRecord {
                seq: i as u64 + 1,
                at_ms: DAY_MS + i as i64 * 1000,
                event,
            })
            .collect();
        History::replay(&records)
    }

    #[test]
    fn html_escapes_what_the_log_says_and_draws_both_charts() {
        let page = render(Format::Html, "shop<monkey>", &history(), &Clock::utc());
        assert!(
            !page.contains("<script>alert"),
            "an owner's reason is escaped"
        );
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; freeze"));
        assert!(page.contains("shop&lt;monkey&gt;"));
        assert!(page.contains("cart/cart-&lt;1&gt;"));
        assert_eq!(page.matches("<svg").count(), 2);
        assert!(page.contains("Faults per day and group"));
        assert!(page.contains("reverted early: guard orders stayed red (connection refused)"));
        assert!(page.contains("kill switch on"));
    }

    #[test]
    fn markdown_json_and_csv_carry_the_same_figures() {
        let history = history();
        let md = render(Format::Markdown, "shop", &history, &Clock::utc());
        assert!(
            md.contains("| checkout | 2 | 1 | 0 | 1 owner | 1 timer | 0 | 12s | 12s | 0 |"),
            "{md}"
        );
        assert!(
            md.contains("| search | 1 | 1 | 0 | 0 | 1 guard | 0 |"),
            "{md}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(Format::Json, "shop", &history, &Clock::utc())).unwrap();
        assert_eq!(json["groups"]["checkout"]["skipped"]["owner"], 1);
        assert_eq!(json["history"]["entries"][0]["recovered_after_ms"], 12_000);
        let csv = render(Format::Csv, "shop", &history, &Clock::utc());
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], COLUMNS.join(","));
        assert_eq!(
            lines.len(),
            5,
            "a header, three rows and the final line break"
        );
        assert!(lines[1].starts_with("20261205-checkout-1,2026-12-05,2026-12-05T10:00:00Z,checkout,cart/cart-<1>,pause,60000,ended,false,,timer,"), "{}", lines[1]);
        assert!(lines[2].contains(",skipped,false,owner,,"), "{}", lines[2]);
        assert!(
            lines[2].ends_with(",skipped by checkout team: <script>alert('x')</script> freeze"),
            "{}",
            lines[2]
        );
    }
}
