//! The GUI's state and what the user can do with it: open, process, cancel, save. Drawing lives in
//! `layout`; the ranks are reached only through the coordinator's channel, so nothing here
//! blocks: opening decodes on a background thread, processing runs on the MPI thread.

use super::batch_view::BatchDoc;
use super::coordinator::{BatchRequest, Event, Request, Wake};
use super::progress::{ItemState, JobProgress};
use super::viewer::{Compare, Picture, Viewer};
use crate::batch::BatchItem;
use crate::chain::OpChain;
use crate::codec;
use crate::image::Image;
use crate::model::{BatchOutcome, RankInfo, RankStats};
use crate::ops::Op;
use anyhow::{Context as _, Result};
use egui::Context;
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

/// What survives a restart (eframe storage, saved at once whenever it changes).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Settings {
    pub chain: Vec<Op>,
    pub open_dir: Option<PathBuf>,
    pub save_dir: Option<PathBuf>,
    /// The last opened files: one image, or a batch.
    pub inputs: Vec<PathBuf>,
    pub batch: bool,
    pub coordinator_only: bool,
    pub max_pixels: u64,
    pub compare: Compare,
    /// True from Process until the job ends: a relaunch after a crash runs the job again (a
    /// batch resumes through its journal; one image is redone).
    pub interrupted: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            chain: vec![Op::default_for("blur").expect("blur exists")],
            open_dir: None,
            save_dir: None,
            inputs: Vec::new(),
            batch: false,
            coordinator_only: false,
            max_pixels: codec::DEFAULT_MAX_PIXELS,
            compare: Compare::Split,
            interrupted: false,
        }
    }
}

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

pub enum Doc {
    Empty,
    Image(ImageDoc),
    Batch(BatchDoc),
}

/// A batch image shown large: its original and, when done, its result.
pub struct Selected {
    pub index: usize,
    pub before: Picture,
    pub after: Option<Picture>,
}

/// Work finished on a background thread.
enum Loaded {
    Image(Result<ImageDoc>),
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
}

pub struct Running {
    pub events: Receiver<Event>,
    pub cancel: Arc<AtomicBool>,
    pub progress: JobProgress,
    pub batch: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Info(String),
    Error(String),
}

