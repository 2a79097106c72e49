//! Pushing the sample files and hostile variants of them to the sandbox, exactly once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ahead_sync::kinds::OrderKind;
use ahead_sync::mapping::{Mapping, Rejection};
use ahead_sync::push::{self, Collected, InputFile, PushReport};
use ahead_sync::store::{RunStats, Store};

use crate::util::{cmd_async, text, Harness};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn mapping(name: &str) -> Mapping {
    Mapping::load(repo(&format!("mappings/{name}"))).unwrap()
}

/// Copy a fixture into the harness folder (optionally edited) and return its path.
fn fixture(h: &Harness, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(repo(&format!("tests/fixtures/{name}"))).unwrap();
    let path = h.dir.path().join(name);
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// A push's report with everything its observer was told.
struct Pushed {
    stats: RunStats,
    cancelled: u64,
    plan: Vec<String>,
    rejections: Vec<Rejection>,
    report: PushReport,
}

async fn push_files(h: &Harness, map: &Mapping, files: &[PathBuf]) -> Pushed {
    let mut seen = Collected::default();
    let report = push_with(h, map, files, false, &mut seen).await;
    Pushed {
        stats: report.stats.clone(),
        cancelled: report.cancelled,
        plan: seen.plan,
        rejections: seen.rejections,
        report,
    }
}

async fn push_with(
    h: &Harness,
    map: &Mapping,
    files: &[PathBuf],
    dry_run: bool,
    observer: &mut dyn push::Observer,
) -> PushReport {
    let run = h.store.begin_run("push", "", 0).unwrap();
    let inputs: Vec<InputFile> = files
        .iter()
        .map(|p| InputFile {
            path: p.clone(),
            from_inbox: false,
        })
        .collect();
    push::push(
        &h.client(),
        &h.store,
        run,
        map,
        &inputs,
        &push::PushOptions {
            dry_run,
            concurrency: 4,
            settle: std::time::Duration::ZERO,
        },
        observer,
    )
    .await
    .unwrap()
}

fn writes(h: &Harness) -> u64 {
    let c = h.sandbox.control().counters();
    c.requests
        .iter()
        .filter(|(route, _)| {
            route.starts_with("POST /v2/")
                || route.starts_with("PUT /v2/")
                || route.starts_with("DELETE /v2/")
        })
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test]
async fn every_sample_file_is_pushed_exactly_once() {
    let h = Harness::new().await;
    let cases = [
        (
            "purchase_orders.csv.toml",
            "purchase_orders.csv",
            vec!["PO-10001", "PO-10002"],
        ),
        (
            "purchase_orders.x12.toml",
            "purchase_orders.x12",
            vec!["PO-20001", "PO-20002"],
        ),
        (
            "fulfillment_orders.csv.toml",
            "fulfillment_orders.csv",
            vec!["SO-50001", "SO-50002"],
        ),
        (
            "fulfillment_orders.x12.toml",
            "fulfillment_orders.x12",
            vec!["SO-60001"],
        ),
    ];
    for (map, file, numbers) in cases {
        let path = fixture(&h, file, |t| t);
        let report = push_files(&h, &mapping(map), std::slice::from_ref(&path)).await;
        assert_eq!(
            report.stats.created as usize,
            numbers.len(),
            "{file}: {:?}",
            report.plan
        );
        assert_eq!(report.stats.rejected, 0, "{file}: {:?}", report.rejections);
        let c = h.sandbox.control().counters();
        for n in &numbers {
            assert_eq!(c.creates_by_number.get(*n), Some(&1), "{n} created once");
        }
        // Pushing the same file again sends nothing that writes.
        let before = writes(&h);
        let again = push_files(&h, &mapping(map), &[path]).await;
        assert_eq!(again.stats.unchanged as usize, numbers.len());
        assert_eq!(writes(&h), before, "{file}: a re-push writes nothing");
    }
    let po = h
        .sandbox
        .control()
        .get_order("purchase_orders", "PO-10001")
        .unwrap();
    assert_eq!(po["lines"].as_array().unwrap().len(), 2);
    assert_eq!(po["lines"][0]["unit_price"], "2150.00");
    assert_eq!(po["requested_ship_date"], "2026-11-20");
    let fo = h
        .sandbox
        .control()
        .get_order("fulfillment_orders", "SO-60001")
        .unwrap();
    assert_eq!(fo["ship_to"]["city"], "Austin");
}

#[tokio::test]
async fn a_changed_order_becomes_exactly_one_put() {
    let h = Harness::new().await;
    let map = mapping("purchase_orders.csv.toml");
    let path = fixture(&h, "purchase_orders.csv", |t| t);
    push_files(&h, &map, std::slice::from_ref(&path)).await;
    // PO-10002's first line goes from 2 to 3 units; PO-10001 is untouched.
    let edited = fixture(&h, "purchase_orders.csv", |t| {
        t.replace("SRV-2U-G4,2,", "SRV-2U-G4,3,")
    });
    let puts_before = h
        .sandbox
        .control()
        .requests_to("PUT /v2/purchase_orders/{id}");
    let posts_before = h.sandbox.control().requests_to("POST /v2/purchase_orders");
    let report = push_files(&h, &map, &[edited]).await;
    assert_eq!(
        (report.stats.updated, report.stats.unchanged),
        (1, 1),
        "{:?}",
        report.plan
    );
    assert_eq!(
        h.sandbox
            .control()
            .requests_to("PUT /v2/purchase_orders/{id}")
            - puts_before,
        1
    );
    assert_eq!(
        h.sandbox.control().requests_to("POST /v2/purchase_orders"),
        posts_before
    );
    let po = h
        .sandbox
        .control()
        .get_order("purchase_orders", "PO-10002")
        .unwrap();
    assert_eq!(po["lines"][0]["quantity"], 3);
}

#[tokio::test]
async fn a_change_ahead_no_longer_allows_is_a_clear_rejection() {
    let h = Harness::new().await;
    let map = mapping("purchase_orders.csv.toml");
    push_files(&h, &map, &[fixture(&h, "purchase_orders.csv", |t| t)]).await;
    h.sandbox
        .control()
        .set_order_status("purchase_orders", "PO-10001", "in_production")
        .unwrap();
    let edited = fixture(&h, "purchase_orders.csv", |t| {
        t.replace("SRV-1U-X10,4,", "SRV-1U-X10,5,")
    });
    let report = push_files(&h, &map, &[edited]).await;
    assert_eq!(report.stats.rejected, 1, "{:?}", report.plan);
    let r = &report.rejections[0];
    assert_eq!(r.order.as_deref(), Some("PO-10001"));
    assert!(r.reason.contains("no longer accepts changes"), "{r}");
    assert!(
        r.to_string().contains("purchase_orders.csv:2"),
        "names file and line: {r}"
    );
}

#[tokio::test]
async fn a_post_committed_then_dropped_is_resolved_by_lookup_never_duplicated() {
    let h = Harness::new().await;
    let map = mapping("fulfillment_orders.csv.toml");
    h.sandbox.control().drop_after_commit(2);
    let report = push_files(&h, &map, &[fixture(&h, "fulfillment_orders.csv", |t| t)]).await;
    assert_eq!(report.stats.created, 2, "{:?}", report.plan);
    let c = h.sandbox.control().counters();
    assert_eq!(c.creates_by_number.get("SO-50001"), Some(&1));
    assert_eq!(c.creates_by_number.get("SO-50002"), Some(&1));
    assert!(
        c.requests_to_lookups() >= 2,
        "each lost answer was resolved by a look-up"
    );
    let entry = h
        .store
        .ledger_entry("fulfillment_order", "SO-50001")
        .unwrap()
        .unwrap();
    assert_eq!(entry.state.as_str(), "sent");
    assert!(entry.ahead_id.is_some());
}

#[tokio::test]
async fn many_batches_go_out_once_each_with_answers_lost_along_the_way() {
    let h = Harness::new().await;
    let map = mapping("purchase_orders.csv.toml");
    // Several batches' worth of orders, at concurrency 4, the first answers lost after AHEAD
    // committed them.
    let mut csv = String::from("PO Number,Order Date,Vendor,Ship To Name,Ship To Company,Ship To Address 1,Ship To Address 2,Ship To City,Ship To State,Ship To Zip,Ship To Country,Requested Ship Date,Line,Item,Quantity,Unit Cost,Memo\n");
    for i in 0..700 {
        csv.push_str(&format!("PO-B{i:04},11/02/2026,AHEAD,Dock,Acme,1 Way,,Reno,NV,89501,US,11/20/2026,1,PSU-800W,{},99.00,\n", i % 9 + 1));
    }
    let file = h.dir.path().join("batches.csv");
    std::fs::write(&file, csv).unwrap();
    h.sandbox.control().drop_after_commit(3);
    let report = push_files(&h, &map, std::slice::from_ref(&file)).await;
    assert_eq!(report.stats.created, 700, "{:?}", report.rejections);
    let c = h.sandbox.control().counters();
    assert_eq!(c.creates_by_number.len(), 700);
    assert!(c.creates_by_number.values().all(|n| *n == 1));
    for i in [0, 255, 256, 511, 512, 699] {
        let entry = h
            .store
            .ledger_entry("purchase_order", &format!("PO-B{i:04}"))
            .unwrap()
            .unwrap();
        assert_eq!(entry.state.as_str(), "sent", "PO-B{i:04}");
        assert!(entry.ahead_id.is_some());
    }
    // Sent exactly once: a second push of the file writes nothing.
    let before = writes(&h);
    let again = push_files(&h, &map, &[file]).await;
    assert_eq!(again.stats.unchanged, 700);
    assert_eq!(writes(&h), before);
}

trait Lookups {
    fn requests_to_lookups(&self) -> u64;
}

impl Lookups for ahead_sandbox::Counters {
    fn requests_to_lookups(&self) -> u64 {
        self.requests
            .get("GET /v2/fulfillment_orders")
            .copied()
            .unwrap_or(0)
    }
}

#[tokio::test]
async fn a_ledger_left_sending_by_a_dead_run_adopts_the_order_it_created() {
    let h = Harness::new().await;
    let map = mapping("purchase_orders.x12.toml");
    let path = fixture(&h, "purchase_orders.x12", |t| t);
    // A run committed `sending` and its POST reached AHEAD, then the process died.
    let read = ahead_sync::mapping::read_orders(&map, "x", &std::fs::read(&path).unwrap()).unwrap();
    let order = &read.orders[0];
    h.client()
        .post("/v2/purchase_orders", &order.body)
        .await
        .unwrap();
    let sending = ahead_sync::push::ledger_write(
        OrderKind::PurchaseOrder,
        "purchase_orders.x12",
        order,
        ahead_sync::store::LedgerState::Sending,
        &order.content_hash(),
        None,
        "{}".into(),
    );
    h.store.ledger_put(&sending, 0).unwrap();
    let report = push_files(&h, &map, &[path]).await;
    assert_eq!(report.stats.created, 2);
    let c = h.sandbox.control().counters();
    assert_eq!(
        c.creates_by_number.get("PO-20001"),
        Some(&1),
        "adopted, not sent again"
    );
    assert_eq!(c.creates_by_number.get("PO-20002"), Some(&1));
}

#[tokio::test]
async fn hostile_files_reject_their_bad_rows_and_push_the_rest() {
    let h = Harness::new().await;
    let map = mapping("purchase_orders.csv.toml");
    // BOM, CRLF, a quoted comma in a memo, blank lines, an unknown item, a bad date.
    let path = fixture(&h, "purchase_orders.csv", |t| {
        let mut t = t.replace(
            "Rush build for Q4 refresh",
            "\"Rush, build for Q4 refresh\"",
        );
        t.push_str("\nPO-10003,11/04/2026,AHEAD,Dock,Acme,1 Way,,Reno,NV,89501,US,12/02/2026,1,NO-SUCH-ITEM,1,5.00,\n");
        t.push_str("\nPO-10004,13/45/2026,AHEAD,Dock,Acme,1 Way,,Reno,NV,89501,US,12/02/2026,1,PSU-800W,1,5.00,\n");
        format!("\u{feff}{}", t.replace('\n', "\r\n"))
    });
    let report = push_files(&h, &map, &[path]).await;
    assert_eq!(
        report.stats.created, 2,
        "the good orders went through: {:?}",
        report.plan
    );
    assert_eq!(report.stats.rejected, 2, "{:?}", report.rejections);
    let unknown = report
        .rejections
        .iter()
        .find(|r| r.order.as_deref() == Some("PO-10003"))
        .unwrap();
    assert_eq!(unknown.field.as_deref(), Some("lines[0].item_number"));
    assert_eq!(unknown.line, 8, "{unknown}");
    let bad_date = report
        .rejections
        .iter()
        .find(|r| r.order.as_deref() == Some("PO-10004"))
        .unwrap();
    assert_eq!(bad_date.field.as_deref(), Some("order_date"), "{bad_date}");
    let po = h
        .sandbox
        .control()
        .get_order("purchase_orders", "PO-10001")
        .unwrap();
    assert_eq!(po["notes"], "Rush, build for Q4 refresh");
    // Rejections are in the change log, for status and export.
    let mut logged = 0;
    h.store
        .for_each_change(Some("purchase_orders"), None, None, |c| {
            if c.change == "rejected" {
                logged += 1;
                assert!(c.detail.contains("purchase_orders.csv:"), "{}", c.detail);
            }
            Ok(())
        })
        .unwrap()
        .unwrap();
    assert_eq!(logged, 2);
}

#[tokio::test]
async fn the_binary_pushes_the_inbox_moves_files_and_exits_3_on_rejections() {
    let h = Harness::new().await;
    let inbox = h.dir.path().join("inbox/po");
    std::fs::create_dir_all(&inbox).unwrap();
    let good = std::fs::read_to_string(repo("tests/fixtures/purchase_orders.csv")).unwrap();
    std::fs::write(inbox.join("a-good.csv"), &good).unwrap();
    let bad = good
        .replace("PO-10002", "PO-10009")
        .replace("CBL-PWR-C13", "NOPE-1");
    std::fs::write(inbox.join("b-bad.csv"), bad).unwrap();
    let config = h.write_config(&format!(
        "[push]\nsettle_secs = 0\n[push.purchase_orders]\nmapping = \"{}\"\ninbox = \"inbox/po\"\n",
        repo("mappings/purchase_orders.csv.toml").display()
    ));
    let config = config.to_str().unwrap();
    let out = cmd_async(
        h.dir.path(),
        &["--config", config, "push", "purchase-orders", "--dry-run"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("would create PO-10001"),
        "{}",
        text(&out)
    );
    assert_eq!(
        h.sandbox.control().requests_to("POST /v2/purchase_orders"),
        0,
        "a dry run sends nothing"
    );
    assert!(inbox.join("a-good.csv").exists(), "a dry run moves nothing");

    let out = cmd_async(
        h.dir.path(),
        &["--config", config, "push", "purchase-orders"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(inbox.join("done/a-good.csv").exists());
    assert!(inbox.join("failed/b-bad.csv").exists());
    let errors = std::fs::read_to_string(inbox.join("failed/b-bad.csv.errors.csv")).unwrap();
    assert!(
        errors.contains("PO-10009") && errors.contains("lines[2].item_number"),
        "{errors}"
    );
    assert!(!inbox.join("a-good.csv").exists());
    let c = h.sandbox.control().counters();
    assert_eq!(
        c.creates_by_number.get("PO-10001"),
        Some(&1),
        "in both files, created once"
    );
    assert_eq!(c.creates_by_number.get("PO-10002"), Some(&1));
    assert_eq!(c.creates_by_number.get("PO-10009"), None);

    // Nothing waiting: exit 0; status shows the rejections waiting.
    let out = cmd_async(
        h.dir.path(),
        &["--config", config, "push", "purchase-orders"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cmd_async(
        h.dir.path(),
        &[
            "--config",
            config,
            "export",
            "changes",
            "--stream",
            "purchase_orders",
        ],
    )
    .await;
    assert!(text(&out).contains("rejected"), "{}", text(&out));
}

#[tokio::test]
async fn a_mapping_error_is_reported_before_anything_is_sent() {
    let h = Harness::new().await;
    let bad_map = h.dir.path().join("bad.toml");
    let text_map = std::fs::read_to_string(repo("mappings/purchase_orders.csv.toml"))
        .unwrap()
        .replace(
            "notes = { column = \"Memo\" }",
            "notez = { column = \"Memo\" }",
        );
    std::fs::write(&bad_map, text_map).unwrap();
    let file = fixture(&h, "purchase_orders.csv", |t| t);
    let config = h.write_config("");
    let out = cmd_async(
        h.dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "push",
            "purchase-orders",
            file.to_str().unwrap(),
            "--mapping",
            bad_map.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("notez"), "{}", text(&out));
    assert_eq!(
        h.sandbox.control().requests_to("POST /v2/purchase_orders"),
        0
    );
}

#[tokio::test]
async fn a_push_killed_mid_file_is_finished_by_the_next_run_without_duplicates() {
    let h = Harness::new().await;
    // Fifty orders, sent one at a time, slowly.
    let mut csv = String::from("PO Number,Order Date,Vendor,Ship To Name,Ship To Company,Ship To Address 1,Ship To Address 2,Ship To City,Ship To State,Ship To Zip,Ship To Country,Requested Ship Date,Line,Item,Quantity,Unit Cost,Memo\n");
    for i in 0..50 {
        csv.push_str(&format!("PO-K{i:03},11/02/2026,AHEAD,Dock,Acme,1 Way,,Reno,NV,89501,US,11/20/2026,1,PSU-800W,{},99.00,\n", i + 1));
    }
    let file = h.dir.path().join("many.csv");
    std::fs::write(&file, csv).unwrap();
    let config = h.write_config("concurrency = 1");
    h.sandbox.control().latency(Duration::from_millis(30));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ahead-sync"))
        .current_dir(h.dir.path())
        .args([
            "--config",
            config.to_str().unwrap(),
            "-q",
            "push",
            "purchase-orders",
            file.to_str().unwrap(),
            "--mapping",
        ])
        .arg(repo("mappings/purchase_orders.csv.toml"))
        .spawn()
        .unwrap();
    for _ in 0..4000 {
        if h.sandbox.control().counters().creates_by_number.len() >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    crate::util::kill_while_running(&mut child);
    let partial = h.sandbox.control().counters().creates_by_number.len();
    assert!((10..50).contains(&partial), "{partial}");
    h.sandbox.control().clear_faults();
    let out = cmd_async(
        h.dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "push",
            "purchase-orders",
            file.to_str().unwrap(),
            "--mapping",
            repo("mappings/purchase_orders.csv.toml").to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let c = h.sandbox.control().counters();
    assert_eq!(c.creates_by_number.len(), 50);
    assert!(
        c.creates_by_number.values().all(|n| *n == 1),
        "no order created twice"
    );
    let store = Store::open(&h.dir.path().join("ahead-sync.db")).unwrap();
    assert_eq!(
        store
            .ledger_entry("purchase_order", "PO-K049")
            .unwrap()
            .unwrap()
            .state
            .as_str(),
        "sent"
    );
}

#[tokio::test]
async fn x12_with_other_separators_pushes_the_same_orders() {
    let h = Harness::new().await;
    let map = mapping("purchase_orders.x12.toml");
    // Elements '|', components '^', one segment per line with no terminator character but the
    // newline: the separators come from the ISA header.
    let path = fixture(&h, "purchase_orders.x12", |t| {
        t.replace('*', "|")
            .replace("|>~", "|^\n")
            .replace("~\n", "\n")
            .replace('~', "\n")
    });
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("ISA|00|") && !text.contains('~'), "{text}");
    let report = push_files(&h, &map, &[path]).await;
    assert_eq!(
        (report.stats.created, report.stats.rejected),
        (2, 0),
        "{:?} {:?}",
        report.plan,
        report.rejections
    );
    let po = h
        .sandbox
        .control()
        .get_order("purchase_orders", "PO-20002")
        .unwrap();
    assert_eq!(po["lines"].as_array().unwrap().len(), 2);
    assert_eq!(po["lines"][1]["item_number"], "NIC-25G-2P");
}

#[tokio::test]
async fn orders_dropped_from_a_file_are_cancelled_only_when_the_mapping_asks() {
    let h = Harness::new().await;
    let keep = mapping("fulfillment_orders.csv.toml");
    let text = std::fs::read_to_string(repo("mappings/fulfillment_orders.csv.toml")).unwrap();
    assert!(text.contains("cancel_removed = false"));
    let cancel = Mapping::parse(
        &text.replace("cancel_removed = false", "cancel_removed = true"),
        "cancel",
    )
    .unwrap();
    let full = fixture(&h, "fulfillment_orders.csv", |t| t);
    push_files(&h, &keep, std::slice::from_ref(&full)).await;
    // The same file again without SO-50002.
    let without = fixture(&h, "fulfillment_orders.csv", |t| {
        t.lines()
            .filter(|l| !l.starts_with("SO-50002"))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    });
    push_files(&h, &keep, std::slice::from_ref(&without)).await;
    assert_eq!(
        h.sandbox
            .control()
            .get_order("fulfillment_orders", "SO-50002")
            .unwrap()["status"],
        "received"
    );
    let report = push_files(&h, &cancel, &[without]).await;
    assert_eq!(report.cancelled, 1);
    assert_eq!(
        h.sandbox
            .control()
            .get_order("fulfillment_orders", "SO-50002")
            .unwrap()["status"],
        "cancelled"
    );
    assert_eq!(
        h.sandbox
            .control()
            .get_order("fulfillment_orders", "SO-50001")
            .unwrap()["status"],
        "received"
    );
    assert_eq!(
        h.store
            .ledger_entry("fulfillment_order", "SO-50002")
            .unwrap()
            .unwrap()
            .state
            .as_str(),
        "cancelled"
    );
}

const PO_HEADER: &str = "PO Number,Order Date,Vendor,Ship To Name,Ship To Company,Ship To Address 1,Ship To Address 2,Ship To City,Ship To State,Ship To Zip,Ship To Country,Requested Ship Date,Line,Item,Quantity,Unit Cost,Memo\n";

/// A CSV being written, counting its physical lines (the header is line 1).
struct CsvFile {
    text: String,
    lines: usize,
}

impl CsvFile {
    fn new() -> Self {
        CsvFile {
            text: PO_HEADER.to_string(),
            lines: 1,
        }
    }

    /// Append one row; returns its line.
    fn row(
        &mut self,
        po: &str,
        date: &str,
        city: &str,
        line: usize,
        item: &str,
        qty: &str,
    ) -> usize {
        self.text.push_str(&format!(
            "{po},{date},AHEAD,Dock,Acme,1 Way,,{city},NV,89501,US,11/20/2026,{line},{item},{qty},\"1,099.00\",\n"
        ));
        self.lines += 1;
        self.lines
    }
}

/// 1,000 orders of three rows each, every order's rows far apart (a block of first rows, then
/// of second rows, then of third rows), with 300 orders of adjacent rows between the blocks,
/// and four bad rows. Returns the file and the rejections it must give: (order, line, field).
fn interleaved() -> (String, Vec<(String, usize, String)>) {
    let mut f = CsvFile::new();
    let mut bad = Vec::new();
    let items = ["PSU-800W", "SRV-1U-X10", "RAIL-KIT-1U"];
    let adjacent = |f: &mut CsvFile, range: std::ops::Range<usize>, bad: &mut Vec<_>| {
        for a in range {
            let po = format!("PO-A{a:04}");
            let date = if a == 5 { "13/45/2026" } else { "11/02/2026" };
            let first = f.row(&po, date, "Reno", 1, "PSU-800W", "1");
            f.row(&po, "", "", 2, "RAIL-KIT-1U", "2");
            if a == 5 {
                bad.push((po, first, "order_date".to_string()));
            }
        }
    };
    for line in 1..=3 {
        for s in 0..1000 {
            let po = format!("PO-S{s:04}");
            let (mut city, mut item, mut qty) = ("Reno", items[line - 1], (s % 7 + 1).to_string());
            if s == 7 && line == 3 {
                city = "Elsewhere";
            }
            if s == 11 && line == 2 {
                qty = "x".to_string();
            }
            if s == 13 && line == 3 {
                item = "NO-SUCH-ITEM";
            }
            let at = f.row(&po, "11/02/2026", city, line, item, &qty);
            match (s, line) {
                (7, 3) => bad.push((po, at, "ship_to.city".to_string())),
                (11, 2) => bad.push((po, at, "lines[].quantity".to_string())),
                (13, 3) => bad.push((po, at, "lines[2].item_number".to_string())),
                _ => {}
            }
        }
        adjacent(&mut f, (line - 1) * 100..line * 100, &mut bad);
    }
    bad.sort_by_key(|(_, line, _)| *line);
    (f.text, bad)
}

#[tokio::test]
async fn orders_whose_rows_are_spread_through_a_large_file_go_out_whole_and_once() {
    let h = Harness::new().await;
    let map = mapping("purchase_orders.csv.toml");
    let (text, bad) = interleaved();
    let file = h.dir.path().join("spread.csv");
    std::fs::write(&file, text).unwrap();
    let said = |p: &Pushed| {
        p.rejections
            .iter()
            .map(|r| {
                (
                    r.order.clone().unwrap_or_default(),
                    r.line,
                    r.field.clone().unwrap_or_default(),
                )
            })
            .collect::<Vec<_>>()
    };

    // A dry run plans every order and every rejection, and sends nothing.
    let mut dry = Collected::default();
    let report = push_with(&h, &map, std::slice::from_ref(&file), true, &mut dry).await;
    assert_eq!(report.stats.created, 1296, "{:?}", dry.rejections);
    assert_eq!(
        dry.plan
            .iter()
            .filter(|l| l.starts_with("would create"))
            .count(),
        1296
    );
    assert_eq!(
        dry.plan
            .iter()
            .filter(|l| l.starts_with("would reject"))
            .count(),
        4
    );
    assert_eq!(
        h.sandbox.control().requests_to("POST /v2/purchase_orders"),
        0
    );

    let pushed = push_files(&h, &map, std::slice::from_ref(&file)).await;
    assert_eq!(pushed.stats.created, 1296, "{:?}", pushed.rejections);
    assert_eq!(said(&pushed), bad, "the same rejections, in line order");
    // 1,300 orders went through the reader, never more than a batch of them at once.
    assert!(
        (1..=257).contains(&pushed.report.orders_held_peak),
        "{}",
        pushed.report.orders_held_peak
    );
    let c = h.sandbox.control().counters();
    assert_eq!(c.creates_by_number.len(), 1296);
    assert!(c.creates_by_number.values().all(|n| *n == 1));
    for (s, quantities) in [(0, [1, 1, 1]), (999, [6, 6, 6]), (500, [4, 4, 4])] {
        let po = h
            .sandbox
            .control()
            .get_order("purchase_orders", &format!("PO-S{s:04}"))
            .unwrap();
        let lines = po["lines"].as_array().unwrap();
        let got: Vec<i64> = lines
            .iter()
            .map(|l| l["quantity"].as_i64().unwrap())
            .collect();
        assert_eq!(got, quantities, "PO-S{s:04}: {po:?}");
        assert_eq!(lines[2]["item_number"], "RAIL-KIT-1U");
    }
    for held_back in ["PO-S0007", "PO-S0011", "PO-S0013", "PO-A0005"] {
        assert_eq!(c.creates_by_number.get(held_back), None, "{held_back}");
    }

    let before = writes(&h);
    let again = push_files(&h, &map, &[file]).await;
    assert_eq!(again.stats.unchanged, 1296);
    assert_eq!(said(&again), bad);
    assert_eq!(writes(&h), before, "a re-push writes nothing");
}

#[tokio::test]
async fn under_fail_file_a_bad_row_anywhere_sends_nothing_and_the_first_bad_row_is_named() {
    let h = Harness::new().await;
    let text = std::fs::read_to_string(repo("mappings/purchase_orders.csv.toml")).unwrap();
    assert!(text.contains("on_error = \"skip-row\""));
    let strict = Mapping::parse(
        &text.replace("on_error = \"skip-row\"", "on_error = \"fail-file\""),
        "strict",
    )
    .unwrap();
    // 600 orders of two rows far apart, then 600 of adjacent rows. The first bad row is a
    // second row of a spread order; a later bad row is in an adjacent order near the end,
    // which the reader meets first (the spread rows are grouped after the others).
    let mut f = CsvFile::new();
    let mut first_bad = 0;
    for line in 1..=2 {
        for s in 0..600 {
            let qty = if (s, line) == (300, 2) { "x" } else { "1" };
            let at = f.row(
                &format!("PO-F{s:04}"),
                "11/02/2026",
                "Reno",
                line,
                "PSU-800W",
                qty,
            );
            if qty == "x" {
                first_bad = at;
            }
        }
    }
    for a in 0..600 {
        let date = if a == 590 { "13/45/2026" } else { "11/02/2026" };
        let po = format!("PO-G{a:04}");
        f.row(&po, date, "Reno", 1, "PSU-800W", "1");
        f.row(&po, "", "", 2, "RAIL-KIT-1U", "1");
    }
    let file = h.dir.path().join("strict.csv");
    std::fs::write(&file, &f.text).unwrap();
    let pushed = push_files(&h, &strict, std::slice::from_ref(&file)).await;
    assert_eq!(
        h.sandbox.control().requests_to("POST /v2/purchase_orders"),
        0,
        "{:?}",
        pushed.plan
    );
    assert_eq!(
        (pushed.stats.created, pushed.stats.rejected),
        (0, 1),
        "{:?}",
        pushed.rejections
    );
    let r = &pushed.rejections[0];
    assert_eq!(
        (r.line, r.field.as_deref()),
        (first_bad, Some("lines[].quantity")),
        "{r}"
    );
    assert_eq!(r.order.as_deref(), Some("PO-F0300"));

    // Without the bad rows, every order goes.
    let good = f
        .text
        .replace(",2,PSU-800W,x,", ",2,PSU-800W,1,")
        .replace("13/45/2026", "11/02/2026");
    std::fs::write(&file, good).unwrap();
    let pushed = push_files(&h, &strict, &[file]).await;
    assert_eq!(
        (pushed.stats.created, pushed.stats.rejected),
        (1200, 0),
        "{:?}",
        pushed.rejections
    );
}

#[tokio::test]
async fn a_large_x12_file_streams_one_transaction_set_at_a_time() {
    let h = Harness::new().await;
    let map = mapping("purchase_orders.x12.toml");
    let mut x = String::from("ISA*00*          *00*          *ZZ*ACMECORP       *ZZ*AHEADSYS       *261102*1200*U*00401*000000101*0*P*>~\nGS*PO*ACMECORP*AHEADSYS*20261102*1200*101*X*004010~\n");
    for i in 0..700 {
        x.push_str(&format!(
            "ST*850*{i:04}~\nBEG*00*SA*PO-X{i:05}**20261102~\nDTM*010*20261120~\nN1*ST*Receiving Dock~\nN3*100 Main St*Suite 200~\nN4*Minneapolis*MN*55401*US~\nPO1*1*{}*EA*2150.00**VP*SRV-1U-X10~\nPO1*2*4*EA*45.50**VP*RAIL-KIT-1U~\nCTT*2~\nSE*10*{i:04}~\n",
            i % 5 + 1
        ));
    }
    x.push_str("GE*700*101~\nIEA*1*000000101~\n");
    let file = h.dir.path().join("big.x12");
    std::fs::write(&file, &x).unwrap();
    let pushed = push_files(&h, &map, std::slice::from_ref(&file)).await;
    assert_eq!(
        (pushed.stats.created, pushed.stats.rejected),
        (700, 0),
        "{:?}",
        pushed.rejections
    );
    assert!(
        (1..=257).contains(&pushed.report.orders_held_peak),
        "{}",
        pushed.report.orders_held_peak
    );
    let po = h
        .sandbox
        .control()
        .get_order("purchase_orders", "PO-X00699")
        .unwrap();
    assert_eq!(po["lines"][0]["quantity"], 5);

    // The same file without its IEA is rejected whole before any order is sent.
    let cut = h.dir.path().join("cut.x12");
    std::fs::write(
        &cut,
        x.replace("PO-X", "PO-Y").replace("IEA*1*000000101~\n", ""),
    )
    .unwrap();
    let posts = h.sandbox.control().requests_to("POST /v2/purchase_orders");
    let pushed = push_files(&h, &map, &[cut]).await;
    assert_eq!(
        h.sandbox.control().requests_to("POST /v2/purchase_orders"),
        posts
    );
    assert_eq!(pushed.stats.rejected, 1);
    assert!(
        pushed.rejections[0].reason.contains("no IEA"),
        "{:?}",
        pushed.rejections
    );
}
