//! Sandbox-only control routes, for tools outside the process (no auth: never expose a
//! sandbox beyond localhost). Bodies and answers are plain JSON; errors are `{"error": "..."}`,
//! 404 when the order or invoice named does not exist, else 400.
//!
//! | route | body | does |
//! |---|---|---|
//! | `GET /_sandbox/counters` | | the `Counters` |
//! | `DELETE /_sandbox/counters` | | reset them |
//! | `GET /_sandbox/faults` | | current fault settings |
//! | `POST /_sandbox/faults` | partial `Faults`: `revoke_token_after`, `reject_refresh`, `token_bucket` `{per_second, burst}` (or null), `rate_limit_every`, `rate_limit_after`, `retry_after_secs`, `fail_next`, `fail_status`, `latency_ms`, `page_cap`, `drift` `{resource, inserts, deletes}`, `drop_after_commit`, `duplicate_webhooks` | set the fields given |
//! | `DELETE /_sandbox/faults` | | clear all faults |
//! | `GET /_sandbox/clock` | | `{"now": RFC 3339}` |
//! | `POST /_sandbox/clock/advance` | `{"seconds": N}` | move the sandbox clock forward |
//! | `POST /_sandbox/world/stock` | `{"item_number","warehouse","on_hand"}` | set stock (creates the row) |
//! | `POST /_sandbox/world/inventory/remove` | `{"item_number","warehouse"}` | the item leaves the warehouse |
//! | `POST /_sandbox/world/invoices` | `{"purchase_order_number"?, "fulfillment_order_number"?, "lines": [["ITEM", qty]], "due_days"?}` | raise an invoice |
//! | `POST /_sandbox/world/invoices/{number}/pay` | `{"amount": "12.50"}` | record a payment |
//! | `POST /_sandbox/world/invoices/{number}/void` | | void it |
//! | `POST /_sandbox/world/orders/{kind}/{number}/ship` | | ship (kind = `purchase_orders`/`fulfillment_orders`) |
//! | `POST /_sandbox/world/orders/{kind}/{number}/deliver` | | deliver |
//! | `POST /_sandbox/world/orders/{kind}/{number}/status` | `{"status": "..."}` | force a status |
//! | `POST /_sandbox/world/simulate` | `{"seconds": N}` | run the activity generator |

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use super::control::Control;
use super::mutations::{NewInvoice, WorldError};
use super::server::App;

fn ctl(app: App) -> Control {
    Control { app }
}

fn reply<T: serde::Serialize>(r: anyhow::Result<T>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            let not_found = e
                .downcast_ref::<WorldError>()
                .is_some_and(WorldError::is_not_found);
            let status = if not_found {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, Json(json!({ "error": format!("{e:#}") }))).into_response()
        }
    }
}

/// Parses a JSON body into `T`, answering 400 with the reason when it does not fit.
fn body<T: for<'de> Deserialize<'de>>(raw: &[u8]) -> anyhow::Result<T> {
    Ok(serde_json::from_slice(raw)?)
}

#[derive(Deserialize)]
struct Seconds {
    seconds: u64,
}
#[derive(Deserialize)]
struct Stock {
    item_number: String,
    warehouse: String,
    #[serde(default)]
    on_hand: i64,
}
#[derive(Deserialize)]
struct Amount {
    amount: Decimal,
}
#[derive(Deserialize)]
struct Status {
    status: String,
}

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route(
            "/_sandbox/counters",
            get(|State(a): State<App>| async move { Json(ctl(a).counters()) })
                .delete(|State(a): State<App>| async move {
                    ctl(a).reset_counters();
                    reply(Ok(()))
                }),
        )
        .route(
            "/_sandbox/faults",
            get(|State(a): State<App>| async move { Json(ctl(a).faults()) })
                .post(|State(a): State<App>, b: axum::body::Bytes| async move {
                    reply(body::<Value>(&b).and_then(|v| ctl(a.clone()).patch_faults(&v)).map(|_| ctl(a).faults()))
                })
                .delete(|State(a): State<App>| async move {
                    ctl(a).clear_faults();
                    reply(Ok(()))
                }),
        )
        .route(
            "/_sandbox/clock",
            get(|State(a): State<App>| async move { Json(json!({ "now": ctl(a).now().to_rfc3339() })) }),
        )
        .route(
            "/_sandbox/clock/advance",
            post(|State(a): State<App>, b: axum::body::Bytes| async move {
                let c = ctl(a);
                reply(body::<Seconds>(&b).map(|s| {
                    c.advance_clock(Duration::from_secs(s.seconds));
                    json!({ "now": c.now().to_rfc3339() })
                }))
            }),
        )
        .route(
            "/_sandbox/world/stock",
            post(|State(a): State<App>, b: axum::body::Bytes| async move {
                reply(body::<Stock>(&b).and_then(|s| ctl(a).set_stock(&s.item_number, &s.warehouse, s.on_hand)))
            }),
        )
        .route(
            "/_sandbox/world/inventory/remove",
            post(|State(a): State<App>, b: axum::body::Bytes| async move {
                reply(body::<Stock>(&b).and_then(|s| ctl(a).remove_inventory(&s.item_number, &s.warehouse)))
            }),
        )
        .route(
            "/_sandbox/world/invoices",
            post(|State(a): State<App>, b: axum::body::Bytes| async move {
                reply(body::<NewInvoice>(&b).and_then(|s| ctl(a).create_invoice(&s)))
            }),
        )
        .route(
            "/_sandbox/world/invoices/{number}/pay",
            post(|State(a): State<App>, Path(n): Path<String>, b: axum::body::Bytes| async move {
                reply(body::<Amount>(&b).and_then(|p| ctl(a).pay_invoice(&n, p.amount)))
            }),
        )
        .route(
            "/_sandbox/world/invoices/{number}/void",
            post(|State(a): State<App>, Path(n): Path<String>| async move { reply(ctl(a).void_invoice(&n)) }),
        )
        .route(
            "/_sandbox/world/orders/{kind}/{number}/{action}",
            post(
                |State(a): State<App>, Path((k, n, action)): Path<(String, String, String)>, b: axum::body::Bytes| async move {
                    let c = ctl(a);
                    reply(match action.as_str() {
                        "ship" => c.ship_order(&k, &n),
                        "deliver" => c.deliver_order(&k, &n),
                        "status" => body::<Status>(&b).and_then(|s| c.set_order_status(&k, &n, &s.status)),
                        other => Err(anyhow::anyhow!("unknown action {other:?}: ship, deliver or status")),
                    })
                },
            ),
        )
        .route(
            "/_sandbox/world/simulate",
            post(|State(a): State<App>, b: axum::body::Bytes| async move {
                reply(body::<Seconds>(&b).map(|s| ctl(a).simulate(Duration::from_secs(s.seconds))))
            }),
        )
}
