//! ahead-sync: a sync engine between an ERP (CSV and X12 files) and the AHEAD Systems API.
//!
//! Layout (see ARCHITECTURE.md for the invariants):
//! - `cli`, `settings`, `error`, `logging`: the edge: arguments, configuration, exit codes, logs.
//! - `help`: the help that teaches: a paragraph, examples and exit codes for every command.
//! - `kinds`: the domain's vocabulary: streams and order kinds, named the same in every layer.
//! - `api`: the AHEAD client: OAuth, the retry/refresh loop, the `q` builder and the paged reader.
//! - `store`: the SQLite file: schema and migrations, tokens; the only module that holds SQL.
//! - `commands`: one file per subcommand, gluing settings, store and client together.
//! - `lock`: per-job locks across processes (an OS lock, so a killed run leaves none).
//! - `metrics`: `/metrics` in the Prometheus text format, read from the store.
//! - `mapping`: mapping files and the CSV/X12 readers that turn ERP files into order bodies (pure).
//! - `outbox`: the change log delivered to the ERP as CSV or X12 files, exactly once; outbound
//!   mappings (pure) and the write-aside/rename/commit loop.
//! - `pull`: the pull streams: pages diffed against snapshots, the change log, watermarks.
//! - `push`: orders from files to AHEAD exactly once, through the push ledger.
//! - `export`: the mirror and the change log as CSV or JSON lines; the reconciliation (also xlsx).
//! - `reconcile`: AHEAD's outstanding invoices against the ERP's AP ledger: matching, aging,
//!   totals (pure).
//! - `schedule`: crontab lines in time zones, schedule files, and the daemon's loop.
//! - `webhooks`: the receiver for AHEAD's order events, feeding the mirror.
//! - `secret`: a string type that never prints its value.
//!
//! The public modules are the library's chosen surface (what the integration tests and benches
//! drive); the rest is crate-private, and `unreachable_pub` keeps every `pub` item reachable.
//!
//! The embedded AHEAD simulator is a crate of its own (`sandbox/`, `ahead_sandbox`), used through
//! `commands::embedded` when the default `sandbox` feature is on; it shares no code with `api`.

#![warn(unreachable_pub)]
#![warn(clippy::too_many_lines)]

pub mod api;
pub(crate) mod cli;
pub(crate) mod commands;
mod entry;
pub(crate) mod error;
pub(crate) mod export;
pub(crate) mod help;
pub mod kinds;
pub(crate) mod lock;
pub(crate) mod logging;
pub mod mapping;
pub(crate) mod metrics;
pub(crate) mod outbox;
pub(crate) mod progress;
pub mod pull;
pub mod push;
pub(crate) mod reconcile;
pub(crate) mod schedule;
pub mod secret;
pub(crate) mod settings;
pub mod store;
pub mod time;
pub mod webhooks;

pub use entry::main;
