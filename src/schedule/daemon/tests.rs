//! The loop on tokio's paused clock: every instant is exact and a day passes in milliseconds.
//! Jobs are fakes that take a known virtual time; nothing sleeps for real.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono_tz::Tz;

use super::*;
use crate::schedule::clock::TokioClock;
use crate::schedule::next::Schedule;

/// One run of a fake job, as the runner saw it.
#[derive(Debug, Clone)]
struct Run {
    job: String,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    /// Whether the daemon had asked jobs to stop by the time this one finished.
    told_to_stop: bool,
}

/// Jobs that take `duration` of virtual time (or panic, for the job named "panics").
struct FakeRunner {
    clock: TokioClock,
    durations: HashMap<String, Duration>,
    runs: Mutex<Vec<Run>>,
}

impl FakeRunner {
    fn new(clock: TokioClock, durations: &[(&str, u64)]) -> Arc<FakeRunner> {
        Arc::new(FakeRunner {
            clock,
            durations: durations
                .iter()
                .map(|(name, secs)| (name.to_string(), Duration::from_secs(*secs)))
                .collect(),
            runs: Mutex::new(Vec::new()),
        })
    }

    fn runs(&self) -> Vec<Run> {
        self.runs.lock().unwrap().clone()
    }

    fn starts(&self, job: &str) -> Vec<String> {
        self.runs()
            .iter()
            .filter(|r| r.job == job)
            .map(|r| r.start.format("%m-%dT%H:%M:%S").to_string())
            .collect()
    }
}

