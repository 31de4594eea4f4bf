//! The report's charts, as hand-written SVG: no script, no external font, every text
//! escaped. Each function returns one `<svg>` element sized by its `viewBox`, which the
//! page scales to its width.
//!
//! - [`score_over_time`]: a step line per team, with a legend and the pauses shaded;
//! - [`durations`]: time to detect and to resolve (medians) as grouped horizontal bars, per
//!   team or per scenario;
//! - [`gantt`]: every incident on a timeline, a lane per team: opened → detected → closed,
//!   colored by outcome;
//! - [`monkey`]: a Chaos Monkey's faults per day and its groups' time to recover.

pub mod monkey;

use std::fmt::Write as _;

use chaosday_domain::incident::Outcome;
use chaosday_domain::report::{Durations, IncidentFigures, Report, human_duration};

use super::text::{self, Clock};

/// One color per team, in scoreboard order (Tableau 10, readable by most color-blind eyes).
const TEAM_COLORS: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
    "#ff9da7", "#bab0ac",
];
/// Time to detect, time to resolve.
const DETECT_COLOR: &str = "#4e79a7";
const RESOLVE_COLOR: &str = "#f28e2b";
/// Incidents by outcome.
const RESOLVED: &str = "#4c9a4a";
const EXPIRED: &str = "#d6453d";
const CANCELLED: &str = "#8c8c8c";
const RAN_OUT: &str = "#c9a227";
const OPEN: &str = "#3b73b9";

const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif";
const INK: &str = "#1f2328";
const MUTED: &str = "#6a737d";
const GRID: &str = "#e4e7eb";
/// The plot area of the time charts: the same left edge and width, so they line up.
const WIDTH: f64 = 960.0;
const LEFT: f64 = 130.0;
const RIGHT: f64 = 30.0;

/// One finished chart: SVG markup in which every text is escaped, so that the page may
/// insert it as it is. Only this module (and its children) makes one.
#[derive(Debug, Clone)]
pub struct Svg(String);

impl std::fmt::Display for Svg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The color of the team at `index` in scoreboard order.
pub fn team_color(index: usize) -> &'static str {
    TEAM_COLORS[index % TEAM_COLORS.len()]
}

/// The color of an incident's outcome (open: in progress).
pub fn outcome_color(outcome: Option<Outcome>) -> &'static str {
    match outcome {
        Some(Outcome::Resolved) => RESOLVED,
        Some(Outcome::RanOut) => RAN_OUT,
        Some(Outcome::Expired | Outcome::NeverDetected) => EXPIRED,
        Some(Outcome::Cancelled) => CANCELLED,
        None => OPEN,
    }
}

/// About how wide `text` is at `size` px in a sans-serif font.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | ' ' => 0.3,
            'm' | 'w' | 'M' | 'W' => 0.85,
            c if c.is_uppercase() => 0.68,
            _ => 0.56,
        })
        .sum::<f64>()
        * size
}

/// `text` cut to fit `width` px at `size` px, with an ellipsis.
fn fit(text: &str, width: f64, size: f64) -> String {
    if text_width(text, size) <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    for c in text.chars() {
        if text_width(&format!("{out}{c}…"), size) > width {
            break;
        }
        out.push(c);
    }
    format!("{}…", out.trim_end())
}

fn open_svg(out: &mut String, width: f64, height: f64, label: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" role="img" aria-label="{label}" font-family="{FONT}" font-size="12" fill="{INK}"><title>{label}</title>"#,
        label = text::html(label),
    );
}

/// A time scale: unix ms to x.
struct TimeScale {
    from: i64,
    to: i64,
    left: f64,
    width: f64,
}

impl TimeScale {
    fn new(from: i64, to: i64, left: f64, width: f64) -> Self {
        let to = if to <= from { from + 60_000 } else { to };
        TimeScale {
            from,
            to,
            left,
            width,
        }
    }

    fn x(&self, ms: i64) -> f64 {
        let ms = ms.clamp(self.from, self.to);
        self.left + (ms - self.from) as f64 / (self.to - self.from) as f64 * self.width
    }

