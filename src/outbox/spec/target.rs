//! The mapping as a whole and its `[target]`: a CSV file's layout, or an X12 interchange's
//! envelope (ids, qualifiers, version, separators) and its transaction set.

use super::raw::{RawMapping, RawSegment, RawTarget, RawValue};
use super::segments::{compile_segments, Scope};
use super::value::compile_value;
use super::*;
use crate::outbox::fields::{self};

pub(super) fn compile(raw: RawMapping, name: &str) -> Result<OutMapping, SpecError> {
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

pub(super) fn reject_keys(
    name: &str,
    keys: &[(&str, bool)],
    format: &str,
) -> Result<(), SpecError> {
    match keys.iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(invalid(
            name,
            format!("target.{key}"),
            format!("not a key of a {format} target"),
        )),
        None => Ok(()),
    }
}

pub(super) fn one_char(
    name: &str,
    key: &str,
    value: Option<&str>,
    default: char,
) -> Result<char, SpecError> {
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

pub(super) fn csv_target(
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

pub(super) fn id_text(
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

pub(super) fn x12_target(
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
pub(super) fn x12_separators(
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
pub(super) fn set_per_record(name: &str, set: Option<&str>) -> Result<bool, SpecError> {
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
