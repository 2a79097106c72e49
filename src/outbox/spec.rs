//! The outbound mapping format (TOML) and its compile step: the inbound mapping language the
//! other way round. A record's fields (and its change log entry's) become CSV columns or X12
//! elements, each through the same steps an inbound field takes: value map, type, date format,
//! fixed decimals, default, required, case.
//!
//! Like the inbound mappings, a file is read in two stages (serde structs refusing unknown
//! keys, then the compiled [`OutMapping`]), and everything is checked before any change is
//! read: an unknown field, type or format is an error naming the mapping file and the key.
//! `mappings/README.md` is the user's reference; keep the two in step.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::format::{Item, StrftimeItems};
use serde::Deserialize;
use thiserror::Error;

use super::fields::{self, FieldRef, Kind, Level};
use crate::kinds::StreamKind;

/// An outbound mapping that cannot be used.
#[derive(Debug, Error)]
pub(crate) enum SpecError {
    #[error("cannot read mapping file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("mapping {mapping} is not valid TOML: {message}")]
    Syntax { mapping: String, message: String },
    #[error("mapping {mapping}: {key}: {message}")]
    Invalid {
        mapping: String,
        key: String,
        message: String,
    },
}

// ---- the TOML as written ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    stream: String,
    target: RawTarget,
    #[serde(default)]
    columns: Vec<RawValue>,
    #[serde(default)]
    segments: Vec<RawSegment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    format: String,
    extension: Option<String>,
    // csv
    delimiter: Option<String>,
    header: Option<bool>,
    rows: Option<String>,
    // x12
    transaction_set: Option<String>,
    functional_id: Option<String>,
    version: Option<String>,
    sender_qualifier: Option<String>,
    sender_id: Option<String>,
    receiver_qualifier: Option<String>,
    receiver_id: Option<String>,
    application_sender: Option<String>,
    application_receiver: Option<String>,
    usage: Option<String>,
    element_separator: Option<String>,
    segment_terminator: Option<String>,
    component_separator: Option<String>,
    repetition_separator: Option<String>,
    newline: Option<bool>,
    set: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSegment {
    id: Option<String>,
    elements: Option<Vec<RawElement>>,
    hl: Option<String>,
    each: Option<String>,
    segments: Option<Vec<RawSegment>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawElement {
    Literal(String),
    Value(Box<RawValue>),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawValue {
    /// CSV only: the column's header.
    name: Option<String>,
    field: Option<FieldNames>,
    value: Option<String>,
    count: Option<String>,
    index: Option<String>,
    sum: Option<String>,
    batch: Option<String>,
    #[serde(rename = "type")]
    ty: Option<String>,
    format: Option<String>,
    decimals: Option<i64>,
    implied: Option<bool>,
    default: Option<toml::Value>,
    map: Option<BTreeMap<String, String>>,
    unmapped: Option<String>,
    required: Option<bool>,
    case: Option<String>,
    max_length: Option<i64>,
    join: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FieldNames {
    One(String),
    FirstOf(Vec<String>),
}

// ---- the compiled mapping ----

/// A compiled outbound mapping.
#[derive(Debug, Clone)]
pub(crate) struct OutMapping {
    /// Its file path, for errors.
    pub(crate) name: String,
    pub(crate) stream: StreamKind,
    pub(crate) target: Target,
    /// The file name extension (`csv`, `x12`).
    pub(crate) extension: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Target {
    Csv(CsvTarget),
    X12(Box<X12Target>),
}

#[derive(Debug, Clone)]
pub(crate) struct CsvTarget {
    pub(crate) delimiter: u8,
    pub(crate) header: bool,
    /// One row per line item (a record without lines still gets one row).
    pub(crate) rows_per_line: bool,
    pub(crate) columns: Vec<(String, ValueSpec)>,
}

#[derive(Debug, Clone)]
pub(crate) struct X12Target {
    pub(crate) transaction_set: String,
    pub(crate) functional_id: String,
    /// GS08 (`004010`); ISA12 is its first five digits.
    pub(crate) version: String,
    pub(crate) sender_qualifier: String,
    pub(crate) sender_id: String,
    pub(crate) receiver_qualifier: String,
    pub(crate) receiver_id: String,
    pub(crate) application_sender: String,
    pub(crate) application_receiver: String,
    /// ISA15: `P` production, `T` test.
    pub(crate) usage: char,
    pub(crate) element: char,
    pub(crate) segment: char,
    pub(crate) component: char,
    /// ISA11: `U` before version 00402, else the repetition separator.
    pub(crate) isa11: char,
    pub(crate) newline: bool,
    /// One transaction set per record, or one per file holding every record.
    pub(crate) set_per_record: bool,
    pub(crate) body: Vec<Segment>,
}

impl X12Target {
    /// The trading partner the control numbers belong to.
    pub(crate) fn partner(&self) -> String {
        format!(
            "{}:{}/{}:{}",
            self.sender_qualifier, self.sender_id, self.receiver_qualifier, self.receiver_id
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Segment {
    /// A segment: its id and elements (trailing empty elements are dropped; a segment whose
    /// every field element is empty is left out).
    Plain { id: String, elements: Vec<Element> },
    /// `HL*id*parent*code*child`: `depth` is its place in the chain of HL levels.
    Hl { code: String, depth: usize },
    /// The segments inside, once per line of the record or per record of the set.
    Each { over: Over, body: Vec<Segment> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Over {
    Lines,
    Records,
}

#[derive(Debug, Clone)]
pub(crate) enum Element {
    Literal(String),
    Value(Box<ValueSpec>),
}

/// Where a value comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// The first of these fields that is not empty.
    Fields(Vec<FieldRef>),
    Literal(String),
    /// How many lines the record has, records the set has, or HL segments written so far.
    Count(Counted),
    /// The 1-based position of the current line or record.
    Index(Over),
    /// The exact sum of a line field over the record's lines (or a record field over the set).
    Sum(FieldRef),
    /// The file's batch: its newest change's time, or the first or last change seq it covers.
    Batch(BatchOf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchOf {
    At,
    First,
    Last,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    Lines,
    Records,
    Hl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutType {
    Text,
    Integer,
    Decimal,
    Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Upper,
    Lower,
}

/// A compiled value: its source and how it is written.
#[derive(Debug, Clone)]
pub(crate) struct ValueSpec {
    /// The field it reads (or its key in the mapping), for rejections.
    pub(crate) label: String,
    pub(crate) source: Source,
    pub(crate) ty: OutType,
    pub(crate) date_items: Vec<Item<'static>>,
    pub(crate) decimals: Option<u32>,
    /// Write the digits without the decimal point (X12 `N2`): `1249.50` -> `124950`.
    pub(crate) implied: bool,
    pub(crate) default: Option<String>,
    pub(crate) map: HashMap<String, String>,
    pub(crate) reject_unmapped: bool,
    pub(crate) required: bool,
    pub(crate) case: Option<Case>,
    pub(crate) max_length: Option<usize>,
    pub(crate) join: String,
}

impl OutMapping {
    /// Read and compile a mapping file.
    pub(crate) fn load(path: &Path) -> Result<OutMapping, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.display().to_string(),
            source,
        })?;
        OutMapping::parse(&text, &path.display().to_string())
    }

    /// Compile a mapping from its text; `name` is used in errors.
    pub(crate) fn parse(text: &str, name: &str) -> Result<OutMapping, SpecError> {
        let raw: RawMapping = toml::from_str(text).map_err(|e| SpecError::Syntax {
            mapping: name.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        compile(raw, name)
    }
}

fn invalid(mapping: &str, key: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        mapping: mapping.to_string(),
        key: key.into(),
        message: message.into(),
    }
}

fn compile(raw: RawMapping, name: &str) -> Result<OutMapping, SpecError> {
    let stream = StreamKind::from_name(&raw.stream).ok_or_else(|| {
        invalid(
            name,
            "stream",
            format!(
                "{:?} is not a stream (inventory, invoices, shipments, purchase_orders, fulfillment_orders)",
                raw.stream
            ),
        )
    })?;
    let t = raw.target;
    let extension = t.extension.clone();
    let (target, default_ext) = match t.format.as_str() {
        "csv" => {
            if !raw.segments.is_empty() {
                return Err(invalid(
                    name,
                    "segments",
                    "a CSV mapping has `columns`, not `segments`",
                ));
            }
            reject_keys(
                name,
                &[
                    ("transaction_set", t.transaction_set.is_some()),
                    ("functional_id", t.functional_id.is_some()),
                    ("sender_id", t.sender_id.is_some()),
                    ("receiver_id", t.receiver_id.is_some()),
                    ("set", t.set.is_some()),
                ],
                "csv",
            )?;
            (
                Target::Csv(csv_target(&t, raw.columns, stream, name)?),
                "csv",
            )
        }
        "x12" => {
            if !raw.columns.is_empty() {
                return Err(invalid(
                    name,
                    "columns",
                    "an X12 mapping has `segments`, not `columns`",
                ));
            }
            reject_keys(
                name,
                &[
                    ("delimiter", t.delimiter.is_some()),
                    ("header", t.header.is_some()),
                    ("rows", t.rows.is_some()),
                ],
                "x12",
            )?;
            (
                Target::X12(Box::new(x12_target(t, raw.segments, stream, name)?)),
                "x12",
            )
        }
        other => {
            return Err(invalid(
                name,
                "target.format",
                format!("{other:?} is not \"csv\" or \"x12\""),
            ))
        }
    };
    let extension = match extension {
        None => default_ext.to_string(),
        Some(e)
            if !e.is_empty() && e.len() <= 16 && e.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            e
        }
        Some(e) => {
            return Err(invalid(
                name,
                "target.extension",
                format!("{e:?} must be 1 to 16 letters or digits"),
            ))
        }
    };
    Ok(OutMapping {
        name: name.to_string(),
        stream,
        target,
        extension,
    })
}

fn reject_keys(name: &str, keys: &[(&str, bool)], format: &str) -> Result<(), SpecError> {
    match keys.iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(invalid(
            name,
            format!("target.{key}"),
            format!("not a key of a {format} target"),
        )),
        None => Ok(()),
    }
}

fn one_char(name: &str, key: &str, value: Option<&str>, default: char) -> Result<char, SpecError> {
    let Some(v) = value else {
        return Ok(default);
    };
    let v = if v == "\\t" { "\t" } else { v };
    let mut chars = v.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if (c.is_ascii_graphic() && !c.is_ascii_alphanumeric()) || c == '\t' => {
            Ok(c)
        }
        _ => Err(invalid(
            name,
            format!("target.{key}"),
            format!("{v:?} must be one printable ASCII character that is not a letter or digit"),
        )),
    }
}

fn csv_target(
    t: &RawTarget,
    columns: Vec<RawValue>,
    stream: StreamKind,
    name: &str,
) -> Result<CsvTarget, SpecError> {
    let delimiter = one_char(name, "delimiter", t.delimiter.as_deref(), ',')? as u8;
    let rows_per_line = match t.rows.as_deref() {
        None | Some("record") => false,
        Some("lines") if fields::has_lines(stream) => true,
        Some("lines") => {
            return Err(invalid(
                name,
                "target.rows",
                format!(
                    "{} records have no lines: use rows = \"record\"",
                    stream.name()
                ),
            ))
        }
        Some(other) => {
            return Err(invalid(
                name,
                "target.rows",
                format!("{other:?} is not \"record\" or \"lines\""),
            ))
        }
    };
    if columns.is_empty() {
        return Err(invalid(
            name,
            "columns",
            "name at least one column ([[columns]])",
        ));
    }
    let scope = Scope {
        stream,
        line: rows_per_line,
        set_records: false,
        csv: true,
    };
    let mut out = Vec::new();
    for (i, mut raw) in columns.into_iter().enumerate() {
        let key = format!("columns[{i}]");
        let header = raw
            .name
            .take()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| {
                invalid(
                    name,
                    format!("{key}.name"),
                    "every column needs a `name` (its header)",
                )
            })?;
        if out.iter().any(|(h, _)| *h == header) {
            return Err(invalid(
                name,
                format!("{key}.name"),
                format!("column {header:?} is named twice"),
            ));
        }
        let spec = compile_value(raw, &scope, name, &key)?;
        out.push((header, spec));
    }
    Ok(CsvTarget {
        delimiter,
        header: t.header.unwrap_or(true),
        rows_per_line,
        columns: out,
    })
}

fn id_text(
    name: &str,
    key: &str,
    value: Option<String>,
    default: Option<&str>,
    len: std::ops::RangeInclusive<usize>,
) -> Result<String, SpecError> {
    let v = value
        .or_else(|| default.map(str::to_string))
        .ok_or_else(|| {
            invalid(
                name,
                format!("target.{key}"),
                "is required for an X12 target",
            )
        })?;
    if !len.contains(&v.len()) || !v.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return Err(invalid(
            name,
            format!("target.{key}"),
            format!(
                "{v:?} must be {} to {} printable ASCII characters",
                len.start(),
                len.end()
            ),
        ));
    }
    Ok(v)
}

fn x12_target(
    t: RawTarget,
    segments: Vec<RawSegment>,
    stream: StreamKind,
    name: &str,
) -> Result<X12Target, SpecError> {
    let transaction_set = id_text(name, "transaction_set", t.transaction_set, None, 3..=3)?;
    if !transaction_set.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid(
            name,
            "target.transaction_set",
            "three digits, such as \"856\"",
        ));
    }
    let functional_id = id_text(name, "functional_id", t.functional_id, None, 2..=2)?;
    let version = id_text(name, "version", t.version, Some("004010"), 6..=12)?;
    if !version[..5].chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid(
            name,
            "target.version",
            format!("{version:?} must start with five digits (\"004010\")"),
        ));
    }
    let sender_qualifier = id_text(
        name,
        "sender_qualifier",
        t.sender_qualifier,
        Some("ZZ"),
        2..=2,
    )?;
    let sender_id = id_text(name, "sender_id", t.sender_id, None, 1..=15)?;
    let receiver_qualifier = id_text(
        name,
        "receiver_qualifier",
        t.receiver_qualifier,
        Some("ZZ"),
        2..=2,
    )?;
    let receiver_id = id_text(name, "receiver_id", t.receiver_id, None, 1..=15)?;
    let application_sender = id_text(
        name,
        "application_sender",
        t.application_sender,
        Some(&sender_id),
        2..=15,
    )?;
    let application_receiver = id_text(
        name,
        "application_receiver",
        t.application_receiver,
        Some(&receiver_id),
        2..=15,
    )?;
    let usage = match t.usage.as_deref() {
        None | Some("P") => 'P',
        Some("T") => 'T',
        Some(other) => {
            return Err(invalid(
                name,
                "target.usage",
                format!("{other:?} is not \"P\" (production) or \"T\" (test)"),
            ))
        }
    };
    let (element, segment, component, isa11) = x12_separators(
        name,
        [
            t.element_separator.as_deref(),
            t.segment_terminator.as_deref(),
            t.component_separator.as_deref(),
            t.repetition_separator.as_deref(),
        ],
        &version,
        [
            &sender_id,
            &receiver_id,
            &application_sender,
            &application_receiver,
        ],
    )?;
    let set_per_record = set_per_record(name, t.set.as_deref())?;
    if segments.is_empty() {
        return Err(invalid(
            name,
            "segments",
            "name the transaction set's segments ([[segments]])",
        ));
    }
    let scope = Scope {
        stream,
        line: false,
        set_records: !set_per_record,
        csv: false,
    };
    let mut hl_depth = 0;
    let body = compile_segments(segments, &scope, name, "segments", &mut hl_depth)?;
    Ok(X12Target {
        transaction_set,
        functional_id,
        version,
        sender_qualifier,
        sender_id,
        receiver_qualifier,
        receiver_id,
        application_sender,
        application_receiver,
        usage,
        element,
        segment,
        component,
        isa11,
        newline: t.newline.unwrap_or(true),
        set_per_record,
        body,
    })
}

