//! The in-memory world: every record the sandbox serves, and the mutations on them.
//!
//! Two storage shapes live side by side, on purpose:
//! - `items` and `inventory` are compact structs, because a load test seeds a million
//!   inventory rows. A row holds indexes and integers only (the item number and warehouse
//!   are looked up, never copied), and JSON is rendered on the fly by `Row::render`.
//! - invoices, orders, shipments and webhooks are JSON objects (`Doc`), because they are few,
//!   have nested lines and addresses, and a PUT replaces fields by name.
//!
//! Every table is a `Vec` sorted by id (ids only ever grow), so an unfiltered `order_by id`
//! page is a slice: O(page), whatever the offset.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Timelike};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::rules::{self, FieldType};

pub type Doc = Map<String, Value>;

pub(crate) const UNITS: &[&str] = &["EA", "BOX", "PK", "SET"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Item {
    pub id: u64,
    pub item_number: String,
    pub description: String,
    /// Index into `UNITS`.
    pub uom: u8,
    pub unit_price: Decimal,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One inventory row: 48 bytes, no strings. Saved as a JSON array rather than an object,
/// so a million rows make a state file of tens, not hundreds, of megabytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvRow {
    pub id: u64,
    /// Index into `World::items` (items are never removed, so the index is stable).
    pub item: u32,
    /// Index into `rules::WAREHOUSES`.
    pub warehouse: u8,
    pub on_hand: i32,
    pub allocated: i32,
    pub on_order: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

type InvTuple = (u64, u32, u8, i32, i32, i32, i64, i64);

impl Serialize for InvRow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self;
        (
            r.id,
            r.item,
            r.warehouse,
            r.on_hand,
            r.allocated,
            r.on_order,
            r.created_at,
            r.updated_at,
        )
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for InvRow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (id, item, warehouse, on_hand, allocated, on_order, created_at, updated_at) =
            InvTuple::deserialize(d)?;
        Ok(InvRow {
            id,
            item,
            warehouse,
            on_hand,
            allocated,
            on_order,
            created_at,
            updated_at,
        })
    }
}

/// A table of JSON records, sorted by id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Table {
    pub next_id: u64,
    pub rows: Vec<Doc>,
    /// Positions by unique number, built on demand: a create checks its number against every
    /// order, and a linear scan made that quadratic in the number of orders.
    #[serde(skip)]
    numbers: NumberIndex,
}

/// `find`'s index: for one key field, value -> position, covering `rows[..len]`. Rows are only
/// appended (ids grow, a cancelled order stays), and order numbers never change, so the index
/// only ever needs the rows appended since it was last used.
#[derive(Debug, Default)]
struct NumberIndex(std::sync::Mutex<Option<IndexedNumbers>>);

/// Key field, rows covered, value -> position.
#[derive(Debug)]
struct IndexedNumbers {
    key: String,
    len: usize,
    positions: std::collections::HashMap<String, usize>,
}

impl Clone for NumberIndex {
    fn clone(&self) -> Self {
        NumberIndex::default()
    }
}

impl Table {
    pub(crate) fn position(&self, id: u64) -> Option<usize> {
        self.rows.binary_search_by_key(&id, doc_id).ok()
    }
    pub(crate) fn get(&self, id: u64) -> Option<&Doc> {
        self.position(id).map(|i| &self.rows[i])
    }
    /// Finds a record by a unique string field (order and invoice numbers).
    pub(crate) fn find(&self, key: &str, value: &str) -> Option<usize> {
        let mut guard = self.numbers.0.lock().unwrap_or_else(|p| p.into_inner());
        if guard
            .as_ref()
            .is_none_or(|ix| ix.key != key || ix.len > self.rows.len())
        {
            *guard = Some(IndexedNumbers {
                key: key.to_string(),
                len: 0,
                positions: std::collections::HashMap::new(),
            });
        }
        let ix = guard.as_mut().expect("set above");
        for (i, d) in self.rows.iter().enumerate().skip(ix.len) {
            if let Some(v) = d.get(key).and_then(Value::as_str) {
                ix.positions.entry(v.to_string()).or_insert(i);
            }
        }
        ix.len = self.rows.len();
        ix.positions.get(value).copied()
    }
    pub(crate) fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
    pub(crate) fn push(&mut self, doc: Doc) {
        self.rows.push(doc);
    }
}

pub(crate) fn doc_id(d: &Doc) -> u64 {
    d.get("id").and_then(Value::as_u64).unwrap_or(0)
}

