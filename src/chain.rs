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

    /// Global steps, in order: every rank takes part in each, whatever its share.
    pub fn global_steps(&self) -> impl Iterator<Item = GlobalNeed> + '_ {
        self.0.iter().map(Op::global_need).filter(|g| *g != GlobalNeed::None)
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
