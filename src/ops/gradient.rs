//! Canny's strong pixels among its candidates, without a second Canny pass.
//!
//! Split hysteresis (see `global`) needs two maps of a strip: the candidates, `Canny(low, low)`,
//! and the strong pixels, `Canny(high, high)`. Non-maximum suppression does not depend on the
//! thresholds (it compares a pixel's gradient magnitude with its neighbours'), so the strong
//! pixels are exactly the candidates whose magnitude passes `high`. Computing that magnitude at
//! the candidates alone (a few percent of the pixels) costs a fraction of a second Canny pass,
//! which was a third of a split Canny's time.
//!
//! The magnitude is cv::Canny's (OpenCV 4.6, `imgproc/src/canny.cpp`): per channel the Sobel
//! derivatives of `aperture`, 8-bit to 16-bit with scale 1 and `BORDER_REPLICATE`, then
//! `|dx| + |dy|` (or `dx² + dy²` with `l2`), the largest over the channels, compared with `>`
//! against the threshold floored (and squared first with `l2`). All integers, so the result is
//! exact. Aperture 7 is left out: Canny scales its derivatives by 1/16 there, in floating point.

use crate::image::Image;
use anyhow::{ensure, Result};
use std::ops::Range;

/// Whether [`strong_among`] reproduces Canny's magnitude for this aperture.
pub fn strong_among_supported(aperture: u32) -> bool {
    matches!(aperture, 3 | 5)
}

/// The threshold as cv::Canny compares it with its integer magnitude.
fn integer_threshold(threshold: f64, l2: bool) -> i64 {
    let t = if l2 {
        let t = threshold.min(32767.0);
        if t > 0.0 {
            t * t
        } else {
            t
        }
    } else {
        threshold
    };
    t.floor() as i64
}

/// Sobel's separable kernels for the first derivative: (derivative, smoothing).
fn kernels(aperture: u32) -> (&'static [i32], &'static [i32]) {
    match aperture {
        3 => (&[-1, 0, 1], &[1, 2, 1]),
        _ => (&[-1, -2, 0, 2, 1], &[1, 4, 6, 4, 1]),
    }
}

/// Rows `rows` of `Canny(high, high)` on `img` (cv::Canny on the whole of `img`), from
/// `candidates`, the same rows of `Canny(low, low)` with `low <= high`: 255 where a candidate's
/// gradient magnitude passes `high`, else 0. Rows of `img` outside `rows` serve as context, as
/// they do for Canny itself; the image's own edges are replicated.
pub fn strong_among(
    img: &Image,
    rows: Range<usize>,
    candidates: &Image,
    high: f64,
    aperture: u32,
    l2: bool,
) -> Result<Image> {
    ensure!(strong_among_supported(aperture), "no integer Canny magnitude for aperture {aperture}");
    ensure!(rows.end <= img.height, "rows {rows:?} of a {}-row image", img.height);
    ensure!(
        (candidates.width, candidates.height, candidates.channels) == (img.width, rows.len(), 1),
        "candidates are {}x{}x{}, not the {}x{} rows asked for",
        candidates.width,
        candidates.height,
        candidates.channels,
        img.width,
        rows.len()
    );
    let (w, h, cn) = (img.width, img.height, img.channels);
    let threshold = integer_threshold(high, l2);
    let (deriv, smooth) = kernels(aperture);
    let r = deriv.len() / 2;
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    let mut out = vec![0u8; candidates.data.len()];
    let mut row_at = vec![0usize; deriv.len()];
    let mut col_at = vec![0usize; deriv.len()];
    for (i, y) in rows.enumerate() {
        for (k, at) in row_at.iter_mut().enumerate() {
            *at = clamp(y as isize + k as isize - r as isize, h) * w * cn;
        }
        crate::global::for_each_set(&candidates.data[i * w..(i + 1) * w], |x| {
            for (k, at) in col_at.iter_mut().enumerate() {
                *at = clamp(x as isize + k as isize - r as isize, w) * cn;
            }
            let mut best = 0i64;
            for c in 0..cn {
                let (mut dx, mut dy) = (0i64, 0i64);
                for (ky, &row) in row_at.iter().enumerate() {
                    for (kx, &col) in col_at.iter().enumerate() {
                        let p = img.data[row + col + c] as i64;
                        dx += (smooth[ky] * deriv[kx]) as i64 * p;
                        dy += (deriv[ky] * smooth[kx]) as i64 * p;
                    }
                }
                let m = if l2 { dx * dx + dy * dy } else { dx.abs() + dy.abs() };
                best = best.max(m);
            }
            if best > threshold {
                out[i * w + x] = 255;
            }
        });
    }
    Image::from_vec(w, candidates.height, 1, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::cv_canny;
    use crate::synth::picture;

    /// `strong_among` against OpenCV's own `Canny(high, high)` on the same rows.
    fn check(img: &Image, rows: Range<usize>, low: f64, high: f64, aperture: u32, l2: bool) {
        let candidates = cv_canny(img, low, low, aperture, l2).unwrap().crop_rows(rows.start, rows.end);
        let expected = cv_canny(img, high, high, aperture, l2).unwrap().crop_rows(rows.start, rows.end);
        let got = strong_among(img, rows.clone(), &candidates, high, aperture, l2).unwrap();
        let n = |i: &Image| i.data.iter().filter(|&&v| v != 0).count();
        let case = format!(
            "{}x{}x{} rows {rows:?} low {low} high {high} aperture {aperture} l2 {l2}",
            img.width, img.height, img.channels
        );
        assert!(n(&expected) > 0, "{case}: no strong pixels to compare");
        assert!(n(&candidates) > n(&expected), "{case}: no weak candidates");
        assert!(
            got.data == expected.data,
            "{}x{}x{} rows {rows:?} low {low} high {high} aperture {aperture} l2 {l2}: {} strong pixels, OpenCV {}",
            img.width,
            img.height,
            img.channels,
            n(&got),
            n(&expected)
        );
    }

    #[test]
    fn equals_canny_high_high_for_every_supported_setting() {
        for (w, h, cn, seed) in [(97, 61, 3, 1), (64, 33, 1, 2), (131, 40, 3, 3), (9, 13, 3, 4)] {
            let img = picture(w, h, cn, seed);
            for aperture in [3, 5] {
                for l2 in [false, true] {
                    // Thresholds scale with the kernel's gain (16 times larger at aperture 5).
                    let gain = if aperture == 3 { 1.0 } else { 12.0 };
                    for (low, high) in [(20.0, 60.0), (50.0, 150.5), (100.0, 200.0)] {
                        if (w, h) == (9, 13) && (high > 60.0 || aperture == 5) {
                            continue; // a 9×13 picture holds too few edges for high thresholds
                        }
                        check(&img, 0..h, low * gain, high * gain, aperture, l2);
                    }
                }
            }
        }
    }

    #[test]
    fn rows_inside_the_image_read_their_context_rows() {
        let img = picture(120, 90, 3, 7);
        check(&img, 30..61, 30.0, 90.0, 3, false);
        check(&img, 0..1, 30.0, 90.0, 3, false);
        check(&img, 60..90, 300.0, 900.0, 5, true);
    }

    #[test]
    fn refuses_aperture_7_and_mismatched_candidates() {
        let img = picture(20, 20, 1, 1);
        let c = Image::zeros(20, 20, 1);
        assert!(strong_among(&img, 0..20, &c, 10.0, 7, false).is_err());
        assert!(strong_among(&img, 0..10, &c, 10.0, 3, false).is_err());
        assert!(!strong_among_supported(7));
    }
}
