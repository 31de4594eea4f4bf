//! The OpenAPI 3.1 document of the game API, `GET /api/v1/openapi.json`, generated from the
//! handlers' annotations (utoipa), with the bearer security scheme and every error answer.
//!
//! The answers' schemas are derived from the real types the server serialises (and the CLI
//! reads), `chaosday_domain`'s and `chaosday_game`'s, with their `openapi` feature; utoipa
//! collects them from the handlers' `body = …`. A test still checks every answer schema
//! against the real type's JSON, field by field, and that the document has no schema it does
//! not check. This module only reads those types and the handlers' annotations: nothing
//! imports it but the router.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::AppState;
use super::error::ErrorBody;
use super::types::{
    AdjustBody, DeclareBody, DiagnoseBody, HintBody, InjectManualBody, PauseBody, PlayerBody,
    UnleashBody,
};
use super::{agents, alerts, handlers, sse};

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
        handlers::schedule,
        handlers::targets,
        alerts::alertmanager,
        agents::exchange,
        agents::health,
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
        (name = "agent", description = "A `chaosday agent`'s orders, with the agent's token"),
    ),
)]
pub struct ApiDoc;

/// The document, as JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_json()
        .unwrap_or_else(|e| format!(r#"{{"openapi": "3.1.0", "error": "{e}"}}"#))
}

/// The names one game takes where a body names a team, a target or a scenario.
#[derive(Debug, Clone, Default)]
pub struct GameNames {
    /// The teams.
    pub teams: Vec<String>,
    /// The logical targets.
    pub targets: Vec<String>,
    /// The scenarios `unleash` opens.
    pub scenarios: Vec<String>,
    /// The `manual` scenarios `inject-manual` opens.
    pub manual: Vec<String>,
    /// The fault kinds a diagnosis may name (chaosday's, and the scenarios' own).
    pub kinds: Vec<String>,
}

/// The document of one game's server: [`document`], with the game's own names as the only
/// values of the fields that name a team, a target, a scenario or a fault kind (so that a client, or a
/// fuzzer, knows what the server takes), and an adjustment's points never 0.
pub fn document_for(names: &GameNames) -> String {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(&document()) else {
        return document();
    };
    let schemas = &mut doc["components"]["schemas"];
    let mut only = |body: &str, field: &str, values: &[String], nullable: bool| {
        if values.is_empty() {
            return;
        }
        let property = &mut schemas[body]["properties"][field];
        if property.is_null() {
            return;
        }
        let mut values: Vec<serde_json::Value> = values
            .iter()
            .map(|v| serde_json::Value::from(v.as_str()))
            .collect();
        if nullable {
            values.push(serde_json::Value::Null);
        }
        property["enum"] = serde_json::Value::Array(values);
    };
    only("DeclareBody", "target", &names.targets, false);
    only("DiagnoseBody", "target", &names.targets, false);
    only("DiagnoseBody", "kind", &names.kinds, false);
    only("UnleashBody", "scenario", &names.scenarios, true);
    only("UnleashBody", "team", &names.teams, true);
    only("InjectManualBody", "scenario", &names.manual, false);
    only("InjectManualBody", "team", &names.teams, true);
    only("AdjustBody", "team", &names.teams, false);
    let points = &mut schemas["AdjustBody"]["properties"]["points"];
    if !points.is_null() {
        points["not"] = serde_json::json!({"const": 0});
    }
    serde_json::to_string(&doc).unwrap_or_else(|_| document())
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
            "/api/v1/schedule",
            "/api/v1/targets",
            "/api/v1/alerts/alertmanager",
            "/api/v1/agents",
            "/api/v1/agents/exchange",
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
        use crate::api::types::ActionBody;
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

    /// The keys of a JSON object.
    fn keys(value: &Value) -> BTreeSet<String> {
        value
            .as_object()
            .unwrap_or_else(|| panic!("{value} is not an object"))
            .keys()
            .cloned()
            .collect()
    }

    /// `value` as the server sends it, checked to read back as itself (what the CLI does).
    fn sent<T>(value: &T) -> Value
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let json = serde_json::to_value(value).unwrap();
        let read: T = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("{json} does not read back: {e}"));
        assert_eq!(&read, value, "{json} reads back as something else");
        json
    }

    /// Each answer schema's name, with its real type's JSON with every field set (as `full`)
    /// and with every optional field left out (`bare`), both as the server writes them.
    fn answers() -> Vec<(&'static str, Value, Value)> {
        use chaosday_domain::events::{Diagnosis, FaultSummary, IncidentId, Resolution};
        use chaosday_domain::incident::{Breakdown, IncidentState, Outcome, Status, TeamScore};
        use chaosday_domain::secrecy::{HintView, IncidentView, TimelineEntry, TimelineKind, View};
        use chaosday_engine::FaultId;
        use chaosday_game::probes::ProbeResult;
        use chaosday_game::{Ack, ActiveFault, GameInfo, ProbeHealth, ProbeRole};

        let hint = HintView {
            index: 0,
            cost: 10,
            text: Some("look at the pool".into()),
            bought: true,
        };
        let bare_hint = HintView {
            text: None,
            ..hint.clone()
        };
        let diagnosis = Diagnosis {
            target: "cart".into(),
            kind: "latency".into(),
        };
        let fault = FaultSummary {
            target: "cart".into(),
            kind: "latency".into(),
            description: "d".into(),
            alert_match: chaosday_domain::alerting::AlertMatch::labels([("service", "cart")]),
        };
        let bare_fault = FaultSummary {
            alert_match: Default::default(),
            ..fault.clone()
        };
        let breakdown = Breakdown {
            detect: 90,
            diagnose: 100,
            resolve: 200,
            hints: -10,
            penalties: -5,
            adjustments: 3,
        };
        let incident = IncidentView {
            id: IncidentId(1),
            team: "checkout".into(),
            state: IncidentState::Resolved,
            scenario: Some("slow-database".into()),
            difficulty: Some(2),
            resolution: Some(Resolution::Fix),
            opened_ms: Some(1),
            detected_ms: Some(2),
            declared_target: Some("cart".into()),
            deadline_ms: Some(1_800_000),
            opened_clock_ms: Some(60_000),
            open_for_ms: Some(120_000),
            closed_ms: Some(3),
            closed_reason: Some("its fix verified by the referee".into()),
            outcome: Some(Outcome::Resolved),
            time_to_detect_ms: Some(1),
            time_to_resolve_ms: Some(2),
            diagnosis: Some(diagnosis.clone()),
            faults: Some(vec![fault.clone()]),
            hints: Some(vec![hint.clone()]),
            tries: Some(1),
            claimed: Some(false),
            points: Some(breakdown),
        };
        let bare_incident = IncidentView {
            id: IncidentId(1),
            team: "checkout".into(),
            state: IncidentState::Detected,
            scenario: None,
            difficulty: None,
            resolution: None,
            opened_ms: None,
            detected_ms: None,
            declared_target: None,
            deadline_ms: None,
            opened_clock_ms: None,
            open_for_ms: None,
            closed_ms: None,
            closed_reason: None,
            outcome: None,
            time_to_detect_ms: None,
            time_to_resolve_ms: None,
            diagnosis: None,
            faults: None,
            hints: None,
            tries: None,
            claimed: None,
            points: None,
        };
        let score = TeamScore {
            rank: 1,
            team: "checkout".into(),
            points: 378,
            breakdown,
            resolved: 1,
            faced: 2,
            false_alarms: 1,
            time_to_resolve_ms: 60_000,
        };
        let ack = Ack {
            seq: 1,
            at_ms: 2,
            message: "ok".into(),
            points: 0,
            incident: Some(incident.clone()),
            hint: Some(hint.clone()),
        };
        let bare_ack = Ack {
            incident: None,
            hint: None,
            ..ack.clone()
        };
        let info = GameInfo {
            game: "g".into(),
            status: Status::Running,
            teams: vec!["checkout".into()],
            owns: [("checkout".to_owned(), vec!["cart".to_owned()])].into(),
            fault_kinds: vec!["latency".into()],
            started_ms: Some(1),
            clock_ms: 300_000,
            armed: true,
            seq: 7,
            your_team: Some("checkout".into()),
        };
        let bare_info = GameInfo {
            started_ms: None,
            your_team: None,
            ..info.clone()
        };
        let view = View {
            status: Status::Running,
            scoreboard: vec![score.clone()],
            incidents: vec![incident.clone()],
        };
        let entry = TimelineEntry {
            seq: 1,
            at_ms: 1,
            kind: TimelineKind::Declaration,
            team: Some("checkout".into()),
            incident: Some(IncidentId(1)),
            text: "t".into(),
            points: 90,
        };
        let bare_entry = TimelineEntry {
            kind: TimelineKind::GameStarted,
            team: None,
            incident: None,
            ..entry.clone()
        };
        let active = ActiveFault {
            id: FaultId(12),
            incident: Some(IncidentId(1)),
            team: Some("checkout".into()),
            target: Some("cart".into()),
            description: "latency (800ms)".into(),
            expires_ms: Some(9),
            left_ms: Some(5),
            origin: "game:g".into(),
            revert_error: Some("cannot listen on 127.0.0.1:8080: address in use".into()),
        };
        let bare_active = ActiveFault {
            incident: None,
            team: None,
            target: None,
            expires_ms: None,
            left_ms: None,
            origin: "cli".into(),
            revert_error: None,
            ..active.clone()
        };
        let result = ProbeResult {
            ok: true,
            detail: "HTTP 200 in 3 ms".into(),
            took_ms: 3,
        };
        let held = chaosday_engine::agents::wire::Held {
            key: "db-host-00ab".into(),
            description: "pause (SIGSTOP) on pid 4242: postgres".into(),
            status: chaosday_engine::Status::InEffect,
        };
        let agent = chaosday_engine::agents::AgentHealth {
            name: "db-host".into(),
            state: chaosday_engine::agents::AgentState::Connected,
            last_contact_ms: Some(120),
            lease_ms: 30_000,
            held: vec![held.clone()],
        };
        let bare_agent = chaosday_engine::agents::AgentHealth {
            state: chaosday_engine::agents::AgentState::Waiting,
            last_contact_ms: None,
            held: Vec::new(),
            ..agent.clone()
        };
        let health = ProbeHealth {
            name: "cart-up".into(),
            role: ProbeRole::Probe,
            team: Some("checkout".into()),
            last: Some(result.clone()),
            checked_ms: Some(1),
            failing_since_ms: Some(1),
        };
        let bare_health = ProbeHealth {
            role: ProbeRole::Guard,
            team: None,
            last: None,
            checked_ms: None,
            failing_since_ms: None,
            ..health.clone()
        };
        let targets = chaosday_game::TargetMatchers {
            target: "cart".into(),
            teams: vec!["checkout".into()],
            alert_match: vec!["service=\"cart\"".into()],
        };
        let bare_targets = chaosday_game::TargetMatchers {
            teams: Vec::new(),
            alert_match: Vec::new(),
            ..targets.clone()
        };
        let received = chaosday_game::AlertsReceived::of(2);
        let draw = chaosday_game::views::Draw {
            scenario: "slow-db".into(),
            difficulty: 2,
            chance: 0.5,
            mirrored: false,
            teams: vec!["checkout".into()],
        };
        let schedule = chaosday_game::views::Schedule {
            next: chaosday_game::views::NextScenario::Counting,
            next_in_ms: 272_000,
            every_ms: 600_000,
            jitter_ms: 60_000,
            max_open_per_team: 1,
            draws: vec![draw.clone()],
            waiting: Some("every team is at its cap of 1 incident open".into()),
        };
        let bare_schedule = chaosday_game::views::Schedule {
            draws: Vec::new(),
            waiting: None,
            ..schedule.clone()
        };
        vec![
            ("Schedule", sent(&schedule), sent(&bare_schedule)),
            ("Draw", sent(&draw), sent(&draw)),
            ("AlertsReceived", sent(&received), sent(&received)),
            ("TargetMatchers", sent(&targets), sent(&bare_targets)),
            ("Ack", sent(&ack), sent(&bare_ack)),
            ("GameInfo", sent(&info), sent(&bare_info)),
            ("IncidentView", sent(&incident), sent(&bare_incident)),
            ("HintView", sent(&hint), sent(&bare_hint)),
            ("TeamScore", sent(&score), sent(&TeamScore::default())),
            ("Breakdown", sent(&breakdown), sent(&Breakdown::default())),
            ("Diagnosis", sent(&diagnosis), sent(&diagnosis)),
            ("FaultSummary", sent(&fault), sent(&bare_fault)),
            ("View", sent(&view), sent(&view)),
            ("TimelineEntry", sent(&entry), sent(&bare_entry)),
            ("ActiveFault", sent(&active), sent(&bare_active)),
            ("ProbeHealth", sent(&health), sent(&bare_health)),
            ("ProbeResult", sent(&result), sent(&result)),
            ("AgentHealth", sent(&agent), sent(&bare_agent)),
            ("Held", sent(&held), sent(&held)),
        ]
    }

    /// The answers that are strings from a fixed set, each with its variants as the server
    /// writes them.
    fn string_enums() -> Vec<(&'static str, Vec<Value>)> {
        use chaosday_domain::events::Resolution;
        use chaosday_domain::incident::{IncidentState, Outcome, Status};
        use chaosday_domain::secrecy::TimelineKind as K;
        use chaosday_game::ProbeRole;
        use chaosday_game::views::NextScenario as N;

        fn all<T: serde::Serialize>(values: &[T]) -> Vec<Value> {
            values
                .iter()
                .map(|v| serde_json::to_value(v).unwrap())
                .collect()
        }
        use IncidentState as I;
        vec![
            (
                "Status",
                all(&[
                    Status::NotStarted,
                    Status::Running,
                    Status::Paused,
                    Status::Ended,
                ]),
            ),
            (
                "IncidentState",
                all(&[
                    I::Open,
                    I::Detected,
                    I::Diagnosed,
                    I::Resolved,
                    I::RanOut,
                    I::Expired,
                    I::Cancelled,
                ]),
            ),
            ("Outcome", all(&Outcome::ALL)),
            (
                "Resolution",
                all(&[
                    Resolution::Fix,
                    Resolution::Diagnose,
                    Resolution::Timed,
                    Resolution::Manual,
                ]),
            ),
            ("ProbeRole", all(&[ProbeRole::Probe, ProbeRole::Guard])),
            (
                "AgentState",
                all(&[
                    chaosday_engine::agents::AgentState::Connected,
                    chaosday_engine::agents::AgentState::Waiting,
                    chaosday_engine::agents::AgentState::Lost,
                ]),
            ),
            (
                "FaultStatus",
                all(&[
                    chaosday_engine::Status::InEffect,
                    chaosday_engine::Status::Gone,
                    chaosday_engine::Status::Unknown,
                ]),
            ),
            (
                "NextScenario",
                all(&[
                    N::NotStarted,
                    N::Counting,
                    N::Due,
                    N::Paused,
                    N::Disarmed,
                    N::Ended,
                ]),
            ),
            (
                "TimelineKind",
                all(&[
                    K::GameStarted,
                    K::Paused,
                    K::Resumed,
                    K::GameEnded,
                    K::Injection,
                    K::Declaration,
                    K::FalseAlarm,
                    K::Alert,
                    K::Diagnosis,
                    K::Hint,
                    K::Claim,
                    K::VerificationFailed,
                    K::Revert,
                    K::Resolved,
                    K::RanOut,
                    K::Expired,
                    K::Cancelled,
                    K::NeverDetected,
                    K::KillSwitch,
                    K::Rearmed,
                    K::GuardFailed,
                    K::Adjustment,
                ]),
            ),
        ]
    }

    #[test]
    fn every_answer_schema_has_the_fields_of_the_real_type() {
        let doc = doc();
        for (name, full, bare) in answers() {
            let schema = &doc["components"]["schemas"][name];
            let documented = keys(&schema["properties"]);
            assert_eq!(documented, keys(&full), "{name}: documented fields");
            // What the document says is always there, is.
            let required: BTreeSet<String> = schema["required"]
                .as_array()
                .map(|r| r.iter().map(|k| k.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default();
            let always = keys(&bare);
            assert!(
                required.is_subset(&always),
                "{name}: documented as required but left out: {:?}",
                required.difference(&always).collect::<Vec<_>>()
            );
            // And what the server may leave out is not required.
            for left_out in keys(&full).difference(&always) {
                assert!(
                    !required.contains(left_out),
                    "{name}.{left_out} is left out when empty but documented as required"
                );
            }
        }
    }

    #[test]
    fn every_string_answer_lists_the_real_type_s_values() {
        let doc = doc();
        for (name, values) in string_enums() {
            let schema = &doc["components"]["schemas"][name];
            assert_eq!(schema["type"], "string", "{name}: {schema}");
            assert_eq!(schema["enum"], Value::Array(values), "{name}");
        }
    }

    #[test]
    fn incident_numbers_are_documented_as_integers() {
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["IncidentId"]["type"], "integer");
        assert_eq!(
            schemas["IncidentView"]["properties"]["id"]["$ref"],
            "#/components/schemas/IncidentId"
        );
        assert_eq!(
            schemas["ActiveFault"]["properties"]["id"]["type"],
            "integer"
        );
    }

    #[test]
    fn the_document_has_no_schema_that_is_not_checked() {
        let doc = doc();
        let documented = keys(&doc["components"]["schemas"]);
        let mut checked: BTreeSet<String> = answers()
            .into_iter()
            .map(|(name, _, _)| name.to_owned())
            .chain(string_enums().into_iter().map(|(name, _)| name.to_owned()))
            .collect();
        // Request bodies (checked against their parsers above), the error shape (checked
        // above), the incident number (an integer) and the Alertmanager payload (not ours).
        for other in [
            "DeclareBody",
            "DiagnoseBody",
            "HintBody",
            "PlayerBody",
            "PauseBody",
            "UnleashBody",
            "InjectManualBody",
            "AdjustBody",
            "ErrorBody",
            "IncidentId",
            "AlertmanagerPayload",
            "Alert",
            "AlertStatus",
            "PayloadVersion",
        ] {
            checked.insert(other.to_owned());
        }
        assert_eq!(documented, checked);
    }

    #[test]
    fn text_bounds_in_the_document_are_the_game_crates_limits() {
        use chaosday_game::limits::{MAX_NAME_CHARS, MAX_PLAYER_CHARS, MAX_TEXT_CHARS};
        // utoipa takes only literal bounds: this keeps them the limits the server enforces.
        let doc = doc();
        let mut seen = 0;
        for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
            let Some(properties) = schema["properties"].as_object() else {
                continue;
            };
            for (field, property) in properties {
                let Some(max) = property["maxLength"].as_u64() else {
                    continue;
                };
                let limit = match field.as_str() {
                    "player" => MAX_PLAYER_CHARS,
                    "reason" => MAX_TEXT_CHARS,
                    _ => MAX_NAME_CHARS,
                };
                assert_eq!(max, limit as u64, "{name}.{field}");
                assert_eq!(property["minLength"], 1, "{name}.{field}");
                seen += 1;
            }
        }
        assert!(
            seen >= 14,
            "every text field of the bodies is bounded ({seen})"
        );
    }
}
