//! The webhook receiver: an axum router that verifies, stores and acknowledges deliveries
//! (served by `connections`, which bounds every connection in time and their number), with a
//! writer task that commits them in batches and a processor that applies them to the mirror.
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
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use super::apply::{apply, Applied, ApplyError};
use super::connections;
use super::verify::{self, Rejection};
use crate::secret::Secret;
use crate::store::{NewEvent, Store, StoreError, QUARANTINED};

/// Receiver settings (from `[webhooks]`).
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub path: String,
    pub secret: Secret,
    pub max_body_bytes: usize,
    /// From a connection's accept (or, after an answer, the first byte of the next request) to a
    /// complete request head.
    pub header_timeout: Duration,
    /// From a complete request head to its complete body (else 408).
    pub body_timeout: Duration,
    /// From an answer to the first byte of the next request on the same connection.
    pub idle_timeout: Duration,
    /// Connections open at once; lowered to what RLIMIT_NOFILE allows (see `connections`).
    pub max_connections: usize,
}

/// Counters of this receiver's life, for its run's summary. What `status` shows is counted in
/// the store, in the same transactions as the deliveries themselves (see `Store::insert_events`
/// and `Store::mark_event`), so a receiver killed at any instant loses none of it.
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
    /// Connections closed because they sent no complete request head in time.
    pub connections_timed_out: AtomicU64,
    /// Idle connections closed to make room for a new one at the cap.
    pub connections_evicted: AtomicU64,
    /// Connections refused at the cap, every open one being answered.
    pub connections_refused: AtomicU64,
}

impl Tally {
    fn reject(&self, r: Rejection) {
        let i = Rejection::ALL.iter().position(|x| *x == r).expect("listed");
        self.rejected[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What the writer commits: a delivery to store, or the count of one refused.
enum Entry {
    Delivery(NewEvent),
    Refused(Rejection),
}

/// The writer could not commit (it logged why).
#[derive(Debug)]
struct NotStored;

struct StoreJob {
    entry: Entry,
    /// For a delivery, whether it was new; for a refusal, that it was counted.
    done: oneshot::Sender<Result<bool, NotStored>>,
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
    let metrics_store = store.clone();
    let app = Router::new()
        .route(&config.path, post(deliver))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || crate::metrics::answer(metrics_store.clone())),
        )
        .with_state(shared);
    let (max_connections, fd_limit) = connections::connection_cap(config.max_connections);
    if max_connections < config.max_connections {
        tracing::info!(
            max_connections,
            configured = config.max_connections,
            fd_limit,
            "Connections capped below the file descriptor limit."
        );
    }
    let limits = connections::Limits {
        header_timeout: config.header_timeout,
        idle_timeout: config.idle_timeout,
        max_connections,
    };
    connections::serve(listener, app, limits, tally.clone(), shutdown).await;
    // The router (and with it every sender) is gone: the writer drains and stops.
    writer.await?;
    processor_stop.cancel();
    wake.notify_one();
    processor.await?;
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
                // Answered once counted, like a delivery once stored. If the store cannot
                // count it, the writer has said why; the answer is the same.
                let _ = commit(&s, Entry::Refused(r)).await;
            }
            let mut response = (code, code.canonical_reason().unwrap_or("")).into_response();
            if matches!(
                code,
                StatusCode::REQUEST_TIMEOUT | StatusCode::PAYLOAD_TOO_LARGE
            ) {
                // The rest of the body was not read: the connection cannot carry another request.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    }
}

/// Hand an entry to the writer and wait for its commit.
async fn commit(s: &Shared, entry: Entry) -> Result<bool, NotStored> {
    let (done, answer) = oneshot::channel();
    s.writer
        .send(StoreJob { entry, done })
        .await
        .map_err(|_| NotStored)?;
    answer.await.map_err(|_| NotStored)?
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
    let bytes: Bytes =
        tokio::time::timeout(s.config.body_timeout, axum::body::to_bytes(body, limit))
            .await
            .map_err(|_| (StatusCode::REQUEST_TIMEOUT, Some(Rejection::BodyTimeout)))?
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
    commit(s, Entry::Delivery(event))
        .await
        .map_err(|NotStored| (StatusCode::SERVICE_UNAVAILABLE, None))
}

/// Commit deliveries in batches: whatever is waiting goes into one transaction, with the counts
/// of the deliveries refused meanwhile.
async fn write_loop(
    store: Store,
    mut rx: mpsc::Receiver<StoreJob>,
    tally: Arc<Tally>,
    wake: Arc<Notify>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut events = Vec::new();
        let mut refused = Vec::new();
        let mut answers = Vec::with_capacity(batch.len());
        for job in batch {
            match job.entry {
                Entry::Delivery(event) => {
                    events.push(event);
                    answers.push((true, job.done));
                }
                Entry::Refused(r) => {
                    refused.push(r.name());
                    answers.push((false, job.done));
                }
            }
        }
        let any_events = !events.is_empty();
        let store2 = store.clone();
        let result =
            tokio::task::spawn_blocking(move || store2.insert_events(&events, &refused)).await;
        let fresh = match result {
            Ok(Ok(fresh)) => Some(fresh),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "Could not store webhook deliveries.");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "The webhook writer failed.");
                None
            }
        };
        let Some(fresh) = fresh else {
            for (_, done) in answers {
                let _ = done.send(Err(NotStored));
            }
            continue;
        };
        let mut fresh = fresh.into_iter();
        for (is_delivery, done) in answers {
            let answer = if is_delivery {
                let new = fresh.next().expect("one answer per delivery");
                let counter = if new {
                    &tally.stored
                } else {
                    &tally.duplicates
                };
                counter.fetch_add(1, Ordering::Relaxed);
                new
            } else {
                true
            };
            let _ = done.send(Ok(answer));
        }
        if any_events {
            wake.notify_one();
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
pub(crate) fn process_pending(store: &Store, run: i64, tally: &Tally) -> Result<usize, StoreError> {
    let pending = store.pending_events(500)?;
    let at = crate::time::now();
    for event in &pending {
        let outcome = verify::parse(event.body.as_bytes())
            .map_err(ApplyError::from)
            .and_then(|d| apply(store, run, &at, &event.delivery_id, &event.event, d.data));
        let (counter, state, detail) = match outcome {
            Ok(applied) => {
                let counter = match applied {
                    Applied::Mirrored => &tally.applied,
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
