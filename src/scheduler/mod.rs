//! Who does which item next, for any work made of independent items: a batch's images today, a
//! video's chunks or jobs from a queue next. Pure: no MPI, no files, no clock of its own.
//!
//! [`Scheduler`] is the state (the queue, each rank's free slots, who was told to finish);
//! [`run`] drives it through a [`Transport`], the one thing that differs between MPI ranks
//! (`master`), rank 0's own lane, and the Vec-backed fake the tests use. Items are plain indices:
//! what an item is, and how its result is stored and journaled, is the caller's business.
//!
//! Items may arrive while the work runs ([`Scheduler::push`]); the work ends once the source is
//! [`Scheduler::close`]d (or cancelled) and every rank has handed in its last result.

use crate::model::{Failure, RankStats};
use anyhow::Result;
use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

/// What the driver must do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start `item` on `rank` (a second copy, when the first runs far longer than the others).
    Assign { rank: usize, item: usize },
    /// `rank` gets no more work: it may hand in its totals and wait for the next job.
    Finish { rank: usize },
}

/// When a running item counts as a straggler and is also given to an idle rank: once it has run
/// `factor` × the median time of the items finished so far, and at least `floor_secs`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stragglers {
    pub factor: f64,
    pub floor_secs: f64,
}

impl Default for Stragglers {
    fn default() -> Self {
        Stragglers { factor: 3.0, floor_secs: 2.0 }
    }
}

/// What the driver does with a result ([`Scheduler::completed`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The first result for this item: store it. Later copies are discarded.
    pub keep: bool,
    /// Other copies of the item still running, as `(rank, item)`: stop them.
    pub stop: Vec<(usize, usize)>,
}

/// The queue, the ranks' slots and the copies of each running item.
#[derive(Debug)]
pub struct Scheduler {
    /// Items a rank may hold at once (0: it takes no work, e.g. a coordinator-only rank 0).
    slots: Vec<usize>,
    /// Per rank: the items it runs and when each started (seconds, the caller's clock).
    running: Vec<Vec<(usize, f64)>>,
    queue: VecDeque<usize>,
    /// Items handed out and not finished yet.
    open: HashSet<usize>,
    /// How long finished items took (first copies).
    durations: Vec<f64>,
    /// Items given a second copy already.
    doubled: HashSet<usize>,
    stragglers: Option<Stragglers>,
    closed: bool,
    cancelled: bool,
    told_finish: Vec<bool>,
    finished: Vec<bool>,
}

impl Scheduler {
    /// A scheduler for ranks with `slots[rank]` items in flight each. Ranks without a slot are
    /// finished from the start. Stragglers get a second copy (see [`Stragglers`]).
    pub fn new(slots: Vec<usize>) -> Scheduler {
        let idle: Vec<bool> = slots.iter().map(|&s| s == 0).collect();
        Scheduler {
            running: vec![Vec::new(); slots.len()],
            slots,
            queue: VecDeque::new(),
            open: HashSet::new(),
            durations: Vec::new(),
            doubled: HashSet::new(),
            stragglers: Some(Stragglers::default()),
            closed: false,
            cancelled: false,
            told_finish: idle.clone(),
            finished: idle,
        }
    }

    /// Changes (or with `None` turns off) the second copies of stragglers.
    pub fn with_stragglers(mut self, policy: Option<Stragglers>) -> Scheduler {
        self.stragglers = policy;
        self
    }

    /// Queues an item; ignored once cancelled.
    pub fn push(&mut self, item: usize) {
        if !self.cancelled {
            self.queue.push_back(item);
        }
    }

    /// No more items will be pushed: ranks are finished once the queue runs dry.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Drops the items not started yet and takes no more, but lets running ones finish: the
    /// work ends once they are in (a job yielding its turn to another at item granularity).
    pub fn withdraw(&mut self) {
        self.queue.clear();
        self.closed = true;
    }

    /// Drops the queue; returns every running copy, as `(rank, item)`, to be stopped.
    pub fn cancel(&mut self) -> Vec<(usize, usize)> {
        self.cancelled = true;
        self.queue.clear();
        self.copies(|_| true)
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }

