//! OAuth tokens: obtained by an authorization grant read from the 302's `Location` (never
//! followed), stored in the store, refreshed before expiry and after any 401.
//!
//! One [`Auth`] per client. Its mutex is the whole anti-stampede mechanism: a request that saw a
//! 401 with token generation `g` asks for a refresh "of `g`"; the first caller in refreshes, and
//! everyone queued behind it finds the generation already moved on and simply replays with the
//! new token. Across processes the store is the arbiter: before refreshing we re-read it, since a
//! concurrent run may already have rotated the refresh token (which kills ours).

use std::time::Duration;

use rand::Rng;
use reqwest::header::LOCATION;
use reqwest::Method;
use tokio::sync::Mutex;
use url::Url;

use super::contract::{self, OAuthError, TokenAnswer};
use super::error::ApiError;
use super::transport::Transport;
use crate::secret::Secret;
use crate::store::{Store, StoredToken};
use crate::time::now_unix;

pub(crate) struct Auth {
    /// The request loop, shared with the API calls.
    pub transport: Transport,
    pub base: Url,
    pub client_id: String,
    pub client_secret: Secret,
    pub redirect_uri: Option<String>,
    pub store: Store,
    /// Row of the token in the store: configured base URL and client id.
    pub key: String,
    /// Refresh when the access token has less than this left.
    pub margin: Duration,
    /// The token this process uses; `None` until first needed (then loaded from the store).
    pub state: Mutex<Option<StoredToken>>,
}

/// How a token request failed, before it becomes an [`ApiError`].
enum TokenFailure {
    /// `400 invalid_grant`: the grant or refresh token is bad, used or expired.
    InvalidGrant,
    Fatal(ApiError),
}

impl From<ApiError> for TokenFailure {
    fn from(e: ApiError) -> Self {
        TokenFailure::Fatal(e)
    }
}

impl Auth {
    /// A usable access token and its generation; loads, grants or refreshes as needed.
    pub(super) async fn bearer(&self) -> Result<(Secret, i64), ApiError> {
        let mut state = self.state.lock().await;
        if state.is_none() {
            *state = self.store.token(&self.key)?;
        }
        match state.as_ref() {
            None => {
                let token = self.grant_and_save().await?;
                *state = Some(token);
            }
            Some(token) if self.expiring(token) => {
                tracing::debug!(
                    expires_at = token.expires_at,
                    "Access token near expiry; refreshing."
                );
                self.refresh_locked(&mut state).await?;
            }
            Some(_) => {}
        }
        let token = state.as_ref().expect("set above");
        Ok((token.access_token.clone(), token.generation))
    }

    /// A request carrying generation `generation` was answered 401. Refresh once for everyone.
    pub(super) async fn unauthorized(&self, generation: i64) -> Result<(), ApiError> {
        let mut state = self.state.lock().await;
        if state.as_ref().map(|t| t.generation) != Some(generation) {
            // Someone refreshed while we waited for the lock: just replay.
            return Ok(());
        }
        self.refresh_locked(&mut state).await
    }

    /// Throw away any stored token and obtain a new one through a fresh grant (`auth login`).
    pub(super) async fn login(&self) -> Result<StoredToken, ApiError> {
        let mut state = self.state.lock().await;
        let token = self.grant_and_save().await?;
        *state = Some(token.clone());
        Ok(token)
    }

    fn expiring(&self, token: &StoredToken) -> bool {
        token.expires_at - now_unix() <= self.margin.as_secs() as i64
    }

    async fn refresh_locked(&self, state: &mut Option<StoredToken>) -> Result<(), ApiError> {
        let held = state.clone();
        // Another process may have rotated the tokens since we loaded them.
        if let Some(stored) = self.store.token(&self.key)? {
            let newer = held
                .as_ref()
                .is_none_or(|h| stored.generation > h.generation);
            if newer && !self.expiring(&stored) {
                tracing::debug!("Using the token another run stored.");
                *state = Some(stored);
                return Ok(());
            }
            if newer {
                *state = Some(stored);
            }
        }
        let Some(current) = state.clone() else {
            *state = Some(self.grant_and_save().await?);
            return Ok(());
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", current.refresh_token.expose()),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        match self.token_request(&form).await {
            Ok(answer) => {
                self.transport.stats.bump(&self.transport.stats.refreshes);
                tracing::info!("Access token refreshed.");
                *state = Some(self.save(answer)?);
                Ok(())
            }
            Err(TokenFailure::InvalidGrant) => {
                if let Some(stored) = self.store.token(&self.key)? {
                    if stored.generation > current.generation {
                        *state = Some(stored);
                        return Ok(());
                    }
                }
                tracing::warn!("Refresh token rejected by AHEAD; obtaining a new grant.");
                *state = Some(self.grant_and_save().await?);
                Ok(())
            }
            Err(TokenFailure::Fatal(e)) => Err(e),
        }
    }

