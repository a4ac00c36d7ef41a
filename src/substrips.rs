//! A worker's strip filtered and encoded a few rows at a time, while its later rows still arrive.
//!
//! When rank 0 decodes a stream for everyone (PNG, JPEG), a worker's rows trickle in for as
//! long as that decode takes, and a worker that filters and encodes only once its last row is in
//! leaves its core idle meanwhile, then runs its whole filter and encode after rank 0 finished
//! decoding. A chain without global steps needs, for any run of rows, only those rows and the
//! chain's halo: so the strip is cut into sub-strips of about one piece part (aligned for the
//! output format), and each is filtered and encoded as soon as its rows (halo included) are in.
//! The parts come out in row order, the same parts [`crate::pieces::encode_in_parts`] makes of
//! the whole strip's rows, and the pixels are those of the whole strip, since every sub-strip's
//! result rows are exact (see `exec`).
//!
//! No MPI here: [`Gather`] turns the bytes received into sub-strip inputs, [`run`] is the compute
//! thread's side. `worker/pipeline.rs` connects them to rank 0's messages.

use crate::cancel::{CancelFlag, Cancelled};
use crate::chain::OpChain;
use crate::exec::{Step, StripRun};
use crate::image::Image;
use crate::model::{unix_now, RankStats, Span};
use crate::pieces::{encode_in_parts, Piece, PieceFormat, PART_BYTES};
use crate::split::{widen, Strip};
use anyhow::{bail, ensure, Result};
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

/// Whether a worker's strip may be cut into sub-strips: every op is local (a histogram or Canny's
/// hysteresis needs the whole strip first; a resize never reaches a worker's strip).
pub fn applies_to(chain: &OpChain) -> bool {
    chain.global_steps().next().is_none() && !chain.has_whole_image_steps()
}

/// Cuts `owned` (of an image of `height` rows) into sub-strips of about `rows` rows whose
/// boundaries are multiples of `align` (so each encodes as whole JPEG MCU rows or TIFF strips),
/// each with its input widened by `halo`. At least one sub-strip, even for an empty strip.
pub fn plan(owned: Range<usize>, halo: usize, height: usize, align: usize, rows: usize) -> Vec<Strip> {
    let step = (rows / align.max(1) * align.max(1)).max(align.max(1));
    let mut cuts: Vec<usize> = vec![owned.start];
    // The first boundary after `owned.start` that is a multiple of `step` from the image's top.
    let mut at = (owned.start / step + 1) * step;
    while at < owned.end {
        cuts.push(at);
        at += step;
    }
    cuts.push(owned.end.max(owned.start));
    cuts.windows(2)
        .map(|w| {
            let owned = w[0]..w[1];
            Strip { input: widen(&owned, halo, height), owned }
        })
        .collect()
}

/// Rows of a sub-strip plan's input for an image this wide: `PART_BYTES` of pixels, as a part.
pub fn rows_per_sub(row_bytes: usize) -> usize {
    (PART_BYTES / row_bytes.max(1)).max(1)
}

/// Collects a strip's input bytes as they arrive (rows from `start`, top to bottom) and hands out
/// each sub-strip's input once it is complete, keeping only the rows a later sub-strip still needs.
pub struct Gather {
    subs: Vec<Strip>,
    next: usize,
    row_bytes: usize,
    /// Rows `[held_from, ..)` received and still needed.
    held: Vec<u8>,
    held_from: usize,
}

impl Gather {
    /// For input rows starting at `start`, `row_bytes` bytes each.
    pub fn new(subs: Vec<Strip>, start: usize, row_bytes: usize) -> Gather {
        Gather { subs, next: 0, row_bytes: row_bytes.max(1), held: Vec::new(), held_from: start }
    }

    /// Takes the next bytes received; returns the inputs of the sub-strips they completed, in
    /// order (index and rows).
    pub fn push(&mut self, bytes: &[u8], width: usize, channels: usize) -> Result<Vec<(usize, Image)>> {
        self.room(bytes.len()).copy_from_slice(bytes);
        self.received(width, channels)
    }

    /// Room for the next `len` bytes, to receive them straight into (no copy on their way in);
    /// [`Gather::received`] then takes them.
    pub fn room(&mut self, len: usize) -> &mut [u8] {
        let at = self.held.len();
        self.held.resize(at + len, 0);
        &mut self.held[at..]
    }

