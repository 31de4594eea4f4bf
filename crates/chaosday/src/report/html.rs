//! The report as one self-contained HTML page: inline CSS, inline SVG, no script, no
//! external resource, printable.

use std::fmt::Write as _;

use chaosday_domain::incident::{Breakdown, IncidentState};
use chaosday_domain::report::{
    Durations, IncidentFigures, Postmortem, Report, TimelineKind, team_order,
};

use super::svg::{self, Group};
use super::text::{self, Clock, duration, html as esc};

const STYLE: &str = r#"
:root { --ink: #1f2328; --muted: #6a737d; --line: #d8dee4; --soft: #f6f8fa; --accent: #3b73b9;
  --good: #2f7a2d; --bad: #c0362c; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: #eef1f4; color: var(--ink);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 48px; }
header.top { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 22px 26px; margin-bottom: 18px; }
header.top h1 { margin: 0 0 4px; font-size: 26px; letter-spacing: -0.01em; }
header.top h1 small { font-weight: 400; color: var(--muted); font-size: 16px; }
header.top p { margin: 2px 0; color: var(--muted); }
.badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600;
  background: var(--soft); border: 1px solid var(--line); color: var(--ink); white-space: nowrap; }
.badge.running, .badge.open, .badge.detected, .badge.diagnosed { background: #e7f0fb; border-color: #b9d2f0; color: #1d4f8c; }
.badge.paused { background: #fff6db; border-color: #f0dc9b; color: #7a5a00; }
.badge.resolved, .badge.ended { background: #e6f4e5; border-color: #b5dcb2; color: #23611f; }
.badge.expired { background: #fbe7e5; border-color: #f0bab5; color: #8f241b; }
.badge.cancelled { background: #efefef; border-color: #d4d4d4; color: #555; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 16px 0 0; }
.card { background: var(--soft); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card b { display: block; font-size: 22px; line-height: 1.2; font-variant-numeric: tabular-nums; }
.card span { color: var(--muted); font-size: 12px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px 20px; margin-bottom: 18px; }
h2 { font-size: 19px; margin: 0 0 12px; }
h3 { font-size: 16px; margin: 22px 0 8px; }
h4 { font-size: 13px; margin: 14px 0 4px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
.chart { margin: 8px 0 6px; overflow-x: auto; }
.chart svg { display: block; width: 100%; height: auto; }
.chart + h3 { margin-top: 18px; }
.caption { color: var(--muted); font-size: 12.5px; margin: 2px 0 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: var(--soft); white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name { white-space: nowrap; }
td .sub { display: block; color: var(--muted); font-size: 11.5px; font-weight: 400; }
td.t { white-space: nowrap; font-variant-numeric: tabular-nums; color: var(--muted); }
tr.total td { font-weight: 700; }
.neg { color: var(--bad); }
.pos { color: var(--good); }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; }
.kind { font-size: 11.5px; font-weight: 600; color: var(--muted); white-space: nowrap; }
.kind.gm { color: #7a4bb0; }
.kind.incident { color: #1d4f8c; }
.kind.closed { color: #23611f; }
.kind.bad { color: #8f241b; }
.empty { color: var(--muted); font-style: italic; }
article.pm { border-top: 1px solid var(--line); padding-top: 6px; margin-top: 18px; }
article.pm:first-of-type { border-top: 0; margin-top: 0; }
article.pm h3 { margin-top: 8px; }
article.pm ul { margin: 4px 0 6px; padding-left: 20px; }
article.pm .facts { color: var(--muted); margin: 0 0 4px; }
.notes { border: 1px dashed #c2c8cf; border-radius: 6px; min-height: 54px; padding: 6px 10px; color: var(--muted); font-size: 12px; margin: 4px 0 8px; }
footer { color: var(--muted); font-size: 12px; padding: 0 4px; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { background: #fff; font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  header.top, section { border: 0; border-radius: 0; padding: 0; margin: 0 0 8mm; }
  section { break-inside: auto; }
  .chart, table tr, article.pm .notes, .cards { break-inside: avoid; }
  h2, h3, h4 { break-after: avoid; }
  article.pm { break-inside: avoid-page; }
  .notes { min-height: 28mm; }
  .chart { overflow: visible; }
  .scroll { overflow: visible; }
  table { font-size: 7.5pt; }
  th, th.n { white-space: normal; }
  th, td { padding: 2px 3px; }
  td.name, td.n { white-space: normal; }
  td .sub { font-size: 7pt; }
  .badge { padding: 0 4px; font-size: 7pt; }
}
"#;

/// The whole page.
pub fn page(game: &str, report: &Report, clock: &Clock) -> String {
    let teams = team_order(report);
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{generator}">
<title>Postmortem: {game}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
"#,
        game = esc(game),
        generator = esc(&super::generator()),
    );
    header(&mut out, game, report, clock);
    scoreboard(&mut out, report, &teams);
    charts(&mut out, report, &teams, clock);
    incidents(&mut out, report, clock);
    timeline(&mut out, report, clock);
    postmortems(&mut out, report, clock);
    let _ = write!(
        out,
        "<footer><p>Made by {} from the game's event log, as seen by {}. Points are counted with these rules: {}.</p></footer>\n</main>\n</body>\n</html>\n",
        esc(&super::generator()),
        esc(&text::audience(&report.audience)),
        esc(&text::rules(&report.rules)),
    );
    out
}

fn header(out: &mut String, game: &str, report: &Report, clock: &Clock) {
    let status = text::status(report.status);
    let _ = write!(
        out,
        r#"<header class="top">
<h1>{} <small>postmortem</small></h1>
<p><span class="badge {}">{}</span> {}</p>
<p>As seen by {}.</p>
"#,
        esc(game),
        status.replace(' ', "-"),
        esc(status),
        esc(&text::span(report, clock)),
        esc(&text::audience(&report.audience)),
    );
    let s = &report.summary;
    let cards: [(String, &str); 8] = [
        (s.incidents.to_string(), "incidents"),
        (s.detected.to_string(), "detected"),
        (s.resolved.to_string(), "resolved"),
        (s.expired.to_string(), "expired"),
        (s.missed.to_string(), "never detected"),
        (
            duration(s.time_to_detect.median_ms),
            "median time to detect",
        ),
        (
            duration(s.time_to_resolve.median_ms),
            "median time to resolve",
        ),
        (s.false_alarms.to_string(), "false alarms"),
    ];
    out.push_str(r#"<div class="cards">"#);
    for (value, label) in cards {
        let _ = write!(
            out,
            r#"<div class="card"><b>{}</b><span>{label}</span></div>"#,
            esc(&value)
        );
    }
    out.push_str("</div>\n</header>\n");
}

/// A duration that never breaks across lines: `3m&nbsp;00s`.
fn dur(ms: Option<u64>) -> String {
    esc(&duration(ms)).replace(' ', "&nbsp;")
}

fn signed(p: i64) -> String {
    let class = if p < 0 { " neg" } else { "" };
    format!(r#"<td class="n{class}">{}</td>"#, text::points(p))
}

fn scoreboard(out: &mut String, report: &Report, teams: &[String]) {
    out.push_str(r#"<section id="scoreboard"><h2>Scoreboard</h2><div class="scroll"><table><thead><tr><th class="n">#</th><th>team</th><th class="n">points</th><th class="n">detect</th><th class="n">diagnose</th><th class="n">resolve</th><th class="n">hints</th><th class="n" title="false alarms">penalties</th><th class="n">adjust</th><th class="n">resolved</th><th class="n">median to detect</th><th class="n">median to resolve</th></tr></thead><tbody>"#);
    if report.teams.is_empty() {
        out.push_str(r#"<tr><td colspan="12" class="empty">No team has played yet.</td></tr>"#);
    }
    let mut sum = Breakdown::default();
    for t in &report.teams {
        let color = teams
            .iter()
            .position(|name| *name == t.team)
            .map_or("#999", svg::team_color);
        let b = t.breakdown;
        sum = Breakdown {
            detect: sum.detect + b.detect,
            diagnose: sum.diagnose + b.diagnose,
            resolve: sum.resolve + b.resolve,
            hints: sum.hints + b.hints,
            penalties: sum.penalties + b.penalties,
            adjustments: sum.adjustments + b.adjustments,
        };
        let _ = write!(
            out,
            r#"<tr><td class="n">{}</td><td class="name"><span class="swatch" style="background:{color}"></span><b>{}</b></td><td class="n"><b>{}</b></td>{}{}{}{}{}{}<td class="n">{}/{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            t.rank,
            esc(&t.team),
            t.points,
            signed(b.detect),
            signed(b.diagnose),
            signed(b.resolve),
            signed(b.hints),
            signed(b.penalties),
            signed(b.adjustments),
            t.resolved,
            t.incidents,
            dur(t.time_to_detect.median_ms),
            dur(t.time_to_resolve.median_ms),
        );
    }
    out.push_str("</tbody>");
    if report.teams.len() > 1 {
        let _ = write!(
            out,
            r#"<tfoot><tr class="total"><td></td><td class="name">all teams</td><td class="n">{}</td>{}{}{}{}{}{}<td class="n">{}/{}</td><td class="n">{}</td><td class="n">{}</td></tr></tfoot>"#,
            sum.total(),
            signed(sum.detect),
            signed(sum.diagnose),
            signed(sum.resolve),
            signed(sum.hints),
            signed(sum.penalties),
            signed(sum.adjustments),
            report.summary.resolved,
            report.summary.incidents,
            dur(report.summary.time_to_detect.median_ms),
            dur(report.summary.time_to_resolve.median_ms),
        );
    }
    let _ = write!(
        out,
        r#"</table></div><p class="caption">Penalties are false alarms ({} in all). Ties are broken by the total time to resolve (less is better). Times are running game time: pauses do not count.</p></section>"#,
        report.summary.false_alarms
    );
    out.push('\n');
}

fn incidents_note(n: u32) -> String {
    match n {
        1 => "1 incident".into(),
        n => format!("{n} incidents"),
    }
}

fn charts(out: &mut String, report: &Report, teams: &[String], clock: &Clock) {
    out.push_str(r#"<section id="charts"><h2>Charts</h2>"#);
    out.push_str(r#"<h3>Score over time</h3><div class="chart">"#);
    out.push_str(&svg::score_over_time(report, teams, clock));
    out.push_str(r#"</div><p class="caption">Each team's points as they changed: detection, diagnosis, resolution, hints, false alarms and the game master's adjustments. Hatched: the game was paused.</p>"#);
    out.push_str(r#"<h3>Incidents on a timeline</h3><div class="chart">"#);
    out.push_str(&svg::gantt(report, teams, clock));
    out.push_str(r#"</div><p class="caption">One lane per team. A bar runs from the moment the faults became active to the moment the incident closed; it is pale until the team detected it (▼).</p>"#);
    let per_team: Vec<Group> = report
        .teams
        .iter()
        .map(|t| Group {
            label: t.team.clone(),
            note: incidents_note(t.incidents),
            detect: t.time_to_detect,
            resolve: t.time_to_resolve,
        })
        .collect();
    out.push_str(r#"<h3>Time to detect and to resolve, per team</h3><div class="chart">"#);
    out.push_str(&svg::durations(
        "Time to detect and to resolve (medians), per team",
        &per_team,
    ));
    out.push_str("</div>");
    let per_scenario: Vec<Group> = report
        .scenarios
        .iter()
        .map(|s| Group {
            label: s.scenario.clone(),
            note: format!(
                "{} · difficulty {} · {}",
                incidents_note(s.incidents),
                s.difficulty,
                s.resolution
            ),
            detect: s.time_to_detect,
            resolve: s.time_to_resolve,
        })
        .collect();
    out.push_str(r#"<h3>Time to detect and to resolve, per scenario</h3><div class="chart">"#);
    out.push_str(&svg::durations(
        "Time to detect and to resolve (medians), per scenario",
        &per_scenario,
    ));
    out.push_str("</div>");
    out.push_str(r#"<div class="scroll"><table><thead><tr><th>scenario</th><th class="n">difficulty</th><th>resolution</th><th class="n">incidents</th><th class="n">detected</th><th class="n">resolved</th><th class="n">median to detect</th><th class="n">slowest</th><th class="n">median to resolve</th><th class="n">slowest</th></tr></thead><tbody>"#);
    if report.scenarios.is_empty() {
        out.push_str(r#"<tr><td colspan="10" class="empty">No scenario can be shown yet: a scenario is named once its incident closes.</td></tr>"#);
    }
    for s in &report.scenarios {
        let _ = write!(
            out,
            r#"<tr><td class="name"><b>{}</b></td><td class="n">{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td>{}</tr>"#,
            esc(&s.scenario),
            s.difficulty,
            s.resolution,
            s.incidents,
            s.detected,
            s.resolved,
            duration_cells(&s.time_to_detect, &s.time_to_resolve)
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}

fn duration_cells(detect: &Durations, resolve: &Durations) -> String {
    format!(
        r#"<td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td>"#,
        dur(detect.median_ms),
        dur(detect.max_ms),
        dur(resolve.median_ms),
        dur(resolve.max_ms),
    )
}

fn time_cell(clock: &Clock, ms: Option<i64>) -> String {
    match ms {
        Some(ms) => format!(
            r#"<td class="t" title="{}">{}</td>"#,
            esc(&clock.date_time(ms)),
            esc(&clock.time(ms))
        ),
        None => r#"<td class="t">—</td>"#.into(),
    }
}

fn incident_name(i: &IncidentFigures) -> String {
    match &i.scenario {
        Some(s) => format!("{} {s}", i.id),
        None => i.id.to_string(),
    }
}

fn state_badge(state: IncidentState) -> String {
    let s = text::state(state);
    format!(r#"<span class="badge {s}">{s}</span>"#)
}

fn incidents(out: &mut String, report: &Report, clock: &Clock) {
    out.push_str(r#"<section id="incidents"><h2>Incidents</h2><div class="scroll"><table><thead><tr><th>incident</th><th>team</th><th>state</th><th>opened</th><th>detected</th><th>closed</th><th class="n">to detect</th><th class="n">to resolve</th><th>detected by</th><th class="n">diagnoses</th><th class="n">hints</th><th class="n">points</th></tr></thead><tbody>"#);
    if report.incidents.is_empty() {
        out.push_str(r#"<tr><td colspan="12" class="empty">No incident to show yet.</td></tr>"#);
    }
    for i in &report.incidents {
        let detected_by = i.detection.as_ref().map_or("—".to_owned(), |d| {
            format!("{} · {}", d.how.as_str(), d.by)
        });
        let tries = i.diagnoses.as_ref().map_or("—".to_owned(), |d| {
            let wrong = d.iter().filter(|t| !t.correct).count();
            match wrong {
                0 => d.len().to_string(),
                w => format!("{} ({w} wrong)", d.len()),
            }
        });
        let sub = match (i.difficulty, i.resolution) {
            (Some(d), Some(r)) => format!("difficulty {d} · {r}"),
            _ => String::new(),
        };
        let _ = write!(
            out,
            r#"<tr><td class="name"><b>{}</b><span class="sub">{}</span></td><td>{}</td><td>{}</td>{}{}{}<td class="n">{}</td><td class="n">{}</td><td class="name">{}</td><td class="n">{}</td><td class="n">{}</td>{}</tr>"#,
            esc(&incident_name(i)),
            esc(&sub),
            esc(&i.team),
            state_badge(i.state),
            time_cell(clock, i.opened_ms),
            time_cell(clock, i.detected_ms),
            time_cell(clock, i.closed_ms),
            dur(i.time_to_detect_ms),
            dur(i.time_to_resolve_ms),
            esc(&detected_by),
            esc(&tries),
            i.hints_bought,
            signed(i.points_total),
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}

fn kind_class(kind: TimelineKind) -> &'static str {
    use TimelineKind as K;
    match kind {
        K::GameStarted
        | K::GameEnded
        | K::Paused
        | K::Resumed
        | K::KillSwitch
        | K::Rearmed
        | K::GuardFailed
        | K::Adjustment => "gm",
        K::Resolved => "closed",
        K::Expired | K::Cancelled | K::FalseAlarm | K::VerificationFailed => "bad",
        _ => "incident",
    }
}

fn timeline(out: &mut String, report: &Report, clock: &Clock) {
    out.push_str(r#"<section id="timeline"><h2>Timeline</h2><div class="scroll"><table><thead><tr><th>time</th><th>what</th><th>who</th><th></th><th class="n">points</th></tr></thead><tbody>"#);
    if report.timeline.is_empty() {
        out.push_str(r#"<tr><td colspan="5" class="empty">Nothing has happened yet.</td></tr>"#);
    }
    for item in &report.timeline {
        let kind = item.kind.as_str().replace('_', " ");
        let points = if item.points == 0 {
            r#"<td class="n"></td>"#.to_owned()
        } else {
            let class = if item.points < 0 { "neg" } else { "pos" };
            format!(r#"<td class="n {class}">{:+}</td>"#, item.points)
        };
        let _ = write!(
            out,
            r#"<tr>{}<td><span class="kind {}">{}</span></td><td class="name">{}</td><td>{}</td>{points}</tr>"#,
            time_cell(clock, Some(item.at_ms)),
            kind_class(item.kind),
            esc(&kind),
            esc(&item.actor),
            esc(&item.text),
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}

fn postmortems(out: &mut String, report: &Report, clock: &Clock) {
    out.push_str(r#"<section id="postmortems"><h2>Postmortem drafts</h2><p class="caption">One blameless draft per incident, filled from the timeline: edit it together, fill in the notes.</p>"#);
    if report.postmortems.is_empty() {
        out.push_str(r#"<p class="empty">No incident to write about yet.</p>"#);
    }
    for (pm, i) in report.postmortems.iter().zip(&report.incidents) {
        postmortem(out, pm, i, clock);
    }
    out.push_str("</section>\n");
}

fn postmortem(out: &mut String, pm: &Postmortem, i: &IncidentFigures, clock: &Clock) {
    let _ = write!(
        out,
        r#"<article class="pm" id="incident-{}"><h3>{} {}</h3><p class="facts">"#,
        i.id.0,
        esc(&pm.title),
        state_badge(i.state),
    );
    let mut facts = Vec::new();
    if let Some(o) = i.opened_ms {
        facts.push(format!("opened {}", clock.time(o)));
    }
    if let Some(d) = i.detected_ms {
        facts.push(format!("detected {}", clock.time(d)));
    }
    if let Some(c) = i.closed_ms {
        facts.push(format!("closed {}", clock.time(c)));
    }
    facts.push(format!("{} points", i.points_total));
    if pm.in_progress {
        facts.push("in progress: this draft will grow".into());
    }
    out.push_str(&esc(&facts.join(" · ")));
    out.push_str("</p>");
    for (title, lines) in [
        ("What happened", &pm.what_happened),
        ("When it was seen", &pm.when_seen),
        ("How it was found", &pm.how_found),
        ("How it was fixed", &pm.how_fixed),
        ("What to improve", &pm.to_improve),
    ] {
        let _ = write!(out, "<h4>{title}</h4><ul>");
        for line in lines {
            let _ = write!(out, "<li>{}</li>", esc(line));
        }
        out.push_str(r#"</ul><div class="notes">Notes:</div>"#);
    }
    out.push_str("</article>\n");
}
