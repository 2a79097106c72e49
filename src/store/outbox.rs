//! Outboxes: how far each has delivered its stream's change log, the files it wrote, and the
//! X12 control numbers used per trading partner.
//!
//! A file is recorded (`written`, with its range, name, content hash and the control numbers it
//! used) in one transaction after it was written aside and before it is renamed into place;
//! marking it `delivered` moves the cursor. A run that finds a `written` file finishes it
//! instead of writing the range again, so a crash between the rename and the commit costs
//! neither a gap nor a second file.

use rusqlite::{params, OptionalExtension, Transaction};

use super::created::Span;
use super::mirror::snapshot_table;
use super::{Change, Store, StoreError};

/// One change log entry on its way to an outbox, with the record as the mirror holds it.
#[derive(Debug, Clone)]
pub struct OutboxChange {
    pub seq: i64,
    pub run: i64,
    pub at: String,
    pub record_id: Option<i64>,
    pub key: String,
    pub change: String,
    pub fields: String,
    /// The record's stored JSON; `None` when the mirror no longer holds it (a removal).
    pub body: Option<String>,
}

/// A file an outbox wrote (or is writing), as recorded before its rename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxFile {
    pub id: i64,
    pub outbox: String,
    pub run: i64,
    pub first_seq: i64,
    pub last_seq: i64,
    pub file: String,
    pub content_hash: String,
    pub changes: i64,
    pub replay_of: Option<i64>,
    pub state: String,
}

/// The last X12 control numbers used with one trading partner (0: none yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct X12Controls {
    pub interchange: i64,
    pub transaction_set: i64,
}

/// Control numbers a file uses: what they were when it was rendered, and what they become.
#[derive(Debug, Clone)]
pub struct ControlMove {
    pub partner: String,
    pub from: X12Controls,
    pub to: X12Controls,
}

/// Everything recorded about a file before it is renamed into place.
#[derive(Debug, Clone)]
pub struct FileStart<'a> {
    pub outbox: &'a str,
    pub stream: &'a str,
    pub run: i64,
    pub first_seq: i64,
    pub last_seq: i64,
    pub file: &'a str,
    pub content_hash: &'a str,
    pub changes: i64,
    pub replay_of: Option<i64>,
    pub at: &'a str,
    pub controls: Option<ControlMove>,
    /// Changes the outbox could not carry (`change = rejected`), recorded with the file.
    pub rejections: &'a [Change],
}

/// An outbox's progress, for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxState {
    pub outbox: String,
    pub stream: String,
    pub cursor: i64,
    pub files: i64,
    pub changes: i64,
}

const CHANGE_COLUMNS: &str =
    "c.seq, c.run, c.at, c.record_id, c.key, c.change, c.fields, s.body, c.span, c.records";

/// Up to `limit` changes after `after` from `rows` (selected as `CHANGE_COLUMNS`, in
/// seq order): a packed row of created records gives one change per record after `after`,
/// each with its snapshot's JSON.
fn collect_changes(
    conn: &rusqlite::Connection,
    table: &str,
    after: i64,
    limit: usize,
    mut rows: rusqlite::Rows<'_>,
) -> rusqlite::Result<Vec<OutboxChange>> {
    let mut body = conn.prepare_cached(&format!("SELECT body FROM {table} WHERE id = ?1"))?;
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(r) = rows.next()? else { break };
        let span = Span {
            last: r.get(0)?,
            span: r.get(8)?,
            records: r.get_ref(9)?.as_blob_or_null()?,
        };
        let packed = span.each_after(after, |seq, id, key| {
            out.push(OutboxChange {
                seq,
                run: r.get(1)?,
                at: r.get(2)?,
                record_id: Some(id),
                key: key.to_string(),
                change: r.get(5)?,
                fields: String::new(),
                body: body.query_row([id], |b| b.get(0)).optional()?,
            });
            Ok(out.len() < limit)
        })?;
        if !packed {
            out.push(OutboxChange {
                seq: span.last,
                run: r.get(1)?,
                at: r.get(2)?,
                record_id: r.get(3)?,
                key: r.get(4)?,
                change: r.get(5)?,
                fields: r.get(6)?,
                body: r.get(7)?,
            });
        }
    }
    Ok(out)
}