/// The interchange's separators (element, segment terminator, component, ISA11), each
/// different from the others and found in none of the `ids`.
fn x12_separators(
    name: &str,
    given: [Option<&str>; 4],
    version: &str,
    ids: [&str; 4],
) -> Result<(char, char, char, char), SpecError> {
    let [element_sep, segment_sep, component_sep, repetition_sep] = given;
    let element = one_char(name, "element_separator", element_sep, '*')?;
    let segment = one_char(name, "segment_terminator", segment_sep, '~')?;
    let component = one_char(name, "component_separator", component_sep, '>')?;
    let repetition = one_char(name, "repetition_separator", repetition_sep, '^')?;
    let isa11 = if version[..5] < *"00402" {
        if repetition_sep.is_some() {
            return Err(invalid(
                name,
                "target.repetition_separator",
                "versions before 00402 have no repetition separator (ISA11 is \"U\")",
            ));
        }
        'U'
    } else {
        repetition
    };
    let mut seps = vec![element, segment, component];
    if isa11 != 'U' {
        seps.push(isa11);
    }
    for (i, a) in seps.iter().enumerate() {
        if seps[i + 1..].contains(a) {
            return Err(invalid(
                name,
                "target",
                format!("the separators must differ ({a:?} is used twice)"),
            ));
        }
    }
    for id in ids {
        if let Some(c) = id.chars().find(|c| seps.contains(c)) {
            return Err(invalid(
                name,
                "target",
                format!("{id:?} holds the separator {c:?}"),
            ));
        }
    }
    Ok((element, segment, component, isa11))
}

