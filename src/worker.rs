//! Ranks ≥ 1: introduce themselves, then wait for commands from rank 0 and do their share.
//!
//! A worker never panics on bad input and never leaves rank 0 waiting: every failure travels back
//! as a typed [`Failure`] (a failed strip still takes part in each global step, see `exec::drive`),
//! and the loop only ends on `Shutdown`. While it waits it sleeps (see `protocol`); its work runs
//! on a compute thread, so a [`Cancel`] from rank 0 is seen within milliseconds.

use crate::batch::{self, BatchItem};
use crate::exec::{drive, failure_of, CancelFlag, DriveTimes, GlobalExchange, ProgressThrottle, StripRun};
use crate::global::{HysteresisReply, HysteresisRequest};
use crate::image::Image;
use crate::model::{Failure, RankInfo, RankStats};
use crate::protocol::*;
use crate::reach::BatchReach;
use crate::threads;
use anyhow::Result;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod video;

/// A batch item's result on a worker: encoded bytes for rank 0, or the temporary file it wrote.
enum Made {
    Bytes(crate::codec::Encoded),
    Temp(std::path::PathBuf),
}

/// A worker's state between messages: the cancels rank 0 sent that may still concern a job.
struct Worker<'a> {
    world: &'a SimpleCommunicator,
    rank: usize,
    threads: usize,
    cancels: Vec<Cancel>,
}

/// Serves rank 0 until it says `Shutdown`.
pub fn serve(world: &SimpleCommunicator) -> Result<()> {
    let rank = world.rank() as usize;
    let root = world.process_at_rank(0);
    send_json(&root, TAG_HELLO, &RankInfo { rank, host: host_name(), cores: threads::host_cores() });
    let mut me = Worker { world, rank, threads: 1, cancels: Vec::new() };
    loop {
        let command = {
            let mut collect = || me.collect_cancels();
            receive_command(world, &mut collect)?
        };
        match command {
            Command::Threads(n) => {
                threads::use_threads(n)?;
                me.threads = n;
            }
            Command::Image(job) => {
                me.forget_cancels_before(job.id);
                me.image_job(&job);
            }
            Command::Batch(job) => {
                me.forget_cancels_before(job.id);
                me.batch_job(&job)?;
            }
            Command::Video(job) => {
                me.forget_cancels_before(job.id);
                me.video_job(&job)?;
            }
            Command::Shutdown => return Ok(()),
        }
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

        let started = Instant::now();
        let mut input = vec![0u8; strip.input.len() * job.width * job.channels];
        if !input.is_empty() {
            receive_bytes(&root, TAG_STRIP, &mut input);
        }
        stats.bytes_received = input.len() as u64;
        stats.send_secs = started.elapsed().as_secs_f64();

        let run = Image::from_vec(job.width, strip.input.len(), job.channels, input).and_then(|img| {
            StripRun::new(job.chain.clone(), job.height, strip.owned.clone(), img, strip.input.clone())
        });
        let mut times = DriveTimes::default();
        let mut exchange = WorkerExchange { worker: self, job: job.id, throttle: ProgressThrottle::default() };
        let result = drive(&job.chain, run, &mut exchange, &mut times);
        (stats.compute_secs, stats.global_secs) = (times.compute_secs, times.global_secs);

        match result {
            Ok(rows) => {
                stats.bytes_sent = rows.byte_len() as u64;
                send_json(&root, TAG_RESULT, &StripResult { outcome: Ok(()), stats });
                if rows.byte_len() > 0 {
                    send_bytes(&root, TAG_RESULT_ROWS, &rows.data);
                }
            }
            Err(failure) => send_json(&root, TAG_RESULT, &StripResult { outcome: Err(failure), stats }),
        }
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
                        .map(|e| (Made::Bytes(e), batch::FileTimes::default()))
                }
                None => batch::process_file(&item, &chain, max_pixels, cancel).map(|(tmp, t)| (Made::Temp(tmp), t)),
            };
            let result = self.in_background(job.id, index, work);
            let secs = started.elapsed().as_secs_f64();
            let io = result.as_ref().map(|(_, t)| *t).unwrap_or_default();
            stats.read_secs += io.read_secs;
            stats.write_secs += io.write_secs;
            stats.compute_secs += secs - io.read_secs - io.write_secs;
            stats.images += usize::from(result.is_ok());

            let started = Instant::now();
            match result {
                // Encoded bytes travel to rank 0, which writes them.
                Ok((Made::Bytes(out), _)) => {
                    let up = BatchUp::Done { index, outcome: Ok(Produced::Bytes(out.len())), secs };
                    send_json(&root, TAG_BATCH_UP, &up);
                    send_bytes(&root, TAG_BATCH_UP_BYTES, &out);
                    stats.bytes_sent += out.len() as u64;
                }
                // Written beside the output (own files); rank 0 puts it in place.
                Ok((Made::Temp(tmp), _)) => {
                    send_json(&root, TAG_BATCH_UP, &BatchUp::Done { index, outcome: Ok(Produced::Temp(tmp)), secs })
                }
                Err(failure) => send_json(&root, TAG_BATCH_UP, &BatchUp::Done { index, outcome: Err(failure), secs }),
            }
            stats.collect_secs += started.elapsed().as_secs_f64();
        }
    }

    /// Runs one batch item on a compute thread and waits for it, sleeping, while watching for a
    /// cancel of the job or of this item: then the item is told to stop at its next chunk of rows
    /// and `Failure::Cancelled` returns at once.
    fn in_background<T: Send + 'static>(
        &mut self,
        job: u64,
        index: usize,
        work: impl FnOnce(&CancelFlag) -> Result<T> + Send + 'static,
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

/// A worker's side of the global steps: contribute, then wait for rank 0's answer.
struct WorkerExchange<'a, 'w> {
    worker: &'a mut Worker<'w>,
    job: u64,
    throttle: ProgressThrottle,
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
}
