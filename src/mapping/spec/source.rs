//! The `[source]` table: a CSV dialect (delimiter, quote, header, the column that groups
//! rows into orders) or an X12 envelope (transaction set, line loop), and the two checks field
//! compilation shares with it (`column` names or positions, `segment_id`).
//!
//! Separate from the field compile step because it depends only on `[source]` and the kind:
//! it is compiled first, and what it decides (CSV or X12) shapes how every field is read.

use super::raw::RawSource;
use super::x12_ref::is_segment_id;
use super::{invalid, Column, CsvSource, MappingError, SourceFormat, Target, X12Source};

fn one_byte(value: &str, mapping: &str, key: &str) -> Result<u8, MappingError> {
    let value = if value == "\\t" { "\t" } else { value };
    match value.as_bytes() {
        [b] if b.is_ascii() && *b != b'\n' && *b != b'\r' => Ok(*b),
        _ => Err(invalid(
            mapping,
            key,
            format!("must be one ASCII character (got \"{value}\")"),
        )),
    }
}

/// Compile `[source]` for a mapping of `kind`: its `format` decides which other keys apply.
pub(super) fn compile_source(
    raw: &RawSource,
    name: &str,
    kind: Target,
) -> Result<SourceFormat, MappingError> {
    match raw.format.as_str() {
        "csv" => {
            refuse_keys(&x12_keys(raw), "csv", name)?;
            csv(raw, name, kind).map(SourceFormat::Csv)
        }
        "x12" if !kind.is_order() => Err(invalid(
            name,
            "source.format",
            format!(
                "kind = \"{}\" is read from CSV only: use format = \"csv\"",
                kind.as_str()
            ),
        )),
        "x12" => {
            refuse_keys(&csv_keys(raw), "x12", name)?;
            x12(raw, name).map(SourceFormat::X12)
        }
        other => Err(invalid(
            name,
            "source.format",
            format!("unknown format \"{other}\": use \"csv\" or \"x12\""),
        )),
    }
}

