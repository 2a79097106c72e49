//! Reading a file to push, on a blocking thread, in bounded memory: pass one (is it whole, can
//! it be read, which CSV keys have rows that are not adjacent), under `on_error = "fail-file"` a
//! validation pass, then the orders in batches through a bounded channel to the sender.
//!
//! The file is read through `std::fs::File`, never memory-mapped: an ERP truncating a mapped
//! file would kill the process with SIGBUS. Each pass reads at most the length the file had
//! when it was taken, so rows appended meanwhile wait for the next run.

use std::io::Read;
use std::path::Path;

use tokio::sync::mpsc;

use super::inbox::Seen;
use crate::mapping::{
    scan_orders, stream_orders, Mapping, MappingError, OrderSink, ReadPlan, ReadStats, Rejection,
    RowSpill, SourceFormat, SourceOrder, SpillError, SpilledRow,
};
use crate::store::Spill;

/// Orders (and the rejections found with them) go to the sender this many at a time.
pub(super) const BATCH: usize = 256;

/// Batches waiting for the sender while it sends one: the reader stays a little ahead.
const QUEUED: usize = 2;

/// What the reader hands the sender.
#[derive(Default)]
pub(super) struct Batch {
    pub orders: Vec<SourceOrder>,
    pub rejections: Vec<Rejection>,
}

/// What pass one decided.
pub(super) enum Prepared {
    /// Not yet: the file is not whole, or changed while it was read (inbox files).
    Wait(String),
    /// The whole file is rejected, before any of its orders is sent.
    Rejected(MappingError),
    /// The orders can be read.
    Ready(ReadPlan),
}

fn open(path: &Path, shown: &str, limit: u64) -> Result<impl Read, MappingError> {
    let file = std::fs::File::open(path).map_err(|source| MappingError::Read {
        file: shown.to_string(),
        source,
    })?;
    Ok(file.take(limit))
}

