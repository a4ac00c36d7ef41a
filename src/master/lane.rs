//! Rank 0's own share of a batch: a thread that filters or classifies images while the MPI
//! thread coordinates. It makes no MPI calls. Each item carries its own cancel flag, so one
//! queued or running item can be stopped without touching the others.

use crate::batch::{self, BatchItem, FileTimes};
use crate::batch_work::{BatchWork, ClassifyWork};
use crate::cancel::{failure_of, CancelFlag};
use crate::classify::run::{classify_group, GroupItem};
use crate::model::{Failure, Produced};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Instant;

/// A finished item: its index, seconds, and its result (a temporary output file with its
/// read/write times, or a classify record's bytes), or why it failed.
pub type LaneResult = (usize, f64, Result<(Produced<Vec<u8>>, FileTimes), Failure>);

type Work = (usize, BatchItem, CancelFlag);

pub struct LocalLane {
    /// `None` once dropping: the thread then ends after its current item.
    work: Option<mpsc::Sender<Work>>,
    done: mpsc::Receiver<LaneResult>,
    flags: HashMap<usize, CancelFlag>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocalLane {
    pub fn spawn(work: BatchWork, max_pixels: u64) -> LocalLane {
        let (tx, work_rx) = mpsc::channel::<Work>();
        let (done_tx, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("rank0-lane".into())
            .spawn(move || match work {
                BatchWork::Filter(chain) => {
                    for (index, item, cancel) in work_rx {
                        let started = Instant::now();
                        let result = batch::process_file(&item, &chain, max_pixels, &cancel)
                            .map(|(tmp, t)| (Produced::Temp(tmp), t))
                            .map_err(|e| failure_of(&e));
                        if done_tx.send((index, started.elapsed().as_secs_f64(), result)).is_err() {
                            break;
                        }
                    }
                }
                BatchWork::Classify(c) => classify_lane(&c, max_pixels, &work_rx, &done_tx),
            })
            .expect("starting rank 0's batch lane");
        LocalLane { work: Some(tx), done, flags: HashMap::new(), thread: Some(thread) }
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

/// Rank 0's classifying: the items waiting, up to a batch, in one forward pass each time.
fn classify_lane(c: &ClassifyWork, max_pixels: u64, work: &mpsc::Receiver<Work>, done: &mpsc::Sender<LaneResult>) {
    let mut classifier = c.classifier.lock().unwrap_or_else(|e| e.into_inner());
    while let Ok(first) = work.recv() {
        let mut group = vec![first];
        while group.len() < c.batch {
            match work.try_recv() {
                Ok(w) => group.push(w),
                Err(_) => break,
            }
        }
        let (live, cancelled): (Vec<_>, Vec<_>) = group.into_iter().partition(|(_, _, f)| !f.load(Ordering::Relaxed));
        for (index, ..) in cancelled {
            let _ = done.send((index, 0.0, Err(Failure::Cancelled)));
        }
        let items =
            live.into_iter().map(|(index, item, _)| GroupItem { index, file: item.input, bytes: None }).collect();
        for (index, secs, result) in classify_group(&mut classifier, items, max_pixels, 0) {
            let result = result.map(|r| (Produced::Bytes(r), FileTimes::default())).map_err(Failure::Failed);
            if done.send((index, secs, result)).is_err() {
                return;
            }
        }
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
            if let Ok((Produced::Temp(tmp), _)) = result {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}
