//! `schedules`: check the schedule folder and list each job with its next run times.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use clap::{Parser, ValueEnum};

use crate::cli::{Cli, Command, OrderKind, Stream};
use crate::error::{ConfigError, Exit};
use crate::schedule::{CommandCheck, Job, Unschedulable};
use crate::settings::Settings;

/// What `command` may say, for messages.
pub(crate) const SCHEDULABLE: &str = "sync | pull inventory|invoices|shipments|purchase-orders|\
fulfillment-orders | push purchase-orders|fulfillment-orders | outbox";

/// Schedule files are checked with the real command line parser.
pub(crate) struct CliCommands;

impl CommandCheck for CliCommands {
    fn check(&self, command: &str, args: &[String]) -> Result<(), Unschedulable> {
        parse_command(command, args).map(|_| ())
    }
}

/// Load the schedule folder, every command checked as if typed.
pub(crate) fn load_dir(dir: &std::path::Path) -> Result<Vec<Job>, crate::schedule::LoadError> {
    crate::schedule::load_dir(dir, &CliCommands)
}

/// A loaded job's command, as if typed on the command line. Loading already parsed it once,
/// so this cannot fail for a loaded job.
pub(crate) fn command_of(job: &Job) -> Command {
    parse_command(&job.command, &job.args).expect("checked when the schedule was loaded")
}

/// Check a command and its arguments with the real command line parser, so a schedule accepts
/// exactly what a person could type.
pub(crate) fn parse_command(command: &str, args: &[String]) -> Result<Command, Unschedulable> {
    let words: Vec<&str> = command.split(' ').collect();
    let schedulable = match words.as_slice() {
        ["sync"] => true,
        ["pull", stream] => Stream::from_str(stream, false).is_ok(),
        ["push", kind] => OrderKind::from_str(kind, false).is_ok(),
        ["outbox"] => true,
        _ => false,
    };
    if !schedulable {
        return Err(Unschedulable(format!(
            "command {command:?} cannot be scheduled; use one of: {SCHEDULABLE} \
             (extra options go in `args`)"
        )));
    }
    let argv = std::iter::once("ahead-sync")
        .chain(words.iter().copied())
        .chain(args.iter().map(String::as_str));
    let cli = Cli::try_parse_from(argv).map_err(|e| {
        let text = e.to_string();
        let first = text
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("error: ");
        Unschedulable(format!("args {args:?} do not fit `{command}`: {first}"))
    })?;
    let global = &cli.global;
    if global.config.is_some() || global.verbose > 0 || global.quiet > 0 || global.no_progress {
        return Err(Unschedulable(format!(
            "args {args:?}: global options (--config, -v, -q, --no-progress, --log-format) \
             belong to the daemon, not to a job"
        )));
    }
    if let Command::Outbox(o) = &cli.command {
        if o.action.is_some() || o.dry_run {
            return Err(Unschedulable(format!(
                "args {args:?}: a scheduled outbox delivers (outbox names only; no replay, no --dry-run)"
            )));
        }
    }
    Ok(cli.command)
}

/// How many upcoming runs to show per job.
const UPCOMING: usize = 3;

pub(crate) fn run(settings: &Settings) -> anyhow::Result<Exit> {
    let jobs = load_dir(&settings.schedule_dir).map_err(ConfigError::caused_by)?;
    print!("{}", render(&jobs, Utc::now()));
    Ok(Exit::Ok)
}

/// The listing, as of `now`.
pub(crate) fn render(jobs: &[Job], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    if jobs.is_empty() {
        out.push_str("No scheduled jobs: the schedule folder has no [[job]] entries.\n");
        return out;
    }
    for (i, job) in jobs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let tz = job.schedule.timezone;
        let _ = writeln!(out, "{} ({})", job.name, job.file.display());
        let _ = writeln!(out, "  command   {}", job.command_line());
        let _ = writeln!(out, "  cron      {}  ({tz})", job.schedule.cron);
        let upcoming = job.schedule.next_n(now, UPCOMING);
        if upcoming.is_empty() {
            let _ = writeln!(out, "  next      never (the cron line matches no date)");
        }
        for (n, at) in upcoming.iter().enumerate() {
            let label = if n == 0 { "next" } else { "" };
            let _ = writeln!(out, "  {label:<8}  {}", when(*at, tz));
        }
    }
    out
}

fn when(at: DateTime<Utc>, tz: Tz) -> String {
    let utc = at.format("%Y-%m-%d %H:%M UTC").to_string();
    if tz == Tz::UTC {
        utc
    } else {
        format!(
            "{}  ({utc})",
            at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn outboxes_can_be_scheduled_to_deliver_only() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches!(
            parse_command("outbox", &[]),
            Ok(Command::Outbox(_))
        ));
        assert!(parse_command("outbox", &args(&["ship_856", "invoices_csv"])).is_ok());
        for bad in [&["--dry-run"][..], &["replay", "ship", "--run", "3"]] {
            let e = parse_command("outbox", &args(bad)).unwrap_err();
            assert!(e.0.contains("scheduled outbox"), "{bad:?}: {}", e.0);
        }
    }

    #[test]
    fn lists_jobs_with_times_in_their_zone_and_utc() {
        let text =
            "[[job]]\nname = \"nightly\"\ncommand = \"pull inventory\"\nargs = [\"--full\"]\n\
                    cron = \"30 2 * * *\"\ntimezone = \"Europe/Berlin\"\n\
                    [[job]]\nname = \"sync\"\ncommand = \"sync\"\ncron = \"*/10 * * * *\"\n";
        let (jobs, problems) =
            crate::schedule::file::parse_file(Path::new("s/a.toml"), text, &CliCommands);
        assert!(problems.is_empty(), "{problems:?}");
        let now = DateTime::parse_from_rfc3339("2026-11-27T21:55:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let listing = render(&jobs, now);
        let expected = "\
nightly (s/a.toml)
  command   pull inventory --full
  cron      30 2 * * *  (Europe/Berlin)
  next      2026-11-28 02:30 CET  (2026-11-28 01:30 UTC)
            2026-11-29 02:30 CET  (2026-11-29 01:30 UTC)
            2026-11-30 02:30 CET  (2026-11-30 01:30 UTC)

sync (s/a.toml)
  command   sync
  cron      */10 * * * *  (UTC)
  next      2026-11-27 22:00 UTC
            2026-11-27 22:10 UTC
            2026-11-27 22:20 UTC
";
        assert_eq!(listing, expected);
    }
}
