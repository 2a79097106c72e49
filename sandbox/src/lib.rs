//! The embedded AHEAD sandbox: an in-memory imitation of the AHEAD API, deterministic for a
//! seed, with faults on demand. The client in `api/` is tested against it, so it shares no
//! types with the client: it has its own wire types and reads the contract from `rules`.
//!
//! Layout:
//! - `rules`: every [settled] contract choice (paths, keys, caps, lifetimes, codes, fields).
//!   Private on purpose: the client must read the contract, not the sandbox's copy of it.
//! - `world`, `seed`, `mutations`, `simulate`: the data, how it starts, how it changes.
//! - `query`: the `q` parameter. `envelope`: the response envelope.
//! - `oauth`: grants, tokens, legacy signing. `resources`, `orders`, `webhooks`: the /v2 handlers.
//! - `faults`: injected failures. `shared`: state and counters. `control`, `control_routes`:
//!   the test surface, in process and over HTTP.
//! - `server`: router, /v2 gate and accept loop. `state`: the state file. `offline`: the
//!   world read, or its clock moved, through the state file alone.

#![warn(unreachable_pub)]
#![warn(clippy::too_many_lines)]

mod control;
mod control_routes;
mod envelope;
mod faults;
mod mutations;
mod oauth;
mod offline;
mod orders;
mod query;
mod resources;
mod rules;
mod seed;
mod server;
mod shared;
mod simulate;
mod state;
mod webhooks;
mod world;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use control::Control;
pub use faults::{Drift, Faults, TokenBucket};
pub use mutations::NewInvoice;
pub use oauth::mbx_signature;
pub use offline::{advance, invoices, Advanced};
pub use shared::Counters;
pub use simulate::Activity;
pub use webhooks::signature as webhook_signature;
pub use world::Doc;

use shared::{lock, Shared};

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Seeds the world: same seed, same data.
    pub seed: u64,
    /// Generated items beyond the fixed catalog; each gets one inventory row per warehouse
    /// (`rules::WAREHOUSES`, four), so 250,000 items make 1,000,000 inventory rows.
    pub items: usize,
    pub client_id: String,
    pub client_secret: String,
    /// The one redirect URI registered for the client.
    pub redirect_uri: String,
    /// Named by `GET /v2/authenticate`.
    pub organization: String,
    /// When set: the world (and live tokens) is loaded from this file at start, activity
    /// for the time since it was saved is simulated, and it is saved again on shutdown.
    pub state_path: Option<PathBuf>,
    /// (public token, secret) accepted through legacy MBX-Auth signing.
    pub legacy: Option<(String, String)>,
    /// First retry delay of a failed webhook delivery; doubles on each retry.
    pub webhook_retry_base: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            seed: 1,
            items: 200,
            client_id: "sandbox-client".into(),
            client_secret: "sandbox-secret".into(),
            redirect_uri: "http://127.0.0.1/callback".into(),
            organization: "Sandbox Organization".into(),
            state_path: None,
            legacy: None,
            webhook_retry_base: Duration::from_secs(30),
        }
    }
}

/// A running sandbox.
pub struct Sandbox {
    app: server::App,
    addr: SocketAddr,
    /// Cancelling it stops the accept loop, the connections and the webhook dispatcher.
    shutdown: CancellationToken,
    /// The accept loop; it saves the state file after its last connection is done.
    server: JoinHandle<anyhow::Result<()>>,
}

impl Sandbox {
    /// Serves on an already-bound listener until `shutdown` is cancelled (or `stop()`).
    pub async fn start(
        config: SandboxConfig,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Sandbox> {
        let addr = listener.local_addr()?;
        let loaded = match &config.state_path {
            Some(p) => state::load(p)?,
            None => None,
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (world, auth, saved_at, offset) = match loaded {
            Some(s) => (s.world, s.auth, Some(s.saved_at), s.clock_offset_ms),
            None => {
                let (seed, items) = (config.seed, config.items);
                let world = tokio::task::spawn_blocking(move || seed::seed(seed, items)).await?;
                (world, oauth::Auth::default(), None, 0)
            }
        };
        let app: server::App = Arc::new(Shared {
            config,
            world: Mutex::new(world),
            auth: Mutex::new(auth),
            faults: Mutex::new(Faults::default()),
            counters: Mutex::new(Counters::default()),
            clock_offset_ms: AtomicI64::new(offset),
            events: tx,
        });
        if let Some(saved_at) = saved_at {
            // Events raised while catching up are not delivered: no subscriber could have
            // been listening to a sandbox that was not running.
            app.mutate(|w, now| {
                w.simulate(now - saved_at, now);
                w.outbox.clear();
            });
        }
        let tasks = TaskTracker::new();
        tasks.spawn(webhooks::dispatch(
            app.clone(),
            rx,
            shutdown.clone(),
            tasks.clone(),
        ));
        let router = server::router(app.clone());
        let server = tokio::spawn({
            let (app, shutdown) = (app.clone(), shutdown.clone());
            async move {
                server::serve(router, listener, shutdown, tasks.clone()).await;
                tasks.close();
                tasks.wait().await;
                save(&app)
            }
        });
        Ok(Sandbox {
            app,
            addr,
            shutdown,
            server,
        })
    }

    /// Binds 127.0.0.1 on a free port and starts: what tests use.
    pub async fn start_local(config: SandboxConfig) -> anyhow::Result<Sandbox> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Sandbox::start(config, listener, CancellationToken::new()).await
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn control(&self) -> Control {
        Control {
            app: self.app.clone(),
        }
    }

    /// Stops serving, lets open connections finish, saves the state file if configured.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.server.await?
    }
}

fn save(app: &server::App) -> anyhow::Result<()> {
    let Some(path) = &app.config.state_path else {
        return Ok(());
    };
    let world = app.world();
    let auth = lock(&app.auth);
    let offset = app
        .clock_offset_ms
        .load(std::sync::atomic::Ordering::Relaxed);
    state::save(path, app.now(), offset, &world, &auth)
}

/// Runs the sandbox as its own program: binds, prints one line with the base URL and the
/// credentials it accepts (the first line of stdout, for scripts to read), and serves until
/// Ctrl-C or SIGTERM.
pub async fn run_standalone(config: SandboxConfig, bind: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(bind).await?;
    let shutdown = CancellationToken::new();
    let mut line = format!(
        "AHEAD sandbox listening on http://{} client_id={} client_secret={} redirect_uri={}",
        listener.local_addr()?,
        config.client_id,
        config.client_secret,
        config.redirect_uri
    );
    if let Some((public, secret)) = &config.legacy {
        line.push_str(&format!(" public_token={public} secret_token={secret}"));
    }
    let sandbox = Sandbox::start(config, listener, shutdown.clone()).await?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    wait_for_signal().await;
    sandbox.stop().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
