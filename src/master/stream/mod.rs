//! Rank 0's side of an image job from a file to a file, with nothing of the whole image on one
//! rank: the input is read row by row (or each worker reads its own rows), each rank filters and
//! encodes its own rows as a piece of the output file, and rank 0 writes the pieces as they arrive.
//!
//! What happens when is decided by the pure [`StreamPlan`]; this module carries it out over MPI:
//! it sends the job, asks the workers whether they read their own rows, streams the rows of the
//! others ([`Master::stream_rows`]), works through rank 0's own strip (`own`) and meanwhile
//! writes the workers' pieces in row order (`collector`). On any failure or cancel every rank
//! is told, every worker's answer is still received (none is left blocked in a send), and the
//! temporary file is removed.

mod collector;
mod own;

use super::relay::CancelRelay;
use super::Master;
use crate::cancel::Cancelled;
use crate::chain::OpChain;
use crate::codec;
use crate::model::{unix_now, Progress, RankStats, Span};
use crate::pieces::{Assembler, PieceFormat};
use crate::protocol::*;
use crate::row_source::{Fingerprint, ReaderKind, RowSource};
use crate::stream_plan::{check_output_channels, OwnStrip, PlanInput, StreamPlan, WorkerInput};
use anyhow::{Context, Result};
use collector::Collector;
use own::{OwnJob, OwnResult, Relay};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// One image from a file to a file, as a front end asks for it.
#[derive(Clone, Copy, Debug)]
pub struct FileJob<'a> {
    pub input: &'a Path,
    pub output: &'a Path,
    pub format: PieceFormat,
    pub chain: &'a OpChain,
    /// Refuse an input whose header declares more pixels, before any decode.
    pub max_pixels: u64,
    /// Rank 0 owns no rows when there are workers.
    pub coordinator_only: bool,
}

/// What a file-to-file job did.
pub struct FileRun {
    pub stats: Vec<RankStats>,
    /// How rank 0 read the input.
    pub reader: ReaderKind,
    /// Workers that read their own rows from the file.
    pub self_readers: usize,
    pub width: usize,
    pub height: usize,
    pub channels: usize,
}

