//! Rank 0's plan for one image from a file to a file (`Master::run_file`): who owns which rows,
//! how the workers get theirs, in which order rank 0 hands them out and takes the pieces back,
//! and how rank 0 works through its own strip. Pure: the MPI driver (`master::stream`) executes
//! the plan and decides nothing of it.
//!
//! Rows go top to bottom: workers own the first strips in rank order and rank 0 the last, so a
//! worker's rows are decoded (and its piece is due) first, and rank 0 writes the workers' pieces
//! while it filters its own rows.

use crate::chain::OpChain;
use crate::pieces::PieceFormat;
use crate::row_source::{chunk_rows, ReaderKind};
use crate::rows::Shape;
use crate::split::{plan_streamed, Strip};
use crate::substrips;
use anyhow::{bail, Result};
use std::ops::Range;
use std::path::Path;

/// What the plan is made from: the input as rank 0's reader sees it and the job's settings.
#[derive(Clone, Debug)]
pub struct PlanInput<'a> {
    pub shape: Shape,
    /// How rank 0 reads the input, and its own share as that reader alone would set it
    /// (`RowSource::rank0_weight`).
    pub reader: ReaderKind,
    pub reader_weight: f64,
    pub chain: &'a OpChain,
    pub format: PieceFormat,
    pub ranks: usize,
    /// `--coordinator-only`: rank 0 owns no rows when there are workers.
    pub coordinator_only: bool,
}

/// How a worker's input rows travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerInput {
    /// Each worker is asked whether it sees the same file and reads its own rows if it does;
    /// rank 0 streams the rows of those that do not.
    AskToRead,
    /// Rank 0 streams every worker's rows as it reads them.
    Streamed,
}

/// How rank 0 works through its own strip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnStrip {
    /// Read a message's worth of rows at a time, each sub-strip filtered and encoded as soon as
    /// its rows are in (a chain of local ops read from a file).
    Pipelined { subs: Vec<Strip> },
    /// Read whole, then filtered through every step and encoded (global steps, a whole decode,
    /// or no rows of its own).
    Whole,
}

/// Rank 0's plan for an image job from file to file.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamPlan {
    pub shape: Shape,
    pub ranks: usize,
    /// Rank 0's share of rows against a worker's ([`rank0_weight`]).
    pub rank0_weight: f64,
    /// Indexed by rank; the workers' strips come first in row order, rank 0's last.
    pub strips: Vec<Strip>,
    /// Rows per message when rank 0 streams a worker's rows.
    pub chunk_rows: usize,
    pub worker_input: WorkerInput,
    pub own: OwnStrip,
}

impl StreamPlan {
    pub fn new(input: &PlanInput<'_>) -> StreamPlan {
        let PlanInput { shape, reader, reader_weight, chain, format, ranks, coordinator_only } = *input;
        let weight = rank0_weight(chain, reader, reader_weight, ranks);
        let halo = chain.total_halo();
        let strips = plan_streamed(shape.height, ranks, halo, coordinator_only, format.row_align(), weight);
        let worker_input =
            if reader == ReaderKind::Ranged && ranks > 1 { WorkerInput::AskToRead } else { WorkerInput::Streamed };
        let own_rows = strips[0].owned.clone();
        // A whole decode already holds every row: its strip is filtered where it lies.
        let own = if substrips::applies_to(chain) && !own_rows.is_empty() && reader != ReaderKind::Whole {
            let rows = substrips::rows_per_sub(shape.row_bytes());
            OwnStrip::Pipelined { subs: substrips::plan(own_rows, halo, shape.height, format.row_align(), rows) }
        } else {
            OwnStrip::Whole
        };
        StreamPlan {
            shape,
            ranks,
            rank0_weight: weight,
            strips,
            chunk_rows: chunk_rows(shape.row_bytes()),
            worker_input,
            own,
        }
    }

    /// The workers in the order rank 0 hands out their rows and writes their pieces: row order,
    /// which is rank order.
    pub fn workers(&self) -> Range<usize> {
        1..self.ranks
    }

    /// Rows rank 0's reader must keep after handing `rank` its rows: from the first input row of
    /// any strip after it in row order (the halo two strips share), rank 0's strip included.
    pub fn keep_from(&self, rank: usize) -> usize {
        self.strips[rank + 1..]
            .iter()
            .chain([&self.strips[0]])
            .map(|s| s.input.start)
            .min()
            .unwrap_or(self.shape.height)
    }

