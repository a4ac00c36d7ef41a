//! A video job's plan: the chunks (cut at keyframes, or every N frames for frames), what each
//! segment is called, and how it is encoded (codec, container and quality from the output's
//! extension and the flags), so that every rank encodes joinable segments with the same settings.

use super::source::Source;
use crate::chain::OpChain;
use anyhow::{bail, ensure, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Frames `[start, start + frames)` of the input, in presentation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub index: usize,
    pub start: usize,
    pub frames: usize,
}

/// Cuts `source` into chunks of about `every` frames: for a video at the first keyframe at least
/// `every` frames after the last cut (a decoder can only start at a keyframe), for frames exactly
/// every `every` frames. The chunks tile the input in order.
pub fn plan_chunks(source: &Source, every: usize) -> Vec<Chunk> {
    plan_job_chunks(source, every, 1, &[])
}

/// The chunks of a job on `ranks` ranks. Chunks an earlier run finished (`done`, from the
/// journal) are kept as they are, whatever plan made them, so a relaunch on other ranks redoes
/// nothing; the frames between them are cut as [`plan_chunks`] cuts, into chunks of `every`
/// frames or fewer, never so few that a rank is left without a chunk (a 48-frame clip on 2
/// ranks is two chunks, not one). Where a video's keyframes are too sparse for that (a short
/// long-GOP clip), chunks start between keyframes: the rank decodes from the keyframe before its
/// chunk and drops the frames before its start (`chunk::FrameReader`), which keeps every frame
/// exact at the cost of decoding those frames twice.
pub fn plan_job_chunks(source: &Source, every: usize, ranks: usize, done: &[Chunk]) -> Vec<Chunk> {
    let total = source.frames();
    let every = every.max(1).min(total.div_ceil(ranks.max(1)).max(1));
    let mut kept: Vec<Chunk> = done.iter().copied().filter(|c| c.frames > 0 && c.start + c.frames <= total).collect();
    // Longest first at each start, then the first that does not overlap what is kept.
    kept.sort_by_key(|c| (c.start, std::cmp::Reverse(c.frames)));
    let mut spans = Vec::new();
    let mut at = 0;
    // A gap's share of the ranks: the whole input wants a chunk per rank.
    let wanted = |r: &std::ops::Range<usize>| (ranks * r.len()).div_ceil(total.max(1));
    for c in kept {
        if c.start < at {
            continue;
        }
        spans.extend(cut(source, at..c.start, every, wanted(&(at..c.start))));
        spans.push((c.start, c.start + c.frames));
        at = c.start + c.frames;
    }
    spans.extend(cut(source, at..total, every, wanted(&(at..total))));
    spans.into_iter().enumerate().map(|(index, (start, end))| Chunk { index, start, frames: end - start }).collect()
}

/// Frames `range` cut into spans of about `every` frames, at keyframes for a video (the first
/// keyframe at least `every` frames after the last cut), or every `every` frames wherever they
/// fall when the keyframes give fewer than `wanted` spans.
fn cut(source: &Source, range: std::ops::Range<usize>, every: usize, wanted: usize) -> Vec<(usize, usize)> {
    if range.is_empty() {
        return Vec::new();
    }
    let even = || (range.start..range.end).step_by(every).collect::<Vec<_>>();
    let cuts = match source {
        Source::Frames(_) => even(),
        Source::Video { info, .. } => {
            let mut cuts = vec![range.start];
            for &k in &info.keyframes {
                if k >= cuts.last().unwrap() + every && k < range.end {
                    cuts.push(k);
                }
            }
            if cuts.len() < wanted {
                even()
            } else {
                cuts
            }
        }
    };
    cuts.iter().enumerate().map(|(i, &start)| (start, cuts.get(i + 1).copied().unwrap_or(range.end))).collect()
}

/// How segments are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Codec {
    /// H.264 (libx264), `.mp4`; `quality` is x264's CRF (default 20).
    H264,
    /// FFV1, lossless, `.mkv`: every decoded frame equals the filtered one.
    Ffv1,
    /// Motion JPEG, `.avi`; `quality` is ffmpeg's q:v (2 best … 31, default 3).
    Mjpeg,
    /// VP9 (libvpx), `.webm`; `quality` is its CRF (default 32).
    Vp9,
}

