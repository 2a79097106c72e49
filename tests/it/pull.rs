//! Pull streams against the sandbox: the mirror must equal the server's truth after faults,
//! the change log must list exactly what the test changed.

use std::collections::BTreeMap;
use std::str::FromStr;

use ahead_sync::api::{pages, ApiClient, Query};
use ahead_sync::pull::{self, Mode, PullOutcome, PullSettings, StreamKind};
use ahead_sync::store::{ExportRow, Store};
use futures::StreamExt;
use rust_decimal::Decimal;

use crate::util::Harness;

fn settings() -> PullSettings {
    PullSettings {
        page_size: 50,
        concurrency: 3,
        ..PullSettings::default()
    }
}

/// Every record the server has for `stream` (with an optional filter), by id, as raw JSON.
pub async fn server_truth(
    client: &ApiClient,
    stream: StreamKind,
    query: Query,
) -> BTreeMap<i64, String> {
    let mut out = BTreeMap::new();
    let mut s = Box::pin(pages(
        client,
        stream.path(),
        query.order_by("id").limit(1000),
        1,
    ));
    while let Some(page) = s.next().await {
        for row in page.unwrap().rows {
            let v: serde_json::Value = serde_json::from_str(row.get()).unwrap();
            out.insert(v["id"].as_i64().unwrap(), row.get().to_string());
        }
    }
    out
}

/// The mirror of `stream`, by id; `state` filters (`Some("")` = outstanding invoices only).
pub fn mirror(store: &Store, stream: StreamKind, state: Option<&str>) -> BTreeMap<i64, String> {
    let mut out = BTreeMap::new();
    store
        .for_each_snapshot(stream.name(), |id, st, body| {
            if state.is_none_or(|s| s == st) {
                out.insert(id, body.to_string());
            }
            Ok(())
        })
        .unwrap()
        .unwrap();
    out
}

pub fn changes(store: &Store, run: i64) -> Vec<ExportRow> {
    let mut out = Vec::new();
    store
        .for_each_change(None, Some(run), None, |r| {
            out.push(r);
            Ok(())
        })
        .unwrap()
        .unwrap();
    out
}

async fn run_pull(h: &Harness, client: &ApiClient, stream: StreamKind, full: bool) -> PullOutcome {
    let mode = pull::choose_mode(&h.store, stream, &settings(), full).unwrap();
    let run = h.store.begin_run("pull", "", 0).unwrap();
    pull::pull(client, &h.store, stream, mode, &settings(), run, None)
        .await
        .unwrap()
}

async fn assert_inventory_mirrors_server(h: &Harness) {
    h.sandbox.control().clear_faults();
    let truth = server_truth(&h.client(), StreamKind::Inventory, Query::new()).await;
    let mirror = mirror(&h.store, StreamKind::Inventory, None);
    assert_eq!(mirror.len(), truth.len(), "same number of rows");
    assert!(mirror == truth, "the mirror equals the server's truth");
}