    /// More items may still be pushed: the work is open (a server's turn that jobs join).
    pub fn is_open(&self) -> bool {
        !self.closed && !self.cancelled
    }

    /// Items not started yet.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    fn copies(&self, of: impl Fn(usize) -> bool) -> Vec<(usize, usize)> {
        let mut all = Vec::new();
        for (rank, items) in self.running.iter().enumerate() {
            all.extend(items.iter().filter(|(i, _)| of(*i)).map(|&(i, _)| (rank, i)));
        }
        all
    }

    /// Ranks served first to last: workers before rank 0, whose lane shares its cores with
    /// coordinating.
    fn order(&self) -> impl Iterator<Item = usize> + Clone {
        let n = self.slots.len();
        (1..n).chain(std::iter::once(0).filter(move |_| n > 0))
    }

    fn free(&self, rank: usize) -> bool {
        !self.told_finish[rank] && self.running[rank].len() < self.slots[rank]
    }

    /// The next thing to do at time `now` (seconds), or `None` until a result comes in.
    pub fn next_action(&mut self, now: f64) -> Option<Action> {
        // A rank's second slot only once every free rank has one item: a batch smaller than
        // the slots is spread over the ranks, not stacked on the first.
        let least_loaded = self.order().filter(|&r| self.free(r)).min_by_key(|&r| self.running[r].len());
        if let Some(rank) = least_loaded.filter(|_| !self.queue.is_empty()) {
            let item = self.queue.pop_front().expect("not empty");
            self.running[rank].push((item, now));
            self.open.insert(item);
            return Some(Action::Assign { rank, item });
        }
        for rank in self.order() {
            if !self.free(rank) {
                continue;
            }
            // A rank works through its items one at a time: a copy queued behind another item
            // would start no sooner than the first copy ends.
            if let Some(item) = self.running[rank].is_empty().then(|| self.straggler(rank, now)).flatten() {
                self.running[rank].push((item, now));
                self.doubled.insert(item);
                return Some(Action::Assign { rank, item });
            }
        }
        // Idle ranks wait while anything runs: they may still be needed for a second copy.
        let drained = self.queue.is_empty() && (self.closed || self.cancelled);
        if drained && (self.open.is_empty() || self.cancelled || self.stragglers.is_none()) {
            for rank in self.order() {
                if !self.told_finish[rank] && self.running[rank].is_empty() {
                    self.told_finish[rank] = true;
                    return Some(Action::Finish { rank });
                }
            }
        }
        None
    }

    /// The running item, not on `rank` and not doubled yet, that has run longest, if it counts
    /// as a straggler by now. Only once the queue is empty and no more items come.
    fn straggler(&self, rank: usize, now: f64) -> Option<usize> {
        let policy = self.stragglers?;
        if !self.queue.is_empty() || !self.closed || self.cancelled || self.durations.is_empty() {
            return None;
        }
        let mut d = self.durations.clone();
        d.sort_by(f64::total_cmp);
        let limit = (policy.factor * d[d.len() / 2]).max(policy.floor_secs);
        let mine: Vec<usize> = self.running[rank].iter().map(|&(i, _)| i).collect();
        self.running
            .iter()
            .flatten()
            .filter(|(i, started)| !self.doubled.contains(i) && !mine.contains(i) && now - started > limit)
            .max_by(|a, b| (now - a.1).total_cmp(&(now - b.1)))
            .map(|&(i, _)| i)
    }

    /// `rank` is done with `item` (whatever the outcome) at time `now`; its slot is free again.
    pub fn completed(&mut self, rank: usize, item: usize, now: f64) -> Completion {
        let started = self.running[rank].iter().find(|(i, _)| *i == item).map(|&(_, t)| t);
        self.running[rank].retain(|&(i, _)| i != item);
        let keep = self.open.remove(&item);
        if keep {
            // An item failed at assignment took no time: it says nothing about item times.
            self.durations.extend(started.map(|t| now - t).filter(|&d| d > 0.0));
        }
        let stop = if keep { self.copies(|i| i == item) } else { Vec::new() };
        Completion { keep, stop }
    }

    /// `rank` handed in its totals after [`Action::Finish`].
    pub fn rank_finished(&mut self, rank: usize) {
        self.finished[rank] = true;
    }

    /// Every item is finished and every rank confirmed it has nothing more to do, except ranks
    /// still running a copy that was already done elsewhere ([`Scheduler::lingering`]): a stalled
    /// rank must not hold up the end.
    pub fn is_over(&self) -> bool {
        let drained = self.queue.is_empty() && (self.closed || self.cancelled);
        drained
            && (self.open.is_empty() || self.cancelled && self.copies(|_| true).is_empty())
            && (0..self.slots.len()).all(|r| self.finished[r] || self.lingering().contains(&r))
    }

    /// Ranks still busy with copies whose item is done elsewhere: they were asked to stop, and
    /// owe a result and their totals before they can take the next job.
    pub fn lingering(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&r| !self.running[r].is_empty() && self.running[r].iter().all(|(i, _)| !self.open.contains(i)))
            .collect()
    }
}

