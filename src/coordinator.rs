//! The MPI thread behind a face that lives on other threads (the GUI's window). MPI is
//! initialised on this thread and every MPI call stays on it (Open MPI cannot move a
//! communicator between threads, rsmpi#115); the face talks to it only through channels. Jobs
//! run one at a time, in the order they are asked for.
//!
//! Owns no UI: it turns [`Request`]s into the jobs of [`crate::jobs`] and sends [`JobEvent`]s
//! back, waking the face with the `wake` callback each request carries.

use crate::batch::BatchItem;
use crate::chain::OpChain;
use crate::image::Image;
use crate::jobs;
use crate::jobs::batch::BatchRequest;
use crate::jobs::classify::ClassifyRequest;
use crate::jobs::video::{VideoRequest, VideoSummary};
use crate::master::{self, Master};
use crate::model::{BatchOutcome, Progress, RankInfo, RankStats};
use crate::video::VideoEvent;
use anyhow::{Context, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Wakes the window after an event was sent (`egui::Context::request_repaint` in the app).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// A job for the ranks.
pub enum Request {
    Image {
        image: Arc<Image>,
        chain: OpChain,
        coordinator_only: bool,
        cancel: Arc<AtomicBool>,
        reply: Sender<JobEvent>,
        wake: Wake,
    },
    Batch {
        job: BatchRequest,
        cancel: Arc<AtomicBool>,
        /// Once set, the batch yields: no image starts, running ones finish and are journaled,
        /// and the outcome says `paused` (the server's fairness between users).
        pause: Option<Arc<AtomicBool>>,
        /// An open batch: items that join it while it runs ([`jobs::batch::plan_arrival`]); it
        /// ends once this sender is dropped and they are done.
        more: Option<Receiver<BatchItem>>,
        reply: Sender<JobEvent>,
        wake: Wake,
    },
    /// Images through an ONNX model into a results file, as `imgproc classify` runs it; its
    /// events are a batch's (`BatchPlanned`, progress, `BatchFinished`).
    Classify {
        job: ClassifyRequest,
        cancel: Arc<AtomicBool>,
        /// As for [`Request::Batch`].
        pause: Option<Arc<AtomicBool>>,
        reply: Sender<JobEvent>,
        wake: Wake,
    },
    /// A video (or frame folder) into a file (or folder), as `imgproc video` runs it.
    Video { job: VideoRequest, cancel: Arc<AtomicBool>, reply: Sender<JobEvent>, wake: Wake },
    /// Answers at once when no job runs: the server's health check asks whether the MPI thread
    /// still serves.
    Ping { reply: Sender<()> },
    /// Every rank loads the image codecs now (a server about to take jobs).
    Warm,
    /// Shut every rank down now (see [`Stopper`]); `done` hears when MPI is finalised.
    Shutdown { done: Sender<()> },
}

/// What the face hears back.
#[derive(Debug)]
pub enum JobEvent {
    /// The batch was planned: its items, in index order (progress events use these indices), and
    /// which of them an earlier run finished (the journal).
    BatchPlanned {
        items: Vec<BatchItem>,
        already_done: Vec<bool>,
    },
    Progress(Progress),
    ImageFinished(Result<(Image, Vec<RankStats>), String>),
    BatchFinished(Result<BatchOutcome, String>),
    /// The video job was checked and planned: it will filter this many frames (those an earlier
    /// run of the same job did not finish).
    VideoPlanned {
        frames: usize,
    },
    Video(VideoEvent),
    /// Whether the output was written, cancelled or failed is in the summary; an error means
    /// the job could not start or its output could not be joined.
    VideoFinished(Result<Box<VideoSummary>, String>),
}

/// The window's handle on the MPI thread. Dropping it (or [`Coordinator::shut_down`]) ends the
/// thread, which shuts every worker down and finalises MPI.
pub struct Coordinator {
    requests: Option<Sender<Request>>,
    /// Every rank of the job, in rank order.
    pub ranks: Vec<RankInfo>,
    thread: Option<JoinHandle<()>>,
    /// The cancel flag of the job running now, for [`Stopper`].
    running: RunningJob,
}

type RunningJob = Arc<Mutex<Option<Arc<AtomicBool>>>>;

/// Ends the job from anywhere, even while the window still holds its request sender: when the
/// display is lost, rank 0 must shut the ranks down before Xlib ends the process.
#[derive(Clone)]
pub struct Stopper {
    requests: Sender<Request>,
    running: RunningJob,
}

impl Stopper {
    /// Cancels the running job, shuts every rank down and waits (at most `timeout`) until MPI is
    /// finalised.
    pub fn stop(&self, timeout: Duration) {
        if let Some(cancel) = self.running.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            cancel.store(true, Ordering::SeqCst);
        }
        let (done, finalised) = mpsc::channel();
        if self.requests.send(Request::Shutdown { done }).is_ok() {
            let _ = finalised.recv_timeout(timeout);
        }
    }
}