    /// Ticks on round local times: at most about `max` of them.
    fn ticks(&self, clock: &Clock, max: i64) -> (Vec<i64>, bool) {
        const STEPS: [i64; 17] = [
            1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
        ];
        let span = self.to - self.from;
        let step = STEPS
            .iter()
            .map(|s| s * 1000)
            .find(|s| span / s <= max)
            .unwrap_or(86_400_000);
        let offset = clock.offset_ms(self.from);
        let first = (self.from + offset).div_euclid(step) * step - offset;
        let mut ticks = Vec::new();
        let mut t = if first < self.from {
            first + step
        } else {
            first
        };
        while t <= self.to {
            ticks.push(t);
            t += step;
        }
        (ticks, step < 60_000)
    }

    /// Vertical grid lines and time labels under `bottom`.
    fn axis(&self, out: &mut String, clock: &Clock, top: f64, bottom: f64) {
        let max = (self.width / 80.0).floor().max(2.0) as i64;
        let (ticks, seconds) = self.ticks(clock, max);
        for t in ticks {
            let x = self.x(t);
            let label = if seconds {
                clock.time(t)
            } else {
                clock.short(t)
            };
            let _ = write!(
                out,
                r#"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="{GRID}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="{MUTED}" font-size="11">{}</text>"#,
                bottom + 16.0,
                text::html(&label)
            );
        }
    }

    /// The pauses, shaded between `top` and `bottom`.
    fn pauses(&self, out: &mut String, report: &Report, clock: &Clock, top: f64, bottom: f64) {
        for p in &report.pauses {
            let end = p.to_ms.unwrap_or(report.as_of_ms);
            let (x0, x1) = (self.x(p.from_ms), self.x(end));
            let w = (x1 - x0).max(1.0);
            let title = format!(
                "paused {} → {} ({})",
                clock.time(p.from_ms),
                clock.time(end),
                human_duration(u64::try_from(end - p.from_ms).unwrap_or(0))
            );
            let _ = write!(
                out,
                r##"<g><title>{}</title><rect x="{x0:.1}" y="{top:.1}" width="{w:.1}" height="{:.1}" fill="url(#paused)" stroke="#c8ccd1" stroke-width="0.5"/>"##,
                text::html(&title),
                bottom - top
            );
            if w > 40.0 {
                let _ = write!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{MUTED}" font-size="10">paused</text>"#,
                    x0 + w / 2.0,
                    top + 11.0
                );
            }
            out.push_str("</g>");
        }
    }
}

/// The hatching of pauses.
const PAUSED_PATTERN: &str = r##"<defs><pattern id="paused" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f3f4f6"/><line x1="0" y1="0" x2="0" y2="6" stroke="#dcdfe3" stroke-width="2"/></pattern></defs>"##;

/// Round ticks for a value axis covering `min..=max`: (ticks, low, high).
fn nice_ticks(min: f64, max: f64, count: f64) -> (Vec<f64>, f64, f64) {
    let (min, max) = if (max - min).abs() < f64::EPSILON {
        (min.min(0.0), max.max(0.0) + 10.0)
    } else {
        (min, max)
    };
    let raw = (max - min) / count;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let low = (min / step).floor() * step;
    let high = (max / step).ceil() * step;
    let mut ticks = Vec::new();
    let mut t = low;
    while t <= high + step / 2.0 {
        ticks.push(if t.abs() < step / 1e6 { 0.0 } else { t });
        t += step;
    }
    (ticks, low, high)
}

/// The time span of the time charts: from the start of the game (or the first thing shown)
/// to the end of the game or now.
fn time_span(report: &Report) -> (i64, i64) {
    let first_incident = report
        .incidents
        .iter()
        .filter_map(|i| i.opened_ms.or(i.detected_ms))
        .min();
    let from = match (report.started_ms, first_incident) {
        (Some(s), Some(i)) => s.min(i),
        (s, i) => s.or(i).unwrap_or(report.as_of_ms),
    };
    (from, report.as_of_ms.max(from + 1))
}

