//! Outboxes through the binary: every change the pulls record reaches the ERP's folder in
//! exactly one file, X12 interchanges pass an independent strict check, CSV parses back to the
//! changes delivered, and neither bad input nor a killed run leaves a gap or a second file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ahead_sync::store::{ExportRow, Store};
use serde_json::Value;

use crate::util::{cmd_async, text, Harness};
use crate::x12check;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// An `[outbox.NAME]` section using a shipped mapping (`mappings/outbox/FILE`).
fn section(name: &str, stream: &str, mapping: &str, extra: &str) -> String {
    format!(
        "[outbox.{name}]\nstream = \"{stream}\"\nmapping = \"{}\"\ndir = \"out/{name}\"\n{extra}\n",
        repo(&format!("mappings/outbox/{mapping}")).display()
    )
}

async fn run(h: &Harness, config: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    cmd_async(h.dir.path(), &all).await
}

fn store(h: &Harness) -> Store {
    Store::open(&h.dir.path().join("ahead-sync.db")).unwrap()
}

/// The files an outbox folder shows, by name (sorted), with their bytes. Nothing half-written
/// may be there: no `.partial` is left once a run has finished.
fn files(h: &Harness, outbox: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = h.dir.path().join("out").join(outbox);
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return out;
    };
    for e in entries {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        assert!(
            !name.starts_with('.'),
            "left behind in {}: {name}",
            dir.display()
        );
        out.insert(name, std::fs::read(e.path()).unwrap());
    }
    out
}

/// `NAME-000000001-000000250.ext` -> (1, 250).
fn range(file: &str) -> (i64, i64) {
    let stem = file.rsplit_once('.').unwrap().0;
    let mut parts = stem.rsplitn(3, '-');
    let last = parts.next().unwrap().parse().unwrap();
    let first = parts.next().unwrap().parse().unwrap();
    (first, last)
}

/// The changes of a stream an outbox carries by default, by seq.
fn deliverable(store: &Store, stream: &str) -> BTreeMap<i64, ExportRow> {
    let mut out = BTreeMap::new();
    store
        .for_each_change(Some(stream), None, None, |row| {
            if ["created", "updated", "closed"].contains(&row.change.as_str()) {
                out.insert(row.seq, row);
            }
            Ok(())
        })
        .unwrap()
        .unwrap();
    out
}

fn mirror(store: &Store, stream: &str) -> HashMap<i64, Value> {
    let mut out = HashMap::new();
    store
        .for_each_snapshot(stream, |id, _, body| {
            out.insert(id, serde_json::from_str(body).unwrap());
            Ok(())
        })
        .unwrap()
        .unwrap();
    out
}

/// Files' ranges are in order and never overlap; every seq named by `seqs_of` lies in its
/// file's range, appears once over all files, and together they are exactly `want`.
fn assert_exactly_once(
    files: &BTreeMap<String, Vec<u8>>,
    want: &BTreeMap<i64, ExportRow>,
    mut seqs_of: impl FnMut(&str, &[u8]) -> Vec<i64>,
) {
    let mut ranges: Vec<(i64, i64, &String)> = files
        .keys()
        .map(|f| {
            let (a, b) = range(f);
            (a, b, f)
        })
        .collect();
    ranges.sort();
    for pair in ranges.windows(2) {
        assert!(
            pair[0].1 < pair[1].0,
            "{} overlaps {}",
            pair[0].2,
            pair[1].2
        );
    }
    let mut seen = BTreeMap::new();
    for (first, last, name) in &ranges {
        let seqs = seqs_of(name, &files[*name]);
        assert!(
            seqs.contains(first) && seqs.contains(last),
            "{name}: {seqs:?}"
        );
        for s in seqs {
            assert!((*first..=*last).contains(&s), "{name} holds change {s}");
            assert!(
                seen.insert(s, (*name).clone()).is_none(),
                "change {s} is in two files"
            );
        }
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the files carry exactly the changes"
    );
}