/// `target.set`: a transaction set per record (`"record"`, the default) or one per file.
fn set_per_record(name: &str, set: Option<&str>) -> Result<bool, SpecError> {
    match set {
        None | Some("record") => Ok(true),
        Some("file") => Ok(false),
        Some(other) => Err(invalid(
            name,
            "target.set",
            format!("{other:?} is not \"record\" or \"file\""),
        )),
    }
}

/// What a value may read where it stands.
#[derive(Debug, Clone, Copy)]
struct Scope {
    stream: StreamKind,
    /// Inside a line (a CSV row per line, or an `each = "lines"` loop).
    line: bool,
    /// A set holding every record of the file, outside an `each = "records"` loop: no record
    /// is current.
    set_records: bool,
    csv: bool,
}

const ENVELOPE: [&str; 6] = ["ISA", "IEA", "GS", "GE", "ST", "SE"];

fn compile_segments(
    raw: Vec<RawSegment>,
    scope: &Scope,
    name: &str,
    prefix: &str,
    hl_depth: &mut usize,
) -> Result<Vec<Segment>, SpecError> {
    let mut out = Vec::new();
    for (i, mut s) in raw.into_iter().enumerate() {
        let key = format!("{prefix}[{i}]");
        let kinds = [s.id.is_some(), s.hl.is_some(), s.each.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if kinds != 1 {
            return Err(invalid(
                name,
                &key,
                "a segment has exactly one of `id`, `hl` or `each`",
            ));
        }
        let segment = match (s.id.take(), s.hl.take(), s.each.take()) {
            (Some(id), _, _) => plain_segment(id, s, scope, name, &key)?,
            (_, Some(code), _) => hl_segment(code, &s, name, &key, hl_depth)?,
            (_, _, Some(each)) => each_segment(&each, s, scope, name, &key, hl_depth)?,
            (None, None, None) => unreachable!("exactly one kind, checked above"),
        };
        out.push(segment);
    }
    Ok(out)
}

/// A segment of elements (`id`).
fn plain_segment(
    id: String,
    s: RawSegment,
    scope: &Scope,
    name: &str,
    key: &str,
) -> Result<Segment, SpecError> {
    if id.len() < 2
        || id.len() > 3
        || !id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Err(invalid(
            name,
            format!("{key}.id"),
            format!("{id:?} is not a segment id (2-3 upper-case letters or digits)"),
        ));
    }
    if ENVELOPE.contains(&id.as_str()) || id == "HL" {
        return Err(invalid(
            name,
            format!("{key}.id"),
            format!("{id} is written by ahead-sync itself"),
        ));
    }
    if s.segments.is_some() {
        return Err(invalid(
            name,
            format!("{key}.segments"),
            "only an `each` loop holds segments",
        ));
    }
    let raw_elements = s.elements.filter(|e| !e.is_empty()).ok_or_else(|| {
        invalid(
            name,
            format!("{key}.elements"),
            "a segment needs its elements",
        )
    })?;
    let mut elements = Vec::new();
    for (j, e) in raw_elements.into_iter().enumerate() {
        let ekey = format!("{key}.elements[{j}]");
        elements.push(match e {
            RawElement::Literal(text) => Element::Literal(text),
            RawElement::Value(v) => {
                if v.name.is_some() {
                    return Err(invalid(
                        name,
                        format!("{ekey}.name"),
                        "`name` is for CSV columns",
                    ));
                }
                Element::Value(Box::new(compile_value(*v, scope, name, &ekey)?))
            }
        });
    }
    Ok(Segment::Plain { id, elements })
}

