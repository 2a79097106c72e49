//! Delivery checks that need no I/O: the signature (constant time) and the body's shape.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Why a delivery was refused; the name is also the counter shown by `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no X-Ahead-Signature header")]
    MissingSignature,
    #[error("the signature does not match the body")]
    BadSignature,
    #[error("the body is larger than webhooks.max_body_bytes")]
    TooLarge,
    #[error("the content type is not application/json")]
    ContentType,
    #[error("the body is not a delivery (JSON with id, event and an object as data)")]
    Malformed,
    #[error("the body nests arrays and objects more than {MAX_DEPTH} levels deep")]
    TooDeep,
    #[error("the body did not arrive within webhooks.body_timeout_secs")]
    BodyTimeout,
}

impl Rejection {
    pub fn name(self) -> &'static str {
        match self {
            Rejection::MissingSignature => "missing_signature",
            Rejection::BadSignature => "bad_signature",
            Rejection::TooLarge => "too_large",
            Rejection::ContentType => "content_type",
            Rejection::Malformed => "malformed",
            Rejection::TooDeep => "too_deep",
            Rejection::BodyTimeout => "body_timeout",
        }
    }

    pub(crate) const ALL: [Rejection; 7] = [
        Rejection::MissingSignature,
        Rejection::BadSignature,
        Rejection::TooLarge,
        Rejection::ContentType,
        Rejection::Malformed,
        Rejection::TooDeep,
        Rejection::BodyTimeout,
    ];
}

/// How deep a delivery may nest arrays and objects, the envelope being the first level. AHEAD's
/// records are a few levels deep; serde_json refuses to read anything deeper than 128 levels,
/// and every reader of a stored record (the diff of the next delivery or pull, the exports)
/// reads it that way, often inside a structure of its own. A record stored deeper than that
/// would be accepted once and then fail every reader, so it is refused before it is stored.
pub(crate) const MAX_DEPTH: usize = 32;

/// Whether `body` nests arrays and objects at most `max` levels deep. A single pass with a
/// counter, no recursion: a hostile body costs its length, however it is nested. Brackets inside
/// strings do not count; the bytes need not be valid JSON (parsing comes after, and fails then).
pub(crate) fn within_depth(body: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// Whether a `Content-Type` is `application/json`, with any parameters (`; charset=utf-8`).
/// Type and subtype compare without regard to case (RFC 9110); anything else, including
/// `application/jsonx`, `text/json` and `application/json-patch+json`, is not.
pub(crate) fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("");
    essence.trim().eq_ignore_ascii_case("application/json")
}

/// Check `X-Ahead-Signature: sha256=HEX` against the HMAC-SHA256 of the raw body. The
/// comparison is constant-time (`Mac::verify_slice`), so timing reveals nothing of the secret.
pub(crate) fn check_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), Rejection> {
    let header = header.ok_or(Rejection::MissingSignature)?;
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(Rejection::BadSignature)?;
    let expected = hex::decode(hex_sig).map_err(|_| Rejection::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| Rejection::BadSignature)
}

/// Sign a body the way AHEAD does (for tests and load generators).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The envelope of a delivery; `data` stays raw until it is applied.
#[derive(Debug, Deserialize)]
pub(crate) struct Delivery<'a> {
    pub id: String,
    pub event: String,
    #[serde(borrow)]
    pub data: &'a serde_json::value::RawValue,
}

