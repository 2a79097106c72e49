//! The state every handler and the control surface share, behind one `Arc`.
//!
//! Each part has its own lock so a page render (world) never waits on a token check (auth)
//! or a counter bump. Locks are std mutexes held for short, synchronous sections only;
//! nothing awaits while holding one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::mpsc;

use super::faults::Faults;
use super::oauth::Auth;
use super::world::{Event, World};
use super::SandboxConfig;

/// What the sandbox has seen, for tests to assert on.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counters {
    /// Requests by `"METHOD /route-template"`, e.g. `"GET /v2/purchase_orders/{id}"`.
    pub requests: BTreeMap<String, u64>,
    pub grants_issued: u64,
    pub grant_exchanges: u64,
    pub refreshes: u64,
    pub rejected_refreshes: u64,
    /// 401s answered on /v2.
    pub unauthorized: u64,
    /// 429s answered.
    pub rate_limited: u64,
    /// 5xx answered because of `fail_next`.
    pub injected_failures: u64,
    /// Connections dropped after a committed order write.
    pub dropped_connections: u64,
    /// Successful creates per po_number / order_number.
    pub creates_by_number: BTreeMap<String, u64>,
    /// Webhook delivery attempts, successful deliveries, and failed attempts.
    pub webhook_deliveries: u64,
    pub webhook_delivered: u64,
    pub webhook_failures: u64,
    /// Events raised (each is delivered to every matching subscription).
    pub events_raised: u64,
}

pub(crate) struct Shared {
    pub config: SandboxConfig,
    pub world: Mutex<World>,
    pub auth: Mutex<Auth>,
    pub faults: Mutex<Faults>,
    pub counters: Mutex<Counters>,
    /// Sandbox clock = wall clock + this offset (ms); moved by `advance_clock`.
    pub clock_offset_ms: AtomicI64,
    /// Events go to the webhook dispatcher through here, after the world lock is released.
    pub events: mpsc::UnboundedSender<Event>,
}

/// Locks, shrugging off poisoning: a panicked handler must not take the sandbox down.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Sandbox time in whole seconds since the Unix epoch.
    pub(crate) fn now(&self) -> i64 {
        let ms =
            chrono::Utc::now().timestamp_millis() + self.clock_offset_ms.load(Ordering::Relaxed);
        ms.div_euclid(1000)
    }

    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    /// Runs a world mutation at the sandbox's now, then hands the events it raised to the
    /// webhook dispatcher.
    pub(crate) fn mutate<T>(&self, f: impl FnOnce(&mut World, i64) -> T) -> T {
        let now = self.now();
        let (out, events) = {
            let mut w = self.world();
            w.generation += 1;
            let out = f(&mut w, now);
            (out, std::mem::take(&mut w.outbox))
        };
        if !events.is_empty() {
            self.count(|c| c.events_raised += events.len() as u64);
            for e in events {
                let _ = self.events.send(e);
            }
        }
        out
    }

    pub(crate) fn count(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut lock(&self.counters));
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }
}
