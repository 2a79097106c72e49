//! An X12 transaction set's segments: plain segments of elements, HL levels and loops.

use super::raw::{RawElement, RawSegment};
use super::value::compile_value;
use super::*;
use crate::outbox::fields::{self};

/// What a value may read where it stands.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scope {
    pub(super) stream: StreamKind,
    /// Inside a line (a CSV row per line, or an `each = "lines"` loop).
    pub(super) line: bool,
    /// A set holding every record of the file, outside an `each = "records"` loop: no record
    /// is current.
    pub(super) set_records: bool,
    pub(super) csv: bool,
}

pub(super) const ENVELOPE: [&str; 6] = ["ISA", "IEA", "GS", "GE", "ST", "SE"];

pub(super) fn compile_segments(
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
pub(super) fn plain_segment(
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
pub(super) fn hl_segment(
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
pub(super) fn each_segment(
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
