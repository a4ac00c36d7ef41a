//! A rank frozen for good (SIGSTOP and never resumed, as a node stuck on NFS) does not hold the
//! command after the work is done, under real `mpirun` started by `watcher.sh`: its batch image is
//! also given to another rank, every output is written once and exact, and rank 0 then waits a
//! bounded time for the frozen rank's goodbye, names it, and ends the job with the job's own exit
//! code (0), so mpirun returns within 3 s of the last output and the watcher does not relaunch.
//! The same for a video whose chunks are all done while one rank is frozen.

mod common;

use common::video::*;
use common::*;
use imgproc::journal::JOURNAL_NAME;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn journal_events(out_dir: &Path, event: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out_dir.join(JOURNAL_NAME)).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == event)
        .collect()
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid as i32, 0) } == 0;
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')));
    exists && !zombie
}

/// Whether `pid` is still there after `limit` (mpirun returns as it kills the ranks; the kernel
/// may take a moment to finish them).
fn gone_within(pid: u32, limit: Duration) -> bool {
    let started = Instant::now();
    while alive(pid) {
        if started.elapsed() > limit {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_rank_frozen_mid_batch_is_named_and_the_command_returns_soon_after_the_last_output() {
    let dir = tempfile::tempdir().unwrap();
    let in_dir = dir.path().join("in");
    std::fs::create_dir_all(&in_dir).unwrap();
    // About a second per image on one thread: a stop almost always lands mid-computation.
    let names: Vec<String> = (0..12).map(|i| format!("img{i:02}.png")).collect();
    for (i, name) in names.iter().enumerate() {
        write_picture(&in_dir.join(name), 900, 700, 3, 300 + i as u64);
    }
    let op = "bilateral:d=15";
    let out_dir = dir.path().join("frozen-out");
    let hostfile = dir.path().join("hostfile");
    std::fs::write(&hostfile, "localhost slots=3\n").unwrap();
    let watcher = Path::new(env!("CARGO_MANIFEST_DIR")).join("watcher.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&watcher)
        .args(["-f", s(&hostfile), "-p", "test -n {host}", "-r", "2", "-i", "1", "--"])
        .args([BIN, "batch", "--threads", "1", "--op", op, s(&in_dir), "-o", s(&out_dir)])
        .env("MPIRUN_ARGS", "--oversubscribe -np 3")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().expect("the watcher starts");

    let mut pids = Vec::new();
    wait_until(Duration::from_secs(60), "an image done and rank 2 computing", || {
        pids = pids_with("frozen-out");
        pids.len() == 3
            && !journal_events(&out_dir, "done").is_empty()
            && pids.iter().any(|&p| rank_of(p) == Some(2) && cpu_secs(p) > 0.3)
    });
    let frozen = *pids.iter().find(|&&p| rank_of(p) == Some(2)).unwrap();
    wait_until(Duration::from_secs(60), "rank 2 busy computing", || {
        let before = cpu_secs(frozen);
        std::thread::sleep(Duration::from_millis(150));
        cpu_secs(frozen) - before > 0.03
    });
    signal(frozen, libc::SIGSTOP);

    // The moment the batch's end is journaled (its last output is written before), then the end
    // of the command.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send((finish(child, "the watcher"), Instant::now()));
    });
    let mut finished_at = None;
    let (out, ended_at) = loop {
        if finished_at.is_none() && !journal_events(&out_dir, "finish").is_empty() {
            finished_at = Some(Instant::now());
        }
        if let Ok(done) = rx.recv_timeout(Duration::from_millis(20)) {
            break done;
        }
    };
    let still_there = gone_within(frozen, Duration::from_secs(2));
    if still_there {
        signal(frozen, libc::SIGKILL);
    }
    let err = stderr(&out);
    let finished_at = finished_at.unwrap_or_else(|| panic!("the batch never journaled its end:\n{err}"));
    assert!(out.status.success(), "the watcher exited {:?}:\n{err}", out.status.code());
    let waited = ended_at - finished_at;
    eprintln!("the command returned {waited:?} after the batch journaled its end");
    assert!(waited <= Duration::from_secs(3), "the command returned {waited:?} after the last output:\n{err}");
    assert!(err.contains("rank 2 (") && err.contains("did not answer the shutdown"), "rank 2 is not named:\n{err}");
    assert!(err.contains("done mpirun exited 0") && !err.contains("relaunch"), "the watcher relaunched:\n{err}");
    assert!(!still_there, "the frozen rank was left behind");

    let done: Vec<String> = journal_events(&out_dir, "done")
        .iter()
        .map(|v| Path::new(v["input"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for name in &names {
        assert_eq!(done.iter().filter(|d| *d == name).count(), 1, "{name} journaled once");
        let want = reference(op, &in_dir.join(name), &dir.path().join("expected.png"));
        assert_eq!(std::fs::read(out_dir.join(name)).unwrap(), want, "{name}");
    }
    assert!(temp_files(&out_dir).is_empty(), "temporary files left");
}

/// Video chunks get no second copies (a worker writes its segment straight into the work
/// folder), so the case here is a rank frozen once its chunks are done: a 2-s video cut into two
/// chunks on 4 ranks, which the scheduler hands to ranks 1 and 2 (workers first, in rank order),
/// and rank 3, which gets none, is frozen while the others compute.
#[test]
fn a_rank_frozen_once_its_video_chunks_are_done_is_named_and_the_command_returns_soon_after() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mp4");
    make_video(&input, 2, false);
    let output = dir.path().join("frozen-video.mkv");
    let op = "bilateral:d=15";
    let args = ["video", "--threads", "1", "--op", op, "--chunk-frames", "25", s(&input), "-o", s(&output)];
    let child = spawn_mpirun(4, &args);
    let mut pids = Vec::new();
    let busy = |pids: &[u32], rank| pids.iter().any(|&p| rank_of(p) == Some(rank) && cpu_secs(p) > 0.3);
    wait_until(Duration::from_secs(90), "ranks 1 and 2 computing their chunks", || {
        pids = pids_with("frozen-video.mkv");
        pids.len() == 4 && busy(&pids, 1) && busy(&pids, 2)
    });
    let frozen = *pids.iter().find(|&&p| rank_of(p) == Some(3)).unwrap();
    assert!(!output.exists(), "the video was done before rank 3 was frozen");
    signal(frozen, libc::SIGSTOP);

    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send((finish(child, "mpirun"), Instant::now()));
    });
    let mut written_at = None;
    let (out, ended_at) = loop {
        if written_at.is_none() && output.exists() {
            written_at = Some(Instant::now());
        }
        if let Ok(done) = rx.recv_timeout(Duration::from_millis(20)) {
            break done;
        }
    };
    let still_there = gone_within(frozen, Duration::from_secs(2));
    if still_there {
        signal(frozen, libc::SIGKILL);
    }
    let err = stderr(&out);
    let written_at = written_at.unwrap_or_else(|| panic!("the video was never written:\n{err}"));
    assert_eq!(out.status.code(), Some(0), "mpirun's exit:\n{err}");
    let waited = ended_at - written_at;
    eprintln!("the command returned {waited:?} after the video was written");
    assert!(waited <= Duration::from_secs(3), "the command returned {waited:?} after the output:\n{err}");
    assert!(err.contains("rank 3 (") && err.contains("did not answer the shutdown"), "rank 3 is not named:\n{err}");
    assert!(!still_there, "the frozen rank was left behind");
    assert_frames(&frames_of(&output), &expected(op, &frames_of(&input)), "a video with a frozen rank");
}
