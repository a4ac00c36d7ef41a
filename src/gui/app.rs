//! The GUI's state and what the user can do with it: open, process, cancel, save. Drawing lives in
//! `layout`; the ranks are reached only through the coordinator's channel, so nothing here
//! blocks: opening decodes on a background thread, processing runs on the MPI thread.

use super::batch_view::BatchDoc;
use super::history::ChainHistory;
use super::messages::{Kind, Messages};
use super::opening::{route, Opening};
use super::progress::{ItemState, JobProgress};
pub use super::settings::Settings;
use super::video_doc::VideoDoc;
use super::viewer::{Picture, Viewer};
use crate::batch::BatchItem;
use crate::chain::OpChain;
use crate::codec;
use crate::coordinator::{JobEvent, Request, Wake};
use crate::image::Image;
use crate::jobs::batch::BatchRequest;
use crate::model::{BatchOutcome, Progress, RankInfo, RankStats};
use anyhow::{Context as _, Result};
use egui::Context;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

/// One opened image and, once processed, its result.
pub struct ImageDoc {
    pub path: PathBuf,
    pub file_bytes: u64,
    pub image: Arc<Image>,
    pub picture: Picture,
    pub result: Option<ImageResult>,
}

pub struct ImageResult {
    pub image: Image,
    pub picture: Picture,
    pub stats: Vec<RankStats>,
    /// The chain that made it, as the CLI spells it.
    pub chain: String,
}

/// Whether the result on screen was made with the chain as it is now.
#[derive(Clone, Debug, PartialEq)]
pub enum Freshness {
    /// Nothing processed yet.
    NoResult,
    Current,
    /// Made with other parameters (named, as the CLI spells them): Process makes it again,
    /// Save refuses it.
    OutOfDate {
        made_with: String,
    },
}

pub enum Doc {
    Empty,
    Image(ImageDoc),
    Batch(BatchDoc),
    /// Boxed: much larger than the other docs.
    Video(Box<VideoDoc>),
}

/// A batch image shown large: its original and, when done, its result.
pub struct Selected {
    pub index: usize,
    pub before: Picture,
    pub after: Option<Picture>,
}

/// Work finished on a background thread.
pub(super) enum Loaded {
    Image(Result<ImageDoc>),
    Video(Result<Box<VideoDoc>>),
    Selected(Result<Selected>),
    /// A file dialog closed, with what the user picked.
    Picked(Option<Picked>),
}

/// What a file dialog was for, with the path(s) the user picked.
pub enum Picked {
    Image(PathBuf),
    Batch(Vec<PathBuf>),
    SaveImage(PathBuf),
    SaveBatch(PathBuf),
    Video(PathBuf),
    FrameFolder(PathBuf),
    /// Where a video's result goes: a file (its extension picks the codec) or a frame folder.
    VideoOutput(PathBuf),
}

pub struct Running {
    pub events: Receiver<JobEvent>,
    pub cancel: Arc<AtomicBool>,
    pub progress: JobProgress,
    pub batch: bool,
    /// When the user asked to cancel (to tell how long the ranks took to stop).
    pub cancel_asked: Option<Instant>,
}

pub struct GuiApp {
    pub settings: Settings,
    /// Settings changed since they were last stored.
    pub settings_dirty: bool,
    pub ranks: Vec<RankInfo>,
    pub(super) jobs: Sender<Request>,
    pub(super) ctx: Context,
    /// Where batches write before the user saves them (a journal per job, so they resume).
    work_dir: PathBuf,
    pub doc: Doc,
    pub selected: Option<Selected>,
    pub(super) loaded_tx: Sender<Loaded>,
    loaded_rx: Receiver<Loaded>,
    /// Background loads under way.
    pub loading: usize,
    /// A file dialog is open (on its own thread).
    pub dialog_open: bool,
    pub running: Option<Running>,
    /// The last job's progress, kept for the live view after it ends.
    pub last_job: Option<JobProgress>,
    pub batch_items: Vec<BatchItem>,
    pub batch_outcome: Option<BatchOutcome>,
    /// What the batch outputs on disk were made with (chain and format), as `recipe` spells it.
    pub batch_made_with: Option<String>,
    pub viewer: Viewer,
    pub messages: Messages,
    /// Chain edits that Ctrl+Z undoes.
    pub history: ChainHistory,
    /// Start processing as soon as the inputs are loaded (relaunch after a crash).
    resume: bool,
}

