//! The push ledger: what was sent for each source order, so each is created once, ever.
//!
//! Invariant: a row in state `sending` is committed before its `POST` goes out. A run that dies
//! between the two leaves `sending` behind, and the next run resolves it by looking the order up
//! by number, never by sending blindly again.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};

/// Where an order stands with AHEAD. A string only in the store's `state` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerState {
    /// Committed before its POST goes out; a row left here is resolved by looking it up.
    Sending,
    /// AHEAD has it, with the content whose hash the row keeps.
    Sent,
    /// AHEAD refused it (400/422); a later push sends it again.
    Rejected,
    /// Deleted in AHEAD because its file no longer holds it.
    Cancelled,
}

impl LedgerState {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerState::Sending => "sending",
            LedgerState::Sent => "sent",
            LedgerState::Rejected => "rejected",
            LedgerState::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Option<LedgerState> {
        [
            LedgerState::Sending,
            LedgerState::Sent,
            LedgerState::Rejected,
            LedgerState::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

impl ToSql for LedgerState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for LedgerState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        LedgerState::parse(text).ok_or_else(|| {
            FromSqlError::Other(format!("unknown push ledger state {text:?}").into())
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub kind: String,
    pub number: String,
    pub state: LedgerState,
    pub content_hash: String,
    pub ahead_id: Option<i64>,
    pub source_file: String,
    pub source_line: i64,
}

/// One ledger row to write.
#[derive(Debug, Clone)]
pub struct LedgerWrite {
    pub kind: String,
    pub number: String,
    pub state: LedgerState,
    pub content_hash: String,
    pub ahead_id: Option<i64>,
    pub source_file: String,
    pub source_line: i64,
    /// What was (or is being) sent.
    pub body: String,
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

    /// The ledger rows of `numbers`, by number, in one query per 500.
    pub(crate) fn ledger_entries(
        &self,
        kind: &str,
        numbers: &[String],
    ) -> Result<std::collections::HashMap<String, LedgerEntry>, StoreError> {
        let mut out = std::collections::HashMap::with_capacity(numbers.len());
        for chunk in numbers.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT kind, number, state, content_hash, ahead_id, source_file, source_line
                 FROM push_ledger WHERE kind = ? AND number IN ({marks})"
            );
            let rows: Vec<LedgerEntry> = self.with(|conn| {
                let mut stmt = conn.prepare_cached(&sql)?;
                let params = std::iter::once(kind).chain(chunk.iter().map(String::as_str));
                let rows = stmt.query_map(rusqlite::params_from_iter(params), ledger_row)?;
                rows.collect()
            })?;
            out.extend(rows.into_iter().map(|e| (e.number.clone(), e)));
        }
        Ok(out)
    }

    /// Record an order's state (insert or replace), committed at once.
    pub fn ledger_put(&self, write: &LedgerWrite, now: i64) -> Result<(), StoreError> {
        self.ledger_put_many(std::slice::from_ref(write), now)
    }

    /// Record several orders' states in one transaction.
    pub(crate) fn ledger_put_many(
        &self,
        writes: &[LedgerWrite],
        now: i64,
    ) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.with(|conn| {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO push_ledger (kind, number, state, content_hash, ahead_id, source_file, source_line, body, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT(kind, number) DO UPDATE SET state = excluded.state,
                        content_hash = excluded.content_hash, ahead_id = coalesce(excluded.ahead_id, push_ledger.ahead_id),
                        source_file = excluded.source_file, source_line = excluded.source_line,
                        body = excluded.body, updated_at = excluded.updated_at",
                )?;
                for w in writes {
                    stmt.execute(params![
                        w.kind,
                        w.number,
                        w.state,
                        w.content_hash,
                        w.ahead_id,
                        w.source_file,
                        w.source_line,
                        w.body,
                        now
                    ])?;
                }
            }
            tx.commit()
        })
    }

    /// Change only the state of an order's row (e.g. `cancelled`), keeping what was sent.
    pub(crate) fn ledger_set_state(
        &self,
        kind: &str,
        number: &str,
        state: LedgerState,
        now: i64,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            conn.execute(
                "UPDATE push_ledger SET state = ?3, updated_at = ?4 WHERE kind = ?1 AND number = ?2",
                params![kind, number, state, now],
            )
        })
        .map(|_| ())
    }

    /// Up to `limit` entries that came from `source_file`, in order of number, after `after`
    /// (from the first when `None`): a file's entries are read a page at a time, however many
    /// orders it held. The index on (kind, source_file) holds the number too, so a page is one
    /// range of it.
    pub(crate) fn ledger_for_file(
        &self,
        kind: &str,
        source_file: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT kind, number, state, content_hash, ahead_id, source_file, source_line
                 FROM push_ledger WHERE kind = ?1 AND source_file = ?2 AND number > ?3
                 ORDER BY number LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![kind, source_file, after.unwrap_or(""), limit as i64],
                ledger_row,
            )?;
            rows.collect()
        })
    }

    /// Rejections recorded by the latest run of `job` (the ones still waiting for a fix).
    pub(crate) fn rejections_waiting(&self, job: &str) -> Result<u64, StoreError> {
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
        let w = |state: LedgerState, hash: &str, id: Option<i64>| LedgerWrite {
            kind: "purchase_order".into(),
            number: "PO-1".into(),
            state,
            content_hash: hash.into(),
            ahead_id: id,
            source_file: "a.csv".into(),
            source_line: 2,
            body: "{}".into(),
        };
        store
            .ledger_put(&w(LedgerState::Sending, "h1", None), 1)
            .unwrap();
        store
            .ledger_put_many(&[w(LedgerState::Sent, "h1", Some(9))], 2)
            .unwrap();
        store
            .ledger_put(&w(LedgerState::Sending, "h2", None), 3)
            .unwrap();
        let found = store
            .ledger_entries("purchase_order", &["PO-1".into(), "PO-2".into()])
            .unwrap();
        assert_eq!(found.len(), 1);
        let e = store
            .ledger_entry("purchase_order", "PO-1")
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.state, e.content_hash.as_str(), e.ahead_id),
            (LedgerState::Sending, "h2", Some(9))
        );
        assert_eq!(
            store
                .ledger_for_file("purchase_order", "a.csv", None, 10)
                .unwrap()
                .len(),
            1
        );
        assert!(store
            .ledger_for_file("purchase_order", "a.csv", Some("PO-1"), 10)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_files_entries_come_a_page_at_a_time_in_order_of_number() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("l.db")).unwrap();
        let write = |number: &str, file: &str| LedgerWrite {
            kind: "purchase_order".into(),
            number: number.into(),
            state: LedgerState::Sent,
            content_hash: "h".into(),
            ahead_id: Some(1),
            source_file: file.into(),
            source_line: 2,
            body: "{}".into(),
        };
        let writes: Vec<LedgerWrite> = ["PO-5", "PO-1", "PO-4", "PO-2", "PO-3"]
            .iter()
            .map(|n| write(n, "a.csv"))
            .chain([write("PO-0", "b.csv")])
            .collect();
        store.ledger_put_many(&writes, 1).unwrap();
        let mut read = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store
                .ledger_for_file("purchase_order", "a.csv", after.as_deref(), 2)
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.number.clone());
            read.extend(page.into_iter().map(|e| e.number));
        }
        assert_eq!(read, ["PO-1", "PO-2", "PO-3", "PO-4", "PO-5"]);
    }
}
