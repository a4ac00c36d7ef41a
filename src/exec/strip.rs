//! One strip part-way through a chain, pausing at each global step.
//!
//! A [`StripRun`] holds a strip's current rows. [`StripRun::advance`] applies ops until the chain
//! needs the whole image (a histogram or hysteresis) and returns what this strip contributes
//! ([`Step`]); the caller combines the contributions of all strips and resumes the strip with the
//! answer (`drive` over MPI, `in_process` by plain calls). So the same code runs in tests without
//! MPI and on the cluster.
//!
//! Rows kept after op `i` are the owned rows widened by the halo the rest of the chain needs:
//! every kept row is exact, because the rows it was computed from were exact or the image's edge.

use crate::arriving::ArrivingRows;
use crate::cancel::{CancelFlag, Cancelled};
use crate::chain::OpChain;
use crate::edges::EdgeMap;
use crate::global::{self, HysteresisReply, HysteresisRequest};
use crate::image::Image;
use crate::ops::{canny_map_rows, in_row_chunks_in_place_as_ready, GlobalNeed, Op};
use crate::split::widen;
use anyhow::{bail, ensure, Result};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Input bytes per chunk of rows (see `ops::in_row_chunks`): small enough that OpenCV's working
/// memory stays far below the image's size, large enough that the halo rows each chunk
/// recomputes cost little (an 8K colour row is 23 KB: 182 rows a chunk, of which the default
/// bilateral recomputes 8 and Canny 4).
pub const CHUNK_BYTES: usize = 4 << 20;

/// Work per chunk of rows ([`Op::work_per_byte`] × input bytes): a costly op's chunks are cut
/// below [`CHUNK_BYTES`] to it, so that a cancel, checked between chunks, waits for about a tenth
/// of a second of one core's work at most, whatever the op (docs/BENCHMARKS.md, "Cancel").
pub const CHUNK_WORK: usize = CHUNK_BYTES * 64;

/// What a strip hands to the global step, or its final rows.
#[derive(Debug)]
pub enum Step {
    /// Histogram of the strip's own rows (all channels).
    Histogram(Box<[u64; 256]>),
    /// Labels near the strip's edges, for rank 0's union-find.
    Hysteresis(HysteresisRequest),
    /// The result for the owned rows: the chain is finished.
    Done(Image),
}

/// One strip part-way through a chain.
pub struct StripRun {
    chain: OpChain,
    next_op: usize,
    height: usize,
    owned: Range<usize>,
    /// Rows currently held, and their global position.
    cur: Image,
    cur_rows: Range<usize>,
    /// Split Canny's map of the owned rows while waiting for rank 0's hysteresis answer.
    pending_edges: Option<EdgeMap>,
    /// Input bytes per chunk of rows; [`CHUNK_BYTES`] unless a test asks for tiny chunks.
    chunk_bytes: usize,
    /// Checked before every chunk of rows.
    pub(super) cancel: CancelFlag,
    /// Rows computed so far over all ops (chunk by chunk), out of `total_rows`: the progress the
    /// MPI thread reports while this strip computes.
    done_rows: Arc<AtomicUsize>,
    total_rows: usize,
    /// The only strip of its job (the whole image, no other rank): global steps need nobody
    /// else, so they run here, and Canny is one cv::Canny call, the reference itself.
    pub(super) alone: bool,
    /// Input rows still arriving (see [`StripRun::with_feed`]); `None` once all are in.
    feed: Option<ArrivingRows>,
}

impl StripRun {
    /// `input` holds global rows `input_rows`, which must cover `owned` widened by the chain's halo.
    pub fn new(
        chain: OpChain,
        height: usize,
        owned: Range<usize>,
        input: Image,
        input_rows: Range<usize>,
    ) -> Result<Self> {
        ensure!(
            input.height == input_rows.len(),
            "strip input has {} rows, expected {}",
            input.height,
            input_rows.len()
        );
        let need = widen(&owned, chain.total_halo(), height);
        ensure!(
            input_rows.start <= need.start && need.end <= input_rows.end,
            "strip input rows {input_rows:?} do not cover {need:?}"
        );
        let total_rows = (0..chain.0.len()).map(|i| widen(&owned, chain.halo_after(i), height).len()).sum();
        Ok(StripRun {
            alone: false,
            done_rows: Arc::default(),
            total_rows,
            chain,
            next_op: 0,
            height,
            owned,
            cur: input,
            cur_rows: input_rows,
            pending_edges: None,
            chunk_bytes: CHUNK_BYTES,
            cancel: CancelFlag::default(),
            feed: None,
        })
    }

