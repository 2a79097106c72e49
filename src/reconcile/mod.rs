//! The finance reconciliation: AHEAD's outstanding invoices against the ERP's AP ledger.
//!
//! Pure: it is handed the invoices (from the mirror), the ledger lines (already read through
//! the mapping engine) and the day to age them at, and returns rows and totals. It never opens
//! a file, reads the store or looks at the clock; `export::reconciliation` writes what it gives.
//!
//! Decisions a finance reader relies on:
//! - Invoices are matched by number, trimmed and compared without regard to case.
//! - A ledger line with an open balance of zero is settled in the ERP and takes no part (a
//!   ledger export of "open" lines may still carry them); when AHEAD still shows that invoice
//!   outstanding it is `missing_in_erp`, with a note naming the settled line.
//! - The first ledger line for an invoice is the one compared; a later line with the same
//!   number is reported as `duplicate_in_erp` and left out of every money total, so nothing is
//!   counted twice.
//! - Money is `Decimal` throughout and totals are kept per currency: nothing is ever summed
//!   across currencies. When the ledger states another currency than AHEAD for the same
//!   invoice the pair is `currency_mismatch`: both currencies on the row, its amounts in no
//!   money total and in no aging total; the status totals count it under the pair (`USD/EUR`).
//! - The aging bucket uses AHEAD's due date when AHEAD knows the invoice, else the ledger's.

mod read;

use std::collections::{BTreeMap, HashMap};

pub(crate) use read::{invoice_from, ledger_line};

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// An AHEAD invoice as the mirror holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Invoice {
    pub number: String,
    pub purchase_order_number: Option<String>,
    pub currency: String,
    pub invoice_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub total_amount: Decimal,
    pub amount_paid: Decimal,
    pub balance_due: Decimal,
    /// AHEAD's status: `open`, `partially_paid`, `paid`, `void`.
    pub status: String,
    /// It left the outstanding set (paid or void); `closed_on` is when (its last update).
    pub closed: bool,
    pub closed_on: Option<NaiveDate>,
}

/// One line of the ERP's AP ledger, as read through the ledger mapping.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LedgerLine {
    /// The physical line in the ledger file (header = 1).
    pub line: usize,
    pub invoice_number: String,
    pub vendor: Option<String>,
    pub purchase_order_number: Option<String>,
    pub invoice_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub amount: Option<Decimal>,
    pub amount_paid: Option<Decimal>,
    pub open_balance: Decimal,
    pub currency: Option<String>,
}

/// A ledger row the mapping could not read: shown in the report, never counted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RejectedLine {
    pub line: usize,
    pub invoice_number: Option<String>,
    /// What is wrong, with the field: `open_balance: "12,48.00" is not a number`.
    pub reason: String,
}

/// A row's verdict. The order here is the report's order: problems first, agreement last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Status {
    /// Both sides know the invoice, in the same currency, and disagree on what is owed.
    AmountMismatch,
    /// Both sides know the invoice, each in another currency: the amounts cannot be compared.
    CurrencyMismatch,
    /// AHEAD says it is outstanding; the ERP has no open line for it.
    MissingInErp,
    /// The ERP has an open line; AHEAD has never had the invoice.
    MissingInAhead,
    /// The ERP has an open line; AHEAD shows the invoice paid or void.
    ClosedInAhead,
    /// A second (third...) ledger line for an invoice: reported, not counted.
    DuplicateInErp,
    /// A ledger row that could not be read: reported, not counted.
    LedgerRowRejected,
    /// Both sides agree on the balance due.
    Matched,
}

