//! The server's model (`imgproc serve --model M.onnx`): checked once at start, so a bad model,
//! sidecar, labels or info file stops the server with the file named instead of failing every
//! classify job later. Each classify job is then an ordinary [`ClassifyRequest`] of this model.

use crate::classify::info::LabelInfo;
use crate::classify::labels::Label;
use crate::classify::net::Classifier;
use crate::classify::spec::{self, ModelSpec, SpecFlags};
use crate::cli::ServeArgs;
use crate::jobs::classify::ClassifyRequest;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The results file of a classify job, in its `out/` folder.
pub const RESULTS: &str = "results.jsonl";

pub struct ServedModel {
    pub spec: Arc<ModelSpec>,
    flags: SpecFlags,
    batch_size: usize,
    info: LabelInfo,
}

impl ServedModel {
    /// The model of `--model`, or `None` without it. Loads the network once here (its shape
    /// checked against the sidecar, one forward pass) and drops it: the ranks load their own.
    pub fn load(args: &ServeArgs) -> Result<Option<ServedModel>> {
        let Some(model) = &args.model else { return Ok(None) };
        let flags = SpecFlags { sidecar: args.sidecar.clone(), labels: args.labels.clone(), top_k: args.top_k };
        let (spec, bytes) = spec::load_with_model(model, &flags)?;
        let spec = Arc::new(spec);
        Classifier::load(spec.clone(), args.classify_batch, Some(&bytes))?;
        let info = match &args.info {
            Some(path) => LabelInfo::read(path).context("--info")?,
            None => LabelInfo::default(),
        };
        Ok(Some(ServedModel { spec, flags, batch_size: args.classify_batch, info }))
    }

    /// A classify job of this model over `inputs`, its results in `out_dir`.
    pub fn request(&self, inputs: Vec<PathBuf>, out_dir: &Path, max_pixels: u64) -> ClassifyRequest {
        ClassifyRequest {
            inputs,
            results: out_dir.join(RESULTS),
            model: self.spec.model.clone(),
            flags: self.flags.clone(),
            batch_size: self.batch_size,
            max_pixels,
            shared_dir: None,
            send_files: false,
            coordinator_only: false,
        }
    }

    /// The model's file name (`mobilenetv2.onnx`).
    pub fn file_name(&self) -> String {
        self.spec.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// What a classify job shows as its chain (`classify:mobilenetv2.onnx`).
    pub fn job_chain(&self) -> String {
        format!("classify:{}", self.file_name())
    }

    /// The records of job `id`'s results file in `out_dir` (none before its first line).
    pub fn records(&self, out_dir: &Path) -> Result<Vec<crate::classify::record::Record>> {
        let path = out_dir.join(RESULTS);
        if !path.exists() {
            return Ok(Vec::new());
        }
        crate::classify::results::read_records(&path, &self.spec.labels)
    }

    /// The label at `index` of the model's output.
    pub fn label(&self, index: usize) -> Option<&Label> {
        self.spec.labels.get(index)
    }

    /// The description of a label, when `--info` has one.
    pub fn info_of(&self, label: &Label) -> Option<&str> {
        self.info.of(label)
    }
}
