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
    assert!(stderr.contains(" job=\"pull invoices\" "), "{stderr}");
    assert!(stderr.contains(" mode=outstanding_set "), "{stderr}");
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
    let sandbox = ahead_sandbox::Sandbox::start_local(ahead_sandbox::SandboxConfig {
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

/// How a stand-in AHEAD answers too much.
#[derive(Debug, Clone, Copy)]
enum Huge {
    /// No Content-Length: body until the connection closes, which the server does only after
    /// 256 MiB, 4096 times the limit the tests set (endless as far as the client can tell, and
    /// bounded so that a client which fails to cut it off fails the test instead of the machine).
    Endless,
    /// `Content-Length: 1610612736` (1.5 GB), a few bytes of it, then nothing until the client
    /// goes away.
    Declared,
}

/// A stand-in for AHEAD on loopback: grants and tokens as AHEAD gives them (unless the token
/// answer is `token`), and every other answer `api`.
struct HugeAhead {
    base_url: String,
    /// `METHOD /path` of every request, in order.
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// (`METHOD /path`, body bytes the server wrote) of each answer, sent once its connection
    /// is over: for a huge answer, once the client has hung up.
    finished: tokio::sync::mpsc::UnboundedReceiver<(String, u64)>,
}

impl HugeAhead {
    async fn start(token: Option<Huge>, api: Huge) -> HugeAhead {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, finished) = tokio::sync::mpsc::unbounded_channel();
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (seen, tx) = (seen.clone(), tx.clone());
                tokio::spawn(async move {
                    if let Some(done) = answer(socket, token, api, &seen).await {
                        let _ = tx.send(done);
                    }
                });
            }
        });
        HugeAhead {
            base_url,
            requests,
            finished,
        }
    }

    fn requests_to(&self, route: &str) -> usize {
        let requests = self.requests.lock().unwrap();
        requests.iter().filter(|r| *r == route).count()
    }
}

/// One request on one connection (every answer says `Connection: close`).
async fn answer(
    mut socket: tokio::net::TcpStream,
    token: Option<Huge>,
    api: Huge,
    seen: &std::sync::Mutex<Vec<String>>,
) -> Option<(String, u64)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The request head, then its body (read whole, so closing never resets the answer).
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = socket.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        request.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while request.len() < head_end + length {
        let n = socket.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        request.extend_from_slice(&buf[..n]);
    }
    let mut words = head.split(' ');
    let method = words.next().unwrap_or("").to_string();
    let target = words.next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let route = format!("{method} {path}");
    seen.lock().unwrap().push(route.clone());
    let huge = match path {
        "/oauth/authorize" => {
            let state = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("state="))
                .unwrap_or("");
            let head = format!(
                "HTTP/1.1 302 Found\r\nLocation: {}?code=grant-1&state={state}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n",
                crate::util::REDIRECT_URI
            );
            socket.write_all(head.as_bytes()).await.ok()?;
            return Some((route, 0));
        }
        "/oauth/token" => match token {
            Some(huge) => huge,
            None => {
                let body = r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1"}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(head.as_bytes()).await.ok()?;
                return Some((route, body.len() as u64));
            }
        },
        _ => api,
    };
    let chunk = vec![b' '; 64 << 10];
    let mut sent = 0u64;
    match huge {
        Huge::Endless => {
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
            if socket.write_all(head.as_bytes()).await.is_ok() {
                // Until the client hangs up (the write fails then).
                while sent < 256 << 20 && socket.write_all(&chunk).await.is_ok() {
                    sent += chunk.len() as u64;
                }
            }
        }
        Huge::Declared => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                        Content-Length: 1610612736\r\nConnection: close\r\n\r\n";
            if socket.write_all(head.as_bytes()).await.is_ok()
                && socket.write_all(&chunk[..4096]).await.is_ok()
            {
                sent = 4096;
                // Nothing more, until the client hangs up.
                while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {}
            }
        }
    }
    Some((route, sent))
}

