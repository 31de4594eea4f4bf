//! The OpenAPI 3.1 document of the game API, `GET /api/v1/openapi.json`, generated from the
//! handlers' annotations (utoipa), with the bearer security scheme and every error answer.
//!
//! The answers' shapes are domain types that know nothing of OpenAPI;
//! [`schemas`](super::types::schemas) describes them, and a test checks each description
//! against the real type's JSON, field by field. This module only reads those types and the
//! handlers' annotations: nothing imports it but the router.

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
