//! What the user can do with a video (a file, or a folder of frames): open it, scrub it (the
//! scrubber decodes and previews on its own thread), and process it into a file or a frame folder
//! on every rank — the job `imgproc video` runs, sent to the coordinator — with progress and
//! Cancel. Drawing lives in `video_view`.

use super::actions::absolute;
use super::app::GuiApp;
use super::document::{Doc, Loaded, Picked};
use super::job::Running;
use super::opening::VIDEO_EXTENSIONS;
use super::progress::JobProgress;
use super::video_doc::{rate, VideoDoc};
use crate::coordinator::Request;
use crate::jobs::video::{open_source as open_video_source, VideoRequest, VideoSummary};
use crate::video::{FrameList, Source};
use anyhow::{Context as _, Result};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};

/// The save dialog's title (the e2e test finds the dialog by it).
pub const PROCESS_VIDEO_TITLE: &str = "Process the video into";

impl GuiApp {
    /// Opens a video file, or a folder as frames, on a background thread: probed (frames,
    /// keyframes, rate) and its first frame decoded, as `imgproc video` checks it, so a corrupt
    /// file or a codec FFmpeg cannot decode is told at once, by name. What is open stays open
    /// until it has loaded, and stays if it fails to.
    pub fn open_video(&mut self, path: PathBuf, frames: bool) {
        if self.running.is_some() {
            return self.hint("a job is running: cancel it or wait before opening a video");
        }
        // As every opened path: absolute and canonical, so a frame folder is known again by name.
        let path = absolute(path);
        self.loading += 1;
        let (tx, ctx, max_pixels) = (self.loaded_tx.clone(), self.ctx.clone(), self.settings.max_pixels);
        std::thread::spawn(move || {
            let loaded = (|| {
                let source = if frames {
                    let list = FrameList::from_inputs(std::slice::from_ref(&path))?;
                    Source::Frames(list)
                } else {
                    open_video_source(std::slice::from_ref(&path))?
                };
                anyhow::ensure!(
                    matches!(source, Source::Video { .. }) || frames,
                    "{}: not a video file ffprobe can read",
                    path.display()
                );
                VideoDoc::open(&ctx, path.clone(), source, max_pixels)
                    .map(Box::new)
                    .with_context(|| format!("opening {}", path.display()))
            })();
            let _ = tx.send(Loaded::Video(loaded));
            ctx.request_repaint();
        });
    }

    pub(super) fn video_loaded(&mut self, loaded: Result<Box<VideoDoc>>) {
        match loaded {
            Ok(doc) => {
                eprintln!(
                    "imgproc gui: opened video {} ({}x{}, {} frames, {} fps)",
                    doc.path.display(),
                    doc.width,
                    doc.height,
                    doc.frames(),
                    rate(doc.fps)
                );
                if matches!(doc.source, Source::Frames(_)) {
                    self.settings.add_frame_folder(doc.path.clone());
                }
                self.opened(vec![doc.path.clone()], false);
                self.selected = None;
                self.last_job = None;
                self.doc = Doc::Video(doc);
                self.viewer.refit();
            }
            Err(e) => {
                let kept = if matches!(self.doc, Doc::Empty) { "" } else { " (what was open stays open)" };
                self.error(format!("{e:#}{kept}"));
            }
        }
    }

    /// Keeps the video doc's frame and preview in step with the slider and the chain; logs what
    /// reached the screen (the e2e test reads it).
    pub(super) fn poll_video_doc(&mut self) {
        let chain = self.chain().ok();
        let Doc::Video(doc) = &mut self.doc else { return };
        let shown = doc.poll(chain.as_ref());
        let total = doc.frames();
        if let Some(i) = shown.frame {
            eprintln!("imgproc gui: video: frame {} of {total} shown", i + 1);
        }
        if let Some((i, chain)) = shown.preview {
            eprintln!("imgproc gui: video: frame {} of {total} previewed with {chain}", i + 1);
        }
        if let Some(e) = shown.failed {
            self.error(e);
        }
    }

