//! WAL checkpoints on a thread of their own while a job writes.
//!
//! In WAL mode every committed page is written twice: appended to the WAL by the commit, then
//! copied into the database file by a checkpoint. SQLite's automatic checkpoint runs inside the
//! commit that crosses the threshold, so the writing thread stops for the copy and its `fsync`s.
//! While a [`BackgroundCheckpoints`] guard lives, the writer's commit only nudges a second
//! connection on another thread, which runs a `PASSIVE` checkpoint (it never blocks the writer
//! and copies only frames no reader needs). Durability is unchanged: a commit is durable in the
//! WAL either way, and the guard restores automatic checkpoints when it ends.

use std::ffi::c_int;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use rusqlite::hooks::Wal;
use rusqlite::Connection;

use super::{Store, StoreError};

/// WAL pages after which a checkpoint is run (SQLite's `wal_autocheckpoint`). Large, so that hot
/// B-tree pages are copied into the database a few times rather than on every commit.
pub(super) const CHECKPOINT_PAGES: c_int = 10_000;

/// Checkpoints run on a background thread until [`BackgroundCheckpoints::finish`] (or drop).
pub struct BackgroundCheckpoints {
    store: Store,
    nudge: Option<SyncSender<()>>,
    thread: Option<JoinHandle<rusqlite::Result<u64>>>,
}

impl Store {
    /// Move WAL checkpoints off this store's connection for the lifetime of the guard.
    pub fn background_checkpoints(&self) -> Result<BackgroundCheckpoints, StoreError> {
        self.background_checkpoints_every(CHECKPOINT_PAGES)
    }

    pub(super) fn background_checkpoints_every(
        &self,
        pages: c_int,
    ) -> Result<BackgroundCheckpoints, StoreError> {
        let sqlite = |source| StoreError::Sqlite {
            path: self.path().to_path_buf(),
            source,
        };
        let conn = Connection::open(self.path()).map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sqlite)?;
        // One pending nudge is enough: a checkpoint copies every frame committed before it.
        let (nudge, wanted) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || {
                let mut runs = 0;
                while wanted.recv().is_ok() {
                    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
                    runs += 1;
                }
                Ok(runs)
            })
            .map_err(|source| StoreError::Open {
                path: self.path().to_path_buf(),
                source,
            })?;
        let hook_nudge = nudge.clone();
        // Registering a WAL hook replaces SQLite's automatic checkpoint on this connection.
        self.with(|c| {
            c.wal_hook(Some(move |_: &mut Wal, frames: c_int| {
                if frames >= pages {
                    let _ = hook_nudge.try_send(());
                }
                Ok(())
            }))
        })?;
        Ok(BackgroundCheckpoints {
            store: self.clone(),
            nudge: Some(nudge),
            thread: Some(thread),
        })
    }
}

impl BackgroundCheckpoints {
    /// Restore automatic checkpoints and wait for the thread; returns the checkpoints it ran.
    pub fn finish(mut self) -> Result<u64, StoreError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<u64, StoreError> {
        let Some(thread) = self.thread.take() else {
            return Ok(0);
        };
        // Dropping the hook drops its sender; then ours, and the thread's loop ends.
        let restored = self.store.with(|c| {
            c.wal_hook(None::<fn(&mut Wal, c_int) -> rusqlite::Result<()>>)?;
            c.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_PAGES)
        });
        self.nudge = None;
        let ran = thread.join().unwrap_or(Ok(0));
        restored?;
        ran.map_err(|source| StoreError::Sqlite {
            path: self.store.path().to_path_buf(),
            source,
        })
    }
}

impl Drop for BackgroundCheckpoints {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "Background WAL checkpoints ended with an error.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn autocheckpoint(store: &Store) -> i64 {
        store
            .with(|c| c.pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0)))
            .unwrap()
    }

    #[test]
    fn checkpoints_run_beside_the_writer_and_automatic_ones_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store
            .with(|c| c.execute_batch("CREATE TABLE t (x BLOB)"))
            .unwrap();
        let guard = store.background_checkpoints_every(8).unwrap();
        for _ in 0..50 {
            store
                .with(|c| c.execute("INSERT INTO t VALUES (zeroblob(16384))", []))
                .unwrap();
        }
        let ran = guard.finish().unwrap();
        assert!(ran >= 1, "no checkpoint ran");
        assert_eq!(autocheckpoint(&store), i64::from(CHECKPOINT_PAGES));
        let rows: i64 = store
            .with(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(rows, 50);
    }

    #[test]
    fn without_the_guard_the_writer_checkpoints_itself() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(autocheckpoint(&store), i64::from(CHECKPOINT_PAGES));
        drop(store.background_checkpoints().unwrap());
        assert_eq!(autocheckpoint(&store), i64::from(CHECKPOINT_PAGES));
    }
}
