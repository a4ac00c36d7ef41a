//! The queue of `imgproc serve` under real `mpirun`: users take turns at image granularity, a
//! cancel ends a running job, and queued and running jobs survive a restart on the same data
//! (a batch goes on from its journal: nothing redone, nothing lost), with event streams that
//! resume by `Last-Event-ID`.

mod common;

use common::server::{sse, Server};
use common::{alone, assert_ok, journal_events, s, write_picture};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A slow op: about a tenth of a second per picture here.
const SLOW: &str = "bilateral:d=15";

fn pictures(dir: &Path, prefix: &str, n: usize, w: usize, h: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = dir.join(format!("{prefix}{i:03}.png"));
            write_picture(&p, w, h, 3, i as u64 + 11);
            p
        })
        .collect()
}

fn token(users: &Path, name: &str) -> String {
    let out = alone(&["user", "add", name, "--users", s(users)]);
    assert_ok(&out, "user add");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn id(job: &Value) -> String {
    job["id"].as_str().unwrap_or_else(|| panic!("no id in {job}")).to_string()
}

#[test]
fn a_one_image_job_goes_before_the_rest_of_another_users_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("users.toml");
    let (a, b) = (token(&users, "a"), token(&users, "b"));
    let batch = pictures(tmp.path(), "a", 60, 400, 300);
    let single = pictures(tmp.path(), "b", 1, 400, 300);
    let server = Server::start(3, &tmp.path().join("data"), &["--users", s(&users)]);
    let refs: Vec<&Path> = batch.iter().map(PathBuf::as_path).collect();
    let (status, job_a) = server.submit(&refs, SLOW, Some(&a), &[]);
    assert_eq!(status, 202, "{job_a}");
    let job_a = id(&job_a);
    // Once A's batch is on the ranks, B asks for one image.
    common::wait_until(std::time::Duration::from_secs(60), "A's batch running", || {
        server.get_json(&format!("/api/jobs/{job_a}"), Some(&a)).1["done"].as_u64().unwrap_or(0) >= 3
    });
    let (status, job_b) = server.submit(&[&single[0]], SLOW, Some(&b), &[]);
    assert_eq!(status, 202, "{job_b}");
    let b_done = server.wait_final(&id(&job_b), Some(&b));
    assert_eq!(b_done["status"], "succeeded");
    let a_then = server.get_json(&format!("/api/jobs/{job_a}"), Some(&a)).1;
    assert!(
        a_then["done"].as_u64().unwrap() < 60,
        "B's one image waited for A's whole batch: A had {} of 60 done when B ended",
        a_then["done"]
    );
    let a_done = server.wait_final(&job_a, Some(&a));
    assert_eq!((a_done["status"].as_str(), a_done["done"].as_u64()), (Some("succeeded"), Some(60)));
    assert!(a_done["runs"].as_u64().unwrap() >= 2, "A's batch yielded its turn and came back: {a_done}");
    // Nothing was done twice: one journal line per image.
    let out = server.data.join("jobs").join(&job_a).join("out");
    let mut done: Vec<String> = journal_events(&out, "done").iter().map(|e| e["input"].to_string()).collect();
    assert_eq!(done.len(), 60, "every image journaled once");
    done.sort();
    done.dedup();
    assert_eq!(done.len(), 60, "no image done twice");
}

