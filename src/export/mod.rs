//! Exports: the local mirror and the change log as CSV (RFC 4180, header row) or JSON lines;
//! the finance reports (reconciliation, aging) in `report`, also as xlsx.
//! Money stays exactly as AHEAD sent it (strings); nested values (lines, addresses) are written
//! as JSON text in their CSV cell. Text is written exactly too, unless CSV is asked to be
//! `excel_safe` (see `formula`).

mod columns;
mod formula;
pub(crate) mod report;

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use serde_json::{Map, Value};

use crate::pull::StreamKind;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `excel_safe`: text a spreadsheet would run as a formula gets a `'` in front.
    Csv {
        excel_safe: bool,
    },
    JsonLines,
}

/// Where an export goes: a file (written beside and renamed into place, so a reader never sees
/// half of it) or standard output.
pub(crate) struct Output {
    target: Option<std::path::PathBuf>,
    temp: Option<std::path::PathBuf>,
    writer: Box<dyn Write>,
}

impl Output {
    pub(crate) fn open(out: Option<&Path>) -> anyhow::Result<Output> {
        match out {
            None => Ok(Output {
                target: None,
                temp: None,
                writer: Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            }),
            Some(path) => {
                let temp = path.with_extension(format!(
                    "{}.partial",
                    path.extension().and_then(|e| e.to_str()).unwrap_or("out")
                ));
                let file = std::fs::File::create(&temp)
                    .with_context(|| format!("cannot write {}", temp.display()))?;
                Ok(Output {
                    target: Some(path.to_path_buf()),
                    temp: Some(temp),
                    writer: Box::new(std::io::BufWriter::new(file)),
                })
            }
        }
    }

    pub(crate) fn writer(&mut self) -> &mut dyn Write {
        &mut self.writer
    }

    pub(crate) fn finish(mut self) -> anyhow::Result<()> {
        self.writer.flush()?;
        drop(self.writer);
        if let (Some(temp), Some(target)) = (self.temp.take(), self.target.take()) {
            std::fs::rename(&temp, &target)
                .with_context(|| format!("cannot write {}", target.display()))?;
        }
        Ok(())
    }
}

/// Whether an export failed only because the reader of its output went away: the pipe was
/// closed (`ahead-sync export changes | head`). That is how such a pipeline ends, not an error.
/// csv and serde_json keep an I/O error inside their own rather than as its source, so both
/// are looked into.
pub(crate) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io.kind() == BrokenPipe;
        }
        if let Some(csv) = cause.downcast_ref::<csv::Error>() {
            return matches!(csv.kind(), csv::ErrorKind::Io(io) if io.kind() == BrokenPipe);
        }
        cause
            .downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind)
            == Some(BrokenPipe)
    })
}

/// What a mirror export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MirrorExport {
    Inventory,
    Invoices,
    Shipments,
    /// Purchase and fulfillment orders together, with `kind` and `number` first.
    Orders,
}

/// What a mirror export wrote, and how many stored records it could not read (each named in a
/// warning and left out, so one bad record never stops the export of the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exported {
    pub written: u64,
    pub unreadable: u64,
}

