//! Which alerts detect an incident: a target's `alert_match`, Alertmanager-style matchers
//! (`service="cart"`, `severity=~"crit|page"`, `env!="dev"`, `job!~"test.*"`), all of which a
//! firing alert's labels must satisfy. A label an alert does not carry reads as empty, and a
//! regular expression must match the whole value, as in Alertmanager.
//!
//! Written as a map of equalities (`{service: cart}`) or as a list of matchers
//! (`['service="cart"', 'severity=~"crit|page"']`); a list of equalities alone reads back as
//! the map.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// How a matcher compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`: equal.
    Eq,
    /// `!=`: not equal.
    Ne,
    /// `=~`: the regular expression matches the whole value.
    Re,
    /// `!~`: the regular expression does not match the whole value.
    NotRe,
}

impl MatchOp {
    /// As written.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        }
    }
}

/// One condition on one label.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label's name.
    pub name: String,
    /// How it compares.
    pub op: MatchOp,
    /// The value, or the regular expression.
    pub value: String,
    /// The anchored expression of `=~` and `!~`.
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, self.op, &self.value) == (&other.name, other.op, &other.value)
    }
}

const WRITE: &str = "write a matcher as NAME=\"VALUE\", NAME!=\"VALUE\", NAME=~\"REGEX\" or NAME!~\"REGEX\", such as service=\"cart\"";

impl Matcher {
    /// A matcher from its parts; a bad name or regular expression says what to write.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, String> {
        let name = name.trim();
        label_name(name)?;
        let regex = match op {
            MatchOp::Re | MatchOp::NotRe => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("`{value}` is not a regular expression: {e}"))?,
            ),
            MatchOp::Eq | MatchOp::Ne => None,
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// Reads `service="cart"`, `severity=~"crit|page"`, `env!=dev` (quotes optional).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let Some(at) = text.find(['=', '!']) else {
            return Err(format!("`{text}` has no operator; {WRITE}"));
        };
        let (name, rest) = text.split_at(at);
        let (op, value) = [
            ("=~", MatchOp::Re),
            ("!~", MatchOp::NotRe),
            ("!=", MatchOp::Ne),
            ("=", MatchOp::Eq),
        ]
        .into_iter()
        .find_map(|(written, op)| rest.strip_prefix(written).map(|value| (op, value)))
        .ok_or_else(|| format!("`{text}` has no operator; {WRITE}"))?;
        Matcher::new(name, op, &unquote(value.trim())?)
    }

    /// Whether an alert without its label satisfies it (`env!="prod"`, `env=~".*"`).
    pub fn matches_empty(&self) -> bool {
        self.matches(&BTreeMap::new())
    }

    /// Whether `labels` satisfy it (a missing label is empty).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.name).map_or("", String::as_str);
        match (self.op, &self.regex) {
            (MatchOp::Eq, _) => value == self.value,
            (MatchOp::Ne, _) => value != self.value,
            (MatchOp::Re, Some(re)) => re.is_match(value),
            (MatchOp::NotRe, Some(re)) => !re.is_match(value),
            (MatchOp::Re | MatchOp::NotRe, None) => false,
        }
    }
}

/// Checks a label name as Prometheus writes them: letters, digits and `_`, not starting
/// with a digit; the error says what to write.
pub fn label_name(name: &str) -> Result<(), String> {
    let valid = name
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if name.is_empty() || !valid {
        return Err(format!(
            "`{name}` is not a label name (letters, digits and _, not starting with a digit); {WRITE}"
        ));
    }
    Ok(())
}

/// A value in double quotes (with `\"` and `\\` escapes), or bare.
fn unquote(value: &str) -> Result<String, String> {
    let Some(inner) = value.strip_prefix('"') else {
        return Ok(value.to_owned());
    };
    let Some(inner) = inner.strip_suffix('"') else {
        return Err(format!(
            "`{value}` opens a quote it does not close; {WRITE}"
        ));
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

impl Eq for Matcher {}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let escaped = self.value.replace('\\', "\\\\").replace('"', "\\\"");
        write!(f, "{}{}\"{escaped}\"", self.name, self.op.as_str())
    }
}

/// A target's `alert_match`: every matcher must hold. Empty: no alert detects it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertMatch(pub Vec<Matcher>);

impl AlertMatch {
    /// Equalities on these labels.
    pub fn labels<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        AlertMatch(
            labels
                .into_iter()
                .filter_map(|(name, value)| Matcher::new(name, MatchOp::Eq, value).ok())
                .collect(),
        )
    }

    /// No matcher: no alert detects the target.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every alert satisfies it, even one without a single label: no matcher
    /// needs a label (`env!="dev"` alone). Alertmanager refuses such a silence; a game
    /// refuses such an `alert_match`, which any alert at all would satisfy.
    pub fn matches_anything(&self) -> bool {
        !self.0.is_empty() && self.0.iter().all(Matcher::matches_empty)
    }

    /// Whether a firing alert with `labels` detects the target (never when empty).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.0.is_empty() && self.0.iter().all(|m| m.matches(labels))
    }

    /// Each matcher as written (`service="cart"`).
    pub fn written(&self) -> Vec<String> {
        self.0.iter().map(Matcher::to_string).collect()
    }

    /// The map form, when every matcher is an equality on a label of its own.
    fn as_map(&self) -> Option<BTreeMap<String, String>> {
        let map: BTreeMap<String, String> = self
            .0
            .iter()
            .filter(|m| m.op == MatchOp::Eq)
            .map(|m| (m.name.clone(), m.value.clone()))
            .collect();
        (map.len() == self.0.len()).then_some(map)
    }
}

