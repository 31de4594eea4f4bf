//! The forms (POST): signing in and out, the team's actions and the game master's.
//!
//! Every form carries the CSRF token of its session in the field `csrf` (the sign-in form,
//! before a session exists, the token of its own cookie); a post without it, or with
//! another, gets a 403 page and does nothing. An action goes through
//! [`GameServer::act`](chaosday_game::GameServer::act) as the session's caller; what it did
//! (the `Ack`'s message) or why it was refused (the `ActionError`'s) is left as the flash of
//! the page the browser is sent back to. Bad input is a message on that page, never a
//! failure of the server.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chaosday_domain::events::{Diagnosis, IncidentId};

use super::WebState;
use super::forms::{Form, MAX_NAME_CHARS, MAX_PLAYER_CHARS, MAX_TEXT_CHARS};
use super::pages::{login_form, safe_next};
use super::sessions::{self, Current, DiagnosisChoice, Flash};
use crate::api::access::Peer;
use chaosday_game::auth::{Identity, TokenHash};
use chaosday_game::{Action, Caller};

use chaosday_game::limits::MAX_ADJUSTMENT;

/// The highest hint index a form may name (the game's bound, as a form's number).
const MAX_HINT_INDEX: i64 = chaosday_game::limits::MAX_HINT_INDEX as i64;