/// Write the mirror.
pub(crate) fn export_mirror(
    store: &Store,
    what: MirrorExport,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<Exported> {
    let parts: Vec<(StreamKind, Option<(&str, &str)>)> = match what {
        MirrorExport::Inventory => vec![(StreamKind::Inventory, None)],
        MirrorExport::Invoices => vec![(StreamKind::Invoices, None)],
        MirrorExport::Shipments => vec![(StreamKind::Shipments, None)],
        MirrorExport::Orders => crate::kinds::OrderKind::ALL
            .into_iter()
            .map(|k| (k.stream(), Some((k.as_str(), k.number_field()))))
            .collect(),
    };
    let columns = columns::for_export(what);
    let mut sink = Sink::new(format, out, &columns)?;
    let mut n = 0u64;
    let mut unreadable = 0u64;
    for (stream, order) in parts {
        let result = store.for_each_snapshot(stream.name(), |id, _, body| {
            let mut record: Map<String, Value> = match serde_json::from_str(body) {
                Ok(record) => record,
                Err(e) => {
                    unreadable += 1;
                    tracing::warn!(stream = stream.name(), id, error = %e, "A stored record cannot be read; it is left out of the export.");
                    return Ok(());
                }
            };
            if let Some((kind, number_field)) = order {
                let number = record.get(number_field).cloned().unwrap_or(Value::Null);
                let mut with_kind = Map::new();
                with_kind.insert("kind".into(), Value::from(kind));
                with_kind.insert("number".into(), number);
                with_kind.extend(record);
                record = with_kind;
            }
            n += 1;
            sink.write(&record, &columns)
        })?;
        result?;
    }
    sink.flush()?;
    Ok(Exported {
        written: n,
        unreadable,
    })
}

/// Write the change log, filtered; returns the number of entries written.
pub(crate) fn export_changes(
    store: &Store,
    stream: Option<&str>,
    run: Option<i64>,
    since: Option<&str>,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    let columns = columns::CHANGES.to_vec();
    let mut sink = Sink::new(format, out, &columns)?;
    let mut n = 0u64;
    let result = store.for_each_change(stream, run, since, |row| {
        let mut record = Map::new();
        record.insert("run".into(), row.run.into());
        record.insert("at".into(), row.at.into());
        record.insert("stream".into(), row.stream.into());
        record.insert(
            "id".into(),
            row.record_id.map(Value::from).unwrap_or(Value::Null),
        );
        record.insert("key".into(), row.key.into());
        record.insert("change".into(), row.change.into());
        record.insert("fields".into(), row.fields.into());
        record.insert("detail".into(), row.detail.into());
        let json = |s: Option<String>| {
            s.and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(Value::Null)
        };
        record.insert("before".into(), json(row.before));
        record.insert("after".into(), json(row.after));
        n += 1;
        sink.write(&record, &columns)
    })?;
    result?;
    sink.flush()?;
    Ok(n)
}

/// Records out, as CSV rows under a header or as JSON lines.
enum Sink<'a> {
    Csv {
        writer: Box<csv::Writer<&'a mut dyn Write>>,
        excel_safe: bool,
    },
    Json(&'a mut dyn Write),
}

impl<'a> Sink<'a> {
    fn new(format: Format, out: &'a mut dyn Write, columns: &[&str]) -> anyhow::Result<Sink<'a>> {
        Ok(match format {
            Format::Csv { excel_safe } => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(columns)?;
                Sink::Csv {
                    writer: Box::new(w),
                    excel_safe,
                }
            }
            Format::JsonLines => Sink::Json(out),
        })
    }

    fn write(&mut self, record: &Map<String, Value>, columns: &[&str]) -> anyhow::Result<()> {
        match self {
            Sink::Csv { writer, excel_safe } => {
                let cells = columns.iter().map(|c| cell(record.get(*c)));
                if *excel_safe {
                    writer.write_record(cells.map(|c| formula::neutralise(&c).into_owned()))?
                } else {
                    writer.write_record(cells)?
                }
            }
            Sink::Json(out) => {
                serde_json::to_writer(&mut **out, record)?;
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        match self {
            Sink::Csv { writer, .. } => writer.flush()?,
            Sink::Json(out) => out.flush()?,
        }
        Ok(())
    }
}

/// A CSV cell: strings as they are (money keeps its exact text), null empty, nested JSON as text.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader has gone away.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_recognised_through_every_writer() {
        let io = |kind: std::io::ErrorKind| anyhow::Error::new(std::io::Error::from(kind));
        let mut record = Map::new();
        record.insert("a".into(), Value::from("x"));
        let through = |format: Format| {
            let mut out = ClosedPipe;
            let mut sink = Sink::new(format, &mut out, &["a"])?;
            sink.write(&record, &["a"])?;
            sink.flush()
        };
        let table: Vec<(&str, anyhow::Error, bool)> = vec![
            ("io", io(std::io::ErrorKind::BrokenPipe), true),
            (
                "io with context",
                io(std::io::ErrorKind::BrokenPipe).context("cannot write"),
                true,
            ),
            (
                "csv sink",
                through(Format::Csv { excel_safe: false }).unwrap_err(),
                true,
            ),
            ("json sink", through(Format::JsonLines).unwrap_err(), true),
            (
                "another io error",
                io(std::io::ErrorKind::StorageFull),
                false,
            ),
            (
                "a json syntax error",
                serde_json::from_str::<Value>("{").unwrap_err().into(),
                false,
            ),
            ("a message", anyhow::anyhow!("broken pipe"), false),
        ];
        for (what, error, want) in table {
            assert_eq!(is_broken_pipe(&error), want, "{what}: {error:#}");
        }
    }
}
