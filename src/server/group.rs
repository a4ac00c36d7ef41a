//! Small jobs share a turn: when the next job has a few images, the other waiting small image
//! jobs with the same chain and output format join it in one batch, so one-image jobs from many
//! clients keep every rank busy the way one big batch does (a batch of one image would use one
//! rank while the others wait).
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
use crate::jobs::batch::BatchRequest;
use crate::model::{unix_now as now, Progress as RankProgress};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

/// A job of at most this many images may share a turn.
pub const SMALL: u64 = 8;
/// At most this many images in one shared turn.
const TURN_ITEMS: usize = 32;

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
}

/// Runs `jobs` (small image jobs with one chain) as one batch.
pub fn run(shared: &Shared, store: &Store, requests: &Sender<Request>, jobs: Vec<JobView>) -> Result<()> {
    let turn_id = format!("turn-{}", jobs[0].id);
    let dir = shared.layout.root.join("turns").join(&turn_id);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("in")).with_context(|| format!("{}: cannot create", dir.display()))?;
    let cancel = Arc::new(AtomicBool::new(false));
    let mut routes = Vec::new();
    let mut started = Vec::new();
    {
        // No job id is `turn_id`: a cancel marks a member cancelled in the store (its later
        // results are not kept) and leaves the others running.
        let mut running = shared.running();
        for (j, job) in jobs.iter().enumerate() {
            if store.job(&job.id, None)?.is_none_or(|s| s.status.is_final()) {
                continue;
            }
            store.set_status(&job.id, JobStatus::Running, None, now())?;
            started.push(j);
            for item in store.items(&job.id)?.into_iter().filter(|i| i.status == "queued" || i.status == "running") {
                let link = dir.join("in").join(format!("{:04}-{}", routes.len(), item.name));
                std::os::unix::fs::symlink(shared.layout.inputs(&job.id).join(&item.name), &link)?;
                routes.push(Route { job: j, item: item.index, name: item.name, link });
            }
        }
        *running = Some(Running { id: turn_id, cancel: Arc::clone(&cancel), pause: Arc::default() });
    }
    shared.changed();
    let result =
        if routes.is_empty() { Ok(()) } else { run_batch(shared, store, requests, &jobs, &routes, &dir, cancel) };
    let end = result.as_ref().err().map(|e| format!("{e:#}"));
    for &j in &started {
        let job = store.job(&jobs[j].id, None)?;
        let Some(job) = job.filter(|s| !s.status.is_final()) else { continue };
        let (status, error) = match &end {
            Some(e) => (JobStatus::Failed, Some(e.clone())),
            None => outcome(&job).unwrap_or((JobStatus::Failed, Some("the turn ended before every image".into()))),
        };
        store.cancel_open_items(&job.id)?;
        store.end_job(&job.id, status, error.as_deref(), now())?;
    }
    *shared.running() = None;
    let _ = std::fs::remove_dir_all(&dir);
    shared.changed();
    Ok(())
}

fn run_batch(
    shared: &Shared,
    store: &Store,
    requests: &Sender<Request>,
    jobs: &[JobView],
    routes: &[Route],
    dir: &std::path::Path,
    cancel: Arc<AtomicBool>,
) -> Result<()> {
    let first = &jobs[0];
    let batch = BatchRequest {
        inputs: routes.iter().map(|r| r.link.clone()).collect(),
        out_dir: dir.join("out"),
        chain: OpChain::parse(&first.chain, &[]).with_context(|| format!("chain {}", first.chain))?,
        format: first.format.clone(),
        max_pixels: shared.limits.max_pixels,
        shared_dir: None,
        send_files: false,
        coordinator_only: false,
    };
    let (reply, events) = mpsc::channel();
    let wake: crate::coordinator::Wake = Arc::new(|| {});
    requests
        .send(Request::Batch { job: batch, cancel, pause: None, reply, wake })
        .map_err(|_| anyhow::anyhow!("the MPI thread has stopped"))?;
    let by_link: HashMap<PathBuf, usize> = routes.iter().enumerate().map(|(i, r)| (r.link.clone(), i)).collect();
    let mut engine: Vec<(usize, PathBuf)> = Vec::new();
    let mut ranks: Vec<RankShare> =
        shared.ranks.iter().map(|r| RankShare { rank: r.rank, host: r.host.clone(), ..Default::default() }).collect();
    loop {
        let event = match events.recv_timeout(Duration::from_millis(500)) {
            Ok(e) => e,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => anyhow::bail!("the MPI thread has stopped"),
        };
        shared.health.beat(true);
        match event {
            JobEvent::BatchPlanned { items, .. } => {
                engine = items
                    .iter()
                    .map(|i| (by_link.get(&i.input).copied().unwrap_or(usize::MAX), i.output.clone()))
                    .collect();
            }
            JobEvent::Progress(RankProgress::ItemAssigned { rank, index }) => {
                set_busy(&mut ranks, rank, true);
                if let Some(route) = engine.get(index).and_then(|(r, _)| routes.get(*r)) {
                    store.start_item(&jobs[route.job].id, route.item)?;
                    if let Some(job) = store.job(&jobs[route.job].id, None)? {
                        store.set_progress(&job.id, &progress_of(&job, 0, &ranks))?;
                    }
                    shared.changed();
                }
            }
            JobEvent::Progress(RankProgress::ItemDone { rank, index, secs, error }) => {
                set_busy(&mut ranks, rank, false);
                shared.metrics.rank_busy(rank, secs);
                let Some((route, output)) = engine.get(index).and_then(|(r, o)| Some((routes.get(*r)?, o))) else {
                    continue;
                };
                if let Some(r) = ranks.get_mut(rank) {
                    r.done += 1;
                }
                end_item(shared, store, &jobs[route.job], route, output, error.as_deref(), &ranks)?;
                shared.changed();
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
}

fn set_busy(ranks: &mut [RankShare], rank: usize, busy: bool) {
    if let Some(r) = ranks.get_mut(rank) {
        r.busy = busy;
    }
}

/// Moves one result into its job's folder (unless the job was cancelled or deleted meanwhile)
/// and ends its item.
fn end_item(
    shared: &Shared,
    store: &Store,
    job: &JobView,
    route: &Route,
    output: &std::path::Path,
    error: Option<&str>,
    ranks: &[RankShare],
) -> Result<()> {
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
    // sends its next job while the turn's other images are still on the ranks. An ended job
    // shows no rank busy (the ones still busy work for other jobs of the turn).
    let end = store.job(&job.id, None)?.as_ref().and_then(outcome);
    let mut shown = ranks.to_vec();
    if end.is_some() {
        shown.iter_mut().for_each(|r| r.busy = false);
    }
    store.set_progress(&job.id, &progress_of(&current, 1, &shown))?;
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

/// A job's progress in a shared turn: its images done (and `ending` more), the turn's ranks.
fn progress_of(job: &JobView, ending: u64, ranks: &[RankShare]) -> Progress {
    let done = job.done + job.failed + ending;
    Progress { done, total: job.total, unit: "images".into(), ranks: ranks.to_vec(), ..Default::default() }
}
