//! Classify mode: a batch through a model from the window, each thumbnail labelled from the
//! results file; a bad image fails its own tile; Classify again keeps what the first run
//! labelled; a bad model is refused naming its file.

use super::helpers::{app, app_mut, click, errors, gui, step_until, texts};
use egui_kittest::kittest::Queryable;
use imgproc::gui::settings::Settings;
use std::path::{Path, PathBuf};
use std::process::Command;

fn models(dir: &Path) -> PathBuf {
    let m = dir.join("models");
    let out = Command::new("/usr/bin/python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models/make_models.py"))
        .arg(&m)
        .output()
        .unwrap();
    assert!(out.status.success(), "make_models.py: {}", String::from_utf8_lossy(&out.stderr));
    m
}

/// Pictures whose dominant colour is their name, and a truncated one.
fn coloured_batch(dir: &Path) -> PathBuf {
    let folder = dir.join("in");
    std::fs::create_dir_all(&folder).unwrap();
    for (name, channel) in [("blue", 0), ("green", 1), ("red", 2)] {
        let (w, h) = (60, 40);
        let mut data = vec![0u8; w * h * 3];
        for (p, px) in data.chunks_mut(3).enumerate() {
            px.iter_mut().enumerate().for_each(|(c, v)| *v = ((p * 3 + c * 29) % 70) as u8);
            px[channel] = px[channel].saturating_add(170);
        }
        let img = imgproc::image::Image::from_vec(w, h, 3, data).unwrap();
        std::fs::write(folder.join(format!("{name}.png")), &*imgproc::codec::encode(&img, "png").unwrap()).unwrap();
    }
    let bytes = std::fs::read(folder.join("red.png")).unwrap();
    std::fs::write(folder.join("zz-broken.png"), &bytes[..bytes.len() / 2]).unwrap();
    folder
}

fn best_labels(a: &imgproc::gui::app::GuiApp) -> Vec<Option<String>> {
    let c = a.classified.as_ref().expect("a classify run");
    c.records.iter().map(|r| r.as_ref().and_then(|r| r.top.first()).map(|g| g.label.clone())).collect()
}

#[test]
fn classify_labels_each_thumbnail_and_a_second_run_keeps_the_first_runs_labels() {
    let dir = tempfile::tempdir().unwrap();
    let m = models(dir.path());
    let folder = coloured_batch(dir.path());
    let settings = Settings { classify_model: Some(m.join("colour.onnx")), ..Settings::default() };
    let mut h = gui(settings, &dir.path().join("work"));
    app_mut(&mut h).open_batch(vec![folder]);
    h.step();
    h.get_by_label("Model: colour.onnx");
    click(&mut h, "Classify");
    step_until(&mut h, "the classify run", |a| {
        a.running.is_none() && a.classified.as_ref().is_some_and(|c| c.count() == 4)
    });
    assert_eq!(
        best_labels(app(&h)),
        [Some("blue".into()), Some("green".into()), Some("red".into()), None],
        "each picture labelled with its colour, the broken one with none"
    );
    // The grid shows them: the best label with its score on each tile, the failure on its own.
    h.step();
    let shown: Vec<String> = app(&h).classified.as_ref().unwrap().records[..3]
        .iter()
        .map(|r| r.as_ref().unwrap().top[0].clone())
        .map(|g| format!("{} {:.1} %", g.label, g.score * 100.0))
        .collect();
    for text in shown {
        h.get_by_label(&text);
    }
    h.get_by_label("not classified (hover for why)");
    let errs = errors(app(&h));
    assert!(errs.len() == 1 && errs[0].contains("zz-broken.png"), "{errs:?}");
    assert!(texts(app(&h)).iter().any(|t| t.starts_with("Classify: 3 done, 1 failed")), "{:?}", texts(app(&h)));

    // Again: nothing labelled twice, the labels still on the tiles.
    click(&mut h, "Classify");
    step_until(&mut h, "the second run", |a| {
        a.running.is_none() && a.classified.as_ref().is_some_and(|c| c.count() == 4)
    });
    assert!(
        texts(app(&h)).iter().any(|t| t.starts_with("Classify: 0 done, 1 failed; 3 labelled by an earlier run")),
        "{:?}",
        texts(app(&h))
    );
    assert_eq!(best_labels(app(&h))[2].as_deref(), Some("red"));
    let results = app(&h).classified.as_ref().unwrap().path.clone();
    let lines = std::fs::read_to_string(results).unwrap();
    assert_eq!(lines.lines().count(), 4, "one line per image after two runs:\n{lines}");
}

#[test]
fn a_truncated_model_is_refused_naming_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let m = models(dir.path());
    let folder = coloured_batch(dir.path());
    let settings = Settings { classify_model: Some(m.join("truncated.onnx")), ..Settings::default() };
    let mut h = gui(settings, &dir.path().join("work"));
    app_mut(&mut h).open_batch(vec![folder]);
    click(&mut h, "Classify");
    step_until(&mut h, "the refusal", |a| a.running.is_none() && !errors(a).is_empty());
    let errs = errors(app(&h));
    assert!(errs[0].contains("truncated.onnx"), "{errs:?}");
    assert_eq!(app(&h).classified.as_ref().unwrap().count(), 0);
}
