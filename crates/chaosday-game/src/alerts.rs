//! Alerts intake (SPEC §2, §5): a team's Alertmanager webhook payload, version 4, read into
//! the alerts the referee logs, the firing ones matched against its targets' `alert_match`
//! matchers. Resolved alerts and repeats are logged and score nothing; unknown fields are
//! ignored; only a malformed payload is refused, with the path of the field at fault
//! (Alertmanager retries 5xx only, and a payload that does not parse would not parse the
//! next time either).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::limits::MAX_ALERTS;
use crate::{ActionError, ReceivedAlert};

/// The player name the referee records for alerts (their actor is the team's alerting).
pub const ALERT_PLAYER: &str = "alertmanager";

/// A payload as Alertmanager sends it, for error messages.
pub const EXAMPLE: &str = r#"{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"service": "cart"}, "startsAt": "2027-03-12T09:31:00Z"}]}"#;

fn bad(field: impl Into<String>, detail: impl Into<String>) -> ActionError {
    ActionError::BadInput {
        field: field.into(),
        detail: detail.into(),
    }
}

/// The alerts of a payload, firing and resolved, in its order; an alert without a start
/// time started at `now_ms`, a resolved one without an end time ended then.
pub fn parse(bytes: &[u8], now_ms: i64) -> Result<Vec<ReceivedAlert>, ActionError> {
    let payload: Value = serde_json::from_slice(bytes).map_err(|e| {
        bad(
            "body",
            format!("{e}: send Alertmanager's JSON payload, such as {EXAMPLE}"),
        )
    })?;
    let Value::Object(payload) = payload else {
        return Err(bad(
            "body",
            format!("expected Alertmanager's JSON object, such as {EXAMPLE}"),
        ));
    };
    match payload.get("version") {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) if v == "4" => {}
        Some(other) => {
            return Err(bad(
                "version",
                format!(
                    "this receiver reads Alertmanager's webhook payload version \"4\", got {other}"
                ),
            ));
        }
    }
    let Some(Value::Array(alerts)) = payload.get("alerts") else {
        return Err(bad(
            "alerts",
            format!("expected a list of alerts, such as {EXAMPLE}"),
        ));
    };
    if alerts.len() > MAX_ALERTS {
        return Err(bad(
            "alerts",
            format!(
                "{} alerts in one payload; at most {MAX_ALERTS} are read",
                alerts.len()
            ),
        ));
    }
    let mut received = Vec::new();
    for (i, alert) in alerts.iter().enumerate() {
        let at = |field: &str| format!("alerts[{i}].{field}");
        let Value::Object(alert) = alert else {
            return Err(bad(format!("alerts[{i}]"), "expected an object"));
        };
        // An alert without a status is firing (the group's status then says the same).
        let status = match alert.get("status") {
            None | Some(Value::Null) => payload
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("firing"),
            Some(Value::String(status)) => status.as_str(),
            Some(_) => {
                return Err(bad(at("status"), "expected \"firing\" or \"resolved\""));
            }
        };
        let resolved = match status {
            "firing" => false,
            "resolved" => true,
            other => {
                return Err(bad(
                    at("status"),
                    format!("expected \"firing\" or \"resolved\", got {other:?}"),
                ));
            }
        };
        let labels = match alert.get("labels") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(labels)) => labels
                .iter()
                .map(|(name, value)| match value {
                    Value::String(value) => Ok((name.clone(), value.clone())),
                    _ => Err(bad(
                        at(&format!("labels.{name}")),
                        "expected a string (Prometheus label values are strings)",
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad(at("labels"), "expected an object of strings")),
        };
        let starts_at_ms = match alert.get("startsAt") {
            None | Some(Value::Null) => now_ms,
            Some(Value::String(text)) => starts_at(text, now_ms).ok_or_else(|| {
                bad(
                    at("startsAt"),
                    format!("expected an RFC 3339 time such as 2027-03-12T09:31:00Z, got {text:?}"),
                )
            })?,
            Some(_) => {
                return Err(bad(
                    at("startsAt"),
                    "expected an RFC 3339 time such as 2027-03-12T09:31:00Z",
                ));
            }
        };
        let fingerprint = match alert.get("fingerprint") {
            Some(Value::String(f)) if !f.trim().is_empty() => f.trim().to_owned(),
            None | Some(Value::Null | Value::String(_)) => {
                chaosday_domain::alerting::fingerprint(&labels)
            }
            Some(_) => return Err(bad(at("fingerprint"), "expected a string")),
        };
        let resolved_ms = if resolved {
            Some(match alert.get("endsAt") {
                None | Some(Value::Null) => now_ms,
                Some(Value::String(text)) => starts_at(text, now_ms).ok_or_else(|| {
                    bad(
                        at("endsAt"),
                        format!(
                            "expected an RFC 3339 time such as 2027-03-12T09:41:00Z, got {text:?}"
                        ),
                    )
                })?,
                Some(_) => {
                    return Err(bad(
                        at("endsAt"),
                        "expected an RFC 3339 time such as 2027-03-12T09:41:00Z",
                    ));
                }
            })
        } else {
            None
        };
        received.push(ReceivedAlert {
            labels,
            starts_at_ms,
            fingerprint,
            resolved_ms,
        });
    }
    Ok(received)
}