/// An HL segment (`hl`): its level's code, at the next depth of the hierarchy.
fn hl_segment(
    code: String,
    s: &RawSegment,
    name: &str,
    key: &str,
    hl_depth: &mut usize,
) -> Result<Segment, SpecError> {
    if s.elements.is_some() || s.segments.is_some() {
        return Err(invalid(
            name,
            key,
            "an `hl` segment is written whole: no `elements`",
        ));
    }
    if code.is_empty() || code.len() > 2 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(invalid(
            name,
            format!("{key}.hl"),
            format!("{code:?} is not a level code such as \"S\", \"O\", \"I\""),
        ));
    }
    let depth = *hl_depth;
    *hl_depth += 1;
    Ok(Segment::Hl { code, depth })
}

/// A loop (`each`) over a record's lines or a file's records, holding segments.
fn each_segment(
    each: &str,
    s: RawSegment,
    scope: &Scope,
    name: &str,
    key: &str,
    hl_depth: &mut usize,
) -> Result<Segment, SpecError> {
    if s.elements.is_some() {
        return Err(invalid(
            name,
            format!("{key}.elements"),
            "an `each` loop holds `segments`",
        ));
    }
    let (over, inner) = match each {
        "lines" if scope.line => {
            return Err(invalid(
                name,
                format!("{key}.each"),
                "already inside the lines",
            ))
        }
        "lines" if scope.set_records => {
            return Err(invalid(
                name,
                format!("{key}.each"),
                "lines belong to a record: put this loop inside `each = \"records\"`",
            ))
        }
        "lines" if !fields::has_lines(scope.stream) => {
            return Err(invalid(
                name,
                format!("{key}.each"),
                format!("{} records have no lines", scope.stream.name()),
            ))
        }
        "lines" => (
            Over::Lines,
            Scope {
                line: true,
                ..*scope
            },
        ),
        "records" if scope.set_records => (
            Over::Records,
            Scope {
                set_records: false,
                ..*scope
            },
        ),
        "records" => {
            return Err(invalid(
                name,
                format!("{key}.each"),
                "`each = \"records\"` is for target.set = \"file\", outside any other loop",
            ))
        }
        other => {
            return Err(invalid(
                name,
                format!("{key}.each"),
                format!("{other:?} is not \"lines\" or \"records\""),
            ))
        }
    };
    let body = s
        .segments
        .filter(|b| !b.is_empty())
        .ok_or_else(|| invalid(name, format!("{key}.segments"), "a loop needs its segments"))?;
    let body = compile_segments(body, &inner, name, &format!("{key}.segments"), hl_depth)?;
    Ok(Segment::Each { over, body })
}

