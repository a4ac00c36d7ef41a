//! How a rank waits without spinning: Open MPI's blocking calls busy-poll, so a rank waiting
//! for a command, a strip or a global step would burn a core. Every wait is a non-blocking look
//! repeated with a growing sleep ([`Backoff`]). Pure: the looks themselves are `wire`'s.

use std::time::Duration;

/// Longest sleep between polls while a job runs: a late answer costs at most this.
pub const BUSY_WAIT: Duration = Duration::from_millis(1);
/// Longest sleep between polls while a worker has no job: the start of the next job may wait
/// this long, and an idle rank wakes 50 times a second.
pub const IDLE_WAIT: Duration = Duration::from_millis(20);

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
