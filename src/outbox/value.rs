//! One value of an outbound mapping, written from a record: its source read, then the value
//! map, the type (integer, exact decimal with fixed places, date in a format), the case and
//! the length limit. Pure.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde_json::Value;

use super::fields::{FieldRef, Level, Path};
use super::spec::{BatchOf, Case, Counted, OutType, Over, Source, ValueSpec};
use crate::store::OutboxChange;

/// A change on its way out, with its record read from the mirror.
#[derive(Debug)]
pub(crate) struct Record<'a> {
    pub(crate) change: &'a OutboxChange,
    /// The record's JSON object (only its id, when the mirror no longer holds it).
    pub(crate) body: serde_json::Map<String, Value>,
}

impl Record<'_> {
    pub(crate) fn lines(&self) -> &[Value] {
        match self.body.get("lines") {
            Some(Value::Array(lines)) => lines,
            _ => &[],
        }
    }
}

/// What a value is written from.
#[derive(Clone, Copy)]
pub(crate) struct At<'r, 'c> {
    pub(crate) record: Option<&'r Record<'c>>,
    /// 1-based position of the record in its file (CSV) or set.
    pub(crate) record_index: usize,
    /// The current line, with its 1-based position.
    pub(crate) line: Option<(usize, &'r Value)>,
    /// The records of a set that holds the whole file (for counts and sums outside the loop).
    pub(crate) set_records: &'r [Record<'c>],
    /// Records written so far in the set.
    pub(crate) records_written: usize,
    /// HL segments written so far in the set.
    pub(crate) hl_written: usize,
    pub(crate) batch: Batch<'r>,
}

/// The batch a file carries: its newest change's time and its range of the change log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batch<'a> {
    pub(crate) at: &'a str,
    pub(crate) first: i64,
    pub(crate) last: i64,
}

impl<'a> Batch<'a> {
    pub(crate) fn of(changes: &'a [OutboxChange]) -> Batch<'a> {
        Batch {
            at: changes.last().map_or("", |c| c.at.as_str()),
            first: changes.first().map_or(0, |c| c.seq),
            last: changes.last().map_or(0, |c| c.seq),
        }
    }
}

/// Why a record cannot go out: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) field: String,
    pub(crate) reason: String,
}

fn problem(spec: &ValueSpec, reason: impl Into<String>) -> Problem {
    Problem {
        field: spec.label.clone(),
        reason: reason.into(),
    }
}

/// Why a record's field cannot be read as a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unreadable {
    #[error("is an object, not a value")]
    Object,
    #[error("{0:?} is not a number")]
    NotANumber(String),
}

/// A JSON value as text (`None` for null or absent).
fn text_of(value: Option<&Value>, join: &str) -> Result<Option<String>, Unreadable> {
    Ok(match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(Value::Array(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match text_of(Some(item), join)? {
                    Some(t) => parts.push(t),
                    None => continue,
                }
            }
            Some(parts.join(join))
        }
        Some(Value::Object(_)) => return Err(Unreadable::Object),
    })
}

fn field_value(f: &FieldRef, at: &At<'_, '_>, join: &str) -> Result<Option<String>, Unreadable> {
    let Some(record) = at.record else {
        return Ok(None);
    };
    match &f.path {
        Path::Change(key) => {
            let c = record.change;
            Ok(Some(match key.as_str() {
                "seq" => c.seq.to_string(),
                "kind" => c.change.clone(),
                "run" => c.run.to_string(),
                "at" => c.at.clone(),
                "key" => c.key.clone(),
                _ => c.fields.clone(),
            }))
        }
        Path::Key(key) => {
            let holder = match f.level {
                Level::Line => match at.line {
                    Some((_, Value::Object(line))) => line.get(key),
                    _ => None,
                },
                Level::Record => record.body.get(key),
            };
            text_of(holder, join)
        }
        Path::Nested(outer, inner) => match record.body.get(outer) {
            Some(Value::Object(o)) => text_of(o.get(inner), join),
            _ => Ok(None),
        },
    }
}

fn sum(f: &FieldRef, at: &At<'_, '_>) -> Result<Decimal, Unreadable> {
    let mut total = Decimal::ZERO;
    let mut add = |v: Option<&Value>| -> Result<(), Unreadable> {
        if let Some(t) = text_of(v, "")? {
            total += Decimal::from_str(&t).map_err(|_| Unreadable::NotANumber(t.clone()))?;
        }
        Ok(())
    };
    let Path::Key(key) = &f.path else {
        return Ok(total);
    };
    match f.level {
        Level::Line => {
            for line in at.record.map(Record::lines).unwrap_or_default() {
                add(line.get(key))?;
            }
        }
        Level::Record => {
            for r in at.set_records {
                add(r.body.get(key))?;
            }
        }
    }
    Ok(total)
}

