//! Every choice the AHEAD contract marks as [settled], in one place.
//!
//! The public documentation is silent on these; an account manager may tell a customer
//! otherwise, so nothing else in the sandbox spells a path, a key, a limit or a code: it
//! names the constant here. Changing the contract should mean editing this file only.

use std::time::Duration;

// ---- Paths -------------------------------------------------------------------------------

/// The OAuth endpoints' prefix; they count towards the rate limit like /v2 requests.
pub(crate) const OAUTH_PREFIX: &str = "/oauth/";
pub(crate) const PATH_AUTHORIZE: &str = "/oauth/authorize";
pub(crate) const PATH_TOKEN: &str = "/oauth/token";
pub(crate) const PATH_AUTHENTICATE: &str = "/v2/authenticate";
/// Prefix of every API resource; requests under it are enveloped, counted and faulted.
pub(crate) const API_PREFIX: &str = "/v2";

/// The resources, as they appear in `/v2/<name>`.
pub(crate) const ITEMS: &str = "items";
pub(crate) const INVENTORY: &str = "inventory";
pub(crate) const INVOICES: &str = "invoices";
pub(crate) const PURCHASE_ORDERS: &str = "purchase_orders";
pub(crate) const FULFILLMENT_ORDERS: &str = "fulfillment_orders";
pub(crate) const SHIPMENTS: &str = "shipments";
pub(crate) const WEBHOOKS: &str = "webhooks";

// ---- Envelope ----------------------------------------------------------------------------

pub(crate) const KEY_COUNT: &str = "count";
pub(crate) const KEY_OFFSET: &str = "offset";
pub(crate) const KEY_TOTAL: &str = "total_results";
pub(crate) const KEY_RESULTS: &str = "results";
pub(crate) const KEY_ERRORS: &str = "errors";

// ---- Paging and the `q` parameter --------------------------------------------------------

/// The only query parameter a `/v2` request may carry.
pub(crate) const QUERY_PARAM: &str = "q";
pub(crate) const Q_LIMIT: &str = "limit";
pub(crate) const Q_OFFSET: &str = "offset";
pub(crate) const Q_ORDER_BY: &str = "order_by";
pub(crate) const Q_WHERE: &str = "where";
/// Silent cap on `limit` in production; `Control::page_cap` can lower it further.
pub(crate) const PAGE_CAP: usize = 1000;
pub(crate) const DEFAULT_LIMIT: usize = 100;
pub(crate) const DEFAULT_ORDER_BY: &str = "id";

// ---- Lifetimes ---------------------------------------------------------------------------

/// Authorization grants are single-use and expire after this long (sandbox clock).
pub(crate) const GRANT_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Bearer tokens live this long (sandbox clock); `expires_in` reports it in seconds.
pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(3 * 60 * 60);

// ---- OAuth answers -----------------------------------------------------------------------

pub(crate) const OAUTH_INVALID_CLIENT_TEXT: &str = "Invalid client_id";
pub(crate) const OAUTH_INVALID_GRANT: &str = "invalid_grant";
pub(crate) const OAUTH_INVALID_CLIENT: &str = "invalid_client";
pub(crate) const OAUTH_UNSUPPORTED_GRANT: &str = "unsupported_grant_type";
pub(crate) const OAUTH_INVALID_REQUEST: &str = "invalid_request";
pub(crate) const TOKEN_TYPE: &str = "bearer";
pub(crate) const WWW_AUTHENTICATE_INVALID: &str = "Bearer error=\"invalid_token\"";
pub(crate) const AUTHENTICATED_AS: &str = "Successfully authenticated as ";

// ---- Legacy MBX signing ------------------------------------------------------------------

pub(crate) const MBX_AUTH_HEADER: &str = "mbx-auth";
pub(crate) const MBX_DATE_HEADER: &str = "x-date";

// ---- Error codes (the `code` of an `errors` entry) ---------------------------------------

pub(crate) const ERR_BAD_REQUEST: &str = "bad_request";
pub(crate) const ERR_UNAUTHORIZED: &str = "unauthorized";
pub(crate) const ERR_NOT_FOUND: &str = "not_found";
pub(crate) const ERR_METHOD: &str = "method_not_allowed";
pub(crate) const ERR_DUPLICATE: &str = "duplicate";
pub(crate) const ERR_RATE_LIMITED: &str = "rate_limited";
pub(crate) const ERR_SERVER: &str = "server_error";
/// 422 codes: one error per bad field.
pub(crate) const ERR_REQUIRED: &str = "required";
pub(crate) const ERR_INVALID: &str = "invalid";
pub(crate) const ERR_READ_ONLY: &str = "read_only";
pub(crate) const ERR_UNKNOWN_FIELD: &str = "unknown_field";
pub(crate) const ERR_UNKNOWN_ITEM: &str = "unknown_item";
pub(crate) const ERR_STATUS: &str = "invalid_status";
pub(crate) const ERR_IMMUTABLE: &str = "immutable";

