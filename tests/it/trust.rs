//! Ordinary operating conditions that must not break the product's promises: rejected
//! credentials, an unreachable or hung AHEAD, several jobs on one store at the same moment.

use std::time::{Duration, Instant};

use crate::util::{cmd_async, text, Harness, CLIENT_SECRET};

/// A config whose client secret AHEAD refuses.
fn wrong_secret(h: &Harness, extra: &str) -> String {
    let path = h.write_config(extra);
    let body = std::fs::read_to_string(&path)
        .unwrap()
        .replace(CLIENT_SECRET, "not-the-secret");
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test]
async fn rejected_credentials_are_exit_5_from_every_command_that_talks_to_ahead() {
    let h = Harness::new().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(h.dir.path().join("inbox/po")).unwrap();
    let po = h.dir.path().join("inbox/po/po.csv");
    std::fs::copy(root.join("tests/fixtures/purchase_orders.csv"), &po).unwrap();
    let config = wrong_secret(
        &h,
        &format!(
            "[push.purchase_orders]\nmapping = \"{}\"\ninbox = \"inbox/po\"\n",
            root.join("mappings/purchase_orders.csv.toml").display()
        ),
    );
    for args in [
        &["sync"][..],
        &["pull", "invoices"],
        &["pull", "inventory", "--full"],
        &["backfill", "invoices", "--since", "2026-01-01"],
        &["push", "purchase-orders"],
        &["webhooks", "list"],
        &["webhooks", "register", "http://127.0.0.1:9/hook"],
    ] {
        let out = cmd_async(
            h.dir.path(),
            &[&["--config", config.as_str()][..], args].concat(),
        )
        .await;
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("rejected the client credentials"),
            "{args:?}: {}",
            text(&out)
        );
        assert!(
            !text(&out).contains("not-the-secret"),
            "the secret is never printed"
        );
    }
    assert!(
        po.exists(),
        "a push that could not authenticate leaves its file in the inbox"
    );
    // `sync` stopped at the first credentials failure: one job ran, the pulls never started.
    let store = ahead_sync::store::Store::open(&h.dir.path().join("ahead-sync.db")).unwrap();
    let summaries = store.job_summaries().unwrap();
    let started = |job: &str| summaries.iter().filter(|(last, _)| last.job == job).count();
    assert_eq!(
        started("pull shipments"),
        0,
        "sync stopped at the first failure"
    );
    assert_eq!(started("push purchase_orders"), 1);
}

#[tokio::test]
async fn a_wrong_base_url_names_the_url_and_the_os_error_and_stops_sync_at_once() {
    let h = Harness::new().await;
    let config = h.write_config("");
    // A port nothing listens on: the connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let body = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&h.sandbox.base_url(), &format!("http://127.0.0.1:{port}"));
    std::fs::write(&config, body).unwrap();
    let config = config.to_str().unwrap();
    let started = Instant::now();
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(&format!("http://127.0.0.1:{port}/")),
        "{said}"
    );
    assert!(said.contains("connection refused"), "{said}");
    assert!(said.contains("check api.base_url"), "{said}");
    let out = cmd_async(h.dir.path(), &["--config", config, "sync"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("Sync stopped early"), "{}", text(&out));
    let store = ahead_sync::store::Store::open(&h.dir.path().join("ahead-sync.db")).unwrap();
    let pulls = store
        .job_summaries()
        .unwrap()
        .into_iter()
        .filter(|(last, _)| last.job.starts_with("pull "))
        .count();
    assert_eq!(pulls, 1, "only the first pull of the sync ran");
    // Three attempts with 10 ms backoff each, not minutes of retries.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_hung_server_is_named_with_its_timeout() {
    let h = Harness::new().await;
    // Accepts connections, reads, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config = h.write_config("timeout_secs = 1\nmax_attempts = 1");
    let body = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&h.sandbox.base_url(), &format!("http://{addr}"));
    std::fs::write(&config, body).unwrap();
    let out = cmd_async(
        h.dir.path(),
        &["--config", config.to_str().unwrap(), "pull", "inventory"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("timed out after 1 s"), "{}", text(&out));
    server.abort();
}
