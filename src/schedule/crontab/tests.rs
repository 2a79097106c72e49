//! Crontab lines against known dates, and against a small independent matcher.

use super::*;
use chrono::NaiveDate;

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(h, min, 0)
        .unwrap()
}

fn next_n(line: &str, from: NaiveDateTime, n: usize) -> Vec<NaiveDateTime> {
    let cron: Crontab = line.parse().unwrap();
    std::iter::successors(cron.next_wall_after(from), |&t| cron.next_wall_after(t))
        .take(n)
        .collect()
}

fn error(line: &str) -> String {
    line.parse::<Crontab>().unwrap_err().to_string()
}

// 2026-11-27 is a Friday; 2026-11-29 a Sunday.
const FRIDAY: (i32, u32, u32) = (2026, 11, 27);

#[test]
fn sunday_is_0_and_7_and_sun() {
    let from = at(FRIDAY.0, FRIDAY.1, FRIDAY.2, 12, 0);
    let sundays = vec![at(2026, 11, 29, 0, 0), at(2026, 12, 6, 0, 0)];
    for line in [
        "0 0 * * 0",
        "0 0 * * 7",
        "0 0 * * sun",
        "0 0 * * SUN",
        "@weekly",
    ] {
        assert_eq!(next_n(line, from, 2), sundays, "{line}");
    }
}

#[test]
fn weekday_ranges_lists_and_steps() {
    let from = at(FRIDAY.0, FRIDAY.1, FRIDAY.2, 12, 0);
    let days = |line: &str| -> Vec<u32> {
        use chrono::Datelike;
        next_n(line, from, 5).iter().map(|t| t.day()).collect()
    };
    // Friday 27 .. Monday 30, Tuesday 1 December.
    assert_eq!(days("0 13 * * 1-5"), [27, 30, 1, 2, 3]);
    assert_eq!(days("0 13 * * mon-fri"), [27, 30, 1, 2, 3]);
    assert_eq!(days("0 13 * * 1,3,5"), [27, 30, 2, 4, 7]);
    // Sunday, Tuesday, Thursday, Saturday.
    assert_eq!(days("0 13 * * */2"), [28, 29, 1, 3, 5]);
    assert_eq!(days("0 13 * * 0-6/2"), [28, 29, 1, 3, 5]);
    // Friday to Sunday, by number and by name.
    assert_eq!(days("0 13 * * 5-7"), [27, 28, 29, 4, 5]);
    assert_eq!(days("0 13 * * FRI-SUN"), [27, 28, 29, 4, 5]);
}

#[test]
fn every_quarter_hour_in_office_hours() {
    let from = at(FRIDAY.0, FRIDAY.1, FRIDAY.2, 17, 40);
    assert_eq!(
        next_n("*/15 9-17 * * 1-5", from, 3),
        [
            at(2026, 11, 27, 17, 45),
            at(2026, 11, 30, 9, 0),
            at(2026, 11, 30, 9, 15)
        ]
    );
}

#[test]
fn day_of_month_or_day_of_week_when_both_are_restricted() {
    // POSIX: the 1st of the month OR any Monday. The crate alone would want both.
    let from = at(2026, 11, 27, 13, 0);
    assert_eq!(
        next_n("0 12 1 * 1", from, 4),
        [
            at(2026, 11, 30, 12, 0),
            at(2026, 12, 1, 12, 0),
            at(2026, 12, 7, 12, 0),
            at(2026, 12, 14, 12, 0)
        ]
    );
    // Only one restricted: that one alone decides.
    assert_eq!(
        next_n("0 12 1 * *", from, 2),
        [at(2026, 12, 1, 12, 0), at(2027, 1, 1, 12, 0)]
    );
}

#[test]
fn shortcuts_and_month_names() {
    let from = at(2026, 11, 27, 13, 20);
    assert_eq!(next_n("@hourly", from, 1), [at(2026, 11, 27, 14, 0)]);
    assert_eq!(next_n("@daily", from, 1), [at(2026, 11, 28, 0, 0)]);
    assert_eq!(next_n("@midnight", from, 1), [at(2026, 11, 28, 0, 0)]);
    assert_eq!(next_n("@monthly", from, 1), [at(2026, 12, 1, 0, 0)]);
    assert_eq!(next_n("@yearly", from, 1), [at(2027, 1, 1, 0, 0)]);
    assert_eq!(next_n("@annually", from, 1), [at(2027, 1, 1, 0, 0)]);
    assert_eq!(
        next_n("30 2 1 jan,Jul *", from, 2),
        [at(2027, 1, 1, 2, 30), at(2027, 7, 1, 2, 30)]
    );
    assert!(!"@hourly".parse::<Crontab>().unwrap().is_fixed_time());
    assert!("30 2 * * *".parse::<Crontab>().unwrap().is_fixed_time());
    assert!(!"*/15 9-17 * * *"
        .parse::<Crontab>()
        .unwrap()
        .is_fixed_time());
}