/// A row of legend items from `left`, wrapping before `right`: (swatch, label, bold value).
/// Returns the height it took.
fn legend(
    out: &mut String,
    items: &[(String, String, Option<String>)],
    left: f64,
    right: f64,
    top: f64,
) -> f64 {
    let (mut x, mut y) = (left, top);
    for (swatch, label, value) in items {
        let value_w = value
            .as_ref()
            .map_or(0.0, |v| text_width(v, 12.0) * 1.08 + 6.0);
        let w = 26.0 + text_width(label, 12.0) + value_w;
        if x > left && x + w > right {
            x = left;
            y += 20.0;
        }
        let value = value.as_ref().map_or(String::new(), |v| {
            format!(r#" <tspan font-weight="700">{}</tspan>"#, text::html(v))
        });
        let _ = write!(
            out,
            r#"<g>{}<text x="{:.1}" y="{:.1}">{}{value}</text></g>"#,
            swatch
                .replace("{x}", &format!("{x:.1}"))
                .replace("{y}", &format!("{y:.1}")),
            x + 24.0,
            y + 10.5,
            text::html(label),
        );
        x += w + 22.0;
    }
    y + 20.0 - top
}

/// An empty chart's note, centred at `(x, y)`.
fn nothing_yet(out: &mut String, (x, y): (f64, f64), note: &str) {
    let _ = write!(
        out,
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="middle" fill="{MUTED}">{}</text>"#,
        text::html(note)
    );
}

/// How wide the label column of a chart with a row per `(label, note)` is (80 to 276 px).
fn label_width<'a>(rows: impl Iterator<Item = (&'a str, &'a str)>) -> f64 {
    rows.map(|(label, note)| (text_width(label, 12.0) * 1.08).max(text_width(note, 10.5)))
        .fold(80.0f64, f64::max)
        .min(260.0)
        + 16.0
}

/// A row's label (bold, cut to fit `label_w`) and its note under it, right-aligned at `right`
/// from `top`; the whole label as its title.
fn row_label(out: &mut String, (label, note): (&str, &str), right: f64, top: f64, label_w: f64) {
    let cut = fit(label, (label_w - 8.0) / 1.08, 12.0);
    let _ = write!(
        out,
        r#"<g><title>{}</title><text x="{right:.1}" y="{:.1}" text-anchor="end" font-weight="600">{}</text><text x="{right:.1}" y="{:.1}" text-anchor="end" fill="{MUTED}" font-size="10.5">{}</text></g>"#,
        text::html(label),
        top + 12.0,
        text::html(&cut),
        top + 26.0,
        text::html(note)
    );
}

/// A legend swatch: a square of `color` at `opacity`.
fn square(color: &str, opacity: f64) -> String {
    format!(
        r#"<rect x="{{x}}" y="{{y}}" width="14" height="14" rx="3" fill="{color}" fill-opacity="{opacity}"/>"#
    )
}

/// How many legend rows `items` take between `left` and `right`.
fn legend_height(items: &[(String, String, Option<String>)], left: f64, right: f64) -> f64 {
    let mut scratch = String::new();
    legend(&mut scratch, items, left, right, 0.0)
}

/// Each team's score over time: a step line per team, a legend with the final scores, the
/// pauses shaded.
pub fn score_over_time(report: &Report, teams: &[String], clock: &Clock) -> Svg {
    let (from, to) = time_span(report);
    let items: Vec<(String, String, Option<String>)> = teams
        .iter()
        .enumerate()
        .map(|(index, team)| {
            let score = report
                .teams
                .iter()
                .find(|t| t.team == *team)
                .map_or(0, |t| t.points);
            (
                format!(
                    r#"<rect x="{{x}}" y="{{y}}" transform="translate(0 5)" width="18" height="4" rx="2" fill="{}"/>"#,
                    team_color(index)
                ),
                team.clone(),
                Some(score.to_string()),
            )
        })
        .collect();
    let legend_h = legend_height(&items, LEFT, WIDTH - RIGHT);
    let (top, plot_h) = (12.0 + legend_h + 14.0, 250.0);
    let bottom = top + plot_h;
    let height = bottom + 30.0;
    let scale = TimeScale::new(from, to, LEFT, WIDTH - LEFT - RIGHT);
    let mut out = String::new();
    open_svg(&mut out, WIDTH, height, "Score over time, per team");
    out.push_str(PAUSED_PATTERN);
    legend(&mut out, &items, LEFT, WIDTH - RIGHT, 12.0);

    let values = report
        .score_over_time
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.points as f64));
    let (min, max) = values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (ticks, low, high) = nice_ticks(min, max, 6.0);
    let y = |v: f64| bottom - (v - low) / (high - low) * plot_h;

    scale.pauses(&mut out, report, clock, top, bottom);
    for t in &ticks {
        let yy = y(*t);
        let (stroke, width) = if *t == 0.0 {
            ("#9aa1a9", 1.2)
        } else {
            (GRID, 1.0)
        };
        let _ = write!(
            out,
            r#"<line x1="{LEFT:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="{stroke}" stroke-width="{width}"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="{MUTED}" font-size="11">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 8.0,
            yy + 4.0,
            t
        );
    }
    let _ = write!(
        out,
        r#"<text transform="translate({:.1} {:.1}) rotate(-90)" text-anchor="middle" fill="{MUTED}" font-size="11">points</text>"#,
        LEFT - 52.0,
        top + plot_h / 2.0
    );
    scale.axis(&mut out, clock, bottom, bottom + 4.0);

    // Lines: the first team last, so the leader is drawn on top.
    for (index, team) in teams.iter().enumerate().rev() {
        let color = team_color(index);
        let series = report.score_over_time.iter().find(|s| s.team == *team);
        let points = series.map(|s| s.points.as_slice()).unwrap_or_default();
        let mut d = format!("M{:.1} {:.1}", scale.x(from), y(0.0));
        for p in points {
            let _ = write!(d, " H{:.1} V{:.1}", scale.x(p.at_ms), y(p.points as f64));
        }
        let _ = write!(d, " H{:.1}", scale.x(to));
        let _ = write!(
            out,
            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="2.5" stroke-linejoin="round" stroke-linecap="round"/>"#
        );
        for p in points {
            let title = format!("{team}: {} points at {}", p.points, clock.time(p.at_ms));
            let _ = write!(
                out,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}" stroke="#fff" stroke-width="1"><title>{}</title></circle>"##,
                scale.x(p.at_ms),
                y(p.points as f64),
                text::html(&title)
            );
        }
    }
    out.push_str("</svg>");
    Svg(out)
}

