//! Configuration in two stages: [`RawConfig`] is what the TOML file and the `AHEAD_SYNC__…`
//! environment say (defaults < file < environment, unknown keys rejected); [`Settings`] is what
//! was validated and derived from it (resolved paths, parsed URL, secrets wrapped). Nothing below
//! `main` reads the environment: the environment map is passed in, which also lets tests supply
//! their own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::error::ConfigError;
use crate::secret::Secret;

/// The environment prefix: `AHEAD_SYNC__API__CLIENT_SECRET` sets `api.client_secret`.
pub(crate) const ENV_PREFIX: &str = "AHEAD_SYNC";
/// The configuration file read when `--config` is not given (missing = built-in defaults).
pub(crate) const DEFAULT_CONFIG_FILE: &str = "ahead-sync.toml";

/// `api.max_response_bytes` unless configured: 64 MiB, far more than a full page (1000 records)
/// of any stream, and little enough that a runaway answer cannot exhaust the machine's memory.
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: i64 = 64 << 20;

/// Credentials the embedded sandbox accepts when the configuration names none.
pub(crate) const SANDBOX_CLIENT_ID: &str = "sandbox-client";
pub(crate) const SANDBOX_CLIENT_SECRET: &str = "sandbox-secret";
pub(crate) const SANDBOX_REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// Legacy MBX tokens the embedded sandbox accepts with `api.auth = "mbx-signature"` when the
/// configuration names none (the `sandbox` command accepts the same by default).
pub(crate) const SANDBOX_PUBLIC_TOKEN: &str = "sandbox-public-token";
pub(crate) const SANDBOX_SECRET_TOKEN: &str = "sandbox-secret-token";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub api: RawApi,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub push: RawPush,
    #[serde(default)]
    pub webhooks: RawWebhooks,
    #[serde(default)]
    pub schedule: RawSchedule,
    #[serde(default)]
    pub sandbox: RawSandbox,
    #[serde(default)]
    pub pull: RawPull,
    #[serde(default)]
    pub history: RawHistory,
    #[serde(default)]
    pub reconciliation: RawReconciliation,
    /// `[outbox.NAME]`: one section per outbox.
    #[serde(default)]
    pub outbox: std::collections::BTreeMap<String, RawOutbox>,
    #[serde(default)]
    pub metrics: RawMetrics,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    /// Where `daemon` serves Prometheus `/metrics` (none when unset).
    pub bind: Option<String>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutbox {
    /// The stream whose changes the outbox delivers.
    pub stream: Option<String>,
    /// The outbound mapping file.
    pub mapping: Option<String>,
    /// The folder files appear in.
    pub dir: Option<String>,
    /// The change kinds it carries (default created, updated, closed).
    pub changes: Option<Vec<String>>,
    /// The most changes one file carries.
    pub max_changes_per_file: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReconciliation {
    /// Warn when the last successful invoices pull is older than this many hours.
    pub stale_after_hours: Option<i64>,
    /// The mapping the AP ledger is read through when `--ledger-mapping` is not given.
    pub ledger_mapping: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHistory {
    /// Run history and change log entries older than this many days are pruned.
    pub keep_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPull {
    /// Incremental pulls re-read this many seconds before the watermark.
    pub overlap_secs: Option<i64>,
    /// Every Nth default inventory pull is a full one (0 = only with --full).
    pub inventory_full_every: Option<i64>,
    /// Passes over a set before giving up on reading it without drift.
    pub max_passes: Option<i64>,
    /// Ids per look-up request when checking records a pass did not see.
    pub lookup_batch: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    pub base_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub redirect_uri: Option<String>,
    pub page_size: Option<i64>,
    pub concurrency: Option<i64>,
    pub timeout_secs: Option<i64>,
    pub max_attempts: Option<i64>,
    /// Refresh the access token when it has less than this many seconds left.
    pub refresh_margin_secs: Option<i64>,
    /// First backoff delay after a 5xx or network error; doubles per attempt, with jitter.
    pub retry_base_ms: Option<i64>,
    /// Longest backoff delay between two attempts.
    pub retry_max_ms: Option<i64>,
    /// A `Retry-After` longer than this is not waited for: the request fails instead.
    pub max_retry_after_secs: Option<i64>,
    /// An answer larger than this fails its request instead of being read.
    pub max_response_bytes: Option<i64>,
    /// `oauth2` (default) or `mbx-signature` (legacy accounts).
    pub auth: Option<String>,
    /// Legacy accounts: the public token named in every signed request.
    pub public_token: Option<String>,
    /// Legacy accounts: the secret every request is signed with.
    pub secret_token: Option<String>,
    /// AHEAD's rate limit, when known: every request of the process is paced to it.
    pub max_requests_per_second: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPush {
    pub settle_secs: Option<i64>,
    /// `[push.purchase_orders]`, or `[push.purchase-orders]` as the command line spells it.
    #[serde(alias = "purchase-orders")]
    pub purchase_orders: Option<RawPushJob>,
    #[serde(alias = "fulfillment-orders")]
    pub fulfillment_orders: Option<RawPushJob>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPushJob {
    pub mapping: Option<String>,
    pub inbox: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhooks {
    pub bind: Option<String>,
    pub secret: Option<String>,
    pub path: Option<String>,
    /// Deliveries larger than this are refused with 413.
    pub max_body_bytes: Option<i64>,
    /// A connection's request head must be complete this long after its accept (or after the
    /// first byte of a later request); else the connection is closed.
    pub header_timeout_secs: Option<i64>,
    /// A request's body must be complete this long after its head; else 408.
    pub body_timeout_secs: Option<i64>,
    /// A connection that sends nothing this long after an answer is closed.
    pub idle_timeout_secs: Option<i64>,
    /// Connections open at once (lowered to the file descriptor limit less a margin).
    pub max_connections: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSchedule {
    pub dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSandbox {
    /// Seed of the embedded sandbox's world.
    pub seed: Option<i64>,
    /// Generated items beyond the fixed catalog.
    pub items: Option<i64>,
}

/// Where the API lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BaseUrl {
    /// Start the embedded AHEAD sandbox in-process and talk to it.
    Sandbox,
    /// A real AHEAD host, e.g. `https://api.mbx.com`.
    Remote(Url),
}

/// How requests prove who sends them (`api.auth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiAuth {
    /// OAuth 2: tokens obtained with the client id and secret, stored, refreshed.
    OAuth2,
    /// Legacy (MBX-era) accounts: every request signed with the secret token.
    MbxSignature {
        public_token: String,
        secret_token: Secret,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct ApiSettings {
    pub base_url: BaseUrl,
    pub auth: ApiAuth,
    /// The OAuth client; empty for a legacy account at a real AHEAD, where it is not used.
    pub client_id: String,
    pub client_secret: Secret,
    pub redirect_uri: Option<String>,
    pub page_size: u32,
    pub concurrency: usize,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub refresh_margin: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub max_retry_after: Duration,
    /// `api.max_response_bytes`: the most of one answer that is read (and held in memory).
    pub max_response_bytes: u64,
    /// `api.max_requests_per_second`: AHEAD's known rate limit, if configured.
    pub max_requests_per_second: Option<f64>,
}

impl ApiSettings {
    /// The name tokens are stored under: the configured base URL (`sandbox` for the embedded one,
    /// whose port changes from run to run) and the client id.
    /// The AHEAD a store used with these settings belongs to, as a person reads it: the
    /// embedded sandbox (its world lives beside the store), or the base URL and the account.
    pub(crate) fn identity(&self) -> String {
        match (&self.base_url, &self.auth) {
            (BaseUrl::Sandbox, _) => "the embedded AHEAD sandbox".to_string(),
            (BaseUrl::Remote(url), ApiAuth::OAuth2) => format!(
                "{} (client id {:?})",
                url.as_str().trim_end_matches('/'),
                self.client_id
            ),
            (BaseUrl::Remote(url), ApiAuth::MbxSignature { public_token, .. }) => format!(
                "{} (public token {:?})",
                url.as_str().trim_end_matches('/'),
                public_token
            ),
        }
    }

    /// The legacy account's keys, when requests are signed rather than sent with a token.
    pub(crate) fn mbx_keys(&self) -> Option<crate::api::MbxKeys> {
        match &self.auth {
            ApiAuth::OAuth2 => None,
            ApiAuth::MbxSignature {
                public_token,
                secret_token,
            } => Some(crate::api::MbxKeys {
                public_token: public_token.clone(),
                secret_token: secret_token.clone(),
            }),
        }
    }

    pub(crate) fn token_key(&self) -> String {
        let base = match &self.base_url {
            BaseUrl::Sandbox => "sandbox".to_string(),
            BaseUrl::Remote(url) => url.as_str().trim_end_matches('/').to_string(),
        };
        format!("{base}|{}", self.client_id)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PushJobSettings {
    pub mapping: Option<PathBuf>,
    pub inbox: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub(crate) struct WebhookSettings {
    pub bind: String,
    pub secret: Option<Secret>,
    pub path: String,
    pub max_body_bytes: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    /// As configured; the receiver lowers it to what RLIMIT_NOFILE allows when it starts.
    pub max_connections: usize,
}

/// Read and checked in every build; used only by a build with the embedded sandbox.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "sandbox"), allow(dead_code))]
pub(crate) struct SandboxSettings {
    pub seed: u64,
    pub items: usize,
    /// The in-process sandbox's own state file, beside the store and never inside it.
    pub state_path: PathBuf,
}

/// Validated settings: everything the commands need, nothing they must re-check.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The configuration file that was read, if any.
    pub config_file: Option<PathBuf>,
    pub api: ApiSettings,
    pub store_path: PathBuf,
    pub purchase_orders: PushJobSettings,
    pub fulfillment_orders: PushJobSettings,
    /// `push.settle_secs`: an inbox file is taken only once it has not changed for this long
    /// (an ERP may still be writing it).
    pub push_settle: Duration,
    pub webhooks: WebhookSettings,
    pub schedule_dir: PathBuf,
    #[cfg_attr(not(feature = "sandbox"), allow(dead_code))]
    pub sandbox: SandboxSettings,
    pub pull: crate::pull::PullSettings,
    /// Run history and change log entries older than this are pruned.
    pub keep_history: Duration,
    pub reconciliation: ReconciliationSettings,
    /// `[outbox.NAME]` sections, by name.
    pub outboxes: Vec<OutboxSettings>,
    /// `[metrics] bind`: where `daemon` serves `/metrics`; none when unset.
    pub metrics_bind: Option<std::net::SocketAddr>,
}

/// `[outbox.NAME]`: a stream's changes delivered to a folder through an outbound mapping.
#[derive(Debug, Clone)]
pub(crate) struct OutboxSettings {
    /// The section's name: in file names, the job name (`outbox NAME`) and the store.
    pub name: String,
    pub stream: crate::kinds::StreamKind,
    pub mapping: PathBuf,
    pub dir: PathBuf,
    /// The change kinds it carries, as the change log spells them.
    pub changes: Vec<&'static str>,
    /// The most changes one file carries (a larger backlog becomes several files).
    pub max_changes_per_file: usize,
}

/// The change kinds an outbox may carry (a rejection is never delivered).
pub(crate) const OUTBOX_CHANGE_KINDS: [&str; 4] = ["created", "updated", "closed", "removed"];

/// `[reconciliation]`: the finance reconciliation export.
#[derive(Debug, Clone)]
pub(crate) struct ReconciliationSettings {
    /// A report built on a mirror whose last successful invoices pull is older than this says
    /// so (a warning, not a failure: month-end may run on yesterday's data on purpose).
    pub stale_after: Duration,
    /// The ledger mapping used when `--ledger-mapping` is not given (resolved against the
    /// configuration file's folder).
    pub ledger_mapping: PathBuf,
}

impl Settings {
    /// Load settings: built-in defaults, then the TOML file, then `AHEAD_SYNC__…` variables.
    ///
    /// `config` is the `--config` flag: a named file must exist; without it,
    /// `./ahead-sync.toml` is read when present. `env` is the process environment (or a test's).
    pub(crate) fn load(
        config: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let file = match config {
            Some(path) => {
                if !path.is_file() {
                    return Err(ConfigError::new(format!(
                        "configuration file {} does not exist (given by --config)",
                        path.display()
                    )));
                }
                Some(path.to_path_buf())
            }
            None => {
                let default = PathBuf::from(DEFAULT_CONFIG_FILE);
                default.is_file().then_some(default)
            }
        };
        let mut builder = config::Config::builder();
        let mut text = None;
        if let Some(path) = &file {
            let read = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(format!(
                    "cannot read configuration file {}: {e}",
                    path.display()
                ))
            })?;
            builder = builder.add_source(config::File::from_str(&read, config::FileFormat::Toml));
            text = Some(read);
        }
        let env: HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env)),
        );
        let origin = match &file {
            Some(path) => format!("{} or the {ENV_PREFIX}__* environment", path.display()),
            None => format!("the {ENV_PREFIX}__* environment"),
        };
        let raw: RawConfig = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError::new(format!("invalid configuration ({origin}): {e}")))?;
        let base_dir = file
            .as_ref()
            .and_then(|p| p.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let settings = Settings::from_raw(raw, file, &base_dir)?;
        if let (Some(path), Some(text)) = (&settings.config_file, &text) {
            warn_if_exposed(path, text);
        }
        Ok(settings)
    }

    /// Validate and derive. Relative paths are resolved against the configuration file's folder
    /// (or the working directory when there is no file).
    pub(crate) fn from_raw(
        raw: RawConfig,
        config_file: Option<PathBuf>,
        base_dir: &Path,
    ) -> Result<Settings, ConfigError> {
        let resolve = |p: &str| {
            let p = PathBuf::from(p);
            if p.is_absolute() || base_dir.as_os_str().is_empty() {
                p
            } else {
                base_dir.join(p)
            }
        };
        let api = api_settings(raw.api)?;
        let store_path = resolve(raw.store.path.as_deref().unwrap_or("ahead-sync.db"));
        let push_job = |job: Option<RawPushJob>| {
            let job = job.unwrap_or_default();
            PushJobSettings {
                mapping: job.mapping.as_deref().map(resolve),
                inbox: job.inbox.as_deref().map(resolve),
            }
        };
        let purchase_orders = push_job(raw.push.purchase_orders);
        let fulfillment_orders = push_job(raw.push.fulfillment_orders);
        let push_settle = secs(raw.push.settle_secs, 5, 0, 86_400, "push.settle_secs")?;
        let webhooks = webhook_settings(raw.webhooks)?;
        let schedule_dir = resolve(raw.schedule.dir.as_deref().unwrap_or("schedules"));
        let sandbox = SandboxSettings {
            seed: in_range(raw.sandbox.seed, 1, 0, i64::MAX, "sandbox.seed")? as u64,
            items: in_range(raw.sandbox.items, 200, 0, 10_000_000, "sandbox.items")? as usize,
            state_path: sandbox_state_path(&store_path),
        };
        let pull = pull_settings(raw.pull, &api)?;
        let days = in_range(raw.history.keep_days, 90, 1, 36_500, "history.keep_days")?;
        let keep_history = Duration::from_secs(days as u64 * 86_400);
        let stale_hours = in_range(
            raw.reconciliation.stale_after_hours,
            24,
            1,
            24 * 366,
            "reconciliation.stale_after_hours",
        )?;
        let reconciliation = ReconciliationSettings {
            stale_after: Duration::from_secs(stale_hours as u64 * 3600),
            ledger_mapping: resolve(
                raw.reconciliation
                    .ledger_mapping
                    .as_deref()
                    .unwrap_or("mappings/ap_ledger.csv.toml"),
            ),
        };
        let outboxes = raw
            .outbox
            .into_iter()
            .map(|(name, o)| outbox_settings(name, o, &resolve))
            .collect::<Result<Vec<_>, _>>()?;
        let metrics_bind = match raw.metrics.bind.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(text.parse().map_err(|_| {
                ConfigError::new(format!(
                    "metrics.bind: {text:?} is not an address such as 127.0.0.1:9187"
                ))
            })?),
        };
        Ok(Settings {
            outboxes,
            metrics_bind,
            reconciliation,
            keep_history,
            pull,
            config_file,
            api,
            store_path,
            purchase_orders,
            fulfillment_orders,
            push_settle,
            webhooks,
            schedule_dir,
            sandbox,
        })
    }
}

/// One `[outbox.NAME]` section.
fn outbox_settings(
    name: String,
    raw: RawOutbox,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Result<OutboxSettings, ConfigError> {
    let key = |k: &str| format!("outbox.{name}.{k}");
    if name.is_empty()
        || name == "replay"
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ConfigError::new(format!(
            "[outbox.{name}]: an outbox name is letters, digits, '_' and '-' (it names files \
             and the job), and not \"replay\""
        )));
    }
    let need = |v: Option<String>, k: &str| {
        v.filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ConfigError::new(format!("{} is required", key(k))))
    };
    let stream_name = need(raw.stream, "stream")?;
    let stream = crate::kinds::StreamKind::from_name(&stream_name).ok_or_else(|| {
        ConfigError::new(format!(
            "{}: {stream_name:?} is not a stream (inventory, invoices, shipments, \
             purchase_orders, fulfillment_orders)",
            key("stream")
        ))
    })?;
    let mapping = resolve(&need(raw.mapping, "mapping")?);
    let dir = resolve(&need(raw.dir, "dir")?);
    let changes = match raw.changes {
        None => vec!["created", "updated", "closed"],
        Some(list) => {
            let mut out = Vec::new();
            for c in &list {
                let known = OUTBOX_CHANGE_KINDS
                    .iter()
                    .find(|k| **k == c.as_str())
                    .ok_or_else(|| {
                        ConfigError::new(format!(
                            "{}: {c:?} is not a change an outbox carries ({})",
                            key("changes"),
                            OUTBOX_CHANGE_KINDS.join(", ")
                        ))
                    })?;
                if !out.contains(known) {
                    out.push(*known);
                }
            }
            if out.is_empty() {
                return Err(ConfigError::new(format!(
                    "{}: name at least one change kind",
                    key("changes")
                )));
            }
            out
        }
    };
    let max_changes_per_file = in_range(
        raw.max_changes_per_file,
        1000,
        1,
        1_000_000,
        &key("max_changes_per_file"),
    )? as usize;
    Ok(OutboxSettings {
        name,
        stream,
        mapping,
        dir,
        changes,
        max_changes_per_file,
    })
}

/// `[api]`: where AHEAD is, the account, and how requests are paced and retried.
/// `api.base_url`: the embedded sandbox, or an http(s) URL.
fn base_url(text: Option<&str>) -> Result<BaseUrl, ConfigError> {
    match text.map(str::trim) {
        None | Some("sandbox") => Ok(BaseUrl::Sandbox),
        Some(text) => {
            let url = Url::parse(text).map_err(|e| {
                ConfigError::new(format!(
                    "api.base_url: {text:?} is not \"sandbox\" or a URL ({e})"
                ))
            })?;
            if url.scheme() != "https" && url.scheme() != "http" {
                return Err(ConfigError::new(format!(
                    "api.base_url: {text:?} must be an http(s) URL or \"sandbox\""
                )));
            }
            Ok(BaseUrl::Remote(url))
        }
    }
}

/// A key that must be set (and not blank) in this case, `why`.
fn need(v: Option<String>, key: &str, why: &str) -> Result<String, ConfigError> {
    v.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
        ConfigError::new(format!(
            "{key} is required {why} (set it in the configuration file or AHEAD_SYNC__{})",
            key.replace('.', "__").to_uppercase()
        ))
    })
}

