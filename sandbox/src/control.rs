//! `Control`: the in-process handle tests use to inject faults, read counters, move the
//! clock and change the world. The `/_sandbox/` routes are a thin JSON skin over it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::anyhow;
use rust_decimal::Decimal;

use super::faults::{Drift, Faults, TokenBucket};
use super::mutations::{NewInvoice, OrderKind};
use super::rules;
use super::server::App;
use super::shared::Counters;
use super::simulate::Activity;
use super::world::Doc;

/// A cheap, cloneable handle on a running sandbox.
#[derive(Clone)]
pub struct Control {
    pub(crate) app: App,
}

fn kind(kind: &str) -> anyhow::Result<OrderKind> {
    OrderKind::parse(kind).ok_or_else(|| {
        anyhow!("unknown order kind {kind:?}: use purchase_orders or fulfillment_orders")
    })
}

impl Control {
    // ---- Faults ----

    /// The access token in use is revoked after `k` more authorised /v2 requests.
    pub fn revoke_token_after(&self, k: u64) {
        self.app.faults().revoke_token_after = Some(k);
    }
    /// The next `n` refresh_token exchanges answer 400 invalid_grant and kill the token.
    pub fn reject_refresh(&self, n: u64) {
        self.app.faults().reject_refresh = n;
    }
    /// Every `n`th /v2 request answers 429 with `Retry-After: retry_after_secs`; 0 = off.
    pub fn rate_limit_every(&self, n: u64, retry_after_secs: u64) {
        let mut f = self.app.faults();
        f.rate_limit_every = n;
        f.retry_after_secs = retry_after_secs;
        f.rate_seen = 0;
    }
    /// AHEAD's rate limit as a token bucket over /v2 and /oauth requests (`None` = off); the
    /// bucket starts full. A request without a token answers 429 with the whole seconds until
    /// the next token as `Retry-After`.
    pub fn token_bucket(&self, limit: Option<TokenBucket>) {
        let mut f = self.app.faults();
        f.token_bucket = limit;
        f.bucket_level = None;
    }
    /// After `n` more /v2 requests pass, the next one answers 429 with
    /// `Retry-After: retry_after_secs`, once.
    pub fn rate_limit_after(&self, n: u64, retry_after_secs: u64) {
        let mut f = self.app.faults();
        f.rate_limit_after = Some(n);
        f.retry_after_secs = retry_after_secs;
    }
    /// The next `n` /v2 requests answer `status` (a 5xx).
    pub fn fail_next(&self, n: u64, status: u16) {
        let mut f = self.app.faults();
        f.fail_next = n;
        f.fail_status = status;
    }
    pub fn latency(&self, d: Duration) {
        self.app.faults().latency_ms = d.as_millis() as u64;
    }
    /// A lower silent cap on `limit`.
    pub fn page_cap(&self, n: usize) {
        self.app.faults().page_cap = Some(n);
    }
    /// Between the next two page requests of `resource`, delete `deletes` low-id rows and
    /// insert `inserts` rows with new ids.
    pub fn drift_next_pages(&self, resource: &str, inserts: usize, deletes: usize) {
        self.app.faults().drift = Some(Drift {
            resource: resource.to_string(),
            inserts,
            deletes,
            armed: false,
        });
    }
    /// The next `n` POST/PUT/DELETE on orders commit, then drop the connection unanswered.
    pub fn drop_after_commit(&self, n: u64) {
        self.app.faults().drop_after_commit = n;
    }
    /// The next `n` webhook events are delivered twice to each subscription.
    pub fn duplicate_webhooks(&self, n: u64) {
        self.app.faults().duplicate_webhooks = n;
    }
    pub fn clear_faults(&self) {
        *self.app.faults() = Faults::default();
    }
    pub fn faults(&self) -> Faults {
        self.app.faults().clone()
    }
    /// Applies a partial `Faults` given as JSON (the `/_sandbox/faults` body).
    pub fn patch_faults(&self, patch: &serde_json::Value) -> anyhow::Result<()> {
        self.app.faults().patch(patch).map_err(anyhow::Error::from)
    }

    // ---- Counters ----

    pub fn counters(&self) -> Counters {
        super::shared::lock(&self.app.counters).clone()
    }
    /// Requests to a route key such as `"GET /v2/inventory"`.
    pub fn requests_to(&self, route: &str) -> u64 {
        super::shared::lock(&self.app.counters)
            .requests
            .get(route)
            .copied()
            .unwrap_or(0)
    }
    pub fn reset_counters(&self) {
        *super::shared::lock(&self.app.counters) = Counters::default();
    }

    // ---- Clock ----

