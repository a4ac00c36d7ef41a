//! Which ops take what an 8-bit gray or colour image has not: 16-bit samples and an alpha
//! channel. A file keeps its depth (or its alpha) through a job only when every op of the chain
//! takes it (`OpChain::keeps`); otherwise it is reduced to 8-bit gray or colour before the
//! first op, the same way for the ranks and the one-process reference, and the faces say so.
//!
//! Depth: OpenCV's filters take 16-bit samples (cv::blur, cv::GaussianBlur, cv::medianBlur for
//! ksize 3 and 5 only, cv::resize, cv::cvtColor, bitwise not); cv::bilateralFilter takes 8-bit or
//! float only, Canny 8-bit only, and brightness, bw and contrast-stretch count in 0–255 levels.
//! Alpha: the smoothing filters and resize treat it as a fourth channel (it is blurred, resized
//! with the colour); ops that change colour values (invert, brightness, gray, bw,
//! contrast-stretch) or make edges would have to decide what alpha becomes, so they drop it.

use super::{Op, OpKind};
use crate::image::{Depth, Image, Keep};
use anyhow::{ensure, Result};

impl Op {
    /// What of a 16-bit or RGBA input this op keeps (exhaustive: a new op must decide).
    pub fn keeps(&self) -> Keep {
        match *self {
            Op::Blur { .. } | Op::Gaussian { .. } | Op::Resize { .. } => Keep::ALL,
            Op::Median { ksize } => Keep { depth16: ksize <= 5, alpha: true },
            Op::Invert | Op::Gray => Keep { depth16: true, alpha: false },
            Op::Bilateral { .. } | Op::Canny { .. } | Op::Brightness { .. } | Op::Bw { .. } | Op::ContrastStretch => {
                Keep::NONE
            }
        }
    }

    /// Refuses an image this op does not take (the chain reduces it before: see [`Op::keeps`]).
    pub(super) fn check_takes(&self, img: &Image) -> Result<()> {
        let keeps = self.keeps();
        ensure!(img.depth == Depth::U8 || keeps.depth16, "{} takes 8-bit images only", self.name());
        ensure!(img.channels != 4 || keeps.alpha, "{} takes no alpha channel", self.name());
        Ok(())
    }
}

impl OpKind {
    /// What `imgproc ops` says the op keeps of a 16-bit or RGBA file.
    pub fn keeps_text(self) -> &'static str {
        match self {
            OpKind::Blur | OpKind::Gaussian | OpKind::Resize => "16-bit samples and alpha",
            OpKind::Median => "alpha, and 16-bit samples with ksize 3 or 5",
            OpKind::Invert | OpKind::Gray => "16-bit samples (drops alpha)",
            OpKind::Bilateral | OpKind::Canny | OpKind::Brightness | OpKind::Bw | OpKind::ContrastStretch => {
                "8-bit gray or colour only"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Depth;

    /// A 16-bit BGRA picture with values across the whole range.
    fn deep(w: usize, h: usize, channels: usize) -> Image {
        let data = (0..w * h * channels).flat_map(|i| (((i * 7919) % 65536) as u16).to_ne_bytes()).collect();
        Image::from_vec_as(w, h, channels, Depth::U16, data).unwrap()
    }

    #[test]
    fn every_op_that_keeps_16_bit_or_alpha_runs_on_it_and_keeps_it_and_the_others_refuse_it() {
        for &kind in super::super::OpKind::ALL {
            let op = kind.default_op();
            for (channels, wants) in [(3, Keep { depth16: true, alpha: false }), (4, Keep::ALL)] {
                let img = deep(23, 17, channels);
                let takes = (!wants.depth16 || op.keeps().depth16) && (!wants.alpha || op.keeps().alpha);
                let out = op.apply_reference(&img);
                match (takes, out) {
                    (true, Ok(out)) => {
                        assert_eq!(out.depth, Depth::U16, "{}", kind.name());
                        assert_eq!(out.channels, op.out_channels(channels), "{}", kind.name());
                    }
                    (false, Err(_)) => {}
                    (true, Err(e)) => panic!("{} on {channels} channels of 16 bits: {e:#}", kind.name()),
                    (false, Ok(_)) => panic!("{} ran on what it says it does not take", kind.name()),
                }
            }
        }
    }

    #[test]
    fn what_imgproc_ops_says_an_op_keeps_is_what_it_keeps() {
        for &kind in super::super::OpKind::ALL {
            let (k, text) = (kind.default_op().keeps(), kind.keeps_text());
            assert_eq!(text.contains("16-bit"), k.depth16, "{}", kind.name());
            assert_eq!(text.contains("alpha") && !text.contains("drops alpha"), k.alpha, "{}", kind.name());
        }
        assert!(!Op::Median { ksize: 7 }.keeps().depth16);
    }

    #[test]
    fn a_16_bit_invert_is_65535_minus_the_value() {
        let img =
            Image::from_vec_as(2, 1, 1, Depth::U16, [1000u16, 65535].iter().flat_map(|v| v.to_ne_bytes()).collect())
                .unwrap();
        let out = Op::Invert.apply_reference(&img).unwrap();
        let values: Vec<u16> = out.data.chunks_exact(2).map(|s| u16::from_ne_bytes([s[0], s[1]])).collect();
        assert_eq!(values, [64535, 0]);
    }
}
