//! The exactly-once loop. For each range of the change log, in order:
//!
//! 1. render the range (pure) from the partner's current control numbers;
//! 2. write it aside as `.NAME.partial` in the outbox folder and fsync it (and the folder);
//! 3. record it in the store (`written`: range, name, hash, control numbers, rejections), in
//!    one transaction that also takes the control numbers, refused if they moved meanwhile;
//! 4. rename it into place and fsync the folder;
//! 5. mark it `delivered`, moving the cursor past its range.
//!
//! A run killed before 3 leaves an invisible `.partial` that the next run overwrites with the
//! same bytes (nothing was committed, so it renders the same range from the same control
//! numbers). A run killed after 3 leaves a recorded file that the next run finishes before
//! anything else: the file in place with its hash means the rename happened (commit it); the
//! `.partial` with its hash means it did not (rename, commit); neither means the ERP already
//! took the file after the rename (commit). No range is ever rendered twice once recorded, so
//! no change reaches the ERP twice, and the cursor never passes a change that is in no file.

use crate::progress::Progress;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::spec::Target;
use super::{file_name, render, OutMapping};
use crate::settings::OutboxSettings;
use crate::store::{FileStart, OutboxChange, OutboxFile, Store, StoreError, X12Controls};

#[derive(Debug, Error)]
pub(crate) enum DeliverError {
    #[error("outbox {outbox}: cannot write {path}")]
    Write {
        outbox: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "outbox {outbox}: {path} is already there with other content than the file recorded for \
         changes {first}..{last}; to fix: move it out of the folder (if the ERP has imported it, \
         it has these changes) and run again"
    )]
    Foreign {
        outbox: String,
        path: PathBuf,
        first: i64,
        last: i64,
    },
    #[error("outbox {outbox}: the store")]
    Store {
        outbox: String,
        #[source]
        source: StoreError,
    },
}

/// What a delivery did.
#[derive(Debug, Default, Clone)]
pub(crate) struct Delivery {
    /// Files written (or that would be, with `dry_run`), by name, with their change counts.
    pub(crate) files: Vec<(String, usize)>,
    /// Changes read from the change log.
    pub(crate) read: u64,
    /// Changes the files carry.
    pub(crate) delivered: u64,
    /// Changes rejected (each with the field and reason in the change log).
    pub(crate) rejected: u64,
    /// Rejection details, for a dry run's report.
    pub(crate) rejections: Vec<String>,
    /// A file recorded by an earlier, interrupted run, finished by this one.
    pub(crate) finished: Option<String>,
}

/// One outbox, ready to deliver.
pub(crate) struct Outbox<'a> {
    pub(crate) settings: &'a OutboxSettings,
    pub(crate) mapping: &'a OutMapping,
    pub(crate) store: &'a Store,
    /// Told the changes to deliver, then each batch as it is delivered.
    pub(crate) progress: Option<&'a dyn Progress>,
}

/// What a batch is read from: the changes after the cursor, or those a replay repeats.
pub(crate) enum Selection {
    /// Every change not yet delivered.
    Pending,
    /// The changes run N recorded.
    RecordedBy(i64),
    /// The changes in these ranges (the files an outbox run delivered).
    Ranges(Vec<(i64, i64)>),
}

