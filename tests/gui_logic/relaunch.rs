//! What the next start does: resume a job a crash cut short, but not one the user quit.

use super::helpers::{app, app_mut, click, gui, make_batch, step_until, texts, Gui};
use egui_kittest::kittest::Queryable;
use imgproc::gui::document::Doc;
use imgproc::gui::settings::Settings;

#[test]
fn a_relaunch_after_an_interrupted_batch_reopens_it_and_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = make_batch(dir.path(), 4, 60, 40);
    let settings = Settings {
        chain: vec![imgproc::ops::Op::default_for("invert").unwrap()],
        inputs: vec![dir.path().join("in")],
        batch: true,
        interrupted: true,
        ..Settings::default()
    };
    let mut h = gui(settings, &dir.path().join("work"));
    h.get_by_label_contains("was interrupted");
    step_until(&mut h, "the resumed batch", |a| a.batch_outcome.is_some());
    let outcome = app(&h).batch_outcome.clone().unwrap();
    assert_eq!(outcome.done + outcome.already_done, inputs.len());
    assert!(!app(&h).settings.interrupted);
}

/// The window's close button, Ctrl+Q and File ▸ Quit all arrive as a close request.
fn request_close(h: &mut Gui) {
    h.input_mut().viewports.entry(egui::ViewportId::ROOT).or_default().events.push(egui::ViewportEvent::Close);
    h.step();
}

#[test]
fn quitting_mid_job_cancels_it_and_the_next_start_does_not_run_it_again() {
    let dir = tempfile::tempdir().unwrap();
    make_batch(dir.path(), 40, 400, 300);
    let bilateral = imgproc::ops::Op::Bilateral { d: 15, sigma_color: 75.0, sigma_space: 75.0 };
    let settings = Settings { chain: vec![bilateral], ..Settings::default() };
    let mut h = gui(settings, &dir.path().join("work"));
    app_mut(&mut h).open_batch(vec![dir.path().join("in")]);
    click(&mut h, "Process");
    assert!(app(&h).settings.interrupted, "a running job is remembered for a relaunch: {:?}", texts(app(&h)));
    let cancel = std::sync::Arc::clone(&app(&h).running.as_ref().expect("running").cancel);

    request_close(&mut h);
    assert!(cancel.load(std::sync::atomic::Ordering::SeqCst), "the job is cancelled");
    let saved = app(&h).settings.clone();
    assert!(!saved.interrupted, "a deliberate quit is not an interruption");
    step_until(&mut h, "the cancelled batch to end", |a| a.running.is_none());
    let outcome = app(&h).batch_outcome.clone().unwrap();
    assert!(outcome.cancelled && outcome.done < 40, "{outcome:?}");
    drop(h);

    // The next start opens nothing and runs nothing.
    let mut h = gui(saved, &dir.path().join("work"));
    for _ in 0..5 {
        h.step();
    }
    assert!(app(&h).running.is_none() && matches!(app(&h).doc, Doc::Empty));
    assert!(app(&h).messages.is_empty(), "{:?}", app(&h).messages);
}
