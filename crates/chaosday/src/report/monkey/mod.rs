//! The history of a Chaos Monkey, rendered as a game's report is: one HTML page with
//! hand-written SVG charts (faults per day and group, time to recover per group), Markdown
//! with the same figures and tables, JSON, and CSV with one row per planned fault.
//!
//! [`MonkeyReport::build`] reads the monkey's records once: the domain's [`History`] (every
//! planned fault with its fate, and each group's [`GroupFigures`]), plus what the history
//! does not keep: when the monkey started and in which mode, and when each kill switch was
//! released. The formats only turn it into text; every piece of text that comes from the log
//! (names, an owner's reason, a probe's detail) is escaped for its format.
//!
//! Times are UTC: the log does not hold the monkey's time zone. A fault's day is the day
//! of its plan, in the monkey's own time zone.

mod csv;
mod html;
mod md;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chaosday_domain::monkey::Mode;
use chaosday_domain::monkey::events::{MonkeyEvent, MonkeyRecord, RevertCause, SkipReason};
use chaosday_domain::monkey::history::{Entry, GroupFigures, History, Status};
use chaosday_domain::report::human_duration;
use serde::Serialize;

use super::svg::monkey::{DayCounts, DayLane, RecoveryRow};
use super::text::{Clock, duration};
use super::{Format, JSON_VERSION, generator};

/// A monkey's history, with what its report shows beside it.
#[derive(Debug, Clone, Serialize)]
pub struct MonkeyReport {
    /// The monkey's name.
    pub monkey: String,
    /// Every planned fault with its fate.
    pub history: History,
    /// Each group's figures, by group name.
    #[serde(skip)]
    pub groups: BTreeMap<String, GroupFigures>,
    /// Each start of the monkey, in order.
    pub starts: Vec<Start>,
    /// Each kill switch pulled, in order.
    pub kill_switches: Vec<KillSwitch>,
    /// The time of the latest record, unix ms.
    pub as_of_ms: Option<i64>,
}

/// A start of the monkey.
#[derive(Debug, Clone, Serialize)]
pub struct Start {
    /// When, unix ms.
    pub at_ms: i64,
    /// Leashed or unleashed.
    pub mode: Mode,
}

/// A kill switch pulled, and what it did.
#[derive(Debug, Clone, Serialize)]
pub struct KillSwitch {
    /// When, unix ms.
    pub pulled_ms: i64,
    /// Who pulled it.
    pub by: String,
    /// When it was released (re-armed), unix ms; none while it is still on.
    pub rearmed_ms: Option<i64>,
    /// Who released it.
    pub rearmed_by: Option<String>,
    /// The monkey's faults it reverted.
    pub reverted: u64,
    /// The planned faults skipped while it was on.
    pub skipped: u64,
}

impl KillSwitch {
    /// When it was released, or `still on`.
    fn released(&self, clock: &Clock) -> String {
        self.rearmed_ms
            .map_or_else(|| "still on".to_owned(), |t| clock.date_time(t))
    }
}

impl MonkeyReport {
    /// The report of the monkey `monkey` from its records, in log order.
    pub fn build(monkey: &str, records: &[MonkeyRecord]) -> Self {
        let history = History::replay(records);
        let mut starts = Vec::new();
        let mut kill_switches: Vec<KillSwitch> = Vec::new();
        for record in records {
            match &record.event {
                MonkeyEvent::Started { mode } => starts.push(Start {
                    at_ms: record.at_ms,
                    mode: *mode,
                }),
                MonkeyEvent::Aborted { by } => kill_switches.push(KillSwitch {
                    pulled_ms: record.at_ms,
                    by: by.clone(),
                    rearmed_ms: None,
                    rearmed_by: None,
                    reverted: 0,
                    skipped: 0,
                }),
                MonkeyEvent::Rearmed { by } => {
                    if let Some(last) = kill_switches.last_mut()
                        && last.rearmed_ms.is_none()
                    {
                        last.rearmed_ms = Some(record.at_ms);
                        last.rearmed_by = Some(by.clone());
                    }
                }
                _ => {}
            }
        }
        // What each kill switch did: the faults it reverted from its pull to the next one,
        // and the faults due while it was on that it skipped.
        let next_pulls: Vec<Option<i64>> = kill_switches
            .iter()
            .skip(1)
            .map(|k| Some(k.pulled_ms))
            .chain(std::iter::once(None))
            .collect();
        for (switch, next) in kill_switches.iter_mut().zip(next_pulls) {
            let until = next.unwrap_or(i64::MAX);
            let on_until = switch.rearmed_ms.unwrap_or(until);
            for entry in &history.entries {
                if entry.end == Some(RevertCause::KillSwitch)
                    && entry
                        .ended_ms
                        .is_some_and(|t| (switch.pulled_ms..until).contains(&t))
                {
                    switch.reverted += 1;
                }
                if entry.skipped == Some(SkipReason::KillSwitch)
                    && (switch.pulled_ms..on_until.max(switch.pulled_ms + 1))
                        .contains(&entry.planned.at_ms)
                {
                    switch.skipped += 1;
                }
            }
        }
        MonkeyReport {
            monkey: monkey.to_owned(),
            groups: history.figures(),
            history,
            starts,
            kill_switches,
            as_of_ms: records.last().map(|r| r.at_ms),
        }
    }

