//! A batch survives a stalled rank and a full output disk, under real `mpirun`:
//! - a rank stopped with SIGSTOP mid-batch does not hold up the end: its image is also given to an
//!   idle rank, the first result is kept, each output is written and journaled once;
//! - when the output file system fills up, the failed writes name the file and the reason, no
//!   temporary file stays, the journal agrees with the folder, the batch stops instead of failing
//!   every remaining image, and the same command resumes once there is room, redoing nothing.
//!
//! Needs root (mounting a small tmpfs), as CI runs.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn file_name(v: &serde_json::Value) -> String {
    Path::new(v["input"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned()
}

fn make_inputs(dir: &Path, n: usize, w: usize, h: usize) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let name = format!("img{i:02}.png");
            write_picture(&dir.join(&name), w, h, 3, 200 + i as u64);
            name
        })
        .collect()
}

#[test]
fn a_stopped_rank_does_not_hold_up_the_batch_and_nothing_is_written_twice() {
    for shared in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let in_dir = dir.path().join("in");
        // About a second per image on one thread: a stop almost always lands mid-computation.
        let names = make_inputs(&in_dir, 14, 900, 700);
        let op = "bilateral:d=15";
        let out_dir = dir.path().join(format!("straggler-out-{shared}"));
        let mut args = vec!["batch", "--threads", "1", "--op", op, s(&in_dir), "-o", s(&out_dir)];
        if shared {
            args.extend(["--shared-dir", s(dir.path())]);
        }
        let child = spawn_mpirun(3, &args);
        let needle = format!("straggler-out-{shared}");
        let mut pids = Vec::new();
        wait_until(Duration::from_secs(60), "an image done and rank 2 computing", || {
            pids = pids_with(&needle);
            pids.len() == 3
                && !journal_events(&out_dir, "done").is_empty()
                && pids.iter().any(|&p| rank_of(p) == Some(2) && cpu_secs(p) > 0.3)
        });
        let stalled = pid_of_rank(&pids, 2);
        // Stop it while it computes (not while it sends a result: see the limits in RECOVERY.md).
        stop_while_computing(stalled);
        // The batch ends while rank 2 is still stopped.
        let ended = std::panic::catch_unwind(|| {
            wait_until(Duration::from_secs(90), "the batch to end without rank 2", || {
                !journal_events(&out_dir, "finish").is_empty()
            })
        });
        signal(stalled, libc::SIGCONT);
        assert!(ended.is_ok(), "shared {shared}: the batch waited for the stopped rank");
        let out = finish(child, "mpirun");
        assert_ok(&out, "straggler batch");

        let done: Vec<String> = journal_events(&out_dir, "done").iter().map(file_name).collect();
        for name in &names {
            assert_eq!(done.iter().filter(|d| *d == name).count(), 1, "shared {shared}: {name} journaled once");
            let want = reference(op, &in_dir.join(name), &dir.path().join("expected.png"));
            assert_eq!(std::fs::read(out_dir.join(name)).unwrap(), want, "shared {shared}: {name}");
        }
        assert!(temp_files(&out_dir).is_empty(), "shared {shared}: temporary files left");
    }
}

/// A tmpfs mounted for the test, unmounted however the test ends.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> SmallDisk {
        // SAFETY: geteuid has no preconditions.
        assert_eq!(unsafe { libc::geteuid() }, 0, "this test mounts a tmpfs: run it as root (CI does)");
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(path).status();
        assert!(ok.unwrap().success(), "mounting a tmpfs at {}", path.display());
        SmallDisk(path.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status();
        assert!(ok.unwrap().success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_the_batch_cleanly_and_the_same_command_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let in_dir = dir.path().join("in");
    let names = make_inputs(&in_dir, 16, 300, 200);
    let one = std::fs::metadata(in_dir.join(&names[0])).unwrap().len();
    let out_dir = dir.path().join("full");
    // Room for about a third of the outputs.
    let disk = SmallDisk::mount(&out_dir, &format!("{}k", (one * 16 / 3) / 1024 + 64));
    let args = ["batch", "--op", "invert", s(&in_dir), "-o", s(&out_dir)];

    let out = mpirun(3, &args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device") && err.contains("full/img"), "{err}");
    assert!(err.contains("stopped early"), "{err}");
    let failed = journal_events(&out_dir, "failed");
    assert!(
        !failed.is_empty() && failed.len() <= 3,
        "at most one failed write per rank, not one per image: {failed:?}"
    );
    let done: Vec<String> = journal_events(&out_dir, "done").iter().map(file_name).collect();
    assert!(!done.is_empty() && done.len() < names.len(), "{done:?}");
    for name in &names {
        assert_eq!(out_dir.join(name).exists(), done.contains(name), "{name}: output and journal disagree");
    }
    assert!(temp_files(&out_dir).is_empty(), "temporary files left on the full disk");
    let written: Vec<_> =
        done.iter().map(|n| std::fs::metadata(out_dir.join(n)).unwrap().modified().unwrap()).collect();

    disk.resize("64m");
    let out = mpirun(2, &args);
    assert_ok(&out, "the resumed batch");
    let all: Vec<String> = journal_events(&out_dir, "done").iter().map(file_name).collect();
    for name in &names {
        assert_eq!(all.iter().filter(|d| *d == name).count(), 1, "{name} done once over both runs");
        let want = reference("invert", &in_dir.join(name), &dir.path().join("expected.png"));
        assert_eq!(std::fs::read(out_dir.join(name)).unwrap(), want, "{name}");
    }
    for (name, when) in done.iter().zip(written) {
        assert_eq!(std::fs::metadata(out_dir.join(name)).unwrap().modified().unwrap(), when, "{name} was redone");
    }
}