#[tokio::test]
async fn first_pull_creates_everything_and_a_second_finds_nothing() {
    let h = Harness::new().await;
    let client = h.client();
    let first = run_pull(&h, &client, StreamKind::Inventory, false).await;
    assert_eq!(first.mode, Mode::Full, "no watermark yet: a full pull");
    let total = h.sandbox.control().inventory_len() as u64;
    assert_eq!(first.stats.created, total);
    assert_eq!(changes(&h.store, first.run).len() as u64, total);
    assert_inventory_mirrors_server(&h).await;
    let wm = h.store.watermark("inventory").unwrap().unwrap();
    assert!(wm.updated_at.ends_with('Z'));

    let second = run_pull(&h, &client, StreamKind::Inventory, false).await;
    assert!(
        matches!(second.mode, Mode::Incremental { .. }),
        "{:?}",
        second.mode
    );
    assert_eq!(
        (
            second.stats.created,
            second.stats.updated,
            second.stats.removed
        ),
        (0, 0, 0)
    );
    assert!(changes(&h.store, second.run).is_empty());
    let run = h.store.begin_run("pull", "--full", 0).unwrap();
    let writes_before = h.store.total_changes();
    let full = pull::pull(
        &client,
        &h.store,
        StreamKind::Inventory,
        Mode::Full,
        &settings(),
        run,
        None,
    )
    .await
    .unwrap();
    assert_eq!(full.stats.unchanged, total);
    assert!(changes(&h.store, full.run).is_empty());
    // Unchanged rows cost no writes: only the watermark row was touched (its count of
    // incremental pulls since the last full one went back to 0).
    assert_eq!(h.store.total_changes() - writes_before, 1);
    assert_eq!(full.stats.rows_written, 1);
    // Another full pull of the same rows changes nothing at all, the watermark included.
    let wm_before = h.store.watermark("inventory").unwrap().unwrap();
    let again = run_pull(&h, &client, StreamKind::Inventory, true).await;
    assert_eq!(
        (again.stats.unchanged, again.stats.rows_written),
        (total, 0)
    );
    assert_eq!(h.store.watermark("inventory").unwrap().unwrap(), wm_before);
}

#[tokio::test]
async fn updates_and_removals_are_recorded_with_their_fields() {
    let h = Harness::new().await;
    let client = h.client();
    run_pull(&h, &client, StreamKind::Inventory, false).await;
    let c = h.sandbox.control();
    c.set_stock("SRV-1U-X10", "ATL1", 4321).unwrap();
    c.remove_inventory("PSU-800W", "SEA1").unwrap();

    // An incremental pull sees the update; only a full one can see the removal.
    let inc = run_pull(&h, &client, StreamKind::Inventory, false).await;
    let log = changes(&h.store, inc.run);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (log[0].key.as_str(), log[0].change.as_str()),
        ("SRV-1U-X10@ATL1", "updated")
    );
    assert!(
        log[0].fields.split(';').any(|f| f == "quantity_on_hand"),
        "{}",
        log[0].fields
    );
    let after: serde_json::Value = serde_json::from_str(log[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(after["quantity_on_hand"], 4321);
    // Diffed against the stored version: unchanged fields are not named, and the old value is
    // the one stored.
    assert!(
        !log[0]
            .fields
            .split(';')
            .any(|f| f == "item_number" || f == "warehouse"),
        "{}",
        log[0].fields
    );
    let before: serde_json::Value =
        serde_json::from_str(log[0].before.as_deref().unwrap()).unwrap();
    assert!(
        before["quantity_on_hand"].is_i64() && before["quantity_on_hand"] != 4321,
        "{before}"
    );

    let full = run_pull(&h, &client, StreamKind::Inventory, true).await;
    let log = changes(&h.store, full.run);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (log[0].key.as_str(), log[0].change.as_str()),
        ("PSU-800W@SEA1", "removed")
    );
    assert_inventory_mirrors_server(&h).await;
}

#[tokio::test]
async fn drift_between_pages_is_detected_and_rechecked() {
    let h = Harness::new().await;
    let client = h.client();
    // Rows inserted and deleted between two pages of the first pull: the counts still add up,
    // but rows shift across the page boundary.
    h.sandbox.control().drift_next_pages("inventory", 3, 3);
    let first = run_pull(&h, &client, StreamKind::Inventory, false).await;
    assert!(first.drift_seen, "the shift was noticed");
    assert!(first.consistent, "consistent after re-check");
    assert_inventory_mirrors_server(&h).await;

    // Again on a full re-pull, now that removals are possible: nothing invented or lost.
    h.sandbox.control().drift_next_pages("inventory", 2, 4);
    let second = run_pull(&h, &client, StreamKind::Inventory, true).await;
    assert!(second.drift_seen);
    assert_inventory_mirrors_server(&h).await;
    let log = changes(&h.store, second.run);
    assert_eq!(
        log.iter().filter(|c| c.change == "removed").count(),
        4,
        "{log:?}"
    );
    assert_eq!(
        log.iter().filter(|c| c.change == "created").count(),
        2,
        "{log:?}"
    );
}

