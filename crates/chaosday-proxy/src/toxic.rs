//! Toxics as the Toxiproxy API speaks them: `{attributes, name, type, stream, toxicity}`,
//! with Toxiproxy's defaults, plus chaosday's HTTP toxics.
//!
//! Parsing is strict where Toxiproxy is lax in ways that hurt (a toxicity outside 0–1 is an
//! error here) and lenient where clients rely on it (unknown attributes are ignored, missing
//! ones are 0).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;

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
#[derive(Debug, Clone, PartialEq)]
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

    /// The attributes as a JSON object, in Toxiproxy's field order.
    pub fn attributes(&self) -> Map<String, Value> {
        let mut map = Map::new();
        let mut put = |k: &str, v: Value| {
            map.insert(k.to_owned(), v);
        };
        match self {
            ToxicKind::Latency { latency, jitter } => {
                put("latency", (*latency).into());
                put("jitter", (*jitter).into());
            }
            ToxicKind::Bandwidth { rate } => put("rate", (*rate).into()),
            ToxicKind::Timeout { timeout } | ToxicKind::ResetPeer { timeout } => {
                put("timeout", (*timeout).into())
            }
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => {
                put("average_size", (*average_size).into());
                put("size_variation", (*size_variation).into());
                put("delay", (*delay).into());
            }
            ToxicKind::SlowClose { delay } => put("delay", (*delay).into()),
            ToxicKind::LimitData { bytes } => put("bytes", (*bytes).into()),
            ToxicKind::HttpError {
                status,
                probability,
                path_prefix,
            } => {
                put("status", (*status).into());
                put("probability", number(*probability));
                put("path_prefix", path_prefix.clone().into());
            }
            ToxicKind::HttpDelay {
                delay,
                probability,
                path_prefix,
            } => {
                put("delay", (*delay).into());
                put("probability", number(*probability));
                put("path_prefix", path_prefix.clone().into());
            }
        }
        map
    }

    /// Applies the attributes named in `attrs` over the current ones. Unknown attributes are
    /// ignored, as Toxiproxy does; a known one of the wrong type or range is an error.
    pub fn merge(&mut self, attrs: &Map<String, Value>) -> Result<(), ApiError> {
        let int = |name: &str, slot: &mut i64| -> Result<(), ApiError> {
            match attrs.get(name) {
                None | Some(Value::Null) => Ok(()),
                Some(v) => match v
                    .as_i64()
                    .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                {
                    Some(n) if n >= 0 => {
                        *slot = n;
                        Ok(())
                    }
                    Some(_) => Err(ApiError::bad_request(format!(
                        "attributes.{name} must be 0 or more"
                    ))),
                    None => Err(ApiError::bad_request(format!(
                        "attributes.{name} must be a whole number, not {}",
                        describe(v)
                    ))),
                },
            }
        };
        let prob = |slot: &mut f64| -> Result<(), ApiError> {
            match attrs.get("probability") {
                None | Some(Value::Null) => Ok(()),
                Some(v) => match v.as_f64() {
                    Some(p) if (0.0..=1.0).contains(&p) => {
                        *slot = p;
                        Ok(())
                    }
                    _ => Err(ApiError::bad_request(
                        "attributes.probability must be a number from 0 to 1",
                    )),
                },
            }
        };
        let prefix = |slot: &mut String| -> Result<(), ApiError> {
            match attrs.get("path_prefix") {
                None | Some(Value::Null) => Ok(()),
                Some(Value::String(s)) => {
                    slot.clone_from(s);
                    Ok(())
                }
                Some(v) => Err(ApiError::bad_request(format!(
                    "attributes.path_prefix must be a string such as \"/api\", not {}",
                    describe(v)
                ))),
            }
        };
        match self {
            ToxicKind::Latency { latency, jitter } => {
                int("latency", latency)?;
                int("jitter", jitter)
            }
            ToxicKind::Bandwidth { rate } => int("rate", rate),
            ToxicKind::Timeout { timeout } | ToxicKind::ResetPeer { timeout } => {
                int("timeout", timeout)
            }
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => {
                int("average_size", average_size)?;
                int("size_variation", size_variation)?;
                int("delay", delay)
            }
            ToxicKind::SlowClose { delay } => int("delay", delay),
            ToxicKind::LimitData { bytes } => int("bytes", bytes),
            ToxicKind::HttpError {
                status,
                probability,
                path_prefix,
            } => {
                int("status", status)?;
                if !(100..=599).contains(status) {
                    return Err(ApiError::bad_request(
                        "attributes.status must be an HTTP status code from 100 to 599",
                    ));
                }
                prob(probability)?;
                prefix(path_prefix)
            }
            ToxicKind::HttpDelay {
                delay,
                probability,
                path_prefix,
            } => {
                int("delay", delay)?;
                prob(probability)?;
                prefix(path_prefix)
            }
        }
    }
}

