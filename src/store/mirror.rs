//! The mirror of AHEAD's records: snapshots (one per stream and id), the change log and the
//! watermarks. A page of a pull is written by [`Store::write_page`] in one transaction, so
//! snapshots, their changes and (on the last page) the watermark commit together or not at all.

use rusqlite::{params, params_from_iter, OptionalExtension};

use super::created::{self, Span};
use super::{Store, StoreError};

/// What the store holds for one record, enough to decide whether it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHash {
    pub id: i64,
    pub hash: i64,
    /// The stored JSON, when it was asked for.
    pub body: Option<String>,
    pub state: String,
}

/// A snapshot to insert or replace.
#[derive(Debug, Clone)]
pub struct Upsert {
    pub id: i64,
    pub hash: i64,
    /// The record's `updated_at` ('' if it has none): not stored in the row (the body holds
    /// it), but the stream's newest is kept (`Store::newest_updated_at`).
    pub updated_at: String,
    pub state: String,
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Removed,
    Closed,
    Rejected,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Removed => "removed",
            ChangeKind::Closed => "closed",
            ChangeKind::Rejected => "rejected",
        }
    }
}

/// One entry of the change log.
#[derive(Debug, Clone)]
pub struct Change {
    pub record_id: Option<i64>,
    pub key: String,
    pub kind: ChangeKind,
    /// Changed field names, `;`-separated.
    pub fields: String,
    /// JSON object of the changed fields' old values (updates only).
    pub before: Option<String>,
    /// JSON object of the changed fields' new values (updates only).
    pub after: Option<String>,
    pub detail: String,
}

impl Change {
    /// The record's id when this change can share a packed row with the created records
    /// around it (a creation that says nothing more).
    fn packable(&self) -> Option<i64> {
        let bare = self.kind == ChangeKind::Created
            && self.fields.is_empty()
            && self.before.is_none()
            && self.after.is_none()
            && self.detail.is_empty();
        self.record_id.filter(|_| bare)
    }

    /// A change that names no fields (created, removed, rejected).
    pub fn whole(kind: ChangeKind, record_id: Option<i64>, key: String, detail: String) -> Change {
        Change {
            record_id,
            key,
            kind,
            fields: String::new(),
            before: None,
            after: None,
            detail,
        }
    }
}

/// Where a stream's watermark moves with the page that carries it.
#[derive(Debug, Clone)]
pub struct WatermarkMove {
    /// The newest `updated_at` seen; the stored value only ever moves forward.
    pub updated_at: String,
    /// A full pass (resets the count of incremental pulls since the last full one).
    pub full: bool,
}

/// Everything one page of a pull writes, committed together.
#[derive(Debug, Default)]
pub struct PageWrite {
    pub upserts: Vec<Upsert>,
    pub removals: Vec<i64>,
    pub changes: Vec<Change>,
    pub watermark: Option<WatermarkMove>,
}

impl PageWrite {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty()
            && self.removals.is_empty()
            && self.changes.is_empty()
            && self.watermark.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    pub updated_at: String,
    pub incrementals: i64,
    pub last_full_run: Option<i64>,
}

/// A change log row for `export changes` and tests.
#[derive(Debug, Clone)]
pub struct ExportRow {
    pub seq: i64,
    pub run: i64,
    pub at: String,
    pub stream: String,
    pub record_id: Option<i64>,
    pub key: String,
    pub change: String,
    pub fields: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub detail: String,
}

/// Insert or replace a page's snapshots, delete its removals, and keep the stream's newest
/// `updated_at`.
fn write_snapshots(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    stream: &str,
    page: &PageWrite,
) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(&format!(
        "INSERT INTO {table} (id, hash, state, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(id) DO UPDATE SET hash = excluded.hash, state = excluded.state,
            body = excluded.body"
    ))?;
    for u in &page.upserts {
        upsert.execute(params![u.id, u.hash, u.state, u.body])?;
    }
    let mut remove = tx.prepare_cached(&format!("DELETE FROM {table} WHERE id = ?1"))?;
    for id in &page.removals {
        remove.execute([id])?;
    }
    let newest = page.upserts.iter().map(|u| u.updated_at.as_str()).max();
    if let Some(newest) = newest.filter(|u| !u.is_empty()) {
        tx.prepare_cached(
            "INSERT INTO stream_newest (stream, updated_at) VALUES (?1, ?2)
             ON CONFLICT(stream) DO UPDATE SET updated_at = excluded.updated_at
             WHERE excluded.updated_at > stream_newest.updated_at",
        )?
        .execute(params![stream, newest])?;
    }
    Ok(())
}

