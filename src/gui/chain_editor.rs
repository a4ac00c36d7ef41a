//! The operation picker: the chain of ops with a widget per parameter, ops added, moved and
//! removed. Built from the op registry (`ops::OpSpec`): names spelled as on the CLI, the registry's
//! whole range on every field (nothing valid is out of reach, nothing is clamped behind the user's
//! back), units, the op's description and each parameter's help as hover text, and the reason
//! next to a field whose value the op refuses. Edits `Vec<Op>` in place; what is valid is decided
//! in `ops`.

use crate::ops::{Op, OpKind, ParamKind, ParamSpec, ParamValue};
use egui::{DragValue, RichText, Ui};

/// The button that opens the list of ops.
pub const ADD: &str = "+ Add operation";

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
                ui.label(RichText::new(op.spec().description).small().weak());
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
        // A menu, not a drop-down list: every op in view, each with what it does.
        ui.menu_button(RichText::new(ADD).strong(), |ui| {
            ui.set_width(360.0);
            for &kind in OpKind::ALL {
                if ui.add(egui::Button::new(RichText::new(kind.name()).strong()).frame(false)).clicked() {
                    picked = Some(kind);
                }
                ui.label(RichText::new(kind.spec().description).small().weak());
                ui.add_space(2.0);
            }
        })
        .response
        .on_hover_text("Append an operation to the chain");
        if let Some(kind) = picked {
            chain.push(kind.default_op());
            changed = true;
        }
        if !chain.is_empty() && ui.button("Clear").on_hover_text("Remove every operation (Ctrl+Z undoes)").clicked() {
            chain.clear();
            changed = true;
        }
    });
    changed
}

/// One row per parameter: its name, its widget, and why the value is refused when it is.
fn params(ui: &mut Ui, op: &mut Op) -> bool {
    let spec = op.spec();
    if spec.params.is_empty() {
        ui.weak("no parameters");
        return false;
    }
    let mut changed = false;
    egui::Grid::new("params").num_columns(3).show(ui, |ui| {
        for param in spec.params {
            let hover = hover_text(param);
            let label = ui.label(param.name).on_hover_text(&hover);
            let edited = ui.horizontal(|ui| param_widget(ui, param, op.get(param.name), label.id, &hover)).inner;
            if let Some(value) = edited {
                changed |= op.set(param.name, value).is_ok();
            }
            match op.problems().into_iter().find(|p| p.param == param.name) {
                Some(problem) => ui.label(RichText::new(problem.reason).small().color(ui.visuals().error_fg_color)),
                None => ui.label(""),
            };
            ui.end_row();
        }
    });
    changed
}

/// The parameter's help, then its range, unit and default.
fn hover_text(param: &ParamSpec) -> String {
    format!("{}\nValid: {}. Default: {}.", param.help, param.range_with_unit(), param.default_text())
}

/// The widget for one parameter, labelled by `label` (so tests and screen readers find it by the
/// parameter's name); returns the new value when the user changed it.
fn param_widget(ui: &mut Ui, param: &ParamSpec, value: ParamValue, label: egui::Id, hover: &str) -> Option<ParamValue> {
    let suffix = if param.unit.is_empty() { String::new() } else { format!(" {}", param.unit) };
    let (lo, hi) = param.typical;
    match param.kind {
        // An odd-only field drags over k in 2k + 1, so it steps through valid sizes only; shown
        // and typed as the size itself. A saved even value shows as it is, with its reason.
        ParamKind::Int { min, max, odd: true } => {
            let mut k = odd_index(value.as_f64());
            let response = ui
                .add(
                    DragValue::new(&mut k)
                        .range(odd_index(min as f64).ceil()..=odd_index(max as f64).floor())
                        .clamp_existing_to_range(false)
                        .speed(((hi - lo) / 200.0).max(0.05))
                        .max_decimals(0)
                        .custom_formatter(|k, _| format!("{}", 2.0 * k + 1.0))
                        .custom_parser(|text| text.trim().parse::<f64>().ok().map(|v| odd_index(v).round()))
                        .suffix(suffix),
                )
                .labelled_by(label)
                .on_hover_text(hover);
            response.changed().then(|| ParamValue::Int(2 * k.round() as i64 + 1))
        }
        ParamKind::Int { min, max, odd: false } => {
            let mut v = value.as_f64() as i64;
            let response = ui
                .add(
                    DragValue::new(&mut v)
                        .range(min..=max)
                        .clamp_existing_to_range(false)
                        .speed(((hi - lo) / 100.0).max(0.05))
                        .suffix(suffix),
                )
                .labelled_by(label)
                .on_hover_text(hover);
            response.changed().then_some(ParamValue::Int(v))
        }
        ParamKind::Float { min, max, .. } => {
            let mut v = value.as_f64();
            let response = ui
                .add(
                    DragValue::new(&mut v)
                        .range(min..=max)
                        .clamp_existing_to_range(false)
                        .speed((hi - lo) / 300.0)
                        .suffix(suffix),
                )
                .labelled_by(label)
                .on_hover_text(hover);
            response.changed().then_some(ParamValue::Float(v))
        }
        // Named choices (resize's interpolation) by name, in a list; a few numbers as buttons.
        ParamKind::Choice(choices) if !param.choice_names().is_empty() => {
            let mut v = value.as_f64() as i64;
            let before = v;
            egui::ComboBox::from_id_salt(param.name)
                .selected_text(param.spell(value))
                .show_ui(ui, |ui| {
                    for &choice in choices {
                        ui.selectable_value(&mut v, choice, param.spell(ParamValue::Int(choice)));
                    }
                })
                .response
                .labelled_by(label)
                .on_hover_text(hover);
            (v != before).then_some(ParamValue::Int(v))
        }
        ParamKind::Choice(choices) => {
            let mut v = value.as_f64() as i64;
            let mut changed = false;
            for &choice in choices {
                changed |= ui.radio_value(&mut v, choice, choice.to_string()).on_hover_text(hover).changed();
            }
            changed.then_some(ParamValue::Int(v))
        }
        ParamKind::Bool => {
            let mut v = value == ParamValue::Bool(true);
            let response = ui.checkbox(&mut v, "").labelled_by(label).on_hover_text(hover);
            response.changed().then_some(ParamValue::Bool(v))
        }
    }
}

