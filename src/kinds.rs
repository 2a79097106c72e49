//! The domain's vocabulary: the streams a pull mirrors and the kinds of order a push sends. Every
//! layer names them through these types; their spellings live here and nowhere else (the command
//! line's `ValueEnum`s are converted in `commands/`).

/// A stream the engine mirrors from AHEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    Inventory,
    Invoices,
    Shipments,
    PurchaseOrders,
    FulfillmentOrders,
}

impl StreamKind {
    pub(crate) const ALL: [StreamKind; 5] = [
        StreamKind::Inventory,
        StreamKind::Invoices,
        StreamKind::Shipments,
        StreamKind::PurchaseOrders,
        StreamKind::FulfillmentOrders,
    ];

    /// The name used in the store, the change log, logs and `--stream`.
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Inventory => "inventory",
            StreamKind::Invoices => "invoices",
            StreamKind::Shipments => "shipments",
            StreamKind::PurchaseOrders => "purchase_orders",
            StreamKind::FulfillmentOrders => "fulfillment_orders",
        }
    }

    /// A stream by name, in either spelling (`purchase-orders`, `purchase_orders`).
    pub(crate) fn from_name(name: &str) -> Option<StreamKind> {
        let name = name.replace('-', "_");
        StreamKind::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The kind of order the stream mirrors, if it mirrors orders.
    pub fn orders(self) -> Option<OrderKind> {
        OrderKind::ALL.into_iter().find(|k| k.stream() == self)
    }
}

/// A kind of order the engine creates in AHEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderKind {
    /// `POST /v2/purchase_orders`; the order number is `po_number`.
    PurchaseOrder,
    /// `POST /v2/fulfillment_orders`; the order number is `order_number`.
    FulfillmentOrder,
}

impl OrderKind {
    pub(crate) const ALL: [OrderKind; 2] = [OrderKind::PurchaseOrder, OrderKind::FulfillmentOrder];

    /// The name used in mapping files, the push ledger and exports (`purchase_order`).
    pub fn as_str(self) -> &'static str {
        match self {
            OrderKind::PurchaseOrder => "purchase_order",
            OrderKind::FulfillmentOrder => "fulfillment_order",
        }
    }

    /// The API field that holds the customer's order number.
    pub(crate) fn number_field(self) -> &'static str {
        match self {
            OrderKind::PurchaseOrder => "po_number",
            OrderKind::FulfillmentOrder => "order_number",
        }
    }

    /// The stream that mirrors orders of this kind (and records their rejections).
    pub fn stream(self) -> StreamKind {
        match self {
            OrderKind::PurchaseOrder => StreamKind::PurchaseOrders,
            OrderKind::FulfillmentOrder => StreamKind::FulfillmentOrders,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_both_spellings() {
        for s in StreamKind::ALL {
            assert_eq!(StreamKind::from_name(s.name()), Some(s));
            assert_eq!(StreamKind::from_name(&s.name().replace('_', "-")), Some(s));
        }
        for k in OrderKind::ALL {
            assert_eq!(k.stream().orders(), Some(k));
        }
        assert_eq!(StreamKind::Inventory.orders(), None);
        assert_eq!(StreamKind::from_name("nope"), None);
    }
}
