//! PNM in pieces: binary P6 (RGB) or P5 (gray) as OpenCV 4.6 writes them, raw rows appended in
//! order after a header that only needs the size.

use super::format::row_as_rgb;
use crate::image::Image;
use anyhow::Result;
use std::io::Write;

/// The rows as stored: RGB order for colour.
pub(super) fn encode(rows: &Image) -> Vec<u8> {
    let mut out = vec![0u8; rows.byte_len()];
    let rb = rows.row_bytes();
    for (y, stored) in out.chunks_exact_mut(rb.max(1)).enumerate() {
        row_as_rgb(rows.rows(y, y + 1), rows.channels, stored);
    }
    out
}

/// The header OpenCV writes: magic, size and maximum value, each on its own line.
pub(super) fn write_header(out: &mut impl Write, width: usize, height: usize, channels: usize) -> Result<()> {
    let magic = if channels == 3 { "P6" } else { "P5" };
    write!(out, "{magic}\n{width} {height}\n255\n")?;
    Ok(())
}
