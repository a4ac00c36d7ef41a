//! The real `imgproc` binary under real `mpirun --oversubscribe`: distributed outputs are compared
//! byte for byte with the one-process output (`imgproc run --reference`), and bad inputs must give
//! a message naming the file, the documented exit code, and no hang (every launch has a deadline).

mod common;

use common::*;
use imgproc::codec;
use imgproc::ops::OP_NAMES;
use std::path::{Path, PathBuf};

/// Every op and a few chains, colour and gray, odd width, at 1, 2, 3 and 5 ranks.
#[test]
fn every_op_under_mpirun_equals_one_process_output() {
    let dir = tempfile::tempdir().unwrap();
    let colour = dir.path().join("colour.png");
    let gray = dir.path().join("gray.png");
    write_picture(&colour, 97, 61, 3, 1);
    write_picture(&gray, 64, 13, 1, 2);
    let mut jobs: Vec<String> = OP_NAMES.iter().map(|s| s.to_string()).collect();
    jobs.extend(
        ["gray,gaussian,canny", "median:ksize=7,contrast-stretch,blur", "canny:low=20:high=60"].map(String::from),
    );
    for job in &jobs {
        for (name, input) in [("colour", &colour), ("gray", &gray)] {
            reference(job, input, &dir.path().join("expected.png"));
            let expected = codec::read_image(&dir.path().join("expected.png"), u64::MAX).unwrap();
            for ranks in RANKS {
                let out = dir.path().join(format!("out-{ranks}.png"));
                assert_ok(&mpirun(ranks, &["run", "--op", job, s(input), "-o", s(&out)]), job);
                // Equal pixels: the ranks encode their own rows, so the PNG's bytes may differ.
                let got = codec::read_image(&out, u64::MAX).unwrap();
                assert!(got == expected, "{job} on {name} at {ranks} ranks differs from one process");
            }
        }
    }
}

/// Single-channel results are saved single-channel; the JSON summary accounts for every row.
#[test]
fn gray_results_stay_single_channel_and_json_lists_every_rank() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    let output = dir.path().join("out.png");
    write_picture(&input, 50, 40, 3, 3);
    let out = mpirun(3, &["run", "--op", "gray", "--json", s(&input), "-o", s(&output)]);
    assert_ok(&out, "gray");
    let saved = codec::read_image(&output, codec::DEFAULT_MAX_PIXELS).unwrap();
    assert_eq!((saved.width, saved.height, saved.channels), (50, 40, 1));

    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let per_rank = summary["per_rank"].as_array().unwrap();
    assert_eq!(per_rank.len(), 3);
    let rows: u64 = per_rank.iter().map(|r| r["rows"][1].as_u64().unwrap() - r["rows"][0].as_u64().unwrap()).sum();
    assert_eq!(rows, 40);
    assert!(per_rank.iter().skip(1).all(|r| r["bytes_received"].as_u64().unwrap() > 0));
}

/// `--coordinator-only` keeps rank 0 out of the work and changes nothing in the result.
#[test]
fn coordinator_only_gives_the_same_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jpg");
    write_picture(&input, 81, 77, 3, 4);
    reference("bilateral,canny", &input, &dir.path().join("expected.png"));
    let expected = codec::read_image(&dir.path().join("expected.png"), u64::MAX).unwrap();
    let output = dir.path().join("out.png");
    let out =
        mpirun(3, &["run", "--coordinator-only", "--json", "--op", "bilateral,canny", s(&input), "-o", s(&output)]);
    assert_ok(&out, "coordinator-only");
    assert!(codec::read_image(&output, u64::MAX).unwrap() == expected, "coordinator-only changed the pixels");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rank0_rows = &summary["per_rank"][0]["rows"];
    assert_eq!(rank0_rows[0], rank0_rows[1], "rank 0 owns rows {rank0_rows}");
}

