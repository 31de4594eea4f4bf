//! The OpenAPI 3.1 document of the game API, `GET /api/v1/openapi.json`, generated from the
//! handlers' annotations (utoipa), with the bearer security scheme and every error answer.
//!
//! The answers' shapes are domain types that know nothing of OpenAPI; [`schemas`] describes
//! them, and a test checks each description against the real type's JSON, field by field.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::AppState;
use super::error::ErrorBody;
use super::handlers::{
    AdjustBody, DeclareBody, DiagnoseBody, HintBody, InjectManualBody, PauseBody, PlayerBody,
    UnleashBody,
};
use super::{alerts, handlers, sse};

/// The game API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "chaosday game API",
        description = "The REST API of a chaosday game server (a Day of Chaos). JSON in and out; every error is {\"error\": code, \"detail\": text} with its 4xx status (and `field` for a 400). Send `Authorization: Bearer TOKEN` (a team's or the game master's); without a token you read what spectators may. Rate limits are per token (per address without one): a 429 says when to retry in Retry-After. The game's proxies are also served, for the game master only, as the Toxiproxy 2.12 API under /toxiproxy.",
    ),
    paths(
        serve,
        handlers::game,
        handlers::scoreboard,
        handlers::view,
        handlers::incidents,
        handlers::incident,
        handlers::timeline,
        sse::events,
        handlers::declare,
        handlers::diagnose,
        handlers::buy_hint,
        handlers::resolve,
        handlers::start,
        handlers::pause,
        handlers::resume,
        handlers::end,
        handlers::unleash,
        handlers::inject_manual,
        handlers::abort,
        handlers::rearm,
        handlers::adjust,
        handlers::faults,
        handlers::probes,
        alerts::alertmanager,
    ),
    components(schemas(
        ErrorBody,
        DeclareBody,
        DiagnoseBody,
        HintBody,
        PlayerBody,
        PauseBody,
        UnleashBody,
        InjectManualBody,
        AdjustBody,
    )),
    modifiers(&Errors),
    tags(
        (name = "read", description = "What the caller may see: spectators (no token), teams, the game master"),
        (name = "team", description = "A player's actions, with the team's token"),
        (name = "game master", description = "The game master's actions and views, with the game master's token"),
    ),
)]
pub struct ApiDoc;

/// The document, as JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_json()
        .unwrap_or_else(|e| format!(r#"{{"openapi": "3.1.0", "error": "{e}"}}"#))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "read",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json")),
    security(()))]
pub async fn serve(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.clone(),
    )
        .into_response()
}

/// Adds the bearer scheme and the error answers each operation may give.
struct Errors;