/// A duration axis from 0 to at least its longest value, in round steps (10 s to 4 h).
struct DurationAxis {
    step: u64,
    high: u64,
    left: f64,
    width: f64,
}

impl DurationAxis {
    /// An axis for values up to `longest` ms, drawn `width` px wide from `left`.
    fn new(longest: u64, left: f64, width: f64) -> Self {
        const STEPS: [u64; 12] = [
            10, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 14400,
        ];
        let longest = longest.max(1_000);
        let step = STEPS
            .iter()
            .map(|s| s * 1000)
            .find(|s| longest / s < 6)
            .unwrap_or(28_800_000);
        DurationAxis {
            step,
            high: longest.div_ceil(step) * step,
            left,
            width,
        }
    }

    fn x(&self, ms: u64) -> f64 {
        self.left + ms.min(self.high) as f64 / self.high as f64 * self.width
    }

    /// A chart's frame: its legend at the top, the grid from `top` to `bottom`, and in the
    /// middle, `empty` when there is nothing to show.
    fn frame(
        &self,
        out: &mut String,
        items: &[(String, String, Option<String>)],
        (top, bottom): (f64, f64),
        empty: Option<&str>,
    ) {
        legend(out, items, self.left, WIDTH - 8.0, 6.0);
        self.grid(out, top - 4.0, bottom);
        if let Some(note) = empty {
            nothing_yet(
                out,
                (self.left + self.width / 2.0, (top + bottom) / 2.0),
                note,
            );
        }
    }

    /// The chart's end: the axis line at its left edge, from `top` to `bottom`.
    fn finish(&self, mut out: String, (top, bottom): (f64, f64)) -> Svg {
        let _ = write!(
            out,
            r##"<line x1="{left:.1}" y1="{:.1}" x2="{left:.1}" y2="{bottom:.1}" stroke="#9aa1a9"/>"##,
            top - 4.0,
            left = self.left
        );
        out.push_str("</svg>");
        Svg(out)
    }

    /// Vertical grid lines from `top` to `bottom`, labelled under it (`0`, `5 min`, `30s`).
    fn grid(&self, out: &mut String, top: f64, bottom: f64) {
        let mut t = 0;
        while t <= self.high {
            let xx = self.x(t);
            let label = if t == 0 {
                "0".to_owned()
            } else if self.step.is_multiple_of(60_000) {
                format!("{} min", t / 60_000)
            } else {
                human_duration(t)
            };
            let _ = write!(
                out,
                r#"<line x1="{xx:.1}" y1="{top:.1}" x2="{xx:.1}" y2="{bottom:.1}" stroke="{GRID}"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle" fill="{MUTED}" font-size="11">{}</text>"#,
                bottom + 16.0,
                text::html(&label)
            );
            t += self.step;
        }
    }
}