/// Whether an X12 file ends with its IEA, judged from its first and last bytes.
fn x12_whole(path: &Path, shown: &str, limit: u64) -> Result<Option<String>, MappingError> {
    use std::io::{Seek, SeekFrom};
    const HEAD: u64 = 4096;
    const TAIL: u64 = 64 * 1024;
    let read = |source| MappingError::Read {
        file: shown.to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read)?;
    let mut bytes = Vec::new();
    if limit <= HEAD + TAIL {
        file.take(limit).read_to_end(&mut bytes).map_err(read)?;
    } else {
        (&mut file)
            .take(HEAD)
            .read_to_end(&mut bytes)
            .map_err(read)?;
        file.seek(SeekFrom::Start(limit - TAIL)).map_err(read)?;
        file.take(TAIL).read_to_end(&mut bytes).map_err(read)?;
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    Ok(crate::mapping::x12_incomplete(bytes).map(|why| why.to_string()))
}

/// Pass one, and under `fail-file` the validation pass. `seen`: an inbox file, which must be
/// whole and must not change while it is read.
pub(super) fn prepare(
    mapping: &Mapping,
    path: &Path,
    shown: &str,
    limit: u64,
    seen: Option<&Seen>,
) -> Result<Prepared, MappingError> {
    let scan = scan_orders(mapping, shown, open(path, shown, limit)?)?;
    if let Some(seen) = seen {
        let incomplete = match &mapping.source {
            SourceFormat::Csv(_) => scan.incomplete.map(|why| why.to_string()),
            SourceFormat::X12(_) => x12_whole(path, shown, limit)?,
        };
        if let Some(why) = incomplete {
            return Ok(Prepared::Wait(format!(
                "{why}: the ERP may still be writing it"
            )));
        }
        if !seen.unchanged(path) {
            return Ok(Prepared::Wait("it changed while it was read".into()));
        }
    }
    let plan = match scan.plan {
        Ok(plan) => plan,
        Err(e @ (MappingError::MissingColumn { .. } | MappingError::Unreadable { .. })) => {
            return Ok(Prepared::Rejected(e))
        }
        Err(e) => return Err(e),
    };
    if mapping.on_error == crate::mapping::OnError::FailFile {
        // Nothing of the file is sent when any of it fails: every order is read (and
        // dropped) before the first is sent.
        let mut rows = Rows::default();
        let input = open(path, shown, limit)?;
        match stream_orders(mapping, shown, input, &plan, &mut rows, &mut Discard) {
            Ok(_) => {}
            Err(e @ MappingError::FailFile { .. }) => return Ok(Prepared::Rejected(e)),
            Err(e) => return Err(e),
        }
    }
    Ok(Prepared::Ready(plan))
}

/// Pass two: every order of the file, in batches, to `tx`. Returns what the read held at
/// most; `MappingError::Stopped` when the sender stopped taking batches.
pub(super) fn read_batches(
    mapping: &Mapping,
    path: &Path,
    shown: &str,
    limit: u64,
    plan: &ReadPlan,
    tx: mpsc::Sender<Batch>,
) -> Result<ReadStats, MappingError> {
    let mut rows = Rows::default();
    let mut sink = Batches {
        tx,
        batch: Batch::default(),
        peak: 0,
    };
    let input = open(path, shown, limit)?;
    let mut stats = stream_orders(mapping, shown, input, plan, &mut rows, &mut sink)?;
    sink.flush()?;
    stats.orders_held_peak += sink.peak;
    Ok(stats)
}

/// The channel between the reader and the sender.
pub(super) fn channel() -> (mpsc::Sender<Batch>, mpsc::Receiver<Batch>) {
    mpsc::channel(QUEUED)
}

/// Orders into batches, each sent when full.
struct Batches {
    tx: mpsc::Sender<Batch>,
    batch: Batch,
    /// The most orders a batch held before it was sent.
    peak: usize,
}

impl Batches {
    fn flush(&mut self) -> Result<(), MappingError> {
        if self.batch.orders.is_empty() && self.batch.rejections.is_empty() {
            return Ok(());
        }
        self.peak = self.peak.max(self.batch.orders.len());
        let batch = std::mem::take(&mut self.batch);
        self.tx
            .blocking_send(batch)
            .map_err(|_| MappingError::Stopped)
    }
}

impl OrderSink for Batches {
    fn order(&mut self, order: SourceOrder) -> Result<(), MappingError> {
        self.batch.orders.push(order);
        if self.batch.orders.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn rejection(&mut self, rejection: Rejection) -> Result<(), MappingError> {
        self.batch.rejections.push(rejection);
        if self.batch.rejections.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }
}

/// The validation pass keeps nothing.
struct Discard;

impl OrderSink for Discard {
    fn order(&mut self, _: SourceOrder) -> Result<(), MappingError> {
        Ok(())
    }

    fn rejection(&mut self, _: Rejection) -> Result<(), MappingError> {
        Ok(())
    }
}

/// Rows of orders spread through a CSV file, in a spill file (created with the first such
/// row).
#[derive(Default)]
struct Rows {
    spill: Option<Spill>,
}

impl RowSpill for Rows {
    fn put(&mut self, bucket: u64, line: usize, row: &[u8]) -> Result<(), SpillError> {
        let spill = match &mut self.spill {
            Some(spill) => spill,
            None => self.spill.insert(Spill::new()?),
        };
        Ok(spill.put(bucket as i64, line as i64, row)?)
    }

    fn drain(&mut self, each: &mut SpilledRow<'_>) -> Result<(), MappingError> {
        let Some(spill) = &mut self.spill else {
            return Ok(());
        };
        spill
            .for_each_sorted(|bucket, line, row| each(bucket as u64, line as usize, row))
            .map_err(|e| MappingError::Spill {
                source: Box::new(e),
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> Mapping {
        Mapping::parse(
            "kind = \"purchase_order\"\n[source]\nformat = \"csv\"\ngroup_by = \"PO\"\n[fields]\npo_number = { column = \"PO\" }\n\"lines[].item_number\" = { column = \"Item\" }\n\"lines[].quantity\" = { column = \"Qty\" }\n",
            "t.toml",
        )
        .unwrap()
    }

    /// Pass two reads the rows pass one planned for. A file whose orders were regrouped in
    /// between (an order's rows no longer adjacent) is refused as changed, not read as two
    /// orders of the same number.
    #[test]
    fn a_file_regrouped_between_the_two_passes_is_refused_as_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("po.csv");
        let planned = "PO,Item,Qty\nA,X,1\nB,Y,1\nC,Z,1\n";
        let regrouped = "PO,Item,Qty\nA,X,1\nB,Y,1\nA,Z,1\n";
        assert_eq!(planned.len(), regrouped.len());
        let map = mapping();
        let read = |plan: &ReadPlan| {
            let (tx, mut rx) = channel();
            let result = read_batches(&map, &path, "po.csv", planned.len() as u64, plan, tx);
            let mut numbers = Vec::new();
            while let Ok(batch) = rx.try_recv() {
                numbers.extend(batch.orders.into_iter().map(|o| o.number));
            }
            (result, numbers)
        };
        std::fs::write(&path, planned).unwrap();
        let Prepared::Ready(plan) =
            prepare(&map, &path, "po.csv", planned.len() as u64, None).unwrap()
        else {
            panic!("the file is ready");
        };
        let (result, numbers) = read(&plan);
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(numbers, ["A", "B", "C"]);

        std::fs::write(&path, regrouped).unwrap();
        let (result, _) = read(&plan);
        assert!(
            matches!(result, Err(MappingError::Changed { .. })),
            "{result:?}"
        );
    }
}
