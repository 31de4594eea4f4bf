//! The report as Markdown: readable as plain text, with tables, and a postmortem draft per
//! incident with blank "Notes:" sections to fill in.

use std::fmt::Write as _;

use chaosday_domain::report::{IncidentFigures, Report};

use super::text::{self, Clock, duration, md as esc};

/// A Markdown table: a header row, an alignment row (`n` columns right-aligned), the rows.
pub(super) fn table(out: &mut String, head: &[(&str, bool)], rows: &[Vec<String>]) {
    let _ = writeln!(
        out,
        "| {} |",
        head.iter().map(|(h, _)| *h).collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(
        out,
        "|{}|",
        head.iter()
            .map(|(_, right)| if *right { " ---: " } else { " --- " })
            .collect::<Vec<_>>()
            .join("|")
    );
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
}

fn when(clock: &Clock, ms: Option<i64>) -> String {
    ms.map_or("—".into(), |ms| clock.time(ms))
}

fn name(i: &IncidentFigures) -> String {
    match &i.scenario {
        Some(s) => format!("{} {}", i.id, esc(s)),
        None => i.id.to_string(),
    }
}

/// The whole document.
pub fn document(game: &str, report: &Report, clock: &Clock) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let _ = writeln!(out, "# Postmortem: {}\n", esc(game));
    let _ = writeln!(
        out,
        "**{}.** {}. As seen by {}.\n",
        text::status(report.status),
        esc(&text::span(report, clock)),
        esc(&text::audience(&report.audience))
    );

    let s = &report.summary;
    out.push_str("## At a glance\n\n");
    table(
        &mut out,
        &[
            ("incidents", true),
            ("detected", true),
            ("resolved by the team", true),
            ("ran out", true),
            ("expired", true),
            ("cancelled", true),
            ("never detected", true),
            ("open", true),
            ("false alarms", true),
            ("median time to detect", true),
            ("median time to resolve", true),
        ],
        &[vec![
            s.incidents.to_string(),
            s.detected.to_string(),
            s.outcomes.resolved.to_string(),
            s.outcomes.ran_out.to_string(),
            s.outcomes.expired.to_string(),
            s.outcomes.cancelled.to_string(),
            s.outcomes.never_detected.to_string(),
            s.open.to_string(),
            s.false_alarms.to_string(),
            duration(s.time_to_detect.median_ms),
            duration(s.time_to_resolve.median_ms),
        ]],
    );

    out.push_str("## Scoreboard\n\n");
    let rows: Vec<Vec<String>> = report
        .teams
        .iter()
        .map(|t| {
            let b = t.breakdown;
            vec![
                t.rank.to_string(),
                esc(&t.team),
                format!("**{}**", t.points),
                b.detect.to_string(),
                b.diagnose.to_string(),
                b.resolve.to_string(),
                b.hints.to_string(),
                b.penalties.to_string(),
                b.adjustments.to_string(),
                format!("{}/{}", t.outcomes.resolved, t.incidents),
                t.false_alarms.to_string(),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            ("#", true),
            ("team", false),
            ("points", true),
            ("detection", true),
            ("diagnosis", true),
            ("resolution", true),
            ("hints", true),
            ("penalties", true),
            ("adjustments", true),
            ("resolved", true),
            ("false alarms", true),
        ],
        &rows,
    );
    out.push_str("Ties are broken by the total time to resolve (less is better).\n\n");

    out.push_str("## Time to detect and to resolve\n\n");
    out.push_str("Running game time: pauses do not count.\n\n### Per team\n\n");
    let head = [
        ("", false),
        ("incidents", true),
        ("median to detect", true),
        ("slowest detection", true),
        ("median to resolve", true),
        ("slowest resolution", true),
    ];
    let rows: Vec<Vec<String>> = report
        .teams
        .iter()
        .map(|t| {
            vec![
                esc(&t.team),
                t.incidents.to_string(),
                duration(t.time_to_detect.median_ms),
                duration(t.time_to_detect.max_ms),
                duration(t.time_to_resolve.median_ms),
                duration(t.time_to_resolve.max_ms),
            ]
        })
        .collect();
    let mut team_head = head;
    team_head[0].0 = "team";
    table(&mut out, &team_head, &rows);
    out.push_str("### Per scenario\n\n");
    if report.scenarios.is_empty() {
        out.push_str(
            "_No scenario can be shown yet: a scenario is named once its incident closes._\n\n",
        );
    } else {
        let rows: Vec<Vec<String>> = report
            .scenarios
            .iter()
            .map(|s| {
                vec![
                    format!(
                        "{} (difficulty {}, {})",
                        esc(&s.scenario),
                        s.difficulty,
                        s.resolution
                    ),
                    s.incidents.to_string(),
                    duration(s.time_to_detect.median_ms),
                    duration(s.time_to_detect.max_ms),
                    duration(s.time_to_resolve.median_ms),
                    duration(s.time_to_resolve.max_ms),
                ]
            })
            .collect();
        let mut scenario_head = head;
        scenario_head[0].0 = "scenario";
        table(&mut out, &scenario_head, &rows);
    }

    out.push_str("## Incidents\n\n");
    if report.incidents.is_empty() {
        out.push_str("_No incident to show yet._\n\n");
    } else {
        let rows: Vec<Vec<String>> = report
            .incidents
            .iter()
            .map(|i| {
                vec![
                    name(i),
                    esc(&i.team),
                    text::state(i).to_owned(),
                    when(clock, i.opened_ms),
                    when(clock, i.detected_ms),
                    when(clock, i.closed_ms),
                    duration(i.time_to_detect_ms),
                    duration(i.time_to_resolve_ms),
                    i.detection.as_ref().map_or("—".into(), |d| {
                        format!("{} ({})", d.how.as_str(), esc(&d.by))
                    }),
                    i.diagnoses
                        .as_ref()
                        .map_or("—".into(), |d| d.len().to_string()),
                    i.hints_bought.to_string(),
                    i.points_total.map_or("—".into(), |p| p.to_string()),
                ]
            })
            .collect();
        table(
            &mut out,
            &[
                ("incident", false),
                ("team", false),
                ("state", false),
                ("opened", false),
                ("detected", false),
                ("closed", false),
                ("to detect", true),
                ("to resolve", true),
                ("detected by", false),
                ("diagnoses", true),
                ("hints", true),
                ("points", true),
            ],
            &rows,
        );
    }

    out.push_str("## Timeline\n\n");
    if report.timeline.is_empty() {
        out.push_str("_Nothing has happened yet._\n\n");
    } else {
        let rows: Vec<Vec<String>> = report
            .timeline
            .iter()
            .map(|t| {
                vec![
                    clock.time(t.at_ms),
                    t.kind.as_str().replace('_', " "),
                    esc(&t.actor),
                    esc(&t.text),
                    if t.points == 0 {
                        String::new()
                    } else {
                        format!("{:+}", t.points)
                    },
                ]
            })
            .collect();
        table(
            &mut out,
            &[
                ("time", false),
                ("what", false),
                ("who", false),
                ("", false),
                ("points", true),
            ],
            &rows,
        );
    }

    out.push_str("## Postmortem drafts\n\nOne blameless draft per incident, filled from the timeline: edit it together, and fill in the notes.\n\n");
    if report.postmortems.is_empty() {
        out.push_str("_No incident to write about yet._\n\n");
    }
    for (pm, i) in report.postmortems.iter().zip(&report.incidents) {
        let _ = writeln!(out, "### {}\n", esc(&pm.title));
        let mut facts = vec![format!("**{}**", text::state(i))];
        if let Some(o) = i.opened_ms {
            facts.push(format!("opened {}", clock.time(o)));
        }
        if let Some(d) = i.detected_ms {
            facts.push(format!("detected {}", clock.time(d)));
        }
        if let Some(c) = i.closed_ms {
            facts.push(format!("closed {}", clock.time(c)));
        }
        if let Some(points) = i.points_total {
            facts.push(format!("{points} points"));
        }
        if pm.in_progress {
            facts.push("in progress: this draft will grow".into());
        }
        let _ = writeln!(out, "{}\n", facts.join(" · "));
        for (title, lines) in [
            ("What happened", &pm.what_happened),
            ("When it was seen", &pm.when_seen),
            ("How it was found", &pm.how_found),
            ("How it was fixed", &pm.how_fixed),
            ("What to improve", &pm.to_improve),
        ] {
            let _ = writeln!(out, "#### {title}\n");
            for line in lines {
                let _ = writeln!(out, "- {}", esc(line));
            }
            out.push_str("\nNotes:\n\n\n");
        }
    }

    let _ = writeln!(
        out,
        "---\n\n_Made by {} from the game's event log. Points are counted with these rules: {}._",
        esc(&super::generator()),
        esc(&text::rules(&report.rules))
    );
    out
}
