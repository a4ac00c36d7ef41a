//! `imgproc classify` under real `mpirun`: scores equal to one-process OpenCV DNN (python3-opencv,
//! tests/models/reference.py) at 1 and 3 ranks and at batch sizes 1 and 4, and within 1e-5 of a
//! from-scratch numpy computation of the same graphs (tests/models/numpy_ref.py); a colour model
//! whose answer is known by construction; a bad image fails its own line; a rerun, and a rerun
//! after a rank was killed mid-job, classify nothing twice; bad models, sidecars and labels are
//! refused before any image is read.

mod common;

use common::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn models(dir: &Path) -> PathBuf {
    let m = dir.join("models");
    let out = run({
        let mut c = Command::new("/usr/bin/python3");
        c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models/make_models.py")).arg(&m);
        c
    });
    assert!(out.status.success(), "make_models.py: {}", String::from_utf8_lossy(&out.stderr));
    m
}

/// Images whose dominant colour is known, in class folders, of several sizes.
fn images(dir: &Path) -> Vec<PathBuf> {
    images_sized(dir, 4, |i| (40 + 9 * i, 30 + 5 * i))
}

/// `per_class` images in each of the class folders red, green and blue, image `i` of `size(i)`.
fn images_sized(dir: &Path, per_class: usize, size: impl Fn(usize) -> (usize, usize)) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (class, channel) in [("red", 2), ("green", 1), ("blue", 0)] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..per_class {
            let (w, h) = size(i);
            let mut data = vec![0u8; w * h * 3];
            for (p, px) in data.chunks_mut(3).enumerate() {
                px.iter_mut().enumerate().for_each(|(c, v)| *v = ((p * 7 + c * 31 + i * 13) % 90) as u8);
                px[channel] = px[channel].saturating_add(150);
            }
            let img = imgproc::image::Image::from_vec(w, h, 3, data).unwrap();
            let path = dir.join(class).join(format!("{i}.png"));
            std::fs::write(&path, &*imgproc::codec::encode(&img, "png").unwrap()).unwrap();
            files.push(path);
        }
    }
    files
}

fn scores(results: &Path) -> HashMap<String, Vec<(usize, f32)>> {
    let text = std::fs::read_to_string(results).unwrap();
    let mut out = HashMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let top = v["top"].as_array().unwrap().iter();
        let top = top.map(|g| (g["index"].as_u64().unwrap() as usize, g["score"].as_f64().unwrap() as f32)).collect();
        assert!(out.insert(v["file"].as_str().unwrap().to_string(), top).is_none(), "a file twice in {text}");
    }
    out
}

