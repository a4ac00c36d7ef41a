//! More of `imgproc serve` under real `mpirun`: a user's cap answers 429 with Retry-After, a
//! finished job is removed after `--keep`, a video job runs through the API frame-exact, and a
//! small job sharing a turn ends with its own image, and one submitted while a turn of its chain
//! runs joins it.

mod common;

use common::server::Server;
use common::video::{assert_frames, expected, frames_of, make_video};
use common::{s, write_picture};
use std::time::{Duration, Instant};

#[test]
fn a_full_queue_answers_429_with_retry_after_and_takes_jobs_again_once_it_drains() {
    let tmp = tempfile::tempdir().unwrap();
    let slow = tmp.path().join("slow.png");
    write_picture(&slow, 1600, 1200, 3, 5);
    let server = Server::start(2, &tmp.path().join("data"), &["--max-user-jobs", "1"]);
    let (status, first) = server.submit(&[&slow, &slow, &slow], "bilateral:d=25", None, &[]);
    assert_eq!(status, 202, "{first}");
    let (status, headers) =
        server.curl(&["-i", "-F", "chain=invert", "-F", &format!("files=@{}", s(&slow))], "/api/jobs");
    let text = String::from_utf8_lossy(&headers).to_ascii_lowercase();
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("retry-after: 5"), "{text}");
    assert!(text.contains("the limit is 1"), "{text}");
    server.wait_final(first["id"].as_str().unwrap(), None);
    let (status, again) = server.submit(&[&slow], "invert", None, &[]);
    assert_eq!(status, 202, "{again}");
}

#[test]
fn a_finished_job_and_its_files_are_removed_after_keep() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("a.png");
    write_picture(&img, 64, 48, 3, 2);
    let server = Server::start(1, &tmp.path().join("data"), &["--keep", "2"]);
    let (_, job) = server.submit(&[&img], "invert", None, &[]);
    let id = job["id"].as_str().unwrap().to_string();
    let done = server.wait_final(&id, None);
    let keep_until = done["keep_until"].as_f64().unwrap();
    assert!((keep_until - done["finished"].as_f64().unwrap() - 2.0).abs() < 1e-6, "{done}");
    let started = Instant::now();
    while server.get(&format!("/api/jobs/{id}")).0 != 404 {
        assert!(started.elapsed() < Duration::from_secs(30), "the job was kept past --keep");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!server.data.join("jobs").join(&id).exists(), "its files are gone too");
}

#[test]
fn a_video_job_runs_through_the_api_frame_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let video = tmp.path().join("clip.mp4");
    make_video(&video, 2, false);
    let server = Server::start(3, &tmp.path().join("data"), &[]);
    let (status, job) = server.submit(&[&video], "gray", None, &["format=mkv"]);
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["kind"], "video");
    let done = server.wait_final(job["id"].as_str().unwrap(), None);
    assert_eq!(done["status"], "succeeded", "{done}");
    let name = done["items"][0]["output"].as_str().unwrap();
    assert_eq!(name, "clip.mkv");
    let (status, bytes) = server.get(&format!("/api/jobs/{}/results/{name}", done["id"].as_str().unwrap()));
    assert_eq!(status, 200);
    let got = tmp.path().join("got.mkv");
    std::fs::write(&got, bytes).unwrap();
    assert_frames(&frames_of(&got), &expected("gray", &frames_of(&video)), "video through the API");
    assert!(done["progress"]["total"].as_u64().unwrap() > 0, "frames planned: {done}");
}

/// Two small jobs share a turn on the ranks; each ends with its own image, not with the turn:
/// the tiny one is succeeded (and its result there to fetch) while the big one still runs.
#[test]
fn a_small_job_sharing_a_turn_ends_with_its_own_image_not_with_the_turn() {
    let tmp = tempfile::tempdir().unwrap();
    let (big, tiny) = (tmp.path().join("big.png"), tmp.path().join("tiny.png"));
    write_picture(&big, 2400, 1800, 3, 7);
    write_picture(&tiny, 32, 24, 3, 8);
    let blockers: Vec<std::path::PathBuf> = (0..9).map(|i| tmp.path().join(format!("b{i}.png"))).collect();
    blockers.iter().enumerate().for_each(|(i, b)| write_picture(b, 1200, 800, 3, 20 + i as u64));
    let server = Server::start(3, &tmp.path().join("data"), &[]);
    let op = "bilateral:d=25";
    // Nine images are not a small job: it runs alone (a few seconds), while the two small ones
    // queue behind it and then share the next turn.
    let (status, first) = server.submit(&blockers.iter().map(|b| b.as_path()).collect::<Vec<_>>(), op, None, &[]);
    assert_eq!(status, 202, "{first}");
    let (_, a) = server.submit(&[&big], op, None, &[]);
    let (_, b) = server.submit(&[&tiny], op, None, &[]);
    let (a, b) = (a["id"].as_str().unwrap().to_string(), b["id"].as_str().unwrap().to_string());
    let first = server.wait_final(first["id"].as_str().unwrap(), None);
    assert_eq!(first["status"], "succeeded", "{first}");
    let b_done = server.wait_final(&b, None);
    assert_eq!(b_done["status"], "succeeded", "{b_done}");
    let busy = b_done["progress"]["ranks"].as_array().unwrap().iter().filter(|r| r["busy"] == true).count();
    assert_eq!(busy, 0, "an ended job shows no rank busy: {b_done}");
    let a_then = server.get_json(&format!("/api/jobs/{a}"), None).1;
    assert_eq!(a_then["status"], "running", "the big image's job when the tiny one ended: {a_then}");
    let name = b_done["items"][0]["output"].as_str().unwrap();
    assert_eq!(server.get(&format!("/api/jobs/{b}/results/{name}")).0, 200, "the tiny job's result");
    let a_done = server.wait_final(&a, None);
    assert_eq!(a_done["status"], "succeeded", "{a_done}");
}

