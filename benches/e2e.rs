//! End-to-end benchmarks: whole pulls, pushes and webhook deliveries against a sandbox running
//! in its own process (so its cost is not charged to the engine), measured as users run them.
//!
//! Run all: `cargo bench --bench e2e`; one: `cargo bench --bench e2e -- pull` (scenarios: pull,
//! push, webhooks, webhooks-idle, ratelimit, outbox). Sizes: `E2E_ITEMS` (default 249994
//! generated items, i.e. 1,000,000 inventory rows), `E2E_RUNS` (default 3; medians are
//! reported), `E2E_ORDERS` (default 10000), `E2E_DELIVERIES` (default 20000), `E2E_CHANGES`
//! (default 100000). `ratelimit` takes `E2E_RATE` (default 25 requests/s), `E2E_BURST` (default
//! 25) and `E2E_BASELINE_BIN` (another ahead-sync binary, e.g. an earlier release, measured
//! beside this one). Every figure is printed with the target it is held to; BENCHMARKS.md
//! records the latest ones.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ahead_sync::api::retry::RetryPolicy;
use ahead_sync::api::{pages, ApiClient, ClientConfig, Query};
use ahead_sync::pull::diff::Head;
use ahead_sync::pull::StreamKind;
use ahead_sync::secret::Secret;
use ahead_sync::store::{fingerprint, Change, ChangeKind, PageWrite, Store, Upsert};
use futures::StreamExt;
use serde_json::value::RawValue;

// The allocator the binary uses (see src/main.rs), so these figures are the binary's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BIN: &str = env!("CARGO_BIN_EXE_ahead-sync");
const CLIENT_ID: &str = "bench-client";
const CLIENT_SECRET: &str = "bench-secret";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Peak resident set size, in MB, of the largest child process waited for so far.
fn children_peak_rss_mb() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

