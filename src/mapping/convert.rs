//! From source text to the JSON the AHEAD API wants, and from fields to order bodies.
//!
//! Each value goes: raw bytes -> UTF-8 -> trim -> (empty? default or missing) -> `map` -> case
//! -> parsed by its `type` -> shaped for its API field (money as a string with 2 to 4 places,
//! quantities as integers, dates as `YYYY-MM-DD`) -> field rules (quantities above zero, no
//! negative prices, ISO country and currency codes).

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::spec::{ApiType, Case, FieldSpec, FieldType, Level, Mapping, Rule};
use super::Rejection;

/// One order read from a source file, ready to be POSTed (or compared with what was POSTed).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceOrder {
    /// The customer's order number (`po_number` / `order_number`).
    pub number: String,
    /// The source file's name, as given to `read_orders`.
    pub file: String,
    /// The first line of the order in the file (CSV: its first row; X12: its ST segment).
    pub line: usize,
    /// The source line of each order line, in body order.
    pub lines: Vec<usize>,
    /// Exactly the JSON object to POST: header fields, `ship_to`, `lines`.
    pub body: Map<String, Value>,
}

impl SourceOrder {
    /// SHA-256 (hex) of a canonical serialisation of the body: keys sorted at every level, no
    /// whitespace. Equal bodies give equal hashes whatever the key order or the source format,
    /// so the push ledger can tell "same order again" from "changed order".
    pub fn content_hash(&self) -> String {
        hash_json(&self.canonical_json())
    }

    /// The body in its canonical serialisation (valid JSON of the same object, so it can be sent
    /// as it is).
    pub(crate) fn canonical_json(&self) -> String {
        let mut text = String::with_capacity(512);
        canonical_map(&self.body, &mut text);
        text
    }

