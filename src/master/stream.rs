//! Rank 0's side of an image job from a file to a file, with nothing of the whole image on one
//! rank: the input is read row by row (or each worker reads its own rows), each rank filters and
//! encodes its own rows as a piece of the output file, and rank 0 writes the pieces as they arrive.
//!
//! Rows go top to bottom: workers own the first strips in rank order and rank 0 the last, so a
//! worker's rows are decoded (and its piece is due) first, and rank 0 writes the workers' pieces
//! while it filters its own rows (sub-strip by sub-strip as it reads them, for a chain of local
//! ops, as workers do: `substrips`). On any failure or cancel every rank is told, every worker's
//! answer is still received (none is left blocked in a send), and the temporary file is removed.

use super::{CancelRelay, Master, RootExchange};
use crate::chain::OpChain;
use crate::codec;
use crate::exec::{drive, CancelFlag, Cancelled, DriveTimes, ProgressThrottle, StripRun};
use crate::feed::{chunk_rows, Fingerprint, Rows};
use crate::image::Image;
use crate::model::{unix_now, Failure, Progress, RankStats};
use crate::ops::{GlobalNeed, Op};
use crate::pieces::{encode_in_parts, Assembler, Piece, PieceFormat, PART_BYTES};
use crate::protocol::*;
use crate::split::{plan_streamed, Strip};
use crate::substrips::{self, Gather};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// What a file-to-file job did.
pub struct FileRun {
    pub stats: Vec<RankStats>,
    /// How rank 0 read the input: "ranged", "streamed" or "whole" (see [`Rows::kind`]).
    pub reader: &'static str,
    /// Workers that read their own rows from the file.
    pub self_readers: usize,
    pub width: usize,
    pub height: usize,
    pub channels: usize,
}

/// What rank 0 knows of the job while it waits: which worker's piece comes next (row order),
/// and the file those pieces go to. Polled whenever rank 0 waits for anything.
pub(super) struct Collector {
    strips: Vec<Strip>,
    /// Workers in row order, and how many of them answered.
    order: Vec<usize>,
    next: usize,
    /// The worker whose piece's parts are arriving, and how many are still due.
    receiving: Option<(usize, usize)>,
    file: Option<Assembler>,
    write_secs: f64,
    write_span: Option<(f64, f64)>,
    pub(super) failures: Vec<(usize, Failure)>,
    stats: Vec<RankStats>,
    error: Option<anyhow::Error>,
}

impl Collector {
    fn done(&self) -> bool {
        self.next == self.order.len() && self.receiving.is_none()
    }

    /// Takes every worker answer and part of a piece that has arrived, in row order, and writes
    /// the parts (one at a time: rank 0 never holds a worker's whole piece).
    pub(super) fn poll(&mut self, master: &Master, on: &mut dyn FnMut(Progress)) {
        loop {
            if let Some((rank, left)) = self.receiving {
                if left == 0 {
                    self.receiving = None;
                    self.next += 1;
                    continue;
                }
                let Ok(Some((head, _))) = try_receive_json::<PieceHead>(master.world(), Some(rank as i32), TAG_PIECE)
                else {
                    return;
                };
                let mut bytes = vec![0u8; head.len];
                receive_bytes(&master.process(rank), TAG_RESULT_ROWS, &mut bytes);
                self.write(&head.meta, &bytes);
                self.receiving = Some((rank, left - 1));
                continue;
            }
            let Some(&rank) = self.order.get(self.next) else { return };
            let Ok(Some((result, _))) = try_receive_json::<StripResult>(master.world(), Some(rank as i32), TAG_RESULT)
            else {
                return;
            };
            let error = match result.outcome {
                Ok(()) if result.parts == 0 && !self.strips[rank].owned.is_empty() => {
                    Some(Failure::Failed(format!("rank {rank} sent no piece for its rows")))
                }
                Ok(()) => None,
                Err(f) => Some(f),
            };
            on(Progress::RowsDone {
                rank,
                secs: result.stats.compute_secs,
                error: error.as_ref().map(|f| f.to_string()),
            });
            if let Some(f) = error {
                self.failures.push((rank, f));
            }
            self.stats.push(result.stats);
            self.receiving = Some((rank, result.parts));
        }
    }

