//! The OpenCV calls that do each op's work, and the plumbing that runs them on our buffers
//! without copying (`Mat` headers over `Image` bytes, chunks of rows with their halo).
//!
//! Two ways to run an op live here:
//! - [`Op::apply_reference`] runs the plain OpenCV call on a whole image: the ground truth every
//!   distributed result must equal byte for byte;
//! - [`Op::apply_local`] runs the part of an op that needs no global knowledge on one strip. For the
//!   two global ops it yields the raw material of the global step (`exec` and `global` do the rest).

use super::gradient::{strong_among, strong_among_supported};
use super::Op;
use crate::edges::{STRONG, WEAK};
use crate::image::{Depth, Image};
use anyhow::{bail, ensure, Context, Result};
use opencv::core::{self, Mat, Point, Size, Vec3b, Vec3w, Vec4b, Vec4w, BORDER_DEFAULT};
use opencv::imgproc;
use opencv::prelude::*;
use std::ops::Range;

impl Op {
    /// The plain OpenCV call on a whole image: the reference result.
    pub fn apply_reference(&self, img: &Image) -> Result<Image> {
        self.check_takes(img)?;
        match *self {
            Op::ContrastStretch => {
                let lut = crate::global::stretch_lut(&crate::global::histogram(&img.data));
                Ok(crate::global::apply_lut(img, &lut))
            }
            Op::Canny { low, high, aperture, l2 } => cv_canny(img, low, high, aperture, l2),
            Op::Resize { interpolation, .. } => cv_resize(img, self.resized(img.width, img.height), interpolation),
            Op::Blur { .. }
            | Op::Gaussian { .. }
            | Op::Median { .. }
            | Op::Bilateral { .. }
            | Op::Invert
            | Op::Brightness { .. }
            | Op::Gray
            | Op::Bw { .. } => self.apply_local(img),
        }
    }

    /// Applies a purely local op (one with [`GlobalNeed::None`](super::GlobalNeed::None)) to a strip or whole image.
    /// Border rows are treated as OpenCV treats an image edge, so callers trim the halo afterwards.
    pub fn apply_local(&self, img: &Image) -> Result<Image> {
        self.apply_local_rows(img, 0..img.height)
    }

    /// [`Op::apply_local`] on rows `rows` of `img` alone, as if they were the whole image, without
    /// copying them (OpenCV reads them in place).
    pub fn apply_local_rows(&self, img: &Image, rows: Range<usize>) -> Result<Image> {
        self.check_takes(img)?;
        let out_ch = self.out_channels(img.channels);
        if rows.is_empty() || img.width == 0 {
            return Ok(Image::zeros_as(img.width, rows.len(), out_ch, img.depth));
        }
        let anchor = Point::new(-1, -1);
        let r = rows.clone();
        let result = match *self {
            Op::Blur { ksize } => with_cv(img, r, out_ch, |s, d| {
                imgproc::blur(s, d, Size::new(ksize as i32, ksize as i32), anchor, BORDER_DEFAULT)
            }),
            Op::Gaussian { ksize, sigma } => with_cv(img, r, out_ch, |s, d| {
                imgproc::gaussian_blur(s, d, Size::new(ksize as i32, ksize as i32), sigma, sigma, BORDER_DEFAULT)
            }),
            Op::Median { ksize } => with_cv(img, r, out_ch, |s, d| imgproc::median_blur(s, d, ksize as i32)),
            Op::Bilateral { d, sigma_color, sigma_space } => with_cv(img, r, out_ch, |s, dst| {
                imgproc::bilateral_filter(s, dst, d as i32, sigma_color, sigma_space, BORDER_DEFAULT)
            }),
            Op::Invert => with_cv(img, r, out_ch, |s, d| core::bitwise_not(s, d, &core::no_array())),
            Op::Brightness { factor, offset } => {
                with_cv(img, r, out_ch, |s, d| core::convert_scale_abs(s, d, factor, offset))
            }
            Op::Gray if img.channels == 1 => Ok(img.crop_rows(r.start, r.end)),
            Op::Gray => with_cv(img, r, 1, |s, d| imgproc::cvt_color(s, d, imgproc::COLOR_BGR2GRAY, 0)),
            Op::Bw { threshold } => {
                let gray = Op::Gray.apply_local_rows(img, r)?;
                with_cv(&gray, 0..gray.height, 1, |s, d| {
                    imgproc::threshold(s, d, threshold, 255.0, imgproc::THRESH_BINARY).map(|_| ())
                })
            }
            Op::Canny { .. } | Op::ContrastStretch | Op::Resize { .. } => {
                bail!("{} needs a global step and cannot run on a strip alone", self.name())
            }
        };
        result.with_context(|| {
            format!("applying {} to a {}x{}x{} image", self.name(), img.width, rows.len(), img.channels)
        })
    }
}

