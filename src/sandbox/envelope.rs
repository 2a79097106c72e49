//! The envelope every /v2 answer wears, success or error: written by hand into one buffer,
//! because the inventory hot path renders a thousand rows per page straight into it.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;

use super::rules;
use super::world::push_int;

/// One entry of `errors`.
#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &'static str, field: Option<&str>, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }
}

/// Builds an envelope; `rows` writes the rendered records separated by commas.
pub struct Envelope {
    buf: Vec<u8>,
    count: usize,
}

impl Envelope {
    pub fn with_capacity(n: usize) -> Envelope {
        let mut buf = Vec::with_capacity(n + 128);
        buf.extend_from_slice(b"{\"");
        buf.extend_from_slice(rules::KEY_RESULTS.as_bytes());
        buf.extend_from_slice(b"\":[");
        Envelope { buf, count: 0 }
    }

    /// Appends one record, rendered by `f` into the buffer.
    pub fn push(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        if self.count > 0 {
            self.buf.push(b',');
        }
        f(&mut self.buf);
        self.count += 1;
    }

    pub fn finish(
        mut self,
        status: StatusCode,
        offset: usize,
        total: usize,
        errors: &[ApiError],
    ) -> Response {
        let b = &mut self.buf;
        b.extend_from_slice(b"],\"");
        for (key, n) in [
            (rules::KEY_COUNT, self.count),
            (rules::KEY_OFFSET, offset),
            (rules::KEY_TOTAL, total),
        ] {
            b.extend_from_slice(key.as_bytes());
            b.extend_from_slice(b"\":");
            push_int(b, n as i64);
            b.extend_from_slice(b",\"");
        }
        b.extend_from_slice(rules::KEY_ERRORS.as_bytes());
        b.extend_from_slice(b"\":");
        if errors.is_empty() {
            b.extend_from_slice(b"null");
        } else {
            serde_json::to_writer(&mut *b, errors).expect("errors serialize");
        }
        b.push(b'}');
        json_response(status, self.buf)
    }
}

pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// An error answer: empty results, the given errors.
pub fn error(status: StatusCode, errors: &[ApiError]) -> Response {
    Envelope::with_capacity(0).finish(status, 0, 0, errors)
}

pub fn error1(
    status: StatusCode,
    code: &'static str,
    field: Option<&str>,
    message: impl Into<String>,
) -> Response {
    error(status, &[ApiError::new(code, field, message)])
}

pub fn bad_request(message: impl Into<String>) -> Response {
    error1(
        StatusCode::BAD_REQUEST,
        rules::ERR_BAD_REQUEST,
        None,
        message,
    )
}

pub fn not_found() -> Response {
    error1(
        StatusCode::NOT_FOUND,
        rules::ERR_NOT_FOUND,
        None,
        "no such record or resource",
    )
}

/// A single record (`GET|PUT|DELETE /v2/R/ID`, `POST /v2/R`), or a 409 carrying the existing one.
pub fn one(
    status: StatusCode,
    record: &serde_json::Map<String, serde_json::Value>,
    errors: &[ApiError],
) -> Response {
    let mut env = Envelope::with_capacity(512);
    env.push(|b| serde_json::to_writer(b, record).expect("record serializes"));
    env.finish(status, 0, 1, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn error_envelope_shape() {
        let r = error1(StatusCode::BAD_REQUEST, "bad_request", Some("q"), "nope");
        let body = axum::body::to_bytes(r.into_body(), 10_000).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"count":0,"offset":0,"total_results":0,"results":[],
                "errors":[{"code":"bad_request","field":"q","message":"nope"}]})
        );
    }
}
