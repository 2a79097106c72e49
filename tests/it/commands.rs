//! Pull, backfill and export through the binary, including a run killed with SIGKILL.

use std::time::Duration;

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
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running when killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
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
