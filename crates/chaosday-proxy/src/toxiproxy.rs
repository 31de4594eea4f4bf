//! The Toxiproxy 2.x wire format: JSON bodies of proxies and toxics as its API takes and
//! answers them, with Toxiproxy's defaults and error wording, and [`ApiError`], the
//! `{"error": "...", "status": N}` answers, including the one for each [`RegistryError`].
//!
//! The binary's Toxiproxy HTTP API is built on this module; the fuzz target calls its
//! parsers. The data plane ([`crate::registry`], [`crate::link`], the toxics) does not depend
//! on it: it speaks typed values ([`ProxyConfig`], [`ProxyUpdate`], [`Toxic`],
//! [`ToxicUpdate`]) and this module translates.
//!
//! Parsing is strict where Toxiproxy is lax in ways that hurt (a toxicity outside 0–1 is an
//! error here) and lenient where clients rely on it (unknown attributes are ignored, missing
//! ones are 0).

use serde_json::{Map, Value, json};

use crate::error::RegistryError;
use crate::registry::{ProxyConfig, ProxyUpdate, ProxyView, ToxicUpdate, check_host_port};
use crate::toxic::{MAX_ATTRIBUTE, Stream, TYPES, Toxic, ToxicKind, check_name, check_whole};

/// An error the API answers with a 4xx status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// What is wrong, and what to do.
    pub message: String,
}

impl ApiError {
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            message: message.into(),
        }
    }

    /// 404 `proxy not found`.
    pub fn proxy_not_found() -> Self {
        ApiError {
            status: 404,
            message: "proxy not found".into(),
        }
    }

    /// 404 `toxic not found`.
    pub fn toxic_not_found() -> Self {
        ApiError {
            status: 404,
            message: "toxic not found".into(),
        }
    }

    /// 409 `proxy already exists`.
    pub fn proxy_exists() -> Self {
        ApiError {
            status: 409,
            message: "proxy already exists".into(),
        }
    }

    /// 409 `toxic already exists`.
    pub fn toxic_exists() -> Self {
        ApiError {
            status: 409,
            message: "toxic already exists".into(),
        }
    }

    /// 400 `invalid toxic type`, naming the types there are.
    pub fn invalid_toxic_type(given: &str) -> Self {
        let given = if given.is_empty() {
            "(none)".to_owned()
        } else {
            format!("{given:?}")
        };
        ApiError::bad_request(format!(
            "invalid toxic type {given}: use one of {}",
            TYPES.join(", ")
        ))
    }

    /// 400 for a missing field, as Toxiproxy words it.
    pub fn missing_field(field: &str) -> Self {
        ApiError::bad_request(format!("missing required field: {field}"))
    }

    /// The body: `{"error": "...", "status": N}`.
    pub fn body(&self) -> Value {
        json!({"error": self.message, "status": self.status})
    }
}

/// What the Toxiproxy API answers for each refusal of the registry.
impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::ProxyNotFound { .. } => ApiError::proxy_not_found(),
            RegistryError::ToxicNotFound { .. } => ApiError::toxic_not_found(),
            RegistryError::ProxyExists { .. } => ApiError::proxy_exists(),
            RegistryError::ToxicExists { .. } => ApiError::toxic_exists(),
            RegistryError::AddressInUse { .. } => ApiError {
                status: 409,
                message: error.to_string(),
            },
            RegistryError::InvalidToxic { reason, .. } => ApiError::bad_request(reason),
            RegistryError::InvalidAddress { .. }
            | RegistryError::InvalidName { .. }
            | RegistryError::Listen { .. }
            | RegistryError::NeedsHttpProxy { .. }
            | RegistryError::NeedsTcpProxy { .. }
            | RegistryError::ToxicTypeChanged { .. } => ApiError::bad_request(error.to_string()),
        }
    }
}

