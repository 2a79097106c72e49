//! The SQLite file: one database holding tokens, run history and, as the pull and push jobs
//! land, watermarks, snapshots, changes, the push ledger and rejected rows.
//!
//! Architecture invariant: this is the only module that holds SQL, and it knows nothing about the
//! jobs above it. One connection, used behind a mutex: SQLite has a single writer anyway, and the
//! WAL lets readers in other processes (`status`, exports) proceed while a job writes.

mod checkpoint;
mod created;
mod fingerprint;
mod identity;
mod kv;
mod ledger;
mod migrations;
mod mirror;
mod outbox;
mod recon;
mod runs;
mod spill;
mod tokens;
mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;
use thiserror::Error;

pub use fingerprint::fingerprint;
pub use ledger::LedgerState;
pub(crate) use ledger::{LedgerEntry, LedgerWrite};
pub use mirror::{Change, ChangeKind, ExportRow, PageWrite, Upsert};
pub(crate) use mirror::{Stored, StoredHash, Watermark, WatermarkMove};
pub(crate) use outbox::{ControlMove, FileStart, OutboxChange, OutboxFile, X12Controls};
pub(crate) use runs::RunRecord;
pub use runs::RunStats;
pub(crate) use runs::RunTotals;
pub use spill::Spill;
pub(crate) use tokens::StoredToken;
pub use webhooks::{EventBacklog, NewEvent, QUARANTINED};

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
        "store {path} belongs to {stored}, but the configuration points at {configured}; its \
         ledger, mirror and watermarks are true only of the server they came from. To fix: set \
         store.path (or AHEAD_SYNC__STORE__PATH) to a new file for {configured}, or point the \
         configuration back at {stored}"
    )]
    OtherAhead {
        path: PathBuf,
        stored: String,
        configured: String,
    },
    #[error("the store keeps no stream called {0:?}")]
    UnknownStream(String),
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

/// How long a statement waits for another process's write transaction before failing. Jobs,
/// the daemon and the webhook receiver share one store; a page or a batch holds the write lock
/// for milliseconds, so waiting this long only fails when something is truly stuck.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
            conn.busy_timeout(BUSY_TIMEOUT)?;
            // Every transaction takes the write lock when it begins. A deferred one that reads
            // first and writes later cannot upgrade once another process has committed since its
            // read (SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out): two jobs on one store
            // would fail each other in milliseconds. Taking the lock up front makes them queue.
            conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
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
    pub(crate) fn schema_version(&self) -> Result<i64, StoreError> {
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
///
/// A file that already exists with another mode (copied, restored from a backup, created by
/// an older release or by hand) is set to 0600, with a warning naming it: the next open finds
/// it private and says nothing.
///
/// An existing file is never opened here, only looked at and changed by its path: closing a
/// descriptor of a file drops every POSIX lock the process holds on it, so opening and closing
/// the store (or its -shm) while this process has another connection to it would silently
/// release that connection's SQLite locks, and another process could then reset the WAL
/// index under it.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        // A new file: no connection of this process can hold locks on it yet.
        Ok(file) => drop(file),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err(e)),
    }
    #[cfg(unix)]
    {
        make_private(path).map_err(err)?;
        // A WAL left by a run of the lax file holds the same tokens.
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            let side = PathBuf::from(side);
            if side.exists() {
                make_private(&side).map_err(err)?;
            }
        }
    }
    Ok(())
}

/// Set a store file to mode 0600 if it is not, warning once (the fix is what stops the
/// warning from repeating). A file this user cannot change (owned by another) is warned about
/// and left: refusing to run would not make it private either.
#[cfg(unix)]
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    if mode == 0o600 {
        return Ok(());
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        Ok(()) => tracing::warn!(
            file = %path.display(),
            was = %format!("{mode:04o}"),
            "The store holds tokens and was not private; its mode is now 0600."
        ),
        Err(error) => tracing::warn!(
            file = %path.display(),
            mode = %format!("{mode:04o}"),
            %error,
            fix = %format!("chmod 600 {}", path.display()),
            "The store holds tokens and is not private, and its mode cannot be changed by this user."
        ),
    }
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

    #[test]
    #[cfg(unix)]
    fn an_existing_store_with_another_mode_is_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(Store::open(&path).unwrap());
        let wal = dir.path().join("s.db-wal");
        for (file, mode) in [
            (&path, 0o644),
            (&path, 0o666),
            (&path, 0o640),
            (&wal, 0o644),
        ] {
            if !file.exists() {
                std::fs::write(file, b"").unwrap();
            }
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).unwrap();
            let store = Store::open(&path).unwrap();
            let now = std::fs::metadata(file).unwrap().permissions().mode() & 0o7777;
            assert_eq!(now, 0o600, "{} was {mode:o}", file.display());
            drop(store);
        }
    }

    /// A job that reads before it writes, while another process holds the write lock, waits
    /// for it instead of failing with SQLITE_BUSY_SNAPSHOT once the other commits.
    #[test]
    fn a_write_that_reads_first_waits_for_another_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let holder = Store::open(&path).unwrap();
        let other = Store::open(&path).unwrap();
        other.begin_run("pull invoices", "", 1).unwrap();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let writer = std::thread::spawn(move || {
            holder
                .with(|conn| {
                    let tx = conn.transaction()?;
                    tx.execute(
                        "INSERT INTO runs (job, args, started_at) VALUES ('pull shipments', '', 2)",
                        [],
                    )?;
                    held_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    tx.commit()
                })
                .unwrap();
        });
        held_rx.recv().unwrap();
        let pruner = std::thread::spawn(move || {
            let pruned = other.prune_history(10, &[]);
            let run = other.begin_run("pull invoices", "", 3);
            (pruned, run)
        });
        // Let the other job start its transaction against the held lock, then release it.
        std::thread::sleep(std::time::Duration::from_millis(200));
        go_tx.send(()).unwrap();
        writer.join().unwrap();
        let (pruned, run) = pruner.join().unwrap();
        pruned.expect("pruning waits for the other writer");
        run.expect("a run starts after the other writer");
    }

    #[test]
    fn two_processes_opening_a_new_store_at_once_both_migrate_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || Store::open(&path).map(|s| s.schema_version().unwrap()))
            })
            .collect();
        for open in opens {
            assert_eq!(open.join().unwrap().unwrap(), migrations::latest());
        }
    }
}
