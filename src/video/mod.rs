//! Videos and frame sequences, the parts that need no MPI: what the input is (`source`: a video
//! probed with ffprobe, or a folder or list of frames in natural order), how it is cut into chunks
//! (`plan`: at keyframes, or every N frames), how one chunk is decoded, filtered and encoded into
//! its own segment (`chunk`), how the segments are joined with the input's audio (`join`), and
//! the record of finished segments that makes a job resumable (`VideoJournal`).
//!
//! The work splits like parallel encoders (av1an) split it: every rank decodes, filters and
//! encodes whole chunks, so all three scale with ranks; rank 0 only joins the segments, by stream
//! copy. `master::video` and `worker::video` move chunks between ranks; they decide nothing here.

pub mod chunk;
pub mod join;
pub mod plan;
pub mod source;

pub use chunk::{lossless_piece, process_chunk, ChunkInput, ChunkOutcome};
pub use plan::{plan_chunks, Chunk, Codec, OutputKind, VideoSpec};
pub use source::{natural_cmp, probe_video, FrameList, Source, VideoInfo};

use crate::journal::{now, BatchJournal, Entry};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// What a running video job reports, for the progress bar (and a GUI).
#[derive(Clone, Debug, PartialEq)]
pub enum VideoEvent {
    ChunkAssigned {
        rank: usize,
        chunk: Chunk,
    },
    /// `rank` has finished `frames` frames of chunk `index` so far.
    Frames {
        rank: usize,
        index: usize,
        frames: usize,
    },
    ChunkDone {
        rank: usize,
        chunk: Chunk,
        secs: f64,
        error: Option<String>,
    },
}

/// How a video job runs.
#[derive(Clone, Debug, Default)]
pub struct VideoOptions {
    /// Rank 0 joins but filters no chunk itself (when there are workers).
    pub coordinator_only: bool,
    /// Rank 0 sends every worker its chunks' input, even when the worker could open the input.
    pub send_input: bool,
}

/// The end of a video job's chunk work (before the join).
#[derive(Clone, Debug, Default)]
pub struct VideoOutcome {
    /// Chunks finished by this run, and by an earlier one (journal).
    pub done: usize,
    pub already_done: usize,
    pub failed: Vec<(Chunk, String)>,
    pub cancelled: bool,
    pub stats: Vec<crate::model::RankStats>,
}

/// Where rank 0 keeps a job's segments and journal: a hidden folder beside the output, so every
/// rename into place stays on one file system.
pub fn work_dir(output: &Path) -> PathBuf {
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    output.with_file_name(format!(".{name}.imgproc-video"))
}

/// Forces a finished file to disk and gives it its final name (in the same folder), so a crash
/// leaves either the complete file or none.
pub(crate) fn sync_and_rename(temp: &Path, path: &Path) -> Result<()> {
    let result = std::fs::File::open(temp).and_then(|f| f.sync_all()).and_then(|_| std::fs::rename(temp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(temp);
        return Err(e).with_context(|| format!("{}: cannot write", path.display()));
    }
    Ok(())
}

/// The record of finished chunks, in the batch journal's format (`.imgproc-journal.jsonl` in the
/// work folder): a chunk is an "input" named `chunk-<first frame>-<frames>` whose "output" is its
/// segment (or last frame). A chunk counts as done for the same job only while that file exists,
/// so a relaunch redoes exactly the chunks without a finished segment.
pub struct VideoJournal(BatchJournal);

impl VideoJournal {
    pub fn open(work_dir: &Path, job: &str) -> Result<VideoJournal> {
        Ok(VideoJournal(BatchJournal::open(work_dir, job)?))
    }

    fn key(chunk: &Chunk) -> PathBuf {
        PathBuf::from(format!("chunk-{:08}-{}", chunk.start, chunk.frames))
    }

    pub fn is_done(&self, chunk: &Chunk) -> bool {
        self.0.is_done(&Self::key(chunk))
    }

    /// The chunks an earlier run of this job finished (their index is not kept: 0).
    pub fn done_chunks(&self) -> Vec<Chunk> {
        self.0
            .done_inputs()
            .filter_map(|key| {
                let (start, frames) = key.to_str()?.strip_prefix("chunk-")?.split_once('-')?;
                Some(Chunk { index: 0, start: start.parse().ok()?, frames: frames.parse().ok()? })
            })
            .collect()
    }

    pub fn record_start(
        &mut self,
        ranks: usize,
        hosts: Vec<String>,
        pending: usize,
        already_done: usize,
    ) -> Result<()> {
        let job = self.0.job().to_string();
        self.0.record(Entry::Start { time: now(), job, ranks, hosts, pending, already_done })
    }

    /// `output` is the file whose presence proves the chunk finished (see [`Chunk::proof`]).
    pub fn record_done(&mut self, chunk: &Chunk, output: PathBuf, rank: usize, host: String, secs: f64) -> Result<()> {
        let job = self.0.job().to_string();
        self.0.record(Entry::Done { time: now(), job, input: Self::key(chunk), output, rank, host, secs })
    }

    pub fn record_failed(&mut self, chunk: &Chunk, reason: String) -> Result<()> {
        let job = self.0.job().to_string();
        self.0.record(Entry::Failed { time: now(), job, input: Self::key(chunk), reason })
    }

    pub fn record_finish(&mut self, done: usize, failed: usize, cancelled: bool) -> Result<()> {
        let job = self.0.job().to_string();
        self.0.record(Entry::Finish { time: now(), job, done, failed, cancelled })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_done_only_for_its_job_and_while_its_segment_exists() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = Chunk { index: 0, start: 0, frames: 10 };
        let seg = dir.path().join("seg.mp4");
        std::fs::write(&seg, b"x").unwrap();
        {
            let mut j = VideoJournal::open(dir.path(), "job a").unwrap();
            j.record_done(&chunk, seg.clone(), 1, "h".into(), 0.5).unwrap();
        }
        assert!(VideoJournal::open(dir.path(), "job a").unwrap().is_done(&chunk));
        assert!(!VideoJournal::open(dir.path(), "job b").unwrap().is_done(&chunk));
        std::fs::remove_file(&seg).unwrap();
        assert!(!VideoJournal::open(dir.path(), "job a").unwrap().is_done(&chunk));
        assert_eq!(work_dir(Path::new("/out/clip.mp4")), PathBuf::from("/out/.clip.mp4.imgproc-video"));
    }
}
