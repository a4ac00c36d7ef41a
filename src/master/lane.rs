//! Rank 0's own share of a batch: a thread that filters images while the MPI thread coordinates.
//! It makes no MPI calls. Each item carries its own cancel flag, so one queued or running item can
//! be stopped without touching the others.

use crate::batch::{self, BatchItem, FileTimes};
use crate::cancel::{failure_of, CancelFlag};
use crate::chain::OpChain;
use crate::model::Failure;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Instant;

/// A finished item: its index, seconds, and its temporary output with read/write times, or why
/// it failed.
pub type LaneResult = (usize, f64, Result<(PathBuf, FileTimes), Failure>);

pub struct LocalLane {
    /// `None` once dropping: the thread then ends after its current item.
    work: Option<mpsc::Sender<(usize, BatchItem, CancelFlag)>>,
    done: mpsc::Receiver<LaneResult>,
    flags: HashMap<usize, CancelFlag>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocalLane {
    pub fn spawn(chain: OpChain, max_pixels: u64) -> LocalLane {
        let (work, work_rx) = mpsc::channel::<(usize, BatchItem, CancelFlag)>();
        let (done_tx, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("rank0-lane".into())
            .spawn(move || {
                for (index, item, cancel) in work_rx {
                    let started = Instant::now();
                    let result = batch::process_file(&item, &chain, max_pixels, &cancel).map_err(|e| failure_of(&e));
                    if done_tx.send((index, started.elapsed().as_secs_f64(), result)).is_err() {
                        break;
                    }
                }
            })
            .expect("starting rank 0's batch lane");
        LocalLane { work: Some(work), done, flags: HashMap::new(), thread: Some(thread) }
    }

    pub fn send(&mut self, index: usize, item: BatchItem) {
        let flag = CancelFlag::default();
        self.flags.insert(index, flag.clone());
        let work = self.work.as_ref().expect("the lane takes work until it is dropped");
        work.send((index, item, flag)).expect("the local lane lives as long as the batch");
    }

    /// Stops item `index` at its next chunk of rows (or before it starts).
    pub fn cancel(&self, index: usize) {
        if let Some(flag) = self.flags.get(&index) {
            flag.store(true, Ordering::Relaxed);
        }
    }

    pub fn try_recv(&mut self) -> Option<LaneResult> {
        let result = self.done.try_recv().ok()?;
        self.flags.remove(&result.0);
        Some(result)
    }
}

impl Drop for LocalLane {
    /// Stops what the lane still holds (a copy of an item done elsewhere), waits for it, and
    /// removes any output it wrote after all: nothing is left beside the outputs.
    fn drop(&mut self) {
        self.work = None;
        self.flags.values().for_each(|f| f.store(true, Ordering::Relaxed));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        while let Ok((_, _, result)) = self.done.try_recv() {
            if let Ok((tmp, _)) = result {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}
