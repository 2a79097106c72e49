//! The retry decision: a pure function of the attempt, the request and what came back.
//!
//! Kept free of I/O so every branch is tested by a table (below); the request loop in
//! `client.rs` only carries out what this decides.

use std::time::Duration;

use super::contract::status;

/// Limits that bound the retry loop (from `[api]` settings).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, across 429, 5xx and network errors.
    pub max_attempts: u32,
    /// First backoff delay; doubles per attempt.
    pub base: Duration,
    /// Longest backoff delay.
    pub max: Duration,
    /// A `Retry-After` longer than this fails the request rather than being cut short.
    pub max_retry_after: Duration,
}

/// What happened to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// An HTTP answer with this status.
    Status(u16),
    /// The connection could not be made: the request was never sent.
    ConnectFailed,
    /// Timed out or the connection broke after the request may have been sent.
    Lost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Hand the answer to the caller (success, or an error not worth retrying).
    Done,
    /// The token was refused: refresh (once for everyone in flight) and replay.
    Refresh,
    /// Wait this long, then send again.
    Retry(Duration),
    /// The request may have been applied and must not be re-sent blindly.
    Ambiguous,
    /// Out of attempts, or the server asks us to wait longer than we may.
    GiveUp(String),
    /// No connection could be made on any of this many attempts: the host is down or the base
    /// URL is wrong. Every other request to that host would fail the same way.
    Unreachable(u32),
}

/// Attempts at a host that refuses connections (or cannot be resolved), at most. Nothing was
/// sent, so giving up is safe; a wrong `api.base_url` must not cost minutes of backoff.
pub(crate) const CONNECT_ATTEMPTS: u32 = 3;

