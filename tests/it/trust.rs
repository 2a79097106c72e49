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
            "[push]\nsettle_secs = 0\n[push.purchase_orders]\nmapping = \"{}\"\ninbox = \"inbox/po\"\n",
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
    // `status` says why each job last failed, in text and JSON.
    let out = cmd_async(h.dir.path(), &["--config", config, "status", "--json"]).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let job = status["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "pull inventory")
        .unwrap()
        .clone();
    let error = job["last_failure"]["error"].as_str().unwrap();
    assert!(error.contains("connection refused"), "{job}");
    assert!(!error.contains('\n'));
    assert_eq!(job["last_failure"]["run"], job["last_run"]["run"]);
    let out = cmd_async(h.dir.path(), &["--config", config, "status"]).await;
    assert!(text(&out).contains("last failure: run"), "{}", text(&out));
    assert!(text(&out).contains("connection refused"), "{}", text(&out));
    // The mistyped URL never reached an AHEAD, so it did not claim the store: fixed, it works.
    let body = std::fs::read_to_string(config)
        .unwrap()
        .replace(&format!("http://127.0.0.1:{port}"), &h.sandbox.base_url());
    std::fs::write(config, body).unwrap();
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
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

const PO_HEADER: &str = "PO Number,Order Date,Vendor,Ship To Name,Ship To Company,Ship To Address 1,Ship To Address 2,Ship To City,Ship To State,Ship To Zip,Ship To Country,Requested Ship Date,Line,Item,Quantity,Unit Cost,Memo\n";

/// Rows of orders `PO-7{n}` for n in `range`, two lines each.
fn po_rows(range: std::ops::Range<u32>) -> String {
    range
        .map(|n| {
            format!(
                "PO-7{n:04},11/02/2026,AHEAD,Dock,Acme,1 Main St,,Minneapolis,MN,55401,US,11/20/2026,1,SRV-1U-X10,1,45.50,\n\
                 PO-7{n:04},11/02/2026,AHEAD,Dock,Acme,1 Main St,,Minneapolis,MN,55401,US,11/20/2026,2,RAIL-KIT-1U,2,10.00,\n"
            )
        })
        .collect()
}

/// Make a file look as if nothing had written to it for a minute.
fn age(path: &std::path::Path) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(60))
        .unwrap();
}

/// A config with a purchase-order inbox and the default `push.settle_secs`.
fn inbox_config(h: &Harness, extra: &str) -> (String, std::path::PathBuf) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let inbox = h.dir.path().join("inbox/po");
    std::fs::create_dir_all(&inbox).unwrap();
    let config = h.write_config(&format!(
        "{extra}\n[push.purchase_orders]\nmapping = \"{}\"\ninbox = \"inbox/po\"\n",
        root.join("mappings/purchase_orders.csv.toml").display()
    ));
    (config.to_str().unwrap().to_string(), inbox)
}

fn pos_in_sandbox(h: &Harness) -> usize {
    h.sandbox.control().count_of("purchase_orders")
}

