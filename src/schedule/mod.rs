//! Schedules: which job runs when, and the loop that runs them.
//!
//! - `clock`: where the daemon gets the time from (real, or tokio's paused clock in tests).
//! - `crontab`: crontab lines (5 fields, POSIX day-of-week, shortcuts) over the `cron` crate.
//! - `daemon`: the scheduling loop: no overlaps, one catch-up run, graceful stop.
//! - `file`: schedule files (`[[job]]` entries in `*.toml` files of `[schedule] dir`).
//! - `next`: a line in a time zone; next fire times, with the daylight-saving rules.
//!
//! Architecture invariant: this module knows nothing about what a job does; it names jobs by
//! their command line and hands them to a runner.

pub(crate) mod clock;
pub(crate) mod crontab;
pub(crate) mod daemon;
pub(crate) mod file;
pub(crate) mod next;

pub(crate) use clock::SystemClock;
pub(crate) use daemon::{run_daemon, JobRunner, LastRuns};
pub(crate) use file::{load_dir, CommandCheck, Job, LoadError, Unschedulable};
