//! Rank 0: plans jobs, hands out work, takes part in global steps, collects results.
//!
//! [`Master`] is built on the thread that initialised MPI and must stay there (Open MPI cannot move
//! a communicator between threads). Dropping it broadcasts `Shutdown`, so workers never hang,
//! whatever way rank 0 leaves. Front ends (CLI, GUI) hand it decoded images or batch plans and
//! receive [`Progress`] events; it knows nothing of terminals or windows.

use crate::batch::{self, BatchItem};
use crate::chain::OpChain;
use crate::exec::{drive, DriveTimes, GlobalExchange, StripFailure, StripRun};
use crate::global::{self, HysteresisReply, HysteresisRequest};
use crate::image::Image;
use crate::journal::{now, BatchJournal, Entry};
use crate::protocol::*;
use crate::split::plan;
use anyhow::{bail, Result};
use mpi::point_to_point::MatchedReceiveVec;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a rank is doing, for progress bars and the GUI's live view.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// Rows `[start, end)` of the image went to `rank`.
    RowsAssigned { rank: usize, start: usize, end: usize },
    /// `rank` delivered its rows (or failed).
    RowsDone { rank: usize, secs: f64, error: Option<String> },
    /// Batch item `index` went to `rank`.
    ItemAssigned { rank: usize, index: usize },
    /// Batch item `index` is finished on `rank` (or failed).
    ItemDone { rank: usize, index: usize, secs: f64, error: Option<String> },
}

/// How a batch runs.
#[derive(Clone, Debug)]
pub struct BatchOptions {
    pub max_pixels: u64,
    /// Every rank sees the input and output paths: only indices travel.
    pub shared_files: bool,
    /// Rank 0 hands out work but processes none itself (when there are workers).
    pub coordinator_only: bool,
}

/// The end of a batch.
#[derive(Clone, Debug, Default)]
pub struct BatchOutcome {
    pub done: usize,
    /// Finished by an earlier run (journal).
    pub already_done: usize,
    pub failed: Vec<(PathBuf, String)>,
    pub cancelled: bool,
    pub stats: Vec<RankStats>,
}

pub struct Master {
    world: SimpleCommunicator,
    /// Every rank, in rank order.
    pub ranks: Vec<RankInfo>,
    /// Finalises MPI when dropped, after `Shutdown` went out.
    _universe: mpi::environment::Universe,
}

/// Initialises MPI on the calling thread, which must make every later MPI call. Ranks ≥ 1 serve
/// as workers until rank 0 shuts them down and get `None`; rank 0 gets its [`Master`].
/// Without `mpirun` this process is a job of one rank.
pub fn start() -> Result<Option<Master>> {
    let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)
        .ok_or_else(|| anyhow::anyhow!("MPI was already initialised"))?;
    let world = universe.world();
    if world.rank() != 0 {
        crate::worker::serve(&world)?;
        return Ok(None);
    }
    let mut ranks = vec![RankInfo { rank: 0, host: host_name(), cores: cores() }];
    for _ in 1..world.size() {
        let (info, _) = receive_json::<RankInfo>(&world, None, TAG_HELLO)?;
        ranks.push(info);
    }
    ranks.sort_by_key(|r| r.rank);
    Ok(Some(Master { world, ranks, _universe: universe }))
}

impl Master {
    pub fn size(&self) -> usize {
        self.ranks.len()
    }

