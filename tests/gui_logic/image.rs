//! One image: opening it (dropped, named, relative, from the recent list), processing it, saving
//! the result, cancelling, and what a failed open or a changed chain leaves on screen.

use super::helpers::{
    app, app_mut, cli_output, click, drop_file, errors, gui, open_and_wait, process_and_wait, result_of, step_until,
    texts, write_picture,
};
use egui_kittest::kittest::Queryable;
use imgproc::codec;
use imgproc::gui::chain_editor::ADD;
use imgproc::gui::document::{Doc, Freshness};
use imgproc::gui::settings::Settings;
use imgproc::ops::Op;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[test]
fn dropping_an_image_opens_it_with_its_size_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photo.png");
    write_picture(&input, 64, 48, 1);
    let mut h = gui(Settings::default(), dir.path());
    drop_file(&mut h, &input);
    step_until(&mut h, "the image to load", |a| matches!(a.doc, Doc::Image(_)));
    h.get_by_label_contains("photo.png — 64×48, 8-bit colour, PNG");
    assert_eq!(app(&h).settings.inputs, vec![input]);
}

#[test]
fn choosing_an_op_and_processing_then_saving_gives_the_cli_result() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jpg");
    write_picture(&input, 120, 90, 2);
    let mut settings = Settings::default();
    settings.chain.clear();
    let mut h = gui(settings, dir.path());
    app_mut(&mut h).open_image(input.clone());
    step_until(&mut h, "the image to load", |a| matches!(a.doc, Doc::Image(_)));

    // Nothing chosen yet: Process is refused with a reason.
    h.get_by_label_contains("add an operation first");
    for op in ["median", "canny"] {
        click(&mut h, ADD);
        click(&mut h, op);
    }
    assert_eq!(app(&h).chain().unwrap().to_string(), "median:ksize=5,canny:low=100:high=200:aperture=3:l2=false");

    click(&mut h, "Process");
    step_until(&mut h, "the result", |a| matches!(&a.doc, Doc::Image(d) if d.result.is_some()));
    assert!(errors(app(&h)).is_empty(), "{:?}", errors(app(&h)));

    let saved = dir.path().join("result.png");
    app_mut(&mut h).save_image_to(saved.clone());
    h.step();
    let expected = cli_output("median,canny", &input, &dir.path().join("cli.png"));
    assert_eq!(std::fs::read(&saved).unwrap(), expected);
    // Single-channel result, saved single-channel.
    assert_eq!(codec::read_image(&saved, u64::MAX).unwrap().channels, 1);
    h.get_by_label_contains("Saved");
}

#[test]
fn an_unreadable_file_shows_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.png");
    write_picture(&good, 40, 30, 3);
    let bytes = std::fs::read(&good).unwrap();
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    let mut h = gui(Settings::default(), dir.path());
    drop_file(&mut h, &broken);
    step_until(&mut h, "the load to fail", |a| a.loading == 0 && !a.messages.is_empty());
    let errs = errors(app(&h));
    assert!(errs.len() == 1 && errs[0].contains("broken.png") && errs[0].contains("not a readable image"), "{errs:?}");
    h.get_by_label_contains("broken.png");
    assert!(matches!(app(&h).doc, Doc::Empty));
    // Saving with nothing processed is refused, with a message, not a crash.
    app_mut(&mut h).save_image_to(dir.path().join("x.png"));
    assert!(texts(app(&h)).iter().any(|e| e.contains("nothing to save")));
    assert!(!dir.path().join("x.png").exists());
}

#[test]
fn cancelling_one_image_stops_it_quickly_and_keeps_the_previous_result() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 1600, 1200, 5);
    let mut settings = Settings { chain: vec![imgproc::ops::Op::Invert], ..Settings::default() };
    settings.inputs.clear();
    let mut h = gui(settings, dir.path());
    app_mut(&mut h).open_image(input.clone());
    step_until(&mut h, "the image to load", |a| matches!(a.doc, Doc::Image(_)));
    click(&mut h, "Process");
    step_until(&mut h, "the first result", |a| a.running.is_none());
    let first = match &app(&h).doc {
        Doc::Image(d) => d.result.as_ref().expect("a result").image.clone(),
        _ => unreachable!(),
    };

    // A slow chain (seconds on one thread), cancelled as soon as it runs.
    app_mut(&mut h).settings.chain = vec![imgproc::ops::Op::Bilateral { d: 31, sigma_color: 75.0, sigma_space: 75.0 }];
    h.step();
    click(&mut h, "Process");
    assert!(app(&h).running.is_some(), "{:?}", app(&h).messages);
    let started = Instant::now();
    click(&mut h, "Cancel");
    step_until(&mut h, "the cancelled job to end", |a| a.running.is_none());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "cancel took {took:?}");
    match &app(&h).doc {
        Doc::Image(d) => {
            assert_eq!(d.result.as_ref().expect("still a result").image, first, "the previous result stays")
        }
        _ => unreachable!(),
    }
    assert!(errors(app(&h)).is_empty(), "a cancel is not an error: {:?}", errors(app(&h)));
    h.get_by_label_contains("Cancelled: the job was stopped; the previous result is still shown.");
    // The bar is neutral: cancelled, not failed.
    let bar = app(&h).last_job.as_ref().expect("the cancelled job's bar").summary(false);
    assert!(bar.starts_with("cancelled · ") && !bar.contains("failed"), "{bar}");
}

