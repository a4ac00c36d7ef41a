//! A video (or a frame sequence): find out what the input is, check everything that can be
//! checked before any work (sizes, codec, output), plan the chunks, hand them to the master,
//! then join the segments (or move the frames) into the output and report. `imgproc video` and
//! the GUI both run a job through [`prepare`] and [`run`]; only the CLI prints.

use super::cannot_start;
use crate::chain::OpChain;
use crate::formats::is_image_path;
use crate::master::{Master, VideoRun};
use crate::model::RankStats;
use crate::process::rss_bytes;
use crate::video::plan::{check_frame_names, muxer, output_kind};
use crate::video::{
    chunk::open_capture, join::join_segments, plan::plan_job_chunks, probe_video, work_dir, Chunk, FrameList,
    OutputKind, Source, VideoEvent, VideoJournal, VideoOptions, VideoSpec,
};
use anyhow::{bail, ensure, Context, Result};
use opencv::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// The `--json` summary of a video job (and what the GUI reports).
#[derive(Debug, Serialize)]
pub struct VideoSummary {
    mode: &'static str,
    /// The output was written, complete.
    pub ok: bool,
    op: String,
    /// How the chain runs on each frame: every op on the whole frame on the rank that owns its
    /// chunk (resize included), so every frame is exactly the one-process result.
    plan: String,
    ranks: usize,
    hosts: Vec<String>,
    input: String,
    pub output: PathBuf,
    width: usize,
    height: usize,
    fps: String,
    pub frames: usize,
    pub chunks: usize,
    /// Chunks done by this run, and by an earlier one (journal).
    pub done: usize,
    already_done: usize,
    frames_done: usize,
    pub frames_per_sec: f64,
    pub failed: Vec<String>,
    pub cancelled: bool,
    pub wall_secs: f64,
    join_secs: f64,
    per_rank: Vec<RankStats>,
    rank0_peak_rss_bytes: u64,
    startup_secs: f64,
}

/// A video job as a face asks for it: the CLI from its flags, the GUI from its window.
#[derive(Clone, Debug)]
pub struct VideoRequest {
    pub chain: OpChain,
    /// A video file, or frames (a folder, or image files).
    pub inputs: Vec<PathBuf>,
    /// A video file (its extension picks the container and codec) or a folder of frames.
    pub output: PathBuf,
    pub codec: Option<String>,
    pub quality: Option<u32>,
    /// Frame rate of a video made from frames.
    pub fps: Option<String>,
    /// Image format of a frame-folder output.
    pub format: String,
    pub chunk_frames: usize,
    pub options: VideoOptions,
    pub no_audio: bool,
}

impl VideoRequest {
    /// `chain` over `inputs` into `output`, with the CLI's defaults for everything else.
    pub fn new(chain: OpChain, inputs: Vec<PathBuf>, output: PathBuf) -> VideoRequest {
        VideoRequest {
            chain,
            inputs,
            output,
            codec: None,
            quality: None,
            fps: None,
            format: "png".into(),
            chunk_frames: 48,
            options: VideoOptions::default(),
            no_audio: false,
        }
    }
}

/// A video job checked and planned, its journal open: nothing has been filtered yet.
pub struct PreparedVideo {
    job: VideoRequest,
    spec: VideoSpec,
    chunks: Vec<Chunk>,
    journal: VideoJournal,
    output: PathBuf,
    started: Instant,
}

impl PreparedVideo {
    /// Frames this run will filter (those of chunks an earlier run did not finish).
    pub fn pending_frames(&self) -> usize {
        self.chunks.iter().filter(|c| !self.journal.is_done(c)).map(|c| c.frames).sum()
    }

    /// Where finished segments wait until the output is complete (kept after a cancel or a
    /// failure, so the same job run again resumes).
    pub fn work_dir(&self) -> &Path {
        &self.spec.work_dir
    }
}

/// Frames finished so far in a running video job, from its events: whole chunks done plus the
/// frames each running chunk has reported.
#[derive(Clone, Debug, Default)]
pub struct FramesDone {
    finished: usize,
    running: HashMap<usize, usize>,
    /// Chunks that ended: a report of theirs that comes late is not counted again.
    ended: std::collections::HashSet<usize>,
}

impl FramesDone {
    /// Takes one event; returns the frames done now.
    pub fn apply(&mut self, e: &VideoEvent) -> usize {
        match e {
            VideoEvent::ChunkAssigned { chunk, .. } => {
                // A chunk given again (its rank was lost) counts from its new start.
                self.ended.remove(&chunk.index);
                self.running.insert(chunk.index, 0);
            }
            VideoEvent::Frames { index, frames, .. } => {
                if !self.ended.contains(index) {
                    self.running.insert(*index, *frames);
                }
            }
            VideoEvent::ChunkDone { chunk, error, .. } => {
                self.running.remove(&chunk.index);
                self.ended.insert(chunk.index);
                if error.is_none() {
                    self.finished += chunk.frames;
                }
            }
        }
        self.finished + self.running.values().sum::<usize>()
    }
}

