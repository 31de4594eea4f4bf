//! Rendering the postmortem of a game: one self-contained HTML page with hand-written SVG
//! charts, Markdown with a postmortem draft per incident, JSON with every figure, and CSV
//! with one row per incident.
//!
//! The figures come from [`chaosday_domain::report::build`], a pure projection of the event
//! log for one viewer; this module only turns them into text. Every piece of text that
//! comes from a game (names, reasons, descriptions) is escaped for its format.
//!
//! Two entries: [`html_page`], which the web UI serves during and after a game (what each
//! viewer may see is decided by the domain's secrecy rules), and [`render`], which
//! `chaosday report` uses for every format.

mod csv;
mod html;
mod md;
mod svg;
mod text;

#[cfg(test)]
mod tests;

use chaosday_domain::events::Event;
use chaosday_domain::report::{self as figures, Report};
use chaosday_domain::scoring::ScoringRules;
use chaosday_domain::secrecy::Viewer;
use serde::Serialize;

pub use text::Clock;

/// A report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One HTML page with SVG charts, no JavaScript, printable.
    Html,
    /// Markdown, with tables and a postmortem draft per incident.
    Markdown,
    /// Every figure and the timeline, as one JSON document.
    Json,
    /// One row per incident, RFC 4180.
    Csv,
}

/// The version of the JSON document's shape (`"version"`); it changes only when a field
/// is renamed or removed.
pub const JSON_VERSION: u32 = 1;

/// The JSON document: the report's figures, with what names them.
#[derive(Serialize)]
struct JsonReport<'a> {
    format: &'static str,
    version: u32,
    game: &'a str,
    generated_by: String,
    #[serde(flatten)]
    report: &'a Report,
}

/// `report` of the game `game` as text in `format`, with times shown on `clock`.
pub fn render(format: Format, game: &str, report: &Report, clock: &Clock) -> String {
    match format {
        Format::Html => html::page(game, report, clock),
        Format::Markdown => md::document(game, report, clock),
        Format::Csv => csv::document(report),
        Format::Json => {
            let doc = JsonReport {
                format: "chaosday-report",
                version: JSON_VERSION,
                game,
                generated_by: generator(),
                report,
            };
            let mut out = serde_json::to_string_pretty(&doc)
                .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialise the report: {e}\"}}"));
            out.push('\n');
            out
        }
    }
}

/// The report page of the game `game` as `viewer` may see it, now: one self-contained HTML
/// document (inline CSS and SVG, no JavaScript, printable). During a game, a spectator or
/// a team sees only what the secrecy rules allow (no undetected incident, no ground truth
/// before its incident closes); the game master sees everything. Times are shown in this
/// host's time zone.
pub fn html_page(rules: &ScoringRules, events: &[Event], viewer: &Viewer, game: &str) -> String {
    let now = jiff::Timestamp::now().as_millisecond();
    let report = figures::build(rules, events, viewer, Some(now));
    html::page(game, &report, &Clock::system())
}

/// `chaosday VERSION`.
fn generator() -> String {
    format!("chaosday {}", env!("CARGO_PKG_VERSION"))
}
