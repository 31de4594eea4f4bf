//! The game API's shared shapes, a leaf of the `api` modules: the action request bodies
//! (read through serde, [`super::body`]), the JSON answer helper, and the OpenAPI
//! descriptions of the answers ([`schemas`]).
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
    pub player: String,
    /// The logical target (or service) you see suffering.
    #[serde(deserialize_with = "field::name")]
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
    pub player: String,
    /// The logical target at fault.
    #[serde(deserialize_with = "field::name")]
    pub target: String,
    /// The fault kind, such as `latency` or `kill` (`GET /api/v1/game` lists them).
    #[serde(deserialize_with = "field::name")]
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
    pub player: String,
    /// Why, for the timeline (`paused by PLAYER` if absent).
    #[serde(default, deserialize_with = "field::optional_long_text")]
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
    pub player: String,
    /// The scenario; one drawn from the deck if absent.
    #[serde(default, deserialize_with = "field::optional_name")]
    pub scenario: Option<String>,
    /// The team; one the scenario can be played against if absent.
    #[serde(default, deserialize_with = "field::optional_name")]
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
    pub player: String,
    /// The `manual` scenario you carried out by hand.
    #[serde(deserialize_with = "field::name")]
    pub scenario: String,
    /// The team (required when several can play it).
    #[serde(default, deserialize_with = "field::optional_name")]
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
    pub player: String,
    /// The team.
    #[serde(deserialize_with = "field::name")]
    pub team: String,
    /// Points to add, negative to take (not 0).
    #[schema(minimum = -100_000, maximum = 100_000)]
    #[serde(deserialize_with = "field::points")]
    pub points: i64,
    /// Why (in the log and on the timeline).
    #[serde(deserialize_with = "field::long_text")]
    pub reason: String,
}

impl ActionBody for AdjustBody {
    const FIELDS: &'static [&'static str] = &["player", "team", "points", "reason"];
    const EXAMPLE: &'static str =
        r#"{"player": "grace", "team": "checkout", "points": 50, "reason": "best postmortem"}"#;
}

/// OpenAPI descriptions of the answers, which are the domain's and the game server's types
/// (which know nothing of OpenAPI). A test checks each against the real type's JSON.
pub mod schemas {
    #![allow(dead_code)]

    use std::collections::BTreeMap;

    use utoipa::ToSchema;

