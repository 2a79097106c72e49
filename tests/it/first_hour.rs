//! A new user's first hour: `init` in an empty folder, `sync` against the embedded sandbox, the
//! reconciliation, and "an hour later" through `sandbox advance`.

use std::collections::BTreeSet;
use std::path::Path;

use ahead_sandbox::{Sandbox, SandboxConfig};

use crate::util::{cmd, text};

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The embedded sandbox's world, as `sync` left it in the folder.
async fn sandbox_of(work: &Path) -> Sandbox {
    Sandbox::start_local(SandboxConfig {
        state_path: Some(work.join("ahead-sync.sandbox.json")),
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn init_then_sync_pushes_the_samples_and_reconciles_every_status() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let out = cmd(dir.path(), &["init", "work"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    for file in [
        "ahead-sync.toml",
        "mappings/purchase_orders.csv.toml",
        "mappings/fulfillment_orders.x12.toml",
        "mappings/ap_ledger.csv.toml",
        "schedules/example.toml",
        "inbox/purchase_orders/purchase_orders.csv",
        "inbox/fulfillment_orders/fulfillment_orders.x12",
        "ap_ledger.csv",
    ] {
        assert!(work.join(file).is_file(), "{file}\n{said}");
        assert!(
            said.contains(file),
            "init does not say it wrote {file}:\n{said}"
        );
    }
    assert!(said.contains("ahead-sync sync"), "{said}");
    // No secret in what it wrote: the sandbox's is built in, a real one belongs in the
    // environment.
    let config = std::fs::read_to_string(work.join("ahead-sync.toml")).unwrap();
    assert!(!config.contains("sandbox-secret"), "{config}");

    // A dry run works at once.
    let out = cmd(&work, &["push", "purchase-orders", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("would create PO-10001"),
        "{}",
        text(&out)
    );

    let out = cmd(&work, &["sync"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(work
        .join("inbox/purchase_orders/done/purchase_orders.csv")
        .is_file());
    assert!(work
        .join("inbox/fulfillment_orders/done/fulfillment_orders.x12")
        .is_file());

    let out = cmd(
        &work,
        &[
            "export",
            "reconciliation",
            "--ledger",
            "ap_ledger.csv",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rows = json_lines(&out.stdout);
    let statuses: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r["section"] == "detail")
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        BTreeSet::from([
            "amount_mismatch",
            "matched",
            "missing_in_ahead",
            "missing_in_erp"
        ])
    );
    assert!(rows
        .iter()
        .filter(|r| r["section"] == "detail" && r["status"] == "amount_mismatch")
        .all(|r| r["difference"] == "-25.00"));

    // The sample orders are at AHEAD, as the files say.
    let sandbox = sandbox_of(&work).await;
    let control = sandbox.control();
    for number in ["PO-10001", "PO-10002"] {
        let order = control
            .get_order("purchase_orders", number)
            .unwrap_or_else(|| panic!("{number} is not at the sandbox"));
        assert_eq!(order["po_number"], number);
    }
    let po = control.get_order("purchase_orders", "PO-10002").unwrap();
    assert_eq!(po["lines"].as_array().unwrap().len(), 3);
    assert!(control
        .get_order("fulfillment_orders", "SO-60001")
        .is_some());
    sandbox.stop().await.unwrap();

    // The outboxes init configured delivered what the pulls recorded: an 856 interchange of
    // the sandbox's shipments, and the inventory as CSV, one row per change.
    let delivered = |folder: &str| -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(work.join(folder))
            .unwrap_or_else(|e| panic!("{folder}: {e}"))
            .map(|e| e.unwrap().path())
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .collect();
        files.sort();
        files
    };
    let asn = delivered("outbox/shipments");
    assert!(!asn.is_empty(), "no 856 in outbox/shipments");
    for file in &asn {
        let x12 = std::fs::read_to_string(file).unwrap();
        assert!(x12.starts_with("ISA") && x12.contains("ST*856*"), "{x12}");
    }
    let inventory = delivered("outbox/inventory");
    let rows: usize = inventory
        .iter()
        .map(|f| {
            csv::Reader::from_path(f)
                .unwrap()
                .records()
                .map(Result::unwrap)
                .count()
        })
        .sum();
    let s = ahead_sync::store::Store::open(&work.join("ahead-sync.db")).unwrap();
    let mut pulled = 0;
    s.for_each_change(Some("inventory"), None, None, |row| {
        pulled += usize::from(["created", "updated", "closed"].contains(&row.change.as_str()));
        Ok(())
    })
    .unwrap()
    .unwrap();
    assert!(pulled > 0);
    assert_eq!(rows, pulled, "every inventory change, once");

    // A second init keeps every file, and says so.
    std::fs::write(work.join("ahead-sync.toml"), "# mine\n").unwrap();
    let out = cmd(dir.path(), &["init", "work"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!said.contains("wrote "), "{said}");
    assert!(said.contains("kept"), "{said}");
    assert!(said.contains("pushed already"), "{said}");
    assert_eq!(
        std::fs::read_to_string(work.join("ahead-sync.toml")).unwrap(),
        "# mine\n"
    );
}

#[tokio::test]
async fn sandbox_advance_gives_the_next_sync_changes() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    assert!(cmd(work, &["init"]).status.success());
    let out = cmd(work, &["sync"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let last_run = |work: &Path| {
        let out = cmd(work, &["export", "changes", "--format", "json"]);
        json_lines(&out.stdout)
            .iter()
            .filter_map(|c| c["run"].as_i64())
            .max()
            .unwrap()
    };
    let first = last_run(work);
    // Without an advance, a sync a moment later finds (almost) nothing to pull.
    let before = chrono::Utc::now();
    let out = cmd(work, &["sandbox", "advance", "--hours", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("3 h forward"), "{}", text(&out));

    let out = cmd(work, &["sync"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cmd(work, &["export", "changes", "--format", "json"]);
    let changes = json_lines(&out.stdout);
    let later: Vec<_> = changes
        .iter()
        .filter(|c| c["run"].as_i64().unwrap() > first)
        .collect();
    let streams: BTreeSet<&str> = later
        .iter()
        .map(|c| c["stream"].as_str().unwrap())
        .collect();
    assert!(streams.contains("inventory"), "{streams:?}");
    assert!(streams.contains("invoices"), "{streams:?}");
    assert!(later
        .iter()
        .any(|c| c["stream"] == "invoices" && c["change"] == "created"));

    // The sandbox's clock stays moved.
    let sandbox = sandbox_of(work).await;
    assert!(sandbox.control().now().timestamp() >= before.timestamp() + 3 * 3600);
    sandbox.stop().await.unwrap();

    // Nothing to advance when AHEAD is real.
    std::fs::write(
        work.join("remote.toml"),
        "[api]\nbase_url = \"http://127.0.0.1:9\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
    )
    .unwrap();
    let out = cmd(
        work,
        &[
            "--config",
            "remote.toml",
            "sandbox",
            "advance",
            "--hours",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn without_a_mapping_the_error_points_to_init() {
    let dir = tempfile::tempdir().unwrap();
    let out = cmd(dir.path(), &["push", "purchase-orders", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("ahead-sync init"), "{}", text(&out));

    std::fs::write(dir.path().join("ledger.csv"), "Invoice Number\n").unwrap();
    let out = cmd(
        dir.path(),
        &["export", "reconciliation", "--ledger", "ledger.csv"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("ahead-sync init") && text(&out).contains("ap_ledger.csv.toml"),
        "{}",
        text(&out)
    );
}

/// README's quick start, run line by line as written (the install line aside).
#[test]
fn the_readme_quick_start_works_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## Quick start\n")
        .nth(1)
        .expect("README has a quick start");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the quick start has a sh block");
    let root = tempfile::tempdir().unwrap();
    let mut dir = root.path().to_path_buf();
    let mut ran = 0;
    for line in block.lines() {
        let line = line.split(" #").next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        if let Some(to) = line.strip_prefix("cd ") {
            dir = dir.join(to);
            continue;
        }
        let args: Vec<&str> = line
            .strip_prefix("ahead-sync ")
            .unwrap_or_else(|| panic!("a quick start line this test cannot run: {line}"))
            .split_whitespace()
            .collect();
        let out = cmd(&dir, &args);
        assert_eq!(out.status.code(), Some(0), "{line}\n{}", text(&out));
        ran += 1;
    }
    assert!(ran >= 5, "{block}");
    assert!(dir.join("recon.csv").is_file());
}

/// The embedded sandbox's world is one file: while one process uses it, another command
/// against it (a job, `sandbox advance`) exits 4 naming the holder instead of saving over its
/// changes, and runs once the holder is gone.
#[tokio::test]
async fn the_embedded_sandbox_serves_one_process_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    assert!(cmd(work, &["init"]).status.success());
    // The daemon keeps the embedded sandbox for as long as it runs.
    let (daemon, _) = crate::metrics::start(
        work,
        &["daemon"],
        &[("AHEAD_SYNC__METRICS__BIND", "127.0.0.1:0")],
        "Metrics listening.",
    );
    let holder = format!("pid {}", daemon.id());
    let refused: Vec<_> = [
        &["pull", "inventory"][..],
        &["sync"],
        &["sandbox", "advance", "--hours", "1"],
    ]
    .into_iter()
    .map(|args| (args, cmd(work, args)))
    .collect();
    // Stopped before anything is asserted, so that a failure leaves no daemon behind.
    crate::metrics::stop(daemon);
    for (args, out) in refused {
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("the embedded AHEAD sandbox is in use")
                && text(&out).contains(&holder),
            "{args:?}: {}",
            text(&out)
        );
    }
    let out = cmd(work, &["pull", "inventory"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
