//! Legacy (MBX-era) request signing: instead of an OAuth bearer token, every request carries
//! `MBX-Auth: PUBLIC_TOKEN:SIGNATURE` and `X-Date: DATE`, where
//! `SIGNATURE = base64(HMAC-SHA1(secret, METHOD \n md5hex(body) \n DATE \n PATH))` and PATH is the
//! path with its query string, exactly as sent [doc].
//!
//! A request is signed afresh on every attempt (its date changes), over the bytes actually sent:
//! a bodiless request is signed over the empty body.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;

use crate::secret::Secret;

/// The request headers of a signed request [doc].
pub(crate) const AUTH_HEADER: &str = "MBX-Auth";
pub(crate) const DATE_HEADER: &str = "X-Date";

/// The credentials of a legacy account: the public token names it, the secret signs.
#[derive(Clone)]
pub struct MbxKeys {
    pub public_token: String,
    pub secret_token: Secret,
}

impl std::fmt::Debug for MbxKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MbxKeys")
            .field("public_token", &self.public_token)
            .field("secret_token", &self.secret_token)
            .finish()
    }
}

impl MbxKeys {
    /// The `MBX-Auth` and `X-Date` values for one attempt of a request.
    pub(crate) fn headers(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        date: &str,
    ) -> (String, String) {
        let signature = sign(
            self.secret_token.expose(),
            method,
            body,
            date,
            path_and_query,
        );
        (
            format!("{}:{signature}", self.public_token),
            date.to_string(),
        )
    }
}

/// `base64(HMAC-SHA1(secret, METHOD \n md5hex(body) \n DATE \n PATH))`.
pub(crate) fn sign(secret: &str, method: &str, body: &[u8], date: &str, path: &str) -> String {
    let md5hex = hex::encode(Md5::digest(body));
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(method.as_bytes());
    mac.update(b"\n");
    mac.update(md5hex.as_bytes());
    mac.update(b"\n");
    mac.update(date.as_bytes());
    mac.update(b"\n");
    mac.update(path.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `X-Date` as the MBX clients sent it: UTC, microseconds, no zone suffix
/// (`2014-10-03T17:16:10.444663`).
pub(crate) fn date_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vectors {
        date_signed: String,
        vectors: Vec<Vector>,
    }

    #[derive(serde::Deserialize)]
    struct Vector {
        method: String,
        url: String,
        body: String,
        date: String,
        token: String,
        secret: String,
        signature: String,
    }

    /// The official vectors of MBX's own JavaScript client (12 of its 50).
    #[test]
    fn the_official_vectors_sign_as_published() {
        let v: Vectors =
            serde_json::from_str(include_str!("../../tests/data/mbx-signature-vectors.json"))
                .unwrap();
        assert_eq!(v.vectors.len(), 12);
        for t in &v.vectors {
            assert_eq!(t.date, v.date_signed);
            let keys = MbxKeys {
                public_token: t.token.clone(),
                secret_token: Secret::new(t.secret.clone()),
            };
            let (auth, date) = keys.headers(&t.method, &t.url, t.body.as_bytes(), &t.date);
            assert_eq!(auth, format!("{}:{}", t.token, t.signature), "{}", t.url);
            assert_eq!(date, t.date);
        }
    }

    #[test]
    fn the_contract_vector_signs_as_documented() {
        let sig = sign(
            "secret-token-provided-by-mbx",
            "GET",
            b"{}",
            "2014-10-03T17:16:10.444663",
            "/v2/countries/0",
        );
        assert_eq!(sig, "cF2DdHJgACnSy7B/VuMCIhX3IkU=");
    }

    #[test]
    fn the_query_string_is_signed() {
        let a = sign("s", "GET", b"", "d", "/v2/items");
        let b = sign("s", "GET", b"", "d", "/v2/items?q=%7B%7D");
        assert_ne!(a, b);
    }

    #[test]
    fn the_date_has_microseconds_and_no_zone() {
        let d = date_now();
        assert_eq!(d.len(), "2014-10-03T17:16:10.444663".len(), "{d}");
        assert!(chrono::NaiveDateTime::parse_from_str(&d, "%Y-%m-%dT%H:%M:%S%.6f").is_ok());
    }

    #[test]
    fn debug_hides_the_secret() {
        let keys = MbxKeys {
            public_token: "pub-1".into(),
            secret_token: Secret::new("very-secret-value"),
        };
        let dbg = format!("{keys:?}");
        assert!(
            dbg.contains("pub-1") && !dbg.contains("very-secret-value"),
            "{dbg}"
        );
    }
}
