//! An opened video (a file, or a folder of frames): what it is (size, frames, rate, length), the
//! frame the slider is on, and that frame before and after the chain as the scrubber delivers
//! them. Processing the whole video is a job for the ranks (`video_job`); this is the preview.

use super::scrubber::{Reply, Scrubber};
use super::viewer::Picture;
use crate::chain::OpChain;
use crate::video::Source;
use egui::Context;
use std::path::PathBuf;

/// A frame folder's rate when nothing says otherwise (the CLI's `--fps` default).
pub const FRAMES_FPS: f64 = 25.0;

pub struct VideoDoc {
    /// The video file, or the frame folder.
    pub path: PathBuf,
    pub source: Source,
    pub width: usize,
    pub height: usize,
    pub fps: f64,
    /// Bytes of the video file (0 for a frame folder).
    pub file_bytes: u64,
    /// The frame the slider is on, 0-based.
    pub frame: usize,
    /// The frame on screen (it lags `frame` while the slider moves).
    pub shown: Option<ShownFrame>,
    /// Why the frame on the slider cannot be shown or previewed.
    pub problem: Option<String>,
    scrubber: Scrubber,
}

pub struct ShownFrame {
    pub index: usize,
    pub before: Picture,
    /// The preview, once the chain has run on this frame; with the chain that made it.
    pub after: Option<(Picture, String)>,
}

/// What changed on screen in [`VideoDoc::poll`], for the log.
#[derive(Debug, Default, PartialEq)]
pub struct Shown {
    pub frame: Option<usize>,
    pub preview: Option<(usize, String)>,
    pub failed: Option<String>,
}

impl VideoDoc {
    /// A source already checked (probed, first frame decoded) by the caller; starts the scrubber.
    pub fn open(ctx: &Context, path: PathBuf, source: Source, max_pixels: u64) -> anyhow::Result<VideoDoc> {
        let (width, height, fps, file_bytes) = match &source {
            Source::Video { info, .. } => {
                (info.width, info.height, info.fps_value(), std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0))
            }
            Source::Frames(list) => {
                let (w, h) = list.sizes()?.first().copied().unwrap_or((0, 0));
                (w, h, FRAMES_FPS, 0)
            }
        };
        let scrubber = Scrubber::start(ctx, source.clone(), max_pixels);
        Ok(VideoDoc { path, source, width, height, fps, file_bytes, frame: 0, shown: None, problem: None, scrubber })
    }

    pub fn frames(&self) -> usize {
        self.source.frames()
    }

    /// Seconds from the first frame to frame `index`: its presentation time for a video file,
    /// `index / fps` for frames.
    pub fn time_of(&self, index: usize) -> f64 {
        match &self.source {
            Source::Video { info, .. } => info.pts.get(index).map_or(0.0, |t| t - info.pts[0]),
            Source::Frames(_) => index as f64 / self.fps,
        }
    }

    /// How long it plays: the last frame's time plus one frame.
    pub fn duration(&self) -> f64 {
        self.time_of(self.frames().saturating_sub(1)) + 1.0 / self.fps
    }

    /// Moves the slider by `delta` frames, within the video.
    pub fn step(&mut self, delta: isize) {
        self.frame = step(self.frame, delta, self.frames());
    }

    /// "320×240, 20 frames at 10 fps, 0:02.00, h264, 48 kB" (a folder: "PNG frames in a folder",
    /// played at the CLI's default rate).
    pub fn describe(&self) -> String {
        let what = match &self.source {
            Source::Video { info, .. } => format!("{}, {}", info.codec, file_size(self.file_bytes)),
            Source::Frames(list) => {
                let ext = list.paths[0].extension().map(|e| e.to_string_lossy().to_uppercase()).unwrap_or_default();
                format!("{ext} frames in a folder")
            }
        };
        format!(
            "{}×{}, {} frames at {} fps, {}, {what}",
            self.width,
            self.height,
            self.frames(),
            rate(self.fps),
            clock(self.duration())
        )
    }

    /// Asks the scrubber for the slider's frame with `chain` (when it can run), and takes what it
    /// delivered since the last call.
    pub fn poll(&mut self, chain: Option<&OpChain>) -> Shown {
        self.scrubber.want(self.frame, chain);
        let mut shown = Shown::default();
        while let Some(reply) = self.scrubber.try_recv() {
            match reply {
                Reply::Frame { index, picture } => {
                    self.shown = Some(ShownFrame { index, before: picture, after: None });
                    self.problem = None;
                    shown.frame = Some(index);
                }
                Reply::Preview { index, chain, result } => match (result, &mut self.shown) {
                    (Ok(picture), Some(s)) if s.index == index => {
                        s.after = Some((picture, chain.clone()));
                        shown.preview = Some((index, chain));
                    }
                    (Ok(_), _) => {}
                    (Err(e), _) => {
                        let e = format!("previewing frame {}: {e}", index + 1);
                        self.problem = Some(e.clone());
                        shown.failed = Some(e);
                    }
                },
                Reply::Failed { error, .. } => {
                    self.problem = Some(error.clone());
                    shown.failed = Some(error);
                }
            }
        }
        shown
    }
}

