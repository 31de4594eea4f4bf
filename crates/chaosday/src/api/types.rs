//! The game API's shared shapes, a leaf of the `api` modules: the action request bodies
//! (read through serde, [`super::body`]), the JSON answer helper, and the OpenAPI
//! description of the Alertmanager payload ([`schemas`]). The answers' descriptions are
//! derived from their real types.
//!
//! The handlers, the Alertmanager receiver and the OpenAPI document all use these; none of
//! them is used here, so the document only reads types and the handlers never import it.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::{self, field};
use super::error::ApiError;

/// `value` as a JSON answer.
pub fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "an answer could not be written as JSON");
            ApiError::Unavailable(format!("the answer could not be written as JSON: {e}"))
                .into_response()
        }
    }
}

/// A body of an action: its fields, an example, and serde's reading of it.
pub trait ActionBody: serde::de::DeserializeOwned {
    /// Every field it takes (serde refuses others; the OpenAPI schema has the same, a test
    /// checks).
    const FIELDS: &'static [&'static str];
    /// A valid body, shown in errors.
    const EXAMPLE: &'static str;

    /// Parses `body`.
    fn parse(body: &[u8]) -> Result<Self, ApiError> {
        body::parse(body, Self::FIELDS, Self::EXAMPLE)
    }
}

/// `POST /api/v1/declare`.
#[derive(Debug, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareBody {
    /// The player's name (1–64 characters).
    #[serde(deserialize_with = "field::player")]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub player: String,
    /// The logical target (or service) you see suffering.
    #[serde(deserialize_with = "field::name")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub target: String,
}

impl ActionBody for DeclareBody {
    const FIELDS: &'static [&'static str] = &["player", "target"];
    const EXAMPLE: &'static str = r#"{"player": "ada", "target": "cart"}"#;
}

/// `POST /api/v1/incidents/{id}/diagnose`.
#[derive(Debug, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagnoseBody {
    /// The player's name (1–64 characters).
    #[serde(deserialize_with = "field::player")]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub player: String,
    /// The logical target at fault.
    #[serde(deserialize_with = "field::name")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub target: String,
    /// The fault kind, such as `latency` or `kill` (`GET /api/v1/game` lists them).
    #[serde(deserialize_with = "field::name")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub kind: String,
}

impl ActionBody for DiagnoseBody {
    const FIELDS: &'static [&'static str] = &["player", "target", "kind"];
    const EXAMPLE: &'static str =
        r#"{"player": "ada", "target": "cart-db-link", "kind": "latency"}"#;
}

/// `POST /api/v1/incidents/{id}/hints`.
#[derive(Debug, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HintBody {
    /// The player's name (1–64 characters).
    #[serde(deserialize_with = "field::player")]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub player: String,
    /// Which hint (0-based); the next one not bought if absent.
    #[schema(minimum = 0, maximum = 1000)]
    #[serde(default, deserialize_with = "field::hint_index")]
    pub hint: Option<u64>,
}

impl ActionBody for HintBody {
    const FIELDS: &'static [&'static str] = &["player", "hint"];
    const EXAMPLE: &'static str = r#"{"player": "ada", "hint": 0}"#;
}

/// A body with only the player: resolve, start, resume, end, abort, rearm.
#[derive(Debug, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlayerBody {
    /// The player's name (1–64 characters).
    #[serde(deserialize_with = "field::player")]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub player: String,
}

impl ActionBody for PlayerBody {
    const FIELDS: &'static [&'static str] = &["player"];
    const EXAMPLE: &'static str = r#"{"player": "ada"}"#;
}

/// `POST /api/v1/game/pause`.
#[derive(Debug, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseBody {
    /// The game master's name (1–64 characters).
    #[serde(deserialize_with = "field::player")]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub player: String,
    /// Why, for the timeline (`paused by PLAYER` if absent).
    #[serde(default, deserialize_with = "field::optional_long_text")]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: Option<String>,
}

impl ActionBody for PauseBody {
    const FIELDS: &'static [&'static str] = &["player", "reason"];
    const EXAMPLE: &'static str = r#"{"player": "grace", "reason": "lunch"}"#;
}

