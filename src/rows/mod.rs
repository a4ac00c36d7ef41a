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
mod reader;
#[cfg(test)]
mod tests;
mod tiff;

pub use reader::{RowRange, RowStream, Shape};

use anyhow::{ensure, Context, Result};
use std::io::Read;
use std::path::Path;

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