/// A proxy as Toxiproxy shows it: `{name, listen, upstream, enabled, toxics}`, plus `http`
/// when set; toxics in the order given.
pub fn proxy_json(view: &ProxyView) -> Value {
    let mut map = Map::new();
    map.insert("name".into(), view.name.clone().into());
    map.insert("listen".into(), view.listen.clone().into());
    map.insert("upstream".into(), view.upstream.clone().into());
    map.insert("enabled".into(), view.enabled.into());
    if view.http {
        map.insert("http".into(), true.into());
    }
    map.insert(
        "toxics".into(),
        Value::Array(view.toxics.iter().map(toxic_json).collect()),
    );
    Value::Object(map)
}

/// Parses a proxy's create request, `{name, listen?, upstream, enabled?, http?, toxics?}`,
/// with Toxiproxy's messages for missing fields (`listen` defaults to `127.0.0.1:0`).
pub fn parse_proxy(body: &Value) -> Result<ProxyConfig, ApiError> {
    let obj = body.as_object().ok_or_else(|| {
        ApiError::bad_request("bad request body: expected a JSON object such as {\"name\": \"db\", \"listen\": \"127.0.0.1:0\", \"upstream\": \"127.0.0.1:5432\"}")
    })?;
    let text = |field: &str| -> Result<Option<String>, ApiError> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::bad_request(format!(
                "bad request body: `{field}` must be a string"
            ))),
        }
    };
    let flag = |field: &str, default: bool| -> Result<bool, ApiError> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ApiError::bad_request(format!(
                "bad request body: `{field}` must be true or false"
            ))),
        }
    };
    let name = text("name")?.ok_or_else(|| ApiError::missing_field("name"))?;
    check_name("proxy", &name).map_err(ApiError::bad_request)?;
    let upstream = text("upstream")?.ok_or_else(|| ApiError::missing_field("upstream"))?;
    check_host_port("upstream", &upstream)?;
    let listen = text("listen")?.unwrap_or_else(|| "127.0.0.1:0".into());
    check_host_port("listen", &listen)?;
    let toxics = match obj.get("toxics") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(parse_toxic).collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "bad request body: `toxics` must be a list",
            ));
        }
    };
    Ok(ProxyConfig {
        name,
        listen,
        upstream,
        enabled: flag("enabled", true)?,
        http: flag("http", false)?,
        toxics,
        sockets: crate::sockets::Sockets::default(),
    })
}

/// Parses an update of the proxy named `name`: `listen`, `upstream` and `enabled`, whichever
/// it names. A body that names none of them, or another name, is refused: it would change
/// nothing, or not what it asks. (Clients that send the whole proxy back, with its name and
/// toxics, are answered as Toxiproxy answers them.)
pub fn parse_proxy_update(name: &str, body: &Value) -> Result<ProxyUpdate, ApiError> {
    let obj = body.as_object().ok_or_else(|| {
        ApiError::bad_request(
            "bad request body: expected a JSON object such as {\"enabled\": false}",
        )
    })?;
    let text = |field: &'static str| -> Result<Option<String>, ApiError> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => {
                check_host_port(field, s)?;
                Ok(Some(s.clone()))
            }
            Some(_) => Err(ApiError::bad_request(format!(
                "bad request body: `{field}` must be a string"
            ))),
        }
    };
    let listen = text("listen")?;
    let upstream = text("upstream")?;
    let enabled = match obj.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return Err(ApiError::bad_request(
                "bad request body: `enabled` must be true or false",
            ));
        }
    };
    match obj.get("name") {
        None | Some(Value::Null) => {}
        Some(Value::String(asked)) if asked.is_empty() || asked == name => {}
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "the name of proxy {name:?} cannot change: create a proxy of the new name and delete this one"
            )));
        }
    }
    if listen.is_none() && upstream.is_none() && enabled.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: an update of a proxy sets `enabled`, `listen` or `upstream`, such as {\"enabled\": false}",
        ));
    }
    Ok(ProxyUpdate {
        listen,
        upstream,
        enabled,
    })
}

