//! Rendering the postmortem of a game: one self-contained HTML page with hand-written SVG
//! charts, Markdown with a postmortem draft per incident, JSON with every figure, and CSV
//! with one row per incident.
//!
//! The figures come from [`chaosday_domain::report::build`], a pure projection of the event
//! log for one viewer; this module only turns them into text. Every piece of text that
//! comes from a game (names, reasons, descriptions) is escaped for its format.
//!
//! One entry, [`render`]: `chaosday report` uses it for every format, and the web UI for
//! the report page it serves during and after a game (the game server builds the figures as
//! the viewer may see them).

mod csv;
pub mod html;
mod md;
pub mod monkey;
mod svg;
mod text;

#[cfg(test)]
mod tests;

use chaosday_domain::report::Report;
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

/// `chaosday VERSION`.
fn generator() -> String {
    format!("chaosday {}", env!("CARGO_PKG_VERSION"))
}
