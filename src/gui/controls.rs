//! The left panel, of fixed width: Process, Cancel and Save pinned at its top (they never move,
//! whatever the job, the messages or the chain show); the op chain (with undo, redo and presets)
//! below them, scrolling when long; the job at the bottom, always in view: the batch output
//! format, the progress bar with time left, what each rank is doing and the time per phase.
//! Reads and calls `GuiApp`.

use super::app::GuiApp;
use super::chain_editor;
use super::document::{Doc, Freshness};
use super::places;
use super::progress::JobProgress;
use super::settings::batch_formats;
use egui::containers::menu::{MenuButton, MenuConfig};
use egui::{Color32, PopupCloseBehavior, RichText, Ui};

/// The hint text of the preset name field (the tests find the field by it).
pub const PRESET_NAME: &str = "preset name";

impl GuiApp {
    pub(super) fn controls(&mut self, ui: &mut Ui) {
        egui::Panel::top("actions").resizable(false).show_separator_line(true).show(ui, |ui| self.actions_row(ui));
        egui::Panel::bottom("job").resizable(false).show_separator_line(true).show(ui, |ui| self.job(ui));
        ui.horizontal(|ui| {
            ui.heading("Operations");
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                self.presets_menu(ui);
                let idle = self.running.is_none();
                if ui
                    .add_enabled(idle && self.history.can_redo(), egui::Button::new("Redo"))
                    .on_hover_text("Ctrl+Shift+Z")
                    .clicked()
                {
                    self.redo();
                }
                if ui
                    .add_enabled(idle && self.history.can_undo(), egui::Button::new("Undo"))
                    .on_hover_text("Ctrl+Z")
                    .clicked()
                {
                    self.undo();
                }
            });
        });
        egui::ScrollArea::vertical().id_salt("chain").auto_shrink(false).show(ui, |ui| {
            ui.add_enabled_ui(self.running.is_none(), |ui| {
                let before = self.settings.chain.clone();
                if chain_editor::show(ui, &mut self.settings.chain) {
                    // A drag on a number field is one edit, however many frames it lasts.
                    let dragging = ui.input(|i| i.pointer.any_down());
                    self.chain_edited(before, dragging);
                }
                if !ui.input(|i| i.pointer.any_down()) {
                    self.history.close();
                }
            });
            ui.add_space(6.0);
            match self.chain() {
                Ok(c) => cli_line(ui, &c.to_string()),
                Err(e) => {
                    ui.colored_label(ui.visuals().error_fg_color, format!("{e:#}"));
                }
            }
        });
    }

    /// The presets: load or delete one, or name the chain to keep it. The menu stays open while
    /// its name field is clicked and typed into (egui's menus close on any click inside by
    /// default); Enter or the button saves.
    fn presets_menu(&mut self, ui: &mut Ui) {
        let id = ui.make_persistent_id("preset-name");
        let config = MenuConfig::new().close_behavior(PopupCloseBehavior::CloseOnClickOutside);
        let focus_id = id.with("focused");
        let (button, open) = MenuButton::new("Presets").config(config).ui(ui, |ui| {
            ui.set_min_width(260.0);
            let mut load = None;
            let mut delete = None;
            if self.settings.presets.is_empty() {
                ui.weak("No presets yet: name the chain below to keep it.");
            }
            for (name, chain) in &self.settings.presets {
                ui.horizontal(|ui| {
                    let text = crate::chain::OpChain(chain.clone()).to_string();
                    let button = ui.add_enabled(self.running.is_none(), egui::Button::new(name)).on_hover_text(text);
                    places::log(ui, &format!("preset {name}"), &button);
                    if button.clicked() {
                        load = Some(name.clone());
                    }
                    if ui.small_button("Delete").on_hover_text(format!("Delete the preset \"{name}\"")).clicked() {
                        delete = Some(name.clone());
                    }
                });
            }
            ui.separator();
            let mut name = ui.data_mut(|d| d.get_temp::<String>(id).unwrap_or_default());
            ui.horizontal(|ui| {
                let field = ui.add(egui::TextEdit::singleline(&mut name).hint_text(PRESET_NAME).desired_width(150.0));
                places::log(ui, "preset name", &field);
                // The field has the keyboard as the menu opens: typing names the preset at once.
                if ui.data(|d| d.get_temp::<bool>(focus_id)).is_none() {
                    field.request_focus();
                    ui.data_mut(|d| d.insert_temp(focus_id, true));
                }
                let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if ui.button("Save chain as preset").clicked() || entered {
                    self.save_preset(&name);
                    name.clear();
                }
            });
            ui.data_mut(|d| d.insert_temp(id, name));
            if let Some(name) = load {
                self.load_preset(&name);
                ui.close();
            }
            if let Some(name) = delete {
                self.delete_preset(&name);
            }
        });
        if open.is_none() {
            ui.data_mut(|d| d.remove::<bool>(focus_id));
        }
        places::log(ui, "Presets", &button);
    }

    /// Process, Cancel and Save: one row at the panel's top, in the same place whatever else
    /// the window shows.
    fn actions_row(&mut self, ui: &mut Ui) {
        ui.add_space(4.0);
        let freshness = self.freshness();
        ui.horizontal(|ui| {
            let can_process = self.running.is_none() && self.chain().is_ok() && !matches!(self.doc, Doc::Empty);
            let hover = match &freshness {
                Freshness::OutOfDate { .. } => "Ctrl+Enter. Makes the result again with the chain as it is now",
                _ => "Ctrl+Enter",
            };
            let video = matches!(self.doc, Doc::Video(_));
            let label = if video { "Process video…" } else { "Process" };
            let process = egui::Button::new(RichText::new(label).strong().size(16.0));
            let response = ui.add_enabled(can_process, process).on_hover_text(hover);
            places::log(ui, "Process", &response);
            if response.clicked() {
                self.process();
            }
            if matches!(self.doc, Doc::Batch(_)) {
                let hover = match &self.settings.classify_model {
                    Some(m) => format!("Label every image with {} on every rank", m.display()),
                    None => "Choose an ONNX model, then label every image with it on every rank".into(),
                };
                let response =
                    ui.add_enabled(self.running.is_none(), egui::Button::new("Classify")).on_hover_text(hover);
                places::log(ui, "Classify", &response);
                if response.clicked() {
                    self.classify();
                }
            }
            let can_cancel = self.running.is_some() && !self.cancelling();
            if ui.add_enabled(can_cancel, egui::Button::new("Cancel")).on_hover_text("Esc").clicked() {
                self.cancel();
            }
            if video {
                return; // a video is written by Process video…
            }
            let save_label = if matches!(self.doc, Doc::Batch(_)) { "Save batch…" } else { "Save image…" };
            let why_not = self.cannot_save();
            let response = ui.add_enabled(why_not.is_none(), egui::Button::new(save_label));
            match why_not {
                Some(why) => {
                    response.on_disabled_hover_text(why);
                }
                None => {
                    if response.on_hover_text("Ctrl+S").clicked() {
                        self.dialog_save();
                    }
                }
            }
        });
        ui.add_space(2.0);
    }

    fn job(&mut self, ui: &mut Ui) {
        ui.add_space(4.0);
        if matches!(self.doc, Doc::Batch(_)) {
            let current = self.settings.batch_format.clone();
            let formats = batch_formats();
            let label = formats.iter().find(|(_, e)| e.map(str::to_string) == current).map_or("?", |(l, _)| l);
            ui.add_enabled_ui(self.running.is_none(), |ui| {
                egui::ComboBox::from_label("output format").selected_text(label).show_ui(ui, |ui| {
                    for &(label, ext) in &formats {
                        let ext = ext.map(str::to_string);
                        if ui.selectable_label(current == ext, label).clicked() && current != ext {
                            self.settings.batch_format = ext;
                            self.remember();
                        }
                    }
                })
            })
            .response
            .on_hover_text("JPEG loses detail (edges, text); PNG and TIFF keep every pixel");
        }
        if matches!(self.doc, Doc::Batch(_)) {
            ui.horizontal(|ui| {
                let name = self.settings.classify_model.as_ref().and_then(|m| m.file_name());
                let name = name.map_or("none".into(), |n| n.to_string_lossy().into_owned());
                ui.label(format!("Model: {name}"));
                let button = ui.add_enabled(self.running.is_none(), egui::Button::new("Choose model…"));
                places::log(ui, "Choose model", &button);
                if button.on_hover_text("The ONNX model Classify uses; its sidecar M.json sits beside it").clicked() {
                    self.dialog_model();
                }
            });
        }
        let mut rank0_works = !self.settings.coordinator_only;
        if ui
            .checkbox(&mut rank0_works, "Rank 0 takes a share of the work")
            .on_hover_text("Off: rank 0 only coordinates (when there are other ranks)")
            .changed()
        {
            self.settings.coordinator_only = !rank0_works;
            self.remember();
        }
        let (live, batch) = match (&self.running, &self.last_job) {
            (Some(r), _) => (Some(&r.progress), r.batch),
            (None, Some(p)) => (Some(p), matches!(self.doc, Doc::Batch(_))),
            (None, None) => (None, false),
        };
        if let Some(p) = live {
            progress_bar(ui, p, batch, self.running.is_some());
            if self.cancelling() {
                ui.label("Cancelling…");
            }
            ui.strong("Ranks");
            egui::ScrollArea::vertical().id_salt("ranks").max_height(130.0).show(ui, |ui| rank_table(ui, p));
        }
        if let Doc::Image(doc) = &self.doc {
            if let Some(r) = &doc.result {
                egui::CollapsingHeader::new("Time per phase of the last result").show(ui, |ui| {
                    ui.label(RichText::new(&r.chain).monospace().small());
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
                });
            }
        }
        ui.add_space(4.0);
    }
}

