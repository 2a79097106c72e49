//! Pull, backfill and export through the binary, including a run killed with SIGKILL.

use std::time::Duration;

use ahead_sandbox::NewInvoice;
use ahead_sync::pull::StreamKind;
use ahead_sync::store::Store;

use crate::pull::{mirror, server_truth};
use crate::util::{cmd_async, text, Harness};

#[tokio::test]
async fn pull_then_export_through_the_binary() {
    let h = Harness::new().await;
    let config = h.write_config("page_size = 40");
    let config = config.to_str().unwrap();
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("Pull finished."), "{}", text(&out));
    let total = h.sandbox.control().inventory_len();

    let csv_path = h.dir.path().join("inventory.csv");
    let out = cmd_async(
        h.dir.path(),
        &[
            "--config",
            config,
            "export",
            "inventory",
            "--out",
            csv_path.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "id");
    assert!(headers.iter().any(|h| h == "quantity_on_hand"));
    assert_eq!(reader.records().count(), total);

    h.sandbox
        .control()
        .set_stock("RAIL-KIT-1U", "DAL1", 77)
        .unwrap();
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cmd_async(
        h.dir.path(),
        &[
            "--config",
            config,
            "export",
            "changes",
            "--stream",
            "inventory",
            "--run",
            "2",
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["key"], "RAIL-KIT-1U@DAL1");
    assert_eq!(lines[0]["change"], "updated");
    assert_eq!(lines[0]["after"]["quantity_on_hand"], 77);

    let out = cmd_async(
        h.dir.path(),
        &[
            "--config",
            config,
            "backfill",
            "inventory",
            "--since",
            "2026-13-01",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--since"), "{}", text(&out));
}

/// A first pull writes each record once (its snapshot; the page's creations share a row), yet
/// `export changes` lists every created record with its own seq, its run and its key, and still
/// does once the record is gone from AHEAD and from the mirror.
#[tokio::test]
async fn a_first_pull_lists_every_created_record_with_its_run_and_key() {
    let h = Harness::new().await;
    let config = h.write_config("page_size = 40");
    let config = config.to_str().unwrap();
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let total = h.sandbox.control().inventory_len();
    let store = Store::open(&h.dir.path().join("ahead-sync.db")).unwrap();
    let keys: std::collections::BTreeMap<i64, String> = mirror(&store, StreamKind::Inventory, None)
        .into_iter()
        .map(|(id, body)| {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            (
                id,
                format!(
                    "{}@{}",
                    v["item_number"].as_str().unwrap(),
                    v["warehouse"].as_str().unwrap()
                ),
            )
        })
        .collect();
    drop(store);
    let dir = h.dir.path().to_path_buf();
    let export = |run: &'static str| {
        let dir = dir.clone();
        async move {
            let out = cmd_async(
                &dir,
                &[
                    "--config", config, "export", "changes", "--run", run, "--format", "json",
                ],
            )
            .await;
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>()
        }
    };
    let created = export("1").await;
    assert_eq!(created.len(), total);
    let mut seen = std::collections::BTreeSet::new();
    for c in &created {
        assert_eq!(
            (c["run"].as_i64(), c["change"].as_str()),
            (Some(1), Some("created"))
        );
        let id = c["id"].as_i64().unwrap();
        assert_eq!(c["key"].as_str(), Some(keys[&id].as_str()), "{c}");
        assert!(
            seen.last().is_none_or(|last| *last < id),
            "record {id} listed twice or out of order"
        );
        seen.insert(id);
    }
    assert_eq!(seen.len(), keys.len());
    // Each has a seq of its own, numbered on from 1 with none skipped.
    let store = Store::open(&h.dir.path().join("ahead-sync.db")).unwrap();
    let mut seqs = Vec::new();
    store
        .for_each_change(None, None, None, |r| {
            seqs.push(r.seq);
            Ok(())
        })
        .unwrap()
        .unwrap();
    drop(store);
    assert_eq!(seqs, (1..=total as i64).collect::<Vec<_>>());

    // Gone from AHEAD: the next full pull removes it, and its creation still reads the same.
    h.sandbox
        .control()
        .remove_inventory("RAIL-KIT-1U", "DAL1")
        .unwrap();
    let out = cmd_async(
        h.dir.path(),
        &["--config", config, "pull", "inventory", "--full"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let removed = export("2").await;
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0]["change"], "removed");
    assert_eq!(removed[0]["key"], "RAIL-KIT-1U@DAL1");
    assert_eq!(export("1").await, created);
}

/// Machine exports keep text exactly as AHEAD sent it, even text a spreadsheet would run as a
/// formula; `--excel-safe` neutralises it in CSV (a `'` in front), leaving numbers and money
/// as they are. JSON is never rewritten: `--excel-safe` with it is a usage error.
#[tokio::test]
async fn excel_safe_neutralises_formulas_in_csv_exports_only_when_asked() {
    const PO: &str = "=HYPERLINK(\"https://attacker.example/\",\"open\")";
    let h = Harness::new().await;
    let config = h.write_config("");
    let config = config.to_str().unwrap();
    let doc = h
        .sandbox
        .control()
        .create_invoice(&NewInvoice {
            purchase_order_number: Some(PO.into()),
            fulfillment_order_number: None,
            lines: vec![("SRV-1U-X10".into(), 1)],
            due_days: None,
        })
        .unwrap();
    let number = doc["invoice_number"].as_str().unwrap().to_string();
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "invoices"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let export = |extra: &'static [&'static str]| {
        let dir = h.dir.path().to_path_buf();
        let mut args = vec!["--config", config, "export", "invoices"];
        args.extend_from_slice(extra);
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            cmd_async(&dir, &refs).await
        }
    };
    let row = |csv: &[u8]| -> std::collections::HashMap<String, String> {
        let mut reader = csv::Reader::from_reader(csv);
        let headers = reader.headers().unwrap().clone();
        let record = reader
            .records()
            .map(Result::unwrap)
            .find(|r| r.get(1) == Some(number.as_str()))
            .expect("the invoice's row");
        headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect()
    };

    let out = export(&[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let exact = row(&out.stdout);
    assert_eq!(exact["purchase_order_number"], PO);

    let out = export(&["--excel-safe"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let safe = row(&out.stdout);
    assert_eq!(safe["purchase_order_number"], format!("'{PO}"));
    // Everything else as it was: money, dates, the lines' JSON text.
    for (column, value) in &exact {
        if column != "purchase_order_number" {
            assert_eq!(&safe[column], value, "{column}");
        }
    }
    assert_eq!(safe["balance_due"], "1249.50");

    let out = export(&["--format", "json", "--excel-safe"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--excel-safe"), "{}", text(&out));
    let out = export(&["--format", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .any(|l| l.contains(&serde_json::to_string(PO).unwrap())),
        "JSON keeps the PO number exactly"
    );
}

#[tokio::test]
async fn a_pull_killed_mid_run_is_finished_by_the_next() {
    let h = Harness::new().await;
    let config = h.write_config("page_size = 10\nconcurrency = 1");
    h.sandbox.control().latency(Duration::from_millis(40));
    let total = h.sandbox.control().inventory_len() as u64;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ahead-sync"))
        .current_dir(h.dir.path())
        .args([
            "--config",
            config.to_str().unwrap(),
            "--no-progress",
            "-q",
            "pull",
            "inventory",
        ])
        .spawn()
        .unwrap();
    let db = h.dir.path().join("ahead-sync.db");
    let mut partial = 0;
    for _ in 0..2000 {
        if db.exists() {
            if let Ok(store) = Store::open(&db) {
                partial = store.snapshot_count("inventory").unwrap_or(0);
                if partial >= 30 {
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    crate::util::kill_while_running(&mut child);
    assert!(
        partial >= 30 && partial < total,
        "killed mid-way ({partial} of {total})"
    );

    h.sandbox.control().clear_faults();
    let out = cmd_async(
        h.dir.path(),
        &["--config", config.to_str().unwrap(), "pull", "inventory"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let store = Store::open(&db).unwrap();
    let truth = server_truth(
        &h.client(),
        StreamKind::Inventory,
        ahead_sync::api::Query::new(),
    )
    .await;
    assert!(
        mirror(&store, StreamKind::Inventory, None) == truth,
        "the mirror equals the server"
    );
    let mut created = std::collections::BTreeMap::new();
    store
        .for_each_change(Some("inventory"), None, None, |r| {
            *created.entry(r.record_id).or_insert(0u32) += 1;
            Ok(())
        })
        .unwrap()
        .unwrap();
    assert_eq!(created.len() as u64, total);
    assert!(
        created.values().all(|n| *n == 1),
        "no change recorded twice"
    );
}

#[tokio::test]
async fn a_second_run_of_the_same_job_exits_4_and_a_killed_holder_leaves_no_lock() {
    let h = Harness::new().await;
    let config = h.write_config("page_size = 5\nconcurrency = 1");
    let config = config.to_str().unwrap();
    h.sandbox.control().latency(Duration::from_millis(50));
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_ahead-sync"))
        .current_dir(h.dir.path())
        .args([
            "--config",
            config,
            "--no-progress",
            "-q",
            "pull",
            "inventory",
        ])
        .spawn()
        .unwrap();
    // Wait until the first run is under way (it has recorded its run).
    let db = h.dir.path().join("ahead-sync.db");
    for _ in 0..2000 {
        if let Ok(store) = Store::open(&db) {
            if store.snapshot_count("inventory").unwrap_or(0) > 0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("pid {}", first.id())),
        "names the holder: {}",
        text(&out)
    );
    // A different job is not blocked.
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "shipments"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    crate::util::kill_while_running(&mut first);
    h.sandbox.control().clear_faults();
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "inventory"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "the killed run's lock was taken over: {}",
        text(&out)
    );
}

#[tokio::test]
async fn status_json_reports_jobs_streams_and_token() {
    let h = Harness::new().await;
    let config = h.write_config("");
    let config = config.to_str().unwrap();
    for args in [["pull", "inventory"], ["pull", "invoices"]] {
        let out = cmd_async(h.dir.path(), &["--config", config, args[0], args[1]]).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    // An incremental pull, then two full ones: the second finds nothing and writes nothing,
    // and it is still the last full run.
    for args in [
        &["pull", "inventory"][..],
        &["pull", "inventory", "--full"],
        &["pull", "inventory", "--full"],
    ] {
        let out = cmd_async(h.dir.path(), &[&["--config", config][..], args].concat()).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    h.sandbox.control().fail_next(1000, 500);
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "shipments"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = cmd_async(h.dir.path(), &["--config", config, "status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let jobs = status["jobs"].as_array().unwrap();
    let job = |name: &str| {
        jobs.iter()
            .find(|j| j["job"] == name)
            .unwrap_or_else(|| panic!("{name} in {status}"))
    };
    let inv = job("pull inventory");
    assert_eq!(inv["last_run"]["outcome"], "ok");
    assert_eq!(
        inv["last_run"]["stats"]["unchanged"].as_u64().unwrap(),
        h.sandbox.control().inventory_len() as u64
    );
    assert_eq!(inv["last_run"]["stats"]["rows_written"], 0);
    assert_eq!(inv["last_run"]["stats"]["full"], true);
    assert!(inv["last_run"]["stats"]["requests"].as_u64().unwrap() > 0);
    let ship = job("pull shipments");
    assert_eq!(ship["last_run"]["outcome"], "failed");
    assert!(ship["last_success"].is_null());
    let streams = status["streams"].as_array().unwrap();
    let inventory = streams.iter().find(|s| s["stream"] == "inventory").unwrap();
    assert!(inventory["watermark"].as_str().unwrap().ends_with('Z'));
    assert_eq!(inventory["last_full_run"], inv["last_run"]["run"]);
    assert_eq!(inventory["incremental_pulls_since_full"], 0);
    assert!(status["token"]["expires_in_secs"].as_i64().unwrap() > 3600);
    let text_out = cmd_async(h.dir.path(), &["--config", config, "status"]).await;
    assert!(
        text(&text_out).contains("pull inventory"),
        "{}",
        text(&text_out)
    );
}

#[tokio::test]
async fn sync_runs_every_job_and_exits_with_the_worst_outcome() {
    let h = Harness::new().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for inbox in ["inbox/po", "inbox/fo"] {
        std::fs::create_dir_all(h.dir.path().join(inbox)).unwrap();
    }
    let po = std::fs::read_to_string(root.join("tests/fixtures/purchase_orders.csv")).unwrap();
    std::fs::write(h.dir.path().join("inbox/po/po.csv"), po).unwrap();
    let fo = std::fs::read_to_string(root.join("tests/fixtures/fulfillment_orders.csv"))
        .unwrap()
        .replace("PSU-800W", "NO-SUCH-PSU");
    std::fs::write(h.dir.path().join("inbox/fo/fo.csv"), fo).unwrap();
    let config = h.write_config(&format!(
        "max_attempts = 2\n[push]\nsettle_secs = 0\n[push.purchase_orders]\nmapping = \"{}\"\ninbox = \"inbox/po\"\n\
         [push.fulfillment_orders]\nmapping = \"{}\"\ninbox = \"inbox/fo\"\n",
        root.join("mappings/purchase_orders.csv.toml").display(),
        root.join("mappings/fulfillment_orders.csv.toml").display()
    ));
    let config = config.to_str().unwrap();
    // The first job's first request fails on both attempts: that job fails, the rest go on.
    h.sandbox.control().fail_next(2, 503);
    let out = cmd_async(h.dir.path(), &["--config", config, "sync"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "the worst outcome: {}",
        text(&out)
    );
    assert!(text(&out).contains("Sync finished."), "{}", text(&out));
    let out = cmd_async(h.dir.path(), &["--config", config, "status", "--json"]).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let outcome = |job: &str| {
        status["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job"] == job)
            .unwrap_or_else(|| panic!("{job} ran: {status}"))
            .clone()
    };
    assert_eq!(
        outcome("push purchase_orders")["last_run"]["outcome"],
        "failed"
    );
    let fo = outcome("push fulfillment_orders");
    assert_eq!(fo["last_run"]["outcome"], "rejected");
    assert_eq!(fo["rejected_rows_waiting"], 1);
    assert!(
        fo["last_run"]["stats"]["requests"].as_u64().unwrap() > 0,
        "pushes count their requests too"
    );
    for stream in [
        "inventory",
        "invoices",
        "shipments",
        "purchase_orders",
        "fulfillment_orders",
    ] {
        assert_eq!(
            outcome(&format!("pull {stream}"))["last_run"]["outcome"],
            "ok",
            "{stream}"
        );
    }
    // The failed push left its file in the inbox; the next sync pushes it.
    assert!(h.dir.path().join("inbox/po/po.csv").exists());
    assert!(h
        .dir
        .path()
        .join("inbox/fo/failed/fo.csv.errors.csv")
        .exists());
    let out = cmd_async(h.dir.path(), &["--config", config, "sync"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(h.dir.path().join("inbox/po/done/po.csv").exists());
    // The pull after the push mirrors what was just sent.
    let store = Store::open(&h.dir.path().join("ahead-sync.db")).unwrap();
    let pos = mirror(&store, StreamKind::PurchaseOrders, None);
    assert!(pos.values().any(|b| b.contains("PO-10001")));
}
