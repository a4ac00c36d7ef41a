//! The op registry: one [`OpSpec`] per op, with its name, one-line description, parameters
//! (default, range, unit, help), global need and output channels.
//!
//! The CLI flags (`cli::OpParams`), the `imgproc ops` listing, the GUI's chain editor and the
//! property tests' generator are all built from these entries, so they cannot drift apart. What
//! depends on parameter values (halo, scratch, the OpenCV call) is in exhaustive matches on
//! [`Op`](super::Op) in `ops/mod.rs` and `ops/apply.rs`: adding an op without them does not compile.
//! This module knows no field of `Op`; `ops/mod.rs` maps the entries to fields.

use super::GlobalNeed;
use std::fmt;

/// Declares [`OpKind`] and [`OpKind::ALL`] from one list, so no kind can be missing from `ALL`.
macro_rules! op_kinds {
    ($($(#[$doc:meta])* $kind:ident,)*) => {
        /// Which op, without its parameters.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum OpKind {
            $($(#[$doc])* $kind,)*
        }

        impl OpKind {
            /// Every op, in the order `imgproc ops`, the CLI's help and the GUI list them.
            pub const ALL: &'static [OpKind] = &[$(OpKind::$kind,)*];
        }
    };
}

op_kinds! {
    Blur,
    Gaussian,
    Median,
    Bilateral,
    Canny,
    Invert,
    Brightness,
    Gray,
    Bw,
    ContrastStretch,
    Resize,
}

impl OpKind {
    /// The op's registry entry.
    pub const fn spec(self) -> &'static OpSpec {
        match self {
            OpKind::Blur => &BLUR,
            OpKind::Gaussian => &GAUSSIAN,
            OpKind::Median => &MEDIAN,
            OpKind::Bilateral => &BILATERAL,
            OpKind::Canny => &CANNY,
            OpKind::Invert => &INVERT,
            OpKind::Brightness => &BRIGHTNESS,
            OpKind::Gray => &GRAY,
            OpKind::Bw => &BW,
            OpKind::ContrastStretch => &CONTRAST_STRETCH,
            OpKind::Resize => &RESIZE,
        }
    }

    /// The name users type (`contrast-stretch`).
    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    /// The kind called `name`, as users type it.
    pub fn from_name(name: &str) -> Option<OpKind> {
        OpKind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

/// Everything the front ends and tests need to know about one op.
#[derive(Debug)]
pub struct OpSpec {
    /// What users type, kebab-case.
    pub name: &'static str,
    /// One line: what it does to the image and which OpenCV call does it.
    pub description: &'static str,
    /// In the order `Op::params` lists them and the GUI shows them.
    pub params: &'static [ParamSpec],
    /// Combinations of values that each parameter's own range does not rule out.
    pub rules: &'static [Rule],
    pub global: GlobalNeed,
    pub channels: OutChannels,
    /// Rank 0's share of a streamed image's rows against a worker's when rank 0 decodes the rows
    /// of every rank and this op is in the chain (`stream_plan`), or `None` to keep the reader's
    /// share. An op whose filter dwarfs the decode wants rank 0 near a full share; one whose
    /// later steps wait for the strip's last row wants rank 0 lighter. The values were measured
    /// on the 8K images at 2 ranks (docs/BENCHMARKS.md, "Rank 0's share").
    pub streamed_rank0_share: Option<f64>,
}

impl OpSpec {
    /// The parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The parameter names, comma-separated, or "none": for error messages.
    pub fn param_names(&self) -> String {
        if self.params.is_empty() {
            return "none".into();
        }
        self.params.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
    }
}

/// Channels of an op's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutChannels {
    /// As many as the input.
    AsInput,
    /// One (gray, black and white, edges).
    One,
}

/// One parameter of an op.
#[derive(Debug)]
pub struct ParamSpec {
    /// As on the CLI: `--<op>-<name>` and `op:<name>=value` (kebab-case, e.g. `sigma-color`).
    pub name: &'static str,
    /// One sentence: what the value changes in the result.
    pub help: &'static str,
    /// Unit shown after the value: "px", "levels", "×" or "".
    pub unit: &'static str,
    pub kind: ParamKind,
    /// The original system's default.
    pub default: ParamValue,
    /// The values most images want, a part of the valid range: the property tests draw from it
    /// (a 255-wide kernel on a tiny image tests nothing new, slowly) and the GUI drags across it
    /// in a few hundred pixels. Typing any value in the range is still valid.
    pub typical: (f64, f64),
}

/// The values a parameter accepts. Ranges are inclusive; every valid value is accepted by the CLI
/// and reachable in the GUI.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamKind {
    /// A whole number in `min..=max`, odd when `odd` (OpenCV's Gaussian and median kernels).
    Int {
        min: i64,
        max: i64,
        odd: bool,
    },
    /// A finite number in `min..=max`, or in `min < v ≤ max` when `min_exclusive`.
    Float {
        min: f64,
        max: f64,
        min_exclusive: bool,
    },
    /// One of a few whole numbers (Canny's aperture).
    Choice(&'static [i64]),
    Bool,
}

/// A parameter's value, whatever the type of the field that holds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl ParamValue {
    /// The number, for range checks and numeric widgets (`Bool` gives 0 or 1).
    pub fn as_f64(self) -> f64 {
        match self {
            ParamValue::Int(i) => i as f64,
            ParamValue::Float(f) => f,
            ParamValue::Bool(b) => f64::from(u8::from(b)),
        }
    }
}

/// The spelling `chain::parse` and the CLI accept (`5`, `1.5`, `true`).
impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A constraint between two parameters of one op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// `param` must not exceed `bound`; the reason is reported on `param`.
    AtMost { param: &'static str, bound: &'static str },
}

impl ParamSpec {
    /// Names a choice may be given by instead of its number (resize's interpolations).
    pub fn choice_names(&self) -> &'static [(&'static str, i64)] {
        match (self.kind, self.name) {
            (ParamKind::Choice(_), "interpolation") => &INTERPOLATIONS,
            _ => &[],
        }
    }

    /// `value` as users read and type it: a named choice by its name (`linear`), anything else
    /// as [`ParamValue`] spells it. The chain's canonical spelling, the CLI help, `imgproc ops`
    /// and the GUI all use it.
    pub fn spell(&self, value: ParamValue) -> String {
        match value {
            ParamValue::Int(v) => match self.choice_names().iter().find(|&&(_, n)| n == v) {
                Some((name, _)) => name.to_string(),
                None => value.to_string(),
            },
            ParamValue::Float(_) | ParamValue::Bool(_) => value.to_string(),
        }
    }

    /// The default, spelled as [`ParamSpec::spell`] does.
    pub fn default_text(&self) -> String {
        self.spell(self.default)
    }

    /// Reads `text` as this parameter's type (not yet checked against the range).
    pub fn parse(&self, text: &str) -> Option<ParamValue> {
        match self.kind {
            ParamKind::Int { .. } => text.parse().ok().map(ParamValue::Int),
            // resize's interpolation may also be named (`interpolation=area`).
            ParamKind::Choice(_) => text
                .parse()
                .ok()
                .or_else(|| self.choice_names().iter().find(|(n, _)| *n == text).map(|&(_, v)| v))
                .map(ParamValue::Int),
            ParamKind::Float { .. } => text.parse().ok().map(ParamValue::Float),
            ParamKind::Bool => text.parse().ok().map(ParamValue::Bool),
        }
    }

    /// Why `value` is not valid for this parameter, or `None` when it is. The reason reads after
    /// the parameter's name: "must be odd, not 4".
    pub fn check(&self, value: ParamValue) -> Option<String> {
        match (self.kind, value) {
            (ParamKind::Int { min, max, odd }, ParamValue::Int(v)) => {
                if !(min..=max).contains(&v) {
                    Some(format!("must be {}, not {v}", self.range()))
                } else if odd && v % 2 == 0 {
                    Some(format!("must be odd, not {v}"))
                } else {
                    None
                }
            }
            (ParamKind::Choice(choices), ParamValue::Int(v)) => {
                (!choices.contains(&v)).then(|| format!("must be {}, not {v}", self.range()))
            }
            (ParamKind::Float { min, max, min_exclusive }, ParamValue::Float(_) | ParamValue::Int(_)) => {
                let v = value.as_f64();
                let above_min = if min_exclusive { v > min } else { v >= min };
                if !v.is_finite() {
                    Some(format!("must be a finite number, not {v}"))
                } else if !above_min || v > max {
                    Some(format!("must be {}, not {v}", self.range()))
                } else {
                    None
                }
            }
            (ParamKind::Bool, ParamValue::Bool(_)) => None,
            (ParamKind::Int { .. } | ParamKind::Choice(_), ParamValue::Float(_) | ParamValue::Bool(_)) => {
                Some(format!("must be a whole number, not {value}"))
            }
            (ParamKind::Float { .. }, ParamValue::Bool(_)) => Some(format!("must be a number, not {value}")),
            (ParamKind::Bool, ParamValue::Int(_) | ParamValue::Float(_)) => {
                Some(format!("must be true or false, not {value}"))
            }
        }
    }

    /// The valid values in words, for error messages: "1…255, odd", "above 0, up to 1000".
    pub fn range(&self) -> String {
        self.range_in("")
    }

    /// The valid values with the unit, for help texts: "1…255 px, odd", "3, 5 or 7 px".
    pub fn range_with_unit(&self) -> String {
        self.range_in(self.unit)
    }

    fn range_in(&self, unit: &str) -> String {
        let unit = if unit.is_empty() { String::new() } else { format!(" {unit}") };
        match self.kind {
            ParamKind::Int { min, max, odd: false } => format!("{min}…{max}{unit}"),
            ParamKind::Int { min, max, odd: true } => format!("{min}…{max}{unit}, odd"),
            ParamKind::Float { min, max, min_exclusive: false } => format!("{min}…{max}{unit}"),
            ParamKind::Float { min, max, min_exclusive: true } => format!("above {min}, up to {max}{unit}"),
            ParamKind::Choice(choices) => {
                let spelled: Vec<String> = choices.iter().map(|&c| self.spell(ParamValue::Int(c))).collect();
                match spelled.split_last() {
                    Some((last, [])) => format!("{last}{unit}"),
                    Some((last, rest)) => format!("{} or {last}{unit}", rest.join(", ")),
                    None => "nothing".into(),
                }
            }
            ParamKind::Bool => "true or false".into(),
        }
    }

    /// A valid value other than the default, near it: tests set it and look for it on the other
    /// side (CLI flag → op, GUI widget → op).
    pub fn other_value(&self) -> ParamValue {
        match (self.kind, self.default) {
            (ParamKind::Int { max, odd, .. }, ParamValue::Int(d)) => {
                let step = if odd { 2 } else { 1 };
                ParamValue::Int(if d + step <= max { d + step } else { d - step })
            }
            (ParamKind::Choice(choices), _) => {
                ParamValue::Int(choices.iter().copied().find(|&c| ParamValue::Int(c) != self.default).unwrap_or(0))
            }
            (ParamKind::Float { max, .. }, d) => {
                let d = d.as_f64();
                ParamValue::Float(if d + 1.0 <= max { d + 1.0 } else { d - 1.0 })
            }
            (ParamKind::Bool, d) => ParamValue::Bool(d != ParamValue::Bool(true)),
            (ParamKind::Int { .. }, d) => d,
        }
    }
}

