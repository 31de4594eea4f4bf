//! The game API's endpoints: reads (the game, the scoreboard, views, incidents, the timeline,
//! and the game master's faults, probes and schedule), the players' actions and the game master's.
//!
//! Each handler checks who is asking first (401, 403), then takes its body apart (400 naming
//! the field), then asks [`GameServer`](chaosday_game::GameServer): a 200 carries the `Ack` of
//! an action that is durable.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::response::Response;
use chaosday_domain::events::{Diagnosis, IncidentId};
use chaosday_domain::incident::TeamScore;
use chaosday_domain::secrecy::{IncidentView, TimelineEntry, View, Viewer};
use chaosday_game::views::Schedule;
use chaosday_game::{
    Ack, Action, ActionError, ActiveFault, Caller, GameInfo, ProbeHealth, TargetMatchers,
};

use super::AppState;
use super::access::Who;
use super::body::{MAX_HINT_INDEX, RawBody};
use super::error::ApiError;
use super::types::{
    ActionBody, AdjustBody, DeclareBody, DiagnoseBody, HintBody, InjectManualBody, PauseBody,
    PlayerBody, UnleashBody, json,
};

/// Does `action` for `caller`; its `Ack` as the answer.
async fn act(state: &AppState, caller: Caller, action: Action) -> Result<Response, ApiError> {
    let ack = state.server.act(&caller, action).await?;
    Ok(json(&ack))
}

/// An incident's number in the path: `3` (or `#3`, percent-encoded).
pub struct IncidentNumber(pub IncidentId);

impl<S: Send + Sync> FromRequestParts<S> for IncidentNumber {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::bad(
                "id",
                "expected an incident number, such as 3 in /api/v1/incidents/3",
            )
        };
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| bad())?;
        let digits = id.strip_prefix('#').unwrap_or(&id);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        digits
            .parse::<u64>()
            .map(|n| IncidentNumber(IncidentId(n)))
            .map_err(|_| bad())
    }
}

/// Fails for a request without a token: every action needs one.
fn require_token(who: &Who) -> Result<(), ApiError> {
    who.player(String::new()).map(drop)
}

// ---- Reads ----

/// The game: its status, teams, the targets each owns, the fault kinds a diagnosis names.
#[utoipa::path(get, path = "/api/v1/game", tag = "read",
    responses((status = 200, description = "The game", body = GameInfo)),
    security((), ("bearer" = [])))]
pub async fn game(State(state): State<AppState>, who: Who) -> Result<Response, ApiError> {
    let viewer = who.viewer(state.spectators)?;
    Ok(json(&state.server.info_for(&viewer)))
}

/// The scoreboard, best first.
#[utoipa::path(get, path = "/api/v1/scoreboard", tag = "read",
    responses((status = 200, description = "The standings", body = Vec<TeamScore>)),
    security((), ("bearer" = [])))]
pub async fn scoreboard(State(state): State<AppState>, who: Who) -> Result<Response, ApiError> {
    let viewer = who.viewer(state.spectators)?;
    Ok(json(&state.server.scoreboard(&viewer)))
}

/// The game as the caller may see it: status, scoreboard, visible incidents.
#[utoipa::path(get, path = "/api/v1/view", tag = "read",
    responses((status = 200, description = "The caller's view", body = View)),
    security((), ("bearer" = [])))]
pub async fn view(State(state): State<AppState>, who: Who) -> Result<Response, ApiError> {
    let viewer = who.viewer(state.spectators)?;
    Ok(json(&state.server.view(&viewer)))
}

/// Incidents: a team's own once detected; every one for the game master; those detected
/// or closed for spectators.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "read",
    responses((status = 200, description = "Incidents, oldest first", body = Vec<IncidentView>)),
    security((), ("bearer" = [])))]
pub async fn incidents(State(state): State<AppState>, who: Who) -> Result<Response, ApiError> {
    let viewer = who.viewer(state.spectators)?;
    let mut incidents = state.server.view(&viewer).incidents;
    if let Viewer::Team(team) = &viewer {
        incidents.retain(|i| i.team == *team);
    }
    Ok(json(&incidents))
}

