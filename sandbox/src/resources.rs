//! `GET /v2/<resource>` and `GET /v2/<resource>/{id}` for every resource.

// Early exits carry a finished `Response` as the error: it is built once, on a cold path,
// so its size does not matter and boxing it would only add noise.
#![allow(clippy::result_large_err)]

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::envelope::{self, Envelope};
use super::query::{self, Query};
use super::rules;
use super::server::App;
use super::world::{Row, World};

/// Extracts and decodes `q` from the raw query string (the gate already refused any other
/// parameter). A repeated `q` is ambiguous, so it is a 400 too.
fn q_param(raw: Option<&str>) -> Result<Option<String>, Response> {
    let mut found = None;
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if k == rules::QUERY_PARAM {
            if found.is_some() {
                return Err(envelope::bad_request("q given more than once"));
            }
            found = Some(v.into_owned());
        }
    }
    Ok(found)
}

pub(crate) async fn list(
    State(app): State<App>,
    resource: &'static str,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = match q_param(raw.as_deref()) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let fields = rules::fields_of(resource).expect("routed resources have a schema");
    let cap = app
        .faults()
        .page_cap
        .map_or(rules::PAGE_CAP, |c| c.clamp(1, rules::PAGE_CAP));
    let query = match query::parse(q.as_deref(), fields, cap) {
        Ok(query) => query,
        Err(error) => return envelope::bad_request(error.to_string()),
    };
    // Only a page actually served counts towards a pending drift.
    let drift = super::faults::drift_due(&mut app.faults(), resource);
    if let Some(d) = drift {
        app.mutate(|w, now| w.drift(&d, now));
    }
    let w = app.world();
    match resource {
        rules::ITEMS => render(&w, &w.items, &query),
        rules::INVENTORY => render(&w, &w.inventory, &query),
        _ => render(&w, &w.table(resource).expect("doc table").rows, &query),
    }
}

fn render<R: Row>(w: &World, rows: &[R], q: &Query) -> Response {
    let (total, page) = query::page(w, rows, q);
    let mut env = Envelope::with_capacity(page.len() * 320);
    for r in page {
        env.push(|b| r.render(w, b));
    }
    env.finish(StatusCode::OK, q.offset, total, &[])
}

pub(crate) async fn get_one(
    State(app): State<App>,
    resource: &'static str,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return envelope::not_found();
    };
    let w = app.world();
    let mut env = Envelope::with_capacity(1024);
    let found = match resource {
        rules::ITEMS => w
            .items
            .binary_search_by_key(&id, |i| i.id)
            .ok()
            .map(|p| env.push(|b| w.items[p].render(&w, b))),
        rules::INVENTORY => w
            .inventory_position(id)
            .map(|p| env.push(|b| w.inventory[p].render(&w, b))),
        _ => w
            .table(resource)
            .and_then(|t| t.get(id))
            .map(|d| env.push(|b| d.render(&w, b))),
    };
    match found {
        Some(()) => env.finish(StatusCode::OK, 0, 1, &[]),
        None => envelope::not_found(),
    }
}
