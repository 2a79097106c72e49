//! `push purchase-orders | fulfillment-orders [FILE…] [--mapping M] [--dry-run]`.

use std::path::PathBuf;

use super::context::Context;
use super::job::{run_job, JobDone};
use crate::cli::OrderKind as CliKind;
use crate::error::{ConfigError, Exit};
use crate::kinds::OrderKind;
use crate::mapping::{Mapping, Rejection, Target};
use crate::push::{self, InputFile, PushReport};
use crate::settings::{PushJobSettings, Settings};

pub(crate) struct PushArgs {
    pub kind: CliKind,
    pub files: Vec<PathBuf>,
    pub mapping: Option<PathBuf>,
    pub dry_run: bool,
}

pub(crate) async fn run(
    settings: &Settings,
    args: PushArgs,
    progress: bool,
) -> anyhow::Result<Exit> {
    // The mapping and the file list are checked before anything is opened.
    let Some((mapping, files)) = prepare(settings, &args)? else {
        return Ok(Exit::Ok);
    };
    let ctx = Context::open(settings).await?;
    let result = run_in(
        &ctx,
        settings,
        args.kind,
        &mapping,
        &files,
        args.dry_run,
        progress,
    )
    .await;
    ctx.close().await?;
    result
}

/// `push` in an open context (the daemon's, which draws no bars): prepare, then run.
pub(crate) async fn run_args_in(
    ctx: &Context,
    settings: &Settings,
    args: PushArgs,
) -> anyhow::Result<Exit> {
    match prepare(settings, &args)? {
        None => Ok(Exit::Ok),
        Some((mapping, files)) => {
            run_in(
                ctx,
                settings,
                args.kind,
                &mapping,
                &files,
                args.dry_run,
                false,
            )
            .await
        }
    }
}

fn kind_settings(
    settings: &Settings,
    kind: CliKind,
) -> (OrderKind, &PushJobSettings, &'static str) {
    let kind = OrderKind::from(kind);
    let job = match kind {
        OrderKind::PurchaseOrder => &settings.purchase_orders,
        OrderKind::FulfillmentOrder => &settings.fulfillment_orders,
    };
    (kind, job, kind.stream().name())
}

/// Whether `sync` should push this kind: a mapping and an inbox are configured.
pub(crate) fn configured(settings: &Settings, kind: CliKind) -> bool {
    let (_, job, _) = kind_settings(settings, kind);
    job.mapping.is_some() && job.inbox.is_some()
}

/// Load the mapping (its errors stop everything before any file is read) and list the files;
/// `None` when there is nothing to push.
pub(crate) fn prepare(
    settings: &Settings,
    args: &PushArgs,
) -> anyhow::Result<Option<(Mapping, Vec<InputFile>)>> {
    let (kind, job_settings, name) = kind_settings(settings, args.kind);
    let mapping_path = args
        .mapping
        .clone()
        .or_else(|| job_settings.mapping.clone())
        .ok_or_else(|| {
            ConfigError::new(format!(
                "no mapping for {name}: pass --mapping FILE or set push.{name}.mapping \
                 (`ahead-sync init` sets up a folder with the shipped mappings, an inbox and \
                 sample files)"
            ))
        })?;
    if !mapping_path.exists() {
        return Err(ConfigError::new(format!(
            "the mapping {} for {name} does not exist: pass --mapping FILE, fix \
             push.{name}.mapping, or run `ahead-sync init` to write the shipped mappings",
            mapping_path.display()
        ))
        .into());
    }
    let mapping = Mapping::load(&mapping_path).map_err(ConfigError::caused_by)?;
    if mapping.kind != Target::Order(kind) {
        return Err(ConfigError::new(format!(
            "mapping {} is for {}s, not {name}",
            mapping_path.display(),
            mapping.kind.as_str()
        ))
        .into());
    }
    let files: Vec<InputFile> = if !args.files.is_empty() {
        for f in &args.files {
            if !f.is_file() {
                return Err(ConfigError::new(format!("{} is not a file", f.display())).into());
            }
        }
        args.files
            .iter()
            .map(|p| InputFile {
                path: p.clone(),
                from_inbox: false,
            })
            .collect()
    } else {
        let inbox = job_settings.inbox.clone().ok_or_else(|| {
            ConfigError::new(format!(
                "no files given and no inbox: name files, or set push.{name}.inbox \
                 (`ahead-sync init` sets up a folder with one)"
            ))
        })?;
        push::inbox_files(&inbox)?
            .into_iter()
            .map(|path| InputFile {
                path,
                from_inbox: true,
            })
            .collect()
    };
    if files.is_empty() {
        tracing::info!(job = %format!("push {name}"), "No files waiting.");
        return Ok(None);
    }
    Ok(Some((mapping, files)))
}

