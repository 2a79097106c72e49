//! Next fire times: a crontab line read in a time zone, turned into instants. Pure: no clock.
//!
//! # Daylight saving
//!
//! A crontab line names wall-clock times; twice a year some wall times do not exist (spring
//! forward) or exist twice (fall back). We follow Vixie cron (cron(8), "Special considerations"),
//! which is what operators have long lived with:
//!
//! - **Fixed-time jobs** (neither minute nor hour starts with `*`, e.g. `30 2 * * *`):
//!   - a time inside the spring-forward gap runs **once, at the first instant after the gap**
//!     (Berlin 2026-03-29: `30 2 * * *` runs at 03:00 CEST, 01:00 UTC); several gap times of the
//!     same job coalesce into that one run;
//!   - a time inside the repeated fall-back hour runs **once, at its first occurrence**
//!     (New York 2026-11-01: `30 1 * * *` runs at 01:30 EDT, 05:30 UTC, not again at 01:30 EST).
//! - **Interval jobs** (minute or hour starts with `*`, e.g. `*/15 * * * *`, `@hourly`) follow
//!   real time: wall times that do not exist are simply not there (the next existing one runs),
//!   and the repeated hour runs in both passes, since those are different hours, so an hourly
//!   job still runs every hour and a quarter-hourly one every fifteen minutes.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::crontab::Crontab;

/// How far wall time and real time can disagree around a transition: longer than any
/// daylight-saving shift, so scanning wall times this far back and ahead sees every candidate.
const SLACK: TimeDelta = TimeDelta::hours(3);

/// A crontab line in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub cron: Crontab,
    pub timezone: Tz,
}

impl Schedule {
    pub fn new(cron: Crontab, timezone: Tz) -> Schedule {
        Schedule { cron, timezone }
    }

    /// The first fire time strictly after `after`, or `None` if the line never matches again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.timezone).naive_local();
        // Around a fall-back, a wall time earlier than `local` can still lie ahead in real time
        // (its second occurrence), so start a little behind and keep the earliest instant.
        let mut wall = local - SLACK;
        let mut best: Option<DateTime<Utc>> = None;
        while let Some(next) = self.cron.next_wall_after(wall) {
            wall = next;
            if let Some(best) = best {
                let best_wall = best.with_timezone(&self.timezone).naive_local();
                if wall > best_wall + SLACK {
                    break;
                }
            }
            for instant in self.instants(wall) {
                if instant > after && best.is_none_or(|b| instant < b) {
                    best = Some(instant);
                }
            }
        }
        best
    }

    /// The next `n` fire times after `after`.
    pub fn next_n(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        std::iter::successors(self.next_after(after), |&t| self.next_after(t))
            .take(n)
            .collect()
    }

    /// The instants at which the wall time `wall` fires, by the rules in the module docs.
    fn instants(&self, wall: NaiveDateTime) -> Vec<DateTime<Utc>> {
        let utc = |t: DateTime<Tz>| t.with_timezone(&Utc);
        match self.timezone.from_local_datetime(&wall) {
            LocalResult::Single(t) => vec![utc(t)],
            LocalResult::Ambiguous(first, _) if self.cron.is_fixed_time() => vec![utc(first)],
            LocalResult::Ambiguous(first, second) => vec![utc(first), utc(second)],
            LocalResult::None if self.cron.is_fixed_time() => vec![gap_end(self.timezone, wall)],
            LocalResult::None => vec![],
        }
    }
}