    /// Takes the bytes written into [`Gather::room`], as [`Gather::push`].
    pub fn received(&mut self, width: usize, channels: usize) -> Result<Vec<(usize, Image)>> {
        let mut ready = Vec::new();
        while let Some(sub) = self.subs.get(self.next) {
            let rows_held = self.held.len() / self.row_bytes;
            ensure!(
                sub.input.start >= self.held_from,
                "sub-strip {} needs row {}, already dropped (held from {})",
                self.next,
                sub.input.start,
                self.held_from
            );
            if sub.input.end > self.held_from + rows_held {
                break;
            }
            let (a, b) = (sub.input.start - self.held_from, sub.input.end - self.held_from);
            let rows = self.held[a * self.row_bytes..b * self.row_bytes].to_vec();
            ready.push((self.next, Image::from_vec(width, sub.input.len(), channels, rows)?));
            self.next += 1;
            // Rows before the next sub-strip's input are needed by nobody.
            let keep_from = self.subs.get(self.next).map_or(self.held_from + rows_held, |s| s.input.start);
            let drop_rows = keep_from.saturating_sub(self.held_from).min(rows_held);
            self.held.drain(..drop_rows * self.row_bytes);
            self.held_from += drop_rows;
        }
        Ok(ready)
    }

    /// Whether every sub-strip's input was handed out.
    pub fn complete(&self) -> bool {
        self.next == self.subs.len()
    }
}

/// What the compute thread made: the parts in row order, and when it filtered and encoded.
pub struct Made {
    pub parts: Vec<Piece>,
    pub filter_secs: f64,
    pub encode_secs: f64,
    /// Unix times of each sub-strip's filter and encode.
    pub spans: Vec<Span>,
}

impl Made {
    /// Puts the filter and encode times, and the spans shifted to the job's start `t0`, into
    /// the rank's `stats`; returns the parts. Rank 0's own strip and a worker's record the same.
    pub fn record(self, stats: &mut RankStats, t0: f64) -> Vec<Piece> {
        stats.compute_secs = self.filter_secs;
        stats.encode_secs = self.encode_secs;
        stats.timeline.extend(self.spans.into_iter().map(|s| Span { start: s.start - t0, end: s.end - t0, ..s }));
        self.parts
    }
}

/// What a sub-strip is filtered and encoded as.
pub struct Job<'a> {
    pub chain: &'a OpChain,
    pub height: usize,
    pub format: PieceFormat,
    pub subs: &'a [Strip],
}

/// The compute thread: filters and encodes each sub-strip whose input arrives on `inputs` (in
/// order), counting sub-strips filtered in `done`. Stops with [`Cancelled`] once `cancel` is set,
/// and fails when the inputs stop before the last sub-strip.
///
/// A sub-strip is encoded on a thread of its own while the next one is filtered: encoders are
/// serial, and a rank alone on a host (its OpenCV threads on every core) otherwise left all but
/// one core idle for each encode (docs/BENCHMARKS.md, issue 23). At most one filtered sub-strip
/// waits for the encoder.
pub fn run(
    job: &Job<'_>,
    inputs: mpsc::Receiver<(usize, Image)>,
    cancel: &CancelFlag,
    done: &std::sync::atomic::AtomicUsize,
) -> Result<Made> {
    std::thread::scope(|scope| {
        let (to_encode, filtered) = mpsc::sync_channel::<(usize, Image)>(0);
        let (format, height) = (job.format, job.height);
        let encoder = scope.spawn(move || encode_each(format, height, filtered));
        let filter = filter_each(job, inputs, cancel, done, to_encode);
        let encode = encoder.join().unwrap_or_else(|_| bail!("the encoder thread panicked"));
        let (filter_spans, mut made) = (filter?, encode?);
        made.filter_secs = filter_spans.iter().map(|s| s.end - s.start).sum();
        made.spans.extend(filter_spans);
        made.spans.sort_by(|a, b| a.start.total_cmp(&b.start));
        Ok(made)
    })
}

