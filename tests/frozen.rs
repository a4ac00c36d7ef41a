//! A rank frozen for good (SIGSTOP and never resumed, as a node stuck on NFS) does not hold the
//! command after the work is done, under real `mpirun` started by `watcher.sh`: its batch image is
//! also given to another rank, every output is written once and exact, and rank 0 then waits a
//! bounded time for the frozen rank's goodbye, names it, and ends the job with the job's own exit
//! code (0), so mpirun returns within 3 s of the last output and the watcher does not relaunch.
//! The same for a video whose chunks are all done while one rank is frozen.

mod common;

use common::video::*;
use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One test at a time: each keeps 3–4 ranks busy on the machine's cores and bounds how soon its
/// command returns, so the other test's ranks beside it would make a working rank answer late
/// (CI: rank 1, still on its last image with the video test's ranks beside it, missed the 1 s
/// goodbye and was ended with the frozen one).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone_on_the_machine() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
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

/// Waits for `child` to end, noting when `mark()` first held (the last output's moment); then
/// checks the frozen rank `pid` is gone (SIGKILLing it if not, so no test leaves it behind).
/// Returns the output, how long after the mark the command ended, and whether `pid` was left.
fn end_after(child: std::process::Child, pid: u32, what: &str, mark: impl Fn() -> bool) -> (Output, Duration, bool) {
    let name = what.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send((finish(child, &name), Instant::now()));
    });
    let mut marked_at = None;
    let (out, ended_at) = loop {
        if marked_at.is_none() && mark() {
            marked_at = Some(Instant::now());
        }
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(done) => break done,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            // `finish` panicked (the command hung past its deadline and was killed).
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                signal(pid, libc::SIGKILL);
                panic!("{what} did not end; the frozen rank {pid} was killed");
            }
        }
    };
    let left = gone_within(pid, Duration::from_secs(2));
    if left {
        signal(pid, libc::SIGKILL);
    }
    let marked_at = marked_at.unwrap_or_else(|| panic!("the output never appeared:\n{}", stderr(&out)));
    (out, ended_at - marked_at, left)
}

#[test]
fn a_rank_frozen_mid_batch_is_named_and_the_command_returns_soon_after_the_last_output() {
    let _alone = alone_on_the_machine();
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
    let frozen = pid_of_rank(&pids, 2);
    stop_while_computing(frozen);

    // From the moment the batch's end is journaled (its last output is written before).
    let (out, waited, still_there) =
        end_after(child, frozen, "the watcher", || !journal_events(&out_dir, "finish").is_empty());
    let err = stderr(&out);
    assert!(out.status.success(), "the watcher exited {:?}:\n{err}", out.status.code());
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
/// folder), so the case here is a rank frozen with no chunk left to do: a 2-frame video on 4
/// ranks is two chunks of a frame (no more than its frames); once two ranks compute them (a
/// chain slow enough to watch), one of the workers that got none is frozen. Which ranks get the
/// chunks is the scheduler's choice (the first to ask), so the test looks instead of assuming.
#[test]
fn a_rank_frozen_once_its_video_chunks_are_done_is_named_and_the_command_returns_soon_after() {
    let _alone = alone_on_the_machine();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mp4");
    let made = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25"])
        .args(["-frames:v", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&input)
        .status()
        .unwrap();
    assert!(made.success(), "ffmpeg made the 2-frame video");
    let output = dir.path().join("frozen-video.mkv");
    // About 2 s of one core per frame: long enough to watch both chunks being computed.
    let op = &["bilateral:d=31"; 12].join(",");
    let args = ["video", "--threads", "1", "--op", op, s(&input), "-o", s(&output)];
    let child = spawn_mpirun(4, &args);
    // MPI_Init polls too, so CPU time counts only from when rank 0 opens the job's journal (every
    // rank is then past MPI_Init): freezing a rank inside MPI_Init would stall the job's start,
    // which is not the case this test is about.
    let journal = imgproc::video::work_dir(&output).join(imgproc::journal::JOURNAL_NAME);
    let mut pids = Vec::new();
    wait_until(Duration::from_secs(90), "rank 0 to open the job's journal", || {
        pids = pids_with("frozen-video.mkv");
        pids.len() == 4 && journal.exists()
    });
    let by_rank: Vec<u32> = (0..4).map(|r| pid_of_rank(&pids, r)).collect();
    let from: Vec<f64> = by_rank.iter().map(|&p| cpu_secs(p)).collect();
    let computing = || (0..4).filter(|&r| cpu_secs(by_rank[r]) > from[r] + 0.3).collect::<Vec<usize>>();
    wait_until(Duration::from_secs(90), "two ranks computing the two chunks", || {
        computing().len() >= 2 || output.exists()
    });
    let busy = computing();
    let idle = (1..4).find(|r| !busy.contains(r)).unwrap_or_else(|| panic!("two chunks, yet ranks {busy:?} computed"));
    let frozen = by_rank[idle];
    assert!(!output.exists(), "the video was done before rank {idle} was frozen");
    signal(frozen, libc::SIGSTOP);

    let (out, waited, still_there) = end_after(child, frozen, "mpirun", || output.exists());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "mpirun's exit:\n{err}");
    eprintln!("the command returned {waited:?} after the video was written");
    assert!(waited <= Duration::from_secs(3), "the command returned {waited:?} after the output:\n{err}");
    let named = format!("rank {idle} (");
    assert!(err.contains(&named) && err.contains("did not answer the shutdown"), "rank {idle} is not named:\n{err}");
    assert!(!still_there, "the frozen rank was left behind");
    assert_frames(&frames_of(&output), &expected(op, &frames_of(&input)), "a video with a frozen rank");
}
