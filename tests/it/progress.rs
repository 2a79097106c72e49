//! Progress bars on a terminal: the binary is run on a pseudo-terminal (`script`, from
//! util-linux) and what it drew is read back. Skipped where `script` is not installed.

use std::path::Path;
use std::process::Command;

fn on_a_terminal(dir: &Path, args: &str) -> Option<String> {
    let present = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        eprintln!("script (util-linux) is not installed: progress bars are not checked");
        return None;
    }
    let line = format!("{} {args}", env!("CARGO_BIN_EXE_ahead-sync"));
    let mut command = Command::new("script");
    command
        .current_dir(dir)
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .env("TERM", "xterm")
        .env("COLUMNS", "120");
    for (key, _) in std::env::vars() {
        if key.starts_with("AHEAD_SYNC") {
            command.env_remove(key);
        }
    }
    let out = command.output().unwrap();
    let drawn = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{drawn}");
    Some(drawn)
}

const HEADER: &str = "PO Number,Order Date,Vendor,Ship To Name,Ship To Company,Ship To Address 1,\
Ship To Address 2,Ship To City,Ship To State,Ship To Zip,Ship To Country,Requested Ship Date,Line,\
Item,Quantity,Unit Cost,Memo\n";

#[test]
fn a_push_draws_its_bar_of_orders_and_leaves_none_behind() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let out = crate::util::cmd(work, &["init"]);
    assert!(out.status.success());
    let mut csv = HEADER.to_string();
    for i in 0..40 {
        csv.push_str(&format!(
            "PO-9{i:04},11/02/2026,AHEAD,Dock,Acme,1 Main St,,Minneapolis,MN,55401,US,11/20/2026,1,SRV-1U-X10,1,10.00,\n"
        ));
    }
    let file = work.join("inbox/purchase_orders/many.csv");
    std::fs::write(&file, csv).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
        .unwrap();
    let Some(drawn) = on_a_terminal(work, "push purchase-orders") else {
        return;
    };
    // Files are read in name order: many.csv (40 orders) first, then init's sample (2 more).
    // The bar is drawn at most 20 times a second, so not every count shows.
    assert!(drawn.contains("push purchase_orders ["), "{drawn}");
    assert!(drawn.contains("0/40 orders"), "{drawn}");
    // Rates in whole numbers, an ETA.
    let rates: Vec<&str> = drawn
        .split("orders  ")
        .skip(1)
        .map(|rest| rest.split_whitespace().next().unwrap())
        .collect();
    assert!(!rates.is_empty());
    for rate in rates {
        let number = rate.strip_suffix("/s").unwrap_or_else(|| panic!("{rate}"));
        assert!(number.parse::<u64>().is_ok(), "{rate}");
    }
    assert!(drawn.contains("eta "), "{drawn}");
    // The bar was cleared: after its last drawing comes the erase of its line, and the log
    // lines are never written into it.
    let last = drawn.rfind("push purchase_orders [").unwrap();
    assert!(drawn[last..].contains("\u{1b}[2K"), "{:?}", &drawn[last..]);
    for line in drawn.split(['\r', '\n']) {
        let bar = line.find("push purchase_orders [");
        let log = line.find(" INFO ");
        assert!(
            bar.is_none() || log.is_none(),
            "a log line inside the bar: {line:?}"
        );
    }
}

#[test]
fn a_sync_leaves_no_empty_bar() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    assert!(crate::util::cmd(work, &["init"]).status.success());
    let Some(drawn) = on_a_terminal(work, "sync") else {
        return;
    };
    assert!(drawn.contains("Sync finished."), "{drawn}");
    assert!(drawn.contains("pull inventory ["), "{drawn}");
    assert!(!drawn.contains(" 0/0 "), "{drawn}");
}

#[test]
fn an_outbox_draws_its_bar_of_changes_and_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    assert!(crate::util::cmd(work, &["init"]).status.success());
    // Pull first (no terminal), so that the outboxes init configured have changes waiting.
    let out = crate::util::cmd(work, &["pull", "inventory"]);
    assert!(out.status.success(), "{}", crate::util::text(&out));
    let Some(drawn) = on_a_terminal(work, "outbox inventory_csv") else {
        return;
    };
    assert!(drawn.contains("outbox inventory_csv ["), "{drawn}");
    assert!(drawn.contains(" changes  "), "{drawn}");
    assert!(!drawn.contains(" 0/0 "), "{drawn}");
    let last = drawn.rfind("outbox inventory_csv [").unwrap();
    assert!(drawn[last..].contains("\u{1b}[2K"), "{:?}", &drawn[last..]);
}