    /// Appends a part to the file, unless writing already failed (the parts are still received).
    fn write(&mut self, meta: &crate::pieces::PieceMeta, bytes: &[u8]) {
        let started = unix_now();
        if let (Some(file), None) = (&mut self.file, &self.error) {
            if let Err(e) = file.add(meta, bytes) {
                self.error = Some(e);
            }
        }
        let end = unix_now();
        self.write_secs += end - started;
        self.write_span = Some((self.write_span.map_or(started, |s| s.0), end));
    }
}

impl Master {
    /// Filters the image in `input` split by rows over all ranks and writes it to `output` in
    /// `format`, each rank encoding its own rows; the file appears only when complete. Once
    /// `cancel` is set every rank stops and this returns the error [`Cancelled`].
    #[allow(clippy::too_many_arguments)]
    pub fn run_file(
        &self,
        input: &Path,
        output: &Path,
        format: PieceFormat,
        chain: &OpChain,
        max_pixels: u64,
        coordinator_only: bool,
        on: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<FileRun> {
        self.settle()?;
        let t0 = unix_now();
        let mut mine = self.stats(0);
        let opened = unix_now();
        let mut rows = Rows::open(input, max_pixels)?;
        let reader = rows.kind();
        mine.read_secs += mine.record(if reader == "whole" { "decode" } else { "open" }, t0, opened);
        let shape = rows.shape();
        let (w, h, c) = (shape.width, shape.height, shape.channels);
        let n = self.size();
        let weight = rank0_weight(chain, &rows, n);
        let strips = plan_streamed(h, n, chain.total_halo(), coordinator_only, format.row_align(), weight);
        let chunk = chunk_rows(w * c);
        let strip_input = if rows.random_access() && n > 1 {
            let path = std::path::absolute(input).with_context(|| format!("{}: no absolute path", input.display()))?;
            StripInput::File { path, fingerprint: Fingerprint::of(input)?, max_pixels, chunk_rows: chunk }
        } else {
            StripInput::Streamed { chunk_rows: chunk }
        };
        let ext = output.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        let out_c = chain.out_channels(c);
        // As OpenCV: PPM holds colour and PGM gray (.pnm either).
        if (ext == "ppm" && out_c == 1) || (ext == "pgm" && out_c == 3) {
            bail!(
                "{}: a {}-channel result cannot be written as .{ext} (use .pnm, .pgm for gray, .ppm for colour)",
                output.display(),
                out_c
            );
        }
        let tmp = codec::temp_name(output);
        let file =
            Assembler::new(&tmp, format, w, h, out_c).with_context(|| format!("{}: cannot write", output.display()))?;
        let _cleanup = RemoveOnDrop(tmp.clone());

        let id = self.new_job_id();
        let job = ImageJob {
            id,
            chain: chain.clone(),
            width: w,
            height: h,
            channels: c,
            strips: strips.clone(),
            input: strip_input.clone(),
            output: StripOutput::Piece(format),
            t0,
        };
        for rank in 1..n {
            send_command(self.world(), rank, &Command::Image(job.clone()));
        }
        mine.rows = Some((strips[0].owned.start, strips[0].owned.end));
        let collector = Collector {
            strips: strips.clone(),
            order: (1..n).collect(),
            next: 0,
            receiving: None,
            file: Some(file),
            write_secs: 0.0,
            write_span: None,
            failures: Vec::new(),
            stats: Vec::new(),
            error: None,
        };
        let mut relay =
            CancelRelay { master: self, job: id, flag: cancel, sent: false, on, collector: Some(collector) };

        // Who reads their own rows: every worker says whether it sees the same file.
        let mut needs_rows = vec![n > 1; n];
        needs_rows[0] = false;
        if matches!(strip_input, StripInput::File { .. }) {
            for (rank, needs) in needs_rows.iter_mut().enumerate().skip(1) {
                let reads: bool = receive_json(self.world(), Some(rank as i32), TAG_SOURCE, &mut || {
                    relay.poll();
                })?
                .0;
                *needs = !reads;
            }
        }
        let self_readers = needs_rows.iter().skip(1).filter(|n| !**n).count();

        // Hand out the workers' rows in row order, as they are read.
        let mut read_error: Option<anyhow::Error> = None;
        for r in 1..n {
            let s = &strips[r];
            (relay.on)(Progress::RowsAssigned { rank: r, start: s.owned.start, end: s.owned.end });
            if !needs_rows[r] || s.input.is_empty() || read_error.is_some() || relay.poll() {
                continue;
            }
            // Rows a later strip still needs stay with the reader (the halo they share).
            let keep_from = strips[r + 1..].iter().chain([&strips[0]]).map(|s| s.input.start).min().unwrap_or(h);
            let started = unix_now();
            if let Err(e) = self.stream_rows(&mut rows, r, &s.input, chunk, keep_from, &mut relay, &mut mine) {
                read_error = Some(e);
                relay.abort();
            }
            mine.record(&format!("read+send to {r}"), t0, started);
        }

        // Rank 0's own rows: the last ones.
        let own = &strips[0];
        (relay.on)(Progress::RowsAssigned { rank: 0, start: own.owned.start, end: own.owned.end });
        let failed = match read_error.take() {
            Some(e) => Some(e),
            None if relay.poll() => Some(Cancelled.into()),
            None => None,
        };
        // A whole decode already holds every row: its strip is filtered where it lies.
        let pipelined =
            failed.is_none() && substrips::applies_to(chain) && !own.owned.is_empty() && rows.in_memory(0, 0).is_none();
        let OwnStrip { read_failed, failure: own_failure, parts: own_piece } = if pipelined {
            let subs = substrips::plan(
                own.owned.clone(),
                chain.total_halo(),
                h,
                format.row_align(),
                substrips::rows_per_sub(w * c),
            );
            let sub_job = substrips::Job { chain, height: h, format, subs: &subs };
            own_strip_pipelined(rows, &sub_job, &own.input, chunk, t0, &mut relay, &mut mine)
        } else {
            own_strip_whole(rows, failed, chain, own, format, (w, h), n, t0, &mut relay, &mut mine)
        };

        // Every worker's answer, then rank 0's piece last.
        let started = unix_now();
        let mut backoff = Backoff::new(BUSY_WAIT);
        while !relay.collector.as_ref().is_some_and(Collector::done) {
            relay.poll();
            backoff.pause();
        }
        mine.wait_secs = unix_now() - started;
        let cancelled = relay.poll();
        let mut collector = relay.collector.take().expect("the collector lives until the end of the job");
        if let Some(f) = own_failure {
            collector.failures.insert(0, (0, f));
        }
        if let Some(e) = read_failed {
            return Err(e);
        }
        if cancelled && collector.failures.iter().any(|(_, f)| *f == Failure::Cancelled) {
            return Err(Cancelled.into());
        }
        if let Some((rank, e)) = collector.failures.iter().find(|(_, f)| matches!(f, Failure::Failed(_))) {
            bail!("rank {rank} ({}) failed: {e}", self.ranks[*rank].host);
        }
        if let Some((rank, e)) = collector.failures.first() {
            bail!("rank {rank} ({}) stopped: {e}", self.ranks[*rank].host);
        }
        if let Some(e) = collector.error.take() {
            return Err(e.context(format!("{}: writing", output.display())));
        }
        let started = unix_now();
        let mut file = collector.file.take().expect("the output file is open until the end");
        for piece in own_piece.into_iter().flatten() {
            file.add(&piece.meta, &piece.bytes).with_context(|| format!("{}: writing", output.display()))?;
        }
        file.finish().with_context(|| format!("{}: writing", output.display()))?;
        codec::commit(&tmp, output)?;
        mine.write_secs = collector.write_secs + mine.record("write", t0, started);
        if let Some((from, to)) = collector.write_span {
            mine.timeline.push(crate::model::Span { phase: "write".into(), start: from - t0, end: to - t0 });
        }
        mine.peak_rss_bytes = crate::report::rss_bytes().0;

        let mut stats = collector.stats;
        stats.insert(0, mine);
        stats.sort_by_key(|s| s.rank);
        Ok(FileRun { stats, reader, self_readers, width: w, height: h, channels: c })
    }

    /// Sends worker `rank` its input rows as they are read, a message of `chunk` rows at a time;
    /// stops early (the worker is told by a cancel) when the job is cancelled. Decoded rows go in
    /// two buffers by turns: the next rows are decoded while the worker takes the last ones, so
    /// neither side waits for the other (a worker's MPI thread may take a few milliseconds to get
    /// a core while its strip computes).
    #[allow(clippy::too_many_arguments)]
    fn stream_rows(
        &self,
        rows: &mut Rows,
        rank: usize,
        input: &std::ops::Range<usize>,
        chunk: usize,
        keep_from: usize,
        relay: &mut CancelRelay<'_>,
        mine: &mut RankStats,
    ) -> Result<()> {
        let row_bytes = rows.shape().width * rows.shape().channels;
        let to = self.process(rank);
        let parts: Vec<std::ops::Range<usize>> =
            (input.start..input.end).step_by(chunk.max(1)).map(|a| a..(a + chunk.max(1)).min(input.end)).collect();
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
        let read = |rows: &mut Rows, part: &std::ops::Range<usize>, buf: &mut Vec<u8>| -> Result<()> {
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

/// How many sub-strips rank 0 reads ahead of its own filter: one being filtered, one ready.
const AHEAD: usize = 2;

/// What rank 0 made of its own strip: a reading error (the job's error), the strip's failure,
/// and its parts when it succeeded.
struct OwnStrip {
    read_failed: Option<anyhow::Error>,
    failure: Option<Failure>,
    parts: Option<Vec<Piece>>,
}

/// A reading error on rank 0's own rows as the job's error (a copy: the strip's failure keeps the
/// original); a cancel is none, since the strips that stop because of it say nothing new.
fn job_error(e: &anyhow::Error) -> Option<anyhow::Error> {
    (!e.is::<Cancelled>()).then(|| anyhow::anyhow!("{e:#}"))
}

/// Rank 0's own strip read whole, then filtered through every step ([`drive`]) and encoded in
/// parts: for chains with global steps, and to attend a job that already failed (`failed`).
#[allow(clippy::too_many_arguments)]
fn own_strip_whole(
    rows: Rows,
    failed: Option<anyhow::Error>,
    chain: &OpChain,
    own: &Strip,
    format: PieceFormat,
    (width, h): (usize, usize),
    n: usize,
    t0: f64,
    relay: &mut CancelRelay<'_>,
    mine: &mut RankStats,
) -> OwnStrip {
    let started = unix_now();
    let run = match failed {
        Some(e) => {
            drop(rows);
            Err(e)
        }
        None => rows.into_image(own.input.start, own.input.end).and_then(|img| {
            let run = StripRun::new(chain.clone(), h, own.owned.clone(), img, own.input.clone())?;
            if n == 1 {
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
    let mut exchange = RootExchange { relay, width, height: h, throttle: ProgressThrottle::default() };
    let result = drive(chain, run, &mut exchange, &mut times);
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
            let piece = encode_while_polling(format, rows, own.owned.start, h, relay);
            mine.encode_secs = mine.record("encode", t0, started);
            match piece {
                Ok(p) => OwnStrip { read_failed, failure: None, parts: Some(p) },
                Err(e) => {
                    relay.abort();
                    OwnStrip { read_failed, failure: Some(crate::exec::failure_of(&e)), parts: None }
                }
            }
        }
        Ok(_) => OwnStrip { read_failed, failure: None, parts: None },
        Err(f) => OwnStrip { read_failed, failure: Some(f), parts: None },
    }
}

/// Rank 0's own strip of a chain of local ops, as a worker does its streamed strip
/// (`substrips`): this thread reads the rows a message's worth at a time and hands each
/// sub-strip whose rows are in to a compute thread, which filters and encodes it. The strip's
/// first rows are filtered while its last ones are still being decoded, and each sub-strip is
/// encoded while its rows are fresh in the cache; rank 0 never holds its whole strip. Between
/// reads this thread writes the workers' pieces and watches for a cancel.
fn own_strip_pipelined(
    mut rows: Rows,
    job: &substrips::Job<'_>,
    input: &std::ops::Range<usize>,
    chunk: usize,
    t0: f64,
    relay: &mut CancelRelay<'_>,
    mine: &mut RankStats,
) -> OwnStrip {
    let shape = rows.shape();
    let row_bytes = shape.width * shape.channels;
    let mut gather = Gather::new(job.subs.to_vec(), input.start, row_bytes);
    let cancel = CancelFlag::default();
    let done = AtomicUsize::new(0);
    let mut throttle = ProgressThrottle::default();
    let mut reads = Vec::new();
    let mut read_failed = None;
    let made = std::thread::scope(|scope| {
        let (inputs, inputs_rx) = mpsc::channel();
        let (cancel_c, done_c) = (&cancel, &done);
        let compute = scope.spawn(move || substrips::run(job, inputs_rx, cancel_c, done_c));
        let mut inputs = Some(inputs);
        let mut backoff = Backoff::new(BUSY_WAIT);
        let mut at = input.start;
        let mut handed = 0;
        let mut report = |relay: &mut CancelRelay<'_>| {
            let fraction = done.load(Ordering::Relaxed) as f64 / job.subs.len().max(1) as f64;
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
            // Reads stay at most `AHEAD` sub-strips ahead of the filter: a decoder faster than
            // the filter would otherwise queue up the whole strip's rows (over the memory bound).
            if handed - done.load(Ordering::Relaxed) >= AHEAD {
                backoff.pause();
                continue;
            }
            backoff = Backoff::new(BUSY_WAIT);
            let end = (at + chunk.max(1)).min(input.end);
            let reading = unix_now();
            // No later request needs these rows: the stream may forget them.
            let read = rows
                .rows(at, end, gather.room((end - at) * row_bytes), end)
                .and_then(|()| gather.received(shape.width, shape.channels));
            reads.push(crate::model::Span { phase: "read".into(), start: reading - t0, end: unix_now() - t0 });
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
        (Some(e), _) => Err(crate::exec::failure_of(e)),
        (None, Err(e)) => Err(crate::exec::failure_of(&e)),
        (None, Ok(made)) => Ok(made),
    };
    let (secs, error) = match &outcome {
        Ok(m) => (m.filter_secs + m.encode_secs, None),
        Err(f) => (0.0, Some(f.to_string())),
    };
    (relay.on)(Progress::RowsDone { rank: 0, secs, error });
    let read_failed = read_failed.as_ref().and_then(job_error);
    match outcome {
        Ok(made) => OwnStrip { read_failed, failure: None, parts: Some(made.record(mine, t0)) },
        Err(f) => {
            if f != Failure::Cancelled {
                relay.abort();
            }
            OwnStrip { read_failed, failure: Some(f), parts: None }
        }
    }
}

/// Encodes rank 0's rows (in parts, see [`encode_in_parts`]) on a thread of their own while this thread keeps writing the workers'
/// pieces and watching for a cancel.
fn encode_while_polling(
    format: PieceFormat,
    rows: Image,
    start: usize,
    height: usize,
    relay: &mut CancelRelay<'_>,
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

/// Removes the temporary output file unless it was renamed into place.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Rank 0's share of rows against a worker's (`split::plan_streamed`). When rank 0 decodes the
/// rows of every rank (a stream or a whole decode), it has less time left for rows of its own;
/// how much less depends on the format and on the chain. Measured on the 8K image at 2 ranks
/// (job seconds, 3 interleaved rounds each):
/// - light chains keep the reader's share ([`Rows::rank0_weight`]): equal for PNG (0.8 and 0.6
///   of a share took 3-10% longer; workers filter and encode while their rows arrive, so the
///   decode is mostly hidden), half for JPEG;
/// - with bilateral the filter dwarfs the decode: JPEG 1.75, 1.78, 1.76 with equal shares
///   against 2.25, 2.18, 1.81 at half. Since rank 0 filters its own rows sub-strip by sub-strip
///   while it reads them, 0.85 of a share does better still: PNG 2.30, 2.14, 2.22, 2.18, 2.16,
///   2.49 against 2.37, 2.57, 2.41, 2.37, 2.13, 2.35 with equal shares (and 2.37, 2.16, 2.37 at
///   0.7); JPEG 1.87, 1.67, 1.76 against 1.83, 1.80, 1.82 (2.10, 2.03, 1.78 at 0.7);
/// - with Canny a worker finds its candidates while its rows arrive, but the rest of split Canny
///   waits for its last row: PNG 0.93, 0.76, 0.79 at 0.7 against 0.99, 0.79, 0.89 with equal
///   shares and 0.98, 0.87, 0.88 at 0.5; JPEG (4 rounds) 0.61, 0.64, 0.67, 0.55 at 0.7 against
///   0.60, 0.67, 0.71, 0.65 at half.
///
/// Where every rank reads its own rows (TIFF), rank 0 still writes the file and joins the parts,
/// but 0.85 of a share gave no clear gain: TIFF gaussian 1.03, 0.98, 1.03 against 1.06, 1.12,
/// 1.10 with equal shares, invert 1.54, 1.49, 1.29 against 1.34, 1.30, 1.47.
fn rank0_weight(chain: &OpChain, rows: &Rows, ranks: usize) -> f64 {
    let reader = rows.rank0_weight();
    if ranks < 2 || rows.random_access() {
        reader
    } else if chain.0.iter().any(|op| matches!(op, Op::Bilateral { .. })) {
        0.85
    } else if chain.global_steps().any(|g| g == GlobalNeed::Hysteresis) {
        0.7
    } else {
        reader
    }
}
