//! Ranks ≥ 1: introduce themselves, then wait for commands from rank 0 and do their share.
//!
//! A worker never panics on bad input and never leaves rank 0 waiting: every failure travels back
//! as a typed [`Failure`] (a failed strip still takes part in each global step, see `exec::drive`),
//! and the loop only ends on `Shutdown`. While it waits it sleeps (see `protocol`); its work runs
//! on a compute thread, so a [`Cancel`] from rank 0 is seen within milliseconds.

use crate::arriving::{self, ArrivingRows};
use crate::batch::{self, BatchItem};
use crate::cancel::{failure_of, CancelFlag};
use crate::exec::{drive, DriveTimes, GlobalExchange, ProgressThrottle, RowsIn, StripRun};
use crate::global::{HysteresisReply, HysteresisRequest};
use crate::image::Image;
use crate::model::{unix_now, Failure, Produced, RankInfo, RankStats, Span};
use crate::pieces::PART_BYTES;
use crate::protocol::*;
use crate::reach::BatchReach;
use crate::row_source::Fingerprint;
use crate::threads;
use anyhow::{Context, Result};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod classify;
mod pipeline;
mod video;

/// How long a cancelled batch item may take to stop (its next chunk of rows, or the end of the
/// encode or write it is in) before the worker answers without it.
const ITEM_STOP_WAIT: Duration = Duration::from_secs(2);

/// A worker's state between messages: the cancels rank 0 sent that may still concern a job.
struct Worker<'a> {
    world: &'a SimpleCommunicator,
    rank: usize,
    threads: usize,
    cancels: Vec<Cancel>,
    /// A classify job's model (with its fingerprint and batch size), kept for the next job
    /// with the same one.
    model: Option<(String, crate::classify::net::Classifier)>,
}

/// Serves rank 0 until it says `Shutdown`.
pub fn serve(world: &SimpleCommunicator) -> Result<()> {
    let rank = world.rank() as usize;
    let root = world.process_at_rank(0);
    send_json(&root, TAG_HELLO, &RankInfo { rank, host: host_name(), cores: threads::host_cores() });
    let mut me = Worker { world, rank, threads: 1, cancels: Vec::new(), model: None };
    let mut last_job = std::time::Instant::now();
    loop {
        let command = {
            let mut collect = || me.collect_cancels();
            receive_command(world, last_job, &mut collect)?
        };
        // Whatever the command, once it is handled the worker rests warm again.
        let _warm = WarmAgain(&mut last_job);
        match command {
            Command::Threads(n) => {
                threads::use_threads(n)?;
                me.threads = n;
            }
            Command::Image(job) => {
                me.forget_cancels_before(job.id);
                match (&job.input, &job.output) {
                    (StripInput::Streamed { chunk_rows }, StripOutput::Piece(format))
                        if crate::substrips::applies_to(&job.chain) =>
                    {
                        me.pipelined_strip(&job, *format, *chunk_rows)
                    }
                    _ => me.image_job(&job),
                }
            }
            Command::Batch(job) => {
                me.forget_cancels_before(job.id);
                match &job.classify {
                    Some(c) => me.classify_job(&job, c)?,
                    None => me.batch_job(&job)?,
                }
            }
            Command::Video(job) => {
                me.forget_cancels_before(job.id);
                me.video_job(&job)?;
            }
            Command::Warm => {
                // A codec that cannot be loaded fails the first image that needs it, by name.
                let _ = crate::cvio::imgcodecs::preload();
            }
            Command::Shutdown => {
                // Rank 0 waits a bounded time for this, then ends the job for a rank that is
                // silent (see `master::shutdown`).
                send_json(&root, TAG_BYE, &rank);
                return Ok(());
            }
            Command::Leave(code) => {
                send_json(&root, TAG_BYE, &rank);
                std::process::exit(i32::from(code));
            }
        }
    }
}

/// Sets the time of the last job when dropped: after the command, however its arm ends.
struct WarmAgain<'a>(&'a mut std::time::Instant);

impl Drop for WarmAgain<'_> {
    fn drop(&mut self) {
        *self.0 = std::time::Instant::now();
    }
}