// ---- Statuses ----------------------------------------------------------------------------

pub(crate) const PO_STATUSES: &[&str] = &[
    "received",
    "acknowledged",
    "in_production",
    "shipped",
    "closed",
    "cancelled",
];
pub(crate) const FO_STATUSES: &[&str] = &[
    "received",
    "released",
    "picking",
    "shipped",
    "delivered",
    "cancelled",
];
pub(crate) const INVOICE_STATUSES: &[&str] = &["open", "partially_paid", "paid", "void"];
pub(crate) const STATUS_NEW: &str = "received";
pub(crate) const STATUS_CANCELLED: &str = "cancelled";
pub(crate) const STATUS_SHIPPED: &str = "shipped";
pub(crate) const STATUS_DELIVERED: &str = "delivered";
pub(crate) const STATUS_CLOSED: &str = "closed";
/// Statuses in which a purchase order may still be changed or cancelled.
pub(crate) const PO_CHANGEABLE: &[&str] = &["received", "acknowledged"];
/// Statuses in which a fulfillment order may still be changed or cancelled.
pub(crate) const FO_CHANGEABLE: &[&str] = &["received", "released"];
/// Statuses from which an order can ship (sandbox behaviour behind `ship_order`).
pub(crate) const PO_SHIPPABLE: &[&str] = &["received", "acknowledged", "in_production"];
pub(crate) const FO_SHIPPABLE: &[&str] = &["received", "released", "picking"];
pub(crate) const INV_OPEN: &str = "open";
pub(crate) const INV_PARTIAL: &str = "partially_paid";
pub(crate) const INV_PAID: &str = "paid";
pub(crate) const INV_VOID: &str = "void";

// ---- Writable fields ---------------------------------------------------------------------

/// Fields the server owns: a client sending one gets a 422 `read_only` naming it.
pub(crate) const READ_ONLY_FIELDS: &[&str] = &[
    "id",
    "status",
    "anticipated_ship_date",
    "created_at",
    "updated_at",
];
/// The order number may not change after creation: it is the customer's external
/// reference, the key duplicates (409) are detected by. A PUT may repeat it unchanged.
pub(crate) const PO_NUMBER: &str = "po_number";
pub(crate) const FO_NUMBER: &str = "order_number";

/// The type a field has on the wire; drives both write validation and `where` strictness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    Int,
    Str,
    /// A JSON string holding a decimal with up to 4 places; compared numerically.
    Money,
    /// RFC 3339 UTC with whole seconds; compared as instants.
    Time,
    /// `YYYY-MM-DD`.
    Date,
    /// Objects and arrays: returned, never filtered or ordered by.
    Complex,
}

