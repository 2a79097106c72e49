//! `export inventory | invoices | shipments | orders | changes | reconciliation`.

use super::reconcile::{self, ReconcileArgs};
use crate::cli::{DataFormat, ExportCommand, ExportFormat};
use crate::error::{ConfigError, Exit};
use crate::export::report::ReportFormat;
use crate::export::{self, Format, MirrorExport, Output};
use crate::pull::StreamKind;
use crate::settings::Settings;

/// What is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExportWhat {
    Inventory,
    Invoices,
    Shipments,
    Orders,
    Changes,
    Reconciliation,
}

/// Every export's flags in one place; clap has already refused a flag where it does not
/// apply, so only what depends on a flag's value is checked here.
pub(crate) struct ExportArgs {
    pub what: ExportWhat,
    pub out: Option<std::path::PathBuf>,
    pub format: ExportFormat,
    /// CSV: neutralise formula text (the finance reports' CSV always does).
    pub excel_safe: bool,
    pub stream: Option<String>,
    pub run: Option<i64>,
    pub since: Option<String>,
    pub ledger: Option<std::path::PathBuf>,
    pub ledger_mapping: Option<std::path::PathBuf>,
    pub as_of: Option<String>,
    pub outstanding: bool,
}

impl ExportArgs {
    fn plain(what: ExportWhat, out: Option<std::path::PathBuf>, format: ExportFormat) -> Self {
        ExportArgs {
            what,
            out,
            format,
            excel_safe: false,
            stream: None,
            run: None,
            since: None,
            ledger: None,
            ledger_mapping: None,
            as_of: None,
            outstanding: false,
        }
    }
}

fn data_format(format: DataFormat) -> ExportFormat {
    match format {
        DataFormat::Csv => ExportFormat::Csv,
        DataFormat::Json => ExportFormat::Json,
    }
}

impl From<ExportCommand> for ExportArgs {
    fn from(command: ExportCommand) -> Self {
        let mirror = |what, a: crate::cli::MirrorExportArgs| ExportArgs {
            excel_safe: a.excel_safe,
            ..ExportArgs::plain(what, a.out.out, data_format(a.format))
        };
        match command {
            ExportCommand::Inventory(a) => mirror(ExportWhat::Inventory, a),
            ExportCommand::Shipments(a) => mirror(ExportWhat::Shipments, a),
            ExportCommand::Orders(a) => mirror(ExportWhat::Orders, a),
            ExportCommand::Invoices(a) => ExportArgs {
                excel_safe: a.excel_safe,
                outstanding: a.outstanding,
                as_of: a.as_of,
                ..ExportArgs::plain(ExportWhat::Invoices, a.out.out, a.format)
            },
            ExportCommand::Changes(a) => ExportArgs {
                excel_safe: a.excel_safe,
                stream: a.stream,
                run: a.run,
                since: a.since,
                ..ExportArgs::plain(ExportWhat::Changes, a.out.out, data_format(a.format))
            },
            ExportCommand::Reconciliation(a) => ExportArgs {
                ledger: Some(a.ledger),
                ledger_mapping: a.ledger_mapping,
                as_of: a.as_of,
                ..ExportArgs::plain(ExportWhat::Reconciliation, a.out.out, a.format)
            },
        }
    }
}

pub(crate) fn run(settings: &Settings, args: ExportArgs) -> anyhow::Result<Exit> {
    let to_stdout = args.out.is_none();
    match write(settings, args) {
        // `export … | head`: the reader has what it wanted. Rust ignores SIGPIPE, so the write
        // fails with EPIPE instead of the process being killed; finish quietly, as a process
        // killed by SIGPIPE would have.
        Err(e) if to_stdout && export::is_broken_pipe(&e) => {
            tracing::debug!("Standard output was closed by its reader; export stopped.");
            Ok(Exit::Ok)
        }
        result => result,
    }
}

fn write(settings: &Settings, args: ExportArgs) -> anyhow::Result<Exit> {
    let reconciliation = args.what == ExportWhat::Reconciliation;
    let aging = args.what == ExportWhat::Invoices && args.outstanding;
    check_flags(&args)?;
    if reconciliation || aging {
        report(settings, args, aging)
    } else {
        data(settings, args)
    }
}

