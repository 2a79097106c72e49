//! `auth login | status | logout`.

use super::context::Context;
use crate::cli::AuthAction;
use crate::error::Exit;
use crate::settings::{ApiAuth, Settings};
use crate::store::Store;
use crate::time::now_unix;

pub(crate) async fn run(settings: &Settings, action: AuthAction) -> anyhow::Result<Exit> {
    if let ApiAuth::MbxSignature { public_token, .. } = &settings.api.auth {
        return legacy(settings, public_token, action).await;
    }
    match action {
        AuthAction::Login => login(settings).await,
        AuthAction::Status => status(settings).await,
        AuthAction::Logout => logout(settings),
    }
}

async fn login(settings: &Settings) -> anyhow::Result<Exit> {
    let ctx = Context::open(settings).await?;
    let result = async {
        let token = ctx.client().login().await?;
        let organization = ctx.client().authenticate().await?;
        println!(
            "Logged in to {} as {organization} (client id {}). Access token valid until {}; it is refreshed automatically. Tokens are stored in {}.",
            Context::describe_api(settings),
            settings.api.client_id,
            crate::time::from_unix(token.expires_at),
            settings.store_path.display()
        );
        anyhow::Ok(Exit::Ok)
    }
    .await;
    ctx.adopt_after(&result)?;
    ctx.close().await?;
    result
}

async fn status(settings: &Settings) -> anyhow::Result<Exit> {
    if Store::open(&settings.store_path)?
        .token(&settings.api.token_key())?
        .is_none()
    {
        println!(
            "Not logged in to {} with client id {}: no tokens in {}. Run `ahead-sync auth login`.",
            Context::describe_api(settings),
            settings.api.client_id,
            settings.store_path.display()
        );
        return Ok(Exit::Failed);
    }
    let ctx = Context::open(settings).await?;
    let result = async {
        // Authenticating may refresh the token; show the state after it.
        let organization = ctx.client().authenticate().await?;
        let token = ctx
            .store
            .token(&settings.api.token_key())?
            .ok_or_else(|| anyhow::anyhow!("the stored token vanished during the check"))?;
        let left = token.expires_at - now_unix();
        println!(
            "Authenticated to {} as {organization}.",
            Context::describe_api(settings)
        );
        println!("  client id:      {}", settings.api.client_id);
        println!(
            "  access token:   valid until {} ({} min left; refreshed automatically)",
            crate::time::from_unix(token.expires_at),
            left.max(0) / 60
        );
        println!(
            "  obtained:       {}",
            crate::time::from_unix(token.obtained_at)
        );
        println!("  store:          {}", settings.store_path.display());
        anyhow::Ok(Exit::Ok)
    }
    .await;
    ctx.close().await?;
    result
}

fn logout(settings: &Settings) -> anyhow::Result<Exit> {
    let store = Store::open(&settings.store_path)?;
    if store.delete_token(&settings.api.token_key())? {
        println!(
            "Forgot the stored tokens for {}.",
            Context::describe_api(settings)
        );
    } else {
        println!(
            "No stored tokens for {}; nothing to forget.",
            Context::describe_api(settings)
        );
    }
    Ok(Exit::Ok)
}

/// A legacy account signs every request: there are no tokens to obtain, show or forget. `login`
/// and `status` check the signature with AHEAD (exit 5 when it is refused); the secret token is
/// never shown.
async fn legacy(
    settings: &Settings,
    public_token: &str,
    action: AuthAction,
) -> anyhow::Result<Exit> {
    let api = Context::describe_api(settings);
    if let AuthAction::Logout = action {
        println!(
            "Nothing to forget: {api} is a legacy MBX account (api.auth = \"mbx-signature\"), \
             which signs each request and stores no tokens. To stop using it, remove \
             api.secret_token (or AHEAD_SYNC__API__SECRET_TOKEN)."
        );
        return Ok(Exit::Ok);
    }
    let ctx = Context::open(settings).await?;
    let result = async {
        let organization = ctx.client().authenticate().await?;
        if let AuthAction::Login = action {
            println!(
                "No login needed: {api} is a legacy MBX account (api.auth = \"mbx-signature\"); \
                 every request is signed with public token {public_token:?}. Checked: \
                 authenticated as {organization}."
            );
        } else {
            println!("Authenticated to {api} as {organization}.");
            println!("  auth:           legacy MBX request signing (no login, no stored tokens)");
            println!("  public token:   {public_token}");
            println!("  secret token:   set (not shown)");
            println!("  store:          {}", settings.store_path.display());
        }
        anyhow::Ok(Exit::Ok)
    }
    .await;
    ctx.adopt_after(&result)?;
    ctx.close().await?;
    result
}
