//! `OpChain`: the ordered list of ops a job applies in one pass, parsed from the text users type
//! (`gray,gaussian:ksize=7:sigma=1.5,canny`), with the halo arithmetic the splitter needs.

use crate::ops::{GlobalNeed, Op};
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};

/// Ops applied left to right.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpChain(pub Vec<Op>);

impl OpChain {
    /// Parses `op[:key=value...][,op...]`. Each op starts from `defaults` when that list has an op
    /// of the same name (the CLI's `--blur-ksize` style flags), else from its built-in defaults.
    pub fn parse(spec: &str, defaults: &[Op]) -> Result<OpChain> {
        let mut ops = Vec::new();
        for part in spec.split(',').map(str::trim) {
            ensure!(!part.is_empty(), "empty operation in '{spec}'");
            let mut fields = part.split(':');
            let name = fields.next().unwrap_or_default().trim();
            let mut op = match defaults.iter().find(|d| d.name() == name) {
                Some(d) => d.clone(),
                None => Op::default_for(name)?,
            };
            for kv in fields {
                let (k, v) =
                    kv.split_once('=').with_context(|| format!("{name}: parameter '{kv}' is not key=value"))?;
                op.set_param(k.trim(), v.trim())?;
            }
            op.validate()?;
            ops.push(op);
        }
        Ok(OpChain(ops))
    }

    /// Rows of halo the whole chain needs: each op reads its halo from the previous op's output.
    pub fn total_halo(&self) -> usize {
        self.0.iter().map(Op::halo).sum()
    }

    /// Halo still needed by the ops after op `i`.
    pub fn halo_after(&self, i: usize) -> usize {
        self.0[i + 1..].iter().map(Op::halo).sum()
    }

    /// Channels of the final result.
    pub fn out_channels(&self, channels: usize) -> usize {
        self.0.iter().fold(channels, |c, op| op.out_channels(c))
    }

    /// What of a 16-bit or RGBA input the whole chain keeps: what every op keeps (`Op::keeps`).
    pub fn keeps(&self) -> crate::image::Keep {
        self.0.iter().fold(crate::image::Keep::ALL, |k, op| k.and(op.keeps()))
    }

    /// Global steps, in order: every rank takes part in each, whatever its share.
    pub fn global_steps(&self) -> impl Iterator<Item = GlobalNeed> + '_ {
        self.0.iter().map(Op::global_need).filter(|g| *g != GlobalNeed::None)
    }

    /// Rank 0's share of a streamed image's rows when it decodes for every rank: the largest share
    /// an op of the chain asks for (`OpSpec::streamed_rank0_share`), `None` when no op asks.
    pub fn streamed_rank0_share(&self) -> Option<f64> {
        self.0.iter().filter_map(|op| op.spec().streamed_rank0_share).reduce(f64::max)
    }

    /// Width and height of the result for a `width`×`height` input (resize changes them).
    pub fn out_size(&self, width: usize, height: usize) -> (usize, usize) {
        self.0.iter().fold((width, height), |(w, h), op| op.resized(w, h))
    }

    /// Whether some op needs the whole image at once (resize): see [`OpChain::stages`].
    pub fn has_whole_image_steps(&self) -> bool {
        self.0.iter().any(|op| op.global_need() == GlobalNeed::Resample)
    }

    /// The chain cut at each op that needs the whole image at once: runs of ops that strips
    /// compute exactly, and between them the whole-image ops, in order. Empty runs are left out.
    pub fn stages(&self) -> Vec<Stage> {
        let mut stages = Vec::new();
        let mut run = Vec::new();
        for op in &self.0 {
            if op.global_need() == GlobalNeed::Resample {
                if !run.is_empty() {
                    stages.push(Stage::Strips(OpChain(std::mem::take(&mut run))));
                }
                stages.push(Stage::Whole(op.clone()));
            } else {
                run.push(op.clone());
            }
        }
        if !run.is_empty() {
            stages.push(Stage::Strips(OpChain(run)));
        }
        stages
    }

    /// How this chain runs on one image over `ranks` ranks, in words (the `--json` summary's `plan`).
    pub fn plan(&self, ranks: usize) -> String {
        let mut text = format!("rows split over {ranks} rank(s)");
        if self.has_whole_image_steps() {
            text.push_str(
                "; each resize on the whole image on rank 0 (rows gathered before it, split again after it): \
                 cv::resize of a strip cannot be shown to equal the rows of cv::resize of the image",
            );
        }
        text
    }

    /// Runs the plain OpenCV calls on a whole image, one after the other: the reference result.
    pub fn apply_reference(&self, img: &crate::image::Image) -> Result<crate::image::Image> {
        let Some((first, rest)) = self.0.split_first() else { return Ok(img.clone()) };
        let mut cur = first.apply_reference(img)?;
        for op in rest {
            cur = op.apply_reference(&cur)?;
        }
        Ok(cur)
    }
}

