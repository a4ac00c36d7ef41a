//! The scheduler driven through a Vec-backed fake transport: every rule of the dynamic
//! assignment, without MPI.

use super::*;
use std::collections::VecDeque;

/// A transport whose ranks finish items in the order they were assigned, one event per call.
/// Items listed in `unreadable` fail at assignment, those in `failing` fail on the rank.
#[derive(Default)]
struct Fake {
    events: VecDeque<RankEvent<()>>,
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
        self.events.push_back(RankEvent::Finished { rank, stats: RankStats { rank, ..Default::default() } });
    }
    fn cancel(&mut self, rank: usize, item: usize) {
        self.cancels.push((rank, item));
        self.running.retain(|&r| r != (rank, item));
        self.events.push_back(RankEvent::Done { rank, item, secs: 0.0, outcome: Err(Failure::Cancelled) });
    }
    fn next_event(&mut self, _: Duration) -> Result<Option<RankEvent<()>>> {
        if let Some(e) = self.events.pop_front() {
            return Ok(Some(e));
        }
        let moving = |&(r, i): &(usize, usize)| !self.stuck.contains(&i) && self.stalled != Some(r);
        let Some(pos) = self.running.iter().position(moving) else { return Ok(None) };
        let (rank, item) = self.running.remove(pos);
        let outcome =
            if self.failing.contains(&item) { Err(Failure::Failed(format!("item {item}: corrupt"))) } else { Ok(()) };
        Ok(Some(RankEvent::Done { rank, item, secs: 1.0, outcome }))
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
    run_halting(sched, fake, cancel_after.map(|n| (n, Halt::Cancel)))
}

/// Runs until the end, answering `halt` from poll `n` on when given.
fn run_halting(sched: &mut Scheduler, fake: &mut Fake, halt_after: Option<(usize, Halt)>) -> Vec<Report> {
    let mut reports = Vec::new();
    let mut polls = 0;
    let mut halt = |_: &mut Scheduler| {
        polls += 1;
        match halt_after {
            Some((n, h)) if polls > n => h,
            _ => Halt::Go,
        }
    };
    run(sched, fake, &mut halt, &mut |r| {
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
    assert!(reports.contains(&Report::Failed { rank: 1, item: 1, secs: 0.0, reason: "item 1: cannot read".into() }));
    assert_eq!(done_items(&reports), vec![0, 2]);
    assert!(!fake.stored.contains(&1));
}

#[test]
fn a_failed_item_is_reported_and_not_stored_and_the_rest_complete() {
    let mut s = scheduler(vec![1, 1, 1], 0..6);
    let mut fake = Fake { failing: vec![4], ..Default::default() };
    let reports = run_all(&mut s, &mut fake, None);
    assert!(reports.iter().any(|r| matches!(r, Report::Failed { item: 4, reason, .. } if reason.contains("corrupt"))));
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
    // Two slots per worker (indices sent ahead), filled one per rank first: rank 2 still runs
    // item 3, so the copy of the straggler (item 2, on rank 1) waits until rank 2 is idle.
    let mut s = Scheduler::new(vec![0, 2, 2]).with_stragglers(policy());
    s.push(0);
    s.push(1);
    s.push(2);
    s.push(3);
    s.close();
    assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 1, item: 0 }));
    assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 2, item: 1 }));
    assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 1, item: 2 }));
    assert_eq!(s.next_action(0.0), Some(Action::Assign { rank: 2, item: 3 }));
    s.completed(1, 0, 1.0);
    s.completed(2, 1, 2.0);
    assert_eq!(s.next_action(10.0), None, "rank 2 still runs item 3: no copy behind it");
    s.completed(2, 3, 2.0);
    // Item 2 has run 10 s against a median of 2 s; rank 2 is idle and gets the copy.
    assert_eq!(s.next_action(10.0), Some(Action::Assign { rank: 2, item: 2 }));
    let mut busy = Scheduler::new(vec![0, 2, 2]).with_stragglers(policy());
    for i in 0..3 {
        busy.push(i);
    }
    busy.close();
    for _ in 0..3 {
        busy.next_action(0.0);
    }
    // Rank 1 holds items 0 and 2, rank 2 item 1; rank 1 finishes item 0 but still runs 2.
    busy.completed(1, 0, 1.0);
    assert_eq!(busy.next_action(10.0), None, "no copy behind a running item");
}

#[test]
fn a_batch_smaller_than_the_slots_is_spread_over_the_ranks() {
    let mut s = Scheduler::new(vec![2, 2, 2]).with_stragglers(None);
    s.push(0);
    s.push(1);
    s.close();
    let assigned: Vec<_> = std::iter::from_fn(|| s.next_action(0.0)).collect();
    let spread =
        vec![Action::Assign { rank: 1, item: 0 }, Action::Assign { rank: 2, item: 1 }, Action::Finish { rank: 0 }];
    assert_eq!(assigned, spread, "one item each, and rank 0 has nothing left to take");
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
    run(&mut s, &mut fake, &mut |_: &mut Scheduler| Halt::Go, &mut |r| {
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

#[test]
fn a_withdrawn_run_lets_running_items_finish_and_starts_no_more() {
    // Three workers with one slot each: three items are running when the job yields.
    let mut s = scheduler(vec![0, 1, 1, 1], 0..10);
    let mut fake = Fake::default();
    // The first poll lets three items start, one finishes and its rank takes a fourth; then
    // the job yields.
    let reports = run_halting(&mut s, &mut fake, Some((1, Halt::Withdraw)));
    let done: Vec<usize> = reports
        .iter()
        .filter_map(|r| match r {
            Report::Done { item, .. } => Some(*item),
            _ => None,
        })
        .collect();
    assert_eq!(done, vec![0, 1, 2, 3], "the items already on the ranks finish and are kept");
    assert!(fake.cancels.is_empty(), "nothing running is stopped");
    assert_eq!(fake.stored, vec![0, 1, 2, 3]);
    assert!(s.is_over());
}

#[test]
fn open_work_takes_items_that_arrive_while_it_runs_and_ends_only_once_closed() {
    // Two workers, one item to start with; three more arrive at polls 3, 4 and 6, then the
    // source closes at poll 9.
    let mut s = Scheduler::new(vec![0, 1, 1]).with_stragglers(None);
    s.push(0);
    let mut fake = Fake::default();
    let mut polls = 0;
    let mut halt = |sched: &mut Scheduler| {
        polls += 1;
        match polls {
            3 | 4 | 6 => sched.push(polls),
            9 => sched.close(),
            _ => {}
        }
        assert!(polls < 1000, "open work never ended");
        Halt::Go
    };
    let mut reports = Vec::new();
    run(&mut s, &mut fake, &mut halt, &mut |r| {
        reports.push(r);
        Ok(())
    })
    .unwrap();
    // Item 0 is done by the second poll: the ranks idle, not finished, until the later arrivals.
    assert_eq!(done_items(&reports), vec![0, 3, 4, 6], "every arrival was run");
    let finishes = fake.log.iter().filter(|l| l.starts_with("finish")).count();
    assert_eq!(finishes, 2, "each worker told to finish once, after the close");
    let first_finish = fake.log.iter().position(|l| l.starts_with("finish")).unwrap();
    let last_assign = fake.log.iter().rposition(|l| l.starts_with("assign")).unwrap();
    assert!(first_finish > last_assign, "no rank finished while items could still come: {:?}", fake.log);
    assert!(s.is_over());
}
