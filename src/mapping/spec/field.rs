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

/// Where a field sits in its mapping, for errors: `fields.ship_to.city` in `orders.toml`.
#[derive(Clone, Copy)]
struct FieldKey<'a> {
    mapping: &'a str,
    key: &'a str,
}

impl FieldKey<'_> {
    /// The key of one of the field's own keys: `fields.ship_to.city.format`.
    fn sub(self, name: &str) -> String {
        format!("{}.{name}", self.key)
    }

    /// A problem with the field as a whole.
    fn invalid(self, message: impl Into<String>) -> MappingError {
        invalid(self.mapping, self.key, message)
    }

    /// A problem with one of the field's keys (`name`: `format`, `default`, ...).
    fn invalid_at(self, name: &str, message: impl Into<String>) -> MappingError {
        invalid(self.mapping, self.sub(name), message)
    }
}

/// The number separators of an integer or decimal field.
struct Separators {
    thousands: Option<char>,
    decimal: char,
}

/// Compile the entry `key` of mapping `mapping` for the API field `api`. The checks run in a
/// fixed order (source, type, format, case, map, separators, default), so a field with several
/// problems always reports the same one first.
pub(super) fn compile_field(
    api: &'static ApiField,
    raw: RawField,
    is_csv: bool,
    mapping: &str,
    key: &str,
) -> Result<FieldSpec, MappingError> {
    let at = FieldKey { mapping, key };
    let source = if is_csv {
        csv_source(&raw, at)?
    } else {
        x12_source(&raw, at)?
    };
    let source = in_n1_loop(api, &raw, source);
    let ty = field_type(api, &raw, at)?;
    let date_format = date_format(&raw, ty, is_csv, at)?;
    let case = letter_case(&raw, at)?;
    let reject_unmapped = reject_unmapped(&raw, at)?;
    let separators = separators(&raw, ty, at)?;
    let default = default(&raw, at)?;
    if matches!(source, FieldSource::Constant) && default.is_none() {
        return Err(at.invalid(if is_csv {
            "no source: give a `column` (or a `default` for a constant)"
        } else {
            "no source: give a `ref` such as \"BEG03\" (or a `default` for a constant)"
        }));
    }
    let date_items = chrono::format::StrftimeItems::new(&date_format)
        .parse_to_owned()
        .map_err(|_| at.invalid_at("format", "not a valid date format"))?;
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
        thousands_separator: separators.thousands,
        decimal_separator: separators.decimal,
    };
    check_default(&spec, at)?;
    Ok(spec)
}

/// A CSV field reads a `column`, or is a constant.
fn csv_source(raw: &RawField, at: FieldKey) -> Result<FieldSource, MappingError> {
    let x12_keys = raw.reference.is_some()
        || raw.segment.is_some()
        || raw.element.is_some()
        || raw.component.is_some()
        || raw.qualifier.is_some();
    if x12_keys {
        return Err(at.invalid(
            "`ref`, `segment`, `element`, `component` and `qualifier` are for X12 sources; a CSV field names its `column`",
        ));
    }
    Ok(match &raw.column {
        // Names or positions; with `header = false` a name is refused when the file is read
        // (the header decides what a name means).
        Some(c) => FieldSource::Column(column(c, true, at.mapping, &at.sub("column"))?),
        None => FieldSource::Constant,
    })
}

/// An X12 field reads a `ref`, or a `segment` with its `element`, or is a constant.
fn x12_source(raw: &RawField, at: FieldKey) -> Result<FieldSource, MappingError> {
    if raw.column.is_some() {
        return Err(at.invalid_at(
            "column",
            "`column` is for CSV sources; an X12 field names its `ref` (e.g. \"BEG03\")",
        ));
    }
    let position_keys = raw.element.is_some() || raw.component.is_some() || raw.qualifier.is_some();
    match (&raw.reference, &raw.segment) {
        (Some(_), Some(_)) => {
            Err(at.invalid("give either `ref` or `segment` + `element`, not both"))
        }
        (Some(_), None) if position_keys => Err(
            at.invalid("`element`, `component` and `qualifier` go with `segment`, not with `ref`")
        ),
        (Some(r), None) => parse_ref(r)
            .map(FieldSource::X12)
            .map_err(|e| at.invalid_at("ref", e.to_string())),
        (None, Some(segment)) => segment_ref(raw, segment, at).map(FieldSource::X12),
        (None, None) if position_keys => Err(at.invalid("`element` needs a `segment`")),
        (None, None) => Ok(FieldSource::Constant),
    }
}