impl Status {
    pub(crate) const ALL: [Status; 8] = [
        Status::AmountMismatch,
        Status::CurrencyMismatch,
        Status::MissingInErp,
        Status::MissingInAhead,
        Status::ClosedInAhead,
        Status::DuplicateInErp,
        Status::LedgerRowRejected,
        Status::Matched,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Matched => "matched",
            Status::AmountMismatch => "amount_mismatch",
            Status::CurrencyMismatch => "currency_mismatch",
            Status::MissingInErp => "missing_in_erp",
            Status::MissingInAhead => "missing_in_ahead",
            Status::ClosedInAhead => "closed_in_ahead",
            Status::DuplicateInErp => "duplicate_in_erp",
            Status::LedgerRowRejected => "ledger_row_rejected",
        }
    }

    /// Whether the row's money goes into the totals (and the row into the aging totals).
    pub(crate) fn counted(self) -> bool {
        !matches!(
            self,
            Status::CurrencyMismatch | Status::DuplicateInErp | Status::LedgerRowRejected
        )
    }
}

/// Days past due, bucketed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Aging {
    /// Not yet due, or due today.
    Current,
    Days1To30,
    Days31To60,
    Days61To90,
    Over90,
    /// Neither side states a due date.
    NoDueDate,
}

impl Aging {
    pub(crate) const ALL: [Aging; 6] = [
        Aging::Current,
        Aging::Days1To30,
        Aging::Days31To60,
        Aging::Days61To90,
        Aging::Over90,
        Aging::NoDueDate,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Aging::Current => "current",
            Aging::Days1To30 => "1-30",
            Aging::Days31To60 => "31-60",
            Aging::Days61To90 => "61-90",
            Aging::Over90 => "90+",
            Aging::NoDueDate => "no due date",
        }
    }

    /// The bucket for `days` past due (negative: not yet due).
    pub(crate) fn of_days(days: i64) -> Aging {
        match days {
            i64::MIN..=0 => Aging::Current,
            1..=30 => Aging::Days1To30,
            31..=60 => Aging::Days31To60,
            61..=90 => Aging::Days61To90,
            _ => Aging::Over90,
        }
    }
}

/// Days past due as of `as_of` and the bucket; `(None, NoDueDate)` without a due date.
pub(crate) fn age(due: Option<NaiveDate>, as_of: NaiveDate) -> (Option<i64>, Aging) {
    match due {
        Some(due) => {
            let days = (as_of - due).num_days();
            (Some(days), Aging::of_days(days))
        }
        None => (None, Aging::NoDueDate),
    }
}

/// The key invoices are matched by: trimmed, case folded.
pub(crate) fn normalise(number: &str) -> String {
    number.trim().to_uppercase()
}

/// One row of the reconciliation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub status: Status,
    /// As AHEAD writes it when AHEAD knows the invoice, else as the ledger does.
    pub invoice_number: String,
    /// AHEAD's currency when known, else the ledger's; empty when neither says.
    pub currency: String,
    /// The ledger line's currency, as the ledger states it; `None` when it does not (AHEAD's
    /// is then assumed) or there is no ledger line.
    pub erp_currency: Option<String>,
    pub ahead_balance: Option<Decimal>,
    pub erp_balance: Option<Decimal>,
    /// `ahead_balance - erp_balance`, when both are known and in the same currency.
    pub difference: Option<Decimal>,
    pub due_date: Option<NaiveDate>,
    /// Days since the due date: negative while not yet due (the reports show it as days past
    /// due, never negative, and days until due).
    pub days_past_due: Option<i64>,
    /// `None` for duplicates and rejected rows.
    pub aging: Option<Aging>,
    pub invoice_date: Option<NaiveDate>,
    pub ahead_status: Option<String>,
    /// `closed_in_ahead`: the day AHEAD closed it (its last update).
    pub closed_on: Option<NaiveDate>,
    pub purchase_order_number: Option<String>,
    pub vendor: Option<String>,
    /// The ledger line compared (or reported).
    pub erp_line: Option<usize>,
    pub note: String,
}

impl Row {
    fn blank(status: Status, invoice_number: String) -> Row {
        Row {
            status,
            invoice_number,
            currency: String::new(),
            erp_currency: None,
            ahead_balance: None,
            erp_balance: None,
            difference: None,
            due_date: None,
            days_past_due: None,
            aging: None,
            invoice_date: None,
            ahead_status: None,
            closed_on: None,
            purchase_order_number: None,
            vendor: None,
            erp_line: None,
            note: String::new(),
        }
    }
}

