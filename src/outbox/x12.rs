//! A batch of changes as one X12 interchange: ISA (fixed width), one GS group, transaction
//! sets (one per record, or one holding every record), GE and IEA, with the segment, set and
//! group counts and the control numbers right. HL hierarchies number themselves and point at
//! their parents. Pure: the control numbers to start from and the timestamp are inputs.

use chrono::{DateTime, Utc};

use super::spec::{Element, Over, Segment, X12Target};
use super::value::{self, At, Batch, Problem, Record};
use crate::store::X12Controls;

/// Control numbers run 1 to 999,999,999 (nine digits), then start again at 1.
const MAX_CONTROL: i64 = 999_999_999;

fn next(n: i64) -> i64 {
    if n >= MAX_CONTROL {
        1
    } else {
        n + 1
    }
}

/// What one interchange holds.
pub(crate) struct Interchange {
    pub(crate) bytes: Vec<u8>,
    /// Per record: whether it was written.
    pub(crate) written: Vec<bool>,
    pub(crate) problems: Vec<(usize, Problem)>,
    /// The last control numbers used.
    pub(crate) controls: X12Controls,
}

/// One segment being assembled: its id and elements.
struct Seg {
    id: String,
    elements: Vec<String>,
}

/// A transaction set being assembled.
struct SetBuilder {
    segments: Vec<Seg>,
    /// Per HL segment: its index in `segments`, its HL01 and its parent's HL01.
    hls: Vec<(usize, usize, Option<usize>)>,
    /// The last HL01 written at each depth of the chain.
    last_at_depth: Vec<Option<usize>>,
    records_written: usize,
}

impl SetBuilder {
    fn new() -> Self {
        SetBuilder {
            segments: Vec::new(),
            hls: Vec::new(),
            last_at_depth: Vec::new(),
            records_written: 0,
        }
    }

    fn hl(&mut self, code: &str, depth: usize) {
        let id = self.hls.len() + 1;
        let parent = if depth == 0 {
            None
        } else {
            self.last_at_depth.get(depth - 1).copied().flatten()
        };
        if self.last_at_depth.len() <= depth {
            self.last_at_depth.resize(depth + 1, None);
        }
        self.last_at_depth[depth] = Some(id);
        self.last_at_depth.truncate(depth + 1);
        self.hls.push((self.segments.len(), id, parent));
        self.segments.push(Seg {
            id: "HL".into(),
            elements: vec![
                id.to_string(),
                parent.map(|p| p.to_string()).unwrap_or_default(),
                code.to_string(),
                String::new(),
            ],
        });
    }

    /// HL04: 1 when some HL names this one as its parent, else 0.
    fn finish_hls(&mut self) {
        let parents: std::collections::HashSet<usize> =
            self.hls.iter().filter_map(|(_, _, p)| *p).collect();
        for (index, id, _) in &self.hls {
            self.segments[*index].elements[3] =
                if parents.contains(id) { "1" } else { "0" }.to_string();
        }
    }

    /// A copy of the state a record's segments can be rolled back to.
    fn mark(&self) -> (usize, usize, Vec<Option<usize>>) {
        (
            self.segments.len(),
            self.hls.len(),
            self.last_at_depth.clone(),
        )
    }

    fn roll_back(&mut self, mark: (usize, usize, Vec<Option<usize>>)) {
        self.segments.truncate(mark.0);
        self.hls.truncate(mark.1);
        self.last_at_depth = mark.2;
    }
}

/// Separators in a value would split it: a problem for its record.
fn check_separators(t: &X12Target, label: &str, v: &str) -> Result<(), Problem> {
    let mut seps = vec![t.element, t.segment, t.component];
    if t.isa11 != 'U' {
        seps.push(t.isa11);
    }
    match v.chars().find(|c| seps.contains(c)) {
        Some(c) => Err(Problem {
            field: label.to_string(),
            reason: format!("{v:?} holds the X12 separator {c:?}"),
        }),
        None => Ok(()),
    }
}