/// One part of a chain as it runs (see [`OpChain::stages`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// Ops that run split by rows, exactly (halos and the global steps).
    Strips(OpChain),
    /// An op that runs on the whole image in one call on rank 0: cv::resize. An output row of
    /// cv::resize comes from a source position OpenCV computes in floating point from the
    /// whole image's scale (rounded to float, then to 1/2048 for linear and cubic); a call on a
    /// strip has another scale and origin and may round a coefficient the other way, so no strip
    /// plan can be shown exact. The rows are gathered instead, which is exact by definition.
    Whole(Op),
}

impl std::fmt::Display for OpChain {
    /// The canonical spelling, with every parameter: parsing it gives the same chain back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, op) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ",")?;
            }
            write!(f, "{}", op.name())?;
            for (k, v) in op.params() {
                write!(f, ":{k}={v}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_chain_with_inline_parameters() {
        let c = OpChain::parse("gray, gaussian:ksize=7:sigma=1.5 ,canny", &[]).unwrap();
        assert_eq!(c.0.len(), 3);
        assert_eq!(c.0[1], Op::Gaussian { ksize: 7, sigma: 1.5 });
        assert_eq!(c.total_halo(), 3 + 2);
        assert_eq!(c.halo_after(0), 5);
        assert_eq!(c.halo_after(2), 0);
        assert_eq!(c.out_channels(3), 1);
    }

    #[test]
    fn flag_defaults_apply_and_inline_values_override_them() {
        let defaults = [Op::Blur { ksize: 9 }];
        let c = OpChain::parse("blur,blur:ksize=3", &defaults).unwrap();
        assert_eq!(c.0, vec![Op::Blur { ksize: 9 }, Op::Blur { ksize: 3 }]);
    }

    #[test]
    fn stages_cut_the_chain_at_each_resize() {
        let c = OpChain::parse("gray,blur,resize:scale=0.5,median,resize:width=9", &[]).unwrap();
        let stages = c.stages();
        assert_eq!(stages.len(), 4);
        assert_eq!(stages[0], Stage::Strips(OpChain::parse("gray,blur", &[]).unwrap()));
        assert!(matches!(stages[1], Stage::Whole(Op::Resize { .. })));
        assert_eq!(c.out_size(100, 40), (9, 4));
        assert_eq!(OpChain::parse("resize", &[]).unwrap().stages().len(), 1);
        assert!(!OpChain::parse("blur", &[]).unwrap().has_whole_image_steps());
    }

    #[test]
    fn display_round_trips_through_parse() {
        let c = OpChain::parse("bilateral:d=5,canny:l2=true,contrast-stretch,bw:threshold=100", &[]).unwrap();
        assert_eq!(OpChain::parse(&c.to_string(), &[]).unwrap(), c);
    }

    #[test]
    fn errors_name_the_bad_part() {
        assert!(OpChain::parse("blur,,gray", &[]).is_err());
        let e = OpChain::parse("blurr", &[]).unwrap_err().to_string();
        assert!(e.contains("blurr"), "{e}");
        let e = format!("{:#}", OpChain::parse("median:ksize=4", &[]).unwrap_err());
        assert!(e.contains("median"), "{e}");
        assert!(OpChain::parse("gray:x", &[]).is_err());
    }
}
