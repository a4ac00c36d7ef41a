//! Every file a decoder here accepts gives exactly `codec::read_image`'s bytes, whatever the rows
//! asked and in whatever pieces; every variant it does not reproduce falls back (`None`); damaged
//! files give errors that name them. Test files are written at test time by OpenCV, the `png` and
//! `tiff` crates, libtiff's tools and vips, or by hand (BMP, PNM).

use super::*;
use crate::codec::{read_image, DEFAULT_MAX_PIXELS};
use crate::cvio::imgcodecs;
use crate::image::Image;
use opencv::core::Mat;
use opencv::prelude::*;
use std::path::PathBuf;
use std::process::Command;

mod bmp;
mod damaged;
mod jpeg;
mod png;
mod pnm;
mod speed;
mod tiff;

/// Odd sizes: one pixel, narrower than a tile, and more than a strip or a tile in both directions.
const SIZES: [(usize, usize); 3] = [(1, 1), (17, 33), (333, 257)];

/// A photo-like picture as 16-bit RGB samples: smooth gradients with noise, so every byte value and
/// every low-order bit occurs. 8-bit variants take the high byte.
fn picture(width: usize, height: usize) -> Vec<u16> {
    let mut seed = 0x9e37_79b9_u32 ^ (width * 31 + height) as u32;
    let mut out = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            for c in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let smooth = (x * 65535 / width.max(1) + y * 30011 / height.max(1) + c * 20000) as u32;
                out.push((smooth.wrapping_add(seed % 4099)) as u16);
            }
        }
    }
    out
}

fn high_bytes(samples: &[u16]) -> Vec<u8> {
    samples.iter().map(|v| (v >> 8) as u8).collect()
}

fn big_endian(samples: &[u16]) -> Vec<u8> {
    samples.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// Every third sample (gray from the red channel of [`picture`]).
fn gray_of(samples: &[u16]) -> Vec<u16> {
    samples.iter().step_by(3).copied().collect()
}

/// Writes `image` (BGR or gray 8-bit, or 16-bit when `sixteen`) with OpenCV's `imwrite`.
fn opencv_write(
    path: &Path,
    width: usize,
    height: usize,
    channels: usize,
    samples: &[u16],
    sixteen: bool,
    params: &[i32],
) {
    let typ = match (channels, sixteen) {
        (1, false) => opencv::core::CV_8UC1,
        (3, false) => opencv::core::CV_8UC3,
        (1, true) => opencv::core::CV_16UC1,
        _ => opencv::core::CV_16UC3,
    };
    let mut mat = Mat::new_rows_cols_with_default(height as i32, width as i32, typ, 0.into()).unwrap();
    // OpenCV is BGR: our samples are RGB.
    let ordered: Vec<u16> = if channels == 3 {
        samples.chunks_exact(3).flat_map(|p| [p[2], p[1], p[0]]).collect()
    } else {
        samples.to_vec()
    };
    let bytes = mat.data_bytes_mut().unwrap();
    if sixteen {
        bytes.copy_from_slice(&ordered.iter().flat_map(|v| v.to_ne_bytes()).collect::<Vec<u8>>());
    } else {
        bytes.copy_from_slice(&high_bytes(&ordered));
    }
    assert!(imgcodecs::imwrite(path.to_str().unwrap(), &mat, params).unwrap(), "imwrite {}", path.display());
}

/// Runs a command-line tool the tests need (see scripts/install-deps.sh).
fn tool(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/install-deps.sh installs it)"));
    assert!(status.success(), "{program} {args:?} failed");
}

/// Asserts that `path` streams (and, when `range`, reads by row range) exactly as OpenCV decodes it.
fn assert_exact(path: &Path, range: bool) {
    let expected = expected(path);
    let shape = Shape { width: expected.width, height: expected.height, channels: expected.channels };
    let row_bytes = shape.row_bytes();
    for chunk in [1, 7, shape.height] {
        let mut stream =
            open_stream(path, DEFAULT_MAX_PIXELS).unwrap().unwrap_or_else(|| panic!("{}: no stream", path.display()));
        assert_eq!(stream.shape(), shape, "{}", path.display());
        let mut got = vec![0u8; expected.byte_len()];
        for rows in got.chunks_mut(chunk * row_bytes) {
            stream.next_rows(rows).unwrap();
        }
        assert!(got == expected.data, "{}: streamed {chunk} rows at a time differs", path.display());
    }
    let reader = open_range(path, DEFAULT_MAX_PIXELS).unwrap();
    assert_eq!(reader.is_some(), range, "{}: random access", path.display());
    let Some(mut reader) = reader else { return };
    assert_eq!(reader.shape(), shape);
    let h = shape.height;
    let ranges = [(h / 2, h), (0, h), (h - 1, h), (h / 3, h / 2 + 1), (0, 1), (h / 5, h * 4 / 5), (h / 2, h / 2)];
    for (start, end) in ranges {
        let mut got = vec![0u8; (end - start) * row_bytes];
        reader.read_rows(start, end, &mut got).unwrap();
        assert!(got == expected.rows(start, end), "{}: rows {start}..{end} differ", path.display());
    }
}

/// OpenCV's pixels for `path`: `codec::read_image`'s, or where that refuses a file OpenCV's `imread`
/// reads, `imread`'s. Two such files: a top-down BMP, whose negative height the `imagesize` header
/// check reads as 4294967295 rows, and a TIFF of small tiles, which OpenCV 4.6 reads from a file
/// but not from memory (`imdecode`: "failed TIFFReadRGBATile").
fn expected(path: &Path) -> Image {
    match read_image(path, DEFAULT_MAX_PIXELS) {
        Ok(image) => image,
        Err(e) => {
            let mat = imgcodecs::imread(path.to_str().unwrap(), imgcodecs::IMREAD_ANYCOLOR).unwrap();
            assert!(!mat.empty(), "{}: OpenCV cannot read it either ({e:#})", path.display());
            let (w, h, c) = (mat.cols() as usize, mat.rows() as usize, mat.channels() as usize);
            Image::from_vec(w, h, c, mat.data_bytes().unwrap().to_vec()).unwrap()
        }
    }
}

/// Asserts that `path` is left to the whole decode, by both openers.
fn assert_falls_back(path: &Path) {
    assert!(open_stream(path, DEFAULT_MAX_PIXELS).unwrap().is_none(), "{}: streamed", path.display());
    assert!(open_range(path, DEFAULT_MAX_PIXELS).unwrap().is_none(), "{}: read by range", path.display());
    read_image(path, DEFAULT_MAX_PIXELS).unwrap();
}

fn temp() -> (tempfile::TempDir, impl Fn(&str) -> PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    (dir, move |name: &str| root.join(name))
}

#[test]
fn unknown_formats_fall_back_to_the_whole_decode() {
    let (_dir, file) = temp();
    let (w, h) = (17, 33);
    let path = file("photo.webp");
    opencv_write(&path, w, h, 3, &picture(w, h), false, &[]);
    assert_falls_back(&path);
}

#[test]
fn a_missing_or_empty_file_is_an_error_naming_it() {
    let (_dir, file) = temp();
    let e = open_stream(&file("none.png"), DEFAULT_MAX_PIXELS).err().unwrap().to_string();
    assert!(e.contains("none.png"), "{e}");
    std::fs::write(file("empty.tif"), b"").unwrap();
    let e = open_range(&file("empty.tif"), DEFAULT_MAX_PIXELS).err().unwrap().to_string();
    assert!(e.contains("empty.tif") && e.contains("empty"), "{e}");
}