impl Coordinator {
    /// Starts MPI on a new thread. On rank 0 returns the handle; on the other ranks serves as a
    /// worker until rank 0 shuts the job down, then returns `None`.
    pub fn start() -> Result<Option<Coordinator>> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<Option<(Sender<Request>, Vec<RankInfo>)>>>();
        let running = RunningJob::default();
        let serving = Arc::clone(&running);
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
                let mut finalised = None;
                if ready_tx.send(Ok(Some((tx, master.ranks.clone())))).is_ok() {
                    finalised = serve(&master, rx, &serving);
                }
                // Shutdown to every worker, then MPI_Finalize.
                master.shut_down(0);
                if let Some(done) = finalised {
                    let _ = done.send(());
                }
            })
            .context("starting the MPI thread")?;
        match ready_rx.recv().context("the MPI thread ended before MPI started")? {
            Ok(Some((requests, ranks))) => {
                Ok(Some(Coordinator { requests: Some(requests), ranks, thread: Some(thread), running }))
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
        // Said, not left to the channel closing: a window or a `Stopper` may still hold a sender.
        if let Some(requests) = self.requests.take() {
            let _ = requests.send(Request::Shutdown { done: mpsc::channel().0 });
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// A sender other handles can share (the headless tests run several windows on one job).
    pub fn requests(&self) -> Option<Sender<Request>> {
        self.requests.clone()
    }

    /// A handle that can end the job from another place (see [`Stopper`]).
    pub fn stopper(&self) -> Option<Stopper> {
        let requests = self.requests.clone()?;
        Some(Stopper { requests, running: Arc::clone(&self.running) })
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Runs the jobs asked for until every sender is gone (returns `None`) or a [`Request::Shutdown`]
/// comes (returns its `done`).
fn serve(master: &Master, requests: Receiver<Request>, running: &RunningJob) -> Option<Sender<()>> {
    let set_running = |cancel: Option<&Arc<AtomicBool>>| {
        *running.lock().unwrap_or_else(|e| e.into_inner()) = cancel.map(Arc::clone);
    };
    for request in requests {
        match &request {
            Request::Image { cancel, .. }
            | Request::Batch { cancel, .. }
            | Request::Classify { cancel, .. }
            | Request::Video { cancel, .. } => set_running(Some(cancel)),
            Request::Shutdown { .. } | Request::Ping { .. } | Request::Warm => {}
        }
        match request {
            Request::Ping { reply } => {
                let _ = reply.send(());
            }
            Request::Shutdown { done } => return Some(done),
            Request::Warm => master.warm_codecs(),
            Request::Image { image, chain, coordinator_only, cancel, reply, wake } => {
                let to = Replies { reply, wake };
                let job = jobs::image::InMemory { chain: &chain, coordinator_only };
                let result = jobs::image::filter(master, Image::clone(&image), job, &mut to.progress(), &cancel);
                to.send(JobEvent::ImageFinished(result.map_err(|e| format!("{e:#}"))));
            }
            Request::Batch { job, cancel, pause, more, reply, wake } => {
                let to = Replies { reply, wake };
                let pause = pause.unwrap_or_default();
                let halt = master::BatchHalt { cancel: &cancel, pause: &pause };
                let result = run_batch(master, &job, halt, more.as_ref(), &to).map_err(|e| format!("{e:#}"));
                to.send(JobEvent::BatchFinished(result));
            }
            Request::Classify { job, cancel, pause, reply, wake } => {
                let to = Replies { reply, wake };
                let pause = pause.unwrap_or_default();
                let result = run_classify(master, &job, &cancel, &pause, &to).map_err(|e| format!("{e:#}"));
                to.send(JobEvent::BatchFinished(result));
            }
            Request::Video { job, cancel, reply, wake } => {
                let to = Replies { reply, wake };
                let result = run_video_job(master, &job, &cancel, &to).map(Box::new).map_err(|e| format!("{e:#}"));
                to.send(JobEvent::VideoFinished(result));
            }
        }
        set_running(None);
    }
    None
}

/// Where a job's events go: the face's channel, then a wake-up.
struct Replies {
    reply: Sender<JobEvent>,
    wake: Wake,
}

impl Replies {
    fn send(&self, event: JobEvent) {
        let _ = self.reply.send(event);
        (self.wake)();
    }

    /// A job's progress, as events.
    fn progress(&self) -> impl FnMut(Progress) + '_ {
        |p| self.send(JobEvent::Progress(p))
    }
}

fn run_batch(
    master: &Master,
    job: &BatchRequest,
    halt: master::BatchHalt<'_>,
    more: Option<&Receiver<BatchItem>>,
    to: &Replies,
) -> Result<BatchOutcome> {
    let prepared = jobs::batch::prepare(job)?;
    to.send(JobEvent::BatchPlanned { items: prepared.items().to_vec(), already_done: prepared.already_done() });
    let run = jobs::batch::run_yielding(master, prepared, &mut to.progress(), halt.cancel, halt.pause, more)?;
    Ok(run.outcome)
}

fn run_classify(
    master: &Master,
    job: &ClassifyRequest,
    cancel: &AtomicBool,
    pause: &AtomicBool,
    to: &Replies,
) -> Result<BatchOutcome> {
    let prepared = jobs::classify::prepare(job)?;
    to.send(JobEvent::BatchPlanned { items: prepared.items().to_vec(), already_done: prepared.already_done() });
    Ok(jobs::classify::run(master, prepared, &mut to.progress(), cancel, pause)?.outcome)
}

fn run_video_job(master: &Master, job: &VideoRequest, cancel: &AtomicBool, to: &Replies) -> Result<VideoSummary> {
    let prepared = jobs::video::prepare(job, master.size())?;
    to.send(JobEvent::VideoPlanned { frames: prepared.pending_frames() });
    jobs::video::run(master, prepared, &mut |e| to.send(JobEvent::Video(e)), cancel)
}