    /// The item numbers on the order's lines, in line order (for the push job's catalog check).
    pub fn item_numbers(&self) -> Vec<&str> {
        self.body
            .get("lines")
            .and_then(Value::as_array)
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| l.get("item_number").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The content hash of a body's [`SourceOrder::canonical_json`].
pub(crate) fn hash_json(canonical: &str) -> String {
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn canonical_map(map: &Map<String, Value>, out: &mut String) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    out.push('{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).unwrap_or_default());
        out.push(':');
        canonical(&map[key], out);
    }
    out.push('}');
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => canonical_map(map, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// Why one source value cannot be used; its text is the reason a rejection gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ValueError {
    #[error("is not valid UTF-8 (export the file as UTF-8)")]
    NotUtf8,
    #[error("is required but empty or missing")]
    Missing,
    #[error("\"{text}\" is not in the field's map (known: {known})")]
    NotMapped { text: String, known: String },
    #[error("\"{text}\" is not a date in the format \"{format}\"")]
    NotADate { text: String, format: String },
    #[error("\"{0}\" is not a number")]
    NotANumber(String),
    #[error("\"{text}\" has a misplaced thousands separator \"{separator}\"")]
    MisplacedSeparator { text: String, separator: char },
    #[error("\"{0}\" is not a whole number")]
    NotWhole(String),
    #[error("\"{0}\" is too large")]
    TooLarge(String),
    #[error("\"{0}\" is not a yes/no value (true/false, yes/no, y/n, 1/0)")]
    NotYesNo(String),
    #[error("\"{0}\" has more than 4 decimal places (AHEAD keeps 4; nothing is rounded)")]
    TooManyPlaces(Decimal),
    #[error("\"{0}\" is too large for a money amount")]
    TooLargeForMoney(Decimal),
    #[error("{value} is not a {noun} above zero")]
    NotAboveZero { value: Value, noun: &'static str },
    #[error("{0} is negative")]
    Negative(Value),
    #[error("{0} is not an ISO 3166 alpha-2 country code such as \"US\" (use `map` or `case = \"upper\"`)")]
    NotACountry(Value),
    #[error("{0} is not an ISO 4217 currency code such as \"USD\"")]
    NotACurrency(Value),
}

/// Convert one source value. `Ok(None)`: no value and none required (the field is left out).
pub(crate) fn convert(spec: &FieldSpec, raw: Option<&[u8]>) -> Result<Option<Value>, ValueError> {
    let text = match raw {
        Some(bytes) => std::str::from_utf8(bytes).map_err(|_| ValueError::NotUtf8)?,
        None => "",
    };
    let text = if spec.trim { text.trim() } else { text };
    if text.is_empty() {
        return match &spec.default {
            Some(default) => convert_default(spec, default).map(Some),
            None if spec.required => Err(ValueError::Missing),
            None => Ok(None),
        };
    }
    let mapped = match spec.map.get(text) {
        Some(to) => to.as_str(),
        None if spec.reject_unmapped => {
            let mut known: Vec<&str> = spec.map.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(ValueError::NotMapped {
                text: text.to_string(),
                known: known.join(", "),
            });
        }
        None => text,
    };
    finish(spec, mapped).map(Some)
}

/// Convert a `default` (not passed through `map`).
pub(crate) fn convert_default(spec: &FieldSpec, default: &str) -> Result<Value, ValueError> {
    finish(spec, default)
}

fn finish(spec: &FieldSpec, text: &str) -> Result<Value, ValueError> {
    let cased;
    let text = match spec.case {
        None => text,
        Some(Case::Upper) => {
            cased = text.to_uppercase();
            &cased
        }
        Some(Case::Lower) => {
            cased = text.to_lowercase();
            &cased
        }
    };
    let value = match spec.ty {
        FieldType::String => Typed::Text(text),
        FieldType::Integer => Typed::Integer(parse_integer(spec, text)?),
        FieldType::Decimal => Typed::Decimal(parse_decimal(spec, text)?),
        FieldType::Date => {
            Typed::Date(parse_date(spec, text).ok_or_else(|| ValueError::NotADate {
                text: text.to_string(),
                format: spec.date_format.clone(),
            })?)
        }
        FieldType::Bool => Typed::Bool(parse_bool(text)?),
    };
    let json = match (spec.api.ty, value) {
        (ApiType::Integer, Typed::Integer(n)) => Value::from(n),
        (ApiType::Money, Typed::Integer(n)) => Value::String(money(Decimal::from(n))?),
        (ApiType::Money, Typed::Decimal(d)) => Value::String(money(d)?),
        (ApiType::Date | ApiType::Text, Typed::Date(d)) => {
            Value::String(d.format("%Y-%m-%d").to_string())
        }
        (ApiType::Text, Typed::Text(s)) => Value::String(s.to_string()),
        (ApiType::Text, Typed::Integer(n)) => Value::String(n.to_string()),
        (ApiType::Text, Typed::Decimal(d)) => Value::String(money(d)?),
        (ApiType::Text, Typed::Bool(b)) => Value::String(b.to_string()),
        // The compile step refuses every other pairing.
        (api, _) => unreachable!("type {:?} cannot feed {:?}", spec.ty, api),
    };
    check_rules(spec, &json)?;
    Ok(json)
}

enum Typed<'a> {
    Text(&'a str),
    Integer(i64),
    Decimal(Decimal),
    Date(NaiveDate),
    Bool(bool),
}

fn parse_date(spec: &FieldSpec, text: &str) -> Option<NaiveDate> {
    let mut parsed = chrono::format::Parsed::new();
    chrono::format::parse(&mut parsed, text, spec.date_items.iter()).ok()?;
    parsed.to_naive_date().ok()
}

/// The decimal text with thousands separators removed and a `.` decimal point, or an error.
fn plain_number(spec: &FieldSpec, text: &str) -> Result<String, ValueError> {
    let bad = || ValueError::NotANumber(text.to_string());
    let mut out = String::with_capacity(text.len());
    let (int_part, frac_part) = match text.split_once(spec.decimal_separator) {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    match spec.thousands_separator {
        Some(sep) if int_part.contains(sep) => {
            // Grouped digits: every group after the first has exactly three digits.
            let digits = int_part.trim_start_matches(['-', '+']);
            let sign = &int_part[..int_part.len() - digits.len()];
            let mut groups = digits.split(sep);
            let first = groups.next().unwrap_or("");
            if first.is_empty() || first.len() > 3 {
                return Err(bad());
            }
            out.push_str(sign);
            out.push_str(first);
            for group in groups {
                if group.len() != 3 {
                    return Err(ValueError::MisplacedSeparator {
                        text: text.to_string(),
                        separator: sep,
                    });
                }
                out.push_str(group);
            }
        }
        _ => out.push_str(int_part),
    }
    if let Some(frac) = frac_part {
        out.push('.');
        out.push_str(frac);
    }
    let body = out.trim_start_matches(['-', '+']);
    let ok = !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && body.bytes().any(|b| b.is_ascii_digit());
    if ok {
        Ok(out)
    } else {
        Err(bad())
    }
}

fn parse_decimal(spec: &FieldSpec, text: &str) -> Result<Decimal, ValueError> {
    // The common case, plain digits with a `.` point, needs no copy.
    let plain_digits = text
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_digit() || b == b'.' || (i == 0 && (b == b'-' || b == b'+')));
    if spec.decimal_separator == '.' && plain_digits && text.bytes().any(|b| b.is_ascii_digit()) {
        return Decimal::from_str(text).map_err(|_| ValueError::NotANumber(text.to_string()));
    }
    let plain = plain_number(spec, text)?;
    Decimal::from_str(&plain).map_err(|_| ValueError::NotANumber(text.to_string()))
}

fn parse_integer(spec: &FieldSpec, text: &str) -> Result<i64, ValueError> {
    let d = parse_decimal(spec, text)?;
    if !d.fract().is_zero() {
        return Err(ValueError::NotWhole(text.to_string()));
    }
    i64::try_from(d.trunc()).map_err(|_| ValueError::TooLarge(text.to_string()))
}

fn parse_bool(text: &str) -> Result<bool, ValueError> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Ok(true),
        "false" | "f" | "no" | "n" | "0" => Ok(false),
        _ => Err(ValueError::NotYesNo(text.to_string())),
    }
}

/// Money as the API wants it: trailing zeros dropped, then at least 2 and at most 4 places
/// (`2150` -> `"2150.00"`, `389.990` -> `"389.99"`, `1.23456` is refused, never rounded).
fn money(d: Decimal) -> Result<String, ValueError> {
    let mut n = d.normalize();
    if n.scale() > 4 {
        return Err(ValueError::TooManyPlaces(d));
    }
    if n.scale() < 2 {
        n.rescale(2);
        if n.scale() < 2 {
            return Err(ValueError::TooLargeForMoney(d));
        }
    }
    if n.is_zero() {
        n.set_sign_positive(true);
    }
    Ok(n.to_string())
}

fn check_rules(spec: &FieldSpec, value: &Value) -> Result<(), ValueError> {
    let not_above_zero = || ValueError::NotAboveZero {
        value: value.clone(),
        noun: if spec.api.key == "line_number" {
            "line number"
        } else {
            "quantity"
        },
    };
    match spec.api.rule {
        Rule::None => Ok(()),
        Rule::Positive => match value.as_i64() {
            Some(n) if n > 0 => Ok(()),
            _ => Err(not_above_zero()),
        },
        Rule::NotNegative => match value.as_str().map(Decimal::from_str) {
            Some(Ok(d)) if d.is_sign_negative() && !d.is_zero() => {
                Err(ValueError::Negative(value.clone()))
            }
            _ => Ok(()),
        },
        Rule::Country => match value.as_str() {
            Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) => Ok(()),
            _ => Err(ValueError::NotACountry(value.clone())),
        },
        Rule::Currency => match value.as_str() {
            Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => Ok(()),
            _ => Err(ValueError::NotACurrency(value.clone())),
        },
    }
}

/// Where a value came from, for rejections.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Place {
    pub line: usize,
    pub segment: Option<usize>,
}

