//! One image from a file to a file under real `mpirun`, the streamed way: rows read as they are
//! decoded (or by each worker itself), each rank's rows encoded by that rank, the pieces joined by
//! rank 0. Every result is compared in decoded pixels with the one-process reference
//! (`imgproc run --reference`: OpenCV on the whole image), and read back by a second reader (vips).

mod common;

use common::*;
use imgproc::codec;
use imgproc::image::Image;
use std::path::Path;
use std::process::Command;

fn decode(path: &Path) -> Image {
    codec::read_image(path, u64::MAX).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()))
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("--json prints the summary on stdout")
}

/// Output extension for a result with `channels` channels (PPM holds colour only, PGM gray).
fn ext_for(format: &str, channels: usize) -> &str {
    match (format, channels) {
        ("pnm", 1) => "pgm",
        ("pnm", _) => "ppm",
        (f, _) => f,
    }
}

/// Filters `input` at every rank count into `out_ext` and checks the decoded result against the
/// one-process result's decoded pixels.
fn check_all_ranks(dir: &Path, input: &Path, chain: &str, out_ext: &str, what: &str) -> String {
    let expected_file = dir.join(format!("expected.{out_ext}"));
    reference(chain, input, &expected_file);
    let expected = decode(&expected_file);
    let mut last_io = String::new();
    for ranks in RANKS {
        let out = dir.join(format!("out-{ranks}.{out_ext}"));
        let run = mpirun(ranks, &["run", "--op", chain, s(input), "-o", s(&out), "--json"]);
        assert_ok(&run, what);
        let io = json(&run)["io"].as_str().unwrap_or_default().to_string();
        assert!(io.starts_with("streamed pieces"), "{what} at {ranks} ranks took the whole-image path: {io}");
        assert!(decode(&out) == expected, "{what} at {ranks} ranks: pixels differ from one process");
        last_io = io;
    }
    assert!(temp_files(dir).is_empty(), "{what}: temporary files left: {:?}", temp_files(dir));
    last_io
}

/// Every input format the pipeline reads by rows, gray and colour, odd sizes, 1/2/3/5 ranks.
#[test]
fn every_input_format_streams_to_the_exact_result() {
    let dir = tempfile::tempdir().unwrap();
    for (w, h) in [(97, 61), (333, 257)] {
        for channels in [1, 3] {
            for format in ["png", "tif", "bmp", "pnm", "jpg"] {
                let input = dir.path().join(format!("in.{}", ext_for(format, channels)));
                write_picture(&input, w, h, channels, (w + channels) as u64);
                let what = format!("{format} input {w}x{h}x{channels}");
                check_all_ranks(dir.path(), &input, "gaussian:ksize=5,median", "png", &what);
            }
        }
    }
}

/// More ranks than aligned rows to share (JPEG MCU rows and TIFF strips are 16 rows, so at 5
/// ranks most workers of a 20-row image own nothing): a worker without rows still answers, for a
/// chain of local ops (filtered in sub-strips as rows arrive) and one with a global step.
#[test]
fn workers_without_rows_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 97, 20, 3, 5);
    for chain in ["gaussian", "contrast-stretch"] {
        for ext in ["jpg", "tif"] {
            check_all_ranks(dir.path(), &input, chain, ext, &format!("{chain} to {ext} from 97x20"));
        }
    }
}

/// Every output format encoded in pieces, gray and colour, odd sizes, 1/2/3/5 ranks; chains with
/// global steps (the histogram, Canny's hysteresis) included.
#[test]
fn every_output_format_joins_pieces_into_the_exact_result() {
    let dir = tempfile::tempdir().unwrap();
    for (w, h, chain) in [(97, 61, "bilateral,canny"), (333, 257, "contrast-stretch,blur")] {
        for channels in [1, 3] {
            let input = dir.path().join(format!("in-{channels}.png"));
            write_picture(&input, w, h, channels, 7 + channels as u64);
            let out_channels = if chain.contains("canny") { 1 } else { channels };
            for format in ["png", "tif", "bmp", "pnm", "jpg"] {
                let ext = ext_for(format, out_channels);
                let what = format!("{chain} to {ext} from {w}x{h}x{channels}");
                check_all_ranks(dir.path(), &input, chain, ext, &what);
            }
        }
    }
}