    /// Every group's figures added up.
    fn total(&self) -> GroupFigures {
        let mut total = GroupFigures::default();
        for f in self.groups.values() {
            total.planned += f.planned;
            total.injected += f.injected;
            total.leashed += f.leashed;
            total.active += f.active;
            total.failed += f.failed;
            total.not_recovered += f.not_recovered;
            for (reason, n) in &f.skipped {
                *total.skipped.entry(reason.clone()).or_default() += n;
            }
            for (cause, n) in &f.reverted {
                *total.reverted.entry(cause.clone()).or_default() += n;
            }
            for (day, n) in &f.per_day {
                *total.per_day.entry(day.clone()).or_default() += n;
            }
            total.recoveries_ms.extend(&f.recoveries_ms);
        }
        total
    }

    /// The figures at a glance, from `total` (every group's): value, label.
    fn glance(&self, total: &GroupFigures) -> Vec<(String, &'static str)> {
        vec![
            (total.planned.to_string(), "faults planned"),
            (total.injected.to_string(), "injected"),
            (total.leashed.to_string(), "decided while leashed"),
            (total.skipped.values().sum::<u64>().to_string(), "skipped"),
            (total.failed.to_string(), "failed"),
            (total.active.to_string(), "in effect now"),
            (
                duration(total.median_recovery_ms()),
                "median time to recover",
            ),
            (total.not_recovered.to_string(), "not recovered"),
            (self.kill_switches.len().to_string(), "kill switches pulled"),
        ]
    }

    /// Its mode at its latest start: `leashed`, `unleashed`, or `never started`.
    fn mode(&self) -> String {
        self.history
            .mode
            .map_or_else(|| "never started".to_owned(), |mode| mode.to_string())
    }

    /// When its latest record was written.
    fn as_of(&self, clock: &Clock) -> String {
        self.as_of_ms
            .map_or_else(|| "its start".to_owned(), |t| clock.date_time(t))
    }

    /// The days covered: `2027-03-08 → 2027-03-12 (5 days planned)`.
    fn days_covered(&self) -> String {
        let days = &self.history.days;
        match (days.first(), days.last()) {
            (Some(first), Some(last)) if first == last => format!("{first} (1 day planned)"),
            (Some(first), Some(last)) => format!("{first} → {last} ({} days planned)", days.len()),
            _ => "no day planned yet".to_owned(),
        }
    }

    /// The modes it ran in, each from its first start in it: `leashed from 2027-03-08
    /// 08:55:00, unleashed from 2027-03-10 08:55:00`.
    fn modes(&self, clock: &Clock) -> String {
        let mut runs: Vec<(Mode, i64)> = Vec::new();
        for start in &self.starts {
            if runs.last().is_none_or(|(mode, _)| *mode != start.mode) {
                runs.push((start.mode, start.at_ms));
            }
        }
        if runs.is_empty() {
            return "never started".to_owned();
        }
        runs.iter()
            .map(|(mode, at)| format!("{mode} from {}", clock.date_time(*at)))
            .collect::<Vec<_>>()
            .join(", then ")
    }

    /// The faults per day of each group, for the chart.
    fn lanes(&self) -> Vec<DayLane> {
        let days: BTreeMap<&str, usize> = self
            .history
            .days
            .iter()
            .enumerate()
            .map(|(i, day)| (day.as_str(), i))
            .collect();
        let mut lanes: BTreeMap<&str, Vec<DayCounts>> = BTreeMap::new();
        for entry in &self.history.entries {
            let lane = lanes
                .entry(entry.planned.group.as_str())
                .or_insert_with(|| vec![DayCounts::default(); days.len()]);
            let Some(counts) = days.get(entry.day.as_str()).and_then(|&d| lane.get_mut(d)) else {
                continue;
            };
            match entry.status {
                Status::Planned => counts.planned += 1,
                Status::Skipped => {
                    let reason = entry.skipped.as_ref().map_or("unknown", SkipReason::name);
                    *counts.skipped.entry(reason.to_owned()).or_default() += 1;
                }
                Status::Active | Status::Ended if entry.leashed => counts.leashed += 1,
                Status::Active | Status::Ended => counts.injected += 1,
                Status::Failed => counts.failed += 1,
            }
        }
        lanes
            .into_iter()
            .map(|(group, days)| DayLane {
                group: group.to_owned(),
                days,
            })
            .collect()
    }