impl Modify for Errors {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A team's or the game master's token, from the environment variable the game file names",
                    ))
                    .build(),
            ),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [(false, item.get.as_mut()), (true, item.post.as_mut())];
            for (post, operation) in operations {
                let Some(operation) = operation else { continue };
                if path.ends_with("openapi.json") {
                    continue;
                }
                let game_master = operation
                    .tags
                    .as_ref()
                    .is_some_and(|tags| tags.iter().any(|t| t == "game master"));
                let mut errors = vec![
                    ("401", "No token where one is needed, or a token of no one"),
                    (
                        "429",
                        "Too many requests (or event streams): see Retry-After",
                    ),
                ];
                if post || path.contains("{id}") {
                    errors.push(("400", "Bad input: `field` names it"));
                }
                if post || game_master {
                    errors.push(("403", "The token's holder may not do this"));
                }
                if post || path.contains("{id}") {
                    errors.push((
                        "404",
                        "No such incident, scenario or team that the caller may know of",
                    ));
                }
                if post {
                    errors.push((
                        "409",
                        "Not now: the game is not running, the incident is closed…",
                    ));
                    errors.push(("413", "The body is too large"));
                    errors.push((
                        "503",
                        "The event log or the fault engine failed; nothing was recorded",
                    ));
                }
                for (status, description) in errors {
                    operation.responses.responses.insert(
                        status.to_owned(),
                        ResponseBuilder::new()
                            .description(description)
                            .content(
                                "application/json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                                    .build(),
                            )
                            .build()
                            .into(),
                    );
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    fn doc() -> Value {
        serde_json::from_str(&document()).unwrap()
    }

    #[test]
    fn the_document_is_openapi_3_1_and_lists_every_endpoint() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths: BTreeSet<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let expected = [
            "/api/v1/openapi.json",
            "/api/v1/game",
            "/api/v1/scoreboard",
            "/api/v1/view",
            "/api/v1/incidents",
            "/api/v1/incidents/{id}",
            "/api/v1/timeline",
            "/api/v1/events",
            "/api/v1/declare",
            "/api/v1/incidents/{id}/diagnose",
            "/api/v1/incidents/{id}/hints",
            "/api/v1/incidents/{id}/resolve",
            "/api/v1/game/start",
            "/api/v1/game/pause",
            "/api/v1/game/resume",
            "/api/v1/game/end",
            "/api/v1/unleash",
            "/api/v1/inject-manual",
            "/api/v1/abort",
            "/api/v1/rearm",
            "/api/v1/adjust",
            "/api/v1/faults",
            "/api/v1/probes",
            "/api/v1/alerts/alertmanager",
        ];
        assert_eq!(paths, expected.into_iter().collect());
    }

    #[test]
    fn the_document_declares_the_bearer_scheme_and_the_error_shape() {
        let doc = doc();
        let scheme = &doc["components"]["securitySchemes"]["bearer"];
        assert_eq!(scheme["type"], "http");
        assert_eq!(scheme["scheme"], "bearer");
        let post = &doc["paths"]["/api/v1/declare"]["post"];
        assert_eq!(post["security"][0]["bearer"], serde_json::json!([]));
        for status in ["200", "400", "401", "403", "404", "409", "429", "503"] {
            assert!(
                post["responses"][status].is_object(),
                "declare lacks {status}"
            );
        }
        assert_eq!(
            post["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
        let properties = &doc["components"]["schemas"]["ErrorBody"]["properties"];
        assert!(properties["error"].is_object() && properties["detail"].is_object());
        // Spectators read without a token.
        assert_eq!(
            doc["paths"]["/api/v1/scoreboard"]["get"]["security"][0],
            serde_json::json!({})
        );
        assert!(doc["paths"]["/api/v1/faults"]["get"]["responses"]["403"].is_object());
    }

    #[test]
    fn every_request_body_is_documented_with_the_fields_its_parser_takes() {
        use crate::api::handlers::ActionBody;
        let doc = doc();
        let check = |name: &str, fields: &[&str]| {
            let documented: BTreeSet<&str> = doc["components"]["schemas"][name]["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{name} is not documented"))
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(documented, fields.iter().copied().collect(), "{name}");
        };
        check("DeclareBody", DeclareBody::FIELDS);
        check("DiagnoseBody", DiagnoseBody::FIELDS);
        check("HintBody", HintBody::FIELDS);
        check("PlayerBody", PlayerBody::FIELDS);
        check("PauseBody", PauseBody::FIELDS);
        check("UnleashBody", UnleashBody::FIELDS);
        check("InjectManualBody", InjectManualBody::FIELDS);
        check("AdjustBody", AdjustBody::FIELDS);
        // Each POST names its body.
        for (path, item) in doc["paths"].as_object().unwrap() {
            if let Some(post) = item.get("post") {
                assert!(
                    post["requestBody"].is_object(),
                    "{path} has no documented body"
                );
            }
        }
    }

    /// The keys of `value`'s JSON object.
    fn keys(value: impl serde::Serialize) -> BTreeSet<String> {
        serde_json::to_value(value)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn every_answer_schema_has_the_fields_of_the_real_type() {
        use chaosday_domain::events::{Diagnosis, FaultSummary, IncidentId, Resolution};
        use chaosday_domain::incident::{Breakdown, IncidentState, Status, TeamScore};
        use chaosday_domain::secrecy::{HintView, IncidentView, TimelineEntry, View};

        let doc = doc();
        let documented = |name: &str| -> BTreeSet<String> {
            doc["components"]["schemas"][name]["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{name} is not documented"))
                .keys()
                .cloned()
                .collect()
        };
        let hint = HintView {
            index: 0,
            cost: 10,
            text: None,
            bought: false,
        };
        let incident = IncidentView {
            id: IncidentId(1),
            team: "checkout".into(),
            state: IncidentState::Detected,
            scenario: None,
            difficulty: None,
            resolution: Some(Resolution::Fix),
            opened_ms: None,
            detected_ms: None,
            closed_ms: None,
            closed_reason: None,
            diagnosis: Some(Diagnosis {
                target: "cart".into(),
                kind: "latency".into(),
            }),
            faults: None,
            hints: Some(vec![hint.clone()]),
            tries: None,
            claimed: None,
            points: Breakdown::default(),
        };
        let ack = chaosday_game::Ack {
            seq: 1,
            at_ms: 2,
            message: "ok".into(),
            points: 0,
            incident: Some(incident.clone()),
            hint: Some(hint.clone()),
        };
        let info = chaosday_game::GameInfo {
            game: "g".into(),
            status: Status::Running,
            teams: vec![],
            owns: Default::default(),
            fault_kinds: vec![],
            started_ms: None,
            armed: true,
            seq: 0,
            your_team: Some("checkout".into()),
        };
        let fault = FaultSummary {
            target: "cart".into(),
            kind: "latency".into(),
            description: "d".into(),
            alert_match: [("service".to_owned(), "cart".to_owned())].into(),
        };
        let view = View {
            status: Status::Running,
            scoreboard: vec![],
            incidents: vec![],
        };
        let entry = TimelineEntry {
            seq: 1,
            at_ms: 1,
            kind: chaosday_domain::secrecy::TimelineKind::GameStarted,
            team: None,
            incident: None,
            text: "t".into(),
            points: 0,
        };
        assert_eq!(documented("Ack"), keys(&ack));
        assert_eq!(documented("GameInfo"), keys(&info));
        assert_eq!(documented("IncidentView"), keys(&incident));
        assert_eq!(documented("HintView"), keys(&hint));
        assert_eq!(documented("TeamScore"), keys(TeamScore::default()));
        assert_eq!(documented("Breakdown"), keys(Breakdown::default()));
        assert_eq!(documented("FaultSummary"), keys(&fault));
        assert_eq!(documented("View"), keys(&view));
        assert_eq!(documented("TimelineEntry"), keys(&entry));
        assert_eq!(
            documented("Diagnosis"),
            keys(Diagnosis {
                target: "a".into(),
                kind: "b".into()
            })
        );
    }
}
