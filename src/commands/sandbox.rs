//! `sandbox`: serve the embedded AHEAD sandbox on its own.

use anyhow::Context as _;

use crate::cli::SandboxArgs;
use crate::error::{ConfigError, Exit};
use crate::sandbox::SandboxConfig;

pub async fn run(args: SandboxArgs) -> anyhow::Result<Exit> {
    let bind = args.bind.parse().map_err(|_| {
        ConfigError::new(format!(
            "--bind: {:?} is not an address such as 127.0.0.1:8080",
            args.bind
        ))
    })?;
    let defaults = SandboxConfig::default();
    let config = SandboxConfig {
        seed: args.seed,
        items: args.items,
        client_id: args.client_id.unwrap_or(defaults.client_id.clone()),
        client_secret: args.client_secret.unwrap_or(defaults.client_secret.clone()),
        redirect_uri: args.redirect_uri.unwrap_or(defaults.redirect_uri.clone()),
        ..defaults
    };
    crate::sandbox::run_standalone(config, bind)
        .await
        .context("the sandbox stopped with an error")?;
    Ok(Exit::Ok)
}
