//! What the user does to the document and the chain outside a job: open an image or a batch
//! (decoded on background threads, taken in by [`GuiApp::loaded`]), show a batch image large,
//! ask a file dialog and act on what was picked, save a result, edit the chain with undo, redo
//! and presets. Running a job is `processing`; a video's actions are `video_actions`.

use super::app::GuiApp;
use super::batch_view::BatchDoc;
use super::document::{Doc, Freshness, ImageDoc, Loaded, Picked, Selected};
use super::opening::{route, Opening};
use super::viewer::Picture;
use crate::chain::OpChain;
use crate::codec;
use crate::image::Keep;
use crate::ops::Op;
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl GuiApp {
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
                // As it is: 16-bit samples and alpha are kept until a chain cannot take them;
                // and as the CLI reads it for a chain that keeps none of them.
                let bytes = codec::read_file(&path)?;
                let name = path.display().to_string();
                let image = codec::decode_keeping(&bytes, &name, max_pixels, Keep::ALL)?;
                let layout = crate::file_layout::FileLayout::probe(&bytes);
                let plain = match layout.filter(|l| l.kept_by(Keep::ALL)) {
                    Some(_) => Some(Arc::new(codec::decode(&bytes, &name, max_pixels)?)),
                    None => None,
                };
                let file_bytes = bytes.len() as u64;
                drop(bytes);
                let picture = Picture::upload(&ctx, "original", &image);
                Ok(ImageDoc { path, file_bytes, layout, image: Arc::new(image), plain, picture, result: None })
            })();
            let _ = tx.send(Loaded::Image(loaded));
            ctx.request_repaint();
        });
    }

    /// What a background thread or a file dialog handed back, as [`GuiApp::poll`] takes it.
    pub(super) fn loaded(&mut self, loaded: Loaded) {
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
            Loaded::Image(loaded) => self.image_loaded(loaded),
            Loaded::Selected(Ok(s)) => {
                self.selected = Some(s);
                self.viewer.refit();
            }
            Loaded::Selected(Err(e)) => self.error(format!("{e:#}")),
            Loaded::Video(loaded) => self.video_loaded(loaded),
        }
    }

    /// The image from [`GuiApp::open_image`] replaces what was open, or what was open stays.
    /// After a relaunch, it is processed at once.
    fn image_loaded(&mut self, loaded: Result<ImageDoc>) {
        match loaded {
            Ok(doc) => {
                let holds = doc.layout.map(|l| format!(", {}", l.describe())).unwrap_or_default();
                eprintln!(
                    "imgproc gui: opened {} ({}x{}{holds})",
                    doc.path.display(),
                    doc.image.width,
                    doc.image.height
                );
                self.opened(vec![doc.path.clone()], false);

                self.doc = Doc::Image(doc);
                self.selected = None;
                // The last job's bar and rank table were another file's.
                self.last_job = None;
                self.viewer.refit();
                if std::mem::take(&mut self.resume) {
                    self.process();
                }
            }
            Err(e) => {
                if std::mem::take(&mut self.resume) {
                    self.messages.unpin();
                }
                let kept = if matches!(self.doc, Doc::Empty) { "" } else { " (what was open stays open)" };
                self.error(format!("{e:#}{kept}"));
            }
        }
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
        self.classified = None;
        self.last_job = None;
        self.doc = Doc::Batch(BatchDoc::open(&self.ctx, files, self.settings.max_pixels));
        if std::mem::take(&mut self.resume) {
            self.process();
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
            Picked::Model(path) => self.choose_model(path),
        }
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

    /// The chain was `before` and the user changed it; `continuing` while the same drag goes on.
    pub fn chain_edited(&mut self, before: Vec<Op>, continuing: bool) {
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
        eprintln!("imgproc gui: preset \"{name}\" applied: the chain is {}", OpChain(self.settings.chain.clone()));
        self.chain_edited(before, false);
    }

    pub fn delete_preset(&mut self, name: &str) {
        if self.settings.presets.remove(name).is_some() {
            self.remember();
        }
    }
}

/// Opened paths are stored absolute (and without `..`), so the next start finds them from
/// whatever directory it is in.
pub(super) fn absolute(path: PathBuf) -> PathBuf {
    path.canonicalize().or_else(|_| std::path::absolute(&path)).unwrap_or(path)
}

impl GuiApp {
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

    /// Takes the batch thumbnails decoded since the last frame, originals and results.
    pub(super) fn poll_batch_doc(&mut self) {
        let Doc::Batch(doc) = &mut self.doc else { return };
        let before = doc.result_count();
        doc.poll();
        // Every change is logged: the last thumbnails may decode before or after the run's end.
        if doc.result_count() != before {
            eprintln!("imgproc gui: the batch grid shows {} result thumbnail(s)", doc.result_count());
        }
    }
}