    /// The input's rows arrive through `feed` ([`ArrivingRows`]), top to bottom, while the strip computes: the
    /// input given to [`StripRun::new`] is the buffer they fill. The first op, when it is local,
    /// filters each chunk of rows as soon as its rows are in; anything else waits for them all.
    pub fn with_feed(mut self, feed: ArrivingRows) -> Self {
        self.feed = Some(feed);
        self
    }

    /// Waits for every input row still arriving.
    fn fill_all(&mut self) -> Result<()> {
        if let Some(mut feed) = self.feed.take() {
            let len = self.cur.data.len();
            feed.fill(&mut self.cur.data, len, &self.cancel)?;
        }
        Ok(())
    }

    /// Marks this strip as the only one of its job (it must hold the whole image): global steps
    /// then run inside [`StripRun::advance`] and [`drive`] exchanges nothing. Faster (one cv::Canny
    /// instead of a pass and a labelling), at the cost of cv::Canny's whole-image working
    /// memory (about four times the image).
    pub fn alone(mut self) -> Result<Self> {
        ensure!(
            self.owned == (0..self.height) && self.cur_rows == (0..self.height),
            "a strip alone holds the whole image"
        );
        self.alone = true;
        Ok(self)
    }

    /// Stops at the next chunk of rows once `cancel` is set (with the error [`Cancelled`]).
    pub fn with_cancel(mut self, cancel: CancelFlag) -> Self {
        self.cancel = cancel;
        self
    }

    pub(super) fn check_cancel(cancel: &AtomicBool) -> Result<()> {
        if cancel.load(Ordering::Relaxed) {
            return Err(Cancelled.into());
        }
        Ok(())
    }

