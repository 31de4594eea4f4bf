//! The Alertmanager webhook receiver (SPEC §5): `POST /api/v1/alerts/alertmanager`, payload
//! version 4, with the team's token as Alertmanager's bearer credentials
//! (`http_config: {authorization: {credentials: TOKEN}}` in its `webhook_configs`).
//!
//! Firing alerts go to the referee, which detects the team's incidents whose targets'
//! `alert_match` labels they carry; resolved alerts, repeats and unknown fields change
//! nothing. Only a malformed payload is a 4xx (Alertmanager retries 5xx only, and a payload
//! that does not parse would not parse the next time either).

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::Value;

use super::AppState;
use super::access::Who;
use super::body;
use super::error::ApiError;
use super::types::{json, schemas};
use chaosday_game::auth::Identity;
use chaosday_game::{Ack, Action, Caller, FiringAlert};

/// The largest payload read (Alertmanager groups many alerts in one).
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;

/// The most alerts one payload may carry.
pub const MAX_ALERTS: usize = 1_000;

/// The player name the referee sees for alerts (their actor is the team's alerting).
pub const ALERT_PLAYER: &str = "alertmanager";

const EXAMPLE: &str = r#"{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"service": "cart"}, "startsAt": "2027-03-12T09:31:00Z"}]}"#;

/// Receives a team's Alertmanager notification.
#[utoipa::path(post, path = "/api/v1/alerts/alertmanager", tag = "team",
    request_body(content = schemas::AlertmanagerPayload, description = "Alertmanager's webhook payload, version 4; unknown fields are ignored"),
    responses((status = 200, description = "Received; the Ack says what the firing alerts detected", body = schemas::Ack)),
    security(("bearer" = [])))]
pub async fn alertmanager(
    State(state): State<AppState>,
    who: Who,
    request: Request,
) -> Result<Response, ApiError> {
    let team = match &who {
        Who::Known(Identity::Team(team)) => team.clone(),
        Who::Known(Identity::GameMaster) => {
            return Err(ApiError::Forbidden(
                "alerts belong to a team: configure each team's Alertmanager with that team's token".into(),
            ));
        }
        Who::Anonymous => {
            return Err(ApiError::Unauthorized(
                "send the team's token as Alertmanager's bearer credentials: http_config: {authorization: {credentials: TOKEN}} in the webhook_configs".into(),
            ));
        }
    };
    let bytes = body::read(request, MAX_PAYLOAD).await?;
    let alerts = parse(&bytes)?;
    if alerts.is_empty() {
        return Ok(json(&Ack {
            seq: 0,
            at_ms: jiff::Timestamp::now().as_millisecond(),
            message: "no firing alerts: nothing to detect".into(),
            points: 0,
            incident: None,
            hint: None,
        }));
    }
    let caller = Caller::Team {
        team,
        player: ALERT_PLAYER.into(),
    };
    let ack = state.server.act(&caller, Action::Alerts { alerts }).await?;
    Ok(json(&ack))
}

