//! The help that teaches: for every command and subcommand a paragraph, `Examples:` and the
//! exit codes it can end with, added to clap's command tree (`cli::command`). The same tree
//! gives the shell completions and the man page. A test walks the tree: a command without a
//! page here fails it.

/// One command's help beyond its one-line summary (the doc comment in `cli`).
pub(crate) struct Page {
    /// The command as typed after `ahead-sync` ("" for ahead-sync itself).
    pub path: &'static str,
    /// What it is for and how it behaves, in a paragraph or two.
    pub about: &'static str,
    /// (command line, what it does).
    pub examples: &'static [(&'static str, &'static str)],
    /// The exit codes it can end with (their meanings are `EXIT_CODES`).
    pub exits: &'static [u8],
}

/// What each exit code means (product.md, "Exit codes").
pub(crate) const EXIT_CODES: [(u8, &str); 6] = [
    (0, "done"),
    (
        1,
        "failed; nothing half-applied is left, a re-run continues safely",
    ),
    (
        2,
        "usage or configuration error (the message names the flag, key or file)",
    ),
    (
        3,
        "done, but some input rows were rejected (`status`, `export changes`)",
    ),
    (4, "skipped: another run of the same job holds its lock"),
    (5, "AHEAD rejected the credentials: a person must act"),
];

const ALL: &[u8] = &[0, 1, 2, 3, 4, 5];
const TALKS: &[u8] = &[0, 1, 2, 5];
const JOB: &[u8] = &[0, 1, 2, 4, 5];
const LOCAL: &[u8] = &[0, 1, 2];
const EXPORT: &[u8] = &[0, 1, 2, 3];
const PRINTS: &[u8] = &[0, 2];

