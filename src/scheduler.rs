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

    /// Drops the queue; returns every running copy, as `(rank, item)`, to be stopped.
    pub fn cancel(&mut self) -> Vec<(usize, usize)> {
        self.cancelled = true;
        self.queue.clear();
        self.copies(|_| true)
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled
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
        for rank in self.order() {
            if !self.free(rank) {
                continue;
            }
            if let Some(item) = self.queue.pop_front() {
                self.running[rank].push((item, now));
                self.open.insert(item);
                return Some(Action::Assign { rank, item });
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
    /// Tells `rank` that no more work comes; it answers with [`Event::Finished`].
    fn finish(&mut self, rank: usize);
    /// Asks `rank` to stop `item` at its next chunk; it answers with `Failure::Cancelled` (or the
    /// result, if it was quicker).
    fn cancel(&mut self, rank: usize, item: usize);
    /// The next event, or `None` when nothing arrived within about `timeout`. Must not spin.
    fn next_event(&mut self, timeout: Duration) -> Result<Option<Event<Self::Payload>>>;
    /// Makes a finished item's result durable (puts its output in place).
    fn store(&mut self, item: usize, payload: Self::Payload) -> Result<(), Failure>;
    /// Throws away the result of a second copy whose item was already stored.
    fn discard(&mut self, item: usize, payload: Self::Payload);
}

/// What a rank reports.
#[derive(Debug)]
pub enum Event<P> {
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

/// How often the driver looks at the cancel flag while nothing arrives.
const POLL: Duration = Duration::from_millis(20);

/// Runs the scheduler until every item is finished and every rank that is not lingering has
/// confirmed its end. `cancelled()` is checked between events; once it says yes, the queue is
/// dropped and running items are asked to stop. A full output disk stops the run the same way,
/// rather than failing every remaining item one by one. `report` sees every assignment and
/// outcome; an error from it (the journal cannot be written) ends the run.
pub fn run<T: Transport>(
    sched: &mut Scheduler,
    transport: &mut T,
    cancelled: &mut dyn FnMut() -> bool,
    report: &mut dyn FnMut(Report) -> Result<()>,
) -> Result<RunEnd> {
    let clock = Instant::now();
    let now = || clock.elapsed().as_secs_f64();
    let mut end = RunEnd::default();
    loop {
        if !sched.is_cancelled() && cancelled() {
            for (rank, item) in sched.cancel() {
                transport.cancel(rank, item);
            }
        }
        dispatch(sched, transport, report, now())?;
        if sched.is_over() {
            break;
        }
        match transport.next_event(POLL)? {
            None => {}
            Some(Event::Finished { rank, stats: s }) => {
                sched.rank_finished(rank);
                end.stats.push(s);
            }
            Some(Event::Done { rank, item, secs, outcome }) => {
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
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A transport whose ranks finish items in the order they were assigned, one event per call.
    /// Items listed in `unreadable` fail at assignment, those in `failing` fail on the rank.
    #[derive(Default)]
    struct Fake {
        events: VecDeque<Event<()>>,
        running: Vec<(usize, usize)>,
        unreadable: Vec<usize>,
        failing: Vec<usize>,
        cancels: Vec<(usize, usize)>,
        /// Assignments that stay running until cancelled (a long item).
        stuck: Vec<usize>,
        /// A rank whose items never finish until cancelled (a stalled node).
        stalled: Option<usize>,
        stored: Vec<usize>,
        discarded: Vec<usize>,
        /// The output disk is full once this many items are stored.
        full_from: Option<usize>,
        log: Vec<String>,
    }

    impl Transport for Fake {
        type Payload = ();
        fn assign(&mut self, rank: usize, item: usize) -> Result<(), String> {
            self.log.push(format!("assign {item} to {rank}"));
            if self.unreadable.contains(&item) {
                return Err(format!("item {item}: cannot read"));
            }
            self.running.push((rank, item));
            Ok(())
        }
        fn finish(&mut self, rank: usize) {
            self.log.push(format!("finish {rank}"));
            self.events.push_back(Event::Finished { rank, stats: RankStats { rank, ..Default::default() } });
        }
        fn cancel(&mut self, rank: usize, item: usize) {
            self.cancels.push((rank, item));
            self.running.retain(|&r| r != (rank, item));
            self.events.push_back(Event::Done { rank, item, secs: 0.0, outcome: Err(Failure::Cancelled) });
        }
        fn next_event(&mut self, _: Duration) -> Result<Option<Event<()>>> {
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            let moving = |&(r, i): &(usize, usize)| !self.stuck.contains(&i) && self.stalled != Some(r);
            let Some(pos) = self.running.iter().position(moving) else { return Ok(None) };
            let (rank, item) = self.running.remove(pos);
            let outcome = if self.failing.contains(&item) {
                Err(Failure::Failed(format!("item {item}: corrupt")))
            } else {
                Ok(())
            };
            Ok(Some(Event::Done { rank, item, secs: 1.0, outcome }))
        }
        fn store(&mut self, item: usize, _: ()) -> Result<(), Failure> {
            if self.full_from.is_some_and(|n| self.stored.len() >= n) {
                return Err(Failure::DiskFull(format!("out/{item}.png: no space left on device")));
            }
            self.stored.push(item);
            Ok(())
        }
        fn discard(&mut self, item: usize, _: ()) {
            self.discarded.push(item);
        }
    }

    fn run_all(sched: &mut Scheduler, fake: &mut Fake, cancel_after: Option<usize>) -> Vec<Report> {
        let mut reports = Vec::new();
        let mut polls = 0;
        let mut cancelled = || {
            polls += 1;
            cancel_after.is_some_and(|n| polls > n)
        };
        run(sched, fake, &mut cancelled, &mut |r| {
            reports.push(r);
            Ok(())
        })
        .unwrap();
        reports
    }

    fn scheduler(slots: Vec<usize>, items: std::ops::Range<usize>) -> Scheduler {
        let mut s = Scheduler::new(slots).with_stragglers(None);
        items.for_each(|i| s.push(i));
        s.close();
        s
    }

    fn done_items(reports: &[Report]) -> Vec<usize> {
        let mut v: Vec<usize> = reports
            .iter()
            .filter_map(|r| match r {
                Report::Done { item, .. } => Some(*item),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn every_item_is_done_once_and_every_rank_is_finished() {
        let mut s = scheduler(vec![2, 1, 1], 0..10);
        let mut fake = Fake::default();
        let reports = run_all(&mut s, &mut fake, None);
        assert_eq!(done_items(&reports), (0..10).collect::<Vec<_>>());
        let mut stored = fake.stored.clone();
        stored.sort();
        assert_eq!(stored, (0..10).collect::<Vec<_>>());
        assert_eq!(fake.log.iter().filter(|l| l.starts_with("finish")).count(), 3);
        assert!(s.is_over());
    }

    #[test]
    fn workers_are_served_first_and_a_rank_never_holds_more_than_its_slots() {
        let mut s = scheduler(vec![2, 1, 1], 0..10);
        assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 1, item: 0 }));
        assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 2, item: 1 }));
        assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 0, item: 2 }));
        assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 0, item: 3 }));
        assert_eq!(s.next_action(0.0), None, "every slot is taken");
        s.completed(2, 1, 1.0);
        assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 2, item: 4 }));
    }

    #[test]
    fn a_coordinator_only_rank_zero_gets_no_item() {
        let mut s = scheduler(vec![0, 1], 0..3);
        let reports = run_all(&mut s, &mut Fake::default(), None);
        assert!(reports.iter().all(|r| !matches!(r, Report::Assigned { rank: 0, .. })));
        assert_eq!(done_items(&reports), vec![0, 1, 2]);
    }

    #[test]
    fn resume_skips_what_the_journal_has_by_never_queueing_it() {
        // The caller pushes only what is not done; finished ranks still get Finish.
        let mut s = Scheduler::new(vec![1, 1]).with_stragglers(None);
        s.push(7);
        s.close();
        let mut fake = Fake::default();
        let reports = run_all(&mut s, &mut fake, None);
        assert_eq!(done_items(&reports), vec![7]);
        let mut empty = scheduler(vec![1, 1], 0..0);
        let mut fake = Fake::default();
        assert!(run_all(&mut empty, &mut fake, None).is_empty());
        assert_eq!(fake.log, ["finish 1", "finish 0"]);
    }

    #[test]
    fn an_unreadable_input_fails_at_assignment_and_its_rank_takes_the_next() {
        let mut s = scheduler(vec![0, 1], 0..3);
        let mut fake = Fake { unreadable: vec![1], ..Default::default() };
        let reports = run_all(&mut s, &mut fake, None);
        assert!(reports.contains(&Report::Failed {
            rank: 1,
            item: 1,
            secs: 0.0,
            reason: "item 1: cannot read".into()
        }));
        assert_eq!(done_items(&reports), vec![0, 2]);
        assert!(!fake.stored.contains(&1));
    }

    #[test]
    fn a_failed_item_is_reported_and_not_stored_and_the_rest_complete() {
        let mut s = scheduler(vec![1, 1, 1], 0..6);
        let mut fake = Fake { failing: vec![4], ..Default::default() };
        let reports = run_all(&mut s, &mut fake, None);
        assert!(reports
            .iter()
            .any(|r| matches!(r, Report::Failed { item: 4, reason, .. } if reason.contains("corrupt"))));
        assert_eq!(done_items(&reports), vec![0, 1, 2, 3, 5]);
        assert!(!fake.stored.contains(&4));
    }

    #[test]
    fn cancel_drops_the_queue_stops_running_items_and_records_none_of_them() {
        let mut s = scheduler(vec![1, 1, 1], 0..100);
        // Items 0 and 1 never finish by themselves: only a cancel ends them.
        let mut fake = Fake { stuck: (0..100).collect(), ..Default::default() };
        let reports = run_all(&mut s, &mut fake, Some(3));
        let mut cancelled: Vec<_> = fake.cancels.iter().map(|&(_, i)| i).collect();
        cancelled.sort();
        assert_eq!(cancelled, vec![0, 1, 2]);
        assert!(reports.iter().filter(|r| matches!(r, Report::Cancelled { .. })).count() == 3);
        assert!(done_items(&reports).is_empty());
        assert!(fake.stored.is_empty(), "nothing cancelled is stored");
        assert!(s.is_over(), "every rank is finished after a cancel");
        assert_eq!(s.queued(), 0);
    }

    #[test]
    fn items_pushed_while_running_are_done_and_ranks_wait_until_the_source_closes() {
        let mut s = Scheduler::new(vec![1, 1]).with_stragglers(None);
        s.push(0);
        assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 1, item: 0 }));
        assert_eq!(s.next_action(0.0), None, "rank 0 waits: the source is open");
        s.push(1);
        assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 0, item: 1 }));
        s.completed(1, 0, 1.0);
        assert_eq!(s.next_action(0.0), None, "still open: no Finish yet");
        s.close();
        assert_eq!(s.next_action(0.0), Some(Action::Finish { rank: 1 }));
        assert_eq!(s.next_action(0.0), None, "rank 0 still runs item 1");
        s.completed(0, 1, 1.0);
        assert_eq!(s.next_action(0.0), Some(Action::Finish { rank: 0 }));
    }

    fn policy() -> Option<Stragglers> {
        Some(Stragglers { factor: 3.0, floor_secs: 2.0 })
    }

    #[test]
    fn a_straggler_copy_goes_only_to_a_rank_with_nothing_running() {
        // Two slots per worker (indices sent ahead): rank 2 still runs item 3, so the copy of
        // the straggler (item 2, on rank 1) waits until rank 2 is idle.
        let mut s = Scheduler::new(vec![0, 2, 2]).with_stragglers(policy());
        s.push(0);
        s.push(1);
        s.push(2);
        s.push(3);
        s.close();
        assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 1, item: 0 }));
        assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 1, item: 1 }));
        assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 2, item: 2 }));
        assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 2, item: 3 }));
        s.completed(1, 0, 1.0);
        s.completed(1, 1, 2.0);
        s.completed(2, 3, 2.0);
        // Item 2 has run 10 s against a median of 2 s; rank 1 is idle and gets the copy.
        assert_eq!(s.next_action(10.0), Some(Action::Assign { rank: 1, item: 2 }));
        let mut busy = Scheduler::new(vec![0, 2, 2]).with_stragglers(policy());
        for i in 0..3 {
            busy.push(i);
        }
        busy.close();
        for _ in 0..3 {
            busy.next_action(0.0);
        }
        // Rank 1 holds items 0 and 1, rank 2 item 2; rank 1 finishes item 0 but still runs 1.
        busy.completed(1, 0, 1.0);
        assert_eq!(busy.next_action(10.0), None, "no copy behind a running item");
    }

    #[test]
    fn a_straggler_gets_a_second_copy_on_an_idle_rank_and_only_the_first_result_counts() {
        let mut s = Scheduler::new(vec![0, 1, 1, 1]).with_stragglers(policy());
        (0..3).for_each(|i| s.push(i));
        s.close();
        let assigned: Vec<_> = std::iter::from_fn(|| s.next_action(0.0)).collect();
        assert_eq!(assigned.len(), 3);
        // Items 1 and 2 take a second each; item 0 on rank 1 hangs.
        assert!(s.completed(2, 1, 1.0).keep);
        assert!(s.completed(3, 2, 1.0).keep);
        assert_eq!(s.next_action(2.5), None, "not yet a straggler: 3 × the median is 3 s");
        assert_eq!(s.next_action(3.5), Some(Action::Assign { rank: 2, item: 0 }));
        assert_eq!(s.next_action(3.5), None, "one second copy per item");
        let first = s.completed(2, 0, 4.0);
        assert_eq!(first, Completion { keep: true, stop: vec![(1, 0)] }, "the stalled copy is stopped");
        assert_eq!(s.next_action(4.0), Some(Action::Finish { rank: 2 }));
        assert_eq!(s.next_action(4.0), Some(Action::Finish { rank: 3 }));
        assert_eq!(s.next_action(4.0), None, "the stalled rank is not told to finish: it must answer first");
        assert!(!s.is_over(), "ranks 2 and 3 have not confirmed yet");
        s.rank_finished(2);
        s.rank_finished(3);
        assert!(s.is_over(), "the stalled rank does not hold up the end");
        assert_eq!(s.lingering(), vec![1]);
        assert!(!s.completed(1, 0, 9.0).keep, "the late copy is discarded");
    }

    #[test]
    fn short_batches_never_double_below_the_floor() {
        let mut s = Scheduler::new(vec![0, 1, 1]).with_stragglers(policy());
        (0..2).for_each(|i| s.push(i));
        s.close();
        while s.next_action(0.0).is_some() {}
        s.completed(2, 1, 0.1);
        assert_eq!(s.next_action(1.9), None, "0.3 s is 3 × the median, but the floor is 2 s");
        assert_eq!(s.next_action(2.1), Some(Action::Assign { rank: 2, item: 0 }));
    }

    /// A transport where rank 1 stalls on its first item for ever.
    #[test]
    fn the_driver_ends_a_batch_whose_rank_stalled_and_stores_each_item_once() {
        let mut s = Scheduler::new(vec![0, 1, 1]).with_stragglers(Some(Stragglers { factor: 2.0, floor_secs: 0.0 }));
        (0..6).for_each(|i| s.push(i));
        s.close();
        let mut fake = Fake { stalled: Some(1), ..Default::default() };
        // The fake answers at once, so "time" is what the driver's clock says: item 0 becomes a
        // straggler as soon as it has run twice the (tiny) median.
        let reports = run_all(&mut s, &mut fake, None);
        assert_eq!(done_items(&reports), (0..6).collect::<Vec<_>>());
        let mut stored = fake.stored.clone();
        stored.sort();
        assert_eq!(stored, (0..6).collect::<Vec<_>>(), "each item stored once");
        assert!(fake.cancels.contains(&(1, 0)), "the stalled copy was asked to stop");
    }

    #[test]
    fn a_full_disk_fails_its_item_and_stops_the_rest_instead_of_failing_each() {
        // Two items per worker: when the disk fills, each holds one more that fails the same way.
        let mut s = scheduler(vec![0, 2, 2], 0..20);
        let mut fake = Fake { full_from: Some(3), ..Default::default() };
        let mut end = RunEnd::default();
        let mut reports = Vec::new();
        run(&mut s, &mut fake, &mut || false, &mut |r| {
            reports.push(r);
            Ok(())
        })
        .map(|e| end = e)
        .unwrap();
        let failed: Vec<_> = reports.iter().filter(|r| matches!(r, Report::Failed { .. })).collect();
        assert_eq!(failed.len(), 1, "the first full-disk failure is recorded, later ones left for the next run");
        assert!(matches!(failed[0], Report::Failed { reason, .. } if reason.contains("no space left")));
        assert_eq!(fake.stored.len(), 3);
        assert!(end.stopped.as_deref().is_some_and(|r| r.contains("no space left")));
        assert!(done_items(&reports).len() == 3, "what was stored is done, the rest is left for the next run");
    }
}
