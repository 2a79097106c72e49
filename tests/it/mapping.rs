//! The shipped mappings against the sample files, and hostile variants of them.
//! Pure: no network, no database; fixtures live in tests/fixtures.

use std::path::PathBuf;

use ahead_sync::mapping::{read_orders, Mapping, MappingError, OnError, ReadResult, SourceOrder};
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures").join(name)).unwrap()
}

fn mapping(name: &str) -> Mapping {
    Mapping::load(root().join("mappings").join(name)).unwrap()
}

fn read(mapping_name: &str, file: &str, text: &str) -> ReadResult {
    read_orders(&mapping(mapping_name), file, text.as_bytes()).unwrap()
}

fn body(order: &SourceOrder) -> Value {
    Value::Object(order.body.clone())
}

fn numbers(result: &ReadResult) -> Vec<&str> {
    result.orders.iter().map(|o| o.number.as_str()).collect()
}

fn po_10001() -> Value {
    json!({
        "po_number": "PO-10001",
        "order_date": "2026-11-02",
        "requested_ship_date": "2026-11-20",
        "notes": "Rush build for Q4 refresh",
        "ship_to": {
            "name": "Receiving Dock",
            "company": "Acme Corp",
            "address1": "100 Main St",
            "address2": "Suite 200",
            "city": "Minneapolis",
            "state": "MN",
            "postal_code": "55401",
            "country": "US"
        },
        "lines": [
            {"line_number": 1, "item_number": "SRV-1U-X10", "quantity": 4, "unit_price": "2150.00"},
            {"line_number": 2, "item_number": "RAIL-KIT-1U", "quantity": 4, "unit_price": "45.50"}
        ]
    })
}

fn po_10002() -> Value {
    json!({
        "po_number": "PO-10002",
        "order_date": "2026-11-03",
        "requested_ship_date": "2026-12-01",
        "ship_to": {
            "name": "Lab Intake",
            "company": "Acme Corp",
            "address1": "2200 Research Pkwy",
            "city": "Austin",
            "state": "TX",
            "postal_code": "78758",
            "country": "US"
        },
        "lines": [
            {"line_number": 1, "item_number": "SRV-2U-G4", "quantity": 2, "unit_price": "11480.00"},
            {"line_number": 2, "item_number": "NIC-25G-2P", "quantity": 4, "unit_price": "389.99"},
            {"line_number": 3, "item_number": "CBL-PWR-C13", "quantity": 8, "unit_price": "6.25"}
        ]
    })
}

fn so_50001() -> Value {
    json!({
        "order_number": "SO-50001",
        "ship_method": "ups_ground",
        "requested_ship_date": "2026-11-21",
        "notes": "Deliver to loading bay",
        "ship_to": {
            "name": "Jane Smith",
            "company": "Northwind Clinics",
            "address1": "55 Elm St",
            "city": "Austin",
            "state": "TX",
            "postal_code": "78701",
            "country": "US"
        },
        "lines": [
            {"line_number": 1, "item_number": "SRV-1U-X10", "quantity": 1},
            {"line_number": 2, "item_number": "RAIL-KIT-1U", "quantity": 1}
        ]
    })
}

fn so_60001() -> Value {
    json!({
        "order_number": "SO-60001",
        "ship_method": "ups_ground",
        "requested_ship_date": "2026-11-21",
        "ship_to": {
            "name": "Jane Smith",
            "company": "Northwind Clinics",
            "address1": "55 Elm St",
            "city": "Austin",
            "state": "TX",
            "postal_code": "78701",
            "country": "US"
        },
        "lines": [
            {"line_number": 1, "item_number": "SRV-1U-X10", "quantity": 1},
            {"line_number": 2, "item_number": "RAIL-KIT-1U", "quantity": 1}
        ]
    })
}

// ---- the shipped mappings against the samples ----

