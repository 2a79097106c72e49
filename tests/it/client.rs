//! The AHEAD client against the sandbox under each injected fault, asserting what the server saw.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ahead_sync::api::contract::resource;
use ahead_sync::api::{pages, ApiClient, ApiError, Page, Query, Stats};
use futures::StreamExt;

use crate::util::Harness;

/// Read every inventory row through the paged reader; returns (rows, pages).
async fn read_all(
    client: &ApiClient,
    limit: u32,
    concurrency: usize,
) -> Result<(Vec<serde_json::Value>, usize), ApiError> {
    let mut stream = Box::pin(pages(
        client,
        resource::INVENTORY,
        Query::new().limit(limit),
        concurrency,
    ));
    let mut rows = Vec::new();
    let mut n = 0;
    while let Some(page) = stream.next().await {
        let page: Page = page?;
        assert_eq!(
            page.count as usize,
            page.rows.len(),
            "count matches the rows"
        );
        n += 1;
        for row in page.rows {
            rows.push(serde_json::from_str(row.get()).unwrap());
        }
    }
    Ok((rows, n))
}

fn ids(rows: &[serde_json::Value]) -> HashSet<u64> {
    rows.iter().map(|r| r["id"].as_u64().unwrap()).collect()
}

/// Pages the reader needs for `total` rows at `step` rows a page (each page after the first
/// overlaps the one before by a row).
fn pages_for(total: u64, step: u64) -> u64 {
    if total <= step {
        1
    } else {
        1 + (total - step).div_ceil(step - 1)
    }
}

async fn inventory_total(client: &ApiClient) -> u64 {
    client
        .get(resource::INVENTORY, Some(&Query::new().limit(1)))
        .await
        .unwrap()
        .total_results
}

#[tokio::test]
async fn paged_reader_reads_every_row_once_at_any_concurrency() {
    let h = Harness::new().await;
    let client = h.client();
    let total = inventory_total(&client).await;
    assert!(total > 200, "the seeded world has rows ({total})");
    for concurrency in [1, 4] {
        let (rows, pages) = read_all(&client, 60, concurrency).await.unwrap();
        assert_eq!(rows.len() as u64, total);
        assert_eq!(ids(&rows).len() as u64, total, "no row twice");
        assert_eq!(pages as u64, pages_for(total, 60));
    }
}

#[tokio::test]
async fn silent_page_cap_is_followed_by_count_not_limit() {
    let h = Harness::new().await;
    let client = h.client();
    let total = inventory_total(&client).await;
    h.sandbox.control().page_cap(37);
    let before = h.sandbox.control().requests_to("GET /v2/inventory");
    let (rows, pages) = read_all(&client, 500, 3).await.unwrap();
    assert_eq!(rows.len() as u64, total);
    assert_eq!(ids(&rows).len() as u64, total);
    assert_eq!(pages as u64, pages_for(total, 37));
    let seen = h.sandbox.control().requests_to("GET /v2/inventory") - before;
    assert_eq!(
        seen,
        pages_for(total, 37),
        "one request per capped page, none wasted"
    );
}

#[tokio::test]
async fn a_cap_lowered_mid_read_leaves_no_gap() {
    let h = Harness::new().await;
    let client = h.client();
    let total = inventory_total(&client).await;
    let mut stream = Box::pin(pages(
        &client,
        resource::INVENTORY,
        Query::new().limit(50),
        2,
    ));
    let mut rows = Vec::new();
    let mut first = true;
    while let Some(page) = stream.next().await {
        let page = page.unwrap();
        if first {
            // Pages already planned at 50 now come back with 20 rows: the reader must fetch
            // the rest of each window.
            h.sandbox.control().page_cap(20);
            first = false;
        }
        for row in page.rows {
            rows.push(serde_json::from_str::<serde_json::Value>(row.get()).unwrap());
        }
    }
    assert_eq!(rows.len() as u64, total);
    assert_eq!(ids(&rows).len() as u64, total);
}

#[tokio::test]
async fn token_revoked_mid_pull_is_refreshed_once_and_the_request_replayed() {
    let h = Harness::new().await;
    let client = h.client();
    client.login().await.unwrap();
    let total = inventory_total(&client).await;
    h.sandbox.control().revoke_token_after(3);
    let (rows, _) = read_all(&client, 40, 1).await.unwrap();
    assert_eq!(rows.len() as u64, total, "no page lost to the revocation");
    let c = h.sandbox.control().counters();
    assert_eq!(c.unauthorized, 1, "exactly one request was refused");
    assert_eq!(c.refreshes, 1, "one refresh");
    assert_eq!(Stats::get(&client.stats().refreshes), 1);
    // The rotated refresh token was committed before use: the store holds what the server
    // considers current, and a new process can use it.
    let stored = h.store.token("it").unwrap().unwrap();
    assert_eq!(stored.generation, 2);
    let other = h.client();
    assert!(!other.authenticate().await.unwrap().is_empty());
    assert_eq!(
        h.sandbox.control().counters().refreshes,
        1,
        "the new process reused the stored token"
    );
}