/// A date (`YYYY-MM-DD`) or timestamp (RFC 3339) as a UTC date and time.
fn date_time(text: &str) -> Option<NaiveDateTime> {
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0);
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.naive_utc())
}

/// Write one value, or say why the record cannot go out.
pub(crate) fn render(spec: &ValueSpec, at: &At<'_, '_>) -> Result<String, Problem> {
    let raw = match &spec.source {
        Source::Literal(v) => Some(v.clone()),
        Source::Fields(refs) => {
            let mut found = None;
            for f in refs {
                let v = field_value(f, at, &spec.join)
                    .map_err(|r| problem(spec, format!("{} {r}", f.name)))?;
                if v.as_deref().is_some_and(|t| !t.is_empty()) {
                    found = v;
                    break;
                }
            }
            found
        }
        Source::Count(Counted::Lines) => Some(at.record.map_or(0, |r| r.lines().len()).to_string()),
        Source::Count(Counted::Records) => Some(at.records_written.to_string()),
        Source::Count(Counted::Hl) => Some(at.hl_written.to_string()),
        Source::Index(Over::Lines) => at.line.map(|(i, _)| i.to_string()),
        Source::Index(Over::Records) => Some(at.record_index.to_string()),
        Source::Sum(f) => Some(
            sum(f, at)
                .map_err(|r| problem(spec, r.to_string()))?
                .normalize()
                .to_string(),
        ),
        Source::Batch(BatchOf::At) => Some(at.batch.at.to_string()),
        Source::Batch(BatchOf::First) => Some(at.batch.first.to_string()),
        Source::Batch(BatchOf::Last) => Some(at.batch.last.to_string()),
    };
    let text = raw.unwrap_or_default();
    if text.is_empty() {
        return match (&spec.default, spec.required) {
            (Some(d), _) => Ok(d.clone()),
            (None, true) => Err(problem(spec, "is required but the record has no value")),
            (None, false) => Ok(String::new()),
        };
    }
    let text = if spec.map.is_empty() {
        text
    } else {
        match spec.map.get(&text) {
            Some(mapped) => mapped.clone(),
            None if spec.reject_unmapped => {
                let mut known: Vec<&str> = spec.map.keys().map(String::as_str).collect();
                known.sort_unstable();
                return Err(problem(
                    spec,
                    format!("{text:?} is not in the map (known: {})", known.join(", ")),
                ));
            }
            None => text,
        }
    };
    let text = match spec.ty {
        OutType::Text => text,
        OutType::Integer => text
            .parse::<i64>()
            .map(|n| n.to_string())
            .map_err(|_| problem(spec, format!("{text:?} is not a whole number")))?,
        OutType::Decimal => {
            let d = Decimal::from_str(&text)
                .map_err(|_| problem(spec, format!("{text:?} is not a decimal number")))?;
            match spec.decimals {
                None => text,
                Some(places) => {
                    let mut exact = d.normalize();
                    if exact.scale() > places {
                        return Err(problem(
                            spec,
                            format!(
                                "{text} has more than {places} decimal places; nothing is rounded"
                            ),
                        ));
                    }
                    exact.rescale(places);
                    if spec.implied {
                        // X12 N-type numbers: the digits, the decimal point implied.
                        exact.to_string().replace('.', "")
                    } else {
                        exact.to_string()
                    }
                }
            }
        }
        OutType::Date => {
            let t = date_time(&text)
                .ok_or_else(|| problem(spec, format!("{text:?} is not a date or timestamp")))?;
            t.format_with_items(spec.date_items.iter()).to_string()
        }
    };
    let text = match spec.case {
        None => text,
        Some(Case::Upper) => text.to_uppercase(),
        Some(Case::Lower) => text.to_lowercase(),
    };
    if let Some(max) = spec.max_length {
        if text.chars().count() > max {
            return Err(problem(
                spec,
                format!("{text:?} is longer than {max} characters"),
            ));
        }
    }
    Ok(text)
}

