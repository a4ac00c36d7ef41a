//! Rank 0's side of a batch: the MPI [`Transport`] the pure scheduler drives, and the journal and
//! progress bookkeeping around it. Which rank gets which image is decided in `scheduler`, not here.

use super::lane::LocalLane;
use super::Master;
use crate::batch::BatchItem;
use crate::batch_work::{BatchWork, Outputs};
use crate::cancel::failure_of;
use crate::journal::{now, BatchJournal, Entry};
use crate::model::{BatchOptions, BatchOutcome, Failure, Produced, Progress, RankStats};
use crate::protocol::*;
use crate::reach::{self, ProbeFile};
use crate::scheduler::{self, Halt, RankEvent, Report, Scheduler, Transport};
use anyhow::Result;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

/// What a finished item hands back to rank 0: its bytes, or the temporary file a rank wrote.
pub type Payload = Produced<Vec<u8>>;

/// What may stop a batch before its end: a cancel (running images stop, nothing of theirs is
/// kept) or a pause (running images finish; the batch yields).
#[derive(Clone, Copy)]
pub struct BatchHalt<'a> {
    pub cancel: &'a AtomicBool,
    pub pause: &'a AtomicBool,
}

/// A batch's images and what to do with each.
#[derive(Clone, Copy)]
pub struct BatchPlan<'a> {
    pub items: &'a [BatchItem],
    pub work: &'a BatchWork,
    /// An open batch: more items arrive here while it runs, each taking the next index, their
    /// outputs in the same folder as the first items'. The batch ends once the sender is gone
    /// and every item is done (a server's turn that later jobs join). Arrivals are new work:
    /// the journal is not asked about them.
    pub more: Option<&'a Receiver<BatchItem>>,
}

impl Master {
    /// Runs a batch: each rank asks for the next image when it is done, so large and small images
    /// and slow and fast nodes balance. Images finished by an earlier run (journal) are skipped.
    /// Once `cancel` is set no new image starts and running ones stop at their next chunk of rows;
    /// they are not journaled, so the next run does them. Once `halt.pause` is set no new image
    /// starts but running ones finish and are journaled: the batch yields, and a later run of
    /// the same job goes on from there ([`BatchOutcome::paused`]). Each finished result goes to
    /// `outputs` before its journal line is written.
    pub fn run_batch(
        &self,
        plan: BatchPlan<'_>,
        opts: &BatchOptions,
        journal: &mut BatchJournal,
        on: &mut dyn FnMut(Progress),
        halt: BatchHalt<'_>,
        outputs: &mut dyn Outputs,
    ) -> Result<BatchOutcome> {
        let BatchPlan { items, work, more } = plan;
        let BatchHalt { cancel, pause } = halt;
        self.settle()?;
        let n = self.size();
        let mut outcome = BatchOutcome::default();
        let local = n == 1 || !opts.coordinator_only;
        let mut pending_items = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if journal.is_done(&item.input) {
                outcome.already_done += 1;
            } else {
                pending_items.push(i);
            }
        }
        journal.record(Entry::Start {
            time: now(),
            job: journal.job().to_string(),
            ranks: n,
            hosts: self.ranks.iter().map(|r| r.host.clone()).collect(),
            pending: pending_items.len(),
            already_done: outcome.already_done,
        })?;
        let (job, own_files) = self.start_batch_on_workers(items, &pending_items, work, opts)?;
        // Rank 0's lane holds two items (two forward passes' worth when classifying), so it never
        // idles while the MPI thread hands the next one over; so does a worker that reads its own
        // files (an index costs nothing to send ahead). A worker sent bytes holds one: a second
        // would make rank 0 wait on its send.
        let group = match work {
            BatchWork::Classify(c) => c.batch,
            BatchWork::Filter(_) => 1,
        };
        let slots = (0..n)
            .map(|r| match r {
                0 if local => 2 * group,
                0 => 0,
                _ if own_files[r] => 2 * group,
                _ => group,
            })
            .collect();
        let mut sched = Scheduler::new(slots);
        pending_items.iter().for_each(|&i| sched.push(i));
        if more.is_none() {
            sched.close();
        }
        // Images to do in this run: grows as an open batch's arrive.
        let pending = Cell::new(pending_items.len());
        let items = RefCell::new(items.to_vec());

