//! The operation picker: the chain of ops with a widget per parameter (defaults pre-filled), ops
//! added, moved and removed. Edits `Vec<Op>` in place; validation stays in `ops`.

use crate::ops::{Op, OP_NAMES};
use egui::{Slider, Ui};

/// Shows the chain editor; returns true when the chain changed.
pub fn show(ui: &mut Ui, chain: &mut Vec<Op>) -> bool {
    let mut changed = false;
    let mut remove = None;
    let mut swap = None;
    let len = chain.len();
    for (i, op) in chain.iter_mut().enumerate() {
        ui.push_id(i, |ui| {
            ui.group(|ui| {
                ui.horizontal(|ui| {
                    ui.strong(format!("{}. {}", i + 1, op.name()));
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        if ui.small_button("Remove").on_hover_text("Remove this operation").clicked() {
                            remove = Some(i);
                        }
                        if i + 1 < len && ui.small_button("Down").on_hover_text("Move down").clicked() {
                            swap = Some(i);
                        }
                        if i > 0 && ui.small_button("Up").on_hover_text("Move up").clicked() {
                            swap = Some(i - 1);
                        }
                    });
                });
                changed |= params(ui, op);
            });
        });
    }
    if let Some(i) = remove {
        chain.remove(i);
        changed = true;
    }
    if let Some(i) = swap {
        chain.swap(i, i + 1);
        changed = true;
    }
    ui.horizontal(|ui| {
        let mut picked = None;
        egui::ComboBox::from_label("Add operation").selected_text("choose…").show_ui(ui, |ui| {
            for name in OP_NAMES {
                if ui.selectable_label(false, name).clicked() {
                    picked = Some(name);
                }
            }
        });
        if let Some(name) = picked {
            chain.push(Op::default_for(name).expect("listed ops exist"));
            changed = true;
        }
        if !chain.is_empty() && ui.button("Clear").clicked() {
            chain.clear();
            changed = true;
        }
    });
    changed
}

/// Forces an odd kernel size (OpenCV's Gaussian and median need one).
fn odd(k: &mut u32) {
    if *k % 2 == 0 {
        *k += 1;
    }
}

fn params(ui: &mut Ui, op: &mut Op) -> bool {
    let before = op.clone();
    match op {
        Op::Blur { ksize } => {
            ui.add(Slider::new(ksize, 1..=31).text("ksize"));
        }
        Op::Gaussian { ksize, sigma } => {
            ui.add(Slider::new(ksize, 1..=31).text("ksize"));
            odd(ksize);
            ui.add(Slider::new(sigma, 0.0..=10.0).text("sigma (0 = from ksize)"));
        }
        Op::Median { ksize } => {
            ui.add(Slider::new(ksize, 1..=31).text("ksize"));
            odd(ksize);
        }
        Op::Bilateral { d, sigma_color, sigma_space } => {
            ui.add(Slider::new(d, 1..=25).text("d"));
            ui.add(Slider::new(sigma_color, 1.0..=200.0).text("sigma colour"));
            ui.add(Slider::new(sigma_space, 1.0..=200.0).text("sigma space"));
        }
        Op::Canny { low, high, aperture, l2 } => {
            ui.add(Slider::new(low, 0.0..=500.0).text("low threshold"));
            ui.add(Slider::new(high, 0.0..=500.0).text("high threshold"));
            ui.horizontal(|ui| {
                ui.label("aperture");
                for a in [3, 5, 7] {
                    ui.radio_value(aperture, a, a.to_string());
                }
            });
            ui.checkbox(l2, "L2 gradient");
        }
        Op::Brightness { factor, offset } => {
            ui.add(Slider::new(factor, 0.0..=4.0).text("factor"));
            ui.add(Slider::new(offset, -128.0..=128.0).text("offset"));
        }
        Op::Bw { threshold } => {
            ui.add(Slider::new(threshold, 0.0..=255.0).text("threshold"));
        }
        Op::Invert | Op::Gray | Op::ContrastStretch => {
            ui.weak("no parameters");
        }
    }
    *op != before
}