// ---- The entries, one per op, in the order of `OpKind::ALL`. ----

const BLUR: OpSpec = OpSpec {
    name: "blur",
    description: "Box filter: each pixel becomes the mean of the ksize×ksize window around it (cv::blur).",
    params: &[ParamSpec {
        name: "ksize",
        help: "Width and height of the averaging window.",
        unit: "px",
        kind: ParamKind::Int { min: 1, max: 255, odd: false },
        default: ParamValue::Int(5),
        typical: (1.0, 7.0),
    }],
    rules: &[],
    global: GlobalNeed::None,
    channels: OutChannels::AsInput,
    streamed_rank0_share: None,
};

const GAUSSIAN: OpSpec = OpSpec {
    name: "gaussian",
    description: "Gaussian blur: a weighted mean that favours the nearest pixels (cv::GaussianBlur).",
    params: &[
        ParamSpec {
            name: "ksize",
            help: "Width and height of the kernel (OpenCV needs it odd).",
            unit: "px",
            kind: ParamKind::Int { min: 1, max: 255, odd: true },
            default: ParamValue::Int(5),
            typical: (1.0, 7.0),
        },
        ParamSpec {
            name: "sigma",
            help: "Standard deviation of the Gaussian; 0 derives it from ksize.",
            unit: "px",
            kind: ParamKind::Float { min: 0.0, max: 1000.0, min_exclusive: false },
            default: ParamValue::Float(0.0),
            typical: (0.0, 3.0),
        },
    ],
    rules: &[],
    global: GlobalNeed::None,
    channels: OutChannels::AsInput,
    streamed_rank0_share: None,
};

