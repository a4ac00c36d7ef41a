//! Classify mode: an opened batch through an ONNX model (`imgproc classify`'s job, on every
//! rank), each thumbnail labelled with its best labels as its line reaches the results file.
//!
//! The labels the grid shows are read back from the results file itself (`classify_results`),
//! so what the window shows is what the file holds.

use super::app::GuiApp;
use super::classify_results::ClassifyResults;
use super::document::{Doc, Picked};
use super::job::Running;
use super::progress::JobProgress;
use crate::classify::spec::SpecFlags;
use crate::coordinator::Request;
use crate::jobs::classify::ClassifyRequest;
use crate::model::BatchOutcome;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::sync::Arc;

impl GuiApp {
    /// Runs the open batch through the chosen model on every rank; asks for the model first when
    /// none is chosen.
    pub fn classify(&mut self) {
        if self.running.is_some() {
            return;
        }
        let Doc::Batch(doc) = &self.doc else { return self.hint("open a batch of images to classify") };
        let Some(model) = self.settings.classify_model.clone() else { return self.dialog_model() };
        let files: Vec<PathBuf> = doc.files.iter().map(|f| f.path.clone()).collect();
        let results = self.classify_dir(&files, &model).join("results.jsonl");
        if let Err(e) = std::fs::create_dir_all(results.parent().expect("a folder")) {
            return self.error(format!("{}: cannot create: {e}", results.display()));
        }
        let job = ClassifyRequest {
            inputs: files.clone(),
            results: results.clone(),
            model: model.clone(),
            flags: SpecFlags::default(),
            batch_size: 1,
            max_pixels: self.settings.max_pixels,
            shared_dir: None,
            send_files: false,
            coordinator_only: self.settings.coordinator_only,
        };
        let (reply, events) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let request = Request::Classify { job, cancel: Arc::clone(&cancel), pause: None, reply, wake: self.wake() };
        if let Err(e) = self.jobs.send(request) {
            return self.error(format!("cannot start the job: {e}"));
        }
        eprintln!("imgproc gui: classifying the batch on {} rank(s) with {}", self.ranks.len(), model.display());
        self.classified = Some(ClassifyResults::new(results, &files));
        self.batch_items.clear();
        self.selected = None;
        let progress = JobProgress::new(&self.ranks);
        self.running = Some(Running { events, cancel, progress, batch: true, classify: true, cancel_asked: None });
        self.messages.drop_hints();
    }

    /// Where a classify run of these images with this model writes: the same folder each time,
    /// so a run cut short goes on from its journal.
    fn classify_dir(&self, files: &[PathBuf], model: &Path) -> PathBuf {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        files.hash(&mut h);
        model.hash(&mut h);
        self.work_dir.join(format!("classify-{:016x}", h.finish()))
    }

    /// The file dialog for the model (`.onnx`; its sidecar `M.json` beside it).
    pub fn dialog_model(&mut self) {
        let mut d = rfd::FileDialog::new().set_title("Choose an ONNX model").add_filter("ONNX models", &["onnx"]);
        if let Some(dir) = self.settings.classify_model.as_ref().and_then(|m| m.parent()) {
            d = d.set_directory(dir);
        }
        self.ask(move || d.pick_file().map(Picked::Model));
    }

    /// The model to classify with from now on; its sidecar and labels are checked when a run
    /// starts (and any problem said then, naming the file).
    pub fn choose_model(&mut self, model: PathBuf) {
        let model = super::actions::absolute(model);
        self.done(format!("Model: {}", model.display()));
        self.settings.classify_model = Some(model);
        self.remember();
    }

    /// The run is over: what it labelled, what failed, where the results are.
    pub(super) fn classify_finished(&mut self, result: Result<BatchOutcome, String>) {
        if let Some(c) = &mut self.classified {
            c.poll();
        }
        let outcome = match result {
            Err(e) => return self.error(format!("classify could not run: {e}")),
            Ok(o) => o,
        };
        for (input, reason) in &outcome.failed {
            let path = input.display().to_string();
            self.error(if reason.contains(&path) { reason.clone() } else { format!("{path}: {reason}") });
        }
        let mut summary = format!("Classify: {} done, {} failed", outcome.done, outcome.failed.len());
        if outcome.already_done > 0 {
            summary.push_str(&format!("; {} labelled by an earlier run and kept", outcome.already_done));
        }
        if outcome.cancelled {
            summary.push_str(" — cancelled; Classify again to finish the rest");
        }
        if let Some(c) = &self.classified {
            summary.push_str(&format!(". Results: {}", c.path.display()));
        }
        self.done(summary);
    }
}
