//! The SQLite file: one database holding tokens, run history and, as the pull and push jobs
//! land, watermarks, snapshots, changes, the push ledger and rejected rows.
//!
//! Architecture invariant: this is the only module that holds SQL, and it knows nothing about the
//! jobs above it. One connection, used behind a mutex: SQLite has a single writer anyway, and the
//! WAL lets readers in other processes (`status`, exports) proceed while a job writes.

mod checkpoint;
mod fingerprint;
mod ledger;
mod migrations;
mod mirror;
mod recon;
mod runs;
mod tokens;
mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;
use thiserror::Error;

pub use checkpoint::BackgroundCheckpoints;
pub use fingerprint::fingerprint;
pub use ledger::{LedgerEntry, LedgerWrite};
pub use mirror::{
    Change, ChangeKind, ExportRow, PageWrite, Stored, StoredHash, Upsert, Watermark, WatermarkMove,
};
pub use runs::{RunRecord, RunStats};
pub use tokens::StoredToken;
pub use webhooks::{EventBacklog, NewEvent, PendingEvent, QuarantinedEvent, QUARANTINED};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the store {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "store {path} has schema version {found}, newer than this ahead-sync understands ({known}); \
         to fix: upgrade ahead-sync, or point store.path at another file"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
}

/// A handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Store {
    /// Open (creating with mode 0600 if needed) and migrate the store at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        create_private(path)?;
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let store = Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                conn: Mutex::new(conn),
            }),
        };
        store.with(|conn| {
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            // A pull writes a page per transaction; checkpointing every 40 MB of WAL rather than
            // every 4 MB copies each hot B-tree page into the database far fewer times.
            conn.pragma_update(None, "wal_autocheckpoint", checkpoint::CHECKPOINT_PAGES)?;
            // 32 MiB of page cache keeps the B-tree's upper levels in memory on large mirrors.
            conn.pragma_update(None, "cache_size", -32_768)?;
            fingerprint::register(conn)?;
            Ok(())
        })?;
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version the file is at.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.with(|conn| conn.pragma_query_value(None, "user_version", |r| r.get(0)))
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions roll
        // back on drop), so a poisoned lock is still safe to use.
        self.inner.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on the connection, naming the file in any error.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        f(&mut conn).map_err(|source| StoreError::Sqlite {
            path: self.inner.path.clone(),
            source,
        })
    }
}

/// Create the file with mode 0600 before SQLite opens it, so tokens are never world-readable,
/// not even for an instant. SQLite gives its -wal and -shm files the same mode.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn new_store_is_private_and_in_wal_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/s.db");
        let store = Store::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let journal: String = store
            .with(|c| c.pragma_query_value(None, "journal_mode", |r| r.get(0)))
            .unwrap();
        assert_eq!(journal, "wal");
        assert_eq!(store.schema_version().unwrap(), migrations::latest());
    }
}
