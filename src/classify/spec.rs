//! What a model expects and what its scores mean, from its sidecar: `M.json` beside `M.onnx`
//! (or a file named with `--sidecar`). Read and checked on rank 0 before any image is read;
//! workers get the checked [`ModelSpec`] with the job, so every rank prepares images the same way.
//!
//! ```json
//! { "input": {"width": 224, "height": 224}, "resize": "shorter-crop", "resize_to": 256,
//!   "scale": 0.00392156862745098, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
//!   "channels": "rgb", "layout": "nchw", "labels": "synset_words.txt", "top_k": 5, "softmax": true }
//! ```
//!
//! Every field but `input` and `labels` has a default (stretch, 1/255, mean 0, std 1, rgb, nchw,
//! top 5, no softmax). Unknown fields are refused, so a typo does not silently change the input.

use super::labels::{self, Label};
use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::hash::Hasher;
use std::path::{Path, PathBuf};

/// How an image is brought to the model's input size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resize {
    /// Straight to the input size (bilinear), aspect ratio not kept.
    #[default]
    Stretch,
    /// The shorter side to `resize_to` (bilinear, aspect kept), then the centre cut out: the
    /// usual ImageNet evaluation.
    ShorterCrop,
}

/// The channels the model takes, in its order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    #[default]
    Rgb,
    Bgr,
    Gray,
}

impl Channels {
    pub fn count(self) -> usize {
        if self == Channels::Gray {
            1
        } else {
            3
        }
    }
}

/// Where the channel axis is in the input tensor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    #[default]
    Nchw,
    Nhwc,
}

/// How one image becomes the model's input: `(sample * scale - mean[c]) / std[c]`, in `f32`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    pub width: usize,
    pub height: usize,
    pub resize: Resize,
    /// The shorter side before the crop ([`Resize::ShorterCrop`]).
    pub resize_to: usize,
    pub scale: f32,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub channels: Channels,
    pub layout: Layout,
}

impl Preprocess {
    /// The input tensor's shape for a batch of `n`.
    pub fn shape(&self, n: usize) -> [usize; 4] {
        let c = self.channels.count();
        match self.layout {
            Layout::Nchw => [n, c, self.height, self.width],
            Layout::Nhwc => [n, self.height, self.width, c],
        }
    }