/// The first instant whose wall time is later than `wall`, a time inside a gap: the instant the
/// clocks jumped. Found by bisection over whole seconds, which is exact for real zone data.
fn gap_end(tz: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    let later = |secs: i64| {
        DateTime::from_timestamp(secs, 0).is_some_and(|t| t.with_timezone(&tz).naive_local() > wall)
    };
    // Offsets lie within ±15 hours, so `lo` is earlier and `hi` later than the jump.
    let mut lo = (wall.and_utc() - TimeDelta::hours(15)).timestamp();
    let mut hi = (wall.and_utc() + TimeDelta::hours(15)).timestamp();
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if later(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(line: &str, tz: &str) -> Schedule {
        Schedule::new(line.parse().unwrap(), tz.parse().unwrap())
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn next(line: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
        schedule(line, tz)
            .next_n(utc(after), n)
            .iter()
            .map(|t| t.format("%Y-%m-%dT%H:%MZ").to_string())
            .collect()
    }

    #[test]
    fn utc_is_plain_crontab() {
        assert_eq!(
            next("0 0 * * 0", "UTC", "2026-11-27T12:00:00Z", 2),
            ["2026-11-29T00:00Z", "2026-12-06T00:00Z"]
        );
        assert_eq!(
            next("@hourly", "UTC", "2026-11-27T12:00:00Z", 2),
            ["2026-11-27T13:00Z", "2026-11-27T14:00Z"]
        );
    }

    #[test]
    fn times_are_read_in_the_time_zone() {
        // 09:00 in Berlin is 08:00 UTC in winter.
        assert_eq!(
            next("0 9 * * *", "Europe/Berlin", "2026-11-27T12:00:00Z", 1),
            ["2026-11-28T08:00Z"]
        );
        // The weekday is the local one: Sunday 00:30 in Tokyo is Saturday 15:30 UTC.
        assert_eq!(
            next("30 0 * * 0", "Asia/Tokyo", "2026-11-27T12:00:00Z", 1),
            ["2026-11-28T15:30Z"]
        );
    }

    #[test]
    fn berlin_spring_forward_fixed_time_runs_once_after_the_gap() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00 UTC; 02:30 does not exist.
        assert_eq!(
            next("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 3),
            [
                "2026-03-29T01:00Z",
                "2026-03-30T00:30Z",
                "2026-03-31T00:30Z"
            ]
        );
        // Every gap time of one job coalesces into a single run at the jump.
        assert_eq!(
            next(
                "0,20,40 2 * * *",
                "Europe/Berlin",
                "2026-03-29T00:00:00Z",
                2
            ),
            ["2026-03-29T01:00Z", "2026-03-30T00:00Z"]
        );
    }

    #[test]
    fn berlin_spring_forward_interval_follows_real_time() {
        assert_eq!(
            next("30 * * * *", "Europe/Berlin", "2026-03-29T00:00:00Z", 3),
            [
                "2026-03-29T00:30Z",
                "2026-03-29T01:30Z",
                "2026-03-29T02:30Z"
            ]
        );
    }

    #[test]
    fn berlin_fall_back_fixed_time_runs_once() {
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00 UTC; 02:30 happens twice.
        assert_eq!(
            next("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2),
            ["2026-10-25T00:30Z", "2026-10-26T01:30Z"]
        );
        // Asked from inside the repeated hour, after the first 02:30: not again.
        assert_eq!(
            next("30 2 * * *", "Europe/Berlin", "2026-10-25T01:10:00Z", 1),
            ["2026-10-26T01:30Z"]
        );
    }

    #[test]
    fn berlin_fall_back_interval_runs_every_hour() {
        assert_eq!(
            next("@hourly", "Europe/Berlin", "2026-10-24T23:30:00Z", 4),
            [
                "2026-10-25T00:00Z",
                "2026-10-25T01:00Z",
                "2026-10-25T02:00Z",
                "2026-10-25T03:00Z"
            ]
        );
    }

    #[test]
    fn new_york_spring_forward() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00 UTC.
        assert_eq!(
            next("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 3),
            [
                "2026-03-08T07:00Z",
                "2026-03-09T06:30Z",
                "2026-03-10T06:30Z"
            ]
        );
        assert_eq!(
            next(
                "*/30 * * * *",
                "America/New_York",
                "2026-03-08T06:15:00Z",
                3
            ),
            [
                "2026-03-08T06:30Z",
                "2026-03-08T07:00Z",
                "2026-03-08T07:30Z"
            ]
        );
    }

    #[test]
    fn new_york_fall_back() {
        // 2026-11-01: 02:00 EDT falls back to 01:00 EST at 06:00 UTC; 01:30 happens twice.
        assert_eq!(
            next("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2),
            ["2026-11-01T05:30Z", "2026-11-02T06:30Z"]
        );
        assert_eq!(
            next(
                "*/30 * * * *",
                "America/New_York",
                "2026-11-01T05:10:00Z",
                5
            ),
            [
                "2026-11-01T05:30Z",
                "2026-11-01T06:00Z",
                "2026-11-01T06:30Z",
                "2026-11-01T07:00Z",
                "2026-11-01T07:30Z"
            ]
        );
    }

    #[test]
    fn posix_or_rule_in_a_zone() {
        // The 1st of December 2026 is a Tuesday; Mondays are the 30th and the 7th.
        assert_eq!(
            next("0 12 1 * 1", "Europe/Berlin", "2026-11-27T12:00:00Z", 3),
            [
                "2026-11-30T11:00Z",
                "2026-12-01T11:00Z",
                "2026-12-07T11:00Z"
            ]
        );
    }

    #[test]
    fn never_is_none() {
        assert_eq!(
            schedule("0 0 30 2 *", "UTC").next_after(utc("2026-01-01T00:00:00Z")),
            None
        );
    }
}