/// `api.auth` with its tokens: OAuth 2, or a legacy account's signature (the embedded sandbox
/// has tokens of its own when none are configured).
fn api_auth(
    auth: Option<&str>,
    public_token: Option<String>,
    secret_token: Option<String>,
    sandbox: bool,
) -> Result<ApiAuth, ConfigError> {
    match auth.map(str::trim) {
        None | Some("oauth2") => {
            for (key, value) in [
                ("api.public_token", &public_token),
                ("api.secret_token", &secret_token),
            ] {
                if value.is_some() {
                    return Err(ConfigError::new(format!(
                        "{key} is set, but api.auth is not \"mbx-signature\": set \
                         api.auth = \"mbx-signature\" for a legacy account, or remove {key}"
                    )));
                }
            }
            Ok(ApiAuth::OAuth2)
        }
        Some("mbx-signature") => {
            let why = "with api.auth = \"mbx-signature\"";
            let (public_token, secret_token) = if sandbox {
                (
                    public_token.unwrap_or_else(|| SANDBOX_PUBLIC_TOKEN.into()),
                    secret_token.unwrap_or_else(|| SANDBOX_SECRET_TOKEN.into()),
                )
            } else {
                (
                    need(public_token, "api.public_token", why)?,
                    need(secret_token, "api.secret_token", why)?,
                )
            };
            Ok(ApiAuth::MbxSignature {
                public_token,
                secret_token: Secret::new(secret_token),
            })
        }
        Some(other) => Err(ConfigError::new(format!(
            "api.auth: {other:?} is not \"oauth2\" or \"mbx-signature\""
        ))),
    }
}

