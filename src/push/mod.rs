//! Push purchase and fulfillment orders read from ERP files, exactly once.
//!
//! For each file: map and validate its orders (`mapping`, pure), check item numbers against
//! AHEAD's catalog, then send each valid order with bounded concurrency according to the push
//! ledger: a new order is written to the ledger as `sending` (committed) and then POSTed; an
//! order whose content changed since it was sent becomes one PUT; an unchanged one costs nothing.
//! A POST whose answer was lost is resolved by looking the order up by its number; a 409 adopts
//! the existing record. Rejections (mapping, validation, unknown items, AHEAD's 422s) are
//! recorded with file, line, field and reason in the change log, and the rest of the file still
//! goes through.
//!
//! Memory does not grow with the file: `read` streams it on a blocking thread (pass one for
//! whether it is whole and which keys repeat, then the orders) in batches through a bounded
//! channel; each batch is checked, sent and forgotten; rejections wait in a spill file
//! (`rejected`) and are written in line order when the file is done.

mod inbox;
mod read;
mod rejected;
mod send;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::api::contract::resource;
use crate::api::{ApiClient, Query};
use crate::kinds::OrderKind;
use crate::mapping::{Mapping, MappingError, Rejection, SourceOrder};
use crate::store::{Change, ChangeKind, LedgerState, LedgerWrite, PageWrite, RunStats, Store};
use crate::time::now_unix;
pub use inbox::take;
pub(crate) use inbox::{inbox_files, requeue, settle_file, RequeueError, Taken};
use read::Prepared;
use rejected::FileRejections;
pub use send::ledger_write;
use send::Outgoing;
pub(crate) use send::{Outcome, SendError};

/// One input file, and whether it came from the inbox (then it moves when done).
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    pub from_inbox: bool,
}

/// What a push did, and for `--dry-run` what it would do. What it did order by order goes to
/// its [`Observer`] as it happens, so that nothing here grows with the files.
#[derive(Debug, Default)]
pub struct PushReport {
    pub stats: RunStats,
    pub cancelled: u64,
    /// Orders that failed for a reason worth retrying (their file stays in the inbox).
    pub failed: u64,
    pub files_done: u64,
    pub files_failed: u64,
    /// Inbox files not taken this time (still being written, or changed while pushed).
    pub files_waiting: u64,
    /// The most orders any file's read held in memory at once (orders being grouped plus the
    /// batch being filled); bounded by the batch size, whatever the size of the file.
    pub orders_held_peak: usize,
}

/// Told what a push does as it does it.
pub trait Observer: Send {
    /// One line per order (and per rejection, after the file's orders, in line order): what
    /// happened or, for a dry run, would happen.
    fn plan(&mut self, line: &str);
    /// A rejected row, or a file rejected whole.
    fn rejection(&mut self, rejection: &Rejection);
    /// Where the orders read and sent are counted as they go (a bar), if anywhere. Not asked
    /// in a dry run.
    fn progress(&self) -> crate::progress::Observer {
        None
    }
}

/// An [`Observer`] that keeps everything it is told: for small pushes and tests.
#[derive(Debug, Default)]
pub struct Collected {
    pub plan: Vec<String>,
    pub rejections: Vec<Rejection>,
}

impl Observer for Collected {
    fn plan(&mut self, line: &str) {
        self.plan.push(line.to_string());
    }

    fn rejection(&mut self, rejection: &Rejection) {
        self.rejections.push(rejection.clone());
    }
}

pub(crate) fn resource_of(kind: OrderKind) -> &'static str {
    match kind {
        OrderKind::PurchaseOrder => resource::PURCHASE_ORDERS,
        OrderKind::FulfillmentOrder => resource::FULFILLMENT_ORDERS,
    }
}

/// How a push runs.
#[derive(Debug, Clone, Copy)]
pub struct PushOptions {
    /// Map, validate and plan only; send nothing, move nothing.
    pub dry_run: bool,
    /// Orders in flight at once.
    pub concurrency: usize,
    /// `push.settle_secs`: an inbox file is taken once unchanged this long.
    pub settle: Duration,
}