fn file_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxFile> {
    Ok(OutboxFile {
        id: r.get(0)?,
        outbox: r.get(1)?,
        run: r.get(2)?,
        first_seq: r.get(3)?,
        last_seq: r.get(4)?,
        file: r.get(5)?,
        content_hash: r.get(6)?,
        changes: r.get(7)?,
        replay_of: r.get(8)?,
        state: r.get(9)?,
    })
}

const FILE_COLUMNS: &str =
    "id, outbox, run, first_seq, last_seq, file, content_hash, changes, replay_of, state";

/// The change kinds as the JSON array `json_each` reads.
fn kinds_json(kinds: &[&str]) -> String {
    serde_json::to_string(kinds).unwrap_or_else(|_| "[]".into())
}

impl Store {
    /// The last change seq the outbox delivered or passed over (0: none yet).
    pub fn outbox_cursor(&self, outbox: &str) -> Result<i64, StoreError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT cursor FROM outbox_cursors WHERE outbox = ?1",
                [outbox],
                |r| r.get(0),
            )
            .optional()
            .map(|c| c.unwrap_or(0))
        })
    }

    /// Up to `limit` changes of `stream` after `after` whose kind is one of `kinds`, oldest
    /// first, each with the record's stored JSON.
    pub fn outbox_changes(
        &self,
        stream: &str,
        after: i64,
        kinds: &[&str],
        limit: usize,
    ) -> Result<Vec<OutboxChange>, StoreError> {
        let table = snapshot_table(stream)?;
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {CHANGE_COLUMNS} FROM changes c
                 LEFT JOIN {table} s ON s.id = c.record_id
                 WHERE c.seq > ?1 AND c.stream = ?2
                   AND c.change IN (SELECT value FROM json_each(?3))
                 ORDER BY c.seq LIMIT ?4"
            ))?;
            let rows = stmt.query(params![after, stream, kinds_json(kinds), limit as i64])?;
            collect_changes(conn, table, after, limit, rows)
        })
    }

    /// Up to `limit` changes of `stream` after `after` that run `run` recorded, oldest first.
    pub fn outbox_changes_of_run(
        &self,
        stream: &str,
        run: i64,
        after: i64,
        kinds: &[&str],
        limit: usize,
    ) -> Result<Vec<OutboxChange>, StoreError> {
        let table = snapshot_table(stream)?;
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {CHANGE_COLUMNS} FROM changes c
                 LEFT JOIN {table} s ON s.id = c.record_id
                 WHERE c.run = ?1 AND c.seq > ?2 AND c.stream = ?3
                   AND c.change IN (SELECT value FROM json_each(?4))
                 ORDER BY c.seq LIMIT ?5"
            ))?;
            let rows = stmt.query(params![run, after, stream, kinds_json(kinds), limit as i64])?;
            collect_changes(conn, table, after, limit, rows)
        })
    }

    /// Changes of `stream` after `after` (and up to `up_to`) of the given kinds.
    pub fn outbox_pending(
        &self,
        stream: &str,
        after: i64,
        up_to: Option<i64>,
        kinds: &[&str],
    ) -> Result<u64, StoreError> {
        self.with(|conn| {
            conn.query_row(
                // A row covers the seqs (seq - span, seq]; counted is what lies in (after, up_to].
                "SELECT coalesce(sum(min(seq, ?2) - max(seq - span, ?1)), 0) FROM changes
                 WHERE seq > ?1 AND seq - span < ?2 AND stream = ?3
                   AND change IN (SELECT value FROM json_each(?4))",
                params![after, up_to.unwrap_or(i64::MAX), stream, kinds_json(kinds)],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|n| n as u64)
    }

    /// The last control numbers used with a trading partner.
    pub fn x12_controls(&self, partner: &str) -> Result<X12Controls, StoreError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT interchange, transaction_set FROM x12_controls WHERE partner = ?1",
                [partner],
                |r| {
                    Ok(X12Controls {
                        interchange: r.get(0)?,
                        transaction_set: r.get(1)?,
                    })
                },
            )
            .optional()
            .map(Option::unwrap_or_default)
        })
    }

    /// The outbox's file that was recorded but not yet marked delivered, if any.
    pub fn outbox_open_file(&self, outbox: &str) -> Result<Option<OutboxFile>, StoreError> {
        self.with(|conn| {
            conn.query_row(
                &format!(
                    "SELECT {FILE_COLUMNS} FROM outbox_files
                     WHERE outbox = ?1 AND state = 'written' ORDER BY id LIMIT 1"
                ),
                [outbox],
                file_row,
            )
            .optional()
        })
    }

    /// The files the outbox delivered in run `run` (not replays), oldest first.
    pub fn outbox_files_of_run(
        &self,
        outbox: &str,
        run: i64,
    ) -> Result<Vec<OutboxFile>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {FILE_COLUMNS} FROM outbox_files
                 WHERE outbox = ?1 AND run = ?2 AND replay_of IS NULL ORDER BY first_seq"
            ))?;
            let rows = stmt.query_map(params![outbox, run], file_row)?;
            rows.collect()
        })
    }

    /// Record a file written aside, before it is renamed into place: its range, name and hash,
    /// the control numbers it uses and the changes it rejected, in one transaction. `None` (and
    /// nothing written) when the partner's control numbers moved since the file was rendered
    /// (another outbox to the same partner ran meanwhile): render it again.
    pub fn outbox_begin_file(&self, start: &FileStart<'_>) -> Result<Option<i64>, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            if let Some(controls) = &start.controls {
                let now = tx
                    .query_row(
                        "SELECT interchange, transaction_set FROM x12_controls WHERE partner = ?1",
                        [&controls.partner],
                        |r| {
                            Ok(X12Controls {
                                interchange: r.get(0)?,
                                transaction_set: r.get(1)?,
                            })
                        },
                    )
                    .optional()?
                    .unwrap_or_default();
                if now != controls.from {
                    return Ok(None);
                }
                tx.execute(
                    "INSERT INTO x12_controls (partner, interchange, transaction_set) VALUES (?1, ?2, ?3)
                     ON CONFLICT(partner) DO UPDATE SET interchange = excluded.interchange,
                        transaction_set = excluded.transaction_set",
                    params![
                        controls.partner,
                        controls.to.interchange,
                        controls.to.transaction_set
                    ],
                )?;
            }
            tx.execute(
                "INSERT INTO outbox_files (outbox, run, first_seq, last_seq, file, content_hash,
                    changes, replay_of, state, written_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'written', ?9)",
                params![
                    start.outbox,
                    start.run,
                    start.first_seq,
                    start.last_seq,
                    start.file,
                    start.content_hash,
                    start.changes,
                    start.replay_of,
                    start.at
                ],
            )?;
            let id = tx.last_insert_rowid();
            super::mirror::write_changes(&tx, start.stream, start.run, start.at, start.rejections)?;
            tx.commit()?;
            Ok(Some(id))
        })
    }

    /// The file is in place: mark it delivered and (unless it is a replay) move the cursor
    /// past its range, in one transaction.
    pub fn outbox_deliver_file(
        &self,
        file: &OutboxFile,
        stream: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "UPDATE outbox_files SET state = 'delivered', delivered_at = ?2 WHERE id = ?1",
                params![file.id, at],
            )?;
            if file.replay_of.is_none() {
                move_cursor(&tx, &file.outbox, stream, file.last_seq, 1, file.changes)?;
            }
            tx.commit()
        })
    }

    /// Move the cursor past a range that needs no file (every change in it was rejected),
    /// recording the rejections, in one transaction.
    pub fn outbox_pass_over(
        &self,
        outbox: &str,
        stream: &str,
        last_seq: i64,
        run: i64,
        at: &str,
        rejections: &[Change],
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            super::mirror::write_changes(&tx, stream, run, at, rejections)?;
            move_cursor(&tx, outbox, stream, last_seq, 0, 0)?;
            tx.commit()
        })
    }

    /// Every outbox's progress, by name.
    pub fn outbox_states(&self) -> Result<Vec<OutboxState>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT outbox, stream, cursor, files, changes FROM outbox_cursors ORDER BY outbox",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(OutboxState {
                    outbox: r.get(0)?,
                    stream: r.get(1)?,
                    cursor: r.get(2)?,
                    files: r.get(3)?,
                    changes: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }
}

