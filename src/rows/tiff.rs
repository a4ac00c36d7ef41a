//! TIFF, one strip or one row of tiles at a time: the `tiff` crate reads the header and decides
//! whether the variant is one reproduced here (BigTIFF too; no compression, LZW, deflate or
//! PackBits; horizontal predictor; planar samples in strips), then libtiff (`csrc/tiff_rows.c`,
//! the library OpenCV's imgcodecs links) decodes the chunks, about twice as fast as the `tiff`
//! crate on OpenCV's LZW strips (docs/BENCHMARKS.md, "TIFF rows").
//!
//! OpenCV reads an 8-bit result through libtiff's RGBA interface; for the variants accepted here
//! that means: 8-bit samples unchanged, 16-bit RGB rounded to 8 bits as `(v + 128) / 257`
//! (libtiff's `Bitdepth16To8`), 16-bit gray cut to its high byte (libtiff's `BWmap[v >> 8]`), RGB
//! to BGR. Falls back (`None`) for anything else: an orientation other than top-left (OpenCV flips),
//! alpha or extra samples, planar tiles, tiles taller than the image, 16-bit gray tiles, min-is-white, palette, YCbCr, JPEG-in-TIFF, other bit depths, signed or
//! float samples, 16-bit single strips so large that OpenCV switches to its scanline reader
//! (which converts 16 bits differently), and files whose chunks libtiff counts otherwise.

use super::reader::{check_request, check_size, RowRange, Shape};
use crate::shim::{message, MSG_LEN};
use anyhow::{anyhow, ensure, Context, Result};
use std::ffi::{c_char, c_int, c_void, CString};
use std::fs::File;
use std::io::BufReader;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use tiff::decoder::{ChunkType, Decoder};
use tiff::tags::Tag;
use tiff::ColorType;

type TiffDecoder = Decoder<BufReader<File>>;

pub(super) fn open(path: &Path, max_pixels: u64) -> Result<Option<Box<dyn RowRange>>> {
    let name = path.display();
    let file = File::open(path).with_context(|| format!("{name}: cannot read"))?;
    let mut decoder =
        Decoder::new(BufReader::new(file)).with_context(|| format!("{name}: cannot decode the TIFF header"))?;
    let (width, height) = decoder.dimensions().with_context(|| format!("{name}: cannot decode the TIFF header"))?;
    let (width, height) = (width as usize, height as usize);
    if !check_size(path, width, height, max_pixels)? {
        return Ok(None);
    }
    let Some(layout) = Layout::of(&mut decoder, width, height)? else {
        return Ok(None);
    };
    drop(decoder);
    let file = LibTiff::open(path).map_err(|e| anyhow!("{name}: cannot open the TIFF: {e}"))?;
    let planes = if layout.planar { layout.samples } else { 1 };
    if file.tiled != layout.tiled || file.chunks != layout.per_plane * planes {
        return Ok(None);
    }
    let channels = if layout.samples == 1 { 1 } else { 3 };
    let shape = Shape { width, height, channels };
    let chunk = Samples::new(layout.chunk_width * layout.chunk_height * layout.samples / planes, layout.sixteen_bits);
    Ok(Some(Box::new(TiffRows {
        path: path.to_owned(),
        file,
        shape,
        layout,
        band: Vec::new(),
        band_index: None,
        chunk,
    })))
}

/// How the pixels are cut into chunks and what their samples are.
struct Layout {
    chunk_width: usize,
    chunk_height: usize,
    /// Chunks side by side in one band of rows (1 for strips).
    across: usize,
    /// Chunks of one sample plane (all of them when samples are interleaved).
    per_plane: usize,
    planar: bool,
    tiled: bool,
    samples: usize,
    sixteen_bits: bool,
}

