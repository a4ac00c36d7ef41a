//! The job the window started, as the window holds it: its events, its cancel flag and its
//! progress. What the window does with it is `processing`.

use super::progress::JobProgress;
use crate::coordinator::JobEvent;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Instant;

/// The job the window started, until its last event. Public with its fields: the headless tests
/// set one up to feed the window events of their own.
pub struct Running {
    pub events: Receiver<JobEvent>,
    pub cancel: Arc<AtomicBool>,
    pub progress: JobProgress,
    pub batch: bool,
    /// A batch through a model (`classify`), not through the chain.
    pub classify: bool,
    /// When the user asked to cancel (to tell how long the ranks took to stop).
    pub cancel_asked: Option<Instant>,
}
