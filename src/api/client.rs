//! The request loop: bearer token, send, classify, and carry out what `retry::decide` says.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use serde::Serialize;
use tokio::sync::Mutex;
use url::Url;

use super::auth::Auth;
use super::contract::{self, Envelope};
use super::error::{transport_detail, with_last_error, ApiError};
use super::query::Query;
use super::retry::{self, Decision, Outcome, RetryPolicy};
use crate::secret::Secret;
use crate::store::{Store, StoredToken};

/// How the client waits between attempts. Production sleeps on tokio's clock; tests can record
/// the waits asked for instead of spending them.
pub trait Sleeper: Send + Sync {
    fn sleep(&self, wait: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

pub struct TokioSleeper;

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
}

impl Stats {
    pub fn bump(&self, counter: &AtomicU64) {
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
    pub client_id: String,
    pub client_secret: Secret,
    pub redirect_uri: Option<String>,
    /// Row of the token in the store.
    pub token_key: String,
    pub timeout: Duration,
    pub concurrency: usize,
    pub page_size: u32,
    pub refresh_margin: Duration,
    pub retry: RetryPolicy,
    /// The most of one answer that is read (`api.max_response_bytes`); a larger one fails its
    /// request with [`ApiError::TooLarge`] instead of being held in memory.
    pub max_response_bytes: u64,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("token_key", &self.token_key)
            .finish_non_exhaustive()
    }
}

/// A cheap-to-clone handle on one AHEAD account.
#[derive(Clone)]
pub struct ApiClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    auth: Auth,
    stats: Arc<Stats>,
    sleeper: Arc<dyn Sleeper>,
}

/// A raw answer: status and body, after retries and refreshes.
struct Answer {
    status: u16,
    body: Vec<u8>,
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
        let auth = Auth {
            http: http.clone(),
            base: config.base_url.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            redirect_uri: config.redirect_uri.clone(),
            store,
            key: config.token_key.clone(),
            margin: config.refresh_margin,
            retry: config.retry.clone(),
            timeout: config.timeout,
            max_response_bytes: config.max_response_bytes,
            sleeper: sleeper.clone(),
            stats: stats.clone(),
            state: Mutex::new(None),
        };
        Ok(ApiClient {
            inner: Arc::new(Inner {
                http,
                config,
                auth,
                stats,
                sleeper,
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
    pub async fn login(&self) -> Result<StoredToken, ApiError> {
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
    pub async fn post_json(&self, path: &str, json: Vec<u8>) -> Result<Envelope, ApiError> {
        self.envelope(Method::POST, path, None, Some(json)).await
    }

    /// `PUT` a JSON body (update).
    pub async fn put<T: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<Envelope, ApiError> {
        let body = self.encode(&Method::PUT, path, body)?;
        self.envelope(Method::PUT, path, None, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Envelope, ApiError> {
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

    /// Send until an answer is final, refreshing on 401 and backing off on 429/5xx/network.
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
        let mut attempt: u32 = 0;
        let mut refreshes = 0;
        loop {
            let (token, generation) = inner.auth.bearer().await?;
            attempt += 1;
            let mut request = inner
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose());
            if let Some(q) = &q {
                request = request.query(&[(contract::QUERY_PARAM, q)]);
            }
            if let Some(body) = &body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            inner.stats.bump(&inner.stats.requests);
            let timeout = inner.config.timeout;
            let (outcome, answer, retry_after, detail) = match request.send().await {
                Err(e) if e.is_connect() => (
                    Outcome::ConnectFailed,
                    None,
                    None,
                    transport_detail(&e, timeout),
                ),
                Err(e) => (Outcome::Lost, None, None, transport_detail(&e, timeout)),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
                    match read_body(response, inner.config.max_response_bytes).await {
                        Ok(body) => (
                            Outcome::Status(status),
                            Some(Answer { status, body }),
                            retry_after,
                            String::new(),
                        ),
                        // Final, whatever the status: the same request would get the same
                        // answer. A POST's row stays `sending`, so it is looked up, never re-sent.
                        Err(BodyError::TooLarge { declared }) => {
                            return Err(ApiError::TooLarge {
                                method: method.to_string(),
                                path: path.into(),
                                limit: inner.config.max_response_bytes,
                                declared,
                            })
                        }
                        // The status arrived but the body did not: for a POST that is as
                        // ambiguous as no answer at all.
                        Err(BodyError::Transport(e)) => (
                            Outcome::Lost,
                            None,
                            None,
                            format!(
                                "HTTP {status}, body lost: {}",
                                transport_detail(&e, timeout)
                            ),
                        ),
                    }
                }
            };
            let jitter = rand::rng().random::<f64>();
            match retry::decide(
                &inner.config.retry,
                attempt,
                idempotent,
                outcome,
                retry_after,
                jitter,
            ) {
                Decision::Done => return Ok(answer.expect("Done is only decided for an answer")),
                Decision::Refresh => {
                    inner.stats.bump(&inner.stats.unauthorized);
                    refreshes += 1;
                    attempt -= 1;
                    if refreshes > 2 {
                        let answer = answer.expect("401 is an answer");
                        return Err(self.final_error(&method, path, answer));
                    }
                    tracing::debug!(%method, path, "Token refused (401); refreshing and replaying.");
                    inner.auth.unauthorized(generation).await?;
                }
                Decision::Retry(wait) => {
                    inner.stats.bump(&inner.stats.retries);
                    if outcome == Outcome::Status(contract::status::TOO_MANY_REQUESTS) {
                        inner.stats.bump(&inner.stats.rate_limited);
                    }
                    tracing::warn!(
                        %method,
                        path,
                        outcome = %describe(outcome, &detail),
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "Retrying request."
                    );
                    inner.sleeper.sleep(wait).await;
                }
                Decision::Ambiguous => {
                    return Err(ApiError::Ambiguous {
                        method: method.to_string(),
                        path: path.into(),
                        detail: describe(outcome, &detail),
                    })
                }
                Decision::Unreachable(attempts) => {
                    return Err(ApiError::Unreachable {
                        url: url.to_string(),
                        reason: detail,
                        attempts,
                    })
                }
                Decision::GiveUp(reason) => {
                    return Err(ApiError::Exhausted {
                        method: method.to_string(),
                        path: path.into(),
                        reason: with_last_error(reason, &detail),
                    });
                }
            }
        }
    }
}

/// Why an answer's body could not be read.
pub(crate) enum BodyError {
    /// Larger than the limit. `declared` is its `Content-Length` when that is what said so.
    TooLarge { declared: Option<u64> },
    /// The connection failed or timed out in the middle of the body.
    Transport(reqwest::Error),
}

/// Read an answer's body, never more than `limit` bytes of it: a `Content-Length` over the limit
/// is refused before anything is read, and a body without one is cut off as soon as it passes
/// the limit (dropping the response closes the connection, so the rest is never received).
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, BodyError> {
    let declared = response.content_length();
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge { declared });
    }
    // Room for what was declared, within reason: a limit may be set far above any real answer.
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(16 << 20) as usize);
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(BodyError::TooLarge { declared: None });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn describe(outcome: Outcome, detail: &str) -> String {
    match outcome {
        Outcome::Status(code) => format!("HTTP {code}"),
        Outcome::ConnectFailed => format!("connection failed: {detail}"),
        Outcome::Lost => format!("no answer: {detail}"),
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