/// A total over the rows of one group (a status or an aging bucket) in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Total {
    /// The status or aging bucket name.
    pub group: &'static str,
    /// The rows' currency; for `currency_mismatch`, the pair `AHEAD/ERP` (`USD/EUR`).
    pub currency: String,
    pub count: u64,
    /// Sums over the rows that have the amount; `None` when no row of the group has one, and
    /// always `None` for groups that are not counted (currency mismatches, duplicates,
    /// rejected rows).
    pub ahead_balance: Option<Decimal>,
    pub erp_balance: Option<Decimal>,
    pub difference: Option<Decimal>,
}

fn add(sum: &mut Option<Decimal>, value: Option<Decimal>) {
    if let Some(v) = value {
        *sum = Some(sum.unwrap_or_default() + v);
    }
}

/// The reconciliation: rows in report order, and totals per status and per aging bucket, each
/// per currency.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Report {
    pub rows: Vec<Row>,
    pub by_status: Vec<Total>,
    pub by_aging: Vec<Total>,
    /// Per currency, every row counted in the money totals (group `all`): the grand totals.
    pub grand_totals: Vec<Total>,
    /// Ledger lines left out because their open balance is zero.
    pub settled_lines: u64,
}

impl Report {
    pub(crate) fn count(&self, status: Status) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }
}

/// Match `invoices` (the whole invoices mirror: outstanding and closed) with the ledger.
pub(crate) fn reconcile(
    invoices: &[Invoice],
    ledger: &[LedgerLine],
    rejected: &[RejectedLine],
    as_of: NaiveDate,
) -> Report {
    let mirror = Mirror::of(invoices);
    let mut rows = Vec::new();
    // Normalised number -> the ledger line compared for it, and its open balance.
    let mut first_line: HashMap<String, (usize, Decimal)> = HashMap::new();
    // Normalised number -> a settled (zero balance) line, for the note on missing_in_erp.
    let mut settled: HashMap<String, usize> = HashMap::new();
    let mut settled_lines = 0;
    for line in ledger {
        let key = normalise(&line.invoice_number);
        if line.open_balance.is_zero() {
            settled_lines += 1;
            settled.entry(key).or_insert(line.line);
        } else if let Some(&(first, first_balance)) = first_line.get(&key) {
            rows.push(duplicate_row(line, first, first_balance));
        } else {
            first_line.insert(key.clone(), (line.line, line.open_balance));
            rows.push(
                match (mirror.outstanding.get(&key), mirror.closed.get(&key)) {
                    (Some(inv), _) => outstanding_row(inv, line, as_of),
                    (None, Some(inv)) => closed_row(inv, line, as_of),
                    (None, None) => missing_in_ahead_row(line, as_of),
                },
            );
        }
    }
    for inv in invoices.iter().filter(|i| !i.closed) {
        let key = normalise(&inv.number);
        // An outstanding number seen twice in the mirror is reported once.
        if first_line.contains_key(&key) || !std::ptr::eq(mirror.outstanding[&key], inv) {
            continue;
        }
        rows.push(missing_in_erp_row(inv, settled.get(&key).copied(), as_of));
    }
    rows.extend(rejected.iter().map(rejected_row));
    rows.sort_by_cached_key(|r| (r.status, normalise(&r.invoice_number), r.erp_line));

    let by_status = totals(
        &rows,
        |r| Some(r.status.as_str()),
        Status::ALL.map(Status::as_str),
    );
    let by_aging = totals(
        &rows,
        |r| r.aging.filter(|_| r.status.counted()).map(Aging::as_str),
        Aging::ALL.map(Aging::as_str),
    );
    let grand_totals = totals(&rows, |r| r.status.counted().then_some("all"), ["all"]);
    Report {
        rows,
        by_status,
        by_aging,
        grand_totals,
        settled_lines,
    }
}

/// The mirror's invoices by normalised number: the first of each, outstanding or closed.
struct Mirror<'a> {
    outstanding: HashMap<String, &'a Invoice>,
    closed: HashMap<String, &'a Invoice>,
}

