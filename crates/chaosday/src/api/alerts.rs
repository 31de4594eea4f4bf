//! The Alertmanager webhook receiver (SPEC §5): `POST /api/v1/alerts/alertmanager`, payload
//! version 4, with the team's token as Alertmanager's bearer credentials
//! (`http_config: {authorization: {credentials: TOKEN}}` in its `webhook_configs`).
//!
//! The payload goes to the game server ([`chaosday_game::GameServer::alertmanager`]), which
//! reads it ([`chaosday_game::alerts`]), logs every alert, and detects the team's incidents
//! whose targets' `alert_match` matchers its firing alerts satisfy. The answer is the same
//! whatever they did ([`chaosday_game::AlertsReceived`]): 200 also before the start and after
//! the end (nothing is recorded then); only a malformed payload is a 4xx; the receiver's own
//! budget answers 503 with Retry-After (see `access`), which Alertmanager retries.

use axum::extract::{Request, State};
use axum::response::Response;

use super::AppState;
use super::access::Who;
use super::body;
use super::error::ApiError;
use super::types::{json, schemas};
use chaosday_game::auth::Identity;

/// The largest payload read (Alertmanager groups many alerts in one).
pub const MAX_PAYLOAD: usize = chaosday_game::limits::MAX_ALERT_PAYLOAD;

/// Receives a team's Alertmanager notification.
#[utoipa::path(post, path = "/api/v1/alerts/alertmanager", tag = "team",
    request_body(content = schemas::AlertmanagerPayload, description = "Alertmanager's webhook payload, version 4; unknown fields are ignored"),
    responses((status = 200, description = "Received (and, while the game is on, recorded); the same answer whatever the alerts did", body = chaosday_game::AlertsReceived)),
    security(("bearer" = [])))]
pub async fn alertmanager(
    State(state): State<AppState>,
    who: Who,
    request: Request,
) -> Result<Response, ApiError> {
    let team = match &who {
        Who::Known(Identity::Team(team)) => team.clone(),
        Who::Known(Identity::GameMaster | Identity::Agent(_)) => {
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
    let received = state.server.alertmanager(&team, &bytes).await?;
    Ok(json(&received))
}