pub(crate) const PAGES: &[Page] = &[
    Page {
        path: "",
        about: "ahead-sync moves data between an ERP, which reads and writes files, and the AHEAD \
Systems API. It pulls inventory, outstanding invoices, shipments and the status of orders into a \
local SQLite store, recording what changed on every run; pushes purchase and fulfillment orders \
from CSV and X12 files exactly once; receives AHEAD's webhooks; and exports the mirror, the \
change log and the finance reconciliation. It is built to run from cron, a systemd timer or its \
own daemon.\n\n\
With no configuration it runs against an embedded AHEAD sandbox (a simulator of the API) and a \
local ahead-sync.db: `ahead-sync init` sets up a folder where everything can be tried at once.",
        examples: &[
            ("ahead-sync init demo && cd demo", "set up a working folder with samples"),
            ("ahead-sync sync", "push the inbox, then pull every stream"),
            ("ahead-sync status", "what each job did last"),
            ("ahead-sync sync --help", "the help of one command"),
        ],
        exits: ALL,
    },
    Page {
        path: "auth",
        about: "Tokens live in the store and are reused, refreshed before they expire and after \
any 401, and re-granted on their own when AHEAD refuses the refresh token: `auth login` is only \
needed to check credentials or after `auth logout`.",
        examples: &[
            ("ahead-sync auth login", "obtain tokens now"),
            ("ahead-sync auth status", "who we are, and when the token expires"),
        ],
        exits: TALKS,
    },
    Page {
        path: "auth login",
        about: "Asks AHEAD's /oauth/authorize for a grant (read from the 302's Location, never \
followed), exchanges it for tokens and stores them in the store.",
        examples: &[
            (
                "ahead-sync auth login",
                "log in (the secret from AHEAD_SYNC__API__CLIENT_SECRET)",
            ),
            ("ahead-sync auth login -v", "the same, saying each step"),
        ],
        exits: TALKS,
    },
    Page {
        path: "auth status",
        about: "Shows the account AHEAD says the stored token belongs to and when it expires; \
refreshes the token first if it must.",
        examples: &[("ahead-sync auth status", "who we are")],
        exits: TALKS,
    },
    Page {
        path: "auth logout",
        about: "Forgets the stored tokens; the next command that talks to AHEAD logs in again.",
        examples: &[("ahead-sync auth logout", "forget the tokens")],
        exits: LOCAL,
    },
    Page {
        path: "pull",
        about: "Reads the resource page by page in id order, compares each record with the \
mirror and records what was created, updated (with the changed fields), closed or removed. \
Each page is one transaction and the watermark moves last, so a run killed at any instant is \
simply redone by the next. Incremental by default (records updated since the watermark, less \
pull.overlap_secs); removals are only seen by full pulls.",
        examples: &[
            ("ahead-sync pull inventory", "what changed since the last pull"),
            ("ahead-sync pull inventory --full", "everything, and what disappeared"),
            ("ahead-sync pull invoices", "the outstanding set; closed invoices recorded"),
        ],
        exits: JOB,
    },
    Page {
        path: "push",
        about: "Reads order files through a mapping (mappings/README.md), validates every order \
before anything is sent, and creates each order once, ever: re-pushing a file sends nothing, a \
changed order becomes one PUT. A rejected row names its file, line, field and reason; the other \
orders of the file still go through. Inbox files move to done/ or failed/ (with NAME.errors.csv); \
a file still being written is left for the next run.",
        examples: &[
            (
                "ahead-sync push purchase-orders --dry-run",
                "what the inbox would create or update; sends nothing",
            ),
            ("ahead-sync push purchase-orders", "push every file waiting in the inbox"),
            (
                "ahead-sync push fulfillment-orders orders.x12 --mapping mappings/fulfillment_orders.x12.toml",
                "push one file through a given mapping",
            ),
        ],
        exits: ALL,
    },
    Page {
        path: "push requeue",
        about: "A file with rejected rows lands in its inbox's failed/ folder with NAME.errors.csv \
beside it. Fix the file where it lies (or the mapping), then requeue it: it moves back into the \
inbox under the same name and the stale report is removed. The next push takes it; orders of it \
that were created already are not sent again unless they changed.",
        examples: &[
            (
                "ahead-sync push requeue inbox/purchase_orders/failed/po-0412.csv",
                "retry one fixed file",
            ),
            (
                "ahead-sync push requeue inbox/purchase_orders/failed/po-0412.csv && ahead-sync sync",
                "and push it now",
            ),
        ],
        exits: &[0, 1, 2, 4],
    },
    Page {
        path: "outbox",
        about: "Deliver the changes the pulls recorded back to the ERP: each `[outbox.NAME]` \
section turns its stream's change log into files in the ERP's own layout (CSV, or X12 such as \
an 856 ship notice), through an outbound mapping in mappings/outbox/. Every change goes out in \
exactly one file; a file is visible only once complete (written aside, then renamed), and a run \
killed at any point is followed by one that writes neither a gap nor a second file. Each outbox \
is a job of its own (lock, run record, `status` line). A record the mapping cannot write is \
rejected for that outbox (exit 3) and the rest go out. `sync` runs every outbox after its pulls.",
        examples: &[
            ("ahead-sync outbox", "deliver to every configured outbox"),
            (
                "ahead-sync outbox shipments_856 --dry-run",
                "say which files one outbox would write, writing none",
            ),
        ],
        exits: &[0, 1, 2, 3, 4],
    },
    Page {
        path: "outbox replay",
        about: "Write the changes that run N delivered to outbox NAME again, for an ERP that lost \
its files: new X12 control numbers, file names marked `replayN`, and the cursor stays where it \
is. `status` and `export changes` show the run numbers.",
        examples: &[(
            "ahead-sync outbox replay shipments_856 --run 42",
            "write run 42's ship notices again",
        )],
        exits: &[0, 1, 2, 3, 4],
    },
    Page {
        path: "sync",
        about: "The main job, for cron: every configured push, then every pull, then every \
outbox, each its own job with its own lock and run record. It exits with the worst outcome of its jobs (in the order 5, \
1, 2, 3, 4, 0) and stops at the first job that finds the credentials rejected or AHEAD \
unreachable. A second sync while one runs exits 4 at once.",
        examples: &[
            ("ahead-sync sync", "push the inboxes, then pull every stream"),
            (
                "ahead-sync --log-format json sync >> /var/log/ahead-sync.log 2>&1",
                "from cron, for a log shipper",
            ),
        ],
        exits: ALL,
    },
    Page {
        path: "backfill",
        about: "Re-reads the records updated in a window of history and records what differs, \
without moving the watermark: for after an outage or a new ERP go-live.",
        examples: &[
            (
                "ahead-sync backfill invoices --since 2026-01-01",
                "everything updated since New Year",
            ),
            (
                "ahead-sync backfill shipments --since 2026-03-01 --until 2026-04-01",
                "one month",
            ),
        ],
        exits: JOB,
    },
    Page {
        path: "daemon",
        about: "Runs the jobs of the schedule files ([schedule] dir) at their times, in this \
process, until SIGINT or SIGTERM; then lets the job in hand finish and exits 0. Runs of the same \
job never overlap, here or with cron; a job that missed ticks while the daemon was down runs \
once at start.",
        examples: &[
            ("ahead-sync schedules", "check the schedules first"),
            ("ahead-sync --log-format json daemon", "run them, logging for a shipper"),
        ],
        exits: LOCAL,
    },
    Page {
        path: "schedules",
        about: "Reads every *.toml file of the schedule folder, checks each job (its command, its \
crontab line, its time zone) and lists it with its next three run times. An invalid file is \
exit 2, naming the file and the job.",
        examples: &[("ahead-sync schedules", "list the jobs and when they run next")],
        exits: PRINTS,
    },
    Page {
        path: "webhooks",
        about: "AHEAD posts order events to a URL you register; `webhooks serve` receives them \
into the mirror, through the same change log as pulls.",
        examples: &[
            ("ahead-sync webhooks serve", "receive deliveries"),
            (
                "ahead-sync webhooks register https://erp.example.com/ahead/events",
                "subscribe to every event",
            ),
        ],
        exits: TALKS,
    },
    Page {
        path: "webhooks serve",
        about: "Receives deliveries at POST webhooks.path (default /webhooks/ahead) and answers \
GET /healthz. Each delivery's signature is checked in constant time; it is stored once, \
acknowledged only after it is committed, and applied only when newer than the mirror. Runs until \
SIGINT or SIGTERM.",
        examples: &[
            ("ahead-sync webhooks serve", "listen on webhooks.bind (127.0.0.1:8787)"),
            ("ahead-sync webhooks serve --bind 0.0.0.0:8787", "listen on every interface"),
        ],
        exits: LOCAL,
    },
    Page {
        path: "webhooks register",
        about: "Subscribes URL to AHEAD's order events and prints the subscription; keep the \
secret it uses in webhooks.secret (better: AHEAD_SYNC__WEBHOOKS__SECRET).",
        examples: &[
            (
                "ahead-sync webhooks register https://erp.example.com/ahead/events",
                "every event",
            ),
            (
                "ahead-sync webhooks register https://erp.example.com/ahead/events --events order.shipped",
                "one event",
            ),
        ],
        exits: TALKS,
    },
    Page {
        path: "webhooks list",
        about: "Lists AHEAD's subscriptions for this account.",
        examples: &[("ahead-sync webhooks list", "every subscription")],
        exits: TALKS,
    },
    Page {
        path: "webhooks delete",
        about: "Deletes one subscription, by the id `webhooks list` shows.",
        examples: &[("ahead-sync webhooks delete 3", "stop deliveries to subscription 3")],
        exits: TALKS,
    },
    Page {
        path: "export",
        about: "CSV with a header row (RFC 4180) or JSON lines, to standard output or --out \
FILE; money stays exactly as AHEAD sent it. Each export takes only its own flags. A reader that \
stops early (`| head`) ends it quietly.",
        examples: &[
            ("ahead-sync export inventory --out inventory.csv", "the inventory mirror"),
            ("ahead-sync export changes --run 42", "what run 42 changed or rejected"),
            (
                "ahead-sync export reconciliation --ledger ap_open.csv --out recon.xlsx --format xlsx",
                "the month-end workbook",
            ),
        ],
        exits: EXPORT,
    },
    Page {
        path: "export inventory",
        about: "One row per item and warehouse, with the API's field names as columns.",
        examples: &[
            ("ahead-sync export inventory --out inventory.csv", "CSV"),
            ("ahead-sync export inventory --format json", "JSON lines on standard output"),
        ],
        exits: EXPORT,
    },
    Page {
        path: "export invoices",
        about: "Every invoice in the mirror, or with --outstanding only AHEAD's outstanding \
ones, aged as of --as-of (default today), with totals per bucket and currency.",
        examples: &[
            ("ahead-sync export invoices --out invoices.csv", "the mirror"),
            (
                "ahead-sync export invoices --outstanding --as-of 2026-11-30 --out aging.xlsx --format xlsx",
                "the aging view as a workbook",
            ),
        ],
        exits: EXPORT,
    },
    Page {
        path: "export shipments",
        about: "Every shipment in the mirror, with the API's field names as columns.",
        examples: &[("ahead-sync export shipments --format json", "JSON lines")],
        exits: EXPORT,
    },
    Page {
        path: "export orders",
        about: "Purchase and fulfillment orders: a kind column (purchase_order or \
fulfillment_order), number (the po_number or order_number), then the API's fields.",
        examples: &[
            ("ahead-sync export orders --excel-safe --out orders.csv", "for a spreadsheet"),
        ],
        exits: EXPORT,
    },
    Page {
        path: "export changes",
        about: "The change log: run, at, stream, id, key, change (created, updated, removed, \
closed, rejected), the changed fields and a detail (final status of a closed invoice; file:line \
and reason of a rejection).",
        examples: &[
            ("ahead-sync export changes --run 42", "one run, rejections included"),
            (
                "ahead-sync export changes --stream invoices --since 2026-11-01",
                "invoice changes this month",
            ),
        ],
        exits: EXPORT,
    },
    Page {
        path: "export reconciliation",
        about: "Ledger lines are read through --ledger-mapping (default \
mappings/ap_ledger.csv.toml, which `ahead-sync init` writes). Rows come in status order with \
their difference (AHEAD - ERP) and aging bucket; totals per status and per bucket are kept per \
currency; CSV, JSON lines or an xlsx workbook.",
        examples: &[
            (
                "ahead-sync export reconciliation --ledger ap_open.csv --out recon.csv",
                "CSV for a spreadsheet",
            ),
            (
                "ahead-sync export reconciliation --ledger ap_open.csv --as-of 2026-11-30 --out recon.xlsx --format xlsx",
                "the month-end workbook",
            ),
        ],
        exits: EXPORT,
    },
    Page {
        path: "status",
        about: "Each job's last run and last success (with the first line of the error that \
ended a failed run), rejected rows waiting, watermarks, token expiry and webhook counters. \
--json is for monitoring scripts.",
        examples: &[
            ("ahead-sync status", "for a person"),
            ("ahead-sync status --json", "for a script"),
        ],
        exits: LOCAL,
    },
    Page {
        path: "sandbox",
        about: "Serves the embedded AHEAD sandbox over HTTP until Ctrl-C, printing its base URL \
and the credentials it accepts as the first line of output, for trying the API with curl and \
for testing other tools against it. `sandbox advance` moves the clock of the sandbox that \
api.base_url = \"sandbox\" starts in-process.",
        examples: &[
            ("ahead-sync sandbox --items 1000", "serve on 127.0.0.1:8080"),
            ("ahead-sync sandbox --bind 127.0.0.1:0", "serve on any free port"),
            ("ahead-sync sandbox advance --hours 2", "two hours pass at the embedded sandbox"),
        ],
        exits: LOCAL,
    },
    Page {
        path: "sandbox advance",
        about: "Works on the embedded sandbox's state file beside the store: its clock moves N \
hours forward and the activity of that time (stock moves, new and paid invoices, orders \
shipped and delivered) is simulated at once, so the next sync has changes to report. Run it \
while no job runs.",
        examples: &[
            ("ahead-sync sandbox advance --hours 2", "two hours pass"),
            (
                "ahead-sync sandbox advance --hours 24 && ahead-sync sync",
                "a day later, and what changed",
            ),
        ],
        exits: LOCAL,
    },
    Page {
        path: "init",
        about: "Writes a commented ahead-sync.toml (every key with its default and its \
environment variable, no secrets), the shipped mappings and schedules, sample order files in \
the inbox whose items the sandbox's catalog holds, and ap_ledger.csv, made from the invoices the \
embedded sandbox serves. A file that exists is kept, never overwritten; it prints what it wrote \
and what to run next.",
        examples: &[
            ("ahead-sync init", "set up the current folder"),
            ("ahead-sync init demo && cd demo && ahead-sync sync", "a new folder, then a first sync"),
        ],
        exits: LOCAL,
    },
    Page {
        path: "completions",
        about: "Prints a completion script for the shell on standard output; load it from the \
shell's startup file or its completion folder.",
        examples: &[
            (
                "ahead-sync completions bash > ~/.local/share/bash-completion/completions/ahead-sync",
                "bash",
            ),
            ("ahead-sync completions zsh > ~/.zfunc/_ahead-sync", "zsh (with ~/.zfunc in fpath)"),
            (
                "ahead-sync completions fish > ~/.config/fish/completions/ahead-sync.fish",
                "fish",
            ),
        ],
        exits: PRINTS,
    },
    Page {
        path: "man",
        about: "Prints the man page (roff) on standard output.",
        examples: &[
            ("ahead-sync man > /usr/local/share/man/man1/ahead-sync.1", "install it"),
            ("ahead-sync man | man -l -", "read it"),
        ],
        exits: PRINTS,
    },
];

