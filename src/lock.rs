//! Job locks across processes: two runs of the same job never overlap, whoever started them
//! (cron, the daemon, a person).
//!
//! A lock is an OS advisory lock (`File::try_lock`) on a file per job beside the store. The OS
//! drops it with the process, so a run killed with SIGKILL or a power loss leaves no lock behind:
//! the next run simply takes it. The file's text names the holder, for the message the loser
//! prints; it is informative only, never trusted for exclusion.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub(crate) enum LockError {
    #[error("skipped: another run of `{job}` holds its lock ({holder}); it will be run again at its next turn")]
    Held { job: String, holder: String },
    /// Only the embedded sandbox is guarded so far.
    #[cfg_attr(not(feature = "sandbox"), allow(dead_code))]
    #[error("{what} is in use by another process ({holder}): {why}")]
    InUse {
        what: &'static str,
        holder: String,
        why: &'static str,
    },
    #[error("cannot use the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LockError {
    /// Whether the lock is held by this very process (another job of the same daemon).
    pub(crate) fn held_here(&self) -> bool {
        matches!(self, LockError::Held { holder, .. }
            if holder.starts_with(&format!("pid {} ", std::process::id())))
    }
}

/// A held job lock; released when dropped.
#[derive(Debug)]
pub(crate) struct JobLock {
    _file: File,
}

/// The folder holding the lock files of the jobs using `store`: `<store>.locks/`.
pub(crate) fn lock_dir(store: &Path) -> PathBuf {
    let mut name = store
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".locks");
    store.with_file_name(name)
}

/// Take the lock of `job` at once, or fail naming its holder.
pub(crate) fn acquire(dir: &Path, job: &str) -> Result<JobLock, LockError> {
    let path = dir.join(format!("{}.lock", job.replace([' ', '/'], "-")));
    take(&path, |holder| LockError::Held {
        job: job.to_string(),
        holder,
    })
}

/// Take the lock file at `path`, guarding `what` (something one process at a time may use),
/// at once, or fail with [`LockError::InUse`] naming its holder and saying `why`.
#[cfg_attr(not(feature = "sandbox"), allow(dead_code))]
pub(crate) fn acquire_resource(
    path: &Path,
    what: &'static str,
    why: &'static str,
) -> Result<JobLock, LockError> {
    take(path, |holder| LockError::InUse { what, holder, why })
}

fn take(path: &Path, held: impl FnOnce(String) -> LockError) -> Result<JobLock, LockError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(held(if holder.is_empty() {
                "holder unknown".into()
            } else {
                holder.to_string()
            }));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    // Ours now: replace whatever a previous (possibly killed) holder wrote.
    let me = format!("pid {} since {}", std::process::id(), crate::time::now());
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(me.as_bytes()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(JobLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "pull inventory").unwrap();
        match acquire(dir.path(), "pull inventory") {
            Err(LockError::Held { job, holder }) => {
                assert_eq!(job, "pull inventory");
                assert!(
                    holder.contains(&format!("pid {}", std::process::id())),
                    "{holder}"
                );
            }
            other => panic!("expected Held, got {other:?}"),
        }
        // Other jobs are independent.
        let _other = acquire(dir.path(), "pull invoices").unwrap();
        drop(first);
        acquire(dir.path(), "pull inventory").unwrap();
    }

    #[test]
    fn a_lock_held_by_this_process_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let _first = acquire(dir.path(), "sync").unwrap();
        let here = acquire(dir.path(), "sync").unwrap_err();
        assert!(here.held_here(), "{here}");
        let elsewhere = LockError::Held {
            job: "sync".into(),
            holder: format!("pid {}1 since 2026-12-01T00:00:00Z", std::process::id()),
        };
        assert!(!elsewhere.held_here());
    }

    #[test]
    fn lock_dir_sits_beside_the_store() {
        assert_eq!(
            lock_dir(Path::new("/srv/a/sync.db")),
            PathBuf::from("/srv/a/sync.db.locks")
        );
    }
}
