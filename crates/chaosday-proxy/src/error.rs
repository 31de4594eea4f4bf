//! API errors, answered as Toxiproxy does: `{"error": "...", "status": N}`.

use serde_json::{Value, json};

/// An error the API answers with a 4xx status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// What is wrong, and what to do.
    pub message: String,
}

impl ApiError {
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            message: message.into(),
        }
    }

    /// 404 `proxy not found`.
    pub fn proxy_not_found() -> Self {
        ApiError {
            status: 404,
            message: "proxy not found".into(),
        }
    }

    /// 404 `toxic not found`.
    pub fn toxic_not_found() -> Self {
        ApiError {
            status: 404,
            message: "toxic not found".into(),
        }
    }

    /// 409 `proxy already exists`.
    pub fn proxy_exists() -> Self {
        ApiError {
            status: 409,
            message: "proxy already exists".into(),
        }
    }

    /// 409 `toxic already exists`.
    pub fn toxic_exists() -> Self {
        ApiError {
            status: 409,
            message: "toxic already exists".into(),
        }
    }

    /// 400 `invalid toxic type`, naming the types there are.
    pub fn invalid_toxic_type(given: &str) -> Self {
        let given = if given.is_empty() {
            "(none)".to_owned()
        } else {
            format!("{given:?}")
        };
        ApiError::bad_request(format!(
            "invalid toxic type {given}: use one of {}",
            crate::toxic::TYPES.join(", ")
        ))
    }

    /// 400 for a missing field, as Toxiproxy words it.
    pub fn missing_field(field: &str) -> Self {
        ApiError::bad_request(format!("missing required field: {field}"))
    }

    /// The body: `{"error": "...", "status": N}`.
    pub fn body(&self) -> Value {
        json!({"error": self.message, "status": self.status})
    }
}