    /// Values of one image's input.
    pub fn len(&self) -> usize {
        self.width * self.height * self.channels.count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A model ready to hand to every rank: its file, how images are prepared, its labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub model: PathBuf,
    pub prep: Preprocess,
    pub labels: Vec<Label>,
    /// Where the labels came from (named in errors).
    pub labels_file: PathBuf,
    /// Labels reported per image (at most the number of labels).
    pub top_k: usize,
    /// Apply a softmax to the model's outputs (for a model that ends in logits).
    pub softmax: bool,
    /// Of the model's bytes, its sidecar and its labels: names the job in the journal, so a
    /// resumed run with another model or sidecar starts afresh.
    pub fingerprint: String,
}

/// The sidecar file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    input: Size,
    #[serde(default)]
    resize: Resize,
    resize_to: Option<usize>,
    scale: Option<f64>,
    mean: Option<Vec<f64>>,
    std: Option<Vec<f64>>,
    #[serde(default)]
    channels: Channels,
    #[serde(default)]
    layout: Layout,
    labels: PathBuf,
    top_k: Option<usize>,
    #[serde(default)]
    softmax: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Size {
    width: usize,
    height: usize,
}

/// What the user gave besides the model: a sidecar elsewhere, labels or top-k that win over it.
#[derive(Clone, Debug, Default)]
pub struct SpecFlags {
    pub sidecar: Option<PathBuf>,
    pub labels: Option<PathBuf>,
    pub top_k: Option<usize>,
}

/// The sidecar of `model`: `flags.sidecar`, else `M.json` beside `M.onnx`.
pub fn sidecar_path(model: &Path, flags: &SpecFlags) -> PathBuf {
    flags.sidecar.clone().unwrap_or_else(|| model.with_extension("json"))
}

/// Reads and checks the model's sidecar and labels (not the model itself: see `net`).
pub fn load(model: &Path, flags: &SpecFlags) -> Result<ModelSpec> {
    load_with_model(model, flags).map(|(spec, _)| spec)
}

/// [`load`], and the model's bytes it read for the fingerprint: rank 0 loads the network from
/// them instead of reading the file again.
pub fn load_with_model(model: &Path, flags: &SpecFlags) -> Result<(ModelSpec, Vec<u8>)> {
    let model = std::path::absolute(model).with_context(|| format!("{}: bad path", model.display()))?;
    let meta = std::fs::metadata(&model).with_context(|| format!("{}: cannot read the model", model.display()))?;
    ensure!(meta.is_file(), "{}: the model is not a file", model.display());
    let side = sidecar_path(&model, flags);
    let text = std::fs::read_to_string(&side).with_context(|| {
        format!(
            "{}: cannot read the model's sidecar (its input size, mean/std and labels; see docs/CLASSIFY.md)",
            side.display()
        )
    })?;
    let car: Sidecar =
        serde_json::from_str(&text).with_context(|| format!("{}: not a valid sidecar", side.display()))?;
    let prep = preprocess(&car).with_context(|| format!("{}: bad sidecar", side.display()))?;
    let labels_path = match &flags.labels {
        Some(p) => p.clone(),
        None => side.parent().unwrap_or(Path::new(".")).join(&car.labels),
    };
    let labels_text = std::fs::read_to_string(&labels_path)
        .with_context(|| format!("{}: cannot read the labels file", labels_path.display()))?;
    let labels = labels::parse(&labels_text, &labels_path.display().to_string())?;
    let top_k = flags.top_k.or(car.top_k).unwrap_or(5);
    ensure!(top_k >= 1, "top-k must be at least 1");
    let mut hash = std::collections::hash_map::DefaultHasher::new();
    let bytes = std::fs::read(&model).with_context(|| format!("{}: cannot read the model", model.display()))?;
    hash.write(&bytes);
    hash.write(text.as_bytes());
    hash.write(labels_text.as_bytes());
    let fingerprint = format!("{:016x}-{}", hash.finish(), bytes.len());
    let spec = ModelSpec {
        top_k: top_k.min(labels.len()),
        softmax: car.softmax,
        prep,
        labels,
        labels_file: labels_path,
        model,
        fingerprint,
    };
    Ok((spec, bytes))
}

fn preprocess(car: &Sidecar) -> Result<Preprocess> {
    let (width, height) = (car.input.width, car.input.height);
    ensure!(
        (1..=8192).contains(&width) && (1..=8192).contains(&height),
        "input size {width}x{height} is out of 1..8192"
    );
    let c = car.channels.count();
    let per_channel = |v: &Option<Vec<f64>>, default: f64, what: &str| -> Result<Vec<f32>> {
        match v {
            None => Ok(vec![default as f32; c]),
            Some(v) if v.len() == c => Ok(v.iter().map(|&x| x as f32).collect()),
            Some(v) => bail!("{what} has {} values; {:?} input takes {c}", v.len(), car.channels),
        }
    };
    let mean = per_channel(&car.mean, 0.0, "mean")?;
    let std = per_channel(&car.std, 1.0, "std")?;
    ensure!(std.iter().all(|&s| s != 0.0 && s.is_finite()), "std must be finite and non-zero");
    let longer = width.max(height);
    // The ImageNet habit: 224 out of 256 (0.875).
    let resize_to = car.resize_to.unwrap_or((longer as f64 / 0.875).round() as usize);
    if car.resize == Resize::ShorterCrop {
        ensure!(resize_to >= longer, "resize_to {resize_to} is smaller than the input size {width}x{height}");
    }
    Ok(Preprocess {
        width,
        height,
        resize: car.resize,
        resize_to,
        scale: car.scale.unwrap_or(1.0 / 255.0) as f32,
        mean,
        std,
        channels: car.channels,
        layout: car.layout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, sidecar: &str, labels: &str) -> PathBuf {
        std::fs::write(dir.join("m.onnx"), b"model bytes").unwrap();
        std::fs::write(dir.join("m.json"), sidecar).unwrap();
        std::fs::write(dir.join("labels.txt"), labels).unwrap();
        dir.join("m.onnx")
    }

    #[test]
    fn a_sidecar_beside_the_model_fills_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let m = write(dir.path(), r#"{"input": {"width": 4, "height": 2}, "labels": "labels.txt"}"#, "a\nb\n");
        let spec = load(&m, &SpecFlags::default()).unwrap();
        assert_eq!(spec.prep.shape(3), [3, 3, 2, 4]);
        assert_eq!((spec.prep.scale, spec.prep.channels, spec.top_k), (1.0 / 255.0, Channels::Rgb, 2));
        assert_eq!(spec.labels.len(), 2);
    }

    #[test]
    fn a_typo_a_wrong_mean_and_a_missing_sidecar_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let m = write(dir.path(), r#"{"input": {"width": 4, "height": 2}, "labels": "labels.txt", "mena": 1}"#, "a");
        assert!(format!("{:#}", load(&m, &SpecFlags::default()).unwrap_err()).contains("mena"));
        let m = write(dir.path(), r#"{"input": {"width": 4, "height": 2}, "labels": "labels.txt", "mean": [1]}"#, "a");
        assert!(format!("{:#}", load(&m, &SpecFlags::default()).unwrap_err()).contains("mean has 1 values"));
        std::fs::remove_file(dir.path().join("m.json")).unwrap();
        let e = format!("{:#}", load(&m, &SpecFlags::default()).unwrap_err());
        assert!(e.contains("m.json: cannot read the model's sidecar"), "{e}");
    }

    #[test]
    fn flags_win_over_the_sidecar_and_the_fingerprint_follows_the_labels() {
        let dir = tempfile::tempdir().unwrap();
        let m =
            write(dir.path(), r#"{"input": {"width": 4, "height": 2}, "labels": "labels.txt", "top_k": 1}"#, "a\nb\n");
        let first = load(&m, &SpecFlags::default()).unwrap();
        std::fs::write(dir.path().join("other.txt"), "x\ny\n").unwrap();
        let flags = SpecFlags { labels: Some(dir.path().join("other.txt")), top_k: Some(2), ..Default::default() };
        let other = load(&m, &flags).unwrap();
        assert_eq!((first.top_k, other.top_k), (1, 2));
        assert_eq!(other.labels[0].name(), "x");
        assert_ne!(first.fingerprint, other.fingerprint);
    }
}
