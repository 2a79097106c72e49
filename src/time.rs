//! Timestamps as the API writes them and the store keeps them: RFC 3339, UTC, whole seconds, `Z`
//! (so that comparing two of them as text compares the instants).

use chrono::{DateTime, SecondsFormat, Utc};

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn now() -> String {
    rfc3339(Utc::now())
}

/// Unix seconds as RFC 3339 (or the number itself, if out of range).
pub(crate) fn from_unix(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .map(rfc3339)
        .unwrap_or_else(|| unix.to_string())
}

/// Seconds since the Unix epoch, by the wall clock.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::from_unix(1_445_412_480), "2015-10-21T07:28:00Z");
    }
}
