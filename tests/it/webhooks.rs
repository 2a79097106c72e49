//! The webhook receiver through real HTTP: signatures, limits, redeliveries, ordering, bursts,
//! shutdown, and agreement with the next pull.

use std::sync::Arc;
use std::time::Duration;

use ahead_sync::pull::{self, PullSettings, StreamKind};
use ahead_sync::secret::Secret;
use ahead_sync::store::{
    fingerprint, EventBacklog, NewEvent, PageWrite, Store, Upsert, QUARANTINED,
};
use ahead_sync::webhooks::verify::sign;
use ahead_sync::webhooks::{serve, ReceiverConfig, Tally};
use tokio_util::sync::CancellationToken;

use crate::pull::{changes, mirror};
use crate::util::Harness;

const SECRET: &str = "wh-secret-for-tests-0b9f";

struct Receiver {
    url: String,
    addr: std::net::SocketAddr,
    store: Store,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Arc<Tally>>,
}

/// The receiver's settings in these tests: `[webhooks]`'s defaults, a smaller body limit.
fn config() -> ReceiverConfig {
    ReceiverConfig {
        path: "/webhooks/ahead".into(),
        secret: Secret::new(SECRET),
        max_body_bytes: 64 * 1024,
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max_connections: 4096,
    }
}

async fn start_receiver(store: Store) -> Receiver {
    start_receiver_with(store, config()).await
}

async fn start_receiver_with(store: Store, config: ReceiverConfig) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}/webhooks/ahead");
    let stop = CancellationToken::new();
    let run = store.begin_run("webhooks serve", "", 0).unwrap();
    let task = tokio::spawn({
        let (store, stop) = (store.clone(), stop.clone());
        async move { serve(store, run, config, listener, stop).await.unwrap() }
    });
    Receiver {
        url,
        addr,
        store,
        stop,
        task,
    }
}

fn delivery(id: &str, event: &str, data: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"id": id, "event": event, "created_at": "2026-11-01T00:00:00Z", "data": data})).unwrap()
}

