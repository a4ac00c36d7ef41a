//! A classify job: every image of the inputs through an ONNX model, split by index across the
//! ranks by the batch scheduler (journal and resume included), one line per image in a results
//! file. The model, its sidecar and its labels are checked before any image is read; a bad
//! image fails its own line. Inputs that are class folders (`valid/n01443537/*.JPEG`) are also
//! evaluated (top-1, top-5, confusions). The CLI, the GUI and the server all start one here.

use super::{cannot_start, JobClock, Summary};
use crate::batch::{self, BatchItem};
use crate::batch_work::{BatchWork, ClassifyWork, Outputs};
use crate::classify::eval;
use crate::classify::net::Classifier;
use crate::classify::record::{Record, ResultsFormat};
use crate::classify::results::{read_records, ResultsFile};
use crate::classify::spec::{self, ModelSpec, SpecFlags};
use crate::journal::BatchJournal;
use crate::master::{BatchHalt, BatchPlan, Master};
use crate::model::{BatchOptions, BatchOutcome, Produced, Progress};
use crate::row_source::Fingerprint;
use anyhow::{ensure, Context, Result};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// A classify job as a face asks for it.
#[derive(Clone, Debug)]
pub struct ClassifyRequest {
    /// Image files, folders of them, and folders of class folders.
    pub inputs: Vec<PathBuf>,
    /// The results file (`.jsonl` or `.csv`); its journal goes beside it.
    pub results: PathBuf,
    pub model: PathBuf,
    pub flags: SpecFlags,
    /// Images per forward pass.
    pub batch_size: usize,
    pub max_pixels: u64,
    pub shared_dir: Option<PathBuf>,
    pub send_files: bool,
    pub coordinator_only: bool,
}

/// A classify job checked and planned, its model loaded on rank 0: nothing classified yet.
pub struct PreparedClassify {
    request: ClassifyRequest,
    items: Vec<BatchItem>,
    journal: BatchJournal,
    results: ResultsFile,
    work: ClassifyWork,
    /// Each image's class folder, for the inputs that are class folders.
    truth: HashMap<PathBuf, String>,
    clock: JobClock,
}

impl PreparedClassify {
    /// The job's images in index order (progress events use these indices).
    pub fn items(&self) -> &[BatchItem] {
        &self.items
    }

    pub fn spec(&self) -> &Arc<ModelSpec> {
        &self.work.spec
    }

    /// Which images an earlier run classified, in index order.
    pub fn already_done(&self) -> Vec<bool> {
        self.items.iter().map(|i| self.journal.is_done(&i.input)).collect()
    }

    /// Images this run will classify.
    pub fn pending(&self) -> usize {
        self.items.iter().filter(|i| !self.journal.is_done(&i.input)).count()
    }
}

/// Checks the model (sidecar, labels, its input shape, one forward pass), plans the images and
/// reconciles the results file with the journal; errors here mean the job cannot start.
pub fn prepare(req: &ClassifyRequest) -> Result<PreparedClassify> {
    let clock = JobClock::start();
    let (spec, model_bytes) = spec::load_with_model(&req.model, &req.flags).map_err(cannot_start)?;
    let spec = Arc::new(spec);
    let classifier = Classifier::load(spec.clone(), req.batch_size, Some(&model_bytes)).map_err(cannot_start)?;
    drop(model_bytes);
    let model_file = Fingerprint::of(&spec.model).map_err(cannot_start)?;
    let results = std::path::absolute(&req.results)?;
    let format = ResultsFormat::of(&results).map_err(cannot_start)?;
    let dir = results.parent().context("the results file has no folder")?.to_path_buf();
    let (files, truth) = expand(&req.inputs).map_err(cannot_start)?;
    ensure!(!files.is_empty(), super::JobError::CannotStart(anyhow::anyhow!("no input images found")));
    if let Some(shared) = &req.shared_dir {
        let shared = std::path::absolute(shared)?;
        if let Some(f) = files.iter().find(|f| !f.starts_with(&shared)) {
            let e = anyhow::anyhow!("{}: not inside the shared folder {}", f.display(), shared.display());
            return Err(cannot_start(e));
        }
    }
    batch::prepare_output_dir(&dir).map_err(cannot_start)?;
    let key = format!("classify {} top {} batch {} -> {:?}", spec.fingerprint, spec.top_k, req.batch_size, format);
    let mut journal = BatchJournal::open(&dir, &key).map_err(cannot_start)?;
    let reconciled = ResultsFile::open(&results, spec.top_k, &|f| journal.is_done(f)).map_err(cannot_start)?;
    let lost: Vec<PathBuf> =
        journal.done_inputs().filter(|f| !reconciled.kept.contains(*f)).map(Path::to_path_buf).collect();
    lost.iter().for_each(|f| journal.forget(f));
    let ext = if format == ResultsFormat::Csv { "csv" } else { "jsonl" };
    let items =
        files.into_iter().map(|input| BatchItem { input, output: results.clone(), format: ext.to_string() }).collect();
    let work = ClassifyWork { spec, batch: req.batch_size, classifier: Arc::new(Mutex::new(classifier)), model_file };
    Ok(PreparedClassify { request: req.clone(), items, journal, results: reconciled.file, work, truth, clock })
}

