//! The scheduling loop, independent of what a job does.
//!
//! The loop sleeps until the earliest next fire time, starts the jobs that are due on their own
//! tasks, and goes back to sleep. Its rules:
//!
//! - **No overlap**: a job still running at its next tick is not started again; that tick is
//!   skipped and logged. Different jobs run concurrently.
//! - **Catch-up once**: each job's last fire time is kept in [`LastRuns`]. At start-up, a job
//!   whose next tick after its last fire time has passed (the daemon was down) runs once, at
//!   once, however many ticks it missed. A job that never ran waits for its first tick.
//! - **Graceful stop**: when `shutdown` is cancelled, nothing new starts; the same token was
//!   handed to every running job so it can stop at its next safe point, and the loop waits for
//!   each of them before returning.
//!
//! Time comes from a [`Clock`], so tests run a day of schedules on tokio's paused clock.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn, Instrument};

use super::clock::Clock;
use super::file::Job;
use crate::error::Exit;

/// Runs one job. The daemon knows nothing else about jobs.
pub(crate) trait JobRunner: Send + Sync + 'static {
    /// Run `job` to completion and return its exit code (product.md, "Exit codes").
    ///
    /// `shutdown` is cancelled when the daemon is asked to stop: the job should finish at its
    /// next safe point (a committed page, a finished file) and return; the daemon waits for it.
    fn run(&self, job: &Job, shutdown: CancellationToken) -> impl Future<Output = Exit> + Send;
}

/// Each job's last fire time, by job name. Kept across restarts by the store; the daemon only
/// needs get and set, so that catch-up after downtime is decided by what actually ran.
///
/// The daemon sets a job's time when a run starts, whatever its outcome: like cron, a failed
/// run is tried again at the next tick, not again at every restart. A read or write error is
/// logged and the loop goes on (at worst a restart misjudges one catch-up).
pub(crate) trait LastRuns {
    fn get(&self, job: &str) -> anyhow::Result<Option<DateTime<Utc>>>;
    fn set(&mut self, job: &str, at: DateTime<Utc>) -> anyhow::Result<()>;
}

/// [`LastRuns`] in memory, for tests.
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub(crate) struct MemoryLastRuns {
    pub runs: std::collections::HashMap<String, DateTime<Utc>>,
}

#[cfg(test)]
impl LastRuns for MemoryLastRuns {
    fn get(&self, job: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
        Ok(self.runs.get(job).copied())
    }

    fn set(&mut self, job: &str, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.runs.insert(job.to_string(), at);
        Ok(())
    }
}

/// A job and its timing state inside the loop.
struct Slot {
    job: Arc<Job>,
    /// The next tick to act on; `None` when the cron line never fires again.
    next: Option<DateTime<Utc>>,
    /// Set while a run is in hand; a tick that finds it set is skipped.
    running: bool,
}

/// Run `jobs` on their schedules until `shutdown` is cancelled and the jobs in hand are done.
pub(crate) async fn run_daemon<C: Clock, R: JobRunner>(
    jobs: Vec<Job>,
    clock: &C,
    runner: Arc<R>,
    shutdown: CancellationToken,
    state: &mut (dyn LastRuns + Send),
) {
    let start = clock.now();
    let mut slots: Vec<Slot> = jobs
        .into_iter()
        .map(|job| Slot {
            next: first_tick(&job, start, &*state),
            job: Arc::new(job),
            running: false,
        })
        .collect();
    info!(message = "Daemon started.", jobs = slots.len());
    let mut tasks: JoinSet<(usize, Exit)> = JoinSet::new();
    loop {
        let wake = slots.iter().filter_map(|s| s.next).min();
        let sleep = async {
            match wake {
                Some(at) => clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(done) = tasks.join_next() => {
                finished(&mut slots, done);
                continue;
            }
            _ = sleep => {}
        }
        let now = clock.now();
        for (index, slot) in slots.iter_mut().enumerate() {
            let Some(tick) = slot.next.filter(|&t| t <= now) else {
                continue;
            };
            // After a late wake-up (a suspended machine), ticks already past are not replayed.
            slot.next = slot.job.schedule.next_after(now);
            if slot.running {
                warn!(
                    message = "Skipped a tick: the previous run is still going.",
                    job = %slot.job.name,
                    %tick
                );
                continue;
            }
            if let Err(error) = state.set(&slot.job.name, tick) {
                warn!(message = "Could not record the run time.", job = %slot.job.name, %error);
            }
            slot.running = true;
            start_job(&mut tasks, index, &slot.job, &runner, &shutdown, tick);
        }
    }
    info!(
        message = "Stopping: waiting for the jobs in hand.",
        running = tasks.len()
    );
    while let Some(done) = tasks.join_next().await {
        finished(&mut slots, done);
    }
    info!(message = "Daemon stopped.");
}

/// When a job should first fire: once, now, if it missed a tick while the daemon was down;
/// otherwise at its next tick.
fn first_tick(job: &Job, now: DateTime<Utc>, state: &dyn LastRuns) -> Option<DateTime<Utc>> {
    let last = state.get(&job.name).unwrap_or_else(|error| {
        warn!(message = "Could not read the last run time.", job = %job.name, %error);
        None
    });
    match last.and_then(|last| job.schedule.next_after(last)) {
        Some(missed) if missed <= now => {
            info!(
                message = "Catching up: a tick was missed while the daemon was down.",
                job = %job.name,
                %missed
            );
            Some(now)
        }
        _ => job.schedule.next_after(now),
    }
}

fn start_job<R: JobRunner>(
    tasks: &mut JoinSet<(usize, Exit)>,
    index: usize,
    job: &Arc<Job>,
    runner: &Arc<R>,
    shutdown: &CancellationToken,
    tick: DateTime<Utc>,
) {
    // A child token: a job sees the stop request but cannot stop the daemon by cancelling it.
    let (job, runner, token) = (job.clone(), runner.clone(), shutdown.child_token());
    let span = tracing::info_span!("job", job = %job.name);
    info!(parent: &span, message = "Job started.", command = %job.command_line(), %tick);
    tasks.spawn(
        async move {
            // A panicking job is a failed run, not a dead daemon or a job stuck as "running".
            let exit = AssertUnwindSafe(runner.run(&job, token))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    error!(message = "Job panicked.");
                    Exit::Failed
                });
            (index, exit)
        }
        .instrument(span),
    );
}

fn finished(slots: &mut [Slot], done: Result<(usize, Exit), tokio::task::JoinError>) {
    match done {
        Ok((index, exit)) => {
            let slot = &mut slots[index];
            slot.running = false;
            info!(message = "Job finished.", job = %slot.job.name, exit = exit as u8);
        }
        // Only when the runtime itself is shutting down: nothing is left to schedule.
        Err(error) => error!(message = "Job task was lost.", %error),
    }
}

#[cfg(test)]
mod tests;
