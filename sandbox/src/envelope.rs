//! The envelope every /v2 answer wears, success or error: written by hand into one buffer,
//! because the inventory hot path renders a thousand rows per page straight into it.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;

use super::rules;
use super::world::push_int;

/// One entry of `errors`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ApiError {
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(
        code: &'static str,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            code,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }
}

/// Room kept in front of the rows for the envelope's head, which is written last (the
/// count is known only then) right before the rows, so the body is never copied.
const HEAD_ROOM: usize = 128;

/// Builds an envelope in one buffer: rows are rendered straight into it, then the head
/// (`count`, `offset`, `total_results`) is slotted into the room left in front of them.
pub(crate) struct Envelope {
    buf: Vec<u8>,
    count: usize,
}

impl Envelope {
    pub(crate) fn with_capacity(n: usize) -> Envelope {
        let mut buf = Vec::with_capacity(HEAD_ROOM + n + 128);
        buf.resize(HEAD_ROOM, b' ');
        Envelope { buf, count: 0 }
    }

    /// Appends one record, rendered by `f` into the buffer.
    pub(crate) fn push(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        if self.count > 0 {
            self.buf.push(b',');
        }
        f(&mut self.buf);
        self.count += 1;
    }

    pub(crate) fn finish(
        mut self,
        status: StatusCode,
        offset: usize,
        total: usize,
        errors: &[ApiError],
    ) -> Response {
        let mut head = Vec::with_capacity(HEAD_ROOM);
        head.push(b'{');
        for (key, n) in [
            (rules::KEY_COUNT, self.count),
            (rules::KEY_OFFSET, offset),
            (rules::KEY_TOTAL, total),
        ] {
            head.push(b'"');
            head.extend_from_slice(key.as_bytes());
            head.extend_from_slice(b"\":");
            push_int(&mut head, n as i64);
            head.push(b',');
        }
        head.push(b'"');
        head.extend_from_slice(rules::KEY_RESULTS.as_bytes());
        head.extend_from_slice(b"\":[");
        let start = HEAD_ROOM - head.len();
        self.buf[start..HEAD_ROOM].copy_from_slice(&head);

        let b = &mut self.buf;
        b.extend_from_slice(b"],\"");
        b.extend_from_slice(rules::KEY_ERRORS.as_bytes());
        b.extend_from_slice(b"\":");
        if errors.is_empty() {
            b.extend_from_slice(b"null");
        } else {
            serde_json::to_writer(&mut *b, errors).expect("errors serialize");
        }
        b.push(b'}');
        json_response(status, Bytes::from(self.buf).slice(start..))
    }
}

pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// An error answer: empty results, the given errors.
pub(crate) fn error(status: StatusCode, errors: &[ApiError]) -> Response {
    Envelope::with_capacity(0).finish(status, 0, 0, errors)
}

pub(crate) fn error1(
    status: StatusCode,
    code: &'static str,
    field: Option<&str>,
    message: impl Into<String>,
) -> Response {
    error(status, &[ApiError::new(code, field, message)])
}

pub(crate) fn bad_request(message: impl Into<String>) -> Response {
    error1(
        StatusCode::BAD_REQUEST,
        rules::ERR_BAD_REQUEST,
        None,
        message,
    )
}

pub(crate) fn not_found() -> Response {
    error1(
        StatusCode::NOT_FOUND,
        rules::ERR_NOT_FOUND,
        None,
        "no such record or resource",
    )
}

/// A single record (`GET|PUT|DELETE /v2/R/ID`, `POST /v2/R`), or a 409 carrying the existing one.
pub(crate) fn one(
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
        assert!(body.starts_with(b"{\"count\":0,\"offset\":0,\"total_results\":0,\"results\":[]"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"count":0,"offset":0,"total_results":0,"results":[],
                "errors":[{"code":"bad_request","field":"q","message":"nope"}]})
        );
    }
}
