//! Crontab lines, meaning what crontab(5) means, evaluated by the `cron` crate.
//!
//! The crate speaks Quartz: six or seven fields with seconds first, Sunday = 1, `?` for "no
//! value", and a day that must match day-of-month AND day-of-week. Operators write crontab
//! lines, so this wrapper accepts exactly those and translates them:
//!
//! - exactly five fields (minute hour day-of-month month day-of-week), or one of the shortcuts
//!   `@yearly @annually @monthly @weekly @daily @midnight @hourly`;
//! - seconds are prepended as `0`;
//! - day-of-week is read here, POSIX style (0 and 7 are Sunday, `SUN`..`SAT`, ranges, lists and
//!   steps), and handed to the crate as a list of names, so its numbering never shows;
//! - when both day-of-month and day-of-week are restricted (neither is `*`), a day matches if
//!   EITHER matches (the POSIX rule): two crate schedules are kept and the earlier time wins.
//!
//! Everything here is wall-clock time with no time zone; `next.rs` maps it to instants.

use std::str::FromStr;

use chrono::NaiveDateTime;
use thiserror::Error;

/// Names of the five fields, in order, for messages.
const FIELDS: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A parsed crontab line.
#[derive(Debug, Clone)]
pub(crate) struct Crontab {
    /// What the user wrote, shown back in listings and messages.
    source: String,
    /// One crate schedule, or two when the POSIX day-of-month OR day-of-week rule applies
    /// (the crate would otherwise require both to match).
    schedules: Vec<cron::Schedule>,
    /// True when neither the minute nor the hour field starts with `*`: the job runs at fixed
    /// times of day (`30 2 * * *`), as opposed to an interval (`*/15 * * * *`, `@hourly`).
    /// Daylight-saving changes treat the two differently (see `next.rs`), as Vixie cron does.
    fixed_time: bool,
}

/// What is wrong with a crontab line; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum CrontabError {
    #[error(
        "expected 5 fields (minute hour day-of-month month day-of-week), found {found} in {line:?}; \
         seconds are not written (for example \"*/15 * * * *\")"
    )]
    FieldCount { line: String, found: usize },
    #[error(
        "unknown shortcut {0:?}; use one of @yearly @annually @monthly @weekly @daily @midnight \
         @hourly, or 5 fields"
    )]
    UnknownShortcut(String),
    #[error("{field} field {value:?}: {problem}")]
    Field {
        field: &'static str,
        value: String,
        problem: String,
    },
}