/// How the driver reaches the ranks.
pub trait Transport {
    /// What a finished item hands back before it is stored (encoded bytes through rank 0, or a
    /// temporary file the rank wrote beside the output).
    type Payload;
    /// Starts `item` on `rank`. `Err` fails the item at once (say, rank 0 could not read the input
    /// it must send); the rank stays free.
    fn assign(&mut self, rank: usize, item: usize) -> Result<(), String>;
    /// Tells `rank` that no more work comes; it answers with [`RankEvent::Finished`].
    fn finish(&mut self, rank: usize);
    /// Asks `rank` to stop `item` at its next chunk; it answers with `Failure::Cancelled` (or the
    /// result, if it was quicker).
    fn cancel(&mut self, rank: usize, item: usize);
    /// The next event, or `None` when nothing arrived within about `timeout`. Must not spin.
    fn next_event(&mut self, timeout: Duration) -> Result<Option<RankEvent<Self::Payload>>>;
    /// Makes a finished item's result durable (puts its output in place).
    fn store(&mut self, item: usize, payload: Self::Payload) -> Result<(), Failure>;
    /// Throws away the result of a second copy whose item was already stored.
    fn discard(&mut self, item: usize, payload: Self::Payload);
}

/// What a rank reports.
#[derive(Debug)]
pub enum RankEvent<P> {
    Done { rank: usize, item: usize, secs: f64, outcome: Result<P, Failure> },
    Finished { rank: usize, stats: RankStats },
}

/// What the driver tells its caller, in order, for the journal and progress.
#[derive(Clone, Debug, PartialEq)]
pub enum Report {
    Assigned {
        rank: usize,
        item: usize,
    },
    /// Stored: the journal may record it as done.
    Done {
        rank: usize,
        item: usize,
        secs: f64,
    },
    /// Failed: the journal may record why. A full output disk fails its item and stops the rest.
    Failed {
        rank: usize,
        item: usize,
        secs: f64,
        reason: String,
    },
    /// Stopped by a cancel: not recorded, it will be done by the next run.
    Cancelled {
        rank: usize,
        item: usize,
    },
}

/// How a run ended.
#[derive(Debug, Default)]
pub struct RunEnd {
    /// Each rank's totals, in rank order (ranks still lingering have none yet).
    pub stats: Vec<RankStats>,
    /// Ranks still running a copy done elsewhere; they owe a result and their totals.
    pub lingering: Vec<usize>,
    /// Why the run stopped before its queue was empty, other than a cancel (a full disk).
    pub stopped: Option<String>,
}

/// What the driver should do, asked between events (the hook may also [`Scheduler::push`] items
/// that arrived and [`Scheduler::close`] the work once no more come).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Halt {
    /// Carry on.
    Go,
    /// Start nothing more; let running items finish ([`Scheduler::withdraw`]).
    Withdraw,
    /// Stop running items and start nothing more ([`Scheduler::cancel`]).
    Cancel,
}