/// Write `body` for the current record (and line) into `set`.
fn body(
    t: &X12Target,
    segments: &[Segment],
    set: &mut SetBuilder,
    at: At<'_, '_>,
    records: &[Record<'_>],
    problems: &mut Vec<(Option<i64>, Problem)>,
) {
    for segment in segments {
        match segment {
            Segment::Hl { code, depth } => set.hl(code, *depth),
            Segment::Plain { id, elements } => {
                let at = At {
                    records_written: set.records_written,
                    hl_written: set.hls.len(),
                    ..at
                };
                let mut out = Vec::with_capacity(elements.len());
                let mut any_value = false;
                let mut all_empty = true;
                for e in elements {
                    match e {
                        Element::Literal(text) => out.push(text.clone()),
                        Element::Value(spec) => {
                            any_value = true;
                            match value::render(spec, &at)
                                .and_then(|v| check_separators(t, &spec.label, &v).map(|_| v))
                            {
                                Ok(v) => {
                                    all_empty &= v.is_empty();
                                    out.push(v);
                                }
                                Err(p) => {
                                    problems.push((None, p));
                                    out.push(String::new());
                                }
                            }
                        }
                    }
                }
                if any_value && all_empty {
                    continue;
                }
                while out.last().is_some_and(String::is_empty) {
                    out.pop();
                }
                set.segments.push(Seg {
                    id: id.clone(),
                    elements: out,
                });
            }
            Segment::Each { over, body: inner } => match over {
                Over::Lines => {
                    let Some(record) = at.record else { continue };
                    for (i, line) in record.lines().iter().enumerate() {
                        let at = At {
                            line: Some((i + 1, line)),
                            ..at
                        };
                        body(t, inner, set, at, records, problems);
                    }
                }
                Over::Records => {
                    // Only reached in a set that holds the whole file; `records` are its
                    // records that can be read, with their positions among all changes.
                    for record in records {
                        let mark = set.mark();
                        let mut mine = Vec::new();
                        let at = At {
                            record: Some(record),
                            record_index: set.records_written + 1,
                            ..at
                        };
                        body(t, inner, set, at, records, &mut mine);
                        if mine.is_empty() {
                            set.records_written += 1;
                        } else {
                            set.roll_back(mark);
                            let seq = record.change.seq;
                            problems.extend(mine.into_iter().map(|(_, p)| (Some(seq), p)));
                        }
                    }
                }
            },
        }
    }
}

/// Write the interchange for `records`, starting after the control numbers `from`, stamped
/// with `stamp` (the newest change's time, so the same batch always gives the same bytes).
pub(crate) fn write(
    t: &X12Target,
    records: &[Result<Record<'_>, Problem>],
    from: X12Controls,
    stamp: DateTime<Utc>,
    batch: Batch<'_>,
) -> Interchange {
    let mut problems = Vec::new();
    let mut written = vec![false; records.len()];
    let mut sets: Vec<SetBuilder> = Vec::new();
    if t.set_per_record {
        set_per_record(t, records, batch, &mut sets, &mut written, &mut problems);
    } else {
        set_per_file(t, records, batch, &mut sets, &mut written, &mut problems);
    }
    if sets.is_empty() {
        return Interchange {
            bytes: Vec::new(),
            written,
            problems,
            controls: from,
        };
    }
    let (bytes, controls) = envelope(t, sets, from, stamp);
    Interchange {
        bytes,
        written,
        problems,
        controls,
    }
}

/// One transaction set per record: a record with a problem is left out, with its problems.
fn set_per_record(
    t: &X12Target,
    records: &[Result<Record<'_>, Problem>],
    batch: Batch<'_>,
    sets: &mut Vec<SetBuilder>,
    written: &mut [bool],
    problems: &mut Vec<(usize, Problem)>,
) {
    let empty: [Record<'_>; 0] = [];
    for (i, record) in records.iter().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(p) => {
                problems.push((i, p.clone()));
                continue;
            }
        };
        let mut set = SetBuilder::new();
        let mut mine = Vec::new();
        let at = At {
            record: Some(record),
            record_index: sets.len() + 1,
            line: None,
            set_records: &empty,
            records_written: 0,
            hl_written: 0,
            batch,
        };
        body(t, &t.body, &mut set, at, &empty, &mut mine);
        if mine.is_empty() {
            set.records_written = 1;
            written[i] = true;
            sets.push(set);
        } else {
            problems.extend(mine.into_iter().map(|(_, p)| (i, p)));
        }
    }
}

/// One transaction set holding every record of the file.
fn set_per_file(
    t: &X12Target,
    records: &[Result<Record<'_>, Problem>],
    batch: Batch<'_>,
    sets: &mut Vec<SetBuilder>,
    written: &mut [bool],
    problems: &mut Vec<(usize, Problem)>,
) {
    let mut readable = Vec::new();
    let mut positions = Vec::new();
    for (i, record) in records.iter().enumerate() {
        match record {
            Ok(r) => {
                readable.push(Record {
                    change: r.change,
                    body: r.body.clone(),
                });
                positions.push(i);
            }
            Err(p) => problems.push((i, p.clone())),
        }
    }
    let render_set = |readable: &[Record<'_>]| {
        let mut set = SetBuilder::new();
        let mut raw = Vec::new();
        let at = At {
            record: None,
            record_index: 0,
            line: None,
            set_records: readable,
            records_written: 0,
            hl_written: 0,
            batch,
        };
        body(t, &t.body, &mut set, at, readable, &mut raw);
        (set, raw)
    };
    let (mut set, mut raw) = render_set(&readable);
    if raw.iter().any(|(seq, _)| seq.is_some()) {
        // Records left out: the set's counts and sums (CTT) must be those of the records
        // it holds, so it is rendered again from those alone; their problems stay.
        let failed: std::collections::HashSet<i64> =
            raw.iter().filter_map(|(seq, _)| *seq).collect();
        let kept: Vec<Record<'_>> = readable
            .iter()
            .filter(|r| !failed.contains(&r.change.seq))
            .map(|r| Record {
                change: r.change,
                body: r.body.clone(),
            })
            .collect();
        let (again, again_raw) = render_set(&kept);
        set = again;
        raw.retain(|(seq, _)| seq.is_some());
        raw.extend(again_raw);
    }
    // A problem inside the records loop leaves its record out; one outside it (a summary
    // segment) stops the whole set, and so every record of it.
    let mut failed_seqs = std::collections::HashSet::new();
    for (seq, p) in raw {
        match seq {
            Some(seq) => {
                if let Some(k) = readable.iter().position(|r| r.change.seq == seq) {
                    failed_seqs.insert(seq);
                    problems.push((positions[k], p));
                }
            }
            None => {
                for (k, r) in readable.iter().enumerate() {
                    failed_seqs.insert(r.change.seq);
                    problems.push((positions[k], p.clone()));
                }
            }
        }
    }
    for (k, r) in readable.iter().enumerate() {
        if !failed_seqs.contains(&r.change.seq) {
            written[positions[k]] = true;
        }
    }
    if written.iter().any(|w| *w) {
        sets.push(set);
    }
}

/// The interchange around `sets`: ISA, GS, each ST...SE with its control number, GE, IEA;
/// with the control numbers it used last.
fn envelope(
    t: &X12Target,
    sets: Vec<SetBuilder>,
    from: X12Controls,
    stamp: DateTime<Utc>,
) -> (Vec<u8>, X12Controls) {
    let interchange = next(from.interchange);
    let mut set_control = from.transaction_set;
    let mut out = String::new();
    let e = t.element;
    let put = |out: &mut String, id: &str, elements: &[String]| {
        out.push_str(id);
        for el in elements {
            out.push(e);
            out.push_str(el);
        }
        out.push(t.segment);
        if t.newline {
            out.push('\n');
        }
    };
    let isa = [
        "00".to_string(),
        " ".repeat(10),
        "00".to_string(),
        " ".repeat(10),
        t.sender_qualifier.clone(),
        format!("{:<15}", t.sender_id),
        t.receiver_qualifier.clone(),
        format!("{:<15}", t.receiver_id),
        stamp.format("%y%m%d").to_string(),
        stamp.format("%H%M").to_string(),
        t.isa11.to_string(),
        t.version[..5].to_string(),
        format!("{interchange:09}"),
        "0".to_string(),
        t.usage.to_string(),
        t.component.to_string(),
    ];
    put(&mut out, "ISA", &isa);
    put(
        &mut out,
        "GS",
        &[
            t.functional_id.clone(),
            t.application_sender.clone(),
            t.application_receiver.clone(),
            stamp.format("%Y%m%d").to_string(),
            stamp.format("%H%M").to_string(),
            interchange.to_string(),
            "X".to_string(),
            t.version.clone(),
        ],
    );
    let count = sets.len();
    for mut set in sets {
        set.finish_hls();
        set_control = next(set_control);
        let control = format!("{set_control:04}");
        put(
            &mut out,
            "ST",
            &[t.transaction_set.clone(), control.clone()],
        );
        for seg in &set.segments {
            put(&mut out, &seg.id, &seg.elements);
        }
        put(
            &mut out,
            "SE",
            &[(set.segments.len() + 2).to_string(), control],
        );
    }
    put(
        &mut out,
        "GE",
        &[count.to_string(), interchange.to_string()],
    );
    put(
        &mut out,
        "IEA",
        &["1".to_string(), format!("{interchange:09}")],
    );
    (
        out.into_bytes(),
        X12Controls {
            interchange,
            transaction_set: set_control,
        },
    )
}