impl GuiApp {
    /// A window on the job whose ranks are `ranks`, sending jobs to `jobs`.
    pub fn new(
        ctx: Context,
        settings: Settings,
        ranks: Vec<RankInfo>,
        jobs: Sender<Request>,
        work_dir: PathBuf,
    ) -> GuiApp {
        let (loaded_tx, loaded_rx) = mpsc::channel();
        let mut viewer = Viewer::default();
        viewer.compare = settings.compare;
        let mut app = GuiApp {
            viewer,
            settings,
            settings_dirty: false,
            ranks,
            jobs,
            ctx,
            work_dir,
            doc: Doc::Empty,
            selected: None,
            loaded_tx,
            loaded_rx,
            loading: 0,
            dialog_open: false,
            running: None,
            last_job: None,
            batch_items: Vec::new(),
            batch_outcome: None,
            batch_made_with: None,
            messages: Messages::default(),
            history: ChainHistory::default(),
            resume: false,
        };
        if app.settings.interrupted && !app.settings.inputs.is_empty() {
            app.done(
                "The last job was interrupted (a node failed, or the process or its display was lost): \
                 running it again; batch images already finished are kept.",
            );
            app.resume = true;
            let inputs = app.settings.inputs.clone();
            if app.settings.batch {
                app.open_batch(inputs);
            } else {
                app.open_image(inputs[0].clone());
            }
        }
        app
    }

    pub(super) fn wake(&self) -> Wake {
        let ctx = self.ctx.clone();
        Arc::new(move || ctx.request_repaint())
    }

    /// Shows an error in the window until dismissed (and logs it on stderr, for the terminal
    /// `mpirun` runs in).
    pub fn error(&mut self, e: impl std::fmt::Display) {
        eprintln!("imgproc gui: error: {e}");
        self.messages.push(Kind::Error, e.to_string());
    }

    /// Shows what was done, for a while, and logs it.
    pub fn done(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("imgproc gui: {text}");
        self.messages.push(Kind::Done, text);
    }

    /// Says why an action was refused, until the next action that works.
    pub fn hint(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("imgproc gui: {text}");
        self.messages.push(Kind::Hint, text);
    }

    pub(super) fn remember(&mut self) {
        self.settings_dirty = true;
    }

    pub fn is_busy(&self) -> bool {
        self.running.is_some() || self.loading > 0
    }

    /// Opens dropped or named files as [`route`] says: one image alone as an image, one video
    /// file as a video, several files or a folder as a batch (a folder opened as frames before,
    /// as a video).
    pub fn open_paths(&mut self, paths: Vec<PathBuf>) {
        let paths: Vec<PathBuf> = paths.into_iter().map(absolute).collect();
        match route(&paths, &self.settings.frame_folders) {
            Opening::Nothing => {}
            Opening::Image(path) => self.open_image(path),
            Opening::Batch(paths) => self.open_batch(paths),
            Opening::Video(path) => self.open_video(path, false),
            Opening::Frames(folder) => self.open_video(folder, true),
        }
    }

    /// Opens one image; it is decoded on a background thread. What is on screen (an image and
    /// its result) stays until the new image has loaded, and stays if it fails to.
    pub fn open_image(&mut self, path: PathBuf) {
        if self.running.is_some() {
            return self.hint("a job is running: cancel it or wait before opening another image");
        }
        let path = absolute(path);
        self.loading += 1;
        let (tx, ctx, max_pixels) = (self.loaded_tx.clone(), self.ctx.clone(), self.settings.max_pixels);
        std::thread::spawn(move || {
            let loaded = (|| {
                let image = codec::read_image(&path, max_pixels)?;
                let file_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                let picture = Picture::upload(&ctx, "original", &image);
                Ok(ImageDoc { path, file_bytes, image: Arc::new(image), picture, result: None })
            })();
            let _ = tx.send(Loaded::Image(loaded));
            ctx.request_repaint();
        });
    }

