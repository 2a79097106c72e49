//! CSV files: one row per order line, grouped into orders by a key column.
//!
//! Rows stream through one reused `ByteRecord`; only the mapped cells are looked at. Rows with
//! the same key belong to one order even when they are not adjacent. Header fields (order
//! fields and `ship_to`) are read from the first row of the group; a later row that states a
//! different value for one of them is a problem for the order (a later row that leaves the cell
//! empty agrees).
//!
//! A file is read twice, so that memory does not grow with it. The first pass ([`scan`]) learns
//! whether the file is whole and which keys have rows that are not adjacent (runs of adjacent
//! rows with the same key are hashed; a hash seen for two runs marks its key "repeated"). The
//! second ([`read_with`]) hands each run of a key that is not repeated to the grouping code as
//! soon as the run ends, and sets the rows of repeated keys aside (a [`RowSpill`]); at the end
//! they come back grouped by key, in the order their keys first appeared, through the same
//! grouping code. Two keys whose hashes collide both take that slower path; they are still
//! grouped by their exact bytes, so a collision can never merge two orders.

use std::collections::{HashMap, VecDeque};
use std::io::Read;

use csv::ByteRecord;

use super::complete::{CsvTail, Incomplete};
use super::convert::{convert, Draft, Place};
use super::spec::{Column, CsvSource, FieldSource, FieldSpec, Level, Mapping};
use super::{
    MappingError, OrderSink, ReadResult, RecordsResult, Rejection, Rejections, RowSpill,
    SourceRecord,
};

/// An order being read: its draft and the raw text of its header cells on its first row.
struct Group {
    draft: Draft,
    /// The trimmed cells of the first row for the header fields that have a column, end to
    /// end; `first_ends[i]` is where cell `i` ends.
    first_cells: Vec<u8>,
    first_ends: Vec<usize>,
}