/// Parse a delivery body; anything not of the documented shape is `Malformed`, anything nested
/// deeper than [`MAX_DEPTH`] is `TooDeep`. `data` must also read back as a JSON object the way
/// every reader of the mirror reads it (into a map of values, which, unlike the raw value kept
/// here, decodes every string: a lone UTF-16 surrogate escape fails there), so that nothing is
/// stored that a later reader cannot read.
pub(crate) fn parse(body: &[u8]) -> Result<Delivery<'_>, Rejection> {
    if !within_depth(body, MAX_DEPTH) {
        return Err(Rejection::TooDeep);
    }
    let d: Delivery<'_> = serde_json::from_slice(body).map_err(|_| Rejection::Malformed)?;
    if d.id.is_empty() || d.event.is_empty() {
        return Err(Rejection::Malformed);
    }
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(d.data.get())
        .map_err(|_| Rejection::Malformed)?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let body = br#"{"id":"evt_1"}"#;
        let good = sign(b"s3cret", body);
        assert!(good.starts_with("sha256=") && good.len() == 7 + 64);
        assert_eq!(check_signature(b"s3cret", body, Some(&good)), Ok(()));
        assert_eq!(
            check_signature(b"other", body, Some(&good)),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            check_signature(b"s3cret", b"{}", Some(&good)),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            check_signature(b"s3cret", body, None),
            Err(Rejection::MissingSignature)
        );
        assert_eq!(
            check_signature(b"s3cret", body, Some("sha1=00")),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            check_signature(b"s3cret", body, Some("sha256=zz")),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn shapes() {
        assert!(parse(
            br#"{"id":"evt_1","event":"invoice.created","created_at":"x","data":{"id":1}}"#
        )
        .is_ok());
        assert_eq!(parse(b"{").unwrap_err(), Rejection::Malformed);
        assert_eq!(
            parse(br#"{"id":"evt_1","event":"x","data":[1]}"#).unwrap_err(),
            Rejection::Malformed
        );
        assert_eq!(
            parse(br#"{"event":"x","data":{}}"#).unwrap_err(),
            Rejection::Malformed
        );
    }

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn depth_is_counted_without_recursion_and_ignores_strings() {
        assert!(within_depth(b"{}", 1));
        assert!(!within_depth(b"{\"a\":[]}", 1));
        assert!(within_depth(nested(32).as_bytes(), 32));
        assert!(!within_depth(nested(33).as_bytes(), 32));
        // Far deeper than any recursion would survive.
        assert!(!within_depth(nested(1_000_000).as_bytes(), 32));
        // Brackets in strings, escaped quotes and escaped backslashes.
        assert!(within_depth(br#"{"a":"[[[[\"[[[[","b":"\\"}"#, 1));
        assert!(!within_depth(br#"{"a":"\\",  "b":[]}"#, 1));
        // Closing more than was opened does not earn depth for later.
        assert!(!within_depth(b"]]]]{[", 1));
    }

    #[test]
    fn deliveries_that_could_not_be_read_back_are_refused() {
        let deep = format!(
            r#"{{"id":"evt_1","event":"fulfillment_order.updated","data":{{"id":1,"x":{}}}}}"#,
            nested(130)
        );
        assert_eq!(parse(deep.as_bytes()).unwrap_err(), Rejection::TooDeep);
        // The envelope and data are two levels: 30 more is the most a record may nest.
        let deepest = format!(
            r#"{{"id":"evt_1","event":"fulfillment_order.updated","data":{{"id":1,"x":{}}}}}"#,
            nested(30)
        );
        assert!(parse(deepest.as_bytes()).is_ok());
        let one_more = deepest.replacen("[", "[[", 1).replacen("]", "]]", 1);
        assert_eq!(parse(one_more.as_bytes()).unwrap_err(), Rejection::TooDeep);
        // A raw value keeps a lone surrogate escape; reading the record back would fail.
        let surrogate = br#"{"id":"evt_1","event":"x","data":{"id":1,"name":"\ud800"}}"#;
        assert_eq!(parse(surrogate).unwrap_err(), Rejection::Malformed);
        let pair = br#"{"id":"evt_1","event":"x","data":{"id":1,"name":"\ud83d\ude00"}}"#;
        assert!(parse(pair).is_ok());
    }

    #[test]
    fn only_application_json_is_json() {
        for yes in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON;charset=UTF-8",
            " application/json ",
        ] {
            assert!(is_json(yes), "{yes}");
        }
        for no in [
            "",
            "application/jsonx",
            "text/json",
            "application/json-patch+json",
            "application/x-json",
            "text/plain; application/json",
            "application/json-seq",
        ] {
            assert!(!is_json(no), "{no}");
        }
    }
}