fn make_batch(dir: &Path) -> Vec<PathBuf> {
    let inputs = dir.join("in");
    std::fs::create_dir(&inputs).unwrap();
    let specs = [
        (120, 90, 3, "png"),
        (33, 200, 1, "png"),
        (64, 48, 3, "jpg"),
        (7, 5, 3, "bmp"),
        (300, 20, 3, "png"),
        (1, 1, 1, "png"),
        (90, 91, 3, "tiff"),
    ];
    specs
        .iter()
        .enumerate()
        .map(|(i, &(w, h, c, ext))| {
            let p = inputs.join(format!("img{i}.{ext}"));
            write_picture(&p, w, h, c, 10 + i as u64);
            p
        })
        .collect()
}

/// A batch equals the one-process output for each file, whether workers find they reach the
/// files (the default on one host), are told so (`--shared-dir`) or get bytes (`--send-files`).
#[test]
fn batch_under_mpirun_equals_one_process_output() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = make_batch(dir.path());
    let in_dir = dir.path().join("in");
    for op in ["median", "gray,canny", "contrast-stretch"] {
        let expected: Vec<Vec<u8>> = inputs
            .iter()
            .map(|p| {
                reference(op, p, &dir.path().join(format!("expected.{}", p.extension().unwrap().to_str().unwrap())))
            })
            .collect();
        for ranks in RANKS {
            for how in [vec![], vec!["--shared-dir", s(dir.path())], vec!["--send-files"]] {
                let out_dir = dir.path().join(format!("out-{ranks}-{}", how.len()));
                let mut args = vec!["batch", "--op", op, s(&in_dir), "-o", s(&out_dir)];
                args.extend(&how);
                assert_ok(&mpirun(ranks, &args), op);
                for (input, want) in inputs.iter().zip(&expected) {
                    let got = std::fs::read(out_dir.join(input.file_name().unwrap())).unwrap();
                    assert!(&got == want, "{op}: {} at {ranks} ranks ({how:?}) differs", input.display());
                }
                assert!(temp_files(&out_dir).is_empty());
            }
        }
    }
}

/// A rerun of a finished batch redoes nothing: the journal says every image is done.
#[test]
fn rerun_batch_skips_finished_images() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = make_batch(dir.path());
    let out_dir = dir.path().join("out");
    let in_dir = dir.path().join("in");
    let args = ["batch", "--json", "--op", "blur", s(&in_dir), "-o", s(&out_dir)];
    let first: serde_json::Value = serde_json::from_slice(&mpirun(3, &args).stdout).unwrap();
    assert_eq!(first["done"].as_u64(), Some(inputs.len() as u64));
    let modified = std::fs::metadata(out_dir.join("img0.png")).unwrap().modified().unwrap();
    let second: serde_json::Value = serde_json::from_slice(&mpirun(2, &args).stdout).unwrap();
    assert_eq!((second["done"].as_u64(), second["already_done"].as_u64()), (Some(0), Some(inputs.len() as u64)));
    assert_eq!(std::fs::metadata(out_dir.join("img0.png")).unwrap().modified().unwrap(), modified);
}

