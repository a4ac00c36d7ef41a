//! PNG in pieces: each piece is its rows Sub-filtered and deflated as a byte-aligned segment of
//! one zlib stream; the joiner wraps the segments in IDAT chunks and closes the stream with the
//! combined Adler-32 (the technique of pigz and mtpng).
//!
//! The settings are those of OpenCV 4.6's default PNG encode (grfmt_png.cpp): Sub filter on
//! every row, zlib level 1 (`Z_BEST_SPEED`), strategy `Z_RLE`. The Sub filter looks only at
//! the row itself and `Z_RLE` only at the previous byte, so a piece made alone compresses to
//! nearly what the same rows would inside one stream.

use super::deflate::{self, Deflater, Flush, Framing};
use super::format::{row_as_rgb, PieceDetail};
use crate::image::Image;
use anyhow::{ensure, Result};
use std::io::Write;

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
/// CMF/FLG of a zlib stream with a 32 KiB window at the fastest level, as zlib writes it.
const ZLIB_HEADER: [u8; 2] = [0x78, 0x01];
/// The longest chunk PNG allows.
const MAX_CHUNK: usize = (1 << 31) - 1;

/// Filters and deflates `rows`; `last`: the piece holding the image's last row ends the stream.
pub(super) fn encode(rows: &Image, last: bool) -> Result<(PieceDetail, Vec<u8>)> {
    let bpp = rows.channels;
    let mut z = Deflater::new(1, libz_sys::Z_RLE, Framing::Raw)?;
    let mut rgb = vec![0u8; rows.row_bytes()];
    let mut filtered = vec![0u8; rows.row_bytes() + 1];
    let mut out = Vec::with_capacity(rows.byte_len() / 2);
    let mut adler = 1;
    for y in 0..rows.height {
        row_as_rgb(rows.rows(y, y + 1), rows.channels, &mut rgb);
        filtered[0] = 1; // filter type Sub
        sub_filter(&rgb, bpp, &mut filtered[1..]);
        adler = deflate::adler32(adler, &filtered);
        let flush = match (y + 1 == rows.height, last) {
            (false, _) => Flush::None,
            (true, false) => Flush::Sync,
            (true, true) => Flush::Finish,
        };
        z.push(&filtered, flush, &mut out)?;
    }
    let filtered_len = (rows.height * (rows.row_bytes() + 1)) as u64;
    Ok((PieceDetail::Png { adler32: adler, filtered_len }, out))
}

/// PNG's Sub filter: each byte minus the same sample of the pixel to its left.
fn sub_filter(row: &[u8], bpp: usize, out: &mut [u8]) {
    out[..bpp].copy_from_slice(&row[..bpp]);
    for i in bpp..row.len() {
        out[i] = row[i].wrapping_sub(row[i - bpp]);
    }
}

/// Writes the signature and IHDR, then the pieces' IDAT chunks, then the stream's Adler-32 and IEND.
pub(super) struct Joiner {
    /// Adler-32 of all filtered bytes so far.
    adler: u32,
    zlib_header_written: bool,
}

impl Joiner {
    pub fn new(out: &mut impl Write, width: usize, height: usize, channels: usize) -> Result<Joiner> {
        ensure!(width <= i32::MAX as usize && height <= i32::MAX as usize, "PNG holds at most 2^31-1 rows and columns");
        let mut ihdr = Vec::with_capacity(13);
        ihdr.extend_from_slice(&(width as u32).to_be_bytes());
        ihdr.extend_from_slice(&(height as u32).to_be_bytes());
        let colour_type = if channels == 3 { 2 } else { 0 };
        // Bit depth 8, compression 0, filter method 0, no interlace.
        ihdr.extend_from_slice(&[8, colour_type, 0, 0, 0]);
        out.write_all(&SIGNATURE)?;
        write_chunk(out, b"IHDR", &[&ihdr])?;
        Ok(Joiner { adler: 1, zlib_header_written: false })
    }

    pub fn add(&mut self, out: &mut impl Write, adler: u32, filtered_len: u64, bytes: &[u8]) -> Result<()> {
        if !self.zlib_header_written {
            // The first chunk carries the zlib header in front of the first piece's blocks.
            let first = bytes.len().min(MAX_CHUNK - ZLIB_HEADER.len());
            write_chunk(out, b"IDAT", &[&ZLIB_HEADER, &bytes[..first]])?;
            write_idats(out, &bytes[first..])?;
            self.zlib_header_written = true;
        } else {
            write_idats(out, bytes)?;
        }
        self.adler = deflate::adler32_combine(self.adler, adler, filtered_len);
        Ok(())
    }

    pub fn finish(self, out: &mut impl Write) -> Result<()> {
        ensure!(self.zlib_header_written, "no rows were joined");
        write_chunk(out, b"IDAT", &[&self.adler.to_be_bytes()])?;
        write_chunk(out, b"IEND", &[])?;
        Ok(())
    }
}

fn write_idats(out: &mut impl Write, bytes: &[u8]) -> Result<()> {
    for part in bytes.chunks(MAX_CHUNK) {
        write_chunk(out, b"IDAT", &[part])?;
    }
    Ok(())
}

/// One chunk whose data is the concatenation of `parts`, with its CRC.
fn write_chunk(out: &mut impl Write, kind: &[u8; 4], parts: &[&[u8]]) -> Result<()> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.write_all(&(len as u32).to_be_bytes())?;
    out.write_all(kind)?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    for p in parts {
        crc.update(p);
        out.write_all(p)?;
    }
    out.write_all(&crc.finalize().to_be_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_filter_subtracts_the_same_sample_of_the_left_pixel() {
        let mut out = [0u8; 6];
        sub_filter(&[10, 20, 30, 5, 25, 40], 3, &mut out);
        assert_eq!(out, [10, 20, 30, 251, 5, 10]);
    }

    #[test]
    fn chunk_crc_is_that_of_type_and_data() {
        let mut out = Vec::new();
        write_chunk(&mut out, b"IEND", &[]).unwrap();
        assert_eq!(out, [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]);
    }
}
