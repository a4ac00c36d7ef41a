//! The queue's worker: one thread that takes the next job from the store ([`fair::Turns`]), runs
//! it on the ranks through the coordinator's request channel (the same one the GUI uses) and
//! writes what happens back to the store, waking every event stream after each change.
//!
//! A batch yields its turn when another user has work waiting: its `pause` flag is set, the
//! images on the ranks finish and are journaled, and the job stays `running` in the store until
//! its next turn resumes it from the journal; a classify job takes turns the same way. A video
//! runs to its end (chunks are not yet preempted). After a restart the same loop picks up every
//! `queued` and `running` job.

use super::fair::{Turns, Waiting};
use super::group;
use super::model::{JobKind, JobStatus, JobView, Progress, RankShare};
use super::state::{Running, Shared};
use super::store::Store;
use crate::chain::OpChain;
use crate::coordinator::{JobEvent, Request};
use crate::jobs::batch::BatchRequest;
use crate::jobs::video::VideoRequest;
use crate::model::unix_now as now;
use crate::model::{BatchOutcome, Progress as RankProgress};
use crate::video::VideoEvent;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often an idle dispatcher checks that the MPI thread answers and old jobs expire.
const IDLE_TICK: Duration = Duration::from_millis(500);
/// How often live progress is written while a job runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Runs jobs until `kicks` is closed (the server is stopping).
pub fn run(shared: Arc<Shared>, store: Store, requests: Sender<Request>, kicks: Receiver<()>) {
    let mut turns = Turns::default();
    let mut last_janitor = Instant::now() - Duration::from_secs(3600);
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        // At least every minute, and often enough that a short --keep is kept to the second.
        if last_janitor.elapsed() > (shared.keep / 2).clamp(Duration::from_secs(1), Duration::from_secs(60)) {
            last_janitor = Instant::now();
            if let Err(e) = super::janitor::expire(&shared, &store) {
                eprintln!("imgproc serve: removing expired jobs: {e:#}");
            }
        }
        let next = match waiting(&store) {
            Ok(w) => turns.pick(&w).cloned(),
            Err(e) => {
                eprintln!("imgproc serve: reading the queue: {e:#}");
                None
            }
        };
        let Some(next) = next else {
            shared.health.beat(ping(&requests));
            match kicks.recv_timeout(IDLE_TICK) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        let small = match store.job(&next.id, None) {
            Ok(Some(job)) if group::is_small(&job) => {
                let waiting = store.runnable().unwrap_or_default();
                let mut jobs = vec![job.clone()];
                jobs.extend(group::companions(&job, &waiting));
                Some(jobs)
            }
            _ => None,
        };
        let result = match small {
            Some(jobs) => group::run(&shared, &store, &requests, &kicks, jobs),
            None => run_job(&shared, &store, &requests, &kicks, &next.id),
        };
        if let Err(e) = result {
            eprintln!("imgproc serve: job {}: {e:#}", next.id);
            let _ = store.set_status(&next.id, JobStatus::Failed, Some(&format!("{e:#}")), now());
            shared.job_changed(&next.id);
        }
    }
}

fn waiting(store: &Store) -> Result<Vec<Waiting>> {
    Ok(store.runnable()?.into_iter().map(|j| Waiting { id: j.id, user: j.user }).collect())
}

/// Whether the MPI thread answers within a second (it does at once when no job runs).
fn ping(requests: &Sender<Request>) -> bool {
    let (reply, answer) = mpsc::channel();
    requests.send(Request::Ping { reply }).is_ok() && answer.recv_timeout(Duration::from_secs(1)).is_ok()
}

