//! One decoded image turned into the model's input, as its sidecar says: to the model's
//! channels (gray, or BGR/RGB), to its size (stretched, or the shorter side resized and the
//! centre cut out, both bilinear with OpenCV's `resize`), then `(sample * scale - mean) / std`
//! in `f32`, laid out NCHW or NHWC. The arithmetic is plain `f32`, one operation at a time, so a
//! numpy reference that does the same steps gets the same bits.

use super::spec::{Channels, Layout, Preprocess, Resize};
use crate::image::{Depth, Image};
use crate::ops::mat_view;
use anyhow::{ensure, Result};
use opencv::core::{Mat, Rect, Size, ToInputArray};
use opencv::imgproc;
use opencv::prelude::*;

/// The model's input for one image: [`Preprocess::len`] values.
pub fn input_of(img: &Image, prep: &Preprocess) -> Result<Vec<f32>> {
    ensure!(img.depth == Depth::U8, "a classifier takes 8-bit images");
    let src = mat_view(img)?;
    let want = prep.channels.count();
    let code = match (img.channels, want) {
        (1, 3) => Some(imgproc::COLOR_GRAY2BGR),
        (3, 1) => Some(imgproc::COLOR_BGR2GRAY),
        (4, 3) => Some(imgproc::COLOR_BGRA2BGR),
        (4, 1) => Some(imgproc::COLOR_BGRA2GRAY),
        _ => None,
    };
    // Only what changes the pixels makes a new buffer: the decoded image is read in place
    // when it already has the model's channels and size.
    let converted = match code {
        Some(code) => {
            let mut m = Mat::default();
            imgproc::cvt_color_def(&src, &mut m, code)?;
            Some(m)
        }
        None => None,
    };
    let sized = match &converted {
        Some(m) => sized(m, prep)?,
        None => sized(&src, prep)?,
    };
    let bytes = match (&sized, &converted) {
        (Some(m), _) | (None, Some(m)) => m.data_bytes()?,
        (None, None) => &img.data[..],
    };
    let (cols, rows) = match (&sized, &converted) {
        (Some(m), _) | (None, Some(m)) => (m.cols() as usize, m.rows() as usize),
        (None, None) => (img.width, img.height),
    };
    let (w, h, c) = (prep.width, prep.height, want);
    ensure!(cols == w && rows == h, "resizing gave the wrong size");
    let mut out = vec![0f32; w * h * c];
    for y in 0..h {
        let row = &bytes[y * w * c..(y + 1) * w * c];
        for x in 0..w {
            for m in 0..c {
                // The model's channel m in the image's BGR order.
                let b = match prep.channels {
                    Channels::Rgb => 2 - m,
                    Channels::Bgr | Channels::Gray => m,
                };
                let v = (f32::from(row[x * c + b]) * prep.scale - prep.mean[m]) / prep.std[m];
                let at = match prep.layout {
                    Layout::Nchw => (m * h + y) * w + x,
                    Layout::Nhwc => (y * w + x) * c + m,
                };
                out[at] = v;
            }
        }
    }
    Ok(out)
}

/// The image at the model's input size; `None` when it already is (nothing to copy).
fn sized(src: &(impl MatTraitConst + ToInputArray), prep: &Preprocess) -> Result<Option<Mat>> {
    let (w, h) = (src.cols() as usize, src.rows() as usize);
    let resized = |nw: usize, nh: usize| -> Result<Mat> {
        let mut dst = Mat::default();
        imgproc::resize(src, &mut dst, Size::new(nw as i32, nh as i32), 0.0, 0.0, imgproc::INTER_LINEAR)?;
        Ok(dst)
    };
    if (w, h) == (prep.width, prep.height) && (prep.resize == Resize::Stretch || prep.resize_to == w.min(h)) {
        return Ok(None);
    }
    match prep.resize {
        Resize::Stretch => resized(prep.width, prep.height).map(Some),
        Resize::ShorterCrop => {
            let s = prep.resize_to as f64 / w.min(h) as f64;
            let nw = ((w as f64 * s).round() as usize).max(prep.width);
            let nh = ((h as f64 * s).round() as usize).max(prep.height);
            let (x0, y0) = ((nw - prep.width) / 2, (nh - prep.height) / 2);
            let rect = Rect::new(x0 as i32, y0 as i32, prep.width as i32, prep.height as i32);
            if (nw, nh) == (w, h) {
                return Ok(Some(Mat::roi(src, rect)?.try_clone()?));
            }
            Ok(Some(Mat::roi(&resized(nw, nh)?, rect)?.try_clone()?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(w: usize, h: usize, channels: Channels, layout: Layout) -> Preprocess {
        let c = channels.count();
        Preprocess {
            width: w,
            height: h,
            resize: Resize::Stretch,
            resize_to: w.max(h),
            scale: 1.0,
            mean: vec![0.0; c],
            std: vec![1.0; c],
            channels,
            layout,
        }
    }

    #[test]
    fn rgb_nchw_puts_red_first_and_nhwc_interleaves() {
        // One BGR pixel (1, 2, 3) and a second (4, 5, 6).
        let img = Image::from_vec(2, 1, 3, vec![1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(input_of(&img, &prep(2, 1, Channels::Rgb, Layout::Nchw)).unwrap(), [3., 6., 2., 5., 1., 4.]);
        assert_eq!(input_of(&img, &prep(2, 1, Channels::Bgr, Layout::Nhwc)).unwrap(), [1., 2., 3., 4., 5., 6.]);
    }

    #[test]
    fn mean_and_std_apply_per_model_channel() {
        let img = Image::from_vec(1, 1, 3, vec![10, 20, 30]).unwrap();
        let mut p = prep(1, 1, Channels::Rgb, Layout::Nchw);
        p.mean = vec![30.0, 20.0, 10.0];
        p.std = vec![2.0, 4.0, 5.0];
        assert_eq!(input_of(&img, &p).unwrap(), [0.0, 0.0, 0.0]);
        p.mean = vec![0.0; 3];
        assert_eq!(input_of(&img, &p).unwrap(), [15.0, 5.0, 2.0]);
    }

    #[test]
    fn shorter_crop_keeps_the_centre() {
        // 6x2, the middle two columns white: resized shorter side 2 (no change), centre 2x2 cut.
        let mut data = vec![0u8; 6 * 2];
        for y in 0..2 {
            data[y * 6 + 2] = 255;
            data[y * 6 + 3] = 255;
        }
        let img = Image::from_vec(6, 2, 1, data).unwrap();
        let mut p = prep(2, 2, Channels::Gray, Layout::Nchw);
        p.resize = Resize::ShorterCrop;
        p.resize_to = 2;
        assert_eq!(input_of(&img, &p).unwrap(), [255.0; 4]);
    }
}
