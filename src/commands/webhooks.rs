//! `webhooks serve | register | list | delete`.

use anyhow::Context as _;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::job::{run_job, JobDone};
use crate::api::contract::{resource, WEBHOOK_EVENTS};
use crate::cli::WebhookAction;
use crate::error::{ConfigError, Exit};
use crate::secret::Secret;
use crate::settings::Settings;
use crate::store::{RunStats, Store};
use crate::webhooks::{self, ReceiverConfig, Tally};

/// Where a generated webhook secret is kept (the store is private, mode 0600).
const SECRET_KEY: &str = "webhooks.secret";

pub(crate) async fn run(settings: &Settings, action: WebhookAction) -> anyhow::Result<Exit> {
    match action {
        WebhookAction::Serve { bind } => serve(settings, bind).await,
        WebhookAction::Register { url, events } => register(settings, &url, events).await,
        WebhookAction::List => list(settings).await,
        WebhookAction::Delete { id } => delete(settings, id).await,
    }
}

/// The configured secret, else the one `register` generated and stored.
fn secret(settings: &Settings, store: &Store) -> anyhow::Result<Option<Secret>> {
    if let Some(s) = &settings.webhooks.secret {
        return Ok(Some(s.clone()));
    }
    Ok(store.kv_get(SECRET_KEY)?.map(Secret::new))
}

async fn serve(settings: &Settings, bind: Option<String>) -> anyhow::Result<Exit> {
    let bind = bind.unwrap_or_else(|| settings.webhooks.bind.clone());
    let addr: std::net::SocketAddr = bind.parse().map_err(|_| {
        ConfigError::new(format!(
            "--bind: {bind:?} is not an address such as 127.0.0.1:8787"
        ))
    })?;
    let store = super::context::open_store(settings, true)?;
    let secret = secret(settings, &store)?.ok_or_else(|| {
        ConfigError::new(
            "no webhook secret: set webhooks.secret (or AHEAD_SYNC__WEBHOOKS__SECRET), \
             or run `ahead-sync webhooks register URL`, which generates one",
        )
    })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let config = ReceiverConfig {
        path: settings.webhooks.path.clone(),
        secret,
        max_body_bytes: settings.webhooks.max_body_bytes,
        header_timeout: settings.webhooks.header_timeout,
        body_timeout: settings.webhooks.body_timeout,
        idle_timeout: settings.webhooks.idle_timeout,
        max_connections: settings.webhooks.max_connections,
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(super::shutdown::on_signal(shutdown.clone()));
    let ctx = Context::offline(store.clone());
    let done = run_job(&ctx, settings, "webhooks serve", &bind, |run| async move {
        tracing::info!(address = %listener.local_addr()?, path = %config.path, "Webhook receiver listening.");
        let tally = webhooks::serve(store, run, config, listener, shutdown).await?;
        let stats = RunStats {
            rows_read: Tally::get(&tally.received),
            created: Tally::get(&tally.stored),
            updated: Tally::get(&tally.applied),
            rejected: tally.rejected.iter().map(Tally::get).sum(),
            ..RunStats::default()
        };
        tracing::info!(
            received = stats.rows_read,
            stored = stats.created,
            duplicates = Tally::get(&tally.duplicates),
            applied = stats.updated,
            stale = Tally::get(&tally.stale),
            rejected = stats.rejected,
            quarantined = Tally::get(&tally.quarantined),
            connections_timed_out = Tally::get(&tally.connections_timed_out),
            connections_evicted = Tally::get(&tally.connections_evicted),
            connections_refused = Tally::get(&tally.connections_refused),
            "Webhook receiver stopped."
        );
        Ok(JobDone { exit: Exit::Ok, stats })
    })
    .await?;
    Ok(done.exit)
}

async fn register(settings: &Settings, url: &str, events: Vec<String>) -> anyhow::Result<Exit> {
    let parsed = url::Url::parse(url)
        .map_err(|e| ConfigError::new(format!("URL {url:?} is not a URL: {e}")))?;
    if parsed.scheme() != "https" && parsed.scheme() != "http" {
        return Err(ConfigError::new(format!("URL {url:?} must be http(s)")).into());
    }
    let events = if events.is_empty() {
        WEBHOOK_EVENTS.iter().map(|e| e.to_string()).collect()
    } else {
        for e in &events {
            if !WEBHOOK_EVENTS.contains(&e.as_str()) {
                return Err(ConfigError::new(format!(
                    "--events: {e:?} is not one of {}",
                    WEBHOOK_EVENTS.join(", ")
                ))
                .into());
            }
        }
        events
    };
    let ctx = Context::open(settings).await?;
    let result = async {
        let secret = match secret(settings, &ctx.store)? {
            Some(s) => s,
            None => {
                let bytes: [u8; 32] = rand::rng().random();
                let generated = Secret::new(hex::encode(bytes));
                ctx.store.kv_set(SECRET_KEY, generated.expose())?;
                tracing::info!(store = %settings.store_path.display(), "Generated a webhook secret and stored it.");
                generated
            }
        };
        let body = serde_json::json!({ "url": url, "events": events, "secret": secret.expose() });
        let envelope = ctx.client().post(resource::WEBHOOKS, &body).await?;
        let created: serde_json::Value = envelope
            .results
            .first()
            .map(|r| serde_json::from_str(r.get()))
            .transpose()?
            .unwrap_or_default();
        println!(
            "Subscribed {url} to {} (subscription id {}). `ahead-sync webhooks serve` verifies deliveries with {}.",
            events.join(", "),
            created["id"],
            if settings.webhooks.secret.is_some() {
                "the configured webhooks.secret"
            } else {
                "the secret stored in the store"
            }
        );
        anyhow::Ok(Exit::Ok)
    }
    .await;
    ctx.close().await?;
    result
}

async fn list(settings: &Settings) -> anyhow::Result<Exit> {
    let ctx = Context::open(settings).await?;
    let result = async {
        let envelope = ctx.client().get(resource::WEBHOOKS, None).await?;
        if envelope.results.is_empty() {
            println!("No webhook subscriptions.");
        }
        for row in envelope.results {
            let v: serde_json::Value = serde_json::from_str(row.get())?;
            let events: Vec<&str> = v["events"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str())
                .collect();
            println!(
                "{:>6}  {}  {}",
                v["id"],
                v["url"].as_str().unwrap_or(""),
                events.join(",")
            );
        }
        anyhow::Ok(Exit::Ok)
    }
    .await;
    ctx.close().await?;
    result
}

async fn delete(settings: &Settings, id: u64) -> anyhow::Result<Exit> {
    let ctx = Context::open(settings).await?;
    let result = async {
        ctx.client()
            .delete(&format!("{}/{id}", resource::WEBHOOKS))
            .await?;
        println!("Deleted webhook subscription {id}.");
        anyhow::Ok(Exit::Ok)
    }
    .await;
    ctx.close().await?;
    result
}
