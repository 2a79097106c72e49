//! Schedule files: every `*.toml` in the schedule folder (`[schedule] dir`, default `schedules/`),
//! each holding `[[job]]` entries. The format is documented in `schedules/README.md` and by
//! example in `schedules/example.toml`.
//!
//! Loading checks everything and reports every problem at once, each naming its file and entry,
//! so an operator fixes a folder in one pass rather than one error per run of the daemon.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::Deserialize;
use thiserror::Error;

use super::crontab::Crontab;
use super::next::Schedule;

/// Checks a scheduled job's command line. The command layer supplies it, so that a schedule
/// accepts exactly what a person could type while this module knows nothing of the commands.
pub(crate) trait CommandCheck {
    fn check(&self, command: &str, args: &[String]) -> Result<(), Unschedulable>;
}

/// Why a command line cannot be scheduled, in a sentence for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub(crate) struct Unschedulable(pub String);

/// One scheduled job, validated.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// Unique across all files; the key of the job's last fire time and of its log lines.
    pub name: String,
    /// The file the job came from, for listings and messages.
    pub file: PathBuf,
    /// The command words, normalised to single spaces (`pull inventory`).
    pub command: String,
    /// Extra arguments, checked against the command line parser (`--full`, `--dry-run`, files).
    pub args: Vec<String>,
    pub schedule: Schedule,
}

impl Job {
    /// The command line after the program name: `["pull", "inventory", "--full"]`.
    pub(crate) fn argv(&self) -> Vec<String> {
        self.command
            .split(' ')
            .map(str::to_string)
            .chain(self.args.iter().cloned())
            .collect()
    }

    /// The command line as one string, for listings and logs.
    pub(crate) fn command_line(&self) -> String {
        self.argv().join(" ")
    }
}

/// A problem in a schedule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub file: PathBuf,
    /// `job #2 "inventory-hourly"`, or `None` for the file as a whole.
    pub entry: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(entry) = &self.entry {
            write!(f, ": {entry}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found while loading a schedule folder.
#[derive(Debug, Clone, Error)]
pub(crate) struct LoadError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{n} problem{} in the schedules:",
            if n == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        write!(
            f,
            "\nHint: the schedule file format is described in schedules/README.md."
        )
    }
}

/// An entry as written; unknown keys are rejected by name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: String,
    command: String,
    #[serde(default)]
    args: Vec<String>,
    cron: String,
    timezone: Option<String>,
}

/// Load every `*.toml` file in `dir` (not hidden ones), in name order.
pub(crate) fn load_dir(dir: &Path, commands: &dyn CommandCheck) -> Result<Vec<Job>, LoadError> {
    let fail = |message: String| LoadError {
        problems: vec![Problem {
            file: dir.to_path_buf(),
            entry: None,
            message,
        }],
    };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        fail(format!(
            "cannot read the schedule folder ({e}); create it, or set [schedule] dir \
             (AHEAD_SYNC__SCHEDULE__DIR) to the folder holding the schedule files"
        ))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Hidden files are editors' swap and lock files, not schedules.
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    let mut jobs = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let (found, bad) = parse_file(&file, &text, commands);
                jobs.extend(found);
                problems.extend(bad);
            }
            Err(e) => problems.push(Problem {
                file: file.clone(),
                entry: None,
                message: format!("cannot read the file: {e}"),
            }),
        }
    }
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for job in &jobs {
        if let Some(first) = seen.get(&job.name) {
            problems.push(Problem {
                file: job.file.clone(),
                entry: Some(format!("job {:?}", job.name)),
                message: format!(
                    "the name is already used in {}; job names must be unique across files",
                    first.display()
                ),
            });
        } else {
            seen.insert(job.name.clone(), job.file.clone());
        }
    }
    if problems.is_empty() {
        Ok(jobs)
    } else {
        Err(LoadError { problems })
    }
}

/// The jobs of one file, and the problems of its bad entries (duplicate names within the file
/// are reported here; across files by [`load_dir`]).
pub(crate) fn parse_file(
    file: &Path,
    text: &str,
    commands: &dyn CommandCheck,
) -> (Vec<Job>, Vec<Problem>) {
    let problem = |entry: Option<String>, message: String| Problem {
        file: file.to_path_buf(),
        entry,
        message,
    };
    let table: toml::Table = match toml::from_str(text) {
        Ok(table) => table,
        Err(e) => return (vec![], vec![problem(None, format!("not valid TOML: {e}"))]),
    };
    let mut problems = Vec::new();
    let mut entries = Vec::new();
    for (key, value) in table {
        match (key.as_str(), value) {
            ("job", toml::Value::Array(items)) => entries = items,
            ("job", _) => problems.push(problem(
                None,
                "`job` must be a list of entries, each starting with [[job]]".into(),
            )),
            (other, _) => problems.push(problem(
                None,
                format!("unknown key `{other}`; a schedule file holds only [[job]] entries"),
            )),
        }
    }
    let mut jobs: Vec<Job> = Vec::new();
    for (index, value) in entries.into_iter().enumerate() {
        let entry = match value.get("name").and_then(|n| n.as_str()) {
            Some(name) => format!("job #{} {name:?}", index + 1),
            None => format!("job #{}", index + 1),
        };
        match parse_entry(file, value, commands) {
            Ok(job) if jobs.iter().any(|j| j.name == job.name) => problems.push(problem(
                Some(entry),
                "the name is used twice in this file; job names must be unique".into(),
            )),
            Ok(job) => jobs.push(job),
            Err(messages) => problems.extend(
                messages
                    .into_iter()
                    .map(|message| problem(Some(entry.clone()), message)),
            ),
        }
    }
    (jobs, problems)
}

/// A validated job, or every problem of the entry (name, command, cron and time zone are
/// checked independently, so one pass over a file shows all that needs fixing).
fn parse_entry(
    file: &Path,
    value: toml::Value,
    commands: &dyn CommandCheck,
) -> Result<Job, Vec<String>> {
    let raw: RawJob = value
        .try_into()
        .map_err(|e: toml::de::Error| vec![e.message().trim().to_string()])?;
    let mut problems = Vec::new();
    if raw.name.is_empty()
        || !raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        problems.push(format!(
            "name {:?} must be non-empty and use only letters, digits, '-', '_' and '.'",
            raw.name
        ));
    }
    let command = raw.command.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Err(problem) = commands.check(&command, &raw.args) {
        problems.push(problem.0);
    }
    let cron = raw
        .cron
        .parse::<Crontab>()
        .map_err(|e| problems.push(format!("cron: {e}")))
        .ok();
    let timezone = match raw.timezone.as_deref() {
        None => Some(Tz::UTC),
        Some(name) => name
            .parse::<Tz>()
            .map_err(|_| {
                problems.push(format!(
                    "timezone: unknown time zone {name:?}; use an IANA name such as \
                     \"Europe/Berlin\", \"America/New_York\" or \"UTC\""
                ))
            })
            .ok(),
    };
    match (cron, timezone) {
        (Some(cron), Some(timezone)) if problems.is_empty() => Ok(Job {
            name: raw.name,
            file: file.to_path_buf(),
            command,
            args: raw.args,
            schedule: Schedule::new(cron, timezone),
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests;
