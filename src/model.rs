//! The values every layer shares: who the ranks are, what they report, how a job or an item
//! ended. Pure data (serde for the wire and `--json`); no MPI, no files, no UI.
//!
//! `master`/`worker` move these between ranks, `scheduler` and `exec` produce them, front ends
//! (CLI, GUI) show them. Keeping them here lets each of those depend on this module only, never
//! on each other.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Who a rank is, for the status bar, the report and thread planning.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RankInfo {
    pub rank: usize,
    pub host: String,
    /// Logical cores this rank's process may run on.
    pub cores: usize,
}

/// Timings and volumes of one rank in one job (seconds and bytes).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RankStats {
    pub rank: usize,
    pub host: String,
    /// OpenCV threads this rank used.
    pub threads: usize,
    /// Rows owned (one image) or images done (batch).
    pub rows: Option<(usize, usize)>,
    pub images: usize,
    pub read_secs: f64,
    /// Rank 0: sending strips or input files; workers: receiving them.
    pub send_secs: f64,
    pub compute_secs: f64,
    /// Time in global steps (histogram, hysteresis), waiting for the slowest rank included.
    pub global_secs: f64,
    /// Rank 0: receiving result rows or files (the transfers alone); workers: sending them.
    pub collect_secs: f64,
    /// Rank 0, one image: idle after its own strip, waiting for the slowest worker to finish.
    pub wait_secs: f64,
    pub write_secs: f64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Encoding this rank's piece of the output file (streamed image jobs).
    #[serde(default)]
    pub encode_secs: f64,
    /// This process's peak resident memory (VmHWM) at the end of the job, in bytes.
    #[serde(default)]
    pub peak_rss_bytes: u64,
    /// What the rank did when, in seconds from the job's start on rank 0's clock (one image).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Span>,
    /// Batch: this rank read its inputs and wrote its outputs itself, only indices travelled
    /// (false: the file bytes went through rank 0). Absent in other jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_files: Option<bool>,
}

/// One phase of a rank's work in a job: decode, read, send, receive, filter, encode, write.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Span {
    pub phase: String,
    pub start: f64,
    pub end: f64,
}

/// Seconds since the Unix epoch: ranks on one host share this clock (hosts agree to NTP's
/// precision), so their timelines line up.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl RankStats {
    /// Records that `phase` ran from `started` (see [`unix_now`]) until now, on a job that
    /// started at `t0`; returns the seconds it took.
    pub fn record(&mut self, phase: &str, t0: f64, started: f64) -> f64 {
        let end = unix_now();
        self.timeline.push(Span { phase: phase.into(), start: started - t0, end: end - t0 });
        end - started
    }

    /// Adds another job's times, volumes and images (a staged image, the chunks of a video);
    /// `rows` becomes the other's when it has some.
    pub fn add(&mut self, other: &RankStats) {
        self.images += other.images;
        self.read_secs += other.read_secs;
        self.send_secs += other.send_secs;
        self.compute_secs += other.compute_secs;
        self.global_secs += other.global_secs;
        self.collect_secs += other.collect_secs;
        self.wait_secs += other.wait_secs;
        self.write_secs += other.write_secs;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.encode_secs += other.encode_secs;
        self.peak_rss_bytes = self.peak_rss_bytes.max(other.peak_rss_bytes);
        self.timeline.extend(other.timeline.iter().cloned());
        if other.rows.is_some() {
            self.rows = other.rows;
        }
    }
}

/// Why a strip or a batch item produced no result. Travels between ranks as it is, so rank 0
/// tells the cases apart by type, never by matching text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum Failure {
    /// The work itself failed (bad input, an OpenCV error); the text names the file and the step.
    #[error("{0}")]
    Failed(String),
    /// Another rank failed, so this one stopped at a global step: it says nothing new.
    #[error("stopped because another rank failed")]
    Abandoned,
    /// The user cancelled the job.
    #[error("cancelled")]
    Cancelled,
    /// The output's file system is full: the text names the file. Retrying the next item would
    /// fail the same way, so the job stops; the same command resumes once there is room.
    #[error("{0}")]
    DiskFull(String),
}

/// What a rank made of a batch item: the encoded bytes, for rank 0 to write (`B` is where they
/// are: their length in a message header, the bytes once received), or the temporary file the
/// rank already wrote beside the output (its own files, or rank 0's own lane), for rank 0 to
/// rename into place, so of two copies of an item only one is written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Produced<B> {
    Bytes(B),
    Temp(PathBuf),
}

