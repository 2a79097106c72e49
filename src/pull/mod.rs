//! Pull streams: page through a resource, diff every record against its stored snapshot, record
//! what was created, updated, closed or removed, and move the watermark.
//!
//! A pull is one or more passes over a set of records in id order, each page applied in its own
//! transaction on a writer thread while the next pages are fetched. A pass whose pages shifted
//! under it (see `api::pages`) is read again, up to `max_passes`; a record is declared removed
//! (or an invoice closed) only after a look-up by id proves it. The watermark is written last,
//! after everything it covers is committed, and only ever moves forward; a killed run therefore
//! redoes work, and redone work finds nothing new to record.

pub mod diff;
mod page;
pub(crate) mod streams;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::Value;
use thiserror::Error;

use crate::api::{pages, ApiClient, ApiError, Page, Query, Stats};
use crate::store::{PageWrite, RunStats, Store, StoreError, WatermarkMove};
use page::PassState;
pub use streams::StreamKind;

/// How pulls behave; from `[pull]` settings.
#[derive(Debug, Clone)]
pub struct PullSettings {
    pub page_size: u32,
    pub concurrency: usize,
    /// Incremental pulls ask for `updated_at >= watermark - overlap`, so rows committed late on
    /// the server (with an earlier timestamp) are not missed.
    pub overlap: Duration,
    /// Every Nth default pull of inventory is a full one (0 = only when asked), since only a
    /// full pull can see inventory rows disappear.
    pub inventory_full_every: u32,
    /// Passes over a set before a pull gives up trying to read it without drift.
    pub max_passes: u32,
    /// Ids per look-up request when checking records a pass did not see.
    pub lookup_batch: usize,
}

impl Default for PullSettings {
    fn default() -> Self {
        PullSettings {
            page_size: 500,
            concurrency: 4,
            overlap: Duration::from_secs(300),
            inventory_full_every: 24,
            max_passes: 3,
            lookup_batch: 200,
        }
    }
}

/// What a pull reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Every record (of the stream's default set); removals are detected.
    Full,
    /// Records updated at or after `since`.
    Incremental { since: String },
    /// The stream's whole default set (outstanding invoices), with look-ups of the ones that left.
    WholeSet,
    /// A backfill: records updated in `[since, until)`; the watermark does not move.
    Window {
        since: String,
        until: Option<String>,
    },
}

impl Mode {
    /// The kind of pass, one word for a log field: `full`, `incremental`, `outstanding_set`,
    /// `window`.
    pub fn kind(&self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental { .. } => "incremental",
            Mode::WholeSet => "outstanding_set",
            Mode::Window { .. } => "window",
        }
    }

    /// Where an incremental pass or a window starts, and where a window ends.
    pub fn bounds(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Mode::Incremental { since } => (Some(since.as_str()), None),
            Mode::Window { since, until } => (Some(since.as_str()), until.as_deref()),
            Mode::Full | Mode::WholeSet => (None, None),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Mode::Full => "full".into(),
            Mode::Incremental { since } => format!("incremental since {since}"),
            Mode::WholeSet => "outstanding set".into(),
            Mode::Window { since, until } => match until {
                Some(u) => format!("window {since} .. {u}"),
                None => format!("window from {since}"),
            },
        }
    }
}