/// The OAuth client (id, secret, redirect URI): the sandbox's own unless configured; required
/// for OAuth at a real AHEAD; unused (empty unless given) by a legacy account there.
fn oauth_client(
    base_url: &BaseUrl,
    auth: &ApiAuth,
    api: &mut RawApi,
) -> Result<(String, String, Option<String>), ConfigError> {
    let (id, secret, redirect) = (
        api.client_id.take(),
        api.client_secret.take(),
        api.redirect_uri.take(),
    );
    Ok(match (base_url, auth) {
        (BaseUrl::Sandbox, _) => (
            id.unwrap_or_else(|| SANDBOX_CLIENT_ID.into()),
            secret.unwrap_or_else(|| SANDBOX_CLIENT_SECRET.into()),
            Some(redirect.unwrap_or_else(|| SANDBOX_REDIRECT_URI.into())),
        ),
        (BaseUrl::Remote(_), ApiAuth::MbxSignature { .. }) => {
            (id.unwrap_or_default(), secret.unwrap_or_default(), redirect)
        }
        (BaseUrl::Remote(_), ApiAuth::OAuth2) => {
            let why = "when api.base_url is not \"sandbox\"";
            (
                need(id, "api.client_id", why)?,
                need(secret, "api.client_secret", why)?,
                redirect,
            )
        }
    })
}

