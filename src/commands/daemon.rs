//! `daemon`: run the schedules until SIGINT/SIGTERM, then let the jobs in hand finish and exit 0.
//!
//! Jobs run in this process, sharing one context (one store handle, one client and its tokens,
//! and, with the embedded sandbox, one sandbox), so they are the same jobs `sync`, `pull` and
//! `push` run, with the same locks: a job the daemon starts never overlaps a run of the same job
//! started by cron or a person.

use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::push::PushArgs;
use crate::cli::Command;
use crate::error::{exit_for, ConfigError, Exit};
use crate::schedule::{self, Job, JobRunner, LastRuns, SystemClock};
use crate::settings::Settings;
use crate::store::Store;

pub(crate) async fn run(settings: &Settings) -> anyhow::Result<Exit> {
    let jobs =
        super::schedules::load_dir(&settings.schedule_dir).map_err(ConfigError::caused_by)?;
    if jobs.is_empty() {
        return Err(ConfigError::new(format!(
            "no jobs in {}: add a schedule file (see schedules/README.md)",
            settings.schedule_dir.display()
        ))
        .into());
    }
    let ctx = Arc::new(Context::open(settings).await?);
    let shutdown = CancellationToken::new();
    tokio::spawn(super::shutdown::on_signal(shutdown.clone()));
    let metrics = match settings.metrics_bind {
        None => None,
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("metrics.bind: cannot listen on {addr}"))?;
            tracing::info!(address = %listener.local_addr()?, "Metrics listening.");
            Some(tokio::spawn(crate::metrics::serve(
                ctx.store.clone(),
                listener,
                shutdown.clone(),
            )))
        }
    };
    let runner = Arc::new(Runner {
        ctx: ctx.clone(),
        settings: settings.clone(),
    });
    let mut last_runs = StoreLastRuns(ctx.store.clone());
    // The loop logs "Daemon started." and "Daemon stopped." itself, once each.
    tracing::debug!(folder = %settings.schedule_dir.display(), "Schedules loaded.");
    schedule::run_daemon(
        jobs,
        &SystemClock,
        runner.clone(),
        shutdown.clone(),
        &mut last_runs,
    )
    .await;
    drop(runner);
    shutdown.cancel();
    if let Some(metrics) = metrics {
        if let Err(error) = metrics.await? {
            tracing::warn!(%error, "The metrics listener stopped with an error.");
        }
    }
    match Arc::try_unwrap(ctx) {
        Ok(ctx) => ctx.close().await?,
        Err(_) => tracing::warn!("A job still held the context at exit."),
    }
    Ok(Exit::Ok)
}

/// Runs scheduled commands in this process.
struct Runner {
    ctx: Arc<Context>,
    settings: Settings,
}

impl JobRunner for Runner {
    async fn run(&self, job: &Job, _shutdown: CancellationToken) -> Exit {
        // Jobs reach their own safe points (each page and each order is committed as it
        // goes); the daemon waits for the one in hand rather than cutting it short.
        let (ctx, settings) = (&*self.ctx, &self.settings);
        let result = match super::schedules::command_of(job) {
            Command::Sync => super::sync::run_in(ctx, settings, false).await,
            Command::Pull { stream, full } => {
                super::pull::run_in(ctx, settings, stream.into(), full, false).await
            }
            Command::Push {
                kind: Some(kind),
                files,
                mapping,
                dry_run,
                requeue: None,
            } => {
                let args = PushArgs {
                    kind,
                    files,
                    mapping,
                    dry_run,
                };
                super::push::run_args_in(ctx, settings, args).await
            }
            Command::Outbox(args) if args.action.is_none() && !args.dry_run => {
                super::outbox::run_in(ctx, settings, &args.names).await
            }
            other => {
                Err(ConfigError::new(format!("`{}` cannot be scheduled", other.name())).into())
            }
        };
        match result {
            Ok(exit) => exit,
            Err(e) => {
                let exit = exit_for(&e);
                if exit == Exit::Locked {
                    super::sync::log_skipped(&e);
                } else {
                    tracing::warn!(job = %job.name, error = %format!("{e:#}"), exit = exit as u8, "Scheduled job ended with an error.");
                }
                exit
            }
        }
    }
}

/// Each job's last fire time, in the store, so catch-up after downtime survives restarts.
struct StoreLastRuns(Store);

const LAST_RUN_KEY: &str = "daemon.last_fire.";

impl LastRuns for StoreLastRuns {
    fn get(&self, job: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
        match self.0.kv_get(&format!("{LAST_RUN_KEY}{job}"))? {
            Some(text) => Ok(Some(
                DateTime::parse_from_rfc3339(&text)?.with_timezone(&Utc),
            )),
            None => Ok(None),
        }
    }

    fn set(&mut self, job: &str, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.0
            .kv_set(&format!("{LAST_RUN_KEY}{job}"), &crate::time::rfc3339(at))?;
        Ok(())
    }
}
