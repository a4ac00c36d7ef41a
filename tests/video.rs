//! `imgproc video` under real `mpirun` (1, 2, 3 ranks): frames → video, video → video with its
//! audio, video → frames, resize in every mode, resuming after a cancel, and bad inputs. Lossless
//! outputs (FFV1, frame folders) must hold exactly the one-process result: OpenCV decodes the
//! input in order, the chain runs on each frame (`OpChain::apply_reference`), nothing is split.

mod common;

use common::video::*;
use common::*;
use imgproc::codec;
use imgproc::image::Image;
use std::path::{Path, PathBuf};
use std::process::Command;

/// ffprobe's answer for one entry of the first video stream (`nb_frames`, `r_frame_rate`...).
fn probe(path: &Path, entry: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", &format!("stream={entry}")])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The hash of a file's audio packets, as stored (no decoding).
fn audio_hash(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:a", "-c", "copy", "-f", "streamhash", "-"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("--json: {e}: {}", stderr(out)))
}

fn png_frames(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[test]
fn video_to_lossless_video_and_to_frames_equals_one_process_at_1_2_3_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mp4");
    make_video(&input, 3, false);
    let source = frames_of(&input);
    for op in ["gaussian", "gray,resize:width=160:interpolation=area"] {
        let want = expected(op, &source);
        for ranks in [1, 2, 3] {
            let mkv = dir.path().join(format!("out{ranks}.mkv"));
            let out = mpirun(ranks, &["video", "--json", "--op", op, "--chunk-frames", "12", s(&input), "-o", s(&mkv)]);
            assert_ok(&out, op);
            assert_eq!(json(&out)["frames_done"], 75);
            assert_frames(&frames_of(&mkv), &want, &format!("{op} → mkv at {ranks} ranks"));

            let folder = dir.path().join(format!("frames{ranks}-{}", op.len()));
            assert_ok(&mpirun(ranks, &["video", "--op", op, s(&input), "-o", s(&folder)]), op);
            let files = png_frames(&folder);
            assert_eq!(files[0].file_name().unwrap(), "frame000001.png");
            let got: Vec<Image> = files.iter().map(|f| codec::read_image(f, u64::MAX).unwrap()).collect();
            assert_eq!(got.len(), want.len());
            assert!(got == want, "{op} → frames at {ranks} ranks differ from one process");
            assert!(!dir.path().join(format!(".out{ranks}.mkv.imgproc-video")).exists(), "work folder removed");
        }
    }
}

#[test]
fn video_to_h264_keeps_count_rate_duration_and_the_audio_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mp4");
    make_video(&input, 4, true);
    for ranks in [1, 2, 3] {
        let output = dir.path().join(format!("out{ranks}.mp4"));
        assert_ok(&mpirun(ranks, &["video", "--op", "median", s(&input), "-o", s(&output)]), "h264");
        for entry in ["nb_frames", "r_frame_rate", "duration", "codec_name"] {
            let want = if entry == "codec_name" { "h264".into() } else { probe(&input, entry) };
            assert_eq!(probe(&output, entry), want, "{entry} at {ranks} ranks");
        }
        assert_eq!(audio_hash(&output), audio_hash(&input), "audio at {ranks} ranks");
        assert!(temp_files(dir.path()).is_empty());
    }
}