/// The firing alerts of a payload.
pub fn parse(bytes: &[u8]) -> Result<Vec<FiringAlert>, ApiError> {
    let Value::Object(payload) = body::json(bytes, EXAMPLE)? else {
        return Err(ApiError::bad(
            "body",
            format!("expected Alertmanager's JSON object, such as {EXAMPLE}"),
        ));
    };
    match payload.get("version") {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) if v == "4" => {}
        Some(other) => {
            return Err(ApiError::bad(
                "version",
                format!(
                    "this receiver reads Alertmanager's webhook payload version \"4\", got {other}"
                ),
            ));
        }
    }
    let Some(Value::Array(alerts)) = payload.get("alerts") else {
        return Err(ApiError::bad(
            "alerts",
            format!("expected a list of alerts, such as {EXAMPLE}"),
        ));
    };
    if alerts.len() > MAX_ALERTS {
        return Err(ApiError::bad(
            "alerts",
            format!(
                "{} alerts in one payload; at most {MAX_ALERTS} are read",
                alerts.len()
            ),
        ));
    }
    let mut firing = Vec::new();
    for (i, alert) in alerts.iter().enumerate() {
        let at = |field: &str| format!("alerts[{i}].{field}");
        let Value::Object(alert) = alert else {
            return Err(ApiError::bad(format!("alerts[{i}]"), "expected an object"));
        };
        // An alert without a status is firing (the group's status then says the same).
        let status = match alert.get("status") {
            None | Some(Value::Null) => payload
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("firing"),
            Some(Value::String(status)) => status.as_str(),
            Some(_) => {
                return Err(ApiError::bad(
                    at("status"),
                    "expected \"firing\" or \"resolved\"",
                ));
            }
        };
        match status {
            "firing" => {}
            "resolved" => continue,
            other => {
                return Err(ApiError::bad(
                    at("status"),
                    format!("expected \"firing\" or \"resolved\", got {other:?}"),
                ));
            }
        }
        let labels = match alert.get("labels") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(labels)) => labels
                .iter()
                .map(|(name, value)| match value {
                    Value::String(value) => Ok((name.clone(), value.clone())),
                    _ => Err(ApiError::bad(
                        at(&format!("labels.{name}")),
                        "expected a string (Prometheus label values are strings)",
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(ApiError::bad(at("labels"), "expected an object of strings")),
        };
        let starts_at_ms = match alert.get("startsAt") {
            None | Some(Value::Null) => jiff::Timestamp::now().as_millisecond(),
            Some(Value::String(text)) => starts_at(text).ok_or_else(|| {
                ApiError::bad(
                    at("startsAt"),
                    format!("expected an RFC 3339 time such as 2027-03-12T09:31:00Z, got {text:?}"),
                )
            })?,
            Some(_) => {
                return Err(ApiError::bad(
                    at("startsAt"),
                    "expected an RFC 3339 time such as 2027-03-12T09:31:00Z",
                ));
            }
        };
        firing.push(FiringAlert {
            labels,
            starts_at_ms,
        });
    }
    Ok(firing)
}

/// An RFC 3339 time in unix ms; Go's zero time (`0001-01-01T00:00:00Z`, "unknown") is now.
fn starts_at(text: &str) -> Option<i64> {
    let at: jiff::Timestamp = text.parse().ok()?;
    if at.as_second() <= 0 {
        return Some(jiff::Timestamp::now().as_millisecond());
    }
    Some(at.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn field(error: ApiError) -> String {
        match error {
            ApiError::BadRequest { field, .. } => field,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn passes_on_firing_alerts_and_ignores_resolved_ones_and_unknown_fields() {
        let alerts = parse(PAYLOAD.as_bytes()).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].labels["service"], "cart");
        assert_eq!(alerts[0].labels.len(), 3);
        let expected: jiff::Timestamp = "2027-03-12T09:31:00.123Z".parse().unwrap();
        assert_eq!(alerts[0].starts_at_ms, expected.as_millisecond());
    }

    #[test]
    fn a_payload_of_only_resolved_alerts_fires_nothing() {
        let payload = r#"{"version": "4", "status": "resolved", "alerts": [{"status": "resolved", "labels": {"a": "b"}, "startsAt": "2027-03-12T09:00:00Z"}]}"#;
        assert!(parse(payload.as_bytes()).unwrap().is_empty());
        assert!(parse(br#"{"alerts": []}"#).unwrap().is_empty());
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
                field(parse(payload.as_bytes()).unwrap_err()),
                expected,
                "{payload}"
            );
        }
    }

    #[test]
    fn go_zero_start_time_means_now() {
        let before = jiff::Timestamp::now().as_millisecond();
        let at = starts_at("0001-01-01T00:00:00Z").unwrap();
        assert!(at >= before);
    }
}