impl Outbox<'_> {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn store_err(&self) -> impl Fn(StoreError) -> DeliverError + '_ {
        move |source| DeliverError::Store {
            outbox: self.name().to_string(),
            source,
        }
    }

    fn write_err(&self, path: &Path) -> impl Fn(std::io::Error) -> DeliverError + '_ {
        let path = path.to_path_buf();
        move |source| DeliverError::Write {
            outbox: self.name().to_string(),
            path: path.clone(),
            source,
        }
    }

    fn partial(&self, file: &str) -> PathBuf {
        self.settings.dir.join(format!(".{file}.partial"))
    }

    /// Deliver: finish a file an interrupted run recorded, then every batch of `selection`.
    /// `replay`: the run whose changes are written again (files named and recorded as a
    /// replay; the cursor does not move). With `dry_run` nothing is written anywhere.
    pub(crate) fn deliver(
        &self,
        run: i64,
        selection: Selection,
        replay: Option<i64>,
        dry_run: bool,
    ) -> Result<Delivery, DeliverError> {
        let mut out = Delivery::default();
        if !dry_run {
            std::fs::create_dir_all(&self.settings.dir)
                .map_err(self.write_err(&self.settings.dir))?;
            out.finished = self.finish_open()?;
        }
        let kinds = &self.settings.changes;
        let max = self.settings.max_changes_per_file;
        let stream = self.settings.stream.name();
        let mut after = match selection {
            Selection::Pending => self
                .store
                .outbox_cursor(self.name())
                .map_err(self.store_err())?,
            _ => 0,
        };
        let mut ranges = match &selection {
            Selection::Ranges(r) => r.clone(),
            _ => Vec::new(),
        };
        ranges.reverse();
        if let (Some(progress), Selection::Pending) = (self.progress, &selection) {
            let pending = self
                .store
                .outbox_pending(stream, after, None, kinds)
                .map_err(self.store_err())?;
            progress.set_total(pending);
        }
        loop {
            let batch: Vec<OutboxChange> = match &selection {
                Selection::Pending => self.store.outbox_changes(stream, after, kinds, max),
                Selection::RecordedBy(n) => self
                    .store
                    .outbox_changes_of_run(stream, *n, after, kinds, max),
                Selection::Ranges(_) => {
                    let Some(&(first, last)) = ranges.last() else {
                        break;
                    };
                    after = after.max(first - 1);
                    let mut batch = self
                        .store
                        .outbox_changes(stream, after, kinds, max)
                        .map_err(self.store_err())?;
                    batch.retain(|c| c.seq <= last);
                    if batch.len() < max {
                        ranges.pop();
                    }
                    if batch.is_empty() {
                        continue;
                    }
                    Ok(batch)
                }
            }
            .map_err(self.store_err())?;
            let (Some(first), Some(last)) =
                (batch.first().map(|c| c.seq), batch.last().map(|c| c.seq))
            else {
                break;
            };
            out.read += batch.len() as u64;
            self.one_file(run, &batch, first, last, replay, dry_run, &mut out)?;
            if let Some(progress) = self.progress {
                progress.advance(batch.len() as u64);
            }
            after = last;
        }
        Ok(out)
    }

    /// Render, write aside, record, rename and commit one batch.
    #[allow(clippy::too_many_arguments)]
    fn one_file(
        &self,
        run: i64,
        batch: &[OutboxChange],
        first: i64,
        last: i64,
        replay: Option<i64>,
        dry_run: bool,
        out: &mut Delivery,
    ) -> Result<(), DeliverError> {
        let stream = self.settings.stream.name();
        let at = crate::time::now();
        loop {
            let from = match &self.mapping.target {
                Target::X12(t) => self
                    .store
                    .x12_controls(&t.partner())
                    .map_err(self.store_err())?,
                Target::Csv(_) => X12Controls::default(),
            };
            let rendered = render(self.mapping, self.name(), batch, from);
            let name = file_name(
                self.name(),
                first,
                last,
                replay.map(|_| run),
                &self.mapping.extension,
            );
            if dry_run {
                out.rejected += rendered.rejections.len() as u64;
                out.rejections
                    .extend(rendered.rejections.iter().map(|r| r.detail.clone()));
                out.delivered += rendered.delivered as u64;
                if rendered.delivered > 0 {
                    out.files.push((name, rendered.delivered));
                }
                return Ok(());
            }
            if rendered.delivered == 0 {
                if replay.is_none() {
                    self.store
                        .outbox_pass_over(self.name(), stream, last, run, &at, &rendered.rejections)
                        .map_err(self.store_err())?;
                }
                out.rejected += rendered.rejections.len() as u64;
                return Ok(());
            }
            let partial = self.partial(&name);
            if let Err(e) = write_synced(&partial, &rendered.bytes) {
                let _ = std::fs::remove_file(&partial);
                return Err(self.write_err(&partial)(e));
            }
            sync_dir(&self.settings.dir).map_err(self.write_err(&self.settings.dir))?;
            let hash = hex::encode(Sha256::digest(&rendered.bytes));
            let start = FileStart {
                outbox: self.name(),
                stream,
                run,
                first_seq: first,
                last_seq: last,
                file: &name,
                content_hash: &hash,
                changes: rendered.delivered as i64,
                replay_of: replay,
                at: &at,
                controls: rendered.controls.clone(),
                rejections: &rendered.rejections,
            };
            let Some(id) = self
                .store
                .outbox_begin_file(&start)
                .map_err(self.store_err())?
            else {
                // Another outbox to the same partner took control numbers meanwhile.
                tracing::debug!(
                    outbox = self.name(),
                    "Control numbers moved; rendering again."
                );
                continue;
            };
            let file = OutboxFile {
                id,
                outbox: self.name().to_string(),
                run,
                first_seq: first,
                last_seq: last,
                file: name.clone(),
                content_hash: hash,
                changes: rendered.delivered as i64,
                replay_of: replay,
                state: "written".into(),
            };
            self.put_in_place(&file)?;
            out.files.push((name, rendered.delivered));
            out.delivered += rendered.delivered as u64;
            out.rejected += rendered.rejections.len() as u64;
            return Ok(());
        }
    }

    /// Rename a recorded file into place (unless it is already there), then commit it.
    fn put_in_place(&self, file: &OutboxFile) -> Result<(), DeliverError> {
        let target = self.settings.dir.join(&file.file);
        let partial = self.partial(&file.file);
        match std::fs::read(&target) {
            Ok(bytes) if hex::encode(Sha256::digest(&bytes)) == file.content_hash => {
                // Renamed by a run that did not live to commit it.
                let _ = std::fs::remove_file(&partial);
            }
            Ok(_) => {
                return Err(DeliverError::Foreign {
                    outbox: self.name().to_string(),
                    path: target,
                    first: file.first_seq,
                    last: file.last_seq,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match std::fs::rename(&partial, &target) {
                    Ok(()) => {
                        sync_dir(&self.settings.dir).map_err(self.write_err(&self.settings.dir))?
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        // Neither the file nor its partial: it was renamed, and the ERP has
                        // taken it since.
                        tracing::info!(
                            outbox = self.name(),
                            file = %target.display(),
                            "The file was already delivered and taken from the folder; recording it."
                        );
                    }
                    Err(e) => return Err(self.write_err(&target)(e)),
                }
            }
            Err(e) => return Err(self.write_err(&target)(e)),
        }
        self.store
            .outbox_deliver_file(file, self.settings.stream.name(), &crate::time::now())
            .map_err(self.store_err())
    }

    /// Finish the file an interrupted run recorded, if any; its name.
    fn finish_open(&self) -> Result<Option<String>, DeliverError> {
        let Some(open) = self
            .store
            .outbox_open_file(self.name())
            .map_err(self.store_err())?
        else {
            return Ok(None);
        };
        let partial = self.partial(&open.file);
        if let Ok(bytes) = std::fs::read(&partial) {
            if hex::encode(Sha256::digest(&bytes)) != open.content_hash {
                // Only a recorded file's own bytes are ever renamed into place.
                return Err(DeliverError::Foreign {
                    outbox: self.name().to_string(),
                    path: partial,
                    first: open.first_seq,
                    last: open.last_seq,
                });
            }
        }
        tracing::info!(
            outbox = self.name(),
            file = %open.file,
            first = open.first_seq,
            last = open.last_seq,
            "Finishing a file an interrupted run recorded."
        );
        self.put_in_place(&open)?;
        Ok(Some(open.file))
    }
}

/// Write `bytes` to `path` (created or truncated) and wait for the disk.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Make a folder's entries (a new or renamed file) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