pub struct GuiApp {
    pub settings: Settings,
    /// Settings changed since they were last stored.
    pub settings_dirty: bool,
    pub ranks: Vec<RankInfo>,
    jobs: Sender<Request>,
    ctx: Context,
    /// Where batches write before the user saves them (a journal per job, so they resume).
    work_dir: PathBuf,
    pub doc: Doc,
    pub selected: Option<Selected>,
    loaded_tx: Sender<Loaded>,
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
    pub viewer: Viewer,
    pub messages: Vec<Message>,
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
            messages: Vec::new(),
            resume: false,
        };
        if app.settings.interrupted && !app.settings.inputs.is_empty() {
            app.info(
                "The last job was interrupted (a node failed or the window was killed): running it again; \
                 batch images already finished are kept.",
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

    fn wake(&self) -> Wake {
        let ctx = self.ctx.clone();
        Arc::new(move || ctx.request_repaint())
    }

    /// Shows an error in the window (and logs it on stderr, for the terminal `mpirun` runs in).
    pub fn error(&mut self, e: impl std::fmt::Display) {
        eprintln!("imgproc gui: error: {e}");
        self.messages.push(Message::Error(e.to_string()));
    }

    /// Shows a notice in the window and logs it.
    pub fn info(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("imgproc gui: {text}");
        self.messages.push(Message::Info(text));
    }

    fn remember(&mut self) {
        self.settings_dirty = true;
    }

    pub fn is_busy(&self) -> bool {
        self.running.is_some() || self.loading > 0
    }

    /// Opens dropped or chosen files: one image alone opens as an image; several files or a folder
    /// open as a batch.
    pub fn open_paths(&mut self, paths: Vec<PathBuf>) {
        match paths.as_slice() {
            [] => {}
            [one] if !one.is_dir() => self.open_image(one.clone()),
            _ => self.open_batch(paths),
        }
    }

    /// Opens one image; it is decoded on a background thread.
    pub fn open_image(&mut self, path: PathBuf) {
        if self.running.is_some() {
            return self.error("a job is running: cancel it or wait before opening another image");
        }
        let path = absolute(path);
        self.settings.open_dir = path.parent().map(Path::to_path_buf);
        self.settings.inputs = vec![path.clone()];
        self.settings.batch = false;
        self.remember();
        self.doc = Doc::Empty;
        self.selected = None;
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

    /// Opens a batch: files, and folders whose image files are taken.
    pub fn open_batch(&mut self, inputs: Vec<PathBuf>) {
        if self.running.is_some() {
            return self.error("a job is running: cancel it or wait before opening a batch");
        }
        let inputs: Vec<PathBuf> = inputs.into_iter().map(absolute).collect();
        let files = match crate::batch::expand_inputs(&inputs) {
            Ok(f) if f.is_empty() => return self.error("no image files in what was opened"),
            Ok(f) => f,
            Err(e) => return self.error(format!("{e:#}")),
        };
        self.settings.open_dir = inputs[0].parent().map(Path::to_path_buf);
        self.settings.inputs = inputs;
        self.settings.batch = true;
        self.remember();
        self.selected = None;
        self.batch_items.clear();
        self.batch_outcome = None;
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

    /// Where this batch (these inputs, this chain) writes before the user saves: the same folder
    /// on a relaunch, so its journal lets the batch resume.
    fn batch_dir(&self, chain: &OpChain) -> PathBuf {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.settings.inputs.hash(&mut h);
        chain.to_string().hash(&mut h);
        self.work_dir.join(format!("batch-{:016x}", h.finish()))
    }

    /// Starts the job on all ranks.
    pub fn process(&mut self) {
        if self.running.is_some() {
            return;
        }
        let chain = match self.chain() {
            Ok(c) => c,
            Err(e) => return self.error(format!("{e:#}")),
        };
        let (reply, events) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let wake = self.wake();
        let coordinator_only = self.settings.coordinator_only;
        let (request, batch) = match &mut self.doc {
            Doc::Empty => return self.error("open an image or a batch first"),
            Doc::Image(doc) => {
                // The previous result stays on screen until the new one replaces it (or a cancel).
                let image = Arc::clone(&doc.image);
                let cancel = Arc::clone(&cancel);
                (Request::Image { image, chain, coordinator_only, cancel, reply, wake }, false)
            }
            Doc::Batch(doc) => {
                let job = BatchRequest {
                    inputs: doc.files.iter().map(|f| f.path.clone()).collect(),
                    out_dir: self.batch_dir(&chain),
                    chain,
                    max_pixels: self.settings.max_pixels,
                    coordinator_only,
                };
                self.batch_items.clear();
                self.batch_outcome = None;
                self.selected = None;
                (Request::Batch { job, cancel: Arc::clone(&cancel), reply, wake }, true)
            }
        };
        if let Err(e) = self.jobs.send(request) {
            return self.error(format!("cannot start the job: {e}"));
        }
        let what = if batch { "the batch" } else { "the image" };
        eprintln!("imgproc gui: processing {what} on {} rank(s)", self.ranks.len());
        self.running = Some(Running { events, cancel, progress: JobProgress::new(&self.ranks), batch });
        self.settings.interrupted = true;
        self.remember();
    }

    /// Stops the job on every rank at its next chunk of rows. A batch keeps the images already
    /// finished; one image keeps the previous result on screen.
    pub fn cancel(&mut self) {
        if let Some(r) = &self.running {
            r.cancel.store(true, Ordering::SeqCst);
            self.info("Cancelling…");
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
            Picked::Image(path) => self.open_image(path),
            Picked::Batch(paths) => self.open_batch(paths),
            Picked::SaveImage(path) => self.save_image_to(path),
            Picked::SaveBatch(dir) => self.save_batch_to(dir),
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
                    self.doc = Doc::Image(doc);
                    self.viewer.refit();
                    if std::mem::take(&mut self.resume) {
                        self.process();
                    }
                }
                Loaded::Image(Err(e)) => {
                    self.resume = false;
                    self.error(format!("{e:#}"));
                }
                Loaded::Selected(Ok(s)) => {
                    self.selected = Some(s);
                    self.viewer.refit();
                }
                Loaded::Selected(Err(e)) => self.error(format!("{e:#}")),
            }
        }
        if let Doc::Batch(doc) = &mut self.doc {
            doc.poll();
        }
        let Some(running) = &mut self.running else { return };
        let mut finished = None;
        while let Ok(event) = running.events.try_recv() {
            match event {
                Event::Progress(p) => running.progress.apply(&p),
                Event::BatchPlanned { items, already_done } => {
                    running.progress.planned(&already_done);
                    self.batch_items = items;
                }
                Event::ImageFinished(r) => finished = Some(Ok(r)),
                Event::BatchFinished(r) => finished = Some(Err(r)),
            }
        }
        if let Some(f) = finished {
            let mut running = self.running.take().expect("running");
            running.progress.end();
            let cancelled = running.cancel.load(Ordering::SeqCst);
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
                self.info("Cancelled: the job was stopped; the previous result is still shown.")
            }
            Err(_) if cancelled => self.info("Cancelled: the job was stopped; nothing was processed."),
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
                let mut summary = format!(
                    "Batch: {} done, {} done earlier, {} failed",
                    outcome.done,
                    outcome.already_done,
                    outcome.failed.len()
                );
                if outcome.cancelled {
                    summary.push_str(" — cancelled; Process again to finish the rest");
                }
                self.info(summary);
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
        let Doc::Image(ImageDoc { path: input, result: Some(result), .. }) = &self.doc else {
            return self.error("nothing to save yet: process the image first");
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
                self.info(format!("Saved {}", path.display()));
                self.settings.save_dir = path.parent().map(Path::to_path_buf);
                self.remember();
            }
            Err(e) => self.error(format!("{e:#}")),
        }
    }

    /// Copies every finished batch output into `dir`, atomically, never over an input.
    pub fn save_batch_to(&mut self, dir: PathBuf) {
        if self.batch_items.is_empty() {
            return self.error("nothing to save yet: process the batch first");
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
        self.info(format!("Saved {saved} image(s) to {}", dir.display()));
        self.settings.save_dir = Some(dir);
        self.remember();
    }
}

/// Opened paths are stored absolute (and without `..`), so the next start finds them from
/// whatever directory it is in.
fn absolute(path: PathBuf) -> PathBuf {
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