fn reference(model: &Path, batch: usize, files: &[PathBuf]) -> HashMap<String, Vec<f32>> {
    let mut c = Command::new("/usr/bin/python3");
    c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models/reference.py")).arg(model).arg(batch.to_string());
    c.args(files);
    let out = run(c);
    assert!(out.status.success(), "reference.py: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn scores_equal_one_process_opencv_dnn_at_any_rank_count_and_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    let m = models(dir.path());
    let files = images(&dir.path().join("valid"));
    for model in ["conv", "colour"] {
        for batch in [1, 4] {
            let want = reference(&m.join(format!("{model}.onnx")), batch, &files);
            for ranks in [1, 3] {
                let results = dir.path().join(format!("{model}-{batch}-{ranks}.jsonl"));
                // OpenCV DNN's sums can depend on its thread count: classify_args and the
                // reference both use one.
                let (model_path, b) = (m.join(format!("{model}.onnx")), batch.to_string());
                let args = classify_args(&model_path, &results, &dir.path().join("valid"), &["--batch-size", &b]);
                let out = mpirun(ranks, &strs(&args));
                assert!(out.status.success(), "{model} b{batch} np{ranks}: {}", String::from_utf8_lossy(&out.stderr));
                let got = scores(&results);
                assert_eq!(got.len(), files.len());
                for f in &files {
                    let (top, all) = (&got[&f.display().to_string()], &want[&f.display().to_string()]);
                    for &(index, score) in top {
                        assert_eq!(score, all[index], "{model} b{batch} np{ranks} {}: class {index}", f.display());
                    }
                    if model == "colour" {
                        let class = f.parent().unwrap().file_name().unwrap().to_str().unwrap();
                        assert_eq!(top[0].0, ["red", "green", "blue"].iter().position(|c| *c == class).unwrap());
                    }
                }
            }
        }
    }
}

/// `imgproc classify --model MODEL -o RESULTS INPUTS` with one OpenCV thread per rank, plus `extra`.
fn classify_args(model: &Path, results: &Path, inputs: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["classify", "--threads", "1", "--model"].map(String::from).to_vec();
    a.extend([s(model), "-o", s(results), s(inputs)].map(String::from));
    a.extend(extra.iter().map(|e| e.to_string()));
    a
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn every_score_is_within_1e5_of_a_numpy_computation_of_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let m = models(dir.path());
    for (model, (w, h), classes) in [("colour", (32, 32), 3), ("conv", (48, 40), 10)] {
        // At the model's input size: no resize between the decoded pixels and the tensor.
        let valid = dir.path().join(format!("valid-{model}"));
        let files = images_sized(&valid, 3, |_| (w, h));
        let mut c = Command::new("/usr/bin/python3");
        c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models/numpy_ref.py")).arg(m.join(format!("{model}.onnx")));
        let out = run({
            c.args(&files);
            c
        });
        assert!(out.status.success(), "numpy_ref.py: {}", String::from_utf8_lossy(&out.stderr));
        let want: HashMap<String, Vec<f64>> = serde_json::from_slice(&out.stdout).unwrap();
        for ranks in [1, 3] {
            let results = dir.path().join(format!("numpy-{model}-{ranks}.jsonl"));
            let k = classes.to_string();
            let args = classify_args(&m.join(format!("{model}.onnx")), &results, &valid, &["--top-k", &k]);
            let out = mpirun(ranks, &strs(&args));
            assert!(out.status.success(), "{model} np{ranks}: {}", String::from_utf8_lossy(&out.stderr));
            let got = scores(&results);
            assert_eq!(got.len(), files.len());
            for f in &files {
                let (top, all) = (&got[&f.display().to_string()], &want[&f.display().to_string()]);
                assert_eq!(top.len(), classes, "every class reported");
                for &(index, score) in top {
                    let off = (score as f64 - all[index]).abs();
                    assert!(
                        off <= 1e-5,
                        "{model} np{ranks} {}: class {index}: {score} vs numpy {}",
                        f.display(),
                        all[index]
                    );
                }
            }
        }
    }
}

#[test]
fn a_rank_killed_mid_job_and_the_rerun_classify_every_image_once_and_as_a_clean_run_does() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("models");
    let out = run({
        let mut c = Command::new("/usr/bin/python3");
        c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models/make_models.py")).arg("--mobilenet").arg(&m);
        c
    });
    assert!(out.status.success(), "make_models.py: {}", String::from_utf8_lossy(&out.stderr));
    let model = m.join("mobilenetv2.onnx");
    // Tens of milliseconds an image on one thread: the job is still running when rank 2 dies.
    let valid = dir.path().join("valid");
    let files = images_sized(&valid, 50, |i| (200 + i % 7, 180 + i % 5));
    let out_dir = dir.path().join("killed-out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let results = out_dir.join("results.jsonl");
    let args = classify_args(&model, &results, &valid, &[]);
    let child = spawn_mpirun(3, &strs(&args));
    let mut pids = Vec::new();
    wait_until(Duration::from_secs(90), "three ranks up and images done", || {
        pids = pids_with("killed-out");
        pids.len() == 3 && journal_events(&out_dir, "done").len() >= 10
    });
    signal(pid_of_rank(&pids, 2), libc::SIGKILL);
    let out = finish(child, "the killed classify job");
    assert!(!out.status.success(), "the job ended cleanly although rank 2 was killed");
    let before = journal_events(&out_dir, "done").len();
    assert!(before < files.len() && journal_events(&out_dir, "finish").is_empty(), "the kill came after the end");

    let out = mpirun(3, &strs(&args));
    assert_ok(&out, "the rerun");
    let done = journal_events(&out_dir, "done");
    for f in &files {
        let n = done.iter().filter(|d| d["input"].as_str() == Some(s(f))).count();
        assert_eq!(n, 1, "{} journaled done {n} times over the two runs", f.display());
    }
    let got = scores(&results);
    assert_eq!(got.len(), files.len(), "one line per image");
    // The same answers as one uninterrupted run (one thread per rank in both).
    let clean = dir.path().join("clean.jsonl");
    assert_ok(&mpirun(2, &strs(&classify_args(&model, &clean, &valid, &[]))), "the clean run");
    assert_eq!(got, scores(&clean), "the killed-and-resumed results differ from a clean run");
}

#[test]
fn a_bad_image_fails_its_own_line_and_a_rerun_classifies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let m = models(dir.path());
    let files = images(&dir.path().join("valid"));
    std::fs::write(dir.path().join("valid/red/broken.png"), b"\x89PNG\r\n\x1a\nbroken").unwrap();
    let results = dir.path().join("r.jsonl");
    let a = classify_args(&m.join("colour.onnx"), &results, &dir.path().join("valid"), &["--json"]);
    let out = mpirun(3, &strs(&a));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&results).unwrap();
    assert_eq!(text.lines().count(), files.len() + 1);
    assert!(text.lines().any(|l| l.contains("broken.png") && l.contains("\"error\"")), "{text}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["evaluation"]["top1"].as_f64(), Some(1.0));
    // The rerun: the good images are done; the broken one is tried again and still fails, alone.
    std::fs::remove_file(dir.path().join("valid/red/broken.png")).unwrap();
    let out = mpirun(3, &strs(&a));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((summary["done"].as_u64(), summary["already_done"].as_u64()), (Some(0), Some(files.len() as u64)));
    assert_eq!(scores(&results).len(), files.len(), "every image once");
}