#[tokio::test]
async fn faults_during_a_pull_leave_the_mirror_exact() {
    let h = Harness::new().await;
    let client = h.client();
    client.login().await.unwrap();
    let c = h.sandbox.control();
    c.revoke_token_after(4);
    c.rate_limit_every(5, 1);
    c.page_cap(23);
    let first = run_pull(&h, &client, StreamKind::Inventory, false).await;
    assert_eq!(
        first.stats.created,
        h.sandbox.control().inventory_len() as u64
    );
    assert!(
        first.stats.retries > 0 && first.stats.token_refreshes > 0,
        "{:?}",
        first.stats
    );
    assert_inventory_mirrors_server(&h).await;
}

#[tokio::test]
async fn a_failed_pull_is_redone_without_recording_anything_twice() {
    let h = Harness::new().await;
    let client = h.client();
    // The sandbox has answered no /v2 request yet, so its 4th is rate limited for longer
    // than the client may wait: the pull dies after three pages, at a point the test knows.
    h.sandbox.control().rate_limit_every(4, 3600);
    let s = PullSettings {
        concurrency: 1,
        ..settings()
    };
    let mode = pull::choose_mode(&h.store, StreamKind::Inventory, &s, false).unwrap();
    let run = h.store.begin_run("pull", "", 0).unwrap();
    let failed = pull::pull(
        &client,
        &h.store,
        StreamKind::Inventory,
        mode,
        &s,
        run,
        None,
    )
    .await;
    assert!(failed.is_err(), "the pull failed");
    let partial = h.store.snapshot_count("inventory").unwrap();
    assert_eq!(partial, 50 + 49 + 49, "three pages were committed");
    assert!(
        h.store.watermark("inventory").unwrap().is_none(),
        "no watermark for a failed pull"
    );

    h.sandbox.control().clear_faults();
    let redo = run_pull(&h, &client, StreamKind::Inventory, false).await;
    assert_eq!(
        redo.stats.created + partial,
        h.sandbox.control().inventory_len() as u64
    );
    assert_inventory_mirrors_server(&h).await;
    // Every row was recorded as created exactly once across both runs.
    let mut created = BTreeMap::new();
    h.store
        .for_each_change(Some("inventory"), None, None, |r| {
            *created.entry(r.record_id).or_insert(0) += 1;
            Ok(())
        })
        .unwrap()
        .unwrap();
    assert!(created.values().all(|n| *n == 1));
    assert_eq!(created.len(), h.sandbox.control().inventory_len());
}

#[tokio::test]
async fn invoices_that_leave_the_outstanding_set_are_closed_with_their_final_status() {
    let h = Harness::new().await;
    let client = h.client();
    let first = run_pull(&h, &client, StreamKind::Invoices, false).await;
    assert_eq!(first.mode, Mode::WholeSet);
    let outstanding = Query::new().is_in("status", vec!["open".into(), "partially_paid".into()]);
    let truth = server_truth(&client, StreamKind::Invoices, outstanding.clone()).await;
    assert!(
        truth.len() >= 3,
        "the seeded world has outstanding invoices"
    );
    assert_eq!(mirror(&h.store, StreamKind::Invoices, Some("")), truth);

    // Pay one in full, pay part of another, void a third.
    let numbers: Vec<(String, Decimal)> = truth
        .values()
        .map(|body| {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            (
                v["invoice_number"].as_str().unwrap().to_string(),
                Decimal::from_str(v["balance_due"].as_str().unwrap()).unwrap(),
            )
        })
        .take(3)
        .collect();
    let c = h.sandbox.control();
    c.pay_invoice(&numbers[0].0, numbers[0].1).unwrap();
    c.pay_invoice(&numbers[1].0, Decimal::new(1, 2)).unwrap();
    c.void_invoice(&numbers[2].0).unwrap();

    let second = run_pull(&h, &client, StreamKind::Invoices, false).await;
    let log = changes(&h.store, second.run);
    let by_key: BTreeMap<&str, &ExportRow> = log.iter().map(|r| (r.key.as_str(), r)).collect();
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(by_key[numbers[0].0.as_str()].change, "closed");
    assert_eq!(by_key[numbers[0].0.as_str()].detail, "paid");
    assert_eq!(by_key[numbers[1].0.as_str()].change, "updated");
    assert!(by_key[numbers[1].0.as_str()].fields.contains("amount_paid"));
    assert_eq!(by_key[numbers[2].0.as_str()].change, "closed");
    assert_eq!(by_key[numbers[2].0.as_str()].detail, "void");
    // The closed ones are kept, with their final amounts, no longer outstanding.
    let closed = mirror(&h.store, StreamKind::Invoices, Some("closed"));
    let paid = closed
        .values()
        .find(|b| b.contains(&numbers[0].0))
        .expect("kept");
    let paid: serde_json::Value = serde_json::from_str(paid).unwrap();
    assert_eq!(paid["status"], "paid");
    assert_eq!(
        Decimal::from_str(paid["balance_due"].as_str().unwrap()).unwrap(),
        Decimal::ZERO
    );
    let truth = server_truth(&client, StreamKind::Invoices, outstanding).await;
    assert_eq!(mirror(&h.store, StreamKind::Invoices, Some("")), truth);
    // A third pull records nothing new.
    let third = run_pull(&h, &client, StreamKind::Invoices, false).await;
    assert!(changes(&h.store, third.run).is_empty());
}

