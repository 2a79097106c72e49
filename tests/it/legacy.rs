//! Legacy (MBX-era) accounts: every request signed with `MBX-Auth` and `X-Date`, no OAuth, a
//! refused signature is exit 5, and the secret token is never printed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use ahead_sandbox::SandboxConfig;
use ahead_sync::api::contract::resource;
use ahead_sync::api::{ApiClient, ApiError, MbxKeys, Query};
use ahead_sync::secret::Secret;
use serde_json::json;

use crate::util::{cmd_async, sandbox_config, text, Harness};

const PUBLIC: &str = "pub-7c1e2a";
const SECRET: &str = "mbx-secret-44f0b9d1";

async fn legacy_harness() -> Harness {
    Harness::with_sandbox(SandboxConfig {
        legacy: Some((PUBLIC.into(), SECRET.into())),
        ..sandbox_config()
    })
    .await
}

fn keys(public: &str, secret: &str) -> MbxKeys {
    MbxKeys {
        public_token: public.into(),
        secret_token: Secret::new(secret),
    }
}

/// A config file for the binary: the sandbox at `h`, signed with these tokens, no OAuth client.
fn write_legacy_config(h: &Harness, public: &str, secret: &str) -> String {
    let path = h.dir.path().join("ahead-sync.toml");
    std::fs::write(
        &path,
        format!(
            "[api]\nbase_url = \"{}\"\nauth = \"mbx-signature\"\npublic_token = \"{public}\"\n\
             secret_token = \"{secret}\"\nretry_base_ms = 10\n[store]\npath = \"ahead-sync.db\"\n",
            h.sandbox.base_url()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path.to_str().unwrap().to_string()
}

fn oauth_requests(h: &Harness) -> u64 {
    h.sandbox.control().requests_to("GET /oauth/authorize")
        + h.sandbox.control().requests_to("POST /oauth/token")
}

#[tokio::test]
async fn signed_requests_cover_the_query_string_and_the_body() {
    let h = legacy_harness().await;
    let client = h.client_with(ahead_sync::api::ClientConfig {
        mbx: Some(keys(PUBLIC, SECRET)),
        ..h.config()
    });
    assert_eq!(client.authenticate().await.unwrap(), "Sandbox Organization");
    let env = client
        .get(resource::INVENTORY, Some(&Query::new().limit(3).offset(2)))
        .await
        .unwrap();
    assert_eq!((env.count, env.offset), (3, 2));
    let env = client
        .post(
            resource::WEBHOOKS,
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["invoice.created"], "secret": "w"}),
        )
        .await
        .unwrap();
    assert_eq!(env.count, 1);
    let c = h.sandbox.control().counters();
    assert_eq!(c.unauthorized, 0);
    assert_eq!(oauth_requests(&h), 0, "no OAuth round trip");
    assert!(h.store.token("it").unwrap().is_none(), "no token stored");
}

#[tokio::test]
async fn a_wrong_secret_is_a_credentials_error_that_is_not_retried() {
    let h = legacy_harness().await;
    let client = h.client_with(ahead_sync::api::ClientConfig {
        mbx: Some(keys(PUBLIC, "not-the-secret-0a9")),
        ..h.config()
    });
    let error = client.get(resource::ITEMS, None).await.unwrap_err();
    assert!(error.is_credentials(), "{error}");
    assert!(
        matches!(&error, ApiError::SignatureRejected { public_token, .. } if public_token == PUBLIC),
        "{error}"
    );
    let message = format!("{error} {error:?}");
    assert!(
        message.contains("api.secret_token") && !message.contains("not-the-secret-0a9"),
        "{message}"
    );
    assert_eq!(h.sandbox.control().requests_to("GET /v2/items"), 1);
    assert_eq!(oauth_requests(&h), 0);
}

