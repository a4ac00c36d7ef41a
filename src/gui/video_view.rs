//! How a video doc looks in the middle of the window: what the video is, a slider over its
//! frames (with the frame's time), and the frame on the slider before and after the chain in the
//! image viewer's comparison; and the keys that move the slider. Reads and changes the doc's
//! frame only; the scrubber does the rest.

use super::app::GuiApp;
use super::document::Doc;
use super::video_doc::clock;
use super::viewer::ViewEvents;
use egui::{Key, Modifiers, RichText, Ui};

impl GuiApp {
    /// The video doc's part of the central panel.
    pub(super) fn video_central(&mut self, ui: &mut Ui) -> ViewEvents {
        let Doc::Video(doc) = &mut self.doc else { return ViewEvents::default() };
        let name = doc.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        ui.label(format!("{name} — {}", doc.describe())).on_hover_text(doc.path.display().to_string());
        let frames = doc.frames();
        ui.horizontal(|ui| {
            if ui.button("Previous").on_hover_text("Previous frame (Left; Home: the first)").clicked() {
                doc.step(-1);
            }
            if ui.button("Next").on_hover_text("Next frame (Right; End: the last)").clicked() {
                doc.step(1);
            }
            let mut number = doc.frame + 1;
            let time = format!("  {} / {}", clock(doc.time_of(doc.frame)), clock(doc.duration()));
            ui.spacing_mut().slider_width = (ui.available_width() - 260.0).max(100.0);
            let slider =
                egui::Slider::new(&mut number, 1..=frames.max(1)).prefix("frame ").suffix(format!(" of {frames}"));
            if ui.add(slider).changed() {
                doc.frame = number.saturating_sub(1).min(frames.saturating_sub(1));
            }
            ui.label(time);
        });
        let previewing = doc.shown.as_ref().is_some_and(|s| s.after.is_some());
        // The note is cut to the toolbar's width: it never pushes the zoom buttons out of view.
        self.viewer.toolbar_with(ui, previewing, |ui| {
            if let Some(problem) = &doc.problem {
                let text = RichText::new(problem).color(ui.visuals().error_fg_color);
                ui.add(egui::Label::new(text).truncate()).on_hover_text(problem);
            } else if doc.shown.as_ref().is_none_or(|s| s.index != doc.frame || s.after.is_none()) {
                ui.spinner();
                let text = RichText::new(format!("decoding and previewing frame {}…", doc.frame + 1)).weak();
                ui.add(egui::Label::new(text).truncate());
            } else {
                let text = RichText::new("a preview: Process video… runs every frame on every rank").small().weak();
                ui.add(egui::Label::new(text).truncate()).on_hover_text(
                    "The chain runs on this frame in this process, exactly as a rank runs it on each frame",
                );
            }
        });
        match &doc.shown {
            Some(s) => self.viewer.show(ui, &s.before, s.after.as_ref().map(|(p, _)| p)),
            None => ViewEvents::default(),
        }
    }

    /// Left and Right move one frame, Home and End go to the ends (not while a text field has the
    /// keyboard).
    pub(super) fn video_keys(&mut self, ctx: &egui::Context) {
        let Doc::Video(doc) = &mut self.doc else { return };
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        // Counted, not just seen: two presses within one frame move two frames (key repeat too).
        let (back, on, first, last) = ctx.input_mut(|i| {
            (
                i.count_and_consume_key(Modifiers::NONE, Key::ArrowLeft),
                i.count_and_consume_key(Modifiers::NONE, Key::ArrowRight),
                i.consume_key(Modifiers::NONE, Key::Home),
                i.consume_key(Modifiers::NONE, Key::End),
            )
        });
        if first {
            doc.frame = 0;
        }
        if last {
            doc.step(isize::MAX);
        }
        doc.step(on as isize - back as isize);
    }
}