/// vips, a second reader with its own decoders, reads every file the ranks wrote and sees the
/// pixels OpenCV sees.
#[test]
fn a_second_reader_reads_every_output_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_picture(&input, 301, 203, 3, 5);
    for ext in ["png", "tif", "bmp", "ppm", "jpg"] {
        let out = dir.path().join(format!("out.{ext}"));
        assert_ok(&mpirun(3, &["run", "--op", "gaussian", s(&input), "-o", s(&out)]), ext);
        let raw = dir.path().join(format!("{ext}.raw"));
        let vips = Command::new("vips").args(["rawsave", s(&out), s(&raw)]).output().expect("vips is installed");
        assert!(vips.status.success(), "vips cannot read the {ext}: {}", String::from_utf8_lossy(&vips.stderr));
        let mut rgb = decode(&out);
        rgb.data.chunks_mut(3).for_each(|p| p.swap(0, 2));
        assert!(std::fs::read(&raw).unwrap() == rgb.data, "vips and OpenCV decode the {ext} differently");
    }
}

/// A TIFF is read by every worker for its own rows (same host: they see the file), a PNG and a
/// JPEG are streamed by rank 0; every rank reports its peak memory and a timeline of its phases.
#[test]
fn workers_read_their_own_rows_and_report_memory_and_phases() {
    let dir = tempfile::tempdir().unwrap();
    for (ext, io) in [
        ("tif", "input ranged, 2 worker(s) read their own rows"),
        ("png", "input streamed, 0 worker(s)"),
        ("jpg", "input streamed, 0 worker(s)"),
    ] {
        let input = dir.path().join(format!("in.{ext}"));
        write_picture(&input, 640, 480, 3, 11);
        let out = dir.path().join(format!("out.{ext}"));
        let run = mpirun(3, &["run", "--op", "blur", s(&input), "-o", s(&out), "--json"]);
        assert_ok(&run, ext);
        let j = json(&run);
        assert!(j["io"].as_str().unwrap().contains(io), "{ext}: {}", j["io"]);
        for rank in j["per_rank"].as_array().unwrap() {
            assert!(rank["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "{ext}: {rank}");
            let phases: Vec<&str> =
                rank["timeline"].as_array().unwrap().iter().map(|s| s["phase"].as_str().unwrap()).collect();
            assert!(phases.contains(&"filter") && phases.contains(&"encode"), "{ext}: phases {phases:?}");
            for span in rank["timeline"].as_array().unwrap() {
                let (a, b) = (span["start"].as_f64().unwrap(), span["end"].as_f64().unwrap());
                assert!(0.0 <= a && a <= b && b < 60.0, "{ext}: span {span}");
            }
        }
    }
}

/// Rows damaged halfway through the file: the job fails naming the file, every rank ends, and
/// neither the output nor a temporary file is left. The damage lies in rank 0's own rows (the
/// last ones), which it reads whole before a global step (`contrast-stretch`) and sub-strip by
/// sub-strip for a chain of local ops (`median`).
#[test]
fn a_file_corrupt_halfway_leaves_no_output_and_no_hung_rank() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["png", "tif", "bmp", "ppm", "jpg"] {
        let good = dir.path().join(format!("good.{ext}"));
        write_picture(&good, 400, 300, 3, 3);
        let mut bytes = std::fs::read(&good).unwrap();
        let bad = dir.path().join(format!("bad.{ext}"));
        if ext == "jpg" {
            // A second frame header at 60%: libjpeg decodes every row (the rest as zeros, with a
            // warning, as in OpenCV) and fails only when it reads on past the last row, after
            // every strip has left rank 0.
            let at = bytes.len() * 3 / 5;
            bytes[at..at + 2].copy_from_slice(&[0xFF, 0xC0]);
            std::fs::write(&bad, &bytes).unwrap();
        } else {
            // Cut at 60%: the header is whole, the last rows are missing.
            std::fs::write(&bad, &bytes[..bytes.len() * 3 / 5]).unwrap();
        }
        for (ranks, chain) in [(1, "median,contrast-stretch"), (3, "median,contrast-stretch"), (3, "median")] {
            let out = dir.path().join(format!("out.{ext}"));
            let run = mpirun(ranks, &["run", "--op", chain, s(&bad), "-o", s(&out)]);
            assert_eq!(run.status.code(), Some(1), "{ext} {chain} at {ranks}: {}", stderr(&run));
            assert!(stderr(&run).contains(s(&bad)), "{ext} {chain}: the message names the file: {}", stderr(&run));
            assert!(!out.exists(), "{ext} {chain} at {ranks} ranks: a partial output was left");
            assert!(temp_files(dir.path()).is_empty(), "{ext} {chain}: temporary files left");
        }
    }
}

/// Writes `img` widened to 16 bits (`v × 257 + a little`) or given an alpha channel, as OpenCV
/// writes such files: the variants the row readers must decode as OpenCV does.
fn write_variant(path: &Path, img: &Image, sixteen: bool, alpha: bool) {
    use opencv::core::{Mat, CV_16U};
    use opencv::prelude::*;
    let typ = opencv::core::CV_MAKETYPE(opencv::core::CV_8U, img.channels as i32);
    let base = Mat::new_rows_cols_with_data(img.height as i32, (img.width * img.channels) as i32, &img.data).unwrap();
    let mut mat = base.reshape(img.channels as i32, img.height as i32).unwrap().try_clone().unwrap();
    assert_eq!(mat.typ(), typ);
    if alpha {
        let mut with_alpha = Mat::default();
        opencv::imgproc::cvt_color(&mat, &mut with_alpha, opencv::imgproc::COLOR_BGR2BGRA, 0).unwrap();
        mat = with_alpha;
    }
    if sixteen {
        let mut wide = Mat::default();
        mat.convert_to(&mut wide, CV_16U, 257.0, 3.0).unwrap();
        mat = wide;
    }
    let ext = format!(".{}", path.extension().unwrap().to_str().unwrap());
    let buf = imgproc::cvio::imgcodecs::imencode(&ext, &mat, &[]).unwrap().expect("OpenCV encodes it");
    std::fs::write(path, buf.as_slice()).unwrap();
}

/// 16-bit PNG and TIFF, colour and gray, and PNG with alpha, through a chain that keeps neither
/// (bilateral takes 8-bit gray or colour only, `ops::keeps`): read by rows as 8-bit (not decoded
/// whole) and still the one-process result. A chain that keeps them reads the file whole
/// (`tests/deep_and_alpha.rs`).
#[test]
fn sixteen_bit_and_alpha_inputs_stream_to_the_exact_result() {
    let dir = tempfile::tempdir().unwrap();
    for (name, channels, sixteen, alpha) in [
        ("in16.png", 3, true, false),
        ("in16-gray.png", 1, true, false),
        ("in16.tif", 3, true, false),
        ("in16-gray.tif", 1, true, false),
        ("in-alpha.png", 3, false, true),
    ] {
        let input = dir.path().join(name);
        write_variant(&input, &imgproc::synth::picture(211, 97, channels, 21), sixteen, alpha);
        let io = check_all_ranks(dir.path(), &input, "bilateral:d=5,gaussian", "png", name);
        assert!(!io.contains("input whole"), "{name} was decoded whole: {io}");
    }
}
