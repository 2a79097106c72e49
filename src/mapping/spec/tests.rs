//! The compile step as a user meets it: mapping text in, a `Mapping` or the error it gives.

use super::*;

fn parse(text: &str) -> Result<Mapping, MappingError> {
    Mapping::parse(text, "test.toml")
}

const CSV_HEAD: &str = "kind = \"purchase_order\"\n[source]\nformat = \"csv\"\ngroup_by = \"PO\"\n";

fn csv_mapping(fields: &str) -> Result<Mapping, MappingError> {
    parse(&format!("{CSV_HEAD}[fields]\n{fields}"))
}

const MIN: &str = "po_number = { column = \"PO\" }\n\"lines[].item_number\" = { column = \"Item\" }\n\"lines[].quantity\" = { column = \"Qty\" }\n";

#[test]
fn minimal_mapping_compiles_with_contract_order() {
    let m = csv_mapping(MIN).unwrap();
    let names: Vec<_> = m.fields.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        ["po_number", "lines[].item_number", "lines[].quantity"]
    );
    assert!(m.fields.iter().all(|f| f.required));
    assert_eq!(m.on_error, OnError::SkipRow);
}

#[test]
fn sub_tables_and_quoted_keys_are_the_same() {
    let text = format!(
        "{CSV_HEAD}[fields]\npo_number = {{ column = \"PO\" }}\n[fields.ship_to]\ncity = {{ column = \"City\" }}\n[fields.lines]\nitem_number = {{ column = \"Item\" }}\nquantity = {{ column = \"Qty\" }}\n"
    );
    let m = parse(&text).unwrap();
    assert!(m.field("ship_to.city").is_some());
    assert!(m.field("lines[].quantity").is_some());
}

fn err(fields: &str) -> String {
    csv_mapping(fields).unwrap_err().to_string()
}

#[test]
fn unknown_and_read_only_fields_are_refused() {
    let e = err(&format!("{MIN}status = {{ column = \"S\" }}\n"));
    assert!(
        e.contains("fields.status") && e.contains("not a field a client may write"),
        "{e}"
    );
    let e = err(&format!("{MIN}\"lines[].amount\" = {{ column = \"A\" }}\n"));
    assert!(e.contains("lines[].amount"), "{e}");
    // ship_method belongs to fulfillment orders only.
    let e = err(&format!("{MIN}ship_method = {{ column = \"M\" }}\n"));
    assert!(e.contains("ship_method"), "{e}");
}

#[test]
fn bad_types_formats_and_keys_are_refused() {
    let e = err(&format!(
        "{MIN}order_date = {{ column = \"D\", type = \"datetime\" }}\n"
    ));
    assert!(
        e.contains("fields.order_date.type") && e.contains("unknown type"),
        "{e}"
    );
    let e = err(&format!(
        "{MIN}order_date = {{ column = \"D\", type = \"date\", format = \"%m/%d\" }}\n"
    ));
    assert!(e.contains("whole date"), "{e}");
    let e = err(&format!(
        "{MIN}order_date = {{ column = \"D\", format = \"%Q-%m\" }}\n"
    ));
    assert!(e.contains("not a valid date format"), "{e}");
    let e = err(&format!(
        "{MIN}order_date = {{ column = \"D\", type = \"string\" }}\n"
    ));
    assert!(e.contains("date in the AHEAD API"), "{e}");
    let e = err(&format!("{MIN}notes = {{ colum = \"N\" }}\n"));
    assert!(e.contains("fields.notes") && e.contains("colum"), "{e}");
    let e = err(&format!(
        "{MIN}notes = {{ column = \"N\", case = \"title\" }}\n"
    ));
    assert!(e.contains("fields.notes.case"), "{e}");
    let e = err(&format!("{MIN}notes = {{ ref = \"BEG03\" }}\n"));
    assert!(e.contains("X12"), "{e}");
    let e = err(&format!("{MIN}currency = {{ default = 1.5 }}\n"));
    assert!(e.contains("strings"), "{e}");
    let e = err(&format!(
        "{MIN}\"lines[].unit_price\" = {{ column = \"P\", default = \"abc\" }}\n"
    ));
    assert!(e.contains("default") && e.contains("abc"), "{e}");
    let e = err(&format!("{MIN}notes = {{ required = true }}\n"));
    assert!(e.contains("no source"), "{e}");
}

#[test]
fn order_number_and_lines_must_be_mapped() {
    let e = err("\"lines[].item_number\" = { column = \"Item\" }\n\"lines[].quantity\" = { column = \"Qty\" }\n");
    assert!(
        e.contains("fields.po_number") && e.contains("missing"),
        "{e}"
    );
    let e = err("po_number = { column = \"PO\" }\n");
    assert!(e.contains("lines[].item_number"), "{e}");
}

#[test]
fn the_order_number_cannot_be_a_constant() {
    let e = err("po_number = { default = \"PO-1\" }\n\"lines[].item_number\" = { column = \"Item\" }\n\"lines[].quantity\" = { column = \"Qty\" }\n");
    assert!(
        e.contains("fields.po_number") && e.contains("same number"),
        "{e}"
    );
}