impl<'a> Mirror<'a> {
    fn of(invoices: &'a [Invoice]) -> Mirror<'a> {
        let mut mirror = Mirror {
            outstanding: HashMap::new(),
            closed: HashMap::new(),
        };
        for inv in invoices {
            let map = if inv.closed {
                &mut mirror.closed
            } else {
                &mut mirror.outstanding
            };
            map.entry(normalise(&inv.number)).or_insert(inv);
        }
        mirror
    }
}

/// A second open ledger line for an invoice: listed, counted in no money total.
fn duplicate_row(line: &LedgerLine, first: usize, first_balance: Decimal) -> Row {
    let mut row = Row::blank(Status::DuplicateInErp, line.invoice_number.trim().into());
    row.currency = line.currency.clone().unwrap_or_default();
    row.erp_currency = line.currency.clone();
    row.erp_balance = Some(line.open_balance);
    row.erp_line = Some(line.line);
    row.vendor = line.vendor.clone();
    row.due_date = line.due_date;
    row.invoice_date = line.invoice_date;
    let differs = if first_balance == line.open_balance {
        String::new()
    } else {
        format!(", which says {first_balance}")
    };
    row.note = format!(
        "same invoice as ledger line {first}{differs}; this line is not counted in any total"
    );
    row
}

/// Both know it and AHEAD has it outstanding: matched, or the amounts or currencies differ.
fn outstanding_row(inv: &Invoice, line: &LedgerLine, as_of: NaiveDate) -> Row {
    let mut row = invoice_row(Status::Matched, inv, as_of);
    fill_ledger(&mut row, line);
    match other_currency(inv, line) {
        Some(note) => {
            row.status = Status::CurrencyMismatch;
            row.note = note;
        }
        None => {
            let difference = inv.balance_due - line.open_balance;
            row.difference = Some(difference);
            if !difference.is_zero() {
                row.status = Status::AmountMismatch;
            }
        }
    }
    row
}

/// Open in the ledger, paid or void in AHEAD.
fn closed_row(inv: &Invoice, line: &LedgerLine, as_of: NaiveDate) -> Row {
    let mut row = invoice_row(Status::ClosedInAhead, inv, as_of);
    fill_ledger(&mut row, line);
    row.closed_on = inv.closed_on;
    let closed = format!(
        "AHEAD shows it {}{}",
        inv.status,
        inv.closed_on
            .map(|d| format!(" since {d}"))
            .unwrap_or_default()
    );
    match other_currency(inv, line) {
        Some(note) => {
            row.status = Status::CurrencyMismatch;
            row.note = format!("{note}; {closed}");
        }
        None => {
            row.difference = Some(inv.balance_due - line.open_balance);
            row.note = closed;
        }
    }
    row
}

/// Open in the ledger, unknown to AHEAD: aged by the ledger's due date.
fn missing_in_ahead_row(line: &LedgerLine, as_of: NaiveDate) -> Row {
    let mut row = Row::blank(Status::MissingInAhead, line.invoice_number.trim().into());
    row.currency = line.currency.clone().unwrap_or_default();
    fill_ledger(&mut row, line);
    let (days, aging) = age(line.due_date, as_of);
    row.due_date = line.due_date;
    row.days_past_due = days;
    row.aging = Some(aging);
    row.invoice_date = line.invoice_date;
    row
}

/// Outstanding in AHEAD with no open ledger line; `settled` is a zero-balance line for it.
fn missing_in_erp_row(inv: &Invoice, settled: Option<usize>, as_of: NaiveDate) -> Row {
    let mut row = invoice_row(Status::MissingInErp, inv, as_of);
    if let Some(line) = settled {
        row.note = format!("the ERP shows it settled (ledger line {line}, open balance 0)");
        row.erp_line = Some(line);
    }
    row
}

/// A ledger row the mapping could not read: listed with its reason, counted nowhere.
fn rejected_row(r: &RejectedLine) -> Row {
    let mut row = Row::blank(
        Status::LedgerRowRejected,
        r.invoice_number.clone().unwrap_or_default(),
    );
    row.erp_line = Some(r.line);
    row.note = r.reason.clone();
    row
}

/// Totals per (group, currency), groups in `order`, currencies alphabetically within a group.
fn totals<const N: usize>(
    rows: &[Row],
    group_of: impl Fn(&Row) -> Option<&'static str>,
    order: [&'static str; N],
) -> Vec<Total> {
    let mut map: BTreeMap<(usize, String), Total> = BTreeMap::new();
    for row in rows {
        let Some(group) = group_of(row) else {
            continue;
        };
        let position = order.iter().position(|g| *g == group).unwrap_or(N);
        let currency = match (row.status, &row.erp_currency) {
            (Status::CurrencyMismatch, Some(erp)) => format!("{}/{erp}", row.currency),
            _ => row.currency.clone(),
        };
        let total = map
            .entry((position, currency.clone()))
            .or_insert_with(|| Total {
                group,
                currency,
                count: 0,
                ahead_balance: None,
                erp_balance: None,
                difference: None,
            });
        total.count += 1;
        if row.status.counted() {
            add(&mut total.ahead_balance, row.ahead_balance);
            add(&mut total.erp_balance, row.erp_balance);
            add(&mut total.difference, row.difference);
        }
    }
    map.into_values().collect()
}

fn invoice_row(status: Status, inv: &Invoice, as_of: NaiveDate) -> Row {
    let (days, aging) = age(inv.due_date, as_of);
    let mut row = Row::blank(status, inv.number.clone());
    row.currency = inv.currency.clone();
    row.ahead_balance = Some(inv.balance_due);
    row.due_date = inv.due_date;
    row.days_past_due = days;
    row.aging = Some(aging);
    row.invoice_date = inv.invoice_date;
    row.ahead_status = Some(inv.status.clone());
    row.purchase_order_number = inv.purchase_order_number.clone();
    row
}

/// When the ledger line states another currency than AHEAD's invoice: the note saying so.
fn other_currency(inv: &Invoice, line: &LedgerLine) -> Option<String> {
    match &line.currency {
        Some(c) if *c != inv.currency => Some(format!(
            "currencies differ: AHEAD {}, ERP {c}; amounts not compared",
            inv.currency
        )),
        _ => None,
    }
}

fn fill_ledger(row: &mut Row, line: &LedgerLine) {
    row.erp_currency = line.currency.clone();
    row.erp_balance = Some(line.open_balance);
    row.erp_line = Some(line.line);
    row.vendor = line.vendor.clone();
    if row.purchase_order_number.is_none() {
        row.purchase_order_number = line.purchase_order_number.clone();
    }
}

/// One row of the aging view (`export invoices --outstanding`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AgingRow {
    pub invoice: Invoice,
    /// Days since the due date, negative while not yet due (as in [`Row`]).
    pub days_past_due: Option<i64>,
    pub aging: Aging,
}

/// The aging view: AHEAD's outstanding invoices, oldest due first, with totals per bucket and
/// currency (`ahead_balance` is the balance due; the other sums are left empty).
pub(crate) fn aging_view(invoices: &[Invoice], as_of: NaiveDate) -> (Vec<AgingRow>, Vec<Total>) {
    let mut rows: Vec<AgingRow> = invoices
        .iter()
        .filter(|i| !i.closed)
        .map(|inv| {
            let (days_past_due, aging) = age(inv.due_date, as_of);
            AgingRow {
                invoice: inv.clone(),
                days_past_due,
                aging,
            }
        })
        .collect();
    rows.sort_by_cached_key(|r| {
        (
            r.days_past_due.is_none(),
            std::cmp::Reverse(r.days_past_due),
            normalise(&r.invoice.number),
        )
    });
    let as_rows: Vec<Row> = rows
        .iter()
        // Only the AHEAD side exists here; the status just has to be one that is counted.
        .map(|r| invoice_row(Status::Matched, &r.invoice, as_of))
        .collect();
    let totals = totals(
        &as_rows,
        |r| r.aging.map(Aging::as_str),
        Aging::ALL.map(Aging::as_str),
    );
    (rows, totals)
}

#[cfg(test)]
mod tests;
