//! Schedule files: good entries, every kind of bad one, folders, and the shipped example.

use super::*;
use crate::cli::{Command, OrderKind, Stream};
use crate::commands::schedules::{command_of, CliCommands};

fn parse(text: &str) -> (Vec<Job>, Vec<String>) {
    let (jobs, problems) = parse_file(Path::new("schedules/a.toml"), text, &CliCommands);
    (jobs, problems.iter().map(|p| p.to_string()).collect())
}

#[test]
fn a_good_entry() {
    let (jobs, problems) = parse(
        r#"
        [[job]]
        name = "inventory-nightly"
        command = "pull  inventory"
        args = ["--full"]
        cron = "30 2 * * *"
        timezone = "Europe/Berlin"
        "#,
    );
    assert!(problems.is_empty(), "{problems:?}");
    let job = &jobs[0];
    assert_eq!(job.command_line(), "pull inventory --full");
    assert_eq!(job.schedule.timezone, chrono_tz::Europe::Berlin);
    assert!(matches!(
        command_of(job),
        Command::Pull {
            stream: Stream::Inventory,
            full: true
        }
    ));
}

#[test]
fn every_bad_entry_is_reported() {
    let (jobs, problems) = parse(
        r#"
        [[job]]
        name = "ok"
        command = "sync"
        cron = "*/10 * * * *"

        [[job]]
        name = "bad-cron"
        command = "sync"
        cron = "0 * * * * *"

        [[job]]
        name = "bad-zone"
        command = "sync"
        cron = "@daily"
        timezone = "Europe/Berlinn"

        [[job]]
        name = "backfill"
        command = "backfill invoices"
        cron = "@daily"

        [[job]]
        name = "typo"
        command = "sync"
        cron = "@daily"
        timezon = "UTC"

        [[job]]
        command = "sync"
        cron = "@daily"

        [[job]]
        name = "ok"
        command = "sync"
        cron = "@hourly"

        [[job]]
        name = "bad-args"
        command = "pull invoices"
        args = ["--fast"]
        cron = "@hourly"
        "#,
    );
    assert_eq!(jobs.len(), 1);
    let expect = [
        ("job #2 \"bad-cron\": cron: expected 5 fields", 0),
        (
            "job #3 \"bad-zone\": timezone: unknown time zone \"Europe/Berlinn\"",
            1,
        ),
        (
            "job #4 \"backfill\": command \"backfill invoices\" cannot be scheduled",
            2,
        ),
        ("job #5 \"typo\": unknown field `timezon`", 3),
        ("job #6: missing field `name`", 4),
        ("job #7 \"ok\": the name is used twice", 5),
        (
            "job #8 \"bad-args\": args [\"--fast\"] do not fit `pull invoices`",
            6,
        ),
    ];
    assert_eq!(problems.len(), expect.len(), "{problems:#?}");
    for (text, i) in expect {
        assert!(
            problems[i].starts_with(&format!("schedules/a.toml: {text}")),
            "{}",
            problems[i]
        );
    }
}

#[test]
fn every_problem_of_an_entry_is_reported() {
    let (_, problems) = parse(
        "[[job]]\nname = \"a b\"\ncommand = \"export\"\ncron = \"0 12 * * 8\"\n\
         timezone = \"Mars/Base\"\n",
    );
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0].contains("job #1 \"a b\": name \"a b\" must"));
    assert!(problems[1].contains("command \"export\" cannot be scheduled"));
    assert!(problems[2].contains("cron: day-of-week field \"8\""));
    assert!(problems[3].contains("timezone: unknown time zone \"Mars/Base\""));
}

#[test]
fn file_level_problems() {
    let (_, problems) = parse("[[job]\n");
    assert!(problems[0].contains("not valid TOML"), "{problems:?}");
    let (_, problems) = parse("jobs = []\n");
    assert!(problems[0].contains("unknown key `jobs`"), "{problems:?}");
    let (_, problems) =
        parse("[[job]]\nname = \"v\"\ncommand = \"sync\"\nargs = [\"-v\"]\ncron = \"@daily\"\n");
    assert!(problems[0].contains("global options"), "{problems:?}");
}

#[test]
fn names_are_unique_across_files_and_missing_folders_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let entry = "[[job]]\nname = \"same\"\ncommand = \"sync\"\ncron = \"@daily\"\n";
    std::fs::write(dir.path().join("a.toml"), entry).unwrap();
    std::fs::write(dir.path().join("b.toml"), entry).unwrap();
    std::fs::write(dir.path().join("README.md"), "not a schedule").unwrap();
    std::fs::write(dir.path().join(".#a.toml"), "editor lock file").unwrap();
    let e = load_dir(dir.path(), &CliCommands).unwrap_err();
    assert_eq!(e.problems.len(), 1, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("b.toml: job \"same\": the name is already used in")
            && text.contains("a.toml"),
        "{text}"
    );
    let e = load_dir(&dir.path().join("nope"), &CliCommands).unwrap_err();
    assert!(e.to_string().contains("[schedule] dir"), "{e}");
}

#[test]
fn the_shipped_example_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules");
    let jobs = load_dir(&dir, &CliCommands).unwrap();
    let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "inventory-hourly",
            "inventory-full-nightly",
            "invoices-quarter-hourly",
            "sync"
        ]
    );
}

#[test]
fn stream_and_order_names_take_either_spelling() {
    let (jobs, problems) = parse(
        r#"
        [[job]]
        name = "po-hyphen"
        command = "pull purchase-orders"
        cron = "@hourly"

        [[job]]
        name = "po-underscore"
        command = "pull purchase_orders"
        cron = "@hourly"

        [[job]]
        name = "fo-underscore"
        command = "pull fulfillment_orders"
        cron = "@hourly"

        [[job]]
        name = "push-po"
        command = "push purchase_orders"
        args = ["--dry-run"]
        cron = "@hourly"

        [[job]]
        name = "push-fo"
        command = "push fulfillment_orders"
        cron = "@hourly"
        "#,
    );
    assert!(problems.is_empty(), "{problems:?}");
    let commands: Vec<Command> = jobs.iter().map(command_of).collect();
    assert!(matches!(
        commands[..],
        [
            Command::Pull {
                stream: Stream::PurchaseOrders,
                ..
            },
            Command::Pull {
                stream: Stream::PurchaseOrders,
                ..
            },
            Command::Pull {
                stream: Stream::FulfillmentOrders,
                ..
            },
            Command::Push {
                kind: Some(OrderKind::PurchaseOrders),
                dry_run: true,
                ..
            },
            Command::Push {
                kind: Some(OrderKind::FulfillmentOrders),
                ..
            },
        ]
    ));
}
