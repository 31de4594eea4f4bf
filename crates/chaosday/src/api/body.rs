//! Request bodies: read whole (whatever their content type, as `curl -d` sends them), parsed
//! as a JSON object, and deserialised with serde through `serde_path_to_error`, so that every
//! mistake is a 400 naming its field's path: not JSON, not an object, a missing or unknown
//! field, a wrong type, a number out of range, an empty or overlong string.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

// The bounds are the game's (it enforces them on every action); reading them here refuses a
// bad body early, with the field's path.
pub use chaosday_game::limits::{
    MAX_ACTION_BODY, MAX_ADJUSTMENT, MAX_NAME_CHARS, MAX_PLAYER_CHARS, MAX_TEXT_CHARS,
};

/// The highest hint index a request may name (the game's bound, as JSON reads it).
pub const MAX_HINT_INDEX: u64 = chaosday_game::limits::MAX_HINT_INDEX as u64;

/// A request body read whole. Its route bounds it with tower-http's `RequestBodyLimitLayer`
/// at [`MAX_ACTION_BODY`] (see [`super::router`]).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        read(request, MAX_ACTION_BODY).await.map(RawBody)
    }
}

/// Reads `request`'s body. Its route's `RequestBodyLimitLayer` bounds it at `limit` bytes: a
/// longer body fails its read, which is answered 413 naming `limit`.
pub async fn read(request: Request, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .map_err(|e| {
            if too_large(&e) {
                ApiError::PayloadTooLarge(too_large_detail(limit))
            } else {
                ApiError::bad("body", format!("it could not be read: {e}"))
            }
        })
}

/// The detail of a 413 for a body over `limit` bytes.
pub fn too_large_detail(limit: usize) -> String {
    format!(
        "the body is larger than {} KiB, the most this endpoint reads",
        limit / 1024
    )
}

fn too_large(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Parses `body` as JSON, with `example` in every error (what the endpoint takes).
pub fn json(body: &[u8], example: &str) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad(
            "body",
            format!("it is empty; send JSON such as {example}"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad(
            "body",
            format!("it is not JSON ({e}); send JSON such as {example}"),
        )
    })
}

/// A required field was `null`: the same answer as when it is absent.
const MISSING: &str = "\u{0}missing";

