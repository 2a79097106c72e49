//! `sync`: the main job. Pushes first, then pulls (so the mirror reflects what was just sent),
//! then the outboxes (so what the pulls recorded reaches the ERP in the same sync),
//! each as its own job with its own lock and run record. A failing job does not stop the
//! others, except rejected credentials, which stop the rest (every job would fail the same way).
//! The exit code is the worst outcome.

use super::context::Context;
use super::push::{self, PushArgs};
use crate::cli::OrderKind;
use crate::error::{exit_for, stops_sync, Exit};
use crate::lock;
use crate::pull::{self, StreamKind};
use crate::settings::Settings;

/// How bad an outcome is, for "the worst outcome wins" (product.md: 5, 1, 2, 3, 4, 0). Rejected
/// rows need a person; a job skipped because another run holds it does not.
fn severity(exit: Exit) -> u8 {
    match exit {
        Exit::Ok => 0,
        Exit::Locked => 1,
        Exit::Rejected => 2,
        Exit::Usage => 3,
        Exit::Failed => 4,
        Exit::Credentials => 5,
    }
}

pub(crate) fn worst(a: Exit, b: Exit) -> Exit {
    if severity(b) > severity(a) {
        b
    } else {
        a
    }
}

/// `sync` is a job of its own: a second `sync` exits 4 at once, before it opens anything,
/// instead of interleaving with the first job by job.
pub(crate) async fn run(settings: &Settings, progress: bool) -> anyhow::Result<Exit> {
    let _lock = lock::acquire(&lock::lock_dir(&settings.store_path), JOB)?;
    let ctx = Context::open(settings).await?;
    let outcome = run_jobs(&ctx, settings, progress).await;
    ctx.close().await?;
    Ok(outcome)
}

/// A sync in an open context (the daemon's), under the same lock as `run`.
pub(crate) async fn run_in(
    ctx: &Context,
    settings: &Settings,
    progress: bool,
) -> anyhow::Result<Exit> {
    let _lock = lock::acquire(&lock::lock_dir(&settings.store_path), JOB)?;
    Ok(run_jobs(ctx, settings, progress).await)
}

const JOB: &str = "sync";

/// Every job of a sync in an open context; returns the worst outcome.
async fn run_jobs(ctx: &Context, settings: &Settings, progress: bool) -> Exit {
    let started = std::time::Instant::now();
    let mut outcome = Exit::Ok;
    let mut jobs = Vec::new();
    // Set by a job whose error means every later one would fail the same way.
    let mut stop = false;
    for kind in [OrderKind::PurchaseOrders, OrderKind::FulfillmentOrders] {
        if !push::configured(settings, kind) {
            continue;
        }
        let args = PushArgs {
            kind,
            files: Vec::new(),
            mapping: None,
            dry_run: false,
        };
        let exit = match push::prepare(settings, &args) {
            Ok(None) => Exit::Ok,
            Ok(Some((mapping, files))) => settle(
                push::run_in(ctx, settings, kind, &mapping, &files, false).await,
                &mut stop,
            ),
            Err(e) => settle(Err(e), &mut stop),
        };
        jobs.push(format!(
            "push {}={}",
            crate::kinds::OrderKind::from(kind).stream().name(),
            exit as u8
        ));
        outcome = worst(outcome, exit);
        if stop {
            break;
        }
    }
    if !stop {
        for stream in StreamKind::ALL {
            let exit = match pull::choose_mode(&ctx.store, stream, &settings.pull, false) {
                Ok(mode) => settle(
                    super::pull::pull_recorded(ctx, settings, stream, mode, "", progress)
                        .await
                        .map(|_| Exit::Ok),
                    &mut stop,
                ),
                Err(e) => settle(Err(e.into()), &mut stop),
            };
            jobs.push(format!("pull {}={}", stream.name(), exit as u8));
            outcome = worst(outcome, exit);
            if stop {
                break;
            }
        }
    }
    if !stop {
        // After the pulls, so that what they recorded goes out in the same sync.
        for ob in &settings.outboxes {
            let exit = settle(
                super::outbox::run_one_in(ctx, settings, ob).await,
                &mut stop,
            );
            jobs.push(format!("outbox {}={}", ob.name, exit as u8));
            outcome = worst(outcome, exit);
        }
    }
    if stop {
        tracing::error!(
            job = "sync",
            "Sync stopped early: AHEAD refused the credentials or could not be reached, so every other job would fail the same way."
        );
    }
    tracing::info!(
        job = "sync",
        exit = outcome as u8,
        jobs = %jobs.join(" "),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "Sync finished."
    );
    outcome
}

/// A job's exit code; its error was already recorded and logged by the job itself, except the
/// ones that stop it before it starts (a lock held elsewhere, a bad mapping). Sets `stop` when
/// the error means every later job would fail the same way.
fn settle(result: anyhow::Result<Exit>, stop: &mut bool) -> Exit {
    match result {
        Ok(exit) => exit,
        Err(e) => {
            *stop |= stops_sync(&e);
            let exit = exit_for(&e);
            if matches!(exit, Exit::Locked | Exit::Usage) {
                tracing::warn!(error = %format!("{e:#}"), "Job skipped.");
            }
            exit
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_outcome_wins() {
        assert_eq!(worst(Exit::Ok, Exit::Rejected), Exit::Rejected);
        assert_eq!(worst(Exit::Rejected, Exit::Failed), Exit::Failed);
        assert_eq!(worst(Exit::Failed, Exit::Rejected), Exit::Failed);
        assert_eq!(worst(Exit::Locked, Exit::Rejected), Exit::Rejected);
        assert_eq!(worst(Exit::Failed, Exit::Credentials), Exit::Credentials);
        // product.md: 5, 1, 2, 3, 4, 0, whatever order the jobs ran in.
        let order = [
            Exit::Credentials,
            Exit::Failed,
            Exit::Usage,
            Exit::Rejected,
            Exit::Locked,
            Exit::Ok,
        ];
        for (i, better) in order.iter().enumerate() {
            for worse in &order[..i] {
                assert_eq!(worst(*better, *worse), *worse);
                assert_eq!(worst(*worse, *better), *worse);
            }
        }
    }
}
