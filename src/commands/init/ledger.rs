//! The sample AP ledger `init` writes: the ERP's side of the invoices the embedded sandbox
//! will serve, in the layout `mappings/ap_ledger.csv.toml` reads, with the differences a real
//! month end finds. Pure: invoices in, CSV text out.
//!
//! Of AHEAD's outstanding invoices, in invoice number order, every sixth from the third is left
//! out of the ledger (`missing_in_erp`), every sixth from the fifth carries 25.00 more than
//! AHEAD bills (`amount_mismatch`), the rest agree (`matched`); two ledger lines name invoices
//! AHEAD never issued (`missing_in_ahead`).

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::pull::streams::OUTSTANDING;

/// The header `mappings/ap_ledger.csv.toml` reads.
pub(crate) const HEADER: &str =
    "Invoice Number,Vendor,Invoice Date,Due Date,Amount,Amount Paid,Open Balance,Currency";

/// Invoice numbers AHEAD never issues (the sandbox numbers its invoices from INV-100001): the
/// ledger's `missing_in_ahead` lines.
const ERP_ONLY: [(&str, &str); 2] = [("INV-090001", "1840.00"), ("INV-090002", "312.40")];

/// What the ERP booked beyond AHEAD's bill on a differing invoice.
const EXTRA: Decimal = Decimal::from_parts(2500, 0, 0, false, 2);

#[derive(Debug, Error)]
pub(crate) enum LedgerError {
    #[error("invoice {invoice}: field {field} is missing or not {expected}")]
    Field {
        invoice: String,
        field: &'static str,
        expected: &'static str,
    },
}

/// One outstanding invoice, as far as the ledger needs it.
struct Invoice<'a> {
    number: &'a str,
    invoice_date: &'a str,
    due_date: &'a str,
    total: Decimal,
    paid: Decimal,
    balance: Decimal,
    currency: &'a str,
}

fn invoice(doc: &Map<String, Value>) -> Result<Invoice<'_>, LedgerError> {
    let number = doc
        .get("invoice_number")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let text = |field: &'static str| {
        doc.get(field)
            .and_then(Value::as_str)
            .ok_or(LedgerError::Field {
                invoice: number.to_string(),
                field,
                expected: "text",
            })
    };
    let money = |field: &'static str| {
        text(field)?
            .parse::<Decimal>()
            .map_err(|_| LedgerError::Field {
                invoice: number.to_string(),
                field,
                expected: "a decimal amount",
            })
    };
    Ok(Invoice {
        number: text("invoice_number")?,
        invoice_date: text("invoice_date")?,
        due_date: text("due_date")?,
        total: money("total_amount")?,
        paid: money("amount_paid")?,
        balance: money("balance_due")?,
        currency: text("currency")?,
    })
}

/// The ledger for AHEAD's `invoices` (every status; only the outstanding ones are the ERP's
/// open lines).
pub(crate) fn ledger_csv(invoices: &[Map<String, Value>]) -> Result<String, LedgerError> {
    let mut open = Vec::new();
    for doc in invoices {
        let status = doc.get("status").and_then(Value::as_str).unwrap_or("");
        if OUTSTANDING.contains(&status) {
            open.push(invoice(doc)?);
        }
    }
    open.sort_by(|a, b| a.number.cmp(b.number));
    let mut out = String::from(HEADER);
    out.push('\n');
    let line = |out: &mut String, inv: &Invoice, total: Decimal, balance: Decimal| {
        out.push_str(&format!(
            "{},AHEAD,{},{},{},{},{},{}\n",
            inv.number,
            inv.invoice_date,
            inv.due_date,
            total.round_dp(2),
            inv.paid.round_dp(2),
            balance.round_dp(2),
            inv.currency
        ));
    };
    for (i, inv) in open.iter().enumerate() {
        match i % 6 {
            2 => {}
            4 => line(&mut out, inv, inv.total + EXTRA, inv.balance + EXTRA),
            _ => line(&mut out, inv, inv.total, inv.balance),
        }
    }
    // The ERP-only lines are dated like the newest invoice AHEAD knows.
    let last = open.iter().max_by_key(|inv| inv.invoice_date);
    let (date, due, currency) = last
        .map(|inv| (inv.invoice_date, inv.due_date, inv.currency))
        .unwrap_or(("2026-01-01", "2026-01-31", "USD"));
    for (number, amount) in ERP_ONLY {
        out.push_str(&format!(
            "{number},AHEAD,{date},{due},{amount},0.00,{amount},{currency}\n"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inv(n: u32, status: &str, total: &str, paid: &str, balance: &str) -> Map<String, Value> {
        let Value::Object(m) = json!({
            "invoice_number": format!("INV-{}", 100_000 + n),
            "invoice_date": "2026-03-01",
            "due_date": "2026-03-31",
            "total_amount": total,
            "amount_paid": paid,
            "balance_due": balance,
            "currency": "USD",
            "status": status,
        }) else {
            unreachable!()
        };
        m
    }

    #[test]
    fn open_invoices_are_matched_left_out_or_differ_and_erp_only_lines_follow() {
        let mut invoices: Vec<_> = (0..7)
            .rev()
            .map(|n| inv(n, "open", "100.00", "0.00", "100.00"))
            .collect();
        invoices.push(inv(50, "paid", "10.00", "10.00", "0.00"));
        invoices.push(inv(51, "void", "10.00", "0.00", "0.00"));
        invoices.push(inv(52, "partially_paid", "90.00", "30.00", "60.00"));
        let csv = ledger_csv(&invoices).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], HEADER);
        let numbers: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l.split(',').next().unwrap())
            .collect();
        // Sorted; the third (INV-100002) left out; paid and void are not open lines.
        assert_eq!(
            numbers,
            [
                "INV-100000",
                "INV-100001",
                "INV-100003",
                "INV-100004",
                "INV-100005",
                "INV-100006",
                "INV-100052",
                "INV-090001",
                "INV-090002"
            ]
        );
        assert_eq!(
            lines[1],
            "INV-100000,AHEAD,2026-03-01,2026-03-31,100.00,0.00,100.00,USD"
        );
        // The fifth differs by 25.00.
        assert_eq!(
            lines[4],
            "INV-100004,AHEAD,2026-03-01,2026-03-31,125.00,0.00,125.00,USD"
        );
        assert_eq!(
            lines[7],
            "INV-100052,AHEAD,2026-03-01,2026-03-31,90.00,30.00,60.00,USD"
        );
        assert!(
            lines[8].starts_with("INV-090001,AHEAD,2026-03-01,2026-03-31,1840.00,0.00,1840.00,")
        );
    }

    #[test]
    fn an_invoice_without_its_money_is_named() {
        let mut bad = inv(1, "open", "1.00", "0.00", "1.00");
        bad.insert("balance_due".into(), json!("lots"));
        let e = ledger_csv(&[bad]).unwrap_err().to_string();
        assert!(e.contains("INV-100001") && e.contains("balance_due"), "{e}");
    }
}
