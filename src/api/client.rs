//! The AHEAD client: typed calls over the request loop (`transport`), with the bearer token
//! and its refresh on a 401.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde::Serialize;
use tokio::sync::Mutex;
use url::Url;

use super::auth::Auth;
use super::contract::{self, Envelope};
use super::error::ApiError;
use super::mbx::{self, MbxKeys};
use super::pace::Pacer;
use super::query::Query;
use super::retry::RetryPolicy;
use super::transport::{Answer, Transport};
use crate::secret::Secret;
use crate::store::{Store, StoredToken};

/// How the client waits between attempts. Production sleeps on tokio's clock; tests can record
/// the waits asked for instead of spending them.
pub trait Sleeper: Send + Sync {
    fn sleep(&self, wait: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;

    /// The clock the waits are measured on (the pacing reads it). A sleeper that records waits
    /// instead of spending them should move its own clock by each one.
    fn now(&self) -> tokio::time::Instant {
        tokio::time::Instant::now()
    }
}

pub(crate) struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, wait: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(wait))
    }
}

/// Counters for run history and tests: what this client did on the wire.
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP requests sent (API and OAuth).
    pub requests: AtomicU64,
    /// Attempts that were retried (429, 5xx, network).
    pub retries: AtomicU64,
    /// Of those, 429 answers.
    pub rate_limited: AtomicU64,
    /// 401 answers on `/v2`.
    pub unauthorized: AtomicU64,
    /// Refresh-token exchanges that succeeded.
    pub refreshes: AtomicU64,
    /// Authorization grants obtained (login or re-grant).
    pub grants: AtomicU64,
    /// `/oauth/authorize` redirects read.
    pub authorizations: AtomicU64,
    /// Attempts held back by a pause that a 429's `Retry-After` set (their own or another's).
    pub paused: AtomicU64,
    /// Attempts that waited for their slot under `api.max_requests_per_second`.
    pub paced: AtomicU64,
}

impl Stats {
    pub(crate) fn bump(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Everything the client needs to know; built from `[api]` settings.
#[derive(Clone)]
pub struct ClientConfig {
    /// Scheme, host and port; paths such as `/v2/inventory` are joined to it.
    pub base_url: Url,
    /// The OAuth client (unused when `mbx` is set).
    pub client_id: String,
    pub client_secret: Secret,
    pub redirect_uri: Option<String>,
    /// Row of the token in the store.
    pub token_key: String,
    /// A legacy (MBX-era) account: every request is signed with these keys, and the OAuth
    /// fields above are not used (no token is obtained or stored).
    pub mbx: Option<MbxKeys>,
    pub timeout: Duration,
    pub concurrency: usize,
    pub page_size: u32,
    pub refresh_margin: Duration,
    pub retry: RetryPolicy,
    /// The most of one answer that is read (`api.max_response_bytes`); a larger one fails its
    /// request with [`ApiError::TooLarge`] instead of being held in memory.
    pub max_response_bytes: u64,
    /// AHEAD's known rate limit (`api.max_requests_per_second`): every request of this client,
    /// token calls included, is paced to it. `None`: only a 429's `Retry-After` holds them back.
    pub max_requests_per_second: Option<f64>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("token_key", &self.token_key)
            .field("mbx", &self.mbx)
            .field("max_requests_per_second", &self.max_requests_per_second)
            .finish_non_exhaustive()
    }
}

/// A cheap-to-clone handle on one AHEAD account.
#[derive(Clone)]
pub struct ApiClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    auth: Auth,
    transport: Transport,
    stats: Arc<Stats>,
}

impl ApiClient {
    pub fn new(config: ClientConfig, store: Store) -> Result<ApiClient, ApiError> {
        Self::with_sleeper(config, store, Arc::new(TokioSleeper))
    }

