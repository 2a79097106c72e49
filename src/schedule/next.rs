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
pub(crate) struct Schedule {
    pub cron: Crontab,
    pub timezone: Tz,
}

impl Schedule {
    pub(crate) fn new(cron: Crontab, timezone: Tz) -> Schedule {
        Schedule { cron, timezone }
    }

    /// The first fire time strictly after `after`, or `None` if the line never matches again.
    pub(crate) fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
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
    pub(crate) fn next_n(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
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
mod tests;
