//! Pacing shared by every request of one client (API and token calls, every job of the
//! process): a known rate limit (`api.max_requests_per_second`) spaces requests out, and a 429's
//! `Retry-After` holds back every request, not only the one that drew it.
//!
//! The rate is a GCRA token bucket with a burst of one: each request reserves the next free
//! slot, `1 / rate` after the one before, so requests leave at the configured rate however many
//! are in flight and whichever job sends them. A burst of one is the choice that cannot overrun
//! a server whose own bucket is small; the cost is not using a server's larger burst.
//!
//! Waiting goes through the client's [`Sleeper`], and time is read from it, so tests can record
//! waits on a virtual clock or run on tokio's paused one.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::client::Sleeper;

pub(crate) struct Pacer {
    /// `1 / max_requests_per_second`; `None` = no known limit (pauses still apply).
    interval: Option<Duration>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The next free slot of the bucket (GCRA's theoretical arrival time).
    next_slot: Option<Instant>,
    /// No request leaves before this (the latest `Retry-After`).
    paused_until: Option<Instant>,
    /// Counts pauses that moved `paused_until` later, so a request knows whether the pause it
    /// sees is one it has already waited for.
    pause_generation: u64,
}

/// What [`Pacer::admit`] did, for the counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admitted {
    /// Waited for a pause set by a 429.
    pub paused: bool,
    /// Waited for a slot of the bucket.
    pub paced: bool,
}

impl Pacer {
    pub(crate) fn new(max_requests_per_second: Option<f64>) -> Pacer {
        Pacer {
            interval: max_requests_per_second
                .filter(|r| r.is_finite() && *r > 0.0)
                .map(|r| Duration::from_secs_f64(1.0 / r)),
            state: Mutex::new(State::default()),
        }
    }

    /// Wait until this request may be sent: after any pause, then in its slot. A pause that
    /// begins while a request waits for its slot sends it back to wait for the pause and take a
    /// new slot after it, so a pause is not followed by a burst of the slots reserved before it.
    pub(crate) async fn admit(&self, sleeper: &dyn Sleeper) -> Admitted {
        let mut admitted = Admitted::default();
        // The pause generation last waited for, and the one a slot was reserved under.
        let mut waited_pause = None;
        let mut slot_under = None;
        loop {
            let now = sleeper.now();
            let wait = {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let generation = s.pause_generation;
                match s.paused_until {
                    Some(until) if until > now && waited_pause != Some(generation) => {
                        waited_pause = Some(generation);
                        admitted.paused = true;
                        Some(until - now)
                    }
                    _ => match self.interval {
                        Some(_) if slot_under == Some(generation) => None,
                        Some(interval) => {
                            let slot = s.next_slot.map_or(now, |next| next.max(now));
                            s.next_slot = Some(slot + interval);
                            slot_under = Some(generation);
                            (slot > now).then(|| {
                                admitted.paced = true;
                                slot - now
                            })
                        }
                        None => None,
                    },
                }
            };
            match wait {
                Some(wait) => sleeper.sleep(wait).await,
                None => return admitted,
            }
        }
    }

    /// A 429 asked for `wait`: no request of this client leaves before `now + wait`.
    pub(crate) fn pause(&self, wait: Duration, now: Instant) {
        let until = now + wait;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.paused_until.is_none_or(|current| until > current) {
            s.paused_until = Some(until);
            s.pause_generation += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::TokioSleeper;

    /// Admit `n` requests from `tasks` tasks at once; the instants they were let through,
    /// relative to the start.
    async fn admissions(pacer: Arc<Pacer>, tasks: usize, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let per_task = n / tasks;
        let mut handles = Vec::new();
        for _ in 0..tasks {
            let pacer = pacer.clone();
            handles.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for _ in 0..per_task {
                    pacer.admit(&TokioSleeper).await;
                    out.push(start.elapsed());
                }
                out
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.unwrap());
        }
        all.sort();
        all
    }

    #[tokio::test(start_paused = true)]
    async fn a_known_rate_spaces_every_request_of_every_task() {
        let pacer = Arc::new(Pacer::new(Some(25.0)));
        let times = admissions(pacer, 4, 100).await;
        let ms: Vec<u128> = times.iter().map(|d| d.as_millis()).collect();
        let want: Vec<u128> = (0..100).map(|i| i * 40).collect();
        assert_eq!(ms, want);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_rate_nothing_waits() {
        let pacer = Arc::new(Pacer::new(None));
        let times = admissions(pacer, 4, 40).await;
        assert!(times.iter().all(|d| d.is_zero()), "{times:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_everyone_then_the_rate_resumes_from_its_end() {
        let pacer = Arc::new(Pacer::new(Some(10.0)));
        let start = Instant::now();
        assert_eq!(pacer.admit(&TokioSleeper).await, Admitted::default());
        // A 429 told some request to wait 2 s.
        pacer.pause(Duration::from_secs(2), Instant::now());
        let mut handles = Vec::new();
        for _ in 0..3 {
            let pacer = pacer.clone();
            handles.push(tokio::spawn(async move {
                let admitted = pacer.admit(&TokioSleeper).await;
                (start.elapsed().as_millis(), admitted.paused)
            }));
        }
        let mut got = Vec::new();
        for h in handles {
            got.push(h.await.unwrap());
        }
        got.sort();
        assert_eq!(got, vec![(2000, true), (2100, true), (2200, true)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_that_begins_while_waiting_for_a_slot_is_waited_for() {
        let pacer = Arc::new(Pacer::new(Some(1.0)));
        let start = Instant::now();
        pacer.admit(&TokioSleeper).await;
        // The next slot is at 1 s; a pause until 3 s begins at 0.5 s.
        let waiter = {
            let pacer = pacer.clone();
            tokio::spawn(async move {
                let a = pacer.admit(&TokioSleeper).await;
                (start.elapsed().as_millis(), a)
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        pacer.pause(Duration::from_millis(2500), Instant::now());
        let (at, admitted) = waiter.await.unwrap();
        assert_eq!(at, 3000, "left at the end of the pause, in a new slot");
        assert!(admitted.paused && admitted.paced);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_pause_never_shortens_a_longer_one() {
        let pacer = Pacer::new(None);
        let start = Instant::now();
        pacer.pause(Duration::from_secs(5), Instant::now());
        pacer.pause(Duration::from_secs(1), Instant::now());
        pacer.admit(&TokioSleeper).await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }
}
