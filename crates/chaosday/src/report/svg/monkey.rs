//! A Chaos Monkey's charts: what became of each group's planned faults day by day (a lane
//! per group, a stacked column per day), and how long each group took to recover after a
//! fault (every recovery a dot, the median a bar). Built from plain counts and durations:
//! the report's `monkey` module works them out from the monkey's history.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chaosday_domain::report::human_duration;

use super::{
    DurationAxis, EXPIRED, INK, LEFT, MUTED, RESOLVE_COLOR, RIGHT, Svg, WIDTH, label_width, legend,
    legend_height, nothing_yet, open_svg, row_label, square, text, text_width,
};

/// A fault injected.
const INJECTED: &str = "#4e79a7";
/// A fault decided while leashed: nothing was touched.
const LEASHED: &str = "#76b7b2";
/// A fault that could not be injected.
const FAILED: &str = EXPIRED;
/// A fault skipped.
const SKIPPED: &str = "#bab0ac";
/// A fault still to come (an outline).
const TO_COME: &str = "#8c8c8c";

/// What became of one group's planned faults on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayCounts {
    /// Injected (the monkey unleashed).
    pub injected: u64,
    /// Decided while leashed: nothing was touched.
    pub leashed: u64,
    /// Could not be injected.
    pub failed: u64,
    /// Skipped, by reason (`owner`, `outage`, …).
    pub skipped: BTreeMap<String, u64>,
    /// Still to come.
    pub planned: u64,
}

impl DayCounts {
    /// The faults skipped, whatever the reason.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Every fault of the day.
    pub fn total(&self) -> u64 {
        self.injected + self.leashed + self.failed + self.skipped_total() + self.planned
    }

    /// `2 injected, 1 skipped (1 owner)`.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (n, what) in [
            (self.injected, "injected"),
            (self.leashed, "decided while leashed"),
            (self.failed, "failed"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        if self.skipped_total() > 0 {
            let reasons: Vec<String> = self
                .skipped
                .iter()
                .map(|(reason, n)| format!("{n} {}", reason.replace('_', " ")))
                .collect();
            parts.push(format!(
                "{} skipped ({})",
                self.skipped_total(),
                reasons.join(", ")
            ));
        }
        if self.planned > 0 {
            parts.push(format!("{} still to come", self.planned));
        }
        parts.join(", ")
    }
}

/// One group's lane: its counts per day, in the chart's order of days.
#[derive(Debug, Clone)]
pub struct DayLane {
    /// The group.
    pub group: String,
    /// One per day of the chart.
    pub days: Vec<DayCounts>,
}

