//! The mapping engine: ERP files (CSV, X12 850/940) in, AHEAD order bodies out; and the ERP's
//! AP ledger (CSV, `kind = "ap_ledger"`) in, one record per row out, for the reconciliation.
//!
//! Layout:
//! - `spec`: the TOML mapping format and its compile step ([`Mapping`]), one file per part of
//!   the format (its `mod.rs` lists them).
//! - `csv_source`: reads CSV rows and groups line rows into orders (or, for a record kind,
//!   turns each row into one record).
//! - `x12`: the X12 tokenizer (separators from the ISA header) and one order per ST/SE.
//! - `convert`: turns a source value into the JSON the API wants and assembles order bodies.
//!
//! Architecture invariant: this module is pure. It is handed bytes and a compiled mapping and
//! returns orders and rejections; it never opens a file (except [`Mapping::load`]), talks to the
//! network or the store, or reads the clock. It does not know the item catalog either: item
//! numbers are exposed ([`SourceOrder::item_numbers`]) for the push job to check.

mod complete;
mod convert;
mod csv_source;
mod spec;
pub(crate) mod x12;

use std::fmt;

use thiserror::Error;

pub(crate) use complete::{x12_incomplete, Incomplete};
pub(crate) use convert::hash_json;
pub use convert::SourceOrder;
pub use csv_source::ReadStats;
pub use spec::{Mapping, OnError};
pub(crate) use spec::{SourceFormat, Target};

/// A row (CSV) or transaction set (X12) problem: the order it belongs to is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The source file's name, as given to [`read_orders`].
    pub file: String,
    /// 1-based physical line in the file (CSV: the header is line 1).
    pub line: usize,
    /// X12 only: the segment's 1-based ordinal in the file (ISA = 1).
    pub segment: Option<usize>,
    /// The order number, when it could be read.
    pub order: Option<String>,
    /// The API field (`lines[].quantity`), or for envelope problems the X12 element (`SE01`).
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(segment) = self.segment {
            write!(f, " (segment {segment})")?;
        }
        if let Some(order) = &self.order {
            write!(f, " order {order}")?;
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.reason)
    }
}

/// What a file gave: the orders ready to push, and the problems that kept others back.
#[derive(Debug, Clone, Default)]
pub struct ReadResult {
    /// Complete, valid orders in the order they first appear in the file.
    pub orders: Vec<SourceOrder>,
    /// One entry per problem. Every order named here was left out of `orders` as a whole.
    pub rejections: Vec<Rejection>,
}

/// One row of a record kind (`ap_ledger`), read through the mapping: field key -> the value as
/// an order body would hold it (money as an exact string, dates as `YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SourceRecord {
    /// The source file's name, as given to [`read_records`].
    pub file: String,
    /// 1-based physical line (the header is line 1).
    pub line: usize,
    pub values: serde_json::Map<String, serde_json::Value>,
}

/// What a file of records gave: the good rows, and the problems with the others.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordsResult {
    /// Valid records, in file order.
    pub records: Vec<SourceRecord>,
    /// One entry per problem; a row named here is not in `records`.
    pub rejections: Vec<Rejection>,
}

/// A mapping that cannot be used, or a file that cannot be read at all.
#[derive(Debug, Error)]
pub enum MappingError {
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
    #[error("{file}: column \"{column}\" (for {field} in mapping {mapping}) is not in the header row; the header has: {available}")]
    MissingColumn {
        file: String,
        mapping: String,
        column: String,
        field: String,
        available: String,
    },
    #[error("{file}:{line}: {message}")]
    Unreadable {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{rejection} (on_error = \"fail-file\": the whole file is rejected, no order from it is sent)")]
    FailFile { rejection: Rejection },
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} changed between the two passes over it; it is read again by the next run")]
    Changed { file: String },
    #[error("cannot set rows aside while grouping them into orders: {source}")]
    Spill {
        #[source]
        source: SpillError,
    },
    /// The consumer of a streaming read stopped taking orders.
    #[error("the push stopped taking orders")]
    Stopped,
}