#[tokio::test]
async fn concurrent_requests_share_one_refresh() {
    let h = Harness::new().await;
    let client = h.client();
    client.login().await.unwrap();
    // The next request is accepted, every later one with this token is refused.
    h.sandbox.control().revoke_token_after(1);
    client.authenticate().await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .get(resource::ITEMS, Some(&Query::new().limit(5)))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let c = h.sandbox.control().counters();
    assert_eq!(
        c.refreshes, 1,
        "no stampede: one refresh for eight refused requests"
    );
    assert!(c.unauthorized >= 1);
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_before_use() {
    let h = Harness::new().await;
    let client = h.client();
    client.login().await.unwrap();
    // Ten seconds left, margin five minutes: refresh before sending anything.
    h.store
        .set_token_expiry("it", ahead_sync::time::now_unix() + 10)
        .unwrap();
    let fresh = h.client();
    fresh.authenticate().await.unwrap();
    let c = h.sandbox.control().counters();
    assert_eq!(c.refreshes, 1);
    assert_eq!(
        c.unauthorized, 0,
        "no request was sent with the expiring token"
    );
}

#[tokio::test]
async fn an_expired_token_on_the_server_is_refreshed() {
    let h = Harness::new().await;
    let client = h.client();
    client.login().await.unwrap();
    // The sandbox clock passes the 3-hour lifetime; our clock does not know.
    h.sandbox
        .control()
        .advance_clock(Duration::from_secs(3 * 3600 + 60));
    client.authenticate().await.unwrap();
    let c = h.sandbox.control().counters();
    assert_eq!((c.unauthorized, c.refreshes), (1, 1));
}

#[tokio::test]
async fn a_rejected_refresh_token_leads_to_a_new_grant() {
    let h = Harness::new().await;
    let client = h.client();
    client.login().await.unwrap();
    let grants_before = h.sandbox.control().counters().grants_issued;
    h.sandbox.control().reject_refresh(1);
    h.sandbox.control().revoke_token_after(0);
    let (rows, _) = read_all(&client, 100, 2).await.unwrap();
    assert!(!rows.is_empty());
    let c = h.sandbox.control().counters();
    assert_eq!(c.rejected_refreshes, 1);
    assert_eq!(
        c.grants_issued,
        grants_before + 1,
        "re-granted through /oauth/authorize, once"
    );
    assert_eq!(Stats::get(&client.stats().grants), 2);
}

#[tokio::test]
async fn rate_limits_are_waited_out_never_sooner_than_retry_after() {
    let h = Harness::new().await;
    let client = h.client();
    let total = inventory_total(&client).await;
    h.sandbox.control().rate_limit_every(3, 7);
    let (rows, _) = read_all(&client, 50, 2).await.unwrap();
    assert_eq!(rows.len() as u64, total);
    let c = h.sandbox.control().counters();
    assert!(
        c.rate_limited >= 2,
        "the storm happened ({})",
        c.rate_limited
    );
    // Every 429 sets a pause that the whole client waits out (429s that arrive together share
    // one); the other waits are the pacing learned from them. `retry_after_is_honoured_in_real_time`
    // checks that the retry really comes no sooner.
    let waits = h.waits();
    assert!(
        waits.iter().any(|w| *w >= Duration::from_secs(7)),
        "{waits:?}"
    );
    assert!(Stats::get(&client.stats().paused) >= 1);
    assert_eq!(Stats::get(&client.stats().rate_limited), c.rate_limited);
}

#[tokio::test]
async fn retry_after_is_honoured_in_real_time() {
    let h = Harness::new().await;
    // The real sleeper this time.
    let client = ApiClient::new(h.config(), h.store.clone()).unwrap();
    client.authenticate().await.unwrap();
    h.sandbox.control().rate_limit_every(1, 1);
    let started = std::time::Instant::now();
    let task = {
        let client = client.clone();
        tokio::spawn(async move { client.get(resource::ITEMS, None).await })
    };
    // Every request is limited until we lift it; lift it after the first 429 was seen.
    for _ in 0..500 {
        if h.sandbox.control().counters().rate_limited >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    h.sandbox.control().rate_limit_every(0, 0);
    task.await.unwrap().unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_burst_of_5xx_is_retried_with_growing_backoff() {
    let h = Harness::new().await;
    let client = h.client();
    client.authenticate().await.unwrap();
    h.sandbox.control().fail_next(3, 503);
    let env = client
        .get(resource::ITEMS, Some(&Query::new().limit(3)))
        .await
        .unwrap();
    assert_eq!(env.count, 3);
    let c = h.sandbox.control().counters();
    assert_eq!(c.injected_failures, 3);
    let waits = h.waits();
    assert_eq!(waits.len(), 3);
    // Equal jitter: attempt n waits between base*2^(n-1)/2 and base*2^(n-1).
    for (n, w) in waits.iter().enumerate() {
        let full = Duration::from_millis(100 * (1 << n));
        assert!(*w >= full / 2 && *w <= full, "wait {n}: {w:?}");
    }
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let h = Harness::new().await;
    let client = h.client();
    client.authenticate().await.unwrap();
    let before = h.sandbox.control().requests_to("GET /v2/items");
    h.sandbox.control().fail_next(100, 500);
    let err = client.get(resource::ITEMS, None).await.unwrap_err();
    assert!(matches!(err, ApiError::Exhausted { .. }), "{err}");
    let after = h.sandbox.control().requests_to("GET /v2/items");
    assert_eq!(after - before, 6, "max_attempts = 6 requests, no more");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let h = Harness::new().await;
    let client = h.client();
    let err = client
        .get("/v2/purchase_orders/999999999", None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    let mut q = Query::new().eq("no_such_field", 1);
    q = q.limit(1);
    let err = client.get(resource::INVENTORY, Some(&q)).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(h.waits().is_empty(), "nothing retried");
    let c = h.sandbox.control().counters();
    assert_eq!(
        c.requests
            .get("GET /v2/purchase_orders/{id}")
            .copied()
            .unwrap_or(0),
        1
    );
    assert_eq!(c.requests.get("GET /v2/inventory").copied().unwrap_or(0), 1);
}

#[tokio::test]
async fn latency_beyond_the_timeout_is_retried_for_reads() {
    let h = Harness::new().await;
    let mut config = h.config();
    config.timeout = Duration::from_millis(300);
    config.retry.max_attempts = 3;
    let client = h.client_with(config);
    client.authenticate().await.unwrap();
    h.sandbox.control().latency(Duration::from_millis(120));
    // Slow but within the timeout: fine.
    client.get(resource::ITEMS, None).await.unwrap();
    h.sandbox.control().latency(Duration::from_millis(1000));
    let err = client.get(resource::ITEMS, None).await.unwrap_err();
    assert!(matches!(err, ApiError::Exhausted { .. }), "{err}");
    assert_eq!(
        h.waits().len(),
        2,
        "two retries after timeouts, then give up"
    );
}

#[tokio::test]
async fn a_post_whose_answer_is_lost_is_not_resent() {
    let h = Harness::new().await;
    let client = h.client();
    client.authenticate().await.unwrap();
    h.sandbox.control().drop_after_commit(1);
    let order = serde_json::json!({
        "po_number": "PO-IT-AMBIGUOUS",
        "lines": [{"line_number": 1, "item_number": "SRV-1U-X10", "quantity": 1, "unit_price": "2150.00"}]
    });
    let err = client
        .post(resource::PURCHASE_ORDERS, &order)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Ambiguous { .. }), "{err}");
    let c = h.sandbox.control().counters();
    assert_eq!(
        c.requests
            .get("POST /v2/purchase_orders")
            .copied()
            .unwrap_or(0),
        1,
        "sent once, never blindly again"
    );
    assert_eq!(
        c.creates_by_number.get("PO-IT-AMBIGUOUS"),
        Some(&1),
        "and it was committed"
    );
}

#[tokio::test]
async fn a_post_hit_by_503_is_resent_and_created_once() {
    let h = Harness::new().await;
    let client = h.client();
    client.authenticate().await.unwrap();
    h.sandbox.control().fail_next(2, 503);
    let order = serde_json::json!({
        "po_number": "PO-IT-503",
        "lines": [{"line_number": 1, "item_number": "PSU-800W", "quantity": 2, "unit_price": "99.00"}]
    });
    let env = client
        .post(resource::PURCHASE_ORDERS, &order)
        .await
        .unwrap();
    assert_eq!(env.count, 1);
    let c = h.sandbox.control().counters();
    assert_eq!(c.creates_by_number.get("PO-IT-503"), Some(&1));
    // A 409 hands back the existing record.
    let err = client
        .post(resource::PURCHASE_ORDERS, &order)
        .await
        .unwrap_err();
    match err {
        ApiError::Status {
            status: 409,
            existing: Some(existing),
            ..
        } => {
            assert!(existing.contains("PO-IT-503"), "{existing}")
        }
        other => panic!("expected 409 with the existing record, got {other}"),
    }
}

#[tokio::test]
async fn a_wrong_client_secret_is_a_credentials_error() {
    let h = Harness::new().await;
    let mut config = h.config();
    config.client_secret = ahead_sync::secret::Secret::new("not-the-secret");
    let err = h.client_with(config).authenticate().await.unwrap_err();
    assert!(err.is_credentials(), "{err}");
    assert!(!err.to_string().contains("not-the-secret"));
    let mut config = h.config();
    config.client_id = "nobody".into();
    let err = h.client_with(config).authenticate().await.unwrap_err();
    assert!(err.is_credentials(), "{err}");
    assert!(err.to_string().contains("Invalid client_id"), "{err}");
}

#[tokio::test]
async fn stats_count_requests() {
    let h = Harness::new().await;
    let client = h.client();
    client.authenticate().await.unwrap();
    // authorize + token + authenticate
    assert_eq!(client.stats().requests.load(Ordering::Relaxed), 3);
}