    /// Filters one image split by rows over all ranks; returns the result and per-rank statistics.
    pub fn run_image(
        &self,
        img: Image,
        chain: &OpChain,
        coordinator_only: bool,
        on: &mut dyn FnMut(Progress),
    ) -> Result<(Image, Vec<RankStats>)> {
        let n = self.size();
        let (w, h, c) = (img.width, img.height, img.channels);
        let strips = plan(h, n, chain.total_halo(), coordinator_only);
        let job = ImageJob { chain: chain.clone(), width: w, height: h, channels: c, strips: strips.clone() };
        broadcast_command(&self.world, Some(&Command::Image(job)))?;
        let mut mine = self.stats(0);
        mine.rows = Some((strips[0].owned.start, strips[0].owned.end));

        let started = Instant::now();
        for (r, s) in strips.iter().enumerate().skip(1) {
            on(Progress::RowsAssigned { rank: r, start: s.owned.start, end: s.owned.end });
            if !s.input.is_empty() {
                let rows = img.rows(s.input.start, s.input.end);
                send_bytes(&self.world.process_at_rank(r as i32), TAG_STRIP, rows);
                mine.bytes_sent += rows.len() as u64;
            }
        }
        mine.send_secs = started.elapsed().as_secs_f64();

        let own = &strips[0];
        on(Progress::RowsAssigned { rank: 0, start: own.owned.start, end: own.owned.end });
        // Keep only our own rows, in place: the rest of the input is not needed any more.
        let mut own_input = img;
        own_input.retain_rows(own.input.start, own.input.end);
        let run = StripRun::new(chain.clone(), h, own.owned.clone(), own_input, own.input.clone());
        let mut times = DriveTimes::default();
        let started = Instant::now();
        let result = drive(chain, run, &mut RootExchange { world: &self.world, width: w, height: h }, &mut times);
        (mine.compute_secs, mine.global_secs) = (times.compute_secs, times.global_secs);
        let mut failures = Vec::new();
        let own_rows = match result {
            Ok(rows) => Some(rows),
            Err(e) => {
                failures.push((0, e));
                None
            }
        };
        on(Progress::RowsDone {
            rank: 0,
            secs: started.elapsed().as_secs_f64(),
            error: failures.first().map(|(_, e)| e.to_string()),
        });

        let started = Instant::now();
        let out_c = chain.out_channels(c);
        // Rank 0 owns the first rows, so its result grows into the whole output without a copy.
        // Touching the new rows' pages happens while the workers still compute: it counts as
        // waiting, and the receives below write into memory that is already mapped.
        debug_assert_eq!(own.owned.start, 0, "rank 0 owns the first rows");
        let mut out = match own_rows {
            Some(mut rows) => {
                // Every strip, even an empty one, comes out with the chain's width and channels.
                debug_assert_eq!((rows.width, rows.channels), (w, out_c));
                rows.extend_rows(h);
                rows
            }
            None => Image::zeros(w, h, out_c),
        };
        let mut stats = vec![];
        let mut transfer_secs = 0.0;
        for _ in 1..n {
            let (result, from) = receive_json::<StripResult>(&self.world, None, TAG_RESULT)?;
            let transfer = Instant::now();
            let s = &strips[from as usize];
            match result.error {
                None => {
                    let rb = out.row_bytes();
                    let buf = &mut out.data[s.owned.start * rb..s.owned.end * rb];
                    if !buf.is_empty() {
                        receive_bytes(&self.world.process_at_rank(from), TAG_RESULT_ROWS, buf);
                    }
                    transfer_secs += transfer.elapsed().as_secs_f64();
                    mine.bytes_received += buf.len() as u64;
                    on(Progress::RowsDone { rank: from as usize, secs: result.stats.compute_secs, error: None });
                }
                Some(e) => {
                    on(Progress::RowsDone {
                        rank: from as usize,
                        secs: result.stats.compute_secs,
                        error: Some(e.clone()),
                    });
                    failures.push((from as usize, StripFailure::Failed(e)));
                }
            }
            stats.push(result.stats);
        }
        mine.collect_secs = transfer_secs;
        mine.wait_secs = (started.elapsed().as_secs_f64() - transfer_secs).max(0.0);
        stats.insert(0, mine);
        stats.sort_by_key(|s| s.rank);
        // A rank that stopped only because another failed says nothing new.
        failures
            .retain(|(_, e)| !matches!(e, StripFailure::Abandoned) && !e.to_string().contains("another rank failed"));
        if let Some((rank, e)) = failures.first() {
            bail!("rank {rank} ({}) failed: {e}", self.ranks[*rank].host);
        }
        Ok((out, stats))
    }

