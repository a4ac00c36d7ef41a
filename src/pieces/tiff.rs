//! TIFF in pieces: every piece is whole strips of [`ROWS_PER_STRIP`] rows, each strip RGB (or
//! gray) with the horizontal predictor and Adobe Deflate (zlib); the joiner appends the strips,
//! remembers where each landed, and on finish writes the IFD at the end and points the header
//! at it. Classic TIFF while the file fits in 4 GB, BigTIFF beyond (decided from the raw size
//! up front, since the header's layout depends on it).
//!
//! OpenCV 4.6 writes LZW with the same predictor in strips of about 8 KB. Deflate with the
//! settings of OpenCV's PNG gives a file about 20% smaller for photos (1024x768 colour: 0.79x)
//! in about the same time, and every TIFF reader has it.

use super::{row_as_rgb, PieceDetail};
use crate::image::Image;
use anyhow::{ensure, Context, Result};
use std::io::{Seek, SeekFrom, Write};

use super::deflate::{Deflater, Flush, Framing};

/// Rows in each strip (and so the alignment of pieces).
pub(super) const ROWS_PER_STRIP: usize = 16;
/// zlib level and strategy for strips: those of OpenCV's PNG. After the predictor a photo is
/// mostly small differences that only Huffman coding shrinks: `Z_RLE` is as small as full
/// matching and several times faster (8K colour, level 6: 12.4 s against OpenCV's 3.3 s).
const LEVEL: i32 = 1;
const STRATEGY: i32 = libz_sys::Z_RLE;

/// Compresses `rows` strip by strip.
pub(super) fn encode(rows: &Image) -> Result<(PieceDetail, Vec<u8>)> {
    let rb = rows.row_bytes();
    let mut out = Vec::with_capacity(rows.byte_len() / 2);
    let mut strip_lens = Vec::new();
    let mut line = vec![0u8; rb];
    for first in (0..rows.height).step_by(ROWS_PER_STRIP) {
        let end = (first + ROWS_PER_STRIP).min(rows.height);
        let before = out.len();
        let mut z = Deflater::new(LEVEL, STRATEGY, Framing::Zlib)?;
        for y in first..end {
            row_as_rgb(rows.rows(y, y + 1), rows.channels, &mut line);
            predict(&mut line, rows.channels);
            z.push(&line, if y + 1 == end { Flush::Finish } else { Flush::None }, &mut out)?;
        }
        strip_lens.push((out.len() - before) as u64);
    }
    Ok((PieceDetail::Tiff { strip_lens }, out))
}

/// TIFF's horizontal differencing (Predictor 2), in place: each sample minus the same sample of
/// the pixel to its left.
fn predict(row: &mut [u8], spp: usize) {
    for i in (spp..row.len()).rev() {
        row[i] = row[i].wrapping_sub(row[i - spp]);
    }
}

/// Appends strips and writes the directory on finish.
pub(super) struct Joiner {
    big: bool,
    width: usize,
    height: usize,
    channels: usize,
    /// Where the next byte goes.
    pos: u64,
    offsets: Vec<u64>,
    lens: Vec<u64>,
}

/// Whether a file of this many pixel bytes needs BigTIFF: deflate may grow noise slightly, and
/// the directory follows the strips, so keep a margin below 4 GB.
fn needs_bigtiff(raw: u64) -> bool {
    raw + raw / 16 + (1 << 20) >= u32::MAX as u64
}

impl Joiner {
    pub fn new(out: &mut impl Write, width: usize, height: usize, channels: usize, force_big: bool) -> Result<Joiner> {
        ensure!(
            width <= u32::MAX as usize && height <= u32::MAX as usize,
            "TIFF holds at most 2^32-1 rows and columns"
        );
        let big = force_big || needs_bigtiff((width * height * channels) as u64);
        // Little-endian; the directory offset (0 for now) is patched on finish.
        if big {
            out.write_all(&[b'I', b'I', 43, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])?;
        } else {
            out.write_all(&[b'I', b'I', 42, 0, 0, 0, 0, 0])?;
        }
        let pos = if big { 16 } else { 8 };
        Ok(Joiner { big, width, height, channels, pos, offsets: Vec::new(), lens: Vec::new() })
    }

    pub fn add(&mut self, out: &mut impl Write, rows: usize, strip_lens: &[u64], bytes: &[u8]) -> Result<()> {
        ensure!(
            strip_lens.len() == rows.div_ceil(ROWS_PER_STRIP),
            "{} strips for {rows} rows of {ROWS_PER_STRIP}",
            strip_lens.len()
        );
        ensure!(strip_lens.iter().sum::<u64>() == bytes.len() as u64, "the strip lengths do not add up to the piece");
        for &len in strip_lens {
            self.offsets.push(self.pos);
            self.lens.push(len);
            self.pos += len;
        }
        ensure!(self.big || self.pos <= u32::MAX as u64, "the strips grew past the 4 GB a classic TIFF can address");
        out.write_all(bytes)?;
        Ok(())
    }

