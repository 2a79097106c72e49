//! What a pull does with each stream ([`StreamKind`], from `kinds`): which resource it reads, how a record's natural key is formed, and how
//! each is pulled by default.

use serde_json::Value;

use super::diff::Head;
use crate::api::contract::resource;
use crate::api::Query;
pub use crate::kinds::StreamKind;

/// Invoice statuses that make an invoice outstanding [settled in the contract].
pub(crate) const OUTSTANDING: [&str; 2] = ["open", "partially_paid"];
/// The `state` a snapshot gets when its invoice left the outstanding set.
pub(crate) const CLOSED: &str = "closed";

impl StreamKind {
    pub fn path(self) -> &'static str {
        match self {
            StreamKind::Inventory => resource::INVENTORY,
            StreamKind::Invoices => resource::INVOICES,
            StreamKind::Shipments => resource::SHIPMENTS,
            StreamKind::PurchaseOrders => resource::PURCHASE_ORDERS,
            StreamKind::FulfillmentOrders => resource::FULFILLMENT_ORDERS,
        }
    }

    /// The natural key a person recognises: item_number@warehouse, invoice_number, order
    /// number, tracking number. Falls back to the id when the record lacks it.
    pub fn key(self, head: &Head<'_>) -> String {
        let key = match self {
            StreamKind::Inventory => match (&head.item_number, &head.warehouse) {
                (Some(i), Some(w)) => Some(format!("{i}@{w}")),
                _ => None,
            },
            StreamKind::Invoices => head.invoice_number.as_deref().map(str::to_string),
            StreamKind::Shipments => head.tracking_number.as_deref().map(str::to_string),
            StreamKind::PurchaseOrders => head.po_number.as_deref().map(str::to_string),
            StreamKind::FulfillmentOrders => head.order_number.as_deref().map(str::to_string),
        };
        key.unwrap_or_else(|| format!("#{}", head.id))
    }

    /// The snapshot state of a record: invoices no longer outstanding are `closed`.
    pub fn state(self, head: &Head<'_>) -> &'static str {
        match (self, head.status.as_deref()) {
            (StreamKind::Invoices, Some(status)) if !OUTSTANDING.contains(&status) => CLOSED,
            _ => "",
        }
    }

    /// The filter every default pull of this stream applies (invoices: the outstanding set).
    pub(crate) fn default_filter(self, query: Query) -> Query {
        match self {
            StreamKind::Invoices => query.is_in(
                "status",
                OUTSTANDING.iter().map(|s| Value::from(*s)).collect(),
            ),
            _ => query,
        }
    }

    /// Whether a default pull reads the whole (filtered) set every time rather than only what
    /// changed since the watermark. Invoices do: the outstanding set is small, and reading it
    /// whole is how an invoice that left it is noticed.
    pub(crate) fn always_whole_set(self) -> bool {
        self == StreamKind::Invoices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_states() {
        let h = Head::parse(r#"{"id":3,"item_number":"A","warehouse":"ATL"}"#).unwrap();
        assert_eq!(StreamKind::Inventory.key(&h), "A@ATL");
        assert_eq!(StreamKind::Invoices.key(&h), "#3");
        let paid = Head::parse(r#"{"id":4,"invoice_number":"INV-1","status":"paid"}"#).unwrap();
        assert_eq!(StreamKind::Invoices.state(&paid), CLOSED);
        let open =
            Head::parse(r#"{"id":4,"invoice_number":"INV-1","status":"partially_paid"}"#).unwrap();
        assert_eq!(StreamKind::Invoices.state(&open), "");
        assert_eq!(
            StreamKind::from_name("purchase-orders"),
            Some(StreamKind::PurchaseOrders)
        );
    }
}