/// `POST /api/v1/unleash`.
#[derive(Debug, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnleashBody {
    /// The game master's name (1–64 characters).
    #[serde(deserialize_with = "field::player")]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub player: String,
    /// The scenario; one drawn from the deck if absent.
    #[serde(default, deserialize_with = "field::optional_name")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub scenario: Option<String>,
    /// The team; one the scenario can be played against if absent.
    #[serde(default, deserialize_with = "field::optional_name")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub team: Option<String>,
}

impl ActionBody for UnleashBody {
    const FIELDS: &'static [&'static str] = &["player", "scenario", "team"];
    const EXAMPLE: &'static str =
        r#"{"player": "grace", "scenario": "slow-database", "team": "checkout"}"#;
}

/// `POST /api/v1/inject-manual`.
#[derive(Debug, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InjectManualBody {
    /// The game master's name (1–64 characters).
    #[serde(deserialize_with = "field::player")]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub player: String,
    /// The `manual` scenario you carried out by hand.
    #[serde(deserialize_with = "field::name")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub scenario: String,
    /// The team (required when several can play it).
    #[serde(default, deserialize_with = "field::optional_name")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub team: Option<String>,
}

impl ActionBody for InjectManualBody {
    const FIELDS: &'static [&'static str] = &["player", "scenario", "team"];
    const EXAMPLE: &'static str =
        r#"{"player": "grace", "scenario": "unplugged-cable", "team": "checkout"}"#;
}

/// `POST /api/v1/adjust`.
#[derive(Debug, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustBody {
    /// The game master's name (1–64 characters).
    #[serde(deserialize_with = "field::player")]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub player: String,
    /// The team.
    #[serde(deserialize_with = "field::name")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub team: String,
    /// Points to add, negative to take (not 0).
    #[schema(minimum = -100_000, maximum = 100_000)]
    #[serde(deserialize_with = "field::points")]
    pub points: i64,
    /// Why (in the log and on the timeline).
    #[serde(deserialize_with = "field::long_text")]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: String,
}

impl ActionBody for AdjustBody {
    const FIELDS: &'static [&'static str] = &["player", "team", "points", "reason"];
    const EXAMPLE: &'static str =
        r#"{"player": "grace", "team": "checkout", "points": 50, "reason": "best postmortem"}"#;
}

/// OpenAPI descriptions of the Alertmanager receiver's body, which is not one of chaosday's
/// types. The answers are described by their real types (`chaosday_domain`'s and
/// `chaosday_game`'s, which derive `utoipa::ToSchema` with their `openapi` feature).
pub mod schemas {
    #![allow(dead_code)]

    use std::collections::BTreeMap;

    use utoipa::ToSchema;

    /// Alertmanager's webhook payload, version 4 (the fields read; others are ignored).
    #[derive(ToSchema, serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct AlertmanagerPayload {
        /// The payload's version: only `"4"` is read.
        pub version: Option<PayloadVersion>,
        /// The group's status.
        pub status: Option<AlertStatus>,
        /// The alerts (at most 1,000).
        #[schema(max_items = 1000)]
        pub alerts: Vec<Alert>,
    }

    /// The version of Alertmanager's webhook payload this receiver reads.
    #[derive(ToSchema, serde::Serialize)]
    pub enum PayloadVersion {
        /// Alertmanager's webhook payload version 4.
        #[serde(rename = "4")]
        V4,
    }

    /// Whether an alert fires.
    #[derive(ToSchema, serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum AlertStatus {
        /// Firing: logged, and passed to the referee.
        Firing,
        /// Resolved: logged; it changes nothing.
        Resolved,
    }

    /// One alert of a payload.
    #[derive(ToSchema, serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Alert {
        /// `firing` (passed to the referee) or `resolved` (logged, changes nothing); the
        /// group's if absent.
        pub status: Option<AlertStatus>,
        /// Its labels, matched against the targets' `alert_match`.
        pub labels: Option<BTreeMap<String, String>>,
        /// When it started firing, RFC 3339 (evidence only if after the incident opened,
        /// and never later than when chaosday first received it; detection counts when
        /// chaosday receives it). Absent: when received.
        #[schema(format = DateTime)]
        pub starts_at: Option<String>,
        /// When it resolved, RFC 3339 (read for a resolved alert only; absent: when
        /// received).
        #[schema(format = DateTime)]
        pub ends_at: Option<String>,
        /// Alertmanager's fingerprint of the alert (a false alarm is charged once per firing:
        /// the fingerprint with its `startsAt`); absent or empty, a hash of the labels.
        pub fingerprint: Option<String>,
    }
}