impl Layout {
    /// The layout when OpenCV's decode of this variant is reproduced exactly, else `None`.
    fn of(decoder: &mut TiffDecoder, width: usize, height: usize) -> Result<Option<Layout>> {
        let tag = |d: &mut TiffDecoder, t: Tag, default: u32| -> Result<u32> {
            Ok(d.find_tag_unsigned::<u32>(t).ok().flatten().unwrap_or(default))
        };
        let (samples, sixteen_bits) = match decoder.colortype() {
            Ok(ColorType::Gray(8)) => (1, false),
            Ok(ColorType::Gray(16)) => (1, true),
            Ok(ColorType::RGB(8)) => (3, false),
            Ok(ColorType::RGB(16)) => (3, true),
            _ => return Ok(None),
        };
        let photometric = tag(decoder, Tag::PhotometricInterpretation, u32::MAX)?;
        let compression = tag(decoder, Tag::Compression, 1)?;
        let accepted = photometric == if samples == 1 { 1 } else { 2 }
            && matches!(compression, 1 | 5 | 8 | 32946 | 32773)
            && matches!(tag(decoder, Tag::Predictor, 1)?, 1 | 2)
            && tag(decoder, Tag::Orientation, 1)? == 1
            && tag(decoder, Tag::SampleFormat, 1)? == 1
            && tag(decoder, Tag::SamplesPerPixel, 1)? as usize == samples
            && decoder.find_tag(Tag::ExtraSamples).ok().flatten().is_none();
        if !accepted {
            return Ok(None);
        }
        let planar = tag(decoder, Tag::PlanarConfiguration, 1)? == 2 && samples > 1;
        let (cw, ch) = decoder.chunk_dimensions();
        let (chunk_width, chunk_height) = (cw as usize, (ch as usize).min(height));
        if chunk_width == 0 || chunk_height == 0 {
            return Ok(None);
        }
        let tiled = decoder.get_chunk_type() == ChunkType::Tile;
        // The `tiff` crate misreads the edge tiles of planar files (LZW "no end code").
        if tiled && planar {
            return Ok(None);
        }
        // A tile taller than the image does not come out as OpenCV's (unverified): leave it to OpenCV.
        // 16-bit gray tiles differ from OpenCV's (not yet understood): leave them to OpenCV too.
        if tiled && (ch as usize > height || (sixteen_bits && samples == 1)) {
            return Ok(None);
        }
        // OpenCV reads a huge single strip scanline by scanline, taking 16-bit samples' high byte.
        let rgba_bytes = chunk_width as u64 * chunk_height as u64 * 4;
        if sixteen_bits && !tiled && chunk_height == height && rgba_bytes >= (1u64 << 30) * 95 / 100 {
            return Ok(None);
        }
        let across = if tiled { width.div_ceil(chunk_width) } else { 1 };
        let per_plane = across * height.div_ceil(chunk_height);
        let count = if tiled { decoder.tile_count() } else { decoder.strip_count() };
        let planes = if planar { samples } else { 1 };
        if count.ok().map(|c| c as usize) != Some(per_plane * planes) {
            return Ok(None);
        }
        Ok(Some(Layout { chunk_width, chunk_height, across, per_plane, planar, tiled, samples, sixteen_bits }))
    }
}

struct TiffRows {
    path: PathBuf,
    file: LibTiff,
    shape: Shape,
    layout: Layout,
    /// The decoded rows of one band of chunks (a strip, or a row of tiles), kept for the next call.
    band: Vec<u8>,
    band_index: Option<usize>,
    /// Room for one decoded chunk, kept for the next.
    chunk: Samples,
}

impl RowRange for TiffRows {
    fn shape(&self) -> Shape {
        self.shape
    }

    fn read_rows(&mut self, start: usize, end: usize, buf: &mut [u8]) -> Result<()> {
        check_request(&self.path, self.shape, start, end, buf)?;
        let row_bytes = self.shape.row_bytes();
        let band_height = self.layout.chunk_height;
        for (y, out) in (start..end).zip(buf.chunks_exact_mut(row_bytes)) {
            let band = y / band_height;
            if self.band_index != Some(band) {
                self.band_index = None;
                self.load_band(band)?;
                self.band_index = Some(band);
            }
            let at = (y - band * band_height) * row_bytes;
            out.copy_from_slice(&self.band[at..at + row_bytes]);
        }
        Ok(())
    }
}

