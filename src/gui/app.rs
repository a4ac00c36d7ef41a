//! The window's state, [`GuiApp`], and its life as eframe's app: how it starts (from the stored
//! settings, resuming a job a crash cut short), each frame (drawn by `layout`, the settings
//! stored as soon as they change), and what it tells the user. What is open is `document`; what
//! the user does is `actions`, `processing` (the job, held as `job::Running`) and
//! `video_actions`. The ranks are reached only through the coordinator's channel, so nothing
//! here blocks: opening decodes on a background thread, processing runs on the MPI thread.

use super::display_lost;
use super::document::{Doc, Loaded, Selected};
use super::history::ChainHistory;
use super::job::Running;
use super::messages::{Kind, Messages};
use super::progress::JobProgress;
use super::settings::Settings;
use super::viewer::Viewer;
use crate::batch::BatchItem;
use crate::chain::OpChain;
use crate::coordinator::{Request, Wake};
use crate::model::{BatchOutcome, RankInfo};
use anyhow::Result;
use egui::{Context, Ui};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

/// The window: what is open, the job on the ranks, the settings, and what the user was told.
/// Fields the headless tests read or set (`tests/gui_logic`) are public; the rest are the GUI's own.
pub struct GuiApp {
    pub settings: Settings,
    /// Settings changed since they were last stored ([`GuiApp::remember`]).
    settings_dirty: bool,
    pub ranks: Vec<RankInfo>,
    pub(super) jobs: Sender<Request>,
    pub(super) ctx: Context,
    /// Where batches write before the user saves them (a journal per job, so they resume).
    pub(super) work_dir: PathBuf,
    pub doc: Doc,
    pub(super) selected: Option<Selected>,
    pub(super) loaded_tx: Sender<Loaded>,
    pub(super) loaded_rx: Receiver<Loaded>,
    /// Background loads under way.
    pub loading: usize,
    /// A file dialog is open (on its own thread).
    pub(super) dialog_open: bool,
    pub running: Option<Running>,
    /// The last job's progress, kept for the live view after it ends (until another file opens).
    pub last_job: Option<JobProgress>,
    /// The bar's text as last logged (`processing::log_bar`), so each change is logged once.
    pub(super) logged_bar: String,
    pub(super) batch_items: Vec<BatchItem>,
    /// The labels of the batch's last classify run, as its results file holds them.
    pub classified: Option<super::classify_results::ClassifyResults>,
    pub batch_outcome: Option<BatchOutcome>,
    /// What the batch outputs on disk were made with (chain and format), as `recipe` spells it.
    pub(super) batch_made_with: Option<String>,
    pub viewer: Viewer,
    pub messages: Messages,
    /// Chain edits that Ctrl+Z undoes.
    pub history: ChainHistory,
    /// Start processing as soon as the inputs are loaded (relaunch after a crash).
    pub(super) resume: bool,
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
            logged_bar: String::new(),
            batch_items: Vec::new(),
            classified: None,
            batch_outcome: None,
            batch_made_with: None,
            messages: Messages::default(),
            history: ChainHistory::default(),
            resume: false,
        };
        if app.settings.interrupted && !app.settings.inputs.is_empty() {
            // Pinned: it stays while the job it started runs (see `job_ended`).
            let notice = "The last job was interrupted (a node failed, or the process or its display was lost): \
                          running it again; batch images already finished are kept.";
            eprintln!("imgproc gui: {notice}");
            app.messages.push_pinned(Kind::Done, notice.into());
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

    /// The settings changed: they are stored at the end of this frame.
    pub(super) fn remember(&mut self) {
        self.settings_dirty = true;
    }

    /// The chain as the ranks run it, or why it cannot run.
    pub fn chain(&self) -> Result<OpChain> {
        anyhow::ensure!(!self.settings.chain.is_empty(), "add an operation first");
        for op in &self.settings.chain {
            op.validate()?;
        }
        Ok(OpChain(self.settings.chain.clone()))
    }
}

impl eframe::App for GuiApp {
    fn ui(&mut self, ui: &mut Ui, frame: &mut eframe::Frame) {
        // GTK sets its own handler for a lost display when its first file dialog opens: ours
        // again, every frame (a call into Xlib, no more).
        display_lost::install();
        self.draw(ui);
        if self.settings_dirty {
            if let Some(storage) = frame.storage_mut() {
                // At once, not at eframe's next auto-save: a crash must not lose "interrupted".
                self.settings.store_now(storage);
            }
            self.settings_dirty = false;
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.settings.store(storage);
    }
}
