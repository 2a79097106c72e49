//! The operations that change the world behind the API's back: stock moves, invoices,
//! shipping, delivery. The seed, the activity generator, `Control` and the control routes
//! all call these, so a test that ships an order sees exactly what a simulated day produces.
//!
//! Each one stamps `updated_at` with the sandbox clock passed in and raises the webhook
//! event the contract names, with the record as the API would return it.

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use super::rules;
use super::world::{doc_id, fmt_date, fmt_ts, Doc, World};

/// Which kind of order an operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrderKind {
    Purchase,
    Fulfillment,
}

impl OrderKind {
    /// Accepts the resource name or its singular (`purchase_orders`, `purchase_order`, `po`).
    pub(crate) fn parse(s: &str) -> Option<OrderKind> {
        match s {
            "purchase_orders" | "purchase_order" | "po" => Some(OrderKind::Purchase),
            "fulfillment_orders" | "fulfillment_order" | "fo" => Some(OrderKind::Fulfillment),
            _ => None,
        }
    }
    pub(crate) fn resource(self) -> &'static str {
        match self {
            OrderKind::Purchase => rules::PURCHASE_ORDERS,
            OrderKind::Fulfillment => rules::FULFILLMENT_ORDERS,
        }
    }
    pub(crate) fn number_key(self) -> &'static str {
        match self {
            OrderKind::Purchase => rules::PO_NUMBER,
            OrderKind::Fulfillment => rules::FO_NUMBER,
        }
    }
    pub(crate) fn statuses(self) -> &'static [&'static str] {
        match self {
            OrderKind::Purchase => rules::PO_STATUSES,
            OrderKind::Fulfillment => rules::FO_STATUSES,
        }
    }
    pub(crate) fn changeable(self) -> &'static [&'static str] {
        match self {
            OrderKind::Purchase => rules::PO_CHANGEABLE,
            OrderKind::Fulfillment => rules::FO_CHANGEABLE,
        }
    }
    pub(crate) fn ev_updated(self) -> &'static str {
        match self {
            OrderKind::Purchase => rules::EV_PO_UPDATED,
            OrderKind::Fulfillment => rules::EV_FO_UPDATED,
        }
    }
    pub(crate) fn ev_shipped(self) -> &'static str {
        match self {
            OrderKind::Purchase => rules::EV_PO_SHIPPED,
            OrderKind::Fulfillment => rules::EV_FO_SHIPPED,
        }
    }
}

/// An invoice to raise. Lines are priced from the catalog.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewInvoice {
    pub purchase_order_number: Option<String>,
    pub fulfillment_order_number: Option<String>,
    /// (item_number, quantity)
    pub lines: Vec<(String, i64)>,
    /// Days from the invoice date to the due date; default 30.
    pub due_days: Option<i64>,
}

pub(crate) const CARRIERS: &[(&str, &str, &str)] = &[
    ("UPS", "Ground", "https://www.ups.com/track?tracknum="),
    ("FedEx", "2Day", "https://www.fedex.com/fedextrack/?trknbr="),
    ("DHL", "Express", "https://www.dhl.com/track?id="),
];

/// Money on the wire: a string with at least two places (`"12.50"`) and at most four.
pub(crate) fn money_str(d: Decimal) -> String {
    let mut d = d.round_dp(rules::MONEY_SCALE).normalize();
    if d.scale() < 2 {
        d.rescale(2);
    }
    d.to_string()
}

fn money(d: Decimal) -> Value {
    Value::String(money_str(d))
}

fn dec(doc: &Doc, key: &str) -> Decimal {
    doc.get(key)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default()
}

/// Why a change to the world is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorldError {
    #[error("no {resource} numbered {number}")]
    NotFound {
        resource: &'static str,
        number: String,
    },
    #[error("unknown item {0}")]
    UnknownItem(String),
    #[error("{status} is not a status of {resource}")]
    NotAStatus {
        status: String,
        resource: &'static str,
    },
    #[error("{number} is {status} and cannot ship")]
    CannotShip { number: String, status: String },
    #[error("{number} is {status}, not shipped")]
    NotShipped { number: String, status: String },
    #[error("an invoice needs lines")]
    NoLines,
    #[error("{number} is {status}")]
    NotPayable { number: String, status: String },
    #[error("payment {amount} does not fit balance {balance}")]
    PaymentDoesNotFit { amount: Decimal, balance: Decimal },
    #[error("{0} is already void")]
    AlreadyVoid(String),
}