fn number(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a fractional number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A toxic on a proxy.
#[derive(Debug, Clone, PartialEq)]
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
    /// The JSON Toxiproxy answers: `{attributes, name, type, stream, toxicity}`.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("attributes".into(), Value::Object(self.kind.attributes()));
        map.insert("name".into(), self.name.clone().into());
        map.insert("type".into(), self.kind.type_name().into());
        map.insert("stream".into(), self.stream.as_str().into());
        map.insert("toxicity".into(), toxicity_json(self.toxicity));
        Value::Object(map)
    }

    /// Parses a create request: `{name?, type, stream?, toxicity?, attributes?}`.
    pub fn from_create(body: &Value) -> Result<Self, ApiError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ApiError::bad_request("bad request body: expected a JSON object such as {\"type\": \"latency\", \"attributes\": {\"latency\": 100}}"))?;
        let type_name = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            None | Some(Value::Null) => "",
            Some(_) => {
                return Err(ApiError::bad_request(
                    "bad request body: `type` must be a string",
                ));
            }
        };
        let mut kind = ToxicKind::default_of(type_name)
            .ok_or_else(|| ApiError::invalid_toxic_type(type_name))?;
        let stream = match obj.get("stream") {
            None | Some(Value::Null) => Stream::Downstream,
            Some(Value::String(s)) if s.is_empty() => Stream::Downstream,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("upstream") => Stream::Upstream,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("downstream") => Stream::Downstream,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "stream was invalid, can be either upstream or downstream",
                ));
            }
        };
        let toxicity = parse_toxicity(obj.get("toxicity"))?.unwrap_or(1.0);
        if let Some(attrs) = attributes_of(obj)? {
            kind.merge(attrs)?;
        }
        let name = match obj.get("name") {
            Some(Value::String(n)) if !n.is_empty() => n.clone(),
            None | Some(Value::Null) | Some(Value::String(_)) => format!("{type_name}_{stream}"),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "bad request body: `name` must be a string",
                ));
            }
        };
        Ok(Toxic {
            name,
            kind,
            stream,
            toxicity,
        })
    }

    /// Applies an update request: only `attributes` (merged) and `toxicity` change.
    pub fn update(&mut self, body: &Value) -> Result<(), ApiError> {
        let obj = body.as_object().ok_or_else(|| {
            ApiError::bad_request(
                "bad request body: expected a JSON object such as {\"toxicity\": 0.5}",
            )
        })?;
        let mut kind = self.kind.clone();
        if let Some(attrs) = attributes_of(obj)? {
            kind.merge(attrs)?;
        }
        let toxicity = parse_toxicity(obj.get("toxicity"))?;
        self.kind = kind;
        if let Some(toxicity) = toxicity {
            self.toxicity = toxicity;
        }
        Ok(())
    }
}

fn attributes_of(obj: &Map<String, Value>) -> Result<Option<&Map<String, Value>>, ApiError> {
    match obj.get("attributes") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(attrs)) => Ok(Some(attrs)),
        Some(_) => Err(ApiError::bad_request(
            "bad request body: `attributes` must be an object such as {\"latency\": 100}",
        )),
    }
}

