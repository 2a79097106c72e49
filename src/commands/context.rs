//! What most commands need: the store, and a client for the configured API, starting the
//! embedded sandbox first when `api.base_url = "sandbox"`.

use anyhow::Context as _;
use url::Url;

use crate::api::retry::RetryPolicy;
use crate::api::{ApiClient, ClientConfig};
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::settings::{BaseUrl, Settings};
use crate::store::Store;

pub struct Context {
    pub store: Store,
    /// `None` for jobs that never talk to AHEAD (the webhook receiver).
    client: Option<ApiClient>,
    /// The in-process sandbox, when the configuration asks for it; stopped (and its world
    /// saved beside the store) by [`Context::close`].
    sandbox: Option<Sandbox>,
}

/// Open the store for a command run with `settings`, refusing one that belongs to another AHEAD
/// (exit 2). `adopt`: a store that belongs to none yet becomes this AHEAD's (commands that talk
/// to AHEAD or receive from it); read-only commands only check.
pub fn open_store(settings: &Settings, adopt: bool) -> anyhow::Result<Store> {
    let store = Store::open(&settings.store_path)?;
    let identity = settings.api.identity();
    if store.claim_ahead(&identity, adopt)? {
        tracing::debug!(store = %settings.store_path.display(), ahead = %identity, "The store now belongs to this AHEAD.");
    }
    Ok(store)
}

impl Context {
    pub async fn open(settings: &Settings) -> anyhow::Result<Context> {
        let store = open_store(settings, true)?;
        let (base_url, sandbox) = match &settings.api.base_url {
            BaseUrl::Remote(url) => (url.clone(), None),
            BaseUrl::Sandbox => {
                let sandbox = Sandbox::start_local(sandbox_config(settings))
                    .await
                    .context("cannot start the embedded AHEAD sandbox")?;
                let url = Url::parse(&sandbox.base_url())?;
                tracing::debug!(base_url = %url, "Embedded AHEAD sandbox started.");
                (url, Some(sandbox))
            }
        };
        let client = ApiClient::new(client_config(settings, base_url), store.clone())?;
        Ok(Context {
            store,
            client: Some(client),
            sandbox,
        })
    }

    /// A context for a job that only uses the store.
    pub fn offline(store: Store) -> Context {
        Context {
            store,
            client: None,
            sandbox: None,
        }
    }

    /// The client's wire counters so far, when there is a client.
    pub fn wire_counts(&self) -> Option<(u64, u64, u64)> {
        self.client
            .as_ref()
            .map(|c| crate::pull::snapshot_stats(c.stats()))
    }

    /// The AHEAD client (opened contexts only).
    pub fn client(&self) -> &ApiClient {
        self.client
            .as_ref()
            .expect("this context was opened without an API client")
    }

    /// The base URL a person would recognise: "sandbox" or the configured host.
    pub fn describe_api(settings: &Settings) -> String {
        match &settings.api.base_url {
            BaseUrl::Sandbox => "the embedded AHEAD sandbox".into(),
            BaseUrl::Remote(url) => url.to_string(),
        }
    }

    pub async fn close(self) -> anyhow::Result<()> {
        if let Some(sandbox) = self.sandbox {
            sandbox
                .stop()
                .await
                .context("stopping the embedded AHEAD sandbox")?;
        }
        Ok(())
    }
}

/// The in-process sandbox accepts the configured credentials and keeps its world in its own
/// file beside the store.
pub fn sandbox_config(settings: &Settings) -> SandboxConfig {
    SandboxConfig {
        seed: settings.sandbox.seed,
        items: settings.sandbox.items,
        client_id: settings.api.client_id.clone(),
        client_secret: settings.api.client_secret.expose().to_string(),
        redirect_uri: settings
            .api
            .redirect_uri
            .clone()
            .unwrap_or_else(|| crate::settings::SANDBOX_REDIRECT_URI.into()),
        state_path: Some(settings.sandbox.state_path.clone()),
        ..SandboxConfig::default()
    }
}

pub fn client_config(settings: &Settings, base_url: Url) -> ClientConfig {
    let api = &settings.api;
    ClientConfig {
        base_url,
        client_id: api.client_id.clone(),
        client_secret: api.client_secret.clone(),
        redirect_uri: api.redirect_uri.clone(),
        token_key: api.token_key(),
        timeout: api.timeout,
        concurrency: api.concurrency,
        page_size: api.page_size,
        refresh_margin: api.refresh_margin,
        retry: RetryPolicy {
            max_attempts: api.max_attempts,
            base: api.retry_base,
            max: api.retry_max,
            max_retry_after: api.max_retry_after,
        },
        max_response_bytes: api.max_response_bytes,
    }
}
