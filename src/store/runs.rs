//! Run history: one row per job run, with what it did.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// What a run did; stored as JSON so later jobs can add counters without a migration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunStats {
    pub rows_read: u64,
    pub created: u64,
    pub updated: u64,
    pub removed: u64,
    pub closed: u64,
    pub rejected: u64,
    pub unchanged: u64,
    pub pages: u64,
    pub requests: u64,
    pub retries: u64,
    pub token_refreshes: u64,
    /// Passes re-read because the pages shifted under the pull.
    pub drift_rechecks: u64,
    /// Rows the job inserted, updated or deleted in the store (SQLite's change counter).
    pub rows_written: u64,
    /// A pull that read its stream's whole set (which is how removals are seen).
    pub full: bool,
    /// Of the retries, answers 429 (rate limited).
    pub rate_limited: u64,
    /// Outboxes: files written into the outbox folder.
    #[serde(skip_serializing_if = "is_zero")]
    pub files_written: u64,
    /// Outboxes: changes those files carry.
    #[serde(skip_serializing_if = "is_zero")]
    pub changes_delivered: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The runs of one job with one outcome in the history, and what they did in sum: what
/// `/metrics` serves, read from the store so that every process's runs count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunTotals {
    pub job: String,
    /// `ok`, `rejected`, `failed`, ... or `running` for a run not ended (or interrupted).
    pub outcome: String,
    pub runs: u64,
    pub rows_read: u64,
    pub created: u64,
    pub updated: u64,
    pub removed: u64,
    pub closed: u64,
    pub rejected: u64,
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    /// Outboxes: files delivered, and the changes they carry.
    pub files_written: u64,
    pub changes_delivered: u64,
}

#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: i64,
    pub job: String,
    pub args: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub outcome: Option<String>,
    pub stats: RunStats,
    /// The first line of the error that ended the run, when it failed.
    pub error: Option<String>,
}

impl Store {
    /// Every stream's watermark with its snapshot count, for `status`.
    pub(crate) fn stream_states(
        &self,
    ) -> Result<Vec<(String, Option<super::Watermark>, u64)>, StoreError> {
        let mut streams: Vec<String> = self.with(|conn| {
            let mut stmt = conn.prepare("SELECT stream FROM watermarks")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })?;
        for stream in crate::kinds::StreamKind::ALL {
            let name = stream.name();
            if !streams.iter().any(|s| s == name) && self.has_snapshots(name)? {
                streams.push(name.to_string());
            }
        }
        streams.sort();
        let mut out = Vec::new();
        for s in streams {
            let wm = self.watermark(&s)?;
            let n = self.snapshot_count(&s)?;
            out.push((s, wm, n));
        }
        Ok(out)
    }