fn parse_toxicity(value: Option<&Value>) -> Result<Option<f64>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(t) if (0.0..=1.0).contains(&t) => Ok(Some(t)),
            _ => Err(ApiError::bad_request(
                "toxicity must be a number from 0 to 1 (the probability that the toxic acts on a connection)",
            )),
        },
    }
}

/// Toxiproxy writes a toxicity of 1 as `1`, not `1.0`.
fn toxicity_json(t: f64) -> Value {
    if t.fract() == 0.0 {
        Value::from(t as i64)
    } else {
        number(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[track_caller]
    fn created(body: Value) -> String {
        match Toxic::from_create(&body) {
            Ok(t) => t.to_json().to_string(),
            Err(e) => format!("{} {}", e.status, e.message),
        }
    }

    #[test]
    fn create_fills_toxiproxy_defaults_in_its_field_order() {
        assert_eq!(
            created(json!({"type": "latency", "attributes": {"latency": 100, "jitter": 10}})),
            r#"{"attributes":{"latency":100,"jitter":10},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}"#
        );
        assert_eq!(
            created(
                json!({"name": "up_bw", "type": "bandwidth", "stream": "upstream", "toxicity": 0.5, "attributes": {"rate": 100}})
            ),
            r#"{"attributes":{"rate":100},"name":"up_bw","type":"bandwidth","stream":"upstream","toxicity":0.5}"#
        );
        assert_eq!(
            created(
                json!({"name": "s", "type": "slicer", "attributes": {"average_size": 64, "size_variation": 32, "delay": 10}})
            ),
            r#"{"attributes":{"average_size":64,"size_variation":32,"delay":10},"name":"s","type":"slicer","stream":"downstream","toxicity":1}"#
        );
        assert_eq!(
            created(json!({"type": "latency", "attributes": {"latency": 5, "extra": true}})),
            r#"{"attributes":{"latency":5,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}"#
        );
    }

    #[test]
    fn bad_toxics_are_refused_with_toxiproxy_s_messages_or_better() {
        assert!(
            created(json!({"type": "no_such"}))
                .starts_with("400 invalid toxic type \"no_such\": use one of latency,")
        );
        assert!(created(json!({"type": "down"})).starts_with("400 invalid toxic type"));
        assert_eq!(
            created(json!({"type": "latency", "stream": "sideways"})),
            "400 stream was invalid, can be either upstream or downstream"
        );
        assert!(
            created(json!({"type": "latency", "toxicity": 2}))
                .starts_with("400 toxicity must be a number from 0 to 1")
        );
        assert_eq!(
            created(json!({"type": "latency", "attributes": {"latency": "fast"}})),
            "400 attributes.latency must be a whole number, not a string"
        );
        assert_eq!(
            created(json!({"type": "latency", "attributes": {"latency": -1}})),
            "400 attributes.latency must be 0 or more"
        );
        assert!(
            created(json!({"type": "http_error", "attributes": {"status": 99}}))
                .contains("from 100 to 599")
        );
        assert!(created(json!([1])).starts_with("400 bad request body"));
    }

    #[test]
    fn an_update_changes_only_what_it_names() {
        let mut toxic = Toxic::from_create(
            &json!({"type": "latency", "attributes": {"latency": 100, "jitter": 10}}),
        )
        .unwrap();
        toxic
            .update(&json!({"attributes": {"latency": 250}}))
            .unwrap();
        toxic.update(&json!({"toxicity": 0.25})).unwrap();
        assert_eq!(
            toxic.to_json().to_string(),
            r#"{"attributes":{"latency":250,"jitter":10},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":0.25}"#
        );
        let before = toxic.clone();
        assert!(
            toxic
                .update(&json!({"attributes": {"latency": "x"}, "toxicity": 0.5}))
                .is_err()
        );
        assert_eq!(toxic, before, "a refused update changed the toxic");
    }
}
