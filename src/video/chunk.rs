//! One chunk on one rank: decode its frames (OpenCV's FFmpeg back end, seeking to the chunk's
//! keyframe; or frame files), run the chain on each, and encode them into the chunk's own
//! segment (an `ffmpeg` process reading raw frames on its stdin, with the job's codec settings)
//! or write them as frame files. No MPI: rank 0's lane and the workers call the same function.
//!
//! Each decoded frame's timestamp is checked against the one ffprobe listed for it, so a seek
//! that lands on the wrong frame or a frame that cannot be decoded fails the chunk by name and
//! frame number instead of shifting the video.

use super::plan::{muxer, Chunk, OutputKind, VideoSpec};
use super::source::Source;
use crate::cancel::{CancelFlag, Cancelled};
use crate::codec::{self, TMP_MARKER};
use crate::cvio::videoio;
use crate::exec::run_whole;
use crate::image::Image;
use crate::ops::mat_view_mut;
use anyhow::{bail, ensure, Context, Result};
use opencv::core::Mat;
use opencv::prelude::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where a rank gets a chunk's frames.
pub enum ChunkInput {
    /// The job's input itself: this rank can open it (same host or shared storage).
    Own,
    /// The chunk's frames, decoded by rank 0 and compressed losslessly (FFV1) into a small local
    /// file, for a rank that cannot see the input: decoded from its start, no seek.
    Piece(PathBuf),
    /// The chunk's frame files, as bytes from rank 0.
    FrameBytes(Vec<Vec<u8>>),
}

/// What a finished chunk left in the output folder it was given.
#[derive(Debug)]
pub struct ChunkOutcome {
    /// File names (in that folder), in frame order: one segment, or one file per frame.
    pub files: Vec<String>,
}