    /// `inputs` are open now: remembered as the last inputs and on top of the recent list.
    pub(super) fn opened(&mut self, inputs: Vec<PathBuf>, batch: bool) {
        self.settings.open_dir = inputs[0].parent().map(Path::to_path_buf);
        self.settings.add_recent(inputs.clone());
        self.settings.inputs = inputs;
        self.settings.batch = batch;
        self.messages.drop_hints();
        self.remember();
    }

    /// Opens entry `index` of the recent list as it was opened (one image, a batch, a video).
    pub fn open_recent(&mut self, index: usize) {
        let Some(paths) = self.settings.recent.get(index).cloned() else { return };
        self.open_paths(paths);
    }

    /// Opens a batch: files, and folders whose image files are taken.
    pub fn open_batch(&mut self, inputs: Vec<PathBuf>) {
        if self.running.is_some() {
            return self.hint("a job is running: cancel it or wait before opening a batch");
        }
        let inputs: Vec<PathBuf> = inputs.into_iter().map(absolute).collect();
        let files = match crate::batch::expand_inputs(&inputs) {
            Ok(f) if f.is_empty() => return self.error("no image files in what was opened"),
            Ok(f) => f,
            Err(e) => return self.error(format!("{e:#}")),
        };
        self.opened(inputs, true);
        self.selected = None;
        self.batch_items.clear();
        self.batch_outcome = None;
        self.batch_made_with = None;
        self.last_job = None;
        self.doc = Doc::Batch(BatchDoc::open(&self.ctx, files, self.settings.max_pixels));
        if std::mem::take(&mut self.resume) {
            self.process();
        }
    }

    /// The chain as the ranks run it, or why it cannot run.
    pub fn chain(&self) -> Result<OpChain> {
        anyhow::ensure!(!self.settings.chain.is_empty(), "add an operation first");
        for op in &self.settings.chain {
            op.validate()?;
        }
        Ok(OpChain(self.settings.chain.clone()))
    }

    /// What a result is made with: the chain as the CLI spells it, and for a batch the output
    /// format ("gray,canny:… → png").
    pub fn recipe(&self, batch: bool) -> String {
        let chain = OpChain(self.settings.chain.clone()).to_string();
        match (batch, &self.settings.batch_format) {
            (false, _) => chain,
            (true, Some(ext)) => format!("{chain} → {ext}"),
            (true, None) => format!("{chain} → same format"),
        }
    }

    /// Whether the result shown (one image's, or the batch outputs) was made with the chain and
    /// format as they are now.
    pub fn freshness(&self) -> Freshness {
        let made_with = match &self.doc {
            Doc::Empty => None,
            Doc::Image(d) => d.result.as_ref().map(|r| r.chain.clone()),
            Doc::Batch(_) => self.batch_made_with.clone().filter(|_| !self.batch_items.is_empty()),
            // A video's result is written as it is processed: nothing is kept to save.
            Doc::Video(_) => None,
        };
        match made_with {
            None => Freshness::NoResult,
            Some(m) if m == self.recipe(matches!(self.doc, Doc::Batch(_))) => Freshness::Current,
            Some(made_with) => Freshness::OutOfDate { made_with },
        }
    }

    /// The chain was `before` and the user changed it; `continuing` while the same drag goes on.
    pub fn chain_edited(&mut self, before: Vec<crate::ops::Op>, continuing: bool) {
        self.history.record(before, continuing);
        self.messages.drop_hints();
        self.remember();
    }

    /// Ctrl+Z: the chain as it was before the last edit.
    pub fn undo(&mut self) {
        if self.running.is_none() && self.history.undo(&mut self.settings.chain) {
            eprintln!("imgproc gui: undo: the chain is {}", OpChain(self.settings.chain.clone()));
            self.remember();
        }
    }