/// Parses `body` as a JSON object of the `allowed` fields into `T` (through serde, with the
/// failing field's path from `serde_path_to_error`); `example` shows a valid body. Fields
/// not in `allowed` are errors, so a typo (`"targte"`) is told, not ignored; `null` counts as
/// absent.
pub fn parse<T: DeserializeOwned>(
    body: &[u8],
    allowed: &[&str],
    example: &str,
) -> Result<T, ApiError> {
    let value = json(body, example)?;
    if !value.is_object() {
        return Err(ApiError::bad(
            "body",
            format!("expected a JSON object such as {example}"),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let detail = e.into_inner().to_string();
        // serde's own words for an absent field: "missing field `name`".
        let absent = detail
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let field = match absent {
            Some(name) => name.to_owned(),
            None if path == "." => "body".to_owned(),
            None => path,
        };
        if absent.is_some() || detail == MISSING {
            return missing(&field, example);
        }
        if detail.starts_with("unknown field `") {
            return ApiError::bad(
                field,
                format!(
                    "unknown field; this endpoint takes {}, such as {example}",
                    allowed.join(", ")
                ),
            );
        }
        ApiError::bad(field, detail)
    })
}

fn missing(name: &str, example: &str) -> ApiError {
    if name == "player" {
        return ApiError::bad(
            "player",
            "missing; every action carries the name of the player who does it, such as \"player\": \"ada\"",
        );
    }
    ApiError::bad(name, format!("missing; send it, such as {example}"))
}

/// Field readers for `#[serde(deserialize_with = "...")]`: each reads any JSON value, so that
/// a wrong type is told in the API's words ("expected a string, got a number").
pub mod field {
    use serde::de::{Deserialize, Deserializer, Error};
    use serde_json::Value;

    use super::{
        MAX_ADJUSTMENT, MAX_HINT_INDEX, MAX_NAME_CHARS, MAX_PLAYER_CHARS, MAX_TEXT_CHARS, MISSING,
        kind, shown,
    };

    /// The acting player's name: required, trimmed, not blank, at most
    /// [`MAX_PLAYER_CHARS`].
    pub fn player<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        required(d, |v| text(v, MAX_PLAYER_CHARS))
    }

    /// A required name, at most [`MAX_NAME_CHARS`].
    pub fn name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        required(d, |v| text(v, MAX_NAME_CHARS))
    }

    /// An optional name, at most [`MAX_NAME_CHARS`].
    pub fn optional_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        optional(d, |v| text(v, MAX_NAME_CHARS))
    }

    /// A required free text, at most [`MAX_TEXT_CHARS`].
    pub fn long_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        required(d, |v| text(v, MAX_TEXT_CHARS))
    }

    /// An optional free text, at most [`MAX_TEXT_CHARS`].
    pub fn optional_long_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        optional(d, |v| text(v, MAX_TEXT_CHARS))
    }

    /// An optional hint index, from 0 to [`MAX_HINT_INDEX`](MAX_HINT_INDEX).
    pub fn hint_index<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        optional(d, |v| index(v, MAX_HINT_INDEX))
    }

    /// Points of an adjustment, from -[`MAX_ADJUSTMENT`](MAX_ADJUSTMENT)
    /// to the same.
    pub fn points<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        required(d, |v| integer(v, MAX_ADJUSTMENT))
    }

    fn required<'de, D: Deserializer<'de>, T>(
        d: D,
        check: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<T, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Err(D::Error::custom(MISSING)),
            value => check(&value).map_err(D::Error::custom),
        }
    }

    fn optional<'de, D: Deserializer<'de>, T>(
        d: D,
        check: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<Option<T>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            value => check(&value).map(Some).map_err(D::Error::custom),
        }
    }

    /// A string, trimmed, not blank, at most `max` characters, without control characters.
    fn text(value: &Value, max: usize) -> Result<String, String> {
        let Value::String(text) = value else {
            return Err(format!("expected a string, got {}", kind(value)));
        };
        let text = text.trim();
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        let chars = text.chars().count();
        if chars > max {
            return Err(format!(
                "is {chars} characters long; at most {max} are allowed"
            ));
        }
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters (newlines, tabs...)".into());
        }
        Ok(text.to_owned())
    }

    /// A JSON number that is whole, as an integer: `3` and `3.0` alike (JSON Schema's
    /// `integer` takes both).
    fn whole(value: &Value) -> Option<i64> {
        value.as_i64().or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        })
    }

    /// A whole number from 0 to `max`.
    fn index(value: &Value, max: u64) -> Result<u64, String> {
        match whole(value).and_then(|n| u64::try_from(n).ok()) {
            Some(n) if n <= max => Ok(n),
            _ => Err(format!(
                "expected a whole number from 0 to {max}, got {}",
                shown(value)
            )),
        }
    }

    /// A whole number from `-limit` to `limit`.
    fn integer(value: &Value, limit: i64) -> Result<i64, String> {
        match whole(value) {
            Some(n) if (-limit..=limit).contains(&n) => Ok(n),
            _ => Err(format!(
                "expected a whole number from -{limit} to {limit}, got {}",
                shown(value)
            )),
        }
    }
}