impl Worker<'_> {
    fn collect_cancels(&mut self) {
        while let Ok(Some((cancel, _))) = try_receive_json::<Cancel>(self.world, Some(0), TAG_CANCEL) {
            self.cancels.push(cancel);
        }
    }

    /// Waits (sleeping) for rank 0's next message with `tag`, reading cancels meanwhile.
    fn next_from_root<T: serde::de::DeserializeOwned>(&mut self, tag: mpi::Tag) -> Result<T> {
        let world = self.world;
        let mut collect = || self.collect_cancels();
        Ok(receive_json::<T>(world, Some(0), tag, &mut collect)?.0)
    }

    fn forget_cancels_before(&mut self, job: u64) {
        self.cancels.retain(|c| c.job >= job);
    }

    /// Whether rank 0 cancelled job `job` (or its item `item`).
    fn is_cancelled(&mut self, job: u64, item: Option<usize>) -> bool {
        self.collect_cancels();
        self.cancels.iter().any(|c| c.job == job && (c.item.is_none() || c.item == item))
    }

    fn stats(&self) -> RankStats {
        RankStats { rank: self.rank, host: host_name(), threads: self.threads, ..Default::default() }
    }

    fn image_job(&mut self, job: &ImageJob) {
        let root = self.world.process_at_rank(0);
        let strip = &job.strips[self.rank];
        let mut stats = RankStats { rows: Some((strip.owned.start, strip.owned.end)), ..self.stats() };

        let (input, to_come) = match self.strip_input(job, &mut stats) {
            Ok((img, to_come)) => (Ok(img), to_come),
            Err(e) => (Err(e), None),
        };
        let (to_come, feed) = to_come.unzip();
        let run = input.and_then(|img| {
            let run = StripRun::new(job.chain.clone(), job.height, strip.owned.clone(), img, strip.input.clone())?;
            Ok(match feed {
                Some(feed) => run.with_feed(feed),
                None => run,
            })
        });
        let mut times = DriveTimes::default();
        let started = unix_now();
        let mut exchange = WorkerExchange { worker: self, job: job.id, throttle: ProgressThrottle::default(), to_come };
        let result = drive(&job.chain, run, &mut exchange, &mut times);
        stats.record("filter", job.t0, started);
        if let Some(to_come) = exchange.to_come.take() {
            to_come.record(&mut stats, job.t0);
        }
        (stats.compute_secs, stats.global_secs) = (times.compute_secs, times.global_secs);

        match (result, &job.output) {
            (Ok(rows), StripOutput::Rows) => {
                stats.bytes_sent = rows.byte_len() as u64;
                stats.peak_rss_bytes = crate::process::rss_bytes().0;
                send_json(&root, TAG_RESULT, &StripResult { outcome: Ok(()), stats, parts: 0 });
                if rows.byte_len() > 0 {
                    send_bytes(&root, TAG_RESULT_ROWS, &rows.data);
                }
            }
            (Ok(rows), StripOutput::Piece(format)) => {
                // Parts made from the last rows up, the rows given back as they are encoded.
                let started = unix_now();
                let parts = crate::pieces::encode_in_parts(*format, rows, strip.owned.start, job.height, PART_BYTES);
                stats.encode_secs = stats.record("encode", job.t0, started);
                stats.peak_rss_bytes = crate::process::rss_bytes().0;
                match parts {
                    Ok(parts) => {
                        stats.bytes_sent = parts.iter().map(|p| p.bytes.len() as u64).sum();
                        let result = StripResult { outcome: Ok(()), stats, parts: parts.len() };
                        send_json(&root, TAG_RESULT, &result);
                        for p in parts {
                            send_json(&root, TAG_PIECE, &PieceHead { meta: p.meta, len: p.bytes.len() });
                            send_bytes(&root, TAG_RESULT_ROWS, &p.bytes);
                        }
                    }
                    Err(e) => {
                        let outcome = Err(failure_of(&e.context(format!("rank {}: encoding its rows", self.rank))));
                        send_json(&root, TAG_RESULT, &StripResult { outcome, stats, parts: 0 });
                    }
                }
            }
            (Err(failure), _) => {
                stats.peak_rss_bytes = crate::process::rss_bytes().0;
                send_json(&root, TAG_RESULT, &StripResult { outcome: Err(failure), stats, parts: 0 })
            }
        }
    }

    /// This rank's input rows: received in one buffer, read from the file itself when it sees
    /// the same file as rank 0 (it tells rank 0 which), or a buffer that rank 0's stream fills
    /// while the strip computes (with the [`RowsToCome`] that receives it and the strip's [`ArrivingRows`]).
    fn strip_input(
        &mut self,
        job: &ImageJob,
        stats: &mut RankStats,
    ) -> Result<(Image, Option<(RowsToCome, ArrivingRows)>)> {
        let strip = &job.strips[self.rank];
        let root = self.world.process_at_rank(0);
        let started = unix_now();
        let row_bytes = job.width * job.channels * job.depth.bytes();
        let mut input = vec![0u8; strip.input.len() * row_bytes];
        let streamed = |input: Vec<u8>, chunk_rows: usize| -> Result<_> {
            let (to, feed) = arriving::channel();
            let messages = message_sizes(input.len(), chunk_rows.max(1) * row_bytes).into();
            let to_come = RowsToCome { messages, to: Some(to), started, finished: None, bytes: 0 };
            Ok((
                Image::from_vec_as(job.width, strip.input.len(), job.channels, job.depth, input)?,
                Some((to_come, feed)),
            ))
        };
        match &job.input {
            StripInput::Sent => {
                if !input.is_empty() {
                    receive_bytes(&root, TAG_STRIP, &mut input);
                }
            }
            StripInput::Streamed { chunk_rows } => return streamed(input, *chunk_rows),
            StripInput::File { path, fingerprint, max_pixels, chunk_rows } => {
                let reader = (|| -> Result<_> {
                    anyhow::ensure!(Fingerprint::of(path)? == *fingerprint, "not the same file as rank 0's");
                    crate::rows::open_range(path, *max_pixels)?.context("no row reader")
                })();
                send_json(&root, TAG_SOURCE, &reader.is_ok());
                match reader {
                    Ok(mut r) => {
                        if !input.is_empty() {
                            r.read_rows(strip.input.start, strip.input.end, &mut input)?;
                        }
                        stats.read_secs = stats.record("read", job.t0, started);
                        return Ok((
                            Image::from_vec_as(job.width, strip.input.len(), job.channels, job.depth, input)?,
                            None,
                        ));
                    }
                    Err(_) => return streamed(input, *chunk_rows),
                }
            }
        }
        stats.bytes_received = input.len() as u64;
        stats.send_secs = stats.record("receive", job.t0, started);
        Ok((Image::from_vec_as(job.width, strip.input.len(), job.channels, job.depth, input)?, None))
    }

    fn batch_job(&mut self, job: &BatchJob) -> Result<()> {
        let root = self.world.process_at_rank(0);
        let reach = job.reach.as_ref().map(|c| BatchReach::check(&c.probe, &c.out_dir, &c.sample));
        send_json(&root, TAG_BATCH_UP, &BatchUp::Ready(reach));
        let mut stats = self.stats();
        loop {
            let started = Instant::now();
            let down: BatchDown = self.next_from_root(TAG_BATCH_DOWN)?;
            let BatchDown::Work { index, input, output, format, bytes } = down else {
                send_json(&root, TAG_BATCH_UP, &BatchUp::Stats(stats));
                return Ok(());
            };
            let encoded_input = bytes.map(|len| {
                let mut buf = vec![0u8; len];
                receive_bytes(&root, TAG_BATCH_DOWN_BYTES, &mut buf);
                buf
            });
            stats.send_secs += started.elapsed().as_secs_f64();
            stats.bytes_received += bytes.unwrap_or(0) as u64;

            let started = Instant::now();
            let item = BatchItem { input, output, format };
            let (chain, max_pixels) = (job.chain.clone(), job.max_pixels);
            let work = move |cancel: &CancelFlag| match &encoded_input {
                Some(b) => {
                    let name = item.input.display().to_string();
                    batch::process_bytes(b, &name, &chain, max_pixels, &item.format, cancel)
                        .map(|e| (Produced::Bytes(e), batch::FileTimes::default()))
                }
                None => batch::process_file(&item, &chain, max_pixels, cancel).map(|(tmp, t)| (Produced::Temp(tmp), t)),
            };
            // A file the item wrote after all (the cancel came during its write) is removed.
            let discard = |made: (Produced<crate::codec::Encoded>, batch::FileTimes)| {
                if let Produced::Temp(tmp) = made.0 {
                    let _ = std::fs::remove_file(tmp);
                }
            };
            let result = self.in_background(job.id, index, work, discard);
            let secs = started.elapsed().as_secs_f64();
            let io = result.as_ref().map(|(_, t)| *t).unwrap_or_default();
            stats.read_secs += io.read_secs;
            stats.write_secs += io.write_secs;
            stats.compute_secs += secs - io.read_secs - io.write_secs;
            stats.images += usize::from(result.is_ok());

            let started = Instant::now();
            match result {
                // Encoded bytes travel to rank 0, which writes them.
                Ok((Produced::Bytes(out), _)) => {
                    let up = BatchUp::Done { index, outcome: Ok(Produced::Bytes(out.len())), secs };
                    send_json(&root, TAG_BATCH_UP, &up);
                    send_bytes(&root, TAG_BATCH_UP_BYTES, &out);
                    stats.bytes_sent += out.len() as u64;
                }
                // Written beside the output (own files); rank 0 puts it in place.
                Ok((Produced::Temp(tmp), _)) => {
                    send_json(&root, TAG_BATCH_UP, &BatchUp::Done { index, outcome: Ok(Produced::Temp(tmp)), secs })
                }
                Err(failure) => send_json(&root, TAG_BATCH_UP, &BatchUp::Done { index, outcome: Err(failure), secs }),
            }
            stats.collect_secs += started.elapsed().as_secs_f64();
        }
    }

    /// Runs one batch item on a compute thread and waits for it, sleeping, while watching for a
    /// cancel of the job or of this item: then the item is told to stop at its next chunk of rows,
    /// and `Failure::Cancelled` returns once the thread has stopped (at most [`ITEM_STOP_WAIT`]),
    /// what it made after all going to `discard`. Returning before the thread stops could leave
    /// a half-written temporary file behind when this process exits.
    fn in_background<T: Send + 'static>(
        &mut self,
        job: u64,
        index: usize,
        work: impl FnOnce(&CancelFlag) -> Result<T> + Send + 'static,
        discard: impl FnOnce(T),
    ) -> std::result::Result<T, Failure> {
        let cancel = CancelFlag::default();
        let flag = cancel.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("batch-item".into())
            .spawn(move || {
                let _ = tx.send(work(&flag));
            })
            .map_err(|e| Failure::Failed(format!("starting a compute thread: {e}")))?;
        loop {
            match rx.recv_timeout(Duration::from_millis(5)) {
                Ok(result) => return result.map_err(|e| failure_of(&e)),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if self.is_cancelled(job, Some(index)) {
                        cancel.store(true, Ordering::Relaxed);
                        if let Ok(Ok(made)) = rx.recv_timeout(ITEM_STOP_WAIT) {
                            discard(made);
                        }
                        return Err(Failure::Cancelled);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Failure::Failed("the compute thread stopped without a result".into()))
                }
            }
        }
    }
}