#[tokio::test]
async fn a_legacy_account_pulls_and_syncs_with_every_request_signed() {
    let h = legacy_harness().await;
    let config = write_legacy_config(&h, PUBLIC, SECRET);
    let out = cmd_async(h.dir.path(), &["--config", &config, "pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cmd_async(
        h.dir.path(),
        &["--config", &config, "-v", "--log-format", "json", "sync"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let c = h.sandbox.control().counters();
    assert!(h.sandbox.control().requests_to("GET /v2/inventory") > 0);
    assert_eq!(c.unauthorized, 0);
    assert_eq!(oauth_requests(&h), 0, "no OAuth round trip");
    assert!(!text(&out).contains(SECRET));
}

#[tokio::test]
async fn a_rejected_signature_is_exit_5_and_the_secret_is_never_printed() {
    let h = legacy_harness().await;
    let wrong = "wrong-mbx-secret-91c2";
    let config = write_legacy_config(&h, PUBLIC, wrong);
    for args in [
        &["pull", "inventory"][..],
        &["sync"],
        &["auth", "status"],
        &["auth", "login"],
        &["-v", "backfill", "invoices", "--since", "2026-01-01"],
    ] {
        let mut all = vec!["--config", config.as_str()];
        all.extend_from_slice(args);
        let out = cmd_async(h.dir.path(), &all).await;
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", text(&out));
        let all = text(&out);
        assert!(
            all.contains("api.secret_token") && all.contains(PUBLIC),
            "{args:?}: {all}"
        );
        assert!(
            !all.contains(wrong),
            "{args:?}: the secret is printed: {all}"
        );
    }
    assert_eq!(oauth_requests(&h), 0);
}

#[tokio::test]
async fn auth_commands_say_no_login_is_needed() {
    let h = legacy_harness().await;
    let config = write_legacy_config(&h, PUBLIC, SECRET);
    let out = cmd_async(h.dir.path(), &["--config", &config, "auth", "login"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("No login needed")
            && all.contains(PUBLIC)
            && all.contains("Sandbox Organization"),
        "{all}"
    );
    let out = cmd_async(h.dir.path(), &["--config", &config, "auth", "status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains(PUBLIC) && all.contains("not shown") && all.contains("Sandbox Organization"),
        "{all}"
    );
    let out = cmd_async(h.dir.path(), &["--config", &config, "auth", "logout"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("Nothing to forget"), "{}", text(&out));
    let out = cmd_async(h.dir.path(), &["--config", &config, "status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["auth"],
        json!({"kind": "mbx-signature", "public_token": PUBLIC})
    );
    assert!(!text(&out).contains(SECRET));
    assert_eq!(oauth_requests(&h), 0);
}

#[tokio::test]
async fn the_store_belongs_to_the_base_url_and_the_public_token() {
    let h = legacy_harness().await;
    let config = write_legacy_config(&h, PUBLIC, SECRET);
    let out = cmd_async(h.dir.path(), &["--config", &config, "pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let config = write_legacy_config(&h, "another-public-token", SECRET);
    let out = cmd_async(h.dir.path(), &["--config", &config, "pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains(PUBLIC) && all.contains("another-public-token") && all.contains("store.path"),
        "{all}"
    );
    assert!(!all.contains(SECRET));
}

/// `base_url = "sandbox"` with `auth = "mbx-signature"`: the embedded sandbox accepts the
/// configured (or its default) tokens.
#[tokio::test]
async fn the_embedded_sandbox_takes_a_legacy_account() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ahead-sync.toml"),
        "[api]\nauth = \"mbx-signature\"\n[sandbox]\nitems = 20\n",
    )
    .unwrap();
    let out = cmd_async(dir.path(), &["pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cmd_async(dir.path(), &["auth", "status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("sandbox-public-token"),
        "{}",
        text(&out)
    );
}

/// `ahead-sync sandbox` accepts a legacy account beside OAuth and names its tokens.
#[tokio::test]
async fn the_sandbox_command_accepts_the_legacy_tokens_it_prints() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ahead-sync"))
        .args(["sandbox", "--bind", "127.0.0.1:0", "--items", "10"])
        .args(["--public-token", PUBLIC, "--secret-token", SECRET])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    assert!(
        line.contains(&format!("public_token={PUBLIC}"))
            && line.contains(&format!("secret_token={SECRET}")),
        "{line}"
    );
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    let h = Harness::new().await;
    let client = ApiClient::new(
        ahead_sync::api::ClientConfig {
            base_url: url.parse().unwrap(),
            mbx: Some(keys(PUBLIC, SECRET)),
            ..h.config()
        },
        h.store.clone(),
    )
    .unwrap();
    let result = client.authenticate().await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(result.unwrap(), "Sandbox Organization");
}