/// The same job from the CLI, broken only after a `,` or a `:` so no name is cut; Copy gives
/// the exact text.
fn cli_line(ui: &mut Ui, chain: &str) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("Same job from the CLI:").small());
        if ui.small_button("Copy").on_hover_text("Copies --op with the chain").clicked() {
            ui.ctx().copy_text(format!("--op {chain}"));
        }
    });
    let font = egui::TextStyle::Monospace.resolve(ui.style());
    let char_width = ui.ctx().fonts_mut(|f| f.glyph_width(&font, 'm')).max(1.0);
    let max_chars = (ui.available_width() / char_width).floor() as usize;
    for line in cli_lines(&format!("--op {chain}"), max_chars) {
        ui.add(egui::Label::new(RichText::new(line).monospace()).extend());
    }
}

/// `text` in lines of at most `max_chars` (unless one piece is longer), broken after `,` and `:`;
/// continuation lines are indented under the chain.
pub fn cli_lines(text: &str, max_chars: usize) -> Vec<String> {
    const INDENT: &str = "     ";
    let mut lines = Vec::new();
    let mut line = String::new();
    for piece in text.split_inclusive([',', ':']) {
        if !line.trim().is_empty() && line.chars().count() + piece.chars().count() > max_chars {
            lines.push(std::mem::replace(&mut line, INDENT.to_string()));
        }
        line.push_str(piece);
    }
    lines.push(line);
    lines
}

