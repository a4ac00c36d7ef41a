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
use std::collections::VecDeque;
use std::time::Duration;

/// What the driver must do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start `item` on `rank`.
    Assign { rank: usize, item: usize },
    /// `rank` gets no more work: it may hand in its totals and wait for the next job.
    Finish { rank: usize },
}

/// The queue and the ranks' slots.
#[derive(Debug)]
pub struct Scheduler {
    /// Items a rank may hold at once (0: it takes no work, e.g. a coordinator-only rank 0).
    slots: Vec<usize>,
    running: Vec<Vec<usize>>,
    queue: VecDeque<usize>,
    closed: bool,
    cancelled: bool,
    told_finish: Vec<bool>,
    finished: Vec<bool>,
}

impl Scheduler {
    /// A scheduler for ranks with `slots[rank]` items in flight each. Ranks without a slot are
    /// finished from the start.
    pub fn new(slots: Vec<usize>) -> Scheduler {
        let idle: Vec<bool> = slots.iter().map(|&s| s == 0).collect();
        Scheduler {
            running: vec![Vec::new(); slots.len()],
            slots,
            queue: VecDeque::new(),
            closed: false,
            cancelled: false,
            told_finish: idle.clone(),
            finished: idle,
        }
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

    /// Drops the queue; returns the items still running, as `(rank, item)`, to be stopped.
    pub fn cancel(&mut self) -> Vec<(usize, usize)> {
        self.cancelled = true;
        self.queue.clear();
        self.running.iter().enumerate().flat_map(|(r, items)| items.iter().map(move |&i| (r, i))).collect()
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }

    /// Items not started yet.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The next thing to do, or `None` until a result comes in. Workers are served before rank 0,
    /// whose lane shares its cores with coordinating.
    pub fn next_action(&mut self) -> Option<Action> {
        let n = self.slots.len();
        let order = (1..n).chain(std::iter::once(0).filter(|_| n > 0));
        for rank in order.clone() {
            if self.told_finish[rank] || self.running[rank].len() >= self.slots[rank] {
                continue;
            }
            let Some(item) = self.queue.pop_front() else { break };
            self.running[rank].push(item);
            return Some(Action::Assign { rank, item });
        }
        if self.queue.is_empty() && (self.closed || self.cancelled) {
            for rank in order {
                if !self.told_finish[rank] && self.running[rank].is_empty() {
                    self.told_finish[rank] = true;
                    return Some(Action::Finish { rank });
                }
            }
        }
        None
    }

    /// `rank` is done with `item` (whatever the outcome); its slot is free again.
    pub fn completed(&mut self, rank: usize, item: usize) {
        self.running[rank].retain(|&i| i != item);
    }

    /// `rank` handed in its totals after [`Action::Finish`].
    pub fn rank_finished(&mut self, rank: usize) {
        self.finished[rank] = true;
    }

    /// Every rank was finished and confirmed it.
    pub fn is_over(&self) -> bool {
        self.finished.iter().all(|&f| f)
    }
}

/// How the driver reaches the ranks.
pub trait Transport {
    /// What a finished item hands back before it is stored (encoded bytes through rank 0, or
    /// nothing when the rank wrote its output itself).
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
    /// Makes a finished item's result durable (writes its output).
    fn store(&mut self, item: usize, payload: Self::Payload) -> Result<(), String>;
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
    /// Failed for good: the journal may record why.
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

/// How often the driver looks at the cancel flag while nothing arrives.
const POLL: Duration = Duration::from_millis(20);

/// Runs the scheduler until every rank is finished; returns each rank's totals in rank order.
/// `cancelled()` is checked between events; once it says yes, the queue is dropped and running
/// items are asked to stop. `report` sees every assignment and outcome; an error from it (the
/// journal cannot be written) ends the run.
pub fn run<T: Transport>(
    sched: &mut Scheduler,
    transport: &mut T,
    cancelled: &mut dyn FnMut() -> bool,
    report: &mut dyn FnMut(Report) -> Result<()>,
) -> Result<Vec<RankStats>> {
    let mut stats = Vec::new();
    loop {
        if !sched.is_cancelled() && cancelled() {
            for (rank, item) in sched.cancel() {
                transport.cancel(rank, item);
            }
        }
        dispatch(sched, transport, report)?;
        if sched.is_over() {
            break;
        }
        match transport.next_event(POLL)? {
            None => {}
            Some(Event::Finished { rank, stats: s }) => {
                sched.rank_finished(rank);
                stats.push(s);
            }
            Some(Event::Done { rank, item, secs, outcome }) => {
                sched.completed(rank, item);
                // Hand out the next item before storing this one: the rank never waits on our disk.
                dispatch(sched, transport, report)?;
                let stored = outcome.and_then(|p| transport.store(item, p).map_err(Failure::Failed));
                report(match stored {
                    Ok(()) => Report::Done { rank, item, secs },
                    Err(Failure::Cancelled) => Report::Cancelled { rank, item },
                    Err(f) => Report::Failed { rank, item, secs, reason: f.to_string() },
                })?;
            }
        }
    }
    stats.sort_by_key(|s| s.rank);
    Ok(stats)
}

/// Carries out every action the scheduler has now.
fn dispatch<T: Transport>(
    sched: &mut Scheduler,
    transport: &mut T,
    report: &mut dyn FnMut(Report) -> Result<()>,
) -> Result<()> {
    while let Some(action) = sched.next_action() {
        match action {
            Action::Assign { rank, item } => match transport.assign(rank, item) {
                Ok(()) => report(Report::Assigned { rank, item })?,
                Err(reason) => {
                    sched.completed(rank, item);
                    report(Report::Failed { rank, item, secs: 0.0, reason })?;
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
        stored: Vec<usize>,
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
            let Some(pos) = self.running.iter().position(|(_, i)| !self.stuck.contains(i)) else { return Ok(None) };
            let (rank, item) = self.running.remove(pos);
            let outcome = if self.failing.contains(&item) {
                Err(Failure::Failed(format!("item {item}: corrupt")))
            } else {
                Ok(())
            };
            Ok(Some(Event::Done { rank, item, secs: 1.0, outcome }))
        }
        fn store(&mut self, item: usize, _: ()) -> Result<(), String> {
            self.stored.push(item);
            Ok(())
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
        let mut s = Scheduler::new(slots);
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
        assert_eq!(s.next_action(), Some(Action::Assign { rank: 1, item: 0 }));
        assert_eq!(s.next_action(), Some(Action::Assign { rank: 2, item: 1 }));
        assert_eq!(s.next_action(), Some(Action::Assign { rank: 0, item: 2 }));
        assert_eq!(s.next_action(), Some(Action::Assign { rank: 0, item: 3 }));
        assert_eq!(s.next_action(), None, "every slot is taken");
        s.completed(2, 1);
        assert_eq!(s.next_action(), Some(Action::Assign { rank: 2, item: 4 }));
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
        let mut s = Scheduler::new(vec![1, 1]);
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
        let mut s = Scheduler::new(vec![1, 1]);
        s.push(0);
        assert_eq!(s.next_action(), Some(Action::Assign { rank: 1, item: 0 }));
        assert_eq!(s.next_action(), None, "rank 0 waits: the source is open");
        s.push(1);
        assert_eq!(s.next_action(), Some(Action::Assign { rank: 0, item: 1 }));
        s.completed(1, 0);
        assert_eq!(s.next_action(), None, "still open: no Finish yet");
        s.close();
        assert_eq!(s.next_action(), Some(Action::Finish { rank: 1 }));
        assert_eq!(s.next_action(), None, "rank 0 still runs item 1");
        s.completed(0, 1);
        assert_eq!(s.next_action(), Some(Action::Finish { rank: 0 }));
    }
}
