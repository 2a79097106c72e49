//! The seeded world: a fixed catalog, generated items, stock in every warehouse, invoices in
//! every status, orders in various statuses with their shipments.
//!
//! Everything derives from the seed and from `EPOCH`, never from the wall clock, so two
//! sandboxes started with the same seed serve byte-identical pages.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::mutations::{NewInvoice, OrderKind};
use super::rules;
use super::world::{fmt_date, Doc, InvRow, World};

/// 2026-01-01T00:00:00Z: seeded timestamps fall in the 180 days after it.
pub(crate) const EPOCH: i64 = 1_767_225_600;
const DAY: i64 = 86_400;

/// The catalog every world starts with: (number, description, unit of measure, price).
pub(crate) const CATALOG: &[(&str, &str, u8, &str)] = &[
    (
        "SRV-1U-X10",
        "1U rack server, 10-core, 64 GB RAM, 2x 960 GB SSD",
        0,
        "1249.50",
    ),
    (
        "SRV-2U-G4",
        "2U GPU server, 4 accelerator bays, 256 GB RAM",
        0,
        "8999.00",
    ),
    ("RAIL-KIT-1U", "Sliding rail kit for 1U chassis", 3, "79.95"),
    (
        "NIC-25G-2P",
        "25GbE dual-port SFP28 network adapter",
        0,
        "289.00",
    ),
    ("CBL-PWR-C13", "Power cable C13 to C14, 2 m", 2, "6.4900"),
    (
        "PSU-800W",
        "800 W hot-swap power supply, 80 Plus Platinum",
        0,
        "189.99",
    ),
];

const ADJECTIVES: &[&str] = &[
    "Compact",
    "Redundant",
    "Rugged",
    "Low-profile",
    "High-density",
    "Modular",
    "Hot-swap",
    "Shielded",
];
const NOUNS: &[&str] = &[
    "SSD 1.92 TB",
    "DIMM 32 GB",
    "fan module",
    "riser card",
    "patch cable",
    "switch 48-port",
    "blanking panel",
    "HBA 12G",
    "transceiver 10G",
    "PDU 16A",
];
const CITIES: &[(&str, &str, &str, &str)] = &[
    ("Seattle", "WA", "98101", "US"),
    ("Dallas", "TX", "75201", "US"),
    ("Atlanta", "GA", "30303", "US"),
    ("Amsterdam", "NH", "1012 AB", "NL"),
];

const SEEDED_ORDERS: usize = 24;
const SEEDED_INVOICES: usize = 40;

/// Builds the world for `seed` with `items` generated items beyond the catalog.
pub(crate) fn seed(seed: u64, items: usize) -> World {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = World::empty(seed);
    w.items.reserve(CATALOG.len() + items);
    for (i, (num, desc, uom, price)) in CATALOG.iter().enumerate() {
        let at = EPOCH + i as i64 * 60;
        w.add_item(
            num.to_string(),
            desc.to_string(),
            *uom,
            price.parse().expect("catalog price"),
            at,
        );
    }
    for i in 0..items {
        let desc = format!(
            "{} {}",
            ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
            NOUNS[rng.random_range(0..NOUNS.len())]
        );
        let price = Decimal::new(rng.random_range(100..200_000), 2);
        let at = EPOCH + DAY + (i as i64 % 86_400);
        w.add_item(
            format!("ITM-{:06}", i + 1),
            desc,
            rng.random_range(0..4),
            price,
            at,
        );
    }
    seed_inventory(&mut w, &mut rng);
    seed_orders(&mut w, &mut rng);
    seed_invoices(&mut w, &mut rng);
    w.outbox.clear();
    w
}

/// One row per item and warehouse, ids in item-major order: a million rows in well under a
/// second, since a row is a handful of integers.
fn seed_inventory(w: &mut World, rng: &mut StdRng) {
    let n = w.items.len() * rules::WAREHOUSES.len();
    w.inventory.reserve_exact(n);
    for item in 0..w.items.len() {
        let created = w.items[item].created_at;
        for wh in 0..rules::WAREHOUSES.len() {
            let on_hand: i32 = rng.random_range(0..500);
            let allocated = rng.random_range(0..=on_hand.min(50));
            let on_order = if rng.random_bool(0.2) {
                rng.random_range(1..200)
            } else {
                0
            };
            let id = w.inventory.len() as u64 + 1;
            w.inventory.push(InvRow {
                id,
                item: item as u32,
                warehouse: wh as u8,
                on_hand,
                allocated,
                on_order,
                created_at: created,
                updated_at: created + rng.random_range(0..90 * DAY),
            });
            w.slots[item][wh] = id;
        }
    }
    w.next_inventory_id = n as u64;
}

pub(crate) fn address(rng: &mut impl Rng, n: usize) -> Value {
    let (city, state, postal, country) = CITIES[rng.random_range(0..CITIES.len())];
    json!({
        "name": format!("Receiving dock {n}"),
        "company": "Example Data Centers",
        "address1": format!("{} Industrial Way", 100 + n),
        "address2": null,
        "city": city,
        "state": state,
        "postal_code": postal,
        "country": country,
    })
}

