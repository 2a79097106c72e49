//! Applying one page of records to the mirror: the diff against stored snapshots, turned into one
//! transaction of snapshot writes and change log entries. Runs on the writer thread.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::value::RawValue;

use super::diff::{changed_fields, fingerprint, BadRecord, Head};
use super::streams::{StreamKind, CLOSED};
use crate::store::{
    Change, ChangeKind, PageWrite, RunStats, Store, StoreError, Stored, StoredHash, Upsert,
};

/// Why a page could not be applied. Each keeps its cause in the source chain.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("cannot apply the page to the store")]
    Store(#[from] StoreError),
    #[error("cannot read a record of the page")]
    Record(#[from] BadRecord),
}

/// What the diff needs of one record, read from its raw JSON. Prepared on the fetching side, so
/// parsing and hashing run beside the writer thread rather than on it.
#[derive(Debug, Clone)]
pub(super) struct RowMeta {
    pub id: i64,
    pub fp: i64,
    /// Read eagerly when most rows are expected to be written (a first pull); otherwise only
    /// for the rows the fingerprint shows changed, by [`RowMeta::head`].
    head: Option<HeadInfo>,
}

/// The head fields a written record needs.
#[derive(Debug, Clone)]
pub(super) struct HeadInfo {
    pub updated_at: Option<String>,
    pub key: String,
    pub state: &'static str,
    pub status: Option<String>,
}

impl HeadInfo {
    fn read(stream: StreamKind, raw: &str) -> Result<HeadInfo, BadRecord> {
        let head = Head::parse(raw)?;
        Ok(HeadInfo {
            updated_at: head.updated_at.as_deref().map(str::to_string),
            key: stream.key(&head),
            state: stream.state(&head),
            status: head.status.as_deref().map(str::to_string),
        })
    }
}

impl RowMeta {
    /// The row's head fields, read now if they were not read when it was prepared.
    pub(super) fn head(
        &self,
        stream: StreamKind,
        raw: &str,
    ) -> Result<Cow<'_, HeadInfo>, BadRecord> {
        match &self.head {
            Some(head) => Ok(Cow::Borrowed(head)),
            None => HeadInfo::read(stream, raw).map(Cow::Owned),
        }
    }
}

/// Read the id and fingerprint of every row, and with `eager` its head fields too.
pub(super) fn prepare(
    stream: StreamKind,
    rows: &[Box<RawValue>],
    eager: bool,
) -> Result<Vec<RowMeta>, BadRecord> {
    rows.iter()
        .map(|raw| {
            let raw = raw.get();
            let id = match leading_id(raw) {
                Some(id) => id,
                None => Head::parse(raw)?.id,
            };
            let head = if eager {
                Some(HeadInfo::read(stream, raw)?)
            } else {
                None
            };
            Ok(RowMeta {
                id,
                fp: fingerprint(raw),
                head,
            })
        })
        .collect()
}

/// The id of a record whose JSON begins `{"id":<digits>` followed by `,` or `}` (how AHEAD
/// writes records); `None` for any other shape, which is then parsed in full.
fn leading_id(raw: &str) -> Option<i64> {
    let rest = raw.strip_prefix(r#"{"id":"#)?;
    let end = rest.find([',', '}'])?;
    let digits = &rest[..end];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 18 {
        return None;
    }
    digits.parse().ok()
}

/// A page's records and what [`prepare`] read of each, side by side.
#[derive(Clone, Copy)]
struct Rows<'a> {
    rows: &'a [Box<RawValue>],
    metas: &'a [RowMeta],
}

/// The stored record with this id, in rows sorted by id.
fn find(stored: &[StoredHash], id: i64) -> Option<&StoredHash> {
    stored
        .binary_search_by_key(&id, |s| s.id)
        .ok()
        .map(|i| &stored[i])
}

/// What the writer knows about the pass so far.
pub(super) struct PassState {
    pub stream: StreamKind,
    pub run: i64,
    /// Timestamp written into change log entries of this run.
    pub at: String,
    /// The pass reads the whole (filtered) set in id order, so stored records between two pages'
    /// ids that did not come back are candidates for removal (or for closing, for invoices).
    pub whole_set: bool,
    /// Which stored records a whole-set pass expects to see: `Some(state)` only those in that
    /// state (outstanding invoices: `""`), `None` all.
    pub expected_state: Option<&'static str>,
    /// Highest id handed on so far.
    pub last_id: Option<i64>,
    /// Exclusive lower bound of the stored-id range the next page covers.
    range_start: Option<i64>,
    /// Stored records a whole-set pass did not see; looked up before anything is removed.
    pub candidates: Vec<StoredHash>,
    /// Newest `updated_at` seen.
    pub max_updated: Option<String>,
    /// Whether the stream's newest stored `updated_at` was counted yet.
    newest_read: bool,
    pub first_total: Option<u64>,
    /// Evidence that the pages shifted under the pass.
    pub drift: Vec<String>,
    pub stats: RunStats,
}