fn compile_value(
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
fn resolve_field(
    scope: &Scope,
    name: &str,
    key: &str,
    field: &str,
    k: &str,
) -> Result<FieldRef, SpecError> {
    let sub = |k: &str| format!("{key}.{k}");
    let f = fields::resolve(scope.stream, field).map_err(|m| invalid(name, sub(k), m))?;
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
fn value_source(
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
        kind = refs[0].kind;
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
        label = names.join("|");
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
        let f = fields::resolve(scope.stream, &s).map_err(|m| invalid(name, sub("sum"), m))?;
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

/// The type a value is written as: `type`, or what its source reads.
fn out_type(
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
fn date_format(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        OutMapping::parse(text, "m.toml").unwrap_err().to_string()
    }

    const CSV: &str = "stream = \"shipments\"\n[target]\nformat = \"csv\"\nrows = \"lines\"\n";

    #[test]
    fn every_problem_names_the_mapping_and_the_key() {
        let table = [
            ("stream = \"nope\"\n[target]\nformat = \"csv\"\n", "stream"),
            ("stream = \"shipments\"\n[target]\nformat = \"xml\"\n", "target.format"),
            (&format!("{CSV}[[columns]]\nname = \"A\"\nfield = \"tracking\"\n"), "columns[0].field"),
            (&format!("{CSV}[[columns]]\nfield = \"carrier\"\n"), "columns[0].name"),
            (&format!("{CSV}[[columns]]\nname = \"A\"\nfield = \"shipped_at\"\ntype = \"date\"\nformat = \"%Q\"\n"), "columns[0].format"),
            (&format!("{CSV}[[columns]]\nname = \"A\"\nfield = \"carrier\"\ntype = \"decimal\"\n"), "columns[0].type"),
            (&format!("{CSV}[[columns]]\nname = \"A\"\nfield = \"lines[].quantity\"\ndecimals = 2\n"), "columns[0].decimals"),
            (&format!("{CSV}[[columns]]\nname = \"A\"\nfield = \"carrier\"\ncolour = 1\n"), "colour"),
            (&format!("{CSV}[[columns]]\nname = \"A\"\nfield = \"carrier\"\n[[columns]]\nname = \"A\"\nfield = \"service\"\n"), "columns[1].name"),
            ("stream = \"shipments\"\n[target]\nformat = \"csv\"\n[[columns]]\nname = \"A\"\nfield = \"lines[].quantity\"\n", "columns[0].field"),
            ("stream = \"inventory\"\n[target]\nformat = \"csv\"\nrows = \"lines\"\n", "target.rows"),
            ("stream = \"shipments\"\n[target]\nformat = \"x12\"\ntransaction_set = \"856\"\nfunctional_id = \"SH\"\nsender_id = \"AA\"\nreceiver_id = \"BB\"\n[[segments]]\nid = \"ST\"\nelements = [\"856\"]\n", "segments[0].id"),
            ("stream = \"shipments\"\n[target]\nformat = \"x12\"\ntransaction_set = \"856\"\nfunctional_id = \"SH\"\nsender_id = \"THIS-ID-IS-TOO-LONG\"\nreceiver_id = \"B\"\n[[segments]]\nid = \"BSN\"\nelements = [\"00\"]\n", "target.sender_id"),
            ("stream = \"shipments\"\n[target]\nformat = \"x12\"\ntransaction_set = \"856\"\nfunctional_id = \"SH\"\nsender_id = \"AA\"\nreceiver_id = \"BB\"\n[[segments]]\nid = \"LIN\"\nelements = [{ field = \"lines[].item_number\" }]\n", "segments[0].elements[0].field"),
            ("stream = \"shipments\"\n[target]\nformat = \"x12\"\ntransaction_set = \"856\"\nfunctional_id = \"SH\"\nsender_id = \"AA\"\nreceiver_id = \"BB\"\nelement_separator = \"~\"\n[[segments]]\nid = \"BSN\"\nelements = [\"00\"]\n", "target"),
            ("stream = \"inventory\"\n[target]\nformat = \"x12\"\ntransaction_set = \"846\"\nfunctional_id = \"IB\"\nsender_id = \"AA\"\nreceiver_id = \"BB\"\nset = \"file\"\n[[segments]]\nid = \"LIN\"\nelements = [{ field = \"item_number\" }]\n", "segments[0].elements[0].field"),
        ];
        for (text, key) in table {
            let e = err(text);
            assert!(e.contains("m.toml") && e.contains(key), "{text}\n-> {e}");
        }
    }

    #[test]
    fn a_good_mapping_compiles() {
        let m = OutMapping::parse(
            &format!("{CSV}[[columns]]\nname = \"Qty\"\nfield = \"lines[].quantity\"\n[[columns]]\nname = \"Shipped\"\nfield = \"shipped_at\"\ntype = \"date\"\nformat = \"%m/%d/%Y\"\n[[columns]]\nname = \"Order\"\nfield = [\"purchase_order_number\", \"order_number\"]\n"),
            "m.toml",
        )
        .unwrap();
        assert_eq!(m.stream, StreamKind::Shipments);
        assert_eq!(m.extension, "csv");
        let Target::Csv(csv) = &m.target else {
            panic!()
        };
        assert!(csv.rows_per_line);
        assert_eq!(csv.columns.len(), 3);
        assert_eq!(csv.columns[1].1.ty, OutType::Date);
    }
}
