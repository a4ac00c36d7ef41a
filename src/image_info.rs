//! What an image file is, read from its bytes rather than trusted from its name or header: the
//! format (from the magic bytes), size, channels and depth as decoded (alpha and 16 bits kept),
//! each channel's mean, standard deviation and histogram, and the EXIF orientation a JPEG
//! declares. The server's `POST /api/info` answers with it. Pure apart from OpenCV's decoder.

use crate::codec;
use crate::cvio::imgcodecs;
use anyhow::{ensure, Context, Result};
use opencv::core::{self, Mat, Vector};
use opencv::prelude::*;
use serde::Serialize;

/// Histograms have this many bins per channel (16-bit values are binned by their high byte).
pub const BINS: usize = 256;

#[derive(Clone, Debug, Serialize)]
pub struct ChannelFacts {
    pub name: &'static str,
    pub mean: f64,
    pub std: f64,
    pub histogram: Vec<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ImageFacts {
    pub format: &'static str,
    pub width: usize,
    pub height: usize,
    /// As decoded, alpha included.
    pub channels: usize,
    /// Bits per sample: 8, 16 or 32 (float).
    pub depth: u32,
    pub has_alpha: bool,
    /// The size the header declares (checked against the decoded size).
    pub header_size: Option<(usize, usize)>,
    /// EXIF orientation 1–8, when the file declares one (JPEG).
    pub exif_orientation: Option<u16>,
    pub per_channel: Vec<ChannelFacts>,
}

/// The format from the first bytes.
pub fn format_of(bytes: &[u8]) -> Option<&'static str> {
    let s = |m: &[u8]| bytes.starts_with(m);
    Some(if s(b"\x89PNG\r\n\x1a\n") {
        "png"
    } else if s(b"\xff\xd8\xff") {
        "jpeg"
    } else if s(b"II*\0") || s(b"MM\0*") {
        "tiff"
    } else if s(b"BM") {
        "bmp"
    } else if bytes.len() >= 12 && s(b"RIFF") && &bytes[8..12] == b"WEBP" {
        "webp"
    } else if bytes.len() >= 2 && bytes[0] == b'P' && (b'1'..=b'6').contains(&bytes[1]) {
        "pnm"
    } else {
        return None;
    })
}

/// Reads the facts of an encoded image; refuses one whose header declares more than
/// `max_pixels` before decoding it.
pub fn facts(bytes: &[u8], name: &str, max_pixels: u64) -> Result<ImageFacts> {
    ensure!(!bytes.is_empty(), "{name}: empty file (0 bytes)");
    let format = format_of(bytes).with_context(|| format!("{name}: not an image format imgproc reads"))?;
    codec::check_header(bytes, name, max_pixels)?;
    let header_size = imagesize::blob_size(bytes).ok().map(|s| (s.width, s.height));
    let src = Mat::from_slice(bytes)?;
    let mat =
        imgcodecs::imdecode(&src, imgcodecs::IMREAD_UNCHANGED).with_context(|| format!("{name}: cannot decode"))?;
    ensure!(!mat.empty(), "{name}: cannot decode");
    let (width, height, channels) = (mat.cols() as usize, mat.rows() as usize, mat.channels() as usize);
    ensure!(
        (width * height) as u64 <= max_pixels,
        "{name}: {width}x{height} pixels, more than the limit of {max_pixels}"
    );
    if let Some((w, h)) = header_size {
        ensure!((w, h) == (width, height), "{name}: the header says {w}x{h}, the pixels are {width}x{height}");
    }
    let depth = match mat.depth() {
        core::CV_8U | core::CV_8S => 8,
        core::CV_16U | core::CV_16S => 16,
        _ => 32,
    };
    let mut means = Vector::<f64>::new();
    let mut stds = Vector::<f64>::new();
    core::mean_std_dev(&mat, &mut means, &mut stds, &core::no_array())?;
    let histograms = histograms(&mat, channels)?;
    let names: &[&'static str] = match channels {
        1 => &["gray"],
        2 => &["gray", "alpha"],
        3 => &["blue", "green", "red"],
        _ => &["blue", "green", "red", "alpha"],
    };
    let per_channel = (0..channels)
        .map(|c| ChannelFacts {
            name: names.get(c).copied().unwrap_or("extra"),
            mean: means.get(c).unwrap_or(0.0),
            std: stds.get(c).unwrap_or(0.0),
            histogram: histograms[c].clone(),
        })
        .collect();
    Ok(ImageFacts {
        format,
        width,
        height,
        channels,
        depth,
        has_alpha: channels == 2 || channels == 4,
        header_size,
        exif_orientation: if format == "jpeg" { exif_orientation(bytes) } else { None },
        per_channel,
    })
}