/// k for the odd size 2k + 1 (a fraction for an even size).
fn odd_index(size: f64) -> f64 {
    (size - 1.0) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui_kittest::kittest::Queryable;
    use egui_kittest::Harness;

    fn editor(chain: Vec<Op>) -> Harness<'static, Vec<Op>> {
        let mut h = Harness::builder().with_size([700.0, 700.0]).build_ui_state(
            |ui, chain: &mut Vec<Op>| {
                show(ui, chain);
            },
            chain,
        );
        h.run();
        h
    }

    /// Each widget is driven as a user would: numbers through AccessKit's set-value action (what
    /// typing a value into the field does), choices and flags by clicking. The value set is a
    /// valid non-default one, so the op must change to exactly it.
    #[test]
    fn every_parameter_of_every_op_can_be_set_from_the_gui_editor() {
        for &kind in OpKind::ALL {
            for param in kind.spec().params {
                let what = format!("{}.{}", kind.name(), param.name);
                let mut h = editor(vec![kind.default_op()]);
                let want = param.other_value();
                match param.kind {
                    ParamKind::Int { odd: true, .. } => {
                        h.get_by_label(param.name).set_value_accesskit(odd_index(want.as_f64()))
                    }
                    ParamKind::Int { odd: false, .. } | ParamKind::Float { .. } => {
                        h.get_by_label(param.name).set_value_accesskit(want.as_f64())
                    }
                    ParamKind::Choice(_) if !param.choice_names().is_empty() => {
                        h.get_by_value(&param.default_text()).click();
                        h.run();
                        h.get_by_label(&param.spell(want)).click();
                    }
                    ParamKind::Choice(_) => h.get_by_label(&want.to_string()).click(),
                    ParamKind::Bool => h.get_by_label(param.name).click(),
                }
                h.run();
                let op = &h.state()[0];
                assert_eq!(op.get(param.name), want, "{what}");
                let mut expected = kind.default_op();
                expected.set(param.name, want).unwrap();
                assert_eq!(op, &expected, "{what}: only that parameter changes");
            }
        }
    }

    #[test]
    fn the_whole_registry_range_is_reachable_not_a_narrower_slider() {
        let mut h = editor(vec![Op::default_for("brightness").unwrap()]);
        h.get_by_label("factor").set_value_accesskit(9.0);
        h.run();
        assert_eq!(h.state()[0], Op::Brightness { factor: 9.0, offset: 0.0 });
    }

    #[test]
    fn refused_values_show_their_reason_next_to_the_field() {
        let canny = Op::Canny { low: 300.0, high: 200.0, aperture: 3, l2: false };
        let h = editor(vec![Op::Gaussian { ksize: 4, sigma: 0.0 }, canny]);
        h.get_by_label("must be odd, not 4");
        h.get_by_label("must be at most high (200)");
        let h = editor(vec![Op::default_for("gaussian").unwrap()]);
        assert!(h.query_by_label_contains("must be").is_none());
    }

    #[test]
    fn parameter_names_are_spelled_as_on_the_cli() {
        let h = editor(vec![Op::default_for("bilateral").unwrap()]);
        for name in ["d", "sigma-color", "sigma-space"] {
            h.get_by_label(name);
        }
    }

    #[test]
    fn resize_interpolation_is_offered_and_shown_by_name_as_the_cli_spells_it() {
        let mut h = editor(vec![Op::default_for("resize").unwrap()]);
        use egui_kittest::kittest::NodeT;
        let list = h.get_by_value("linear"); // the default, by name: not "1"
        assert_eq!(list.accesskit_node().role(), egui::accesskit::Role::ComboBox);
        assert!(h.query_by_label("1").is_none(), "no number buttons");
        h.get_by_value("linear").click();
        h.run();
        for name in ["nearest", "cubic", "area", "lanczos"] {
            h.get_by_label(name);
        }
        h.get_by_label("area").click();
        h.run();
        assert_eq!(h.state()[0].get("interpolation"), ParamValue::Int(3));
        let chain = crate::chain::OpChain(h.state().clone()).to_string();
        assert!(chain.ends_with(":interpolation=area"), "{chain}");
        assert_eq!(crate::chain::OpChain::parse(&chain, &[]).unwrap().0, *h.state(), "and parses back");
    }

    #[test]
    fn every_op_can_be_added_from_the_list() {
        for &kind in OpKind::ALL {
            let mut h = editor(vec![]);
            h.get_by_label(ADD).click();
            h.run();
            h.get_by_label(kind.name()).click();
            h.run();
            assert_eq!(h.state(), &vec![kind.default_op()], "{}", kind.name());
        }
    }
}
