//! The finance reports (`export reconciliation`, `export invoices --outstanding`) as CSV, JSON
//! lines or xlsx.
//!
//! A report is a detail table, totals tables and a few facts about the report (as of, when the
//! mirror was pulled). How each format lays them out:
//! - CSV: the detail table under its header row; then, each after an empty line, every totals
//!   table under its own header row (the first cell names the table: `Totals by status`), and
//!   last a `Report` table of facts (`As of`, `Mirror pulled at`, ...). No comment lines, so a
//!   spreadsheet opens it as it is. Text that a spreadsheet would run as a formula (a vendor
//!   `=HYPERLINK(...)`) is neutralised with a `'` in front (`formula::neutralise`); money,
//!   counts and dates are never text, so they stay exactly as they are.
//! - JSON lines: one object per line with a `section` field: `report` (the facts) first, then
//!   `detail` rows, then `totals_by_status` / `totals_by_aging` rows. Money is an exact string.
//! - xlsx: the detail on the first sheet; the facts and totals on a second sheet, `Totals`.
//!   Money cells are numbers formatted `#,##0.00` (up to 4 places shown), dates are dates, and
//!   text is written as a string cell, which a spreadsheet never runs as a formula.
//!
//! Money is `Decimal` until the last moment; only the xlsx writer turns it into the spreadsheet's
//! own number type, cell by cell, after every sum has been made.

use std::io::Write;

use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::formula;
use crate::reconcile::{AgingRow, Report, Row, Total};

/// The formats a finance report can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReportFormat {
    Csv,
    JsonLines,
    Xlsx,
}

/// Facts about a report, written with it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReportInfo {
    /// The day invoices are aged at.
    pub as_of: Option<NaiveDate>,
    /// When the last successful invoices pull ended (RFC 3339), if ever.
    pub mirror_pulled_at: Option<String>,
    /// The mirror is older than `reconciliation.stale_after_hours` (or was never pulled).
    pub mirror_stale: bool,
    /// The ledger file, as given.
    pub ledger: Option<String>,
    /// Ledger lines left out because their open balance is zero.
    pub settled_lines: Option<u64>,
}

struct Col {
    /// The JSON key.
    key: &'static str,
    /// The header a finance reader sees.
    title: &'static str,
}

const fn col(key: &'static str, title: &'static str) -> Col {
    Col { key, title }
}

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Empty,
    Text(String),
    Money(Decimal),
    Integer(i64),
    Date(NaiveDate),
    /// A moment, in UTC: RFC 3339 as text, a date-time in a workbook.
    Time(chrono::DateTime<chrono::Utc>),
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Cell) -> Cell {
    v.map(f).unwrap_or(Cell::Empty)
}

struct Table {
    /// The JSON `section` of its rows.
    section: &'static str,
    cols: &'static [Col],
    rows: Vec<Vec<Cell>>,
}

struct Document {
    /// The xlsx sheet name of the detail table.
    sheet: &'static str,
    info: Vec<(&'static str, &'static str, Cell)>,
    detail: Table,
    totals: Vec<Table>,
}

/// The reconciliation's columns, in order.
const RECONCILIATION: &[Col] = &[
    col("status", "Status"),
    col("invoice_number", "Invoice Number"),
    col("currency", "Currency"),
    col("erp_currency", "ERP Currency"),
    col("ahead_balance", "AHEAD Balance Due"),
    col("erp_balance", "ERP Open Balance"),
    col("difference", "Difference (AHEAD - ERP)"),
    col("due_date", "Due Date"),
    col("days_past_due", "Days Past Due"),
    col("days_until_due", "Days Until Due"),
    col("aging", "Aging Bucket"),
    col("invoice_date", "Invoice Date"),
    col("ahead_status", "AHEAD Status"),
    col("closed_on", "Closed in AHEAD On"),
    col("purchase_order_number", "PO Number"),
    col("vendor", "Vendor"),
    col("erp_line", "ERP Ledger Line"),
    col("note", "Note"),
];

const TOTALS_BY_STATUS: &[Col] = &[
    col("status", "Totals by status"),
    col("currency", "Currency"),
    col("count", "Invoices"),
    col("ahead_balance", "AHEAD Balance Due"),
    col("erp_balance", "ERP Open Balance"),
    col("difference", "Difference (AHEAD - ERP)"),
];