fn order(id: i64, status: &str, updated_at: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "order_number": format!("SO-WH-{id}"), "status": status,
        "ship_method": "ups_ground", "lines": [], "created_at": "2026-11-01T00:00:00Z", "updated_at": updated_at})
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    signature: Option<String>,
    content_type: &str,
) -> u16 {
    let mut req = http
        .post(url)
        .header("content-type", content_type)
        .body(body);
    if let Some(sig) = signature {
        req = req.header("x-ahead-signature", sig);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn signed(http: &reqwest::Client, url: &str, body: Vec<u8>) -> u16 {
    let sig = sign(SECRET.as_bytes(), &body);
    post(http, url, body, Some(sig), "application/json").await
}

/// Wait (bounded) until no delivery is pending.
async fn settled(store: &Store) {
    for _ in 0..2000 {
        if store.pending_events(1).unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("deliveries still pending");
}

fn stored(store: &Store) -> u64 {
    store.event_states().unwrap().iter().map(|(_, n)| n).sum()
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("w.db")).unwrap();
    let r = start_receiver(store).await;
    let http = crate::util::http();
    let body = delivery(
        "evt_1",
        "fulfillment_order.updated",
        order(1, "released", "2026-11-01T10:00:00Z"),
    );
    assert_eq!(
        post(&http, &r.url, body.clone(), None, "application/json").await,
        401
    );
    let wrong = sign(b"not-the-secret", &body);
    assert_eq!(
        post(&http, &r.url, body.clone(), Some(wrong), "application/json").await,
        401
    );
    let tampered = sign(SECRET.as_bytes(), b"{}");
    assert_eq!(
        post(
            &http,
            &r.url,
            body.clone(),
            Some(tampered),
            "application/json"
        )
        .await,
        401
    );
    let sig = sign(SECRET.as_bytes(), &body);
    assert_eq!(
        post(&http, &r.url, body.clone(), Some(sig), "text/plain").await,
        415
    );
    let big = vec![b' '; 65 * 1024];
    let sig = sign(SECRET.as_bytes(), &big);
    assert_eq!(
        post(&http, &r.url, big, Some(sig), "application/json").await,
        413
    );
    assert_eq!(signed(&http, &r.url, b"{not json".to_vec()).await, 400);
    assert_eq!(
        signed(
            &http,
            &r.url,
            br#"{"id":"x","event":"y","data":[]}"#.to_vec()
        )
        .await,
        400
    );
    assert_eq!(stored(&r.store), 0, "nothing stored");
    assert_eq!(
        http.get(r.url.replace("/webhooks/ahead", "/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    r.stop.cancel();
    let tally = r.task.await.unwrap();
    assert_eq!(tally.rejected.iter().map(Tally::get).sum::<u64>(), 7);
    let counters = r.store.counters("webhooks.rejected.").unwrap();
    let get = |n: &str| {
        counters
            .iter()
            .find(|(k, _)| k.ends_with(n))
            .map(|(_, v)| *v)
            .unwrap_or(0)
    };
    assert_eq!(
        (
            get("missing_signature"),
            get("bad_signature"),
            get("content_type")
        ),
        (1, 2, 1)
    );
    assert_eq!((get("too_large"), get("malformed")), (1, 2));
}

/// `levels` arrays, one inside the other.
fn nested(levels: usize) -> serde_json::Value {
    let mut v = serde_json::json!([]);
    for _ in 1..levels {
        v = serde_json::json!([v]);
    }
    v
}

fn counter(store: &Store, name: &str) -> u64 {
    store
        .counters(name)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or(0)
}

/// A correctly signed record nested deeper than serde_json reads back (128 levels) used to be
/// stored and mirrored; every later delivery of that record then failed to apply, in front of
/// all the others, and `export orders` failed for the whole mirror. It is refused instead.
#[tokio::test]
async fn a_delivery_nested_too_deep_is_refused_and_later_ones_still_apply() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("w.db")).unwrap();
    let r = start_receiver(store).await;
    let http = crate::util::http();
    let mut hostile = order(5, "released", "2026-11-01T10:00:00Z");
    hostile["notes"] = nested(130);
    let hostile = delivery("evt_deep", "fulfillment_order.updated", hostile);
    assert_eq!(signed(&http, &r.url, hostile).await, 400);
    assert_eq!(stored(&r.store), 0, "nothing stored");
    let later = [
        ("evt_5_a", 5, "released", "2026-11-01T11:00:00Z"),
        ("evt_5_b", 5, "shipped", "2026-11-01T12:00:00Z"),
        ("evt_6", 6, "released", "2026-11-01T12:00:00Z"),
    ];
    for (id, record, status, at) in later {
        let body = delivery(id, "fulfillment_order.updated", order(record, status, at));
        assert_eq!(signed(&http, &r.url, body).await, 200);
        settled(&r.store).await;
    }
    let m = mirror(&r.store, StreamKind::FulfillmentOrders, None);
    let held: serde_json::Value = serde_json::from_str(&m[&5]).unwrap();
    assert_eq!(held["status"], "shipped");
    assert!(m.contains_key(&6));
    assert_eq!(
        r.store.event_states().unwrap(),
        vec![("applied".to_string(), 3)]
    );
    r.stop.cancel();
    let tally = r.task.await.unwrap();
    assert_eq!(tally.rejected.iter().map(Tally::get).sum::<u64>(), 1);
    assert_eq!(counter(&r.store, "webhooks.rejected.too_deep"), 1);

    std::fs::write(
        dir.path().join("ahead-sync.toml"),
        "[store]\npath = \"w.db\"\n",
    )
    .unwrap();
    let out = crate::util::cmd_async(dir.path(), &["export", "orders", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::util::text(&out));
    let exported = String::from_utf8_lossy(&out.stdout);
    assert_eq!(exported.lines().count(), 2, "{exported}");
    assert!(exported.contains("SO-WH-5") && exported.contains("SO-WH-6"));
}

/// A delivery that was accepted but cannot be applied is set aside with its error instead of
/// being tried again, forever, in front of every delivery after it. Two such: a body an older
/// receiver accepted (nested too deep to read back), and a newer version of a record the mirror
/// holds in a form it cannot read back.
#[tokio::test]
async fn a_delivery_that_cannot_be_applied_is_quarantined_and_later_ones_apply() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("w.db")).unwrap();
    let run = store.begin_run("webhooks serve", "", 0).unwrap();
    let mut unreadable = order(11, "released", "2026-11-01T09:00:00Z");
    unreadable["notes"] = nested(130);
    let unreadable = unreadable.to_string();
    store
        .write_page(
            StreamKind::FulfillmentOrders.name(),
            run,
            "2026-11-01T09:00:00Z",
            &PageWrite {
                upserts: vec![Upsert {
                    id: 11,
                    hash: fingerprint(&unreadable),
                    updated_at: "2026-11-01T09:00:00Z".into(),
                    state: String::new(),
                    body: unreadable,
                }],
                ..PageWrite::default()
            },
        )
        .unwrap();
    let mut deep = order(9, "released", "2026-11-01T10:00:00Z");
    deep["notes"] = nested(130);
    let events = [
        ("evt_a", deep),
        ("evt_b", order(9, "shipped", "2026-11-01T11:00:00Z")),
        ("evt_c", order(11, "shipped", "2026-11-01T10:00:00Z")),
        ("evt_d", order(12, "released", "2026-11-01T10:00:00Z")),
    ];
    let events: Vec<NewEvent> = events
        .into_iter()
        .enumerate()
        .map(|(i, (id, data))| NewEvent {
            delivery_id: id.into(),
            event: "fulfillment_order.updated".into(),
            received_at: format!("2026-11-01T12:00:0{i}Z"),
            body: String::from_utf8(delivery(id, "fulfillment_order.updated", data)).unwrap(),
        })
        .collect();
    assert_eq!(store.insert_events(&events, &[]).unwrap(), vec![true; 4]);

    let r = start_receiver(store).await;
    settled(&r.store).await;
    assert_eq!(
        r.store.event_backlog().unwrap(),
        EventBacklog {
            pending: 0,
            quarantined: 2
        }
    );
    let quarantined = r.store.quarantined_events(10).unwrap();
    let ids: Vec<&str> = quarantined.iter().map(|q| q.delivery_id.as_str()).collect();
    assert_eq!(ids, ["evt_a", "evt_c"]);
    assert!(
        quarantined[0].error.contains("32 levels"),
        "{}",
        quarantined[0].error
    );
    assert!(
        quarantined[1]
            .error
            .contains("fulfillment_orders record 11")
            && quarantined[1].error.contains("recursion limit"),
        "{}",
        quarantined[1].error
    );
    let m = mirror(&r.store, StreamKind::FulfillmentOrders, None);
    let held: serde_json::Value = serde_json::from_str(&m[&9]).unwrap();
    assert_eq!(
        held["status"], "shipped",
        "the delivery after a bad one applied"
    );
    assert!(m.contains_key(&12));
    r.stop.cancel();
    let tally = r.task.await.unwrap();
    assert_eq!(
        (Tally::get(&tally.quarantined), Tally::get(&tally.applied)),
        (2, 2)
    );
    assert_eq!(counter(&r.store, "webhooks.quarantined"), 2);
}

#[tokio::test]
async fn status_counts_pending_and_quarantined_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("w.db")).unwrap();
    let events: Vec<NewEvent> = (1..=3)
        .map(|i| NewEvent {
            delivery_id: format!("evt_{i}"),
            event: "fulfillment_order.updated".into(),
            received_at: "2026-11-01T12:00:00Z".into(),
            body: "{}".into(),
        })
        .collect();
    store.insert_events(&events, &[]).unwrap();
    store
        .mark_event("evt_1", QUARANTINED, "cannot be read")
        .unwrap();
    std::fs::write(
        dir.path().join("ahead-sync.toml"),
        "[store]\npath = \"w.db\"\n",
    )
    .unwrap();
    let out = crate::util::cmd_async(dir.path(), &["status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::util::text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            &status["webhooks"]["pending"],
            &status["webhooks"]["quarantined"]
        ),
        (&serde_json::json!(2), &serde_json::json!(1)),
        "{status}"
    );
    let out = crate::util::cmd_async(dir.path(), &["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::util::text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l == "webhook deliveries: 2 pending, 1 quarantined"),
        "{text}"
    );
}

/// The content type is `application/json` exactly, parameters allowed.
#[tokio::test]
async fn only_application_json_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("w.db")).unwrap();
    let r = start_receiver(store).await;
    let http = crate::util::http();
    let body = |id: &str| {
        delivery(
            id,
            "fulfillment_order.updated",
            order(3, "released", "2026-11-01T10:00:00Z"),
        )
    };
    for (i, refused) in [
        "application/jsonx",
        "text/json",
        "application/json-patch+json",
    ]
    .into_iter()
    .enumerate()
    {
        let body = body(&format!("evt_refused_{i}"));
        let sig = sign(SECRET.as_bytes(), &body);
        assert_eq!(
            post(&http, &r.url, body, Some(sig), refused).await,
            415,
            "{refused}"
        );
    }
    let body = body("evt_ok");
    let sig = sign(SECRET.as_bytes(), &body);
    assert_eq!(
        post(
            &http,
            &r.url,
            body,
            Some(sig),
            "application/json; charset=utf-8"
        )
        .await,
        200
    );
    assert_eq!(stored(&r.store), 1);
    r.stop.cancel();
    r.task.await.unwrap();
    assert_eq!(counter(&r.store, "webhooks.rejected.content_type"), 3);
}

