//! The loaded network: OpenCV's DNN module (`readNetFromONNX`) on the CPU, one per rank, loaded
//! once per job (a worker keeps it for the next job with the same model).
//!
//! Every forward pass takes exactly `batch` images, padding a short batch with zeros. OpenCV's
//! results for one image depend on the batch size (by a rounding step in some layers) but not
//! on its place in the batch or on the other images, so a fixed batch size gives every image
//! the same scores whichever rank ran it, with which neighbours, in a first run or a resume.

use super::onnx_shape;
use super::spec::ModelSpec;
use anyhow::{ensure, Context, Result};
use opencv::core::{Mat, Vector};
use opencv::dnn;
use opencv::prelude::*;
use std::sync::Arc;

pub struct Classifier {
    net: dnn::Net,
    spec: Arc<ModelSpec>,
    batch: usize,
}

impl Classifier {
    /// Loads the model (from `bytes` when rank 0 sent them, else from its file) and checks it
    /// against the sidecar before any image: its declared input shape, then one forward pass
    /// of zeros whose output must hold one score per label.
    pub fn load(spec: Arc<ModelSpec>, batch: usize, bytes: Option<&[u8]>) -> Result<Classifier> {
        let name = spec.model.display().to_string();
        let read;
        let data = match bytes {
            Some(b) => b,
            None => {
                read = std::fs::read(&spec.model).with_context(|| format!("{name}: cannot read the model"))?;
                &read
            }
        };
        ensure!(batch >= 1, "--batch-size must be at least 1");
        let declared = onnx_shape::input_shape(data).with_context(|| format!("{name}: cannot load the model"))?;
        onnx_shape::check_against(&declared, spec.prep.shape(batch), "its sidecar")
            .with_context(|| format!("{name}: the model does not fit its sidecar"))?;
        let mut net = dnn::read_net_from_onnx_buffer(&Vector::from_slice(data))
            .with_context(|| format!("{name}: OpenCV's DNN module cannot load the model"))?;
        net.set_preferable_backend(dnn::DNN_BACKEND_OPENCV)?;
        net.set_preferable_target(dnn::DNN_TARGET_CPU)?;
        let mut me = Classifier { net, spec, batch };
        let scores = me.forward(&[]).with_context(|| {
            format!("{name}: a forward pass at the sidecar's input shape {:?} fails", me.spec.prep.shape(batch))
        })?;
        let (got, want) = (scores.len() / batch, me.spec.labels.len());
        ensure!(
            got == want,
            "{}: {want} labels, but the model {name} gives {got} scores per image",
            me.spec.labels_file.display()
        );
        Ok(me)
    }

    pub fn spec(&self) -> &Arc<ModelSpec> {
        &self.spec
    }

    /// Images per forward pass.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The scores of up to `batch` prepared inputs ([`super::tensor::input_of`]), one vector
    /// each, softmaxed when the sidecar says so.
    pub fn scores(&mut self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        ensure!(inputs.len() <= self.batch, "{} images for a batch of {}", inputs.len(), self.batch);
        let all = self.forward(inputs)?;
        let per = all.len() / self.batch;
        Ok(all
            .chunks(per)
            .take(inputs.len())
            .map(|s| if self.spec.softmax { softmax(s) } else { s.to_vec() })
            .collect())
    }

    /// One forward pass of exactly `batch` images, the missing ones zeros: every score in order.
    fn forward(&mut self, inputs: &[Vec<f32>]) -> Result<Vec<f32>> {
        let len = self.spec.prep.len();
        let mut blob = vec![0f32; self.batch * len];
        for (i, input) in inputs.iter().enumerate() {
            ensure!(input.len() == len, "an input of {} values for a model that takes {len}", input.len());
            blob[i * len..(i + 1) * len].copy_from_slice(input);
        }
        let shape: Vec<i32> = self.spec.prep.shape(self.batch).iter().map(|&d| d as i32).collect();
        let blob = Mat::new_nd_with_data(&shape, &blob)?;
        self.net.set_input_def(&blob)?;
        let out: Mat = self.net.forward_single_def()?;
        let scores = out.data_typed::<f32>().context("the model's output is not float")?;
        ensure!(!scores.is_empty() && scores.len() % self.batch == 0, "the model gives {} values", scores.len());
        Ok(scores.to_vec())
    }
}

/// A numerically careful softmax (in `f64`, back to `f32`).
fn softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e: Vec<f64> = x.iter().map(|&v| (v as f64 - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| (v / sum) as f32).collect()
}

/// The `k` best `(index, score)` pairs, best first (ties: the lower index first).
pub fn top_k(scores: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.into_iter().take(k).map(|i| (i, scores[i])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_is_best_first_with_ties_by_index() {
        assert_eq!(top_k(&[0.1, 0.5, 0.5, 0.2], 3), [(1, 0.5), (2, 0.5), (3, 0.2)]);
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_the_order() {
        let s = softmax(&[1.0, 3.0, 2.0]);
        assert!((s.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(top_k(&s, 1)[0].0, 1);
    }
}