/// A guard against a hang, not a measurement: the client must hang up long before this.
async fn finished(fake: &mut HugeAhead) -> (String, u64) {
    tokio::time::timeout(std::time::Duration::from_secs(60), fake.finished.recv())
        .await
        .expect("the client hung up on the huge answer")
        .unwrap()
}

/// An endless answer is cut off at `api.max_response_bytes`, once, with an error that says
/// which request, the limit, and the key to raise.
#[tokio::test]
async fn an_endless_api_answer_is_cut_off_at_the_limit() {
    let h = Harness::new().await;
    let mut fake = HugeAhead::start(None, Huge::Endless).await;
    let client = h.client_with(ahead_sync::api::ClientConfig {
        base_url: fake.base_url.parse().unwrap(),
        max_response_bytes: 64 << 10,
        ..h.config()
    });
    let error = client.get("/v2/inventory", None).await.unwrap_err();
    assert!(
        matches!(
            error,
            ahead_sync::api::ApiError::TooLarge {
                limit: 65536,
                declared: None,
                ..
            }
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("GET /v2/inventory")
            && message.contains("65536 bytes")
            && message.contains("raise api.max_response_bytes"),
        "{message}"
    );
    // The grant and the token, then the answer that never ends.
    let mut huge = finished(&mut fake).await;
    while huge.0 != "GET /v2/inventory" {
        huge = finished(&mut fake).await;
    }
    // What the server got into the socket before the client hung up: the limit plus what
    // loopback buffers hold, nowhere near the endless whole.
    assert!(huge.1 < 64 << 20, "{} bytes sent", huge.1);
    assert_eq!(fake.requests_to("GET /v2/inventory"), 1, "not retried");
    assert!(h.waits().is_empty(), "no backoff: {:?}", h.waits());
}

/// A token answer is capped the same way.
#[tokio::test]
async fn an_endless_token_answer_is_cut_off_at_the_limit() {
    let h = Harness::new().await;
    let mut fake = HugeAhead::start(Some(Huge::Endless), Huge::Endless).await;
    let client = h.client_with(ahead_sync::api::ClientConfig {
        base_url: fake.base_url.parse().unwrap(),
        max_response_bytes: 64 << 10,
        ..h.config()
    });
    let error = client.login().await.unwrap_err();
    assert!(
        matches!(
            &error,
            ahead_sync::api::ApiError::TooLarge { path, limit: 65536, .. } if path == "/oauth/token"
        ),
        "{error}"
    );
    let mut huge = finished(&mut fake).await;
    while huge.0 != "POST /oauth/token" {
        huge = finished(&mut fake).await;
    }
    assert!(huge.1 < 64 << 20, "{} bytes sent", huge.1);
    assert_eq!(fake.requests_to("POST /oauth/token"), 1, "not retried");
    assert_eq!(fake.requests_to("GET /v2/inventory"), 0);
}

/// Through the binary: `api.max_response_bytes` from the configuration, and an answer whose
/// Content-Length is over it is refused before its body is read.
#[tokio::test]
async fn a_declared_length_over_the_configured_limit_fails_the_pull_at_once() {
    let h = Harness::new().await;
    let fake = HugeAhead::start(None, Huge::Declared).await;
    let config = h.dir.path().join("huge.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nbase_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n\
             redirect_uri = \"{}\"\nmax_response_bytes = 65536\n[store]\npath = \"huge.db\"\n",
            fake.base_url,
            crate::util::CLIENT_ID,
            crate::util::CLIENT_SECRET,
            crate::util::REDIRECT_URI
        ),
    )
    .unwrap();
    let out = cmd_async(
        h.dir.path(),
        &["--config", config.to_str().unwrap(), "pull", "inventory"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("GET /v2/inventory: the answer is larger than api.max_response_bytes (65536 bytes): its Content-Length is 1610612736"),
        "{stderr}"
    );
    assert_eq!(fake.requests_to("GET /v2/inventory"), 1, "not retried");
}
