//! `sandbox`: serve the embedded AHEAD sandbox on its own; `sandbox advance`: move its clock.

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

/// `sandbox advance --hours N`: the embedded sandbox (the one `api.base_url = "sandbox"`
/// starts, whose world is kept beside the store) lives N hours on at once.
pub(crate) fn advance(settings: &crate::settings::Settings, hours: u32) -> anyhow::Result<Exit> {
    if settings.api.base_url != crate::settings::BaseUrl::Sandbox {
        return Err(ConfigError::new(
            "sandbox advance moves the embedded sandbox's clock, but api.base_url is not \"sandbox\"",
        )
        .into());
    }
    let by = std::time::Duration::from_secs(u64::from(hours) * 3600);
    let done = super::embedded::advance(settings, by)?;
    let happened: Vec<String> = done
        .activity
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
    println!(
        "The sandbox's clock moved {hours} h forward, to {}. Meanwhile at AHEAD: {}.",
        done.now.format("%Y-%m-%d %H:%M UTC"),
        if happened.is_empty() {
            "nothing".to_string()
        } else {
            happened.join(", ")
        }
    );
    println!("Next: ahead-sync sync (it pulls what changed), then ahead-sync status.");
    Ok(Exit::Ok)
}