/// A worker's side of the global steps: contribute, then wait for rank 0's answer; and, while
/// the strip computes, the receiving of its streamed rows.
struct WorkerExchange<'a, 'w> {
    worker: &'a mut Worker<'w>,
    job: u64,
    throttle: ProgressThrottle,
    to_come: Option<RowsToCome>,
}

/// Rows rank 0 is still streaming to this strip: the messages to come (their sizes, in order)
/// and, when the strip reads them through a feed, the channel their bytes go to.
struct RowsToCome {
    messages: VecDeque<usize>,
    to: Option<arriving::Sender>,
    started: f64,
    /// When the last message arrived.
    finished: Option<f64>,
    bytes: u64,
}

/// What [`RowsToCome::receive`] found.
enum Arrival {
    Message(arriving::Message),
    /// The next message has not arrived yet.
    Waiting,
    /// Every message is in.
    AllIn,
}

impl RowsToCome {
    /// Receives the next message if it has arrived.
    fn receive(&mut self, root: &mpi::topology::Process<'_>) -> Arrival {
        let Some(&len) = self.messages.front() else { return Arrival::AllIn };
        let Some(bytes) = try_receive_bytes(root, TAG_STRIP, || arriving::Message::zeroed(len)) else {
            return Arrival::Waiting;
        };
        self.took();
        Arrival::Message(bytes)
    }

