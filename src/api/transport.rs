//! The one request loop, shared by API and token requests: send, read the answer within the
//! size cap, classify it, and carry out what `retry::decide` says (wait and send again, or give
//! up with a typed error). A 401 is handed back to the caller, which knows whether a token
//! refresh can help.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::Method;
use url::Url;

use super::client::{Sleeper, Stats};
use super::contract;
use super::error::{transport_detail, with_last_error, ApiError};
use super::pace::Pacer;
use super::retry::{self, Decision, Outcome, RetryPolicy};

/// What every request of one client shares: the HTTP connection pool, the retry policy and its
/// clock, the pacing, the answer cap, and the counters.
#[derive(Clone)]
pub(crate) struct Transport {
    pub http: reqwest::Client,
    pub retry: RetryPolicy,
    /// The whole-request timeout, named when a request times out.
    pub timeout: Duration,
    /// The most of one answer that is read (`api.max_response_bytes`).
    pub max_response_bytes: u64,
    pub stats: Arc<Stats>,
    pub sleeper: Arc<dyn Sleeper>,
    /// Every attempt of every request (API and token calls) is admitted by it.
    pub pacer: Arc<Pacer>,
}

/// A final answer: its status, headers and body.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// One attempt's result, as the retry decision sees it.
struct Tried {
    outcome: Outcome,
    answer: Option<Answer>,
    retry_after: Option<Duration>,
    /// What went wrong without an answer, in the operator's words.
    detail: String,
}

impl Transport {
    /// Send the request `build` makes until its answer is final. `idempotent` requests are sent
    /// again after a lost answer; others end `Ambiguous`. `attempt` counts attempts across the
    /// caller's token refreshes. A 401 comes back as an answer.
    pub(super) async fn send(
        &self,
        method: &Method,
        path: &str,
        url: &Url,
        idempotent: bool,
        attempt: &mut u32,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, ApiError> {
        loop {
            let admitted = self.pacer.admit(&*self.sleeper).await;
            if admitted.paused {
                self.stats.bump(&self.stats.paused);
            }
            if admitted.paced {
                self.stats.bump(&self.stats.paced);
            }
            *attempt += 1;
            self.stats.bump(&self.stats.requests);
            let tried = self.try_once(method, path, build()).await?;
            if tried.outcome != Outcome::Status(contract::status::TOO_MANY_REQUESTS) {
                self.pacer.answered();
            }
            let jitter = rand::rng().random::<f64>();
            let decision = retry::decide(
                &self.retry,
                *attempt,
                idempotent,
                tried.outcome,
                tried.retry_after,
                jitter,
            );
            let failed = |detail: &str| (method.to_string(), path.to_string(), detail.to_string());
            match decision {
                Decision::Done | Decision::Refresh => {
                    return Ok(tried.answer.expect("only an answer is done or refused"))
                }
                Decision::Retry(wait) => {
                    self.stats.bump(&self.stats.retries);
                    let rate_limited =
                        tried.outcome == Outcome::Status(contract::status::TOO_MANY_REQUESTS);
                    if rate_limited {
                        self.stats.bump(&self.stats.rate_limited);
                    }
                    tracing::warn!(
                        %method,
                        path,
                        outcome = %describe(tried.outcome, &tried.detail),
                        attempt = *attempt,
                        wait_ms = wait.as_millis() as u64,
                        "Retrying request."
                    );
                    if rate_limited && tried.retry_after.is_some() {
                        // The server's word holds for every request of this client: the pause
                        // is waited out by this one and by all the others at their next attempt.
                        if let Some(rate) = self.pacer.pause(wait, self.sleeper.now()) {
                            tracing::info!(
                                requests_per_second = format!("{rate:.1}"),
                                "Rate limited by AHEAD; pacing requests to the rate it let \
                                 through (set api.max_requests_per_second when the limit is known)."
                            );
                        }
                    } else {
                        self.sleeper.sleep(wait).await;
                    }
                }
                Decision::Ambiguous => {
                    let (method, path, detail) = failed(&describe(tried.outcome, &tried.detail));
                    return Err(ApiError::Ambiguous {
                        method,
                        path,
                        detail,
                    });
                }
                Decision::Unreachable(attempts) => {
                    return Err(ApiError::Unreachable {
                        url: url.to_string(),
                        reason: tried.detail,
                        attempts,
                    })
                }
                Decision::GiveUp(reason) => {
                    let (method, path, reason) = failed(&with_last_error(reason, &tried.detail));
                    return Err(ApiError::Exhausted {
                        method,
                        path,
                        reason,
                    });
                }
            }
        }
    }

    /// One attempt: send, and read the answer's body within the cap.
    async fn try_once(
        &self,
        method: &Method,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Tried, ApiError> {
        let lost = |outcome, detail| Tried {
            outcome,
            answer: None,
            retry_after: None,
            detail,
        };
        let response = match request.send().await {
            Err(e) if e.is_connect() => {
                return Ok(lost(
                    Outcome::ConnectFailed,
                    transport_detail(&e, self.timeout),
                ))
            }
            Err(e) => return Ok(lost(Outcome::Lost, transport_detail(&e, self.timeout))),
            Ok(response) => response,
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        match read_body(response, self.max_response_bytes).await {
            Ok(body) => Ok(Tried {
                outcome: Outcome::Status(status),
                answer: Some(Answer {
                    status,
                    headers,
                    body,
                }),
                retry_after,
                detail: String::new(),
            }),
            // Final, whatever the status: the same request would get the same answer. A POST's
            // row stays `sending`, so it is looked up, never re-sent.
            Err(BodyError::TooLarge { declared }) => Err(ApiError::TooLarge {
                method: method.to_string(),
                path: path.into(),
                limit: self.max_response_bytes,
                declared,
            }),
            // The status arrived but the body did not: for a POST that is as ambiguous as no
            // answer at all.
            Err(BodyError::Transport(e)) => Ok(lost(
                Outcome::Lost,
                format!(
                    "HTTP {status}, body lost: {}",
                    transport_detail(&e, self.timeout)
                ),
            )),
        }
    }
}

/// Why an answer's body could not be read.
enum BodyError {
    /// Larger than the limit. `declared` is its `Content-Length` when that is what said so.
    TooLarge { declared: Option<u64> },
    /// The connection failed or timed out in the middle of the body.
    Transport(reqwest::Error),
}

/// Read an answer's body, never more than `limit` bytes of it: a `Content-Length` over the limit
/// is refused before anything is read, and a body without one is cut off as soon as it passes
/// the limit (dropping the response closes the connection, so the rest is never received).
async fn read_body(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, BodyError> {
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
