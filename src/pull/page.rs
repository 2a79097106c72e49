//! Applying one page of records to the mirror: the diff against stored snapshots, turned into one
//! transaction of snapshot writes and change log entries. Runs on the writer thread.

use std::collections::HashMap;

use serde_json::value::RawValue;

use super::diff::{changed_fields, fingerprint, Head};
use super::streams::{StreamKind, CLOSED};
use crate::store::{Change, ChangeKind, PageWrite, RunStats, Store, StoredHash, Upsert};

/// What the diff needs of one record, read from its raw JSON. Prepared on the fetching side, so
/// parsing and hashing run beside the writer thread rather than on it.
#[derive(Debug, Clone)]
pub struct RowMeta {
    pub id: i64,
    pub updated_at: Option<String>,
    pub key: String,
    pub state: &'static str,
    pub status: Option<String>,
    pub fp: i64,
}

/// Read the head fields and fingerprint of every row.
pub fn prepare(stream: StreamKind, rows: &[Box<RawValue>]) -> Result<Vec<RowMeta>, String> {
    rows.iter()
        .map(|raw| {
            let head = Head::parse(raw.get())?;
            Ok(RowMeta {
                id: head.id,
                updated_at: head.updated_at.as_deref().map(str::to_string),
                key: stream.key(&head),
                state: stream.state(&head),
                status: head.status.as_deref().map(str::to_string),
                fp: fingerprint(raw.get()),
            })
        })
        .collect()
}

/// What the writer knows about the pass so far.
pub struct PassState {
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
    pub first_total: Option<u64>,
    /// Evidence that the pages shifted under the pass.
    pub drift: Vec<String>,
    pub stats: RunStats,
}