#[tokio::test]
async fn an_inbox_file_is_taken_only_when_complete_and_settled() {
    let h = Harness::new().await;
    let (config, inbox) = inbox_config(&h, "");
    let before = pos_in_sandbox(&h);
    let args = ["--config", config.as_str(), "push", "purchase-orders"];
    let push = || cmd_async(h.dir.path(), &args);

    // Just written: it waits for push.settle_secs (default 5 s).
    let fresh = inbox.join("fresh.csv");
    std::fs::write(&fresh, format!("{PO_HEADER}{}", po_rows(0..3))).unwrap();
    // Aged, but the writer is in the middle of a line, or of a quoted field.
    let no_line_end = inbox.join("no-line-end.csv");
    let rows = po_rows(10..12);
    std::fs::write(&no_line_end, format!("{PO_HEADER}{}", rows.trim_end())).unwrap();
    age(&no_line_end);
    let open_quote = inbox.join("open-quote.csv");
    std::fs::write(
        &open_quote,
        format!(
            "{PO_HEADER}{}PO-79999,11/02/2026,AHEAD,\"Dock\nstill writing\n",
            po_rows(20..22)
        ),
    )
    .unwrap();
    age(&open_quote);
    // Being written under a temporary name.
    let partial = inbox.join("orders.csv.partial");
    std::fs::write(&partial, format!("{PO_HEADER}{}", po_rows(30..32))).unwrap();
    age(&partial);

    let out = push().await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        pos_in_sandbox(&h),
        before,
        "nothing was sent: {}",
        text(&out)
    );
    for file in [&fresh, &no_line_end, &open_quote, &partial] {
        assert!(file.exists(), "{} stays in the inbox", file.display());
    }
    assert!(text(&out).contains("push.settle_secs"), "{}", text(&out));
    assert!(
        text(&out).contains("quoted field opened on line"),
        "{}",
        text(&out)
    );

    // Once each is whole and settled, every order goes, each once.
    age(&fresh);
    std::fs::write(&no_line_end, format!("{PO_HEADER}{rows}")).unwrap();
    age(&no_line_end);
    std::fs::write(&open_quote, format!("{PO_HEADER}{}", po_rows(20..22))).unwrap();
    age(&open_quote);
    std::fs::rename(&partial, inbox.join("orders.csv")).unwrap();
    let out = push().await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(pos_in_sandbox(&h), before + 3 + 2 + 2 + 2, "{}", text(&out));
    for name in [
        "fresh.csv",
        "no-line-end.csv",
        "open-quote.csv",
        "orders.csv",
    ] {
        assert!(inbox.join("done").join(name).exists(), "{name} is done");
    }
}