impl TiffRows {
    /// Decodes every chunk of band `band` into `self.band`, as OpenCV's gray or BGR rows.
    fn load_band(&mut self, band: usize) -> Result<()> {
        let Layout { chunk_width, chunk_height, across, per_plane, planar, samples, sixteen_bits, .. } = self.layout;
        let (width, channels) = (self.shape.width, self.shape.channels);
        let top = band * chunk_height;
        let rows = chunk_height.min(self.shape.height - top);
        self.band.resize(rows * width * channels, 0);
        let planes = if planar { samples } else { 1 };
        for column in 0..across {
            let index = band * across + column;
            let left = column * chunk_width;
            let cols = chunk_width.min(width - left);
            for plane in 0..planes {
                let chunk = index + plane * per_plane;
                let bytes = self.file.read(chunk, &mut self.chunk).map_err(|e| {
                    anyhow!(
                        "{}: corrupt TIFF data in chunk {chunk} (rows {top}..{}): {e}",
                        self.path.display(),
                        top + rows
                    )
                })?;
                let values = self.chunk.first(bytes);
                let per_pixel = samples / planes;
                // libtiff hands out a tile at the image's edge whole, padding included (a strip
                // only its rows): keep its data only.
                let stride = if values.len() == chunk_width * chunk_height * per_pixel
                    && (cols, rows) != (chunk_width, chunk_height)
                {
                    chunk_width * per_pixel
                } else {
                    cols * per_pixel
                };
                ensure!(
                    values.len() >= (rows - 1) * stride + cols * per_pixel && values.len().is_multiple_of(stride),
                    "{}: TIFF chunk {chunk} decodes to {} samples, not the {}x{rows}x{per_pixel} expected",
                    self.path.display(),
                    values.len(),
                    cols
                );
                for (i, src) in values.chunks_exact(stride).take(rows).enumerate() {
                    let dst = &mut self.band[(i * width + left) * channels..(i * width + left + cols) * channels];
                    place(src, cols * per_pixel, dst, samples, planar.then_some(plane), sixteen_bits);
                }
            }
        }
        Ok(())
    }
}

#[repr(C)]
struct TrFile {
    _opaque: [u8; 0],
}

extern "C" {
    fn tr_open(
        path: *const c_char,
        out: *mut *mut TrFile,
        tiled: *mut c_int,
        chunks: *mut u32,
        msg: *mut c_char,
        msg_len: usize,
    ) -> c_int;
    fn tr_read(f: *mut TrFile, chunk: u32, buf: *mut c_void, len: usize, msg: *mut c_char, msg_len: usize) -> i64;
    fn tr_close(f: *mut TrFile);
}

/// A file open in libtiff (`csrc/tiff_rows.c`), closed on drop. libtiff decodes each chunk as
/// OpenCV's own reads do: decompressed, predictor undone, 16-bit samples in host byte order.
struct LibTiff {
    handle: *mut TrFile,
    tiled: bool,
    /// Strips or tiles, all planes.
    chunks: usize,
}

// SAFETY: a libtiff handle may move between threads as long as one thread at a time uses it: it
// is only reached through `&mut self` (or dropped), and it has no thread-bound state (its error
// handlers are its own, set at open, writing into the handle's own buffer).
unsafe impl Send for LibTiff {}