/// cv::resize of the whole image to `size` (width, height) with OpenCV's `INTER_*` `interpolation`.
pub fn cv_resize(img: &Image, size: (usize, usize), interpolation: u32) -> Result<Image> {
    let mut out = Image::zeros_as(size.0, size.1, img.channels, img.depth);
    if img.width == 0 || img.height == 0 || out.data.is_empty() {
        return Ok(out);
    }
    {
        let src = mat_view(img)?;
        let mut dst = mat_view_mut(&mut out)?;
        let before = dst.data();
        let dsize = Size::new(size.0 as i32, size.1 as i32);
        imgproc::resize(&src, &mut dst, dsize, 0.0, 0.0, interpolation as i32)
            .with_context(|| format!("resizing a {}x{} image to {}x{}", img.width, img.height, size.0, size.1))?;
        ensure!(dst.data() == before, "OpenCV reallocated the output buffer");
    }
    Ok(out)
}

/// cv::Canny on an image; the output is 0 or 255, one channel.
pub fn cv_canny(img: &Image, low: f64, high: f64, aperture: u32, l2: bool) -> Result<Image> {
    cv_canny_rows(img, 0..img.height, low, high, aperture, l2)
}

/// cv::Canny on rows `rows` of `img` alone, as if they were the whole image (read in place).
fn cv_canny_rows(img: &Image, rows: Range<usize>, low: f64, high: f64, aperture: u32, l2: bool) -> Result<Image> {
    if rows.is_empty() || img.width == 0 {
        return Ok(Image::zeros(img.width, rows.len(), 1));
    }
    let h = rows.len();
    with_cv(img, rows, 1, |s, d| imgproc::canny(s, d, low, high, aperture as i32, l2))
        .with_context(|| format!("applying canny to a {}x{h} image", img.width))
}

/// Split Canny's map of rows `rows` of `img` alone, as if they were the whole image. With equal
/// thresholds Canny's hysteresis has nothing to follow: a pixel is a candidate exactly when its
/// gradient passes the threshold and non-maximum suppression, which read only the rows within
/// [`Op::halo`] of it, so the map is as local as a filter and can be made a chunk of rows at a
/// time ([`in_row_chunks_in_place`]). Each pixel is 0, or
/// [`WEAK`] for a candidate (`Canny(low, low)`), or [`STRONG`] for a candidate that
/// `Canny(high, high)` keeps too ([`strong_among`], or that second pass for aperture 7).
pub fn canny_map_rows(img: &Image, rows: Range<usize>, low: f64, high: f64, aperture: u32, l2: bool) -> Result<Image> {
    let (low, high) = if low <= high { (low, high) } else { (high, low) };
    let mut map = cv_canny_rows(img, rows.clone(), low, low, aperture, l2)?;
    let strong = if strong_among_supported(aperture) {
        // The rows alone: their first and last rows replicate, as in cv::Canny on them.
        let cropped;
        let window = if rows == (0..img.height) {
            img
        } else {
            cropped = img.crop_rows(rows.start, rows.end);
            &cropped
        };
        strong_among(window, 0..window.height, &map, high, aperture, l2)?
    } else {
        cv_canny_rows(img, rows, high, high, aperture, l2)?
    };
    for (m, s) in map.data.iter_mut().zip(&strong.data) {
        *m = if *s != 0 {
            STRONG
        } else if *m != 0 {
            WEAK
        } else {
            0
        };
    }
    Ok(map)
}

