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
}

impl Store {
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

    pub fn run(&self, run: i64) -> Result<Option<RunRecord>, StoreError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT id, job, args, started_at, ended_at, outcome, stats FROM runs WHERE id = ?1",
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
                    })
                },
            )
            .optional()
        })
    }
}
