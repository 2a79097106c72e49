//! The edges where outside data meets the product's surface: log lines, files holding secrets,
//! a closed pipe, the spellings of stream names, an answer too large to read.

use std::path::{Path, PathBuf};

use crate::util::{cmd_async, text, Harness};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A config whose purchase-order inbox is `inbox/po`, taken at once.
fn inbox_config(h: &Harness) -> String {
    let config = h.write_config(&format!(
        "[push]\nsettle_secs = 0\n[push.purchase_orders]\nmapping = \"{}\"\ninbox = \"inbox/po\"\n",
        repo("mappings/purchase_orders.csv.toml").display()
    ));
    config.to_str().unwrap().to_string()
}

/// A file name is data: a newline in it must not start a log line of its own.
#[tokio::test]
async fn a_newline_in_an_inbox_file_name_cannot_forge_a_log_line() {
    let h = Harness::new().await;
    let config = inbox_config(&h);
    let inbox = h.dir.path().join("inbox/po");
    std::fs::create_dir_all(&inbox).unwrap();
    let name = "po 1.csv\nFORGED ERROR the ledger was wiped.csv";
    std::fs::copy(repo("tests/fixtures/purchase_orders.csv"), inbox.join(name)).unwrap();
    let out = cmd_async(
        h.dir.path(),
        &["--config", &config, "push", "purchase-orders"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr
            .lines()
            .any(|line| line.trim_start().starts_with("FORGED")),
        "{stderr}"
    );
    let settled = stderr
        .lines()
        .find(|line| line.contains("Inbox file settled."))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        settled.contains(" file=\"") && settled.contains("po 1.csv\\nFORGED ERROR"),
        "the name is one quoted value, its newline escaped: {settled}"
    );
    assert!(inbox.join("done").join(name).exists());
}