/// A webhook event waiting for the dispatcher.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub id: String,
    pub event: &'static str,
    pub created_at: i64,
    pub data: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct World {
    pub seed: u64,
    pub items: Vec<Item>,
    pub next_item_id: u64,
    pub inventory: Vec<InvRow>,
    pub next_inventory_id: u64,
    pub invoices: Table,
    pub purchase_orders: Table,
    pub fulfillment_orders: Table,
    pub shipments: Table,
    pub webhooks: Table,
    /// Subscription secrets, by webhook id: write-only, so kept out of the rendered records.
    pub webhook_secrets: HashMap<u64, String>,
    /// Counter behind event ids and generated numbers, so they are unique and deterministic.
    pub serial: u64,
    /// Item number -> index into `items`. Rebuilt after load.
    #[serde(skip)]
    pub item_index: HashMap<String, u32>,
    /// Per item, the inventory row id in each warehouse (0 = the item is not stocked there).
    #[serde(skip)]
    pub slots: Vec<[u64; 4]>,
    /// Events raised by mutations, drained by the server after each one.
    #[serde(skip)]
    pub outbox: Vec<Event>,
    /// Bumped by every mutation (`Shared::mutate`): what the filtered-query cache is valid for.
    #[serde(skip)]
    pub generation: u64,
    /// The rows matching the last filtered query, so the pages of one filtered read cost a page
    /// each instead of a scan of the whole table each.
    #[serde(skip)]
    pub hits: HitsCache,
}

/// Positions of the rows a filtered query matched, for one query and one world generation.
#[derive(Debug, Default)]
pub(crate) struct HitsCache(pub std::sync::Mutex<Option<CachedHits>>);

#[derive(Debug)]
pub(crate) struct CachedHits {
    pub generation: u64,
    pub key: String,
    pub positions: std::sync::Arc<Vec<u32>>,
}

impl Clone for HitsCache {
    fn clone(&self) -> Self {
        HitsCache::default()
    }
}

const _: () = assert!(
    rules::WAREHOUSES.len() == 4,
    "World::slots assumes 4 warehouses"
);

impl World {
    pub(crate) fn empty(seed: u64) -> World {
        World {
            seed,
            items: Vec::new(),
            next_item_id: 0,
            inventory: Vec::new(),
            next_inventory_id: 0,
            invoices: Table::default(),
            purchase_orders: Table::default(),
            fulfillment_orders: Table::default(),
            shipments: Table::default(),
            webhooks: Table::default(),
            webhook_secrets: HashMap::new(),
            serial: 0,
            item_index: HashMap::new(),
            slots: Vec::new(),
            outbox: Vec::new(),
            generation: 0,
            hits: HitsCache::default(),
        }
    }

    /// Rebuilds the lookup indexes that are not saved in the state file.
    pub(crate) fn reindex(&mut self) {
        self.item_index = self
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.item_number.clone(), i as u32))
            .collect();
        self.slots = vec![[0; 4]; self.items.len()];
        for r in &self.inventory {
            self.slots[r.item as usize][r.warehouse as usize] = r.id;
        }
    }

    pub(crate) fn table(&self, resource: &str) -> Option<&Table> {
        Some(match resource {
            rules::INVOICES => &self.invoices,
            rules::PURCHASE_ORDERS => &self.purchase_orders,
            rules::FULFILLMENT_ORDERS => &self.fulfillment_orders,
            rules::SHIPMENTS => &self.shipments,
            rules::WEBHOOKS => &self.webhooks,
            _ => return None,
        })
    }

    pub(crate) fn table_mut(&mut self, resource: &str) -> Option<&mut Table> {
        Some(match resource {
            rules::INVOICES => &mut self.invoices,
            rules::PURCHASE_ORDERS => &mut self.purchase_orders,
            rules::FULFILLMENT_ORDERS => &mut self.fulfillment_orders,
            rules::SHIPMENTS => &mut self.shipments,
            rules::WEBHOOKS => &mut self.webhooks,
            _ => return None,
        })
    }

    pub(crate) fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    pub(crate) fn add_item(
        &mut self,
        number: String,
        description: String,
        uom: u8,
        price: Decimal,
        at: i64,
    ) -> u32 {
        self.next_item_id += 1;
        let idx = self.items.len() as u32;
        self.item_index.insert(number.clone(), idx);
        self.items.push(Item {
            id: self.next_item_id,
            item_number: number,
            description,
            uom,
            unit_price: price,
            created_at: at,
            updated_at: at,
        });
        self.slots.push([0; 4]);
        idx
    }

    pub(crate) fn item_by_number(&self, number: &str) -> Option<&Item> {
        self.item_index
            .get(number)
            .map(|&i| &self.items[i as usize])
    }

    pub(crate) fn inventory_position(&self, id: u64) -> Option<usize> {
        self.inventory.binary_search_by_key(&id, |r| r.id).ok()
    }

    /// Sets stock of an item in a warehouse, creating the row (with a new id) if the item
    /// was not stocked there.
    pub(crate) fn set_stock(&mut self, item: u32, warehouse: u8, on_hand: i32, now: i64) {
        let slot = self.slots[item as usize][warehouse as usize];
        if slot != 0 {
            if let Some(p) = self.inventory_position(slot) {
                let r = &mut self.inventory[p];
                r.on_hand = on_hand;
                r.allocated = r.allocated.min(on_hand.max(0));
                r.updated_at = now;
                return;
            }
        }
        self.next_inventory_id += 1;
        let id = self.next_inventory_id;
        self.inventory.push(InvRow {
            id,
            item,
            warehouse,
            on_hand,
            allocated: 0,
            on_order: 0,
            created_at: now,
            updated_at: now,
        });
        self.slots[item as usize][warehouse as usize] = id;
    }

    /// Removes the row of an item in a warehouse; false if there was none.
    pub(crate) fn remove_inventory(&mut self, item: u32, warehouse: u8) -> bool {
        let slot = self.slots[item as usize][warehouse as usize];
        match self.inventory_position(slot) {
            Some(p) if slot != 0 => {
                self.inventory.remove(p);
                self.slots[item as usize][warehouse as usize] = 0;
                true
            }
            _ => false,
        }
    }

    /// Queues a webhook event carrying `data` (the record as the API returns it).
    pub(crate) fn raise(&mut self, event: &'static str, data: Value, now: i64) {
        let n = self.next_serial();
        let id = format!("evt_{:08x}{:08x}", self.seed as u32, n);
        self.outbox.push(Event {
            id,
            event,
            created_at: now,
            data,
        });
    }
}

