//! Encoding one image as pieces made independently (on different ranks) and joined in row order
//! into one valid file, never assembled as pixels on one rank.
//!
//! Each format module owns both halves of its format: `encode` (what a rank does with its rows)
//! and a `Joiner` (what rank 0 writes around and between the pieces). This module owns what they
//! share: the format names, the metadata a piece travels with, and the checks that pieces arrive
//! complete and in order. It does no MPI and no pixel processing (ops), and it does not decide
//! which rank gets which rows beyond [`PieceFormat::row_align`].
//!
//! Codec work is done by libraries (zlib, libtiff, OpenCV's libjpeg); only the joining is written
//! here.

mod bmp;
mod deflate;
mod format;
mod jpeg;
mod png;
mod pnm;
mod tiff;

pub use format::{PieceDetail, PieceFormat, PieceMeta};

use crate::image::Image;
use anyhow::{bail, ensure, Context, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Encoded rows and their metadata.
pub struct Piece {
    pub meta: PieceMeta,
    pub bytes: Vec<u8>,
}

/// Rows of input a part of a rank's piece holds, at most (see [`encode_in_parts`]).
pub const PART_BYTES: usize = 4 << 20;

/// Encodes a rank's rows as consecutive pieces of about `part_bytes` of pixels each (aligned for
/// `format`), so neither the rank nor rank 0 holds its whole piece and its rows at once: parts are
/// made from the last rows up, and the rows a part was made from are given back before the next
/// (the buffer shrinks from its end). Joined in order, the parts are the file that one piece of
/// these rows would have made a part of.
pub fn encode_in_parts(
    format: PieceFormat,
    mut rows: Image,
    start: usize,
    height: usize,
    part_bytes: usize,
) -> Result<Vec<Piece>> {
    let align = format.row_align();
    let per_part = ((part_bytes / rows.row_bytes().max(1)) / align * align).max(align);
    let rb = rows.row_bytes();
    let mut cuts: Vec<usize> = (0..rows.height).step_by(per_part).collect();
    let mut parts = Vec::with_capacity(cuts.len());
    let mut end = rows.height;
    while let Some(a) = cuts.pop() {
        let tail = Image::from_vec(rows.width, end - a, rows.channels, rows.data[a * rb..end * rb].to_vec())?;
        rows.data.truncate(a * rb);
        rows.data.shrink_to_fit();
        parts.push(encode_piece(format, &tail, start + a, height)?);
        end = a;
    }
    parts.reverse();
    Ok(parts)
}

/// Encodes rows [start, start + rows.height) of an image of `height` rows in total and width
/// rows.width. `rows` is BGR or gray as Image. Pieces encoded independently (on different
/// processes) and joined in row order give one file.
pub fn encode_piece(format: PieceFormat, rows: &Image, start: usize, height: usize) -> Result<Piece> {
    let end = start + rows.height;
    let what = || format!("encoding rows {start}..{end} of {height} as a {} piece", format.name());
    check_shape(rows.width, height, rows.channels).with_context(what)?;
    ensure!(end <= height, "{}: past the image's {height} rows", what());
    let align = format.row_align();
    if rows.height > 0 {
        ensure!(start.is_multiple_of(align), "{}: must start on a multiple of {align} rows", what());
        ensure!(end == height || end.is_multiple_of(align), "{}: must end on a multiple of {align} rows", what());
    }
    let (detail, bytes) = if rows.height == 0 {
        let detail = match format {
            PieceFormat::Png => PieceDetail::Png { adler32: 1, filtered_len: 0 },
            PieceFormat::Jpeg => PieceDetail::Jpeg { header: Vec::new() },
            PieceFormat::Tiff => PieceDetail::Tiff { strip_lens: Vec::new() },
            PieceFormat::Bmp | PieceFormat::Pnm => PieceDetail::Raw,
        };
        (detail, Vec::new())
    } else {
        match format {
            PieceFormat::Png => png::encode(rows, end == height),
            PieceFormat::Jpeg => jpeg::encode(rows, start, height),
            PieceFormat::Tiff => tiff::encode(rows),
            PieceFormat::Bmp => Ok((PieceDetail::Raw, bmp::encode(rows))),
            PieceFormat::Pnm => Ok((PieceDetail::Raw, pnm::encode(rows))),
        }
        .with_context(what)?
    };
    let meta = PieceMeta {
        format,
        width: rows.width,
        height,
        channels: rows.channels,
        start,
        rows: rows.height,
        byte_len: bytes.len() as u64,
        crc32: crc32fast::hash(&bytes),
        detail,
    };
    Ok(Piece { meta, bytes })
}

fn check_shape(width: usize, height: usize, channels: usize) -> Result<()> {
    ensure!(channels == 1 || channels == 3, "images have 1 or 3 channels, not {channels}");
    ensure!(width > 0 && height > 0, "an image of {width}x{height} has no pixels");
    Ok(())
}

/// The file being written and how far it has got; what every format's joiner writes through.
struct Output {
    path: PathBuf,
    file: BufWriter<File>,
}

/// The format-specific half of an [`Assembler`].
enum Joiner {
    Png(png::Joiner),
    Jpeg(jpeg::Joiner),
    Tiff(tiff::Joiner),
    Bmp(bmp::Joiner),
    Pnm,
}

/// Writes a file from pieces arriving in row order, never holding more than one piece.
pub struct Assembler {
    out: Output,
    format: PieceFormat,
    width: usize,
    height: usize,
    channels: usize,
    /// Rows written so far: the next piece must start here.
    next_row: usize,
    joiner: Joiner,
}

impl Assembler {
    /// Creates/truncates `file` (a temp path the caller renames later) and writes the header.
    pub fn new(file: &Path, format: PieceFormat, width: usize, height: usize, channels: usize) -> Result<Assembler> {
        Self::with_options(file, format, width, height, channels, false)
    }

    /// [`Assembler::new`], with BigTIFF forced for a small image (tests of the large-file layout).
    pub(crate) fn with_options(
        file: &Path,
        format: PieceFormat,
        width: usize,
        height: usize,
        channels: usize,
        force_bigtiff: bool,
    ) -> Result<Assembler> {
        let what = || format!("{}: writing a {} of {width}x{height}x{channels}", file.display(), format.name());
        check_shape(width, height, channels).with_context(what)?;
        let f = File::create(file).with_context(what)?;
        let mut out = Output { path: file.to_path_buf(), file: BufWriter::with_capacity(1 << 20, f) };
        let joiner = match format {
            PieceFormat::Png => png::Joiner::new(&mut out.file, width, height, channels).map(Joiner::Png),
            PieceFormat::Jpeg => Ok(Joiner::Jpeg(jpeg::Joiner::new())),
            PieceFormat::Tiff => {
                tiff::Joiner::new(&mut out.file, width, height, channels, force_bigtiff).map(Joiner::Tiff)
            }
            PieceFormat::Bmp => bmp::Joiner::new(&mut out.file, width, height, channels).map(Joiner::Bmp),
            PieceFormat::Pnm => pnm::write_header(&mut out.file, width, height, channels).map(|()| Joiner::Pnm),
        }
        .with_context(what)?;
        Ok(Assembler { out, format, width, height, channels, next_row: 0, joiner })
    }

    /// Appends the next piece (pieces are given in row order; a piece may have 0 rows and then
    /// empty bytes).
    pub fn add(&mut self, meta: &PieceMeta, bytes: &[u8]) -> Result<()> {
        let (start, end) = (meta.start, meta.start + meta.rows);
        let what = || format!("{}: joining rows {start}..{end}", self.out.path.display());
        self.check(meta, bytes).with_context(what)?;
        let file = &mut self.out.file;
        let written = match (&mut self.joiner, &meta.detail) {
            (Joiner::Png(j), PieceDetail::Png { adler32, filtered_len }) => j.add(file, *adler32, *filtered_len, bytes),
            (Joiner::Jpeg(j), PieceDetail::Jpeg { header }) => j.add(file, meta, header, bytes),
            (Joiner::Tiff(j), PieceDetail::Tiff { strip_lens }) => j.add(file, meta.rows, strip_lens, bytes),
            (Joiner::Bmp(j), PieceDetail::Raw) => j.add(file, meta.start, meta.rows, bytes),
            (Joiner::Pnm, PieceDetail::Raw) => file.write_all(bytes).map_err(Into::into),
            (_, detail) => bail!("a {} file cannot join a piece of {detail:?}", self.format.name()),
        };
        written.with_context(what)?;
        self.next_row = end;
        Ok(())
    }

    fn check(&self, meta: &PieceMeta, bytes: &[u8]) -> Result<()> {
        ensure!(meta.format == self.format, "a {} piece in a {} file", meta.format.name(), self.format.name());
        ensure!(
            (meta.width, meta.height, meta.channels) == (self.width, self.height, self.channels),
            "a piece of an image of {}x{}x{} in a file of {}x{}x{}",
            meta.width,
            meta.height,
            meta.channels,
            self.width,
            self.height,
            self.channels
        );
        ensure!(meta.start == self.next_row, "out of order: the next piece must start at row {}", self.next_row);
        ensure!(meta.start + meta.rows <= self.height, "past the image's {} rows", self.height);
        ensure!(
            bytes.len() as u64 == meta.byte_len,
            "the piece has {} bytes, its encoder made {} (cut short or altered in transit)",
            bytes.len(),
            meta.byte_len
        );
        ensure!(
            crc32fast::hash(bytes) == meta.crc32,
            "the piece's CRC-32 differs from its encoder's (altered in transit)"
        );
        Ok(())
    }

    /// Writes the trailer (PNG final adler/IEND, TIFF IFD and header patch, JPEG EOI), fsyncs,
    /// closes. Errors if rows are missing.
    pub fn finish(self) -> Result<()> {
        let path = self.out.path.display().to_string();
        ensure!(
            self.next_row == self.height,
            "{path}: rows {}..{} never arrived; the file is incomplete",
            self.next_row,
            self.height
        );
        let mut file = self.out.file;
        let result = match self.joiner {
            Joiner::Png(j) => j.finish(&mut file),
            Joiner::Jpeg(j) => j.finish(&mut file),
            Joiner::Tiff(j) => j.finish(&mut file),
            Joiner::Bmp(_) | Joiner::Pnm => Ok(()),
        };
        result
            .and_then(|()| {
                let f = file.into_inner().map_err(|e| e.into_error())?;
                f.sync_all()?;
                Ok(())
            })
            .with_context(|| format!("{path}: finishing the {}", self.format.name()))
    }
}

/// Row ranges `[start, end)` for `n` pieces of an image of `height` rows, each boundary on a
/// multiple of `align`, as even as that allows; pieces past the last row are empty.
pub(crate) fn split_rows(height: usize, n: usize, align: usize) -> Vec<(usize, usize)> {
    let units = height.div_ceil(align);
    let at = |i: usize| (i * units / n * align).min(height);
    (0..n).map(|i| (at(i), at(i + 1))).collect()
}

/// Convenience for tests and the one-rank case: encode the whole image as `n` pieces split at
/// aligned rows and assemble.
pub fn write_in_pieces(file: &Path, format: PieceFormat, img: &Image, n: usize) -> Result<()> {
    ensure!(n > 0, "{}: cannot write in 0 pieces", file.display());
    let mut asm = Assembler::new(file, format, img.width, img.height, img.channels)?;
    for (start, end) in split_rows(img.height, n, format.row_align()) {
        let piece = encode_piece(format, &img.crop_rows(start, end), start, img.height)?;
        asm.add(&piece.meta, &piece.bytes)?;
    }
    asm.finish()
}

#[cfg(test)]
mod tests {
    use super::format::row_as_rgb;
    use super::*;

    /// Two ranks' rows, each encoded in many small parts, join into the file one piece per rank
    /// makes: the same pixels, for every format.
    #[test]
    fn rows_encoded_in_parts_join_into_the_same_image() {
        let dir = tempfile::tempdir().unwrap();
        for channels in [1, 3] {
            let img = crate::synth::picture(37, 83, channels, 9);
            for (format, ext) in [
                (PieceFormat::Png, "png"),
                (PieceFormat::Jpeg, "jpg"),
                (PieceFormat::Tiff, "tif"),
                (PieceFormat::Bmp, "bmp"),
                (PieceFormat::Pnm, "pnm"),
            ] {
                let whole = dir.path().join(format!("whole.{ext}"));
                write_in_pieces(&whole, format, &img, 1).unwrap();
                let parts_file = dir.path().join(format!("parts.{ext}"));
                let mut asm = Assembler::new(&parts_file, format, img.width, img.height, channels).unwrap();
                let mut count = 0;
                for (start, end) in split_rows(img.height, 2, format.row_align()) {
                    let rows = img.crop_rows(start, end);
                    // Parts of a few rows: many parts per rank.
                    for part in encode_in_parts(format, rows, start, img.height, 5 * img.row_bytes()).unwrap() {
                        asm.add(&part.meta, &part.bytes).unwrap();
                        count += 1;
                    }
                }
                asm.finish().unwrap();
                assert!(count > 4, "{ext}: {count} parts");
                let read = |p: &Path| crate::codec::read_image(p, u64::MAX).unwrap();
                assert!(read(&parts_file) == read(&whole), "{ext} with {channels} channel(s): parts differ");
            }
        }
    }

    #[test]
    fn split_rows_covers_every_row_once_on_aligned_boundaries() {
        for (height, n, align) in [(1, 3, 1), (33, 5, 16), (100, 3, 16), (257, 5, 1), (16, 2, 16)] {
            let parts = split_rows(height, n, align);
            assert_eq!(parts.len(), n);
            assert_eq!(parts[0].0, 0);
            assert_eq!(parts[n - 1].1, height);
            for w in parts.windows(2) {
                assert_eq!(w[0].1, w[1].0);
            }
            for &(s, e) in &parts {
                assert!(s <= e && (s % align == 0 || s == height) && (e % align == 0 || e == height));
            }
        }
    }

    #[test]
    fn from_ext_knows_the_piece_formats_and_refuses_others() {
        assert_eq!(PieceFormat::from_ext("jpeg"), Some(PieceFormat::Jpeg));
        assert_eq!(PieceFormat::from_ext("tif"), Some(PieceFormat::Tiff));
        assert_eq!(PieceFormat::from_ext("pgm"), Some(PieceFormat::Pnm));
        assert_eq!(PieceFormat::from_ext("webp"), None);
    }

    #[test]
    fn pieces_out_of_order_or_missing_are_refused_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.ppm");
        let img = Image::zeros(4, 6, 3);
        let piece = |s, e| encode_piece(PieceFormat::Pnm, &img.crop_rows(s, e), s, 6).unwrap();
        let mut asm = Assembler::new(&path, PieceFormat::Pnm, 4, 6, 3).unwrap();
        let late = piece(3, 6);
        let e = asm.add(&late.meta, &late.bytes).unwrap_err();
        assert!(format!("{e:#}").contains("x.ppm") && format!("{e:#}").contains("out of order"), "{e:#}");
        let first = piece(0, 3);
        asm.add(&first.meta, &first.bytes).unwrap();
        let e = asm.finish().unwrap_err();
        assert!(format!("{e:#}").contains("rows 3..6 never arrived"), "{e:#}");
    }

    #[test]
    fn bigtiff_forced_on_a_small_image_reads_back_in_opencv_and_vips() {
        let dir = tempfile::tempdir().unwrap();
        for channels in [1, 3] {
            let img = crate::synth::picture(45, 37, channels, 4);
            let path = dir.path().join("big.tiff");
            let mut asm = Assembler::with_options(&path, PieceFormat::Tiff, 45, 37, channels, true).unwrap();
            for (start, end) in split_rows(37, 3, PieceFormat::Tiff.row_align()) {
                let piece = encode_piece(PieceFormat::Tiff, &img.crop_rows(start, end), start, 37).unwrap();
                asm.add(&piece.meta, &piece.bytes).unwrap();
            }
            asm.finish().unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(bytes[..4], [b'I', b'I', 43, 0], "a BigTIFF header");
            let decoded = crate::codec::decode(&bytes, "big.tiff", crate::codec::DEFAULT_MAX_PIXELS).unwrap();
            assert_eq!(decoded, img);
            let raw = dir.path().join("big.raw");
            let status = std::process::Command::new("vips").arg("rawsave").arg(&path).arg(&raw).status();
            assert!(status.expect("vips is installed (libvips-tools)").success(), "vips reads the BigTIFF");
            let mut rgb = vec![0u8; img.byte_len()];
            for y in 0..img.height {
                let rb = img.row_bytes();
                row_as_rgb(img.rows(y, y + 1), channels, &mut rgb[y * rb..(y + 1) * rb]);
            }
            assert!(std::fs::read(&raw).unwrap() == rgb, "vips reads the same pixels");
        }
    }

    #[test]
    fn a_piece_cut_short_in_transit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let img = Image::zeros(4, 6, 1);
        let piece = encode_piece(PieceFormat::Png, &img, 0, 6).unwrap();
        let mut asm = Assembler::new(&dir.path().join("x.png"), PieceFormat::Png, 4, 6, 1).unwrap();
        let e = asm.add(&piece.meta, &piece.bytes[..piece.bytes.len() - 1]).unwrap_err();
        assert!(format!("{e:#}").contains("cut short"), "{e:#}");
    }
}
