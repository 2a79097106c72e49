//! OAuth 2 (authorization code and refresh token grants), bearer checks, and the legacy
//! MBX-Auth request signing.
//!
//! Tokens are random and not part of the seeded world: determinism is about data, not
//! credentials. They are saved with the state file, so a token outlives one process, as it
//! does against the real service.

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha1::Sha1;

use super::rules;
use super::server::App;
use super::shared::lock;

/// Live credentials. Expiry instants are sandbox-clock seconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Auth {
    /// Authorization codes not yet exchanged, with their expiry. Exchange removes them.
    pub grants: HashMap<String, i64>,
    /// Access tokens with their expiry. Revocation removes them.
    pub access: HashMap<String, i64>,
    /// Refresh tokens still usable. Rotation removes the old one.
    pub refresh: HashSet<String>,
}

fn random_token(prefix: &str) -> String {
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut b);
    format!("{prefix}{}", hex::encode(b))
}

fn query_pairs(q: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

/// `GET /oauth/authorize`: a 302 to the registered redirect URL carrying a fresh grant.
pub(crate) async fn authorize(State(app): State<App>, RawQuery(q): RawQuery) -> Response {
    let p = query_pairs(q.as_deref());
    let cfg = &app.config;
    if p.get("client_id") != Some(&cfg.client_id) {
        return text(StatusCode::UNAUTHORIZED, rules::OAUTH_INVALID_CLIENT_TEXT);
    }
    if p.get("redirect_uri")
        .is_some_and(|r| *r != cfg.redirect_uri)
    {
        return text(StatusCode::BAD_REQUEST, "Invalid redirect_uri");
    }
    let Ok(mut location) = url::Url::parse(&cfg.redirect_uri) else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The registered redirect_uri is not a URL",
        );
    };
    if p.get("response_type").map(String::as_str) != Some("code") {
        location
            .query_pairs_mut()
            .append_pair("error", "unsupported_response_type");
    } else {
        let code = random_token("gr_");
        let expires = app.now() + rules::GRANT_LIFETIME.as_secs() as i64;
        lock(&app.auth).grants.insert(code.clone(), expires);
        app.count(|c| c.grants_issued += 1);
        location.query_pairs_mut().append_pair("code", &code);
    }
    if let Some(state) = p.get("state") {
        location.query_pairs_mut().append_pair("state", state);
    }
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

/// `POST /oauth/token`: exchanges a grant or a refresh token for a new token pair.
pub(crate) async fn token(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let mut p: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    // Client credentials may also come as HTTP Basic, as RFC 6749 prefers.
    if let Some((id, secret)) = basic_credentials(&headers) {
        p.entry("client_id".into()).or_insert(id);
        p.entry("client_secret".into()).or_insert(secret);
    }
    let cfg = &app.config;
    if p.get("client_id") != Some(&cfg.client_id)
        || p.get("client_secret") != Some(&cfg.client_secret)
    {
        return oauth_error(StatusCode::UNAUTHORIZED, rules::OAUTH_INVALID_CLIENT);
    }
    let now = app.now();
    let mut auth = lock(&app.auth);
    match p.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(code) = p.get("code") else {
                return oauth_error(StatusCode::BAD_REQUEST, rules::OAUTH_INVALID_REQUEST);
            };
            match auth.grants.remove(code) {
                Some(expires) if expires > now => {
                    app.count(|c| c.grant_exchanges += 1);
                }
                _ => return oauth_error(StatusCode::BAD_REQUEST, rules::OAUTH_INVALID_GRANT),
            }
        }
        Some("refresh_token") => {
            let Some(rt) = p.get("refresh_token") else {
                return oauth_error(StatusCode::BAD_REQUEST, rules::OAUTH_INVALID_REQUEST);
            };
            let rejected = {
                let mut f = app.faults();
                let r = f.reject_refresh > 0;
                if r {
                    f.reject_refresh -= 1;
                }
                r
            };
            if rejected {
                auth.refresh.remove(rt);
                app.count(|c| c.rejected_refreshes += 1);
                return oauth_error(StatusCode::BAD_REQUEST, rules::OAUTH_INVALID_GRANT);
            }
            if !auth.refresh.remove(rt) {
                return oauth_error(StatusCode::BAD_REQUEST, rules::OAUTH_INVALID_GRANT);
            }
            app.count(|c| c.refreshes += 1);
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, rules::OAUTH_UNSUPPORTED_GRANT),
    }
    // Expired entries are dropped here, so the maps stay small without a sweeper task.
    auth.access.retain(|_, exp| *exp > now);
    auth.grants.retain(|_, exp| *exp > now);
    let access = random_token("at_");
    let refresh = random_token("rt_");
    let lifetime = rules::TOKEN_LIFETIME.as_secs();
    auth.access.insert(access.clone(), now + lifetime as i64);
    auth.refresh.insert(refresh.clone());
    axum::Json(json!({
        "access_token": access,
        "token_type": rules::TOKEN_TYPE,
        "expires_in": lifetime,
        "refresh_token": refresh,
    }))
    .into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// Checks the bearer token (or, when configured, the MBX-Auth signature) of a /v2 request.
pub(crate) fn authenticate(
    app: &App,
    headers: &HeaderMap,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Option<()> {
    if let (Some(sig), Some((public, secret))) = (
        headers.get(rules::MBX_AUTH_HEADER),
        app.config.legacy.as_ref(),
    ) {
        let date = headers.get(rules::MBX_DATE_HEADER)?.to_str().ok()?;
        let (p, given) = sig.to_str().ok()?.split_once(':')?;
        if p != public {
            return None;
        }
        // A bodiless GET may have been signed over "{}" (as in the contract's test vector)
        // or over the empty body; both are what the old client libraries sent.
        let candidates: &[&[u8]] = if body.is_empty() {
            &[b"", b"{}"]
        } else {
            &[body]
        };
        let ok = candidates.iter().any(|b| {
            constant_eq(
                mbx_signature(secret, method, b, date, path_and_query).as_bytes(),
                given.as_bytes(),
            )
        });
        return ok.then_some(());
    }
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim()
        .to_string();
    let now = app.now();
    let mut auth = lock(&app.auth);
    match auth.access.get(&token) {
        Some(exp) if *exp > now => {}
        _ => return None,
    }
    if super::faults::revoke_now(&mut app.faults()) {
        auth.access.remove(&token);
        return None;
    }
    Some(())
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `base64(HMAC-SHA1(secret, METHOD\nmd5hex(body)\nDATE\nPATH))`, PATH including the query.
pub fn mbx_signature(secret: &str, method: &str, body: &[u8], date: &str, path: &str) -> String {
    let md5hex = hex::encode(Md5::digest(body));
    let msg = format!("{method}\n{md5hex}\n{date}\n{path}");
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(msg.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbx_signature_matches_the_contract_test_vector() {
        let sig = mbx_signature(
            "secret-token-provided-by-mbx",
            "GET",
            b"{}",
            "2014-10-03T17:16:10.444663",
            "/v2/countries/0",
        );
        assert_eq!(sig, "cF2DdHJgACnSy7B/VuMCIhX3IkU=");
    }
}
