//! The `q` parameter: parsing (strict, every mistake is a 400) and evaluation over a table.
//!
//! Parsing checks every operand against the field's wire type up front, so evaluation never
//! meets a type error: a string where a number belongs is rejected before any row is read.

use std::cmp::Ordering;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;

use super::rules::{self, Field, FieldType};
use super::world::{parse_date, parse_ts, CachedHits, Row, Val, World};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

/// A typed operand, checked against the field's type at parse time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Null,
    Int(i64),
    Str(String),
    Money(Decimal),
    Time(i64),
    Date(NaiveDate),
}

#[derive(Debug, Clone)]
pub(crate) struct Cond {
    pub field: &'static str,
    pub ty: FieldType,
    pub op: Op,
    pub operands: Vec<Operand>,
}

#[derive(Debug, Clone)]
pub(crate) struct Query {
    /// Already capped.
    pub limit: usize,
    pub offset: usize,
    pub order_by: &'static str,
    pub order_ty: FieldType,
    pub descending: bool,
    pub conds: Vec<Cond>,
}

/// Why a `q` is refused (answered 400 with this text).
#[derive(Debug, thiserror::Error)]
pub(crate) enum QueryError {
    #[error("q is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("q must be a JSON object")]
    NotAnObject,
    #[error("limit must be a positive integer")]
    BadLimit,
    #[error("offset must be a non-negative integer")]
    BadOffset,
    #[error("order_by must be a string")]
    OrderByNotAString,
    #[error("cannot order by {0}")]
    CannotOrderBy(String),
    #[error("where must be an object")]
    WhereNotAnObject,
    #[error("unknown key in q: {0}")]
    UnknownKey(String),
    #[error("unknown field: {0}")]
    UnknownField(String),
    #[error("cannot filter on {0}")]
    CannotFilterOn(String),
    #[error("unknown operator {op:?} on {field}")]
    UnknownOperator { op: String, field: String },
    #[error("in on {0} needs an array")]
    InNeedsAnArray(String),
    #[error("{0}: null cannot be ordered")]
    NullOrdered(String),
    #[error("{field}: {value} is not a valid {ty:?} value")]
    BadOperand {
        field: String,
        value: Value,
        ty: FieldType,
    },
}

/// Parses the decoded JSON text of `q` (None = no `q`) for a resource with `fields`.
/// `cap` is the effective page cap (the contract's, or a lower one set as a fault).
pub(crate) fn parse(
    q: Option<&str>,
    fields: &'static [Field],
    cap: usize,
) -> Result<Query, QueryError> {
    let mut query = Query {
        limit: rules::DEFAULT_LIMIT.min(cap),
        offset: 0,
        order_by: rules::DEFAULT_ORDER_BY,
        order_ty: FieldType::Int,
        descending: false,
        conds: Vec::new(),
    };
    let Some(text) = q else { return Ok(query) };
    let v: Value = serde_json::from_str(text).map_err(QueryError::NotJson)?;
    let Value::Object(obj) = v else {
        return Err(QueryError::NotAnObject);
    };
    for (key, val) in &obj {
        match key.as_str() {
            rules::Q_LIMIT => {
                let n = val
                    .as_u64()
                    .filter(|n| *n >= 1)
                    .ok_or(QueryError::BadLimit)?;
                query.limit = (n as usize).min(cap);
            }
            rules::Q_OFFSET => {
                query.offset = val.as_u64().ok_or(QueryError::BadOffset)? as usize;
            }
            rules::Q_ORDER_BY => {
                let s = val.as_str().ok_or(QueryError::OrderByNotAString)?;
                let (name, desc) = match s.strip_prefix('-') {
                    Some(rest) => (rest, true),
                    None => (s, false),
                };
                let (fname, ty) = lookup(fields, name)?;
                if ty == FieldType::Complex {
                    return Err(QueryError::CannotOrderBy(name.to_string()));
                }
                query.order_by = fname;
                query.order_ty = ty;
                query.descending = desc;
            }
            rules::Q_WHERE => {
                let Value::Object(conds) = val else {
                    return Err(QueryError::WhereNotAnObject);
                };
                for (name, cond) in conds {
                    parse_cond(fields, name, cond, &mut query.conds)?;
                }
            }
            other => return Err(QueryError::UnknownKey(other.to_string())),
        }
    }
    Ok(query)
}

fn lookup(fields: &'static [Field], name: &str) -> Result<(&'static str, FieldType), QueryError> {
    fields
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(n, t, _)| (*n, *t))
        .ok_or_else(|| QueryError::UnknownField(name.to_string()))
}

