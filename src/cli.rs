//! The command line as typed (clap). `main` turns it into validated settings and a command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "ahead-sync",
    version,
    about = "Sync an ERP's files with the AHEAD Systems API: pull inventory, invoices and shipments into a local SQLite mirror; push purchase and fulfillment orders exactly once; deliver the changes back to the ERP through outboxes.",
    long_about = None
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct GlobalArgs {
    /// Configuration file (default: ./ahead-sync.toml if present, else built-in defaults).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log format on stderr: human text, or one JSON object per line for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log detail (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Less log detail (-q warnings only, -qq errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// Never draw progress bars (they are drawn only on a terminal, never with JSON logs).
    #[arg(long, global = true)]
    pub no_progress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Obtain, show or forget the OAuth tokens stored in the store.
    Auth {
        #[command(subcommand)]
        action: AuthAction,
    },
    /// Page through a resource, diff it against the store, record changes, advance the watermark.
    Pull {
        #[arg(value_enum)]
        stream: Stream,
        /// Read everything, not just what changed since the watermark (the only way removals are seen).
        #[arg(long)]
        full: bool,
    },
    /// Map and validate order files (default: the inbox) and create or update orders exactly once.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Push {
        /// `push requeue FILE…`: put fixed rejected files back into their inbox.
        #[command(subcommand)]
        requeue: Option<PushAction>,
        /// What the files hold: purchase-orders or fulfillment-orders.
        #[arg(value_enum, required = true)]
        kind: Option<OrderKind>,
        /// Files to push (default: every file waiting in the configured inbox).
        files: Vec<PathBuf>,
        /// Mapping file (default: the one configured for this kind).
        #[arg(long, value_name = "M")]
        mapping: Option<PathBuf>,
        /// Map and validate only; send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The main job: every push, then every pull, then every outbox.
    Sync,
    /// Re-pull a window of history without moving the watermark.
    Backfill {
        #[arg(value_enum)]
        stream: Stream,
        /// First day of the window (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        since: String,
        /// Day after the window (YYYY-MM-DD; default: now).
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
    },
    /// Run the schedules until SIGINT/SIGTERM, then finish the job in hand and exit.
    Daemon,
    /// List the schedules with their next run times.
    Schedules,
    /// Receive order events from AHEAD, or manage subscriptions.
    Webhooks {
        #[command(subcommand)]
        action: WebhookAction,
    },
    /// Write the local mirror, the change log or the finance reconciliation.
    Export {
        #[command(subcommand)]
        what: ExportCommand,
    },
    /// Deliver every change not yet delivered to each outbox (all, or those named), as files
    /// in the ERP's layout; or write a run's changes again (`outbox replay NAME --run N`).
    ///
    /// Each file covers a range of the change log and appears complete (written aside, then
    /// renamed); a run killed at any moment is followed by one that writes neither a gap nor a
    /// second file for the same changes.
    #[command(args_conflicts_with_subcommands = true)]
    Outbox(OutboxArgs),
    /// Last run of each job, watermarks, pending and rejected rows, token state.
    Status {
        /// Machine-readable output for monitoring scripts.
        #[arg(long)]
        json: bool,
    },
    /// Serve the embedded AHEAD sandbox on its own, or move its clock.
    Sandbox(SandboxCommand),
    /// Set up a working folder: a commented ahead-sync.toml, the shipped mappings, schedules,
    /// sample inbox files and an AP ledger that match the embedded sandbox. Never overwrites.
    Init {
        /// The folder to set up (created if missing; default: the current folder).
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh or fish) on standard output.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff) on standard output.
    Man,
}

/// The shells `completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The whole command tree, with the help that teaches (`help`): what `--help`, the shell
/// completions and the man page are made from.
pub(crate) fn command() -> clap::Command {
    use clap::CommandFactory;
    crate::help::decorate(Cli::command())
}