        let outputs = RefCell::new(outputs);
        let mut transport = MpiBatch {
            master: self,
            items: &items,
            job,
            own_files: own_files.clone(),
            lane: local.then(|| LocalLane::spawn(work.clone(), opts.max_pixels)),
            mine: self.stats(0),
            events: VecDeque::new(),
            outputs: &outputs,
        };
        let books = RefCell::new(Bookkeeping { journal, on, waiting: Vec::new(), done: 0 });
        // Images handed out so far (copies for stragglers included). Once every image is, the
        // rest of the batch is the few in flight: each is synced and reported as it comes,
        // since no neighbour will share its fsync soon (a server's small turn ends its jobs as
        // their images end, not up to SYNC_AFTER later).
        let mut handed = 0;
        let mut record = |r: Report| -> Result<()> {
            let mut books = books.borrow_mut();
            match r {
                Report::Assigned { rank, item } => {
                    handed += 1;
                    (books.on)(Progress::ItemAssigned { rank, index: item })
                }
                Report::Done { rank, item, secs } => {
                    let it = &items.borrow()[item];
                    let job = books.journal.job().to_string();
                    books.journal.append(Entry::Done {
                        time: now(),
                        job,
                        input: it.input.clone(),
                        output: it.output.clone(),
                        rank,
                        host: self.ranks[rank].host.clone(),
                        secs,
                    })?;
                    // Reported done once its journal line is on disk (`Bookkeeping::tick`).
                    books.waiting.push(Progress::ItemDone { rank, index: item, secs, error: None });
                }
                Report::Failed { rank, item, secs, reason } => {
                    let it = &items.borrow()[item];
                    let job = books.journal.job().to_string();
                    // A failed image is done again by the next run whether this line lasts or not.
                    books.journal.append(Entry::Failed {
                        time: now(),
                        job,
                        input: it.input.clone(),
                        reason: reason.clone(),
                    })?;
                    outputs.borrow_mut().failed(it, rank, &reason)?;
                    outcome.failed.push((it.input.clone(), reason.clone()));
                    (books.on)(Progress::ItemDone { rank, index: item, secs, error: Some(reason) });
                }
                // Not journaled: the next run does it.
                Report::Cancelled { .. } => {}
            }
            // An open batch's images are each awaited by someone (a server's client): each is
            // synced as it comes.
            books.tick(more.is_some() || handed >= pending.get())
        };
        // Between events: an open batch's arrivals are queued, and lines waiting for their
        // fsync get it once it is due.
        let mut halt = |sched: &mut Scheduler| -> Halt {
            if let Some(more) = more.filter(|_| sched.is_open()) {
                loop {
                    match more.try_recv() {
                        Ok(item) => {
                            let mut items = items.borrow_mut();
                            sched.push(items.len());
                            items.push(item);
                            pending.set(pending.get() + 1);
                        }
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            sched.close();
                            break;
                        }
                    }
                }
            }
            // An error here comes back from the next report or the final flush.
            let _ = books.borrow_mut().tick(false);
            if cancel.load(Ordering::Relaxed) {
                Halt::Cancel
            } else if pause.load(Ordering::Relaxed) {
                Halt::Withdraw
            } else {
                Halt::Go
            }
        };
        let end = scheduler::run(&mut sched, &mut transport, &mut halt, &mut record)?;
        let mut books = books.into_inner();
        books.tick(true)?;
        outcome.done = books.done;
        let mut stats = end.stats;
        // Rank 0 kept collecting and writing after its lane finished: its final totals.
        stats.retain(|s| s.rank != 0);
        stats.insert(0, transport.mine);
        for s in &mut stats {
            s.own_files = Some(own_files[s.rank]);
        }
        // A stalled rank still owes its last answer: the next command waits for it.
        if end.lingering.iter().any(|&r| r > 0) {
            let mut dirs = self.abandoned_dirs.borrow_mut();
            for dir in items.borrow().iter().filter_map(|i| i.output.parent()) {
                if !dirs.iter().any(|d| d == dir) {
                    dirs.push(dir.to_path_buf());
                }
            }
        }
        self.lingering.borrow_mut().extend(end.lingering.into_iter().filter(|&r| r > 0));
        outcome.stopped = end.stopped;
        let unfinished = outcome.done + outcome.failed.len() < pending.get();
        outcome.cancelled = cancel.load(Ordering::Relaxed) && unfinished;
        outcome.paused = !outcome.cancelled && outcome.stopped.is_none() && pause.load(Ordering::Relaxed) && unfinished;
        let journal = books.journal;
        journal.record(Entry::Finish {
            time: now(),
            job: journal.job().to_string(),
            done: outcome.done,
            failed: outcome.failed.len(),
            cancelled: outcome.cancelled,
        })?;
        outcome.stats = stats;
        Ok(outcome)
    }
}

