//! Hand-computed reconciliations. The month-end case, as of 2026-11-30:
//!
//! | AHEAD | ERP ledger | expected |
//! |---|---|---|
//! | INV-1 USD 100.00 open, due 11-30 | line 2 " inv-1 " 100.00 | matched, current |
//! | INV-2 USD total 500.00, paid 200.00, due 11-15 | line 3 500.00 | amount_mismatch -200.00, 1-30 (15 days) |
//! | INV-3 EUR 1000.50 open, due 09-30 | - | missing_in_erp, 61-90 (61 days) |
//! | INV-4 USD paid on 11-20, due 10-01 | line 4 250.00 | closed_in_ahead, 31-60 (60 days) |
//! | - | line 5 INV-5 EUR 75.25, due 07-01 | missing_in_ahead, 90+ (152 days) |
//! | (INV-1) | line 6 INV-1 100.00 again | duplicate_in_erp, not counted |
//! | - | line 7 unreadable | ledger_row_rejected |
//! | INV-6 EUR 20.00, due 12-10 | line 8 20.00 | matched, current (-10 days) |
//! | INV-7 USD 40.00, due 11-01 | line 9 INV-7 0.00 | missing_in_erp (the ERP settled it), 1-30 |
//! | INV-9 USD 60.00, due 11-20 | line 10 INV-9 EUR 55.00 | currency_mismatch, 1-30 (10 days), in no money total |

use std::str::FromStr;

use super::*;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn invoice(number: &str, currency: &str, total: &str, paid: &str, due: &str) -> Invoice {
    let balance = d(total) - d(paid);
    Invoice {
        number: number.into(),
        purchase_order_number: Some(format!("PO-{number}")),
        currency: currency.into(),
        invoice_date: Some(day(due) - chrono::Duration::days(30)),
        due_date: Some(day(due)),
        total_amount: d(total),
        amount_paid: d(paid),
        balance_due: balance,
        status: if d(paid).is_zero() {
            "open".into()
        } else {
            "partially_paid".into()
        },
        closed: false,
        closed_on: None,
    }
}

fn line(n: usize, number: &str, currency: &str, open: &str, due: &str) -> LedgerLine {
    LedgerLine {
        line: n,
        invoice_number: number.into(),
        vendor: Some("AHEAD".into()),
        purchase_order_number: None,
        invoice_date: None,
        due_date: Some(day(due)),
        amount: Some(d(open)),
        amount_paid: Some(Decimal::ZERO),
        open_balance: d(open),
        currency: Some(currency.into()),
    }
}

fn month_end() -> Report {
    let mut paid = invoice("INV-4", "USD", "250.00", "250.00", "2026-10-01");
    paid.status = "paid".into();
    paid.closed = true;
    paid.closed_on = Some(day("2026-11-20"));
    let invoices = vec![
        invoice("INV-1", "USD", "100.00", "0", "2026-11-30"),
        invoice("INV-2", "USD", "500.00", "200.00", "2026-11-15"),
        invoice("INV-3", "EUR", "1000.50", "0", "2026-09-30"),
        paid,
        invoice("INV-6", "EUR", "20.00", "0", "2026-12-10"),
        invoice("INV-7", "USD", "40.00", "0", "2026-11-01"),
        invoice("INV-9", "USD", "60.00", "0", "2026-11-20"),
    ];
    let ledger = vec![
        line(2, " inv-1 ", "USD", "100.00", "2026-11-30"),
        line(3, "INV-2", "USD", "500.00", "2026-11-15"),
        line(4, "INV-4", "USD", "250.00", "2026-10-01"),
        line(5, "INV-5", "EUR", "75.25", "2026-07-01"),
        line(6, "INV-1", "USD", "100.00", "2026-11-30"),
        line(8, "INV-6", "EUR", "20.00", "2026-12-10"),
        line(9, "INV-7", "USD", "0.00", "2026-11-01"),
        line(10, "INV-9", "EUR", "55.00", "2026-11-20"),
    ];
    let rejected = vec![RejectedLine {
        line: 7,
        invoice_number: Some("INV-8".into()),
        reason: "open_balance: \"12,48.00\" has a misplaced thousands separator \",\"".into(),
    }];
    reconcile(&invoices, &ledger, &rejected, day("2026-11-30"))
}

type Expected<'a> = (Status, &'a str, &'a str, Option<i64>, Option<Aging>);

