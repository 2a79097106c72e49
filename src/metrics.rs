//! `/metrics` in the Prometheus text format (version 0.0.4), read from the store at each scrape:
//! cron runs, the daemon's jobs and the receiver's deliveries all land in the one store, so any
//! process that serves `/metrics` tells about all of them.
//!
//! The families (product.md, "Metrics"): runs by job and outcome, last success time per job, rows
//! read and written, requests, retries and 429s, webhook deliveries by result. The run counters
//! are sums over the run history, which is pruned after `history.keep_days`: a pruned counter
//! goes down, which Prometheus reads as a counter reset.

use std::fmt::Write as _;

use crate::store::{RunTotals, Store, StoreError};

/// What one scrape reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub runs: Vec<RunTotals>,
    /// (job, unix seconds of its last successful run's end).
    pub last_success: Vec<(String, i64)>,
    /// The store's `webhooks.` counters, the prefix taken off: `received`, `stored`,
    /// `applied`, `rejected.bad_signature`, ...
    pub webhooks: Vec<(String, u64)>,
}

impl Snapshot {
    pub(crate) fn read(store: &Store) -> Result<Snapshot, StoreError> {
        let last_success = store
            .job_summaries()?
            .into_iter()
            .filter_map(|(last, success)| {
                success.map(|s| (last.job, s.ended_at.unwrap_or(s.started_at)))
            })
            .collect();
        let webhooks = store
            .counters("webhooks.")?
            .into_iter()
            .map(|(k, v)| (k.trim_start_matches("webhooks.").to_string(), v))
            .collect();
        Ok(Snapshot {
            runs: store.run_totals()?,
            last_success,
            webhooks,
        })
    }
}

/// The content type of what `render` writes.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value as the text format quotes it.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

pub(crate) fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    render_runs(&mut out, s);
    let per_job = per_job(&s.runs);
    render_rows(&mut out, &per_job);
    render_outboxes(&mut out, &per_job);
    render_webhooks(&mut out, s);
    out
}

/// Runs by job and outcome, and each job's last success.
fn render_runs(out: &mut String, s: &Snapshot) {
    family(
        out,
        "ahead_sync_runs_total",
        "counter",
        "Job runs in the store's history, by job and outcome.",
    );
    for r in &s.runs {
        let _ = writeln!(
            out,
            "ahead_sync_runs_total{{job=\"{}\",outcome=\"{}\"}} {}",
            label(&r.job),
            label(&r.outcome),
            r.runs
        );
    }
    family(
        out,
        "ahead_sync_last_success_timestamp_seconds",
        "gauge",
        "When each job last ended successfully (outcome ok or rejected), in Unix seconds.",
    );
    for (job, at) in &s.last_success {
        let _ = writeln!(
            out,
            "ahead_sync_last_success_timestamp_seconds{{job=\"{}\"}} {at}",
            label(job)
        );
    }
}

/// Each job's totals, summed over every outcome.
fn per_job(runs: &[RunTotals]) -> Vec<RunTotals> {
    let mut per_job: Vec<RunTotals> = Vec::new();
    for r in runs {
        match per_job.iter_mut().find(|t| t.job == r.job) {
            Some(t) => {
                t.rows_read += r.rows_read;
                t.created += r.created;
                t.updated += r.updated;
                t.removed += r.removed;
                t.closed += r.closed;
                t.rejected += r.rejected;
                t.requests += r.requests;
                t.retries += r.retries;
                t.rate_limited += r.rate_limited;
                t.files_written += r.files_written;
                t.changes_delivered += r.changes_delivered;
            }
            None => per_job.push(r.clone()),
        }
    }
    per_job
}

/// Rows read and written, requests, retries and 429s, per job.
fn render_rows(out: &mut String, per_job: &[RunTotals]) {
    family(
        out,
        "ahead_sync_rows_read_total",
        "counter",
        "Records a job read: pulled from AHEAD, or orders read from inbox files.",
    );
    for t in per_job {
        let _ = writeln!(
            out,
            "ahead_sync_rows_read_total{{job=\"{}\"}} {}",
            label(&t.job),
            t.rows_read
        );
    }
    family(
        out,
        "ahead_sync_rows_written_total",
        "counter",
        "Records a job changed, by kind of change: created, updated, removed or closed in the mirror (pulls), created or updated at AHEAD (pushes), or rejected.",
    );
    for t in per_job {
        for (change, n) in [
            ("created", t.created),
            ("updated", t.updated),
            ("removed", t.removed),
            ("closed", t.closed),
            ("rejected", t.rejected),
        ] {
            let _ = writeln!(
                out,
                "ahead_sync_rows_written_total{{job=\"{}\",change=\"{change}\"}} {n}",
                label(&t.job)
            );
        }
    }
    for (name, help, value) in [
        (
            "ahead_sync_requests_total",
            "Requests a job sent to AHEAD.",
            (|t: &RunTotals| t.requests) as fn(&RunTotals) -> u64,
        ),
        (
            "ahead_sync_retries_total",
            "Requests a job sent again after a 429, a 5xx or a network error.",
            |t| t.retries,
        ),
        (
            "ahead_sync_rate_limited_total",
            "Answers 429 (rate limited) a job had from AHEAD.",
            |t| t.rate_limited,
        ),
    ] {
        family(out, name, "counter", help);
        for t in per_job {
            let _ = writeln!(out, "{name}{{job=\"{}\"}} {}", label(&t.job), value(t));
        }
    }
}