    /// Record the start of a run; returns its number.
    pub fn begin_run(&self, job: &str, args: &str, now: i64) -> Result<i64, StoreError> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO runs (job, args, started_at) VALUES (?1, ?2, ?3)",
                params![job, args, now],
            )?;
            Ok(conn.last_insert_rowid())
        })
    }

    pub fn finish_run(
        &self,
        run: i64,
        outcome: &str,
        stats: &RunStats,
        now: i64,
    ) -> Result<(), StoreError> {
        let stats = serde_json::to_string(stats).unwrap_or_else(|_| "{}".into());
        self.with(|conn| {
            conn.execute(
                "UPDATE runs SET ended_at = ?2, outcome = ?3, stats = ?4 WHERE id = ?1",
                params![run, now, outcome, stats],
            )
        })
        .map(|_| ())
    }

    /// Record that a run ended with an error: its outcome word and the error's first line.
    pub(crate) fn fail_run(
        &self,
        run: i64,
        outcome: &str,
        error: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let first_line = error.lines().next().unwrap_or("");
        self.with(|conn| {
            conn.execute(
                "UPDATE runs SET ended_at = ?2, outcome = ?3, error = ?4 WHERE id = ?1",
                params![run, now, outcome, first_line],
            )
        })
        .map(|_| ())
    }

    /// Per job: its last run that ended with an error.
    pub(crate) fn last_failures(&self) -> Result<Vec<RunRecord>, StoreError> {
        let ids: Vec<i64> = self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT max(id) FROM runs WHERE error IS NOT NULL GROUP BY job ORDER BY job",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.run(id)?);
        }
        Ok(out)
    }

    /// Every job and outcome in the run history, with its runs' counters summed.
    pub fn run_totals(&self) -> Result<Vec<RunTotals>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT job, coalesce(outcome, 'running'), count(*),
                        total(json_extract(stats, '$.rows_read')),
                        total(json_extract(stats, '$.created')),
                        total(json_extract(stats, '$.updated')),
                        total(json_extract(stats, '$.removed')),
                        total(json_extract(stats, '$.closed')),
                        total(json_extract(stats, '$.rejected')),
                        total(json_extract(stats, '$.requests')),
                        total(json_extract(stats, '$.retries')),
                        total(json_extract(stats, '$.rate_limited')),
                        total(json_extract(stats, '$.files_written')),
                        total(json_extract(stats, '$.changes_delivered'))
                 FROM runs GROUP BY 1, 2 ORDER BY 1, 2",
            )?;
            let n = |r: &rusqlite::Row<'_>, i: usize| r.get::<_, f64>(i).map(|v| v as u64);
            let rows = stmt.query_map([], |r| {
                Ok(RunTotals {
                    job: r.get(0)?,
                    outcome: r.get(1)?,
                    runs: r.get::<_, i64>(2)? as u64,
                    rows_read: n(r, 3)?,
                    created: n(r, 4)?,
                    updated: n(r, 5)?,
                    removed: n(r, 6)?,
                    closed: n(r, 7)?,
                    rejected: n(r, 8)?,
                    requests: n(r, 9)?,
                    retries: n(r, 10)?,
                    rate_limited: n(r, 11)?,
                    files_written: n(r, 12)?,
                    changes_delivered: n(r, 13)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Per job: its last run and its last successful run (outcome `ok` or `rejected`).
    pub fn job_summaries(&self) -> Result<Vec<(RunRecord, Option<RunRecord>)>, StoreError> {
        let jobs: Vec<(i64, Option<i64>)> = self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT max(id), max(CASE WHEN outcome IN ('ok', 'rejected') THEN id END)
                 FROM runs GROUP BY job ORDER BY job",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?;
        let mut out = Vec::with_capacity(jobs.len());
        for (last, success) in jobs {
            let Some(last) = self.run(last)? else {
                continue;
            };
            let success = match success {
                Some(id) => self.run(id)?,
                None => None,
            };
            out.push((last, success));
        }
        Ok(out)
    }

    /// Delete run history and change log entries of runs started before `before` (unix
    /// seconds), keeping each job's latest run. Returns (runs, changes) deleted. Uses the run
    /// number, which the change log is indexed by, so pruning a large log is cheap.
    /// `outboxes` are the configured outboxes: changes they have not delivered are kept (an
    /// outbox no longer configured keeps nothing back, or its stream would never be pruned).
    pub(crate) fn prune_history(
        &self,
        before: i64,
        outboxes: &[&str],
    ) -> Result<(u64, u64), StoreError> {
        let outboxes = serde_json::to_string(outboxes).expect("names serialise");
        self.with(|conn| {
            let tx = conn.transaction()?;
            let first_kept: Option<i64> =
                tx.query_row("SELECT min(id) FROM runs WHERE started_at >= ?1", [before], |r| r.get(0))?;
            let first_kept = match first_kept {
                Some(id) => id,
                None => tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM runs", [], |r| r.get(0))?,
            };
            let runs = tx.execute(
                "DELETE FROM runs WHERE id < ?1
                   AND id NOT IN (SELECT max(id) FROM runs GROUP BY job)
                   AND id NOT IN (SELECT max(id) FROM runs WHERE json_extract(stats, '$.full') GROUP BY job)",
                [first_kept],
            )?;
            // The newest change is never pruned, so that change seqs are never reused (an
            // outbox's cursor would skip the reused ones), and neither is a change an outbox has
            // not delivered yet.
            // A packed row of created records (`created`) goes whole, once every seq it covers
            // is delivered; counted are the changes, not the rows.
            let changes: i64 = {
                let mut deleted = tx.prepare(
                    "DELETE FROM changes WHERE run < ?1
                       AND seq < (SELECT max(seq) FROM changes)
                       AND NOT EXISTS (SELECT 1 FROM outbox_cursors o
                                       WHERE o.stream = changes.stream AND o.cursor < changes.seq
                                         AND o.outbox IN (SELECT value FROM json_each(?2)))
                     RETURNING span",
                )?;
                let spans = deleted.query_map(rusqlite::params![first_kept, outboxes], |r| {
                    r.get::<_, i64>(0)
                })?;
                spans.sum::<rusqlite::Result<i64>>()?
            };
            tx.commit()?;
            Ok((runs as u64, changes as u64))
        })
    }

    pub fn run(&self, run: i64) -> Result<Option<RunRecord>, StoreError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT id, job, args, started_at, ended_at, outcome, stats, error FROM runs WHERE id = ?1",
                [run],
                |r| {
                    Ok(RunRecord {
                        id: r.get(0)?,
                        job: r.get(1)?,
                        args: r.get(2)?,
                        started_at: r.get(3)?,
                        ended_at: r.get(4)?,
                        outcome: r.get(5)?,
                        stats: serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or_default(),
                        error: r.get(7)?,
                    })
                },
            )
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_and_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.db")).unwrap();
        let stats = RunStats {
            rows_read: 5,
            ..RunStats::default()
        };
        let a1 = store.begin_run("pull inventory", "", 100).unwrap();
        store.finish_run(a1, "ok", &stats, 101).unwrap();
        let a2 = store.begin_run("pull inventory", "", 200).unwrap();
        store
            .finish_run(a2, "failed", &RunStats::default(), 201)
            .unwrap();
        let b1 = store.begin_run("pull invoices", "", 150).unwrap();
        store
            .finish_run(b1, "failed", &RunStats::default(), 151)
            .unwrap();
        let s = store.job_summaries().unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].0.id, s[0].1.as_ref().map(|r| r.id)), (a2, Some(a1)));
        assert_eq!(s[0].1.as_ref().unwrap().stats.rows_read, 5);
        assert_eq!((s[1].0.id, s[1].1.is_none()), (b1, true));
        // Pruning before 180 removes run a1 only (b1 is its job's latest).
        let (runs, _) = store.prune_history(180, &[]).unwrap();
        assert_eq!(runs, 1);
        assert!(store.run(a1).unwrap().is_none());
        assert!(store.run(b1).unwrap().is_some());
    }

    #[test]
    fn the_last_full_pull_outlives_pruning_and_shows_in_the_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.db")).unwrap();
        let full = RunStats {
            full: true,
            ..RunStats::default()
        };
        let wm = super::super::PageWrite {
            watermark: Some(super::super::WatermarkMove {
                updated_at: "2026-01-01T00:00:00Z".into(),
                full: true,
            }),
            ..Default::default()
        };
        let f1 = store.begin_run("pull inventory", "--full", 100).unwrap();
        store.write_page("inventory", f1, "t", &wm).unwrap();
        store.finish_run(f1, "ok", &full, 101).unwrap();
        let f2 = store.begin_run("pull inventory", "", 200).unwrap();
        store.finish_run(f2, "ok", &full, 201).unwrap();
        let i1 = store.begin_run("pull inventory", "", 300).unwrap();
        store
            .finish_run(i1, "ok", &RunStats::default(), 301)
            .unwrap();
        let last_full = |s: &Store| s.watermark("inventory").unwrap().unwrap().last_full_run;
        assert_eq!(last_full(&store), Some(f2));
        let (runs, _) = store.prune_history(1000, &[]).unwrap();
        assert_eq!(runs, 1, "only the older full run goes");
        assert!(store.run(f2).unwrap().is_some());
        assert_eq!(last_full(&store), Some(f2));
    }

    #[test]
    fn only_configured_outboxes_keep_their_undelivered_changes_from_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("r.db")).unwrap();
        let change = |key: &str| {
            super::super::Change::whole(
                super::super::ChangeKind::Created,
                Some(1),
                key.into(),
                String::new(),
            )
        };
        let old = store.begin_run("pull shipments", "", 100).unwrap();
        let page = super::super::PageWrite {
            changes: vec![change("S-1"), change("S-2")],
            ..Default::default()
        };
        store.write_page("shipments", old, "t", &page).unwrap();
        store
            .finish_run(old, "ok", &RunStats::default(), 101)
            .unwrap();
        let new = store.begin_run("pull shipments", "", 500).unwrap();
        store
            .write_page(
                "shipments",
                new,
                "t",
                &super::super::PageWrite {
                    changes: vec![change("S-3")],
                    ..Default::default()
                },
            )
            .unwrap();
        store
            .finish_run(new, "ok", &RunStats::default(), 501)
            .unwrap();
        // Two outboxes of the stream, neither of which has delivered anything.
        store
            .with(|c| {
                c.execute_batch(
                    "INSERT INTO outbox_cursors (outbox, stream, cursor, files, changes)
                     VALUES ('asn', 'shipments', 0, 0, 0), ('gone', 'shipments', 0, 0, 0)",
                )
            })
            .unwrap();
        let kept = |s: &Store| {
            let mut n = 0;
            s.for_each_change(None, None, None, |_| {
                n += 1;
                Ok(())
            })
            .unwrap()
            .unwrap();
            n
        };
        assert_eq!(store.prune_history(200, &["asn"]).unwrap().1, 0);
        assert_eq!(kept(&store), 3, "asn has delivered none of them");
        // Once `asn` is no longer configured, `gone` and `asn` hold nothing back.
        assert_eq!(store.prune_history(200, &[]).unwrap().1, 2);
        assert_eq!(kept(&store), 1);
    }
}
