//! The image operations: their parameters, how many rows of context (halo) each needs, whether it
//! needs a global step, and the OpenCV calls that do the work.
//!
//! Pure: no MPI, no files. Two ways to run an op live here:
//! - [`Op::apply_reference`] runs the plain OpenCV call on a whole image: the ground truth every
//!   distributed result must equal byte for byte;
//! - [`Op::apply_local`] runs the part of an op that needs no global knowledge on one strip. For the
//!   two global ops it yields the raw material of the global step (`exec` and `global` do the rest).

use crate::image::Image;
use anyhow::{bail, ensure, Context, Result};
use opencv::core::{self, Mat, Point, Size, Vec3b, BORDER_DEFAULT};
use opencv::imgproc;
use opencv::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// One operation with its parameters. Defaults equal the original system's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// Normalised box filter, `ksize`×`ksize`.
    Blur { ksize: u32 },
    /// Gaussian filter; `sigma` 0 derives it from `ksize` as OpenCV does.
    Gaussian { ksize: u32, sigma: f64 },
    /// Median filter over a `ksize`×`ksize` window.
    Median { ksize: u32 },
    /// Edge-preserving bilateral filter; `d` is the neighbourhood diameter.
    Bilateral { d: u32, sigma_color: f64, sigma_space: f64 },
    /// Canny edges on the image as given (colour uses the strongest channel's gradient).
    Canny { low: f64, high: f64, aperture: u32, l2: bool },
    /// 255 − value, per channel.
    Invert,
    /// value × factor + offset, absolute value, saturated to 0..255 (OpenCV's convertScaleAbs).
    Brightness { factor: f64, offset: f64 },
    /// BGR to one gray channel (gray input stays as it is).
    Gray,
    /// Gray, then 255 where value > threshold, else 0.
    Bw { threshold: f64 },
    /// Histogram equalisation over all channels of the whole image (see `global::stretch_lut`).
    ContrastStretch,
}

/// What an op needs beyond its own rows and halo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalNeed {
    /// Pixel-local or neighbourhood-only: a strip with its halo is enough.
    None,
    /// The histogram of the whole image (contrast-stretch).
    Histogram,
    /// Hysteresis across the whole image (Canny).
    Hysteresis,
}

/// The names users type, in the order `imgproc ops` lists them.
pub const OP_NAMES: [&str; 10] =
    ["blur", "gaussian", "median", "bilateral", "canny", "invert", "brightness", "gray", "bw", "contrast-stretch"];