    pub fn with_sleeper(
        config: ClientConfig,
        store: Store,
        sleeper: Arc<dyn Sleeper>,
    ) -> Result<ApiClient, ApiError> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ahead-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Setup {
                method: String::new(),
                path: String::new(),
                detail: e.to_string(),
            })?;
        let stats = Arc::new(Stats::default());
        let transport = Transport {
            http,
            retry: config.retry.clone(),
            timeout: config.timeout,
            max_response_bytes: config.max_response_bytes,
            stats: stats.clone(),
            sleeper,
            pacer: Arc::new(Pacer::new(config.max_requests_per_second)),
        };
        let auth = Auth {
            transport: transport.clone(),
            base: config.base_url.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            redirect_uri: config.redirect_uri.clone(),
            store,
            key: config.token_key.clone(),
            margin: config.refresh_margin,
            state: Mutex::new(None),
        };
        Ok(ApiClient {
            inner: Arc::new(Inner {
                config,
                auth,
                transport,
                stats,
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// Obtain fresh tokens through a new authorization grant and store them.
    /// Not for legacy accounts, which sign each request and have no tokens to obtain.
    pub async fn login(&self) -> Result<StoredToken, ApiError> {
        if self.inner.config.mbx.is_some() {
            return Err(ApiError::Setup {
                method: "GET".into(),
                path: contract::AUTHORIZE_PATH.into(),
                detail: "a legacy MBX account signs each request and has no login".into(),
            });
        }
        self.inner.auth.login().await
    }

    /// `GET /v2/authenticate`: the organisation these credentials belong to.
    pub async fn authenticate(&self) -> Result<String, ApiError> {
        let path = contract::AUTHENTICATE_PATH;
        let answer = self.execute(Method::GET, path, None, None).await?;
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        if answer.status != 200 {
            return Err(self.final_error(&Method::GET, path, answer));
        }
        Ok(text
            .trim()
            .strip_prefix(contract::AUTHENTICATED_AS)
            .unwrap_or(text.trim())
            .to_string())
    }

    /// `GET` a list or a record; `query` becomes the `q` parameter.
    pub async fn get(&self, path: &str, query: Option<&Query>) -> Result<Envelope, ApiError> {
        let q = query.map(Query::to_json);
        self.envelope(Method::GET, path, q, None).await
    }

    /// `POST` a JSON body (create). A lost answer is [`ApiError::Ambiguous`], never re-sent.
    pub async fn post<T: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<Envelope, ApiError> {
        let body = self.encode(&Method::POST, path, body)?;
        self.envelope(Method::POST, path, None, Some(body)).await
    }

    /// `POST` a body already serialised as JSON.
    pub(crate) async fn post_json(&self, path: &str, json: Vec<u8>) -> Result<Envelope, ApiError> {
        self.envelope(Method::POST, path, None, Some(json)).await
    }

    /// `PUT` a JSON body (update).
    pub(crate) async fn put<T: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<Envelope, ApiError> {
        let body = self.encode(&Method::PUT, path, body)?;
        self.envelope(Method::PUT, path, None, Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<Envelope, ApiError> {
        self.envelope(Method::DELETE, path, None, None).await
    }

    fn encode<T: Serialize + ?Sized>(
        &self,
        method: &Method,
        path: &str,
        body: &T,
    ) -> Result<Vec<u8>, ApiError> {
        serde_json::to_vec(body).map_err(|e| ApiError::Setup {
            method: method.to_string(),
            path: path.into(),
            detail: format!("cannot encode the body: {e}"),
        })
    }

    async fn envelope(
        &self,
        method: Method,
        path: &str,
        q: Option<String>,
        body: Option<Vec<u8>>,
    ) -> Result<Envelope, ApiError> {
        let answer = self.execute(method.clone(), path, q, body).await?;
        if !(200..300).contains(&answer.status) {
            return Err(self.final_error(&method, path, answer));
        }
        serde_json::from_slice::<Envelope>(&answer.body).map_err(|e| ApiError::Protocol {
            method: method.to_string(),
            path: path.into(),
            detail: format!(
                "HTTP {} with a body that is not the envelope: {e}",
                answer.status
            ),
        })
    }

    /// A non-2xx answer that is final: read the envelope's errors (and a 409's existing record).
    fn final_error(&self, method: &Method, path: &str, answer: Answer) -> ApiError {
        let envelope = serde_json::from_slice::<Envelope>(&answer.body).ok();
        let (errors, existing) = match envelope {
            Some(env) => {
                let existing = (answer.status == contract::status::CONFLICT)
                    .then(|| env.results.first().map(|r| r.get().to_string()))
                    .flatten();
                (env.errors.unwrap_or_default(), existing)
            }
            None => (Vec::new(), None),
        };
        ApiError::Status {
            method: method.to_string(),
            path: path.into(),
            status: answer.status,
            errors,
            existing,
        }
    }

    /// Send until an answer is final (see [`Transport::send`]), refreshing the token on a 401
    /// and replaying, twice at most.
    async fn execute(
        &self,
        method: Method,
        path: &str,
        q: Option<String>,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ApiError> {
        let inner = &self.inner;
        let idempotent = method != Method::POST;
        let url = inner
            .config
            .base_url
            .join(path)
            .map_err(|e| ApiError::Setup {
                method: method.to_string(),
                path: path.into(),
                detail: e.to_string(),
            })?;
        // The URL as sent, `q` included: a legacy signature covers the path and query string
        // exactly as they go on the wire.
        let mut target = url.clone();
        if let Some(q) = &q {
            target
                .query_pairs_mut()
                .append_pair(contract::QUERY_PARAM, q);
        }
        if let Some(keys) = &inner.config.mbx {
            return self
                .execute_signed(keys, &method, path, &url, &target, idempotent, body)
                .await;
        }
        let mut attempt: u32 = 0;
        let mut refreshes = 0;
        loop {
            let (token, generation) = inner.auth.bearer().await?;
            let build = || {
                let request = inner
                    .transport
                    .http
                    .request(method.clone(), target.clone())
                    .bearer_auth(token.expose());
                with_json(request, body.as_deref())
            };
            let answer = inner
                .transport
                .send(&method, path, &url, idempotent, &mut attempt, build)
                .await?;
            if answer.status != contract::status::UNAUTHORIZED {
                return Ok(answer);
            }
            // A refused token does not count as an attempt.
            inner.stats.bump(&inner.stats.unauthorized);
            attempt -= 1;
            refreshes += 1;
            if refreshes > 2 {
                return Err(self.final_error(&method, path, answer));
            }
            tracing::debug!(%method, path, "Token refused (401); refreshing and replaying.");
            inner.auth.unauthorized(generation).await?;
        }
    }

    /// A legacy account's request: signed afresh on every attempt, no token anywhere. A 401
    /// means the signature was refused, which no retry can change.
    #[allow(clippy::too_many_arguments)]
    async fn execute_signed(
        &self,
        keys: &MbxKeys,
        method: &Method,
        path: &str,
        url: &Url,
        target: &Url,
        idempotent: bool,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ApiError> {
        let inner = &self.inner;
        let signed_path = &target[url::Position::BeforePath..];
        let build = || {
            let (auth, date) = keys.headers(
                method.as_str(),
                signed_path,
                body.as_deref().unwrap_or_default(),
                &mbx::date_now(),
            );
            let request = inner
                .transport
                .http
                .request(method.clone(), target.clone())
                .header(mbx::AUTH_HEADER, auth)
                .header(mbx::DATE_HEADER, date);
            with_json(request, body.as_deref())
        };
        let answer = inner
            .transport
            .send(method, path, url, idempotent, &mut 0, build)
            .await?;
        if answer.status == contract::status::UNAUTHORIZED {
            inner.stats.bump(&inner.stats.unauthorized);
            return Err(ApiError::SignatureRejected {
                method: method.to_string(),
                path: path.into(),
                public_token: keys.public_token.clone(),
            });
        }
        Ok(answer)
    }
}

/// reqwest is built without a default TLS provider (rustls with ring, no OpenSSL, no aws-lc
/// build step); install ring once per process.
pub(crate) fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A request with `body`, if any, as its JSON body.
fn with_json(request: reqwest::RequestBuilder, body: Option<&[u8]>) -> reqwest::RequestBuilder {
    match body {
        Some(body) => request
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec()),
        None => request,
    }
}