/// Checks everything that can be checked before any work (the input, sizes, codec, output),
/// opens the journal and plans the chunks for `ranks` ranks (chunks finished by an earlier run
/// are kept). Errors name the file (and the frame).
pub fn prepare(job: &VideoRequest, ranks: usize) -> Result<PreparedVideo> {
    let chain = job.chain.clone();
    let started = Instant::now();
    let source = open_source(&job.inputs)?;
    let output = std::path::absolute(&job.output).with_context(|| format!("{}: bad path", job.output.display()))?;
    let kind = output_kind(&output, job.codec.as_deref(), job.quality, &job.format).map_err(cannot_start)?;
    let (fps, out_size) = match &source {
        Source::Video { info, .. } => (info.fps.clone(), chain.out_size(info.width, info.height)),
        Source::Frames(list) => (job.fps.clone().unwrap_or_else(|| "25".into()), frames_out_size(list, &chain)?),
    };
    if let OutputKind::Video { codec, .. } = &kind {
        ensure!(
            !codec.needs_even_size() || (out_size.0 % 2 == 0 && out_size.1 % 2 == 0),
            "{:?} needs an even width and height, the frames are {}x{}: end the chain with resize, or write .mkv",
            codec,
            out_size.0,
            out_size.1
        );
    }
    check_output(&source, &output, &kind).map_err(cannot_start)?;
    let work = work_dir(&output);
    let spec = VideoSpec { chain, source, output: kind, fps, out_size, work_dir: work.clone() };
    if matches!(spec.output, OutputKind::Frames { .. }) {
        check_frame_names(&spec).map_err(cannot_start)?;
    }
    prepare_work_dir(&spec).map_err(cannot_start)?;
    let journal = VideoJournal::open(&work, &job_key(&spec)).map_err(cannot_start)?;
    let chunks = plan_job_chunks(&spec.source, job.chunk_frames, ranks, &journal.done_chunks());
    Ok(PreparedVideo { job: job.clone(), spec, chunks, journal, output, started })
}

/// Filters the chunks on every rank, then (when every chunk is done and nothing was cancelled)
/// joins them into the output, which appears only then, complete. A cancel or a failed chunk is
/// not an error here: the summary says so, and the finished segments stay in the work folder.
pub fn run(
    master: &Master,
    prepared: PreparedVideo,
    on: &mut dyn FnMut(VideoEvent),
    cancel: &AtomicBool,
) -> Result<VideoSummary> {
    let PreparedVideo { job, spec, chunks, mut journal, output, started } = prepared;
    let run = VideoRun { spec: &spec, chunks: &chunks, options: job.options.clone() };
    let outcome = master.run_video(&run, &mut journal, on, cancel)?;
    let compute_secs = started.elapsed().as_secs_f64();

    let failed: Vec<String> = outcome
        .failed
        .iter()
        .map(|(c, reason)| format!("frames {}–{}: {reason}", c.start + 1, c.start + c.frames))
        .collect();
    let complete = failed.is_empty() && !outcome.cancelled;
    let t = Instant::now();
    if complete {
        finish_output(&spec, &chunks, job.no_audio)?;
    }
    let join_secs = t.elapsed().as_secs_f64();
    let frames = spec.source.frames();
    let frames_done: usize = outcome.stats.iter().map(|s| s.images).sum();
    Ok(VideoSummary {
        mode: "video",
        ok: complete,
        op: spec.chain.to_string(),
        plan: "chunks of whole frames, one rank per chunk: decode, filter (every op on the whole frame), encode".into(),
        ranks: master.size(),
        hosts: master.ranks.iter().map(|r| r.host.clone()).collect(),
        input: match &spec.source {
            Source::Video { path, .. } => path.display().to_string(),
            Source::Frames(list) => format!("{} frames from {}", frames, list.paths[0].display()),
        },
        output,
        width: spec.out_size.0,
        height: spec.out_size.1,
        fps: spec.fps.clone(),
        frames,
        chunks: chunks.len(),
        done: outcome.done,
        already_done: outcome.already_done,
        frames_done,
        frames_per_sec: frames_done as f64 / compute_secs.max(1e-9),
        failed,
        cancelled: outcome.cancelled,
        wall_secs: started.elapsed().as_secs_f64(),
        join_secs,
        per_rank: outcome.stats,
        rank0_peak_rss_bytes: rss_bytes().0,
        startup_secs: master.startup_secs,
    })
}

/// A video file, or frames (a folder or image files).
pub fn open_source(inputs: &[PathBuf]) -> Result<Source> {
    if let [one] = inputs {
        if one.is_file() && !is_image_path(one) {
            let path = std::path::absolute(one)?;
            let info = probe_video(&path)?;
            // A codec FFmpeg cannot decode is found here, once, not in every chunk.
            let mut capture = open_capture(&path)?;
            let mut first = opencv::core::Mat::default();
            ensure!(
                capture.read(&mut first).unwrap_or(false) && !first.empty(),
                "{}: the first frame cannot be decoded (codec {}: FFmpeg has no decoder for it, or the file is corrupt)",
                path.display(),
                info.codec
            );
            return Ok(Source::Video { path, info });
        }
    }
    Ok(Source::Frames(FrameList::from_inputs(inputs)?))
}