/// One field of a resource: name, type, and whether it may be null.
pub(crate) type Field = (&'static str, FieldType, bool);

use FieldType::*;

pub(crate) const PO_WRITABLE: &[Field] = &[
    ("po_number", Str, false),
    ("order_date", Date, true),
    ("requested_ship_date", Date, true),
    ("currency", Str, false),
    ("ship_to", Complex, true),
    ("notes", Str, true),
    ("lines", Complex, false),
];
pub(crate) const PO_LINE_WRITABLE: &[Field] = &[
    ("line_number", Int, false),
    ("item_number", Str, false),
    ("quantity", Int, false),
    ("unit_price", Money, false),
    ("requested_ship_date", Date, true),
];
pub(crate) const FO_WRITABLE: &[Field] = &[
    ("order_number", Str, false),
    ("ship_method", Str, true),
    ("ship_to", Complex, true),
    ("requested_ship_date", Date, true),
    ("notes", Str, true),
    ("lines", Complex, false),
];
pub(crate) const FO_LINE_WRITABLE: &[Field] = &[
    ("line_number", Int, false),
    ("item_number", Str, false),
    ("quantity", Int, false),
];
/// Fields a line must carry; everything else on a line is optional.
pub(crate) const LINE_REQUIRED: &[&str] = &["item_number", "quantity"];
pub(crate) const ADDRESS_FIELDS: &[&str] = &[
    "name",
    "company",
    "address1",
    "address2",
    "city",
    "state",
    "postal_code",
    "country",
];
pub(crate) const WEBHOOK_WRITABLE: &[Field] = &[
    ("url", Str, false),
    ("events", Complex, false),
    ("secret", Str, false),
];

// ---- Readable fields per resource (for `where` and `order_by`) ---------------------------

const COMMON: [Field; 3] = [
    ("id", Int, false),
    ("created_at", Time, false),
    ("updated_at", Time, false),
];

macro_rules! fields {
    ($($f:expr),* $(,)?) => { &[COMMON[0], COMMON[1], COMMON[2], $($f),*] };
}

pub(crate) const ITEM_FIELDS: &[Field] = fields![
    ("item_number", Str, false),
    ("description", Str, false),
    ("unit_of_measure", Str, false),
    ("unit_price", Money, false),
];
pub(crate) const INVENTORY_FIELDS: &[Field] = fields![
    ("item_id", Int, false),
    ("item_number", Str, false),
    ("warehouse", Str, false),
    ("quantity_on_hand", Int, false),
    ("quantity_allocated", Int, false),
    ("quantity_available", Int, false),
    ("quantity_on_order", Int, false),
];
pub(crate) const INVOICE_FIELDS: &[Field] = fields![
    ("invoice_number", Str, false),
    ("purchase_order_number", Str, true),
    ("fulfillment_order_number", Str, true),
    ("invoice_date", Date, false),
    ("due_date", Date, false),
    ("currency", Str, false),
    ("total_amount", Money, false),
    ("amount_paid", Money, false),
    ("balance_due", Money, false),
    ("status", Str, false),
    ("lines", Complex, false),
];
pub(crate) const PO_FIELDS: &[Field] = fields![
    ("po_number", Str, false),
    ("status", Str, false),
    ("order_date", Date, true),
    ("requested_ship_date", Date, true),
    ("anticipated_ship_date", Date, true),
    ("currency", Str, false),
    ("ship_to", Complex, true),
    ("notes", Str, true),
    ("lines", Complex, false),
];
pub(crate) const FO_FIELDS: &[Field] = fields![
    ("order_number", Str, false),
    ("status", Str, false),
    ("ship_method", Str, true),
    ("ship_to", Complex, true),
    ("requested_ship_date", Date, true),
    ("anticipated_ship_date", Date, true),
    ("notes", Str, true),
    ("lines", Complex, false),
];
pub(crate) const SHIPMENT_FIELDS: &[Field] = fields![
    ("fulfillment_order_id", Int, true),
    ("order_number", Str, true),
    ("purchase_order_number", Str, true),
    ("carrier", Str, false),
    ("service", Str, false),
    ("tracking_number", Str, false),
    ("tracking_url", Str, false),
    ("shipped_at", Time, false),
    ("delivered_at", Time, true),
    ("lines", Complex, false),
];
/// `secret` is write-only: absent here, so it can be neither returned nor filtered on.
pub(crate) const WEBHOOK_FIELDS: &[Field] =
    fields![("url", Str, false), ("events", Complex, false)];

/// The readable schema of a resource, or None for an unknown resource name.
pub(crate) fn fields_of(resource: &str) -> Option<&'static [Field]> {
    Some(match resource {
        ITEMS => ITEM_FIELDS,
        INVENTORY => INVENTORY_FIELDS,
        INVOICES => INVOICE_FIELDS,
        PURCHASE_ORDERS => PO_FIELDS,
        FULFILLMENT_ORDERS => FO_FIELDS,
        SHIPMENTS => SHIPMENT_FIELDS,
        WEBHOOKS => WEBHOOK_FIELDS,
        _ => return None,
    })
}

pub(crate) fn field_type(fields: &[Field], name: &str) -> Option<(FieldType, bool)> {
    fields
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, t, nullable)| (*t, *nullable))
}

/// Money has at most this many decimal places on the wire.
pub(crate) const MONEY_SCALE: u32 = 4;

// ---- Webhooks ----------------------------------------------------------------------------

pub(crate) const EVENTS: &[&str] = &[
    EV_PO_UPDATED,
    EV_PO_SHIPPED,
    EV_FO_UPDATED,
    EV_FO_SHIPPED,
    EV_FO_DELIVERED,
    EV_INVOICE_CREATED,
];
pub(crate) const EV_PO_UPDATED: &str = "purchase_order.updated";
pub(crate) const EV_PO_SHIPPED: &str = "purchase_order.shipped";
pub(crate) const EV_FO_UPDATED: &str = "fulfillment_order.updated";
pub(crate) const EV_FO_SHIPPED: &str = "fulfillment_order.shipped";
pub(crate) const EV_FO_DELIVERED: &str = "fulfillment_order.delivered";
pub(crate) const EV_INVOICE_CREATED: &str = "invoice.created";
pub(crate) const HDR_EVENT: &str = "x-ahead-event";
pub(crate) const HDR_DELIVERY: &str = "x-ahead-delivery";
pub(crate) const HDR_SIGNATURE: &str = "x-ahead-signature";
pub(crate) const SIGNATURE_PREFIX: &str = "sha256=";
/// A receiver that has not answered within this long counts as a failed attempt.
pub(crate) const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries are retried for this long (real time) after the first attempt.
pub(crate) const WEBHOOK_RETRY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// Backoff doubles from `webhook_retry_base` but never waits longer than this.
pub(crate) const WEBHOOK_MAX_BACKOFF: Duration = Duration::from_secs(60 * 60);

// ---- World shape -------------------------------------------------------------------------

/// Warehouses of the seeded world: every item starts with one inventory row in each, so
/// 250,000 items give 1,000,000 rows.
pub(crate) const WAREHOUSES: &[&str] = &["SEA1", "DAL1", "ATL1", "AMS1"];
pub(crate) const CURRENCY: &str = "USD";
