//! Who is told that the store changed. Every event stream waits on one watch channel; each
//! change also says which job it was about, so a woken stream re-reads the store only when its
//! own job (or everything) changed. With many clients watching their one-image jobs, a stream
//! per client re-reading on every other client's news cost more of rank 0's time than the
//! HTTP itself (docs/BENCHMARKS.md, issue 21's throughput).
//!
//! Jobs map to a fixed table of counters by a hash of their id: no entry to create or remove,
//! and a collision only costs a needless re-read, never a missed change.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;

const BUCKETS: usize = 1024;

pub struct Changes {
    wake: watch::Sender<u64>,
    /// Bumped by a change about no job in particular (a whole turn, expired jobs).
    all: AtomicU64,
    jobs: Vec<AtomicU64>,
}

/// What a stream saw of its job's changes: compare with [`Changes::version`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version(u64, u64);

impl Default for Changes {
    fn default() -> Self {
        Changes { wake: watch::channel(0).0, all: AtomicU64::new(0), jobs: (0..BUCKETS).map(|_| 0.into()).collect() }
    }
}

impl Changes {
    fn bucket(&self, id: &str) -> &AtomicU64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        &self.jobs[h.finish() as usize % BUCKETS]
    }

    /// Job `id` changed in the store (call after the write).
    pub fn job(&self, id: &str) {
        self.bucket(id).fetch_add(1, Ordering::SeqCst);
        self.wake.send_modify(|v| *v += 1);
    }

    /// Any job may have changed.
    pub fn all(&self) {
        self.all.fetch_add(1, Ordering::SeqCst);
        self.wake.send_modify(|v| *v += 1);
    }

    /// Where job `id`'s changes stand: read it before reading the store, so a change that lands
    /// after the read shows as a new version.
    pub fn version(&self, id: &str) -> Version {
        Version(self.all.load(Ordering::SeqCst), self.bucket(id).load(Ordering::SeqCst))
    }

    /// A receiver woken by every change; it sees only changes made after this call.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_version_moves_with_its_own_changes_and_with_everything_not_with_others() {
        let c = Changes::default();
        let a = c.version("job-a");
        // Find an id in another bucket (almost any).
        let other = (0..).map(|i| format!("job-{i}")).find(|id| !std::ptr::eq(c.bucket(id), c.bucket("job-a")));
        c.job(&other.unwrap());
        assert_eq!(c.version("job-a"), a, "another job's news leaves it alone");
        c.job("job-a");
        let b = c.version("job-a");
        assert_ne!(b, a);
        c.all();
        assert_ne!(c.version("job-a"), b, "a change to everything counts");
    }

    #[test]
    fn every_change_wakes_a_subscriber() {
        let c = Changes::default();
        let mut rx = c.subscribe();
        assert!(!rx.has_changed().unwrap());
        c.job("x");
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        c.all();
        assert!(rx.has_changed().unwrap());
    }
}
