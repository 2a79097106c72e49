//! One file per subcommand. Each takes validated settings and returns the exit code of a run that
//! completed; failures travel as errors and `main` maps them.

pub(crate) mod auth;
pub(crate) mod bar;
pub(crate) mod context;
pub(crate) mod daemon;
pub(crate) mod embedded;
pub(crate) mod export;
pub(crate) mod help;
pub(crate) mod init;
pub(crate) mod job;
pub(crate) mod outbox;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod reconcile;
pub(crate) mod sandbox;
pub(crate) mod schedules;
pub(crate) mod shutdown;
pub(crate) mod status;
pub(crate) mod sync;
pub(crate) mod webhooks;

use crate::cli::{Cli, Command};
use crate::error::{ConfigError, Exit};
use crate::settings::Settings;

/// Run the parsed command. `load` gives the settings, for the commands that need them; `env`
/// is the process environment, for `init`, which reads the settings of the folder it sets up.
pub(crate) async fn run(
    cli: Cli,
    load: impl FnOnce() -> Result<Settings, ConfigError>,
    env: &std::collections::HashMap<String, String>,
) -> anyhow::Result<Exit> {
    let progress = crate::logging::progress_allowed(cli.global.log_format, cli.global.no_progress);
    match cli.command {
        Command::Auth { action } => auth::run(&load()?, action).await,
        Command::Pull { stream, full } => pull::run(&load()?, stream.into(), full, progress).await,
        Command::Backfill {
            stream,
            since,
            until,
        } => pull::backfill(&load()?, stream.into(), &since, until.as_deref(), progress).await,
        Command::Push {
            requeue: Some(crate::cli::PushAction::Requeue { files }),
            ..
        } => push::requeue(&load()?, &files),
        Command::Push { kind: None, .. } => Err(ConfigError::new(
            "push needs what the files hold: purchase-orders or fulfillment-orders",
        )
        .into()),
        Command::Push {
            kind: Some(kind),
            files,
            mapping,
            dry_run,
            requeue: None,
        } => {
            push::run(
                &load()?,
                push::PushArgs {
                    kind,
                    files,
                    mapping,
                    dry_run,
                },
                progress,
            )
            .await
        }
        Command::Export { what } => export::run(&load()?, export::ExportArgs::from(what)),
        Command::Webhooks { action } => webhooks::run(&load()?, action).await,
        Command::Outbox(args) => outbox::run(&load()?, args, progress).await,
        Command::Sync => sync::run(&load()?, progress).await,
        Command::Status { json } => status::run(&load()?, json),
        Command::Sandbox(cmd) => match cmd.action {
            None => sandbox::run(cmd.serve).await,
            Some(crate::cli::SandboxAction::Advance { hours }) => sandbox::advance(&load()?, hours),
        },
        Command::Init { dir } => init::run(dir.as_deref(), env),
        Command::Completions { shell } => help::completions(shell),
        Command::Man => help::man(),
        Command::Daemon => daemon::run(&load()?).await,
        Command::Schedules => schedules::run(&load()?),
    }
}

// What was typed becomes the domain's vocabulary here, and only here.
impl From<crate::cli::Stream> for crate::kinds::StreamKind {
    fn from(s: crate::cli::Stream) -> Self {
        use crate::cli::Stream;
        use crate::kinds::StreamKind;
        match s {
            Stream::Inventory => StreamKind::Inventory,
            Stream::Invoices => StreamKind::Invoices,
            Stream::Shipments => StreamKind::Shipments,
            Stream::PurchaseOrders => StreamKind::PurchaseOrders,
            Stream::FulfillmentOrders => StreamKind::FulfillmentOrders,
        }
    }
}

impl From<crate::cli::OrderKind> for crate::kinds::OrderKind {
    fn from(k: crate::cli::OrderKind) -> Self {
        match k {
            crate::cli::OrderKind::PurchaseOrders => crate::kinds::OrderKind::PurchaseOrder,
            crate::cli::OrderKind::FulfillmentOrders => crate::kinds::OrderKind::FulfillmentOrder,
        }
    }
}