impl Op {
    /// The op called `name` with its default parameters.
    pub fn default_for(name: &str) -> Result<Op> {
        Ok(match name {
            "blur" => Op::Blur { ksize: 5 },
            "gaussian" => Op::Gaussian { ksize: 5, sigma: 0.0 },
            "median" => Op::Median { ksize: 5 },
            "bilateral" => Op::Bilateral { d: 9, sigma_color: 75.0, sigma_space: 75.0 },
            "canny" => Op::Canny { low: 100.0, high: 200.0, aperture: 3, l2: false },
            "invert" => Op::Invert,
            "brightness" => Op::Brightness { factor: 1.5, offset: 0.0 },
            "gray" => Op::Gray,
            "bw" => Op::Bw { threshold: 127.0 },
            "contrast-stretch" => Op::ContrastStretch,
            other => bail!("unknown operation '{other}' (known: {})", OP_NAMES.join(", ")),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Op::Blur { .. } => "blur",
            Op::Gaussian { .. } => "gaussian",
            Op::Median { .. } => "median",
            Op::Bilateral { .. } => "bilateral",
            Op::Canny { .. } => "canny",
            Op::Invert => "invert",
            Op::Brightness { .. } => "brightness",
            Op::Gray => "gray",
            Op::Bw { .. } => "bw",
            Op::ContrastStretch => "contrast-stretch",
        }
    }

    /// The parameters as `(name, value)` pairs, in the spelling `chain::parse` accepts.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        match *self {
            Op::Blur { ksize } | Op::Median { ksize } => vec![("ksize", ksize.to_string())],
            Op::Gaussian { ksize, sigma } => vec![("ksize", ksize.to_string()), ("sigma", sigma.to_string())],
            Op::Bilateral { d, sigma_color, sigma_space } => vec![
                ("d", d.to_string()),
                ("sigma-color", sigma_color.to_string()),
                ("sigma-space", sigma_space.to_string()),
            ],
            Op::Canny { low, high, aperture, l2 } => vec![
                ("low", low.to_string()),
                ("high", high.to_string()),
                ("aperture", aperture.to_string()),
                ("l2", l2.to_string()),
            ],
            Op::Brightness { factor, offset } => vec![("factor", factor.to_string()), ("offset", offset.to_string())],
            Op::Bw { threshold } => vec![("threshold", threshold.to_string())],
            Op::Invert | Op::Gray | Op::ContrastStretch => vec![],
        }
    }

    /// Sets one parameter from text; the error names the op, the parameter and the reason.
    pub fn set_param(&mut self, key: &str, value: &str) -> Result<()> {
        let name = self.name();
        let bad = || format!("{name}: bad value '{value}' for '{key}'");
        match (self, key) {
            (Op::Blur { ksize } | Op::Median { ksize } | Op::Gaussian { ksize, .. }, "ksize") => {
                *ksize = value.parse().with_context(bad)?
            }
            (Op::Gaussian { sigma, .. }, "sigma") => *sigma = value.parse().with_context(bad)?,
            (Op::Bilateral { d, .. }, "d") => *d = value.parse().with_context(bad)?,
            (Op::Bilateral { sigma_color, .. }, "sigma-color") => *sigma_color = value.parse().with_context(bad)?,
            (Op::Bilateral { sigma_space, .. }, "sigma-space") => *sigma_space = value.parse().with_context(bad)?,
            (Op::Canny { low, .. }, "low") => *low = value.parse().with_context(bad)?,
            (Op::Canny { high, .. }, "high") => *high = value.parse().with_context(bad)?,
            (Op::Canny { aperture, .. }, "aperture") => *aperture = value.parse().with_context(bad)?,
            (Op::Canny { l2, .. }, "l2") => *l2 = value.parse().with_context(bad)?,
            (Op::Brightness { factor, .. }, "factor") => *factor = value.parse().with_context(bad)?,
            (Op::Brightness { offset, .. }, "offset") => *offset = value.parse().with_context(bad)?,
            (Op::Bw { threshold }, "threshold") => *threshold = value.parse().with_context(bad)?,
            (op, _) => {
                let known: Vec<_> = op.params().into_iter().map(|(k, _)| k).collect();
                bail!(
                    "{name} has no parameter '{key}' (it has: {})",
                    if known.is_empty() { "none".into() } else { known.join(", ") }
                )
            }
        }
        Ok(())
    }

    /// Checks the parameters against what OpenCV accepts, so a bad value fails before any work starts.
    pub fn validate(&self) -> Result<()> {
        let name = self.name();
        let finite = |v: f64, what: &str| -> Result<()> {
            ensure!(v.is_finite(), "{name}: {what} must be a finite number, not {v}");
            Ok(())
        };
        match *self {
            Op::Blur { ksize } => ensure!((1..=255).contains(&ksize), "blur: ksize must be 1..255, not {ksize}"),
            Op::Gaussian { ksize, sigma } => {
                ensure!(ksize % 2 == 1 && ksize <= 255, "gaussian: ksize must be odd and at most 255, not {ksize}");
                finite(sigma, "sigma")?;
                ensure!(sigma >= 0.0, "gaussian: sigma must be ≥ 0 (0 derives it from ksize), not {sigma}");
            }
            Op::Median { ksize } => {
                ensure!(ksize % 2 == 1 && ksize <= 255, "median: ksize must be odd and at most 255, not {ksize}")
            }
            Op::Bilateral { d, sigma_color, sigma_space } => {
                ensure!((1..=64).contains(&d), "bilateral: d must be 1..64, not {d}");
                finite(sigma_color, "sigma-color")?;
                finite(sigma_space, "sigma-space")?;
                ensure!(sigma_color > 0.0 && sigma_space > 0.0, "bilateral: sigmas must be > 0");
            }
            Op::Canny { low, high, aperture, .. } => {
                finite(low, "low")?;
                finite(high, "high")?;
                ensure!(low >= 0.0 && high >= 0.0, "canny: thresholds must be ≥ 0");
                ensure!(matches!(aperture, 3 | 5 | 7), "canny: aperture must be 3, 5 or 7, not {aperture}");
            }
            Op::Brightness { factor, offset } => {
                finite(factor, "factor")?;
                finite(offset, "offset")?;
            }
            Op::Bw { threshold } => finite(threshold, "threshold")?,
            Op::Invert | Op::Gray | Op::ContrastStretch => {}
        }
        Ok(())
    }

    /// Rows of context above and below each output row that the op reads.
    pub fn halo(&self) -> usize {
        match *self {
            Op::Blur { ksize } | Op::Gaussian { ksize, .. } | Op::Median { ksize } => ksize as usize / 2,
            // OpenCV raises a radius of 0 to 1 (`radius = MAX(d/2, 1)` in bilateralFilter).
            Op::Bilateral { d, .. } => (d as usize / 2).max(1),
            // Sobel reads aperture/2 rows; non-maximum suppression then compares with the gradient
            // magnitude one row up and down.
            Op::Canny { aperture, .. } => aperture as usize / 2 + 1,
            Op::Invert | Op::Brightness { .. } | Op::Gray | Op::Bw { .. } | Op::ContrastStretch => 0,
        }
    }

    /// Whether OpenCV makes a working copy of the whole input for this op (a bordered copy for
    /// bilateral and the medians above 5×5, the gradients of every channel for Canny): such ops
    /// are applied a chunk of rows at a time, so that copy stays small (see [`in_row_chunks`]).
    pub fn needs_large_scratch(&self) -> bool {
        match *self {
            Op::Bilateral { .. } | Op::Canny { .. } => true,
            Op::Median { ksize } => ksize > 5,
            _ => false,
        }
    }

    pub fn global_need(&self) -> GlobalNeed {
        match self {
            Op::ContrastStretch => GlobalNeed::Histogram,
            Op::Canny { .. } => GlobalNeed::Hysteresis,
            _ => GlobalNeed::None,
        }
    }

    /// Channels of the result for an input with `channels` channels.
    pub fn out_channels(&self, channels: usize) -> usize {
        match self {
            Op::Gray | Op::Bw { .. } | Op::Canny { .. } => 1,
            _ => channels,
        }
    }

    /// The plain OpenCV call on a whole image: the reference result.
    pub fn apply_reference(&self, img: &Image) -> Result<Image> {
        match *self {
            Op::ContrastStretch => {
                let lut = crate::global::stretch_lut(&crate::global::histogram(&img.data));
                Ok(crate::global::apply_lut(img, &lut))
            }
            Op::Canny { low, high, aperture, l2 } => cv_canny(img, low, high, aperture, l2),
            _ => self.apply_local(img),
        }
    }

    /// Applies a purely local op (one with [`GlobalNeed::None`]) to a strip or whole image.
    /// Border rows are treated as OpenCV treats an image edge, so callers trim the halo afterwards.
    pub fn apply_local(&self, img: &Image) -> Result<Image> {
        self.apply_local_rows(img, 0..img.height)
    }

    /// [`Op::apply_local`] on rows `rows` of `img` alone, as if they were the whole image, without
    /// copying them (OpenCV reads them in place).
    pub fn apply_local_rows(&self, img: &Image, rows: Range<usize>) -> Result<Image> {
        let out_ch = self.out_channels(img.channels);
        if rows.is_empty() || img.width == 0 {
            return Ok(Image::zeros(img.width, rows.len(), out_ch));
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
            Op::Canny { .. } | Op::ContrastStretch => {
                bail!("{} needs a global step and cannot run on a strip alone", self.name())
            }
        };
        result.with_context(|| {
            format!("applying {} to a {}x{}x{} image", self.name(), img.width, rows.len(), img.channels)
        })
    }
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

