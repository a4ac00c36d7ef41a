//! Classification in `imgproc serve --model` under real `mpirun`: `/whatis` answers the original
//! client's request (Python `requests`, multipart field `file`) with the best label's first
//! synonym and its `--info` text; `/api/classify` gives the same scores as `imgproc classify`; a
//! classify job goes through the queue like any other (its images labelled in the job, its
//! results file downloadable) and another user's long batch yields to a `/whatis` request; bad
//! images, a server without a model and a bad model are refused clearly.

mod common;

use common::server::Server;
use common::{alone, assert_ok, s, wait_until, write_picture};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn models(dir: &Path) -> PathBuf {
    let m = dir.join("models");
    let mut c = Command::new("/usr/bin/python3");
    c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models/make_models.py")).arg(&m);
    let out = common::run(c);
    assert!(out.status.success(), "make_models.py: {}", String::from_utf8_lossy(&out.stderr));
    m
}

/// A picture whose dominant colour is `channel` (BGR order: 2 is red).
fn coloured(path: &Path, channel: usize, seed: usize) {
    let (w, h) = (48 + seed, 36 + seed);
    let mut data = vec![0u8; w * h * 3];
    for (p, px) in data.chunks_mut(3).enumerate() {
        px.iter_mut().enumerate().for_each(|(c, v)| *v = ((p * 5 + c * 17 + seed * 3) % 80) as u8);
        px[channel] = px[channel].saturating_add(160);
    }
    let img = imgproc::image::Image::from_vec(w, h, 3, data).unwrap();
    let ext = path.extension().unwrap().to_str().unwrap();
    std::fs::write(path, &*imgproc::codec::encode(&img, ext).unwrap()).unwrap();
}

/// The original client: `requests.post(url, files={"file": f})`.
fn original_client(server: &Server, image: &Path) -> (u16, Value) {
    let mut c = Command::new("/usr/bin/python3");
    c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/whatis_client.py")).arg(server.url("/whatis")).arg(image);
    let out = common::run(c);
    assert!(out.status.success(), "whatis_client.py: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (status, body) = text.split_once('\n').unwrap();
    (status.trim().parse().unwrap(), serde_json::from_str(body).unwrap_or(Value::Null))
}

fn post_image(server: &Server, path: &str, image: &Path, token: Option<&str>) -> (u16, Value) {
    let file = format!("file=@{}", s(image));
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut args = vec!["-F", file.as_str()];
    if let Some(a) = &auth {
        args.extend(["-H", a.as_str()]);
    }
    let (status, body) = server.curl(&args, path);
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn jobs_of(server: &Server, token: Option<&str>) -> Vec<Value> {
    server.get_json("/api/jobs", token).1["jobs"].as_array().cloned().unwrap_or_default()
}

#[test]
fn whatis_answers_the_original_clients_request_and_api_classify_equals_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let m = models(tmp.path());
    let info = tmp.path().join("info.tsv");
    std::fs::write(&info, "# label\tdescription\nred\tThe colour of blood and of ripe strawberries.\n").unwrap();
    let (red, green, blue) = (tmp.path().join("red.png"), tmp.path().join("green.jpg"), tmp.path().join("blue.png"));
    coloured(&red, 2, 1);
    coloured(&green, 1, 2);
    coloured(&blue, 0, 3);
    let model = m.join("colour.onnx");
    let server =
        Server::start(3, &tmp.path().join("data"), &["--model", s(&model), "--info", s(&info), "--top-k", "3"]);

    let (status, answer) = original_client(&server, &red);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        serde_json::json!({"prediction": "red", "info": "The colour of blood and of ripe strawberries."})
    );
    // The labels file names green "green, emerald": the prediction is the first synonym; no info.
    let (status, answer) = original_client(&server, &green);
    assert_eq!((status, &answer), (200, &serde_json::json!({"prediction": "green", "info": null})));

    // /api/classify: the same scores `imgproc classify` writes for the same image.
    let (status, answer) = post_image(&server, "/api/classify", &blue, None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["file"], "blue.png");
    let results = tmp.path().join("cli.jsonl");
    assert_ok(&alone(&["classify", "--model", s(&model), "--top-k", "3", s(&blue), "-o", s(&results)]), "classify");
    let line: Value = serde_json::from_str(std::fs::read_to_string(&results).unwrap().trim()).unwrap();
    let scores = |v: &Value| -> Vec<(u64, f32)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|g| (g["index"].as_u64().unwrap(), g["score"].as_f64().unwrap() as f32))
            .collect()
    };
    assert_eq!(scores(&answer["top"]), scores(&line["top"]), "server {answer} vs CLI {line}");
    assert_eq!(answer["top"][0]["label"], "blue");

    // A truncated image is refused naming the upload; an answered request leaves no job behind.
    let broken = tmp.path().join("broken.png");
    std::fs::write(&broken, &std::fs::read(&red).unwrap()[..120]).unwrap();
    let (status, answer) = original_client(&server, &broken);
    assert_eq!(status, 422, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("broken.png"), "{answer}");
    assert!(jobs_of(&server, None).is_empty(), "answered requests left jobs: {:?}", jobs_of(&server, None));
}

