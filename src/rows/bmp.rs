//! BMP, any rows read at their offsets (bottom-up unless the height is negative).
//!
//! As OpenCV's reader: 24-bit rows copied, 32-bit rows with their fourth byte dropped, 1-, 4- and
//! 8-bit palette indices looked up (one gray channel when every palette entry is gray, else BGR;
//! entries past the ones stored are black). Falls back (`None`) for RLE, 16-bit, bit fields other
//! than plain BGRA, and the old OS/2 header.

use super::reader::{check_request, check_size, RowRange, Shape};
use anyhow::{Context, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// At most this many encoded bytes are read at once, so a large range needs little extra memory.
const READ_BLOCK: usize = 1 << 20;

pub(super) fn open(path: &Path, max_pixels: u64) -> Result<Option<Box<dyn RowRange>>> {
    let name = path.display();
    let file = File::open(path).with_context(|| format!("{name}: cannot read"))?;
    let mut head = [0u8; 14 + 124 + 12];
    let len = read_some(&file, &mut head, 0).with_context(|| format!("{name}: cannot read"))?;
    let head = &head[..len];
    let u32_at = |at: usize| head.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u16_at = |at: usize| head.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let (Some(offset), Some(header_size), Some(width), Some(height), Some(bpp), Some(compression), Some(used)) =
        (u32_at(10), u32_at(14), u32_at(18), u32_at(22), u16_at(28), u32_at(30), u32_at(46))
    else {
        return Ok(None);
    };
    let (width, height) = (width as i32, height as i32);
    if !(40..=124).contains(&header_size) || width <= 0 || height == 0 || height == i32::MIN {
        return Ok(None);
    }
    let (width, top_down, height) = (width as usize, height < 0, height.unsigned_abs() as usize);
    if !check_size(path, width, height, max_pixels)? {
        return Ok(None);
    }
    let plain_bgra = || u32_at(54) == Some(0xff_0000) && u32_at(58) == Some(0xff00) && u32_at(62) == Some(0xff);
    let accepted = match (bpp, compression) {
        (1 | 4 | 8 | 24 | 32, 0) => true,
        (32, 3) => plain_bgra(),
        _ => false,
    };
    if !accepted || used > 256 {
        return Ok(None);
    }
    let mut palette = [[0u8; 4]; 256];
    if bpp <= 8 {
        let entries = if used == 0 { 1 << bpp } else { used as usize };
        let mut bytes = vec![0u8; entries * 4];
        file.read_exact_at(&mut bytes, 14 + header_size as u64)
            .with_context(|| format!("{name}: BMP palette cut short"))?;
        for (entry, b) in palette.iter_mut().zip(bytes.chunks_exact(4)) {
            entry.copy_from_slice(b);
        }
    }
    let gray = bpp <= 8 && palette[..1 << bpp].iter().all(|p| p[0] == p[1] && p[0] == p[2]);
    let channels = if gray { 1 } else { 3 };
    let stride = (width * bpp as usize).div_ceil(32) * 4;
    let shape = Shape { width, height, channels };
    Ok(Some(Box::new(BmpRows {
        path: path.to_owned(),
        file,
        shape,
        offset: offset as u64,
        stride,
        bpp: bpp as usize,
        top_down,
        palette,
        scratch: Vec::new(),
    })))
}

fn read_some(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut len = 0;
    while len < buf.len() {
        match file.read_at(&mut buf[len..], at + len as u64)? {
            0 => break,
            n => len += n,
        }
    }
    Ok(len)
}

struct BmpRows {
    path: PathBuf,
    file: File,
    shape: Shape,
    offset: u64,
    stride: usize,
    bpp: usize,
    top_down: bool,
    palette: [[u8; 4]; 256],
    scratch: Vec<u8>,
}

impl RowRange for BmpRows {
    fn shape(&self) -> Shape {
        self.shape
    }

    fn read_rows(&mut self, start: usize, end: usize, buf: &mut [u8]) -> Result<()> {
        check_request(&self.path, self.shape, start, end, buf)?;
        let row_bytes = self.shape.row_bytes();
        let block = (READ_BLOCK / self.stride.max(1)).max(1);
        let mut first = start;
        while first < end {
            let last = (first + block).min(end);
            // Rows [first, last) sit together in the file, in reverse order when bottom-up.
            let file_row = if self.top_down { first } else { self.shape.height - last };
            self.scratch.resize((last - first) * self.stride, 0);
            self.file
                .read_exact_at(&mut self.scratch, self.offset + (file_row * self.stride) as u64)
                .with_context(|| format!("{}: BMP data cut short in rows {first}..{last}", self.path.display()))?;
            for y in first..last {
                let k = if self.top_down { y - first } else { last - 1 - y };
                let src = &self.scratch[k * self.stride..(k + 1) * self.stride];
                let out = &mut buf[(y - start) * row_bytes..(y - start + 1) * row_bytes];
                convert_row(src, self.bpp, &self.palette, self.shape.channels, out);
            }
            first = last;
        }
        Ok(())
    }
}

/// One stored row to OpenCV's gray or BGR (`channels`: 1 only for a gray palette).
fn convert_row(src: &[u8], bpp: usize, palette: &[[u8; 4]; 256], channels: usize, out: &mut [u8]) {
    match bpp {
        24 => out.copy_from_slice(&src[..out.len()]),
        32 => {
            for (o, s) in out.chunks_exact_mut(3).zip(src.chunks_exact(4)) {
                o.copy_from_slice(&s[..3]);
            }
        }
        _ => {
            let per_byte = 8 / bpp;
            let mask = ((1u16 << bpp) - 1) as u8;
            let index = |x: usize| (src[x / per_byte] >> (8 - bpp * (x % per_byte + 1))) & mask;
            for (x, o) in out.chunks_exact_mut(channels).enumerate() {
                o.copy_from_slice(&palette[index(x) as usize][..channels]);
            }
        }
    }
}
