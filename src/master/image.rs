//! Rank 0's side of an image job held in memory (the GUI, whole-image outputs, chains with a
//! resize): rank 0 sends every worker its rows, filters its own, takes part in the global steps
//! and receives the workers' rows straight into the output.

use super::exchange::RootExchange;
use super::relay::CancelRelay;
use super::Master;
use crate::cancel::Cancelled;
use crate::chain::{OpChain, Stage};
use crate::exec::{drive, DriveTimes, StripRun};
use crate::image::Image;
use crate::model::{Progress, RankStats};
use crate::protocol::*;
use crate::split::plan;
use anyhow::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

impl Master {
    /// Filters one image split by rows over all ranks; returns the result and per-rank statistics.
    /// Once `cancel` is set every rank stops at its next chunk of rows and this returns the error
    /// [`Cancelled`]. A chain with a resize runs in stages (`OpChain::stages`): strips up to it,
    /// the whole image through it on rank 0, strips again after it.
    pub fn run_image(
        &self,
        img: Image,
        chain: &OpChain,
        coordinator_only: bool,
        on: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<(Image, Vec<RankStats>)> {
        self.settle()?;
        if !chain.has_whole_image_steps() {
            return self.run_image_strips(img, chain, coordinator_only, on, cancel);
        }
        let mut total: Vec<RankStats> = (0..self.size()).map(|r| self.stats(r)).collect();
        let mut cur = img;
        for stage in chain.stages() {
            cur = match stage {
                Stage::Strips(part) => {
                    let (out, stats) = self.run_image_strips(cur, &part, coordinator_only, on, cancel)?;
                    total.iter_mut().zip(&stats).for_each(|(t, s)| t.add(s));
                    out
                }
                Stage::Whole(op) => {
                    if cancel.load(Ordering::Relaxed) {
                        return Err(Cancelled.into());
                    }
                    // Rank 0 works on every row: said as one strip of the whole image, so a
                    // face does not show every rank idle meanwhile.
                    on(Progress::RowsAssigned { rank: 0, start: 0, end: cur.height });
                    let started = Instant::now();
                    let out = op.apply_reference(&cur);
                    let secs = started.elapsed().as_secs_f64();
                    on(Progress::RowsDone { rank: 0, secs, error: out.as_ref().err().map(|e| format!("{e:#}")) });
                    total[0].compute_secs += secs;
                    out?
                }
            };
        }
        Ok((cur, total))
    }

    fn run_image_strips(
        &self,
        img: Image,
        chain: &OpChain,
        coordinator_only: bool,
        on: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<(Image, Vec<RankStats>)> {
        let n = self.size();
        let (w, h, c, depth) = (img.width, img.height, img.channels, img.depth);
        let strips = plan(h, n, chain.total_halo(), coordinator_only);
        let id = self.new_job_id();
        let job = ImageJob {
            id,
            chain: chain.clone(),
            width: w,
            height: h,
            channels: c,
            depth,
            strips: strips.clone(),
            input: StripInput::Sent,
            output: StripOutput::Rows,
            t0: crate::model::unix_now(),
        };
        self.send_image_job(&job);
        let mut mine = self.stats(0);
        mine.rows = Some((strips[0].owned.start, strips[0].owned.end));

        let mut relay = CancelRelay::new(self, id, cancel, on, ());
        let started = Instant::now();
        for (r, s) in strips.iter().enumerate().skip(1) {
            (relay.on)(Progress::RowsAssigned { rank: r, start: s.owned.start, end: s.owned.end });
            if !s.input.is_empty() {
                let rows = img.rows(s.input.start, s.input.end);
                send_bytes(&self.process(r), TAG_STRIP, rows);
                mine.bytes_sent += rows.len() as u64;
            }
        }
        mine.send_secs = started.elapsed().as_secs_f64();

        let own = &strips[0];
        (relay.on)(Progress::RowsAssigned { rank: 0, start: own.owned.start, end: own.owned.end });
        // Keep only our own rows, in place: the rest of the input is not needed any more.
        let mut own_input = img;
        own_input.retain_rows(own.input.start, own.input.end);
        let run = StripRun::new(chain.clone(), h, own.owned.clone(), own_input, own.input.clone()).and_then(|run| {
            if n == 1 {
                run.alone()
            } else {
                Ok(run)
            }
        });
        let mut times = DriveTimes::default();
        let started = Instant::now();
        let result = drive(chain, run, &mut RootExchange::new(&mut relay, w, h), &mut times);
        (mine.compute_secs, mine.global_secs) = (times.compute_secs, times.global_secs);
        let mut failures = Vec::new();
        let own_rows = match result {
            Ok(rows) => Some(rows),
            Err(e) => {
                failures.push((0, e));
                None
            }
        };
        (relay.on)(Progress::RowsDone {
            rank: 0,
            secs: started.elapsed().as_secs_f64(),
            error: failures.first().map(|(_, e)| e.to_string()),
        });

        let started = Instant::now();
        let out_c = chain.out_channels(c);
        // Rank 0 owns the first rows, so its result grows into the whole output without a copy.
        // Touching the new rows' pages happens while the workers still compute: it counts as
        // waiting, and the receives below write into memory that is already mapped.
        debug_assert_eq!(own.owned.start, 0, "rank 0 owns the first rows");
        let mut out = match own_rows {
            Some(mut rows) => {
                // Every strip, even an empty one, comes out with the chain's width and channels.
                debug_assert_eq!((rows.width, rows.channels), (w, out_c));
                rows.extend_rows(h);
                rows
            }
            None => Image::zeros_as(w, h, out_c, depth),
        };
        let mut stats = vec![];
        let mut transfer_secs = 0.0;
        for _ in 1..n {
            let (result, from) = receive_json::<StripResult>(self.world(), None, TAG_RESULT, &mut || {
                relay.poll();
            })?;
            let transfer = Instant::now();
            let s = &strips[from as usize];
            let error = match result.outcome {
                Ok(()) => {
                    let rb = out.row_bytes();
                    let buf = &mut out.data[s.owned.start * rb..s.owned.end * rb];
                    if !buf.is_empty() {
                        receive_bytes(&self.process(from as usize), TAG_RESULT_ROWS, buf);
                    }
                    transfer_secs += transfer.elapsed().as_secs_f64();
                    mine.bytes_received += buf.len() as u64;
                    None
                }
                Err(failure) => {
                    let text = failure.to_string();
                    failures.push((from as usize, failure));
                    Some(text)
                }
            };
            (relay.on)(Progress::RowsDone { rank: from as usize, secs: result.stats.compute_secs, error });
            stats.push(result.stats);
        }
        mine.collect_secs = transfer_secs;
        mine.wait_secs = (started.elapsed().as_secs_f64() - transfer_secs).max(0.0);
        stats.insert(0, mine);
        stats.sort_by_key(|s| s.rank);
        self.job_result(&failures, cancel.load(Ordering::Relaxed))?;
        Ok((out, stats))
    }
}