#[tokio::test]
async fn redeliveries_are_stored_once_and_late_events_never_overwrite_newer_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("w.db")).unwrap();
    let r = start_receiver(store).await;
    let http = crate::util::http();
    let newer = delivery(
        "evt_new",
        "fulfillment_order.shipped",
        order(7, "shipped", "2026-11-01T12:00:00Z"),
    );
    let older = delivery(
        "evt_old",
        "fulfillment_order.updated",
        order(7, "released", "2026-11-01T11:00:00Z"),
    );
    assert_eq!(signed(&http, &r.url, newer.clone()).await, 200);
    assert_eq!(
        signed(&http, &r.url, newer).await,
        200,
        "a redelivery is acknowledged"
    );
    settled(&r.store).await;
    assert_eq!(signed(&http, &r.url, older).await, 200);
    settled(&r.store).await;
    assert_eq!(stored(&r.store), 2);
    let m = mirror(&r.store, StreamKind::FulfillmentOrders, None);
    let held: serde_json::Value = serde_json::from_str(&m[&7]).unwrap();
    assert_eq!(
        held["status"], "shipped",
        "the late, older event did not overwrite"
    );
    let states: std::collections::BTreeMap<String, u64> =
        r.store.event_states().unwrap().into_iter().collect();
    assert_eq!(
        (states.get("applied"), states.get("stale")),
        (Some(&1), Some(&1))
    );
    r.stop.cancel();
    let tally = r.task.await.unwrap();
    assert_eq!(
        (Tally::get(&tally.stored), Tally::get(&tally.duplicates)),
        (2, 1)
    );
}

