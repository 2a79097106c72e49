//! One written value: where it comes from, what it may read where it stands, and how it is
//! written (type, date format, decimals, default, map, case, length).

use super::raw::{FieldNames, RawValue};
use super::segments::Scope;
use super::*;
use crate::outbox::fields::{self, FieldRef, Kind, Level};

pub(super) fn compile_value(
    mut raw: RawValue,
    scope: &Scope,
    name: &str,
    key: &str,
) -> Result<ValueSpec, SpecError> {
    let sub = |k: &str| format!("{key}.{k}");
    let (source, kind, label) = value_source(&mut raw, scope, name, key)?;
    let ty = out_type(raw.ty.as_deref(), kind, &label, name, key)?;
    let date_items = date_format(raw.format.as_ref(), ty, scope, name, key)?;
    let decimals = match raw.decimals {
        None => None,
        Some(_) if ty != OutType::Decimal => {
            return Err(invalid(
                name,
                sub("decimals"),
                "`decimals` is for type = \"decimal\"",
            ))
        }
        Some(d @ 0..=4) => Some(d as u32),
        Some(d) => {
            return Err(invalid(
                name,
                sub("decimals"),
                format!("{d}: 0 to 4 decimal places"),
            ))
        }
    };
    let implied = raw.implied.unwrap_or(false);
    if implied && decimals.is_none() {
        return Err(invalid(
            name,
            sub("implied"),
            "`implied = true` needs `decimals` (the places implied)",
        ));
    }
    let default = match raw.default {
        None => None,
        Some(toml::Value::String(s)) => Some(s),
        Some(toml::Value::Integer(i)) => Some(i.to_string()),
        Some(toml::Value::Boolean(b)) => Some(b.to_string()),
        Some(_) => {
            return Err(invalid(
                name,
                sub("default"),
                "write a default as a string, integer or bool",
            ))
        }
    };
    let reject_unmapped = match raw.unmapped.as_deref() {
        None | Some("keep") => false,
        Some("reject") => true,
        Some(other) => {
            return Err(invalid(
                name,
                sub("unmapped"),
                format!("{other:?} is not \"keep\" or \"reject\""),
            ))
        }
    };
    if reject_unmapped && raw.map.as_ref().is_none_or(|m| m.is_empty()) {
        return Err(invalid(
            name,
            sub("unmapped"),
            "`unmapped = \"reject\"` needs a `map`",
        ));
    }
    let case = match raw.case.as_deref() {
        None => None,
        Some("upper") => Some(Case::Upper),
        Some("lower") => Some(Case::Lower),
        Some(other) => {
            return Err(invalid(
                name,
                sub("case"),
                format!("{other:?} is not \"upper\" or \"lower\""),
            ))
        }
    };
    let max_length = match raw.max_length {
        None => None,
        Some(n) if n > 0 => Some(n as usize),
        Some(n) => {
            return Err(invalid(
                name,
                sub("max_length"),
                format!("{n} must be above zero"),
            ))
        }
    };
    if raw.join.is_some() && kind != Kind::TextList {
        return Err(invalid(
            name,
            sub("join"),
            "`join` is for list fields (serial_numbers)",
        ));
    }
    Ok(ValueSpec {
        label,
        source,
        ty,
        date_items,
        decimals,
        implied,
        default,
        map: raw.map.unwrap_or_default().into_iter().collect(),
        reject_unmapped,
        required: raw.required.unwrap_or(false),
        case,
        max_length,
        join: raw.join.unwrap_or_else(|| ";".to_string()),
    })
}

