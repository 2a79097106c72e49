//! `/metrics` scraped from `webhooks serve` and from the daemon's `[metrics] bind`, and parsed
//! as the Prometheus text format.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::util::{cmd, text};

/// A sample: the family name and its labels.
type Key = (String, BTreeMap<String, String>);

/// Parse the Prometheus text format (0.0.4) strictly: every sample's family has a TYPE before
/// it, names and labels are well formed, no series twice, values are numbers.
fn parse(body: &str) -> (HashMap<String, String>, HashMap<Key, f64>) {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut types = HashMap::new();
    let mut helps = HashSet::new();
    let mut samples = HashMap::new();
    for line in body.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(name_ok(name) && !help.is_empty(), "{line}");
            assert!(helps.insert(name.to_string()), "HELP twice: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "TYPE twice: {line}"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "an unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                (name.to_string(), parse_labels(inner, line))
            }
        };
        assert!(name_ok(&name), "{line}");
        assert!(
            types.contains_key(&name),
            "a sample before its TYPE: {line}"
        );
        if types[&name] == "counter" {
            assert!(name.ends_with("_total") && value >= 0.0, "{line}");
        }
        assert!(
            samples.insert((name, labels), value).is_none(),
            "a series twice: {line}"
        );
    }
    (types, samples)
}

fn parse_labels(inner: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = inner.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c @ ('\\' | '"')) => value.push(c),
                    other => panic!("bad escape {other:?}: {line}"),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => panic!("unterminated label: {line}"),
            }
        }
        assert!(labels.insert(key, value).is_none(), "{line}");
        match chars.next() {
            Some(',') | None => {}
            other => panic!("after a label {other:?}: {line}"),
        }
    }
    labels
}

fn get(samples: &HashMap<Key, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let key = (
        name.to_string(),
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    *samples
        .get(&key)
        .unwrap_or_else(|| panic!("no {name}{labels:?} in {:?}", samples.keys()))
}

/// Start `args` in `dir` logging JSON, and read its log until `message`; that line's address.
pub(crate) fn start(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    message: &str,
) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ahead-sync"));
    command
        .current_dir(dir)
        .args(["--log-format", "json"])
        .args(args)
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("AHEAD_SYNC") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().unwrap();
    let address = address_of(&mut child, message);
    (child, address)
}

fn address_of(child: &mut Child, message: &str) -> String {
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("it stopped before logging {message:?}"))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == message {
            // Keep draining its log, so that it never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return v["address"].as_str().unwrap().to_string();
        }
    }
}

pub(crate) fn stop(mut child: Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

async fn scrape(address: &str) -> String {
    let answer = crate::util::http()
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let kind = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    answer.text().await.unwrap()
}

#[tokio::test]
async fn the_receiver_and_the_daemon_serve_metrics_of_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    assert!(cmd(work, &["init"]).status.success());
    let before = chrono::Utc::now().timestamp();
    let out = cmd(work, &["sync"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let secret = [("AHEAD_SYNC__WEBHOOKS__SECRET", "metrics-test-secret")];
    let (receiver, address) = start(
        work,
        &["webhooks", "serve", "--bind", "127.0.0.1:0"],
        &secret,
        "Webhook receiver listening.",
    );
    // One delivery with a wrong signature: refused, and counted.
    let refused = crate::util::http()
        .post(format!("http://{address}/webhooks/ahead"))
        .header("content-type", "application/json")
        .header("x-ahead-signature", "sha256=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let (types, samples) = parse(&scrape(&address).await);
    stop(receiver);

    for family in [
        "ahead_sync_runs_total",
        "ahead_sync_last_success_timestamp_seconds",
        "ahead_sync_rows_read_total",
        "ahead_sync_rows_written_total",
        "ahead_sync_requests_total",
        "ahead_sync_retries_total",
        "ahead_sync_rate_limited_total",
        "ahead_sync_webhook_deliveries_total",
    ] {
        assert!(types.contains_key(family), "{family}");
    }
    let inventory = [("job", "pull inventory")];
    assert_eq!(
        get(
            &samples,
            "ahead_sync_runs_total",
            &[("job", "pull inventory"), ("outcome", "ok")]
        ),
        1.0
    );
    // The sandbox's 206 items in 4 warehouses, all new.
    assert_eq!(
        get(&samples, "ahead_sync_rows_read_total", &inventory),
        824.0
    );
    assert_eq!(
        get(
            &samples,
            "ahead_sync_rows_written_total",
            &[("job", "pull inventory"), ("change", "created")]
        ),
        824.0
    );
    assert_eq!(
        get(
            &samples,
            "ahead_sync_rows_written_total",
            &[("job", "push purchase_orders"), ("change", "created")]
        ),
        2.0
    );
    assert!(get(&samples, "ahead_sync_requests_total", &inventory) >= 1.0);
    assert_eq!(
        get(&samples, "ahead_sync_rate_limited_total", &inventory),
        0.0
    );
    let at = get(
        &samples,
        "ahead_sync_last_success_timestamp_seconds",
        &[("job", "pull invoices")],
    );
    assert!(
        at >= before as f64 && at <= chrono::Utc::now().timestamp() as f64,
        "{at}"
    );
    assert_eq!(
        get(
            &samples,
            "ahead_sync_webhook_deliveries_total",
            &[("result", "received")]
        ),
        1.0
    );
    assert_eq!(
        get(
            &samples,
            "ahead_sync_webhook_deliveries_total",
            &[("result", "rejected"), ("reason", "bad_signature")]
        ),
        1.0
    );

    // The daemon, on [metrics] bind: the same store, so the same runs, and its own receiver's
    // run among them now.
    let (daemon, address) = start(
        work,
        &["daemon"],
        &[("AHEAD_SYNC__METRICS__BIND", "127.0.0.1:0")],
        "Metrics listening.",
    );
    let (_, samples) = parse(&scrape(&address).await);
    stop(daemon);
    assert_eq!(
        get(
            &samples,
            "ahead_sync_runs_total",
            &[("job", "pull inventory"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        get(
            &samples,
            "ahead_sync_runs_total",
            &[("job", "webhooks serve"), ("outcome", "ok")]
        ),
        1.0
    );
}

#[test]
fn the_parser_refuses_what_prometheus_would() {
    for bad in [
        "ahead_sync_x_total 1\n",
        "# TYPE a counter\na{job=\"x} 1\n",
        "# TYPE a_total counter\na_total{job=\"x\"} many\n",
        "# TYPE a_total counter\na_total 1\na_total 2\n",
    ] {
        assert!(std::panic::catch_unwind(|| parse(bad)).is_err(), "{bad:?}");
    }
}