impl PassState {
    pub(super) fn new(
        stream: StreamKind,
        run: i64,
        at: String,
        whole_set: bool,
        expected_state: Option<&'static str>,
    ) -> Self {
        PassState {
            stream,
            run,
            at,
            whole_set,
            expected_state,
            last_id: None,
            range_start: None,
            candidates: Vec::new(),
            max_updated: None,
            newest_read: false,
            first_total: None,
            drift: Vec::new(),
            stats: RunStats::default(),
        }
    }

    /// Start another pass over the same set (after drift): counters and the newest
    /// `updated_at` carry over, the evidence and candidates do not.
    pub(super) fn next_pass(&mut self) {
        self.last_id = None;
        self.range_start = None;
        self.candidates.clear();
        self.first_total = None;
        self.drift.clear();
    }

    /// Judge a page's consistency with the pages before it (drift evidence only; the rows are
    /// applied regardless, since applying a row twice is harmless).
    pub(super) fn observe(&mut self, total: u64, shifted: bool, offset: u64) {
        match self.first_total {
            None => self.first_total = Some(total),
            Some(first) if first != total => {
                self.note_drift(format!("total_results changed from {first} to {total}"));
                self.first_total = Some(total);
            }
            Some(_) => {}
        }
        if shifted {
            self.note_drift(format!(
                "the page at offset {offset} did not continue the one before"
            ));
        }
    }

    fn note_drift(&mut self, what: String) {
        if self.drift.len() < 5 {
            self.drift.push(what);
        }
    }

    /// Apply records (a page, or looked-up candidates) to the store; `metas` are
    /// [`prepare`]d from `rows`.
    pub(super) fn apply(
        &mut self,
        store: &Store,
        rows: &[Box<RawValue>],
        metas: &[RowMeta],
        ordered: bool,
    ) -> Result<(), PageError> {
        let ids: Vec<i64> = metas.iter().map(|m| m.id).collect();
        if ordered {
            self.check_order(&ids);
        }
        let stored = self.stored(store, &ids, ordered)?;
        let mut write = PageWrite::default();
        let mut updated: Vec<(usize, i64)> = Vec::new();
        for (i, (meta, raw)) in metas.iter().zip(rows).enumerate() {
            self.stats.rows_read += 1;
            match find(&stored, meta.id) {
                Some(s) if s.hash == meta.fp => self.stats.unchanged += 1,
                Some(_) => updated.push((i, meta.id)),
                None => {
                    let head = meta.head(self.stream, raw.get())?;
                    self.stats.created += 1;
                    write.changes.push(Change::whole(
                        ChangeKind::Created,
                        Some(meta.id),
                        head.key.clone(),
                        String::new(),
                    ));
                    write.upserts.push(self.upsert(meta, &head, raw));
                }
            }
        }
        if !updated.is_empty() {
            let page = Rows { rows, metas };
            self.updates(store, page, &updated, &stored, &mut write)?;
        }
        Ok(store.write_page(self.stream.name(), self.run, &self.at, &write)?)
    }

    /// Ids must rise through a pass; one that does not is evidence the pages shifted.
    fn check_order(&mut self, ids: &[i64]) {
        for &id in ids {
            if self.last_id.is_some_and(|last| id <= last) {
                self.note_drift(format!("record {id} came back out of order or twice"));
            }
            self.last_id = Some(self.last_id.map_or(id, |l| l.max(id)));
        }
    }

    /// What the store holds for these records (and, for a whole-set pass, for every stored id
    /// between the previous page and this one, which become removal candidates when the page
    /// did not bring them back), sorted by id.
    fn stored(
        &mut self,
        store: &Store,
        ids: &[i64],
        ordered: bool,
    ) -> Result<Vec<StoredHash>, PageError> {
        let name = self.stream.name();
        let page_hi = ids.iter().copied().max();
        let mut stored: Stored = match (ordered && self.whole_set, page_hi) {
            (true, Some(hi)) if self.range_start.is_none_or(|a| hi > a) => {
                let after = self.range_start.replace(hi);
                let mut stored = store.stored_in_range(name, after, Some(hi))?;
                let mut sorted_ids = ids.to_vec();
                sorted_ids.sort_unstable();
                for s in &stored.rows {
                    if sorted_ids.binary_search(&s.id).is_err()
                        && self.expected_state.is_none_or(|st| st == s.state)
                    {
                        self.candidates.push(s.clone());
                    }
                }
                // Rows from before the range (out of order: drift) are looked up by id.
                let behind: Vec<i64> = ids
                    .iter()
                    .copied()
                    .filter(|id| after.is_some_and(|a| *id <= a))
                    .collect();
                if !behind.is_empty() {
                    let found = store.stored_for(name, &behind, false)?;
                    stored.rows.extend(found.rows);
                }
                stored
            }
            // Not a whole-set pass, or nothing new in id order (a repeated or empty page): only
            // the rows themselves. An incremental pull's rows are mostly changed ones, so their
            // stored bodies, which the diff needs, come in the same read.
            _ => store.stored_for(name, ids, !self.whole_set)?,
        };
        // Every stored `updated_at` came from the server earlier (a pull or a webhook), so it
        // may move the watermark like the rows of this page; for unchanged rows it is their own
        // `updated_at`, without parsing them. The store keeps the newest of each stream.
        if !self.newest_read {
            self.newest_read = true;
            if let Some(u) = store.newest_updated_at(name)? {
                self.saw_updated_at(&u);
            }
        }
        stored.rows.sort_unstable_by_key(|s| s.id);
        Ok(stored.rows)
    }