/// One order line being assembled.
#[derive(Debug)]
pub(crate) struct DraftLine {
    pub place: Place,
    pub values: Map<String, Value>,
}

/// An order being assembled from its rows or segments.
#[derive(Debug)]
pub(crate) struct Draft {
    pub place: Place,
    pub number: Option<String>,
    pub header: Map<String, Value>,
    pub ship_to: Map<String, Value>,
    pub lines: Vec<DraftLine>,
    /// Problems found so far (skip-row mode); any problem keeps the whole order back.
    pub problems: Vec<Rejection>,
}

impl Draft {
    pub(crate) fn new(place: Place) -> Self {
        Draft {
            place,
            number: None,
            header: Map::new(),
            ship_to: Map::new(),
            lines: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// A new, empty order line. When the mapping does not map `lines[].line_number`, the line
    /// is numbered by its position in the order.
    pub(crate) fn new_line(&self, mapping: &Mapping, place: Place) -> DraftLine {
        let mut values = Map::new();
        if !mapping.maps_line_numbers {
            values.insert(
                "line_number".to_string(),
                Value::from(self.lines.len() as i64 + 1),
            );
        }
        DraftLine { place, values }
    }

    /// Store a converted header or ship_to value.
    pub(crate) fn set_header(&mut self, spec: &FieldSpec, value: Value, number_field: &str) {
        if spec.api.name == number_field {
            self.number = value.as_str().map(str::to_string);
        }
        match spec.api.level {
            Level::ShipTo => self.ship_to.insert(spec.api.key.to_string(), value),
            _ => self.header.insert(spec.api.key.to_string(), value),
        };
    }

    /// Finish the order: every problem found so far, plus "no lines" and duplicate line
    /// numbers, keeps it back.
    pub(crate) fn finish(
        self,
        mapping: &Mapping,
        file: &str,
    ) -> Result<SourceOrder, Vec<Rejection>> {
        let Draft {
            place,
            number,
            mut header,
            ship_to,
            lines,
            mut problems,
        } = self;
        let reject = |place: Place, field: Option<&str>, reason: String| Rejection {
            file: file.to_string(),
            line: place.line,
            segment: place.segment,
            order: number.clone(),
            field: field.map(str::to_string),
            reason,
        };
        if lines.is_empty() && problems.is_empty() {
            problems.push(reject(
                place,
                Some("lines"),
                "the order has no lines".to_string(),
            ));
        }
        for (at, reason) in repeated_line_numbers(&lines) {
            problems.push(reject(at, Some("lines[].line_number"), reason));
        }
        if !problems.is_empty() {
            for p in &mut problems {
                if p.order.is_none() {
                    p.order = number.clone();
                }
            }
            return Err(problems);
        }
        let Some(number) = number else {
            // The order number is required, so a missing one was already a problem.
            return Err(vec![reject(
                place,
                Some(mapping.number_field()),
                "is required but empty or missing".to_string(),
            )]);
        };
        let source_lines: Vec<usize> = lines.iter().map(|l| l.place.line).collect();
        let out_lines: Vec<Value> = lines.into_iter().map(|l| Value::Object(l.values)).collect();
        if !ship_to.is_empty() {
            header.insert("ship_to".to_string(), Value::Object(ship_to));
        }
        header.insert("lines".to_string(), Value::Array(out_lines));
        Ok(SourceOrder {
            number,
            file: file.to_string(),
            line: place.line,
            lines: source_lines,
            body: header,
        })
    }
}

/// Line numbers must be unique within the order (unmapped ones were numbered 1, 2, 3 ... as
/// the lines were read): each repeat, where it is and why.
fn repeated_line_numbers(lines: &[DraftLine]) -> Vec<(Place, String)> {
    if lines.len() < 2 {
        return Vec::new();
    }
    let mut numbers: Vec<(i64, Place)> = lines
        .iter()
        .filter_map(|l| Some((l.values.get("line_number")?.as_i64()?, l.place)))
        .collect();
    numbers.sort_by_key(|(n, place)| (*n, place.line, place.segment));
    numbers
        .windows(2)
        .filter(|pair| pair[0].0 == pair[1].0)
        .map(|pair| {
            let reason = format!(
                "line number {} appears twice in the order (also on line {})",
                pair[1].0, pair[0].1.line
            );
            (pair[1].1, reason)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::Mapping;

    fn mapping(extra: &str) -> Mapping {
        Mapping::parse(
            &format!(
                "kind = \"purchase_order\"\n[source]\nformat = \"csv\"\ngroup_by = \"PO\"\n[fields]\npo_number = {{ column = \"PO\" }}\n\"lines[].item_number\" = {{ column = \"Item\" }}\n\"lines[].quantity\" = {{ column = \"Qty\" }}\n{extra}"
            ),
            "t.toml",
        )
        .unwrap()
    }

    fn conv(m: &Mapping, field: &str, raw: &str) -> Result<Option<Value>, ValueError> {
        convert(m.field(field).unwrap(), Some(raw.as_bytes()))
    }

    #[test]
    fn money_is_exact_text() {
        let m = mapping("\"lines[].unit_price\" = { column = \"Price\" }\n");
        let cases = [
            ("2,150.00", "2150.00"),
            ("45.5", "45.50"),
            ("11480", "11480.00"),
            ("389.990", "389.99"),
            ("0.1234", "0.1234"),
            (" 1,234,567.8 ", "1234567.80"),
            ("0", "0.00"),
        ];
        for (raw, want) in cases {
            assert_eq!(
                conv(&m, "lines[].unit_price", raw).unwrap(),
                Some(Value::from(want)),
                "{raw}"
            );
        }
        for bad in [
            "1.23456", "abc", "2,15.00", "1,2345", "-5.00", "$5", "1e3", ".",
        ] {
            assert!(conv(&m, "lines[].unit_price", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn european_separators() {
        let m = mapping(
            "\"lines[].unit_price\" = { column = \"Price\", thousands_separator = \".\" }\n",
        );
        assert_eq!(
            conv(&m, "lines[].unit_price", "2.150,5").unwrap(),
            Some(Value::from("2150.50"))
        );
    }

    #[test]
    fn quantities_are_positive_whole_numbers() {
        let m = mapping("");
        assert_eq!(
            conv(&m, "lines[].quantity", "4").unwrap(),
            Some(Value::from(4))
        );
        assert_eq!(
            conv(&m, "lines[].quantity", "4.00").unwrap(),
            Some(Value::from(4))
        );
        assert_eq!(
            conv(&m, "lines[].quantity", "1,200").unwrap(),
            Some(Value::from(1200))
        );
        for bad in ["0", "-2", "2.5", "x", ""] {
            assert!(conv(&m, "lines[].quantity", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_maps_defaults_and_case() {
        let m = mapping(
            "order_date = { column = \"D\", format = \"%m/%d/%Y\" }\ncurrency = { column = \"C\", default = \"USD\", case = \"upper\" }\n\"ship_to.country\" = { column = \"Country\", map = { USA = \"US\", \"United States\" = \"US\" }, unmapped = \"keep\" }\nnotes = { column = \"N\", trim = false }\n",
        );
        assert_eq!(
            conv(&m, "order_date", "11/02/2026").unwrap(),
            Some(Value::from("2026-11-02"))
        );
        assert_eq!(
            conv(&m, "order_date", "1/2/2026").unwrap(),
            Some(Value::from("2026-01-02"))
        );
        assert_eq!(
            conv(&m, "order_date", "13/02/2026").unwrap_err(),
            ValueError::NotADate {
                text: "13/02/2026".into(),
                format: "%m/%d/%Y".into()
            }
        );
        assert_eq!(conv(&m, "order_date", "").unwrap(), None);
        assert_eq!(conv(&m, "currency", " ").unwrap(), Some(Value::from("USD")));
        assert_eq!(
            conv(&m, "currency", "eur").unwrap(),
            Some(Value::from("EUR"))
        );
        assert!(conv(&m, "currency", "euro").is_err());
        assert_eq!(
            conv(&m, "ship_to.country", "United States").unwrap(),
            Some(Value::from("US"))
        );
        let err = conv(&m, "ship_to.country", "Canada").unwrap_err();
        assert_eq!(err, ValueError::NotACountry(Value::from("Canada")));
        assert!(err.to_string().contains("ISO 3166"), "{err}");
        assert_eq!(conv(&m, "notes", " a ").unwrap(), Some(Value::from(" a ")));
        assert_eq!(
            convert(m.field("notes").unwrap(), Some(b"\xff")),
            Err(ValueError::NotUtf8)
        );
    }

    #[test]
    fn unmapped_values_can_be_refused() {
        let m = Mapping::parse(
            "kind = \"fulfillment_order\"\n[source]\nformat = \"csv\"\ngroup_by = \"SO\"\n[fields]\norder_number = { column = \"SO\" }\nship_method = { column = \"M\", map = { \"UPS Ground\" = \"ups_ground\" }, unmapped = \"reject\" }\n\"lines[].item_number\" = { column = \"Item\" }\n\"lines[].quantity\" = { column = \"Qty\" }\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            conv(&m, "ship_method", "UPS Ground").unwrap(),
            Some(Value::from("ups_ground"))
        );
        assert_eq!(
            conv(&m, "ship_method", "Pony Express")
                .unwrap_err()
                .to_string(),
            "\"Pony Express\" is not in the field's map (known: UPS Ground)"
        );
    }

    #[test]
    fn hash_ignores_key_order_but_not_values() {
        let mut a = Map::new();
        a.insert("po_number".into(), Value::from("PO-1"));
        a.insert("currency".into(), Value::from("USD"));
        let mut b = Map::new();
        b.insert("currency".into(), Value::from("USD"));
        b.insert("po_number".into(), Value::from("PO-1"));
        let order = |body| SourceOrder {
            number: "PO-1".into(),
            file: "f".into(),
            line: 2,
            lines: vec![],
            body,
        };
        assert_eq!(order(a.clone()).content_hash(), order(b).content_hash());
        // Fixed across releases: ledgers keep these hashes.
        assert_eq!(
            order(a.clone()).content_hash(),
            "b2536381a3fd7427d6c8986f49666394c08364d5e0d8ee43573158a5bdd6fdc7"
        );
        a.insert("currency".into(), Value::from("EUR"));
        let mut c = Map::new();
        c.insert("currency".into(), Value::from("USD"));
        c.insert("po_number".into(), Value::from("PO-1"));
        assert_ne!(order(a).content_hash(), order(c).content_hash());
        // The canonical JSON is what is sent: the same object, keys sorted at every level.
        let mut nested = Map::new();
        nested.insert("zip".into(), Value::from("89501"));
        nested.insert("city".into(), Value::from("Reno \"NV\""));
        let mut body = Map::new();
        body.insert("ship_to".into(), Value::Object(nested));
        body.insert(
            "lines".into(),
            serde_json::json!([{"quantity": 2, "unit_cost": 9.5}]),
        );
        let json = order(body.clone()).canonical_json();
        assert_eq!(
            json,
            r#"{"lines":[{"quantity":2,"unit_cost":9.5}],"ship_to":{"city":"Reno \"NV\"","zip":"89501"}}"#
        );
        assert_eq!(
            serde_json::from_str::<Value>(&json).unwrap(),
            Value::Object(body)
        );
    }
}