/// The `Examples:` and `Exit codes:` text of a page.
pub(crate) fn after_help(page: &Page) -> String {
    let width = page
        .examples
        .iter()
        .map(|(line, _)| line.len())
        .max()
        .unwrap_or(0);
    let mut text = String::from("Examples:\n");
    for (line, what) in page.examples {
        if width > 60 {
            text.push_str(&format!("  {line}\n      {what}\n"));
        } else {
            text.push_str(&format!("  {line:<width$}  # {what}\n"));
        }
    }
    text.push_str("\nExit codes:\n");
    for code in page.exits {
        let meaning = EXIT_CODES
            .iter()
            .find(|(c, _)| c == code)
            .map_or("", |(_, m)| m);
        text.push_str(&format!("  {code}  {meaning}\n"));
    }
    text.trim_end().to_string()
}

/// Adds each page to its command in `root`, which is ahead-sync's whole tree.
pub(crate) fn decorate(root: clap::Command) -> clap::Command {
    let mut root = root;
    for page in PAGES {
        let path: Vec<&str> = page.path.split_whitespace().collect();
        root = apply(root, &path, page);
    }
    root
}

fn apply(cmd: clap::Command, path: &[&str], page: &Page) -> clap::Command {
    match path.split_first() {
        None => {
            let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
            cmd.long_about(format!("{about}\n\n{}", page.about))
                .after_help(after_help(page))
        }
        Some((name, rest)) => cmd.mut_subcommand(*name, |sub| apply(sub, rest, page)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command of the tree, by path, clap's own `help` aside.
    fn paths(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        out.push(prefix.to_string());
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let path = format!("{prefix} {}", sub.get_name()).trim().to_string();
            paths(sub, &path, out);
        }
    }

    fn find<'a>(root: &'a clap::Command, path: &str) -> &'a clap::Command {
        path.split_whitespace().fold(root, |cmd, name| {
            cmd.find_subcommand(name)
                .unwrap_or_else(|| panic!("no command {path:?}"))
        })
    }

    #[test]
    fn every_command_has_a_paragraph_examples_and_exit_codes() {
        let root = crate::cli::command();
        let mut all = Vec::new();
        paths(&root, "", &mut all);
        assert!(all.len() > 25, "{all:?}");
        for path in &all {
            let page = PAGES
                .iter()
                .find(|p| p.path == path)
                .unwrap_or_else(|| panic!("no help page for `ahead-sync {path}` in help::PAGES"));
            let mut cmd = find(&root, path).clone();
            let help = cmd.render_long_help().to_string();
            let first = page
                .about
                .split_whitespace()
                .take(6)
                .collect::<Vec<_>>()
                .join(" ");
            let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                flat.contains(&first),
                "`{path}` --help lacks its paragraph:\n{help}"
            );
            assert!(
                help.contains("\nExamples:\n  ahead-sync"),
                "`{path}`:\n{help}"
            );
            assert!(
                help.contains("\nExit codes:\n  0  done"),
                "`{path}`:\n{help}"
            );
            assert!(
                !page.examples.is_empty() && !page.exits.is_empty(),
                "{path}"
            );
            for (line, _) in page.examples {
                assert!(
                    line.starts_with("ahead-sync ") || line.contains(" ahead-sync "),
                    "{line}"
                );
            }
        }
        for page in PAGES {
            assert!(
                all.iter().any(|p| p == page.path),
                "a page for no command: {}",
                page.path
            );
        }
    }

    #[test]
    fn examples_parse() {
        let root = crate::cli::command();
        for page in PAGES {
            for (line, _) in page.examples {
                // The ahead-sync part of a shell line: up to a redirection, pipe or `&&`.
                for part in line.split("&&") {
                    let Some(at) = part.find("ahead-sync ") else {
                        continue;
                    };
                    let words: Vec<&str> = part[at..]
                        .split_whitespace()
                        .take_while(|w| !matches!(*w, ">" | ">>" | "|" | "2>&1"))
                        .collect();
                    if words.contains(&"--help") {
                        continue;
                    }
                    root.clone()
                        .try_get_matches_from(&words)
                        .unwrap_or_else(|e| panic!("example {line:?} does not parse: {e}"));
                }
            }
        }
    }

    #[test]
    fn global_options_have_their_own_heading() {
        let mut root = crate::cli::command();
        let help = root.render_long_help().to_string();
        let (before, after) = help.split_once("Global options:").expect(&help);
        for flag in [
            "--config",
            "--log-format",
            "--verbose",
            "--quiet",
            "--no-progress",
        ] {
            assert!(
                after.contains(flag) && !before.contains(flag),
                "{flag}:\n{help}"
            );
        }
        let mut sync = find(&root, "sync").clone();
        assert!(sync
            .render_long_help()
            .to_string()
            .contains("Global options:"));
    }
}
