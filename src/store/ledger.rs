//! The push ledger: what was sent for each source order, so each is created once, ever.
//!
//! Invariant: a row in state `sending` is committed before its `POST` goes out. A run that dies
//! between the two leaves `sending` behind, and the next run resolves it by looking the order up
//! by number, never by sending blindly again.

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub kind: String,
    pub number: String,
    pub state: String,
    pub content_hash: String,
    pub ahead_id: Option<i64>,
    pub source_file: String,
    pub source_line: i64,
}

impl Store {
    pub fn ledger_entry(
        &self,
        kind: &str,
        number: &str,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        self.with(|conn| {
            conn.prepare_cached(
                "SELECT kind, number, state, content_hash, ahead_id, source_file, source_line
                 FROM push_ledger WHERE kind = ?1 AND number = ?2",
            )?
            .query_row(params![kind, number], ledger_row)
            .optional()
        })
    }

    /// Record an order's state (insert or replace), committed at once.
    #[allow(clippy::too_many_arguments)]
    pub fn ledger_put(
        &self,
        kind: &str,
        number: &str,
        state: &str,
        content_hash: &str,
        ahead_id: Option<i64>,
        source_file: &str,
        source_line: i64,
        body: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.prepare_cached(
                "INSERT INTO push_ledger (kind, number, state, content_hash, ahead_id, source_file, source_line, body, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(kind, number) DO UPDATE SET state = excluded.state,
                    content_hash = excluded.content_hash, ahead_id = coalesce(excluded.ahead_id, push_ledger.ahead_id),
                    source_file = excluded.source_file, source_line = excluded.source_line,
                    body = excluded.body, updated_at = excluded.updated_at",
            )?
            .execute(params![kind, number, state, content_hash, ahead_id, source_file, source_line, body, now])
        })
        .map(|_| ())
    }

    /// Ledger rows of orders last seen in `source_file`.
    pub fn ledger_for_file(
        &self,
        kind: &str,
        source_file: &str,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT kind, number, state, content_hash, ahead_id, source_file, source_line
                 FROM push_ledger WHERE kind = ?1 AND source_file = ?2 ORDER BY number",
            )?;
            let rows = stmt.query_map(params![kind, source_file], ledger_row)?;
            rows.collect()
        })
    }

    /// Rejections recorded by the latest run of `job` (the ones still waiting for a fix).
    pub fn rejections_waiting(&self, job: &str) -> Result<u64, StoreError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT count(*) FROM changes WHERE change = 'rejected'
                 AND run = (SELECT max(id) FROM runs WHERE job = ?1)",
                [job],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|n| n as u64)
    }
}

fn ledger_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LedgerEntry> {
    Ok(LedgerEntry {
        kind: r.get(0)?,
        number: r.get(1)?,
        state: r.get(2)?,
        content_hash: r.get(3)?,
        ahead_id: r.get(4)?,
        source_file: r.get(5)?,
        source_line: r.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_keeps_the_ahead_id_once_known() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("l.db")).unwrap();
        store
            .ledger_put(
                "purchase_order",
                "PO-1",
                "sending",
                "h1",
                None,
                "a.csv",
                2,
                "{}",
                1,
            )
            .unwrap();
        store
            .ledger_put(
                "purchase_order",
                "PO-1",
                "sent",
                "h1",
                Some(9),
                "a.csv",
                2,
                "{}",
                2,
            )
            .unwrap();
        store
            .ledger_put(
                "purchase_order",
                "PO-1",
                "sending",
                "h2",
                None,
                "a.csv",
                2,
                "{}",
                3,
            )
            .unwrap();
        let e = store
            .ledger_entry("purchase_order", "PO-1")
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.state.as_str(), e.content_hash.as_str(), e.ahead_id),
            ("sending", "h2", Some(9))
        );
        assert_eq!(
            store
                .ledger_for_file("purchase_order", "a.csv")
                .unwrap()
                .len(),
            1
        );
    }
}