/// Runs one turn of job `id`: to its end, to a cancel, or until it yields.
fn run_job(shared: &Shared, store: &Store, requests: &Sender<Request>, kicks: &Receiver<()>, id: &str) -> Result<()> {
    let cancel = Arc::new(AtomicBool::new(false));
    let pause = Arc::new(AtomicBool::new(false));
    let job = {
        // Under the lock a cancel either sees this job running or finds it queued in the store.
        let mut running = shared.running();
        let Some(job) = store.job(id, None)? else { return Ok(()) };
        if job.status.is_final() {
            return Ok(());
        }
        store.set_status(id, JobStatus::Running, None, now())?;
        *running = Some(Running { id: id.into(), cancel: Arc::clone(&cancel), pause: Arc::clone(&pause) });
        job
    };
    shared.job_changed(id);
    let chain = || OpChain::parse(&job.chain, &[]).with_context(|| format!("chain {}", job.chain));
    let (reply, events) = mpsc::channel();
    let wake: crate::coordinator::Wake = Arc::new(|| {});
    let inputs_dir = shared.layout.inputs(id);
    let items = store.items(id)?;
    let request = match job.kind {
        JobKind::Images => {
            let inputs = items.iter().map(|i| inputs_dir.join(&i.name)).collect();
            let batch = BatchRequest {
                inputs,
                out_dir: shared.layout.outputs(id),
                chain: chain()?,
                format: job.format.clone(),
                max_pixels: shared.limits.max_pixels,
                shared_dir: None,
                send_files: false,
                coordinator_only: false,
            };
            Request::Batch {
                job: batch,
                cancel: Arc::clone(&cancel),
                pause: Some(Arc::clone(&pause)),
                more: None,
                reply,
                wake,
            }
        }
        JobKind::Video => {
            let input = inputs_dir.join(&items[0].name);
            let output = shared.layout.outputs(id).join(video_output_name(&items[0].name, job.format.as_deref()));
            std::fs::create_dir_all(shared.layout.outputs(id))?;
            let video = VideoRequest::new(chain()?, vec![input], output);
            Request::Video { job: video, cancel: Arc::clone(&cancel), reply, wake }
        }
        JobKind::Classify => {
            let model = shared.model.as_ref().context("this server has no model (start it with --model)")?;
            let inputs = items.iter().map(|i| inputs_dir.join(&i.name)).collect();
            let job = model.request(inputs, &shared.layout.outputs(id), shared.limits.max_pixels);
            Request::Classify { job, cancel: Arc::clone(&cancel), pause: Some(Arc::clone(&pause)), reply, wake }
        }
    };
    requests.send(request).map_err(|_| anyhow::anyhow!("the MPI thread has stopped"))?;
    let mut turn = Turn::new(shared, store, &job, items.iter().map(|i| i.name.clone()).collect());
    let end = loop {
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(event) => {
                shared.health.beat(true);
                if let Some(end) = turn.apply(event)? {
                    break end;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break End::Failed("the MPI thread has stopped".into()),
        }
        if shared.stopping.load(Ordering::SeqCst) {
            pause.store(true, Ordering::SeqCst);
        }
        // A submission or a cancel came in: does another user wait for the ranks?
        if kicks.try_iter().count() > 0 && !pause.load(Ordering::Relaxed) {
            let others = waiting(store)?.into_iter().filter(|w| w.id != id).collect::<Vec<_>>();
            if job.kind != JobKind::Video && Turns::should_yield(&job.user, &others) {
                pause.store(true, Ordering::SeqCst);
            }
        }
        turn.tick(false)?;
    };
    turn.tick(true)?;
    *shared.running() = None;
    let t = now();
    match end {
        _ if cancel.load(Ordering::SeqCst) => {
            store.cancel_open_items(id)?;
            store.set_status(id, JobStatus::Canceled, None, t)?;
        }
        End::Yielded => {} // still `running`: its next turn goes on from the journal
        End::Done { all_failed: false } => {
            store.set_status(id, JobStatus::Succeeded, None, t)?;
        }
        End::Done { all_failed: true } => {
            store.set_status(id, JobStatus::Failed, Some("every input failed (see its items)"), t)?;
        }
        End::Failed(reason) => {
            store.cancel_open_items(id)?;
            store.set_status(id, JobStatus::Failed, Some(&reason), t)?;
        }
    }
    shared.job_changed(id);
    Ok(())
}

/// A video's output: the input's name in the requested container (default: the input's).
pub fn video_output_name(input: &str, format: Option<&str>) -> String {
    let stem = Path::new(input).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "video".into());
    let ext = format
        .map(str::to_string)
        .or_else(|| Path::new(input).extension().map(|e| e.to_string_lossy().to_ascii_lowercase()))
        .unwrap_or_else(|| "mp4".into());
    format!("{stem}.{ext}")
}