/// Outbox files delivered and the changes they carry, per outbox job.
fn render_outboxes(out: &mut String, per_job: &[RunTotals]) {
    let outboxes: Vec<&RunTotals> = per_job
        .iter()
        .filter(|t| t.job.starts_with("outbox "))
        .collect();
    for (name, help, value) in [
        (
            "ahead_sync_outbox_files_total",
            "Files an outbox delivered into its folder.",
            (|t: &RunTotals| t.files_written) as fn(&RunTotals) -> u64,
        ),
        (
            "ahead_sync_outbox_changes_total",
            "Changes of the change log those files carry.",
            |t| t.changes_delivered,
        ),
    ] {
        family(out, name, "counter", help);
        for t in &outboxes {
            let _ = writeln!(out, "{name}{{job=\"{}\"}} {}", label(&t.job), value(t));
        }
    }
}

/// Webhook deliveries by result.
fn render_webhooks(out: &mut String, s: &Snapshot) {
    family(
        out,
        "ahead_sync_webhook_deliveries_total",
        "counter",
        "Webhook deliveries by result (received, stored, applied, rejected with its reason, ...).",
    );
    for (key, n) in &s.webhooks {
        let (result, reason) = match key.split_once('.') {
            Some((result, reason)) => (result, Some(reason)),
            None => (key.as_str(), None),
        };
        match reason {
            Some(reason) => {
                let _ = writeln!(
                    out,
                    "ahead_sync_webhook_deliveries_total{{result=\"{}\",reason=\"{}\"}} {n}",
                    label(result),
                    label(reason)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "ahead_sync_webhook_deliveries_total{{result=\"{}\"}} {n}",
                    label(result)
                );
            }
        }
    }
}

/// The answer to `GET /metrics`: the store read on a blocking thread, then rendered.
pub(crate) async fn answer(store: Store) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    match tokio::task::spawn_blocking(move || Snapshot::read(&store)).await {
        Ok(Ok(snapshot)) => {
            ([(header::CONTENT_TYPE, CONTENT_TYPE)], render(&snapshot)).into_response()
        }
        Ok(Err(error)) => {
            tracing::warn!(error = %crate::error::Chain(&error), "Metrics could not be read from the store.");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the store could not be read\n",
            )
                .into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "Metrics could not be read from the store.");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the store could not be read\n",
            )
                .into_response()
        }
    }
}

/// `[metrics] bind` for the daemon: `GET /metrics` (and `GET /healthz`) on `listener` until
/// `shutdown` is cancelled.
pub(crate) async fn serve(
    store: Store,
    listener: tokio::net::TcpListener,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || answer(store.clone())),
        )
        .route("/healthz", axum::routing::get(|| async { "ok" }));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escaped_labels() {
        let s = Snapshot {
            runs: vec![
                RunTotals {
                    job: "pull inventory".into(),
                    outcome: "ok".into(),
                    runs: 3,
                    rows_read: 100,
                    created: 10,
                    updated: 5,
                    requests: 7,
                    retries: 2,
                    rate_limited: 1,
                    ..RunTotals::default()
                },
                RunTotals {
                    job: "pull inventory".into(),
                    outcome: "failed".into(),
                    runs: 1,
                    rows_read: 20,
                    requests: 3,
                    ..RunTotals::default()
                },
                RunTotals {
                    job: "outbox asn".into(),
                    outcome: "ok".into(),
                    runs: 2,
                    files_written: 3,
                    changes_delivered: 250,
                    ..RunTotals::default()
                },
                RunTotals {
                    job: "odd \"job\"\\x".into(),
                    outcome: "ok".into(),
                    runs: 1,
                    ..RunTotals::default()
                },
            ],
            last_success: vec![("pull inventory".into(), 1_767_225_600)],
            webhooks: vec![("received".into(), 6), ("rejected.bad_signature".into(), 2)],
        };
        let text = render(&s);
        for line in [
            "# TYPE ahead_sync_runs_total counter",
            "ahead_sync_runs_total{job=\"pull inventory\",outcome=\"ok\"} 3",
            "ahead_sync_runs_total{job=\"pull inventory\",outcome=\"failed\"} 1",
            "ahead_sync_runs_total{job=\"odd \\\"job\\\"\\\\x\",outcome=\"ok\"} 1",
            "ahead_sync_last_success_timestamp_seconds{job=\"pull inventory\"} 1767225600",
            "ahead_sync_rows_read_total{job=\"pull inventory\"} 120",
            "ahead_sync_rows_written_total{job=\"pull inventory\",change=\"created\"} 10",
            "ahead_sync_requests_total{job=\"pull inventory\"} 10",
            "ahead_sync_retries_total{job=\"pull inventory\"} 2",
            "ahead_sync_rate_limited_total{job=\"pull inventory\"} 1",
            "ahead_sync_outbox_files_total{job=\"outbox asn\"} 3",
            "ahead_sync_outbox_changes_total{job=\"outbox asn\"} 250",
            "ahead_sync_webhook_deliveries_total{result=\"received\"} 6",
            "ahead_sync_webhook_deliveries_total{result=\"rejected\",reason=\"bad_signature\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        // Each family is announced once.
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!(types, 10, "{text}");
        assert!(
            !text.contains("ahead_sync_outbox_files_total{job=\"pull"),
            "{text}"
        );
    }
}