impl MappingError {
    /// The rejection that stopped the file under `on_error = "fail-file"`.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            MappingError::FailFile { rejection } => Some(rejection),
            _ => None,
        }
    }
}

/// Read every order in `bytes` (the content of the file named `file_name`) through `mapping`.
///
/// Pure: no I/O. A whole-file problem (a column the mapping names is missing, no ISA envelope,
/// a truncated interchange) is an error naming the file; a problem with one order is a
/// [`Rejection`] and the other orders still come back, unless the mapping says
/// `on_error = "fail-file"`, in which case the first problem is [`MappingError::FailFile`].
pub fn read_orders(
    mapping: &Mapping,
    file_name: &str,
    bytes: &[u8],
) -> Result<ReadResult, MappingError> {
    mapping.order_kind()?;
    match &mapping.source {
        SourceFormat::Csv(source) => csv_source::read(mapping, source, file_name, bytes),
        SourceFormat::X12(source) => x12::read(mapping, source, file_name, bytes),
    }
}

/// What the first pass over a file to push learnt: for a CSV whether it is whole (an X12
/// file's trailer is checked from the file's last bytes instead, see
/// [`complete::x12_incomplete`]), and the plan for the second pass, or the whole-file problem
/// (a missing column, a file that cannot be split into rows or segments) that stops the file
/// before any of its orders is sent.
pub(crate) struct Scan {
    pub(crate) incomplete: Option<Incomplete>,
    pub(crate) plan: Result<ReadPlan, MappingError>,
}

/// How the second pass reads a file.
#[derive(Debug, Clone)]
pub(crate) enum ReadPlan {
    Csv(csv_source::CsvPlan),
    X12,
}

/// Pass one over a file to push (see [`stream_orders`]). An error is a file that cannot be
/// read at all (I/O).
pub(crate) fn scan_orders<R: std::io::Read>(
    mapping: &Mapping,
    file_name: &str,
    input: R,
) -> Result<Scan, MappingError> {
    mapping.order_kind()?;
    Ok(match &mapping.source {
        SourceFormat::Csv(source) => {
            let scan = csv_source::scan(mapping, source, file_name, input)?;
            Scan {
                incomplete: scan.incomplete,
                plan: scan.plan.map(ReadPlan::Csv),
            }
        }
        SourceFormat::X12(_) => Scan {
            incomplete: None,
            plan: x12::scan(file_name, input)?.map(|()| ReadPlan::X12),
        },
    })
}

/// Pass two: read the orders of a file into `sink` as they are completed, holding only the
/// order being read (CSV: rows of orders whose rows are not adjacent wait in `spill` until
/// the end). The same orders and rejections as [`read_orders`], except that orders whose rows
/// are spread through a CSV file come after the others rather than where they first appear.
/// [`MappingError::Changed`]: the file is not the one `plan` was made from.
pub(crate) fn stream_orders<R: std::io::Read>(
    mapping: &Mapping,
    file_name: &str,
    input: R,
    plan: &ReadPlan,
    spill: &mut dyn RowSpill,
    sink: &mut dyn OrderSink,
) -> Result<ReadStats, MappingError> {
    match (&mapping.source, plan) {
        (SourceFormat::Csv(source), ReadPlan::Csv(plan)) => {
            csv_source::read_with(mapping, source, file_name, input, plan, spill, sink)
        }
        (SourceFormat::X12(source), ReadPlan::X12) => {
            x12::read_with(mapping, source, file_name, input, sink)?;
            Ok(ReadStats {
                orders_held_peak: usize::from(true),
            })
        }
        _ => Err(MappingError::Changed {
            file: file_name.to_string(),
        }),
    }
}

/// Read every record in `bytes` (the content of the file named `file_name`) through a mapping
/// of a record kind (`ap_ledger`): one record per row, no grouping.
///
/// Pure, like [`read_orders`]: a whole-file problem is an error naming the file; a problem with
/// a row is a [`Rejection`] (file, line, field, reason) and the other rows still come back,
/// unless the mapping says `on_error = "fail-file"`.
pub(crate) fn read_records(
    mapping: &Mapping,
    file_name: &str,
    bytes: &[u8],
) -> Result<RecordsResult, MappingError> {
    match (&mapping.source, mapping.kind.is_order()) {
        (SourceFormat::Csv(source), false) => {
            csv_source::read_records(mapping, source, file_name, bytes)
        }
        _ => Err(MappingError::Invalid {
            mapping: mapping.name.clone(),
            key: "kind".to_string(),
            message: format!(
                "kind = \"{}\" describes orders: read it with read_orders",
                mapping.kind.as_str()
            ),
        }),
    }
}