fn move_cursor(
    tx: &Transaction<'_>,
    outbox: &str,
    stream: &str,
    last_seq: i64,
    files: i64,
    changes: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO outbox_cursors (outbox, stream, cursor, files, changes) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(outbox) DO UPDATE SET stream = excluded.stream,
            cursor = max(outbox_cursors.cursor, excluded.cursor),
            files = outbox_cursors.files + excluded.files,
            changes = outbox_cursors.changes + excluded.changes",
        params![outbox, stream, last_seq, files, changes],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ChangeKind, PageWrite};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        (dir, store)
    }

    fn record(store: &Store, stream: &str, ids: std::ops::Range<i64>) {
        let page = PageWrite {
            changes: ids
                .map(|id| {
                    Change::whole(
                        ChangeKind::Created,
                        Some(id),
                        format!("K{id}"),
                        String::new(),
                    )
                })
                .collect(),
            ..PageWrite::default()
        };
        store
            .write_page(stream, 1, "2026-11-20T10:00:00Z", &page)
            .unwrap();
    }

    #[test]
    fn a_file_moves_the_cursor_only_once_delivered() {
        let (_dir, store) = store();
        record(&store, "shipments", 1..6);
        record(&store, "inventory", 1..3);
        let changes = store
            .outbox_changes("shipments", 0, &["created"], 3)
            .unwrap();
        assert_eq!(changes.iter().map(|c| c.seq).collect::<Vec<_>>(), [1, 2, 3]);
        let start = FileStart {
            outbox: "o",
            stream: "shipments",
            run: 2,
            first_seq: 1,
            last_seq: 3,
            file: "o-1-3.csv",
            content_hash: "h",
            changes: 3,
            replay_of: None,
            at: "2026-11-20T10:00:00Z",
            controls: Some(ControlMove {
                partner: "p".into(),
                from: X12Controls::default(),
                to: X12Controls {
                    interchange: 1,
                    transaction_set: 3,
                },
            }),
            rejections: &[],
        };
        store.outbox_begin_file(&start).unwrap().unwrap();
        assert_eq!(store.outbox_cursor("o").unwrap(), 0);
        // The same range cannot be recorded twice, and stale control numbers are refused.
        assert!(store.outbox_begin_file(&start).unwrap().is_none());
        let open = store.outbox_open_file("o").unwrap().unwrap();
        assert_eq!((open.first_seq, open.last_seq), (1, 3));
        store
            .outbox_deliver_file(&open, "shipments", "2026-11-20T10:00:01Z")
            .unwrap();
        assert_eq!(store.outbox_cursor("o").unwrap(), 3);
        assert!(store.outbox_open_file("o").unwrap().is_none());
        assert_eq!(
            store.x12_controls("p").unwrap(),
            X12Controls {
                interchange: 1,
                transaction_set: 3
            }
        );
        assert_eq!(
            store
                .outbox_pending("shipments", 3, None, &["created"])
                .unwrap(),
            2
        );
        let rejected = [Change {
            fields: "tracking_number".into(),
            ..Change::whole(ChangeKind::Rejected, Some(4), "K4".into(), "why".into())
        }];
        store
            .outbox_pass_over("o", "shipments", 5, 3, "2026-11-20T10:00:02Z", &rejected)
            .unwrap();
        assert_eq!(store.outbox_cursor("o").unwrap(), 5);
        // The rejection is in the change log, and is no change an outbox carries.
        assert_eq!(
            store
                .outbox_pending("shipments", 5, None, &["created"])
                .unwrap(),
            0
        );
        let mut logged = Vec::new();
        store
            .for_each_change(Some("shipments"), Some(3), None, |row| {
                logged.push((row.change, row.fields, row.key));
                Ok(())
            })
            .unwrap()
            .unwrap();
        assert_eq!(
            logged,
            [("rejected".into(), "tracking_number".into(), "K4".into())]
        );
    }
}