impl Codec {
    pub const NAMES: [&'static str; 4] = ["h264", "ffv1", "mjpeg", "vp9"];

    pub fn from_name(name: &str) -> Result<Codec> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "h264" | "avc" | "x264" => Codec::H264,
            "ffv1" => Codec::Ffv1,
            "mjpeg" | "mjpg" => Codec::Mjpeg,
            "vp9" => Codec::Vp9,
            other => bail!("unknown codec '{other}' (known: {})", Codec::NAMES.join(", ")),
        })
    }

    /// The codec an output's extension implies.
    pub fn for_extension(ext: &str) -> Result<Codec> {
        Ok(match ext {
            "mp4" | "m4v" | "mov" => Codec::H264,
            "mkv" => Codec::Ffv1,
            "avi" => Codec::Mjpeg,
            "webm" => Codec::Vp9,
            other => bail!("unknown video container '.{other}' (use .mp4, .mkv, .avi or .webm, or a folder)"),
        })
    }

    /// ffmpeg's encoder arguments, with `threads` encoder threads.
    pub fn args(self, quality: Option<u32>, threads: usize) -> Vec<String> {
        let q = |default: u32| quality.unwrap_or(default).to_string();
        let mut args: Vec<String> = match self {
            Codec::H264 => ["-c:v", "libx264", "-preset", "medium", "-crf", &q(20), "-pix_fmt", "yuv420p"]
                .map(String::from)
                .to_vec(),
            Codec::Ffv1 => ["-c:v", "ffv1", "-level", "3", "-pix_fmt", "bgr0"].map(String::from).to_vec(),
            Codec::Mjpeg => ["-c:v", "mjpeg", "-q:v", &q(3), "-pix_fmt", "yuvj420p"].map(String::from).to_vec(),
            Codec::Vp9 => ["-c:v", "libvpx-vp9", "-crf", &q(32), "-b:v", "0", "-row-mt", "1", "-cpu-used", "4"]
                .map(String::from)
                .to_vec(),
        };
        args.extend(["-threads".to_string(), threads.max(1).to_string()]);
        args
    }

    /// Whether the encoder needs even sides (4:2:0 chroma).
    pub fn needs_even_size(self) -> bool {
        matches!(self, Codec::H264 | Codec::Vp9)
    }
}

/// ffmpeg's muxer for a container extension.
pub fn muxer(ext: &str) -> &'static str {
    match ext {
        "mkv" => "matroska",
        "avi" => "avi",
        "webm" => "webm",
        "mov" => "mov",
        _ => "mp4",
    }
}

/// What the job writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OutputKind {
    /// One video file, joined from segments.
    Video { path: PathBuf, ext: String, codec: Codec, quality: Option<u32> },
    /// A folder of frames in `format` (png, jpg...).
    Frames { dir: PathBuf, format: String },
}

/// Everything a rank needs to do any chunk of a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VideoSpec {
    pub chain: OpChain,
    pub source: Source,
    pub output: OutputKind,
    /// Frame rate of the result, ffprobe's rational spelling (`25/1`).
    pub fps: String,
    /// Size of every filtered frame.
    pub out_size: (usize, usize),
    /// Where segments (or frames) and the journal live until the output is complete.
    pub work_dir: PathBuf,
}

impl VideoSpec {
    /// The file name of a chunk's segment.
    pub fn segment_name(&self, chunk: &Chunk) -> String {
        let ext = match &self.output {
            OutputKind::Video { ext, .. } => ext.as_str(),
            OutputKind::Frames { .. } => "frames",
        };
        format!("seg-{:08}-{}.{ext}", chunk.start, chunk.frames)
    }

    /// The output name of frame `i` in a frame folder: the input frame's name with the output
    /// format, or `frame000001.png` … for a video.
    pub fn frame_name(&self, i: usize) -> String {
        let format = match &self.output {
            OutputKind::Frames { format, .. } => format.as_str(),
            OutputKind::Video { .. } => "png",
        };
        match &self.source {
            Source::Frames(list) => {
                let stem = list.paths[i].file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                format!("{stem}.{format}")
            }
            Source::Video { .. } => format!("frame{:06}.{format}", i + 1),
        }
    }

    /// Frames of a frame-folder output are written here, renamed to the output at the end.
    pub fn frames_dir(&self) -> PathBuf {
        self.work_dir.join("frames")
    }

    /// The file whose presence proves `chunk` finished: its segment, or its last frame.
    pub fn proof(&self, chunk: &Chunk) -> PathBuf {
        match &self.output {
            OutputKind::Video { .. } => self.work_dir.join(self.segment_name(chunk)),
            OutputKind::Frames { .. } => self.frames_dir().join(self.frame_name(chunk.start + chunk.frames - 1)),
        }
    }
}

/// Output frame names must differ (two inputs `a.png`, `a.jpg` would collide as `a.png`).
pub fn check_frame_names(spec: &VideoSpec) -> Result<()> {
    let mut seen = std::collections::HashMap::new();
    for i in 0..spec.source.frames() {
        if let Some(j) = seen.insert(spec.frame_name(i), i) {
            bail!("frames {} and {} would both be written as {}", j + 1, i + 1, spec.frame_name(i));
        }
    }
    Ok(())
}

