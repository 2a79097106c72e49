//! The deployment files in deploy/ and the Dockerfile: what can be checked on this machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{cmd, cmd_env, text};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

const UNITS: [&str; 4] = [
    "deploy/systemd/ahead-sync.service",
    "deploy/systemd/ahead-sync.timer",
    "deploy/systemd/ahead-sync-daemon.service",
    "deploy/systemd/ahead-sync-webhooks.service",
];

/// `systemd-analyze verify` on the units, with the binary where the units expect it replaced
/// by the one just built (verify checks that it exists). Skipped where systemd-analyze is not.
#[test]
fn systemd_units_verify() {
    let present = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        eprintln!("systemd-analyze is not installed: the units are not verified");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for unit in UNITS {
        let text = read(unit).replace(
            "/usr/local/bin/ahead-sync",
            env!("CARGO_BIN_EXE_ahead-sync"),
        );
        let path = dir.path().join(Path::new(unit).file_name().unwrap());
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg("--man=no")
        .args(&files)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    // Unknown keys are only warned about: none may be.
    let ours: Vec<&str> = said.lines().filter(|l| l.contains("ahead-sync")).collect();
    assert!(ours.is_empty(), "{said}");
}

/// The ahead-sync command lines of every deployment file, as `ahead-sync` words.
fn command_lines() -> Vec<(String, Vec<String>)> {
    let mut lines = Vec::new();
    for unit in UNITS.iter().filter(|u| u.ends_with(".service")) {
        for line in read(unit).lines() {
            if let Some(exec) = line.strip_prefix("ExecStart=") {
                let words = exec
                    .split_whitespace()
                    .skip(1)
                    .map(str::to_string)
                    .collect();
                lines.push((unit.to_string(), words));
            }
        }
    }
    let cron = read("deploy/cron/ahead-sync");
    let job = cron
        .lines()
        .find(|l| l.starts_with("*/"))
        .expect("a crontab line");
    let run = job.rsplit("&& ahead-sync ").next().unwrap();
    let words = run
        .split_whitespace()
        .take_while(|w| !w.starts_with(">"))
        .map(str::to_string)
        .collect();
    lines.push(("deploy/cron/ahead-sync".into(), words));
    let docker = read("Dockerfile");
    let json_words = |prefix: &str| -> Vec<String> {
        let line = docker
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in the Dockerfile"));
        serde_json::from_str(line.trim_start_matches(prefix).trim()).unwrap()
    };
    let mut words: Vec<String> = json_words("ENTRYPOINT")[1..].to_vec();
    words.extend(json_words("CMD"));
    lines.push(("Dockerfile".into(), words.clone()));
    let k8s = read("deploy/kubernetes/cronjob.yaml");
    let args = k8s
        .lines()
        .find_map(|l| l.trim().strip_prefix("args: "))
        .expect("the CronJob's args");
    let mut k8s_words: Vec<String> = json_words("ENTRYPOINT")[1..].to_vec();
    k8s_words.extend(serde_json::from_str::<Vec<String>>(args).unwrap());
    lines.push(("deploy/kubernetes/cronjob.yaml".into(), k8s_words));
    lines
}

#[test]
fn every_deployed_command_line_parses() {
    let dir = tempfile::tempdir().unwrap();
    let lines = command_lines();
    assert_eq!(lines.len(), 6, "{lines:?}");
    for (file, words) in lines {
        assert!(
            words.iter().any(|w| w == "json"),
            "{file}: logs for a shipper"
        );
        let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
        // --help makes clap check the whole line without running it.
        args.push("--help");
        let out = cmd(dir.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {words:?}\n{}",
            text(&out)
        );
    }
}

/// The Kubernetes configuration and the environment file's keys are what ahead-sync accepts.
#[test]
fn the_deployed_configuration_and_environment_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("mappings")).unwrap();
    std::fs::copy(
        repo("deploy/kubernetes/ahead-sync.toml"),
        dir.path().join("ahead-sync.toml"),
    )
    .unwrap();
    std::fs::copy(
        repo("mappings/purchase_orders.csv.toml"),
        dir.path().join("mappings/purchase_orders.csv.toml"),
    )
    .unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let env_file = read("deploy/ahead-sync.env.example");
    let mut env: Vec<(String, String)> = Vec::new();
    for line in env_file
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (key, value) = line.split_once('=').expect("KEY=value");
        assert!(
            key.starts_with("AHEAD_SYNC__") && !key.contains(' '),
            "{line}"
        );
        assert!(
            value.starts_with("replace-with-"),
            "a placeholder, never a secret: {line}"
        );
        env.push((key.into(), value.into()));
    }
    assert!(env
        .iter()
        .any(|(k, _)| k == "AHEAD_SYNC__API__CLIENT_SECRET"));
    // What the claim holds in the pod is here in the folder.
    let store = dir.path().join("ahead-sync.db");
    env.push((
        "AHEAD_SYNC__STORE__PATH".into(),
        store.display().to_string(),
    ));
    env.push((
        "AHEAD_SYNC__PUSH__PURCHASE_ORDERS__INBOX".into(),
        inbox.display().to_string(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = cmd_env(
        dir.path(),
        &[
            "--config",
            "ahead-sync.toml",
            "push",
            "purchase-orders",
            "--dry-run",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("No files waiting"), "{}", text(&out));
    // Without the secret from the environment, the configuration is refused.
    let out = cmd_env(
        dir.path(),
        &[
            "--config",
            "ahead-sync.toml",
            "push",
            "purchase-orders",
            "--dry-run",
        ],
        &env.iter()
            .copied()
            .filter(|(k, _)| *k != "AHEAD_SYNC__API__CLIENT_SECRET")
            .collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("AHEAD_SYNC__API__CLIENT_SECRET"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_image_runs_without_privileges_and_keeps_the_store_on_a_volume() {
    let docker = read("Dockerfile");
    let stages = docker.lines().filter(|l| l.starts_with("FROM ")).count();
    assert_eq!(stages, 2, "multi-stage");
    assert!(docker.contains("\nUSER 10001"), "non-root");
    assert!(docker.contains("VOLUME [\"/data\"]"));
    assert!(docker.contains("AHEAD_SYNC__STORE__PATH=/data/"));
    assert!(!docker.contains("CLIENT_SECRET="), "no secret in the image");
    let k8s = read("deploy/kubernetes/cronjob.yaml");
    for needed in [
        "kind: CronJob",
        "kind: PersistentVolumeClaim",
        "concurrencyPolicy: Forbid",
        "runAsNonRoot: true",
        "secretKeyRef",
        "claimName: ahead-sync-acme",
    ] {
        assert!(k8s.contains(needed), "{needed}");
    }
    assert!(read("deploy/cron/ahead-sync").contains(". /etc/ahead-sync.env"));
}
