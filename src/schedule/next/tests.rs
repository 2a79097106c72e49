//! Next fire times against known dates, and against a brute-force reading of the rules.

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

/// The rules of the module docs, read minute by minute: which instants in `[start, end)` fire.
fn brute_force(s: &Schedule, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let minute = TimeDelta::minutes(1);
    let wall = |t: DateTime<Utc>| t.with_timezone(&s.timezone).naive_local();
    let matches = |w: NaiveDateTime| s.cron.next_wall_after(w - minute) == Some(w);
    let mut fires = Vec::new();
    let mut t = start;
    while t < end {
        let w = wall(t);
        let fire = if s.cron.is_fixed_time() {
            let first = s
                .timezone
                .from_local_datetime(&w)
                .earliest()
                .map(|f| f.to_utc());
            // Wall times skipped just before `t` (a gap) fire at `t`.
            let mut skipped = wall(t - minute) + minute;
            let mut in_gap = false;
            while skipped < w {
                in_gap |= matches(skipped);
                skipped += minute;
            }
            (matches(w) && first == Some(t)) || in_gap
        } else {
            matches(w)
        };
        if fire {
            fires.push(t);
        }
        t += minute;
    }
    fires
}

/// The instants in 2026 at which `tz` changes its offset.
fn transitions(tz: Tz) -> Vec<DateTime<Utc>> {
    let offset = |t: DateTime<Utc>| t.with_timezone(&tz).naive_local() - t.naive_utc();
    let mut found = Vec::new();
    let mut t = utc("2026-01-01T00:00:00Z");
    while t < utc("2027-01-01T00:00:00Z") {
        let step = TimeDelta::minutes(30);
        if offset(t) != offset(t + step) {
            found.push(t + step);
        }
        t += step;
    }
    found
}

#[test]
fn agrees_with_a_brute_force_reading_around_every_2026_transition() {
    let lines = [
        "30 2 * * *",
        "0,20,40 2 * * *",
        "0 2 * * *",
        "0 3 * * *",
        "30 1 * * *",
        "15 1-3 * * *",
        "*/15 * * * *",
        "*/7 1-3 * * *",
        "@hourly",
        "45 * * * *",
    ];
    let zones = [
        "Europe/Berlin",
        "America/New_York",
        // A half-hour shift.
        "Australia/Lord_Howe",
        "Pacific/Chatham",
    ];
    for zone in zones {
        let tz: Tz = zone.parse().unwrap();
        let found = transitions(tz);
        assert_eq!(found.len(), 2, "{zone}: {found:?}");
        for at in found {
            let (start, end) = (at - TimeDelta::hours(6), at + TimeDelta::hours(6));
            for line in lines {
                let s = schedule(line, zone);
                let expected = brute_force(&s, start, end);
                let got: Vec<_> =
                    std::iter::successors(s.next_after(start - TimeDelta::minutes(1)), |&t| {
                        s.next_after(t)
                    })
                    .take_while(|&t| t < end)
                    .collect();
                assert_eq!(got, expected, "{line} in {zone} around {at}");
            }
        }
    }
}