struct Sandbox {
    child: Child,
    url: String,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `ahead-sync sandbox` on a free port and read its URL from its first line.
fn start_sandbox(items: usize) -> Sandbox {
    let mut child = Command::new(BIN)
        .args([
            "sandbox",
            "--bind",
            "127.0.0.1:0",
            "--items",
            &items.to_string(),
        ])
        .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the sandbox starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the sandbox prints its URL")
        .to_string();
    Sandbox { child, url }
}

fn write_config(dir: &Path, url: &str, extra: &str) -> PathBuf {
    let path = dir.join("ahead-sync.toml");
    std::fs::write(
        &path,
        format!(
            "[api]\nbase_url = \"{url}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
             page_size = 1000\nconcurrency = 4\n{extra}\n[store]\npath = \"ahead-sync.db\"\n"
        ),
    )
    .unwrap();
    path
}

fn client(url: &str, store: &Store, concurrency: usize) -> ApiClient {
    ApiClient::new(
        ClientConfig {
            base_url: url.parse().unwrap(),
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new(CLIENT_SECRET),
            redirect_uri: None,
            token_key: "bench".into(),
            mbx: None,
            timeout: Duration::from_secs(60),
            concurrency,
            page_size: 1000,
            refresh_margin: Duration::from_secs(300),
            retry: RetryPolicy {
                max_attempts: 8,
                base: Duration::from_millis(100),
                max: Duration::from_secs(5),
                max_retry_after: Duration::from_secs(60),
            },
            max_response_bytes: 64 << 20,
            max_requests_per_second: None,
        },
        store.clone(),
    )
    .unwrap()
}

/// Run the binary; returns wall seconds.
fn run_bin(dir: &Path, args: &[&str]) -> f64 {
    run_bin_at(BIN, dir, args)
}

/// Run the binary at `bin`; returns wall seconds.
fn run_bin_at(bin: &str, dir: &Path, args: &[&str]) -> f64 {
    let started = Instant::now();
    let out = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .arg("--no-progress")
        .arg("-q")
        .output()
        .unwrap();
    assert!(
        out.status.success() || out.status.code() == Some(3),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed().as_secs_f64()
}

fn line(name: &str, figure: String, target: &str, met: bool) {
    println!(
        "| {name} | {figure} | {target} | {} |",
        if met { "met" } else { "NOT met" }
    );
}

/// The fetch floor: every page fetched with the engine's client and concurrency, thrown away.
/// Returns (seconds, rows, raw JSON bytes, a sample of item@warehouse keys every `every` rows);
/// with `keep`, the pages too (outside the timing's concern: the floor's own memory).
async fn fetch_floor(
    c: &ApiClient,
    every: usize,
    keep: Option<&mut Vec<Vec<Box<RawValue>>>>,
) -> (f64, u64, u64, Vec<(String, String)>) {
    let mut keep = keep;
    let started = Instant::now();
    let mut s = Box::pin(pages(
        c,
        "/v2/inventory",
        Query::new().order_by("id").limit(1000),
        4,
    ));
    let (mut rows, mut bytes, mut sample) = (0u64, 0u64, Vec::new());
    while let Some(page) = s.next().await {
        let page = page.unwrap();
        if let Some(kept) = keep.as_deref_mut() {
            kept.push(page.rows.clone());
        }
        for row in page.rows {
            rows += 1;
            bytes += row.get().len() as u64;
            if rows.is_multiple_of(every as u64) {
                let v: serde_json::Value = serde_json::from_str(row.get()).unwrap();
                sample.push((
                    v["item_number"].as_str().unwrap().to_string(),
                    v["warehouse"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    (started.elapsed().as_secs_f64(), rows, bytes, sample)
}

fn db_size(dir: &Path) -> u64 {
    ["ahead-sync.db", "ahead-sync.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

async fn bench_pull(runs: usize, items: usize) {
    let sandbox = start_sandbox(items);
    let scratch = tempfile::tempdir().unwrap();
    let store = Store::open(&scratch.path().join("floor.db")).unwrap();
    let c = client(&sandbox.url, &store, 4);
    c.authenticate().await.unwrap();
    let mut floors = Vec::new();
    let mut raw = (0, 0, Vec::new());
    for _ in 0..runs {
        let (secs, rows, bytes, sample) = fetch_floor(&c, 100, None).await;
        floors.push(secs);
        raw = (rows, bytes, sample);
    }
    let floor = median(floors);
    let (rows, raw_bytes, sample) = raw;
    line(
        "sandbox serving pages of 1000 rows (with the client's own cost)",
        format!(
            "{:.0} rows/s ({rows} rows in {floor:.2} s)",
            rows as f64 / floor
        ),
        ">= 500,000 rows/s",
        rows as f64 / floor >= 500_000.0,
    );
    // First pulls, each into an empty store.
    let mut firsts = Vec::new();
    let mut dir = tempfile::tempdir().unwrap();
    for _ in 0..runs {
        dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), &sandbox.url, "");
        firsts.push(run_bin(
            dir.path(),
            &["--config", config.to_str().unwrap(), "pull", "inventory"],
        ));
    }
    let first = median(firsts);
    let rss = children_peak_rss_mb();
    line(
        "first pull, inventory, page_size 1000",
        format!(
            "{first:.2} s = {:.2} x the fetch floor ({floor:.2} s); {:.0} rows/s",
            first / floor,
            rows as f64 / first
        ),
        "<= 1.5 x floor",
        first <= 1.5 * floor,
    );
    line(
        "first pull, peak RSS",
        format!("{rss:.0} MB"),
        "< 150 MB",
        rss < 150.0,
    );
    let size = db_size(dir.path());
    line(
        "store growth: mirror and change log after the first pull",
        format!(
            "{} MB = {:.2} x the raw JSON ({} MB)",
            size >> 20,
            size as f64 / raw_bytes as f64,
            raw_bytes >> 20
        ),
        "< 2 x raw JSON",
        (size as f64) < 2.0 * raw_bytes as f64,
    );
    // No-change full re-pulls of the same store.
    let config = dir.path().join("ahead-sync.toml");
    let db = dir.path().join("ahead-sync.db");
    let mut repulls = Vec::new();
    let mut written = 0;
    for _ in 0..runs {
        repulls.push(run_bin(
            dir.path(),
            &[
                "--config",
                config.to_str().unwrap(),
                "pull",
                "inventory",
                "--full",
            ],
        ));
        written = last_run_stat(&db, "pull inventory", "rows_written");
    }
    let repull = median(repulls);
    line(
        "no-change full re-pull",
        format!(
            "{repull:.2} s = {:.2} x floor; rows written {written} (SQLite change counter)",
            repull / floor
        ),
        "<= 1.2 x floor; zero rows written",
        repull <= 1.2 * floor && written == 0,
    );
    // 1% of the rows change, then an incremental pull.
    let changed = sample.len();
    change_stock(&sandbox.url, &sample).await;
    let inc = run_bin(
        dir.path(),
        &["--config", config.to_str().unwrap(), "pull", "inventory"],
    );
    let updated = last_run_stat(&db, "pull inventory", "updated");
    line(
        "incremental pull after 1% of rows changed",
        format!(
            "{inc:.2} s = {:.1}% of the first pull; {updated} of {changed} changes recorded",
            100.0 * inc / first
        ),
        "< 5% of the first pull",
        inc < 0.05 * first && updated == changed as u64,
    );
    // The store's own floor for that: as many records, spread the same way, each looked up
    // (fingerprint and body) and written back changed with its change row, a transaction per
    // 1000, checkpoints beside the writer; no network, no parsing, no diff.
    let store = Store::open(&db).unwrap();
    let mut picked: Vec<(i64, String)> = Vec::new();
    store
        .for_each_snapshot("inventory", |id, _, body| {
            if id % 100 == 0 {
                picked.push((id, body.to_string()));
            }
            Ok(())
        })
        .unwrap()
        .unwrap();
    let started = Instant::now();
    let checkpoints = store.background_checkpoints().unwrap();
    for chunk in picked.chunks(1000) {
        let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
        let stored = store.stored_for("inventory", &ids, true).unwrap();
        assert_eq!(stored.rows.len(), ids.len());
        let mut write = PageWrite::default();
        for (id, body) in chunk {
            let body = body.replacen("\"quantity_on_hand\":", "\"quantity_on_hand\":9", 1);
            write.changes.push(Change {
                record_id: Some(*id),
                key: format!("#{id}"),
                kind: ChangeKind::Updated,
                fields: "quantity_on_hand".into(),
                before: Some(r#"{"quantity_on_hand":1}"#.into()),
                after: Some(r#"{"quantity_on_hand":91}"#.into()),
                detail: String::new(),
            });
            write.upserts.push(Upsert {
                id: *id,
                hash: fingerprint(&body),
                updated_at: "2026-11-27T00:00:00Z".into(),
                state: String::new(),
                body,
            });
        }
        store
            .write_page("inventory", 1, "2026-11-27T00:00:00Z", &write)
            .unwrap();
    }
    checkpoints.finish().unwrap();
    drop(store);
    let inc_floor = started.elapsed().as_secs_f64();
    println!(
        "| store writes alone: {} records updated in place, no network, no diff \
         | {inc_floor:.2} s = {:.1}% of the first pull; the incremental pull took {:.2} x this \
         | none (what SQLite alone costs) | |",
        picked.len(),
        100.0 * inc_floor / first,
        inc / inc_floor
    );
    // The store's own floor: the same pages written as a first pull writes them (a snapshot
    // and a `created` change per record, a transaction per page, WAL checkpoints beside the
    // writer), from records already parsed and hashed, with no network.
    // Measured last: the pages are held in memory here, and a process started after that would
    // inherit this one's size in its peak RSS.
    let mut kept = Vec::new();
    fetch_floor(&c, 100, Some(&mut kept)).await;
    let writes: Vec<PageWrite> = kept.iter().map(|rows| first_pull_write(rows)).collect();
    drop(kept);
    let mut stores = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let store = Store::open(&dir.path().join("ahead-sync.db")).unwrap();
        let checkpoints = store.background_checkpoints().unwrap();
        for w in &writes {
            store
                .write_page("inventory", 1, "2026-11-27T00:00:00Z", w)
                .unwrap();
        }
        checkpoints.finish().unwrap();
        drop(store);
        stores.push(started.elapsed().as_secs_f64());
    }
    drop(writes);
    let store_floor = median(stores);
    println!(
        "| store writes alone: a first pull's SQLite work, no network, no parsing \
         | {store_floor:.2} s = {:.2} x the fetch floor; the first pull took {:.2} x this \
         | none (what SQLite alone costs) | |",
        store_floor / floor,
        first / store_floor
    );
}

/// What a first pull writes for one page: every record new.
fn first_pull_write(rows: &[Box<RawValue>]) -> PageWrite {
    let mut write = PageWrite::default();
    for raw in rows {
        let head = Head::parse(raw.get()).unwrap();
        let key = StreamKind::Inventory.key(&head);
        write.changes.push(Change::whole(
            ChangeKind::Created,
            Some(head.id),
            key,
            String::new(),
        ));
        write.upserts.push(Upsert {
            id: head.id,
            hash: fingerprint(raw.get()),
            updated_at: head.updated_at.as_deref().unwrap_or("").to_string(),
            state: String::new(),
            body: raw.get().to_string(),
        });
    }
    write
}

fn last_run_stat(db: &Path, job: &str, stat: &str) -> u64 {
    let store = Store::open(db).unwrap();
    let runs = store.job_summaries().unwrap();
    let (last, _) = runs.iter().find(|(r, _)| r.job == job).unwrap();
    serde_json::to_value(&last.stats).unwrap()[stat]
        .as_u64()
        .unwrap_or(0)
}

async fn change_stock(url: &str, rows: &[(String, String)]) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    futures::stream::iter(rows.iter().enumerate().map(|(i, (item, wh))| {
        let http = http.clone();
        let body =
            serde_json::json!({"item_number": item, "warehouse": wh, "on_hand": 100_000 + i});
        async move {
            let r = http
                .post(format!("{url}/_sandbox/world/stock"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
    }))
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await;
}

/// One pull of about 100 pages against a sandbox whose token bucket allows `rate` requests a
/// second with bursts of `burst`: (wall seconds, requests answered, of which 429).
async fn rate_limited_pull(bin: &str, rate: f64, burst: f64, extra: &str) -> (f64, u64, u64) {
    // 2494 generated items are 10,000 inventory rows: 101 pages of 100 (each page after the
    // first overlaps the one before by a row), plus the two token calls.
    let sandbox = start_sandbox(2494);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/_sandbox/faults", sandbox.url))
        .json(&serde_json::json!({"token_bucket": {"per_second": rate, "burst": burst}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ahead-sync.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nbase_url = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
             page_size = 100\nconcurrency = 4\nmax_retry_after_secs = 60\nmax_attempts = 20\n{extra}\n\
             [store]\npath = \"ahead-sync.db\"\n",
            sandbox.url
        ),
    )
    .unwrap();
    let secs = {
        let (bin, dir, config) = (bin.to_string(), dir.path().to_path_buf(), config.clone());
        tokio::task::spawn_blocking(move || {
            run_bin_at(
                &bin,
                &dir,
                &["--config", config.to_str().unwrap(), "pull", "inventory"],
            )
        })
        .await
        .unwrap()
    };
    let counters: serde_json::Value = http
        .get(format!("{}/_sandbox/counters", sandbox.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let requests: u64 = counters["requests"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.contains(" /v2/") || k.contains(" /oauth/"))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum();
    (secs, requests, counters["rate_limited"].as_u64().unwrap())
}

/// A 100-page pull at a rate limit, with the limit configured and without it (and, with
/// `E2E_BASELINE_BIN`, with another binary). The floor is what the limit allows: the requests
/// that were answered (pages and token calls) at `rate` a second.
async fn bench_ratelimit(runs: usize) {
    let rate = env_usize("E2E_RATE", 25) as f64;
    let burst = env_usize("E2E_BURST", 25) as f64;
    let baseline = std::env::var("E2E_BASELINE_BIN").ok();
    let known = format!("max_requests_per_second = {rate}\n");
    let mut variants: Vec<(String, String, String, f64, f64)> = vec![
        ("limit configured".into(), BIN.into(), known, 1.25, 0.02),
        (
            "limit not configured".into(),
            BIN.into(),
            String::new(),
            1.6,
            0.10,
        ),
    ];
    if let Some(bin) = baseline {
        variants.push((
            "limit not configured, baseline binary".into(),
            bin,
            String::new(),
            1.6,
            0.10,
        ));
    }
    let mut figures: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); variants.len()];
    // Runs interleave the variants, so a busy moment of the machine falls on all of them.
    for _ in 0..runs {
        for (i, (_, bin, extra, _, _)) in variants.iter().enumerate() {
            let (secs, requests, limited) = rate_limited_pull(bin, rate, burst, extra).await;
            let floor = (requests - limited) as f64 / rate;
            figures[i].push((secs / floor, limited as f64 / requests as f64, secs));
        }
    }
    for ((name, _, _, time_target, share_target), f) in variants.iter().zip(figures) {
        let ratio = median(f.iter().map(|x| x.0).collect());
        let share = median(f.iter().map(|x| x.1).collect());
        let secs = median(f.iter().map(|x| x.2).collect());
        let each: Vec<String> = f
            .iter()
            .map(|x| format!("{:.2}x/{:.1}%", x.0, x.1 * 100.0))
            .collect();
        line(
            &format!("100-page pull at {rate}/s (burst {burst}), {name}"),
            format!(
                "{secs:.2} s = {ratio:.2} x the floor, {:.1}% answered 429 (runs: {})",
                share * 100.0,
                each.join(", ")
            ),
            &format!(
                "<= {time_target} x floor, <= {:.0}% 429",
                share_target * 100.0
            ),
            ratio <= *time_target && share <= *share_target,
        );
    }
}

fn orders_csv(prefix: &str, n: usize) -> String {
    let mut csv = String::from("PO Number,Order Date,Vendor,Ship To Name,Ship To Company,Ship To Address 1,Ship To Address 2,Ship To City,Ship To State,Ship To Zip,Ship To Country,Requested Ship Date,Line,Item,Quantity,Unit Cost,Memo\n");
    for i in 0..n {
        csv.push_str(&format!(
            "{prefix}{i:06},11/02/2026,AHEAD,Dock,Acme,1 Way,,Reno,NV,89501,US,11/20/2026,1,PSU-800W,{},99.00,\n",
            i % 9 + 1
        ));
    }
    csv
}

async fn bench_push(runs: usize, n: usize) {
    let mapping_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/purchase_orders.csv.toml");
    let mapping = ahead_sync::mapping::Mapping::load(&mapping_path).unwrap();
    let mut pushes = Vec::new();
    let mut raws = Vec::new();
    for run in 0..runs {
        // A fresh sandbox each run, so both sides create into the same amount of data.
        let sandbox = start_sandbox(200);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ahead-sync.db")).unwrap();
        let c = client(&sandbox.url, &store, 8);
        c.authenticate().await.unwrap();
        // Raw: the same bodies POSTed with the same client at concurrency 8, nothing else.
        let raw_file = dir.path().join("raw.csv");
        std::fs::write(&raw_file, orders_csv(&format!("RAW{run}-"), n)).unwrap();
        let read = ahead_sync::mapping::read_orders(
            &mapping,
            "raw.csv",
            &std::fs::read(&raw_file).unwrap(),
        )
        .unwrap();
        let raw = || async {
            let started = Instant::now();
            futures::stream::iter(read.orders.iter().map(|o| {
                let c = c.clone();
                async move { c.post("/v2/purchase_orders", &o.body).await.unwrap() }
            }))
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
            started.elapsed().as_secs_f64()
        };
        // The engine: read, map, validate, check the catalog, ledger, send.
        let file = dir.path().join("orders.csv");
        std::fs::write(&file, orders_csv(&format!("ENG{run}-"), n)).unwrap();
        let run_id = store.begin_run("push", "", 0).unwrap();
        let input = ahead_sync::push::InputFile {
            path: file,
            from_inbox: false,
        };
        let engine = || async {
            let started = Instant::now();
            let report = ahead_sync::push::push(
                &c,
                &store,
                run_id,
                &mapping,
                std::slice::from_ref(&input),
                &ahead_sync::push::PushOptions {
                    dry_run: false,
                    concurrency: 8,
                    settle: Duration::ZERO,
                },
                &mut ahead_sync::push::Collected::default(),
            )
            .await
            .unwrap();
            assert_eq!(report.stats.created as usize, n);
            started.elapsed().as_secs_f64()
        };
        // Whichever goes second creates into a fuller sandbox: alternate.
        if run % 2 == 0 {
            raws.push(raw().await);
            pushes.push(engine().await);
        } else {
            pushes.push(engine().await);
            raws.push(raw().await);
        }
    }
    // Each run's ratio is taken against the raw side of the same run (same fresh sandbox, same
    // moment); the median of those ratios is the figure.
    let ratio = median(pushes.iter().zip(&raws).map(|(p, r)| p / r).collect());
    let (push, raw) = (median(pushes), median(raws));
    line(
        &format!("push of {n} orders at concurrency 8"),
        format!(
            "overhead {:.0}% (median of {runs} runs' ratios); medians {push:.2} s vs {raw:.2} s raw",
            100.0 * (ratio - 1.0)
        ),
        "< 20% over raw POSTs",
        ratio < 1.2,
    );
}

/// Signed deliveries at 64 in flight. With `idle` > 0, that many connections that send nothing
/// are held open for the whole run, against a receiver limited to 1,024 file descriptors (the
/// usual default), so the idle connections alone would take nearly all of them.
async fn bench_webhooks(n: usize, idle: usize) {
    let dir = tempfile::tempdir().unwrap();
    let secret = "bench-webhook-secret";
    // Long enough that no idle connection is closed for silence during the run.
    let header_timeout = if idle > 0 {
        "header_timeout_secs = 300\n"
    } else {
        ""
    };
    std::fs::write(
        dir.path().join("ahead-sync.toml"),
        format!(
            "[webhooks]\nsecret = \"{secret}\"\n{header_timeout}[store]\npath = \"ahead-sync.db\"\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(BIN);
    command
        .current_dir(dir.path())
        .args([
            "--log-format",
            "json",
            "webhooks",
            "serve",
            "--bind",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped());
    if idle > 0 {
        raise_fd_limit(idle as u64 + 1024);
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
        unsafe {
            command.pre_exec(|| {
                let rl = libc::rlimit {
                    rlim_cur: 1024,
                    rlim_max: 1024,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let v: serde_json::Value =
            serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap_or_default();
        if v["message"] == "Webhook receiver listening." {
            break v["address"].as_str().unwrap().to_string();
        }
    };
    let mut held = Vec::with_capacity(idle);
    for _ in 0..idle {
        held.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    std::thread::spawn(move || for _ in lines {});
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let url = format!("http://{address}/webhooks/ahead");
    // Bodies are signed beforehand: the generator's own cost stays out of the receiver's figure.
    let bodies: Vec<(Vec<u8>, String)> = (0..n)
        .map(|i| {
            let body = serde_json::to_vec(&serde_json::json!({
                "id": format!("evt_{i}"), "event": "fulfillment_order.updated", "created_at": "2026-11-01T00:00:00Z",
                "data": {"id": i + 1, "order_number": format!("SO-{i}"), "status": "released", "lines": [],
                         "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-01T10:00:00Z"}
            }))
            .unwrap();
            let sig = ahead_sync::webhooks::verify::sign(secret.as_bytes(), &body);
            (body, sig)
        })
        .collect();
    let started = Instant::now();
    let answers: Vec<(bool, Duration)> =
        futures::stream::iter(bodies.into_iter().map(|(body, sig)| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let sent = Instant::now();
                let r = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-ahead-signature", sig)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                (r.status().is_success(), sent.elapsed())
            }
        }))
        .buffer_unordered(64)
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64();
    let ok = answers.iter().filter(|(ok, _)| *ok).count();
    let mut latencies: Vec<Duration> = answers.into_iter().map(|(_, d)| d).collect();
    latencies.sort();
    let ms = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let store = Store::open(&dir.path().join("ahead-sync.db")).unwrap();
    let stored: u64 = store.event_states().unwrap().iter().map(|(_, n)| n).sum();
    drop(held);
    let held = if idle > 0 {
        format!(", {idle} idle connections held open, receiver at 1,024 fds")
    } else {
        String::new()
    };
    line(
        &format!("signed webhook deliveries, {n} at 64 in flight{held}"),
        format!(
            "{:.0} deliveries/s, latency p50 {:.1} ms, p99 {:.1} ms; {ok} acknowledged, {stored} stored",
            n as f64 / secs,
            ms(0.5),
            ms(0.99)
        ),
        if idle > 0 {
            "p99 < 100 ms, none lost or doubled"
        } else {
            ">= 2,000/s, none lost or doubled"
        },
        if idle > 0 {
            ms(0.99) < 100.0
        } else {
            n as f64 / secs >= 2000.0
        } && ok == n
            && stored == n as u64,
    );
}

/// Raise this process's soft RLIMIT_NOFILE to at least `needed`, within the hard limit.
fn raise_fd_limit(needed: u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        if rl.rlim_cur < needed as libc::rlim_t {
            rl.rlim_cur = (needed as libc::rlim_t).min(rl.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

/// Run the binary and reap it with `wait4`, for its own peak RSS (MB) beside its wall seconds.
// Reaped by `wait4`, which `Child::wait` cannot do with the child's own rusage.
#[allow(clippy::zombie_processes)]
fn run_bin_rss(dir: &Path, args: &[&str]) -> (f64, f64) {
    let started = Instant::now();
    let child = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .arg("--no-progress")
        .arg("-q")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(pid, child.id() as i32);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{args:?} exited {status}"
    );
    (secs, usage.ru_maxrss as f64 / 1024.0)
}

/// Medians of one outbox scenario: seconds and peak RSS of the delivery, seconds of a run with
/// nothing new.
struct OutboxFigures {
    secs: f64,
    rss_mb: f64,
    again_secs: f64,
}

/// `changes` inventory changes (from a first pull of as many rows) delivered by fresh outboxes
/// of `mapping`, `runs` times; each run checked: every change delivered, 1,000 per file, and a
/// second run writes no file.
fn outbox_figures(runs: usize, changes: usize, mapping: &str) -> OutboxFigures {
    // The sandbox's fixed catalog has 6 items; each item has a row in 4 warehouses.
    let sandbox = start_sandbox(changes / 4 - 6);
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sections = String::new();
    for r in 0..runs {
        sections.push_str(&format!(
            "[outbox.o{r}]\nstream = \"inventory\"\nmapping = \"{}\"\ndir = \"out/o{r}\"\n",
            repo.join("mappings/outbox").join(mapping).display()
        ));
    }
    let config = write_config(dir, &sandbox.url, &sections);
    let config = config.to_str().unwrap();
    run_bin(dir, &["--config", config, "pull", "inventory"]);
    let db = dir.join("ahead-sync.db");
    let (mut secs, mut rss, mut again) = (Vec::new(), Vec::new(), Vec::new());
    let count = |outbox: &str| {
        std::fs::read_dir(dir.join("out").join(outbox))
            .unwrap()
            .count()
    };
    for r in 0..runs {
        let outbox = format!("o{r}");
        let (s, m) = run_bin_rss(dir, &["--config", config, "outbox", &outbox]);
        secs.push(s);
        rss.push(m);
        let delivered = last_run_stat(&db, &format!("outbox {outbox}"), "changes_delivered");
        assert_eq!(
            delivered as usize, changes,
            "{outbox} delivered every change"
        );
        let files = count(&outbox);
        assert_eq!(files, changes.div_ceil(1000));
        let (s, _) = run_bin_rss(dir, &["--config", config, "outbox", &outbox]);
        again.push(s);
        assert_eq!(count(&outbox), files, "nothing new: no file");
    }
    OutboxFigures {
        secs: median(secs),
        rss_mb: median(rss),
        again_secs: median(again),
    }
}

/// Outboxes: `E2E_CHANGES` inventory changes (default 100,000) delivered as CSV and as X12 846,
/// 1,000 changes per file, beside a tenth as many (memory must not grow with the backlog).
async fn bench_outbox(runs: usize, changes: usize) {
    for (mapping, label) in [
        ("inventory.csv.toml", "CSV"),
        ("inventory.x12-846.toml", "X12 846"),
    ] {
        let small = outbox_figures(runs, changes / 10, mapping);
        let big = outbox_figures(runs, changes, mapping);
        line(
            &format!("outbox, {changes} inventory changes as {label} (1,000 per file)"),
            format!(
                "{:.2} s = {:.0} changes/s; peak RSS {:.0} MB ({} changes: {:.2} s, {:.0} MB)",
                big.secs,
                changes as f64 / big.secs,
                big.rss_mb,
                changes / 10,
                small.secs,
                small.rss_mb
            ),
            // Each batch is 1,000 changes whatever the backlog; what grows is SQLite's page
            // cache, up to its 32 MiB cap (store/mod.rs), as more of the file is read.
            "peak RSS ≤ a tenth of the backlog's + SQLite's 32 MiB page cache",
            big.rss_mb <= small.rss_mb + 32.0 * 1.048_576,
        );
        line(
            &format!("outbox {label} again, nothing new"),
            format!("{:.3} s, no file written", big.again_secs),
            "< 0.5 s",
            big.again_secs < 0.5,
        );
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; anything else names scenarios.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let runs = env_usize("E2E_RUNS", 3);
    println!("| benchmark | figure | target | |");
    println!("|---|---|---|---|");
    if run("pull") {
        bench_pull(runs, env_usize("E2E_ITEMS", 249_994)).await;
    }
    if run("push") {
        bench_push(runs, env_usize("E2E_ORDERS", 10_000)).await;
    }
    if run("webhooks") {
        bench_webhooks(env_usize("E2E_DELIVERIES", 20_000), 0).await;
    }
    if run("webhooks-idle") {
        bench_webhooks(env_usize("E2E_DELIVERIES", 20_000), 1000).await;
    }
    if run("ratelimit") {
        bench_ratelimit(runs).await;
    }
    if run("outbox") {
        bench_outbox(runs, env_usize("E2E_CHANGES", 100_000)).await;
    }
}