/// Per-channel histograms of 8- or 16-bit samples ([`BINS`] bins); empty ones for floats.
fn histograms(mat: &Mat, channels: usize) -> Result<Vec<Vec<u64>>> {
    let mut h = vec![vec![0u64; BINS]; channels];
    let mat = if mat.is_continuous() { mat.clone() } else { mat.try_clone()? };
    match mat.depth() {
        core::CV_8U => {
            for (i, v) in mat.data_bytes()?.iter().enumerate() {
                h[i % channels][*v as usize] += 1;
            }
        }
        core::CV_16U => {
            let bytes = mat.data_bytes()?;
            for (i, pair) in bytes.chunks_exact(2).enumerate() {
                let v = u16::from_ne_bytes([pair[0], pair[1]]);
                h[i % channels][(v >> 8) as usize] += 1;
            }
        }
        _ => {}
    }
    Ok(h)
}

/// The orientation tag (0x0112) of a JPEG's EXIF block, if it has one with a value of 1–8.
pub fn exif_orientation(jpeg: &[u8]) -> Option<u16> {
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xff {
        let marker = jpeg[at + 1];
        let len = u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]) as usize;
        let body = jpeg.get(at + 4..at + 2 + len)?;
        if marker == 0xe1 && body.starts_with(b"Exif\0\0") {
            return tiff_orientation(&body[6..]);
        }
        if marker == 0xda {
            return None; // the image data: no EXIF before it
        }
        at += 2 + len;
    }
    None
}

/// The orientation in a TIFF structure's first IFD.
fn tiff_orientation(tiff: &[u8]) -> Option<u16> {
    let little = match tiff.get(0..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let u16_at = |o: usize| -> Option<u16> {
        let b = tiff.get(o..o + 2)?;
        Some(if little { u16::from_le_bytes([b[0], b[1]]) } else { u16::from_be_bytes([b[0], b[1]]) })
    };
    let u32_at = |o: usize| -> Option<u32> {
        let b = tiff.get(o..o + 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if little { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) })
    };
    let ifd = u32_at(4)? as usize;
    let entries = u16_at(ifd)? as usize;
    (0..entries.min(512)).find_map(|e| {
        let entry = ifd + 2 + e * 12;
        (u16_at(entry)? == 0x0112).then(|| u16_at(entry + 8)).flatten().filter(|v| (1..=8).contains(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal JPEG prefix with an EXIF block declaring `orientation`.
    fn jpeg_with_orientation(orientation: u16, little: bool) -> Vec<u8> {
        let mut tiff = Vec::new();
        let w16 = |v: u16| if little { v.to_le_bytes() } else { v.to_be_bytes() };
        let w32 = |v: u32| if little { v.to_le_bytes() } else { v.to_be_bytes() };
        tiff.extend(if little { b"II" } else { b"MM" });
        tiff.extend(w16(42));
        tiff.extend(w32(8));
        tiff.extend(w16(1));
        tiff.extend(w16(0x0112));
        tiff.extend(w16(3));
        tiff.extend(w32(1));
        tiff.extend(w16(orientation));
        tiff.extend([0, 0]);
        tiff.extend(w32(0));
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend(tiff);
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe1];
        jpeg.extend(((app1.len() + 2) as u16).to_be_bytes());
        jpeg.extend(app1);
        jpeg.extend([0xff, 0xda, 0, 2]);
        jpeg
    }

    #[test]
    fn the_exif_orientation_is_read_in_either_byte_order() {
        assert_eq!(exif_orientation(&jpeg_with_orientation(6, true)), Some(6));
        assert_eq!(exif_orientation(&jpeg_with_orientation(3, false)), Some(3));
        assert_eq!(exif_orientation(&jpeg_with_orientation(9, true)), None, "out of range");
        assert_eq!(exif_orientation(&[0xff, 0xd8, 0xff, 0xda, 0, 2]), None);
        assert_eq!(exif_orientation(&[0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff]), None, "truncated");
    }

    #[test]
    fn facts_keep_depth_and_alpha_and_count_every_pixel() {
        // A 3x2 16-bit RGBA PNG made by OpenCV itself.
        let mut mat =
            Mat::new_rows_cols_with_default(2, 3, core::CV_16UC4, core::Scalar::new(1000.0, 2000.0, 3000.0, 65535.0))
                .unwrap();
        *mat.at_2d_mut::<core::Vec4w>(0, 0).unwrap() = core::Vec4w::from([0, 0, 0, 0]);
        let png = imgcodecs::imencode(".png", &mat, &[]).unwrap().unwrap();
        let f = facts(png.as_slice(), "t.png", 100).unwrap();
        assert_eq!((f.format, f.width, f.height, f.channels, f.depth, f.has_alpha), ("png", 3, 2, 4, 16, true));
        assert_eq!(f.per_channel[3].histogram.iter().sum::<u64>(), 6);
        assert_eq!(f.per_channel[3].histogram[255], 5);
        assert!((f.per_channel[0].mean - 1000.0 * 5.0 / 6.0).abs() < 1e-9);
        assert!(facts(png.as_slice(), "t.png", 5).unwrap_err().to_string().contains("limit"));
    }
}
