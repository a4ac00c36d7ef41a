//! What every piece format shares: the format names, the metadata a piece travels with, and the
//! row layout rules (alignment, RGB order in files). The format modules and the joiner read
//! these; nothing here encodes or joins.

use crate::formats::{self, Family};

/// Rows of a JPEG MCU row at any sampling: a JPEG piece starts and ends on a multiple of it.
pub(super) const JPEG_ROW_ALIGN: usize = 16;
/// Rows per TIFF strip, as OpenCV writes TIFF: a TIFF piece is whole strips.
pub(super) const TIFF_ROWS_PER_STRIP: usize = 16;

/// An output format that can be encoded in pieces (by extension, lower-case: png, jpg/jpeg,
/// tif/tiff, bmp, ppm/pgm/pnm).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PieceFormat {
    Png,
    Jpeg,
    Tiff,
    Bmp,
    /// Binary P6 for colour, P5 for gray, whatever the extension: OpenCV writes the same (and
    /// refuses a gray `.ppm` or a colour `.pgm`, which the caller should refuse too).
    Pnm,
}

impl PieceFormat {
    /// The piece format of an output extension (`formats`); None for formats encoded whole
    /// (webp, ...).
    pub fn from_ext(ext: &str) -> Option<PieceFormat> {
        let format = formats::by_extension(ext).filter(|f| f.in_pieces)?;
        match format.family {
            Family::Png => Some(PieceFormat::Png),
            Family::Jpeg => Some(PieceFormat::Jpeg),
            Family::Tiff => Some(PieceFormat::Tiff),
            Family::Bmp => Some(PieceFormat::Bmp),
            Family::Pnm => Some(PieceFormat::Pnm),
            Family::Pbm | Family::WebP | Family::Jpeg2000 | Family::SunRaster => None,
        }
    }

    /// Whether imgproc encodes this format's pieces with its own code (PNG's deflate, libtiff,
    /// raw BMP and PNM rows), not with OpenCV's encoder (JPEG).
    pub fn own_encoder(self) -> bool {
        self != PieceFormat::Jpeg
    }

    /// Every piece except the last must start and end on a multiple of this many rows
    /// (JPEG: 16 = MCU rows at any sampling; TIFF: its rows per strip; PNG/BMP/PNM: 1).
    pub fn row_align(self) -> usize {
        match self {
            PieceFormat::Jpeg => JPEG_ROW_ALIGN,
            PieceFormat::Tiff => TIFF_ROWS_PER_STRIP,
            PieceFormat::Png | PieceFormat::Bmp | PieceFormat::Pnm => 1,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            PieceFormat::Png => "PNG",
            PieceFormat::Jpeg => "JPEG",
            PieceFormat::Tiff => "TIFF",
            PieceFormat::Bmp => "BMP",
            PieceFormat::Pnm => "PNM",
        }
    }
}

/// One rank's encoded rows, ready to be sent over MPI (serde for the small meta; bytes sent raw).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PieceMeta {
    pub format: PieceFormat,
    /// The whole image's shape, checked against the assembler's.
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    /// The rows `[start, start + rows)` this piece holds.
    pub start: usize,
    pub rows: usize,
    /// Length and CRC-32 of the piece's bytes: a piece cut short or altered in transit is
    /// refused, not joined into a file that decodes to wrong pixels.
    pub byte_len: u64,
    pub crc32: u32,
    pub detail: PieceDetail,
}

/// What the joiner of each format needs besides the bytes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PieceDetail {
    /// Adler-32 and length of the filtered (uncompressed) rows, combined into the stream's.
    Png { adler32: u32, filtered_len: u64 },
    /// The file's headers up to the scan (SOF already giving the full height): written once,
    /// and every piece's must be the same, or they were encoded with different settings.
    Jpeg { header: Vec<u8> },
    /// Compressed size of each strip, in order.
    Tiff { strip_lens: Vec<u64> },
    /// Raw rows in the file's layout (BMP, PNM).
    Raw,
}

/// Copies one row of `channels`-sample pixels into `out`, BGR turned to the RGB files store.
pub(super) fn row_as_rgb(row: &[u8], channels: usize, out: &mut [u8]) {
    if channels == 3 {
        for (o, i) in out.chunks_exact_mut(3).zip(row.chunks_exact(3)) {
            o.copy_from_slice(&[i[2], i[1], i[0]]);
        }
    } else {
        out.copy_from_slice(row);
    }
}
