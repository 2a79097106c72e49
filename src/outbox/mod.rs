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

    fn change(seq: i64, body: &str) -> OutboxChange {
        OutboxChange {
            seq,
            run: 1,
            at: "2026-11-20T09:30:00Z".into(),
            record_id: Some(seq),
            key: format!("K{seq}"),
            change: "created".into(),
            fields: String::new(),
            body: Some(body.into()),
        }
    }

    fn segments(bytes: &[u8]) -> Vec<String> {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .lines()
            .map(|l| l.trim_end_matches('~').to_string())
            .collect()
    }

    #[test]
    fn a_file_set_counts_only_the_records_it_holds() {
        let m = OutMapping::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("mappings/outbox/inventory.x12-846.toml"),
        )
        .unwrap();
        let changes = [
            change(
                4,
                r#"{"id":4,"item_number":"A","warehouse":"ATL","quantity_on_hand":5,"quantity_available":3}"#,
            ),
            change(
                5,
                r#"{"id":5,"item_number":"B","quantity_on_hand":9,"quantity_available":9}"#,
            ),
            change(
                6,
                r#"{"id":6,"item_number":"C","warehouse":"DAL","quantity_on_hand":2,"quantity_available":2}"#,
            ),
        ];
        let r = render(
            &m,
            "inv",
            &changes,
            X12Controls {
                interchange: 41,
                transaction_set: 7,
            },
        );
        assert_eq!(r.delivered, 2);
        assert_eq!(r.rejections.len(), 1);
        assert_eq!(r.rejections[0].fields, "warehouse");
        assert_eq!(r.rejections[0].key, "K5");
        let segs = segments(&r.bytes);
        assert!(segs[0].starts_with("ISA*00*          *00*          *ZZ*AHEADSYS       *ZZ*ACMECORP       *261120*0930*U*00401*000000042*0*P*>"), "{}", segs[0]);
        assert_eq!(segs[1], "GS*IB*AHEADSYS*ACMECORP*20261120*0930*42*X*004010");
        assert_eq!(segs[2], "ST*846*0008");
        assert_eq!(segs[3], "BIA*00*SI*4*20261120");
        assert!(segs.contains(&"LIN*2*VN*C".to_string()), "{segs:?}");
        assert!(!segs.iter().any(|s| s.ends_with("*B")));
        assert!(segs.contains(&"CTT*2*5".to_string()), "{segs:?}");
        let se = segs.iter().position(|s| s.starts_with("SE*")).unwrap();
        assert_eq!(segs[se], format!("SE*{}*0008", se - 1));
        assert_eq!(segs[se + 1..], ["GE*1*42", "IEA*1*000000042"]);
        let moved = r.controls.unwrap();
        assert_eq!((moved.to.interchange, moved.to.transaction_set), (42, 8));
    }

    #[test]
    fn the_856_hierarchy_links_every_item_to_its_order() {
        let m = OutMapping::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("mappings/outbox/shipments.x12-856.toml"),
        )
        .unwrap();
        let record = r#"{"id":9,"tracking_number":"1Z9","carrier":"UPS","service":"Ground","purchase_order_number":"PO-1","shipped_at":"2026-11-20T08:15:00Z","delivered_at":null,"lines":[{"item_number":"A","quantity":2,"serial_numbers":[]},{"item_number":"B","quantity":3,"serial_numbers":[]}]}"#;
        let r = render(&m, "s", &[change(9, record)], X12Controls::default());
        let segs = segments(&r.bytes);
        let body: Vec<&str> = segs[3..segs.len() - 3].iter().map(String::as_str).collect();
        assert_eq!(
            body,
            [
                "BSN*00*1Z9*20261120*0815*0004",
                "HL*1**S*1",
                "TD5*B*2*UPSN*U*Ground",
                "REF*CN*1Z9",
                "DTM*011*20261120*0815",
                "HL*2*1*O*1",
                "PRF*PO-1",
                "HL*3*2*I*0",
                "LIN*1*VN*A",
                "SN1*1*2*EA",
                "HL*4*2*I*0",
                "LIN*2*VN*B",
                "SN1*2*3*EA",
                "CTT*4*5",
            ]
        );
        assert_eq!(segs[segs.len() - 3], "SE*16*0001");
        // A separator inside a value rejects the record instead of splitting a segment.
        let r = render(
            &m,
            "s",
            &[change(9, &record.replace("1Z9", "1Z*9"))],
            X12Controls::default(),
        );
        assert_eq!((r.delivered, r.bytes.len()), (0, 0));
        assert!(r.controls.is_none(), "no file, no control number taken");
        assert_eq!(r.rejections[0].fields, "tracking_number");
        assert!(
            r.rejections[0].detail.contains("separator"),
            "{}",
            r.rejections[0].detail
        );
    }
}