/// Filters each sub-strip as its input arrives and hands its rows (with its first row) to the
/// encoder; the spans of the filters. The encoder stops when `to_encode` is dropped.
fn filter_each(
    job: &Job<'_>,
    inputs: mpsc::Receiver<(usize, Image)>,
    cancel: &CancelFlag,
    done: &std::sync::atomic::AtomicUsize,
    to_encode: mpsc::SyncSender<(usize, Image)>,
) -> Result<Vec<Span>> {
    let mut spans = Vec::new();
    for (expected, sub) in job.subs.iter().enumerate() {
        let Ok((index, input)) = inputs.recv() else {
            if cancel.load(Ordering::Relaxed) {
                return Err(Cancelled.into());
            }
            bail!("the strip's rows stopped arriving before sub-strip {expected} of {}", job.subs.len());
        };
        ensure!(index == expected, "sub-strip {index} arrived where {expected} was due");
        if cancel.load(Ordering::Relaxed) {
            return Err(Cancelled.into());
        }
        let started = unix_now();
        let run = StripRun::new(job.chain.clone(), job.height, sub.owned.clone(), input, sub.input.clone())?
            .with_cancel(cancel.clone());
        let rows = finish(run)?;
        spans.push(Span { phase: "filter".into(), start: started, end: unix_now() });
        done.fetch_add(1, Ordering::Relaxed);
        if to_encode.send((sub.owned.start, rows)).is_err() {
            break; // the encoder failed: its error is the strip's
        }
    }
    Ok(spans)
}

/// Encodes each filtered sub-strip that arrives, in order, into parts; stops when the filter
/// side is gone or at the first error.
fn encode_each(format: PieceFormat, height: usize, filtered: mpsc::Receiver<(usize, Image)>) -> Result<Made> {
    let mut made = Made { parts: Vec::new(), filter_secs: 0.0, encode_secs: 0.0, spans: Vec::new() };
    for (start, rows) in filtered {
        let started = unix_now();
        made.parts.extend(encode_in_parts(format, rows, start, height, PART_BYTES)?);
        let encoded = unix_now();
        made.encode_secs += encoded - started;
        made.spans.push(Span { phase: "encode".into(), start: started, end: encoded });
    }
    Ok(made)
}