/// An RFC 3339 time in unix ms; Go's zero time (`0001-01-01T00:00:00Z`, "unknown") is now.
/// (Also for a resolved alert's `endsAt`.)
fn starts_at(text: &str, now_ms: i64) -> Option<i64> {
    let at: jiff::Timestamp = text.parse().ok()?;
    if at.as_second() <= 0 {
        return Some(now_ms);
    }
    Some(at.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    /// A payload as Alertmanager 0.25 sends it, with one firing and one resolved alert.
    const PAYLOAD: &str = r#"{
      "receiver": "chaosday",
      "status": "firing",
      "alerts": [
        {
          "status": "firing",
          "labels": {"alertname": "CartSlow", "service": "cart", "severity": "page"},
          "annotations": {"summary": "cart p99 above 1s"},
          "startsAt": "2027-03-12T09:31:00.123Z",
          "endsAt": "0001-01-01T00:00:00Z",
          "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
          "fingerprint": "c3c3b4f2a1e0d9f8"
        },
        {
          "status": "resolved",
          "labels": {"alertname": "SearchDown", "service": "search"},
          "annotations": {},
          "startsAt": "2027-03-12T09:00:00Z",
          "endsAt": "2027-03-12T09:10:00Z",
          "generatorURL": "",
          "fingerprint": "aaaa"
        }
      ],
      "groupLabels": {"alertname": "CartSlow"},
      "commonLabels": {"alertname": "CartSlow"},
      "commonAnnotations": {},
      "externalURL": "http://alertmanager:9093",
      "version": "4",
      "groupKey": "{}:{alertname=\"CartSlow\"}",
      "truncatedAlerts": 0,
      "somethingNew": {"from": "a later Alertmanager"}
    }"#;

    fn field(error: ActionError) -> String {
        match error {
            ActionError::BadInput { field, .. } => field,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn passes_on_firing_and_resolved_alerts_and_ignores_unknown_fields() {
        let alerts = parse(PAYLOAD.as_bytes(), NOW).unwrap();
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].labels["service"], "cart");
        assert_eq!(alerts[0].labels.len(), 3);
        assert_eq!(alerts[0].fingerprint, "c3c3b4f2a1e0d9f8");
        assert_eq!(alerts[0].resolved_ms, None);
        let ms = |text: &str| text.parse::<jiff::Timestamp>().unwrap().as_millisecond();
        assert_eq!(alerts[0].starts_at_ms, ms("2027-03-12T09:31:00.123Z"));
        assert_eq!(alerts[1].labels["service"], "search");
        assert_eq!(alerts[1].resolved_ms, Some(ms("2027-03-12T09:10:00Z")));
    }

    #[test]
    fn a_resolved_alert_without_an_end_ended_when_received() {
        let payload = r#"{"version": "4", "status": "resolved", "alerts": [{"status": "resolved", "labels": {"a": "b"}, "startsAt": "2027-03-12T09:00:00Z"}]}"#;
        let alerts = parse(payload.as_bytes(), NOW).unwrap();
        assert_eq!(alerts[0].resolved_ms, Some(NOW));
        assert!(parse(br#"{"alerts": []}"#, NOW).unwrap().is_empty());
    }

    #[test]
    fn a_malformed_payload_names_the_field() {
        let cases = [
            ("", "body"),
            ("[]", "body"),
            (r#"{"version": "3", "alerts": []}"#, "version"),
            (r#"{"version": 4, "alerts": []}"#, "version"),
            (r#"{"version": "4"}"#, "alerts"),
            (r#"{"alerts": {}}"#, "alerts"),
            (r#"{"alerts": [1]}"#, "alerts[0]"),
            (
                r#"{"alerts": [{"status": "firing", "startsAt": "yesterday"}]}"#,
                "alerts[0].startsAt",
            ),
            (
                r#"{"alerts": [{"status": "firing", "startsAt": 5}]}"#,
                "alerts[0].startsAt",
            ),
            (r#"{"alerts": [{"status": "pending"}]}"#, "alerts[0].status"),
            (
                r#"{"alerts": [{"status": "resolved", "endsAt": "soon"}]}"#,
                "alerts[0].endsAt",
            ),
            (
                r#"{"alerts": [{"status": "firing", "labels": {"service": 1}}]}"#,
                "alerts[0].labels.service",
            ),
            (
                r#"{"alerts": [{"status": "firing", "labels": ["a"]}]}"#,
                "alerts[0].labels",
            ),
        ];
        for (payload, expected) in cases {
            assert_eq!(
                field(parse(payload.as_bytes(), NOW).unwrap_err()),
                expected,
                "{payload}"
            );
        }
    }

    #[test]
    fn go_zero_start_time_and_no_start_time_mean_now() {
        assert_eq!(starts_at("0001-01-01T00:00:00Z", NOW), Some(NOW));
        let alerts = parse(br#"{"alerts": [{"labels": {"a": "b"}}]}"#, NOW).unwrap();
        assert_eq!(alerts[0].starts_at_ms, NOW);
    }
}
