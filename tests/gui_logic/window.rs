//! How the window behaves: its messages, the zoom keys, what stays in view at 1280×800, and the
//! rank table.

use super::helpers::{
    app, app_mut, click, errors, gui, open_and_wait, process_and_wait, step_until, texts, write_picture, Gui,
};
use egui_kittest::kittest::Queryable;
use imgproc::gui::settings::Settings;
use imgproc::model::RankInfo;
use imgproc::ops::Op;
use std::time::Duration;

#[test]
fn messages_are_newest_first_errors_stay_successes_fade_stale_hints_go_and_dismiss_all_clears() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.png");
    write_picture(&good, 40, 30, 8);
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"not an image").unwrap();
    let mut h = gui(Settings { chain: vec![Op::Invert], ..Settings::default() }, dir.path());

    // Process with nothing open: a hint, gone once an image opens.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Enter);
    h.step();
    assert_eq!(texts(app(&h)), ["open an image or a batch first"]);
    app_mut(&mut h).open_image(broken.clone());
    step_until(&mut h, "the failed open", |a| a.loading == 0 && !errors(a).is_empty());
    open_and_wait(&mut h, &good);
    process_and_wait(&mut h);
    app_mut(&mut h).save_image_to(dir.path().join("out.png"));
    h.step();
    let shown = texts(app(&h));
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert!(shown[0].starts_with("Saved ") && shown[1].contains("broken.png"), "newest first: {shown:?}");

    // Later, the success has faded; the error stays until dismissed.
    let later = std::time::Instant::now() + imgproc::gui::messages::FADE_AFTER + Duration::from_secs(1);
    app_mut(&mut h).messages.fade(later);
    assert_eq!(texts(app(&h)).len(), 1);
    assert!(errors(app(&h))[0].contains("broken.png"));
    app_mut(&mut h).hint("a hint");
    h.step();
    click(&mut h, "Dismiss all 2");
    assert!(app(&h).messages.is_empty());
    h.get_by_label("No messages.");
}

#[test]
fn the_zoom_keys_zoom_in_and_out_fit_and_show_one_to_one_but_not_while_typing_a_number() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 100, 50, 12);
    let mut h = gui(Settings::default(), dir.path());
    open_and_wait(&mut h, &input);
    let fit = app(&h).viewer.zoom;
    assert!(fit > 2.0, "a small image is fitted up: {fit}");
    let key = |h: &mut Gui, key| {
        h.key_press(key);
        h.step();
        app(h).viewer.zoom
    };
    assert!((key(&mut h, egui::Key::Plus) - fit * 1.5).abs() < 1e-3);
    assert!((key(&mut h, egui::Key::Minus) - fit).abs() < 1e-3);
    assert_eq!(key(&mut h, egui::Key::Num1), 1.0);
    assert!((key(&mut h, egui::Key::Num0) - fit).abs() < 1e-3);
    // While a number field has the keyboard, the keys are the number's.
    click(&mut h, "Presets");
    h.get_by_role(egui::accesskit::Role::TextInput).focus();
    h.step();
    assert!((key(&mut h, egui::Key::Plus) - fit).abs() < 1e-3, "typing + into a field does not zoom");
}

#[test]
fn at_1280x800_with_eight_ops_process_the_bar_and_every_rank_stay_in_view_and_the_panel_keeps_its_width() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 90, 60, 13);
    let mut h = gui(Settings { chain: vec![Op::Invert], ..Settings::default() }, dir.path());
    open_and_wait(&mut h, &input);
    let image_left = |h: &Gui| h.get_by_label_contains("in.png — 90×60").rect().left();
    let short_chain = image_left(&h);

    let eight = ["blur", "gaussian", "median", "bilateral", "gray", "canny", "invert", "brightness"];
    app_mut(&mut h).settings.chain = eight.iter().map(|n| Op::default_for(n).unwrap()).collect();
    h.step();
    assert_eq!(image_left(&h), short_chain, "the left panel keeps its width whatever the chain");
    process_and_wait(&mut h);
    let bottom = h.get_by_label_contains("strips overlap").rect().top(); // the status bar
    let in_view = |label: &str| {
        let r = h.get_by_label_contains(label).rect();
        assert!(r.bottom() <= bottom && r.top() >= 0.0, "{label} is out of view: {r:?} (status bar at {bottom})");
    };
    in_view("Process");
    in_view("1/1 strips, in"); // the bar
    in_view("rows 0..60");
    assert_eq!(image_left(&h), short_chain);

    // A message does not move the image: the message area keeps its height.
    let header = h.get_by_label_contains("in.png — 90×60").rect();
    let fitted = app(&h).viewer.zoom;
    app_mut(&mut h).error("something failed");
    app_mut(&mut h).done("something was done");
    h.step();
    assert_eq!(h.get_by_label_contains("in.png — 90×60").rect(), header);
    app_mut(&mut h).viewer.refit();
    h.step();
    assert_eq!(app(&h).viewer.zoom, fitted, "the view has the same size with messages shown");
}

#[test]
fn the_rank_table_shows_how_far_each_rank_is_into_its_strip() {
    use imgproc::gui::job::Running;
    use imgproc::gui::progress::JobProgress;
    use imgproc::model::Progress;
    let dir = tempfile::tempdir().unwrap();
    let mut h = gui(Settings::default(), dir.path());
    let ranks: Vec<RankInfo> = (0..3).map(|rank| RankInfo { rank, host: format!("node{rank}"), cores: 2 }).collect();
    let mut progress = JobProgress::new(&ranks);
    for (rank, (start, end)) in [(0, 100), (100, 200), (200, 300)].into_iter().enumerate() {
        progress.apply(&Progress::RowsAssigned { rank, start, end });
    }
    progress.apply(&Progress::StripProgress { rank: 1, fraction: 0.4 });
    progress.apply(&Progress::RowsDone { rank: 2, secs: 0.5, error: None });
    let (_keep, events) = std::sync::mpsc::channel();
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    app_mut(&mut h).running =
        Some(Running { events, cancel, progress, batch: false, classify: false, cancel_asked: None });
    h.step();
    h.get_by_label_contains("rows 100..200: 40 done");
    h.get_by_label_contains("rows 0..100 ("); // no report yet: the time only
    h.get_by_label_contains("rows 200..300 · 1 done");
    // Overall: 100 rows delivered + 40 % of 100 rows, of 300.
    h.get_by_label_contains("47 % · 1/3 strips");
    app_mut(&mut h).running = None;
}
