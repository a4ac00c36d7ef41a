//! A batch without `--shared-dir`, under real `mpirun`: each worker is checked at the start
//! (rank 0's probe file in the output folder, a sample of inputs) and reads and writes its own
//! files when it reaches them, so only indices travel; a worker that does not see the output
//! folder gets bytes through rank 0, in the same job. Outputs equal the one-process reference
//! and the journal names every image.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn inputs(dir: &Path, count: usize) -> Vec<PathBuf> {
    let in_dir = dir.join("in");
    std::fs::create_dir(&in_dir).unwrap();
    (0..count)
        .map(|i| {
            let p = in_dir.join(format!("img{i}.{}", if i % 2 == 0 { "jpg" } else { "png" }));
            write_picture(&p, 80 + i, 60, 3, 40 + i as u64);
            p
        })
        .collect()
}

/// Outputs equal the reference, the journal has a `done` line for every input, and nothing else
/// (temporary files, the probe) is left in the output folder.
fn assert_complete(dir: &Path, inputs: &[PathBuf], out_dir: &Path) {
    let journal = std::fs::read_to_string(out_dir.join(".imgproc-journal.jsonl")).unwrap();
    for input in inputs {
        let name = input.file_name().unwrap();
        let want = reference(
            "gaussian",
            input,
            &dir.join(format!("expected.{}", input.extension().unwrap().to_str().unwrap())),
        );
        assert!(std::fs::read(out_dir.join(name)).unwrap() == want, "{} differs from one process", input.display());
        let needle = format!("\"input\":\"{}\"", input.display());
        assert!(
            journal.lines().any(|l| l.contains("\"event\":\"done\"") && l.contains(&needle)),
            "{needle} not journaled"
        );
    }
    let left: Vec<_> = std::fs::read_dir(out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n != ".imgproc-journal.jsonl")
        .collect();
    assert!(left.is_empty(), "left in the output folder: {left:?}");
}

fn summary(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

#[test]
fn on_one_host_workers_read_and_write_their_own_files_and_only_indices_travel() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = inputs(dir.path(), 9);
    let out_dir = dir.path().join("out");
    let out = mpirun(3, &["batch", "--json", "--op", "gaussian", s(&dir.path().join("in")), "-o", s(&out_dir)]);
    assert_ok(&out, "batch");
    let summary = summary(&out);
    assert_eq!(summary["done"].as_u64(), Some(inputs.len() as u64));
    assert!(summary["images_per_sec"].as_f64().unwrap() > 0.0);
    for rank in summary["per_rank"].as_array().unwrap() {
        assert_eq!(rank["own_files"], true, "{rank}");
        assert_eq!((rank["bytes_sent"].as_u64(), rank["bytes_received"].as_u64()), (Some(0), Some(0)), "{rank}");
    }
    assert_complete(dir.path(), &inputs, &out_dir);
}

/// Whether this machine lets us give one rank a private view of the file system.
fn can_unshare() -> bool {
    Command::new("unshare").args(["-m", "--propagation", "private", "true"]).output().is_ok_and(|o| o.status.success())
}

/// Rank 2 runs in its own mount namespace where the output folder is covered by an empty tmpfs,
/// as on a node without the shared disk: it sees no probe and gets bytes; rank 1 reads and writes
/// its own files. Same outputs, every image journaled.
#[test]
fn a_worker_that_does_not_see_the_output_folder_gets_bytes_while_the_others_use_their_own_files() {
    // Never skipped into green: the suite runs as root (CI does), where this is permitted.
    assert!(can_unshare(), "`unshare -m` is not permitted here: run the tests as root (CAP_SYS_ADMIN)");
    let dir = tempfile::tempdir().unwrap();
    let inputs = inputs(dir.path(), 12);
    let (in_dir, out_dir) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir(&out_dir).unwrap();
    let args = ["batch", "--json", "--op", "gaussian", s(&in_dir), "-o", s(&out_dir)];
    let hidden = format!("mount -t tmpfs imgproc-test {} && exec \"$0\" \"$@\"", s(&out_dir));
    let mut cmd = Command::new("mpirun");
    cmd.args(["--oversubscribe", "-np", "2", BIN]).args(args);
    cmd.args([":", "-np", "1", "unshare", "-m", "--propagation", "private", "sh", "-c", &hidden, BIN]).args(args);
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    let out = run(cmd);
    assert_ok(&out, "mixed batch");
    let summary = summary(&out);
    let ranks = summary["per_rank"].as_array().unwrap();
    assert_eq!(ranks[1]["own_files"], true);
    assert_eq!(ranks[1]["bytes_received"].as_u64(), Some(0));
    assert_eq!(ranks[2]["own_files"], false);
    if ranks[2]["images"].as_u64().unwrap() > 0 {
        assert!(ranks[2]["bytes_received"].as_u64().unwrap() > 0, "rank 2 got its images' bytes");
    }
    assert!(
        stderr(&out).contains("rank 2") && stderr(&out).contains("does not see the output folder"),
        "{}",
        stderr(&out)
    );
    assert_eq!(summary["done"].as_u64(), Some(inputs.len() as u64));
    assert_complete(dir.path(), &inputs, &out_dir);
}