/// The records of a batch of changes, each with its body read; a body that cannot be read is
/// a problem for its change.
pub(crate) fn records(changes: &[OutboxChange]) -> Vec<Result<Record<'_>, Problem>> {
    changes
        .iter()
        .map(|change| {
            let body = match &change.body {
                None if change.change != "removed" => {
                    return Err(Problem {
                        field: String::new(),
                        reason: "the record is no longer in the mirror (removed since the change)"
                            .into(),
                    })
                }
                None => {
                    let mut m = serde_json::Map::new();
                    if let Some(id) = change.record_id {
                        m.insert("id".into(), Value::from(id));
                    }
                    m
                }
                Some(text) => match serde_json::from_str::<Value>(text) {
                    Ok(Value::Object(m)) => m,
                    _ => {
                        return Err(Problem {
                            field: String::new(),
                            reason: "the mirror's copy of the record cannot be read".into(),
                        })
                    }
                },
            };
            Ok(Record { change, body })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::spec::{OutMapping, Target};

    fn change(body: &str) -> OutboxChange {
        OutboxChange {
            seq: 7,
            run: 3,
            at: "2026-11-20T10:00:00Z".into(),
            record_id: Some(1),
            key: "K".into(),
            change: "created".into(),
            fields: String::new(),
            body: Some(body.into()),
        }
    }

    /// The values of one CSV column definition over a record's lines.
    fn column(def: &str, body: &str) -> Vec<Result<String, Problem>> {
        let m = OutMapping::parse(
            &format!("stream = \"invoices\"\n[target]\nformat = \"csv\"\nrows = \"lines\"\n[[columns]]\nname = \"C\"\n{def}\n"),
            "m",
        )
        .unwrap();
        let Target::Csv(csv) = m.target else { panic!() };
        let spec = &csv.columns[0].1;
        let c = change(body);
        let recs = records(std::slice::from_ref(&c));
        let record = recs[0].as_ref().unwrap();
        let lines = record.lines();
        lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                render(
                    spec,
                    &At {
                        record: Some(record),
                        record_index: 1,
                        line: Some((i + 1, line)),
                        set_records: &[],
                        records_written: 0,
                        hl_written: 0,
                        batch: Batch::of(std::slice::from_ref(&c)),
                    },
                )
            })
            .collect()
    }

    const INV: &str = r#"{"id":1,"invoice_number":"INV-1","invoice_date":"2026-11-02","status":"open","total_amount":"1249.5","lines":[{"line_number":1,"unit_price":"2150.00","quantity":2},{"line_number":2,"unit_price":"0.125","quantity":1},{"line_number":3}]}"#;

    #[test]
    fn values_are_written_exactly() {
        let ok = |v: &[Result<String, Problem>]| -> Vec<String> {
            v.iter()
                .map(|r| r.clone().unwrap_or_else(|p| format!("ERR {}", p.reason)))
                .collect()
        };
        assert_eq!(
            ok(&column("field = \"lines[].unit_price\"\ndecimals = 2", INV)),
            [
                "2150.00",
                "ERR 0.125 has more than 2 decimal places; nothing is rounded",
                ""
            ]
        );
        assert_eq!(
            ok(&column("field = \"lines[].unit_price\"\ndecimals = 4", INV)),
            ["2150.0000", "0.1250", ""]
        );
        assert_eq!(
            ok(&column("field = \"lines[].unit_price\"", INV)),
            ["2150.00", "0.125", ""]
        );
        assert_eq!(
            ok(&column(
                "field = \"invoice_date\"\ntype = \"date\"\nformat = \"%m/%d/%Y\"",
                INV
            )),
            ["11/02/2026"; 3]
        );
        assert_eq!(
            ok(&column(
                "field = \"change.at\"\ntype = \"date\"\nformat = \"%Y%m%d %H%M\"",
                INV
            )),
            ["20261120 1000"; 3]
        );
        assert_eq!(
            ok(&column(
                "field = \"status\"\nmap = { open = \"O\" }\ncase = \"lower\"",
                INV
            )),
            ["o"; 3]
        );
        assert_eq!(
            ok(&column(
                "field = \"status\"\nmap = { paid = \"P\" }\nunmapped = \"reject\"",
                INV
            ))[0],
            "ERR \"open\" is not in the map (known: paid)"
        );
        assert_eq!(
            ok(&column(
                "field = \"lines[].quantity\"\nrequired = true",
                INV
            )),
            ["2", "1", "ERR is required but the record has no value"]
        );
        assert_eq!(
            ok(&column("field = \"lines[].quantity\"\ndefault = 0", INV)),
            ["2", "1", "0"]
        );
        assert_eq!(
            ok(&column("field = \"invoice_number\"\nmax_length = 3", INV))[0],
            "ERR \"INV-1\" is longer than 3 characters"
        );
        assert_eq!(ok(&column("index = \"line\"", INV)), ["1", "2", "3"]);
        assert_eq!(
            ok(&column(
                "field = \"lines[].unit_price\"\ndecimals = 2\nimplied = true",
                INV
            ))[0],
            "215000"
        );
        assert_eq!(ok(&column("batch = \"first\"", INV)), ["7"; 3]);
        assert_eq!(ok(&column("field = \"change.seq\"", INV)), ["7"; 3]);
    }
}
