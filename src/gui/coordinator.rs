//! The GUI's MPI thread. MPI is initialised on this thread and every MPI call stays on it (Open MPI
//! cannot move a communicator between threads, rsmpi#115); the window runs on the main thread and
//! talks to it only through channels. Jobs run one at a time, in the order they are asked for.
//!
//! Owns no UI: it turns [`Request`]s into calls on the [`Master`] and sends [`Event`]s back, waking
//! the window with the `wake` callback each request carries.

use crate::batch::{self, BatchItem};
use crate::chain::OpChain;
use crate::image::Image;
use crate::master::{self, Master};
use crate::model::{BatchOptions, BatchOutcome, Progress, RankInfo, RankStats};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Wakes the window after an event was sent (`egui::Context::request_repaint` in the app).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// A job for the ranks.
pub enum Request {
    Image {
        image: Arc<Image>,
        chain: OpChain,
        coordinator_only: bool,
        cancel: Arc<AtomicBool>,
        reply: Sender<Event>,
        wake: Wake,
    },
    Batch {
        job: BatchRequest,
        cancel: Arc<AtomicBool>,
        reply: Sender<Event>,
        wake: Wake,
    },
}

/// A batch as the GUI describes it; the coordinator plans it and opens the journal in `out_dir`.
#[derive(Clone, Debug)]
pub struct BatchRequest {
    pub inputs: Vec<PathBuf>,
    pub out_dir: PathBuf,
    pub chain: OpChain,
    pub max_pixels: u64,
    pub coordinator_only: bool,
}

/// What the window hears back.
#[derive(Debug)]
pub enum Event {
    /// The batch was planned: its items, in index order (progress events use these indices), and
    /// which of them an earlier run finished (the journal).
    BatchPlanned {
        items: Vec<BatchItem>,
        already_done: Vec<bool>,
    },
    Progress(Progress),
    ImageFinished(Result<(Image, Vec<RankStats>), String>),
    BatchFinished(Result<BatchOutcome, String>),
}

/// The window's handle on the MPI thread. Dropping it (or [`Coordinator::shut_down`]) ends the
/// thread, which shuts every worker down and finalises MPI.
pub struct Coordinator {
    requests: Option<Sender<Request>>,
    /// Every rank of the job, in rank order.
    pub ranks: Vec<RankInfo>,
    thread: Option<JoinHandle<()>>,
}

impl Coordinator {
    /// Starts MPI on a new thread. On rank 0 returns the handle; on the other ranks serves as a
    /// worker until rank 0 shuts the job down, then returns `None`.
    pub fn start() -> Result<Option<Coordinator>> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<Option<(Sender<Request>, Vec<RankInfo>)>>>();
        let thread = std::thread::Builder::new()
            .name("mpi-coordinator".into())
            .spawn(move || {
                let master = match master::start(None) {
                    Ok(Some(m)) => m,
                    Ok(None) => {
                        let _ = ready_tx.send(Ok(None));
                        return;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let (tx, rx) = mpsc::channel();
                if ready_tx.send(Ok(Some((tx, master.ranks.clone())))).is_ok() {
                    serve(&master, rx);
                }
                // `master` drops here: Shutdown to every worker, then MPI_Finalize.
            })
            .context("starting the MPI thread")?;
        match ready_rx.recv().context("the MPI thread ended before MPI started")? {
            Ok(Some((requests, ranks))) => {
                Ok(Some(Coordinator { requests: Some(requests), ranks, thread: Some(thread) }))
            }
            Ok(None) => {
                let _ = thread.join();
                Ok(None)
            }
            Err(e) => {
                let _ = thread.join();
                Err(e)
            }
        }
    }

    /// Queues a job. Fails only when the MPI thread is gone.
    pub fn send(&self, request: Request) -> Result<()> {
        self.requests
            .as_ref()
            .context("the job is shut down")?
            .send(request)
            .map_err(|_| anyhow::anyhow!("the MPI thread has stopped"))
    }

    /// Lets a running job finish, shuts every rank down and waits for MPI to finalise.
    pub fn shut_down(&mut self) {
        self.requests = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// A sender other handles can share (the headless tests run several windows on one job).
    pub fn requests(&self) -> Option<Sender<Request>> {
        self.requests.clone()
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn serve(master: &Master, requests: Receiver<Request>) {
    for request in requests {
        match request {
            Request::Image { image, chain, coordinator_only, cancel, reply, wake } => {
                let mut on = |p: Progress| {
                    let _ = reply.send(Event::Progress(p));
                    wake();
                };
                let result = master
                    .run_image(Image::clone(&image), &chain, coordinator_only, &mut on, &cancel)
                    .map_err(|e| format!("{e:#}"));
                let _ = reply.send(Event::ImageFinished(result));
                wake();
            }
            Request::Batch { job, cancel, reply, wake } => {
                let result = run_batch(master, &job, &cancel, &reply, &wake).map_err(|e| format!("{e:#}"));
                let _ = reply.send(Event::BatchFinished(result));
                wake();
            }
        }
    }
}

fn run_batch(
    master: &Master,
    job: &BatchRequest,
    cancel: &AtomicBool,
    reply: &Sender<Event>,
    wake: &Wake,
) -> Result<BatchOutcome> {
    let (items, mut journal) = batch::open_job(&job.inputs, &job.out_dir, None, &job.chain)?;
    let already_done = items.iter().map(|i| journal.is_done(&i.input)).collect();
    let _ = reply.send(Event::BatchPlanned { items: items.clone(), already_done });
    let opts = BatchOptions { max_pixels: job.max_pixels, shared_files: false, coordinator_only: job.coordinator_only };
    let mut on = |p: Progress| {
        let _ = reply.send(Event::Progress(p));
        wake();
    };
    master.run_batch(&items, &job.chain, &opts, &mut journal, &mut on, cancel)
}
