//! Inner loops, with criterion: mapping and validation of ERP files (no network), and the
//! per-record work of a pull (parse the head fields, fingerprint the raw JSON).
//!
//! `cargo bench --bench inner`. Throughput is reported per line (CSV), per segment (X12) and
//! per record (diff).

use std::hint::black_box;
use std::path::Path;

use ahead_sync::mapping::{read_orders, Mapping};
use ahead_sync::pull::diff::{fingerprint, Head};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

// The allocator the binary uses (see src/main.rs), so these figures are the binary's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LINES: usize = 100_000;

fn mapping(name: &str) -> Mapping {
    Mapping::load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("mappings")
            .join(name),
    )
    .unwrap()
}

/// 100,000 CSV lines: 50,000 purchase orders of two lines each.
fn csv_file() -> Vec<u8> {
    let mut csv = String::from("PO Number,Order Date,Vendor,Ship To Name,Ship To Company,Ship To Address 1,Ship To Address 2,Ship To City,Ship To State,Ship To Zip,Ship To Country,Requested Ship Date,Line,Item,Quantity,Unit Cost,Memo\n");
    for i in 0..LINES / 2 {
        for line in 1..=2 {
            csv.push_str(&format!(
                "PO-{i:07},11/02/2026,AHEAD,Receiving Dock,Acme Corp,100 Main St,Suite 200,Minneapolis,MN,55401,US,11/20/2026,{line},SRV-1U-X10,{},\"2,150.00\",Rush build\n",
                line + 1
            ));
        }
    }
    csv.into_bytes()
}

/// About 100,000 X12 segments: 850 transaction sets of 10 segments each.
fn x12_file() -> (Vec<u8>, usize) {
    let mut x = String::from("ISA*00*          *00*          *ZZ*ACMECORP       *ZZ*AHEADSYS       *261102*1200*U*00401*000000101*0*P*>~\nGS*PO*ACMECORP*AHEADSYS*20261102*1200*101*X*004010~\n");
    let sets = LINES / 10;
    for i in 0..sets {
        x.push_str(&format!(
            "ST*850*{i:04}~\nBEG*00*SA*PO-{i:07}**20261102~\nDTM*010*20261120~\nN1*ST*Receiving Dock~\nN3*100 Main St*Suite 200~\nN4*Minneapolis*MN*55401*US~\nPO1*1*4*EA*2150.00**VP*SRV-1U-X10~\nPO1*2*4*EA*45.50**VP*RAIL-KIT-1U~\nCTT*2~\nSE*10*{i:04}~\n"
        ));
    }
    x.push_str(&format!("GE*{sets}*101~\nIEA*1*000000101~\n"));
    (x.into_bytes(), sets * 10 + 4)
}

fn page() -> Vec<String> {
    (0..1000)
        .map(|i| {
            format!(
                r#"{{"id":{i},"item_id":{},"item_number":"GEN-{:06}","warehouse":"SEA1","quantity_on_hand":{},"quantity_allocated":3,"quantity_available":{},"quantity_on_order":0,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-03-01T12:00:00Z"}}"#,
                i / 4,
                i / 4,
                i * 7 % 500,
                i * 7 % 500 - 3
            )
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let csv = csv_file();
    let po_csv = mapping("purchase_orders.csv.toml");
    let mut g = c.benchmark_group("mapping");
    g.sample_size(10);
    g.throughput(Throughput::Elements(LINES as u64));
    g.bench_function("csv_100k_lines", |b| {
        b.iter(|| {
            let r = read_orders(&po_csv, "bench.csv", black_box(&csv)).unwrap();
            assert_eq!(r.orders.len(), LINES / 2);
        })
    });
    let (x12, segments) = x12_file();
    let po_x12 = mapping("purchase_orders.x12.toml");
    g.throughput(Throughput::Elements(segments as u64));
    g.bench_function("x12_100k_segments", |b| {
        b.iter(|| {
            let r = read_orders(&po_x12, "bench.x12", black_box(&x12)).unwrap();
            assert_eq!(r.orders.len(), LINES / 10);
        })
    });
    g.finish();

    let rows = page();
    let mut g = c.benchmark_group("pull");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.bench_function("head_and_fingerprint_per_page", |b| {
        b.iter(|| {
            let mut acc = 0i64;
            for row in &rows {
                let head = Head::parse(black_box(row)).unwrap();
                acc ^= fingerprint(row) ^ head.id;
            }
            acc
        })
    });
    // What an unchanged record costs a re-pull: its fingerprint (its id is read from the
    // leading bytes), no parse.
    g.bench_function("fingerprint_per_page", |b| {
        b.iter(|| {
            let mut acc = 0i64;
            for row in &rows {
                acc ^= fingerprint(black_box(row));
            }
            acc
        })
    });
    g.finish();
}

criterion_group!(inner, benches);
criterion_main!(inner);
