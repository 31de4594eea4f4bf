//! The agents' side of the game API: `POST /api/v1/agents/exchange`, where each `chaosday
//! agent` (with its own token) reports what it holds and did and gets its orders (a long
//! poll), and `GET /api/v1/agents`, their health, for the game master.
//!
//! The orders and the lease are the engine's ([`chaosday_engine::agents`]); this layer only
//! knows who is asking and reads the body.

use axum::extract::{Request, State};
use axum::response::Response;
use chaosday_engine::agents::{HubError, wire};

use super::AppState;
use super::access::Who;
use super::body;
use super::error::ApiError;
use super::types::json;

/// The largest report read (an agent holding many faults).
pub const MAX_REPORT: usize = 1024 * 1024;

const EXAMPLE: &str =
    r#"{"agent": "db-host", "instance": "1733400000000-9f2c", "held": [], "results": []}"#;

/// An agent's exchange: its report in, its orders out (at once if any are waiting,
/// otherwise when one comes or after a quarter of its lease, at most 10 s).
#[utoipa::path(post, path = "/api/v1/agents/exchange", tag = "agent",
    request_body(content = Object, description = "The agent's report: `instance` (its run), `held` (the faults it holds: key, description, status) and `results` (of the orders it carried out)"),
    responses((status = 200, description = "The orders not answered yet (`orders`, each with `do`: inject, revert or revert_all) and the lease in milliseconds (`lease_ms`)", body = Object)),
    security(("bearer" = [])))]
pub async fn exchange(
    State(state): State<AppState>,
    who: Who,
    request: Request,
) -> Result<Response, ApiError> {
    let names = who.agent()?.clone();
    let Some(hub) = state.server.agents() else {
        return Err(ApiError::NotFound(
            "this game has no agents: declare them under `agents` in the game file".into(),
        ));
    };
    let bytes = body::read(request, MAX_REPORT).await?;
    let report: wire::Report =
        body::parse(&bytes, &["agent", "instance", "held", "results"], EXAMPLE)?;
    let agent = report.agent.clone();
    if !names.allows(&agent) {
        return Err(ApiError::Forbidden(format!(
            "this token is agent {names}'s, not `{agent}`'s: start the agent with the token of the variable the game file names under agents.{agent}.token_env"
        )));
    }
    if report.instance.is_empty() || report.instance.len() > 100 {
        return Err(ApiError::bad(
            "instance",
            format!("give the agent's run as 1 to 100 characters, such as {EXAMPLE}"),
        ));
    }
    let hold = hub.hold(&agent);
    match hub.exchange(&agent, report, hold).await {
        Ok(orders) => Ok(json(&orders)),
        Err(e @ HubError::Superseded { .. }) => Err(ApiError::Conflict(e.to_string())),
        Err(e @ HubError::Unknown(_)) => Err(ApiError::NotFound(e.to_string())),
        Err(e @ HubError::SteppedDown) => Err(ApiError::Unavailable(e.to_string())),
        Err(e @ HubError::TooMany(_)) => Err(ApiError::bad("held", e.to_string())),
    }
}

/// Every agent's health: connected, waiting (not heard from since this server started) or
/// lost (silent for longer than its lease, so holding nothing), with what it holds.
#[utoipa::path(get, path = "/api/v1/agents", tag = "game master",
    responses((status = 200, description = "The game's agents", body = Vec<chaosday_engine::agents::AgentHealth>)),
    security(("bearer" = [])))]
pub async fn health(State(state): State<AppState>, who: Who) -> Result<Response, ApiError> {
    who.require_game_master()?;
    Ok(json(
        &state
            .server
            .agents()
            .map(|hub| hub.health())
            .unwrap_or_default(),
    ))
}