    /// Worker `rank`'s input rows as rank 0 sends them: one message of at most
    /// [`StreamPlan::chunk_rows`] rows each, top to bottom.
    pub fn messages(&self, rank: usize) -> Vec<Range<usize>> {
        let input = &self.strips[rank].input;
        let step = self.chunk_rows.max(1);
        (input.start..input.end).step_by(step).map(|a| a..(a + step).min(input.end)).collect()
    }

    /// Which workers rank 0 streams rows to, given which of them said they read their own
    /// (`reads_own[rank]`; rank 0's entry is ignored). A worker without input rows needs none.
    pub fn streamed_to(&self, reads_own: &[bool]) -> Vec<bool> {
        (0..self.ranks)
            .map(|r| r > 0 && !self.strips[r].input.is_empty() && !reads_own.get(r).copied().unwrap_or(false))
            .collect()
    }
}

/// Rank 0's share of rows against a worker's (`split::plan_streamed`). When rank 0 decodes the
/// rows of every rank (a stream or a whole decode), it has less time left for rows of its own;
/// how much less depends on the reader (its `reader_weight`) and on the chain, whose ops may ask
/// for a share of their own (`OpSpec::streamed_rank0_share`). Where every rank reads its own
/// rows (a ranged reader), or alone, the reader's share stands.
pub fn rank0_weight(chain: &OpChain, reader: ReaderKind, reader_weight: f64, ranks: usize) -> f64 {
    if ranks < 2 || reader == ReaderKind::Ranged {
        return reader_weight;
    }
    chain.streamed_rank0_share().unwrap_or(reader_weight)
}

