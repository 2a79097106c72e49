//! `pull STREAM [--full]` and `backfill STREAM --since DATE [--until DATE]`.

use chrono::NaiveDate;

use super::context::Context;
use super::job::{run_job, JobDone};
use crate::error::{ConfigError, Exit};
use crate::pull::{self, Mode, PullOutcome, StreamKind};
use crate::settings::Settings;

pub(crate) async fn run(
    settings: &Settings,
    stream: StreamKind,
    full: bool,
    progress: bool,
) -> anyhow::Result<Exit> {
    let ctx = Context::open(settings).await?;
    let result = run_in(&ctx, settings, stream, full, progress).await;
    ctx.close().await?;
    result
}

/// A pull in an open context, its mode chosen from the watermark (or `--full`).
pub(crate) async fn run_in(
    ctx: &Context,
    settings: &Settings,
    stream: StreamKind,
    full: bool,
    progress: bool,
) -> anyhow::Result<Exit> {
    let mode = pull::choose_mode(&ctx.store, stream, &settings.pull, full)?;
    let args = if full { "--full" } else { "" };
    pull_recorded(ctx, settings, stream, mode, args, progress)
        .await
        .map(|_| Exit::Ok)
}

pub(crate) async fn backfill(
    settings: &Settings,
    stream: StreamKind,
    since: &str,
    until: Option<&str>,
    progress: bool,
) -> anyhow::Result<Exit> {
    let since_date = parse_day(since, "--since")?;
    let until_date = until.map(|u| parse_day(u, "--until")).transpose()?;
    if let Some(u) = until_date {
        if u <= since_date {
            return Err(ConfigError::new(format!(
                "--until {u} must be after --since {since_date}"
            ))
            .into());
        }
    }
    let mode = Mode::Window {
        since: format!("{since_date}T00:00:00Z"),
        until: until_date.map(|u| format!("{u}T00:00:00Z")),
    };
    let ctx = Context::open(settings).await?;
    let args = match until {
        Some(u) => format!("--since {since} --until {u}"),
        None => format!("--since {since}"),
    };
    let result = pull_recorded(&ctx, settings, stream, mode, &args, progress).await;
    ctx.close().await?;
    result.map(|_| Exit::Ok)
}

fn parse_day(text: &str, flag: &str) -> Result<NaiveDate, ConfigError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| ConfigError::new(format!("{flag}: {text:?} is not a date such as 2026-01-31")))
}

/// Run a pull as a job: lock, run record, progress bar, summary line.
pub(crate) async fn pull_recorded(
    ctx: &Context,
    settings: &Settings,
    stream: StreamKind,
    mode: Mode,
    args: &str,
    progress: bool,
) -> anyhow::Result<PullOutcome> {
    let job = if matches!(mode, Mode::Window { .. }) {
        format!("backfill {}", stream.name())
    } else {
        format!("pull {}", stream.name())
    };
    let bar = progress.then(|| super::bar::Bar::new(&job, "rows").observer());
    let mut outcome = None;
    let slot = &mut outcome;
    let job_name = job.as_str();
    run_job(ctx, settings, &job, args, |run| async move {
        let o = pull::pull(
            ctx.client(),
            &ctx.store,
            stream,
            mode.clone(),
            &settings.pull,
            run,
            bar,
        )
        .await?;
        summary(job_name, &o);
        let done = JobDone {
            exit: Exit::Ok,
            stats: o.stats.clone(),
        };
        *slot = Some(o);
        Ok(done)
    })
    .await?;
    Ok(outcome.expect("set by a completed pull"))
}

/// The one line a person reads in a cron mail.
fn summary(job: &str, o: &PullOutcome) {
    let s = &o.stats;
    let drift = match (o.drift_seen, o.consistent) {
        (false, _) => "none",
        (true, true) => "consistent after re-check",
        (true, false) => "still shifting after the last pass",
    };
    let (since, until) = o.mode.bounds();
    tracing::info!(
        job,
        run = o.run,
        mode = o.mode.kind(),
        since,
        until,
        rows_read = s.rows_read,
        created = s.created,
        updated = s.updated,
        closed = s.closed,
        removed = s.removed,
        unchanged = s.unchanged,
        pages = s.pages,
        requests = s.requests,
        retries = s.retries,
        token_refreshes = s.token_refreshes,
        drift,
        elapsed_ms = o.elapsed.as_millis() as u64,
        "Pull finished."
    );
}
