//! The job on the ranks, seen from the window: starting one image's or a batch's job
//! (`process`), cancelling it, quitting, and each frame's [`GuiApp::poll`], which takes what the
//! background threads and the MPI thread sent and, when the job ends, says how it went. The job
//! runs on the MPI thread (`coordinator`); a video's job is started by `video_actions`.

use super::app::GuiApp;
use super::document::{Doc, ImageResult};
use super::job::Running;
use super::progress::{ItemState, JobProgress};
use super::viewer::Picture;
use crate::chain::OpChain;
use crate::coordinator::{JobEvent, Request};
use crate::image::Image;
use crate::jobs::batch::BatchRequest;
use crate::jobs::video::VideoSummary;
use crate::model::{BatchOutcome, Progress, RankStats};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

/// How the running job ended, as its last event says.
enum Ended {
    Image(Result<(Image, Vec<RankStats>), String>),
    Batch(Result<BatchOutcome, String>),
    Video(Result<Box<VideoSummary>, String>),
}

impl GuiApp {
    pub fn is_busy(&self) -> bool {
        self.running.is_some() || self.loading > 0
    }

    /// Where this batch (these inputs, this chain, this format) writes before the user saves: the
    /// same folder on a relaunch, so its journal lets the batch resume.
    fn batch_dir(&self) -> PathBuf {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.settings.inputs.hash(&mut h);
        self.recipe(true).hash(&mut h);
        self.work_dir.join(format!("batch-{:016x}", h.finish()))
    }

    /// Starts the job on all ranks.
    pub fn process(&mut self) {
        if self.running.is_some() {
            return;
        }
        let chain = match self.chain() {
            Ok(c) => c,
            Err(e) => return self.hint(format!("{e:#}")),
        };
        let out_dir = self.batch_dir();
        let recipe = self.recipe(true);
        let (reply, events) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let wake = self.wake();
        let coordinator_only = self.settings.coordinator_only;
        let mut note = None;
        let (request, batch) = match &mut self.doc {
            Doc::Empty => return self.hint("open an image or a batch first"),
            // Asks where the result goes, then runs (see `process_video_to`).
            Doc::Video(_) => return self.dialog_process_video(),
            Doc::Image(doc) => {
                // The previous result stays on screen until the new one replaces it (or a cancel).
                // What the chain cannot take of a 16-bit or RGBA file is dropped first, as the CLI
                // and its reference do, and said.
                let keep = chain.keeps();
                let name = doc.path.display().to_string();
                if let Some(w) = doc.layout.and_then(|l| l.warning(&name, &chain, crate::image::Keep::ALL)) {
                    note = Some(format!("Note: {w}."));
                }
                let image = match &doc.plain {
                    Some(plain) if !doc.layout.is_some_and(|l| l.kept_by(keep)) => Arc::clone(plain),
                    _ if doc.image.loses(keep) => Arc::new(doc.image.as_ref().clone().reduced(keep)),
                    _ => Arc::clone(&doc.image),
                };
                let cancel = Arc::clone(&cancel);
                (Request::Image { image, chain, coordinator_only, cancel, reply, wake }, false)
            }
            Doc::Batch(doc) => {
                let job = BatchRequest {
                    inputs: doc.files.iter().map(|f| f.path.clone()).collect(),
                    out_dir,
                    chain,
                    format: self.settings.batch_format.clone(),
                    max_pixels: self.settings.max_pixels,
                    shared_dir: None,
                    send_files: false,
                    coordinator_only,
                };
                doc.clear_results();
                self.batch_items.clear();
                self.batch_outcome = None;
                self.batch_made_with = Some(recipe);
                self.selected = None;
                (Request::Batch { job, cancel: Arc::clone(&cancel), pause: None, more: None, reply, wake }, true)
            }
        };
        if let Err(e) = self.jobs.send(request) {
            return self.error(format!("cannot start the job: {e}"));
        }
        let what = if batch { "the batch" } else { "the image" };
        eprintln!("imgproc gui: processing {what} on {} rank(s) with --op {}", self.ranks.len(), self.recipe(false));
        let progress = JobProgress::new(&self.ranks);
        self.running = Some(Running { events, cancel, progress, batch, classify: false, cancel_asked: None });
        self.messages.drop_hints();
        if let Some(note) = note {
            self.done(note);
        }
        self.settings.interrupted = true;
        self.remember();
    }

