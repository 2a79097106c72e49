//! `init [DIR]`: set up a working folder a new user can run everything in at once: a commented
//! `ahead-sync.toml`, the shipped mappings and schedules (embedded in the binary), sample order
//! files in the inbox whose items the sandbox's catalog holds, and an AP ledger made from the
//! invoices the embedded sandbox will serve. It never overwrites a file.

mod ledger;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;

use crate::error::Exit;
use crate::settings::{BaseUrl, Settings, DEFAULT_CONFIG_FILE};

/// The configuration file `init` writes: every key, its default and its environment name.
pub(crate) const CONFIG: &str = include_str!("ahead-sync.toml");

/// Where the sample ledger goes, beside the configuration.
pub(crate) const LEDGER: &str = "ap_ledger.csv";

/// The files shipped in the binary, by the path `init` writes them to. The inbox samples are
/// the ERP layouts the shipped mappings read (the same files the tests push); their items are
/// in the sandbox's fixed catalog.
const SHIPPED: &[(&str, &str)] = &[
    (
        "mappings/README.md",
        include_str!("../../../mappings/README.md"),
    ),
    (
        "mappings/purchase_orders.csv.toml",
        include_str!("../../../mappings/purchase_orders.csv.toml"),
    ),
    (
        "mappings/purchase_orders.x12.toml",
        include_str!("../../../mappings/purchase_orders.x12.toml"),
    ),
    (
        "mappings/fulfillment_orders.csv.toml",
        include_str!("../../../mappings/fulfillment_orders.csv.toml"),
    ),
    (
        "mappings/fulfillment_orders.x12.toml",
        include_str!("../../../mappings/fulfillment_orders.x12.toml"),
    ),
    (
        "mappings/ap_ledger.csv.toml",
        include_str!("../../../mappings/ap_ledger.csv.toml"),
    ),
    (
        "mappings/outbox/fulfillment_orders.csv.toml",
        include_str!("../../../mappings/outbox/fulfillment_orders.csv.toml"),
    ),
    (
        "mappings/outbox/fulfillment_orders.x12-945.toml",
        include_str!("../../../mappings/outbox/fulfillment_orders.x12-945.toml"),
    ),
    (
        "mappings/outbox/inventory.csv.toml",
        include_str!("../../../mappings/outbox/inventory.csv.toml"),
    ),
    (
        "mappings/outbox/inventory.x12-846.toml",
        include_str!("../../../mappings/outbox/inventory.x12-846.toml"),
    ),
    (
        "mappings/outbox/invoices.csv.toml",
        include_str!("../../../mappings/outbox/invoices.csv.toml"),
    ),
    (
        "mappings/outbox/invoices.x12-810.toml",
        include_str!("../../../mappings/outbox/invoices.x12-810.toml"),
    ),
    (
        "mappings/outbox/purchase_orders.csv.toml",
        include_str!("../../../mappings/outbox/purchase_orders.csv.toml"),
    ),
    (
        "mappings/outbox/purchase_orders.x12-855.toml",
        include_str!("../../../mappings/outbox/purchase_orders.x12-855.toml"),
    ),
    (
        "mappings/outbox/shipments.csv.toml",
        include_str!("../../../mappings/outbox/shipments.csv.toml"),
    ),
    (
        "mappings/outbox/shipments.x12-856.toml",
        include_str!("../../../mappings/outbox/shipments.x12-856.toml"),
    ),
    (
        "schedules/README.md",
        include_str!("../../../schedules/README.md"),
    ),
    (
        "schedules/example.toml",
        include_str!("../../../schedules/example.toml"),
    ),
    (
        "samples/purchase_orders.x12",
        include_str!("../../../tests/fixtures/purchase_orders.x12"),
    ),
    (
        "samples/fulfillment_orders.csv",
        include_str!("../../../tests/fixtures/fulfillment_orders.csv"),
    ),
];

/// Sample orders for the inbox, which the first `sync` pushes.
const INBOX: &[(&str, &str)] = &[
    (
        "inbox/purchase_orders/purchase_orders.csv",
        include_str!("../../../tests/fixtures/purchase_orders.csv"),
    ),
    (
        "inbox/fulfillment_orders/fulfillment_orders.x12",
        include_str!("../../../tests/fixtures/fulfillment_orders.x12"),
    ),
];

/// What happened to one file.
enum Outcome {
    Wrote,
    Kept,
    /// An inbox sample already pushed (in the inbox's `done/` or `failed/`).
    Pushed,
}

