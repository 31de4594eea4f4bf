//! The game file's JSON Schema, generated from the types with `schemars`, and the schemas of
//! the values whose spelling in files is not their Rust shape (durations, times).
//!
//! The schema is committed at `schemas/game.schema.json`; a test fails when the types and the
//! committed file disagree, and says how to refresh it.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::Value;

use super::Game;

/// The command that prints the schema, as the drift test tells it.
pub const REFRESH_COMMAND: &str = "cargo run -p chaosday -- schema game > schemas/game.schema.json";

/// The game file's JSON Schema (draft 2020-12), pretty-printed, with a final newline: exactly
/// the text of `schemas/game.schema.json`.
pub fn game_schema_text() -> String {
    let schema = SchemaSettings::draft2020_12()
        .with_transform(RecursiveTransform(without_null))
        .into_generator()
        .into_root_schema_for::<Game>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Takes `null` out of optional fields: files leave a field out rather than write `null`.
pub(crate) fn without_null(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            object.insert("type".to_owned(), only);
        }
    }
    let null = serde_json::json!({ "type": "null" });
    if let Some(Value::Array(any)) = object.get("anyOf")
        && any.len() == 2
        && any[1] == null
        && let Value::Object(first) = any[0].clone()
    {
        object.remove("anyOf");
        object.extend(first);
    }
}

/// The schema of a duration as [`crate::duration::parse`] reads it (jiff's friendly format):
/// `30s`, `5m`, `1h30m`, `1h 30m`, `250ms`.
pub(crate) struct HumanDuration;

/// Every unit jiff's friendly format knows, longest spellings first.
const DURATION_UNITS: &str = "nanoseconds|nanosecond|nanos|nano|nsecs|nsec|ns|microseconds|microsecond|micros|micro|usecs|usec|µsecs|µsec|us|µs|milliseconds|millisecond|millis|milli|msecs|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|wks|wk|w|months|month|mos|mo|years|year|yrs|yr|y";

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn schema_id() -> Cow<'static, str> {
        "chaosday::Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: numbers with units, such as `30s`, `5m`, `1h30m`, `1h 30m` or `250ms`; never negative.",
            "type": "string",
            "pattern": format!(
                r"^\s*[0-9]+([.,][0-9]+)?\s*({DURATION_UNITS})((,\s+|\s*)[0-9]+([.,][0-9]+)?\s*({DURATION_UNITS}))*\s*$"
            ),
            "examples": ["30s", "5m", "250ms"],
        })
    }
}

/// The schema of an RFC 3339 time with its offset.
pub(crate) fn timestamp(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "An RFC 3339 time with its offset, such as `2027-03-12T09:00:00+01:00`.",
        "type": "string",
        "format": "date-time",
    })
}

/// Adds `oneOf` required-key alternatives to an object schema whose properties are all
/// optional: exactly one of `keys` must be present.
pub(crate) fn exactly_one_of(schema: &mut Schema, keys: &[&str]) {
    let alternatives: Vec<serde_json::Value> = keys
        .iter()
        .map(|key| serde_json::json!({ "required": [key] }))
        .collect();
    schema.insert("oneOf".to_owned(), alternatives.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_schema_is_up_to_date() {
        let committed = include_str!("../../../../schemas/game.schema.json");
        assert!(
            committed == game_schema_text(),
            "the game file schema changed: run `{REFRESH_COMMAND}`"
        );
    }

    #[test]
    fn the_duration_pattern_accepts_what_the_parser_reads() {
        let schema = HumanDuration::json_schema(&mut SchemaGenerator::default());
        let pattern = schema
            .get("pattern")
            .and_then(|p| p.as_str())
            .unwrap_or_default();
        let regex = regex::Regex::new(pattern).unwrap();
        for ok in [
            "30s", "5m", "1h 30m", "1h30m", "250ms", "1.5h", "2 days", "10us", "1h, 30m",
        ] {
            assert!(crate::duration::parse(ok).is_ok(), "{ok}");
            assert!(regex.is_match(ok), "{ok}");
        }
        for bad in ["", "30", "5 parsecs", "m5", "-1s", "5m ago"] {
            assert!(crate::duration::parse(bad).is_err(), "{bad}");
            assert!(!regex.is_match(bad), "{bad}");
        }
    }
}
