//! Rank 0: starts the job, plans images, takes part in global steps, collects results; batches
//! live in [`batch`].
//!
//! [`Master`] is built on the thread that initialised MPI and must stay there (Open MPI cannot move
//! a communicator between threads). Dropping it sends every worker `Shutdown`, so workers never
//! hang, whatever way rank 0 leaves. Front ends (CLI, GUI) hand it decoded images or batch plans
//! and receive [`Progress`] events; it knows nothing of terminals or windows.
//!
//! Started without `mpirun`, a job is one rank and MPI is not initialised at all: the same code
//! paths run with no workers, without Open MPI's start-up cost.

mod batch;
mod lane;
mod stream;
mod video;

pub use stream::FileRun;
pub use video::VideoRun;

use crate::chain::{OpChain, Stage};
use crate::exec::{drive, Cancelled, DriveTimes, GlobalExchange, ProgressThrottle, StripRun};
use crate::global::{self, HysteresisReply, HysteresisRequest};
use crate::image::Image;
use crate::model::{Failure, Progress, RankInfo, RankStats};
use crate::protocol::*;
use crate::split::plan;
use crate::threads;
use anyhow::{bail, Context, Result};
use mpi::topology::{Process, SimpleCommunicator};
use mpi::traits::*;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub struct Master {
    /// `None` for a job of one rank started without `mpirun`.
    world: Option<SimpleCommunicator>,
    /// Every rank, in rank order.
    pub ranks: Vec<RankInfo>,
    /// OpenCV threads of every rank, in rank order.
    pub threads: Vec<usize>,
    /// Seconds from the start of the process to every rank being ready (MPI start-up).
    pub startup_secs: f64,
    next_job: Cell<u64>,
    /// Workers that still owe the end of the last batch (see `batch::settle`).
    lingering: RefCell<Vec<usize>>,
    /// Finalises MPI when dropped, after `Shutdown` went out.
    _universe: Option<mpi::environment::Universe>,
}

/// True when this process was started by `mpirun` (or another MPI launcher) rather than alone.
pub fn launched_by_mpirun() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].iter().any(|v| std::env::var_os(v).is_some())
}

/// Chooses Open MPI's ob1 messaging layer unless the user chose one (`--mca pml ...` or
/// `OMPI_MCA_pml`). Left to itself, Open MPI probes UCX, PSM and OFI at `MPI_Init`, which costs
/// about 0.4 s per job on hosts that have none of those fabrics; ob1 over shared memory and TCP
/// serves one host and Ethernet clusters. On InfiniBand, pass `--mca pml ucx` to mpirun.
/// Call before any thread starts: it sets an environment variable.
pub fn prefer_fast_transport() {
    if launched_by_mpirun() && std::env::var_os("OMPI_MCA_pml").is_none() {
        std::env::set_var("OMPI_MCA_pml", "ob1");
    }
}

/// Starts the job on the calling thread, which must make every later MPI call. Ranks ≥ 1 serve
/// as workers until rank 0 shuts them down and get `None`; rank 0 gets its [`Master`], with every
/// rank's OpenCV threads set (`threads`, or each host's cores shared by its ranks).
pub fn start(threads: Option<usize>) -> Result<Option<Master>> {
    let started = process_start();
    if !launched_by_mpirun() {
        let ranks = vec![RankInfo { rank: 0, host: local_host_name(), cores: threads::host_cores() }];
        return Master::ready(None, None, ranks, threads, started).map(Some);
    }
    let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)
        .ok_or_else(|| anyhow::anyhow!("MPI was already initialised"))?;
    let world = universe.world();
    if world.rank() != 0 {
        crate::worker::serve(&world)?;
        return Ok(None);
    }
    let mut ranks = vec![RankInfo { rank: 0, host: host_name(), cores: threads::host_cores() }];
    for _ in 1..world.size() {
        let (info, _) = receive_json::<RankInfo>(&world, None, TAG_HELLO, &mut || {})?;
        ranks.push(info);
    }
    ranks.sort_by_key(|r| r.rank);
    Master::ready(Some(world), Some(universe), ranks, threads, started).map(Some)
}