#[test]
fn frames_in_natural_order_to_video_and_rank_zero_sending_chunks_give_the_same_frames() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    let mut pictures = Vec::new();
    for i in 1..=30 {
        let p = frames.join(format!("f{i}.png"));
        write_picture(&p, 64, 48, 3, i);
        pictures.push(codec::read_image(&p, u64::MAX).unwrap());
    }
    let want = expected("bilateral", &pictures);
    for ranks in [1, 2, 3] {
        for send in [false, true] {
            let out = dir.path().join(format!("out{ranks}{send}.mkv"));
            let mut args =
                vec!["video", "--op", "bilateral", "--chunk-frames", "7", "--fps", "30", s(&frames), "-o", s(&out)];
            if send {
                args.push("--send-input");
            }
            assert_ok(&mpirun(ranks, &args), "frames → mkv");
            assert_frames(&frames_of(&out), &want, &format!("frames → mkv at {ranks} ranks, send {send}"));
            assert_eq!(probe(&out, "r_frame_rate"), "30/1");
        }
    }
    // Video input sent by rank 0 too (lossless pieces), and an H.264 output from frames.
    let mp4 = dir.path().join("frames.mp4");
    assert_ok(&mpirun(3, &["video", "--op", "blur", s(&frames), "-o", s(&mp4)]), "frames → mp4");
    assert_eq!(probe(&mp4, "nb_frames"), "30");
    let video = dir.path().join("in.mp4");
    make_video(&video, 2, false);
    let out = dir.path().join("sent.mkv");
    assert_ok(&mpirun(3, &["video", "--send-input", "--op", "invert", s(&video), "-o", s(&out)]), "send");
    assert_frames(&frames_of(&out), &expected("invert", &frames_of(&video)), "video sent by rank 0");
}

/// A cancelled video keeps its finished segments; the rerun redoes only the rest.
#[test]
fn sigint_mid_video_keeps_finished_segments_and_the_rerun_completes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mp4");
    make_video(&input, 8, false);
    let output = dir.path().join("cancel-video.mkv");
    let op = "bilateral:d=15";
    let args = ["video", "--json", "--threads", "1", "--op", op, "--chunk-frames", "12", s(&input), "-o", s(&output)];
    let child = spawn_mpirun(3, &args);
    let work = dir.path().join(".cancel-video.mkv.imgproc-video");
    let journal = work.join(imgproc::journal::JOURNAL_NAME);
    wait_until(std::time::Duration::from_secs(90), "two chunks done", || {
        std::fs::read_to_string(&journal).map(|t| t.matches("\"done\"").count() >= 2).unwrap_or(false)
    });
    let pids = pids_with("cancel-video.mkv");
    let rank0 = pid_of_rank(&pids, 0);
    signal(rank0, libc::SIGINT);
    let out = finish(child, "mpirun");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(!output.exists(), "a cancelled video wrote its output");
    assert!(temp_files(&work).is_empty(), "no half-written segment");
    let rerun = mpirun(2, &args);
    assert_ok(&rerun, "rerun");
    let summary = json(&rerun);
    assert!(summary["already_done"].as_u64().unwrap() >= 2, "{summary}");
    assert_eq!(summary["already_done"].as_u64().unwrap() + summary["done"].as_u64().unwrap(), 17);
    assert_frames(&frames_of(&output), &expected(op, &frames_of(&input)), "resumed");
}

#[test]
fn resize_in_split_and_batch_modes_equals_cv_resize_and_json_names_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 97, 61, 3, 5);
    for op in [
        "resize:scale=0.37:interpolation=cubic",
        "median,resize:width=50:height=50:keep-aspect=false,blur",
        "gray,resize:height=13:interpolation=lanczos",
    ] {
        let want = reference(op, &input, &dir.path().join("expected.png"));
        for ranks in [1, 2, 3] {
            let output = dir.path().join("out.png");
            let out = mpirun(ranks, &["run", "--json", "--op", op, s(&input), "-o", s(&output)]);
            assert_ok(&out, op);
            assert_eq!(std::fs::read(&output).unwrap(), want, "{op} split over {ranks} ranks");
            assert!(json(&out)["plan"].as_str().unwrap().contains("rank 0"), "{}", json(&out));
            let batch = dir.path().join(format!("batch{ranks}"));
            assert_ok(&mpirun(ranks, &["batch", "--op", op, s(&input), "-o", s(&batch)]), op);
            assert_eq!(std::fs::read(batch.join("in.png")).unwrap(), want, "{op} batch at {ranks} ranks");
        }
    }
}

