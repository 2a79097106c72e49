//! The daemon through the binary: catch-up once after downtime, a clean stop on SIGTERM.
//! (Fire times, overlap and shutdown rules are tested on tokio's paused clock in
//! `schedule::daemon`.)

use std::time::Duration;

use ahead_sync::store::Store;

use crate::util::{cmd_async, text, Harness};

#[tokio::test]
async fn a_missed_job_runs_once_at_start_and_sigterm_stops_cleanly() {
    let h = Harness::new().await;
    let dir = h.dir.path();
    std::fs::create_dir_all(dir.join("schedules")).unwrap();
    std::fs::write(
        dir.join("schedules/jobs.toml"),
        "[[job]]\nname = \"inv\"\ncommand = \"pull inventory\"\ncron = \"0 * * * *\"\n",
    )
    .unwrap();
    let config = h.write_config("");
    // The job last fired three hours ago: three hourly ticks were missed while the daemon was down.
    let db = dir.join("ahead-sync.db");
    let store = Store::open(&db).unwrap();
    let three_hours_ago = chrono::Utc::now() - chrono::Duration::hours(3);
    store
        .kv_set(
            "daemon.last_fire.inv",
            &three_hours_ago.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
        .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ahead-sync"))
        .current_dir(dir)
        .args(["--config", config.to_str().unwrap(), "daemon"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut finished = false;
    for _ in 0..4000 {
        let runs = store.job_summaries().unwrap();
        if runs
            .iter()
            .any(|(last, _)| last.job == "pull inventory" && last.outcome.as_deref() == Some("ok"))
        {
            finished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(finished, "the missed job ran at start");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("Daemon stopped."), "{logs}");
    let runs = store.job_summaries().unwrap();
    let (last, _) = runs
        .iter()
        .find(|(r, _)| r.job == "pull inventory")
        .unwrap();
    assert_eq!(last.id, 1, "once, not once per missed tick");
    let fired = store.kv_get("daemon.last_fire.inv").unwrap().unwrap();
    assert!(
        fired > three_hours_ago.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "{fired}"
    );
}

#[tokio::test]
async fn a_daemon_without_schedules_is_a_configuration_error() {
    let h = Harness::new().await;
    std::fs::create_dir_all(h.dir.path().join("schedules")).unwrap();
    let config = h.write_config("");
    let out = cmd_async(
        h.dir.path(),
        &["--config", config.to_str().unwrap(), "daemon"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no jobs"), "{}", text(&out));
}