impl Group {
    /// The first row's cell for the `slot`-th header field that has a column.
    fn first_cell(&self, slot: usize) -> &[u8] {
        let from = if slot == 0 {
            0
        } else {
            self.first_ends[slot - 1]
        };
        &self.first_cells[from..self.first_ends[slot]]
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The input as the csv reader sees it (past any byte-order mark), with physical line numbers.
/// The csv crate's own `Position::line` miscounts around CRLF and blank lines, and its byte
/// offset points at the end of the previous record (before its line terminator and any blank
/// lines), so we step over those and count newlines ourselves. The line ends are noted as the
/// bytes stream past, and forgotten once a record starts beyond them: only those of the bytes
/// the csv reader has buffered ahead are ever held.
struct Counted<R> {
    inner: R,
    started: bool,
    /// Bytes handed to the csv reader so far.
    offset: u64,
    /// Offsets of the `\r` and `\n` bytes not yet passed (true: `\n`).
    ends: VecDeque<(u64, bool)>,
    line: usize,
    /// First pass only: whether the file is whole.
    tail: Option<CsvTail>,
}

impl<R: Read> Counted<R> {
    fn new(inner: R, tail: Option<CsvTail>) -> Self {
        Counted {
            inner,
            started: false,
            offset: 0,
            ends: VecDeque::new(),
            line: 1,
            tail,
        }
    }

    /// The line a record starts on, given the reader's byte position for it. Positions only
    /// grow.
    fn at(&mut self, position: Option<&csv::Position>) -> usize {
        let mut start = position.map_or(0, csv::Position::byte);
        while let Some(&(offset, newline)) = self.ends.front() {
            if offset > start {
                break;
            }
            if offset == start {
                // A line end just before the record: step over it.
                start += 1;
            }
            self.line += usize::from(newline);
            self.ends.pop_front();
        }
        self.line
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = self.inner.read(buf)?;
        if !self.started {
            self.started = true;
            while n < BOM.len().min(buf.len()) {
                let more = self.inner.read(&mut buf[n..])?;
                if more == 0 {
                    break;
                }
                n += more;
            }
            if buf[..n].starts_with(BOM) {
                buf.copy_within(BOM.len()..n, 0);
                n -= BOM.len();
            }
        }
        let chunk = &buf[..n];
        for i in memchr::memchr2_iter(b'\r', b'\n', chunk) {
            self.ends
                .push_back((self.offset + i as u64, chunk[i] == b'\n'));
        }
        if let Some(tail) = &mut self.tail {
            tail.feed(chunk);
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// The 0-based index of a column, given the header row's names (`None`: no header row).
fn resolve_column(
    column: &Column,
    field: &str,
    names: Option<&[String]>,
    mapping: &Mapping,
    file: &str,
) -> Result<usize, MappingError> {
    let missing = |column: String, available: String| MappingError::MissingColumn {
        file: file.to_string(),
        mapping: mapping.name.clone(),
        column,
        field: field.to_string(),
        available,
    };
    match (column, names) {
        (Column::Name(name), Some(names)) => {
            let mut found = names.iter().enumerate().filter(|(_, n)| *n == name);
            match (found.next(), found.next()) {
                (Some((i, _)), None) => Ok(i),
                (Some(_), Some(_)) => Err(MappingError::Unreadable {
                    file: file.to_string(),
                    line: 1,
                    message: format!(
                        "column \"{name}\" (for {field}) appears more than once in the header row"
                    ),
                }),
                (None, _) => Err(missing(
                    name.clone(),
                    names
                        .iter()
                        .map(|n| format!("\"{n}\""))
                        .collect::<Vec<_>>()
                        .join(", "),
                )),
            }
        }
        (Column::Position(n), Some(names)) if *n > names.len() => {
            Err(missing(format!("#{n}"), format!("{} columns", names.len())))
        }
        (Column::Position(n), _) => Ok(n - 1),
        (Column::Name(name), None) => Err(MappingError::Invalid {
            mapping: mapping.name.clone(),
            key: "source.header".to_string(),
            message: format!("column \"{name}\" is named but the file has no header row"),
        }),
    }
}

/// A CSV file opened for reading: past its byte-order mark and its header row.
struct Opened<R> {
    reader: csv::Reader<Counted<R>>,
    /// The header row's trimmed names (`None`: no header row).
    names: Option<Vec<String>>,
}

/// A csv reader's error: the input could not be read, or (in principle) not parsed.
fn unreadable<R: Read>(file: &str, lines: &mut Counted<R>, e: csv::Error) -> MappingError {
    if let csv::ErrorKind::Io(_) = e.kind() {
        let csv::ErrorKind::Io(source) = e.into_kind() else {
            unreachable!("the kind was just matched")
        };
        return MappingError::Read {
            file: file.to_string(),
            source,
        };
    }
    MappingError::Unreadable {
        file: file.to_string(),
        line: e.position().map_or(0, |p| lines.at(Some(p))),
        message: format!("not readable as CSV: {e}"),
    }
}

fn quote_never_closed(file: &str, line: usize) -> MappingError {
    MappingError::Unreadable {
        file: file.to_string(),
        line,
        message: "a quoted field opened on this line is never closed (is the file cut short?)"
            .to_string(),
    }
}

/// Open `input` as CSV and read the header row, if the source has one. With `tail`, the bytes
/// are watched for whether the file is whole.
fn open<R: Read>(
    source: &CsvSource,
    file: &str,
    input: R,
    tail: bool,
) -> Result<Opened<R>, MappingError> {
    let counted = Counted::new(input, tail.then(|| CsvTail::new(source.quote)));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(source.delimiter)
        .quote(source.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(counted);
    let mut names: Option<Vec<String>> = None;
    if source.header {
        let mut record = ByteRecord::new();
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => {
                return Err(MappingError::Unreadable {
                    file: file.to_string(),
                    line: 1,
                    message: "the file is empty: expected a header row".to_string(),
                })
            }
            Err(e) => return Err(unreadable(file, reader.get_mut(), e)),
        }
        names = Some(
            record
                .iter()
                .map(|c| String::from_utf8_lossy(trim(c)).into_owned())
                .collect(),
        );
    }
    Ok(Opened { reader, names })
}

/// A mapped field and the 0-based column it reads (`None`: a constant).
type FieldColumn<'m> = (&'m FieldSpec, Option<usize>);

/// Every mapped field with its column, resolved against the header row before the first data
/// row: a missing column is a mapping error, not a rejection on every row.
fn field_columns<'m>(
    mapping: &'m Mapping,
    names: Option<&[String]>,
    file: &str,
) -> Result<Vec<FieldColumn<'m>>, MappingError> {
    let mut fields = Vec::with_capacity(mapping.fields.len());
    for spec in &mapping.fields {
        let col = match &spec.source {
            FieldSource::Column(c) => Some(resolve_column(c, spec.name(), names, mapping, file)?),
            _ => None,
        };
        fields.push((spec, col));
    }
    Ok(fields)
}

impl<R: Read> Opened<R> {
    /// The next data row into `record`, with the physical line it starts on; blank rows are
    /// skipped when the source says so. `None` at the end of the input.
    fn next_row(
        &mut self,
        source: &CsvSource,
        file: &str,
        record: &mut ByteRecord,
    ) -> Result<Option<usize>, MappingError> {
        loop {
            match self.reader.read_byte_record(record) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => return Err(unreadable(file, self.reader.get_mut(), e)),
            }
            let line = self.reader.get_mut().at(record.position());
            if source.skip_blank_lines && record.iter().all(|c| trim(c).is_empty()) {
                continue;
            }
            return Ok(Some(line));
        }
    }

    /// Hand every data row to `each` with the physical line it starts on.
    fn each_row(
        mut self,
        source: &CsvSource,
        file: &str,
        mut each: impl FnMut(&ByteRecord, usize) -> Result<(), MappingError>,
    ) -> Result<(), MappingError> {
        let mut record = ByteRecord::new();
        while let Some(line) = self.next_row(source, file, &mut record)? {
            each(&record, line)?;
        }
        Ok(())
    }
}

/// One data row: its cells, the line it starts on, and its key (the trimmed order key, or for
/// a record kind the record's number; empty when it has none).
struct Row<'r> {
    record: &'r ByteRecord,
    line: usize,
    key: &'r [u8],
}

