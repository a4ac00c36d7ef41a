//! What the HTTP side and the dispatcher share: the limits, the store's HTTP connection, the
//! job on the ranks now, the health beat, the counters, and the two signals between them (the
//! store changed: wake the event streams; news for the dispatcher: a job queued or cancelled).

use super::auth::Users;
use super::metrics::Metrics;
use super::served_model::ServedModel;
use super::store::{Layout, Store};
use crate::model::RankInfo;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The job on the ranks now, for cancel and for the health check.
pub struct Running {
    pub id: String,
    pub cancel: Arc<AtomicBool>,
    pub pause: Arc<AtomicBool>,
}

/// The server's limits (from its flags).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_pixels: u64,
    pub file_bytes: u64,
    pub job_bytes: u64,
    pub max_files: usize,
    /// Jobs one user may have queued or running.
    pub user_jobs: u64,
    /// Upload bytes one user may have queued or running.
    pub user_bytes: u64,
    /// Longest pause in a request body before the request is dropped.
    pub idle: Duration,
}

/// Whether the MPI side answers: the dispatcher beats on every answer and every job event.
pub struct Health {
    pub last: Mutex<Instant>,
}

impl Health {
    pub fn beat(&self, answered: bool) {
        if answered {
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
    }
    pub fn since_last(&self) -> Duration {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }
}

/// What the HTTP side and the dispatcher share.
pub struct Shared {
    pub layout: Layout,
    pub limits: Limits,
    pub users: Users,
    pub ranks: Vec<RankInfo>,
    pub keep: Duration,
    /// The HTTP side's connection (the dispatcher has its own).
    pub store: Store,
    pub running: Mutex<Option<Running>>,
    pub health: Health,
    pub metrics: Metrics,
    pub changes: super::changes::Changes,
    pub kicks: Mutex<Sender<()>>,
    /// The server is stopping: the dispatcher starts no job and the running batch yields.
    pub stopping: AtomicBool,
    /// The model classify jobs use (`--model`), if any.
    pub model: Option<ServedModel>,
    /// How long `/api/classify` and `/whatis` wait for their job.
    pub classify_wait: Duration,
}

impl Shared {
    pub fn running(&self) -> MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes every event stream to re-read the store: any job may have changed.
    pub fn changed(&self) {
        self.changes.all();
    }

    /// Wakes the event streams: job `id` changed in the store (only its streams re-read it).
    pub fn job_changed(&self, id: &str) {
        self.changes.job(id);
    }

    /// Tells the dispatcher there is news (a job queued or cancelled).
    pub fn kick(&self) {
        let _ = self.kicks.lock().unwrap_or_else(|e| e.into_inner()).send(());
    }
}
