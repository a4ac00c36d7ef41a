//! Compares two images by their decoded pixels: `same_pixels A B`.
//! Exits 0 when size, channels and every value are equal, 1 when they differ (saying where),
//! 2 when a file cannot be read. The benchmarks call it because a streamed PNG or TIFF holds the
//! same pixels as the one-process output in different bytes (other deflate blocks or strips).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("same_pixels: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b] = args.as_slice() else { anyhow::bail!("usage: same_pixels A B") };
    // No header limit: the huge benchmark compares images of 2^30 pixels and more.
    let read = |p: &str| imgproc::codec::read_image(Path::new(p), u64::MAX).with_context(|| format!("reading {p}"));
    let (a_img, b_img) = (read(a)?, read(b)?);
    let shape = |i: &imgproc::image::Image| (i.width, i.height, i.channels);
    if shape(&a_img) != shape(&b_img) {
        eprintln!("same_pixels: {a} is {:?} (w, h, channels), {b} is {:?}", shape(&a_img), shape(&b_img));
        return Ok(false);
    }
    let row_bytes = a_img.width * a_img.channels;
    let differing = a_img.data.iter().zip(&b_img.data).filter(|(x, y)| x != y).count();
    if let Some(i) = a_img.data.iter().zip(&b_img.data).position(|(x, y)| x != y) {
        let (y, x) = (i / row_bytes, i % row_bytes / a_img.channels);
        eprintln!("same_pixels: {a} and {b} differ in {differing} value(s), first at x={x} y={y}");
        return Ok(false);
    }
    Ok(true)
}