/// A toxic's attributes as a JSON object, in Toxiproxy's field order.
pub fn attributes_json(kind: &ToxicKind) -> Map<String, Value> {
    let mut map = Map::new();
    let mut put = |k: &str, v: Value| {
        map.insert(k.to_owned(), v);
    };
    match kind {
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

/// Applies the attributes named in `attrs` over those of `kind`. Unknown attributes are
/// ignored, as Toxiproxy does; a known one of the wrong type or range is an error.
pub fn merge_attributes(kind: &mut ToxicKind, attrs: &Map<String, Value>) -> Result<(), ApiError> {
    let int = |name: &str, slot: &mut i64| -> Result<(), ApiError> {
        match attrs.get(name) {
            None | Some(Value::Null) => Ok(()),
            Some(v) => match whole_number(v) {
                Some(n) => {
                    check_whole(name, n).map_err(ApiError::bad_request)?;
                    *slot = n;
                    Ok(())
                }
                None if v.is_number() && v.as_f64().is_some_and(|f| f.fract() == 0.0) => {
                    Err(ApiError::bad_request(format!(
                        "attributes.{name} must be a whole number from 0 to {MAX_ATTRIBUTE}, not {v}"
                    )))
                }
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
    match kind {
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

/// `v` as an `i64` if it is a whole number that fits (`5` and `5.0`, not `5.5` nor `1e30`).
fn whole_number(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f > i64::MIN as f64 && *f < i64::MAX as f64)
            .map(|f| f as i64)
    })
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

/// A toxic as Toxiproxy answers it: `{attributes, name, type, stream, toxicity}`.
pub fn toxic_json(toxic: &Toxic) -> Value {
    let mut map = Map::new();
    map.insert(
        "attributes".into(),
        Value::Object(attributes_json(&toxic.kind)),
    );
    map.insert("name".into(), toxic.name.clone().into());
    map.insert("type".into(), toxic.kind.type_name().into());
    map.insert("stream".into(), toxic.stream.as_str().into());
    map.insert("toxicity".into(), toxicity_json(toxic.toxicity));
    Value::Object(map)
}

/// Parses a toxic's create request: `{name?, type, stream?, toxicity?, attributes?}`, with
/// Toxiproxy's defaults (`<type>_<stream>`, `downstream`, 1).
pub fn parse_toxic(body: &Value) -> Result<Toxic, ApiError> {
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
    let mut kind =
        ToxicKind::default_of(type_name).ok_or_else(|| ApiError::invalid_toxic_type(type_name))?;
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
        merge_attributes(&mut kind, attrs)?;
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
    let toxic = Toxic {
        name,
        kind,
        stream,
        toxicity,
    };
    toxic.check()?;
    Ok(toxic)
}

/// Parses a toxic's update request against the toxic as it is: only `attributes` (merged
/// over the current ones) and `toxicity` change. Nothing is changed here: the registry
/// applies the answer ([`Registry::edit_toxic`](crate::Registry::edit_toxic)).
pub fn parse_toxic_update(current: &Toxic, body: &Value) -> Result<ToxicUpdate, ApiError> {
    let obj = body.as_object().ok_or_else(|| {
        ApiError::bad_request(
            "bad request body: expected a JSON object such as {\"toxicity\": 0.5}",
        )
    })?;
    let type_name = current.kind.type_name();
    let fixed = [
        ("name", current.name.as_str()),
        ("type", type_name),
        ("stream", current.stream.as_str()),
    ];
    for (field, now) in fixed {
        match obj.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(asked)) if asked.is_empty() || asked.eq_ignore_ascii_case(now) => {}
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "the {field} of toxic {:?} cannot change (it is {now:?}): delete the toxic and create it again",
                    current.name
                )));
            }
        }
    }
    let known = attributes_json(&current.kind);
    let attrs = attributes_of(obj)?;
    let kind = match attrs {
        Some(attrs) if attrs.keys().any(|k| known.contains_key(k)) => {
            let mut kind = current.kind.clone();
            merge_attributes(&mut kind, attrs)?;
            Some(kind)
        }
        _ => None,
    };
    let toxicity = parse_toxicity(obj.get("toxicity"))?;
    if kind.is_none() && toxicity.is_none() {
        let names: Vec<&str> = known.keys().map(String::as_str).collect();
        let mut message = format!(
            "nothing to change: an update of a {type_name} toxic sets `toxicity` or `attributes` ({})",
            names.join(", ")
        );
        if let Some(unknown) = attrs.and_then(|a| a.keys().next()) {
            message.push_str(&format!(
                "; `{unknown}` is not an attribute of a {type_name} toxic"
            ));
        }
        return Err(ApiError::bad_request(message));
    }
    Ok(ToxicUpdate { kind, toxicity })
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
        match parse_toxic(&body) {
            Ok(t) => toxic_json(&t).to_string(),
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
            "400 attributes.latency must be a whole number from 0 to 1099511627776, not -1"
        );
        assert!(
            created(json!({"type": "http_error", "attributes": {"status": 99}}))
                .contains("from 100 to 599")
        );
        assert!(created(json!([1])).starts_with("400 bad request body"));
    }

    #[test]
    fn attributes_out_of_range_or_of_no_integer_are_400s_naming_them() {
        for (attrs, answer) in [
            (
                json!({"timeout": -9_223_372_036_854_775_809.0_f64}),
                "400 attributes.timeout must be a whole number from 0 to 1099511627776, not -9.223372036854776e+18",
            ),
            (
                json!({"timeout": 1e30}),
                "400 attributes.timeout must be a whole number from 0 to 1099511627776, not 1e+30",
            ),
            (
                json!({"timeout": u64::MAX}),
                "400 attributes.timeout must be a whole number from 0 to 1099511627776, not 18446744073709551615",
            ),
            (
                json!({"timeout": MAX_ATTRIBUTE + 1}),
                "400 attributes.timeout must be a whole number from 0 to 1099511627776, not 1099511627777",
            ),
            (
                json!({"timeout": 2.5}),
                "400 attributes.timeout must be a whole number, not a fractional number",
            ),
        ] {
            assert_eq!(
                created(json!({"type": "timeout", "attributes": attrs})),
                answer
            );
        }
        assert_eq!(
            created(
                json!({"type": "slicer", "attributes": {"average_size": 10, "size_variation": i64::MAX}})
            ),
            "400 attributes.size_variation must be a whole number from 0 to 1099511627776, not 9223372036854775807"
        );
        assert!(
            created(json!({"type": "timeout", "attributes": {"timeout": MAX_ATTRIBUTE}}))
                .contains(r#""timeout":1099511627776"#)
        );
        // The registry keeps the same bounds for toxics that do not come through JSON.
        let wide = Toxic::new(ToxicKind::Bandwidth { rate: i64::MAX }, Stream::Upstream);
        assert!(
            wide.check()
                .unwrap_err()
                .to_string()
                .contains("attributes.rate")
        );
    }

    #[test]
    fn an_update_that_changes_nothing_it_can_change_says_so() {
        let toxic =
            parse_toxic(&json!({"type": "timeout", "attributes": {"timeout": 100}})).unwrap();
        let refused = |body: Value| parse_toxic_update(&toxic, &body).unwrap_err().message;
        assert_eq!(
            refused(json!({"attributes": {"delay": 5}})),
            "nothing to change: an update of a timeout toxic sets `toxicity` or `attributes` (timeout); `delay` is not an attribute of a timeout toxic"
        );
        assert!(refused(json!({})).starts_with("nothing to change"));
        assert!(refused(json!({"attributes": {}})).starts_with("nothing to change"));
        assert_eq!(
            refused(json!({"stream": "upstream", "toxicity": 0.5})),
            "the stream of toxic \"timeout_downstream\" cannot change (it is \"downstream\"): delete the toxic and create it again"
        );
        assert!(
            refused(json!({"type": "latency", "attributes": {"timeout": 1}}))
                .starts_with("the type of toxic")
        );
        assert!(refused(json!({"name": "other", "toxicity": 1})).starts_with("the name of toxic"));
        // A client that sends the whole toxic back, changed or not, is answered.
        let whole = json!({"name": "timeout_downstream", "type": "timeout", "stream": "downstream", "toxicity": 1, "attributes": {"timeout": 250}});
        let update = parse_toxic_update(&toxic, &whole).unwrap();
        assert_eq!(update.kind, Some(ToxicKind::Timeout { timeout: 250 }));
        assert_eq!(update.toxicity, Some(1.0));
    }

    #[test]
    fn a_proxy_update_that_changes_nothing_or_its_name_is_refused() {
        let refused = |body: Value| parse_proxy_update("db", &body).unwrap_err().message;
        assert!(refused(json!({})).starts_with("nothing to change: an update of a proxy sets"));
        assert!(refused(json!({"toxics": []})).starts_with("nothing to change"));
        assert!(
            refused(json!({"name": "web", "enabled": false}))
                .starts_with("the name of proxy \"db\" cannot change")
        );
        let whole = json!({"name": "db", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:5432", "enabled": false, "toxics": []});
        assert_eq!(
            parse_proxy_update("db", &whole).unwrap().enabled,
            Some(false)
        );
    }

    #[test]
    fn names_must_be_printable_without_a_slash_and_at_most_255_bytes() {
        use crate::toxic::check_name;
        for name in ["db", "redis primary", "café-01", &"x".repeat(255)] {
            check_name("proxy", name).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        }
        for (name, says) in [
            ("", "is empty"),
            ("a\0b", "holds '\\0'"),
            ("a/b", "holds '/'"),
            ("tab\there", "holds '\\t'"),
            (&"x".repeat(256), "256 bytes long: use at most 255"),
        ] {
            let error = check_name("proxy", name).unwrap_err();
            assert!(error.contains(says), "{name:?}: {error}");
        }
        let toxic = |name: &str| created(json!({"type": "latency", "name": name}));
        assert!(toxic("a/b").starts_with("400 "), "{}", toxic("a/b"));
    }

    #[test]
    fn an_update_changes_only_what_it_names() {
        let mut toxic =
            parse_toxic(&json!({"type": "latency", "attributes": {"latency": 100, "jitter": 10}}))
                .unwrap();
        let update = |toxic: &mut Toxic, body: Value| -> Result<(), ApiError> {
            let update = parse_toxic_update(toxic, &body)?;
            toxic.kind = update.kind.unwrap_or_else(|| toxic.kind.clone());
            toxic.toxicity = update.toxicity.unwrap_or(toxic.toxicity);
            Ok(())
        };
        update(&mut toxic, json!({"attributes": {"latency": 250}})).unwrap();
        update(&mut toxic, json!({"toxicity": 0.25})).unwrap();
        assert_eq!(
            toxic_json(&toxic).to_string(),
            r#"{"attributes":{"latency":250,"jitter":10},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":0.25}"#
        );
        let before = toxic.clone();
        assert!(
            update(
                &mut toxic,
                json!({"attributes": {"latency": "x"}, "toxicity": 0.5})
            )
            .is_err()
        );
        assert_eq!(toxic, before, "a refused update changed the toxic");
    }

    #[test]
    fn every_registry_error_is_answered_as_toxiproxy_answers_it() {
        let answer = |e: RegistryError| {
            let e = ApiError::from(e);
            (e.status, e.message)
        };
        assert_eq!(
            answer(RegistryError::ProxyNotFound { proxy: "x".into() }),
            (404, "proxy not found".into())
        );
        assert_eq!(
            answer(RegistryError::ToxicNotFound {
                proxy: "x".into(),
                toxic: "t".into()
            }),
            (404, "toxic not found".into())
        );
        assert_eq!(
            answer(RegistryError::ProxyExists { proxy: "x".into() }),
            (409, "proxy already exists".into())
        );
        assert_eq!(
            answer(RegistryError::ToxicExists {
                proxy: "x".into(),
                toxic: "t".into()
            }),
            (409, "toxic already exists".into())
        );
        assert_eq!(
            answer(RegistryError::AddressInUse {
                listen: "127.0.0.1:1".into()
            })
            .0,
            409
        );
        assert_eq!(
            answer(RegistryError::NeedsHttpProxy {
                toxic_type: "http_error"
            }),
            (
                400,
                "http_error needs an HTTP proxy: create the proxy with \"http\": true".into()
            )
        );
    }

    #[test]
    fn a_parsed_toxic_passes_the_registry_s_check() {
        for type_name in TYPES {
            let toxic = parse_toxic(&json!({ "type": type_name })).expect("valid");
            toxic.check().expect("in range");
            assert_eq!(toxic, Toxic::new(toxic.kind.clone(), Stream::Downstream));
        }
    }
}