/// The long form: `segment`, `element` (default 2 after a `qualifier`), `component`.
fn segment_ref(raw: &RawField, segment: &str, at: FieldKey) -> Result<X12Ref, MappingError> {
    segment_id(segment, at.mapping, &at.sub("segment"))?;
    let element = match raw.element {
        Some(e) if e >= 1 => e as usize,
        Some(_) => return Err(at.invalid_at("element", "must be 1 or more")),
        None if raw.qualifier.is_some() => 2,
        None => {
            return Err(at.invalid_at("element", "missing: which element of the segment (1-based)"))
        }
    };
    let component = match raw.component {
        Some(c) if c >= 1 => Some(c as usize),
        Some(_) => return Err(at.invalid_at("component", "must be 1 or more")),
        None => None,
    };
    Ok(X12Ref {
        anchor: raw.qualifier.clone().map(|q| (segment.to_string(), q)),
        segment: segment.to_string(),
        element,
        component,
    })
}

/// `N1*ST` on an address field: the address field's usual place in the N1 loop.
fn in_n1_loop(api: &ApiField, raw: &RawField, source: FieldSource) -> FieldSource {
    let FieldSource::X12(mut r) = source else {
        return source;
    };
    let names_n1 = matches!(&r.anchor, Some((anchor, _)) if anchor == "N1");
    let bare = r.segment == "N1" && r.element == 2 && r.component.is_none();
    // Only when the mapping named the loop alone: `N1*ST`, or `segment = "N1", qualifier =
    // "ST"` without an `element`.
    let loop_only = match raw.reference.as_deref() {
        Some(text) => !text.contains('/'),
        None => raw.element.is_none(),
    };
    if api.level == Level::ShipTo && names_n1 && bare && loop_only {
        if let Some((segment, element)) = n1_loop_default(api.key) {
            r.segment = segment.to_string();
            r.element = element;
        }
    }
    FieldSource::X12(r)
}

