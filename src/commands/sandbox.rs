//! `sandbox`: serve the embedded AHEAD sandbox on its own.

use crate::cli::SandboxArgs;
use crate::error::{ConfigError, Exit};

#[cfg(feature = "sandbox")]
pub(crate) async fn run(args: SandboxArgs) -> anyhow::Result<Exit> {
    use ahead_sandbox::SandboxConfig;
    use anyhow::Context as _;
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
        // Legacy MBX signing is accepted beside OAuth, so both kinds of account can be tried.
        legacy: Some((
            args.public_token
                .unwrap_or_else(|| crate::settings::SANDBOX_PUBLIC_TOKEN.into()),
            args.secret_token
                .unwrap_or_else(|| crate::settings::SANDBOX_SECRET_TOKEN.into()),
        )),
        ..defaults
    };
    ahead_sandbox::run_standalone(config, bind)
        .await
        .context("the sandbox stopped with an error")?;
    Ok(Exit::Ok)
}

#[cfg(not(feature = "sandbox"))]
pub(crate) async fn run(_args: SandboxArgs) -> anyhow::Result<Exit> {
    Err(ConfigError::new(
        "this ahead-sync was built without the embedded sandbox (the `sandbox` feature)",
    )
    .into())
}