/// How a job of strips ended, from what each rank reported. One rank's failure stops the others
/// (they report [`Failure::Abandoned`] or a cancel), so the rank to name is the first that failed
/// by itself; a cancel the user asked for is a cancel, not a failure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum JobEnd<'a> {
    Done,
    Cancelled,
    /// This rank's own work failed.
    Failed(usize, &'a Failure),
    /// No rank failed by itself, but this one stopped (the first to report).
    Stopped(usize, &'a Failure),
}

impl JobEnd<'_> {
    /// `failures`: (rank, failure) in the order they count (rank 0 first when it failed);
    /// `cancelled`: the user asked for a cancel.
    pub fn of(failures: &[(usize, Failure)], cancelled: bool) -> JobEnd<'_> {
        if cancelled && failures.iter().any(|(_, f)| *f == Failure::Cancelled) {
            return JobEnd::Cancelled;
        }
        if let Some((rank, f)) = failures.iter().find(|(_, f)| matches!(f, Failure::Failed(_))) {
            return JobEnd::Failed(*rank, f);
        }
        match failures.first() {
            Some((rank, f)) => JobEnd::Stopped(*rank, f),
            None => JobEnd::Done,
        }
    }
}

/// What a rank is doing, for progress bars and the GUI's live view.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// Rows `[start, end)` of the image went to `rank`.
    RowsAssigned { rank: usize, start: usize, end: usize },
    /// `rank` has done `fraction` (0 to 1) of its strip's work, counted in chunks of rows over the
    /// chain's ops. Sent a few times a second at most while a strip computes.
    StripProgress { rank: usize, fraction: f64 },
    /// `rank` delivered its rows (or failed).
    RowsDone { rank: usize, secs: f64, error: Option<String> },
    /// Batch item `index` went to `rank`.
    ItemAssigned { rank: usize, index: usize },
    /// Batch item `index` is finished on `rank` (or failed).
    ItemDone { rank: usize, index: usize, secs: f64, error: Option<String> },
}

/// How a batch runs.
#[derive(Clone, Debug)]
pub struct BatchOptions {
    pub max_pixels: u64,
    /// The user says every rank sees the input and output paths (`--shared-dir`): workers read
    /// and write their own files without being checked. Otherwise each worker is checked
    /// (`reach`) and gets its own files when it passes.
    pub shared_files: bool,
    /// Workers get every image's bytes from rank 0 and send the result back, unchecked
    /// (`--send-files`).
    pub send_files: bool,
    /// Rank 0 hands out work but processes none itself (when there are workers).
    pub coordinator_only: bool,
}

/// The end of a batch.
#[derive(Clone, Debug, Default)]
pub struct BatchOutcome {
    pub done: usize,
    /// Finished by an earlier run (journal).
    pub already_done: usize,
    pub failed: Vec<(PathBuf, String)>,
    pub cancelled: bool,
    /// The batch yielded before its end (its `pause` flag): what it did is journaled, the rest
    /// is left for a later run of the same job.
    pub paused: bool,
    /// Why the batch stopped before its end, other than a cancel (the output disk is full).
    pub stopped: Option<String>,
    pub stats: Vec<RankStats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_names_the_rank_that_failed_by_itself_before_the_ranks_it_stopped() {
        let failed = Failure::Failed("a.png: corrupt".into());
        let failures = vec![(2, Failure::Abandoned), (1, failed.clone()), (0, Failure::Cancelled)];
        assert_eq!(JobEnd::of(&failures, false), JobEnd::Failed(1, &failed));
        assert_eq!(JobEnd::of(&failures[..1], false), JobEnd::Stopped(2, &Failure::Abandoned));
        assert_eq!(JobEnd::of(&[], false), JobEnd::Done);
    }

    #[test]
    fn a_cancel_the_user_asked_for_is_a_cancel_whatever_else_stopped() {
        let failures = vec![(1, Failure::Abandoned), (2, Failure::Cancelled)];
        assert_eq!(JobEnd::of(&failures, true), JobEnd::Cancelled);
        // A rank that reports a cancel nobody asked for stopped: it is not the user's cancel.
        assert_eq!(JobEnd::of(&failures, false), JobEnd::Stopped(1, &Failure::Abandoned));
    }
}
