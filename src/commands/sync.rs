//! `sync`: the main job. Pushes first, then pulls (so the mirror reflects what was just sent),
//! then the outboxes (so what the pulls recorded reaches the ERP in the same sync),
//! each as its own job with its own lock and run record. A failing job does not stop the
//! others, except rejected credentials, which stop the rest (every job would fail the same way).
//! The exit code is the worst outcome.

use super::context::Context;
use super::push::{self, PushArgs};
use crate::cli::OrderKind;
use crate::error::{exit_for, stops_sync, Exit};
use crate::lock;
use crate::pull::{self, StreamKind};
use crate::settings::Settings;

/// How bad an outcome is, for "the worst outcome wins" (product.md: 5, 1, 2, 3, 4, 0). Rejected
/// rows need a person; a job skipped because another run holds it does not.
fn severity(exit: Exit) -> u8 {
    match exit {
        Exit::Ok => 0,
        Exit::Locked => 1,
        Exit::Rejected => 2,
        Exit::Usage => 3,
        Exit::Failed => 4,
        Exit::Credentials => 5,
    }
}

pub(crate) fn worst(a: Exit, b: Exit) -> Exit {
    if severity(b) > severity(a) {
        b
    } else {
        a
    }
}

/// `sync` is a job of its own: a second `sync` exits 4 at once, before it opens anything,
/// instead of interleaving with the first job by job.
pub(crate) async fn run(settings: &Settings, progress: bool) -> anyhow::Result<Exit> {
    let _lock = lock::acquire(&lock::lock_dir(&settings.store_path), JOB)?;
    let ctx = Context::open(settings).await?;
    let outcome = run_jobs(&ctx, settings, progress).await;
    ctx.close().await?;
    Ok(outcome)
}

/// A sync in an open context (the daemon's), under the same lock as `run`.
pub(crate) async fn run_in(
    ctx: &Context,
    settings: &Settings,
    progress: bool,
) -> anyhow::Result<Exit> {
    let _lock = lock::acquire(&lock::lock_dir(&settings.store_path), JOB)?;
    Ok(run_jobs(ctx, settings, progress).await)
}

const JOB: &str = "sync";

/// Every job of a sync in an open context; returns the worst outcome.
async fn run_jobs(ctx: &Context, settings: &Settings, progress: bool) -> Exit {
    let started = std::time::Instant::now();
    let mut outcome = Exit::Ok;
    let mut jobs = JobExits::default();
    // Set by a job whose error means every later one would fail the same way.
    let mut stop = false;
    for kind in [OrderKind::PurchaseOrders, OrderKind::FulfillmentOrders] {
        if !push::configured(settings, kind) {
            continue;
        }
        let args = PushArgs {
            kind,
            files: Vec::new(),
            mapping: None,
            dry_run: false,
        };
        let exit = match push::prepare(settings, &args) {
            Ok(None) => Exit::Ok,
            Ok(Some((mapping, files))) => settle(
                push::run_in(ctx, settings, kind, &mapping, &files, false, progress).await,
                &mut stop,
            ),
            Err(e) => settle(Err(e), &mut stop),
        };
        jobs.set_push(kind, exit);
        outcome = worst(outcome, exit);
        if stop {
            break;
        }
    }
    if !stop {
        for stream in StreamKind::ALL {
            let exit = match pull::choose_mode(&ctx.store, stream, &settings.pull, false) {
                Ok(mode) => settle(
                    super::pull::pull_recorded(ctx, settings, stream, mode, "", progress)
                        .await
                        .map(|_| Exit::Ok),
                    &mut stop,
                ),
                Err(e) => settle(Err(e.into()), &mut stop),
            };
            jobs.set_pull(stream, exit);
            outcome = worst(outcome, exit);
            if stop {
                break;
            }
        }
    }
    if !stop {
        // After the pulls, so that what they recorded goes out in the same sync.
        for ob in &settings.outboxes {
            let exit = settle(
                super::outbox::run_one_in(ctx, settings, ob, progress).await,
                &mut stop,
            );
            tracing::info!(job = "sync", outbox = %ob.name, exit = exit as u8, "Outbox done.");
            jobs.set_outbox(exit);
            outcome = worst(outcome, exit);
        }
    }
    if stop {
        tracing::error!(
            job = "sync",
            "Sync stopped early: AHEAD refused the credentials or could not be reached, so every other job would fail the same way."
        );
    }
    // One field per job: a log shipper reads `pull_inventory` as a number, not out of a list.
    // A job that did not run (a push without an inbox, the jobs after a stop) has no field.
    tracing::info!(
        job = "sync",
        exit = outcome as u8,
        push_purchase_orders = jobs.push_purchase_orders,
        push_fulfillment_orders = jobs.push_fulfillment_orders,
        pull_inventory = jobs.pull_inventory,
        pull_invoices = jobs.pull_invoices,
        pull_shipments = jobs.pull_shipments,
        pull_purchase_orders = jobs.pull_purchase_orders,
        pull_fulfillment_orders = jobs.pull_fulfillment_orders,
        outboxes = jobs.outboxes,
        outbox = jobs.outbox.map(|e| e as u8),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "Sync finished."
    );
    outcome
}