/// Append `changes` to the log in order; each run of two or more bare creations becomes one
/// packed row covering as many seqs (`created`).
pub(super) fn write_changes(
    tx: &rusqlite::Transaction<'_>,
    stream: &str,
    run: i64,
    at: &str,
    changes: &[Change],
) -> rusqlite::Result<()> {
    let mut one = tx.prepare_cached(
        "INSERT INTO changes (run, at, stream, record_id, key, change, fields, before, after, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    // Its seq is the last it covers, so SQLite goes on numbering after it (and pruning, which
    // keeps the newest row, never lets a seq be handed out twice).
    let mut packed = tx.prepare_cached(
        "INSERT INTO changes (seq, run, at, stream, key, change, span, records)
         VALUES ((SELECT coalesce(max(seq), 0) FROM changes) + ?1, ?2, ?3, ?4, '', 'created', ?1, ?5)",
    )?;
    let mut rest = changes;
    while let Some(c) = rest.first() {
        let bare = rest.iter().take_while(|c| c.packable().is_some()).count();
        if bare >= 2 {
            let records = created::pack(
                rest[..bare]
                    .iter()
                    .filter_map(|c| Some((c.packable()?, c.key.as_str()))),
            );
            packed.execute(params![bare as i64, run, at, stream, records])?;
            rest = &rest[bare..];
            continue;
        }
        one.execute(params![
            run,
            at,
            stream,
            c.record_id,
            c.key,
            c.kind.as_str(),
            c.fields,
            c.before,
            c.after,
            c.detail
        ])?;
        rest = &rest[1..];
    }
    Ok(())
}

/// Stored records read for a page.
#[derive(Debug, Default)]
pub struct Stored {
    pub rows: Vec<StoredHash>,
}

impl Stored {
    fn read(&mut self, mut rows: rusqlite::Rows<'_>) -> rusqlite::Result<()> {
        while let Some(r) = rows.next()? {
            self.rows.push(StoredHash {
                id: r.get(0)?,
                hash: r.get(1)?,
                state: r.get(2)?,
                body: r.get(3)?,
            });
        }
        Ok(())
    }
}

/// The table holding a stream's snapshots. Each stream has its own, keyed by AHEAD's id alone:
/// a rowid table, so a first pull's records (in id order) are appended to full pages, and a
/// row holds only the fingerprint, the state and the body (the key is in the change log and
/// the body, `updated_at` in the body).
pub(super) fn snapshot_table(stream: &str) -> Result<&'static str, StoreError> {
    use crate::kinds::StreamKind;
    Ok(match StreamKind::from_name(stream) {
        Some(StreamKind::Inventory) => "snapshots_inventory",
        Some(StreamKind::Invoices) => "snapshots_invoices",
        Some(StreamKind::Shipments) => "snapshots_shipments",
        Some(StreamKind::PurchaseOrders) => "snapshots_purchase_orders",
        Some(StreamKind::FulfillmentOrders) => "snapshots_fulfillment_orders",
        None => return Err(StoreError::UnknownStream(stream.to_string())),
    })
}