const GRAND_TOTALS: &[Col] = &[
    col("total", "Grand total"),
    col("currency", "Currency"),
    col("count", "Invoices"),
    col("ahead_balance", "AHEAD Balance Due"),
    col("erp_balance", "ERP Open Balance"),
    col("difference", "Difference (AHEAD - ERP)"),
];

const TOTALS_BY_AGING: &[Col] = &[
    col("aging", "Totals by aging"),
    col("currency", "Currency"),
    col("count", "Invoices"),
    col("ahead_balance", "AHEAD Balance Due"),
    col("erp_balance", "ERP Open Balance"),
    col("difference", "Difference (AHEAD - ERP)"),
];

/// The aging view's columns.
const OUTSTANDING: &[Col] = &[
    col("invoice_number", "Invoice Number"),
    col("purchase_order_number", "PO Number"),
    col("currency", "Currency"),
    col("invoice_date", "Invoice Date"),
    col("due_date", "Due Date"),
    col("days_past_due", "Days Past Due"),
    col("days_until_due", "Days Until Due"),
    col("aging", "Aging Bucket"),
    col("status", "AHEAD Status"),
    col("total_amount", "Invoice Total"),
    col("amount_paid", "Amount Paid"),
    col("balance_due", "Balance Due"),
];

const OUTSTANDING_GRAND_TOTALS: &[Col] = &[
    col("total", "Grand total"),
    col("currency", "Currency"),
    col("count", "Invoices"),
    col("balance_due", "Balance Due"),
];

const OUTSTANDING_TOTALS: &[Col] = &[
    col("aging", "Totals by aging"),
    col("currency", "Currency"),
    col("count", "Invoices"),
    col("balance_due", "Balance Due"),
];

/// Days past due, never negative, and days until due, for an invoice not yet due: `as_of -
/// due date` split in two columns, so that neither reads as a negative count.
fn due_cells(days: Option<i64>) -> [Cell; 2] {
    match days {
        None => [Cell::Empty, Cell::Empty],
        Some(d) if d > 0 => [Cell::Integer(d), Cell::Empty],
        Some(d) => [Cell::Integer(0), Cell::Integer(-d)],
    }
}

fn detail_row(r: &Row) -> Vec<Cell> {
    let [past_due, until_due] = due_cells(r.days_past_due);
    vec![
        text(r.status.as_str()),
        text(r.invoice_number.clone()),
        text(r.currency.clone()),
        opt(r.erp_currency.clone(), Cell::Text),
        opt(r.ahead_balance, Cell::Money),
        opt(r.erp_balance, Cell::Money),
        opt(r.difference, Cell::Money),
        opt(r.due_date, Cell::Date),
        past_due,
        until_due,
        opt(r.aging, |a| text(a.as_str())),
        opt(r.invoice_date, Cell::Date),
        opt(r.ahead_status.clone(), Cell::Text),
        opt(r.closed_on, Cell::Date),
        opt(r.purchase_order_number.clone(), Cell::Text),
        opt(r.vendor.clone(), Cell::Text),
        opt(r.erp_line, |l| Cell::Integer(l as i64)),
        if r.note.is_empty() {
            Cell::Empty
        } else {
            text(r.note.clone())
        },
    ]
}

fn total_row(t: &Total) -> Vec<Cell> {
    vec![
        text(t.group),
        text(t.currency.clone()),
        Cell::Integer(t.count as i64),
        opt(t.ahead_balance, Cell::Money),
        opt(t.erp_balance, Cell::Money),
        opt(t.difference, Cell::Money),
    ]
}

fn info_rows(info: &ReportInfo) -> Vec<(&'static str, &'static str, Cell)> {
    let mut out = vec![
        ("as_of", "As of", opt(info.as_of, Cell::Date)),
        (
            "mirror_pulled_at",
            "Mirror pulled at",
            match &info.mirror_pulled_at {
                Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
                    Ok(at) => Cell::Time(at.with_timezone(&chrono::Utc)),
                    Err(_) => text(t.clone()),
                },
                None => text("never"),
            },
        ),
        (
            "mirror_stale",
            "Mirror stale",
            text(if info.mirror_stale { "yes" } else { "no" }),
        ),
    ];
    if let Some(ledger) = &info.ledger {
        out.push(("ledger", "Ledger file", text(ledger.clone())));
    }
    if let Some(n) = info.settled_lines {
        out.push((
            "settled_ledger_lines",
            "Ledger lines with a zero open balance (left out)",
            Cell::Integer(n as i64),
        ));
    }
    out
}