/// A value with a space is quoted, so the field after it is not misread.
#[tokio::test]
async fn a_log_value_with_a_space_is_quoted() {
    let h = Harness::new().await;
    let config = h.write_config("");
    let out = cmd_async(
        h.dir.path(),
        &["--config", config.to_str().unwrap(), "pull", "invoices"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(" mode=\"outstanding set\" "), "{stderr}");
    assert!(
        stderr.contains(" drift=none "),
        "plain values stay bare: {stderr}"
    );
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A configuration file holding the client secret and readable by every user is warned about,
/// with the fix, and without the secret.
#[cfg(unix)]
#[tokio::test]
async fn a_config_file_with_a_secret_readable_by_others_is_warned_about() {
    let h = Harness::new().await;
    let config = h.write_config("");
    let shown = config.display().to_string();
    set_mode(&config, 0o644);
    let out = cmd_async(h.dir.path(), &["--config", &shown, "status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warning = stderr
        .lines()
        .find(|line| line.contains("WARN") && line.contains(&format!("chmod 600 {shown}")))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(warning.contains(&format!("file={shown}")), "{warning}");
    assert!(warning.contains("api.client_secret"), "{warning}");
    assert!(
        !text(&out).contains(crate::util::CLIENT_SECRET),
        "{}",
        text(&out)
    );

    set_mode(&config, 0o600);
    let out = cmd_async(h.dir.path(), &["--config", &shown, "status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("chmod 600"), "{}", text(&out));

    // Readable by others but holding no secret: nothing to say.
    std::fs::write(&config, "[store]\npath = \"ahead-sync.db\"\n").unwrap();
    set_mode(&config, 0o644);
    let out = cmd_async(h.dir.path(), &["--config", &shown, "status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("chmod 600"), "{}", text(&out));
}

/// A store whose mode was widened (a copy, a restore) is made private again, with one warning.
#[cfg(unix)]
#[tokio::test]
async fn a_store_file_with_another_mode_is_set_to_0600_with_one_warning() {
    let h = Harness::new().await;
    let config = h.write_config("");
    set_mode(&config, 0o600);
    let config = config.to_str().unwrap();
    let store = h.dir.path().join("ahead-sync.db");
    assert_eq!(mode_of(&store), 0o600);
    set_mode(&store, 0o644);
    let out = cmd_async(h.dir.path(), &["--config", config, "status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("WARN") && line.contains("now 0600"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains(&format!("file={}", store.display()))
            && warnings[0].contains("was=0644"),
        "{stderr}"
    );
    assert_eq!(mode_of(&store), 0o600);

    let out = cmd_async(h.dir.path(), &["--config", config, "status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !text(&out).contains("0600"),
        "once fixed, silent: {}",
        text(&out)
    );
}

/// The embedded sandbox's world file holds its live tokens: private from the start, even when
/// a temporary file from an earlier save was left with a wider mode.
#[cfg(unix)]
#[test]
fn the_embedded_sandbox_world_file_is_created_0600() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ahead-sync.toml"), "[sandbox]\nitems = 5\n").unwrap();
    let stale = dir.path().join("ahead-sync.sandbox.tmp");
    std::fs::write(&stale, "{}").unwrap();
    set_mode(&stale, 0o644);
    let out = crate::util::cmd(dir.path(), &["pull", "shipments"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let world = dir.path().join("ahead-sync.sandbox.json");
    assert_eq!(mode_of(&world), 0o600);
    assert!(!stale.exists(), "the temporary file was renamed into place");
    let saved = std::fs::read_to_string(&world).unwrap();
    assert!(saved.contains("\"auth\""), "the file holds the tokens");
}

/// `export … | head`: the reader takes a line and closes the pipe. That ends the export, quietly
/// and successfully, as it ends any well-behaved command in a pipeline.
#[tokio::test]
async fn an_export_whose_reader_closes_the_pipe_exits_0_quietly() {
    use std::io::BufRead;
    let sandbox = ahead_sync::sandbox::Sandbox::start_local(ahead_sync::sandbox::SandboxConfig {
        items: 2_000,
        ..crate::util::sandbox_config()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let h = Harness {
        store: ahead_sync::store::Store::open(&dir.path().join("ahead-sync.db")).unwrap(),
        dir,
        sandbox,
        sleeper: Default::default(),
    };
    let config = h.write_config("page_size = 1000");
    let config = config.to_str().unwrap().to_string();
    let out = cmd_async(h.dir.path(), &["--config", &config, "pull", "inventory"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for what in [&["inventory"][..], &["changes", "--format", "json"]] {
        // The premise: far more than a pipe holds (64 KiB on Linux unless a program enlarges
        // its own), so the export is still writing when the reader goes away.
        let whole = h.dir.path().join("whole.out");
        let args = [&["--config", config.as_str(), "export"][..], what].concat();
        let out = cmd_async(
            h.dir.path(),
            &[&args[..], &["--out", whole.to_str().unwrap()]].concat(),
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let size = std::fs::metadata(&whole).unwrap().len();
        assert!(size > 512 << 10, "{what:?}: {size} bytes, {}", text(&out));

        let dir = h.dir.path().to_path_buf();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (first, status, stderr) = tokio::task::spawn_blocking(move || {
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ahead-sync"))
                .current_dir(&dir)
                .args(&args)
                .arg("--no-progress")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            drop(reader);
            let out = child.wait_with_output().unwrap();
            (
                first,
                out.status,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .await
        .unwrap();
        assert!(!first.is_empty(), "{what:?}: {stderr}");
        assert_eq!(status.code(), Some(0), "{what:?}: {stderr}");
        assert!(
            !stderr.to_lowercase().contains("error"),
            "{what:?}: {stderr}"
        );
    }
}

/// `purchase-orders` is how the command line spells a stream, `purchase_orders` how the store,
/// the change log and the configuration do: each is accepted wherever a stream is named.
#[tokio::test]
async fn stream_and_order_names_take_either_spelling_everywhere() {
    let h = Harness::new().await;
    let config = inbox_config(&h);
    let run = |args: Vec<String>| {
        let dir = h.dir.path().to_path_buf();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            cmd_async(&dir, &refs).await
        }
    };
    let with_config = |args: &[&str]| -> Vec<String> {
        ["--config", config.as_str()]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect()
    };
    for name in ["purchase_orders", "fulfillment_orders"] {
        let out = run(with_config(&["pull", name])).await;
        assert_eq!(out.status.code(), Some(0), "pull {name}: {}", text(&out));
        let out = run(with_config(&["backfill", name, "--since", "2026-01-01"])).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "backfill {name}: {}",
            text(&out)
        );
    }
    for (name, fixture, mapping) in [
        (
            "purchase_orders",
            "purchase_orders.csv",
            "purchase_orders.csv.toml",
        ),
        (
            "fulfillment_orders",
            "fulfillment_orders.csv",
            "fulfillment_orders.csv.toml",
        ),
    ] {
        let file = repo(&format!("tests/fixtures/{fixture}"));
        let mapping = repo(&format!("mappings/{mapping}"));
        let out = run(with_config(&[
            "push",
            name,
            file.to_str().unwrap(),
            "--mapping",
            mapping.to_str().unwrap(),
            "--dry-run",
        ]))
        .await;
        assert_eq!(out.status.code(), Some(0), "push {name}: {}", text(&out));
        assert!(
            text(&out).contains("would create"),
            "push {name}: {}",
            text(&out)
        );
    }

    let inbox = h.dir.path().join("inbox/po");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::copy(
        repo("tests/fixtures/purchase_orders.csv"),
        inbox.join("po.csv"),
    )
    .unwrap();
    let out = run(with_config(&["push", "purchase_orders"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut exported = Vec::new();
    for stream in ["purchase-orders", "purchase_orders"] {
        let out = run(with_config(&["export", "changes", "--stream", stream])).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "--stream {stream}: {}",
            text(&out)
        );
        exported.push(String::from_utf8(out.stdout).unwrap());
    }
    assert_eq!(exported[0], exported[1]);
    assert!(exported[0].contains(",purchase_orders,"), "{}", exported[0]);

    let schedules = h.dir.path().join("schedules");
    std::fs::create_dir_all(&schedules).unwrap();
    std::fs::write(
        schedules.join("orders.toml"),
        "[[job]]\nname = \"po\"\ncommand = \"pull purchase_orders\"\ncron = \"@hourly\"\n\
         [[job]]\nname = \"fo\"\ncommand = \"pull fulfillment-orders\"\ncron = \"@hourly\"\n\
         [[job]]\nname = \"push-po\"\ncommand = \"push purchase_orders\"\ncron = \"@hourly\"\n\
         [[job]]\nname = \"push-fo\"\ncommand = \"push fulfillment_orders\"\nargs = [\"--dry-run\"]\ncron = \"@hourly\"\n",
    )
    .unwrap();
    let out = run(with_config(&["schedules"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for job in ["po", "fo", "push-po", "push-fo"] {
        assert!(text(&out).contains(job), "{job}: {}", text(&out));
    }
}
