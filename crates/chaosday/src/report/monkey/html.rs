//! The monkey's history as one self-contained HTML page: the game report's style sheet and
//! a few rules of its own, inline SVG, no script, printable.

use askama::Template;
use chaosday_domain::monkey::history::{Entry, GroupFigures, Status};
use chaosday_domain::report::human_duration;

use super::{GroupRow, MonkeyReport, TIMES_NOTE, ran, recovery, targets};
use crate::report::html::STYLE;
use crate::report::svg::{self, Svg};
use crate::report::text::Clock;

/// What the monkey's page adds to the report's style sheet: its badges, and a fate column
/// wide enough to read.
const MONKEY_STYLE: &str = r##"
.report .badge.leashed { border-color: #76b7b2; color: #76b7b2; }
.report .badge.unleashed { border-color: #ffe14d; color: #ffe14d; }
.report .badge.armed { border-color: #3dfc8f; color: #3dfc8f; }
.report .badge.disarmed { border-color: #ff3b5c; color: #ff3b5c; }
.report .badge.st-planned { border-color: var(--line-2); color: var(--muted); }
.report .badge.st-skipped { border-color: #bab0ac; color: #bab0ac; }
.report .badge.st-active { border-color: #22e3ff; color: #22e3ff; }
.report .badge.st-ended { border-color: #4e79a7; color: #8fb3dd; }
.report .badge.st-failed { border-color: #ff3b5c; color: #ff3b5c; }
.report td.fate { min-width: 16em; }
.report .nw { white-space: nowrap; }
.report tr.skipped td, .report tr.planned td { color: var(--muted); }
.report tr.skipped td.name, .report tr.planned td.name { color: var(--muted); }
.report code { font: 12.5px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
@media print {
  .report td.fate { min-width: 0; }
}
"##;

/// A kill switch's row.
struct SwitchRow {
    pulled: String,
    by: String,
    released: String,
    released_by: String,
    reverted: u64,
    skipped: u64,
}

/// A planned fault's row.
struct FaultRow {
    id: String,
    day: String,
    due: String,
    group: String,
    targets: Vec<String>,
    fault: String,
    lasts: String,
    status: &'static str,
    fate: String,
    ran: String,
    recovery: String,
    not_recovered: bool,
}

/// The page, for its template (`templates/report/monkey.html`). Every value is escaped by
/// the report's escaper, but for the style sheet and the charts ([`Svg`]).
#[derive(Template)]
#[template(path = "report/monkey.html", escape = "report")]
struct Page<'a> {
    title: String,
    monkey: &'a str,
    generator: String,
    style: String,
    mode: String,
    armed: &'static str,
    armed_class: &'static str,
    days: String,
    modes: String,
    times_note: &'static str,
    cards: Vec<(String, &'static str)>,
    groups: Vec<(&'a str, GroupRow)>,
    total: Option<GroupRow>,
    per_day: Svg,
    recoveries: Svg,
    switches: Vec<SwitchRow>,
    faults: Vec<FaultRow>,
    as_of: String,
}

/// The whole page.
pub fn page(report: &MonkeyReport, clock: &Clock) -> String {
    let total = report.total();
    let cards = report.glance(&total);
    let history = &report.history;
    let page = Page {
        title: format!("Chaos Monkey history: {}", report.monkey),
        monkey: &report.monkey,
        generator: crate::report::generator(),
        style: format!("{STYLE}{MONKEY_STYLE}"),
        mode: report.mode(),
        armed: if history.armed {
            "armed"
        } else {
            "kill switch on"
        },
        armed_class: if history.armed { "armed" } else { "disarmed" },
        days: report.days_covered(),
        modes: report.modes(clock),
        times_note: TIMES_NOTE,
        cards,
        groups: report
            .groups
            .iter()
            .map(|(group, f)| (group.as_str(), row(f)))
            .collect(),
        total: (report.groups.len() > 1).then(|| row(&total)),
        per_day: svg::monkey::faults_per_day(&history.days, &report.lanes()),
        recoveries: svg::monkey::time_to_recover(&report.recoveries()),
        switches: report
            .kill_switches
            .iter()
            .map(|k| SwitchRow {
                pulled: clock.date_time(k.pulled_ms),
                by: k.by.clone(),
                released: k.released(clock),
                released_by: k.rearmed_by.clone().unwrap_or_default(),
                reverted: k.reverted,
                skipped: k.skipped,
            })
            .collect(),
        faults: history
            .entries
            .iter()
            .map(|entry| FaultRow {
                id: entry.planned.id.clone(),
                day: entry.day.clone(),
                due: clock.date_time(entry.planned.at_ms),
                group: entry.planned.group.clone(),
                targets: targets(entry),
                fault: entry.planned.fault.to_string(),
                lasts: nbsp(human_duration(entry.planned.lasts_ms)),
                status: entry.status.as_str(),
                fate: fate(entry),
                ran: nbsp(ran(entry)),
                recovery: nbsp(recovery(entry)),
                not_recovered: entry.not_recovered,
            })
            .collect(),
        as_of: report.as_of(clock),
    };
    page.render()
        .unwrap_or_else(|e| format!("the monkey's page failed to render: {e}\n"))
}

/// A duration that does not break across lines: `5m\u{a0}00s` (a printed table's narrow
/// columns wrap).
fn nbsp(text: String) -> String {
    text.replace(' ', "\u{a0}")
}

/// A group's row, its durations unbroken.
fn row(f: &GroupFigures) -> GroupRow {
    let mut row = GroupRow::of(f);
    row.median_recovery = nbsp(row.median_recovery);
    row.slowest_recovery = nbsp(row.slowest_recovery);
    row
}

/// A fault's fate in words (none for one still to come: its badge says it).
fn fate(entry: &Entry) -> String {
    match entry.status {
        Status::Planned => String::new(),
        _ => entry.describe(),
    }
}