    /// Runs a batch: each rank asks for the next image when it is done, so large and small images
    /// and slow and fast nodes balance. Images finished by an earlier run (journal) are skipped.
    pub fn run_batch(
        &self,
        items: &[BatchItem],
        chain: &OpChain,
        opts: &BatchOptions,
        journal: &mut BatchJournal,
        on: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<BatchOutcome> {
        let n = self.size();
        let mut outcome = BatchOutcome::default();
        let mut queue: VecDeque<usize> = VecDeque::new();
        for (i, item) in items.iter().enumerate() {
            if journal.is_done(&item.input) {
                outcome.already_done += 1;
            } else {
                queue.push_back(i);
            }
        }
        journal.record(Entry::Start {
            time: now(),
            job: journal.job().to_string(),
            ranks: n,
            hosts: self.ranks.iter().map(|r| r.host.clone()).collect(),
            pending: queue.len(),
            already_done: outcome.already_done,
        })?;
        let job = BatchJob { chain: chain.clone(), max_pixels: opts.max_pixels, shared_files: opts.shared_files };
        broadcast_command(&self.world, Some(&Command::Batch(job)))?;

        let mut mine = self.stats(0);
        let mut busy = vec![false; n];
        let mut finished = vec![false; n];
        finished[0] = true;
        let local = (n == 1 || !opts.coordinator_only).then(|| LocalLane::spawn(chain.clone(), opts.max_pixels));
        let mut local_in_flight = 0;
        let mut pending_workers = n - 1;

        // Hands the next image to `rank`; returns its index, or None when there is nothing to do.
        // Inputs rank 0 could not read: they fail here, without a trip to a worker.
        let mut unreadable: Vec<(usize, String)> = Vec::new();
        let assign = |rank: usize,
                      queue: &mut VecDeque<usize>,
                      mine: &mut RankStats,
                      unreadable: &mut Vec<(usize, String)>|
         -> Option<usize> {
            let (index, bytes) = loop {
                if cancel.load(Ordering::Relaxed) {
                    return None;
                }
                let index = queue.pop_front()?;
                if rank == 0 || opts.shared_files {
                    break (index, None);
                }
                let started = Instant::now();
                match crate::codec::read_file(&items[index].input) {
                    Ok(b) => {
                        mine.read_secs += started.elapsed().as_secs_f64();
                        break (index, Some(b));
                    }
                    Err(e) => unreadable.push((index, format!("{e:#}"))),
                }
            };
            let item = &items[index];
            if rank == 0 {
                local.as_ref().expect("rank 0 works only with a local lane").send(index, item.clone());
                return Some(index);
            }
            let to = self.world.process_at_rank(rank as i32);
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
                mine.bytes_sent += b.len() as u64;
            }
            mine.send_secs += started.elapsed().as_secs_f64();
            Some(index)
        };
        let assigned = |rank: usize, index: Option<usize>, on: &mut dyn FnMut(Progress)| {
            if let Some(index) = index {
                on(Progress::ItemAssigned { rank, index });
            }
            index.is_some()
        };

        for (r, busy) in busy.iter_mut().enumerate().skip(1) {
            *busy = assigned(r, assign(r, &mut queue, &mut mine, &mut unreadable), on);
        }
        if local.is_some() {
            for _ in 0..2 {
                local_in_flight += usize::from(assigned(0, assign(0, &mut queue, &mut mine, &mut unreadable), on));
            }
        }
        for (r, _) in busy.iter().enumerate().skip(1).filter(|(_, busy)| !**busy) {
            send_json(&self.world.process_at_rank(r as i32), TAG_BATCH_DOWN, &BatchDown::Finish);
        }

        let mut worker_stats = Vec::new();
        while pending_workers > 0 || local_in_flight > 0 {
            let mut progressed = false;
            if let Some(probed) = self.world.any_process().immediate_matched_probe_with_tag(TAG_BATCH_UP) {
                progressed = true;
                let (bytes, status) = probed.matched_receive_vec::<u8>();
                let rank = status.source_rank() as usize;
                match serde_json::from_slice::<BatchUp>(&bytes)? {
                    BatchUp::Done { index, result, secs } => {
                        let started = Instant::now();
                        let encoded = match result {
                            Ok(Some(len)) => {
                                let mut buf = vec![0u8; len];
                                receive_bytes(&self.world.process_at_rank(rank as i32), TAG_BATCH_UP_BYTES, &mut buf);
                                mine.bytes_received += len as u64;
                                Ok(Some(buf))
                            }
                            Ok(None) => Ok(None),
                            Err(e) => Err(e),
                        };
                        mine.collect_secs += started.elapsed().as_secs_f64();
                        // Hand out the next image before writing this one, so the worker never waits on our disk.
                        busy[rank] = assigned(rank, assign(rank, &mut queue, &mut mine, &mut unreadable), on);
                        if !busy[rank] {
                            send_json(&self.world.process_at_rank(rank as i32), TAG_BATCH_DOWN, &BatchDown::Finish);
                        }
                        let started = Instant::now();
                        let result = match encoded {
                            Ok(Some(buf)) => {
                                crate::codec::write_atomic(&items[index].output, &buf).map_err(|e| format!("{e:#}"))
                            }
                            Ok(None) => Ok(()),
                            Err(e) => Err(e),
                        };
                        mine.write_secs += started.elapsed().as_secs_f64();
                        self.finish_item(items, index, rank, secs, result, journal, &mut outcome, on)?;
                    }
                    BatchUp::Stats(s) => {
                        finished[rank] = true;
                        pending_workers -= 1;
                        worker_stats.push(s);
                    }
                }
            }
            if let Some(lane) = &local {
                while let Some((index, secs, result)) = lane.try_recv() {
                    progressed = true;
                    local_in_flight -= 1;
                    let io = result.as_ref().copied().unwrap_or_default();
                    mine.read_secs += io.read_secs;
                    mine.write_secs += io.write_secs;
                    mine.compute_secs += secs - io.read_secs - io.write_secs;
                    let result = result.map(|_| ());
                    mine.images += 1;
                    local_in_flight += usize::from(assigned(0, assign(0, &mut queue, &mut mine, &mut unreadable), on));
                    self.finish_item(items, index, 0, secs, result, journal, &mut outcome, on)?;
                }
            }
            for (index, reason) in std::mem::take(&mut unreadable) {
                self.finish_item(items, index, 0, 0.0, Err(reason), journal, &mut outcome, on)?;
            }
            if !progressed {
                // Rank 0 polls rather than blocks: it must notice both workers and its own lane.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        outcome.cancelled = cancel.load(Ordering::Relaxed) && !queue.is_empty();
        journal.record(Entry::Finish {
            time: now(),
            job: journal.job().to_string(),
            done: outcome.done,
            failed: outcome.failed.len(),
            cancelled: outcome.cancelled,
        })?;
        worker_stats.push(mine);
        worker_stats.sort_by_key(|s| s.rank);
        outcome.stats = worker_stats;
        Ok(outcome)
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_item(
        &self,
        items: &[BatchItem],
        index: usize,
        rank: usize,
        secs: f64,
        result: std::result::Result<(), String>,
        journal: &mut BatchJournal,
        outcome: &mut BatchOutcome,
        on: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        let item = &items[index];
        let job = journal.job().to_string();
        match &result {
            Ok(()) => {
                outcome.done += 1;
                journal.record(Entry::Done {
                    time: now(),
                    job,
                    input: item.input.clone(),
                    output: item.output.clone(),
                    rank,
                    host: self.ranks[rank].host.clone(),
                    secs,
                })?;
            }
            Err(reason) => {
                outcome.failed.push((item.input.clone(), reason.clone()));
                journal.record(Entry::Failed {
                    time: now(),
                    job,
                    input: item.input.clone(),
                    reason: reason.clone(),
                })?;
            }
        }
        on(Progress::ItemDone { rank, index, secs, error: result.err() });
        Ok(())
    }

    fn stats(&self, rank: usize) -> RankStats {
        RankStats { rank, host: self.ranks[rank].host.clone(), ..Default::default() }
    }
}

impl Drop for Master {
    /// Workers wait for commands until told to stop: tell them, however rank 0 is leaving.
    fn drop(&mut self) {
        let _ = broadcast_command(&self.world, Some(&Command::Shutdown));
    }
}

/// Rank 0's side of the global steps: it is the root that combines everyone's contributions.
struct RootExchange<'a> {
    world: &'a SimpleCommunicator,
    width: usize,
    height: usize,
}

impl GlobalExchange for RootExchange<'_> {
    fn histogram(&mut self, local: Option<&[u64; 256]>) -> Result<Option<[u64; 256]>> {
        Ok(all_reduce_histogram(self.world, local))
    }

    fn hysteresis(&mut self, local: Option<HysteresisRequest>) -> Result<Option<HysteresisReply>> {
        let mut requests = vec![local];
        for r in 1..self.world.size() {
            let (req, _) = receive_json::<Option<HysteresisRequest>>(self.world, Some(r), TAG_HYSTERESIS)?;
            requests.push(req);
        }
        let all: Option<Vec<HysteresisRequest>> = requests.into_iter().collect();
        let replies = match all {
            Some(reqs) => Some(global::resolve_hysteresis(&reqs, self.width, self.height)?),
            None => None,
        };
        for r in 1..self.world.size() {
            let reply = replies.as_ref().map(|v| v[r as usize].clone());
            send_json(&self.world.process_at_rank(r), TAG_HYSTERESIS, &reply);
        }
        Ok(replies.map(|mut v| v.swap_remove(0)))
    }
}

/// Rank 0's own share of a batch: a thread that filters images while the MPI thread coordinates.
/// It makes no MPI calls.
struct LocalLane {
    work: mpsc::Sender<(usize, BatchItem)>,
    done: mpsc::Receiver<(usize, f64, std::result::Result<batch::FileTimes, String>)>,
}

impl LocalLane {
    fn spawn(chain: OpChain, max_pixels: u64) -> LocalLane {
        let (work, work_rx) = mpsc::channel::<(usize, BatchItem)>();
        let (done_tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            for (index, item) in work_rx {
                let started = Instant::now();
                let result = batch::process_file(&item, &chain, max_pixels).map_err(|e| format!("{e:#}"));
                if done_tx.send((index, started.elapsed().as_secs_f64(), result)).is_err() {
                    break;
                }
            }
        });
        LocalLane { work, done }
    }

    fn send(&self, index: usize, item: BatchItem) {
        self.work.send((index, item)).expect("the local lane lives as long as the batch");
    }

    fn try_recv(&self) -> Option<(usize, f64, std::result::Result<batch::FileTimes, String>)> {
        self.done.try_recv().ok()
    }
}

/// Logical cores of this host.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
