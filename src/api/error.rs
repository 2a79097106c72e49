//! What can go wrong talking to AHEAD, typed so callers can branch (a push resolves an
//! `Ambiguous` POST by lookup; `main` turns `Credentials` into exit 5).

use thiserror::Error;

use super::contract::ErrorItem;
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum ApiError {
    /// The client id or secret was refused: no retry can help, a person must act.
    #[error(
        "AHEAD rejected the client credentials: {detail}. To fix: check api.client_id and \
         api.client_secret (or AHEAD_SYNC__API__CLIENT_ID / AHEAD_SYNC__API__CLIENT_SECRET) \
         against the credentials AHEAD issued, then run `ahead-sync auth login`"
    )]
    Credentials { detail: String },

    /// An HTTP answer that is final: 400, 403, 404, 409, 422, or a 401 that survived a fresh token.
    #[error("{method} {path}: HTTP {status}{}", describe(errors))]
    Status {
        method: String,
        path: String,
        status: u16,
        errors: Vec<ErrorItem>,
        /// For a 409, the existing record from `results` (raw JSON).
        existing: Option<String>,
    },

    /// The request may have been applied (a POST that timed out or lost its connection after
    /// sending, or a 5xx that does not say "not processed"). Never re-sent blindly: look it up.
    #[error("{method} {path}: outcome unknown ({detail}); it was not re-sent, because it may have been applied")]
    Ambiguous {
        method: String,
        path: String,
        detail: String,
    },

    /// Retries ran out (or a Retry-After was longer than we may wait).
    #[error("{method} {path}: gave up: {reason}")]
    Exhausted {
        method: String,
        path: String,
        reason: String,
    },

    /// The server answered something the contract does not allow.
    #[error("{method} {path}: unexpected answer: {detail}")]
    Protocol {
        method: String,
        path: String,
        detail: String,
    },

    /// Building a request failed before anything was sent (bad URL, client setup).
    #[error("cannot send {method} {path}: {detail}")]
    Setup {
        method: String,
        path: String,
        detail: String,
    },

    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    pub fn is_credentials(&self) -> bool {
        matches!(self, ApiError::Credentials { .. })
    }

    /// The HTTP status of a final answer, if that is what this is.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn describe(errors: &[ErrorItem]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = errors
        .iter()
        .map(|e| match &e.field {
            Some(field) => format!("{field}: {} ({})", e.message, e.code),
            None => format!("{} ({})", e.message, e.code),
        })
        .collect();
    format!(": {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_name_the_fields() {
        let e = ApiError::Status {
            method: "POST".into(),
            path: "/v2/purchase_orders".into(),
            status: 422,
            errors: vec![ErrorItem {
                code: "invalid".into(),
                field: Some("lines[2].item_number".into()),
                message: "unknown item".into(),
            }],
            existing: None,
        };
        assert_eq!(
            e.to_string(),
            "POST /v2/purchase_orders: HTTP 422: lines[2].item_number: unknown item (invalid)"
        );
    }
}