/// Write the reconciliation.
pub(crate) fn write_reconciliation(
    report: &Report,
    info: &ReportInfo,
    format: ReportFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let doc = Document {
        sheet: "Reconciliation",
        info: info_rows(info),
        detail: Table {
            section: "detail",
            cols: RECONCILIATION,
            rows: report.rows.iter().map(detail_row).collect(),
        },
        totals: vec![
            Table {
                section: "totals_by_status",
                cols: TOTALS_BY_STATUS,
                rows: report.by_status.iter().map(total_row).collect(),
            },
            Table {
                section: "totals_by_aging",
                cols: TOTALS_BY_AGING,
                rows: report.by_aging.iter().map(total_row).collect(),
            },
            Table {
                section: "grand_totals",
                cols: GRAND_TOTALS,
                rows: report.grand_totals.iter().map(total_row).collect(),
            },
        ],
    };
    write(&doc, format, out)
}

/// Write the aging view of AHEAD's outstanding invoices.
pub(crate) fn write_outstanding(
    rows: &[AgingRow],
    totals: &[Total],
    info: &ReportInfo,
    format: ReportFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let doc = Document {
        sheet: "Outstanding",
        info: info_rows(info),
        detail: Table {
            section: "detail",
            cols: OUTSTANDING,
            rows: rows
                .iter()
                .map(|r| {
                    let i = &r.invoice;
                    let [past_due, until_due] = due_cells(r.days_past_due);
                    vec![
                        text(i.number.clone()),
                        opt(i.purchase_order_number.clone(), Cell::Text),
                        text(i.currency.clone()),
                        opt(i.invoice_date, Cell::Date),
                        opt(i.due_date, Cell::Date),
                        past_due,
                        until_due,
                        text(r.aging.as_str()),
                        text(i.status.clone()),
                        Cell::Money(i.total_amount),
                        Cell::Money(i.amount_paid),
                        Cell::Money(i.balance_due),
                    ]
                })
                .collect(),
        },
        totals: vec![
            Table {
                section: "totals_by_aging",
                cols: OUTSTANDING_TOTALS,
                rows: totals
                    .iter()
                    .map(|t| {
                        vec![
                            text(t.group),
                            text(t.currency.clone()),
                            Cell::Integer(t.count as i64),
                            opt(t.ahead_balance, Cell::Money),
                        ]
                    })
                    .collect(),
            },
            Table {
                section: "grand_totals",
                cols: OUTSTANDING_GRAND_TOTALS,
                rows: grand_totals(totals)
                    .into_iter()
                    .map(|(currency, count, balance)| {
                        vec![
                            text("all"),
                            text(currency),
                            Cell::Integer(count as i64),
                            Cell::Money(balance),
                        ]
                    })
                    .collect(),
            },
        ],
    };
    write(&doc, format, out)
}

/// The aging totals summed per currency (never across currencies), exactly.
fn grand_totals(by_aging: &[Total]) -> Vec<(String, u64, Decimal)> {
    let mut out: Vec<(String, u64, Decimal)> = Vec::new();
    for t in by_aging {
        let balance = t.ahead_balance.unwrap_or_default();
        match out.iter_mut().find(|(c, _, _)| *c == t.currency) {
            Some((_, count, sum)) => {
                *count += t.count;
                *sum += balance;
            }
            None => out.push((t.currency.clone(), t.count, balance)),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn write(doc: &Document, format: ReportFormat, out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        ReportFormat::Csv => write_csv(doc, out),
        ReportFormat::JsonLines => write_json(doc, out),
        ReportFormat::Xlsx => {
            let bytes = xlsx(doc)?;
            out.write_all(&bytes)?;
            Ok(())
        }
    }
}

/// Money as text: exact, with 2 to 4 decimal places (`12480` -> `12480.00`).
pub(crate) fn money_text(d: Decimal) -> String {
    let mut n = d.normalize();
    if n.scale() < 2 {
        n.rescale(2);
    }
    if n.is_zero() {
        n.set_sign_positive(true);
    }
    n.to_string()
}

fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Empty => String::new(),
        Cell::Text(s) => s.clone(),
        Cell::Money(d) => money_text(*d),
        Cell::Integer(n) => n.to_string(),
        Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
        Cell::Time(t) => crate::time::rfc3339(*t),
    }
}

