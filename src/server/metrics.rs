//! Counters for `GET /metrics` (Prometheus text): images done and their rate over the last
//! minute, bytes in and out, each rank's busy seconds, and how small jobs shared turns.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Metrics {
    pub images: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Shared turns of small jobs started (`group.rs`).
    pub turns: AtomicU64,
    /// Small jobs that joined a turn already running.
    pub joined: AtomicU64,
    busy: Mutex<Vec<f64>>,
    recent: Mutex<VecDeque<Instant>>,
}

const RATE_WINDOW: Duration = Duration::from_secs(60);

impl Metrics {
    pub fn new(ranks: usize) -> Metrics {
        Metrics {
            images: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            turns: AtomicU64::new(0),
            joined: AtomicU64::new(0),
            busy: Mutex::new(vec![0.0; ranks]),
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// `n` results of `bytes` in all were written.
    pub fn done(&self, n: u64, bytes: u64) {
        self.images.fetch_add(n, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        recent.extend(std::iter::repeat_n(now, n as usize));
        while recent.front().is_some_and(|t| now - *t > RATE_WINDOW) {
            recent.pop_front();
        }
    }

    pub fn rank_busy(&self, rank: usize, secs: f64) {
        if let Some(b) = self.busy.lock().unwrap_or_else(|e| e.into_inner()).get_mut(rank) {
            *b += secs;
        }
    }

    /// Images per second over the last minute.
    pub fn rate(&self) -> f64 {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        recent.iter().filter(|t| now - **t <= RATE_WINDOW).count() as f64 / RATE_WINDOW.as_secs_f64()
    }

    pub fn busy(&self) -> Vec<f64> {
        self.busy.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
