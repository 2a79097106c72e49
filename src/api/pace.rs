//! Pacing shared by every request of one client (API and token calls, every job of the
//! process): a known rate limit (`api.max_requests_per_second`) spaces requests out, and a 429's
//! `Retry-After` holds back every request, not only the one that drew it.
//!
//! The rate is a GCRA token bucket with a burst of one: each request reserves the next free
//! slot, `1 / rate` after the one before, so requests leave at the configured rate however many
//! are in flight and whichever job sends them. A burst of one is the choice that cannot overrun
//! a server whose own bucket is small; the cost is not using a server's larger burst.
//!
//! Without a known limit a client learns one from the 429s: when one arrives, the answers it got
//! since the previous pause began, over that time plus the new pause, is the rate the server
//! let through, and requests are paced to it for [`LEARNED_FOR`] (then the client tries full
//! speed again). This keeps the 429s of a long pull to the first few, instead of a handful at
//! the end of every burst. The estimate is exact when AHEAD's burst covers a whole
//! `Retry-After`, and low (safe, slower) when it is smaller: a known limit, configured, is
//! always better.
//!
//! Waiting goes through the client's [`Sleeper`], and time is read from it, so tests can record
//! waits on a virtual clock or run on tokio's paused one.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::client::Sleeper;

/// How long a rate learned from 429s is kept after the pause that taught it.
pub(crate) const LEARNED_FOR: Duration = Duration::from_secs(60);

pub(crate) struct Pacer {
    /// `1 / max_requests_per_second`; `None` = no known limit (a rate is learned from 429s).
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
    /// Without a known limit: the interval learned from the last 429s, and until when it holds.
    learned: Option<(Duration, Instant)>,
    /// When the current observation began (the first request, or the last pause).
    window_start: Option<Instant>,
    /// Answers other than 429 since `window_start`.
    window_answers: u64,
}

impl State {
    fn interval(&self, known: Option<Duration>, now: Instant) -> Option<Duration> {
        known.or_else(|| {
            self.learned
                .filter(|(_, until)| *until > now)
                .map(|(interval, _)| interval)
        })
    }
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
                s.window_start.get_or_insert(now);
                let generation = s.pause_generation;
                match s.paused_until {
                    Some(until) if until > now && waited_pause != Some(generation) => {
                        waited_pause = Some(generation);
                        admitted.paused = true;
                        Some(until - now)
                    }
                    _ => match s.interval(self.interval, now) {
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

    /// An answer that was not a 429 (counted towards the rate the server lets through).
    pub(crate) fn answered(&self) {
        if self.interval.is_none() {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.window_answers += 1;
        }
    }

    /// A 429 asked for `wait`: no request of this client leaves before `now + wait`. Without a
    /// known limit, the rate to pace to is learned here. Returns the learned rate (requests per
    /// second) when this pause taught one.
    pub(crate) fn pause(&self, wait: Duration, now: Instant) -> Option<f64> {
        let until = now + wait;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // The other requests that were in flight come back during the pause the first 429
        // set: 429s, and answers to requests sent before it. They extend the pause if need be,
        // but teach nothing: the window they would close is a few milliseconds long.
        let during_a_pause = s.paused_until.is_some_and(|current| current > now);
        if s.paused_until.is_none_or(|current| until > current) {
            s.paused_until = Some(until);
            s.pause_generation += 1;
        }
        if self.interval.is_some() || during_a_pause {
            return None;
        }
        let start = s.window_start.replace(now).unwrap_or(now);
        let answers = std::mem::take(&mut s.window_answers);
        if answers == 0 {
            return None;
        }
        let span = (now - start + wait).as_secs_f64();
        let rate = answers as f64 / span.max(1e-3);
        s.learned = Some((Duration::from_secs_f64(1.0 / rate), until + LEARNED_FOR));
        // Slots taken under the old pace must not bunch up behind the pause.
        s.next_slot = None;
        Some(rate)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::client::TokioSleeper;

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
        let pacer = Pacer::new(Some(1000.0));
        let start = Instant::now();
        pacer.pause(Duration::from_secs(5), Instant::now());
        pacer.pause(Duration::from_secs(1), Instant::now());
        pacer.admit(&TokioSleeper).await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_known_limit_the_rate_is_learned_from_a_429_and_forgotten_later() {
        let pacer = Arc::new(Pacer::new(None));
        let start = Instant::now();
        // 20 answers in the first half second, then a 429 with Retry-After 1.5 s: the server
        // let 20 through in 2 s, 10 a second.
        for _ in 0..20 {
            assert_eq!(pacer.admit(&TokioSleeper).await, Admitted::default());
            pacer.answered();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rate = pacer.pause(Duration::from_millis(1500), Instant::now());
        assert_eq!(rate, Some(10.0));
        // The other requests in flight come back during the pause, 429s and answers: nothing
        // more is learned from them, and the pause stands.
        pacer.answered();
        assert_eq!(
            pacer.pause(Duration::from_millis(1500), Instant::now()),
            None
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        pacer.answered();
        assert_eq!(
            pacer.pause(Duration::from_millis(1400), Instant::now()),
            None
        );
        // From the end of the pause (1.49 s from now), one every 100 ms.
        let times = admissions(pacer.clone(), 2, 6).await;
        let ms: Vec<u128> = times.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![1490, 1590, 1690, 1790, 1890, 1990]);
        // A minute after the pause the learned rate lapses: full speed again.
        tokio::time::sleep_until(start + Duration::from_secs(2) + LEARNED_FOR).await;
        let times = admissions(pacer, 2, 6).await;
        assert!(times.iter().all(|d| d.is_zero()), "{times:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_known_limit_is_never_replaced_by_a_learned_one() {
        let pacer = Arc::new(Pacer::new(Some(4.0)));
        for _ in 0..10 {
            pacer.answered();
        }
        assert_eq!(pacer.pause(Duration::from_secs(1), Instant::now()), None);
        let times = admissions(pacer, 1, 3).await;
        let ms: Vec<u128> = times.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![1000, 1250, 1500]);
    }
}
