//! Form bodies (`application/x-www-form-urlencoded`), read field by field: whatever a
//! browser (or anyone else) posts, a field is there or not, and a bad one is a message for
//! people, never a failure of the server.

use std::collections::HashMap;

// The game's bounds (it enforces them on every action, whatever the front end).
pub use chaosday_game::limits::{MAX_NAME_CHARS, MAX_PLAYER_CHARS, MAX_TEXT_CHARS};

/// The fields of a posted form; the first value of a repeated name wins.
#[derive(Debug, Default)]
pub struct Form {
    fields: HashMap<String, String>,
}

impl Form {
    /// Parses a body; bytes that are not UTF-8 become U+FFFD, nothing fails.
    pub fn parse(body: &[u8]) -> Self {
        let mut fields = HashMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            fields
                .entry(name.into_owned())
                .or_insert_with(|| value.into_owned());
        }
        Form { fields }
    }

    /// The field `name`, trimmed, if it is there and not blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A required text field of at most `max` characters, with no control characters;
    /// `label` names it in the message.
    pub fn text(&self, name: &str, label: &str, max: usize) -> Result<String, String> {
        let value = self
            .get(name)
            .ok_or_else(|| format!("{label}: this field is required"))?;
        check_text(value, label, max)?;
        Ok(value.to_owned())
    }

    /// An optional text field (blank is none), checked as [`Form::text`].
    pub fn optional(&self, name: &str, label: &str, max: usize) -> Result<Option<String>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => {
                check_text(value, label, max)?;
                Ok(Some(value.to_owned()))
            }
        }
    }

    /// A required whole number within `min..=max`.
    pub fn number(&self, name: &str, label: &str, min: i64, max: i64) -> Result<i64, String> {
        let value = self
            .get(name)
            .ok_or_else(|| format!("{label}: this field is required"))?;
        let digits = value.strip_prefix('#').unwrap_or(value);
        let digits = digits.strip_prefix('+').unwrap_or(digits);
        match digits.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(format!(
                "{label}: expected a whole number from {min} to {max}, not `{}`",
                shorten(value)
            )),
        }
    }
}

/// Refuses control characters and text longer than `max` characters.
pub fn check_text(value: &str, label: &str, max: usize) -> Result<(), String> {
    if value.chars().count() > max {
        return Err(format!("{label}: at most {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "{label}: no control characters (such as line breaks)"
        ));
    }
    Ok(())
}

/// `value`, cut for a message.
fn shorten(value: &str) -> String {
    const MAX: usize = 40;
    if value.chars().count() <= MAX {
        return value.to_owned();
    }
    let mut cut: String = value.chars().take(MAX).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_decoded_and_trimmed_and_the_first_of_a_repeated_name() {
        let form = Form::parse(b"target=web%2Dlink&player=+ada+&target=other&empty=+&x");
        assert_eq!(form.get("target"), Some("web-link"));
        assert_eq!(form.get("player"), Some("ada"));
        assert_eq!(form.get("empty"), None);
        assert_eq!(form.get("x"), None);
        assert_eq!(form.get("missing"), None);
    }

    #[test]
    fn bytes_that_are_not_utf8_or_a_form_do_not_fail() {
        let form = Form::parse(b"\xff\xfe=%ff&&&==&a=%");
        assert_eq!(form.get("a"), Some("%"));
        assert!(Form::parse(b"").get("a").is_none());
    }

    #[test]
    fn text_is_required_bounded_and_free_of_control_characters() {
        let form = Form::parse(b"name=ada&long=aaaaaaaaaa&nl=a%0Ab");
        assert_eq!(form.text("name", "player", 64).unwrap(), "ada");
        assert!(
            form.text("none", "player", 64)
                .unwrap_err()
                .contains("required")
        );
        assert!(
            form.text("long", "reason", 5)
                .unwrap_err()
                .contains("at most 5")
        );
        assert!(
            form.text("nl", "reason", 50)
                .unwrap_err()
                .contains("control")
        );
        assert_eq!(form.optional("none", "team", 10).unwrap(), None);
        assert_eq!(
            form.optional("name", "team", 10).unwrap().as_deref(),
            Some("ada")
        );
    }

    #[test]
    fn numbers_are_whole_and_within_their_range() {
        let form = Form::parse(b"a=3&b=%233&c=-50&d=%2B7&e=1e3&f=99999999999999999999&g=x");
        assert_eq!(form.number("a", "incident", 0, 10).unwrap(), 3);
        assert_eq!(form.number("b", "incident", 0, 10).unwrap(), 3);
        assert_eq!(form.number("c", "points", -100, 100).unwrap(), -50);
        assert_eq!(form.number("d", "points", -100, 100).unwrap(), 7);
        for name in ["e", "f", "g", "missing"] {
            assert!(form.number(name, "points", -100, 100).is_err(), "{name}");
        }
        assert!(form.number("a", "hint", 4, 10).is_err());
    }
}