    /// Sandbox time: wall clock plus every `advance_clock` so far.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(self.app.now(), 0).unwrap_or_default()
    }
    /// Moves the sandbox clock forward: tokens and grants expire, timestamps jump.
    pub fn advance_clock(&self, d: Duration) {
        self.app
            .clock_offset_ms
            .fetch_add(d.as_millis() as i64, Ordering::Relaxed);
    }

    // ---- World ----

    /// Sets on-hand stock, creating the inventory row (new id) if the item was not there.
    pub fn set_stock(
        &self,
        item_number: &str,
        warehouse: &str,
        on_hand: i64,
    ) -> anyhow::Result<()> {
        self.app.mutate(|w, now| {
            let item = *w
                .item_index
                .get(item_number)
                .ok_or_else(|| anyhow!("no item {item_number}"))?;
            let wh = warehouse_index(warehouse)?;
            w.set_stock(item, wh, on_hand.clamp(0, i32::MAX as i64) as i32, now);
            Ok(())
        })
    }
    /// The item leaves the warehouse: its inventory row disappears.
    pub fn remove_inventory(&self, item_number: &str, warehouse: &str) -> anyhow::Result<()> {
        self.app.mutate(|w, _| {
            let item = *w
                .item_index
                .get(item_number)
                .ok_or_else(|| anyhow!("no item {item_number}"))?;
            let wh = warehouse_index(warehouse)?;
            anyhow::ensure!(
                w.remove_inventory(item, wh),
                "{item_number} is not stocked in {warehouse}"
            );
            Ok(())
        })
    }
    /// Raises an invoice (event `invoice.created`); returns it.
    pub fn create_invoice(&self, spec: &NewInvoice) -> anyhow::Result<Doc> {
        self.app
            .mutate(|w, now| w.create_invoice(spec, now))
            .map_err(anyhow::Error::from)
    }
    pub fn pay_invoice(&self, invoice_number: &str, amount: Decimal) -> anyhow::Result<Doc> {
        self.app
            .mutate(|w, now| w.pay_invoice(invoice_number, amount, now))
            .map_err(anyhow::Error::from)
    }
    pub fn void_invoice(&self, invoice_number: &str) -> anyhow::Result<Doc> {
        self.app
            .mutate(|w, now| w.void_invoice(invoice_number, now))
            .map_err(anyhow::Error::from)
    }
    /// Ships an order (`kind` = `purchase_orders` or `fulfillment_orders`); returns the shipment.
    pub fn ship_order(&self, kind_name: &str, number: &str) -> anyhow::Result<Doc> {
        let k = kind(kind_name)?;
        self.app
            .mutate(|w, now| w.ship_order(k, number, now))
            .map_err(anyhow::Error::from)
    }
    /// Delivers a shipped order (a purchase order becomes `closed`); returns the order.
    pub fn deliver_order(&self, kind_name: &str, number: &str) -> anyhow::Result<Doc> {
        let k = kind(kind_name)?;
        self.app
            .mutate(|w, now| w.deliver_order(k, number, now))
            .map_err(anyhow::Error::from)
    }
    /// Moves an order to any status of its kind (e.g. `in_production`, to test the PUT rule).
    pub fn set_order_status(
        &self,
        kind_name: &str,
        number: &str,
        status: &str,
    ) -> anyhow::Result<Doc> {
        let k = kind(kind_name)?;
        self.app
            .mutate(|w, now| w.set_order_status(k, number, status, now))
            .map_err(anyhow::Error::from)
    }
    /// Runs the activity generator for `elapsed` of simulated time ending now.
    pub fn simulate(&self, elapsed: Duration) -> Activity {
        self.app
            .mutate(|w, now| w.simulate(elapsed.as_secs() as i64, now))
    }

    // ---- Reads ----

    pub fn inventory_len(&self) -> usize {
        self.app.world().inventory.len()
    }
    pub fn items_len(&self) -> usize {
        self.app.world().items.len()
    }
    pub fn get_order(&self, kind_name: &str, number: &str) -> Option<Doc> {
        let k = kind(kind_name).ok()?;
        self.app.world().get_order(k, number)
    }
    pub fn get_invoice(&self, invoice_number: &str) -> Option<Doc> {
        let w = self.app.world();
        w.invoices
            .find("invoice_number", invoice_number)
            .map(|p| w.invoices.rows[p].clone())
    }
    /// Number of records in a document resource (invoices, orders, shipments, webhooks).
    pub fn count_of(&self, resource: &str) -> usize {
        let w = self.app.world();
        match resource {
            rules::ITEMS => w.items.len(),
            rules::INVENTORY => w.inventory.len(),
            _ => w.table(resource).map_or(0, |t| t.rows.len()),
        }
    }
}

fn warehouse_index(code: &str) -> anyhow::Result<u8> {
    rules::WAREHOUSES
        .iter()
        .position(|w| *w == code)
        .map(|p| p as u8)
        .ok_or_else(|| {
            anyhow!(
                "unknown warehouse {code:?}: one of {}",
                rules::WAREHOUSES.join(", ")
            )
        })
}
