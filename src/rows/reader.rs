//! What every row decoder reports and checks: the image's [`Shape`], the two ways of reading
//! rows ([`RowStream`] in order, [`RowRange`] by number), and the header and request checks
//! they share.

use anyhow::{ensure, Result};
use std::path::Path;

/// The shape every decoder reports before any pixel: as codec::decode would give (channels 1 or 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
}

impl Shape {
    /// Bytes in one decoded row.
    pub fn row_bytes(&self) -> usize {
        self.width * self.channels
    }
}

/// Rows decoded in order, top to bottom.
pub trait RowStream: Send {
    fn shape(&self) -> Shape;
    /// Decodes the next `buf.len() / row_bytes` rows into `buf` (BGR or gray, exactly codec::decode's bytes for those rows).
    fn next_rows(&mut self, buf: &mut [u8]) -> anyhow::Result<()>;
    /// About what fraction of a typical job (decode, filter, encode) decoding takes. Rank 0
    /// decodes a stream for every rank, so the planner gives it `1 - share` of a worker's rows
    /// (`split::plan_streamed`); 0 keeps equal shares.
    fn decode_share(&self) -> f64 {
        0.0
    }
}

/// Rows read by number, for formats where any row range can be found without decoding the rows before it.
pub trait RowRange: Send {
    fn shape(&self) -> Shape;
    /// Rows [start, end) into buf.
    fn read_rows(&mut self, start: usize, end: usize, buf: &mut [u8]) -> anyhow::Result<()>;
}

/// OpenCV's own ceilings (`CV_IO_MAX_IMAGE_WIDTH`/`HEIGHT`/`PIXELS`): a larger image is left to the
/// whole decode, which refuses it with OpenCV's error, rather than decoded here where OpenCV would not.
const OPENCV_MAX_SIDE: usize = 1 << 20;
const OPENCV_MAX_PIXELS: u64 = 1 << 30;

/// Checks a header's size against `max_pixels` (the same message as `codec::check_header`), and says
/// whether OpenCV itself would decode an image of that size (`false`: fall back).
pub(super) fn check_size(path: &Path, width: usize, height: usize, max_pixels: u64) -> Result<bool> {
    let pixels = width as u64 * height as u64;
    ensure!(
        pixels <= max_pixels,
        "{}: header declares {width}x{height} = {pixels} pixels, more than the limit of {max_pixels} (--max-pixels)",
        path.display()
    );
    Ok(width > 0 && height > 0 && width <= OPENCV_MAX_SIDE && height <= OPENCV_MAX_SIDE && pixels <= OPENCV_MAX_PIXELS)
}

/// Checks that `buf` holds whole rows `[start, end)` of `shape`, and says which rows were asked
/// for when it does not (a caller's mistake, reported rather than panicking).
pub(super) fn check_request(path: &Path, shape: Shape, start: usize, end: usize, buf: &[u8]) -> Result<()> {
    ensure!(
        start <= end && end <= shape.height,
        "{}: rows {start}..{end} asked of an image of {} rows",
        path.display(),
        shape.height
    );
    ensure!(
        buf.len() == (end - start) * shape.row_bytes(),
        "{}: a buffer of {} bytes for rows {start}..{end} of {} bytes each",
        path.display(),
        buf.len(),
        shape.row_bytes()
    );
    Ok(())
}
