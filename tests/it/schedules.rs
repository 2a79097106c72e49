//! `schedules` through the binary: the shipped example, and a folder with a bad entry.

use std::path::Path;

use crate::util::{cmd, text};

/// A config file in `dir` whose schedule folder is `schedules`.
fn config(dir: &Path, schedules: &Path) -> String {
    let path = dir.join("ahead-sync.toml");
    std::fs::write(
        &path,
        format!("[schedule]\ndir = {:?}\n", schedules.to_str().unwrap()),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn lists_the_shipped_example() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules");
    let config = config(dir.path(), &example);
    let out = cmd(dir.path(), &["--config", &config, "schedules"]);
    let text = text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for expected in [
        "inventory-hourly (",
        "example.toml)",
        "command   pull inventory --full",
        "cron      30 2 * * *  (Europe/Berlin)",
        "invoices-quarter-hourly",
        "cron      */15 * * * *  (UTC)",
        "sync (",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // Three upcoming runs per job, four jobs; the Berlin one shows both zones.
    assert_eq!(text.matches(" UTC").count(), 12, "{text}");
    assert!(
        text.contains(" CET  (") || text.contains(" CEST  ("),
        "{text}"
    );
}

#[test]
fn a_bad_entry_is_a_configuration_error_naming_file_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    let schedules = dir.path().join("schedules");
    std::fs::create_dir(&schedules).unwrap();
    std::fs::write(
        schedules.join("good.toml"),
        "[[job]]\nname = \"sync\"\ncommand = \"sync\"\ncron = \"*/10 * * * *\"\n",
    )
    .unwrap();
    std::fs::write(
        schedules.join("nightly.toml"),
        "[[job]]\nname = \"ok\"\ncommand = \"pull invoices\"\ncron = \"@daily\"\n\n\
         [[job]]\nname = \"inventory-full\"\ncommand = \"pull inventory\"\ncron = \"30 2 * * * *\"\n",
    )
    .unwrap();
    let config = config(dir.path(), &schedules);
    let out = cmd(dir.path(), &["--config", &config, "schedules"]);
    let text = text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("nightly.toml: job #2 \"inventory-full\": cron: expected 5 fields"),
        "{text}"
    );
    assert!(!text.contains("good.toml"), "{text}");
}
