//! The report as one self-contained HTML page: inline CSS, inline SVG, no script, no
//! external resource, printable.

use askama::Template;
use chaosday_domain::incident::Breakdown;
use chaosday_domain::report::{IncidentFigures, Postmortem, Report, TimelineKind, team_order};

use super::svg::{self, Group, Svg};
use super::text::{self, Clock, duration};

/// The report's style sheet: the web UI's dark theme, every rule under `.report` (so that
/// the web UI's /report can show the report in its own frame). The charts' colors are
/// overridden here by the colors svg.rs writes (`#1f2328` ink, `#6a737d` muted, `#e4e7eb`
/// grid, `#f6f8fa` lanes, the pause's hatching), so the same SVG reads on the dark page and
/// on paper.
pub const STYLE: &str = r##"
.report { --ink: #ecebf8; --muted: #a09ec4; --dim: #6d6a96; --line: #2b2950; --line-2: #3b3868;
  --soft: #1a1833; --panel: #121124; --accent: #22e3ff; --good: #3dfc8f; --bad: #ff3b5c;
  --hatch: #1a1833; --hatch-line: #2b2950;
  color: var(--ink); max-width: 2400px; margin: 0 auto;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; }
.report * { box-sizing: border-box; }
body.report-doc { margin: 0; background: #07060f; color-scheme: dark; -webkit-text-size-adjust: 100%; }
body.report-doc .report { padding: 24px clamp(12px, 2vw, 40px) 48px; }
.report header.top { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 22px 26px; margin-bottom: 18px; }
.report header.top h1 { margin: 0 0 4px; font-size: 26px; letter-spacing: -0.01em; }
.report header.top h1 small { font-weight: 400; color: var(--muted); font-size: 16px; }
.report header.top p { margin: 2px 0; color: var(--muted); }
.report .badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600;
  background: var(--soft); border: 1px solid var(--line-2); color: var(--ink); white-space: nowrap; text-transform: none; letter-spacing: 0; }
