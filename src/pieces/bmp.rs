//! BMP in pieces: raw rows at offsets known from the header, so the joiner writes each piece
//! where it belongs (BMP stores rows bottom-up) in a file sized up front.
//!
//! The layout is what OpenCV 4.6 writes: BITMAPINFOHEADER, 24-bit BGR for colour, 8-bit with a
//! 256-entry gray palette for gray, rows padded to 4 bytes, no resolution.

use crate::image::Image;
use anyhow::{ensure, Result};
use std::io::{Seek, SeekFrom, Write};

/// Bytes from the start of the file to the first pixel.
fn pixels_at(channels: usize) -> u64 {
    14 + 40 + if channels == 1 { 1024 } else { 0 }
}

/// Bytes in one stored row.
fn stride(width: usize, channels: usize) -> usize {
    (width * channels + 3) & !3
}

/// The rows in stored order: bottom-up, each padded.
pub(super) fn encode(rows: &Image) -> Vec<u8> {
    let s = stride(rows.width, rows.channels);
    let mut out = vec![0u8; s * rows.height];
    for (y, stored) in out.chunks_exact_mut(s).enumerate() {
        let src = rows.height - 1 - y;
        stored[..rows.row_bytes()].copy_from_slice(rows.rows(src, src + 1));
    }
    out
}

/// Places pieces at their rows' offsets.
pub(super) struct Joiner {
    height: usize,
    stride: u64,
    pixels_at: u64,
}

impl Joiner {
    pub fn new(out: &mut (impl Write + Seek), width: usize, height: usize, channels: usize) -> Result<Joiner> {
        let s = stride(width, channels) as u64;
        let at = pixels_at(channels);
        let size = at + s * height as u64;
        ensure!(size <= u32::MAX as u64 && height <= i32::MAX as usize, "a BMP holds at most 4 GB");
        let mut h = Vec::with_capacity(at as usize);
        h.extend_from_slice(b"BM");
        h.extend_from_slice(&(size as u32).to_le_bytes());
        h.extend_from_slice(&[0; 4]);
        h.extend_from_slice(&(at as u32).to_le_bytes());
        h.extend_from_slice(&40u32.to_le_bytes());
        h.extend_from_slice(&(width as i32).to_le_bytes());
        h.extend_from_slice(&(height as i32).to_le_bytes()); // positive: bottom-up
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&((channels * 8) as u16).to_le_bytes());
        h.extend_from_slice(&[0; 24]); // no compression, image size, resolution, palette counts
        if channels == 1 {
            for i in 0..=255u8 {
                h.extend_from_slice(&[i, i, i, 0]);
            }
        }
        out.write_all(&h)?;
        // The file is sized now; pieces fill it in whatever order they are placed.
        out.seek(SeekFrom::Start(size - 1))?;
        out.write_all(&[0])?;
        Ok(Joiner { height, stride: s, pixels_at: at })
    }

    pub fn add(&mut self, out: &mut (impl Write + Seek), start: usize, rows: usize, bytes: &[u8]) -> Result<()> {
        ensure!(bytes.len() as u64 == self.stride * rows as u64, "{} bytes for {rows} padded rows", bytes.len());
        if rows == 0 {
            return Ok(());
        }
        let bottom = (self.height - start - rows) as u64;
        out.seek(SeekFrom::Start(self.pixels_at + bottom * self.stride))?;
        out.write_all(bytes)?;
        Ok(())
    }
}