/// What a JSON value is, for an error.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A value shown in an error: numbers as they are, anything else by its kind.
fn shown(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        other => kind(other).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    const EXAMPLE: &str = r#"{"player": "ada", "target": "cart"}"#;
    const ALLOWED: &[&str] = &["player", "target", "hint"];

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Named {
        #[serde(deserialize_with = "field::player")]
        player: String,
        #[serde(default, deserialize_with = "field::optional_name")]
        #[allow(dead_code)]
        target: Option<String>,
        #[serde(default, deserialize_with = "field::hint_index")]
        hint: Option<u64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Points {
        #[serde(deserialize_with = "field::points")]
        points: i64,
    }

    fn named(body: &str) -> Result<Named, ApiError> {
        parse(body.as_bytes(), ALLOWED, EXAMPLE)
    }

    fn points(body: &str) -> Result<Points, ApiError> {
        parse(body.as_bytes(), &["points"], r#"{"points": 5}"#)
    }

    /// The field an error names.
    fn field(error: ApiError) -> String {
        match error {
            ApiError::BadRequest { field, .. } => field,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn a_body_that_is_not_a_json_object_is_an_error_of_the_body() {
        for body in [
            "",
            "  \n",
            "{",
            "nope",
            "[1, 2]",
            "\"player\"",
            "42",
            "null",
            "{\"player\": \"a\",}",
        ] {
            assert_eq!(field(named(body).unwrap_err()), "body", "{body:?}");
        }
        let bytes = b"{\"player\": \"\xff\xfe\"}";
        let error = parse::<Named>(bytes, ALLOWED, EXAMPLE).unwrap_err();
        assert_eq!(field(error), "body");
    }

    #[test]
    fn an_unknown_field_is_named() {
        let error = named(r#"{"player": "ada", "targte": "cart"}"#).unwrap_err();
        assert_eq!(field(error.clone()), "targte");
        assert!(error.to_string().contains("player, target"), "{error}");
    }

    #[test]
    fn a_duplicate_field_is_read_as_before_the_last_one_wins() {
        let body = named(r#"{"player": "ada", "player": "grace"}"#).unwrap();
        assert_eq!(body.player, "grace");
    }

    #[test]
    fn the_player_is_required_trimmed_and_bounded() {
        assert_eq!(named(r#"{"player": " ada "}"#).unwrap().player, "ada");
        let long = format!(r#"{{"player": "{}"}}"#, "é".repeat(65));
        for body in [
            "{}",
            r#"{"player": null}"#,
            r#"{"player": ""}"#,
            r#"{"player": "   "}"#,
            r#"{"player": 7}"#,
            r#"{"player": ["ada"]}"#,
            r#"{"player": "a\nb"}"#,
            long.as_str(),
        ] {
            let error = named(body).unwrap_err();
            assert_eq!(field(error), "player", "{body}");
        }
        let missing = named(r#"{"player": null}"#).unwrap_err().to_string();
        assert!(
            missing.contains("missing; every action carries"),
            "{missing}"
        );
        let wrong = named(r#"{"player": 7}"#).unwrap_err().to_string();
        assert_eq!(wrong, "player: expected a string, got a number");
        let sixty_four = format!(r#"{{"player": "{}"}}"#, "é".repeat(64));
        assert!(named(&sixty_four).is_ok());
    }

    #[test]
    fn a_missing_field_names_itself_with_the_example() {
        let error = points("{}").unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"points: missing; send it, such as {"points": 5}"#
        );
        assert_eq!(field(points(r#"{"points": null}"#).unwrap_err()), "points");
    }

    #[test]
    fn indexes_refuse_negative_fractional_and_huge_numbers() {
        assert_eq!(
            named(r#"{"player": "a", "hint": 2}"#).unwrap().hint,
            Some(2)
        );
        assert_eq!(
            named(r#"{"player": "a", "hint": null}"#).unwrap().hint,
            None
        );
        for body in [
            r#"{"player": "a", "hint": -1}"#,
            r#"{"player": "a", "hint": 1.5}"#,
            r#"{"player": "a", "hint": 1001}"#,
            r#"{"player": "a", "hint": 1e300}"#,
            r#"{"player": "a", "hint": 99999999999999999999999}"#,
            r#"{"player": "a", "hint": "1"}"#,
        ] {
            assert_eq!(field(named(body).unwrap_err()), "hint", "{body}");
        }
    }

    #[test]
    fn integers_stay_within_their_limit() {
        assert_eq!(points(r#"{"points": -50}"#).unwrap().points, -50);
        for body in [
            "{}",
            r#"{"points": 100001}"#,
            r#"{"points": -100001}"#,
            r#"{"points": 9223372036854775808}"#,
            r#"{"points": "5"}"#,
            r#"{"points": true}"#,
        ] {
            assert_eq!(field(points(body).unwrap_err()), "points", "{body}");
        }
        let error = points(r#"{"points": 100001}"#).unwrap_err().to_string();
        assert_eq!(
            error,
            "points: expected a whole number from -100000 to 100000, got 100001"
        );
    }
}