/// When this process started, as an `Instant` (from /proc; now, if that cannot be read).
fn process_start() -> Instant {
    let age = || -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let start_ticks: f64 = fields.get(19)?.parse().ok()?;
        let uptime: f64 = std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Some((uptime - start_ticks / hz).max(0.0))
    };
    let now = Instant::now();
    age().and_then(|a| now.checked_sub(std::time::Duration::from_secs_f64(a))).unwrap_or(now)
}

fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

impl Master {
    fn ready(
        world: Option<SimpleCommunicator>,
        universe: Option<mpi::environment::Universe>,
        ranks: Vec<RankInfo>,
        threads: Option<usize>,
        started: Instant,
    ) -> Result<Master> {
        let plan = threads::plan(&ranks, threads);
        let mut master = Master {
            world,
            ranks,
            threads: plan.clone(),
            startup_secs: 0.0,
            next_job: Cell::new(1),
            lingering: RefCell::default(),
            _universe: universe,
        };
        for (rank, &n) in plan.iter().enumerate().skip(1) {
            send_command(master.world(), rank, &Command::Threads(n));
        }
        threads::use_threads(plan[0])?;
        master.startup_secs = started.elapsed().as_secs_f64();
        Ok(master)
    }

    pub fn size(&self) -> usize {
        self.ranks.len()
    }

    /// The communicator; only ever asked for when there are workers, so MPI is running.
    fn world(&self) -> &SimpleCommunicator {
        self.world.as_ref().expect("a job with workers runs under MPI")
    }

