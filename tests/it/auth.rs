//! `auth login | status | logout` and the exit codes, through the binary.

use crate::util::{cmd, cmd_async, text, Harness, CLIENT_SECRET};

#[tokio::test]
async fn login_then_status_reuses_the_stored_token() {
    let h = Harness::new().await;
    let config = h.write_config("");
    let config = config.to_str().unwrap();
    let out = cmd_async(h.dir.path(), &["--config", config, "auth", "login"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Sandbox Organization"),
        "{}",
        text(&out)
    );
    let grants = h.sandbox.control().counters().grants_issued;
    assert_eq!(grants, 1);

    let out = cmd_async(h.dir.path(), &["--config", config, "auth", "status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("valid until"), "{}", text(&out));
    let c = h.sandbox.control().counters();
    assert_eq!(
        c.grants_issued, 1,
        "a second process reused the stored token"
    );
    assert_eq!(c.refreshes, 0);

    let out = cmd_async(h.dir.path(), &["--config", config, "auth", "logout"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cmd_async(h.dir.path(), &["--config", config, "auth", "status"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("auth login"), "{}", text(&out));
}

#[tokio::test]
async fn rejected_credentials_exit_5_with_what_to_fix() {
    let h = Harness::new().await;
    let config = h.write_config("");
    let wrong = "wrong-secret-77a1";
    let toml = std::fs::read_to_string(&config)
        .unwrap()
        .replace(CLIENT_SECRET, wrong);
    std::fs::write(&config, toml).unwrap();
    let out = cmd_async(
        h.dir.path(),
        &["--config", config.to_str().unwrap(), "auth", "login"],
    )
    .await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("api.client_secret"), "{all}");
    assert!(!all.contains(wrong), "the secret is never printed: {all}");
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let h = Harness::new().await;
    let config = h.write_config("");
    let config = config.to_str().unwrap();
    // Force a refresh and a re-grant along the way, with the most verbose JSON logs.
    let out = cmd_async(
        h.dir.path(),
        &[
            "--config",
            config,
            "-vv",
            "--log-format",
            "json",
            "auth",
            "login",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    h.sandbox.control().reject_refresh(1);
    h.sandbox.control().revoke_token_after(0);
    let out2 = cmd_async(
        h.dir.path(),
        &[
            "--config",
            config,
            "-vv",
            "--log-format",
            "json",
            "auth",
            "status",
        ],
    )
    .await;
    assert_eq!(out2.status.code(), Some(0), "{}", text(&out2));
    let c = h.sandbox.control().counters();
    assert_eq!(
        (c.rejected_refreshes, c.grants_issued),
        (1, 2),
        "the re-grant path ran"
    );
    let store = ahead_sync::store::Store::open(&h.dir.path().join("ahead-sync.db")).unwrap();
    let key = format!("{}|{}", h.sandbox.base_url(), crate::util::CLIENT_ID);
    let token = store.token(&key).unwrap().expect("tokens stored");
    let logs = format!("{}{}", text(&out), text(&out2));
    assert!(
        logs.contains("Refresh token rejected"),
        "the logs did cover the path: {logs}"
    );
    for secret in [
        CLIENT_SECRET,
        token.access_token.expose(),
        token.refresh_token.expose(),
    ] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
}

#[test]
fn configuration_errors_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ahead-sync.toml"),
        "[api]\npage_size = \"big\"\n",
    )
    .unwrap();
    let out = cmd(dir.path(), &["auth", "status"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("api.page_size"), "{}", text(&out));
    let out = cmd(dir.path(), &["--config", "missing.toml", "auth", "status"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = cmd(dir.path(), &["no-such-command"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn with_no_configuration_login_and_status_use_the_embedded_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let out = cmd(dir.path(), &["auth", "login"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("embedded AHEAD sandbox"),
        "{}",
        text(&out)
    );
    assert!(dir.path().join("ahead-sync.db").exists());
    assert!(
        dir.path().join("ahead-sync.sandbox.json").exists(),
        "the sandbox keeps its own file"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("ahead-sync.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = cmd(dir.path(), &["auth", "status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("Authenticated"), "{}", text(&out));
}
