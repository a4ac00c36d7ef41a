//! `imgproc serve` end to end: a real server (alone and under real `mpirun`), real `curl`, a
//! real SQLite file. Every result is checked against the one-process reference in decoded
//! pixels; every bad input gets its status and the server still serves afterwards.

mod common;

use common::server::{curl, sse, Server};
use common::{alone, assert_ok, reference, s, write_picture};
use imgproc::codec::{read_image, DEFAULT_MAX_PIXELS};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn pictures(dir: &Path, n: usize, w: usize, h: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = dir.join(format!("p{i}.{}", if i % 2 == 0 { "png" } else { "jpg" }));
            write_picture(&p, w + i, h + 2 * i, 3, i as u64 + 1);
            p
        })
        .collect()
}

/// An `item` event saying its item ended (not that it went on a rank).
fn ended(event: &(String, u64, String)) -> bool {
    event.0 == "item" && ["succeeded", "failed"].iter().any(|s| event.2.contains(&format!("\"status\":\"{s}\"")))
}

fn same_pixels(a: &Path, b: &Path) -> bool {
    let (x, y) = (read_image(a, DEFAULT_MAX_PIXELS).unwrap(), read_image(b, DEFAULT_MAX_PIXELS).unwrap());
    (x.width, x.height, x.channels) == (y.width, y.height, y.channels) && x.data == y.data
}

/// Downloads every result of `job` and checks it against `imgproc run --reference`.
fn assert_results_exact(server: &Server, job: &Value, inputs: &[PathBuf], op: &str, token: Option<&str>, tmp: &Path) {
    let id = job["id"].as_str().unwrap();
    let items = job["items"].as_array().unwrap();
    assert_eq!(items.len(), inputs.len());
    let auth = token.map(|t| format!("Authorization: Bearer {t}")).unwrap_or_default();
    for (item, input) in items.iter().zip(inputs) {
        assert_eq!(item["status"], "succeeded", "{item}");
        let name = item["output"].as_str().unwrap();
        let got = tmp.join(format!("got-{id}-{name}"));
        let (status, bytes) = server.curl(&["-H", &auth], &format!("/api/jobs/{id}/results/{name}"));
        assert_eq!(status, 200, "{name}");
        std::fs::write(&got, bytes).unwrap();
        let want = tmp.join(format!("want-{id}-{name}"));
        reference(op, input, &want);
        assert!(same_pixels(&got, &want), "{name}: differs from the one-process result");
    }
}

