//! The frame under the video doc's slider, decoded on its own thread, and the chain previewed on
//! it in this process (the same pure op code each rank runs on its frames; no MPI): the window
//! never waits for a decode or a filter. Only the newest request counts: requests queued while
//! the slider is dragged are dropped, and a preview still running when another frame or chain is
//! asked for stops at its next chunk of rows.

use super::viewer::Picture;
use crate::cancel::CancelFlag;
use crate::chain::OpChain;
use crate::codec;
use crate::cvio::videoio;
use crate::exec::run_whole;
use crate::image::Image;
use crate::video::{chunk::image_of, chunk::open_capture, Source, VideoInfo};
use anyhow::{ensure, Context as _, Result};
use egui::Context;
use opencv::core::Mat;
use opencv::prelude::*;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};

/// Show frame `index` (0-based) and, with a chain, its preview.
struct Request {
    index: usize,
    chain: Option<OpChain>,
    /// Set when a newer request replaces this one.
    stale: CancelFlag,
}

/// What the thread sends back, in this order for one request: the frame, then its preview.
pub enum Reply {
    Frame {
        index: usize,
        picture: Picture,
    },
    /// The chain (as the CLI spells it) run on frame `index`.
    Preview {
        index: usize,
        chain: String,
        result: Result<Picture, String>,
    },
    /// The frame cannot be read; the message names the file and the frame.
    Failed {
        index: usize,
        error: String,
    },
}

/// The window's handle on the thread; dropping it ends the thread.
pub struct Scrubber {
    requests: Sender<Request>,
    replies: Receiver<Reply>,
    /// The last request's frame, chain and flag.
    asked: Option<(usize, Option<String>, CancelFlag)>,
}

impl Scrubber {
    pub fn start(ctx: &Context, source: Source, max_pixels: u64) -> Scrubber {
        let (requests, rx) = mpsc::channel::<Request>();
        let (tx, replies) = mpsc::channel();
        let ctx = ctx.clone();
        std::thread::Builder::new()
            .name("video-scrubber".into())
            .spawn(move || serve(&ctx, FrameReader::new(source, max_pixels), rx, tx))
            .expect("starting the video scrubber thread");
        Scrubber { requests, replies, asked: None }
    }

    /// Asks for frame `index` previewed with `chain` (none when the chain cannot run), unless
    /// that is what was asked last. A preview still running for another request is stopped.
    pub fn want(&mut self, index: usize, chain: Option<&OpChain>) {
        let spelled = chain.map(|c| c.to_string());
        if self.asked.as_ref().is_some_and(|(i, c, _)| *i == index && *c == spelled) {
            return;
        }
        if let Some((_, _, stale)) = &self.asked {
            stale.store(true, Ordering::Relaxed);
        }
        let stale = CancelFlag::default();
        let _ = self.requests.send(Request { index, chain: chain.cloned(), stale: stale.clone() });
        self.asked = Some((index, spelled, stale));
    }

    pub fn try_recv(&self) -> Option<Reply> {
        self.replies.try_recv().ok()
    }
}

impl Drop for Scrubber {
    /// The doc is closed: a preview still running stops at its next chunk of rows, and the
    /// thread ends when it next looks for a request.
    fn drop(&mut self) {
        if let Some((_, _, stale)) = &self.asked {
            stale.store(true, Ordering::Relaxed);
        }
    }
}

fn serve(ctx: &Context, mut frames: FrameReader, requests: Receiver<Request>, replies: Sender<Reply>) {
    // The frame decoded last, reused when only the chain changed.
    let mut last: Option<(usize, Image)> = None;
    while let Ok(mut request) = requests.recv() {
        while let Ok(newer) = requests.try_recv() {
            request = newer;
        }
        let index = request.index;
        if last.as_ref().is_none_or(|(i, _)| *i != index) {
            match frames.frame(index) {
                Ok(img) => {
                    let picture = Picture::upload(ctx, "video-frame", &img);
                    last = Some((index, img));
                    if replies.send(Reply::Frame { index, picture }).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    last = None;
                    if replies.send(Reply::Failed { index, error: format!("{e:#}") }).is_err() {
                        return;
                    }
                    ctx.request_repaint();
                    continue;
                }
            }
            ctx.request_repaint();
        }
        let (Some(chain), Some((_, img))) = (request.chain, &last) else { continue };
        let result = run_whole(&chain, img, &request.stale);
        if request.stale.load(Ordering::Relaxed) {
            continue; // another frame or chain was asked for meanwhile
        }
        let result = result.map(|out| Picture::upload(ctx, "video-preview", &out)).map_err(|e| format!("{e:#}"));
        if replies.send(Reply::Preview { index, chain: chain.to_string(), result }).is_err() {
            return;
        }
        ctx.request_repaint();
    }
}

