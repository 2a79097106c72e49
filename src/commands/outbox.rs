//! `outbox [NAME…] [--dry-run]` and `outbox replay NAME --run N`: the change log delivered to
//! the ERP. Every selected outbox's mapping is compiled before any file is written; each outbox
//! is a job of its own (`outbox NAME`: lock, run record, status line).

use super::context::{open_store, Context};
use super::job::{run_job, JobDone};
use super::sync::worst;
use crate::cli::{OutboxAction, OutboxArgs};
use crate::error::{ConfigError, Exit};
use crate::outbox::deliver::{Delivery, Outbox, Selection};
use crate::outbox::{OutMapping, SpecError};
use crate::settings::{OutboxSettings, Settings};
use crate::store::RunStats;

/// `progress`: draw a bar of changes delivered (on a terminal).
pub(crate) async fn run(
    settings: &Settings,
    args: OutboxArgs,
    progress: bool,
) -> anyhow::Result<Exit> {
    if let Some(OutboxAction::Replay { name, run }) = args.action {
        return replay(settings, &name, run).await;
    }
    let selected = select(settings, &args.names)?;
    let compiled = compile(&selected)?;
    let ctx = Context::offline(open_store(settings, false)?);
    let mut exit = Exit::Ok;
    for (ob, mapping) in selected.iter().zip(&compiled) {
        let outcome = if args.dry_run {
            dry_run(&ctx, ob, mapping)?
        } else {
            deliver_job(&ctx, settings, ob, mapping, progress).await?
        };
        exit = worst(exit, outcome);
    }
    Ok(exit)
}

/// The outboxes named (default: all) in an open context (the daemon's).
pub(crate) async fn run_in(
    ctx: &Context,
    settings: &Settings,
    names: &[String],
) -> anyhow::Result<Exit> {
    let selected = select(settings, names)?;
    let compiled = compile(&selected)?;
    let mut exit = Exit::Ok;
    for (ob, mapping) in selected.iter().zip(&compiled) {
        exit = worst(exit, deliver_job(ctx, settings, ob, mapping, false).await?);
    }
    Ok(exit)
}

/// One outbox as `sync` runs it after its pulls, in the sync's context.
pub(crate) async fn run_one_in(
    ctx: &Context,
    settings: &Settings,
    ob: &OutboxSettings,
    progress: bool,
) -> anyhow::Result<Exit> {
    let mapping = compile(std::slice::from_ref(&ob))?.remove(0);
    deliver_job(ctx, settings, ob, &mapping, progress).await
}

/// The outboxes named (default: all), or a usage error naming what is configured.
fn select<'a>(
    settings: &'a Settings,
    names: &[String],
) -> Result<Vec<&'a OutboxSettings>, ConfigError> {
    let configured = || {
        let list: Vec<&str> = settings.outboxes.iter().map(|o| o.name.as_str()).collect();
        if list.is_empty() {
            "none is configured: add an [outbox.NAME] section (see README, Outboxes)".to_string()
        } else {
            format!("configured: {}", list.join(", "))
        }
    };
    if settings.outboxes.is_empty() {
        return Err(ConfigError::new(format!(
            "no outbox to deliver to; {}",
            configured()
        )));
    }
    if names.is_empty() {
        return Ok(settings.outboxes.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            settings
                .outboxes
                .iter()
                .find(|o| o.name == *n)
                .ok_or_else(|| {
                    ConfigError::new(format!("no [outbox.{n}] section; {}", configured()))
                })
        })
        .collect()
}

/// Compile the outboxes' mappings, all of them before anything is written.
fn compile(outboxes: &[&OutboxSettings]) -> Result<Vec<OutMapping>, SpecError> {
    outboxes
        .iter()
        .map(|ob| {
            let mapping = OutMapping::load(&ob.mapping)?;
            if mapping.stream != ob.stream {
                return Err(SpecError::Invalid {
                    mapping: mapping.name.clone(),
                    key: "stream".into(),
                    message: format!(
                        "the mapping writes {} records, but [outbox.{}] delivers {}",
                        mapping.stream.name(),
                        ob.name,
                        ob.stream.name()
                    ),
                });
            }
            Ok(mapping)
        })
        .collect()
}

fn job_name(ob: &OutboxSettings) -> String {
    format!("outbox {}", ob.name)
}

fn stats(d: &Delivery) -> RunStats {
    RunStats {
        rows_read: d.read,
        rejected: d.rejected,
        files_written: d.files.len() as u64,
        changes_delivered: d.delivered,
        ..RunStats::default()
    }
}