impl Row<'_> {
    /// A mapped cell, trimmed; empty when the row is short.
    fn cell(&self, col: usize) -> &[u8] {
        self.record.get(col).map(trim).unwrap_or_default()
    }

    /// The cell a field reads, untrimmed (`None`: a constant, or the row is short).
    fn raw(&self, col: Option<usize>) -> Option<&[u8]> {
        col.and_then(|c| self.record.get(c))
    }

    /// A problem with this row, naming its order when the row has a key.
    fn reject(&self, file: &str, field: Option<&str>, reason: String) -> Rejection {
        Rejection {
            file: file.to_string(),
            line: self.line,
            segment: None,
            order: (!self.key.is_empty()).then(|| String::from_utf8_lossy(self.key).into_owned()),
            field: field.map(str::to_string),
            reason,
        }
    }

    /// A row with more or fewer fields than the header row has.
    fn width_problem(&self, width: Option<usize>) -> Option<String> {
        let w = width.filter(|w| *w != self.record.len())?;
        Some(format!(
            "the row has {} fields, the header has {w} (a stray delimiter or quote?)",
            self.record.len()
        ))
    }
}

/// The columns an order kind reads, resolved against the header row.
struct Columns<'m> {
    /// The order key's column as the mapping names it (for messages), and its index.
    group_by: &'m Column,
    key: usize,
    /// Header and ship_to fields with their columns, in mapping order.
    header: Vec<FieldColumn<'m>>,
    /// Line fields with their columns, in mapping order.
    lines: Vec<FieldColumn<'m>>,
    /// The header row's width (`None`: no header row).
    width: Option<usize>,
}

fn columns<'m>(
    mapping: &'m Mapping,
    source: &'m CsvSource,
    names: Option<&[String]>,
    file: &str,
) -> Result<Columns<'m>, MappingError> {
    let Some(group_by) = &source.group_by else {
        return Err(MappingError::Invalid {
            mapping: mapping.name.clone(),
            key: "source.group_by".to_string(),
            message: "missing: name the column whose value groups line rows into one order"
                .to_string(),
        });
    };
    let key = resolve_column(group_by, "source.group_by", names, mapping, file)?;
    let (lines, header) = field_columns(mapping, names, file)?
        .into_iter()
        .partition(|(spec, _)| spec.api.level == Level::Line);
    Ok(Columns {
        group_by,
        key,
        header,
        lines,
        width: names.map(<[String]>::len),
    })
}

/// What the first pass learnt about a file, for the second.
#[derive(Debug, Clone, Default)]
pub(crate) struct CsvPlan {
    /// Hashes of the keys whose rows are not all adjacent, sorted.
    repeated: Vec<u64>,
    /// A digest of the file's runs of rows (their keys' hashes, in order): the second pass
    /// must see the same runs.
    digest: u64,
}

/// The first pass over a file: whether it is whole, and its plan or the whole-file problem
/// that stops it.
pub(crate) struct CsvScan {
    pub(crate) incomplete: Option<Incomplete>,
    pub(crate) plan: Result<CsvPlan, MappingError>,
}