/// Rows `rows` of a local operation's result on `img`, computed at most `chunk_rows` output rows
/// at a time: `compute(input_rows)` runs the operation on those rows of `img` alone.
///
/// An output row of an op with halo `halo` reads only the input rows within `halo` of it, or the
/// image's edge. Each chunk is given that context, so the bytes are those of one call on all of
/// `img` (the same argument that makes strips exact), while OpenCV's working memory (a bordered
/// copy for bilateral, the gradients of every channel for Canny: up to several times the input)
/// stays the size of a chunk instead of the image's.
pub fn in_row_chunks(
    img: &Image,
    rows: Range<usize>,
    halo: usize,
    chunk_rows: usize,
    out_ch: usize,
    mut compute: impl FnMut(Range<usize>) -> Result<Image>,
) -> Result<Image> {
    ensure!(rows.end <= img.height && chunk_rows > 0, "rows {rows:?} of a {}-row image", img.height);
    let context = |start: usize, end: usize| start.saturating_sub(halo)..(end + halo).min(img.height);
    if chunk_rows >= rows.len() && !rows.is_empty() {
        // One chunk: its result, with the context rows cut away in place.
        let input = context(rows.start, rows.end);
        let mut part = compute(input.clone())?;
        part.retain_rows(rows.start - input.start, rows.end - input.start);
        return Ok(part);
    }
    let mut out = Vec::with_capacity(rows.len() * img.width * out_ch * img.depth.bytes());
    let mut start = rows.start;
    while start < rows.end {
        let end = (start + chunk_rows).min(rows.end);
        let input = context(start, end);
        let part = compute(input.clone())?;
        out.extend_from_slice(part.rows(start - input.start, end - input.start));
        start = end;
    }
    Image::from_vec_as(img.width, rows.len(), out_ch, img.depth, out)
}

/// [`in_row_chunks`] that writes each chunk's result over its own input, so a strip is held
/// once, not twice (input and result), plus a chunk: what keeps a rank's memory near its strip's
/// size. Output row `i` of `rows` goes to the buffer's row `i` (its bytes at `i × out_row_bytes`),
/// never past input rows a later chunk still reads: before a chunk's result is written, the input
/// rows it overwrites that the next chunk reads (its halo above) are kept aside. `compute` gets a
/// window holding the chunk's context rows and the range of the whole window. Needs
/// `out_ch <= img.channels` (a result row is never wider than an input row).
pub fn in_row_chunks_in_place(
    img: Image,
    rows: Range<usize>,
    halo: usize,
    chunk_rows: usize,
    out_ch: usize,
    compute: impl FnMut(&Image, Range<usize>) -> Result<Image>,
) -> Result<Image> {
    in_row_chunks_in_place_as_ready(img, rows, halo, chunk_rows, out_ch, |_, _| Ok(()), compute)
}