/// The value of counter `name` in `/metrics`.
fn metric(server: &Server, name: &str) -> u64 {
    let text = String::from_utf8(server.get("/metrics").1).unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}: {text}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Downloads the one result of `job` and checks it against `imgproc run --reference`.
fn assert_exact(server: &Server, job: &serde_json::Value, input: &std::path::Path, op: &str, tmp: &std::path::Path) {
    use imgproc::codec::{read_image, DEFAULT_MAX_PIXELS};
    let (id, name) = (job["id"].as_str().unwrap(), job["items"][0]["output"].as_str().unwrap());
    let got = tmp.join(format!("got-{id}-{name}"));
    let (status, bytes) = server.get(&format!("/api/jobs/{id}/results/{name}"));
    assert_eq!(status, 200, "{job}");
    std::fs::write(&got, bytes).unwrap();
    let want = tmp.join(format!("want-{id}-{name}"));
    common::reference(op, input, &want);
    let (x, y) = (read_image(&got, DEFAULT_MAX_PIXELS).unwrap(), read_image(&want, DEFAULT_MAX_PIXELS).unwrap());
    assert!((x.width, x.height, x.channels, &x.data) == (y.width, y.height, y.channels, &y.data), "{name}");
}

/// A small job queued while a turn of its chain runs joins that turn (no new turn starts for
/// it) and ends with its own image; a job with another chain closes the turn and runs in the
/// next one. Every result equals the one-process result.
#[test]
fn a_small_job_joins_the_running_turn_and_another_chain_waits_for_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let (long, small, other) =
        (tmp.path().join("long.png"), tmp.path().join("small.png"), tmp.path().join("other.png"));
    write_picture(&long, 3000, 2000, 3, 31);
    write_picture(&small, 64, 48, 3, 32);
    write_picture(&other, 80, 60, 3, 33);
    let server = Server::start(3, &tmp.path().join("data"), &[]);
    let op = "bilateral:d=25";
    let (status, a) = server.submit(&[&long], op, None, &[]);
    assert_eq!(status, 202, "{a}");
    let a = a["id"].as_str().unwrap().to_string();
    common::wait_until(Duration::from_secs(60), "the long job on the ranks", || {
        server.get_json(&format!("/api/jobs/{a}"), None).1["status"] == "running"
    });
    let (_, b) = server.submit(&[&small], op, None, &[]);
    let b_done = server.wait_final(b["id"].as_str().unwrap(), None);
    assert_eq!(b_done["status"], "succeeded", "{b_done}");
    assert_eq!(metric(&server, "imgproc_turns_total"), 1, "the small job ran in the long one's turn");
    assert_eq!(metric(&server, "imgproc_turn_joins_total"), 1);
    let (_, c) = server.submit(&[&other], "invert", None, &[]);
    let a_then = server.get_json(&format!("/api/jobs/{a}"), None).1;
    assert_eq!(a_then["status"], "running", "the long job still runs when the other chain arrives: {a_then}");
    let c_done = server.wait_final(c["id"].as_str().unwrap(), None);
    assert_eq!(c_done["status"], "succeeded", "{c_done}");
    let a_done = server.get_json(&format!("/api/jobs/{a}"), None).1;
    assert_eq!(a_done["status"], "succeeded", "the other chain ran after the turn it closed: {a_done}");
    // Each job of the turn shows its own share of the ranks, not the turn's.
    for job in [&a_then, &b_done, &a_done] {
        let ranks = job["progress"]["ranks"].as_array().unwrap();
        let (done, busy) = (
            ranks.iter().map(|r| r["done"].as_u64().unwrap()).sum::<u64>(),
            ranks.iter().filter(|r| r["busy"] == true).count(),
        );
        let want = if job["status"] == "running" { (0, 1) } else { (1, 0) };
        assert_eq!((done, busy), want, "one image each: {job}");
    }
    assert!(c_done["started"].as_f64() >= a_done["finished"].as_f64(), "{c_done} / {a_done}");
    assert_eq!(metric(&server, "imgproc_turns_total"), 2);
    assert_eq!(metric(&server, "imgproc_turn_joins_total"), 1, "another chain never joins");
    assert_exact(&server, &b_done, &small, op, tmp.path());
    assert_exact(&server, &c_done, &other, "invert", tmp.path());
    assert_exact(&server, &a_done, &long, op, tmp.path());
}