fn every_endpoint(ranks: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = pictures(tmp.path(), 3, 120, 90);
    let server = Server::start(ranks, &tmp.path().join("data"), &[]);
    let op = "gaussian:ksize=7,canny";

    let (status, ops) = server.get_json("/api/ops", None);
    assert_eq!(status, 200);
    let names: Vec<&str> = ops["ops"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, imgproc::ops::OP_NAMES.to_vec(), "the same registry as `imgproc ops`");
    let gaussian = &ops["ops"][1]["params"][0];
    assert_eq!((gaussian["name"].as_str(), gaussian["kind"]["odd"].as_bool()), (Some("ksize"), Some(true)));

    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let (status, accepted) = server.submit(&refs, op, None, &[]);
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    assert_eq!(accepted["status"], "queued");

    // The event stream from the start: every item, then the final state and the end.
    let events = sse(&server.url(&format!("/api/jobs/{id}/events")), &[], 60);
    let items: Vec<&(String, u64, String)> = events.iter().filter(|e| ended(e)).collect();
    assert_eq!(items.len(), 3, "{events:?}");
    assert_eq!(events.last().unwrap().0, "end");
    let ids: Vec<u64> = events.iter().map(|e| e.1).collect();
    assert!(ids.windows(2).all(|w| w[0] <= w[1]), "event ids never go back: {ids:?}");
    // A client that saw the first item resumes with exactly the other two.
    let resumed = sse(&server.url(&format!("/api/jobs/{id}/events")), &[&format!("Last-Event-ID: {}", items[0].1)], 30);
    assert_eq!(resumed.iter().filter(|e| ended(e)).count(), 2, "{resumed:?}");

    let job = server.wait_final(&id, None);
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!((job["done"].as_u64(), job["failed"].as_u64()), (Some(3), Some(0)));
    assert!(job["keep_until"].as_f64().unwrap() > job["finished"].as_f64().unwrap());
    let shares: u64 = job["progress"]["ranks"].as_array().unwrap().iter().map(|r| r["done"].as_u64().unwrap()).sum();
    assert_eq!(shares, 3, "the ranks' shares add up");
    assert_results_exact(&server, &job, &inputs, op, None, tmp.path());

    // The archive holds exactly the results.
    let zip = tmp.path().join("all.zip");
    let (status, bytes) = server.get(&format!("/api/jobs/{id}/archive"));
    assert_eq!(status, 200);
    std::fs::write(&zip, bytes).unwrap();
    let unzip = tmp.path().join("unzipped");
    let out = std::process::Command::new("unzip").args(["-q", s(&zip), "-d", s(&unzip)]).output().unwrap();
    assert!(out.status.success(), "unzip: {}", String::from_utf8_lossy(&out.stderr));
    for item in job["items"].as_array().unwrap() {
        let name = item["output"].as_str().unwrap();
        let (_, direct) = server.get(&format!("/api/jobs/{id}/results/{name}"));
        assert_eq!(std::fs::read(unzip.join(name)).unwrap(), direct, "{name} in the zip");
    }
    let (status, _) = server.get(&format!("/api/jobs/{id}/inputs/p0.png"));
    assert_eq!(status, 200);

    let (status, list) = server.get_json("/api/jobs", None);
    assert_eq!(status, 200);
    assert_eq!(list["jobs"][0]["id"], id.as_str());

    let (status, body) = curl(&["--data-binary", &format!("@{}", s(&inputs[0]))], &server.url("/api/info"));
    let info: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{info}");
    assert_eq!(
        (info["width"].as_u64(), info["height"].as_u64(), info["channels"].as_u64()),
        (Some(120), Some(90), Some(3))
    );
    assert_eq!(info["depth"], 8);
    assert_eq!(
        info["per_channel"][0]["histogram"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).sum::<u64>(),
        120 * 90
    );

    let (status, metrics) = server.get("/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("imgproc_images_total 3"), "{metrics}");
    assert!(metrics.contains("imgproc_jobs{state=\"succeeded\"} 1"), "{metrics}");
    assert_eq!(metrics.matches("imgproc_rank_busy_seconds_total{").count(), ranks);

    let (status, health) = server.get_json("/healthz", None);
    assert_eq!((status, health["ok"].as_bool()), (200, Some(true)), "{health}");
    assert_eq!(health["ranks"].as_array().unwrap().len(), ranks);

    let (status, _) = server.curl(&["-X", "DELETE"], &format!("/api/jobs/{id}"));
    assert_eq!(status, 204);
    assert_eq!(server.get(&format!("/api/jobs/{id}")).0, 404);
    assert!(!server.data.join("jobs").join(&id).exists(), "its files are gone");
}

#[test]
fn every_endpoint_answers_and_results_equal_the_one_process_result_alone() {
    every_endpoint(1);
}

#[test]
fn every_endpoint_answers_and_results_equal_the_one_process_result_on_three_ranks() {
    every_endpoint(3);
}

#[test]
fn users_see_only_their_own_jobs_and_a_wrong_or_missing_token_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("users.toml");
    let token = |name: &str| {
        let out = alone(&["user", "add", name, "--users", s(&users)]);
        assert_ok(&out, "user add");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (alice, bob) = (token("alice"), token("bob"));
    assert!(!std::fs::read_to_string(&users).unwrap().contains(&alice), "only the hash is stored");
    let inputs = pictures(tmp.path(), 1, 64, 48);
    let server = Server::start(2, &tmp.path().join("data"), &["--users", s(&users)]);

    assert_eq!(server.submit(&[&inputs[0]], "invert", None, &[]).0, 401, "no token");
    assert_eq!(server.submit(&[&inputs[0]], "invert", Some("nope"), &[]).0, 401, "a wrong token");
    let (status, job) = server.submit(&[&inputs[0]], "invert", Some(&alice), &[]);
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap();
    let done = server.wait_final(id, Some(&alice));
    assert_eq!(done["status"], "succeeded");
    assert_results_exact(&server, &done, &inputs, "invert", Some(&alice), tmp.path());

    let bob_auth = format!("Authorization: Bearer {bob}");
    for path in [format!("/api/jobs/{id}"), format!("/api/jobs/{id}/events"), format!("/api/jobs/{id}/archive")] {
        assert_eq!(server.curl(&["-H", &bob_auth], &path).0, 404, "{path} for another user");
    }
    assert_eq!(server.curl(&["-H", &bob_auth, "-X", "POST"], &format!("/api/jobs/{id}/cancel")).0, 404);
    assert_eq!(server.curl(&["-H", &bob_auth, "-X", "DELETE"], &format!("/api/jobs/{id}")).0, 404);
    let (_, list) = server.get_json("/api/jobs", Some(&bob));
    assert_eq!(list["jobs"].as_array().unwrap().len(), 0, "bob sees none of alice's jobs");
    // A cookie (what the page sets) works like the header.
    let cookie = format!("Cookie: imgproc_token={alice}");
    assert_eq!(server.curl(&["-H", &cookie], &format!("/api/jobs/{id}")).0, 200);
    assert_eq!(server.get_json(&format!("/api/jobs/{id}"), Some(&alice)).0, 200, "alice still sees it");
}

#[test]
fn bad_input_gets_its_status_and_the_server_still_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(2, &tmp.path().join("data"), &["--max-pixels", "20000", "--max-file-bytes", "200000"]);
    let good = pictures(tmp.path(), 1, 100, 80).remove(0);
    let text = tmp.path().join("notes.png");
    std::fs::write(&text, "not an image at all").unwrap();
    let huge = tmp.path().join("huge.png");
    write_picture(&huge, 300, 100, 1, 7); // 30 000 pixels
    let big = tmp.path().join("big.bin");
    std::fs::write(&big, vec![0x42u8; 300_000]).unwrap();

    let cases: Vec<(Vec<&Path>, &str, u16, &str)> = vec![
        (vec![&text], "invert", 415, "notes.png"),
        (vec![&good], "gaussian:ksize=4", 400, "ksize"),
        (vec![&good], "sharpen", 400, "sharpen"),
        (vec![&huge], "invert", 422, "30000 pixels"),
        (vec![&big], "invert", 413, "200000"),
        (vec![], "invert", 400, "no files"),
    ];
    for (files, chain, want, says) in cases {
        let (status, body) = server.submit(&files, chain, None, &[]);
        assert_eq!(status, want, "{chain} {files:?}: {body}");
        assert!(body["detail"].as_str().unwrap_or_default().contains(says), "{body} should say {says}");
        assert!(body["error"].is_string());
    }
    assert_eq!(server.curl(&["-X", "POST"], "/api/jobs/0123/cancel").0, 404);
    assert_eq!(server.get("/api/nothing").0, 404);
    // No job folder is left by a refused upload.
    let jobs = std::fs::read_dir(tmp.path().join("data/jobs")).unwrap().count();
    assert_eq!(jobs, 0, "refused uploads leave nothing behind");

    // Hostile names stay in the job's folder; a corrupt image fails its own item only.
    let corrupt = tmp.path().join("corrupt.png");
    let mut bytes = std::fs::read(&good).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&corrupt, bytes).unwrap();
    let hostile = format!("files=@{};filename=../../../../tmp/escape.png", s(&good));
    let nul = format!("files=@{};filename=a%00b/..\\..\\win.png", s(&good));
    let (status, job) = server.submit(&[&corrupt], "invert", None, &[&hostile, &nul]);
    assert_eq!(status, 202, "{job}");
    let job = server.wait_final(job["id"].as_str().unwrap(), None);
    let items = job["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert!(names.iter().all(|n| !n.contains('/') && !n.contains('\\') && !n.contains('\0')), "{names:?}");
    assert!(!Path::new("/tmp/escape.png").exists());
    let failed: Vec<&Value> = items.iter().filter(|i| i["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{job}");
    assert!(failed[0]["error"].as_str().unwrap().contains("corrupt.png"), "{}", failed[0]);
    assert_eq!(job["status"], "succeeded", "one bad image does not fail the job");

    // Still serving.
    let (status, job) = server.submit(&[&good], "invert", None, &[]);
    assert_eq!(status, 202);
    assert_eq!(server.wait_final(job["id"].as_str().unwrap(), None)["status"], "succeeded");
}

#[test]
fn a_slow_client_is_dropped_without_holding_up_the_others() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let good = pictures(tmp.path(), 1, 64, 48).remove(0);
    let server = Server::start(2, &tmp.path().join("data"), &["--idle-timeout", "1"]);
    let addr = server.base.trim_start_matches("http://").to_string();
    // Slowloris: headers that never end, and a body that stops halfway.
    let mut headers = std::net::TcpStream::connect(&addr).unwrap();
    headers.write_all(b"GET /api/jobs HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut body = std::net::TcpStream::connect(&addr).unwrap();
    let form = "--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n\r\n\u{89}PNG";
    let head = format!(
        "POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n{form}"
    );
    body.write_all(head.as_bytes()).unwrap();
    // Meanwhile another client is served.
    let (status, job) = server.submit(&[&good], "invert", None, &[]);
    assert_eq!(status, 202, "{job}");
    assert_eq!(server.wait_final(job["id"].as_str().unwrap(), None)["status"], "succeeded");
    // Both slow connections are closed by the server (read returns: 0 bytes or an answer).
    for (what, mut stream) in [("slow headers", headers), ("stalled body", body)] {
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer);
        assert!(read.is_ok(), "{what}: the server kept the connection open: {read:?}");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{what}: {text}");
    }
    let jobs = std::fs::read_dir(tmp.path().join("data/jobs")).unwrap().count();
    assert_eq!(jobs, 1, "the stalled upload left no job folder");
}
