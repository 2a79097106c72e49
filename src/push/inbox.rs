//! Inbox files: which are waiting, whether each is complete enough to take, and where they go
//! once their outcome is committed: `done/`, or `failed/` with a sibling `.errors.csv` naming
//! every rejected row.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;

use super::rejected::FileRejections;
use super::InputFile;

/// Files waiting in `inbox`, oldest name first (sub-folders such as `done/` are not read).
/// Symbolic links are listed too, so that the push refuses them by name instead of following them.
pub(crate) fn inbox_files(inbox: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !inbox.exists() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(inbox)
        .with_context(|| format!("cannot read the inbox {}", inbox.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| super::is_order_file(p))
        .collect();
    files.sort();
    Ok(files)
}

/// What a file's size and modification time (and, on Unix, its inode and status-change time,
/// which no one can set back) were when it was read: if they differ when the push is done with
/// it, someone wrote to it meanwhile and it must not be moved away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    len: u64,
    modified: Option<SystemTime>,
    /// Inode, and status change time in seconds and nanoseconds.
    changed: (u64, i64, i64),
}

impl Seen {
    /// The length the file had: a push reads no further.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    fn of(meta: &std::fs::Metadata) -> Seen {
        #[cfg(unix)]
        let changed = {
            use std::os::unix::fs::MetadataExt;
            (meta.ino(), meta.ctime(), meta.ctime_nsec())
        };
        #[cfg(not(unix))]
        let changed = (0, 0, 0);
        Seen {
            len: meta.len(),
            modified: meta.modified().ok(),
            changed,
        }
    }

    /// How the file at `path` looks now (`None` if it cannot be looked at).
    pub(crate) fn at(path: &Path) -> Option<Seen> {
        std::fs::symlink_metadata(path).ok().map(|m| Seen::of(&m))
    }

    /// Whether the file at `path` is still as it was seen.
    pub fn unchanged(&self, path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok_and(|m| Seen::of(&m) == *self)
    }
}

/// Whether an input file can be pushed now.
#[derive(Debug)]
pub enum Taken {
    /// Yes: for an inbox file, how it looked when taken (it is read up to that length, and
    /// must still look so once it has been read).
    Ready(Option<Seen>),
    /// Not yet: the ERP may still be writing it. It stays for a later run.
    Wait(String),
    /// Never: it is rejected as a whole, with this reason.
    Refused(String),
}

/// Whether `file` may be pushed. A named file is read as it is. An inbox file is taken only
/// when it is a regular file, not a symbolic link, and unchanged for `settle`; the push then
/// checks that it is whole for its format and unchanged while it was read (product.md).
pub fn take(file: &InputFile, settle: Duration) -> anyhow::Result<Taken> {
    let path = &file.path;
    if !file.from_inbox {
        return Ok(Taken::Ready(None));
    }
    let before = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if before.file_type().is_symlink() {
        return Ok(Taken::Refused(
            "it is a symbolic link: inbox files must be regular files, and links are not followed"
                .into(),
        ));
    }
    let age = before
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default();
    if age < settle {
        return Ok(Taken::Wait(format!(
            "it changed {} s ago; inbox files are taken once unchanged for push.settle_secs ({} s)",
            age.as_secs(),
            settle.as_secs()
        )));
    }
    Ok(Taken::Ready(Some(Seen::of(&before))))
}