#[derive(Debug, Error)]
pub enum PullError {
    // Not `transparent`: a transparent variant hides the inner error from the source chain,
    // and the exit code is decided by finding it there (`error::exit_for`).
    #[error("reading from AHEAD failed")]
    Api(#[from] ApiError),
    #[error("writing to the store failed")]
    Store(#[from] StoreError),
    #[error("pull {stream}")]
    Page {
        stream: &'static str,
        #[source]
        source: page::PageError,
    },
    #[error("pull {stream}: {detail}")]
    Data {
        stream: &'static str,
        detail: String,
    },
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullOutcome {
    pub stream: StreamKind,
    pub run: i64,
    pub mode: Mode,
    pub stats: RunStats,
    /// Drift was seen in the first pass; the pull read the set again.
    pub drift_seen: bool,
    /// The last pass read without drift (false only when `max_passes` ran out).
    pub consistent: bool,
    pub elapsed: Duration,
}

/// Choose the mode of a pull from what was asked and the stream's watermark.
pub fn choose_mode(
    store: &Store,
    stream: StreamKind,
    settings: &PullSettings,
    full: bool,
) -> Result<Mode, StoreError> {
    if full {
        return Ok(Mode::Full);
    }
    if stream.always_whole_set() {
        return Ok(Mode::WholeSet);
    }
    let Some(watermark) = store.watermark(stream.name())? else {
        return Ok(Mode::Full);
    };
    let every = if stream == StreamKind::Inventory {
        settings.inventory_full_every
    } else {
        0
    };
    if every > 0 && watermark.incrementals + 1 >= i64::from(every) {
        return Ok(Mode::Full);
    }
    Ok(Mode::Incremental {
        since: minus(&watermark.updated_at, settings.overlap),
    })
}

/// `ts - overlap`, in the API's timestamp format; an unreadable stored value means "from the
/// beginning" (safe: reads more, never less).
fn minus(ts: &str, overlap: Duration) -> String {
    match DateTime::parse_from_rfc3339(ts) {
        Ok(t) => {
            let t = t.with_timezone(&Utc) - chrono::Duration::from_std(overlap).unwrap_or_default();
            crate::time::rfc3339(t)
        }
        Err(_) => "1970-01-01T00:00:00Z".into(),
    }
}

/// Run one pull of `stream` in `mode`, recorded as run `run`.
pub async fn pull(
    client: &ApiClient,
    store: &Store,
    stream: StreamKind,
    mode: Mode,
    settings: &PullSettings,
    run: i64,
    progress: crate::progress::Observer,
) -> Result<PullOutcome, PullError> {
    let started = Instant::now();
    let before = snapshot_stats(client.stats());
    let writes_before = store.total_changes();
    // The writer thread is the pull's bottleneck: WAL checkpoints run beside it.
    let checkpoints = store.background_checkpoints()?;
    let (whole_set, expected_state) = match &mode {
        Mode::Full => (
            true,
            if stream == StreamKind::Invoices {
                None
            } else {
                Some("")
            },
        ),
        Mode::WholeSet => (true, Some("")),
        Mode::Incremental { .. } | Mode::Window { .. } => (false, None),
    };
    let mut query = Query::new().order_by("id").limit(settings.page_size);
    query = match &mode {
        Mode::Full => query,
        Mode::WholeSet => stream.default_filter(query),
        Mode::Incremental { since } => {
            query.filter("updated_at", crate::api::Op::Ge, since.as_str())
        }
        Mode::Window { since, until } => {
            let q = query.filter("updated_at", crate::api::Op::Ge, since.as_str());
            match until {
                Some(u) => q.filter("updated_at", crate::api::Op::Lt, u.as_str()),
                None => q,
            }
        }
    };
    let mut state = PassState::new(stream, run, crate::time::now(), whole_set, expected_state);
    let mut passes = 0;
    let mut drift_seen = false;
    let consistent = loop {
        passes += 1;
        state = run_pass(client, store, &query, settings, state, progress.clone()).await?;
        if state.drift.is_empty() {
            break true;
        }
        drift_seen = true;
        tracing::warn!(
            stream = stream.name(),
            pass = passes,
            evidence = %state.drift.join("; "),
            "Pages shifted during the pull; reading the set again before trusting it."
        );
        if passes >= settings.max_passes {
            break false;
        }
        state.stats.drift_rechecks += 1;
        state.next_pass();
    };
    // Records the last pass expected but did not see: look each up before removing anything.
    resolve_candidates(client, store, stream, settings, &mut state).await?;
    if !matches!(mode, Mode::Window { .. }) {
        // Reading a whole set (full, or all outstanding invoices) restarts the count of
        // incremental pulls.
        let full = matches!(mode, Mode::Full | Mode::WholeSet);
        let write = PageWrite {
            watermark: Some(WatermarkMove {
                updated_at: state
                    .max_updated
                    .clone()
                    .unwrap_or_else(|| "1970-01-01T00:00:00Z".into()),
                full,
            }),
            ..PageWrite::default()
        };
        store.write_page(stream.name(), run, &state.at, &write)?;
    }
    checkpoints.finish()?;
    if let Some(progress) = &progress {
        progress.finish();
    }
    let after = snapshot_stats(client.stats());
    let mut stats = state.stats;
    stats.requests = after.0 - before.0;
    stats.retries = after.1 - before.1;
    stats.token_refreshes = after.2 - before.2;
    stats.rows_written = store.total_changes() - writes_before;
    stats.full = matches!(mode, Mode::Full | Mode::WholeSet);
    Ok(PullOutcome {
        stream,
        run,
        mode,
        stats,
        drift_seen,
        consistent,
        elapsed: started.elapsed(),
    })
}

/// (requests, retries, token refreshes and grants) a client has made so far.
pub(crate) fn snapshot_stats(stats: &Stats) -> (u64, u64, u64) {
    (
        Stats::get(&stats.requests),
        Stats::get(&stats.retries),
        Stats::get(&stats.refreshes) + Stats::get(&stats.grants),
    )
}

/// One pass: pages are fetched on the runtime and applied on a blocking writer thread, with a
/// small bounded queue between them (memory stays flat in the number of records).
async fn run_pass(
    client: &ApiClient,
    store: &Store,
    query: &Query,
    settings: &PullSettings,
    mut state: PassState,
    progress: crate::progress::Observer,
) -> Result<PassState, PullError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<(Page, Vec<page::RowMeta>), PullError>>(
        settings.concurrency.max(1) + 1,
    );
    let stream = Box::pin(pages(
        client,
        state.stream.path(),
        query.clone(),
        settings.concurrency,
    ));
    let stream_kind = state.stream;
    // Whether to read every row's head fields while preparing (most rows will be written, as in
    // a first pull) or only those the fingerprint shows changed, on the writer. The writer
    // updates it from what each page turned out to need.
    let eager = Arc::new(AtomicBool::new(!store.has_snapshots(stream_kind.name())?));
    let eager_prepare = eager.clone();
    // Parse and fingerprint each page on the blocking pool, two pages at a time and in order,
    // beside the writer thread: on two cores this work and SQLite's run side by side.
    let mut prepared = Box::pin(
        stream
            .map(move |page| {
                let eager = eager_prepare.load(Ordering::Relaxed);
                async move {
                    let page = page.map_err(PullError::from)?;
                    tokio::task::spawn_blocking(move || {
                        let metas = page::prepare(stream_kind, &page.rows, eager).map_err(|e| {
                            PullError::Page {
                                stream: stream_kind.name(),
                                source: e.into(),
                            }
                        })?;
                        Ok::<_, PullError>((page, metas))
                    })
                    .await
                    .map_err(|e| PullError::Data {
                        stream: stream_kind.name(),
                        detail: format!("preparing a page failed: {e}"),
                    })?
                }
            })
            .buffered(2),
    );
    let fetcher = tokio::spawn(async move {
        while let Some(page) = prepared.next().await {
            let failed = page.is_err();
            if tx.send(page).await.is_err() || failed {
                break;
            }
        }
    });
    let store = store.clone();
    let writer = tokio::task::spawn_blocking(move || -> Result<PassState, PullError> {
        while let Some(page) = rx.blocking_recv() {
            let (page, metas) = page?;
            state.observe(page.total_results, page.shifted, page.offset);
            state.stats.pages += 1;
            if let Some(progress) = &progress {
                progress.set_total(page.total_results);
                progress.advance(page.count);
            }
            let written = |s: &RunStats| s.created + s.updated + s.closed;
            let before = written(&state.stats);
            state
                .apply(&store, &page.rows, &metas, true)
                .map_err(|source| PullError::Page {
                    stream: state.stream.name(),
                    source,
                })?;
            let wrote = written(&state.stats) - before;
            eager.store(2 * wrote > page.count, Ordering::Relaxed);
        }
        state
            .finish_ranges(&store)
            .map_err(|source| PullError::Page {
                stream: state.stream.name(),
                source,
            })?;
        Ok(state)
    });
    let result = writer.await.map_err(|e| PullError::Data {
        stream: "?",
        detail: format!("the writer thread failed: {e}"),
    })?;
    fetcher.abort();
    result
}

/// Look up, by id, every record the pass expected but did not see: found ones are applied
/// (skipped by drift, or an invoice that left the outstanding set); the rest are removed.
async fn resolve_candidates(
    client: &ApiClient,
    store: &Store,
    stream: StreamKind,
    settings: &PullSettings,
    state: &mut PassState,
) -> Result<(), PullError> {
    let candidates = std::mem::take(&mut state.candidates);
    for batch in candidates.chunks(settings.lookup_batch.max(1)) {
        let ids: Vec<Value> = batch.iter().map(|c| Value::from(c.id)).collect();
        let query = Query::new().is_in("id", ids).limit(batch.len() as u32);
        let envelope = client.get(stream.path(), Some(&query)).await?;
        if envelope.count < envelope.total_results {
            return Err(PullError::Data {
                stream: stream.name(),
                detail: format!(
                    "a look-up of {} ids answered {} of {} rows; lower pull.lookup_batch",
                    batch.len(),
                    envelope.count,
                    envelope.total_results
                ),
            });
        }
        let found: std::collections::HashSet<i64> = envelope
            .results
            .iter()
            .filter_map(|r| diff::Head::parse(r.get()).ok().map(|h| h.id))
            .collect();
        let gone: Vec<_> = batch
            .iter()
            .filter(|c| !found.contains(&c.id))
            .cloned()
            .collect();
        let rows = envelope.results;
        let store2 = store.clone();
        let mut moved = std::mem::replace(
            state,
            PassState::new(stream, state.run, state.at.clone(), false, None),
        );
        let back = tokio::task::spawn_blocking(move || -> Result<PassState, page::PageError> {
            let was_whole = moved.whole_set;
            moved.whole_set = false;
            let metas = page::prepare(stream, &rows, true)?;
            moved.apply(&store2, &rows, &metas, false)?;
            moved.remove(&store2, &gone)?;
            moved.whole_set = was_whole;
            Ok(moved)
        })
        .await
        .map_err(|e| PullError::Data {
            stream: stream.name(),
            detail: e.to_string(),
        })?;
        *state = back.map_err(|source| PullError::Page {
            stream: stream.name(),
            source,
        })?;
    }
    Ok(())
}
