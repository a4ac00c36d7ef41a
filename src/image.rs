//! `Image`: a row-major, interleaved pixel buffer that we own, of 8-bit samples (or 16-bit ones,
//! native-endian, for a 16-bit file whose whole chain takes them).
//!
//! Everything that moves pixels (splitting, MPI transfers, merging) works on this plain buffer, so
//! those parts stay free of OpenCV; `ops` borrows it as an OpenCV `Mat` without copying.
//! It does not know about files or encodings (that is `codec`).

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

/// The size of one sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Depth {
    #[default]
    U8,
    U16,
}

impl Depth {
    /// Bytes per sample.
    pub const fn bytes(self) -> usize {
        match self {
            Depth::U8 => 1,
            Depth::U16 => 2,
        }
    }
}

/// An image with 1 (gray), 3 (BGR, OpenCV's order) or 4 (BGRA) channels of `depth` samples.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub depth: Depth,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.depth {
            Depth::U8 => write!(f, "Image({}x{}x{})", self.width, self.height, self.channels),
            Depth::U16 => write!(f, "Image({}x{}x{}, 16-bit)", self.width, self.height, self.channels),
        }
    }
}

impl Image {
    /// A black 8-bit image.
    pub fn zeros(width: usize, height: usize, channels: usize) -> Image {
        Image::zeros_as(width, height, channels, Depth::U8)
    }

    /// A black image of `depth` samples.
    pub fn zeros_as(width: usize, height: usize, channels: usize, depth: Depth) -> Image {
        Image { width, height, channels, depth, data: vec![0; width * height * channels * depth.bytes()] }
    }

    /// Wraps a buffer of 8-bit samples, checking that its length matches the shape.
    pub fn from_vec(width: usize, height: usize, channels: usize, data: Vec<u8>) -> Result<Image> {
        Image::from_vec_as(width, height, channels, Depth::U8, data)
    }

    /// Wraps a buffer of `depth` samples, checking that its length matches the shape.
    pub fn from_vec_as(width: usize, height: usize, channels: usize, depth: Depth, data: Vec<u8>) -> Result<Image> {
        ensure!(matches!(channels, 1 | 3 | 4), "images have 1, 3 or 4 channels, not {channels}");
        ensure!(
            data.len() == width * height * channels * depth.bytes(),
            "buffer of {} bytes does not hold {width}x{height}x{channels} of {depth:?}",
            data.len()
        );
        Ok(Image { width, height, channels, depth, data })
    }

    /// Bytes in one row.
    pub fn row_bytes(&self) -> usize {
        self.width * self.channels * self.depth.bytes()
    }

    /// The same picture with 8-bit samples (the top 8 bits of each 16-bit one) and without alpha,
    /// as imgproc's 8-bit-only ops take it: what `keep` does not keep is dropped.
    pub fn reduced(self, keep: Keep) -> Image {
        let mut img = self;
        if !img.loses(keep) {
            return img;
        }
        if img.depth == Depth::U16 && !keep.depth16 {
            let data = img.data.chunks_exact(2).map(|s| (u16::from_ne_bytes([s[0], s[1]]) >> 8) as u8).collect();
            img = Image { data, depth: Depth::U8, ..img };
        }
        if img.channels == 4 && !keep.alpha {
            let b = img.depth.bytes();
            let data = img.data.chunks_exact(4 * b).flat_map(|p| p[..3 * b].to_vec()).collect();
            img = Image { data, channels: 3, ..img };
        }
        img
    }

    /// The bytes of rows `[start, end)`.
    pub fn rows(&self, start: usize, end: usize) -> &[u8] {
        &self.data[start * self.row_bytes()..end * self.row_bytes()]
    }

    /// Whether [`Image::reduced`] with `keep` would change this image.
    pub fn loses(&self, keep: Keep) -> bool {
        (self.depth == Depth::U16 && !keep.depth16) || (self.channels == 4 && !keep.alpha)
    }

    /// A new image holding rows `[start, end)` (a copy).
    pub fn crop_rows(&self, start: usize, end: usize) -> Image {
        Image { height: end - start, data: self.rows(start, end).to_vec(), ..*self }
    }

