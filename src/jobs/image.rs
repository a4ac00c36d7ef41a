//! One image: from a file to a file on every rank (`imgproc run`), through plain OpenCV in this
//! process (`run --reference`), or held in memory (the GUI's picture). File checks happen before
//! any work, so a bad output path costs nothing.

use super::summary::ImageFacts;
use super::{cannot_start, JobClock, JobError, Summary};
use crate::cancel::Cancelled;
use crate::chain::OpChain;
use crate::codec;
use crate::image::{Image, Keep};
use crate::master::{FileJob, Master};
use crate::model::{Progress, RankStats};
use crate::pieces::PieceFormat;
use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// One image from a file to a file, as a face asks for it.
#[derive(Clone, Debug)]
pub struct ImageRequest {
    pub input: PathBuf,
    pub output: PathBuf,
    pub chain: OpChain,
    /// Refuse an input whose header declares more pixels, before any decode.
    pub max_pixels: u64,
    /// Rank 0 owns no rows when there are workers.
    pub coordinator_only: bool,
    /// Read and write the image whole on rank 0 even where it could be streamed in pieces.
    pub whole_io: bool,
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

/// What of `input`'s 16-bit samples and alpha the job keeps (what the chain takes and the output
/// `format` holds), and whether it keeps any the file has (the file is then read as it is, on
/// rank 0, whole: the streamed row readers give 8-bit gray or colour rows). Warns on stderr,
/// before any work, of what the result loses.
fn keeping(input: &Path, chain: &OpChain, format: &str) -> (Keep, bool) {
    let layout = crate::file_layout::probe_file(input);
    if let Some(w) = layout.and_then(|l| l.warning(&input.display().to_string(), chain, Keep::format(format))) {
        eprintln!("imgproc: warning: {w}");
    }
    let keep = chain.keeps().and(Keep::format(format));
    (keep, layout.is_some_and(|l| l.kept_by(keep)))
}

/// The error of a cancelled image job: nothing was written.
fn not_written(output: &Path) -> anyhow::Error {
    JobError::Cancelled(format!("{} was not written", output.display())).into()
}

/// Plain OpenCV on the whole image, in this process, with `threads` OpenCV threads (all the
/// host's cores when `None`).
pub fn run_reference(req: &ImageRequest, threads: Option<usize>) -> Result<Summary> {
    let clock = JobClock::start();
    let format = check_output_file(&req.input, &req.output).map_err(cannot_start)?;
    let (keep, _) = keeping(&req.input, &req.chain, &format);
    let threads = threads.unwrap_or_else(crate::threads::host_cores);
    crate::threads::use_threads(threads)?;
    let mut stats = RankStats { host: "local".into(), threads, rows: Some((0, 0)), ..Default::default() };
    let t = Instant::now();
    let img = codec::read_image_keeping(&req.input, req.max_pixels, keep)?;
    stats.read_secs = t.elapsed().as_secs_f64();
    let size = (img.width, img.height, img.channels);
    stats.rows = Some((0, img.height));
    let t = Instant::now();
    let out = req.chain.apply_reference(&img)?;
    stats.compute_secs = t.elapsed().as_secs_f64();
    drop(img);
    let t = Instant::now();
    codec::write_atomic(&req.output, &codec::encode(&out, &format)?)?;
    stats.write_secs = t.elapsed().as_secs_f64();
    Ok(Summary::reference(&req.chain, &req.output, &clock, size, stats))
}

/// One image split by rows over all ranks. Once `cancel` is set the ranks stop and nothing is
/// written. The rows stream from the file to the ranks and each rank encodes its own rows
/// ([`Master::run_file`]) unless the output format is encoded whole (webp...), the chain
/// resizes (it needs the whole image between stages), the file has 16-bit samples or alpha
/// (read as it is on rank 0, then split by rows as in memory), or `whole_io` asks for the old way.
pub fn run(master: &Master, req: &ImageRequest, on: &mut dyn FnMut(Progress), cancel: &AtomicBool) -> Result<Summary> {
    let clock = JobClock::start();
    let format = check_output_file(&req.input, &req.output).map_err(cannot_start)?;
    let (keep, deep) = keeping(&req.input, &req.chain, &format);
    let pieces =
        PieceFormat::from_ext(&format).filter(|_| !req.whole_io && !req.chain.has_whole_image_steps() && !deep);
    if let Some(pieces) = pieces {
        return run_streamed(master, req, pieces, &clock, on, cancel);
    }

    let t = Instant::now();
    let img = codec::read_image_keeping(&req.input, req.max_pixels, keep)?;
    let read_secs = t.elapsed().as_secs_f64();
    let size = (img.width, img.height, img.channels);
    let (out, mut stats) = match master.run_image(img, &req.chain, req.coordinator_only, on, cancel) {
        Err(e) if e.is::<Cancelled>() => return Err(not_written(&req.output)),
        r => r.with_context(|| format!("{}: filtering", req.input.display()))?,
    };

    let t = Instant::now();
    let encoded = codec::encode(&out, &format).with_context(|| format!("{}: encoding", req.output.display()))?;
    drop(out);
    codec::write_atomic(&req.output, &encoded)?;
    stats[0].read_secs = read_secs;
    stats[0].write_secs = t.elapsed().as_secs_f64();
    let facts = ImageFacts { size, io: Some("whole".into()) };
    Ok(Summary::image(master, &req.chain, &req.output, &clock, facts, stats))
}

/// [`run`] through [`Master::run_file`]: streamed rows, encoded in pieces by every rank.
fn run_streamed(
    master: &Master,
    req: &ImageRequest,
    format: PieceFormat,
    clock: &JobClock,
    on: &mut dyn FnMut(Progress),
    cancel: &AtomicBool,
) -> Result<Summary> {
    let job = FileJob {
        input: &req.input,
        output: &req.output,
        format,
        chain: &req.chain,
        max_pixels: req.max_pixels,
        coordinator_only: req.coordinator_only,
    };
    let run = match master.run_file(&job, on, cancel) {
        Err(e) if e.is::<Cancelled>() => return Err(not_written(&req.output)),
        r => r.with_context(|| format!("{}: filtering", req.input.display()))?,
    };
    let io = format!("streamed pieces: input {}, {} worker(s) read their own rows", run.reader, run.self_readers);
    let facts = ImageFacts { size: (run.width, run.height, run.channels), io: Some(io) };
    Ok(Summary::image(master, &req.chain, &req.output, clock, facts, run.stats))
}

/// How an image held in memory is filtered (the GUI's picture).
#[derive(Clone, Copy, Debug)]
pub struct InMemory<'a> {
    pub chain: &'a OpChain,
    /// Rank 0 owns no rows when there are workers.
    pub coordinator_only: bool,
}

/// An image held in memory, filtered on every rank: the result and each rank's statistics. Once
/// `cancel` is set every rank stops and this returns the error [`Cancelled`].
pub fn filter(
    master: &Master,
    image: Image,
    job: InMemory<'_>,
    on: &mut dyn FnMut(Progress),
    cancel: &AtomicBool,
) -> Result<(Image, Vec<RankStats>)> {
    master.run_image(image, job.chain, job.coordinator_only, on, cancel)
}