    async fn grant_and_save(&self) -> Result<StoredToken, ApiError> {
        let code = self.authorize().await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        match self.token_request(&form).await {
            Ok(answer) => {
                self.transport.stats.bump(&self.transport.stats.grants);
                tracing::info!("Obtained new tokens through an authorization grant.");
                Ok(self.save(answer)?)
            }
            Err(TokenFailure::InvalidGrant) => Err(ApiError::Protocol {
                method: "POST".into(),
                path: contract::TOKEN_PATH.into(),
                detail: "a grant just issued was refused as invalid_grant".into(),
            }),
            Err(TokenFailure::Fatal(e)) => Err(e),
        }
    }

    /// Committed before the new tokens are used: the old refresh token is already dead.
    fn save(&self, answer: TokenAnswer) -> Result<StoredToken, ApiError> {
        let now = now_unix();
        let access = Secret::new(answer.access_token);
        let refresh = Secret::new(answer.refresh_token);
        let expires_at = now + answer.expires_in;
        let generation = self
            .store
            .save_token(&self.key, &access, &refresh, expires_at, now)?;
        Ok(StoredToken {
            access_token: access,
            refresh_token: refresh,
            expires_at,
            obtained_at: now,
            generation,
        })
    }

    /// `GET /oauth/authorize` without following the redirect; the grant is in `Location`.
    async fn authorize(&self) -> Result<Secret, ApiError> {
        let path = contract::AUTHORIZE_PATH;
        let state: String = {
            let mut rng = rand::rng();
            (0..16)
                .map(|_| format!("{:02x}", rng.random::<u8>()))
                .collect()
        };
        let mut url = self.url(path)?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("response_type", "code");
            pairs.append_pair("client_id", &self.client_id);
            if let Some(uri) = &self.redirect_uri {
                pairs.append_pair("redirect_uri", uri);
            }
            pairs.append_pair("state", &state);
        }
        let http = &self.transport.http;
        let answer = self
            .transport
            .send(&Method::GET, path, &url, true, &mut 0, || {
                http.get(url.clone())
            })
            .await?;
        let status = answer.status;
        if status == 401 {
            let body = String::from_utf8_lossy(&answer.body);
            return Err(ApiError::Credentials {
                detail: format!(
                    "GET {path} answered 401 ({}) for client id {:?}",
                    body.trim(),
                    self.client_id
                ),
            });
        }
        if status != 302 && status != 303 {
            return Err(self.protocol(
                "GET",
                path,
                format!("expected a 302 redirect, got HTTP {status}"),
            ));
        }
        let location = answer
            .headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.protocol("GET", path, "302 without a Location header".into()))?;
        let location = Url::parse(location)
            .map_err(|e| self.protocol("GET", path, format!("Location is not a URL: {e}")))?;
        let mut code = None;
        let mut echoed = None;
        for (k, v) in location.query_pairs() {
            match k.as_ref() {
                "code" => code = Some(v.into_owned()),
                "state" => echoed = Some(v.into_owned()),
                _ => {}
            }
        }
        if echoed.as_deref() != Some(state.as_str()) {
            return Err(self.protocol("GET", path, "the redirect did not echo our state".into()));
        }
        self.transport
            .stats
            .bump(&self.transport.stats.authorizations);
        code.map(Secret::new)
            .ok_or_else(|| self.protocol("GET", path, "the redirect carries no code".into()))
    }

    /// `POST /oauth/token` with a form; 429/5xx/network errors are retried (a lost refresh at
    /// worst costs the refresh token, which the next attempt notices as `invalid_grant`).
    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenAnswer, TokenFailure> {
        let path = contract::TOKEN_PATH;
        let url = self.url(path)?;
        let http = &self.transport.http;
        let answer = self
            .transport
            .send(&Method::POST, path, &url, true, &mut 0, || {
                http.post(url.clone()).form(form)
            })
            .await?;
        let (status, body) = (answer.status, answer.body);
        if status == 200 {
            return serde_json::from_slice::<TokenAnswer>(&body).map_err(|e| {
                TokenFailure::Fatal(self.protocol("POST", path, format!("bad token answer: {e}")))
            });
        }
        let error = serde_json::from_slice::<OAuthError>(&body)
            .map(|e| e.error)
            .unwrap_or_default();
        match (status, error.as_str()) {
            (400, contract::INVALID_GRANT) => Err(TokenFailure::InvalidGrant),
            (401, _) | (_, contract::INVALID_CLIENT) => {
                Err(TokenFailure::Fatal(ApiError::Credentials {
                    detail: format!(
                    "POST {path} answered {status} {} for client id {:?} (wrong client secret?)",
                    if error.is_empty() { "invalid_client" } else { &error },
                    self.client_id
                ),
                }))
            }
            _ => Err(TokenFailure::Fatal(self.protocol(
                "POST",
                path,
                format!(
                    "HTTP {status} {}",
                    if error.is_empty() { "" } else { &error }
                ),
            ))),
        }
    }

    fn url(&self, path: &str) -> Result<Url, ApiError> {
        self.base.join(path).map_err(|e| ApiError::Setup {
            method: String::new(),
            path: path.into(),
            detail: e.to_string(),
        })
    }

    fn protocol(&self, method: &str, path: &str, detail: String) -> ApiError {
        ApiError::Protocol {
            method: method.into(),
            path: path.into(),
            detail,
        }
    }
}