impl WorldError {
    /// Whether the thing to change does not exist (404), rather than refusing the change.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(
            self,
            WorldError::NotFound { .. } | WorldError::UnknownItem(_)
        )
    }
}

impl World {
    fn order_pos(&self, kind: OrderKind, number: &str) -> Result<usize, WorldError> {
        let table = self.table(kind.resource()).expect("orders table");
        table
            .find(kind.number_key(), number)
            .ok_or_else(|| WorldError::NotFound {
                resource: kind.resource(),
                number: number.to_string(),
            })
    }

    pub(crate) fn order_mut(&mut self, kind: OrderKind, pos: usize) -> &mut Doc {
        &mut self.table_mut(kind.resource()).expect("orders table").rows[pos]
    }

    pub(crate) fn get_order(&self, kind: OrderKind, number: &str) -> Option<Doc> {
        let pos = self.order_pos(kind, number).ok()?;
        Some(self.table(kind.resource())?.rows[pos].clone())
    }

    /// Stores a new order from already validated writable fields: assigns the id, status
    /// `received`, timestamps and default line numbers (and PO line prices from the catalog).
    pub(crate) fn insert_order(&mut self, kind: OrderKind, mut fields: Doc, now: i64) -> Doc {
        if let Some(lines) = fields.remove("lines") {
            let filled = self.fill_lines(kind, lines);
            fields.insert("lines".into(), filled);
        }
        let table = self.table_mut(kind.resource()).expect("orders table");
        let id = table.alloc_id();
        let mut doc = Doc::new();
        doc.insert("id".into(), json!(id));
        let writable = match kind {
            OrderKind::Purchase => rules::PO_WRITABLE,
            OrderKind::Fulfillment => rules::FO_WRITABLE,
        };
        for (name, _, _) in writable {
            let default = match *name {
                "currency" => json!(rules::CURRENCY),
                _ => Value::Null,
            };
            doc.insert((*name).into(), fields.remove(*name).unwrap_or(default));
        }
        doc.insert("status".into(), json!(rules::STATUS_NEW));
        doc.insert("anticipated_ship_date".into(), Value::Null);
        doc.insert("created_at".into(), json!(fmt_ts(now)));
        doc.insert("updated_at".into(), json!(fmt_ts(now)));
        table.push(doc.clone());
        doc
    }

    /// Gives order lines their defaults: line numbers from position, and on purchase
    /// orders the catalog price and a null requested date. Used by create and by PUT,
    /// which replaces lines as a whole.
    pub(crate) fn fill_lines(&self, kind: OrderKind, lines: Value) -> Value {
        let Value::Array(mut lines) = lines else {
            return lines;
        };
        for (i, line) in lines.iter_mut().enumerate() {
            let Value::Object(line) = line else { continue };
            line.entry("line_number").or_insert(json!(i + 1));
            if kind == OrderKind::Purchase {
                if !line.contains_key("unit_price") {
                    let item = line
                        .get("item_number")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let price = self
                        .item_by_number(item)
                        .map(|i| i.unit_price)
                        .unwrap_or_default();
                    line.insert("unit_price".into(), money(price));
                }
                line.entry("requested_ship_date").or_insert(Value::Null);
            }
        }
        Value::Array(lines)
    }

    /// Moves an order to `status` (any status of its kind), raising `*.updated`.
    pub(crate) fn set_order_status(
        &mut self,
        kind: OrderKind,
        number: &str,
        status: &str,
        now: i64,
    ) -> Result<Doc, WorldError> {
        if !kind.statuses().contains(&status) {
            return Err(WorldError::NotAStatus {
                status: status.to_string(),
                resource: kind.resource(),
            });
        }
        let pos = self.order_pos(kind, number)?;
        let doc = self.order_mut(kind, pos);
        doc.insert("status".into(), json!(status));
        if status != rules::STATUS_NEW
            && status != rules::STATUS_CANCELLED
            && doc.get("anticipated_ship_date").is_none_or(Value::is_null)
        {
            doc.insert(
                "anticipated_ship_date".into(),
                json!(fmt_date(now + 7 * 86_400)),
            );
        }
        doc.insert("updated_at".into(), json!(fmt_ts(now)));
        let doc = doc.clone();
        self.raise(kind.ev_updated(), Value::Object(doc.clone()), now);
        Ok(doc)
    }

