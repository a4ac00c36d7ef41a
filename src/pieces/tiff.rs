//! TIFF in pieces: every piece is whole strips of [`ROWS_PER_STRIP`] rows, each strip RGB (or
//! gray) compressed by libtiff itself (`csrc/tiff_rows.c`) as LZW with the horizontal predictor;
//! the joiner appends the strips, remembers where each landed, and on finish writes the IFD at the
//! end and points the header at it. Classic TIFF while the file fits in 4 GB, BigTIFF beyond
//! (decided from the raw size up front, since the header's layout depends on it).
//!
//! LZW with the predictor is what OpenCV 4.6 writes, every TIFF reader has it, and libtiff's
//! own LZW is both faster than deflate here and within 5% of OpenCV's file size, as pieces must
//! be (docs/BENCHMARKS.md, "TIFF pieces").

use super::format::{row_as_rgb, PieceDetail};
use crate::image::Image;
use crate::shim::{message, MSG_LEN};
use anyhow::{anyhow, ensure, Context, Result};
use std::ffi::{c_char, c_int, c_void};
use std::io::{Seek, SeekFrom, Write};

/// Rows in each strip (and so the alignment of pieces).
pub(super) const ROWS_PER_STRIP: usize = super::format::TIFF_ROWS_PER_STRIP;

/// Compresses `rows` strip by strip.
pub(super) fn encode(rows: &Image) -> Result<(PieceDetail, Vec<u8>)> {
    let rb = rows.row_bytes();
    let mut piece = LzwStrips::new(rows)?;
    let mut out = Vec::with_capacity(rows.byte_len() / 2);
    let mut strip_lens = Vec::with_capacity(rows.height.div_ceil(ROWS_PER_STRIP));
    let mut strip = vec![0u8; rb * ROWS_PER_STRIP.min(rows.height)];
    for (index, first) in (0..rows.height).step_by(ROWS_PER_STRIP).enumerate() {
        let end = (first + ROWS_PER_STRIP).min(rows.height);
        let strip = &mut strip[..(end - first) * rb];
        for (y, line) in (first..end).zip(strip.chunks_exact_mut(rb)) {
            row_as_rgb(rows.rows(y, y + 1), rows.channels, line);
        }
        let bytes = piece.compress(index, strip)?;
        out.extend_from_slice(bytes);
        strip_lens.push(bytes.len() as u64);
    }
    Ok((PieceDetail::Tiff { strip_lens }, out))
}

#[repr(C)]
struct TwPiece {
    _opaque: [u8; 0],
}

extern "C" {
    fn tw_open(
        width: u32,
        height: u32,
        spp: c_int,
        rows_per_strip: u32,
        reserve: usize,
        out: *mut *mut TwPiece,
        msg: *mut c_char,
        msg_len: usize,
    ) -> c_int;
    fn tw_write(p: *mut TwPiece, strip: u32, rows: *mut c_void, len: usize, msg: *mut c_char, msg_len: usize) -> c_int;
    fn tw_strip(
        p: *mut TwPiece,
        strip: u32,
        at: *mut *const u8,
        len: *mut usize,
        msg: *mut c_char,
        msg_len: usize,
    ) -> c_int;
    fn tw_close(p: *mut TwPiece);
}

/// A piece's rows as an in-memory TIFF that libtiff compresses strip by strip; freed on drop.
struct LzwStrips {
    handle: *mut TwPiece,
}

impl LzwStrips {
    fn new(rows: &Image) -> Result<LzwStrips> {
        ensure!(
            rows.width <= u32::MAX as usize && rows.height <= u32::MAX as usize,
            "TIFF holds at most 2^32-1 rows and columns"
        );
        let mut msg = [0 as c_char; MSG_LEN];
        let mut handle = std::ptr::null_mut();
        // SAFETY: `handle` and `msg` are valid for the call; `handle` is closed in Drop.
        let rc = unsafe {
            tw_open(
                rows.width as u32,
                rows.height as u32,
                rows.channels as c_int,
                ROWS_PER_STRIP as u32,
                rows.byte_len() / 2 + 4096,
                &mut handle,
                msg.as_mut_ptr(),
                MSG_LEN,
            )
        };
        ensure!(rc == 0, "libtiff cannot start the TIFF piece: {}", message(&msg));
        Ok(LzwStrips { handle })
    }