    /// "Process video…" (Process, Ctrl+Enter): asks where the result goes. The extension picks
    /// the container and codec exactly as the CLI's `-o` does; a name without one is a folder of
    /// PNG frames.
    pub fn dialog_process_video(&mut self) {
        if let Err(e) = self.chain() {
            return self.hint(format!("{e:#}"));
        }
        let Doc::Video(doc) = &self.doc else { return };
        let stem = doc.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "video".into());
        let ops: Vec<&str> = self.settings.chain.iter().map(|o| o.name()).collect();
        let mut d = rfd::FileDialog::new()
            .set_title(PROCESS_VIDEO_TITLE)
            .set_file_name(format!("{stem}-{}.mkv", ops.join("-")))
            .add_filter("Matroska, FFV1 lossless (.mkv)", &["mkv"])
            .add_filter("MP4, H.264 (.mp4)", &["mp4"])
            .add_filter("AVI, Motion JPEG (.avi)", &["avi"])
            .add_filter("WebM, VP9 (.webm)", &["webm"])
            .add_filter("A folder of PNG frames (no extension)", &["*"]);
        if let Some(dir) = self.settings.save_dir.as_ref().or(self.settings.open_dir.as_ref()) {
            d = d.set_directory(dir);
        }
        self.ask(move || d.save_file().map(Picked::VideoOutput));
    }

    pub fn dialog_open_video(&mut self) {
        let mut d = rfd::FileDialog::new()
            .set_title("Open video")
            .add_filter("Videos", &VIDEO_EXTENSIONS)
            .add_filter("All files", &["*"]);
        if let Some(dir) = &self.settings.open_dir {
            d = d.set_directory(dir);
        }
        self.ask(move || d.pick_file().map(Picked::Video));
    }

    pub fn dialog_open_frames(&mut self) {
        let mut d = rfd::FileDialog::new().set_title("Open a folder of frames as a video");
        if let Some(dir) = &self.settings.open_dir {
            d = d.set_directory(dir);
        }
        self.ask(move || d.pick_folder().map(Picked::FrameFolder));
    }

    /// Runs the video job on every rank: the coordinator checks and plans it (errors name the
    /// file), then the ranks filter chunks of frames while the progress bar counts frames.
    pub fn process_video_to(&mut self, output: PathBuf) {
        if self.running.is_some() {
            return;
        }
        let chain = match self.chain() {
            Ok(c) => c,
            Err(e) => return self.hint(format!("{e:#}")),
        };
        let Doc::Video(doc) = &self.doc else { return self.hint("open a video first") };
        let mut job = VideoRequest::new(chain, vec![doc.path.clone()], output.clone());
        job.options.coordinator_only = self.settings.coordinator_only;
        let (reply, events) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let request = Request::Video { job, cancel: Arc::clone(&cancel), reply, wake: self.wake() };
        if let Err(e) = self.jobs.send(request) {
            return self.error(format!("cannot start the job: {e}"));
        }
        eprintln!("imgproc gui: processing the video on {} rank(s) into {}", self.ranks.len(), output.display());
        let progress = JobProgress::new(&self.ranks);
        self.running = Some(Running { events, cancel, progress, batch: false, classify: false, cancel_asked: None });
        self.messages.drop_hints();
        self.settings.save_dir = output.parent().map(std::path::Path::to_path_buf);
        self.remember();
    }

    /// The end of a video job: written (with its pace), cancelled, or failed — each said with
    /// the file and, for a failed chunk, its frames. Nothing partial is left at the output: the
    /// finished segments wait in a hidden work folder beside it for the same job to resume.
    pub(super) fn video_finished(&mut self, result: Result<Box<VideoSummary>, String>) {
        let summary = match result {
            Ok(s) => s,
            Err(e) => return self.error(format!("the video could not be processed: {e}")),
        };
        let out = summary.output.display().to_string();
        let work = crate::video::work_dir(&summary.output);
        if summary.cancelled {
            return self.done(format!(
                "Cancelled: {out} was not written; {} of {} chunk(s) finished are kept in {} — process into the \
                 same file again to finish",
                summary.done,
                summary.chunks,
                work.display()
            ));
        }
        if !summary.failed.is_empty() {
            for f in &summary.failed {
                self.error(f);
            }
            return self.error(format!(
                "{} of {} chunk(s) failed; {out} was not written (finished chunks are kept in {})",
                summary.failed.len(),
                summary.chunks,
                work.display()
            ));
        }
        self.done(format!(
            "Wrote {out}: {} frames, {:.1} frames/s, in {:.2} s on {} rank(s)",
            summary.frames,
            summary.frames_per_sec,
            summary.wall_secs,
            self.ranks.len()
        ));
    }
}
