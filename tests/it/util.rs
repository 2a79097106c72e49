//! Helpers shared by the integration tests: a sandbox on an ephemeral port, a client for it,
//! a store in a temporary folder, and the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ahead_sandbox::{Sandbox, SandboxConfig};
use ahead_sync::api::retry::RetryPolicy;
use ahead_sync::api::{ApiClient, ClientConfig, Sleeper};
use ahead_sync::secret::Secret;
use ahead_sync::store::Store;

pub const CLIENT_ID: &str = "it-client";
pub const CLIENT_SECRET: &str = "it-secret-5f1c9e";
pub const REDIRECT_URI: &str = "https://erp.example.com/ahead/callback";

pub fn sandbox_config() -> SandboxConfig {
    SandboxConfig {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uri: REDIRECT_URI.into(),
        items: 50,
        webhook_retry_base: Duration::from_millis(20),
        ..SandboxConfig::default()
    }
}

pub async fn start_sandbox() -> Sandbox {
    Sandbox::start_local(sandbox_config())
        .await
        .expect("sandbox starts")
}

/// Records the waits the client asks for instead of spending them; its clock moves by each
/// wait recorded, so the client's pacing sees the time it asked for pass.
pub struct RecordingSleeper {
    pub waits: Mutex<Vec<Duration>>,
    origin: tokio::time::Instant,
}

impl Default for RecordingSleeper {
    fn default() -> Self {
        RecordingSleeper {
            waits: Mutex::new(Vec::new()),
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(
        &self,
        wait: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        self.waits.lock().unwrap().push(wait);
        Box::pin(async {})
    }

    fn now(&self) -> tokio::time::Instant {
        self.origin + self.waits.lock().unwrap().iter().sum::<Duration>()
    }
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub sandbox: Sandbox,
    pub store: Store,
    pub sleeper: Arc<RecordingSleeper>,
}

impl Harness {
    pub async fn new() -> Harness {
        Harness::with_sandbox(sandbox_config()).await
    }

    /// A harness whose sandbox is started with `config` (e.g. one that accepts a legacy
    /// account's signatures).
    pub async fn with_sandbox(config: SandboxConfig) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ahead-sync.db")).unwrap();
        Harness {
            dir,
            sandbox: Sandbox::start_local(config).await.expect("sandbox starts"),
            store,
            sleeper: Arc::new(RecordingSleeper::default()),
        }
    }

    pub fn config(&self) -> ClientConfig {
        ClientConfig {
            base_url: self.sandbox.base_url().parse().unwrap(),
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new(CLIENT_SECRET),
            redirect_uri: Some(REDIRECT_URI.into()),
            token_key: "it".into(),
            mbx: None,
            timeout: Duration::from_secs(10),
            concurrency: 4,
            page_size: 100,
            refresh_margin: Duration::from_secs(300),
            retry: RetryPolicy {
                max_attempts: 6,
                base: Duration::from_millis(100),
                max: Duration::from_secs(5),
                max_retry_after: Duration::from_secs(120),
            },
            max_response_bytes: 64 << 20,
            max_requests_per_second: None,
        }
    }

    /// A client whose waits are recorded, not slept.
    pub fn client(&self) -> ApiClient {
        self.client_with(self.config())
    }

    pub fn client_with(&self, config: ClientConfig) -> ApiClient {
        ApiClient::with_sleeper(config, self.store.clone(), self.sleeper.clone()).unwrap()
    }

    pub fn waits(&self) -> Vec<Duration> {
        self.sleeper.waits.lock().unwrap().clone()
    }

    /// A config file pointing the binary at this sandbox.
    pub fn write_config(&self, extra: &str) -> PathBuf {
        let path = self.dir.path().join("ahead-sync.toml");
        std::fs::write(
            &path,
            format!(
                "[api]\nbase_url = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
                 redirect_uri = \"{REDIRECT_URI}\"\nretry_base_ms = 10\n{extra}\n[store]\npath = \"ahead-sync.db\"\n",
                self.sandbox.base_url()
            ),
        )
        .unwrap();
        // It holds the client secret: private, as a user's should be.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        path
    }
}

/// The binary, run in `dir` with no AHEAD_SYNC__ variables inherited.
pub fn cmd(dir: &Path, args: &[&str]) -> Output {
    cmd_env(dir, args, &[])
}

/// The binary, run in `dir` with only the given AHEAD_SYNC__ variables.
pub fn cmd_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ahead-sync"));
    command.current_dir(dir).args(args).arg("--no-progress");
    for (key, _) in std::env::vars() {
        if key.starts_with("AHEAD_SYNC") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    command.output().expect("the binary runs")
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Run a blocking command without stalling the sandbox's runtime.
pub async fn cmd_async(dir: &Path, args: &[&str]) -> Output {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cmd(&dir, &refs)
    })
    .await
    .unwrap()
}

/// A plain HTTP client for tests that talk to a server directly.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// SIGKILL a child that must still be running (the test's premise), and reap it.
pub fn kill_while_running(child: &mut std::process::Child) {
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running when killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The lines a child logs on stderr.
pub type LogLines = std::io::Lines<std::io::BufReader<std::process::ChildStderr>>;

/// Read a `webhooks serve` child's JSON log (started with `--log-format json`, stderr piped)
/// until it says where it listens; its address, and the rest of its log.
pub fn receiver_address(child: &mut std::process::Child) -> (String, LogLines) {
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    loop {
        let line = lines
            .next()
            .expect("the receiver logs its address")
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "Webhook receiver listening." {
            return (v["address"].as_str().unwrap().to_string(), lines);
        }
    }
}