/// Runs a strip of local ops to its end.
fn finish(mut run: StripRun) -> Result<Image> {
    match run.advance()? {
        Step::Done(rows) => Ok(rows),
        _ => bail!("a chain of local ops stopped at a global step"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::run_in_process;
    use crate::synth::picture;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn sub_strips_tile_the_strip_on_aligned_boundaries() {
        for (owned, align, rows) in [(0..100, 16, 40), (48..203, 16, 40), (5..6, 1, 3), (7..7, 8, 16), (0..10, 1, 100)]
        {
            let subs = plan(owned.clone(), 3, 300, align, rows);
            assert_eq!(subs.first().unwrap().owned.start, owned.start);
            assert_eq!(subs.last().unwrap().owned.end, owned.end);
            for w in subs.windows(2) {
                assert_eq!(w[0].owned.end, w[1].owned.start);
                assert_eq!(w[0].owned.end % align, 0, "{owned:?}: boundary {} not aligned", w[0].owned.end);
                assert!(w[0].owned.len() <= rows.max(align));
            }
            for s in &subs {
                assert_eq!(s.input, widen(&s.owned, 3, 300));
            }
        }
        let cuts: Vec<usize> = plan(48..203, 16, 300, 16, 40).iter().map(|s| s.owned.start).collect();
        assert_eq!(
            cuts,
            [48, 64, 96, 128, 160, 192],
            "32 rows a sub-strip (40 rounded down to 16s), from the image's top"
        );
    }

    #[test]
    fn gather_hands_out_each_sub_strips_input_once_complete_and_holds_little() {
        let img = picture(7, 60, 3, 5);
        let strip = Strip { owned: 10..50, input: 8..52 };
        let subs = plan(strip.owned.clone(), 2, 60, 4, 12);
        let mut gather = Gather::new(subs.clone(), strip.input.start, img.row_bytes());
        let bytes = img.rows(strip.input.start, strip.input.end);
        let mut got = Vec::new();
        for piece in bytes.chunks(7 * 3 * 5 + 4) {
            got.extend(gather.push(piece, 7, 3).unwrap());
            assert!(gather.held.len() <= 7 * 3 * (12 + 4 + 5 + 2), "holds {} bytes", gather.held.len());
        }
        assert!(gather.complete());
        assert_eq!(got.len(), subs.len());
        for ((i, input), sub) in got.iter().zip(&subs) {
            assert_eq!(input.data, img.rows(sub.input.start, sub.input.end), "sub-strip {i}");
        }
    }

    #[test]
    fn a_strip_without_rows_is_complete_before_any_byte() {
        let subs = plan(16..16, 2, 20, 16, 8);
        let mut gather = Gather::new(subs, 16, 3 * 9);
        let ready = gather.received(9, 3).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].1.height, 0);
        assert!(gather.complete());
    }

    #[test]
    fn parts_of_sub_strips_hold_the_rows_of_the_whole_strip() {
        let img = picture(33, 90, 3, 2);
        let chain = OpChain::parse("median:ksize=5,gaussian:ksize=7,invert", &[]).unwrap();
        assert!(applies_to(&chain));
        let whole = run_in_process(&chain, &img, 1, false).unwrap();
        let strip = Strip { owned: 16..80, input: widen(&(16..80), chain.total_halo(), 90) };
        let subs = plan(strip.owned.clone(), chain.total_halo(), 90, 1, 9);
        let (tx, rx) = mpsc::channel();
        let mut gather = Gather::new(subs.clone(), strip.input.start, img.row_bytes());
        for (i, input) in gather.push(img.rows(strip.input.start, strip.input.end), 33, 3).unwrap() {
            tx.send((i, input)).unwrap();
        }
        let job = Job { chain: &chain, height: 90, format: PieceFormat::Pnm, subs: &subs };
        let done = AtomicUsize::new(0);
        let made = run(&job, rx, &CancelFlag::default(), &done).unwrap();
        assert_eq!(done.load(Ordering::Relaxed), subs.len());
        // PNM parts are the raw rows in RGB order: joined, exactly the whole image's rows 16..80.
        let joined: Vec<u8> = made.parts.iter().flat_map(|p| p.bytes.clone()).collect();
        let expected: Vec<u8> = whole.rows(16, 80).chunks(3).flat_map(|p| [p[2], p[1], p[0]]).collect();
        assert!(joined == expected, "rows differ from the whole image's");
    }

    #[test]
    fn made_records_its_times_and_spans_from_the_jobs_start() {
        let img = picture(20, 40, 1, 5);
        let chain = OpChain::parse("gaussian", &[]).unwrap();
        let subs = plan(0..40, chain.total_halo(), 40, 1, 10);
        let (tx, rx) = mpsc::channel();
        let mut gather = Gather::new(subs.clone(), 0, img.row_bytes());
        for input in gather.push(img.rows(0, 40), 20, 1).unwrap() {
            tx.send(input).unwrap();
        }
        let job = Job { chain: &chain, height: 40, format: PieceFormat::Pnm, subs: &subs };
        let made = run(&job, rx, &CancelFlag::default(), &AtomicUsize::new(0)).unwrap();
        let (filter, encode, spans, parts) = (made.filter_secs, made.encode_secs, made.spans.clone(), made.parts.len());
        let t0 = spans[0].start - 1.5;
        let mut stats = RankStats { compute_secs: 9.0, ..RankStats::default() };
        let recorded = made.record(&mut stats, t0);
        assert_eq!(recorded.len(), parts);
        assert_eq!((stats.compute_secs, stats.encode_secs), (filter, encode));
        assert_eq!(stats.timeline.len(), spans.len());
        for (got, made) in stats.timeline.iter().zip(&spans) {
            assert_eq!(got.phase, made.phase);
            assert!((got.start - (made.start - t0)).abs() < 1e-9 && (got.end - (made.end - t0)).abs() < 1e-9);
        }
        assert!((stats.timeline[0].start - 1.5).abs() < 1e-9);
    }

    #[test]
    fn chains_with_global_steps_are_not_cut() {
        for chain in ["contrast-stretch", "blur,canny", "resize:scale=0.5"] {
            assert!(!applies_to(&OpChain::parse(chain, &[]).unwrap()), "{chain}");
        }
        assert!(applies_to(&OpChain::parse("blur,bilateral,gray", &[]).unwrap()));
    }

    #[test]
    fn inputs_that_stop_early_fail_and_a_cancel_stops() {
        let chain = OpChain::parse("blur", &[]).unwrap();
        let subs = plan(0..20, 1, 20, 1, 5);
        let job = Job { chain: &chain, height: 20, format: PieceFormat::Pnm, subs: &subs };
        let (tx, rx) = mpsc::channel::<(usize, Image)>();
        drop(tx);
        let err = run(&job, rx, &CancelFlag::default(), &AtomicUsize::new(0)).err().expect("an error");
        assert!(format!("{err}").contains("stopped arriving before sub-strip 0"), "{err}");
        let (tx, rx) = mpsc::channel::<(usize, Image)>();
        let cancel = CancelFlag::default();
        cancel.store(true, Ordering::Relaxed);
        tx.send((0, Image::zeros(4, 6, 1))).unwrap();
        let err = run(&job, rx, &cancel, &AtomicUsize::new(0)).err().expect("an error");
        assert!(err.is::<Cancelled>());
    }
}