    /// The records whose fingerprint changed: diffed against their stored bodies, recorded as
    /// updated or closed (or, when only the bytes differ, refreshed quietly).
    fn updates(
        &mut self,
        store: &Store,
        page: Rows<'_>,
        updated: &[(usize, i64)],
        stored: &[StoredHash],
        write: &mut PageWrite,
    ) -> Result<(), PageError> {
        let missing: Vec<i64> = updated
            .iter()
            .map(|(_, id)| *id)
            .filter(|id| find(stored, *id).is_none_or(|s| s.body.is_none()))
            .collect();
        let bodies: HashMap<i64, String> = store
            .snapshot_bodies(self.stream.name(), &missing)?
            .into_iter()
            .collect();
        for &(i, id) in updated {
            let (meta, raw) = (&page.metas[i], &page.rows[i]);
            let head = meta.head(self.stream, raw.get())?;
            let held = find(stored, id);
            let old = held
                .and_then(|s| s.body.as_deref())
                .or_else(|| bodies.get(&id).map(String::as_str))
                .unwrap_or("{}");
            let diff = changed_fields(old, raw.get())?;
            let old_state = held.map(|s| s.state.as_str()).unwrap_or("");
            if diff.names.is_empty() {
                // Same content, different bytes (key order): refresh the fingerprint quietly.
                self.stats.unchanged += 1;
                write.upserts.push(self.upsert(meta, &head, raw));
                continue;
            }
            let (kind, detail) = if old_state != CLOSED && head.state == CLOSED {
                self.stats.closed += 1;
                (ChangeKind::Closed, head.status.clone().unwrap_or_default())
            } else {
                self.stats.updated += 1;
                (ChangeKind::Updated, String::new())
            };
            write
                .changes
                .push(diff.into_change(kind, id, head.key.clone(), detail));
            write.upserts.push(self.upsert(meta, &head, raw));
        }
        Ok(())
    }

    fn saw_updated_at(&mut self, u: &str) {
        if !u.is_empty() && self.max_updated.as_deref().is_none_or(|m| u > m) {
            self.max_updated = Some(u.to_string());
        }
    }

    /// The snapshot of a written record; its `updated_at` counts towards the watermark.
    fn upsert(&mut self, meta: &RowMeta, head: &HeadInfo, raw: &RawValue) -> Upsert {
        if let Some(u) = head.updated_at.as_deref() {
            self.saw_updated_at(u);
        }
        Upsert {
            id: meta.id,
            hash: meta.fp,
            updated_at: head.updated_at.clone().unwrap_or_default(),
            state: head.state.to_string(),
            body: raw.get().to_string(),
        }
    }

    /// Stored records after the last page that the pass did not reach.
    pub(super) fn finish_ranges(&mut self, store: &Store) -> Result<(), PageError> {
        if !self.whole_set {
            return Ok(());
        }
        let after = self.range_start;
        let rest = store.stored_in_range(self.stream.name(), after, None)?;
        for s in rest.rows {
            if self.expected_state.is_none_or(|st| st == s.state) {
                self.candidates.push(s);
            }
        }
        Ok(())
    }