#[tokio::test]
async fn shipments_and_order_status_are_mirrored() {
    let h = Harness::new().await;
    let client = h.client();
    let order = serde_json::json!({
        "order_number": "SO-IT-SHIP",
        "ship_method": "ups_ground",
        "lines": [{"line_number": 1, "item_number": "SRV-1U-X10", "quantity": 2}]
    });
    client.post("/v2/fulfillment_orders", &order).await.unwrap();
    run_pull(&h, &client, StreamKind::FulfillmentOrders, false).await;
    run_pull(&h, &client, StreamKind::Shipments, false).await;
    h.sandbox
        .control()
        .ship_order("fulfillment_orders", "SO-IT-SHIP")
        .unwrap();

    let orders = run_pull(&h, &client, StreamKind::FulfillmentOrders, false).await;
    let log = changes(&h.store, orders.run);
    let row = log
        .iter()
        .find(|r| r.key == "SO-IT-SHIP")
        .expect("the order changed");
    assert_eq!(row.change, "updated");
    assert!(
        row.fields.split(';').any(|f| f == "status"),
        "{}",
        row.fields
    );
    let ships = run_pull(&h, &client, StreamKind::Shipments, false).await;
    let log = changes(&h.store, ships.run);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].change, "created");
    let shipment = mirror(&h.store, StreamKind::Shipments, None)
        .into_values()
        .find(|b| b.contains("SO-IT-SHIP"))
        .expect("the shipment is mirrored");
    let v: serde_json::Value = serde_json::from_str(&shipment).unwrap();
    assert_eq!(log[0].key, v["tracking_number"].as_str().unwrap());
    assert!(v["tracking_url"].as_str().unwrap().starts_with("http"));
}

#[tokio::test]
async fn a_backfill_never_moves_the_watermark() {
    let h = Harness::new().await;
    let client = h.client();
    run_pull(&h, &client, StreamKind::Inventory, false).await;
    let before = h.store.watermark("inventory").unwrap().unwrap();
    let run = h.store.begin_run("backfill", "", 0).unwrap();
    let mode = Mode::Window {
        since: "2000-01-01T00:00:00Z".into(),
        until: Some("2100-01-01T00:00:00Z".into()),
    };
    let out = pull::pull(
        &client,
        &h.store,
        StreamKind::Inventory,
        mode,
        &settings(),
        run,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        out.stats.rows_read,
        h.sandbox.control().inventory_len() as u64
    );
    assert_eq!(out.stats.unchanged, out.stats.rows_read);
    assert_eq!(h.store.watermark("inventory").unwrap().unwrap(), before);
}
