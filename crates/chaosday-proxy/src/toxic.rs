//! Toxics as data: what a toxic does ([`ToxicKind`]), which way it acts ([`Stream`]), how
//! often ([`Toxic::toxicity`]), and the live set of a proxy ([`ToxicSet`]).
//!
//! A leaf of the crate: the registry, the links and the Toxiproxy API all use these types,
//! and this module uses none of them. The Toxiproxy wire format of a toxic
//! (`{attributes, name, type, stream, toxicity}`, its defaults and its parsing) is in
//! [`crate::toxiproxy`]; the serde derives here are chaosday's own shape (for a driver's
//! serialisable actions), not Toxiproxy's.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

/// Which way the bytes a toxic acts on flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// From the client to the upstream server.
    Upstream,
    /// From the upstream server to the client (Toxiproxy's default).
    Downstream,
}

impl Stream {
    /// `upstream` or `downstream`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a toxic does, with its attributes (times in milliseconds unless named otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToxicKind {
    /// Delays each chunk by `latency` ± `jitter` ms from its own arrival.
    Latency {
        /// Milliseconds.
        latency: i64,
        /// Milliseconds, drawn uniformly in ±jitter per chunk.
        jitter: i64,
    },
    /// Limits the rate to `rate` KB/s.
    Bandwidth {
        /// Kilobytes (1,000 bytes) per second.
        rate: i64,
    },
    /// Stops all data; closes the connection after `timeout` ms (0: holds it open, dropping data).
    Timeout {
        /// Milliseconds; 0 holds forever.
        timeout: i64,
    },
    /// Resets the connection (TCP RST) after `timeout` ms.
    ResetPeer {
        /// Milliseconds.
        timeout: i64,
    },
    /// Cuts chunks into slices of `average_size` ± `size_variation` bytes, `delay` µs apart.
    Slicer {
        /// Bytes.
        average_size: i64,
        /// Bytes.
        size_variation: i64,
        /// Microseconds between slices.
        delay: i64,
    },
    /// Delays the close of the connection by `delay` ms.
    SlowClose {
        /// Milliseconds.
        delay: i64,
    },
    /// Closes the connection once `bytes` have gone through.
    LimitData {
        /// Bytes.
        bytes: i64,
    },
    /// Answers HTTP requests whose path starts with `path_prefix` with `status`, with
    /// probability `probability`, without forwarding them (HTTP links only).
    HttpError {
        /// The status code to answer.
        status: i64,
        /// 0 to 1.
        probability: f64,
        /// Only requests whose path starts with this; empty for all.
        path_prefix: String,
    },
    /// Delays HTTP requests whose path starts with `path_prefix` by `delay` ms, with
    /// probability `probability` (HTTP links only).
    HttpDelay {
        /// Milliseconds.
        delay: i64,
        /// 0 to 1.
        probability: f64,
        /// Only requests whose path starts with this; empty for all.
        path_prefix: String,
    },
}

/// The largest value of an integer attribute: a day in milliseconds is 86,400,000; this
/// leaves room for that and for byte counts up to a terabyte, and keeps every sum of
/// attributes far from overflowing.
pub const MAX_ATTRIBUTE: i64 = 1 << 40;

/// Whether `value`, the integer attribute `name`, is from 0 to [`MAX_ATTRIBUTE`]; says so
/// otherwise, naming the attribute (`attributes.NAME`).
pub fn check_whole(name: &str, value: i64) -> Result<(), String> {
    if (0..=MAX_ATTRIBUTE).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "attributes.{name} must be a whole number from 0 to {MAX_ATTRIBUTE}, not {value}"
        ))
    }
}

/// The longest name of a proxy or a toxic, in bytes.
pub const MAX_NAME: usize = 255;

/// Whether `name` can name a proxy or a toxic (`what`): 1 to [`MAX_NAME`] bytes of
/// printable characters, without `/` (names are path segments of the API). Says what is
/// wrong otherwise.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!(
            "the {what} name is empty: give it a name such as \"db\""
        ));
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "the {what} name is {} bytes long: use at most {MAX_NAME}",
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control() || *c == '/') {
        return Err(format!(
            "the {what} name {name:?} holds {c:?}: use printable characters other than '/'"
        ));
    }
    Ok(())
}

/// The names of every toxic type, as the API spells them.
pub const TYPES: &[&str] = &[
    "latency",
    "bandwidth",
    "timeout",
    "reset_peer",
    "slicer",
    "slow_close",
    "limit_data",
    "http_error",
    "http_delay",
];