    fn process(&self, rank: usize) -> Process<'_> {
        self.world().process_at_rank(rank as i32)
    }

    fn new_job_id(&self) -> u64 {
        let id = self.next_job.get();
        self.next_job.set(id + 1);
        id
    }

    /// Filters one image split by rows over all ranks; returns the result and per-rank statistics.
    /// Once `cancel` is set every rank stops at its next chunk of rows and this returns the error
    /// [`Cancelled`]. A chain with a resize runs in stages (`OpChain::stages`): strips up to it,
    /// the whole image through it on rank 0, strips again after it.
    pub fn run_image(
        &self,
        img: Image,
        chain: &OpChain,
        coordinator_only: bool,
        on: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<(Image, Vec<RankStats>)> {
        self.settle()?;
        if !chain.has_whole_image_steps() {
            return self.run_image_strips(img, chain, coordinator_only, on, cancel);
        }
        let mut total: Vec<RankStats> = (0..self.size()).map(|r| self.stats(r)).collect();
        let mut cur = img;
        for stage in chain.stages() {
            cur = match stage {
                Stage::Strips(part) => {
                    let (out, stats) = self.run_image_strips(cur, &part, coordinator_only, on, cancel)?;
                    total.iter_mut().zip(&stats).for_each(|(t, s)| t.add(s));
                    out
                }
                Stage::Whole(op) => {
                    if cancel.load(Ordering::Relaxed) {
                        return Err(Cancelled.into());
                    }
                    let started = Instant::now();
                    let out = op.apply_reference(&cur)?;
                    total[0].compute_secs += started.elapsed().as_secs_f64();
                    out
                }
            };
        }
        Ok((cur, total))
    }

    fn run_image_strips(
        &self,
        img: Image,
        chain: &OpChain,
        coordinator_only: bool,
        on: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<(Image, Vec<RankStats>)> {
        let n = self.size();
        let (w, h, c) = (img.width, img.height, img.channels);
        let strips = plan(h, n, chain.total_halo(), coordinator_only);
        let id = self.new_job_id();
        let job = ImageJob {
            id,
            chain: chain.clone(),
            width: w,
            height: h,
            channels: c,
            strips: strips.clone(),
            input: StripInput::Sent,
            output: StripOutput::Rows,
            t0: crate::model::unix_now(),
        };
        for rank in 1..n {
            send_command(self.world(), rank, &Command::Image(job.clone()));
        }
        let mut mine = self.stats(0);
        mine.rows = Some((strips[0].owned.start, strips[0].owned.end));

        let mut relay = CancelRelay { master: self, job: id, flag: cancel, sent: false, on, collector: None };
        let started = Instant::now();
        for (r, s) in strips.iter().enumerate().skip(1) {
            (relay.on)(Progress::RowsAssigned { rank: r, start: s.owned.start, end: s.owned.end });
            if !s.input.is_empty() {
                let rows = img.rows(s.input.start, s.input.end);
                send_bytes(&self.process(r), TAG_STRIP, rows);
                mine.bytes_sent += rows.len() as u64;
            }
        }
        mine.send_secs = started.elapsed().as_secs_f64();

        let own = &strips[0];
        (relay.on)(Progress::RowsAssigned { rank: 0, start: own.owned.start, end: own.owned.end });
        // Keep only our own rows, in place: the rest of the input is not needed any more.
        let mut own_input = img;
        own_input.retain_rows(own.input.start, own.input.end);
        let run = StripRun::new(chain.clone(), h, own.owned.clone(), own_input, own.input.clone()).and_then(|run| {
            if n == 1 {
                run.alone()
            } else {
                Ok(run)
            }
        });
        let mut times = DriveTimes::default();
        let started = Instant::now();
        let result = drive(
            chain,
            run,
            &mut RootExchange { relay: &mut relay, width: w, height: h, throttle: ProgressThrottle::default() },
            &mut times,
        );
        (mine.compute_secs, mine.global_secs) = (times.compute_secs, times.global_secs);
        let mut failures = Vec::new();
        let own_rows = match result {
            Ok(rows) => Some(rows),
            Err(e) => {
                failures.push((0, e));
                None
            }
        };
        (relay.on)(Progress::RowsDone {
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
            let (result, from) = receive_json::<StripResult>(self.world(), None, TAG_RESULT, &mut || {
                relay.poll();
            })?;
            let transfer = Instant::now();
            let s = &strips[from as usize];
            let error = match result.outcome {
                Ok(()) => {
                    let rb = out.row_bytes();
                    let buf = &mut out.data[s.owned.start * rb..s.owned.end * rb];
                    if !buf.is_empty() {
                        receive_bytes(&self.process(from as usize), TAG_RESULT_ROWS, buf);
                    }
                    transfer_secs += transfer.elapsed().as_secs_f64();
                    mine.bytes_received += buf.len() as u64;
                    None
                }
                Err(failure) => {
                    let text = failure.to_string();
                    failures.push((from as usize, failure));
                    Some(text)
                }
            };
            (relay.on)(Progress::RowsDone { rank: from as usize, secs: result.stats.compute_secs, error });
            stats.push(result.stats);
        }
        mine.collect_secs = transfer_secs;
        mine.wait_secs = (started.elapsed().as_secs_f64() - transfer_secs).max(0.0);
        stats.insert(0, mine);
        stats.sort_by_key(|s| s.rank);
        if cancel.load(Ordering::Relaxed) && failures.iter().any(|(_, f)| *f == Failure::Cancelled) {
            return Err(Cancelled.into());
        }
        // A rank that stopped only because another failed says nothing new.
        if let Some((rank, e)) = failures.iter().find(|(_, f)| matches!(f, Failure::Failed(_))) {
            bail!("rank {rank} ({}) failed: {e}", self.ranks[*rank].host);
        }
        if let Some((rank, e)) = failures.first() {
            bail!("rank {rank} ({}) stopped: {e}", self.ranks[*rank].host);
        }
        Ok((out, stats))
    }

    fn stats(&self, rank: usize) -> RankStats {
        RankStats { rank, host: self.ranks[rank].host.clone(), threads: self.threads[rank], ..Default::default() }
    }
}

impl Drop for Master {
    /// Workers wait for commands until told to stop: tell them, however rank 0 is leaving.
    fn drop(&mut self) {
        if let Err(e) = self.settle() {
            eprintln!("imgproc: while shutting down: {e:#}");
        }
        for rank in 1..self.size() {
            send_command(self.world(), rank, &Command::Shutdown);
        }
    }
}

/// What rank 0 does while it waits during an image job: passes a cancel on to every worker,
/// once, as soon as it sees its flag set, and hands the workers' progress reports to the front end.
struct CancelRelay<'a> {
    master: &'a Master,
    job: u64,
    flag: &'a AtomicBool,
    sent: bool,
    on: &'a mut dyn FnMut(Progress),
    /// A streamed job's pieces, taken and written whenever rank 0 waits (see `stream`).
    collector: Option<stream::Collector>,
}

impl CancelRelay<'_> {
    /// True once the job is cancelled or aborted (and the workers were told).
    fn poll(&mut self) -> bool {
        if self.flag.load(Ordering::Relaxed) {
            self.abort();
        }
        if let Some(c) = &mut self.collector {
            c.poll(self.master, self.on);
        }
        if self.master.size() > 1 {
            // Reports of an earlier job still in the queue are read and dropped here.
            while let Ok(Some((p, from))) = try_receive_json::<StripProgress>(self.master.world(), None, TAG_PROGRESS) {
                if p.job == self.job {
                    (self.on)(Progress::StripProgress { rank: from as usize, fraction: p.fraction });
                }
            }
        }
        self.sent
    }

    /// Tells every worker to stop this job (once): the user cancelled, or rank 0 cannot go on.
    fn abort(&mut self) {
        if !self.sent {
            for rank in 1..self.master.size() {
                send_json(&self.master.process(rank), TAG_CANCEL, &Cancel { job: self.job, item: None });
            }
            self.sent = true;
        }
    }
}

