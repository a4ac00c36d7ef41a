//! TIFF, one strip or one row of tiles at a time through the `tiff` crate (BigTIFF too; no
//! compression, LZW, deflate or PackBits; horizontal predictor; planar samples in strips).
//!
//! OpenCV reads an 8-bit result through libtiff's RGBA interface; for the variants accepted here
//! that means: 8-bit samples unchanged, 16-bit RGB rounded to 8 bits as `(v + 128) / 257`
//! (libtiff's `Bitdepth16To8`), 16-bit gray cut to its high byte (libtiff's `BWmap[v >> 8]`), RGB
//! to BGR. Falls back (`None`) for anything else: an orientation other than top-left (OpenCV flips),
//! alpha or extra samples, planar tiles, tiles taller than the image, 16-bit gray tiles, min-is-white, palette, YCbCr, JPEG-in-TIFF, other bit depths, signed or
//! float samples, and 16-bit single strips so large that OpenCV switches to its scanline reader
//! (which converts 16 bits differently).

use super::{check_request, check_size, RowRange, Shape};
use anyhow::{bail, ensure, Context, Result};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use tiff::decoder::{ChunkType, Decoder, DecodingResult, Limits};
use tiff::tags::Tag;
use tiff::ColorType;

type TiffDecoder = Decoder<BufReader<File>>;

pub(super) fn open(path: &Path, max_pixels: u64) -> Result<Option<Box<dyn RowRange>>> {
    let name = path.display();
    let file = File::open(path).with_context(|| format!("{name}: cannot read"))?;
    let mut limits = Limits::default();
    // One chunk is decoded at a time, and its size follows from the header already checked.
    limits.decoding_buffer_size = usize::MAX;
    limits.intermediate_buffer_size = usize::MAX;
    let mut decoder = Decoder::new(BufReader::new(file))
        .with_context(|| format!("{name}: cannot decode the TIFF header"))?
        .with_limits(limits);
    let (width, height) = decoder.dimensions().with_context(|| format!("{name}: cannot decode the TIFF header"))?;
    let (width, height) = (width as usize, height as usize);
    if !check_size(path, width, height, max_pixels)? {
        return Ok(None);
    }
    let Some(layout) = Layout::of(&mut decoder, width, height)? else {
        return Ok(None);
    };
    let channels = if layout.samples == 1 { 1 } else { 3 };
    let shape = Shape { width, height, channels };
    Ok(Some(Box::new(TiffRows { path: path.to_owned(), decoder, shape, layout, band: Vec::new(), band_index: None })))
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
        Ok(Some(Layout { chunk_width, chunk_height, across, per_plane, planar, samples, sixteen_bits }))
    }
}

struct TiffRows {
    path: PathBuf,
    decoder: TiffDecoder,
    shape: Shape,
    layout: Layout,
    /// The decoded rows of one band of chunks (a strip, or a row of tiles), kept for the next call.
    band: Vec<u8>,
    band_index: Option<usize>,
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
        let Layout { chunk_width, chunk_height, across, per_plane, planar, samples, sixteen_bits } = self.layout;
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
                let values = self.read_chunk(chunk, top, rows)?;
                let per_pixel = samples / planes;
                // A tile at the image's edge may come whole, padding included (the `tiff` crate
                // does so for the second and later planes of a planar file): keep its data only.
                let stride = if values.len() == chunk_width * chunk_height * per_pixel
                    && (cols, rows) != (chunk_width, chunk_height)
                {
                    chunk_width * per_pixel
                } else {
                    cols * per_pixel
                };
                ensure!(
                    values.len() >= (rows - 1) * stride + cols * per_pixel && values.len() % stride == 0,
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

    fn read_chunk(&mut self, chunk: usize, top: usize, rows: usize) -> Result<Samples> {
        let decoded = self.decoder.read_chunk(chunk as u32).with_context(|| {
            format!("{}: corrupt TIFF data in chunk {chunk} (rows {top}..{})", self.path.display(), top + rows)
        })?;
        match decoded {
            DecodingResult::U8(v) => Ok(Samples::U8(v)),
            DecodingResult::U16(v) => Ok(Samples::U16(v)),
            _ => bail!("{}: TIFF chunk {chunk} has samples of an unexpected type", self.path.display()),
        }
    }
}

enum Samples {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

impl Samples {
    fn len(&self) -> usize {
        match self {
            Samples::U8(v) => v.len(),
            Samples::U16(v) => v.len(),
        }
    }

    fn chunks_exact(&self, n: usize) -> Box<dyn Iterator<Item = SampleRow<'_>> + '_> {
        match self {
            Samples::U8(v) => Box::new(v.chunks_exact(n).map(SampleRow::U8)),
            Samples::U16(v) => Box::new(v.chunks_exact(n).map(SampleRow::U16)),
        }
    }
}

enum SampleRow<'a> {
    U8(&'a [u8]),
    U16(&'a [u16]),
}

impl SampleRow<'_> {
    fn len(&self) -> usize {
        match self {
            SampleRow::U8(s) => s.len(),
            SampleRow::U16(s) => s.len(),
        }
    }
}

/// Writes one row of a chunk's samples into the output row `dst` (gray or BGR): all samples of
/// each pixel when interleaved, or the one `plane` (0 = red) of a planar file.
fn place(src: SampleRow<'_>, len: usize, dst: &mut [u8], samples: usize, plane: Option<usize>, sixteen_bits: bool) {
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
            SampleRow::U8(s) => s[i],
            SampleRow::U16(s) => to8(s[i]),
        }
    };
    debug_assert!(sixteen_bits == matches!(src, SampleRow::U16(_)));
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
