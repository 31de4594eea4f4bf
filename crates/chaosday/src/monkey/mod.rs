//! The monkey's own small API and page (the same stack and token rules as `serve`): its
//! status and the day's plan (read without a token), an owner's skip of one planned fault
//! (the operator's token, or the group owner's), the kill switch and the re-arm (the
//! operator's), and `/metrics`.
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `GET /` | anyone | the page: today's plan with each fault's fate, the groups' figures |
//! | `POST /skip/{id}` | operator, owner | the page's form (token and reason in the form) |
//! | `POST /abort`, `POST /rearm` | operator | the page's kill switch and re-arm |
//! | `GET /api/v1/monkey` | anyone | the status as JSON |
//! | `POST /api/v1/monkey/skip/{id}` | operator, owner | `{"reason": "..."}` |
//! | `POST /api/v1/monkey/abort` | operator | the kill switch |
//! | `POST /api/v1/monkey/rearm` | operator | releases it |
//! | `GET /metrics` | anyone | Prometheus text format |
//!
//! The page's forms carry the token itself, never a cookie, so a page of another site cannot
//! make a browser act (no ambient credential: nothing for CSRF to ride on).

mod metrics;
mod page;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chaosday_game::auth::{Auth, Identity, TokenHash};
use chaosday_game::monkey::{Monkey, MonkeyError};
use serde::Deserialize;
use serde_json::json;

use crate::api::access::{Key, Limiter, bearer};
use crate::api::body;
use crate::api::error::ApiError;
use crate::api::guesses::Guesses;

/// The longest body the monkey reads.
const MAX_BODY: usize = 4 * 1024;

/// The longest reason for a skip, in characters.
const MAX_REASON: usize = 500;

/// What every handler shares.
#[derive(Clone)]
pub struct MonkeyApp {
    monkey: Monkey,
    auth: Arc<Auth>,
    guesses: Arc<Guesses>,
    limiter: Option<Arc<Limiter>>,
}

/// The monkey's router; `rate_limit` requests per second per token (per address without
/// one), 0 for none.
pub fn router(monkey: Monkey, auth: Arc<Auth>, rate_limit: u32) -> Router {
    let app = MonkeyApp {
        monkey,
        auth,
        guesses: Arc::new(Guesses::new(30, Duration::from_secs(2))),
        limiter: Limiter::new(rate_limit).map(Arc::new),
    };
    Router::new()
        .route("/", get(page::page))
        .route("/skip/{id}", post(page::skip_form))
        .route("/abort", post(page::switch_form))
        .route("/rearm", post(page::switch_form))
        .route("/assets/{file}", get(crate::web::assets::serve))
        .route("/api/v1/monkey", get(status))
        .route("/api/v1/monkey/skip/{id}", post(skip))
        .route("/api/v1/monkey/abort", post(abort))
        .route("/api/v1/monkey/rearm", post(rearm))
        .route("/metrics", get(metrics::metrics))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(app.clone(), limit))
        .with_state(app)
}

/// The request rate per token (by its hash), or per address without one.
async fn limit(
    State(app): State<MonkeyApp>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(limiter) = &app.limiter {
        let key = match bearer(request.headers()) {
            Ok(Some(token)) => Key::Token(TokenHash::of(token)),
            _ => Key::Peer(peer.ip()),
        };
        if let Err(e) = limiter.check(&key) {
            return e.into_response();
        }
    }
    next.run(request).await
}

/// Who presented `token` from `peer`; a token of no one spends the address's budget.
fn identify(app: &MonkeyApp, peer: IpAddr, token: Option<&str>) -> Result<Identity, ApiError> {
    let Some(token) = token else {
        return Err(ApiError::Unauthorized(
            "this needs a token: the operator's, or the group owner's, as `Authorization: Bearer TOKEN`".into(),
        ));
    };
    let hash = TokenHash::of(token);
    if let Some(retry_after) = app.guesses.refused(peer, &hash) {
        return Err(ApiError::OverBudget {
            detail: "too many tokens of no one from this address".into(),
            retry_after,
        });
    }
    match app.auth.identify_hash(&hash) {
        Some(identity) => {
            app.guesses.succeeded(peer, hash);
            Ok(identity)
        }
        None => {
            app.guesses.failed(peer);
            Err(ApiError::Unauthorized(
                "this token is not one of this monkey's: ask its operator for yours".into(),
            ))
        }
    }
}