// ---- Reading fields, for `where` and `order_by` ------------------------------------------

/// A field value as the query engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    Null,
    Int(i64),
    Str(&'a str),
    Money(Decimal),
    Time(i64),
    Date(NaiveDate),
    /// Objects and arrays: never compared.
    Complex,
}

/// A record the query engine can filter, order and render.
pub(crate) trait Row {
    fn id(&self) -> u64;
    fn val<'a>(&'a self, world: &'a World, field: &str, ty: FieldType) -> Val<'a>;
    fn render(&self, world: &World, out: &mut Vec<u8>);
}

impl Row for Item {
    fn id(&self) -> u64 {
        self.id
    }
    fn val<'a>(&'a self, _: &'a World, field: &str, _: FieldType) -> Val<'a> {
        match field {
            "id" => Val::Int(self.id as i64),
            "created_at" => Val::Time(self.created_at),
            "updated_at" => Val::Time(self.updated_at),
            "item_number" => Val::Str(&self.item_number),
            "description" => Val::Str(&self.description),
            "unit_of_measure" => Val::Str(UNITS[self.uom as usize]),
            "unit_price" => Val::Money(self.unit_price),
            _ => Val::Null,
        }
    }
    fn render(&self, _: &World, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        push_int(out, self.id as i64);
        out.extend_from_slice(b",\"item_number\":");
        push_str(out, &self.item_number);
        out.extend_from_slice(b",\"description\":");
        push_str(out, &self.description);
        out.extend_from_slice(b",\"unit_of_measure\":");
        push_str(out, UNITS[self.uom as usize]);
        out.extend_from_slice(b",\"unit_price\":\"");
        out.extend_from_slice(self.unit_price.to_string().as_bytes());
        out.extend_from_slice(b"\",\"created_at\":");
        push_ts(out, self.created_at);
        out.extend_from_slice(b",\"updated_at\":");
        push_ts(out, self.updated_at);
        out.push(b'}');
    }
}

impl Row for InvRow {
    fn id(&self) -> u64 {
        self.id
    }
    fn val<'a>(&'a self, world: &'a World, field: &str, _: FieldType) -> Val<'a> {
        match field {
            "id" => Val::Int(self.id as i64),
            "created_at" => Val::Time(self.created_at),
            "updated_at" => Val::Time(self.updated_at),
            "item_id" => Val::Int(world.items[self.item as usize].id as i64),
            "item_number" => Val::Str(&world.items[self.item as usize].item_number),
            "warehouse" => Val::Str(rules::WAREHOUSES[self.warehouse as usize]),
            "quantity_on_hand" => Val::Int(self.on_hand as i64),
            "quantity_allocated" => Val::Int(self.allocated as i64),
            "quantity_available" => Val::Int((self.on_hand - self.allocated) as i64),
            "quantity_on_order" => Val::Int(self.on_order as i64),
            _ => Val::Null,
        }
    }
    fn render(&self, world: &World, out: &mut Vec<u8>) {
        let item = &world.items[self.item as usize];
        out.extend_from_slice(b"{\"id\":");
        push_int(out, self.id as i64);
        out.extend_from_slice(b",\"item_id\":");
        push_int(out, item.id as i64);
        out.extend_from_slice(b",\"item_number\":");
        push_str(out, &item.item_number);
        out.extend_from_slice(b",\"warehouse\":\"");
        out.extend_from_slice(rules::WAREHOUSES[self.warehouse as usize].as_bytes());
        out.extend_from_slice(b"\",\"quantity_on_hand\":");
        push_int(out, self.on_hand as i64);
        out.extend_from_slice(b",\"quantity_allocated\":");
        push_int(out, self.allocated as i64);
        out.extend_from_slice(b",\"quantity_available\":");
        push_int(out, (self.on_hand - self.allocated) as i64);
        out.extend_from_slice(b",\"quantity_on_order\":");
        push_int(out, self.on_order as i64);
        out.extend_from_slice(b",\"created_at\":");
        push_ts(out, self.created_at);
        out.extend_from_slice(b",\"updated_at\":");
        push_ts(out, self.updated_at);
        out.push(b'}');
    }
}