#[tokio::test]
async fn a_burst_of_concurrent_deliveries_is_stored_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("w.db")).unwrap();
    let r = start_receiver(store).await;
    let http = crate::util::http();
    let mut tasks = Vec::new();
    for i in 0..400 {
        // Every tenth delivery is sent twice, concurrently.
        let copies = if i % 10 == 0 { 2 } else { 1 };
        for _ in 0..copies {
            let (http, url) = (http.clone(), r.url.clone());
            let body = delivery(
                &format!("evt_{i}"),
                "fulfillment_order.updated",
                order(1000 + i, "released", "2026-11-01T10:00:00Z"),
            );
            tasks.push(tokio::spawn(async move { signed(&http, &url, body).await }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    // Shut down: everything acknowledged is stored and applied before serve returns.
    r.stop.cancel();
    let tally = r.task.await.unwrap();
    assert_eq!(stored(&r.store), 400);
    assert_eq!(
        (Tally::get(&tally.stored), Tally::get(&tally.duplicates)),
        (400, 40)
    );
    assert_eq!(
        mirror(&r.store, StreamKind::FulfillmentOrders, None).len(),
        400
    );
    assert!(
        r.store.pending_events(1).unwrap().is_empty(),
        "drained on shutdown"
    );
}

#[tokio::test]
async fn a_shipment_heard_by_webhook_agrees_with_the_next_pull() {
    let h = Harness::new().await;
    let r = start_receiver(h.store.clone()).await;
    let client = h.client();
    client
        .post(
            "/v2/webhooks",
            &serde_json::json!({"url": r.url, "events": ["fulfillment_order.shipped"], "secret": SECRET}),
        )
        .await
        .unwrap();
    client
        .post(
            "/v2/fulfillment_orders",
            &serde_json::json!({"order_number": "SO-WH-SHIP", "ship_method": "ups_ground",
                "lines": [{"line_number": 1, "item_number": "PSU-800W", "quantity": 1}]}),
        )
        .await
        .unwrap();
    let settings = PullSettings::default();
    let pull_orders = |run_name: &'static str| {
        let (client, store) = (client.clone(), h.store.clone());
        let settings = settings.clone();
        async move {
            let mode =
                pull::choose_mode(&store, StreamKind::FulfillmentOrders, &settings, false).unwrap();
            let run = store.begin_run(run_name, "", 0).unwrap();
            pull::pull(
                &client,
                &store,
                StreamKind::FulfillmentOrders,
                mode,
                &settings,
                run,
                None,
            )
            .await
            .unwrap()
        }
    };
    pull_orders("pull").await;
    h.sandbox.control().advance_clock(Duration::from_secs(5));
    h.sandbox
        .control()
        .ship_order("fulfillment_orders", "SO-WH-SHIP")
        .unwrap();
    // Wait (bounded) for the sandbox's delivery to arrive and be applied.
    let mut applied = false;
    for _ in 0..2000 {
        let states = h.store.event_states().unwrap();
        if states.iter().any(|(s, n)| s == "applied" && *n >= 1) {
            applied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(applied, "the shipped event arrived and was applied");
    let held = mirror(&h.store, StreamKind::FulfillmentOrders, None)
        .into_values()
        .find(|b| b.contains("SO-WH-SHIP"))
        .unwrap();
    assert!(held.contains("\"shipped\""), "{held}");
    let mut by_webhook = Vec::new();
    h.store
        .for_each_change(Some("fulfillment_orders"), None, None, |c| {
            if c.detail.starts_with("webhook fulfillment_order.shipped") {
                by_webhook.push(c);
            }
            Ok(())
        })
        .unwrap()
        .unwrap();
    assert_eq!(by_webhook.len(), 1);
    assert!(by_webhook[0].fields.split(';').any(|f| f == "status"));
    // The next pull finds the mirror already right: nothing to correct.
    let next = pull_orders("pull").await;
    assert!(
        changes(&h.store, next.run)
            .iter()
            .all(|c| c.key != "SO-WH-SHIP"),
        "the pull agrees with what the webhook said"
    );
    r.stop.cancel();
    r.task.await.unwrap();
}

#[tokio::test]
async fn the_binary_registers_serves_and_stops_cleanly_on_sigterm() {
    let h = Harness::new().await;
    let config = h.write_config("");
    let config = config.to_str().unwrap();
    let out = crate::util::cmd_async(
        h.dir.path(),
        &[
            "--config",
            config,
            "webhooks",
            "register",
            "https://erp.example.com/hook",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::util::text(&out));
    let out = crate::util::cmd_async(h.dir.path(), &["--config", config, "webhooks", "list"]).await;
    assert!(
        crate::util::text(&out).contains("https://erp.example.com/hook"),
        "{}",
        crate::util::text(&out)
    );
    // The generated secret is in the store and never printed.
    let store = Store::open(&h.dir.path().join("ahead-sync.db")).unwrap();
    let secret = store
        .kv_get("webhooks.secret")
        .unwrap()
        .expect("generated and stored");
    assert_eq!(secret.len(), 64);

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ahead-sync"))
        .current_dir(h.dir.path())
        .args([
            "--config",
            config,
            "--log-format",
            "json",
            "webhooks",
            "serve",
            "--bind",
            "127.0.0.1:0",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (address, lines) = crate::util::receiver_address(&mut child);
    let http = crate::util::http();
    let url = format!("http://{address}/webhooks/ahead");
    let body = delivery(
        "evt_bin",
        "fulfillment_order.updated",
        order(42, "released", "2026-11-01T10:00:00Z"),
    );
    let sig = sign(secret.as_bytes(), &body);
    assert_eq!(
        post(&http, &url, body, Some(sig), "application/json").await,
        200
    );
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a clean stop on SIGTERM");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("Webhook receiver stopped.")),
        "{rest:?}"
    );
    assert!(
        rest.iter().all(|l| !l.contains(&secret)),
        "the secret is never logged"
    );
    assert_eq!(
        store.event_states().unwrap(),
        vec![("applied".to_string(), 1)]
    );
}

/// `webhooks serve` as its own process, on a free port, logging JSON to a thread that keeps
/// its lines (so the child never blocks on a full pipe).
struct Served {
    child: std::process::Child,
    address: String,
    log: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Served {
    /// The lines it logged after its address, once it has exited.
    fn log(&mut self) -> Vec<String> {
        self.log.take().expect("read once").join().unwrap()
    }
}

impl Drop for Served {
    /// A test that fails while the receiver runs must not leave it running.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An HTTP client with a timeout, for the tests that hold many connections open.
fn bounded_http(builder: reqwest::ClientBuilder) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    builder.timeout(BOUND).build().unwrap()
}

/// A folder whose configuration holds the test secret and the store `ahead-sync.db`.
fn receiver_folder(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ahead-sync.toml"),
        format!("[webhooks]\nsecret = \"{SECRET}\"\n{extra}\n[store]\npath = \"ahead-sync.db\"\n"),
    )
    .unwrap();
    dir
}

/// Start `webhooks serve` in `dir`; with `fd_limit`, under that RLIMIT_NOFILE (soft and hard).
fn serve_binary(dir: &std::path::Path, fd_limit: Option<libc::rlim_t>) -> Served {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ahead-sync"));
    command
        .current_dir(dir)
        .args([
            "--log-format",
            "json",
            "webhooks",
            "serve",
            "--bind",
            "127.0.0.1:0",
        ])
        .stderr(std::process::Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("AHEAD_SYNC") {
            command.env_remove(key);
        }
    }
    if let Some(limit) = fd_limit {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
        unsafe {
            command.pre_exec(move || {
                let rl = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = command.spawn().unwrap();
    let (address, lines) = crate::util::receiver_address(&mut child);
    let log = Some(std::thread::spawn(move || {
        lines.map_while(Result::ok).collect()
    }));
    Served {
        child,
        address,
        log,
    }
}

/// What was acknowledged or refused is counted by the time it is answered: a receiver killed
/// with SIGKILL right after its last answer leaves every count in the store.
#[tokio::test]
async fn counts_survive_the_receiver_being_killed() {
    let dir = receiver_folder("");
    let mut served = serve_binary(dir.path(), None);
    let http = crate::util::http();
    let url = format!("http://{}/webhooks/ahead", served.address);
    for i in 0..20 {
        let body = delivery(
            &format!("evt_{i}"),
            "fulfillment_order.updated",
            order(100 + i, "released", "2026-11-01T10:00:00Z"),
        );
        assert_eq!(signed(&http, &url, body).await, 200);
    }
    let body = delivery(
        "evt_refused",
        "fulfillment_order.updated",
        order(1, "released", "2026-11-01T10:00:00Z"),
    );
    for _ in 0..3 {
        let wrong = sign(b"not-the-secret", &body);
        let status = post(&http, &url, body.clone(), Some(wrong), "application/json").await;
        assert_eq!(status, 401);
    }
    for _ in 0..2 {
        let sig = sign(SECRET.as_bytes(), &body);
        let status = post(&http, &url, body.clone(), Some(sig), "text/plain").await;
        assert_eq!(status, 415);
    }
    crate::util::kill_while_running(&mut served.child);
    served.log();

    let out = crate::util::cmd_async(dir.path(), &["status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::util::text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let counters = &status["webhooks"]["counters"];
    let count = |name: &str| counters[name].as_u64().unwrap_or(0);
    assert_eq!(
        (
            count("received"),
            count("stored"),
            count("rejected.bad_signature"),
            count("rejected.content_type")
        ),
        (25, 20, 3, 2),
        "{status}"
    );
    // Applying goes on after the answer; what was applied is counted with its state.
    let events = &status["webhooks"]["stored_events"];
    let state = |name: &str| events[name].as_u64().unwrap_or(0);
    assert_eq!(state("applied") + state("pending"), 20, "{status}");
    assert_eq!(count("applied"), state("applied"), "{status}");
}

/// Everything a connection sends until the receiver closes it. Panics if it is still open
/// after `within`.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, within: Duration) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the connection is still open after {within:?}"));
    received
}

/// Read until `marker` has arrived; panics if it has not within 10 s.
async fn read_until(stream: &mut tokio::net::TcpStream, marker: &str) -> String {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&received).contains(marker) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed before {marker:?}: {:?}",
                String::from_utf8_lossy(&received)
            );
            received.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {marker:?} within 10 s"));
    String::from_utf8(received).unwrap()
}

const SHORT: Duration = Duration::from_millis(300);
const BOUND: Duration = Duration::from_secs(10);

/// A connection that sends nothing, or only part of a request head, is closed once the header
/// timeout has passed since its accept; one that was answered and then sends nothing, once the
/// idle timeout has passed; a body that does not arrive in time is answered 408.
#[tokio::test]
async fn connections_that_send_no_request_in_time_are_closed() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("w.db")).unwrap();
    let idle = Duration::from_millis(1500);
    let r = start_receiver_with(
        store,
        ReceiverConfig {
            header_timeout: SHORT,
            body_timeout: SHORT,
            idle_timeout: idle,
            ..config()
        },
    )
    .await;

    let started = tokio::time::Instant::now();
    let mut silent = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    assert!(read_until_closed(&mut silent, BOUND).await.is_empty());
    assert!(started.elapsed() >= SHORT, "{:?}", started.elapsed());

    let started = tokio::time::Instant::now();
    let mut partial = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    partial
        .write_all(b"POST /webhooks/ahead HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    assert!(read_until_closed(&mut partial, BOUND).await.is_empty());
    assert!(started.elapsed() >= SHORT, "{:?}", started.elapsed());

    // The idle timeout runs from the answer, which comes after the request was sent.
    let mut kept = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    let asked = tokio::time::Instant::now();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut kept, "\r\n\r\nok").await;
    assert!(read_until_closed(&mut kept, BOUND).await.is_empty());
    assert!(asked.elapsed() >= idle, "{:?}", asked.elapsed());

    let body = delivery(
        "evt_slow",
        "fulfillment_order.updated",
        order(1, "released", "2026-11-01T10:00:00Z"),
    );
    let head = format!(
        "POST /webhooks/ahead HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         x-ahead-signature: {}\r\ncontent-length: {}\r\n\r\n",
        sign(SECRET.as_bytes(), &body),
        body.len()
    );
    let started = tokio::time::Instant::now();
    let mut slow = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body[..10]).await.unwrap();
    let answer = read_until_closed(&mut slow, BOUND).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(started.elapsed() >= SHORT, "{:?}", started.elapsed());

    r.stop.cancel();
    let tally = r.task.await.unwrap();
    assert_eq!(Tally::get(&tally.connections_timed_out), 3);
    assert_eq!(stored(&r.store), 0);
    assert_eq!(counter(&r.store, "webhooks.rejected.body_timeout"), 1);
}

/// At the cap, a new connection takes the place of the oldest idle one, so `/healthz` and
/// deliveries still answer while idle connections hold every place.
#[tokio::test]
async fn at_the_cap_a_new_connection_closes_the_oldest_idle_one() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("w.db")).unwrap();
    let r = start_receiver_with(
        store,
        ReceiverConfig {
            max_connections: 4,
            ..config()
        },
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(r.addr).await.unwrap());
    }
    let mut health = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    health
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until(&mut health, "\r\n\r\nok").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(read_until_closed(&mut idle[0], BOUND).await.is_empty());
    let http = crate::util::http();
    let body = delivery(
        "evt_at_cap",
        "fulfillment_order.updated",
        order(1, "released", "2026-11-01T10:00:00Z"),
    );
    assert_eq!(signed(&http, &r.url, body).await, 200);
    r.stop.cancel();
    let tally = r.task.await.unwrap();
    assert_eq!(Tally::get(&tally.connections_evicted), 2);
    assert_eq!(Tally::get(&tally.connections_refused), 0);
}

/// At the cap with every connection being answered, a new one is answered 503 and closed at
/// once: it neither waits for a place nor takes one from a request in progress.
#[tokio::test]
async fn at_the_cap_with_every_connection_answering_a_new_one_is_refused_at_once() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("w.db")).unwrap();
    let r = start_receiver_with(
        store,
        ReceiverConfig {
            max_connections: 2,
            body_timeout: Duration::from_secs(60),
            ..config()
        },
    )
    .await;
    let mut busy = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..2 {
        let body = delivery(
            &format!("evt_busy_{i}"),
            "fulfillment_order.updated",
            order(1 + i, "released", "2026-11-01T10:00:00Z"),
        );
        let head = format!(
            "POST /webhooks/ahead HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             x-ahead-signature: {}\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
            sign(SECRET.as_bytes(), &body),
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(r.addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        // "100 Continue" comes when the handler reads the body: the request is being answered.
        read_until(&mut stream, "100 Continue\r\n\r\n").await;
        busy.push(stream);
        bodies.push(body);
    }
    let mut refused = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    let answer = read_until_closed(&mut refused, BOUND).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 503"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    for (stream, body) in busy.iter_mut().zip(&bodies) {
        stream.write_all(body).await.unwrap();
        let answer = read_until(stream, "\"stored\"").await;
        assert!(answer.contains("HTTP/1.1 200"), "{answer}");
    }
    r.stop.cancel();
    let tally = r.task.await.unwrap();
    assert_eq!(Tally::get(&tally.connections_refused), 1);
    assert_eq!(stored(&r.store), 2);
}

/// Raise this process's soft RLIMIT_NOFILE to at least `needed` (within the hard limit).
fn raise_fd_limit(needed: libc::rlim_t) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl), 0);
        if rl.rlim_cur < needed {
            assert!(
                rl.rlim_max == libc::RLIM_INFINITY || rl.rlim_max >= needed,
                "this test needs {needed} open files; the hard limit is {}",
                rl.rlim_max
            );
            rl.rlim_cur = needed;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &rl), 0);
        }
    }
}

