//! Help, completions and the man page, through the binary.

use std::process::Command;

use crate::util::{cmd, text};

fn stdout(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = cmd(dir.path(), args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn help_has_a_paragraph_examples_exit_codes_and_global_options() {
    for args in [
        &["--help"][..],
        &["sync", "--help"],
        &["export", "reconciliation", "--help"],
        &["sandbox", "advance", "--help"],
        &["init", "--help"],
    ] {
        let help = stdout(args);
        for section in [
            "\nExamples:\n  ahead-sync",
            "\nExit codes:\n  0  done",
            "Global options:\n",
        ] {
            assert!(
                help.contains(section),
                "{args:?} lacks {section:?}:\n{help}"
            );
        }
        // The paragraph: more than the one-line summary before the usage line.
        let intro = help.split("Usage:").next().unwrap();
        assert!(intro.trim().contains("\n\n"), "{args:?}:\n{help}");
    }
    // -h is the summary, with the examples still there.
    let short = stdout(&["sync", "-h"]);
    assert!(
        short.contains("Examples:") && !short.contains("exits with the worst"),
        "{short}"
    );
}

#[test]
fn export_takes_only_each_exports_own_flags() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (
            &["export", "inventory", "--ledger", "x.csv"][..],
            "--ledger",
        ),
        (&["export", "orders", "--since", "2026-01-01"], "--since"),
        (&["export", "changes", "--outstanding"], "--outstanding"),
        (
            &["export", "invoices", "--as-of", "2026-01-01"],
            "--outstanding",
        ),
        (&["export", "reconciliation"], "--ledger"),
        (&["export", "shipments", "--format", "xlsx"], "xlsx"),
    ] {
        let out = cmd(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
    let help = stdout(&["export", "inventory", "--help"]);
    assert!(
        !help.contains("--ledger") && !help.contains("--run"),
        "{help}"
    );
    let help = stdout(&["export", "changes", "--help"]);
    assert!(
        help.contains("--run") && help.contains("--stream"),
        "{help}"
    );
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let bash = stdout(&["completions", "bash"]);
    let zsh = stdout(&["completions", "zsh"]);
    let fish = stdout(&["completions", "fish"]);
    assert!(zsh.starts_with("#compdef ahead-sync"), "{zsh}");
    assert!(fish.contains("complete -c ahead-sync"), "{fish}");
    for script in [&bash, &zsh, &fish] {
        for word in ["reconciliation", "advance", "completions", "ledger-mapping"] {
            assert!(script.contains(word), "{word}");
        }
    }
    // Where bash is, the script is loaded and asked, as bash would ask it on a Tab.
    if have("bash") {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ahead-sync.bash");
        std::fs::write(&file, &bash).unwrap();
        let probe = format!(
            "source {}; COMP_WORDS=(ahead-sync export rec); COMP_CWORD=2; \
             _ahead__sync ahead-sync rec export; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        );
        let out = Command::new("bash").arg("-c").arg(&probe).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let offered = String::from_utf8_lossy(&out.stdout);
        assert_eq!(offered.trim(), "reconciliation", "{offered}");
        let probe = format!(
            "source {}; COMP_WORDS=(ahead-sync export reconciliation --led); COMP_CWORD=3; \
             _ahead__sync ahead-sync --led reconciliation; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        );
        let out = Command::new("bash").arg("-c").arg(&probe).output().unwrap();
        let offered = String::from_utf8_lossy(&out.stdout);
        let offered: Vec<&str> = offered.split_whitespace().collect();
        assert_eq!(offered, ["--ledger", "--ledger-mapping"], "{offered:?}");
    }
    if have("zsh") {
        let out = Command::new("zsh")
            .arg("-n")
            .arg("-c")
            .arg(&zsh)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if have("fish") {
        let out = Command::new("fish")
            .arg("--no-execute")
            .arg("-c")
            .arg(&fish)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = cmd(dir.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_man_page_has_every_command_and_the_exit_status() {
    let page = stdout(&["man"]);
    assert!(page.contains(".TH ahead-sync 1"), "{page}");
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH \"GLOBAL OPTIONS\"",
        ".SH COMMANDS",
        ".SH EXAMPLES",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(page.contains(section), "{section}");
    }
    for command in [
        "sync",
        "export reconciliation",
        "sandbox advance",
        "webhooks serve",
        "init",
        "man",
    ] {
        let heading = format!(".SS \"ahead\\-sync {}\"", command.replace('-', "\\-"));
        assert!(page.contains(&heading), "{heading}");
    }
    // Where groff is, the page is typeset with every warning on: none may come.
    if have("groff") {
        use std::io::Write as _;
        let mut child = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-P-bcu"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(warnings.trim().is_empty(), "{warnings}");
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(
            shown.contains("EXIT STATUS") && shown.contains("ahead-sync sandbox advance"),
            "{shown}"
        );
    }
}

#[test]
fn help_needs_no_configuration() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ahead-sync.toml"), "[api]\nnot_a_key = 1\n").unwrap();
    for args in [
        &["man"][..],
        &["completions", "bash"],
        &["init", "elsewhere"],
    ] {
        let out = cmd(dir.path(), args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
    }
    let out = cmd(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not_a_key"), "{}", text(&out));
}
