//! Push purchase and fulfillment orders read from ERP files, exactly once.
//!
//! For each file: map and validate every order (`mapping`, pure), check item numbers against
//! AHEAD's catalog, then send each valid order with bounded concurrency according to the push
//! ledger: a new order is written to the ledger as `sending` (committed) and then POSTed; an
//! order whose content changed since it was sent becomes one PUT; an unchanged one costs nothing.
//! A POST whose answer was lost is resolved by looking the order up by its number; a 409 adopts
//! the existing record. Rejections (mapping, validation, unknown items, AHEAD's 422s) are
//! recorded with file, line, field and reason in the change log, and the rest of the file still
//! goes through.

mod inbox;
mod send;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::api::contract::resource;
use crate::api::{ApiClient, Query};
use crate::kinds::OrderKind;
use crate::mapping::{read_orders, Mapping, MappingError, Rejection, SourceOrder};
use crate::store::{Change, ChangeKind, LedgerState, LedgerWrite, PageWrite, RunStats, Store};
use crate::time::now_unix;
pub use inbox::take;
pub(crate) use inbox::{inbox_files, requeue, settle_file, RequeueError, Taken};
pub use send::ledger_write;
use send::Outgoing;
pub(crate) use send::{Outcome, SendError};

/// One input file, and whether it came from the inbox (then it moves when done).
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    pub from_inbox: bool,
}

/// What a push did, and for `--dry-run` what it would do.
#[derive(Debug, Default)]
pub struct PushReport {
    pub stats: RunStats,
    pub cancelled: u64,
    /// Orders that failed for a reason worth retrying (their file stays in the inbox).
    pub failed: u64,
    pub rejections: Vec<Rejection>,
    /// One line per order (and per rejection): what happened or would happen.
    pub plan: Vec<String>,
    pub files_done: u64,
    pub files_failed: u64,
    /// Inbox files not taken this time (still being written, or changed while pushed).
    pub files_waiting: u64,
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

/// Push `files` through `mapping`, recorded as run `run`.
pub async fn push(
    client: &ApiClient,
    store: &Store,
    run: i64,
    mapping: &Mapping,
    files: &[InputFile],
    options: &PushOptions,
) -> anyhow::Result<PushReport> {
    push_observed(client, store, run, mapping, files, options, None).await
}

/// `push`, reporting to `progress` the orders it sends, of all those read so far (files are
/// read one at a time, so the total grows as they are).
pub async fn push_observed(
    client: &ApiClient,
    store: &Store,
    run: i64,
    mapping: &Mapping,
    files: &[InputFile],
    options: &PushOptions,
    progress: crate::progress::Observer,
) -> anyhow::Result<PushReport> {
    let kind = mapping.order_kind()?;
    let job = Push {
        client,
        store,
        run,
        mapping,
        kind,
        options: *options,
        progress: if options.dry_run { None } else { progress },
        total: std::sync::atomic::AtomicU64::new(0),
    };
    let mut report = PushReport::default();
    for file in files {
        match take(file, mapping, options.settle)? {
            Taken::Ready(bytes, seen) => job.push_file(file, &bytes, seen, &mut report).await?,
            Taken::Wait(why) => {
                tracing::info!(file = %file.path.display(), reason = %why, "Inbox file left for a later run.");
                report.files_waiting += 1;
            }
            Taken::Refused(why) => job.refuse(file, why, &mut report)?,
        }
    }
    Ok(report)
}

/// One push run: what every file of it shares.
struct Push<'a> {
    client: &'a ApiClient,
    store: &'a Store,
    run: i64,
    mapping: &'a Mapping,
    /// The kind of order the mapping produces.
    kind: OrderKind,
    options: PushOptions,
    /// Told of every order sent (not in a dry run).
    progress: crate::progress::Observer,
    /// Orders read so far, the total `progress` is given.
    total: std::sync::atomic::AtomicU64,
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

    /// A file rejected as a whole before it is read (a symbolic link in the inbox).
    fn refuse(&self, file: &InputFile, why: String, report: &mut PushReport) -> anyhow::Result<()> {
        let rejection = Rejection {
            file: file.path.display().to_string(),
            line: 1,
            segment: None,
            order: None,
            field: None,
            reason: why,
        };
        let verb = self.verb("rejected ", "would reject");
        report.plan.push(format!("{verb} {rejection}"));
        report.stats.rejected += 1;
        if !self.options.dry_run {
            let rejected = std::slice::from_ref(&rejection);
            record_rejections(self.store, self.run, self.kind, rejected)?;
            settle_file(&file.path, rejected)?;
            report.files_failed += 1;
        }
        report.rejections.push(rejection);
        Ok(())
    }