const MEDIAN: OpSpec = OpSpec {
    name: "median",
    description: "Median filter: each pixel becomes the median of its ksize×ksize window (cv::medianBlur).",
    params: &[ParamSpec {
        name: "ksize",
        help: "Width and height of the window (OpenCV needs it odd); removes specks smaller than half of it.",
        unit: "px",
        kind: ParamKind::Int { min: 1, max: 255, odd: true },
        default: ParamValue::Int(5),
        typical: (1.0, 9.0),
    }],
    rules: &[],
    global: GlobalNeed::None,
    channels: OutChannels::AsInput,
    streamed_rank0_share: None,
};

const BILATERAL: OpSpec = OpSpec {
    name: "bilateral",
    description: "Edge-preserving smoothing: averages pixels both near and similar in colour (cv::bilateralFilter).",
    params: &[
        ParamSpec {
            name: "d",
            help: "Diameter of the neighbourhood each pixel averages over.",
            unit: "px",
            kind: ParamKind::Int { min: 1, max: 64, odd: false },
            default: ParamValue::Int(9),
            typical: (1.0, 11.0),
        },
        ParamSpec {
            name: "sigma-color",
            help: "How far apart in value (0–255) two pixels may be and still be averaged together.",
            unit: "levels",
            kind: ParamKind::Float { min: 0.0, max: 1000.0, min_exclusive: true },
            default: ParamValue::Float(75.0),
            typical: (5.0, 120.0),
        },
        ParamSpec {
            name: "sigma-space",
            help: "How far apart in position two pixels may be and still be averaged together (d bounds it).",
            unit: "px",
            kind: ParamKind::Float { min: 0.0, max: 1000.0, min_exclusive: true },
            default: ParamValue::Float(75.0),
            typical: (5.0, 120.0),
        },
    ],
    rules: &[],
    global: GlobalNeed::None,
    channels: OutChannels::AsInput,
    streamed_rank0_share: Some(0.85),
};