#[test]
fn bad_models_sidecars_and_labels_are_refused_before_any_image() {
    let dir = tempfile::tempdir().unwrap();
    let m = models(dir.path());
    images(&dir.path().join("valid"));
    let try_model = |model: &str, extra: &[&str]| {
        let (model_path, results, valid) = (m.join(model), dir.path().join("r.jsonl"), dir.path().join("valid"));
        let mut a = vec!["classify", "--model", model_path.to_str().unwrap(), "-o", results.to_str().unwrap()];
        a.push(valid.to_str().unwrap());
        a.extend_from_slice(extra);
        let out = alone(&a);
        assert_eq!(out.status.code(), Some(3), "{model} {extra:?}");
        assert!(!dir.path().join("r.jsonl").exists(), "{model}: nothing written");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(try_model("truncated.onnx", &[]).contains("not an ONNX model"));
    assert!(try_model("text.onnx", &[]).contains("not an ONNX model"));
    assert!(try_model("missing.onnx", &[]).contains("missing.onnx: cannot read the model"));
    let wrong = m.join("conv-wrong-shape.json");
    let e = try_model("conv.onnx", &["--sidecar", wrong.to_str().unwrap()]);
    assert!(e.contains("?x3x40x48") && e.contains("64x64"), "{e}");
    let short = m.join("conv-short-labels.txt");
    let e = try_model("conv.onnx", &["--labels", short.to_str().unwrap()]);
    assert!(e.contains("9 labels, but the model") && e.contains("10 scores"), "{e}");
}