/// Push `files` through `mapping`, recorded as run `run`, telling `observer` as it goes.
pub async fn push(
    client: &ApiClient,
    store: &Store,
    run: i64,
    mapping: &Mapping,
    files: &[InputFile],
    options: &PushOptions,
    observer: &mut dyn Observer,
) -> anyhow::Result<PushReport> {
    let kind = mapping.order_kind()?;
    let job = Push {
        client,
        store,
        run,
        mapping: Arc::new(mapping.clone()),
        kind,
        options: *options,
        progress: if options.dry_run {
            None
        } else {
            observer.progress()
        },
        total: std::sync::atomic::AtomicU64::new(0),
    };
    let mut report = PushReport::default();
    for file in files {
        match take(file, options.settle)? {
            Taken::Ready(seen) => job.push_file(file, seen, &mut report, observer).await?,
            Taken::Wait(why) => job.wait(file, &why, &mut report),
            Taken::Refused(why) => job.refuse(file, why, &mut report, observer)?,
        }
    }
    Ok(report)
}

/// One push run: what every file of it shares.
struct Push<'a> {
    client: &'a ApiClient,
    store: &'a Store,
    run: i64,
    /// Shared with the reading thread.
    mapping: Arc<Mapping>,
    /// The kind of order the mapping produces.
    kind: OrderKind,
    options: PushOptions,
    /// Told of every order read and sent (not in a dry run).
    progress: crate::progress::Observer,
    /// Orders read so far, the total `progress` is given.
    total: std::sync::atomic::AtomicU64,
}

/// What became of one file's orders so far.
#[derive(Default)]
struct FileOutcome {
    failed: u64,
    /// Hashes of the order numbers the file holds, when the mapping cancels removed orders
    /// (a collision can only keep an order from being cancelled, never cancel one).
    present: Vec<u64>,
}

fn number_hash(number: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(number.as_bytes())
}