    /// Counts the next message as received.
    fn took(&mut self) {
        if let Some(len) = self.messages.pop_front() {
            self.bytes += len as u64;
        }
        if self.messages.is_empty() {
            self.finished = Some(unix_now());
        }
    }

    /// Adds the receiving to the rank's summary: bytes, and the span from the job's first
    /// message to its last (it overlaps the filtering).
    fn record(self, stats: &mut RankStats, t0: f64) {
        let end = self.finished.unwrap_or_else(unix_now);
        stats.bytes_received = self.bytes;
        stats.send_secs = end - self.started;
        stats.timeline.push(Span { phase: "receive".into(), start: self.started - t0, end: end - t0 });
    }
}

impl WorkerExchange<'_, '_> {
    fn ask<Q: serde::Serialize, A: serde::de::DeserializeOwned>(&mut self, tag: mpi::Tag, question: &Q) -> Result<A> {
        let world = self.worker.world;
        send_json(&world.process_at_rank(0), tag, question);
        let mut collect = || self.worker.collect_cancels();
        Ok(receive_json::<A>(world, Some(0), tag, &mut collect)?.0)
    }
}

impl GlobalExchange for WorkerExchange<'_, '_> {
    fn histogram(&mut self, local: Option<&[u64; 256]>) -> Result<Option<[u64; 256]>> {
        let local: Option<Vec<u64>> = local.map(|h| h.to_vec());
        let total: Option<Vec<u64>> = self.ask(TAG_HISTOGRAM, &local)?;
        total.map(|t| t.try_into().map_err(|_| anyhow::anyhow!("a histogram of other than 256 bins"))).transpose()
    }