    /// Compresses strip `index` from its RGB or gray rows; its bytes.
    fn compress(&mut self, index: usize, rows: &mut [u8]) -> Result<&[u8]> {
        let mut msg = [0 as c_char; MSG_LEN];
        let strip = index as u32;
        // SAFETY: `rows` is valid for its length (libtiff reads it, compressing a copy); the
        // handle is live.
        let rc =
            unsafe { tw_write(self.handle, strip, rows.as_mut_ptr().cast(), rows.len(), msg.as_mut_ptr(), MSG_LEN) };
        ensure!(rc == 0, "libtiff cannot compress TIFF strip {index}: {}", message(&msg));
        let (mut at, mut len) = (std::ptr::null(), 0);
        // SAFETY: as above; `at` and `len` are valid for the call.
        let rc = unsafe { tw_strip(self.handle, strip, &mut at, &mut len, msg.as_mut_ptr(), MSG_LEN) };
        if rc != 0 {
            return Err(anyhow!("libtiff cannot find TIFF strip {index}: {}", message(&msg)));
        }
        // SAFETY: the C side checked that `len` bytes from `at` lie within its buffer, which stays
        // unchanged until the next call through `&mut self` (the borrow returned ties to it).
        Ok(unsafe { std::slice::from_raw_parts(at, len) })
    }
}

