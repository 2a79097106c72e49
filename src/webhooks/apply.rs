//! Applying a stored delivery to the mirror: only when its record is newer (`updated_at`) than
//! what the mirror holds, so a late or repeated delivery never overwrites newer state. Changes go
//! to the same change log as pulls, marked with the delivery in `detail`.

use serde_json::value::RawValue;

use crate::pull::diff::{changed_fields, fingerprint, Head};
use crate::pull::StreamKind;
use crate::store::{Change, ChangeKind, PageWrite, Store, StoreError, Upsert};

/// Why a stored delivery could not be applied. The processor quarantines it with this message,
/// and the deliveries after it go on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyError {
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("the stored delivery cannot be read: {0}")]
    Unreadable(#[from] super::verify::Rejection),
    #[error("{stream} record {id}: cannot compare it with what the mirror holds: {reason}")]
    Diff {
        stream: &'static str,
        id: i64,
        reason: crate::pull::diff::BadRecord,
    },
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The mirror took the record (created or updated).
    Mirrored,
    /// The mirror already holds this version or a newer one.
    Stale,
    /// Not a record the mirror keeps (unknown event), or not readable.
    Ignored(String),
}

impl Applied {
    pub(crate) fn state(&self) -> &'static str {
        match self {
            Applied::Mirrored => "applied",
            Applied::Stale => "stale",
            Applied::Ignored(_) => "ignored",
        }
    }
}

/// Which stream a delivery's record belongs to: by its shape first (an order event may carry a
/// shipment), then by the event's name.
pub(crate) fn stream_of(event: &str, head: &Head<'_>) -> Option<StreamKind> {
    if head.tracking_number.is_some() {
        return Some(StreamKind::Shipments);
    }
    if head.invoice_number.is_some() {
        return Some(StreamKind::Invoices);
    }
    match event.split('.').next() {
        Some("purchase_order") => Some(StreamKind::PurchaseOrders),
        Some("fulfillment_order") => Some(StreamKind::FulfillmentOrders),
        Some("invoice") => Some(StreamKind::Invoices),
        Some("shipment") => Some(StreamKind::Shipments),
        _ => None,
    }
}

/// Apply one delivery's `data` to the mirror, recording the change under `run`.
pub(crate) fn apply(
    store: &Store,
    run: i64,
    at: &str,
    delivery_id: &str,
    event: &str,
    data: &RawValue,
) -> Result<Applied, ApplyError> {
    let raw = data.get();
    let head = match Head::parse(raw) {
        Ok(h) => h,
        Err(e) => return Ok(Applied::Ignored(e.to_string())),
    };
    let Some(stream) = stream_of(event, &head) else {
        return Ok(Applied::Ignored(format!("event {event} is not mirrored")));
    };
    let Some(updated_at) = head.updated_at.as_deref() else {
        return Ok(Applied::Ignored("the record has no updated_at".into()));
    };
    // The mirrored record, read once: its `updated_at` decides staleness, its body the diff.
    let held = store.snapshot_bodies(stream.name(), &[head.id])?.pop();
    let held_at = |body: &str| {
        Head::parse(body)
            .ok()
            .and_then(|h| h.updated_at.map(|u| u.into_owned()))
            .unwrap_or_default()
    };
    if held
        .as_ref()
        .is_some_and(|(_, body)| held_at(body).as_str() >= updated_at)
    {
        return Ok(Applied::Stale);
    }
    let key = stream.key(&head);
    let detail = format!("webhook {event} {delivery_id}");
    let change = match held {
        None => Change::whole(ChangeKind::Created, Some(head.id), key.clone(), detail),
        Some((_, old)) => changed_fields(&old, raw)
            .map_err(|reason| ApplyError::Diff {
                stream: stream.name(),
                id: head.id,
                reason,
            })?
            .into_change(ChangeKind::Updated, head.id, key.clone(), detail),
    };
    let write = PageWrite {
        upserts: vec![Upsert {
            id: head.id,
            hash: fingerprint(raw),
            updated_at: updated_at.to_string(),
            state: stream.state(&head).to_string(),
            body: raw.to_string(),
        }],
        changes: vec![change],
        ..PageWrite::default()
    };
    store.write_page(stream.name(), run, at, &write)?;
    Ok(Applied::Mirrored)
}