    pub fn finish(self, out: &mut (impl Write + Seek)) -> Result<()> {
        let (w, h, spp) = (self.width as u64, self.height as u64, self.channels as u64);
        let photometric = if spp == 3 { 2 } else { 1 };
        let offsets_type = if self.big { LONG8 } else { LONG };
        // Tags in ascending order, as TIFF requires.
        let entries = [
            Entry::new(256, LONG, &[w]),
            Entry::new(257, LONG, &[h]),
            Entry::new(258, SHORT, &vec![8; spp as usize]),
            Entry::new(259, SHORT, &[8]), // Adobe Deflate
            Entry::new(262, SHORT, &[photometric]),
            Entry::new(273, offsets_type, &self.offsets),
            Entry::new(277, SHORT, &[spp]),
            Entry::new(278, LONG, &[ROWS_PER_STRIP as u64]),
            Entry::new(279, offsets_type, &self.lens),
            Entry::new(284, SHORT, &[1]),                   // contiguous samples
            Entry::new(317, SHORT, &[2]),                   // horizontal differencing
            Entry::new(339, SHORT, &vec![1; spp as usize]), // unsigned integers
        ];
        let mut pos = self.pos;
        // Values too long for their entry go before the directory, each at an even offset.
        let inline = if self.big { 8 } else { 4 };
        let mut value_at = Vec::with_capacity(entries.len());
        for e in &entries {
            if e.bytes.len() > inline {
                pos += write_padding(out, pos)?;
                value_at.push(Some(pos));
                out.write_all(&e.bytes)?;
                pos += e.bytes.len() as u64;
            } else {
                value_at.push(None);
            }
        }
        pos += write_padding(out, pos)?;
        let ifd = pos;
        ensure!(self.big || ifd <= u32::MAX as u64, "the directory lands past the 4 GB a classic TIFF can address");
        let mut dir = Vec::new();
        let word = |dir: &mut Vec<u8>, v: u64| {
            if self.big {
                dir.extend_from_slice(&v.to_le_bytes())
            } else {
                dir.extend_from_slice(&(v as u32).to_le_bytes())
            }
        };
        if self.big {
            dir.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        } else {
            dir.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        }
        for (e, at) in entries.iter().zip(&value_at) {
            dir.extend_from_slice(&e.tag.to_le_bytes());
            dir.extend_from_slice(&e.kind.to_le_bytes());
            word(&mut dir, e.count);
            match at {
                Some(offset) => word(&mut dir, *offset),
                None => {
                    let mut v = e.bytes.clone();
                    v.resize(inline, 0);
                    dir.extend_from_slice(&v);
                }
            }
        }
        word(&mut dir, 0); // no next directory
        out.write_all(&dir)?;
        out.seek(SeekFrom::Start(if self.big { 8 } else { 4 })).context("seeking to the header")?;
        if self.big {
            out.write_all(&ifd.to_le_bytes())?;
        } else {
            out.write_all(&(ifd as u32).to_le_bytes())?;
        }
        Ok(())
    }
}

const SHORT: u16 = 3;
const LONG: u16 = 4;
const LONG8: u16 = 16;

/// One directory entry, its values already in file order (little-endian).
struct Entry {
    tag: u16,
    kind: u16,
    count: u64,
    bytes: Vec<u8>,
}

impl Entry {
    fn new(tag: u16, kind: u16, values: &[u64]) -> Entry {
        let mut bytes = Vec::with_capacity(values.len() * 8);
        for &v in values {
            match kind {
                SHORT => bytes.extend_from_slice(&(v as u16).to_le_bytes()),
                LONG => bytes.extend_from_slice(&(v as u32).to_le_bytes()),
                _ => bytes.extend_from_slice(&v.to_le_bytes()),
            }
        }
        Entry { tag, kind, count: values.len() as u64, bytes }
    }
}

/// Writes a zero byte if `pos` is odd (TIFF offsets are even); returns how many bytes it wrote.
fn write_padding(out: &mut impl Write, pos: u64) -> Result<u64> {
    if pos % 2 == 1 {
        out.write_all(&[0])?;
        return Ok(1);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictor_differences_each_sample_with_the_pixel_to_its_left() {
        let mut row = [10, 20, 30, 12, 25, 29];
        predict(&mut row, 3);
        assert_eq!(row, [10, 20, 30, 2, 5, 255]);
    }

    #[test]
    fn bigtiff_is_chosen_only_near_4_gb() {
        assert!(!needs_bigtiff(7680 * 4320 * 3));
        assert!(!needs_bigtiff(3_000_000_000));
        assert!(needs_bigtiff(4_100_000_000));
    }
}
