//! Injected faults: what a real AHEAD does on a bad day, on demand.
//!
//! The settings are plain data so `POST /_sandbox/faults` can take them as JSON; the decisions
//! (`before_request`) are made under one lock so concurrent requests count exactly.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// AHEAD's rate limit as a token bucket over /v2 and /oauth requests: it holds at most `burst`
/// tokens, gains `per_second` a second, and a request that finds less than one token answers
/// 429 with the whole seconds until one is there as `Retry-After` (at least 1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenBucket {
    pub per_second: f64,
    pub burst: f64,
}

/// Rows to insert and delete between the next two page requests of one resource.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Drift {
    pub resource: String,
    #[serde(default)]
    pub inserts: usize,
    #[serde(default)]
    pub deletes: usize,
    /// Set once the first page request has been served; the drift happens before the next.
    #[serde(default, skip_serializing)]
    pub armed: bool,
}

/// The fault settings. Every field is optional in JSON; absent ones are left unchanged by
/// `POST /_sandbox/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// The token in use is revoked after this many more authorised /v2 requests.
    pub revoke_token_after: Option<u64>,
    /// The next n refresh_token exchanges are rejected (and kill the refresh token).
    pub reject_refresh: u64,
    /// The rate limit; `None` = unlimited. Setting it fills the bucket.
    pub token_bucket: Option<TokenBucket>,
    /// Tokens in the bucket and when that was so.
    #[serde(skip)]
    pub bucket_level: Option<(f64, Instant)>,
    /// Every nth /v2 request answers 429 (0 = off), counting from when it was set.
    pub rate_limit_every: u64,
    /// After this many more /v2 requests pass, the next one answers 429 (once).
    pub rate_limit_after: Option<u64>,
    /// /v2 requests seen since `rate_limit_every` was set.
    #[serde(skip)]
    pub rate_seen: u64,
    pub retry_after_secs: u64,
    /// The next n /v2 requests answer `fail_status`.
    pub fail_next: u64,
    pub fail_status: u16,
    /// Added before every answer.
    pub latency_ms: u64,
    /// A lower silent cap on `limit`.
    pub page_cap: Option<usize>,
    pub drift: Option<Drift>,
    /// The next n order writes are committed, then the connection is dropped unanswered.
    pub drop_after_commit: u64,
    /// The next n webhook events are delivered twice to each subscription, as a retry after
    /// a lost answer would: receivers must store each event once.
    pub duplicate_webhooks: u64,
}

/// Why a faults patch is refused.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("faults must be a JSON object")]
    NotAnObject,
    #[error("faults: {0}")]
    Invalid(#[from] serde_json::Error),
    #[error("token_bucket needs per_second > 0 and burst >= 1")]
    BadTokenBucket,
}

impl Faults {
    /// Applies the fields present in a JSON patch (a partial `Faults`).
    pub fn patch(&mut self, patch: &serde_json::Value) -> Result<(), PatchError> {
        let mut current = serde_json::to_value(&*self)?;
        let (Some(cur), Some(p)) = (current.as_object_mut(), patch.as_object()) else {
            return Err(PatchError::NotAnObject);
        };
        for (k, v) in p {
            cur.insert(k.clone(), v.clone());
        }
        let armed = self.drift.as_ref().is_some_and(|d| d.armed) && !p.contains_key("drift");
        let rate_seen = if p.contains_key("rate_limit_every") {
            0
        } else {
            self.rate_seen
        };
        let bucket_level = if p.contains_key("token_bucket") {
            None
        } else {
            self.bucket_level
        };
        let patched: Faults = serde_json::from_value(current)?;
        if let Some(b) = &patched.token_bucket {
            if !(b.per_second.is_finite() && b.per_second > 0.0 && b.burst >= 1.0) {
                return Err(PatchError::BadTokenBucket);
            }
        }
        *self = patched;
        self.rate_seen = rate_seen;
        self.bucket_level = bucket_level;
        if let Some(d) = self.drift.as_mut() {
            d.armed = armed;
        }
        Ok(())
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
}

/// What to do with a /v2 request before it reaches its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    Pass,
    RateLimited { retry_after: u64 },
    Fail { status: u16 },
}

/// Takes a token from the bucket for a request at `now`; without one, the `Retry-After` to
/// answer. No bucket: always a token.
pub(crate) fn take_token(f: &mut Faults, now: Instant) -> Result<(), u64> {
    let Some(bucket) = &f.token_bucket else {
        return Ok(());
    };
    let (level, at) = f.bucket_level.unwrap_or((bucket.burst, now));
    let gained = now.saturating_duration_since(at).as_secs_f64() * bucket.per_second;
    let level = (level + gained).min(bucket.burst);
    if level >= 1.0 {
        f.bucket_level = Some((level - 1.0, now));
        Ok(())
    } else {
        f.bucket_level = Some((level, now));
        Err(((1.0 - level) / bucket.per_second).ceil().max(1.0) as u64)
    }
}

