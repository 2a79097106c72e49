//! The AHEAD API contract as the client reads it, in one place.
//!
//! Everything here is either documented by AHEAD or [settled] by us where the docs are silent
//! (see README, "Pointing it at the real API"). If an account manager tells a customer otherwise,
//! this is the file to change. The embedded sandbox keeps its own copy of these rules
//! (`sandbox::rules`) on purpose: the two share no code, so one can catch the other misreading
//! the contract.

use serde::Deserialize;
use serde_json::value::RawValue;

/// `GET` answers `200 Successfully authenticated as <Organization>` [doc].
pub(crate) const AUTHENTICATE_PATH: &str = "/v2/authenticate";
/// The text before the organisation's name in the authenticate answer [doc].
pub(crate) const AUTHENTICATED_AS: &str = "Successfully authenticated as ";
/// OAuth endpoints [doc]; their answers are not enveloped.
pub(crate) const AUTHORIZE_PATH: &str = "/oauth/authorize";
pub(crate) const TOKEN_PATH: &str = "/oauth/token";

/// The one query parameter a list request takes [doc].
pub(crate) const QUERY_PARAM: &str = "q";
/// Page size the server uses when `limit` is absent [settled]. The production server caps
/// `limit` silently (at 1000 [settled], perhaps lower), so the paged reader relies on no page
/// size: it advances by `count`.
pub(crate) const DEFAULT_LIMIT: u32 = 100;

/// Resource paths [settled: the docs name the capabilities, not the paths].
pub mod resource {
    pub const ITEMS: &str = "/v2/items";
    pub const INVENTORY: &str = "/v2/inventory";
    pub(crate) const INVOICES: &str = "/v2/invoices";
    pub const PURCHASE_ORDERS: &str = "/v2/purchase_orders";
    pub(crate) const FULFILLMENT_ORDERS: &str = "/v2/fulfillment_orders";
    pub(crate) const SHIPMENTS: &str = "/v2/shipments";
    pub const WEBHOOKS: &str = "/v2/webhooks";
}

/// Webhook event names [doc].
pub(crate) const WEBHOOK_EVENTS: [&str; 6] = [
    "purchase_order.updated",
    "purchase_order.shipped",
    "fulfillment_order.updated",
    "fulfillment_order.shipped",
    "fulfillment_order.delivered",
    "invoice.created",
];

/// The envelope around every `/v2` answer, success or error [doc].
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub count: u64,
    pub offset: u64,
    pub total_results: u64,
    pub results: Vec<Box<RawValue>>,
    pub errors: Option<Vec<ErrorItem>>,
}

/// One entry of `errors` [doc]; `field` may be null, and inside lines uses 0-based indexes such
/// as `lines[2].item_number` [settled].
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ErrorItem {
    pub code: String,
    pub field: Option<String>,
    pub message: String,
}

/// The OAuth token answer [doc].
#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    pub access_token: String,
    #[allow(dead_code)]
    pub token_type: String,
    pub expires_in: i64,
    pub refresh_token: String,
}

/// The OAuth error answer [settled]: `invalid_grant` (400) for a bad, used or expired grant or
/// refresh token; `invalid_client` (401) for a wrong client secret.
#[derive(Deserialize)]
pub(crate) struct OAuthError {
    pub error: String,
}

pub(crate) const INVALID_GRANT: &str = "invalid_grant";
pub(crate) const INVALID_CLIENT: &str = "invalid_client";

/// Status codes and what they mean for a retry [settled].
pub mod status {
    /// The request itself is wrong (a push rejects the order).
    pub const BAD_REQUEST: u16 = 400;
    /// Auth: refresh the token and replay.
    pub const UNAUTHORIZED: u16 = 401;
    /// No such record.
    pub const NOT_FOUND: u16 = 404;
    /// Duplicate external reference; `results` holds the existing record.
    pub const CONFLICT: u16 = 409;
    /// Validation; one error per bad field.
    pub(crate) const UNPROCESSABLE: u16 = 422;
    /// Rate limited; wait `Retry-After` seconds, never less.
    pub const TOO_MANY_REQUESTS: u16 = 429;
    /// Transient server errors.
    pub(crate) const TRANSIENT: [u16; 4] = [500, 502, 503, 504];
    /// The server said it did not process the request at all: safe to re-send even a `POST`.
    /// Any other 5xx after a `POST` may have been applied, so it is not re-sent blindly.
    pub(crate) const NOT_PROCESSED: [u16; 2] = [429, 503];
}
