//! The edges where outside data meets the product's surface: log lines, files holding secrets,
//! a closed pipe, the spellings of stream names, an answer too large to read.

use std::path::{Path, PathBuf};

use crate::util::{cmd_async, text, Harness};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A config whose purchase-order inbox is `inbox/po`, taken at once.
fn inbox_config(h: &Harness) -> String {
    let config = h.write_config(&format!(
        "[push]\nsettle_secs = 0\n[push.purchase_orders]\nmapping = \"{}\"\ninbox = \"inbox/po\"\n",
        repo("mappings/purchase_orders.csv.toml").display()
    ));
    config.to_str().unwrap().to_string()
}

/// A file name is data: a newline in it must not start a log line of its own.
#[tokio::test]
async fn a_newline_in_an_inbox_file_name_cannot_forge_a_log_line() {
    let h = Harness::new().await;
    let config = inbox_config(&h);
    let inbox = h.dir.path().join("inbox/po");
    std::fs::create_dir_all(&inbox).unwrap();
    let name = "po 1.csv\nFORGED ERROR the ledger was wiped.csv";
    std::fs::copy(repo("tests/fixtures/purchase_orders.csv"), inbox.join(name)).unwrap();
    let out = cmd_async(
        h.dir.path(),
        &["--config", &config, "push", "purchase-orders"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr
            .lines()
            .any(|line| line.trim_start().starts_with("FORGED")),
        "{stderr}"
    );
    let settled = stderr
        .lines()
        .find(|line| line.contains("Inbox file settled."))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        settled.contains(" file=\"") && settled.contains("po 1.csv\\nFORGED ERROR"),
        "the name is one quoted value, its newline escaped: {settled}"
    );
    assert!(inbox.join("done").join(name).exists());
}

/// A value with a space is quoted, so the field after it is not misread.
#[tokio::test]
async fn a_log_value_with_a_space_is_quoted() {
    let h = Harness::new().await;
    let config = h.write_config("");
    let out = cmd_async(
        h.dir.path(),
        &["--config", config.to_str().unwrap(), "pull", "invoices"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(" mode=\"outstanding set\" "), "{stderr}");
    assert!(
        stderr.contains(" drift=none "),
        "plain values stay bare: {stderr}"
    );
}