/// A CSV cell: as `cell_text`, with text a spreadsheet would run as a formula neutralised.
fn cell_csv(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => formula::neutralise(s).into_owned(),
        other => cell_text(other),
    }
}

fn cell_json(cell: &Cell) -> Value {
    match cell {
        Cell::Empty => Value::Null,
        Cell::Integer(n) => Value::from(*n),
        other => Value::String(cell_text(other)),
    }
}

fn write_csv(doc: &Document, out: &mut dyn Write) -> anyhow::Result<()> {
    // Each table under its own header row; an empty line between tables.
    let mut tables: Vec<(Vec<String>, Vec<Vec<String>>)> = Vec::new();
    for t in std::iter::once(&doc.detail).chain(&doc.totals) {
        tables.push((
            t.cols.iter().map(|c| c.title.to_string()).collect(),
            t.rows
                .iter()
                .map(|row| row.iter().map(cell_csv).collect())
                .collect(),
        ));
    }
    tables.push((
        vec!["Report".to_string(), String::new()],
        doc.info
            .iter()
            .map(|(_, title, value)| vec![title.to_string(), cell_csv(value)])
            .collect(),
    ));
    for (i, (header, rows)) in tables.iter().enumerate() {
        if i > 0 {
            out.write_all(b"\n")?;
        }
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(&mut *out);
        w.write_record(header)?;
        for row in rows {
            w.write_record(row)?;
        }
        w.flush()?;
    }
    out.flush()?;
    Ok(())
}