enum End {
    Done { all_failed: bool },
    Yielded,
    Failed(String),
}

/// One turn's bookkeeping: which item each event is about, the ranks' shares, the rate.
struct Turn<'a> {
    shared: &'a Shared,
    store: &'a Store,
    job: &'a JobView,
    /// Input file name → item index in the store.
    index_of: HashMap<String, usize>,
    /// The engine's index → the store's.
    engine: Vec<usize>,
    /// The engine's index → the output path.
    outputs: Vec<std::path::PathBuf>,
    progress: Progress,
    started: Instant,
    done_this_turn: u64,
    dirty: bool,
    last_write: Instant,
}

impl<'a> Turn<'a> {
    fn new(shared: &'a Shared, store: &'a Store, job: &'a JobView, names: Vec<String>) -> Turn<'a> {
        let ranks = shared
            .ranks
            .iter()
            .map(|r| RankShare { rank: r.rank, host: r.host.clone(), done: 0, busy: false })
            .collect();
        let (total, unit) = match job.kind {
            JobKind::Images | JobKind::Classify => (job.total, "images"),
            JobKind::Video => (0, "frames"),
        };
        let progress = Progress { done: job.done + job.failed, total, unit: unit.into(), ranks, ..Default::default() };
        Turn {
            shared,
            store,
            job,
            index_of: names.into_iter().enumerate().map(|(i, n)| (n, i)).collect(),
            engine: Vec::new(),
            outputs: Vec::new(),
            progress,
            started: Instant::now(),
            done_this_turn: 0,
            dirty: true,
            last_write: Instant::now(),
        }
    }

    fn item_of(&self, engine_index: usize) -> Option<usize> {
        self.engine.get(engine_index).copied()
    }

    /// Takes one event; returns the end once the job's turn is over.
    fn apply(&mut self, event: JobEvent) -> Result<Option<End>> {
        self.dirty = true;
        match event {
            JobEvent::BatchPlanned { items, already_done } => {
                self.engine = items
                    .iter()
                    .map(|i| {
                        let name = i.input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                        self.index_of.get(&name).copied().unwrap_or(usize::MAX)
                    })
                    .collect();
                self.outputs = items.iter().map(|i| i.output.clone()).collect();
                // Done by an earlier turn whose store write did not land: the journal is the truth.
                for (e, done) in already_done.iter().enumerate() {
                    if *done {
                        self.end_item(e, &items[e].output, None)?;
                    }
                }
            }
            JobEvent::Progress(RankProgress::ItemAssigned { rank, index }) => {
                self.busy(rank, true);
                if let Some(idx) = self.item_of(index).filter(|&i| i != usize::MAX) {
                    self.store.start_item(&self.job.id, idx)?;
                }
            }
            JobEvent::Progress(RankProgress::ItemDone { rank, index, secs, error }) => {
                self.busy(rank, false);
                if let Some(r) = self.progress.ranks.get_mut(rank) {
                    r.done += 1;
                }
                self.shared.metrics.rank_busy(rank, secs);
                self.done_this_turn += 1;
                self.progress.done += 1;
                let output = self.output_of(index);
                self.end_item(index, &output, error.as_deref())?;
                self.shared.job_changed(&self.job.id);
            }
            JobEvent::Progress(_) => {}
            JobEvent::BatchFinished(result) => return Ok(Some(batch_end(result))),
            JobEvent::VideoPlanned { frames } => self.progress.total = frames as u64,
            JobEvent::Video(VideoEvent::ChunkAssigned { rank, .. }) => self.busy(rank, true),
            JobEvent::Video(VideoEvent::Frames { frames, .. }) => {
                self.progress.done += frames as u64;
                self.done_this_turn += frames as u64;
            }
            JobEvent::Video(VideoEvent::ChunkDone { rank, secs, .. }) => {
                self.busy(rank, false);
                self.shared.metrics.rank_busy(rank, secs);
            }
            JobEvent::VideoFinished(result) => {
                let end = match result {
                    Ok(s) if s.ok => {
                        let name = s.output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                        let bytes = std::fs::metadata(&s.output).map(|m| m.len()).unwrap_or(0);
                        self.store.end_item(&self.job.id, 0, true, Some(&name), None, bytes)?;
                        self.shared.metrics.done(1, bytes);
                        End::Done { all_failed: false }
                    }
                    Ok(s) if s.cancelled => End::Failed("cancelled".into()),
                    Ok(s) => End::Failed(format!("chunks failed: {}", s.failed.join("; "))),
                    Err(e) => End::Failed(e),
                };
                return Ok(Some(end));
            }
            JobEvent::ImageFinished(_) => {}
        }
        Ok(None)
    }

    fn output_of(&self, engine_index: usize) -> std::path::PathBuf {
        self.outputs.get(engine_index).cloned().unwrap_or_default()
    }

    fn busy(&mut self, rank: usize, busy: bool) {
        if let Some(r) = self.progress.ranks.get_mut(rank) {
            r.busy = busy;
        }
    }

    /// Ends item `engine_index` in the store (once), with its output's name and size.
    fn end_item(&mut self, engine_index: usize, output: &Path, error: Option<&str>) -> Result<()> {
        let Some(idx) = self.item_of(engine_index).filter(|&i| i != usize::MAX) else { return Ok(()) };
        let name = output.file_name().map(|n| n.to_string_lossy().into_owned());
        // A classify job's images share one results file: no image has bytes of its own.
        let own_file = error.is_none() && self.job.kind != JobKind::Classify;
        let bytes = if own_file { std::fs::metadata(output).map(|m| m.len()).unwrap_or(0) } else { 0 };
        let ended = self.store.end_item(&self.job.id, idx, error.is_none(), name.as_deref(), error, bytes)?;
        if ended && error.is_none() {
            self.shared.metrics.done(1, bytes);
        }
        Ok(())
    }

    /// Writes the live progress when due (or `now`).
    fn tick(&mut self, now: bool) -> Result<()> {
        if !self.dirty || (!now && self.last_write.elapsed() < PROGRESS_EVERY) {
            return Ok(());
        }
        let secs = self.started.elapsed().as_secs_f64();
        self.progress.rate = if secs > 0.0 { self.done_this_turn as f64 / secs } else { 0.0 };
        let left = self.progress.total.saturating_sub(self.progress.done) as f64;
        self.progress.eta_secs = (self.progress.rate > 0.0).then(|| left / self.progress.rate);
        self.store.set_progress(&self.job.id, &self.progress)?;
        self.dirty = false;
        self.last_write = Instant::now();
        self.shared.job_changed(&self.job.id);
        Ok(())
    }
}

fn batch_end(result: Result<BatchOutcome, String>) -> End {
    match result {
        Ok(o) if o.paused => End::Yielded,
        Ok(o) => match o.stopped {
            Some(why) => End::Failed(why),
            None => End::Done { all_failed: o.done == 0 && o.already_done == 0 && !o.failed.is_empty() },
        },
        Err(e) => End::Failed(e),
    }
}
