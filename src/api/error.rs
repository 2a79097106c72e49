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

    /// A legacy account's request signature was refused (401): the public or secret token is
    /// wrong (or the clock is far off). No retry can help, a person must act.
    #[error(
        "AHEAD rejected the MBX request signature of public token {public_token:?} on {method} \
         {path} (HTTP 401). To fix: check api.public_token and api.secret_token (or \
         AHEAD_SYNC__API__PUBLIC_TOKEN / AHEAD_SYNC__API__SECRET_TOKEN) against the tokens AHEAD \
         issued, and that this machine's clock is right"
    )]
    SignatureRejected {
        method: String,
        path: String,
        public_token: String,
    },

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

    /// No connection could be made: nothing was sent. `url` is the full URL tried, `reason`
    /// the operating system's word for it (connection refused, no such host, ...).
    #[error(
        "cannot reach AHEAD at {url}: {reason} ({attempts} attempts); check api.base_url \
         (or AHEAD_SYNC__API__BASE_URL) and that the host is up"
    )]
    Unreachable {
        url: String,
        reason: String,
        attempts: u32,
    },

    /// The server answered something the contract does not allow.
    #[error("{method} {path}: unexpected answer: {detail}")]
    Protocol {
        method: String,
        path: String,
        detail: String,
    },

    /// The answer was larger than `api.max_response_bytes`: reading stopped at the limit (or
    /// before it began, when `Content-Length` said so). Not retried: the same request gets the
    /// same answer.
    #[error(
        "{method} {path}: the answer is larger than api.max_response_bytes ({limit} bytes){}. \
         To fix: raise api.max_response_bytes (or AHEAD_SYNC__API__MAX_RESPONSE_BYTES){}",
        match declared {
            Some(n) => format!(": its Content-Length is {n}, so it was not read"),
            None => ", so reading stopped there".to_string(),
        },
        if path.starts_with("/v2/") { ", or ask for smaller pages with api.page_size" } else { "" }
    )]
    TooLarge {
        method: String,
        path: String,
        limit: u64,
        /// The answer's `Content-Length`, when it declared one.
        declared: Option<u64>,
    },

    /// Building a request failed before anything was sent (bad URL, client setup).
    #[error("cannot send {method} {path}: {detail}")]
    Setup {
        method: String,
        path: String,
        detail: String,
    },

    /// The token store failed. Not `transparent`, which would hide the store's error from the
    /// source chain.
    #[error("the token store failed")]
    Store(#[from] StoreError),
}

impl ApiError {
    pub fn is_credentials(&self) -> bool {
        matches!(
            self,
            ApiError::Credentials { .. } | ApiError::SignatureRejected { .. }
        )
    }

    /// The host could not be reached.
    pub(crate) fn is_unreachable(&self) -> bool {
        matches!(self, ApiError::Unreachable { .. })
    }

    /// Every other request would fail the same way (credentials refused, host unreachable):
    /// a job stops at the first, and `sync` stops its remaining jobs.
    pub(crate) fn fails_every_request(&self) -> bool {
        self.is_credentials() || self.is_unreachable()
    }

    /// The HTTP status of a final answer, if that is what this is.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What went wrong with a request that got no answer, in the operator's words: the deepest
/// cause (the operating system's "connection refused", the resolver's "no such host"), or
/// "timed out after N s".
pub(super) fn transport_detail(e: &reqwest::Error, timeout: std::time::Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {} s", timeout.as_secs_f64());
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if let Some(io) = cause.downcast_ref::<std::io::Error>() {
        if io.kind() == std::io::ErrorKind::ConnectionRefused {
            return "connection refused".into();
        }
    }
    let text = cause.to_string();
    if text.is_empty() {
        e.to_string()
    } else {
        text
    }
}

/// Why the retries stopped, and what the last attempt ran into (if anything was said).
pub(super) fn with_last_error(reason: String, detail: &str) -> String {
    if detail.is_empty() {
        reason
    } else {
        format!("{reason}; last error: {detail}")
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
    fn a_too_large_answer_names_the_path_the_limit_and_the_key() {
        let e = ApiError::TooLarge {
            method: "GET".into(),
            path: "/v2/inventory".into(),
            limit: 65536,
            declared: Some(1 << 30),
        };
        assert_eq!(
            e.to_string(),
            "GET /v2/inventory: the answer is larger than api.max_response_bytes (65536 bytes): \
             its Content-Length is 1073741824, so it was not read. To fix: raise \
             api.max_response_bytes (or AHEAD_SYNC__API__MAX_RESPONSE_BYTES), or ask for smaller \
             pages with api.page_size"
        );
        let e = ApiError::TooLarge {
            method: "POST".into(),
            path: "/oauth/token".into(),
            limit: 65536,
            declared: None,
        };
        assert_eq!(
            e.to_string(),
            "POST /oauth/token: the answer is larger than api.max_response_bytes (65536 bytes), \
             so reading stopped there. To fix: raise api.max_response_bytes \
             (or AHEAD_SYNC__API__MAX_RESPONSE_BYTES)"
        );
    }

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
