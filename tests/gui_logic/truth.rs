//! What the window shows is the truth (issue 24): presets kept across a restart, Process in one
//! place whatever is shown, a narrow window that cuts no control off and refits its view, a
//! side-by-side view fitted when its result arrives, a resize's step on rank 0 counted, the last
//! job's bar gone when another file opens, the resume notice kept while its job runs, and what a
//! file holds (depth, alpha) written beside its name and kept or dropped as said. (A result of
//! another size drawn at the original's size: `gui::viewer`'s tests and `tests/gui_e2e.sh`.)

use super::helpers::{
    app, app_mut, click, gui, open_and_wait, process_and_wait, step_until, texts, write_picture, Gui,
};
use egui_kittest::kittest::{NodeT, Queryable};
use imgproc::gui::controls::PRESET_NAME;
use imgproc::gui::settings::Settings;
use imgproc::gui::viewer::Compare;
use imgproc::ops::Op;

fn process_button(h: &Gui) -> egui::Rect {
    h.get_by_label("Process").rect()
}

#[test]
fn a_preset_named_in_the_menu_is_saved_and_applied_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let chain = vec![Op::Invert, Op::default_for("gaussian").unwrap()];
    let mut h = gui(Settings { chain: chain.clone(), ..Settings::default() }, dir.path());
    click(&mut h, "Presets");
    // Clicking the field keeps the menu open (egui's menus close on a click inside by default).
    h.get_by_role(egui::accesskit::Role::TextInput).click();
    h.step();
    h.get_by_role(egui::accesskit::Role::TextInput).type_text("soft negative");
    h.step();
    click(&mut h, "Save chain as preset");
    assert_eq!(app(&h).settings.presets.get("soft negative"), Some(&chain), "{:?}", texts(app(&h)));

    // The next start (the settings as stored) with another chain: the preset brings it back.
    let mut stored = app(&h).settings.clone();
    stored.chain = vec![Op::Gray];
    let mut h = gui(stored, dir.path());
    click(&mut h, "Presets");
    click(&mut h, "soft negative");
    assert_eq!(app(&h).settings.chain, chain);
}

#[test]
fn typing_right_after_opening_the_presets_menu_names_the_preset() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = gui(Settings { chain: vec![Op::Invert], ..Settings::default() }, dir.path());
    click(&mut h, "Presets");
    assert!(h.get_by_role(egui::accesskit::Role::TextInput).is_focused(), "the name field has the keyboard");
    h.get_by_role(egui::accesskit::Role::TextInput).type_text("neg");
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    assert!(app(&h).settings.presets.contains_key("neg"), "{:?}", texts(app(&h)));
    let field = h.get_by_role(egui::accesskit::Role::TextInput); // the menu is still open
    assert_eq!(field.value().as_deref(), Some(""), "the field is empty again");
    assert_eq!(field.accesskit_node().placeholder(), Some(PRESET_NAME));
}

#[test]
fn process_keeps_its_place_before_and_after_a_job_with_messages_and_with_the_phases_open() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 120, 80, 3);
    let mut h = gui(Settings { chain: vec![Op::Invert], ..Settings::default() }, dir.path());
    let empty = process_button(&h);
    open_and_wait(&mut h, &input);
    assert_eq!(process_button(&h), empty, "after opening an image");
    process_and_wait(&mut h);
    assert_eq!(process_button(&h), empty, "after a job (bar and rank table shown)");
    click(&mut h, "Time per phase of the last result");
    assert_eq!(process_button(&h), empty, "with the time per phase open");
    app_mut(&mut h).error("one");
    app_mut(&mut h).done("two");
    app_mut(&mut h).hint("three");
    h.step();
    assert_eq!(process_button(&h), empty, "with messages");
}

#[test]
fn at_800_px_wide_the_zoom_controls_are_in_view_and_a_resize_refits_the_view() {
    let dir = tempfile::tempdir().unwrap();
    // A long name and a result out of date: the widest line above the toolbar.
    let input = dir.path().join("a-photo-with-a-rather-long-name-taken-on-a-sunny-day.png");
    write_picture(&input, 400, 300, 4);
    let mut h =
        gui(Settings { chain: vec![Op::Invert], compare: Compare::SideBySide, ..Settings::default() }, dir.path());
    open_and_wait(&mut h, &input);
    process_and_wait(&mut h);
    app_mut(&mut h).settings.chain = vec![Op::Gray];
    h.step();
    let wide = app(&h).viewer.zoom;
    h.set_size(egui::vec2(800.0, 600.0));
    for _ in 0..3 {
        h.step();
    }
    let narrow = app(&h).viewer.zoom;
    assert!(narrow < wide * 0.8, "the view was fitted again: zoom {wide} then {narrow}");
    for label in ["Fit", "1:1", " − ", " + "] {
        let r = h.get_by_label(label).rect();
        assert!(r.right() <= 800.0 && r.left() >= 340.0, "{label} is cut off or under the panel: {r:?}");
    }
    let zoom = h.get_by_label_contains(&format!("{:.0} %", narrow * 100.0)).rect();
    assert!(zoom.right() <= 800.0, "the zoom is cut off: {zoom:?}");
}

