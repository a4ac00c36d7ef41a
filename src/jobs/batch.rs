//! A batch: many images, handed out dynamically, resumable through the journal in the output
//! folder. Planned before any work ([`prepare`]: names, collisions, the journal), then run
//! ([`run`]); the CLI and the GUI both go through here.

use super::{cannot_start, JobClock, JobError, Summary};
use crate::batch::{self, BatchItem};
use crate::batch_work::{BatchWork, OutputFiles};
use crate::chain::OpChain;
use crate::journal::BatchJournal;
use crate::master::{BatchHalt, BatchPlan, Master};
use crate::model::{BatchOptions, BatchOutcome, Progress};
use anyhow::{ensure, Result};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Receiver;

/// A batch as a face asks for it.
#[derive(Clone, Debug)]
pub struct BatchRequest {
    /// Image files and folders of them.
    pub inputs: Vec<PathBuf>,
    /// Where the outputs (and the journal) go.
    pub out_dir: PathBuf,
    pub chain: OpChain,
    /// The outputs' extension; `None` keeps each input's format.
    pub format: Option<String>,
    pub max_pixels: u64,
    /// Every rank sees the files under this folder (`--shared-dir`): every input and output
    /// must lie inside it.
    pub shared_dir: Option<PathBuf>,
    /// Workers get every image's bytes from rank 0 (`--send-files`).
    pub send_files: bool,
    pub coordinator_only: bool,
}

/// A batch planned and its journal open: nothing has been filtered yet.
pub struct PreparedBatch {
    request: BatchRequest,
    items: Vec<BatchItem>,
    journal: BatchJournal,
    clock: JobClock,
}

impl PreparedBatch {
    /// The batch's items in index order (progress events use these indices).
    pub fn items(&self) -> &[BatchItem] {
        &self.items
    }

    /// Which items an earlier run finished (the journal), in index order.
    pub fn already_done(&self) -> Vec<bool> {
        self.items.iter().map(|i| self.journal.is_done(&i.input)).collect()
    }

    /// Images this run will filter.
    pub fn pending(&self) -> usize {
        self.items.iter().filter(|i| !self.journal.is_done(&i.input)).count()
    }
}

/// Plans the batch (output names, collisions, never over an input) and opens its journal;
/// errors here mean the job cannot start.
pub fn prepare(req: &BatchRequest) -> Result<PreparedBatch> {
    let clock = JobClock::start();
    let (items, journal) =
        batch::open_job(&req.inputs, &req.out_dir, req.format.as_deref(), &req.chain).map_err(cannot_start)?;
    if let Some(shared) = &req.shared_dir {
        let shared = std::path::absolute(shared)?;
        for path in items.iter().flat_map(|i| [&i.input, &i.output]) {
            ensure!(
                path.starts_with(&shared),
                JobError::CannotStart(anyhow::anyhow!(
                    "{}: not inside the shared folder {}",
                    path.display(),
                    shared.display()
                ))
            );
        }
    }
    Ok(PreparedBatch { request: req.clone(), items, journal, clock })
}

/// An item for an open batch of `req` (see [`run_yielding`]): `input`'s output in the batch's
/// folder, as [`prepare`] plans its first items. The caller keeps the names apart (an arrival
/// is not checked against the batch's other outputs).
pub fn plan_arrival(req: &BatchRequest, input: &std::path::Path) -> Result<BatchItem> {
    let mut items = batch::plan(&[input.to_path_buf()], &req.out_dir, req.format.as_deref())?;
    Ok(items.remove(0))
}

/// A finished batch: what happened to its items, and its summary.
pub struct BatchRun {
    pub outcome: BatchOutcome,
    pub summary: Summary,
}

/// Runs a prepared batch on every rank. Once `cancel` is set no image starts and running ones
/// stop; the journal records only finished ones. Failed images and a cancel are in the outcome,
/// not errors.
pub fn run(
    master: &Master,
    prepared: PreparedBatch,
    on: &mut dyn FnMut(Progress),
    cancel: &AtomicBool,
) -> Result<BatchRun> {
    run_yielding(master, prepared, on, cancel, &AtomicBool::new(false), None)
}

/// [`run`], and once `pause` is set no image starts while running ones finish: the batch yields
/// its turn (the server's fairness) and a later [`prepare`] of the same request goes on from
/// its journal. With `more`, the batch is open: items planned by the caller ([`plan_arrival`])
/// arrive while it runs, and it ends once `more`'s sender is gone and they are done.
pub fn run_yielding(
    master: &Master,
    mut prepared: PreparedBatch,
    on: &mut dyn FnMut(Progress),
    cancel: &AtomicBool,
    pause: &AtomicBool,
    more: Option<&Receiver<BatchItem>>,
) -> Result<BatchRun> {
    let req = &prepared.request;
    let opts = BatchOptions {
        max_pixels: req.max_pixels,
        shared_files: req.shared_dir.is_some(),
        send_files: req.send_files,
        coordinator_only: req.coordinator_only,
    };
    let work = BatchWork::Filter(req.chain.clone());
    let halt = BatchHalt { cancel, pause };
    let outcome = master.run_batch(
        BatchPlan { items: &prepared.items, work: &work, more },
        &opts,
        &mut prepared.journal,
        on,
        halt,
        &mut OutputFiles,
    )?;
    let summary = Summary::batch(master, &req.chain, &req.out_dir, &prepared.clock, &outcome);
    Ok(BatchRun { outcome, summary })
}