impl ToxicKind {
    /// The type's name, as the API spells it.
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::Slicer { .. } => "slicer",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::LimitData { .. } => "limit_data",
            ToxicKind::HttpError { .. } => "http_error",
            ToxicKind::HttpDelay { .. } => "http_delay",
        }
    }

    /// Whether it acts on HTTP requests rather than bytes.
    pub fn is_http(&self) -> bool {
        matches!(
            self,
            ToxicKind::HttpError { .. } | ToxicKind::HttpDelay { .. }
        )
    }

    /// The defaults of a type (every attribute 0, as Toxiproxy), or `None` if unknown.
    pub fn default_of(type_name: &str) -> Option<Self> {
        Some(match type_name {
            "latency" => ToxicKind::Latency {
                latency: 0,
                jitter: 0,
            },
            "bandwidth" => ToxicKind::Bandwidth { rate: 0 },
            "timeout" => ToxicKind::Timeout { timeout: 0 },
            "reset_peer" => ToxicKind::ResetPeer { timeout: 0 },
            "slicer" => ToxicKind::Slicer {
                average_size: 0,
                size_variation: 0,
                delay: 0,
            },
            "slow_close" => ToxicKind::SlowClose { delay: 0 },
            "limit_data" => ToxicKind::LimitData { bytes: 0 },
            "http_error" => ToxicKind::HttpError {
                status: 500,
                probability: 1.0,
                path_prefix: String::new(),
            },
            "http_delay" => ToxicKind::HttpDelay {
                delay: 0,
                probability: 1.0,
                path_prefix: String::new(),
            },
            _ => return None,
        })
    }

    /// Whether every attribute is in range: a whole number from 0 to [`MAX_ATTRIBUTE`], an
    /// HTTP status from 100 to 599, a probability from 0 to 1. Says what is wrong otherwise.
    pub fn check(&self) -> Result<(), String> {
        let whole = check_whole;
        let probability = |p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err("attributes.probability must be a number from 0 to 1".to_owned())
            }
        };
        match self {
            ToxicKind::Latency { latency, jitter } => {
                whole("latency", *latency)?;
                whole("jitter", *jitter)
            }
            ToxicKind::Bandwidth { rate } => whole("rate", *rate),
            ToxicKind::Timeout { timeout } | ToxicKind::ResetPeer { timeout } => {
                whole("timeout", *timeout)
            }
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => {
                whole("average_size", *average_size)?;
                whole("size_variation", *size_variation)?;
                whole("delay", *delay)
            }
            ToxicKind::SlowClose { delay } => whole("delay", *delay),
            ToxicKind::LimitData { bytes } => whole("bytes", *bytes),
            ToxicKind::HttpError {
                status,
                probability: p,
                ..
            } => {
                if !(100..=599).contains(status) {
                    return Err(
                        "attributes.status must be an HTTP status code from 100 to 599".to_owned(),
                    );
                }
                probability(*p)
            }
            ToxicKind::HttpDelay {
                delay,
                probability: p,
                ..
            } => {
                whole("delay", *delay)?;
                probability(*p)
            }
        }
    }
}

/// A toxic on a proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Toxic {
    /// Unique on its proxy; `<type>_<stream>` unless given.
    pub name: String,
    /// What it does.
    pub kind: ToxicKind,
    /// Which way it acts.
    pub stream: Stream,
    /// The probability, drawn once per connection, that it acts on that connection.
    pub toxicity: f64,
}

impl Toxic {
    /// A toxic of `kind` on `stream`, named `<type>_<stream>`, acting on every connection
    /// (toxicity 1): Toxiproxy's defaults.
    pub fn new(kind: ToxicKind, stream: Stream) -> Self {
        Toxic {
            name: Toxic::default_name(&kind, stream),
            kind,
            stream,
            toxicity: 1.0,
        }
    }

    /// The name a toxic gets when none is given: `<type>_<stream>`.
    pub fn default_name(kind: &ToxicKind, stream: Stream) -> String {
        format!("{}_{stream}", kind.type_name())
    }

    /// The same toxic, named `name`.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The same toxic, acting on a connection with probability `toxicity` (0 to 1).
    #[must_use]
    pub fn with_toxicity(mut self, toxicity: f64) -> Self {
        self.toxicity = toxicity;
        self
    }

    /// Whether the registry takes it: a name ([`check_name`]), a toxicity from 0 to 1,
    /// attributes in range.
    pub fn check(&self) -> Result<(), RegistryError> {
        let invalid = |reason: String| RegistryError::InvalidToxic {
            toxic: self.name.clone(),
            reason,
        };
        check_name("toxic", &self.name).map_err(invalid)?;
        if !(0.0..=1.0).contains(&self.toxicity) {
            return Err(invalid(
                "toxicity must be a number from 0 to 1 (the probability that the toxic acts on a connection)".to_owned(),
            ));
        }
        self.kind.check().map_err(invalid)
    }
}

/// The toxics of one proxy, in the order they were added.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ToxicSet {
    /// The toxics.
    pub toxics: Vec<Toxic>,
}
