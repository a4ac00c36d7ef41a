//! A worker's streamed strip of a chain of local ops, filtered and encoded sub-strip by sub-strip
//! while its later rows still arrive (see `substrips`): this thread (the MPI one) receives rank
//! 0's messages and hands each complete sub-strip input to a compute thread, which filters and
//! encodes it; the parts go to rank 0 as the whole strip's would, once all are made.

use super::{Arrival, RowsToCome, Worker};
use crate::cancel::{failure_of, CancelFlag, CANCEL_POLL};
use crate::exec::{ProgressThrottle, ROW_POLL};
use crate::model::{unix_now, Failure, RankStats};
use crate::pieces::PieceFormat;
use crate::protocol::*;
use crate::substrips::{self, Gather, Job, Made};
use mpi::traits::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

impl Worker<'_> {
    /// Filters and encodes this rank's strip of `job` (streamed, `chunk_rows` rows a message, a
    /// chain without global steps) in sub-strips, and sends rank 0 the result and the parts.
    pub(super) fn pipelined_strip(&mut self, job: &ImageJob, format: PieceFormat, chunk_rows: usize) {
        let root = self.world.process_at_rank(0);
        let strip = job.strips[self.rank].clone();
        let mut stats = RankStats { rows: Some((strip.owned.start, strip.owned.end)), ..self.stats() };
        let row_bytes = job.width * job.channels;
        let rows = substrips::rows_per_sub(row_bytes);
        let subs = substrips::plan(strip.owned.clone(), job.chain.total_halo(), job.height, format.row_align(), rows);
        let sizes = message_sizes(strip.input.len() * row_bytes, chunk_rows.max(1) * row_bytes);
        // The sub-strips' inputs go through `gather`, not through a feed.
        let mut to_come =
            RowsToCome { messages: sizes.into(), to: None, started: unix_now(), finished: None, bytes: 0 };
        let mut gather = Gather::new(subs.clone(), strip.input.start, row_bytes);
        let cancel = CancelFlag::default();
        let done = AtomicUsize::new(0);
        let mut throttle = ProgressThrottle::default();

        let outcome: std::result::Result<Made, Failure> = std::thread::scope(|scope| {
            let (inputs, inputs_rx) = mpsc::channel();
            let sub_job = Job { chain: &job.chain, height: job.height, format, subs: &subs };
            let (cancel_c, done_c) = (&cancel, &done);
            let compute = scope.spawn(move || substrips::run(&sub_job, inputs_rx, cancel_c, done_c));
            let mut inputs = Some(inputs);
            let mut gather_error = None;
            // Hands the compute thread every sub-strip whose rows are all in; on a bad message
            // it stops for want of input, and the error is this thread's.
            let mut hand_over = |gather: &mut Gather, inputs: &mut Option<mpsc::Sender<_>>| match gather
                .received(job.width, job.channels)
            {
                Ok(ready) => {
                    for input in ready {
                        if let Some(tx) = inputs.as_ref() {
                            let _ = tx.send(input);
                        }
                    }
                }
                Err(e) => {
                    gather_error = Some(e);
                    *inputs = None;
                }
            };
            // A strip without rows (more ranks than rows to share) is complete before any message.
            hand_over(&mut gather, &mut inputs);
            let mut backoff = Backoff::new(ROW_POLL);
            loop {
                if compute.is_finished() {
                    break;
                }
                match to_come.messages.front() {
                    // Straight into the gathered rows: this thread shares a core with the
                    // strip's computing, and rank 0 waits for each message to be taken.
                    Some(&len) if has_message(&root, TAG_STRIP) => {
                        receive_bytes(&root, TAG_STRIP, gather.room(len));
                        to_come.took();
                        backoff = Backoff::new(ROW_POLL);
                        hand_over(&mut gather, &mut inputs);
                        continue;
                    }
                    Some(_) => backoff.pause(),
                    None => std::thread::sleep(CANCEL_POLL),
                }
                if self.is_cancelled(job.id, None) {
                    cancel.store(true, Ordering::Relaxed);
                    // The compute thread stops at its next chunk of rows; the scope waits for it.
                    return Err(Failure::Cancelled);
                }
                let fraction = done.load(Ordering::Relaxed) as f64 / subs.len().max(1) as f64;
                if throttle.ready(fraction) {
                    send_json(&root, TAG_PROGRESS, &StripProgress { job: job.id, fraction });
                }
            }
            let made = compute.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the compute thread panicked")));
            match (gather_error, made) {
                (Some(e), _) | (None, Err(e)) => Err(failure_of(&e)),
                (None, Ok(made)) => Ok(made),
            }
        });
        // Rows still on their way are received all the same, so rank 0 never waits on this rank.
        if outcome.as_ref().err() != Some(&Failure::Cancelled) {
            let mut backoff = Backoff::new(BUSY_WAIT);
            loop {
                match to_come.receive(&root) {
                    Arrival::Message(_) => backoff = Backoff::new(BUSY_WAIT),
                    Arrival::AllIn => break,
                    Arrival::Waiting if self.is_cancelled(job.id, None) => break,
                    Arrival::Waiting => backoff.pause(),
                }
            }
        }
        to_come.record(&mut stats, job.t0);
        match outcome {
            Ok(made) => {
                let parts = made.record(&mut stats, job.t0);
                stats.bytes_sent = parts.iter().map(|p| p.bytes.len() as u64).sum();
                stats.peak_rss_bytes = crate::process::rss_bytes().0;
                send_json(&root, TAG_RESULT, &StripResult { outcome: Ok(()), stats, parts: parts.len() });
                for p in parts {
                    send_json(&root, TAG_PIECE, &PieceHead { meta: p.meta, len: p.bytes.len() });
                    send_bytes(&root, TAG_RESULT_ROWS, &p.bytes);
                }
            }
            Err(failure) => {
                stats.peak_rss_bytes = crate::process::rss_bytes().0;
                send_json(&root, TAG_RESULT, &StripResult { outcome: Err(failure), stats, parts: 0 });
            }
        }
    }
}
