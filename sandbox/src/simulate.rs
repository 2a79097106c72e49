//! Simulated activity (what happens at AHEAD while nobody watches) and page drift.
//!
//! `simulate` turns elapsed time into events in proportion (capped at a week) using only the
//! operations in `mutations`, with a generator seeded from the world seed, its serial and the
//! elapsed seconds: the same world and the same elapsed time give the same changes.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use super::faults::Drift;
use super::mutations::{NewInvoice, OrderKind};
use super::rules;
use super::seed::{self, CATALOG};
use super::world::World;

/// Elapsed time beyond this is treated as this: a month offline must not stall start-up.
pub(crate) const MAX_SIMULATED_SECS: i64 = 7 * 86_400;

/// What a `simulate` call changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Activity {
    pub stock_moves: u64,
    pub rows_removed: u64,
    pub rows_added: u64,
    pub invoices_created: u64,
    pub payments: u64,
    pub orders_created: u64,
    pub orders_shipped: u64,
    pub orders_delivered: u64,
}

/// The stretch of time a simulation covers.
struct Window {
    start: i64,
    elapsed: i64,
    now: i64,
}

impl Window {
    /// The `i`th of `n` moments spread over the window, so `updated_at` values look like real
    /// history.
    fn at(&self, i: i64, n: i64) -> i64 {
        self.start + (i + 1) * self.elapsed / (n + 1)
    }
}

impl World {
    /// Simulates `elapsed_secs` of activity ending at `now`. Per hour: 60 stock moves,
    /// one invoice, 2/3 payment, 1/2 order created and shipped, 1/4 delivery, 1/4 row
    /// leaving a warehouse and 1/4 arriving.
    pub(crate) fn simulate(&mut self, elapsed_secs: i64, now: i64) -> Activity {
        let elapsed = elapsed_secs.clamp(0, MAX_SIMULATED_SECS);
        let minutes = elapsed / 60;
        let mut a = Activity::default();
        if minutes == 0 || self.items.is_empty() {
            return a;
        }
        let mut rng =
            StdRng::seed_from_u64(self.seed ^ self.serial.rotate_left(32) ^ elapsed as u64);
        let window = Window {
            start: now - elapsed,
            elapsed,
            now,
        };
        // The order of these steps is part of the world's determinism: each draws from `rng`.
        self.move_stock(&mut rng, &window, minutes, &mut a);
        self.reshuffle_rows(&mut rng, &window, minutes, &mut a);
        self.bill(&mut rng, &window, minutes, &mut a);
        self.collect(&mut rng, &window, minutes, &mut a);
        self.create_and_ship_orders(&mut rng, &window, minutes, &mut a);
        self.deliver(&window, minutes, &mut a);
        a
    }

    fn move_stock(&mut self, rng: &mut StdRng, window: &Window, minutes: i64, a: &mut Activity) {
        let moves = minutes.min(20_000);
        for i in 0..moves {
            if self.inventory.is_empty() {
                break;
            }
            let p = rng.random_range(0..self.inventory.len());
            let r = &mut self.inventory[p];
            let (item, wh, on_hand) = (r.item, r.warehouse, r.on_hand);
            let delta = rng.random_range(-20..=30);
            self.set_stock(item, wh, (on_hand + delta).max(0), window.at(i, moves));
            a.stock_moves += 1;
        }
    }

    /// Rows leave a warehouse and others arrive.
    fn reshuffle_rows(
        &mut self,
        rng: &mut StdRng,
        window: &Window,
        minutes: i64,
        a: &mut Activity,
    ) {
        for _ in 0..minutes / 240 {
            if self.inventory.len() > 1 {
                let r = self.inventory[rng.random_range(0..self.inventory.len())];
                a.rows_removed += self.remove_inventory(r.item, r.warehouse) as u64;
            }
            let item = rng.random_range(0..self.items.len()) as u32;
            let wh = rng.random_range(0..rules::WAREHOUSES.len()) as u8;
            if self.slots[item as usize][wh as usize] == 0 {
                self.set_stock(item, wh, rng.random_range(1..100), window.now);
                a.rows_added += 1;
            }
        }
    }

    fn bill(&mut self, rng: &mut StdRng, window: &Window, minutes: i64, a: &mut Activity) {
        let invoices = minutes / 60;
        for i in 0..invoices {
            let po = self
                .purchase_orders
                .rows
                .get(rng.random_range(0..self.purchase_orders.rows.len().max(1)));
            let spec = NewInvoice {
                purchase_order_number: po
                    .and_then(|d| d[rules::PO_NUMBER].as_str())
                    .map(str::to_string),
                lines: (0..rng.random_range(1..=3))
                    .map(|_| {
                        (
                            CATALOG[rng.random_range(0..CATALOG.len())].0.to_string(),
                            rng.random_range(1..10),
                        )
                    })
                    .collect(),
                ..NewInvoice::default()
            };
            a.invoices_created += self.create_invoice(&spec, window.at(i, invoices)).is_ok() as u64;
        }
    }