/// [`in_row_chunks_in_place`] over input rows that are still arriving: before each chunk,
/// `ready(buffer, end)` must make input rows up to `end` (exclusive) present in the buffer,
/// writing only rows that no earlier call made ready (those may already hold results). So a
/// strip filters its first rows while its last ones are still on their way.
pub fn in_row_chunks_in_place_as_ready(
    mut img: Image,
    rows: Range<usize>,
    halo: usize,
    chunk_rows: usize,
    out_ch: usize,
    mut ready: impl FnMut(&mut [u8], usize) -> Result<()>,
    mut compute: impl FnMut(&Image, Range<usize>) -> Result<Image>,
) -> Result<Image> {
    ensure!(rows.end <= img.height && chunk_rows > 0, "rows {rows:?} of a {}-row image", img.height);
    ensure!(out_ch <= img.channels, "a result with more channels than its input is not made in place");
    let (in_rb, out_rb, height) = (img.row_bytes(), img.width * out_ch * img.depth.bytes(), img.height);
    let context = |start: usize, end: usize| start.saturating_sub(halo)..(end + halo).min(height);
    // Input rows [kept_from, ..) whose bytes in `img` were overwritten: their original values.
    let mut kept: Vec<u8> = Vec::new();
    let mut kept_from = 0;
    let mut written = 0; // bytes of results at the start of the buffer
    let mut start = rows.start;
    while start < rows.end {
        let end = (start + chunk_rows).min(rows.end);
        let ctx = context(start, end);
        ready(&mut img.data, ctx.end)?;
        let mut window = Image::zeros_as(img.width, ctx.len(), img.channels, img.depth);
        for (i, r) in ctx.clone().enumerate() {
            let dst = &mut window.data[i * in_rb..(i + 1) * in_rb];
            if r * in_rb < written {
                ensure!(r >= kept_from, "input row {r} was overwritten before it was kept");
                dst.copy_from_slice(&kept[(r - kept_from) * in_rb..(r - kept_from + 1) * in_rb]);
            } else {
                dst.copy_from_slice(&img.data[r * in_rb..(r + 1) * in_rb]);
            }
        }
        let part = compute(&window, 0..window.height)?;
        ensure!(part.width == img.width && part.channels == out_ch, "a chunk came out as {part:?}");
        let result = part.rows(start - ctx.start, end - ctx.start);
        let new_written = (end - rows.start) * out_rb;
        // The next chunk reads input rows from `next`: keep those this write covers.
        let next = context(end, end + 1).start.max(ctx.start);
        let covered_end = new_written.div_ceil(in_rb).min(ctx.end);
        kept_from = next;
        kept = window.data[(next - ctx.start) * in_rb..(covered_end.max(next) - ctx.start) * in_rb].to_vec();
        img.data[written..new_written].copy_from_slice(result);
        written = new_written;
        start = end;
    }
    img.data.truncate(written);
    img.data.shrink_to_fit();
    Image::from_vec_as(img.width, rows.len(), out_ch, img.depth, img.data)
}

/// Runs an OpenCV call on rows `rows` of `src` that writes into a new image of as many rows with
/// `out_ch` channels.
///
/// Both sides are `Mat` headers over our own buffers (no copy). They are whole matrices, never
/// ROIs of a larger one: OpenCV would otherwise read the parent's pixels as "border" and pick
/// other code paths, and strips would no longer match the whole image.
fn with_cv(
    src: &Image,
    rows: Range<usize>,
    out_ch: usize,
    f: impl FnOnce(&MatRef, &mut MatMut) -> opencv::Result<()>,
) -> Result<Image> {
    let mut out = Image::zeros_as(src.width, rows.len(), out_ch, src.depth);
    {
        let src_mat = mat_of(src.rows(rows.start, rows.end), rows.len(), src.width, src.channels, src.depth)?;
        let mut dst_mat = mat_view_mut(&mut out)?;
        let before = dst_mat.data();
        f(&src_mat, &mut dst_mat)?;
        // OpenCV reuses a destination of the right size and type; if it ever reallocated, the
        // result would not be in `out`.
        ensure!(dst_mat.data() == before, "OpenCV reallocated the output buffer");
    }
    Ok(out)
}

/// A `Mat` header over pixels we own (no copy).
pub type MatRef<'a> = opencv::boxed_ref::BoxedRef<'a, Mat>;
/// A mutable `Mat` header over pixels we own (no copy).
pub type MatMut<'a> = opencv::boxed_ref::BoxedRefMut<'a, Mat>;

/// A `Mat` header borrowing the image's pixels.
pub fn mat_view(img: &Image) -> Result<MatRef<'_>> {
    mat_of(&img.data, img.height, img.width, img.channels, img.depth)
}

/// A `Mat` header over `height` rows of interleaved pixels.
fn mat_of(data: &[u8], height: usize, width: usize, channels: usize, depth: Depth) -> Result<MatRef<'_>> {
    let (h, w) = (height as i32, width as i32);
    Ok(match (channels, depth) {
        (1, Depth::U8) => Mat::new_rows_cols_with_bytes::<u8>(h, w, data)?,
        (3, Depth::U8) => Mat::new_rows_cols_with_bytes::<Vec3b>(h, w, data)?,
        (4, Depth::U8) => Mat::new_rows_cols_with_bytes::<Vec4b>(h, w, data)?,
        (1, Depth::U16) => Mat::new_rows_cols_with_bytes::<u16>(h, w, data)?,
        (3, Depth::U16) => Mat::new_rows_cols_with_bytes::<Vec3w>(h, w, data)?,
        (4, Depth::U16) => Mat::new_rows_cols_with_bytes::<Vec4w>(h, w, data)?,
        (c, _) => bail!("unsupported channel count {c}"),
    })
}