fn parse_cond(
    fields: &'static [Field],
    name: &str,
    cond: &Value,
    out: &mut Vec<Cond>,
) -> Result<(), QueryError> {
    let (field, ty) = lookup(fields, name)?;
    if ty == FieldType::Complex {
        return Err(QueryError::CannotFilterOn(name.to_string()));
    }
    let ops = match cond {
        Value::Object(ops) => ops.iter().map(|(k, v)| (k.as_str(), v)).collect::<Vec<_>>(),
        plain => vec![("=", plain)],
    };
    for (op, v) in ops {
        let op = match op {
            "=" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "in" => Op::In,
            other => {
                return Err(QueryError::UnknownOperator {
                    op: other.to_string(),
                    field: name.to_string(),
                })
            }
        };
        let operands = if op == Op::In {
            let Value::Array(list) = v else {
                return Err(QueryError::InNeedsAnArray(name.to_string()));
            };
            list.iter()
                .map(|x| operand(name, ty, x))
                .collect::<Result<_, _>>()?
        } else {
            vec![operand(name, ty, v)?]
        };
        if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) && operands[0] == Operand::Null {
            return Err(QueryError::NullOrdered(name.to_string()));
        }
        out.push(Cond {
            field,
            ty,
            op,
            operands,
        });
    }
    Ok(())
}

fn operand(name: &str, ty: FieldType, v: &Value) -> Result<Operand, QueryError> {
    let bad = || QueryError::BadOperand {
        field: name.to_string(),
        value: v.clone(),
        ty,
    };
    if v.is_null() {
        return Ok(Operand::Null);
    }
    Ok(match ty {
        FieldType::Int => Operand::Int(v.as_i64().ok_or_else(bad)?),
        FieldType::Str => Operand::Str(v.as_str().ok_or_else(bad)?.to_string()),
        FieldType::Money => Operand::Money(
            v.as_str()
                .and_then(|s| s.trim().parse::<Decimal>().ok())
                .ok_or_else(bad)?,
        ),
        FieldType::Time => Operand::Time(v.as_str().and_then(parse_ts).ok_or_else(bad)?),
        FieldType::Date => Operand::Date(v.as_str().and_then(parse_date).ok_or_else(bad)?),
        FieldType::Complex => return Err(bad()),
    })
}

