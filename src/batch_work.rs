//! What a batch does with each image, and where its result goes on rank 0. The scheduling,
//! the journal, the resume and the fault handling of a batch are the same whatever the work:
//! filtering an image into an output file (`imgproc batch`), or classifying it into a line of
//! a results file (`imgproc classify`).

use crate::batch::BatchItem;
use crate::chain::OpChain;
use crate::classify::net::Classifier;
use crate::classify::spec::ModelSpec;
use crate::model::Produced;
use crate::row_source::Fingerprint;
use anyhow::Result;
use std::sync::{Arc, Mutex};

/// The work on each image of a batch.
#[derive(Clone)]
pub enum BatchWork {
    /// Filter it with the chain into its output file.
    Filter(OpChain),
    /// Classify it into a record ([`crate::classify::record::Record`]).
    Classify(ClassifyWork),
}

impl BatchWork {
    /// The chain of a filtering batch (an empty one for classifying).
    pub fn chain(&self) -> OpChain {
        match self {
            BatchWork::Filter(chain) => chain.clone(),
            BatchWork::Classify(_) => OpChain(Vec::new()),
        }
    }
}

/// A classify batch: the model rank 0 loaded and checked, which its own share of the work uses.
#[derive(Clone)]
pub struct ClassifyWork {
    pub spec: Arc<ModelSpec>,
    /// Images per forward pass.
    pub batch: usize,
    pub classifier: Arc<Mutex<Classifier>>,
    /// Of the model file, for workers to tell whether they see the same.
    pub model_file: Fingerprint,
}

/// Where rank 0 puts each finished image's result.
pub trait Outputs {
    /// Keeps item `item`'s result: a temporary file a rank wrote beside the output, or bytes.
    fn store(&mut self, item: &BatchItem, payload: Produced<Vec<u8>>) -> Result<()>;

    /// Notes that `item` failed on `rank` (it is done again by the next run).
    fn failed(&mut self, _item: &BatchItem, _rank: usize, _reason: &str) -> Result<()> {
        Ok(())
    }
}

/// A filtering batch's outputs: each result renamed or written atomically into its file.
pub struct OutputFiles;

impl Outputs for OutputFiles {
    fn store(&mut self, item: &BatchItem, payload: Produced<Vec<u8>>) -> Result<()> {
        match payload {
            Produced::Temp(tmp) => crate::codec::commit(&tmp, &item.output),
            Produced::Bytes(buf) => crate::codec::write_atomic(&item.output, &buf),
        }
    }
}
