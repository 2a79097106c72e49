//! The webhook receiver: an axum server that verifies, stores and acknowledges deliveries, with
//! a writer task that commits them in batches and a processor that applies them to the mirror.
//!
//! Store first, process after: a delivery is acknowledged (2xx) only once it is committed, and
//! applying it happens afterwards, so the answer comes well inside AHEAD's 10-second timeout and
//! nothing acknowledged is ever lost. Redeliveries (same delivery id) are acknowledged and
//! ignored. Many concurrent deliveries share one transaction (group commit), which is what
//! makes thousands per second possible with one SQLite writer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use super::apply::{apply, Applied, ApplyError};
use super::verify::{self, Rejection};
use crate::secret::Secret;
use crate::store::{NewEvent, Store, StoreError, QUARANTINED};

/// Receiver settings (from `[webhooks]`).
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub path: String,
    pub secret: Secret,
    pub max_body_bytes: usize,
}

/// Counters of this receiver's life; flushed into the store's `counters` table as
/// `webhooks.<name>` so `status` can show them.
#[derive(Debug, Default)]
pub struct Tally {
    pub received: AtomicU64,
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub applied: AtomicU64,
    pub stale: AtomicU64,
    pub ignored: AtomicU64,
    /// Stored deliveries that could not be applied, set aside with their error.
    pub quarantined: AtomicU64,
    pub rejected: [AtomicU64; Rejection::ALL.len()],
    /// Totals already written to the store.
    flushed: std::sync::Mutex<Vec<u64>>,
}

impl Tally {
    fn reject(&self, r: Rejection) {
        let i = Rejection::ALL.iter().position(|x| *x == r).expect("listed");
        self.rejected[i].fetch_add(1, Ordering::Relaxed);
    }

    fn named(&self) -> Vec<(String, u64)> {
        let mut out = vec![
            (
                "webhooks.received".to_string(),
                self.received.load(Ordering::Relaxed),
            ),
            (
                "webhooks.stored".to_string(),
                self.stored.load(Ordering::Relaxed),
            ),
            (
                "webhooks.duplicates".to_string(),
                self.duplicates.load(Ordering::Relaxed),
            ),
            (
                "webhooks.applied".to_string(),
                self.applied.load(Ordering::Relaxed),
            ),
            (
                "webhooks.stale".to_string(),
                self.stale.load(Ordering::Relaxed),
            ),
            (
                "webhooks.ignored".to_string(),
                self.ignored.load(Ordering::Relaxed),
            ),
            (
                "webhooks.quarantined".to_string(),
                self.quarantined.load(Ordering::Relaxed),
            ),
        ];
        for (i, r) in Rejection::ALL.iter().enumerate() {
            out.push((
                format!("webhooks.rejected.{}", r.name()),
                self.rejected[i].load(Ordering::Relaxed),
            ));
        }
        out
    }

    /// Write what changed since the last flush.
    fn flush(&self, store: &Store) {
        let now = self.named();
        let mut flushed = self.flushed.lock().unwrap_or_else(|p| p.into_inner());
        if flushed.len() != now.len() {
            *flushed = vec![0; now.len()];
        }
        let deltas: Vec<(String, u64)> = now
            .iter()
            .zip(flushed.iter())
            .map(|((n, v), f)| (n.clone(), v - f))
            .collect();
        if let Err(e) = store.add_counters(&deltas) {
            tracing::warn!(error = %e, "Could not save webhook counters.");
            return;
        }
        *flushed = now.into_iter().map(|(_, v)| v).collect();
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

struct StoreJob {
    event: NewEvent,
    done: oneshot::Sender<Result<bool, String>>,
}

#[derive(Clone)]
struct Shared {
    config: Arc<ReceiverConfig>,
    tally: Arc<Tally>,
    writer: mpsc::Sender<StoreJob>,
}

/// Serve until `shutdown` is cancelled, then stop accepting, finish what was accepted (answer,
/// commit, apply) and return the tally.
pub async fn serve(
    store: Store,
    run: i64,
    config: ReceiverConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<Arc<Tally>> {
    let tally = Arc::new(Tally::default());
    let (tx, rx) = mpsc::channel::<StoreJob>(4096);
    let wake = Arc::new(Notify::new());
    let writer = tokio::spawn(write_loop(store.clone(), rx, tally.clone(), wake.clone()));
    let processor_stop = CancellationToken::new();
    let processor = tokio::spawn(process_loop(
        store.clone(),
        run,
        tally.clone(),
        wake.clone(),
        processor_stop.clone(),
    ));
    let shared = Shared {
        config: Arc::new(config.clone()),
        tally: tally.clone(),
        writer: tx,
    };
    let app = Router::new()
        .route(&config.path, post(deliver))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(shared);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    // The router (and with it every sender) is gone: the writer drains and stops.
    writer.await?;
    processor_stop.cancel();
    wake.notify_one();
    processor.await?;
    tally.flush(&store);
    Ok(tally)
}

async fn deliver(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    s.tally.received.fetch_add(1, Ordering::Relaxed);
    match receive(&s, &headers, body).await {
        Ok(fresh) => {
            let status = if fresh { "stored" } else { "duplicate" };
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({ "status": status })),
            )
                .into_response()
        }
        Err((code, why)) => {
            if let Some(r) = why {
                s.tally.reject(r);
                tracing::warn!(
                    reason = r.name(),
                    status = code.as_u16(),
                    "Webhook delivery rejected."
                );
            }
            (code, code.canonical_reason().unwrap_or("")).into_response()
        }
    }
}

async fn receive(
    s: &Shared,
    headers: &HeaderMap,
    body: Body,
) -> Result<bool, (StatusCode, Option<Rejection>)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !verify::is_json(content_type) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some(Rejection::ContentType),
        ));
    }
    let limit = s.config.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, Some(Rejection::TooLarge)));
    }
    let bytes: Bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, Some(Rejection::TooLarge)))?;
    let signature = headers
        .get("x-ahead-signature")
        .and_then(|v| v.to_str().ok());
    verify::check_signature(s.config.secret.expose().as_bytes(), &bytes, signature)
        .map_err(|r| (StatusCode::UNAUTHORIZED, Some(r)))?;
    let delivery = verify::parse(&bytes).map_err(|r| (StatusCode::BAD_REQUEST, Some(r)))?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| (StatusCode::BAD_REQUEST, Some(Rejection::Malformed)))?;
    let event = NewEvent {
        delivery_id: delivery.id.clone(),
        event: delivery.event.clone(),
        received_at: crate::time::now(),
        body: text,
    };
    let (done, answer) = oneshot::channel();
    s.writer
        .send(StoreJob { event, done })
        .await
        .map_err(|_| (StatusCode::SERVICE_UNAVAILABLE, None))?;
    match answer.await {
        Ok(Ok(fresh)) => Ok(fresh),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "Could not store a webhook delivery.");
            Err((StatusCode::SERVICE_UNAVAILABLE, None))
        }
        Err(_) => Err((StatusCode::SERVICE_UNAVAILABLE, None)),
    }
}