const CANNY: OpSpec = OpSpec {
    name: "canny",
    description: "Edges: 255 on edges, 0 elsewhere; colour uses the strongest channel's gradient (cv::Canny).",
    params: &[
        ParamSpec {
            name: "low",
            help: "Gradients above this are edges when they connect to a gradient above high (hysteresis).",
            unit: "",
            kind: ParamKind::Float { min: 0.0, max: 1_000_000.0, min_exclusive: false },
            default: ParamValue::Float(100.0),
            typical: (0.0, 300.0),
        },
        ParamSpec {
            name: "high",
            help: "Gradients above this are always edges.",
            unit: "",
            kind: ParamKind::Float { min: 0.0, max: 1_000_000.0, min_exclusive: false },
            default: ParamValue::Float(200.0),
            typical: (0.0, 300.0),
        },
        ParamSpec {
            name: "aperture",
            help: "Size of the Sobel kernel that measures the gradient.",
            unit: "px",
            kind: ParamKind::Choice(&[3, 5, 7]),
            default: ParamValue::Int(3),
            typical: (3.0, 7.0),
        },
        ParamSpec {
            name: "l2",
            help: "Measure gradient strength as √(dx² + dy²) instead of |dx| + |dy|.",
            unit: "",
            kind: ParamKind::Bool,
            default: ParamValue::Bool(false),
            typical: (0.0, 1.0),
        },
    ],
    // OpenCV swaps the thresholds silently; a low above high is more likely a slip than a wish.
    rules: &[Rule::AtMost { param: "low", bound: "high" }],
    global: GlobalNeed::Hysteresis,
    channels: OutChannels::One,
    streamed_rank0_share: Some(0.7),
};

const INVERT: OpSpec = OpSpec {
    name: "invert",
    description: "Negative: 255 − value, per channel (cv::bitwise_not).",
    params: &[],
    rules: &[],
    global: GlobalNeed::None,
    channels: OutChannels::AsInput,
    streamed_rank0_share: None,
};