impl Drop for LzwStrips {
    fn drop(&mut self) {
        // SAFETY: `handle` came from tw_open and is closed once, here.
        unsafe { tw_close(self.handle) }
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

/// Whether a file of `raw` pixel bytes in `strips` strips needs BigTIFF: its strips and directory
/// must stay within what 32-bit offsets reach, however badly the pixels compress. LZW writes at
/// most 12 bits for each byte it reads (every code but clear and end covers at least one byte,
/// and codes are 9 to 12 bits), so data grows by at most 1/2; the clear codes libtiff adds when
/// its table fills (every ~3800 codes) or compression worsens (at most every 10000 bytes) by less
/// than 1/512 more. Per strip come its first clear and end codes and padding (4 bytes) and its
/// offset and length in the directory (8 bytes): 16 bytes are plenty, and count for narrow
/// images; 1 MB for the rest of the directory and the header.
fn needs_bigtiff(raw: u64, strips: u64) -> bool {
    raw + raw / 2 + raw / 512 + strips * 16 + (1 << 20) >= u32::MAX as u64
}

impl Joiner {
    pub fn new(out: &mut impl Write, width: usize, height: usize, channels: usize, force_big: bool) -> Result<Joiner> {
        ensure!(
            width <= u32::MAX as usize && height <= u32::MAX as usize,
            "TIFF holds at most 2^32-1 rows and columns"
        );
        let strips = height.div_ceil(ROWS_PER_STRIP) as u64;
        let big = force_big || needs_bigtiff((width * height * channels) as u64, strips);
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
            Entry::new(259, SHORT, &[5]), // LZW
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

    use crate::pieces::{split_rows, write_in_pieces, PieceFormat};
    use ::tiff::decoder::Decoder;
    use ::tiff::tags::Tag;

    /// Noise: bytes LZW cannot shrink.
    fn noise(width: usize, height: usize, channels: usize) -> Image {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let data = (0..width * height * channels)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        Image::from_vec(width, height, channels, data).unwrap()
    }

    #[test]
    fn bigtiff_is_chosen_only_when_incompressible_strips_could_pass_4_gb() {
        let strips = |height: u64| height.div_ceil(ROWS_PER_STRIP as u64);
        assert!(!needs_bigtiff(7680 * 4320 * 3, strips(4320)));
        assert!(!needs_bigtiff(2_800_000_000, strips(100_000)));
        assert!(needs_bigtiff(2_900_000_000, strips(100_000)));
        // A one-pixel-wide column: the per-strip overhead decides.
        assert!(needs_bigtiff(2_000_000_000, strips(2_000_000_000)));
    }

    /// The margin of [`needs_bigtiff`] holds for the worst input, noise, at sizes whose last strip
    /// is short: the strips stay under 3/2 of the raw bytes plus 16 per strip.
    #[test]
    fn lzw_grows_noise_by_less_than_the_bigtiff_margin() {
        for (w, h, channels) in [(1, 1, 1), (17, 33, 3), (333, 257, 3), (4000, 40, 1)] {
            let img = noise(w, h, channels);
            let (detail, bytes) = encode(&img).unwrap();
            let PieceDetail::Tiff { strip_lens } = detail else { panic!("a TIFF piece") };
            let raw = img.byte_len() as u64;
            let bound = raw + raw / 2 + raw / 512 + strip_lens.len() as u64 * 16;
            assert!((bytes.len() as u64) < bound, "{w}x{h}x{channels}: {} bytes from {raw}", bytes.len());
            assert!(bytes.len() as u64 > raw, "{w}x{h}x{channels}: noise did not grow, is it noise?");
        }
    }

    /// Pieces of every size (a last strip of 1 to 15 rows included), gray and colour, joined, are
    /// the image again when libtiff reads them back (OpenCV's decode) and when the row reader does.
    #[test]
    fn strips_decode_to_the_exact_rows_for_gray_and_colour_at_odd_sizes() {
        let dir = tempfile::tempdir().unwrap();
        for (w, h) in [(1, 1), (17, 33), (333, 257), (40, 31), (5, 16)] {
            for channels in [1, 3] {
                let img = crate::synth::picture(w, h, channels, (w + h) as u64);
                for n in [1, 3] {
                    let path = dir.path().join(format!("{w}x{h}x{channels}-{n}.tif"));
                    write_in_pieces(&path, PieceFormat::Tiff, &img, n).unwrap();
                    let decoded = crate::codec::read_image(&path, u64::MAX).unwrap();
                    assert!(decoded == img, "{}: OpenCV decodes other pixels", path.display());
                    let mut rows = crate::rows::open_range(&path, u64::MAX).unwrap().expect("read by rows");
                    let mut got = vec![0u8; img.byte_len()];
                    rows.read_rows(0, h, &mut got).unwrap();
                    assert!(got == img.data, "{}: the row reader decodes other pixels", path.display());
                }
            }
        }
    }

    /// The joined file's directory says LZW with the horizontal predictor, and strips of 16 rows.
    #[test]
    fn the_joined_file_says_lzw_with_the_horizontal_predictor() {
        let dir = tempfile::tempdir().unwrap();
        let img = crate::synth::picture(45, 37, 3, 2);
        let path = dir.path().join("lzw.tif");
        let mut asm = crate::pieces::Assembler::new(&path, PieceFormat::Tiff, 45, 37, 3).unwrap();
        for (start, end) in split_rows(37, 2, PieceFormat::Tiff.row_align()) {
            let piece = crate::pieces::encode_piece(PieceFormat::Tiff, &img.crop_rows(start, end), start, 37).unwrap();
            asm.add(&piece.meta, &piece.bytes).unwrap();
        }
        asm.finish().unwrap();
        let mut decoder = Decoder::new(std::fs::File::open(&path).unwrap()).unwrap();
        let mut tag = |t: Tag| decoder.get_tag_u32(t).unwrap();
        assert_eq!(tag(Tag::Compression), 5, "LZW");
        assert_eq!(tag(Tag::Predictor), 2, "horizontal differencing");
        assert_eq!(tag(Tag::RowsPerStrip), ROWS_PER_STRIP as u32);
    }
}
