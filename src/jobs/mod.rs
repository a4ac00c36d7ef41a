//! The jobs every face runs: one image ([`image`]), a batch ([`batch`]) and a video
//! ([`video`]). Each is a request a face fills in (the CLI from its flags, the GUI from its
//! window), checked and planned before any work (`prepare`), run on the ranks through the
//! [`Master`](crate::master::Master) (`run`, reporting events to a callback the face renders),
//! and summarised the same way for every face ([`Summary`], `VideoSummary`).
//!
//! No face is imported here, and no face imports another: they meet in this module and in the
//! coordinator that feeds it from a window or a server.

pub mod batch;
pub mod classify;
pub mod image;
mod summary;
pub mod video;

pub use summary::{FailedImage, JobClock, Summary};

/// Why a job did not succeed, for the exit code (`cli::EXIT_CODES`) and what a face shows.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job could not start (exit code 3).
    #[error("{0:#}")]
    CannotStart(anyhow::Error),
    /// Some images failed; they were reported (exit code 1).
    #[error("{0} image(s) failed")]
    ImagesFailed(usize),
    /// Ctrl+C or SIGTERM stopped the job (exit code 130); nothing half-done was written.
    #[error("cancelled: {0}")]
    Cancelled(String),
}

/// The error for a job that cannot start.
pub(crate) fn cannot_start(e: anyhow::Error) -> anyhow::Error {
    JobError::CannotStart(e).into()
}
