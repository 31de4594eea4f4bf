//! Byte sizes as people write them in files and on the command line: `512MiB`, `2GB`, `4096`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A number of bytes, parsed from `4096`, `64KiB`, `512MiB`, `2GiB`, `1GB` (SI) and the like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(u64);

/// Why a size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid size {input:?}: {reason}; write a number of bytes with an optional unit, such as 4096, 64KiB, 512MiB or 2GB"
)]
pub struct ParseSizeError {
    input: String,
    reason: &'static str,
}

const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("k", 1 << 10),
    ("kb", 1_000),
    ("kib", 1 << 10),
    ("m", 1 << 20),
    ("mb", 1_000_000),
    ("mib", 1 << 20),
    ("g", 1 << 30),
    ("gb", 1_000_000_000),
    ("gib", 1 << 30),
    ("t", 1 << 40),
    ("tb", 1_000_000_000_000),
    ("tib", 1 << 40),
];

impl ByteSize {
    /// A size of exactly `bytes` bytes.
    pub const fn new(bytes: u64) -> Self {
        Self(bytes)
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = ParseSizeError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseSizeError {
            input: input.to_owned(),
            reason,
        };
        let trimmed = input.trim();
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (digits, unit) = trimmed.split_at(split);
        if digits.is_empty() {
            return Err(err("it does not start with a number"));
        }
        let number: u64 = digits.parse().map_err(|_| err("the number is too large"))?;
        let unit = unit.trim().to_ascii_lowercase();
        let factor = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, factor)| *factor)
            .ok_or_else(|| err("unknown unit (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)"))?;
        number
            .checked_mul(factor)
            .map(ByteSize)
            .ok_or_else(|| err("the size is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, factor) in [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if self.0 >= factor && self.0.is_multiple_of(factor) {
                return write!(f, "{}{name}", self.0 / factor);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number of bytes, with an optional unit: `4096`, `64KiB`, `512MiB`, `2GiB`, `1GB`.",
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": r"^\s*[0-9]+\s*([bB]|[kKmMgGtT]([iI]?[bB])?)?\s*$" }
            ],
            "examples": ["512MiB", "2GiB", 4096],
        })
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expect: Result<u64, &str>) {
        let got = input.parse::<ByteSize>().map(ByteSize::bytes);
        match (got, expect) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
            (Err(e), Err(fragment)) => assert!(e.to_string().contains(fragment), "{input}: {e}"),
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parses_the_units_people_write() {
        check("4096", Ok(4096));
        check("64KiB", Ok(64 << 10));
        check("512MiB", Ok(512 << 20));
        check("512 mib", Ok(512 << 20));
        check("2G", Ok(2 << 30));
        check("1GB", Ok(1_000_000_000));
        check("10b", Ok(10));
        check("", Err("does not start with a number"));
        check("MiB", Err("does not start with a number"));
        check("12 parsecs", Err("unknown unit"));
        check("99999999999999999999", Err("too large"));
        check("20000000TiB", Err("too large"));
    }

    #[test]
    fn displays_in_the_largest_exact_binary_unit() {
        assert_eq!(ByteSize::new(512 << 20).to_string(), "512MiB");
        assert_eq!(ByteSize::new(1_000_000).to_string(), "1000000B");
        assert_eq!(
            "3GiB".parse::<ByteSize>().map(|s| s.to_string()),
            Ok("3GiB".into())
        );
    }
}
