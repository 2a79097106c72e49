//! CSV files: one row per order line, grouped into orders by a key column.
//!
//! Rows stream through one reused `ByteRecord`; only the mapped cells are looked at. Rows with
//! the same key belong to one order even when they are not adjacent (orders keep the order in
//! which their key first appears). Header fields (order fields and `ship_to`) are read from the
//! first row of the group; a later row that states a different value for one of them is a
//! problem for the order (a later row that leaves the cell empty agrees).

use std::collections::HashMap;

use csv::ByteRecord;

use super::convert::{convert, Draft, Place};
use super::spec::{Column, CsvSource, FieldSource, FieldSpec, Level, Mapping};
use super::{MappingError, ReadResult, RecordsResult, Rejection, Rejections, SourceRecord};

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

/// Physical line numbers. The csv crate's own `Position::line` miscounts around CRLF and blank
/// lines, and its byte offset points at the end of the previous record (before its line
/// terminator and any blank lines), so we step over those and count newlines ourselves,
/// incrementally: offsets only grow, so the whole file is scanned once.
struct Lines<'a> {
    bytes: &'a [u8],
    counted_to: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Lines {
            bytes,
            counted_to: 0,
            line: 1,
        }
    }

    /// The line a record starts on, given the reader's byte position for it.
    fn at(&mut self, position: Option<&csv::Position>) -> usize {
        let mut start = position
            .map_or(0, |p| p.byte() as usize)
            .min(self.bytes.len());
        while start < self.bytes.len() && matches!(self.bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        if start > self.counted_to {
            let newlines = self.bytes[self.counted_to..start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.line += newlines;
            self.counted_to = start;
        }
        self.line
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
struct Opened<'b> {
    /// The file's bytes without the byte-order mark (line numbers count from here).
    bytes: &'b [u8],
    reader: csv::Reader<&'b [u8]>,
    /// The header row's trimmed names (`None`: no header row).
    names: Option<Vec<String>>,
}

fn unreadable(file: &str, bytes: &[u8], e: csv::Error) -> MappingError {
    MappingError::Unreadable {
        file: file.to_string(),
        line: e.position().map_or(0, |p| Lines::new(bytes).at(Some(p))),
        message: format!("not readable as CSV: {e}"),
    }
}

/// Open `bytes` as CSV and read the header row, if the source has one.
fn open<'b>(source: &CsvSource, file: &str, bytes: &'b [u8]) -> Result<Opened<'b>, MappingError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // The csv reader takes a field still open at the end of the input as complete: a file cut
    // inside a quoted field would lose the rest of it without a word.
    if let Some(line) = super::complete::open_quote_line(bytes, source.quote) {
        return Err(MappingError::Unreadable {
            file: file.to_string(),
            line,
            message: "a quoted field opened on this line is never closed (is the file cut short?)"
                .to_string(),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(source.delimiter)
        .quote(source.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut names: Option<Vec<String>> = None;
    if source.header {
        let mut record = ByteRecord::new();
        if !reader
            .read_byte_record(&mut record)
            .map_err(|e| unreadable(file, bytes, e))?
        {
            return Err(MappingError::Unreadable {
                file: file.to_string(),
                line: 1,
                message: "the file is empty: expected a header row".to_string(),
            });
        }
        names = Some(
            record
                .iter()
                .map(|c| String::from_utf8_lossy(trim(c)).into_owned())
                .collect(),
        );
    }
    Ok(Opened {
        bytes,
        reader,
        names,
    })
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

impl Opened<'_> {
    /// Hand every data row to `each` with the physical line it starts on; blank rows are
    /// skipped when the source says so.
    fn each_row(
        mut self,
        source: &CsvSource,
        file: &str,
        mut each: impl FnMut(&ByteRecord, usize) -> Result<(), MappingError>,
    ) -> Result<(), MappingError> {
        let mut record = ByteRecord::new();
        let mut lines = Lines::new(self.bytes);
        while self
            .reader
            .read_byte_record(&mut record)
            .map_err(|e| unreadable(file, self.bytes, e))?
        {
            let line = lines.at(record.position());
            if source.skip_blank_lines && record.iter().all(|c| trim(c).is_empty()) {
                continue;
            }
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

/// Read an order kind: columns first, then every row into the order its key names, then each
/// order finished (or rejected whole).
pub(crate) fn read(
    mapping: &Mapping,
    source: &CsvSource,
    file: &str,
    bytes: &[u8],
) -> Result<ReadResult, MappingError> {
    let opened = open(source, file, bytes)?;
    let Some(group_by) = &source.group_by else {
        return Err(MappingError::Invalid {
            mapping: mapping.name.clone(),
            key: "source.group_by".to_string(),
            message: "missing: name the column whose value groups line rows into one order"
                .to_string(),
        });
    };
    let names = opened.names.as_deref();
    let key = resolve_column(group_by, "source.group_by", names, mapping, file)?;
    let (lines, header) = field_columns(mapping, names, file)?
        .into_iter()
        .partition(|(spec, _)| spec.api.level == Level::Line);
    let mut orders = Orders {
        mapping,
        file,
        group_by,
        key,
        header,
        lines,
        width: opened.names.as_ref().map(Vec::len),
        rejections: Rejections::new(mapping.on_error),
        groups: Vec::new(),
        index: HashMap::new(),
        orphans: Vec::new(),
    };
    opened.each_row(source, file, |record, line| orders.row(record, line))?;
    orders.finish()
}

/// The orders of one file, as its rows are read.
struct Orders<'m, 'f> {
    mapping: &'m Mapping,
    file: &'f str,
    /// The order key's column as the mapping names it (for messages), and its index.
    group_by: &'m Column,
    key: usize,
    /// Header and ship_to fields with their columns, in mapping order.
    header: Vec<FieldColumn<'m>>,
    /// Line fields with their columns, in mapping order.
    lines: Vec<FieldColumn<'m>>,
    /// The header row's width (`None`: no header row).
    width: Option<usize>,
    rejections: Rejections,
    groups: Vec<Group>,
    /// Order key -> its index in `groups`.
    index: HashMap<Vec<u8>, usize>,
    /// Unreadable rows whose order had not been seen yet: (order key, problem).
    orphans: Vec<(Vec<u8>, Rejection)>,
}

impl Orders<'_, '_> {
    /// One data row: a line of the order its key names, started by this row if it is the
    /// order's first.
    fn row(&mut self, record: &ByteRecord, line: usize) -> Result<(), MappingError> {
        let key = record.get(self.key).map(trim).unwrap_or_default();
        let row = Row { record, line, key };
        if let Some(reason) = row.width_problem(self.width) {
            return self.misshapen(&row, reason);
        }
        if key.is_empty() {
            let reason = format!("the order key (column {}) is empty", self.group_by);
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
            first_ends: Vec::with_capacity(self.header.len()),
        };
        for (spec, col) in &self.header {
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
        for (spec, col) in &self.lines {
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
    /// never came), and each order is finished or rejected whole.
    fn finish(self) -> Result<ReadResult, MappingError> {
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
                None => rejections.list.push(r),
            }
        }
        let mut orders = Vec::with_capacity(groups.len());
        for group in groups {
            match group.draft.finish(mapping, file) {
                Ok(order) => orders.push(order),
                Err(problems) => {
                    for p in problems {
                        rejections.push(p)?;
                    }
                }
            }
        }
        Ok(ReadResult {
            orders,
            rejections: rejections.list,
        })
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
    let opened = open(source, file, bytes)?;
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
        let mut lines = Lines::new(b"a\n\nb");
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