fn api_settings(mut api: RawApi) -> Result<ApiSettings, ConfigError> {
    let base_url = base_url(api.base_url.as_deref())?;
    let auth = api_auth(
        api.auth.as_deref(),
        api.public_token.take(),
        api.secret_token.take(),
        base_url == BaseUrl::Sandbox,
    )?;
    let (client_id, client_secret, redirect_uri) = oauth_client(&base_url, &auth, &mut api)?;
    let max_requests_per_second = match api.max_requests_per_second {
        Some(r) if !(r.is_finite() && r > 0.0 && r <= 100_000.0) => {
            return Err(ConfigError::new(format!(
                "api.max_requests_per_second = {r} is out of range (allowed: more than 0, \
                 at most 100000)"
            )))
        }
        r => r,
    };
    if let Some(uri) = &redirect_uri {
        Url::parse(uri).map_err(|e| {
            ConfigError::new(format!("api.redirect_uri: {uri:?} is not a URL ({e})"))
        })?;
    }
    let api = ApiSettings {
        base_url,
        auth,
        client_id,
        client_secret: Secret::new(client_secret),
        redirect_uri,
        page_size: in_range(api.page_size, 500, 1, 100_000, "api.page_size")? as u32,
        concurrency: in_range(api.concurrency, 4, 1, 64, "api.concurrency")? as usize,
        timeout: Duration::from_secs(
            in_range(api.timeout_secs, 30, 1, 3600, "api.timeout_secs")? as u64
        ),
        max_attempts: in_range(api.max_attempts, 8, 1, 100, "api.max_attempts")? as u32,
        refresh_margin: secs(
            api.refresh_margin_secs,
            300,
            0,
            3600,
            "api.refresh_margin_secs",
        )?,
        retry_base: Duration::from_millis(in_range(
            api.retry_base_ms,
            500,
            0,
            60_000,
            "api.retry_base_ms",
        )? as u64),
        retry_max: Duration::from_millis(in_range(
            api.retry_max_ms,
            30_000,
            0,
            3_600_000,
            "api.retry_max_ms",
        )? as u64),
        max_retry_after: secs(
            api.max_retry_after_secs,
            600,
            0,
            86_400,
            "api.max_retry_after_secs",
        )?,
        max_response_bytes: in_range(
            api.max_response_bytes,
            DEFAULT_MAX_RESPONSE_BYTES,
            1024,
            1 << 40,
            "api.max_response_bytes",
        )? as u64,
        max_requests_per_second,
    };
    Ok(api)
}