/// The overall bar: percentage, pieces, time, time left; the error colour once a piece failed.
fn progress_bar(ui: &mut Ui, p: &JobProgress, batch: bool, running: bool) {
    let fill = if p.failed > 0 {
        ui.visuals().error_fg_color
    } else if p.cancelled {
        Color32::from_gray(90) // neutral: neither a failure nor a success
    } else if running {
        ui.visuals().selection.bg_fill
    } else {
        Color32::from_rgb(40, 120, 60)
    };
    ui.add(egui::ProgressBar::new(p.fraction()).text(RichText::new(p.summary(batch)).color(Color32::WHITE)).fill(fill));
}

fn rank_table(ui: &mut Ui, p: &JobProgress) {
    egui::Grid::new("ranks").striped(true).num_columns(4).show(ui, |ui| {
        for h in ["rank", "host", "doing", "took"] {
            ui.label(RichText::new(h).small());
        }
        ui.end_row();
        for r in &p.ranks {
            ui.label(r.rank.to_string());
            ui.label(&r.host);
            match r.strip_fraction.filter(|_| r.busy_since.is_some()) {
                Some(f) => {
                    ui.add(egui::ProgressBar::new(f).desired_width(175.0).text(RichText::new(r.describe()).small()))
                }
                None if r.busy_since.is_some() => ui.colored_label(Color32::LIGHT_BLUE, r.describe()),
                None => ui.label(r.describe()),
            };
            ui.label(r.last_secs.map(|s| format!("{s:.2} s")).unwrap_or_default());
            ui.end_row();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::cli_lines;

    #[test]
    fn the_cli_line_breaks_between_ops_and_parameters_never_inside_a_name() {
        let text = "--op bilateral:d=25:sigma-color=75:sigma-space=75,canny:low=100";
        let lines = cli_lines(text, 24);
        assert_eq!(
            lines,
            ["--op bilateral:d=25:", "     sigma-color=75:", "     sigma-space=75,", "     canny:low=100"]
        );
        assert_eq!(lines.concat().replace("     ", ""), text, "only line breaks added");
        assert_eq!(cli_lines("--op gray", 40), ["--op gray"]);
    }
}