    /// Ships an open order: creates a shipment (carrier, tracking, serial numbers per unit)
    /// and sets the order `shipped`. Returns the shipment.
    pub(crate) fn ship_order(
        &mut self,
        kind: OrderKind,
        number: &str,
        now: i64,
    ) -> Result<Doc, WorldError> {
        let pos = self.order_pos(kind, number)?;
        let order = self.order_mut(kind, pos).clone();
        let status = order.get("status").and_then(Value::as_str).unwrap_or("");
        let shippable = match kind {
            OrderKind::Purchase => rules::PO_SHIPPABLE,
            OrderKind::Fulfillment => rules::FO_SHIPPABLE,
        };
        if !shippable.contains(&status) {
            return Err(WorldError::CannotShip {
                number: number.to_string(),
                status: status.to_string(),
            });
        }
        let serial = self.next_serial();
        let (carrier, service, url) = CARRIERS[(serial % CARRIERS.len() as u64) as usize];
        let tracking = format!(
            "{}{:012}",
            &carrier[..1],
            (self.seed.wrapping_mul(1_000_003) ^ serial) % 1_000_000_000_000
        );
        let sid = self.shipments.alloc_id();
        let mut lines = Vec::new();
        if let Some(Value::Array(order_lines)) = order.get("lines") {
            for (li, line) in order_lines.iter().enumerate() {
                let qty = line.get("quantity").and_then(Value::as_i64).unwrap_or(0);
                let serials: Vec<String> = (0..qty.clamp(0, 20))
                    .map(|k| format!("SN{sid:06}{li:02}{k:03}"))
                    .collect();
                lines.push(json!({
                    "item_number": line.get("item_number").cloned().unwrap_or(Value::Null),
                    "quantity": qty,
                    "serial_numbers": serials,
                }));
            }
        }
        let is_fo = kind == OrderKind::Fulfillment;
        let shipment = json!({
            "id": sid,
            "fulfillment_order_id": if is_fo { json!(doc_id(&order)) } else { Value::Null },
            "order_number": if is_fo { json!(number) } else { Value::Null },
            "purchase_order_number": if is_fo { Value::Null } else { json!(number) },
            "carrier": carrier,
            "service": service,
            "tracking_number": tracking,
            "tracking_url": format!("{url}{tracking}"),
            "shipped_at": fmt_ts(now),
            "delivered_at": null,
            "lines": lines,
            "created_at": fmt_ts(now),
            "updated_at": fmt_ts(now),
        });
        let Value::Object(shipment) = shipment else {
            unreachable!()
        };
        self.shipments.push(shipment.clone());
        let doc = self.order_mut(kind, pos);
        doc.insert("status".into(), json!(rules::STATUS_SHIPPED));
        if doc.get("anticipated_ship_date").is_none_or(Value::is_null) {
            doc.insert("anticipated_ship_date".into(), json!(fmt_date(now)));
        }
        doc.insert("updated_at".into(), json!(fmt_ts(now)));
        let doc = doc.clone();
        self.raise(kind.ev_shipped(), Value::Object(doc), now);
        Ok(shipment)
    }

    /// Marks a shipped order delivered (fulfillment) or closed (purchase), stamping
    /// `delivered_at` on its shipments. Returns the order.
    pub(crate) fn deliver_order(
        &mut self,
        kind: OrderKind,
        number: &str,
        now: i64,
    ) -> Result<Doc, WorldError> {
        let pos = self.order_pos(kind, number)?;
        let status = self
            .order_mut(kind, pos)
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if status != rules::STATUS_SHIPPED {
            return Err(WorldError::NotShipped {
                number: number.to_string(),
                status,
            });
        }
        let key = match kind {
            OrderKind::Purchase => "purchase_order_number",
            OrderKind::Fulfillment => "order_number",
        };
        for s in self.shipments.rows.iter_mut() {
            if s.get(key).and_then(Value::as_str) == Some(number)
                && s.get("delivered_at").is_some_and(Value::is_null)
            {
                s.insert("delivered_at".into(), json!(fmt_ts(now)));
                s.insert("updated_at".into(), json!(fmt_ts(now)));
            }
        }
        let (new_status, event) = match kind {
            OrderKind::Purchase => (rules::STATUS_CLOSED, rules::EV_PO_UPDATED),
            OrderKind::Fulfillment => (rules::STATUS_DELIVERED, rules::EV_FO_DELIVERED),
        };
        let doc = self.order_mut(kind, pos);
        doc.insert("status".into(), json!(new_status));
        doc.insert("updated_at".into(), json!(fmt_ts(now)));
        let doc = doc.clone();
        self.raise(event, Value::Object(doc.clone()), now);
        Ok(doc)
    }

