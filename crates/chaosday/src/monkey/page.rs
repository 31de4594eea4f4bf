//! The monkey's page: the day's plan, published ahead, with each fault's fate and a form to
//! skip one still to come; the groups' figures. Server-rendered, no JavaScript; it reloads
//! itself every 15 s.

use std::net::SocketAddr;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chaosday_domain::monkey::history::{GroupFigures, Status};
use chaosday_game::monkey::{MonkeyStatus, PlanView};
use serde::Deserialize;

use super::{MonkeyApp, back_to, identify, may_skip, monkey_error, operator_only, reason};
use crate::api::error::ApiError;

#[derive(Template)]
#[template(path = "monkey.html")]
struct MonkeyPage<'a> {
    status: &'a MonkeyStatus,
    /// The plan, latest day first.
    days: Vec<(String, Vec<&'a PlanView>)>,
    groups: Vec<(&'a String, &'a GroupFigures, String, String)>,
    flash: Option<String>,
    asset_version: &'static str,
}

impl MonkeyPage<'_> {
    fn can_skip(view: &PlanView) -> bool {
        view.status == Status::Planned
    }
}

fn render(status: &MonkeyStatus, flash: Option<String>, code: StatusCode) -> Response {
    let mut days: Vec<(String, Vec<&PlanView>)> = Vec::new();
    for view in &status.plan {
        match days.iter_mut().find(|(day, _)| *day == view.day) {
            Some((_, views)) => views.push(view),
            None => days.push((view.day.clone(), vec![view])),
        }
    }
    days.reverse();
    let groups = status
        .groups
        .iter()
        .map(|(name, figures)| {
            let median = figures
                .median_recovery_ms()
                .map_or_else(|| "—".to_owned(), chaosday_domain::report::human_duration);
            let skipped = if figures.skipped.is_empty() {
                "0".to_owned()
            } else {
                figures
                    .skipped
                    .iter()
                    .map(|(reason, n)| format!("{n} {reason}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            (name, figures, median, skipped)
        })
        .collect();
    let page = MonkeyPage {
        status,
        days,
        groups,
        flash,
        asset_version: crate::web::assets::version(),
    };
    match page.render() {
        Ok(html) => (code, Html(html)).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "the monkey's page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page did not render").into_response()
        }
    }
}

/// `GET /`.
pub async fn page(State(app): State<MonkeyApp>) -> Response {
    render(&app.monkey.status(), None, StatusCode::OK)
}

/// The kill switch's and the re-arm's form: the operator's token.
#[derive(Deserialize)]
pub struct OperatorForm {
    token: String,
}

/// `POST /abort` and `POST /rearm`: the page's kill switch and re-arm.
pub async fn switch_form(
    State(app): State<MonkeyApp>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: axum::http::Uri,
    Form(form): Form<OperatorForm>,
) -> Response {
    let rearm = uri.path() == "/rearm";
    let result: Result<(), ApiError> = async {
        let token = Some(form.token.trim()).filter(|t| !t.is_empty());
        let who = identify(&app, peer.ip(), token)?;
        operator_only(&who)?;
        if rearm {
            app.monkey.rearm("the monkey's operator").await
        } else {
            app.monkey.abort("the monkey's operator").await.map(|_| ())
        }
        .map_err(monkey_error)
    }
    .await;
    match result {
        Ok(()) => axum::response::Redirect::to("/").into_response(),
        Err(e) => render(&app.monkey.status(), Some(e.body().detail), e.status()),
    }
}

/// The skip form's fields.
#[derive(Deserialize)]
pub struct SkipForm {
    token: String,
    reason: String,
}

/// `POST /skip/{id}`: the form of a planned fault.
pub async fn skip_form(
    State(app): State<MonkeyApp>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    Form(form): Form<SkipForm>,
) -> Response {
    let result: Result<(), ApiError> = async {
        let token = Some(form.token.trim()).filter(|t| !t.is_empty());
        let who = identify(&app, peer.ip(), token)?;
        let why = reason(&form.reason)?;
        let by = may_skip(&app, &who, &id)?;
        app.monkey
            .skip(&id, &by, &why)
            .await
            .map_err(monkey_error)?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => back_to(&id),
        Err(e) => render(&app.monkey.status(), Some(e.body().detail), e.status()),
    }
}
