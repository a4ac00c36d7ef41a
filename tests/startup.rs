//! What a start loads. The program links neither OpenCV's imgcodecs nor its videoio: Debian's
//! builds of them pull GDAL, FFmpeg, GStreamer and ~240 libraries, whose loading cost every
//! start ~150 ms (docs/BENCHMARKS.md, "Start-up"). They are loaded when first used
//! (`imgproc::cvio`). Checked by what the dynamic loader reports, not by timing.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `cmd` with `LD_DEBUG=files` written to files under `dir` (one per process: every rank's,
/// mpirun's; not stderr, whose pipe the loader's lines would fill) and returns its output and the
/// libraries the dynamic loader opened.
fn with_ld_debug(mut cmd: Command, dir: &Path) -> (Output, Vec<String>) {
    let logs = dir.join("ld-debug");
    std::fs::create_dir_all(&logs).unwrap();
    cmd.env("LD_DEBUG", "files").env("LD_DEBUG_OUTPUT", logs.join("ld"));
    let out = run(cmd);
    let mut libs = Vec::new();
    for entry in std::fs::read_dir(&logs).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        libs.extend(
            text.lines()
                .filter(|l| l.contains("generating link map"))
                .filter_map(|l| l.split("file=").nth(1)?.split_whitespace().next().map(str::to_owned)),
        );
        std::fs::remove_file(path).unwrap();
    }
    (out, libs)
}

fn any(libs: &[String], part: &str) -> bool {
    libs.iter().any(|l| l.contains(part))
}

#[test]
fn the_program_links_opencv_core_but_neither_imgcodecs_nor_videoio() {
    let mut readelf = Command::new("readelf");
    readelf.args(["-d", BIN]);
    let out = run(readelf);
    assert_ok(&out, "readelf -d");
    let needed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split('[').nth(1)?.trim_end_matches(']').to_owned()))
        .collect();
    assert!(any(&needed, "libopencv_core"), "the NEEDED list was not read: {needed:?}");
    assert!(!any(&needed, "imgcodecs") && !any(&needed, "videoio"), "{needed:?}");
}

#[test]
fn version_and_a_png_job_in_pieces_load_no_codec_library_a_webp_job_loads_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut version = Command::new(BIN);
    version.arg("--version");
    let (version, libs) = with_ld_debug(version, dir.path());
    assert_ok(&version, "--version");
    assert!(any(&libs, "libopencv_core"), "LD_DEBUG gave nothing to read");
    assert!(!any(&libs, "imgcodecs") && !any(&libs, "libgdal") && !any(&libs, "videoio"), "{libs:?}");

    let input = dir.path().join("tiny.png");
    write_picture(&input, 8, 8, 3, 5);
    for (ext, loads) in [("png", false), ("webp", true)] {
        let out = dir.path().join(format!("out.{ext}"));
        let expected = reference("invert", &input, &dir.path().join(format!("expected.{ext}")));
        let mut job = Command::new("mpirun");
        job.args(["--oversubscribe", "-np", "2", BIN, "run", "--op", "invert", s(&input), "-o", s(&out)]);
        job.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        let (job, libs) = with_ld_debug(job, dir.path());
        assert_ok(&job, ext);
        assert!(any(&libs, "libmpi"), "LD_DEBUG gave nothing to read for {ext}");
        assert_eq!(any(&libs, "libopencv_imgcodecs"), loads, "{ext}: imgcodecs loaded? {libs:?}");
        assert!(!any(&libs, "videoio"), "{ext}: {libs:?}");
        if ext == "png" {
            // Encoded in pieces by the ranks: the same pixels, not the same bytes.
            let got = imgproc::codec::read_image(&out, u64::MAX).unwrap();
            let want = imgproc::codec::read_image(&dir.path().join("expected.png"), u64::MAX).unwrap();
            assert!(got == want, "png: pixels differ from one process");
        } else {
            // Encoded whole by OpenCV through the loaded shim, as the reference was.
            assert!(std::fs::read(&out).unwrap() == expected, "{ext}: bytes differ from one process");
        }
    }
}