impl Push<'_> {
    /// The word for what happened, or for a dry run what would.
    fn verb(&self, done: &'static str, would: &'static str) -> &'static str {
        if self.options.dry_run {
            would
        } else {
            done
        }
    }

    fn wait(&self, file: &InputFile, why: &str, report: &mut PushReport) {
        tracing::info!(file = %file.path.display(), reason = %why, "File left for a later run.");
        report.files_waiting += 1;
    }

    /// A file rejected as a whole before it is read (a symbolic link in the inbox).
    fn refuse(
        &self,
        file: &InputFile,
        why: String,
        report: &mut PushReport,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<()> {
        let rejection = Rejection {
            file: file.path.display().to_string(),
            line: 1,
            segment: None,
            order: None,
            field: None,
            reason: why,
        };
        let mut rejections = FileRejections::new();
        rejections.add(&rejection)?;
        self.finish_file(
            file,
            None,
            rejections,
            &FileOutcome::default(),
            report,
            observer,
        )
    }

    /// Read, check and send one file's orders, batch by batch, then settle the file.
    async fn push_file(
        &self,
        file: &InputFile,
        seen: Option<inbox::Seen>,
        report: &mut PushReport,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<()> {
        let shown = file.path.display().to_string();
        // What pass one reads, pass two must read again: a file that changed in between (by
        // size or modification time) sends nothing and waits for the next run.
        let planned = seen.clone().or_else(|| inbox::Seen::at(&file.path));
        let limit = match &seen {
            Some(seen) => seen.len(),
            None => std::fs::metadata(&file.path)
                .map_err(|source| MappingError::Read {
                    file: shown.clone(),
                    source,
                })?
                .len(),
        };
        let (mapping, path, name, checked) = (
            self.mapping.clone(),
            file.path.clone(),
            shown.clone(),
            seen.clone(),
        );
        let prepared = tokio::task::spawn_blocking(move || {
            read::prepare(&mapping, &path, &name, limit, checked.as_ref())
        })
        .await??;
        let plan = match prepared {
            Prepared::Ready(plan) => plan,
            Prepared::Wait(why) => {
                self.wait(file, &why, report);
                return Ok(());
            }
            Prepared::Rejected(e) => {
                let rejection = match e {
                    MappingError::FailFile { rejection } => rejection,
                    e => file_rejection(&shown, &e),
                };
                let mut rejections = FileRejections::new();
                rejections.add(&rejection)?;
                let outcome = FileOutcome::default();
                return self.finish_file(file, seen, rejections, &outcome, report, observer);
            }
        };
        if planned.is_some_and(|p| !p.unchanged(&file.path)) {
            self.wait(
                file,
                "it changed after it was first read; nothing of it was sent",
                report,
            );
            return Ok(());
        }
        let (tx, rx) = read::channel();
        let (mapping, path, name) = (self.mapping.clone(), file.path.clone(), shown.clone());
        let reader = tokio::task::spawn_blocking(move || {
            read::read_batches(&mapping, &path, &name, limit, &plan, tx)
        });
        let mut rejections = FileRejections::new();
        let mut outcome = FileOutcome::default();
        let sent = self
            .send_file(file, rx, &mut rejections, &mut outcome, report, observer)
            .await;
        // On an error the channel is closed, so the reader stops at its next batch.
        let read = reader.await?;
        sent?;
        let changed = match read {
            Ok(stats) => {
                report.orders_held_peak = report.orders_held_peak.max(stats.orders_held_peak);
                false
            }
            Err(e @ (MappingError::Changed { .. } | MappingError::FailFile { .. })) => {
                tracing::warn!(file = %shown, error = %e, "The file changed while it was pushed; what was read went out, the rest waits for the next run.");
                true
            }
            Err(e) => return Err(e.into()),
        };
        if !self.options.dry_run && self.mapping.cancel_removed && outcome.failed == 0 && !changed {
            let file_name = file_name(&file.path);
            outcome.present.sort_unstable();
            let present =
                |number: &str| outcome.present.binary_search(&number_hash(number)).is_ok();
            report.cancelled +=
                send::cancel_removed(self.client, self.store, self.kind, &file_name, present)
                    .await?;
        }
        report.failed += outcome.failed;
        let seen = if changed { None } else { seen };
        if changed {
            report.files_waiting += 1;
            outcome.failed += 1;
        }
        self.finish_file(file, seen, rejections, &outcome, report, observer)
    }

    /// Every batch the reader sends: its rejections kept, its orders checked and sent.
    async fn send_file(
        &self,
        file: &InputFile,
        mut rx: tokio::sync::mpsc::Receiver<read::Batch>,
        rejections: &mut FileRejections,
        outcome: &mut FileOutcome,
        report: &mut PushReport,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<()> {
        let shown = file.path.display().to_string();
        let name = file_name(&file.path);
        let mut catalog = Catalog::default();
        let track = self.mapping.cancel_removed;
        while let Some(batch) = rx.recv().await {
            let (orders, unknown) = check_items(self.client, &mut catalog, batch.orders).await?;
            if let Some(progress) = &self.progress {
                let read = orders.len() as u64;
                let total = self
                    .total
                    .fetch_add(read, std::sync::atomic::Ordering::Relaxed)
                    + read;
                progress.set_total(total);
            }
            for r in batch.rejections.iter().chain(&unknown) {
                if let (true, Some(number)) = (track, &r.order) {
                    outcome.present.push(number_hash(number));
                }
                rejections.add(r)?;
            }
            let outcomes = send_batch(
                Batches {
                    client: self.client,
                    store: self.store,
                    kind: self.kind,
                    file: &name,
                    dry_run: self.options.dry_run,
                    concurrency: self.options.concurrency,
                    progress: self.progress.as_deref(),
                },
                orders,
            )
            .await?;
            for (order, result) in outcomes {
                if track {
                    outcome.present.push(number_hash(&order.number));
                }
                let (counter, verb) = match result {
                    Ok(Outcome::Rejected(list)) => {
                        for r in &list {
                            rejections.add(r)?;
                        }
                        continue;
                    }
                    Err(e) => {
                        outcome.failed += 1;
                        self.failed(&shown, &order, &e, report, observer);
                        continue;
                    }
                    Ok(Outcome::Created) => (
                        &mut report.stats.created,
                        self.verb("created  ", "would create"),
                    ),
                    Ok(Outcome::Updated) => (
                        &mut report.stats.updated,
                        self.verb("updated  ", "would update"),
                    ),
                    Ok(Outcome::Unchanged) => (&mut report.stats.unchanged, "unchanged"),
                };
                *counter += 1;
                report.stats.rows_read += 1;
                observer.plan(&format!("{verb} {} ({shown}:{})", order.number, order.line));
            }
        }
        Ok(())
    }

    /// An order that could not be sent this time; its file stays for the next run.
    fn failed(
        &self,
        shown: &str,
        order: &SourceOrder,
        e: &SendError,
        report: &mut PushReport,
        observer: &mut dyn Observer,
    ) {
        report.stats.rows_read += 1;
        let error = crate::error::Chain(e);
        tracing::error!(order = %order.number, file = %shown, error = %error, "Order not pushed; it will be tried again.");
        observer.plan(&format!(
            "failed    {} ({shown}:{}): {error}",
            order.number, order.line
        ));
    }

    /// Record the file's rejections, in line order, and move it out of the inbox, unless some
    /// orders must be tried again or it was written to while it was pushed (`seen` no longer
    /// matches).
    fn finish_file(
        &self,
        file: &InputFile,
        seen: Option<inbox::Seen>,
        mut rejections: FileRejections,
        outcome: &FileOutcome,
        report: &mut PushReport,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<()> {
        report.stats.rejected += rejections.len();
        let verb = self.verb("rejected ", "would reject");
        let mut chunk = Vec::new();
        rejections.for_each(|r| {
            observer.plan(&format!("{verb} {r}"));
            observer.rejection(&r);
            if !self.options.dry_run {
                chunk.push(r);
                if chunk.len() >= read::BATCH {
                    record_rejections(self.store, self.run, self.kind, &chunk)?;
                    chunk.clear();
                }
            }
            Ok(())
        })?;
        if self.options.dry_run {
            return Ok(());
        }
        record_rejections(self.store, self.run, self.kind, &chunk)?;
        if seen.is_some_and(|seen| !seen.unchanged(&file.path)) {
            // Written to while it was pushed: what was read went out, the rest is read by
            // the next run (orders already sent are unchanged then and cost nothing).
            tracing::warn!(file = %file.path.display(), "Inbox file changed while it was pushed; left in the inbox for the next run.");
            report.files_waiting += 1;
        } else if file.from_inbox && outcome.failed == 0 {
            if settle_file(&file.path, &mut rejections)? {
                report.files_failed += 1;
            } else {
                report.files_done += 1;
            }
        }
        Ok(())
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Orders are sent in batches: one query reads the ledger rows of a batch, one transaction marks
/// its new orders `sending` before any of them goes out, and one transaction records the orders
/// AHEAD took. Three SQLite transactions per order made the ledger, not the network, the cost
/// of a push.
/// What every batch of one file's orders is sent with.
struct Batches<'a> {
    client: &'a ApiClient,
    store: &'a Store,
    kind: OrderKind,
    file: &'a str,
    dry_run: bool,
    concurrency: usize,
    /// Told of each order sent.
    progress: Option<&'a dyn crate::progress::Progress>,
}

async fn send_batch(
    batches: Batches<'_>,
    batch: Vec<SourceOrder>,
) -> anyhow::Result<Vec<(SourceOrder, Result<Outcome, SendError>)>> {
    let Batches {
        client,
        store,
        kind,
        file,
        dry_run,
        concurrency,
        progress,
    } = batches;
    let mut outcomes = Vec::with_capacity(batch.len());
    if batch.is_empty() {
        return Ok(outcomes);
    }
    let numbers: Vec<String> = batch.iter().map(|o| o.number.clone()).collect();
    let entries = store.ledger_entries(kind.as_str(), &numbers)?;
    if dry_run {
        outcomes.extend(batch.into_iter().map(|o| {
            let plan = send::plan(entries.get(&o.number), &o);
            (o, Ok(plan))
        }));
        return Ok(outcomes);
    }
    let batch: Vec<Outgoing> = batch.into_iter().map(Outgoing::new).collect();
    let marks: Vec<LedgerWrite> = batch
        .iter()
        .filter(|o| send::needs_post(entries.get(&o.order.number)))
        .map(|o| {
            ledger_write(
                kind,
                file,
                &o.order,
                LedgerState::Sending,
                &o.hash,
                None,
                o.json.clone(),
            )
        })
        .collect();
    store.ledger_put_many(&marks, now_unix())?;
    let results: Vec<(Outgoing, send::Sent)> =
        futures::stream::iter(batch.into_iter().map(|order| {
            let entry = entries.get(&order.order.number);
            let marked = send::needs_post(entry);
            async move {
                let result = send::send(client, store, kind, file, &order, entry, marked).await;
                if let Some(progress) = progress {
                    progress.advance(1);
                }
                (order, result)
            }
        }))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut sent = Vec::new();
    let mut stop = None;
    for (order, result) in results {
        let outcome = match result {
            Ok((outcome, write)) => {
                sent.extend(write);
                Ok(outcome)
            }
            Err(SendError::Api(e)) if e.fails_every_request() => {
                stop.get_or_insert(e);
                continue;
            }
            Err(e) => Err(e),
        };
        outcomes.push((order.order, outcome));
    }
    store.ledger_put_many(&sent, now_unix())?;
    // Every other order would fail the same way (credentials refused, AHEAD unreachable);
    // what AHEAD took is committed above, the file stays in the inbox, and the error keeps
    // its kind up to the exit code.
    if let Some(e) = stop {
        return Err(e.into());
    }
    Ok(outcomes)
}

/// A whole-file problem as a rejection, so it is recorded and reported like the others.
fn file_rejection(file: &str, e: &MappingError) -> Rejection {
    let line = match e {
        MappingError::Unreadable { line, .. } => *line,
        _ => 1,
    };
    Rejection {
        file: file.to_string(),
        line,
        segment: None,
        order: None,
        field: None,
        reason: e.to_string(),
    }
}

/// Item numbers already looked up in AHEAD's catalog during this file: each is asked about
/// once. Bounded by the distinct item numbers of the file.
#[derive(Default)]
struct Catalog {
    known: HashSet<String>,
    unknown: HashSet<String>,
}

/// Split a batch of orders into those whose every item exists in AHEAD's catalog and
/// rejections for the lines that name an unknown item.
async fn check_items(
    client: &ApiClient,
    catalog: &mut Catalog,
    orders: Vec<SourceOrder>,
) -> anyhow::Result<(Vec<SourceOrder>, Vec<Rejection>)> {
    let wanted: BTreeSet<String> = orders
        .iter()
        .flat_map(|o| o.item_numbers().into_iter())
        .filter(|n| !catalog.known.contains(*n) && !catalog.unknown.contains(*n))
        .map(str::to_string)
        .collect();
    let wanted: Vec<String> = wanted.into_iter().collect();
    for batch in wanted.chunks(100) {
        let q = Query::new()
            .is_in(
                "item_number",
                batch.iter().map(|s| Value::from(s.as_str())).collect(),
            )
            .limit(batch.len() as u32);
        let envelope = client.get(resource::ITEMS, Some(&q)).await?;
        for row in envelope.results {
            let v: Value = serde_json::from_str(row.get())?;
            if let Some(n) = v["item_number"].as_str() {
                catalog.known.insert(n.to_string());
            }
        }
        for n in batch {
            if !catalog.known.contains(n) {
                catalog.unknown.insert(n.clone());
            }
        }
    }
    let known = &catalog.known;
    let mut good = Vec::with_capacity(orders.len());
    let mut rejections = Vec::new();
    for order in orders {
        let unknown: Vec<Rejection> = order
            .item_numbers()
            .iter()
            .enumerate()
            .filter(|(_, item)| !known.contains(**item))
            .map(|(i, item)| Rejection {
                file: order.file.clone(),
                line: order.lines.get(i).copied().unwrap_or(order.line),
                segment: None,
                order: Some(order.number.clone()),
                field: Some(format!("lines[{i}].item_number")),
                reason: format!("unknown item {item:?}: not in AHEAD's item catalog"),
            })
            .collect();
        if unknown.is_empty() {
            good.push(order);
        } else {
            rejections.extend(unknown);
        }
    }
    Ok((good, rejections))
}

/// Rejections go to the change log (change `rejected`), where `status` counts them and
/// `export changes` lists them.
fn record_rejections(
    store: &Store,
    run: i64,
    kind: OrderKind,
    rejections: &[Rejection],
) -> anyhow::Result<()> {
    if rejections.is_empty() {
        return Ok(());
    }
    let write = PageWrite {
        changes: rejections
            .iter()
            .map(|r| Change {
                record_id: None,
                key: r
                    .order
                    .clone()
                    .unwrap_or_else(|| format!("{}:{}", r.file, r.line)),
                kind: ChangeKind::Rejected,
                fields: r.field.clone().unwrap_or_default(),
                before: None,
                after: None,
                detail: r.to_string(),
            })
            .collect(),
        ..PageWrite::default()
    };
    store.write_page(kind.stream().name(), run, &crate::time::now(), &write)?;
    Ok(())
}

/// Whether `path` looks like an order file (not our own `.errors.csv` or a hidden file).
pub(crate) fn is_order_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    (meta.is_file() || meta.file_type().is_symlink())
        && !name.starts_with('.')
        && !name.ends_with(".errors.csv")
        && !name.ends_with(".partial")
}
