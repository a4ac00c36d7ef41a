//! Rank 0's own strip of a streamed image job: the last rows of the image, read after the
//! workers' and filtered and encoded while rank 0 keeps writing the workers' pieces (its relay
//! polls the collector whenever this code waits).

use super::super::exchange::RootExchange;
use super::super::relay::CancelRelay;
use super::collector::Collector;
use crate::cancel::{failure_of, CancelFlag, Cancelled};
use crate::chain::OpChain;
use crate::exec::{drive, DriveTimes, ProgressThrottle, StripRun};
use crate::image::Image;
use crate::model::{unix_now, Failure, Progress, RankStats, Span};
use crate::pieces::{encode_in_parts, Piece, PieceFormat, PART_BYTES};
use crate::protocol::{Backoff, BUSY_WAIT};
use crate::row_source::RowSource;
use crate::split::Strip;
use crate::substrips::{self, Gather};
use anyhow::{bail, Result};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How many sub-strips rank 0 reads ahead of its own filter: one being filtered, one ready. A
/// decoder faster than the filter would otherwise queue up the whole strip's rows.
const AHEAD: usize = 2;

/// The relay of a streamed job: it writes the workers' pieces whenever rank 0 waits.
pub(super) type Relay<'a> = CancelRelay<'a, Collector>;

/// What rank 0's own strip is and where its timings go.
pub(super) struct OwnJob<'a> {
    pub chain: &'a OpChain,
    pub format: PieceFormat,
    /// The image's size.
    pub width: usize,
    pub height: usize,
    /// Rank 0's strip.
    pub strip: &'a Strip,
    /// Rows per read (a message's worth).
    pub chunk_rows: usize,
    /// The job's start on rank 0's clock: timelines are measured from it.
    pub t0: f64,
}

/// What rank 0 made of its own strip: a reading error (the job's error), the strip's failure,
/// and its parts when it succeeded.
pub(super) struct OwnResult {
    pub read_failed: Option<anyhow::Error>,
    pub failure: Option<Failure>,
    pub parts: Option<Vec<Piece>>,
}

/// A reading error on rank 0's own rows as the job's error (a copy: the strip's failure keeps the
/// original); a cancel is none, since the strips that stop because of it say nothing new.
fn job_error(e: &anyhow::Error) -> Option<anyhow::Error> {
    (!e.is::<Cancelled>()).then(|| anyhow::anyhow!("{e:#}"))
}

/// Rank 0's own strip read whole, then filtered through every step ([`drive`]) and encoded in
/// parts: for chains with global steps, and to attend a job that already failed (`failed`).
pub(super) fn whole(
    rows: RowSource,
    failed: Option<anyhow::Error>,
    job: &OwnJob<'_>,
    relay: &mut Relay<'_>,
    mine: &mut RankStats,
) -> OwnResult {
    let (own, h, t0) = (job.strip, job.height, job.t0);
    let started = unix_now();
    let alone = relay.master.size() == 1;
    let run = match failed {
        Some(e) => {
            drop(rows);
            Err(e)
        }
        None => rows.into_image(own.input.start, own.input.end).and_then(|img| {
            let run = StripRun::new(job.chain.clone(), h, own.owned.clone(), img, own.input.clone())?;
            if alone {
                run.alone()
            } else {
                Ok(run)
            }
        }),
    };
    mine.read_secs += mine.record("read", t0, started);
    let read_failed = run.as_ref().err().and_then(job_error);

    let mut times = DriveTimes::default();
    let started = unix_now();
    let result = drive(job.chain, run, &mut RootExchange::new(relay, job.width, h), &mut times);
    mine.record("filter", t0, started);
    (mine.compute_secs, mine.global_secs) = (times.compute_secs, times.global_secs);
    (relay.on)(Progress::RowsDone {
        rank: 0,
        secs: times.compute_secs,
        error: result.as_ref().err().map(|f| f.to_string()),
    });
    match result {
        Ok(rows) if !own.owned.is_empty() => {
            let started = unix_now();
            let piece = encode_while_polling(job.format, rows, own.owned.start, h, relay);
            mine.encode_secs = mine.record("encode", t0, started);
            match piece {
                Ok(p) => OwnResult { read_failed, failure: None, parts: Some(p) },
                Err(e) => {
                    relay.abort();
                    OwnResult { read_failed, failure: Some(failure_of(&e)), parts: None }
                }
            }
        }
        Ok(_) => OwnResult { read_failed, failure: None, parts: None },
        Err(f) => OwnResult { read_failed, failure: Some(f), parts: None },
    }
}

