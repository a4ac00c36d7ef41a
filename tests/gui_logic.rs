//! The GUI driven headless with egui_kittest: real widgets, real clicks, a real MPI job (this test
//! process is a one-rank MPI job, started once and shared by every test) and real files. The
//! end-to-end run with several ranks and a real window is `tests/gui_e2e.sh`.

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use imgproc::codec;
use imgproc::gui::app::GuiApp;
use imgproc::gui::chain_editor::ADD;
use imgproc::gui::coordinator::{Coordinator, Request};
use imgproc::gui::document::{Doc, Freshness};
use imgproc::gui::settings::Settings;
use imgproc::model::RankInfo;
use imgproc::ops::Op;
use imgproc::synth;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::Sender;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_imgproc");

/// MPI starts once per process; every test's window sends its jobs to that one MPI thread.
fn job() -> (Sender<Request>, Vec<RankInfo>) {
    static JOB: OnceLock<Mutex<(Sender<Request>, Vec<RankInfo>)>> = OnceLock::new();
    let job = JOB.get_or_init(|| {
        let coordinator = Coordinator::start().expect("MPI starts").expect("a lone process is rank 0");
        let handle = (coordinator.requests().unwrap(), coordinator.ranks.clone());
        // Kept for the life of the test process: MPI cannot start twice.
        std::mem::forget(coordinator);
        Mutex::new(handle)
    });
    job.lock().unwrap().clone()
}

type Gui = Harness<'static, Option<GuiApp>>;

fn gui(settings: Settings, work_dir: &Path) -> Gui {
    let (jobs, ranks) = job();
    let work_dir = work_dir.to_path_buf();
    let mut settings = Some(settings);
    let mut h = Harness::builder().with_size([1280.0, 800.0]).build_ui_state(
        move |ui, state: &mut Option<GuiApp>| {
            let app = state.get_or_insert_with(|| {
                GuiApp::new(ui.ctx().clone(), settings.take().unwrap(), ranks.clone(), jobs.clone(), work_dir.clone())
            });
            app.draw(ui);
        },
        None,
    );
    h.step();
    h
}

fn app(h: &Gui) -> &GuiApp {
    h.state().as_ref().unwrap()
}

fn app_mut(h: &mut Gui) -> &mut GuiApp {
    h.state_mut().as_mut().unwrap()
}