    /// Where the game is.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum Status {
        /// Not started yet.
        NotStarted,
        /// Running.
        Running,
        /// Paused: every clock is frozen.
        Paused,
        /// Over.
        Ended,
    }

    /// Where an incident is.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum IncidentState {
        /// Its faults are active; the team has not detected it.
        Open,
        /// The team detected it.
        Detected,
        /// The team diagnosed it correctly.
        Diagnosed,
        /// Fixed and verified, healed by a diagnosis, or (timed) over.
        Resolved,
        /// Its deadline passed.
        Expired,
        /// The game master, the kill switch or the end of the game closed it.
        Cancelled,
    }

    /// How an incident ends.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum Resolution {
        /// The team repairs and claims; the referee's probes verify.
        Fix,
        /// A correct diagnosis heals it.
        Diagnose,
        /// It reverts itself after its duration.
        Timed,
        /// The game master broke something by hand.
        Manual,
    }

    /// The game's public description.
    #[derive(ToSchema)]
    pub struct GameInfo {
        /// The game's name.
        pub game: String,
        /// Where the game is.
        pub status: Status,
        /// The teams.
        pub teams: Vec<String>,
        /// The logical targets each team owns (for declarations and diagnoses).
        pub owns: BTreeMap<String, Vec<String>>,
        /// The fault kinds a diagnosis may name.
        pub fault_kinds: Vec<String>,
        /// When the game started, unix ms.
        pub started_ms: Option<i64>,
        /// Whether the host takes faults (false after the kill switch).
        pub armed: bool,
        /// The last event's sequence number.
        pub seq: u64,
        /// The team of the caller's token, if it is a team's.
        pub your_team: Option<String>,
    }

    /// Points by what earned or cost them.
    #[derive(ToSchema)]
    pub struct Breakdown {
        /// Detection.
        pub detect: i64,
        /// Diagnosis.
        pub diagnose: i64,
        /// Resolution.
        pub resolve: i64,
        /// Hints bought (zero or negative).
        pub hints: i64,
        /// False alarms (zero or negative).
        pub penalties: i64,
        /// The game master's adjustments.
        pub adjustments: i64,
    }

    /// A team's standing.
    #[derive(ToSchema)]
    pub struct TeamScore {
        /// Its place (1 is first); teams level on points and time share one.
        pub rank: u32,
        /// The team.
        pub team: String,
        /// Total points.
        pub points: i64,
        /// By source.
        pub breakdown: Breakdown,
        /// Incidents it resolved.
        pub resolved: u32,
        /// Its false alarms.
        pub false_alarms: u32,
        /// Total running time to resolve its resolved incidents, ms (less breaks a tie).
        pub time_to_resolve_ms: u64,
    }

    /// The ground truth of an incident: logical target and fault kind.
    #[derive(ToSchema)]
    pub struct Diagnosis {
        /// The logical target.
        pub target: String,
        /// The fault kind.
        pub kind: String,
    }

    /// A fault of an incident (once it closes, or to the game master).
    #[derive(ToSchema)]
    pub struct FaultSummary {
        /// The logical target.
        pub target: String,
        /// The fault kind.
        pub kind: String,
        /// One line for people.
        pub description: String,
        /// Labels a firing alert must carry to detect the incident (absent if none).
        pub alert_match: Option<BTreeMap<String, String>>,
    }

    /// A hint as the caller sees it.
    #[derive(ToSchema)]
    pub struct HintView {
        /// Its index, to buy it.
        pub index: u64,
        /// Its price.
        pub cost: u32,
        /// Its text, once bought (or once the incident closed).
        pub text: Option<String>,
        /// Whether the team bought it.
        pub bought: bool,
    }

    /// An incident as the caller may see it: `null` fields are hidden from this caller.
    #[derive(ToSchema)]
    pub struct IncidentView {
        /// Its number.
        pub id: u64,
        /// The team it is against.
        pub team: String,
        /// Where it is.
        pub state: IncidentState,
        /// The scenario (once closed).
        pub scenario: Option<String>,
        /// Its difficulty (to its team, and once closed).
        pub difficulty: Option<u32>,
        /// How it ends (to its team, and once closed).
        pub resolution: Option<Resolution>,
        /// When its faults became active, unix ms.
        pub opened_ms: Option<i64>,
        /// When it was detected, unix ms.
        pub detected_ms: Option<i64>,
        /// When it closed, unix ms.
        pub closed_ms: Option<i64>,
        /// Why it closed.
        pub closed_reason: Option<String>,
        /// The ground truth (once closed).
        pub diagnosis: Option<Diagnosis>,
        /// Its faults (once closed).
        pub faults: Option<Vec<FaultSummary>>,
        /// Its hints (to its team).
        pub hints: Option<Vec<HintView>>,
        /// Diagnoses submitted (to its team).
        pub tries: Option<u32>,
        /// Whether a fix is claimed and being verified (to its team).
        pub claimed: Option<bool>,
        /// The points it earned or cost.
        pub points: Breakdown,
    }

    /// The game as the caller may see it.
    #[derive(ToSchema)]
    pub struct View {
        /// Where the game is.
        pub status: Status,
        /// The standings, best first.
        pub scoreboard: Vec<TeamScore>,
        /// The incidents the caller may see, oldest first.
        pub incidents: Vec<IncidentView>,
    }

    /// What a timeline entry is about.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum TimelineKind {
        /// The game started.
        GameStarted,
        /// The game paused.
        Paused,
        /// The game resumed.
        Resumed,
        /// The game ended.
        GameEnded,
        /// A scenario's faults became active against a team.
        Injection,
        /// A team's declaration detected an incident.
        Declaration,
        /// A declaration that matched no open incident.
        FalseAlarm,
        /// A firing alert (which detected an incident, or matched none).
        Alert,
        /// A diagnosis, right or wrong.
        Diagnosis,
        /// A hint bought.
        Hint,
        /// A claim that an incident is fixed.
        Claim,
        /// A claim's verification failed.
        VerificationFailed,
        /// A fault went away.
        Revert,
        /// An incident was resolved.
        Resolved,
        /// An incident's deadline passed.
        Expired,
        /// An incident was cancelled.
        Cancelled,
        /// The kill switch.
        KillSwitch,
        /// Faults allowed again after the kill switch.
        Rearmed,
        /// A guard probe failed.
        GuardFailed,
        /// The game master adjusted a team's points.
        Adjustment,
    }

    /// One line of the timeline.
    #[derive(ToSchema)]
    pub struct TimelineEntry {
        /// The event it comes from.
        pub seq: u64,
        /// When, unix ms.
        pub at_ms: i64,
        /// What it is about.
        pub kind: TimelineKind,
        /// The team concerned, if one.
        pub team: Option<String>,
        /// The incident concerned, if one.
        pub incident: Option<u64>,
        /// What happened, for people.
        pub text: String,
        /// The change in the team's points.
        pub points: i64,
    }

    /// What an accepted action did, once its events are durable.
    #[derive(ToSchema)]
    pub struct Ack {
        /// The sequence number of its (last) event; 0 if it changed nothing in the log.
        pub seq: u64,
        /// When, unix ms.
        pub at_ms: i64,
        /// One line for people, such as `detected incident #3 (+90)`.
        pub message: String,
        /// The change in the acting team's points.
        pub points: i64,
        /// The incident acted on, as the actor now sees it (absent if none).
        pub incident: Option<IncidentView>,
        /// The hint bought (absent if none).
        pub hint: Option<HintView>,
    }

    /// An active fault (the game master's view).
    #[derive(ToSchema)]
    pub struct ActiveFault {
        /// Its id in the revert journal.
        pub id: i64,
        /// The incident it belongs to, if it is this game's.
        pub incident: Option<u64>,
        /// The team of that incident.
        pub team: Option<String>,
        /// The logical target.
        pub target: Option<String>,
        /// What it is.
        pub description: String,
        /// When its timer reverts it, unix ms.
        pub expires_ms: Option<i64>,
        /// Milliseconds left before its timer reverts it.
        pub left_ms: Option<i64>,
        /// Who asked for it (`game:NAME`, `cli`...).
        pub origin: String,
    }

    /// The result of one check.
    #[derive(ToSchema)]
    pub struct ProbeResult {
        /// Whether the check passed.
        pub ok: bool,
        /// What it saw, in one line: `HTTP 200 in 3 ms`, `connection refused`...
        pub detail: String,
        /// How long it took, ms.
        pub took_ms: u64,
    }

    /// The last result of a probe or guard (the game master's view).
    #[derive(ToSchema)]
    pub struct ProbeHealth {
        /// Its name in the game file.
        pub name: String,
        /// `probe` (the referee's) or `guard` (safety).
        pub role: String,
        /// The team whose replica it checks, for per-team probes.
        pub team: Option<String>,
        /// Its last result, if it ran.
        pub last: Option<ProbeResult>,
        /// When it last ran, unix ms.
        pub checked_ms: Option<i64>,
        /// Since when it fails, unix ms.
        pub failing_since_ms: Option<i64>,
    }

    /// Alertmanager's webhook payload, version 4 (the fields read; others are ignored).
    #[derive(ToSchema, serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct AlertmanagerPayload {
        /// `"4"`.
        pub version: Option<String>,
        /// The group's status: `firing` or `resolved`.
        pub status: Option<String>,
        /// The alerts.
        pub alerts: Vec<Alert>,
    }

    /// One alert of a payload.
    #[derive(ToSchema, serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Alert {
        /// `firing` (passed to the referee) or `resolved` (ignored).
        pub status: Option<String>,
        /// Its labels, matched against the targets' `alert_match`.
        pub labels: Option<BTreeMap<String, String>>,
        /// When it started firing, RFC 3339.
        pub starts_at: Option<String>,
    }
}