/// The faults of each group per day: a lane per group, a column per day stacked from the
/// bottom by fate (injected, leashed, failed, skipped, still to come), every lane on the
/// same scale.
pub fn faults_per_day(days: &[String], lanes: &[DayLane]) -> Svg {
    let outline = format!(
        r#"<rect x="{{x}}" y="{{y}}" width="13" height="13" rx="3" fill="none" stroke="{TO_COME}" stroke-dasharray="3 2" transform="translate(0.5 0.5)"/>"#
    );
    let mut items: Vec<(String, String, Option<String>)> = [
        (INJECTED, "injected"),
        (LEASHED, "decided while leashed (nothing touched)"),
        (FAILED, "failed"),
        (SKIPPED, "skipped"),
    ]
    .into_iter()
    .map(|(color, label)| (square(color, 1.0), label.to_owned(), None))
    .collect();
    items.push((outline, "still to come".to_owned(), None));
    let legend_h = legend_height(&items, LEFT, WIDTH - RIGHT);
    let top = 10.0 + legend_h + 8.0;
    let (lane_h, pad) = (56.0, 8.0);
    let lane_total = lane_h + 2.0 * pad;
    let plot_h = lanes.len().max(1) as f64 * lane_total;
    let bottom = top + plot_h;
    let height = bottom + 30.0;
    let plot_w = WIDTH - LEFT - RIGHT;
    let most = lanes
        .iter()
        .flat_map(|lane| lane.days.iter().map(DayCounts::total))
        .max()
        .unwrap_or(0)
        .max(1);
    let unit = lane_h / most as f64;
    let slot = plot_w / days.len().max(1) as f64;
    let bar_w = (slot * 0.7).clamp(1.0, 36.0);

    let mut out = String::new();
    open_svg(&mut out, WIDTH, height, "Faults per day, per group");
    legend(&mut out, &items, LEFT, WIDTH - RIGHT, 10.0);
    if lanes.is_empty() || days.is_empty() {
        nothing_yet(
            &mut out,
            (LEFT + plot_w / 2.0, top + plot_h / 2.0 + 4.0),
            "no day planned yet",
        );
    }
    for (i, lane) in lanes.iter().enumerate() {
        let y0 = top + i as f64 * lane_total;
        let base = y0 + pad + lane_h;
        if i % 2 == 0 {
            let _ = write!(
                out,
                r##"<rect x="0" y="{y0:.1}" width="{WIDTH:.0}" height="{lane_total:.1}" fill="#f6f8fa"/>"##
            );
        }
        let planned: u64 = lane.days.iter().map(DayCounts::total).sum();
        row_label(
            &mut out,
            (&lane.group, &format!("{planned} planned")),
            LEFT - 12.0,
            y0 + lane_total / 2.0 - 15.0,
            LEFT - 4.0,
        );
        // The lane's scale: its baseline, and a line at the most faults of any day.
        let _ = write!(
            out,
            r##"<line x1="{LEFT:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#c8ccd1" stroke-dasharray="2 3"/><text x="{:.1}" y="{:.1}" fill="{MUTED}" font-size="10">{most}</text><line x1="{LEFT:.1}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}" stroke="#9aa1a9"/>"##,
            base - lane_h,
            WIDTH - RIGHT,
            base - lane_h,
            WIDTH - RIGHT + 4.0,
            base - lane_h + 3.5,
            WIDTH - RIGHT
        );
        for (d, counts) in lane.days.iter().enumerate() {
            if counts.total() == 0 {
                continue;
            }
            let day = days.get(d).map_or("", String::as_str);
            let x = LEFT + d as f64 * slot + (slot - bar_w) / 2.0;
            let _ = write!(
                out,
                "<g><title>{}</title>",
                text::html(&format!("{} · {day}: {}", lane.group, counts.describe()))
            );
            let mut level = base;
            for (n, color) in [
                (counts.injected, INJECTED),
                (counts.leashed, LEASHED),
                (counts.failed, FAILED),
                (counts.skipped_total(), SKIPPED),
            ] {
                if n == 0 {
                    continue;
                }
                let h = n as f64 * unit;
                let _ = write!(
                    out,
                    r##"<rect x="{x:.1}" y="{:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{color}" stroke="#fff" stroke-width="0.75"/>"##,
                    level - h
                );
                level -= h;
            }
            if counts.planned > 0 {
                let h = counts.planned as f64 * unit;
                let _ = write!(
                    out,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="{TO_COME}" stroke-dasharray="3 2"/>"#,
                    x + 0.5,
                    level - h + 0.5,
                    (bar_w - 1.0).max(0.5),
                    (h - 1.0).max(0.5)
                );
            }
            out.push_str("</g>");
        }
    }
    // The days under the last lane, as many as fit.
    let every = ((days.len() as f64 * 46.0 / plot_w).ceil() as usize).max(1);
    for (d, day) in days.iter().enumerate().step_by(every) {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{MUTED}" font-size="11"><title>{}</title>{}</text>"#,
            LEFT + (d as f64 + 0.5) * slot,
            bottom + 16.0,
            text::html(day),
            text::html(day.get(5..).unwrap_or(day))
        );
    }
    out.push_str("</svg>");
    Svg(out)
}

/// One group's recoveries: from the end of each of its faults to its probes all green again.
#[derive(Debug, Clone)]
pub struct RecoveryRow {
    /// The group.
    pub group: String,
    /// Each recovery, in milliseconds.
    pub recoveries_ms: Vec<u64>,
    /// Their median.
    pub median_ms: Option<u64>,
    /// Faults after which the probes stayed red while the monkey watched.
    pub not_recovered: u64,
}