#[test]
fn source_keys_are_checked() {
    let e = parse("kind = \"purchase_order\"\n[source]\nformat = \"csv\"\n[fields]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("source.group_by"), "{e}");
    let e = parse("kind = \"purchase_order\"\n[source]\nformat = \"csv\"\ngroup_by = \"PO\"\nencoding = \"latin1\"\n[fields]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("source.encoding"), "{e}");
    let e = parse("kind = \"purchase_order\"\n[source]\nformat = \"x12\"\ntransaction_set = \"850\"\ngroup_by = \"PO\"\n[fields]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("source.group_by") && e.contains("x12"), "{e}");
    let e = parse("kind = \"sales_order\"\n[source]\nformat = \"csv\"\n[fields]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("kind"), "{e}");
    let e = parse("kind = \"purchase_order\"\nbogus = 1\n[source]\nformat = \"csv\"\n[fields]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("bogus"), "{e}");
}

#[test]
fn ap_ledger_mappings_are_one_record_per_row() {
    let head = "kind = \"ap_ledger\"\n[source]\nformat = \"csv\"\n";
    let m = parse(&format!("{head}[fields]\ninvoice_number = {{ column = \"Inv\" }}\nopen_balance = {{ column = \"Open\" }}\n")).unwrap();
    assert_eq!(m.kind, Target::ApLedger);
    assert!(m.fields.iter().all(|f| f.required));
    let SourceFormat::Csv(source) = &m.source else {
        panic!()
    };
    assert_eq!(source.group_by, None);
    let e = parse(&format!(
        "{head}[fields]\ninvoice_number = {{ column = \"Inv\" }}\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("fields.open_balance") && e.contains("missing"),
        "{e}"
    );
    let e = parse(&format!("{head}group_by = \"Inv\"\n[fields]\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("source.group_by") && e.contains("each row"),
        "{e}"
    );
    let e = parse("kind = \"ap_ledger\"\n[source]\nformat = \"x12\"\n[fields]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("CSV only"), "{e}");
    let e = parse(&format!("{head}[fields]\ninvoice_number = {{ column = \"Inv\" }}\nopen_balance = {{ column = \"Open\" }}\npo_number = {{ column = \"PO\" }}\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not an AP ledger field"), "{e}");
    let shipped = Mapping::load(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/ap_ledger.csv.toml"),
    )
    .unwrap();
    assert_eq!(shipped.kind, Target::ApLedger);
}

#[test]
fn long_form_references() {
    let text = "kind = \"purchase_order\"\n[source]\nformat = \"x12\"\ntransaction_set = \"850\"\nline_loop = \"PO1\"\n[fields]\npo_number = { segment = \"BEG\", element = 3 }\nrequested_ship_date = { segment = \"DTM\", qualifier = \"010\" }\n\"ship_to.city\" = { segment = \"N1\", qualifier = \"ST\" }\n\"ship_to.name\" = { segment = \"N1\", qualifier = \"ST\", element = 3 }\n\"lines[].item_number\" = { segment = \"PO1\", element = 7 }\n\"lines[].quantity\" = { ref = \"PO102\" }\n";
    let m = parse(text).unwrap();
    let src = |name: &str| match &m.field(name).unwrap().source {
        FieldSource::X12(r) => r.to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(src("po_number"), "BEG03");
    assert_eq!(src("requested_ship_date"), "DTM*010/DTM02");
    assert_eq!(src("ship_to.city"), "N1*ST/N401");
    assert_eq!(src("ship_to.name"), "N1*ST/N103");
    assert_eq!(src("lines[].item_number"), "PO107");
}

#[test]
fn a_field_must_be_a_table() {
    let e = err(&format!("{MIN}notes = \"Memo\"\n"));
    assert!(
        e.contains("fields.notes") && e.contains("must be a table"),
        "{e}"
    );
}

#[test]
fn n1_loop_reference_fills_in_address_positions() {
    let text = "kind = \"fulfillment_order\"\n[source]\nformat = \"x12\"\ntransaction_set = \"940\"\nline_loop = \"LX\"\nline_segment = \"W01\"\n[fields]\norder_number = { ref = \"W0502\" }\n\"ship_to.postal_code\" = { ref = \"N1*ST\" }\n\"ship_to.name\" = { ref = \"N1*ST\" }\n\"lines[].item_number\" = { ref = \"W0105\" }\n\"lines[].quantity\" = { ref = \"W0101\" }\n";
    let m = parse(text).unwrap();
    let FieldSource::X12(r) = &m.field("ship_to.postal_code").unwrap().source else {
        panic!()
    };
    assert_eq!((r.segment.as_str(), r.element), ("N4", 3));
    let FieldSource::X12(r) = &m.field("ship_to.name").unwrap().source else {
        panic!()
    };
    assert_eq!((r.segment.as_str(), r.element), ("N1", 2));
}