/// The shipments CSV rows by change seq, each compared with the mirror's record.
fn check_shipments_csv(
    files: &BTreeMap<String, Vec<u8>>,
    changes: &BTreeMap<i64, ExportRow>,
    mirror: &HashMap<i64, Value>,
    checked: &BTreeMap<String, Vec<u8>>,
) {
    assert_exactly_once(files, changes, |name, bytes| {
        let mut reader = csv::Reader::from_reader(bytes);
        let header = reader.headers().unwrap().clone();
        assert_eq!(&header[0], "Change", "{name}");
        let mut by_seq: BTreeMap<i64, Vec<csv::StringRecord>> = BTreeMap::new();
        for row in reader.records() {
            let row = row.unwrap();
            by_seq.entry(row[0].parse().unwrap()).or_default().push(row);
        }
        for (seq, rows) in &by_seq {
            if checked.contains_key(name) {
                // Compared with the mirror as it was when it was written.
                break;
            }
            let change = &changes[seq];
            let record = &mirror[&change.record_id.unwrap()];
            assert_eq!(&rows[0][1], change.change.as_str());
            let lines = record["lines"].as_array().unwrap();
            assert_eq!(
                rows.len(),
                lines.len().max(1),
                "change {seq}: a row per line"
            );
            for (row, line) in rows.iter().zip(lines) {
                assert_eq!(&row[2], record["tracking_number"].as_str().unwrap());
                assert_eq!(&row[3], record["carrier"].as_str().unwrap());
                let number = record["purchase_order_number"]
                    .as_str()
                    .or(record["order_number"].as_str())
                    .unwrap();
                assert_eq!(&row[5], number);
                assert_eq!(&row[6], record["shipped_at"].as_str().unwrap());
                let shipped = &record["shipped_at"].as_str().unwrap()[..10];
                let (y, m, d) = (&shipped[..4], &shipped[5..7], &shipped[8..10]);
                assert_eq!(&row[7], format!("{m}/{d}/{y}"));
                assert_eq!(&row[10], line["item_number"].as_str().unwrap());
                assert_eq!(row[11], line["quantity"].to_string());
                let serials: Vec<&str> = line["serial_numbers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap())
                    .collect();
                assert_eq!(&row[12], serials.join(";"));
            }
        }
        by_seq.into_keys().collect()
    });
}

/// Every 856 passes the strict check, control numbers are never reused across files, and each
/// set says what the mirror holds for its shipment. Sets map to changes by their ranges: a
/// file's sets are its range's changes, in order.
fn check_856(
    files: &BTreeMap<String, Vec<u8>>,
    changes: &BTreeMap<i64, ExportRow>,
    mirror: &HashMap<i64, Value>,
    checked: &BTreeMap<String, Vec<u8>>,
) {
    let mut interchanges = Vec::new();
    let mut set_controls = std::collections::HashSet::new();
    assert_exactly_once(files, changes, |name, bytes| {
        let i = x12check::check(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((i.functional_id.as_str(), i.usage.as_str()), ("SH", "P"));
        assert_eq!(i.version, "004010");
        assert_eq!(i.sender, ("ZZ".into(), "AHEADSYS".into()));
        assert_eq!(i.receiver, ("ZZ".into(), "ACMECORP".into()));
        assert_eq!(
            i.group_control.parse::<i64>().unwrap(),
            i.isa_control.parse::<i64>().unwrap()
        );
        interchanges.push(i.isa_control.clone());
        let (first, last) = range(name);
        let mine: Vec<&ExportRow> = changes.range(first..=last).map(|(_, c)| c).collect();
        assert_eq!(i.sets.len(), mine.len(), "{name}: one set per change");
        for (set, change) in i.sets.iter().zip(&mine) {
            assert!(
                set_controls.insert(set.control.clone()),
                "ST02 {} reused",
                set.control
            );
            assert_eq!(set.id, "856");
            if checked.contains_key(name) {
                // Compared with the mirror as it was when it was written.
                continue;
            }
            let record = &mirror[&change.record_id.unwrap()];
            let bsn = set.first("BSN").unwrap();
            assert_eq!(bsn[1], "00");
            assert_eq!(bsn[2], record["tracking_number"].as_str().unwrap());
            let shipped = record["shipped_at"].as_str().unwrap();
            assert_eq!(bsn[3], shipped[..10].replace('-', ""));
            assert_eq!(bsn[4], shipped[11..16].replace(':', ""));
            let carrier = match record["carrier"].as_str().unwrap() {
                "UPS" => "UPSN",
                "FedEx" => "FDEG",
                "DHL" => "DHLC",
                other => panic!("carrier {other}"),
            };
            assert_eq!(set.first("TD5").unwrap()[3], carrier);
            assert_eq!(
                set.first("REF").unwrap()[1..],
                ["CN".to_string(), bsn[2].clone()]
            );
            let number = record["purchase_order_number"]
                .as_str()
                .or(record["order_number"].as_str())
                .unwrap();
            assert_eq!(set.first("PRF").unwrap()[1], number);
            let dtms = set.all("DTM");
            assert_eq!(dtms[0][1..3], ["011".to_string(), bsn[3].clone()]);
            assert_eq!(
                dtms.len(),
                if record["delivered_at"].is_null() {
                    1
                } else {
                    2
                }
            );
            // The hierarchy: S, then O under it, then an I under the O for each line.
            let lines = record["lines"].as_array().unwrap();
            let hls = set.all("HL");
            assert_eq!(hls.len(), 2 + lines.len());
            assert_eq!(hls[0][3], "S");
            assert_eq!((hls[1][2].as_str(), hls[1][3].as_str()), ("1", "O"));
            let lins = set.all("LIN");
            let sn1s = set.all("SN1");
            assert_eq!((lins.len(), sn1s.len()), (lines.len(), lines.len()));
            let mut total = 0;
            for (k, line) in lines.iter().enumerate() {
                assert_eq!((hls[2 + k][2].as_str(), hls[2 + k][3].as_str()), ("2", "I"));
                assert_eq!(lins[k][3], line["item_number"].as_str().unwrap());
                assert_eq!(sn1s[k][2], line["quantity"].to_string());
                total += line["quantity"].as_i64().unwrap();
            }
            let ctt = set.first("CTT").unwrap();
            assert_eq!(ctt[1], hls.len().to_string());
            if lines.is_empty() {
                assert_eq!(ctt.len(), 3, "{ctt:?}");
            }
            assert_eq!(ctt[2], total.to_string());
        }
        mine.iter().map(|c| c.seq).collect()
    });
    let mut sorted = interchanges.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), interchanges.len(), "ISA13 reused");
}