/// Expands files and folders: a folder's images, and the images of each of its sub-folders
/// (one level: class folders), each of those with its folder's name as its class.
fn expand(inputs: &[PathBuf]) -> Result<(Vec<PathBuf>, HashMap<PathBuf, String>)> {
    let mut files = Vec::new();
    let mut truth = HashMap::new();
    let mut seen = HashSet::new();
    for input in inputs {
        let abs = std::path::absolute(input).with_context(|| format!("{}: bad path", input.display()))?;
        let mut found = batch::expand_inputs(std::slice::from_ref(&abs))?;
        if abs.is_dir() {
            let mut classes: Vec<PathBuf> = std::fs::read_dir(&abs)
                .with_context(|| format!("{}: cannot list folder", abs.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
                .collect();
            classes.sort();
            for class in classes {
                for f in batch::expand_inputs(std::slice::from_ref(&class))? {
                    truth.insert(f.clone(), eval::folder_of(&f).unwrap_or_default());
                    found.push(f);
                }
            }
        }
        files.extend(found.into_iter().filter(|f| seen.insert(f.clone())));
    }
    Ok((files, truth))
}

/// A finished classify job.
pub struct ClassifyRun {
    pub outcome: BatchOutcome,
    pub summary: Summary,
}

/// Runs a prepared job on every rank; `cancel` and `pause` act as for a batch
/// ([`super::batch::run_yielding`]).
pub fn run(
    master: &Master,
    prepared: PreparedClassify,
    on: &mut dyn FnMut(Progress),
    cancel: &AtomicBool,
    pause: &AtomicBool,
) -> Result<ClassifyRun> {
    let PreparedClassify { request: req, items, mut journal, results, work, truth, clock } = prepared;
    let opts = BatchOptions {
        max_pixels: req.max_pixels,
        shared_files: req.shared_dir.is_some(),
        send_files: req.send_files,
        coordinator_only: req.coordinator_only,
    };
    let spec = work.spec.clone();
    let mut sink = ResultsSink { file: results };
    let halt = BatchHalt { cancel, pause };
    let outcome = master.run_batch(
        BatchPlan { items: &items, work: &BatchWork::Classify(work), more: None },
        &opts,
        &mut journal,
        on,
        halt,
        &mut sink,
    )?;
    sink.file.sync()?;
    let path = sink.file.path().to_path_buf();
    let evaluation = if truth.is_empty() {
        None
    } else {
        Some(eval::evaluate(&read_records(&path, &spec.labels)?, &truth, &spec.labels))
    };
    let summary = Summary::classify(master, &spec.model, &path, &clock, &outcome, evaluation);
    Ok(ClassifyRun { outcome, summary })
}

/// Rank 0's side of the results: each record, and each failure, a line in the file.
struct ResultsSink {
    file: ResultsFile,
}

impl Outputs for ResultsSink {
    fn store(&mut self, item: &BatchItem, payload: Produced<Vec<u8>>) -> Result<()> {
        let Produced::Bytes(bytes) = payload else {
            anyhow::bail!("{}: a classify result came as a file", item.input.display());
        };
        let record: Record = serde_json::from_slice(&bytes).context("a rank sent a malformed record")?;
        self.file.append(&record)
    }

    fn failed(&mut self, item: &BatchItem, rank: usize, reason: &str) -> Result<()> {
        self.file.append(&Record::failed(&item.input, reason, 0.0, rank))
    }
}