#[test]
fn purchase_orders_csv_sample() {
    let result = read(
        "purchase_orders.csv.toml",
        "purchase_orders.csv",
        &fixture("purchase_orders.csv"),
    );
    assert!(result.rejections.is_empty(), "{:?}", result.rejections);
    assert_eq!(numbers(&result), ["PO-10001", "PO-10002"]);
    assert_eq!(body(&result.orders[0]), po_10001());
    assert_eq!(body(&result.orders[1]), po_10002());
    assert_eq!(
        (result.orders[0].line, result.orders[0].lines.clone()),
        (2, vec![2, 3])
    );
    assert_eq!(
        (result.orders[1].line, result.orders[1].lines.clone()),
        (4, vec![4, 5, 6])
    );
    assert_eq!(result.orders[0].file, "purchase_orders.csv");
    assert_eq!(
        result.orders[1].item_numbers(),
        ["SRV-2U-G4", "NIC-25G-2P", "CBL-PWR-C13"]
    );
}

#[test]
fn purchase_orders_x12_sample() {
    let result = read(
        "purchase_orders.x12.toml",
        "purchase_orders.x12",
        &fixture("purchase_orders.x12"),
    );
    assert!(result.rejections.is_empty(), "{:?}", result.rejections);
    assert_eq!(numbers(&result), ["PO-20001", "PO-20002"]);
    assert_eq!(
        body(&result.orders[0]),
        json!({
            "po_number": "PO-20001",
            "order_date": "2026-11-02",
            "requested_ship_date": "2026-11-20",
            "ship_to": {
                "name": "Receiving Dock",
                "company": "Acme Corp",
                "address1": "100 Main St",
                "address2": "Suite 200",
                "city": "Minneapolis",
                "state": "MN",
                "postal_code": "55401",
                "country": "US"
            },
            "lines": [
                {"line_number": 1, "item_number": "SRV-1U-X10", "quantity": 4, "unit_price": "2150.00"},
                {"line_number": 2, "item_number": "RAIL-KIT-1U", "quantity": 4, "unit_price": "45.50"}
            ]
        })
    );
    let mut want = po_10002();
    want["po_number"] = json!("PO-20002");
    want["lines"].as_array_mut().unwrap().pop();
    assert_eq!(body(&result.orders[1]), want);
    // ST on line 3, the PO1 segments on lines 10 and 11.
    assert_eq!(
        (result.orders[0].line, result.orders[0].lines.clone()),
        (3, vec![10, 11])
    );
    assert_eq!(
        (result.orders[1].line, result.orders[1].lines.clone()),
        (14, vec![21, 22])
    );
}

#[test]
fn fulfillment_orders_csv_sample() {
    let result = read(
        "fulfillment_orders.csv.toml",
        "fulfillment_orders.csv",
        &fixture("fulfillment_orders.csv"),
    );
    assert!(result.rejections.is_empty(), "{:?}", result.rejections);
    assert_eq!(numbers(&result), ["SO-50001", "SO-50002"]);
    assert_eq!(body(&result.orders[0]), so_50001());
    assert_eq!(
        body(&result.orders[1]),
        json!({
            "order_number": "SO-50002",
            "ship_method": "fedex_priority_overnight",
            "requested_ship_date": "2026-11-22",
            "ship_to": {
                "name": "Omar Haddad",
                "company": "Contoso Labs",
                "address1": "9 Harbor Rd",
                "address2": "Floor 3",
                "city": "Boston",
                "state": "MA",
                "postal_code": "02110",
                "country": "US"
            },
            "lines": [{"line_number": 1, "item_number": "PSU-800W", "quantity": 2}]
        })
    );
    assert_eq!(result.orders[1].lines, [4]);
}

#[test]
fn fulfillment_orders_x12_sample() {
    let result = read(
        "fulfillment_orders.x12.toml",
        "fulfillment_orders.x12",
        &fixture("fulfillment_orders.x12"),
    );
    assert!(result.rejections.is_empty(), "{:?}", result.rejections);
    assert_eq!(numbers(&result), ["SO-60001"]);
    assert_eq!(body(&result.orders[0]), so_60001());
    // ST on line 3, the W01 segments on lines 12 and 14.
    assert_eq!(
        (result.orders[0].line, result.orders[0].lines.clone()),
        (3, vec![12, 14])
    );
}