/// Rank 0's side of the global steps: it gathers everyone's contribution, combines them and
/// answers each rank.
struct RootExchange<'a, 'm> {
    relay: &'a mut CancelRelay<'m>,
    width: usize,
    height: usize,
    throttle: ProgressThrottle,
}

impl RootExchange<'_, '_> {
    /// Every worker's contribution to a step with `tag`, in rank order after rank 0's.
    fn gather<T: serde::de::DeserializeOwned>(&mut self, tag: mpi::Tag, mine: Option<T>) -> Result<Vec<Option<T>>> {
        let mut all = vec![mine];
        for r in 1..self.relay.master.size() {
            let relay = &mut *self.relay;
            let (part, _) = receive_json::<Option<T>>(relay.master.world(), Some(r as i32), tag, &mut || {
                relay.poll();
            })
            .with_context(|| format!("waiting for rank {r} at a global step"))?;
            all.push(part);
        }
        Ok(all)
    }
}

impl GlobalExchange for RootExchange<'_, '_> {
    fn histogram(&mut self, local: Option<&[u64; 256]>) -> Result<Option<[u64; 256]>> {
        let parts = self.gather::<Vec<u64>>(TAG_HISTOGRAM, local.map(|h| h.to_vec()))?;
        let total: Option<[u64; 256]> = parts.into_iter().try_fold([0u64; 256], |mut total, part| {
            let part = part?;
            total.iter_mut().zip(part).for_each(|(t, v)| *t += v);
            Some(total)
        });
        let reply = total.map(|t| t.to_vec());
        for r in 1..self.relay.master.size() {
            send_json(&self.relay.master.process(r), TAG_HISTOGRAM, &reply);
        }
        Ok(total)
    }

    fn hysteresis(&mut self, local: Option<HysteresisRequest>) -> Result<Option<HysteresisReply>> {
        let requests = self.gather::<HysteresisRequest>(TAG_HYSTERESIS, local)?;
        let all: Option<Vec<HysteresisRequest>> = requests.into_iter().collect();
        let replies = all.map(|reqs| global::resolve_hysteresis(&reqs, self.width, self.height)).transpose();
        // Even when rank 0 cannot resolve, every worker gets an answer (none: abandon), never a hang.
        let sendable = replies.as_ref().ok().and_then(Option::as_ref);
        for r in 1..self.relay.master.size() {
            let reply = sendable.map(|v| v[r].clone());
            send_json(&self.relay.master.process(r), TAG_HYSTERESIS, &reply);
        }
        let replies = replies?;
        Ok(replies.map(|mut v| v.swap_remove(0)))
    }

    fn cancelled(&mut self) -> bool {
        self.relay.poll()
    }

    fn progress(&mut self, fraction: f64) {
        if self.throttle.ready(fraction) {
            (self.relay.on)(Progress::StripProgress { rank: 0, fraction });
        }
    }
}
