//! The monkey's history as Markdown: the page's figures and tables, readable as plain text.

use std::fmt::Write as _;

use chaosday_domain::report::human_duration;

use super::{GroupRow, MonkeyReport, TIMES_NOTE, ran, recovery, targets};
use crate::report::md::table;
use crate::report::text::{Clock, md as esc};

/// A group's figures as table cells (after its name).
fn figures(g: &GroupRow) -> Vec<String> {
    vec![
        g.planned.to_string(),
        g.injected.to_string(),
        g.leashed.to_string(),
        g.skipped.to_string(),
        esc(&g.skipped_by),
        g.reverted.to_string(),
        esc(&g.reverted_by),
        g.failed.to_string(),
        g.active.to_string(),
        g.median_recovery.clone(),
        g.slowest_recovery.clone(),
        g.not_recovered.to_string(),
    ]
}

/// A cell that may be empty: a dash for nothing.
fn or_dash(s: String) -> String {
    if s.is_empty() { "—".to_owned() } else { s }
}

/// The whole document.
pub fn document(report: &MonkeyReport, clock: &Clock) -> String {
    let history = &report.history;
    let mut out = String::with_capacity(16 * 1024);
    let _ = writeln!(out, "# Chaos Monkey history: {}\n", esc(&report.monkey));
    let mode = report.mode();
    let armed = if history.armed {
        "armed"
    } else {
        "the kill switch is on"
    };
    let _ = writeln!(
        out,
        "**{mode}**, {armed}. {}. Modes: {}.\n\n{TIMES_NOTE}\n",
        esc(&report.days_covered()),
        esc(&report.modes(clock))
    );

    let total = report.total();
    out.push_str("## At a glance\n\n");
    let glance = report.glance(&total);
    let head: Vec<(&str, bool)> = glance.iter().map(|(_, label)| (*label, true)).collect();
    table(
        &mut out,
        &head,
        &[glance.iter().map(|(value, _)| value.clone()).collect()],
    );

    out.push_str("## Groups\n\n");
    if report.groups.is_empty() {
        out.push_str("_No fault planned yet._\n\n");
    } else {
        let mut rows: Vec<Vec<String>> = report
            .groups
            .iter()
            .map(|(group, f)| {
                let mut row = vec![esc(group)];
                row.extend(figures(&GroupRow::of(f)));
                row
            })
            .collect();
        if report.groups.len() > 1 {
            let mut row = vec!["**all groups**".to_owned()];
            row.extend(figures(&GroupRow::of(&total)));
            rows.push(row);
        }
        table(
            &mut out,
            &[
                ("group", false),
                ("planned", true),
                ("injected", true),
                ("leashed", true),
                ("skipped", true),
                ("by reason", false),
                ("reverted", true),
                ("by cause", false),
                ("failed", true),
                ("in effect", true),
                ("median to recover", true),
                ("slowest", true),
                ("not recovered", true),
            ],
            &rows,
        );
        out.push_str("Leashed: decided while leashed, nothing was touched. Time to recover runs from a fault's end to its group's probes all green again.\n\n");
    }

    out.push_str("## Faults per day\n\n");
    let lanes = report.lanes();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (d, day) in history.days.iter().enumerate() {
        for lane in &lanes {
            let Some(c) = lane.days.get(d).filter(|c| c.total() > 0) else {
                continue;
            };
            rows.push(vec![
                day.clone(),
                esc(&lane.group),
                c.injected.to_string(),
                c.leashed.to_string(),
                c.failed.to_string(),
                c.skipped_total().to_string(),
                c.planned.to_string(),
            ]);
        }
    }
    if rows.is_empty() {
        out.push_str("_No day planned yet._\n\n");
    } else {
        table(
            &mut out,
            &[
                ("day", false),
                ("group", false),
                ("injected", true),
                ("leashed", true),
                ("failed", true),
                ("skipped", true),
                ("still to come", true),
            ],
            &rows,
        );
    }

    out.push_str("## Kill switch\n\n");
    if report.kill_switches.is_empty() {
        out.push_str("_The kill switch was never pulled._\n\n");
    } else {
        let rows: Vec<Vec<String>> = report
            .kill_switches
            .iter()
            .map(|k| {
                vec![
                    clock.date_time(k.pulled_ms),
                    esc(&k.by),
                    k.released(clock),
                    or_dash(esc(k.rearmed_by.as_deref().unwrap_or_default())),
                    k.reverted.to_string(),
                    k.skipped.to_string(),
                ]
            })
            .collect();
        table(
            &mut out,
            &[
                ("pulled", false),
                ("by", false),
                ("released", false),
                ("by", false),
                ("faults reverted", true),
                ("planned faults skipped", true),
            ],
            &rows,
        );
    }

    out.push_str("## Every planned fault\n\n");
    if history.entries.is_empty() {
        out.push_str("_No fault planned yet._\n\n");
    } else {
        let rows: Vec<Vec<String>> = history
            .entries
            .iter()
            .map(|entry| {
                vec![
                    entry.day.clone(),
                    clock.date_time(entry.planned.at_ms),
                    esc(&entry.planned.id),
                    esc(&entry.planned.group),
                    or_dash(esc(&targets(entry).join(", "))),
                    esc(&entry.planned.fault.to_string()),
                    human_duration(entry.planned.lasts_ms),
                    entry.status.as_str().to_owned(),
                    esc(&entry.describe()),
                    or_dash(ran(entry)),
                    recovery(entry),
                ]
            })
            .collect();
        table(
            &mut out,
            &[
                ("day", false),
                ("due (UTC)", false),
                ("id", false),
                ("group", false),
                ("targets", false),
                ("fault", false),
                ("lasts", true),
                ("status", false),
                ("fate", false),
                ("in effect for", true),
                ("recovered after", true),
            ],
            &rows,
        );
    }

    let _ = writeln!(
        out,
        "---\n\n_Made by {} from the monkey's event log, as of {}._",
        esc(&crate::report::generator()),
        report.as_of(clock)
    );
    out
}
