//! Small jobs share a turn: when the next job has a few images, the other waiting small image
//! jobs with the same chain and output format join it in one batch, so one-image jobs from many
//! clients keep every rank busy the way one big batch does (a batch of one image would use one
//! rank while the others wait).
//!
//! The turn stays open while it runs: a small job with its chain and format queued meanwhile
//! joins it (its images go to the running batch, [`crate::jobs::batch::plan_arrival`]), so
//! clients that send their next image as soon as the last one is back never wait for a new turn
//! to start, and the ranks never idle between turns. It closes once another kind of job waits
//! (that job is next, as [`super::fair`] says), once nothing of it has run for [`TURN_IDLE`], or
//! after [`TURN_OPEN`] or [`TURN_ITEMS`] images (so the queue's other duties come round).
//!
//! The batch reads links to each job's inputs from a folder of the turn's own and writes there;
//! each result is moved into its job's `out/` as it is reported, and its item ended in the
//! store; a job ends as its last image does, not with the turn, so its client can send the next
//! one while the turn runs. A job cancelled meanwhile keeps no more results. A turn cut off by a
//! crash is not resumed from a journal: its jobs' unfinished images run again in a later turn
//! (they are a few images each).

use super::model::{JobKind, JobStatus, JobView, Progress, RankShare};
use super::state::{Running, Shared};
use super::store::Store;
use crate::chain::OpChain;
use crate::coordinator::{JobEvent, Request};
use crate::jobs::batch::{plan_arrival, BatchRequest};
use crate::model::{unix_now as now, Progress as RankProgress};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A job of at most this many images may share a turn.
pub const SMALL: u64 = 8;
/// At most this many images in one shared turn.
const TURN_ITEMS: usize = 256;
/// A turn takes no more jobs after this long.
const TURN_OPEN: Duration = Duration::from_secs(5);
/// A turn with nothing queued or running closes after this long: enough for a client that got
/// its result to send the next image (a few ms on loopback), short enough that workers do not
/// wait in a batch for long.
const TURN_IDLE: Duration = Duration::from_millis(50);
/// How often an open turn looks at the queue without a kick, and waits for an event between.
const LOOK_EVERY: Duration = Duration::from_millis(20);
const OPEN_WAIT: Duration = Duration::from_millis(2);

/// Whether `job` runs in a shared turn.
pub fn is_small(job: &JobView) -> bool {
    job.kind == JobKind::Images && job.total <= SMALL
}

/// The waiting small jobs that may join `first`'s turn: same chain and format, oldest first.
pub fn companions(first: &JobView, waiting: &[JobView]) -> Vec<JobView> {
    let mut items = first.total as usize;
    let mut out = Vec::new();
    for j in
        waiting.iter().filter(|j| j.id != first.id && is_small(j) && j.chain == first.chain && j.format == first.format)
    {
        if items + j.total as usize > TURN_ITEMS {
            break;
        }
        items += j.total as usize;
        out.push(j.clone());
    }
    out
}

/// Where one image of the turn comes from and goes to.
struct Route {
    job: usize,
    item: usize,
    name: String,
    link: PathBuf,
    /// The rank (its index in the batch's ranks) the image was last given to.
    rank: Option<usize>,
    /// Whether the image ended (done or failed).
    ended: bool,
}

/// The turn's jobs and images. A route's index is its image's index in the batch: the first
/// routes are the batch's inputs in order, later ones arrive in the order they are sent.
struct Turn {
    dir: PathBuf,
    jobs: Vec<JobView>,
    /// Jobs set running by this turn (by index in `jobs`): the turn ends what they leave open.
    started: Vec<usize>,
    routes: Vec<Route>,
    /// Per route: its output, once the batch planned it.
    outputs: Vec<Option<PathBuf>>,
}