/// Decides on a /v2 request: counts it towards `rate_limit_every` and `rate_limit_after`,
/// consumes one `fail_next`.
pub(crate) fn before_request(f: &mut Faults) -> Gate {
    match f.rate_limit_after {
        Some(0) => {
            f.rate_limit_after = None;
            return Gate::RateLimited {
                retry_after: f.retry_after_secs,
            };
        }
        Some(n) => f.rate_limit_after = Some(n - 1),
        None => {}
    }
    if f.rate_limit_every > 0 {
        f.rate_seen += 1;
    }
    if f.rate_limit_every > 0 && f.rate_seen.is_multiple_of(f.rate_limit_every) {
        return Gate::RateLimited {
            retry_after: f.retry_after_secs,
        };
    }
    if f.fail_next > 0 {
        f.fail_next -= 1;
        return Gate::Fail {
            status: f.fail_status,
        };
    }
    Gate::Pass
}

/// Counts down `revoke_token_after` on an authorised request; true = revoke this token now.
pub(crate) fn revoke_now(f: &mut Faults) -> bool {
    match f.revoke_token_after {
        Some(0) => {
            f.revoke_token_after = None;
            true
        }
        Some(k) => {
            f.revoke_token_after = Some(k - 1);
            false
        }
        None => false,
    }
}

/// Called on each list request of `resource`: true when the pending drift must happen now.
pub(crate) fn drift_due(f: &mut Faults, resource: &str) -> Option<Drift> {
    let d = f.drift.as_mut()?;
    if d.resource != resource {
        return None;
    }
    if !d.armed {
        d.armed = true;
        return None;
    }
    f.drift.take()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_then_fail_count() {
        let mut f = Faults {
            rate_limit_every: 3,
            retry_after_secs: 2,
            fail_next: 1,
            fail_status: 503,
            ..Faults::default()
        };
        assert_eq!(before_request(&mut f), Gate::Fail { status: 503 });
        assert_eq!(before_request(&mut f), Gate::Pass);
        assert_eq!(before_request(&mut f), Gate::RateLimited { retry_after: 2 });
    }

    #[test]
    fn the_bucket_lets_a_burst_through_then_refills_at_its_rate() {
        let mut f = Faults::default();
        f.patch(&serde_json::json!({"token_bucket": {"per_second": 4.0, "burst": 3.0}}))
            .unwrap();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for _ in 0..3 {
            assert_eq!(take_token(&mut f, t0), Ok(()));
        }
        assert_eq!(take_token(&mut f, t0), Err(1));
        // A quarter of a second gains one token.
        assert_eq!(take_token(&mut f, at(249)), Err(1));
        assert_eq!(take_token(&mut f, at(250)), Ok(()));
        assert_eq!(take_token(&mut f, at(250)), Err(1));
        // Idle for long: full again, never more than the burst.
        for _ in 0..3 {
            assert_eq!(take_token(&mut f, at(60_000)), Ok(()));
        }
        assert_eq!(take_token(&mut f, at(60_000)), Err(1));
        // Another patch keeps the level; a new bucket starts full.
        f.patch(&serde_json::json!({"latency_ms": 0})).unwrap();
        assert_eq!(take_token(&mut f, at(60_000)), Err(1));
        f.patch(&serde_json::json!({"token_bucket": {"per_second": 0.1, "burst": 1.0}}))
            .unwrap();
        assert_eq!(take_token(&mut f, at(60_000)), Ok(()));
        assert_eq!(
            take_token(&mut f, at(60_000)),
            Err(10),
            "whole seconds to the next token"
        );
        assert!(f
            .patch(&serde_json::json!({"token_bucket": {"per_second": 0.0, "burst": 1.0}}))
            .is_err());
        f.patch(&serde_json::json!({"token_bucket": null})).unwrap();
        assert_eq!(take_token(&mut f, at(60_000)), Ok(()));
    }

    #[test]
    fn rate_limit_after_answers_one_429() {
        let mut f = Faults {
            rate_limit_after: Some(2),
            retry_after_secs: 3,
            ..Faults::default()
        };
        assert_eq!(before_request(&mut f), Gate::Pass);
        assert_eq!(before_request(&mut f), Gate::Pass);
        assert_eq!(before_request(&mut f), Gate::RateLimited { retry_after: 3 });
        assert_eq!(before_request(&mut f), Gate::Pass);
    }

    #[test]
    fn revoke_after_k() {
        let mut f = Faults {
            revoke_token_after: Some(2),
            ..Faults::default()
        };
        assert!(!revoke_now(&mut f));
        assert!(!revoke_now(&mut f));
        assert!(revoke_now(&mut f));
        assert!(!revoke_now(&mut f));
    }

    #[test]
    fn drift_waits_for_second_page() {
        let mut f = Faults::default();
        f.patch(
            &serde_json::json!({"drift": {"resource": "inventory", "inserts": 1, "deletes": 2}}),
        )
        .unwrap();
        assert!(drift_due(&mut f, "invoices").is_none());
        assert!(drift_due(&mut f, "inventory").is_none());
        let d = drift_due(&mut f, "inventory").unwrap();
        assert_eq!((d.inserts, d.deletes), (1, 2));
        assert!(f.drift.is_none());
        assert!(f.patch(&serde_json::json!({"nope": 1})).is_err());
    }
}
