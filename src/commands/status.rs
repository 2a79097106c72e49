//! `status [--json]`: what the store says, without contacting AHEAD (fast, safe from monitoring).

use serde_json::{json, Value};

use crate::error::Exit;
use crate::settings::Settings;
use crate::store::{RunRecord, Store};
use crate::time::now_unix;

pub(crate) fn run(settings: &Settings, as_json: bool) -> anyhow::Result<Exit> {
    let store = Store::open(&settings.store_path)?;
    let report = collect(settings, &store)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(Exit::Ok)
}

/// The status as JSON; the text form is printed from the same value, so both say the same.
pub(crate) fn collect(settings: &Settings, store: &Store) -> anyhow::Result<Value> {
    let now = now_unix();
    let token = store.token(&settings.api.token_key())?.map(|t| {
        json!({
            "expires_at": crate::time::from_unix(t.expires_at),
            "expires_in_secs": t.expires_at - now,
            "obtained_at": crate::time::from_unix(t.obtained_at),
        })
    });
    let failures = store.last_failures()?;
    let jobs: Vec<Value> = store
        .job_summaries()?
        .into_iter()
        .map(|(last, success)| {
            let failure = failures.iter().find(|f| f.job == last.job);
            let waiting = if last.job.starts_with("push ") || last.job.starts_with("outbox ") {
                store.rejections_waiting(&last.job).ok()
            } else {
                None
            };
            json!({
                "job": last.job,
                "last_run": run_json(&last),
                "last_success": success.as_ref().map(run_json),
                "last_failure": failure.map(|f| json!({
                    "run": f.id,
                    "started_at": crate::time::from_unix(f.started_at),
                    "outcome": f.outcome,
                    "error": f.error,
                })),
                "rejected_rows_waiting": waiting,
            })
        })
        .collect();
    let streams: Vec<Value> = store
        .stream_states()?
        .into_iter()
        .map(|(stream, wm, records)| {
            json!({
                "stream": stream,
                "records": records,
                "watermark": wm.as_ref().map(|w| w.updated_at.clone()),
                "incremental_pulls_since_full": wm.as_ref().map(|w| w.incrementals),
                "last_full_run": wm.as_ref().and_then(|w| w.last_full_run),
            })
        })
        .collect();
    let counters: serde_json::Map<String, Value> = store
        .counters("webhooks.")?
        .into_iter()
        .map(|(k, v)| {
            (
                k.trim_start_matches("webhooks.").to_string(),
                Value::from(v),
            )
        })
        .collect();
    let events: serde_json::Map<String, Value> = store
        .event_states()?
        .into_iter()
        .map(|(k, v)| (k, Value::from(v)))
        .collect();
    let backlog = store.event_backlog()?;
    let states = store.outbox_states()?;
    let mut outboxes = Vec::new();
    for ob in &settings.outboxes {
        let state = states.iter().find(|s| s.outbox == ob.name);
        let cursor = state.map_or(0, |s| s.cursor);
        outboxes.push(json!({
            "outbox": ob.name,
            "stream": ob.stream.name(),
            "dir": ob.dir.display().to_string(),
            "cursor": cursor,
            "pending": store.outbox_pending(ob.stream.name(), cursor, None, &ob.changes)?,
            "files": state.map_or(0, |s| s.files),
            "changes_delivered": state.map_or(0, |s| s.changes),
            "file_being_finished": store.outbox_open_file(&ob.name)?.map(|f| f.file),
        }));
    }
    Ok(json!({
        "store": settings.store_path.display().to_string(),
        "webhooks": {
            "counters": counters,
            "stored_events": events,
            "pending": backlog.pending,
            "quarantined": backlog.quarantined,
        },
        "api": match &settings.api.base_url {
            crate::settings::BaseUrl::Sandbox => "sandbox".to_string(),
            crate::settings::BaseUrl::Remote(u) => u.to_string(),
        },
        "auth": match &settings.api.auth {
            crate::settings::ApiAuth::OAuth2 => json!({"kind": "oauth2"}),
            crate::settings::ApiAuth::MbxSignature { public_token, .. } => {
                json!({"kind": "mbx-signature", "public_token": public_token})
            }
        },
        "token": token,
        "jobs": jobs,
        "streams": streams,
        "outboxes": outboxes,
    }))
}