/// `Canny(t, t)` of rows `rows` of `img`, computed at most `chunk_rows` output rows at a time.
///
/// With equal thresholds Canny's hysteresis has nothing to follow: a pixel is an edge exactly when
/// its gradient passes the threshold and non-maximum suppression, which read only the rows within
/// [`Op::halo`] of it. So Canny is then as local as a filter and [`in_row_chunks`] applies.
pub fn canny_local_rows(
    img: &Image,
    rows: Range<usize>,
    threshold: f64,
    aperture: u32,
    l2: bool,
    chunk_rows: usize,
) -> Result<Image> {
    let halo = Op::Canny { low: threshold, high: threshold, aperture, l2 }.halo();
    in_row_chunks(img, rows, halo, chunk_rows, 1, |r| cv_canny_rows(img, r, threshold, threshold, aperture, l2))
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
    let mut out = Vec::with_capacity(rows.len() * img.width * out_ch);
    let mut start = rows.start;
    while start < rows.end {
        let end = (start + chunk_rows).min(rows.end);
        let input = context(start, end);
        let part = compute(input.clone())?;
        out.extend_from_slice(part.rows(start - input.start, end - input.start));
        start = end;
    }
    Image::from_vec(img.width, rows.len(), out_ch, out)
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
    let mut out = Image::zeros(src.width, rows.len(), out_ch);
    {
        let src_mat = mat_of(src.rows(rows.start, rows.end), rows.len(), src.width, src.channels)?;
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
    mat_of(&img.data, img.height, img.width, img.channels)
}

/// A `Mat` header over `height` rows of interleaved pixels.
fn mat_of(data: &[u8], height: usize, width: usize, channels: usize) -> Result<MatRef<'_>> {
    let (h, w) = (height as i32, width as i32);
    Ok(match channels {
        1 => Mat::new_rows_cols_with_bytes::<u8>(h, w, data)?,
        3 => Mat::new_rows_cols_with_bytes::<Vec3b>(h, w, data)?,
        c => bail!("unsupported channel count {c}"),
    })
}

