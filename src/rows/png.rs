//! PNG, row by row through the `png` crate, converted the way OpenCV's libpng reader converts:
//! palette and low-bit gray expanded, 16 bits cut to their high byte (`png_set_strip_16`), alpha
//! and tRNS dropped, RGB to BGR, gray+alpha to three equal channels, and no gamma applied.
//!
//! Falls back (`None`) for Adam7 interlacing, whose first pass already spans the whole image, and for
//! files with an eXIf chunk, whose orientation OpenCV applies after decoding.

use super::reader::{check_size, RowStream, Shape};
use anyhow::{ensure, Context, Result};
use png::{ColorType, Transformations};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

pub(super) fn open(path: &Path, max_pixels: u64) -> Result<Option<Box<dyn RowStream>>> {
    let name = path.display();
    let file = File::open(path).with_context(|| format!("{name}: cannot read"))?;
    let mut file = BufReader::new(file);
    if has_exif(&mut file).with_context(|| format!("{name}: cannot read"))? {
        return Ok(None);
    }
    file.rewind().with_context(|| format!("{name}: cannot read"))?;
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(Transformations::EXPAND | Transformations::STRIP_16);
    let info = decoder.read_header_info().with_context(|| format!("{name}: cannot decode the PNG header"))?;
    let (width, height) = (info.width as usize, info.height as usize);
    if !check_size(path, width, height, max_pixels)? || info.interlaced {
        return Ok(None);
    }
    // As OpenCV with IMREAD_ANYCOLOR: gray (even with tRNS) stays one channel, all else is BGR.
    let channels = if info.color_type == ColorType::Grayscale { 1 } else { 3 };
    let reader = decoder.read_info().with_context(|| format!("{name}: cannot decode the PNG header"))?;
    let shape = Shape { width, height, channels };
    Ok(Some(Box::new(PngRows { path: path.to_owned(), reader, shape, next: 0 })))
}

struct PngRows {
    path: PathBuf,
    reader: png::Reader<BufReader<File>>,
    shape: Shape,
    next: usize,
}

impl RowStream for PngRows {
    fn shape(&self) -> Shape {
        self.shape
    }

    fn next_rows(&mut self, buf: &mut [u8]) -> Result<()> {
        let name = self.path.display();
        let row_bytes = self.shape.row_bytes();
        let rows = buf.len() / row_bytes;
        ensure!(
            buf.len().is_multiple_of(row_bytes) && self.next + rows <= self.shape.height,
            "{name}: {} bytes asked after row {} of {} rows of {row_bytes} bytes",
            buf.len(),
            self.next,
            self.shape.height
        );
        let (color, _) = self.reader.output_color_type();
        for out in buf.chunks_exact_mut(row_bytes) {
            let y = self.next;
            let row = self
                .reader
                .next_row()
                .with_context(|| format!("{name}: corrupt PNG data at row {y}"))?
                .with_context(|| format!("{name}: PNG data ends at row {y} of {}", self.shape.height))?;
            convert_row(row.data(), color, self.shape.channels, out);
            self.next += 1;
        }
        if self.next == self.shape.height && rows > 0 {
            // libpng reads on to IEND and fails on a damaged chunk there; so does OpenCV's decode.
            self.reader.finish().with_context(|| format!("{name}: corrupt PNG after the image data"))?;
        }
        Ok(())
    }
}

/// One row of 8-bit samples as the `png` crate gives it after EXPAND, to OpenCV's gray or BGR
/// (`channels` of the output). A palette never reaches here: EXPAND turns it into RGB or RGBA.
fn convert_row(src: &[u8], color: ColorType, channels: usize, out: &mut [u8]) {
    let samples = color.samples();
    match (color, channels) {
        (ColorType::Grayscale, 1) => out.copy_from_slice(src),
        (ColorType::GrayscaleAlpha, 1) => {
            for (o, s) in out.iter_mut().zip(src.chunks_exact(2)) {
                *o = s[0];
            }
        }
        (ColorType::Grayscale | ColorType::GrayscaleAlpha, _) => {
            for (o, s) in out.chunks_exact_mut(3).zip(src.chunks_exact(samples)) {
                o.fill(s[0]);
            }
        }
        (ColorType::Rgb | ColorType::Rgba | ColorType::Indexed, _) => {
            for (o, s) in out.chunks_exact_mut(3).zip(src.chunks_exact(samples)) {
                o.copy_from_slice(&[s[2], s[1], s[0]]);
            }
        }
    }
}

/// Whether any chunk, before or after the image data, is eXIf. Reads only the chunk headers.
fn has_exif(file: &mut BufReader<File>) -> std::io::Result<bool> {
    file.seek(std::io::SeekFrom::Start(8))?;
    let mut head = [0u8; 8];
    loop {
        if file.read_exact(&mut head).is_err() {
            return Ok(false);
        }
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as i64;
        match &head[4..] {
            b"eXIf" => return Ok(true),
            b"IEND" => return Ok(false),
            _ => file.seek_relative(len + 4)?,
        }
        if file.fill_buf()?.is_empty() {
            return Ok(false);
        }
    }
}
