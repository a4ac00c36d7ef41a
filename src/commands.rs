//! What `imgproc run` and `imgproc batch` do on rank 0: read, hand the job to the master, write,
//! report. File checks happen before any work, so a bad output path costs nothing.

use crate::batch;
use crate::cli::{BatchArgs, RunArgs};
use crate::codec;
use crate::exec::Cancelled;
use crate::master::Master;
use crate::model::{BatchOptions, RankStats};
use crate::pieces::PieceFormat;
use crate::report::{on_progress, progress_bar, rss_bytes, Failure, Summary};
use anyhow::{ensure, Context, Result};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

mod video;

pub(crate) use video::open_source as open_video_source;
pub use video::{prepare as prepare_video, run as run_video, video, FramesDone, PreparedVideo, VideoJob, VideoSummary};

/// Why a command did not succeed, for the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
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

fn cannot_start(e: anyhow::Error) -> anyhow::Error {
    CommandError::CannotStart(e).into()
}

/// Checks an output file path before any work: a folder that exists and a writable format.
fn check_output_file(input: &Path, output: &Path) -> Result<String> {
    let format = codec::output_format(output)?;
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    ensure!(dir.is_dir(), "{}: output folder does not exist", dir.display());
    if let (Ok(a), Ok(b)) = (input.canonicalize(), output.canonicalize()) {
        ensure!(a != b, "{}: the output would overwrite the input", output.display());
    }
    Ok(format)
}

/// `imgproc run --reference`: plain OpenCV on the whole image, in this process.
pub fn run_reference(args: &RunArgs) -> Result<()> {
    let chain = args.job.chain()?;
    let started = Instant::now();
    let start_rss = rss_bytes().1;
    let format = check_output_file(&args.input, &args.output).map_err(cannot_start)?;
    let threads = args.job.threads.unwrap_or_else(crate::threads::host_cores);
    crate::threads::use_threads(threads)?;
    let mut stats = RankStats { host: "local".into(), threads, rows: Some((0, 0)), ..Default::default() };
    let t = Instant::now();
    let img = codec::read_image(&args.input, args.job.max_pixels)?;
    stats.read_secs = t.elapsed().as_secs_f64();
    let (w, h, c) = (img.width, img.height, img.channels);
    stats.rows = Some((0, h));
    let t = Instant::now();
    let out = chain.apply_reference(&img)?;
    stats.compute_secs = t.elapsed().as_secs_f64();
    drop(img);
    let t = Instant::now();
    codec::write_atomic(&args.output, &codec::encode(&out, &format)?)?;
    stats.write_secs = t.elapsed().as_secs_f64();
    Summary {
        mode: "reference",
        ok: true,
        op: chain.to_string(),
        ranks: 1,
        hosts: vec![],
        wall_secs: started.elapsed().as_secs_f64(),
        output: args.output.clone(),
        width: Some(w),
        height: Some(h),
        channels: Some(c),
        done: 1,
        already_done: 0,
        failed: vec![],
        cancelled: false,
        stopped: None,
        images_per_sec: None,
        per_rank: vec![stats],
        rank0_start_rss_bytes: start_rss,
        startup_secs: 0.0,
        rank0_peak_rss_bytes: rss_bytes().0,
        plan: None,
        io: None,
    }
    .print(args.job.json);
    Ok(())
}

/// `imgproc run`: one image split by rows over all ranks. Once `cancel` is set the ranks stop
/// and nothing is written. The rows stream from the file to the ranks and each rank encodes its
/// own rows ([`Master::run_file`]) unless the output format is encoded whole (webp...), the chain
/// resizes (it needs the whole image between stages), or `--whole-io` asks for the old way.
pub fn run_image(master: &Master, args: &RunArgs, cancel: &AtomicBool) -> Result<()> {
    let chain = args.job.chain()?;
    let started = Instant::now();
    let start_rss = rss_bytes().1;
    let format = check_output_file(&args.input, &args.output).map_err(cannot_start)?;
    if let Some(pieces) = PieceFormat::from_ext(&format).filter(|_| !args.whole_io && !chain.has_whole_image_steps()) {
        return run_file(master, args, pieces, cancel, started, start_rss);
    }

    let t = Instant::now();
    let img = codec::read_image(&args.input, args.job.max_pixels)?;
    let read_secs = t.elapsed().as_secs_f64();
    let (w, h, c) = (img.width, img.height, img.channels);

    let bar = progress_bar(h, "rows");
    let result = master.run_image(img, &chain, args.job.coordinator_only, &mut on_progress(&bar), cancel);
    bar.finish_and_clear();
    let (out, mut stats) = match result {
        Err(e) if e.is::<Cancelled>() => {
            return Err(CommandError::Cancelled(format!("{} was not written", args.output.display())).into())
        }
        r => r.with_context(|| format!("{}: filtering", args.input.display()))?,
    };

    let t = Instant::now();
    let encoded = codec::encode(&out, &format).with_context(|| format!("{}: encoding", args.output.display()))?;
    drop(out);
    codec::write_atomic(&args.output, &encoded)?;
    stats[0].read_secs = read_secs;
    stats[0].write_secs = t.elapsed().as_secs_f64();

    Summary {
        mode: "image",
        ok: true,
        op: chain.to_string(),
        ranks: master.size(),
        hosts: master.ranks.iter().map(|r| r.host.clone()).collect(),
        wall_secs: started.elapsed().as_secs_f64(),
        output: args.output.clone(),
        width: Some(w),
        height: Some(h),
        channels: Some(c),
        done: 1,
        already_done: 0,
        failed: vec![],
        cancelled: false,
        stopped: None,
        images_per_sec: None,
        per_rank: stats,
        rank0_start_rss_bytes: start_rss,
        startup_secs: master.startup_secs,
        rank0_peak_rss_bytes: rss_bytes().0,
        plan: Some(chain.plan(master.size())),
        io: Some("whole".into()),
    }
    .print(args.job.json);
    Ok(())
}