#[test]
fn a_cancelled_job_ends_canceled_and_the_next_job_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let batch = pictures(tmp.path(), "c", 40, 400, 300);
    let server = Server::start(3, &tmp.path().join("data"), &[]);
    let refs: Vec<&Path> = batch.iter().map(PathBuf::as_path).collect();
    let (_, running) = server.submit(&refs, SLOW, None, &[]);
    let (_, queued) = server.submit(&refs[..2], "invert", None, &[]);
    let (_, later) = server.submit(&refs[..2], "invert", None, &[]);
    let (running, queued, later) = (id(&running), id(&queued), id(&later));
    common::wait_until(std::time::Duration::from_secs(60), "the batch running", || {
        server.get_json(&format!("/api/jobs/{running}"), None).1["done"].as_u64().unwrap_or(0) >= 2
    });
    assert_eq!(server.curl(&["-X", "POST"], &format!("/api/jobs/{queued}/cancel")).0, 202);
    assert_eq!(server.curl(&["-X", "POST"], &format!("/api/jobs/{running}/cancel")).0, 202);
    let job = server.wait_final(&running, None);
    assert_eq!(job["status"], "canceled", "{job}");
    let statuses: Vec<&str> = job["items"].as_array().unwrap().iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert!(statuses.contains(&"canceled") && statuses.contains(&"succeeded"), "{statuses:?}");
    assert_eq!(server.wait_final(&queued, None)["status"], "canceled");
    assert_eq!(server.curl(&["-X", "POST"], &format!("/api/jobs/{queued}/cancel")).0, 409, "already ended");
    assert_eq!(server.wait_final(&later, None)["status"], "succeeded", "the queue goes on");
    // Cancelled results written before the cancel stay; nothing half-written is left.
    let out = server.data.join("jobs").join(&running).join("out");
    assert!(common::temp_files(&out).is_empty(), "no temporary file left");
}

#[test]
fn queued_and_running_jobs_survive_a_restart_and_streams_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Big enough that the batch is still running when the server stops (seconds of work).
    let batch = pictures(tmp.path(), "r", 40, 900, 700);
    let refs: Vec<&Path> = batch.iter().map(PathBuf::as_path).collect();
    let mut server = Server::start(3, &data, &[]);
    let (_, first) = server.submit(&refs, "bilateral:d=25", None, &[]);
    let (_, second) = server.submit(&refs[..3], "gray", None, &[]);
    let (first, second) = (id(&first), id(&second));
    common::wait_until(std::time::Duration::from_secs(60), "the batch running", || {
        server.get_json(&format!("/api/jobs/{first}"), None).1["done"].as_u64().unwrap_or(0) >= 3
    });
    // What a client saw before the restart.
    let seen = sse(&server.url(&format!("/api/jobs/{first}/events")), &[], 1);
    let last_id = seen.iter().map(|e| e.1).max().unwrap();
    let ended = |e: &&(String, u64, String)| e.0 == "item" && e.2.contains("\"status\":\"succeeded\"");
    let seen_items = seen.iter().filter(ended).count();
    let state: Value = serde_json::from_str(&seen.iter().rev().find(|e| e.0 == "state").unwrap().2).unwrap();
    assert!(state["done"].as_u64().unwrap() < 40, "the batch was still running: {state}");
    server.stop();
    let before = server.get_json(&format!("/api/jobs/{second}"), None);
    assert_eq!(before.0, 0, "the server is down");

    let server = Server::start(3, &data, &[]);
    let after = sse(&server.url(&format!("/api/jobs/{first}/events")), &[&format!("Last-Event-ID: {last_id}")], 120);
    let resumed_items = after.iter().filter(ended).count();
    assert_eq!(after.last().map(|e| e.0.as_str()), Some("end"), "{after:?}");
    assert_eq!(seen_items + resumed_items, 40, "the resumed stream has exactly the items not seen yet");
    let job = server.wait_final(&first, None);
    assert_eq!((job["status"].as_str(), job["done"].as_u64()), (Some("succeeded"), Some(40)), "{job}");
    assert_eq!(job["runs"].as_u64(), Some(2), "stopped mid-batch and resumed once: {job}");
    let out = data.join("jobs").join(&first).join("out");
    let mut done: Vec<String> = journal_events(&out, "done").iter().map(|e| e["input"].to_string()).collect();
    done.sort();
    let n = done.len();
    done.dedup();
    assert_eq!((n, done.len()), (40, 40), "nothing redone, nothing lost");
    assert_eq!(server.wait_final(&second, None)["status"], "succeeded", "the queued job ran after the restart");
}