fn print_outboxes(r: &Value) {
    let Some(list) = r["outboxes"].as_array().filter(|l| !l.is_empty()) else {
        return;
    };
    println!();
    let n = |v: &Value| v.as_i64().unwrap_or(0);
    let width = list
        .iter()
        .map(|o| o["outbox"].as_str().unwrap_or("").len())
        .max()
        .unwrap_or(0)
        .max("OUTBOX".len());
    println!(
        "{:<width$} {:<18} {:>10} {:>8} {:>7} {:>10}  DIR",
        "OUTBOX", "STREAM", "CURSOR", "PENDING", "FILES", "DELIVERED"
    );
    for o in list {
        println!(
            "{:<width$} {:<18} {:>10} {:>8} {:>7} {:>10}  {}{}",
            o["outbox"].as_str().unwrap_or(""),
            o["stream"].as_str().unwrap_or(""),
            n(&o["cursor"]),
            n(&o["pending"]),
            n(&o["files"]),
            n(&o["changes_delivered"]),
            o["dir"].as_str().unwrap_or(""),
            match o["file_being_finished"].as_str() {
                Some(f) => format!(" (interrupted while delivering {f}: the next run finishes it)"),
                None => String::new(),
            }
        );
    }
}

fn run_json(r: &RunRecord) -> Value {
    json!({
        "run": r.id,
        "args": r.args,
        "started_at": crate::time::from_unix(r.started_at),
        "ended_at": r.ended_at.map(crate::time::from_unix),
        "outcome": r.outcome.clone().unwrap_or_else(|| "running or interrupted".into()),
        "stats": r.stats,
    })
}

fn print_text(r: &Value) {
    println!(
        "store: {}   api: {}",
        r["store"].as_str().unwrap_or(""),
        r["api"].as_str().unwrap_or("")
    );
    match r["token"].as_object() {
        None if r["auth"]["kind"] == "mbx-signature" => println!(
            "token: none needed (legacy MBX signing with public token {})",
            r["auth"]["public_token"].as_str().unwrap_or("")
        ),
        Some(t) => println!(
            "token: expires {} ({} min from now)",
            t["expires_at"].as_str().unwrap_or(""),
            t["expires_in_secs"].as_i64().unwrap_or(0) / 60
        ),
        None => println!("token: none stored (run `ahead-sync auth login`)"),
    }
    println!();
    println!(
        "{:<28} {:<8} {:<22} {:<22} OUTCOME / ROWS",
        "JOB", "RUN", "LAST RUN", "LAST SUCCESS"
    );
    for j in r["jobs"].as_array().into_iter().flatten() {
        let last = &j["last_run"];
        let s = &last["stats"];
        let job = j["job"].as_str().unwrap_or("");
        // A push creates, updates or leaves orders as they are; only a pull removes records.
        let rows = if job.starts_with("push ") {
            format!(
                "orders {} created {} updated {} unchanged {} rejected {}",
                s["rows_read"], s["created"], s["updated"], s["unchanged"], s["rejected"]
            )
        } else {
            format!(
                "read {} created {} updated {} removed {} rejected {}",
                s["rows_read"], s["created"], s["updated"], s["removed"], s["rejected"]
            )
        };
        println!(
            "{:<28} {:<8} {:<22} {:<22} {} / {rows}{}",
            job,
            last["run"].to_string(),
            last["started_at"].as_str().unwrap_or(""),
            j["last_success"]["started_at"].as_str().unwrap_or("never"),
            last["outcome"].as_str().unwrap_or(""),
            match j["rejected_rows_waiting"].as_u64() {
                Some(n) if n > 0 => format!(
                    " ({n} rejected rows waiting: `ahead-sync export changes --run {}`)",
                    last["run"]
                ),
                _ => String::new(),
            },
        );
        if let Some(f) = j["last_failure"].as_object() {
            println!(
                "{:<28} last failure: run {} at {}: {}",
                "",
                f["run"],
                f["started_at"].as_str().unwrap_or(""),
                f["error"].as_str().unwrap_or("")
            );
        }
    }
    if let Some(c) = r["webhooks"]["counters"]
        .as_object()
        .filter(|c| !c.is_empty())
    {
        println!();
        let list: Vec<String> = c.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("webhooks: {}", list.join(", "));
    }
    let pending = r["webhooks"]["pending"].as_u64().unwrap_or(0);
    let quarantined = r["webhooks"]["quarantined"].as_u64().unwrap_or(0);
    let received = r["webhooks"]["counters"]
        .as_object()
        .is_some_and(|c| !c.is_empty());
    if received || pending + quarantined > 0 {
        println!("webhook deliveries: {pending} pending, {quarantined} quarantined");
    }
    println!();
    println!(
        "{:<22} {:>10}  {:<22} INCREMENTALS SINCE FULL",
        "STREAM", "RECORDS", "WATERMARK"
    );
    for st in r["streams"].as_array().into_iter().flatten() {
        println!(
            "{:<22} {:>10}  {:<22} {}",
            st["stream"].as_str().unwrap_or(""),
            st["records"].to_string(),
            st["watermark"].as_str().unwrap_or("none"),
            st["incremental_pulls_since_full"]
        );
    }
    print_outboxes(r);
}