/// Move a pushed inbox file to `done/` (no rejections) or `failed/` (with `NAME.errors.csv`
/// beside it). Returns true when it went to `failed/`.
pub(crate) fn settle_file(path: &Path, rejections: &mut FileRejections) -> anyhow::Result<bool> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let failed = !rejections.is_empty();
    let target_dir = folder.join(if failed { "failed" } else { "done" });
    std::fs::create_dir_all(&target_dir)
        .with_context(|| format!("cannot create {}", target_dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut target = target_dir.join(&name);
    if target.exists() {
        // Keep both: the same file name pushed twice (e.g. a daily export).
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f");
        target = target_dir.join(format!("{stamp}-{name}"));
    }
    if failed {
        let errors = target.with_file_name(format!(
            "{}.errors.csv",
            target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let mut w = csv::Writer::from_path(&errors)
            .with_context(|| format!("cannot write {}", errors.display()))?;
        w.write_record(["file", "line", "segment", "order", "field", "reason"])?;
        rejections.for_each(|r| {
            w.write_record([
                r.file.as_str(),
                &r.line.to_string(),
                &r.segment.map(|s| s.to_string()).unwrap_or_default(),
                r.order.as_deref().unwrap_or(""),
                r.field.as_deref().unwrap_or(""),
                r.reason.as_str(),
            ])?;
            Ok(())
        })?;
        w.flush()?;
    }
    std::fs::rename(path, &target)
        .with_context(|| format!("cannot move {} to {}", path.display(), target.display()))?;
    tracing::info!(file = %path.display(), to = %target.display(), "Inbox file settled.");
    Ok(failed)
}

/// Why a rejected file could not be put back into its inbox.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequeueError {
    #[error("{file} is not in the failed/ folder of {inboxes}: only a rejected inbox file can be requeued")]
    NotFailed { file: String, inboxes: String },
    #[error("{file} is a rejection report: requeue the file it is about ({order_file})")]
    ErrorsReport { file: String, order_file: String },
    #[error("{target} is in the inbox already: push or move it first")]
    Exists { target: String },
    #[error("cannot requeue {file}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

/// What `requeue` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requeued {
    /// Where the file is now: in its inbox, under the same name.
    pub target: PathBuf,
    /// The stale `NAME.errors.csv` that was removed beside it, if there was one.
    pub removed_report: Option<PathBuf>,
}

/// Put a rejected file (`INBOX/failed/NAME`, fixed by a person) back into `INBOX`, one of
/// `inboxes`, for the next push to take, and remove its stale `NAME.errors.csv`. Rejected rows
/// of an order already created are not sent again unless they changed: the push ledger decides.
pub(crate) fn requeue(file: &Path, inboxes: &[PathBuf]) -> Result<Requeued, RequeueError> {
    let shown = file.display().to_string();
    let io = |source| RequeueError::Io {
        file: shown.clone(),
        source,
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(order_file) = name.strip_suffix(".errors.csv") {
        return Err(RequeueError::ErrorsReport {
            file: shown,
            order_file: order_file.to_string(),
        });
    }
    let folder = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let folder = std::fs::canonicalize(folder).map_err(io)?;
    let inbox = inboxes
        .iter()
        .find(|inbox| {
            std::fs::canonicalize(inbox.join("failed")).is_ok_and(|failed| failed == folder)
        })
        .ok_or_else(|| RequeueError::NotFailed {
            file: shown.clone(),
            inboxes: inboxes
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" or "),
        })?;
    if !file.is_file() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file",
        )));
    }
    let target = inbox.join(&name);
    if target.exists() {
        return Err(RequeueError::Exists {
            target: target.display().to_string(),
        });
    }
    std::fs::rename(file, &target).map_err(io)?;
    let report = folder.join(format!("{name}.errors.csv"));
    let removed_report = match std::fs::remove_file(&report) {
        Ok(()) => Some(file.with_file_name(format!("{name}.errors.csv"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    Ok(Requeued {
        target,
        removed_report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ERP that writes a new file and renames it over the old one, of the same size and with
    /// the old modification time, has still changed it.
    #[cfg(unix)]
    #[test]
    fn a_file_replaced_by_one_of_the_same_size_and_time_is_seen_as_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("po.csv");
        std::fs::write(&path, "PO,Item\nA,X\n").unwrap();
        let seen = Seen::at(&path).unwrap();
        assert!(seen.unchanged(&path));
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        let next = dir.path().join("po.csv.tmp");
        std::fs::write(&next, "PO,Item\nB,X\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&next)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        std::fs::rename(&next, &path).unwrap();
        let now = std::fs::metadata(&path).unwrap();
        assert_eq!((now.len(), now.modified().unwrap()), (12, modified));
        assert!(!seen.unchanged(&path));
    }
}
