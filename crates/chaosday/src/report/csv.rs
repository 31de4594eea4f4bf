//! The report as CSV: one row per incident the viewer may know of, RFC 4180 (a header row,
//! CRLF line ends, a field quoted when it holds a comma, a quote or a line break, quotes
//! doubled). A value the viewer may not know, or that does not exist yet, is empty.
//!
//! | column | what |
//! | --- | --- |
//! | `id` | the incident's number |
//! | `team` | the team it was against |
//! | `scenario` | the scenario's name |
//! | `difficulty` | 1 to 5 |
//! | `resolution` | `fix`, `diagnose`, `timed` or `manual` |
//! | `state` | `open`, `detected`, `diagnosed`, `resolved`, `expired` or `cancelled` |
//! | `opened_at`, `detected_at`, `closed_at` | RFC 3339 times in UTC |
//! | `time_to_detect_s`, `time_to_resolve_s` | seconds of running game time (pauses left out) |
//! | `detected_by` | `declaration` or `alert` |
//! | `diagnosis_tries`, `wrong_diagnoses` | diagnoses submitted, and how many were wrong |
//! | `hints_bought` | hints the team bought |
//! | `points_detect`, `points_diagnose`, `points_resolve`, `points_hints`, `points_total` | points it earned or cost the team |
//! | `closed_reason` | why it closed, for people |

use chaosday_domain::report::{IncidentFigures, Report};

use super::text;

/// The columns, in order.
pub const COLUMNS: &[&str] = &[
    "id",
    "team",
    "scenario",
    "difficulty",
    "resolution",
    "state",
    "outcome",
    "opened_at",
    "detected_at",
    "closed_at",
    "time_to_detect_s",
    "time_to_resolve_s",
    "detected_by",
    "diagnosis_tries",
    "wrong_diagnoses",
    "hints_bought",
    "points_detect",
    "points_diagnose",
    "points_resolve",
    "points_hints",
    "points_total",
    "closed_reason",
];

/// One field, quoted when RFC 4180 asks for it.
fn field(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// Milliseconds as seconds: `120`, `0.25`.
fn seconds(ms: u64) -> String {
    match ms % 1000 {
        0 => (ms / 1000).to_string(),
        rest => format!("{}.{:03}", ms / 1000, rest)
            .trim_end_matches('0')
            .to_owned(),
    }
}

fn row(i: &IncidentFigures) -> Vec<String> {
    let opt = |v: Option<String>| v.unwrap_or_default();
    vec![
        i.id.0.to_string(),
        i.team.clone(),
        opt(i.scenario.clone()),
        opt(i.difficulty.map(|d| d.to_string())),
        opt(i.resolution.map(|r| r.to_string())),
        i.state.as_str().to_owned(),
        opt(i.outcome.map(|o| o.as_str().to_owned())),
        opt(i.opened_ms.map(text::rfc3339)),
        opt(i.detected_ms.map(text::rfc3339)),
        opt(i.closed_ms.map(text::rfc3339)),
        opt(i.time_to_detect_ms.map(seconds)),
        opt(i.time_to_resolve_ms.map(seconds)),
        opt(i.detection.as_ref().map(|d| d.how.as_str().to_owned())),
        opt(i.diagnoses.as_ref().map(|d| d.len().to_string())),
        opt(i
            .diagnoses
            .as_ref()
            .map(|d| d.iter().filter(|t| !t.correct).count().to_string())),
        i.hints_bought.to_string(),
        opt(i.points.map(|p| p.detect.to_string())),
        opt(i.points.map(|p| p.diagnose.to_string())),
        opt(i.points.map(|p| p.resolve.to_string())),
        opt(i.points.map(|p| p.hints.to_string())),
        opt(i.points_total.map(|p| p.to_string())),
        opt(i.closed_reason.clone()),
    ]
}

/// The whole document.
pub fn document(report: &Report) -> String {
    write(COLUMNS, report.incidents.iter().map(row))
}

/// A document: the header row `columns`, then `rows`, each field quoted as it must be.
pub(super) fn write(columns: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut out = String::new();
    let mut line = |fields: Vec<String>| {
        let fields: Vec<String> = fields.iter().map(|f| field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    };
    line(columns.iter().map(|c| (*c).to_owned()).collect());
    for fields in rows {
        line(fields);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field(""), "");
    }

    #[test]
    fn seconds_keep_milliseconds_only_when_there_are_some() {
        assert_eq!(seconds(120_000), "120");
        assert_eq!(seconds(250), "0.25");
        assert_eq!(seconds(1_001), "1.001");
    }
}
