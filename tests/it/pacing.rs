//! Known rate limits: `api.max_requests_per_second` paces every request of a process (token
//! calls too), and a 429's `Retry-After` holds back every request, not only the one that drew it.
//! Checked against the sandbox's token bucket by counting its 429s, never by timing.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ahead_sandbox::TokenBucket;
use ahead_sync::api::contract::resource;
use ahead_sync::api::{pages, ApiClient, ClientConfig, Query, Sleeper, Stats};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use crate::util::{cmd_async, text, Harness};

fn bucket(per_second: f64, burst: f64) -> Option<TokenBucket> {
    Some(TokenBucket { per_second, burst })
}

/// A client that really waits, paced at `limit`.
fn paced_client(h: &Harness, limit: Option<f64>) -> ApiClient {
    ApiClient::new(
        ClientConfig {
            max_requests_per_second: limit,
            ..h.config()
        },
        h.store.clone(),
    )
    .unwrap()
}

/// Every inventory row, in pages of 20 rows, 4 requests in flight.
async fn pull_inventory(client: &ApiClient) -> usize {
    let mut stream = Box::pin(pages(
        client,
        resource::INVENTORY,
        Query::new().limit(20),
        4,
    ));
    let mut rows = 0;
    while let Some(page) = stream.next().await {
        rows += page.unwrap().rows.len();
    }
    rows
}

#[tokio::test]
async fn a_pull_at_a_known_limit_draws_no_429s() {
    let h = Harness::new().await;
    let rows = h.sandbox.control().inventory_len();
    h.sandbox.control().token_bucket(bucket(10.0, 5.0));
    let client = paced_client(&h, Some(10.0));
    assert_eq!(pull_inventory(&client).await, rows);
    let c = h.sandbox.control().counters();
    assert_eq!(c.rate_limited, 0, "no 429 at a known limit");
    let stats = client.stats();
    assert!(Stats::get(&stats.requests) >= 12, "a pull of many pages");
    assert!(
        Stats::get(&stats.paced) > 0,
        "requests waited for their slots"
    );
}

#[tokio::test]
async fn without_the_limit_the_same_pull_meets_429s_then_paces_itself() {
    let h = Harness::new().await;
    let rows = h.sandbox.control().inventory_len();
    h.sandbox.control().token_bucket(bucket(10.0, 5.0));
    let client = paced_client(&h, None);
    assert_eq!(pull_inventory(&client).await, rows);
    let c = h.sandbox.control().counters();
    assert!(c.rate_limited > 0, "the bucket ran dry");
    assert_eq!(Stats::get(&client.stats().rate_limited), c.rate_limited);
    assert!(
        Stats::get(&client.stats().paced) > 0,
        "after the first 429 the client paces itself to the rate it was let through"
    );
}

/// The grant and the token exchange are requests like any other: back to back they would
/// overrun a bucket that holds one token.
#[tokio::test]
async fn token_calls_are_paced_too() {
    let h = Harness::new().await;
    h.sandbox.control().token_bucket(bucket(2.5, 1.0));
    let client = paced_client(&h, Some(2.0));
    client.login().await.unwrap();
    let c = h.sandbox.control().counters();
    assert_eq!((c.grants_issued, c.grant_exchanges), (1, 1));
    assert_eq!(c.rate_limited, 0, "the token call waited for its slot");
    assert_eq!(Stats::get(&client.stats().paced), 1);
}

/// Reports each wait asked for and holds it until released; its clock moves once released.
struct HoldingSleeper {
    origin: tokio::time::Instant,
    elapsed: Arc<Mutex<Duration>>,
    asked: mpsc::UnboundedSender<Duration>,
    release: watch::Receiver<bool>,
}

impl Sleeper for HoldingSleeper {
    fn sleep(&self, wait: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let _ = self.asked.send(wait);
        let mut release = self.release.clone();
        let elapsed = self.elapsed.clone();
        Box::pin(async move {
            let _ = release.wait_for(|released| *released).await;
            *elapsed.lock().unwrap() += wait;
        })
    }

    fn now(&self) -> tokio::time::Instant {
        self.origin + *self.elapsed.lock().unwrap()
    }
}

#[tokio::test]
async fn a_retry_after_holds_back_every_request_not_only_the_one_that_drew_it() {
    let h = Harness::new().await;
    let (asked_tx, mut asked) = mpsc::unbounded_channel();
    let (release, release_rx) = watch::channel(false);
    let sleeper = Arc::new(HoldingSleeper {
        origin: tokio::time::Instant::now(),
        elapsed: Arc::default(),
        asked: asked_tx,
        release: release_rx,
    });
    let client = ApiClient::with_sleeper(h.config(), h.store.clone(), sleeper).unwrap();
    client.authenticate().await.unwrap();
    // The next /v2 request answers 429 with Retry-After: 30.
    h.sandbox.control().rate_limit_after(0, 30);
    let first = tokio::spawn({
        let client = client.clone();
        async move { client.get(resource::ITEMS, None).await }
    });
    let wait = asked.recv().await.unwrap();
    assert!(wait >= Duration::from_secs(30), "{wait:?}");
    // Another request starts while the first waits: it waits too, and is not sent.
    let mut second = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .get(resource::INVENTORY, Some(&Query::new().limit(1)))
                .await
        }
    });
    tokio::select! {
        wait = asked.recv() => {
            let wait = wait.unwrap();
            assert!(wait >= Duration::from_secs(30), "the rest of the pause: {wait:?}");
        }
        done = &mut second => panic!("sent during the pause: {:?}", done.map(|r| r.map(|e| e.count))),
    }
    assert_eq!(h.sandbox.control().requests_to("GET /v2/inventory"), 0);
    release.send(true).unwrap();
    first.await.unwrap().unwrap();
    assert_eq!(second.await.unwrap().unwrap().count, 1);
    let c = h.sandbox.control().counters();
    assert_eq!(c.rate_limited, 1);
    assert_eq!(h.sandbox.control().requests_to("GET /v2/inventory"), 1);
    assert_eq!(
        Stats::get(&client.stats().paused),
        2,
        "both waited for the pause"
    );
}

/// `sync` runs every job in one process: they share the limit.
#[tokio::test]
async fn every_job_of_a_sync_shares_the_known_limit() {
    let h = Harness::new().await;
    h.sandbox.control().token_bucket(bucket(20.0, 5.0));
    let config = h.write_config("page_size = 10\nmax_requests_per_second = 20\n");
    let out = cmd_async(
        h.dir.path(),
        &["--config", config.to_str().unwrap(), "sync"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let c = h.sandbox.control().counters();
    let sent: u64 = c
        .requests
        .iter()
        .filter(|(k, _)| k.contains(" /v2/") || k.contains(" /oauth/"))
        .map(|(_, n)| n)
        .sum();
    assert!(sent > 25, "many requests ({sent}), token calls among them");
    assert_eq!(c.rate_limited, 0, "{:?}", c.requests);
}