/// The keys only a CSV source takes, and whether each is set.
fn csv_keys(raw: &RawSource) -> [(&'static str, bool); 6] {
    [
        ("delimiter", raw.delimiter.is_some()),
        ("quote", raw.quote.is_some()),
        ("header", raw.header.is_some()),
        ("group_by", raw.group_by.is_some()),
        ("encoding", raw.encoding.is_some()),
        ("skip_blank_lines", raw.skip_blank_lines.is_some()),
    ]
}

/// The keys only an X12 source takes, and whether each is set.
fn x12_keys(raw: &RawSource) -> [(&'static str, bool); 4] {
    [
        ("transaction_set", raw.transaction_set.is_some()),
        ("line_loop", raw.line_loop.is_some()),
        ("line_segment", raw.line_segment.is_some()),
        ("loop_end", raw.loop_end.is_some()),
    ]
}

/// The first of `keys` that is set is an error: it belongs to the other format.
fn refuse_keys(keys: &[(&str, bool)], format: &str, name: &str) -> Result<(), MappingError> {
    match keys.iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(invalid(
            name,
            format!("source.{key}"),
            format!("does not apply to format = \"{format}\""),
        )),
        None => Ok(()),
    }
}

/// `format = "csv"`: the dialect, the encoding (UTF-8 only) and the grouping column.
fn csv(raw: &RawSource, name: &str, kind: Target) -> Result<CsvSource, MappingError> {
    let delimiter = one_byte(
        raw.delimiter.as_deref().unwrap_or(","),
        name,
        "source.delimiter",
    )?;
    let quote = one_byte(raw.quote.as_deref().unwrap_or("\""), name, "source.quote")?;
    if quote == delimiter {
        return Err(invalid(
            name,
            "source.quote",
            "must differ from the delimiter",
        ));
    }
    check_encoding(raw.encoding.as_deref(), name)?;
    let header = raw.header.unwrap_or(true);
    Ok(CsvSource {
        delimiter,
        quote,
        header,
        group_by: group_by(raw.group_by.as_ref(), header, name, kind)?,
        skip_blank_lines: raw.skip_blank_lines.unwrap_or(true),
    })
}

/// Only UTF-8 is read (a byte-order mark is allowed); the file must be re-exported otherwise.
fn check_encoding(encoding: Option<&str>, name: &str) -> Result<(), MappingError> {
    match encoding.map(|e| e.to_ascii_lowercase()) {
        None => Ok(()),
        Some(e) if matches!(e.as_str(), "utf-8" | "utf8" | "utf-8-bom" | "utf-8-sig") => Ok(()),
        Some(e) => Err(invalid(
            name,
            "source.encoding",
            format!("unsupported encoding \"{e}\": only \"utf-8\" (with or without BOM) is read; re-export the file as UTF-8"),
        )),
    }
}

/// `group_by`: required for order kinds, refused for record kinds (one record per row).
fn group_by(
    value: Option<&toml::Value>,
    header: bool,
    name: &str,
    kind: Target,
) -> Result<Option<Column>, MappingError> {
    match (value, kind.is_order()) {
        (None, true) => Err(invalid(
            name,
            "source.group_by",
            "missing: name the column whose value groups line rows into one order",
        )),
        (Some(v), true) => Ok(Some(column(v, header, name, "source.group_by")?)),
        (None, false) => Ok(None),
        (Some(_), false) => Err(invalid(
            name,
            "source.group_by",
            format!(
                "does not apply to kind = \"{}\": each row is one record",
                kind.as_str()
            ),
        )),
    }
}

/// `format = "x12"`: the transaction set read and how its detail area splits into lines.
fn x12(raw: &RawSource, name: &str) -> Result<X12Source, MappingError> {
    let transaction_set = transaction_set(raw.transaction_set.as_deref(), name)?;
    let line_loop = raw.line_loop.clone().ok_or_else(|| {
        invalid(
            name,
            "source.line_loop",
            "missing: the segment that starts each line, e.g. \"PO1\" or \"LX\"",
        )
    })?;
    segment_id(&line_loop, name, "source.line_loop")?;
    let line_segment = raw
        .line_segment
        .clone()
        .unwrap_or_else(|| line_loop.clone());
    segment_id(&line_segment, name, "source.line_segment")?;
    let loop_end = raw
        .loop_end
        .clone()
        .unwrap_or_else(|| vec!["CTT".into(), "W76".into(), "SE".into()]);
    for seg in &loop_end {
        segment_id(seg, name, "source.loop_end")?;
    }
    Ok(X12Source {
        transaction_set,
        line_loop,
        line_segment,
        loop_end,
    })
}

/// `transaction_set`: required, three digits (ST01: `850`, `940`).
fn transaction_set(value: Option<&str>, name: &str) -> Result<String, MappingError> {
    let Some(id) = value else {
        return Err(invalid(
            name,
            "source.transaction_set",
            "missing: e.g. \"850\" or \"940\"",
        ));
    };
    if id.len() != 3 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            name,
            "source.transaction_set",
            format!("\"{id}\" is not an X12 transaction set id (three digits, e.g. \"850\")"),
        ));
    }
    Ok(id.to_string())
}

pub(super) fn segment_id(id: &str, mapping: &str, key: &str) -> Result<(), MappingError> {
    if is_segment_id(id) {
        Ok(())
    } else {
        Err(invalid(
            mapping,
            key,
            format!("\"{id}\" is not an X12 segment id (2 or 3 upper-case letters or digits, e.g. \"PO1\")"),
        ))
    }
}

pub(super) fn column(
    v: &toml::Value,
    header: bool,
    mapping: &str,
    key: &str,
) -> Result<Column, MappingError> {
    match v {
        toml::Value::String(s) if header => {
            if s.trim().is_empty() {
                Err(invalid(mapping, key, "column name is empty"))
            } else {
                Ok(Column::Name(s.trim().to_string()))
            }
        }
        toml::Value::String(_) => Err(invalid(
            mapping,
            key,
            "with `header = false` columns are named by 1-based position (column = 3)",
        )),
        toml::Value::Integer(n) if *n >= 1 => Ok(Column::Position(*n as usize)),
        _ => Err(invalid(
            mapping,
            key,
            "must be a column name (string) or a 1-based position (integer)",
        )),
    }
}
