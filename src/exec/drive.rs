//! Driving one strip through its whole chain on a rank: the ops on a compute thread, the
//! global steps through a [`GlobalExchange`] (MPI in the master and worker layers), and the
//! calling thread (the one that makes MPI calls) free to watch for a cancel and pass rows on.

use super::strip::{Step, StripRun};
use crate::cancel::{failure_of, CANCEL_POLL};
use crate::chain::OpChain;
use crate::global::{HysteresisReply, HysteresisRequest};
use crate::image::Image;
use crate::model::Failure;
use crate::ops::GlobalNeed;
use anyhow::Result;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How a strip reaches the other strips at a global step. `None` in means this strip failed;
/// `None` out means some strip failed and the job is abandoned. Every strip makes every call, in
/// the chain's order, even after a failure, so global steps never hang.
pub trait GlobalExchange {
    fn histogram(&mut self, local: Option<&[u64; 256]>) -> Result<Option<[u64; 256]>>;
    fn hysteresis(&mut self, local: Option<HysteresisRequest>) -> Result<Option<HysteresisReply>>;
    /// Asked every few milliseconds while this strip computes: true once the job is cancelled.
    fn cancelled(&mut self) -> bool;
    /// Told every few milliseconds while this strip computes: the share of its work done (0 to 1).
    fn progress(&mut self, _fraction: f64) {}
    /// Asked in a loop while this strip computes: passes on input rows that have arrived (see
    /// [`StripRun::with_feed`]) and says whether more are expected.
    fn receive_rows(&mut self) -> RowsIn {
        RowsIn::AllIn
    }
    /// Called once the strip's first computation ended (however it ended): receives the rows
    /// still on their way and drops them, so the sender is never left waiting on this strip.
    fn drain_rows(&mut self) {}
}

/// What [`GlobalExchange::receive_rows`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowsIn {
    /// Passed some on: ask again at once.
    Moved,
    /// None arrived yet: ask again shortly.
    Waiting,
    /// Every row is in (or none were expected).
    AllIn,
}

/// How long a strip's MPI thread sleeps between looks for rows while they stream in: short
/// against a message's transfer (4 MB), so the sender seldom waits on it.
pub const ROW_POLL: Duration = Duration::from_micros(500);

/// Lets a strip's progress through at most five times a second, and only when it changed.
#[derive(Default)]
pub struct ProgressThrottle {
    last: Option<(Instant, f64)>,
}

impl ProgressThrottle {
    const EVERY: Duration = Duration::from_millis(200);

    /// Whether `fraction` should be reported now.
    pub fn ready(&mut self, fraction: f64) -> bool {
        if self.last.is_some_and(|(at, last)| at.elapsed() < Self::EVERY || last == fraction) {
            return false;
        }
        self.last = Some((Instant::now(), fraction));
        true
    }
}

/// Seconds spent computing and in global steps.
#[derive(Clone, Copy, Debug, Default)]
pub struct DriveTimes {
    pub compute_secs: f64,
    pub global_secs: f64,
}

/// Drives one strip through the whole chain, doing each global step through `exchange`.
/// `chain` is the job's chain: a strip whose run could not even be built still attends every step.
///
/// The ops run on a thread of their own while this thread (the one that makes MPI calls) waits
/// without spinning and asks `exchange.cancelled()` every few milliseconds. On a cancel the strip
/// is told to stop at its next chunk of rows and this thread goes on at once, taking part in the
/// remaining global steps as a failed strip, so every rank is back waiting within milliseconds.
pub fn drive(
    chain: &OpChain,
    run: Result<StripRun>,
    exchange: &mut impl GlobalExchange,
    times: &mut DriveTimes,
) -> std::result::Result<Image, Failure> {
    let alone = run.as_ref().is_ok_and(|r| r.alone);
    let mut state = run.map_err(|e| failure_of(&e));
    // A strip alone does its global steps itself: nothing to exchange.
    let steps: Vec<GlobalNeed> = if alone { Vec::new() } else { chain.global_steps().collect() };
    for need in steps {
        let mut step = None;
        if let Ok(r) = std::mem::replace(&mut state, Err(Failure::Abandoned)) {
            let started = Instant::now();
            state = advance_in_background(r, exchange).map(|(r, s)| {
                step = Some(s);
                r
            });
            times.compute_secs += started.elapsed().as_secs_f64();
        }
        if state.as_ref().err() != Some(&Failure::Cancelled) {
            exchange.drain_rows();
        }
        let started = Instant::now();
        let failed = |e: anyhow::Error| failure_of(&e);
        let go_on = match (need, step) {
            (GlobalNeed::Histogram, step) => {
                let local = match step {
                    Some(Step::Histogram(h)) => Some(*h),
                    _ => None,
                };
                let total = exchange.histogram(local.as_ref()).map_err(failed)?;
                if let (Some(total), Ok(r)) = (&total, &mut state) {
                    if let Err(e) = r.resume_histogram(total) {
                        state = Err(failure_of(&e));
                    }
                }
                total.is_some()
            }
            (_, step) => {
                let local = match step {
                    Some(Step::Hysteresis(req)) => Some(req),
                    _ => None,
                };
                let reply = exchange.hysteresis(local).map_err(failed)?;
                let go_on = reply.is_some();
                if let (Some(reply), Ok(r)) = (reply, &mut state) {
                    if let Err(e) = r.resume_hysteresis(reply) {
                        state = Err(failure_of(&e));
                    }
                }
                go_on
            }
        };
        times.global_secs += started.elapsed().as_secs_f64();
        if !go_on {
            // Every strip learns of the failure at the same step and stops here.
            return Err(state.err().unwrap_or(Failure::Abandoned));
        }
    }
    let started = Instant::now();
    let last = match state {
        Ok(run) => advance_in_background(run, exchange),
        Err(failure) => Err(failure),
    };
    times.compute_secs += started.elapsed().as_secs_f64();
    if last.as_ref().err() != Some(&Failure::Cancelled) {
        exchange.drain_rows();
    }
    match last?.1 {
        Step::Done(img) => Ok(img),
        _ => Err(Failure::Failed("chain ended at an unexpected global step".into())),
    }
}

/// [`StripRun::advance`] on a compute thread; waits for it while polling `exchange.cancelled()`.
/// On a cancel the thread is left to stop at its next chunk and `Failure::Cancelled` returns now.
fn advance_in_background(
    mut run: StripRun,
    exchange: &mut impl GlobalExchange,
) -> std::result::Result<(StripRun, Step), Failure> {
    let cancel = run.cancel.clone();
    let progress = run.progress();
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("strip-compute".into())
        .spawn(move || {
            let step = run.advance();
            let _ = tx.send((run, step));
        })
        .map_err(|e| Failure::Failed(format!("starting a compute thread: {e}")))?;
    loop {
        let wait = match exchange.receive_rows() {
            RowsIn::Moved => Duration::ZERO,
            RowsIn::Waiting => ROW_POLL,
            RowsIn::AllIn => CANCEL_POLL,
        };
        match rx.recv_timeout(wait) {
            Ok((run, Ok(step))) => return Ok((run, step)),
            Ok((_, Err(e))) => return Err(failure_of(&e)),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if exchange.cancelled() {
                    cancel.store(true, Ordering::Relaxed);
                    return Err(Failure::Cancelled);
                }
                exchange.progress(progress());
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Failure::Failed("the compute thread stopped without a result".into()))
            }
        }
    }
}
