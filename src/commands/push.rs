//! `push purchase-orders | fulfillment-orders [FILE…] [--mapping M] [--dry-run]`.

use std::path::PathBuf;

use super::context::Context;
use super::job::{run_job, JobDone};
use crate::cli::OrderKind as CliKind;
use crate::error::{ConfigError, Exit};
use crate::mapping::{Mapping, OrderKind};
use crate::push::{self, InputFile, PushReport};
use crate::settings::Settings;

pub struct PushArgs {
    pub kind: CliKind,
    pub files: Vec<PathBuf>,
    pub mapping: Option<PathBuf>,
    pub dry_run: bool,
}

pub async fn run(settings: &Settings, args: PushArgs) -> anyhow::Result<Exit> {
    let (kind, job_settings, name) = match args.kind {
        CliKind::PurchaseOrders => (
            OrderKind::PurchaseOrder,
            &settings.purchase_orders,
            "purchase_orders",
        ),
        CliKind::FulfillmentOrders => (
            OrderKind::FulfillmentOrder,
            &settings.fulfillment_orders,
            "fulfillment_orders",
        ),
    };
    let mapping_path = args
        .mapping
        .clone()
        .or_else(|| job_settings.mapping.clone())
        .ok_or_else(|| {
            ConfigError::new(format!(
                "no mapping for {name}: pass --mapping FILE or set push.{name}.mapping"
            ))
        })?;
    // A mapping's own errors stop everything before any file is read or any order sent.
    let mapping = Mapping::load(&mapping_path).map_err(|e| ConfigError::new(e.to_string()))?;
    if mapping.kind != kind {
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
                "no files given and no inbox: name files, or set push.{name}.inbox"
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
        return Ok(Exit::Ok);
    }
    let ctx = Context::open(settings).await?;
    let result = if args.dry_run {
        push::push(
            ctx.client(),
            &ctx.store,
            0,
            &mapping,
            &files,
            true,
            settings.api.concurrency,
        )
        .await
        .map(|report| {
            for line in &report.plan {
                println!("{line}");
            }
            exit_of(&report)
        })
    } else {
        let job = format!("push {name}");
        let described: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
        let (ctx_ref, job_ref, mapping, files) = (&ctx, job.as_str(), &mapping, &files);
        run_job(
            &ctx,
            settings,
            &job,
            &described.join(" "),
            |run| async move {
                let report = push::push(
                    ctx_ref.client(),
                    &ctx_ref.store,
                    run,
                    mapping,
                    files,
                    false,
                    settings.api.concurrency,
                )
                .await?;
                for r in &report.rejections {
                    tracing::warn!(rejection = %r, "Row rejected.");
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
        .await
        .map(|done| done.exit)
    };
    ctx.close().await?;
    result
}

fn exit_of(report: &PushReport) -> Exit {
    if report.stats.rejected > 0 {
        Exit::Rejected
    } else {
        Exit::Ok
    }
}