.report .badge.running, .report .badge.open, .report .badge.detected, .report .badge.diagnosed { border-color: #22e3ff; color: #22e3ff; }
.report .badge.paused { border-color: #ffe14d; color: #ffe14d; }
.report .badge.resolved, .report .badge.ended { border-color: #3dfc8f; color: #3dfc8f; }
.report .badge.expired { border-color: #ff3b5c; color: #ff3b5c; }
.report .badge.cancelled { border-color: var(--line-2); color: var(--muted); }
.report .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(118px, 1fr)); gap: 10px; margin: 16px 0 0; }
.report .cards .card { background: var(--soft); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; margin: 0; }
.report .cards .card b { display: block; font-size: 22px; line-height: 1.2; font-variant-numeric: tabular-nums; }
.report .cards .card span { color: var(--muted); font-size: 12px; }
.report section { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px 20px; margin-bottom: 18px; min-width: 0; }
.report h2 { font-size: 19px; margin: 0 0 12px; color: var(--accent); }
.report h3 { font-size: 16px; margin: 22px 0 8px; }
.report h4 { font-size: 13px; margin: 14px 0 4px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
.report .chart { margin: 8px 0 6px; overflow-x: auto; }
.report .chart svg { display: block; width: 100%; max-width: 1400px; height: auto; fill: var(--ink); }
.report .chart svg [fill="#1f2328"] { fill: var(--ink); }
.report .chart svg [fill="#6a737d"] { fill: var(--muted); }
.report .chart svg [stroke="#e4e7eb"] { stroke: var(--line); }
.report .chart svg [stroke="#fff"] { stroke: var(--panel); }
.report .chart svg [fill="#f3f4f6"] { fill: var(--hatch); }
.report .chart svg [stroke="#dcdfe3"] { stroke: var(--hatch-line); }
.report .chart svg [stroke="#c8ccd1"] { stroke: var(--line-2); }
.report .chart svg [fill="#f6f8fa"] { fill: var(--soft); }
.report .chart + h3 { margin-top: 18px; }
.report .caption { color: var(--muted); font-size: 12.5px; margin: 2px 0 0; }
.report .scroll { overflow-x: auto; }
.report table { border-collapse: collapse; width: 100%; font-size: 13px; }
.report th, .report td { padding: 6px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
.report th { font-size: 12px; color: var(--muted); font-weight: 600; background: var(--soft); white-space: nowrap; }
.report td.n, .report th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.report td.name { white-space: nowrap; }
.report td .sub { display: block; color: var(--muted); font-size: 11.5px; font-weight: 400; }
.report td.t { white-space: nowrap; font-variant-numeric: tabular-nums; color: var(--muted); }
.report tr.total td { font-weight: 700; }
.report .neg { color: var(--bad); }
.report .pos { color: var(--good); }
.report .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; }
.report .kind { font-size: 11.5px; font-weight: 600; color: var(--muted); white-space: nowrap; }
.report .kind.gm { color: #b197ff; }
.report .kind.incident { color: #22e3ff; }
.report .kind.closed { color: #3dfc8f; }
.report .kind.bad { color: #ff6b83; }
.report .empty { color: var(--muted); font-style: italic; }
.report article.pm { border-top: 1px solid var(--line); padding-top: 6px; margin-top: 18px; }
.report article.pm:first-of-type { border-top: 0; margin-top: 0; }
.report article.pm h3 { margin-top: 8px; }
.report article.pm ul { margin: 4px 0 6px; padding-left: 20px; }
.report article.pm .facts { color: var(--muted); margin: 0 0 4px; display: block; }
.report .notes { border: 1px dashed var(--line-2); border-radius: 6px; min-height: 54px; padding: 6px 10px; color: var(--muted); font-size: 12px; margin: 4px 0 8px; }
.report footer { color: var(--muted); font-size: 12px; padding: 0 4px; }
@media (min-width: 1500px) {
  .report { font-size: 15px; }
  .report table { font-size: 14px; }
}
@page { size: A4; margin: 14mm 12mm; }
@media print {
  .report { --ink: #1f2328; --muted: #6a737d; --line: #d8dee4; --line-2: #c2c8cf; --soft: #f6f8fa; --panel: #fff;
    --accent: #1f2328; --good: #2f7a2d; --bad: #c0362c; --hatch: #f3f4f6; --hatch-line: #dcdfe3; max-width: none; }
  body.report-doc { background: #fff; font-size: 10.5pt; }
  body.report-doc .report { padding: 0; }
  .report .badge { color: var(--ink) !important; border-color: var(--line-2) !important; }
  .report td .badge { white-space: normal; }
  .report .kind { color: var(--muted) !important; }
  .report header.top, .report section { border: 0; border-radius: 0; padding: 0; margin: 0 0 8mm; }
  .report section { break-inside: auto; }
  .report .chart, .report table tr, .report article.pm .notes, .report .cards { break-inside: avoid; }
  .report h2, .report h3, .report h4 { break-after: avoid; }
  .report article.pm { break-inside: avoid-page; }
  .report .notes { min-height: 28mm; }
  .report .chart { overflow: visible; }
  .report .scroll { overflow: visible; }
  .report table { font-size: 7.5pt; }
  .report th, .report th.n { white-space: normal; }
  .report th, .report td { padding: 2px 3px; }
  .report td.name, .report td.n { white-space: normal; }
  .report td .sub { font-size: 7pt; }
  .report .badge { padding: 0 4px; font-size: 7pt; }
}
"##;

/// A table cell of points: its class (`n`, `n neg`, `n pos`) and its text.
struct Cell {
    class: &'static str,
    text: String,
}

/// Points as the scoreboard shows them: `-30` in red, `168`.
fn signed(p: i64) -> Cell {
    Cell {
        class: if p < 0 { "n neg" } else { "n" },
        text: text::points(p),
    }
}

/// A time of day, with the full date and time as its title; a dash for none.
struct TimeCell {
    title: Option<String>,
    text: String,
}

fn time_cell(clock: &Clock, ms: Option<i64>) -> TimeCell {
    match ms {
        Some(ms) => TimeCell {
            title: Some(clock.date_time(ms)),
            text: clock.time(ms),
        },
        None => TimeCell {
            title: None,
            text: "—".into(),
        },
    }
}

/// A duration as words that the page joins with non-breaking spaces: `3m`, `00s`.
fn dur(ms: Option<u64>) -> Vec<String> {
    duration(ms).split(' ').map(str::to_owned).collect()
}

struct TeamRow {
    rank: u32,
    color: &'static str,
    team: String,
    points: i64,
    breakdown: [Cell; 6],
    resolved: u32,
    incidents: u32,
    to_detect: Vec<String>,
    to_resolve: Vec<String>,
}

fn breakdown_cells(b: &Breakdown) -> [Cell; 6] {
    [
        signed(b.detect),
        signed(b.diagnose),
        signed(b.resolve),
        signed(b.hints),
        signed(b.penalties),
        signed(b.adjustments),
    ]
}

struct ScenarioRow {
    scenario: String,
    difficulty: u32,
    resolution: String,
    incidents: u32,
    detected: u32,
    resolved: u32,
    detect_median: Vec<String>,
    detect_max: Vec<String>,
    resolve_median: Vec<String>,
    resolve_max: Vec<String>,
}

struct IncidentRow {
    name: String,
    sub: String,
    team: String,
    state: &'static str,
    opened: TimeCell,
    detected: TimeCell,
    closed: TimeCell,
    to_detect: Vec<String>,
    to_resolve: Vec<String>,
    detected_by: String,
    tries: String,
    hints: u32,
    points: Cell,
}

struct TimelineRow {
    time: TimeCell,
    class: &'static str,
    kind: String,
    actor: String,
    text: String,
    points: Cell,
}

struct PostmortemView {
    id: u64,
    title: String,
    state: &'static str,
    facts: String,
    parts: Vec<(&'static str, Vec<String>)>,
}

/// The page, for its template (`templates/report/page.html`). Every value is escaped by
/// the report's escaper ([`text::Html`]), but for the style sheet and the charts, which are
/// inserted as they are: the charts are [`Svg`], whose texts [`svg`] escaped.
#[derive(Template)]
#[template(path = "report/page.html", escape = "report")]
struct Page<'a> {
    game: &'a str,
    generator: String,
    style: &'static str,
    status_class: String,
    status: &'static str,
    span: String,
    audience: String,
    cards: Vec<(String, &'static str)>,
    teams: Vec<TeamRow>,
    total: Option<TeamRow>,
    false_alarms: u32,
    score_chart: Svg,
    gantt: Svg,
    per_team: Svg,
    per_scenario: Svg,
    scenarios: Vec<ScenarioRow>,
    incidents: Vec<IncidentRow>,
    timeline: Vec<TimelineRow>,
    postmortems: Vec<PostmortemView>,
    rules: String,
    /// A document of its own (`chaosday report`), or only the content (the web UI's).
    standalone: bool,
}

/// The whole page: a document of its own, its style sheet inline.
pub fn page(game: &str, report: &Report, clock: &Clock) -> String {
    render(game, report, clock, true)
}

/// The page's content only (`<div class="report">`), for a page that has its own frame and
/// links [`STYLE`].
pub fn content(game: &str, report: &Report, clock: &Clock) -> String {
    render(game, report, clock, false)
}

fn render(game: &str, report: &Report, clock: &Clock, standalone: bool) -> String {
    let teams = team_order(report);
    let status = text::status(report.status);
    let s = &report.summary;
    let cards = vec![
        (s.incidents.to_string(), "incidents"),
        (s.detected.to_string(), "detected"),
        (s.outcomes.resolved.to_string(), "resolved by the team"),
        (s.outcomes.ran_out.to_string(), "ran out"),
        (s.outcomes.expired.to_string(), "expired"),
        (s.outcomes.never_detected.to_string(), "never detected"),
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
    let mut sum = Breakdown::default();
    let rows: Vec<TeamRow> = report
        .teams
        .iter()
        .map(|t| {
            let b = t.breakdown;
            sum = Breakdown {
                detect: sum.detect + b.detect,
                diagnose: sum.diagnose + b.diagnose,
                resolve: sum.resolve + b.resolve,
                hints: sum.hints + b.hints,
                penalties: sum.penalties + b.penalties,
                adjustments: sum.adjustments + b.adjustments,
            };
            TeamRow {
                rank: t.rank,
                color: teams
                    .iter()
                    .position(|name| *name == t.team)
                    .map_or("#999", svg::team_color),
                team: t.team.clone(),
                points: t.points,
                breakdown: breakdown_cells(&b),
                resolved: t.outcomes.resolved,
                incidents: t.incidents,
                to_detect: dur(t.time_to_detect.median_ms),
                to_resolve: dur(t.time_to_resolve.median_ms),
            }
        })
        .collect();
    let total = (report.teams.len() > 1).then(|| TeamRow {
        rank: 0,
        color: "",
        team: String::new(),
        points: sum.total(),
        breakdown: breakdown_cells(&sum),
        resolved: s.outcomes.resolved,
        incidents: s.incidents,
        to_detect: dur(s.time_to_detect.median_ms),
        to_resolve: dur(s.time_to_resolve.median_ms),
    });
    let (score_chart, gantt, per_team, per_scenario) = charts(report, &teams, clock);
    let page = Page {
        game,
        generator: super::generator(),
        style: STYLE,
        status_class: status.replace(' ', "-"),
        status,
        span: text::span(report, clock),
        audience: text::audience(&report.audience),
        cards,
        teams: rows,
        total,
        false_alarms: s.false_alarms,
        score_chart,
        gantt,
        per_team,
        per_scenario,
        scenarios: report
            .scenarios
            .iter()
            .map(|s| ScenarioRow {
                scenario: s.scenario.clone(),
                difficulty: s.difficulty,
                resolution: s.resolution.to_string(),
                incidents: s.incidents,
                detected: s.detected,
                resolved: s.outcomes.resolved,
                detect_median: dur(s.time_to_detect.median_ms),
                detect_max: dur(s.time_to_detect.max_ms),
                resolve_median: dur(s.time_to_resolve.median_ms),
                resolve_max: dur(s.time_to_resolve.max_ms),
            })
            .collect(),
        incidents: report
            .incidents
            .iter()
            .map(|i| incident_row(i, clock))
            .collect(),
        timeline: report
            .timeline
            .iter()
            .map(|item| TimelineRow {
                time: time_cell(clock, Some(item.at_ms)),
                class: kind_class(item.kind),
                kind: item.kind.as_str().replace('_', " "),
                actor: item.actor.clone(),
                text: item.text.clone(),
                points: match item.points {
                    0 => Cell {
                        class: "n",
                        text: String::new(),
                    },
                    p => Cell {
                        class: if p < 0 { "n neg" } else { "n pos" },
                        text: format!("{p:+}"),
                    },
                },
            })
            .collect(),
        postmortems: report
            .postmortems
            .iter()
            .zip(&report.incidents)
            .map(|(pm, i)| postmortem(pm, i, clock))
            .collect(),
        rules: text::rules(&report.rules),
        standalone,
    };
    page.render()
        .unwrap_or_else(|e| format!("the report page failed to render: {e}\n"))
}

fn incidents_note(n: u32) -> String {
    match n {
        1 => "1 incident".into(),
        n => format!("{n} incidents"),
    }
}

fn charts(report: &Report, teams: &[String], clock: &Clock) -> (Svg, Svg, Svg, Svg) {
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
    (
        svg::score_over_time(report, teams, clock),
        svg::gantt(report, teams, clock),
        svg::durations(
            "Time to detect and to resolve (medians), per team",
            &per_team,
        ),
        svg::durations(
            "Time to detect and to resolve (medians), per scenario",
            &per_scenario,
        ),
    )
}

fn incident_name(i: &IncidentFigures) -> String {
    match &i.scenario {
        Some(s) => format!("{} {s}", i.id),
        None => i.id.to_string(),
    }
}

fn incident_row(i: &IncidentFigures, clock: &Clock) -> IncidentRow {
    IncidentRow {
        name: incident_name(i),
        sub: match (i.difficulty, i.resolution) {
            (Some(d), Some(r)) => format!("difficulty {d} · {r}"),
            _ => String::new(),
        },
        team: i.team.clone(),
        state: text::state(i),
        opened: time_cell(clock, i.opened_ms),
        detected: time_cell(clock, i.detected_ms),
        closed: time_cell(clock, i.closed_ms),
        to_detect: dur(i.time_to_detect_ms),
        to_resolve: dur(i.time_to_resolve_ms),
        detected_by: i.detection.as_ref().map_or("—".to_owned(), |d| {
            format!("{} · {}", d.how.as_str(), d.by)
        }),
        tries: i.diagnoses.as_ref().map_or("—".to_owned(), |d| {
            let wrong = d.iter().filter(|t| !t.correct).count();
            match wrong {
                0 => d.len().to_string(),
                w => format!("{} ({w} wrong)", d.len()),
            }
        }),
        hints: i.hints_bought,
        points: i.points_total.map_or_else(
            || Cell {
                class: "n",
                text: "—".into(),
            },
            signed,
        ),
    }
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

fn postmortem(pm: &Postmortem, i: &IncidentFigures, clock: &Clock) -> PostmortemView {
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
    if let Some(points) = i.points_total {
        facts.push(format!("{points} points"));
    }
    if pm.in_progress {
        facts.push("in progress: this draft will grow".into());
    }
    PostmortemView {
        id: i.id.0,
        title: pm.title.clone(),
        state: text::state(i),
        facts: facts.join(" · "),
        parts: vec![
            ("What happened", pm.what_happened.clone()),
            ("When it was seen", pm.when_seen.clone()),
            ("How it was found", pm.how_found.clone()),
            ("How it was fixed", pm.how_fixed.clone()),
            ("What to improve", pm.to_improve.clone()),
        ],
    }
}