#[test]
fn bad_inputs_fail_by_name_without_output_or_hang() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = d.join("good.mp4");
    make_video(&good, 2, false);
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(d.join("truncated.mp4"), &bytes[..bytes.len() / 2]).unwrap();
    let mut corrupt = bytes.clone();
    let n = corrupt.len();
    corrupt[n / 4..n / 4 * 3].iter_mut().for_each(|b| *b = 0x5a);
    std::fs::write(d.join("corrupt.mp4"), corrupt).unwrap();
    std::fs::write(d.join("notes.mp4"), b"not a video\n").unwrap();
    for name in ["truncated.mp4", "corrupt.mp4", "notes.mp4", "missing.mp4"] {
        let output = d.join("out.mp4");
        let out = mpirun(3, &["video", "--op", "blur", s(&d.join(name)), "-o", s(&output)]);
        assert!(!out.status.success(), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(name), "{name} not named: {}", stderr(&out));
        assert!(!output.exists(), "{name}: output written");
        assert!(temp_files(d).is_empty());
    }
    // An output folder that cannot be written: exit 3 before any work.
    std::fs::write(d.join("a-file"), b"x").unwrap();
    let out = mpirun(2, &["video", "--op", "blur", s(&good), "-o", s(&d.join("a-file/out.mp4"))]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // Frames: one unreadable, and sizes that differ without a final resize.
    let frames = d.join("frames");
    std::fs::create_dir(&frames).unwrap();
    for i in 1..=6 {
        write_picture(&frames.join(format!("f{i}.png")), 32, 24, 3, i);
    }
    std::fs::write(frames.join("f4.png"), b"broken").unwrap();
    let output = d.join("frames.mkv");
    let out = mpirun(3, &["video", "--op", "blur", "--chunk-frames", "2", s(&frames), "-o", s(&output)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("f4.png") && stderr(&out).contains("frame 4"), "{}", stderr(&out));
    assert!(!output.exists());
    write_picture(&frames.join("f4.png"), 40, 24, 3, 4);
    let out = mpirun(2, &["video", "--op", "blur", s(&frames), "-o", s(&output)]);
    assert!(stderr(&out).contains("f4.png") && stderr(&out).contains("resize"), "{}", stderr(&out));
    let resized = "blur,resize:width=32:height=24:keep-aspect=false";
    assert_ok(&mpirun(2, &["video", "--op", resized, s(&frames), "-o", s(&output)]), "ends in resize");
    assert_eq!(frames_of(&output).len(), 6);
}

#[test]
fn a_short_clip_with_one_keyframe_is_split_across_ranks_and_every_frame_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("one-gop.mp4");
    make_video_gop(&input, 2, 1000);
    let info = imgproc::video::source::probe_video(&input).unwrap();
    assert_eq!(info.keyframes, [0], "the clip has one keyframe");
    let op = "gaussian";
    let want = expected(op, &frames_of(&input));
    // The worker decodes its chunk itself, or (`--send-input`) rank 0 decodes it and sends it.
    for send in [false, true] {
        let output = dir.path().join(format!("one-gop-{send}.mkv"));
        let mut args = vec!["video", "--json", "--op", op, s(&input), "-o", s(&output)];
        if send {
            args.push("--send-input");
        }
        let out = mpirun(2, &args);
        assert_ok(&out, "one-keyframe clip on 2 ranks");
        let summary = json(&out);
        assert_eq!(summary["chunks"].as_u64(), Some(2), "{summary}");
        let per_rank = summary["per_rank"].as_array().unwrap();
        assert!(per_rank.iter().all(|r| r["images"].as_u64().unwrap() > 0), "a rank did no frames: {summary}");
        assert_frames(&frames_of(&output), &want, &format!("a chunk started between keyframes, send {send}"));
    }
}
