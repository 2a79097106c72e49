//! Outboxes: the return path into the ERP. Each `[outbox.NAME]` turns the change log of its
//! stream into files in the ERP's own layout, through an outbound mapping, exactly once.
//!
//! Layout:
//! - `fields`: what an outbound mapping may read (each stream's record, the change entry).
//! - `spec`: the outbound mapping format and its compile step ([`OutMapping`]).
//! - `value`: one value written from a record (map, type, format, decimals, default).
//! - `csv`, `x12`: a batch of records as a CSV file or an X12 interchange.
//! - `deliver`: the exactly-once loop: write aside, fsync, record, rename, commit.
//!
//! Architecture invariant: everything but `deliver` (and [`OutMapping::load`]) is pure: changes
//! and control numbers in, bytes and rejections out. `deliver` is the only part that touches
//! files, and it reaches the store only through `store::Store`'s outbox methods.

mod csv;
pub(crate) mod deliver;
mod fields;
mod spec;
mod value;
mod x12;

use chrono::{DateTime, Utc};

pub(crate) use spec::{OutMapping, SpecError};

use crate::store::{Change, ChangeKind, ControlMove, OutboxChange, X12Controls};
use spec::Target;

/// A batch rendered: the file's bytes (empty when no change could go out), how many changes
/// it carries, the changes it rejected, and the control numbers it uses.
pub(crate) struct Rendered {
    pub(crate) bytes: Vec<u8>,
    pub(crate) delivered: usize,
    pub(crate) rejections: Vec<Change>,
    pub(crate) controls: Option<ControlMove>,
}

/// Render `changes` for outbox `name` through `mapping`. X12 control numbers continue after
/// `from`; the interchange is stamped with the newest change's time, so the same batch, from
/// the same control numbers, always gives the same bytes.
pub(crate) fn render(
    mapping: &OutMapping,
    name: &str,
    changes: &[OutboxChange],
    from: X12Controls,
) -> Rendered {
    let records = value::records(changes);
    let batch = value::Batch::of(changes);
    let (bytes, written, problems, controls) = match &mapping.target {
        Target::Csv(target) => {
            let (bytes, written, problems) = csv::write(target, &records, batch);
            (bytes, written, problems, None)
        }
        Target::X12(target) => {
            let stamp = changes
                .last()
                .and_then(|c| DateTime::parse_from_rfc3339(&c.at).ok())
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(Utc::now);
            let i = x12::write(target, &records, from, stamp, batch);
            let moved = ControlMove {
                partner: target.partner(),
                from,
                to: i.controls,
            };
            (i.bytes, i.written, i.problems, Some(moved))
        }
    };
    let delivered = written.iter().filter(|w| **w).count();
    let rejections = problems
        .into_iter()
        .map(|(i, p)| {
            let c = &changes[i];
            let field = if p.field.is_empty() {
                String::new()
            } else {
                format!("{}: ", p.field)
            };
            Change {
                fields: p.field.clone(),
                ..Change::whole(
                    ChangeKind::Rejected,
                    c.record_id,
                    c.key.clone(),
                    format!(
                        "outbox {name}: change {} ({}): {field}{} (mapping {})",
                        c.seq, c.change, p.reason, mapping.name
                    ),
                )
            }
        })
        .collect();
    Rendered {
        bytes: if delivered == 0 { Vec::new() } else { bytes },
        delivered,
        rejections,
        controls: if delivered == 0 { None } else { controls },
    }
}

/// The file name for a range of the change log: deterministic, so that a run redoing a range
/// writes the same name.
pub(crate) fn file_name(
    name: &str,
    first: i64,
    last: i64,
    replay_run: Option<i64>,
    ext: &str,
) -> String {
    match replay_run {
        None => format!("{name}-{first:09}-{last:09}.{ext}"),
        Some(run) => format!("{name}-replay{run}-{first:09}-{last:09}.{ext}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mapping in `mappings/outbox/` compiles, and is named `STREAM.FORMAT[-SET].toml`.
    #[test]
    fn the_shipped_mappings_compile_and_are_named_for_what_they_write() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/outbox");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let m = OutMapping::load(&path).unwrap_or_else(|e| panic!("{e}"));
            let name = path.file_name().unwrap().to_str().unwrap();
            let (stream, format) = name.trim_end_matches(".toml").split_once('.').unwrap();
            assert_eq!(m.stream.name(), stream, "{name}");
            match (&m.target, format) {
                (Target::Csv(_), "csv") => {}
                (Target::X12(t), f) => {
                    assert_eq!(f, format!("x12-{}", t.transaction_set), "{name}")
                }
                _ => panic!("{name}: format"),
            }
            seen += 1;
        }
        assert_eq!(seen, 10);
    }
}