/// Every kind of bad file in one batch: each is reported by name with its reason, the good ones
/// complete and match, nothing half-written remains, exit code 1.
#[test]
fn bad_files_in_a_batch_are_reported_and_the_rest_completes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = [d.join("good1.png"), d.join("good2.jpg")];
    write_picture(&good[0], 40, 30, 3, 20);
    write_picture(&good[1], 40, 30, 3, 21);
    let png = std::fs::read(&good[0]).unwrap();
    let jpg = std::fs::read(&good[1]).unwrap();
    std::fs::write(d.join("empty.png"), b"").unwrap();
    std::fs::write(d.join("truncated.png"), &png[..png.len() / 2]).unwrap();
    std::fs::write(d.join("truncated.jpg"), &jpg[..jpg.len() / 2]).unwrap();
    let mut corrupt = png.clone();
    corrupt[60..].iter_mut().for_each(|b| *b = 0x5a);
    std::fs::write(d.join("corrupt.png"), corrupt).unwrap();
    std::fs::write(d.join("notes.png"), b"this is not an image, just text\n").unwrap();
    write_picture(&d.join("huge.png"), 200, 200, 3, 22); // over --max-pixels below
                                                         // Root reads any file whatever its mode, so "unreadable" is a symlink loop: open() fails.
    std::os::unix::fs::symlink(d.join("loop.png"), d.join("loop.png")).unwrap();
    let bad = [
        "missing.png",
        "empty.png",
        "truncated.png",
        "truncated.jpg",
        "corrupt.png",
        "notes.png",
        "huge.png",
        "loop.png",
    ];

    for (ranks, shared) in [(1, false), (3, false), (3, true)] {
        let out_dir = d.join(format!("out-{ranks}-{shared}"));
        // Without --shared-dir on one host, workers find they reach the files: bytes mode is asked for.
        let mut args: Vec<String> =
            ["batch", "--op", "gaussian", "--max-pixels", "10000", "-o", s(&out_dir)].map(String::from).to_vec();
        args.extend(good.iter().map(|p| s(p).to_string()));
        args.extend(bad.iter().map(|b| s(&d.join(b)).to_string()));
        args.push(if shared { format!("--shared-dir={}", s(d)) } else { "--send-files".into() });
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = mpirun(ranks, &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{ranks} ranks: {err}");
        for b in bad {
            let line = err.lines().find(|l| l.contains(b)).unwrap_or_else(|| panic!("{b} not reported:\n{err}"));
            assert!(line.contains("failed"), "{line}");
            assert!(!out_dir.join(b).exists(), "an output was written for bad input {b}");
        }
        assert!(err.contains("more pixels") || err.contains("limit"), "huge.png reason missing:\n{err}");
        for g in &good {
            let want =
                reference("gaussian", g, &d.join(format!("expected.{}", g.extension().unwrap().to_str().unwrap())));
            assert_eq!(std::fs::read(out_dir.join(g.file_name().unwrap())).unwrap(), want);
        }
        assert!(temp_files(&out_dir).is_empty());
    }
}

/// One bad image under several ranks: a clear message, exit 1, every rank exits.
#[test]
fn bad_single_image_fails_cleanly_on_every_rank() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("truncated.png"), {
        let p = d.join("good.png");
        write_picture(&p, 40, 30, 3, 30);
        let b = std::fs::read(&p).unwrap();
        b[..b.len() / 3].to_vec()
    })
    .unwrap();
    for name in ["missing.png", "truncated.png"] {
        let output = d.join("out.png");
        let out = mpirun(3, &["run", "--op", "median", s(&d.join(name)), "-o", s(&output)]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(name), "{name} not named: {}", stderr(&out));
        assert!(!output.exists());
    }
}

/// An output folder that cannot be written: exit 3 before any work, with the path in the message.
#[test]
fn unwritable_output_folder_is_refused_before_work() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 20, 20, 3, 40);
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"x").unwrap();
    let under_file = blocker.join("out");
    let out = mpirun(3, &["batch", "--op", "blur", s(&input), "-o", s(&under_file)]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("a-file"), "{}", stderr(&out));
    let out = mpirun(2, &["run", "--op", "blur", s(&input), "-o", s(&dir.path().join("no/such/dir/out.png"))]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("no/such/dir"), "{}", stderr(&out));
}

/// Unknown ops and bad parameters are usage errors (exit 2) on every rank, before MPI work.
#[test]
fn unknown_ops_and_bad_parameters_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 20, 20, 3, 50);
    let output = dir.path().join("out.png");
    for (op, words) in
        [("sharpen", "sharpen"), ("median:ksize=4", "ksize"), ("blur:size=3", "size"), ("canny:low=abc", "low")]
    {
        for ranks in [1, 3] {
            let out = mpirun(ranks, &["run", "--op", op, s(&input), "-o", s(&output)]);
            assert_eq!(out.status.code(), Some(2), "{op}: {}", stderr(&out));
            assert!(stderr(&out).contains(words), "{op}: {}", stderr(&out));
        }
    }
    let out = alone(&["run", "--op", "median", "--median-ksize", "2", s(&input), "-o", s(&output)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!output.exists());
}