/// A mutable `Mat` header borrowing the image's pixels.
pub fn mat_view_mut(img: &mut Image) -> Result<MatMut<'_>> {
    let (h, w) = (img.height as i32, img.width as i32);
    Ok(match img.channels {
        1 => Mat::new_rows_cols_with_bytes_mut::<u8>(h, w, &mut img.data)?,
        3 => Mat::new_rows_cols_with_bytes_mut::<Vec3b>(h, w, &mut img.data)?,
        c => bail!("unsupported channel count {c}"),
    })
}

/// Sets how many threads OpenCV may use in this process. imgproc's parallelism is its ranks, so
/// each rank uses one thread by default and a hostfile gives one slot per core.
pub fn set_opencv_threads(n: usize) -> Result<()> {
    core::set_num_threads(n as i32).context("setting OpenCV's thread count")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize, ch: usize) -> Image {
        let data = (0..w * h * ch).map(|i| ((i * 37) % 251) as u8).collect();
        Image::from_vec(w, h, ch, data).unwrap()
    }

    #[test]
    fn every_named_op_has_defaults_and_valid_parameters() {
        for name in OP_NAMES {
            let op = Op::default_for(name).unwrap();
            assert_eq!(op.name(), name);
            op.validate().unwrap();
        }
        assert!(Op::default_for("sharpen").is_err());
    }

    #[test]
    fn defaults_match_the_original_system() {
        assert_eq!(Op::default_for("blur").unwrap(), Op::Blur { ksize: 5 });
        assert_eq!(Op::default_for("bilateral").unwrap(), Op::Bilateral { d: 9, sigma_color: 75.0, sigma_space: 75.0 });
        assert_eq!(Op::default_for("canny").unwrap(), Op::Canny { low: 100.0, high: 200.0, aperture: 3, l2: false });
        assert_eq!(Op::default_for("brightness").unwrap(), Op::Brightness { factor: 1.5, offset: 0.0 });
        assert_eq!(Op::default_for("bw").unwrap(), Op::Bw { threshold: 127.0 });
    }

    #[test]
    fn halos_follow_kernel_sizes() {
        assert_eq!(Op::Blur { ksize: 5 }.halo(), 2);
        assert_eq!(Op::Bilateral { d: 9, sigma_color: 1.0, sigma_space: 1.0 }.halo(), 4);
        assert_eq!(Op::default_for("canny").unwrap().halo(), 2);
        assert_eq!(Op::Invert.halo(), 0);
    }

    #[test]
    fn invalid_parameters_are_refused_with_the_op_name() {
        let err = Op::Gaussian { ksize: 4, sigma: 0.0 }.validate().unwrap_err();
        assert!(err.to_string().contains("gaussian"), "{err}");
        assert!(Op::Median { ksize: 0 }.validate().is_err());
        assert!(Op::Canny { low: 1.0, high: 2.0, aperture: 4, l2: false }.validate().is_err());
        let mut op = Op::default_for("blur").unwrap();
        assert!(op.set_param("sigma", "2").unwrap_err().to_string().contains("ksize"));
        assert!(op.set_param("ksize", "x").is_err());
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