/// Decodes, filters and encodes `chunk` into `out_dir` (the job's work folder, or a local folder
/// whose files are then sent to rank 0). Every file is complete when it gets its name. Counts
/// finished frames in `done`; stops at the next frame once `cancel` is set (error [`Cancelled`]).
pub fn process_chunk(
    spec: &VideoSpec,
    chunk: &Chunk,
    input: ChunkInput,
    out_dir: &Path,
    encoder_threads: usize,
    cancel: &CancelFlag,
    done: &AtomicUsize,
) -> Result<ChunkOutcome> {
    let mut frames = FrameReader::open(spec, chunk, input)?;
    let mut sink = Sink::open(spec, chunk, out_dir, encoder_threads)?;
    for i in 0..chunk.frames {
        if cancel.load(Ordering::Relaxed) {
            sink.abandon();
            return Err(Cancelled.into());
        }
        let index = chunk.start + i;
        let result = frames.next(index).and_then(|img| {
            let out = run_whole(&spec.chain, &img, cancel)?;
            ensure!(
                (out.width, out.height) == spec.out_size,
                "{}: filtered to {}x{}, not {}x{} like the other frames (end the chain with resize)",
                frames.name(index),
                out.width,
                out.height,
                spec.out_size.0,
                spec.out_size.1
            );
            sink.push(index, &out)
        });
        if let Err(e) = result {
            sink.abandon();
            return Err(e);
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    sink.finish()
}

/// Frames of one chunk, in order.
enum FrameReader<'a> {
    Video { capture: videoio::VideoCapture, name: String, pts: &'a [f64], origin: f64, tolerance: f64 },
    Files { paths: &'a [PathBuf] },
    Bytes { paths: &'a [PathBuf], bytes: Vec<Vec<u8>>, first: usize },
}

impl<'a> FrameReader<'a> {
    fn open(spec: &'a VideoSpec, chunk: &Chunk, input: ChunkInput) -> Result<FrameReader<'a>> {
        Ok(match (&spec.source, input) {
            (Source::Video { path, info }, ChunkInput::Own) => {
                let mut capture = open_capture(path)?;
                // A decoder starts at a keyframe: the one at or before the chunk's start.
                let keyframe = info.keyframes.iter().copied().filter(|&k| k <= chunk.start).max().unwrap_or(0);
                if keyframe > 0 {
                    capture
                        .set(videoio::CAP_PROP_POS_FRAMES, keyframe as f64)
                        .with_context(|| format!("{}: seeking to frame {}", path.display(), keyframe + 1))?;
                }
                // OpenCV counts time from the stream's start, the first frame's time. AVI has no
                // presentation times (OpenCV reports decode times there): its frames are counted only.
                let avi = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("avi"));
                let tolerance = if avi { f64::INFINITY } else { 0.5 / info.fps_value() };
                let mut reader = FrameReader::Video {
                    capture,
                    name: path.display().to_string(),
                    pts: &info.pts,
                    origin: info.pts[0],
                    tolerance,
                };
                // A chunk that starts between keyframes: its frames before the start are decoded
                // (and their times checked) only to reach it.
                for index in keyframe..chunk.start {
                    reader.next(index)?;
                }
                reader
            }
            (Source::Video { path, info }, ChunkInput::Piece(file)) => {
                let capture =
                    open_capture(&file).with_context(|| format!("{}: the piece rank 0 sent", path.display()))?;
                // Rank 0 checked every frame's time when it decoded them.
                let name = path.display().to_string();
                FrameReader::Video { capture, name, pts: &info.pts, origin: 0.0, tolerance: f64::INFINITY }
            }
            (Source::Frames(list), ChunkInput::Own) => FrameReader::Files { paths: &list.paths },
            (Source::Frames(list), ChunkInput::FrameBytes(bytes)) => {
                ensure!(bytes.len() == chunk.frames, "{} frame files sent for {} frames", bytes.len(), chunk.frames);
                FrameReader::Bytes { paths: &list.paths, bytes, first: chunk.start }
            }
            (Source::Video { .. }, ChunkInput::FrameBytes(_)) | (Source::Frames(_), ChunkInput::Piece(_)) => {
                bail!("the chunk's input does not fit the job's source")
            }
        })
    }

    /// The file a frame comes from, with the frame's number (1-based) for messages.
    fn name(&self, index: usize) -> String {
        match self {
            FrameReader::Video { name, .. } => format!("{name} (frame {})", index + 1),
            FrameReader::Files { paths } | FrameReader::Bytes { paths, .. } => {
                format!("{} (frame {})", paths[index].display(), index + 1)
            }
        }
    }

    fn next(&mut self, index: usize) -> Result<Image> {
        let what = self.name(index);
        match self {
            FrameReader::Video { capture, pts, origin, tolerance, .. } => {
                let mut mat = Mat::default();
                let ok = capture.read(&mut mat).with_context(|| format!("{what}: cannot decode"))?;
                ensure!(ok && !mat.empty(), "{what}: cannot be decoded (truncated or corrupt video)");
                let got = capture.get(videoio::CAP_PROP_POS_MSEC)? / 1000.0;
                let want = pts[index] - *origin;
                // Frames drained from the decoder at the end of the file come without a time (0).
                let known = got > 0.0 || index == 0;
                ensure!(
                    !known || (got - want).abs() <= *tolerance,
                    "{what}: the decoder gave the frame at {got:.3} s instead of {want:.3} s (not frame-accurate)"
                );
                image_of(&mat).with_context(|| what.clone())
            }
            FrameReader::Files { paths } => codec::read_image(&paths[index], codec::DEFAULT_MAX_PIXELS)
                .with_context(|| format!("frame {}", index + 1)),
            FrameReader::Bytes { bytes, first, .. } => {
                let b = std::mem::take(&mut bytes[index - *first]);
                codec::decode(&b, &what, codec::DEFAULT_MAX_PIXELS)
            }
        }
    }
}

/// Rank 0's help for a rank that cannot open the input: decodes `chunk` itself (checked like any
/// chunk) and compresses the frames losslessly (FFV1 in Matroska, in memory), so the rank gets
/// exactly the frames it would have decoded, in a fraction of their raw size.
pub fn lossless_piece(spec: &VideoSpec, chunk: &Chunk) -> Result<Vec<u8>> {
    let Source::Video { info, .. } = &spec.source else { bail!("pieces are for videos") };
    let mut frames = FrameReader::open(spec, chunk, ChunkInput::Own)?;
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24"])
        .args(["-s", &format!("{}x{}", info.width, info.height), "-framerate", &info.fps, "-i", "pipe:0"])
        .args(["-c:v", "ffv1", "-level", "3", "-pix_fmt", "bgr0", "-f", "matroska", "pipe:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting ffmpeg (install ffmpeg)")?;
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout.read_to_end(&mut buf).map(|_| buf)
    });
    let mut stdin = child.stdin.take().expect("piped");
    let mut fed = Ok(());
    for i in chunk.start..chunk.start + chunk.frames {
        fed = frames.next(i).and_then(|img| {
            ensure!(
                img.channels == 3 && (img.width, img.height) == (info.width, info.height),
                "frame {} changed size",
                i + 1
            );
            stdin.write_all(&img.data).context("ffmpeg stopped")
        });
        if fed.is_err() {
            break;
        }
    }
    drop(stdin);
    let status = child.wait()?;
    let bytes = reader.join().map_err(|_| anyhow::anyhow!("the piece reader panicked"))??;
    fed?;
    ensure!(status.success(), "ffmpeg could not compress the piece");
    Ok(bytes)
}

/// Opens a video with OpenCV's FFmpeg back end; the error names the file.
pub fn open_capture(path: &Path) -> Result<videoio::VideoCapture> {
    let capture = videoio::VideoCapture::from_file(path.to_string_lossy().as_ref(), videoio::CAP_FFMPEG)
        .with_context(|| format!("{}: cannot open as a video", path.display()))?;
    ensure!(
        capture.is_opened()?,
        "{}: cannot open as a video (corrupt, or a codec FFmpeg cannot decode)",
        path.display()
    );
    Ok(capture)
}

/// Decodes every frame of a video in order, in this process: the one-process reference the
/// distributed result is checked against (OpenCV decode, no seeking).
pub fn decode_all(path: &Path, mut each: impl FnMut(usize, Image) -> Result<()>) -> Result<usize> {
    let mut capture = open_capture(path)?;
    let mut n = 0;
    loop {
        let mut mat = Mat::default();
        if !capture.read(&mut mat)? || mat.empty() {
            return Ok(n);
        }
        each(n, image_of(&mat)?)?;
        n += 1;
    }
}

/// Where filtered frames go: an encoder process, or frame files.
enum Sink {
    Encoder { child: Child, stdin: Option<ChildStdin>, temp: PathBuf, name: String, dir: PathBuf, size: (usize, usize) },
    Files { dir: PathBuf, format: String, names: Vec<String>, spec: Box<VideoSpec> },
}

impl Sink {
    fn open(spec: &VideoSpec, chunk: &Chunk, dir: &Path, threads: usize) -> Result<Sink> {
        match &spec.output {
            OutputKind::Frames { format, .. } => Ok(Sink::Files {
                dir: dir.to_path_buf(),
                format: format.clone(),
                names: Vec::new(),
                spec: Box::new(spec.clone()),
            }),
            OutputKind::Video { ext, codec, quality, .. } => {
                let name = spec.segment_name(chunk);
                let temp = dir.join(format!(".{name}{TMP_MARKER}{}", std::process::id()));
                let (w, h) = spec.out_size;
                let mut cmd = Command::new("ffmpeg");
                cmd.args(["-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24"])
                    .args(["-s", &format!("{w}x{h}"), "-framerate", &spec.fps, "-i", "pipe:0"])
                    .args(codec.args(*quality, threads))
                    .args(["-f", muxer(ext)])
                    .arg(&temp)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped());
                let mut child = cmd.spawn().context("starting ffmpeg to encode a segment (install ffmpeg)")?;
                let stdin = child.stdin.take();
                Ok(Sink::Encoder { child, stdin, temp, name, dir: dir.to_path_buf(), size: (w, h) })
            }
        }
    }

    fn push(&mut self, index: usize, frame: &Image) -> Result<()> {
        match self {
            Sink::Files { dir, format, names, spec } => {
                let name = spec.frame_name(index);
                let encoded = codec::encode(frame, format).with_context(|| format!("frame {}: encoding", index + 1))?;
                codec::write_atomic(&dir.join(&name), &encoded)?;
                names.push(name);
                Ok(())
            }
            Sink::Encoder { stdin, size, .. } => {
                ensure!((frame.width, frame.height) == *size, "frame {} has another size", index + 1);
                let bgr;
                let bytes = if frame.channels == 3 {
                    &frame.data
                } else {
                    bgr = frame.data.iter().flat_map(|&v| [v, v, v]).collect::<Vec<u8>>();
                    &bgr
                };
                let pipe = stdin.as_mut().expect("the encoder's stdin is open until finish");
                if pipe.write_all(bytes).is_err() {
                    // The encoder stopped: its own words say why.
                    let why = self.stop_and_read_errors();
                    bail!("encoding frame {}: ffmpeg stopped: {why}", index + 1);
                }
                Ok(())
            }
        }
    }

    /// Closes the encoder's input and returns what it wrote on stderr.
    fn stop_and_read_errors(&mut self) -> String {
        let Sink::Encoder { child, stdin, temp, .. } = self else { return String::new() };
        drop(stdin.take());
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = child.wait();
        let _ = std::fs::remove_file(temp);
        err.trim().to_string()
    }

    /// Stops without leaving anything behind.
    fn abandon(&mut self) {
        if let Sink::Encoder { child, .. } = self {
            let _ = child.kill();
        }
        self.stop_and_read_errors();
        if let Sink::Files { dir, names, .. } = self {
            for n in names.drain(..) {
                let _ = std::fs::remove_file(dir.join(n));
            }
        }
    }

    fn finish(mut self) -> Result<ChunkOutcome> {
        match &mut self {
            Sink::Files { names, .. } => Ok(ChunkOutcome { files: std::mem::take(names) }),
            Sink::Encoder { child, stdin, temp, name, dir, .. } => {
                drop(stdin.take());
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                let status = child.wait().context("waiting for ffmpeg")?;
                if !status.success() {
                    let _ = std::fs::remove_file(&temp);
                    bail!("ffmpeg could not encode {name}: {}", err.trim());
                }
                let fin = dir.join(&name);
                super::sync_and_rename(temp, &fin)?;
                Ok(ChunkOutcome { files: vec![name.clone()] })
            }
        }
    }
}

/// Copies a decoded `Mat` (8-bit, 1 or 3 channels) into an [`Image`].
pub fn image_of(mat: &Mat) -> Result<Image> {
    ensure!(mat.depth() == opencv::core::CV_8U, "only 8-bit frames are supported");
    let (w, h, c) = (mat.cols() as usize, mat.rows() as usize, mat.channels() as usize);
    ensure!(c == 1 || c == 3, "{c} channels");
    let mut img = Image::zeros(w, h, c);
    {
        let mut dst = mat_view_mut(&mut img)?;
        mat.copy_to(&mut dst)?;
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::OpChain;
    use crate::video::plan::plan_chunks;
    use crate::video::source::probe_video;

    /// A small H.264 video with B-frames and a keyframe every 12 frames, made by ffmpeg.
    pub(crate) fn test_video(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
        let path = dir.join(name);
        let status = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=160x120:rate=25:duration=2",
            ])
            .args(["-c:v", "libx264", "-g", "12", "-bf", "2", "-pix_fmt", "yuv420p"])
            .args(extra)
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        path
    }

    #[test]
    fn seeking_to_each_keyframe_gives_the_frames_of_a_sequential_decode() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["v.mp4", "v.mkv", "v.avi"] {
            let path = test_video(dir.path(), name, &[]);
            let mut all = Vec::new();
            decode_all(&path, |_, img| {
                all.push(img);
                Ok(())
            })
            .unwrap();
            let info = probe_video(&path).unwrap();
            assert_eq!(info.frames(), all.len(), "{name}: ffprobe and OpenCV count the same frames");
            let source = Source::Video { path: path.clone(), info };
            let spec = VideoSpec {
                chain: OpChain(vec![]),
                source: source.clone(),
                output: OutputKind::Frames { dir: dir.path().join("o"), format: "png".into() },
                fps: "25/1".into(),
                out_size: (160, 120),
                work_dir: dir.path().into(),
            };
            let chunks = plan_chunks(&source, 12);
            assert!(chunks.len() >= 4, "{name}: {chunks:?}");
            for chunk in chunks.iter().rev() {
                let mut reader = FrameReader::open(&spec, chunk, ChunkInput::Own).unwrap();
                for (i, want) in all.iter().enumerate().skip(chunk.start).take(chunk.frames) {
                    assert!(reader.next(i).unwrap() == *want, "{name}: frame {i} of {chunk:?}");
                }
                // The piece rank 0 would send decodes to the same frames.
                let Source::Video { info, .. } = &source else { unreachable!() };
                let piece = dir.path().join("piece.mkv");
                let _ = info;
                std::fs::write(&piece, lossless_piece(&spec, chunk).unwrap()).unwrap();
                let mut reader = FrameReader::open(&spec, chunk, ChunkInput::Piece(piece)).unwrap();
                for (i, want) in all.iter().enumerate().skip(chunk.start).take(chunk.frames) {
                    assert!(reader.next(i).unwrap() == *want, "{name}: piece, frame {i} of {chunk:?}");
                }
            }
        }
    }
}
