//! The image operations: [`Op`] with its typed parameters, what each op needs (halo, global step,
//! scratch memory, output channels), and reading, setting and checking parameters by name.
//!
//! Pure: no MPI, no files, no GUI. Three files, one concern each:
//! - `registry`: one [`OpSpec`] per op (name, description, parameters with default, range, unit and
//!   help): what the CLI, `imgproc ops`, the GUI editor and the property tests are built from;
//! - this file: `Op` itself, the map from registry parameters to its fields, and what an op needs;
//! - `apply`: the OpenCV calls;
//! - `gradient`: Canny's strong pixels among its candidates (split hysteresis without a second pass);
//! - `keeps`: which ops take 16-bit samples and alpha. Every `match` over ops is exhaustive (no
//!   `_ =>`), so an op added to the enum without its halo, fields or OpenCV call does not compile.

mod apply;
mod gradient;
mod keeps;
mod registry;

pub use apply::{
    canny_map_rows, cv_canny, cv_resize, in_row_chunks, in_row_chunks_in_place, in_row_chunks_in_place_as_ready,
    mat_view, mat_view_mut, MatMut, MatRef,
};
pub use gradient::{strong_among, strong_among_supported};
pub use registry::{OpKind, OpSpec, OutChannels, ParamKind, ParamSpec, ParamValue, Rule};

use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};

/// One operation with its parameters. Defaults (see [`OpKind::default_op`]) equal the original
/// system's. The serde form (`{"op": "blur", "ksize": 5}`) is what the GUI saves: keep it stable.
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
    /// cv::resize to the size [`Op::resized`] gives; `interpolation` is OpenCV's `INTER_*` number.
    Resize { width: u32, height: u32, scale: f64, keep_aspect: bool, interpolation: u32 },
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
    /// The whole image at once (resize): its rows are gathered and it runs in one call, because
    /// no strip of cv::resize's output can be computed exactly from a strip of its input (see
    /// `exec::stages`).
    Resample,
}

/// The names users type, in the order `imgproc ops` lists them (derived from [`OpKind::ALL`]).
pub const OP_NAMES: [&str; OpKind::ALL.len()] = {
    let mut names = [""; OpKind::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = OpKind::ALL[i].name();
        i += 1;
    }
    names
};

/// A parameter that is wrong, and why: the GUI shows the reason next to the field.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamProblem {
    /// The parameter's name as in its [`ParamSpec`].
    pub param: &'static str,
    /// Reads after the name: "must be odd, not 4".
    pub reason: String,
}

impl OpKind {
    /// The op with the registry's default parameters.
    pub fn default_op(self) -> Op {
        // The fields are placeholders: the registry's defaults are written over them just below,
        // so the defaults live in one place.
        let mut op = match self {
            OpKind::Blur => Op::Blur { ksize: 0 },
            OpKind::Gaussian => Op::Gaussian { ksize: 0, sigma: 0.0 },
            OpKind::Median => Op::Median { ksize: 0 },
            OpKind::Bilateral => Op::Bilateral { d: 0, sigma_color: 0.0, sigma_space: 0.0 },
            OpKind::Canny => Op::Canny { low: 0.0, high: 0.0, aperture: 0, l2: false },
            OpKind::Invert => Op::Invert,
            OpKind::Brightness => Op::Brightness { factor: 0.0, offset: 0.0 },
            OpKind::Gray => Op::Gray,
            OpKind::Bw => Op::Bw { threshold: 0.0 },
            OpKind::ContrastStretch => Op::ContrastStretch,
            OpKind::Resize => Op::Resize { width: 0, height: 0, scale: 0.0, keep_aspect: false, interpolation: 0 },
        };
        for p in self.spec().params {
            op.set(p.name, p.default).expect("registry defaults fit their fields");
        }
        op
    }
}

