//! The game API's errors: the one place where a failure becomes an HTTP answer (STYLE #9).
//!
//! Every error is `{"error": "<code>", "detail": "<what is wrong and what to do>"}` as
//! `application/json` with its 4xx status (503 only when the event log or the fault engine
//! failed). A bad input also names its `field`. Internal causes are logged, never sent.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use chaosday_game::ActionError;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The request is wrong: `field` names what (a body field, `body`, a path part), and
    /// `detail` says how to fix it (400).
    #[error("{field}: {detail}")]
    BadRequest {
        /// The field, such as `player`, `alerts[2].startsAt` or `body`.
        field: String,
        /// What is wrong and what to do.
        detail: String,
    },
    /// No token where one is needed, or a token of no one (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The token's holder may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such thing that the caller may know of (404).
    #[error("{0}")]
    NotFound(String),
    /// The method is not one the path takes (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Not now (409).
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the endpoint reads (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Too many requests for this token or address; try again after `retry_after` (429).
    #[error("too many requests; retry in {retry_after:?}")]
    TooManyRequests {
        /// How long until the next request is allowed.
        retry_after: Duration,
    },
    /// This token or address is over a budget of its own (429): it holds as many live
    /// event streams as it may, or sent too many tokens of no one.
    #[error("{detail}; retry in {} s", retry_seconds(*retry_after))]
    OverBudget {
        /// Whose budget is full.
        detail: String,
        /// How long to wait.
        retry_after: Duration,
    },
    /// The event log or the fault engine failed; nothing was recorded (503).
    #[error("{0}")]
    Unavailable(String),
    /// Recorded, but not all of it took place: the kill switch could not revert every
    /// fault (500).
    #[error("{0}")]
    Incomplete(String),
    /// This replica follows the game and no leader answered the request it must forward;
    /// nothing was recorded by it; try again after `retry_after` (503).
    #[error("{detail}")]
    NoLeader {
        /// What is missing and what to do.
        detail: String,
        /// How long to wait.
        retry_after: Duration,
    },
    /// The server takes no more of this now (a full budget, as for a burst of alerts or
    /// too many event streams); nothing was recorded; try again after `retry_after` (503).
    #[error("{detail}; retry in {} s", retry_seconds(*retry_after))]
    Busy {
        /// What is full.
        detail: String,
        /// How long to wait.
        retry_after: Duration,
    },
}

impl ApiError {
    /// A 400 naming `field`.
    pub fn bad(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } | ApiError::OverBudget { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) | ApiError::Busy { .. } | ApiError::NoLeader { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Incomplete(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The short, stable code in `error`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::TooManyRequests { .. } | ApiError::OverBudget { .. } => "too_many_requests",
            ApiError::Unavailable(_) | ApiError::NoLeader { .. } => "unavailable",
            ApiError::Busy { .. } => "busy",
            ApiError::Incomplete(_) => "incomplete",
        }
    }

    /// The body.
    pub fn body(&self) -> ErrorBody {
        let (detail, field) = match self {
            ApiError::BadRequest { field, detail } => {
                (format!("{field}: {detail}"), Some(field.clone()))
            }
            ApiError::TooManyRequests { retry_after } => (
                format!(
                    "too many requests for this token (or address, without a token); retry in {} s",
                    retry_seconds(*retry_after)
                ),
                None,
            ),
            other => (other.to_string(), None),
        };
        ErrorBody {
            error: self.code().to_owned(),
            detail,
            field,
        }
    }
}

/// Whole seconds to wait, at least 1 (`Retry-After` takes whole seconds).
fn retry_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

/// An error as the API sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A short, stable code: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `payload_too_large`, `too_many_requests`,
    /// `unavailable`, `busy`.
    pub error: String,
    /// What is wrong and what to do, for people.
    pub detail: String,
    /// The field at fault (400 only), such as `player` or `alerts[0].startsAt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "answering {status}");
        } else {
            tracing::debug!(error = %self, "answering {status}");
        }
        let body = serde_json::to_vec(&self.body()).unwrap_or_else(|_| {
            br#"{"error":"unavailable","detail":"the error could not be written"}"#.to_vec()
        });
        let mut response = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let ApiError::TooManyRequests { retry_after }
        | ApiError::OverBudget { retry_after, .. }
        | ApiError::Busy { retry_after, .. }
        | ApiError::NoLeader { retry_after, .. } = self
        {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_seconds(retry_after)),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="chaosday""#),
            );
        }
        response
    }
}

impl From<ActionError> for ApiError {
    fn from(error: ActionError) -> Self {
        match error {
            ActionError::BadInput { field, detail } => ApiError::BadRequest { field, detail },
            ActionError::Forbidden(detail) => ApiError::Forbidden(detail),
            ActionError::NotFound(detail) => ApiError::NotFound(detail),
            ActionError::Conflict(detail) => ApiError::Conflict(detail),
            ActionError::Unavailable(detail) => ApiError::Unavailable(detail),
            ActionError::Incomplete(detail) => ApiError::Incomplete(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn answer(error: ApiError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn every_action_error_becomes_its_own_status_with_the_error_shape() {
        let cases = [
            (
                ActionError::BadInput {
                    field: "target".into(),
                    detail: "no such target; use one of: cart".into(),
                },
                400,
                "bad_request",
            ),
            (ActionError::Forbidden("not yours".into()), 403, "forbidden"),
            (
                ActionError::NotFound("no incident #9".into()),
                404,
                "not_found",
            ),
            (
                ActionError::Conflict("the game is paused".into()),
                409,
                "conflict",
            ),
            (
                ActionError::Unavailable("the log failed".into()),
                503,
                "unavailable",
            ),
            (
                ActionError::Incomplete("1 fault could not be reverted".into()),
                500,
                "incomplete",
            ),
        ];
        for (error, status, code) in cases {
            let (got, headers, body) = answer(error.into()).await;
            assert_eq!(got.as_u16(), status);
            assert_eq!(headers[header::CONTENT_TYPE], "application/json");
            assert_eq!(body["error"], code);
            assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        }
    }

    #[tokio::test]
    async fn a_bad_request_names_its_field_in_the_detail_and_apart() {
        let (status, _, body) = answer(ApiError::bad("player", "must not be empty")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            serde_json::json!({"error": "bad_request", "detail": "player: must not be empty", "field": "player"})
        );
    }

    #[tokio::test]
    async fn too_many_requests_says_when_to_retry_in_whole_seconds() {
        let (status, headers, body) = answer(ApiError::TooManyRequests {
            retry_after: Duration::from_millis(20),
        })
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "1");
        assert_eq!(body["error"], "too_many_requests");
        assert_eq!(retry_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_seconds(Duration::from_millis(2500)), 3);
        assert_eq!(retry_seconds(Duration::ZERO), 1);
    }

    #[tokio::test]
    async fn unauthorized_asks_for_a_bearer_token() {
        let (_, headers, _) = answer(ApiError::Unauthorized("no token".into())).await;
        assert!(
            headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
}