impl Master {
    /// Sends every worker the batch and learns, per rank, whether it reads and writes its own
    /// files (`true` for rank 0, and for every rank with `--shared-dir`), with the job's id.
    /// Rank 0's probe file in
    /// the output folder is gone when this returns, whatever happened.
    fn start_batch_on_workers(
        &self,
        items: &[BatchItem],
        pending: &[usize],
        work: &BatchWork,
        opts: &BatchOptions,
    ) -> Result<(u64, Vec<bool>)> {
        let n = self.size();
        let out_dir = items.first().and_then(|i| i.output.parent()).map(Path::to_path_buf);
        let check = n > 1 && !opts.shared_files && !opts.send_files;
        let probe = match &out_dir {
            Some(dir) if check => Some(ProbeFile::create(dir)?),
            _ => None,
        };
        let reach = probe.as_ref().zip(out_dir).map(|(p, out_dir)| {
            let inputs: Vec<PathBuf> = pending.iter().map(|&i| items[i].input.clone()).collect();
            BatchReachCheck { probe: p.probe().clone(), out_dir, sample: reach::sample_inputs(&inputs) }
        });
        let classify = match work {
            BatchWork::Classify(c) => {
                Some(ClassifyJob { spec: (*c.spec).clone(), batch: c.batch, model_file: c.model_file.clone() })
            }
            BatchWork::Filter(_) => None,
        };
        let job = BatchJob { id: self.new_job_id(), chain: work.chain(), max_pixels: opts.max_pixels, reach, classify };
        for rank in 1..n {
            send_command(self.world(), rank, &Command::Batch(job.clone()));
        }
        let mut own = vec![true; n];
        let mut model: Option<Vec<u8>> = None;
        let mut ready = 1;
        while ready < n {
            let (up, from) = receive_json::<BatchUp>(self.world(), None, TAG_BATCH_UP, &mut || {})?;
            let rank = from as usize;
            if let (BatchUp::NeedModel, Some(c)) = (&up, &job.classify) {
                if model.is_none() {
                    model = Some(crate::codec::read_file(&c.spec.model)?);
                }
                let bytes = model.as_deref().expect("read above");
                send_json(&self.process(rank), TAG_BATCH_DOWN, &BatchDown::Model { bytes: bytes.len() });
                send_bytes(&self.process(rank), TAG_BATCH_DOWN_BYTES, bytes);
                continue;
            }
            ready += 1;
            own[rank] = match up {
                BatchUp::Ready(Some(reach)) => {
                    if !reach.own_files() {
                        eprintln!(
                            "imgproc: rank {rank} ({}): {}; its images travel through rank 0",
                            self.ranks[rank].host,
                            reach.why_not()
                        );
                    }
                    reach.own_files()
                }
                // Not checked: `--shared-dir` says they see the files, `--send-files` that they
                // get bytes (or there are no items).
                BatchUp::Ready(None) => opts.shared_files,
                other => anyhow::bail!("rank {rank} answered the start of a batch with {other:?}"),
            };
        }
        drop(probe);
        Ok((job.id, own))
    }

    /// Asks worker `rank` to stop item `item` of job `job` at its next chunk.
    pub(super) fn cancel_item(&self, rank: usize, job: u64, item: usize) {
        send_json(&self.process(rank), TAG_CANCEL, &Cancel { job, item: Some(item) });
    }
}

/// The batch as it travels: workers over MPI, rank 0's share on its local lane.
struct MpiBatch<'a, 'o> {
    master: &'a Master,
    items: &'a RefCell<Vec<BatchItem>>,
    job: u64,
    /// Per rank: reads inputs and writes outputs itself (only indices travel).
    own_files: Vec<bool>,
    lane: Option<LocalLane>,
    /// Rank 0's totals.
    mine: RankStats,
    /// Events that need no message (rank 0's own `Finished`).
    events: VecDeque<RankEvent<Payload>>,
    outputs: &'a RefCell<&'o mut dyn Outputs>,
}