fn fold(digest: u64, hash: u64) -> u64 {
    (digest.rotate_left(23) ^ hash).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The trimmed order key of a row (empty when it has none).
fn key_of(record: &ByteRecord, col: usize) -> &[u8] {
    record.get(col).map(trim).unwrap_or_default()
}

/// Pass one: stream the file once, noting whether it is whole and the hash of each run of
/// adjacent rows with the same key; keys with more than one run are "repeated". Holds 8 bytes
/// a run until the end of the pass, then only the repeated keys' hashes. An error is only a
/// file that cannot be read; a file that cannot be used is `plan`'s error.
pub(crate) fn scan<R: Read>(
    mapping: &Mapping,
    source: &CsvSource,
    file: &str,
    input: R,
) -> Result<CsvScan, MappingError> {
    let mut opened = match open(source, file, input, true) {
        Ok(opened) => opened,
        Err(e @ MappingError::Read { .. }) => return Err(e),
        Err(e) => {
            return Ok(CsvScan {
                incomplete: Some(Incomplete::Empty),
                plan: Err(e),
            })
        }
    };
    let cols = columns(mapping, source, opened.names.as_deref(), file);
    let mut failed = None;
    let mut record = ByteRecord::new();
    let mut runs = Vec::new();
    let mut previous = Vec::new();
    let mut digest = 0;
    loop {
        match opened.next_row(source, file, &mut record) {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e @ MappingError::Read { .. }) => return Err(e),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
        if let Ok(cols) = &cols {
            let key = key_of(&record, cols.key);
            if !key.is_empty() && key != previous.as_slice() {
                previous.clear();
                previous.extend_from_slice(key);
                let hash = xxhash_rust::xxh3::xxh3_64(key);
                runs.push(hash);
                digest = fold(digest, hash);
            }
        }
    }
    let tail = opened
        .reader
        .get_ref()
        .tail
        .clone()
        .unwrap_or(CsvTail::new(source.quote));
    let plan = if let Some(line) = tail.opened {
        // The csv reader takes a field still open at the end of the input as complete: a file
        // cut inside a quoted field would lose the rest of it without a word.
        Err(quote_never_closed(file, line))
    } else if let Some(e) = failed {
        Err(e)
    } else {
        cols.map(|_| CsvPlan {
            repeated: repeated(runs),
            digest,
        })
    };
    Ok(CsvScan {
        incomplete: tail.finish(),
        plan,
    })
}

/// The hashes that occur more than once, sorted.
fn repeated(mut runs: Vec<u64>) -> Vec<u64> {
    runs.sort_unstable();
    let mut out: Vec<u64> = runs
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    out.dedup();
    out
}

/// What a streaming read reports besides its orders.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadStats {
    /// The most orders the reader held open at once: one for a run of adjacent rows, one per
    /// key sharing a spilled bucket. It does not grow with the file.
    pub orders_held_peak: usize,
}

/// Under `fail-file`, the problem that stops the file: today's and the one-pass reader's
/// choice, the first row with a problem in file order, or if no row has one, the first order
/// (by its first line) that cannot be finished.
#[derive(Default)]
struct FirstProblem {
    row: Option<Rejection>,
    order: Option<(usize, Rejection)>,
}

impl FirstProblem {
    /// A row's result: a `fail-file` stop is noted, any other error goes on.
    fn row(&mut self, result: Result<(), MappingError>) -> Result<bool, MappingError> {
        match result {
            Ok(()) => Ok(false),
            Err(MappingError::FailFile { rejection }) => {
                if self.row.as_ref().is_none_or(|r| rejection.line < r.line) {
                    self.row = Some(rejection);
                }
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    fn order(&mut self, first_line: usize, rejection: Rejection) {
        if self.order.as_ref().is_none_or(|(l, _)| first_line < *l) {
            self.order = Some((first_line, rejection));
        }
    }

    fn into_result(self) -> Result<(), MappingError> {
        match self.row.or(self.order.map(|(_, r)| r)) {
            Some(rejection) => Err(MappingError::FailFile { rejection }),
            None => Ok(()),
        }
    }
}

/// A row as the spill keeps it: its field count, then each field's length and bytes.
fn encode(record: &ByteRecord, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&(record.len() as u32).to_le_bytes());
    for field in record {
        out.extend_from_slice(&(field.len() as u32).to_le_bytes());
        out.extend_from_slice(field);
    }
}

fn decode(mut bytes: &[u8], record: &mut ByteRecord) {
    fn take<'b>(n: usize, bytes: &mut &'b [u8]) -> &'b [u8] {
        let (head, rest) = bytes.split_at(n.min(bytes.len()));
        *bytes = rest;
        head
    }
    let word = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap_or_default()) as usize;
    record.clear();
    let count = word(take(4, &mut bytes));
    for _ in 0..count {
        let len = word(take(4, &mut bytes));
        record.push_field(take(len, &mut bytes));
    }
}

/// Read an order kind from bytes: both passes, rows of repeated keys kept aside in memory.
pub(crate) fn read(
    mapping: &Mapping,
    source: &CsvSource,
    file: &str,
    bytes: &[u8],
) -> Result<ReadResult, MappingError> {
    let plan = scan(mapping, source, file, bytes)?.plan?;
    let mut out = super::Collect::default();
    let mut spill = super::MemorySpill::default();
    read_with(mapping, source, file, bytes, &plan, &mut spill, &mut out)?;
    // In memory, orders keep the order in which their keys first appear (each order's first
    // line is its own).
    out.orders.sort_by_key(|o| o.line);
    Ok(ReadResult {
        orders: out.orders,
        rejections: out.rejections,
    })
}