/// Open `n` connections that send nothing.
async fn idle_connections(address: &str, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut idle = Vec::with_capacity(n);
    for _ in 0..n {
        idle.push(tokio::net::TcpStream::connect(address).await.unwrap());
    }
    idle
}

/// A receiver whose file descriptors would all be taken by idle connections (a limit of 256,
/// 300 idle connections) still answers `/healthz` and deliveries: its cap is below the limit.
#[tokio::test]
async fn healthz_and_deliveries_answer_while_idle_connections_exceed_the_fd_limit() {
    raise_fd_limit(2048);
    let dir = receiver_folder("header_timeout_secs = 120");
    let mut served = serve_binary(dir.path(), Some(256));
    let _idle = idle_connections(&served.address, 300).await;
    let http = bounded_http(reqwest::Client::builder());
    let health = http
        .get(format!("http://{}/healthz", served.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let url = format!("http://{}/webhooks/ahead", served.address);
    let body = delivery(
        "evt_fds",
        "fulfillment_order.updated",
        order(1, "released", "2026-11-01T10:00:00Z"),
    );
    let sig = sign(SECRET.as_bytes(), &body);
    let answer = http
        .post(&url)
        .header("content-type", "application/json")
        .header("x-ahead-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    unsafe { libc::kill(served.child.id() as i32, libc::SIGTERM) };
    assert_eq!(served.child.wait().unwrap().code(), Some(0));
    let log = served.log();
    let capped = log
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "Connections capped below the file descriptor limit.")
        .unwrap_or_else(|| panic!("{log:?}"));
    assert_eq!(capped["max_connections"], 192, "{capped}");
}

/// Signed deliveries at concurrency 64 are all answered and stored while 1,000 idle connections
/// are held open against a receiver at the usual limit of 1,024 file descriptors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_is_answered_and_stored_while_a_thousand_idle_connections_are_held() {
    raise_fd_limit(4096);
    let dir = receiver_folder("header_timeout_secs = 120");
    let mut served = serve_binary(dir.path(), Some(1024));
    let _idle = idle_connections(&served.address, 1000).await;
    let http = bounded_http(reqwest::Client::builder().pool_max_idle_per_host(64));
    let url = format!("http://{}/webhooks/ahead", served.address);
    let send = |i: usize| {
        let (http, url) = (http.clone(), url.clone());
        let body = delivery(
            &format!("evt_{i}"),
            "fulfillment_order.updated",
            order(1 + i as i64, "released", "2026-11-01T10:00:00Z"),
        );
        let sig = sign(SECRET.as_bytes(), &body);
        async move {
            let answer = http
                .post(&url)
                .header("content-type", "application/json")
                .header("x-ahead-signature", sig)
                .body(body)
                .send()
                .await
                .unwrap();
            answer.status()
        }
    };
    use futures::StreamExt;
    // 64 in flight beside the 1,000 held connections, 24 descriptors short of the limit: the
    // receiver makes room by closing idle ones, never by refusing a delivery. (How fast it
    // answers meanwhile is measured by `cargo bench --bench e2e -- webhooks-idle`.)
    let statuses: Vec<reqwest::StatusCode> = futures::stream::iter((0..2000).map(send))
        .buffer_unordered(64)
        .collect()
        .await;
    let refused = statuses.iter().filter(|s| **s != 200).count();
    assert_eq!(refused, 0, "{refused} of 2000 deliveries not answered 200");
    crate::util::kill_while_running(&mut served.child);
    served.log();
    let out = crate::util::cmd(dir.path(), &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let counters = &status["webhooks"]["counters"];
    assert_eq!(counters["stored"].as_u64(), Some(2000), "{status}");
}
