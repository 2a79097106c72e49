//! The embedded AHEAD sandbox, started in-process when `api.base_url = "sandbox"`. It is its own
//! crate (`ahead-sandbox`), behind the default `sandbox` feature: a build without it talks only
//! to a real AHEAD, and says so when the configuration asks for the sandbox.

use url::Url;

use crate::settings::Settings;

/// A running in-process sandbox, and the lock that keeps its world file to this process.
#[cfg(feature = "sandbox")]
pub(crate) struct Embedded {
    sandbox: ahead_sandbox::Sandbox,
    _world: crate::lock::JobLock,
}

/// The embedded sandbox's world is one file, loaded when it starts and saved when it stops: two
/// processes using it at once would each save over the other's changes (an order pushed by one
/// would vanish from AHEAD's side while the store says it was sent). One process at a time may
/// use it; the others exit 4 naming the holder.
#[cfg(feature = "sandbox")]
fn lock_world(settings: &Settings) -> Result<crate::lock::JobLock, crate::lock::LockError> {
    let mut path = settings.sandbox.state_path.as_os_str().to_owned();
    path.push(".lock");
    crate::lock::acquire_resource(
        std::path::Path::new(&path),
        "the embedded AHEAD sandbox",
        "its world is one file, so it serves one process at a time; run this once that one \
         ends, or serve it with `ahead-sync sandbox` and point api.base_url at it",
    )
}

/// Without the `sandbox` feature no sandbox can be running: this type has no values.
#[cfg(not(feature = "sandbox"))]
pub(crate) enum Embedded {}

#[cfg(feature = "sandbox")]
impl Embedded {
    /// Start the sandbox for `settings`; returns it and its base URL.
    pub(crate) async fn start(settings: &Settings) -> anyhow::Result<(Embedded, Url)> {
        use anyhow::Context as _;
        let world = lock_world(settings)?;
        let sandbox = ahead_sandbox::Sandbox::start_local(config(settings))
            .await
            .context("cannot start the embedded AHEAD sandbox")?;
        let url = Url::parse(&sandbox.base_url())?;
        tracing::debug!(base_url = %url, "Embedded AHEAD sandbox started.");
        Ok((
            Embedded {
                sandbox,
                _world: world,
            },
            url,
        ))
    }

    /// Stop it, saving its world beside the store.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        use anyhow::Context as _;
        // The lock is let go only once the world is saved (when `self` is dropped).
        self.sandbox
            .stop()
            .await
            .context("stopping the embedded AHEAD sandbox")
    }
}

#[cfg(not(feature = "sandbox"))]
impl Embedded {
    pub(crate) async fn start(_settings: &Settings) -> anyhow::Result<(Embedded, Url)> {
        Err(unavailable().into())
    }

    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        match self {}
    }
}

/// What a build without the sandbox says when it is asked for one.
#[cfg(not(feature = "sandbox"))]
pub(crate) fn unavailable() -> crate::error::ConfigError {
    crate::error::ConfigError::new(
        "api.base_url is \"sandbox\" (the default), but this ahead-sync was built without the \
         embedded sandbox: set api.base_url (or AHEAD_SYNC__API__BASE_URL) to your AHEAD, e.g. \
         https://api.mbx.com",
    )
}

/// The in-process sandbox accepts the configured credentials (a legacy account's tokens too)
/// and keeps its world in its own file beside the store.
#[cfg(feature = "sandbox")]
fn config(settings: &Settings) -> ahead_sandbox::SandboxConfig {
    ahead_sandbox::SandboxConfig {
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
        legacy: settings
            .api
            .mbx_keys()
            .map(|k| (k.public_token, k.secret_token.expose().to_string())),
        ..ahead_sandbox::SandboxConfig::default()
    }
}

/// What `advance` reports: the sandbox's clock afterwards and what happened meanwhile, as
/// `(what, how many)` pairs a person can read.
pub(crate) struct Advanced {
    pub(crate) now: chrono::DateTime<chrono::Utc>,
    pub(crate) activity: Vec<(&'static str, u64)>,
}

/// Move the embedded sandbox's clock (its state file beside the store) forward by `by`.
#[cfg(feature = "sandbox")]
pub(crate) fn advance(settings: &Settings, by: std::time::Duration) -> anyhow::Result<Advanced> {
    use anyhow::Context as _;
    let _world = lock_world(settings)?;
    let done = ahead_sandbox::advance(&config(settings), by).with_context(|| {
        format!(
            "cannot advance the embedded sandbox ({})",
            settings.sandbox.state_path.display()
        )
    })?;
    let a = done.activity;
    Ok(Advanced {
        now: done.now,
        activity: vec![
            ("stock moves", a.stock_moves),
            ("inventory rows removed", a.rows_removed),
            ("inventory rows added", a.rows_added),
            ("invoices created", a.invoices_created),
            ("payments", a.payments),
            ("orders created", a.orders_created),
            ("orders shipped", a.orders_shipped),
            ("orders delivered", a.orders_delivered),
        ],
    })
}

#[cfg(not(feature = "sandbox"))]
pub(crate) fn advance(_settings: &Settings, _by: std::time::Duration) -> anyhow::Result<Advanced> {
    Err(unavailable().into())
}

/// Every invoice the embedded sandbox configured by `settings` will serve when it next starts
/// (its saved world, or the one its seed makes), as AHEAD's JSON records.
#[cfg(feature = "sandbox")]
pub(crate) fn invoices(
    settings: &Settings,
) -> anyhow::Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    use anyhow::Context as _;
    ahead_sandbox::invoices(&config(settings))
        .context("cannot read the embedded sandbox's invoices")
}

#[cfg(not(feature = "sandbox"))]
pub(crate) fn invoices(
    _settings: &Settings,
) -> anyhow::Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    Err(unavailable().into())
}