#[test]
fn side_by_side_is_fitted_to_its_half_when_the_result_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 300, 300, 5);
    let settings = Settings { chain: vec![Op::Invert], compare: Compare::SideBySide, ..Settings::default() };
    let mut h = gui(settings, dir.path());
    open_and_wait(&mut h, &input);
    let single = app(&h).viewer.zoom;
    process_and_wait(&mut h);
    h.step();
    let halves = app(&h).viewer.zoom;
    assert!(halves < single * 0.8, "each half shows the whole picture: zoom {single} alone, {halves} in halves");
}

#[test]
fn opening_another_file_clears_the_last_jobs_bar_and_rank_table() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    write_picture(&a, 60, 40, 6);
    write_picture(&b, 60, 40, 7);
    let mut h = gui(Settings { chain: vec![Op::Invert], ..Settings::default() }, dir.path());
    open_and_wait(&mut h, &a);
    process_and_wait(&mut h);
    h.get_by_label_contains("1/1 strips, in");
    open_and_wait(&mut h, &b);
    assert!(app(&h).last_job.is_none());
    assert!(h.query_by_label_contains("strips").is_none_or(|n| n.rect().left() > 340.0), "no bar left");
    assert!(h.query_by_label_contains("rows 0..40").is_none(), "no rank table left");
}

#[test]
fn a_resize_chain_gives_a_half_size_result_and_counts_rank_0s_whole_image_step() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 200, 100, 8);
    let resize = imgproc::chain::OpChain::parse("resize:scale=0.5", &[]).unwrap().0.remove(0);
    let mut h = gui(Settings { chain: vec![resize], ..Settings::default() }, dir.path());
    open_and_wait(&mut h, &input);
    process_and_wait(&mut h);
    let (w, hh) = match &app(&h).doc {
        imgproc::gui::document::Doc::Image(d) => {
            let r = d.result.as_ref().unwrap();
            (r.image.width, r.image.height)
        }
        _ => unreachable!(),
    };
    assert_eq!((w, hh), (100, 50));
    // The rank table says rank 0 worked on the whole image (not every rank idle).
    h.get_by_label_contains("rows 0..100");
    h.get_by_label_contains("1/1 strips, in");
}

#[test]
fn the_resume_notice_stays_while_the_job_it_started_runs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 1600, 1200, 9);
    let slow = Op::Bilateral { d: 25, sigma_color: 75.0, sigma_space: 75.0 };
    let settings = Settings { chain: vec![slow], inputs: vec![input], interrupted: true, ..Settings::default() };
    let mut h = gui(settings, dir.path());
    step_until(&mut h, "the resumed job", |a| a.running.is_some());
    let later = std::time::Instant::now() + imgproc::gui::messages::FADE_AFTER * 2;
    app_mut(&mut h).messages.fade(later);
    assert!(texts(app(&h)).iter().any(|t| t.contains("was interrupted")), "faded while its job runs");
    app_mut(&mut h).cancel();
    step_until(&mut h, "the job to end", |a| a.running.is_none());
    app_mut(&mut h).messages.fade(later);
    assert!(!texts(app(&h)).iter().any(|t| t.contains("was interrupted")), "fades once its job ended");
}

#[test]
fn a_16_bit_png_keeps_its_depth_where_the_chain_takes_it_and_is_told_before_it_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("deep.png");
    let status = std::process::Command::new("convert")
        .args(["-size", "64x32", "gradient:black-white", "-depth", "16"])
        .arg(&input)
        .status()
        .expect("ImageMagick's convert");
    assert!(status.success());
    // Invert takes 16 bits: the result keeps them, and nothing is said to be lost.
    let mut h = gui(Settings { chain: vec![Op::Invert], ..Settings::default() }, dir.path());
    open_and_wait(&mut h, &input);
    h.get_by_label_contains("deep.png — 64×32, 16-bit gray, PNG");
    assert!(h.query_by_label("this chain makes it 8-bit").is_none());
    process_and_wait(&mut h);
    let result = super::helpers::result_of(&h).unwrap();
    assert_eq!((result.depth, result.channels), (imgproc::image::Depth::U16, 1));
    let reference = imgproc::codec::read_image_keeping(&input, u64::MAX, imgproc::image::Keep::ALL).unwrap();
    assert_eq!(result, Op::Invert.apply_reference(&reference).unwrap(), "the one-process result");
    assert!(texts(app(&h)).is_empty(), "{:?}", texts(app(&h)));

    // Bilateral takes 8 bits only: said beside the name before Process, and in a note on Process.
    app_mut(&mut h).settings.chain = vec![Op::default_for("bilateral").unwrap()];
    h.step();
    h.get_by_label("this chain makes it 8-bit");
    process_and_wait(&mut h);
    assert_eq!(super::helpers::result_of(&h).unwrap().depth, imgproc::image::Depth::U8);
    let note = texts(app(&h)).into_iter().find(|t| t.contains("16-bit samples become 8-bit")).expect("a note");
    assert!(note.ends_with("bilateral takes 8-bit only."), "{note}");
}
