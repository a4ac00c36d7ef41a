//! Binary PGM (P5) and PPM (P6), any rows read at their offsets.
//!
//! As OpenCV's reader: 8-bit samples copied as they are (no scaling by a maxval below 255), 16-bit
//! samples (maxval over 255) cut to their high byte, RGB to BGR. The ASCII and bitmap variants
//! (P1 to P4) fall back (`None`).

use super::reader::{check_request, check_size, RowRange, Shape};
use anyhow::{Context, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub(super) fn open(path: &Path, max_pixels: u64) -> Result<Option<Box<dyn RowRange>>> {
    let name = path.display();
    let file = File::open(path).with_context(|| format!("{name}: cannot read"))?;
    let mut head = vec![0u8; 4096];
    let mut len = 0;
    while len < head.len() {
        match file.read_at(&mut head[len..], len as u64).with_context(|| format!("{name}: cannot read"))? {
            0 => break,
            n => len += n,
        }
    }
    let Some(header) = Header::parse(&head[..len]) else {
        return Ok(None);
    };
    if !check_size(path, header.width, header.height, max_pixels)? || !(1..=65535).contains(&header.maxval) {
        return Ok(None);
    }
    let channels = if header.color { 3 } else { 1 };
    let bytes_per_sample = if header.maxval > 255 { 2 } else { 1 };
    let shape = Shape { width: header.width, height: header.height, channels };
    Ok(Some(Box::new(PnmRows {
        path: path.to_owned(),
        file,
        shape,
        offset: header.offset as u64,
        bytes_per_sample,
        scratch: Vec::new(),
    })))
}

struct Header {
    color: bool,
    width: usize,
    height: usize,
    maxval: usize,
    /// Where the samples start: right after the one character that ends the maxval.
    offset: usize,
}

impl Header {
    /// Parses as OpenCV's `ReadNumber` does: whitespace and `#` comments before each number, the
    /// number ends at the first non-digit, which is consumed. `None`: not a header read here.
    fn parse(head: &[u8]) -> Option<Header> {
        let color = match head.get(..2)? {
            b"P5" => false,
            b"P6" => true,
            _ => return None,
        };
        let mut at = 2;
        let mut number = || -> Option<usize> {
            loop {
                let c = *head.get(at)?;
                if c.is_ascii_digit() {
                    break;
                }
                at += 1;
                if c == b'#' {
                    while !matches!(head.get(at)?, b'\n' | b'\r') {
                        at += 1;
                    }
                    at += 1;
                } else if !c.is_ascii_whitespace() && c != 0x0b {
                    return None;
                }
            }
            let mut value: usize = 0;
            while let Some(c) = head.get(at).filter(|c| c.is_ascii_digit()) {
                value = value.checked_mul(10)?.checked_add((c - b'0') as usize)?;
                if value > i32::MAX as usize {
                    return None;
                }
                at += 1;
            }
            // The character after the digits is consumed.
            at += 1;
            Some(value)
        };
        let width = number()?;
        let height = number()?;
        let maxval = number()?;
        Some(Header { color, width, height, maxval, offset: at })
    }
}

struct PnmRows {
    path: PathBuf,
    file: File,
    shape: Shape,
    offset: u64,
    bytes_per_sample: usize,
    scratch: Vec<u8>,
}

impl RowRange for PnmRows {
    fn shape(&self) -> Shape {
        self.shape
    }

    fn read_rows(&mut self, start: usize, end: usize, buf: &mut [u8]) -> Result<()> {
        check_request(&self.path, self.shape, start, end, buf)?;
        let row_bytes = self.shape.row_bytes();
        let stored = row_bytes * self.bytes_per_sample;
        let block = ((1 << 20) / stored.max(1)).max(1);
        let mut first = start;
        while first < end {
            let last = (first + block).min(end);
            self.scratch.resize((last - first) * stored, 0);
            self.file
                .read_exact_at(&mut self.scratch, self.offset + (first * stored) as u64)
                .with_context(|| format!("{}: PNM data cut short in rows {first}..{last}", self.path.display()))?;
            let out = &mut buf[(first - start) * row_bytes..(last - start) * row_bytes];
            // Big-endian 16-bit samples: their high byte comes first.
            let bps = self.bytes_per_sample;
            if self.shape.channels == 1 {
                out.iter_mut().zip(self.scratch.chunks_exact(bps)).for_each(|(o, s)| *o = s[0]);
            } else {
                for (o, s) in out.chunks_exact_mut(3).zip(self.scratch.chunks_exact(3 * bps)) {
                    o.copy_from_slice(&[s[2 * bps], s[bps], s[0]]);
                }
            }
            first = last;
        }
        Ok(())
    }
}