#[tokio::test]
async fn an_x12_file_without_its_iea_waits() {
    let h = Harness::new().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let inbox = h.dir.path().join("inbox/po");
    std::fs::create_dir_all(&inbox).unwrap();
    let config = h.write_config(&format!(
        "[push.purchase_orders]\nmapping = \"{}\"\ninbox = \"inbox/po\"\n",
        root.join("mappings/purchase_orders.x12.toml").display()
    ));
    let config = config.to_str().unwrap();
    let whole = std::fs::read_to_string(root.join("tests/fixtures/purchase_orders.x12")).unwrap();
    let file = inbox.join("po.x12");
    let cut = whole.rfind("SE*").unwrap();
    std::fs::write(&file, &whole[..cut]).unwrap();
    age(&file);
    let before = pos_in_sandbox(&h);
    let out = cmd_async(
        h.dir.path(),
        &["--config", config, "push", "purchase-orders"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("IEA"), "{}", text(&out));
    assert_eq!(
        pos_in_sandbox(&h),
        before,
        "no order from a cut interchange"
    );
    assert!(file.exists());
    std::fs::write(&file, &whole).unwrap();
    age(&file);
    let out = cmd_async(
        h.dir.path(),
        &["--config", config, "push", "purchase-orders"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(pos_in_sandbox(&h) > before);
    assert!(inbox.join("done/po.x12").exists());
}

#[tokio::test]
async fn orders_appended_while_a_push_runs_are_all_sent_by_the_next_run() {
    let h = Harness::new().await;
    let (config, inbox) = inbox_config(&h, "concurrency = 1");
    let file = inbox.join("orders.csv");
    std::fs::write(&file, format!("{PO_HEADER}{}", po_rows(0..5))).unwrap();
    age(&file);
    let before = pos_in_sandbox(&h);
    h.sandbox.control().latency(Duration::from_millis(40));
    let push = std::process::Command::new(env!("CARGO_BIN_EXE_ahead-sync"))
        .current_dir(h.dir.path())
        .args([
            "--config",
            &config,
            "--no-progress",
            "push",
            "purchase-orders",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The ERP appends while the push is sending.
    let deadline = Instant::now() + Duration::from_secs(30);
    while pos_in_sandbox(&h) == before {
        assert!(Instant::now() < deadline, "the push never sent an order");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    {
        use std::io::Write;
        let mut f = std::fs::File::options().append(true).open(&file).unwrap();
        f.write_all(po_rows(5..20).as_bytes()).unwrap();
    }
    let status = tokio::task::spawn_blocking(move || push.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let said = String::from_utf8_lossy(&status.stderr).into_owned();
    assert_eq!(status.status.code(), Some(0), "{said}");
    assert_eq!(pos_in_sandbox(&h), before + 5, "{said}");
    assert!(
        file.exists(),
        "a file written to during its push stays in the inbox: {said}"
    );
    assert!(said.contains("changed while it was pushed"), "{said}");
    h.sandbox.control().clear_faults();
    age(&file);
    let out = cmd_async(
        h.dir.path(),
        &["--config", &config, "push", "purchase-orders"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(pos_in_sandbox(&h), before + 20, "every order, each once");
    assert!(inbox.join("done/orders.csv").exists());
}

#[tokio::test]
#[cfg(unix)]
async fn an_inbox_symlink_is_refused_not_followed() {
    let h = Harness::new().await;
    let (config, inbox) = inbox_config(&h, "");
    let secret = h.dir.path().join("elsewhere.csv");
    std::fs::write(
        &secret,
        format!(
            "{PO_HEADER}{}",
            po_rows(0..2).replace("Dock", "SECRET-CONTENT")
        ),
    )
    .unwrap();
    age(&secret);
    let link = inbox.join("link.csv");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let before = pos_in_sandbox(&h);
    let out = cmd_async(
        h.dir.path(),
        &["--config", &config, "push", "purchase-orders"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("symbolic link"), "{}", text(&out));
    assert!(!text(&out).contains("SECRET-CONTENT"), "{}", text(&out));
    assert!(
        !text(&out).contains("elsewhere"),
        "the link's target is not named: {}",
        text(&out)
    );
    assert_eq!(pos_in_sandbox(&h), before);
    assert!(secret.exists(), "the target is untouched");
    assert!(!link.exists());
    let moved = inbox.join("failed/link.csv");
    assert!(std::fs::symlink_metadata(&moved)
        .unwrap()
        .file_type()
        .is_symlink());
    let errors = std::fs::read_to_string(inbox.join("failed/link.csv.errors.csv")).unwrap();
    assert!(errors.contains("symbolic link"), "{errors}");
    assert!(!errors.contains("SECRET-CONTENT"), "{errors}");
}

#[test]
fn a_named_csv_cut_inside_a_quoted_field_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = dir.path().join("cut.csv");
    std::fs::write(
        &file,
        format!(
            "{PO_HEADER}{}PO-79999,11/02/2026,AHEAD,\"Dock\n",
            po_rows(0..2)
        ),
    )
    .unwrap();
    let out = crate::util::cmd(
        dir.path(),
        &[
            "push",
            "purchase-orders",
            file.to_str().unwrap(),
            "--mapping",
            root.join("mappings/purchase_orders.csv.toml")
                .to_str()
                .unwrap(),
            "--dry-run",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("never closed"), "{}", text(&out));
    assert!(
        !text(&out).contains("would create"),
        "no order from a cut file: {}",
        text(&out)
    );
}

#[tokio::test]
async fn a_store_made_against_one_ahead_refuses_another() {
    let h = Harness::new().await;
    // No configuration: the embedded sandbox, and a store beside it.
    let out = cmd_async(h.dir.path(), &["pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let po = root.join("tests/fixtures/purchase_orders.csv");
    let mapping = root.join("mappings/purchase_orders.csv.toml");
    // The same store, now pointed at another AHEAD.
    let config = h.write_config("");
    let config = config.to_str().unwrap();
    for args in [
        &["pull", "inventory"][..],
        &["sync"],
        &[
            "push",
            "purchase-orders",
            po.to_str().unwrap(),
            "--mapping",
            mapping.to_str().unwrap(),
        ],
        &["export", "orders"],
        &["webhooks", "list"],
    ] {
        let out = cmd_async(h.dir.path(), &[&["--config", config][..], args].concat()).await;
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert!(
            said.contains("the embedded AHEAD sandbox"),
            "{args:?}: {said}"
        );
        assert!(
            said.contains(h.sandbox.base_url().trim_end_matches('/')),
            "{args:?}: {said}"
        );
        assert!(said.contains("store.path"), "names the fix: {said}");
    }
    assert_eq!(
        h.sandbox.control().requests_to("POST /v2/purchase_orders"),
        0,
        "nothing was sent to the other AHEAD"
    );
    // A store of its own for the other AHEAD works.
    let body = std::fs::read_to_string(config)
        .unwrap()
        .replace("ahead-sync.db", "other.db");
    std::fs::write(config, body).unwrap();
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[tokio::test]
async fn a_store_from_before_stores_knew_their_ahead_adopts_the_next_one() {
    let h = Harness::new().await;
    let db = h.dir.path().join("ahead-sync.db");
    {
        // As an earlier release left it: data, and no AHEAD recorded.
        let store = ahead_sync::store::Store::open(&db).unwrap();
        store.begin_run("pull inventory", "", 1).unwrap();
        assert_eq!(store.ahead_identity().unwrap(), None);
    }
    let config = h.write_config("");
    let config = config.to_str().unwrap();
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let store = ahead_sync::store::Store::open(&db).unwrap();
    let identity = store.ahead_identity().unwrap().unwrap();
    assert!(
        identity.contains(h.sandbox.base_url().trim_end_matches('/')),
        "{identity}"
    );
    // From then on, the embedded sandbox (no configuration file) is another AHEAD.
    std::fs::remove_file(config).unwrap();
    let out = cmd_async(h.dir.path(), &["pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

const WEBHOOK_SECRET: &str = "wh-secret-trust-4d1e";

/// Start the binary with `args`; stderr piped.
fn spawn(dir: &std::path::Path, args: &[&str]) -> std::process::Child {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ahead-sync"));
    command
        .current_dir(dir)
        .args(args)
        .arg("--no-progress")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("AHEAD_SYNC") {
            command.env_remove(key);
        }
    }
    command.spawn().unwrap()
}

#[tokio::test]
async fn different_jobs_the_receiver_and_status_share_one_store_at_the_same_moment() {
    let h = Harness::new().await;
    let (config, inbox) = inbox_config(
        &h,
        &format!("[push]\nsettle_secs = 0\n[webhooks]\nsecret = \"{WEBHOOK_SECRET}\""),
    );
    let dir = h.dir.path().to_path_buf();
    // The webhook receiver, running throughout.
    let mut receiver = spawn(
        &dir,
        &[
            "--config",
            &config,
            "--log-format",
            "json",
            "webhooks",
            "serve",
            "--bind",
            "127.0.0.1:0",
        ],
    );
    let (address, _log) = crate::util::receiver_address(&mut receiver);
    let url = format!("http://{address}/webhooks/ahead");
    let http = crate::util::http();
    const ROUNDS: u32 = 6;
    for round in 0..ROUNDS {
        let file = inbox.join(format!("round-{round}.csv"));
        std::fs::write(
            &file,
            format!("{PO_HEADER}{}", po_rows(round * 10..round * 10 + 4)),
        )
        .unwrap();
        let jobs: Vec<Vec<&str>> = vec![
            vec!["pull", "invoices"],
            vec!["pull", "shipments"],
            vec!["pull", "inventory", "--full"],
            vec!["pull", "purchase-orders"],
            vec!["push", "purchase-orders"],
            vec!["backfill", "invoices", "--since", "2026-01-01"],
            vec!["status", "--json"],
        ];
        let children: Vec<(String, std::process::Child)> = jobs
            .iter()
            .map(|args| {
                let all = [&["--config", config.as_str()][..], args].concat();
                (args.join(" "), spawn(&dir, &all))
            })
            .collect();
        // Deliveries arrive while the jobs run.
        for n in 0..10 {
            let id = round * 100 + n;
            let body = serde_json::to_vec(&serde_json::json!({
                "id": format!("evt_trust_{id}"),
                "event": "fulfillment_order.updated",
                "created_at": "2026-11-01T00:00:00Z",
                "data": {"id": 900_000 + id, "order_number": format!("SO-TRUST-{id}"), "status": "open",
                    "ship_method": "ups_ground", "lines": [], "created_at": "2026-11-01T00:00:00Z",
                    "updated_at": "2026-11-01T00:00:00Z"},
            }))
            .unwrap();
            let signature = ahead_sync::webhooks::verify::sign(WEBHOOK_SECRET.as_bytes(), &body);
            let status = http
                .post(&url)
                .header("content-type", "application/json")
                .header("x-ahead-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status.as_u16(), 200, "round {round} delivery {n}");
        }
        for (name, child) in children {
            let out = tokio::task::spawn_blocking(move || child.wait_with_output())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: `{name}` failed beside the others: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(inbox.join(format!("done/round-{round}.csv")).exists());
    }
    let store = ahead_sync::store::Store::open(&dir.join("ahead-sync.db")).unwrap();
    for (last, _) in store.job_summaries().unwrap() {
        if last.job != "webhooks serve" {
            assert_eq!(last.outcome.as_deref(), Some("ok"), "{}", last.job);
        }
    }
    unsafe { libc::kill(receiver.id() as i32, libc::SIGTERM) };
    let status = receiver.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn a_job_whose_log_reader_went_away_still_finishes() {
    let h = Harness::new().await;
    let config = h.write_config("");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ahead-sync"))
        .current_dir(h.dir.path())
        .args([
            "--config",
            config.to_str().unwrap(),
            "--no-progress",
            "pull",
            "inventory",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The log reader (a pipe to a crashed shipper, say) is gone before the job logs anything.
    drop(child.stderr.take());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    let store = ahead_sync::store::Store::open(&h.dir.path().join("ahead-sync.db")).unwrap();
    assert!(store.snapshot_count("inventory").unwrap() > 0);
}

#[tokio::test]
async fn a_mirror_poisoned_by_an_earlier_release_still_exports_the_other_records() {
    use ahead_sync::store::{PageWrite, Store, Upsert};
    let h = Harness::new().await;
    let config = h.write_config("");
    let config = config.to_str().unwrap();
    let out = cmd_async(
        h.dir.path(),
        &["--config", config, "pull", "fulfillment-orders"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A record nested deeper than JSON readers go, as a receiver without a depth check stored.
    let nested = format!("{}1{}", "[".repeat(130), "]".repeat(130));
    let body = format!(r#"{{"id":987654,"order_number":"SO-DEEP","lines":{nested}}}"#);
    let store = Store::open(&h.dir.path().join("ahead-sync.db")).unwrap();
    let before = store.snapshot_count("fulfillment_orders").unwrap();
    let run = store.begin_run("webhooks serve", "", 1).unwrap();
    let page = PageWrite {
        upserts: vec![Upsert {
            id: 987_654,
            hash: ahead_sync::store::fingerprint(&body),
            updated_at: "2026-11-01T00:00:00Z".into(),
            state: String::new(),
            body,
        }],
        ..PageWrite::default()
    };
    store
        .write_page("fulfillment_orders", run, "t", &page)
        .unwrap();
    let out = cmd_async(
        h.dir.path(),
        &["--config", config, "export", "orders", "--format", "json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let lines = String::from_utf8_lossy(&out.stdout).lines().count() as u64;
    let pos = store.snapshot_count("purchase_orders").unwrap();
    assert_eq!(lines, before + pos, "every other order is exported");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        said.contains("987654") && said.contains("cannot be read"),
        "{said}"
    );
}

#[tokio::test]
async fn a_second_sync_exits_4_at_once_instead_of_interleaving() {
    let h = Harness::new().await;
    let config = h.write_config("page_size = 5\nconcurrency = 1");
    let config = config.to_str().unwrap();
    h.sandbox.control().latency(Duration::from_millis(30));
    let mut first = spawn(h.dir.path(), &["--config", config, "-q", "sync"]);
    // The first sync is under way once its first job has a run record.
    let db = h.dir.path().join("ahead-sync.db");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let started = ahead_sync::store::Store::open(&db)
            .ok()
            .and_then(|s| s.job_summaries().ok())
            .is_some_and(|jobs| !jobs.is_empty());
        if started {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first sync never started a job"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    let out = cmd_async(h.dir.path(), &["--config", config, "sync"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("pid {}", first.id())),
        "{}",
        text(&out)
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "at once: {:?}",
        started.elapsed()
    );
    crate::util::kill_while_running(&mut first);
    // The second sync ran no job of its own: only the first sync's first job has run.
    let store = ahead_sync::store::Store::open(&db).unwrap();
    let jobs: Vec<String> = store
        .job_summaries()
        .unwrap()
        .into_iter()
        .map(|(last, _)| last.job)
        .collect();
    assert_eq!(jobs, ["pull inventory"]);
}
