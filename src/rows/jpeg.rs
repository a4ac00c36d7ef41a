//! JPEG, a few scanlines at a time through the system libjpeg (`csrc/jpeg_rows.c`), set up as
//! OpenCV's own JPEG decoder sets it up, so the rows are OpenCV's rows.
//!
//! JPEG has no random access (a baseline file without restart markers is one entropy-coded
//! stream), so it is streamed: rank 0 decodes while the first strips are already being filtered.
//! The file is read in blocks as libjpeg asks, not held. Falls back (`None`) for what is not reproduced here: CMYK/YCCK, Motion-JPEG
//! frames without Huffman tables (OpenCV inserts its own), an EXIF orientation other than
//! top-left (OpenCV turns the image), a truncated file (refused by the whole decode with its own
//! message) and headers libjpeg rejects (the whole decode gives OpenCV's error). A progressive
//! file streams too, but libjpeg reads all its scans at start (its coefficients are held whole).

use super::reader::{check_size, RowStream, Shape};
use crate::shim::{message, MSG_LEN};
use anyhow::{bail, Context, Result};
use std::ffi::{c_char, c_int, c_long, c_uint, CString};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[repr(C)]
struct JrState {
    _opaque: [u8; 0],
}

#[repr(C)]
struct JrInfo {
    width: c_uint,
    height: c_uint,
    components: c_int,
    has_huffman_tables: c_int,
    app1: *const u8,
    app1_len: usize,
}

extern "C" {
    fn jr_open(
        path: *const c_char,
        out: *mut *mut JrState,
        info: *mut JrInfo,
        msg: *mut c_char,
        msg_len: usize,
    ) -> c_int;
    fn jr_start(s: *mut JrState, color: c_int, msg: *mut c_char, msg_len: usize) -> c_int;
    fn jr_read(s: *mut JrState, buf: *mut u8, rows: usize, stride: usize, msg: *mut c_char, msg_len: usize) -> c_long;
    fn jr_finish(s: *mut JrState, msg: *mut c_char, msg_len: usize) -> c_int;
    fn jr_close(s: *mut JrState);
}

pub(super) fn open(path: &Path, max_pixels: u64) -> Result<Option<Box<dyn RowStream>>> {
    if !ends_with_eoi(path)? {
        return Ok(None);
    }
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return Ok(None);
    };
    let mut msg = [0 as c_char; MSG_LEN];
    let mut state = std::ptr::null_mut();
    let mut info =
        JrInfo { width: 0, height: 0, components: 0, has_huffman_tables: 0, app1: std::ptr::null(), app1_len: 0 };
    // SAFETY: `c_path`, `info` and `msg` are valid for the call; `state` is closed in Drop.
    if unsafe { jr_open(c_path.as_ptr(), &mut state, &mut info, msg.as_mut_ptr(), MSG_LEN) } != 0 {
        return Ok(None);
    }
    let mut decoder = JpegRows {
        path: path.to_owned(),
        state,
        shape: Shape { width: info.width as usize, height: info.height as usize, channels: 1 },
        next: 0,
    };
    let app1 = if info.app1.is_null() {
        &[][..]
    } else {
        // SAFETY: libjpeg keeps saved markers until the decompressor is destroyed (in Drop).
        unsafe { std::slice::from_raw_parts(info.app1, info.app1_len) }
    };
    let upright = exif_is_upright(app1);
    let (width, height) = (decoder.shape.width, decoder.shape.height);
    if !check_size(path, width, height, max_pixels)?
        || !matches!(info.components, 1 | 3)
        || info.has_huffman_tables == 0
        || !upright
    {
        return Ok(None);
    }
    // As OpenCV with IMREAD_ANYCOLOR: one component stays gray, three become BGR.
    let color = info.components == 3;
    decoder.shape.channels = if color { 3 } else { 1 };
    // SAFETY: `state` is live (closed only in Drop).
    if unsafe { jr_start(decoder.state, c_int::from(color), msg.as_mut_ptr(), MSG_LEN) } != 0 {
        return Ok(None);
    }
    Ok(Some(Box::new(decoder)))
}

struct JpegRows {
    path: PathBuf,
    state: *mut JrState,
    shape: Shape,
    next: usize,
}

// SAFETY: the decompressor is used by one thread at a time (`&mut self`) and owns no thread-bound
// resource; libjpeg keeps no global state.
unsafe impl Send for JpegRows {}

impl Drop for JpegRows {
    fn drop(&mut self) {
        // SAFETY: `state` came from jr_open and is closed once, here.
        unsafe { jr_close(self.state) }
    }
}

impl RowStream for JpegRows {
    fn shape(&self) -> Shape {
        self.shape
    }

    /// Decoding is about half of a light chain's one-process time and a quarter of bilateral's;
    /// a half balances the common chains best (docs/BENCHMARKS.md, "Rank 0's share").
    fn decode_share(&self) -> f64 {
        0.5
    }

