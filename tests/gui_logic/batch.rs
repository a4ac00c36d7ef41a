//! A batch: its failures, cancel and finishing the rest, its output format, its grid, and a job
//! stopped by a full disk.

use super::helpers::{
    app, app_mut, cli_output, click, errors, gui, make_batch, process_and_wait, step_until, texts, write_picture, Gui,
};
use egui_kittest::kittest::Queryable;
use imgproc::gui::document::{Doc, Freshness};
use imgproc::gui::settings::Settings;
use imgproc::ops::Op;
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn a_batch_with_a_bad_file_lists_the_failure_and_saves_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = make_batch(dir.path(), 3, 50, 40);
    // A truncated PNG: its header gives a size, its pixels do not decode.
    let bytes = std::fs::read(&inputs[0]).unwrap();
    std::fs::write(dir.path().join("in/zz-corrupt.png"), &bytes[..bytes.len() / 2]).unwrap();
    let settings = Settings { chain: vec![imgproc::ops::Op::default_for("gaussian").unwrap()], ..Settings::default() };
    let mut h = gui(settings, &dir.path().join("work"));
    app_mut(&mut h).open_batch(vec![dir.path().join("in")]);
    h.step();
    h.get_by_label_contains("4 images");
    step_until(
        &mut h,
        "the broken file to be found out",
        |a| matches!(&a.doc, Doc::Batch(d) if d.files[3].error.is_some()),
    );
    h.get_by_label("PNG, cannot be read");
    click(&mut h, "Process");
    step_until(&mut h, "the batch", |a| a.running.is_none() && a.batch_outcome.is_some());
    let errs = errors(app(&h));
    assert!(errs.len() == 1 && errs[0].contains("zz-corrupt.png"), "{errs:?}");
    h.get_by_label_contains("Batch: 3 done, 1 failed");
    assert!(!texts(app(&h)).iter().any(|t| t.contains("earlier")), "nothing was done earlier: not mentioned");
    // The bar says it, in the error colour (the layout fills it so when `failed` > 0).
    h.get_by_label_contains("4/4 images, 1 failed");
    assert_eq!(app(&h).last_job.as_ref().unwrap().failed, 1);
    // The grid shows the results, not the originals, once their thumbnails are decoded; the
    // broken file is marked unreadable from its thumbnail, not given a size.
    step_until(&mut h, "the result thumbnails", |a| matches!(&a.doc, Doc::Batch(d) if d.result_count() == 3));
    match &app(&h).doc {
        Doc::Batch(d) => {
            assert!(d.files[3].error.is_some() && d.files[3].describe() == "PNG, cannot be read", "{:?}", d.files[3]);
            assert!(d.results[3].is_none());
        }
        _ => unreachable!(),
    }

    let out = dir.path().join("saved");
    std::fs::create_dir(&out).unwrap();
    app_mut(&mut h).save_batch_to(out.clone());
    for input in &inputs {
        let name = input.file_name().unwrap();
        let expected = cli_output("gaussian", input, &dir.path().join("cli.png"));
        assert_eq!(std::fs::read(out.join(name)).unwrap(), expected, "{name:?}");
    }
    assert!(!out.join("zz-corrupt.png").exists());
}

#[test]
fn cancel_stops_a_batch_and_process_finishes_the_rest_later() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = make_batch(dir.path(), 40, 400, 300);
    let bilateral = imgproc::ops::Op::Bilateral { d: 15, sigma_color: 75.0, sigma_space: 75.0 };
    let settings = Settings { chain: vec![bilateral], ..Settings::default() };
    let mut h = gui(settings, &dir.path().join("work"));
    app_mut(&mut h).open_batch(vec![dir.path().join("in")]);
    click(&mut h, "Process");
    assert!(app(&h).settings.interrupted, "a running job is remembered for a relaunch: {:?}", texts(app(&h)));
    step_until(&mut h, "a first image", |a| a.running.as_ref().is_some_and(|r| r.progress.finished > 0));
    click(&mut h, "Cancel");
    step_until(&mut h, "the cancelled batch to end", |a| a.running.is_none());
    let first = app(&h).batch_outcome.clone().unwrap();
    assert!(first.cancelled && first.done > 0 && first.done < inputs.len(), "{first:?}");
    assert!(!app(&h).settings.interrupted);
    h.get_by_label_contains("— cancelled; Process again to finish the rest");
    // The bar is neutral: the images done, no failure.
    let bar = app(&h).last_job.as_ref().expect("the cancelled batch's bar").summary(true);
    assert!(bar.starts_with(&format!("cancelled · {}/", first.done)) && !bar.contains("failed"), "{bar}");

    // The window is usable again, and Process does only what is left.
    click(&mut h, "Process");
    step_until(&mut h, "the rest of the batch", |a| a.running.is_none());
    let second = app(&h).batch_outcome.clone().unwrap();
    assert_eq!((second.already_done, second.done + second.already_done), (first.done, inputs.len()));
    let kept = format!("{} done by an earlier run and kept", first.done);
    assert!(texts(app(&h))[0].contains(&kept), "what 'earlier' means is said: {:?}", texts(app(&h)));
}