/// The name a skip is recorded under, if `who` may skip planned fault `id`.
fn may_skip(app: &MonkeyApp, who: &Identity, id: &str) -> Result<String, ApiError> {
    let history = app.monkey.history();
    let entry = history.entry(id).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no planned fault `{id}`: `chaosday monkey plan` lists the plan"
        ))
    })?;
    let group = app.monkey.file().group(&entry.planned.group);
    match who {
        Identity::GameMaster => Ok("the operator".into()),
        Identity::Team(owner)
            if group
                .and_then(|g| g.owner.as_ref())
                .is_some_and(|o| &o.name == owner) =>
        {
            Ok(owner.clone())
        }
        Identity::Agent(_) => Err(ApiError::Forbidden(
            "an agent's token only exchanges the agent's orders".into(),
        )),
        Identity::Team(owner) => Err(ApiError::Forbidden(format!(
            "{owner} does not own group `{}`: only its owner or the operator may skip its faults",
            entry.planned.group
        ))),
    }
}

fn operator_only(who: &Identity) -> Result<(), ApiError> {
    match who {
        Identity::GameMaster => Ok(()),
        Identity::Agent(_) => Err(ApiError::Forbidden(
            "an agent's token only exchanges the agent's orders".into(),
        )),
        Identity::Team(owner) => Err(ApiError::Forbidden(format!(
            "only the monkey's operator may do this, and this is {owner}'s token"
        ))),
    }
}

fn monkey_error(error: MonkeyError) -> ApiError {
    match error {
        MonkeyError::NotFound(why) => ApiError::NotFound(why),
        MonkeyError::Conflict(why) => ApiError::Conflict(why),
        MonkeyError::Failed(why) => {
            tracing::warn!(error = %why, "the monkey failed a request");
            ApiError::Unavailable(
                "the monkey's log or engine failed; nothing was changed: try again".into(),
            )
        }
    }
}

/// `GET /api/v1/monkey`.
async fn status(State(app): State<MonkeyApp>) -> Json<chaosday_game::monkey::MonkeyStatus> {
    Json(app.monkey.status())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkipBody {
    reason: String,
}

/// Checks a skip's reason: said, on one line, not too long.
fn reason(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ApiError::bad(
            "reason",
            "say why the fault is skipped, such as \"release freeze until 15:00\"",
        ));
    }
    if text.chars().count() > MAX_REASON || text.chars().any(char::is_control) {
        return Err(ApiError::bad(
            "reason",
            format!("write it on one line, in at most {MAX_REASON} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// `POST /api/v1/monkey/skip/{id}` with `{"reason": "..."}`.
async fn skip(
    State(app): State<MonkeyApp>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let who = identify(&app, peer.ip(), bearer(&headers)?)?;
    let body: SkipBody = body::parse(&raw, &["reason"], r#"{"reason": "release freeze"}"#)?;
    let why = reason(&body.reason)?;
    let by = may_skip(&app, &who, &id)?;
    let entry = app
        .monkey
        .skip(&id, &by, &why)
        .await
        .map_err(monkey_error)?;
    Ok(Json(json!({ "skipped": entry })).into_response())
}

/// `POST /api/v1/monkey/abort`: the kill switch.
async fn abort(
    State(app): State<MonkeyApp>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = identify(&app, peer.ip(), bearer(&headers)?)?;
    operator_only(&who)?;
    let report = app
        .monkey
        .abort("the monkey's operator")
        .await
        .map_err(monkey_error)?;
    let status = if report.complete() {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    Ok((
        status,
        Json(json!({
            "armed": false,
            "reverted": report.reverted,
            "left": report.left,
            "elapsed_ms": report.elapsed_ms,
        })),
    )
        .into_response())
}

/// `POST /api/v1/monkey/rearm`.
async fn rearm(
    State(app): State<MonkeyApp>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = identify(&app, peer.ip(), bearer(&headers)?)?;
    operator_only(&who)?;
    app.monkey
        .rearm("the monkey's operator")
        .await
        .map_err(monkey_error)?;
    Ok(Json(json!({ "armed": true })).into_response())
}

/// The page's answer after a form: back to the page, at the fault.
fn back_to(id: &str) -> Response {
    let anchor: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    Redirect::to(&format!("/#{anchor}")).into_response()
}