const BRIGHTNESS: OpSpec = OpSpec {
    name: "brightness",
    description: "value × factor + offset, absolute value, saturated to 0…255 (cv::convertScaleAbs).",
    params: &[
        ParamSpec {
            name: "factor",
            help: "Multiplies every value: above 1 brightens and adds contrast, below 1 darkens.",
            unit: "×",
            kind: ParamKind::Float { min: -100.0, max: 100.0, min_exclusive: false },
            default: ParamValue::Float(1.5),
            typical: (0.2, 3.0),
        },
        ParamSpec {
            name: "offset",
            help: "Added to every value after the multiplication.",
            unit: "levels",
            kind: ParamKind::Float { min: -1000.0, max: 1000.0, min_exclusive: false },
            default: ParamValue::Float(0.0),
            typical: (-50.0, 50.0),
        },
    ],
    rules: &[],
    global: GlobalNeed::None,
    channels: OutChannels::AsInput,
    streamed_rank0_share: None,
};

const GRAY: OpSpec = OpSpec {
    name: "gray",
    description: "One gray channel, 0.299 R + 0.587 G + 0.114 B; gray input stays as it is (cv::cvtColor).",
    params: &[],
    rules: &[],
    global: GlobalNeed::None,
    channels: OutChannels::One,
    streamed_rank0_share: None,
};

const BW: OpSpec = OpSpec {
    name: "bw",
    description: "Black and white: gray, then 255 where the value is above threshold, else 0 (cv::threshold).",
    params: &[ParamSpec {
        name: "threshold",
        help: "Gray values above it become white, the others black.",
        unit: "levels",
        kind: ParamKind::Float { min: 0.0, max: 255.0, min_exclusive: false },
        default: ParamValue::Float(127.0),
        typical: (0.0, 255.0),
    }],
    rules: &[],
    global: GlobalNeed::None,
    channels: OutChannels::One,
    streamed_rank0_share: None,
};

const CONTRAST_STRETCH: OpSpec = OpSpec {
    name: "contrast-stretch",
    description: "Histogram equalisation over all channels, from the whole image's histogram.",
    params: &[],
    rules: &[],
    global: GlobalNeed::Histogram,
    channels: OutChannels::AsInput,
    streamed_rank0_share: None,
};

/// OpenCV's `INTER_*` numbers, in the order of `resize`'s `interpolation` choices.
pub const INTERPOLATIONS: [(&str, i64); 5] = [("nearest", 0), ("linear", 1), ("cubic", 2), ("area", 3), ("lanczos", 4)];

