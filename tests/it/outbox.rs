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
    assert!(text(&out).contains("outbox ship_856=0"), "{}", text(&out));
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