    /// Applies each op in chunks of about `bytes` of input rows (at least one row) instead of
    /// [`CHUNK_BYTES`]; costly ops still cut them to [`CHUNK_WORK`].
    pub fn with_chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = bytes;
        self
    }

    /// The share of this strip's work done so far (0 to 1), readable from another thread.
    pub fn progress(&self) -> impl Fn() -> f64 + Send + 'static {
        let (done, total) = (self.done_rows.clone(), self.total_rows.max(1));
        move || (done.load(Ordering::Relaxed) as f64 / total as f64).min(1.0)
    }

    /// Applies ops until a global step or the end of the chain.
    pub fn advance(&mut self) -> Result<Step> {
        ensure!(self.pending_edges.is_none(), "advance called while a hysteresis answer is pending");
        while let Some(op) = self.chain.0.get(self.next_op).cloned() {
            // Split Canny takes rows as they arrive (`start_hysteresis`); every other global
            // step needs them all.
            let streamed = op.global_need() == GlobalNeed::Hysteresis && !self.alone;
            if op.global_need() != GlobalNeed::None && !streamed {
                self.fill_all()?;
            }
            match op.global_need() {
                GlobalNeed::None => {
                    // Only the rows the rest of the chain needs, a chunk of rows at a time.
                    let needed = self.rows_needed_after(self.next_op);
                    let rows = needed.start - self.cur_rows.start..needed.end - self.cur_rows.start;
                    let out_ch = op.out_channels(self.cur.channels);
                    let (cancel, done) = (&self.cancel, &self.done_rows);
                    let before = done.load(Ordering::Relaxed);
                    // Each chunk's result over its own input: the strip is held once. No op widens
                    // its rows (`OutChannels` is the input's or one), which in-place writing needs.
                    let chunk = self.chunk_rows(&op);
                    let cur = std::mem::replace(&mut self.cur, Image::zeros(0, 0, 1));
                    let row_bytes = cur.row_bytes();
                    // Rows still arriving are waited for chunk by chunk; the rows past the last
                    // chunk's context (none, or rows no op reads) are not.
                    let mut feed = self.feed.take();
                    let ready = |data: &mut [u8], end: usize| match feed.as_mut() {
                        Some(f) => f.fill(data, end * row_bytes, cancel),
                        None => Ok(()),
                    };
                    // Each chunk makes `chunk` result rows (the last one fewer); its window's context
                    // rows are not counted, or the share done would run ahead of the work.
                    let mut left = needed.len();
                    self.cur =
                        in_row_chunks_in_place_as_ready(cur, rows, op.halo(), chunk, out_ch, ready, |window, r| {
                            Self::check_cancel(cancel)?;
                            let part = op.apply_local_rows(window, r);
                            let made = chunk.min(left);
                            left -= made;
                            done.fetch_add(made, Ordering::Relaxed);
                            part
                        })?;
                    done.store(before + needed.len(), Ordering::Relaxed);
                    self.cur_rows = needed;
                    self.next_op += 1;
                }
                GlobalNeed::Histogram if self.alone => {
                    let whole = global::histogram(&self.cur.data);
                    self.resume_histogram(&whole)?;
                }
                GlobalNeed::Histogram => {
                    let own = self.owned_in_cur();
                    return Ok(Step::Histogram(Box::new(global::histogram(self.cur.rows(own.start, own.end)))));
                }
                GlobalNeed::Hysteresis if self.alone => {
                    let Op::Canny { low, high, aperture, l2 } = op else { bail!("hysteresis is Canny's step") };
                    Self::check_cancel(&self.cancel)?;
                    self.cur = crate::ops::cv_canny(&self.cur, low, high, aperture, l2)?;
                    self.done_rows.fetch_add(self.height, Ordering::Relaxed);
                    self.next_op += 1;
                }
                GlobalNeed::Hysteresis => return self.start_hysteresis(&op),
                GlobalNeed::Resample => {
                    bail!("{} runs on the whole image: the chain must be cut into stages first", op.name())
                }
            }
        }
        self.fill_all()?;
        let own = self.owned_in_cur();
        self.cur.retain_rows(own.start, own.end);
        Ok(Step::Done(std::mem::replace(&mut self.cur, Image::zeros(0, 0, 1))))
    }

    /// Resumes after [`Step::Histogram`] with the sum over all strips.
    pub fn resume_histogram(&mut self, total: &[u64; 256]) -> Result<()> {
        ensure!(self.current_need() == Some(GlobalNeed::Histogram), "no histogram step is pending");
        global::apply_lut_in_place(&mut self.cur, &global::stretch_lut(total));
        self.done_rows.fetch_add(self.rows_needed_after(self.next_op).len(), Ordering::Relaxed);
        self.next_op += 1;
        self.keep_needed_rows();
        Ok(())
    }

    /// Resumes after [`Step::Hysteresis`] with rank 0's answer for this strip.
    pub fn resume_hysteresis(&mut self, reply: HysteresisReply) -> Result<()> {
        let Some(edges) = self.pending_edges.take() else { bail!("no hysteresis step is pending") };
        let needed = self.rows_needed_after(self.next_op);
        let own_edges = edges.finish(&reply.promote);
        let (above, below) = (reply.halo_above, reply.halo_below);
        ensure!(
            above.0 == needed.start && below.0 == self.owned.end,
            "hysteresis answer covers rows from {} and {}, expected {} and {}",
            above.0,
            below.0,
            needed.start,
            self.owned.end
        );
        let data = [above.1, own_edges, below.1].concat();
        self.cur = Image::from_vec(self.cur.width, needed.len(), 1, data)?;
        self.done_rows.fetch_add(needed.len(), Ordering::Relaxed);
        self.cur_rows = needed;
        self.next_op += 1;
        Ok(())
    }

    fn current_need(&self) -> Option<GlobalNeed> {
        self.chain.0.get(self.next_op).map(Op::global_need)
    }

    /// Split Canny's first half: the map of candidates and strong pixels of the owned rows
    /// (`ops::canny_map_rows`), a chunk of rows at a time as soon as each chunk's rows are in and
    /// written over the strip's input, then the hysteresis inside the strip and the labels of
    /// its boundary rows for rank 0 ([`EdgeMap`]).
    fn start_hysteresis(&mut self, op: &Op) -> Result<Step> {
        let Op::Canny { low, high, aperture, l2 } = *op else { bail!("hysteresis is Canny's step") };
        // Exact rows after Canny: the owned rows widened by what the rest of the chain needs.
        let after = self.chain.halo_after(self.next_op);
        let own = self.owned_in_cur();
        let chunk = self.chunk_rows(op);
        let cur = std::mem::replace(&mut self.cur, Image::zeros(0, 0, 1));
        let row_bytes = cur.row_bytes();
        // Rows past the last chunk's context (read only by later ops, which read Canny's
        // result instead) are not waited for.
        let (cancel, mut feed) = (&self.cancel, self.feed.take());
        let ready = |data: &mut [u8], end: usize| match feed.as_mut() {
            Some(f) => f.fill(data, end * row_bytes, cancel),
            None => Ok(()),
        };
        let map = in_row_chunks_in_place_as_ready(cur, own, op.halo(), chunk, 1, ready, |window, r| {
            Self::check_cancel(cancel)?;
            canny_map_rows(window, r, low, high, aperture, l2)
        })?;
        Self::check_cancel(&self.cancel)?;
        // No rows held until the answer: the rows after Canny come from the edges.
        self.cur = Image::zeros(map.width, 0, 1);
        let (edges, request) = EdgeMap::new(map, self.owned.start, after)?;
        self.pending_edges = Some(edges);
        Ok(Step::Hysteresis(request))
    }

    /// Rows per chunk of `op`: about `chunk_bytes` of input, fewer for an op costly enough that
    /// they would exceed [`CHUNK_WORK`].
    fn chunk_rows(&self, op: &Op) -> usize {
        let bytes = self.chunk_bytes.min(CHUNK_WORK / op.work_per_byte().max(1));
        (bytes / self.cur.row_bytes().max(1)).max(1)
    }

    /// The owned rows, as indices into the held rows.
    fn owned_in_cur(&self) -> Range<usize> {
        self.owned.start - self.cur_rows.start..self.owned.end - self.cur_rows.start
    }

    /// Global rows whose values after op `op` the rest of the chain reads: the owned rows widened
    /// by the halo of the ops after it.
    fn rows_needed_after(&self, op: usize) -> Range<usize> {
        widen(&self.owned, self.chain.halo_after(op), self.height)
    }

    /// Drops held rows the rest of the chain no longer needs (they were only halo for this op).
    fn keep_needed_rows(&mut self) {
        let needed = self.rows_needed_after(self.next_op - 1);
        let (a, b) = (needed.start - self.cur_rows.start, needed.end - self.cur_rows.start);
        if (a, b) != (0, self.cur.height) {
            self.cur.retain_rows(a, b);
        }
        self.cur_rows = needed;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::arriving::{self, Message};
    use crate::exec::run_whole;
    use crate::synth::picture;
    use std::time::Duration;

    #[test]
    fn a_strips_progress_grows_to_one_by_the_end_of_the_chain() {
        let img = picture(40, 30, 3, 1);
        let chain = OpChain::parse("blur,contrast-stretch,bilateral,gray", &[]).unwrap();
        let mut run = StripRun::new(chain, 30, 5..20, img.crop_rows(0, 30), 0..30).unwrap().with_chunk_bytes(200);
        let progress = run.progress();
        let mut seen = vec![progress()];
        loop {
            let step = run.advance().unwrap();
            seen.push(progress());
            match step {
                Step::Histogram(h) => run.resume_histogram(&h).unwrap(),
                Step::Done(_) => break,
                Step::Hysteresis(_) => unreachable!("no canny in this chain"),
            }
            seen.push(progress());
        }
        assert_eq!(seen[0], 0.0);
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "never goes back: {seen:?}");
        assert_eq!(*seen.last().unwrap(), 1.0);
    }

    /// With half the rows in, a wide halo in one-row chunks is at most half done (context uncounted).
    #[test]
    fn a_strips_progress_counts_the_rows_made_not_the_context_each_chunk_reads() {
        let img = picture(40, 100, 3, 3);
        let chain = OpChain::parse("gaussian:ksize=9", &[]).unwrap();
        let (tx, feed) = arriving::channel();
        let buffer = Image::zeros(img.width, img.height, img.channels);
        let run = StripRun::new(chain, img.height, 0..img.height, buffer, 0..img.height).unwrap().alone().unwrap();
        let run = run.with_chunk_bytes(img.row_bytes()).with_feed(feed);
        let progress = run.progress();
        tx.send(message(img.rows(0, 50))).unwrap();
        let compute = std::thread::spawn(move || finish(run));
        let started = std::time::Instant::now(); // chunks with their context in are made, then it waits
        let mut last = (progress(), std::time::Instant::now());
        while last.1.elapsed() < Duration::from_millis(300) {
            assert!(started.elapsed() < Duration::from_secs(10), "the first half never settled");
            std::thread::sleep(Duration::from_millis(10));
            if progress() != last.0 {
                last = (progress(), std::time::Instant::now());
            }
        }
        assert!(last.0 > 0.3 && last.0 <= 0.5, "half the rows in: {} done", last.0);
        tx.send(message(img.rows(50, 100))).unwrap();
        compute.join().unwrap().unwrap();
        assert_eq!(progress(), 1.0);
    }

    /// Runs `run` to the end on its own (a strip alone, or a chain without global steps).
    fn finish(mut run: StripRun) -> Result<Image> {
        match run.advance()? {
            Step::Done(img) => Ok(img),
            other => bail!("stopped at {other:?}"),
        }
    }

    fn message(bytes: &[u8]) -> Message {
        let mut m = Message::zeroed(bytes.len());
        m.copy_from_slice(bytes);
        m
    }

    /// Sends `img`'s bytes in messages of `sizes` bytes (cycled), a little apart, as a worker's
    /// MPI thread would.
    pub(crate) fn send_slowly(img: &Image, sizes: &[usize]) -> (std::thread::JoinHandle<()>, ArrivingRows) {
        let (tx, feed) = arriving::channel();
        let (data, sizes) = (img.data.clone(), sizes.to_vec());
        let sender = std::thread::spawn(move || {
            let mut at = 0;
            for len in sizes.iter().cycle() {
                if at >= data.len() {
                    break;
                }
                let end = (at + len).min(data.len());
                std::thread::sleep(Duration::from_micros(300));
                if tx.send(message(&data[at..end])).is_err() {
                    break;
                }
                at = end;
            }
        });
        (sender, feed)
    }

    #[test]
    fn a_strip_fed_while_it_computes_gives_the_same_rows_for_every_kind_of_chain() {
        let img = picture(37, 61, 3, 7);
        for chain in ["gaussian", "median:ksize=7,invert", "contrast-stretch,blur", "canny", "bilateral,gray,canny"] {
            let chain = OpChain::parse(chain, &[]).unwrap();
            let expected = run_whole(&chain, &img, &CancelFlag::default()).unwrap();
            for sizes in [&[1usize][..], &[37 * 3 * 4, 500, 7], &[img.byte_len()]] {
                let (sender, feed) = send_slowly(&img, sizes);
                let buffer = Image::zeros(img.width, img.height, img.channels);
                let run = StripRun::new(chain.clone(), img.height, 0..img.height, buffer, 0..img.height)
                    .unwrap()
                    .alone()
                    .unwrap()
                    .with_chunk_bytes(37 * 3 * 5)
                    .with_feed(feed);
                let got = finish(run).unwrap();
                sender.join().unwrap();
                assert!(got.data == expected.data, "{chain:?} fed in messages of {sizes:?} bytes");
            }
        }
    }

    #[test]
    fn a_fed_strip_inside_the_image_waits_for_the_rows_its_halo_reads() {
        let img = picture(29, 50, 1, 3);
        let chain = OpChain::parse("gaussian:ksize=7,blur", &[]).unwrap();
        let (owned, input) = (10..30, 5..35);
        let plain = StripRun::new(chain.clone(), 50, owned.clone(), img.crop_rows(5, 35), input.clone()).unwrap();
        let expected = finish(plain.with_chunk_bytes(29 * 4)).unwrap();
        let (sender, feed) = send_slowly(&img.crop_rows(5, 35), &[29 * 3 + 5]);
        let buffer = Image::zeros(29, 30, 1);
        let fed = StripRun::new(chain, 50, owned, buffer, input).unwrap().with_chunk_bytes(29 * 4).with_feed(feed);
        assert!(finish(fed).unwrap().data == expected.data);
        sender.join().unwrap();
    }

    #[test]
    fn a_costly_op_gets_chunks_of_about_the_same_work_as_a_cheap_one() {
        let img = Image::zeros(1600, 1200, 3);
        let run = StripRun::new(OpChain(vec![Op::Invert]), 1200, 0..1200, img, 0..1200).unwrap();
        let bilateral = |d| Op::Bilateral { d, sigma_color: 75.0, sigma_space: 75.0 };
        let full = CHUNK_BYTES / run.cur.row_bytes();
        // The defaults keep the whole 4 MB; a 31-px bilateral's chunk does about their work.
        assert_eq!((run.chunk_rows(&Op::Invert), run.chunk_rows(&bilateral(9))), (full, full));
        let wide = run.chunk_rows(&bilateral(31));
        assert!(wide * 10 < full, "{wide} rows of {full}");
        let work = wide * run.cur.row_bytes() * bilateral(31).work_per_byte();
        assert!(work <= CHUNK_WORK && work * 2 > CHUNK_WORK, "{work} against {CHUNK_WORK}");
    }

    #[test]
    fn a_fed_strip_stops_on_cancel_while_rows_are_missing() {
        let img = picture(20, 20, 1, 1);
        let chain = OpChain::parse("blur", &[]).unwrap();
        let (tx, feed) = arriving::channel();
        tx.send(message(img.rows(0, 3))).unwrap();
        let cancel = CancelFlag::default();
        let run = StripRun::new(chain, 20, 0..20, Image::zeros(20, 20, 1), 0..20)
            .unwrap()
            .with_chunk_bytes(40)
            .with_cancel(cancel.clone())
            .with_feed(feed);
        let worker = std::thread::spawn(move || finish(run));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!worker.is_finished(), "it waits for rows that have not come");
        cancel.store(true, Ordering::Relaxed);
        let err = worker.join().unwrap().unwrap_err();
        assert!(err.is::<Cancelled>(), "{err:#}");
        drop(tx);
    }
}
