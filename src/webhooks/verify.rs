//! Delivery checks that need no I/O: the signature (constant time) and the body's shape.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Why a delivery was refused; the name is also the counter shown by `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    MissingSignature,
    BadSignature,
    TooLarge,
    ContentType,
    Malformed,
}

impl Rejection {
    pub fn name(self) -> &'static str {
        match self {
            Rejection::MissingSignature => "missing_signature",
            Rejection::BadSignature => "bad_signature",
            Rejection::TooLarge => "too_large",
            Rejection::ContentType => "content_type",
            Rejection::Malformed => "malformed",
        }
    }

    pub const ALL: [Rejection; 5] = [
        Rejection::MissingSignature,
        Rejection::BadSignature,
        Rejection::TooLarge,
        Rejection::ContentType,
        Rejection::Malformed,
    ];
}

/// Check `X-Ahead-Signature: sha256=HEX` against the HMAC-SHA256 of the raw body. The
/// comparison is constant-time (`Mac::verify_slice`), so timing reveals nothing of the secret.
pub fn check_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), Rejection> {
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
pub struct Delivery<'a> {
    pub id: String,
    pub event: String,
    #[serde(borrow)]
    pub data: &'a serde_json::value::RawValue,
}

/// Parse a delivery body; anything not of the documented shape is `Malformed`.
pub fn parse(body: &[u8]) -> Result<Delivery<'_>, Rejection> {
    let d: Delivery<'_> = serde_json::from_slice(body).map_err(|_| Rejection::Malformed)?;
    if d.id.is_empty() || d.event.is_empty() || !d.data.get().trim_start().starts_with('{') {
        return Err(Rejection::Malformed);
    }
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
}