/// `[webhooks]`: where the receiver listens and the limits it holds every connection to.
fn webhook_settings(raw: RawWebhooks) -> Result<WebhookSettings, ConfigError> {
    let webhooks = WebhookSettings {
        bind: raw.bind.unwrap_or_else(|| "127.0.0.1:8787".into()),
        secret: raw.secret.filter(|s| !s.is_empty()).map(Secret::new),
        path: raw.path.unwrap_or_else(|| "/webhooks/ahead".into()),
        max_body_bytes: in_range(
            raw.max_body_bytes,
            1 << 20,
            1024,
            64 << 20,
            "webhooks.max_body_bytes",
        )? as usize,
        header_timeout: secs(
            raw.header_timeout_secs,
            10,
            1,
            300,
            "webhooks.header_timeout_secs",
        )?,
        body_timeout: secs(
            raw.body_timeout_secs,
            10,
            1,
            300,
            "webhooks.body_timeout_secs",
        )?,
        idle_timeout: secs(
            raw.idle_timeout_secs,
            60,
            1,
            3600,
            "webhooks.idle_timeout_secs",
        )?,
        max_connections: in_range(
            raw.max_connections,
            4096,
            1,
            1_000_000,
            "webhooks.max_connections",
        )? as usize,
    };
    if webhooks.bind.parse::<std::net::SocketAddr>().is_err() {
        return Err(ConfigError::new(format!(
            "webhooks.bind: {:?} is not an address such as 127.0.0.1:8787",
            webhooks.bind
        )));
    }
    if !webhooks.path.starts_with('/') {
        return Err(ConfigError::new(format!(
            "webhooks.path: {:?} must start with '/'",
            webhooks.path
        )));
    }
    Ok(webhooks)
}

/// `[pull]`, with the page size and concurrency from `[api]`.
fn pull_settings(
    raw: RawPull,
    api: &ApiSettings,
) -> Result<crate::pull::PullSettings, ConfigError> {
    let pull = crate::pull::PullSettings {
        page_size: api.page_size,
        concurrency: api.concurrency,
        overlap: secs(raw.overlap_secs, 300, 0, 7 * 86_400, "pull.overlap_secs")?,
        inventory_full_every: in_range(
            raw.inventory_full_every,
            24,
            0,
            1_000_000,
            "pull.inventory_full_every",
        )? as u32,
        max_passes: in_range(raw.max_passes, 3, 1, 20, "pull.max_passes")? as u32,
        lookup_batch: in_range(raw.lookup_batch, 200, 1, 1000, "pull.lookup_batch")? as usize,
    };
    Ok(pull)
}

/// A duration in seconds from a key, checked against its range.
fn secs(
    value: Option<i64>,
    default: i64,
    min: i64,
    max: i64,
    key: &str,
) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(
        in_range(value, default, min, max, key)? as u64,
    ))
}

/// The keys that hold secrets, which are better kept in the environment than in the file.
/// `api.secret_token` is the legacy MBX signing secret.
const SECRET_KEYS: [(&str, &str); 3] = [
    ("api", "client_secret"),
    ("api", "secret_token"),
    ("webhooks", "secret"),
];

/// A configuration file that holds secrets and that other users may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExposedSecrets {
    /// The permission bits, e.g. `0o644`.
    pub mode: u32,
    /// The secret keys the file itself sets (`api.client_secret`, ...), never their values.
    pub keys: Vec<String>,
}

/// The secret keys the file's own text sets to something (the environment is not looked at:
/// a secret there is not on disk in this file).
pub(crate) fn secret_keys_in(text: &str) -> Vec<String> {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return Vec::new();
    };
    SECRET_KEYS
        .iter()
        .filter(|(section, key)| {
            table
                .get(*section)
                .and_then(|s| s.get(*key))
                .is_some_and(|v| v.as_str().is_none_or(|s| !s.is_empty()))
        })
        .map(|(section, key)| format!("{section}.{key}"))
        .collect()
}

