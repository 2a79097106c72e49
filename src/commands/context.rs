//! What most commands need: the store, and a client for the configured API, starting the
//! embedded sandbox first when `api.base_url = "sandbox"`.

use url::Url;

use super::embedded::Embedded;
use crate::api::retry::RetryPolicy;
use crate::api::{ApiClient, ClientConfig};
use crate::settings::{BaseUrl, Settings};
use crate::store::Store;

pub(crate) struct Context {
    pub store: Store,
    /// `None` for jobs that never talk to AHEAD (the webhook receiver).
    client: Option<ApiClient>,
    /// The in-process sandbox, when the configuration asks for it; stopped (and its world
    /// saved beside the store) by [`Context::close`].
    sandbox: Option<Embedded>,
    /// The AHEAD this context talks to, which the store adopts once a job has reached it.
    identity: Option<String>,
}

/// Open the store for a command run with `settings`, refusing one that belongs to another AHEAD
/// (exit 2). `adopt`: a store that belongs to none yet becomes this AHEAD's (the webhook
/// receiver); other commands only check, and the store adopts the AHEAD once a job reached it
/// ([`Context::adopt_after`]), so a mistyped base URL never claims a store.
pub(crate) fn open_store(settings: &Settings, adopt: bool) -> anyhow::Result<Store> {
    let store = Store::open(&settings.store_path)?;
    let identity = settings.api.identity();
    if store.claim_ahead(&identity, adopt)? {
        tracing::debug!(ahead = %identity, "The store now belongs to this AHEAD.");
    }
    Ok(store)
}

impl Context {
    pub(crate) async fn open(settings: &Settings) -> anyhow::Result<Context> {
        let store = open_store(settings, false)?;
        let (base_url, sandbox) = match &settings.api.base_url {
            BaseUrl::Remote(url) => (url.clone(), None),
            BaseUrl::Sandbox => {
                let (sandbox, url) = Embedded::start(settings).await?;
                (url, Some(sandbox))
            }
        };
        let client = ApiClient::new(client_config(settings, base_url), store.clone())?;
        Ok(Context {
            store,
            client: Some(client),
            sandbox,
            identity: Some(settings.api.identity()),
        })
    }

    /// A context for a job that only uses the store.
    pub(crate) fn offline(store: Store) -> Context {
        Context {
            store,
            client: None,
            sandbox: None,
            identity: None,
        }
    }

    /// After a job: unless it failed because AHEAD could not be reached or refused the
    /// credentials, the store now belongs to this AHEAD (if it belonged to none).
    pub(crate) fn adopt_after<T>(&self, result: &anyhow::Result<T>) -> anyhow::Result<()> {
        let Some(identity) = &self.identity else {
            return Ok(());
        };
        let reached = match result {
            Ok(_) => true,
            Err(e) => !crate::error::stops_sync(e),
        };
        if reached && self.store.claim_ahead(identity, true)? {
            tracing::debug!(ahead = %identity, "The store now belongs to this AHEAD.");
        }
        Ok(())
    }

    /// The client's wire counters so far, when there is a client.
    pub(crate) fn wire_counts(&self) -> Option<(u64, u64, u64)> {
        self.client
            .as_ref()
            .map(|c| crate::pull::snapshot_stats(c.stats()))
    }

    /// The 429 answers the client has had so far, when there is a client.
    pub(crate) fn rate_limited(&self) -> Option<u64> {
        self.client
            .as_ref()
            .map(|c| crate::api::Stats::get(&c.stats().rate_limited))
    }

    /// The AHEAD client (opened contexts only).
    pub(crate) fn client(&self) -> &ApiClient {
        self.client
            .as_ref()
            .expect("this context was opened without an API client")
    }

    /// The base URL a person would recognise: "sandbox" or the configured host.
    pub(crate) fn describe_api(settings: &Settings) -> String {
        match &settings.api.base_url {
            BaseUrl::Sandbox => "the embedded AHEAD sandbox".into(),
            BaseUrl::Remote(url) => url.to_string(),
        }
    }

    pub(crate) async fn close(self) -> anyhow::Result<()> {
        match self.sandbox {
            Some(sandbox) => sandbox.stop().await,
            None => Ok(()),
        }
    }
}

pub(crate) fn client_config(settings: &Settings, base_url: Url) -> ClientConfig {
    let api = &settings.api;
    ClientConfig {
        base_url,
        client_id: api.client_id.clone(),
        client_secret: api.client_secret.clone(),
        redirect_uri: api.redirect_uri.clone(),
        token_key: api.token_key(),
        mbx: api.mbx_keys(),
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
        max_requests_per_second: api.max_requests_per_second,
    }
}
