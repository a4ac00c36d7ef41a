//! What a video job reads: a video file (its frames, keyframes, frame rate and audio found with
//! ffprobe, without decoding), or frames given as a folder or a list of files, in natural order.

use crate::formats::is_image_path;
use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A video file as ffprobe sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    pub width: usize,
    pub height: usize,
    /// Frame rate as ffprobe's rational (`30000/1001`): segments are encoded at exactly this rate.
    pub fps: String,
    /// Presentation time of every frame in seconds, in presentation order.
    pub pts: Vec<f64>,
    /// Indices (into `pts`) of the frames a decoder can start from.
    pub keyframes: Vec<usize>,
    pub codec: String,
    /// The audio codec, when the file has an audio stream (carried over unchanged).
    pub audio: Option<String>,
}

impl VideoInfo {
    /// A 4×4 H.264 video at 25 frames/s without audio, for tests of planning and seeking.
    #[cfg(test)]
    pub(crate) fn sample(frames: usize, keyframes: Vec<usize>) -> VideoInfo {
        VideoInfo {
            width: 4,
            height: 4,
            fps: "25/1".into(),
            pts: (0..frames).map(|i| i as f64 / 25.0).collect(),
            keyframes,
            codec: "h264".into(),
            audio: None,
        }
    }

    pub fn frames(&self) -> usize {
        self.pts.len()
    }

    /// Frames per second as a number.
    pub fn fps_value(&self) -> f64 {
        parse_rate(&self.fps).unwrap_or(25.0)
    }
}

fn parse_rate(rate: &str) -> Option<f64> {
    let (n, d) = rate.split_once('/').unwrap_or((rate, "1"));
    let (n, d): (f64, f64) = (n.trim().parse().ok()?, d.trim().parse().ok()?);
    (n > 0.0 && d > 0.0).then_some(n / d)
}

/// The input of a video job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Source {
    Video { path: PathBuf, info: VideoInfo },
    Frames(FrameList),
}

impl Source {
    pub fn frames(&self) -> usize {
        match self {
            Source::Video { info, .. } => info.frames(),
            Source::Frames(list) => list.paths.len(),
        }
    }
}

/// Frames in the order they play.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameList {
    pub paths: Vec<PathBuf>,
}

impl FrameList {
    /// The image files of a folder (not recursively, hidden files skipped), or the files given,
    /// each folder's files in natural order (`f2` before `f10`).
    pub fn from_inputs(inputs: &[PathBuf]) -> Result<FrameList> {
        let mut paths = Vec::new();
        for input in inputs {
            let abs = std::path::absolute(input).with_context(|| format!("{}: bad path", input.display()))?;
            if abs.is_dir() {
                let mut found = Vec::new();
                for entry in
                    std::fs::read_dir(&abs).with_context(|| format!("{}: cannot list folder", abs.display()))?
                {
                    let path = entry?.path();
                    let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
                    if !path.is_dir() && !hidden && is_image_path(&path) {
                        found.push(path);
                    }
                }
                found.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
                paths.extend(found);
            } else {
                paths.push(abs);
            }
        }
        ensure!(!paths.is_empty(), "no frames found in {}", show(inputs));
        Ok(FrameList { paths })
    }

    /// Each frame's width and height from its header (no decoding); the error names the frame.
    pub fn sizes(&self) -> Result<Vec<(usize, usize)>> {
        self.paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let size = imagesize::size(p)
                    .with_context(|| format!("{} (frame {}): cannot read the image header", p.display(), i + 1))?;
                Ok((size.width, size.height))
            })
            .collect()
    }
}

fn show(inputs: &[PathBuf]) -> String {
    inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Compares names as people read them: runs of digits by their value, so `f2` < `f10`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = split_digits(a);
                let (db, rb) = split_digits(b);
                let (ta, tb) = (trim_zeros(da), trim_zeros(db));
                let by_value = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                // Equal values: fewer leading zeros first, so the order is total.
                match by_value.then_with(|| da.len().cmp(&db.len())) {
                    Ordering::Equal => (a, b) = (ra, rb),
                    o => return o,
                }
            }
            (Some(x), Some(y)) => match x.cmp(y) {
                Ordering::Equal => (a, b) = (&a[1..], &b[1..]),
                o => return o,
            },
        }
    }
}

fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    s.split_at(n)
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b'0').count();
    &s[n..]
}

/// Runs ffprobe on `path`, with the error naming the file.
fn ffprobe(path: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(path)
        .output()
        .context("running ffprobe (install ffmpeg)")?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "{}: not a video ffprobe can read: {}", path.display(), err.trim());
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The frames, keyframes, size, rate and audio of a video, from its packets (nothing decoded).
pub fn probe_video(path: &Path) -> Result<VideoInfo> {
    ensure!(path.is_file(), "{}: no such video file", path.display());
    let streams: serde_json::Value = serde_json::from_str(&ffprobe(
        path,
        &["-show_entries", "stream=index,codec_type,codec_name,width,height,r_frame_rate", "-of", "json"],
    )?)
    .with_context(|| format!("{}: unreadable ffprobe answer", path.display()))?;
    let streams = streams["streams"].as_array().cloned().unwrap_or_default();
    let Some(video) = streams.iter().find(|s| s["codec_type"] == "video") else {
        bail!("{}: no video stream", path.display())
    };
    let audio =
        streams.iter().find(|s| s["codec_type"] == "audio").map(|s| s["codec_name"].as_str().unwrap_or("?").into());
    let codec = video["codec_name"].as_str().unwrap_or("unknown").to_string();
    let (width, height) =
        (video["width"].as_u64().unwrap_or(0) as usize, video["height"].as_u64().unwrap_or(0) as usize);
    ensure!(width > 0 && height > 0, "{}: the video stream has no size (codec {codec})", path.display());
    let fps = video["r_frame_rate"].as_str().unwrap_or("25/1").to_string();
    ensure!(parse_rate(&fps).is_some(), "{}: no frame rate", path.display());

    let packets = ffprobe(
        path,
        &["-select_streams", "v:0", "-show_entries", "packet=pts_time,dts_time,flags", "-of", "csv=p=0"],
    )?;
    let mut frames: Vec<(f64, bool)> = Vec::new();
    for line in packets.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        let flags = fields.last().copied().unwrap_or("");
        if flags.contains('D') {
            continue; // discarded by the demuxer (pre-roll): not a frame that plays
        }
        let time =
            fields.first().and_then(|t| t.parse::<f64>().ok()).or_else(|| fields.get(1).and_then(|t| t.parse().ok()));
        let time = time.unwrap_or(frames.len() as f64 / parse_rate(&fps).unwrap_or(25.0));
        frames.push((time, flags.starts_with('K')));
    }
    ensure!(!frames.is_empty(), "{}: the video has no frames", path.display());
    frames.sort_by(|a, b| a.0.total_cmp(&b.0));
    let keyframes: Vec<usize> = frames.iter().enumerate().filter(|(_, f)| f.1).map(|(i, _)| i).collect();
    ensure!(keyframes.first() == Some(&0), "{}: the first frame is not a keyframe", path.display());
    Ok(VideoInfo { width, height, fps, pts: frames.into_iter().map(|f| f.0).collect(), keyframes, codec, audio })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_puts_f2_before_f10_and_is_total() {
        let mut names = vec!["f10.png", "f2.png", "f1.png", "f02.png", "g1.png", "f.png"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["f.png", "f1.png", "f2.png", "f02.png", "f10.png", "g1.png"]);
        assert_eq!(natural_cmp("frame_0009", "frame_0010"), Ordering::Less);
    }

    #[test]
    fn a_folder_lists_its_frames_in_natural_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["f10.png", "f2.png", "f1.png", "notes.txt", ".hidden.png"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let list = FrameList::from_inputs(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = list.paths.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["f1.png", "f2.png", "f10.png"]);
        assert!(FrameList::from_inputs(&[dir.path().join("none")]).unwrap().paths.len() == 1);
    }

    #[test]
    fn frame_rates_read_as_ffprobe_writes_them() {
        assert_eq!(parse_rate("30000/1001").map(|r| (r * 1000.0).round()), Some(29970.0));
        assert_eq!(parse_rate("25"), Some(25.0));
        assert_eq!(parse_rate("0/0"), None);
    }
}