    /// Each group's recoveries, for the chart.
    fn recoveries(&self) -> Vec<RecoveryRow> {
        self.groups
            .iter()
            .map(|(group, f)| RecoveryRow {
                group: group.clone(),
                recoveries_ms: f.recoveries_ms.clone(),
                median_ms: f.median_recovery_ms(),
                not_recovered: f.not_recovered,
            })
            .collect()
    }
}

/// The report as text in `format`, times in UTC.
pub fn render(format: Format, report: &MonkeyReport) -> String {
    let clock = Clock::utc();
    match format {
        Format::Html => html::page(report, &clock),
        Format::Markdown => md::document(report, &clock),
        Format::Csv => csv::document(report),
        Format::Json => json(report),
    }
}

/// A group's figures in the JSON document: the history's, with its median and slowest
/// recovery.
#[derive(Serialize)]
struct JsonGroup<'a> {
    #[serde(flatten)]
    figures: &'a GroupFigures,
    median_recovery_ms: Option<u64>,
    max_recovery_ms: Option<u64>,
}

/// The JSON document.
#[derive(Serialize)]
struct JsonReport<'a> {
    format: &'static str,
    version: u32,
    generated_by: String,
    #[serde(flatten)]
    report: &'a MonkeyReport,
    groups: BTreeMap<&'a str, JsonGroup<'a>>,
}

fn json(report: &MonkeyReport) -> String {
    let doc = JsonReport {
        format: "chaosday-monkey-report",
        version: JSON_VERSION,
        generated_by: generator(),
        report,
        groups: report
            .groups
            .iter()
            .map(|(group, figures)| {
                (
                    group.as_str(),
                    JsonGroup {
                        figures,
                        median_recovery_ms: figures.median_recovery_ms(),
                        max_recovery_ms: figures.recoveries_ms.iter().max().copied(),
                    },
                )
            })
            .collect(),
    };
    let mut out = serde_json::to_string_pretty(&doc)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialise the report: {e}\"}}"));
    out.push('\n');
    out
}

/// What a planned fault hit, or (not decided, or skipped) what it was to hit: `cart`,
/// `db/db-1`.
fn targets(entry: &Entry) -> Vec<String> {
    let targets = if entry.hit.is_empty() {
        &entry.planned.targets
    } else {
        &entry.hit
    };
    targets.iter().map(ToString::to_string).collect()
}

/// Counts by name, most first: `2 owner, 1 kill switch`; empty for none.
fn by_name(counts: &BTreeMap<String, u64>) -> String {
    let mut counts: Vec<(&String, &u64)> = counts.iter().collect();
    counts.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    counts
        .iter()
        .map(|(name, n)| format!("{n} {}", name.replace('_', " ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How long a fault was in effect (or would have been, leashed): `5m 00s`, or empty.
fn ran(entry: &Entry) -> String {
    match (entry.injected_ms, entry.ended_ms) {
        (Some(from), Some(to)) if entry.status == Status::Ended => {
            human_duration(u64::try_from(to - from).unwrap_or(0))
        }
        _ => String::new(),
    }
}

/// A fault's recovery in words: `12s`, `not recovered`, or a dash.
fn recovery(entry: &Entry) -> String {
    match entry.recovered_after_ms {
        Some(ms) => human_duration(ms),
        None if entry.not_recovered => "not recovered".to_owned(),
        None => "—".to_owned(),
    }
}

/// A group's row of figures, in words, as every format shows it.
struct GroupRow {
    planned: u64,
    injected: u64,
    leashed: u64,
    skipped: u64,
    skipped_by: String,
    reverted: u64,
    reverted_by: String,
    failed: u64,
    active: u64,
    median_recovery: String,
    slowest_recovery: String,
    not_recovered: u64,
}

impl GroupRow {
    fn of(f: &GroupFigures) -> Self {
        GroupRow {
            planned: f.planned,
            injected: f.injected,
            leashed: f.leashed,
            skipped: f.skipped.values().sum(),
            skipped_by: by_name(&f.skipped),
            reverted: f.reverted.values().sum(),
            reverted_by: by_name(&f.reverted),
            failed: f.failed,
            active: f.active,
            median_recovery: duration(f.median_recovery_ms()),
            slowest_recovery: duration(f.recoveries_ms.iter().max().copied()),
            not_recovered: f.not_recovered,
        }
    }
}

/// The page's and the document's note on times.
const TIMES_NOTE: &str = "Times are UTC: the log does not hold the monkey's time zone. A fault's day is the day of its plan, in the monkey's own time zone.";
