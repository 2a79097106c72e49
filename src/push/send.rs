//! Sending one order according to the ledger: create once, update on change, never duplicate.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{resource_of, stream_of};
use crate::api::{now_unix, ApiClient, ApiError, Query};
use crate::mapping::{OrderKind, Rejection, SourceOrder};
use crate::store::Store;

/// What became of an order.
#[derive(Debug)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    /// AHEAD refused it (422, or a change it no longer allows); one entry per bad field.
    Rejected(Vec<Rejection>),
}

/// What a push would do with `order` (`--dry-run`): decided from the ledger alone.
pub fn plan(store: &Store, kind: OrderKind, order: &SourceOrder) -> Result<Outcome, String> {
    let entry = store
        .ledger_entry(kind.as_str(), &order.number)
        .map_err(|e| e.to_string())?;
    Ok(match entry {
        Some(e) if e.state == "sent" && e.content_hash == order.content_hash() => {
            Outcome::Unchanged
        }
        Some(e) if e.state == "sent" => Outcome::Updated,
        _ => Outcome::Created,
    })
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
    fn put(&self, state: &str, content_hash: &str, id: Option<i64>) -> Result<(), String> {
        self.store
            .ledger_put(
                self.kind.as_str(),
                &self.order.number,
                state,
                content_hash,
                id,
                self.file,
                self.order.line as i64,
                &self.body,
                now_unix(),
            )
            .map_err(|e| e.to_string())
    }
}

/// PUT the order to record `id` and, when AHEAD took it, record `hash` as sent.
async fn update_recorded(
    client: &ApiClient,
    row: &Row<'_>,
    id: i64,
    hash: &str,
) -> Result<Outcome, String> {
    let outcome = update(client, row.kind, row.order, id).await?;
    if matches!(outcome, Outcome::Updated) {
        row.put("sent", hash, Some(id))?;
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

/// Send `order`: the ledger decides between nothing, a POST and a PUT.
pub async fn send(
    client: &ApiClient,
    store: &Store,
    kind: OrderKind,
    file: &str,
    order: &SourceOrder,
) -> Result<Outcome, String> {
    let hash = order.content_hash();
    let row = Row {
        store,
        kind,
        file,
        order,
        body: Value::Object(order.body.clone()).to_string(),
    };
    let entry = store
        .ledger_entry(kind.as_str(), &order.number)
        .map_err(|e| e.to_string())?;
    match &entry {
        Some(e) if e.state == "sent" && e.content_hash == hash => return Ok(Outcome::Unchanged),
        Some(e) if e.state == "sent" || e.state == "cancelled" => {
            if let Some(id) = e.ahead_id {
                return update_recorded(client, &row, id, &hash).await;
            }
        }
        // A previous run committed `sending` and never learned the answer: look before sending.
        Some(e) if e.state == "sending" => {
            if let Some(id) = lookup(client, kind, &order.number).await? {
                row.put("sent", &e.content_hash, Some(id))?;
                tracing::info!(order = %order.number, id, "An earlier push of this order had reached AHEAD; adopted it.");
                if e.content_hash == hash {
                    return Ok(Outcome::Created);
                }
                return update_recorded(client, &row, id, &hash)
                    .await
                    .map(as_created);
            }
        }
        _ => {}
    }
    // Committed before the POST goes out.
    row.put("sending", &hash, None)?;
    for attempt in 1..=2 {
        match client.post(resource_of(kind), &order.body).await {
            Ok(envelope) => {
                let id = first_id(envelope.results.first().map(|r| r.get()));
                row.put("sent", &hash, id)?;
                return Ok(Outcome::Created);
            }
            Err(ApiError::Status {
                status: 409,
                existing,
                ..
            }) => {
                // Someone (or an earlier run whose ledger was lost) created it: adopt it, then
                // make it say what the source says.
                let id = first_id(existing.as_deref()).ok_or("409 without the existing record")?;
                row.put("sent", "", Some(id))?;
                return update_recorded(client, &row, id, &hash)
                    .await
                    .map(as_created);
            }
            Err(ApiError::Status {
                status: status @ (400 | 422),
                errors,
                ..
            }) => {
                row.put("rejected", &hash, None)?;
                let context = if status == 422 {
                    "AHEAD rejected the order"
                } else {
                    "AHEAD refused the request (400)"
                };
                return Ok(Outcome::Rejected(rejections_from(order, &errors, context)));
            }
            Err(e @ ApiError::Ambiguous { .. }) => {
                tracing::warn!(order = %order.number, error = %e, "The answer to a POST was lost; looking the order up.");
                if let Some(id) = lookup(client, kind, &order.number).await? {
                    row.put("sent", &hash, Some(id))?;
                    return Ok(Outcome::Created);
                }
                if attempt == 2 {
                    return Err(format!(
                        "{e}; the order was not found by its number, and will be tried again"
                    ));
                }
            }
            Err(e) => return Err(e.to_string()),
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
) -> Result<Outcome, String> {
    let mut body: Map<String, Value> = order.body.clone();
    body.remove(kind.number_field());
    match client
        .put(&format!("{}/{id}", resource_of(kind)), &body)
        .await
    {
        Ok(_) => Ok(Outcome::Updated),
        Err(ApiError::Status {
            status: 422 | 400,
            errors,
            ..
        }) => Ok(Outcome::Rejected(rejections_from(
            order,
            &errors,
            "AHEAD no longer accepts changes to this order",
        ))),
        Err(ApiError::Status { status: 404, .. }) => Ok(Outcome::Rejected(rejections_from(
            order,
            &[],
            "the order AHEAD had for this number no longer exists",
        ))),
        Err(e) => Err(e.to_string()),
    }
}

/// AHEAD's id for the order with this number, if it has one.
async fn lookup(client: &ApiClient, kind: OrderKind, number: &str) -> Result<Option<i64>, String> {
    let q = Query::new().eq(kind.number_field(), number).limit(1);
    let envelope = client
        .get(resource_of(kind), Some(&q))
        .await
        .map_err(|e| e.to_string())?;
    Ok(first_id(envelope.results.first().map(|r| r.get())))
}

fn first_id(raw: Option<&str>) -> Option<i64> {
    raw.and_then(|r| serde_json::from_str::<Value>(r).ok())
        .and_then(|v| v["id"].as_i64())
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
pub async fn cancel_removed(
    client: &ApiClient,
    store: &Store,
    kind: OrderKind,
    file: &str,
    present: &HashSet<String>,
) -> anyhow::Result<u64> {
    let mut cancelled = 0;
    for entry in store.ledger_for_file(kind.as_str(), file)? {
        if entry.state != "sent" || present.contains(&entry.number) {
            continue;
        }
        let Some(id) = entry.ahead_id else { continue };
        match client.delete(&format!("{}/{id}", resource_of(kind))).await {
            Ok(_) => {
                store.ledger_put(
                    kind.as_str(),
                    &entry.number,
                    "cancelled",
                    &entry.content_hash,
                    Some(id),
                    file,
                    entry.source_line,
                    "{}",
                    now_unix(),
                )?;
                tracing::info!(order = %entry.number, stream = stream_of(kind), "Cancelled: no longer in its file.");
                cancelled += 1;
            }
            Err(ApiError::Status { status: 422, .. }) => {
                tracing::warn!(order = %entry.number, "Not cancelled: AHEAD no longer allows it (already in progress).");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(cancelled)
}