/// `frame + delta`, kept within `0..frames`.
pub fn step(frame: usize, delta: isize, frames: usize) -> usize {
    frame.saturating_add_signed(delta).min(frames.saturating_sub(1))
}

/// "48 kB", "12.3 MB".
pub fn file_size(bytes: u64) -> String {
    if bytes < 1_000_000 {
        format!("{:.0} kB", bytes as f64 / 1e3)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

/// "10", "29.97".
pub fn rate(fps: f64) -> String {
    let text = format!("{fps:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A time as a player shows it: "0:02.40", "1:02:03.00".
pub fn clock(seconds: f64) -> String {
    let hundredths = (seconds.max(0.0) * 100.0).round() as u64;
    let (s, h) = (hundredths / 100, hundredths % 100);
    match s / 3600 {
        0 => format!("{}:{:02}.{h:02}", s / 60, s % 60),
        hours => format!("{hours}:{:02}:{:02}.{h:02}", s / 60 % 60, s % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::{FrameList, VideoInfo};

    fn doc(source: Source, fps: f64) -> VideoDoc {
        let ctx = Context::default();
        let scrubber = Scrubber::start(&ctx, source.clone(), u64::MAX);
        VideoDoc {
            path: PathBuf::from("/v.mp4"),
            source,
            width: 4,
            height: 4,
            fps,
            file_bytes: 123_456,
            frame: 0,
            shown: None,
            problem: None,
            scrubber,
        }
    }

    #[test]
    fn a_frame_plays_at_its_presentation_time_and_the_slider_stays_within_the_video() {
        // 10 fps, starting at 1.5 s (a stream that does not start at 0).
        let info = VideoInfo {
            width: 4,
            height: 4,
            fps: "10/1".into(),
            pts: (0..20).map(|i| 1.5 + i as f64 / 10.0).collect(),
            keyframes: vec![0],
            codec: "h264".into(),
            audio: None,
        };
        let mut d = doc(Source::Video { path: "/v.mp4".into(), info }, 10.0);
        assert!((d.time_of(0) - 0.0).abs() < 1e-9 && (d.time_of(19) - 1.9).abs() < 1e-9);
        assert!((d.duration() - 2.0).abs() < 1e-9);
        assert_eq!(d.describe(), "4×4, 20 frames at 10 fps, 0:02.00, h264, 123 kB");
        d.step(-1);
        assert_eq!(d.frame, 0);
        d.step(5);
        d.step(100);
        assert_eq!(d.frame, 19);
        d.step(-3);
        assert_eq!(d.frame, 16);
    }

    #[test]
    fn frames_play_at_the_default_rate() {
        let list = FrameList { paths: (1..=50).map(|i| PathBuf::from(format!("/f/f{i}.png"))).collect() };
        let d = doc(Source::Frames(list), FRAMES_FPS);
        assert!((d.time_of(25) - 1.0).abs() < 1e-9);
        assert_eq!(d.describe(), "4×4, 50 frames at 25 fps, 0:02.00, PNG frames in a folder");
    }

    #[test]
    fn times_and_rates_read_as_a_player_shows_them() {
        assert_eq!(clock(2.4), "0:02.40");
        assert_eq!(clock(62.0), "1:02.00");
        assert_eq!(clock(3723.0), "1:02:03.00");
        assert_eq!(rate(10.0), "10");
        assert_eq!((file_size(48_200), file_size(12_345_678)), ("48 kB".into(), "12.3 MB".into()));
        assert_eq!(rate(30000.0 / 1001.0), "29.97");
        assert_eq!(step(3, -10, 20), 0);
        assert_eq!(step(3, 1, 0), 0, "an empty video has no frame past 0");
    }
}
