//! The embedded AHEAD sandbox: interface placeholder until the simulator lands.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub seed: u64,
    pub items: usize,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub organization: String,
    pub state_path: Option<PathBuf>,
    pub legacy: Option<(String, String)>,
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

pub struct Sandbox;

impl Sandbox {
    pub async fn start_local(_config: SandboxConfig) -> anyhow::Result<Sandbox> {
        anyhow::bail!("the embedded sandbox is not built yet")
    }
    pub fn base_url(&self) -> String {
        String::new()
    }
    pub async fn stop(self) -> anyhow::Result<()> {
        Ok(())
    }
}

pub async fn run_standalone(
    _config: SandboxConfig,
    _bind: std::net::SocketAddr,
) -> anyhow::Result<()> {
    anyhow::bail!("the embedded sandbox is not built yet")
}