/// One incident, as the caller may see it (404 if it may not know of it).
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "read",
    params(("id" = u64, Path, description = "The incident's number")),
    responses((status = 200, description = "The incident", body = IncidentView)),
    security((), ("bearer" = [])))]
pub async fn incident(
    State(state): State<AppState>,
    who: Who,
    IncidentNumber(id): IncidentNumber,
) -> Result<Response, ApiError> {
    let viewer = who.viewer(state.spectators)?;
    let incident = state
        .server
        .incident(&viewer, id)
        .ok_or_else(|| ApiError::from(ActionError::unknown_incident(id)))?;
    Ok(json(&incident))
}

/// The timeline as the caller may see it, oldest first.
#[utoipa::path(get, path = "/api/v1/timeline", tag = "read",
    responses((status = 200, description = "The timeline", body = Vec<TimelineEntry>)),
    security((), ("bearer" = [])))]
pub async fn timeline(State(state): State<AppState>, who: Who) -> Result<Response, ApiError> {
    let viewer = who.viewer(state.spectators)?;
    Ok(json(&state.server.timeline(&viewer)))
}

/// The active faults, with their incident and time left (the game master's).
#[utoipa::path(get, path = "/api/v1/faults", tag = "game master",
    responses((status = 200, description = "Active faults", body = Vec<ActiveFault>)),
    security(("bearer" = [])))]
pub async fn faults(State(state): State<AppState>, who: Who) -> Result<Response, ApiError> {
    who.require_game_master()?;
    Ok(json(&state.server.faults().await))
}

/// When the next scenario comes (a countdown in running time: a pause freezes it) and the
/// scenarios that could open now, with the teams each could open against, or why nothing
/// can (the game master's: a team must not learn when its next incident comes).
#[utoipa::path(get, path = "/api/v1/schedule", tag = "game master",
    responses((status = 200, description = "The next scenario", body = Schedule)),
    security(("bearer" = [])))]
pub async fn schedule(State(state): State<AppState>, who: Who) -> Result<Response, ApiError> {
    who.require_game_master()?;
    let schedule = state.server.schedule().ok_or_else(|| {
        ApiError::Unavailable(
            "this replica follows the game and runs no schedule: ask the leader".into(),
        )
    })?;
    Ok(json(&schedule))
}

/// The last result of every probe and guard (the game master's).
#[utoipa::path(get, path = "/api/v1/probes", tag = "game master",
    responses((status = 200, description = "Probe and guard health", body = Vec<ProbeHealth>)),
    security(("bearer" = [])))]
pub async fn probes(State(state): State<AppState>, who: Who) -> Result<Response, ApiError> {
    who.require_game_master()?;
    Ok(json(&state.server.probes()))
}

/// The caller's logical targets with the Alertmanager matchers that detect an incident on
/// each: a team's own, every one for the game master. Spectators may not learn them.
#[utoipa::path(get, path = "/api/v1/targets", tag = "read",
    responses((status = 200, description = "The caller's targets and their alert matchers", body = Vec<TargetMatchers>)),
    security(("bearer" = [])))]
pub async fn targets(State(state): State<AppState>, who: Who) -> Result<Response, ApiError> {
    let viewer = match &who {
        Who::Anonymous => {
            return Err(ApiError::Unauthorized(
                "a team's targets and their alert matchers are the team's: send its token as `Authorization: Bearer TOKEN`".into(),
            ));
        }
        Who::Known(_) => who.viewer(true)?,
    };
    Ok(json(&state.server.targets(&viewer)))
}

// ---- The players' actions ----

/// Declare an incident: the target you see suffering. It detects your open incident on that
/// target, or is a false alarm.
#[utoipa::path(post, path = "/api/v1/declare", tag = "team", request_body = DeclareBody,
    responses((status = 200, description = "Recorded", body = Ack)),
    security(("bearer" = [])))]
pub async fn declare(
    State(state): State<AppState>,
    who: Who,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    require_token(&who)?;
    let body = DeclareBody::parse(&body)?;
    let caller = who.player(body.player)?;
    act(
        &state,
        caller,
        Action::Declare {
            target: body.target,
        },
    )
    .await
}