/// Whether `path`, whose text is `text`, holds secrets and is readable by its group or by
/// others. Always `None` where there are no Unix permission bits.
pub(crate) fn exposed_secrets(path: &Path, text: &str) -> Option<ExposedSecrets> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
        if mode & 0o044 == 0 {
            return None;
        }
        let keys = secret_keys_in(text);
        (!keys.is_empty()).then_some(ExposedSecrets { mode, keys })
    }
    #[cfg(not(unix))]
    {
        let _ = (path, text);
        None
    }
}

/// Warn (not fail: the run still does its job) when the configuration file gives its secrets to
/// every user of the machine.
fn warn_if_exposed(path: &Path, text: &str) {
    if let Some(exposed) = exposed_secrets(path, text) {
        tracing::warn!(
            file = %path.display(),
            mode = %format!("{:04o}", exposed.mode),
            keys = %exposed.keys.join(","),
            fix = %format!("chmod 600 {}", path.display()),
            "The configuration file holds secrets and other users can read it; to fix: \
             chmod 600 the file, or move the secrets to AHEAD_SYNC__* environment variables."
        );
    }
}

/// `ahead-sync.db` -> `ahead-sync.sandbox.json`, in the same folder.
pub(crate) fn sandbox_state_path(store: &Path) -> PathBuf {
    let stem = store
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ahead-sync".into());
    store.with_file_name(format!("{stem}.sandbox.json"))
}