/// Commit deliveries in batches: whatever is waiting goes into one transaction.
async fn write_loop(
    store: Store,
    mut rx: mpsc::Receiver<StoreJob>,
    tally: Arc<Tally>,
    wake: Arc<Notify>,
) {
    let mut flush_tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        let first = tokio::select! {
            job = rx.recv() => match job {
                Some(job) => job,
                None => break,
            },
            _ = flush_tick.tick() => {
                let (store, tally) = (store.clone(), tally.clone());
                let _ = tokio::task::spawn_blocking(move || tally.flush(&store)).await;
                continue;
            }
        };
        let mut batch = vec![first];
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let events: Vec<NewEvent> = batch.iter().map(|j| j.event.clone()).collect();
        let store2 = store.clone();
        let result = tokio::task::spawn_blocking(move || store2.insert_events(&events))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        match result {
            Ok(fresh) => {
                for (job, fresh) in batch.into_iter().zip(fresh) {
                    if fresh {
                        tally.stored.fetch_add(1, Ordering::Relaxed);
                    } else {
                        tally.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = job.done.send(Ok(fresh));
                }
                wake.notify_one();
            }
            Err(e) => {
                for job in batch {
                    let _ = job.done.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Apply stored deliveries to the mirror, oldest first, whenever the writer commits some.
async fn process_loop(
    store: Store,
    run: i64,
    tally: Arc<Tally>,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        let (store2, tally2) = (store.clone(), tally.clone());
        let drained =
            tokio::task::spawn_blocking(move || process_pending(&store2, run, &tally2)).await;
        match drained {
            Ok(Ok(n)) if n > 0 => continue,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "Could not apply webhook deliveries."),
            Err(e) => tracing::error!(error = %e, "The webhook processor failed."),
        }
        if stop.is_cancelled() {
            break;
        }
        wake.notified().await;
    }
}

/// Apply up to one batch of pending deliveries; returns how many were handled. A delivery that
/// cannot be applied is quarantined (kept, with its error, out of the pending queue) so that the
/// ones after it go on; only the store failing stops the batch, which is tried again after the
/// next commit.
pub fn process_pending(store: &Store, run: i64, tally: &Tally) -> Result<usize, StoreError> {
    let pending = store.pending_events(500)?;
    let at = crate::time::now();
    for event in &pending {
        let outcome = verify::parse(event.body.as_bytes())
            .map_err(ApplyError::from)
            .and_then(|d| apply(store, run, &at, &event.delivery_id, &event.event, d.data));
        let (counter, state, detail) = match outcome {
            Ok(applied) => {
                let counter = match applied {
                    Applied::Applied => &tally.applied,
                    Applied::Stale => &tally.stale,
                    Applied::Ignored(_) => &tally.ignored,
                };
                let state = applied.state();
                let detail = match applied {
                    Applied::Ignored(why) => why,
                    _ => String::new(),
                };
                (counter, state, detail)
            }
            // Not this delivery's fault: stop, and try it again after the next commit.
            Err(ApplyError::Store(e)) => return Err(e),
            Err(e) => {
                tracing::warn!(
                    delivery = %event.delivery_id,
                    event = %event.event,
                    error = %e,
                    "Webhook delivery quarantined."
                );
                (&tally.quarantined, QUARANTINED, e.to_string())
            }
        };
        store.mark_event(&event.delivery_id, state, &detail)?;
        counter.fetch_add(1, Ordering::Relaxed);
    }
    Ok(pending.len())
}