/// Any frame of a source, read the way the ranks read chunks: a video is decoded from the
/// keyframe at or before the frame (a decoder can only start at a keyframe; seeking there is
/// exact, see `video::chunk`), and simply read on when the next frame is asked for.
struct FrameReader {
    source: Source,
    max_pixels: u64,
    capture: Option<videoio::VideoCapture>,
    /// The frame the capture reads next.
    next: usize,
}

impl FrameReader {
    fn new(source: Source, max_pixels: u64) -> FrameReader {
        FrameReader { source, max_pixels, capture: None, next: 0 }
    }

    fn frame(&mut self, index: usize) -> Result<Image> {
        match &self.source {
            Source::Frames(list) => {
                let path = &list.paths[index];
                codec::read_image(path, self.max_pixels)
                    .with_context(|| format!("{} (frame {})", path.display(), index + 1))
            }
            Source::Video { path, info } => {
                let (path, info) = (path.clone(), info.clone());
                let what = || format!("{} (frame {})", path.display(), index + 1);
                let start = start_for(&info, index, self.capture.is_some().then_some(self.next));
                if let Some(k) = start {
                    // A fresh capture, as for a chunk: the seek lands on keyframe k exactly.
                    self.capture = None;
                    let mut capture = open_capture(&path)?;
                    if k > 0 {
                        capture
                            .set(videoio::CAP_PROP_POS_FRAMES, k as f64)
                            .with_context(|| format!("{}: seeking", what()))?;
                    }
                    self.capture = Some(capture);
                    self.next = k;
                }
                let capture = self.capture.as_mut().expect("opened above");
                while self.next < index {
                    let ok = capture.grab().with_context(|| format!("{}: cannot decode", what()))?;
                    ensure!(ok, "{}: cannot be decoded (truncated or corrupt video)", what());
                    self.next += 1;
                }
                let mut mat = Mat::default();
                let ok = capture.read(&mut mat).with_context(|| format!("{}: cannot decode", what()))?;
                self.next += 1;
                ensure!(ok && !mat.empty(), "{}: cannot be decoded (truncated or corrupt video)", what());
                image_of(&mat).with_context(what)
            }
        }
    }
}

/// Where a decoder must start to reach frame `index`: `None` to read on from `next` (the frame an
/// open capture reads next), or the keyframe to seek to — when nothing is open, when the frame
/// lies behind, or when a keyframe lies between `next` and the frame (seeking is then quicker).
fn start_for(info: &VideoInfo, index: usize, next: Option<usize>) -> Option<usize> {
    let key = info.keyframes.iter().copied().filter(|&k| k <= index).max().unwrap_or(0);
    match next {
        Some(n) if n <= index && key <= n => None,
        _ => Some(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn info(frames: usize, keyframes: Vec<usize>) -> VideoInfo {
        VideoInfo::sample(frames, keyframes)
    }

    #[test]
    fn a_frame_is_read_on_when_ahead_and_sought_at_its_keyframe_otherwise() {
        let v = info(30, vec![0, 10, 20]);
        assert_eq!(start_for(&v, 5, None), Some(0), "nothing open: from the keyframe before");
        assert_eq!(start_for(&v, 15, None), Some(10));
        assert_eq!(start_for(&v, 6, Some(6)), None, "the next frame: read on");
        assert_eq!(start_for(&v, 12, Some(11)), None, "same group of pictures: read on");
        assert_eq!(start_for(&v, 12, Some(10)), None, "at the keyframe itself: read on");
        assert_eq!(start_for(&v, 4, Some(6)), Some(0), "behind: seek");
        assert_eq!(start_for(&v, 25, Some(3)), Some(20), "a keyframe between: seek");
    }

    /// Every frame read in a scrubbing order (forward, back, across keyframes) equals the same
    /// frame of a sequential decode: the slider shows the frame whose number it says.
    #[test]
    fn scrubbed_frames_equal_the_frames_of_a_sequential_decode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.mp4");
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=96x64:rate=25:duration=1.2")
            .args(["-c:v", "libx264", "-g", "8", "-bf", "2", "-pix_fmt", "yuv420p"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let mut all = Vec::new();
        crate::video::chunk::decode_all(&path, |_, img| {
            all.push(img);
            Ok(())
        })
        .unwrap();
        let info = crate::video::probe_video(&path).unwrap();
        assert_eq!(info.frames(), all.len());
        let mut reader = FrameReader::new(Source::Video { path, info }, u64::MAX);
        for i in [0, 1, 2, 13, 12, 29, 5, 6, 7, 8, 9, 0, 17] {
            assert!(reader.frame(i).unwrap() == all[i], "frame {i}");
        }
        let err = format!("{:#}", reader.frame(all.len()).unwrap_err());
        assert!(err.contains("v.mp4 (frame 31)"), "{err}");
    }
}