fn in_range(
    value: Option<i64>,
    default: i64,
    min: i64,
    max: i64,
    key: &str,
) -> Result<i64, ConfigError> {
    let v = value.unwrap_or(default);
    if v < min || v > max {
        return Err(ConfigError::new(format!(
            "{key} = {v} is out of range (allowed: {min}..={max})"
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load_toml(toml: &str, pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ahead-sync.toml");
        std::fs::write(&path, toml).unwrap();
        Settings::load(Some(&path), &env(pairs))
    }

    #[test]
    fn defaults_use_the_sandbox() {
        let s = Settings::from_raw(RawConfig::default(), None, Path::new("")).unwrap();
        assert_eq!(s.api.base_url, BaseUrl::Sandbox);
        assert_eq!(s.api.client_id, SANDBOX_CLIENT_ID);
        assert_eq!(s.api.page_size, 500);
        assert_eq!(s.api.concurrency, 4);
        assert_eq!(s.api.max_attempts, 8);
        assert_eq!(s.api.max_response_bytes, 64 << 20);
        assert_eq!(s.store_path, PathBuf::from("ahead-sync.db"));
        assert_eq!(
            s.sandbox.state_path,
            PathBuf::from("ahead-sync.sandbox.json")
        );
    }

    #[test]
    fn reconciliation_settings() {
        let s = Settings::from_raw(RawConfig::default(), None, Path::new("")).unwrap();
        assert_eq!(s.reconciliation.stale_after, Duration::from_secs(24 * 3600));
        assert_eq!(
            s.reconciliation.ledger_mapping,
            PathBuf::from("mappings/ap_ledger.csv.toml")
        );
        let s = load_toml(
            "[reconciliation]\nstale_after_hours = 6\n",
            &[("AHEAD_SYNC__RECONCILIATION__LEDGER_MAPPING", "m/l.toml")],
        )
        .unwrap();
        assert_eq!(s.reconciliation.stale_after, Duration::from_secs(6 * 3600));
        assert!(s.reconciliation.ledger_mapping.ends_with("m/l.toml"));
        let e = load_toml("[reconciliation]\nstale_after_hours = -1\n", &[]).unwrap_err();
        assert!(
            e.to_string().contains("reconciliation.stale_after_hours"),
            "{e}"
        );
        let e = load_toml("[reconciliation]\nstale_hours = 1\n", &[]).unwrap_err();
        assert!(e.to_string().contains("stale_hours"), "{e}");
    }

    #[test]
    fn metrics_bind_is_an_address_or_nothing() {
        let s = Settings::from_raw(RawConfig::default(), None, Path::new("")).unwrap();
        assert_eq!(s.metrics_bind, None);
        let s = load_toml("[metrics]\nbind = \"127.0.0.1:9187\"\n", &[]).unwrap();
        assert_eq!(s.metrics_bind, Some("127.0.0.1:9187".parse().unwrap()));
        let s = load_toml("", &[("AHEAD_SYNC__METRICS__BIND", "0.0.0.0:0")]).unwrap();
        assert_eq!(s.metrics_bind, Some("0.0.0.0:0".parse().unwrap()));
        let e = load_toml("[metrics]\nbind = \"everywhere\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("metrics.bind"), "{e}");
    }

    #[test]
    fn environment_overrides_file() {
        let s = load_toml(
            "[api]\npage_size = 200\nclient_secret = \"from-file\"\n",
            &[
                ("AHEAD_SYNC__API__CLIENT_SECRET", "from-env"),
                ("AHEAD_SYNC__API__CONCURRENCY", "2"),
            ],
        )
        .unwrap();
        assert_eq!(s.api.page_size, 200);
        assert_eq!(s.api.concurrency, 2);
        assert_eq!(s.api.client_secret.expose(), "from-env");
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = load_toml("[api]\npage_sise = 5\n", &[]).unwrap_err();
        assert!(
            e.to_string().contains("page_sise") && e.to_string().contains("api"),
            "{e}"
        );
        let e = load_toml("[apx]\n", &[]).unwrap_err();
        assert!(e.to_string().contains("apx"), "{e}");
        let e = load_toml("", &[("AHEAD_SYNC__STORE__PATHH", "x")]).unwrap_err();
        assert!(e.to_string().contains("pathh"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = load_toml("[api]\npage_size = \"lots\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("api.page_size"), "{e}");
        let e = load_toml("[api]\nconcurrency = 0\n", &[]).unwrap_err();
        assert!(e.to_string().contains("api.concurrency"), "{e}");
        let e = load_toml("", &[("AHEAD_SYNC__API__TIMEOUT_SECS", "soon")]).unwrap_err();
        assert!(e.to_string().contains("api.timeout_secs"), "{e}");
        let e = load_toml("[api]\nbase_url = \"ftp://x\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("api.base_url"), "{e}");
        let e = load_toml("[webhooks]\nbind = \"nowhere\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("webhooks.bind"), "{e}");
    }

    #[test]
    fn max_response_bytes_is_configurable_and_checked() {
        let s = load_toml("[api]\nmax_response_bytes = 4096\n", &[]).unwrap();
        assert_eq!(s.api.max_response_bytes, 4096);
        let s = load_toml("", &[("AHEAD_SYNC__API__MAX_RESPONSE_BYTES", "1048576")]).unwrap();
        assert_eq!(s.api.max_response_bytes, 1 << 20);
        for bad in ["0", "1023", "-1", "\"lots\""] {
            let e = load_toml(&format!("[api]\nmax_response_bytes = {bad}\n"), &[]).unwrap_err();
            assert!(
                e.to_string().contains("api.max_response_bytes"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn webhook_connection_limits() {
        let s = Settings::from_raw(RawConfig::default(), None, Path::new("")).unwrap();
        assert_eq!(
            (
                s.webhooks.header_timeout,
                s.webhooks.body_timeout,
                s.webhooks.idle_timeout,
                s.webhooks.max_connections
            ),
            (
                Duration::from_secs(10),
                Duration::from_secs(10),
                Duration::from_secs(60),
                4096
            )
        );
        let s = load_toml(
            "[webhooks]\nheader_timeout_secs = 5\nbody_timeout_secs = 20\nidle_timeout_secs = 120\n",
            &[("AHEAD_SYNC__WEBHOOKS__MAX_CONNECTIONS", "500")],
        )
        .unwrap();
        assert_eq!(
            (
                s.webhooks.header_timeout,
                s.webhooks.body_timeout,
                s.webhooks.idle_timeout,
                s.webhooks.max_connections
            ),
            (
                Duration::from_secs(5),
                Duration::from_secs(20),
                Duration::from_secs(120),
                500
            )
        );
        for bad in [
            "header_timeout_secs = 0",
            "body_timeout_secs = 301",
            "idle_timeout_secs = -1",
            "max_connections = 0",
        ] {
            let key = bad.split(' ').next().unwrap();
            let e = load_toml(&format!("[webhooks]\n{bad}\n"), &[]).unwrap_err();
            assert!(e.to_string().contains(&format!("webhooks.{key}")), "{e}");
        }
    }

    #[test]
    fn remote_api_needs_credentials() {
        let e = load_toml("[api]\nbase_url = \"https://api.mbx.com\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("api.client_id"), "{e}");
        let s = load_toml(
            "[api]\nbase_url = \"https://api.mbx.com\"\nclient_id = \"c\"\nclient_secret = \"s\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(s.api.token_key(), "https://api.mbx.com|c");
    }

    #[test]
    fn a_legacy_account_needs_its_tokens_and_no_oauth_client() {
        let remote = "[api]\nbase_url = \"https://api.mbx.com\"\nauth = \"mbx-signature\"\n";
        let e = load_toml(remote, &[]).unwrap_err();
        assert!(e.to_string().contains("api.public_token"), "{e}");
        let e = load_toml(&format!("{remote}public_token = \"P\"\n"), &[]).unwrap_err();
        assert!(
            e.to_string().contains("api.secret_token")
                && e.to_string().contains("AHEAD_SYNC__API__SECRET_TOKEN"),
            "{e}"
        );
        let s = load_toml(
            &format!("{remote}public_token = \"P\"\n"),
            &[("AHEAD_SYNC__API__SECRET_TOKEN", "from-env")],
        )
        .unwrap();
        let keys = s.api.mbx_keys().unwrap();
        assert_eq!(
            (keys.public_token.as_str(), keys.secret_token.expose()),
            ("P", "from-env")
        );
        assert_eq!(s.api.identity(), "https://api.mbx.com (public token \"P\")");
        assert!(!format!("{s:?}").contains("from-env"));
        // The embedded sandbox has tokens of its own.
        let s = load_toml("[api]\nauth = \"mbx-signature\"\n", &[]).unwrap();
        assert_eq!(s.api.mbx_keys().unwrap().public_token, SANDBOX_PUBLIC_TOKEN);
        assert_eq!(s.api.identity(), "the embedded AHEAD sandbox");
    }

    #[test]
    fn auth_is_oauth2_or_mbx_signature_and_tokens_need_mbx() {
        let s = Settings::from_raw(RawConfig::default(), None, Path::new("")).unwrap();
        assert_eq!(s.api.auth, ApiAuth::OAuth2);
        assert!(s.api.mbx_keys().is_none());
        let s = load_toml("[api]\nauth = \"oauth2\"\n", &[]).unwrap();
        assert_eq!(s.api.auth, ApiAuth::OAuth2);
        let e = load_toml("[api]\nauth = \"hmac\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("api.auth"), "{e}");
        let e = load_toml("[api]\npublic_token = \"P\"\n", &[]).unwrap_err();
        assert!(
            e.to_string().contains("api.public_token") && e.to_string().contains("mbx-signature"),
            "{e}"
        );
    }

    #[test]
    fn max_requests_per_second_is_optional_and_checked() {
        let s = Settings::from_raw(RawConfig::default(), None, Path::new("")).unwrap();
        assert_eq!(s.api.max_requests_per_second, None);
        let s = load_toml("[api]\nmax_requests_per_second = 25\n", &[]).unwrap();
        assert_eq!(s.api.max_requests_per_second, Some(25.0));
        let s = load_toml("", &[("AHEAD_SYNC__API__MAX_REQUESTS_PER_SECOND", "2.5")]).unwrap();
        assert_eq!(s.api.max_requests_per_second, Some(2.5));
        for bad in ["0", "-1", "1e9", "\"fast\""] {
            let e =
                load_toml(&format!("[api]\nmax_requests_per_second = {bad}\n"), &[]).unwrap_err();
            assert!(
                e.to_string().contains("max_requests_per_second"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn paths_resolve_against_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ahead-sync.toml");
        std::fs::write(&path, "[store]\npath = \"data/sync.db\"\n").unwrap();
        let s = Settings::load(Some(&path), &HashMap::new()).unwrap();
        assert_eq!(s.store_path, dir.path().join("data/sync.db"));
        assert_eq!(
            s.sandbox.state_path,
            dir.path().join("data/sync.sandbox.json")
        );
    }

    #[test]
    fn missing_named_file_is_an_error() {
        let e =
            Settings::load(Some(Path::new("/nonexistent/x.toml")), &HashMap::new()).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/x.toml"));
    }

    #[test]
    fn secret_keys_are_found_in_the_file_itself() {
        let table = [
            ("", vec![]),
            ("[api]\npage_size = 5\n", vec![]),
            ("[api]\nclient_secret = \"s\"\n", vec!["api.client_secret"]),
            ("[api]\nclient_secret = \"\"\n", vec![]),
            ("[api]\nsecret_token = \"t\"\n", vec!["api.secret_token"]),
            (
                "[api]\nclient_secret = \"s\"\n[webhooks]\nsecret = \"w\"\n",
                vec!["api.client_secret", "webhooks.secret"],
            ),
            ("[webhooks]\nbind = \"127.0.0.1:1\"\n", vec![]),
            ("not toml [", vec![]),
        ];
        for (text, want) in table {
            assert_eq!(secret_keys_in(text), want, "{text:?}");
        }
    }

    #[test]
    #[cfg(unix)]
    fn a_file_with_secrets_readable_by_others_is_exposed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ahead-sync.toml");
        let secret = "[api]\nclient_secret = \"s3cr3t\"\n";
        let table = [
            (secret, 0o644, Some(0o644)),
            (secret, 0o640, Some(0o640)),
            (secret, 0o604, Some(0o604)),
            (secret, 0o600, None),
            (secret, 0o400, None),
            ("[api]\npage_size = 5\n", 0o644, None),
        ];
        for (text, mode, want) in table {
            let _ = std::fs::remove_file(&path);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let exposed = exposed_secrets(&path, text);
            assert_eq!(exposed.as_ref().map(|e| e.mode), want, "{text:?} {mode:o}");
            if let Some(e) = exposed {
                assert_eq!(e.keys, vec!["api.client_secret"]);
                assert!(!format!("{e:?}").contains("s3cr3t"));
            }
        }
    }

    #[test]
    fn push_sections_take_either_spelling() {
        for (section, key) in [
            ("purchase_orders", "purchase_orders"),
            ("purchase-orders", "purchase_orders"),
            ("fulfillment_orders", "fulfillment_orders"),
            ("fulfillment-orders", "fulfillment_orders"),
        ] {
            let s = load_toml(&format!("[push.{section}]\ninbox = \"in/x\"\n"), &[]).unwrap();
            let job = match key {
                "purchase_orders" => &s.purchase_orders,
                _ => &s.fulfillment_orders,
            };
            assert!(
                job.inbox.as_ref().is_some_and(|p| p.ends_with("in/x")),
                "[push.{section}]"
            );
        }
    }

    #[test]
    fn outbox_sections() {
        let s = load_toml(
            "[outbox.ship_856]\nstream = \"shipments\"\nmapping = \"m/s.toml\"\ndir = \"out/s\"\n\
             [outbox.po]\nstream = \"purchase-orders\"\nmapping = \"m/p.toml\"\ndir = \"out/p\"\n\
             changes = [\"updated\"]\nmax_changes_per_file = 5\n",
            &[("AHEAD_SYNC__OUTBOX__SHIP_856__DIR", "elsewhere")],
        )
        .unwrap();
        let names: Vec<_> = s.outboxes.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["po", "ship_856"]);
        let po = &s.outboxes[0];
        assert_eq!(po.stream, crate::kinds::StreamKind::PurchaseOrders);
        assert_eq!(po.changes, ["updated"]);
        assert_eq!(po.max_changes_per_file, 5);
        assert!(po.mapping.ends_with("m/p.toml"));
        let ship = &s.outboxes[1];
        assert_eq!(ship.changes, ["created", "updated", "closed"]);
        assert_eq!(ship.max_changes_per_file, 1000);
        assert!(ship.dir.ends_with("elsewhere"));
        for (bad, key) in [
            (
                "stream = \"nope\"\nmapping = \"m\"\ndir = \"d\"",
                "outbox.x.stream",
            ),
            ("stream = \"shipments\"\ndir = \"d\"", "outbox.x.mapping"),
            ("stream = \"shipments\"\nmapping = \"m\"", "outbox.x.dir"),
            (
                "stream = \"shipments\"\nmapping = \"m\"\ndir = \"d\"\nchanges = [\"rejected\"]",
                "outbox.x.changes",
            ),
            (
                "stream = \"shipments\"\nmapping = \"m\"\ndir = \"d\"\nmax_changes_per_file = 0",
                "outbox.x.max_changes_per_file",
            ),
            ("stream = \"shipments\"\nfolder = \"d\"", "folder"),
        ] {
            let e = load_toml(&format!("[outbox.x]\n{bad}\n"), &[]).unwrap_err();
            assert!(e.to_string().contains(key), "{bad}: {e}");
        }
        let e = load_toml(
            "[outbox.replay]\nstream = \"shipments\"\nmapping = \"m\"\ndir = \"d\"\n",
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("replay"), "{e}");
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let s = load_toml(
            "[api]\nclient_secret = \"s3cr3t-value\"\n[webhooks]\nsecret = \"wh-s3cr3t\"\n",
            &[],
        )
        .unwrap();
        let dbg = format!("{s:?}");
        assert!(
            !dbg.contains("s3cr3t-value") && !dbg.contains("wh-s3cr3t"),
            "{dbg}"
        );
    }
}