/// Refuses an output whose extension cannot hold the result's channels, as OpenCV does: PPM
/// holds colour and PGM gray (.pnm either).
pub fn check_output_channels(output: &Path, channels: usize) -> Result<()> {
    let ext = output.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    if (ext == "ppm" && channels == 1) || (ext == "pgm" && channels == 3) {
        bail!(
            "{}: a {}-channel result cannot be written as .{ext} (use .pnm, .pgm for gray, .ppm for colour)",
            output.display(),
            channels
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(spec: &str) -> OpChain {
        OpChain::parse(spec, &[]).unwrap()
    }

    fn plan(spec: &str, reader: ReaderKind, weight: f64, height: usize, ranks: usize) -> StreamPlan {
        let chain = chain(spec);
        StreamPlan::new(&PlanInput {
            shape: Shape { width: 100, height, channels: 3 },
            reader,
            reader_weight: weight,
            chain: &chain,
            format: PieceFormat::Jpeg,
            ranks,
            coordinator_only: false,
        })
    }

    #[test]
    fn workers_own_the_first_rows_in_rank_order_and_rank_0_the_last_on_the_formats_alignment() {
        let p = plan("gaussian", ReaderKind::Streamed, 1.0, 1000, 3);
        assert_eq!(p.strips[1].owned.start, 0);
        assert_eq!(p.strips[1].owned.end, p.strips[2].owned.start);
        assert_eq!(p.strips[2].owned.end, p.strips[0].owned.start);
        assert_eq!(p.strips[0].owned.end, 1000);
        for s in &p.strips[1..] {
            assert_eq!(s.owned.end % PieceFormat::Jpeg.row_align(), 0, "{s:?}");
        }
        assert_eq!(p.workers(), 1..3);
    }

    #[test]
    fn the_share_is_the_readers_unless_an_op_asks_and_rank_0_decodes_for_everyone() {
        let c = |s| chain(s);
        assert_eq!(rank0_weight(&c("gaussian"), ReaderKind::Streamed, 0.5, 2), 0.5);
        assert_eq!(rank0_weight(&c("bilateral"), ReaderKind::Streamed, 0.5, 2), 0.85);
        assert_eq!(rank0_weight(&c("canny"), ReaderKind::Streamed, 1.0, 3), 0.7);
        // With both, the larger share: bilateral's filter dwarfs what Canny waits for.
        assert_eq!(rank0_weight(&c("canny,bilateral"), ReaderKind::Whole, 1.0, 2), 0.85);
        // Every rank reads its own rows, or rank 0 is alone: nothing to make up for.
        assert_eq!(rank0_weight(&c("bilateral"), ReaderKind::Ranged, 1.0, 3), 1.0);
        assert_eq!(rank0_weight(&c("bilateral"), ReaderKind::Streamed, 0.5, 1), 0.5);
        // A lighter share gives rank 0 fewer rows.
        let (light, equal) =
            (plan("canny", ReaderKind::Streamed, 1.0, 4000, 2), plan("invert", ReaderKind::Streamed, 1.0, 4000, 2));
        assert!(light.strips[0].owned.len() < equal.strips[0].owned.len());
    }

    #[test]
    fn workers_are_asked_to_read_their_own_rows_only_from_a_ranged_reader() {
        assert_eq!(plan("blur", ReaderKind::Ranged, 1.0, 300, 3).worker_input, WorkerInput::AskToRead);
        assert_eq!(plan("blur", ReaderKind::Ranged, 1.0, 300, 1).worker_input, WorkerInput::Streamed);
        assert_eq!(plan("blur", ReaderKind::Streamed, 1.0, 300, 3).worker_input, WorkerInput::Streamed);
        assert_eq!(plan("blur", ReaderKind::Whole, 1.0, 300, 3).worker_input, WorkerInput::Streamed);
    }

    #[test]
    fn rank_0_keeps_the_halo_the_next_strip_shares_and_sends_rows_in_messages_that_tile_the_input() {
        let p = plan("gaussian:ksize=9", ReaderKind::Streamed, 1.0, 5000, 3);
        for r in p.workers() {
            let next = if r + 1 < p.ranks { &p.strips[r + 1] } else { &p.strips[0] };
            assert_eq!(p.keep_from(r), next.input.start, "rank {r}");
            assert!(p.keep_from(r) < p.strips[r].input.end, "the strips share halo rows");
            let messages = p.messages(r);
            assert_eq!(messages.first().unwrap().start, p.strips[r].input.start);
            assert_eq!(messages.last().unwrap().end, p.strips[r].input.end);
            assert!(messages.windows(2).all(|w| w[0].end == w[1].start));
            assert!(messages.iter().all(|m| m.len() <= p.chunk_rows));
        }
    }

    #[test]
    fn rank_0_streams_rows_only_to_workers_that_need_them() {
        let p = plan("blur", ReaderKind::Ranged, 1.0, 600, 3);
        assert_eq!(p.streamed_to(&[false, true, false]), vec![false, false, true]);
        // More ranks than rows: a worker without rows needs nothing.
        let tiny = plan("blur", ReaderKind::Streamed, 1.0, 16, 5);
        let streamed = tiny.streamed_to(&[false; 5]);
        for (r, (streams, strip)) in streamed.iter().zip(&tiny.strips).enumerate().skip(1) {
            assert_eq!(*streams, !strip.input.is_empty(), "rank {r}");
        }
        assert!(!streamed[0], "rank 0 streams to nobody's rank 0");
    }

    #[test]
    fn rank_0_pipelines_its_strip_for_local_chains_read_from_a_file_and_reads_it_whole_otherwise() {
        let OwnStrip::Pipelined { subs } = plan("gaussian,invert", ReaderKind::Streamed, 1.0, 4000, 2).own else {
            panic!("a local chain from a stream is pipelined")
        };
        let own = plan("gaussian,invert", ReaderKind::Streamed, 1.0, 4000, 2).strips[0].owned.clone();
        assert_eq!((subs.first().unwrap().owned.start, subs.last().unwrap().owned.end), (own.start, own.end));
        assert_eq!(plan("contrast-stretch", ReaderKind::Streamed, 1.0, 4000, 2).own, OwnStrip::Whole);
        assert_eq!(plan("canny", ReaderKind::Ranged, 1.0, 4000, 2).own, OwnStrip::Whole);
        assert_eq!(plan("gaussian", ReaderKind::Whole, 1.0, 4000, 2).own, OwnStrip::Whole);
    }

    #[test]
    fn a_gray_result_is_refused_as_ppm_and_a_colour_one_as_pgm_naming_the_file() {
        assert!(check_output_channels(Path::new("a.ppm"), 3).is_ok());
        assert!(check_output_channels(Path::new("a.pnm"), 1).is_ok());
        let e = check_output_channels(Path::new("out/a.PPM"), 1).unwrap_err().to_string();
        assert!(e.contains("out/a.PPM") && e.contains("1-channel"), "{e}");
        assert!(check_output_channels(Path::new("a.pgm"), 3).is_err());
    }
}