/// `alert_match` as written: equalities as a map, or a list of matchers.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(crate) enum AlertMatchWritten {
    /// Labels an alert must carry with these values, such as `{service: cart}`.
    Labels(BTreeMap<String, String>),
    /// Alertmanager matchers, such as `['service="cart"', 'severity=~"crit|page"']`.
    Matchers(Vec<String>),
}

impl Serialize for AlertMatch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.as_map() {
            Some(map) => AlertMatchWritten::Labels(map),
            None => AlertMatchWritten::Matchers(self.written()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AlertMatch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor rather than an untagged enum: a bad matcher is refused while its list
        // is read, so the error has the field's path and place in the file.
        struct Written;
        impl<'de> serde::de::Visitor<'de> for Written {
            type Value = AlertMatch;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "labels such as {service: cart}, or matchers such as ['service=\"cart\"', 'severity=~\"crit|page\"']",
                )
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<AlertMatch, A::Error> {
                let mut labels = BTreeMap::new();
                while let Some((name, value)) = map.next_entry::<String, String>()? {
                    labels.insert(name, value);
                }
                // A label name that is not one is left to the game's check, which says where.
                Ok(AlertMatch(
                    labels
                        .into_iter()
                        .map(|(name, value)| Matcher {
                            name,
                            op: MatchOp::Eq,
                            value,
                            regex: None,
                        })
                        .collect(),
                ))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut list: A,
            ) -> Result<AlertMatch, A::Error> {
                let mut matchers = Vec::new();
                while let Some(text) = list.next_element::<String>()? {
                    let i = matchers.len();
                    matchers.push(
                        Matcher::parse(&text)
                            .map_err(|e| serde::de::Error::custom(format!("[{i}]: {e}")))?,
                    );
                }
                Ok(AlertMatch(matchers))
            }
        }
        deserializer.deserialize_any(Written)
    }
}

/// A stable fingerprint for an alert that came without Alertmanager's: a hash of its sorted
/// labels, as 16 hex digits.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    // FNV-1a, 64 bits: stable across builds and platforms.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, value) in labels {
        for byte in name
            .bytes()
            .chain([0xff])
            .chain(value.bytes())
            .chain([0xfe])
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn each_operator_matches_as_alertmanager_does() {
        let alert = labels(&[("service", "cart"), ("severity", "critical")]);
        for (text, expected) in [
            ("service=\"cart\"", true),
            ("service=cart", true),
            ("service!=\"cart\"", false),
            ("service!=search", true),
            ("severity=~\"crit|critical\"", true),
            ("severity=~\"crit\"", false),
            ("severity!~\"warn.*\"", true),
            ("env=\"\"", true),
            ("env!=\"\"", false),
            ("env=~\".*\"", true),
        ] {
            let m = Matcher::parse(text).unwrap();
            assert_eq!(m.matches(&alert), expected, "{text}");
        }
    }

    #[test]
    fn bad_matchers_say_what_to_write() {
        for (text, says) in [
            ("service", "no operator"),
            ("1abc=\"x\"", "not a label name"),
            ("severity=~\"(\"", "not a regular expression"),
            ("service=\"cart", "does not close"),
        ] {
            let e = Matcher::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn both_forms_read_and_equalities_read_back_as_the_map() {
        let map: AlertMatch = serde_json::from_str(r#"{"service": "cart"}"#).unwrap();
        let list: AlertMatch = serde_json::from_str(r#"["service=\"cart\""]"#).unwrap();
        assert_eq!(map, list);
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"{"service":"cart"}"#
        );
        let rich: AlertMatch =
            serde_json::from_str(r#"["service=\"cart\"", "severity=~\"crit|page\""]"#).unwrap();
        let again: AlertMatch =
            serde_json::from_str(&serde_json::to_string(&rich).unwrap()).unwrap();
        assert_eq!(rich, again);
        assert!(rich.matches(&labels(&[("service", "cart"), ("severity", "page")])));
        assert!(!rich.matches(&labels(&[("service", "cart"), ("severity", "info")])));
        assert!(!AlertMatch::default().matches(&labels(&[("service", "cart")])));
        let bad = serde_json::from_str::<AlertMatch>(r#"["service"]"#).unwrap_err();
        assert!(
            bad.to_string().contains("[0]: `service` has no operator"),
            "{bad}"
        );
    }

    #[test]
    fn a_fingerprint_depends_on_the_labels_only() {
        let a = fingerprint(&labels(&[("a", "1"), ("b", "2")]));
        assert_eq!(a, fingerprint(&labels(&[("b", "2"), ("a", "1")])));
        assert_ne!(a, fingerprint(&labels(&[("a", "12")])));
        assert_eq!(a.len(), 16);
    }
}