/// The exit code of each job of a sync that ran.
#[derive(Default)]
struct JobExits {
    push_purchase_orders: Option<u8>,
    push_fulfillment_orders: Option<u8>,
    pull_inventory: Option<u8>,
    pull_invoices: Option<u8>,
    pull_shipments: Option<u8>,
    pull_purchase_orders: Option<u8>,
    pull_fulfillment_orders: Option<u8>,
    /// Outboxes run (each also has a line of its own, naming it).
    outboxes: u64,
    /// The worst exit of the outboxes run.
    outbox: Option<Exit>,
}

impl JobExits {
    fn set_push(&mut self, kind: OrderKind, exit: Exit) {
        let slot = match kind {
            OrderKind::PurchaseOrders => &mut self.push_purchase_orders,
            OrderKind::FulfillmentOrders => &mut self.push_fulfillment_orders,
        };
        *slot = Some(exit as u8);
    }

    fn set_outbox(&mut self, exit: Exit) {
        self.outboxes += 1;
        self.outbox = Some(self.outbox.map_or(exit, |so_far| worst(so_far, exit)));
    }

    fn set_pull(&mut self, stream: StreamKind, exit: Exit) {
        let slot = match stream {
            StreamKind::Inventory => &mut self.pull_inventory,
            StreamKind::Invoices => &mut self.pull_invoices,
            StreamKind::Shipments => &mut self.pull_shipments,
            StreamKind::PurchaseOrders => &mut self.pull_purchase_orders,
            StreamKind::FulfillmentOrders => &mut self.pull_fulfillment_orders,
        };
        *slot = Some(exit as u8);
    }
}

/// A job's exit code; its error was already recorded and logged by the job itself, except the
/// ones that stop it before it starts (a lock held elsewhere, a bad mapping). Sets `stop` when
/// the error means every later job would fail the same way.
fn settle(result: anyhow::Result<Exit>, stop: &mut bool) -> Exit {
    match result {
        Ok(exit) => exit,
        Err(e) => {
            *stop |= stops_sync(&e);
            let exit = exit_for(&e);
            match exit {
                // Another run of the job is doing the work: nothing is wrong.
                Exit::Locked => log_skipped(&e),
                Exit::Usage => tracing::warn!(error = %format!("{e:#}"), "Job skipped."),
                _ => {}
            }
            exit
        }
    }
}

/// A job skipped because another run holds its lock, at INFO: the holder by its pid, or, when
/// it is this very process (another job of the same daemon), said so.
pub(crate) fn log_skipped(e: &anyhow::Error) {
    match e.chain().find_map(|c| c.downcast_ref::<lock::LockError>()) {
        Some(held @ lock::LockError::Held { job, holder }) => {
            if held.held_here() {
                tracing::info!(
                    job = %job,
                    "Job skipped: another job of this process is running it."
                );
            } else {
                tracing::info!(job = %job, holder = %holder, "Job skipped: another run holds its lock.");
            }
        }
        _ => tracing::info!(error = %format!("{e:#}"), "Job skipped."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_outcome_wins() {
        assert_eq!(worst(Exit::Ok, Exit::Rejected), Exit::Rejected);
        assert_eq!(worst(Exit::Rejected, Exit::Failed), Exit::Failed);
        assert_eq!(worst(Exit::Failed, Exit::Rejected), Exit::Failed);
        assert_eq!(worst(Exit::Locked, Exit::Rejected), Exit::Rejected);
        assert_eq!(worst(Exit::Failed, Exit::Credentials), Exit::Credentials);
        // product.md: 5, 1, 2, 3, 4, 0, whatever order the jobs ran in.
        let order = [
            Exit::Credentials,
            Exit::Failed,
            Exit::Usage,
            Exit::Rejected,
            Exit::Locked,
            Exit::Ok,
        ];
        for (i, better) in order.iter().enumerate() {
            for worse in &order[..i] {
                assert_eq!(worst(*better, *worse), *worse);
                assert_eq!(worst(*worse, *better), *worse);
            }
        }
    }
}