#[test]
fn classify_jobs_take_turns_in_the_queue_like_any_other() {
    let tmp = tempfile::tempdir().unwrap();
    let m = models(tmp.path());
    let users = tmp.path().join("users.toml");
    let token = |name: &str| {
        let out = alone(&["user", "add", name, "--users", s(&users)]);
        assert_ok(&out, "user add");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (a, b) = (token("a"), token("b"));
    let server =
        Server::start(3, &tmp.path().join("data"), &["--users", s(&users), "--model", s(&m.join("colour.onnx"))]);

    // A's long filter batch is on the ranks when B asks what an image is.
    let slow: Vec<PathBuf> = (0..60)
        .map(|i| {
            let p = tmp.path().join(format!("a{i:03}.png"));
            write_picture(&p, 400, 300, 3, i + 5);
            p
        })
        .collect();
    let refs: Vec<&Path> = slow.iter().map(PathBuf::as_path).collect();
    let (status, job_a) = server.submit(&refs, "bilateral:d=15", Some(&a), &[]);
    assert_eq!(status, 202, "{job_a}");
    let job_a = job_a["id"].as_str().unwrap().to_string();
    wait_until(Duration::from_secs(60), "A's batch running", || {
        server.get_json(&format!("/api/jobs/{job_a}"), Some(&a)).1["done"].as_u64().unwrap_or(0) >= 3
    });
    let red = tmp.path().join("red.png");
    coloured(&red, 2, 4);
    let (status, answer) = post_image(&server, "/whatis", &red, Some(&b));
    assert_eq!((status, answer["prediction"].as_str()), (200, Some("red")), "{answer}");
    let a_then = server.get_json(&format!("/api/jobs/{job_a}"), Some(&a)).1;
    assert!(a_then["done"].as_u64().unwrap() < 60, "B's /whatis waited for A's whole batch: {a_then}");

    // B's classify job of six images: each item labelled, the results file one line per image.
    let mut files = Vec::new();
    for (i, (channel, name)) in [(2, "red"), (1, "green"), (0, "blue")].into_iter().cycle().take(6).enumerate() {
        let p = tmp.path().join(format!("{name}-{i}.png"));
        coloured(&p, channel, i);
        files.push(p);
    }
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (status, job_b) = server.submit(&refs, "", Some(&b), &["kind=classify"]);
    assert_eq!(status, 202, "{job_b}");
    assert_eq!(job_b["kind"], "classify");
    let done = server.wait_final(job_b["id"].as_str().unwrap(), Some(&b));
    assert_eq!((done["status"].as_str(), done["done"].as_u64()), (Some("succeeded"), Some(6)), "{done}");
    for item in done["items"].as_array().unwrap() {
        let want = item["name"].as_str().unwrap().split('-').next().unwrap();
        assert_eq!(item["top"][0]["label"], want, "{item}");
    }
    assert_eq!(done["results"], serde_json::json!(["results.jsonl"]));
    let auth = format!("Authorization: Bearer {b}");
    let url = format!("/api/jobs/{}/results/results.jsonl", done["id"].as_str().unwrap());
    let (status, body) = server.curl(&["-H", &auth], &url);
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(body).unwrap().lines().count(), 6);
    let a_done = server.wait_final(&job_a, Some(&a));
    assert_eq!(a_done["status"], "succeeded");
}

#[test]
fn a_server_without_a_model_or_with_a_bad_one_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let m = models(tmp.path());
    let red = tmp.path().join("red.png");
    coloured(&red, 2, 0);
    let server = Server::start(1, &tmp.path().join("data"), &[]);
    let (status, answer) = post_image(&server, "/whatis", &red, None);
    assert_eq!(status, 404, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("--model"), "{answer}");
    let (status, answer) = server.submit(&[&red], "", None, &["kind=classify"]);
    assert_eq!(status, 404, "{answer}");
    drop(server);

    for (model, says) in [("truncated.onnx", "truncated.onnx"), ("missing.onnx", "missing.onnx")] {
        let data = tmp.path().join(format!("data-{model}"));
        let out = alone(&["serve", "--listen", "127.0.0.1:0", "--data", s(&data), "--model", s(&m.join(model))]);
        assert!(!out.status.success(), "serve started with {model}");
        let err = common::stderr(&out);
        assert!(err.contains(says) && err.contains("--model"), "{model}: {err}");
    }
}
