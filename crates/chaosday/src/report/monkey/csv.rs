//! The monkey's history as CSV: one row per planned fault, in plan order, RFC 4180 (as the
//! game report's CSV: a header row, CRLF line ends, quoting where a field needs it). A value
//! that does not exist (yet) is empty.
//!
//! | column | what |
//! | --- | --- |
//! | `id` | the planned fault, `YYYYMMDD-GROUP-N` (what `chaosday monkey skip` takes) |
//! | `day` | the day of its plan, `YYYY-MM-DD` in the monkey's time zone |
//! | `at` | when it was due, RFC 3339 in UTC |
//! | `group` | its group |
//! | `targets` | what it hit (`target`, or `target/container` for a label target), `;`-separated; for one not injected, what it was to hit |
//! | `kind` | the fault's kind (`kill`, `latency`, …) |
//! | `lasts_ms` | how long it was to last, in milliseconds |
//! | `status` | `planned`, `skipped`, `active`, `ended` or `failed` |
//! | `leashed` | `true` when it was decided while leashed (nothing was touched) |
//! | `skipped_reason` | `owner`, `outage`, `guard`, `kill_switch`, `busy`, `no_target`, `opted_out` or `missed` |
//! | `end_cause` | `timer`, `guard`, `kill_switch`, `shutdown`, `restarted` or `elsewhere` |
//! | `injected_at`, `ended_at` | RFC 3339 in UTC |
//! | `recovered_after_ms` | from its end to its group's probes all green again, in milliseconds |
//! | `not_recovered` | `true` when the probes were still red when the monkey stopped watching |
//! | `fate` | in words, with the details (an owner's reason, a guard's, an error) |

use chaosday_domain::monkey::events::{RevertCause, SkipReason};
use chaosday_domain::monkey::history::Entry;

use super::{MonkeyReport, targets};
use crate::report::csv::write;
use crate::report::text::rfc3339;

/// The columns, in order.
pub const COLUMNS: &[&str] = &[
    "id",
    "day",
    "at",
    "group",
    "targets",
    "kind",
    "lasts_ms",
    "status",
    "leashed",
    "skipped_reason",
    "end_cause",
    "injected_at",
    "ended_at",
    "recovered_after_ms",
    "not_recovered",
    "fate",
];

fn row(entry: &Entry) -> Vec<String> {
    let time = |ms: Option<i64>| ms.map(rfc3339).unwrap_or_default();
    vec![
        entry.planned.id.clone(),
        entry.day.clone(),
        rfc3339(entry.planned.at_ms),
        entry.planned.group.clone(),
        targets(entry).join(";"),
        entry.planned.fault.kind().to_owned(),
        entry.planned.lasts_ms.to_string(),
        entry.status.as_str().to_owned(),
        entry.leashed.to_string(),
        entry
            .skipped
            .as_ref()
            .map_or("", SkipReason::name)
            .to_owned(),
        entry.end.as_ref().map_or("", RevertCause::name).to_owned(),
        time(entry.injected_ms),
        time(entry.ended_ms),
        entry
            .recovered_after_ms
            .map(|ms| ms.to_string())
            .unwrap_or_default(),
        entry.not_recovered.to_string(),
        entry.describe(),
    ]
}

/// The whole document.
pub fn document(report: &MonkeyReport) -> String {
    write(COLUMNS, report.history.entries.iter().map(row))
}
