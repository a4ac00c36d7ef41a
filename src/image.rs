//! `Image`: an 8-bit, row-major, interleaved pixel buffer that we own.
//!
//! Everything that moves pixels (splitting, MPI transfers, merging) works on this plain buffer, so
//! those parts stay free of OpenCV; `ops` borrows it as an OpenCV `Mat` without copying.
//! It does not know about files or encodings (that is `codec`).

use anyhow::{ensure, Result};

/// An 8-bit image with 1 (gray) or 3 (BGR, OpenCV's order) channels.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Image({}x{}x{})", self.width, self.height, self.channels)
    }
}

impl Image {
    /// A black image.
    pub fn zeros(width: usize, height: usize, channels: usize) -> Image {
        Image { width, height, channels, data: vec![0; width * height * channels] }
    }

    /// Wraps a buffer, checking that its length matches the shape.
    pub fn from_vec(width: usize, height: usize, channels: usize, data: Vec<u8>) -> Result<Image> {
        ensure!(channels == 1 || channels == 3, "images have 1 or 3 channels, not {channels}");
        ensure!(
            data.len() == width * height * channels,
            "buffer of {} bytes does not hold {width}x{height}x{channels}",
            data.len()
        );
        Ok(Image { width, height, channels, data })
    }

    /// Bytes in one row.
    pub fn row_bytes(&self) -> usize {
        self.width * self.channels
    }

    /// The bytes of rows `[start, end)`.
    pub fn rows(&self, start: usize, end: usize) -> &[u8] {
        &self.data[start * self.row_bytes()..end * self.row_bytes()]
    }

    /// A new image holding rows `[start, end)` (a copy).
    pub fn crop_rows(&self, start: usize, end: usize) -> Image {
        Image { width: self.width, height: end - start, channels: self.channels, data: self.rows(start, end).to_vec() }
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
        assert!(Image::from_vec(2, 2, 4, vec![0; 16]).is_err());
    }
}