/// Steps frames until `done` holds; fails after 60 s.
fn step_until(h: &mut Gui, what: &str, done: impl Fn(&GuiApp) -> bool) {
    let started = Instant::now();
    while !done(app(h)) {
        assert!(started.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    h.step();
}

fn write_picture(path: &Path, w: usize, h: usize, seed: u64) {
    let ext = path.extension().unwrap().to_str().unwrap();
    std::fs::write(path, codec::encode(&synth::picture(w, h, 3, seed), ext).unwrap()).unwrap();
}

/// What the CLI writes for this op chain, in one process.
fn cli_output(op: &str, input: &Path, output: &Path) -> Vec<u8> {
    let status =
        Command::new(BIN).args(["run", "--reference", "--op", op]).arg(input).arg("-o").arg(output).status().unwrap();
    assert!(status.success());
    std::fs::read(output).unwrap()
}

fn errors(app: &GuiApp) -> Vec<String> {
    app.messages.errors().map(str::to_string).collect()
}

fn texts(app: &GuiApp) -> Vec<String> {
    app.messages.iter().map(|m| m.text.clone()).collect()
}

#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// Clicks the widget labelled `label` as the last frame drew it, and lets the window react.
fn click(h: &mut Gui, label: &str) {
    h.step(); // what the user sees: the state as it is now
    h.get_by_label(label).click();
    for _ in 0..3 {
        h.step();
    }
}

fn drop_file(h: &mut Gui, path: &Path) {
    h.input_mut().dropped_files.push(std::sync::Arc::new(Dropped(path.to_path_buf())));
    h.step();
}

#[test]
fn dropping_an_image_opens_it_with_its_size_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photo.png");
    write_picture(&input, 64, 48, 1);
    let mut h = gui(Settings::default(), dir.path());
    drop_file(&mut h, &input);
    step_until(&mut h, "the image to load", |a| matches!(a.doc, Doc::Image(_)));
    h.get_by_label_contains("photo.png — 64×48, 3 channel(s), PNG");
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

fn make_batch(dir: &Path, n: usize, w: usize, h: usize) -> Vec<PathBuf> {
    let folder = dir.join("in");
    std::fs::create_dir(&folder).unwrap();
    (0..n)
        .map(|i| {
            let p = folder.join(format!("img{i:02}.png"));
            write_picture(&p, w, h, 100 + i as u64);
            p
        })
        .collect()
}

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
    h.get_by_label_contains("cancelled");

    // The window is usable again, and Process does only what is left.
    click(&mut h, "Process");
    step_until(&mut h, "the rest of the batch", |a| a.running.is_none());
    let second = app(&h).batch_outcome.clone().unwrap();
    assert_eq!((second.already_done, second.done + second.already_done), (first.done, inputs.len()));
    let kept = format!("{} done by an earlier run and kept", first.done);
    assert!(texts(app(&h))[0].contains(&kept), "what 'earlier' means is said: {:?}", texts(app(&h)));
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
}

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
    app_mut(&mut h).running = Some(Running { events, cancel, progress, batch: false, cancel_asked: None });
    h.step();
    h.get_by_label_contains("rows 100..200: 40 done");
    h.get_by_label_contains("rows 0..100 ("); // no report yet: the time only
    h.get_by_label_contains("rows 200..300 · 1 done");
    // Overall: 100 rows delivered + 40 % of 100 rows, of 300.
    h.get_by_label_contains("47 % · 1/3 strips");
    app_mut(&mut h).running = None;
}

/// Opens `path` and waits until it is shown.
fn open_and_wait(h: &mut Gui, path: &Path) {
    app_mut(h).open_image(path.to_path_buf());
    let want = path.file_name().unwrap().to_owned();
    step_until(h, "the image to load", |a| matches!(&a.doc, Doc::Image(d) if d.path.file_name() == Some(&want)));
}

fn process_and_wait(h: &mut Gui) {
    app_mut(h).process();
    step_until(h, "the job to end", |a| a.running.is_none());
}

fn result_of(h: &Gui) -> Option<imgproc::image::Image> {
    match &app(h).doc {
        Doc::Image(d) => d.result.as_ref().map(|r| r.image.clone()),
        _ => None,
    }
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
    use imgproc::gui::coordinator::Event;
    use imgproc::gui::job::Running;
    use imgproc::gui::progress::JobProgress;
    let dir = tempfile::tempdir().unwrap();
    make_batch(dir.path(), 2, 20, 20);
    let mut h = gui(Settings::default(), &dir.path().join("work"));
    app_mut(&mut h).open_batch(vec![dir.path().join("in")]);
    let (tx, events) = std::sync::mpsc::channel();
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let progress = JobProgress::new(&app(&h).ranks);
    app_mut(&mut h).running = Some(Running { events, cancel, progress, batch: true, cancel_asked: None });
    let stopped = Some("/out: no space left on device".to_string());
    let outcome = imgproc::model::BatchOutcome { done: 1, stopped, ..Default::default() };
    tx.send(Event::BatchFinished(Ok(outcome))).unwrap();
    h.step();
    let errs = errors(app(&h));
    assert!(errs.len() == 1 && errs[0].contains("stopped before its end: /out: no space left"), "{errs:?}");
    app_mut(&mut h).messages.fade(std::time::Instant::now() + Duration::from_secs(3600));
    assert_eq!(errors(app(&h)).len(), 1, "an error stays until dismissed");
}