/// Rank 0's own strip of a chain of local ops, as a worker does its streamed strip
/// (`substrips`): this thread reads the rows a message's worth at a time and hands each
/// sub-strip whose rows are in to a compute thread, which filters and encodes it. The strip's
/// first rows are filtered while its last ones are still being decoded, and each sub-strip is
/// encoded while its rows are fresh in the cache; rank 0 never holds its whole strip. Between
/// reads this thread writes the workers' pieces and watches for a cancel.
pub(super) fn pipelined(
    mut rows: RowSource,
    subs: &[Strip],
    job: &OwnJob<'_>,
    relay: &mut Relay<'_>,
    mine: &mut RankStats,
) -> OwnResult {
    let sub_job = substrips::Job { chain: job.chain, height: job.height, format: job.format, subs };
    let input: &Range<usize> = &job.strip.input;
    let shape = rows.shape();
    let row_bytes = shape.row_bytes();
    let mut gather = Gather::new(subs.to_vec(), input.start, row_bytes);
    let cancel = CancelFlag::default();
    let done = AtomicUsize::new(0);
    let mut throttle = ProgressThrottle::default();
    let mut reads = Vec::new();
    let mut read_failed = None;
    let made = std::thread::scope(|scope| {
        let (inputs, inputs_rx) = mpsc::channel();
        let (cancel_c, done_c, sub_job) = (&cancel, &done, &sub_job);
        let compute = scope.spawn(move || substrips::run(sub_job, inputs_rx, cancel_c, done_c));
        let mut inputs = Some(inputs);
        let mut backoff = Backoff::new(BUSY_WAIT);
        let mut at = input.start;
        let mut handed = 0;
        let mut report = |relay: &mut Relay<'_>| {
            let fraction = done.load(Ordering::Relaxed) as f64 / subs.len().max(1) as f64;
            if throttle.ready(fraction) {
                (relay.on)(Progress::StripProgress { rank: 0, fraction });
            }
        };
        while at < input.end {
            if relay.poll() {
                cancel.store(true, Ordering::Relaxed);
                break;
            }
            report(relay);
            if compute.is_finished() {
                // It failed: the rows left are not needed.
                break;
            }
            if handed - done.load(Ordering::Relaxed) >= AHEAD {
                backoff.pause();
                continue;
            }
            backoff = Backoff::new(BUSY_WAIT);
            let end = (at + job.chunk_rows.max(1)).min(input.end);
            let reading = unix_now();
            // No later request needs these rows: the stream may forget them.
            let read = rows
                .rows(at, end, gather.room((end - at) * row_bytes), end)
                .and_then(|()| gather.received(shape.width, shape.channels));
            reads.push(Span { phase: "read".into(), start: reading - job.t0, end: unix_now() - job.t0 });
            match read {
                Ok(ready) => {
                    for sub in ready {
                        handed += 1;
                        if let Some(tx) = &inputs {
                            let _ = tx.send(sub);
                        }
                    }
                }
                Err(e) => {
                    read_failed = Some(e);
                    inputs = None;
                    relay.abort();
                    break;
                }
            }
            at = end;
        }
        // The compute thread stops for want of input once the sender is gone.
        drop(inputs);
        drop(rows);
        while !compute.is_finished() {
            if relay.poll() {
                cancel.store(true, Ordering::Relaxed);
            }
            report(relay);
            backoff.pause();
        }
        compute.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the compute thread panicked")))
    });
    mine.read_secs += reads.iter().map(|s| s.end - s.start).sum::<f64>();
    mine.timeline.extend(reads);
    let outcome = match (&read_failed, made) {
        (Some(e), _) => Err(failure_of(e)),
        (None, Err(e)) => Err(failure_of(&e)),
        (None, Ok(made)) => Ok(made),
    };
    let (secs, error) = match &outcome {
        Ok(m) => (m.filter_secs + m.encode_secs, None),
        Err(f) => (0.0, Some(f.to_string())),
    };
    (relay.on)(Progress::RowsDone { rank: 0, secs, error });
    let read_failed = read_failed.as_ref().and_then(job_error);
    match outcome {
        Ok(made) => OwnResult { read_failed, failure: None, parts: Some(made.record(mine, job.t0)) },
        Err(f) => {
            if f != Failure::Cancelled {
                relay.abort();
            }
            OwnResult { read_failed, failure: Some(f), parts: None }
        }
    }
}

/// Encodes rank 0's rows (in parts, see [`encode_in_parts`]) on a thread of their own while this
/// thread keeps writing the workers' pieces and watching for a cancel.
fn encode_while_polling(
    format: PieceFormat,
    rows: Image,
    start: usize,
    height: usize,
    relay: &mut Relay<'_>,
) -> Result<Vec<Piece>> {
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || encode_in_parts(format, rows, start, height, PART_BYTES));
        while !worker.is_finished() {
            relay.poll();
            std::thread::sleep(Duration::from_millis(2));
        }
        worker.join().unwrap_or_else(|_| bail!("the encoder thread panicked"))
    })
}