/// Decide what to do after attempt number `attempt` (1-based).
///
/// `idempotent` is false for `POST`; `jitter` is a number in `[0, 1)` (random in production,
/// fixed in tests). `retry_after` is the parsed `Retry-After` header, if any.
pub(crate) fn decide(
    policy: &RetryPolicy,
    attempt: u32,
    idempotent: bool,
    outcome: Outcome,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Decision {
    let out_of_attempts = attempt >= policy.max_attempts;
    match outcome {
        Outcome::Status(status::UNAUTHORIZED) => Decision::Refresh,
        Outcome::Status(status::TOO_MANY_REQUESTS) => {
            let wait = match retry_after {
                Some(wait) if wait > policy.max_retry_after => {
                    return Decision::GiveUp(format!(
                    "rate limited with Retry-After {}s, longer than api.max_retry_after_secs ({}s)",
                    wait.as_secs(),
                    policy.max_retry_after.as_secs()
                ))
                }
                // Never sooner than asked; a little later, so clients that were all told the
                // same number do not come back in the same millisecond.
                Some(wait) => wait + wait.mul_f64(0.1 * jitter),
                None => backoff(policy, attempt, jitter),
            };
            if out_of_attempts {
                Decision::GiveUp(format!("still rate limited after {attempt} attempts"))
            } else {
                Decision::Retry(wait)
            }
        }
        Outcome::Status(code) if status::TRANSIENT.contains(&code) => {
            if !idempotent && !status::NOT_PROCESSED.contains(&code) {
                Decision::Ambiguous
            } else if out_of_attempts {
                Decision::GiveUp(format!("HTTP {code} on each of {attempt} attempts"))
            } else {
                Decision::Retry(backoff(policy, attempt, jitter))
            }
        }
        Outcome::Status(_) => Decision::Done,
        Outcome::ConnectFailed => {
            if attempt >= policy.max_attempts.min(CONNECT_ATTEMPTS) {
                Decision::Unreachable(attempt)
            } else {
                Decision::Retry(backoff(policy, attempt, jitter))
            }
        }
        Outcome::Lost => {
            if !idempotent {
                Decision::Ambiguous
            } else if out_of_attempts {
                Decision::GiveUp(format!("no answer in {attempt} attempts"))
            } else {
                Decision::Retry(backoff(policy, attempt, jitter))
            }
        }
    }
}

/// Exponential backoff with "equal jitter": half the delay is fixed, half random, so retries
/// spread out but never collapse to zero.
pub fn backoff(policy: &RetryPolicy, attempt: u32, jitter: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let full = policy.base.saturating_mul(1u32 << exp).min(policy.max);
    full / 2 + (full / 2).mul_f64(jitter.clamp(0.0, 1.0))
}

/// Parse `Retry-After`: delay-seconds, or an HTTP date (then relative to `now`).
pub(crate) fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let when: std::time::SystemTime = when.with_timezone(&chrono::Utc).into();
    // Round up: a date one fraction of a second away still means "not before then".
    Some(
        when.duration_since(now)
            .map(|d| Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0)))
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;
    use Outcome::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(60),
        }
    }

    #[test]
    fn decision_table() {
        let p = policy();
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        #[rustfmt::skip]
        let table: Vec<(u32, bool, Outcome, Option<Duration>, Decision)> = vec![
            // attempt, idempotent, outcome, retry_after, decision (jitter 0)
            (1, true,  Status(200), None, Done),
            (1, false, Status(201), None, Done),
            (1, true,  Status(404), None, Done),
            (1, false, Status(409), None, Done),
            (1, false, Status(422), None, Done),
            (1, true,  Status(400), None, Done),
            (1, true,  Status(403), None, Done),
            (1, true,  Status(401), None, Refresh),
            (4, false, Status(401), None, Refresh),
            (1, true,  Status(429), Some(s(3)), Retry(s(3))),
            (1, false, Status(429), Some(s(3)), Retry(s(3))),
            (1, true,  Status(429), None, Retry(ms(50))),
            (1, true,  Status(429), Some(s(61)), GiveUp("rate limited with Retry-After 61s, longer than api.max_retry_after_secs (60s)".into())),
            (4, true,  Status(429), Some(s(1)), GiveUp("still rate limited after 4 attempts".into())),
            (1, true,  Status(500), None, Retry(ms(50))),
            (2, true,  Status(502), None, Retry(ms(100))),
            (3, true,  Status(503), None, Retry(ms(200))),
            (4, true,  Status(504), None, GiveUp("HTTP 504 on each of 4 attempts".into())),
            (1, false, Status(503), None, Retry(ms(50))),
            (1, false, Status(500), None, Ambiguous),
            (1, false, Status(502), None, Ambiguous),
            (1, false, Status(504), None, Ambiguous),
            (1, false, ConnectFailed, None, Retry(ms(50))),
            (2, false, ConnectFailed, None, Retry(ms(100))),
            (3, false, ConnectFailed, None, Unreachable(3)),
            (4, true,  ConnectFailed, None, Unreachable(4)),
            (1, true,  Lost, None, Retry(ms(50))),
            (1, false, Lost, None, Ambiguous),
            (4, true,  Lost, None, GiveUp("no answer in 4 attempts".into())),
        ];
        for (attempt, idem, outcome, ra, want) in table {
            assert_eq!(
                decide(&p, attempt, idem, outcome, ra, 0.0),
                want,
                "{attempt} {idem} {outcome:?} {ra:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_never_shortened_by_jitter() {
        let p = policy();
        for j in [0.0, 0.3, 0.999] {
            match decide(&p, 1, true, Status(429), Some(Duration::from_secs(5)), j) {
                Retry(d) => {
                    assert!(d >= Duration::from_secs(5) && d <= Duration::from_millis(5500))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = policy();
        let full: Vec<u128> = (1..=8)
            .map(|a| backoff(&p, a, 0.999_999).as_millis())
            .collect();
        assert_eq!(full, vec![99, 199, 399, 799, 999, 999, 999, 999]);
        assert_eq!(backoff(&p, 3, 0.0), Duration::from_millis(200));
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        // 2015-10-21T07:28:00Z is now + 120 s.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