impl PassState {
    pub fn new(
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
            first_total: None,
            drift: Vec::new(),
            stats: RunStats::default(),
        }
    }

    /// Start another pass over the same set (after drift): counters and the newest
    /// `updated_at` carry over, the evidence and candidates do not.
    pub fn next_pass(&mut self) {
        self.last_id = None;
        self.range_start = None;
        self.candidates.clear();
        self.first_total = None;
        self.drift.clear();
    }

    /// Judge a page's consistency with the pages before it (drift evidence only; the rows are
    /// applied regardless, since applying a row twice is harmless).
    pub fn observe(&mut self, total: u64, shifted: bool, offset: u64) {
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
    pub fn apply(
        &mut self,
        store: &Store,
        rows: &[Box<RawValue>],
        metas: &[RowMeta],
        ordered: bool,
    ) -> Result<(), String> {
        let ids: Vec<i64> = metas.iter().map(|m| m.id).collect();
        let page_hi = ids.iter().copied().max();
        if ordered {
            for &id in &ids {
                if self.last_id.is_some_and(|last| id <= last) {
                    self.note_drift(format!("record {id} came back out of order or twice"));
                }
                self.last_id = Some(self.last_id.map_or(id, |l| l.max(id)));
            }
        }
        // What the store holds for these records (and, for a whole-set pass, for every stored
        // id between the previous page and this one).
        let stored: Vec<StoredHash> = if ordered && self.whole_set {
            let after = self.range_start;
            match page_hi {
                Some(hi) if after.is_none_or(|a| hi > a) => {
                    self.range_start = Some(hi);
                    store
                        .stored_in_range(self.stream.name(), after, Some(hi))
                        .map_err(|e| e.to_string())?
                }
                // Nothing new in id order (a repeated or empty page): only the rows themselves.
                _ => store
                    .stored_for(self.stream.name(), &ids)
                    .map_err(|e| e.to_string())?,
            }
        } else {
            store
                .stored_for(self.stream.name(), &ids)
                .map_err(|e| e.to_string())?
        };
        let mut by_id: HashMap<i64, &StoredHash> = HashMap::with_capacity(stored.len());
        for s in &stored {
            by_id.insert(s.id, s);
        }
        if ordered && self.whole_set {
            let seen: std::collections::HashSet<i64> = ids.iter().copied().collect();
            for s in &stored {
                if !seen.contains(&s.id) && self.expected_state.is_none_or(|st| st == s.state) {
                    self.candidates.push(s.clone());
                }
            }
        }
        let mut write = PageWrite::default();
        let mut updated: Vec<(usize, i64)> = Vec::new();
        for (i, (meta, raw)) in metas.iter().zip(rows).enumerate() {
            self.stats.rows_read += 1;
            if let Some(u) = meta.updated_at.as_deref() {
                if self.max_updated.as_deref().is_none_or(|m| u > m) {
                    self.max_updated = Some(u.to_string());
                }
            }
            match by_id.get(&meta.id) {
                Some(s) if s.hash == meta.fp => self.stats.unchanged += 1,
                Some(_) => updated.push((i, meta.id)),
                None => {
                    self.stats.created += 1;
                    write.changes.push(Change::whole(
                        ChangeKind::Created,
                        Some(meta.id),
                        meta.key.clone(),
                        String::new(),
                    ));
                    write.upserts.push(upsert(meta, raw));
                }
            }
        }
        if !updated.is_empty() {
            let update_ids: Vec<i64> = updated.iter().map(|(_, id)| *id).collect();
            let bodies: HashMap<i64, String> = store
                .snapshot_bodies(self.stream.name(), &update_ids)
                .map_err(|e| e.to_string())?
                .into_iter()
                .collect();
            for (i, id) in updated {
                let (meta, raw) = (&metas[i], &rows[i]);
                let old = bodies.get(&id).map(String::as_str).unwrap_or("{}");
                let diff = changed_fields(old, raw.get())?;
                let old_state = by_id.get(&id).map(|s| s.state.as_str()).unwrap_or("");
                if diff.names.is_empty() {
                    // Same content, different bytes (key order): refresh the fingerprint quietly.
                    self.stats.unchanged += 1;
                    write.upserts.push(upsert(meta, raw));
                    continue;
                }
                let (kind, detail) = if old_state != CLOSED && meta.state == CLOSED {
                    self.stats.closed += 1;
                    (ChangeKind::Closed, meta.status.clone().unwrap_or_default())
                } else {
                    self.stats.updated += 1;
                    (ChangeKind::Updated, String::new())
                };
                write
                    .changes
                    .push(diff.into_change(kind, id, meta.key.clone(), detail));
                write.upserts.push(upsert(meta, raw));
            }
        }
        store
            .write_page(self.stream.name(), self.run, &self.at, &write)
            .map_err(|e| e.to_string())
    }

    /// Stored records after the last page that the pass did not reach.
    pub fn finish_ranges(&mut self, store: &Store) -> Result<(), String> {
        if !self.whole_set {
            return Ok(());
        }
        let after = self.range_start;
        let rest = store
            .stored_in_range(self.stream.name(), after, None)
            .map_err(|e| e.to_string())?;
        for s in rest {
            if self.expected_state.is_none_or(|st| st == s.state) {
                self.candidates.push(s);
            }
        }
        Ok(())
    }

    /// Remove records a look-up proved gone, each with its change, in one transaction.
    pub fn remove(&mut self, store: &Store, gone: &[StoredHash]) -> Result<(), String> {
        let mut write = PageWrite::default();
        for s in gone {
            self.stats.removed += 1;
            write.removals.push(s.id);
            write.changes.push(Change::whole(
                ChangeKind::Removed,
                Some(s.id),
                s.key.clone(),
                String::new(),
            ));
        }
        store
            .write_page(self.stream.name(), self.run, &self.at, &write)
            .map_err(|e| e.to_string())
    }
}

fn upsert(meta: &RowMeta, raw: &RawValue) -> Upsert {
    Upsert {
        id: meta.id,
        key: meta.key.clone(),
        hash: meta.fp,
        updated_at: meta.updated_at.clone().unwrap_or_default(),
        state: meta.state.to_string(),
        body: raw.get().to_string(),
    }
}
