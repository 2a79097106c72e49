//! What the reconciliation asks of the store beyond the mirror itself.

use rusqlite::OptionalExtension;

use super::{Store, StoreError};

impl Store {
    /// When the last successful run of `job` ended (unix seconds): outcome `ok`, or `rejected`
    /// (done, with some rows held back). `None` when the job never succeeded.
    pub(crate) fn last_success_at(&self, job: &str) -> Result<Option<i64>, StoreError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT ended_at FROM runs
                 WHERE job = ?1 AND outcome IN ('ok', 'rejected') AND ended_at IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
                [job],
                |r| r.get(0),
            )
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{RunStats, Store};

    #[test]
    fn the_last_success_is_the_latest_ok_or_rejected_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(store.last_success_at("pull invoices").unwrap(), None);
        let stats = RunStats::default();
        let a = store.begin_run("pull invoices", "", 100).unwrap();
        store.finish_run(a, "ok", &stats, 110).unwrap();
        let b = store.begin_run("pull invoices", "", 200).unwrap();
        store.finish_run(b, "failed", &stats, 210).unwrap();
        let c = store.begin_run("pull inventory", "", 300).unwrap();
        store.finish_run(c, "ok", &stats, 310).unwrap();
        assert_eq!(store.last_success_at("pull invoices").unwrap(), Some(110));
        let d = store.begin_run("pull invoices", "", 400).unwrap();
        store.finish_run(d, "rejected", &stats, 410).unwrap();
        assert_eq!(store.last_success_at("pull invoices").unwrap(), Some(410));
    }
}
