//! Durations as files and flags spell them: `30m`, `250ms`, `1h30m`, `1h 30m`, `2s`.
//!
//! Reading and printing go through jiff's "friendly" format
//! ([`jiff::fmt::friendly`]). Days and weeks count 24 hours and 7 days; months and years count
//! 30.44 and 365.25 days (as humantime, which wrote chaosday's earlier files and logs, did).
//! A negative duration (`-5m`, `5m ago`) is refused: every duration chaosday reads says how
//! long something lasts or waits.

use std::fmt;
use std::time::Duration;

use jiff::fmt::friendly::{SpanParser, SpanPrinter};
use jiff::{Span, SpanRelativeTo};
use serde::{Deserializer, Serializer};

static PARSER: SpanParser = SpanParser::new();
static PRINTER: SpanPrinter = SpanPrinter::new();
static COMPACT: SpanPrinter = SpanPrinter::new().spacing(jiff::fmt::friendly::Spacing::None);

/// Seconds in a month and in a year, as humantime counted them.
const MONTH_SECS: u64 = 2_630_016;
const YEAR_SECS: u64 = 31_557_600;

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a duration at all.
    #[error("`{text}` is not a duration ({reason}); write a duration such as 30s, 5m or 250ms")]
    Invalid {
        /// What was written.
        text: String,
        /// Why the parser refused it.
        reason: String,
    },
    /// A duration below zero.
    #[error("`{text}` is negative; write how long, such as 30s, 5m or 250ms")]
    Negative {
        /// What was written.
        text: String,
    },
    /// More than chaosday can count.
    #[error("`{text}` is too long a duration")]
    TooLong {
        /// What was written.
        text: String,
    },
}

/// Reads a duration written the friendly way (`30m`, `250ms`, `1h30m`, `1.5h`, `2 days`),
/// refusing negative ones.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    let span: Span = PARSER
        .parse_span(trimmed)
        .map_err(|e| DurationError::Invalid {
            text: text.to_owned(),
            reason: reason(&e),
        })?;
    if span.is_negative() {
        return Err(DurationError::Negative {
            text: text.to_owned(),
        });
    }
    let too_long = || DurationError::TooLong {
        text: text.to_owned(),
    };
    // Years and months have no fixed length in jiff; count them as humantime did.
    let calendar_secs = u64::try_from(span.get_years())
        .ok()
        .and_then(|y| y.checked_mul(YEAR_SECS))
        .zip(
            u64::try_from(span.get_months())
                .ok()
                .and_then(|m| m.checked_mul(MONTH_SECS)),
        )
        .and_then(|(y, m)| y.checked_add(m))
        .ok_or_else(too_long)?;
    let rest = span
        .years(0)
        .months(0)
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|_| too_long())?;
    let rest = Duration::try_from(rest).map_err(|_| too_long())?;
    rest.checked_add(Duration::from_secs(calendar_secs))
        .ok_or_else(too_long)
}

/// jiff's reason, without its preamble (the caller says what was being read).
fn reason(e: &jiff::Error) -> String {
    let text = e.to_string();
    text.strip_prefix("failed to parse input in the \"friendly\" duration format: ")
        .map(str::to_owned)
        .unwrap_or(text)
}

/// A duration printed the friendly way: `30m`, `250ms`, `1h 30m`, `0s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&PRINTER.unsigned_duration_to_string(&self.0))
    }
}

/// `duration` printed the friendly way: `30m`, `250ms`, `1h 30m`.
pub fn human(duration: Duration) -> Human {
    Human(duration)
}

/// `duration` printed the friendly way without spaces: `1h30m`.
pub fn compact(duration: Duration) -> String {
    COMPACT.unsigned_duration_to_string(&duration)
}

/// `#[serde(with = "crate::duration::serde_human")]`: a `Duration` as a friendly string.
pub mod serde_human {
    use super::*;

    /// Writes the duration as `1h 30m`.
    pub fn serialize<S: Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&Human(*duration))
    }

    /// Reads a friendly duration, refusing negative ones.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_str(Friendly)
    }
}

/// Parses inside the visitor, so that a format's error points at the value itself (its line,
/// column and field path).
struct Friendly;

impl serde::de::Visitor<'_> for Friendly {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 30s, 5m or 250ms")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).map_err(E::custom)
    }
}

/// The optional form of [`Friendly`].
struct MaybeFriendly;

impl<'de> serde::de::Visitor<'de> for MaybeFriendly {
    type Value = Option<Duration>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 30s, 5m or 250ms")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(Friendly).map(Some)
    }
}

/// `#[serde(with = "crate::duration::serde_human_option")]`: an optional friendly duration.
pub mod serde_human_option {
    use super::*;

    /// Writes the duration as `1h 30m`, or nothing.
    pub fn serialize<S: Serializer>(duration: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match duration {
            Some(duration) => s.serialize_some(&Human(*duration).to_string()),
            None => s.serialize_none(),
        }
    }

    /// Reads an optional friendly duration, refusing negative ones.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        d.deserialize_option(MaybeFriendly)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_files_and_flags_write() {
        let cases = [
            ("30m", 30 * 60_000),
            ("250ms", 250),
            ("1h30m", 90 * 60_000),
            ("1h 30m", 90 * 60_000),
            ("2s", 2_000),
            ("1.5h", 90 * 60_000),
            ("0s", 0),
            (" 5m ", 5 * 60_000),
            ("2 days", 2 * 86_400_000),
            ("1w", 7 * 86_400_000),
            ("2days 3h", (2 * 86_400 + 3 * 3_600) * 1_000),
            ("1month", MONTH_SECS as u128 * 1_000),
            ("1y", YEAR_SECS as u128 * 1_000),
        ];
        for (text, millis) in cases {
            assert_eq!(parse(text).unwrap().as_millis(), millis, "{text}");
        }
        assert_eq!(parse("10us").unwrap(), Duration::from_micros(10));
    }

    #[test]
    fn refuses_negative_and_malformed_durations() {
        for negative in ["-1s", "5m ago", "-0.5h"] {
            assert!(
                matches!(parse(negative), Err(DurationError::Negative { .. })),
                "{negative}"
            );
        }
        for bad in ["", "30", "5 parsecs", "m5", "soon"] {
            let e = parse(bad).unwrap_err();
            assert!(matches!(e, DurationError::Invalid { .. }), "{bad}");
            assert!(
                e.to_string().contains("write a duration such as 30s"),
                "{e}"
            );
        }
    }

    #[test]
    fn prints_the_friendly_way_and_reads_it_back() {
        for (millis, text) in [
            (30 * 60_000, "30m"),
            (250, "250ms"),
            (90 * 60_000, "1h 30m"),
            (2_000, "2s"),
            (0, "0s"),
        ] {
            let duration = Duration::from_millis(millis);
            assert_eq!(human(duration).to_string(), text);
            assert_eq!(parse(text).unwrap(), duration);
        }
        assert_eq!(compact(Duration::from_secs(5400)), "1h30m");
    }
}