/// One group of the duration chart: a label, a count, and the two medians.
pub struct Group {
    /// The team or scenario.
    pub label: String,
    /// A line under it, such as `3 incidents`.
    pub note: String,
    /// Time to detect.
    pub detect: Durations,
    /// Time to resolve.
    pub resolve: Durations,
}

/// Time to detect and to resolve (medians), as grouped horizontal bars: a group per team or
/// scenario, a bar per measure, the value at the end of each bar.
pub fn durations(title: &str, groups: &[Group]) -> Svg {
    let label_w = label_width(groups.iter().map(|g| (g.label.as_str(), g.note.as_str())));
    let (top, bar, gap, group_gap) = (34.0, 14.0, 4.0, 18.0);
    let group_h = 2.0 * bar + gap;
    let plot_h = groups.len().max(1) as f64 * (group_h + group_gap);
    let bottom = top + plot_h;
    let height = bottom + 30.0;
    let left = label_w + 8.0;
    let right_pad = 90.0;
    let plot_w = WIDTH - left - right_pad;

    let longest = groups
        .iter()
        .flat_map(|g| [g.detect.median_ms, g.resolve.median_ms])
        .flatten()
        .max()
        .unwrap_or(60_000)
        .max(1_000);
    let axis = DurationAxis::new(longest, left, plot_w);
    let x = |ms: u64| axis.x(ms);

    let mut out = String::new();
    open_svg(&mut out, WIDTH, height, title);
    let items = [
        (
            square(DETECT_COLOR, 1.0),
            "time to detect (median)".to_owned(),
            None,
        ),
        (
            square(RESOLVE_COLOR, 1.0),
            "time to resolve (median)".to_owned(),
            None,
        ),
    ];
    axis.frame(
        &mut out,
        &items,
        (top, bottom),
        groups.is_empty().then_some("nothing to show yet"),
    );
    for (i, g) in groups.iter().enumerate() {
        let gy = top + group_gap / 2.0 + i as f64 * (group_h + group_gap);
        row_label(&mut out, (&g.label, &g.note), left - 10.0, gy, label_w);
        for (j, (d, color, what)) in [
            (&g.detect, DETECT_COLOR, "time to detect"),
            (&g.resolve, RESOLVE_COLOR, "time to resolve"),
        ]
        .into_iter()
        .enumerate()
        {
            let by = gy + j as f64 * (bar + gap);
            match d.median_ms {
                Some(ms) => {
                    let w = (x(ms) - left).max(2.0);
                    let range = match (d.min_ms, d.max_ms) {
                        (Some(lo), Some(hi)) if d.count > 1 => {
                            format!(", from {} to {}", human_duration(lo), human_duration(hi))
                        }
                        _ => String::new(),
                    };
                    let title = format!(
                        "{}: {what}, median {} over {}{range}",
                        g.label,
                        human_duration(ms),
                        d.count
                    );
                    let _ = write!(
                        out,
                        r#"<g><title>{}</title><rect x="{left:.1}" y="{by:.1}" width="{w:.1}" height="{bar}" rx="2" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text></g>"#,
                        text::html(&title),
                        left + w + 6.0,
                        by + bar - 3.0,
                        text::html(&human_duration(ms))
                    );
                }
                None => {
                    let _ = write!(
                        out,
                        r#"<text x="{:.1}" y="{:.1}" font-size="11" fill="{MUTED}">— no {what}</text>"#,
                        left + 6.0,
                        by + bar - 3.0
                    );
                }
            }
        }
    }
    axis.finish(out, (top, bottom))
}

/// Where an incident's bar starts, is detected and ends.
fn bar_of(i: &IncidentFigures, as_of: i64) -> Option<(i64, Option<i64>, i64)> {
    let start = i.opened_ms.or(i.detected_ms)?;
    let end = i.closed_ms.unwrap_or(as_of).max(start);
    Some((start, i.detected_ms, end))
}

/// A bar of the incident chart: the incident, and where it starts, is detected and ends.
type Bar<'a> = (&'a IncidentFigures, (i64, Option<i64>, i64));

