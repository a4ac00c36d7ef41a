//! Cancel under real `mpirun`: SIGINT to rank 0 mid-job stops every rank, the exit code is 130,
//! no output is half-written; Ctrl+C to `mpirun` itself ends every rank as fast (mpirun then
//! exits 1, its own choice), while Ctrl+Z and `fg` to mpirun only pause the job; and a cancelled batch's journal stays true (every `done` has its
//! output, equal to the one-process result; a rerun finishes the rest and redoes nothing).
//! Also: ranks that wait do not spin.

mod common;

use common::*;
use imgproc::journal::JOURNAL_NAME;
use std::path::Path;
use std::time::{Duration, Instant};

/// Long enough per rank (bilateral, d=25, one thread) that a signal lands mid-computation.
const SLOW_OP: &str = "bilateral:d=25";
/// Cancel reaches every rank and they exit well within this (the benchmark measures it exactly).
const STOP_LIMIT: Duration = Duration::from_secs(3);

/// Waits until every rank of the job whose command line contains `needle` is running and each
/// worker has computed for a while; returns the PIDs, rank 0's first.
fn ranks_busy(needle: &str, ranks: usize) -> Vec<u32> {
    let mut pids = Vec::new();
    wait_until(Duration::from_secs(60), "every rank computing", || {
        pids = pids_with(needle);
        pids.len() == ranks
            && pids.iter().filter(|&&p| rank_of(p) != Some(0)).all(|&p| cpu_secs(p) > 0.3)
            && pids.iter().all(|&p| catches(p, libc::SIGINT))
            && pids.iter().filter(|&&p| rank_of(p) == Some(0)).all(|&p| catches(p, libc::SIGCONT))
    });
    pids.sort_by_key(|&p| rank_of(p));
    pids
}

/// Whether the process has its handler for `signal` installed: a signal that comes while the
/// dynamic loader is still mapping OpenCV and Open MPI (the first half second or so of a rank's
/// life, before `main`) can only take the default action, as for any program. Rank 0 under
/// mpirun also catches SIGCONT, the first step of mpirun ending the job.
fn catches(pid: u32, signal: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let caught = status.lines().find_map(|l| l.strip_prefix("SigCgt:")).map(str::trim).unwrap_or("0");
    u64::from_str_radix(caught, 16).is_ok_and(|mask| mask & (1 << (signal - 1)) != 0)
}

/// The state letter of a process in /proc (`T` stopped), `None` once it is gone.
fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn all_gone_within(pids: &[u32], limit: Duration, what: &str) {
    let started = Instant::now();
    wait_until(limit, what, || pids.iter().all(|p| !pids_with("").contains(p)));
    eprintln!("{what}: every rank gone {:.2} s after the signal", started.elapsed().as_secs_f64());
}

#[test]
fn sigint_to_rank_zero_mid_image_exits_130_with_no_output_and_no_rank_left() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 2400, 1800, 3, 3);
    let output = dir.path().join("cancel-image-out.png");
    let child = spawn_mpirun(3, &["run", "--threads", "1", "--op", SLOW_OP, s(&input), "-o", s(&output)]);
    let pids = ranks_busy("cancel-image-out.png", 3);
    signal(pids[0], libc::SIGINT);
    all_gone_within(&pids, STOP_LIMIT, "image cancel");
    let out = finish(child, "mpirun");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("cancelled"), "{}", stderr(&out));
    assert!(!output.exists(), "a cancelled job wrote its output");
    assert!(temp_files(dir.path()).is_empty());
}

/// Ctrl+C in mpirun's terminal reaches mpirun alone. Open MPI's mpirun decides its own exit
/// code then: 1, whatever the ranks exit with (README, exit codes).
#[test]
fn sigint_to_mpirun_mid_image_ends_every_rank_with_no_output_and_mpirun_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 2400, 1800, 3, 5);
    let output = dir.path().join("ctrl-c-mpirun-out.png");
    let child = spawn_mpirun(3, &["run", "--threads", "1", "--op", SLOW_OP, s(&input), "-o", s(&output)]);
    let pids = ranks_busy("ctrl-c-mpirun-out.png", 3);
    signal(child.id(), libc::SIGINT);
    all_gone_within(&pids, STOP_LIMIT, "Ctrl+C to mpirun");
    let out = finish(child, "mpirun");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cancelled"), "rank 0 cancelled the job itself: {}", stderr(&out));
    assert!(!output.exists(), "a cancelled job wrote its output");
    assert!(temp_files(dir.path()).is_empty());
}

/// Ctrl+Z then `fg`: mpirun stops the ranks (SIGSTOP) and continues them (SIGCONT); rank 0 must
/// not take that SIGCONT for mpirun ending the job. The job then completes, exact.
#[test]
fn a_job_stopped_and_continued_through_mpirun_completes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    // About 1.2 s of bilateral per worker: the ranks are still computing when the stop comes.
    write_picture(&input, 2400, 1800, 3, 6);
    let output = dir.path().join("stop-continue-out.png");
    let child = spawn_mpirun(3, &["run", "--threads", "1", "--op", SLOW_OP, s(&input), "-o", s(&output)]);
    let pids = ranks_busy("stop-continue-out.png", 3);
    signal(child.id(), libc::SIGTSTP);
    wait_until(Duration::from_secs(10), "every rank stopped", || pids.iter().all(|&p| state_of(p) == Some('T')));
    // Held stopped as a user's Ctrl+Z would be, longer than the stop rank 0 must recognise.
    std::thread::sleep(Duration::from_secs(1));
    signal(child.id(), libc::SIGCONT);
    let out = finish(child, "mpirun");
    assert_ok(&out, "the continued job");
    let expected = dir.path().join("expected.png");
    reference(SLOW_OP, &input, &expected);
    let read = |p: &Path| imgproc::codec::read_image(p, u64::MAX).unwrap();
    assert!(read(&output) == read(&expected), "the continued job's pixels differ from one process's");
}