impl Row for Doc {
    fn id(&self) -> u64 {
        doc_id(self)
    }
    fn val<'a>(&'a self, _: &'a World, field: &str, ty: FieldType) -> Val<'a> {
        let Some(v) = self.get(field) else {
            return Val::Null;
        };
        if v.is_null() {
            return Val::Null;
        }
        match ty {
            FieldType::Int => v.as_i64().map_or(Val::Null, Val::Int),
            FieldType::Str => v.as_str().map_or(Val::Null, Val::Str),
            FieldType::Money => v
                .as_str()
                .and_then(|s| s.parse().ok())
                .map_or(Val::Null, Val::Money),
            FieldType::Time => v.as_str().and_then(parse_ts).map_or(Val::Null, Val::Time),
            FieldType::Date => v.as_str().and_then(parse_date).map_or(Val::Null, Val::Date),
            FieldType::Complex => Val::Complex,
        }
    }
    fn render(&self, _: &World, out: &mut Vec<u8>) {
        serde_json::to_writer(out, self).expect("a JSON object always serializes");
    }
}

// ---- Wire formatting helpers -------------------------------------------------------------

pub(crate) fn push_int(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let neg = n < 0;
    let mut u = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(out, s).expect("a string always serializes");
    }
}

fn push_2(out: &mut Vec<u8>, n: u32) {
    out.push(b'0' + (n / 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// Writes a quoted RFC 3339 UTC timestamp with whole seconds, without allocating: it is
/// on the hot path of every inventory row.
pub(crate) fn push_ts(out: &mut Vec<u8>, secs: i64) {
    let t = DateTime::from_timestamp(secs, 0).unwrap_or_default();
    out.push(b'"');
    let y = t.year() as u32;
    push_2(out, y / 100);
    push_2(out, y % 100);
    out.push(b'-');
    push_2(out, t.month());
    out.push(b'-');
    push_2(out, t.day());
    out.push(b'T');
    push_2(out, t.hour());
    out.push(b':');
    push_2(out, t.minute());
    out.push(b':');
    push_2(out, t.second());
    out.extend_from_slice(b"Z\"");
}

pub(crate) fn fmt_ts(secs: i64) -> String {
    let mut v = Vec::with_capacity(22);
    push_ts(&mut v, secs);
    String::from_utf8(v[1..v.len() - 1].to_vec()).expect("ASCII")
}

pub(crate) fn fmt_date(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

pub(crate) fn parse_ts(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp())
}

pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_render_like_chrono() {
        for secs in [0, 1_767_225_600, 1_798_761_599, 951_782_400] {
            let chrono = DateTime::from_timestamp(secs, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            assert_eq!(fmt_ts(secs), chrono);
            assert_eq!(parse_ts(&chrono), Some(secs));
        }
    }

    #[test]
    fn inventory_rows_stay_small() {
        assert_eq!(std::mem::size_of::<InvRow>(), 48);
    }

    #[test]
    fn inventory_rows_save_as_arrays() {
        let r = InvRow {
            id: 9,
            item: 2,
            warehouse: 3,
            on_hand: 5,
            allocated: 1,
            on_order: 0,
            created_at: 10,
            updated_at: 11,
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, "[9,2,3,5,1,0,10,11]");
        assert_eq!(serde_json::from_str::<InvRow>(&s).unwrap(), r);
    }

    #[test]
    fn ints_and_strings_render_as_json() {
        let mut out = Vec::new();
        push_int(&mut out, -120);
        out.push(b' ');
        push_int(&mut out, 0);
        out.push(b' ');
        push_str(&mut out, "a\"b");
        assert_eq!(String::from_utf8(out).unwrap(), r#"-120 0 "a\"b""#);
    }
}