    /// Ctrl+Shift+Z: the edit undone last, again.
    pub fn redo(&mut self) {
        if self.running.is_none() && self.history.redo(&mut self.settings.chain) {
            eprintln!("imgproc gui: redo: the chain is {}", OpChain(self.settings.chain.clone()));
            self.remember();
        }
    }

    /// Stores the chain under `name` (replacing a preset of that name).
    pub fn save_preset(&mut self, name: &str) {
        let name = name.trim();
        if name.is_empty() {
            return self.hint("name the preset first");
        }
        self.settings.presets.insert(name.to_string(), self.settings.chain.clone());
        self.done(format!("Preset \"{name}\" saved: {}", OpChain(self.settings.chain.clone())));
        self.remember();
    }

    /// Replaces the chain with preset `name`; undoable.
    pub fn load_preset(&mut self, name: &str) {
        let Some(chain) = self.settings.presets.get(name).cloned() else { return };
        if self.running.is_some() || chain == self.settings.chain {
            return;
        }
        let before = std::mem::replace(&mut self.settings.chain, chain);
        self.chain_edited(before, false);
    }

    pub fn delete_preset(&mut self, name: &str) {
        if self.settings.presets.remove(name).is_some() {
            self.remember();
        }
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
        let (request, batch) = match &mut self.doc {
            Doc::Empty => return self.hint("open an image or a batch first"),
            // Asks where the result goes, then runs (see `process_video_to`).
            Doc::Video(_) => return self.dialog_process_video(),
            Doc::Image(doc) => {
                // The previous result stays on screen until the new one replaces it (or a cancel).
                let image = Arc::clone(&doc.image);
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
                (Request::Batch { job, cancel: Arc::clone(&cancel), reply, wake }, true)
            }
        };
        if let Err(e) = self.jobs.send(request) {
            return self.error(format!("cannot start the job: {e}"));
        }
        let what = if batch { "the batch" } else { "the image" };
        eprintln!("imgproc gui: processing {what} on {} rank(s)", self.ranks.len());
        let progress = JobProgress::new(&self.ranks);
        self.running = Some(Running { events, cancel, progress, batch, cancel_asked: None });
        self.messages.drop_hints();
        self.settings.interrupted = true;
        self.remember();
    }

