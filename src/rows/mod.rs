//! Decoding an image's rows a few at a time (streamed, top to bottom) or by number (random access),
//! giving exactly the pixels of [`crate::codec::decode`] for the rows asked.
//!
//! Rank 0 streams a file so that workers filter the first strips while later rows are still being
//! decoded, and holds only the rows in flight; formats that locate any row without decoding the ones
//! before it (TIFF strips and tiles, BMP, binary PPM/PGM) let every rank read its own rows.
//!
//! Exactness comes first: a format or variant whose OpenCV handling is not reproduced here byte for
//! byte (CMYK JPEG, interlaced PNG, an orientation other than top-left, RLE BMP, ...) opens as `Ok(None)`,
//! and the caller falls back to a whole decode. This module does no MPI and knows nothing of strips
//! or halos; it only answers "these rows, please".

mod bmp;
mod jpeg;
mod png;
mod pnm;
#[cfg(test)]
mod tests;
mod tiff;

use anyhow::{ensure, Context, Result};
use std::io::Read;
use std::path::Path;

/// The shape every decoder reports before any pixel: as codec::decode would give (channels 1 or 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
}

impl Shape {
    /// Bytes in one decoded row.
    pub fn row_bytes(&self) -> usize {
        self.width * self.channels
    }
}

/// Rows decoded in order, top to bottom.
pub trait RowStream: Send {
    fn shape(&self) -> Shape;
    /// Decodes the next `buf.len() / row_bytes` rows into `buf` (BGR or gray, exactly codec::decode's bytes for those rows).
    fn next_rows(&mut self, buf: &mut [u8]) -> anyhow::Result<()>;
    /// About what fraction of a typical job (decode, filter, encode) decoding takes. Rank 0
    /// decodes a stream for every rank, so the planner gives it `1 - share` of a worker's rows
    /// (`split::plan_streamed`); 0 keeps equal shares.
    fn decode_share(&self) -> f64 {
        0.0
    }
}

/// Rows read by number, for formats where any row range can be found without decoding the rows before it.
pub trait RowRange: Send {
    fn shape(&self) -> Shape;
    /// Rows [start, end) into buf.
    fn read_rows(&mut self, start: usize, end: usize, buf: &mut [u8]) -> anyhow::Result<()>;
}

/// A streaming decoder for `path` when its format and variant can be decoded row by row exactly as
/// [`crate::codec::decode`] does; `Ok(None)` when the caller must fall back to a whole decode (another
/// format, or a variant whose OpenCV handling is not reproduced here). The header's size is checked
/// against `max_pixels` before any pixel is decoded. Errors name the file and the reason.
pub fn open_stream(path: &Path, max_pixels: u64) -> Result<Option<Box<dyn RowStream>>> {
    match sniff(path)? {
        Format::Png => png::open(path, max_pixels),
        Format::Jpeg => jpeg::open(path, max_pixels),
        Format::Tiff | Format::Bmp | Format::Pnm => {
            Ok(open_range(path, max_pixels)?.map(|range| Box::new(InOrder { range, next: 0 }) as Box<dyn RowStream>))
        }
        Format::Other => Ok(None),
    }
}

/// A random-access reader (TIFF strips or tiles, BigTIFF too; BMP; binary PPM/PGM), or `Ok(None)`
/// for other formats and for variants that must fall back to a whole decode.
pub fn open_range(path: &Path, max_pixels: u64) -> Result<Option<Box<dyn RowRange>>> {
    match sniff(path)? {
        Format::Tiff => tiff::open(path, max_pixels),
        Format::Bmp => bmp::open(path, max_pixels),
        Format::Pnm => pnm::open(path, max_pixels),
        Format::Png | Format::Jpeg | Format::Other => Ok(None),
    }
}

enum Format {
    Png,
    Jpeg,
    Tiff,
    Bmp,
    Pnm,
    Other,
}

/// The format from the file's first bytes, as OpenCV chooses its decoder (not from the extension).
fn sniff(path: &Path) -> Result<Format> {
    let mut file = std::fs::File::open(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let mut head = [0u8; 8];
    let mut len = 0;
    while len < head.len() {
        let n = file.read(&mut head[len..]).with_context(|| format!("{}: cannot read", path.display()))?;
        if n == 0 {
            break;
        }
        len += n;
    }
    ensure!(len > 0, "{}: empty file (0 bytes)", path.display());
    let head = &head[..len];
    Ok(if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Format::Png
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Format::Jpeg
    } else if head.starts_with(b"II*\0")
        || head.starts_with(b"MM\0*")
        || head.starts_with(b"II+\0")
        || head.starts_with(b"MM\0+")
    {
        Format::Tiff
    } else if head.starts_with(b"BM") {
        Format::Bmp
    } else if head.len() >= 3 && head[0] == b'P' && matches!(head[1], b'5' | b'6') && head[2].is_ascii_whitespace() {
        Format::Pnm
    } else {
        Format::Other
    })
}

/// OpenCV's own ceilings (`CV_IO_MAX_IMAGE_WIDTH`/`HEIGHT`/`PIXELS`): a larger image is left to the
/// whole decode, which refuses it with OpenCV's error, rather than decoded here where OpenCV would not.
const OPENCV_MAX_SIDE: usize = 1 << 20;
const OPENCV_MAX_PIXELS: u64 = 1 << 30;

/// Checks a header's size against `max_pixels` (the same message as `codec::check_header`), and says
/// whether OpenCV itself would decode an image of that size (`false`: fall back).
fn check_size(path: &Path, width: usize, height: usize, max_pixels: u64) -> Result<bool> {
    let pixels = width as u64 * height as u64;
    ensure!(
        pixels <= max_pixels,
        "{}: header declares {width}x{height} = {pixels} pixels, more than the limit of {max_pixels} (--max-pixels)",
        path.display()
    );
    Ok(width > 0 && height > 0 && width <= OPENCV_MAX_SIDE && height <= OPENCV_MAX_SIDE && pixels <= OPENCV_MAX_PIXELS)
}

/// Checks that `buf` holds whole rows `[start, end)` of `shape`, and says which rows were asked
/// for when it does not (a caller's mistake, reported rather than panicking).
fn check_request(path: &Path, shape: Shape, start: usize, end: usize, buf: &[u8]) -> Result<()> {
    ensure!(
        start <= end && end <= shape.height,
        "{}: rows {start}..{end} asked of an image of {} rows",
        path.display(),
        shape.height
    );
    ensure!(
        buf.len() == (end - start) * shape.row_bytes(),
        "{}: a buffer of {} bytes for rows {start}..{end} of {} bytes each",
        path.display(),
        buf.len(),
        shape.row_bytes()
    );
    Ok(())
}

/// Streams a random-access reader top to bottom (its reader keeps what the next rows share, such as
/// a TIFF strip, so this costs no more than a dedicated stream).
struct InOrder {
    range: Box<dyn RowRange>,
    next: usize,
}

impl RowStream for InOrder {
    fn shape(&self) -> Shape {
        self.range.shape()
    }

    fn next_rows(&mut self, buf: &mut [u8]) -> Result<()> {
        let rows = buf.len() / self.shape().row_bytes().max(1);
        self.range.read_rows(self.next, self.next + rows, buf)?;
        self.next += rows;
        Ok(())
    }
}