#[test]
fn every_shipped_mapping_compiles_and_documents_its_keys() {
    for name in [
        "purchase_orders.csv.toml",
        "purchase_orders.x12.toml",
        "fulfillment_orders.csv.toml",
        "fulfillment_orders.x12.toml",
    ] {
        let m = mapping(name);
        assert_eq!(m.on_error, OnError::SkipRow, "{name}");
        assert!(!m.cancel_removed, "{name}");
        let text = std::fs::read_to_string(root().join("mappings").join(name)).unwrap();
        assert!(text.starts_with('#'), "{name} opens with a comment");
    }
}

// ---- content hashes ----

#[test]
fn content_hash_tells_same_from_changed() {
    let text = fixture("purchase_orders.csv");
    let a = read("purchase_orders.csv.toml", "a.csv", &text);
    let b = read("purchase_orders.csv.toml", "b.csv", &text);
    assert_eq!(a.orders[0].content_hash(), b.orders[0].content_hash());
    assert_ne!(a.orders[0].content_hash(), a.orders[1].content_hash());
    // "45.50" written as "45.5" is the same order; 45.51 is a changed one.
    let same = read(
        "purchase_orders.csv.toml",
        "c.csv",
        &text.replace(",45.50,", ",45.5,"),
    );
    assert_eq!(a.orders[0].content_hash(), same.orders[0].content_hash());
    let changed = read(
        "purchase_orders.csv.toml",
        "c.csv",
        &text.replace(",45.50,", ",45.51,"),
    );
    assert_ne!(a.orders[0].content_hash(), changed.orders[0].content_hash());
    assert_eq!(a.orders[1].content_hash(), changed.orders[1].content_hash());
}

// ---- hostile CSV ----

#[test]
fn csv_with_bom_crlf_and_blank_lines_reads_the_same() {
    let plain = fixture("purchase_orders.csv");
    let mut hostile = String::from("\u{feff}");
    for (i, line) in plain.lines().enumerate() {
        hostile.push_str(line);
        hostile.push_str("\r\n");
        if i == 2 {
            hostile.push_str("\r\n,,,,,,,,,,,,,,,,\r\n");
        }
    }
    let want = read("purchase_orders.csv.toml", "p.csv", &plain);
    let got = read("purchase_orders.csv.toml", "p.csv", &hostile);
    assert!(got.rejections.is_empty(), "{:?}", got.rejections);
    assert_eq!(body(&got.orders[0]), po_10001());
    assert_eq!(got.orders[0].content_hash(), want.orders[0].content_hash());
    assert_eq!(got.orders[1].content_hash(), want.orders[1].content_hash());
    // The two skipped lines still count: PO-10002 starts on line 6 now.
    assert_eq!(got.orders[1].lines, [6, 7, 8]);
}

#[test]
fn csv_quoted_commas_and_quotes() {
    let text = fixture("purchase_orders.csv").replace(
        "Acme Corp,100 Main St",
        "\"Acme, Inc. \"\"East\"\"\",100 Main St",
    );
    let result = read("purchase_orders.csv.toml", "q.csv", &text);
    assert!(result.rejections.is_empty(), "{:?}", result.rejections);
    assert_eq!(
        result.orders[0].body["ship_to"]["company"],
        "Acme, Inc. \"East\""
    );
    assert_eq!(result.orders[0].body["lines"][0]["unit_price"], "2150.00");
}