#[tokio::test]
async fn sync_delivers_every_change_once_and_a_rerun_writes_nothing() {
    let h = Harness::new().await;
    let config = h.write_config(&format!(
        "{}{}",
        section(
            "ship_csv",
            "shipments",
            "shipments.csv.toml",
            "max_changes_per_file = 7"
        ),
        section(
            "ship_856",
            "shipments",
            "shipments.x12-856.toml",
            "max_changes_per_file = 5"
        ),
    ));
    let out = run(&h, &config, &["sync"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Outbox done. job=sync outbox=ship_856 exit=0"),
        "{}",
        text(&out)
    );
    let s = store(&h);
    let changes = deliverable(&s, "shipments");
    assert!(
        changes.len() > 10,
        "the seeded world has shipments: {}",
        changes.len()
    );
    let csv_files = files(&h, "ship_csv");
    let x12_files = files(&h, "ship_856");
    assert_eq!(csv_files.len(), changes.len().div_ceil(7));
    assert_eq!(x12_files.len(), changes.len().div_ceil(5));
    check_shipments_csv(
        &csv_files,
        &changes,
        &mirror(&s, "shipments"),
        &BTreeMap::new(),
    );
    check_856(
        &x12_files,
        &changes,
        &mirror(&s, "shipments"),
        &BTreeMap::new(),
    );

    // Nothing new: nothing written.
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(files(&h, "ship_csv"), csv_files);
    assert_eq!(files(&h, "ship_856"), x12_files);

    // A day of activity: the next sync delivers exactly the new changes, in new files.
    h.sandbox.control().simulate(Duration::from_secs(86_400));
    let out = run(&h, &config, &["sync"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let changes = deliverable(&s, "shipments");
    let csv_now = files(&h, "ship_csv");
    let x12_now = files(&h, "ship_856");
    assert!(csv_now.len() > csv_files.len(), "new shipments, new files");
    for (name, bytes) in &csv_files {
        assert_eq!(&csv_now[name], bytes, "{name} untouched");
    }
    check_shipments_csv(&csv_now, &changes, &mirror(&s, "shipments"), &csv_files);
    check_856(&x12_now, &changes, &mirror(&s, "shipments"), &x12_files);

    let status = run(&h, &config, &["status", "--json"]).await;
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let ob = status["outboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["outbox"] == "ship_856")
        .unwrap()
        .clone();
    assert_eq!(ob["pending"], 0);
    assert_eq!(ob["cursor"], *changes.keys().last().unwrap());
    assert_eq!(ob["files"], x12_now.len());
    assert_eq!(ob["changes_delivered"], changes.len());
    assert!(status["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j["job"] == "outbox ship_csv" && j["last_run"]["outcome"] == "ok"));
}

/// Every `mappings/outbox/` file as an outbox of its stream.
fn every_shipped_outbox() -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(repo("mappings/outbox")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let stem = name.trim_end_matches(".toml");
        let stream = stem.split('.').next().unwrap();
        out.push_str(&section(
            &stem.replace(['.', '-'], "_"),
            stream,
            &name,
            "max_changes_per_file = 9",
        ));
    }
    out
}

/// The X12 sets of an outbox (one per change), each with the change it carries.
fn sets_per_change<'a>(
    files: &BTreeMap<String, Vec<u8>>,
    changes: &'a BTreeMap<i64, ExportRow>,
    functional_id: &str,
) -> Vec<(&'a ExportRow, x12check::Set)> {
    let mut out = Vec::new();
    assert_exactly_once(files, changes, |name, bytes| {
        let i = x12check::check(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(i.functional_id, functional_id, "{name}");
        let (first, last) = range(name);
        let mine: Vec<&ExportRow> = changes.range(first..=last).map(|(_, c)| c).collect();
        assert_eq!(i.sets.len(), mine.len(), "{name}: one set per change");
        out.extend(mine.iter().copied().zip(i.sets));
        changes.range(first..=last).map(|(s, _)| *s).collect()
    });
    out
}

fn ymd(date: &Value) -> String {
    date.as_str().unwrap()[..10].replace('-', "")
}

/// Money as exact text with two places: `"6.4900"` -> `"6.49"`, `"12"` -> `"12.00"`.
fn cents(money: &Value) -> String {
    let d: rust_decimal::Decimal = money.as_str().unwrap().parse().unwrap();
    let mut d = d.normalize();
    d.rescale(2);
    d.to_string()
}

#[tokio::test]
async fn every_shipped_mapping_writes_what_the_mirror_holds() {
    let h = Harness::new().await;
    let config = h.write_config(&every_shipped_outbox());
    let out = run(&h, &config, &["sync"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = store(&h);

    // 855: one acknowledgment per purchase order change.
    let changes = deliverable(&s, "purchase_orders");
    let pos = mirror(&s, "purchase_orders");
    let sets = sets_per_change(&files(&h, "purchase_orders_x12_855"), &changes, "PR");
    assert!(!sets.is_empty());
    for (change, set) in &sets {
        let po = &pos[&change.record_id.unwrap()];
        let bak = set.first("BAK").unwrap();
        let ack_type = if po["status"] == "cancelled" {
            "RJ"
        } else {
            "AD"
        };
        assert_eq!(
            bak[1..5],
            [
                "00",
                ack_type,
                po["po_number"].as_str().unwrap(),
                &ymd(&po["order_date"])
            ]
        );
        assert_eq!(set.first("REF").unwrap()[2], po["status"].as_str().unwrap());
        let anticipated: Vec<_> = set
            .all("DTM")
            .into_iter()
            .filter(|d| d[1] == "068")
            .collect();
        let lines = po["lines"].as_array().unwrap();
        match po["anticipated_ship_date"].as_str() {
            // Once for the order and once for each line.
            Some(_) => {
                assert_eq!(anticipated.len(), 1 + lines.len());
                assert!(anticipated
                    .iter()
                    .all(|d| d[2] == ymd(&po["anticipated_ship_date"])));
            }
            None => assert!(anticipated.is_empty()),
        }
        let po1s = set.all("PO1");
        let acks = set.all("ACK");
        assert_eq!((po1s.len(), acks.len()), (lines.len(), lines.len()));
        for ((po1, ack), line) in po1s.iter().zip(&acks).zip(lines) {
            assert_eq!(po1[1], line["line_number"].to_string());
            assert_eq!(po1[2], line["quantity"].to_string());
            assert_eq!(po1[4], cents(&line["unit_price"]));
            assert_eq!(po1[7], line["item_number"].as_str().unwrap());
            assert_eq!(
                ack[1],
                if po["status"] == "cancelled" {
                    "IR"
                } else {
                    "IA"
                }
            );
            assert_eq!(ack[2], line["quantity"].to_string());
        }
        assert_eq!(set.first("CTT").unwrap()[1], lines.len().to_string());
    }

    // 945: one shipping advice per fulfillment order change.
    let changes = deliverable(&s, "fulfillment_orders");
    let fos = mirror(&s, "fulfillment_orders");
    let sets = sets_per_change(&files(&h, "fulfillment_orders_x12_945"), &changes, "SW");
    assert!(!sets.is_empty());
    for (change, set) in &sets {
        let fo = &fos[&change.record_id.unwrap()];
        let w06 = set.first("W06").unwrap();
        assert_eq!(w06[2], fo["order_number"].as_str().unwrap());
        let date = fo["anticipated_ship_date"].as_str().map_or_else(
            || ymd(&fo["updated_at"]),
            |_| ymd(&fo["anticipated_ship_date"]),
        );
        assert_eq!(w06[3], date);
        assert_eq!(set.first("N9").unwrap()[2], fo["status"].as_str().unwrap());
        let lines = fo["lines"].as_array().unwrap();
        let w12s = set.all("W12");
        assert_eq!(w12s.len(), lines.len());
        let mut total = 0;
        for (w12, line) in w12s.iter().zip(lines) {
            assert_eq!(w12[8], line["item_number"].as_str().unwrap());
            assert_eq!(w12[3], line["quantity"].to_string());
            total += line["quantity"].as_i64().unwrap();
        }
        assert_eq!(set.first("W03").unwrap()[1], total.to_string());
    }

    // 810: one invoice per invoice change; money exact.
    let changes = deliverable(&s, "invoices");
    let invoices = mirror(&s, "invoices");
    let sets = sets_per_change(&files(&h, "invoices_x12_810"), &changes, "IN");
    assert!(!sets.is_empty());
    for (change, set) in &sets {
        let inv = &invoices[&change.record_id.unwrap()];
        let big = set.first("BIG").unwrap();
        assert_eq!(big[1], ymd(&inv["invoice_date"]));
        assert_eq!(big[2], inv["invoice_number"].as_str().unwrap());
        assert_eq!(
            set.first("TDS").unwrap()[1],
            cents(&inv["total_amount"]).replace('.', "")
        );
        let bap = set
            .all("AMT")
            .into_iter()
            .find(|a| a[1] == "BAP")
            .unwrap()
            .clone();
        assert_eq!(bap[2], inv["balance_due"].as_str().unwrap());
        let lines = inv["lines"].as_array().unwrap();
        let it1s = set.all("IT1");
        assert_eq!(it1s.len(), lines.len());
        for (it1, line) in it1s.iter().zip(lines) {
            assert_eq!(it1[4], line["unit_price"].as_str().unwrap());
            assert_eq!(it1[7], line["item_number"].as_str().unwrap());
        }
        assert_eq!(set.first("CTT").unwrap()[1], lines.len().to_string());
    }

    // 846: one set per file, a LIN loop per inventory change.
    let changes = deliverable(&s, "inventory");
    let inventory = mirror(&s, "inventory");
    let x12 = files(&h, "inventory_x12_846");
    assert_exactly_once(&x12, &changes, |name, bytes| {
        let i = x12check::check(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (i.functional_id.as_str(), i.sets.len()),
            ("IB", 1),
            "{name}"
        );
        let set = &i.sets[0];
        let (first, last) = range(name);
        assert_eq!(set.first("BIA").unwrap()[3], first.to_string());
        let mine: Vec<&ExportRow> = changes.range(first..=last).map(|(_, c)| c).collect();
        let lins = set.all("LIN");
        assert_eq!(lins.len(), mine.len(), "{name}");
        let refs = set.all("REF");
        let available: Vec<_> = set
            .all("QTY")
            .into_iter()
            .filter(|q| q[1] == "33")
            .collect();
        let mut total = 0;
        for (k, change) in mine.iter().enumerate() {
            let row = &inventory[&change.record_id.unwrap()];
            assert_eq!(lins[k][1], (k + 1).to_string());
            assert_eq!(lins[k][3], row["item_number"].as_str().unwrap());
            assert_eq!(refs[k][2], row["warehouse"].as_str().unwrap());
            assert_eq!(available[k][2], row["quantity_available"].to_string());
            total += row["quantity_available"].as_i64().unwrap();
        }
        let ctt = set.first("CTT").unwrap();
        assert_eq!(ctt[1..], [mine.len().to_string(), total.to_string()]);
        mine.iter().map(|c| c.seq).collect()
    });

    // The flat CSVs: a row per line (or record), each change once, money exact.
    for (outbox, stream, key_column, key_field) in [
        (
            "purchase_orders_csv",
            "purchase_orders",
            "PO Number",
            "po_number",
        ),
        (
            "fulfillment_orders_csv",
            "fulfillment_orders",
            "Order Number",
            "order_number",
        ),
        (
            "invoices_csv",
            "invoices",
            "Invoice Number",
            "invoice_number",
        ),
        ("inventory_csv", "inventory", "Item", "item_number"),
    ] {
        let changes = deliverable(&s, stream);
        let records = mirror(&s, stream);
        assert_exactly_once(&files(&h, outbox), &changes, |name, bytes| {
            let mut reader = csv::Reader::from_reader(bytes);
            let header: Vec<String> = reader
                .headers()
                .unwrap()
                .iter()
                .map(str::to_string)
                .collect();
            let col = |n: &str| {
                header
                    .iter()
                    .position(|h| h == n)
                    .unwrap_or_else(|| panic!("{name}: {n}"))
            };
            let mut seqs = Vec::new();
            let mut rows_of: BTreeMap<i64, usize> = BTreeMap::new();
            for row in reader.records() {
                let row = row.unwrap();
                let seq: i64 = row[col("Change")].parse().unwrap();
                let change = &changes[&seq];
                let record = &records[&change.record_id.unwrap()];
                assert_eq!(&row[col("Change Kind")], change.change.as_str());
                assert_eq!(&row[col(key_column)], record[key_field].as_str().unwrap());
                let n = rows_of.entry(seq).or_default();
                if let Some(lines) = record["lines"].as_array() {
                    let line = &lines[*n];
                    assert_eq!(&row[col("Item")], line["item_number"].as_str().unwrap());
                    assert_eq!(row[col("Quantity")], line["quantity"].to_string());
                    if stream == "invoices" {
                        assert_eq!(
                            &row[col("Unit Price")],
                            line["unit_price"].as_str().unwrap()
                        );
                        assert_eq!(&row[col("Amount")], line["amount"].as_str().unwrap());
                        assert_eq!(row[col("Total")], cents(&record["total_amount"]));
                        assert_eq!(row[col("Balance Due")], cents(&record["balance_due"]));
                    }
                    if stream == "purchase_orders" {
                        assert_eq!(&row[col("Unit Cost")], line["unit_price"].as_str().unwrap());
                        assert_eq!(&row[col("Status")], record["status"].as_str().unwrap());
                    }
                } else {
                    assert_eq!(
                        row[col("Available")],
                        record["quantity_available"].to_string()
                    );
                    assert_eq!(
                        &row[col("Warehouse")],
                        record["warehouse"].as_str().unwrap()
                    );
                }
                *n += 1;
                if seqs.last() != Some(&seq) {
                    seqs.push(seq);
                }
            }
            for (seq, n) in rows_of {
                let record = &records[&changes[&seq].record_id.unwrap()];
                let lines = record["lines"].as_array().map_or(1, |l| l.len().max(1));
                assert_eq!(n, lines, "{name}: change {seq} has a row per line");
            }
            seqs
        });
    }
}

/// A mapping file written for one test.
fn own_mapping(h: &Harness, name: &str, text: &str) -> PathBuf {
    let path = h.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn own_section(name: &str, stream: &str, mapping: &Path, dir: &str) -> String {
    format!(
        "[outbox.{name}]\nstream = \"{stream}\"\nmapping = \"{}\"\ndir = \"{dir}\"\n",
        mapping.display()
    )
}

fn cursor(h: &Harness, outbox: &str) -> i64 {
    store(h).outbox_cursor(outbox).unwrap()
}

#[tokio::test]
async fn a_mapping_error_is_exit_2_naming_file_and_key_before_anything_is_written() {
    let h = Harness::new().await;
    let bad = own_mapping(
        &h,
        "bad.csv.toml",
        "stream = \"shipments\"\n[target]\nformat = \"csv\"\n[[columns]]\nname = \"T\"\nfield = \"tracking\"\n",
    );
    let config = h.write_config(&format!(
        "{}{}",
        section("good", "shipments", "shipments.csv.toml", ""),
        own_section("bad", "shipments", &bad, "out/bad"),
    ));
    let out = run(&h, &config, &["pull", "shipments"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Named or not, every selected outbox's mapping is checked before any file is written.
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("bad.csv.toml")
            && msg.contains("columns[0].field")
            && msg.contains("tracking_number"),
        "{msg}"
    );
    assert!(files(&h, "good").is_empty() && files(&h, "bad").is_empty());
    assert_eq!((cursor(&h, "good"), cursor(&h, "bad")), (0, 0));
    // A mapping of another stream than the outbox's is refused the same way.
    let other = own_mapping(
        &h,
        "inv.toml",
        &std::fs::read_to_string(repo("mappings/outbox/inventory.csv.toml")).unwrap(),
    );
    let config = h.write_config(&own_section("bad", "shipments", &other, "out/bad"));
    let out = run(&h, &config, &["outbox", "bad"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("inv.toml: stream"), "{}", text(&out));
    // In a sync the other jobs still run, and the sync exits 2.
    let config = h.write_config(&format!(
        "{}{}",
        section("good", "shipments", "shipments.csv.toml", ""),
        own_section("bad", "shipments", &bad, "out/bad"),
    ));
    let out = run(&h, &config, &["sync"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("job=sync outbox=good exit=0")
            && text(&out).contains("job=sync outbox=bad exit=2"),
        "{}",
        text(&out)
    );
    assert!(!files(&h, "good").is_empty());
    assert!(files(&h, "bad").is_empty());
    // An unknown outbox name is a usage error naming those configured.
    let out = run(&h, &config, &["outbox", "nope"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("configured: bad, good"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn a_record_lacking_a_required_field_is_rejected_and_the_rest_go_out() {
    let h = Harness::new().await;
    let strict = own_mapping(
        &h,
        "delivered.csv.toml",
        "stream = \"shipments\"\n[target]\nformat = \"csv\"\n\
         [[columns]]\nname = \"Change\"\nfield = \"change.seq\"\n\
         [[columns]]\nname = \"Tracking\"\nfield = \"tracking_number\"\n\
         [[columns]]\nname = \"Delivered\"\nfield = \"delivered_at\"\ntype = \"date\"\nrequired = true\n",
    );
    let config = h.write_config(&own_section(
        "delivered",
        "shipments",
        &strict,
        "out/delivered",
    ));
    let out = run(&h, &config, &["pull", "shipments"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let s = store(&h);
    let changes = deliverable(&s, "shipments");
    let shipments = mirror(&s, "shipments");
    drop(s);
    let (delivered, undelivered): (Vec<_>, Vec<_>) = changes
        .values()
        .partition(|c| !shipments[&c.record_id.unwrap()]["delivered_at"].is_null());
    assert!(!delivered.is_empty() && !undelivered.is_empty());
    // The file holds exactly the delivered shipments.
    let written = files(&h, "delivered");
    let mut rows = Vec::new();
    for bytes in written.values() {
        for row in csv::Reader::from_reader(bytes.as_slice()).records() {
            let row = row.unwrap();
            rows.push(row[0].parse::<i64>().unwrap());
            assert!(!row[2].is_empty());
        }
    }
    assert_eq!(rows, delivered.iter().map(|c| c.seq).collect::<Vec<_>>());
    // Each rejection is in the change log with its run, record and field.
    let status = run(&h, &config, &["status", "--json"]).await;
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let job = status["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "outbox delivered")
        .unwrap()
        .clone();
    assert_eq!(job["rejected_rows_waiting"], undelivered.len());
    assert_eq!(job["last_run"]["outcome"], "rejected");
    let run_id = job["last_run"]["run"].to_string();
    let out = run(
        &h,
        &config,
        &["export", "changes", "--run", &run_id, "--format", "json"],
    )
    .await;
    let logged: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(logged.len(), undelivered.len());
    for (entry, change) in logged.iter().zip(&undelivered) {
        assert_eq!(entry["change"], "rejected");
        assert_eq!(entry["fields"], "delivered_at");
        assert_eq!(entry["key"], change.key.as_str());
        assert_eq!(entry["id"], change.record_id.unwrap());
        let detail = entry["detail"].as_str().unwrap();
        assert!(
            detail.contains("outbox delivered")
                && detail.contains(&format!("change {}", change.seq))
                && detail.contains("required"),
            "{detail}"
        );
    }
    // The rejected changes are passed over, never written later; nothing new: nothing written.
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(files(&h, "delivered"), written);
    assert_eq!(cursor(&h, "delivered"), *changes.keys().last().unwrap());
}

#[tokio::test]
async fn a_folder_that_cannot_be_written_leaves_the_cursor_and_shows_nothing_half_written() {
    let h = Harness::new().await;
    std::fs::write(h.dir.path().join("not-a-folder"), "x").unwrap();
    let config = h.write_config(
        &section("ship", "shipments", "shipments.csv.toml", "")
            .replace("dir = \"out/ship\"", "dir = \"not-a-folder/ship\""),
    );
    let out = run(&h, &config, &["pull", "shipments"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not-a-folder/ship"), "{}", text(&out));
    assert_eq!(cursor(&h, "ship"), 0);
    // --dry-run says what would be written, and writes nothing.
    let config = h.write_config(&section(
        "ship",
        "shipments",
        "shipments.csv.toml",
        "max_changes_per_file = 4",
    ));
    let out = run(&h, &config, &["outbox", "--dry-run"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pending = deliverable(&store(&h), "shipments").len();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("would write ship-"),
        "{}",
        text(&out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("would write")
            .count(),
        pending.div_ceil(4)
    );
    assert!(files(&h, "ship").is_empty());
    assert_eq!(cursor(&h, "ship"), 0);
    // Fixed, the next run delivers everything, once.
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = store(&h);
    check_shipments_csv(
        &files(&h, "ship"),
        &deliverable(&s, "shipments"),
        &mirror(&s, "shipments"),
        &BTreeMap::new(),
    );
}

/// Where a killed outbox run stopped, read from the folder and the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Stop {
    /// A file written aside, not yet recorded.
    BeforeRecord,
    /// Recorded, not yet renamed into place.
    BeforeRename,
    /// Renamed into place, not yet committed.
    BeforeCommit,
    /// Anywhere else (between files, before the first).
    Elsewhere,
}

fn stopped_at(h: &Harness, outbox: &str) -> Stop {
    let dir = h.dir.path().join("out").join(outbox);
    let open = store(h).outbox_open_file(outbox).unwrap();
    let partials = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".partial")
            })
            .count()
        })
        .unwrap_or(0);
    match open {
        Some(f) if dir.join(&f.file).exists() => Stop::BeforeCommit,
        Some(_) => Stop::BeforeRename,
        None if partials > 0 => Stop::BeforeRecord,
        None => Stop::Elsewhere,
    }
}

/// The files of a folder that are visible to the ERP (no dot-files), each of which must be a
/// complete interchange.
fn visible_complete(h: &Harness, outbox: &str) -> usize {
    let dir = h.dir.path().join("out").join(outbox);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).into_iter().flatten() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if name.starts_with('.') {
            continue;
        }
        let bytes = std::fs::read(e.path()).unwrap();
        x12check::check(&bytes)
            .unwrap_or_else(|err| panic!("{name} is visible but not whole: {err}"));
        n += 1;
    }
    n
}

fn spawn_outbox(h: &Harness, config: &Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_ahead-sync"))
        .current_dir(h.dir.path())
        .args([
            "--config",
            config.to_str().unwrap(),
            "--no-progress",
            "-q",
            "outbox",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// The last run of a job, by id.
fn last_run(h: &Harness, job: &str) -> Option<i64> {
    store(h)
        .job_summaries()
        .unwrap()
        .into_iter()
        .find(|(last, _)| last.job == job)
        .map(|(last, _)| last.id)
}

/// The kill sweep: runs killed while a file is recorded but not renamed, while one is written
/// aside but not recorded, while one is renamed but not committed, and anywhere else, each
/// followed by another; in the end every change is in exactly one file, every file visible at
/// any moment is complete, and no control number is used twice.
#[tokio::test]
async fn a_run_killed_at_any_point_leaves_neither_a_gap_nor_a_second_file() {
    let h = Harness::new().await;
    let config = h.write_config(&section(
        "inv",
        "inventory",
        "inventory.x12-846.toml",
        "max_changes_per_file = 1",
    ));
    let out = run(&h, &config, &["pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let changes = deliverable(&store(&h), "inventory");
    assert!(changes.len() >= 150, "{}", changes.len());
    let dir = h.dir.path().join("out/inv");
    std::fs::create_dir_all(&dir).unwrap();
    let db = h.dir.path().join("ahead-sync.db");
    let mut seen = std::collections::HashSet::new();

    // Recorded, not renamed: the first file's name is taken by a FIFO, so the run blocks when
    // it looks there after recording the file.
    let first = *changes.keys().next().unwrap();
    let fifo = dir.join(format!("inv-{first:09}-{first:09}.x12"));
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut child = spawn_outbox(&h, &config);
    while store(&h).outbox_open_file("inv").unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    crate::util::kill_while_running(&mut child);
    std::fs::remove_file(&fifo).unwrap();
    seen.insert(stopped_at(&h, "inv"));

    // The sweep: each run is let go until it is inside its delivery loop, then held at its next
    // store write (the write lock is taken from it) and killed there.
    let mut job_runs = last_run(&h, "outbox inv");
    for attempt in 0..400 {
        if attempt >= 16 && seen.contains(&Stop::BeforeRecord) && seen.contains(&Stop::BeforeCommit)
        {
            break;
        }
        let mut child = spawn_outbox(&h, &config);
        let finished = loop {
            if child.try_wait().unwrap().is_some() {
                break true;
            }
            let now = last_run(&h, "outbox inv");
            if now != job_runs {
                job_runs = now;
                break false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        if finished {
            panic!("a run finished everything before the sweep saw every point: {seen:?}");
        }
        // Vary how far it gets before it is held.
        for _ in 0..(attempt % 4) {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        let lock = rusqlite::Connection::open(&db).unwrap();
        lock.busy_timeout(Duration::from_secs(30)).unwrap();
        lock.execute_batch("BEGIN IMMEDIATE").unwrap();
        // Held: it reaches its next write and waits there.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut at = stopped_at(&h, "inv");
        while matches!(at, Stop::Elsewhere | Stop::BeforeRename)
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
            at = stopped_at(&h, "inv");
        }
        crate::util::kill_while_running(&mut child);
        seen.insert(stopped_at(&h, "inv"));
        lock.execute_batch("ROLLBACK").unwrap();
        drop(lock);
        visible_complete(&h, "inv");
    }
    for point in [Stop::BeforeRename, Stop::BeforeRecord, Stop::BeforeCommit] {
        assert!(seen.contains(&point), "the sweep stopped runs at {seen:?}");
    }

    // A run left alone finishes: every change in exactly one file, control numbers never reused.
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = files(&h, "inv");
    let inventory = mirror(&store(&h), "inventory");
    let mut isa = std::collections::HashSet::new();
    let mut st = std::collections::HashSet::new();
    assert_exactly_once(&all, &changes, |name, bytes| {
        let i = x12check::check(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            isa.insert(i.isa_control.clone()),
            "ISA13 {} used twice",
            i.isa_control
        );
        assert!(st.insert(i.sets[0].control.clone()), "ST02 used twice");
        let (a, b) = range(name);
        let lin = i.sets[0].first("LIN").unwrap();
        let row = &inventory[&changes[&a].record_id.unwrap()];
        assert_eq!(lin[3], row["item_number"].as_str().unwrap());
        (a..=b).filter(|s| changes.contains_key(s)).collect()
    });
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(files(&h, "inv"), all, "nothing new: nothing written");
}

/// A store that forgot everything after the files were renamed into place (restored from a copy
/// taken before the run: the cursor, the file records and the control numbers are gone) still
/// gets no second file: each range renders to the same bytes, finds them in place, and is
/// committed.
#[tokio::test]
async fn files_already_in_place_are_committed_not_written_again() {
    let h = Harness::new().await;
    let config = h.write_config(&format!(
        "{}{}",
        section(
            "ship",
            "shipments",
            "shipments.x12-856.toml",
            "max_changes_per_file = 3"
        ),
        section(
            "flat",
            "shipments",
            "shipments.csv.toml",
            "max_changes_per_file = 4"
        ),
    ));
    let out = run(&h, &config, &["pull", "shipments"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let db = h.dir.path().join("ahead-sync.db");
    let copy = h.dir.path().join("before.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (ship, flat) = (files(&h, "ship"), files(&h, "flat"));
    assert!(ship.len() > 2 && flat.len() > 2);
    // Back to the store as it was before the run.
    std::fs::rename(&copy, &db).unwrap();
    for side in ["ahead-sync.db-wal", "ahead-sync.db-shm"] {
        let _ = std::fs::remove_file(h.dir.path().join(side));
    }
    assert_eq!(cursor(&h, "ship"), 0);
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        files(&h, "ship"),
        ship,
        "the same files, byte for byte, and no other"
    );
    assert_eq!(files(&h, "flat"), flat);
    let s = store(&h);
    let last = *deliverable(&s, "shipments").keys().last().unwrap();
    assert_eq!(
        (
            s.outbox_cursor("ship").unwrap(),
            s.outbox_cursor("flat").unwrap()
        ),
        (last, last)
    );
    // A file in place with other bytes than the range renders to is never overwritten.
    drop(s);
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(0));
    h.sandbox.control().simulate(Duration::from_secs(86_400));
    let out = run(&h, &config, &["pull", "shipments"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let fresh: Vec<i64> = deliverable(&store(&h), "shipments")
        .range(last + 1..)
        .map(|(seq, _)| *seq)
        .take(4)
        .collect();
    assert!(!fresh.is_empty(), "a day of activity ships something");
    let squatter = h.dir.path().join(format!(
        "out/flat/flat-{:09}-{:09}.csv",
        fresh[0],
        fresh.last().unwrap()
    ));
    std::fs::write(&squatter, "someone else's file\n").unwrap();
    let out = run(&h, &config, &["outbox", "flat"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("other content"), "{}", text(&out));
    assert_eq!(std::fs::read(&squatter).unwrap(), b"someone else's file\n");
    assert_eq!(cursor(&h, "flat"), last);
    // Moved away (the ERP has it, or a person decided it is not ours), the range goes out.
    std::fs::remove_file(&squatter).unwrap();
    let out = run(&h, &config, &["outbox", "flat"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(cursor(&h, "flat") >= *fresh.last().unwrap());
}

#[tokio::test]
async fn a_replay_writes_a_runs_changes_again_with_new_control_numbers() {
    let h = Harness::new().await;
    let config = h.write_config(&section(
        "ship",
        "shipments",
        "shipments.x12-856.toml",
        "max_changes_per_file = 4",
    ));
    let out = run(&h, &config, &["pull", "shipments"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pull_run = last_run(&h, "pull shipments").unwrap();
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let outbox_run = last_run(&h, "outbox ship").unwrap();
    let originals = files(&h, "ship");
    let cursor_before = cursor(&h, "ship");
    let isa_of = |bytes: &[u8]| {
        x12check::check(bytes)
            .unwrap()
            .isa_control
            .parse::<i64>()
            .unwrap()
    };
    let highest = originals.values().map(|b| isa_of(b)).max().unwrap();

    // The files an outbox run delivered, again: same ranges, same sets, new control numbers.
    let out = run(
        &h,
        &config,
        &["outbox", "replay", "ship", "--run", &outbox_run.to_string()],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let replay_run = last_run(&h, "outbox ship").unwrap();
    let now = files(&h, "ship");
    let replays: BTreeMap<String, Vec<u8>> = now
        .iter()
        .filter(|(n, _)| !originals.contains_key(*n))
        .map(|(n, b)| (n.clone(), b.clone()))
        .collect();
    assert_eq!(replays.len(), originals.len());
    let mut isas = std::collections::HashSet::new();
    for ((orig_name, orig), (name, bytes)) in originals.iter().zip(&replays) {
        assert_eq!(
            name,
            &orig_name.replace("ship-", &format!("ship-replay{replay_run}-"))
        );
        let (a, b) = (
            x12check::check(orig).unwrap(),
            x12check::check(bytes).unwrap(),
        );
        assert!(a.isa_control.parse::<i64>().unwrap() <= highest);
        assert!(
            b.isa_control.parse::<i64>().unwrap() > highest,
            "new control numbers"
        );
        assert!(isas.insert(b.isa_control.clone()));
        let bsn = |i: &x12check::Interchange| -> Vec<String> {
            i.sets
                .iter()
                .map(|s| s.first("BSN").unwrap()[2].clone())
                .collect()
        };
        assert_eq!(bsn(&a), bsn(&b));
        assert!(a
            .sets
            .iter()
            .zip(&b.sets)
            .all(|(x, y)| x.control != y.control));
    }
    assert_eq!(
        cursor(&h, "ship"),
        cursor_before,
        "a replay moves no cursor"
    );

    // The changes a pull run recorded, again.
    let out = run(
        &h,
        &config,
        &["outbox", "replay", "ship", "--run", &pull_run.to_string()],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let second = last_run(&h, "outbox ship").unwrap();
    let replayed: usize = files(&h, "ship")
        .iter()
        .filter(|(n, _)| n.starts_with(&format!("ship-replay{second}-")))
        .map(|(_, b)| x12check::check(b).unwrap().sets.len())
        .sum();
    let recorded = deliverable(&store(&h), "shipments")
        .values()
        .filter(|c| c.run == pull_run)
        .count();
    assert_eq!(replayed, recorded);

    let out = run(&h, &config, &["outbox", "replay", "ship", "--run", "9999"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // Nothing new since: a plain run writes nothing.
    let before = files(&h, "ship");
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(files(&h, "ship"), before);
    // A run that delivered nothing has nothing to replay.
    let idle = last_run(&h, "outbox ship").unwrap().to_string();
    let out = run(&h, &config, &["outbox", "replay", "ship", "--run", &idle]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("nothing to replay"), "{}", text(&out));
    assert_eq!(files(&h, "ship"), before);
}

/// A disk that fills up while a file is written aside: the run fails naming the file, nothing
/// is visible, the cursor has not moved, and the next run delivers everything.
#[tokio::test]
async fn a_full_disk_leaves_the_cursor_where_it_was() {
    let h = Harness::new().await;
    let config = h.write_config(&section("ship", "shipments", "shipments.x12-856.toml", ""));
    let out = run(&h, &config, &["pull", "shipments"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let changes = deliverable(&store(&h), "shipments");
    let (first, last) = (
        *changes.keys().next().unwrap(),
        *changes.keys().last().unwrap(),
    );
    // The file's place aside is a device that is always full.
    let dir = h.dir.path().join("out/ship");
    std::fs::create_dir_all(&dir).unwrap();
    let aside = dir.join(format!(".ship-{first:09}-{last:09}.x12.partial"));
    std::os::unix::fs::symlink("/dev/full", &aside).unwrap();
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(aside.to_str().unwrap()) && text(&out).contains("No space left"),
        "{}",
        text(&out)
    );
    assert!(
        files(&h, "ship").is_empty(),
        "nothing visible, nothing left aside"
    );
    assert_eq!(cursor(&h, "ship"), 0);
    assert!(
        store(&h).outbox_open_file("ship").unwrap().is_none(),
        "nothing recorded"
    );
    let out = run(&h, &config, &["outbox"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = store(&h);
    check_856(
        &files(&h, "ship"),
        &changes,
        &mirror(&s, "shipments"),
        &BTreeMap::new(),
    );
}
