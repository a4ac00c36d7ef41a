//! Stopping work part-way: the flag a cancel sets, the error work stops with, and what an
//! error means for the job (cancelled, disk full, failed).
//!
//! Owned here, below every layer that can be cancelled (a strip's chunks, the rows still
//! arriving for it, a batch item, a video chunk), so none of them needs the others to stop.

use crate::model::Failure;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Set to stop a strip at its next chunk of rows; shared between whoever cancels and the strip.
pub type CancelFlag = Arc<AtomicBool>;

/// The error a strip stops with once its [`CancelFlag`] is set: told apart from a failure by type.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// How often a wait looks at its cancel flag: a strip waiting for rows, and the MPI thread
/// waiting for a strip's compute thread (`exec::drive`). A cancel is seen within this.
pub const CANCEL_POLL: Duration = Duration::from_millis(5);

/// The failure an error stands for: [`Cancelled`] is a cancel, a full file system is
/// `DiskFull`, anything else a failure.
pub fn failure_of(e: &anyhow::Error) -> Failure {
    if e.is::<Cancelled>() {
        Failure::Cancelled
    } else if crate::codec::is_disk_full(e) {
        Failure::DiskFull(format!("{e:#}"))
    } else {
        Failure::Failed(format!("{e:#}"))
    }
}