    /// Map, check and send one file's orders, then settle the file.
    async fn push_file(
        &self,
        file: &InputFile,
        bytes: &[u8],
        seen: Option<inbox::Seen>,
        report: &mut PushReport,
    ) -> anyhow::Result<()> {
        let shown = file.path.display().to_string();
        let name = file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (orders, mut rejections) = match read_orders(self.mapping, &shown, bytes) {
            Ok(read) => (read.orders, read.rejections),
            Err(MappingError::FailFile { rejection }) => (Vec::new(), vec![rejection]),
            Err(e @ (MappingError::MissingColumn { .. } | MappingError::Unreadable { .. })) => {
                (Vec::new(), vec![file_rejection(&shown, &e)])
            }
            Err(e) => return Err(e.into()),
        };
        let (orders, unknown) = check_items(self.client, orders).await?;
        rejections.extend(unknown);
        if let Some(progress) = &self.progress {
            let read = orders.len() as u64;
            let total = self
                .total
                .fetch_add(read, std::sync::atomic::Ordering::Relaxed)
                + read;
            progress.set_total(total);
        }
        let outcomes = send_batches(
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
        let mut present: HashSet<String> =
            rejections.iter().filter_map(|r| r.order.clone()).collect();
        let mut failed = 0;
        for (order, outcome) in outcomes {
            present.insert(order.number.clone());
            let (counter, verb) = match outcome {
                Ok(Outcome::Rejected(list)) => {
                    rejections.extend(list);
                    continue;
                }
                Err(e) => {
                    failed += 1;
                    self.failed(&shown, &order, &e, report);
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
            report
                .plan
                .push(format!("{verb} {} ({shown}:{})", order.number, order.line));
        }
        if !self.options.dry_run && self.mapping.cancel_removed && failed == 0 {
            report.cancelled +=
                send::cancel_removed(self.client, self.store, self.kind, &name, &present).await?;
        }
        report.failed += failed;
        self.finish_file(file, seen, rejections, failed, report)
    }

    /// An order that could not be sent this time; its file stays for the next run.
    fn failed(&self, shown: &str, order: &SourceOrder, e: &SendError, report: &mut PushReport) {
        report.stats.rows_read += 1;
        let error = crate::error::Chain(e);
        tracing::error!(order = %order.number, file = %shown, error = %error, "Order not pushed; it will be tried again.");
        report.plan.push(format!(
            "failed    {} ({shown}:{}): {error}",
            order.number, order.line
        ));
    }

    /// Record the file's rejections and move it out of the inbox, unless some orders must be
    /// tried again or it was written to while it was pushed.
    fn finish_file(
        &self,
        file: &InputFile,
        seen: Option<inbox::Seen>,
        mut rejections: Vec<Rejection>,
        failed: u64,
        report: &mut PushReport,
    ) -> anyhow::Result<()> {
        rejections.sort_by_key(|r| r.line);
        report.stats.rejected += rejections.len() as u64;
        let verb = self.verb("rejected ", "would reject");
        report
            .plan
            .extend(rejections.iter().map(|r| format!("{verb} {r}")));
        if !self.options.dry_run {
            record_rejections(self.store, self.run, self.kind, &rejections)?;
            if seen.is_some_and(|seen| !seen.unchanged(&file.path)) {
                // Written to while it was pushed: what was read went out, the rest is read by
                // the next run (orders already sent are unchanged then and cost nothing).
                tracing::warn!(file = %file.path.display(), "Inbox file changed while it was pushed; left in the inbox for the next run.");
                report.files_waiting += 1;
            } else if file.from_inbox && failed == 0 {
                if settle_file(&file.path, &rejections)? {
                    report.files_failed += 1;
                } else {
                    report.files_done += 1;
                }
            }
        }
        report.rejections.extend(rejections);
        Ok(())
    }
}

/// Orders are sent in batches: one query reads the ledger rows of a batch, one transaction marks
/// its new orders `sending` before any of them goes out, and one transaction records the orders
/// AHEAD took. Three SQLite transactions per order made the ledger, not the network, the cost
/// of a push.
const BATCH: usize = 256;

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

async fn send_batches(
    batches: Batches<'_>,
    orders: Vec<SourceOrder>,
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
    let mut outcomes = Vec::with_capacity(orders.len());
    let mut orders = orders.into_iter().peekable();
    while orders.peek().is_some() {
        let batch: Vec<SourceOrder> = orders.by_ref().take(BATCH).collect();
        let numbers: Vec<String> = batch.iter().map(|o| o.number.clone()).collect();
        let entries = store.ledger_entries(kind.as_str(), &numbers)?;
        if dry_run {
            outcomes.extend(batch.into_iter().map(|o| {
                let plan = send::plan(entries.get(&o.number), &o);
                (o, Ok(plan))
            }));
            continue;
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

/// Split orders into those whose every item exists in AHEAD's catalog and rejections for the
/// lines that name an unknown item.
async fn check_items(
    client: &ApiClient,
    orders: Vec<SourceOrder>,
) -> anyhow::Result<(Vec<SourceOrder>, Vec<Rejection>)> {
    let wanted: BTreeSet<String> = orders
        .iter()
        .flat_map(|o| o.item_numbers().into_iter().map(str::to_string))
        .collect();
    let mut known = HashSet::new();
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
                known.insert(n.to_string());
            }
        }
    }
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