impl Master {
    /// Filters the image in `job.input` split by rows over all ranks and writes it to
    /// `job.output`, each rank encoding its own rows; the file appears only when complete. Once
    /// `cancel` is set every rank stops and this returns the error [`Cancelled`].
    pub fn run_file(&self, job: &FileJob<'_>, on: &mut dyn FnMut(Progress), cancel: &AtomicBool) -> Result<FileRun> {
        self.settle()?;
        let FileJob { input, output, format, chain, max_pixels, coordinator_only } = *job;
        let t0 = unix_now();
        let mut mine = self.stats(0);
        let opened = unix_now();
        let mut rows = RowSource::open(input, max_pixels)?;
        let reader = rows.kind();
        mine.read_secs += mine.record(if reader == ReaderKind::Whole { "decode" } else { "open" }, t0, opened);
        let shape = rows.shape();
        let plan = StreamPlan::new(&PlanInput {
            shape,
            reader,
            reader_weight: rows.rank0_weight(),
            chain,
            format,
            ranks: self.size(),
            coordinator_only,
        });
        let (w, h, c) = (shape.width, shape.height, shape.channels);
        let out_c = chain.out_channels(c);
        check_output_channels(output, out_c)?;
        let strip_input = match plan.worker_input {
            WorkerInput::AskToRead => {
                let path =
                    std::path::absolute(input).with_context(|| format!("{}: no absolute path", input.display()))?;
                let fingerprint = Fingerprint::of(input)?;
                StripInput::File { path, fingerprint, max_pixels, chunk_rows: plan.chunk_rows }
            }
            WorkerInput::Streamed => StripInput::Streamed { chunk_rows: plan.chunk_rows },
        };
        let tmp = codec::temp_name(output);
        let file =
            Assembler::new(&tmp, format, w, h, out_c).with_context(|| format!("{}: cannot write", output.display()))?;
        let _cleanup = RemoveOnDrop(tmp.clone());

        let id = self.new_job_id();
        let (width, height, channels, strips) = (w, h, c, plan.strips.clone());
        let output_kind = StripOutput::Piece(format);
        self.send_image_job(&ImageJob {
            id,
            chain: chain.clone(),
            width,
            height,
            channels,
            // The streamed row readers give 8-bit gray or colour rows.
            depth: crate::image::Depth::U8,
            strips,
            input: strip_input,
            output: output_kind,
            t0,
        });
        let own = &plan.strips[0];
        mine.rows = Some((own.owned.start, own.owned.end));
        let collector = Collector::new(plan.strips.clone(), plan.workers().collect(), file);
        let mut relay = CancelRelay::new(self, id, cancel, on, collector);

        // Who reads their own rows: every worker says whether it sees the same file.
        let mut reads_own = vec![false; plan.ranks];
        if plan.worker_input == WorkerInput::AskToRead {
            for rank in plan.workers() {
                let poll = &mut || {
                    relay.poll();
                };
                reads_own[rank] = receive_json::<bool>(self.world(), Some(rank as i32), TAG_SOURCE, poll)?.0;
            }
        }
        let self_readers = reads_own.iter().filter(|r| **r).count();

        // Hand out the workers' rows in row order, as they are read.
        let streamed_to = plan.streamed_to(&reads_own);
        let mut read_error: Option<anyhow::Error> = None;
        for r in plan.workers() {
            let s = &plan.strips[r];
            (relay.on)(Progress::RowsAssigned { rank: r, start: s.owned.start, end: s.owned.end });
            if !streamed_to[r] || read_error.is_some() || relay.poll() {
                continue;
            }
            let started = unix_now();
            if let Err(e) = self.stream_rows(&mut rows, &plan, r, &mut relay, &mut mine) {
                read_error = Some(e);
                relay.abort();
            }
            mine.record(&format!("read+send to {r}"), t0, started);
        }

        // Rank 0's own rows: the last ones.
        (relay.on)(Progress::RowsAssigned { rank: 0, start: own.owned.start, end: own.owned.end });
        let failed = match read_error.take() {
            Some(e) => Some(e),
            None if relay.poll() => Some(Cancelled.into()),
            None => None,
        };
        let own_job = OwnJob { chain, format, width: w, height: h, strip: own, chunk_rows: plan.chunk_rows, t0 };
        let OwnResult { read_failed, failure: own_failure, parts: own_piece } = match (&plan.own, failed) {
            (OwnStrip::Pipelined { subs }, None) => own::pipelined(rows, subs, &own_job, &mut relay, &mut mine),
            (_, failed) => own::whole(rows, failed, &own_job, &mut relay, &mut mine),
        };

        // Every worker's answer, then rank 0's piece last.
        let started = unix_now();
        let mut backoff = Backoff::new(BUSY_WAIT);
        while !relay.waiting.done() {
            relay.poll();
            backoff.pause();
        }
        mine.wait_secs = unix_now() - started;
        relay.poll();
        let cancelled = relay.cancel_asked();
        let mut collector = relay.waiting;
        if let Some(f) = own_failure {
            collector.failures.insert(0, (0, f));
        }
        if let Some(e) = read_failed {
            return Err(e);
        }
        self.job_result(&collector.failures, cancelled)?;
        if let Some(e) = collector.error.take() {
            return Err(e.context(format!("{}: writing", output.display())));
        }
        let started = unix_now();
        let (write_secs, write_span, mut stats) =
            (collector.write_secs, collector.write_span, std::mem::take(&mut collector.stats));
        let mut file = collector.into_file();
        for piece in own_piece.into_iter().flatten() {
            file.add(&piece.meta, &piece.bytes).with_context(|| format!("{}: writing", output.display()))?;
        }
        file.finish().with_context(|| format!("{}: writing", output.display()))?;
        codec::commit(&tmp, output)?;
        mine.write_secs = write_secs + mine.record("write", t0, started);
        if let Some((from, to)) = write_span {
            mine.timeline.push(Span { phase: "write".into(), start: from - t0, end: to - t0 });
        }
        mine.peak_rss_bytes = crate::process::rss_bytes().0;

        stats.insert(0, mine);
        stats.sort_by_key(|s| s.rank);
        Ok(FileRun { stats, reader, self_readers, width: w, height: h, channels: c })
    }

    /// Sends worker `rank` its input rows as they are read, one of the plan's messages at a time;
    /// stops early (the worker is told by a cancel) when the job is cancelled. Decoded rows go in
    /// two buffers by turns: the next rows are decoded while the worker takes the last ones, so
    /// neither side waits for the other (a worker's MPI thread may take a few milliseconds to get
    /// a core while its strip computes).
    fn stream_rows(
        &self,
        rows: &mut RowSource,
        plan: &StreamPlan,
        rank: usize,
        relay: &mut Relay<'_>,
        mine: &mut RankStats,
    ) -> Result<()> {
        let row_bytes = rows.shape().row_bytes();
        let keep_from = plan.keep_from(rank);
        let to = self.process(rank);
        let parts = plan.messages(rank);
        if rows.in_memory(0, 0).is_some() {
            for part in parts {
                if relay.poll() {
                    return Ok(());
                }
                let bytes = rows.in_memory(part.start, part.end).expect("a whole decode holds every row");
                send_bytes(&to, TAG_STRIP, bytes);
                mine.bytes_sent += bytes.len() as u64;
            }
            return Ok(());
        }
        let read = |rows: &mut RowSource, part: &std::ops::Range<usize>, buf: &mut Vec<u8>| -> Result<()> {
            buf.resize(part.len() * row_bytes, 0);
            rows.rows(part.start, part.end, buf, keep_from.min(part.end))
        };
        let (mut sending, mut filling) = (Vec::new(), Vec::new());
        let Some(first) = parts.first() else { return Ok(()) };
        read(rows, first, &mut sending)?;
        for (i, _) in parts.iter().enumerate() {
            if relay.poll() {
                return Ok(());
            }
            let next = parts.get(i + 1);
            let decoded = send_bytes_while(&to, TAG_STRIP, &sending, || match next {
                Some(part) => read(rows, part, &mut filling),
                None => Ok(()),
            });
            mine.bytes_sent += sending.len() as u64;
            decoded?;
            std::mem::swap(&mut sending, &mut filling);
        }
        Ok(())
    }
}

/// Removes the temporary output file unless it was renamed into place.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