/// A mutable `Mat` header borrowing the image's pixels.
pub fn mat_view_mut(img: &mut Image) -> Result<MatMut<'_>> {
    let (h, w) = (img.height as i32, img.width as i32);
    Ok(match (img.channels, img.depth) {
        (1, Depth::U8) => Mat::new_rows_cols_with_bytes_mut::<u8>(h, w, &mut img.data)?,
        (3, Depth::U8) => Mat::new_rows_cols_with_bytes_mut::<Vec3b>(h, w, &mut img.data)?,
        (4, Depth::U8) => Mat::new_rows_cols_with_bytes_mut::<Vec4b>(h, w, &mut img.data)?,
        (1, Depth::U16) => Mat::new_rows_cols_with_bytes_mut::<u16>(h, w, &mut img.data)?,
        (3, Depth::U16) => Mat::new_rows_cols_with_bytes_mut::<Vec3w>(h, w, &mut img.data)?,
        (4, Depth::U16) => Mat::new_rows_cols_with_bytes_mut::<Vec4w>(h, w, &mut img.data)?,
        (c, _) => bail!("unsupported channel count {c}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize, ch: usize) -> Image {
        let data = (0..w * h * ch).map(|i| ((i * 37) % 251) as u8).collect();
        Image::from_vec(w, h, ch, data).unwrap()
    }

    #[test]
    fn invert_maps_each_value_to_its_complement() {
        let img = Image::from_vec(2, 1, 3, vec![0, 1, 2, 250, 254, 255]).unwrap();
        assert_eq!(Op::Invert.apply_local(&img).unwrap().data, vec![255, 254, 253, 5, 1, 0]);
    }

    #[test]
    fn brightness_saturates_like_convert_scale_abs() {
        let img = Image::from_vec(3, 1, 1, vec![10, 100, 200]).unwrap();
        let out = Op::Brightness { factor: 1.5, offset: 0.0 }.apply_local(&img).unwrap();
        assert_eq!(out.data, vec![15, 150, 255]);
    }

    #[test]
    fn gray_uses_bgr_weights_and_bw_thresholds_strictly_above() {
        // Pure blue, green and red pixels (BGR order): Y = 0.114 B + 0.587 G + 0.299 R.
        let img = Image::from_vec(3, 1, 3, vec![255, 0, 0, 0, 255, 0, 0, 0, 255]).unwrap();
        assert_eq!(Op::Gray.apply_local(&img).unwrap().data, vec![29, 150, 76]);
        let g = Image::from_vec(3, 1, 1, vec![127, 128, 0]).unwrap();
        assert_eq!(Op::Bw { threshold: 127.0 }.apply_local(&g).unwrap().data, vec![0, 255, 0]);
    }

    #[test]
    fn single_channel_results_stay_single_channel() {
        let img = gradient(7, 5, 3);
        for name in ["gray", "bw"] {
            assert_eq!(Op::default_for(name).unwrap().apply_local(&img).unwrap().channels, 1);
        }
        assert_eq!(Op::default_for("canny").unwrap().apply_reference(&img).unwrap().channels, 1);
        assert_eq!(Op::Blur { ksize: 5 }.apply_local(&img).unwrap().channels, 3);
    }

    #[test]
    fn blur_of_a_constant_image_is_the_same_constant() {
        let img = Image::from_vec(9, 4, 3, vec![77; 9 * 4 * 3]).unwrap();
        for name in ["blur", "gaussian", "median", "bilateral"] {
            assert_eq!(Op::default_for(name).unwrap().apply_local(&img).unwrap(), img, "{name}");
        }
    }

    #[test]
    fn global_ops_refuse_to_run_on_a_strip_alone() {
        let img = gradient(4, 4, 1);
        assert!(Op::ContrastStretch.apply_local(&img).is_err());
        assert!(Op::default_for("canny").unwrap().apply_local(&img).is_err());
    }
}
