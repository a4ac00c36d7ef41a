//! Editing the op chain: undo, redo and presets.

use super::helpers::{app, app_mut, click, gui, Gui};
use egui_kittest::kittest::Queryable;
use imgproc::gui::chain_editor::ADD;
use imgproc::gui::settings::Settings;
use imgproc::ops::Op;

#[test]
fn undo_and_redo_walk_back_and_forth_through_chain_edits_made_in_the_editor() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = gui(Settings { chain: vec![], ..Settings::default() }, dir.path());
    for op in ["median", "canny"] {
        click(&mut h, ADD);
        click(&mut h, op);
    }
    h.get_by_label("ksize").set_value_accesskit(3.0); // median's: 7 → odd index 3
    h.step();
    let names = |h: &Gui| imgproc::chain::OpChain(app(h).settings.chain.clone()).to_string();
    assert_eq!(names(&h), "median:ksize=7,canny:low=100:high=200:aperture=3:l2=false");
    click(&mut h, "Undo");
    assert_eq!(names(&h), "median:ksize=5,canny:low=100:high=200:aperture=3:l2=false");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.step();
    assert_eq!(names(&h), "median:ksize=5");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.step();
    assert_eq!(names(&h), "");
    click(&mut h, "Redo");
    h.key_press_modifiers(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, egui::Key::Z);
    h.step();
    assert_eq!(names(&h), "median:ksize=5,canny:low=100:high=200:aperture=3:l2=false");
    // A new edit drops what could be redone.
    click(&mut h, "Clear");
    assert!(!app(&h).history.can_redo() && app(&h).settings.chain.is_empty());
}

#[test]
fn a_preset_keeps_a_named_chain_across_starts_and_loading_it_can_be_undone() {
    let dir = tempfile::tempdir().unwrap();
    let edges = vec![Op::default_for("gray").unwrap(), Op::default_for("canny").unwrap()];
    let mut h = gui(Settings { chain: edges.clone(), ..Settings::default() }, dir.path());
    app_mut(&mut h).save_preset("edges");
    app_mut(&mut h).settings.chain = vec![Op::Invert];
    h.step();
    let saved = app(&h).settings.clone();
    drop(h);

    let mut h = gui(saved, dir.path());
    click(&mut h, "Presets");
    click(&mut h, "edges");
    assert_eq!(app(&h).settings.chain, edges);
    click(&mut h, "Undo");
    assert_eq!(app(&h).settings.chain, vec![Op::Invert]);
    app_mut(&mut h).delete_preset("edges");
    assert!(app(&h).settings.presets.is_empty());
}
