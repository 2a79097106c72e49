//! Inbox files: which are waiting, and where they go once their outcome is committed: `done/`,
//! or `failed/` with a sibling `.errors.csv` naming every rejected row.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::mapping::Rejection;

/// Files waiting in `inbox`, oldest name first (sub-folders such as `done/` are not read).
pub fn inbox_files(inbox: &Path) -> anyhow::Result<Vec<PathBuf>> {
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

/// Move a pushed inbox file to `done/` (no rejections) or `failed/` (with `NAME.errors.csv`
/// beside it). Returns true when it went to `failed/`.
pub fn settle_file(path: &Path, rejections: &[Rejection]) -> anyhow::Result<bool> {
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
        for r in rejections {
            w.write_record([
                r.file.as_str(),
                &r.line.to_string(),
                &r.segment.map(|s| s.to_string()).unwrap_or_default(),
                r.order.as_deref().unwrap_or(""),
                r.field.as_deref().unwrap_or(""),
                r.reason.as_str(),
            ])?;
        }
        w.flush()?;
    }
    std::fs::rename(path, &target)
        .with_context(|| format!("cannot move {} to {}", path.display(), target.display()))?;
    tracing::info!(file = %path.display(), to = %target.display(), "Inbox file settled.");
    Ok(failed)
}
