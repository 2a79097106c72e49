//! Sending one order according to the ledger: create once, update on change, never duplicate.

use serde_json::{Map, Value};

use super::resource_of;
use crate::api::contract::status;
use crate::api::{ApiClient, ApiError, Query};
use crate::kinds::OrderKind;
use crate::mapping::{Rejection, SourceOrder};
use crate::store::{LedgerEntry, LedgerState, LedgerWrite, Store, StoreError};
use crate::time::now_unix;

/// Why an order could not be sent this time; it is tried again on the next run. Each variant
/// keeps its cause in the source chain, so a credentials failure still decides the exit code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("AHEAD did not take the order")]
    Api(#[from] ApiError),
    #[error("cannot record the order in the push ledger")]
    Ledger(#[from] StoreError),
    #[error("the answer to its POST was lost and the order was not found by its number")]
    Unresolved(#[source] ApiError),
    #[error("AHEAD answered 409 without the existing record")]
    ConflictWithoutRecord,
}

/// What became of an order.
#[derive(Debug)]
pub(crate) enum Outcome {
    Created,
    Updated,
    Unchanged,
    /// AHEAD refused it (422, or a change it no longer allows); one entry per bad field.
    Rejected(Vec<Rejection>),
}

/// What `send` gives back: the outcome, and the ledger row for the caller to commit with its
/// batch (the common path), or an error worth retrying on a later run.
pub(super) type Sent = Result<(Outcome, Option<LedgerWrite>), SendError>;

/// What a push would do with `order` (`--dry-run`): decided from its ledger row alone.
pub(super) fn plan(entry: Option<&LedgerEntry>, order: &SourceOrder) -> Outcome {
    match entry {
        Some(e) if e.state == LedgerState::Sent && e.content_hash == order.content_hash() => {
            Outcome::Unchanged
        }
        Some(e) if e.state == LedgerState::Sent => Outcome::Updated,
        _ => Outcome::Created,
    }
}

/// Whether an order with this ledger row is sent by POST: it was never sent, or AHEAD refused
/// it before. Those are the rows a batch marks `sending` before any of them goes out.
pub(super) fn needs_post(entry: Option<&LedgerEntry>) -> bool {
    entry.is_none_or(|e| e.state == LedgerState::Rejected)
}

/// An order as it goes out: its canonical JSON (what is POSTed and kept in the ledger) and that
/// JSON's content hash, each computed once.
pub(super) struct Outgoing {
    pub order: SourceOrder,
    pub json: String,
    pub hash: String,
}

impl Outgoing {
    pub(super) fn new(order: SourceOrder) -> Outgoing {
        let json = order.canonical_json();
        let hash = crate::mapping::hash_json(&json);
        Outgoing { order, json, hash }
    }
}

/// The ledger row of one order, as this push writes it.
struct Row<'a> {
    store: &'a Store,
    kind: OrderKind,
    file: &'a str,
    order: &'a SourceOrder,
    body: String,
}

impl Row<'_> {
    fn write(&self, state: LedgerState, content_hash: &str, id: Option<i64>) -> LedgerWrite {
        ledger_write(
            self.kind,
            self.file,
            self.order,
            state,
            content_hash,
            id,
            self.body.clone(),
        )
    }

    fn put(
        &self,
        state: LedgerState,
        content_hash: &str,
        id: Option<i64>,
    ) -> Result<(), SendError> {
        Ok(self
            .store
            .ledger_put(&self.write(state, content_hash, id), now_unix())?)
    }
}

/// The ledger row of `order` in `state`.
pub fn ledger_write(
    kind: OrderKind,
    file: &str,
    order: &SourceOrder,
    state: LedgerState,
    content_hash: &str,
    ahead_id: Option<i64>,
    body: String,
) -> LedgerWrite {
    LedgerWrite {
        kind: kind.as_str().to_string(),
        number: order.number.clone(),
        state,
        content_hash: content_hash.to_string(),
        ahead_id,
        source_file: file.to_string(),
        source_line: order.line as i64,
        body,
    }
}

/// PUT the order to record `id` and, when AHEAD took it, record `hash` as sent.
async fn update_recorded(
    client: &ApiClient,
    row: &Row<'_>,
    id: i64,
    hash: &str,
) -> Result<Outcome, SendError> {
    let outcome = update(client, row.kind, row.order, id).await?;
    if matches!(outcome, Outcome::Updated) {
        row.put(LedgerState::Sent, hash, Some(id))?;
    }
    Ok(outcome)
}

