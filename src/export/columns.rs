//! Column order of the CSV exports: the API's field names, as the contract lists them.

use super::MirrorExport;

const INVENTORY: &[&str] = &[
    "id",
    "item_id",
    "item_number",
    "warehouse",
    "quantity_on_hand",
    "quantity_allocated",
    "quantity_available",
    "quantity_on_order",
    "created_at",
    "updated_at",
];

const INVOICES: &[&str] = &[
    "id",
    "invoice_number",
    "purchase_order_number",
    "fulfillment_order_number",
    "invoice_date",
    "due_date",
    "currency",
    "total_amount",
    "amount_paid",
    "balance_due",
    "status",
    "lines",
    "created_at",
    "updated_at",
];

const SHIPMENTS: &[&str] = &[
    "id",
    "fulfillment_order_id",
    "order_number",
    "purchase_order_number",
    "carrier",
    "service",
    "tracking_number",
    "tracking_url",
    "shipped_at",
    "delivered_at",
    "lines",
    "created_at",
    "updated_at",
];

/// Purchase and fulfillment order fields, after `kind` and `number`.
const ORDERS: &[&str] = &[
    "kind",
    "number",
    "id",
    "po_number",
    "order_number",
    "status",
    "order_date",
    "ship_method",
    "requested_ship_date",
    "anticipated_ship_date",
    "currency",
    "ship_to",
    "notes",
    "lines",
    "created_at",
    "updated_at",
];

/// The change log: `run, at, stream, id, key, change, fields, detail`, then the changed
/// fields' values before and after (JSON objects).
pub(super) const CHANGES: &[&str] = &[
    "run", "at", "stream", "id", "key", "change", "fields", "detail", "before", "after",
];

pub(super) fn for_export(what: MirrorExport) -> Vec<&'static str> {
    match what {
        MirrorExport::Inventory => INVENTORY,
        MirrorExport::Invoices => INVOICES,
        MirrorExport::Shipments => SHIPMENTS,
        MirrorExport::Orders => ORDERS,
    }
    .to_vec()
}