impl Turn {
    /// Sets `job` running in this turn and links its open images into the turn's folder;
    /// returns the new routes' indices. Called with `shared.running()` held, so a cancel either
    /// finds the job queued or sees it running here.
    fn join(&mut self, shared: &Shared, store: &Store, job: JobView) -> Result<std::ops::Range<usize>> {
        let first = self.routes.len();
        if store.job(&job.id, None)?.is_none_or(|s| s.status.is_final()) {
            return Ok(first..first);
        }
        store.set_status(&job.id, JobStatus::Running, None, now())?;
        let j = self.jobs.len();
        self.started.push(j);
        for item in store.items(&job.id)?.into_iter().filter(|i| i.status == "queued" || i.status == "running") {
            let link = self.dir.join("in").join(format!("{:04}-{}", self.routes.len(), item.name));
            std::os::unix::fs::symlink(shared.layout.inputs(&job.id).join(&item.name), &link)?;
            self.routes.push(Route { job: j, item: item.index, name: item.name, link, rank: None, ended: false });
            self.outputs.push(None);
        }
        self.jobs.push(job);
        Ok(first..self.routes.len())
    }

    fn has(&self, id: &str) -> bool {
        self.jobs.iter().any(|j| j.id == id)
    }

    /// Job `j`'s own share of each rank: its images that rank did, and whether it works on one
    /// now (the turn's other jobs' images are theirs to show).
    fn shares(&self, shared: &Shared, j: usize) -> Vec<RankShare> {
        let mut out: Vec<RankShare> = shared
            .ranks
            .iter()
            .map(|r| RankShare { rank: r.rank, host: r.host.clone(), ..Default::default() })
            .collect();
        for route in self.routes.iter().filter(|r| r.job == j) {
            let Some(share) = route.rank.and_then(|r| out.get_mut(r)) else { continue };
            if route.ended {
                share.done += 1;
            } else {
                share.busy = true;
            }
        }
        out
    }
}

/// Runs `jobs` (small image jobs with one chain) as one batch, which later jobs may join.
pub fn run(
    shared: &Shared,
    store: &Store,
    requests: &Sender<Request>,
    kicks: &Receiver<()>,
    jobs: Vec<JobView>,
) -> Result<()> {
    let turn_id = format!("turn-{}", jobs[0].id);
    let dir = shared.layout.root.join("turns").join(&turn_id);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("in")).with_context(|| format!("{}: cannot create", dir.display()))?;
    let cancel = Arc::new(AtomicBool::new(false));
    let mut turn = Turn { dir, jobs: Vec::new(), started: Vec::new(), routes: Vec::new(), outputs: Vec::new() };
    {
        // No job id is `turn_id`: a cancel marks a member cancelled in the store (its later
        // results are not kept) and leaves the others running.
        let mut running = shared.running();
        for job in jobs {
            turn.join(shared, store, job)?;
        }
        *running = Some(Running { id: turn_id, cancel: Arc::clone(&cancel), pause: Arc::default() });
    }
    shared.changed();
    shared.metrics.turns.fetch_add(1, Ordering::Relaxed);
    let result =
        if turn.routes.is_empty() { Ok(()) } else { run_batch(shared, store, requests, kicks, &mut turn, cancel) };
    let end = result.as_ref().err().map(|e| format!("{e:#}"));
    for &j in &turn.started {
        let job = store.job(&turn.jobs[j].id, None)?;
        let Some(job) = job.filter(|s| !s.status.is_final()) else { continue };
        let (status, error) = match &end {
            Some(e) => (JobStatus::Failed, Some(e.clone())),
            None => outcome(&job).unwrap_or((JobStatus::Failed, Some("the turn ended before every image".into()))),
        };
        store.cancel_open_items(&job.id)?;
        store.end_job(&job.id, status, error.as_deref(), now())?;
    }
    *shared.running() = None;
    let _ = std::fs::remove_dir_all(&turn.dir);
    shared.changed();
    Ok(())
}

/// Whether the turn takes no more jobs.
struct Closing {
    opened: Instant,
    /// When the last of the turn's images ended with none left (`None` while some are open).
    idle_since: Option<Instant>,
    /// When the queue was last looked at for jobs to join.
    looked: Instant,
}

impl Closing {
    /// Whether the turn should close now, before looking at the queue.
    fn due(&self, shared: &Shared, turn: &Turn, cancel: &AtomicBool) -> bool {
        shared.stopping.load(Ordering::SeqCst)
            || cancel.load(Ordering::SeqCst)
            || turn.routes.len() >= TURN_ITEMS
            || self.opened.elapsed() >= TURN_OPEN
            || self.idle_since.is_some_and(|t| t.elapsed() >= TURN_IDLE)
    }
}