/// Diagnose one of your detected incidents: the target at fault and the fault kind (three
/// tries).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/diagnose", tag = "team",
    params(("id" = u64, Path, description = "The incident's number")),
    request_body = DiagnoseBody,
    responses((status = 200, description = "Recorded", body = Ack)),
    security(("bearer" = [])))]
pub async fn diagnose(
    State(state): State<AppState>,
    who: Who,
    IncidentNumber(incident): IncidentNumber,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    require_token(&who)?;
    let body = DiagnoseBody::parse(&body)?;
    let caller = who.player(body.player)?;
    let diagnosis = Diagnosis {
        target: body.target,
        kind: body.kind,
    };
    act(
        &state,
        caller,
        Action::Diagnose {
            incident,
            diagnosis,
        },
    )
    .await
}

/// Buy a hint of one of your incidents: the one named, or the next not bought.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/hints", tag = "team",
    params(("id" = u64, Path, description = "The incident's number")),
    request_body = HintBody,
    responses((status = 200, description = "Bought: the Ack carries the hint's text", body = Ack)),
    security(("bearer" = [])))]
pub async fn buy_hint(
    State(state): State<AppState>,
    who: Who,
    IncidentNumber(incident): IncidentNumber,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    require_token(&who)?;
    let body = HintBody::parse(&body)?;
    let caller = who.player(body.player)?;
    let hint = match body.hint {
        Some(hint) => usize::try_from(hint).map_err(|_| {
            ApiError::bad(
                "hint",
                format!("expected a whole number from 0 to {MAX_HINT_INDEX}"),
            )
        })?,
        // Only a team buys hints: the game master is told so by the action itself.
        None if matches!(caller, Caller::GameMaster { .. }) => 0,
        None => next_hint(&state, &caller, incident)?,
    };
    act(&state, caller, Action::BuyHint { incident, hint }).await
}

/// The first hint of `incident` that the caller's team has not bought.
fn next_hint(state: &AppState, caller: &Caller, incident: IncidentId) -> Result<usize, ApiError> {
    let view = state
        .server
        .incident(&caller.viewer(), incident)
        .ok_or_else(|| ApiError::from(ActionError::unknown_incident(incident)))?;
    let Some(hints) = view.hints else {
        return Err(ApiError::Forbidden(format!(
            "incident {incident} is team {}'s: only its players buy its hints",
            view.team
        )));
    };
    if hints.is_empty() {
        return Err(ApiError::Conflict(format!(
            "incident {incident} has no hints"
        )));
    }
    hints
        .iter()
        .find(|h| !h.bought)
        .map(|h| h.index)
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "every hint of incident {incident} is bought already"
            ))
        })
}

/// Claim you fixed one of your incidents; the referee's probes verify it before it
/// resolves.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve", tag = "team",
    params(("id" = u64, Path, description = "The incident's number")),
    request_body = PlayerBody,
    responses((status = 200, description = "Claimed", body = Ack)),
    security(("bearer" = [])))]
pub async fn resolve(
    State(state): State<AppState>,
    who: Who,
    IncidentNumber(incident): IncidentNumber,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    require_token(&who)?;
    let body = PlayerBody::parse(&body)?;
    let caller = who.player(body.player)?;
    act(&state, caller, Action::Claim { incident }).await
}

// ---- The game master's actions ----

/// A game master's action with only the player in its body.
async fn game_master_action(
    state: &AppState,
    who: &Who,
    body: &[u8],
    action: Action,
) -> Result<Response, ApiError> {
    who.require_game_master()?;
    let body = PlayerBody::parse(body)?;
    let caller = who.game_master(body.player)?;
    act(state, caller, action).await
}

/// Start the game.
#[utoipa::path(post, path = "/api/v1/game/start", tag = "game master", request_body = PlayerBody,
    responses((status = 200, description = "Started", body = Ack)),
    security(("bearer" = [])))]
pub async fn start(
    State(state): State<AppState>,
    who: Who,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    game_master_action(&state, &who, &body, Action::Start).await
}