impl Store {
    /// Stored records of `stream` with ids in `(after, up_to]` (either bound open when `None`).
    pub(crate) fn stored_in_range(
        &self,
        stream: &str,
        after: Option<i64>,
        up_to: Option<i64>,
    ) -> Result<Stored, StoreError> {
        let table = snapshot_table(stream)?;
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT id, hash, state, NULL FROM {table} WHERE id > ?1 AND id <= ?2 ORDER BY id"
            ))?;
            let mut out = Stored::default();
            let rows = stmt.query(params![
                after.unwrap_or(i64::MIN),
                up_to.unwrap_or(i64::MAX)
            ])?;
            out.read(rows)?;
            Ok(out)
        })
    }

    /// Stored records of `stream` among `ids`, `with_bodies` or without.
    pub fn stored_for(
        &self,
        stream: &str,
        ids: &[i64],
        with_bodies: bool,
    ) -> Result<Stored, StoreError> {
        let table = snapshot_table(stream)?;
        let mut out = Stored::default();
        let body = if with_bodies { "body" } else { "NULL" };
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!("SELECT id, hash, state, {body} FROM {table} WHERE id IN ({marks})");
            self.with(|conn| {
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query(params_from_iter(chunk))?;
                out.read(rows)
            })?;
        }
        Ok(out)
    }

    /// The stored JSON of the given records (to name the fields an update changed, or the
    /// key of a removed record); absent ones left out.
    pub(crate) fn snapshot_bodies(
        &self,
        stream: &str,
        ids: &[i64],
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let table = snapshot_table(stream)?;
        self.with(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT body FROM {table} WHERE id = ?1"))?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(value) = stmt.query_row([id], |r| r.get(0)).optional()? {
                    out.push((*id, value));
                }
            }
            Ok(out)
        })
    }

    /// Write one page: snapshots, removals, changes and the watermark, in one transaction.
    pub fn write_page(
        &self,
        stream: &str,
        run: i64,
        at: &str,
        page: &PageWrite,
    ) -> Result<(), StoreError> {
        if page.is_empty() {
            return Ok(());
        }
        let table = if page.upserts.is_empty() && page.removals.is_empty() {
            None
        } else {
            Some(snapshot_table(stream)?)
        };
        self.with(|conn| {
            let tx = conn.transaction()?;
            {
                if let Some(table) = table {
                    write_snapshots(&tx, table, stream, page)?;
                }
                write_changes(&tx, stream, run, at, &page.changes)?;
                if let Some(w) = &page.watermark {
                    // Written only if it changes: a pull that found nothing new writes no row.
                    tx.prepare_cached(
                        "INSERT INTO watermarks (stream, updated_at, incrementals)
                         VALUES (?1, ?2, CASE WHEN ?3 THEN 0 ELSE 1 END)
                         ON CONFLICT(stream) DO UPDATE SET
                            updated_at = max(watermarks.updated_at, excluded.updated_at),
                            incrementals = CASE WHEN ?3 THEN 0 ELSE watermarks.incrementals + 1 END
                         WHERE excluded.updated_at > watermarks.updated_at
                            OR NOT ?3 OR watermarks.incrementals <> 0",
                    )?
                    .execute(params![stream, w.updated_at, w.full])?;
                }
            }
            tx.commit()
        })
    }

    /// The watermark of a stream, if a pull committed one.
    pub fn watermark(&self, stream: &str) -> Result<Option<Watermark>, StoreError> {
        self.with(|conn| {
            conn.query_row(
                // The last full pull is in the run history (files written before it was have it
                // in the watermark row).
                "SELECT updated_at, incrementals,
                        nullif(max(coalesce(last_full_run, 0), coalesce(
                            (SELECT max(id) FROM runs
                             WHERE job = 'pull ' || ?1 AND json_extract(stats, '$.full')), 0)), 0)
                 FROM watermarks WHERE stream = ?1",
                [stream],
                |r| {
                    Ok(Watermark {
                        updated_at: r.get(0)?,
                        incrementals: r.get(1)?,
                        last_full_run: r.get(2)?,
                    })
                },
            )
            .optional()
        })
    }

    /// The newest `updated_at` of any snapshot of the stream ever written (by a pull or a
    /// webhook). A pass counts it towards the watermark as it counts its own rows': every value
    /// here came from AHEAD, so the records it stands for were read (or delivered) already.
    pub(crate) fn newest_updated_at(&self, stream: &str) -> Result<Option<String>, StoreError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT updated_at FROM stream_newest WHERE stream = ?1",
                [stream],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Whether the store holds any snapshot of a stream.
    pub(crate) fn has_snapshots(&self, stream: &str) -> Result<bool, StoreError> {
        let table = snapshot_table(stream)?;
        self.with(|conn| {
            conn.query_row(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), [], |r| {
                r.get(0)
            })
        })
    }

    /// Number of snapshots of a stream.
    pub fn snapshot_count(&self, stream: &str) -> Result<u64, StoreError> {
        let table = snapshot_table(stream)?;
        self.with(|conn| {
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .map(|n| n as u64)
    }

    /// Visit every snapshot body of a stream in id order, without loading them all. The first
    /// error `f` returns stops the visit and comes back as it was (the inner result), so a
    /// caller can still tell what it was (a closed output pipe, say).
    pub fn for_each_snapshot(
        &self,
        stream: &str,
        mut f: impl FnMut(i64, &str, &str) -> anyhow::Result<()>,
    ) -> Result<anyhow::Result<()>, StoreError> {
        let table = snapshot_table(stream)?;
        self.with(|conn| {
            let mut stmt =
                conn.prepare(&format!("SELECT id, state, body FROM {table} ORDER BY id"))?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                let state: String = row.get(1)?;
                let body: String = row.get(2)?;
                if let Err(e) = f(id, &state, &body) {
                    return Ok(Err(e));
                }
            }
            Ok(Ok(()))
        })
    }

    /// Visit change log rows, oldest first, filtered by stream, run or time; `f`'s first error
    /// stops the visit and comes back as it was.
    pub fn for_each_change(
        &self,
        stream: Option<&str>,
        run: Option<i64>,
        since: Option<&str>,
        mut f: impl FnMut(ExportRow) -> anyhow::Result<()>,
    ) -> Result<anyhow::Result<()>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT seq, run, at, stream, record_id, key, change, fields, before, after, detail,
                        span, records FROM changes
                 WHERE (?1 IS NULL OR stream = ?1) AND (?2 IS NULL OR run = ?2) AND (?3 IS NULL OR at >= ?3)
                 ORDER BY seq",
            )?;
            let mut rows = stmt.query(params![stream, run, since])?;
            let mut failed = None;
            while let Some(r) = rows.next()? {
                let span = Span {
                    last: r.get(0)?,
                    span: r.get(11)?,
                    records: r.get_ref(12)?.as_blob_or_null()?,
                };
                let packed = span.each_after(i64::MIN, |seq, id, key| {
                    let row = ExportRow {
                        seq,
                        run: r.get(1)?,
                        at: r.get(2)?,
                        stream: r.get(3)?,
                        record_id: Some(id),
                        key: key.to_string(),
                        change: ChangeKind::Created.as_str().to_string(),
                        fields: String::new(),
                        before: None,
                        after: None,
                        detail: String::new(),
                    };
                    failed = f(row).err();
                    Ok(failed.is_none())
                })?;
                if let Some(e) = failed {
                    return Ok(Err(e));
                }
                if packed {
                    continue;
                }
                let row = ExportRow {
                    seq: r.get(0)?,
                    run: r.get(1)?,
                    at: r.get(2)?,
                    stream: r.get(3)?,
                    record_id: r.get(4)?,
                    key: r.get(5)?,
                    change: r.get(6)?,
                    fields: r.get(7)?,
                    before: r.get(8)?,
                    after: r.get(9)?,
                    detail: r.get(10)?,
                };
                if let Err(e) = f(row) {
                    return Ok(Err(e));
                }
            }
            Ok(Ok(()))
        })
    }

    /// SQLite's count of rows changed by this connection since it opened: benchmarks and tests
    /// use it to prove a no-change pull writes nothing.
    pub fn total_changes(&self) -> u64 {
        self.conn().total_changes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(id: i64) -> Change {
        Change::whole(
            ChangeKind::Created,
            Some(id),
            format!("K{id}"),
            String::new(),
        )
    }

    /// Runs 4 and 5: three creations, an update, a creation with a detail, two creations;
    /// then a lone creation.
    fn mixed_log() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let updated = Change {
            fields: "qty".into(),
            before: Some(r#"{"qty":1}"#.into()),
            after: Some(r#"{"qty":2}"#.into()),
            ..Change::whole(ChangeKind::Updated, Some(9), "K9".into(), String::new())
        };
        // A creation with a detail keeps a row of its own, and so does a lone one.
        let noted = Change::whole(ChangeKind::Created, Some(7), "K7".into(), "webhook".into());
        let page = PageWrite {
            changes: vec![
                created(3),
                created(1),
                created(2),
                updated,
                noted,
                created(20),
                created(21),
            ],
            ..PageWrite::default()
        };
        store
            .write_page("inventory", 4, "2026-12-01T00:00:00Z", &page)
            .unwrap();
        let lone = PageWrite {
            changes: vec![created(30)],
            ..PageWrite::default()
        };
        store
            .write_page("inventory", 5, "2026-12-01T01:00:00Z", &lone)
            .unwrap();
        (dir, store)
    }

    #[test]
    fn created_records_share_rows_and_read_back_one_by_one_in_order() {
        let (_dir, store) = mixed_log();
        let rows: i64 = store
            .with(|c| c.query_row("SELECT count(*) FROM changes", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(
            rows, 5,
            "two packed rows, the update, the noted creation, the lone one"
        );

        let mut listed = Vec::new();
        store
            .for_each_change(Some("inventory"), None, None, |r| {
                listed.push((r.seq, r.run, r.record_id, r.key, r.change, r.detail));
                Ok(())
            })
            .unwrap()
            .unwrap();
        let want = |seq, run, id: i64, change: &str, detail: &str| {
            (
                seq,
                run,
                Some(id),
                format!("K{id}"),
                change.to_string(),
                detail.to_string(),
            )
        };
        assert_eq!(
            listed,
            [
                want(1, 4, 3, "created", ""),
                want(2, 4, 1, "created", ""),
                want(3, 4, 2, "created", ""),
                want(4, 4, 9, "updated", ""),
                want(5, 4, 7, "created", "webhook"),
                want(6, 4, 20, "created", ""),
                want(7, 4, 21, "created", ""),
                want(8, 5, 30, "created", ""),
            ]
        );
        // Filtered by run, the packed rows come whole or not at all.
        let mut of_run = 0;
        store
            .for_each_change(None, Some(5), None, |_| {
                of_run += 1;
                Ok(())
            })
            .unwrap()
            .unwrap();
        assert_eq!(of_run, 1);
        // The visitor's error stops the visit mid-row and comes back as it was.
        let mut seen = 0;
        let stopped = store
            .for_each_change(None, None, None, |_| {
                seen += 1;
                anyhow::ensure!(seen < 2, "enough");
                Ok(())
            })
            .unwrap();
        assert_eq!(stopped.unwrap_err().to_string(), "enough");
        assert_eq!(seen, 2);
    }

    #[test]
    fn outboxes_read_from_inside_a_packed_row_and_seqs_go_on_after_it() {
        let (_dir, store) = mixed_log();
        let kinds = ["created", "updated"];
        let from_two: Vec<i64> = store
            .outbox_changes("inventory", 1, &kinds, 3)
            .unwrap()
            .iter()
            .map(|c| c.seq)
            .collect();
        assert_eq!(from_two, [2, 3, 4]);
        assert_eq!(
            store.outbox_pending("inventory", 1, None, &kinds).unwrap(),
            7
        );
        assert_eq!(
            store
                .outbox_pending("inventory", 2, Some(6), &kinds)
                .unwrap(),
            4
        );
        assert_eq!(
            store
                .outbox_pending("inventory", 0, None, &["updated"])
                .unwrap(),
            1
        );
        // The next ordinary row is numbered after every seq a packed row covers.
        let later = PageWrite {
            changes: vec![Change::whole(
                ChangeKind::Removed,
                Some(1),
                "K1".into(),
                String::new(),
            )],
            ..PageWrite::default()
        };
        store
            .write_page("inventory", 6, "2026-12-01T02:00:00Z", &later)
            .unwrap();
        let last: i64 = store
            .with(|c| c.query_row("SELECT max(seq) FROM changes", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(last, 9);
    }
}
