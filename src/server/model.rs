//! What the API says about a job: its kind and status, its live progress and its items, as the
//! JSON of `docs/API.md`. Plain data, shared by the store, the dispatcher and the routes.

use serde::{Deserialize, Serialize};

/// What a job filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// One image or many, run as a batch (one item per image).
    Images,
    /// One video file, run in chunks of frames (one item: the video).
    Video,
    /// Images through the server's model (`--model`): one item per image, one results file.
    Classify,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Images => "images",
            JobKind::Video => "video",
            JobKind::Classify => "classify",
        }
    }
    pub fn parse(s: &str) -> Option<JobKind> {
        match s {
            "images" => Some(JobKind::Images),
            "video" => Some(JobKind::Video),
            "classify" => Some(JobKind::Classify),
            _ => None,
        }
    }
}

/// A job's state. `running` also covers a job paused while another user's job has its turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Canceled => "canceled",
        }
    }
    pub fn parse(s: &str) -> Option<JobStatus> {
        [JobStatus::Queued, JobStatus::Running, JobStatus::Succeeded, JobStatus::Failed, JobStatus::Canceled]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
    /// No more work will be done for the job.
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled)
    }
}

/// The live part of a running job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Units done out of `total` (images, or frames for a video).
    pub done: u64,
    pub total: u64,
    pub unit: String,
    /// Units per second in this run of the job.
    pub rate: f64,
    /// Seconds left at that rate (`None` before the first unit).
    pub eta_secs: Option<f64>,
    /// Per rank: what it has done of this job and whether it works on it now.
    pub ranks: Vec<RankShare>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RankShare {
    pub rank: usize,
    pub host: String,
    pub done: u64,
    pub busy: bool,
}

/// A job as the store holds it.
#[derive(Clone, Debug, Serialize)]
pub struct JobView {
    pub id: String,
    #[serde(skip)]
    pub user: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub chain: String,
    pub format: Option<String>,
    pub created: f64,
    pub started: Option<f64>,
    pub finished: Option<f64>,
    pub error: Option<String>,
    pub total: u64,
    pub done: u64,
    pub failed: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The id of the job's latest event (see `events.rs`).
    pub seq: u64,
    /// How many times it was started (a relaunch or a pause starts it again).
    pub runs: u64,
    pub progress: Option<Progress>,
}

/// One input of a job and what became of it.
#[derive(Clone, Debug, Serialize)]
pub struct ItemView {
    pub index: usize,
    /// The input's name (as stored under the job's `in/`).
    pub name: String,
    /// The result's name under `results/`, once written.
    pub output: Option<String>,
    /// queued, running (on a rank now), succeeded, failed or canceled.
    pub status: String,
    pub error: Option<String>,
    #[serde(skip)]
    pub seq: u64,
    pub bytes: Option<u64>,
}