/// `POST /login`: `token`, `player`, `csrf` (the sign-in form's), `next`.
pub async fn login(
    State(state): State<WebState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let current = state.current(&headers);
    let presented = form.get("csrf");
    let expected = sessions::cookie(&headers, sessions::LOGIN_COOKIE);
    let csrf_ok = match (presented, expected) {
        (Some(presented), Some(expected)) if expected.len() == 64 => {
            // Both come from the browser; compare them in constant time all the same.
            bool::from(subtle::ConstantTimeEq::ct_eq(
                presented.as_bytes(),
                expected.as_bytes(),
            ))
        }
        _ => false,
    };
    if !csrf_ok {
        return state.message(
            current.as_ref(),
            StatusCode::FORBIDDEN,
            "The sign-in form expired",
            "This form did not come from this server's sign-in page, or it is too old. Open the sign-in page again and sign in.",
            &[("/login", "Sign in")],
        );
    }
    let next = safe_next(form.get("next"));
    let player_typed = form.get("player").unwrap_or_default().to_owned();
    let again = |status: StatusCode, error: String| {
        login_form(
            &state,
            current.as_ref(),
            status,
            next.clone(),
            player_typed.clone(),
            error,
        )
    };
    let player = match form.text("player", "Your name", MAX_PLAYER_CHARS) {
        Ok(player) => player,
        Err(error) => return again(StatusCode::BAD_REQUEST, error),
    };
    let Some(token) = form.get("token") else {
        return again(
            StatusCode::BAD_REQUEST,
            "Token: paste the token the game master gave your team".into(),
        );
    };
    // A wrong token spends the address's budget of failed credentials, as it would on the
    // API; over it, every token not yet proven from this address waits, right or wrong.
    let hash = TokenHash::of(token);
    if let Some(wait) = state.guesses.refused(peer, &hash) {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = again(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Token: too many wrong tokens came from your address; try again in {seconds} s"
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        return response;
    }
    let Some(identity) = state.auth.identify_hash(&hash) else {
        state.guesses.failed(peer);
        return again(
            StatusCode::UNAUTHORIZED,
            "Token: this is not a token of this game; check it with the game master".into(),
        );
    };
    state.guesses.succeeded(peer, hash);
    let (caller, welcome) = match identity {
        Identity::GameMaster => (
            Caller::GameMaster {
                player: player.clone(),
            },
            format!("signed in as {player}, game master"),
        ),
        Identity::Team(team) => (
            Caller::Team {
                player: player.clone(),
                team: team.clone(),
            },
            format!("signed in as {player} of team {team}"),
        ),
        Identity::Agent(_) => {
            return again(
                StatusCode::FORBIDDEN,
                "Token: this is an agent's token, which cannot sign in; use your team's".into(),
            );
        }
    };
    let game_master = matches!(caller, Caller::GameMaster { .. });
    let Ok(id) = state.sessions.create(caller, Instant::now()) else {
        return again(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server's random source failed; try again in a moment".into(),
        );
    };
    if let Some(old) = current {
        state.sessions.remove(&old);
    }
    if let Some(new) = state.sessions.get(&id, Instant::now()) {
        state.sessions.set_flash(
            &new,
            Flash {
                ok: true,
                text: welcome,
            },
        );
    }
    let to = match next.as_str() {
        "" if game_master => "/gm",
        "" => "/team",
        next => next,
    };
    let mut response = Redirect::to(to).into_response();
    let headers = response.headers_mut();
    for cookie in [
        sessions::session_cookie(&id),
        sessions::expired_cookie(sessions::LOGIN_COOKIE, "/login"),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `POST /logout`: `csrf`.
pub async fn logout(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let current = match checked(&state, &headers, &form) {
        Ok(current) => current,
        Err(response) => return *response,
    };
    state.sessions.remove(&current);
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&sessions::expired_cookie(sessions::COOKIE, "/")) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The session of a post whose CSRF token is right, or the 403 page.
fn checked(state: &WebState, headers: &HeaderMap, form: &Form) -> Result<Current, Box<Response>> {
    let Some(current) = state.current(headers) else {
        return Err(Box::new(state.message(
            None,
            StatusCode::FORBIDDEN,
            "Not signed in",
            "Your session has ended (or this browser never signed in), so this form was not sent. Sign in, then try again.",
            &[("/login", "Sign in")],
        )));
    };
    if !current.csrf_ok(form.get("csrf")) {
        return Err(Box::new(state.message(
            Some(&current),
            StatusCode::FORBIDDEN,
            "This form was refused",
            "It did not carry this session's security token (it is from an older session, or from another site). Nothing was done. Go back, reload the page, and try again.",
            &[("/", "Scoreboard")],
        )));
    }
    Ok(current)
}

/// Whose work an action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Team,
    GameMaster,
}

/// Does the action `build` makes of the form, for a session of `role`, and sends the
/// browser back to `back` with what it did (or why not) as the flash.
async fn perform(
    state: &WebState,
    headers: &HeaderMap,
    body: &[u8],
    role: Role,
    build: impl FnOnce(&Form, &Caller) -> Result<Action, String>,
) -> Response {
    let form = Form::parse(body);
    let current = match checked(state, headers, &form) {
        Ok(current) => current,
        Err(response) => return *response,
    };
    let back = match (role, &current.caller) {
        (Role::Team, Caller::Team { .. }) => "/team",
        (Role::GameMaster, Caller::GameMaster { .. }) => "/gm",
        (Role::GameMaster, Caller::Team { .. }) => {
            return state.message(
                Some(&current),
                StatusCode::FORBIDDEN,
                "Game master only",
                "This is the game master's action, and you are signed in for a team. Nothing was done.",
                &[("/team", "Your team's console")],
            );
        }
        (Role::Team, Caller::GameMaster { .. }) => {
            return state.message(
                Some(&current),
                StatusCode::FORBIDDEN,
                "Teams only",
                "This is a team's action, and you are signed in as the game master. Nothing was done.",
                &[("/gm", "Game master console")],
            );
        }
    };
    let flash = match build(&form, &current.caller) {
        Err(text) => Flash { ok: false, text },
        Ok(action) => {
            // The form shows this diagnosis again, after a wrong try as after a refusal.
            if let Action::Diagnose {
                incident,
                diagnosis,
            } = &action
            {
                state.sessions.set_choice(
                    &current,
                    DiagnosisChoice {
                        incident: incident.0,
                        target: diagnosis.target.clone(),
                        kind: diagnosis.kind.clone(),
                    },
                );
            }
            match state.server.act(&current.caller, action).await {
                // A loss (a false alarm, a wrong diagnosis, a hint bought) is not good news: red,
                // as errors are; green for what gained or cost nothing.
                Ok(ack) => Flash {
                    ok: ack.points >= 0,
                    text: ack.message,
                },
                Err(error) => Flash {
                    ok: false,
                    text: error.to_string(),
                },
            }
        }
    };
    state.sessions.set_flash(&current, flash);
    Redirect::to(back).into_response()
}

fn incident(form: &Form) -> Result<IncidentId, String> {
    let n = form.number("incident", "incident", 0, i64::MAX)?;
    Ok(IncidentId(n.unsigned_abs()))
}

/// `POST /team/declare`: `target`.
pub async fn declare(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    perform(&state, &headers, &body, Role::Team, |form, _| {
        Ok(Action::Declare {
            target: form.text("target", "target", MAX_NAME_CHARS)?,
        })
    })
    .await
}

/// `POST /team/diagnose`: `incident`, `target`, `kind`.
pub async fn diagnose(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    perform(&state, &headers, &body, Role::Team, |form, _| {
        Ok(Action::Diagnose {
            incident: incident(form)?,
            diagnosis: Diagnosis {
                target: form.text("target", "target", MAX_NAME_CHARS)?,
                kind: form.text("kind", "fault kind", MAX_NAME_CHARS)?,
            },
        })
    })
    .await
}

/// `POST /team/hint`: `incident`, `hint` (0-based).
pub async fn buy_hint(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    perform(&state, &headers, &body, Role::Team, |form, _| {
        let hint = form.number("hint", "hint", 0, MAX_HINT_INDEX)?;
        Ok(Action::BuyHint {
            incident: incident(form)?,
            hint: usize::try_from(hint).map_err(|_| "hint: out of range".to_owned())?,
        })
    })
    .await
}

/// `POST /team/claim`: `incident`.
pub async fn claim(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    perform(&state, &headers, &body, Role::Team, |form, _| {
        Ok(Action::Claim {
            incident: incident(form)?,
        })
    })
    .await
}

/// `POST /gm/start`.
pub async fn start(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    perform(&state, &headers, &body, Role::GameMaster, |_, _| {
        Ok(Action::Start)
    })
    .await
}

/// `POST /gm/pause`: `reason` (optional).
pub async fn pause(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    perform(&state, &headers, &body, Role::GameMaster, |form, caller| {
        let reason = match form.optional("reason", "reason", MAX_TEXT_CHARS)? {
            Some(reason) => reason,
            None => match caller {
                Caller::GameMaster { player } | Caller::Team { player, .. } => {
                    format!("paused by {player}")
                }
            },
        };
        Ok(Action::Pause { reason })
    })
    .await
}

/// `POST /gm/resume`.
pub async fn resume(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    perform(&state, &headers, &body, Role::GameMaster, |_, _| {
        Ok(Action::Resume)
    })
    .await
}

/// `POST /gm/end`.
pub async fn end(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    perform(&state, &headers, &body, Role::GameMaster, |_, _| {
        Ok(Action::End)
    })
    .await
}

/// A scenario field: blank (or `draw`) for none.
fn scenario(form: &Form) -> Result<Option<String>, String> {
    Ok(form
        .optional("scenario", "scenario", MAX_NAME_CHARS)?
        .filter(|s| s != "draw"))
}

/// `POST /gm/unleash`: `scenario` (blank: draw one), `team` (blank: any).
pub async fn unleash(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    perform(&state, &headers, &body, Role::GameMaster, |form, _| {
        Ok(Action::Unleash {
            scenario: scenario(form)?,
            team: form.optional("team", "team", MAX_NAME_CHARS)?,
        })
    })
    .await
}

/// `POST /gm/inject-manual`: `scenario`, `team` (blank: the one that can play it).
pub async fn inject_manual(
    State(state): State<WebState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    perform(&state, &headers, &body, Role::GameMaster, |form, _| {
        Ok(Action::InjectManual {
            scenario: scenario(form)?
                .ok_or_else(|| "scenario: choose the manual scenario you broke".to_owned())?,
            team: form.optional("team", "team", MAX_NAME_CHARS)?,
        })
    })
    .await
}

/// `POST /gm/abort`: `confirm=yes` (the confirmation step's button).
pub async fn abort(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    perform(&state, &headers, &body, Role::GameMaster, |form, _| {
        if form.get("confirm") != Some("yes") {
            return Err(
                "the kill switch needs its confirmation: press it, then confirm".to_owned(),
            );
        }
        Ok(Action::Abort)
    })
    .await
}

/// `POST /gm/rearm`.
pub async fn rearm(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    perform(&state, &headers, &body, Role::GameMaster, |_, _| {
        Ok(Action::Rearm)
    })
    .await
}

/// `POST /gm/adjust`: `team`, `points` (signed), `reason`.
pub async fn adjust(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    perform(&state, &headers, &body, Role::GameMaster, |form, _| {
        Ok(Action::Adjust {
            team: form.text("team", "team", MAX_NAME_CHARS)?,
            points: form.number("points", "points", -MAX_ADJUSTMENT, MAX_ADJUSTMENT)?,
            reason: form.text("reason", "reason", MAX_TEXT_CHARS)?,
        })
    })
    .await
}
