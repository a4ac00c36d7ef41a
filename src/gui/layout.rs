//! How the window looks: the menu bar, the controls on the left (`controls`), the messages and
//! the status bar below, the image or batch in the middle; and the keys. Every area keeps its
//! size whatever it shows, so the image never jumps. Reads and calls `GuiApp`; holds no state of
//! its own.

use super::app::GuiApp;
use super::document::{Doc, Freshness, Picked};
use super::messages::Kind;
use super::settings::describe_recent;
use super::viewer::{Compare, ViewEvents};
use crate::chain::OpChain;
use crate::image::Keep;
use egui::{Color32, Key, KeyboardShortcut, Modifiers, RichText, Ui};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const OPEN: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
const SAVE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
const PROCESS: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Enter);
const QUIT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Q);
const UNDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Z);
const REDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::Z);
const REDO_Y: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Y);

/// Height of the message area: always there, so a message never moves the image.
const MESSAGES_HEIGHT: f32 = 66.0;

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
        egui::Panel::bottom("messages")
            .exact_size(MESSAGES_HEIGHT)
            .resizable(false)
            .show(ui, |ui| self.messages_view(ui));
        egui::Panel::left("controls").exact_size(340.0).resizable(false).show(ui, |ui| self.controls(ui));
        egui::CentralPanel::default().show(ui, |ui| self.central(ui));
        if self.is_busy() {
            // Elapsed times in the live view move even between events.
            ui.ctx().request_repaint_after(Duration::from_millis(200));
        } else if let Some(at) = self.messages.next_fade() {
            ui.ctx().request_repaint_after(at.saturating_duration_since(Instant::now()));
        }
    }

    fn keys_and_drops(&mut self, ctx: &egui::Context) {
        let (open, save, process, cancel, quit, redo, undo) = ctx.input_mut(|i| {
            (
                i.consume_shortcut(&OPEN),
                i.consume_shortcut(&SAVE),
                i.consume_shortcut(&PROCESS),
                i.consume_key(Modifiers::NONE, Key::Escape),
                i.consume_shortcut(&QUIT),
                // Before Ctrl+Z, which would match Ctrl+Shift+Z too.
                i.consume_shortcut(&REDO) || i.consume_shortcut(&REDO_Y),
                i.consume_shortcut(&UNDO),
            )
        });
        if quit {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if open {
            self.dialog_open_image();
        }
        if save {
            self.dialog_save();
        }
        if process {
            self.process();
        }
        if cancel {
            self.cancel();
        }
        if undo {
            self.undo();
        }
        if redo {
            self.redo();
        }
        // +, −, 0 and 1 are zoom keys unless a number is being typed.
        if !ctx.egui_wants_keyboard_input() {
            self.viewer.keys(ctx);
        }
        self.video_keys(ctx);
        let dropped: Vec<PathBuf> = ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).collect());
        self.open_paths(dropped);
    }

    fn dialog_open_image(&mut self) {
        let mut d = rfd::FileDialog::new()
            .set_title("Open image")
            .add_filter("Images", &crate::formats::image_extensions())
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
                d.add_filter("Images", &crate::formats::image_extensions()).pick_files()
            };
            picked.map(Picked::Batch)
        });
    }

    /// Save (Ctrl+S): the image's result, or the batch's outputs; refused with the reason when
    /// there is nothing current to save.
    pub fn dialog_save(&mut self) {
        if let Some(why) = self.cannot_save() {
            return self.hint(why);
        }
        match self.doc {
            Doc::Batch(_) => self.dialog_save_batch(),
            _ => self.dialog_save_image(),
        }
    }

    /// "astronaut-gray-canny": the input's name and the ops.
    fn output_stem(&self, input: &std::path::Path) -> String {
        let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
        let ops: Vec<&str> = self.settings.chain.iter().map(|o| o.name()).collect();
        format!("{stem}-{}", ops.join("-"))
    }

    fn dialog_save_image(&mut self) {
        let Doc::Image(doc) = &self.doc else { return };
        let Some(result) = &doc.result else { return };
        let ext = if result.image.channels == 1 || doc.path.extension().is_none() {
            "png".to_string()
        } else {
            doc.path.extension().unwrap_or_default().to_string_lossy().into_owned()
        };
        let mut d = rfd::FileDialog::new()
            .set_title("Save result")
            .set_file_name(format!("{}.{ext}", self.output_stem(&doc.path)));
        for (name, extensions) in crate::formats::save_filters() {
            d = d.add_filter(name, extensions);
        }
        if let Some(dir) = self.settings.save_dir.as_ref().or(self.settings.open_dir.as_ref()) {
            d = d.set_directory(dir);
        }
        self.ask(move || d.save_file().map(Picked::SaveImage));
    }

    /// A save dialog (its button says Save) for a new folder the outputs go into; naming an
    /// existing folder writes into it.
    fn dialog_save_batch(&mut self) {
        let folder = self.settings.inputs.first().cloned().unwrap_or_else(|| PathBuf::from("batch"));
        let mut d = rfd::FileDialog::new()
            .set_title("Save the batch results as a folder")
            .set_file_name(self.output_stem(&folder));
        if let Some(dir) = self.settings.save_dir.as_ref().or(self.settings.open_dir.as_ref()) {
            d = d.set_directory(dir);
        }
        self.ask(move || d.save_file().map(Picked::SaveBatch));
    }

    fn menu_bar(&mut self, ui: &mut Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            let idle = self.running.is_none();
            ui.menu_button("File", |ui| {
                if ui.add_enabled(idle, egui::Button::new("Open image…").shortcut_text("Ctrl+O")).clicked() {
                    self.dialog_open_image();
                }
                if ui.add_enabled(idle, egui::Button::new("Open batch (files)…")).clicked() {
                    self.dialog_open_batch(false);
                }
                if ui.add_enabled(idle, egui::Button::new("Open batch (folder)…")).clicked() {
                    self.dialog_open_batch(true);
                }
                if ui.add_enabled(idle, egui::Button::new("Open video…")).clicked() {
                    self.dialog_open_video();
                }
                if ui.add_enabled(idle, egui::Button::new("Open frame folder…")).clicked() {
                    self.dialog_open_frames();
                }
                ui.add_enabled_ui(idle && !self.settings.recent.is_empty(), |ui| {
                    ui.menu_button("Open recent", |ui| {
                        let mut open = None;
                        for (i, paths) in self.settings.recent.iter().enumerate() {
                            let hover = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join("\n");
                            if ui.button(describe_recent(paths)).on_hover_text(hover).clicked() {
                                open = Some(i);
                            }
                        }
                        if let Some(i) = open {
                            self.open_recent(i);
                        }
                    });
                });
                ui.separator();
                if matches!(self.doc, Doc::Video(_)) {
                    let process = egui::Button::new("Process video…").shortcut_text("Ctrl+Enter");
                    if ui.add_enabled(idle && self.chain().is_ok(), process).clicked() {
                        self.dialog_process_video();
                    }
                }
                let save = if matches!(self.doc, Doc::Batch(_)) { "Save batch…" } else { "Save image…" };
                let why_not = self.cannot_save();
                let response = ui.add_enabled(why_not.is_none(), egui::Button::new(save).shortcut_text("Ctrl+S"));
                if let Some(why) = why_not {
                    response.on_disabled_hover_text(why);
                } else if response.clicked() {
                    self.dialog_save();
                }
                ui.separator();
                if ui.add(egui::Button::new("Quit").shortcut_text("Ctrl+Q")).clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("Edit", |ui| {
                let undo = egui::Button::new("Undo chain edit").shortcut_text("Ctrl+Z");
                if ui.add_enabled(idle && self.history.can_undo(), undo).clicked() {
                    self.undo();
                }
                let redo = egui::Button::new("Redo chain edit").shortcut_text("Ctrl+Shift+Z");
                if ui.add_enabled(idle && self.history.can_redo(), redo).clicked() {
                    self.redo();
                }
            });
            ui.menu_button("View", |ui| {
                ui.radio_value(&mut self.viewer.compare, Compare::Split, "Split view");
                ui.radio_value(&mut self.viewer.compare, Compare::SideBySide, "Side by side");
                ui.separator();
                ui.label(RichText::new("Zoom: + and − keys, 0 fits, 1 is 1:1, or the wheel").small());
                ui.label(RichText::new("Pan: right or middle button, or Space+drag").small());
            });
        });
    }

    fn central(&mut self, ui: &mut Ui) {
        let mut clicked = None;
        let mut back = false;
        let freshness = self.freshness();
        let mut events = ViewEvents::default();
        let states = self.item_states().to_vec();
        let labelled_by =
            self.classified.as_ref().and(self.settings.classify_model.as_ref()).and_then(|m| m.file_name());
        let labelled_by = labelled_by.map(|n| n.to_string_lossy().into_owned());
        match &mut self.doc {
            Doc::Empty => {
                ui.vertical_centered(|ui| {
                    ui.add_space(ui.available_height() / 3.0);
                    ui.heading("Open an image (Ctrl+O), a batch or a video from the File menu, or drop files here.");
                    ui.label("Then pick operations on the left and press Process: every rank of the job takes part.");
                });
            }
            Doc::Image(doc) => {
                let file = doc.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let format = doc.path.extension().map(|e| e.to_string_lossy().to_uppercase()).unwrap_or_default();
                let lost = doc.layout.and_then(|l| l.dropped(&OpChain(self.settings.chain.clone()), Keep::ALL));
                ui.horizontal(|ui| {
                    // The badges first, the file's line cut to the width: a narrow window or a long
                    // name never pushes the toolbar below out of view.
                    freshness_badge(ui, &freshness);
                    if let Some(lost) = lost {
                        let short =
                            if lost.contains("8-bit") { "this chain makes it 8-bit" } else { "this chain drops alpha" };
                        ui.label(RichText::new(short).strong().color(Color32::from_rgb(255, 190, 90)))
                            .on_hover_text(format!("Processing: {lost}"));
                    }
                    let line = format!(
                        "{file} — {}×{}, {}, {format}, {:.1} MB",
                        doc.image.width,
                        doc.image.height,
                        holds(doc),
                        doc.file_bytes as f64 / 1e6
                    );
                    ui.add(egui::Label::new(&line).truncate()).on_hover_text(format!("{line}\n{}", doc.path.display()));
                });
                self.viewer.toolbar(ui, doc.result.is_some());
                events = self.viewer.show(ui, &doc.picture, doc.result.as_ref().map(|r| &r.picture));
            }
            Doc::Batch(doc) => match &self.selected {
                Some(sel) => {
                    ui.horizontal(|ui| {
                        back = ui.button("Back to all images").clicked();
                        let f = &doc.files[sel.index];
                        ui.label(format!("{} — {}", f.path.display(), f.describe()));
                        if sel.after.is_none() {
                            ui.weak("(not processed yet)");
                        }
                    });
                    self.viewer.toolbar(ui, sel.after.is_some());
                    events = self.viewer.show(ui, &sel.before, sel.after.as_ref());
                }
                None => {
                    ui.horizontal(|ui| {
                        match &labelled_by {
                            Some(model) => {
                                ui.label(format!("{} images — labelled by {model}, best first", doc.files.len()))
                            }
                            None => {
                                ui.label(format!("{} images — click one to compare before and after", doc.files.len()))
                            }
                        };
                        freshness_badge(ui, &freshness);
                        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                            ui.selectable_value(&mut doc.show_originals, true, "Originals");
                            ui.selectable_value(&mut doc.show_originals, false, "Results");
                            ui.label("Thumbnails:");
                        });
                    });
                    let labels = self.classified.as_ref().map(|c| c.records.as_slice());
                    clicked = doc.grid(ui, &states, labels);
                }
            },
            Doc::Video(_) => events = self.video_central(ui),
        }
        if let Some(r) = events.fitted {
            let ppp = ui.ctx().pixels_per_point();
            eprintln!(
                "imgproc gui: view: the image lies at {:.0},{:.0} size {:.0}x{:.0} px",
                r.min.x * ppp,
                r.min.y * ppp,
                r.width() * ppp,
                r.height() * ppp
            );
        }
        if let Some((r, [bw, bh], [aw, ah])) = events.fitted_result {
            let ppp = ui.ctx().pixels_per_point();
            eprintln!(
                "imgproc gui: view: the result lies at {:.0},{:.0} size {:.0}x{:.0} px (original {bw}x{bh}, result \
                 {aw}x{ah}, {:?})",
                r.min.x * ppp,
                r.min.y * ppp,
                r.width() * ppp,
                r.height() * ppp,
                self.viewer.compare
            );
        }
        if let Some(split) = events.split_released {
            eprintln!("imgproc gui: view: split line at {:.0} % of the image's width", split * 100.0);
        }
        if back {
            self.selected = None;
        }
        if let Some(i) = clicked {
            self.select(i);
        }
        if self.viewer.compare != self.settings.compare {
            self.settings.compare = self.viewer.compare;
            self.remember();
        }
    }

    /// Newest first; errors stay until dismissed, the rest fade. A fixed height: more scroll.
    fn messages_view(&mut self, ui: &mut Ui) {
        let mut dismiss = None;
        let mut dismiss_all = false;
        if self.messages.is_empty() {
            ui.weak("No messages.");
            return;
        }
        egui::ScrollArea::vertical().id_salt("messages").auto_shrink(false).show(ui, |ui| {
            for (i, m) in self.messages.iter().enumerate() {
                let colour = match m.kind {
                    Kind::Error => ui.visuals().error_fg_color,
                    Kind::Done => Color32::from_rgb(150, 220, 150),
                    Kind::Hint => Color32::from_rgb(150, 200, 255),
                };
                ui.horizontal(|ui| {
                    if ui.small_button("Dismiss").clicked() {
                        dismiss = Some(i);
                    }
                    if i == 0 && self.messages.len() > 1 {
                        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                            dismiss_all = ui.small_button(format!("Dismiss all {}", self.messages.len())).clicked();
                            ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                                ui.add(egui::Label::new(RichText::new(&m.text).color(colour)).truncate())
                                    .on_hover_text(&m.text);
                            });
                        });
                    } else {
                        ui.add(egui::Label::new(RichText::new(&m.text).color(colour)).truncate())
                            .on_hover_text(&m.text);
                    }
                });
            }
        });
        if dismiss_all {
            self.messages.dismiss_all();
        } else if let Some(i) = dismiss {
            self.messages.dismiss(i);
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
                ui.separator();
                let halo = OpChain(self.settings.chain.clone()).total_halo();
                ui.weak(format!("strips overlap by {halo} rows")).on_hover_text(
                    "The halo: each rank also reads this many rows above and below its strip, which the \
                     chain's filters need, so the joined result has no seams.",
                );
            });
        });
    }
}

/// What the file holds: "16-bit gray", "8-bit colour with alpha (RGBA)", or for a file whose
/// header is not read, what was decoded.
fn holds(doc: &super::document::ImageDoc) -> String {
    match doc.layout {
        Some(l) => l.describe(),
        None if doc.image.channels == 1 => "8-bit gray".into(),
        None => "8-bit colour".into(),
    }
}

/// Says next to the file's name whether the result on screen still matches the chain.
fn freshness_badge(ui: &mut Ui, freshness: &Freshness) {
    if let Freshness::OutOfDate { made_with } = freshness {
        ui.label(
            RichText::new("Result out of date: Process to update").strong().color(Color32::from_rgb(255, 190, 90)),
        )
        .on_hover_text(format!("Made with {made_with}; the chain has changed since. Save is off until it matches."));
    }
}