#[test]
fn csv_bad_date_rejects_that_order_only() {
    // Every row of PO-10002 says so (a single row would also disagree with its order).
    let text = fixture("purchase_orders.csv").replace("11/03/2026", "2026-11-03");
    let result = read("purchase_orders.csv.toml", "d.csv", &text);
    assert_eq!(numbers(&result), ["PO-10001"]);
    assert_eq!(result.rejections.len(), 1, "{:?}", result.rejections);
    let r = &result.rejections[0];
    assert_eq!((r.file.as_str(), r.line), ("d.csv", 4));
    assert_eq!(r.field.as_deref(), Some("order_date"));
    assert_eq!(r.order.as_deref(), Some("PO-10002"));
    assert!(r.reason.contains("%m/%d/%Y"), "{r}");
    assert!(
        r.to_string()
            .starts_with("d.csv:4 order PO-10002: order_date: "),
        "{r}"
    );
}

#[test]
fn csv_negative_quantity_rejects_the_whole_order() {
    // A bad line must not let its order through with the line missing.
    let text = fixture("purchase_orders.csv").replace(",NIC-25G-2P,4,", ",NIC-25G-2P,-4,");
    let result = read("purchase_orders.csv.toml", "n.csv", &text);
    assert_eq!(numbers(&result), ["PO-10001"]);
    assert_eq!(result.rejections.len(), 1);
    let r = &result.rejections[0];
    assert_eq!((r.line, r.field.as_deref()), (5, Some("lines[].quantity")));
    assert!(r.reason.contains("above zero"), "{r}");
}

