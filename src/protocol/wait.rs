//! How a rank waits without spinning: Open MPI's blocking calls busy-poll, so a rank waiting
//! for a command, a strip or a global step would burn a core. Every wait is a non-blocking look
//! repeated with a growing sleep ([`Backoff`]). Pure: the looks themselves are `wire`'s.

use std::time::Duration;

/// Longest sleep between polls while a job runs: a late answer costs at most this.
pub const BUSY_WAIT: Duration = Duration::from_millis(1);
/// Longest sleep between polls while a worker has had no job for [`WARM_FOR`]: the start of the
/// next job may wait this long, and an idle rank wakes 50 times a second.
pub const IDLE_WAIT: Duration = Duration::from_millis(20);
/// Longest sleep between polls in the [`WARM_FOR`] after a job: a server's next request starts
/// within about this (a 20 ms sleep on a busy host oversleeps to 30–50 ms, measured: most of a
/// one-image job's start), at about 1 % of a core while it lasts (2 ms cost 1.7–2.3 %, over the
/// 2 % an idle server may take, and bought no measurable latency: docs/BENCHMARKS.md).
pub const WARM_WAIT: Duration = Duration::from_millis(4);
/// How long after its last job a worker stays warm.
pub const WARM_FOR: Duration = Duration::from_secs(30);

/// The longest sleep between a resting worker's polls, `since` its last job ended.
pub fn resting_wait(since: Duration) -> Duration {
    if since < WARM_FOR {
        WARM_WAIT
    } else {
        IDLE_WAIT
    }
}

/// Sleeps a little longer each time nothing happened: the first polls are quick (an answer
/// that is about to arrive costs nothing), later ones sleep up to `max`.
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Backoff {
        Backoff { next: Duration::ZERO, max }
    }

    /// Sleeps at most `max` from now on.
    pub fn set_max(&mut self, max: Duration) {
        self.max = max;
        self.next = self.next.min(max);
    }

    /// Waits before the next poll.
    pub fn pause(&mut self) {
        if self.next.is_zero() {
            std::thread::yield_now();
            self.next = Duration::from_micros(20);
        } else {
            std::thread::sleep(self.next);
            self.next = (self.next * 2).min(self.max);
        }
    }
}

/// Calls `poll` until it yields something or `timeout` has passed, sleeping between calls.
pub fn poll_for<T>(
    timeout: Duration,
    mut poll: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<Option<T>> {
    let deadline = std::time::Instant::now() + timeout;
    let mut backoff = Backoff::new(BUSY_WAIT);
    loop {
        if let Some(found) = poll()? {
            return Ok(Some(found));
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        backoff.pause();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_worker_rests_warm_after_a_job_then_cold() {
        assert_eq!(resting_wait(Duration::ZERO), WARM_WAIT);
        assert_eq!(resting_wait(WARM_FOR - Duration::from_millis(1)), WARM_WAIT);
        assert_eq!(resting_wait(WARM_FOR), IDLE_WAIT);
        let mut b = Backoff::new(IDLE_WAIT);
        for _ in 0..20 {
            b.next = (b.next * 2).max(Duration::from_micros(20)).min(b.max);
        }
        b.set_max(WARM_WAIT);
        assert_eq!(b.next, WARM_WAIT, "a lower ceiling applies at once");
    }

    #[test]
    fn backoff_grows_to_its_ceiling_and_no_further() {
        let mut b = Backoff::new(Duration::from_millis(2));
        for _ in 0..12 {
            b.pause();
        }
        assert_eq!(b.next, Duration::from_millis(2));
        let t = Instant::now();
        b.pause();
        assert!(t.elapsed() >= Duration::from_millis(2), "a long wait sleeps");
    }
}