/// One parameter field of an [`Op`], borrowed to read or write it.
enum Field<'a> {
    Int(&'a mut u32),
    Float(&'a mut f64),
    Bool(&'a mut bool),
}

impl Op {
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Blur { .. } => OpKind::Blur,
            Op::Gaussian { .. } => OpKind::Gaussian,
            Op::Median { .. } => OpKind::Median,
            Op::Bilateral { .. } => OpKind::Bilateral,
            Op::Canny { .. } => OpKind::Canny,
            Op::Invert => OpKind::Invert,
            Op::Brightness { .. } => OpKind::Brightness,
            Op::Gray => OpKind::Gray,
            Op::Bw { .. } => OpKind::Bw,
            Op::ContrastStretch => OpKind::ContrastStretch,
            Op::Resize { .. } => OpKind::Resize,
        }
    }

    /// The op's registry entry.
    pub fn spec(&self) -> &'static OpSpec {
        self.kind().spec()
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The parameter fields, in the order of the registry's `params` (checked by a test that
    /// compares them with the serde field names).
    fn fields(&mut self) -> Vec<Field<'_>> {
        match self {
            Op::Blur { ksize } | Op::Median { ksize } => vec![Field::Int(ksize)],
            Op::Gaussian { ksize, sigma } => vec![Field::Int(ksize), Field::Float(sigma)],
            Op::Bilateral { d, sigma_color, sigma_space } => {
                vec![Field::Int(d), Field::Float(sigma_color), Field::Float(sigma_space)]
            }
            Op::Canny { low, high, aperture, l2 } => {
                vec![Field::Float(low), Field::Float(high), Field::Int(aperture), Field::Bool(l2)]
            }
            Op::Brightness { factor, offset } => vec![Field::Float(factor), Field::Float(offset)],
            Op::Bw { threshold } => vec![Field::Float(threshold)],
            Op::Resize { width, height, scale, keep_aspect, interpolation } => vec![
                Field::Int(width),
                Field::Int(height),
                Field::Float(scale),
                Field::Bool(keep_aspect),
                Field::Int(interpolation),
            ],
            Op::Invert | Op::Gray | Op::ContrastStretch => vec![],
        }
    }

    /// The field of parameter `name`, or an error listing the op's parameters.
    fn field(&mut self, name: &str) -> Result<(&'static ParamSpec, Field<'_>)> {
        let spec = self.spec();
        let index = spec
            .params
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| anyhow!("{} has no parameter '{name}' (it has: {})", spec.name, spec.param_names()))?;
        let field = self.fields().into_iter().nth(index).expect("one field per registry parameter");
        Ok((&spec.params[index], field))
    }

    /// The op called `name` with its default parameters.
    pub fn default_for(name: &str) -> Result<Op> {
        match OpKind::from_name(name) {
            Some(kind) => Ok(kind.default_op()),
            None => bail!("unknown operation '{name}' (known: {})", OP_NAMES.join(", ")),
        }
    }

    /// The value of parameter `name`.
    ///
    /// # Panics
    /// When the op has no such parameter: callers take names from [`Op::spec`].
    pub fn get(&self, name: &str) -> ParamValue {
        let mut op = self.clone();
        let (_, field) = op.field(name).unwrap_or_else(|e| panic!("{e}"));
        match field {
            Field::Int(v) => ParamValue::Int(i64::from(*v)),
            Field::Float(v) => ParamValue::Float(*v),
            Field::Bool(v) => ParamValue::Bool(*v),
        }
    }

    /// Sets parameter `name`. Refuses a value the field cannot hold (a fraction or a negative
    /// kernel size, a number for a flag); range and combinations are left to [`Op::validate`],
    /// so an editor can hold an invalid value and show why.
    pub fn set(&mut self, name: &str, value: ParamValue) -> Result<()> {
        let op = self.name();
        let (spec, field) = self.field(name)?;
        let refuse = || anyhow!("{op}: {name} {}", spec.check(value).unwrap_or_else(|| format!("cannot be {value}")));
        match (field, value) {
            (Field::Int(f), ParamValue::Int(v)) => *f = u32::try_from(v).map_err(|_| refuse())?,
            (Field::Float(f), ParamValue::Float(v)) => *f = v,
            (Field::Float(f), ParamValue::Int(v)) => *f = v as f64,
            (Field::Bool(f), ParamValue::Bool(v)) => *f = v,
            (Field::Int(_), ParamValue::Float(_) | ParamValue::Bool(_))
            | (Field::Float(_), ParamValue::Bool(_))
            | (Field::Bool(_), ParamValue::Int(_) | ParamValue::Float(_)) => return Err(refuse()),
        }
        Ok(())
    }

    /// The parameters as `(name, value)` pairs, in the spelling `chain::parse` accepts (a named
    /// choice by its name: `interpolation=linear`).
    pub fn params(&self) -> Vec<(&'static str, String)> {
        self.spec().params.iter().map(|p| (p.name, p.spell(self.get(p.name)))).collect()
    }

    /// Sets one parameter from text; the error names the op, the parameter and the reason.
    pub fn set_param(&mut self, key: &str, value: &str) -> Result<()> {
        let spec = self.spec();
        let param = spec
            .param(key)
            .ok_or_else(|| anyhow!("{} has no parameter '{key}' (it has: {})", spec.name, spec.param_names()))?;
        let parsed = param
            .parse(value)
            .ok_or_else(|| anyhow!("{}: bad value '{value}' for '{key}' (expected {})", spec.name, param.range()))?;
        self.set(key, parsed)
    }

    /// Every parameter that OpenCV would refuse or that breaks a rule of the op, with the reason:
    /// empty when the op can run. The GUI shows each reason next to its field.
    pub fn problems(&self) -> Vec<ParamProblem> {
        let spec = self.spec();
        let mut problems: Vec<ParamProblem> = spec
            .params
            .iter()
            .filter_map(|p| p.check(self.get(p.name)).map(|reason| ParamProblem { param: p.name, reason }))
            .collect();
        for rule in spec.rules {
            match *rule {
                Rule::AtMost { param, bound } => {
                    let limit = self.get(bound);
                    if self.get(param).as_f64() > limit.as_f64() {
                        problems.push(ParamProblem { param, reason: format!("must be at most {bound} ({limit})") });
                    }
                }
            }
        }
        problems
    }

    /// Checks the parameters against what OpenCV accepts, so a bad value fails before any work
    /// starts; the error names the op and the parameter.
    pub fn validate(&self) -> Result<()> {
        match self.problems().first() {
            Some(p) => bail!("{}: {} {}", self.name(), p.param, p.reason),
            None => Ok(()),
        }
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
            // A whole-image step: it reads no rows of a strip's neighbours.
            Op::Invert | Op::Brightness { .. } | Op::Gray | Op::Bw { .. } | Op::ContrastStretch | Op::Resize { .. } => {
                0
            }
        }
    }

    /// OpenCV's rough work per input byte, a copy being 1: the taps of the bilateral disc, the
    /// kernel side of the blurs and medians, a few dozen for Canny's Sobel and suppression. A
    /// strip's chunks of rows are cut to about the same work each ([`CHUNK_WORK`](crate::exec::CHUNK_WORK)),
    /// so that a cancel, checked between chunks, takes effect within about a tenth of a second
    /// however costly the op: a 31-px bilateral does 14 times the work per byte of the default one.
    pub fn work_per_byte(&self) -> usize {
        match *self {
            // bilateralFilter sums over the offsets within its radius (`sqrt(i² + j²) <= radius`).
            Op::Bilateral { .. } => {
                let r = self.halo() as i64;
                (-r..=r).flat_map(|i| (-r..=r).map(move |j| i * i + j * j)).filter(|&d2| d2 <= r * r).count()
            }
            Op::Blur { ksize } | Op::Gaussian { ksize, .. } | Op::Median { ksize } => ksize as usize,
            Op::Canny { .. } => 32,
            Op::Invert | Op::Brightness { .. } | Op::Gray | Op::Bw { .. } | Op::ContrastStretch | Op::Resize { .. } => {
                1
            }
        }
    }

    /// The size of this op's result for a `width`×`height` input: only resize changes it.
    ///
    /// Resize: width and height when both are set (fitted inside them with `keep_aspect`); one of
    /// them and the other from the aspect ratio (or unchanged without `keep_aspect`); neither:
    /// both sides times `scale`. Sides are rounded and at least 1.
    pub fn resized(&self, width: usize, height: usize) -> (usize, usize) {
        let Op::Resize { width: w, height: h, scale, keep_aspect, .. } = *self else { return (width, height) };
        if width == 0 || height == 0 {
            return (width, height);
        }
        let side = |v: f64| (v.round() as usize).max(1);
        let (fw, fh) = (width as f64, height as f64);
        match (w as usize, h as usize) {
            (0, 0) => (side(fw * scale), side(fh * scale)),
            (w, 0) => (w, if keep_aspect { side(fh * w as f64 / fw) } else { height }),
            (0, h) => (if keep_aspect { side(fw * h as f64 / fh) } else { width }, h),
            (w, h) if keep_aspect => {
                let s = (w as f64 / fw).min(h as f64 / fh);
                (side(fw * s).min(w), side(fh * s).min(h))
            }
            (w, h) => (w, h),
        }
    }

    pub fn global_need(&self) -> GlobalNeed {
        self.spec().global
    }

    /// Channels of the result for an input with `channels` channels.
    pub fn out_channels(&self, channels: usize) -> usize {
        match self.spec().channels {
            OutChannels::AsInput => channels,
            OutChannels::One => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Results written over their own input, any chunk size against any halo, colour to
        /// gray included, equal the op on the rows in one call.
        #[test]
        fn results_written_in_place_equal_one_call(h in 1usize..40, chunk in 1usize..9, start in 0usize..6,
                len in 0usize..40, which in 0usize..3, gray_input in proptest::bool::ANY) {
            let channels = if gray_input { 1 } else { 3 };
            let img = crate::synth::picture(13, h, channels, h as u64);
            let op = [Op::Median { ksize: 5 }, Op::Gray, Op::Bilateral { d: 7, sigma_color: 50.0, sigma_space: 50.0 }][which].clone();
            let start = start.min(h);
            let rows = start..(start + len).min(h);
            let out_ch = op.out_channels(channels);
            let want = in_row_chunks(&img, rows.clone(), op.halo(), usize::MAX, out_ch, |r| op.apply_local_rows(&img, r)).unwrap();
            let got = in_row_chunks_in_place(img, rows, op.halo(), chunk, out_ch, |w, r| op.apply_local_rows(w, r)).unwrap();
            proptest::prop_assert!(got == want, "{:?}", op);
        }
    }

    #[test]
    fn every_kind_maps_to_its_op_and_back() {
        for &kind in OpKind::ALL {
            assert_eq!(kind.default_op().kind(), kind);
        }
        assert_eq!(OP_NAMES.len(), OpKind::ALL.len());
    }

    /// `Op::fields` lists fields in the registry's order: each parameter reads the serde field of
    /// the same name (kebab-case in the registry, snake_case in Rust), so two `f64`s cannot swap.
    #[test]
    fn every_registry_parameter_reads_the_field_of_its_name() {
        for &kind in OpKind::ALL {
            let mut op = kind.default_op();
            let spec = kind.spec();
            assert_eq!(op.fields().len(), spec.params.len(), "{}", spec.name);
            for (i, p) in spec.params.iter().enumerate() {
                // Distinct values, so a swapped field shows.
                let value = match p.kind {
                    ParamKind::Float { .. } => ParamValue::Float(100.0 + i as f64),
                    ParamKind::Int { .. } | ParamKind::Choice(_) => ParamValue::Int(100 + i as i64),
                    ParamKind::Bool => ParamValue::Bool(true),
                };
                op.set(p.name, value).unwrap();
            }
            let json = serde_json::to_value(&op).unwrap();
            assert_eq!(json["op"], spec.name);
            assert_eq!(json.as_object().unwrap().len(), spec.params.len() + 1, "{}: no field left out", spec.name);
            for p in spec.params {
                let field = &json[p.name.replace('-', "_")];
                let expected = match op.get(p.name) {
                    ParamValue::Int(v) => serde_json::json!(v),
                    ParamValue::Float(v) => serde_json::json!(v),
                    ParamValue::Bool(v) => serde_json::json!(v),
                };
                assert_eq!(field, &expected, "{}.{}", spec.name, p.name);
            }
        }
    }

    #[test]
    fn saved_settings_keep_their_serde_form() {
        let json = r#"{"op":"bilateral","d":9,"sigma_color":75.0,"sigma_space":75.0}"#;
        assert_eq!(serde_json::from_str::<Op>(json).unwrap(), Op::default_for("bilateral").unwrap());
        assert_eq!(serde_json::to_string(&Op::ContrastStretch).unwrap(), r#"{"op":"contrast-stretch"}"#);
    }

    #[test]
    fn every_named_op_has_defaults_and_valid_parameters() {
        for name in OP_NAMES {
            let op = Op::default_for(name).unwrap();
            assert_eq!(op.name(), name);
            op.validate().unwrap();
        }
        let err = Op::default_for("sharpen").unwrap_err().to_string();
        assert!(err.contains("sharpen") && err.contains("contrast-stretch"), "{err}");
    }

    #[test]
    fn defaults_match_the_original_system() {
        assert_eq!(Op::default_for("blur").unwrap(), Op::Blur { ksize: 5 });
        assert_eq!(Op::default_for("gaussian").unwrap(), Op::Gaussian { ksize: 5, sigma: 0.0 });
        assert_eq!(Op::default_for("median").unwrap(), Op::Median { ksize: 5 });
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
    fn the_bilateral_work_counts_the_taps_of_its_disc() {
        let taps = |d| Op::Bilateral { d, sigma_color: 75.0, sigma_space: 75.0 }.work_per_byte();
        // Radius 1: the centre and its four neighbours; radius 4 (d = 9): 49 offsets.
        assert_eq!((taps(1), taps(3), taps(9)), (5, 5, 49));
        assert!(taps(31) > 14 * taps(9), "{}", taps(31));
    }

    #[test]
    fn invalid_parameters_are_refused_with_the_op_and_parameter_names() {
        let err = Op::Gaussian { ksize: 4, sigma: 0.0 }.validate().unwrap_err().to_string();
        assert_eq!(err, "gaussian: ksize must be odd, not 4");
        assert!(Op::Median { ksize: 0 }.validate().is_err());
        assert!(Op::Canny { low: 1.0, high: 2.0, aperture: 4, l2: false }.validate().is_err());
        let mut op = Op::default_for("blur").unwrap();
        assert!(op.set_param("sigma", "2").unwrap_err().to_string().contains("ksize"));
        assert!(op.set_param("ksize", "x").is_err());
        assert!(op.set_param("ksize", "-1").unwrap_err().to_string().contains("blur: ksize"));
        assert!(op.set_param("ksize", "2.5").is_err());
    }

    #[test]
    fn canny_refuses_low_above_high_and_says_so_on_low() {
        let op = Op::Canny { low: 300.0, high: 200.0, aperture: 3, l2: false };
        assert_eq!(op.problems(), vec![ParamProblem { param: "low", reason: "must be at most high (200)".into() }]);
        assert_eq!(op.validate().unwrap_err().to_string(), "canny: low must be at most high (200)");
    }

    #[test]
    fn set_and_get_round_trip_through_text() {
        let mut op = Op::default_for("canny").unwrap();
        op.set_param("l2", "true").unwrap();
        op.set_param("aperture", "5").unwrap();
        op.set_param("high", "250.5").unwrap();
        assert_eq!(op, Op::Canny { low: 100.0, high: 250.5, aperture: 5, l2: true });
        assert_eq!(op.get("high"), ParamValue::Float(250.5));
        let pairs = op.params();
        assert_eq!(pairs[3], ("l2", "true".to_string()));
        assert!(Op::Invert.params().is_empty());
    }

    #[test]
    fn global_need_and_channels_come_from_the_registry() {
        assert_eq!(Op::ContrastStretch.global_need(), GlobalNeed::Histogram);
        assert_eq!(Op::default_for("canny").unwrap().global_need(), GlobalNeed::Hysteresis);
        assert_eq!(Op::Invert.global_need(), GlobalNeed::None);
        for (name, one) in [("gray", true), ("bw", true), ("canny", true), ("blur", false), ("contrast-stretch", false)]
        {
            assert_eq!(Op::default_for(name).unwrap().out_channels(3), if one { 1 } else { 3 }, "{name}");
        }
    }
}