    fn next_rows(&mut self, buf: &mut [u8]) -> Result<()> {
        let name = self.path.display();
        let row_bytes = self.shape.row_bytes();
        let rows = buf.len() / row_bytes;
        if !buf.len().is_multiple_of(row_bytes) || self.next + rows > self.shape.height {
            bail!(
                "{name}: {} bytes asked after row {} of {} rows of {row_bytes} bytes",
                buf.len(),
                self.next,
                self.shape.height
            );
        }
        let mut msg = [0 as c_char; MSG_LEN];
        // SAFETY: `buf` holds `rows` rows of `row_bytes`; `state` is live.
        let got = unsafe { jr_read(self.state, buf.as_mut_ptr(), rows, row_bytes, msg.as_mut_ptr(), MSG_LEN) };
        if got < 0 {
            bail!("{name}: corrupt JPEG data at row {}: {}", self.next, message(&msg));
        }
        if (got as usize) < rows {
            // OpenCV would leave these rows undecoded (whatever the buffer held): refuse rather than guess.
            bail!("{name}: JPEG data ends at row {} of {}", self.next + got as usize, self.shape.height);
        }
        self.next += rows;
        if self.next == self.shape.height && rows > 0 {
            // SAFETY: `state` is live and every row has been read.
            if unsafe { jr_finish(self.state, msg.as_mut_ptr(), MSG_LEN) } != 0 {
                bail!("{name}: corrupt JPEG after the image data: {}", message(&msg));
            }
        }
        Ok(())
    }
}

/// Whether the file ends with JPEG's end-of-image marker (after any padding), read from its last
/// block only: `codec::decode` refuses a file without it as truncated. `false` (fall back, and
/// let the whole decode judge) also when the last block is all padding.
fn ends_with_eoi(path: &Path) -> Result<bool> {
    const TAIL: u64 = 64 * 1024;
    let name = path.display();
    let mut file = std::fs::File::open(path).with_context(|| format!("{name}: cannot read"))?;
    let len = file.metadata().with_context(|| format!("{name}: cannot read"))?.len();
    let from = len.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(from)).with_context(|| format!("{name}: cannot read"))?;
    let mut tail = Vec::with_capacity((len - from) as usize);
    file.read_to_end(&mut tail).with_context(|| format!("{name}: cannot read"))?;
    let padded = tail.iter().all(|&b| b == 0 || b.is_ascii_whitespace());
    Ok(!(padded && from > 0) && crate::codec::jpeg_is_complete(&tail))
}

/// Whether OpenCV would leave the image as decoded, given the first APP1 marker's payload (empty
/// when there is none). OpenCV reads an EXIF orientation from that marker (TIFF data at offset 6)
/// and turns the image unless it is 1 (top-left). Anything not clearly upright answers `false`,
/// so the caller falls back to the whole decode, which applies OpenCV's handling itself.
fn exif_is_upright(app1: &[u8]) -> bool {
    let Some(tiff) = app1.get(6..) else {
        return true; // too short for OpenCV to parse anything
    };
    let big = match tiff.get(..2) {
        Some(b"II") => false,
        Some(b"MM") => true,
        // Not TIFF data (XMP, say): OpenCV finds no orientation, unless it claims to be EXIF.
        _ => return !app1.starts_with(b"Exif"),
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at + 2)?.try_into().ok()?;
        Some(if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(at..at + 4)?.try_into().ok()?;
        Some(if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    };
    let orientation = || -> Option<Option<u16>> {
        if u16_at(2)? != 42 {
            return None;
        }
        let ifd = u32_at(4)? as usize;
        let count = u16_at(ifd)? as usize;
        for i in 0..count {
            let entry = ifd + 2 + i * 12;
            if u16_at(entry)? == 0x0112 {
                return Some(Some(u16_at(entry + 8)?));
            }
        }
        Some(None)
    };
    matches!(orientation(), Some(None) | Some(Some(1)))
}

#[cfg(test)]
mod exif_tests {
    use super::exif_is_upright;

    /// An APP1 payload with one IFD0 entry: the orientation `value`, little- or big-endian.
    fn app1(big: bool, value: u16) -> Vec<u8> {
        let w16 = |v: u16| if big { v.to_be_bytes() } else { v.to_le_bytes() };
        let w32 = |v: u32| if big { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut tiff = Vec::new();
        tiff.extend_from_slice(if big { b"MM" } else { b"II" });
        tiff.extend_from_slice(&w16(42));
        tiff.extend_from_slice(&w32(8));
        tiff.extend_from_slice(&w16(1));
        tiff.extend_from_slice(&w16(0x0112));
        tiff.extend_from_slice(&w16(3));
        tiff.extend_from_slice(&w32(1));
        tiff.extend_from_slice(&w16(value));
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        let mut out = b"Exif\0\0".to_vec();
        out.extend(tiff);
        out
    }

    #[test]
    fn only_top_left_or_no_orientation_is_upright() {
        for big in [false, true] {
            assert!(exif_is_upright(&app1(big, 1)));
            for turned in 2..=8 {
                assert!(!exif_is_upright(&app1(big, turned)), "orientation {turned} (big-endian {big})");
            }
        }
        assert!(exif_is_upright(b""));
        assert!(exif_is_upright(b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>"));
        // EXIF that cannot be read to the end: not known to be upright.
        let mut cut = app1(false, 1);
        cut.truncate(14);
        assert!(!exif_is_upright(&cut));
        assert!(!exif_is_upright(b"Exif\0\0XX"));
    }
}