/// An order found already in AHEAD (adopted): it counts as created by this push, unless AHEAD
/// refused to take the source's current content.
fn as_created(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Updated | Outcome::Unchanged => Outcome::Created,
        rejected => rejected,
    }
}

/// Send `order`: its ledger row (`entry`) decides between nothing, a POST and a PUT. `marked`:
/// the caller already committed this order's `sending` row. On the common path (a POST that
/// AHEAD took) the `sent` row comes back for the caller to commit with the rest of its batch;
/// every other path records its outcome at once.
pub(super) async fn send(
    client: &ApiClient,
    store: &Store,
    kind: OrderKind,
    file: &str,
    order: &Outgoing,
    entry: Option<&LedgerEntry>,
    marked: bool,
) -> Sent {
    let Outgoing { order, json, hash } = order;
    let row = Row {
        store,
        kind,
        file,
        order,
        body: json.clone(),
    };
    let now = |outcome: Result<Outcome, SendError>| outcome.map(|o| (o, None));
    match entry {
        Some(e) if e.state == LedgerState::Sent && e.content_hash == *hash => {
            return Ok((Outcome::Unchanged, None))
        }
        Some(e) if e.state == LedgerState::Sent || e.state == LedgerState::Cancelled => {
            if let Some(id) = e.ahead_id {
                return now(update_recorded(client, &row, id, hash).await);
            }
        }
        // A previous run committed `sending` and never learned the answer: look before sending.
        Some(e) if e.state == LedgerState::Sending => {
            if let Some(id) = lookup(client, kind, &order.number).await? {
                row.put(LedgerState::Sent, &e.content_hash, Some(id))?;
                tracing::info!(order = %order.number, id, "An earlier push of this order had reached AHEAD; adopted it.");
                if e.content_hash == *hash {
                    return Ok((Outcome::Created, None));
                }
                return now(update_recorded(client, &row, id, hash)
                    .await
                    .map(as_created));
            }
        }
        _ => {}
    }
    // Committed before the POST goes out (by the caller, for a whole batch, when `marked`).
    if !marked {
        row.put(LedgerState::Sending, hash, None)?;
    }
    for attempt in 1..=2 {
        match client
            .post_json(resource_of(kind), json.clone().into_bytes())
            .await
        {
            Ok(envelope) => {
                let id = first_id(envelope.results.first().map(|r| r.get()));
                return Ok((
                    Outcome::Created,
                    Some(row.write(LedgerState::Sent, hash, id)),
                ));
            }
            Err(ApiError::Status {
                status: status::CONFLICT,
                existing,
                ..
            }) => {
                // Someone (or an earlier run whose ledger was lost) created it: adopt it, then
                // make it say what the source says.
                let id = first_id(existing.as_deref()).ok_or(SendError::ConflictWithoutRecord)?;
                row.put(LedgerState::Sent, "", Some(id))?;
                return now(update_recorded(client, &row, id, hash)
                    .await
                    .map(as_created));
            }
            Err(ApiError::Status {
                status: code @ (status::BAD_REQUEST | status::UNPROCESSABLE),
                errors,
                ..
            }) => {
                row.put(LedgerState::Rejected, hash, None)?;
                let context = if code == status::UNPROCESSABLE {
                    "AHEAD rejected the order"
                } else {
                    "AHEAD refused the request (400)"
                };
                return Ok((
                    Outcome::Rejected(rejections_from(order, &errors, context)),
                    None,
                ));
            }
            Err(e @ ApiError::Ambiguous { .. }) => {
                tracing::warn!(order = %order.number, error = %e, "The answer to a POST was lost; looking the order up.");
                if let Some(id) = lookup(client, kind, &order.number).await? {
                    row.put(LedgerState::Sent, hash, Some(id))?;
                    return Ok((Outcome::Created, None));
                }
                if attempt == 2 {
                    return Err(SendError::Unresolved(e));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    unreachable!("the loop returns on its second attempt")
}

/// PUT the writable fields (everything but the number) of `order` to AHEAD record `id`.
async fn update(
    client: &ApiClient,
    kind: OrderKind,
    order: &SourceOrder,
    id: i64,
) -> Result<Outcome, SendError> {
    let mut body: Map<String, Value> = order.body.clone();
    body.remove(kind.number_field());
    match client
        .put(&format!("{}/{id}", resource_of(kind)), &body)
        .await
    {
        Ok(_) => Ok(Outcome::Updated),
        Err(ApiError::Status {
            status: status::UNPROCESSABLE | status::BAD_REQUEST,
            errors,
            ..
        }) => Ok(Outcome::Rejected(rejections_from(
            order,
            &errors,
            "AHEAD no longer accepts changes to this order",
        ))),
        Err(ApiError::Status {
            status: status::NOT_FOUND,
            ..
        }) => Ok(Outcome::Rejected(rejections_from(
            order,
            &[],
            "the order AHEAD had for this number no longer exists",
        ))),
        Err(e) => Err(e.into()),
    }
}

/// AHEAD's id for the order with this number, if it has one.
async fn lookup(
    client: &ApiClient,
    kind: OrderKind,
    number: &str,
) -> Result<Option<i64>, ApiError> {
    let q = Query::new().eq(kind.number_field(), number).limit(1);
    let envelope = client.get(resource_of(kind), Some(&q)).await?;
    Ok(first_id(envelope.results.first().map(|r| r.get())))
}

/// The `id` of a record, read without building the whole record.
fn first_id(raw: Option<&str>) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: i64,
    }
    raw.and_then(|r| serde_json::from_str::<IdOnly>(r).ok())
        .map(|r| r.id)
}

/// Turn AHEAD's per-field errors into rejections on the source lines they concern.
fn rejections_from(
    order: &SourceOrder,
    errors: &[crate::api::contract::ErrorItem],
    context: &str,
) -> Vec<Rejection> {
    let make = |field: Option<String>, reason: String| {
        // `lines[2].quantity` points at the third line's source line.
        let line = field
            .as_deref()
            .and_then(|f| f.strip_prefix("lines["))
            .and_then(|rest| rest.split(']').next())
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| order.lines.get(i).copied())
            .unwrap_or(order.line);
        Rejection {
            file: order.file.clone(),
            line,
            segment: None,
            order: Some(order.number.clone()),
            field,
            reason,
        }
    };
    if errors.is_empty() {
        return vec![make(None, context.to_string())];
    }
    errors
        .iter()
        .map(|e| {
            make(
                e.field.clone(),
                format!("{context}: {} ({})", e.message, e.code),
            )
        })
        .collect()
}

/// Cancel (DELETE) orders a file used to hold and no longer does, when the mapping asks.
pub(super) async fn cancel_removed(
    client: &ApiClient,
    store: &Store,
    kind: OrderKind,
    file: &str,
    present: impl Fn(&str) -> bool,
) -> anyhow::Result<u64> {
    const PAGE: usize = 1000;
    let mut cancelled = 0;
    let mut after: Option<String> = None;
    loop {
        let page = store.ledger_for_file(kind.as_str(), file, after.as_deref(), PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.number.clone());
        for entry in &page {
            if entry.state == LedgerState::Sent && !present(&entry.number) {
                cancelled += cancel(client, store, kind, entry).await?;
            }
        }
        if page.len() < PAGE {
            break;
        }
    }
    Ok(cancelled)
}

/// Cancel one order AHEAD has from a file that no longer holds it: 1 if it was cancelled.
async fn cancel(
    client: &ApiClient,
    store: &Store,
    kind: OrderKind,
    entry: &LedgerEntry,
) -> anyhow::Result<u64> {
    let Some(id) = entry.ahead_id else {
        return Ok(0);
    };
    match client.delete(&format!("{}/{id}", resource_of(kind))).await {
        Ok(_) => {
            store.ledger_set_state(
                kind.as_str(),
                &entry.number,
                LedgerState::Cancelled,
                now_unix(),
            )?;
            tracing::info!(order = %entry.number, stream = kind.stream().name(), "Cancelled: no longer in its file.");
            Ok(1)
        }
        Err(ApiError::Status {
            status: status::UNPROCESSABLE,
            ..
        }) => {
            tracing::warn!(order = %entry.number, "Not cancelled: AHEAD no longer allows it (already in progress).");
            Ok(0)
        }
        Err(e) => Err(e.into()),
    }
}