    /// Remove records a look-up proved gone, each with its change, in one transaction.
    pub(super) fn remove(&mut self, store: &Store, gone: &[StoredHash]) -> Result<(), PageError> {
        let ids: Vec<i64> = gone.iter().map(|s| s.id).collect();
        let bodies = store.snapshot_bodies(self.stream.name(), &ids)?;
        let mut write = PageWrite::default();
        for (id, body) in bodies {
            // The key as the record's last snapshot says it (`#id` if it cannot be read).
            let key =
                HeadInfo::read(self.stream, &body).map_or_else(|_| format!("#{id}"), |h| h.key);
            self.stats.removed += 1;
            write.removals.push(id);
            write.changes.push(Change::whole(
                ChangeKind::Removed,
                Some(id),
                key,
                String::new(),
            ));
        }
        Ok(store.write_page(self.stream.name(), self.run, &self.at, &write)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_id_reads_the_usual_shape_and_declines_the_rest() {
        assert_eq!(leading_id(r#"{"id":42,"x":1}"#), Some(42));
        assert_eq!(leading_id(r#"{"id":7}"#), Some(7));
        for other in [
            r#"{"x":1,"id":42}"#,
            r#"{ "id": 42 }"#,
            r#"{"id":-3,"x":1}"#,
            r#"{"id":4.5,"x":1}"#,
            r#"{"id":"42","x":1}"#,
            r#"{"id":,"x":1}"#,
            r#"{"id":99999999999999999999,"x":1}"#,
        ] {
            assert_eq!(leading_id(other), None, "{other}");
        }
    }

    #[test]
    fn eager_and_lazy_preparation_agree() {
        let rows: Vec<Box<RawValue>> = [
            r#"{"id":3,"item_number":"A","warehouse":"ATL","updated_at":"2026-01-01T00:00:00Z"}"#,
            r#"{"warehouse":"RNO","id":9,"item_number":"B"}"#,
        ]
        .iter()
        .map(|r| RawValue::from_string(r.to_string()).unwrap())
        .collect();
        let eager = prepare(StreamKind::Inventory, &rows, true).unwrap();
        let lazy = prepare(StreamKind::Inventory, &rows, false).unwrap();
        for ((e, l), raw) in eager.iter().zip(&lazy).zip(&rows) {
            assert_eq!((e.id, e.fp), (l.id, l.fp));
            assert!(e.head.is_some() && l.head.is_none());
            let (eh, lh) = (
                e.head(StreamKind::Inventory, raw.get()).unwrap(),
                l.head(StreamKind::Inventory, raw.get()).unwrap(),
            );
            assert_eq!((&eh.key, &eh.updated_at), (&lh.key, &lh.updated_at));
        }
        assert_eq!(eager[1].id, 9);
        assert!(prepare(StreamKind::Inventory, &rows[..0], false)
            .unwrap()
            .is_empty());
        let bad = vec![RawValue::from_string(r#"{"x":1}"#.to_string()).unwrap()];
        assert!(
            prepare(StreamKind::Inventory, &bad, false).is_err(),
            "id is required"
        );
    }

    fn page(ids: &[i64]) -> (Vec<Box<RawValue>>, Vec<RowMeta>) {
        let rows: Vec<Box<RawValue>> = ids
            .iter()
            .map(|id| {
                RawValue::from_string(format!(
                    r#"{{"id":{id},"item_number":"I{id}","warehouse":"ATL","updated_at":"2026-01-01T00:00:00Z"}}"#
                ))
                .unwrap()
            })
            .collect();
        let metas = prepare(StreamKind::Inventory, &rows, false).unwrap();
        (rows, metas)
    }

    #[test]
    fn a_stored_row_coming_back_behind_the_pass_is_not_created_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let mut first = PassState::new(StreamKind::Inventory, 1, "t".into(), true, Some(""));
        let (rows, metas) = page(&[5, 10, 20]);
        first.apply(&store, &rows, &metas, true).unwrap();
        assert_eq!(first.stats.created, 3);
        // The next pass sees 10 and 20, then 5 again after them (the pages shifted).
        let mut pass = PassState::new(StreamKind::Inventory, 2, "t".into(), true, Some(""));
        let (rows, metas) = page(&[10, 20]);
        pass.apply(&store, &rows, &metas, true).unwrap();
        let (rows, metas) = page(&[5, 30]);
        pass.apply(&store, &rows, &metas, true).unwrap();
        assert_eq!((pass.stats.created, pass.stats.unchanged), (1, 3));
        assert!(
            !pass.drift.is_empty(),
            "the out-of-order row is drift evidence"
        );
    }

    #[test]
    fn unchanged_rows_still_count_towards_the_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        // Stored earlier (as a webhook would), with a newer updated_at than anything pulled.
        let raw =
            r#"{"id":8,"item_number":"I8","warehouse":"ATL","updated_at":"2026-05-05T00:00:00Z"}"#;
        let rows = vec![RawValue::from_string(raw.to_string()).unwrap()];
        let metas = prepare(StreamKind::Inventory, &rows, true).unwrap();
        let mut before = PassState::new(StreamKind::Inventory, 1, "t".into(), false, None);
        before.apply(&store, &rows, &metas, false).unwrap();
        let mut pass = PassState::new(StreamKind::Inventory, 2, "t".into(), false, None);
        let metas = prepare(StreamKind::Inventory, &rows, false).unwrap();
        pass.apply(&store, &rows, &metas, true).unwrap();
        assert_eq!(pass.stats.unchanged, 1);
        assert_eq!(pass.max_updated.as_deref(), Some("2026-05-05T00:00:00Z"));
    }
}