/// The output's kind from its path: a video container extension, or a folder of frames.
pub fn output_kind(path: &Path, codec: Option<&str>, quality: Option<u32>, format: &str) -> Result<OutputKind> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext {
        Some(ext) if !path.is_dir() => {
            let codec = match codec {
                Some(c) => Codec::from_name(c)?,
                None => Codec::for_extension(&ext)?,
            };
            ensure!(!(codec == Codec::Ffv1 && ext == "mp4"), "FFV1 cannot be stored in .mp4: use .mkv");
            Ok(OutputKind::Video { path: path.to_path_buf(), ext, codec, quality })
        }
        _ => {
            crate::codec::check_format(format)?;
            Ok(OutputKind::Frames { dir: path.to_path_buf(), format: format.to_string() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::source::{FrameList, VideoInfo};

    fn video(frames: usize, keyframes: Vec<usize>) -> Source {
        let info = VideoInfo::sample(frames, keyframes);
        Source::Video { path: "v.mp4".into(), info }
    }

    #[test]
    fn video_chunks_start_at_keyframes_and_tile_the_video() {
        let chunks = plan_chunks(&video(100, vec![0, 10, 20, 30, 45, 60, 90]), 25);
        let starts: Vec<_> = chunks.iter().map(|c| c.start).collect();
        assert_eq!(starts, [0, 30, 60, 90]);
        assert_eq!(chunks.iter().map(|c| c.frames).sum::<usize>(), 100);
        assert_eq!(chunks.last().unwrap().frames, 10);
        // One keyframe only: one chunk, whatever the size asked for.
        assert_eq!(plan_chunks(&video(50, vec![0]), 10).len(), 1);
    }

    #[test]
    fn a_short_input_is_cut_into_a_chunk_per_rank_when_its_keyframes_allow() {
        // Motion JPEG: every frame a keyframe. 48 frames in chunks of 48 on 2 ranks: two of 24.
        let mjpg = video(48, (0..48).collect());
        let sizes = |chunks: Vec<Chunk>| chunks.iter().map(|c| (c.start, c.frames)).collect::<Vec<_>>();
        assert_eq!(sizes(plan_job_chunks(&mjpg, 48, 2, &[])), [(0, 24), (24, 24)]);
        assert_eq!(sizes(plan_job_chunks(&mjpg, 48, 3, &[])), [(0, 16), (16, 16), (32, 16)]);
        assert_eq!(sizes(plan_job_chunks(&mjpg, 10, 2, &[])), [(0, 10), (10, 10), (20, 10), (30, 10), (40, 8)]);
        // One keyframe: chunks start between keyframes rather than leave ranks idle.
        assert_eq!(sizes(plan_job_chunks(&video(50, vec![0]), 48, 2, &[])), [(0, 25), (25, 25)]);
        // Keyframes enough for every rank: chunks start only at keyframes.
        assert_eq!(sizes(plan_job_chunks(&video(60, vec![0, 12, 24, 36, 48]), 48, 2, &[])), [(0, 36), (36, 24)]);
    }

    #[test]
    fn chunks_an_earlier_run_finished_are_kept_and_only_the_rest_is_cut_again() {
        let mjpg = video(48, (0..48).collect());
        // An earlier run on 2 ranks finished its second chunk; the relaunch runs on 3.
        let done = [Chunk { index: 1, start: 24, frames: 24 }];
        let chunks = plan_job_chunks(&mjpg, 48, 3, &done);
        let spans: Vec<_> = chunks.iter().map(|c| (c.start, c.frames)).collect();
        assert_eq!(spans, [(0, 16), (16, 8), (24, 24)]);
        assert!(chunks.iter().enumerate().all(|(i, c)| c.index == i));
        // Overlapping or out-of-range records (two plans' chunks both journaled) keep one.
        let both = [
            Chunk { index: 0, start: 0, frames: 24 },
            Chunk { index: 0, start: 0, frames: 16 },
            Chunk { index: 9, start: 40, frames: 99 },
        ];
        let spans: Vec<_> = plan_job_chunks(&mjpg, 48, 2, &both).iter().map(|c| (c.start, c.frames)).collect();
        assert_eq!(spans, [(0, 24), (24, 24)]);
    }

    #[test]
    fn frame_chunks_are_every_n_frames() {
        let list = FrameList { paths: (0..25).map(|i| PathBuf::from(format!("f{i}.png"))).collect() };
        let chunks = plan_chunks(&Source::Frames(list), 10);
        assert_eq!(chunks.iter().map(|c| (c.start, c.frames)).collect::<Vec<_>>(), [(0, 10), (10, 10), (20, 5)]);
    }

    #[test]
    fn the_extension_picks_the_codec_and_a_folder_means_frames() {
        let kind = |p: &str| output_kind(Path::new(p), None, None, "png").unwrap();
        assert!(matches!(kind("a.mp4"), OutputKind::Video { codec: Codec::H264, .. }));
        assert!(matches!(kind("a.mkv"), OutputKind::Video { codec: Codec::Ffv1, .. }));
        assert!(matches!(kind("a.avi"), OutputKind::Video { codec: Codec::Mjpeg, .. }));
        assert!(matches!(kind("a.webm"), OutputKind::Video { codec: Codec::Vp9, .. }));
        assert!(matches!(kind("out/frames"), OutputKind::Frames { .. }));
        assert!(output_kind(Path::new("a.xyz"), None, None, "png").is_err());
        assert!(output_kind(Path::new("a.mp4"), Some("ffv1"), None, "png").is_err());
    }
}
