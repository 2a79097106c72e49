//! What an operator reads: the sync's summary line, skipped jobs, status rows, and retrying a
//! fixed rejected file.

use std::io::Write as _;
use std::path::Path;

use crate::util::{cmd, cmd_env, text};

fn json_logs(stderr: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Hold job `job`'s lock as another process would (an OS lock on its file beside the store).
fn hold_lock(work: &Path, job: &str) -> std::fs::File {
    let dir = work.join("ahead-sync.db.locks");
    std::fs::create_dir_all(&dir).unwrap();
    let mut file =
        std::fs::File::create(dir.join(format!("{}.lock", job.replace(' ', "-")))).unwrap();
    file.try_lock().unwrap();
    write!(file, "pid 999999 since 2026-12-01T00:00:00Z").unwrap();
    file
}

#[test]
fn the_sync_summary_has_a_field_per_job_and_a_held_lock_is_info() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    assert!(cmd(work, &["init"]).status.success());
    let lock = hold_lock(work, "pull inventory");
    let out = cmd(work, &["--log-format", "json", "sync"]);
    drop(lock);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let logs = json_logs(&out.stderr);
    let summary = logs
        .iter()
        .find(|l| l["message"] == "Sync finished.")
        .unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!(summary["exit"], 4);
    assert_eq!(summary["push_purchase_orders"], 0);
    assert_eq!(summary["push_fulfillment_orders"], 0);
    assert_eq!(summary["pull_inventory"], 4);
    for stream in [
        "invoices",
        "shipments",
        "purchase_orders",
        "fulfillment_orders",
    ] {
        assert_eq!(summary[format!("pull_{stream}")], 0, "{summary}");
    }
    assert!(summary.get("jobs").is_none(), "{summary}");
    let skipped = logs
        .iter()
        .find(|l| l["message"] == "Job skipped: another run holds its lock.")
        .unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!(skipped["level"], "INFO", "{skipped}");
    assert_eq!(skipped["job"], "pull inventory");
    assert!(
        skipped["holder"].as_str().unwrap().contains("pid 999999"),
        "{skipped}"
    );
    assert!(
        logs.iter()
            .all(|l| l["level"] != "WARN" && l["level"] != "ERROR"),
        "{}",
        text(&out)
    );
}

#[test]
fn status_shows_pushes_with_unchanged_orders() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    assert!(cmd(work, &["init"]).status.success());
    assert_eq!(cmd(work, &["sync"]).status.code(), Some(0));
    let out = cmd(work, &["status"]);
    let status = String::from_utf8_lossy(&out.stdout);
    let push = status
        .lines()
        .find(|l| l.starts_with("push purchase_orders"))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(
        push.contains("orders 2 created 2 updated 0 unchanged 0 rejected 0"),
        "{push}"
    );
    assert!(!push.contains("removed"), "{push}");
    let pull = status
        .lines()
        .find(|l| l.starts_with("pull inventory"))
        .unwrap();
    assert!(pull.contains("removed 0"), "{pull}");
}

const HEADER: &str = "PO Number,Order Date,Vendor,Ship To Name,Ship To Company,Ship To Address 1,\
Ship To Address 2,Ship To City,Ship To State,Ship To Zip,Ship To Country,Requested Ship Date,Line,\
Item,Quantity,Unit Cost,Memo\n";

fn order(item: &str) -> String {
    format!(
        "{HEADER}PO-7001,11/02/2026,AHEAD,Dock,Acme,1 Main St,,Minneapolis,MN,55401,US,11/20/2026,1,{item},4,10.00,\n"
    )
}

#[test]
fn a_fixed_rejected_file_is_requeued_and_its_report_removed() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    assert!(cmd(work, &["init"]).status.success());
    // Taken at once, however fresh the files are.
    let env = [("AHEAD_SYNC__PUSH__SETTLE_SECS", "0")];
    let inbox = work.join("inbox/purchase_orders");
    std::fs::write(inbox.join("erp.csv"), order("NO-SUCH-ITEM")).unwrap();
    let out = cmd_env(work, &["--log-format", "json", "sync"], &env);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // The rejection in the log: a field for each fact.
    let logs = json_logs(&out.stderr);
    let rejected = logs
        .iter()
        .find(|l| l["message"] == "Row rejected.")
        .unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!(rejected["file"], "inbox/purchase_orders/erp.csv");
    assert_eq!(rejected["line"], 2);
    assert_eq!(rejected["order"], "PO-7001");
    assert_eq!(rejected["field"], "lines[0].item_number");
    assert!(
        rejected["reason"]
            .as_str()
            .unwrap()
            .contains("NO-SUCH-ITEM"),
        "{rejected}"
    );
    let failed = inbox.join("failed/erp.csv");
    let report = inbox.join("failed/erp.csv.errors.csv");
    assert!(failed.is_file() && report.is_file());

    // The person fixes the file where it lies, then requeues it.
    std::fs::write(&failed, order("SRV-1U-X10")).unwrap();
    let out = cmd(
        work,
        &["push", "requeue", "inbox/purchase_orders/failed/erp.csv"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("erp.csv.errors.csv"), "{}", text(&out));
    assert!(inbox.join("erp.csv").is_file());
    assert!(!failed.exists() && !report.exists());

    let out = cmd_env(work, &["sync"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(inbox.join("done/erp.csv").is_file());

    // Only a rejected inbox file can be requeued, and a report is not one.
    for (args, says) in [
        (
            &["push", "requeue", "inbox/purchase_orders/done/erp.csv"][..],
            "failed/",
        ),
        (&["push", "requeue", "ap_ledger.csv"], "failed/"),
        (
            &[
                "push",
                "requeue",
                "inbox/purchase_orders/failed/x.csv.errors.csv",
            ],
            "rejection report",
        ),
    ] {
        let out = cmd(work, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
}