impl MpiBatch<'_, '_> {
    /// One event if any is ready now.
    fn poll(&mut self) -> Result<Option<RankEvent<Payload>>> {
        if let Some(e) = self.events.pop_front() {
            return Ok(Some(e));
        }
        if let Some((index, secs, result)) = self.lane.as_mut().and_then(LocalLane::try_recv) {
            let io = result.as_ref().map(|(_, t)| *t).unwrap_or_default();
            self.mine.read_secs += io.read_secs;
            self.mine.write_secs += io.write_secs;
            self.mine.compute_secs += secs - io.read_secs - io.write_secs;
            self.mine.images += usize::from(result.is_ok());
            return Ok(Some(RankEvent::Done { rank: 0, item: index, secs, outcome: result.map(|(made, _)| made) }));
        }
        if self.master.size() == 1 {
            return Ok(None);
        }
        let Some((up, from)) = try_receive_json::<BatchUp>(self.master.world(), None, TAG_BATCH_UP)? else {
            return Ok(None);
        };
        let rank = from as usize;
        Ok(Some(match up {
            BatchUp::Done { index, outcome, secs } => {
                let started = Instant::now();
                let outcome = outcome.map(|produced| match produced {
                    Produced::Bytes(len) => {
                        let mut buf = vec![0u8; len];
                        receive_bytes(&self.master.process(rank), TAG_BATCH_UP_BYTES, &mut buf);
                        self.mine.bytes_received += len as u64;
                        Produced::Bytes(buf)
                    }
                    Produced::Temp(tmp) => Produced::Temp(tmp),
                });
                self.mine.collect_secs += started.elapsed().as_secs_f64();
                RankEvent::Done { rank, item: index, secs, outcome }
            }
            BatchUp::Stats(stats) => RankEvent::Finished { rank, stats },
            BatchUp::Ready(_) | BatchUp::NeedModel => return Ok(None),
        }))
    }
}

impl Transport for MpiBatch<'_, '_> {
    type Payload = Payload;

    fn assign(&mut self, rank: usize, index: usize) -> Result<(), String> {
        let item = &self.items.borrow()[index];
        if rank == 0 {
            self.lane.as_mut().expect("rank 0 gets items only with a lane").send(index, item.clone());
            return Ok(());
        }
        let bytes = if self.own_files[rank] {
            None
        } else {
            // Inputs rank 0 cannot read fail here, without a trip to a worker.
            let started = Instant::now();
            let b = crate::codec::read_file(&item.input).map_err(|e| format!("{e:#}"))?;
            self.mine.read_secs += started.elapsed().as_secs_f64();
            Some(b)
        };
        let to = self.master.process(rank);
        let started = Instant::now();
        let down = BatchDown::Work {
            index,
            input: item.input.clone(),
            output: item.output.clone(),
            format: item.format.clone(),
            bytes: bytes.as_ref().map(Vec::len),
        };
        send_json(&to, TAG_BATCH_DOWN, &down);
        if let Some(b) = &bytes {
            send_bytes(&to, TAG_BATCH_DOWN_BYTES, b);
            self.mine.bytes_sent += b.len() as u64;
        }
        self.mine.send_secs += started.elapsed().as_secs_f64();
        Ok(())
    }

    fn finish(&mut self, rank: usize) {
        if rank == 0 {
            // Rank 0's totals are taken at the very end (`run_batch`).
            self.events.push_back(RankEvent::Finished { rank: 0, stats: RankStats::default() });
        } else {
            send_json(&self.master.process(rank), TAG_BATCH_DOWN, &BatchDown::Finish);
        }
    }

    fn cancel(&mut self, rank: usize, item: usize) {
        if rank == 0 {
            if let Some(lane) = &self.lane {
                lane.cancel(item);
            }
        } else {
            self.master.cancel_item(rank, self.job, item);
        }
    }

    fn next_event(&mut self, timeout: Duration) -> Result<Option<RankEvent<Payload>>> {
        poll_for(timeout, || self.poll())
    }

    fn store(&mut self, index: usize, payload: Payload) -> Result<(), Failure> {
        let started = Instant::now();
        let result = self.outputs.borrow_mut().store(&self.items.borrow()[index], payload);
        self.mine.write_secs += started.elapsed().as_secs_f64();
        result.map_err(|e| failure_of(&e))
    }

    fn discard(&mut self, _index: usize, payload: Payload) {
        if let Produced::Temp(tmp) = payload {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// The journal and the progress callback while a batch runs. A finished image's `done` line is
/// written at once but forced to disk together with the lines of its neighbours (group commit,
/// see `BatchJournal::sync_due`); the image counts as done, and is reported, only once its line
/// is on disk. So after a crash an image is done and recorded, or done again.
struct Bookkeeping<'a, 'j> {
    journal: &'j mut BatchJournal,
    on: &'a mut dyn FnMut(Progress),
    /// `ItemDone` reports whose journal lines are not on disk yet.
    waiting: Vec<Progress>,
    /// Images done and durably recorded.
    done: usize,
}

impl Bookkeeping<'_, '_> {
    /// Forces the journal to disk when it is due (or `now`), then reports what it made durable.
    fn tick(&mut self, now: bool) -> Result<()> {
        if now {
            self.journal.sync()?;
        } else if !self.journal.sync_due()? {
            return Ok(());
        }
        for p in self.waiting.drain(..) {
            self.done += 1;
            (self.on)(p);
        }
        Ok(())
    }
}