/// How often the driver looks at the cancel flag while nothing arrives.
const POLL: Duration = Duration::from_millis(20);
/// The same while the work is open: an item that arrives for an idle rank waits at most this.
const OPEN_POLL: Duration = Duration::from_millis(2);

/// Runs the scheduler until every item is finished and every rank that is not lingering has
/// confirmed its end. `halt(sched)` is called between events, where it may push items that
/// arrived meanwhile and close the work; once it says [`Halt::Cancel`], the
/// queue is dropped and running items are asked to stop; [`Halt::Withdraw`] drops the queue only. A full output disk stops the run the same way,
/// rather than failing every remaining item one by one. `report` sees every assignment and
/// outcome; an error from it (the journal cannot be written) ends the run.
pub fn run<T: Transport>(
    sched: &mut Scheduler,
    transport: &mut T,
    halt: &mut dyn FnMut(&mut Scheduler) -> Halt,
    report: &mut dyn FnMut(Report) -> Result<()>,
) -> Result<RunEnd> {
    let clock = Instant::now();
    let now = || clock.elapsed().as_secs_f64();
    let mut end = RunEnd::default();
    loop {
        if !sched.is_cancelled() {
            match halt(sched) {
                Halt::Go => {}
                Halt::Withdraw => sched.withdraw(),
                Halt::Cancel => {
                    for (rank, item) in sched.cancel() {
                        transport.cancel(rank, item);
                    }
                }
            }
        }
        dispatch(sched, transport, report, now())?;
        if sched.is_over() {
            break;
        }
        match transport.next_event(if sched.is_open() { OPEN_POLL } else { POLL })? {
            None => {}
            Some(RankEvent::Finished { rank, stats: s }) => {
                sched.rank_finished(rank);
                end.stats.push(s);
            }
            Some(RankEvent::Done { rank, item, secs, outcome }) => {
                let completion = sched.completed(rank, item, now());
                for (r, i) in completion.stop {
                    transport.cancel(r, i);
                }
                if !completion.keep {
                    if let Ok(p) = outcome {
                        transport.discard(item, p);
                    }
                    continue;
                }
                // Hand out the next item before storing this one: the rank never waits on our disk.
                dispatch(sched, transport, report, now())?;
                let stored = outcome.and_then(|p| transport.store(item, p));
                // Once stopped for a full disk, another item's full-disk failure (one a rank was
                // already writing, or held next) is the stop's doing: left for the next run.
                let after_stop = end.stopped.is_some();
                if let Err(Failure::DiskFull(reason)) = &stored {
                    if end.stopped.is_none() && !sched.is_cancelled() {
                        end.stopped = Some(reason.clone());
                        for (r, i) in sched.cancel() {
                            transport.cancel(r, i);
                        }
                    }
                }
                report(match stored {
                    Ok(()) => Report::Done { rank, item, secs },
                    Err(Failure::Cancelled) => Report::Cancelled { rank, item },
                    Err(Failure::DiskFull(_)) if after_stop => Report::Cancelled { rank, item },
                    Err(f) => Report::Failed { rank, item, secs, reason: f.to_string() },
                })?;
            }
        }
    }
    end.stats.sort_by_key(|s| s.rank);
    end.lingering = sched.lingering();
    Ok(end)
}

/// Carries out every action the scheduler has now.
fn dispatch<T: Transport>(
    sched: &mut Scheduler,
    transport: &mut T,
    report: &mut dyn FnMut(Report) -> Result<()>,
    now: f64,
) -> Result<()> {
    while let Some(action) = sched.next_action(now) {
        match action {
            Action::Assign { rank, item } => match transport.assign(rank, item) {
                Ok(()) => report(Report::Assigned { rank, item })?,
                Err(reason) => {
                    if sched.completed(rank, item, now).keep {
                        report(Report::Failed { rank, item, secs: 0.0, reason })?;
                    }
                }
            },
            Action::Finish { rank } => transport.finish(rank),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