/// Pause every clock (score decay, deadlines, the schedule).
#[utoipa::path(post, path = "/api/v1/game/pause", tag = "game master", request_body = PauseBody,
    responses((status = 200, description = "Paused", body = Ack)),
    security(("bearer" = [])))]
pub async fn pause(
    State(state): State<AppState>,
    who: Who,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    who.require_game_master()?;
    let body = PauseBody::parse(&body)?;
    let reason = body
        .reason
        .unwrap_or_else(|| format!("paused by {}", body.player));
    let caller = who.game_master(body.player)?;
    act(&state, caller, Action::Pause { reason }).await
}

/// Resume the game.
#[utoipa::path(post, path = "/api/v1/game/resume", tag = "game master", request_body = PlayerBody,
    responses((status = 200, description = "Resumed", body = Ack)),
    security(("bearer" = [])))]
pub async fn resume(
    State(state): State<AppState>,
    who: Who,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    game_master_action(&state, &who, &body, Action::Resume).await
}

/// End the game: open incidents are cancelled, their faults reverted.
#[utoipa::path(post, path = "/api/v1/game/end", tag = "game master", request_body = PlayerBody,
    responses((status = 200, description = "Ended", body = Ack)),
    security(("bearer" = [])))]
pub async fn end(
    State(state): State<AppState>,
    who: Who,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    game_master_action(&state, &who, &body, Action::End).await
}

/// Open a scenario now: the one named (else one drawn), against the team named (else one
/// that can play it).
#[utoipa::path(post, path = "/api/v1/unleash", tag = "game master", request_body = UnleashBody,
    responses((status = 200, description = "Unleashed", body = Ack)),
    security(("bearer" = [])))]
pub async fn unleash(
    State(state): State<AppState>,
    who: Who,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    who.require_game_master()?;
    let body = UnleashBody::parse(&body)?;
    let caller = who.game_master(body.player)?;
    act(
        &state,
        caller,
        Action::Unleash {
            scenario: body.scenario,
            team: body.team,
        },
    )
    .await
}

/// Mark a `manual` scenario as injected: you broke it by hand, its clocks start now.
#[utoipa::path(post, path = "/api/v1/inject-manual", tag = "game master", request_body = InjectManualBody,
    responses((status = 200, description = "Opened", body = Ack)),
    security(("bearer" = [])))]
pub async fn inject_manual(
    State(state): State<AppState>,
    who: Who,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    who.require_game_master()?;
    let body = InjectManualBody::parse(&body)?;
    let caller = who.game_master(body.player)?;
    act(
        &state,
        caller,
        Action::InjectManual {
            scenario: body.scenario,
            team: body.team,
        },
    )
    .await
}

/// The kill switch: every fault reverted, open incidents cancelled, the game paused, no new
/// fault until a re-arm.
#[utoipa::path(post, path = "/api/v1/abort", tag = "game master", request_body = PlayerBody,
    responses((status = 200, description = "Every fault reverted", body = Ack)),
    security(("bearer" = [])))]
pub async fn abort(
    State(state): State<AppState>,
    who: Who,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    game_master_action(&state, &who, &body, Action::Abort).await
}

/// Allow faults again after the kill switch.
#[utoipa::path(post, path = "/api/v1/rearm", tag = "game master", request_body = PlayerBody,
    responses((status = 200, description = "Re-armed", body = Ack)),
    security(("bearer" = [])))]
pub async fn rearm(
    State(state): State<AppState>,
    who: Who,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    game_master_action(&state, &who, &body, Action::Rearm).await
}

/// Add or take a team's points, with a reason.
#[utoipa::path(post, path = "/api/v1/adjust", tag = "game master", request_body = AdjustBody,
    responses((status = 200, description = "Adjusted", body = Ack)),
    security(("bearer" = [])))]
pub async fn adjust(
    State(state): State<AppState>,
    who: Who,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    who.require_game_master()?;
    let body = AdjustBody::parse(&body)?;
    let caller = who.game_master(body.player)?;
    act(
        &state,
        caller,
        Action::Adjust {
            team: body.team,
            points: body.points,
            reason: body.reason,
        },
    )
    .await
}