    /// Raises an invoice priced from the catalog; lines sum exactly to the total.
    pub(crate) fn create_invoice(
        &mut self,
        spec: &NewInvoice,
        now: i64,
    ) -> Result<Doc, WorldError> {
        if spec.lines.is_empty() {
            return Err(WorldError::NoLines);
        }
        let mut total = Decimal::ZERO;
        let mut lines = Vec::new();
        for (i, (number, qty)) in spec.lines.iter().enumerate() {
            let item = self
                .item_by_number(number)
                .ok_or_else(|| WorldError::UnknownItem(number.to_string()))?;
            let amount = item.unit_price * Decimal::from(*qty);
            total += amount;
            lines.push(json!({
                "line_number": i + 1,
                "item_number": number,
                "description": item.description,
                "quantity": qty,
                "unit_price": money(item.unit_price),
                "amount": money(amount),
            }));
        }
        let n = self.next_serial();
        let id = self.invoices.alloc_id();
        let doc = json!({
            "id": id,
            "invoice_number": format!("INV-{}", 100_000 + n),
            "purchase_order_number": spec.purchase_order_number,
            "fulfillment_order_number": spec.fulfillment_order_number,
            "invoice_date": fmt_date(now),
            "due_date": fmt_date(now + spec.due_days.unwrap_or(30) * 86_400),
            "currency": rules::CURRENCY,
            "total_amount": money(total),
            "amount_paid": money(Decimal::ZERO),
            "balance_due": money(total),
            "status": rules::INV_OPEN,
            "lines": lines,
            "created_at": fmt_ts(now),
            "updated_at": fmt_ts(now),
        });
        let Value::Object(doc) = doc else {
            unreachable!()
        };
        self.invoices.push(doc.clone());
        self.raise(rules::EV_INVOICE_CREATED, Value::Object(doc.clone()), now);
        Ok(doc)
    }

    fn invoice_pos(&self, number: &str) -> Result<usize, WorldError> {
        self.invoices
            .find("invoice_number", number)
            .ok_or_else(|| WorldError::NotFound {
                resource: rules::INVOICES,
                number: number.to_string(),
            })
    }

    /// Records a payment: `partially_paid` until the balance reaches 0, then `paid`.
    pub(crate) fn pay_invoice(
        &mut self,
        number: &str,
        amount: Decimal,
        now: i64,
    ) -> Result<Doc, WorldError> {
        let pos = self.invoice_pos(number)?;
        let doc = &mut self.invoices.rows[pos];
        let status = doc.get("status").and_then(Value::as_str).unwrap_or("");
        if status == rules::INV_VOID || status == rules::INV_PAID {
            return Err(WorldError::NotPayable {
                number: number.to_string(),
                status: status.to_string(),
            });
        }
        let (total, paid) = (dec(doc, "total_amount"), dec(doc, "amount_paid"));
        if amount <= Decimal::ZERO || paid + amount > total {
            return Err(WorldError::PaymentDoesNotFit {
                amount,
                balance: total - paid,
            });
        }
        let paid = paid + amount;
        doc.insert("amount_paid".into(), money(paid));
        doc.insert("balance_due".into(), money(total - paid));
        let status = if paid == total {
            rules::INV_PAID
        } else {
            rules::INV_PARTIAL
        };
        doc.insert("status".into(), json!(status));
        doc.insert("updated_at".into(), json!(fmt_ts(now)));
        Ok(doc.clone())
    }

    /// Voids an invoice: its balance becomes 0 whatever was paid.
    pub(crate) fn void_invoice(&mut self, number: &str, now: i64) -> Result<Doc, WorldError> {
        let pos = self.invoice_pos(number)?;
        let doc = &mut self.invoices.rows[pos];
        if doc.get("status").and_then(Value::as_str) == Some(rules::INV_VOID) {
            return Err(WorldError::AlreadyVoid(number.to_string()));
        }
        doc.insert("status".into(), json!(rules::INV_VOID));
        doc.insert("balance_due".into(), money(Decimal::ZERO));
        doc.insert("updated_at".into(), json!(fmt_ts(now)));
        Ok(doc.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_shows_two_to_four_places() {
        assert_eq!(money_str("12.5".parse().unwrap()), "12.50");
        assert_eq!(money_str("12.1250".parse().unwrap()), "12.125");
        assert_eq!(money_str("7".parse().unwrap()), "7.00");
    }
}
