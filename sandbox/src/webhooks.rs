//! Webhook subscriptions (`/v2/webhooks`) and the dispatcher that delivers events.
//!
//! Delivery: each event goes to every subscription listing it, as `POST <url>` signed with
//! HMAC-SHA256 of the raw body. A non-2xx answer, or none within `WEBHOOK_TIMEOUT`, is
//! retried after `webhook_retry_base`, doubling each time (capped at `WEBHOOK_MAX_BACKOFF`),
//! until `WEBHOOK_RETRY_WINDOW` of *real* time has passed since the first attempt. Real
//! time, not the sandbox clock, because retries are tokio timers: advancing the sandbox clock
//! does not hurry them. Each delivery runs on its own task, so a slow receiver delays nobody
//! and retries of an older event can land after a newer one, as the contract warns.
//! Deliveries pending at shutdown are not saved.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::envelope::{self, ApiError};
use super::rules;
use super::server::App;
use super::world::{fmt_ts, Event};

pub(crate) async fn subscribe(State(app): State<App>, body: Bytes) -> Response {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&body) else {
        return envelope::bad_request("body must be a JSON object");
    };
    let mut errors = Vec::new();
    let bad = |code, f: &str, m: String| ApiError::new(code, Some(f), m);
    for (k, v) in &obj {
        let ok = match k.as_str() {
            "url" => v
                .as_str()
                .and_then(|u| url::Url::parse(u).ok())
                .is_some_and(|u| matches!(u.scheme(), "http" | "https")),
            "events" => v.as_array().filter(|a| !a.is_empty()).is_some_and(|a| {
                a.iter()
                    .all(|e| e.as_str().is_some_and(|e| rules::EVENTS.contains(&e)))
            }),
            "secret" => v.as_str().is_some_and(|s| !s.is_empty()),
            _ if rules::READ_ONLY_FIELDS.contains(&k.as_str()) => {
                errors.push(bad(rules::ERR_READ_ONLY, k, format!("{k} is set by AHEAD")));
                continue;
            }
            _ => {
                errors.push(bad(
                    rules::ERR_UNKNOWN_FIELD,
                    k,
                    format!("{k} is not a webhook field"),
                ));
                continue;
            }
        };
        if !ok {
            errors.push(bad(
                rules::ERR_INVALID,
                k,
                format!("{k} is invalid (events: {})", rules::EVENTS.join(", ")),
            ));
        }
    }
    for (k, _, _) in rules::WEBHOOK_WRITABLE {
        if !obj.contains_key(*k) {
            errors.push(bad(rules::ERR_REQUIRED, k, format!("{k} is required")));
        }
    }
    if !errors.is_empty() {
        return envelope::error(StatusCode::UNPROCESSABLE_ENTITY, &errors);
    }
    let doc = app.mutate(|w, now| {
        let id = w.webhooks.alloc_id();
        let doc = json!({
            "id": id, "url": obj["url"], "events": obj["events"],
            "created_at": fmt_ts(now), "updated_at": fmt_ts(now),
        });
        let Value::Object(doc) = doc else {
            unreachable!()
        };
        w.webhooks.push(doc.clone());
        w.webhook_secrets
            .insert(id, obj["secret"].as_str().unwrap_or("").to_string());
        doc
    });
    envelope::one(StatusCode::CREATED, &doc, &[])
}

pub(crate) async fn unsubscribe(State(app): State<App>, Path(id): Path<String>) -> Response {
    let removed = app.mutate(|w, _| {
        let id: u64 = id.parse().ok()?;
        let pos = w.webhooks.position(id)?;
        w.webhook_secrets.remove(&id);
        Some(w.webhooks.rows.remove(pos))
    });
    match removed {
        Some(doc) => envelope::one(StatusCode::OK, &doc, &[]),
        None => envelope::not_found(),
    }
}

/// `sha256=HEX` of the body under `secret`: what a receiver recomputes to trust a delivery.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!(
        "{}{}",
        rules::SIGNATURE_PREFIX,
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Receives events until shutdown and fans each out to its subscriptions.
pub(crate) async fn dispatch(
    app: App,
    mut events: mpsc::UnboundedReceiver<Event>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .timeout(rules::WEBHOOK_TIMEOUT)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(message = "Webhook client could not start; events will not be delivered.", error = %e);
            return;
        }
    };
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = events.recv() => match e { Some(e) => e, None => return },
        };
        let body = json!({
            "id": event.id, "event": event.event,
            "created_at": fmt_ts(event.created_at), "data": event.data,
        });
        let body = Bytes::from(serde_json::to_vec(&body).expect("event serializes"));
        let targets: Vec<(String, String)> = {
            let w = app.world();
            w.webhooks
                .rows
                .iter()
                .filter(|d| {
                    d["events"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|e| e == event.event))
                })
                .map(|d| {
                    let id = d["id"].as_u64().unwrap_or(0);
                    let url = d["url"].as_str().unwrap_or("").to_string();
                    (url, w.webhook_secrets.get(&id).cloned().unwrap_or_default())
                })
                .collect()
        };
        let copies = {
            let mut f = app.faults();
            let twice = !targets.is_empty() && f.duplicate_webhooks > 0;
            if twice {
                f.duplicate_webhooks -= 1;
            }
            if twice {
                2
            } else {
                1
            }
        };
        for (url, secret) in targets.iter().flat_map(|t| std::iter::repeat_n(t, copies)) {
            let d = Delivery {
                app: app.clone(),
                client: client.clone(),
                url: url.clone(),
                signature: signature(secret, &body),
                event: event.event,
                id: event.id.clone(),
                body: body.clone(),
            };
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = d.run() => {}
                }
            });
        }
    }
}

struct Delivery {
    app: App,
    client: reqwest::Client,
    url: String,
    signature: String,
    event: &'static str,
    id: String,
    body: Bytes,
}

impl Delivery {
    async fn run(self) {
        let started = tokio::time::Instant::now();
        let mut wait = self.app.config.webhook_retry_base;
        loop {
            self.app.count(|c| c.webhook_deliveries += 1);
            let sent = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .header(rules::HDR_EVENT, self.event)
                .header(rules::HDR_DELIVERY, &self.id)
                .header(rules::HDR_SIGNATURE, &self.signature)
                .body(self.body.clone())
                .send()
                .await;
            if sent.as_ref().is_ok_and(|r| r.status().is_success()) {
                self.app.count(|c| c.webhook_delivered += 1);
                return;
            }
            self.app.count(|c| c.webhook_failures += 1);
            if started.elapsed() + wait > rules::WEBHOOK_RETRY_WINDOW {
                tracing::warn!(message = "Webhook delivery abandoned.", url = %self.url, event = self.event, id = %self.id);
                return;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(rules::WEBHOOK_MAX_BACKOFF);
        }
    }
}
