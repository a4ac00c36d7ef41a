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
mod exchange;
mod image;
mod lane;
mod relay;
mod settle;
mod shutdown;
mod stream;
mod video;

pub use batch::{BatchHalt, BatchPlan};
pub use stream::{FileJob, FileRun};
pub use video::VideoRun;

use crate::cancel::Cancelled;
use crate::model::{Failure, JobEnd, RankInfo, RankStats};
use crate::protocol::*;
use crate::threads;
use anyhow::{bail, Result};
use mpi::topology::{Process, SimpleCommunicator};
use mpi::traits::*;
use std::cell::{Cell, RefCell};
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
    /// Output folders of batches that ended with a rank still busy on a copy: a rank that never
    /// answers again may have left a half-written temporary file there, removed before the job
    /// is ended without it (`shutdown::end_ranks`).
    abandoned_dirs: RefCell<Vec<std::path::PathBuf>>,
    /// The workers were told to shut down (once).
    ended: bool,
    /// Finalises MPI when dropped, after `Shutdown` went out.
    _universe: Option<mpi::environment::Universe>,
}

/// Chooses Open MPI's ob1 messaging layer unless the user chose one (`--mca pml ...` or
/// `OMPI_MCA_pml`). Left to itself, Open MPI probes UCX, PSM and OFI at `MPI_Init`, a large part
/// of a short job's start-up on hosts that have none of those fabrics (docs/BENCHMARKS.md, "MPI
/// start-up"); ob1 over shared memory and TCP serves one host and Ethernet clusters. On InfiniBand, pass `--mca pml ucx` to mpirun.
/// Call before any thread starts: it sets an environment variable.
pub fn prefer_fast_transport() {
    if crate::process::launched_by_mpirun() && std::env::var_os("OMPI_MCA_pml").is_none() {
        std::env::set_var("OMPI_MCA_pml", "ob1");
    }
}

/// Starts the job on the calling thread, which must make every later MPI call. Ranks ≥ 1 serve
/// as workers until rank 0 shuts them down and get `None`; rank 0 gets its [`Master`], with every
/// rank's OpenCV threads set (`threads`, or each host's cores shared by its ranks).
pub fn start(threads: Option<usize>) -> Result<Option<Master>> {
    let started = crate::process::process_start();
    if !crate::process::launched_by_mpirun() {
        let ranks = vec![RankInfo { rank: 0, host: crate::process::local_host_name(), cores: threads::host_cores() }];
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
            abandoned_dirs: RefCell::default(),
            ended: false,
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

    /// Has every rank load the image codecs now (a server, before its first job). A load that
    /// fails is left for the first image that needs the codecs to report.
    pub fn warm_codecs(&self) {
        for rank in 1..self.size() {
            send_command(self.world(), rank, &Command::Warm);
        }
        let _ = crate::cvio::imgcodecs::preload();
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

    fn stats(&self, rank: usize) -> RankStats {
        RankStats { rank, host: self.ranks[rank].host.clone(), threads: self.threads[rank], ..Default::default() }
    }

    /// Starts an image job on every worker: each finds its own strip in the plan.
    fn send_image_job(&self, job: &ImageJob) {
        for rank in 1..self.size() {
            send_command(self.world(), rank, &Command::Image(job.clone()));
        }
    }

    /// The end of an image job as its error, naming the rank and its host (see [`JobEnd`]).
    fn job_result(&self, failures: &[(usize, Failure)], cancelled: bool) -> Result<()> {
        match JobEnd::of(failures, cancelled) {
            JobEnd::Done => Ok(()),
            JobEnd::Cancelled => Err(Cancelled.into()),
            JobEnd::Failed(rank, e) => bail!("rank {rank} ({}) failed: {e}", self.ranks[rank].host),
            JobEnd::Stopped(rank, e) => bail!("rank {rank} ({}) stopped: {e}", self.ranks[rank].host),
        }
    }
}

impl Drop for Master {
    /// Workers wait for commands until told to stop: tell them, however rank 0 is leaving (a
    /// failed job, a panic, the GUI's end). A front end that knows its exit code calls
    /// [`Master::shut_down`] first.
    fn drop(&mut self) {
        self.end_ranks(1, Command::Shutdown);
    }
}