fn compare(val: &Val, operand: &Operand) -> Option<Ordering> {
    match (val, operand) {
        (Val::Null, Operand::Null) => Some(Ordering::Equal),
        (Val::Int(a), Operand::Int(b)) => Some(a.cmp(b)),
        (Val::Str(a), Operand::Str(b)) => Some((*a).cmp(b.as_str())),
        (Val::Money(a), Operand::Money(b)) => Some(a.cmp(b)),
        (Val::Time(a), Operand::Time(b)) => Some(a.cmp(b)),
        (Val::Date(a), Operand::Date(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

impl Cond {
    pub(crate) fn holds(&self, val: &Val) -> bool {
        let c = compare(val, &self.operands[0]);
        match self.op {
            Op::Eq => c == Some(Ordering::Equal),
            Op::Ne => c != Some(Ordering::Equal),
            Op::Lt => c == Some(Ordering::Less),
            Op::Le => matches!(c, Some(Ordering::Less | Ordering::Equal)),
            Op::Gt => c == Some(Ordering::Greater),
            Op::Ge => matches!(c, Some(Ordering::Greater | Ordering::Equal)),
            Op::In => self
                .operands
                .iter()
                .any(|o| compare(val, o) == Some(Ordering::Equal)),
        }
    }
}

/// Orders values of one field; nulls first.
fn order(a: &Val, b: &Val) -> Ordering {
    match (a, b) {
        (Val::Null, Val::Null) => Ordering::Equal,
        (Val::Null, _) => Ordering::Less,
        (_, Val::Null) => Ordering::Greater,
        (Val::Int(a), Val::Int(b)) => a.cmp(b),
        (Val::Str(a), Val::Str(b)) => a.cmp(b),
        (Val::Money(a), Val::Money(b)) => a.cmp(b),
        (Val::Time(a), Val::Time(b)) => a.cmp(b),
        (Val::Date(a), Val::Date(b)) => a.cmp(b),
        _ => Ordering::Equal,
    }
}

/// One page of `rows` (sorted by id) under `q`: (total matching, the page).
///
/// The common case, no filter and ordered by id, slices the table directly so a page costs
/// the same at offset 0 and at offset 999,000.
pub(crate) fn page<'a, R: Row>(world: &'a World, rows: &'a [R], q: &Query) -> (usize, Vec<&'a R>) {
    if q.conds.is_empty() && q.order_by == "id" {
        let total = rows.len();
        let start = q.offset.min(total);
        let end = (start + q.limit).min(total);
        let page = if q.descending {
            rows[total - end..total - start].iter().rev().collect()
        } else {
            rows[start..end].iter().collect()
        };
        return (total, page);
    }
    // The pages of one filtered read ask the same question with another offset: answer it once
    // per world generation (any mutation starts a new one) instead of scanning every page.
    let key = format!(
        "{:p}/{:?}/{}/{}",
        rows.as_ptr(),
        q.conds,
        q.order_by,
        q.descending
    );
    let positions = {
        let mut cache = world.hits.0.lock().unwrap_or_else(|p| p.into_inner());
        match cache.as_ref() {
            Some(c) if c.generation == world.generation && c.key == key => c.positions.clone(),
            _ => {
                let positions = std::sync::Arc::new(matching(world, rows, q));
                *cache = Some(CachedHits {
                    generation: world.generation,
                    key,
                    positions: positions.clone(),
                });
                positions
            }
        }
    };
    let total = positions.len();
    let page = positions
        .iter()
        .skip(q.offset)
        .take(q.limit)
        .map(|&i| &rows[i as usize])
        .collect();
    (total, page)
}

/// Positions of the rows matching `q`, in the order it asks for.
fn matching<R: Row>(world: &World, rows: &[R], q: &Query) -> Vec<u32> {
    let mut hits: Vec<u32> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            q.conds
                .iter()
                .all(|c| c.holds(&r.val(world, c.field, c.ty)))
        })
        .map(|(i, _)| i as u32)
        .collect();
    if q.order_by != "id" {
        hits.sort_by(|&a, &b| {
            let (a, b) = (&rows[a as usize], &rows[b as usize]);
            order(
                &a.val(world, q.order_by, q.order_ty),
                &b.val(world, q.order_by, q.order_ty),
            )
            .then(a.id().cmp(&b.id()))
        });
    }
    if q.descending {
        hits.reverse();
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::INVOICE_FIELDS;

    fn p(q: &str) -> Result<Query, QueryError> {
        parse(Some(q), INVOICE_FIELDS, rules::PAGE_CAP)
    }

    #[test]
    fn defaults_and_cap() {
        let q = parse(None, INVOICE_FIELDS, 1000).unwrap();
        assert_eq!(
            (q.limit, q.offset, q.order_by, q.descending),
            (100, 0, "id", false)
        );
        assert_eq!(p(r#"{"limit":5000}"#).unwrap().limit, 1000);
        assert_eq!(
            parse(Some(r#"{"limit":5000}"#), INVOICE_FIELDS, 7)
                .unwrap()
                .limit,
            7
        );
        let q = p(r#"{"order_by":"-total_amount","offset":3}"#).unwrap();
        assert_eq!(
            (q.order_by, q.descending, q.offset),
            ("total_amount", true, 3)
        );
    }

    #[test]
    fn rejects_mistakes() {
        for bad in [
            "not json",
            "[]",
            r#"{"limit":"10"}"#,
            r#"{"limit":0}"#,
            r#"{"offset":-1}"#,
            r#"{"page":1}"#,
            r#"{"order_by":"nope"}"#,
            r#"{"order_by":"lines"}"#,
            r#"{"where":{"nope":1}}"#,
            r#"{"where":{"status":1}}"#,
            r#"{"where":{"total_amount":12.5}}"#,
            r#"{"where":{"total_amount":"abc"}}"#,
            r#"{"where":{"updated_at":{">=":"yesterday"}}}"#,
            r#"{"where":{"id":{"~":1}}}"#,
            r#"{"where":{"id":{"in":1}}}"#,
            r#"{"where":{"id":"1"}}"#,
            r#"{"where":{"due_date":"2026-1-1"}}"#,
        ] {
            assert!(p(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn money_and_time_compare_by_value() {
        let q = p(r#"{"where":{"total_amount":{">=":"10.5"},"updated_at":{"<":"2026-01-01T01:00:00+01:00"}}}"#)
            .unwrap();
        let money = &q.conds[0];
        assert!(money.holds(&Val::Money("10.50".parse().unwrap())));
        assert!(!money.holds(&Val::Money("10.4999".parse().unwrap())));
        let time = &q.conds[1];
        // 2026-01-01T01:00:00+01:00 is midnight UTC.
        assert!(time.holds(&Val::Time(parse_ts("2025-12-31T23:59:59Z").unwrap())));
        assert!(!time.holds(&Val::Time(parse_ts("2026-01-01T00:00:00Z").unwrap())));
    }

    #[test]
    fn in_and_not_equal_and_null() {
        let q = p(r#"{"where":{"status":{"in":["open","paid"],"!=":"paid"},"purchase_order_number":null}}"#)
            .unwrap();
        let by = |op: Op, field: &str| {
            q.conds
                .iter()
                .find(|c| c.op == op && c.field == field)
                .unwrap()
        };
        assert!(by(Op::In, "status").holds(&Val::Str("open")));
        assert!(!by(Op::In, "status").holds(&Val::Str("void")));
        assert!(!by(Op::Ne, "status").holds(&Val::Str("paid")));
        assert!(by(Op::Eq, "purchase_order_number").holds(&Val::Null));
        assert!(!by(Op::Eq, "purchase_order_number").holds(&Val::Str("PO-1")));
    }
}