    /// Stops the job on every rank at its next chunk of rows. A batch keeps the images already
    /// finished; one image keeps the previous result on screen.
    pub fn cancel(&mut self) {
        if let Some(r) = &mut self.running {
            if !r.cancel.swap(true, Ordering::SeqCst) {
                r.cancel_asked = Some(Instant::now());
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

    /// Shows a file dialog on its own thread, so the window keeps drawing (the progress, the
    /// ranks) while it is open; what was picked arrives through [`GuiApp::poll`]. One at a time.
    pub fn ask(&mut self, dialog: impl FnOnce() -> Option<Picked> + Send + 'static) {
        if std::mem::replace(&mut self.dialog_open, true) {
            return;
        }
        let (tx, ctx) = (self.loaded_tx.clone(), self.ctx.clone());
        std::thread::spawn(move || {
            let _ = tx.send(Loaded::Picked(dialog()));
            ctx.request_repaint();
        });
    }

    fn picked(&mut self, picked: Picked) {
        match picked {
            // A video picked in the image dialog (All files) opens as a video.
            Picked::Image(path) => self.open_paths(vec![path]),
            Picked::Batch(paths) => self.open_batch(paths),
            Picked::SaveImage(path) => self.save_image_to(path),
            Picked::SaveBatch(dir) => self.save_batch_to(dir),
            Picked::Video(path) => self.open_video(path, false),
            Picked::FrameFolder(dir) => self.open_video(dir, true),
            Picked::VideoOutput(path) => self.process_video_to(path),
        }
    }

    /// Takes what background threads and the MPI thread sent since the last frame.
    pub fn poll(&mut self) {
        while let Ok(loaded) = self.loaded_rx.try_recv() {
            if !matches!(loaded, Loaded::Picked(_)) {
                self.loading -= 1;
            }
            match loaded {
                Loaded::Picked(picked) => {
                    self.dialog_open = false;
                    if let Some(p) = picked {
                        self.picked(p);
                    }
                }
                Loaded::Image(Ok(doc)) => {
                    eprintln!("imgproc gui: opened {} ({}x{})", doc.path.display(), doc.image.width, doc.image.height);
                    self.opened(vec![doc.path.clone()], false);
                    self.doc = Doc::Image(doc);
                    self.selected = None;
                    self.viewer.refit();
                    if std::mem::take(&mut self.resume) {
                        self.process();
                    }
                }
                Loaded::Image(Err(e)) => {
                    self.resume = false;
                    let kept = if matches!(self.doc, Doc::Empty) { "" } else { " (what was open stays open)" };
                    self.error(format!("{e:#}{kept}"));
                }
                Loaded::Selected(Ok(s)) => {
                    self.selected = Some(s);
                    self.viewer.refit();
                }
                Loaded::Selected(Err(e)) => self.error(format!("{e:#}")),
                Loaded::Video(loaded) => self.video_loaded(loaded),
            }
        }
        self.poll_video_doc();
        if let Doc::Batch(doc) = &mut self.doc {
            let before = doc.result_count();
            doc.poll();
            // Every change is logged: the last thumbnails may decode before or after the run's end.
            if doc.result_count() != before {
                eprintln!("imgproc gui: the batch grid shows {} result thumbnail(s)", doc.result_count());
            }
        }
        if self.messages.fade(Instant::now()) {
            self.ctx.request_repaint();
        }
        let Some(running) = &mut self.running else { return };
        let mut finished = None;
        let mut video_finished = None;
        while let Ok(event) = running.events.try_recv() {
            match event {
                JobEvent::Progress(p) => {
                    running.progress.apply(&p);
                    if let (Progress::ItemDone { index, error: None, .. }, Doc::Batch(doc)) = (&p, &mut self.doc) {
                        if let Some(item) = self.batch_items.get(*index) {
                            doc.show_result(*index, item.output.clone());
                        }
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
                JobEvent::ImageFinished(r) => finished = Some(Ok(r)),
                JobEvent::BatchFinished(r) => finished = Some(Err(r)),
                JobEvent::VideoPlanned { frames } => running.progress.video_planned(frames),
                JobEvent::Video(e) => running.progress.apply_video(&e),
                JobEvent::VideoFinished(r) => video_finished = Some(r),
            }
        }
        if let Some(r) = video_finished {
            let mut running = self.running.take().expect("running");
            running.progress.end();
            if let Some(asked) = running.cancel_asked {
                eprintln!("imgproc gui: cancelled after {:.3} s", asked.elapsed().as_secs_f64());
            }
            self.video_finished(r);
            self.last_job = Some(running.progress);
            return;
        }
        if let Some(f) = finished {
            let mut running = self.running.take().expect("running");
            running.progress.end();
            let cancelled = running.cancel.load(Ordering::SeqCst);
            if let Some(asked) = running.cancel_asked {
                eprintln!("imgproc gui: cancelled after {:.3} s", asked.elapsed().as_secs_f64());
            }
            match f {
                Ok(result) => self.image_finished(result, cancelled),
                Err(result) => self.batch_finished(result),
            }
            self.last_job = Some(running.progress);
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

    /// State of each batch item in the running or last job.
    pub fn item_states(&self) -> &[ItemState] {
        match (&self.running, &self.last_job) {
            (Some(r), _) => &r.progress.items,
            (None, Some(j)) => &j.items,
            _ => &[],
        }
    }

    /// Shows batch image `index` large, with its result when it has one.
    pub fn select(&mut self, index: usize) {
        let Doc::Batch(doc) = &self.doc else { return };
        let input = doc.files[index].path.clone();
        let output = self.batch_items.get(index).map(|i| i.output.clone()).filter(|o| o.exists());
        let (tx, ctx, max_pixels) = (self.loaded_tx.clone(), self.ctx.clone(), self.settings.max_pixels);
        self.loading += 1;
        std::thread::spawn(move || {
            let loaded = (|| {
                let before = Picture::upload(&ctx, "batch-original", &codec::read_image(&input, max_pixels)?);
                let after = match output {
                    Some(o) => Some(Picture::upload(&ctx, "batch-result", &codec::read_image(&o, u64::MAX)?)),
                    None => None,
                };
                Ok(Selected { index, before, after })
            })();
            let _ = tx.send(Loaded::Selected(loaded));
            ctx.request_repaint();
        });
    }

    /// Saves the result image; the format follows the extension (PNG when there is none).
    pub fn save_image_to(&mut self, path: PathBuf) {
        if let Some(why) = self.cannot_save() {
            return self.hint(why);
        }
        let Doc::Image(ImageDoc { path: input, result: Some(result), .. }) = &self.doc else {
            return self.hint("nothing to save yet: process the image first");
        };
        let path = if path.extension().is_none() { path.with_extension("png") } else { path };
        let saved = (|| -> Result<()> {
            if let (Ok(a), Ok(b)) = (input.canonicalize(), path.canonicalize()) {
                anyhow::ensure!(a != b, "{}: would overwrite the input image", path.display());
            }
            let format = codec::output_format(&path)?;
            let bytes =
                codec::encode(&result.image, &format).with_context(|| format!("{}: encoding", path.display()))?;
            codec::write_atomic(&path, &bytes)
        })();
        match saved {
            Ok(()) => {
                self.done(format!("Saved {}", path.display()));
                self.settings.save_dir = path.parent().map(Path::to_path_buf);
                self.remember();
            }
            Err(e) => self.error(format!("{e:#}")),
        }
    }

    /// Why Save would save nothing or the wrong thing, if it would.
    pub fn cannot_save(&self) -> Option<String> {
        if self.running.is_some() {
            return Some("a job is running: wait for it or cancel it before saving".into());
        }
        match self.freshness() {
            Freshness::NoResult if matches!(self.doc, Doc::Video(_)) => {
                Some("a video is written while it is processed: use Process video…".into())
            }
            Freshness::NoResult => Some("nothing to save yet: process first".into()),
            Freshness::OutOfDate { made_with } => Some(format!(
                "the result was made with {made_with}, not with the chain as it is now: Process to update it \
                 (or Ctrl+Z back to that chain) before saving"
            )),
            Freshness::Current => None,
        }
    }

    /// Copies every finished batch output into `dir` (created if needed), atomically, never over
    /// an input.
    pub fn save_batch_to(&mut self, dir: PathBuf) {
        if let Some(why) = self.cannot_save() {
            return self.hint(why);
        }
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return self.error(format!("{}: cannot create the folder: {e}", dir.display()));
        }
        let mut saved = 0;
        let mut errors = Vec::new();
        for item in &self.batch_items {
            if !item.output.exists() {
                continue;
            }
            let target = dir.join(item.output.file_name().expect("outputs have names"));
            let copied = (|| -> Result<()> {
                if let (Ok(a), Ok(b)) = (item.input.canonicalize(), target.canonicalize()) {
                    anyhow::ensure!(a != b, "{}: would overwrite an input image", target.display());
                }
                codec::write_atomic(&target, &codec::read_file(&item.output)?)
            })();
            match copied {
                Ok(()) => saved += 1,
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        for e in errors {
            self.error(e);
        }
        self.done(format!("Saved {saved} image(s) to {}", dir.display()));
        self.settings.save_dir = Some(dir);
        self.remember();
    }
}

/// Opened paths are stored absolute (and without `..`), so the next start finds them from
/// whatever directory it is in.
pub(super) fn absolute(path: PathBuf) -> PathBuf {
    path.canonicalize().or_else(|_| std::path::absolute(&path)).unwrap_or(path)
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
