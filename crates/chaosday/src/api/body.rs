//! Request bodies: read whole (whatever their content type, as `curl -d` sends them), parsed
//! as a JSON object, and taken apart field by field so that every mistake is a 400 naming
//! its field: not JSON, not an object, a missing or unknown field, a wrong type, a number
//! out of range, an empty or overlong string.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::{Map, Value};

use super::error::ApiError;

/// The most a player's name may hold, in characters.
pub const MAX_PLAYER_CHARS: usize = 64;

/// The most any other string field may hold, in characters.
pub const MAX_TEXT_CHARS: usize = 500;

/// The largest body an action takes.
pub const MAX_ACTION_BODY: usize = 64 * 1024;

/// A request body read whole, up to [`MAX_ACTION_BODY`].
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        read(request, MAX_ACTION_BODY).await.map(RawBody)
    }
}

/// Reads `request`'s body, up to `limit` bytes.
pub async fn read(request: Request, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|e| {
            if too_large(&e) {
                ApiError::PayloadTooLarge(format!(
                    "the body is larger than {} KiB, the most this endpoint reads",
                    limit / 1024
                ))
            } else {
                ApiError::bad("body", format!("it could not be read: {e}"))
            }
        })
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

/// A JSON object taken apart field by field. Fields not named in `allowed` are errors, so
/// a typo (`"targte"`) is told, not ignored.
#[derive(Debug)]
pub struct Fields {
    map: Map<String, Value>,
    example: &'static str,
}

impl Fields {
    /// Parses `body` as an object of the `allowed` fields; `example` shows one.
    pub fn parse(body: &[u8], allowed: &[&str], example: &'static str) -> Result<Self, ApiError> {
        let Value::Object(map) = json(body, example)? else {
            return Err(ApiError::bad(
                "body",
                format!("expected a JSON object such as {example}"),
            ));
        };
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::bad(
                unknown.clone(),
                format!(
                    "unknown field; this endpoint takes {}, such as {example}",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Fields { map, example })
    }

    /// A field's value; `null` counts as absent.
    fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|v| !v.is_null())
    }

    fn missing(&self, name: &str) -> ApiError {
        ApiError::bad(name, format!("missing; send it, such as {}", self.example))
    }

    /// The acting player's name: required, not blank, at most [`MAX_PLAYER_CHARS`].
    pub fn player(&mut self) -> Result<String, ApiError> {
        let player = self
            .optional_text("player", MAX_PLAYER_CHARS)?
            .ok_or_else(|| {
                ApiError::bad(
                    "player",
                    "missing; every action carries the name of the player who does it, such as \"player\": \"ada\"",
                )
            })?;
        Ok(player)
    }

    /// A required string, trimmed, not blank, at most `max` characters.
    pub fn text(&mut self, name: &str, max: usize) -> Result<String, ApiError> {
        self.optional_text(name, max)?
            .ok_or_else(|| self.missing(name))
    }

    /// An optional string (absent or `null`), trimmed, not blank, at most `max` characters.
    pub fn optional_text(&mut self, name: &str, max: usize) -> Result<Option<String>, ApiError> {
        let Some(value) = self.take(name) else {
            return Ok(None);
        };
        let Value::String(text) = value else {
            return Err(ApiError::bad(
                name,
                format!("expected a string, got {}", kind(&value)),
            ));
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(ApiError::bad(name, "must not be empty"));
        }
        let chars = text.chars().count();
        if chars > max {
            return Err(ApiError::bad(
                name,
                format!("is {chars} characters long; at most {max} are allowed"),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(ApiError::bad(
                name,
                "must not contain control characters (newlines, tabs...)",
            ));
        }
        Ok(Some(text.to_owned()))
    }

    /// An optional whole number from 0 to `max`.
    pub fn optional_index(&mut self, name: &str, max: u64) -> Result<Option<u64>, ApiError> {
        let Some(value) = self.take(name) else {
            return Ok(None);
        };
        match value.as_u64() {
            Some(n) if n <= max => Ok(Some(n)),
            _ => Err(ApiError::bad(
                name,
                format!(
                    "expected a whole number from 0 to {max}, got {}",
                    shown(&value)
                ),
            )),
        }
    }

    /// A required whole number from `-limit` to `limit`.
    pub fn integer(&mut self, name: &str, limit: i64) -> Result<i64, ApiError> {
        let value = self.take(name).ok_or_else(|| self.missing(name))?;
        match value.as_i64() {
            Some(n) if (-limit..=limit).contains(&n) => Ok(n),
            _ => Err(ApiError::bad(
                name,
                format!(
                    "expected a whole number from -{limit} to {limit}, got {}",
                    shown(&value)
                ),
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
    use super::*;

    const EXAMPLE: &str = r#"{"player": "ada", "target": "cart"}"#;

    fn fields(body: &str) -> Result<Fields, ApiError> {
        Fields::parse(
            body.as_bytes(),
            &["player", "target", "hint", "points"],
            EXAMPLE,
        )
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
            assert_eq!(field(fields(body).unwrap_err()), "body", "{body:?}");
        }
        let bytes = b"{\"player\": \"\xff\xfe\"}";
        let error = Fields::parse(bytes, &["player"], EXAMPLE).unwrap_err();
        assert_eq!(field(error), "body");
    }

    #[test]
    fn an_unknown_field_is_named() {
        let error = fields(r#"{"player": "ada", "targte": "cart"}"#).unwrap_err();
        assert_eq!(field(error.clone()), "targte");
        assert!(error.to_string().contains("player, target"), "{error}");
    }

    #[test]
    fn the_player_is_required_trimmed_and_bounded() {
        assert_eq!(
            fields(r#"{"player": " ada "}"#).unwrap().player().unwrap(),
            "ada"
        );
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
            let error = fields(body).unwrap().player().unwrap_err();
            assert_eq!(field(error), "player", "{body}");
        }
        let sixty_four = format!(r#"{{"player": "{}"}}"#, "é".repeat(64));
        assert!(fields(&sixty_four).unwrap().player().is_ok());
    }

    #[test]
    fn indexes_refuse_negative_fractional_and_huge_numbers() {
        assert_eq!(
            fields(r#"{"hint": 2}"#)
                .unwrap()
                .optional_index("hint", 100)
                .unwrap(),
            Some(2)
        );
        assert_eq!(
            fields(r#"{"hint": null}"#)
                .unwrap()
                .optional_index("hint", 100)
                .unwrap(),
            None
        );
        for body in [
            r#"{"hint": -1}"#,
            r#"{"hint": 1.5}"#,
            r#"{"hint": 101}"#,
            r#"{"hint": 1e300}"#,
            r#"{"hint": 99999999999999999999999}"#,
            r#"{"hint": "1"}"#,
        ] {
            let error = fields(body)
                .unwrap()
                .optional_index("hint", 100)
                .unwrap_err();
            assert_eq!(field(error), "hint", "{body}");
        }
    }

    #[test]
    fn integers_stay_within_their_limit() {
        assert_eq!(
            fields(r#"{"points": -50}"#)
                .unwrap()
                .integer("points", 100)
                .unwrap(),
            -50
        );
        for body in [
            "{}",
            r#"{"points": 101}"#,
            r#"{"points": -101}"#,
            r#"{"points": 9223372036854775808}"#,
            r#"{"points": "5"}"#,
            r#"{"points": true}"#,
        ] {
            let error = fields(body).unwrap().integer("points", 100).unwrap_err();
            assert_eq!(field(error), "points", "{body}");
        }
    }
}
