//! What every test of the window shares: the one MPI job, a headless window on it, stepping it
//! until something holds, clicks and drops, and input files written for the occasion.

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use imgproc::coordinator::{Coordinator, Request};
use imgproc::gui::app::GuiApp;
use imgproc::gui::document::Doc;
use imgproc::gui::settings::Settings;
use imgproc::model::RankInfo;
use imgproc::{codec, synth};
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

pub type Gui = Harness<'static, Option<GuiApp>>;

pub fn gui(settings: Settings, work_dir: &Path) -> Gui {
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

pub fn app(h: &Gui) -> &GuiApp {
    h.state().as_ref().unwrap()
}

pub fn app_mut(h: &mut Gui) -> &mut GuiApp {
    h.state_mut().as_mut().unwrap()
}

/// Steps frames until `done` holds; fails after 60 s.
pub fn step_until(h: &mut Gui, what: &str, done: impl Fn(&GuiApp) -> bool) {
    let started = Instant::now();
    while !done(app(h)) {
        assert!(started.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    h.step();
}

pub fn write_picture(path: &Path, w: usize, h: usize, seed: u64) {
    let ext = path.extension().unwrap().to_str().unwrap();
    std::fs::write(path, codec::encode(&synth::picture(w, h, 3, seed), ext).unwrap()).unwrap();
}

/// What the CLI writes for this op chain, in one process.
pub fn cli_output(op: &str, input: &Path, output: &Path) -> Vec<u8> {
    let status =
        Command::new(BIN).args(["run", "--reference", "--op", op]).arg(input).arg("-o").arg(output).status().unwrap();
    assert!(status.success());
    std::fs::read(output).unwrap()
}

pub fn errors(app: &GuiApp) -> Vec<String> {
    app.messages.errors().map(str::to_string).collect()
}

pub fn texts(app: &GuiApp) -> Vec<String> {
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
pub fn click(h: &mut Gui, label: &str) {
    h.step(); // what the user sees: the state as it is now
    h.get_by_label(label).click();
    for _ in 0..3 {
        h.step();
    }
}

pub fn drop_file(h: &mut Gui, path: &Path) {
    h.input_mut().dropped_files.push(std::sync::Arc::new(Dropped(path.to_path_buf())));
    h.step();
}

pub fn make_batch(dir: &Path, n: usize, w: usize, h: usize) -> Vec<PathBuf> {
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

/// Opens `path` and waits until it is shown.
pub fn open_and_wait(h: &mut Gui, path: &Path) {
    app_mut(h).open_image(path.to_path_buf());
    let want = path.file_name().unwrap().to_owned();
    step_until(h, "the image to load", |a| matches!(&a.doc, Doc::Image(d) if d.path.file_name() == Some(&want)));
}

pub fn process_and_wait(h: &mut Gui) {
    app_mut(h).process();
    step_until(h, "the job to end", |a| a.running.is_none());
}

pub fn result_of(h: &Gui) -> Option<imgproc::image::Image> {
    match &app(h).doc {
        Doc::Image(d) => d.result.as_ref().map(|r| r.image.clone()),
        _ => None,
    }
}
