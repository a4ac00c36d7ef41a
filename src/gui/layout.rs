//! How the window looks: menu bar, controls on the left (operations, Process, Cancel, progress,
//! the live view of the ranks), the image or batch in the middle, the status bar below. Reads
//! and calls `GuiApp`; holds no state of its own.

use super::app::{Doc, GuiApp, Message, Picked};
use super::chain_editor;
use super::display_lost;
use super::progress::JobProgress;
use crate::chain::OpChain;
use egui::{Color32, Key, KeyboardShortcut, Modifiers, RichText, Ui};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

const OPEN: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
const SAVE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
const PROCESS: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Enter);
const QUIT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Q);

impl eframe::App for GuiApp {
    fn ui(&mut self, ui: &mut Ui, frame: &mut eframe::Frame) {
        // GTK sets its own handler for a lost display when its first file dialog opens: ours
        // again, every frame (a call into Xlib, no more).
        display_lost::install();
        self.draw(ui);
        if self.settings_dirty {
            if let Some(storage) = frame.storage_mut() {
                eframe::set_value(storage, eframe::APP_KEY, &self.settings);
                // At once, not at eframe's next auto-save: a crash must not lose "interrupted".
                storage.flush();
            }
            self.settings_dirty = false;
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }
}

impl GuiApp {
    /// The whole window, one frame. Public for the headless tests.
    pub fn draw(&mut self, ui: &mut Ui) {
        self.poll();
        if ui.ctx().input(|i| i.viewport().close_requested()) {
            // The close button, Ctrl+Q and File ▸ Quit all arrive here; `ui` stores the settings
            // right after, before eframe ends the event loop.
            self.quit();
        }
        self.keys_and_drops(ui.ctx());
        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        egui::Panel::left("controls").default_size(330.0).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| self.controls(ui));
        });
        egui::CentralPanel::default().show(ui, |ui| self.central(ui));
        if self.is_busy() {
            // Elapsed times in the live view move even between events.
            ui.ctx().request_repaint_after(Duration::from_millis(200));
        }
    }

    fn keys_and_drops(&mut self, ctx: &egui::Context) {
        let (open, save, process, cancel, quit) = ctx.input_mut(|i| {
            (
                i.consume_shortcut(&OPEN),
                i.consume_shortcut(&SAVE),
                i.consume_shortcut(&PROCESS),
                i.consume_key(Modifiers::NONE, Key::Escape),
                i.consume_shortcut(&QUIT),
            )
        });
        if quit {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if open {
            self.dialog_open_image();
        }
        if save {
            match self.doc {
                Doc::Batch(_) => self.dialog_save_batch(),
                _ => self.dialog_save_image(),
            }
        }
        if process {
            self.process();
        }
        if cancel {
            self.cancel();
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).collect());
        self.open_paths(dropped);
    }

    fn dialog_open_image(&mut self) {
        let mut d = rfd::FileDialog::new()
            .set_title("Open image")
            .add_filter("Images", &crate::batch::IMAGE_EXTENSIONS)
            .add_filter("All files", &["*"]);
        if let Some(dir) = &self.settings.open_dir {
            d = d.set_directory(dir);
        }
        self.ask(move || d.pick_file().map(Picked::Image));
    }

    fn dialog_open_batch(&mut self, folder: bool) {
        let mut d = rfd::FileDialog::new().set_title(if folder {
            "Open a folder as a batch"
        } else {
            "Open images as a batch"
        });
        if let Some(dir) = &self.settings.open_dir {
            d = d.set_directory(dir);
        }
        self.ask(move || {
            let picked = if folder {
                d.pick_folder().map(|f| vec![f])
            } else {
                d.add_filter("Images", &crate::batch::IMAGE_EXTENSIONS).pick_files()
            };
            picked.map(Picked::Batch)
        });
    }

    fn dialog_save_image(&mut self) {
        let Doc::Image(doc) = &self.doc else { return };
        let Some(result) = &doc.result else {
            return self.error("nothing to save yet: process the image first");
        };
        let stem = doc.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
        let ops: Vec<&str> = self.settings.chain.iter().map(|o| o.name()).collect();
        let ext = if result.image.channels == 1 || doc.path.extension().is_none() {
            "png".to_string()
        } else {
            doc.path.extension().unwrap_or_default().to_string_lossy().into_owned()
        };
        let mut d = rfd::FileDialog::new()
            .set_title("Save result")
            .set_file_name(format!("{stem}-{}.{ext}", ops.join("-")))
            .add_filter("PNG", &["png"])
            .add_filter("JPEG", &["jpg", "jpeg"])
            .add_filter("TIFF", &["tif", "tiff"])
            .add_filter("BMP", &["bmp"])
            .add_filter("WebP", &["webp"]);
        if let Some(dir) = self.settings.save_dir.as_ref().or(self.settings.open_dir.as_ref()) {
            d = d.set_directory(dir);
        }
        self.ask(move || d.save_file().map(Picked::SaveImage));
    }

    fn dialog_save_batch(&mut self) {
        let mut d = rfd::FileDialog::new().set_title("Save the batch results into a folder");
        if let Some(dir) = self.settings.save_dir.as_ref().or(self.settings.open_dir.as_ref()) {
            d = d.set_directory(dir);
        }
        self.ask(move || d.pick_folder().map(Picked::SaveBatch));
    }

    fn menu_bar(&mut self, ui: &mut Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                let idle = self.running.is_none();
                if ui.add_enabled(idle, egui::Button::new("Open image…").shortcut_text("Ctrl+O")).clicked() {
                    self.dialog_open_image();
                }
                if ui.add_enabled(idle, egui::Button::new("Open batch (files)…")).clicked() {
                    self.dialog_open_batch(false);
                }
                if ui.add_enabled(idle, egui::Button::new("Open batch (folder)…")).clicked() {
                    self.dialog_open_batch(true);
                }
                ui.separator();
                let has_image = matches!(&self.doc, Doc::Image(d) if d.result.is_some());
                if ui.add_enabled(has_image, egui::Button::new("Save image…").shortcut_text("Ctrl+S")).clicked() {
                    self.dialog_save_image();
                }
                let has_batch = !self.batch_items.is_empty() && self.running.is_none();
                if ui.add_enabled(has_batch, egui::Button::new("Save batch…")).clicked() {
                    self.dialog_save_batch();
                }
                ui.separator();
                if ui.add(egui::Button::new("Quit").shortcut_text("Ctrl+Q")).clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
        });
    }

    fn controls(&mut self, ui: &mut Ui) {
        ui.heading("Operations");
        ui.add_enabled_ui(self.running.is_none(), |ui| {
            if chain_editor::show(ui, &mut self.settings.chain) {
                self.settings_dirty = true;
            }
        });
        let chain = self.chain();
        match &chain {
            Ok(c) => {
                ui.label(RichText::new(format!("CLI: --op {c}")).monospace().small())
                    .on_hover_text("The same job from the CLI");
            }
            Err(e) => {
                ui.colored_label(Color32::LIGHT_RED, format!("{e:#}"));
            }
        }
        let mut rank0_works = !self.settings.coordinator_only;
        if ui
            .checkbox(&mut rank0_works, "Rank 0 takes a share of the work")
            .on_hover_text("Off: rank 0 only coordinates (when there are other ranks)")
            .changed()
        {
            self.settings.coordinator_only = !rank0_works;
            self.settings_dirty = true;
        }
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            let can_process = self.running.is_none() && chain.is_ok() && !matches!(self.doc, Doc::Empty);
            let process = egui::Button::new(RichText::new("Process").strong().size(16.0));
            if ui.add_enabled(can_process, process).on_hover_text("Ctrl+Enter").clicked() {
                self.process();
            }
            let can_cancel = self.running.is_some() && !self.cancelling();
            if ui.add_enabled(can_cancel, egui::Button::new("Cancel")).on_hover_text("Esc").clicked() {
                self.cancel();
            }
            let save_label = if matches!(self.doc, Doc::Batch(_)) { "Save batch…" } else { "Save image…" };
            let can_save = self.running.is_none()
                && match &self.doc {
                    Doc::Image(d) => d.result.is_some(),
                    Doc::Batch(_) => !self.batch_items.is_empty(),
                    Doc::Empty => false,
                };
            if ui.add_enabled(can_save, egui::Button::new(save_label)).on_hover_text("Ctrl+S").clicked() {
                match self.doc {
                    Doc::Batch(_) => self.dialog_save_batch(),
                    _ => self.dialog_save_image(),
                }
            }
        });
        if let Some(r) = &self.running {
            let p = &r.progress;
            let what = if r.batch { "images" } else { "strips" };
            let text = format!(
                "{:.0} % · {}/{} {what} · {:.1} s",
                p.fraction() * 100.0,
                p.finished,
                p.total,
                p.started.elapsed().as_secs_f32()
            );
            ui.add(egui::ProgressBar::new(p.fraction()).text(text).animate(true));
            if self.cancelling() {
                ui.label("Cancelling…");
            }
        } else if let Some(p) = &self.last_job {
            let secs = p.elapsed.unwrap_or_default().as_secs_f32();
            ui.add(egui::ProgressBar::new(p.fraction()).text(format!("{}/{} in {secs:.2} s", p.finished, p.total)));
        }
        let live = self.running.as_ref().map(|r| &r.progress).or(self.last_job.as_ref());
        if let Some(p) = live {
            ui.add_space(8.0);
            ui.strong("Ranks");
            rank_table(ui, p);
        }
        if let Doc::Image(doc) = &self.doc {
            if let Some(r) = &doc.result {
                ui.add_space(8.0);
                ui.strong(format!("Last result: {}", r.chain));
                egui::Grid::new("phases").striped(true).show(ui, |ui| {
                    for h in ["rank", "send s", "compute s", "global s", "wait s", "collect s"] {
                        ui.label(RichText::new(h).small());
                    }
                    ui.end_row();
                    for s in &r.stats {
                        ui.label(s.rank.to_string());
                        for v in [s.send_secs, s.compute_secs, s.global_secs, s.wait_secs, s.collect_secs] {
                            ui.label(format!("{v:.3}"));
                        }
                        ui.end_row();
                    }
                });
            }
        }
    }

    fn central(&mut self, ui: &mut Ui) {
        self.messages_view(ui);
        if self.loading > 0 {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Loading…");
            });
        }
        let mut clicked = None;
        let mut back = false;
        match &self.doc {
            Doc::Empty => {
                ui.vertical_centered(|ui| {
                    ui.add_space(ui.available_height() / 3.0);
                    ui.heading("Open an image (Ctrl+O) or a batch from the File menu, or drop files here.");
                    ui.label("Then pick operations on the left and press Process: every rank of the job takes part.");
                });
            }
            Doc::Image(doc) => {
                let file = doc.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let format = doc.path.extension().map(|e| e.to_string_lossy().to_uppercase()).unwrap_or_default();
                ui.label(format!(
                    "{file} — {}×{}, {} channel(s), {format}, {:.1} MB",
                    doc.image.width,
                    doc.image.height,
                    doc.image.channels,
                    doc.file_bytes as f64 / 1e6
                ));
                self.viewer.toolbar(ui, doc.result.is_some());
                self.viewer.show(ui, &doc.picture, doc.result.as_ref().map(|r| &r.picture));
            }
            Doc::Batch(doc) => match &self.selected {
                Some(sel) => {
                    ui.horizontal(|ui| {
                        back = ui.button("← All images").clicked();
                        let f = &doc.files[sel.index];
                        ui.label(format!("{} — {}", f.path.display(), f.describe()));
                        if sel.after.is_none() {
                            ui.weak("(not processed yet)");
                        }
                    });
                    self.viewer.toolbar(ui, sel.after.is_some());
                    self.viewer.show(ui, &sel.before, sel.after.as_ref());
                }
                None => {
                    ui.label(format!("{} images — click one to compare before and after", doc.files.len()));
                    clicked = doc.grid(ui, self.item_states());
                }
            },
        }
        if back {
            self.selected = None;
        }
        if let Some(i) = clicked {
            self.select(i);
        }
        if self.viewer.compare != self.settings.compare {
            self.settings.compare = self.viewer.compare;
            self.settings_dirty = true;
        }
    }

    fn messages_view(&mut self, ui: &mut Ui) {
        let mut dismiss = None;
        let errors = self.messages.iter().filter(|m| matches!(m, Message::Error(_))).count();
        egui::ScrollArea::vertical().id_salt("messages").max_height(140.0).show(ui, |ui| {
            for (i, m) in self.messages.iter().enumerate() {
                let (text, colour) = match m {
                    Message::Error(t) => (t, Color32::from_rgb(255, 120, 120)),
                    Message::Info(t) => (t, Color32::from_rgb(150, 200, 255)),
                };
                ui.horizontal(|ui| {
                    if ui.small_button("x").on_hover_text("Dismiss").clicked() {
                        dismiss = Some(i);
                    }
                    ui.colored_label(colour, text);
                });
            }
        });
        if errors > 1 && ui.small_button(format!("Dismiss all {} messages", self.messages.len())).clicked() {
            self.messages.clear();
        }
        if let Some(i) = dismiss {
            self.messages.remove(i);
        }
        if !self.messages.is_empty() {
            ui.separator();
        }
    }

    fn status_bar(&mut self, ui: &mut Ui) {
        // Each host counted once, with the cores it reports.
        let mut hosts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for r in &self.ranks {
            let e = hosts.entry(r.host.as_str()).or_insert((0, r.cores));
            e.0 += 1;
        }
        let cores: usize = hosts.values().map(|(_, c)| c).sum();
        let list: Vec<String> = hosts.iter().map(|(h, (n, c))| format!("{h} ({n} rank(s), {c} cores)")).collect();
        ui.horizontal(|ui| {
            ui.label(format!(
                "{} rank(s) on {} host(s), {cores} cores: {}",
                self.ranks.len(),
                hosts.len(),
                list.join(", ")
            ));
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let state = match &self.running {
                    Some(_) if self.cancelling() => "cancelling",
                    Some(_) => "processing",
                    None if self.loading > 0 => "loading",
                    None => "ready",
                };
                ui.label(state);
                let halo = OpChain(self.settings.chain.clone()).total_halo();
                ui.weak(format!("halo {halo} rows"));
            });
        });
    }
}

fn rank_table(ui: &mut Ui, p: &JobProgress) {
    egui::Grid::new("ranks").striped(true).show(ui, |ui| {
        for h in ["rank", "host", "doing", "took"] {
            ui.label(RichText::new(h).small());
        }
        ui.end_row();
        for r in &p.ranks {
            ui.label(r.rank.to_string());
            ui.label(&r.host);
            match (r.busy_since, r.strip_fraction) {
                (Some(t), Some(f)) => {
                    let text = format!("{} · {:.0} % ({:.1} s)", r.work, f * 100.0, t.elapsed().as_secs_f32());
                    ui.add(egui::ProgressBar::new(f).desired_width(170.0).text(text))
                }
                (Some(t), None) => {
                    ui.colored_label(Color32::LIGHT_BLUE, format!("{} ({:.1} s)", r.work, t.elapsed().as_secs_f32()))
                }
                (None, _) => ui.label(format!("{} · {} done", r.work, r.finished)),
            };
            ui.label(r.last_secs.map(|s| format!("{s:.2} s")).unwrap_or_default());
            ui.end_row();
        }
    });
}