impl LibTiff {
    /// Opens `path`; libtiff's message on failure.
    fn open(path: &Path) -> std::result::Result<LibTiff, String> {
        let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| "a NUL byte in the path".to_string())?;
        let mut msg = [0 as c_char; MSG_LEN];
        let (mut handle, mut tiled, mut chunks) = (std::ptr::null_mut(), 0, 0);
        // SAFETY: every pointer is valid for the call; `handle` is closed in Drop.
        let rc = unsafe { tr_open(c_path.as_ptr(), &mut handle, &mut tiled, &mut chunks, msg.as_mut_ptr(), MSG_LEN) };
        if rc != 0 {
            return Err(message(&msg));
        }
        Ok(LibTiff { handle, tiled: tiled != 0, chunks: chunks as usize })
    }

    /// Decodes chunk `chunk` into `into`; the bytes decoded, or libtiff's message.
    fn read(&mut self, chunk: usize, into: &mut Samples) -> std::result::Result<usize, String> {
        let (ptr, len) = into.as_mut_bytes();
        let mut msg = [0 as c_char; MSG_LEN];
        // SAFETY: `ptr` is valid for `len` bytes (any bytes are valid u8 or u16 samples); `handle`
        // is live; `chunk` is below the count libtiff gave (checked by the Layout), and libtiff
        // checks it again.
        let got = unsafe { tr_read(self.handle, chunk as u32, ptr, len, msg.as_mut_ptr(), MSG_LEN) };
        if got < 0 {
            return Err(message(&msg));
        }
        Ok(got as usize)
    }
}

impl Drop for LibTiff {
    fn drop(&mut self) {
        // SAFETY: `handle` came from tr_open and is closed once, here.
        unsafe { tr_close(self.handle) }
    }
}

/// Room for one decoded chunk's samples.
enum Samples {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

impl Samples {
    fn new(count: usize, sixteen_bits: bool) -> Samples {
        if sixteen_bits {
            Samples::U16(vec![0; count])
        } else {
            Samples::U8(vec![0; count])
        }
    }

    /// The buffer as bytes, for libtiff to fill.
    fn as_mut_bytes(&mut self) -> (*mut c_void, usize) {
        match self {
            Samples::U8(v) => (v.as_mut_ptr().cast(), v.len()),
            Samples::U16(v) => (v.as_mut_ptr().cast(), v.len() * 2),
        }
    }

    /// The samples in the first `bytes` bytes.
    fn first(&self, bytes: usize) -> SampleSlice<'_> {
        match self {
            Samples::U8(v) => SampleSlice::U8(&v[..bytes.min(v.len())]),
            Samples::U16(v) => SampleSlice::U16(&v[..(bytes / 2).min(v.len())]),
        }
    }
}

enum SampleSlice<'a> {
    U8(&'a [u8]),
    U16(&'a [u16]),
}

impl<'a> SampleSlice<'a> {
    fn len(&self) -> usize {
        match self {
            SampleSlice::U8(s) => s.len(),
            SampleSlice::U16(s) => s.len(),
        }
    }

    fn chunks_exact(&self, n: usize) -> Box<dyn Iterator<Item = SampleSlice<'a>> + 'a> {
        match *self {
            SampleSlice::U8(v) => Box::new(v.chunks_exact(n).map(SampleSlice::U8)),
            SampleSlice::U16(v) => Box::new(v.chunks_exact(n).map(SampleSlice::U16)),
        }
    }
}

/// Writes one row of a chunk's samples into the output row `dst` (gray or BGR): all samples of
/// each pixel when interleaved, or the one `plane` (0 = red) of a planar file.
fn place(src: SampleSlice<'_>, len: usize, dst: &mut [u8], samples: usize, plane: Option<usize>, sixteen_bits: bool) {
    let gray = samples == 1;
    let to8 = |v: u16| -> u8 {
        if gray {
            (v >> 8) as u8
        } else {
            ((v as u32 + 128) / 257) as u8
        }
    };
    debug_assert!(src.len() >= len);
    let value = |i: usize| -> u8 {
        match &src {
            SampleSlice::U8(s) => s[i],
            SampleSlice::U16(s) => to8(s[i]),
        }
    };
    debug_assert!(sixteen_bits == matches!(src, SampleSlice::U16(_)));
    match (gray, plane) {
        (true, _) => dst.iter_mut().enumerate().for_each(|(i, d)| *d = value(i)),
        (false, None) => {
            for (x, d) in dst.chunks_exact_mut(3).enumerate() {
                d.copy_from_slice(&[value(3 * x + 2), value(3 * x + 1), value(3 * x)]);
            }
        }
        (false, Some(p)) => {
            for (x, d) in dst.chunks_exact_mut(3).enumerate() {
                d[2 - p] = value(x);
            }
        }
    }
}
