//! Memory that adds up across the cluster: a 12000×12000 colour image (432 MB decoded) on 3
//! ranks, and no rank — rank 0 included — holds more than its own strip. Each rank's peak
//! resident memory (VmHWM, reported in `--json`) must stay within 1.5 × its strip's input bytes +
//! 100 MB of libraries, the bound of the streamed pipeline, for every chain: split Canny keeps
//! one byte per pixel of its strip, written over the strip's input (`edges`), with low
//! thresholds that make most of the noisy picture candidates too. A JPEG is checked too:
//! decoded whole, it alone would put 432 MB on rank 0.

mod common;

use common::*;
use imgproc::codec;
use std::path::Path;

const SIDE: usize = 12000;

fn check_peaks(input: &Path, chain: &str, out: &Path) {
    let run = mpirun(3, &["run", "--op", chain, s(input), "-o", s(out), "--json"]);
    assert_ok(&run, chain);
    let j: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let halo = 8; // more than the chains' halo: the bound is on rows plus halo
    for rank in j["per_rank"].as_array().unwrap() {
        let rows = &rank["rows"];
        let (a, b) = (rows[0].as_u64().unwrap() as usize, rows[1].as_u64().unwrap() as usize);
        let strip = ((b - a) + 2 * halo).min(SIDE) * SIDE * 3;
        let bound = strip as f64 * 1.5 + 100.0 * (1 << 20) as f64;
        let peak = rank["peak_rss_bytes"].as_u64().unwrap() as f64;
        eprintln!(
            "{chain} from {}: rank {} rows {a}..{b}: peak {:.0} MB, bound {:.0} MB",
            input.display(),
            rank["rank"],
            peak / 1e6,
            bound / 1e6
        );
        assert!(
            peak > strip as f64 * 0.5,
            "{chain}: rank {} cannot have filtered its rows in {peak} bytes",
            rank["rank"]
        );
        assert!(peak <= bound, "{chain}: rank {} peaked at {peak} bytes, over the bound of {bound}", rank["rank"]);
    }
}

#[test]
fn no_rank_holds_more_than_its_strip_of_a_12000_square_image() {
    let dir = tempfile::tempdir().unwrap();
    let img = imgproc::synth::picture(SIDE, SIDE, 3, 12);
    let tif = dir.path().join("big.tif");
    let png = dir.path().join("big.png");
    std::fs::write(&tif, codec::encode(&img, "tif").unwrap()).unwrap();
    let jpg = dir.path().join("big.jpg");
    std::fs::write(&png, codec::encode(&img, "png").unwrap()).unwrap();
    std::fs::write(&jpg, codec::encode(&img, "jpg").unwrap()).unwrap();
    drop(img);
    // Every rank reads its own rows of the TIFF; the PNG and the JPEG are decoded by rank 0 and
    // streamed (rank 0 keeps the smaller share of a JPEG's rows: its bound is lower).
    check_peaks(&tif, "gaussian", &dir.path().join("out.tif"));
    check_peaks(&tif, "contrast-stretch,median", &dir.path().join("out.png"));
    check_peaks(&png, "bilateral", &dir.path().join("out.jpg"));
    check_peaks(&jpg, "median,contrast-stretch", &dir.path().join("out2.jpg"));
    check_peaks(&png, "canny", &dir.path().join("edges.png"));
    check_peaks(&tif, "canny:low=5:high=40,blur", &dir.path().join("edges.tif"));
}
