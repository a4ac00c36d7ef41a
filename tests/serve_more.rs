//! More of `imgproc serve` under real `mpirun`: a user's cap answers 429 with Retry-After, a
//! finished job is removed after `--keep`, and a video job runs through the API frame-exact.

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