#[test]
fn every_status_by_hand() {
    let report = month_end();
    let got: Vec<Expected> = report
        .rows
        .iter()
        .map(|r| {
            (
                r.status,
                r.invoice_number.as_str(),
                r.currency.as_str(),
                r.days_past_due,
                r.aging,
            )
        })
        .collect();
    use Aging::*;
    use Status::*;
    let want: Vec<Expected> = vec![
        (AmountMismatch, "INV-2", "USD", Some(15), Some(Days1To30)),
        (CurrencyMismatch, "INV-9", "USD", Some(10), Some(Days1To30)),
        (MissingInErp, "INV-3", "EUR", Some(61), Some(Days61To90)),
        (MissingInErp, "INV-7", "USD", Some(29), Some(Days1To30)),
        (MissingInAhead, "INV-5", "EUR", Some(152), Some(Over90)),
        (ClosedInAhead, "INV-4", "USD", Some(60), Some(Days31To60)),
        (DuplicateInErp, "INV-1", "USD", None, None),
        (LedgerRowRejected, "INV-8", "", None, None),
        (Matched, "INV-1", "USD", Some(0), Some(Current)),
        (Matched, "INV-6", "EUR", Some(-10), Some(Current)),
    ];
    assert_eq!(got, want);

    let money = |r: &Row| {
        (
            r.ahead_balance.map(|v| v.to_string()),
            r.erp_balance.map(|v| v.to_string()),
            r.difference.map(|v| v.to_string()),
        )
    };
    let s = |v: &str| Some(v.to_string());
    let rows = &report.rows;
    assert_eq!(money(&rows[0]), (s("300.00"), s("500.00"), s("-200.00")));
    // Both amounts shown, each in its own currency; no difference between them.
    assert_eq!(money(&rows[1]), (s("60.00"), s("55.00"), None));
    assert_eq!(
        rows[1].note,
        "currencies differ: AHEAD USD, ERP EUR; amounts not compared"
    );
    assert_eq!(rows[1].erp_line, Some(10));
    assert_eq!(money(&rows[2]), (s("1000.50"), None, None));
    assert_eq!(money(&rows[3]), (s("40.00"), None, None));
    assert!(rows[3].note.contains("ledger line 9"), "{}", rows[3].note);
    assert_eq!(money(&rows[4]), (None, s("75.25"), None));
    assert_eq!(money(&rows[5]), (s("0.00"), s("250.00"), s("-250.00")));
    assert_eq!(rows[5].closed_on, Some(day("2026-11-20")));
    assert_eq!(rows[5].ahead_status.as_deref(), Some("paid"));
    assert_eq!(money(&rows[6]), (None, s("100.00"), None));
    assert_eq!(
        rows[6].note,
        "same invoice as ledger line 2; this line is not counted in any total"
    );
    assert_eq!(rows[6].erp_line, Some(6));
    assert!(rows[7].note.contains("misplaced"), "{}", rows[7].note);
    assert_eq!(rows[7].erp_line, Some(7));
    assert_eq!(money(&rows[8]), (s("100.00"), s("100.00"), s("0.00")));
    assert_eq!(rows[8].erp_line, Some(2));
    // The ledger's own currency, beside AHEAD's, wherever the ledger has a line that says it.
    let currencies: Vec<(&str, &str, Option<&str>)> = rows
        .iter()
        .map(|r| {
            (
                r.invoice_number.as_str(),
                r.currency.as_str(),
                r.erp_currency.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        currencies,
        [
            ("INV-2", "USD", Some("USD")),
            ("INV-9", "USD", Some("EUR")),
            ("INV-3", "EUR", None),
            ("INV-7", "USD", None),
            ("INV-5", "EUR", Some("EUR")),
            ("INV-4", "USD", Some("USD")),
            ("INV-1", "USD", Some("USD")),
            ("INV-8", "", None),
            ("INV-1", "USD", Some("USD")),
            ("INV-6", "EUR", Some("EUR")),
        ]
    );
    assert_eq!(report.settled_lines, 1);
}

fn total(group: &'static str, currency: &str, count: u64, m: [Option<&str>; 3]) -> Total {
    Total {
        group,
        currency: currency.into(),
        count,
        ahead_balance: m[0].map(d),
        erp_balance: m[1].map(d),
        difference: m[2].map(d),
    }
}

#[test]
fn totals_per_status_and_bucket_never_mix_currencies() {
    let report = month_end();
    let n = None;
    let by_status = vec![
        total(
            "amount_mismatch",
            "USD",
            1,
            [Some("300.00"), Some("500.00"), Some("-200.00")],
        ),
        // Counted under the pair of currencies, in no currency's money.
        total("currency_mismatch", "USD/EUR", 1, [n, n, n]),
        total("missing_in_erp", "EUR", 1, [Some("1000.50"), n, n]),
        total("missing_in_erp", "USD", 1, [Some("40.00"), n, n]),
        total("missing_in_ahead", "EUR", 1, [n, Some("75.25"), n]),
        total(
            "closed_in_ahead",
            "USD",
            1,
            [Some("0.00"), Some("250.00"), Some("-250.00")],
        ),
        // Reported, but their money is in no total: nothing is counted twice.
        total("duplicate_in_erp", "USD", 1, [n, n, n]),
        total("ledger_row_rejected", "", 1, [n, n, n]),
        total(
            "matched",
            "EUR",
            1,
            [Some("20.00"), Some("20.00"), Some("0.00")],
        ),
        total(
            "matched",
            "USD",
            1,
            [Some("100.00"), Some("100.00"), Some("0.00")],
        ),
    ];
    assert_eq!(report.by_status, by_status);
    // INV-9 (USD 60.00 against EUR 55.00, 10 days late) is in no bucket: 1-30 USD is INV-2 and
    // INV-7 alone.
    let by_aging = vec![
        total(
            "current",
            "EUR",
            1,
            [Some("20.00"), Some("20.00"), Some("0.00")],
        ),
        total(
            "current",
            "USD",
            1,
            [Some("100.00"), Some("100.00"), Some("0.00")],
        ),
        total(
            "1-30",
            "USD",
            2,
            [Some("340.00"), Some("500.00"), Some("-200.00")],
        ),
        total(
            "31-60",
            "USD",
            1,
            [Some("0.00"), Some("250.00"), Some("-250.00")],
        ),
        total("61-90", "EUR", 1, [Some("1000.50"), n, n]),
        total("90+", "EUR", 1, [n, Some("75.25"), n]),
    ];
    assert_eq!(report.by_aging, by_aging);
}

#[test]
fn aging_bucket_edges() {
    let as_of = day("2026-11-30");
    let cases = [
        ("2026-12-01", -1, Aging::Current),
        ("2026-11-30", 0, Aging::Current),
        ("2026-11-29", 1, Aging::Days1To30),
        ("2026-10-31", 30, Aging::Days1To30),
        ("2026-10-30", 31, Aging::Days31To60),
        ("2026-10-01", 60, Aging::Days31To60),
        ("2026-09-30", 61, Aging::Days61To90),
        ("2026-09-01", 90, Aging::Days61To90),
        ("2026-08-31", 91, Aging::Over90),
    ];
    for (due, days, bucket) in cases {
        assert_eq!(age(Some(day(due)), as_of), (Some(days), bucket), "{due}");
    }
    assert_eq!(age(None, as_of), (None, Aging::NoDueDate));
}

#[test]
fn a_duplicate_with_another_balance_says_so() {
    let invoices = vec![invoice("INV-1", "USD", "100.00", "0", "2026-11-30")];
    let ledger = vec![
        line(2, "INV-1", "USD", "100.00", "2026-11-30"),
        line(3, "inv-1", "USD", "90.50", "2026-11-30"),
    ];
    let report = reconcile(&invoices, &ledger, &[], day("2026-11-30"));
    assert_eq!(report.count(Status::Matched), 1);
    let dup = &report.rows[0];
    assert_eq!(dup.status, Status::DuplicateInErp);
    assert!(
        dup.note.contains("ledger line 2, which says 100.00"),
        "{}",
        dup.note
    );
    assert_eq!(report.by_status[1].erp_balance, Some(d("100.00")));
}

#[test]
fn a_currency_disagreement_is_its_own_status_in_no_money_total() {
    let invoices = vec![invoice("INV-1", "USD", "100.00", "0", "2026-11-15")];
    let ledger = vec![line(2, "INV-1", "CAD", "100.00", "2026-11-15")];
    let report = reconcile(&invoices, &ledger, &[], day("2026-11-30"));
    let row = &report.rows[0];
    assert_eq!(row.status, Status::CurrencyMismatch);
    assert_eq!(
        (row.currency.as_str(), row.erp_currency.as_deref()),
        ("USD", Some("CAD"))
    );
    assert_eq!(
        (row.ahead_balance, row.erp_balance, row.difference),
        (Some(d("100.00")), Some(d("100.00")), None)
    );
    assert_eq!(row.aging, Some(Aging::Days1To30));
    assert!(row.note.contains("CAD"), "{}", row.note);
    assert_eq!(
        report.by_status,
        vec![total("currency_mismatch", "USD/CAD", 1, [None, None, None])]
    );
    assert_eq!(report.by_aging, vec![]);
}

#[test]
fn a_closed_invoice_in_another_currency_is_a_currency_mismatch() {
    let mut paid = invoice("INV-1", "USD", "100.00", "100.00", "2026-11-15");
    paid.status = "paid".into();
    paid.closed = true;
    paid.closed_on = Some(day("2026-11-20"));
    let ledger = vec![line(2, "INV-1", "EUR", "90.00", "2026-11-15")];
    let report = reconcile(&[paid], &ledger, &[], day("2026-11-30"));
    let row = &report.rows[0];
    assert_eq!(row.status, Status::CurrencyMismatch);
    assert_eq!(row.erp_currency.as_deref(), Some("EUR"));
    assert_eq!(row.difference, None);
    assert_eq!(row.closed_on, Some(day("2026-11-20")));
    assert_eq!(row.ahead_status.as_deref(), Some("paid"));
    assert_eq!(
        row.note,
        "currencies differ: AHEAD USD, ERP EUR; amounts not compared; AHEAD shows it paid since 2026-11-20"
    );
    assert_eq!(
        report.by_status,
        vec![total("currency_mismatch", "USD/EUR", 1, [None, None, None])]
    );
    assert_eq!(report.by_aging, vec![]);
}

#[test]
fn a_ledger_line_without_currency_takes_aheads() {
    let invoices = vec![invoice("INV-1", "EUR", "10.00", "0", "2026-11-30")];
    let mut l = line(2, "INV-1", "EUR", "10.00", "2026-11-30");
    l.currency = None;
    let report = reconcile(&invoices, &[l], &[], day("2026-11-30"));
    assert_eq!(report.rows[0].status, Status::Matched);
    assert_eq!(report.by_status[0].currency, "EUR");
}

/// 10,000 invoices of 0.10, 0.11, 0.12 ... 100.09: the totals are exact to the cent
/// (sum = 10,000 x 0.10 + 0.01 x (0 + 1 + ... + 9,999) = 1,000.00 + 499,950.00 = 500,950.00).
#[test]
fn ten_thousand_invoices_sum_to_the_cent() {
    let cent = d("0.01");
    let mut invoices = Vec::new();
    let mut ledger = Vec::new();
    for k in 0..10_000i64 {
        let amount = d("0.10") + cent * Decimal::from(k);
        let number = format!("INV-{k:05}");
        let mut inv = invoice(&number, "USD", "0", "0", "2026-11-30");
        inv.total_amount = amount;
        inv.balance_due = amount;
        invoices.push(inv);
        let mut l = line(k as usize + 2, &number, "USD", "0.01", "2026-11-30");
        l.open_balance = amount;
        ledger.push(l);
    }
    let report = reconcile(&invoices, &ledger, &[], day("2026-11-30"));
    assert_eq!(report.count(Status::Matched), 10_000);
    assert_eq!(
        report.by_status,
        vec![total(
            "matched",
            "USD",
            10_000,
            [Some("500950.00"), Some("500950.00"), Some("0.00")]
        )]
    );
    let (rows, totals) = aging_view(&invoices, day("2026-11-30"));
    assert_eq!(rows.len(), 10_000);
    assert_eq!(totals[0].ahead_balance, Some(d("500950.00")));
}

#[test]
fn the_aging_view_lists_outstanding_invoices_oldest_first() {
    let mut closed = invoice("INV-9", "USD", "5.00", "5.00", "2026-01-01");
    closed.closed = true;
    let invoices = vec![
        invoice("INV-1", "USD", "10.00", "0", "2026-11-30"),
        invoice("INV-2", "USD", "20.00", "5.00", "2026-08-01"),
        invoice("INV-3", "EUR", "30.00", "0", "2026-10-15"),
        closed,
    ];
    let (rows, totals) = aging_view(&invoices, day("2026-11-30"));
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.invoice.number.as_str(), r.days_past_due, r.aging))
        .collect();
    assert_eq!(
        got,
        [
            ("INV-2", Some(121), Aging::Over90),
            ("INV-3", Some(46), Aging::Days31To60),
            ("INV-1", Some(0), Aging::Current),
        ]
    );
    let got: Vec<_> = totals
        .iter()
        .map(|t| (t.group, t.currency.as_str(), t.count, t.ahead_balance))
        .collect();
    assert_eq!(
        got,
        [
            ("current", "USD", 1, Some(d("10.00"))),
            ("31-60", "EUR", 1, Some(d("30.00"))),
            ("90+", "USD", 1, Some(d("15.00"))),
        ]
    );
}