    /// Payments, in full or in half, on open invoices.
    fn collect(&mut self, rng: &mut StdRng, window: &Window, minutes: i64, a: &mut Activity) {
        for _ in 0..minutes / 90 {
            let open: Vec<(String, Decimal)> = self
                .invoices
                .rows
                .iter()
                .filter(|d| {
                    matches!(
                        d["status"].as_str(),
                        Some(rules::INV_OPEN | rules::INV_PARTIAL)
                    )
                })
                .filter_map(|d| {
                    Some((
                        d["invoice_number"].as_str()?.to_string(),
                        d["balance_due"].as_str()?.parse().ok()?,
                    ))
                })
                .collect();
            if open.is_empty() {
                break;
            }
            let (number, balance) = &open[rng.random_range(0..open.len())];
            let amount = if rng.random_bool(0.5) {
                *balance
            } else {
                (*balance / Decimal::TWO).round_dp(2)
            };
            a.payments += self
                .pay_invoice(
                    number,
                    amount.max(Decimal::new(1, 2)).min(*balance),
                    window.now,
                )
                .is_ok() as u64;
        }
    }

    fn create_and_ship_orders(
        &mut self,
        rng: &mut StdRng,
        window: &Window,
        minutes: i64,
        a: &mut Activity,
    ) {
        let now = window.now;
        for _ in 0..minutes / 120 {
            let kind = if rng.random_bool(0.5) {
                OrderKind::Purchase
            } else {
                OrderKind::Fulfillment
            };
            let number = format!(
                "{}-SIM{:06}",
                if kind == OrderKind::Purchase {
                    "PO"
                } else {
                    "FO"
                },
                self.next_serial()
            );
            let fields = seed::order_fields(rng, kind, number.clone(), now);
            self.insert_order(kind, fields, now);
            a.orders_created += 1;
            a.orders_shipped += self.ship_order(kind, &number, now).is_ok() as u64;
        }
    }

    fn deliver(&mut self, window: &Window, minutes: i64, a: &mut Activity) {
        for _ in 0..minutes / 240 {
            let shipped = self
                .fulfillment_orders
                .rows
                .iter()
                .find(|d| d["status"] == rules::STATUS_SHIPPED)
                .and_then(|d| d[rules::FO_NUMBER].as_str().map(str::to_string));
            if let Some(n) = shipped {
                a.orders_delivered += self
                    .deliver_order(OrderKind::Fulfillment, &n, window.now)
                    .is_ok() as u64;
            }
        }
    }

    /// Shifts a resource under a paging client: deletes the lowest-id rows, then inserts
    /// rows with new (highest) ids. Inventory re-stocks the emptied slots first, so the same
    /// item@warehouse moves to the end of the id order, the case that makes clients skip rows.
    pub(crate) fn drift(&mut self, d: &Drift, now: i64) {
        match d.resource.as_str() {
            rules::INVENTORY => {
                let victims: Vec<_> = self
                    .inventory
                    .iter()
                    .take(d.deletes)
                    .map(|r| (r.item, r.warehouse))
                    .collect();
                for (item, wh) in &victims {
                    self.remove_inventory(*item, *wh);
                }
                for i in 0..d.inserts {
                    match victims.get(i) {
                        Some((item, wh)) => self.set_stock(*item, *wh, 10, now),
                        None => {
                            let n = self.next_serial();
                            let idx = self.add_item(
                                format!("DRIFT-{n:06}"),
                                "Drifted item".into(),
                                0,
                                Decimal::ONE,
                                now,
                            );
                            self.set_stock(idx, 0, 10, now);
                        }
                    }
                }
            }
            rules::ITEMS => {
                for _ in 0..d.inserts {
                    let n = self.next_serial();
                    self.add_item(
                        format!("DRIFT-{n:06}"),
                        "Drifted item".into(),
                        0,
                        Decimal::ONE,
                        now,
                    );
                }
            }
            other => {
                let serial = self.next_serial();
                let Some(t) = self.table_mut(other) else {
                    return;
                };
                let template = t.rows.first().cloned();
                let n = d.deletes.min(t.rows.len());
                t.rows.drain(..n);
                let Some(template) = template else { return };
                for i in 0..d.inserts {
                    let mut doc = template.clone();
                    let id = t.alloc_id();
                    doc.insert("id".into(), id.into());
                    for key in [
                        "invoice_number",
                        rules::PO_NUMBER,
                        rules::FO_NUMBER,
                        "tracking_number",
                    ] {
                        if let Some(Value::String(s)) = doc.get_mut(key) {
                            *s = format!("{s}-D{serial}-{i}");
                        }
                    }
                    t.rows.push(doc);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{seed, EPOCH};

    #[test]
    fn same_world_same_elapsed_same_changes() {
        let (mut a, mut b) = (seed(3, 20), seed(3, 20));
        let now = EPOCH + 200 * 86_400;
        let ra = a.simulate(6 * 3600, now);
        let rb = b.simulate(6 * 3600, now);
        assert_eq!(ra, rb);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        assert_eq!(ra.stock_moves, 360);
        assert_eq!(ra.invoices_created, 6);
        assert!(ra.orders_shipped >= 3 && ra.payments >= 1);
    }

    #[test]
    fn drift_moves_low_rows_to_the_end() {
        let mut w = seed(1, 10);
        let first = (w.inventory[0].item, w.inventory[0].warehouse);
        let before = w.inventory.len();
        w.drift(
            &Drift {
                resource: "inventory".into(),
                inserts: 3,
                deletes: 2,
                armed: true,
            },
            EPOCH,
        );
        assert_eq!(w.inventory.len(), before + 1);
        let last = w.inventory.iter().rev().nth(2).unwrap();
        assert_eq!((last.item, last.warehouse), first);
    }
}