    /// Keeps only rows `[start, end)`, in place, without a new allocation, and gives the memory
    /// of the other rows back (for a large buffer the allocator shrinks its mapping in place).
    /// Rows that already start at row 0 are not moved at all.
    pub fn retain_rows(&mut self, start: usize, end: usize) {
        let rb = self.row_bytes();
        if start > 0 {
            self.data.copy_within(start * rb..end * rb, 0);
        }
        self.data.truncate((end - start) * rb);
        self.data.shrink_to_fit();
        self.height = end - start;
    }

    /// Grows the image to `height` rows, the new rows black. A large buffer grows in place or is
    /// remapped by the allocator: the rows already there are not copied.
    pub fn extend_rows(&mut self, height: usize) {
        self.data.resize(height * self.row_bytes(), 0);
        self.height = height;
    }

    /// Size of the pixel data in bytes.
    pub fn byte_len(&self) -> usize {
        self.data.len()
    }
}

/// What of a file's samples a job keeps: its 16-bit depth, its alpha channel. Decided by the chain
/// (every op must take them) and the output format (it must hold them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keep {
    pub depth16: bool,
    pub alpha: bool,
}

impl Keep {
    pub const ALL: Keep = Keep { depth16: true, alpha: true };
    pub const NONE: Keep = Keep { depth16: false, alpha: false };

    /// Both must keep it.
    pub fn and(self, other: Keep) -> Keep {
        Keep { depth16: self.depth16 && other.depth16, alpha: self.alpha && other.alpha }
    }

    /// What a file of format `ext` can hold.
    pub fn format(ext: &str) -> Keep {
        match ext.to_ascii_lowercase().as_str() {
            "png" | "tif" | "tiff" => Keep::ALL,
            "webp" => Keep { depth16: false, alpha: true },
            "pgm" | "ppm" | "pnm" => Keep { depth16: true, alpha: false },
            _ => Keep::NONE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_rows_keeps_exactly_the_middle_rows() {
        let data: Vec<u8> = (0..4 * 5 * 3).map(|v| v as u8).collect();
        let mut img = Image::from_vec(4, 5, 3, data).unwrap();
        let expected = img.crop_rows(1, 3);
        img.retain_rows(1, 3);
        assert_eq!(img, expected);
        assert_eq!(img.height, 2);
        assert_eq!(img.data[0], 12);
        img.retain_rows(0, 1);
        assert_eq!(img, expected.crop_rows(0, 1));
    }

    #[test]
    fn extend_rows_keeps_the_rows_and_adds_black_ones() {
        let data: Vec<u8> = (1..=2 * 2).map(|v| v as u8).collect();
        let mut img = Image::from_vec(2, 2, 1, data).unwrap();
        img.extend_rows(3);
        assert_eq!(img, Image::from_vec(2, 3, 1, vec![1, 2, 3, 4, 0, 0]).unwrap());
    }

    #[test]
    fn from_vec_rejects_a_buffer_of_the_wrong_length() {
        assert!(Image::from_vec(2, 2, 3, vec![0; 11]).is_err());
        assert!(Image::from_vec(2, 2, 4, vec![0; 15]).is_err());
        assert!(Image::from_vec(2, 2, 2, vec![0; 8]).is_err());
        assert!(Image::from_vec_as(2, 1, 1, Depth::U16, vec![0; 4]).is_ok());
    }

    #[test]
    fn reducing_keeps_the_top_8_bits_and_drops_alpha_only_where_not_kept() {
        let px: Vec<u8> = [0x1234u16, 0xFF00, 0x00FF, 0x8080].iter().flat_map(|v| v.to_ne_bytes()).collect();
        let img = Image::from_vec_as(1, 1, 4, Depth::U16, px).unwrap();
        assert_eq!(img.clone().reduced(Keep::ALL), img);
        let keep_alpha = Keep { depth16: false, alpha: true };
        assert_eq!(img.clone().reduced(keep_alpha), Image::from_vec(1, 1, 4, vec![0x12, 0xFF, 0x00, 0x80]).unwrap());
        assert_eq!(img.reduced(Keep::NONE), Image::from_vec(1, 1, 3, vec![0x12, 0xFF, 0x00]).unwrap());
    }
}
