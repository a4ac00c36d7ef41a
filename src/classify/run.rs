//! One forward pass over a group of batch images on any rank: read or take each image's bytes,
//! decode and prepare it, run the group through the network, and make each image's record.
//! A bad image fails alone (its reason names the file); the others of its group go on.

use super::net::Classifier;
use super::record::Record;
use super::tensor::input_of;
use crate::codec;
use anyhow::Result;
use std::path::PathBuf;
use std::time::Instant;

/// An image of the group: its file, and its bytes when rank 0 sent them.
pub struct GroupItem {
    pub index: usize,
    pub file: PathBuf,
    pub bytes: Option<Vec<u8>>,
}

/// What became of one image: its index, seconds, and its record as JSON or why it failed.
pub type GroupResult = (usize, f64, Result<Vec<u8>, String>);

/// Classifies up to a batch of images in one forward pass (`rank` goes into the records).
pub fn classify_group(c: &mut Classifier, items: Vec<GroupItem>, max_pixels: u64, rank: usize) -> Vec<GroupResult> {
    let mut results = Vec::with_capacity(items.len());
    let mut ready = Vec::new();
    for item in items {
        let started = Instant::now();
        let prepared = (|| -> Result<Vec<f32>> {
            let name = item.file.display().to_string();
            let img = match &item.bytes {
                Some(b) => codec::decode(b, &name, max_pixels)?,
                None => codec::read_image(&item.file, max_pixels)?,
            };
            input_of(&img, &c.spec().prep).map_err(|e| e.context(format!("{name}: preparing the model's input")))
        })();
        let secs = started.elapsed().as_secs_f64();
        match prepared {
            Ok(input) => ready.push((item, secs, input)),
            Err(e) => results.push((item.index, secs, Err(format!("{e:#}")))),
        }
    }
    if ready.is_empty() {
        return results;
    }
    let started = Instant::now();
    let inputs: Vec<Vec<f32>> = ready.iter_mut().map(|(_, _, input)| std::mem::take(input)).collect();
    let scores = c.scores(&inputs);
    let share = started.elapsed().as_secs_f64() / ready.len() as f64;
    let spec = c.spec().clone();
    match scores {
        Ok(scores) => {
            for ((item, secs, _), s) in ready.into_iter().zip(scores) {
                let r = Record::of_scores(&item.file, &s, &spec.labels, spec.top_k, secs + share, rank);
                results.push((item.index, secs + share, Ok(serde_json::to_vec(&r).expect("records serialise"))));
            }
        }
        Err(e) => {
            for (item, secs, _) in ready {
                results.push((
                    item.index,
                    secs + share,
                    Err(format!("{}: the forward pass failed: {e:#}", item.file.display())),
                ));
            }
        }
    }
    results
}