/// Time to recover per group: a bar to the median, a dot per recovery, the median and the
/// slowest in words right of the plot, and under them the faults not recovered from, in red.
pub fn time_to_recover(rows: &[RecoveryRow]) -> Svg {
    let notes: Vec<String> = rows
        .iter()
        .map(|r| match r.recoveries_ms.len() {
            0 => "none timed".to_owned(),
            1 => "1 recovery".to_owned(),
            n => format!("{n} recoveries"),
        })
        .collect();
    // The median and the slowest in words, right of the plot.
    let words: Vec<String> = rows
        .iter()
        .map(|r| match (r.median_ms, r.recoveries_ms.iter().max()) {
            (Some(median), Some(slowest)) if r.recoveries_ms.len() > 1 => format!(
                "median {} · slowest {}",
                human_duration(median),
                human_duration(*slowest)
            ),
            (Some(median), _) => human_duration(median),
            _ => "no recovery timed".to_owned(),
        })
        .collect();
    let label_w = label_width(
        rows.iter()
            .zip(&notes)
            .map(|(r, note)| (r.group.as_str(), note.as_str())),
    );
    let (top, row_h, bar) = (34.0, 40.0, 14.0);
    let plot_h = rows.len().max(1) as f64 * row_h;
    let bottom = top + plot_h;
    let height = bottom + 30.0;
    let left = label_w + 8.0;
    // Digits are wider than `text_width` guesses.
    let right_pad = words
        .iter()
        .map(|w| text_width(w, 11.0) * 1.15)
        .fold(110.0, f64::max)
        + 28.0;
    let plot_w = WIDTH - left - right_pad;
    let words_x = left + plot_w + 16.0;
    let longest = rows
        .iter()
        .flat_map(|r| r.recoveries_ms.iter().copied())
        .max()
        .unwrap_or(60_000);
    let axis = DurationAxis::new(longest, left, plot_w);

    let mut out = String::new();
    open_svg(&mut out, WIDTH, height, "Time to recover, per group");
    let items = [
        (square(RESOLVE_COLOR, 1.0), "median".to_owned(), None),
        (
            format!(
                r##"<circle cx="{{x}}" cy="{{y}}" r="4.5" transform="translate(7 7)" fill="{INK}" fill-opacity="0.6" stroke="#fff"/>"##
            ),
            "one recovery".to_owned(),
            None,
        ),
    ];
    axis.frame(
        &mut out,
        &items,
        (top, bottom),
        rows.is_empty().then_some("no fault has ended yet"),
    );
    for (i, ((row, note), words)) in rows.iter().zip(&notes).zip(&words).enumerate() {
        let gy = top + 6.0 + i as f64 * row_h;
        row_label(&mut out, (&row.group, note), left - 10.0, gy, label_w);
        let by = gy + 3.0;
        let mid = by + bar / 2.0;
        if let Some(median) = row.median_ms {
            let w = (axis.x(median) - left).max(2.0);
            let _ = write!(
                out,
                r#"<g><title>{}</title><rect x="{left:.1}" y="{by:.1}" width="{w:.1}" height="{bar}" rx="2" fill="{RESOLVE_COLOR}" fill-opacity="0.85"/></g>"#,
                text::html(&format!(
                    "{}: median time to recover {} over {}",
                    row.group,
                    human_duration(median),
                    row.recoveries_ms.len()
                ))
            );
        }
        for (k, ms) in row.recoveries_ms.iter().enumerate() {
            let cx = axis.x(*ms);
            // A small vertical spread, so that equal times stay apart.
            let cy = mid + ((k % 3) as f64 - 1.0) * 3.0;
            let _ = write!(
                out,
                r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="4.5" fill="{INK}" fill-opacity="0.6" stroke="#fff" stroke-width="1"><title>{}</title></circle>"##,
                text::html(&format!(
                    "{}: recovered after {}",
                    row.group,
                    human_duration(*ms)
                ))
            );
        }
        // In words, in a column of their own right of the plot.
        let fill = if row.median_ms.is_some() { INK } else { MUTED };
        let _ = write!(
            out,
            r#"<text x="{words_x:.1}" y="{:.1}" font-size="11" fill="{fill}">{}</text>"#,
            by + 10.0,
            text::html(words)
        );
        if row.not_recovered > 0 {
            let _ = write!(
                out,
                r#"<text x="{words_x:.1}" y="{:.1}" font-size="11" fill="{EXPIRED}" font-weight="600">{} not recovered</text>"#,
                by + 24.0,
                row.not_recovered
            );
        }
    }
    axis.finish(out, (top, bottom))
}