    /// Stops the job on every rank at its next chunk of rows. A batch keeps the images already
    /// finished; one image keeps the previous result on screen.
    pub fn cancel(&mut self) {
        if let Some(r) = &mut self.running {
            if !r.cancel.swap(true, Ordering::SeqCst) {
                r.cancel_asked = Some(Instant::now());
                r.progress.cancel_asked();
                eprintln!("imgproc gui: cancelling");
            }
        }
    }

    /// The user closes the window (its close button, Ctrl+Q, File ▸ Quit): a running job is
    /// cancelled and will not run again at the next start. Only a job cut short by a crash or a
    /// lost window (`interrupted` still set) is resumed.
    pub fn quit(&mut self) {
        self.cancel();
        if self.settings.interrupted {
            self.settings.interrupted = false;
            self.remember();
        }
    }

    pub fn cancelling(&self) -> bool {
        self.running.as_ref().is_some_and(|r| r.cancel.load(Ordering::SeqCst))
    }

    /// State of each batch item in the running or last job.
    pub fn item_states(&self) -> &[ItemState] {
        match (&self.running, &self.last_job) {
            (Some(r), _) => &r.progress.items,
            (None, Some(j)) => &j.items,
            _ => &[],
        }
    }

    /// Takes what background threads and the MPI thread sent since the last frame.
    pub fn poll(&mut self) {
        while let Ok(loaded) = self.loaded_rx.try_recv() {
            self.loaded(loaded);
        }
        self.poll_video_doc();
        self.poll_batch_doc();
        if self.messages.fade(Instant::now()) {
            self.ctx.request_repaint();
        }
        self.poll_job();
    }

    /// Applies every event the running job sent since the last frame; once its last one has
    /// come, ends it.
    fn poll_job(&mut self) {
        let mut ended = None;
        while let Some(event) = self.running.as_ref().and_then(|r| r.events.try_recv().ok()) {
            if let Some(end) = self.job_event(event) {
                ended = Some(end);
            }
        }
        if let Some(end) = ended {
            self.job_ended(end);
        }
        self.log_bar();
    }

    /// Logs the bar's text (without its times) when it changes, and the rank table at a job's
    /// end: what the window shows, for the e2e test to read.
    fn log_bar(&mut self) {
        let (progress, batch) = match (&self.running, &self.last_job) {
            (Some(r), _) => (Some(&r.progress), r.batch),
            (None, Some(p)) => (Some(p), matches!(self.doc, Doc::Batch(_))),
            (None, None) => (None, false),
        };
        let line = progress.map_or_else(|| "none".to_string(), |p| p.headline(batch));
        // A job's end is logged even when its bar reads as it did just before.
        let key = format!("{line}{}", if self.running.is_some() { "" } else { " (idle)" });
        if key != self.logged_bar {
            eprintln!("imgproc gui: bar: {line}");
            if let (Some(p), None) = (progress, &self.running) {
                eprintln!("imgproc gui: bar at the end: {}", p.summary(batch));
                let ranks: Vec<String> = p.ranks.iter().map(|r| format!("{}: {}", r.rank, r.work)).collect();
                eprintln!("imgproc gui: ranks: {}", ranks.join("; "));
            }
            self.logged_bar = key;
        }
    }

    /// Progress goes to the bar and the rank table, a finished batch image to its thumbnail;
    /// the job's last event is returned.
    fn job_event(&mut self, event: JobEvent) -> Option<Ended> {
        let running = self.running.as_mut().expect("events come from a running job");
        match event {
            JobEvent::Progress(p) => {
                running.progress.apply(&p);
                if running.classify {
                    if let (Progress::ItemDone { .. }, Some(c)) = (&p, &mut self.classified) {
                        c.poll();
                    }
                } else if let (Progress::ItemDone { index, error: None, .. }, Doc::Batch(doc)) = (&p, &mut self.doc) {
                    if let Some(item) = self.batch_items.get(*index) {
                        doc.show_result(*index, item.output.clone());
                    }
                }
            }
            JobEvent::BatchPlanned { already_done, .. } if running.classify => {
                running.progress.planned(&already_done);
                if let Some(c) = &mut self.classified {
                    c.reread();
                }
            }
            JobEvent::BatchPlanned { items, already_done } => {
                running.progress.planned(&already_done);
                if let Doc::Batch(doc) = &mut self.doc {
                    for (i, item) in items.iter().enumerate().filter(|(i, _)| already_done[*i]) {
                        doc.show_result(i, item.output.clone());
                    }
                }
                self.batch_items = items;
            }
            JobEvent::ImageFinished(r) => return Some(Ended::Image(r)),
            JobEvent::BatchFinished(r) => return Some(Ended::Batch(r)),
            JobEvent::VideoPlanned { frames } => running.progress.video_planned(frames),
            JobEvent::Video(e) => running.progress.apply_video(&e),
            JobEvent::VideoFinished(r) => return Some(Ended::Video(r)),
        }
        None
    }

