//! One entry of `[fields]`: where its value comes from (a CSV column, an X12 reference or a
//! constant), the type it is read as, its date format, default, value map, trimming, letter
//! case and number separators, each checked against the API field it fills.
//!
//! The largest part of the compile step, and the only one that knows every key a field may
//! carry; `compile` calls it once per field, after the source format is known.

use chrono::NaiveDate;
use thiserror::Error;

use crate::mapping::convert::convert_default;

use super::fields::{ApiField, ApiType, Level};
use super::raw::RawField;
use super::source::{column, segment_id};
use super::x12_ref::{n1_loop_default, parse_ref, X12Ref};
use super::{invalid, Case, FieldSource, FieldSpec, FieldType, MappingError};

pub(super) fn compile_field(
    api: &'static ApiField,
    raw: RawField,
    is_csv: bool,
    mapping: &str,
    key: &str,
) -> Result<FieldSpec, MappingError> {
    let sub = |k: &str| format!("{key}.{k}");
    let x12_keys = raw.reference.is_some()
        || raw.segment.is_some()
        || raw.element.is_some()
        || raw.component.is_some()
        || raw.qualifier.is_some();
    let source = if is_csv {
        if x12_keys {
            return Err(invalid(
                mapping,
                key,
                "`ref`, `segment`, `element`, `component` and `qualifier` are for X12 sources; a CSV field names its `column`",
            ));
        }
        match &raw.column {
            Some(c) => {
                // Names or positions; with `header = false` a name is refused when the file
                // is read (the header decides what a name means).
                FieldSource::Column(column(c, true, mapping, &sub("column"))?)
            }
            None => FieldSource::Constant,
        }
    } else {
        if raw.column.is_some() {
            return Err(invalid(
                mapping,
                sub("column"),
                "`column` is for CSV sources; an X12 field names its `ref` (e.g. \"BEG03\")",
            ));
        }
        match (&raw.reference, &raw.segment) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    mapping,
                    key,
                    "give either `ref` or `segment` + `element`, not both",
                ))
            }
            (Some(r), None) => {
                if raw.element.is_some() || raw.component.is_some() || raw.qualifier.is_some() {
                    return Err(invalid(
                        mapping,
                        key,
                        "`element`, `component` and `qualifier` go with `segment`, not with `ref`",
                    ));
                }
                FieldSource::X12(
                    parse_ref(r).map_err(|e| invalid(mapping, sub("ref"), e.to_string()))?,
                )
            }
            (None, Some(seg)) => {
                segment_id(seg, mapping, &sub("segment"))?;
                let element = match raw.element {
                    Some(e) if e >= 1 => e as usize,
                    Some(_) => return Err(invalid(mapping, sub("element"), "must be 1 or more")),
                    None if raw.qualifier.is_some() => 2,
                    None => {
                        return Err(invalid(
                            mapping,
                            sub("element"),
                            "missing: which element of the segment (1-based)",
                        ))
                    }
                };
                let component = match raw.component {
                    Some(c) if c >= 1 => Some(c as usize),
                    Some(_) => return Err(invalid(mapping, sub("component"), "must be 1 or more")),
                    None => None,
                };
                FieldSource::X12(X12Ref {
                    anchor: raw.qualifier.clone().map(|q| (seg.clone(), q)),
                    segment: seg.clone(),
                    element,
                    component,
                })
            }
            (None, None) => {
                if raw.element.is_some() || raw.component.is_some() || raw.qualifier.is_some() {
                    return Err(invalid(mapping, key, "`element` needs a `segment`"));
                }
                FieldSource::Constant
            }
        }
    };
    // `N1*ST` on an address field: the address field's usual place in the N1 loop.
    let source = match source {
        FieldSource::X12(mut r) => {
            if api.level == Level::ShipTo {
                if let Some((anchor_seg, _)) = &r.anchor {
                    let bare = r.segment == *anchor_seg && r.element == 2 && r.component.is_none();
                    // Only when the mapping named the loop alone: `N1*ST`, or `segment = "N1",
                    // qualifier = "ST"` without an `element`.
                    let loop_only = match raw.reference.as_deref() {
                        Some(text) => !text.contains('/'),
                        None => raw.element.is_none(),
                    };
                    if anchor_seg == "N1" && bare && loop_only {
                        if let Some((seg, el)) = n1_loop_default(api.key) {
                            r.segment = seg.to_string();
                            r.element = el;
                        }
                    }
                }
            }
            FieldSource::X12(r)
        }
        other => other,
    };

    let ty = match raw.ty.as_deref() {
        None => match api.ty {
            ApiType::Text => FieldType::String,
            ApiType::Integer => FieldType::Integer,
            ApiType::Money => FieldType::Decimal,
            ApiType::Date => FieldType::Date,
        },
        Some(t) => FieldType::parse(t).ok_or_else(|| {
            invalid(
                mapping,
                sub("type"),
                format!("unknown type \"{t}\": use string, integer, decimal, date or bool"),
            )
        })?,
    };
    let compatible = match api.ty {
        ApiType::Text => true,
        ApiType::Integer => ty == FieldType::Integer,
        ApiType::Money => matches!(ty, FieldType::Decimal | FieldType::Integer),
        ApiType::Date => ty == FieldType::Date,
    };
    if !compatible {
        let want = match api.ty {
            ApiType::Text => "string",
            ApiType::Integer => "integer",
            ApiType::Money => "decimal",
            ApiType::Date => "date",
        };
        return Err(invalid(
            mapping,
            sub("type"),
            format!(
                "{} is {want} in the AHEAD API; type = \"{}\" cannot produce it",
                api.name,
                ty.as_str()
            ),
        ));
    }

    let date_format = match (&raw.format, ty) {
        (Some(fmt), FieldType::Date) => {
            check_date_format(fmt).map_err(|e| invalid(mapping, sub("format"), e.to_string()))?;
            fmt.clone()
        }
        (Some(_), _) => {
            return Err(invalid(
                mapping,
                sub("format"),
                "only applies to type = \"date\"",
            ))
        }
        (None, _) if is_csv => "%Y-%m-%d".to_string(),
        (None, _) => "%Y%m%d".to_string(),
    };

    let case = match raw.case.as_deref() {
        None => None,
        Some("upper") => Some(Case::Upper),
        Some("lower") => Some(Case::Lower),
        Some(other) => {
            return Err(invalid(
                mapping,
                sub("case"),
                format!("unknown case \"{other}\": use \"upper\" or \"lower\""),
            ))
        }
    };
    let reject_unmapped = match raw.unmapped.as_deref() {
        None | Some("keep") => false,
        Some("reject") => true,
        Some(other) => {
            return Err(invalid(
                mapping,
                sub("unmapped"),
                format!("unknown value \"{other}\": use \"keep\" or \"reject\""),
            ))
        }
    };
    if reject_unmapped && raw.map.as_ref().is_none_or(|m| m.is_empty()) {
        return Err(invalid(mapping, sub("unmapped"), "needs a `map`"));
    }
    let separator = |v: &Option<String>,
                     k: &str,
                     default: Option<char>|
     -> Result<Option<char>, MappingError> {
        match v.as_deref() {
            None => Ok(default),
            Some("") => Ok(None),
            Some(s) => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if !c.is_ascii_digit() && c != '-' && c != '+' => Ok(Some(c)),
                    _ => Err(invalid(
                        mapping,
                        sub(k),
                        format!("must be one character that is not a digit or sign (got \"{s}\")"),
                    )),
                }
            }
        }
    };
    let numeric = matches!(ty, FieldType::Integer | FieldType::Decimal);
    if !numeric && (raw.thousands_separator.is_some() || raw.decimal_separator.is_some()) {
        return Err(invalid(
            mapping,
            key,
            "`thousands_separator` and `decimal_separator` apply to integer and decimal types",
        ));
    }
    let thousands_separator =
        separator(&raw.thousands_separator, "thousands_separator", Some(','))?;
    let decimal_separator = separator(&raw.decimal_separator, "decimal_separator", Some('.'))?
        .ok_or_else(|| invalid(mapping, sub("decimal_separator"), "cannot be empty"))?;
    // `thousands_separator = "."` implies a decimal comma unless told otherwise.
    let decimal_separator = if thousands_separator == Some('.') && raw.decimal_separator.is_none() {
        ','
    } else {
        decimal_separator
    };
    if thousands_separator == Some(decimal_separator) {
        return Err(invalid(
            mapping,
            sub("thousands_separator"),
            "must differ from the decimal separator",
        ));
    }

    let default = match &raw.default {
        None => None,
        Some(toml::Value::String(s)) => Some(s.clone()),
        Some(toml::Value::Integer(n)) => Some(n.to_string()),
        Some(toml::Value::Boolean(b)) => Some(b.to_string()),
        Some(toml::Value::Float(_)) => {
            return Err(invalid(
                mapping,
                sub("default"),
                "write decimal defaults as strings (\"0.00\") so no precision is lost",
            ))
        }
        Some(_) => {
            return Err(invalid(
                mapping,
                sub("default"),
                "must be a string, integer or bool",
            ))
        }
    };
    if matches!(source, FieldSource::Constant) && default.is_none() {
        return Err(invalid(
            mapping,
            key,
            if is_csv {
                "no source: give a `column` (or a `default` for a constant)"
            } else {
                "no source: give a `ref` such as \"BEG03\" (or a `default` for a constant)"
            },
        ));
    }

    let date_items = chrono::format::StrftimeItems::new(&date_format)
        .parse_to_owned()
        .map_err(|_| invalid(mapping, sub("format"), "not a valid date format"))?;
    let spec = FieldSpec {
        api,
        source,
        ty,
        date_format,
        date_items,
        required: raw.required.unwrap_or(false),
        default,
        map: raw.map.unwrap_or_default().into_iter().collect(),
        reject_unmapped,
        trim: raw.trim.unwrap_or(true),
        case,
        thousands_separator,
        decimal_separator,
    };
    if let Some(d) = &spec.default {
        convert_default(&spec, d)
            .map_err(|m| invalid(mapping, sub("default"), format!("\"{d}\" {m}")))?;
    }
    Ok(spec)
}

/// Why a `format` cannot be used for dates.
#[derive(Debug, Error)]
enum DateFormatError {
    #[error("\"{0}\" is not a valid date format (chrono strftime syntax, e.g. \"%m/%d/%Y\")")]
    Syntax(String),
    #[error("\"{0}\" does not name a whole date (it needs a year, a month and a day, e.g. \"%m/%d/%Y\")")]
    NotWholeDate(String),
}

/// A date format must be valid chrono syntax and name a whole date: formatting a known date and
/// reading it back must give the same date (this refuses "%m/%d", "%Q" and friends).
fn check_date_format(fmt: &str) -> Result<(), DateFormatError> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(fmt).any(|item| matches!(item, Item::Error)) {
        return Err(DateFormatError::Syntax(fmt.to_string()));
    }
    let probe = NaiveDate::from_ymd_opt(2026, 11, 27).expect("valid date");
    let text = probe.format(fmt).to_string();
    match NaiveDate::parse_from_str(&text, fmt) {
        Ok(back) if back == probe => Ok(()),
        _ => Err(DateFormatError::NotWholeDate(fmt.to_string())),
    }
}