impl FromStr for Crontab {
    type Err = CrontabError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let source = line.trim().to_string();
        let expanded = match source.as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(CrontabError::UnknownShortcut(other.to_string()))
            }
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(CrontabError::FieldCount {
                found: fields.len(),
                line: source.clone(),
            });
        }
        for (index, value) in fields.iter().enumerate() {
            check_characters(index, value)?;
        }
        let (minute, hour, dom, month) = (fields[0], fields[1], fields[2], fields[3]);
        // Probe each field alone so a crate error can be pinned on the field that caused it.
        probe(0, &format!("0 {minute} * * * *"))?;
        probe(1, &format!("0 0 {hour} * * *"))?;
        probe(2, &format!("0 0 0 {dom} * *"))?;
        probe(3, &format!("0 0 0 * {month} *"))?;
        let days = weekdays(fields[4])?;
        let dow = if fields[4] == "*" {
            "*".to_string()
        } else {
            days.iter()
                .map(|&d| DAY_NAMES[d])
                .collect::<Vec<_>>()
                .join(",")
        };
        let quartz = |dom: &str, dow: &str| format!("0 {minute} {hour} {dom} {month} {dow}");
        let texts = if dom != "*" && fields[4] != "*" {
            vec![quartz(dom, "*"), quartz("*", &dow)]
        } else {
            vec![quartz(dom, &dow)]
        };
        let schedules = texts
            .iter()
            .map(|text| {
                cron::Schedule::from_str(text).map_err(|e| CrontabError::Field {
                    field: "expression",
                    value: source.clone(),
                    problem: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Crontab {
            fixed_time: !minute.starts_with('*') && !hour.starts_with('*'),
            source,
            schedules,
        })
    }
}

impl Crontab {
    /// Fixed times of day (`30 2 * * *`) rather than an interval (`*/15 * * * *`, `@hourly`).
    pub(crate) fn is_fixed_time(&self) -> bool {
        self.fixed_time
    }

    /// The first wall-clock time strictly after `wall` that the line matches, if any (a line
    /// such as `0 0 30 2 *` never matches). Seconds are always zero.
    pub(crate) fn next_wall_after(&self, wall: NaiveDateTime) -> Option<NaiveDateTime> {
        // The crate is given UTC only as a zone without transitions: every wall time exists once.
        self.schedules
            .iter()
            .filter_map(|s| s.after(&wall.and_utc()).next())
            .map(|t| t.naive_utc())
            .min()
    }
}

impl std::fmt::Display for Crontab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

fn field_error(index: usize, value: &str, problem: impl Into<String>) -> CrontabError {
    CrontabError::Field {
        field: FIELDS[index],
        value: value.to_string(),
        problem: problem.into(),
    }
}

/// Crontab syntax only: the crate would also take Quartz's `?`, which crontab does not know.
fn check_characters(index: usize, value: &str) -> Result<(), CrontabError> {
    let names_allowed = index >= 3;
    match value.chars().find(|&c| {
        let allowed = c.is_ascii_digit() || matches!(c, '*' | ',' | '-' | '/');
        !(allowed || names_allowed && c.is_ascii_alphabetic())
    }) {
        None => Ok(()),
        Some(c) if c.is_ascii_alphabetic() => Err(field_error(
            index,
            value,
            "names are only allowed for months (JAN-DEC) and days of the week (SUN-SAT)",
        )),
        Some(c) => Err(field_error(
            index,
            value,
            format!("unexpected character {c:?} (allowed: digits, names, * , - /)"),
        )),
    }
}

/// Ranges of the numbered fields, in crontab's terms.
const BOUNDS: [(u32, u32); 4] = [(0, 59), (0, 23), (1, 31), (1, 12)];

fn probe(index: usize, quartz: &str) -> Result<(), CrontabError> {
    let value = quartz.split_whitespace().nth(index + 1).unwrap_or("");
    let (min, max) = BOUNDS[index];
    let allowed = if index == 3 {
        "1-12 or JAN-DEC".to_string()
    } else {
        format!("{min}-{max}")
    };
    // The crate's parse errors only echo the expression, so say what is wrong here.
    for item in value.split(',') {
        let base = item.split('/').next().unwrap_or("");
        if let Some((Ok(a), Ok(b))) = base
            .split_once('-')
            .map(|(a, b)| (a.parse::<u32>(), b.parse::<u32>()))
        {
            if a > b {
                return Err(field_error(
                    index,
                    value,
                    format!("range {base:?} runs backwards"),
                ));
            }
        }
        for number in base.split('-').filter_map(|n| n.parse::<u32>().ok()) {
            if number < min || number > max {
                return Err(field_error(
                    index,
                    value,
                    format!("{number} is out of range (allowed: {allowed})"),
                ));
            }
        }
    }
    cron::Schedule::from_str(quartz).map(|_| ()).map_err(|_| {
        field_error(
            index,
            value,
            format!("not a value, range (a-b), list (a,b) or step (*/n, a-b/n) of {allowed}"),
        )
    })
}

/// POSIX day-of-week: a list of `*`, `N`, `A-B`, each optionally `/STEP`; numbers 0-7 with 0 and 7
/// both Sunday; names SUN-SAT (a range may end in SUN, as in `FRI-SUN`). Returns days 0..=6.
fn weekdays(field: &str) -> Result<Vec<usize>, CrontabError> {
    let error = |problem: String| field_error(4, field, problem);
    let mut days = [false; 7];
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => {
                let step: usize = step
                    .parse()
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or_else(|| error(format!("step {step:?} is not a positive number")))?;
                (base, Some(step))
            }
            None => (item, None),
        };
        let (first, last) = if base == "*" {
            (0, 6)
        } else if let Some((a, b)) = base.split_once('-') {
            let (a, b) = (day(a, false), day(b, true));
            match (a, b) {
                (Some(a), Some(b)) if a <= b => (a, b),
                (Some(_), Some(_)) => {
                    return Err(error(format!("range {base:?} runs backwards")));
                }
                _ => {
                    return Err(error(format!(
                        "{base:?} is not a range of days (0-7, SUN-SAT)"
                    )))
                }
            }
        } else {
            let d = day(base, false)
                .ok_or_else(|| error(format!("{base:?} is not a day (0-7 or SUN-SAT)")))?;
            if step.is_some() {
                return Err(error(format!(
                    "a step needs `*` or a range before it, as in `*/2` or `1-5/2`, not {item:?}"
                )));
            }
            (d, d)
        };
        for d in (first..=last).step_by(step.unwrap_or(1)) {
            days[d % 7] = true;
        }
    }
    Ok((0..7).filter(|&d| days[d]).collect())
}

/// A day number 0-7 or a three-letter name; `SUN` counts as 7 at the end of a range.
fn day(text: &str, range_end: bool) -> Option<usize> {
    if let Ok(n) = text.parse::<usize>() {
        return (n <= 7).then_some(n);
    }
    let upper = text.to_ascii_uppercase();
    let d = DAY_NAMES.iter().position(|&name| name == upper)?;
    Some(if d == 0 && range_end { 7 } else { d })
}

#[cfg(test)]
mod tests;
