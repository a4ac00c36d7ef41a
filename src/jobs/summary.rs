//! What a finished image or batch job reports (`--json` on the CLI): one shape for every face,
//! built by its constructors rather than by hand at each call site.

use crate::chain::OpChain;
use crate::master::Master;
use crate::model::{BatchOutcome, RankStats};
use crate::process::rss_bytes;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The summary of an image or batch job.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// "image", "batch" or "reference".
    pub mode: &'static str,
    pub ok: bool,
    pub op: String,
    pub ranks: usize,
    pub hosts: Vec<String>,
    pub wall_secs: f64,
    pub output: PathBuf,
    /// Image size (one-image jobs).
    pub width: Option<usize>,
    pub height: Option<usize>,
    pub channels: Option<usize>,
    /// Batch counts.
    pub done: usize,
    pub already_done: usize,
    pub failed: Vec<FailedImage>,
    pub cancelled: bool,
    /// Why a batch stopped before its end (a full output disk), if it did.
    pub stopped: Option<String>,
    /// Batch: images done per second of `wall_secs` (MPI start-up excluded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images_per_sec: Option<f64>,
    pub per_rank: Vec<RankStats>,
    /// Rank 0's resident memory: before reading the input, and at its peak.
    pub rank0_start_rss_bytes: u64,
    pub rank0_peak_rss_bytes: u64,
    /// How an image was split, when it says more than rows over ranks: a resize runs on the
    /// whole image on rank 0 (see `chain::Stage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// One image: how its rows were read and written ("streamed pieces: input ranged, 2
    /// worker(s) read their own rows" or "whole").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io: Option<String>,
    /// Seconds from this process's start until every rank was ready (MPI start-up), not part of
    /// `wall_secs`.
    pub startup_secs: f64,
    /// A classify job over class folders: its accuracy (over every line of the results file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<crate::classify::eval::Evaluation>,
}

/// A batch image that failed, and why (the reason names the file and the step).
#[derive(Debug, Serialize)]
pub struct FailedImage {
    pub input: PathBuf,
    pub reason: String,
}

/// When a job started and rank 0's memory then: the start of its summary's times.
#[derive(Clone, Copy, Debug)]
pub struct JobClock {
    started: Instant,
    start_rss: u64,
}

impl JobClock {
    pub fn start() -> JobClock {
        JobClock { started: Instant::now(), start_rss: rss_bytes().1 }
    }

    pub fn secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// One image's size and how it was read and written.
#[derive(Clone, Debug)]
pub struct ImageFacts {
    pub size: (usize, usize, usize),
    pub io: Option<String>,
}

impl Summary {
    /// What every summary holds; the ranks are `master`'s, or this process alone.
    fn base(mode: &'static str, chain: &OpChain, output: &Path, clock: &JobClock, master: Option<&Master>) -> Summary {
        Summary {
            mode,
            ok: true,
            op: chain.to_string(),
            ranks: master.map_or(1, Master::size),
            hosts: master.map(|m| m.ranks.iter().map(|r| r.host.clone()).collect()).unwrap_or_default(),
            wall_secs: clock.secs(),
            output: output.to_path_buf(),
            width: None,
            height: None,
            channels: None,
            done: 0,
            already_done: 0,
            failed: vec![],
            cancelled: false,
            stopped: None,
            images_per_sec: None,
            per_rank: vec![],
            rank0_start_rss_bytes: clock.start_rss,
            rank0_peak_rss_bytes: rss_bytes().0,
            plan: None,
            io: None,
            startup_secs: master.map_or(0.0, |m| m.startup_secs),
            evaluation: None,
        }
    }

    /// One image written to `output` on `master`'s ranks.
    pub fn image(
        master: &Master,
        chain: &OpChain,
        output: &Path,
        clock: &JobClock,
        facts: ImageFacts,
        per_rank: Vec<RankStats>,
    ) -> Summary {
        let (w, h, c) = facts.size;
        Summary {
            width: Some(w),
            height: Some(h),
            channels: Some(c),
            done: 1,
            per_rank,
            plan: Some(chain.plan(master.size())),
            io: facts.io,
            ..Summary::base("image", chain, output, clock, Some(master))
        }
    }

    /// One image through plain OpenCV in this process (`run --reference`).
    pub fn reference(
        chain: &OpChain,
        output: &Path,
        clock: &JobClock,
        size: (usize, usize, usize),
        stats: RankStats,
    ) -> Summary {
        let (w, h, c) = size;
        Summary {
            width: Some(w),
            height: Some(h),
            channels: Some(c),
            done: 1,
            per_rank: vec![stats],
            ..Summary::base("reference", chain, output, clock, None)
        }
    }

    /// A batch into `output` (a folder); `outcome.stats` become the per-rank statistics.
    pub fn batch(master: &Master, chain: &OpChain, output: &Path, clock: &JobClock, outcome: &BatchOutcome) -> Summary {
        let wall_secs = clock.secs();
        Summary {
            ok: outcome.failed.is_empty(),
            done: outcome.done,
            already_done: outcome.already_done,
            failed: outcome
                .failed
                .iter()
                .map(|(input, reason)| FailedImage { input: input.clone(), reason: reason.clone() })
                .collect(),
            cancelled: outcome.cancelled,
            stopped: outcome.stopped.clone(),
            images_per_sec: Some(outcome.done as f64 / wall_secs.max(1e-9)),
            per_rank: outcome.stats.clone(),
            wall_secs,
            ..Summary::base("batch", chain, output, clock, Some(master))
        }
    }

    /// A classify batch with `model` into the results file `output`.
    pub fn classify(
        master: &Master,
        model: &Path,
        output: &Path,
        clock: &JobClock,
        outcome: &BatchOutcome,
        evaluation: Option<crate::classify::eval::Evaluation>,
    ) -> Summary {
        Summary {
            mode: "classify",
            op: format!("classify {}", model.display()),
            evaluation,
            ..Summary::batch(master, &OpChain(Vec::new()), output, clock, outcome)
        }
    }
}
