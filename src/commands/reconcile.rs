//! `export reconciliation` and `export invoices --outstanding`: the I/O around the pure
//! `reconcile` module. Reads the ledger (through its mapping) and the invoices mirror, checks
//! how old the mirror is, and writes the report.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::NaiveDate;
use serde_json::Value;

use crate::error::{ConfigError, Exit};
use crate::export::report::{self, ReportFormat, ReportInfo};
use crate::export::Output;
use crate::mapping::{self, Mapping, MappingError, Target};
use crate::reconcile::{self, invoice_from, ledger_line, Invoice, RejectedLine, Status};
use crate::settings::Settings;
use crate::store::Store;

/// The job whose last success dates the invoices mirror.
const INVOICES_PULL_JOB: &str = "pull invoices";

pub(crate) struct ReconcileArgs {
    pub ledger: PathBuf,
    pub ledger_mapping: Option<PathBuf>,
    pub as_of: NaiveDate,
    pub format: ReportFormat,
    pub out: Option<PathBuf>,
}

/// `--as-of`, or today (local time: month end is the finance team's day, not UTC's).
pub(crate) fn as_of(text: Option<&str>) -> Result<NaiveDate, ConfigError> {
    match text {
        None => Ok(chrono::Local::now().date_naive()),
        Some(t) => NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").map_err(|_| {
            ConfigError::new(format!("--as-of: {t:?} is not a date such as 2026-11-30"))
        }),
    }
}

/// The AP ledger's mapping: `--ledger-mapping`, else `reconciliation.ledger_mapping`; it must
/// exist and be a mapping of `kind = "ap_ledger"`.
fn ledger_mapping(settings: &Settings, args: &ReconcileArgs) -> anyhow::Result<Mapping> {
    let mapping_path = args
        .ledger_mapping
        .clone()
        .unwrap_or_else(|| settings.reconciliation.ledger_mapping.clone());
    if !mapping_path.exists() {
        return Err(ConfigError::new(format!(
            "the ledger mapping {} does not exist: pass --ledger-mapping FILE, set \
             reconciliation.ledger_mapping, or run `ahead-sync init` to write the shipped \
             mappings (mappings/ap_ledger.csv.toml reads the layout of the sample ledger)",
            mapping_path.display()
        ))
        .into());
    }
    let mapping = Mapping::load(&mapping_path)
        .map_err(ConfigError::caused_by)
        .context("the ledger mapping (--ledger-mapping or reconciliation.ledger_mapping)")?;
    if mapping.kind != Target::ApLedger {
        return Err(ConfigError::new(format!(
            "mapping {} is for {}s, not an AP ledger: it needs kind = \"ap_ledger\"",
            mapping_path.display(),
            mapping.kind.as_str()
        ))
        .into());
    }
    Ok(mapping)
}

pub(crate) fn run_reconciliation(settings: &Settings, args: ReconcileArgs) -> anyhow::Result<Exit> {
    let mapping = ledger_mapping(settings, &args)?;
    let shown = args.ledger.display().to_string();
    let bytes = std::fs::read(&args.ledger)
        .map_err(|e| ConfigError::new(format!("--ledger: cannot read {shown}: {e}")))?;
    let read = match mapping::read_records(&mapping, &shown, &bytes) {
        Ok(read) => read,
        Err(e @ MappingError::FailFile { .. }) => {
            return Err(anyhow::anyhow!(e).context("the ledger was not reconciled"))
        }
        Err(e) => return Err(ConfigError::caused_by(e).into()),
    };
    // One report row per bad ledger line, however many of its fields are wrong.
    let mut rejected: Vec<RejectedLine> = Vec::new();
    for r in &read.rejections {
        let reason = match &r.field {
            Some(field) => format!("{field}: {}", r.reason),
            None => r.reason.clone(),
        };
        match rejected.iter_mut().find(|x| x.line == r.line) {
            Some(x) => x.reason = format!("{}; {reason}", x.reason),
            None => rejected.push(RejectedLine {
                line: r.line,
                invoice_number: r.order.clone(),
                reason,
            }),
        }
    }
    let mut ledger = Vec::with_capacity(read.records.len());
    for record in &read.records {
        match ledger_line(record) {
            Ok(line) => ledger.push(line),
            Err(reason) => rejected.push(RejectedLine {
                line: record.line,
                invoice_number: record
                    .values
                    .get("invoice_number")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                reason: reason.to_string(),
            }),
        }
    }
    for r in &rejected {
        tracing::warn!(
            file = %shown,
            line = r.line,
            invoice = r.invoice_number.as_deref().unwrap_or(""),
            reason = %r.reason,
            "Ledger row rejected; it is listed in the report and not counted."
        );
    }

    let store = super::context::open_store(settings, false)?;
    let invoices = mirror_invoices(&store)?;
    let mut info = mirror_info(&store, settings)?;
    info.as_of = Some(args.as_of);
    info.ledger = Some(shown.clone());

    let report = reconcile::reconcile(&invoices, &ledger, &rejected, args.as_of);
    info.settled_lines = Some(report.settled_lines);
    warn_rows(&report, &shown);
    let mut out = Output::open(args.out.as_deref())?;
    report::write_reconciliation(&report, &info, args.format, out.writer())?;
    out.finish()?;
    tracing::info!(
        as_of = %args.as_of,
        matched = report.count(Status::Matched),
        amount_mismatch = report.count(Status::AmountMismatch),
        currency_mismatch = report.count(Status::CurrencyMismatch),
        missing_in_erp = report.count(Status::MissingInErp),
        missing_in_ahead = report.count(Status::MissingInAhead),
        closed_in_ahead = report.count(Status::ClosedInAhead),
        duplicates = report.count(Status::DuplicateInErp),
        rejected = rejected.len(),
        "Reconciliation written."
    );
    Ok(if rejected.is_empty() {
        Exit::Ok
    } else {
        Exit::Rejected
    })
}