#[test]
fn csv_missing_column_is_a_mapping_error_before_any_row() {
    let text = fixture("purchase_orders.csv").replacen("Unit Cost", "Unit Price", 1);
    // Rows that would be rejected are never looked at.
    let text = format!("{text}garbage,,,\n");
    let err = read_orders(
        &mapping("purchase_orders.csv.toml"),
        "m.csv",
        text.as_bytes(),
    )
    .unwrap_err();
    match &err {
        MappingError::MissingColumn {
            file,
            column,
            field,
            ..
        } => {
            assert_eq!(
                (file.as_str(), column.as_str(), field.as_str()),
                ("m.csv", "Unit Cost", "lines[].unit_price")
            );
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("\"Unit Price\""), "{err}");
}

#[test]
fn csv_header_fields_disagreeing_within_an_order() {
    let text = fixture("purchase_orders.csv").replace(
        "Minneapolis,MN,55401,US,11/20/2026,2,",
        "St Paul,MN,55401,US,11/20/2026,2,",
    );
    let result = read("purchase_orders.csv.toml", "g.csv", &text);
    assert_eq!(numbers(&result), ["PO-10002"]);
    let r = &result.rejections[0];
    assert_eq!((r.line, r.field.as_deref()), (3, Some("ship_to.city")));
    assert!(r.reason.contains("line 2"), "{r}");
}

#[test]
fn csv_rows_of_one_order_need_not_be_adjacent() {
    let plain = fixture("fulfillment_orders.csv");
    let mut lines: Vec<&str> = plain.lines().collect();
    lines.swap(2, 3); // SO-50001, SO-50002, SO-50001
    let result = read("fulfillment_orders.csv.toml", "s.csv", &lines.join("\n"));
    assert!(result.rejections.is_empty(), "{:?}", result.rejections);
    assert_eq!(numbers(&result), ["SO-50001", "SO-50002"]);
    assert_eq!(body(&result.orders[0]), so_50001());
    assert_eq!(result.orders[0].lines, [2, 4]);
}

#[test]
fn fail_file_stops_at_the_first_problem_skip_row_does_not() {
    let text = fixture("purchase_orders.csv")
        .replace(",NIC-25G-2P,4,", ",NIC-25G-2P,2.5,")
        .replace(",CBL-PWR-C13,8,", ",CBL-PWR-C13,0,");
    let skip = read("purchase_orders.csv.toml", "f.csv", &text);
    assert_eq!(numbers(&skip), ["PO-10001"]);
    assert_eq!(
        skip.rejections.iter().map(|r| r.line).collect::<Vec<_>>(),
        [5, 6]
    );

    let strict_text = std::fs::read_to_string(root().join("mappings/purchase_orders.csv.toml"))
        .unwrap()
        .replace("on_error = \"skip-row\"", "on_error = \"fail-file\"");
    let strict = Mapping::parse(&strict_text, "strict.toml").unwrap();
    let err = read_orders(&strict, "f.csv", text.as_bytes()).unwrap_err();
    let r = err
        .rejection()
        .expect("a fail-file error carries its rejection");
    assert_eq!((r.line, r.field.as_deref()), (5, Some("lines[].quantity")));
    assert!(r.reason.contains("whole number"), "{r}");
    assert!(err.to_string().contains("fail-file"), "{err}");
    // A clean file goes through under fail-file as well.
    let ok = read_orders(&strict, "f.csv", fixture("purchase_orders.csv").as_bytes()).unwrap();
    assert_eq!(ok.orders.len(), 2);
}

// ---- hostile X12 ----

/// The same interchange with other separators: `|` elements, `^` components, newline-only
/// segment terminators (CRLF when `crlf`).
fn reseparate(x12: &str, crlf: bool) -> String {
    let eol = if crlf { "\r\n" } else { "\n" };
    x12.lines()
        .map(|l| l.trim_end_matches('~').replace('*', "|").replace('>', "^"))
        .collect::<Vec<_>>()
        .join(eol)
        + eol
}

#[test]
fn x12_other_separators_read_the_same() {
    for crlf in [false, true] {
        let po = reseparate(&fixture("purchase_orders.x12"), crlf);
        let want = read(
            "purchase_orders.x12.toml",
            "p.x12",
            &fixture("purchase_orders.x12"),
        );
        let got = read("purchase_orders.x12.toml", "p.x12", &po);
        assert!(got.rejections.is_empty(), "{:?}", got.rejections);
        assert_eq!(got.orders, want.orders);

        let fo = reseparate(&fixture("fulfillment_orders.x12"), crlf);
        let got = read("fulfillment_orders.x12.toml", "f.x12", &fo);
        assert!(got.rejections.is_empty(), "{:?}", got.rejections);
        assert_eq!(body(&got.orders[0]), so_60001());
        assert_eq!(got.orders[0].lines, [12, 14]);
    }
}

#[test]
fn x12_on_one_line_and_with_crlf_after_terminators() {
    let one_line: String = fixture("purchase_orders.x12").lines().collect();
    let got = read("purchase_orders.x12.toml", "p.x12", &one_line);
    assert_eq!(numbers(&got), ["PO-20001", "PO-20002"]);
    assert_eq!(got.orders[0].lines, [1, 1]);
    let crlf = fixture("fulfillment_orders.x12").replace('\n', "\r\n");
    let got = read("fulfillment_orders.x12.toml", "f.x12", &crlf);
    assert_eq!(body(&got.orders[0]), so_60001());
    let bom = format!("\u{feff}{}", fixture("fulfillment_orders.x12"));
    let got = read("fulfillment_orders.x12.toml", "f.x12", &bom);
    assert_eq!(body(&got.orders[0]), so_60001());
    assert_eq!(got.orders[0].line, 3);
}

#[test]
fn x12_se_count_mismatch_rejects_that_order() {
    let text = fixture("purchase_orders.x12").replacen("SE*11*0001~", "SE*12*0001~", 1);
    let result = read("purchase_orders.x12.toml", "c.x12", &text);
    assert_eq!(numbers(&result), ["PO-20002"]);
    assert_eq!(result.rejections.len(), 1);
    let r = &result.rejections[0];
    assert_eq!(
        (r.line, r.segment, r.field.as_deref()),
        (13, Some(13), Some("SE01"))
    );
    assert_eq!(r.order.as_deref(), Some("PO-20001"));
    assert!(
        r.to_string()
            .starts_with("c.x12:13 (segment 13) order PO-20001: SE01: "),
        "{r}"
    );
}

#[test]
fn x12_fail_file_stops_at_the_count_mismatch() {
    let text = std::fs::read_to_string(root().join("mappings/purchase_orders.x12.toml"))
        .unwrap()
        .replace("on_error = \"skip-row\"", "on_error = \"fail-file\"");
    let strict = Mapping::parse(&text, "strict.toml").unwrap();
    let x12 = fixture("purchase_orders.x12").replacen("SE*11*0002~", "SE*10*0002~", 1);
    let err = read_orders(&strict, "c.x12", x12.as_bytes()).unwrap_err();
    let r = err.rejection().unwrap();
    assert_eq!(
        (r.line, r.segment, r.field.as_deref()),
        (24, Some(24), Some("SE01"))
    );
    let ok = read_orders(&strict, "c.x12", fixture("purchase_orders.x12").as_bytes()).unwrap();
    assert_eq!(ok.orders.len(), 2);
}

#[test]
fn x12_lost_segment_is_caught_by_the_count() {
    let text =
        fixture("purchase_orders.x12").replacen("PO1*2*4*EA*45.50**VP*RAIL-KIT-1U~\n", "", 1);
    let result = read("purchase_orders.x12.toml", "l.x12", &text);
    assert_eq!(numbers(&result), ["PO-20002"]);
    assert_eq!(result.rejections[0].field.as_deref(), Some("SE01"));
}

#[test]
fn x12_bad_values_name_the_segment() {
    let text = fixture("purchase_orders.x12")
        .replacen("DTM*010*20261201~", "DTM*010*20261301~", 1)
        .replacen("PO1*1*4*EA", "PO1*1*-4*EA", 1);
    let result = read("purchase_orders.x12.toml", "b.x12", &text);
    assert!(result.orders.is_empty());
    let got: Vec<(usize, Option<usize>, Option<&str>)> = result
        .rejections
        .iter()
        .map(|r| (r.line, r.segment, r.field.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (10, Some(10), Some("lines[].quantity (PO102)")),
            (16, Some(16), Some("requested_ship_date (DTM*010/DTM02)")),
        ]
    );
}

#[test]
fn x12_envelope_problems() {
    let m = mapping("purchase_orders.x12.toml");
    // Not X12 at all.
    let err = read_orders(&m, "x.x12", b"PO Number,Item\n").unwrap_err();
    assert!(
        err.to_string().contains("x.x12") && err.to_string().contains("ISA"),
        "{err}"
    );
    // Truncated: no IEA.
    let text = fixture("purchase_orders.x12");
    let cut = &text[..text.find("GE*").unwrap()];
    let err = read_orders(&m, "t.x12", cut.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("IEA"), "{err}");
    // A 940 read with the 850 mapping: each set is rejected, nothing is sent.
    let result = read_orders(&m, "w.x12", fixture("fulfillment_orders.x12").as_bytes()).unwrap();
    assert!(result.orders.is_empty());
    assert_eq!(result.rejections[0].field.as_deref(), Some("ST01"));
    // A transaction set cut short before its SE.
    let text = fixture("purchase_orders.x12").replacen("CTT*2~\nSE*11*0001~\n", "", 1);
    let result = read_orders(&m, "s.x12", text.as_bytes()).unwrap();
    assert_eq!(numbers(&result), ["PO-20002"]);
    assert_eq!(result.rejections[0].field.as_deref(), Some("SE"));
}

#[test]
fn x12_loop_without_its_line_segment() {
    let text = fixture("fulfillment_orders.x12").replacen("W01*1*EA**VN*RAIL-KIT-1U~", "W20*1~", 1);
    let result = read("fulfillment_orders.x12.toml", "w.x12", &text);
    assert!(result.orders.is_empty());
    assert!(
        result.rejections[0].reason.contains("no W01"),
        "{:?}",
        result.rejections
    );
    assert_eq!(result.rejections[0].line, 13);
}

// ---- mapping errors ----

#[test]
fn unknown_api_field_in_a_mapping() {
    let text = std::fs::read_to_string(root().join("mappings/fulfillment_orders.csv.toml"))
        .unwrap()
        .replace(
            "[fields.ship_to]",
            "carrier = { column = \"Ship Method\" }\n\n[fields.ship_to]",
        );
    let err = Mapping::parse(&text, "fo.toml").unwrap_err().to_string();
    assert!(
        err.contains("fo.toml") && err.contains("fields.carrier"),
        "{err}"
    );
    assert!(
        err.contains("ship_method"),
        "lists the writable fields: {err}"
    );
}

#[test]
fn missing_mapping_file_names_its_path() {
    let err = Mapping::load(root().join("mappings/nope.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.toml"), "{err}");
}

// ---- speed ----

#[test]
fn csv_duplicate_line_numbers_reject_the_order() {
    let text = fixture("purchase_orders.csv").replace("US,12/01/2026,3,", "US,12/01/2026,2,");
    let result = read("purchase_orders.csv.toml", "l.csv", &text);
    assert_eq!(numbers(&result), ["PO-10001"]);
    let r = &result.rejections[0];
    assert_eq!(
        (r.line, r.field.as_deref()),
        (6, Some("lines[].line_number"))
    );
    assert!(r.reason.contains("also on line 5"), "{r}");
}

#[test]
fn lines_are_numbered_when_the_mapping_does_not_say() {
    let text = std::fs::read_to_string(root().join("mappings/fulfillment_orders.x12.toml"))
        .unwrap()
        .replace("line_number = { ref = \"LX01\", type = \"integer\" }", "");
    let m = Mapping::parse(&text, "fo.toml").unwrap();
    let x12 = fixture("fulfillment_orders.x12").replace("LX*2~", "LX*7~");
    let result = read_orders(&m, "f.x12", x12.as_bytes()).unwrap();
    assert_eq!(body(&result.orders[0]), so_60001());
}

#[test]
fn x12_file_with_two_interchanges() {
    let po = fixture("purchase_orders.x12");
    let other = reseparate(&po, false).replace("PO-2000", "PO-3000");
    let result = read(
        "purchase_orders.x12.toml",
        "two.x12",
        &format!("{po}{other}"),
    );
    assert!(result.rejections.is_empty(), "{:?}", result.rejections);
    assert_eq!(
        numbers(&result),
        ["PO-20001", "PO-20002", "PO-30001", "PO-30002"]
    );
    assert_eq!(result.orders[2].line, 29);
}

/// Mangled files never panic the reader: every outcome is orders, rejections or an error.
#[test]
fn mangled_files_do_not_panic() {
    let cases = [
        ("purchase_orders.csv.toml", fixture("purchase_orders.csv")),
        (
            "fulfillment_orders.csv.toml",
            fixture("fulfillment_orders.csv"),
        ),
        ("purchase_orders.x12.toml", fixture("purchase_orders.x12")),
        (
            "fulfillment_orders.x12.toml",
            fixture("fulfillment_orders.x12"),
        ),
    ];
    let alphabet = b"*~>|^,\"\r\n 0-9.AZ\xff\xef\xbb\xbf";
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: usize| {
        // xorshift: deterministic, so a failure can be replayed.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for (mapping_name, text) in &cases {
        let m = mapping(mapping_name);
        for _ in 0..400 {
            let mut bytes = text.as_bytes().to_vec();
            for _ in 0..1 + next(6) {
                let at = next(bytes.len() + 1);
                match next(3) {
                    0 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    1 if at < bytes.len() => bytes[at] = alphabet[next(alphabet.len())],
                    _ => bytes.insert(at, alphabet[next(alphabet.len())]),
                }
            }
            let cut = if next(10) == 0 {
                next(bytes.len() + 1)
            } else {
                bytes.len()
            };
            let _ = read_orders(&m, "mangled", &bytes[..cut]);
        }
    }
}
