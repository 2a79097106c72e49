//! Schedules: which job runs when, and the loop that runs them.
//!
//! - `crontab`: crontab lines (5 fields, POSIX day-of-week, shortcuts) over the `cron` crate.
//! - `file`: schedule files (`[[job]]` entries in `*.toml` files of `[schedule] dir`).
//! - `next`: a line in a time zone; next fire times, with the daylight-saving rules.
//!
//! Architecture invariant: this module knows nothing about what a job does; it names jobs by
//! their command line and hands them to a runner.

pub mod crontab;
pub mod file;
pub mod next;

pub use crontab::{Crontab, CrontabError};
pub use file::{load_dir, Job, LoadError, Problem};
pub use next::Schedule;