impl JobRunner for FakeRunner {
    async fn run(&self, job: &Job, shutdown: CancellationToken) -> Exit {
        let index = {
            let mut runs = self.runs.lock().unwrap();
            runs.push(Run {
                job: job.name.clone(),
                start: self.clock.now(),
                end: None,
                told_to_stop: false,
            });
            runs.len() - 1
        };
        if job.name == "panics" {
            panic!("a job that fails badly");
        }
        tokio::time::sleep(self.durations[&job.name]).await;
        let mut runs = self.runs.lock().unwrap();
        runs[index].end = Some(self.clock.now());
        runs[index].told_to_stop = shutdown.is_cancelled();
        Exit::Ok
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn job(name: &str, cron: &str, timezone: Tz) -> Job {
    Job {
        name: name.into(),
        file: "test.toml".into(),
        command: "sync".into(),
        args: vec![],
        schedule: Schedule::new(cron.parse().unwrap(), timezone),
    }
}

/// Run the daemon from the clock's start until `stop` (virtual), then until it returns.
async fn run_until(
    jobs: Vec<Job>,
    clock: &TokioClock,
    runner: &Arc<FakeRunner>,
    state: &mut MemoryLastRuns,
    stop: &str,
) {
    let shutdown = CancellationToken::new();
    let (stopper, token, stop) = (*clock, shutdown.clone(), at(stop));
    tokio::spawn(async move {
        stopper.sleep_until(stop).await;
        token.cancel();
    });
    run_daemon(jobs, clock, runner.clone(), shutdown, state).await;
}

#[tokio::test(start_paused = true)]
async fn fire_times_across_a_day_with_a_clock_change() {
    // Berlin springs forward on Sunday 2026-03-29 at 01:00 UTC (02:00 CET -> 03:00 CEST).
    let clock = TokioClock::starting_at(at("2026-03-28T22:10:00Z"));
    let runner = FakeRunner::new(clock, &[("nightly", 60), ("hourly", 60), ("office", 60)]);
    let berlin = chrono_tz::Europe::Berlin;
    let jobs = vec![
        job("nightly", "30 2 * * *", berlin),
        job("hourly", "@hourly", berlin),
        job("office", "*/15 9-17 * * 1-5", berlin),
    ];
    let mut state = MemoryLastRuns::default();
    run_until(jobs, &clock, &runner, &mut state, "2026-03-29T21:30:00Z").await;

    // 02:30 does not exist that night: the nightly job runs once, at the jump.
    assert_eq!(runner.starts("nightly"), ["03-29T01:00:00"]);
    let hourly: Vec<String> = (0..23)
        .map(|h| {
            let t = at("2026-03-28T23:00:00Z") + chrono::TimeDelta::hours(h);
            t.format("%m-%dT%H:%M:%S").to_string()
        })
        .collect();
    assert_eq!(runner.starts("hourly"), hourly);
    assert!(runner.starts("office").is_empty(), "a Sunday");
    assert_eq!(state.runs["nightly"], at("2026-03-29T01:00:00Z"));
    assert_eq!(state.runs["hourly"], at("2026-03-29T21:00:00Z"));
}

#[tokio::test(start_paused = true)]
async fn a_running_job_is_not_started_again() {
    let clock = TokioClock::starting_at(at("2026-11-27T10:00:30Z"));
    // Every minute, but each run takes two and a half.
    let runner = FakeRunner::new(clock, &[("slow", 150), ("other", 150)]);
    let jobs = vec![
        job("slow", "* * * * *", Tz::UTC),
        job("other", "*/2 * * * *", Tz::UTC),
    ];
    let mut state = MemoryLastRuns::default();
    run_until(jobs, &clock, &runner, &mut state, "2026-11-27T10:10:30Z").await;

    assert_eq!(
        runner.starts("slow"),
        [
            "11-27T10:01:00",
            "11-27T10:04:00",
            "11-27T10:07:00",
            "11-27T10:10:00"
        ]
    );
    for job in ["slow", "other"] {
        let runs: Vec<Run> = runner.runs().into_iter().filter(|r| r.job == job).collect();
        for pair in runs.windows(2) {
            assert!(
                pair[1].start >= pair[0].end.unwrap(),
                "{job} overlapped: {pair:?}"
            );
        }
    }
    // Different jobs do run at the same time.
    assert_eq!(
        runner.starts("other"),
        ["11-27T10:02:00", "11-27T10:06:00", "11-27T10:10:00"]
    );
    // The stop waited for the last runs: 10:10 + 2m30s.
    assert_eq!(clock.now(), at("2026-11-27T10:12:30Z"));
}

#[tokio::test(start_paused = true)]
async fn missed_ticks_run_once_after_downtime() {
    let clock = TokioClock::starting_at(at("2026-11-27T11:20:00Z"));
    let runner = FakeRunner::new(clock, &[("behind", 60), ("current", 60), ("new", 60)]);
    let jobs = vec![
        job("behind", "@hourly", Tz::UTC),
        job("current", "@hourly", Tz::UTC),
        job("new", "@hourly", Tz::UTC),
    ];
    let mut state = MemoryLastRuns::default();
    // Down since just after 08:00: the 09, 10 and 11 o'clock ticks were missed.
    state.set("behind", at("2026-11-27T08:00:00Z")).unwrap();
    // Ran at 11:00, before a quick restart: nothing missed.
    state.set("current", at("2026-11-27T11:00:00Z")).unwrap();
    run_until(jobs, &clock, &runner, &mut state, "2026-11-27T13:30:00Z").await;

    assert_eq!(
        runner.starts("behind"),
        ["11-27T11:20:00", "11-27T12:00:00", "11-27T13:00:00"]
    );
    assert_eq!(
        runner.starts("current"),
        ["11-27T12:00:00", "11-27T13:00:00"]
    );
    // A job that never ran waits for its first tick.
    assert_eq!(runner.starts("new"), ["11-27T12:00:00", "11-27T13:00:00"]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_the_job_in_hand_and_starts_nothing_new() {
    let clock = TokioClock::starting_at(at("2026-11-27T09:59:00Z"));
    let runner = FakeRunner::new(clock, &[("long", 30 * 60), ("later", 60)]);
    let jobs = vec![
        job("long", "0 * * * *", Tz::UTC),
        // Due after the stop was asked for, while "long" is still running.
        job("later", "15 10 * * *", Tz::UTC),
    ];
    let mut state = MemoryLastRuns::default();
    run_until(jobs, &clock, &runner, &mut state, "2026-11-27T10:10:00Z").await;

    let runs = runner.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].end, Some(at("2026-11-27T10:30:00Z")));
    assert!(runs[0].told_to_stop);
    // run_daemon returned when the job did, not before and not later.
    assert_eq!(clock.now(), at("2026-11-27T10:30:00Z"));
}

#[tokio::test(start_paused = true)]
async fn an_idle_daemon_stops_at_once() {
    let clock = TokioClock::starting_at(at("2026-11-27T09:00:00Z"));
    let runner = FakeRunner::new(clock, &[("never", 1)]);
    let jobs = vec![job("never", "0 0 30 2 *", Tz::UTC)];
    let mut state = MemoryLastRuns::default();
    run_until(jobs, &clock, &runner, &mut state, "2026-11-27T09:05:00Z").await;
    assert_eq!(clock.now(), at("2026-11-27T09:05:00Z"));
    assert!(runner.runs().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_panicking_job_fails_that_run_only() {
    let clock = TokioClock::starting_at(at("2026-11-27T09:00:30Z"));
    let runner = FakeRunner::new(clock, &[]);
    let jobs = vec![job("panics", "* * * * *", Tz::UTC)];
    let mut state = MemoryLastRuns::default();
    run_until(jobs, &clock, &runner, &mut state, "2026-11-27T09:03:30Z").await;
    assert_eq!(
        runner.starts("panics"),
        ["11-27T09:01:00", "11-27T09:02:00", "11-27T09:03:00"]
    );
}