#[test]
fn errors_name_the_field() {
    assert!(
        error("0 * * * * *").contains("expected 5 fields"),
        "{}",
        error("0 * * * * *")
    );
    assert!(error("*/5 * * *").contains("found 4"));
    assert!(error("@fortnightly").contains("unknown shortcut"));
    let e = error("61 * * * *");
    assert_eq!(e, "minute field \"61\": 61 is out of range (allowed: 0-59)");
    let e = error("30-10 * * * *");
    assert!(e.contains("range \"30-10\" runs backwards"), "{e}");
    let e = error("*/0 * * * *");
    assert!(e.starts_with("minute field \"*/0\": not a value"), "{e}");
    let e = error("0 1-2-3 * * *");
    assert!(e.starts_with("hour field \"1-2-3\": not a value"), "{e}");
    let e = error("0 24 * * *");
    assert!(e.starts_with("hour field \"24\""), "{e}");
    let e = error("0 0 32 * *");
    assert!(e.starts_with("day-of-month field \"32\""), "{e}");
    let e = error("0 0 ? * 1");
    assert!(
        e.contains("day-of-month field \"?\"") && e.contains("unexpected character"),
        "{e}"
    );
    let e = error("0 0 * 13 *");
    assert!(e.starts_with("month field \"13\""), "{e}");
    let e = error("0 0 * * 8");
    assert!(e.starts_with("day-of-week field \"8\""), "{e}");
    let e = error("0 0 * * 5-1");
    assert!(e.contains("runs backwards"), "{e}");
    let e = error("0 0 * * 1/2");
    assert!(e.contains("a step needs"), "{e}");
    let e = error("0 0 * * funday");
    assert!(e.contains("not a day"), "{e}");
    let e = error("x 0 * * *");
    assert!(
        e.starts_with("minute field") && e.contains("names are only allowed"),
        "{e}"
    );
}

#[test]
fn impossible_dates_never_fire() {
    let cron: Crontab = "0 0 30 2 *".parse().unwrap();
    assert_eq!(cron.next_wall_after(at(2026, 1, 1, 0, 0)), None);
}

/// crontab(5) read directly, as a reference: the set of values a field allows.
fn field_set(text: &str, min: u32, max: u32, names: &[&str]) -> Vec<bool> {
    let value = |t: &str| -> u32 {
        let upper = t.to_ascii_uppercase();
        match names.iter().position(|&n| n == upper) {
            Some(i) => i as u32 + min,
            None => t.parse().unwrap(),
        }
    };
    let mut set = vec![false; max as usize + 1];
    for item in text.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => (b, s.parse().unwrap()),
            None => (item, 1),
        };
        let (a, b) = match base.split_once('-') {
            _ if base == "*" => (min, max),
            Some((a, b)) => (value(a), value(b)),
            None => (value(base), value(base)),
        };
        for v in (a..=b).step_by(step) {
            set[v as usize] = true;
        }
    }
    set
}

fn reference_matches(line: &str, t: NaiveDateTime) -> bool {
    use chrono::{Datelike, Timelike};
    let f: Vec<&str> = line.split_whitespace().collect();
    let months = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let days = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let mut dow = field_set(f[4], 0, 7, &days);
    dow[0] |= dow[7];
    let dom_ok = field_set(f[2], 1, 31, &[])[t.day() as usize];
    let dow_ok = dow[t.weekday().num_days_from_sunday() as usize];
    let day_ok = if f[2] == "*" || f[4] == "*" {
        dom_ok && dow_ok
    } else {
        dom_ok || dow_ok
    };
    field_set(f[0], 0, 59, &[])[t.minute() as usize]
        && field_set(f[1], 0, 23, &[])[t.hour() as usize]
        && field_set(f[3], 1, 12, &months)[t.month() as usize]
        && day_ok
}

#[test]
fn agrees_with_a_direct_reading_of_crontab_over_2026() {
    // Minutes are multiples of 5 so that the reference can step five minutes at a time.
    let lines = [
        "0 12 1 * 1",
        "*/15 9-17 * * 1-5",
        "0 0 * * 0",
        "0 0 * * 7",
        "30 6 1,15 * 5-7",
        "0 */6 13 * FRI",
        "5 4 * jan-mar/2 sun",
        "0 0 29 2 *",
        "10 8 */10 * 0-6/2",
        "45 23 31 * 6,0",
        "0 0 * * *",
    ];
    for line in lines {
        let cron: Crontab = line.parse().unwrap();
        let start = at(2026, 1, 1, 0, 0) - chrono::TimeDelta::minutes(5);
        let end = at(2027, 1, 1, 0, 0);
        let mut expected = Vec::new();
        let mut t = start + chrono::TimeDelta::minutes(5);
        while t < end {
            if reference_matches(line, t) {
                expected.push(t);
            }
            t += chrono::TimeDelta::minutes(5);
        }
        let got: Vec<_> =
            std::iter::successors(cron.next_wall_after(start), |&t| cron.next_wall_after(t))
                .take_while(|&t| t < end)
                .collect();
        assert_eq!(got.len(), expected.len(), "{line}");
        assert_eq!(got, expected, "{line}");
    }
}