/// Random order lines over the catalog (always stocked, always known).
pub(crate) fn lines(rng: &mut impl Rng, kind: OrderKind) -> Value {
    let n = rng.random_range(1..=3);
    let lines: Vec<Value> = (0..n)
        .map(|i| {
            let item = CATALOG[rng.random_range(0..CATALOG.len())].0;
            let mut line = json!({"line_number": i + 1, "item_number": item, "quantity": rng.random_range(1..10)});
            if kind == OrderKind::Purchase {
                line["unit_price"] = json!(CATALOG.iter().find(|c| c.0 == item).map(|c| c.3).unwrap_or("0.00"));
            }
            line
        })
        .collect();
    Value::Array(lines)
}

pub(crate) fn order_fields(rng: &mut impl Rng, kind: OrderKind, number: String, at: i64) -> Doc {
    let mut d = Doc::new();
    d.insert(kind.number_key().into(), json!(number));
    let dock = rng.random_range(1..50);
    d.insert("ship_to".into(), address(rng, dock));
    d.insert("requested_ship_date".into(), json!(fmt_date(at + 14 * DAY)));
    d.insert("notes".into(), Value::Null);
    d.insert("lines".into(), lines(rng, kind));
    match kind {
        OrderKind::Purchase => {
            d.insert("order_date".into(), json!(fmt_date(at)));
        }
        OrderKind::Fulfillment => {
            d.insert(
                "ship_method".into(),
                json!(["ground", "express", "freight"][rng.random_range(0..3)]),
            );
        }
    }
    d
}

fn seed_orders(w: &mut World, rng: &mut StdRng) {
    for kind in [OrderKind::Purchase, OrderKind::Fulfillment] {
        let prefix = match kind {
            OrderKind::Purchase => "PO-5",
            OrderKind::Fulfillment => "FO-7",
        };
        for i in 0..SEEDED_ORDERS {
            let at = EPOCH + 10 * DAY + i as i64 * DAY;
            let number = format!("{prefix}{i:05}");
            let fields = order_fields(rng, kind, number.clone(), at);
            w.insert_order(kind, fields, at);
            // Cycle through the statuses; shipped and later go through ship_order so they
            // have shipments, like a real order would.
            let status = kind.statuses()[i % kind.statuses().len()];
            let later = at + 2 * DAY;
            let result = match status {
                rules::STATUS_NEW => Ok(Doc::new()),
                rules::STATUS_SHIPPED => w.ship_order(kind, &number, later),
                rules::STATUS_DELIVERED | rules::STATUS_CLOSED => w
                    .ship_order(kind, &number, later)
                    .and_then(|_| w.deliver_order(kind, &number, later + 3 * DAY)),
                other => w.set_order_status(kind, &number, other, later),
            };
            result.expect("seeded order transition");
        }
    }
}

fn seed_invoices(w: &mut World, rng: &mut StdRng) {
    for i in 0..SEEDED_INVOICES {
        let at = EPOCH + 20 * DAY + i as i64 * DAY / 2;
        let n_lines = rng.random_range(1..=4);
        let spec = NewInvoice {
            purchase_order_number: (i % 2 == 0).then(|| format!("PO-5{:05}", i % SEEDED_ORDERS)),
            fulfillment_order_number: (i % 2 == 1).then(|| format!("FO-7{:05}", i % SEEDED_ORDERS)),
            lines: (0..n_lines)
                .map(|_| {
                    (
                        CATALOG[rng.random_range(0..CATALOG.len())].0.to_string(),
                        rng.random_range(1..20),
                    )
                })
                .collect(),
            due_days: Some(30),
        };
        let doc = w.create_invoice(&spec, at).expect("seeded invoice");
        let number = doc["invoice_number"].as_str().expect("number").to_string();
        let total: Decimal = doc["total_amount"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("total");
        let later = at + 5 * DAY;
        match rules::INVOICE_STATUSES[i % rules::INVOICE_STATUSES.len()] {
            rules::INV_PARTIAL => w
                .pay_invoice(&number, (total / Decimal::from(3)).round_dp(2), later)
                .map(drop),
            rules::INV_PAID => w.pay_invoice(&number, total, later).map(drop),
            rules::INV_VOID => w.void_invoice(&number, later).map(drop),
            _ => Ok(()),
        }
        .expect("seeded invoice transition");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_world() {
        let a = serde_json::to_string(&seed(7, 50)).unwrap();
        let b = serde_json::to_string(&seed(7, 50)).unwrap();
        let c = serde_json::to_string(&seed(8, 50)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn invoices_cover_every_status_with_exact_money() {
        let w = seed(1, 10);
        for status in rules::INVOICE_STATUSES {
            assert!(
                w.invoices.rows.iter().any(|d| d["status"] == *status),
                "{status}"
            );
        }
        for inv in &w.invoices.rows {
            let d = |k: &str| inv[k].as_str().unwrap().parse::<Decimal>().unwrap();
            let lines: Decimal = inv["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["amount"].as_str().unwrap().parse::<Decimal>().unwrap())
                .sum();
            assert_eq!(lines, d("total_amount"));
            let expected = if inv["status"] == "void" {
                Decimal::ZERO
            } else {
                d("total_amount") - d("amount_paid")
            };
            assert_eq!(d("balance_due"), expected);
        }
        assert_eq!(w.inventory.len(), (10 + CATALOG.len()) * 4);
        assert!(!w.shipments.rows.is_empty());
    }
}