/// Pass two: every row into the order its key names. A run of a key that is not repeated is
/// a whole order (its problems included) and goes to `sink` when the run ends; rows of
/// repeated keys go to `spill`, and come back at the end grouped by key, in the order their
/// keys first appear. Orders therefore reach `sink` in the order their keys first appear,
/// except that orders whose rows are spread through the file come after the others.
pub(crate) fn read_with<R: Read>(
    mapping: &Mapping,
    source: &CsvSource,
    file: &str,
    input: R,
    plan: &CsvPlan,
    spill: &mut dyn RowSpill,
    sink: &mut dyn OrderSink,
) -> Result<ReadStats, MappingError> {
    let mut opened = open(source, file, input, false)?;
    let cols = columns(mapping, source, opened.names.as_deref(), file)?;
    let mut pass = Pass {
        mapping,
        file,
        cols: &cols,
        stats: ReadStats::default(),
        first: FirstProblem::default(),
    };
    // Per repeated hash, the row number its bucket is known by (its first row's).
    let mut buckets = vec![u64::MAX; plan.repeated.len()];
    let mut machine = pass.machine();
    let mut key = Vec::new();
    let mut spilling = None;
    let mut digest = 0;
    let mut record = ByteRecord::new();
    let mut encoded = Vec::new();
    let mut row_number = 0u64;
    while let Some(line) = opened.next_row(source, file, &mut record)? {
        let k = key_of(&record, cols.key);
        if !k.is_empty() && k != key.as_slice() {
            key.clear();
            key.extend_from_slice(k);
            let hash = xxhash_rust::xxh3::xxh3_64(k);
            digest = fold(digest, hash);
            let done = std::mem::replace(&mut machine, pass.machine());
            pass.finish(done, sink)?;
            spilling = plan.repeated.binary_search(&hash).ok();
        }
        match spilling {
            Some(i) if !k.is_empty() => {
                if buckets[i] == u64::MAX {
                    buckets[i] = row_number;
                }
                encode(&record, &mut encoded);
                spill
                    .put(buckets[i], line, &encoded)
                    .map_err(|source| MappingError::Spill { source })?;
            }
            _ => {
                if pass.first.row(machine.row(&record, line))? {
                    // Under fail-file: only a spilled row could still come first.
                    digest = plan.digest;
                    break;
                }
            }
        }
        row_number += 1;
    }
    pass.finish(machine, sink)?;
    if digest != plan.digest {
        return Err(MappingError::Changed {
            file: file.to_string(),
        });
    }
    let mut machine = pass.machine();
    let mut current = None;
    let mut drained = |bucket: u64, line: usize, row: &[u8]| -> Result<(), MappingError> {
        decode(row, &mut record);
        if current != Some(bucket) {
            current = Some(bucket);
            let done = std::mem::replace(&mut machine, pass.machine());
            pass.finish(done, sink)?;
        }
        pass.first.row(machine.row(&record, line)).map(drop)
    };
    spill.drain(&mut drained)?;
    pass.finish(machine, sink)?;
    let stats = pass.stats;
    pass.first.into_result()?;
    Ok(stats)
}

/// What the grouping machines of one read share.
struct Pass<'a> {
    mapping: &'a Mapping,
    file: &'a str,
    cols: &'a Columns<'a>,
    stats: ReadStats,
    first: FirstProblem,
}

impl<'a> Pass<'a> {
    fn machine(&self) -> Orders<'a> {
        Orders {
            mapping: self.mapping,
            file: self.file,
            cols: self.cols,
            rejections: Rejections::new(self.mapping.on_error),
            groups: Vec::new(),
            index: HashMap::new(),
            orphans: Vec::new(),
        }
    }

    /// Finish a machine's orders into `sink`.
    fn finish(
        &mut self,
        machine: Orders<'a>,
        sink: &mut dyn OrderSink,
    ) -> Result<(), MappingError> {
        self.stats.orders_held_peak = self.stats.orders_held_peak.max(machine.groups.len());
        machine.finish(sink, &mut self.first)
    }
}

/// The orders of one run of rows (or of one spilled bucket), as its rows are read.
struct Orders<'a> {
    mapping: &'a Mapping,
    file: &'a str,
    cols: &'a Columns<'a>,
    rejections: Rejections,
    groups: Vec<Group>,
    /// Order key -> its index in `groups`.
    index: HashMap<Vec<u8>, usize>,
    /// Unreadable rows whose order had not been seen yet: (order key, problem).
    orphans: Vec<(Vec<u8>, Rejection)>,
}