async fn deliver_job(
    ctx: &Context,
    settings: &Settings,
    ob: &OutboxSettings,
    mapping: &OutMapping,
    progress: bool,
) -> anyhow::Result<Exit> {
    let job = job_name(ob);
    let bar = progress.then(|| super::bar::Bar::new(&job, "changes"));
    let done = run_job(ctx, settings, &job, "", |run| async move {
        let outbox = Outbox {
            settings: ob,
            mapping,
            store: &ctx.store,
            progress: bar.as_deref().map(|b| b as &dyn crate::progress::Progress),
        };
        let d = outbox.deliver(run, Selection::Pending, None, false);
        if let Some(bar) = &bar {
            crate::progress::Progress::finish(&**bar);
        }
        let d = d?;
        Ok(report(ob, run, &d, ctx))
    })
    .await?;
    Ok(done.exit)
}

/// Log the job's summary line; the outcome is 3 when changes were rejected.
fn report(ob: &OutboxSettings, run: i64, d: &Delivery, ctx: &Context) -> JobDone {
    let pending = ctx
        .store
        .outbox_cursor(&ob.name)
        .and_then(|c| {
            ctx.store
                .outbox_pending(ob.stream.name(), c, None, &ob.changes)
        })
        .unwrap_or(0);
    tracing::info!(
        job = %job_name(ob),
        run,
        files = d.files.len(),
        delivered = d.delivered,
        rejected = d.rejected,
        pending,
        dir = %ob.dir.display(),
        "Outbox delivered."
    );
    if d.rejected > 0 {
        tracing::warn!(
            job = %job_name(ob),
            run,
            rejected = d.rejected,
            "Some changes could not be written; see `ahead-sync export changes --run {run}`."
        );
    }
    JobDone {
        exit: if d.rejected > 0 {
            Exit::Rejected
        } else {
            Exit::Ok
        },
        stats: stats(d),
    }
}

fn dry_run(ctx: &Context, ob: &OutboxSettings, mapping: &OutMapping) -> anyhow::Result<Exit> {
    let outbox = Outbox {
        settings: ob,
        mapping,
        store: &ctx.store,
        progress: None,
    };
    let d = outbox.deliver(0, Selection::Pending, None, true)?;
    if let Some(open) = ctx.store.outbox_open_file(&ob.name)? {
        println!(
            "outbox {}: {} (changes {}..{}) was recorded by an interrupted run; the next run finishes it first",
            ob.name, open.file, open.first_seq, open.last_seq
        );
    }
    println!(
        "outbox {}: {} change(s) pending, {} file(s) would be written to {}, {} change(s) rejected",
        ob.name,
        d.read,
        d.files.len(),
        ob.dir.display(),
        d.rejected
    );
    for (file, n) in &d.files {
        println!("  would write {file} ({n} change(s))");
    }
    for r in &d.rejections {
        println!("  would reject: {r}");
    }
    Ok(if d.rejected > 0 {
        Exit::Rejected
    } else {
        Exit::Ok
    })
}

async fn replay(settings: &Settings, name: &str, replayed: i64) -> anyhow::Result<Exit> {
    let selected = select(settings, &[name.to_string()])?;
    let ob = selected[0];
    let mapping = compile(&selected)?.remove(0);
    let ctx = Context::offline(open_store(settings, false)?);
    let job = job_name(ob);
    let Some(record) = ctx.store.run(replayed)? else {
        return Err(ConfigError::new(format!(
            "there is no run {replayed} in the store (see `ahead-sync status`)"
        ))
        .into());
    };
    let selection = if record.job == job {
        let files = ctx.store.outbox_files_of_run(&ob.name, replayed)?;
        if files.is_empty() {
            return Err(ConfigError::new(format!(
                "run {replayed} of outbox {} delivered no file: nothing to replay",
                ob.name
            ))
            .into());
        }
        Selection::Ranges(files.iter().map(|f| (f.first_seq, f.last_seq)).collect())
    } else {
        let any = ctx
            .store
            .outbox_changes_of_run(ob.stream.name(), replayed, 0, &ob.changes, 1)?;
        if any.is_empty() {
            return Err(ConfigError::new(format!(
                "run {replayed} ({}) recorded no {} change that outbox {} carries ({}): nothing to replay",
                record.job,
                ob.stream.name(),
                ob.name,
                ob.changes.join(", ")
            ))
            .into());
        }
        Selection::RecordedBy(replayed)
    };
    let label = job.clone();
    let done = run_job(&ctx, settings, &job, &format!("replay {replayed}"), |run| {
        let ctx = &ctx;
        let mapping = &mapping;
        let job = label;
        async move {
            let outbox = Outbox {
                settings: ob,
                mapping,
                store: &ctx.store,
                progress: None,
            };
            let d = outbox.deliver(run, selection, Some(replayed), false)?;
            tracing::info!(
                job = %job,
                run,
                replay_of = replayed,
                files = d.files.len(),
                delivered = d.delivered,
                "Outbox replay written."
            );
            Ok(JobDone {
                exit: if d.rejected > 0 {
                    Exit::Rejected
                } else {
                    Exit::Ok
                },
                stats: stats(&d),
            })
        }
    })
    .await?;
    Ok(done.exit)
}
