//! The GUI driven headless with egui_kittest: real widgets, real clicks, a real MPI job (this test
//! process is a one-rank MPI job, started once and shared by every test) and real files. The
//! end-to-end run with several ranks and a real window is `tests/gui_e2e.sh`.

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use imgproc::codec;
use imgproc::gui::app::{Doc, GuiApp, Message, Settings};
use imgproc::gui::coordinator::{Coordinator, Request};
use imgproc::model::RankInfo;
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
    app.messages
        .iter()
        .filter_map(|m| match m {
            Message::Error(e) => Some(e.clone()),
            Message::Info(_) => None,
        })
        .collect()
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

/// Clicks the widget labelled `label` and lets the window react.
fn click(h: &mut Gui, label: &str) {
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
        click(&mut h, "Add operation");
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
    assert!(errors(app(&h)).iter().any(|e| e.contains("nothing to save")));
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
    std::fs::write(dir.path().join("in/zz-corrupt.png"), b"\x89PNG\r\n\x1a\n garbage").unwrap();
    let settings = Settings { chain: vec![imgproc::ops::Op::default_for("gaussian").unwrap()], ..Settings::default() };
    let mut h = gui(settings, &dir.path().join("work"));
    app_mut(&mut h).open_batch(vec![dir.path().join("in")]);
    h.step();
    h.get_by_label_contains("4 images");
    click(&mut h, "Process");
    step_until(&mut h, "the batch", |a| a.running.is_none() && a.batch_outcome.is_some());
    let errs = errors(app(&h));
    assert!(errs.len() == 1 && errs[0].contains("zz-corrupt.png"), "{errs:?}");
    h.get_by_label_contains("3 done, 0 done earlier, 1 failed");

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
    assert!(app(&h).settings.interrupted, "a running job is remembered for a relaunch");
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
    assert!(app(&h).settings.interrupted, "a running job is remembered for a relaunch");
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
    use imgproc::gui::app::Running;
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
    app_mut(&mut h).running = Some(Running { events, cancel, progress, batch: false });
    h.step();
    h.get_by_label_contains("rows 100..200 · 40 %");
    h.get_by_label_contains("rows 0..100 ("); // no report yet: the time only
    h.get_by_label_contains("rows 200..300 · 1 done");
    // Overall: 100 rows delivered + 40 % of 100 rows, of 300.
    h.get_by_label_contains("47 % · 1/3 strips");
    app_mut(&mut h).running = None;
}
