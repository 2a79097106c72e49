//! Where the daemon gets the time from.
//!
//! Schedules are wall-clock times, so the daemon needs a `DateTime<Utc>`; tests need that time
//! to be virtual. tokio's paused clock does not move `chrono::Utc::now()`, hence this trait: the
//! daemon asks the clock for `now` and sleeps through it, and tests hand it a [`TokioClock`]
//! whose `now` is a fixed start plus tokio's (paused, auto-advancing) elapsed time.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The current time, and a way to wait for a later one.
pub(crate) trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Return once `now() >= at` (at once if it already is).
    fn sleep_until(&self, at: DateTime<Utc>) -> impl Future<Output = ()> + Send;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SystemClock;

/// Longest single sleep of [`SystemClock`]: a monotonic timer does not notice the wall clock
/// being set or the machine sleeping, so the wall clock is re-read at least this often.
const RECHECK: Duration = Duration::from_secs(60);

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        loop {
            let Ok(left) = (at - Utc::now()).to_std() else {
                return;
            };
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(RECHECK)).await;
        }
    }
}

/// Virtual wall-clock time driven by tokio's clock: `start` plus the time elapsed on tokio's
/// clock since creation. Under `#[tokio::test(start_paused = true)]` the runtime jumps straight
/// to the next timer when every task is idle, so a day of schedule runs in milliseconds, and
/// every instant is exact.
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokioClock {
    start: DateTime<Utc>,
    origin: tokio::time::Instant,
}

#[cfg(test)]
impl TokioClock {
    /// Must be called inside a tokio runtime.
    pub(crate) fn starting_at(start: DateTime<Utc>) -> TokioClock {
        TokioClock {
            start,
            origin: tokio::time::Instant::now(),
        }
    }
}

#[cfg(test)]
impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::TimeDelta::from_std(self.origin.elapsed()).unwrap_or_default();
        self.start + elapsed
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        if let Ok(offset) = (at - self.start).to_std() {
            tokio::time::sleep_until(self.origin + offset).await;
        }
    }
}