/// What clap cannot see: a flag that applies to one format only.
fn check_flags(args: &ExportArgs) -> Result<(), ConfigError> {
    if args.excel_safe && args.format != ExportFormat::Csv {
        return Err(ConfigError::new(
            "--excel-safe applies to CSV output only: JSON lines stay exact for programs, and xlsx holds text as text",
        ));
    }
    Ok(())
}

/// The reconciliation, or the aging view of outstanding invoices.
fn report(settings: &Settings, args: ExportArgs, aging: bool) -> anyhow::Result<Exit> {
    let format = match args.format {
        ExportFormat::Csv => ReportFormat::Csv,
        ExportFormat::Json => ReportFormat::JsonLines,
        ExportFormat::Xlsx if args.out.is_none() => {
            return Err(ConfigError::new(
                "--format xlsx writes a workbook: give the file with --out FILE",
            )
            .into())
        }
        ExportFormat::Xlsx => ReportFormat::Xlsx,
    };
    let as_of = reconcile::as_of(args.as_of.as_deref())?;
    if aging {
        return reconcile::run_outstanding(settings, as_of, format, args.out.as_deref());
    }
    let ledger = args.ledger.ok_or_else(|| {
        ConfigError::new("export reconciliation needs the ERP's AP ledger: --ledger FILE")
    })?;
    reconcile::run_reconciliation(
        settings,
        ReconcileArgs {
            ledger,
            ledger_mapping: args.ledger_mapping,
            as_of,
            format,
            out: args.out,
        },
    )
}

/// The mirror or the change log.
fn data(settings: &Settings, args: ExportArgs) -> anyhow::Result<Exit> {
    let format = match args.format {
        ExportFormat::Csv => Format::Csv {
            excel_safe: args.excel_safe,
        },
        ExportFormat::Json => Format::JsonLines,
        ExportFormat::Xlsx => {
            return Err(ConfigError::new(
                "--format xlsx applies to `export reconciliation` and `export invoices --outstanding` only",
            )
            .into())
        }
    };
    let mirror = match args.what {
        ExportWhat::Inventory => Some(MirrorExport::Inventory),
        ExportWhat::Invoices => Some(MirrorExport::Invoices),
        ExportWhat::Shipments => Some(MirrorExport::Shipments),
        ExportWhat::Orders => Some(MirrorExport::Orders),
        ExportWhat::Changes | ExportWhat::Reconciliation => None,
    };
    let stream = match &args.stream {
        Some(name) => Some(
            StreamKind::from_name(name)
                .ok_or_else(|| {
                    ConfigError::new(format!(
                        "--stream: {name:?} is not one of inventory, invoices, shipments, purchase_orders, fulfillment_orders"
                    ))
                })?
                .name(),
        ),
        None => None,
    };
    let since = match &args.since {
        Some(t) => Some(normalise_since(t)?),
        None => None,
    };
    let store = super::context::open_store(settings, false)?;
    let mut out = Output::open(args.out.as_deref())?;
    let (written, unreadable) = match mirror {
        Some(what) => {
            let done = export::export_mirror(&store, what, format, out.writer())?;
            (done.written, done.unreadable)
        }
        None => (
            export::export_changes(
                &store,
                stream,
                args.run,
                since.as_deref(),
                format,
                out.writer(),
            )?,
            0,
        ),
    };
    out.finish()?;
    if let Some(path) = &args.out {
        tracing::info!(records = written, unreadable, file = %path.display(), "Export written.");
    }
    // The export is whole but for the records named in the warnings: like rejected rows.
    Ok(if unreadable > 0 {
        Exit::Rejected
    } else {
        Exit::Ok
    })
}

/// `2026-01-31` or an RFC 3339 time, as the change log's `at` text compares.
fn normalise_since(text: &str) -> Result<String, ConfigError> {
    if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(format!("{day}T00:00:00Z"));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| crate::time::rfc3339(t.with_timezone(&chrono::Utc)))
        .map_err(|_| {
            ConfigError::new(format!(
                "--since: {text:?} is not a date (2026-01-31) or an RFC 3339 time"
            ))
        })
}