/// `imgproc run` through [`Master::run_file`]: streamed rows, encoded in pieces by every rank.
fn run_file(
    master: &Master,
    args: &RunArgs,
    format: PieceFormat,
    cancel: &AtomicBool,
    started: Instant,
    start_rss: u64,
) -> Result<()> {
    let chain = args.job.chain()?;
    let bar = progress_bar(0, "rows");
    let result = master.run_file(
        &args.input,
        &args.output,
        format,
        &chain,
        args.job.max_pixels,
        args.job.coordinator_only,
        &mut on_progress(&bar),
        cancel,
    );
    bar.finish_and_clear();
    let run = match result {
        Err(e) if e.is::<Cancelled>() => {
            return Err(CommandError::Cancelled(format!("{} was not written", args.output.display())).into())
        }
        r => r.with_context(|| format!("{}: filtering", args.input.display()))?,
    };
    Summary {
        mode: "image",
        ok: true,
        op: chain.to_string(),
        ranks: master.size(),
        hosts: master.ranks.iter().map(|r| r.host.clone()).collect(),
        wall_secs: started.elapsed().as_secs_f64(),
        output: args.output.clone(),
        width: Some(run.width),
        height: Some(run.height),
        channels: Some(run.channels),
        done: 1,
        already_done: 0,
        failed: vec![],
        cancelled: false,
        stopped: None,
        per_rank: run.stats,
        rank0_start_rss_bytes: start_rss,
        startup_secs: master.startup_secs,
        rank0_peak_rss_bytes: rss_bytes().0,
        plan: Some(chain.plan(master.size())),
        images_per_sec: None,
        io: Some(format!("streamed pieces: input {}, {} worker(s) read their own rows", run.reader, run.self_readers)),
    }
    .print(args.job.json);
    Ok(())
}

/// `imgproc batch`: many images, handed out dynamically, resumable through the journal. Once
/// `cancel` is set no image starts and running ones stop; the journal records only finished ones.
pub fn run_batch(master: &Master, args: &BatchArgs, cancel: &AtomicBool) -> Result<()> {
    let chain = args.job.chain()?;
    let started = Instant::now();
    let start_rss = rss_bytes().1;
    let (items, mut journal) =
        batch::open_job(&args.inputs, &args.output, args.format.as_deref(), &chain).map_err(cannot_start)?;
    if let Some(shared) = &args.shared_dir {
        let shared = std::path::absolute(shared)?;
        for path in items.iter().flat_map(|i| [&i.input, &i.output]) {
            ensure!(
                path.starts_with(&shared),
                CommandError::CannotStart(anyhow::anyhow!(
                    "{}: not inside the shared folder {}",
                    path.display(),
                    shared.display()
                ))
            );
        }
    }
    let opts = BatchOptions {
        max_pixels: args.job.max_pixels,
        shared_files: args.shared_dir.is_some(),
        send_files: args.send_files,
        coordinator_only: args.job.coordinator_only,
    };
    let bar = progress_bar(items.iter().filter(|i| !journal.is_done(&i.input)).count(), "images");
    let outcome = master.run_batch(&items, &chain, &opts, &mut journal, &mut on_progress(&bar), cancel)?;
    bar.finish_and_clear();
    let wall_secs = started.elapsed().as_secs_f64();
    let failed = outcome.failed.len();
    Summary {
        mode: "batch",
        ok: failed == 0,
        op: chain.to_string(),
        ranks: master.size(),
        hosts: master.ranks.iter().map(|r| r.host.clone()).collect(),
        wall_secs,
        output: args.output.clone(),
        width: None,
        height: None,
        channels: None,
        done: outcome.done,
        already_done: outcome.already_done,
        failed: outcome.failed.into_iter().map(|(input, reason)| Failure { input, reason }).collect(),
        cancelled: outcome.cancelled,
        stopped: outcome.stopped.clone(),
        images_per_sec: Some(outcome.done as f64 / wall_secs.max(1e-9)),
        per_rank: outcome.stats,
        rank0_start_rss_bytes: start_rss,
        startup_secs: master.startup_secs,
        rank0_peak_rss_bytes: rss_bytes().0,
        plan: None,
        io: None,
    }
    .print(args.job.json);
    if let Some(reason) = &outcome.stopped {
        eprintln!("imgproc: stopped early, the rest was not tried: {reason}");
        eprintln!("imgproc: free some space and run the same command again: it resumes where it stopped");
    }
    if outcome.cancelled {
        let rest = "run the same command again to finish the rest";
        return Err(CommandError::Cancelled(format!("{} image(s) done, {rest}", outcome.done)).into());
    }
    ensure!(failed == 0, CommandError::ImagesFailed(failed));
    Ok(())
}
