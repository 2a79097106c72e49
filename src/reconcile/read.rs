//! Reading the reconciliation's inputs from what the rest of the engine holds: an invoice from
//! its mirrored body, a ledger line from a record the mapping engine accepted. Pure, like the
//! rest of `reconcile`; money is read from its text, never through a float.

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;

use super::{Invoice, LedgerLine};
use crate::mapping::SourceRecord;

/// Why an invoice or a ledger line could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("{0}")]
    Json(serde_json::Error),
    #[error("{field}: {shown} is not an amount")]
    Amount { field: String, shown: String },
    #[error("it has no invoice_number")]
    NoInvoiceNumber,
    #[error("{0}: is required")]
    Required(&'static str),
}

/// An invoice from its mirrored body. `state` is `closed` for invoices that left the
/// outstanding set (their body holds the final status and amounts).
pub(crate) fn invoice_from(state: &str, body: &str) -> Result<Invoice, ReadError> {
    let v: Value = serde_json::from_str(body).map_err(ReadError::Json)?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let not_an_amount = |k: &str, shown: String| ReadError::Amount {
        field: k.to_string(),
        shown,
    };
    let money = |k: &str| -> Result<Decimal, ReadError> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(Decimal::ZERO),
            Some(Value::String(s)) => {
                Decimal::from_str(s).map_err(|_| not_an_amount(k, format!("{s:?}")))
            }
            // Never through f64: the number's own text.
            Some(Value::Number(n)) => {
                Decimal::from_str(&n.to_string()).map_err(|_| not_an_amount(k, n.to_string()))
            }
            Some(other) => Err(not_an_amount(k, other.to_string())),
        }
    };
    let date = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .and_then(|t| t.get(..10))
            .and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
    };
    let number = text("invoice_number").ok_or(ReadError::NoInvoiceNumber)?;
    let status = text("status").unwrap_or_default();
    let closed = state == "closed" || matches!(status.as_str(), "paid" | "void");
    Ok(Invoice {
        number,
        purchase_order_number: text("purchase_order_number"),
        currency: text("currency").unwrap_or_default(),
        invoice_date: date("invoice_date"),
        due_date: date("due_date"),
        total_amount: money("total_amount")?,
        amount_paid: money("amount_paid")?,
        balance_due: money("balance_due")?,
        status,
        closed,
        closed_on: if closed { date("updated_at") } else { None },
    })
}

/// A ledger line from a record the mapping engine accepted (money as exact strings, dates as
/// `YYYY-MM-DD`).
pub(crate) fn ledger_line(record: &SourceRecord) -> Result<LedgerLine, ReadError> {
    let text = |k: &str| {
        record
            .values
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let money = |k: &str| -> Result<Option<Decimal>, ReadError> {
        text(k)
            .map(|s| {
                Decimal::from_str(&s).map_err(|_| ReadError::Amount {
                    field: k.to_string(),
                    shown: format!("{s:?}"),
                })
            })
            .transpose()
    };
    let date = |k: &str| text(k).and_then(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok());
    Ok(LedgerLine {
        line: record.line,
        invoice_number: text("invoice_number").ok_or(ReadError::Required("invoice_number"))?,
        vendor: text("vendor"),
        purchase_order_number: text("purchase_order_number"),
        invoice_date: date("invoice_date"),
        due_date: date("due_date"),
        amount: money("amount")?,
        amount_paid: money("amount_paid")?,
        open_balance: money("open_balance")?.ok_or(ReadError::Required("open_balance"))?,
        currency: text("currency"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrored_invoices_read_exactly() {
        let body = r#"{"invoice_number":"INV-1","purchase_order_number":"PO-1","currency":"USD",
            "invoice_date":"2026-10-01","due_date":"2026-10-31","total_amount":"3310.75",
            "amount_paid":"1000.00","balance_due":"2310.75","status":"partially_paid",
            "updated_at":"2026-11-02T10:00:00Z"}"#;
        let inv = invoice_from("", body).unwrap();
        assert_eq!(inv.balance_due.to_string(), "2310.75");
        assert!(!inv.closed);
        assert_eq!(inv.closed_on, None);
        let paid = body.replace("partially_paid", "paid");
        let inv = invoice_from("closed", &paid).unwrap();
        assert!(inv.closed);
        assert_eq!(inv.closed_on.unwrap().to_string(), "2026-11-02");
        assert!(invoice_from("", r#"{"balance_due":"1"}"#).is_err());
    }
}