/// Where a streaming read puts what it finds, as it finds it.
pub(crate) trait OrderSink {
    fn order(&mut self, order: SourceOrder) -> Result<(), MappingError>;
    fn rejection(&mut self, rejection: Rejection) -> Result<(), MappingError>;
}

/// Orders and rejections kept in memory (for [`read_orders`] on bytes).
#[derive(Debug, Default)]
pub(crate) struct Collect {
    pub(crate) orders: Vec<SourceOrder>,
    pub(crate) rejections: Vec<Rejection>,
}

impl OrderSink for Collect {
    fn order(&mut self, order: SourceOrder) -> Result<(), MappingError> {
        self.orders.push(order);
        Ok(())
    }

    fn rejection(&mut self, rejection: Rejection) -> Result<(), MappingError> {
        self.rejections.push(rejection);
        Ok(())
    }
}

/// Why a [`RowSpill`] failed.
pub type SpillError = Box<dyn std::error::Error + Send + Sync>;

/// What a [`RowSpill`] hands each row back to: its bucket, line and encoded row.
pub(crate) type SpilledRow<'f> = dyn FnMut(u64, usize, &[u8]) -> Result<(), MappingError> + 'f;

/// Where the CSV reader sets aside the rows of orders whose rows are spread through a file,
/// until the file has been read. The reader stays pure: the caller decides where the rows go
/// (memory for bytes already in memory, a temporary file for a push).
pub(crate) trait RowSpill {
    /// Keep `row` (an encoded CSV row starting on `line`) in `bucket`.
    fn put(&mut self, bucket: u64, line: usize, row: &[u8]) -> Result<(), SpillError>;
    /// Every row kept, by bucket, and within a bucket in the order they were put; an error
    /// from `each` ends the drain and is returned.
    fn drain(&mut self, each: &mut SpilledRow<'_>) -> Result<(), MappingError>;
}

/// A [`RowSpill`] in memory.
#[derive(Debug, Default)]
pub(crate) struct MemorySpill {
    rows: Vec<(u64, usize, Vec<u8>)>,
}

impl RowSpill for MemorySpill {
    fn put(&mut self, bucket: u64, line: usize, row: &[u8]) -> Result<(), SpillError> {
        self.rows.push((bucket, line, row.to_vec()));
        Ok(())
    }

    fn drain(&mut self, each: &mut SpilledRow<'_>) -> Result<(), MappingError> {
        // Stable: rows of a bucket keep the order they were put in.
        self.rows.sort_by_key(|(bucket, _, _)| *bucket);
        for (bucket, line, row) in std::mem::take(&mut self.rows) {
            each(bucket, line, &row)?;
        }
        Ok(())
    }
}

/// Collects rejections, or stops at the first one under `fail-file`.
pub(crate) struct Rejections {
    policy: OnError,
    pub(crate) list: Vec<Rejection>,
}

impl Rejections {
    pub(crate) fn new(policy: OnError) -> Self {
        Rejections {
            policy,
            list: Vec::new(),
        }
    }

    /// Under `fail-file` the rejection stops the file; otherwise it is handed back to be kept
    /// with its order.
    pub(crate) fn check(&self, rejection: Rejection) -> Result<Rejection, MappingError> {
        match self.policy {
            OnError::FailFile => Err(MappingError::FailFile { rejection }),
            OnError::SkipRow => Ok(rejection),
        }
    }

    pub(crate) fn push(&mut self, rejection: Rejection) -> Result<(), MappingError> {
        match self.policy {
            OnError::FailFile => Err(MappingError::FailFile { rejection }),
            OnError::SkipRow => {
                self.list.push(rejection);
                Ok(())
            }
        }
    }
}