/// Every incident on a timeline: a lane per team (split in rows when incidents overlap), a
/// bar from opening to closing, pale until detected, colored by outcome.
pub fn gantt(report: &Report, teams: &[String], clock: &Clock) -> Svg {
    let (from, to) = time_span(report);
    let scale = TimeScale::new(from, to, LEFT, WIDTH - LEFT - RIGHT);
    let (row_h, bar_h, lane_pad) = (28.0, 16.0, 4.0);

    // Rows per team: an incident goes in the first row where it overlaps nothing.
    let gap_ms = ((to - from) / 150).max(1);
    let mut lanes: Vec<(&str, Vec<Vec<Bar<'_>>>)> = Vec::new();
    for team in teams {
        let mut rows: Vec<Vec<Bar<'_>>> = Vec::new();
        let mut mine: Vec<Bar<'_>> = report
            .incidents
            .iter()
            .filter(|i| i.team == *team)
            .filter_map(|i| bar_of(i, report.as_of_ms).map(|b| (i, b)))
            .collect();
        mine.sort_by_key(|(i, b)| (b.0, i.id));
        for item in mine {
            match rows
                .iter_mut()
                .find(|row| row.last().is_none_or(|(_, b)| b.2 + gap_ms <= item.1.0))
            {
                Some(row) => row.push(item),
                None => rows.push(vec![item]),
            }
        }
        if rows.is_empty() {
            rows.push(Vec::new());
        }
        lanes.push((team, rows));
    }

    let items = [
        (
            square(RESOLVED, 1.0),
            "resolved by the team".to_owned(),
            None,
        ),
        (square(RAN_OUT, 1.0), "ran out".to_owned(), None),
        (
            square(EXPIRED, 1.0),
            "expired or never detected".to_owned(),
            None,
        ),
        (square(CANCELLED, 1.0), "cancelled".to_owned(), None),
        (square(OPEN, 1.0), "in progress".to_owned(), None),
        (square("#7d8590", 0.32), "not yet detected".to_owned(), None),
        (
            format!(r#"<path d="M{{x}} {{y}} m3 2 h8 l-4 7z" fill="{INK}"/>"#),
            "detected".to_owned(),
            None,
        ),
    ];
    let legend_h = legend(&mut String::new(), &items, LEFT, WIDTH - RIGHT, 0.0);
    let top = 10.0 + legend_h + 8.0;
    let plot_h: f64 = lanes
        .iter()
        .map(|(_, rows)| rows.len() as f64 * row_h + 2.0 * lane_pad)
        .sum::<f64>()
        .max(row_h);
    let bottom = top + plot_h;
    let height = bottom + 30.0;

    let mut out = String::new();
    open_svg(&mut out, WIDTH, height, "Incidents over time, per team");
    out.push_str(PAUSED_PATTERN);
    legend(&mut out, &items, LEFT, WIDTH - RIGHT, 10.0);

    // Lanes.
    let mut y = top;
    for (index, (team, rows)) in lanes.iter().enumerate() {
        let h = rows.len() as f64 * row_h + 2.0 * lane_pad;
        if index % 2 == 0 {
            let _ = write!(
                out,
                r##"<rect x="0" y="{y:.1}" width="{WIDTH:.0}" height="{h:.1}" fill="#f6f8fa"/>"##
            );
        }
        let label = fit(team, (LEFT - 20.0) / 1.08, 12.0);
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-weight="600"><title>{}</title>{}</text>"#,
            LEFT - 12.0,
            y + h / 2.0 + 4.0,
            text::html(team),
            text::html(&label)
        );
        y += h;
    }
    scale.pauses(&mut out, report, clock, top, bottom);
    scale.axis(&mut out, clock, top, bottom);
    if report.incidents.is_empty() {
        nothing_yet(
            &mut out,
            (
                LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
                top + plot_h / 2.0 + 4.0,
            ),
            "no incident to show yet",
        );
    }

    // Bars.
    let mut y = top;
    for (team, rows) in &lanes {
        let h = rows.len() as f64 * row_h + 2.0 * lane_pad;
        for (r, row) in rows.iter().enumerate() {
            let by = y + lane_pad + r as f64 * row_h + (row_h - bar_h) / 2.0 + 2.0;
            for (k, (i, (start, detected, end))) in row.iter().enumerate() {
                let next = row
                    .get(k + 1)
                    .map_or(WIDTH - 4.0, |(_, b)| scale.x(b.0) - 4.0);
                bar(
                    &mut out,
                    clock,
                    team,
                    i,
                    (*start, *detected, *end),
                    &scale,
                    by,
                    bar_h,
                    next,
                );
            }
        }
        y += h;
    }
    let _ = write!(
        out,
        r##"<line x1="{LEFT:.1}" y1="{top:.1}" x2="{LEFT:.1}" y2="{bottom:.1}" stroke="#9aa1a9"/>"##
    );
    out.push_str("</svg>");
    Svg(out)
}

/// One incident's bar at `by`, its label inside, or after it when there is room before
/// `next`.
#[allow(clippy::too_many_arguments)]
fn bar(
    out: &mut String,
    clock: &Clock,
    team: &str,
    i: &IncidentFigures,
    (start, detected, end): (i64, Option<i64>, i64),
    scale: &TimeScale,
    by: f64,
    bar_h: f64,
    next: f64,
) {
    let color = outcome_color(i.outcome);
    let x0 = scale.x(start);
    let x1 = scale.x(end).max(x0 + 3.0);
    let xd = detected.map(|d| scale.x(d).clamp(x0, x1));
    let name = match &i.scenario {
        Some(s) => format!("{} {s}", i.id),
        None => i.id.to_string(),
    };
    let mut title = format!("{name} ({team}): {}", text::state(i));
    if let Some(o) = i.opened_ms {
        let _ = write!(title, "; opened {}", clock.time(o));
    }
    if let Some(d) = i.detected_ms {
        let _ = write!(title, "; detected {}", clock.time(d));
    }
    if let Some(c) = i.closed_ms {
        let _ = write!(title, "; closed {}", clock.time(c));
    }
    if let Some(points) = i.points_total {
        let _ = write!(title, "; {points} points");
    }
    let _ = write!(out, "<g><title>{}</title>", text::html(&title));
    // Pale until detected (all of it if never), full color after.
    let pale_end = xd.unwrap_or(x1);
    if pale_end > x0 {
        let _ = write!(
            out,
            r#"<rect x="{x0:.1}" y="{by:.1}" width="{:.1}" height="{bar_h}" rx="3" fill="{color}" fill-opacity="0.32"/>"#,
            pale_end - x0
        );
    }
    if let Some(xd) = xd
        && x1 > xd
    {
        let _ = write!(
            out,
            r#"<rect x="{xd:.1}" y="{by:.1}" width="{:.1}" height="{bar_h}" rx="3" fill="{color}"/>"#,
            x1 - xd
        );
    }
    if i.closed_ms.is_none() {
        // Still open: an arrow head at now.
        let _ = write!(
            out,
            r#"<path d="M{x1:.1} {by:.1} l6 {:.1} -6 {:.1}z" fill="{color}"/>"#,
            bar_h / 2.0,
            bar_h / 2.0
        );
    }
    if let Some(xd) = xd {
        // The detection: a small triangle above the bar.
        let _ = write!(
            out,
            r#"<path d="M{:.1} {:.1} h8 l-4 7z" fill="{INK}"/>"#,
            xd - 4.0,
            by - 8.0
        );
    }
    // The label: inside the bar if it fits, else after it if there is room, else only in
    // the tooltip.
    let fits = |label: &str, room: f64| text_width(label, 11.0) <= room;
    let inside = x1 - x0 - 8.0;
    let after = next - x1 - 8.0;
    let placed = [name.as_str(), &i.id.to_string()]
        .into_iter()
        .find_map(|label| {
            if fits(label, inside) {
                Some((label.to_owned(), x0 + 5.0, true))
            } else if fits(label, after) {
                Some((label.to_owned(), x1 + 6.0, false))
            } else {
                None
            }
        });
    if let Some((label, lx, inside)) = placed {
        let lw = text_width(&label, 11.0);
        // White on the full color, ink on the pale part, ink with a white halo across both.
        let style = match xd {
            Some(xd) if inside && xd <= lx => r##"fill="#fff""##,
            Some(xd) if inside && xd < lx + lw => {
                r##"fill="#1f2328" stroke="#fff" stroke-width="3" stroke-linejoin="round" paint-order="stroke""##
            }
            _ => r##"fill="#1f2328""##,
        };
        let _ = write!(
            out,
            r#"<text x="{lx:.1}" y="{:.1}" font-size="11" {style}>{}</text>"#,
            by + bar_h - 4.0,
            text::html(&label)
        );
    }
    out.push_str("</g>");
}