/// The queued jobs that join the turn now (oldest first, as many as it has room for), and
/// whether it must close: another kind of job waits, and it is that job's turn next.
fn joiners(store: &Store, turn: &Turn) -> Result<(Vec<JobView>, bool)> {
    let first = &turn.jobs[0];
    let mut room = TURN_ITEMS.saturating_sub(turn.routes.len());
    let mut join = Vec::new();
    for job in store.runnable()?.into_iter().filter(|j| !turn.has(&j.id)) {
        if !is_small(&job) || job.chain != first.chain || job.format != first.format {
            return Ok((join, true));
        }
        if job.total as usize > room {
            break;
        }
        room -= job.total as usize;
        join.push(job);
    }
    Ok((join, false))
}

fn run_batch(
    shared: &Shared,
    store: &Store,
    requests: &Sender<Request>,
    kicks: &Receiver<()>,
    turn: &mut Turn,
    cancel: Arc<AtomicBool>,
) -> Result<()> {
    let first = turn.jobs[0].clone();
    let batch = BatchRequest {
        inputs: turn.routes.iter().map(|r| r.link.clone()).collect(),
        out_dir: turn.dir.join("out"),
        chain: OpChain::parse(&first.chain, &[]).with_context(|| format!("chain {}", first.chain))?,
        format: first.format.clone(),
        max_pixels: shared.limits.max_pixels,
        shared_dir: None,
        send_files: false,
        coordinator_only: false,
    };
    let (reply, events) = mpsc::channel();
    let (arrivals, more) = mpsc::channel();
    let mut arrivals = Some(arrivals);
    let wake: crate::coordinator::Wake = Arc::new(|| {});
    let job = batch.clone();
    requests
        .send(Request::Batch { job, cancel: Arc::clone(&cancel), pause: None, more: Some(more), reply, wake })
        .map_err(|_| anyhow::anyhow!("the MPI thread has stopped"))?;
    let mut closing = Closing { opened: Instant::now(), idle_since: None, looked: Instant::now() };
    loop {
        let wait = if arrivals.is_some() { OPEN_WAIT } else { Duration::from_millis(500) };
        match events.recv_timeout(wait) {
            Ok(event) => {
                shared.health.beat(true);
                match event {
                    JobEvent::BatchPlanned { items, .. } => {
                        for (out, item) in turn.outputs.iter_mut().zip(&items) {
                            *out = Some(item.output.clone());
                        }
                    }
                    JobEvent::Progress(RankProgress::ItemAssigned { rank, index }) => {
                        let Some(route) = turn.routes.get_mut(index) else { continue };
                        route.rank = Some(rank);
                        let (j, item) = (route.job, route.item);
                        let id = turn.jobs[j].id.clone();
                        store.start_item(&id, item)?;
                        if let Some(job) = store.job(&id, None)? {
                            store.set_progress(&id, &progress_of(&job, 0, &turn.shares(shared, j)))?;
                        }
                        shared.job_changed(&id);
                    }
                    JobEvent::Progress(RankProgress::ItemDone { rank, index, secs, error }) => {
                        shared.metrics.rank_busy(rank, secs);
                        let Some((route, Some(_))) = turn.routes.get_mut(index).zip(turn.outputs.get(index)) else {
                            continue;
                        };
                        (route.rank, route.ended) = (Some(rank), true);
                        end_item(shared, store, turn, index, error.as_deref())?;
                        shared.job_changed(&turn.jobs[turn.routes[index].job].id);
                    }
                    JobEvent::BatchFinished(Err(e)) => anyhow::bail!(e),
                    JobEvent::BatchFinished(Ok(outcome)) => {
                        return match outcome.stopped {
                            Some(why) => Err(anyhow::anyhow!(why)),
                            None => Ok(()),
                        };
                    }
                    _ => {}
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => anyhow::bail!("the MPI thread has stopped"),
        }
        let Some(to) = &arrivals else { continue };
        let idle = turn.routes.iter().all(|r| r.ended);
        match (idle, closing.idle_since) {
            (true, None) => closing.idle_since = Some(Instant::now()),
            (false, Some(_)) => closing.idle_since = None,
            _ => {}
        }
        // A submission (or a cancel) kicks; jobs queued before the turn opened are looked for
        // now and then.
        let kicked = kicks.try_iter().count() > 0;
        if closing.due(shared, turn, &cancel) {
            arrivals = None;
            continue;
        }
        if !kicked && closing.looked.elapsed() < LOOK_EVERY {
            continue;
        }
        closing.looked = Instant::now();
        let (join, close) = joiners(store, turn)?;
        // The batch stops taking items only when it stopped early (a full disk): the reason
        // comes with its end, and a job whose image it did not take fails with it.
        let mut taken = true;
        for job in join {
            if !taken {
                break;
            }
            let id = job.id.clone();
            let new = {
                let _running = shared.running();
                turn.join(shared, store, job)?
            };
            if !new.is_empty() {
                shared.metrics.joined.fetch_add(1, Ordering::Relaxed);
            }
            shared.job_changed(&id);
            for r in new {
                let item = plan_arrival(&batch, &turn.routes[r].link)?;
                turn.outputs[r] = Some(item.output.clone());
                taken &= to.send(item).is_ok();
            }
        }
        if close || !taken {
            arrivals = None;
        }
    }
}

/// Moves the result of the turn's image `index` into its job's folder (unless the job was
/// cancelled or deleted meanwhile) and ends its item.
fn end_item(shared: &Shared, store: &Store, turn: &Turn, index: usize, error: Option<&str>) -> Result<()> {
    let route = &turn.routes[index];
    let job = &turn.jobs[route.job];
    let Some(output) = turn.outputs[index].as_deref() else { return Ok(()) };
    let Some(current) = store.job(&job.id, None)?.filter(|j| !j.status.is_final()) else {
        let _ = std::fs::remove_file(output);
        return Ok(());
    };
    let link = route.link.display().to_string();
    let result = match error {
        Some(e) => Err(e.replace(&link, &route.name)),
        None => {
            let produced = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let name = produced.split_once('-').map_or(produced.clone(), |(_, rest)| rest.to_string());
            let out_dir = shared.layout.outputs(&job.id);
            std::fs::create_dir_all(&out_dir)?;
            let target = out_dir.join(&name);
            std::fs::rename(output, &target).with_context(|| format!("{}: moving the result", target.display()))?;
            Ok((name, std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0)))
        }
    };
    let ended = match &result {
        Ok((name, bytes)) => store.end_item(&job.id, route.item, true, Some(name), None, *bytes)?,
        Err(e) => store.end_item(&job.id, route.item, false, None, Some(e), 0)?,
    };
    if let (true, Ok((_, bytes))) = (ended, &result) {
        shared.metrics.done(1, *bytes);
    }
    // Its last image: the job ends now, not with the turn, so its client fetches the result and
    // sends its next job while the turn's other images are still on the ranks.
    let end = store.job(&job.id, None)?.as_ref().and_then(outcome);
    store.set_progress(&job.id, &progress_of(&current, 1, &turn.shares(shared, route.job)))?;
    if let Some((status, error)) = end {
        store.end_job(&job.id, status, error.as_deref(), now())?;
    }
    Ok(())
}

/// How a job of the turn ends once each of its images has: `None` while some have not.
fn outcome(job: &JobView) -> Option<(JobStatus, Option<String>)> {
    if job.done + job.failed < job.total {
        None
    } else if job.done == 0 && job.failed > 0 {
        Some((JobStatus::Failed, Some("every input failed (see its items)".into())))
    } else {
        Some((JobStatus::Succeeded, None))
    }
}

/// A job's progress in a shared turn: its images done (and `ending` more), its ranks' shares.
fn progress_of(job: &JobView, ending: u64, ranks: &[RankShare]) -> Progress {
    let done = job.done + job.failed + ending;
    Progress { done, total: job.total, unit: "images".into(), ranks: ranks.to_vec(), ..Default::default() }
}