/// A field a value reads, if it can be read where the value stands.
pub(super) fn resolve_field(
    scope: &Scope,
    name: &str,
    key: &str,
    field: &str,
    k: &str,
) -> Result<FieldRef, SpecError> {
    let sub = |k: &str| format!("{key}.{k}");
    let f =
        fields::resolve(scope.stream, field).map_err(|m| invalid(name, sub(k), m.to_string()))?;
    if f.level == Level::Line && !scope.line {
        return Err(invalid(
            name,
            sub(k),
            if scope.csv {
                format!("{field} is a line field: set target.rows = \"lines\"")
            } else {
                format!("{field} is a line field: read it inside `each = \"lines\"`")
            },
        ));
    }
    if scope.set_records {
        return Err(invalid(
            name,
            sub(k),
            format!("{field}: no record is current here: read it inside `each = \"records\"`"),
        ));
    }
    Ok(f)
}

/// Where a value comes from (one of `field`, `value`, `count`, `index`, `sum`, `batch`, or
/// only a `default`), the kind of what it reads, and the label its problems name.
pub(super) fn value_source(
    raw: &mut RawValue,
    scope: &Scope,
    name: &str,
    key: &str,
) -> Result<(Source, Kind, String), SpecError> {
    let sub = |k: &str| format!("{key}.{k}");
    let sources = [
        raw.field.is_some(),
        raw.value.is_some(),
        raw.count.is_some(),
        raw.index.is_some(),
        raw.sum.is_some(),
        raw.batch.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if sources > 1 {
        return Err(invalid(
            name,
            key,
            "give one of `field`, `value`, `count`, `index`, `sum` or `batch`",
        ));
    }
    let mut label = key.to_string();
    let mut kind = Kind::Text;
    let source = if let Some(names) = raw.field.take() {
        let (refs, first_kind, names) = fields_source(names, scope, name, key)?;
        kind = first_kind;
        label = names;
        Source::Fields(refs)
    } else if let Some(v) = raw.value.take() {
        Source::Literal(v)
    } else if let Some(c) = raw.count.take() {
        kind = Kind::Integer;
        Source::Count(match c.as_str() {
            "lines" if scope.set_records || !fields::has_lines(scope.stream) => {
                return Err(invalid(
                    name,
                    sub("count"),
                    "no record with lines is current here",
                ))
            }
            "lines" => Counted::Lines,
            "records" if !scope.csv => Counted::Records,
            "hl" if !scope.csv => Counted::Hl,
            other => {
                return Err(invalid(
                    name,
                    sub("count"),
                    format!("{other:?} is not \"lines\", \"records\" or \"hl\" (X12)"),
                ))
            }
        })
    } else if let Some(i) = raw.index.take() {
        kind = Kind::Integer;
        Source::Index(match i.as_str() {
            "line" if scope.line => Over::Lines,
            "record" if !scope.set_records => Over::Records,
            other => {
                return Err(invalid(
                    name,
                    sub("index"),
                    format!("{other:?}: \"line\" inside the lines, or \"record\""),
                ))
            }
        })
    } else if let Some(s) = raw.sum.take() {
        let f = fields::resolve(scope.stream, &s)
            .map_err(|m| invalid(name, sub("sum"), m.to_string()))?;
        if !matches!(f.kind, Kind::Integer | Kind::Money) {
            return Err(invalid(name, sub("sum"), format!("{s} is not a number")));
        }
        let ok = match f.level {
            // A line field summed over the record's lines, from the record.
            Level::Line => !scope.line && !scope.set_records,
            // A record field summed over the set's records, from outside the records loop.
            Level::Record => scope.set_records,
        };
        if !ok {
            return Err(invalid(name, sub("sum"), format!("{s}: sums a line field over the record's lines (outside the lines loop), or a record field over a file's set (outside the records loop)")));
        }
        kind = f.kind;
        label = s.clone();
        Source::Sum(f)
    } else if let Some(b) = raw.batch.take() {
        let (of, k) = match b.as_str() {
            "at" => (BatchOf::At, Kind::Timestamp),
            "first" => (BatchOf::First, Kind::Integer),
            "last" => (BatchOf::Last, Kind::Integer),
            other => {
                return Err(invalid(
                    name,
                    sub("batch"),
                    format!("{other:?} is not \"at\", \"first\" or \"last\""),
                ))
            }
        };
        kind = k;
        Source::Batch(of)
    } else if raw.default.is_some() {
        Source::Literal(String::new())
    } else {
        return Err(invalid(name, key, "no source: give a `field` (or `value`, `count`, `index`, `sum`, `batch`, or a `default` for a constant)"));
    };
    Ok((source, kind, label))
}

/// A `field` source (one name, or a list read first to last): the fields, their kind and the
/// label problems name.
fn fields_source(
    names: FieldNames,
    scope: &Scope,
    name: &str,
    key: &str,
) -> Result<(Vec<FieldRef>, Kind, String), SpecError> {
    let sub = |k: &str| format!("{key}.{k}");
    let names = match names {
        FieldNames::One(n) => vec![n],
        FieldNames::FirstOf(list) if !list.is_empty() => list,
        FieldNames::FirstOf(_) => {
            return Err(invalid(name, sub("field"), "name at least one field"))
        }
    };
    let refs = names
        .iter()
        .map(|n| resolve_field(scope, name, key, n, "field"))
        .collect::<Result<Vec<_>, _>>()?;
    let kind = refs[0].kind;
    let dates = |k: Kind| matches!(k, Kind::Date | Kind::Timestamp);
    if refs
        .iter()
        .any(|r| r.kind != kind && !(dates(r.kind) && dates(kind)))
    {
        return Err(invalid(
            name,
            sub("field"),
            "fields read as one value must have the same type",
        ));
    }
    Ok((refs, kind, names.join("|")))
}

/// The type a value is written as: `type`, or what its source reads.
pub(super) fn out_type(
    ty: Option<&str>,
    kind: Kind,
    label: &str,
    name: &str,
    key: &str,
) -> Result<OutType, SpecError> {
    let sub = |k: &str| format!("{key}.{k}");
    let ty = match ty {
        None => match kind {
            Kind::Integer => OutType::Integer,
            Kind::Money => OutType::Decimal,
            Kind::Date => OutType::Date,
            Kind::Text | Kind::Timestamp | Kind::TextList => OutType::Text,
        },
        Some("string") => OutType::Text,
        Some("integer") if kind == Kind::Integer => OutType::Integer,
        Some("decimal") if matches!(kind, Kind::Integer | Kind::Money) => OutType::Decimal,
        Some("date") if matches!(kind, Kind::Date | Kind::Timestamp) => OutType::Date,
        Some(t @ ("integer" | "decimal" | "date")) => {
            return Err(invalid(
                name,
                sub("type"),
                format!("{label} cannot be written as {t}"),
            ))
        }
        Some(other) => {
            return Err(invalid(
                name,
                sub("type"),
                format!("{other:?} is not string, integer, decimal or date"),
            ))
        }
    };
    Ok(ty)
}

/// A date's format (`format`, for type = "date"; else the format's default) as chrono items.
pub(super) fn date_format(
    format: Option<&String>,
    ty: OutType,
    scope: &Scope,
    name: &str,
    key: &str,
) -> Result<Vec<Item<'static>>, SpecError> {
    let sub = |k: &str| format!("{key}.{k}");
    let format = match (format, ty) {
        (Some(f), OutType::Date) => f.clone(),
        (Some(_), _) => {
            return Err(invalid(
                name,
                sub("format"),
                "`format` is for type = \"date\"",
            ))
        }
        (None, _) if scope.csv => "%Y-%m-%d".to_string(),
        (None, _) => "%Y%m%d".to_string(),
    };
    if StrftimeItems::new(&format).any(|i| matches!(i, Item::Error)) {
        return Err(invalid(
            name,
            sub("format"),
            format!("{format:?} is not a chrono date format"),
        ));
    }
    let date_items = StrftimeItems::new(&format)
        .parse_to_owned()
        .map_err(|e| invalid(name, sub("format"), e.to_string()))?;
    Ok(date_items)
}