    fn hysteresis(&mut self, local: Option<HysteresisRequest>) -> Result<Option<HysteresisReply>> {
        self.ask(TAG_HYSTERESIS, &local)
    }

    fn cancelled(&mut self) -> bool {
        self.worker.is_cancelled(self.job, None)
    }

    fn progress(&mut self, fraction: f64) {
        if !self.throttle.ready(fraction) {
            return;
        }
        let message = StripProgress { job: self.job, fraction };
        send_json(&self.worker.world.process_at_rank(0), TAG_PROGRESS, &message);
    }

    fn receive_rows(&mut self) -> RowsIn {
        let Some(to_come) = self.to_come.as_mut() else { return RowsIn::AllIn };
        match to_come.receive(&self.worker.world.process_at_rank(0)) {
            Arrival::Message(bytes) => {
                // A strip that stopped (it failed) no longer reads: the rows are received all the same.
                if let Some(to) = &to_come.to {
                    let _ = to.send(bytes);
                }
                RowsIn::Moved
            }
            Arrival::Waiting => RowsIn::Waiting,
            Arrival::AllIn => RowsIn::AllIn,
        }
    }

    fn drain_rows(&mut self) {
        let mut backoff = Backoff::new(BUSY_WAIT);
        loop {
            match self.receive_rows() {
                RowsIn::Moved => backoff = Backoff::new(BUSY_WAIT),
                RowsIn::AllIn => return,
                RowsIn::Waiting if self.cancelled() => return,
                RowsIn::Waiting => backoff.pause(),
            }
        }
    }
}