#[test]
fn opened_paths_are_stored_absolute_so_a_start_elsewhere_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photo.png");
    write_picture(&input, 32, 24, 7);
    // The same file named relative to the working directory.
    let cwd = std::env::current_dir().unwrap();
    let mut relative = PathBuf::new();
    for _ in cwd.components().skip(1) {
        relative.push("..");
    }
    relative.push(input.strip_prefix("/").unwrap());
    assert!(relative.is_relative() && relative.exists());

    let mut h = gui(Settings::default(), dir.path());
    app_mut(&mut h).open_image(relative.clone());
    step_until(&mut h, "the image to load", |a| matches!(a.doc, Doc::Image(_)));
    let stored = &app(&h).settings;
    let folder = dir.path().canonicalize().unwrap();
    assert_eq!(stored.inputs, vec![folder.join("photo.png")]);
    assert_eq!(stored.open_dir, Some(folder.clone()));

    app_mut(&mut h).open_batch(vec![relative.parent().unwrap().to_path_buf()]);
    h.step();
    assert_eq!(app(&h).settings.inputs, vec![folder]);
}

#[test]
fn a_changed_parameter_marks_the_result_out_of_date_save_refuses_it_and_process_updates_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 80, 60, 4);
    let mut h = gui(Settings { chain: vec![Op::default_for("blur").unwrap()], ..Settings::default() }, dir.path());
    open_and_wait(&mut h, &input);
    assert_eq!(app(&h).freshness(), Freshness::NoResult);
    process_and_wait(&mut h);
    assert_eq!(app(&h).freshness(), Freshness::Current);
    assert!(h.query_by_label_contains("out of date").is_none());

    // The user types another kernel size into the field.
    h.get_by_label("ksize").set_value_accesskit(7.0);
    h.step();
    h.step();
    assert_eq!(app(&h).freshness(), Freshness::OutOfDate { made_with: "blur:ksize=5".into() });
    h.get_by_label_contains("Result out of date");
    let out = dir.path().join("out.png");
    app_mut(&mut h).save_image_to(out.clone());
    assert!(!out.exists(), "an out-of-date result is not saved");
    assert!(texts(app(&h))[0].contains("made with blur:ksize=5"), "{:?}", texts(app(&h)));

    // Undo brings back the chain that made it: current again, without processing.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.step();
    assert_eq!(app(&h).settings.chain, vec![Op::default_for("blur").unwrap()]);
    assert_eq!(app(&h).freshness(), Freshness::Current);
    // Redo, then Process makes it with the new chain.
    h.key_press_modifiers(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, egui::Key::Z);
    h.step();
    click(&mut h, "Process");
    step_until(&mut h, "the new result", |a| a.running.is_none());
    assert_eq!(app(&h).freshness(), Freshness::Current);
    app_mut(&mut h).save_image_to(out.clone());
    assert_eq!(std::fs::read(&out).unwrap(), cli_output("blur:ksize=7", &input, &dir.path().join("cli.png")));
}

#[test]
fn a_failed_open_leaves_the_image_and_its_result_alone() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.png");
    write_picture(&good, 40, 30, 9);
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.png");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let mut h = gui(Settings { chain: vec![Op::Invert], ..Settings::default() }, dir.path());
    open_and_wait(&mut h, &good);
    process_and_wait(&mut h);
    let result = result_of(&h).expect("a result");

    app_mut(&mut h).open_image(truncated.clone());
    step_until(&mut h, "the failed open", |a| a.loading == 0 && !errors(a).is_empty());
    assert!(matches!(&app(&h).doc, Doc::Image(d) if d.path == good.canonicalize().unwrap()));
    assert_eq!(result_of(&h), Some(result), "the result stays");
    assert_eq!(app(&h).settings.inputs, vec![good.canonicalize().unwrap()], "the last good input is remembered");
    assert!(errors(app(&h))[0].contains("truncated.png"), "{:?}", errors(app(&h)));
}

#[test]
fn recent_files_list_what_was_opened_newest_first_and_reopen_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    write_picture(&a, 20, 20, 10);
    write_picture(&b, 30, 20, 11);
    let mut h = gui(Settings::default(), dir.path());
    open_and_wait(&mut h, &a);
    open_and_wait(&mut h, &b);
    let canon = |p: &Path| vec![p.canonicalize().unwrap()];
    assert_eq!(app(&h).settings.recent, vec![canon(&b), canon(&a)]);
    app_mut(&mut h).open_recent(1);
    step_until(&mut h, "a.png again", |a| matches!(&a.doc, Doc::Image(d) if d.image.width == 20));
    assert_eq!(app(&h).settings.recent, vec![canon(&a), canon(&b)]);
}