/// The size every frame has after the chain; frames that come out another size are refused by name.
fn frames_out_size(list: &FrameList, chain: &crate::chain::OpChain) -> Result<(usize, usize)> {
    let sizes = list.sizes()?;
    let first = chain.out_size(sizes[0].0, sizes[0].1);
    for (i, &(w, h)) in sizes.iter().enumerate() {
        let out = chain.out_size(w, h);
        if out != first {
            let ends_in_resize = chain.0.last().is_some_and(|op| matches!(op, crate::ops::Op::Resize { .. }));
            bail!(
                "{} (frame {}) is {w}x{h} but frame 1 ({}) is {}x{}: {}",
                list.paths[i].display(),
                i + 1,
                list.paths[0].display(),
                sizes[0].0,
                sizes[0].1,
                if ends_in_resize {
                    "the final resize must give every frame one size (set width and height)"
                } else {
                    "frames of different sizes need a chain that ends in resize"
                }
            );
        }
    }
    Ok(first)
}

/// The output's folder exists and is writable, it is not an input, and a frame folder is new or empty.
fn check_output(source: &Source, output: &Path, kind: &OutputKind) -> Result<()> {
    let parent = output.parent().unwrap_or(Path::new("/"));
    ensure!(parent.is_dir(), "{}: output folder does not exist", parent.display());
    let probe = parent.join(format!(".imgproc-write-test{}{}", crate::codec::TMP_MARKER, std::process::id()));
    std::fs::write(&probe, b"").with_context(|| format!("{}: output folder cannot be written", parent.display()))?;
    let _ = std::fs::remove_file(probe);
    let inputs: Vec<&PathBuf> = match source {
        Source::Video { path, .. } => vec![path],
        Source::Frames(list) => list.paths.iter().collect(),
    };
    ensure!(
        !inputs.iter().any(|p| p.as_path() == output),
        "{}: the output would overwrite the input",
        output.display()
    );
    if let OutputKind::Frames { dir, .. } = kind {
        let empty = std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(true);
        ensure!(empty || !dir.exists(), "{}: the output folder exists and is not empty", dir.display());
        ensure!(!dir.exists() || dir.is_dir(), "{}: exists and is not a folder", dir.display());
    }
    Ok(())
}

fn prepare_work_dir(spec: &VideoSpec) -> Result<()> {
    let dir = match &spec.output {
        OutputKind::Frames { .. } => spec.frames_dir(),
        OutputKind::Video { .. } => spec.work_dir.clone(),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create the work folder", dir.display()))?;
    crate::codec::remove_stale_temps(&spec.work_dir)?;
    crate::codec::remove_stale_temps(&dir)?;
    Ok(())
}

/// What makes two runs the same job: the chain, the input (size and time) and the output
/// settings. A segment of another job is never reused; a chunk of the same job is, whatever plan
/// (chunk size, rank count) made it (`plan_job_chunks`).
fn job_key(spec: &VideoSpec) -> String {
    let input = match &spec.source {
        Source::Video { path, .. } => fingerprint(path),
        Source::Frames(list) => format!("{} frames, first {}", list.paths.len(), fingerprint(&list.paths[0])),
    };
    let out = match &spec.output {
        OutputKind::Video { codec, quality, ext, .. } => format!("{codec:?} q{quality:?} .{ext}"),
        OutputKind::Frames { format, .. } => format!("frames .{format}"),
    };
    format!("video {} | {input} | {out} | {} fps", spec.chain, spec.fps)
}

fn fingerprint(path: &Path) -> String {
    let meta = std::fs::metadata(path);
    let size = meta.as_ref().map(|m| m.len()).unwrap_or(0);
    let mtime = meta.and_then(|m| m.modified()).ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    format!("{} {size} bytes {}", path.display(), mtime.map_or(0, |t| t.as_secs()))
}

/// Joins the segments with the input's audio, or moves the frames into place; then removes the
/// work folder. The output appears only here, complete.
fn finish_output(spec: &VideoSpec, chunks: &[Chunk], no_audio: bool) -> Result<()> {
    match &spec.output {
        OutputKind::Video { path, ext, .. } => {
            let segments: Vec<PathBuf> = chunks.iter().map(|c| spec.proof(c)).collect();
            let audio = match &spec.source {
                Source::Video { path, info } if !no_audio && info.audio.is_some() => Some(path.as_path()),
                _ => None,
            };
            join_segments(&segments, &spec.work_dir, path, muxer(ext), audio)?;
        }
        OutputKind::Frames { dir, .. } => {
            if dir.is_dir() {
                std::fs::remove_dir(dir)
                    .with_context(|| format!("{}: cannot replace the empty folder", dir.display()))?;
            }
            std::fs::rename(spec.frames_dir(), dir)
                .with_context(|| format!("{}: cannot move the frames", dir.display()))?;
        }
    }
    std::fs::remove_dir_all(&spec.work_dir).with_context(|| format!("{}: cannot remove", spec.work_dir.display()))
}
