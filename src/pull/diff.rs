//! The snapshot diff, pure: what a record is (its head fields), its fingerprint, and which
//! fields changed between two versions of it.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::store::{Change, ChangeKind};

/// The fields of a record the engine itself reads; everything else stays raw JSON.
/// Borrowed from the page's bytes where possible.
#[derive(Debug, Deserialize)]
pub struct Head<'a> {
    pub id: i64,
    #[serde(borrow, default)]
    pub updated_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub item_number: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub warehouse: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub invoice_number: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub po_number: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub order_number: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub tracking_number: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub status: Option<Cow<'a, str>>,
}

/// A record that cannot be read as the contract describes it.
#[derive(Debug, thiserror::Error)]
pub enum BadRecord {
    #[error("a record is not what the contract describes: {0}")]
    Received(#[source] serde_json::Error),
    #[error("stored record: {0}")]
    Stored(#[source] serde_json::Error),
    #[error("received record: {0}")]
    Changed(#[source] serde_json::Error),
}

impl<'a> Head<'a> {
    pub fn parse(raw: &'a str) -> Result<Head<'a>, BadRecord> {
        serde_json::from_str(raw).map_err(BadRecord::Received)
    }
}

pub use crate::store::fingerprint;

/// How two versions of a record differ.
#[derive(Debug, Default)]
pub(crate) struct FieldDiff {
    /// Changed top-level field names, sorted.
    pub names: Vec<String>,
    /// Their old values.
    pub before: Map<String, Value>,
    /// Their new values.
    pub after: Map<String, Value>,
}

impl FieldDiff {
    /// The change log entry for this difference.
    pub(crate) fn into_change(
        self,
        kind: ChangeKind,
        id: i64,
        key: String,
        detail: String,
    ) -> Change {
        Change {
            record_id: Some(id),
            key,
            kind,
            fields: self.names.join(";"),
            before: Some(Value::Object(self.before).to_string()),
            after: Some(Value::Object(self.after).to_string()),
            detail,
        }
    }
}

/// The top-level fields whose values differ, with their old and new values. `updated_at` is
/// left out unless nothing else changed (it moves with every change and says nothing itself).
pub(crate) fn changed_fields(old: &str, new: &str) -> Result<FieldDiff, BadRecord> {
    let old: Map<String, Value> = serde_json::from_str(old).map_err(BadRecord::Stored)?;
    let new: Map<String, Value> = serde_json::from_str(new).map_err(BadRecord::Changed)?;
    let mut names = Vec::new();
    let mut before = Map::new();
    let mut after = Map::new();
    let mut keys: Vec<&String> = old
        .keys()
        .chain(new.keys().filter(|k| !old.contains_key(*k)))
        .collect();
    keys.sort();
    for key in keys {
        let (a, b) = (old.get(key), new.get(key));
        if a != b {
            names.push(key.clone());
            before.insert(key.clone(), a.cloned().unwrap_or(Value::Null));
            after.insert(key.clone(), b.cloned().unwrap_or(Value::Null));
        }
    }
    if names.len() > 1 {
        if let Some(pos) = names.iter().position(|n| n == "updated_at") {
            names.remove(pos);
            before.remove("updated_at");
            after.remove("updated_at");
        }
    }
    Ok(FieldDiff {
        names,
        before,
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_reads_what_it_needs_and_ignores_the_rest() {
        let raw = r#"{"id":7,"item_number":"PSU-800W","warehouse":"ATL","quantity_on_hand":3,"lines":[{"a":1}],"updated_at":"2026-01-01T00:00:00Z"}"#;
        let h = Head::parse(raw).unwrap();
        assert_eq!(h.id, 7);
        assert_eq!(h.item_number.as_deref(), Some("PSU-800W"));
        assert_eq!(h.updated_at.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert!(h.invoice_number.is_none());
        assert!(
            Head::parse(r#"{"item_number":"x"}"#).is_err(),
            "id is required"
        );
    }

    #[test]
    fn changed_fields_names_before_and_after() {
        let old = r#"{"id":1,"quantity_on_hand":5,"warehouse":"ATL","updated_at":"t1"}"#;
        let new = r#"{"id":1,"quantity_on_hand":3,"warehouse":"ATL","updated_at":"t2","quantity_allocated":1}"#;
        let FieldDiff {
            names,
            before,
            after,
        } = changed_fields(old, new).unwrap();
        assert_eq!(names, ["quantity_allocated", "quantity_on_hand"]);
        assert_eq!(before["quantity_on_hand"], 5);
        assert_eq!(after["quantity_on_hand"], 3);
        assert_eq!(before["quantity_allocated"], Value::Null);
        let FieldDiff { names, .. } =
            changed_fields(r#"{"u":1,"updated_at":"a"}"#, r#"{"u":1,"updated_at":"b"}"#).unwrap();
        assert_eq!(names, ["updated_at"]);
        let FieldDiff { names, .. } =
            changed_fields(r#"{"a":1,"b":2}"#, r#"{"b":2,"a":1}"#).unwrap();
        assert!(names.is_empty(), "key order is not a change");
    }
}
