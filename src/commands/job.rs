//! A job run: its lock, its run record, its outcome. Every job (a pull, a push, each step of
//! `sync`) goes through [`run_job`], so locking and history work the same everywhere.

use std::future::Future;

use super::context::Context;
use crate::error::{exit_for, Exit};
use crate::lock;
use crate::settings::Settings;
use crate::store::RunStats;
use crate::time::now_unix;

/// What a job body reports when it completes.
pub(crate) struct JobDone {
    pub exit: Exit,
    pub stats: RunStats,
}

/// The outcome word stored in run history and shown by `status`.
pub(crate) fn outcome_word(exit: Exit) -> &'static str {
    match exit {
        Exit::Ok => "ok",
        Exit::Rejected => "rejected",
        Exit::Locked => "skipped",
        Exit::Credentials => "credentials",
        Exit::Usage => "usage",
        Exit::Failed => "failed",
    }
}

/// Run `body` as job `job`: take its lock (or fail at once, exit 4, naming the holder), record
/// the run, and record how it ended. Errors propagate after being recorded.
pub(crate) async fn run_job<F, Fut>(
    ctx: &Context,
    settings: &Settings,
    job: &str,
    args: &str,
    body: F,
) -> anyhow::Result<JobDone>
where
    F: FnOnce(i64) -> Fut,
    Fut: Future<Output = anyhow::Result<JobDone>>,
{
    let _lock = lock::acquire(&lock::lock_dir(&settings.store_path), job)?;
    let outboxes: Vec<&str> = settings.outboxes.iter().map(|o| o.name.as_str()).collect();
    let (runs, changes) = ctx.store.prune_history(
        now_unix() - settings.keep_history.as_secs() as i64,
        &outboxes,
    )?;
    if runs + changes > 0 {
        tracing::debug!(runs, changes, "Pruned old history.");
    }
    let run = ctx.store.begin_run(job, args, now_unix())?;
    let before = ctx.wire_counts();
    let limited_before = ctx.rate_limited();
    let mut result = body(run).await;
    if let (Ok(done), Some(before), Some(after)) = (&mut result, before, ctx.wire_counts()) {
        // Jobs that do not count their own requests (pushes) get the client's counts.
        if done.stats.requests == 0 {
            done.stats.requests = after.0 - before.0;
            done.stats.retries = after.1 - before.1;
            done.stats.token_refreshes = after.2 - before.2;
        }
    }
    if let (Ok(done), Some(before), Some(after)) = (&mut result, limited_before, ctx.rate_limited())
    {
        done.stats.rate_limited = after - before;
    }
    match &result {
        Ok(done) => ctx
            .store
            .finish_run(run, outcome_word(done.exit), &done.stats, now_unix())?,
        Err(e) => {
            let exit = exit_for(e);
            let error = format!("{e:#}");
            ctx.store
                .fail_run(run, outcome_word(exit), &error, now_unix())?;
            tracing::error!(job, run, error = %error, "Job failed.");
        }
    }
    // After the run is recorded, so that a store claimed meanwhile by another AHEAD (two
    // first runs of a new store at once) still shows how this run ended.
    ctx.adopt_after(&result)?;
    result
}