const RESIZE: OpSpec = OpSpec {
    name: "resize",
    description: "New width and height, by size or scale, with the chosen interpolation (cv::resize).",
    params: &[
        ParamSpec {
            name: "width",
            help: "Output width; 0 follows height (keeping the aspect) or scale.",
            unit: "px",
            kind: ParamKind::Int { min: 0, max: 65535, odd: false },
            default: ParamValue::Int(0),
            typical: (0.0, 40.0),
        },
        ParamSpec {
            name: "height",
            help: "Output height; 0 follows width (keeping the aspect) or scale.",
            unit: "px",
            kind: ParamKind::Int { min: 0, max: 65535, odd: false },
            default: ParamValue::Int(0),
            typical: (0.0, 40.0),
        },
        ParamSpec {
            name: "scale",
            help: "Factor on both sides, used when width and height are both 0.",
            unit: "×",
            kind: ParamKind::Float { min: 0.0, max: 64.0, min_exclusive: true },
            default: ParamValue::Float(0.5),
            typical: (0.1, 3.0),
        },
        ParamSpec {
            name: "keep-aspect",
            help: "With width and height both set, fit inside them keeping the input's aspect ratio.",
            unit: "",
            kind: ParamKind::Bool,
            default: ParamValue::Bool(true),
            typical: (0.0, 1.0),
        },
        ParamSpec {
            name: "interpolation",
            help: "How new pixels are computed: nearest, linear, cubic, area (best to shrink) or lanczos \
                   (OpenCV's INTER_* numbers 0–4 work too).",
            unit: "",
            kind: ParamKind::Choice(&[0, 1, 2, 3, 4]),
            default: ParamValue::Int(1),
            typical: (0.0, 4.0),
        },
    ],
    rules: &[],
    global: GlobalNeed::Resample,
    channels: OutChannels::AsInput,
    streamed_rank0_share: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn op_and_parameter_names_are_unique_and_kebab_case() {
        let names: HashSet<_> = OpKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), OpKind::ALL.len());
        let kebab =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        for kind in OpKind::ALL {
            let spec = kind.spec();
            assert!(kebab(spec.name), "{}", spec.name);
            assert_eq!(OpKind::from_name(spec.name), Some(*kind));
            let params: HashSet<_> = spec.params.iter().map(|p| p.name).collect();
            assert_eq!(params.len(), spec.params.len(), "{}", spec.name);
            assert!(params.iter().all(|p| kebab(p)), "{}", spec.name);
        }
        assert_eq!(OpKind::from_name("sharpen"), None);
    }

    #[test]
    fn descriptions_and_help_are_one_line_sentences() {
        for kind in OpKind::ALL {
            let spec = kind.spec();
            assert!(!spec.description.is_empty() && !spec.description.contains('\n'), "{}", spec.name);
            assert!(spec.description.len() <= 110, "{} description is longer than a line", spec.name);
            for p in spec.params {
                assert!(p.help.ends_with('.') && !p.help.contains('\n'), "{}.{}", spec.name, p.name);
            }
        }
    }

    #[test]
    fn defaults_typical_ranges_and_other_values_are_valid() {
        for kind in OpKind::ALL {
            for p in kind.spec().params {
                let what = format!("{}.{}", kind.name(), p.name);
                assert_eq!(p.check(p.default), None, "{what} default");
                assert_eq!(p.check(p.other_value()), None, "{what} other value");
                assert_ne!(p.other_value(), p.default, "{what}");
                let (lo, hi) = p.typical;
                assert!(lo < hi, "{what}");
                for end in [lo, hi] {
                    let v = match p.kind {
                        ParamKind::Float { .. } => ParamValue::Float(end),
                        ParamKind::Int { .. } | ParamKind::Choice(_) => ParamValue::Int(end as i64),
                        ParamKind::Bool => ParamValue::Bool(end != 0.0),
                    };
                    assert_eq!(p.check(v), None, "{what} typical end {end}");
                }
            }
        }
    }

    /// The GUI and the property tests step odd-only values as 2k + 1 from the range's ends.
    #[test]
    fn odd_only_ranges_start_and_end_on_odd_values() {
        for kind in OpKind::ALL {
            for p in kind.spec().params {
                if let ParamKind::Int { min, max, odd: true } = p.kind {
                    assert!(min % 2 == 1 && max % 2 == 1, "{}.{}", kind.name(), p.name);
                    assert!(p.typical.0 as i64 % 2 == 1, "{}.{}", kind.name(), p.name);
                }
            }
        }
    }

    #[test]
    fn rules_name_parameters_of_their_op() {
        for kind in OpKind::ALL {
            let spec = kind.spec();
            for rule in spec.rules {
                let Rule::AtMost { param, bound } = rule;
                assert!(spec.param(param).is_some() && spec.param(bound).is_some(), "{}", spec.name);
            }
        }
    }

    #[test]
    fn checks_give_reasons_that_name_the_range() {
        let ksize = GAUSSIAN.param("ksize").unwrap();
        assert_eq!(ksize.check(ParamValue::Int(4)).unwrap(), "must be odd, not 4");
        assert_eq!(ksize.check(ParamValue::Int(300)).unwrap(), "must be 1…255, odd, not 300");
        let sigma = BILATERAL.param("sigma-color").unwrap();
        assert!(sigma.check(ParamValue::Float(0.0)).unwrap().contains("above 0"));
        assert!(sigma.check(ParamValue::Float(f64::NAN)).unwrap().contains("finite"));
        let aperture = CANNY.param("aperture").unwrap();
        assert_eq!(aperture.check(ParamValue::Int(4)).unwrap(), "must be 3, 5 or 7, not 4");
        assert_eq!(aperture.parse("x"), None);
        assert_eq!(CANNY.param("l2").unwrap().parse("true"), Some(ParamValue::Bool(true)));
    }
}