/// Push `files` as a job (or plan it, for a dry run) in an open context.
pub(crate) async fn run_in(
    ctx: &Context,
    settings: &Settings,
    kind: CliKind,
    mapping: &Mapping,
    files: &[InputFile],
    dry_run: bool,
    progress: bool,
) -> anyhow::Result<Exit> {
    let (_, _, name) = kind_settings(settings, kind);
    let concurrency = settings.api.concurrency;
    if dry_run {
        let report = push::push(
            ctx.client(),
            &ctx.store,
            0,
            mapping,
            files,
            &push::PushOptions {
                dry_run: true,
                concurrency,
                settle: settings.push_settle,
            },
            &mut Printed,
        )
        .await?;
        return Ok(exit_of(&report));
    }
    let job = format!("push {name}");
    let described: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    let job_ref = job.as_str();
    let bar = progress.then(|| super::bar::Bar::new(&job, "orders"));
    let observer = bar.as_ref().map(super::bar::Bar::observer);
    let done = run_job(
        ctx,
        settings,
        &job,
        &described.join(" "),
        |run| async move {
            let report = push::push(
                ctx.client(),
                &ctx.store,
                run,
                mapping,
                files,
                &push::PushOptions {
                    dry_run: false,
                    concurrency,
                    settle: settings.push_settle,
                },
                &mut Logged { bar: observer },
            )
            .await?;
            if let Some(bar) = bar {
                crate::progress::Progress::finish(&*bar);
            }
            tracing::info!(
                job = job_ref,
                run,
                orders = report.stats.rows_read,
                created = report.stats.created,
                updated = report.stats.updated,
                unchanged = report.stats.unchanged,
                rejected = report.stats.rejected,
                cancelled = report.cancelled,
                failed = report.failed,
                files_done = report.files_done,
                files_failed = report.files_failed,
                files_waiting = report.files_waiting,
                "Push finished."
            );
            if report.failed > 0 {
                anyhow::bail!(
                    "{} orders could not be pushed and will be tried again on the next run",
                    report.failed
                );
            }
            Ok(JobDone {
                exit: exit_of(&report),
                stats: report.stats,
            })
        },
    )
    .await?;
    Ok(done.exit)
}

/// A dry run prints its plan, a line per order and per rejection, as it goes.
struct Printed;

impl push::Observer for Printed {
    fn plan(&mut self, line: &str) {
        println!("{line}");
    }

    fn rejection(&mut self, _: &Rejection) {}
}

/// A push logs each rejected row, and counts orders on its bar if it has one.
struct Logged {
    bar: crate::progress::Observer,
}

impl push::Observer for Logged {
    fn plan(&mut self, _: &str) {}

    fn rejection(&mut self, r: &Rejection) {
        tracing::warn!(
            file = %r.file,
            line = r.line,
            segment = r.segment,
            order = r.order.as_deref(),
            field = r.field.as_deref(),
            reason = %r.reason,
            "Row rejected."
        );
    }

    fn progress(&self) -> crate::progress::Observer {
        self.bar.clone()
    }
}

fn exit_of(report: &PushReport) -> Exit {
    if report.stats.rejected > 0 {
        Exit::Rejected
    } else {
        Exit::Ok
    }
}

/// `push requeue FILE…`: each fixed rejected file back into its inbox (under the push job's
/// lock, so no push is settling it meanwhile), its stale report removed.
pub(crate) fn requeue(settings: &Settings, files: &[PathBuf]) -> anyhow::Result<Exit> {
    let mut inboxes = Vec::new();
    let mut locks = Vec::new();
    for kind in [CliKind::PurchaseOrders, CliKind::FulfillmentOrders] {
        let (_, job, name) = kind_settings(settings, kind);
        if let Some(inbox) = &job.inbox {
            inboxes.push(inbox.clone());
            locks.push(crate::lock::acquire(
                &crate::lock::lock_dir(&settings.store_path),
                &format!("push {name}"),
            )?);
        }
    }
    if inboxes.is_empty() {
        return Err(ConfigError::new(
            "no inbox is configured (push.purchase_orders.inbox, push.fulfillment_orders.inbox): \
             there is nothing to requeue into",
        )
        .into());
    }
    for file in files {
        let done = push::requeue(file, &inboxes)?;
        match &done.removed_report {
            Some(report) => println!(
                "requeued {} -> {} (removed {})",
                file.display(),
                done.target.display(),
                report.display()
            ),
            None => println!("requeued {} -> {}", file.display(), done.target.display()),
        }
    }
    println!("The next `ahead-sync sync` (or push) takes them once settled (push.settle_secs).");
    Ok(Exit::Ok)
}