#[test]
fn a_batch_of_jpegs_written_as_png_equals_the_cli_output_losslessly() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("in");
    std::fs::create_dir(&folder).unwrap();
    let inputs: Vec<PathBuf> = (0..2)
        .map(|i| {
            let p = folder.join(format!("photo{i}.jpg"));
            write_picture(&p, 60, 40, 20 + i);
            p
        })
        .collect();
    let chain = vec![Op::default_for("gray").unwrap(), Op::default_for("canny").unwrap()];
    let settings = Settings { chain, batch_format: Some("png".into()), ..Settings::default() };
    let mut h = gui(settings, &dir.path().join("work"));
    app_mut(&mut h).open_batch(vec![folder]);
    h.step();
    h.get_by_label("output format");
    process_and_wait(&mut h);
    let out = dir.path().join("saved");
    app_mut(&mut h).save_batch_to(out.clone());
    for input in &inputs {
        let name = input.with_extension("png").file_name().unwrap().to_owned();
        let expected = cli_output("gray,canny", input, &dir.path().join("cli.png"));
        assert_eq!(std::fs::read(out.join(&name)).unwrap(), expected, "{name:?}");
    }
    // Another format makes the outputs out of date.
    app_mut(&mut h).settings.batch_format = None;
    assert!(matches!(app(&h).freshness(), Freshness::OutOfDate { .. }));
}

#[test]
fn batch_thumbnails_grow_with_the_window() {
    let dir = tempfile::tempdir().unwrap();
    make_batch(dir.path(), 6, 64, 48);
    let mut h = gui(Settings::default(), &dir.path().join("work"));
    app_mut(&mut h).open_batch(vec![dir.path().join("in")]);
    h.step();
    let pitch = |h: &Gui| h.get_by_label("img01.png").rect().left() - h.get_by_label("img00.png").rect().left();
    let small = pitch(&h);
    h.set_size(egui::vec2(1600.0, 1000.0));
    h.step();
    h.step();
    let large = pitch(&h);
    assert!(small >= 200.0 && large > small, "tiles {small} wide at 1280, {large} at 1600");
}

#[test]
fn a_batch_stopped_by_a_full_output_disk_says_so_as_an_error_that_stays() {
    use imgproc::coordinator::JobEvent;
    use imgproc::gui::job::Running;
    use imgproc::gui::progress::JobProgress;
    let dir = tempfile::tempdir().unwrap();
    make_batch(dir.path(), 2, 20, 20);
    let mut h = gui(Settings::default(), &dir.path().join("work"));
    app_mut(&mut h).open_batch(vec![dir.path().join("in")]);
    let (tx, events) = std::sync::mpsc::channel();
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let progress = JobProgress::new(&app(&h).ranks);
    app_mut(&mut h).running =
        Some(Running { events, cancel, progress, batch: true, classify: false, cancel_asked: None });
    let stopped = Some("/out: no space left on device".to_string());
    let outcome = imgproc::model::BatchOutcome { done: 1, stopped, ..Default::default() };
    tx.send(JobEvent::BatchFinished(Ok(outcome))).unwrap();
    h.step();
    let errs = errors(app(&h));
    assert!(errs.len() == 1 && errs[0].contains("stopped before its end: /out: no space left"), "{errs:?}");
    app_mut(&mut h).messages.fade(std::time::Instant::now() + Duration::from_secs(3600));
    assert_eq!(errors(app(&h)).len(), 1, "an error stays until dismissed");
}