fn write_json(doc: &Document, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut line = |record: Map<String, Value>| -> anyhow::Result<()> {
        serde_json::to_writer(&mut *out, &record)?;
        out.write_all(b"\n")?;
        Ok(())
    };
    let mut info = Map::new();
    info.insert("section".into(), Value::from("report"));
    for (key, _, value) in &doc.info {
        let value = match (*key, value) {
            ("mirror_stale", Cell::Text(s)) => Value::Bool(s == "yes"),
            ("mirror_pulled_at", Cell::Text(s)) if s == "never" => Value::Null,
            _ => cell_json(value),
        };
        info.insert((*key).into(), value);
    }
    line(info)?;
    for t in std::iter::once(&doc.detail).chain(&doc.totals) {
        for row in &t.rows {
            let mut record = Map::new();
            record.insert("section".into(), Value::from(t.section));
            for (c, cell) in t.cols.iter().zip(row) {
                record.insert(c.key.into(), cell_json(cell));
            }
            line(record)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn xlsx(doc: &Document) -> anyhow::Result<Vec<u8>> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet};

    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00##;-#,##0.00##");
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let time = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss \"UTC\"");
    let put = |sheet: &mut Worksheet, row: u32, col: u16, cell: &Cell| -> anyhow::Result<()> {
        match cell {
            Cell::Empty => {}
            Cell::Text(s) => {
                sheet.write_string(row, col, s)?;
            }
            Cell::Integer(n) => {
                sheet.write_number(row, col, *n as f64)?;
            }
            Cell::Money(d) => {
                // The spreadsheet's number type; every sum was made exactly before this.
                let v = d
                    .to_f64()
                    .ok_or_else(|| anyhow::anyhow!("{d} does not fit a spreadsheet number"))?;
                sheet.write_number_with_format(row, col, v, &money)?;
            }
            Cell::Date(d) => {
                use chrono::Datelike;
                let dt = ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8)?;
                sheet.write_datetime_with_format(row, col, &dt, &date)?;
            }
            Cell::Time(t) => {
                let dt = ExcelDateTime::from_timestamp(t.timestamp())?;
                sheet.write_datetime_with_format(row, col, &dt, &time)?;
            }
        }
        Ok(())
    };
    let table = |sheet: &mut Worksheet, first: u32, t: &Table| -> anyhow::Result<u32> {
        for (c, col) in t.cols.iter().enumerate() {
            sheet.write_string_with_format(first, c as u16, col.title, &bold)?;
        }
        let mut r = first + 1;
        for row in &t.rows {
            for (c, cell) in row.iter().enumerate() {
                put(sheet, r, c as u16, cell)?;
            }
            r += 1;
        }
        Ok(r)
    };

    // Printed in landscape, as wide as the page (as many pages long as it takes), the
    // header row on every page.
    let print = |sheet: &mut Worksheet, header_row: Option<u32>| -> anyhow::Result<()> {
        sheet.set_landscape();
        sheet.set_print_fit_to_pages(1, 0);
        if let Some(row) = header_row {
            sheet.set_repeat_rows(row, row)?;
        }
        Ok(())
    };

    let mut workbook = Workbook::new();
    {
        let sheet = workbook.add_worksheet();
        sheet.set_name(doc.sheet)?;
        let end = table(sheet, 0, &doc.detail)?;
        sheet.set_freeze_panes(1, 0)?;
        // Filter buttons on the header row, over every row (a header alone when empty).
        let last_col = doc.detail.cols.len().saturating_sub(1) as u16;
        sheet.autofilter(0, 0, end.saturating_sub(1), last_col)?;
        print(sheet, Some(0))?;
        sheet.autofit();
    }
    {
        let sheet = workbook.add_worksheet();
        sheet.set_name("Totals")?;
        print(sheet, None)?;
        sheet.write_string_with_format(0, 0, "Report", &bold)?;
        let mut r = 1;
        for (_, title, value) in &doc.info {
            sheet.write_string(r, 0, *title)?;
            put(sheet, r, 1, value)?;
            r += 1;
        }
        for t in &doc.totals {
            r = table(sheet, r + 1, t)?;
        }
        sheet.autofit();
    }
    Ok(workbook.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// A credit note whose PO number is a formula: the CSV neutralises the text and leaves
    /// the money (negative), the days until due and the dates as they are; JSON lines
    /// keep the text exactly.
    #[test]
    fn the_csv_neutralises_formula_text_and_keeps_numbers() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let invoice = crate::reconcile::Invoice {
            number: "-CN-1".into(),
            purchase_order_number: Some("=HYPERLINK(\"https://x.example\")".into()),
            currency: "USD".into(),
            invoice_date: Some(day("2026-11-01")),
            due_date: Some(day("2026-12-05")),
            total_amount: d("-12.50"),
            amount_paid: d("0"),
            balance_due: d("-12.50"),
            status: "@open".into(),
            closed: false,
            closed_on: None,
        };
        let (rows, totals) = crate::reconcile::aging_view(&[invoice], day("2026-11-30"));
        let info = ReportInfo::default();
        let write = |format| {
            let mut out = Vec::new();
            write_outstanding(&rows, &totals, &info, format, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let csv = write(ReportFormat::Csv);
        let detail = csv.lines().nth(1).unwrap();
        assert_eq!(
            detail,
            "'-CN-1,\"'=HYPERLINK(\"\"https://x.example\"\")\",USD,2026-11-01,2026-12-05,0,5,current,'@open,-12.50,0.00,-12.50"
        );
        assert!(csv.contains("\ncurrent,USD,1,-12.50\n"), "{csv}");
        assert!(csv.contains("\nall,USD,1,-12.50\n"), "{csv}");
        let json = write(ReportFormat::JsonLines);
        assert!(
            json.contains(r#""purchase_order_number":"=HYPERLINK(\"https://x.example\")""#),
            "{json}"
        );
        assert!(json.contains(r#""invoice_number":"-CN-1""#), "{json}");
    }

    #[test]
    fn money_text_is_exact_with_two_to_four_places() {
        for (raw, want) in [
            ("12480", "12480.00"),
            ("2310.750", "2310.75"),
            ("0.1234", "0.1234"),
            ("-200.0", "-200.00"),
            ("-0.00", "0.00"),
        ] {
            assert_eq!(money_text(Decimal::from_str(raw).unwrap()), want, "{raw}");
        }
    }
}