/// `type`, by default the one that gives the API field's JSON shape, and it must be able to.
fn field_type(api: &ApiField, raw: &RawField, at: FieldKey) -> Result<FieldType, MappingError> {
    let ty = match raw.ty.as_deref() {
        None => natural_type(api.ty),
        Some(t) => FieldType::parse(t).ok_or_else(|| {
            at.invalid_at(
                "type",
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
        return Err(at.invalid_at(
            "type",
            format!(
                "{} is {} in the AHEAD API; type = \"{}\" cannot produce it",
                api.name,
                natural_type(api.ty).as_str(),
                ty.as_str()
            ),
        ));
    }
    Ok(ty)
}

/// The source type an API type is read as when the mapping does not say.
fn natural_type(api: ApiType) -> FieldType {
    match api {
        ApiType::Text => FieldType::String,
        ApiType::Integer => FieldType::Integer,
        ApiType::Money => FieldType::Decimal,
        ApiType::Date => FieldType::Date,
    }
}

/// `format`, for dates only; by default ISO dates in CSV and X12's `CCYYMMDD`.
fn date_format(
    raw: &RawField,
    ty: FieldType,
    is_csv: bool,
    at: FieldKey,
) -> Result<String, MappingError> {
    match (&raw.format, ty) {
        (Some(fmt), FieldType::Date) => {
            check_date_format(fmt).map_err(|e| at.invalid_at("format", e.to_string()))?;
            Ok(fmt.clone())
        }
        (Some(_), _) => Err(at.invalid_at("format", "only applies to type = \"date\"")),
        (None, _) if is_csv => Ok("%Y-%m-%d".to_string()),
        (None, _) => Ok("%Y%m%d".to_string()),
    }
}

/// `case = "upper" | "lower"`.
fn letter_case(raw: &RawField, at: FieldKey) -> Result<Option<Case>, MappingError> {
    match raw.case.as_deref() {
        None => Ok(None),
        Some("upper") => Ok(Some(Case::Upper)),
        Some("lower") => Ok(Some(Case::Lower)),
        Some(other) => Err(at.invalid_at(
            "case",
            format!("unknown case \"{other}\": use \"upper\" or \"lower\""),
        )),
    }
}

/// `unmapped = "keep" | "reject"`: what a value missing from the `map` does; `reject` needs a
/// `map`.
fn reject_unmapped(raw: &RawField, at: FieldKey) -> Result<bool, MappingError> {
    let reject = match raw.unmapped.as_deref() {
        None | Some("keep") => false,
        Some("reject") => true,
        Some(other) => {
            return Err(at.invalid_at(
                "unmapped",
                format!("unknown value \"{other}\": use \"keep\" or \"reject\""),
            ))
        }
    };
    if reject && raw.map.as_ref().is_none_or(|m| m.is_empty()) {
        return Err(at.invalid_at("unmapped", "needs a `map`"));
    }
    Ok(reject)
}

/// `thousands_separator` (default `,`) and `decimal_separator` (default `.`), for numbers only.
fn separators(raw: &RawField, ty: FieldType, at: FieldKey) -> Result<Separators, MappingError> {
    let numeric = matches!(ty, FieldType::Integer | FieldType::Decimal);
    if !numeric && (raw.thousands_separator.is_some() || raw.decimal_separator.is_some()) {
        return Err(at.invalid(
            "`thousands_separator` and `decimal_separator` apply to integer and decimal types",
        ));
    }
    let thousands = separator(
        &raw.thousands_separator,
        "thousands_separator",
        Some(','),
        at,
    )?;
    let decimal = separator(&raw.decimal_separator, "decimal_separator", Some('.'), at)?
        .ok_or_else(|| at.invalid_at("decimal_separator", "cannot be empty"))?;
    // `thousands_separator = "."` implies a decimal comma unless told otherwise.
    let decimal = if thousands == Some('.') && raw.decimal_separator.is_none() {
        ','
    } else {
        decimal
    };
    if thousands == Some(decimal) {
        return Err(at.invalid_at(
            "thousands_separator",
            "must differ from the decimal separator",
        ));
    }
    Ok(Separators { thousands, decimal })
}

/// One separator: a character that is not a digit or sign; `""` is none.
fn separator(
    value: &Option<String>,
    name: &str,
    default: Option<char>,
    at: FieldKey,
) -> Result<Option<char>, MappingError> {
    match value.as_deref() {
        None => Ok(default),
        Some("") => Ok(None),
        Some(s) => {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if !c.is_ascii_digit() && c != '-' && c != '+' => Ok(Some(c)),
                _ => Err(at.invalid_at(
                    name,
                    format!("must be one character that is not a digit or sign (got \"{s}\")"),
                )),
            }
        }
    }
}

/// `default`, as text; it is checked against the field's type once the field is compiled.
fn default(raw: &RawField, at: FieldKey) -> Result<Option<String>, MappingError> {
    match &raw.default {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(toml::Value::Integer(n)) => Ok(Some(n.to_string())),
        Some(toml::Value::Boolean(b)) => Ok(Some(b.to_string())),
        Some(toml::Value::Float(_)) => Err(at.invalid_at(
            "default",
            "write decimal defaults as strings (\"0.00\") so no precision is lost",
        )),
        Some(_) => Err(at.invalid_at("default", "must be a string, integer or bool")),
    }
}

/// The default must convert as a source value would, so a bad one fails the mapping rather
/// than every row that leaves the field empty.
fn check_default(spec: &FieldSpec, at: FieldKey) -> Result<(), MappingError> {
    match &spec.default {
        Some(d) => convert_default(spec, d)
            .map(drop)
            .map_err(|m| at.invalid_at("default", format!("\"{d}\" {m}"))),
        None => Ok(()),
    }
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
