//! `sync`: the main job. Pushes first, then pulls (so the mirror reflects what was just sent),
//! each as its own job with its own lock and run record. A failing job does not stop the
//! others, except rejected credentials, which stop the rest (every job would fail the same way).
//! The exit code is the worst outcome.

use super::context::Context;
use super::push::{self, PushArgs};
use crate::cli::OrderKind;
use crate::error::{exit_for, Exit};
use crate::pull::{self, StreamKind};
use crate::settings::Settings;

/// How bad an outcome is, for "the worst outcome wins".
fn severity(exit: Exit) -> u8 {
    match exit {
        Exit::Ok => 0,
        Exit::Rejected => 1,
        Exit::Locked => 2,
        Exit::Usage => 3,
        Exit::Failed => 4,
        Exit::Credentials => 5,
    }
}

pub fn worst(a: Exit, b: Exit) -> Exit {
    if severity(b) > severity(a) {
        b
    } else {
        a
    }
}

pub async fn run(settings: &Settings, progress: bool) -> anyhow::Result<Exit> {
    let ctx = Context::open(settings).await?;
    let outcome = run_in(&ctx, settings, progress).await;
    ctx.close().await?;
    Ok(outcome)
}

/// Every job of a sync in an open context; returns the worst outcome.
pub async fn run_in(ctx: &Context, settings: &Settings, progress: bool) -> Exit {
    let started = std::time::Instant::now();
    let mut outcome = Exit::Ok;
    let mut jobs = Vec::new();
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
            Ok(Some((mapping, files))) => {
                settle(push::run_in(ctx, settings, kind, &mapping, &files, false).await)
            }
            Err(e) => settle(Err(e)),
        };
        jobs.push(format!("push {}={}", kind_name(kind), exit as u8));
        outcome = worst(outcome, exit);
        if exit == Exit::Credentials {
            break;
        }
    }
    if outcome != Exit::Credentials {
        for stream in StreamKind::ALL {
            let exit = match pull::choose_mode(&ctx.store, stream, &settings.pull, false) {
                Ok(mode) => settle(
                    super::pull::pull_recorded(ctx, settings, stream, mode, "", progress)
                        .await
                        .map(|_| Exit::Ok),
                ),
                Err(e) => settle(Err(e.into())),
            };
            jobs.push(format!("pull {}={}", stream.name(), exit as u8));
            outcome = worst(outcome, exit);
            if exit == Exit::Credentials {
                break;
            }
        }
    }
    tracing::info!(
        job = "sync",
        exit = outcome as u8,
        jobs = %jobs.join(" "),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "Sync finished."
    );
    outcome
}

/// A job's exit code; its error was already recorded and logged by the job itself, except the
/// ones that stop it before it starts (a lock held elsewhere, a bad mapping).
fn settle(result: anyhow::Result<Exit>) -> Exit {
    match result {
        Ok(exit) => exit,
        Err(e) => {
            let exit = exit_for(&e);
            if matches!(exit, Exit::Locked | Exit::Usage) {
                tracing::warn!(error = %format!("{e:#}"), "Job skipped.");
            }
            exit
        }
    }
}

fn kind_name(kind: OrderKind) -> &'static str {
    match kind {
        OrderKind::PurchaseOrders => "purchase_orders",
        OrderKind::FulfillmentOrders => "fulfillment_orders",
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
        assert_eq!(worst(Exit::Locked, Exit::Rejected), Exit::Locked);
        assert_eq!(worst(Exit::Failed, Exit::Credentials), Exit::Credentials);
    }
}