pub(crate) fn run_outstanding(
    settings: &Settings,
    as_of: NaiveDate,
    format: ReportFormat,
    out: Option<&Path>,
) -> anyhow::Result<Exit> {
    let store = super::context::open_store(settings, false)?;
    let invoices = mirror_invoices(&store)?;
    let mut info = mirror_info(&store, settings)?;
    info.as_of = Some(as_of);
    let (rows, totals) = reconcile::aging_view(&invoices, as_of);
    let mut output = Output::open(out)?;
    report::write_outstanding(&rows, &totals, &info, format, output.writer())?;
    output.finish()?;
    tracing::info!(as_of = %as_of, invoices = rows.len(), "Aging view written.");
    Ok(Exit::Ok)
}

/// When the mirror was last pulled, and whether that is too long ago (a warning, never a
/// failure: the report still goes out, saying so).
fn mirror_info(store: &Store, settings: &Settings) -> anyhow::Result<ReportInfo> {
    let last = store.last_success_at(INVOICES_PULL_JOB)?;
    let now = crate::time::now_unix();
    let limit = settings.reconciliation.stale_after.as_secs() as i64;
    let pulled_at = last.map(crate::time::from_unix);
    let stale = match last {
        None => {
            tracing::warn!(
                "The invoices mirror was never pulled successfully: every AHEAD invoice will look missing. Run `ahead-sync pull invoices` first."
            );
            true
        }
        Some(t) if now - t > limit => {
            tracing::warn!(
                pulled_at = pulled_at.as_deref().unwrap_or(""),
                hours_ago = (now - t) / 3600,
                stale_after_hours = limit / 3600,
                "The invoices mirror is stale: run `ahead-sync pull invoices` for a current report."
            );
            true
        }
        Some(_) => false,
    };
    if let Some(t) = &pulled_at {
        tracing::info!(pulled_at = %t, "Invoices mirror as of its last successful pull.");
    }
    Ok(ReportInfo {
        mirror_pulled_at: pulled_at,
        mirror_stale: stale,
        ..ReportInfo::default()
    })
}

fn mirror_invoices(store: &Store) -> anyhow::Result<Vec<Invoice>> {
    let mut invoices = Vec::new();
    store.for_each_snapshot("invoices", |id, state, body| {
        let invoice = invoice_from(state, body)
            .map_err(|e| anyhow::anyhow!("the mirrored invoice {id} cannot be read: {e}"))?;
        invoices.push(invoice);
        Ok(())
    })??;
    Ok(invoices)
}

/// A warning for each ledger line the totals leave out for a reason the reader must see.
fn warn_rows(report: &reconcile::Report, shown: &str) {
    for row in &report.rows {
        match row.status {
            Status::DuplicateInErp => tracing::warn!(
                file = shown,
                line = row.erp_line.unwrap_or(0),
                invoice = %row.invoice_number,
                "Duplicate ledger line: the invoice is on an earlier line too; this one is not counted."
            ),
            Status::CurrencyMismatch => tracing::warn!(
                file = shown,
                line = row.erp_line.unwrap_or(0),
                invoice = %row.invoice_number,
                ahead_currency = %row.currency,
                erp_currency = row.erp_currency.as_deref().unwrap_or(""),
                "Currency mismatch: AHEAD and the ledger bill the invoice in different currencies; its amounts are in no total."
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_is_a_date() {
        assert_eq!(as_of(Some("2026-11-30")).unwrap().to_string(), "2026-11-30");
        assert!(as_of(Some("30/11/2026"))
            .unwrap_err()
            .to_string()
            .contains("--as-of"));
    }
}