/// Parse the process's arguments (exits with clap's usage error, code 2, or help, code 0).
pub(crate) fn parse() -> Cli {
    use clap::FromArgMatches;
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `sandbox` alone serves the embedded sandbox; `sandbox advance` moves its clock.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct SandboxCommand {
    #[command(subcommand)]
    pub action: Option<SandboxAction>,
    #[command(flatten)]
    pub serve: SandboxArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SandboxAction {
    /// Move the embedded sandbox's clock forward and simulate what happened at AHEAD meanwhile
    /// (stock moves, new and paid invoices, shipments), so the next `sync` has changes to show.
    /// Works on the sandbox's state file beside the store; run it while no job is running.
    Advance {
        /// How many hours pass (at most 168: the sandbox simulates at most a week at once).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=168))]
        hours: u32,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PushAction {
    /// Put fixed rejected files back into their inbox for the next push, removing their stale
    /// NAME.errors.csv.
    Requeue {
        /// Rejected files, in an inbox's failed/ folder.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct OutboxArgs {
    #[command(subcommand)]
    pub action: Option<OutboxAction>,
    /// Outboxes to deliver (`[outbox.NAME]` sections; default: every one configured).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Render and check only: print the files that would be written and the changes that
    /// would be rejected; write nothing and move no cursor.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum OutboxAction {
    /// Write the changes of run N again to outbox NAME (new control numbers, file names marked
    /// `replayN`); the cursor does not move. N is an outbox run of NAME (the files it
    /// delivered) or any other run (the changes of NAME's stream it recorded).
    Replay {
        #[arg(value_name = "NAME")]
        name: String,
        /// The run whose changes are written again.
        #[arg(long, value_name = "N")]
        run: i64,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuthAction {
    /// Obtain tokens through an authorization grant (read from the 302's Location) and store them.
    Login,
    /// Show who we are authenticated as and when the access token expires.
    Status,
    /// Forget the stored tokens.
    Logout,
}

#[derive(Debug, Subcommand)]
pub(crate) enum WebhookAction {
    /// Receive deliveries at POST /webhooks/ahead (and GET /healthz).
    Serve {
        /// Address to listen on (default: webhooks.bind).
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
    },
    /// Subscribe URL to order events.
    Register {
        url: String,
        /// Events to subscribe to (default: all).
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
    },
    /// List subscriptions.
    List,
    /// Delete a subscription.
    Delete { id: u64 },
}

#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    /// Address to listen on (port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub bind: String,
    /// Seed of the generated world (same seed, same data).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Generated items beyond the fixed catalog (inventory rows = items x warehouses).
    #[arg(long, default_value_t = 200)]
    pub items: usize,
    /// Client id the sandbox accepts.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Client secret the sandbox accepts.
    #[arg(long, value_name = "S")]
    pub client_secret: Option<String>,
    /// Registered redirect URI.
    #[arg(long, value_name = "URI")]
    pub redirect_uri: Option<String>,
    /// Public token of the legacy (MBX-signed) account the sandbox accepts.
    #[arg(long, value_name = "TOKEN")]
    pub public_token: Option<String>,
    /// Secret token of that legacy account.
    #[arg(long, value_name = "S")]
    pub secret_token: Option<String>,
}

/// A pull stream as typed. The store, the change log and `export changes --stream` spell the
/// names with `_`, the command line with `-`: both are accepted everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Stream {
    Inventory,
    Invoices,
    Shipments,
    #[value(alias = "purchase_orders")]
    PurchaseOrders,
    #[value(alias = "fulfillment_orders")]
    FulfillmentOrders,
}

/// An order kind as typed, in either spelling (see [`Stream`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OrderKind {
    #[value(alias = "purchase_orders")]
    PurchaseOrders,
    #[value(alias = "fulfillment_orders")]
    FulfillmentOrders,
}

/// What `export` writes; each takes only the flags that apply to it.
#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// The inventory mirror: one row per item and warehouse, with the API's field names.
    Inventory(MirrorExportArgs),
    /// The invoices mirror, or with --outstanding the aging view of AHEAD's outstanding
    /// invoices (days past due, aging bucket, totals per bucket and currency).
    Invoices(InvoicesExportArgs),
    /// The shipments mirror.
    Shipments(MirrorExportArgs),
    /// Purchase and fulfillment orders: a `kind` column, `number`, then the API's fields.
    Orders(MirrorExportArgs),
    /// The change log: what each run created, updated, closed, removed or rejected.
    Changes(ChangesExportArgs),
    /// AHEAD's outstanding invoices matched with the ERP's AP ledger.
    ///
    /// Matches by invoice number (from the mirror: run `pull invoices` or `sync` first) and
    /// gives each a status (matched, amount_mismatch, currency_mismatch, missing_in_erp,
    /// missing_in_ahead, closed_in_ahead, duplicate_in_erp, ledger_row_rejected) and an aging
    /// bucket, then totals per status and per aging bucket for each currency. Unreadable ledger
    /// rows are reported and the command exits 3.
    Reconciliation(ReconciliationExportArgs),
}

/// Where an export goes.
#[derive(Debug, Args)]
pub(crate) struct ExportOut {
    /// Output file (default: standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct MirrorExportArgs {
    #[command(flatten)]
    pub out: ExportOut,
    /// Output format: CSV with a header row, or JSON lines.
    #[arg(long, value_enum, default_value_t = DataFormat::Csv)]
    pub format: DataFormat,
    /// CSV: put a ' in front of text a spreadsheet would run as a formula (text starting
    /// with =, +, -, @, tab or carriage return; numbers such as -12.50 stay as they are).
    #[arg(long)]
    pub excel_safe: bool,
}

#[derive(Debug, Args)]
pub(crate) struct InvoicesExportArgs {
    #[command(flatten)]
    pub out: ExportOut,
    /// Output format: CSV with a header row, JSON lines, or (with --outstanding and --out)
    /// an xlsx workbook.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// CSV: put a ' in front of text a spreadsheet would run as a formula (the
    /// --outstanding CSV always does).
    #[arg(long)]
    pub excel_safe: bool,
    /// Only AHEAD's outstanding invoices, with days past due and aging bucket (current,
    /// 1-30, 31-60, 61-90, 90+) and totals per bucket and currency.
    #[arg(long)]
    pub outstanding: bool,
    /// Age invoices as of this day (YYYY-MM-DD; default today).
    #[arg(long, value_name = "DATE", requires = "outstanding")]
    pub as_of: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ChangesExportArgs {
    #[command(flatten)]
    pub out: ExportOut,
    /// Output format: CSV with a header row, or JSON lines.
    #[arg(long, value_enum, default_value_t = DataFormat::Csv)]
    pub format: DataFormat,
    /// CSV: put a ' in front of text a spreadsheet would run as a formula.
    #[arg(long)]
    pub excel_safe: bool,
    /// Only this stream (inventory, invoices, shipments, purchase_orders, fulfillment_orders).
    #[arg(long, value_name = "S")]
    pub stream: Option<String>,
    /// Only this run (its number, as `status` and the logs give it).
    #[arg(long, value_name = "N", conflicts_with = "since")]
    pub run: Option<i64>,
    /// Only entries at or after this time (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ReconciliationExportArgs {
    #[command(flatten)]
    pub out: ExportOut,
    /// Output format: CSV (text a spreadsheet would run as a formula gets a ' in front),
    /// JSON lines, or an xlsx workbook (needs --out).
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// The ERP's AP ledger (open invoices), a CSV file.
    #[arg(long, value_name = "FILE")]
    pub ledger: PathBuf,
    /// The mapping the ledger is read through (default: reconciliation.ledger_mapping,
    /// "mappings/ap_ledger.csv.toml").
    #[arg(long, value_name = "M")]
    pub ledger_mapping: Option<PathBuf>,
    /// Age invoices as of this day (YYYY-MM-DD; default today). Days past due = this day -
    /// due date.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
}

/// The formats of the mirror and change log exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DataFormat {
    Csv,
    Json,
}

/// The formats of the finance reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    Csv,
    Json,
    /// An Excel workbook (needs --out).
    Xlsx,
}

impl Command {
    /// The command as a person would type it, for messages.
    pub(crate) fn name(&self) -> String {
        match self {
            Command::Auth { .. } => "auth".into(),
            Command::Pull { .. } => "pull".into(),
            Command::Push {
                requeue: Some(_), ..
            } => "push requeue".into(),
            Command::Push { .. } => "push".into(),
            Command::Sync => "sync".into(),
            Command::Backfill { .. } => "backfill".into(),
            Command::Daemon => "daemon".into(),
            Command::Schedules => "schedules".into(),
            Command::Webhooks { action } => match action {
                WebhookAction::Serve { .. } => "webhooks serve".into(),
                WebhookAction::Register { .. } => "webhooks register".into(),
                WebhookAction::List => "webhooks list".into(),
                WebhookAction::Delete { .. } => "webhooks delete".into(),
            },
            Command::Export { what } => format!(
                "export {}",
                match what {
                    ExportCommand::Inventory(_) => "inventory",
                    ExportCommand::Invoices(_) => "invoices",
                    ExportCommand::Shipments(_) => "shipments",
                    ExportCommand::Orders(_) => "orders",
                    ExportCommand::Changes(_) => "changes",
                    ExportCommand::Reconciliation(_) => "reconciliation",
                }
            ),
            Command::Outbox(args) => match args.action {
                Some(OutboxAction::Replay { .. }) => "outbox replay".into(),
                None => "outbox".into(),
            },
            Command::Status { .. } => "status".into(),
            Command::Sandbox(cmd) => match cmd.action {
                None => "sandbox".into(),
                Some(SandboxAction::Advance { .. }) => "sandbox advance".into(),
            },
            Command::Init { .. } => "init".into(),
            Command::Completions { .. } => "completions".into(),
            Command::Man => "man".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    #[test]
    fn stream_and_order_names_take_either_spelling() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("ahead-sync").chain(args.iter().copied()))
                .map(|cli| cli.command)
                .map_err(|e| e.to_string())
        };
        for (hyphen, underscore, stream, kind) in [
            (
                "purchase-orders",
                "purchase_orders",
                Stream::PurchaseOrders,
                OrderKind::PurchaseOrders,
            ),
            (
                "fulfillment-orders",
                "fulfillment_orders",
                Stream::FulfillmentOrders,
                OrderKind::FulfillmentOrders,
            ),
        ] {
            for name in [hyphen, underscore] {
                assert!(
                    matches!(parse(&["pull", name]), Ok(Command::Pull { stream: s, .. }) if s == stream),
                    "pull {name}"
                );
                assert!(
                    matches!(
                        parse(&["backfill", name, "--since", "2026-01-01"]),
                        Ok(Command::Backfill { stream: s, .. }) if s == stream
                    ),
                    "backfill {name}"
                );
                assert!(
                    matches!(parse(&["push", name, "--dry-run"]), Ok(Command::Push { kind: Some(k), .. }) if k == kind),
                    "push {name}"
                );
            }
        }
        assert!(parse(&["pull", "purchase orders"]).is_err());
        assert!(parse(&["push", "inventory"]).is_err());
    }

    #[test]
    fn outbox_takes_names_or_replay() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("ahead-sync").chain(args.iter().copied()))
                .map(|cli| cli.command)
        };
        let Ok(Command::Outbox(a)) = parse(&["outbox", "a", "b", "--dry-run"]) else {
            panic!("outbox a b")
        };
        assert_eq!(
            (a.names.len(), a.dry_run, a.action.is_none()),
            (2, true, true)
        );
        let Ok(Command::Outbox(a)) = parse(&["outbox", "replay", "ship", "--run", "7"]) else {
            panic!("outbox replay")
        };
        assert!(
            matches!(a.action, Some(OutboxAction::Replay { ref name, run: 7 }) if name == "ship")
        );
        assert!(parse(&["outbox", "replay", "ship"]).is_err());
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = Cli::try_parse_from([
            "ahead-sync",
            "auth",
            "status",
            "--log-format",
            "json",
            "-vv",
        ])
        .unwrap();
        assert_eq!(cli.global.log_format, LogFormat::Json);
        assert_eq!(cli.global.verbose, 2);
        assert!(matches!(
            cli.command,
            Command::Auth {
                action: AuthAction::Status
            }
        ));
    }
}