impl Orders<'_> {
    /// One data row: a line of the order its key names, started by this row if it is the
    /// order's first.
    fn row(&mut self, record: &ByteRecord, line: usize) -> Result<(), MappingError> {
        let key = record.get(self.cols.key).map(trim).unwrap_or_default();
        let row = Row { record, line, key };
        if let Some(reason) = row.width_problem(self.cols.width) {
            return self.misshapen(&row, reason);
        }
        if key.is_empty() {
            let reason = format!("the order key (column {}) is empty", self.cols.group_by);
            return self.rejections.push(row.reject(self.file, None, reason));
        }
        let g = match self.index.get(key) {
            Some(&g) => {
                self.check_agrees(g, &row)?;
                g
            }
            None => self.start_order(&row)?,
        };
        self.add_line(g, &row)
    }

    /// A row that cannot be read field by field keeps its order back, whenever that order
    /// shows up.
    fn misshapen(&mut self, row: &Row, reason: String) -> Result<(), MappingError> {
        let r = self.rejections.check(row.reject(self.file, None, reason))?;
        match self.index.get(row.key) {
            Some(&g) if !row.key.is_empty() => self.groups[g].draft.problems.push(r),
            // The order may still show up on later rows: it must not go out
            // without this line, so the problem waits for it.
            _ if !row.key.is_empty() => self.orphans.push((row.key.to_vec(), r)),
            _ => self.rejections.list.push(r),
        }
        Ok(())
    }

    /// The first row of an order: its header fields are read from it, and its header cells
    /// kept for later rows to agree with.
    fn start_order(&mut self, row: &Row) -> Result<usize, MappingError> {
        let number_field = self.mapping.number_field();
        let mut group = Group {
            draft: Draft::new(Place {
                line: row.line,
                segment: None,
            }),
            first_cells: Vec::new(),
            first_ends: Vec::with_capacity(self.cols.header.len()),
        };
        for (spec, col) in &self.cols.header {
            let raw = row.raw(*col);
            if col.is_some() {
                group
                    .first_cells
                    .extend_from_slice(trim(raw.unwrap_or_default()));
                group.first_ends.push(group.first_cells.len());
            }
            match convert(spec, raw) {
                Ok(Some(value)) => group.draft.set_header(spec, value, number_field),
                Ok(None) => {}
                Err(reason) => {
                    let r = row.reject(self.file, Some(spec.name()), reason.to_string());
                    group.draft.problems.push(self.rejections.check(r)?);
                }
            }
        }
        self.groups.push(group);
        self.index.insert(row.key.to_vec(), self.groups.len() - 1);
        Ok(self.groups.len() - 1)
    }

    /// A later row of order `g`: the header cells it states must agree with the first row's.
    fn check_agrees(&mut self, g: usize, row: &Row) -> Result<(), MappingError> {
        let group = &mut self.groups[g];
        let with_column = self
            .cols
            .header
            .iter()
            .filter_map(|(spec, col)| Some((spec, (*col)?)));
        for (slot, (spec, col)) in with_column.enumerate() {
            let first = group.first_cell(slot);
            let cell = row.cell(col);
            if !cell.is_empty() && cell != first {
                let reason = format!(
                    "\"{}\" differs from \"{}\" on line {}, the order's first row",
                    String::from_utf8_lossy(cell),
                    String::from_utf8_lossy(first),
                    group.draft.place.line
                );
                let r = row.reject(self.file, Some(spec.name()), reason.to_string());
                group.draft.problems.push(self.rejections.check(r)?);
            }
        }
        Ok(())
    }

    /// The row's line fields, as the next line of order `g`.
    fn add_line(&mut self, g: usize, row: &Row) -> Result<(), MappingError> {
        let draft = &mut self.groups[g].draft;
        let place = Place {
            line: row.line,
            segment: None,
        };
        let mut line = draft.new_line(self.mapping, place);
        for (spec, col) in &self.cols.lines {
            match convert(spec, row.raw(*col)) {
                Ok(Some(value)) => {
                    line.values.insert(spec.api.key.to_string(), value);
                }
                Ok(None) => {}
                Err(reason) => {
                    let r = row.reject(self.file, Some(spec.name()), reason.to_string());
                    draft.problems.push(self.rejections.check(r)?);
                }
            }
        }
        draft.lines.push(line);
        Ok(())
    }

    /// Every row is read: problems that waited for their order join it (or stand alone if it
    /// never came), and each order is finished into `sink` or rejected whole. Under
    /// `fail-file` the first order that cannot be finished is noted in `first`.
    fn finish(
        self,
        sink: &mut dyn OrderSink,
        first: &mut FirstProblem,
    ) -> Result<(), MappingError> {
        let Orders {
            mapping,
            file,
            mut rejections,
            mut groups,
            index,
            orphans,
            ..
        } = self;
        for (key, r) in orphans {
            match index.get(&key) {
                Some(&g) => groups[g].draft.problems.push(r),
                None => sink.rejection(r)?,
            }
        }
        for r in std::mem::take(&mut rejections.list) {
            sink.rejection(r)?;
        }
        for group in groups {
            let first_line = group.draft.place.line;
            match group.draft.finish(mapping, file) {
                Ok(order) => sink.order(order)?,
                Err(problems) => {
                    for p in problems {
                        match rejections.check(p) {
                            Ok(r) => sink.rejection(r)?,
                            Err(MappingError::FailFile { rejection }) => {
                                first.order(first_line, rejection);
                                return Ok(());
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Read a record kind (`ap_ledger`): every non-blank row is one record, converted field by
/// field exactly as order fields are. A row with a problem is left out and reported (or, under
/// `on_error = "fail-file"`, stops the file).
pub(crate) fn read_records(
    mapping: &Mapping,
    source: &CsvSource,
    file: &str,
    bytes: &[u8],
) -> Result<RecordsResult, MappingError> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    if let Some(line) = super::complete::open_quote_line(bytes, source.quote) {
        return Err(quote_never_closed(file, line));
    }
    let opened = open(source, file, bytes, false)?;
    let width = opened.names.as_ref().map(Vec::len);
    let fields = field_columns(mapping, opened.names.as_deref(), file)?;
    let key_col = fields
        .iter()
        .find(|(spec, _)| spec.name() == mapping.number_field())
        .and_then(|(_, col)| *col);

    let mut rejections = Rejections::new(mapping.on_error);
    let mut records = Vec::new();
    opened.each_row(source, file, |record, line| {
        let key = key_col
            .and_then(|c| record.get(c))
            .map(trim)
            .unwrap_or_default();
        match one_record(&Row { record, line, key }, file, &fields, width) {
            Ok(record) => records.push(record),
            Err(problems) => {
                for p in problems {
                    rejections.push(p)?;
                }
            }
        }
        Ok(())
    })?;
    Ok(RecordsResult {
        records,
        rejections: rejections.list,
    })
}

/// One row of a record kind: the record, or every problem with it.
fn one_record(
    row: &Row,
    file: &str,
    fields: &[FieldColumn],
    width: Option<usize>,
) -> Result<SourceRecord, Vec<Rejection>> {
    if let Some(reason) = row.width_problem(width) {
        return Err(vec![row.reject(file, None, reason)]);
    }
    let mut values = serde_json::Map::new();
    let mut problems = Vec::new();
    for (spec, col) in fields {
        match convert(spec, row.raw(*col)) {
            Ok(Some(value)) => {
                values.insert(spec.api.key.to_string(), value);
            }
            Ok(None) => {}
            Err(reason) => problems.push(row.reject(file, Some(spec.name()), reason.to_string())),
        }
    }
    if problems.is_empty() {
        Ok(SourceRecord {
            file: file.to_string(),
            line: row.line,
            values,
        })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{read_orders, read_records};

    fn mapping(extra: &str) -> Mapping {
        Mapping::parse(
            &format!(
                "kind = \"purchase_order\"\n{extra}\n[source]\nformat = \"csv\"\ngroup_by = \"PO\"\n[fields]\npo_number = {{ column = \"PO\" }}\nnotes = {{ column = \"Memo\" }}\n\"lines[].item_number\" = {{ column = \"Item\" }}\n\"lines[].quantity\" = {{ column = \"Qty\" }}\n"
            ),
            "t.toml",
        )
        .unwrap()
    }

    #[test]
    fn groups_non_adjacent_rows_in_first_seen_order() {
        let csv = "PO,Memo,Item,Qty\nB,m,X,1\nA,,Y,2\nB,,Z,3\n";
        let result = read_orders(&mapping(""), "f.csv", csv.as_bytes()).unwrap();
        assert!(result.rejections.is_empty(), "{:?}", result.rejections);
        let numbers: Vec<_> = result.orders.iter().map(|o| o.number.as_str()).collect();
        assert_eq!(numbers, ["B", "A"]);
        assert_eq!(result.orders[0].lines, [2, 4]);
        assert_eq!(result.orders[0].item_numbers(), ["X", "Z"]);
        assert_eq!(result.orders[0].body["notes"], "m");
    }

    #[test]
    fn short_rows_and_empty_keys_are_rejected_with_their_line() {
        let csv = "PO,Memo,Item,Qty\nA,m,X,1\nA,m,Y\n,m,Z,1\nB,m,X,1\n";
        let result = read_orders(&mapping(""), "f.csv", csv.as_bytes()).unwrap();
        let numbers: Vec<_> = result.orders.iter().map(|o| o.number.as_str()).collect();
        assert_eq!(numbers, ["B"]);
        let lines: Vec<_> = result.rejections.iter().map(|r| r.line).collect();
        assert_eq!(lines, [4, 3], "{:?}", result.rejections);
        assert!(result.rejections[1].reason.contains("3 fields"));
    }

    #[test]
    fn a_broken_first_row_still_holds_its_order_back() {
        let csv = "PO,Memo,Item,Qty\nA,m,X\nA,m,Y,1\nB,m,Z,1\n";
        let result = read_orders(&mapping(""), "f.csv", csv.as_bytes()).unwrap();
        let numbers: Vec<_> = result.orders.iter().map(|o| o.number.as_str()).collect();
        assert_eq!(numbers, ["B"]);
        assert_eq!(result.rejections.len(), 1);
        assert_eq!(result.rejections[0].line, 2);
        assert_eq!(result.rejections[0].order.as_deref(), Some("A"));
    }

    #[test]
    fn quoted_newlines_keep_the_starting_line() {
        let csv = "PO,Memo,Item,Qty\nA,\"two\nlines\",X,1\nA,,Y,0\n";
        let result = read_orders(&mapping(""), "f.csv", csv.as_bytes()).unwrap();
        assert!(result.orders.is_empty());
        assert_eq!(result.rejections[0].line, 4);
        assert_eq!(
            result.rejections[0].field.as_deref(),
            Some("lines[].quantity")
        );
    }

    #[test]
    fn physical_lines_survive_crlf_blank_lines_and_quoted_newlines() {
        let csv = "PO,Memo,Item,Qty\r\nA,,X,1\r\n\r\n\r\nA,,\"Y\r\nZ\",1\r\n\nB,,Z,1\r\nB,,W,0";
        let result = read_orders(&mapping(""), "f.csv", csv.as_bytes()).unwrap();
        assert_eq!(result.orders[0].lines, [2, 5]);
        assert_eq!(result.rejections[0].line, 9);
        let mut lines = Counted::new(&b"a\n\nb"[..], None);
        assert_eq!(lines.at(None), 1);
    }

    fn ledger_mapping(on_error: &str) -> Mapping {
        Mapping::parse(
            &format!(
                "kind = \"ap_ledger\"\non_error = \"{on_error}\"\n[source]\nformat = \"csv\"\n[fields]\ninvoice_number = {{ column = \"Invoice\" }}\ndue_date = {{ column = \"Due\", format = \"%m/%d/%Y\" }}\nopen_balance = {{ column = \"Open\" }}\ncurrency = {{ column = \"Cur\", default = \"USD\", case = \"upper\" }}\n"
            ),
            "l.toml",
        )
        .unwrap()
    }

    #[test]
    fn ledger_rows_are_one_record_each_with_bad_rows_reported_by_line() {
        let csv = "Invoice,Due,Open,Cur\r\nINV-1,10/31/2026,\"12,480.00\",usd\r\nINV-1,10/31/2026,5,\r\n,,,\r\nINV-2,31/10/2026,1.00,EUR\r\nINV-3,10/31/2026,\"12,48.00\",EUR\r\nINV-4,10/31/2026\r\nINV-5,10/31/2026,-20.5,EUR\r\n";
        let result = read_records(&ledger_mapping("skip-row"), "l.csv", csv.as_bytes()).unwrap();
        let got: Vec<_> = result
            .records
            .iter()
            .map(|r| {
                (
                    r.line,
                    r.values["invoice_number"].as_str().unwrap(),
                    r.values["open_balance"].as_str().unwrap(),
                    r.values["currency"].as_str().unwrap(),
                )
            })
            .collect();
        // Duplicates are the reconciliation's business: the reader passes both on.
        assert_eq!(
            got,
            [
                (2, "INV-1", "12480.00", "USD"),
                (3, "INV-1", "5.00", "USD"),
                (8, "INV-5", "-20.50", "EUR"),
            ]
        );
        assert_eq!(result.records[0].values["due_date"], "2026-10-31");
        let problems: Vec<_> = result
            .rejections
            .iter()
            .map(|r| (r.line, r.order.as_deref(), r.field.as_deref()))
            .collect();
        assert_eq!(
            problems,
            [
                (5, Some("INV-2"), Some("due_date")),
                (6, Some("INV-3"), Some("open_balance")),
                (7, Some("INV-4"), None),
            ]
        );
        assert!(result.rejections[1].reason.contains("misplaced"));
        assert_eq!(
            result.rejections[0].to_string(),
            "l.csv:5 order INV-2: due_date: \"31/10/2026\" is not a date in the format \"%m/%d/%Y\""
        );
        let e = read_records(&ledger_mapping("fail-file"), "l.csv", csv.as_bytes()).unwrap_err();
        assert_eq!(e.rejection().map(|r| r.line), Some(5));
        // A ledger mapping is never read as orders (and so never pushed).
        assert!(read_orders(&ledger_mapping("skip-row"), "l.csv", csv.as_bytes()).is_err());
    }

    #[test]
    fn header_false_uses_positions() {
        let m = Mapping::parse(
            "kind = \"purchase_order\"\n[source]\nformat = \"csv\"\nheader = false\ngroup_by = 1\n[fields]\npo_number = { column = 1 }\n\"lines[].item_number\" = { column = 2 }\n\"lines[].quantity\" = { column = 3 }\n",
            "t.toml",
        )
        .unwrap();
        let result = read_orders(&m, "f.csv", b"A,X,1\nA,Y,2\n").unwrap();
        assert_eq!(result.orders[0].lines, [1, 2]);
    }
}