/// Write `text` to `dir/rel` unless something is there already.
fn write_new(dir: &Path, rel: &str, text: &str) -> anyhow::Result<Outcome> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the folder {}", parent.display()))?;
    }
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(Outcome::Kept),
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Outcome::Wrote)
}

/// Give an inbox sample the age of a file the ERP finished long ago: inbox files are taken only
/// once unchanged for `push.settle_secs`, and these were complete the moment they were written.
fn settled(path: &Path) -> anyhow::Result<()> {
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(an_hour_ago))
        .with_context(|| format!("cannot date {}", path.display()))
}

pub(crate) fn run(dir: Option<&Path>, env: &HashMap<String, String>) -> anyhow::Result<Exit> {
    let dir: PathBuf = dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    let mut wrote = Vec::new();
    let mut kept = Vec::new();
    let mut pushed_already = Vec::new();
    let mut note = |rel: &str, outcome: Outcome| match outcome {
        Outcome::Wrote => wrote.push(rel.to_string()),
        Outcome::Kept => kept.push(rel.to_string()),
        Outcome::Pushed => pushed_already.push(rel.to_string()),
    };
    note(
        DEFAULT_CONFIG_FILE,
        write_new(&dir, DEFAULT_CONFIG_FILE, CONFIG)?,
    );
    for (rel, text) in SHIPPED {
        note(rel, write_new(&dir, rel, text)?);
    }
    for (rel, text) in INBOX {
        // A sample pushed already (moved to done/ or failed/) is not brought back.
        let path = dir.join(rel);
        let pushed = path
            .parent()
            .zip(path.file_name())
            .is_some_and(|(inbox, name)| {
                ["done", "failed"]
                    .iter()
                    .any(|sub| inbox.join(sub).join(name).exists())
            });
        if pushed {
            note(rel, Outcome::Pushed);
            continue;
        }
        let outcome = write_new(&dir, rel, text)?;
        if matches!(outcome, Outcome::Wrote) {
            settled(&dir.join(rel))?;
        }
        note(rel, outcome);
    }
    // The ledger matches the sandbox this folder's configuration starts (whatever it was
    // before init, if it was there already).
    let settings = Settings::load(Some(&dir.join(DEFAULT_CONFIG_FILE)), env)?;
    let ledger_note = if !cfg!(feature = "sandbox") {
        Some(format!(
            "{LEDGER} not written: this ahead-sync was built without the embedded sandbox, \
             whose invoices the sample ledger is made from"
        ))
    } else if settings.api.base_url != BaseUrl::Sandbox {
        Some(format!(
            "{LEDGER} not written: api.base_url is a real AHEAD, so no sample ledger can match it; \
             export your ERP's open AP invoices in the layout of mappings/ap_ledger.csv.toml"
        ))
    } else if dir.join(LEDGER).exists() {
        note(LEDGER, Outcome::Kept);
        None
    } else {
        let invoices = super::embedded::invoices(&settings)?;
        let csv = ledger::ledger_csv(&invoices).context("cannot write the sample ledger")?;
        note(LEDGER, write_new(&dir, LEDGER, &csv)?);
        None
    };

    let mut out = std::io::stdout().lock();
    let shown = dir.display();
    for rel in &wrote {
        writeln!(out, "wrote {}", dir.join(rel).display())?;
    }
    for rel in &kept {
        writeln!(
            out,
            "kept  {} (it was already there)",
            dir.join(rel).display()
        )?;
    }
    for rel in &pushed_already {
        writeln!(
            out,
            "left out {} (pushed already: it is in done/ or failed/ beside it)",
            dir.join(rel).display()
        )?;
    }
    if let Some(n) = ledger_note {
        writeln!(out, "{n}")?;
    }
    writeln!(out)?;
    writeln!(out, "Next, in {shown}:")?;
    for (command, why) in [
        (
            "ahead-sync push purchase-orders --dry-run",
            "what the sample purchase orders would create (sends nothing)",
        ),
        (
            "ahead-sync sync",
            "push the sample orders to the sandbox, then pull every stream",
        ),
        ("ahead-sync status", "what each job did"),
        (
            "ahead-sync export reconciliation --ledger ap_ledger.csv",
            "AHEAD's open invoices against the ledger",
        ),
        (
            "ahead-sync sandbox advance --hours 2",
            "two hours pass at the sandbox; the next sync shows the changes",
        ),
    ] {
        writeln!(out, "  {command:<58} # {why}")?;
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::RawConfig;

    /// The template with every `# key = value` line switched on.
    fn uncommented(skip: &[&str]) -> String {
        let mut section = String::new();
        let mut out = String::new();
        for line in CONFIG.lines() {
            if line.starts_with('[') {
                section = line.trim_matches(['[', ']']).to_string();
            }
            match line.strip_prefix("# ").filter(|l| is_key_line(l)) {
                Some(key_line) => {
                    let key = key_line.split(' ').next().unwrap();
                    if !skip.contains(&format!("{section}.{key}").as_str()) {
                        out.push_str(key_line);
                        out.push('\n');
                    }
                }
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }

    fn is_key_line(line: &str) -> bool {
        line.split_once(" = ").is_some_and(|(key, _)| {
            !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
    }

    /// Every key of a section, as serde lists them when it refuses an unknown one.
    fn known_keys(section: &str) -> Vec<String> {
        let probe = if section.is_empty() {
            "[zz_probe]\n".to_string()
        } else {
            format!("[{section}]\nzz_probe = 1\n")
        };
        let e = toml::from_str::<RawConfig>(&probe).unwrap_err().to_string();
        let expected = e.split("expected ").nth(1).unwrap_or_else(|| panic!("{e}"));
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|k| !k.contains('-'))
            .map(str::to_string)
            .collect()
    }

    fn table_at<'a>(table: &'a toml::Table, path: &str) -> Option<&'a toml::Table> {
        path.split('.')
            .try_fold(table, |t, k| t.get(k).and_then(toml::Value::as_table))
    }

    #[test]
    fn the_config_names_every_key_with_its_environment_variable() {
        let table: toml::Table = toml::from_str(&uncommented(&[])).unwrap();
        let mut sections = known_keys("");
        // `[outbox.NAME]` sections are named by the user: the template's own are checked.
        sections.retain(|s| s != "outbox");
        sections.extend(["outbox.shipments_856".into()]);
        assert!(sections.len() >= 9, "{sections:?}");
        sections.extend([
            "push.purchase_orders".into(),
            "push.fulfillment_orders".into(),
        ]);
        for section in &sections {
            let t = table_at(&table, section)
                .unwrap_or_else(|| panic!("ahead-sync.toml from init lacks [{section}]"));
            let keys = known_keys(section);
            assert!(!keys.is_empty(), "{section}");
            for key in keys {
                let value = t
                    .get(&key)
                    .unwrap_or_else(|| panic!("ahead-sync.toml from init lacks {section}.{key}"));
                if value.is_table() {
                    continue;
                }
                let env = format!(
                    "env AHEAD_SYNC__{}__{}",
                    section.replace('.', "__").to_uppercase(),
                    key.to_uppercase()
                );
                assert!(CONFIG.contains(&env), "no {env:?} in ahead-sync.toml");
            }
        }
    }

    #[test]
    fn the_config_states_the_defaults_and_no_secret() {
        // The secrets are placeholders ("…"), meant for the environment instead.
        let secrets = ["api.client_secret", "api.secret_token", "webhooks.secret"];
        for key in secrets {
            let (section, k) = key.split_once('.').unwrap();
            let line = format!("[{section}]");
            let at = CONFIG.find(&line).unwrap();
            assert!(CONFIG[at..].contains(&format!("# {k} = \"…\"")), "{key}");
        }
        let dir = Path::new("/nowhere");
        // Keys without a default, shown with an example value.
        // The legacy account's token and the rate limit, which only apply when set.
        let examples = [
            "metrics.bind",
            "api.public_token",
            "api.max_requests_per_second",
        ];
        let skip: Vec<&str> = secrets.iter().chain(&examples).copied().collect();
        let written =
            Settings::from_raw(toml::from_str(&uncommented(&skip)).unwrap(), None, dir).unwrap();
        let mut defaults_raw: RawConfig = toml::from_str(CONFIG).unwrap();
        let push = std::mem::take(&mut defaults_raw.push);
        let outbox = std::mem::take(&mut defaults_raw.outbox);
        let defaults = Settings::from_raw(
            RawConfig {
                push,
                outbox,
                ..RawConfig::default()
            },
            None,
            dir,
        )
        .unwrap();
        assert_eq!(format!("{written:?}"), format!("{defaults:?}"));
        // And the file as written (comments and all) is what the defaults are.
        let as_written = Settings::from_raw(toml::from_str(CONFIG).unwrap(), None, dir).unwrap();
        assert_eq!(format!("{as_written:?}"), format!("{defaults:?}"));
    }
}