#[test]
fn sigint_alone_exits_130_with_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 1600, 1200, 3, 4);
    let output = dir.path().join("cancel-alone-out.png");
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["run", "--threads", "1", "--op", SLOW_OP, s(&input), "-o", s(&output)]);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    wait_until(Duration::from_secs(60), "computing", || cpu_secs(pid) > 0.5);
    signal(pid, libc::SIGINT);
    all_gone_within(&[pid], STOP_LIMIT, "alone cancel");
    let out = finish(child, "imgproc alone");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(!output.exists());
}

/// The `done` entries of a journal, as input file names.
fn journal_done(out_dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(out_dir.join(JOURNAL_NAME)).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "done")
        .map(|v| Path::new(v["input"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn sigint_mid_batch_keeps_the_journal_true_and_a_rerun_finishes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let in_dir = dir.path().join("in");
    std::fs::create_dir(&in_dir).unwrap();
    let names: Vec<String> = (0..16).map(|i| format!("img{i:02}.png")).collect();
    for (i, name) in names.iter().enumerate() {
        write_picture(&in_dir.join(name), 500, 400, 3, 50 + i as u64);
    }
    let out_dir = dir.path().join("cancel-batch-out");
    let args = ["batch", "--threads", "1", "--op", SLOW_OP, s(&in_dir), "-o", s(&out_dir)];
    let child = spawn_mpirun(3, &args);
    wait_until(Duration::from_secs(60), "two images done", || journal_done(&out_dir).len() >= 2);
    let pids = ranks_busy("cancel-batch-out", 3);
    signal(pids[0], libc::SIGINT);
    all_gone_within(&pids, STOP_LIMIT, "batch cancel");
    let out = finish(child, "mpirun");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));

    // The journal and the folder agree: an output exists exactly for each `done`.
    let done = journal_done(&out_dir);
    assert!(done.len() < names.len(), "the batch was cancelled before its end");
    for name in &names {
        assert_eq!(out_dir.join(name).exists(), done.contains(name), "{name}: output and journal disagree");
    }
    assert!(temp_files(&out_dir).is_empty());

    // The rerun does the rest, once each, and every output equals one process's.
    assert_ok(&mpirun(2, &args), "rerun");
    let done = journal_done(&out_dir);
    for name in &names {
        assert_eq!(done.iter().filter(|d| *d == name).count(), 1, "{name} done once");
        let want = reference(SLOW_OP, &in_dir.join(name), &dir.path().join("expected.png"));
        assert_eq!(std::fs::read(out_dir.join(name)).unwrap(), want, "{name}");
    }
}

/// Waiting ranks sleep: while rank 0 alone decodes and then encodes a large image, the workers
/// wait for their strips and then for the next command. Their CPU time is sampled every 250 ms;
/// each must have a quiet stretch (under 15% of a core for a whole second). A busy-polling worker
/// uses a whole core in every slice; start-up and its short compute are the only busy slices.
#[test]
fn workers_waiting_for_rank_zero_use_almost_no_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.png");
    write_picture(&input, 8000, 5000, 3, 9);
    let output = dir.path().join("idle-out.png");
    // The whole-image path: rank 0 decodes and encodes alone while the workers wait (streamed
    // jobs hand the workers that work instead).
    let child = spawn_mpirun(3, &["run", "--whole-io", "--op", "invert", s(&input), "-o", s(&output)]);
    let mut pids = Vec::new();
    wait_until(Duration::from_secs(60), "three ranks up", || {
        pids = pids_with("idle-out.png");
        pids.len() == 3 && pids.iter().all(|&p| rank_of(p).is_some())
    });
    let workers: Vec<u32> = pids.iter().copied().filter(|&p| rank_of(p) != Some(0)).collect();
    const SLICE: Duration = Duration::from_millis(250);
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); workers.len()];
    while workers.iter().all(|p| pids_with("idle-out.png").contains(p)) && samples[0].len() < 80 {
        for (w, &p) in workers.iter().enumerate() {
            samples[w].push(cpu_secs(p));
        }
        std::thread::sleep(SLICE);
    }
    assert_ok(&finish(child, "mpirun"), "invert");
    for (w, cpu) in samples.iter().enumerate() {
        let busy: Vec<f64> = cpu.windows(2).map(|p| (p[1] - p[0]) / SLICE.as_secs_f64()).collect();
        let quiet = busy.windows(4).any(|run| run.iter().all(|&u| (0.0..0.15).contains(&u)));
        assert!(quiet, "worker {w} never waited quietly for a second: share of a core per 250 ms {busy:.2?}");
    }
}