    /// The job is over: its progress is kept for the live view, and what it made is shown or
    /// why it failed is said.
    fn job_ended(&mut self, ended: Ended) {
        let mut running = self.running.take().expect("running");
        let cancelled = running.cancel.load(Ordering::SeqCst);
        match &ended {
            Ended::Video(Ok(s)) => running.progress.end_video(s.cancelled, s.frames_per_sec, s.wall_secs),
            Ended::Batch(Ok(o)) => running.progress.end(o.cancelled),
            _ => running.progress.end(cancelled),
        }
        self.messages.unpin();
        if let Some(asked) = running.cancel_asked {
            eprintln!("imgproc gui: cancelled after {:.3} s", asked.elapsed().as_secs_f64());
        }
        // A video's job never set `interrupted` (`process_video_to`): it has none to clear.
        let clears_interrupted = !matches!(ended, Ended::Video(_));
        match ended {
            Ended::Image(result) => self.image_finished(result, cancelled),
            Ended::Batch(result) if running.classify => self.classify_finished(result),
            Ended::Batch(result) => self.batch_finished(result),
            Ended::Video(result) => self.video_finished(result),
        }
        self.last_job = Some(running.progress);
        if clears_interrupted {
            self.settings.interrupted = false;
            self.remember();
        }
    }

    fn image_finished(&mut self, result: Result<(Image, Vec<RankStats>), String>, cancelled: bool) {
        let had_result = matches!(&self.doc, Doc::Image(d) if d.result.is_some());
        match result {
            Err(_) if cancelled && had_result => {
                self.done("Cancelled: the job was stopped; the previous result is still shown.")
            }
            Err(_) if cancelled => self.done("Cancelled: the job was stopped; nothing was processed."),
            Err(e) => self.error(format!("processing failed: {e}")),
            Ok((image, stats)) => {
                eprintln!("imgproc gui: image processed on {} rank(s)", stats.len());
                if let Doc::Image(doc) = &mut self.doc {
                    let picture = Picture::upload(&self.ctx, "result", &image);
                    let chain = OpChain(self.settings.chain.clone()).to_string();
                    doc.result = Some(ImageResult { image, picture, stats, chain });
                }
            }
        }
    }

    fn batch_finished(&mut self, result: Result<BatchOutcome, String>) {
        match result {
            Err(e) => self.error(format!("the batch could not run: {e}")),
            Ok(outcome) => {
                for (input, reason) in &outcome.failed {
                    let path = input.display().to_string();
                    let text = if reason.contains(&path) { reason.clone() } else { format!("{path}: {reason}") };
                    self.error(text);
                }
                let mut summary = format!("Batch: {} done, {} failed", outcome.done, outcome.failed.len());
                if outcome.already_done > 0 {
                    summary.push_str(&format!(
                        "; {} done by an earlier run and kept (already in the output folder)",
                        outcome.already_done
                    ));
                }
                if outcome.cancelled {
                    summary.push_str(" — cancelled; Process again to finish the rest");
                }
                if let Some(why) = &outcome.stopped {
                    self.error(format!("the batch stopped before its end: {why}; Process again to finish the rest"));
                }
                self.done(summary);
                self.batch_outcome = Some(outcome);
            }
        }
    }
}

impl Drop for GuiApp {
    /// However the window goes (closed, or lost with its display), the job it started stops at
    /// the ranks' next chunk of rows, so the coordinator can shut every rank down at once.
    fn drop(&mut self) {
        if let Some(r) = &self.running {
            r.cancel.store(true, Ordering::SeqCst);
        }
    }
}
