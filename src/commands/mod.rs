//! The CLI face: turns `imgproc run`, `batch` and `video` arguments into job requests, runs them
//! through [`crate::jobs`] with a progress bar, prints the summary and maps the outcome to the
//! documented exit codes (through [`JobError`]). Knows nothing of ranks or rows.

mod classify;
mod report;
pub mod signals;

use crate::cli::{BatchArgs, Command, RunArgs, VideoArgs};
use crate::jobs::batch::BatchRequest;
use crate::jobs::image::ImageRequest;
use crate::jobs::video::{FramesDone, VideoRequest};
use crate::jobs::{self, JobError};
use crate::master::Master;
use crate::video::{VideoEvent, VideoOptions};
use anyhow::{bail, ensure, Result};
use report::{on_progress, print_summary, progress_bar};
use std::sync::atomic::AtomicBool;

/// A job the CLI runs on the ranks, from its arguments.
pub enum CliJob {
    Image(RunArgs),
    Batch(BatchArgs),
    Video(VideoArgs),
    Classify(crate::cli::ClassifyArgs),
}

impl CliJob {
    /// The job a command asks for; `None` for commands that run no job on the ranks (`ops`,
    /// `gui`, `run --reference`). Every rank parses the same arguments, so a usage error
    /// (a bad chain) stops them all here, before MPI starts.
    pub fn of(command: Command) -> Result<Option<CliJob>> {
        let job = match command {
            Command::Run(args) if !args.reference => CliJob::Image(args),
            Command::Batch(args) => CliJob::Batch(args),
            Command::Video(args) => CliJob::Video(args),
            Command::Classify(args) => CliJob::Classify(args),
            Command::Run(_) | Command::Ops | Command::Gui(_) | Command::Serve(_) | Command::User(_) => return Ok(None),
        };
        if let Some(args) = job.args() {
            args.chain()?;
        }
        Ok(Some(job))
    }

    /// The op chain's arguments; a classify job has none.
    fn args(&self) -> Option<&crate::cli::JobArgs> {
        match self {
            CliJob::Image(a) => Some(&a.job),
            CliJob::Batch(a) => Some(&a.job),
            CliJob::Video(a) => Some(&a.job),
            CliJob::Classify(_) => None,
        }
    }

    /// OpenCV threads per rank (`--threads`), or `None` for the host's cores shared by its ranks.
    pub fn threads(&self) -> Option<usize> {
        match self {
            CliJob::Classify(a) => a.threads,
            _ => self.args().and_then(|a| a.threads),
        }
    }

    /// Runs the job on `master`'s ranks; once `cancel` is set the ranks stop.
    pub fn run(&self, master: &Master, cancel: &AtomicBool) -> Result<()> {
        match self {
            CliJob::Image(args) => run_image(master, args, cancel),
            CliJob::Batch(args) => run_batch(master, args, cancel),
            CliJob::Video(args) => run_video(master, args, cancel),
            CliJob::Classify(args) => classify::run_classify(master, args, cancel),
        }
    }
}

fn image_request(args: &RunArgs) -> Result<ImageRequest> {
    Ok(ImageRequest {
        input: args.input.clone(),
        output: args.output.clone(),
        chain: args.job.chain()?,
        max_pixels: args.job.max_pixels,
        coordinator_only: args.job.coordinator_only,
        whole_io: args.whole_io,
    })
}

/// `imgproc run --reference`: plain OpenCV on the whole image, in this process.
pub fn run_reference(args: &RunArgs) -> Result<()> {
    let summary = jobs::image::run_reference(&image_request(args)?, args.job.threads)?;
    print_summary(&summary, args.job.json);
    Ok(())
}

/// `imgproc run`: one image split by rows over all ranks.
fn run_image(master: &Master, args: &RunArgs, cancel: &AtomicBool) -> Result<()> {
    let req = image_request(args)?;
    let bar = progress_bar(0, "rows");
    let summary = jobs::image::run(master, &req, &mut on_progress(&bar), cancel);
    bar.finish_and_clear();
    print_summary(&summary?, args.job.json);
    Ok(())
}

/// `imgproc batch`: many images, handed out dynamically, resumable through the journal.
fn run_batch(master: &Master, args: &BatchArgs, cancel: &AtomicBool) -> Result<()> {
    let req = BatchRequest {
        inputs: args.inputs.clone(),
        out_dir: args.output.clone(),
        chain: args.job.chain()?,
        format: args.format.clone(),
        max_pixels: args.job.max_pixels,
        shared_dir: args.shared_dir.clone(),
        send_files: args.send_files,
        coordinator_only: args.job.coordinator_only,
    };
    let prepared = jobs::batch::prepare(&req)?;
    let bar = progress_bar(prepared.pending(), "images");
    let run = jobs::batch::run(master, prepared, &mut on_progress(&bar), cancel)?;
    bar.finish_and_clear();
    print_summary(&run.summary, args.job.json);
    let outcome = run.outcome;
    if let Some(reason) = &outcome.stopped {
        eprintln!("imgproc: stopped early, the rest was not tried: {reason}");
        eprintln!("imgproc: free some space and run the same command again: it resumes where it stopped");
    }
    if outcome.cancelled {
        let rest = "run the same command again to finish the rest";
        return Err(JobError::Cancelled(format!("{} image(s) done, {rest}", outcome.done)).into());
    }
    ensure!(outcome.failed.is_empty(), JobError::ImagesFailed(outcome.failed.len()));
    Ok(())
}

/// `imgproc video`: a video or frame sequence in chunks of frames over all ranks.
fn run_video(master: &Master, args: &VideoArgs, cancel: &AtomicBool) -> Result<()> {
    let req = VideoRequest {
        chain: args.job.chain()?,
        inputs: args.inputs.clone(),
        output: args.output.clone(),
        codec: args.codec.clone(),
        quality: args.quality,
        fps: args.fps.clone(),
        format: args.format.clone(),
        chunk_frames: args.chunk_frames,
        options: VideoOptions { coordinator_only: args.job.coordinator_only, send_input: args.send_input },
        no_audio: args.no_audio,
    };
    let prepared = jobs::video::prepare(&req, master.size())?;
    let work = prepared.work_dir().to_path_buf();
    let bar = progress_bar(prepared.pending_frames(), "frames");
    let mut frames = FramesDone::default();
    let mut on = |e: VideoEvent| {
        if let VideoEvent::ChunkDone { error: Some(e), rank, .. } = &e {
            bar.set_message(format!("rank {rank}: {e}"));
        }
        bar.set_position(frames.apply(&e) as u64);
    };
    let summary = jobs::video::run(master, prepared, &mut on, cancel)?;
    bar.finish_and_clear();
    if args.job.json {
        println!("{}", serde_json::to_string_pretty(&summary).expect("summaries serialise"));
    }
    for f in &summary.failed {
        eprintln!("imgproc: failed: {f}");
    }
    if summary.cancelled {
        let rest = format!(
            "{} chunk(s) done and kept in {}; run the same command again to finish",
            summary.done,
            work.display()
        );
        return Err(JobError::Cancelled(rest).into());
    }
    if !summary.failed.is_empty() {
        bail!(
            "{} of {} chunk(s) failed; {} was not written (finished segments are kept in {} for the next run)",
            summary.failed.len(),
            summary.chunks,
            summary.output.display(),
            work.display()
        );
    }
    eprintln!(
        "imgproc: wrote {} ({} frames, {:.1} frames/s) in {:.2} s on {} rank(s)",
        summary.output.display(),
        summary.frames,
        summary.frames_per_sec,
        summary.wall_secs,
        master.size()
    );
    Ok(())
}
